//! command, shell and raw: run a command; `creates`/`removes` make it idempotent.
//!
//! `command` runs its words without a shell (each word is quoted, so `$X`, `*` and
//! `|` are literal), `shell` through `/bin/sh` (or `executable`), `raw` as given.
//! In check mode nothing runs, unless `creates`/`removes` already say it would be
//! skipped; the registered result still has typed `rc`, `stdout`, `stderr`...

use serde_json::{Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Change, Ctx, Facts, InCheck, Module, Need, Plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};
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

/// A module that runs a command line: how its arguments become the script to
/// run and the command line to show.
pub struct Runs(fn(&Args) -> Result<(String, String), Fail>);

/// `command`: the words run without a shell.
pub static RUN_COMMAND: Runs = Runs(command_script);
/// `shell`: the line run by `/bin/sh` (or `executable`).
pub static RUN_SHELL: Runs = Runs(shell_script);
/// `raw`: the line as given.
pub static RUN_RAW: Runs = Runs(raw_script);

/// The script to run and the command line to show.
fn command_script(args: &Args) -> Result<(String, String), Fail> {
    let words: Vec<String> = if args.get("argv").is_some() {
        args.strings("argv")
    } else {
        let line = args.raw_params().or(args.str("cmd")).unwrap_or_default();
        match shlex::split(line) {
            Some(w) => w,
            None => {
                return fail::bad_args(format!(
                    "cannot split the command line (unbalanced quotes): {line}"
                ));
            }
        }
    };
    if words.is_empty() {
        return fail::bad_args("no command given");
    }
    let quoted: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
    Ok((format!("exec {}", quoted.join(" ")), words.join(" ")))
}

/// A line for `sh`, or for `executable -c`.
fn line_script(args: &Args, line: String) -> (String, String) {
    let script = match args.str("executable") {
        Some(exe) => format!("exec {} -c {}", shell_quote(exe), shell_quote(&line)),
        None => line.clone(),
    };
    (script, line)
}

fn shell_script(args: &Args) -> Result<(String, String), Fail> {
    let line = args.raw_params().or(args.str("cmd")).unwrap_or_default();
    Ok(line_script(args, line.to_string()))
}

fn raw_script(args: &Args) -> Result<(String, String), Fail> {
    match args.raw_params() {
        Some(line) => Ok(line_script(args, line.to_string())),
        None => fail::bad_args("raw needs the command to run: `raw: <command>`"),
    }
}

pub(crate) fn chdir(args: &Args) -> String {
    args.str("chdir")
        .map(|d| format!("cd {} || exit 1\n", shell_quote(d)))
        .unwrap_or_default()
}

/// The read-only probe that decides `creates`/`removes` (globs allowed,
/// relative to chdir), if either is given. Without `chdir`, and with paths of
/// plain characters and globs only, it runs in the gathering's own shell
/// ([`SHARED_SHELL`](super::protocol::SHARED_SHELL)): it sets only `$p`.
pub(crate) fn guard(args: &Args) -> Option<String> {
    if args.get("creates").is_none() && args.get("removes").is_none() {
        return None;
    }
    let mut probe = chdir(args);
    // words `sh` keeps as they are, and globs
    let plain = |p: &str| {
        !p.is_empty()
            && p.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || crate::transport::SHELL_SAFE.contains(&b)
                    || b"~*?[]!".contains(&b)
            })
    };
    if probe.is_empty()
        && ["creates", "removes"]
            .iter()
            .all(|k| args.str(k).is_none_or(plain))
    {
        probe.push_str(super::protocol::SHARED_SHELL);
    }
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
    Some(probe)
}

/// creates/removes decide; else the command runs (never in check mode).
fn decide_run(args: &Args, facts: &Facts, script: &str, display: &str) -> Result<Plan, Fail> {
    if let Some(probe) = guard(args) {
        let said = facts.probe(&probe)?.stdout_str();
        if said.contains("creates") {
            let c = args.str("creates").unwrap_or_default();
            return Ok(Plan::Done(skipped_result(
                display,
                &format!("skipped, since {c} exists"),
            )));
        }
        if said.contains("removes") {
            let r = args.str("removes").unwrap_or_default();
            return Ok(Plan::Done(skipped_result(
                display,
                &format!("skipped, since {r} does not exist"),
            )));
        }
    }
    let stdin = args.str("stdin").map(|s| {
        let mut b = s.as_bytes().to_vec();
        if args.bool_or("stdin_add_newline", true) {
            b.push(b'\n');
        }
        b
    });
    Ok(Plan::Change(Box::new(Change {
        outcome: empty_result(display),
        action: Action::Script {
            script: format!("{}{script}", chdir(args)),
            stdin,
        },
        in_check: InCheck::Skipped("not run in check mode (it would run)".into()),
    })))
}

/// The registered fields of a command that ran.
pub(crate) fn ran(args: &Args, planned: Outcome, result: Applied) -> Result<Outcome, Fail> {
    let Applied::Script(out) = result else {
        return Ok(planned);
    };
    let display = planned.data.get("cmd").cloned().unwrap_or_default();
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

impl Module for Runs {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(guard(args).map(Need::Probe).into_iter().collect())
    }
    fn predictable(&self, args: &Args) -> bool {
        guard(args).is_some()
    }
    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let (script, display) = (self.0)(args)?;
        decide_run(args, facts, &script, &display)
    }
    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        ran(args, planned, result)
    }
}

fn lines(s: &str) -> Json {
    Json::Array(s.lines().map(|l| Json::String(l.to_string())).collect())
}

/// The fields a command registers even when it did not run.
pub(crate) fn empty_result(display: &str) -> Outcome {
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

pub(crate) fn skipped_result(display: &str, msg: &str) -> Outcome {
    let mut o = empty_result(display);
    o.data.insert("stdout".into(), json!(msg));
    o.data.insert("stdout_lines".into(), json!([msg]));
    o.msg = Some(msg.to_string());
    o
}
