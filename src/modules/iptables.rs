//! iptables (ansible.builtin.iptables): one rule of a chain present or absent,
//! a chain's policy, a flush, and (with `chain_management`) user chains.
//!
//! The rule's words are built from the arguments in the order Ansible's module
//! builds them (so `rule` registers the same string); the probe asks
//! `iptables -C` whether the rule is there, `iptables -S` for the chain's
//! policy and rules (for `--diff`) and whether the chain exists. The change is
//! one script of `iptables -A/-I/-D/-P/-F/-N/-X`. Nothing persists the rules
//! across a reboot (as Ansible's module; use a `netfilter-persistent` task).

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static IPTABLES: Spec = Spec {
    mutually_exclusive: &[
        &["set_dscp_mark", "set_dscp_mark_class"],
        &["flush", "policy"],
    ],
    ..Spec::new(
        "iptables",
        &[
            ArgSpec::new(
                "table",
                Kind::Choice(&["filter", "nat", "mangle", "raw", "security"]),
            ),
            ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
            ArgSpec::new("action", Kind::Choice(&["append", "insert"])),
            ArgSpec::new("rule_num", Kind::Str),
            ArgSpec::new("ip_version", Kind::Choice(&["ipv4", "ipv6"])),
            ArgSpec::new("chain", Kind::Str),
            ArgSpec::new("protocol", Kind::Str),
            ArgSpec::new("source", Kind::Str),
            ArgSpec::new("destination", Kind::Str),
            ArgSpec::new("tcp_flags", Kind::Dict),
            ArgSpec::new("match", Kind::List),
            ArgSpec::new("jump", Kind::Str),
            ArgSpec::new("gateway", Kind::Str),
            ArgSpec::new("log_prefix", Kind::Str),
            ArgSpec::new(
                "log_level",
                Kind::Choice(&[
                    "0", "1", "2", "3", "4", "5", "6", "7", "emerg", "alert", "crit", "error",
                    "warning", "notice", "info", "debug",
                ]),
            ),
            ArgSpec::new("goto", Kind::Str),
            ArgSpec::new("in_interface", Kind::Str),
            ArgSpec::new("out_interface", Kind::Str),
            ArgSpec::new("fragment", Kind::Str),
            ArgSpec::new("set_counters", Kind::Str),
            ArgSpec::new("source_port", Kind::Str),
            ArgSpec::new("destination_port", Kind::Str),
            ArgSpec::new("destination_ports", Kind::List),
            ArgSpec::new("to_ports", Kind::Str),
            ArgSpec::new("to_destination", Kind::Str),
            ArgSpec::new("to_source", Kind::Str),
            ArgSpec::new("syn", Kind::Choice(&["ignore", "match", "negate"])),
            ArgSpec::new("set_dscp_mark", Kind::Str),
            ArgSpec::new("set_dscp_mark_class", Kind::Str),
            ArgSpec::new("comment", Kind::Str),
            ArgSpec::new("ctstate", Kind::List),
            ArgSpec::new("src_range", Kind::Str),
            ArgSpec::new("dst_range", Kind::Str),
            ArgSpec::new("match_set", Kind::Str),
            ArgSpec::new("match_set_flags", Kind::Str),
            ArgSpec::new("limit", Kind::Str),
            ArgSpec::new("limit_burst", Kind::Str),
            ArgSpec::new("uid_owner", Kind::Str),
            ArgSpec::new("gid_owner", Kind::Str),
            ArgSpec::new("reject_with", Kind::Str),
            ArgSpec::new("icmp_type", Kind::Str),
            ArgSpec::new("flush", Kind::Bool),
            ArgSpec::new(
                "policy",
                Kind::Choice(&["ACCEPT", "DROP", "QUEUE", "RETURN"]),
            ),
            ArgSpec::new("wait", Kind::Str),
            ArgSpec::new("chain_management", Kind::Bool),
            ArgSpec::new("numeric", Kind::Bool),
        ],
    )
};

