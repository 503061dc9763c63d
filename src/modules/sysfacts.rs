//! Typed system facts, merged across tasks: packages (one `awk` over dpkg's
//! status file, else one `dpkg-query`; one `apt-cache policy`), the init system and units (one `systemctl show` per
//! scope, init scripts and rc links by globs), accounts (one `getent passwd`
//! for every user, crontab owners included, and one `getent group` for every
//! group, primary groups included) and crontabs (one `crontab -l` per user).
//!
//! [`plan`] turns the system needs of a gathering into sections of the one
//! script the engine sends (`engine::gather`); [`answer`] parses a section's
//! output into [`SysFacts`]. The modules (apt, service, user, cron,
//! authorized_key) read their state from these answers.

use std::collections::{BTreeSet, HashMap};

use super::attrs;
use super::fail::{self, Fail};
use super::protocol::Need;
use super::remote_file::{self, FType, HostInfo, Req, Stat};
use super::sysv_status;
use crate::transport::{Output, shell_quote};

/// One line of `dpkg-query`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct Dpkg {
    pub name: String,
    pub arch: String,
    /// `install`, `hold`, `deinstall`, `purge`, `unknown`.
    pub want: String,
    /// `installed`, `config-files`, `not-installed`, `half-configured`...
    pub status: String,
    pub version: String,
}

impl Dpkg {
    pub fn installed(&self) -> bool {
        matches!(
            self.status.as_str(),
            "installed" | "triggers-pending" | "triggers-awaiting"
        )
    }
}

pub const DPKG_FORMAT: &str = r"${Package}\t${Architecture}\t${Status}\t${Version}\n";

pub fn parse_dpkg_line(line: &str) -> Option<Dpkg> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() < 4 {
        return None;
    }
    let status: Vec<&str> = f[2].split_whitespace().collect();
    Some(Dpkg {
        name: f[0].to_string(),
        arch: f[1].to_string(),
        want: status.first().unwrap_or(&"").to_string(),
        status: status.last().unwrap_or(&"").to_string(),
        version: f[3].trim().to_string(),
    })
}

/// `apt-cache policy` for one name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct Policy {
    pub installed: Option<String>,
    pub candidate: Option<String>,
    /// The version table, best first.
    pub versions: Vec<String>,
}

pub fn parse_policy(lines: &[String]) -> HashMap<String, Policy> {
    let mut map = HashMap::new();
    let mut cur: Option<(String, Policy)> = None;
    let mut in_table = false;
    let none = |v: &str| (v != "(none)" && !v.is_empty()).then(|| v.to_string());
    for line in lines {
        if !line.starts_with(' ') && line.ends_with(':') {
            if let Some((n, p)) = cur.take() {
                map.insert(n, p);
            }
            cur = Some((line.trim_end_matches(':').to_string(), Policy::default()));
            in_table = false;
            continue;
        }
        let Some((_, p)) = cur.as_mut() else { continue };
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Installed:") {
            p.installed = none(v.trim());
        } else if let Some(v) = t.strip_prefix("Candidate:") {
            p.candidate = none(v.trim());
        } else if t.starts_with("Version table:") {
            in_table = true;
        } else if in_table {
            // version lines are indented 5 (` *** ` or 5 spaces), sources 8
            let rest = line
                .strip_prefix(" *** ")
                .or_else(|| line.strip_prefix("     "));
            if let Some(rest) = rest.filter(|r| !r.starts_with(' '))
                && let Some(v) = rest.split_whitespace().next()
            {
                p.versions.push(v.to_string());
            }
        }
    }
    if let Some((n, p)) = cur {
        map.insert(n, p);
    }
    map
}

/// apt on the host: its tools, the time, the age of the package lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct AptState {
    pub has_apt: bool,
    pub now: i64,
    /// mtime of the update-success stamp, else of /var/lib/apt/lists.
    pub cache_mtime: Option<i64>,
}

/// The init system.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct InitState {
    /// systemd runs (`/run/systemd/system`) and `systemctl` is there.
    pub systemd: bool,
}

/// A unit as `systemctl show` and the sysv side see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct Unit {
    /// `systemctl show` properties, in order (empty without systemctl).
    pub show: Vec<(String, String)>,
    /// `/etc/init.d/NAME` exists.
    pub initd: bool,
    /// The init script's `status` exit code and first lines (sysv hosts only).
    pub status_rc: Option<i32>,
    /// `S` and `K` links in /etc/rc[2-5].d.
    pub rc_start: Vec<String>,
    pub rc_stop: Vec<String>,
}

/// A line of `getent passwd`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct PasswdEnt {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub comment: String,
    pub home: String,
    pub shell: String,
    /// The home directory exists (a directory, links followed).
    pub home_is_dir: bool,
    /// The name of the primary group (`None`: no group has the gid).
    pub group_name: Option<String>,
}

pub fn parse_passwd(line: &str) -> Option<PasswdEnt> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 7 {
        return None;
    }
    Some(PasswdEnt {
        name: f[0].to_string(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        comment: f[4].to_string(),
        home: f[5].to_string(),
        shell: f[6].to_string(),
        ..Default::default()
    })
}

/// A line of `getent group`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct GroupEnt {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

