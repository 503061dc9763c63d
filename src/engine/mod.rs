//! The task engine: runs plays on hosts.
//!
//! Each host walks its task list on its own (Ansible's `free` strategy): blocks,
//! rescue and includes are naturally per host, and a slow host never holds the
//! others back. What needs the hosts together is shared here: `run_once` (one
//! host runs, all get the result), `any_errors_fatal` (a flag the others check
//! before each task), `serial` batches and `max_fail_percentage` between batches.
//! One connection per host serves the whole run.

pub mod apply;
pub mod facts;
pub mod gather;
mod host;
pub mod local;
#[cfg(test)]
mod module_tests;
pub mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value as Json;

pub use report::{Counts, Reporter, Status};

use crate::error::{Error, Exit, Result};
use crate::modules::Outcome;
use crate::playbook::{Play, Playbook};
use crate::runner::Connections;
use crate::session::Loaded;

/// How many hosts a run works on at once, unless `--forks` says otherwise.
pub const DEFAULT_FORKS: usize = 50;

/// What a command asks of a run (`opsctl run`'s flags, or what `provision`,
/// `deploy`, `rollback`... set): the engine's one options type.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub check: bool,
    pub diff: bool,
    pub forks: usize,
    pub limit: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub start_at_task: Option<String>,
    /// `--strict`: what opsctl would only fail when reached (an unimplemented
    /// module, filter, test or lookup; an absent role under a condition) is a
    /// load error.
    pub strict: bool,
}

/// What every host of a run shares.
pub struct Engine<'a> {
    pub loaded: &'a Loaded,
    pub opts: &'a Options,
    pub reporter: &'a Reporter<'a>,
    pub conns: Arc<Connections>,
    pub playbook_dir: PathBuf,
    /// Set when a task fails in an `any_errors_fatal` play: every host stops.
    abort: AtomicBool,
    /// `throttle`: the task's permits, by task position.
    throttles: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    /// `run_once` results, by task position.
    once: Mutex<HashMap<String, Arc<std::sync::OnceLock<Outcome>>>>,
    /// The batch's hosts still running, in inventory order: the first one runs a
    /// `run_once` task, the others wait for its result.
    alive: Mutex<Vec<String>>,
    /// Wakes hosts waiting for a `run_once` result (set, or its runner gone).
    pub(crate) changed: tokio::sync::Notify,
    /// What each host keeps from play to play, as Ansible's host variables:
    /// facts, set_fact, register, include_vars (name, definition, in the fact
    /// cache: gathered facts and `cacheable` set_facts, which `meta:
    /// clear_facts` clears).
    kept: Mutex<HashMap<String, Vec<Kept>>>,
    /// `meta: end_play` / `end_batch` ran: why, for every host of the play
    /// (or batch) that stops before its next task.
    end_play: Mutex<Option<String>>,
    end_batch: Mutex<Option<String>>,
    /// `meta: clear_host_errors` ran: failed hosts take part in later plays.
    clear_errors: AtomicBool,
    /// What `add_host` and `group_by` added to the inventory (for later plays).
    grown: Mutex<Grown>,
    /// The variables over the grown inventory (None: the loaded ones).
    vars_now: Mutex<Option<Arc<crate::vars::Vars>>>,
    /// The inventory as `meta: refresh_inventory` last read it (None: the
    /// loaded one).
    inventory_now: Mutex<Option<Arc<crate::inventory::Inventory>>>,
}

/// The hosts and groups `add_host` and `group_by` added during the run.
#[derive(Debug, Default)]
struct Grown {
    /// New or updated hosts: their variables, and where they were added.
    hosts: indexmap::IndexMap<String, (serde_json::Map<String, Json>, crate::location::Location)>,
    /// (group, host) memberships.
    members: Vec<(String, String)>,
    /// (child, parent) groups.
    parents: Vec<(String, String)>,
    /// Changed since the variables were last rebuilt.
    dirty: bool,
}

/// A variable a host keeps for the rest of the run.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    pub name: String,
    pub def: crate::vars::Definition,
    /// In the fact cache (cleared by `meta: clear_facts`).
    pub cached: bool,
}

