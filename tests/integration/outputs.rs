//! Whole-output snapshots (insta) of what a user reads: the recap of a run,
//! `opsctl run --list-tasks`, and the load errors (YAML syntax, unknown task
//! keyword, unknown module, undefined variable, bad inventory line). The
//! snapshots are in `snapshots/` beside this file; the scratch project's path
//! and durations are filtered out so they are stable. A changed output is
//! reviewed with `cargo insta review` (or accepted with `INSTA_UPDATE=always`);
//! under CI (`CI=true`) a missing or changed snapshot fails the test.

use crate::common::Run;
use crate::run::local;

/// Exit code, stdout and stderr as one text.
fn shown(run: &Run) -> String {
    run.no_panic();
    format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    )
}

/// Compares `run`'s whole output with the snapshot `name`, the scratch
/// project's path and durations filtered.
fn snapshot(name: &str, run: &Run) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(r"(/[^\s/:]+)*/opsctl-it-[0-9A-Za-z]+", "[PROJECT]");
    settings.add_filter(r#""duration_ms":\d+"#, r#""duration_ms":"[DURATION]""#);
    settings.bind(|| insta::assert_snapshot!(name, shown(run)));
}

/// One host, every status in the recap. No handlers: pending ones would be
/// kept on the host (this machine) for the next run.
const SITE: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: say hello
      command: echo hello
      changed_when: false
    - name: touch a file
      file:
        path: "{{ dir }}/touched"
        state: touch
    - name: not on this host
      debug:
        msg: never
      when: inventory_hostname == 'elsewhere'
    - name: fails, ignored
      command: "false"
      ignore_errors: true
    - block:
        - name: breaks
          command: "false"
      rescue:
        - name: mended
          debug:
            msg: rescued
      tags: [mend]
    - name: the last one fails
      shell: "echo no {{ dir }}/missing >&2; exit 3"
"#;

#[test]
fn the_recap_of_a_run() {
    let p = local(SITE);
    snapshot("recap", &p.opsctl(&["run", "site", "--env", "dev"]));
}

#[test]
fn the_recap_of_a_run_as_json() {
    let p = local(SITE);
    snapshot(
        "recap_json",
        &p.opsctl(&["run", "site", "--env", "dev", "--output", "json"]),
    );
}

#[test]
fn list_tasks() {
    let p = local(SITE);
    snapshot(
        "list_tasks",
        &p.opsctl(&["run", "site", "--env", "dev", "--list-tasks"]),
    );
}

/// A load error: `files` over a one-host local project, then `args`.
fn load_error(name: &str, files: &[(&str, &str)], args: &[&str]) {
    let p = local("- hosts: web\n  tasks: []\n");
    for (path, content) in files {
        p.write(path, content);
    }
    snapshot(name, &p.opsctl(args));
}

const LIST: &[&str] = &["run", "site", "--env", "dev", "--list-tasks"];

#[test]
fn error_yaml_syntax() {
    load_error(
        "error_yaml_syntax",
        &[("playbooks/site.yml", "- hosts: web\n  tasks: [\n")],
        LIST,
    );
}

#[test]
fn error_unknown_task_keyword() {
    load_error(
        "error_unknown_task_keyword",
        &[(
            "playbooks/site.yml",
            "- hosts: web\n  tasks:\n    - name: x\n      command: echo\n      regster: out\n",
        )],
        LIST,
    );
}

#[test]
fn error_unknown_module() {
    load_error(
        "error_unknown_module",
        &[(
            "playbooks/site.yml",
            "- hosts: web\n  tasks:\n    - name: x\n      comand: echo\n",
        )],
        LIST,
    );
}

#[test]
fn error_undefined_variable() {
    load_error(
        "error_undefined_variable",
        &[(
            "environments/dev/group_vars/web.yml",
            "app_name: shop\nansible_host: \"{{ server_nmae }}.example.org\"\n",
        )],
        &["ping", "--env", "dev"],
    );
}

#[test]
fn error_bad_inventory_line() {
    load_error(
        "error_bad_inventory_line",
        &[("environments/dev/hosts", "[web]\nweb1\nweb[01:x]\n")],
        &["inventory", "--env", "dev", "--graph"],
    );
}

/// With `--output json` an error is a JSON object on stdout, nothing on stderr.
#[test]
fn an_error_in_json_mode_is_a_json_object_on_stdout() {
    let p = crate::common::Project::new(&[("environments/st/hosts", "[web]\nweb1\n")]);
    let r = p.opsctl(&["ping", "--env", "stt", "--output", "json"]);
    r.code(1);
    assert_eq!(r.stderr, "");
    let doc: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(doc["exit"], 1);
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .starts_with("unknown environment 'stt'"),
        "{doc}"
    );
    assert_eq!(doc["hints"][0], "did you mean --env st?");
}

