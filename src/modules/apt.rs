//! apt and package: Debian packages, on the module protocol.
//!
//! The facts are typed and merged with the other tasks' (`sysfacts`): one
//! `dpkg-query` for every package of the next tasks, apt's state (tools, the
//! age of the package lists), `apt-cache policy` (installed, candidate and
//! available versions) only when the versions decide (`latest`, pins, or a
//! package missing: a second read), and, only when asked, the task's probe of a
//! .deb or a simulated upgrade/autoremove/autoclean. Rust decides what to
//! install or remove ([`decide`]); the change, never in check mode, runs `apt-get update` (when asked, or when `cache_valid_time` says the
//! lists are old), installs or removes only what differs, and reads dpkg's state
//! again, so what is reported is what really happened. `apt-get update` is never
//! run unless asked.

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Action, Ctx, Facts, Module, Need, Plan as Decision};
use super::remote_file::{self, HostInfo};
use super::sysfacts::{DPKG_FORMAT, Dpkg, Policy, parse_dpkg_line, parse_policy};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

/// The arguments of apt beyond `name` and `state`: `package` passes them
/// through to apt, as Ansible's package action does to its backend.
const APT_OPTIONS: [ArgSpec; 19] = [
    ArgSpec::new("update_cache", Kind::Bool).aliases(&["update-cache"]),
    ArgSpec::new("cache_valid_time", Kind::Int),
    ArgSpec::new("install_recommends", Kind::Bool).aliases(&["install-recommends"]),
    ArgSpec::new("deb", Kind::Str),
    ArgSpec::new("purge", Kind::Bool),
    ArgSpec::new("autoremove", Kind::Bool),
    ArgSpec::new("autoclean", Kind::Bool),
    ArgSpec::new("clean", Kind::Bool),
    ArgSpec::new("force", Kind::Bool),
    ArgSpec::new("allow_downgrade", Kind::Bool).aliases(&[
        "allow-downgrade",
        "allow_downgrades",
        "allow-downgrades",
    ]),
    ArgSpec::new("allow_unauthenticated", Kind::Bool).aliases(&["allow-unauthenticated"]),
    ArgSpec::new("allow_change_held_packages", Kind::Bool),
    ArgSpec::new("default_release", Kind::Str).aliases(&["default-release"]),
    ArgSpec::new("dpkg_options", Kind::Str),
    ArgSpec::new("only_upgrade", Kind::Bool),
    ArgSpec::new(
        "upgrade",
        Kind::Choice(&["no", "yes", "safe", "full", "dist"]),
    ),
    ArgSpec::new("lock_timeout", Kind::Int),
    ArgSpec::new("policy_rc_d", Kind::Int),
    ArgSpec::new("fail_on_autoremove", Kind::Bool),
];

const STATE: ArgSpec = ArgSpec::new(
    "state",
    Kind::Choice(&["present", "absent", "latest", "fixed"]),
);

/// `head` followed by `tail`, at compile time.
const fn concat<const A: usize, const B: usize, const C: usize>(
    head: [ArgSpec; A],
    tail: [ArgSpec; B],
) -> [ArgSpec; C] {
    let mut out = [head[0]; C];
    let mut i = 0;
    while i < B {
        out[A + i] = tail[i];
        i += 1;
    }
    let mut i = 0;
    while i < A {
        out[i] = head[i];
        i += 1;
    }
    out
}

static APT_ARGS: [ArgSpec; 21] = concat(
    [
        ArgSpec::new("name", Kind::List).aliases(&["pkg", "package"]),
        STATE,
    ],
    APT_OPTIONS,
);

static PACKAGE_ARGS: [ArgSpec; 42] = concat(
    concat::<3, 19, 22>(
        [
            ArgSpec::new("name", Kind::List).required(),
            STATE,
            ArgSpec::new("use", Kind::Choice(&["auto", "apt"])),
        ],
        APT_OPTIONS,
    ),
    OTHER_MANAGERS,
);

/// Arguments Ansible's `package` passes to dnf or yum (in the task files of
/// roles for other systems, which `when:` skips on Debian): they load, and a
/// task reaching an apt host with one fails ([`other_manager_args`]).
const OTHER_MANAGER_ARGS: [&str; 20] = [
    "disable_gpg_check",
    "enablerepo",
    "disablerepo",
    "exclude",
    "conf_file",
    "installroot",
    "releasever",
    "security",
    "bugfix",
    "disable_plugin",
    "enable_plugin",
    "download_only",
    "download_dir",
    "skip_broken",
    "update_only",
    "allowerasing",
    "nobest",
    "cacheonly",
    "disable_excludes",
    "install_weak_deps",
];

const OTHER_MANAGERS: [ArgSpec; 20] = {
    let mut out = [ArgSpec::new("disable_gpg_check", Kind::Any); 20];
    let mut i = 0;
    while i < 20 {
        out[i] = ArgSpec::new(OTHER_MANAGER_ARGS[i], Kind::Any);
        i += 1;
    }
    out
};

/// The dnf/yum arguments a `package` task gives: apt has none of them.
fn other_manager_args(args: &Args) -> Result<(), Fail> {
    let given: Vec<&str> = OTHER_MANAGER_ARGS
        .iter()
        .copied()
        .filter(|a| args.values.get(*a).is_some_and(|v| !v.is_null()))
        .collect();
    if given.is_empty() {
        return Ok(());
    }
    bad(format!(
        "package: this host's package manager is apt, which has no {} (an argument of dnf/yum); give it only on the hosts that use dnf or yum (when: ansible_pkg_mgr == 'dnf')",
        given.join(", ")
    ))
}

const APT_EXCLUSIVE: &[&[&str]] = &[&["deb", "name"], &["deb", "upgrade"]];

pub static APT: Spec = Spec {
    mutually_exclusive: APT_EXCLUSIVE,
    required_one_of: &[&[
        "name",
        "deb",
        "update_cache",
        "cache_valid_time",
        "upgrade",
        "autoremove",
        "autoclean",
        "clean",
    ]],
    ..Spec::new("apt", &APT_ARGS)
};

/// `package`: the generic module; Debian's package manager is apt, and the
/// arguments package does not know itself go to apt (`update_cache`,
/// `install_recommends`...), as Ansible's package action passes them on.
pub static PACKAGE: Spec = Spec {
    mutually_exclusive: APT_EXCLUSIVE,
    ..Spec::new("package", &PACKAGE_ARGS)
};

// ---------------------------------------------------------------------------
// Arguments

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Present,
    Absent,
    Latest,
    Fixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    Safe,
    Dist,
}

/// A package named in `name`: `nginx`, `nginx:amd64`, `nginx=1.22.1-9`,
/// `nginx=1.22*` (a version pin, `*` at the end matching any suffix).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pkg {
    name: String,
    version: Option<String>,
}

impl Pkg {
    fn parse(s: &str) -> Result<Pkg, String> {
        let s = s.trim();
        let (name, version) = match s.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().to_string())),
            None => (s, None),
        };
        let name_ok = |n: &str| {
            let (base, arch) = match n.split_once(':') {
                Some((b, a)) => (b, Some(a)),
                None => (n, None),
            };
            !base.is_empty()
                && base
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                && base
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-_".contains(c))
                && arch.is_none_or(|a| {
                    !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        };
        if !name_ok(name) {
            return Err(format!("'{s}' is not a valid package name"));
        }
        if let Some(v) = &version
            && (v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".+~:-*".contains(c)))
        {
            return Err(format!("'{s}': '{v}' is not a valid version"));
        }
        Ok(Pkg {
            name: name.to_string(),
            version,
        })
    }

    /// The name without `:arch`.
    fn base(&self) -> &str {
        self.name.split(':').next().unwrap_or(&self.name)
    }

    fn arch(&self) -> Option<&str> {
        self.name.split_once(':').map(|(_, a)| a)
    }
}

