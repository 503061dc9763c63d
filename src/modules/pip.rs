//! pip: Python packages in a virtualenv (created when missing) or for a
//! Python on the host, as Ansible's `pip` module.
//!
//! A probe (gathered with the other tasks' facts) reads what is installed (`importlib.metadata` through the
//! environment's python, ~20x faster than `pip list`; `pip list --format=freeze`
//! with `executable`) and, with `requirements`, the requirements file. The
//! decision is made here with PEP 440 version rules: when every requirement is
//! a plain `name[extras] <specifiers>` already satisfied, pip does not run at
//! all. Otherwise the change creates the virtualenv if needed, runs pip,
//! and lists the packages again: `changed` is whether that list changed (so
//! `state: latest`, URLs, editable installs and requirements files with
//! options are judged by their effect, as Ansible does).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::json;

use super::content;
use super::fail::{self, Fail};
use super::net::{kv, last_line, one_line, unb64s};
use super::protocol::{Action as PAction, Applied, Ctx, Facts, Module, Need, Plan as PPlan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote as q;

pub static PIP: Spec = Spec {
    mutually_exclusive: &[&["name", "requirements"], &["executable", "virtualenv"]],
    required_one_of: &[&["name", "requirements"]],
    ..Spec::new(
        "pip",
        &[
            ArgSpec::new("name", Kind::List),
            ArgSpec::new("version", Kind::Str),
            ArgSpec::new("requirements", Kind::Str),
            ArgSpec::new("virtualenv", Kind::Str),
            ArgSpec::new("virtualenv_site_packages", Kind::Bool),
            ArgSpec::new("virtualenv_command", Kind::Str),
            ArgSpec::new("virtualenv_python", Kind::Str),
            ArgSpec::new(
                "state",
                Kind::Choice(&["present", "absent", "latest", "forcereinstall"]),
            ),
            ArgSpec::new("extra_args", Kind::Str),
            ArgSpec::new("editable", Kind::Bool),
            ArgSpec::new("chdir", Kind::Str),
            ArgSpec::new("executable", Kind::Str),
            ArgSpec::new("umask", Kind::Str),
            ArgSpec::new("break_system_packages", Kind::Bool),
        ],
    )
};

pub struct Pip;

// ---------------------------------------------------------------------------
// PEP 440 versions and specifiers (the subset requirement files use)

/// What versions are ordered by: epoch, release, pre, post, dev.
type VersionKey = (u64, Vec<u64>, (i8, u64, u64), (i8, u64), (i8, u64));

/// A version: epoch, release numbers, pre/post/dev parts and a local label.
#[derive(Debug, Clone)]
pub struct Version {
    epoch: u64,
    release: Vec<u64>,
    /// (0 = a, 1 = b, 2 = rc, number)
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: String,
}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        let re = regex::Regex::new(
            r"^v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(alpha|a|beta|b|c|rc|preview|pre)[-_.]?(\d*))?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d*))?(?:[-_.]?(dev)[-_.]?(\d*))?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$",
        )
        .ok()?;
        let s = s.trim().to_lowercase();
        let c = re.captures(&s)?;
        let num = |i: usize| {
            c.get(i)
                .map(|m| m.as_str().parse::<u64>().unwrap_or(0))
                .unwrap_or(0)
        };
        let release: Vec<u64> = c[2].split('.').map(|p| p.parse().unwrap_or(0)).collect();
        let pre = c.get(3).map(|kind| {
            let k = match kind.as_str() {
                "a" | "alpha" => 0,
                "b" | "beta" => 1,
                _ => 2,
            };
            (k, num(4))
        });
        let post = if c.get(5).is_some() {
            Some(num(5))
        } else {
            c.get(6).map(|_| num(7))
        };
        Some(Version {
            epoch: num(1),
            release,
            pre,
            post,
            dev: c.get(8).map(|_| num(9)),
            local: c
                .get(10)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
        })
    }

    /// packaging's comparison key.
    fn key(&self) -> VersionKey {
        let mut rel = self.release.clone();
        while rel.len() > 1 && rel.last() == Some(&0) {
            rel.pop();
        }
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => (-1, 0, 0),
            (None, _, _) => (1, 0, 0),
            (Some((k, n)), _, _) => (0, u64::from(k), n),
        };
        let post = match self.post {
            None => (-1, 0),
            Some(n) => (0, n),
        };
        let dev = match self.dev {
            None => (1, 0),
            Some(n) => (0, n),
        };
        (self.epoch, rel, pre, post, dev)
    }

    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key()
            .cmp(&other.key())
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Does `installed` satisfy `op version`?
pub fn satisfies(installed: &str, op: &str, want: &str) -> bool {
    if op == "===" {
        return installed.trim() == want.trim();
    }
    let Some(have) = Version::parse(installed) else {
        return false;
    };
    if let Some(prefix) = want.strip_suffix(".*") {
        let Some(p) = Version::parse(prefix) else {
            return false;
        };
        let n = p.release.len();
        let mut hr = have.release.clone();
        hr.resize(n.max(hr.len()), 0);
        let matches = have.epoch == p.epoch && hr[..n] == p.release[..];
        return match op {
            "==" => matches,
            "!=" => !matches,
            _ => false,
        };
    }
    let Some(w) = Version::parse(want) else {
        return false;
    };
    // A version without a local label matches any local label (`==1.0` vs `1.0+cpu`).
    let have_cmp = if w.local.is_empty() {
        Version {
            local: String::new(),
            ..have.clone()
        }
    } else {
        have.clone()
    };
    match op {
        "==" => have_cmp == w,
        "!=" => have_cmp != w,
        ">=" => have >= w,
        "<=" => have_cmp <= w,
        ">" => have > w && !(have.post.is_some() && w.post.is_none() && have.release == w.release),
        "<" => {
            have < w && !(have.is_prerelease() && !w.is_prerelease() && have.release == w.release)
        }
        "~=" => {
            if w.release.len() < 2 {
                return false;
            }
            let prefix = &w.release[..w.release.len() - 1];
            let mut hr = have.release.clone();
            hr.resize(hr.len().max(prefix.len()), 0);
            have >= w && hr[..prefix.len()] == prefix[..] && have.epoch == w.epoch
        }
        _ => false,
    }
}