/// `flag value`, or `! flag value` for a value starting with `!`.
fn param(rule: &mut Vec<String>, value: Option<String>, flag: &str) {
    if let Some(v) = value {
        match v.strip_prefix('!') {
            Some(rest) => rule.extend(["!".into(), flag.into(), rest.trim().to_string()]),
            None => rule.extend([flag.into(), v]),
        }
    }
}

fn words(rule: &mut Vec<String>, ws: &[&str]) {
    rule.extend(ws.iter().map(|w| w.to_string()));
}

/// The rule's words, in the order of Ansible's `construct_rule`.
fn construct_rule(args: &Args) -> Result<Vec<String>, Fail> {
    let s = |n: &str| args.string(n).filter(|v| !v.is_empty());
    let matches = args.strings("match");
    let mut r = Vec::new();
    param(&mut r, s("protocol"), "-p");
    param(&mut r, s("source"), "-s");
    param(&mut r, s("destination"), "-d");
    for m in &matches {
        param(&mut r, Some(m.clone()), "-m");
    }
    if let Some(serde_json::Value::Object(f)) = args.get("tcp_flags") {
        let list = |k: &str| -> Result<String, Fail> {
            match f.get(k) {
                Some(serde_json::Value::Array(a)) => Ok(a
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(",")),
                Some(serde_json::Value::String(v)) => Ok(v.clone()),
                _ => fail::bad_args(format!("tcp_flags needs '{k}' (a list of flags)")),
            }
        };
        if let Some(bad) = f.keys().find(|k| *k != "flags" && *k != "flags_set") {
            return fail::bad_args(format!("tcp_flags: unknown key '{bad}' (flags, flags_set)"));
        }
        if !f.is_empty() {
            r.extend(["--tcp-flags".into(), list("flags")?, list("flags_set")?]);
        }
    }
    let jump = s("jump");
    param(&mut r, jump.clone(), "-j");
    if jump
        .as_deref()
        .is_some_and(|j| j.eq_ignore_ascii_case("tee"))
    {
        param(&mut r, s("gateway"), "--gateway");
    }
    param(&mut r, s("log_prefix"), "--log-prefix");
    param(&mut r, s("log_level"), "--log-level");
    param(&mut r, s("to_destination"), "--to-destination");
    let dports = args.strings("destination_ports");
    if !dports.is_empty() {
        words(&mut r, &["-m", "multiport"]);
        r.extend(["--dports".into(), dports.join(",")]);
    }
    param(&mut r, s("to_source"), "--to-source");
    param(&mut r, s("goto"), "-g");
    param(&mut r, s("in_interface"), "-i");
    param(&mut r, s("out_interface"), "-o");
    param(&mut r, s("fragment"), "-f");
    if let Some(c) = s("set_counters") {
        r.push("-c".into());
        r.extend(c.split_whitespace().map(str::to_string));
    }
    param(&mut r, s("source_port"), "--source-port");
    param(&mut r, s("destination_port"), "--destination-port");
    param(&mut r, s("to_ports"), "--to-ports");
    param(&mut r, s("set_dscp_mark"), "--set-dscp");
    param(&mut r, s("set_dscp_mark_class"), "--set-dscp-class");
    match args.str("syn") {
        Some("match") => r.push("--syn".into()),
        Some("negate") => words(&mut r, &["!", "--syn"]),
        _ => {}
    }
    let ctstate = args.strings("ctstate");
    if !ctstate.is_empty() {
        if matches.iter().any(|m| m == "conntrack") {
            r.extend(["--ctstate".into(), ctstate.join(",")]);
        } else if matches.iter().any(|m| m == "state") {
            r.extend(["--state".into(), ctstate.join(",")]);
        } else {
            words(&mut r, &["-m", "conntrack"]);
            r.extend(["--ctstate".into(), ctstate.join(",")]);
        }
    }
    if (s("src_range").is_some() || s("dst_range").is_some())
        && !matches.iter().any(|m| m == "iprange")
    {
        words(&mut r, &["-m", "iprange"]);
    }
    param(&mut r, s("src_range"), "--src-range");
    param(&mut r, s("dst_range"), "--dst-range");
    if let Some(set) = s("match_set") {
        if !matches.iter().any(|m| m == "set") {
            words(&mut r, &["-m", "set"]);
        }
        let flags = s("match_set_flags").ok_or_else(|| {
            Fail::Args("match_set needs match_set_flags (src, dst, src,dst, dst,src)".into())
        })?;
        param(&mut r, Some(set), "--match-set");
        r.push(flags);
    }
    if s("limit").is_some() || s("limit_burst").is_some() {
        words(&mut r, &["-m", "limit"]);
    }
    param(&mut r, s("limit"), "--limit");
    param(&mut r, s("limit_burst"), "--limit-burst");
    if s("uid_owner").is_some() || s("gid_owner").is_some() {
        words(&mut r, &["-m", "owner"]);
    }
    param(&mut r, s("uid_owner"), "--uid-owner");
    param(&mut r, s("gid_owner"), "--gid-owner");
    if jump.is_none() && s("reject_with").is_some() {
        words(&mut r, &["-j", "REJECT"]);
    }
    param(&mut r, s("reject_with"), "--reject-with");
    let icmp = if args.str("ip_version") == Some("ipv6") {
        "--icmpv6-type"
    } else {
        "--icmp-type"
    };
    param(&mut r, s("icmp_type"), icmp);
    if let Some(c) = s("comment") {
        words(&mut r, &["-m", "comment"]);
        r.extend(["--comment".into(), c]);
    }
    Ok(r)
}