pub fn parse_group(line: &str) -> Option<GroupEnt> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 3 {
        return None;
    }
    Some(GroupEnt {
        name: f[0].to_string(),
        gid: f[2].trim().parse().ok()?,
        members: f
            .get(3)
            .map(|m| {
                m.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// A crontab read with `crontab -l` (of a user, or of who runs it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct CrontabRead {
    pub host: HostInfo,
    /// `crontab` is not installed.
    pub no_crontab_cmd: bool,
    /// The user does not exist.
    pub no_user: bool,
    /// `crontab -l`'s exit code and stderr.
    pub rc: Option<i32>,
    pub err: String,
    pub content: String,
}

/// The answers to system needs.
#[derive(Debug, Clone, Default)]
pub struct SysFacts {
    pub apt: Option<AptState>,
    pub packages: HashMap<String, Vec<Dpkg>>,
    pub policies: HashMap<String, Option<Policy>>,
    pub init: Option<InitState>,
    /// By (scope, name).
    pub units: HashMap<(String, String), Unit>,
    pub passwd: HashMap<String, Option<PasswdEnt>>,
    pub groups: HashMap<String, Option<GroupEnt>>,
    pub crontabs: HashMap<Option<String>, CrontabRead>,
}

impl SysFacts {
    /// Does this answer `need`? (`None`: not a system need.)
    pub fn has(&self, need: &Need) -> Option<bool> {
        Some(match need {
            Need::AptState => self.apt.is_some(),
            Need::Package(n) => self.packages.contains_key(n),
            Need::Policy(n) => self.policies.contains_key(n),
            Need::Init => self.init.is_some(),
            Need::Unit { scope, name } => self.units.contains_key(&(scope.clone(), name.clone())),
            Need::Passwd(n) => self.passwd.contains_key(n),
            Need::Group(n) => self.groups.contains_key(n),
            Need::Crontab(u) => self.crontabs.contains_key(u),
            _ => return None,
        })
    }

    pub fn merge(&mut self, other: SysFacts) {
        if other.apt.is_some() {
            self.apt = other.apt;
        }
        if other.init.is_some() {
            self.init = other.init;
        }
        self.packages.extend(other.packages);
        self.policies.extend(other.policies);
        self.units.extend(other.units);
        self.passwd.extend(other.passwd);
        self.groups.extend(other.groups);
        self.crontabs.extend(other.crontabs);
    }

    pub fn apt(&self) -> Result<&AptState, Fail> {
        self.apt.as_ref().ok_or_else(|| missing("apt's state"))
    }
    /// dpkg's records of a package (`name`, `name:arch`, `name=version`).
    pub fn package(&self, name: &str) -> Result<&[Dpkg], Fail> {
        self.packages
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| missing(&format!("the package {name}")))
    }
    pub fn policy(&self, name: &str) -> Result<Option<&Policy>, Fail> {
        self.policies
            .get(name)
            .map(Option::as_ref)
            .ok_or_else(|| missing(&format!("apt's policy of {name}")))
    }
    pub fn init(&self) -> Result<&InitState, Fail> {
        self.init.as_ref().ok_or_else(|| missing("the init system"))
    }
    pub fn unit(&self, scope: &str, name: &str) -> Result<&Unit, Fail> {
        self.units
            .get(&(scope.to_string(), name.to_string()))
            .ok_or_else(|| missing(&format!("the unit {name}")))
    }
    pub fn passwd(&self, name: &str) -> Result<Option<&PasswdEnt>, Fail> {
        self.passwd
            .get(name)
            .map(Option::as_ref)
            .ok_or_else(|| missing(&format!("the user {name}")))
    }
    pub fn group(&self, name: &str) -> Result<Option<&GroupEnt>, Fail> {
        self.groups
            .get(name)
            .map(Option::as_ref)
            .ok_or_else(|| missing(&format!("the group {name}")))
    }
    pub fn crontab(&self, user: Option<&str>) -> Result<&CrontabRead, Fail> {
        self.crontabs
            .get(&user.map(str::to_string))
            .ok_or_else(|| missing("a crontab"))
    }
}

fn missing(what: &str) -> Fail {
    Fail::Args(format!(
        "internal error: {what} was decided on without being gathered"
    ))
}

/// What a section of the gathering script answers.
#[derive(Debug, Clone)]
pub enum Section {
    Apt,
    Packages(Vec<String>),
    Policies(Vec<String>),
    Init,
    Units {
        scope: String,
        names: Vec<String>,
    },
    /// Users (the owners of the crontabs read too) and groups: one `getent`
    /// per database.
    Accounts {
        passwd: Vec<String>,
        groups: Vec<String>,
    },
    /// A crontab; whether its user exists comes from the accounts section,
    /// which comes first.
    Crontab(Option<String>),
}

/// The system needs of a gathering as sections: one per kind (units: one per
/// scope; crontabs: one per user), each with its shell code.
pub fn plan(needs: &[Need]) -> Vec<(Section, String)> {
    let mut apt = false;
    let mut init = false;
    let mut pkgs = BTreeSet::new();
    let mut pols = BTreeSet::new();
    let mut units: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    let mut passwd = BTreeSet::new();
    let mut groups = BTreeSet::new();
    let mut crontabs = BTreeSet::new();
    for n in needs {
        match n {
            Need::AptState => apt = true,
            Need::Package(p) => {
                pkgs.insert(p.clone());
            }
            Need::Policy(p) => {
                pols.insert(p.clone());
            }
            Need::Init => init = true,
            Need::Unit { scope, name } => {
                units.entry(scope.clone()).or_default().insert(name.clone());
            }
            Need::Passwd(u) => {
                passwd.insert(u.clone());
            }
            Need::Group(g) => {
                groups.insert(g.clone());
            }
            Need::Crontab(u) => {
                // the owner's existence is read with the other users
                if let Some(u) = u {
                    passwd.insert(u.clone());
                }
                crontabs.insert(u.clone());
            }
            _ => {}
        }
    }
    let v = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>();
    let mut out = Vec::new();
    if apt {
        out.push((Section::Apt, apt_script()));
    }
    if !pkgs.is_empty() {
        let names = v(pkgs);
        let script = packages_script(&names);
        out.push((Section::Packages(names), script));
    }
    if !pols.is_empty() {
        let names = v(pols);
        out.push((
            Section::Policies(names.clone()),
            format!(
                "LC_ALL=C apt-cache policy -- {} 2>/dev/null\ntrue",
                quoted(&names)
            ),
        ));
    }
    if init {
        out.push((
            Section::Init,
            "[ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && echo systemd\ntrue"
                .into(),
        ));
    }
    for (scope, names) in units {
        let names = v(names);
        let script = units_script(&scope, &names);
        out.push((Section::Units { scope, names }, script));
    }
    if !passwd.is_empty() || !groups.is_empty() {
        let (passwd, groups) = (v(passwd), v(groups));
        let script = accounts_script(&passwd, &groups);
        out.push((Section::Accounts { passwd, groups }, script));
    }
    for user in crontabs {
        let script = crontab_script(user.as_deref());
        out.push((Section::Crontab(user), script));
    }
    out
}

use crate::transport::shell_words as quoted;

/// dpkg's records of the packages named, one [`DPKG_FORMAT`] line each.
///
/// When every name is a plain package name (no `:arch`, no glob) and dpkg's
/// database is its status file alone (no journal entry in `updates/`, no
/// unincorporated trigger, no `DPKG_ROOT`), one `awk` prints the records of
/// those names from the status file, as `dpkg-query -W` would: the same
/// fields, of every architecture, in the file's order, which is dpkg's. Else
/// `dpkg-query`, which parses the whole database: about twice the CPU on a
/// small host, five times on a desktop's.
fn packages_script(names: &[String]) -> String {
    let dpkg_query = format!(
        "LC_ALL=C dpkg-query -W -f='{DPKG_FORMAT}' -- {} 2>/dev/null",
        quoted(names)
    );
    let plain = |n: &String| {
        n.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b))
    };
    if !names.iter().all(plain) {
        return format!("{dpkg_query}\ntrue");
    }
    format!(
        "set -- \"${{DPKG_ADMINDIR:-/var/lib/dpkg}}\"\n\
         set -- \"$1\" \"$1\"/updates/[0-9]*\n\
         if [ -z \"${{DPKG_ROOT-}}\" ] && [ ! -e \"$2\" ] && [ ! -s \"$1/triggers/Unincorp\" ] \
         && [ -f \"$1/status\" ] && [ -r \"$1/status\" ] && command -v awk >/dev/null 2>&1; then\n\
         LC_ALL=C awk -v w=' {} ' '{DPKG_AWK}' \"$1/status\" || {dpkg_query}\n\
         else {dpkg_query}; fi\n\
         return 0",
        names.join(" ")
    )
}

