//! alternatives (community.general.alternatives): a Debian alternative
//! (`update-alternatives`): registered, selected, back to automatic, or
//! removed.
//!
//! On the module protocol: `update-alternatives --query NAME` is a read-only
//! probe; Rust parses the group (its link, status, value, alternatives and
//! their priorities and subcommands) and decides as Ansible does: `present`
//! registers the path, `selected` (the default) registers and selects it
//! (manual mode), `auto` registers it and returns the group to automatic
//! mode, `absent` removes it. A registered path is installed again when the
//! `priority` given or the subcommands differ. The change, never in check
//! mode, runs `update-alternatives`; `--diff` shows the group before and
//! after.

use serde_json::{Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::sysconf::script_plan;
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static ALTERNATIVES: Spec = Spec::new(
    "alternatives",
    &[
        ArgSpec::new("name", Kind::Str).required(),
        ArgSpec::new("path", Kind::Str),
        ArgSpec::new("link", Kind::Str),
        ArgSpec::new("priority", Kind::Int),
        ArgSpec::new(
            "state",
            Kind::Choice(&["present", "selected", "auto", "absent"]),
        ),
        ArgSpec::new("subcommands", Kind::List).aliases(&["slaves"]),
        ArgSpec::new("family", Kind::Str),
    ],
);

pub struct Alternatives;

/// One alternative: its path, priority and subcommands as (name, path).
type Alt = (String, i64, Vec<(String, String)>);

/// An alternatives group as `--query` prints it.
#[derive(Debug, Default, Clone, PartialEq)]
struct Group {
    link: Option<String>,
    auto: bool,
    value: Option<String>,
    alts: Vec<Alt>,
    /// Subcommand links of the group: (name, link).
    slave_links: Vec<(String, String)>,
}

fn parse(out: &str) -> Group {
    let mut g = Group::default();
    let mut in_alt = false;
    let mut in_slaves = false;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix(' ') {
            if in_slaves {
                let mut w = rest.split_whitespace();
                if let (Some(n), Some(p)) = (w.next(), w.next()) {
                    if in_alt {
                        if let Some(a) = g.alts.last_mut() {
                            a.2.push((n.into(), p.into()));
                        }
                    } else {
                        g.slave_links.push((n.into(), p.into()));
                    }
                }
            }
            continue;
        }
        in_slaves = false;
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().to_string();
        match k {
            "Link" if !in_alt => g.link = Some(v),
            "Status" => g.auto = v == "auto",
            "Value" => g.value = (v != "none").then_some(v),
            "Alternative" => {
                in_alt = true;
                g.alts.push((v, 0, Vec::new()));
            }
            "Priority" => {
                if let Some(a) = g.alts.last_mut() {
                    a.1 = v.parse().unwrap_or(0);
                }
            }
            "Slaves" => in_slaves = true,
            _ => {}
        }
    }
    g
}

fn summary(g: &Group) -> String {
    let mut s = format!(
        "link: {}\nstatus: {}\nvalue: {}\n",
        g.link.as_deref().unwrap_or("none"),
        if g.auto { "auto" } else { "manual" },
        g.value.as_deref().unwrap_or("none")
    );
    for (p, prio, _) in &g.alts {
        s.push_str(&format!("alternative: {p} ({prio})\n"));
    }
    s
}

fn probe(name: &str) -> String {
    format!(
        "# opsctl alternatives: read {name}\ncommand -v update-alternatives >/dev/null 2>&1 || {{ echo noua=1; exit 0; }}\nLC_ALL=C update-alternatives --query {} 2>/dev/null\nexit 0\n",
        shell_quote(name)
    )
}

/// The subcommands asked: (name, link, path).
fn subcommands(args: &Args) -> Result<Vec<(String, String, String)>, Fail> {
    let mut v = Vec::new();
    if let Some(Json::Array(items)) = args.get("subcommands") {
        for i in items {
            let f = |k: &str| i.get(k).and_then(Json::as_str).map(str::to_string);
            match (f("name"), f("link"), f("path")) {
                (Some(n), Some(l), Some(p)) => v.push((n, l, p)),
                _ => return fail::bad_args("subcommands: each needs name, link and path"),
            }
        }
    }
    Ok(v)
}

