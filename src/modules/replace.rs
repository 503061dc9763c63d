//! replace: every match of a Python regex (MULTILINE, like Ansible's) replaced,
//! optionally only in the section between `after` and `before`.
//!
//! One exec reads the file; [`replace_text`] decides in Rust; one more exec
//! writes the result atomically when it differs.

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::remote_file::FType;
use super::text_edit;
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static REPLACE: Spec = Spec::new(
    "replace",
    &[
        ArgSpec::new("path", Kind::Str)
            .required()
            .aliases(&["dest", "destfile", "name"]),
        ArgSpec::new("regexp", Kind::Str).required(),
        ArgSpec::new("replace", Kind::Str),
        ArgSpec::new("after", Kind::Str),
        ArgSpec::new("before", Kind::Str),
        ArgSpec::new("backup", Kind::Bool),
        ArgSpec::new("validate", Kind::Str),
        ArgSpec::new("owner", Kind::Str),
        ArgSpec::new("group", Kind::Str),
        ArgSpec::new("mode", Kind::Mode),
    ],
);

/// What [`replace_text`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Replaced {
    /// The new content and the number of replacements (the content may be unchanged).
    Done(String, usize),
    /// `after`/`before` did not match: nothing to do (the pattern, for the message).
    NoSection(String),
}

/// Ansible's replace logic on a text.
pub fn replace_text(
    contents: &str,
    regexp: &str,
    repl: &str,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<Replaced, String> {
    let err = |what: &str, e: minijinja::Error| {
        format!(
            "{what}: {}",
            e.detail().unwrap_or("invalid regular expression")
        )
    };
    let pattern = match (
        after.filter(|s| !s.is_empty()),
        before.filter(|s| !s.is_empty()),
    ) {
        (Some(a), Some(b)) => format!("{a}(?P<subsection>.*?){b}"),
        (Some(a), None) => format!("{a}(?P<subsection>.*)"),
        (None, Some(b)) => format!("(?P<subsection>.*){b}"),
        (None, None) => String::new(),
    };
    let (start, end) = if pattern.is_empty() {
        (0, contents.len())
    } else {
        let section_re = text_edit::pyregex::PyRegex::new(&format!("(?s){pattern}"), false, false)
            .map_err(|e| err("after/before", e))?;
        let Some(m) = section_re.search(contents) else {
            return Ok(Replaced::NoSection(pattern));
        };
        let sub = m.group_by_name("subsection").unwrap_or("");
        let start = sub.as_ptr() as usize - contents.as_ptr() as usize;
        (start, start + sub.len())
    };
    let section = &contents[start..end];
    let re = text_edit::pyregex::PyRegex::new(regexp, false, true).map_err(|e| err("regexp", e))?;
    let (new_section, n) = re.subn(section, repl, 0).map_err(|e| {
        format!(
            "Unable to process replace due to error: {}",
            e.detail().unwrap_or("bad replacement")
        )
    })?;
    Ok(Replaced::Done(
        format!("{}{new_section}{}", &contents[..start], &contents[end..]),
        n,
    ))
}

/// `replace` on the module protocol.
pub struct Replace;

impl Module for Replace {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        // bad regexes are argument errors, found before touching the host
        text_edit::py_regex("regexp", args.str("regexp").unwrap_or_default(), true)?;
        Ok(text_edit::edit_needs(args))
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let path = args.str("path").unwrap_or_default();
        let regexp = args.str("regexp").unwrap_or_default();
        let repl = args.str("replace").unwrap_or_default();
        let (st, host) = text_edit::edited(args, facts)?;
        if st.kind != FType::File {
            return fail::fail(format!("Path {path} does not exist !"));
        }
        let old = text_edit::text_of(&st)?;
        match replace_text(&old, regexp, repl, args.str("after"), args.str("before"))
            .map_err(Fail::Task)?
        {
            Replaced::NoSection(p) => Ok(Plan::Done(
                Outcome::ok()
                    .msg(format!(
                        "Pattern for before/after params did not match the given file: {p}"
                    ))
                    .with("rc", 0),
            )),
            Replaced::Done(new, n) => {
                let msg = if new != old {
                    format!("{n} replacements made")
                } else {
                    String::new()
                };
                let mut plan = text_edit::text_plan(args, &st, host, &new, &msg, ctx.diff)?;
                if let Some(o) = plan.outcome_mut() {
                    o.data.insert("rc".into(), json!(0));
                }
                Ok(plan)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(s: &str, n: usize) -> Replaced {
        Replaced::Done(s.into(), n)
    }

    #[test]
    fn multiline_and_backreferences() {
        let r = replace_text("a=1\nb=2\n", r"^(\w)=(\d)$", r"\2=\1", None, None).unwrap();
        assert_eq!(r, done("1=a\n2=b\n", 2));
        assert_eq!(
            replace_text("x\n", "y", "z", None, None).unwrap(),
            done("x\n", 0)
        );
        assert_eq!(
            replace_text("old old\n", r"\bold\b", "new", None, None).unwrap(),
            done("new new\n", 2)
        );
        assert_eq!(
            replace_text("k: v\n", r"(?P<k>\w+): v", r"\g<k>: w", None, None).unwrap(),
            done("k: w\n", 1)
        );
        assert!(
            replace_text("x", "(", "", None, None)
                .unwrap_err()
                .contains("regexp")
        );
    }

    #[test]
    fn sections() {
        let text = "a=1\n[s]\na=2\n[t]\na=3\n";
        assert_eq!(
            replace_text(text, "^a=.*$", "a=0", Some(r"\[s\]"), None).unwrap(),
            done("a=1\n[s]\na=0\n[t]\na=0\n", 2)
        );
        assert_eq!(
            replace_text(text, "^a=.*$", "a=0", None, Some(r"\[s\]")).unwrap(),
            done("a=0\n[s]\na=2\n[t]\na=3\n", 1)
        );
        assert_eq!(
            replace_text(text, "^a=.*$", "a=0", Some(r"\[s\]"), Some(r"\[t\]")).unwrap(),
            done("a=1\n[s]\na=0\n[t]\na=3\n", 1)
        );
        assert_eq!(
            replace_text(text, "a", "b", Some("zzz"), None).unwrap(),
            Replaced::NoSection("zzz(?P<subsection>.*)".into())
        );
    }
}
