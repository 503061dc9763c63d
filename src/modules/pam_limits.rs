//! pam_limits (community.general.pam_limits): one limit of
//! `/etc/security/limits.conf` (or a file of `limits.d`).
//!
//! On the module protocol: the file is a path read whole; Rust edits it as
//! Ansible does (the line of the domain, type and item gets the new value,
//! tab-separated, with `use_max`/`use_min` keeping the larger or smaller;
//! otherwise a line is appended; other lines are left as they are), and the
//! change, never in check mode, writes it atomically (`backup`); `--diff`
//! shows the file before and after.

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::remote_file::{ContentReq, Req};
use super::sysconf::text_file_plan;
use super::{ArgSpec, Args, Kind, Spec};

pub static PAM_LIMITS: Spec = Spec {
    mutually_exclusive: &[&["use_max", "use_min"]],
    ..Spec::new(
        "pam_limits",
        &[
            ArgSpec::new("domain", Kind::Str).required(),
            ArgSpec::new("limit_type", Kind::Choice(&["hard", "soft", "-"])).required(),
            ArgSpec::new(
                "limit_item",
                Kind::Choice(&[
                    "core",
                    "data",
                    "fsize",
                    "memlock",
                    "nofile",
                    "rss",
                    "stack",
                    "cpu",
                    "nproc",
                    "as",
                    "maxlogins",
                    "maxsyslogins",
                    "priority",
                    "locks",
                    "sigpending",
                    "msgqueue",
                    "nice",
                    "rtprio",
                    "chroot",
                ]),
            )
            .required(),
            ArgSpec::new("value", Kind::Str).required(),
            ArgSpec::new("use_max", Kind::Bool),
            ArgSpec::new("use_min", Kind::Bool),
            ArgSpec::new("backup", Kind::Bool),
            ArgSpec::new("dest", Kind::Str),
            ArgSpec::new("comment", Kind::Str),
        ],
    )
};

pub struct PamLimits;

fn dest(args: &Args) -> String {
    args.string("dest")
        .unwrap_or_else(|| "/etc/security/limits.conf".into())
}

fn req(args: &Args) -> Req {
    Req::new(dest(args)).follow(true).content(ContentReq::Whole)
}

const UNLIMITED: &[&str] = &["unlimited", "infinity", "-1"];

fn valid(v: &str, item: &str) -> bool {
    let signed = matches!(item, "priority" | "nice");
    UNLIMITED.contains(&v)
        || (!v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
        || (signed
            && v.strip_prefix('-')
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())))
}

struct Want<'a> {
    domain: &'a str,
    ltype: &'a str,
    item: &'a str,
    value: &'a str,
    use_max: bool,
    use_min: bool,
    comment: &'a str,
}

/// The value to write over `actual` (Ansible's use_max / use_min rules).
fn new_value(w: &Want, actual: &str) -> String {
    let num = |s: &str| s.parse::<i64>().ok().filter(|_| !UNLIMITED.contains(&s));
    if w.use_max {
        return match (num(w.value), num(actual)) {
            (Some(a), Some(b)) => a.max(b).to_string(),
            _ if UNLIMITED.contains(&actual) => actual.to_string(),
            _ => w.value.to_string(),
        };
    }
    if w.use_min {
        return match (num(w.value), num(actual)) {
            (Some(a), Some(b)) => a.min(b).to_string(),
            _ if UNLIMITED.contains(&w.value) => actual.to_string(),
            _ => w.value.to_string(),
        };
    }
    w.value.to_string()
}

fn limit_line(w: &Want, value: &str, comment: &str) -> String {
    let c = if comment.is_empty() {
        String::new()
    } else {
        format!("\t#{comment}")
    };
    format!("{}\t{}\t{}\t{value}{c}\n", w.domain, w.ltype, w.item)
}