/// A plain requirement: `name[extras] <specifiers>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// As written (given to pip).
    pub raw: String,
    /// PEP 503 normalised name.
    pub name: String,
    pub specs: Vec<(String, String)>,
}

/// PEP 503: lowercase, runs of `-_.` become `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Parses a plain requirement; `None` for anything pip must judge itself
/// (URLs, paths, VCS, environment markers, options).
pub fn parse_requirement(s: &str) -> Option<Requirement> {
    let re = regex::Regex::new(
        r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[A-Za-z0-9._,\s-]*\])?\s*(.*?)\s*$",
    )
    .ok()?;
    let c = re.captures(s)?;
    let name = normalize(&c[1]);
    let rest = c.get(3).map(|m| m.as_str()).unwrap_or("");
    let mut specs = Vec::new();
    if !rest.is_empty() {
        let spec_re =
            regex::Regex::new(r"^(===|==|!=|<=|>=|~=|<|>)\s*([A-Za-z0-9.*+!_-]+)$").ok()?;
        let rest = rest.trim_start_matches('(').trim_end_matches(')');
        for part in rest.split(',') {
            let sc = spec_re.captures(part.trim())?;
            specs.push((sc[1].to_string(), sc[2].to_string()));
        }
    }
    Some(Requirement {
        raw: s.trim().to_string(),
        name,
        specs,
    })
}

impl Requirement {
    pub fn satisfied_by(&self, installed: &str) -> bool {
        self.specs.iter().all(|(op, v)| satisfies(installed, op, v))
    }
}

/// The lines of a requirements file, or `None` when it holds anything but
/// plain requirements (options, includes, URLs, markers, continuations).
pub fn parse_requirements_file(text: &str) -> Option<Vec<Requirement>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = match line.find(" #").or_else(|| line.find("\t#")) {
            Some(i) => &line[..i],
            None => line,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.ends_with('\\') {
            return None;
        }
        out.push(parse_requirement(line)?);
    }
    Some(out)
}

