//! The hosts of a deploy-lock command (`deploy`, `rollback`, `initdata`,
//! `releases`, and `status` when it finishes a dead command's work): their
//! connections, `app_root`, the deploy lock taken in inventory order, each host's
//! release status, and [`finish`], which completes what a command that died
//! under the lock left undone. The commands drive these; this module talks to
//! the hosts through the runner and runs the stack's playbooks through the engine.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value as Json, json};

use super::lock::{Controller, HolderState, holder_state, process_start};
use super::remote::{self, LockAnswer, Status, Take};
use super::{self as d, LockRecord, Outcome};
use crate::engine::Options;
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;
use crate::runner::{Connections, connection_spec};
use crate::session::Loaded;
use crate::transport::{ConnectionSpec, RemoteCommand};
use crate::vars::{Layer, Vars, VarsError};

/// The hosts a command works on, with how to reach them and their app_root.
pub struct Hosts {
    pub loaded: Loaded,
    pub names: Vec<String>,
    pub specs: Vec<ConnectionSpec>,
    pub roots: Vec<String>,
    /// The variables with the stack roles' defaults as a layer
    /// ([`Loaded::with_role_defaults`]): what the playbooks would use for a
    /// variable the inventory does not set. (The playbooks themselves run on
    /// `loaded`: the engine sets their roles' defaults.)
    pub vars: Arc<Vars>,
    /// The command's one connection per host: the lock's, the status reads' and
    /// the playbooks' (the engine closes them after a playbook; they reopen on use).
    pub conns: Arc<Connections>,
    /// The project root (playbooks/ are under it).
    pub root: PathBuf,
    /// `--limit`, for the playbooks run on these hosts.
    pub limit: Option<String>,
    /// How many hosts the playbooks work on at once (`--forks`).
    pub forks: usize,
    /// `--strict`: the playbooks may use nothing opsctl does not implement.
    pub strict: bool,
}

impl Hosts {
    /// The hosts of `playbook`'s plays that `--limit` keeps, in inventory order.
    pub fn load(loaded: Loaded, limit: Option<&str>, playbook: &str) -> Result<Hosts> {
        let root = loaded
            .target
            .project
            .as_ref()
            .map(|p| p.root.clone())
            .ok_or_else(|| {
                Error::new(format!("`{playbook}` needs a project (the directory holding environments/ and playbooks/)"))
                    .hint("use --env ENV inside the project, or --project DIR")
            })?;
        let path = root.join("playbooks").join(format!("{playbook}.yml"));
        if !path.is_file() {
            return Err(Error::new(format!("{} does not exist", crate::location::display_path(&path)))
                .hint("opsctl's stack playbooks ship in the opsctl repository's playbooks/ and roles/; copy them into the project"));
        }
        let book = crate::playbook::load_playbook(&path, Some(&root)).map_err(|e| e.to_error())?;
        let limited = match limit {
            Some(p) => Some(loaded.select(Some(p))?),
            None => None,
        };
        let mut names: Vec<String> = Vec::new();
        for play in &book.plays {
            for h in loaded.inventory.select(&play.hosts)? {
                if limited.as_ref().is_none_or(|l| l.contains(&h)) && !names.contains(&h) {
                    names.push(h);
                }
            }
        }
        // Inventory order, whatever the plays' order: the lock is taken in it.
        let order = loaded.inventory.select("all")?;
        names.sort_by_key(|h| order.iter().position(|o| o == h));
        if names.is_empty() {
            return Err(Error::new(format!(
                "no host to work on: the plays of {} select none{}",
                crate::location::display_path(&path),
                if limit.is_some() { " within --limit" } else { "" }
            ))
            .hint("`opsctl inventory --env ENV --graph` lists the groups (the stack's plays use `web`)"));
        }
        let vars = loaded.with_role_defaults()?.vars;
        let mut specs = Vec::new();
        let mut roots = Vec::new();
        for h in &names {
            specs.push(connection_spec(
                &loaded.vars,
                h,
                loaded.target.ssh_config.as_deref(),
            )?);
            let r = string_var(&vars, h, "app_root")?.ok_or_else(|| {
                Error::new(format!("host {h}: app_root is not set"))
                    .hint("set app_root in the environment's group_vars/web.yml")
            })?;
            if !r.starts_with('/') || r.trim_end_matches('/').is_empty() {
                return Err(Error::new(format!(
                    "host {h}: app_root = {r} is not an absolute directory"
                ))
                .hint(format!(
                    "`opsctl vars --env ENV {h} app_root` shows where it is set"
                )));
            }
            roots.push(r.trim_end_matches('/').to_string());
        }
        Ok(Hosts {
            loaded,
            names,
            specs,
            roots,
            vars,
            conns: Connections::new(),
            root,
            limit: limit.map(str::to_string),
            forks: crate::engine::DEFAULT_FORKS,
            strict: false,
        })
    }