/// The records of the names in `w` (space-separated, padded) from dpkg's
/// status file, as dpkg wrote them: a stanza starts with its `Package` field.
/// Anything dpkg would read otherwise than written (a not-installed record,
/// which dpkg blanks; a version with epoch 0; a value with trailing blanks or
/// continued on the next line; a field twice; a name not in dpkg's spelling
/// or out of its order; a status dpkg does not know) makes it exit 3 before printing anything, and
/// `dpkg-query` answers.
const DPKG_AWK: &str = r#"function no() { b = 1; if (!e) exit }
function out() {
  if (!p) return
  if (s !~ /^(unknown|install|hold|deinstall|purge) (ok|reinstreq) (config-files|half-installed|unpacked|half-configured|triggers-awaited|triggers-pending|installed)$/ || v == "" || a == "" || (v ~ /:/ && v !~ /^[1-9][0-9]*:/)) no()
  o = o n "\t" a "\t" s "\t" v "\n"; p = 0
}
/^[ \t]/ { if (l) no(); next }
{ l = 0 }
/^Package: / { out(); n = substr($0, 10); if (n !~ /^[a-z0-9][a-z0-9+.-]*$/ || n < pn) no(); pn = n; p = index(w, " " n " ") > 0; a = s = v = ""; next }
!p { next }
/[ \t]$/ && /^(Architecture|Status|Version): / { no() }
/^Architecture: / { if (a != "") no(); a = substr($0, 15); l = 1 }
/^Status: / { if (s != "") no(); s = substr($0, 9); l = 1 }
/^Version: / { if (v != "") no(); v = substr($0, 10); l = 1 }
END { e = 1; if (!b) out(); if (b) exit 3; printf "%s", o }"#;

/// Is apt there (builtins). The host's time and the age of the package lists
/// are stats of [`apt_paths`], read with the gathering's other paths (one
/// `stat` for all of them): `date` only when /proc does not answer.
fn apt_script() -> String {
    "command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1 && echo apt=1\n\
     [ -d /proc/self/ ] || echo \"now=$(date +%s)\"\n\
     return 0"
        .into()
}

/// The update-success stamp, the lists directory and the clock: the mtime of
/// `/proc/self/`, the directory procfs makes for the `stat` process when it
/// looks itself up (the kernel's clock at that moment).
const APT_STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";
const APT_LISTS: &str = "/var/lib/apt/lists";
const CLOCK: &str = "/proc/self/";

/// The paths apt's state is read from, links followed, no checksum.
fn apt_paths() -> [Req; 3] {
    [APT_STAMP, APT_LISTS, CLOCK].map(|p| Req::new(p).follow(true).sums(&[]))
}

/// The paths whose stats answer a system need, read with the gathering's
/// other paths (one `stat` for all of them); [`answer_paths`] reads them.
pub fn paths_of(need: &Need) -> Vec<Req> {
    match need {
        Need::AptState => apt_paths().to_vec(),
        _ => Vec::new(),
    }
}

/// What the stats of [`paths_of`] say: apt's clock and the lists' age (the
/// stamp's mtime when it exists, else the lists directory's).
pub fn answer_paths(facts: &mut SysFacts, paths: &HashMap<Req, Stat>) {
    let Some(a) = facts.apt.as_mut() else {
        return;
    };
    let [stamp, lists, clock] = apt_paths().map(|r| paths.get(&r));
    if a.now == 0
        && let Some(c) = clock.filter(|c| c.kind == FType::Directory)
    {
        a.now = c.mtime;
    }
    a.cache_mtime = match (stamp, lists) {
        (Some(s), _) if s.kind != FType::Absent => Some(s.mtime),
        (_, Some(l)) if l.kind == FType::Directory => Some(l.mtime),
        _ => None,
    };
}

/// The properties `systemctl show` is asked for.
pub const SHOW_PROPS: &str = "Id,Names,Description,LoadState,ActiveState,SubState,UnitFileState,UnitFilePreset,CanReload,CanStart,CanStop,NeedDaemonReload,MainPID,Type,FragmentPath,Result";

/// The `--user`/`--global` flag of a scope.
pub fn scope_flag(scope: &str) -> &'static str {
    match scope {
        "user" => " --user",
        "global" => " --global",
        _ => "",
    }
}

/// The name of the init script for a unit name (`nginx.service` -> `nginx`).
pub fn sysv_name(name: &str) -> &str {
    name.strip_suffix(".service").unwrap_or(name)
}

/// The start of a gathering whose file batch hashes files (`$ss`) and that
/// has units sections: on a host without systemd, the files those sections
/// hash go into the batch's `sha256sum` (`$opsctl_also`), which leaves its
/// output in `$opsctl_sums` for them. One process less on such a host.
pub fn sums_also(sections: &[(Section, String)]) -> String {
    let mut files: Vec<String> = Vec::new();
    for (s, _) in sections {
        if let Section::Units { names, .. } = s {
            for f in units_hashed(names) {
                if !files.contains(&f) {
                    files.push(f);
                }
            }
        }
    }
    if files.is_empty() || files.iter().any(|f| f.contains('\n')) {
        return String::new();
    }
    let list: String = files.iter().map(|f| format!("{f}\n")).collect();
    format!(
        "opsctl_summed=; opsctl_also=\n\
         [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 || opsctl_also={}\n",
        shell_quote(&list)
    )
}

/// The files a units section hashes on a host without systemd: the units'
/// init scripts and the helpers they source.
pub fn units_hashed(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| format!("/etc/init.d/{}", sysv_name(n)))
        .chain(sysv_status::HELPERS.iter().map(|h| h.to_string()))
        .collect()
}

/// Init scripts, rc links and, on a host without systemd, each init script's
/// `status` (cheaply for the scripts `sysv_status` knows, one `sha256sum` for
/// all of them, or none when the gathering's file batch hashed them with its
/// own: [`sums_also`]); then one `systemctl show` for every unit (blocks in
/// order).
fn units_script(scope: &str, names: &[String]) -> String {
    let svs: Vec<String> = names.iter().map(|n| sysv_name(n).to_string()).collect();
    let sc = scope_flag(scope);
    let hashed = units_hashed(names);
    format!(
        "sd=0; [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && sd=1\n\
         if [ $sd = 0 ]; then nl='\n'\n{fns}\
         if [ \"$opsctl_summed\" = 1 ]; then hs=$opsctl_sums; else hs=$(sha256sum -- {hashed} 2>/dev/null); fi\n\
         fi\n\
         for sv in {svs}; do\n\
         \x20 [ -f \"/etc/init.d/$sv\" ] && echo \"initd $sv\"\n\
         \x20 for l in /etc/rc2.d/[SK][0-9][0-9]\"$sv\" /etc/rc3.d/[SK][0-9][0-9]\"$sv\" /etc/rc4.d/[SK][0-9][0-9]\"$sv\" /etc/rc5.d/[SK][0-9][0-9]\"$sv\"; do\n\
         \x20   [ -e \"$l\" ] && case ${{l##*/}} in S*) echo \"rc_start $sv $l\" ;; *) echo \"rc_stop $sv $l\" ;; esac\n\
         \x20 done\n\
         \x20 if [ $sd = 0 ] && [ -x \"/etc/init.d/$sv\" ]; then opsctl_sysv_status \"$sv\"; echo \"status_rc $sv $r\"; echo \"status_by $sv $by\"; fi\n\
         done\n\
         echo '@@show'\n\
         command -v systemctl >/dev/null 2>&1 && systemctl{sc} show --no-pager -p {SHOW_PROPS} -- {names} 2>/dev/null\n\
         return 0",
        fns = sysv_status::FNS,
        hashed = quoted(&hashed),
        svs = quoted(&svs),
        names = quoted(names),
    )
}

