//! ini_file (community.general.ini_file): an option of a section of an INI
//! file set, added or removed, or a whole section removed.
//!
//! On the module protocol as the other text editors: one read of the file
//! (links followed with `follow: true`), [`edit_ini`] decides with Ansible's
//! own algorithm (the same bytes: `option = value`, a new section appended at
//! the end, options added after the section's last non-blank, non-comment
//! line, a missing final newline added), and one atomic write when the
//! content differs; owner, group and mode as the file module; `backup`, `--diff`
//! and check mode from the engine.

use serde_json::{Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::text_edit;
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static INI_FILE: Spec = Spec {
    mutually_exclusive: &[&["value", "values"]],
    ..Spec::new(
        "ini_file",
        &[
            ArgSpec::new("path", Kind::Str)
                .required()
                .aliases(&["dest"]),
            ArgSpec::new("section", Kind::Str),
            ArgSpec::new("section_has_values", Kind::List),
            ArgSpec::new("option", Kind::Str).aliases(&["key"]),
            ArgSpec::new("value", Kind::Str),
            ArgSpec::new("values", Kind::List),
            ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
            ArgSpec::new("exclusive", Kind::Bool),
            ArgSpec::new("backup", Kind::Bool),
            ArgSpec::new("no_extra_spaces", Kind::Bool),
            ArgSpec::new("ignore_spaces", Kind::Bool),
            ArgSpec::new("allow_no_value", Kind::Bool),
            ArgSpec::new("modify_inplace", Kind::Bool),
            ArgSpec::new("create", Kind::Bool),
            ArgSpec::new("follow", Kind::Bool),
            ArgSpec::new("owner", Kind::Str),
            ArgSpec::new("group", Kind::Str),
            ArgSpec::new("mode", Kind::Mode),
        ],
    )
};

/// What to do to the file.
#[derive(Debug, Clone, Default)]
pub struct IniArgs {
    pub section: Option<String>,
    /// (option, values): the section to edit is the first one holding these.
    pub section_has_values: Vec<(String, Vec<String>)>,
    pub option: Option<String>,
    pub values: Vec<String>,
    pub present: bool,
    pub exclusive: bool,
    pub no_extra_spaces: bool,
    pub ignore_spaces: bool,
    pub allow_no_value: bool,
    pub modify_inplace: bool,
}

/// The outcome of an edit: whether the text changed, the new text, Ansible's msg.
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    pub changed: bool,
    pub text: String,
    pub msg: &'static str,
}

/// A fake first section (Ansible's own name for it): the lines before the
/// first real section belong to it.
const FAKE: &str = "ad01e11446efb704fcdbdb21f2c43757423d91c5";

/// `([#;]?)( |\t)*(OPTION)( |\t)*(=|$)( |\t)*(.*)` matched at the start of
/// `line`: (commented, value). `commented` lines count only with `inactive`.
fn match_opt(option: &str, line: &str, inactive: bool) -> Option<(bool, String)> {
    let try_from = |rest: &str, commented: bool| -> Option<(bool, String)> {
        let rest = rest.trim_start_matches([' ', '\t']);
        let rest = rest.strip_prefix(option)?;
        let rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() || rest == "\n" {
            return Some((commented, String::new()));
        }
        let rest = rest.strip_prefix('=')?;
        let rest = rest.trim_start_matches([' ', '\t']);
        let value = rest.split('\n').next().unwrap_or_default();
        Some((commented, value.to_string()))
    };
    if inactive
        && let Some(r) = line.strip_prefix(['#', ';'])
        && let Some(m) = try_from(r, true)
    {
        return Some(m);
    }
    try_from(line, false)
}

/// A blank or comment line (`^[ \t]*([#;].*)?$`).
fn blank_or_comment(line: &str) -> bool {
    let l = line.strip_suffix('\n').unwrap_or(line);
    let t = l.trim_start_matches([' ', '\t']);
    !l.contains('\n') && (t.is_empty() || t.starts_with(['#', ';']))
}