    /// `--strict`: refuses now, before any host is touched, a playbook of the
    /// command that uses what opsctl does not implement.
    pub fn refuse_unimplemented(&mut self, playbook: &str) -> Result<()> {
        self.strict = true;
        let path = self.root.join("playbooks").join(format!("{playbook}.yml"));
        crate::playbook::load_playbook(&path, Some(&self.root))
            .and_then(|b| b.strict())
            .map(|_| ())
            .map_err(|e| e.to_error())
    }

    /// A host variable as a string (inventory, group_vars, -e; else the roles' defaults).
    pub fn var(&self, i: usize, name: &str) -> Result<Option<String>> {
        string_var(&self.vars, &self.names[i], name)
    }

    /// A host variable as JSON (`Null`: unset), templates resolved.
    pub fn json_var(&self, i: usize, name: &str) -> Result<Json> {
        match self.vars.resolve(&self.names[i], name) {
            Ok(v) => Ok(v),
            Err(VarsError::Undefined { .. }) => Ok(Json::Null),
            Err(e) => Err(Error::new(format!("host {}: {name}: {e}", self.names[i]))),
        }
    }

    /// A variable of any host of the inventory (not only these), as a string.
    pub fn host_var(&self, host: &str, name: &str) -> Result<Option<String>> {
        string_var(&self.vars, host, name)
    }

    /// The same variable on every host, or an error naming two that differ.
    pub fn same_var(&self, name: &str) -> Result<Option<String>> {
        let first = self.var(0, name)?;
        for i in 1..self.names.len() {
            let v = self.var(i, name)?;
            if v != first {
                return Err(Error::new(format!(
                    "hosts disagree on {name}: {} has {}, {} has {}",
                    self.names[0],
                    first.as_deref().unwrap_or("(unset)"),
                    self.names[i],
                    v.as_deref().unwrap_or("(unset)")
                ))
                .hint("one deploy puts one commit on every host: set it once, in group_vars"));
            }
        }
        Ok(first)
    }

    /// Runs `playbooks/<name>.yml` on these hosts (within `--limit`) with `extra`
    /// as variables of the highest precedence, on the same connections.
    pub async fn run_playbook(
        &self,
        name: &str,
        extra: Json,
        (check, diff): (bool, bool),
        printer: &Printer,
    ) -> Result<Exit> {
        self.run_playbook_with(name, extra, (check, diff), self.limit.clone(), printer)
            .await
    }

    /// Runs `playbooks/<name>.yml` as [`Hosts::run_playbook`] does, on the
    /// hosts `only` (indices of `names`) alone.
    pub async fn run_playbook_on(
        &self,
        name: &str,
        extra: Json,
        only: &[usize],
        printer: &Printer,
    ) -> Result<Exit> {
        let limit = only
            .iter()
            .map(|i| self.names[*i].as_str())
            .collect::<Vec<_>>()
            .join(",");
        self.run_playbook_with(name, extra, (false, false), Some(limit), printer)
            .await
    }

    async fn run_playbook_with(
        &self,
        name: &str,
        extra: Json,
        (check, diff): (bool, bool),
        limit: Option<String>,
        printer: &Printer,
    ) -> Result<Exit> {
        let loaded = self.loaded.with_extra(extra, &format!("opsctl {name}"));
        let opts = Options {
            check,
            diff,
            forks: self.forks,
            limit,
            strict: self.strict,
            ..Options::default()
        };
        let path = self.root.join("playbooks").join(format!("{name}.yml"));
        crate::engine::run_file(&loaded, &path, &opts, self.conns.clone(), printer).await
    }

