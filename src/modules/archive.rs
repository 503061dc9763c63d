//! archive (community.general.archive): files and directories packed into a
//! tar (optionally gz, bz2, xz compressed) or zip archive, or one file
//! compressed (gz, bz2, xz), optionally removing the sources.
//!
//! On the module protocol: one read-only probe (`archive.py`, run by the
//! host's python3, as Ansible's module is) expands the paths and exclusions
//! and lists what the archive would hold (name, type, sha256 of the content or
//! link target, mode) and what the existing archive holds (read, not
//! extracted). Rust decides by content: an archive holding the same entries is
//! left alone whatever its bytes (compression headers, member times), so a
//! second run changes nothing. The change (never in check mode) runs the same
//! program to write the archive beside `dest` and rename it over, removes the
//! sources with `remove`, then sets `mode`/`owner`/`group`.

use serde_json::json;

use super::attrs::id_matches;
use super::fail::{self, Fail};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::sysconf::{script_applied, script_plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static ARCHIVE: Spec = Spec::new(
    "archive",
    &[
        ArgSpec::new("path", Kind::List).required(),
        ArgSpec::new("dest", Kind::Str),
        ArgSpec::new("format", Kind::Choice(&["gz", "bz2", "xz", "zip", "tar"])),
        ArgSpec::new("exclude_path", Kind::List),
        ArgSpec::new("exclusion_patterns", Kind::List),
        ArgSpec::new("force_archive", Kind::Bool),
        ArgSpec::new("remove", Kind::Bool),
        ArgSpec::new("owner", Kind::Str),
        ArgSpec::new("group", Kind::Str),
        ArgSpec::new("mode", Kind::Mode),
    ],
);

pub struct Archive;

const PROGRAM: &str = include_str!("archive.py");

fn config(args: &Args, mode: &str) -> String {
    use base64::Engine;
    let c = json!({
        "paths": args.strings("path"),
        "dest": args.str("dest"),
        "format": args.str("format").unwrap_or("gz"),
        "exclude_path": args.strings("exclude_path"),
        "exclusion_patterns": args.strings("exclusion_patterns"),
        "force_archive": args.bool_or("force_archive", false),
        "remove": args.bool_or("remove", false),
        "mode": mode,
    });
    base64::engine::general_purpose::STANDARD.encode(c.to_string())
}

/// The program run by python3 with its configuration (`probe` or `write`).
fn python(args: &Args, mode: &str) -> String {
    format!(
        "if ! command -v python3 >/dev/null 2>&1; then echo '{{\"error\": \"python3 is not installed on the host (archive runs with it): install python3\"}}'; else\n\
         python3 - {} <<'OPSCTL_ARCHIVE_PY'\n{PROGRAM}OPSCTL_ARCHIVE_PY\nfi\n",
        config(args, mode)
    )
}

fn probe(args: &Args) -> String {
    format!("# opsctl archive: read\n{}", python(args, "probe"))
}

/// What the probe found.
#[derive(Debug, serde::Deserialize)]
struct Read {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    missing: Vec<String>,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    excluded: Vec<String>,
    #[serde(default)]
    root: String,
    #[serde(default)]
    archive: bool,
    dest: Option<String>,
    /// (name, type, sha256 or link target, mode).
    #[serde(default)]
    entries: Vec<(String, String, String, u32)>,
    dest_entries: Option<Vec<(String, String, String, u32)>>,
    #[serde(default)]
    dest_error: Option<String>,
    #[serde(default)]
    dest_stat: Option<DestStat>,
}

#[derive(Debug, serde::Deserialize)]
struct DestStat {
    mode: u32,
    uid: u32,
    gid: u32,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    group: String,
}

fn listing(entries: &[(String, String, String, u32)]) -> String {
    entries
        .iter()
        .map(|(n, t, v, _)| match t.as_str() {
            "d" => format!("{n}/\n"),
            "l" => format!("{n} -> {v}\n"),
            _ => format!("{n} (sha256 {})\n", v.get(..12).unwrap_or(v)),
        })
        .collect()
}

fn sorted(mut v: Vec<(String, String, String, u32)>) -> Vec<(String, String, String, u32)> {
    v.sort();
    v
}

impl Module for Archive {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        if args.strings("path").is_empty() {
            return fail::bad_args("path: give at least one path");
        }
        Ok(vec![Need::Probe(probe(args))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let out = facts.probe(&probe(args))?;
        let r: Read = serde_json::from_slice(&out.stdout).map_err(|e| {
            Fail::Task(format!(
                "reading the sources failed: {e}: {}",
                out.stderr_str().trim()
            ))
        })?;
        if let Some(e) = r.error {
            return fail::fail(e);
        }
        let format = args.str("format").unwrap_or("gz");
        let mut o = Outcome::ok();
        o.data.insert("missing".into(), json!(r.missing));
        o.data.insert("expanded_paths".into(), json!(r.targets));
        o.data
            .insert("expanded_exclude_paths".into(), json!(r.excluded));
        o.data.insert("arcroot".into(), json!(r.root));
        let Some(dest) = r.dest.clone() else {
            if r.targets.is_empty() {
                return fail::fail(format!(
                    "Error, no source paths were found: {}",
                    args.strings("path").join(", ")
                ));
            }
            return fail::bad_args(
                "Error, must specify dest when archiving multiple files or trees",
            );
        };
        o.data.insert("dest".into(), json!(dest));
        let state = if r.archive { "archive" } else { "compress" };
        if r.targets.is_empty() {
            // Nothing left to archive (removed by an earlier run): the archive
            // stands as it is.
            if r.dest_stat.is_some() {
                o.data.insert("state".into(), json!(state));
                o.data.insert("dest_state".into(), json!(state));
                o.data.insert("archived".into(), json!([]));
                return Ok(Plan::Done(o));
            }
            return fail::fail(format!(
                "Error, no source paths were found: {}",
                args.strings("path").join(", ")
            ));
        }
        let archived: Vec<&String> = r.entries.iter().map(|e| &e.0).collect();
        o.data.insert("archived".into(), json!(archived));
        o.data.insert("state".into(), json!(state));
        o.data.insert(
            "dest_state".into(),
            json!(if r.missing.is_empty() {
                state
            } else {
                "incomplete"
            }),
        );
        let same = r
            .dest_entries
            .as_ref()
            .is_some_and(|d| sorted(d.clone()) == sorted(r.entries.clone()));
        let remove = args.bool_or("remove", false);
        // owner/group/mode of the archive
        let base = r.dest_stat.as_ref().map_or(0o644, |s| s.mode);
        let mode = super::crypto::mode(args, base, 0o022)?;
        let mut attrs = Vec::new();
        let (owner, group) = (args.str("owner"), args.str("group"));
        let st = r.dest_stat.as_ref().filter(|_| same);
        if let Some(m) = mode
            && st.is_none_or(|s| s.mode != m)
        {
            attrs.push(format!("chmod {m:o} -- \"$d\" || exit 3\n"));
        }
        if let Some(u) = owner
            && st.is_none_or(|s| !id_matches(u, &s.owner, s.uid))
        {
            attrs.push(format!("chown {} -- \"$d\" || exit 3\n", shell_quote(u)));
        }
        if let Some(g) = group
            && st.is_none_or(|s| !id_matches(g, &s.group, s.gid))
        {
            attrs.push(format!("chgrp {} -- \"$d\" || exit 3\n", shell_quote(g)));
        }
        if same && !remove && attrs.is_empty() {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        let mut what = Vec::new();
        if !same {
            what.push(if r.dest_stat.is_none() {
                format!("{dest} created ({format})")
            } else {
                format!("{dest} rewritten: its content differed")
            });
            if ctx.diff {
                let before = match (&r.dest_entries, &r.dest_error) {
                    (Some(d), _) => listing(d),
                    (None, Some(e)) => format!("(unreadable: {e})\n"),
                    (None, None) => String::new(),
                };
                o.diffs
                    .push(Diff::new(dest.clone(), before, listing(&r.entries)));
            }
        }
        if remove {
            what.push("sources removed".into());
        }
        if !attrs.is_empty() {
            what.push("attributes set".into());
        }
        o.msg = Some(what.join(", "));
        let mut s = format!("# opsctl archive: {dest}\nd={}\n", shell_quote(&dest));
        if !same || remove {
            s.push_str(&format!(
                "( {} ) || exit 2\n",
                python(args, "write").trim_end()
            ));
        }
        for a in attrs {
            s.push_str(&a);
        }
        Ok(script_plan(o, s, None))
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        script_applied(planned, result, |rc| match rc {
            Some(3) => "setting the archive's owner, group or mode failed".into(),
            _ => "writing the archive failed".into(),
        })
    }
}
