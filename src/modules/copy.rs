//! copy: a file (from `src` on the controller, from `content`, or with
//! `remote_src` from a file already on the host) or a whole directory tree.
//!
//! One exec probes the destination (sha256, attributes; content only with
//! `--diff`); content is sent over stdin only for files whose sha256 differs;
//! one more exec writes them atomically. A directory `src` is copied
//! recursively, file by file, in the same two execs (`remote_src` directories
//! need one more probe to list the source tree).

use std::path::Path;

use serde_json::Value as Json;

use super::attrs::{self, Attrs};
use super::content;
use super::fail::{self, Fail};
use super::mode;
use super::paths;
use super::protocol::{Action, Ctx, Facts, Module, Need, Plan};
use super::regular_file::{self, FileWant};
use super::remote_file::{self, FType, Op, Req, Stat};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};

pub static COPY: Spec = Spec {
    mutually_exclusive: &[&["content", "src"]],
    required_one_of: &[&["content", "src"]],
    ..Spec::new(
        "copy",
        &[
            ArgSpec::new("src", Kind::Str),
            ArgSpec::new("content", Kind::Any),
            ArgSpec::new("dest", Kind::Str).required(),
            ArgSpec::new("owner", Kind::Str),
            ArgSpec::new("group", Kind::Str),
            ArgSpec::new("mode", Kind::ModeOrPreserve),
            ArgSpec::new("directory_mode", Kind::Mode),
            ArgSpec::new("backup", Kind::Bool),
            ArgSpec::new("validate", Kind::Str),
            ArgSpec::new("force", Kind::Bool).aliases(&["thirsty"]),
            ArgSpec::new("remote_src", Kind::Bool),
            ArgSpec::new("follow", Kind::Bool),
            ArgSpec::new("decrypt", Kind::Bool),
        ],
    )
};

/// The common options of copy and template.
pub(crate) struct Opts {
    pub attrs: Attrs,
    pub dir_attrs: Attrs,
    pub backup: bool,
    pub validate: Option<String>,
    pub force: bool,
    pub follow: bool,
}

impl Opts {
    pub fn from_args(args: &Args) -> Result<Opts, Fail> {
        let attrs = Attrs::from_args(args)?;
        let dir_attrs = Attrs {
            mode: Attrs::from_args_with(args, "directory_mode")?.mode,
            ..attrs.clone()
        };
        Ok(Opts {
            attrs,
            dir_attrs,
            backup: args.bool_or("backup", false),
            validate: regular_file::validate_arg(args)?,
            force: args.bool_or("force", true),
            follow: args.bool_or("follow", false),
        })
    }
}

/// `copy` on the module protocol.
pub struct Copy;

/// Where the content comes from.
enum What {
    Content(Vec<u8>),
    /// A file on the controller: its bytes, its name, its path, and whether
    /// it was Ansible-Vault encrypted (a secret: no diff of it).
    Local(Vec<u8>, String, String, bool),
    /// A directory on the controller: the entries to write, its path, and
    /// whether any file of it was Ansible-Vault encrypted.
    LocalTree(Vec<Entry>, String, bool),
    /// A file or tree on the host (`remote_src`).
    Remote(String),
}