/// `getent`'s answer without `getent`, when /etc's files alone give it:
/// `opsctl_files DB KEY...` sets `$ents` to each key's line in `/etc/DB` (a
/// number is an id, as getent takes it), in the order of the keys, when
/// nsswitch.conf gives the database to `files` first (then, at most,
/// `systemd`, which files answer before) and each key's line and every line
/// before it is plainly formed; else it returns 1 and getent reads them (a key
/// not in the file, NIS lines, a line glibc would read otherwise than the
/// shell). Shell builtins only: a `getent` is a process, about 1 ms of the
/// host's CPU. nsswitch.conf is read once for both databases: a caller sets
/// `_nss_read=` first (unset, as in a shell of its own, is the same).
pub const FILES_FN: &str = r#"opsctl_files() {
  _db=$1; shift
  case $_db in
    passwd) _shape='*:*:*:*:*:*:*'; _over='*:*:*:*:*:*:*:*' ;;
    group) _shape='*:*:*:*'; _over='*:*:*:*:*' ;;
    *) return 1 ;;
  esac
  if [ -z "${_nss_read-}" ]; then
    _nss_read=1; _nss_passwd=; _nss_group=; _okp=; _badp=; _okg=; _badg=
    if [ -f /etc/nsswitch.conf ] && [ -r /etc/nsswitch.conf ]; then
      while read -r _k _a _b _c || [ -n "$_k" ]; do
        case $_k in
          passwd:) if [ -z "$_okp" ] && [ "$_a" = files ] && { [ -z "$_b" ] || [ "$_b" = systemd ]; } && [ -z "$_c" ]; then _okp=1; else _badp=1; fi ;;
          [Pp][Aa][Ss][Ss][Ww][Dd]*) _badp=1 ;;
          group:) if [ -z "$_okg" ] && [ "$_a" = files ] && { [ -z "$_b" ] || [ "$_b" = systemd ]; } && [ -z "$_c" ]; then _okg=1; else _badg=1; fi ;;
          [Gg][Rr][Oo][Uu][Pp]*) _badg=1 ;;
        esac
      done < /etc/nsswitch.conf
      [ -n "$_okp" ] && [ -z "$_badp" ] && _nss_passwd=1
      [ -n "$_okg" ] && [ -z "$_badg" ] && _nss_group=1
    fi
  fi
  if [ "$_db" = passwd ]; then [ -n "$_nss_passwd" ] || return 1; else [ -n "$_nss_group" ] || return 1; fi
  [ -f "/etc/$_db" ] && [ -r "/etc/$_db" ] || return 1
  ents=
  for _key; do
    case $_key in '') return 1 ;; *[!0-9]*) _byid= ;; 0?*|??????????*) return 1 ;; *) _byid=1 ;; esac
    _hit=
    while IFS= read -r _l || [ -n "$_l" ]; do
      case $_l in ''|'#'*) continue ;; $_over) return 1 ;; $_shape) ;; *) return 1 ;; esac
      _n=${_l%%:*}; _r=${_l#*:}; _r=${_r#*:}; _i=${_r%%:*}
      case $_n in ''|[-+]*|*[!A-Za-z0-9._\$-]*) return 1 ;; esac
      case $_i in ''|0?*|??????????*|*[!0-9]*) return 1 ;; esac
      if [ "$_db" = passwd ]; then
        _r=${_r#*:}; _r=${_r%%:*}
        case $_r in ''|0?*|??????????*|*[!0-9]*) return 1 ;; esac
      else
        _r=${_r#*:}
        case $_r in *[!A-Za-z0-9._\$,-]*|,*|*,|*,,*) return 1 ;; esac
      fi
      if [ -n "$_byid" ]; then [ "$_i" = "$_key" ] || continue; else [ "$_n" = "$_key" ] || continue; fi
      _hit=1; ents="$ents$_l
"
      break
    done < "/etc/$_db"
    [ -n "$_hit" ] || return 1
  done
  return 0
}
"#;

/// The users' entries, then which homes are directories, then after `@@groups`
/// the groups asked for and the users' primary groups: from /etc's files when
/// they alone answer ([`FILES_FN`]), else one `getent` per database, whatever
/// the numbers (the loop is shell builtins).
fn accounts_script(passwd: &[String], groups: &[String]) -> String {
    let mut s = format!("{FILES_FN}gids=; _nss_read=\n");
    if !passwd.is_empty() {
        let names = quoted(passwd);
        s.push_str(&format!(
            "if opsctl_files passwd {names}; then pw=${{ents%?}}; else pw=$(getent passwd -- {names}); fi\n\
             printf '%s\\n' \"$pw\"\necho '@@more'\n\
             while IFS=: read -r n x u g c h s; do [ -n \"$n\" ] || continue; [ -d \"$h\" ] && echo \"home_dir $n\"; gids=\"$gids $g\"; done <<OPSCTL_EOF\n$pw\nOPSCTL_EOF\n",
        ));
    }
    s.push_str(&format!(
        "echo '@@groups'\nset -- {}\n\
         if [ $# -gt 0 ] || [ -n \"$gids\" ]; then\n\
         \x20 if opsctl_files group \"$@\" $gids; then printf '%s' \"$ents\"; else getent group -- \"$@\" $gids; fi\n\
         fi\ntrue",
        quoted(groups)
    ));
    s
}

/// Each key's entry: its own lookup's line, else the first entry of that name
/// or id.
fn entries_of<T: Clone>(keys: &[String], ents: &[T], id: fn(&T) -> (&str, u32)) -> Vec<Option<T>> {
    by_key(keys, ents, id).unwrap_or_else(|| {
        keys.iter()
            .map(|k| {
                ents.iter()
                    .find(|e| {
                        let (name, n) = id(e);
                        attrs::id_matches(k, name, n)
                    })
                    .cloned()
            })
            .collect()
    })
}

