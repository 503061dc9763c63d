//! make (community.general.make): a Makefile target, run only when it is not
//! up to date.
//!
//! On the module protocol: `make -q` (which runs no recipe) is a read-only
//! probe: rc 0 means up to date, nothing to do. Otherwise the change, never
//! in check mode, runs `make` with the target and params (`-j` from `jobs`,
//! `-f` from `file`) in `chdir`; the result carries Ansible's keys
//! (`command`, `stdout`, `stderr`, `target(s)`, `params`...).

use serde_json::{Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::sysconf::script_plan;
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static MAKE: Spec = Spec {
    mutually_exclusive: &[&["target", "targets"]],
    ..Spec::new(
        "make",
        &[
            ArgSpec::new("chdir", Kind::Str).required(),
            ArgSpec::new("target", Kind::Str),
            ArgSpec::new("targets", Kind::List),
            ArgSpec::new("params", Kind::Dict),
            ArgSpec::new("file", Kind::Str),
            ArgSpec::new("jobs", Kind::Int),
            ArgSpec::new("make", Kind::Str),
        ],
    )
};

pub struct Make;

/// The make command line (without `-q`), as words.
fn command(args: &Args) -> Result<Vec<String>, Fail> {
    let mut c = vec![args.string("make").unwrap_or_else(|| "make".into())];
    if let Some(j) = args.int("jobs") {
        if j < 1 {
            return fail::bad_args("jobs must be 1 or more");
        }
        c.push("-j".into());
        c.push(j.to_string());
    }
    if let Some(f) = args.str("file") {
        c.push("-f".into());
        c.push(f.to_string());
    }
    match args.str("target") {
        Some(t) => c.push(t.to_string()),
        None => c.extend(args.strings("targets")),
    }
    if let Some(Json::Object(p)) = args.get("params") {
        for (k, v) in p {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            if v.is_empty() || v == "null" {
                c.push(k.clone());
            } else {
                c.push(format!("{k}={v}"));
            }
        }
    }
    Ok(c)
}

fn shell(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cd(args: &Args) -> String {
    format!(
        "cd {} || exit 125\n",
        shell_quote(args.str("chdir").unwrap_or_default())
    )
}

fn probe(args: &Args) -> Result<String, Fail> {
    let c = command(args)?;
    let mut q = vec![c[0].clone(), "-q".into()];
    q.extend_from_slice(&c[1..]);
    Ok(format!(
        "# opsctl make: is it up to date?\ncommand -v {} >/dev/null 2>&1 || exit 127\n{}{} >/dev/null 2>&1\n",
        shell_quote(&c[0]),
        cd(args),
        shell(&q)
    ))
}

fn result_keys(args: &Args, o: &mut Outcome, cmd: &str) {
    o.data.insert("chdir".into(), json!(args.str("chdir")));
    o.data.insert("command".into(), json!(cmd));
    o.data.insert("file".into(), json!(args.str("file")));
    o.data.insert("jobs".into(), json!(args.int("jobs")));
    o.data.insert(
        "params".into(),
        args.get("params").cloned().unwrap_or(Json::Null),
    );
    o.data.insert("target".into(), json!(args.str("target")));
    o.data
        .insert("targets".into(), json!(args.strings("targets")));
}

impl Module for Make {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(args)?)])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let out = facts.probe(&probe(args)?)?;
        let cmd = shell(&command(args)?);
        let mut o = Outcome::ok();
        result_keys(args, &mut o, &cmd);
        match out.rc {
            Some(0) => return Ok(Plan::Done(o)),
            Some(125) => {
                return fail::fail(format!(
                    "chdir {} is not a directory on the host",
                    args.str("chdir").unwrap_or_default()
                ));
            }
            Some(127) => return fail::fail("make is not installed on this host (apt: name=make)"),
            _ => {}
        }
        o.changed = true;
        o.msg = Some(format!("ran {cmd}"));
        Ok(script_plan(
            o,
            format!("# opsctl make\n{}{cmd}\n", cd(args)),
            None,
        ))
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
        planned
            .data
            .insert("stdout".into(), json!(out.stdout_str()));
        planned
            .data
            .insert("stderr".into(), json!(out.stderr_str()));
        planned.data.insert("rc".into(), json!(out.rc));
        if !out.success() {
            return fail::fail(format!(
                "{} failed (rc {}): {}",
                planned.data["command"].as_str().unwrap_or("make"),
                out.rc.map(|r| r.to_string()).unwrap_or("?".into()),
                out.stderr_str().trim()
            ));
        }
        Ok(planned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line() {
        let a = MAKE
            .validate(
                json!({"chdir": "/src", "target": "install", "jobs": 2, "params": {"PREFIX": "/usr", "V": ""}})
                    .as_object()
                    .unwrap(),
                true,
            )
            .unwrap();
        assert_eq!(
            shell(&command(&a).unwrap()),
            "make -j 2 install PREFIX=/usr V"
        );
        assert!(
            probe(&a)
                .unwrap()
                .contains("make -q -j 2 install PREFIX=/usr V")
        );
    }
}
