//! The module protocol: facts -> decide -> change.
//!
//! A module declares, from its validated arguments, the facts it needs
//! ([`Need`]: typed requests such as the stat of a path or the output of a
//! read-only probe); the engine gathers the needs of the next tasks of a host in
//! ONE exec, merging requests of the same kind (one file-interpreter manifest
//! for every path, one `stat`/`sha256sum` for plain paths), and hands the
//! answers ([`Facts`]) to [`Module::decide`], a pure function from (arguments,
//! facts) to a [`Plan`]: nothing to do, more facts to read first, or a change
//! with the outcome it would have. The engine applies the change only when the
//! task is not in check mode, so `--check` and `--diff` are enforced in one
//! place (`engine::apply`), then [`Module::applied`] turns what the change
//! printed into the task's outcome.
//!
//! Nothing reads the host except through needs, and nothing writes except
//! through a plan's [`Action`]: a module cannot download or write to decide.
//!
//! Every method stops with [`Fail`], the one error type of module code (a task
//! failure, bad arguments, or a transport error); `engine::apply::outcome`
//! turns it into the task's outcome.

use std::collections::HashMap;
use std::path::PathBuf;

use super::fail::{self, Fail};
use super::regular_file;
use super::remote_file::{HostInfo, Op, Req, Run, Stat};
use super::{Args, Outcome};
use crate::location::Location;
use crate::transport::Output;

/// The first line of a probe written to run in the gathering script's own
/// shell, as a function, instead of a subshell (one process less on the host):
/// it ends with `return`, never `exit`; it sets every variable before it reads
/// one; it leaves the shell as it found it (no `cd`, `set -f`, `IFS`, `trap`,
/// `umask` or `export`). The fact sections of `sysfacts` and `gitfacts` are
/// written to the same contract.
pub const SHARED_SHELL: &str = "# opsctl: in the gathering shell\n";

/// A fact a module needs from the host, as a typed request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Need {
    /// Who runs commands on the host (user, uid, umask, home).
    Host,
    /// A path's stat, and the checksums and content [`Req`] asks for.
    Path(Req),
    /// A `touch -t` stamp as epoch seconds on the host.
    Epoch(String),
    /// Every entry below a directory (itself included), links not followed.
    Tree(String),
    /// The output of a read-only shell script (a module's own probe). It runs
    /// in a subshell of its own, unless it starts with [`SHARED_SHELL`].
    Probe(String),
    // --- system facts (apt, service, user, cron...): answered in
    // `sysfacts`, one section per kind for every task ---
    /// apt's tools, the time and the age of the package lists.
    AptState,
    /// dpkg's records of a package (`nginx`, `nginx:amd64`, `nginx=1.22*`).
    Package(String),
    /// `apt-cache policy` of a package.
    Policy(String),
    /// Does systemd run the host?
    Init,
    /// A unit (`systemctl show`, init script, rc links) in a scope
    /// (`system`, `user`, `global`).
    Unit { scope: String, name: String },
    /// A user's passwd entry (by name or uid).
    Passwd(String),
    /// A group's entry (by name or gid).
    Group(String),
    /// A user's crontab (`None`: who runs the task).
    Crontab(Option<String>),
    // --- deploy modules (git, fetch, pause...) ---
    /// A git working copy: HEAD, branch, remote URL and local modifications.
    GitHead(GitReq),
    /// A read-only probe whose stdin holds a secret (a password): it runs in an
    /// exec of its own, the stdin never in a script or the trace.
    SecretProbe(SecretProbe),
}

impl Need {
    /// A short description (for `-v` and fixtures).
    pub fn describe(&self) -> String {
        match self {
            Need::Host => "host".into(),
            Need::Path(r) if r.follow => format!("path {} (follow)", r.path),
            Need::Path(r) => format!("path {}", r.path),
            Need::Epoch(t) => format!("epoch {t}"),
            Need::Tree(p) => format!("tree {p}"),
            Need::Probe(_) => "probe".into(),
            Need::AptState => "apt".into(),
            Need::Package(p) => format!("package {p}"),
            Need::Policy(p) => format!("policy {p}"),
            Need::Init => "init".into(),
            Need::Unit { scope, name } if scope == "system" => format!("unit {name}"),
            Need::Unit { scope, name } => format!("unit {name} ({scope})"),
            Need::Passwd(u) => format!("passwd {u}"),
            Need::Group(g) => format!("group {g}"),
            Need::Crontab(u) => format!("crontab {}", u.as_deref().unwrap_or("-")),
            Need::GitHead(g) => format!("git {}", g.dest),
            Need::SecretProbe(_) => "secret probe".into(),
        }
    }
}