#[derive(Debug)]
struct Want {
    bin: &'static str,
    table: String,
    chain: Option<String>,
    present: bool,
    insert: bool,
    rule_num: Option<String>,
    rule: Vec<String>,
    flush: bool,
    policy: Option<String>,
    chain_management: bool,
    wait: Option<String>,
}

impl Want {
    fn new(args: &Args) -> Result<Want, Fail> {
        let chain = args.string("chain").filter(|c| !c.is_empty());
        let flush = args.bool_or("flush", false);
        let policy = args.string("policy");
        if chain.is_none() && !flush {
            return fail::bad_args("chain is required (only a flush may go without one)");
        }
        if policy.is_some() && chain.is_none() {
            return fail::bad_args("policy needs a chain");
        }
        let rule_num = args.string("rule_num");
        if rule_num
            .as_deref()
            .is_some_and(|n| n.parse::<u32>().map_or(true, |n| n == 0))
        {
            return fail::bad_args("rule_num must be a number from 1");
        }
        let wait = args.string("wait");
        if wait.as_deref().is_some_and(|w| w.parse::<f64>().is_err()) {
            return fail::bad_args("wait must be a number of seconds");
        }
        Ok(Want {
            bin: if args.str("ip_version") == Some("ipv6") {
                "ip6tables"
            } else {
                "iptables"
            },
            table: args.string("table").unwrap_or_else(|| "filter".into()),
            chain,
            present: args.str("state") != Some("absent"),
            insert: args.str("action") == Some("insert"),
            rule_num,
            rule: construct_rule(args)?,
            flush,
            policy,
            chain_management: args.bool_or("chain_management", false),
            wait,
        })
    }

    /// `iptables -w [SECS] -t TABLE`.
    fn cmd(&self) -> String {
        let wait = match &self.wait {
            Some(w) => format!(" -w {}", shell_quote(w)),
            None => " -w".into(),
        };
        format!("{}{wait} -t {}", self.bin, shell_quote(&self.table))
    }