/// Reads what to copy from the controller (local files are the controller's
/// state, not the host's: reading them is not a fact).
fn what(args: &Args, ctx: &Ctx) -> Result<What, Fail> {
    let dest = args.str("dest").unwrap_or_default().to_string();
    if let Some(content) = args.get("content") {
        if dest.ends_with('/') {
            return fail::fail("can not use content with a dir as dest");
        }
        return Ok(What::Content(content_bytes(content)));
    }
    let src = args.str("src").unwrap_or_default().to_string();
    if args.bool_or("remote_src", false) {
        return Ok(What::Remote(src));
    }
    let local = ctx.find_local(&src)?;
    let decrypt = args.bool_or("decrypt", true);
    if local.is_dir() {
        let root = if src.ends_with('/') {
            dest.clone()
        } else {
            paths::join(&dest, &paths::basename(&src))
        };
        let mut entries = Vec::new();
        walk(&local, "", &mut entries, 0)
            .map_err(|e| Fail::Task(format!("cannot read {}: {e}", local.display())))?;
        let mut any_secret = false;
        let mut out = Vec::with_capacity(entries.len());
        for (rel, data) in entries {
            let data = match data {
                Some(b) if decrypt => {
                    let shown = local.join(&rel).display().to_string();
                    let (b, secret) = vault_source(b, &shown)?;
                    any_secret |= secret;
                    Some(b)
                }
                other => other,
            };
            out.push(Entry {
                path: if rel.is_empty() {
                    root.clone()
                } else {
                    paths::join(&root, &rel)
                },
                source: data.map(Src::Bytes),
            });
        }
        return Ok(What::LocalTree(
            out,
            local.display().to_string(),
            any_secret,
        ));
    }
    let bytes = std::fs::read(&local)
        .map_err(|e| Fail::Task(format!("cannot read {}: {e}", local.display())))?;
    let shown = local.display().to_string();
    let (bytes, secret) = if decrypt {
        vault_source(bytes, &shown)?
    } else {
        (bytes, false)
    };
    Ok(What::Local(bytes, paths::basename(&src), shown, secret))
}

/// A source file of copy or template as Ansible reads it on the controller:
/// an Ansible-Vault encrypted one is decrypted with the command's vault
/// passwords (`--vault-password-file`, `--vault-id`...). Its plaintext is a
/// secret from then on (registered for redaction; `true`: show no diff of
/// it). `shown` names the file in errors.
pub(crate) fn vault_source(bytes: Vec<u8>, shown: &str) -> Result<(Vec<u8>, bool), Fail> {
    if !bytes.starts_with(b"$ANSIBLE_VAULT;") {
        return Ok((bytes, false));
    }
    let text = String::from_utf8_lossy(&bytes);
    let plain = crate::secrets::vault_keys::decrypt_text(&text, shown).map_err(|e| {
        let mut msg = e.message;
        for h in e.hints {
            msg.push_str(&format!(" (hint: {h})"));
        }
        Fail::Task(msg)
    })?;
    crate::redact::register(&String::from_utf8_lossy(&plain));
    Ok((plain.to_vec(), true))
}

/// `mode: preserve`: the mode of the controller's source file, as octal.
fn resolved_args(args: &Args, ctx: &Ctx) -> Result<Args, Fail> {
    let mut out = Args {
        values: args.values.clone(),
    };
    let local_src = || -> Result<Option<std::path::PathBuf>, Fail> {
        if args.get("content").is_some() || args.bool_or("remote_src", false) {
            return Ok(None);
        }
        let src = args.str("src").unwrap_or_default();
        Ok(Some(ctx.find_local(src)?))
    };
    if args.str("mode") == Some("preserve") {
        if args.get("content").is_some() {
            return fail::fail("mode: preserve needs a src file (content has no mode to keep)");
        }
        if args.bool_or("remote_src", false) {
            return fail::fail(
                "mode: preserve with remote_src is not supported by opsctl: give the mode",
            );
        }
        let Some(p) = local_src()? else {
            return fail::fail("mode: preserve needs a src file");
        };
        if p.is_dir() {
            return fail::fail(
                "mode: preserve with a directory src is not supported by opsctl: give the mode",
            );
        }
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(&p)
            .map_err(|e| Fail::Task(format!("cannot read {}: {e}", p.display())))?
            .permissions()
            .mode()
            & 0o7777;
        out.values
            .insert("mode".into(), Json::String(format!("{m:04o}")));
    }
    Ok(out)
}