/// The answers to a host's needs (gathered by the engine; built by hand in
/// fixtures).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub host: Option<HostInfo>,
    pub paths: HashMap<Req, Stat>,
    pub epochs: HashMap<String, Option<i64>>,
    pub trees: HashMap<String, Vec<Stat>>,
    pub probes: HashMap<String, Output>,
    /// Packages, units, accounts, crontabs.
    pub sys: super::sysfacts::SysFacts,
    // --- deploy modules ---
    pub gits: HashMap<GitReq, GitHead>,
    pub secret_probes: HashMap<SecretProbe, Output>,
}

impl Facts {
    /// Does this hold the answer to `need`?
    pub fn has(&self, need: &Need) -> bool {
        match need {
            Need::Host => self.host.is_some(),
            Need::Path(r) => self.paths.contains_key(r),
            Need::Epoch(t) => self.epochs.contains_key(t),
            Need::Tree(p) => self.trees.contains_key(p),
            Need::Probe(s) => self.probes.contains_key(s),
            Need::GitHead(g) => self.gits.contains_key(g),
            Need::SecretProbe(p) => self.secret_probes.contains_key(p),
            sys => self.sys.has(sys).unwrap_or(false),
        }
    }

    /// Adds every answer of `other`.
    pub fn merge(&mut self, other: Facts) {
        if other.host.is_some() {
            self.host = other.host;
        }
        self.paths.extend(other.paths);
        self.epochs.extend(other.epochs);
        self.trees.extend(other.trees);
        self.probes.extend(other.probes);
        self.sys.merge(other.sys);
        self.gits.extend(other.gits);
        self.secret_probes.extend(other.secret_probes);
    }

    pub fn host(&self) -> Result<&HostInfo, Fail> {
        self.host.as_ref().ok_or_else(|| missing("the host's user"))
    }
    pub fn path(&self, req: &Req) -> Result<&Stat, Fail> {
        self.paths
            .get(req)
            .ok_or_else(|| missing(&format!("the stat of {}", req.path)))
    }
    /// The epoch of a `touch -t` stamp; `None` when the host cannot parse it.
    pub fn epoch(&self, stamp: &str) -> Result<Option<i64>, Fail> {
        self.epochs
            .get(stamp)
            .copied()
            .ok_or_else(|| missing(&format!("the time {stamp}")))
    }
    pub fn tree(&self, path: &str) -> Result<&[Stat], Fail> {
        self.trees
            .get(path)
            .map(Vec::as_slice)
            .ok_or_else(|| missing(&format!("the entries below {path}")))
    }
    pub fn probe(&self, script: &str) -> Result<&Output, Fail> {
        self.probes
            .get(script)
            .ok_or_else(|| missing("a probe's output"))
    }
    pub fn git(&self, req: &GitReq) -> Result<&GitHead, Fail> {
        self.gits
            .get(req)
            .ok_or_else(|| missing(&format!("the working copy {}", req.dest)))
    }
}

// --- deploy modules: typed facts ---

impl Facts {
    pub fn secret_probe(&self, p: &SecretProbe) -> Result<&Output, Fail> {
        self.secret_probes
            .get(p)
            .ok_or_else(|| missing("a probe's output"))
    }
}

/// A probe script with a secret on its stdin (never printed: see its Debug).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretProbe {
    pub script: String,
    pub stdin: Vec<u8>,
}

impl std::fmt::Debug for SecretProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretProbe")
            .field("script", &self.script)
            .field("stdin", &"(hidden)")
            .finish()
    }
}

/// Which working copy to read, with which git, and which remote's URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GitReq {
    pub dest: String,
    /// The git executable (`git` unless the task says otherwise).
    pub exe: String,
    pub remote: String,
}

/// What `dest` is, for git.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DestState {
    #[default]
    Absent,
    /// An empty directory (clone into it).
    Empty,
    Repo,
    /// Something else: a file, or a directory with content that is not a repository.
    Other,
}

/// A git working copy as read on the host.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(default)]
pub struct GitHead {
    /// The executable is not on the host.
    pub git_missing: bool,
    pub state: DestState,
    /// HEAD's sha (none in a repository without commits).
    pub head: Option<String>,
    /// The checked-out branch, if not detached.
    pub branch: Option<String>,
    pub remote_url: Option<String>,
    /// `git status --porcelain --untracked-files=no`.
    pub mods: String,
}

