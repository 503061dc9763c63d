//! script (ansible.builtin.script): a script of the controller run on the host.
//!
//! `script: files/setup.sh --fast` (or `cmd:`): the first word is the local
//! script, found as `copy`'s `src` (the role's `files/`, the playbook's
//! `files/`, then as given), the other words its arguments. The script goes
//! over the existing connection as the stdin of one exec, which writes it to a
//! fresh `mktemp` file (mode 0700), runs it (through `executable` when given,
//! in `chdir`, with no stdin), removes it and exits with the script's status.
//! Registered: `rc`, `stdout`, `stdout_lines`, `stderr`, `stderr_lines`.
//!
//! `creates`/`removes` skip it (as the command module's, globs relative to
//! `chdir`). Check mode as Ansible: the script never runs; with
//! `creates`/`removes` that let it run, the task reports changed, else it is
//! skipped.

use super::command::{chdir, empty_result, guard, ran};
use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Change, Ctx, Facts, InCheck, Module, Need, Plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static SCRIPT: Spec = Spec {
    free_form: true,
    mutually_exclusive: &[&["cmd", "_raw_params"]],
    required_one_of: &[&["cmd"]],
    ..Spec::new(
        "script",
        &[
            ArgSpec::new("cmd", Kind::Str),
            ArgSpec::new("chdir", Kind::Str),
            ArgSpec::new("creates", Kind::Str),
            ArgSpec::new("removes", Kind::Str),
            ArgSpec::new("executable", Kind::Str),
        ],
    )
};

pub struct Script;

/// (local script, its arguments, the line as given).
fn words(args: &Args) -> Result<(String, Vec<String>, String), Fail> {
    let line = args
        .raw_params()
        .or(args.str("cmd"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let Some(mut w) = shlex::split(&line) else {
        return fail::bad_args(format!(
            "cannot split the script's line (unbalanced quotes): {line}"
        ));
    };
    if w.is_empty() {
        return fail::bad_args("script needs the local script to run: `script: files/x.sh [args]`");
    }
    let src = w.remove(0);
    Ok((src, w, line))
}

/// The exec: the script from stdin to a temporary file, run, removed.
fn runner(args: &Args, name: &str, argv: &[String]) -> String {
    let exe = args
        .str("executable")
        .map(|e| format!("{} ", shell_quote(e)))
        .unwrap_or_default();
    let quoted: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
    let cd = chdir(args).replace("exit 1", "{ rm -f \"$t\"; exit 1; }");
    format!(
        "# opsctl script: {name}\n\
         t=$(umask 077; mktemp \"${{TMPDIR:-/tmp}}/opsctl-script.XXXXXXXX\") || exit 1\n\
         cat > \"$t\" || {{ rm -f \"$t\"; exit 1; }}\n\
         chmod 700 \"$t\"\n\
         {cd}{exe}\"$t\"{sep}{args} </dev/null\n\
         rc=$?\n\
         rm -f \"$t\"\n\
         exit $rc\n",
        name = name.replace('\n', " "),
        sep = if quoted.is_empty() { "" } else { " " },
        args = quoted.join(" "),
    )
}

impl Module for Script {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        words(args)?;
        Ok(guard(args).map(Need::Probe).into_iter().collect())
    }

    fn predictable(&self, args: &Args) -> bool {
        guard(args).is_some()
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let (src, argv, line) = words(args)?;
        let path = ctx.find_local(&src)?;
        let content = std::fs::read(&path)
            .map_err(|e| Fail::Args(format!("cannot read the script {}: {e}", path.display())))?;
        let guarded = if let Some(probe) = guard(args) {
            let said = facts.probe(&probe)?.stdout_str();
            let skip = if said.contains("creates") {
                Some(format!(
                    "skipped, since {} exists",
                    args.str("creates").unwrap_or_default()
                ))
            } else if said.contains("removes") {
                Some(format!(
                    "skipped, since {} does not exist",
                    args.str("removes").unwrap_or_default()
                ))
            } else {
                None
            };
            if let Some(msg) = skip {
                let mut o = Outcome::ok();
                o.skipped = true;
                o.msg = Some(msg);
                return Ok(Plan::Done(o));
            }
            true
        } else {
            false
        };
        let mut outcome = empty_result(&line);
        outcome.changed = true;
        Ok(Plan::Change(Box::new(Change {
            outcome,
            action: Action::Script {
                script: runner(args, &src, &argv),
                stdin: Some(content),
            },
            in_check: if guarded {
                InCheck::Changed
            } else {
                InCheck::Skipped("not run in check mode (it would run)".into())
            },
        })))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let mut o = ran(args, planned, result)?;
        o.data.remove("cmd");
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_runner_quotes_arguments_and_cleans_up() {
        let a = SCRIPT
            .validate(
                json!({"_raw_params": "files/x.sh 'a b' c", "chdir": "/srv", "executable": "bash"})
                    .as_object()
                    .unwrap(),
                true,
            )
            .unwrap();
        let (src, argv, _) = words(&a).unwrap();
        assert_eq!(src, "files/x.sh");
        let r = runner(&a, &src, &argv);
        assert!(
            r.contains("cd /srv || { rm -f \"$t\"; exit 1; }\nbash \"$t\" 'a b' c </dev/null\n"),
            "{r}"
        );
        assert!(r.ends_with("rm -f \"$t\"\nexit $rc\n"));
    }
}