fn group_id(g: &GroupEnt) -> (&str, u32) {
    (&g.name, g.gid)
}

fn user_id(e: &PasswdEnt) -> (&str, u32) {
    (&e.name, e.uid)
}

/// `getent DB KEY...` prints one line per key found, in the order of the keys:
/// each key's own entry, matched back in order (a number is an id, as getent
/// takes it). `None` when the lines do not follow the keys (a key getent reads
/// otherwise than this): the caller matches by name or id instead.
fn by_key<T: Clone>(
    keys: &[String],
    ents: &[T],
    id: fn(&T) -> (&str, u32),
) -> Option<Vec<Option<T>>> {
    let mut rest = ents.iter().peekable();
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let numeric = !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit());
        let hit = rest.peek().is_some_and(|e| {
            let (name, n) = id(e);
            if numeric {
                k.parse::<u32>().ok() == Some(n)
            } else {
                name == k
            }
        });
        out.push(if hit { rest.next().cloned() } else { None });
    }
    rest.next().is_none().then_some(out)
}

fn crontab_script(user: Option<&str>) -> String {
    let mut s = remote_file::whoami_lines();
    s.push_str("me=$hn\ncommand -v crontab >/dev/null 2>&1 || { echo nocrontab=1; return 0; }\n");
    match user {
        // whether the user exists is read in the accounts section
        Some(u) => s.push_str(&format!(
            "u={}\nif [ \"$u\" != \"$me\" ]; then set -- -u \"$u\"; else set --; fi\n",
            shell_quote(u)
        )),
        None => s.push_str("set --\n"),
    }
    // the crontab as it is and its exit code; its stderr is the section's
    // (nothing else in the section writes there): one process, no subshell
    s.push_str(
        "echo @@content\n\
         crontab \"$@\" -l; printf '\\n@@rc=%s\\n' \"$?\"\nreturn 0",
    );
    s
}

