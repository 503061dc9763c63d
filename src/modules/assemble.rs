//! assemble (ansible.builtin.assemble): one file made of the fragments of a
//! directory, in the order of their names.
//!
//! On the module protocol: with `remote_src` (the default) the fragments'
//! directory is a `Need::Tree` and, in a second read (`Plan::More`), each
//! fragment's content; without it they are read on the controller (found like
//! `copy`'s `src`). Rust joins them as Ansible does (a newline after a
//! fragment that lacks one, the `delimiter` between fragments, escapes such
//! as `\n` decoded, always followed by a newline) and decides the destination
//! as `copy` does (content by sha256, then owner, group, mode); the change,
//! never in check mode, writes it atomically (`validate`, `backup`).

use serde_json::json;

use super::attrs::Attrs;
use super::fail::{self, Fail};
use super::paths::basename;
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::regular_file::{FileWant, decide_file, file_plan, validate_arg};
use super::remote_file::{ContentReq, FType, Req};
use super::text_edit::pyregex::PyRegex;
use super::{ArgSpec, Args, Kind, Spec};

pub static ASSEMBLE: Spec = Spec::new(
    "assemble",
    &[
        ArgSpec::new("src", Kind::Str).required(),
        ArgSpec::new("dest", Kind::Str).required(),
        ArgSpec::new("backup", Kind::Bool),
        ArgSpec::new("delimiter", Kind::Str),
        ArgSpec::new("remote_src", Kind::Bool),
        ArgSpec::new("regexp", Kind::Str),
        ArgSpec::new("follow", Kind::Bool),
        ArgSpec::new("ignore_hidden", Kind::Bool),
        ArgSpec::new("validate", Kind::Str),
        ArgSpec::new("decrypt", Kind::Bool),
        ArgSpec::new("owner", Kind::Str),
        ArgSpec::new("group", Kind::Str),
        ArgSpec::new("mode", Kind::Mode),
    ],
);

pub struct Assemble;

fn dest_req(args: &Args, diff: bool) -> Req {
    Req::new(args.str("dest").unwrap_or_default())
        .follow(args.bool_or("follow", false))
        .diff_content(diff)
}

fn fragment_req(path: &str) -> Req {
    let mut r = Req::new(path).follow(true).content(ContentReq::Whole);
    r.sums.clear();
    r
}

fn src(args: &Args) -> String {
    args.str("src")
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string()
}

/// Python's `codecs.escape_decode` for the usual escapes.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        match it.next() {
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('r') => out.push(b'\r'),
            Some('0') => out.push(0),
            Some('\\') => out.push(b'\\'),
            Some('\'') => out.push(b'\''),
            Some('"') => out.push(b'"'),
            Some(o) => {
                out.push(b'\\');
                let mut b = [0u8; 4];
                out.extend_from_slice(o.encode_utf8(&mut b).as_bytes());
            }
            None => out.push(b'\\'),
        }
    }
    out
}

/// Ansible's `assemble_from_fragments`.
fn join(fragments: &[Vec<u8>], delimiter: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut add_newline = false;
    for (i, f) in fragments.iter().enumerate() {
        if add_newline {
            out.push(b'\n');
        }
        if i > 0
            && let Some(d) = delimiter
        {
            out.extend(unescape(d));
            // Ansible compares a byte with b'\n' here: always a newline
            out.push(b'\n');
        }
        out.extend_from_slice(f);
        add_newline = !f.ends_with(b"\n");
    }
    out
}

/// The fragment names to take, sorted (by `regexp` and `ignore_hidden`).
fn selected(args: &Args, names: Vec<String>) -> Result<Vec<String>, Fail> {
    let re = match args.str("regexp") {
        Some(r) => Some(PyRegex::new(r, false, false).map_err(|e| {
            Fail::Args(format!(
                "regexp: {}",
                e.detail().unwrap_or("invalid regular expression")
            ))
        })?),
        None => None,
    };
    let hidden = args.bool_or("ignore_hidden", false);
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| re.as_ref().is_none_or(|r| r.search(n).is_some()))
        .filter(|n| !(hidden && n.starts_with('.')))
        .collect();
    names.sort();
    Ok(names)
}

