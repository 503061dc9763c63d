//! sysctl (ansible.posix.sysctl): a kernel parameter in a sysctl file
//! (`/etc/sysctl.conf` by default) and, with `sysctl_set`, its running value.
//!
//! On the module protocol: the file is a path read whole and the running
//! value a probe (`sysctl -n KEY`); Rust rewrites the file as Ansible does
//! (every `key = value` line normalised to `key=value`, later duplicates of a
//! key dropped, comments and blank lines kept, the key appended when new).
//! The change, never in check mode, writes the file atomically, sets the
//! running value (`sysctl -w`) when asked, and reloads the file (`sysctl -p
//! FILE`, with `-e` under `ignoreerrors`) unless `reload: false`.

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::sysconf::{
    b64_field, probe_fields, script_applied, script_plan, text_of, text_req, write_stdin,
};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static SYSCTL: Spec = Spec::new(
    "sysctl",
    &[
        ArgSpec::new("name", Kind::Str).required().aliases(&["key"]),
        ArgSpec::new("value", Kind::Str).aliases(&["val"]),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("ignoreerrors", Kind::Bool),
        ArgSpec::new("reload", Kind::Bool),
        ArgSpec::new("sysctl_file", Kind::Str),
        ArgSpec::new("sysctl_set", Kind::Bool),
    ],
);

pub struct Sysctl;

#[derive(Debug)]
struct Want {
    name: String,
    value: Option<String>,
    present: bool,
    ignoreerrors: bool,
    reload: bool,
    file: String,
    set: bool,
}

fn want(args: &Args) -> Result<Want, Fail> {
    let name = args.str("name").unwrap_or_default().trim().to_string();
    if name.is_empty() || name.contains(['=', ' ', '\n', '\'', '"']) {
        return fail::bad_args(format!("name: '{name}' is not a sysctl key"));
    }
    let present = args.str("state") != Some("absent");
    let value = args.str("value").map(normalise_value);
    if present && value.is_none() {
        return fail::bad_args("value cannot be None (state is present)");
    }
    if value.as_deref().is_some_and(|v| v.contains('\n')) {
        return fail::bad_args("value must be one line");
    }
    Ok(Want {
        name,
        value,
        present,
        ignoreerrors: args.bool_or("ignoreerrors", false),
        reload: args.bool_or("reload", true),
        file: args
            .string("sysctl_file")
            .unwrap_or_else(|| "/etc/sysctl.conf".into()),
        set: args.bool_or("sysctl_set", false),
    })
}

/// Ansible's `_parse_value`: booleans become 1/0, other values are stripped.
fn normalise_value(v: &str) -> String {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" => "1".into(),
        "no" | "off" | "false" => "0".into(),
        _ => v.trim().to_string(),
    }
}

/// Values are equal when their words are (`4096 16384` and `4096\t16384`).
fn same_value(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// A `key = value` line of a sysctl file (not a comment or a blank).
fn entry(line: &str) -> Option<(&str, &str)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
        return None;
    }
    t.split_once('=').map(|(k, v)| (k.trim(), v.trim()))
}

/// The value the file gives `name` (the last line for it wins).
fn file_value(text: &str, name: &str) -> Option<String> {
    text.lines()
        .filter_map(entry)
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .next_back()
}