/// `^\[\s*SECTION\s*]`.
fn is_section(line: &str, section: &str) -> bool {
    line.strip_prefix('[')
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix(section))
        .map(str::trim_start)
        .is_some_and(|r| r.starts_with(']'))
}

fn has_values(conds: &[(String, Vec<String>)], lines: &[String]) -> bool {
    conds.iter().all(|(opt, vals)| {
        lines.iter().any(|l| {
            match_opt(opt, l, true).is_some_and(|(_, v)| vals.is_empty() || vals.contains(&v))
        })
    })
}

/// Ansible's ini_file on a file's text (`None`: the file does not exist).
pub fn edit_ini(original: Option<&str>, a: &IniArgs) -> Edited {
    let text = original.unwrap_or("");
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut values: Vec<String> = Vec::new();
    for v in &a.values {
        if !values.contains(v) {
            values.push(v.clone());
        }
    }
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let mut changed = false;
    if lines.is_empty() {
        lines.push("\n".into());
    }
    if let Some(last) = lines.last_mut()
        && !last.ends_with('\n')
    {
        last.push('\n');
        changed = true;
    }
    lines.insert(0, format!("[{FAKE}]"));
    lines.push("[".into());
    let section = a
        .section
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(FAKE)
        .trim()
        .to_string();
    let assign = |o: &str, v: &str| {
        if a.no_extra_spaces {
            format!("{o}={v}\n")
        } else {
            format!("{o} = {v}\n")
        }
    };
    let mut within = false;
    let (mut start, mut end) = (0, 0);
    for (i, l) in lines.iter().enumerate() {
        if within && l.starts_with('[') {
            if has_values(&a.section_has_values, &lines[start..i]) {
                end = i;
                break;
            }
            within = false;
            start = 0;
            end = 0;
        }
        if is_section(l, &section) {
            within = true;
            start = i;
        }
    }
    let after = lines.split_off(end);
    let mut sec = lines.split_off(start);
    let before = lines;
    let mut touched = vec![false; sec.len()];
    let inactive = a.modify_inplace;
    let mut msg = "OK";
    let mut no_value_present = false;
    let option = a.option.as_deref().filter(|o| !o.is_empty());

    // Ansible's update_section_line: the line set, and whether it changed.
    let update = |sec: &mut Vec<String>, touched: &mut Vec<bool>, i: usize, new: String| {
        let mut differs = None;
        if a.ignore_spaces
            && let Some(o) = option
            && let Some((false, old)) = match_opt(o, &sec[i], true)
        {
            differs = Some(match_opt(o, &new, true).map(|(_, v)| v) != Some(old));
        }
        let differs = differs.unwrap_or(sec[i] != new);
        if differs {
            sec[i] = new;
        }
        touched[i] = true;
        differs
    };

    if a.present
        && let Some(o) = option
    {
        for i in 0..sec.len() {
            let Some((_, v)) = match_opt(o, &sec[i], inactive) else {
                continue;
            };
            if !values.is_empty() && values.contains(&v) {
                let new = if v.is_empty() && a.allow_no_value {
                    no_value_present = true;
                    format!("{o}\n")
                } else {
                    assign(o, &v)
                };
                if update(&mut sec, &mut touched, i, new) {
                    changed = true;
                    msg = "option changed";
                }
                values.retain(|x| *x != v);
            } else if values.is_empty() && a.allow_no_value {
                if update(&mut sec, &mut touched, i, format!("{o}\n")) {
                    changed = true;
                    msg = "option changed";
                }
                no_value_present = true;
                break;
            }
        }
    }
    if a.present
        && a.exclusive
        && !a.allow_no_value
        && let Some(o) = option
    {
        if !values.is_empty() {
            for i in 0..sec.len() {
                if !touched[i] && match_opt(o, &sec[i], inactive).is_some() {
                    let v = values.remove(0);
                    if update(&mut sec, &mut touched, i, assign(o, &v)) {
                        changed = true;
                        msg = "option changed";
                    }
                    if values.is_empty() {
                        break;
                    }
                }
            }
        }
        for i in (1..sec.len()).rev() {
            if !touched[i] && match_opt(o, &sec[i], inactive).is_some() {
                sec.remove(i);
                touched.remove(i);
                changed = true;
                msg = "option changed";
            }
        }
    }
    if a.present {
        for i in (1..=sec.len()).rev() {
            if blank_or_comment(&sec[i - 1]) {
                continue;
            }
            if let Some(o) = option {
                if !values.is_empty() {
                    for v in values.iter().rev() {
                        sec.insert(i, assign(o, v));
                    }
                    msg = "option added";
                    changed = true;
                } else if a.allow_no_value && !no_value_present {
                    sec.insert(i, format!("{o}\n"));
                    msg = "option added";
                    changed = true;
                }
            }
            break;
        }
    } else if let Some(o) = option {
        let keep = |l: &String| match match_opt(o, l, false) {
            None => true,
            Some(_) if a.exclusive => false,
            Some((_, v)) => values.is_empty() || !values.contains(&v),
        };
        if a.exclusive || !values.is_empty() {
            let kept: Vec<String> = sec.iter().filter(|l| keep(l)).cloned().collect();
            if kept != sec {
                changed = true;
                msg = "option changed";
                sec = kept;
            }
        }
    } else if section != FAKE && !sec.is_empty() {
        sec.clear();
        msg = "section removed";
        changed = true;
    }

    let mut lines = before;
    lines.extend(sec);
    lines.extend(after);
    lines.remove(0);
    lines.pop();
    if !within && a.present {
        lines.push(format!("[{section}]\n"));
        msg = "section and option added";
        for (o, vals) in &a.section_has_values {
            if Some(o.as_str()) == option {
                continue;
            }
            if !vals.is_empty() {
                lines.extend(vals.iter().map(|v| assign(o, v)));
            } else if a.allow_no_value {
                lines.push(format!("{o}\n"));
            }
        }
        match option {
            Some(o) if !values.is_empty() => lines.extend(values.iter().map(|v| assign(o, v))),
            Some(o) if a.allow_no_value => lines.push(format!("{o}\n")),
            _ => msg = "only section added",
        }
        changed = true;
    }
    Edited {
        changed,
        text: lines.concat(),
        msg,
    }
}

