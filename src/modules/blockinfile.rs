//! blockinfile: a block of lines between marker lines, inserted, updated or
//! removed. One exec reads the file, [`update_block`] decides with Ansible's
//! logic, one more exec writes atomically only when the content differs.

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::text_edit::{self, pyregex::PyRegex};
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static BLOCKINFILE: Spec = Spec {
    mutually_exclusive: &[&["insertbefore", "insertafter"]],
    ..Spec::new(
        "blockinfile",
        &[
            ArgSpec::new("path", Kind::Str)
                .required()
                .aliases(&["dest", "destfile", "name"]),
            ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
            ArgSpec::new("marker", Kind::Str),
            ArgSpec::new("block", Kind::Str).aliases(&["content"]),
            ArgSpec::new("insertafter", Kind::Str),
            ArgSpec::new("insertbefore", Kind::Str),
            ArgSpec::new("create", Kind::Bool),
            ArgSpec::new("backup", Kind::Bool),
            ArgSpec::new("validate", Kind::Str),
            ArgSpec::new("marker_begin", Kind::Str),
            ArgSpec::new("marker_end", Kind::Str),
            ArgSpec::new("append_newline", Kind::Bool),
            ArgSpec::new("prepend_newline", Kind::Bool),
            ArgSpec::new("owner", Kind::Str),
            ArgSpec::new("group", Kind::Str),
            ArgSpec::new("mode", Kind::Mode),
        ],
    )
};

/// The block arguments.
#[derive(Debug, Clone)]
pub struct BlockArgs {
    pub block: String,
    pub marker: String,
    pub marker_begin: String,
    pub marker_end: String,
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
    pub present: bool,
    pub append_newline: bool,
    pub prepend_newline: bool,
}

impl Default for BlockArgs {
    fn default() -> Self {
        BlockArgs {
            block: String::new(),
            marker: "# {mark} ANSIBLE MANAGED BLOCK".into(),
            marker_begin: "BEGIN".into(),
            marker_end: "END".into(),
            insertafter: None,
            insertbefore: None,
            present: true,
            append_newline: false,
            prepend_newline: false,
        }
    }
}

/// Does the pattern set MULTILINE inline (`(?m)`, `(?mi)`...)? Ansible then
/// searches the whole text instead of line by line.
fn inline_multiline(p: &str) -> bool {
    p.strip_prefix("(?")
        .and_then(|r| r.split_once(')'))
        .is_some_and(|(flags, _)| {
            flags.chars().all(|c| c.is_ascii_alphabetic()) && flags.contains('m')
        })
}

