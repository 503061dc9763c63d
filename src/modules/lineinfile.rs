//! lineinfile: one line present (replacing the last line matching `regexp` or
//! containing `search_string`, else inserted after/before a match) or absent.
//!
//! The probe reads the whole file (one exec); the line logic runs in Rust with
//! Ansible's semantics ([`present`], [`absent`]); the new content is written
//! atomically only when it differs (one more exec).

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::regular_file;
use super::text_edit::{self, pyregex::PyRegex};
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static LINEINFILE: Spec = Spec {
    mutually_exclusive: &[
        &["insertbefore", "insertafter"],
        &["regexp", "search_string"],
        &["backrefs", "search_string"],
    ],
    ..Spec::new(
        "lineinfile",
        &[
            ArgSpec::new("path", Kind::Str)
                .required()
                .aliases(&["dest", "destfile", "name"]),
            ArgSpec::new("line", Kind::Str).aliases(&["value"]),
            ArgSpec::new("regexp", Kind::Str).aliases(&["regex"]),
            ArgSpec::new("search_string", Kind::Str),
            ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
            ArgSpec::new("insertafter", Kind::Str),
            ArgSpec::new("insertbefore", Kind::Str),
            ArgSpec::new("create", Kind::Bool),
            ArgSpec::new("backup", Kind::Bool),
            ArgSpec::new("backrefs", Kind::Bool),
            ArgSpec::new("firstmatch", Kind::Bool),
            ArgSpec::new("owner", Kind::Str),
            ArgSpec::new("group", Kind::Str),
            ArgSpec::new("mode", Kind::Mode),
            ArgSpec::new("validate", Kind::Str),
        ],
    )
};

/// The line arguments, with compiled regexes.
pub(crate) struct LineArgs {
    pub line: Option<String>,
    pub regexp: Option<PyRegex>,
    pub search_string: Option<String>,
    /// `EOF`, `BOF` or a regex (kept as given, compiled in `ins`).
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
    pub ins: Option<PyRegex>,
    pub backrefs: bool,
    pub firstmatch: bool,
}

impl LineArgs {
    pub fn from_args(args: &Args) -> Result<LineArgs, Fail> {
        let regexp = match args.str("regexp") {
            Some(r) => Some(text_edit::py_regex("regexp", r, false)?),
            None => None,
        };
        let insertafter = args.string("insertafter");
        let insertbefore = args.string("insertbefore");
        let ins = match (&insertafter, &insertbefore) {
            (Some(a), _) if a != "EOF" && a != "BOF" => {
                Some(text_edit::py_regex("insertafter", a, false)?)
            }
            (None, Some(b)) if b != "BOF" => Some(text_edit::py_regex("insertbefore", b, false)?),
            _ => None,
        };
        Ok(LineArgs {
            line: args.string("line"),
            regexp,
            search_string: args.string("search_string"),
            insertafter,
            insertbefore,
            ins,
            backrefs: args.bool_or("backrefs", false),
            firstmatch: args.bool_or("firstmatch", false),
        })
    }
}

/// Lines with their endings, like Python's `readlines()`.
fn lines_of(content: &str) -> Vec<String> {
    content.split_inclusive('\n').map(str::to_string).collect()
}

