//! pamd (community.general.pamd): the rules of one PAM service file
//! (`/etc/pam.d/<name>`): a rule found by its type, control and module path is
//! updated, has a rule inserted before or after it, gains or loses module
//! arguments, or is removed.
//!
//! On the module protocol: the file is a path read whole; Rust edits it as
//! Ansible's module does (every rule that matches is acted on; a rule inserted
//! before or after is not inserted again when the neighbouring rule, comments
//! skipped, already is that rule), and the change, never in check mode, writes
//! it atomically (`backup`); `--diff` shows the file before and after. Unlike
//! Ansible, lines that are not changed keep their spacing (Ansible re-aligns
//! every rule and adds an `# Updated by Ansible - <time>` line), so a second
//! tool reading the file sees only the rules that changed.

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::remote_file::{ContentReq, FType, Req};
use super::sysconf::text_file_plan;
use super::{ArgSpec, Args, Kind, Spec};

const TYPES: &[&str] = &[
    "account",
    "-account",
    "auth",
    "-auth",
    "password",
    "-password",
    "session",
    "-session",
];

pub static PAMD: Spec = Spec::new(
    "pamd",
    &[
        ArgSpec::new("name", Kind::Str).required(),
        ArgSpec::new("type", Kind::Choice(TYPES)).required(),
        ArgSpec::new("control", Kind::Str).required(),
        ArgSpec::new("module_path", Kind::Str).required(),
        ArgSpec::new("new_type", Kind::Choice(TYPES)),
        ArgSpec::new("new_control", Kind::Str),
        ArgSpec::new("new_module_path", Kind::Str),
        ArgSpec::new("module_arguments", Kind::List),
        ArgSpec::new(
            "state",
            Kind::Choice(&[
                "updated",
                "before",
                "after",
                "args_present",
                "args_absent",
                "absent",
            ]),
        ),
        ArgSpec::new("path", Kind::Str),
        ArgSpec::new("backup", Kind::Bool),
    ],
);

pub struct Pamd;

fn file(args: &Args) -> String {
    let dir = args.string("path").unwrap_or_else(|| "/etc/pam.d".into());
    super::paths::join(&dir, args.str("name").unwrap_or_default())
}

fn req(args: &Args) -> Req {
    Req::new(file(args)).follow(true).content(ContentReq::Whole)
}

const SIMPLE_CONTROLS: &[&str] = &[
    "required",
    "requisite",
    "sufficient",
    "optional",
    "include",
    "substack",
    "definitive",
];

const CONTROL_VALUES: &[&str] = &[
    "success",
    "open_err",
    "symbol_err",
    "service_err",
    "system_err",
    "buf_err",
    "perm_denied",
    "auth_err",
    "cred_insufficient",
    "authinfo_unavail",
    "user_unknown",
    "maxtries",
    "new_authtok_reqd",
    "acct_expired",
    "session_err",
    "cred_unavail",
    "cred_expired",
    "cred_err",
    "no_module_data",
    "conv_err",
    "authtok_err",
    "authtok_recover_err",
    "authtok_lock_busy",
    "authtok_disable_aging",
    "try_again",
    "ignore",
    "abort",
    "authtok_expired",
    "module_unknown",
    "bad_item",
    "conv_again",
    "incomplete",
    "default",
];

const CONTROL_ACTIONS: &[&str] = &["ignore", "bad", "die", "ok", "done", "reset"];