/// Ansible's blockinfile logic: the new content (`original`: None when the file
/// does not exist).
pub fn update_block(original: Option<&str>, a: &BlockArgs) -> Result<String, String> {
    let text = original.unwrap_or("");
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let insertafter = match (&a.insertafter, &a.insertbefore) {
        (None, None) => Some("EOF".to_string()),
        (x, _) => x.clone(),
    };
    let insertbefore = a.insertbefore.clone();
    let insert_pattern = match (&insertafter, &insertbefore) {
        (Some(p), _) if p != "EOF" => Some(p.clone()),
        (None, Some(p)) if p != "BOF" => Some(p.clone()),
        _ => None,
    };
    let marker0 = format!("{}\n", a.marker.replace("{mark}", &a.marker_begin));
    let marker1 = format!("{}\n", a.marker.replace("{mark}", &a.marker_end));
    let blocklines: Vec<String> = if a.present && !a.block.is_empty() {
        let mut block = a.block.clone();
        if !block.ends_with('\n') {
            block.push('\n');
        }
        let mut v = vec![marker0.clone()];
        v.extend(block.split_inclusive('\n').map(str::to_string));
        v.push(marker1.clone());
        v
    } else {
        Vec::new()
    };
    let (mut n0, mut n1) = (None, None);
    for (i, l) in lines.iter().enumerate() {
        if *l == marker0 {
            n0 = Some(i);
        }
        if *l == marker1 {
            n1 = Some(i);
        }
    }
    let mut n0 = match (n0, n1) {
        (Some(b), Some(e)) if b < e => {
            lines.drain(b..=e);
            b
        }
        (Some(b), Some(e)) => {
            lines.drain(e..=b);
            e
        }
        _ => {
            if let Some(p) = &insert_pattern {
                let re = PyRegex::new(p, false, false).map_err(|e| {
                    format!(
                        "{}: {}",
                        if insertafter.is_some() {
                            "insertafter"
                        } else {
                            "insertbefore"
                        },
                        e.detail().unwrap_or("invalid regular expression")
                    )
                })?;
                let mut found = None;
                if inline_multiline(p) {
                    if let Some(m) = re.search(text) {
                        let at = if insertafter.is_some() {
                            m.end()
                        } else {
                            m.start()
                        };
                        found = Some(text[..at].matches('\n').count());
                    }
                } else {
                    for (i, l) in lines.iter().enumerate() {
                        if re.search(l).is_some() {
                            found = Some(i);
                        }
                    }
                }
                match found {
                    None => lines.len(),
                    Some(i) if insertafter.is_some() => i + 1,
                    Some(i) => i,
                }
            } else if insertbefore.is_some() {
                0
            } else {
                lines.len()
            }
        }
    };
    if n0 > 0 && !lines[n0 - 1].ends_with('\n') {
        lines[n0 - 1].push('\n');
    }
    if a.prepend_newline && a.present && n0 != 0 && lines[n0 - 1] != "\n" {
        lines.insert(n0, "\n".into());
        n0 += 1;
    }
    let after_block = n0 + blocklines.len();
    lines.splice(n0..n0, blocklines);
    if a.append_newline && a.present && after_block < lines.len() && lines[after_block] != "\n" {
        lines.insert(after_block, "\n".into());
    }
    Ok(lines.concat())
}

/// `blockinfile` on the module protocol.
pub struct BlockInFile;

fn block_args(args: &Args) -> Result<BlockArgs, Fail> {
    let d = BlockArgs::default();
    let a = BlockArgs {
        block: args.string("block").unwrap_or_default(),
        marker: args.string("marker").unwrap_or(d.marker),
        marker_begin: args.string("marker_begin").unwrap_or(d.marker_begin),
        marker_end: args.string("marker_end").unwrap_or(d.marker_end),
        insertafter: args.string("insertafter"),
        insertbefore: args.string("insertbefore"),
        present: args.str("state").unwrap_or("present") == "present",
        append_newline: args.bool_or("append_newline", false),
        prepend_newline: args.bool_or("prepend_newline", false),
    };
    for (k, v) in [
        ("insertafter", &a.insertafter),
        ("insertbefore", &a.insertbefore),
    ] {
        if let Some(p) = v.as_deref().filter(|p| !["EOF", "BOF"].contains(p)) {
            text_edit::py_regex(k, p, false)?;
        }
    }
    Ok(a)
}

