//! hostname (ansible.builtin.hostname): the host's name, running and
//! persistent.
//!
//! On the module protocol: whether systemd runs the host is a typed fact
//! (`Need::Init`), the running name (`hostname`) and the static one
//! (`/etc/hostname`) a probe. The change, never in check mode, runs
//! `hostnamectl set-hostname` under systemd (`use: systemd`), or writes
//! `/etc/hostname` and runs `hostname NAME` (`use: debian`/`generic`, the
//! strategy of a host without systemd). The result carries Ansible's
//! `ansible_facts` (`ansible_hostname`, `ansible_nodename`, `ansible_fqdn`,
//! `ansible_domain`) and its diff (`hostname = NAME`).

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::sysconf::{b64_field, probe_fields, script_plan, write_stdin};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static HOSTNAME: Spec = Spec::new(
    "hostname",
    &[
        ArgSpec::new("name", Kind::Str).required(),
        ArgSpec::new(
            "use",
            Kind::Choice(&[
                "alpine", "debian", "freebsd", "generic", "macos", "macosx", "darwin", "openbsd",
                "openrc", "redhat", "sles", "solaris", "systemd",
            ]),
        ),
    ],
);

pub struct Hostname;

const PROBE: &str = "# opsctl hostname: read\n";

fn probe() -> String {
    format!(
        "{PROBE}{}{}command -v hostnamectl >/dev/null 2>&1 && echo hostnamectl=1\n",
        b64_field("running", "hostname"),
        b64_field("static", "cat /etc/hostname")
    )
}

/// How the name is set on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Systemd,
    File,
}

fn name(args: &Args) -> Result<String, Fail> {
    let n = args.str("name").unwrap_or_default().trim().to_string();
    if n.is_empty() || n.len() > 255 || n.contains(char::is_whitespace) || n.starts_with('-') {
        return fail::bad_args(format!("name: '{n}' is not a host name"));
    }
    Ok(n)
}

fn strategy(args: &Args, facts: &Facts) -> Result<Strategy, Fail> {
    Ok(match args.str("use") {
        Some("systemd") => Strategy::Systemd,
        Some("debian" | "generic") => Strategy::File,
        Some(other) => {
            return fail::bad_args(format!(
                "use: {other} is for another operating system; on Debian use systemd, debian or generic"
            ));
        }
        None if facts.sys.init()?.systemd => Strategy::Systemd,
        None => Strategy::File,
    })
}

/// Ansible's facts for a name (`web1.example.org`: hostname `web1`).
fn name_facts(name: &str) -> serde_json::Value {
    let (short, domain) = name.split_once('.').unwrap_or((name, ""));
    json!({
        "ansible_hostname": short,
        "ansible_nodename": name,
        "ansible_fqdn": name,
        "ansible_domain": domain,
    })
}

impl Module for Hostname {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        name(args)?;
        Ok(vec![Need::Init, Need::Probe(probe())])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let want = name(args)?;
        let how = strategy(args, facts)?;
        let p = probe_fields(&facts.probe(&probe())?.stdout, &["running", "static"]);
        let running = p
            .get("running")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let stat = p
            .get("static")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if how == Strategy::Systemd && !p.contains_key("hostnamectl") {
            return fail::fail(
                "use: systemd needs hostnamectl, which this host lacks (install systemd, or use: debian)",
            );
        }
        let mut o = Outcome::ok();
        o.data.insert("name".into(), json!(want));
        o.data.insert("ansible_facts".into(), name_facts(&want));
        if running == want && stat == want {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(format!("hostname set to {want}"));
        if ctx.diff {
            o.diffs.push(Diff::new(
                "hostname",
                format!("hostname = {running}\n"),
                format!("hostname = {want}\n"),
            ));
        }
        let q = shell_quote(&want);
        let (script, stdin) = match how {
            Strategy::Systemd => (
                format!("# opsctl hostname: {want}\nhostnamectl set-hostname -- {q}\n"),
                None,
            ),
            Strategy::File => (
                format!(
                    "# opsctl hostname: {want}\n{}hostname -- {q}\n",
                    write_stdin("/etc/hostname", 0o644, false)
                ),
                Some(format!("{want}\n").into_bytes()),
            ),
        };
        Ok(script_plan(o, script, stdin))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn facts_split_the_domain() {
        let f = super::name_facts("web1.example.org");
        assert_eq!(f["ansible_hostname"], "web1");
        assert_eq!(f["ansible_domain"], "example.org");
        assert_eq!(super::name_facts("db")["ansible_domain"], "");
    }
}
