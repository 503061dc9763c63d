//! snap (community.general.snap): snap packages installed, removed, enabled
//! or disabled.
//!
//! On the module protocol: `snap list` of the names is a read-only probe;
//! Rust decides per snap: install (with `--classic`, `--channel`), refresh to
//! another channel (`snap refresh --channel`), remove, enable, disable. The
//! change, never in check mode, runs `snap`. snapd needs its store (the
//! internet): the test bed has none, so snap's decisions are tested by
//! fixtures only (`tests/fixtures/modules/snap/`).

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::sysconf::script_plan;
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static SNAP: Spec = Spec::new(
    "snap",
    &[
        ArgSpec::new("name", Kind::List).required(),
        ArgSpec::new(
            "state",
            Kind::Choice(&["present", "absent", "enabled", "disabled"]),
        ),
        ArgSpec::new("classic", Kind::Bool),
        ArgSpec::new("channel", Kind::Str),
        ArgSpec::new("dangerous", Kind::Bool),
    ],
);

pub struct Snap;

fn names(args: &Args) -> Result<Vec<String>, Fail> {
    let n = args.strings("name");
    if n.is_empty() {
        return fail::bad_args("name: give at least one snap");
    }
    if let Some(bad) = n.iter().find(|s| {
        s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }) {
        return fail::bad_args(format!("name: '{bad}' is not a snap name"));
    }
    Ok(n)
}

fn probe(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| shell_quote(n)).collect();
    format!(
        "# opsctl snap: read\ncommand -v snap >/dev/null 2>&1 || {{ echo nosnap=1; exit 0; }}\nLC_ALL=C snap list {} 2>/dev/null\nexit 0\n",
        q.join(" ")
    )
}

/// An installed snap: its tracking channel and whether it is disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Installed {
    tracking: String,
    disabled: bool,
}

/// `snap list` rows (Name Version Rev Tracking Publisher Notes).
fn parse(out: &str, name: &str) -> Option<Installed> {
    out.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&name)).then(|| Installed {
            tracking: f.get(3).unwrap_or(&"").to_string(),
            disabled: f
                .get(5)
                .is_some_and(|n| n.split(',').any(|x| x == "disabled")),
        })
    })
}

/// `latest/stable` and `stable` name the same channel.
fn same_channel(tracking: &str, want: &str) -> bool {
    let norm = |c: &str| {
        if c.contains('/') {
            c.to_string()
        } else {
            format!("latest/{c}")
        }
    };
    norm(tracking) == norm(want)
}

impl Module for Snap {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(&names(args)?))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let names = names(args)?;
        let state = args.str("state").unwrap_or("present");
        let out = facts.probe(&probe(&names))?.stdout_str();
        if out.contains("nosnap=1") {
            return fail::fail(
                "snap is not installed on this host: install snapd first (apt: name=snapd)",
            );
        }
        let channel = args.string("channel");
        let mut cmds = Vec::new();
        let mut rows = Vec::new();
        for n in &names {
            let have = parse(&out, n);
            let q = shell_quote(n);
            let mut flags = String::new();
            if args.bool_or("classic", false) {
                flags.push_str(" --classic");
            }
            if args.bool_or("dangerous", false) {
                flags.push_str(" --dangerous");
            }
            if let Some(c) = &channel {
                flags.push_str(&format!(" --channel={}", shell_quote(c)));
            }
            let before = match &have {
                None => "absent".to_string(),
                Some(h) if h.disabled => format!("disabled ({})", h.tracking),
                Some(h) => format!("present ({})", h.tracking),
            };
            let cmd = match (state, &have) {
                ("present" | "enabled", None) => Some(format!("snap install{flags} -- {q}")),
                ("present", Some(h))
                    if channel
                        .as_deref()
                        .is_some_and(|c| !same_channel(&h.tracking, c)) =>
                {
                    Some(format!(
                        "snap refresh --channel={} -- {q}",
                        shell_quote(channel.as_deref().unwrap_or_default())
                    ))
                }
                ("enabled", Some(h)) if h.disabled => Some(format!("snap enable -- {q}")),
                ("disabled", Some(h)) if !h.disabled => Some(format!("snap disable -- {q}")),
                ("disabled", None) => {
                    return fail::fail(format!("snap {n} is not installed: it cannot be disabled"));
                }
                ("absent", Some(_)) => Some(format!("snap remove -- {q}")),
                _ => None,
            };
            if let Some(c) = cmd {
                let after = match state {
                    "absent" => "absent".to_string(),
                    "disabled" => format!(
                        "disabled ({})",
                        have.as_ref()
                            .map(|h| h.tracking.clone())
                            .unwrap_or_default()
                    ),
                    _ => format!(
                        "present ({})",
                        channel
                            .clone()
                            .or(have.as_ref().map(|h| h.tracking.clone()))
                            .unwrap_or_else(|| "latest/stable".into())
                    ),
                };
                rows.push((n.clone(), before, after));
                cmds.push(c);
            }
        }
        let mut o = Outcome::ok();
        o.data.insert(
            "snaps_installed".into(),
            json!(
                rows.iter()
                    .filter(|r| r.1 == "absent")
                    .map(|r| r.0.clone())
                    .collect::<Vec<_>>()
            ),
        );
        o.data.insert(
            "snaps_removed".into(),
            json!(
                rows.iter()
                    .filter(|r| r.2 == "absent")
                    .map(|r| r.0.clone())
                    .collect::<Vec<_>>()
            ),
        );
        if cmds.is_empty() {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(
            rows.iter()
                .map(|(n, b, a)| format!("{n}: {b} -> {a}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        if ctx.diff {
            let b: String = rows.iter().map(|(n, b, _)| format!("{n}: {b}\n")).collect();
            let a: String = rows.iter().map(|(n, _, a)| format!("{n}: {a}\n")).collect();
            o.diffs.push(Diff::new("snaps", b, a));
        }
        let script = format!("# opsctl snap: {state}\nset -e\n{}\n", cmds.join("\n"));
        Ok(script_plan(o, script, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_snap_list() {
        let out = "Name    Version  Rev    Tracking       Publisher   Notes\ncore22  2024     1380   latest/stable  canonical✓  base\nlxd     5.21     28463  5.21/stable    canonical✓  disabled\n";
        assert_eq!(
            parse(out, "core22"),
            Some(Installed {
                tracking: "latest/stable".into(),
                disabled: false
            })
        );
        assert!(parse(out, "lxd").unwrap().disabled);
        assert_eq!(parse(out, "nope"), None);
        assert!(same_channel("latest/stable", "stable"));
        assert!(!same_channel("5.21/stable", "stable"));
    }
}
