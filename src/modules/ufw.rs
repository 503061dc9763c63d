//! ufw (community.general): the firewall enabled, disabled, reloaded or
//! reset; default policies; logging; and rules (allow, deny, reject, limit;
//! `delete`, `insert`, `route`, interfaces, addresses, ports, protocols,
//! application profiles, comments).
//!
//! On the module protocol: one probe reads ufw's configuration
//! (`/etc/ufw/ufw.conf`, `/etc/default/ufw`), the rules it holds (the
//! `### tuple ###` lines of `user.rules` and `user6.rules`) and, for a rule,
//! what `ufw --dry-run <rule>` would make of them (ufw's own dry run, as
//! Ansible uses it: it prints the rule files it would write, or "Skipping"
//! when the rule is there; it writes nothing). `decide` compares; the change
//! runs the `ufw` commands. Logging and default policies are read from the
//! configuration, not dry-run (ufw's dry run of `logging` writes).

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Action, Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static UFW: Spec = Spec {
    mutually_exclusive: &[&["name", "proto", "logging"]],
    required_one_of: &[&["state", "default", "rule", "logging"]],
    ..Spec::new(
        "ufw",
        &[
            ArgSpec::new(
                "state",
                Kind::Choice(&["enabled", "disabled", "reloaded", "reset"]),
            ),
            ArgSpec::new("default", Kind::Choice(&["allow", "deny", "reject"]))
                .aliases(&["policy"]),
            ArgSpec::new(
                "direction",
                Kind::Choice(&["in", "incoming", "out", "outgoing", "routed"]),
            ),
            ArgSpec::new(
                "logging",
                Kind::Choice(&["on", "off", "low", "medium", "high", "full"]),
            ),
            ArgSpec::new("insert", Kind::Int),
            ArgSpec::new(
                "insert_relative_to",
                Kind::Choice(&["zero", "first-ipv4", "last-ipv4", "first-ipv6", "last-ipv6"]),
            ),
            ArgSpec::new("rule", Kind::Choice(&["allow", "deny", "limit", "reject"])),
            ArgSpec::new("log", Kind::Bool),
            ArgSpec::new("from_ip", Kind::Str).aliases(&["from", "src"]),
            ArgSpec::new("from_port", Kind::Str),
            ArgSpec::new("to_ip", Kind::Str).aliases(&["dest", "to"]),
            ArgSpec::new("to_port", Kind::Str).aliases(&["port"]),
            ArgSpec::new(
                "proto",
                Kind::Choice(&[
                    "any", "tcp", "udp", "ipv6", "esp", "ah", "gre", "igmp", "vrrp",
                ]),
            )
            .aliases(&["protocol"]),
            ArgSpec::new("name", Kind::Str).aliases(&["app"]),
            ArgSpec::new("interface", Kind::Str).aliases(&["if"]),
            ArgSpec::new("interface_in", Kind::Str).aliases(&["if_in"]),
            ArgSpec::new("interface_out", Kind::Str).aliases(&["if_out"]),
            ArgSpec::new("route", Kind::Bool),
            ArgSpec::new("comment", Kind::Str),
            ArgSpec::new("delete", Kind::Bool),
        ],
    )
};

