//! acl (ansible.posix.acl): a POSIX ACL entry of a path present or absent, or
//! the path's ACL read (`state: query`, the default).
//!
//! As Ansible does, the decision is the host's own: one read-only probe runs
//! `setfacl --test` with the change (it prints the ACL the change would give,
//! `*,*` when it gives the same) and `getfacl` of the path; the change runs
//! `setfacl -m` (or `-x`) and reads the ACL again. `default` sets the
//! directory's default ACL, `recursive` every path below it, `follow: false`
//! works on links themselves (`--physical`), `recalculate_mask` passes
//! `--mask`/`--no-mask`. Registered: `acl` (getfacl's lines, after the
//! change), `msg`.

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan, script_failure};
use super::sysconf::script_plan;
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static ACL: Spec = Spec::new(
    "acl",
    &[
        ArgSpec::new("path", Kind::Str)
            .required()
            .aliases(&["name"]),
        ArgSpec::new("state", Kind::Choice(&["absent", "present", "query"])),
        ArgSpec::new("follow", Kind::Bool),
        ArgSpec::new("default", Kind::Bool),
        ArgSpec::new("entity", Kind::Str),
        ArgSpec::new("etype", Kind::Choice(&["group", "mask", "other", "user"])),
        ArgSpec::new("permissions", Kind::Str),
        ArgSpec::new("recursive", Kind::Bool),
        ArgSpec::new("use_nfsv4_acls", Kind::Bool),
        ArgSpec::new(
            "recalculate_mask",
            Kind::Choice(&["default", "mask", "no_mask"]),
        ),
    ],
);

pub struct Acl;

/// The validated request: state, the entry (`user:bob:rx`), and the paths'
/// flags for setfacl and getfacl.
struct Req {
    state: &'static str,
    entry: String,
    path: String,
    set_flags: String,
    get_flags: String,
}

fn req(args: &Args) -> Result<Req, Fail> {
    let state = match args.str("state").unwrap_or("query") {
        "present" => "present",
        "absent" => "absent",
        _ => "query",
    };
    let path = args.str("path").unwrap_or_default().to_string();
    let entity = args.str("entity").unwrap_or_default();
    let etype = args.str("etype");
    let perms = args.str("permissions");
    let recursive = args.bool_or("recursive", false);
    let mask = args.str("recalculate_mask").unwrap_or("default");
    if args.bool_or("use_nfsv4_acls", false) {
        return fail::bad_args(
            "use_nfsv4_acls: NFSv4 ACLs (nfs4_setfacl) are not supported; POSIX ACLs are",
        );
    }
    if state == "query" && recursive {
        return fail::bad_args("'recursive' MUST NOT be set when 'state=query'.");
    }
    if state == "query" && mask != "default" {
        return fail::bad_args(
            "'recalculate_mask' MUST NOT be set to 'mask' or 'no_mask' when 'state=query'.",
        );
    }
    if state == "absent" && perms.is_some() {
        return fail::bad_args("'permissions' MUST NOT be set when 'state=absent'.");
    }
    if state == "absent" && entity.is_empty() {
        return fail::bad_args("'entity' MUST be set when 'state=absent'.");
    }
    if state != "query" && etype.is_none() {
        return fail::bad_args(format!("'etype' MUST be set when 'state={state}'."));
    }
    if state == "present" && perms.is_none_or(str::is_empty) {
        return fail::bad_args("'permissions' MUST be set when 'state=present'.");
    }
    for (k, v) in [
        ("entity", entity),
        ("permissions", perms.unwrap_or_default()),
    ] {
        if v.contains([':', ',', '\n']) {
            return fail::bad_args(format!("{k}: '{v}' must not hold ':', ',' or a newline"));
        }
    }
    let mut entry = format!("{}:{entity}", etype.unwrap_or_default());
    if let Some(p) = perms.filter(|_| state == "present") {
        entry.push(':');
        entry.push_str(p);
    }
    let mut common = String::new();
    if !args.bool_or("follow", true) {
        common.push_str(" --physical");
    }
    if recursive {
        common.push_str(" --recursive");
    }
    let mut set_flags = common.clone();
    match mask {
        "mask" => set_flags.push_str(" --mask"),
        "no_mask" => set_flags.push_str(" --no-mask"),
        _ => {}
    }
    if args.bool_or("default", false) {
        set_flags.push_str(" --default");
    }
    set_flags.push_str(if state == "absent" { " -x " } else { " -m " });
    set_flags.push_str(&shell_quote(&entry));
    Ok(Req {
        state,
        entry,
        path,
        set_flags,
        get_flags: common,
    })
}

