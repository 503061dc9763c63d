//! npm: a project's node_modules (`npm ci` / `npm install` in `path`), or one
//! package, locally or globally, as Ansible's `npm` module.
//!
//! A project install is idempotent by a stamp: after a successful install,
//! `node_modules/.opsctl-lock.sha256` records the sha256 of `package-lock.json`
//! and `package.json` (as they are after the install) and the install options.
//! A probe (gathered with the other tasks' facts) reads the files' checksums
//! and the stamp; when they agree, npm does
//! not run at all (a no-change deploy costs one round trip, no node start).
//! A named package is read from its `node_modules/NAME/package.json`.
//! `--no-audit --no-fund` are always passed (a deploy is not the place for
//! registry audits, and they need the network).

use serde_json::Value as Json;

use super::fail::{self, Fail};
use super::net::{kv, last_line, one_line, unb64s};
use super::protocol::{Action, Applied, Ctx, Facts, Module, Need, Plan as PPlan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote as q;

pub static NPM: Spec = Spec::new(
    "npm",
    &[
        ArgSpec::new("name", Kind::Str),
        ArgSpec::new("path", Kind::Str),
        ArgSpec::new("version", Kind::Str),
        ArgSpec::new("global", Kind::Bool),
        ArgSpec::new("production", Kind::Bool),
        ArgSpec::new("ci", Kind::Bool),
        ArgSpec::new("state", Kind::Choice(&["present", "absent", "latest"])),
        ArgSpec::new("executable", Kind::Str),
        ArgSpec::new("registry", Kind::Str),
        ArgSpec::new("ignore_scripts", Kind::Bool),
        ArgSpec::new("unsafe_perm", Kind::Bool),
        ArgSpec::new("no_optional", Kind::Bool),
        ArgSpec::new("no_bin_links", Kind::Bool),
        ArgSpec::new("force", Kind::Bool),
    ],
);

pub struct Npm;

pub const STAMP: &str = "node_modules/.opsctl-lock.sha256";

/// npm's options for an install, as words (also recorded in the stamp).
pub fn install_flags(args: &Args) -> Vec<String> {
    let mut f = vec!["--no-audit".to_string(), "--no-fund".to_string()];
    if args.bool_or("production", false) {
        f.push("--omit=dev".into());
    }
    if args.bool_or("no_optional", false) {
        f.push("--omit=optional".into());
    }
    if args.bool_or("ignore_scripts", false) {
        f.push("--ignore-scripts".into());
    }
    if args.bool_or("unsafe_perm", false) {
        f.push("--unsafe-perm".into());
    }
    if args.bool_or("no_bin_links", false) {
        f.push("--no-bin-links".into());
    }
    if args.bool_or("force", false) {
        f.push("--force".into());
    }
    if let Some(r) = args.str("registry") {
        f.push(format!("--registry={r}"));
    }
    f
}

/// The stamp a project install leaves.
pub fn stamp(lock: &str, package: &str, mode: &str, flags: &[String]) -> String {
    format!(
        "lock={lock} package={package} mode={mode} flags={}",
        flags.join(",")
    )
}

/// A plain package name (`express`, `@scope/pkg`), whose install can be read
/// from `node_modules/NAME/package.json`.
pub fn is_plain_name(name: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    };
    match name.strip_prefix('@') {
        Some(rest) => rest.split_once('/').is_some_and(|(a, b)| ok(a) && ok(b)),
        None => ok(name),
    }
}