    /// Where host `i` keeps its preview environments: `preview_root`, else
    /// `<app_root>-previews` (docs/previews.md).
    pub fn preview_root(&self, i: usize) -> Result<String> {
        let root = match self.var(i, "preview_root")? {
            Some(r) if !r.trim().is_empty() => r.trim().trim_end_matches('/').to_string(),
            _ => format!("{}-previews", self.roots[i]),
        };
        if !root.starts_with('/') || root == self.roots[i] || root.contains(char::is_whitespace) {
            return Err(Error::new(format!(
                "host {}: preview_root = {root} must be an absolute directory (without blanks) other than app_root",
                self.names[i]
            )));
        }
        Ok(root)
    }

    pub async fn run(&self, i: usize, script: String) -> Result<crate::transport::Output> {
        self.send(i, RemoteCommand::new(script)).await
    }

    /// Runs `script` on host `i` as root: directly when the login user is root,
    /// else through `sudo -n` (the script on stdin, [`remote::AS_ROOT`]).
    pub async fn run_root(&self, i: usize, script: String) -> Result<crate::transport::Output> {
        let cmd = RemoteCommand {
            script: remote::AS_ROOT.into(),
            stdin: Some(script.into_bytes()),
            ..Default::default()
        };
        self.send(i, cmd).await
    }

    async fn send(&self, i: usize, cmd: RemoteCommand) -> Result<crate::transport::Output> {
        let conn = self
            .conns
            .get(&self.specs[i])
            .await
            .map_err(transport_error)?;
        conn.run(&cmd).await.map_err(transport_error)
    }

    /// Takes the lock on every host, one after the other in inventory order (so
    /// of two concurrent takers exactly one gets them all). A lock whose holder
    /// is provably dead (this machine, its process gone) is taken over, saying
    /// what it was doing. On a refusal, what was taken is released and the error
    /// names the holder. Per host: the answer, and the holder this command took
    /// the lock from (dead, or removed by `--force-unlock`), whose work may be
    /// unfinished ([`finish`]).
    pub async fn lock(
        &self,
        holder: &LockRecord,
        force: bool,
        printer: &Printer,
    ) -> Result<Vec<(LockAnswer, Option<LockRecord>)>> {
        let here = Controller::here();
        let mut answers = Vec::new();
        for i in 0..self.names.len() {
            let host = &self.names[i];
            let take = if force { Take::Force } else { Take::Free };
            let mut answer = self.take(i, holder, take).await;
            let mut previous = None;
            if let Ok(LockAnswer::Held(Some(who))) = &answer
                && let HolderState::Dead(why) = holder_state(who, &here, process_start)
            {
                printer.warn(&format!(
                    "{host}: stale deploy lock: {}; {why}. Taking it over",
                    who.doing()
                ));
                previous = Some(who.clone());
                answer = self.take(i, holder, Take::Stale(&who.token)).await;
            }
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    self.unlock(holder, i).await;
                    return Err(e);
                }
            };
            match answer {
                LockAnswer::Held(who) => {
                    self.unlock(holder, i).await;
                    let (what, state) = match who {
                        Some(w) => {
                            let state = match holder_state(&w, &here, process_start) {
                                HolderState::Alive => {
                                    format!("its process {} runs on this machine", w.pid)
                                }
                                HolderState::Dead(why) | HolderState::Unknown(why) => why,
                            };
                            (w.describe(host), state)
                        }
                        None => (
                            format!("a deploy lock is being taken on {host} by another command"),
                            "another command is taking it".into(),
                        ),
                    };
                    return Err(Error::new(format!("{what}; wait or `--force-unlock`"))
                        .hint(format!("the lock is {}/.deploy.lock on {host} ({state}); --force-unlock only if that command is gone", self.roots[i])));
                }
                a @ LockAnswer::Taken { .. } => {
                    if let LockAnswer::Taken {
                        forced: Some(f), ..
                    } = &a
                    {
                        let who = serde_json::from_str::<LockRecord>(f).ok();
                        printer.warn(&format!(
                            "--force-unlock: removed the lock of {}",
                            who.as_ref()
                                .map(|w| w.describe(host))
                                .unwrap_or_else(|| format!("a lock on {host}"))
                        ));
                        previous = who;
                    }
                    answers.push((a, previous));
                }
            }
        }
        Ok(answers)
    }

    /// Runs the lock script on host `i`; an answer that is not one is an error.
    async fn take(&self, i: usize, holder: &LockRecord, take: Take<'_>) -> Result<LockAnswer> {
        let out = self
            .run(i, remote::lock_script(&self.roots[i], holder, take))
            .await?;
        match remote::parse_lock(&out.stdout_str()) {
            Some(a) => Ok(a),
            None => Err(Error::new(format!(
                "host {}: cannot take the deploy lock in {} (exit {}): {}",
                self.names[i],
                self.roots[i],
                out.rc.map(|c| c.to_string()).unwrap_or_else(|| "signal".into()),
                out.stderr_str().trim()
            ))
            .hint("the login user needs to create app_root: set ansible_become: true, or run `opsctl provision` first")
            .exit(Exit::Failed)),
        }
    }

    /// Releases this command's lock on the first `n` hosts (best effort).
    pub async fn unlock(&self, holder: &LockRecord, n: usize) {
        for i in 0..n.min(self.names.len()) {
            let _ = self
                .run(i, remote::unlock_script(&self.roots[i], &holder.token))
                .await;
        }
    }

    pub async fn status(&self, i: usize) -> Result<Status> {
        let out = self.run(i, remote::status_script(&self.roots[i])).await?;
        remote::parse_status(&out.stdout_str()).ok_or_else(|| {
            Error::new(format!(
                "host {}: cannot read the releases in {} (exit {}): {}",
                self.names[i],
                self.roots[i],
                out.rc
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into()),
                out.stderr_str().trim()
            ))
            .exit(Exit::Failed)
        })
    }
}

