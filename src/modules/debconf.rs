//! debconf (ansible.builtin.debconf): a package's debconf answer, set before
//! the package is installed or reconfigured.
//!
//! On the module protocol: the current answer (`GET`) and its `seen` flag
//! are read with `debconf-communicate`, a read-only probe; Rust compares as
//! Ansible does (booleans as true/false, multiselect lists in any order). A
//! `password` answer is a secret: it is compared on the host by a probe that
//! reads the wanted value on its stdin (never in a script, a trace, the
//! result or a diff). The change, never in check mode, feeds the line to
//! `debconf-set-selections` on stdin (`-u` for `unseen`).

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan, SecretProbe};
use super::sysconf::script_plan;
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static DEBCONF: Spec = Spec::new(
    "debconf",
    &[
        ArgSpec::new("name", Kind::Str).required().aliases(&["pkg"]),
        ArgSpec::new("question", Kind::Str).aliases(&["selection", "setting"]),
        ArgSpec::new(
            "vtype",
            Kind::Choice(&[
                "boolean",
                "error",
                "multiselect",
                "note",
                "password",
                "seen",
                "select",
                "string",
                "text",
                "title",
            ]),
        ),
        ArgSpec::new("value", Kind::Any).aliases(&["answer"]),
        ArgSpec::new("unseen", Kind::Bool),
    ],
);

pub struct Debconf;

struct Want {
    pkg: String,
    question: Option<String>,
    vtype: Option<String>,
    value: Option<String>,
    unseen: bool,
}

fn word_ok(s: &str) -> bool {
    !s.is_empty() && !s.contains(char::is_whitespace)
}

fn want(args: &Args) -> Result<Want, Fail> {
    let pkg = args.str("name").unwrap_or_default().trim().to_string();
    if !word_ok(&pkg) {
        return fail::bad_args(format!("name: '{pkg}' is not a package name"));
    }
    let question = args.string("question").map(|q| q.trim().to_string());
    if question.as_deref().is_some_and(|q| !word_ok(q)) {
        return fail::bad_args("question must be one word (such as tzdata/Areas)");
    }
    let vtype = args.string("vtype");
    let value = args.get("value").map(|v| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    });
    if question.is_some() && (vtype.is_none() || value.is_none()) {
        return fail::bad_args(
            "question needs vtype and value (debconf: name, question, vtype, value)",
        );
    }
    if value.as_deref().is_some_and(|v| v.contains('\n')) {
        return fail::bad_args("value must be one line");
    }
    Ok(Want {
        pkg,
        question,
        vtype,
        value,
        unseen: args.bool_or("unseen", false),
    })
}

const PRELUDE: &str = "export DEBIAN_FRONTEND=noninteractive\ncommand -v debconf-communicate >/dev/null 2>&1 || { echo nodebconf=1; exit 0; }\n";

/// The answer (not for a password: it would be in the probe's output) and
/// the `seen` flag.
fn probe(w: &Want, q: &str) -> String {
    let get = if w.vtype.as_deref() == Some("password") {
        ""
    } else {
        "printf 'GET %s\\n' \"$q\" | debconf-communicate \"$p\" 2>/dev/null | sed 's/^/get=/'\n"
    };
    format!(
        "# opsctl debconf: read {q}\n{PRELUDE}p={}\nq={}\n{get}printf 'FGET %s seen\\n' \"$q\" | debconf-communicate \"$p\" 2>/dev/null | sed 's/^/seen=/'\n",
        shell_quote(&w.pkg),
        shell_quote(q)
    )
}

/// A password is compared on the host: the wanted value comes on stdin.
fn secret_probe(w: &Want, q: &str) -> SecretProbe {
    SecretProbe {
        script: format!(
            "# opsctl debconf: compare {q}\n{PRELUDE}p={}\nq={}\nIFS= read -r want\ncur=$(printf 'GET %s\\n' \"$q\" | debconf-communicate \"$p\" 2>/dev/null)\nif [ \"$cur\" = \"0 $want\" ]; then echo same=1; else echo same=0; fi\n",
            shell_quote(&w.pkg),
            shell_quote(q)
        ),
        stdin: format!("{}\n", w.value.as_deref().unwrap_or_default()).into_bytes(),
    }
}