/// An exact version (`1.2.3`, `1.2.3-beta.1`), comparable by equality.
pub fn is_exact_version(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    core.split('.').count() == 3
        && core
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The `version` of a package.json.
pub fn package_version(text: &str) -> Option<String> {
    serde_json::from_str::<Json>(text)
        .ok()?
        .get("version")?
        .as_str()
        .map(str::to_string)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Nothing,
    /// `npm ci` or `npm install` in the project; `certain`: known to change.
    Project {
        ci: bool,
        certain: bool,
    },
    ProjectUpdate,
    Install {
        spec: String,
        certain: bool,
    },
    Uninstall,
}

/// A project install: are the stamp and the files in agreement?
pub fn decide_project(current: Option<&str>, expected: &str, ci: bool, latest: bool) -> Plan {
    if latest {
        return Plan::ProjectUpdate;
    }
    if current.map(str::trim) == Some(expected) {
        Plan::Nothing
    } else {
        Plan::Project { ci, certain: ci }
    }
}

/// One package.
pub fn decide_package(
    name: &str,
    version: Option<&str>,
    state: &str,
    installed: Option<&str>,
    outdated: bool,
) -> Plan {
    let spec = match version {
        Some(v) => format!("{name}@{v}"),
        None => name.to_string(),
    };
    if !is_plain_name(name) {
        return match state {
            "absent" => Plan::Uninstall,
            _ => Plan::Install {
                spec,
                certain: false,
            },
        };
    }
    match (state, installed) {
        ("absent", Some(_)) => Plan::Uninstall,
        ("absent", None) => Plan::Nothing,
        (_, None) => Plan::Install {
            spec,
            certain: true,
        },
        ("latest", Some(_)) if outdated => Plan::Install {
            spec: format!("{name}@latest"),
            certain: true,
        },
        ("latest", Some(_)) => Plan::Nothing,
        (_, Some(have)) => match version {
            None => Plan::Nothing,
            Some(v) if is_exact_version(v) && v.trim_start_matches('v') == have => Plan::Nothing,
            Some(v) if is_exact_version(v) => Plan::Install {
                spec,
                certain: true,
            },
            Some(_) => Plan::Install {
                spec,
                certain: false,
            },
        },
    }
}

/// The arguments checked, and the probe that reads the project or package.
fn probe(args: &Args) -> Result<String, Fail> {
    let name = args.str("name");
    let path = args.str("path");
    let global = args.bool_or("global", false);
    let state = args.str("state").unwrap_or("present");
    let exe = q(args.str("executable").unwrap_or("npm"));
    let ci = args.bool_or("ci", false);
    if name.is_none() && path.is_none() {
        return fail::bad_args("npm needs a path (a project to install) or a name (a package)");
    }
    if name.is_none() && state == "absent" {
        return fail::bad_args("state=absent needs the name of the package to remove");
    }
    if path.is_none() && !global {
        return fail::bad_args("a package needs a path, or global: true");
    }
    if ci && name.is_some() {
        return fail::bad_args("ci installs a whole project: give path without name");
    }
    let cd = path
        .map(|p| format!("cd {} || {{ echo nopath=1; exit 0; }}\n", q(p)))
        .unwrap_or_default();
    // Probe.
    let mut probe = format!(
        "# opsctl npm: probe {}\ncommand -v {exe} >/dev/null 2>&1 || {{ echo nonpm=1; exit 0; }}\n{cd}",
        one_line(name.or(path).unwrap_or_default())
    );
    match name {
        None => probe.push_str(&format!(
            r#"[ -f package.json ] || {{ echo nopkg=1; exit 0; }}
s=$(sha256sum < package.json); echo "package=${{s%% *}}"
if [ -f package-lock.json ]; then s=$(sha256sum < package-lock.json); echo "lock=${{s%% *}}"; fi
if [ -f {STAMP} ]; then printf 'stamp='; head -c 4096 {STAMP} | base64 -w0; echo; fi
"#
        )),
        Some(n) => {
            let root = if global {
                format!("r=$({exe} root -g 2>/dev/null) || r=/usr/local/lib/node_modules\n")
            } else {
                "r=node_modules\n".to_string()
            };
            probe.push_str(&root);
            if is_plain_name(n) {
                probe.push_str(&format!(
                    "if [ -f \"$r\"/{n}/package.json ]; then printf 'installed='; head -c 1048576 \"$r\"/{n}/package.json | base64 -w0; echo; fi\n",
                    n = q(n)
                ));
                if state == "latest" {
                    probe.push_str(&format!(
                        "printf 'outdated='; {exe} outdated --json{} {} 2>/dev/null | base64 -w0; echo\n",
                        if global { " -g" } else { "" },
                        q(n)
                    ));
                }
            }
        }
    }
    Ok(probe)
}

fn decide_npm(args: &Args, facts: &Facts, ctx: &Ctx) -> Result<PPlan, Fail> {
    let name = args.str("name");
    let path = args.str("path");
    let global = args.bool_or("global", false);
    let state = args.str("state").unwrap_or("present");
    let exe = q(args.str("executable").unwrap_or("npm"));
    let ci = args.bool_or("ci", false);
    let flags = install_flags(args);
    let cd = path
        .map(|p| format!("cd {} || {{ echo nopath=1; exit 0; }}\n", q(p)))
        .unwrap_or_default();
    let mode = if ci { "ci" } else { "install" };
    let out = facts.probe(&probe(args)?)?;
    let m = kv(&out.stdout);
    if !out.success() {
        return fail::fail(format!(
            "could not inspect the project: {}",
            last_line(&out.stderr_str())
        ));
    }
    if m.contains_key("nonpm") {
        return fail::fail("npm is not installed on the host: install it first (apt: name=npm)");
    }
    if m.contains_key("nopath") {
        return fail::fail(format!(
            "path {} is not a directory on the host",
            path.unwrap_or_default()
        ));
    }
    if m.contains_key("nopkg") {
        return fail::fail(format!("no package.json in {}", path.unwrap_or_default()));
    }
    let (plan, before, predicted) = match name {
        None => {
            let lock = m.get("lock").cloned();
            if ci && lock.is_none() {
                return fail::fail(format!(
                    "ci: `npm ci` needs a package-lock.json in {} (commit one, or use ci: false)",
                    path.unwrap_or_default()
                ));
            }
            let expected = stamp(
                lock.as_deref().unwrap_or("-"),
                m.get("package").map(String::as_str).unwrap_or("-"),
                mode,
                &flags,
            );
            let current = m.get("stamp").map(|s| unb64s(s));
            let plan = decide_project(current.as_deref(), &expected, ci, state == "latest");
            let before = current
                .map(|c| format!("{}\n", c.trim()))
                .unwrap_or_default();
            (plan, before, format!("{expected}\n"))
        }
        Some(n) => {
            let installed = m.get("installed").and_then(|j| package_version(&unb64s(j)));
            let outdated = m
                .get("outdated")
                .map(|o| unb64s(o))
                .and_then(|t| serde_json::from_str::<Json>(&t).ok())
                .is_some_and(|j| j.get(n).is_some());
            let version = args.str("version");
            let plan = decide_package(n, version, state, installed.as_deref(), outdated);
            let before = installed
                .as_ref()
                .map(|v| format!("{n}@{v}\n"))
                .unwrap_or_default();
            let after = match &plan {
                Plan::Uninstall => String::new(),
                Plan::Install { spec, .. } => format!("{spec}\n"),
                _ => before.clone(),
            };
            (plan, before, after)
        }
    };
    let mut o = Outcome::ok();
    if plan == Plan::Nothing {
        return Ok(PPlan::Done(o));
    }
    let g = if global { " --global" } else { "" };
    let fl = flags.iter().map(|f| q(f)).collect::<Vec<_>>().join(" ");
    let cmd = match &plan {
        Plan::Project { ci: true, .. } => format!("{exe} ci {fl}"),
        Plan::Project { .. } => format!("{exe} install {fl}"),
        Plan::ProjectUpdate => format!("{exe} update {fl}"),
        Plan::Install { spec, .. } => format!("{exe} install{g} {fl} {}", q(spec)),
        Plan::Uninstall => format!(
            "{exe} uninstall{g} --no-audit --no-fund {}",
            q(name.unwrap_or_default())
        ),
        Plan::Nothing => unreachable!(),
    };
    o = o.with("cmd", cmd.clone());
    o.changed = true;
    if ctx.diff {
        // the stamp written replaces the predicted one when it runs
        o.diffs
            .push(Diff::new(diff_label(name, path), before, predicted));
    }
    let certain = matches!(
        plan,
        Plan::Project { certain: true, .. } | Plan::Install { certain: true, .. } | Plan::Uninstall
    );
    let write_stamp = if name.is_none() {
        format!(
            "p=$(sha256sum < package.json); p=${{p%% *}}; l=-; if [ -f package-lock.json ]; then l=$(sha256sum < package-lock.json); l=${{l%% *}}; fi\nmkdir -p node_modules && printf 'lock=%s package=%s mode=%s flags=%s\\n' \"$l\" \"$p\" {} {} > {STAMP}\nprintf 'stamp='; base64 -w0 < {STAMP}; echo\n",
            q(mode),
            q(&flags.join(","))
        )
    } else {
        String::new()
    };
    let script = format!(
        r#"# opsctl npm: {cmd_line}
{cd}f=$(mktemp) || exit 1
trap 'rm -f -- "$f" "$f.e"' EXIT
{cmd} >"$f" 2>"$f.e"; rc=$?
echo "rc=$rc"; printf 'out='; tail -c 65536 "$f" | base64 -w0; echo; printf 'err='; tail -c 16384 "$f.e" | base64 -w0; echo
[ $rc = 0 ] || exit 0
{certain}{write_stamp}"#,
        cmd_line = cmd.lines().next().unwrap_or_default(),
        certain = if certain { "echo certain=1\n" } else { "" },
    );
    Ok(PPlan::change(
        o,
        Action::Script {
            script,
            stdin: None,
        },
    ))
}

impl Module for Npm {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(args)?)])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<PPlan, Fail> {
        decide_npm(args, facts, ctx)
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let Applied::Script(out) = result else {
            return Ok(planned);
        };
        let mut o = planned;
        let cmd = o
            .data
            .get("cmd")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let r = kv(&out.stdout);
        let stdout = r.get("out").map(|s| unb64s(s)).unwrap_or_default();
        let stderr = r.get("err").map(|s| unb64s(s)).unwrap_or_default();
        o = o
            .with("stdout", stdout.clone())
            .with("stderr", stderr.clone());
        if r.get("rc").map(String::as_str) != Some("0") {
            let errs: Vec<&str> = stderr.lines().filter(|l| l.contains("ERR")).collect();
            let detail = if errs.is_empty() {
                last_line(&stderr)
            } else {
                errs[errs.len().saturating_sub(4)..].join(" / ")
            };
            let mut f = Outcome::failed(format!("{cmd} failed: {detail}"));
            f.data = o.data;
            return Ok(f);
        }
        // npm says "up to date" when it changed nothing.
        let certain = r.contains_key("certain");
        let said_nothing = stdout.contains("up to date")
            && !stdout.contains("added")
            && !stdout.contains("removed")
            && !stdout.contains("changed");
        o.changed = certain || !said_nothing;
        if !o.changed {
            o.diffs.clear();
        }
        if let Some(s) = r.get("stamp") {
            for d in &mut o.diffs {
                d.after = unb64s(s);
            }
        }
        Ok(o)
    }
}