fn missing(what: &str) -> Fail {
    Fail::Args(format!(
        "internal error: {what} was decided on without being gathered"
    ))
}

/// What a module decided.
#[derive(Debug)]
pub enum Plan {
    /// Nothing to change: this is the outcome.
    Done(Outcome),
    /// Read these facts too, then decide again (a second read that depends on
    /// the first, such as the checksum of a path found in a file).
    More(Vec<Need>),
    /// Change the host.
    Change(Box<Change>),
}

impl Plan {
    /// The outcome reported (as predicted, for a change).
    pub fn outcome_mut(&mut self) -> Option<&mut Outcome> {
        match self {
            Plan::Done(o) => Some(o),
            Plan::Change(c) => Some(&mut c.outcome),
            Plan::More(_) => None,
        }
    }

    pub fn change(outcome: Outcome, action: Action) -> Plan {
        Plan::Change(Box::new(Change {
            outcome,
            action,
            in_check: InCheck::Changed,
        }))
    }
}

/// A change to make, and what it reports.
#[derive(Debug)]
pub struct Change {
    /// The outcome as predicted (changed, diffs, registered data): what check
    /// mode reports, and what [`Module::applied`] starts from.
    pub outcome: Outcome,
    pub action: Action,
    pub in_check: InCheck,
}

/// How a change is reported in check mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InCheck {
    /// As the predicted outcome (changed).
    Changed,
    /// Skipped with this message: the result cannot be predicted (a command).
    Skipped(String),
    /// Applied in check mode too: the action changes nothing (a pause, a wait).
    Apply,
}

/// What changes the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A shell script with its stdin, run with the task's become and environment.
    Script {
        script: String,
        stdin: Option<Vec<u8>>,
    },
    /// Steps of the remote file interpreter (writes, mkdir, chmod, links...),
    /// with the user's `validate` command for written files.
    Files {
        ops: Vec<Op>,
        validate: Option<String>,
    },
    // --- deploy modules: actions on the controller (engine::local) ---
    /// Write a file on the controller, atomically (fetch).
    WriteLocal { path: PathBuf, content: Vec<u8> },
    /// Wait on the controller: a number of seconds, or for the operator's
    /// answer to `prompt` (asked once per `key`, given to every host).
    Pause(Pause),
    /// Wait on the controller until a new connection to the host answers
    /// (wait_for_connection).
    Reconnect(Reconnect),
    /// Reboot the host and wait until it is back (reboot): run by the engine
    /// (`engine::local::reboot`), which replaces the host's SSH master.
    Reboot(Reboot),
    /// Run rsync on the controller, over the host's connection (synchronize):
    /// the engine adds the remote shell (the SSH master's socket), the
    /// task's become (`--rsync-path`) and, in check mode, `--dry-run`.
    Rsync(Rsync),
    /// Put these images of the controller's docker daemon on the host: `docker
    /// save` on the controller streamed over the host's connection into `docker
    /// load` there (compose_ship), then tag the images the host already has
    /// under another name (`tags`: id, name); the engine adds the task's become.
    Ship {
        images: Vec<String>,
        tags: Vec<(String, String)>,
    },
}

/// An rsync run: its options, and which side of the transfer is the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rsync {
    pub opts: Vec<String>,
    pub src: String,
    pub dest: String,
    /// `push`: `dest` is on the host; else (`pull`) `src` is.
    pub push: bool,
    /// The module's `rsync_path` (the engine's become does not replace it).
    pub rsync_path: Option<String>,
}

/// How to wait for a connection: new connections made like the task's own,
/// each bounded by `connect_timeout`, every `sleep` after `delay`, until
/// `timeout` (seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnect {
    pub delay: u64,
    pub sleep: u64,
    pub timeout: u64,
    pub connect_timeout: u64,
}

/// How to reboot a host: the boot id read before with `boot_time_command`,
/// `reboot_command` run (the host's connection may drop meanwhile), then new
/// masters (each bounded by `connect_timeout`) until the boot id differs and
/// `test_command` succeeds, all within `reboot_timeout` seconds of the reboot
/// command; `post_reboot_delay` seconds waited after the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reboot {
    pub reboot_command: String,
    pub boot_time_command: String,
    pub test_command: String,
    pub post_reboot_delay: u64,
    pub reboot_timeout: u64,
    pub connect_timeout: Option<u64>,
}

/// How to pause on the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub seconds: Option<u64>,
    pub prompt: Option<String>,
    pub echo: bool,
    /// The task (file:line) and prompt: one answer for every host.
    pub key: String,
}