/// The edited file and the line for the limit (Ansible's `msg`).
fn edit(text: &str, w: &Want, dest: &str) -> Result<(String, String), String> {
    let mut out = String::new();
    let mut found = false;
    let mut message = String::new();
    for line in text.split_inclusive('\n') {
        if line.trim().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let squeezed: Vec<&str> = line.split_whitespace().collect();
        if squeezed.is_empty() {
            out.push_str(line);
            continue;
        }
        let (fields, old_comment) = match line.split_once('#') {
            Some((f, c)) => (f, c.trim_end_matches(['\n', '\r'])),
            None => (line, ""),
        };
        let f: Vec<&str> = fields.split_whitespace().collect();
        if f.len() != 4 {
            out.push_str(line);
            continue;
        }
        let (d, t, i, actual) = (f[0], f[1], f[2], f[3]);
        if !valid(actual, i) {
            return Err(format!(
                "Invalid configuration of '{}'. Current value of {i} is unsupported.",
                dest
            ));
        }
        if d == w.domain && t == w.ltype && i == w.item {
            found = true;
            let nv = new_value(w, actual);
            if nv != actual {
                let comment = if w.comment.is_empty() {
                    old_comment
                } else {
                    w.comment
                };
                let l = limit_line(w, &nv, comment);
                message = l.clone();
                out.push_str(&l);
            } else {
                message = line.to_string();
                out.push_str(line);
            }
        } else {
            out.push_str(line);
        }
    }
    if !found {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        let l = limit_line(w, w.value, w.comment);
        message = l.clone();
        out.push_str(&l);
    }
    Ok((out, message))
}

impl Module for PamLimits {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Host, Need::Path(req(args))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = Want {
            domain: args.str("domain").unwrap_or_default(),
            ltype: args.str("limit_type").unwrap_or_default(),
            item: args.str("limit_item").unwrap_or_default(),
            value: args.str("value").unwrap_or_default(),
            use_max: args.bool_or("use_max", false),
            use_min: args.bool_or("use_min", false),
            comment: args.str("comment").unwrap_or_default(),
        };
        if w.domain.trim().is_empty() || w.domain.contains(char::is_whitespace) {
            return fail::bad_args(format!(
                "domain: '{}' must be one word (a user, @group, * or %)",
                w.domain
            ));
        }
        if !valid(w.value, w.item) {
            return fail::bad_args(
                "Argument 'value' can be one of 'unlimited', 'infinity', '-1' or positive number. Refer to manual pages for more details.",
            );
        }
        let host = facts.host()?;
        let st = facts.path(&req(args))?.clone();
        let text = String::from_utf8_lossy(st.content.as_deref().unwrap_or_default()).into_owned();
        let (new, message) = edit(&text, &w, &dest(args)).map_err(Fail::Task)?;
        let mut plan = text_file_plan(&st, host, &new, args.bool_or("backup", false), ctx.diff)?;
        if let Some(o) = plan.outcome_mut() {
            o.msg = Some(message.trim_end().to_string());
            o.data.insert("msg".into(), json!(message));
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w<'a>(value: &'a str) -> Want<'a> {
        Want {
            domain: "app",
            ltype: "soft",
            item: "nofile",
            value,
            use_max: false,
            use_min: false,
            comment: "",
        }
    }

    #[test]
    fn edits_like_ansible() {
        let text = "# /etc/security/limits.conf\n*   hard   core   0\napp soft nofile 1024 # old\n";
        let (new, msg) = edit(text, &w("65536"), "l").unwrap();
        assert_eq!(
            new,
            "# /etc/security/limits.conf\n*   hard   core   0\napp\tsoft\tnofile\t65536\t# old\n"
        );
        assert_eq!(msg, "app\tsoft\tnofile\t65536\t# old\n");
        assert_eq!(edit(&new, &w("65536"), "l").unwrap().0, new);
        let (added, _) = edit("", &w("4096"), "l").unwrap();
        assert_eq!(added, "app\tsoft\tnofile\t4096\n");
        let max = Want {
            use_max: true,
            ..w("100")
        };
        assert_eq!(edit(&added, &max, "l").unwrap().0, added);
        let min = Want {
            use_min: true,
            ..w("100")
        };
        assert_eq!(
            edit(&added, &min, "l").unwrap().0,
            "app\tsoft\tnofile\t100\n"
        );
        assert!(edit("x y z bogus\n", &w("1"), "l").is_err());
        assert!(valid("-5", "nice") && !valid("-5", "nofile") && valid("unlimited", "nofile"));
    }
}