/// Does an installed or available version satisfy a pin (`1.2*` is a prefix)?
fn version_matches(version: &str, pin: &str) -> bool {
    match pin.strip_suffix('*') {
        Some(prefix) => version.starts_with(prefix),
        None => version == pin,
    }
}

#[derive(Debug, Clone, Default)]
struct Opts {
    /// `apt` or `package`, for messages.
    module: &'static str,
    pkgs: Vec<Pkg>,
    state: State,
    update_cache: bool,
    cache_valid_time: Option<i64>,
    install_recommends: Option<bool>,
    deb: Option<String>,
    purge: bool,
    autoremove: bool,
    autoclean: bool,
    clean: bool,
    force: bool,
    allow_downgrade: bool,
    allow_unauthenticated: bool,
    allow_change_held: bool,
    default_release: Option<String>,
    dpkg_options: Vec<String>,
    only_upgrade: bool,
    upgrade: Option<Upgrade>,
    lock_timeout: i64,
    policy_rc_d: Option<i64>,
    fail_on_autoremove: bool,
}

fn bad<T>(msg: impl Into<String>) -> Result<T, Fail> {
    fail::bad_args(msg)
}

fn parse_pkgs(names: &[String]) -> Result<Vec<Pkg>, Fail> {
    let mut out: Vec<Pkg> = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let p = Pkg::parse(n).map_err(Fail::Args)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

impl Opts {
    fn from_apt(args: &Args) -> Result<Opts, Fail> {
        let state = match args.str("state").unwrap_or("present") {
            "absent" => State::Absent,
            "latest" => State::Latest,
            "fixed" => State::Fixed,
            _ => State::Present,
        };
        let names = args.strings("name");
        // `name: [fail2ban, ""]` (an item a ternary left empty): Ansible's apt
        // looks the empty name up and fails, installing nothing
        if state != State::Absent && names.iter().any(|n| n.trim().is_empty()) {
            return fail::fail(not_found("", false));
        }
        let pkgs = parse_pkgs(&names)?;
        if state == State::Latest
            && let Some(p) = pkgs.iter().find(|p| p.version.is_some())
        {
            return bad(format!(
                "version pins ('{}={}') cannot be used with state=latest: use state=present",
                p.name,
                p.version.as_deref().unwrap_or_default()
            ));
        }
        let deb = args.string("deb");
        if let Some(d) = &deb {
            if state != State::Present {
                return bad("deb only supports state=present");
            }
            if d.contains("://") {
                return bad(format!(
                    "deb: {d}: URLs are not supported; copy the .deb to the host first (get_url or copy) and give its path"
                ));
            }
        }
        let cache_valid_time = args.int("cache_valid_time");
        if cache_valid_time.is_some_and(|t| t < 0) {
            return bad("cache_valid_time must be a number of seconds (0 or more)");
        }
        let upgrade = match args.str("upgrade") {
            Some("yes" | "safe") => Some(Upgrade::Safe),
            Some("full" | "dist") => Some(Upgrade::Dist),
            _ => None,
        };
        let dpkg_options = args
            .str("dpkg_options")
            .unwrap_or("force-confdef,force-confold")
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        Ok(Opts {
            module: "apt",
            pkgs,
            state,
            update_cache: args.bool_or("update_cache", false) || cache_valid_time.is_some(),
            cache_valid_time,
            install_recommends: args.bool("install_recommends"),
            deb,
            purge: args.bool_or("purge", false),
            autoremove: args.bool_or("autoremove", false),
            autoclean: args.bool_or("autoclean", false),
            clean: args.bool_or("clean", false),
            force: args.bool_or("force", false),
            allow_downgrade: args.bool_or("allow_downgrade", false),
            allow_unauthenticated: args.bool_or("allow_unauthenticated", false),
            allow_change_held: args.bool_or("allow_change_held_packages", false),
            default_release: args.string("default_release"),
            dpkg_options,
            only_upgrade: args.bool_or("only_upgrade", false),
            upgrade,
            lock_timeout: args.int("lock_timeout").unwrap_or(60),
            policy_rc_d: args.int("policy_rc_d"),
            fail_on_autoremove: args.bool_or("fail_on_autoremove", false),
        })
    }

    fn from_package(args: &Args) -> Result<Opts, Fail> {
        other_manager_args(args)?;
        if args.strings("name").is_empty() {
            return bad("package needs at least one name");
        }
        Ok(Opts {
            module: "package",
            ..Self::from_apt(args)?
        })
    }
}

// ---------------------------------------------------------------------------
// Probe

/// `dpkg-deb -f` of a local .deb.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DebInfo {
    package: String,
    version: String,
    error: Option<String>,
}

/// A line of a simulated `apt-get -s`: `Inst pkg [old] (new ...)`, `Remv pkg [old]`,
/// or `Del pkg ver [...]` (autoclean).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SimLine {
    action: String,
    package: String,
    old: Option<String>,
    new: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Probe {
    host: HostInfo,
    has_apt: bool,
    now: i64,
    /// mtime of the update-success stamp, else of /var/lib/apt/lists.
    cache_mtime: Option<i64>,
    dpkg: Vec<Dpkg>,
    policy: HashMap<String, Policy>,
    deb: Option<DebInfo>,
    upgrade_sim: Vec<SimLine>,
    autoremove_sim: Vec<SimLine>,
    autoclean_sim: Vec<SimLine>,
    /// `apt-get check` failed (broken dependencies), for state=fixed.
    broken: bool,
}

impl Probe {
    /// The dpkg record of a named package (the installed one first).
    fn dpkg_of(&self, p: &Pkg) -> Option<&Dpkg> {
        let matching = |d: &&Dpkg| d.name == p.base() && p.arch().is_none_or(|a| a == d.arch);
        self.dpkg
            .iter()
            .filter(matching)
            .find(|d| d.installed())
            .or_else(|| self.dpkg.iter().find(matching))
    }

    fn installed_version(&self, p: &Pkg) -> Option<&str> {
        self.dpkg_of(p)
            .filter(|d| d.installed())
            .map(|d| d.version.as_str())
    }

    fn policy_of(&self, p: &Pkg) -> Option<&Policy> {
        self.policy
            .get(&p.name)
            .or_else(|| self.policy.get(p.base()))
    }
}

const MARK: &str = "@@opsctl:";

/// `-y -q` and the options every apt-get command gets.
fn apt_get(o: &Opts) -> String {
    format!(
        "apt-get -y -q -o DPkg::Lock::Timeout={}",
        o.lock_timeout.max(0)
    )
}

use crate::transport::shell_words as quoted;

fn dpkg_query(names: &[String]) -> String {
    if names.is_empty() {
        return String::new();
    }
    format!(
        "dpkg-query -W -f='{DPKG_FORMAT}' -- {} 2>/dev/null\n",
        quoted(names)
    )
}

/// The names dpkg-query and apt-cache are asked about.
fn query_names(o: &Opts) -> Vec<String> {
    o.pkgs.iter().map(|p| p.name.clone()).collect()
}

fn upgrade_cmd(o: &Opts, u: Upgrade) -> String {
    match u {
        Upgrade::Safe => format!("{} {} upgrade --with-new-pkgs", apt_get(o), flags(o)),
        Upgrade::Dist => format!("{} {} dist-upgrade", apt_get(o), flags(o)),
    }
}