/// A control as Ansible compares it: `[a = b  c=d]` is `[a=b c=d]`.
fn norm_control(c: &str) -> String {
    let c = c.trim();
    if !c.starts_with('[') {
        return c.to_string();
    }
    let inner = c.replace(" = ", "=").replace(['[', ']'], "");
    format!(
        "[{}]",
        inner.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

/// Why a control is not one PAM accepts, if it is not.
fn control_error(c: &str) -> Option<String> {
    let c = norm_control(c);
    let Some(inner) = c.strip_prefix('[').and_then(|c| c.strip_suffix(']')) else {
        return (!SIMPLE_CONTROLS.contains(&c.as_str())).then(|| {
            format!(
                "Rule control, {c}, is not valid: a control is one of {} or [value=action ...]",
                SIMPLE_CONTROLS.join(", ")
            )
        });
    };
    for pair in inner.split_whitespace() {
        let Some((value, action)) = pair.split_once('=') else {
            return Some(format!(
                "Rule control, {c}, is not valid: '{pair}' is not value=action"
            ));
        };
        if !CONTROL_VALUES.contains(&value) {
            return Some(format!("Rule control value, {value}, is not valid in {c}"));
        }
        if !CONTROL_ACTIONS.contains(&action) && action.parse::<u32>().is_err() {
            return Some(format!(
                "Rule control action, {action}, is not valid in {c}: one of {} or a number",
                CONTROL_ACTIONS.join(", ")
            ));
        }
    }
    None
}

/// Module arguments split as Ansible does: a `[...]` argument (to the last `]`)
/// is one argument, others are split on whitespace.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let end = if rest.starts_with('[') && rest.rfind(']').is_some() {
            rest.rfind(']').map_or(rest.len(), |i| i + 1)
        } else {
            rest.find(char::is_whitespace).unwrap_or(rest.len())
        };
        out.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    out
}

fn parse_args(list: &[String]) -> Vec<String> {
    list.iter().flat_map(|a| split_args(a)).collect()
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    ty: String,
    control: String,
    path: String,
    args: Vec<String>,
}

impl Rule {
    fn matches(&self, ty: &str, control: &str, path: &str) -> bool {
        self.ty == ty && self.control == norm_control(control) && self.path == path
    }

    /// Ansible's layout of a rule it writes.
    fn render(&self) -> String {
        let mut s = format!("{:<11}{} {}", self.ty, self.control, self.path);
        if !self.args.is_empty() {
            s.push(' ');
            s.push_str(&self.args.join(" "));
        }
        s
    }
}

#[derive(Debug, Clone)]
enum Line {
    /// A comment, an empty line, an `@include`, or what is not a rule: kept.
    Other(String),
    /// A rule, with its text while it is unchanged.
    Rule(Rule, Option<String>),
}

impl Line {
    fn rule(&self) -> Option<&Rule> {
        match self {
            Line::Rule(r, _) => Some(r),
            Line::Other(_) => None,
        }
    }
}