/// Ansible's `fix_lines`: the file with `name` set (or removed).
fn rewrite(text: &str, name: &str, value: Option<&str>) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    for line in text.lines() {
        let Some((k, v)) = entry(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        if seen.iter().any(|s| s == k) {
            continue;
        }
        seen.push(k.to_string());
        if k == name {
            if let Some(value) = value {
                out.push_str(&format!("{k}={value}\n"));
            }
        } else {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    if let Some(value) = value
        && !seen.iter().any(|s| s == name)
    {
        out.push_str(&format!("{name}={value}\n"));
    }
    out
}

fn probe(name: &str) -> String {
    format!(
        "# opsctl sysctl: read {name}\ncommand -v sysctl >/dev/null 2>&1 || {{ echo nosysctl=1; exit 0; }}\nk={}\nsysctl -n -- \"$k\" >/dev/null 2>&1; echo rc=$?\n{}",
        shell_quote(name),
        b64_field("value", "sysctl -n -- \"$k\"")
    )
}

impl Module for Sysctl {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = want(args)?;
        Ok(vec![
            Need::Path(text_req(&w.file)),
            Need::Probe(probe(&w.name)),
        ])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = want(args)?;
        let st = facts.path(&text_req(&w.file))?;
        if st.exists() && st.kind != super::remote_file::FType::File {
            return fail::fail(format!("sysctl_file {} is not a regular file", w.file));
        }
        let p = probe_fields(&facts.probe(&probe(&w.name))?.stdout, &["value"]);
        if p.contains_key("nosysctl") {
            return fail::fail(
                "sysctl is not installed on this host: install procps (apt: name=procps)",
            );
        }
        let known = p.get("rc").map(String::as_str) == Some("0");
        let running = known.then(|| {
            p.get("value")
                .cloned()
                .unwrap_or_default()
                .trim()
                .to_string()
        });
        if w.present && !known && !w.ignoreerrors {
            return fail::fail(format!(
                "setting {} failed: the kernel has no such key (sysctl -n {} failed); check the name, or set ignoreerrors: true",
                w.name, w.name
            ));
        }
        let text = text_of(st);
        let in_file = file_value(&text, &w.name);
        let write_file = match (&w.value, w.present) {
            (Some(v), true) => in_file.as_deref().is_none_or(|f| !same_value(f, v)),
            _ => in_file.is_some(),
        };
        let set_running = w.present
            && w.set
            && known
            && !same_value(
                running.as_deref().unwrap_or_default(),
                w.value.as_deref().unwrap_or_default(),
            );
        let mut o = Outcome::ok();
        o.data.insert("name".into(), json!(w.name));
        if let Some(v) = &w.value {
            o.data.insert("value".into(), json!(v));
        }
        o.data.insert("sysctl_file".into(), json!(w.file));
        if !write_file && !set_running {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        let new_text = rewrite(
            &text,
            &w.name,
            w.present.then_some(w.value.as_deref().unwrap_or_default()),
        );
        if ctx.diff {
            if write_file {
                o.diffs
                    .push(Diff::new(w.file.clone(), text.clone(), new_text.clone()));
            }
            if set_running {
                o.diffs.push(Diff::new(
                    format!("{} (running)", w.name),
                    format!("{}\n", running.as_deref().unwrap_or_default()),
                    format!("{}\n", w.value.as_deref().unwrap_or_default()),
                ));
            }
        }
        o.msg = Some(match (w.present, write_file) {
            (true, true) => format!(
                "{} set to {} in {}",
                w.name,
                w.value.as_deref().unwrap_or_default(),
                w.file
            ),
            (true, false) => format!(
                "{} set to {} (running)",
                w.name,
                w.value.as_deref().unwrap_or_default()
            ),
            _ => format!("{} removed from {}", w.name, w.file),
        });
        let mut s = format!("# opsctl sysctl: {}\n", w.name);
        if write_file {
            s.push_str(&write_stdin(&w.file, 0o644, true));
        }
        if set_running {
            s.push_str(&format!(
                "sysctl -w -- {} >/dev/null || exit 2\n",
                shell_quote(&format!(
                    "{}={}",
                    w.name,
                    w.value.as_deref().unwrap_or_default()
                ))
            ));
        }
        if write_file && w.reload {
            let e = if w.ignoreerrors { "-e " } else { "" };
            s.push_str(&format!("sysctl {e}-p \"$f\" >/dev/null || exit 3\n"));
        }
        let stdin = write_file.then(|| new_text.into_bytes());
        Ok(script_plan(o, s, stdin))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let w = want(args)?;
        script_applied(planned, result, |rc| match rc {
            Some(2) => format!("setting {} failed", w.name),
            Some(3) => "Failed to reload sysctl".to_string(),
            _ => format!("writing {} failed", w.file),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_like_ansible() {
        let text =
            "# comment\nnet.ipv4.ip_forward = 0\n\nvm.swappiness=10\nnet.ipv4.ip_forward=1\n";
        assert_eq!(
            file_value(text, "net.ipv4.ip_forward").as_deref(),
            Some("1")
        );
        assert_eq!(
            rewrite(text, "net.ipv4.ip_forward", Some("1")),
            "# comment\nnet.ipv4.ip_forward=1\n\nvm.swappiness=10\n"
        );
        assert_eq!(
            rewrite(text, "net.ipv4.ip_forward", None),
            "# comment\n\nvm.swappiness=10\n"
        );
        assert_eq!(rewrite("", "a.b", Some("2")), "a.b=2\n");
        assert!(same_value("4096 16384", "4096\t16384"));
        assert_eq!(normalise_value("yes"), "1");
        assert_eq!(normalise_value("False"), "0");
        assert_eq!(normalise_value(" 65535 "), "65535");
    }
}
