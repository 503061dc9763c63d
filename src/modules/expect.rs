//! expect (ansible.builtin.expect): a command run in a pseudo-terminal, its
//! prompts (regular expressions) answered.
//!
//! Ansible needs pexpect on the host; opsctl needs only the host's python3:
//! `expect.py` runs the command under `pty.fork()` and answers each prompt
//! as pexpect's `run(events=...)` does (a list of answers is given in turn,
//! and running out of them fails the task; a string answers every time; each
//! answer is sent with a newline; the terminal does not echo it unless
//! `echo`). The configuration, answers included (often passwords), travels
//! on the command's stdin, never in the script or a trace. On the module
//! protocol like `command`: `creates`/`removes` decide with a read-only
//! probe; otherwise the command runs (never in check mode) and reports
//! changed, failing on a non-zero exit status or past `timeout` seconds.

use serde_json::{Value as Json, json};

use super::command::{chdir, empty_result, guard, ran, skipped_result};
use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Change, Ctx, Facts, InCheck, Module, Need, Plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static EXPECT: Spec = Spec::new(
    "expect",
    &[
        ArgSpec::new("command", Kind::Str).required(),
        ArgSpec::new("responses", Kind::Dict).required(),
        ArgSpec::new("creates", Kind::Str),
        ArgSpec::new("removes", Kind::Str),
        ArgSpec::new("chdir", Kind::Str),
        ArgSpec::new("timeout", Kind::Any),
        ArgSpec::new("echo", Kind::Bool),
    ],
);

pub struct Expect;

const PROGRAM: &str = include_str!("expect.py");

/// The configuration the program reads on stdin.
fn config(args: &Args) -> Result<Json, Fail> {
    let command = args.str("command").unwrap_or_default();
    let argv = shlex::split(command)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            Fail::Args(format!(
                "command: '{command}' has unbalanced quotes or is empty"
            ))
        })?;
    let Some(Json::Object(responses)) = args.get("responses") else {
        return fail::bad_args(
            "responses must be a mapping of prompt (a regular expression) to answer",
        );
    };
    let mut events = Vec::new();
    for (prompt, answer) in responses {
        if let Err(e) = fancy_regex::Regex::new(prompt) {
            return fail::bad_args(format!(
                "responses: '{prompt}' is not a regular expression: {e}"
            ));
        }
        let text = |v: &Json| match v {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        let (answers, many) = match answer {
            Json::Array(a) => (a.iter().map(text).collect::<Vec<_>>(), true),
            other => (vec![text(other)], false),
        };
        events.push(json!([prompt, answers, many]));
    }
    let timeout = match args.get("timeout") {
        None => Some(30),
        Some(Json::Number(n)) => n.as_u64(),
        Some(Json::String(s)) if s.trim().parse::<u64>().is_ok() => s.trim().parse().ok(),
        Some(other) => {
            return fail::bad_args(format!(
                "timeout: {other} is not a number of seconds (or null: none)"
            ));
        }
    };
    Ok(json!({
        "argv": argv,
        "responses": events,
        "timeout": timeout,
        "echo": args.bool_or("echo", false),
    }))
}

fn script(args: &Args) -> String {
    format!(
        "command -v python3 >/dev/null 2>&1 || {{ echo 'python3 is not installed on the host (expect runs with it): install python3' >&2; exit 126; }}\n\
         {}prog=$(cat <<'OPSCTL_EXPECT_PY'\n{PROGRAM}OPSCTL_EXPECT_PY\n)\n\
         exec python3 -c \"$prog\"\n",
        chdir(args)
    )
}

impl Module for Expect {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        config(args)?;
        Ok(guard(args).map(Need::Probe).into_iter().collect())
    }

    fn predictable(&self, args: &Args) -> bool {
        guard(args).is_some()
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let c = config(args)?;
        let display = args.str("command").unwrap_or_default();
        if let Some(probe) = guard(args) {
            let said = facts.probe(&probe)?.stdout_str();
            for (key, why) in [("creates", "exists"), ("removes", "does not exist")] {
                if said.contains(key) {
                    let p = args.str(key).unwrap_or_default();
                    return Ok(Plan::Done(skipped_result(
                        display,
                        &format!("skipped, since {p} {why}"),
                    )));
                }
            }
        }
        Ok(Plan::Change(Box::new(Change {
            outcome: empty_result(display),
            action: Action::Script {
                script: script(args),
                stdin: Some(c.to_string().into_bytes()),
            },
            in_check: InCheck::Skipped("not run in check mode (it would run)".into()),
        })))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let rc = match &result {
            Applied::Script(out) => out.rc,
            _ => None,
        };
        let mut o = ran(args, planned, result)?;
        let stderr = o
            .data
            .get("stderr")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        match rc {
            Some(124) => o.msg = Some("command exceeded timeout".into()),
            Some(125 | 126) => o.msg = Some(stderr.lines().last().unwrap_or("").to_string()),
            Some(0) => {}
            _ => o.msg = Some("non-zero return code".into()),
        }
        Ok(o)
    }
}