impl<'a> Engine<'a> {
    pub fn new(
        loaded: &'a Loaded,
        opts: &'a Options,
        reporter: &'a Reporter<'a>,
        conns: Arc<Connections>,
        playbook: &Playbook,
    ) -> Self {
        let playbook_dir = playbook
            .path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default();
        Engine {
            loaded,
            opts,
            reporter,
            conns,
            playbook_dir,
            abort: AtomicBool::new(false),
            throttles: Mutex::new(HashMap::new()),
            once: Mutex::new(HashMap::new()),
            alive: Mutex::new(Vec::new()),
            changed: tokio::sync::Notify::new(),
            kept: Mutex::new(HashMap::new()),
            end_play: Mutex::new(None),
            end_batch: Mutex::new(None),
            clear_errors: AtomicBool::new(false),
            grown: Mutex::new(Grown::default()),
            vars_now: Mutex::new(None),
            inventory_now: Mutex::new(None),
        }
    }

    /// The run's variables (over the inventory as `add_host`/`group_by` grew it).
    pub(crate) fn vars(&self) -> Arc<crate::vars::Vars> {
        self.vars_now
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| self.loaded.vars.clone())
    }

    /// `add_host`: a host (new, or one whose variables and groups grow).
    pub(crate) fn add_host(
        &self,
        name: &str,
        groups: &[String],
        vars: serde_json::Map<String, Json>,
        at: &crate::location::Location,
    ) {
        let mut g = self.grown.lock().unwrap();
        let entry = g
            .hosts
            .entry(name.to_string())
            .or_insert_with(|| (serde_json::Map::new(), at.clone()));
        entry.0.extend(vars);
        for group in groups {
            g.members.push((group.clone(), name.to_string()));
        }
        g.dirty = true;
    }

    /// `meta: refresh_inventory`: reads the inventory file again; the next
    /// plays see its hosts, groups and variables (with what `add_host` and
    /// `group_by` added). The hosts of the running play stay as they are.
    pub(crate) fn refresh_inventory(&self) -> Result<()> {
        let inv = crate::inventory::load(&self.loaded.target.inventory)?;
        *self.inventory_now.lock().unwrap() = Some(Arc::new(inv));
        self.grown.lock().unwrap().dirty = true;
        Ok(())
    }

    /// The inventory as loaded, or as `meta: refresh_inventory` read it last.
    fn base_inventory(&self) -> Arc<crate::inventory::Inventory> {
        self.inventory_now
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| self.loaded.inventory.clone())
    }

    /// `group_by`: `host` in `group`, under `parents`.
    pub(crate) fn group_by(&self, host: &str, group: &str, parents: &[String]) {
        let mut g = self.grown.lock().unwrap();
        g.members.push((group.to_string(), host.to_string()));
        for p in parents {
            g.parents.push((group.to_string(), p.clone()));
        }
        g.dirty = true;
    }

    /// Before a play: the variables over the inventory as the earlier plays
    /// grew it (built again only when something was added).
    fn regrow(&self) -> Result<()> {
        let mut g = self.grown.lock().unwrap();
        if !g.dirty {
            return Ok(());
        }
        g.dirty = false;
        let inv = grown_inventory(&self.base_inventory(), &g);
        let vars = self
            .loaded
            .vars
            .with_inventory(Arc::new(inv))
            .map_err(|e| Error::new(format!("the inventory as the run grew it: {e}")))?;
        *self.vars_now.lock().unwrap() = Some(vars);
        Ok(())
    }

    /// Keeps a host's variable for the rest of the run (a later definition of
    /// the same name replaces it).
    pub(crate) fn keep(&self, host: &str, kept: Kept) {
        let mut all = self.kept.lock().unwrap();
        let list = all.entry(host.to_string()).or_default();
        list.retain(|k| k.name != kept.name || k.def.layer != kept.def.layer);
        list.push(kept);
    }

    /// What a host kept from earlier plays.
    pub(crate) fn kept(&self, host: &str) -> Vec<Kept> {
        self.kept
            .lock()
            .unwrap()
            .get(host)
            .cloned()
            .unwrap_or_default()
    }

    /// `meta: clear_facts`: drops the host's fact cache; returns the names dropped.
    pub(crate) fn clear_facts(&self, host: &str) -> Vec<(String, crate::vars::Layer)> {
        let mut all = self.kept.lock().unwrap();
        let Some(list) = all.get_mut(host) else {
            return Vec::new();
        };
        let dropped = list
            .iter()
            .filter(|k| k.cached)
            .map(|k| (k.name.clone(), k.def.layer))
            .collect();
        list.retain(|k| !k.cached);
        dropped
    }

    /// Why the play (or the batch) ended for every host, if it did.
    pub(crate) fn ended(&self) -> Option<String> {
        let play = self.end_play.lock().unwrap().clone();
        play.or_else(|| self.end_batch.lock().unwrap().clone())
    }

    /// The permits of a `throttle: n` task (made by the first host to reach
    /// it: every host's `n` is that one's).
    fn throttle(&self, key: &str, n: u64) -> Arc<tokio::sync::Semaphore> {
        self.throttles
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(n as usize)))
            .clone()
    }

    fn once_cell(&self, key: &str) -> Arc<std::sync::OnceLock<Outcome>> {
        self.once
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Is `host` the first of the batch still running?
    fn is_first_alive(&self, host: &str) -> bool {
        self.alive
            .lock()
            .unwrap()
            .first()
            .is_some_and(|h| h == host)
    }

    /// A host finished the play (or stopped): the next one may run `run_once` tasks.
    fn gone(&self, host: &str) {
        self.alive.lock().unwrap().retain(|h| h != host);
        self.changed.notify_waiters();
    }

    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::SeqCst)
    }
}

