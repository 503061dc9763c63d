//! command, shell and raw: run a command; `creates`/`removes` make it idempotent.
//!
//! `command` runs its words without a shell (each word is quoted, so `$X`, `*` and
//! `|` are literal), `shell` through `/bin/sh` (or `executable`), `raw` as given.
//! In check mode nothing runs, unless `creates`/`removes` already say it would be
//! skipped; the registered result still has typed `rc`, `stdout`, `stderr`...

use std::future::Future;
use std::pin::Pin;

use serde_json::{Value as Json, json};

use super::{ArgSpec, Args, HostEnv, Kind, ModuleError, Outcome, Spec};
use crate::transport::shell_quote;

const COMMON: [ArgSpec; 6] = [
    ArgSpec::new("chdir", Kind::Str),
    ArgSpec::new("creates", Kind::Str),
    ArgSpec::new("removes", Kind::Str),
    ArgSpec::new("stdin", Kind::Str),
    ArgSpec::new("stdin_add_newline", Kind::Bool),
    ArgSpec::new("strip_empty_ends", Kind::Bool),
];

pub static COMMAND: Spec = Spec {
    free_form: true,
    mutually_exclusive: &[&["cmd", "argv", "_raw_params"]],
    required_one_of: &[&["cmd", "argv"]],
    ..Spec::new(
        "command",
        &[
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            COMMON[4],
            COMMON[5],
            ArgSpec::new("cmd", Kind::Str),
            ArgSpec::new("argv", Kind::List),
        ],
    )
};

pub static SHELL: Spec = Spec {
    free_form: true,
    mutually_exclusive: &[&["cmd", "_raw_params"]],
    required_one_of: &[&["cmd"]],
    ..Spec::new(
        "shell",
        &[
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            COMMON[4],
            COMMON[5],
            ArgSpec::new("cmd", Kind::Str),
            ArgSpec::new("executable", Kind::Str),
        ],
    )
};

pub static RAW: Spec = Spec {
    free_form: true,
    ..Spec::new("raw", &[ArgSpec::new("executable", Kind::Str)])
};

type Fut<'a> = Pin<Box<dyn Future<Output = Result<Outcome, ModuleError>> + Send + 'a>>;

pub fn run_command<'a>(args: &'a Args, env: &'a HostEnv<'a>) -> Fut<'a> {
    Box::pin(async move {
        let words: Vec<String> = if args.get("argv").is_some() {
            args.strings("argv")
        } else {
            let line = args.raw_params().or(args.str("cmd")).unwrap_or_default();
            shlex::split(line).ok_or_else(|| {
                ModuleError::Args(format!(
                    "cannot split the command line (unbalanced quotes): {line}"
                ))
            })?
        };
        if words.is_empty() {
            return Err(ModuleError::Args("no command given".into()));
        }
        let display = words.join(" ");
        let script = format!(
            "exec {}",
            words
                .iter()
                .map(|w| shell_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        );
        execute(args, env, &script, &display).await
    })
}

pub fn run_shell<'a>(args: &'a Args, env: &'a HostEnv<'a>) -> Fut<'a> {
    Box::pin(async move {
        let line = args
            .raw_params()
            .or(args.str("cmd"))
            .unwrap_or_default()
            .to_string();
        let script = match args.str("executable") {
            Some(exe) => format!("exec {} -c {}", shell_quote(exe), shell_quote(&line)),
            None => line.clone(),
        };
        execute(args, env, &script, &line).await
    })
}

pub fn run_raw<'a>(args: &'a Args, env: &'a HostEnv<'a>) -> Fut<'a> {
    Box::pin(async move {
        let Some(line) = args.raw_params().map(str::to_string) else {
            return Err(ModuleError::Args(
                "raw needs the command to run: `raw: <command>`".into(),
            ));
        };
        let script = match args.str("executable") {
            Some(exe) => format!("exec {} -c {}", shell_quote(exe), shell_quote(&line)),
            None => line.clone(),
        };
        execute(args, env, &script, &line).await
    })
}