impl Module for BlockInFile {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        block_args(args)?;
        Ok(text_edit::edit_needs(args))
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let path = args.str("path").unwrap_or_default();
        let a = block_args(args)?;
        let (st, host) = text_edit::edited(args, facts)?;
        let original = if st.exists() {
            Some(text_edit::text_of(&st)?)
        } else {
            None
        };
        if original.is_none() {
            if !a.present {
                return Ok(Plan::Done(
                    Outcome::ok().msg(format!("File {path} not present")),
                ));
            }
            if !args.bool_or("create", false) {
                return fail::fail(format!("Path {path} does not exist !"));
            }
        }
        let new = update_block(original.as_deref(), &a).map_err(Fail::Task)?;
        let msg = match &original {
            Some(o) if *o == new => "",
            None => "File created",
            Some(_) if !a.present || a.block.is_empty() => "Block removed",
            Some(_) => "Block inserted",
        };
        text_edit::text_plan(args, &st, host, &new, msg, ctx.diff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ba(block: &str) -> BlockArgs {
        BlockArgs {
            block: block.into(),
            ..Default::default()
        }
    }
    const B: &str = "# BEGIN ANSIBLE MANAGED BLOCK\n";
    const E: &str = "# END ANSIBLE MANAGED BLOCK\n";

    #[test]
    fn inserts_at_eof_then_updates_in_place() {
        let once = update_block(Some("a\nb"), &ba("x\ny")).unwrap();
        assert_eq!(once, format!("a\nb\n{B}x\ny\n{E}"));
        assert_eq!(
            update_block(Some(&once), &ba("x\ny")).unwrap(),
            once,
            "idempotent"
        );
        let changed = update_block(Some(&format!("{once}tail\n")), &ba("z")).unwrap();
        assert_eq!(
            changed,
            format!("a\nb\n{B}z\n{E}tail\n"),
            "the block is updated where it is"
        );
        assert_eq!(update_block(None, &ba("x")).unwrap(), format!("{B}x\n{E}"));
    }

    #[test]
    fn removal() {
        let text = format!("a\n{B}x\n{E}b\n");
        assert_eq!(
            update_block(
                Some(&text),
                &BlockArgs {
                    present: false,
                    ..ba("x")
                }
            )
            .unwrap(),
            "a\nb\n"
        );
        // an empty block removes too
        assert_eq!(update_block(Some(&text), &ba("")).unwrap(), "a\nb\n");
        // markers in reverse order
        assert_eq!(
            update_block(Some(&format!("a\n{E}x\n{B}b\n")), &ba("")).unwrap(),
            "a\nb\n"
        );
    }

    #[test]
    fn positions() {
        let text = "a\n[s]\nb\n[s]\nc\n";
        let after = BlockArgs {
            insertafter: Some(r"^\[s\]".into()),
            ..ba("x")
        };
        assert_eq!(
            update_block(Some(text), &after).unwrap(),
            format!("a\n[s]\nb\n[s]\n{B}x\n{E}c\n"),
            "last match"
        );
        let before = BlockArgs {
            insertbefore: Some(r"^\[s\]".into()),
            ..ba("x")
        };
        assert_eq!(
            update_block(Some(text), &before).unwrap(),
            format!("a\n[s]\nb\n{B}x\n{E}[s]\nc\n")
        );
        let bof = BlockArgs {
            insertbefore: Some("BOF".into()),
            ..ba("x")
        };
        assert_eq!(
            update_block(Some(text), &bof).unwrap(),
            format!("{B}x\n{E}{text}")
        );
        let nomatch = BlockArgs {
            insertafter: Some("zzz".into()),
            ..ba("x")
        };
        assert_eq!(
            update_block(Some("a\n"), &nomatch).unwrap(),
            format!("a\n{B}x\n{E}")
        );
        let ml = BlockArgs {
            insertafter: Some(r"(?m)^b\nc$".into()),
            ..ba("x")
        };
        assert_eq!(
            update_block(Some("a\nb\nc\nd\n"), &ml).unwrap(),
            format!("a\nb\nc\n{B}x\n{E}d\n")
        );
    }

    #[test]
    fn markers_and_newlines() {
        let m = BlockArgs {
            marker: "<!-- {mark} -->".into(),
            marker_begin: "start".into(),
            marker_end: "stop".into(),
            ..ba("x")
        };
        assert_eq!(
            update_block(Some(""), &m).unwrap(),
            "<!-- start -->\nx\n<!-- stop -->\n"
        );
        let p = BlockArgs {
            prepend_newline: true,
            append_newline: true,
            insertbefore: Some("^c".into()),
            ..ba("x")
        };
        assert_eq!(
            update_block(Some("a\nc\n"), &p).unwrap(),
            format!("a\n\n{B}x\n{E}\nc\n")
        );
    }
}
