//! getent (ansible.builtin.getent): entries of a Name Service Switch
//! database (passwd, group, hosts, services...) as facts,
//! `getent_<database>: {key: [fields]}`.
//!
//! On the module protocol: the `getent` call is a read-only probe; Rust
//! splits its lines as Ansible does (on `:` for passwd, shadow, group and
//! gshadow, else on whitespace, unless `split` says otherwise). Nothing is
//! changed. A missing key fails the task unless `fail_key: false`, which
//! registers it with a null value.

use serde_json::{Map, Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static GETENT: Spec = Spec::new(
    "getent",
    &[
        ArgSpec::new("database", Kind::Str).required(),
        ArgSpec::new("key", Kind::Str),
        ArgSpec::new("service", Kind::Str),
        ArgSpec::new("split", Kind::Str),
        ArgSpec::new("fail_key", Kind::Bool),
    ],
);

pub struct Getent;

const COLON: &[&str] = &["passwd", "shadow", "group", "gshadow"];

fn probe(args: &Args) -> Result<String, Fail> {
    let db = args.str("database").unwrap_or_default().trim();
    if db.is_empty()
        || !db
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return fail::bad_args(format!(
            "database: '{db}' is not a database name (passwd, group, hosts...)"
        ));
    }
    let mut cmd = format!("getent {}", shell_quote(db));
    if let Some(s) = args.str("service") {
        cmd.push_str(&format!(" -s {}", shell_quote(s)));
    }
    if let Some(k) = args.str("key") {
        cmd.push_str(&format!(" -- {}", shell_quote(k)));
    }
    Ok(format!(
        "# opsctl getent: {db}\ncommand -v getent >/dev/null 2>&1 || {{ echo 'getent: not found' >&2; exit 127; }}\n{cmd}\n"
    ))
}

/// `{key: [fields]}` of getent's lines (the first field is the key).
fn records(out: &str, split: Option<&str>) -> Map<String, Json> {
    let mut m = Map::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = match split {
            Some(sep) => line.split(sep).collect(),
            None => line.split_whitespace().collect(),
        };
        if let Some((k, rest)) = fields.split_first() {
            m.insert(k.to_string(), json!(rest));
        }
    }
    m
}

impl Module for Getent {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(args)?)])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let db = args.str("database").unwrap_or_default().trim().to_string();
        let out = facts.probe(&probe(args)?)?;
        let split = args
            .string("split")
            .or_else(|| COLON.contains(&db.as_str()).then(|| ":".to_string()));
        let mut o = Outcome::ok();
        let results = match out.rc {
            Some(0) => records(&out.stdout_str(), split.as_deref()),
            Some(1) => {
                return fail::fail(format!(
                    "Missing arguments, or database unknown: getent {db} (rc 1)"
                ));
            }
            Some(2) if !args.bool_or("fail_key", true) => {
                o.msg = Some("One or more supplied key could not be found in the database.".into());
                let mut m = Map::new();
                m.insert(args.string("key").unwrap_or_default(), Json::Null);
                m
            }
            Some(2) => {
                return fail::fail(format!(
                    "One or more supplied key could not be found in the database: {} in {db}",
                    args.str("key").unwrap_or_default()
                ));
            }
            Some(3) => {
                return fail::fail(format!("Enumeration not supported on this database: {db}"));
            }
            Some(127) => {
                return fail::fail("getent is not installed on this host (it comes with libc-bin)");
            }
            rc => {
                return fail::fail(format!(
                    "getent {db} failed (rc {rc:?}): {}",
                    out.stderr_str().trim()
                ));
            }
        };
        o.data.insert(
            "ansible_facts".into(),
            json!({ format!("getent_{db}"): results }),
        );
        Ok(Plan::Done(o))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_like_ansible() {
        let m = super::records("root:x:0:0:root:/root:/bin/bash\n", Some(":"));
        assert_eq!(
            m["root"],
            serde_json::json!(["x", "0", "0", "root", "/root", "/bin/bash"])
        );
        let m = super::records("127.0.0.1       localhost\n", None);
        assert_eq!(m["127.0.0.1"], serde_json::json!(["localhost"]));
    }
}