/// creates/removes, chdir, stdin, then the run and the registered fields.
async fn execute(
    args: &Args,
    env: &HostEnv<'_>,
    script: &str,
    display: &str,
) -> Result<Outcome, ModuleError> {
    let chdir = args
        .str("chdir")
        .map(|d| format!("cd {} || exit 1\n", shell_quote(d)))
        .unwrap_or_default();
    // One round trip decides creates/removes (globs allowed, relative to chdir).
    if args.get("creates").is_some() || args.get("removes").is_some() {
        let mut probe = chdir.clone();
        if let Some(c) = args.str("creates") {
            probe.push_str(&format!(
                "for p in {c}; do if [ -e \"$p\" ]; then echo creates; fi; break; done\n"
            ));
        }
        if let Some(r) = args.str("removes") {
            probe.push_str(&format!(
                "for p in {r}; do if [ ! -e \"$p\" ]; then echo removes; fi; break; done\n"
            ));
        }
        let out = env.run(&probe).await?;
        let said = out.stdout_str();
        if said.contains("creates") {
            let c = args.str("creates").unwrap_or_default();
            return Ok(skipped_result(
                display,
                &format!("skipped, since {c} exists"),
            ));
        }
        if said.contains("removes") {
            let r = args.str("removes").unwrap_or_default();
            return Ok(skipped_result(
                display,
                &format!("skipped, since {r} does not exist"),
            ));
        }
    }
    if env.check {
        let mut o = empty_result(display);
        o.skipped = true;
        o.msg = Some("not run in check mode (it would run)".into());
        return Ok(o);
    }
    let stdin = args.str("stdin").map(|s| {
        let mut b = s.as_bytes().to_vec();
        if args.bool_or("stdin_add_newline", true) {
            b.push(b'\n');
        }
        b
    });
    let full = format!("{chdir}{script}");
    let out = env.run_stdin(&full, stdin).await?;
    let strip = args.bool_or("strip_empty_ends", true);
    let clean = |b: &[u8]| {
        let s = String::from_utf8_lossy(b).into_owned();
        if strip {
            s.trim_end_matches(['\n', '\r']).to_string()
        } else {
            s
        }
    };
    let (stdout, stderr) = (clean(&out.stdout), clean(&out.stderr));
    let rc = out.rc.unwrap_or(-1);
    let mut o = Outcome::changed()
        .with("cmd", display)
        .with("rc", rc)
        .with("stdout_lines", lines(&stdout))
        .with("stderr_lines", lines(&stderr))
        .with("stdout", stdout)
        .with("stderr", stderr.clone());
    if rc != 0 {
        o.failed = true;
        let why = if out.rc.is_none() {
            "killed by a signal".to_string()
        } else {
            format!("non-zero return code {rc}")
        };
        let tail = stderr
            .lines()
            .last()
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        o.msg = Some(format!("{why}{tail}"));
    }
    Ok(o)
}

fn lines(s: &str) -> Json {
    Json::Array(s.lines().map(|l| Json::String(l.to_string())).collect())
}

/// The fields a command registers even when it did not run.
fn empty_result(display: &str) -> Outcome {
    let mut o = Outcome::ok();
    for (k, v) in [
        ("cmd", json!(display)),
        ("rc", json!(0)),
        ("stdout", json!("")),
        ("stderr", json!("")),
        ("stdout_lines", json!([])),
        ("stderr_lines", json!([])),
    ] {
        o.data.insert(k.into(), v);
    }
    o
}

fn skipped_result(display: &str, msg: &str) -> Outcome {
    let mut o = empty_result(display);
    o.data.insert("stdout".into(), json!(msg));
    o.data.insert("stdout_lines".into(), json!([msg]));
    o.msg = Some(msg.to_string());
    o
}
