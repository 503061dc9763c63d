//! tests/fuzz-corpus/: every nasty input (huge sizes, runaway loops, values that
//! double, invalid UTF-8, deep nesting...) through the real binary: a clean
//! error naming its place, no panic or abort, within a process-level timeout.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{OPSCTL, repo};

/// Far above what any case takes (seconds); a case still running then hangs.
const TIMEOUT: Duration = Duration::from_secs(120);

struct Case {
    args: Vec<String>,
    exit: i32,
    expect: Vec<String>,
}

fn read_case(dir: &Path) -> Case {
    let text = std::fs::read_to_string(dir.join("case")).expect("case file");
    let mut case = Case {
        args: Vec::new(),
        exit: 1,
        expect: Vec::new(),
    };
    for line in text.lines() {
        if let Some(a) = line.strip_prefix("args: ") {
            case.args = a.split_whitespace().map(str::to_string).collect();
        } else if let Some(e) = line.strip_prefix("exit: ") {
            case.exit = e.trim().parse().expect("exit code");
        } else if let Some(e) = line.strip_prefix("expect: ") {
            case.expect.push(e.to_string());
        }
    }
    assert!(!case.args.is_empty(), "{}: no args", dir.display());
    case
}

/// Runs opsctl in `dir` (with `envs` added); kills it (by its PID) and fails
/// when it outlives `TIMEOUT`.
fn run_bounded(dir: &Path, args: &[String], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(OPSCTL)
        .args(args)
        .current_dir(dir)
        .env_remove("OPSCTL_ENV")
        .env_remove("OPSCTL_PROJECT")
        .env_remove("OPSCTL_TEMPLATE_FUEL")
        .env_remove("OPSCTL_TEMPLATE_MAX_OUTPUT")
        .env("NO_COLOR", "1")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run opsctl");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let readers = [
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        }),
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        }),
    ];
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{}: `opsctl {}` still running after {TIMEOUT:?}: killed",
                dir.display(),
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text: String = readers
        .into_iter()
        .map(|r| String::from_utf8_lossy(&r.join().unwrap()).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    (status.code(), text)
}

#[test]
fn every_corpus_input_fails_cleanly_with_its_place() {
    let corpus = repo().join("tests/fuzz-corpus");
    let mut dirs: Vec<_> = std::fs::read_dir(&corpus)
        .expect("tests/fuzz-corpus")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "corpus cases: {}", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let case = read_case(dir);
        // a copy: nothing the run writes lands in the repository
        let scratch = tempfile::tempdir().unwrap();
        copy_dir(dir, scratch.path());
        let (code, output) = run_bounded(scratch.path(), &case.args, &[]);
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut problems = Vec::new();
        if code != Some(case.exit) {
            problems.push(format!(
                "exit {code:?} (a signal when None), expected {}",
                case.exit
            ));
        }
        for bad in [
            "panicked",
            "RUST_BACKTRACE",
            "memory allocation",
            "stack overflow",
        ] {
            if output.contains(bad) {
                problems.push(format!("output has {bad:?}"));
            }
        }
        for want in &case.expect {
            if !output.contains(want.as_str()) {
                problems.push(format!("output lacks {want:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}\n{output}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The bounds are adjustable: a value built by `~` past OPSCTL_TEMPLATE_MAX_OUTPUT
/// stops at its line; raised, the same value renders. (`opsctl vars` shows a
/// variable that cannot be resolved as such, with its error, and exits 0.)
#[test]
fn the_template_limits_are_adjustable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hosts"), "web1\n").unwrap();
    std::fs::create_dir_all(dir.path().join("group_vars")).unwrap();
    std::fs::write(
        dir.path().join("group_vars/all.yml"),
        "ok: 1\nbig: \"{{ ('x' * 600) ~ ('y' * 600) }}\"\nlong: \"{% for i in range(3000) %}{% endfor %}done\"\n",
    )
    .unwrap();
    // `opsctl vars web1 VAR` under one limit: its output (the value, or the error)
    let vars = |var: &str, env: &[(&str, &str)]| -> String {
        let args = ["vars", "-i", "hosts", "web1", var].map(str::to_string);
        let (code, out) = run_bounded(dir.path(), &args, env);
        assert_eq!(code, Some(0), "{out}");
        out
    };
    let out = vars("big", &[("OPSCTL_TEMPLATE_MAX_OUTPUT", "1000")]);
    for want in [
        "cannot resolve",
        "group_vars/all.yml:2",
        "`~` would build 1200 bytes (more than 1000 bytes",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let out = vars("big", &[("OPSCTL_TEMPLATE_MAX_OUTPUT", "2_000")]);
    assert!(
        !out.contains("cannot resolve") && out.contains(&"y".repeat(600)),
        "{out}"
    );
    // fuel: a loop of 3,000 steps stops under a fuel of 1,000 and runs with the default
    let out = vars("long", &[("OPSCTL_TEMPLATE_FUEL", "1000")]);
    for want in [
        "cannot resolve",
        "group_vars/all.yml:3",
        "the template ran too long",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let out = vars("long", &[]);
    assert!(
        !out.contains("cannot resolve") && out.contains("done"),
        "{out}"
    );
}
