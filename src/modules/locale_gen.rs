//! locale_gen (community.general.locale_gen): locales compiled (or not) on a
//! Debian host.
//!
//! On the module protocol: `/etc/locale.gen` is a path read whole; the
//! compiled locales (`locale -a`), the supported ones
//! (`/usr/share/i18n/SUPPORTED`) and `locale-gen` itself are a probe. Rust
//! decides as Ansible does (a locale is present when `locale -a` lists it,
//! `en_US.utf8` naming `en_US.UTF-8`), then uncomments (or comments out) its
//! line in `/etc/locale.gen` (appending it from SUPPORTED when the file
//! lacks it) and runs `locale-gen`, never in check mode.

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::sysconf::{b64_field, probe_fields, script_plan, text_of, text_req, write_stdin};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};

pub static LOCALE_GEN: Spec = Spec::new(
    "locale_gen",
    &[
        ArgSpec::new("name", Kind::List).required(),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
    ],
);

pub struct LocaleGen;

const LOCALE_GEN_FILE: &str = "/etc/locale.gen";

const PROBE: &str = "# opsctl locale_gen: read\n";

fn probe() -> String {
    format!(
        "{PROBE}command -v locale-gen >/dev/null 2>&1 || echo nolocalegen=1\n{}{}",
        b64_field("compiled", "locale -a"),
        b64_field("supported", "cat /usr/share/i18n/SUPPORTED"),
    )
}

/// Ansible's `fix_case`: `en_US.utf8` -> `en_US.UTF-8`.
fn normalise(name: &str) -> String {
    const FORMS: &[(&str, &str)] = &[
        (".utf8", ".UTF-8"),
        (".eucjp", ".EUC-JP"),
        (".iso885915", ".ISO-8859-15"),
        (".cp1251", ".CP1251"),
        (".koi8r", ".KOI8-R"),
        (".armscii8", ".ARMSCII-8"),
        (".euckr", ".EUC-KR"),
        (".gbk", ".GBK"),
        (".gb18030", ".GB18030"),
        (".euctw", ".EUC-TW"),
    ];
    let mut n = name.to_string();
    for (from, to) in FORMS {
        n = n.replace(from, to);
    }
    n
}

/// The charset SUPPORTED gives a locale (`en_US.UTF-8 UTF-8`), if it is there.
fn supported_charset(supported: &str, name: &str) -> Option<String> {
    supported.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(name)).then(|| it.next().unwrap_or("UTF-8").to_string())
    })
}

/// `/etc/locale.gen` with `name`'s line enabled or commented out (appended
/// when enabling a locale the file lacks).
fn set_line(text: &str, name: &str, charset: &str, enable: bool) -> String {
    let mut found = false;
    let mut out = String::new();
    for line in text.lines() {
        let bare = line.trim_start_matches('#').trim_start();
        let mut words = bare.split_whitespace();
        if words.next() == Some(name) && words.next().is_some() {
            found = true;
            let rest = bare[name.len()..].trim();
            out.push_str(&if enable {
                format!("{name} {rest}\n")
            } else {
                format!("# {name} {rest}\n")
            });
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if enable && !found {
        out.push_str(&format!("{name} {charset}\n"));
    }
    out
}

impl Module for LocaleGen {
    fn needs(&self, _: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![
            Need::Path(text_req(LOCALE_GEN_FILE)),
            Need::Probe(probe()),
        ])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let names = args.strings("name");
        if names.is_empty() {
            return fail::bad_args("name: give at least one locale (such as en_US.UTF-8)");
        }
        let present = args.str("state") != Some("absent");
        let p = probe_fields(&facts.probe(&probe())?.stdout, &["compiled", "supported"]);
        if p.contains_key("nolocalegen") {
            return fail::fail(
                "locale-gen is not installed on this host: install the locales package first (apt: name=locales)",
            );
        }
        let compiled: Vec<String> = p
            .get("compiled")
            .map(|c| c.lines().map(|l| normalise(l.trim())).collect())
            .unwrap_or_default();
        let supported = p.get("supported").cloned().unwrap_or_default();
        let before = text_of(facts.path(&text_req(LOCALE_GEN_FILE))?);
        let mut text = before.clone();
        let mut changed_names = Vec::new();
        for n in &names {
            let Some(charset) = supported_charset(&supported, n) else {
                return fail::fail(format!(
                    "The locale you've entered is not available on your system: {n} is not in /usr/share/i18n/SUPPORTED"
                ));
            };
            let is_present = compiled.iter().any(|c| *c == normalise(n));
            if is_present != present {
                text = set_line(&text, n, &charset, present);
                changed_names.push(n.clone());
            }
        }
        let mut o = Outcome::ok();
        o.data.insert("name".into(), json!(names));
        o.data.insert("mechanism".into(), json!("glibc"));
        if changed_names.is_empty() {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(format!(
            "{} {}",
            if present { "generated" } else { "removed" },
            changed_names.join(", ")
        ));
        if ctx.diff {
            o.diffs
                .push(Diff::new(LOCALE_GEN_FILE, before.clone(), text.clone()));
        }
        let mut s = String::from("# opsctl locale_gen\n");
        if text != before {
            s.push_str(&write_stdin(LOCALE_GEN_FILE, 0o644, false));
        }
        s.push_str("locale-gen >/dev/null\n");
        let stdin = (text != before).then(|| text.into_bytes());
        Ok(script_plan(o, s, stdin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_locale_gen_like_ansible() {
        let text = "# en_GB.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\nfr_FR.UTF-8 UTF-8\n";
        assert_eq!(
            set_line(text, "en_US.UTF-8", "UTF-8", true),
            "# en_GB.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\nfr_FR.UTF-8 UTF-8\n"
        );
        assert_eq!(
            set_line(text, "fr_FR.UTF-8", "UTF-8", false),
            "# en_GB.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n# fr_FR.UTF-8 UTF-8\n"
        );
        assert_eq!(
            set_line("", "de_DE.UTF-8", "UTF-8", true),
            "de_DE.UTF-8 UTF-8\n"
        );
        assert_eq!(normalise("en_US.utf8"), "en_US.UTF-8");
        assert_eq!(
            supported_charset("en_US ISO-8859-1\nen_US.UTF-8 UTF-8\n", "en_US.UTF-8").as_deref(),
            Some("UTF-8")
        );
    }
}
