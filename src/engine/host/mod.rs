//! One host's run of a play: facts, then each task (when, loop, module, register,
//! notify, block/rescue/always, includes), then handlers.
//!
//! Handlers that were notified but could not run because the host failed are
//! written to the host (`/var/lib/opsctl/pending-handlers`) and fired by the next
//! run of a play that has them, so a changed config is never left un-reloaded.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use minijinja::Value;
use serde_json::{Map, Value as Json, json};

use super::report::{Status, TaskReport};
use super::{Engine, facts, tags_match};
use crate::location::Location;
use crate::modules::fail::Fail;
use crate::modules::{HostEnv, Outcome};
use crate::playbook::{Action, Play, Task, VarEntry};
use crate::runner::{as_bool, connection_spec};
use crate::transport::{Connection, ConnectionKind, ConnectionSpec, RemoteCommand};
use crate::vars::{Definition, Layer, Origin, Scope};

mod handlers;
mod includes;
mod item;
mod read_ahead;
mod start;

/// How a list of tasks ended on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// A task failed (not rescued): the host stops.
    Failed,
    Unreachable,
    /// meta: end_host / end_play, or any_errors_fatal.
    End,
}

struct HostRun<'e, 'a> {
    eng: &'e Engine<'a>,
    /// The roles `meta: end_role` ended for this host: their later tasks
    /// are not run.
    ended_roles: Vec<Arc<crate::playbook::Role>>,
    /// The run's variables as this play started (over the inventory as
    /// add_host and group_by grew it).
    vars: Arc<crate::vars::Vars>,
    play: &'e Play,
    host: String,
    spec: ConnectionSpec,
    /// The login user comes from the host's variables (`ansible_user`), which
    /// win over the `remote_user` keyword, as in Ansible.
    user_from_vars: bool,
    conn: Option<Arc<Connection>>,
    /// Facts, play vars, vars_files, registered results, set_fact...
    scope: Scope,
    /// Notified handler names / listen topics, in order.
    notified: Vec<String>,
    /// Handlers from include_role, beyond the play's.
    extra_handlers: Vec<Task>,
    /// --start-at-task: true once the named task was reached.
    started: bool,
    /// The host's pending-handlers file named handlers of this play.
    had_pending: bool,
    /// The pending-handlers file is not read yet (a play without facts reads
    /// it with its first gather exec: see `handlers::ensure_pending`).
    pending_unread: bool,
    /// Facts of protocol modules, read ahead or gathered (see `gather`).
    facts: super::gather::FactCache,
    /// The last task changed the host: the next ones likely change it too, and a
    /// read-ahead would mostly be thrown away.
    last_changed: bool,
    /// Pending handlers of other plays, written back untouched.
    foreign_pending: Vec<String>,
}

/// The host's connection settings are wrong: reported, the host fails.
fn settings_failed(eng: &Engine<'_>, play: &Play, host: &str, msg: &str) -> bool {
    report_simple(
        eng,
        host,
        "connection settings",
        &play.location,
        Status::Failed,
        msg,
    );
    false
}

/// Runs the play on one host; false when the host failed or was unreachable.
pub async fn run_play(eng: &Engine<'_>, play: &Play, host: &str) -> bool {
    let vars = eng.vars();
    let spec = match connection_spec(&vars, host, eng.loaded.target.ssh_config.as_deref()) {
        Ok(s) => s,
        Err(e) => return settings_failed(eng, play, host, &e.message),
    };
    // What the host kept from earlier plays (facts, set_fact, register...).
    let mut scope = Scope::new();
    for k in eng.kept(host) {
        scope.set(k.name, k.def);
    }
    let mut run = HostRun {
        eng,
        vars,
        play,
        host: host.to_string(),
        user_from_vars: spec.user.is_some(),
        spec,
        conn: None,
        scope,
        notified: Vec::new(),
        extra_handlers: Vec::new(),
        started: eng.opts.start_at_task.is_none(),
        had_pending: false,
        pending_unread: false,
        foreign_pending: Vec::new(),
        ended_roles: Vec::new(),
        facts: Default::default(),
        last_changed: false,
    };
    // The play's remote_user, for a host whose inventory names no user
    // (connection variables win over play keywords, as in Ansible).
    if run.spec.user.is_none()
        && let Some(u) = &play.remote_user
    {
        run.spec.user = Some(if crate::template::is_template(u) {
            let ctx = run.context(None, &[]);
            match run.vars().templar.render_str(u, &ctx, Some(&play.location)) {
                Ok(s) => s,
                Err(e) => return settings_failed(eng, play, host, &format!("remote_user: {e}")),
            }
        } else {
            u.clone()
        });
    }
    eng.reporter.busy(host, Some("connecting"));
    let ok = run_play_inner(&mut run).await;
    eng.reporter.busy(host, None);
    ok
}