/// The rule's words after `ufw` (Ansible's order), or `None` without `rule`.
fn rule_words(args: &Args) -> Result<Option<Vec<String>>, Fail> {
    let Some(rule) = args.string("rule") else {
        for k in [
            "from_ip",
            "to_ip",
            "to_port",
            "from_port",
            "name",
            "comment",
        ] {
            if args.get(k).is_some_and(|v| !v.is_null()) && args.get("default").is_none() {
                return fail::bad_args(format!("{k} needs the argument 'rule'"));
            }
        }
        return Ok(None);
    };
    let mut w: Vec<String> = Vec::new();
    let s = |k: &str| args.string(k).filter(|v| !v.is_empty());
    if args.bool_or("route", false) {
        w.push("route".into());
    }
    if args.bool_or("delete", false) {
        w.push("delete".into());
    }
    if let Some(n) = args.int("insert") {
        let rel = args
            .string("insert_relative_to")
            .unwrap_or_else(|| "zero".into());
        if rel != "zero" {
            return fail::bad_args(
                "insert_relative_to other than zero is not implemented by opsctl: give insert as an absolute position",
            );
        }
        w.push("insert".into());
        w.push(n.to_string());
    }
    w.push(rule);
    match args.str("direction") {
        Some("in" | "incoming") => w.push("in".into()),
        Some("out" | "outgoing") => w.push("out".into()),
        Some("routed") => {
            return fail::bad_args("direction routed is for default policies; use route: true");
        }
        _ => {}
    }
    if args.bool_or("log", false) {
        w.push("log".into());
    }
    if let Some(i) = s("interface") {
        w.extend(["on".into(), i]);
    }
    if let Some(i) = s("interface_in") {
        w.extend(["in".into(), "on".into(), i]);
    }
    if let Some(i) = s("interface_out") {
        w.extend(["out".into(), "on".into(), i]);
    }
    w.extend(["from".into(), s("from_ip").unwrap_or_else(|| "any".into())]);
    if let Some(p) = s("from_port") {
        w.extend(["port".into(), p]);
    }
    w.extend(["to".into(), s("to_ip").unwrap_or_else(|| "any".into())]);
    if let Some(p) = s("to_port") {
        w.extend(["port".into(), p]);
    }
    if let Some(p) = s("proto") {
        w.extend(["proto".into(), p]);
    }
    if let Some(a) = s("name") {
        w.extend(["app".into(), a]);
    }
    if let Some(c) = args.string("comment") {
        w.extend(["comment".into(), c]);
    }
    for word in &w {
        if word.contains(['\n', '\0']) {
            return fail::bad_args("a rule's value holds a line break");
        }
    }
    Ok(Some(w))
}

fn command(words: &[String]) -> String {
    let mut c = String::from("ufw");
    for w in words {
        c.push(' ');
        c.push_str(&shell_quote(w));
    }
    c
}

fn probe_script(args: &Args) -> Result<String, Fail> {
    let mut s = String::from(
        "# opsctl ufw: read\ncommand -v ufw >/dev/null 2>&1 || { echo '@@noufw'; exit 0; }\n\
         echo '@@conf'; cat /etc/ufw/ufw.conf 2>/dev/null\n\
         echo '@@default'; cat /etc/default/ufw 2>/dev/null\n\
         echo '@@tuples'; cat /etc/ufw/user.rules /etc/ufw/user6.rules 2>/dev/null | grep '^### tuple'\n",
    );
    if let Some(words) = rule_words(args)? {
        let mut dry = vec!["--dry-run".to_string()];
        dry.extend(words);
        s.push_str(&format!(
            "echo '@@dry'; {} 2>&1; echo \"@@rc=$?\"\n",
            command(&dry)
        ));
    }
    s.push_str("exit 0\n");
    Ok(s)
}

/// The probe's sections.
#[derive(Debug, Default)]
struct Read {
    conf: Vec<(String, String)>,
    default: Vec<(String, String)>,
    tuples: Vec<String>,
    dry: Option<String>,
}

fn parse(out: &str) -> Result<Read, Fail> {
    if out.contains("@@noufw") {
        return fail::fail("ufw is not installed on this host: install it first (apt: name=ufw)");
    }
    let mut r = Read::default();
    let mut section = "";
    let mut dry = String::new();
    for line in out.lines() {
        match line {
            "@@conf" | "@@default" | "@@tuples" | "@@dry" => {
                section = line;
                continue;
            }
            _ => {}
        }
        let kv = || {
            line.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        };
        match section {
            "@@conf" => r.conf.extend(kv()),
            "@@default" => r.default.extend(kv()),
            "@@tuples" => r.tuples.push(line.to_string()),
            "@@dry" => {
                dry.push_str(line);
                dry.push('\n');
            }
            _ => {}
        }
    }
    if section == "@@dry" || !dry.is_empty() {
        r.dry = Some(dry);
    }
    Ok(r)
}

fn get<'a>(kv: &'a [(String, String)], k: &str) -> &'a str {
    kv.iter()
        .rev()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn policy_word(v: &str) -> &str {
    match v {
        "ACCEPT" => "allow",
        "DROP" => "deny",
        "REJECT" => "reject",
        other => other,
    }
}

pub struct Ufw;