impl Module for Copy {
    fn needs(&self, args: &Args, ctx: &Ctx) -> Result<Vec<Need>, Fail> {
        let args = &resolved_args(args, ctx)?;
        Opts::from_args(args)?;
        let dest = args.str("dest").unwrap_or_default();
        Ok(match what(args, ctx)? {
            What::Content(_) => bytes_needs(dest, None, ctx.diff),
            What::Local(_, name, _, secret) => bytes_needs(dest, Some(&name), ctx.diff && !secret),
            What::LocalTree(entries, _, secret) => tree_needs(&entries, ctx.diff && !secret),
            What::Remote(src) => remote_needs(&src, dest, ctx.diff),
        })
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let args = &resolved_args(args, ctx)?;
        let dest = args.str("dest").unwrap_or_default();
        let opts = Opts::from_args(args)?;
        match what(args, ctx)? {
            What::Content(bytes) => plan_bytes(facts, &opts, dest, None, &bytes, None, ctx.diff),
            What::Local(bytes, name, src, secret) => plan_bytes(
                facts,
                &opts,
                dest,
                Some(&name),
                &bytes,
                Some(src),
                ctx.diff && !secret,
            ),
            What::LocalTree(entries, src, secret) => {
                let mut plan = plan_tree(facts, &opts, &entries, ctx.diff && !secret)?;
                if let Some(o) = plan.outcome_mut() {
                    o.data.insert("dest".into(), dest.into());
                    o.data.insert("src".into(), src.into());
                }
                Ok(plan)
            }
            What::Remote(src) => plan_remote(facts, &opts, &src, dest, ctx.diff),
        }
    }
}

/// `content:` as Ansible writes it: strings as they are, lists and mappings as JSON.
fn content_bytes(v: &Json) -> Vec<u8> {
    match v {
        Json::String(s) => s.clone().into_bytes(),
        Json::Bool(b) => if *b { "True" } else { "False" }.into(),
        Json::Number(n) => n.to_string().into_bytes(),
        Json::Null => Vec::new(),
        other => py_json(other).into_bytes(),
    }
}