/// What an applied action printed.
#[derive(Debug)]
pub enum Applied {
    Script(Output),
    /// The file interpreter's report (probes asked after the change included).
    Files(Run),
    /// A controller file was written.
    WroteLocal,
    /// The pause is over.
    Paused(Paused),
    /// A new connection answered after this long (from the end of the delay).
    Reconnected(std::time::Duration),
    /// The host rebooted (its boot id changed) and answered the test command,
    /// this long after the reboot command started.
    Rebooted(std::time::Duration),
    /// rsync ran: its command line (as a shell would read it) and output.
    Rsynced {
        cmd: String,
        out: Output,
    },
    /// `docker save | docker load` ran: the bytes that went over the
    /// connection, how long it took, and what failed (`out`: the failing
    /// side's stderr, `docker load`'s output when both succeeded).
    Shipped {
        bytes: u64,
        elapsed: std::time::Duration,
        out: Output,
    },
}

/// What a pause did.
#[derive(Debug, Clone)]
pub struct Paused {
    /// The duration waited for, when one was given.
    pub seconds: Option<u64>,
    /// The operator's answer (empty when nobody was asked).
    pub user_input: String,
    /// Nobody could be asked (no terminal, or CI): it returned at once.
    pub not_asked: bool,
    pub start: std::time::SystemTime,
    pub stop: std::time::SystemTime,
    pub elapsed: std::time::Duration,
}

/// What a module may know of its task besides arguments and facts: everything
/// on the controller, nothing of the host.
pub struct Ctx<'a> {
    /// Inventory name.
    pub host: &'a str,
    /// `--diff`: fill the outcome's diffs (and ask for the content they need).
    pub diff: bool,
    /// Where relative `src` paths are looked up, in order.
    pub search: &'a [PathBuf],
    pub location: &'a Location,
    /// The task's variables, for modules that render templates.
    pub vars: &'a minijinja::Value,
    pub templar: &'a crate::template::Templar,
}

impl Ctx<'_> {
    /// Finds a local file (`src:`) in the search path; absolute paths as they are.
    pub fn find_local(&self, rel: &str) -> Result<PathBuf, Fail> {
        super::find_local(self.search, rel)
    }
}

/// A module on the protocol. Every method but `applied` is pure: it sees the
/// arguments, the facts and the controller, never the host.
pub trait Module: Sync {
    /// The facts to gather before deciding.
    fn needs(&self, args: &Args, ctx: &Ctx) -> Result<Vec<Need>, Fail>;

    /// False when the task changes the host whatever it finds (a command
    /// without `creates`/`removes`): the engine reads no facts ahead past it.
    fn predictable(&self, _args: &Args) -> bool {
        true
    }

    /// The plan, from the arguments and the gathered facts.
    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail>;

    /// The outcome once the change ran. By default: the predicted outcome when
    /// the action succeeded, else a failure with what the host said.
    fn applied(
        &self,
        _args: &Args,
        planned: Outcome,
        result: Applied,
        _ctx: &Ctx,
    ) -> Result<Outcome, Fail> {
        default_applied(planned, result)
    }
}

/// The default reading of an applied action: success keeps the predicted
/// outcome (for file steps, with the backup taken and the attributes read after
/// the change: [`regular_file::file_applied`]); a failed script fails the task with its
/// exit status and stderr.
pub fn default_applied(planned: Outcome, result: Applied) -> Result<Outcome, Fail> {
    match result {
        Applied::Files(_) => Ok(regular_file::file_applied(planned, &result)),
        Applied::WroteLocal
        | Applied::Paused(_)
        | Applied::Reconnected(_)
        | Applied::Rebooted(_) => Ok(planned),
        Applied::Rsynced { out, .. } if out.success() => Ok(planned),
        Applied::Rsynced { out, .. } => fail::fail(script_failure(&out)),
        Applied::Shipped { out, .. } if out.success() => Ok(planned),
        Applied::Shipped { out, .. } => fail::fail(script_failure(&out)),
        Applied::Script(out) if out.success() => Ok(planned),
        Applied::Script(out) => fail::fail(script_failure(&out)),
    }
}

/// "rc N: <stderr>" of a failed script, the most useful lines first.
pub fn script_failure(out: &Output) -> String {
    let stderr = out.stderr_str();
    let stdout = out.stdout_str();
    let detail = if stderr.trim().is_empty() {
        stdout.trim().to_string()
    } else {
        stderr.trim().to_string()
    };
    match out.rc {
        Some(rc) => format!("failed (rc {rc}): {detail}"),
        None => format!("killed by a signal: {detail}"),
    }
}