fn parse_rule(line: &str) -> Option<Rule> {
    let t = line.trim_start();
    if t.starts_with('#') || t.starts_with('@') {
        return None;
    }
    let (ty, rest) = t.split_once(char::is_whitespace)?;
    if !TYPES.contains(&ty) {
        return None;
    }
    let rest = rest.trim_start();
    let (control, rest) = if rest.starts_with('[') {
        let end = rest.find(']')? + 1;
        (&rest[..end], &rest[end..])
    } else {
        rest.split_once(char::is_whitespace).unwrap_or((rest, ""))
    };
    let rest = rest.trim_start();
    let (path, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if path.is_empty() {
        return None;
    }
    Some(Rule {
        ty: ty.to_string(),
        control: norm_control(control),
        path: path.to_string(),
        args: split_args(args),
    })
}

fn parse(text: &str) -> Vec<Line> {
    text.lines()
        .map(|l| match parse_rule(l) {
            Some(r) => Line::Rule(r, Some(l.to_string())),
            None => Line::Other(l.to_string()),
        })
        .collect()
}

fn render(lines: &[Line]) -> String {
    let mut out = String::new();
    for l in lines {
        match l {
            Line::Other(t) | Line::Rule(_, Some(t)) => out.push_str(t),
            Line::Rule(r, None) => out.push_str(&r.render()),
        }
        out.push('\n');
    }
    out
}

/// What the task asks for, arguments resolved.
struct Want {
    ty: String,
    control: String,
    path: String,
    new_type: Option<String>,
    new_control: Option<String>,
    new_path: Option<String>,
    /// `module_arguments`, split (`None` when not given).
    args: Option<Vec<String>>,
    state: String,
}

impl Want {
    fn new_rule(&self) -> Rule {
        Rule {
            ty: self.new_type.clone().unwrap_or_default(),
            control: norm_control(self.new_control.as_deref().unwrap_or_default()),
            path: self.new_path.clone().unwrap_or_default(),
            args: self.args.clone().unwrap_or_default(),
        }
    }
}

/// The neighbouring rule of line `i` (comments and other lines skipped).
fn neighbour(lines: &[Line], i: usize, before: bool) -> Option<&Rule> {
    if before {
        lines[..i].iter().rev().find_map(Line::rule)
    } else {
        lines[i + 1..].iter().find_map(Line::rule)
    }
}

/// Ansible's key=value split of arguments (`[...]` ones left out).
fn kv(args: &[String]) -> (Vec<&str>, Vec<(&str, &str)>) {
    let mut simple = Vec::new();
    let mut pairs = Vec::new();
    for a in args.iter().filter(|a| !a.starts_with('[')) {
        match a.split_once('=') {
            Some((k, v)) => pairs.push((k, v)),
            None => simple.push(a.as_str()),
        }
    }
    (simple, pairs)
}

/// Adds (or sets the value of) arguments; true when the rule changed.
fn add_args(rule: &mut Rule, new: &[String]) -> bool {
    let (simple, pairs) = kv(new);
    let mut changed = false;
    for s in simple {
        if !rule.args.iter().any(|a| a == s) {
            rule.args.push(s.to_string());
            changed = true;
        }
    }
    for (k, v) in pairs {
        let pos = rule
            .args
            .iter()
            .position(|a| !a.starts_with('[') && a.split_once('=').is_some_and(|(ak, _)| ak == k));
        let arg = format!("{k}={v}");
        match pos {
            Some(p) if rule.args[p] != arg => {
                rule.args[p] = arg;
                changed = true;
            }
            Some(_) => {}
            None => {
                rule.args.push(arg);
                changed = true;
            }
        }
    }
    changed
}

/// The edited lines and the number of rules changed (Ansible's `change_count`).
fn edit(text: &str, w: &Want) -> Result<(Vec<Line>, usize), String> {
    let mut lines = parse(text);
    let mut changes = 0;
    let mut i = 0;
    while i < lines.len() {
        let Line::Rule(rule, _) = &lines[i] else {
            i += 1;
            continue;
        };
        if !rule.matches(&w.ty, &w.control, &w.path) {
            i += 1;
            continue;
        }
        let mut rule = rule.clone();
        match w.state.as_str() {
            "absent" => {
                lines.remove(i);
                changes += 1;
                continue;
            }
            "before" | "after" => {
                let before = w.state == "before";
                let new = w.new_rule();
                let present = neighbour(&lines, i, before)
                    .is_some_and(|r| r.matches(&new.ty, &new.control, &new.path));
                if !present {
                    check_rule(&new)?;
                    let at = if before { i } else { i + 1 };
                    lines.insert(at, Line::Rule(new, None));
                    changes += 1;
                    i += 1; // past the inserted rule
                }
                i += 1;
                continue;
            }
            "args_present" => {
                if add_args(&mut rule, w.args.as_deref().unwrap_or_default()) {
                    changes += 1;
                    lines[i] = Line::Rule(rule, None);
                }
            }
            "args_absent" => {
                let drop = w.args.as_deref().unwrap_or_default();
                if rule.args.iter().any(|a| drop.contains(a)) {
                    rule.args.retain(|a| !drop.contains(a));
                    changes += 1;
                    lines[i] = Line::Rule(rule, None);
                }
            }
            _ => {
                let old = rule.clone();
                if let Some(t) = &w.new_type {
                    rule.ty = t.clone();
                }
                if let Some(c) = &w.new_control {
                    rule.control = norm_control(c);
                }
                if let Some(p) = &w.new_path {
                    rule.path = p.clone();
                }
                if let Some(a) = &w.args {
                    rule.args = a.clone();
                }
                if rule != old {
                    check_rule(&rule)?;
                    changes += 1;
                    lines[i] = Line::Rule(rule, None);
                }
            }
        }
        i += 1;
    }
    Ok((lines, changes))
}

fn check_rule(r: &Rule) -> Result<(), String> {
    match control_error(&r.control) {
        Some(e) => Err(format!("{e} (rule '{}')", r.render())),
        None => Ok(()),
    }
}

fn want(args: &Args) -> Result<Want, Fail> {
    let state = args.str("state").unwrap_or("updated").to_string();
    let has = |k: &str| args.get(k).is_some_and(|v| !v.is_null());
    let need: &[&str] = match state.as_str() {
        "args_present" | "args_absent" => &["module_arguments"],
        "before" | "after" => &["new_control", "new_type", "new_module_path"],
        _ => &[],
    };
    let missing: Vec<&str> = need.iter().copied().filter(|k| !has(k)).collect();
    if !missing.is_empty() {
        return fail::bad_args(format!(
            "state is {state} but all of the following are missing: {}",
            missing.join(", ")
        ));
    }
    let args_list = has("module_arguments").then(|| parse_args(&args.strings("module_arguments")));
    if state == "args_present"
        && args_list
            .as_ref()
            .is_some_and(|a| a.iter().any(|a| a.starts_with('[')))
    {
        return fail::bad_args(
            "Unable to process bracketed '[' complex arguments with 'args_present'. Please use 'updated'.",
        );
    }
    if let Some(c) = args.str("new_control")
        && let Some(e) = control_error(c)
    {
        return fail::bad_args(format!("new_control: {e}"));
    }
    Ok(Want {
        ty: args.string("type").unwrap_or_default(),
        control: args.string("control").unwrap_or_default(),
        path: args.string("module_path").unwrap_or_default(),
        new_type: args.string("new_type"),
        new_control: args.string("new_control"),
        new_path: args.string("new_module_path"),
        args: args_list,
        state,
    })
}

impl Module for Pamd {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Host, Need::Path(req(args))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = want(args)?;
        let host = facts.host()?;
        let st = facts.path(&req(args))?.clone();
        if st.kind != FType::File {
            return Err(Fail::Task(format!(
                "Unable to open/read PAM module file {}: {}",
                st.path,
                if st.kind == FType::Absent {
                    "no such file (name is a file of path, /etc/pam.d by default)"
                } else {
                    "not a regular file"
                }
            )));
        }
        let text = String::from_utf8_lossy(st.content.as_deref().unwrap_or_default()).into_owned();
        let (lines, changes) = edit(&text, &w).map_err(Fail::Task)?;
        let new = if changes == 0 { text } else { render(&lines) };
        let mut plan = text_file_plan(&st, host, &new, args.bool_or("backup", false), ctx.diff)?;
        if let Some(o) = plan.outcome_mut() {
            o.data.insert("change_count".into(), json!(changes));
            o.data.insert("action".into(), json!(w.state));
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSHD: &str = "#%PAM-1.0\n\
@include common-auth\n\
auth       required     pam_env.so # comment\n\
account    required     pam_nologin.so\n\
# a comment\n\
session [success=ok ignore=ignore module_unknown=ignore default=bad] pam_selinux.so close\n\
session    required     pam_limits.so\n";

    fn w(state: &str, ty: &str, control: &str, path: &str) -> Want {
        Want {
            ty: ty.into(),
            control: control.into(),
            path: path.into(),
            new_type: None,
            new_control: None,
            new_path: None,
            args: None,
            state: state.into(),
        }
    }

    fn run(text: &str, w: &Want) -> (String, usize) {
        let (lines, n) = edit(text, w).unwrap();
        (
            if n == 0 {
                text.to_string()
            } else {
                render(&lines)
            },
            n,
        )
    }

    #[test]
    fn parses_rules_and_keeps_other_lines() {
        let lines = parse(SSHD);
        let rules: Vec<&Rule> = lines.iter().filter_map(Line::rule).collect();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0].args, vec!["#", "comment"]);
        assert_eq!(
            rules[2].control,
            "[success=ok ignore=ignore module_unknown=ignore default=bad]"
        );
        assert_eq!(render(&lines), SSHD);
        assert_eq!(
            norm_control("[ success = ok  default=bad ]"),
            "[success=ok default=bad]"
        );
        assert_eq!(split_args("a  b=c [x y] d"), vec!["a", "b=c", "[x y]", "d"]);
    }

    #[test]
    fn updates_inserts_and_removes_like_ansible() {
        let mut u = w("updated", "session", "required", "pam_limits.so");
        u.new_control = Some("optional".into());
        u.args = Some(vec!["debug".into()]);
        let (out, n) = run(SSHD, &u);
        assert_eq!(n, 1);
        assert!(
            out.ends_with("session    optional pam_limits.so debug\n"),
            "{out}"
        );
        assert_eq!(
            run(&out, &{
                let mut u2 = w("updated", "session", "optional", "pam_limits.so");
                u2.args = Some(vec!["debug".into()]);
                u2
            })
            .1,
            0
        );

        let mut b = w("before", "account", "required", "pam_nologin.so");
        b.new_type = Some("account".into());
        b.new_control = Some("requisite".into());
        b.new_path = Some("pam_time.so".into());
        let (out, n) = run(SSHD, &b);
        assert_eq!(n, 1);
        assert!(
            out.contains(
                "account    requisite pam_time.so\naccount    required     pam_nologin.so\n"
            ),
            "{out}"
        );
        assert_eq!(run(&out, &b).1, 0);

        // after: the next rule, comments skipped, is compared
        let mut a = w("after", "account", "required", "pam_nologin.so");
        a.new_type = Some("session".into());
        a.new_control = Some("[success=ok ignore=ignore module_unknown=ignore default=bad]".into());
        a.new_path = Some("pam_selinux.so".into());
        assert_eq!(run(SSHD, &a).1, 0);
        a.new_path = Some("pam_motd.so".into());
        let (out, n) = run(SSHD, &a);
        assert_eq!(n, 1);
        assert!(out.contains("pam_nologin.so\nsession    [success=ok ignore=ignore module_unknown=ignore default=bad] pam_motd.so\n# a comment"), "{out}");

        let (out, n) = run(SSHD, &w("absent", "auth", "required", "pam_env.so"));
        assert_eq!(n, 1);
        assert!(!out.contains("pam_env"));
        assert_eq!(
            run(&out, &w("absent", "auth", "required", "pam_env.so")).1,
            0
        );
        // a complex control matches however it is spaced
        let (_, n) = run(
            SSHD,
            &w(
                "absent",
                "session",
                "[success=ok  ignore = ignore module_unknown=ignore default=bad]",
                "pam_selinux.so",
            ),
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn module_arguments_present_and_absent() {
        let text = "password [success=1 default=ignore] pam_unix.so obscure sha512 rounds=5000\n";
        let c = "[success=1 default=ignore]";
        let mut p = w("args_present", "password", c, "pam_unix.so");
        p.args = Some(parse_args(&[
            "rounds=65536 remember=5".into(),
            "obscure".into(),
        ]));
        let (out, n) = run(text, &p);
        assert_eq!(n, 1);
        assert_eq!(
            out,
            "password   [success=1 default=ignore] pam_unix.so obscure sha512 rounds=65536 remember=5\n"
        );
        assert_eq!(run(&out, &p).1, 0);
        let mut d = w("args_absent", "password", c, "pam_unix.so");
        d.args = Some(vec!["obscure".into(), "nothere".into()]);
        let (out2, n) = run(&out, &d);
        assert_eq!(n, 1);
        assert!(out2.contains("pam_unix.so sha512 rounds=65536"), "{out2}");
        assert_eq!(run(&out2, &d).1, 0);
    }

    #[test]
    fn an_invalid_new_control_is_refused() {
        assert!(control_error("requred").is_some());
        assert!(control_error("[success=2 default=ignore]").is_none());
        assert!(
            control_error("[success=ok bogus=bad]")
                .unwrap()
                .contains("bogus")
        );
        assert!(control_error("[success=maybe]").unwrap().contains("maybe"));
    }
}