/// Python's `json.dumps` layout (`{"a": 1, "b": [1, 2]}`).
fn py_json(v: &Json) -> String {
    match v {
        Json::Array(a) => format!("[{}]", a.iter().map(py_json).collect::<Vec<_>>().join(", ")),
        Json::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", Json::String(k.clone()), py_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The probes of `dest` (and of `dest/name`, used when dest is a directory).
fn dest_reqs(dest: &str, name: Option<&str>, diff: bool) -> Vec<Req> {
    let mut reqs = vec![Req::new(dest).follow(true).diff_content(diff)];
    if let Some(n) = name {
        reqs.push(
            Req::new(paths::join(dest, n))
                .follow(true)
                .diff_content(diff),
        );
    }
    reqs
}

/// What writing one regular file from bytes needs.
pub(crate) fn bytes_needs(dest: &str, name: Option<&str>, diff: bool) -> Vec<Need> {
    let mut needs = vec![Need::Host];
    needs.extend(dest_reqs(dest, name, diff).into_iter().map(Need::Path));
    needs
}

/// One regular file from bytes (copy's `src`/`content`, template's rendering).
/// `name`: the source's file name, used when `dest` is a directory.
pub(crate) fn plan_bytes(
    facts: &Facts,
    opts: &Opts,
    dest: &str,
    name: Option<&str>,
    bytes: &[u8],
    src: Option<String>,
    diff: bool,
) -> Result<Plan, Fail> {
    let host = facts.host()?;
    let items = dest_reqs(dest, name, diff)
        .iter()
        .map(|r| facts.path(r).cloned())
        .collect::<Result<Vec<Stat>, Fail>>()?;
    let (st, mkdir) = target(&items, dest, name.is_some(), opts, host.umask)?;
    let want = FileWant {
        content: Some(bytes),
        attrs: opts.attrs.clone(),
        backup: opts.backup,
        validate: opts.validate.is_some(),
        keep_existing: !opts.force,
        diff,
        ..Default::default()
    };
    let mut st = resolve_follow(st.clone(), opts.follow);
    if mkdir.is_some() {
        st.parent = FType::Directory;
        st.parent_writable = true;
    }
    let mut d = regular_file::decide_file(&st, host, &want)?;
    if let (Some(m), true) = (mkdir, d.changed) {
        d.ops.insert(0, m);
    }
    let mut plan = regular_file::file_plan(
        &st,
        &d,
        opts.validate.as_deref(),
        "dest",
        Some(bytes.len() as u64),
    );
    if let Some(o) = plan.outcome_mut() {
        o.data
            .insert("checksum".into(), content::sha1_hex(bytes).into());
        o.data
            .insert("sha256".into(), content::sha256_hex(bytes).into());
        if let Some(s) = src {
            o.data.insert("src".into(), s.into());
        }
    }
    Ok(plan)
}

/// The file to write: `dest`, or `dest/name` when dest is a directory (or ends
/// with `/`: then missing directories are created, like Ansible).
fn target<'s>(
    items: &'s [Stat],
    dest: &str,
    has_name: bool,
    opts: &Opts,
    umask: u32,
) -> Result<(&'s Stat, Option<Op>), Fail> {
    let first = items
        .first()
        .ok_or_else(|| Fail::Task(format!("could not probe {dest}")))?;
    if !has_name {
        if first.kind == FType::Directory {
            return fail::fail("can not use content with a dir as dest");
        }
        return Ok((first, None));
    }
    let inner = items
        .get(1)
        .ok_or_else(|| Fail::Task(format!("could not probe {dest}")))?;
    if first.kind == FType::Directory {
        return Ok((inner, None));
    }
    if dest.ends_with('/') {
        if first.exists() {
            return fail::fail(format!("{dest} exists and is not a directory"));
        }
        let mode = match &opts.dir_attrs.mode {
            Some(m) => Some(m.resolve(mode::default_mode(true, umask), true, umask)?),
            None => None,
        };
        let mkdir = Op::Mkdir {
            path: paths::parent_of(&inner.path),
            mode,
            own: opts.dir_attrs.chown_spec(),
        };
        return Ok((inner, Some(mkdir)));
    }
    Ok((first, None))
}

/// With `follow`, a symlink's target is written instead of the link.
fn resolve_follow(mut st: Stat, follow: bool) -> Stat {
    if follow
        && st.is_link
        && let Some(r) = st.realpath.clone()
    {
        st.path = r;
    }
    st
}

/// The source of `remote_src` (with the checksums copy reports).
fn remote_src_req(src: &str) -> Req {
    Req::new(src).follow(true).sums(&["sha256", "sha1"])
}

/// What copying from the host needs first: the source, and the destination as
/// for a file (a directory source is listed by a second read).
fn remote_needs(src: &str, dest: &str, diff: bool) -> Vec<Need> {
    let mut needs = bytes_needs(dest, Some(&paths::basename(src)), diff);
    needs.push(Need::Path(remote_src_req(src)));
    needs
}

/// A file on the host (`remote_src: yes`): a file or a directory tree.
fn plan_remote(
    facts: &Facts,
    opts: &Opts,
    src: &str,
    dest: &str,
    diff: bool,
) -> Result<Plan, Fail> {
    let host = facts.host()?;
    let s = facts.path(&remote_src_req(src))?;
    match s.kind {
        FType::Absent => return fail::fail(format!("Source {src} not found")),
        FType::Directory => return plan_remote_tree(facts, opts, s, src, dest, diff),
        FType::File if !s.readable => {
            return fail::fail(format!(
                "Source {src} not readable{}",
                remote_file::become_hint(host)
            ));
        }
        FType::File => {}
        _ => return fail::fail(format!("Source {src} is not a regular file")),
    }
    let items = dest_reqs(dest, Some(&paths::basename(src)), diff)
        .iter()
        .map(|r| facts.path(r).cloned())
        .collect::<Result<Vec<Stat>, Fail>>()?;
    let (st, mkdir) = target(&items, dest, true, opts, host.umask)?;
    let mut st = resolve_follow(st.clone(), opts.follow);
    if mkdir.is_some() {
        st.parent = FType::Directory;
        st.parent_writable = true;
    }
    let want = FileWant {
        remote: Some((s.path.as_str(), s.sha256())),
        attrs: opts.attrs.clone(),
        backup: opts.backup,
        validate: opts.validate.is_some(),
        keep_existing: !opts.force,
        diff,
        ..Default::default()
    };
    let mut d = regular_file::decide_file(&st, host, &want)?;
    if let (Some(m), true) = (mkdir, d.changed) {
        d.ops.insert(0, m);
    }
    let mut plan = regular_file::file_plan(&st, &d, opts.validate.as_deref(), "dest", Some(s.size));
    if let Some(o) = plan.outcome_mut() {
        o.data.insert("src".into(), s.path.clone().into());
        if let Some(sum) = s.sums.get("sha1") {
            o.data.insert("checksum".into(), sum.clone().into());
        }
    }
    Ok(plan)
}

/// A directory on the host: a second read lists it, a third probes every
/// destination path.
fn plan_remote_tree(
    facts: &Facts,
    opts: &Opts,
    s: &Stat,
    src: &str,
    dest: &str,
    diff: bool,
) -> Result<Plan, Fail> {
    let listing = Need::Tree(s.path.clone());
    if !facts.has(&listing) {
        return Ok(Plan::More(vec![listing]));
    }
    let host = facts.host()?;
    let root = if src.ends_with('/') {
        dest.to_string()
    } else {
        paths::join(dest, &paths::basename(src))
    };
    let base = s.path.trim_end_matches('/');
    let mut entries = Vec::new();
    for e in facts.tree(&s.path)? {
        let rel = e
            .path
            .strip_prefix(base)
            .unwrap_or(&e.path)
            .trim_start_matches('/');
        let path = if rel.is_empty() {
            root.clone()
        } else {
            paths::join(&root, rel)
        };
        let source = match e.kind {
            FType::Directory => None,
            FType::File if !e.readable => {
                return fail::fail(format!(
                    "Source {} not readable{}",
                    e.path,
                    remote_file::become_hint(host)
                ));
            }
            FType::File => Some(Src::Remote(e.path.clone(), e.sha256().map(str::to_string))),
            FType::Link => Some(Src::Link(e.link_target.clone().unwrap_or_default())),
            _ => continue,
        };
        entries.push(Entry { path, source });
    }
    let missing: Vec<Need> = tree_needs(&entries, diff)
        .into_iter()
        .filter(|n| !facts.has(n))
        .collect();
    if !missing.is_empty() {
        return Ok(Plan::More(missing));
    }
    let mut plan = plan_tree(facts, opts, &entries, diff)?;
    if let Some(o) = plan.outcome_mut() {
        o.data.insert("dest".into(), dest.into());
        o.data.insert("src".into(), s.path.clone().into());
    }
    Ok(plan)
}

/// Where a tree entry's content comes from (`None` in [`Entry`]: a directory).
#[derive(Debug, Clone)]
enum Src {
    Bytes(Vec<u8>),
    Remote(String, Option<String>),
    Link(String),
}

#[derive(Debug, Clone)]
struct Entry {
    /// The destination path.
    path: String,
    source: Option<Src>,
}

/// The entries of a local directory, parents first, sorted by name; symlinks
/// are followed (Ansible's `local_follow: yes`).
fn walk(
    dir: &Path,
    rel: &str,
    out: &mut Vec<(String, Option<Vec<u8>>)>,
    depth: usize,
) -> std::io::Result<()> {
    if depth > 64 {
        return Err(std::io::Error::other(
            "directories nested too deep (a symlink loop?)",
        ));
    }
    out.push((rel.to_string(), None));
    let mut names: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = e.path();
        let meta = std::fs::metadata(&path)?;
        if meta.is_dir() {
            walk(&path, &child_rel, out, depth + 1)?;
        } else if meta.is_file() {
            out.push((child_rel, Some(std::fs::read(&path)?)));
        }
    }
    Ok(())
}