/// The task's own read-only probe: a .deb's fields, the simulations, `apt-get
/// check`; `None` when the task asks none of them.
fn probe_script(o: &Opts) -> Option<String> {
    let mut s = String::new();
    if let Some(deb) = &o.deb {
        s.push_str(&format!("echo {MARK}deb\n"));
        let q = shell_quote(deb);
        s.push_str(&format!(
            "if [ -f {q} ]; then dpkg-deb -f {q} Package Version 2>&1 || echo 'error=not a valid .deb file'; \
             else echo 'error=no such file on the host'; fi\n"
        ));
        // What is installed of the package it holds.
        s.push_str(&format!(
            "p=$(dpkg-deb -f {q} Package 2>/dev/null) && [ -n \"$p\" ] && {{ echo {MARK}dpkg; dpkg-query -W -f='{DPKG_FORMAT}' -- \"$p\" 2>/dev/null; }}\n"
        ));
    }
    if let Some(u) = o.upgrade {
        s.push_str(&format!("echo {MARK}upgrade\n"));
        s.push_str(&format!(
            "{} -s 2>/dev/null | grep -E '^(Inst|Remv) '\n",
            upgrade_cmd(o, u)
        ));
    }
    if o.autoremove && o.state != State::Absent {
        s.push_str(&format!("echo {MARK}autoremove\n"));
        s.push_str(&format!(
            "{} -s autoremove 2>/dev/null | grep -E '^Remv '\n",
            apt_get(o)
        ));
    }
    if o.autoclean {
        s.push_str(&format!("echo {MARK}autoclean\n"));
        s.push_str(&format!(
            "{} -s autoclean 2>/dev/null | grep -E '^Del '\n",
            apt_get(o)
        ));
    }
    if o.state == State::Fixed {
        s.push_str("apt-get check -q >/dev/null 2>&1 || echo broken=1\n");
    }
    if s.is_empty() {
        return None;
    }
    Some(format!(
        "# opsctl {}: probe {}\nexport LC_ALL=C\n{s}exit 0\n",
        o.module,
        o.deb.clone().unwrap_or_else(|| "the package lists".into())
    ))
}

/// Splits output into `(section, lines)`, the first section being "".
fn sections(out: &str) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = vec![(String::new(), Vec::new())];
    for line in out.lines() {
        if let Some(at) = line.find(MARK) {
            let before = &line[..at];
            if !before.trim().is_empty()
                && let Some(last) = v.last_mut()
            {
                last.1.push(before.to_string());
            }
            v.push((line[at + MARK.len()..].trim().to_string(), Vec::new()));
        } else if let Some(last) = v.last_mut() {
            // progress lines redrawn with \r: keep what was shown last
            let shown = line.trim_end_matches('\r');
            last.1
                .push(shown.rsplit('\r').next().unwrap_or(shown).to_string());
        }
    }
    v
}

fn parse_sim(lines: &[String]) -> Vec<SimLine> {
    let bracket = |s: &str, open: char, close: char| {
        let a = s.find(open)?;
        let b = s[a..].find(close)? + a;
        s[a + 1..b].split_whitespace().next().map(str::to_string)
    };
    lines
        .iter()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let action = it.next()?.to_string();
            let package = it.next()?.to_string();
            let rest: String = it.collect::<Vec<_>>().join(" ");
            let (old, new) = match action.as_str() {
                "Inst" => {
                    let head = rest.split('(').next().unwrap_or_default();
                    (bracket(head, '[', ']'), bracket(&rest, '(', ')'))
                }
                "Remv" => (bracket(&rest, '[', ']'), None),
                "Del" => (rest.split_whitespace().next().map(str::to_string), None),
                _ => return None,
            };
            Some(SimLine {
                action,
                package,
                old,
                new,
            })
        })
        .collect()
}

fn parse_probe(out: &str) -> Probe {
    let mut p = Probe::default();
    for (name, lines) in sections(out) {
        match name.as_str() {
            "" => {
                for l in &lines {
                    let Some((k, v)) = l.split_once('=') else {
                        continue;
                    };
                    match k {
                        "uid" => p.host.uid = v.trim().parse().unwrap_or(u32::MAX),
                        "user" => p.host.user = v.trim().to_string(),
                        "now" => p.now = v.trim().parse().unwrap_or(0),
                        "apt" => p.has_apt = v.trim() == "1",
                        "cache" => p.cache_mtime = v.trim().parse().ok(),
                        _ => {}
                    }
                }
            }
            "dpkg" => p
                .dpkg
                .extend(lines.iter().filter_map(|l| parse_dpkg_line(l))),
            "policy" => p.policy = parse_policy(&lines),
            "deb" => {
                let mut d = DebInfo::default();
                for l in &lines {
                    if let Some(v) = l.strip_prefix("Package:") {
                        d.package = v.trim().to_string();
                    } else if let Some(v) = l.strip_prefix("Version:") {
                        d.version = v.trim().to_string();
                    } else if let Some(v) = l.strip_prefix("error=") {
                        d.error = Some(v.trim().to_string());
                    } else if d.error.is_none() && !l.trim().is_empty() && !l.contains(':') {
                        d.error = Some(l.trim().to_string());
                    }
                }
                if d.error.is_none() && d.package.is_empty() {
                    d.error = Some("not a valid .deb file".into());
                }
                p.deb = Some(d);
            }
            "upgrade" => p.upgrade_sim = parse_sim(&lines),
            "autoremove" => p.autoremove_sim = parse_sim(&lines),
            "autoclean" => p.autoclean_sim = parse_sim(&lines),
            _ => {}
        }
    }
    // `broken=1` comes last, after the other sections.
    if out.lines().any(|l| l.trim() == "broken=1") {
        p.broken = true;
    }
    p
}

// ---------------------------------------------------------------------------
// Decision

/// What the change exec does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Plan {
    update: bool,
    /// `apt-get install` arguments: names, `name=version`, .deb paths.
    install: Vec<String>,
    /// `apt-get remove` (or purge) arguments.
    remove: Vec<String>,
    upgrade: Option<Upgrade>,
    autoremove: bool,
    autoclean: bool,
    clean: bool,
    /// `apt-get -f install` (state=fixed on a broken system).
    fix: bool,
    /// `(package, before, after)` as predicted: `absent` or a version.
    changes: Vec<(String, String, String)>,
}

impl Plan {
    /// Does the plan change anything but the package lists?
    fn acts(&self) -> bool {
        !self.install.is_empty()
            || !self.remove.is_empty()
            || self.upgrade.is_some()
            || self.autoremove
            || self.autoclean
            || self.clean
            || self.fix
    }
}

fn describe(d: Option<&Dpkg>) -> String {
    match d {
        Some(d) if d.installed() => d.version.clone(),
        Some(d) if d.status == "config-files" => "absent (config files left)".into(),
        _ => "absent".into(),
    }
}

fn not_found(name: &str, update_hint: bool) -> String {
    let mut m = format!("No package matching '{name}' is available");
    if update_hint {
        m.push_str(" (if it was just added to a repository, set update_cache: true)");
    }
    m
}

