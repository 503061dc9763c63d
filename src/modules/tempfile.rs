//! tempfile (ansible.builtin.tempfile): a new temporary file or directory,
//! its path registered.
//!
//! As in Ansible it always changes (every run makes a new one, mode 0600 for a
//! file, 0700 for a directory, as Python's `mkstemp`/`mkdtemp`), and it does
//! not run in check mode: the task is skipped there ("does not support check
//! mode"), so the registered `path` is undefined. On the host, `mktemp` (GNU
//! coreutils) makes it: `PREFIX` + 8 random characters + `SUFFIX` in `path`,
//! or in `$TMPDIR` (else `/tmp`) when `path` is not given, as Python's
//! `tempfile.gettempdir()`.

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::script_failure;
use super::protocol::{Action, Applied, Change, Ctx, Facts, InCheck, Module, Need, Plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static TEMPFILE: Spec = Spec::new(
    "tempfile",
    &[
        ArgSpec::new("state", Kind::Choice(&["file", "directory"])),
        ArgSpec::new("path", Kind::Str),
        ArgSpec::new("prefix", Kind::Str),
        ArgSpec::new("suffix", Kind::Str),
    ],
);

pub struct Tempfile;

/// The `mktemp` line that makes it and prints its path.
fn script(args: &Args) -> Result<String, Fail> {
    let prefix = args.str("prefix").unwrap_or("ansible.");
    let suffix = args.str("suffix").unwrap_or_default();
    for (k, v) in [("prefix", prefix), ("suffix", suffix)] {
        if v.contains('/') {
            return fail::bad_args(format!(
                "{k}: '{v}' holds a '/': name the directory with path"
            ));
        }
    }
    let dir = match args.str("path") {
        Some(p) if !p.is_empty() => format!("--tmpdir={}", shell_quote(p)),
        _ => "--tmpdir".to_string(),
    };
    let dirflag = if args.str("state") == Some("directory") {
        " -d"
    } else {
        ""
    };
    let sfx = if suffix.is_empty() {
        String::new()
    } else {
        format!(" --suffix={}", shell_quote(suffix))
    };
    Ok(format!(
        "# opsctl tempfile\numask 077\nexec mktemp{dirflag} {dir}{sfx} -- {}\n",
        shell_quote(&format!("{prefix}XXXXXXXX"))
    ))
}

impl Module for Tempfile {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        script(args)?;
        Ok(Vec::new())
    }

    fn predictable(&self, _: &Args) -> bool {
        false
    }

    fn decide(&self, args: &Args, _: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let state = args.str("state").unwrap_or("file");
        let outcome = Outcome::changed().with("state", state);
        Ok(Plan::Change(Box::new(Change {
            outcome,
            action: Action::Script {
                script: script(args)?,
                stdin: None,
            },
            in_check: InCheck::Skipped(
                "remote module (tempfile) does not support check mode".into(),
            ),
        })))
    }

    fn applied(
        &self,
        _: &Args,
        mut planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let Applied::Script(out) = result else {
            return Ok(planned);
        };
        let path = out.stdout_str().trim_end_matches('\n').to_string();
        if !out.success() || path.is_empty() {
            return fail::fail(format!(
                "making the temporary {} {}",
                planned
                    .data
                    .get("state")
                    .and_then(|s| s.as_str())
                    .unwrap_or("file"),
                script_failure(&out)
            ));
        }
        planned.data.insert("path".into(), json!(path));
        Ok(planned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: serde_json::Value) -> Args {
        TEMPFILE.validate(v.as_object().unwrap(), true).unwrap()
    }

    #[test]
    fn mktemp_lines() {
        assert!(
            script(&args(json!({})))
                .unwrap()
                .contains("exec mktemp --tmpdir -- ansible.XXXXXXXX\n")
        );
        let s = script(&args(
            json!({"state": "directory", "path": "/srv/tmp", "prefix": "build-", "suffix": ".d"}),
        ))
        .unwrap();
        assert!(
            s.contains("exec mktemp -d --tmpdir=/srv/tmp --suffix=.d -- build-XXXXXXXX\n"),
            "{s}"
        );
        assert!(script(&args(json!({"prefix": "a/b"}))).is_err());
    }
}
