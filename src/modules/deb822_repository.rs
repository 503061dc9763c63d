//! deb822_repository (ansible.builtin.deb822_repository): an APT source in
//! deb822 format, `/etc/apt/sources.list.d/NAME.sources`.
//!
//! On the module protocol: the file is decided as `copy` decides one (content
//! by sha256, then mode), from the stanza Rust writes: `X-Repolib-Name`,
//! `Types`, `URIs`, `Suites`, `Components`, the optional fields, `Enabled`,
//! then `Signed-By` (a keyring path, or the armored key itself, one
//! indented line each). `signed_by` as a URL is downloaded by the change
//! (curl) to `/etc/apt/keyrings/NAME.asc` when that file is absent (an
//! existing key file is kept). `state: absent` removes the file. Never in
//! check mode; `--diff` shows the file.

use serde_json::json;

use super::attrs::Attrs;
use super::fail::{self, Fail};
use super::mode::ModeSpec;
use super::protocol::{Action, Ctx, Facts, Module, Need, Plan};
use super::regular_file::{FileWant, decide_file, file_plan};
use super::remote_file::{FType, Op, Req};
use super::sysconf::script_plan;
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static DEB822_REPOSITORY: Spec = Spec::new(
    "deb822_repository",
    &[
        ArgSpec::new("name", Kind::Str).required(),
        ArgSpec::new("types", Kind::List),
        ArgSpec::new("uris", Kind::List),
        ArgSpec::new("suites", Kind::List),
        ArgSpec::new("components", Kind::List),
        ArgSpec::new("architectures", Kind::List),
        ArgSpec::new("signed_by", Kind::Str),
        ArgSpec::new("enabled", Kind::Bool),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("mode", Kind::Mode),
        ArgSpec::new("allow_downgrade_to_insecure", Kind::Bool),
        ArgSpec::new("allow_insecure", Kind::Bool),
        ArgSpec::new("allow_weak", Kind::Bool),
        ArgSpec::new("by_hash", Kind::Bool),
        ArgSpec::new("check_date", Kind::Bool),
        ArgSpec::new("check_valid_until", Kind::Bool),
        ArgSpec::new("date_max_future", Kind::Int),
        ArgSpec::new("inrelease_path", Kind::Str),
        ArgSpec::new("languages", Kind::List),
        ArgSpec::new("pdiffs", Kind::Bool),
        ArgSpec::new("targets", Kind::List),
        ArgSpec::new("trusted", Kind::Bool),
        ArgSpec::new("install_python_debian", Kind::Bool),
    ],
);

pub struct Deb822Repository;

const SOURCES_D: &str = "/etc/apt/sources.list.d";
const KEYRINGS: &str = "/etc/apt/keyrings";

/// The file name Ansible derives from `name`.
fn filename(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_whitespace() || c == '_' {
                '-'
            } else {
                c
            }
        })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect()
}

fn dest(args: &Args) -> String {
    format!(
        "{SOURCES_D}/{}.sources",
        filename(args.str("name").unwrap_or_default())
    )
}

fn key_file(args: &Args) -> String {
    format!(
        "{KEYRINGS}/{}.asc",
        filename(args.str("name").unwrap_or_default())
    )
}

fn is_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The stanza.
fn stanza(args: &Args) -> Result<String, Fail> {
    let mut s = format!("X-Repolib-Name: {}\n", args.str("name").unwrap_or_default());
    let list = |k: &str| args.strings(k).join(" ");
    let types = if args.get("types").is_some() {
        list("types")
    } else {
        "deb".into()
    };
    if types.split(' ').any(|t| t != "deb" && t != "deb-src") {
        return fail::bad_args(format!("types: '{types}': each type is deb or deb-src"));
    }
    s.push_str(&format!("Types: {types}\n"));
    for (k, field) in [
        ("uris", "URIs"),
        ("suites", "Suites"),
        ("components", "Components"),
        ("architectures", "Architectures"),
        ("languages", "Languages"),
        ("targets", "Targets"),
    ] {
        if args.get(k).is_some() {
            s.push_str(&format!("{field}: {}\n", list(k)));
        }
    }
    for (k, field) in [
        ("allow_downgrade_to_insecure", "Allow-Downgrade-To-Insecure"),
        ("allow_insecure", "Allow-Insecure"),
        ("allow_weak", "Allow-Weak"),
        ("by_hash", "By-Hash"),
        ("check_date", "Check-Date"),
        ("check_valid_until", "Check-Valid-Until"),
        ("pdiffs", "PDiffs"),
        ("trusted", "Trusted"),
    ] {
        if let Some(b) = args.bool(k) {
            s.push_str(&format!("{field}: {}\n", yes(b)));
        }
    }
    if let Some(d) = args.int("date_max_future") {
        s.push_str(&format!("Date-Max-Future: {d}\n"));
    }
    if let Some(p) = args.str("inrelease_path") {
        s.push_str(&format!("InRelease-Path: {p}\n"));
    }
    s.push_str(&format!(
        "Enabled: {}\n",
        yes(args.bool_or("enabled", true))
    ));
    if let Some(k) = args.str("signed_by") {
        let k = k.trim();
        if is_url(k) {
            s.push_str(&format!("Signed-By: {}\n", key_file(args)));
        } else if k.contains('\n') {
            s.push_str("Signed-By:\n");
            for l in k.lines() {
                if l.trim().is_empty() {
                    s.push_str(" .\n");
                } else {
                    s.push_str(&format!(" {}\n", l.trim_end()));
                }
            }
        } else {
            s.push_str(&format!("Signed-By: {k}\n"));
        }
    }
    Ok(s)
}