/// Python's str() of a scalar (`True`, `1.5`).
fn py_str(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Null => "None".into(),
        other => other.to_string(),
    }
}

fn ini_args(args: &Args) -> Result<IniArgs, Fail> {
    let present = args.str("state") != Some("absent");
    let allow_no_value = args.bool_or("allow_no_value", false);
    let values: Vec<String> = match (args.get("value"), args.get("values")) {
        (Some(v), _) => vec![py_str(v)],
        (None, Some(Json::Array(vs))) => vs.iter().filter(|v| !v.is_null()).map(py_str).collect(),
        (None, Some(v)) => vec![py_str(v)],
        _ => Vec::new(),
    };
    let mut conds = Vec::new();
    if let Some(Json::Array(items)) = args.get("section_has_values") {
        for item in items {
            let Some(opt) = item.get("option").and_then(Json::as_str) else {
                return fail::bad_args(
                    "section_has_values: each item needs an option (and optionally values: a list)",
                );
            };
            if let Some(k) = item.as_object().and_then(|m| {
                m.keys()
                    .find(|k| !["option", "values"].contains(&k.as_str()))
            }) {
                return fail::bad_args(format!(
                    "section_has_values: unknown key '{k}' (option and values are known)"
                ));
            }
            let vals = match item.get("values") {
                Some(Json::Array(vs)) => vs.iter().map(py_str).collect(),
                None | Some(Json::Null) => Vec::new(),
                Some(v) => vec![py_str(v)],
            };
            conds.push((opt.to_string(), vals));
        }
    }
    if present && !allow_no_value && values.is_empty() {
        return fail::bad_args(
            "Parameter 'value(s)' must be defined if state=present and allow_no_value=False.",
        );
    }
    Ok(IniArgs {
        section: args.string("section"),
        section_has_values: conds,
        option: args.string("option"),
        values,
        present,
        exclusive: args.bool_or("exclusive", true),
        no_extra_spaces: args.bool_or("no_extra_spaces", false),
        ignore_spaces: args.bool_or("ignore_spaces", false),
        allow_no_value,
        modify_inplace: args.bool_or("modify_inplace", false),
    })
}

