//! add_host: a host (and its groups and variables) added to the run's
//! inventory, for the later plays of the run (`hosts:` patterns, `groups`,
//! `hostvars`). Decided on the controller alone; the engine runs it once per
//! task (as Ansible, it bypasses the host loop) and grows the inventory.

use serde_json::{Map, Value as Json, json};

use super::builtin::Pure;
use super::fail::{self, Fail};
use super::protocol::Ctx;
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static RUN_ADD_HOST: Pure = Pure(add_host);

pub static ADD_HOST: Spec = Spec {
    any_args: true,
    ..Spec::new(
        "add_host",
        &[
            ArgSpec::new("name", Kind::Str).aliases(&["host", "hostname"]),
            ArgSpec::new("groups", Kind::List).aliases(&["group", "groupname"]),
        ],
    )
};

/// `name` may carry a port (`db1:2222`, `[::1]:2222`), as Ansible's add_host.
pub fn split_port(name: &str) -> (String, Option<u64>) {
    if let Some(rest) = name.strip_prefix('[')
        && let Some((host, port)) = rest.split_once("]:")
        && let Ok(p) = port.parse()
    {
        return (host.to_string(), Some(p));
    }
    match name.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host.to_string(), Some(p)),
            Err(_) => (name.to_string(), None),
        },
        _ => (name.to_string(), None),
    }
}

fn add_host(args: &Args, _: &Ctx) -> Result<Outcome, Fail> {
    let Some(raw) = args.str("name").map(str::trim).filter(|n| !n.is_empty()) else {
        return fail::bad_args("add_host needs name (or host, hostname)");
    };
    let (name, port) = split_port(raw);
    let groups = args.strings("groups");
    let mut vars: Map<String, Json> = args
        .values
        .iter()
        .filter(|(k, _)| !["name", "groups"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(p) = port {
        vars.insert("ansible_port".into(), json!(p));
    }
    let mut o = Outcome::changed().with(
        "add_host",
        json!({"host_name": name, "groups": groups, "host_vars": vars}),
    );
    o.msg = Some(format!("host {name} added to the run's inventory"));
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_ports() {
        assert_eq!(split_port("db1"), ("db1".into(), None));
        assert_eq!(split_port("db1:2222"), ("db1".into(), Some(2222)));
        assert_eq!(split_port("[::1]:2222"), ("::1".into(), Some(2222)));
        assert_eq!(split_port("fe80::1"), ("fe80::1".into(), None));
    }
}