/// Loads the playbook at `path` and runs it ([`run`]) on `conns`, reporting
/// through `printer` (and the run journal, when one is recording): the entry
/// point of the commands that run a playbook of the project.
pub async fn run_file(
    loaded: &Loaded,
    path: &std::path::Path,
    opts: &Options,
    conns: Arc<Connections>,
    printer: &crate::printer::Printer,
) -> Result<Exit> {
    let playbook = load(loaded, path, opts.strict, printer)?;
    let reporter = Reporter::new(printer, opts.diff).with_journal(crate::journal::active());
    run(loaded, &playbook, opts, &reporter, conns).await
}

/// Loads the playbook at `path` for a run: its warnings (what loads but fails
/// when a host reaches it) printed as one block, or with `strict` refused as
/// load errors before any host is touched.
pub fn load(
    loaded: &Loaded,
    path: &std::path::Path,
    strict: bool,
    printer: &crate::printer::Printer,
) -> Result<Playbook> {
    let root = loaded.target.project.as_ref().map(|p| p.root.clone());
    let playbook =
        crate::playbook::load_playbook(path, root.as_deref()).map_err(|e| e.to_error())?;
    if strict {
        return playbook.strict().map_err(|e| e.to_error());
    }
    if let Some(block) = crate::playbook::warnings_block(&playbook.warnings) {
        printer.warn(&block);
    }
    Ok(playbook)
}

/// Runs every play of a playbook over `conns`, the command's connections (one
/// per host, opened on first use): the command closes them when it is done with
/// them (a deploy keeps its lock's connection for the playbook and the unlock);
/// on Ctrl-C they are closed here, to stop the tasks. Returns the exit status
/// (0, 2 or 4).
pub async fn run(
    loaded: &Loaded,
    playbook: &Playbook,
    opts: &Options,
    reporter: &Reporter<'_>,
    conns: Arc<Connections>,
) -> Result<Exit> {
    let engine = Engine::new(loaded, opts, reporter, conns.clone(), playbook);
    let limit: Option<Vec<String>> = match &opts.limit {
        Some(p) => Some(loaded.select(Some(p))?),
        None => None,
    };
    let result = tokio::select! {
        r = run_plays(&engine, playbook, limit.as_deref()) => r,
        _ = crate::interrupt::signalled() => {
            reporter.warn("opsctl", "interrupted: stopping");
            conns.close_all().await;
            reporter.recap();
            return Ok(Exit::Interrupted);
        }
    };
    result?;
    reporter.recap();
    let counts = reporter.counts();
    Ok(if counts.values().any(|c| c.failed > 0) {
        Exit::Failed
    } else if counts.values().any(|c| c.unreachable > 0) {
        Exit::Unreachable
    } else {
        Exit::Success
    })
}