pub struct IniFile;

impl Module for IniFile {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        ini_args(args)?;
        Ok(text_edit::edit_needs(args))
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let path = args.str("path").unwrap_or_default();
        let a = ini_args(args)?;
        let (mut st, host) = text_edit::edited(args, facts)?;
        if !args.bool_or("follow", false) {
            // Ansible writes over the link itself (it becomes a regular file).
            st.path = path.to_string();
        }
        let original = if st.exists() {
            Some(text_edit::text_of(&st)?)
        } else {
            None
        };
        if original.is_none() && !args.bool_or("create", true) {
            return fail::fail(format!("Destination {path} does not exist!"));
        }
        let e = edit_ini(original.as_deref(), &a);
        let mut plan = if !e.changed && original.is_none() {
            Plan::Done(Outcome::ok())
        } else {
            let new = if e.changed {
                e.text
            } else {
                original.unwrap_or_default()
            };
            text_edit::text_plan(args, &st, host, &new, e.msg, ctx.diff)?
        };
        if let Some(o) = plan.outcome_mut() {
            o.msg = Some(e.msg.to_string());
            o.data.insert("path".into(), json!(path));
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(section: Option<&str>, option: &str, values: &[&str]) -> IniArgs {
        IniArgs {
            section: section.map(str::to_string),
            option: Some(option.into()),
            values: values.iter().map(|v| v.to_string()).collect(),
            present: true,
            exclusive: true,
            ..Default::default()
        }
    }

    fn run(text: Option<&str>, a: &IniArgs) -> (bool, String, &'static str) {
        let e = edit_ini(text, a);
        (e.changed, e.text, e.msg)
    }

    #[test]
    fn new_file_and_new_section_bytes() {
        let a = set(Some("drinks"), "fav", &["lemonade"]);
        let (c, t, m) = run(None, &a);
        assert!(c);
        assert_eq!(t, "\n[drinks]\nfav = lemonade\n");
        assert_eq!(m, "section and option added");
        assert_eq!(run(Some(&t), &a), (false, t.clone(), "OK"));
        let (c, t2, m) = run(Some(&t), &set(Some("drinks"), "fav", &["tea"]));
        assert!(c);
        assert_eq!(t2, "\n[drinks]\nfav = tea\n");
        assert_eq!(m, "option changed");
        let (_, t3, m) = run(Some(&t2), &set(Some("drinks"), "beverage", &["water"]));
        assert_eq!(t3, "\n[drinks]\nfav = tea\nbeverage = water\n");
        assert_eq!(m, "option added");
        let (_, t4, _) = run(Some("[a]\nx = 1\n"), &set(Some("b"), "y", &["2"]));
        assert_eq!(t4, "[a]\nx = 1\n[b]\ny = 2\n");
    }

    #[test]
    fn options_go_after_the_last_content_line_of_the_section() {
        let text = "[a]\nx = 1\n\n# c\n[b]\nz = 3\n";
        let (_, t, _) = run(Some(text), &set(Some("a"), "y", &["2"]));
        assert_eq!(t, "[a]\nx = 1\ny = 2\n\n# c\n[b]\nz = 3\n");
        // no section: before the first section
        let (_, t, _) = run(Some(text), &set(None, "top", &["1"]));
        assert_eq!(t, "top = 1\n[a]\nx = 1\n\n# c\n[b]\nz = 3\n");
        // a missing final newline is a change
        let (c, t, m) = run(Some("[a]\nx = 1"), &set(Some("a"), "x", &["1"]));
        assert_eq!((c, t.as_str(), m), (true, "[a]\nx = 1\n", "OK"));
    }

    #[test]
    fn spaces_exclusive_values_and_removal() {
        let a = IniArgs {
            no_extra_spaces: true,
            ..set(Some("a"), "x", &["1"])
        };
        assert_eq!(run(Some("[a]\nx = 1\n"), &a).1, "[a]\nx=1\n");
        let a = IniArgs {
            ignore_spaces: true,
            ..set(Some("a"), "x", &["1"])
        };
        assert!(!run(Some("[a]\nx   =1\n"), &a).0);
        // exclusive: other lines of the option go
        let (_, t, _) = run(
            Some("[a]\nx = 1\nx = 2\nx = 3\n"),
            &set(Some("a"), "x", &["3", "4"]),
        );
        assert_eq!(t, "[a]\nx = 4\nx = 3\n");
        // not exclusive: added beside
        let a = IniArgs {
            exclusive: false,
            ..set(Some("a"), "x", &["5"])
        };
        assert_eq!(run(Some("[a]\nx = 1\n"), &a).1, "[a]\nx = 1\nx = 5\n");
        // absent: every line of the option
        let a = IniArgs {
            present: false,
            ..set(Some("a"), "x", &[])
        };
        assert_eq!(
            run(Some("[a]\nx = 1\ny = 2\nx = 3\n"), &a),
            (true, "[a]\ny = 2\n".into(), "option changed")
        );
        // absent, not exclusive: only the given values
        let a = IniArgs {
            present: false,
            exclusive: false,
            ..set(Some("a"), "x", &["3"])
        };
        assert_eq!(run(Some("[a]\nx = 1\nx = 3\n"), &a).1, "[a]\nx = 1\n");
        // a whole section
        let a = IniArgs {
            present: false,
            option: None,
            ..set(Some("a"), "", &[])
        };
        assert_eq!(
            run(Some("[a]\nx = 1\n[b]\ny = 2\n"), &a),
            (true, "[b]\ny = 2\n".into(), "section removed")
        );
        assert!(!run(None, &a).0);
    }

    #[test]
    fn no_value_inplace_and_section_has_values() {
        let a = IniArgs {
            allow_no_value: true,
            ..set(Some("mysqld"), "skip-name-resolve", &[])
        };
        let (_, t, _) = run(Some("[mysqld]\nport = 3306\n"), &a);
        assert_eq!(t, "[mysqld]\nport = 3306\nskip-name-resolve\n");
        assert!(!run(Some(&t), &a).0);
        let a = IniArgs {
            modify_inplace: true,
            ..set(Some("a"), "x", &["2"])
        };
        assert_eq!(
            run(Some("[a]\n# x = 1\ny = 0\n"), &a).1,
            "[a]\nx = 2\ny = 0\n"
        );
        let a = IniArgs {
            section_has_values: vec![("name".into(), vec!["b".into()])],
            ..set(Some("peer"), "ip", &["10.0.0.2"])
        };
        let text = "[peer]\nname = a\nip = 1\n[peer]\nname = b\nip = 2\n";
        assert_eq!(
            run(Some(text), &a).1,
            "[peer]\nname = a\nip = 1\n[peer]\nname = b\nip = 10.0.0.2\n"
        );
        let (_, t, _) = run(Some("[peer]\nname = a\n"), &a);
        assert_eq!(t, "[peer]\nname = a\n[peer]\nname = b\nip = 10.0.0.2\n");
    }
}