/// Decides what to do from the probe. `Err` is a task failure.
fn decide(o: &Opts, p: &Probe) -> Result<Plan, String> {
    let mut plan = Plan::default();
    if o.update_cache {
        plan.update = match (o.cache_valid_time, p.cache_mtime) {
            (Some(valid), Some(mtime)) => p.now > mtime.saturating_add(valid),
            _ => true,
        };
    }
    // After an update the candidates may differ from what the probe saw, so a
    // package unknown now may well be known then.
    let lenient = plan.update;
    for pkg in &o.pkgs {
        let d = p.dpkg_of(pkg);
        let installed = p.installed_version(pkg);
        let pol = p.policy_of(pkg);
        let known = pol.is_some() || d.is_some_and(|d| d.installed());
        match o.state {
            State::Present | State::Fixed => match (&pkg.version, installed) {
                (None, Some(_)) => {}
                (Some(pin), Some(v)) if version_matches(v, pin) => {}
                (pin, _) => {
                    if !known && !lenient {
                        return Err(not_found(&pkg.name, true));
                    }
                    let (arg, after) = match pin {
                        None => (
                            pkg.name.clone(),
                            pol.and_then(|p| p.candidate.clone())
                                .unwrap_or_else(|| "latest".into()),
                        ),
                        Some(pin) => {
                            let versions = pol.map(|p| p.versions.clone()).unwrap_or_default();
                            match versions.iter().find(|v| version_matches(v, pin)) {
                                Some(v) => (format!("{}={v}", pkg.name), v.clone()),
                                None if lenient => (format!("{}={pin}", pkg.name), pin.clone()),
                                None => {
                                    return Err(format!(
                                        "version '{pin}' of package '{}' is not available (available: {})",
                                        pkg.name,
                                        if versions.is_empty() {
                                            "none".to_string()
                                        } else {
                                            versions.join(", ")
                                        }
                                    ));
                                }
                            }
                        }
                    };
                    plan.install.push(arg);
                    plan.changes.push((pkg.name.clone(), describe(d), after));
                }
            },
            State::Latest => {
                if installed.is_none() && o.only_upgrade {
                    continue;
                }
                if !known && !lenient {
                    return Err(not_found(&pkg.name, true));
                }
                let candidate = pol.and_then(|p| p.candidate.clone());
                let outdated = match (installed, &candidate) {
                    (None, _) => true,
                    (Some(v), Some(c)) => v != c,
                    (Some(_), None) => false,
                };
                if outdated {
                    plan.install.push(pkg.name.clone());
                    plan.changes.push((
                        pkg.name.clone(),
                        describe(d),
                        candidate.unwrap_or_else(|| "latest".into()),
                    ));
                } else if lenient {
                    // Re-checked after the update, reported only if it changes.
                    plan.install.push(pkg.name.clone());
                }
            }
            State::Absent => {
                let present = match d {
                    Some(d) if d.installed() => pkg
                        .version
                        .as_deref()
                        .is_none_or(|pin| version_matches(&d.version, pin)),
                    Some(d) => o.purge && d.status == "config-files",
                    None => false,
                };
                if present {
                    plan.remove.push(pkg.name.clone());
                    plan.changes.push((
                        pkg.name.clone(),
                        describe(d),
                        if o.purge { "purged" } else { "absent" }.into(),
                    ));
                }
            }
        }
    }
    if let Some(deb) = &o.deb {
        let info = p.deb.clone().unwrap_or_default();
        if let Some(e) = info.error {
            return Err(format!("deb {deb}: {e}"));
        }
        let d = p
            .dpkg
            .iter()
            .find(|d| d.name == info.package && d.installed());
        if d.is_none_or(|d| d.version != info.version) {
            let path = if deb.starts_with('/') || deb.starts_with("./") {
                deb.clone()
            } else {
                format!("./{deb}")
            };
            plan.install.push(path);
            plan.changes
                .push((info.package.clone(), describe(d), info.version.clone()));
        }
    }
    // A plan installing only to re-check after an update changes nothing yet.
    if !plan.update && plan.changes.is_empty() {
        plan.install.clear();
    }
    if o.upgrade.is_some() && (plan.update || !p.upgrade_sim.is_empty()) {
        plan.upgrade = o.upgrade;
    }
    plan.autoremove =
        o.autoremove && o.state != State::Absent && (plan.update || !p.autoremove_sim.is_empty());
    plan.autoclean = o.autoclean && !p.autoclean_sim.is_empty();
    plan.clean = o.clean;
    plan.fix = o.state == State::Fixed && p.broken;
    Ok(plan)
}

/// Would the task report changed (in check mode: the prediction)?
fn predicted_changed(o: &Opts, plan: &Plan, p: &Probe) -> bool {
    !plan.changes.is_empty()
        || (plan.upgrade.is_some() && !p.upgrade_sim.is_empty())
        || (plan.autoremove && !p.autoremove_sim.is_empty())
        || plan.autoclean
        || plan.clean
        || plan.fix
        || (plan.update && only_cache(o))
}

/// Only the cache was asked for: its update is the change (as in Ansible).
fn only_cache(o: &Opts) -> bool {
    o.pkgs.is_empty() && o.deb.is_none() && o.upgrade.is_none()
}

/// Diff text `name: version` lines.
fn diff_lines(rows: &[(String, String)]) -> String {
    rows.iter().map(|(n, v)| format!("{n}: {v}\n")).collect()
}

fn sim_diff(sim: &[SimLine]) -> (String, String) {
    let mut before = String::new();
    let mut after = String::new();
    for s in sim {
        let old = s.old.clone().unwrap_or_else(|| "absent".into());
        let new = match s.action.as_str() {
            "Inst" => s.new.clone().unwrap_or_else(|| "latest".into()),
            "Remv" => "absent".into(),
            _ => "deleted".into(),
        };
        before.push_str(&format!("{}: {old}\n", s.package));
        after.push_str(&format!("{}: {new}\n", s.package));
    }
    (before, after)
}

// ---------------------------------------------------------------------------
// Change

/// Options of install/remove/upgrade commands.
fn flags(o: &Opts) -> String {
    let mut f: Vec<String> = o
        .dpkg_options
        .iter()
        .map(|d| format!("-o Dpkg::Options::=--{}", shell_quote(d)))
        .collect();
    match o.install_recommends {
        Some(true) => f.push("--install-recommends".into()),
        Some(false) => f.push("--no-install-recommends".into()),
        None => {}
    }
    if let Some(r) = &o.default_release {
        f.push(format!("-t {}", shell_quote(r)));
    }
    if o.force || o.allow_unauthenticated {
        f.push("--allow-unauthenticated".into());
    }
    if o.force || o.allow_downgrade {
        f.push("--allow-downgrades".into());
    }
    if o.force || o.allow_change_held {
        f.push("--allow-change-held-packages".into());
    }
    if o.force {
        f.push("--allow-remove-essential".into());
    }
    f.join(" ")
}