/// Parses one section's output into `facts`.
pub fn answer(section: Section, out: &Output, facts: &mut SysFacts) -> Result<(), Fail> {
    let text = out.stdout_str();
    match section {
        Section::Apt => {
            let mut a = AptState::default();
            for l in text.lines() {
                match l.split_once('=') {
                    Some(("apt", v)) => a.has_apt = v.trim() == "1",
                    // the clock when /proc does not answer (else: answer_paths)
                    Some(("now", v)) => a.now = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
            facts.apt = Some(a);
        }
        Section::Packages(names) => {
            let all: Vec<Dpkg> = text.lines().filter_map(parse_dpkg_line).collect();
            for n in names {
                let base = n.split(['=', ':']).next().unwrap_or(&n).to_string();
                let mine = all.iter().filter(|d| d.name == base).cloned().collect();
                facts.packages.insert(n, mine);
            }
        }
        Section::Policies(names) => {
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            let mut map = parse_policy(&lines);
            for n in names {
                let p = map.remove(&n);
                facts.policies.insert(n, p);
            }
        }
        Section::Init => {
            facts.init = Some(InitState {
                systemd: text.lines().any(|l| l.trim() == "systemd"),
            });
        }
        Section::Units { scope, names } => {
            let (sysv, show) = text.split_once("@@show\n").unwrap_or((&text, ""));
            let mut blocks: Vec<Vec<(String, String)>> = show
                .split("\n\n")
                .map(|b| {
                    b.lines()
                        .filter_map(|l| l.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<Vec<_>>()
                })
                .filter(|b| !b.is_empty())
                .collect();
            if blocks.len() != names.len() {
                blocks = vec![Vec::new(); names.len()];
            }
            for (name, props) in names.into_iter().zip(blocks) {
                let sv = sysv_name(&name).to_string();
                let mut u = Unit {
                    show: props,
                    ..Default::default()
                };
                for l in sysv.lines() {
                    let mut it = l.splitn(3, ' ');
                    let (k, who, rest) = (it.next(), it.next(), it.next());
                    if who != Some(sv.as_str()) {
                        continue;
                    }
                    match (k, rest) {
                        (Some("initd"), _) => u.initd = true,
                        (Some("rc_start"), Some(l)) => u.rc_start.push(l.to_string()),
                        (Some("rc_stop"), Some(l)) => u.rc_stop.push(l.to_string()),
                        (Some("status_rc"), Some(rc)) => u.status_rc = rc.trim().parse().ok(),
                        _ => {}
                    }
                }
                facts.units.insert((scope.clone(), name), u);
            }
        }
        Section::Accounts { passwd, groups } => {
            let (ents, more) = text.split_once("@@more\n").unwrap_or(("", &text));
            let (more, group_lines) = more.split_once("@@groups\n").unwrap_or((more, ""));
            // the lines the loop read (a name), and their gids: the keys after
            // the groups asked for
            let read: Vec<&str> = ents
                .lines()
                .filter(|l| !l.split(':').next().unwrap_or("").is_empty())
                .collect();
            let mut gkeys = groups.clone();
            gkeys.extend(
                read.iter()
                    .map(|l| l.split(':').nth(3).unwrap_or("").to_string()),
            );
            let gents: Vec<GroupEnt> = group_lines.lines().filter_map(parse_group).collect();
            let gfound = by_key(&gkeys, &gents, group_id);
            let mut ents: Vec<PasswdEnt> = read.iter().filter_map(|l| parse_passwd(l)).collect();
            let aligned = ents.len() == read.len();
            for (i, e) in ents.iter_mut().enumerate() {
                e.home_is_dir = more
                    .lines()
                    .any(|l| l.strip_prefix("home_dir ") == Some(&e.name));
                // the entry of `getent group GID`
                let own = match (&gfound, aligned) {
                    (Some(f), true) => f[groups.len() + i].as_ref(),
                    _ => gents.iter().find(|g| g.gid == e.gid),
                };
                e.group_name = own.map(|g| g.name.clone());
            }
            let users = entries_of(&passwd, &ents, user_id);
            facts.passwd.extend(passwd.into_iter().zip(users));
            let found = entries_of(&groups, &gents, group_id);
            facts.groups.extend(groups.into_iter().zip(found));
        }
        Section::Crontab(user) => {
            let mut c = CrontabRead::default();
            let (head, read) = text.split_once("@@content\n").unwrap_or((&text, ""));
            if let Some((content, rc)) = read.rsplit_once("\n@@rc=") {
                c.content = content.to_string();
                c.rc = rc.trim().parse().ok();
                let err = out.stderr_str();
                c.err = err.trim().replace('\n', " ").chars().take(400).collect();
            }
            for line in head.lines() {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                match k {
                    "uid" => c.host.uid = v.trim().parse().unwrap_or(u32::MAX),
                    "user" => c.host.user = v.trim().to_string(),
                    "nocrontab" => c.no_crontab_cmd = true,
                    "nouser" => c.no_user = true,
                    _ => {}
                }
            }
            // the user's entry, read in the accounts section
            if let Some(u) = &user
                && let Some(None) = facts.passwd.get(u)
            {
                c.no_user = true;
            }
            if !out.success() {
                return fail::fail(format!(
                    "reading the crontab failed: {}",
                    out.stderr_str().trim()
                ));
            }
            facts.crontabs.insert(user, c);
        }
    }
    Ok(())
}

/// A line that makes a change script stop, before changing anything, unless
/// it runs as root; [`not_root`] reads what it printed.
pub fn root_guard() -> String {
    format!(
        "{}opsctl_whoami; if [ \"$hu\" != 0 ]; then echo \"@@notroot $hu $hn\"; exit 0; fi\n",
        remote_file::WHOAMI_FN
    )
}

/// Who ran a change script stopped by [`root_guard`].
pub fn not_root(out: &str) -> Option<HostInfo> {
    let l = out.lines().find_map(|l| l.strip_prefix("@@notroot "))?;
    let (uid, user) = l.split_once(' ').unwrap_or((l, ""));
    Some(HostInfo {
        uid: uid.trim().parse().unwrap_or(u32::MAX),
        user: user.trim().to_string(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(s: &str) -> Output {
        Output {
            rc: Some(0),
            stdout: s.as_bytes().to_vec(),
            stderr: Vec::new(),
        }
    }

    /// `opsctl_files DB KEYS` in /bin/sh against `root` for /etc: (status, $ents).
    fn files_fn(root: &str, db: &str, keys: &[&str]) -> (bool, String) {
        let o = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!(
                "{}opsctl_files \"$@\" && printf '%s' \"$ents\"",
                FILES_FN.replace("/etc/", &format!("{root}/"))
            ))
            .arg("sh")
            .arg(db)
            .args(keys)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    }

    /// nsswitch.conf read once for both databases gives each the verdict it
    /// gets when read for it alone.
    #[test]
    fn one_reading_of_nsswitch_conf_answers_both_databases() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().to_str().unwrap();
        std::fs::write(t.path().join("passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        std::fs::write(t.path().join("group"), "root:x:0:\n").unwrap();
        for (nss, want) in [
            ("passwd: files\ngroup: files\n", [true, true]),
            ("passwd: files systemd\ngroup: compat\n", [true, false]),
            ("passwd: ldap files\ngroup: files systemd\n", [false, true]),
            ("passwd: files\ngroup: files\ngroup: files\n", [true, false]),
            (
                "PASSWD: files\npasswd: files\ngroup: files\n",
                [false, true],
            ),
            (
                "passwd: files\ngroupx: files\ngroup: files\n",
                [true, false],
            ),
            ("group: files", [false, true]),
            ("", [false, false]),
        ] {
            std::fs::write(t.path().join("nsswitch.conf"), nss).unwrap();
            let alone: Vec<bool> = ["passwd", "group"]
                .iter()
                .map(|db| files_fn(root, db, &["0"]).0)
                .collect();
            let o = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!(
                    "{}_nss_read=\nopsctl_files passwd 0; echo $?; opsctl_files group 0; echo $?; opsctl_files passwd 0; echo $?",
                    FILES_FN.replace("/etc/", &format!("{root}/"))
                ))
                .output()
                .unwrap();
            let once: Vec<bool> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l == "0")
                .collect();
            assert_eq!(alone, want, "{nss:?}");
            assert_eq!(once, [alone[0], alone[1], alone[0]], "{nss:?}");
        }
    }

    /// On this machine, every user and group by name and by id: where the files
    /// answer, the answer is getent's, byte for byte; the files answer for
    /// every entry (its nsswitch.conf says `files systemd`).
    #[test]
    fn accounts_from_the_files_are_what_getent_says() {
        let nss = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
        for (db, id_field) in [("passwd", 2), ("group", 2)] {
            let text = std::fs::read_to_string(format!("/etc/{db}")).unwrap();
            let plain_nss = nss.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.first() == Some(&format!("{db}:").as_str())
                    && (w[1..] == ["files"] || w[1..] == ["files", "systemd"])
            });
            let mut answered = 0;
            for l in text
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                let f: Vec<&str> = l.split(':').collect();
                for key in [f[0], f[id_field]] {
                    let getent = std::process::Command::new("getent")
                        .args([db, "--", key])
                        .output()
                        .unwrap();
                    let want = String::from_utf8_lossy(&getent.stdout).into_owned();
                    let (ok, got) = files_fn("/etc", db, &[key]);
                    if ok {
                        assert_eq!(got, want, "{db} {key}");
                        answered += 1;
                    }
                }
            }
            if plain_nss {
                assert!(answered > 0, "{db}: the files answered nothing");
            }
            // several keys: each one's line, in their order, repeats kept
            let first = text.lines().next().unwrap();
            let name = first.split(':').next().unwrap();
            let (ok, got) = files_fn("/etc", db, &[name, "0", name]);
            if ok {
                let want = std::process::Command::new("getent")
                    .args([db, "--", name, "0", name])
                    .output()
                    .unwrap();
                assert_eq!(got, String::from_utf8_lossy(&want.stdout));
            }
        }
    }

    /// What the files cannot answer goes to getent: another source, no line or
    /// two lines for the database, a line glibc reads otherwise than the shell
    /// before the key's, a key not in the file, an id written unlike getent's.
    #[test]
    fn accounts_the_files_cannot_answer_go_to_getent() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().to_str().unwrap();
        let write = |nss: &str, passwd: &str| {
            std::fs::write(t.path().join("nsswitch.conf"), nss).unwrap();
            std::fs::write(t.path().join("passwd"), passwd).unwrap();
            std::fs::write(t.path().join("group"), "web:x:33:a,b\nbench:x:1002:\n").unwrap();
        };
        let app = "app:x:1002:1002:the app,,,:/home/app:/bin/bash\n";
        let plain = format!("root:x:0:0:root:/root:/bin/bash\n# a comment\n\n{app}");
        let cases: Vec<(&str, String, &str, bool)> = vec![
            ("passwd: files\n", plain.clone(), "app", true),
            (
                "passwd:\tfiles systemd\ngroup: files\n",
                plain.clone(),
                "1002",
                true,
            ),
            (
                "# passwd: ldap\npasswd: files\n",
                plain.clone(),
                "app",
                true,
            ),
            ("passwd: files ldap\n", plain.clone(), "app", false),
            ("passwd: sss files\n", plain.clone(), "app", false),
            (
                "passwd: files [NOTFOUND=return] systemd\n",
                plain.clone(),
                "app",
                false,
            ),
            ("passwd: files # local\n", plain.clone(), "app", false),
            ("passwd: files\nPASSWD: ldap\n", plain.clone(), "app", false),
            (
                "passwd: files\npasswd: files\n",
                plain.clone(),
                "app",
                false,
            ),
            ("group: files\n", plain.clone(), "app", false),
            (
                "passwd: files\n",
                format!(" root:x:0:0::/root:/bin/sh\n{app}"),
                "app",
                false,
            ),
            (
                "passwd: files\n",
                format!("+nis::::::\n{app}"),
                "app",
                false,
            ),
            (
                "passwd: files\n",
                format!("a:x:1:1::/:/bin/sh:extra\n{app}"),
                "app",
                false,
            ),
            (
                "passwd: files\n",
                format!("a:x:01:1::/:/bin/sh\n{app}"),
                "app",
                false,
            ),
            (
                "passwd: files\n",
                format!("{app}a:x:01:1::/:/bin/sh\n"),
                "app",
                true,
            ),
            ("passwd: files\n", plain.clone(), "nobody", false),
            ("passwd: files\n", plain.clone(), "01002", false),
            ("passwd: files\n", app.trim_end().to_string(), "app", true),
        ];
        for (nss, passwd, key, answers) in cases {
            write(nss, &passwd);
            let (ok, got) = files_fn(root, "passwd", &[key]);
            assert_eq!(ok, answers, "{nss:?} {passwd:?} {key}");
            if ok {
                assert_eq!(got, app, "{nss:?} {passwd:?}");
            }
        }
        write("group: files\n", &plain);
        assert_eq!(
            files_fn(root, "group", &["web", "1002", "33"]),
            (true, "web:x:33:a,b\nbench:x:1002:\nweb:x:33:a,b\n".into())
        );
        std::fs::write(t.path().join("group"), "web:x:33:a,,b\nbench:x:1002:\n").unwrap();
        assert!(!files_fn(root, "group", &["bench"]).0);
    }

    /// The packages section run by /bin/sh against the dpkg database `adm`,
    /// and dpkg-query itself there: (the section's lines, whether it ran
    /// dpkg-query, dpkg-query's own lines).
    fn packages_via(adm: &std::path::Path, names: &[&str]) -> (String, bool, String) {
        let bin = adm.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let ran = adm.join("ran");
        let _ = std::fs::remove_file(&ran);
        let wrapper = bin.join("dpkg-query");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\ntouch {}\nexec /usr/bin/dpkg-query \"$@\"\n",
                ran.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let o = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!(
                "opsctl_p() {{\n{}\n}}\nopsctl_p",
                packages_script(&names)
            ))
            .env("DPKG_ADMINDIR", adm)
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let real = std::process::Command::new("dpkg-query")
            .args([
                "-W",
                &format!(
                    "-f={}",
                    DPKG_FORMAT.replace("\\t", "\t").replace("\\n", "\n")
                ),
                "--",
            ])
            .args(&names)
            .env("DPKG_ADMINDIR", adm)
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            ran.exists(),
            String::from_utf8_lossy(&real.stdout).into_owned(),
        )
    }

    fn stanza(name: &str, arch: &str, status: &str, version: &str) -> String {
        format!(
            "Package: {name}\nStatus: {status}\nPriority: optional\nSection: misc\n\
             Installed-Size: 10\nMaintainer: A <a@example.test>\nArchitecture: {arch}\n\
             Version: {version}\nDepends: libc6\n\
             Description: {name}\n Package: {name}-fake\n Version: 9\n\n"
        )
    }

    /// The packages section reads dpkg's status file with one awk, and says
    /// what dpkg-query says, line for line: this machine's own database, then
    /// every status dpkg knows, both architectures of a package, a name that
    /// is a prefix of another. What dpkg reads otherwise than written, or
    /// reads from elsewhere too (its journal, unincorporated triggers), and
    /// a name that is a pattern go to dpkg-query.
    #[test]
    fn packages_from_the_status_file_are_dpkg_query_s() {
        if std::process::Command::new("dpkg-query")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: no dpkg-query on this machine");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let adm = t.path();
        std::fs::create_dir_all(adm.join("updates")).unwrap();
        std::fs::create_dir_all(adm.join("triggers")).unwrap();
        // this machine's database
        std::fs::copy("/var/lib/dpkg/status", adm.join("status")).unwrap();
        let mine = ["bash", "coreutils", "libc6", "dpkg", "no-such-package"];
        let (got, ran, want) = packages_via(adm, &mine);
        assert!(!ran, "dpkg-query ran for a plain status file");
        assert_eq!(got, want);
        assert!(got.lines().count() >= 4, "{got}");
        // every want, error flag and status dpkg keeps as written
        // dpkg writes its records sorted by name
        let same = |s: String| s.replacen("Version:", "Multi-Arch: same\nVersion:", 1);
        let mut status = same(stanza("foo", "amd64", "install ok installed", "2.0-1"));
        status.push_str(&same(stanza("foo", "i386", "hold ok installed", "2.0-1")));
        status.push_str(&stanza("foo-bar", "all", "install ok unpacked", "0.1"));
        let mut names = Vec::new();
        for (i, want) in ["unknown", "install", "hold", "deinstall", "purge"]
            .iter()
            .enumerate()
        {
            for (j, st) in [
                "config-files",
                "half-installed",
                "unpacked",
                "half-configured",
                "triggers-pending",
                "installed",
            ]
            .iter()
            .enumerate()
            {
                for flag in ["ok", "reinstreq"] {
                    let name = format!("p{i}{j}{flag}");
                    let mut s = stanza(
                        &name,
                        "amd64",
                        &format!("{want} {flag} {st}"),
                        "1:2.0~rc1+dfsg-3",
                    );
                    if *st == "triggers-pending" {
                        s = s.replace("\n\n", "\nTriggers-Pending: ldconfig\n\n");
                    }
                    status.push_str(&s);
                    names.push(name);
                }
            }
        }
        std::fs::write(adm.join("status"), &status).unwrap();
        let mut asked: Vec<&str> = names.iter().map(String::as_str).collect();
        asked.extend(["foo", "foo-bar", "bar", "foo-bar-fake"]);
        let (got, ran, want) = packages_via(adm, &asked);
        assert!(!ran);
        assert_eq!(got, want);
        assert_eq!(got.lines().count(), names.len() + 3, "{got}");
        // what dpkg reads otherwise than written: dpkg-query answers
        for (what, from, to) in [
            (
                "not-installed, blanked",
                "install ok unpacked",
                "purge ok not-installed",
            ),
            (
                "not-installed, kept",
                "install ok unpacked",
                "install ok not-installed",
            ),
            ("epoch 0", "Version: 0.1\n", "Version: 0:0.1\n"),
            ("trailing blank", "Version: 0.1\n", "Version: 0.1 \n"),
            ("continued", "Version: 0.1\n", "Version: 0.1\n 2\n"),
            ("twice", "Version: 0.1\n", "Version: 0.1\nVersion: 0.1\n"),
            (
                "a name's spelling",
                "Package: foo-bar\n",
                "Package: Foo-bar\n",
            ),
            ("out of order", "Package: foo-bar\n", "Package: zed\n"),
        ] {
            let i = status.rfind("Package: foo-bar\n").unwrap();
            let s = format!("{}{}", &status[..i], status[i..].replacen(from, to, 1));
            assert_ne!(s, status, "{what}");
            std::fs::write(adm.join("status"), &s).unwrap();
            let (got, ran, want) = packages_via(adm, &["foo", "foo-bar"]);
            assert!(ran, "{what}: dpkg-query did not answer");
            assert_eq!(got, want, "{what}");
        }
        std::fs::write(adm.join("status"), &status).unwrap();
        // a journal entry: dpkg-query reads it over the status file
        let entry = same(stanza("foo", "amd64", "install ok installed", "7.0"));
        std::fs::write(adm.join("updates/0000"), entry).unwrap();
        let (got, ran, want) = packages_via(adm, &["foo"]);
        assert!(ran && got == want && got.contains("\t7.0\n"), "{got}");
        std::fs::remove_file(adm.join("updates/0000")).unwrap();
        // an unincorporated trigger
        std::fs::write(adm.join("triggers/Unincorp"), "ldconfig foo\n").unwrap();
        let (got, ran, want) = packages_via(adm, &["foo"]);
        assert!(ran && got == want, "{got}");
        std::fs::write(adm.join("triggers/Unincorp"), "").unwrap();
        // a pattern or an architecture in a name: dpkg-query's matching
        for names in [&["foo:i386"][..], &["foo*"], &["foo", "Foo"]] {
            let (got, ran, want) = packages_via(adm, names);
            assert!(ran && got == want, "{names:?}: {got}");
        }
        let (_, ran, _) = packages_via(adm, &["foo"]);
        assert!(!ran);
    }

    #[test]
    fn one_section_per_kind() {
        let needs = vec![
            Need::Package("nginx".into()),
            Need::Package("curl".into()),
            Need::Passwd("deploy".into()),
            Need::Passwd("app".into()),
            Need::Group("deploy".into()),
            Need::Unit {
                scope: "system".into(),
                name: "nginx".into(),
            },
            Need::Unit {
                scope: "system".into(),
                name: "cron".into(),
            },
        ];
        let p = plan(&needs);
        assert_eq!(p.len(), 3, "{p:?}");
        // a section of one line is not run in a subshell: none may be one
        assert!(p.iter().all(|(_, code)| code.contains('\n')));
        assert!(p[0].1.contains("dpkg-query") && p[0].1.contains("-- curl nginx"));
        assert!(p[1].1.contains("for sv in cron nginx"));
        // users and groups: from the files, else one getent per database,
        // primary groups included
        assert!(p[2].1.contains(
            "if opsctl_files passwd app deploy; then pw=${ents%?}; else pw=$(getent passwd -- app deploy); fi"
        ));
        assert!(p[2].1.contains("set -- deploy\n"));
        assert_eq!(p[2].1.matches("getent ").count(), 2, "{}", p[2].1);
    }

    #[test]
    fn answers_are_mapped_back_to_each_need() {
        let mut f = SysFacts::default();
        answer(
            Section::Packages(vec!["nginx=1.22*".into(), "curl:amd64".into(), "nope".into()]),
            &out("nginx\tamd64\tinstall ok installed\t1.22.1-9\ncurl\tamd64\tinstall ok installed\t7.88\n"),
            &mut f,
        )
        .unwrap();
        assert_eq!(f.package("nginx=1.22*").unwrap()[0].version, "1.22.1-9");
        assert_eq!(f.package("curl:amd64").unwrap().len(), 1);
        assert!(f.package("nope").unwrap().is_empty());
        answer(
            Section::Accounts {
                passwd: vec![],
                groups: vec!["1001".into(), "nope".into(), "web".into()],
            },
            &out("@@groups\ndeploy:x:1001:\nweb:x:1002:a,b\n"),
            &mut f,
        )
        .unwrap();
        assert_eq!(f.group("1001").unwrap().unwrap().name, "deploy");
        assert_eq!(f.group("web").unwrap().unwrap().members, ["a", "b"]);
        assert!(f.group("nope").unwrap().is_none());
        answer(
            Section::Units {
                scope: "system".into(),
                names: vec!["cron".into(), "nginx.service".into()],
            },
            &out("initd cron\nrc_start cron /etc/rc2.d/S01cron\nstatus_rc nginx 3\n@@show\nId=cron.service\nLoadState=loaded\n\nId=nginx.service\nLoadState=not-found\n"),
            &mut f,
        )
        .unwrap();
        answer(
            Section::Accounts {
                passwd: vec!["app".into(), "ghost".into()],
                groups: vec!["app".into()],
            },
            &out("app:x:1501:1500:App:/home/app:/bin/bash\n@@more\nhome_dir app\n@@groups\napp:x:1500:\napp:x:1500:\n"),
            &mut f,
        )
        .unwrap();
        let app = f.passwd("app").unwrap().unwrap();
        assert!(app.home_is_dir && app.group_name.as_deref() == Some("app"));
        assert!(f.passwd("ghost").unwrap().is_none());
        assert_eq!(f.group("app").unwrap().unwrap().gid, 1500);
        // a crontab's owner that does not exist, from the accounts section
        answer(
            Section::Crontab(Some("ghost".into())),
            &Output {
                stderr: b"user ghost unknown\n".to_vec(),
                ..out("uid=0\n@@content\n\n@@rc=1\n")
            },
            &mut f,
        )
        .unwrap();
        assert!(f.crontab(Some("ghost")).unwrap().no_user);
        let c = f.unit("system", "cron").unwrap();
        assert!(c.initd && c.rc_start == ["/etc/rc2.d/S01cron"]);
        assert_eq!(c.show[0], ("Id".into(), "cron.service".into()));
        let n = f.unit("system", "nginx.service").unwrap();
        assert_eq!(n.status_rc, Some(3));
        assert_eq!(n.show[1].1, "not-found");
    }

    /// Each key gets its own lookup's line; two groups with one gid, a name
    /// and a number, a key not found; lines that do not follow the keys: None.
    #[test]
    fn getent_lines_are_matched_to_their_keys() {
        let g = |l: &str| parse_group(l).unwrap();
        let ents = vec![g("b:x:100:"), g("a:x:100:"), g("c:x:7:")];
        let keys: Vec<String> = ["b", "nope", "100", "7"].map(String::from).into();
        let f = by_key(&keys, &ents, group_id).unwrap();
        let names: Vec<Option<&str>> = f
            .iter()
            .map(|e| e.as_ref().map(|e| e.name.as_str()))
            .collect();
        assert_eq!(names, [Some("b"), None, Some("a"), Some("c")]);
        assert!(by_key(&keys[..2], &ents, group_id).is_none());
    }

    #[test]
    fn the_root_guard_is_read_back() {
        assert!(root_guard().contains("@@notroot"));
        let h = not_root("x\n@@notroot 1000 deploy\n").unwrap();
        assert_eq!((h.uid, h.user.as_str()), (1000, "deploy"));
        assert!(not_root("ok\n").is_none());
    }
}