fn diff_label(name: Option<&str>, path: Option<&str>) -> String {
    match (name, path) {
        (Some(n), _) => format!("npm {n}"),
        (None, Some(p)) => format!("npm {p}/node_modules"),
        _ => "npm".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        assert!(
            is_plain_name("express")
                && is_plain_name("@scope/pkg")
                && is_plain_name("lodash.merge")
        );
        assert!(
            !is_plain_name("./lib")
                && !is_plain_name("/tmp/x.tgz")
                && !is_plain_name("@scope")
                && !is_plain_name("git+https://x")
        );
        assert!(is_exact_version("1.2.3") && is_exact_version("1.2.3-beta.1"));
        assert!(
            !is_exact_version("^1.2.3") && !is_exact_version("1.x") && !is_exact_version("latest")
        );
        assert_eq!(
            package_version(r#"{"name":"a","version":"1.0.2"}"#).as_deref(),
            Some("1.0.2")
        );
        assert_eq!(package_version("not json"), None);
    }

    #[test]
    fn project_decisions() {
        let flags = vec!["--no-audit".to_string()];
        let want = stamp("aa", "bb", "ci", &flags);
        assert_eq!(want, "lock=aa package=bb mode=ci flags=--no-audit");
        assert_eq!(
            decide_project(Some(&format!("{want}\n")), &want, true, false),
            Plan::Nothing
        );
        assert_eq!(
            decide_project(None, &want, true, false),
            Plan::Project {
                ci: true,
                certain: true
            }
        );
        let other = stamp("aa", "bb", "install", &flags);
        assert_eq!(
            decide_project(Some(&other), &want, false, false),
            Plan::Project {
                ci: false,
                certain: false
            }
        );
        assert_eq!(
            decide_project(Some(&want), &want, false, true),
            Plan::ProjectUpdate
        );
    }

    #[test]
    fn package_decisions() {
        assert_eq!(
            decide_package("a", None, "present", Some("1.0.0"), false),
            Plan::Nothing
        );
        assert_eq!(
            decide_package("a", Some("1.0.1"), "present", Some("1.0.0"), false),
            Plan::Install {
                spec: "a@1.0.1".into(),
                certain: true
            }
        );
        assert_eq!(
            decide_package("a", Some("1.0.0"), "present", Some("1.0.0"), false),
            Plan::Nothing
        );
        assert_eq!(
            decide_package("a", Some("^1.0.0"), "present", Some("1.0.0"), false),
            Plan::Install {
                spec: "a@^1.0.0".into(),
                certain: false
            }
        );
        assert_eq!(
            decide_package("a", None, "absent", Some("1.0.0"), false),
            Plan::Uninstall
        );
        assert_eq!(
            decide_package("a", None, "absent", None, false),
            Plan::Nothing
        );
        assert_eq!(
            decide_package("a", None, "latest", Some("1.0.0"), false),
            Plan::Nothing
        );
        assert_eq!(
            decide_package("a", None, "latest", Some("1.0.0"), true),
            Plan::Install {
                spec: "a@latest".into(),
                certain: true
            }
        );
    }

    #[test]
    fn flags() {
        let args = NPM
            .validate(
                serde_json::json!({"path": "/srv/app", "production": true, "ci": true, "registry": "https://r.test"})
                    .as_object()
                    .unwrap(),
                true,
            )
            .unwrap();
        assert_eq!(
            install_flags(&args),
            vec![
                "--no-audit",
                "--no-fund",
                "--omit=dev",
                "--registry=https://r.test"
            ]
        );
    }
}