/// The probe of each destination path of a tree.
fn tree_reqs(entries: &[Entry], diff: bool) -> impl Iterator<Item = Req> + '_ {
    entries.iter().map(move |e| {
        Req::new(e.path.clone())
            // a link is compared as a link
            .follow(!matches!(e.source, Some(Src::Link(_))))
            .diff_content(diff && matches!(e.source, Some(Src::Bytes(_))))
    })
}

fn tree_needs(entries: &[Entry], diff: bool) -> Vec<Need> {
    let mut needs = vec![Need::Host];
    needs.extend(tree_reqs(entries, diff).map(Need::Path));
    needs
}

/// Copies a tree: one probe of every destination path, one exec for the
/// changes (only the files whose sha256 differs are sent).
fn plan_tree(facts: &Facts, opts: &Opts, entries: &[Entry], diff: bool) -> Result<Plan, Fail> {
    let items = tree_reqs(entries, diff)
        .map(|r| facts.path(&r).cloned())
        .collect::<Result<Vec<Stat>, Fail>>()?;
    let plan = decide_tree(entries, &items, facts.host()?, opts, diff)?;
    let mut o = if plan.changed {
        Outcome::changed()
    } else {
        Outcome::ok()
    };
    o.diffs = plan.diffs;
    let msg = match (plan.files, plan.dirs) {
        (0, 0) => String::new(),
        (f, 0) => format!("{f} file(s) copied"),
        (0, d) => format!("{d} directory(ies) created"),
        (f, d) => format!("{f} file(s) copied, {d} directory(ies) created"),
    };
    o.msg = (!msg.is_empty()).then_some(msg);
    if !plan.changed {
        return Ok(Plan::Done(o));
    }
    Ok(Plan::change(
        o,
        Action::Files {
            ops: plan.ops,
            validate: opts.validate.clone(),
        },
    ))
}