fn req(args: &Args, diff: bool) -> Req {
    Req::new(dest(args)).diff_content(diff)
}

fn key_req(args: &Args) -> Req {
    let mut r = Req::new(key_file(args));
    r.sums.clear();
    r
}

impl Module for Deb822Repository {
    fn needs(&self, args: &Args, ctx: &Ctx) -> Result<Vec<Need>, Fail> {
        let mut v = vec![Need::Host, Need::Path(req(args, ctx.diff))];
        if args.str("signed_by").is_some_and(is_url) {
            v.push(Need::Path(key_req(args)));
        }
        Ok(v)
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let name = args.str("name").unwrap_or_default();
        if filename(name).is_empty() {
            return fail::bad_args(format!("name: '{name}' gives no file name"));
        }
        let st = facts.path(&req(args, ctx.diff))?.clone();
        let present = args.str("state") != Some("absent");
        if !present {
            let mut o = Outcome::ok();
            o.data.insert("dest".into(), json!(st.path));
            o.data.insert("state".into(), json!("absent"));
            if !st.exists() {
                return Ok(Plan::Done(o));
            }
            o.changed = true;
            o.msg = Some(format!("{} removed", st.path));
            if ctx.diff {
                let before =
                    String::from_utf8_lossy(st.content.as_deref().unwrap_or_default()).into_owned();
                o.diffs
                    .push(Diff::new(st.path.clone(), before, String::new()));
            }
            return Ok(Plan::change(
                o,
                Action::Files {
                    ops: vec![Op::Remove(st.path.clone())],
                    validate: None,
                },
            ));
        }
        if args.get("uris").is_none() || args.get("suites").is_none() {
            return fail::bad_args("uris and suites are required with state: present");
        }
        let content = stanza(args)?;
        let mode = args.get("mode").cloned().unwrap_or(json!("0644"));
        let attrs = Attrs {
            mode: Some(ModeSpec::from_json(&mode).map_err(|e| Fail::Args(format!("mode: {e}")))?),
            ..Default::default()
        };
        let mut st2 = st.clone();
        if st2.parent == FType::Absent {
            st2.parent = FType::Directory;
            st2.parent_writable = true;
        }
        let want = FileWant {
            content: Some(content.as_bytes()),
            attrs,
            diff: ctx.diff,
            ..Default::default()
        };
        let d = decide_file(&st2, facts.host()?, &want).map_err(Fail::Task)?;
        let key_url = args.str("signed_by").map(str::trim).filter(|k| is_url(k));
        let need_key = match key_url {
            Some(_) => !facts.path(&key_req(args))?.exists(),
            None => false,
        };
        let mut plan = file_plan(&st2, &d, None, "dest", Some(content.len() as u64));
        if let Some(o) = plan.outcome_mut() {
            o.data.insert("repo".into(), json!(content));
            if key_url.is_some() {
                o.data.insert("key_filename".into(), json!(key_file(args)));
            }
        }
        if !need_key {
            return Ok(plan);
        }
        // the key to download: the file is written by the same script
        let mut o = match plan {
            Plan::Done(o) => o,
            Plan::Change(c) => c.outcome,
            Plan::More(m) => return Ok(Plan::More(m)),
        };
        o.changed = true;
        o.msg = Some(format!(
            "{} written, key downloaded to {}",
            dest(args),
            key_file(args)
        ));
        let script = format!(
            "# opsctl deb822_repository: {name}\nset -e\nmkdir -p {kr} {sd}\nk={k}\nt=$(mktemp \"$k.XXXXXX\")\ncurl -fsSL --max-time 60 -o \"$t\" {url} || {{ rm -f \"$t\"; echo 'downloading the key failed' >&2; exit 1; }}\nchmod 0644 \"$t\" && mv -f \"$t\" \"$k\"\nf={f}\nt=$(mktemp \"$f.XXXXXX\")\ncat > \"$t\"\nchmod 0644 \"$t\" && mv -f \"$t\" \"$f\"\n",
            kr = KEYRINGS,
            sd = SOURCES_D,
            k = shell_quote(&key_file(args)),
            url = shell_quote(key_url.unwrap_or_default()),
            f = shell_quote(&dest(args)),
        );
        Ok(script_plan(o, script, Some(content.into_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: serde_json::Value) -> Args {
        DEB822_REPOSITORY
            .validate(v.as_object().unwrap(), true)
            .unwrap()
    }

    #[test]
    fn writes_the_stanza() {
        let a = args(
            json!({"name": "Docker CE", "uris": "https://download.docker.com/linux/debian", "suites": "bookworm", "components": "stable", "architectures": ["amd64"], "signed_by": "https://download.docker.com/linux/debian/gpg"}),
        );
        assert_eq!(dest(&a), "/etc/apt/sources.list.d/docker-ce.sources");
        assert_eq!(
            stanza(&a).unwrap(),
            "X-Repolib-Name: Docker CE\nTypes: deb\nURIs: https://download.docker.com/linux/debian\nSuites: bookworm\nComponents: stable\nArchitectures: amd64\nEnabled: yes\nSigned-By: /etc/apt/keyrings/docker-ce.asc\n"
        );
        let a = args(
            json!({"name": "x", "uris": "file:/r", "suites": "./", "trusted": true, "signed_by": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINB\n-----END PGP PUBLIC KEY BLOCK-----\n"}),
        );
        assert!(stanza(&a).unwrap().ends_with("Trusted: yes\nEnabled: yes\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINB\n -----END PGP PUBLIC KEY BLOCK-----\n"));
    }
}