/// The fragments' contents, or the reads still needed.
fn fragments(
    args: &Args,
    facts: &Facts,
    ctx: &Ctx,
) -> Result<Result<Vec<Vec<u8>>, Vec<Need>>, Fail> {
    let dir = src(args);
    if !args.bool_or("remote_src", true) {
        let local = ctx.find_local(&dir)?;
        if !local.is_dir() {
            return fail::fail(format!("Source ({}) is not a directory", local.display()));
        }
        let mut names = Vec::new();
        for e in std::fs::read_dir(&local)
            .map_err(|e| Fail::Task(format!("{}: {e}", local.display())))?
        {
            let e = e.map_err(|e| Fail::Task(e.to_string()))?;
            if e.path().is_file() {
                names.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        return Ok(Ok(selected(args, names)?
            .iter()
            .map(|n| std::fs::read(local.join(n)).map_err(|e| Fail::Task(format!("{n}: {e}"))))
            .collect::<Result<_, _>>()?));
    }
    let entries = facts.tree(&dir)?;
    if !entries
        .iter()
        .any(|e| e.path.trim_end_matches('/') == dir && e.kind == FType::Directory)
    {
        return fail::fail(format!("Source ({dir}) is not a directory"));
    }
    let depth = dir.matches('/').count() + 1;
    let names: Vec<String> = entries
        .iter()
        .filter(|e| {
            e.path.matches('/').count() == depth && matches!(e.kind, FType::File | FType::Link)
        })
        .map(|e| basename(&e.path))
        .collect();
    let names = selected(args, names)?;
    let reqs: Vec<Req> = names
        .iter()
        .map(|n| fragment_req(&format!("{dir}/{n}")))
        .collect();
    let missing: Vec<Need> = reqs
        .iter()
        .filter(|r| !facts.paths.contains_key(*r))
        .map(|r| Need::Path(r.clone()))
        .collect();
    if !missing.is_empty() {
        return Ok(Err(missing));
    }
    let mut out = Vec::new();
    for r in &reqs {
        let st = facts.path(r)?;
        // a link to something else than a file is not a fragment (os.path.isfile)
        if st.kind == FType::File {
            out.push(st.content.clone().unwrap_or_default());
        }
    }
    Ok(Ok(out))
}

impl Module for Assemble {
    fn needs(&self, args: &Args, ctx: &Ctx) -> Result<Vec<Need>, Fail> {
        let mut v = vec![Need::Host, Need::Path(dest_req(args, ctx.diff))];
        if args.bool_or("remote_src", true) {
            v.push(Need::Tree(src(args)));
        }
        Ok(v)
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let content = match fragments(args, facts, ctx)? {
            Ok(f) => join(&f, args.str("delimiter")),
            Err(more) => return Ok(Plan::More(more)),
        };
        let host = facts.host()?;
        let st = facts.path(&dest_req(args, ctx.diff))?.clone();
        let validate = validate_arg(args)?;
        let want = FileWant {
            content: Some(&content),
            attrs: Attrs::from_args(args)?,
            backup: args.bool_or("backup", false),
            validate: validate.is_some(),
            diff: ctx.diff,
            ..Default::default()
        };
        let d = decide_file(&st, host, &want).map_err(Fail::Task)?;
        let mut plan = file_plan(
            &st,
            &d,
            validate.as_deref(),
            "dest",
            Some(content.len() as u64),
        );
        if let Some(o) = plan.outcome_mut() {
            o.data.insert("src".into(), json!(src(args)));
            o.data
                .insert("checksum".into(), json!(super::content::sha1_hex(&content)));
            if d.changed {
                o.msg = Some("OK".into());
            }
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_like_ansible() {
        let f = vec![b"a\n".to_vec(), b"b".to_vec(), b"c\n".to_vec()];
        assert_eq!(join(&f, None), b"a\nb\nc\n");
        assert_eq!(join(&f, Some("# --")), b"a\n# --\nb\n# --\nc\n");
        assert_eq!(join(&f, Some("--\\n")), b"a\n--\n\nb\n--\n\nc\n");
        assert_eq!(join(&[], Some("x")), b"");
    }
}