/// `name==version` lines -> normalised name -> (name, version).
pub fn parse_freeze(text: &str) -> BTreeMap<String, (String, String)> {
    text.lines()
        .filter_map(|l| {
            let (n, v) = l.trim().split_once("==")?;
            Some((normalize(n), (n.trim().to_string(), v.trim().to_string())))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Decision

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Present,
    Absent,
    Latest,
    ForceReinstall,
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// `pip install` these (raw specs), with `--upgrade` / `--force-reinstall`.
    Install(Vec<String>),
    InstallRequirements,
    Uninstall(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub create_venv: bool,
    pub action: Action,
    /// Known to change something (false for an install whose effect is only
    /// known afterwards: `latest`, URLs, requirements with options).
    pub certain: bool,
}

impl Plan {
    pub fn runs(&self) -> bool {
        self.create_venv || self.action != Action::Nothing
    }
}

/// Decides from what is installed (`None`: no virtualenv yet).
pub fn decide(
    state: State,
    names: &[String],
    requirements: Option<&str>,
    installed: Option<&BTreeMap<String, (String, String)>>,
) -> Plan {
    let create_venv = installed.is_none();
    let empty = BTreeMap::new();
    let inst = installed.unwrap_or(&empty);
    let version_of = |r: &Requirement| inst.get(&r.name).map(|(_, v)| v.as_str());
    let satisfied = |r: &Requirement| version_of(r).is_some_and(|v| r.satisfied_by(v));
    let plan = |action: Action, certain: bool| Plan {
        create_venv,
        action,
        certain,
    };
    if let Some(text) = requirements {
        return match (state, parse_requirements_file(text)) {
            (State::Present, Some(reqs)) if reqs.iter().all(satisfied) => {
                plan(Action::Nothing, false)
            }
            (State::Absent, Some(reqs)) => {
                let gone: Vec<String> = reqs
                    .iter()
                    .filter(|r| satisfied(r))
                    .map(|r| r.name.clone())
                    .collect();
                if gone.is_empty() {
                    plan(Action::Nothing, false)
                } else {
                    plan(Action::Uninstall(gone), true)
                }
            }
            (State::Absent, None) => plan(Action::Nothing, false),
            (State::ForceReinstall, _) => plan(Action::InstallRequirements, true),
            (State::Present, Some(_)) => plan(Action::InstallRequirements, true),
            _ => plan(Action::InstallRequirements, false),
        };
    }
    match state {
        State::Present => {
            let mut todo = Vec::new();
            let mut certain = false;
            for n in names {
                match parse_requirement(n) {
                    Some(r) if satisfied(&r) => {}
                    Some(_) => {
                        todo.push(n.clone());
                        certain = true;
                    }
                    None => todo.push(n.clone()),
                }
            }
            if todo.is_empty() {
                plan(Action::Nothing, false)
            } else {
                plan(Action::Install(todo), certain)
            }
        }
        State::Absent => {
            let gone: Vec<String> = names
                .iter()
                .filter_map(|n| parse_requirement(n))
                .filter(|r| satisfied(r))
                .map(|r| r.name)
                .collect();
            if gone.is_empty() {
                plan(Action::Nothing, false)
            } else {
                plan(Action::Uninstall(gone), true)
            }
        }
        State::Latest => plan(Action::Install(names.to_vec()), false),
        State::ForceReinstall => plan(Action::Install(names.to_vec()), true),
    }
}

/// The packages that differ between two listings, as `name==version` lines.
pub fn changes(
    before: &BTreeMap<String, (String, String)>,
    after: &BTreeMap<String, (String, String)>,
) -> (String, String) {
    let mut b = String::new();
    let mut a = String::new();
    for (k, (n, v)) in before {
        if after.get(k).map(|(_, av)| av) != Some(v) {
            b.push_str(&format!("{n}=={v}\n"));
        }
    }
    for (k, (n, v)) in after {
        if before.get(k).map(|(_, bv)| bv) != Some(v) {
            a.push_str(&format!("{n}=={v}\n"));
        }
    }
    (b, a)
}

// ---------------------------------------------------------------------------
// Remote scripts

/// How to reach the environment's pip and list its packages.
struct Env {
    /// Shell words running pip (`"$venv/bin/python" -m pip`).
    pip: String,
    /// Lists `name==version` lines.
    list: String,
}

fn env_of(venv: Option<&str>, executable: Option<&str>) -> Env {
    let py_list = |py: &str| {
        format!(
            "{py} -c 'import importlib.metadata as m\nseen=set()\nfor d in m.distributions():\n    n=d.metadata[\"Name\"]\n    if n and n.lower() not in seen:\n        seen.add(n.lower()); print(\"%s==%s\" % (n, d.version))'"
        )
    };
    match (venv, executable) {
        (Some(v), _) => {
            let py = format!("{}/bin/python", q(v));
            Env {
                pip: format!("{py} -m pip"),
                list: py_list(&py),
            }
        }
        (None, Some(e)) => Env {
            pip: q(e),
            list: format!("{} list --format=freeze --disable-pip-version-check", q(e)),
        },
        (None, None) => Env {
            pip: "python3 -m pip".into(),
            list: py_list("python3"),
        },
    }
}

fn probe_script(
    chdir: Option<&str>,
    venv: Option<&str>,
    e: &Env,
    requirements: Option<&str>,
) -> String {
    let mut s = format!(
        "# opsctl pip: probe {}\n",
        one_line(venv.unwrap_or("(system)"))
    );
    if let Some(d) = chdir {
        s.push_str(&format!("cd {} || {{ echo nochdir=1; exit 0; }}\n", q(d)));
    }
    if let Some(r) = requirements {
        s.push_str(&format!(
            "if [ -r {r} ]; then printf 'req='; head -c 1048576 {r} | base64 -w0; echo; else echo noreq=1; fi\n",
            r = q(r)
        ));
    }
    if let Some(v) = venv {
        s.push_str(&format!(
            "if [ ! -x {}/bin/python ]; then echo venv=0; exit 0; fi\necho venv=1\n",
            q(v)
        ));
    }
    s.push_str(&format!(
        "f=$(mktemp) || exit 1\n{} >\"$f\" 2>\"$f.e\"; echo \"listrc=$?\"\nprintf 'list='; base64 -w0 < \"$f\"; echo\nprintf 'err='; tail -c 4096 \"$f.e\" | base64 -w0; echo\nrm -f -- \"$f\" \"$f.e\"\n",
        e.list
    ));
    s
}

struct Cmd {
    /// The pip command line shown as `cmd`.
    pip: Option<String>,
    venv: Option<String>,
}

fn build_cmd(args: &Args, state: State, plan: &Plan, e: &Env) -> Cmd {
    let venv = if plan.create_venv {
        args.str("virtualenv").map(|v| {
            let command = args.str("virtualenv_command").unwrap_or("python3 -m venv");
            let site = if args.bool_or("virtualenv_site_packages", false) {
                " --system-site-packages"
            } else {
                ""
            };
            match args.str("virtualenv_python") {
                Some(py) if command.contains("-m venv") || command.contains("pyvenv") => {
                    format!("{} -m venv{site} {}", q(py), q(v))
                }
                Some(py) => format!("{command} -p {}{site} {}", q(py), q(v)),
                None => format!("{command}{site} {}", q(v)),
            }
        })
    } else {
        None
    };
    let extra = args
        .str("extra_args")
        .map(|x| format!(" {x}"))
        .unwrap_or_default();
    let bsp = if args.bool_or("break_system_packages", false) {
        " --break-system-packages"
    } else {
        ""
    };
    let common = format!("--disable-pip-version-check --no-input{bsp}{extra}");
    let pkgs = |v: &[String]| {
        let editable = args.bool_or("editable", false);
        v.iter()
            .map(|p| {
                if editable {
                    format!("-e {}", q(p))
                } else {
                    q(p)
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mode = match state {
        State::Latest => " --upgrade",
        State::ForceReinstall => " --force-reinstall",
        _ => "",
    };
    let pip = match &plan.action {
        Action::Nothing => None,
        Action::Install(v) => Some(format!("{} install{mode} {common} {}", e.pip, pkgs(v))),
        Action::InstallRequirements => Some(format!(
            "{} install{mode} {common} -r {}",
            e.pip,
            q(args.str("requirements").unwrap_or_default())
        )),
        Action::Uninstall(v) => Some(format!("{} uninstall -y {common} {}", e.pip, pkgs(v))),
    };
    Cmd { pip, venv }
}

fn change_script(chdir: Option<&str>, c: &Cmd, e: &Env) -> String {
    let mut s = String::from(
        "# opsctl pip: install\nf=$(mktemp) || exit 1\ntrap 'rm -f -- \"$f\" \"$f.o\" \"$f.e\"' EXIT\n",
    );
    if let Some(d) = chdir {
        s.push_str(&format!("cd {} || exit 1\n", q(d)));
    }
    let report = "echo \"rc=$rc\"; printf 'out='; tail -c 65536 \"$f.o\" | base64 -w0; echo; printf 'err='; tail -c 16384 \"$f.e\" | base64 -w0; echo\n";
    if let Some(v) = &c.venv {
        s.push_str(&format!(
            "{v} >\"$f.o\" 2>\"$f.e\"; rc=$?\nif [ $rc != 0 ]; then echo step=venv; {report}exit 0; fi\n"
        ));
    }
    if let Some(p) = &c.pip {
        s.push_str(&format!("{p} >\"$f.o\" 2>\"$f.e\"; rc=$?\n{report}"));
        s.push_str("[ $rc = 0 ] || { echo step=pip; exit 0; }\n");
    }
    s.push_str(&format!(
        "{} >\"$f\" 2>/dev/null; printf 'list='; base64 -w0 < \"$f\"; echo\n",
        e.list
    ));
    s
}

/// A hint for pip's common failures.
fn hint(err: &str) -> &'static str {
    if err.contains("externally-managed-environment") {
        " (this Python is managed by Debian, PEP 668: install into a virtualenv with `virtualenv: /path/to/venv`, or set break_system_packages: true)"
    } else if err.contains("ensurepip is not available") || err.contains("No module named venv") {
        " (install python3-venv on the host first)"
    } else if err.contains("No module named pip") {
        " (pip is not installed for this Python: install python3-pip, or use a virtualenv)"
    } else {
        ""
    }
}

/// The state asked, the packages (with `version` folded in) and the probe.
fn read_args(args: &Args) -> Result<(State, Vec<String>, String), Fail> {
    let state = match args.str("state").unwrap_or("present") {
        "absent" => State::Absent,
        "latest" => State::Latest,
        "forcereinstall" => State::ForceReinstall,
        _ => State::Present,
    };
    let mut names = args.strings("name");
    if let Some(v) = args.str("version") {
        if names.len() != 1 {
            return fail::bad_args("version can only be given with exactly one name");
        }
        if names[0].contains(['=', '<', '>', '~', '!']) {
            return fail::bad_args("give the version either in name or in version, not both");
        }
        names[0] = format!("{}=={v}", names[0]);
    }
    let e = env_of(args.str("virtualenv"), args.str("executable"));
    let probe = probe_script(
        args.str("chdir"),
        args.str("virtualenv"),
        &e,
        args.str("requirements"),
    );
    Ok((state, names, probe))
}

impl Module for Pip {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(read_args(args)?.2)])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<PPlan, Fail> {
        let (state, names, probe) = read_args(args)?;
        let venv = args.str("virtualenv");
        let chdir = args.str("chdir");
        let requirements = args.str("requirements");
        let e = env_of(venv, args.str("executable"));
        let out = facts.probe(&probe)?;
        let m = kv(&out.stdout);
        if !out.success() {
            return fail::fail(format!(
                "could not inspect the Python environment: {}",
                last_line(&out.stderr_str())
            ));
        }
        if m.contains_key("nochdir") {
            return fail::fail(format!(
                "chdir: {} is not a directory",
                chdir.unwrap_or_default()
            ));
        }
        if m.contains_key("noreq") {
            return fail::fail(format!(
                "requirements file {} does not exist or is not readable on the host{}",
                requirements.unwrap_or_default(),
                chdir
                    .map(|d| format!(" (relative to {d})"))
                    .unwrap_or_default()
            ));
        }
        let req_text = m.get("req").map(|r| unb64s(r));
        let installed = if m.get("venv").map(String::as_str) == Some("0") {
            if state == State::Absent {
                // Nothing is installed where there is no virtualenv.
                return Ok(PPlan::Done(
                    Outcome::ok()
                        .with("virtualenv", venv.unwrap_or_default())
                        .with("state", "absent"),
                ));
            }
            None
        } else {
            if m.get("listrc").map(String::as_str) != Some("0") {
                let err = m.get("err").map(|s| unb64s(s)).unwrap_or_default();
                let msg = if let Some(x) =
                    args.str("executable").filter(|_| err.contains("not found"))
                {
                    format!(
                        "executable {x} was not found on the host (install python3-pip, or use a virtualenv)"
                    )
                } else if err.contains("No such file") || err.contains("not found") {
                    "the Python interpreter was not found on the host (install python3, or give executable/virtualenv)".to_string()
                } else {
                    format!(
                        "could not list the installed packages: {}{}",
                        last_line(&err),
                        hint(&err)
                    )
                };
                return fail::fail(msg);
            }
            Some(parse_freeze(
                &m.get("list").map(|s| unb64s(s)).unwrap_or_default(),
            ))
        };
        let plan = decide(state, &names, req_text.as_deref(), installed.as_ref());
        let cmd = build_cmd(args, state, &plan, &e);
        let mut o = Outcome::ok()
            .with("name", json!(names))
            .with("state", args.str("state").unwrap_or("present"))
            .with("cmd", cmd.pip.clone().unwrap_or_default());
        if let Some(r) = requirements {
            o = o.with("requirements", r);
        }
        if let Some(v) = venv {
            o = o.with("virtualenv", v);
        }
        if let Some(v) = args.str("version") {
            o = o.with("version", v);
        }
        let before = installed.clone().unwrap_or_default();
        if !plan.runs() {
            return Ok(PPlan::Done(o));
        }
        // Ansible: latest, requirements and URLs count as changes in check mode.
        o.changed = true;
        if ctx.diff {
            // replaced by what changed when it runs
            o.diffs.push(predicted_diff(&plan, &before, venv));
        }
        // The script reports what it started from, and a virtualenv it made.
        let mut script = change_script(chdir, &cmd, &e);
        script.push_str(&format!(
            "echo before={}\n",
            content::b64(freeze_text(&before).as_bytes())
        ));
        if plan.create_venv {
            script.push_str("echo venv_created=1\n");
        }
        Ok(PPlan::change(
            o,
            PAction::Script {
                script,
                stdin: None,
            },
        ))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let Applied::Script(out) = result else {
            return Ok(planned);
        };
        let (state, _, _) = read_args(args)?;
        let venv = args.str("virtualenv");
        let mut o = planned;
        let r = kv(&out.stdout);
        let stdout = r.get("out").map(|s| unb64s(s)).unwrap_or_default();
        let stderr = r.get("err").map(|s| unb64s(s)).unwrap_or_default();
        o = o
            .with("stdout", stdout.clone())
            .with("stderr", stderr.clone());
        if let Some(step) = r.get("step") {
            let rc = r.get("rc").cloned().unwrap_or_default();
            let detail = if stderr.trim().is_empty() {
                &stdout
            } else {
                &stderr
            };
            let what = if step == "venv" {
                format!(
                    "creating the virtualenv {} failed",
                    venv.unwrap_or_default()
                )
            } else {
                format!("pip failed (rc {rc})")
            };
            let mut f = Outcome::failed(format!("{what}: {}{}", error_lines(detail), hint(detail)));
            f.data = o.data;
            return Ok(f);
        }
        if !out.success() {
            return fail::fail(format!(
                "pip could not run: {}",
                last_line(&out.stderr_str())
            ));
        }
        let before = parse_freeze(&r.get("before").map(|s| unb64s(s)).unwrap_or_default());
        let after = parse_freeze(&r.get("list").map(|s| unb64s(s)).unwrap_or_default());
        let (b, a) = changes(&before, &after);
        o.changed = r.contains_key("venv_created") || b != a || (state == State::ForceReinstall);
        let diff = !o.diffs.is_empty();
        o.diffs.clear();
        if diff && o.changed {
            o.diffs.push(Diff::new(
                format!("pip {}", venv.unwrap_or("(system)")),
                b,
                a,
            ));
        }
        Ok(o)
    }
}

/// `name==version` lines, as the listing prints them.
fn freeze_text(m: &BTreeMap<String, (String, String)>) -> String {
    m.values().map(|(n, v)| format!("{n}=={v}\n")).collect()
}

/// The last lines of pip's error output that say something.
fn error_lines(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("ERROR") || l.starts_with("error"))
        .collect();
    let pick = if errors.is_empty() { lines } else { errors };
    let n = pick.len();
    pick[n.saturating_sub(3)..].join(" / ")
}

fn predicted_diff(
    plan: &Plan,
    before: &BTreeMap<String, (String, String)>,
    venv: Option<&str>,
) -> Diff {
    let label = format!("pip {}", venv.unwrap_or("(system)"));
    let (mut b, mut a) = (String::new(), String::new());
    match &plan.action {
        Action::Install(v) => {
            for p in v {
                if let Some(r) = parse_requirement(p)
                    && let Some((n, ver)) = before.get(&r.name)
                {
                    b.push_str(&format!("{n}=={ver}\n"));
                }
                a.push_str(&format!("{p}\n"));
            }
        }
        Action::InstallRequirements => a.push_str("(the requirements file)\n"),
        Action::Uninstall(v) => {
            for n in v {
                if let Some((name, ver)) = before.get(n) {
                    b.push_str(&format!("{name}=={ver}\n"));
                }
            }
        }
        Action::Nothing => {}
    }
    if plan.create_venv {
        a.insert_str(
            0,
            &format!("(new virtualenv {})\n", venv.unwrap_or_default()),
        );
    }
    Diff::new(label, b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn versions_order_like_pep440() {
        let ordered = [
            "1.0.dev1",
            "1.0a1",
            "1.0a2.dev1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0.post1",
            "1.0.1",
            "1.1",
            "2!0.1",
        ];
        for w in ordered.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(v("1.0"), v("1.0.0"));
        assert_eq!(v("1.0"), v("v1.0"));
        assert_eq!(v("1.0-1"), v("1.0.post1"));
        assert!(Version::parse("not a version").is_none());
    }

    #[test]
    fn specifiers() {
        assert!(satisfies("0.110.0", "==", "0.110.0"));
        assert!(satisfies("0.110", "==", "0.110.0"));
        assert!(!satisfies("0.111.0", "==", "0.110.0"));
        assert!(satisfies("1.4.2", "==", "1.4.*"));
        assert!(!satisfies("1.5", "==", "1.4.*"));
        assert!(satisfies("1.5", "!=", "1.4.*"));
        assert!(satisfies("2.0", ">=", "1.9"));
        assert!(satisfies("1.9", "<=", "1.9"));
        assert!(satisfies("1.4.5", "~=", "1.4.2"));
        assert!(!satisfies("1.5.0", "~=", "1.4.2"));
        assert!(satisfies("1.5", "~=", "1.4"));
        assert!(!satisfies("2.0", "~=", "1.4"));
        assert!(satisfies("1.0+cpu", "==", "1.0"));
        assert!(!satisfies("1.0a1", "<", "1.0") || satisfies("0.9", "<", "1.0"));
        assert!(satisfies("foo", "===", "foo"));
    }

    #[test]
    fn requirements() {
        let r = parse_requirement("Uvicorn[standard] >=0.20, <1").unwrap();
        assert_eq!(r.name, "uvicorn");
        assert_eq!(
            r.specs,
            vec![(">=".into(), "0.20".into()), ("<".into(), "1".into())]
        );
        assert!(r.satisfied_by("0.29.0") && !r.satisfied_by("1.0"));
        assert_eq!(
            parse_requirement("python_dotenv").unwrap().name,
            "python-dotenv"
        );
        assert!(parse_requirement("git+https://x/y.git").is_none());
        assert!(parse_requirement("pkg @ https://x/pkg.whl").is_none());
        assert!(parse_requirement("pkg; python_version < '3.8'").is_none());
        assert!(parse_requirement("./local/dir").is_none());
        let f = parse_requirements_file("# deps\nfastapi==0.110.0  # web\n\nuvicorn\n").unwrap();
        assert_eq!(f.len(), 2);
        assert!(parse_requirements_file("-r base.txt\n").is_none());
        assert!(parse_requirements_file("--index-url x\nfoo\n").is_none());
    }

    fn inst(pairs: &[(&str, &str)]) -> BTreeMap<String, (String, String)> {
        parse_freeze(
            &pairs
                .iter()
                .map(|(n, v)| format!("{n}=={v}\n"))
                .collect::<String>(),
        )
    }

    #[test]
    fn decisions() {
        let i = inst(&[("FastAPI", "0.110.0"), ("uvicorn", "0.29.0")]);
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = decide(
            State::Present,
            &names(&["fastapi", "uvicorn==0.29.0"]),
            None,
            Some(&i),
        );
        assert!(!p.runs(), "{p:?}");
        let p = decide(
            State::Present,
            &names(&["fastapi==0.111.0", "uvicorn"]),
            None,
            Some(&i),
        );
        assert_eq!(p.action, Action::Install(names(&["fastapi==0.111.0"])));
        assert!(p.certain);
        let p = decide(State::Present, &names(&["fastapi"]), None, None);
        assert!(p.create_venv && p.runs());
        let p = decide(State::Absent, &names(&["fastapi", "httpx"]), None, Some(&i));
        assert_eq!(p.action, Action::Uninstall(names(&["fastapi"])));
        assert!(!decide(State::Absent, &names(&["httpx"]), None, Some(&i)).runs());
        let p = decide(State::Latest, &names(&["fastapi"]), None, Some(&i));
        assert!(p.runs() && !p.certain);
        // requirements files
        assert!(
            !decide(
                State::Present,
                &[],
                Some("fastapi==0.110.0\nuvicorn>=0.20\n"),
                Some(&i)
            )
            .runs()
        );
        let p = decide(
            State::Present,
            &[],
            Some("fastapi==0.110.0\nhttpx\n"),
            Some(&i),
        );
        assert_eq!(p.action, Action::InstallRequirements);
        let p = decide(State::Present, &[], Some("-r other.txt\n"), Some(&i));
        assert!(p.runs() && !p.certain);
    }

    #[test]
    fn listing_changes() {
        let b = inst(&[("a", "1"), ("b", "1")]);
        let a = inst(&[("a", "1"), ("b", "2"), ("c", "1")]);
        assert_eq!(changes(&b, &a), ("b==1\n".into(), "b==2\nc==1\n".into()));
        assert_eq!(changes(&b, &b), (String::new(), String::new()));
    }

    #[test]
    fn commands() {
        let args = PIP
            .validate(
                serde_json::json!({"name": ["fastapi==0.110.0"], "virtualenv": "/srv/venv", "extra_args": "--no-deps"})
                    .as_object()
                    .unwrap(),
                true,
            )
            .unwrap();
        let e = env_of(Some("/srv/venv"), None);
        let plan = decide(State::Present, &args.strings("name"), None, None);
        let c = build_cmd(&args, State::Present, &plan, &e);
        assert_eq!(c.venv.as_deref(), Some("python3 -m venv /srv/venv"));
        assert_eq!(
            c.pip.as_deref(),
            Some(
                "/srv/venv/bin/python -m pip install --disable-pip-version-check --no-input --no-deps fastapi==0.110.0"
            )
        );
        assert!(hint("error: externally-managed-environment").contains("virtualenv"));
    }
}