fn transport_error(e: crate::transport::TransportError) -> Error {
    let exit = match e {
        crate::transport::TransportError::Interrupted { .. } => Exit::Interrupted,
        _ => Exit::Unreachable,
    };
    Error::new(format!("host {}: {e}", e.host()))
        .maybe_hint(e.hint())
        .exit(exit)
}

/// A variable of `host` as a string (`None`: unset or null). A role default that
/// cannot be resolved before the playbook runs (it needs facts) is an error
/// saying to set the variable in group_vars.
fn string_var(vars: &Arc<Vars>, host: &str, name: &str) -> Result<Option<String>> {
    let v = match vars.resolve(host, name) {
        Ok(v) => Some(v),
        Err(VarsError::Undefined { .. }) => None,
        Err(e)
            if vars.stack(host).and_then(|s| s.get(name)).map(|d| d.layer)
                == Some(Layer::RoleDefaults) =>
        {
            return Err(Error::new(format!(
                "host {host}: {name} is only set by a role default that opsctl cannot resolve before the playbook runs: {e}"
            ))
            .hint(format!("set {name} in the environment's group_vars (opsctl reads it before the playbook runs)")));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(v.filter(|v| !v.is_null()).map(|v| match v {
        Json::String(s) => s,
        other => other.to_string(),
    }))
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `user@machine` of whoever runs opsctl.
pub fn controller_user() -> String {
    let user = ["OPSCTL_DEPLOY_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| format!("uid{}", rustix::process::getuid().as_raw()));
    if user.contains('@') {
        return user;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}

pub fn holder(action: &str, git_ref: &str) -> LockRecord {
    crate::deploy::lock::record_here(controller_user(), d::iso_time(now()), git_ref, action)
}

/// Finishes what a dead command left undone: on each host whose live release
/// nothing vouches for ([`d::unfinished`]: not logged `ok`, or switched by a
/// command whose lock was taken over), `playbooks/recover.yml` health-checks it
/// and logs it `ok`, or switches back to the newest good release and logs it
/// `bad` (step health). Says which, per host. Then a compose app's stacks left
/// running besides the live one are removed ([`super::strays`]). Returns every
/// host's status as it is afterwards.
pub async fn finish(
    hosts: &Hosts,
    previous: &[Option<LockRecord>],
    printer: &Printer,
) -> Result<Vec<Status>> {
    if previous.iter().any(Option::is_some) {
        // A maintenance page a deploy turned on goes with that deploy.
        super::maintenance::leave_saying(
            hosts,
            "deploy",
            "the deploy that turned it on no longer runs",
            printer,
        )
        .await;
    }
    let mut statuses = Vec::new();
    let mut targets = serde_json::Map::new();
    let me = controller_user();
    for i in 0..hosts.names.len() {
        let st = hosts.status(i).await?;
        let dead = previous.get(i).and_then(Option::as_ref);
        let releases = d::releases(&st.records, &st.present, st.current.as_deref());
        if let Some(u) = d::unfinished(&releases, dead.is_some()) {
            let host = &hosts.names[i];
            let known = releases
                .iter()
                .find(|r| r.id == u.id)
                .and_then(|r| r.deployed.clone());
            let by_dead = dead.filter(|h| h.release == u.id);
            let (git_ref, user, time) = match (by_dead, &known) {
                (Some(h), _) => (h.git_ref.clone(), h.user.clone(), h.time.clone()),
                (None, Some(k)) => (k.git_ref.clone(), k.user.clone(), k.time.clone()),
                (None, None) => ("unknown".into(), me.clone(), d::iso_time(now())),
            };
            let why = match dead {
                Some(h) if h.release == u.id => {
                    format!("its deploy, pid {}, no longer holds the lock", h.pid)
                }
                Some(h) => format!("the lock of the {} was taken over", h.doing()),
                None => "it is live but not logged ok".into(),
            };
            let back_commit = u
                .back
                .as_ref()
                .and_then(|b| releases.iter().find(|r| &r.id == b))
                .and_then(|r| r.deployed.as_ref().map(|x| x.commit.clone()))
                .unwrap_or_default();
            printer.warn(&format!(
                "{host}: release {} is live but was never confirmed ({why}): health-checking it",
                u.id
            ));
            targets.insert(
                host.clone(),
                json!({
                    "id": u.id,
                    "commit": st.live_commit.clone().unwrap_or_default(),
                    "ref": git_ref,
                    "user": user,
                    "time": time,
                    "log": u.log,
                    "back": u.back.clone().unwrap_or_default(),
                    "back_commit": back_commit,
                    "note": format!("health-checked by {me} after {why}"),
                }),
            );
        }
        statuses.push(st);
    }
    if targets.is_empty() {
        super::strays::remove(hosts, printer).await;
        return Ok(statuses);
    }
    let extra = json!({"recover_targets": targets});
    let exit = hosts
        .run_playbook("recover", extra, (false, false), printer)
        .await?;
    for (i, status) in statuses.iter_mut().enumerate() {
        let Some(t) = targets.get(&hosts.names[i]) else {
            continue;
        };
        let st = hosts.status(i).await?;
        let id = t["id"].as_str().unwrap_or_default();
        let last = st
            .records
            .iter()
            .rev()
            .find(|r| r.id == id)
            .map(|r| r.result);
        let host = &hosts.names[i];
        let said = match (last, st.current.as_deref()) {
            (Some(Outcome::Ok), Some(c)) if c == id => format!(
                "{host}: release {id} passes its health checks: {}",
                if t["log"] == true {
                    "logged ok"
                } else {
                    "it stays live"
                }
            ),
            (Some(Outcome::Bad), Some(c)) => format!(
                "{host}: release {id} fails its health checks: switched back to {c} (release {id} logged bad)"
            ),
            (Some(Outcome::Bad), None) => format!(
                "{host}: release {id} fails its health checks and no good release is left to go back to: the programs are stopped (release {id} logged bad)"
            ),
            _ => format!(
                "{host}: release {id} could not be confirmed (live: {})",
                st.current.as_deref().unwrap_or("none")
            ),
        };
        printer.result(&said);
        *status = st;
    }
    // Once the live stack is settled: what the dead command left running besides it.
    super::strays::remove(hosts, printer).await;
    if exit != Exit::Success {
        return Err(
            Error::new("finishing the work of the command that died failed")
                .hint("see the failed task above; `opsctl releases --env ENV` shows what is live")
                .exit(exit),
        );
    }
    Ok(statuses)
}