impl Module for Ufw {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe_script(args)?)])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let script = probe_script(args)?;
        let out = facts.probe(&script)?;
        let r = parse(&out.stdout_str())?;
        let mut cmds: Vec<Vec<String>> = Vec::new();
        let mut before = Vec::new();
        let mut after = Vec::new();
        let enabled = get(&r.conf, "ENABLED") == "yes";
        match args.str("state") {
            Some("enabled") if !enabled => {
                cmds.push(vec!["--force".into(), "enable".into()]);
                before.push("status: inactive".to_string());
                after.push("status: active".to_string());
            }
            Some("disabled") if enabled => {
                cmds.push(vec!["disable".into()]);
                before.push("status: active".to_string());
                after.push("status: inactive".to_string());
            }
            Some("reloaded") => cmds.push(vec!["reload".into()]),
            Some("reset") => cmds.push(vec!["--force".into(), "reset".into()]),
            _ => {}
        }
        if let Some(p) = args.string("default") {
            let dir = args
                .string("direction")
                .unwrap_or_else(|| "incoming".into());
            let (dir, key) = match dir.as_str() {
                "in" | "incoming" => ("incoming", "DEFAULT_INPUT_POLICY"),
                "out" | "outgoing" => ("outgoing", "DEFAULT_OUTPUT_POLICY"),
                _ => ("routed", "DEFAULT_FORWARD_POLICY"),
            };
            let cur = policy_word(get(&r.default, key));
            if cur != p {
                cmds.push(vec!["default".into(), p.clone(), dir.into()]);
                before.push(format!("default {dir}: {cur}"));
                after.push(format!("default {dir}: {p}"));
            }
        }
        if let Some(l) = args.string("logging") {
            let cur = get(&r.conf, "LOGLEVEL");
            let cur = if cur.is_empty() { "off" } else { cur };
            let same = match l.as_str() {
                "on" => cur != "off",
                _ => cur == l,
            };
            if !same {
                cmds.push(vec!["logging".into(), l.clone()]);
                before.push(format!("logging: {cur}"));
                after.push(format!("logging: {l}"));
            }
        }
        if let Some(words) = rule_words(args)? {
            let dry = r.dry.clone().unwrap_or_default();
            if dry.contains("ERROR:") || dry.contains("@@rc=1") {
                let msg: Vec<&str> = dry.lines().filter(|l| !l.starts_with("@@rc=")).collect();
                return fail::fail(format!("ufw {}: {}", words.join(" "), msg.join(" ")));
            }
            let new: Vec<String> = dry
                .lines()
                .filter(|l| l.starts_with("### tuple"))
                .map(str::to_string)
                .collect();
            let skipped = new.is_empty()
                && (dry.contains("Skipping") || dry.contains("Could not delete non-existent rule"));
            if !skipped && new != r.tuples {
                before.extend(r.tuples.iter().cloned());
                after.extend(new);
                cmds.push(words);
            }
        }
        let shown: Vec<String> = cmds.iter().map(|c| command(c)).collect();
        let mut res = Outcome::ok().with("commands", json!(shown));
        if cmds.is_empty() {
            return Ok(Plan::Done(res));
        }
        res.changed = true;
        res.msg = Some(shown.join("; "));
        if ctx.diff && before != after {
            let text = |v: &[String]| v.iter().map(|l| format!("{l}\n")).collect::<String>();
            res.diffs
                .push(Diff::new("ufw", text(&before), text(&after)));
        }
        let mut script = String::from("# opsctl ufw: change\nset -e\n");
        for c in &shown {
            script.push_str(c);
            script.push('\n');
        }
        Ok(Plan::change(
            res,
            Action::Script {
                script,
                stdin: None,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: serde_json::Value) -> Args {
        UFW.validate(v.as_object().unwrap(), true).unwrap()
    }

    #[test]
    fn rules_are_worded_as_ansible_does() {
        let a = args(json!({"rule": "allow", "port": 22, "proto": "tcp"}));
        assert_eq!(
            rule_words(&a).unwrap().unwrap().join(" "),
            "allow from any to any port 22 proto tcp"
        );
        let a = args(
            json!({"rule": "deny", "delete": true, "src": "10.0.0.0/8", "direction": "incoming", "interface": "eth0", "comment": "x y"}),
        );
        assert_eq!(
            command(&rule_words(&a).unwrap().unwrap()),
            "ufw delete deny in on eth0 from 10.0.0.0/8 to any comment 'x y'"
        );
    }
}