fn change_script(o: &Opts, plan: &Plan, post_names: &[String]) -> String {
    let ag = apt_get(o);
    let fl = flags(o);
    let mut s = format!("# opsctl {}: change packages\n", o.module);
    s.push_str("export DEBIAN_FRONTEND=noninteractive LC_ALL=C\n");
    s.push_str(&format!(
        "step() {{ n=$1; shift; echo \"{MARK}begin $n\"; \"$@\"; r=$?; echo; echo \"{MARK}end $n $r\"; [ \"$r\" -eq 0 ] || exit \"$r\"; }}\n"
    ));
    if let Some(rc) = o.policy_rc_d {
        s.push_str(&format!(
            "prc=/usr/sbin/policy-rc.d\n[ -e $prc ] && mv -f $prc $prc.opsctl\n\
             printf '#!/bin/sh\\nexit {rc}\\n' > $prc && chmod 0755 $prc\n\
             trap 'rm -f $prc; [ -e $prc.opsctl ] && mv -f $prc.opsctl $prc' EXIT\n"
        ));
    }
    if plan.update {
        // the lists' content before and after: an update that fetched
        // nothing new changes nothing
        s.push_str(LISTS_SUM);
        s.push_str("l0=$(opsctl_lists)\n");
        s.push_str(&format!("step update {ag} update\n"));
        s.push_str(&format!(
            "if [ \"$l0\" = \"$(opsctl_lists)\" ]; then echo {MARK}lists_same; fi\n"
        ));
        s.push_str(
            "mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/update-success-stamp\n",
        );
        s.push_str(&format!(
            "echo \"{MARK}updated $(stat -c %Y /var/lib/apt/periodic/update-success-stamp)\"\n"
        ));
    }
    if plan.fix {
        s.push_str(&format!("step fix {ag} {fl} -f install\n"));
    }
    if !plan.install.is_empty() {
        let mut extra = String::new();
        if o.only_upgrade {
            extra.push_str(" --only-upgrade");
        }
        if o.fail_on_autoremove {
            extra.push_str(" --no-remove");
        }
        if o.state == State::Fixed {
            extra.push_str(" -f");
        }
        s.push_str(&format!(
            "step install {ag} {fl}{extra} install -- {}\n",
            quoted(&plan.install)
        ));
    }
    if !plan.remove.is_empty() {
        let verb = if o.purge { "purge" } else { "remove" };
        let auto = if o.autoremove { " --autoremove" } else { "" };
        s.push_str(&format!(
            "step remove {ag} {fl}{auto} {verb} -- {}\n",
            quoted(&plan.remove)
        ));
    }
    if let Some(u) = plan.upgrade {
        s.push_str(&format!("step upgrade {}\n", upgrade_cmd(o, u)));
    }
    if plan.autoremove {
        let purge = if o.purge { " --purge" } else { "" };
        s.push_str(&format!("step autoremove {ag}{purge} autoremove\n"));
    }
    if plan.autoclean {
        s.push_str(&format!("step autoclean {ag} autoclean\n"));
    }
    if plan.clean {
        s.push_str(&format!("step clean {ag} clean\n"));
    }
    s.push_str(&format!("echo {MARK}dpkg\n"));
    s.push_str(&dpkg_query(post_names));
    s.push_str("exit 0\n");
    s
}

/// A checksum of the package lists (names and content).
const LISTS_SUM: &str = "opsctl_lists() { (cd /var/lib/apt/lists 2>/dev/null && find . -maxdepth 1 -type f ! -name lock -exec md5sum {} + | sort) | md5sum; }\n";

/// What the change exec printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Applied {
    /// `apt-get update` left the package lists as they were.
    lists_same: bool,
    /// `(step, output, rc)` in order; the last one failed if its rc is not 0.
    steps: Vec<(String, String, i32)>,
    updated: Option<i64>,
    dpkg: Vec<Dpkg>,
}

fn parse_applied(out: &str) -> Applied {
    let mut a = Applied::default();
    let mut open: Option<(String, Vec<String>)> = None;
    for (name, lines) in sections(out) {
        if let Some(step) = name.strip_prefix("begin ") {
            open = Some((step.to_string(), lines));
        } else if let Some(rest) = name.strip_prefix("end ") {
            let mut it = rest.split_whitespace();
            let step = it.next().unwrap_or_default().to_string();
            let rc = it.next().and_then(|r| r.parse().ok()).unwrap_or(-1);
            let text = open
                .take()
                .map(|(_, l)| l.join("\n").trim().to_string())
                .unwrap_or_default();
            a.steps.push((step, text, rc));
        } else if let Some(t) = name.strip_prefix("updated ") {
            a.updated = t.trim().parse().ok();
        } else if name == "lists_same" {
            a.lists_same = true;
        } else if name == "dpkg" {
            a.dpkg = lines.iter().filter_map(|l| parse_dpkg_line(l)).collect();
        }
    }
    // A step that never ended (the script died inside it).
    if let Some((step, lines)) = open {
        a.steps.push((step, lines.join("\n"), -1));
    }
    a
}

/// `0 upgraded, 0 newly installed, 0 to remove`: nothing was done.
fn did_nothing(output: &str) -> bool {
    output
        .lines()
        .any(|l| l.starts_with("0 upgraded, 0 newly installed, 0 to remove"))
}

/// The message of a failed apt-get step, from its stderr.
fn step_failure(step: &str, rc: i32, stderr: &str, output: &str) -> String {
    for l in stderr.lines() {
        if let Some(rest) = l.strip_prefix("E: Unable to locate package ") {
            return not_found(rest.trim(), false);
        }
    }
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("dpkg: error"))
        .collect();
    let detail = if !errors.is_empty() {
        errors.join("; ")
    } else {
        stderr
            .lines()
            .chain(output.lines())
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .to_string()
    };
    let cmd = match step {
        "update" => "apt-get update",
        "install" => "apt-get install",
        "remove" => "apt-get remove",
        "upgrade" => "apt-get upgrade",
        "fix" => "apt-get -f install",
        other => other,
    };
    format!("{cmd} failed (rc {rc}): {detail}")
}

fn lines_json(s: &str) -> Json {
    Json::Array(s.lines().map(|l| json!(l)).collect())
}

fn summary(changes: &[(String, String, String)], check: bool) -> String {
    if changes.is_empty() {
        return if check { "would change" } else { "changed" }.into();
    }
    let parts: Vec<String> = changes
        .iter()
        .map(|(n, b, a)| format!("{n} {b} -> {a}"))
        .collect();
    parts.join(", ")
}

// ---------------------------------------------------------------------------
// On the module protocol

/// `apt` (false) and `package` (true) on the module protocol.
pub struct Apt(bool);

pub static RUN_APT: Apt = Apt(false);
pub static RUN_PACKAGE: Apt = Apt(true);

impl Apt {
    fn opts(&self, args: &Args) -> Result<Opts, Fail> {
        if self.0 {
            Opts::from_package(args)
        } else {
            Opts::from_apt(args)
        }
    }
}

fn policy_needs(o: &Opts) -> Vec<Need> {
    query_names(o).into_iter().map(Need::Policy).collect()
}

/// The first read: who runs, apt's state, dpkg's records of every package
/// named (merged with the other tasks'), their policies when the versions
/// available decide (`latest`, pins), and the task's own probe (a .deb, the
/// simulations, `apt-get check`) when it asks for one of those.
fn apt_needs(o: &Opts) -> Vec<Need> {
    let mut v = vec![Need::Host, Need::AptState];
    v.extend(query_names(o).into_iter().map(Need::Package));
    if o.state == State::Latest || o.pkgs.iter().any(|p| p.version.is_some()) {
        v.extend(policy_needs(o));
    }
    v.extend(probe_script(o).map(Need::Probe));
    v
}

