//! capabilities (community.general.capabilities): one file capability
//! (`cap_net_bind_service+ep`) present on a file or absent from it.
//!
//! On the module protocol: one probe reads the file's capabilities with
//! `getcap` (libcap2-bin). Rust parses them (`cap_a,cap_b=ep cap_c+i`), and
//! decides as Ansible does: `present` adds the capability or replaces its
//! flags, `absent` drops it, the others kept; the change (never in check
//! mode) runs `setcap` with the whole new set (`setcap -r` when none is left).

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::sysconf::{probe_fields, script_applied, script_plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static CAPABILITIES: Spec = Spec::new(
    "capabilities",
    &[
        ArgSpec::new("path", Kind::Str).required().aliases(&["key"]),
        ArgSpec::new("capability", Kind::Str)
            .required()
            .aliases(&["cap"]),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
    ],
);

pub struct Capabilities;

fn probe(path: &str) -> String {
    let p = shell_quote(path);
    format!(
        "# opsctl capabilities: read {path}\n\
         command -v getcap >/dev/null 2>&1 || echo nogetcap=1\n\
         [ -e {p} ] && echo exists=1\n\
         printf 'caps=%s\\n' \"$(getcap -- {p} 2>/dev/null | base64 -w0)\"\n"
    )
}

/// One capability: its name and flags (`e`, `i`, `p`), sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cap {
    name: String,
    flags: String,
}

impl Cap {
    fn text(&self) -> String {
        format!("{}={}", self.name, self.flags)
    }
}

fn flags(s: &str) -> String {
    let mut f: Vec<char> = s.chars().filter(|c| "eip".contains(*c)).collect();
    f.sort_unstable();
    f.dedup();
    f.into_iter().collect()
}

/// The capability argument: `cap_x+ep`, `cap_x=ep` (`cap_x-ep`: none).
fn parse_arg(s: &str) -> Result<Cap, Fail> {
    let s = s.trim().to_ascii_lowercase();
    let Some(i) = s.find(['=', '+', '-']) else {
        return fail::bad_args(format!(
            "capability: '{s}' has no operator: write it cap_name+ep (or =ep)"
        ));
    };
    let (name, rest) = s.split_at(i);
    let (op, fl) = rest.split_at(1);
    if !name.starts_with("cap_") || !fl.chars().all(|c| "eip".contains(c)) {
        return fail::bad_args(format!(
            "capability: '{s}' is not a capability with flags (e, i, p), e.g. cap_net_bind_service+ep"
        ));
    }
    Ok(Cap {
        name: name.to_string(),
        flags: if op == "-" { String::new() } else { flags(fl) },
    })
}

/// `getcap` output (`/path cap_a,cap_b=ep cap_c+i`, or the older
/// `/path = cap_a+ep`): the capabilities, one per name.
fn parse_getcap(out: &str, path: &str) -> Vec<Cap> {
    let line = out.lines().next().unwrap_or("");
    let rest = line.strip_prefix(path).unwrap_or(line).trim();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    let mut caps: Vec<Cap> = Vec::new();
    for clause in rest.split_whitespace() {
        let Some(i) = clause.find(['=', '+', '-']) else {
            continue;
        };
        let (names, fl) = clause.split_at(i);
        let fl = flags(&fl[1..]);
        for n in names.split(',').filter(|n| !n.is_empty()) {
            match caps.iter_mut().find(|c| c.name == n) {
                Some(c) => c.flags = flags(&format!("{}{fl}", c.flags)),
                None => caps.push(Cap {
                    name: n.to_string(),
                    flags: fl.clone(),
                }),
            }
        }
    }
    caps
}

fn text(caps: &[Cap]) -> String {
    caps.iter().map(Cap::text).collect::<Vec<_>>().join(" ")
}

impl Module for Capabilities {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(
            args.str("path").unwrap_or_default(),
        ))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let path = args.str("path").unwrap_or_default();
        let want = parse_arg(args.str("capability").unwrap_or_default())?;
        let present = args.str("state") != Some("absent");
        let f = probe_fields(&facts.probe(&probe(path))?.stdout, &["caps"]);
        if f.contains_key("nogetcap") {
            return fail::fail(
                "getcap is not installed on this host: install libcap2-bin (apt: name=libcap2-bin)",
            );
        }
        if !f.contains_key("exists") {
            return fail::fail(format!("{path} does not exist"));
        }
        let before = parse_getcap(f.get("caps").map(String::as_str).unwrap_or(""), path);
        let mut after: Vec<Cap> = before
            .iter()
            .filter(|c| c.name != want.name)
            .cloned()
            .collect();
        if present && !want.flags.is_empty() {
            match before.iter().position(|c| c.name == want.name) {
                // in place, as it was listed
                Some(i) => after.insert(i.min(after.len()), want.clone()),
                None => after.push(want.clone()),
            }
        }
        let mut o = Outcome::ok();
        o.data.insert("path".into(), json!(path));
        o.data.insert(
            "state".into(),
            json!(if present { "present" } else { "absent" }),
        );
        o.data.insert(
            "caps".into(),
            json!(after.iter().map(Cap::text).collect::<Vec<_>>()),
        );
        if after == before {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(format!(
            "{} {}",
            want.name,
            if present { "set" } else { "removed" }
        ));
        if ctx.diff {
            o.diffs.push(Diff::new(
                format!("{path} (capabilities)"),
                format!("{}\n", text(&before)),
                format!("{}\n", text(&after)),
            ));
        }
        let p = shell_quote(path);
        let script = if after.is_empty() {
            format!("setcap -r -- {p}\n")
        } else {
            format!("setcap {} {p}\n", shell_quote(&text(&after)))
        };
        Ok(script_plan(o, script, None))
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        script_applied(planned, result, |_| "setcap failed".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getcap_forms() {
        let c = parse_getcap(
            "/bin/x cap_net_admin,cap_net_raw=ep cap_chown+i\n",
            "/bin/x",
        );
        assert_eq!(text(&c), "cap_net_admin=ep cap_net_raw=ep cap_chown=i");
        let c = parse_getcap("/bin/x = cap_net_raw+pe\n", "/bin/x");
        assert_eq!(text(&c), "cap_net_raw=ep");
        assert!(parse_getcap("", "/bin/x").is_empty());
        assert_eq!(
            parse_arg("CAP_NET_RAW+pe").unwrap().text(),
            "cap_net_raw=ep"
        );
        assert!(parse_arg("net_raw+ep").is_err());
        assert!(parse_arg("cap_net_raw").is_err());
    }
}