/// Values compared as Ansible does.
fn same(vtype: &str, have: &str, want: &str) -> bool {
    match vtype {
        "boolean" => {
            let b = |s: &str| {
                matches!(
                    s.trim().to_ascii_lowercase().as_str(),
                    "true" | "yes" | "1" | "on"
                )
            };
            b(have) == b(want)
        }
        "multiselect" => {
            let set = |s: &str| {
                let mut v: Vec<String> = s
                    .split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect();
                v.sort();
                v
            };
            set(have) == set(want)
        }
        _ => have == want,
    }
}

/// (answer, seen) from the probe: `None` when the question does not exist.
fn parse(out: &str) -> (Option<String>, bool) {
    let mut get = None;
    let mut seen = false;
    for l in out.lines() {
        if let Some(v) = l.strip_prefix("get=") {
            get = v
                .strip_prefix("0 ")
                .map(str::to_string)
                .or_else(|| (v == "0").then(String::new));
        } else if let Some(v) = l.strip_prefix("seen=") {
            seen = v.trim() == "0 true";
        }
    }
    (get, seen)
}

impl Module for Debconf {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = want(args)?;
        let Some(q) = &w.question else {
            return Ok(vec![]);
        };
        let mut v = vec![Need::Probe(probe(&w, q))];
        if w.vtype.as_deref() == Some("password") {
            v.push(Need::SecretProbe(secret_probe(&w, q)));
        }
        Ok(v)
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = want(args)?;
        let mut o = Outcome::ok();
        let Some(q) = &w.question else {
            // Ansible lists the package's answers; nothing to set
            return Ok(Plan::Done(o));
        };
        let vtype = w.vtype.clone().unwrap_or_default();
        let value = w.value.clone().unwrap_or_default();
        let out = facts.probe(&probe(&w, q))?.stdout_str();
        if out.contains("nodebconf=1") {
            return fail::fail("debconf-communicate is not on this host: install debconf");
        }
        let (cur, seen) = parse(&out);
        let password = vtype == "password";
        let value_same = if password {
            facts
                .secret_probe(&secret_probe(&w, q))?
                .stdout_str()
                .contains("same=1")
        } else {
            cur.as_deref().is_some_and(|c| same(&vtype, c, &value))
        };
        let seen_ok = !w.unseen || !seen;
        o.data.insert("name".into(), json!(w.pkg));
        o.data.insert("question".into(), json!(q));
        o.data.insert("vtype".into(), json!(vtype));
        if value_same && seen_ok {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(format!("{} {q} set", w.pkg));
        if ctx.diff {
            let show = |v: &str| {
                if password {
                    "(hidden)".to_string()
                } else {
                    v.to_string()
                }
            };
            o.diffs.push(Diff::new(
                format!("debconf {}", w.pkg),
                format!("{q}: {}\n", cur.as_deref().map(show).unwrap_or_default()),
                format!("{q}: {}\n", show(&value)),
            ));
        }
        let flag = if w.unseen { " -u" } else { "" };
        Ok(script_plan(
            o,
            format!(
                "# opsctl debconf: set {q}\nexport DEBIAN_FRONTEND=noninteractive\ndebconf-set-selections{flag}\n"
            ),
            Some(format!("{} {q} {vtype} {value}\n", w.pkg).into_bytes()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_like_ansible() {
        assert!(same("boolean", "true", "yes"));
        assert!(!same("boolean", "false", "True"));
        assert!(same("multiselect", "a, b", "b,a"));
        assert!(!same("string", "a", "b"));
        assert_eq!(
            parse("get=0 Europe\nseen=0 true\n"),
            (Some("Europe".into()), true)
        );
        assert_eq!(parse("get=10 x doesn't exist\nseen=10 x\n"), (None, false));
        assert_eq!(parse("get=0\n"), (Some(String::new()), false));
    }
}