/// What the gathered facts say, or what to read first (the policies, when a
/// package is missing or not the version pinned).
fn probe_from(o: &Opts, facts: &Facts) -> Result<Result<Probe, Vec<Need>>, Fail> {
    let apt = facts.sys.apt()?;
    let mut p = Probe {
        host: facts.host()?.clone(),
        has_apt: apt.has_apt,
        now: apt.now,
        cache_mtime: apt.cache_mtime,
        ..Default::default()
    };
    for n in query_names(o) {
        for d in facts.sys.package(&n)? {
            if !p.dpkg.contains(d) {
                p.dpkg.push(d.clone());
            }
        }
    }
    if let Some(script) = probe_script(o) {
        let extra = parse_probe(&facts.probe(&script)?.stdout_str());
        p.dpkg.extend(extra.dpkg);
        p.deb = extra.deb;
        p.upgrade_sim = extra.upgrade_sim;
        p.autoremove_sim = extra.autoremove_sim;
        p.autoclean_sim = extra.autoclean_sim;
        p.broken = extra.broken;
    }
    let unsatisfied = o
        .pkgs
        .iter()
        .any(|pkg| match (&pkg.version, p.installed_version(pkg)) {
            (None, Some(_)) => false,
            (Some(pin), Some(v)) => !version_matches(v, pin),
            _ => true,
        });
    let pols = policy_needs(o);
    if matches!(o.state, State::Present | State::Fixed)
        && unsatisfied
        && pols.iter().any(|n| !facts.has(n))
    {
        return Ok(Err(pols));
    }
    for n in query_names(o) {
        if facts.has(&Need::Policy(n.clone()))
            && let Some(pol) = facts.sys.policy(&n)?
        {
            p.policy.insert(n, pol.clone());
        }
    }
    Ok(Ok(p))
}

fn base(changed: bool, updated: bool, time: i64) -> Outcome {
    let mut o = if changed {
        Outcome::changed()
    } else {
        Outcome::ok()
    };
    o.data.insert("cache_updated".into(), json!(updated));
    o.data.insert("cache_update_time".into(), json!(time));
    o
}

fn change_rows(rows: &[(String, String, String)]) -> Diff {
    let b: Vec<(String, String)> = rows
        .iter()
        .map(|(n, b, _)| (n.clone(), b.clone()))
        .collect();
    let a: Vec<(String, String)> = rows
        .iter()
        .map(|(n, _, a)| (n.clone(), a.clone()))
        .collect();
    Diff::new("packages", diff_lines(&b), diff_lines(&a))
}