/// Every command that takes `--output` (found in the clap definition itself,
/// so a new command cannot escape), run with `--output json` in a one-host
/// local project: as it comes (often a usage error: a missing argument) and
/// against an environment that does not exist. Every stdout line is one JSON
/// object, and a failure says so as `{"error": ...}` on stdout.
#[test]
fn every_command_with_output_json_writes_only_json_objects() {
    fn walk(c: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        let subs: Vec<&clap::Command> = c.get_subcommands().collect();
        if subs.is_empty() || !path.is_empty() && c.is_subcommand_required_set().not() {
            let takes = c
                .get_arguments()
                .any(|a| a.get_id() == "output" && !a.is_hide_set());
            if takes && !path.is_empty() {
                out.push(path.clone());
            }
        }
        for s in subs {
            let mut p = path.clone();
            p.push(s.get_name().to_string());
            walk(s, p, out);
        }
    }
    use std::ops::Not;
    let mut commands = Vec::new();
    walk(&opsctl::cli::command(), Vec::new(), &mut commands);
    assert!(commands.len() > 20, "{commands:?}");
    assert!(
        !commands
            .iter()
            .any(|c| c[0] == "man" || c[0] == "completions")
    );
    let p = local("- hosts: web\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n");
    // A recorded run, for the commands that show one.
    p.opsctl(&["run", "site", "--env", "dev"]).code(0);
    let home = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    // The arguments that make a command succeed here, where it needs some.
    let working = |path: &[String]| -> Vec<&'static str> {
        match path.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["runs", "report"] | ["runs", "show"] => vec!["last"],
            ["run"] => vec!["site", "--env", "dev"],
            ["vars"] => vec!["--env", "dev", "web1"],
            ["exec"] => vec!["--env", "dev", "--", "true"],
            ["ping"] | ["inventory"] => vec!["--env", "dev"],
            _ => vec![],
        }
    };
    for path in &commands {
        let works = working(path);
        for extra in [&[][..], &["--env", "nosuch"][..], &works[..]] {
            let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
            args.extend(["--output", "json"]);
            args.extend(extra);
            let out = std::process::Command::new(crate::common::OPSCTL)
                .args(&args)
                .current_dir(p.path())
                .env_remove("OPSCTL_ENV")
                .env_remove("OPSCTL_PROJECT")
                .env("HOME", home.path())
                .env("XDG_RUNTIME_DIR", home.path())
                .env("XDG_STATE_HOME", home.path())
                .env("EDITOR", "/bin/false")
                .env("CI", "true")
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let run = Run::from(out);
            run.no_panic();
            let mut error = false;
            let mut bad = None;
            for line in run.stdout.lines() {
                match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(serde_json::Value::Object(o)) => error |= o.contains_key("error"),
                    _ => bad = Some(line.to_string()),
                }
            }
            if !works.is_empty() && std::ptr::eq(extra, &works[..]) && run.code != 0 {
                failures.push(format!("{args:?}: exit {}: {}", run.code, run.stdout));
            }
            if let Some(line) = bad {
                failures.push(format!("{args:?}: not a JSON object: {line:?}"));
            } else if run.code != 0 && !error {
                failures.push(format!(
                    "{args:?}: exit {} without a JSON error; stderr: {}",
                    run.code, run.stderr
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The global flags mean nothing on `man` and `completions`: not in their
    // help, refused on their command line (as JSON with `--output json`).
    for (cmd, flag, name) in [
        (&["man"][..], &["--output", "json"][..], "output"),
        (&["completions", "bash"], &["-v"], "verbose"),
        (&["completions", "bash"], &["--project", "."], "project"),
        (&["man"], &["-q"], "quiet"),
    ] {
        let help = p.opsctl(&[cmd[0], "--help"]);
        help.code(0);
        for f in ["--output", "--verbose", "--quiet", "--project"] {
            assert!(!help.stdout.contains(f), "{cmd:?} --help shows {f}");
        }
        let args: Vec<&str> = cmd.iter().chain(flag).copied().collect();
        let r = p.opsctl(&args);
        r.code(1);
        let said = format!("--{name} means nothing for `opsctl {}`", cmd[0]);
        if flag[0] == "--output" {
            let doc: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
            assert_eq!(doc["error"], said.as_str());
        } else {
            r.stderr_has(&said);
        }
    }
}

/// `opsctl --version` names the commit it was built from and the build date.
#[test]
fn version_prints_the_commit_and_build_date() {
    let r = crate::common::run_in(&crate::common::repo(), &["--version"]);
    r.code(0);
    let re = regex::Regex::new(
        r"^opsctl \d+\.\d+\.\d+ \(([0-9a-f]{12}|unknown), built (\d{4}-\d{2}-\d{2})\)\n$",
    )
    .unwrap();
    let caps = re
        .captures(&r.stdout)
        .unwrap_or_else(|| panic!("{:?}", r.stdout));
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(crate::common::repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        // Built from this checkout (build.rs reruns when HEAD moves).
        assert_eq!(&caps[1], head, "{}", r.stdout);
    }
    assert!(caps[2] > *"2026-01-01", "{}", r.stdout);
}