    fn rule_words(&self) -> String {
        self.rule
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn chain(&self) -> String {
        shell_quote(self.chain.as_deref().unwrap_or_default())
    }
}

fn probe(w: &Want) -> Option<Need> {
    let chain = w.chain.as_ref()?;
    let mut s = format!(
        "# opsctl iptables: read\n\
         command -v {bin} >/dev/null 2>&1 || {{ echo missing=1; exit 0; }}\n\
         if out=$({cmd} -S {c} 2>/dev/null); then echo chain=1; printf '%s\\n' \"$out\" | grep -v '^#' | sed 's/^/rule=/'; else echo chain=0; exit 0; fi\n",
        bin = w.bin,
        cmd = w.cmd(),
        c = shell_quote(chain),
    );
    if w.policy.is_none() && !w.flush && !(w.chain_management && w.rule.is_empty()) {
        s.push_str(&format!(
            "err=$({cmd} -C {c} {rule} 2>&1 >/dev/null); echo \"check=$?\"\n\
             [ -n \"$err\" ] && printf '%s\\n' \"$err\" | grep -v '^#' | head -n 3 | sed 's/^/err=/'\n",
            cmd = w.cmd(),
            c = shell_quote(chain),
            rule = w.rule_words(),
        ));
    }
    s.push_str("exit 0\n");
    Some(Need::Probe(s))
}

#[derive(Debug, Default)]
struct Found {
    chain: bool,
    rules: Vec<String>,
    /// `iptables -C`'s status: 0 there, 1 not there, other: the rule is wrong.
    check: Option<i32>,
    err: Vec<String>,
}

fn parse(out: &str, bin: &str) -> Result<Found, Fail> {
    let mut f = Found::default();
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "missing" => {
                return fail::fail(format!(
                    "{bin} is not installed on this host: install it first (apt: name=iptables)"
                ));
            }
            "chain" => f.chain = v == "1",
            "rule" => f.rules.push(v.to_string()),
            "check" => f.check = v.trim().parse().ok(),
            "err" => f.err.push(v.to_string()),
            _ => {}
        }
    }
    Ok(f)
}

pub struct Iptables;

