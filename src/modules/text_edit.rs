//! What the text-editing modules (lineinfile, blockinfile, replace) share:
//! the file they edit (links followed, whole content, readable), its text,
//! Python regexes, and the plan of writing the new text.

use super::Args;
use super::attrs::Attrs;
use super::fail::Fail;
use super::paths::parent_of;
use super::protocol::{Facts, Need, Plan};
use super::regular_file::{FileWant, decide_file, file_plan, validate_arg};
use super::remote_file::{ContentReq, FType, HostInfo, Op, Req, Stat, become_hint};

/// Python `re` semantics on the `regex` crate (the template engine's helper).
pub(crate) use crate::template::pyregex;

/// Ansible's error for a missing file to edit.
pub fn require_readable(st: &Stat, host: &HostInfo) -> Result<(), String> {
    if st.kind == FType::Directory {
        return Err(format!("Path {} is a directory !", st.path));
    }
    if st.kind == FType::File && !st.readable {
        return Err(format!(
            "permission denied reading {}{}",
            st.path,
            become_hint(host)
        ));
    }
    Ok(())
}

/// The file an editing module works on: a symlink's target (Ansible writes to
/// the link's real path).
pub fn edit_target(st: &Stat) -> Stat {
    let mut st = st.clone();
    if st.is_link
        && let Some(r) = &st.realpath
    {
        st.path = r.clone();
    }
    st
}

/// Content of a text file to edit, as UTF-8.
pub fn text_of(st: &Stat) -> Result<String, String> {
    let c = st.content.as_deref().unwrap_or_default();
    String::from_utf8(c.to_vec()).map_err(|_| {
        format!(
            "{} is not UTF-8 text; opsctl edits text files only",
            st.path
        )
    })
}

/// Compiles a Python regex, with errors naming the argument.
pub(crate) fn py_regex(
    arg: &str,
    pattern: &str,
    multiline: bool,
) -> Result<pyregex::PyRegex, Fail> {
    pyregex::PyRegex::new(pattern, false, multiline).map_err(|e| {
        Fail::Args(format!(
            "{arg}: {}",
            e.detail().unwrap_or("invalid regular expression")
        ))
    })
}

/// The file a text-editing module (lineinfile, blockinfile, replace) reads:
/// `path`, links followed, with its whole content.
pub fn edit_req(args: &Args) -> Req {
    Req::new(args.str("path").unwrap_or_default())
        .follow(true)
        .content(ContentReq::Whole)
}

/// What a text-editing module needs: who runs on the host, and the file.
pub fn edit_needs(args: &Args) -> Vec<Need> {
    vec![Need::Host, Need::Path(edit_req(args))]
}

/// The file to edit (see [`edit_target`]), readable, and who edits it.
pub fn edited<'f>(args: &Args, facts: &'f Facts) -> Result<(Stat, &'f HostInfo), Fail> {
    let host = facts.host()?;
    let st = edit_target(facts.path(&edit_req(args))?);
    require_readable(&st, host)?;
    Ok((st, host))
}

/// The plan of a module editing a text file (lineinfile, blockinfile,
/// replace): `new` is the whole new text; `msg` says what the edit does.
pub fn text_plan(
    args: &Args,
    st: &Stat,
    host: &HostInfo,
    new: &str,
    msg: &str,
    diff: bool,
) -> Result<Plan, Fail> {
    let validate = validate_arg(args)?;
    let attrs = Attrs::from_args(args)?;
    let old = st.content.as_deref().unwrap_or_default();
    let content_changed = st.kind != FType::File || old != new.as_bytes();
    let want = FileWant {
        content: content_changed.then_some(new.as_bytes()),
        attrs,
        backup: args.bool_or("backup", false),
        validate: validate.is_some(),
        diff,
        ..Default::default()
    };
    // A file created (`create: yes`) gets its missing directories too.
    let mut st = st.clone();
    let mkdir = (!st.exists() && st.parent == FType::Absent).then(|| Op::Mkdir {
        path: parent_of(&st.path),
        mode: None,
        own: None,
    });
    if mkdir.is_some() {
        st.parent = FType::Directory;
        st.parent_writable = true;
    }
    let mut d = decide_file(&st, host, &want)?;
    if let Some(m) = mkdir {
        d.ops.insert(0, m);
    }
    let mut plan = file_plan(&st, &d, validate.as_deref(), "path", Some(new.len() as u64));
    let mut msg = msg.to_string();
    if d.attrs.any() && !d.content_changed {
        msg = "ownership, perms or SE linux context changed".into();
    } else if d.attrs.any() {
        msg.push_str(" and ownership, perms or SE linux context changed");
    }
    if let Some(o) = plan.outcome_mut() {
        o.msg = (!msg.is_empty()).then_some(msg);
    }
    Ok(plan)
}