async fn run_plays(
    engine: &Engine<'_>,
    playbook: &Playbook,
    limit: Option<&[String]>,
) -> Result<()> {
    // Hosts that failed or were unreachable take no part in later plays.
    let mut dead: Vec<String> = Vec::new();
    for play in &playbook.plays {
        let hosts = play_hosts(engine, play, limit, &dead)?;
        let name = play.name.clone().unwrap_or_else(|| play.hosts.clone());
        engine.reporter.play(&name, &play.hosts, hosts.len());
        engine.reporter.hosts(&hosts);
        if hosts.is_empty() {
            continue;
        }
        *engine.end_play.lock().unwrap() = None;
        for batch in batches(play, &hosts)? {
            let total = batch.len();
            *engine.end_batch.lock().unwrap() = None;
            let failed = run_batch(engine, play, &batch).await;
            dead.extend(failed.iter().cloned());
            if engine.clear_errors.swap(false, Ordering::SeqCst) {
                dead.clear();
            }
            if engine.aborted() {
                return Ok(());
            }
            if engine.end_play.lock().unwrap().is_some() {
                break;
            }
            if let Some(max) = play.max_fail_percentage
                && total > 0
                && (failed.len() as f64 * 100.0 / total as f64) > max
            {
                engine.reporter.warn(
                    "opsctl",
                    &format!("{} of {total} hosts failed: over max_fail_percentage {max}, stopping the play", failed.len()),
                );
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The loaded inventory plus what `add_host` and `group_by` added.
fn grown_inventory(base: &crate::inventory::Inventory, g: &Grown) -> crate::inventory::Inventory {
    use crate::inventory::{Group, Host, VarDef};
    let mut inv = base.clone();
    fn group<'i>(inv: &'i mut crate::inventory::Inventory, name: &str) -> &'i mut Group {
        if !inv.groups.contains_key(name) {
            inv.groups.insert(
                name.to_string(),
                Group {
                    name: name.to_string(),
                    hosts: Vec::new(),
                    children: Vec::new(),
                    vars: Default::default(),
                    location: None,
                    priority: 1,
                },
            );
            if let Some(all) = inv.groups.get_mut("all") {
                all.children.push(name.to_string());
            }
        }
        inv.groups.get_mut(name).expect("inserted above")
    }
    for (name, (vars, at)) in &g.hosts {
        let new = !inv.hosts.contains_key(name);
        let host = inv.hosts.entry(name.clone()).or_insert_with(|| Host {
            name: name.clone(),
            vars: Default::default(),
            location: at.clone(),
        });
        for (k, v) in vars {
            host.vars.insert(
                k.clone(),
                VarDef {
                    value: v.clone(),
                    location: at.clone(),
                },
            );
        }
        if new && !g.members.iter().any(|(_, h)| h == name) {
            group(&mut inv, "ungrouped").hosts.push(name.clone());
        }
    }
    for (child, parent) in &g.parents {
        if parent != "all" {
            group(&mut inv, child);
            let p = group(&mut inv, parent);
            if !p.children.contains(child) {
                p.children.push(child.clone());
            }
            if let Some(all) = inv.groups.get_mut("all") {
                all.children.retain(|c| c != child);
            }
        }
    }
    for (grp, host) in &g.members {
        let gr = group(&mut inv, grp);
        if !gr.hosts.contains(host) {
            gr.hosts.push(host.clone());
        }
        if grp != "ungrouped"
            && let Some(u) = inv.groups.get_mut("ungrouped")
        {
            u.hosts.retain(|h| h != host);
        }
    }
    inv
}

/// The play's hosts, in inventory order, within --limit, without dead hosts.
fn play_hosts(
    engine: &Engine,
    play: &Play,
    limit: Option<&[String]>,
    dead: &[String],
) -> Result<Vec<String>> {
    engine.regrow()?;
    let vars = engine.vars();
    let inv = &vars.inventory;
    let hosts = inv
        .select(&play.hosts)
        .map_err(|e| Error::new(format!("{}: hosts: {e}", play.location)))?;
    Ok(hosts
        .into_iter()
        // Hosts added by add_host are in, whatever --limit selected at the start.
        .filter(|h| {
            // So are hosts that `meta: refresh_inventory` found.
            let added = !engine.loaded.inventory.hosts.contains_key(h);
            (added || limit.is_none_or(|l| l.contains(h))) && !dead.contains(h)
        })
        .collect())
}

/// `serial`: a number, a percentage, or a list of them (the last one repeats).
fn batches(play: &Play, hosts: &[String]) -> Result<Vec<Vec<String>>> {
    let Some(serial) = &play.serial else {
        return Ok(vec![hosts.to_vec()]);
    };
    let sizes: Vec<Json> = match serial {
        Json::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let n = hosts.len();
    let size_of = |v: &Json| -> Result<usize> {
        let bad = || {
            Error::new(format!(
                "{}: serial: {v} is not a number, a percentage or a list of them",
                play.location
            ))
        };
        match v {
            Json::Number(x) => x.as_u64().map(|x| x as usize).ok_or_else(bad),
            Json::String(s) if s.trim().ends_with('%') => {
                let pct: f64 = s.trim().trim_end_matches('%').parse().map_err(|_| bad())?;
                Ok(((n as f64) * pct / 100.0).floor() as usize)
            }
            Json::String(s) => s.trim().parse().map_err(|_| bad()),
            _ => Err(bad()),
        }
    };
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < n {
        let size = size_of(&sizes[k.min(sizes.len() - 1)])?.max(1);
        out.push(hosts[i..(i + size).min(n)].to_vec());
        i += size;
        k += 1;
    }
    Ok(out)
}

/// Runs the play on a batch of hosts at once (up to --forks); returns the hosts
/// that failed or were unreachable.
async fn run_batch(engine: &Engine<'_>, play: &Play, hosts: &[String]) -> Vec<String> {
    *engine.alive.lock().unwrap() = hosts.to_vec();
    engine.once.lock().unwrap().clear();
    let ran = crate::runner::fan_out(
        hosts.to_vec(),
        engine.opts.forks,
        |h: String| async move {
            let ok = host::run_play(engine, play, &h).await;
            engine.gone(&h);
            (h, ok)
        },
        |_, _| {},
    )
    .await;
    ran.into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(h, _)| h)
        .collect()
}

/// Does a task with these tags run under --tags / --skip-tags?
pub fn tags_match(task_tags: &[String], only: &[String], skip: &[String]) -> bool {
    let has = |t: &str| task_tags.iter().any(|x| x == t);
    if skip
        .iter()
        .any(|s| has(s) || (s == "all" && !has("always")))
    {
        return false;
    }
    if skip.iter().any(|s| s == "tagged") && !task_tags.is_empty() && !has("always") {
        return false;
    }
    if has("always") && !skip.iter().any(|s| s == "always") {
        return true;
    }
    if only.is_empty() || only.iter().any(|o| o == "all") {
        return !has("never");
    }
    only.iter().any(|o| {
        has(o)
            || (o == "tagged" && !task_tags.is_empty())
            || (o == "untagged" && task_tags.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn add_host_and_group_by_grow_the_inventory() {
        let base = crate::inventory::parse_ini(
            "[web]\nweb1\nweb2\n[db]\ndb1\n",
            std::path::Path::new("hosts"),
        )
        .unwrap();
        let at = crate::location::Location::new("site.yml", 3, Some(7));
        let mut g = Grown::default();
        let mut vars = serde_json::Map::new();
        vars.insert("ansible_host".into(), Json::from("10.0.0.9"));
        g.hosts.insert("new1".into(), (vars, at.clone()));
        g.hosts.insert("loner".into(), (serde_json::Map::new(), at));
        g.members.push(("added".into(), "new1".into()));
        for h in ["web1", "db1"] {
            g.members.push(("os_debian".into(), h.into()));
        }
        g.parents.push(("os_debian".into(), "by_os".into()));
        let inv = grown_inventory(&base, &g);
        let sel = |p: &str| inv.select(p).unwrap();
        assert_eq!(sel("added"), ["new1"]);
        assert_eq!(sel("by_os"), ["web1", "db1"]);
        assert_eq!(sel("os_debian:&web"), ["web1"]);
        assert_eq!(sel("ungrouped"), ["loner"]);
        assert_eq!(sel("all"), ["loner", "web1", "web2", "db1", "new1"]);
        assert_eq!(
            inv.hosts["new1"].vars["ansible_host"].value,
            Json::from("10.0.0.9")
        );
        assert!(inv.host_groups("web1").contains(&"by_os"));
    }

    #[test]
    fn tag_selection_like_ansible() {
        assert!(tags_match(&t(&[]), &t(&[]), &t(&[])));
        assert!(!tags_match(&t(&["never"]), &t(&[]), &t(&[])));
        assert!(tags_match(&t(&["never", "debug"]), &t(&["debug"]), &t(&[])));
        assert!(tags_match(&t(&["always"]), &t(&["web"]), &t(&[])));
        assert!(!tags_match(&t(&["always"]), &t(&[]), &t(&["always"])));
        assert!(tags_match(&t(&["web"]), &t(&["web"]), &t(&[])));
        assert!(!tags_match(&t(&["db"]), &t(&["web"]), &t(&[])));
        assert!(!tags_match(&t(&["web"]), &t(&[]), &t(&["web"])));
        assert!(tags_match(&t(&[]), &t(&["untagged"]), &t(&[])));
        assert!(!tags_match(&t(&["x"]), &t(&["untagged"]), &t(&[])));
        assert!(tags_match(&t(&["x"]), &t(&["tagged"]), &t(&[])));
    }
}