#[derive(Debug, Default)]
struct TreePlan {
    ops: Vec<Op>,
    diffs: Vec<Diff>,
    changed: bool,
    files: usize,
    dirs: usize,
}

fn decide_tree(
    entries: &[Entry],
    items: &[Stat],
    host: &remote_file::HostInfo,
    opts: &Opts,
    diff: bool,
) -> Result<TreePlan, String> {
    let mut plan = TreePlan::default();
    let mut created: Vec<String> = Vec::new();
    for (e, st) in entries.iter().zip(items) {
        let mut st = st.clone();
        if st.parent == FType::Absent && created.contains(&paths::parent_of(&st.path)) {
            st.parent = FType::Directory;
            st.parent_writable = true;
        }
        match &e.source {
            None => match st.kind {
                FType::Directory => {
                    // like Ansible's action plugin: `file: state=directory` with
                    // directory_mode, owner and group on every directory of the tree
                    let c = attrs::attr_changes(&opts.dir_attrs, &st, host.umask)?;
                    plan.ops.extend(c.ops(&st.path, false));
                    if diff {
                        plan.diffs.extend(c.diffs(&st.path));
                    }
                }
                FType::Absent => {
                    let mode = match &opts.dir_attrs.mode {
                        Some(m) => Some(m.resolve(
                            mode::default_mode(true, host.umask),
                            true,
                            host.umask,
                        )?),
                        None => None,
                    };
                    plan.ops.push(Op::Mkdir {
                        path: st.path.clone(),
                        mode,
                        own: opts.dir_attrs.chown_spec(),
                    });
                    if diff {
                        plan.diffs.push(Diff::new(
                            format!("{} (state)", st.path),
                            "absent\n",
                            "directory\n",
                        ));
                    }
                    created.push(st.path.clone());
                    plan.dirs += 1;
                }
                _ => return Err(format!("{} exists and is not a directory", st.path)),
            },
            Some(Src::Link(target)) => {
                if !(st.is_link && st.link_target.as_deref() == Some(target.as_str())) {
                    if st.kind == FType::Directory && !st.is_link {
                        return Err(format!(
                            "{} is a directory, cannot replace it with a link",
                            st.path
                        ));
                    }
                    plan.ops.push(Op::Symlink {
                        path: st.path.clone(),
                        target: target.clone(),
                    });
                    plan.files += 1;
                }
            }
            Some(src) => {
                let want = FileWant {
                    content: match src {
                        Src::Bytes(b) => Some(b.as_slice()),
                        _ => None,
                    },
                    remote: match src {
                        Src::Remote(p, sha) => Some((p.as_str(), sha.as_deref())),
                        _ => None,
                    },
                    attrs: opts.attrs.clone(),
                    backup: opts.backup,
                    validate: opts.validate.is_some(),
                    keep_existing: !opts.force,
                    diff,
                };
                let d = regular_file::decide_file(&st, host, &want)?;
                if d.content_changed {
                    plan.files += 1;
                }
                plan.ops.extend(d.ops);
                plan.diffs.extend(d.diffs);
            }
        }
    }
    plan.changed = !plan.ops.is_empty();
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_like_ansible() {
        assert_eq!(content_bytes(&json!("a\n")), b"a\n");
        assert_eq!(content_bytes(&json!(12)), b"12");
        assert_eq!(content_bytes(&json!(true)), b"True");
        assert_eq!(
            content_bytes(&json!({"a": [1, "x"], "b": null})),
            br#"{"a": [1, "x"], "b": null}"#
        );
    }
}