fn getfacl(r: &Req) -> String {
    format!(
        "getfacl --absolute-names --omit-header{} -- {}",
        r.get_flags,
        shell_quote(&r.path)
    )
}

fn probe(r: &Req) -> String {
    let p = shell_quote(&r.path);
    let test = if r.state == "query" {
        String::new()
    } else {
        format!(
            "out=$(setfacl --test{} -- {p} 2>&1); echo \"rc $?\"\nprintf '%s\\n' \"$out\" | sed 's/^/test /'\n",
            r.set_flags
        )
    };
    format!(
        "# opsctl acl: read {name}\n\
         command -v setfacl >/dev/null 2>&1 || {{ echo noacl; exit 0; }}\n\
         [ -e {p} ] || [ -L {p} ] || {{ echo missing; exit 0; }}\n\
         {test}{get} 2>/dev/null | sed -e '/^$/d' -e 's/^/acl /'\n",
        name = r.path.replace('\n', " "),
        get = getfacl(r)
    )
}

/// getfacl's lines.
fn acl_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("acl "))
        .map(str::to_string)
        .collect()
}

impl Module for Acl {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(&req(args)?))])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let r = req(args)?;
        let out = facts.probe(&probe(&r))?.stdout_str();
        if out.lines().any(|l| l == "noacl") {
            return fail::fail(
                "setfacl is not installed on this host: install the acl package (apt: name=acl)",
            );
        }
        if out.lines().any(|l| l == "missing") {
            return fail::fail(format!("Path not found or not accessible: {}", r.path));
        }
        let mut o = Outcome::ok();
        o.data.insert("acl".into(), json!(acl_lines(&out)));
        if r.state == "query" {
            o.msg = Some("current acl".into());
            return Ok(Plan::Done(o));
        }
        o.msg = Some(format!("{} is {}", r.entry, r.state));
        let tests: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("test "))
            .collect();
        if !out.lines().any(|l| l == "rc 0") {
            return fail::fail(format!("setfacl refused {}: {}", r.entry, tests.join("\n")));
        }
        if tests.iter().all(|l| l.ends_with("*,*")) {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        let script = format!(
            "# opsctl acl: {entry} {state}\nsetfacl{flags} -- {p} || exit 1\n{get} | sed -e '/^$/d' -e 's/^/acl /'\n",
            entry = r.entry,
            state = r.state,
            flags = r.set_flags,
            p = shell_quote(&r.path),
            get = getfacl(&r)
        );
        Ok(script_plan(o, script, None))
    }

    fn applied(
        &self,
        _: &Args,
        mut planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let Applied::Script(out) = result else {
            return Ok(planned);
        };
        if !out.success() {
            return fail::fail(format!("setfacl {}", script_failure(&out)));
        }
        planned
            .data
            .insert("acl".into(), json!(acl_lines(&out.stdout_str())));
        Ok(planned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_flags() {
        let a = ACL
            .validate(
                json!({"path": "/srv/a b", "entity": "bob", "etype": "user", "permissions": "rx",
                    "state": "present", "default": true, "recursive": true})
                .as_object()
                .unwrap(),
                true,
            )
            .unwrap();
        let r = req(&a).unwrap();
        assert_eq!(r.entry, "user:bob:rx");
        assert_eq!(r.set_flags, " --recursive --default -m user:bob:rx");
        assert!(
            probe(&r).contains("setfacl --test --recursive --default -m user:bob:rx -- '/srv/a b'")
        );
    }
}
