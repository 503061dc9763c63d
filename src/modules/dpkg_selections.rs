//! dpkg_selections (ansible.builtin.dpkg_selections): a package's dpkg
//! selection (`install`, `hold`, `deinstall`, `purge`), such as holding a
//! package at its version.
//!
//! On the module protocol: `dpkg --get-selections NAME` is a read-only probe;
//! the change, never in check mode, feeds `NAME SELECTION` to `dpkg
//! --set-selections`. `--diff` shows the selection before and after
//! (`not present` for a package dpkg does not know).

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::sysconf::script_plan;
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static DPKG_SELECTIONS: Spec = Spec::new(
    "dpkg_selections",
    &[
        ArgSpec::new("name", Kind::Str).required(),
        ArgSpec::new(
            "selection",
            Kind::Choice(&["install", "hold", "deinstall", "purge"]),
        )
        .required(),
    ],
);

pub struct DpkgSelections;

fn name(args: &Args) -> Result<String, Fail> {
    let n = args.str("name").unwrap_or_default().trim().to_string();
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.:".contains(c))
    {
        return fail::bad_args(format!("name: '{n}' is not a package name"));
    }
    Ok(n)
}

fn probe(name: &str) -> String {
    format!(
        "# opsctl dpkg_selections: read {name}\ndpkg --get-selections {} 2>/dev/null\n",
        shell_quote(name)
    )
}

/// The selection of `name` in `dpkg --get-selections` output.
fn current(out: &str, name: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let pkg = w.next()?;
        let bare = pkg.split(':').next().unwrap_or(pkg);
        (pkg == name || bare == name).then(|| w.next().unwrap_or_default().to_string())
    })
}

impl Module for DpkgSelections {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(&name(args)?))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let name = name(args)?;
        let want = args.str("selection").unwrap_or_default().to_string();
        let cur = current(&facts.probe(&probe(&name))?.stdout_str(), &name)
            .unwrap_or_else(|| "not present".into());
        let mut o = Outcome::ok();
        o.data.insert("name".into(), json!(name));
        o.data.insert("selection".into(), json!(want));
        if cur == want {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(format!("{name}: {cur} -> {want}"));
        if ctx.diff {
            o.diffs.push(Diff::new(
                format!("{name} (selection)"),
                format!("{cur}\n"),
                format!("{want}\n"),
            ));
        }
        Ok(script_plan(
            o,
            format!("# opsctl dpkg_selections: {name} {want}\ndpkg --set-selections\n"),
            Some(format!("{name} {want}\n").into_bytes()),
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_selections() {
        let out = "sudo\t\t\t\t\t\thold\nlibc6:amd64\t\t\t\t\tinstall\n";
        assert_eq!(super::current(out, "sudo").as_deref(), Some("hold"));
        assert_eq!(super::current(out, "libc6").as_deref(), Some("install"));
        assert_eq!(super::current(out, "nginx"), None);
    }
}