fn strip_eol(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

/// `match.expand(template)` for the first match of `re` in `hay`.
fn expand(re: &PyRegex, hay: &str, template: &str) -> Result<String, String> {
    let m = re.search(hay).ok_or("no match to expand")?;
    let (start, end) = (m.start(), m.end());
    let (out, _) = re
        .subn(hay, template, 1)
        .map_err(|e| format!("line: {}", e.detail().unwrap_or("bad backreference")))?;
    Ok(out[start..out.len() - (hay.len() - end)].to_string())
}

/// Ansible's `present()`: the new content and the message (empty: no change).
pub(crate) fn present(content: &str, a: &LineArgs) -> Result<(String, &'static str), String> {
    let line = a.line.as_deref().unwrap_or_default();
    let mut lines = lines_of(content);
    let (mut index0, mut index1): (Option<usize>, Option<usize>) = (None, None);
    let mut matched = false;
    // 1. the last (or first) line matching regexp
    if let Some(re) = &a.regexp {
        for (i, l) in lines.iter().enumerate() {
            if re.search(l).is_some() {
                index0 = Some(i);
                matched = true;
                if a.firstmatch {
                    break;
                }
            }
        }
    }
    // 2. or containing search_string
    if let Some(s) = &a.search_string {
        for (i, l) in lines.iter().enumerate() {
            if l.contains(s.as_str()) {
                index0 = Some(i);
                matched = true;
                if a.firstmatch {
                    break;
                }
            }
        }
    }
    // 3. no match: the line itself, and where to insert
    if !matched {
        for (i, l) in lines.iter().enumerate() {
            if strip_eol(l) == line {
                index0 = Some(i);
            } else if let Some(ins) = &a.ins
                && ins.search(l).is_some()
            {
                if a.insertafter.is_some() {
                    index1 = Some(i + 1);
                } else {
                    index1 = Some(i);
                }
                if a.firstmatch {
                    break;
                }
            }
        }
    }
    let after = a.insertafter.as_deref().or(if a.insertbefore.is_none() {
        Some("EOF")
    } else {
        None
    });
    let before = a.insertbefore.as_deref();
    let with_nl = |s: &str| {
        if s.ends_with('\n') {
            s.to_string()
        } else {
            format!("{s}\n")
        }
    };
    let msg;
    if let Some(i0) = index0 {
        let new_line = if a.backrefs && matched {
            let re = a.regexp.as_ref().expect("backrefs need regexp");
            with_nl(&expand(re, &lines[i0], line)?)
        } else {
            with_nl(line)
        };
        if lines[i0] != new_line {
            lines[i0] = new_line;
            msg = "line replaced";
        } else {
            msg = "";
        }
    } else if a.backrefs {
        // no match: nothing is safe to write
        msg = "";
    } else if before == Some("BOF") || after == Some("BOF") {
        lines.insert(0, with_nl(line));
        msg = "line added";
    } else if after == Some("EOF") || index1.is_none() {
        if let Some(last) = lines.last()
            && !last.ends_with(['\n', '\r'])
        {
            lines.push("\n".into());
        }
        lines.push(with_nl(line));
        msg = "line added";
    } else if let (Some(_), Some(i1)) = (a.insertafter.as_ref(), index1) {
        // Deviation from Ansible, which here glues the line to a last line
        // lacking its newline ("a\n#2" + "new" -> "a\n#2new\n").
        let len = lines.len();
        if let Some(last) = lines.last_mut()
            && len == i1
            && !last.ends_with(['\n', '\r'])
        {
            last.push('\n');
        }
        if lines.len() == i1 {
            if strip_eol(&lines[i1 - 1]) != line {
                lines.push(with_nl(line));
                msg = "line added";
            } else {
                msg = "";
            }
        } else if strip_eol(&lines[i1]) != line {
            lines.insert(i1, with_nl(line));
            msg = "line added";
        } else {
            msg = "";
        }
    } else {
        let i1 = index1.unwrap_or(0);
        lines.insert(i1, with_nl(line));
        msg = "line added";
    }
    Ok((lines.concat(), msg))
}

/// Ansible's `absent()`: the new content and how many lines were removed.
pub(crate) fn absent(content: &str, a: &LineArgs) -> (String, usize) {
    let line = a.line.as_deref().unwrap_or_default();
    let mut found = 0;
    let kept: Vec<String> = lines_of(content)
        .into_iter()
        .filter(|l| {
            let hit = if let Some(re) = &a.regexp {
                re.search(l).is_some()
            } else if let Some(s) = &a.search_string {
                l.contains(s.as_str())
            } else {
                strip_eol(l) == line
            };
            if hit {
                found += 1;
            }
            !hit
        })
        .collect();
    (kept.concat(), found)
}

/// `lineinfile` on the module protocol.
pub struct LineInFile;

/// The parsed arguments, checked as Ansible does; true for `state: present`.
fn parsed(args: &Args) -> Result<(bool, LineArgs), Fail> {
    let present_state = args.str("state").unwrap_or("present") == "present";
    let la = LineArgs::from_args(args)?;
    if present_state {
        if la.backrefs && la.regexp.is_none() {
            return fail::bad_args("regexp is required with backrefs=true");
        }
        if la.line.is_none() {
            return fail::bad_args("line is required with state=present");
        }
    } else if la.line.is_none() && la.regexp.is_none() && la.search_string.is_none() {
        return fail::bad_args(
            "one of line, search_string, or regexp is required with state=absent",
        );
    }
    Ok((present_state, la))
}

impl Module for LineInFile {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        parsed(args)?;
        Ok(text_edit::edit_needs(args))
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let path = args.str("path").unwrap_or_default();
        let (present_state, la) = parsed(args)?;
        let (st, host) = text_edit::edited(args, facts)?;
        if !st.exists() {
            if !present_state {
                return Ok(Plan::Done(
                    Outcome::ok()
                        .msg("file not present")
                        .with("found", 0)
                        .with("backup", ""),
                ));
            }
            if !args.bool_or("create", false) {
                return fail::fail(format!("Destination {path} does not exist !"));
            }
        }
        let old = text_edit::text_of(&st)?;
        let mut plan = if present_state {
            let (new, msg) = present(&old, &la)?;
            text_edit::text_plan(args, &st, host, &new, msg, ctx.diff)?
        } else {
            let (new, found) = absent(&old, &la);
            let msg = format!("{found} line(s) removed");
            let mut plan = text_edit::text_plan(args, &st, host, &new, &msg, ctx.diff)?;
            if let Some(o) = plan.outcome_mut() {
                if found == 0 && !o.changed {
                    o.msg = None;
                }
                o.data.insert("found".into(), json!(found));
            }
            plan
        };
        if let Some(o) = plan.outcome_mut() {
            o.data.insert("backup".into(), json!(""));
        }
        Ok(plan)
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let mut o = regular_file::file_applied(planned, &result);
        let b = o.data.get("backup_file").cloned().unwrap_or(json!(""));
        o.data.insert("backup".into(), b);
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn la(line: &str) -> LineArgs {
        LineArgs {
            line: Some(line.into()),
            regexp: None,
            search_string: None,
            insertafter: None,
            insertbefore: None,
            ins: None,
            backrefs: false,
            firstmatch: false,
        }
    }
    fn re(p: &str) -> Option<PyRegex> {
        Some(PyRegex::new(p, false, false).unwrap())
    }
    fn after(mut a: LineArgs, p: &str) -> LineArgs {
        a.insertafter = Some(p.into());
        if p != "EOF" && p != "BOF" {
            a.ins = re(p);
        }
        a
    }
    fn before(mut a: LineArgs, p: &str) -> LineArgs {
        a.insertbefore = Some(p.into());
        if p != "BOF" {
            a.ins = re(p);
        }
        a
    }

    #[test]
    fn appends_at_eof_once() {
        assert_eq!(
            present("a\nb\n", &la("c")).unwrap(),
            ("a\nb\nc\n".into(), "line added")
        );
        assert_eq!(present("a\nc\n", &la("c")).unwrap(), ("a\nc\n".into(), ""));
        // a missing final newline is added first
        assert_eq!(present("a", &la("c")).unwrap().0, "a\nc\n");
        assert_eq!(present("", &la("c")).unwrap().0, "c\n");
        // the exact line without its newline at EOF is rewritten with one
        assert_eq!(
            present("a\nc", &la("c")).unwrap(),
            ("a\nc\n".into(), "line replaced")
        );
    }

    #[test]
    fn regexp_last_match_wins() {
        let mut a = la("port=80");
        a.regexp = re("^port=");
        assert_eq!(
            present("port=1\nx\nport=2\n", &a).unwrap(),
            ("port=1\nx\nport=80\n".into(), "line replaced")
        );
        a.firstmatch = true;
        assert_eq!(
            present("port=1\nx\nport=2\n", &a).unwrap().0,
            "port=80\nx\nport=2\n"
        );
        a.firstmatch = false;
        assert_eq!(present("port=80\n", &a).unwrap(), ("port=80\n".into(), ""));
        // no match: the line is added (at EOF)
        assert_eq!(
            present("x\n", &a).unwrap(),
            ("x\nport=80\n".into(), "line added")
        );
        // `$` matches before the newline, like Python
        let mut a = la("b=2");
        a.regexp = re("^b=.*$");
        assert_eq!(present("a=1\nb=1\n", &a).unwrap().0, "a=1\nb=2\n");
    }

    #[test]
    fn search_string() {
        let mut a = la("PermitRootLogin no");
        a.search_string = Some("PermitRootLogin".into());
        assert_eq!(
            present("#x\nPermitRootLogin yes\n", &a).unwrap().0,
            "#x\nPermitRootLogin no\n"
        );
        assert_eq!(
            absent("a\nPermitRootLogin yes\nb\n", &a),
            ("a\nb\n".into(), 1)
        );
    }

    #[test]
    fn insertafter_and_insertbefore() {
        let a = after(la("new"), "^\\[main\\]");
        assert_eq!(
            present("[main]\nx=1\n[other]\n", &a).unwrap().0,
            "[main]\nnew\nx=1\n[other]\n"
        );
        // idempotent: the line already follows the anchor
        assert_eq!(
            present("[main]\nnew\nx=1\n", &a).unwrap(),
            ("[main]\nnew\nx=1\n".into(), "")
        );
        // the last match of insertafter is used
        let a = after(la("new"), "^#");
        assert_eq!(
            present("#1\na\n#2\nb\n", &a).unwrap().0,
            "#1\na\n#2\nnew\nb\n"
        );
        // anchor on a last line without its newline (Ansible would write "#2new")
        assert_eq!(present("a\n#2", &a).unwrap().0, "a\n#2\nnew\n");
        // no match: EOF
        assert_eq!(
            present("a\n", &after(la("new"), "^zzz")).unwrap().0,
            "a\nnew\n"
        );
        let b = before(la("new"), "^b");
        assert_eq!(present("a\nb\nc\nb\n", &b).unwrap().0, "a\nb\nc\nnew\nb\n");
        let mut b1 = before(la("new"), "^b");
        b1.firstmatch = true;
        assert_eq!(present("a\nb\nc\nb\n", &b1).unwrap().0, "a\nnew\nb\nc\nb\n");
        assert_eq!(
            present("a\n", &before(la("new"), "BOF")).unwrap().0,
            "new\na\n"
        );
        assert_eq!(
            present("a\n", &after(la("new"), "BOF")).unwrap().0,
            "new\na\n"
        );
        // the line anywhere already: nothing (insertbefore/after only when absent)
        assert_eq!(
            present("new\na\nb\n", &b).unwrap(),
            ("new\na\nb\n".into(), "")
        );
        // regexp given and matching: insertafter is ignored
        let mut r = after(la("k=2"), "^a");
        r.regexp = re("^k=");
        assert_eq!(present("k=1\na\n", &r).unwrap().0, "k=2\na\n");
    }

    #[test]
    fn backrefs() {
        let mut a = la(r"\1=on # \g<v>");
        a.regexp = Some(PyRegex::new(r"^(\w+)=(?P<v>\w+)$", false, false).unwrap());
        a.backrefs = true;
        assert_eq!(present("x=off\n", &a).unwrap().0, "x=on # off\n");
        // no match with backrefs: no change, not even an insertion
        assert_eq!(
            present("nothing here\n", &a).unwrap(),
            ("nothing here\n".into(), "")
        );
    }

    #[test]
    fn absent_modes() {
        assert_eq!(absent("a\nb\na\n", &la("a")), ("b\n".into(), 2));
        let mut r = la("");
        r.line = None;
        r.regexp = re("^#");
        assert_eq!(absent("#1\nx\n#2", &r), ("x\n".into(), 2));
        assert_eq!(absent("x\n", &r), ("x\n".into(), 0));
    }
}