impl Module for Alternatives {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(
            args.str("name").unwrap_or_default(),
        ))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let name = args.str("name").unwrap_or_default().trim().to_string();
        if name.is_empty() || name.contains(['/', ' ']) {
            return fail::bad_args(format!("name: '{name}' is not an alternatives group name"));
        }
        let state = args.str("state").unwrap_or("selected");
        let path = args.string("path");
        if path.is_none() && state != "auto" {
            return fail::bad_args(format!("path is required with state: {state}"));
        }
        let subs = subcommands(args)?;
        let out = facts.probe(&probe(&name))?.stdout_str();
        if out.contains("noua=1") {
            return fail::fail("update-alternatives is not on this host (it comes with dpkg)");
        }
        let g = parse(&out);
        let q = shell_quote(&name);
        let mut cmds: Vec<String> = Vec::new();
        let registered = path
            .as_ref()
            .and_then(|p| g.alts.iter().find(|a| a.0 == *p));
        let priority = args.int("priority");
        if state != "absent"
            && let Some(p) = &path
        {
            let subs_differ = !subs.is_empty()
                && registered.is_some_and(|a| {
                    let mut have = a.2.clone();
                    have.sort();
                    let mut want: Vec<(String, String)> = subs
                        .iter()
                        .map(|(n, _, p)| (n.clone(), p.clone()))
                        .collect();
                    want.sort();
                    have != want
                });
            let prio_differs = registered.is_some_and(|a| priority.is_some_and(|want| a.1 != want));
            if registered.is_none() || subs_differ || prio_differs {
                let Some(link) = args.string("link").or_else(|| g.link.clone()) else {
                    return fail::fail(format!(
                        "link is required: the alternatives group {name} does not exist yet"
                    ));
                };
                let mut c = format!(
                    "update-alternatives --install {} {q} {} {}",
                    shell_quote(&link),
                    shell_quote(p),
                    priority.unwrap_or(50)
                );
                for (n, l, sp) in &subs {
                    c.push_str(&format!(
                        " --slave {} {} {}",
                        shell_quote(l),
                        shell_quote(n),
                        shell_quote(sp)
                    ));
                }
                cmds.push(c);
            }
        }
        match (state, &path) {
            ("selected", Some(p)) if g.value.as_deref() != Some(p.as_str()) || g.auto => {
                cmds.push(format!("update-alternatives --set {q} {}", shell_quote(p)));
            }
            // a new group starts in automatic mode
            ("auto", _) if !g.auto && !g.alts.is_empty() => {
                cmds.push(format!("update-alternatives --auto {q}"));
            }
            ("absent", Some(p)) if registered.is_some() => {
                cmds.push(format!(
                    "update-alternatives --remove {q} {}",
                    shell_quote(p)
                ));
            }
            _ => {}
        }
        let mut o = Outcome::ok();
        o.data.insert("name".into(), json!(name));
        o.data.insert("path".into(), json!(path));
        o.data.insert("state".into(), json!(state));
        if cmds.is_empty() {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(format!("alternatives {name}: {state}"));
        if ctx.diff {
            let mut after = g.clone();
            if let Some(p) = &path {
                match state {
                    "absent" => after.alts.retain(|a| a.0 != *p),
                    _ => {
                        let prio = priority.unwrap_or(registered.map(|a| a.1).unwrap_or(50));
                        after.alts.retain(|a| a.0 != *p);
                        after.alts.push((p.clone(), prio, Vec::new()));
                        if after.link.is_none() {
                            after.link = args.string("link");
                        }
                    }
                }
                if state == "selected" {
                    after.value = Some(p.clone());
                    after.auto = false;
                }
            }
            if state == "auto" {
                after.auto = true;
            }
            o.diffs.push(Diff::new(
                format!("alternatives {name}"),
                summary(&g),
                summary(&after),
            ));
        }
        let script = format!(
            "# opsctl alternatives: {name}\nset -e\n{}\n",
            cmds.join("\n")
        );
        Ok(script_plan(o, script, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUERY: &str = "Name: editor\nLink: /usr/bin/editor\nSlaves:\n editor.1.gz /usr/share/man/man1/editor.1.gz\nStatus: auto\nBest: /bin/nano\nValue: /bin/nano\n\nAlternative: /bin/nano\nPriority: 40\nSlaves:\n editor.1.gz /usr/share/man/man1/nano.1.gz\n\nAlternative: /usr/bin/vim.basic\nPriority: 30\n";

    #[test]
    fn parses_the_query() {
        let g = parse(QUERY);
        assert_eq!(g.link.as_deref(), Some("/usr/bin/editor"));
        assert!(g.auto);
        assert_eq!(g.value.as_deref(), Some("/bin/nano"));
        assert_eq!(g.alts.len(), 2);
        assert_eq!(g.alts[0].1, 40);
        assert_eq!(
            g.alts[0].2,
            vec![("editor.1.gz".into(), "/usr/share/man/man1/nano.1.gz".into())]
        );
        assert_eq!(g.slave_links.len(), 1);
        assert_eq!(parse(""), Group::default());
    }
}