impl Module for Iptables {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(probe(&Want::new(args)?).into_iter().collect())
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = Want::new(args)?;
        let f = match probe(&w) {
            Some(Need::Probe(p)) => parse(&facts.probe(&p)?.stdout_str(), w.bin)?,
            _ => Found::default(),
        };
        let mut res = Outcome::ok()
            .with("chain", w.chain.clone().unwrap_or_default())
            .with("table", w.table.clone())
            .with("flush", w.flush)
            .with("rule", w.rule.join(" "))
            .with("state", if w.present { "present" } else { "absent" })
            .with(
                "ip_version",
                if w.bin == "ip6tables" { "ipv6" } else { "ipv4" },
            );
        let cmd = w.cmd();
        let c = w.chain();
        let label = format!(
            "{} -t {} {}",
            w.bin,
            w.table,
            w.chain.as_deref().unwrap_or("(all chains)")
        );
        let before = f.rules.iter().map(|r| format!("{r}\n")).collect::<String>();
        let mut after = before.clone();
        let mut steps = Vec::new();
        if w.flush {
            // as Ansible: a flush always reports a change
            steps.push(if w.chain.is_some() {
                format!("{cmd} -F {c}")
            } else {
                format!("{cmd} -F")
            });
            after = f
                .rules
                .iter()
                .filter(|r| r.starts_with("-P ") || r.starts_with("-N "))
                .map(|r| format!("{r}\n"))
                .collect();
        } else if let Some(p) = &w.policy {
            if !f.chain {
                return fail::fail(format!(
                    "chain {} does not exist in table {}",
                    w.chain.as_deref().unwrap_or_default(),
                    w.table
                ));
            }
            let chain = w.chain.as_deref().unwrap_or_default();
            let want = format!("-P {chain} {p}");
            let have = f.rules.iter().find(|r| r.starts_with("-P "));
            res.data.insert(
                "policy".into(),
                json!(have.and_then(|h| h.rsplit(' ').next()).unwrap_or_default()),
            );
            if have != Some(&want) {
                steps.push(format!("{cmd} -P {c} {}", shell_quote(p)));
                after = after.replacen(
                    &have.map(|h| format!("{h}\n")).unwrap_or_default(),
                    &format!("{want}\n"),
                    1,
                );
                res.data.insert("policy".into(), json!(p));
            }
        } else if w.chain_management && w.rule.is_empty() {
            // the chain itself
            if w.present && !f.chain {
                steps.push(format!("{cmd} -N {c}"));
                after = format!("-N {}\n", w.chain.as_deref().unwrap_or_default());
            } else if !w.present && f.chain {
                steps.push(format!("{cmd} -X {c}"));
                after = String::new();
            }
        } else {
            let chain = w.chain.as_deref().unwrap_or_default();
            let rule_line = format!("-A {chain} {}", w.rule.join(" "));
            if !f.chain {
                if w.present && w.chain_management {
                    steps.push(format!("{cmd} -N {c}"));
                    after = format!("-N {chain}\n");
                } else if w.present {
                    return fail::fail(format!(
                        "chain {chain} does not exist in table {}: create it first (chain_management: true)",
                        w.table
                    ));
                }
            }
            let there = f.chain && f.check == Some(0);
            if f.chain && !matches!(f.check, Some(0) | Some(1)) {
                return fail::fail(format!(
                    "{} refuses the rule '{}': {}",
                    w.bin,
                    w.rule.join(" "),
                    f.err.join(" | ")
                ));
            }
            if w.present && !there {
                let num = w
                    .rule_num
                    .as_deref()
                    .map(|n| format!(" {n}"))
                    .unwrap_or_default();
                if w.insert {
                    steps.push(format!("{cmd} -I {c}{num} {}", w.rule_words()));
                    let at: usize = w
                        .rule_num
                        .as_deref()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1);
                    let mut lines: Vec<String> = after.lines().map(str::to_string).collect();
                    let heads = lines
                        .iter()
                        .take_while(|l| l.starts_with("-P ") || l.starts_with("-N "))
                        .count();
                    let pos = (heads + at - 1).min(lines.len());
                    lines.insert(pos, rule_line);
                    after = lines.iter().map(|l| format!("{l}\n")).collect();
                } else {
                    steps.push(format!("{cmd} -A {c} {}", w.rule_words()));
                    after.push_str(&format!("{rule_line}\n"));
                }
            } else if !w.present && there {
                steps.push(format!("{cmd} -D {c} {}", w.rule_words()));
                after = format!("{after}(removed) {rule_line}\n");
            }
        }
        if steps.is_empty() {
            return Ok(Plan::Done(res));
        }
        res.changed = true;
        res.msg = Some(steps.join("; "));
        if ctx.diff {
            res.diffs.push(Diff::new(label, before, after));
        }
        let script = format!("# opsctl iptables: change\nset -e\n{}\n", steps.join("\n"));
        Ok(super::sysconf::script_plan(res, script, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(raw: serde_json::Value) -> String {
        let args = IPTABLES.validate(raw.as_object().unwrap(), true).unwrap();
        construct_rule(&args).unwrap().join(" ")
    }

    #[test]
    fn rules_are_built_in_ansibles_order() {
        assert_eq!(
            rule(
                json!({"chain": "INPUT", "protocol": "tcp", "destination_port": "22",
                "ctstate": ["NEW"], "syn": "match", "jump": "ACCEPT", "comment": "ssh"})
            ),
            "-p tcp -j ACCEPT --destination-port 22 --syn -m conntrack --ctstate NEW -m comment --comment ssh"
        );
        assert_eq!(
            rule(
                json!({"chain": "INPUT", "source": "!10.0.0.0/8", "match": ["state"],
                "ctstate": "ESTABLISHED,RELATED", "jump": "ACCEPT"})
            ),
            "! -s 10.0.0.0/8 -m state -j ACCEPT --state ESTABLISHED,RELATED"
        );
        assert_eq!(
            rule(
                json!({"chain": "INPUT", "protocol": "tcp", "destination_ports": ["80", "443:445"],
                "tcp_flags": {"flags": ["ALL"], "flags_set": ["ACK", "SYN"]}, "in_interface": "eth0"})
            ),
            "-p tcp --tcp-flags ALL ACK,SYN -m multiport --dports 80,443:445 -i eth0"
        );
        assert_eq!(
            rule(
                json!({"chain": "INPUT", "protocol": "icmp", "icmp_type": "echo-request",
                "reject_with": "icmp-port-unreachable"})
            ),
            "-p icmp -j REJECT --reject-with icmp-port-unreachable --icmp-type echo-request"
        );
    }
}
