//! template: a Jinja template rendered on the controller with the host's
//! variables, then copied like `copy` (sha256 compared remotely, content sent
//! only when it differs, atomic write, validate, backup).

use super::copy::{Opts, bytes_needs, plan_bytes, vault_source};
use super::fail::{self, Fail};
use super::paths;
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Kind, Spec};

pub static TEMPLATE: Spec = Spec::new(
    "template",
    &[
        ArgSpec::new("src", Kind::Str).required(),
        ArgSpec::new("dest", Kind::Str).required(),
        ArgSpec::new("owner", Kind::Str),
        ArgSpec::new("group", Kind::Str),
        ArgSpec::new("mode", Kind::Mode),
        ArgSpec::new("backup", Kind::Bool),
        ArgSpec::new("validate", Kind::Str),
        ArgSpec::new("force", Kind::Bool),
        ArgSpec::new("follow", Kind::Bool),
        // written escaped, as in Ansible: newline_sequence: '\r\n'
        ArgSpec::new("newline_sequence", Kind::Choice(&[r"\n", r"\r", r"\r\n"])),
    ],
);

/// `template` on the module protocol.
pub struct Template;

/// The rendered template, its file name, its path on the controller, and
/// whether the template was Ansible-Vault encrypted (decrypted as Ansible
/// does; a secret then: no diff of it).
fn render(args: &Args, ctx: &Ctx) -> Result<(String, String, String, bool), Fail> {
    let src = args.str("src").unwrap_or_default();
    let path = ctx.find_local(src)?;
    if path.is_dir() {
        return fail::fail(format!(
            "{} is a directory: template renders one file (use a loop over the files)",
            path.display()
        ));
    }
    let mut source = crate::yaml::read_text(&path).map_err(|e| Fail::Task(e.to_string()))?;
    let (plain, secret) = vault_source(source.into_bytes(), &path.display().to_string())?;
    source = String::from_utf8(plain).map_err(|_| {
        Fail::Task(format!(
            "{}: the decrypted template is not UTF-8 text",
            path.display()
        ))
    })?;
    let dest = args.str("dest").unwrap_or_default();
    let vars = with_template_vars(ctx, src, &path, dest)?;
    let mut rendered = ctx
        .templar
        .render_file(&path, &source, &vars)
        // with its hint: what to do about an undefined variable or a limit
        .map_err(|e| Fail::Task(e.with_hint()))?;
    let nl = match args.str("newline_sequence") {
        Some(r"\r") => "\r",
        Some(r"\r\n") => "\r\n",
        _ => "\n",
    };
    if nl != "\n" {
        rendered = rendered.replace('\n', nl);
    }
    if secret {
        crate::redact::register(&rendered);
    }
    Ok((
        rendered,
        paths::basename(src),
        path.display().to_string(),
        secret,
    ))
}

/// The host's variables and those Ansible's template action adds (ansible-core
/// 2.19): `template_host` (the controller's name), `template_path` (`src` as
/// written), `template_fullpath`, `template_destpath`, `template_uid` (the
/// source file's owner) over them, and `ansible_managed` ("Ansible managed",
/// Ansible's default) unless a variable of that name is set.
fn with_template_vars(
    ctx: &Ctx,
    src: &str,
    path: &std::path::Path,
    dest: &str,
) -> Result<minijinja::Value, Fail> {
    let vars = ctx.vars;
    use std::os::unix::fs::MetadataExt;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let uid = std::fs::metadata(path).map(|m| m.uid()).unwrap_or(0);
    let owner = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .map(minijinja::Value::from)
        .unwrap_or_else(|| minijinja::Value::from(uid));
    let managed = vars
        .get_attr("ansible_managed")
        .is_ok_and(|v| !v.is_undefined());
    let added = minijinja::context! {
        template_host => host,
        template_path => src,
        template_fullpath => path.display().to_string(),
        template_destpath => dest,
        template_uid => owner,
    };
    let added = if managed {
        added
    } else {
        let text = match ctx.templar.managed() {
            None => "Ansible managed".to_string(),
            Some(cfg) => managed_text(ctx, cfg, path, &added)?,
        };
        minijinja::value::merge_maps([minijinja::context! { ansible_managed => text }, added])
    };
    Ok(minijinja::value::merge_maps([added, vars.clone()]))
}

/// ansible.cfg's `ansible_managed` as Ansible makes it: `{host}`, `{uid}` and
/// `{file}` become the template's host, owner and path (Python's
/// `str.format`: `{{`/`}}` are braces), then strftime directives take the
/// source file's modification time (local time).
fn managed_text(
    ctx: &Ctx,
    cfg: &str,
    path: &std::path::Path,
    added: &minijinja::Value,
) -> Result<String, Fail> {
    let mut out = String::new();
    let mut rest = cfg;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            out.push_str(&tail[..1]);
            rest = t;
            continue;
        }
        let field = tail[1..].split_once('}').map(|(f, _)| f);
        let name = match field {
            Some("host") => "template_host",
            Some("uid") => "template_uid",
            Some("file") => "template_path",
            _ => {
                return fail::fail(format!(
                    "ansible_managed in ansible.cfg: '{}' is not a field: the fields are {{host}}, {{uid}} and {{file}}; write a brace as {{{{ or }}}}",
                    tail.split_inclusive('}').next().unwrap_or(tail)
                ));
            }
        };
        out.push_str(
            &added
                .get_attr(name)
                .map(|v| v.to_string())
                .unwrap_or_default(),
        );
        rest = &tail[field.map_or(1, |f| f.len() + 2)..];
    }
    out.push_str(rest);
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    ctx.templar
        .render_str(
            "{{ managed | strftime(mtime) }}",
            &minijinja::context! { managed => out, mtime => mtime },
            None,
        )
        .map_err(|e| Fail::Task(format!("ansible_managed in ansible.cfg: {e}")))
}

impl Module for Template {
    fn needs(&self, args: &Args, ctx: &Ctx) -> Result<Vec<Need>, Fail> {
        Opts::from_args(args)?;
        let dest = args.str("dest").unwrap_or_default();
        // a template that does not render fails before the host is read
        let (_, name, _, secret) = render(args, ctx)?;
        Ok(bytes_needs(dest, Some(&name), ctx.diff && !secret))
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let opts = Opts::from_args(args)?;
        let dest = args.str("dest").unwrap_or_default();
        let (rendered, name, src, secret) = render(args, ctx)?;
        plan_bytes(
            facts,
            &opts,
            dest,
            Some(&name),
            rendered.as_bytes(),
            Some(src),
            ctx.diff && !secret,
        )
    }
}