async fn run_play_inner(run: &mut HostRun<'_, '_>) -> bool {
    let play = run.play;
    if run.start().await != Flow::Continue {
        return false;
    }
    let mut flow = Flow::Continue;
    for (i, section) in [&play.pre_tasks, &play.tasks, &play.post_tasks]
        .into_iter()
        .enumerate()
    {
        if flow != Flow::Continue {
            break;
        }
        flow = run.tasks(section, &[], &[]).await;
        if flow == Flow::Continue {
            // pending handlers not read yet wait for the first gather exec,
            // at the latest for the end of the play
            flow = run.flush_handlers(i == 2).await;
        }
    }
    match flow {
        Flow::Continue | Flow::End => {
            run.save_pending().await;
            true
        }
        Flow::Failed => {
            run.save_pending().await;
            false
        }
        Flow::Unreachable => false,
    }
}

impl<'e, 'a> HostRun<'e, 'a> {
    fn vars(&self) -> &Arc<crate::vars::Vars> {
        &self.vars
    }

    fn all_handlers(&self) -> Vec<&Task> {
        self.play
            .handlers
            .iter()
            .chain(self.extra_handlers.iter())
            .collect()
    }

    /// The template context for a task: the host's variables, the run's scope, and
    /// the task's role defaults/vars/params, enclosing block vars and its own vars.
    fn context(&self, task: Option<&Task>, block_vars: &[VarEntry]) -> Value {
        match task {
            Some(t) => self.with_scope(t, block_vars, Scope::new()),
            None => self
                .vars()
                .scoped_context(&self.host, Arc::new(self.scope.clone())),
        }
    }

    fn truthy(&self, v: &Json, loc: &Location) -> Result<bool, String> {
        match v {
            Json::String(s) if crate::template::is_template(s) => {
                let ctx = self.context(None, &[]);
                let r = self
                    .vars()
                    .templar
                    .template_value(s, &ctx, Some(loc))
                    .map_err(|e| e.to_string())?;
                Ok(r.is_true())
            }
            other => as_bool(other).ok_or_else(|| format!("{other} is not a boolean")),
        }
    }

    /// A command of the play itself (facts, pending handlers), as the play's
    /// become user.
    fn play_command(&self, script: String, stdin: Option<Vec<u8>>) -> RemoteCommand {
        let become_user = self.become_user(None);
        RemoteCommand {
            script,
            stdin,
            no_become: become_user.is_none(),
            become_user,
        }
    }

    /// The user to become for a task: the task's become, else the play's, else the
    /// connection's (ansible_become).
    fn become_user(&self, task: Option<&Task>) -> Option<String> {
        let t_become = task.and_then(|t| t.become_.as_ref());
        let on = match t_become.or(self.play.become_.as_ref()) {
            Some(v) => as_bool(v).unwrap_or(false),
            None => return self.spec.become_user.clone(),
        };
        if !on {
            return None;
        }
        let user = task
            .and_then(|t| t.become_user.clone())
            .or_else(|| self.play.become_user.clone());
        let user = user
            .or_else(|| self.spec.become_user.clone())
            .unwrap_or_else(|| "root".into());
        // `become_user: "{{ app_user }}"`: templated for this host (and task).
        if crate::template::is_template(&user) {
            let ctx = self.context(task, &[]);
            let loc = task.map_or(&self.play.location, |t| &t.location);
            if let Ok(u) = self.vars().templar.render_str(&user, &ctx, Some(loc)) {
                return Some(u);
            }
        }
        Some(user)
    }