impl Module for Apt {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(apt_needs(&self.opts(args)?))
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Decision, Fail> {
        let o = self.opts(args)?;
        let probe = match probe_from(&o, facts)? {
            Ok(p) => p,
            Err(more) => return Ok(Decision::More(more)),
        };
        if !probe.has_apt {
            return fail::fail(format!(
                "{}: this host has no apt-get/dpkg-query: opsctl manages packages with apt (Debian, Ubuntu)",
                o.module
            ));
        }
        let plan = decide(&o, &probe)?;
        let changed = predicted_changed(&o, &plan, &probe);
        let cache_time = probe.cache_mtime.unwrap_or(0);
        if (plan.update || plan.acts()) && probe.host.uid != 0 {
            let what = if !plan.changes.is_empty() {
                format!(
                    "changing packages ({})",
                    plan.changes
                        .iter()
                        .map(|c| c.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else if plan.update {
                "updating the package lists".to_string()
            } else {
                "this".to_string()
            };
            return fail::fail(format!(
                "{} needs root for {what}{}",
                o.module,
                remote_file::become_hint(&probe.host)
            ));
        }
        let mut res = base(changed, false, cache_time);
        for k in ["stdout", "stderr"] {
            res.data.insert(k.into(), json!(""));
            res.data.insert(format!("{k}_lines"), json!([]));
        }
        if ctx.diff && changed {
            if !plan.changes.is_empty() {
                res.diffs.push(change_rows(&plan.changes));
            }
            for (label, sim, on) in [
                ("upgrade", &probe.upgrade_sim, plan.upgrade.is_some()),
                ("autoremove", &probe.autoremove_sim, plan.autoremove),
                ("autoclean", &probe.autoclean_sim, plan.autoclean),
            ] {
                if on && !sim.is_empty() {
                    let (b, a) = sim_diff(sim);
                    res.diffs
                        .push(Diff::new(format!("packages ({label})"), b, a));
                }
            }
        }
        if changed {
            res.msg = Some(summary(&plan.changes, true));
        }
        if !plan.update && !plan.acts() {
            return Ok(Decision::Done(res));
        }
        // What applied() needs to know, printed back by the change: the lists'
        // age, the package of a .deb, the packages that must be installed
        // after (those with a candidate), and dpkg's records before.
        let mut post_names = query_names(&o);
        let deb_pkg = probe.deb.as_ref().filter(|d| !d.package.is_empty());
        if let Some(d) = deb_pkg {
            post_names.push(d.package.clone());
        }
        let expect: Vec<String> = o
            .pkgs
            .iter()
            .filter(|p| probe.policy_of(p).is_some_and(|p| p.candidate.is_some()))
            .map(|p| p.name.clone())
            .collect();
        let mut memo = format!("echo '{MARK}cache {cache_time}'\n");
        if let Some(d) = deb_pkg {
            memo.push_str(&format!("echo {MARK}deb {}\n", shell_quote(&d.package)));
        }
        memo.push_str(&format!("echo {MARK}expect {}\n", quoted(&expect)));
        memo.push_str(&format!("echo {MARK}before\n{}", dpkg_query(&post_names)));
        let full = change_script(&o, &plan, &post_names);
        let (head, rest) = full.split_once('\n').unwrap_or_default();
        let script = format!("{head}\n{memo}{rest}");
        Ok(Decision::change(
            res,
            Action::Script {
                script,
                stdin: None,
            },
        ))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: super::protocol::Applied,
        ctx: &Ctx,
    ) -> Result<Outcome, Fail> {
        let o = self.opts(args)?;
        let super::protocol::Applied::Script(out) = result else {
            return Ok(planned);
        };
        let text = out.stdout_str();
        let applied = parse_applied(&text);
        let mut cache_time = 0;
        let mut deb_pkg = None;
        let mut expect: Vec<String> = Vec::new();
        let mut before_dpkg = Vec::new();
        for (name, lines) in sections(&text) {
            if let Some(t) = name.strip_prefix("cache ") {
                cache_time = t.trim().parse().unwrap_or(0);
            } else if let Some(d) = name.strip_prefix("deb ") {
                deb_pkg = Some(d.trim().to_string());
            } else if let Some(e) = name.strip_prefix("expect") {
                expect = e.split_whitespace().map(str::to_string).collect();
            } else if name == "before" {
                before_dpkg = lines.iter().filter_map(|l| parse_dpkg_line(l)).collect();
            }
        }
        let stderr = out.stderr_str();
        let stdout: String = applied
            .steps
            .iter()
            .map(|(_, t, _)| t.as_str())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if let Some((step, text, rc)) = applied.steps.iter().find(|(_, _, rc)| *rc != 0) {
            let mut res = Outcome::failed(step_failure(step, *rc, &stderr, text));
            res.data.insert("stdout".into(), json!(stdout));
            res.data.insert("stderr".into(), json!(stderr.trim_end()));
            return Ok(res);
        }
        if !out.success() {
            return fail::fail(format!(
                "the package change failed (rc {}): {}",
                out.rc.map(|r| r.to_string()).unwrap_or("signal".into()),
                stderr.trim()
            ));
        }
        // What really changed: dpkg before and after, and apt-get's summaries.
        let before = Probe {
            dpkg: before_dpkg,
            ..Default::default()
        };
        let after = Probe {
            dpkg: applied.dpkg.clone(),
            ..Default::default()
        };
        let mut real: Vec<(String, String, String)> = Vec::new();
        let mut named: Vec<Pkg> = o.pkgs.clone();
        if let Some(d) = &deb_pkg {
            named.push(Pkg {
                name: d.clone(),
                version: None,
            });
        }
        for pkg in &named {
            let (b, a) = (describe(before.dpkg_of(pkg)), describe(after.dpkg_of(pkg)));
            if b != a {
                real.push((pkg.name.clone(), b, a));
            }
        }
        // Packages asked to be present must be there now (not virtual
        // packages, which have no candidate of their own).
        if matches!(o.state, State::Present | State::Latest | State::Fixed) {
            for pkg in o.pkgs.iter().filter(|p| expect.contains(&p.name)) {
                if after.installed_version(pkg).is_none() && !o.only_upgrade {
                    let mut res = Outcome::failed(format!(
                        "{}: '{}' is still not installed after apt-get install (a virtual package? name the package that provides it)",
                        o.module, pkg.name
                    ));
                    res.data.insert("stdout".into(), json!(stdout));
                    res.data.insert("stderr".into(), json!(stderr.trim_end()));
                    return Ok(res);
                }
            }
        }
        let step_changed = |name: &str| {
            applied
                .steps
                .iter()
                .any(|(s, t, _)| s == name && !did_nothing(t))
        };
        let step_ran = |name: &str| applied.steps.iter().any(|(s, _, _)| s == name);
        let updated = applied.updated.is_some();
        let changed = !real.is_empty()
            || step_changed("upgrade")
            || step_changed("autoremove")
            || step_changed("fix")
            || step_ran("autoclean")
            || step_ran("clean")
            || (updated && only_cache(&o) && !applied.lists_same);
        let mut res = base(changed, updated, applied.updated.unwrap_or(cache_time));
        res.data.insert("stdout_lines".into(), lines_json(&stdout));
        res.data
            .insert("stderr_lines".into(), lines_json(stderr.trim_end()));
        res.data.insert("stdout".into(), json!(stdout));
        res.data.insert("stderr".into(), json!(stderr.trim_end()));
        if ctx.diff && changed {
            if !real.is_empty() {
                res.diffs.push(change_rows(&real));
            }
            for label in ["upgrade", "autoremove"] {
                let l = format!("packages ({label})");
                if step_changed(label)
                    && let Some(d) = planned.diffs.iter().find(|d| d.label == l)
                {
                    res.diffs.push(d.clone());
                }
            }
        }
        if changed {
            res.msg = Some(
                if real.is_empty() && updated && only_cache(&o) && !applied.lists_same {
                    "package lists updated".into()
                } else {
                    summary(&real, false)
                },
            );
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(names: &[&str], state: State) -> Opts {
        Opts {
            module: "apt",
            pkgs: names.iter().map(|n| Pkg::parse(n).unwrap()).collect(),
            state,
            lock_timeout: 60,
            dpkg_options: vec!["force-confdef".into(), "force-confold".into()],
            ..Default::default()
        }
    }

    const PROBE: &str = "uid=0\nuser=root\nnow=1700000100\napt=1\ncache=1700000000\n\
@@opsctl:dpkg\n\
cron\tamd64\tinstall ok installed\t3.0pl1-162\n\
nginx\tamd64\tdeinstall ok config-files\t1.22.1-9\n\
@@opsctl:policy\n\
cron:\n  Installed: 3.0pl1-162\n  Candidate: 3.0pl1-163\n  Version table:\n     3.0pl1-163 500\n        500 file:/repo ./ Packages\n *** 3.0pl1-162 100\n        100 /var/lib/dpkg/status\n\
nginx:\n  Installed: (none)\n  Candidate: 1.22.1-9+deb12u11\n  Version table:\n     1.22.1-9+deb12u11 500\n        500 file:/repo ./ Packages\n     1.22.1-9 400\n        400 file:/old ./ Packages\n\
mta:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n";

    #[test]
    fn an_empty_name_is_a_package_not_found_unless_removing() {
        let of = |v: serde_json::Value| {
            Opts::from_apt(&Args {
                values: v.as_object().unwrap().clone(),
            })
        };
        match of(serde_json::json!({"name": ["fail2ban", ""], "update_cache": true})) {
            Err(Fail::Task(m)) => assert_eq!(m, "No package matching '' is available"),
            other => panic!("{other:?}"),
        }
        let o = of(serde_json::json!({"name": ["fail2ban", " "], "state": "absent"})).unwrap();
        assert_eq!(o.pkgs.len(), 1);
    }

    #[test]
    fn parses_the_probe() {
        let p = parse_probe(PROBE);
        assert_eq!(p.host.uid, 0);
        assert!(p.has_apt);
        assert_eq!((p.now, p.cache_mtime), (1_700_000_100, Some(1_700_000_000)));
        assert_eq!(p.dpkg.len(), 2);
        assert!(p.dpkg[0].installed() && !p.dpkg[1].installed());
        assert_eq!(p.dpkg[1].status, "config-files");
        let cron = &p.policy["cron"];
        assert_eq!(cron.installed.as_deref(), Some("3.0pl1-162"));
        assert_eq!(cron.candidate.as_deref(), Some("3.0pl1-163"));
        assert_eq!(cron.versions, vec!["3.0pl1-163", "3.0pl1-162"]);
        assert_eq!(p.policy["nginx"].versions.len(), 2);
        assert_eq!(p.policy["mta"], Policy::default());
        assert!(!p.broken);
    }

    #[test]
    fn package_names_and_pins() {
        assert_eq!(
            Pkg::parse("nginx=1.22.1-9").unwrap(),
            Pkg {
                name: "nginx".into(),
                version: Some("1.22.1-9".into())
            }
        );
        let p = Pkg::parse("libc6:amd64").unwrap();
        assert_eq!((p.base(), p.arch()), ("libc6", Some("amd64")));
        for bad in ["", "ngi nx", "$(reboot)", "a;b", "x=", "-x", "x=1 2"] {
            assert!(Pkg::parse(bad).is_err(), "{bad}");
        }
        assert!(version_matches("1.22.1-9", "1.22*"));
        assert!(!version_matches("1.22.1-9", "1.22"));
    }

    #[test]
    fn present_installs_only_what_is_missing() {
        let p = parse_probe(PROBE);
        let plan = decide(&opts(&["cron", "nginx"], State::Present), &p).unwrap();
        assert_eq!(plan.install, vec!["nginx"]);
        assert!(!plan.update);
        assert_eq!(
            plan.changes,
            vec![(
                "nginx".into(),
                "absent (config files left)".into(),
                "1.22.1-9+deb12u11".into()
            )]
        );
        let none = decide(&opts(&["cron"], State::Present), &p).unwrap();
        assert_eq!(none, Plan::default());
        assert!(!predicted_changed(
            &opts(&["cron"], State::Present),
            &none,
            &p
        ));
    }

    #[test]
    fn pins_resolve_against_available_versions() {
        let p = parse_probe(PROBE);
        let plan = decide(&opts(&["nginx=1.22.1-9"], State::Present), &p).unwrap();
        assert_eq!(plan.install, vec!["nginx=1.22.1-9"]);
        let plan = decide(&opts(&["nginx=1.22.1-9+*"], State::Present), &p).unwrap();
        assert_eq!(plan.install, vec!["nginx=1.22.1-9+deb12u11"]);
        // the installed version satisfies the pin
        let plan = decide(&opts(&["cron=3.0pl1-162"], State::Present), &p).unwrap();
        assert!(plan.install.is_empty());
        // a downgrade/upgrade to the pin
        let plan = decide(&opts(&["cron=3.0pl1-163"], State::Present), &p).unwrap();
        assert_eq!(plan.install, vec!["cron=3.0pl1-163"]);
        let e = decide(&opts(&["nginx=9.9"], State::Present), &p).unwrap_err();
        assert!(
            e.contains("version '9.9' of package 'nginx' is not available"),
            "{e}"
        );
        assert!(e.contains("1.22.1-9+deb12u11, 1.22.1-9"), "{e}");
    }

    #[test]
    fn unknown_packages_fail_unless_the_cache_is_updated() {
        let p = parse_probe(PROBE);
        let e = decide(&opts(&["nosuch"], State::Present), &p).unwrap_err();
        assert!(
            e.starts_with("No package matching 'nosuch' is available"),
            "{e}"
        );
        let mut o = opts(&["nosuch"], State::Present);
        o.update_cache = true;
        let plan = decide(&o, &p).unwrap();
        assert!(plan.update);
        assert_eq!(plan.install, vec!["nosuch"]);
    }

    #[test]
    fn latest_compares_with_the_candidate() {
        let p = parse_probe(PROBE);
        let plan = decide(&opts(&["cron"], State::Latest), &p).unwrap();
        assert_eq!(plan.install, vec!["cron"]);
        assert_eq!(
            plan.changes,
            vec![("cron".into(), "3.0pl1-162".into(), "3.0pl1-163".into())]
        );
        let mut o = opts(&["nginx"], State::Latest);
        o.only_upgrade = true;
        assert_eq!(decide(&o, &p).unwrap(), Plan::default());
    }

    #[test]
    fn absent_and_purge() {
        let p = parse_probe(PROBE);
        let plan = decide(&opts(&["cron", "nginx", "nosuch"], State::Absent), &p).unwrap();
        assert_eq!(plan.remove, vec!["cron"]);
        assert_eq!(
            plan.changes,
            vec![("cron".into(), "3.0pl1-162".into(), "absent".into())]
        );
        let mut o = opts(&["cron", "nginx"], State::Absent);
        o.purge = true;
        let plan = decide(&o, &p).unwrap();
        assert_eq!(
            plan.remove,
            vec!["cron", "nginx"],
            "config files count for purge"
        );
        // a pin removes only that version
        let plan = decide(&opts(&["cron=9"], State::Absent), &p).unwrap();
        assert!(plan.remove.is_empty());
    }

    #[test]
    fn cache_valid_time() {
        let p = parse_probe(PROBE); // lists 100 s old
        let mut o = opts(&["cron"], State::Present);
        o.update_cache = true;
        o.cache_valid_time = Some(3600);
        let plan = decide(&o, &p).unwrap();
        assert!(!plan.update);
        assert!(!predicted_changed(&o, &plan, &p));
        o.cache_valid_time = Some(50);
        assert!(decide(&o, &p).unwrap().update);
        // update only: the update is the change
        let mut o = opts(&[], State::Present);
        o.update_cache = true;
        let plan = decide(&o, &p).unwrap();
        assert!(plan.update && predicted_changed(&o, &plan, &p));
        // with packages, an update alone does not count as a change
        let mut o = opts(&["cron"], State::Present);
        o.update_cache = true;
        let plan = decide(&o, &p).unwrap();
        assert!(plan.update && !predicted_changed(&o, &plan, &p));
    }

    #[test]
    fn deb_files() {
        let mut p = parse_probe(PROBE);
        p.deb = Some(DebInfo {
            package: "cron".into(),
            version: "3.0pl1-162".into(),
            error: None,
        });
        let mut o = opts(&[], State::Present);
        o.deb = Some("/tmp/cron.deb".into());
        assert!(decide(&o, &p).unwrap().install.is_empty());
        p.deb.as_mut().unwrap().version = "3.0pl1-170".into();
        assert_eq!(decide(&o, &p).unwrap().install, vec!["/tmp/cron.deb"]);
        o.deb = Some("cron.deb".into());
        assert_eq!(decide(&o, &p).unwrap().install, vec!["./cron.deb"]);
        p.deb.as_mut().unwrap().error = Some("no such file on the host".into());
        assert_eq!(
            decide(&o, &p).unwrap_err(),
            "deb cron.deb: no such file on the host"
        );
    }

    #[test]
    fn simulations_and_summaries() {
        let sim = parse_sim(&[
            "Inst libfoo [1.0] (1.1 Debian:12/stable [amd64])".into(),
            "Inst newdep (2.0 Debian:12/stable [amd64])".into(),
            "Remv oldpkg [0.9]".into(),
        ]);
        assert_eq!(sim.len(), 3);
        assert_eq!(sim[0].old.as_deref(), Some("1.0"));
        assert_eq!(sim[0].new.as_deref(), Some("1.1"));
        assert_eq!(sim[1].old, None);
        let (b, a) = sim_diff(&sim);
        assert_eq!(b, "libfoo: 1.0\nnewdep: absent\noldpkg: 0.9\n");
        assert_eq!(a, "libfoo: 1.1\nnewdep: 2.0\noldpkg: absent\n");
        assert!(did_nothing(
            "Reading...\n0 upgraded, 0 newly installed, 0 to remove and 3 not upgraded.\n"
        ));
        assert!(!did_nothing(
            "1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
        ));
    }

    #[test]
    fn change_script_and_its_output() {
        let mut o = opts(&["nginx"], State::Present);
        o.install_recommends = Some(false);
        let plan = Plan {
            update: true,
            install: vec!["nginx".into()],
            ..Default::default()
        };
        let s = change_script(&o, &plan, &["nginx".into()]);
        assert!(s.contains("step update apt-get -y -q -o DPkg::Lock::Timeout=60 update"));
        assert!(s.contains(
            "step install apt-get -y -q -o DPkg::Lock::Timeout=60 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --no-install-recommends install -- nginx"
        ));
        let out = "@@opsctl:begin update\nGet:1 file:/repo\n\n@@opsctl:end update 0\n@@opsctl:updated 1700000200\n\
@@opsctl:begin install\nSetting up nginx\n0 upgraded, 1 newly installed, 0 to remove\n@@opsctl:end install 0\n\
@@opsctl:dpkg\nnginx\tamd64\tinstall ok installed\t1.22.1-9\n";
        let a = parse_applied(out);
        assert_eq!(a.updated, Some(1_700_000_200));
        assert_eq!(a.steps.len(), 2);
        assert_eq!(a.steps[0], ("update".into(), "Get:1 file:/repo".into(), 0));
        assert_eq!(a.dpkg.len(), 1);
        // apt output without a trailing newline before a marker
        let a = parse_applied("@@opsctl:begin install\nE: boom@@opsctl:end install 100\n");
        assert_eq!(a.steps[0], ("install".into(), "E: boom".into(), 100));
    }

    #[test]
    fn failures_name_the_package() {
        assert_eq!(
            step_failure("install", 100, "E: Unable to locate package nosuch\n", ""),
            "No package matching 'nosuch' is available"
        );
        let m = step_failure(
            "install",
            100,
            "W: something\nE: Sub-process /usr/bin/dpkg returned an error code (1)\n",
            "",
        );
        assert_eq!(
            m,
            "apt-get install failed (rc 100): E: Sub-process /usr/bin/dpkg returned an error code (1)"
        );
    }

    #[test]
    fn package_passes_apt_arguments_through() {
        let ok = json!({"name": "nginx", "update_cache": "yes", "allow_unauthenticated": true});
        let a = PACKAGE.validate(ok.as_object().unwrap(), true).unwrap();
        let o = RUN_PACKAGE.opts(&a).unwrap();
        assert!(o.update_cache && o.allow_unauthenticated);
        assert_eq!(o.module, "package");
        let bad = json!({"name": "nginx", "update_cahce": true});
        let e = PACKAGE
            .validate(bad.as_object().unwrap(), true)
            .unwrap_err();
        assert!(e.contains("unknown argument 'update_cahce'"), "{e}");
    }
}
