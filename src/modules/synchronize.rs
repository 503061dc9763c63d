//! synchronize (ansible.posix.synchronize): rsync between the controller and
//! the host, over opsctl's own SSH connection. The plan is an
//! `Action::Rsync`, run on the controller by `engine::local`, whose remote
//! shell is `ssh -S <the host's master socket>`; in check mode the engine adds
//! `--dry-run` (rsync reads both sides and changes nothing), so the action
//! runs in check mode too and what it would change is reported. `changed`
//! comes from rsync's itemized output (`--out-format=<<CHANGED>>%i %n%L`, as
//! Ansible's module): any line is a change.

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Change, Ctx, Facts, InCheck, Module, Need, Plan, Rsync};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};

pub static SYNCHRONIZE: Spec = Spec::new(
    "synchronize",
    &[
        ArgSpec::new("src", Kind::Str).required(),
        ArgSpec::new("dest", Kind::Str).required(),
        ArgSpec::new("dest_port", Kind::Int),
        ArgSpec::new("mode", Kind::Choice(&["push", "pull"])),
        ArgSpec::new("archive", Kind::Bool),
        ArgSpec::new("checksum", Kind::Bool),
        ArgSpec::new("compress", Kind::Bool),
        ArgSpec::new("existing_only", Kind::Bool),
        ArgSpec::new("delete", Kind::Bool),
        ArgSpec::new("dirs", Kind::Bool),
        ArgSpec::new("recursive", Kind::Bool),
        ArgSpec::new("links", Kind::Bool),
        ArgSpec::new("copy_links", Kind::Bool),
        ArgSpec::new("perms", Kind::Bool),
        ArgSpec::new("times", Kind::Bool),
        ArgSpec::new("owner", Kind::Bool),
        ArgSpec::new("group", Kind::Bool),
        ArgSpec::new("rsync_path", Kind::Str),
        ArgSpec::new("rsync_timeout", Kind::Int),
        ArgSpec::new("rsync_opts", Kind::List),
        ArgSpec::new("partial", Kind::Bool),
        ArgSpec::new("verify_host", Kind::Bool),
        ArgSpec::new("delay_updates", Kind::Bool),
        ArgSpec::new("link_dest", Kind::List),
        ArgSpec::new("use_ssh_args", Kind::Bool),
        ArgSpec::new("ssh_connection_multiplexing", Kind::Bool),
    ],
);

/// The marker of an itemized line.
const CHANGED: &str = "<<CHANGED>>";

/// rsync's options, in the order of Ansible's module.
fn options(args: &Args) -> Result<Vec<String>, Fail> {
    let mut o: Vec<String> = Vec::new();
    if args.bool_or("delay_updates", true) {
        o.push("--delay-updates".into());
    }
    o.push("-F".into());
    if args.bool_or("compress", true) {
        o.push("--compress".into());
    }
    if let Some(t) = args.int("rsync_timeout").filter(|t| *t > 0) {
        o.push(format!("--timeout={t}"));
    }
    let archive = args.bool_or("archive", true);
    if archive {
        o.push("--archive".into());
    }
    // each of archive's parts: turned off under archive, on without it
    for (name, flag) in [
        ("recursive", "recursive"),
        ("links", "links"),
        ("perms", "perms"),
        ("times", "times"),
        ("owner", "owner"),
        ("group", "group"),
    ] {
        match (archive, args.bool(name)) {
            (true, Some(false)) => o.push(format!("--no-{flag}")),
            (false, Some(true)) => o.push(format!("--{flag}")),
            _ => {}
        }
    }
    if args.bool_or("checksum", false) {
        o.push("--checksum".into());
    }
    if args.bool_or("copy_links", false) {
        o.push("--copy-links".into());
    }
    if args.bool_or("existing_only", false) {
        o.push("--existing".into());
    }
    if args.bool_or("dirs", false) {
        o.push("--no-recursive".into());
        o.push("--dirs".into());
    }
    if args.bool_or("delete", false) {
        if args.bool("recursive") == Some(false) || (!archive && args.bool("recursive").is_none()) {
            return fail::bad_args("delete needs recursive (or archive)");
        }
        o.push("--delete-after".into());
    }
    if args.bool_or("partial", false) {
        o.push("--partial".into());
    }
    for l in args.strings("link_dest") {
        o.push("--link-dest".into());
        o.push(l);
    }
    o.extend(args.strings("rsync_opts"));
    o.push(format!("--out-format={CHANGED}%i %n%L"));
    Ok(o)
}

pub struct Synchronize;

impl Module for Synchronize {
    fn needs(&self, _: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![])
    }

    /// The host changes behind the engine's back: read nothing ahead past it.
    fn predictable(&self, _: &Args) -> bool {
        false
    }

    fn decide(&self, args: &Args, _: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let push = args.str("mode") != Some("pull");
        let src = args.string("src").unwrap_or_default();
        let dest = args.string("dest").unwrap_or_default();
        if args.int("dest_port").is_some() {
            return fail::bad_args(
                "dest_port: opsctl's connection already has the host's port (set ansible_port)",
            );
        }
        // use_ssh_args, verify_host and ssh_connection_multiplexing are
        // accepted and change nothing: the transfer goes through the task's
        // own connection, with its options and its host key checking
        // the controller's side: a push's src is found like copy's (the
        // role's files/, the playbook's directory); rsync's trailing slash kept
        let (src, dest) = if push {
            let slash = src.ends_with('/') && src.len() > 1;
            let found = ctx.find_local(src.trim_end_matches('/'))?;
            let mut s = found.display().to_string();
            if slash {
                s.push('/');
            }
            (s, dest)
        } else {
            (src, dest)
        };
        let outcome = Outcome::ok();
        Ok(Plan::Change(Box::new(Change {
            outcome,
            action: Action::Rsync(Rsync {
                opts: options(args)?,
                src,
                dest,
                push,
                rsync_path: args.string("rsync_path"),
            }),
            in_check: InCheck::Apply,
        })))
    }

    fn applied(
        &self,
        _: &Args,
        mut planned: Outcome,
        result: Applied,
        ctx: &Ctx,
    ) -> Result<Outcome, Fail> {
        let Applied::Rsynced { cmd, out } = result else {
            return Ok(planned);
        };
        if !out.success() {
            let err = out.stderr_str();
            let hint = if out.rc == Some(127) || err.contains("command not found") {
                " (is rsync installed on the host? apt: name=rsync)"
            } else {
                ""
            };
            return fail::fail(format!(
                "rsync failed (rc {}){hint}: {}",
                out.rc.map(|r| r.to_string()).unwrap_or("signal".into()),
                err.trim()
            ));
        }
        let text = out.stdout_str();
        let items: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix(CHANGED))
            .map(str::to_string)
            .collect();
        planned.changed = !items.is_empty();
        if ctx.diff && planned.changed {
            let prepared: String = items.iter().map(|l| format!("{l}\n")).collect();
            planned
                .diffs
                .push(Diff::new("rsync", String::new(), prepared));
        }
        planned.data.insert("cmd".into(), json!(cmd));
        planned.data.insert("rc".into(), json!(out.rc));
        planned.data.insert("stdout_lines".into(), json!(items));
        planned.msg = Some(items.join("\n"));
        planned.data.insert("msg".into(), json!(items.join("\n")));
        Ok(planned)
    }
}