    /// Runs a list of tasks; stops at the first failure (the caller handles rescue).
    async fn tasks(
        &mut self,
        tasks: &[Task],
        block_vars: &[VarEntry],
        inherited_when: &[String],
    ) -> Flow {
        for (i, task) in tasks.iter().enumerate() {
            if self.eng.aborted() {
                return Flow::End;
            }
            if let Some(why) = self.eng.ended() {
                self.eng.reporter.ended(&self.host, &why);
                return Flow::End;
            }
            if self.facts.is_empty() {
                self.read_ahead(&tasks[i..], block_vars, inherited_when)
                    .await;
            }
            let flow = Box::pin(self.task(task, block_vars, inherited_when)).await;
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    }

    async fn task(
        &mut self,
        task: &Task,
        block_vars: &[VarEntry],
        inherited_when: &[String],
    ) -> Flow {
        let opts = self.eng.opts;
        // What add_host and group_by added (by any host of this play so
        // far) is seen by the next task, as in Ansible: groups['new'],
        // hostvars['added'].
        if self.eng.regrow().is_ok() {
            let now = self.eng.vars();
            if !Arc::ptr_eq(&now, &self.vars) {
                self.vars = now;
            }
        }
        if let Some(role) = &task.role
            && self.ended_roles.iter().any(|r| Arc::ptr_eq(r, role))
        {
            return Flow::Continue;
        }
        if !matches!(task.action, Action::Block { .. }) {
            if !tags_match(&task.tags, &opts.tags, &opts.skip_tags) {
                return Flow::Continue;
            }
            if !self.started {
                if task.name.as_deref() == opts.start_at_task.as_deref() {
                    self.started = true;
                } else {
                    return Flow::Continue;
                }
            }
        }
        let name = task.display_name();
        let started = Instant::now();
        let mut when: Vec<String> = inherited_when.to_vec();
        match &task.action {
            Action::Block {
                block,
                rescue,
                always,
            } => {
                let mut vars = block_vars.to_vec();
                vars.extend(task.vars.iter().cloned());
                when.extend(task.when.iter().cloned());
                let mut flow = self.tasks(block, &vars, &when).await;
                if flow == Flow::Failed && !rescue.is_empty() {
                    self.eng.reporter.rescued(&self.host);
                    flow = self.tasks(rescue, &vars, &when).await;
                }
                if !always.is_empty() && flow != Flow::Unreachable {
                    let after = self.tasks(always, &vars, &when).await;
                    if flow == Flow::Continue {
                        flow = after;
                    }
                }
                return flow;
            }
            Action::FlushHandlers => return self.flush_handlers(true).await,
            Action::Noop => return Flow::Continue,
            _ => {}
        }
        when.extend(task.when.iter().cloned());
        // include_* and meta: decided per host, loaded now.
        if let Action::IncludeTasks { .. }
        | Action::IncludeRole { .. }
        | Action::EndHost
        | Action::EndRole
        | Action::EndPlay
        | Action::EndBatch
        | Action::ClearFacts
        | Action::ClearHostErrors
        | Action::RefreshInventory
        | Action::ResetConnection
        | Action::Unimplemented { .. }
        | Action::Invalid { .. } = &task.action
        {
            if let (Some(l), Action::IncludeTasks { .. } | Action::IncludeRole { .. }) =
                (&task.loop_, &task.action)
            {
                return self.include_loop(task, l, block_vars, &when).await;
            }
            let ctx = self.context(Some(task), block_vars);
            let unimplemented = match &task.action {
                Action::Unimplemented { name, .. } => Some(format!(
                    "opsctl does not implement {name} ({})",
                    task.location
                )),
                Action::Invalid { def, message } => {
                    Some(format!("{}: {message} ({})", def.spec.name, task.location))
                }
                _ => None,
            };
            match self.eval_when(&when, &ctx, &task.location) {
                Ok(false) => {
                    self.skipped(task, started, false);
                    return Flow::Continue;
                }
                // A condition that cannot be evaluated (a loop item's, say) does
                // not hide why the task cannot run.
                Err(msg) => {
                    return self.task_failed(task, unimplemented.as_ref().unwrap_or(&msg), started);
                }
                Ok(true) => {}
            }
            if let Some(msg) = unimplemented {
                // Reported failed; registered and handled (ignore_errors,
                // any_errors_fatal) as a failed module is.
                self.task_failed(task, &msg, started);
                return self.finish_task(task, Outcome::failed(msg));
            }
            return match &task.action {
                Action::EndHost | Action::EndPlay | Action::EndBatch => self.end(task),
                Action::EndRole => {
                    if let Some(role) = &task.role {
                        self.ended_roles.push(role.clone());
                    }
                    Flow::Continue
                }
                Action::ClearFacts => {
                    for (name, layer) in self.eng.clear_facts(&self.host) {
                        if let Some(defs) = self.scope.defs.get_mut(&name) {
                            defs.retain(|d| d.layer != layer);
                        }
                    }
                    Flow::Continue
                }
                Action::ResetConnection => self.reset_connection(task).await,
                // Once for the play's hosts, as Ansible runs it (the first
                // host to reach it reads the file; the others share the result).
                Action::RefreshInventory => {
                    let cell = self.eng.once_cell(&task.location.to_string());
                    let out = cell
                        .get_or_init(|| match self.eng.refresh_inventory() {
                            Ok(()) => Outcome::ok(),
                            Err(e) => Outcome::failed(format!("meta: refresh_inventory: {e}")),
                        })
                        .clone();
                    if !out.failed {
                        return Flow::Continue;
                    }
                    self.task_failed(task, out.msg.as_deref().unwrap_or_default(), started);
                    self.finish_task(task, out)
                }
                Action::ClearHostErrors => {
                    self.eng
                        .clear_errors
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    Flow::Continue
                }
                Action::IncludeTasks { file, .. } => {
                    self.include_tasks(task, file, block_vars, &ctx).await
                }
                Action::IncludeRole {
                    name: role,
                    tasks_from,
                } => {
                    self.include_role(task, role, tasks_from.as_deref(), block_vars, &ctx)
                        .await
                }
                _ => Flow::Continue,
            };
        }
        self.eng.reporter.busy(&self.host, Some(&name));
        let Action::Module { def: module, args } = &task.action else {
            return Flow::Continue;
        };

        // run_once: the first host runs it; the others take its result.
        let once_key = format!("{}", task.location);
        // add_host bypasses the host loop, as in Ansible: it runs once.
        let run_once = task
            .run_once
            .as_ref()
            .is_some_and(|v| as_bool(v).unwrap_or(false))
            || task.module_name() == Some("add_host");
        if run_once {
            // The batch's first running host runs it; the others wait for its result
            // (or for their turn, if that host stops before reaching the task).
            let cell = self.eng.once_cell(&once_key);
            loop {
                if let Some(out) = cell.get() {
                    return self.finish_task(task, out.clone());
                }
                let wake = self.eng.changed.notified();
                tokio::pin!(wake);
                wake.as_mut().enable();
                if cell.get().is_none() && self.eng.is_first_alive(&self.host) {
                    let out = self
                        .module_task(task, module, args, block_vars, &when)
                        .await;
                    let _ = cell.set(out.clone());
                    self.eng.changed.notify_waiters();
                    return self.finish_task(task, out);
                }
                wake.await;
            }
        }
        // throttle: at most N hosts in the task at once (a permit for its
        // whole run, every loop item included).
        let ctx = self.context(Some(task), block_vars);
        let throttle =
            match self.seconds_keyword("throttle", task.throttle.as_ref(), &ctx, &task.location) {
                Ok(n) => n.filter(|n| *n > 0),
                Err(msg) => return self.task_failed(task, &msg, started),
            };
        let _permit = match throttle {
            Some(n) => Some(self.eng.throttle(&once_key, n).acquire_owned().await),
            None => None,
        };
        let out = self
            .module_task(task, module, args, block_vars, &when)
            .await;
        drop(_permit);
        self.finish_task(task, out)
    }

    /// `meta: reset_connection`: the host's connection closed and opened
    /// again (a new login: new group memberships apply), its facts read anew.
    async fn reset_connection(&mut self, task: &Task) -> Flow {
        self.eng.conns.reset(&self.host).await;
        self.facts.clear();
        match self.connect(&task.display_name(), &task.location).await {
            Some(_) => Flow::Continue,
            None => Flow::Unreachable,
        }
    }

    /// `meta: end_host` ends the play for this host; `end_play` (`end_batch`)
    /// for every host of the play (batch), each stopping before its next task,
    /// as Ansible does; the recap says which meta ended it and where.
    fn end(&self, task: &Task) -> Flow {
        let why = format!("{} at {}", task.display_name(), task.location);
        let why = match &task.action {
            Action::EndPlay => {
                let mut e = self.eng.end_play.lock().unwrap();
                e.get_or_insert(format!("{why} on {}", self.host)).clone()
            }
            Action::EndBatch => {
                let mut e = self.eng.end_batch.lock().unwrap();
                e.get_or_insert(format!("{why} on {}", self.host)).clone()
            }
            _ => why,
        };
        self.eng.reporter.ended(&self.host, &why);
        Flow::End
    }

    /// Applies the outcome of a task on this host: register, facts, notify,
    /// failure handling. Reporting was done per item by `module_task`.
    fn finish_task(&mut self, task: &Task, out: Outcome) -> Flow {
        self.last_changed = out.changed;
        // Facts of the task, or of each item of its loop, in order.
        let layer = match task.module_name() {
            Some("include_vars") => Layer::IncludeVars,
            _ => Layer::SetFact,
        };
        // Facts of a module other than set_fact and include_vars (setup,
        // package_facts...) join `ansible_facts` too.
        let joins_facts = !matches!(task.module_name(), Some("set_fact" | "include_vars"))
            && matches!(task.action, Action::Module { .. });
        for r in item_results(&out) {
            if let Some(Json::Object(f)) = r.get("ansible_facts") {
                if joins_facts {
                    let current = self
                        .scope
                        .defs
                        .get("ansible_facts")
                        .and_then(|d| d.iter().max_by_key(|d| d.layer))
                        .map(|d| d.value.clone())
                        .unwrap_or(Json::Null);
                    let merged = facts::merge_module_facts(&current, f);
                    self.set_kept("ansible_facts", merged, &task.location, Layer::Facts, false);
                }
                let cached = r.get("_ansible_facts_cacheable") == Some(&json!(true));
                for (k, v) in f {
                    self.set_kept(k, v.clone(), &task.location, layer, cached);
                }
            }
        }
        self.grow_inventory(task, &out);
        if let Some(reg) = &task.register {
            let mut data = out.registered();
            // a registered setup/package_facts keeps its facts, as Ansible's
            if matches!(task.module_name(), Some("set_fact" | "include_vars")) {
                data.remove("ansible_facts");
            }
            data.remove("_ansible_facts_cacheable");
            self.set_kept(
                reg,
                Json::Object(data),
                &task.location,
                Layer::SetFact,
                false,
            );
        }
        if out.changed {
            for n in &task.notify {
                if !self.notified.contains(n) {
                    self.notified.push(n.clone());
                }
            }
        }
        if out.unreachable {
            return Flow::Unreachable;
        }
        if out.failed && !task.ignores_errors() {
            if self.play.any_errors_fatal || task.any_errors_fatal == Some(true) {
                self.eng
                    .abort
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
            return Flow::Failed;
        }
        Flow::Continue
    }

    /// What add_host and group_by results (one, or a loop's) add to the run's
    /// inventory.
    fn grow_inventory(&self, task: &Task, out: &Outcome) {
        let results = item_results(out);
        let strings = |v: Option<&Json>| -> Vec<String> {
            v.and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        for r in results {
            if r.get("failed") == Some(&json!(true)) {
                continue;
            }
            if let Some(Json::Object(a)) = r.get("add_host")
                && let Some(name) = a.get("host_name").and_then(Json::as_str)
            {
                let vars = a
                    .get("host_vars")
                    .and_then(Json::as_object)
                    .cloned()
                    .unwrap_or_default();
                self.eng
                    .add_host(name, &strings(a.get("groups")), vars, &task.location);
            }
            if let Some(Json::Object(g)) = r.get("add_group")
                && let (Some(group), Some(host)) = (
                    g.get("group").and_then(Json::as_str),
                    g.get("host").and_then(Json::as_str),
                )
            {
                self.eng
                    .group_by(host, group, &strings(g.get("parent_groups")));
            }
        }
    }

    /// Sets a variable the host keeps for the rest of the run (set_fact,
    /// register, include_vars, facts), in this play's scope and for later plays.
    fn set_kept(&mut self, name: &str, value: Json, loc: &Location, layer: Layer, cached: bool) {
        let d = def(&value, loc, layer);
        self.scope.set(name, d.clone());
        self.eng.keep(
            &self.host,
            super::Kept {
                name: name.to_string(),
                def: d,
                cached,
            },
        );
    }

    fn with_scope(&self, task: &Task, block_vars: &[VarEntry], extra: Scope) -> Value {
        let mut scope = self.scope.clone();
        // As in Ansible (private_role_vars off): every role's defaults are visible
        // to the whole play, a later role's over an earlier one's, the task's own
        // role's over all of them.
        let mut defaults: Vec<&VarEntry> = Vec::new();
        for r in self.play.roles.iter().chain(task.role.iter()) {
            for v in &r.defaults {
                defaults.retain(|d| d.name != v.name);
                defaults.push(v);
            }
        }
        for v in defaults {
            scope.set(&v.name, def(&v.value, &v.location, Layer::RoleDefaults));
        }
        // Ansible's magic variables of where the task comes from (lookup() uses them).
        let magic = |scope: &mut Scope, name: &str, value: String| {
            scope.set(
                name,
                def(&Json::String(value), &task.location, Layer::Magic),
            );
        };
        magic(
            &mut scope,
            "playbook_dir",
            self.eng.playbook_dir.display().to_string(),
        );
        if let Some(role) = &task.role {
            magic(&mut scope, "role_path", role.dir.display().to_string());
            magic(&mut scope, "role_name", role.name.clone());
        }
        if let Some(role) = &task.role {
            for v in &role.vars {
                scope.set(&v.name, def(&v.value, &v.location, Layer::RoleVars));
            }
            for v in &role.params {
                scope.set(&v.name, def(&v.value, &v.location, Layer::RoleParams));
            }
        }
        for v in block_vars {
            scope.set(&v.name, def(&v.value, &v.location, Layer::BlockVars));
        }
        for v in &task.vars {
            scope.set(&v.name, def(&v.value, &v.location, Layer::TaskVars));
        }
        for (k, defs) in extra.defs {
            for d in defs {
                scope.set(k.clone(), d);
            }
        }
        self.vars().scoped_context(&self.host, Arc::new(scope))
    }

    /// Reports a task that failed before or around its module, and stops the host
    /// (unless the task ignores errors).
    fn task_failed(&self, task: &Task, msg: &str, started: Instant) -> Flow {
        let name = task.display_name();
        self.report(
            &name,
            task,
            &task.location,
            Status::Failed,
            Some(msg),
            &[],
            started,
            false,
            task.ignores_errors(),
            &[],
        );
        if task.ignores_errors() {
            Flow::Continue
        } else {
            Flow::Failed
        }
    }

    /// A number of seconds (or hosts) keyword (timeout, throttle): a literal or
    /// a template; `Err` when it is not a whole number.
    fn seconds_keyword(
        &self,
        name: &str,
        v: Option<&Json>,
        ctx: &Value,
        loc: &Location,
    ) -> Result<Option<u64>, String> {
        let Some(v) = v else { return Ok(None) };
        match self.template_json(v, ctx, loc)? {
            Json::Number(n) if n.as_u64().is_some() => Ok(n.as_u64()),
            Json::String(s) if s.trim().parse::<u64>().is_ok() => Ok(s.trim().parse().ok()),
            other => Err(format!("{name}: {other} is not a whole number")),
        }
    }

    /// A number keyword (retries, delay): a literal or a template.
    fn number(&self, v: Option<&Json>, ctx: &Value, loc: &Location) -> Option<u64> {
        match self.template_json(v?, ctx, loc).ok()? {
            Json::Number(n) => n.as_u64(),
            Json::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Every `when` condition (ANDed) against the context.
    fn eval_when(&self, when: &[String], ctx: &Value, loc: &Location) -> Result<bool, String> {
        self.eval_condition("when", when, ctx, loc)
    }

    /// Evaluates the conditions of `keyword` (when, changed_when, failed_when,
    /// until): all must hold. An error names the keyword and the condition.
    fn eval_condition(
        &self,
        keyword: &str,
        when: &[String],
        ctx: &Value,
        loc: &Location,
    ) -> Result<bool, String> {
        for w in when {
            let v = self
                .vars()
                .templar
                .eval_expr(w, ctx, Some(loc))
                .map_err(|e| format!("{keyword}: {w}: {e}"))?;
            if !v.is_true() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Templates every string of a value (Ansible-style: a single expression keeps
    /// its type).
    fn template_json(&self, v: &Json, ctx: &Value, loc: &Location) -> Result<Json, String> {
        Ok(match v {
            Json::String(s) if crate::template::is_template(s) => {
                let r = self
                    .vars()
                    .templar
                    .template_value(s, ctx, Some(loc))
                    .map_err(|e| e.to_string())?;
                crate::vars::to_json(&r)
            }
            Json::Array(a) => Json::Array(
                a.iter()
                    .map(|x| self.template_json(x, ctx, loc))
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), self.template_json(x, ctx, loc)?);
                }
                Json::Object(out)
            }
            other => other.clone(),
        })
    }

    /// The play's and the task's `environment:`, templated.
    fn environment(&self, task: &Task, ctx: &Value) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = Vec::new();
        for e in [&self.play.environment, &task.environment]
            .into_iter()
            .flatten()
        {
            match self.template_json(e, ctx, &task.location)? {
                Json::Object(m) => {
                    for (k, v) in m {
                        if !crate::vars::is_identifier(&k) {
                            return Err(format!("environment: '{k}' is not a valid variable name"));
                        }
                        let v = match v {
                            Json::String(s) => s,
                            other => other.to_string(),
                        };
                        out.retain(|(x, _)| x != &k);
                        out.push((k, v));
                    }
                }
                Json::Null => {}
                other => return Err(format!("environment must be a mapping, got {other}")),
            }
        }
        Ok(out)
    }

    /// Where a module's relative `src` is looked up: the role's files/ or
    /// templates/, the role dir, then the playbook's files/, templates/ and dir.
    fn search_path(&self, task: &Task, module: &str) -> Vec<PathBuf> {
        let sub = match module {
            "template" => "templates",
            "include_vars" => "vars",
            _ => "files",
        };
        let mut v = Vec::new();
        if let Some(role) = &task.role {
            v.push(role.dir.join(sub));
            v.push(role.dir.clone());
        }
        if let Some(dir) = task.location.file.parent() {
            v.push(dir.join(sub));
            v.push(dir.to_path_buf());
        }
        v.push(self.eng.playbook_dir.join(sub));
        v.push(self.eng.playbook_dir.clone());
        if let Some(p) = &self.eng.loaded.target.project {
            v.push(p.root.join(sub));
        }
        v.dedup();
        v
    }

    /// Reports a task (or loop item, with `.with_item`) that `when` skipped.
    fn skipped(&self, task: &Task, started: Instant, no_log: bool) -> Pending<'_> {
        self.report(
            &task.display_name(),
            task,
            &task.location,
            Status::Skipped,
            None,
            &[],
            started,
            no_log,
            false,
            &[],
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        name: &str,
        task: impl TaskLike,
        loc: &Location,
        status: Status,
        msg: Option<&str>,
        diffs: &[crate::modules::Diff],
        started: Instant,
        no_log: bool,
        ignored: bool,
        trace: &[(String, crate::transport::Output)],
    ) -> Pending<'_> {
        Pending {
            reporter: self.eng.reporter,
            host: self.host.clone(),
            task: name.to_string(),
            role: task.role_name(),
            location: loc.clone(),
            status,
            msg: msg.map(str::to_string),
            diffs: diffs.to_vec(),
            duration_ms: started.elapsed().as_millis(),
            no_log,
            // every kind of task error (template, arguments, module, failed_when)
            // is ignored under ignore_errors, whichever path reported it
            ignored: ignored || (status == Status::Failed && task.ignores_errors()),
            check: self.eng.opts.check,
            print: false,
            trace: trace.to_vec(),
            item: None,
            result: None,
            sent: false,
        }
    }
}

/// A report line, sent when dropped (after an optional item is attached).
struct Pending<'r> {
    reporter: &'r super::Reporter<'r>,
    host: String,
    task: String,
    role: Option<String>,
    location: Location,
    status: Status,
    msg: Option<String>,
    diffs: Vec<crate::modules::Diff>,
    duration_ms: u128,
    no_log: bool,
    ignored: bool,
    check: bool,
    print: bool,
    trace: Vec<(String, crate::transport::Output)>,
    item: Option<String>,
    /// The module's result (as `register` has it), when the reporter shows it.
    result: Option<Json>,
    sent: bool,
}

impl Pending<'_> {
    fn with_item(mut self, item: Option<String>) {
        self.item = item;
    }
    fn with_item_check(mut self, item: Option<String>, check: bool, print: bool) {
        self.item = item;
        self.check = check;
        self.print = print;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.sent {
            return;
        }
        self.sent = true;
        self.reporter.task(&TaskReport {
            host: &self.host,
            task: &self.task,
            role: self.role.as_deref(),
            location: &self.location,
            status: self.status,
            item: self.item.clone(),
            msg: self.msg.as_deref(),
            diffs: &self.diffs,
            duration_ms: self.duration_ms,
            no_log: self.no_log,
            ignored: self.ignored,
            check: self.check,
            print: self.print,
            trace: &self.trace,
            result: self.result.as_ref(),
        });
    }
}

trait TaskLike {
    fn role_name(&self) -> Option<String>;
    /// `ignore_errors: true`: a failure is shown and counted as ignored.
    fn ignores_errors(&self) -> bool;
}
impl TaskLike for &Task {
    fn role_name(&self) -> Option<String> {
        self.role.as_ref().map(|r| r.name.clone())
    }
    fn ignores_errors(&self) -> bool {
        self.ignore_errors
            .as_ref()
            .is_some_and(|v| as_bool(v).unwrap_or(false))
    }
}
impl TaskLike for Option<&Task> {
    fn role_name(&self) -> Option<String> {
        self.and_then(|t| t.role.as_ref().map(|r| r.name.clone()))
    }
    fn ignores_errors(&self) -> bool {
        self.is_some_and(|t| t.ignores_errors())
    }
}

fn report_simple(eng: &Engine, host: &str, task: &str, loc: &Location, status: Status, msg: &str) {
    eng.reporter.task(&TaskReport {
        host,
        task,
        role: None,
        location: loc,
        status,
        item: None,
        msg: Some(msg),
        diffs: &[],
        duration_ms: 0,
        no_log: false,
        ignored: false,
        check: eng.opts.check,
        print: false,
        trace: &[],
        result: None,
    });
}

/// How an outcome shows in the output and the recap.
fn status_of(out: &Outcome) -> Status {
    if out.unreachable {
        Status::Unreachable
    } else if out.failed {
        Status::Failed
    } else if out.skipped {
        Status::Skipped
    } else if out.changed {
        Status::Changed
    } else {
        Status::Ok
    }
}

/// A task's result and, for a loop, each item's result, in order.
fn item_results(out: &Outcome) -> Vec<&Map<String, Json>> {
    let mut results: Vec<&Map<String, Json>> = vec![&out.data];
    if let Some(Json::Array(items)) = out.data.get("results") {
        results.extend(items.iter().filter_map(Json::as_object));
    }
    results
}

fn def(value: &Json, loc: &Location, layer: Layer) -> Definition {
    Definition {
        value: value.clone(),
        origin: Origin::File {
            location: loc.clone(),
        },
        layer,
    }
}
