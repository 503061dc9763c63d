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
use crate::modules::{HostEnv, ModuleError, Outcome};
use crate::playbook::{Action, Play, Task, VarEntry};
use crate::runner::{as_bool, connection_spec};
use crate::transport::{Connection, ConnectionKind, ConnectionSpec, RemoteCommand};
use crate::vars::{Definition, Layer, Origin, Scope};

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
    play: &'e Play,
    host: String,
    spec: ConnectionSpec,
    conn: Option<Arc<Connection>>,
    /// Facts, play vars, vars_files, registered results, set_fact...
    scope: Scope,
    /// Notified handler names / listen topics, in order.
    notified: Vec<String>,
    /// Handlers from include_role, beyond the play's.
    extra_handlers: Vec<Task>,
    /// --start-at-task: true once the named task was reached.
    started: bool,
    /// The host had a pending-handlers file when the run started.
    had_pending: bool,
    /// Facts of protocol modules, read ahead or gathered (see `gather`).
    facts: super::gather::FactCache,
    /// The last task changed the host: the next ones likely change it too, and a
    /// read-ahead would mostly be thrown away.
    last_changed: bool,
    /// Pending handlers of other plays, written back untouched.
    foreign_pending: Vec<String>,
}

/// Runs the play on one host; false when the host failed or was unreachable.
pub async fn run_play(eng: &Engine<'_>, play: &Play, host: &str) -> bool {
    let vars = &eng.loaded.vars;
    let spec = match connection_spec(vars, host, eng.loaded.target.ssh_config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            report_simple(
                eng,
                host,
                "connection settings",
                &play.location,
                Status::Failed,
                &e.message,
            );
            return false;
        }
    };
    let mut run = HostRun {
        eng,
        play,
        host: host.to_string(),
        spec,
        conn: None,
        scope: Scope::new(),
        notified: Vec::new(),
        extra_handlers: Vec::new(),
        started: eng.opts.start_at_task.is_none(),
        had_pending: false,
        foreign_pending: Vec::new(),
        facts: Default::default(),
        last_changed: false,
    };
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
    for section in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
        if flow != Flow::Continue {
            break;
        }
        flow = run.tasks(section, &[], &[]).await;
        if flow == Flow::Continue {
            flow = run.flush_handlers().await;
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
        &self.eng.loaded.vars
    }

    /// Connects, gathers facts and reads pending handlers (one exec), and sets the
    /// play's variables.
    async fn start(&mut self) -> Flow {
        let conn = match self.eng.conns.get(&self.spec).await {
            Ok(c) => c,
            Err(e) => {
                let msg = match e.hint() {
                    Some(h) => format!("{e} (hint: {h})"),
                    None => e.to_string(),
                };
                report_simple(
                    self.eng,
                    &self.host,
                    "connect",
                    &self.play.location,
                    Status::Unreachable,
                    &msg,
                );
                return Flow::Unreachable;
            }
        };
        self.conn = Some(conn.clone());
        // Ansible's magic variables for the run's mode.
        for (name, on) in [
            ("ansible_check_mode", self.eng.opts.check),
            ("ansible_diff_mode", self.eng.opts.diff),
        ] {
            self.scope.set(
                name,
                Definition {
                    value: json!(on),
                    origin: Origin::Builtin {
                        what: "magic variables".into(),
                    },
                    layer: Layer::Facts,
                },
            );
        }
        // Play vars (templated lazily, like every variable).
        for v in &self.play.vars {
            self.scope
                .set(&v.name, def(&v.value, &v.location, Layer::PlayVars));
        }
        let gather = match &self.play.gather_facts {
            None => true,
            Some(v) => self.truthy(v, &self.play.location).unwrap_or(true),
        };
        let become_user = self.become_user(None);
        let cmd = RemoteCommand {
            script: facts::script(gather),
            stdin: None,
            no_become: become_user.is_none(),
            become_user,
        };
        let started = Instant::now();
        match conn.run(&cmd).await {
            Ok(out) if out.success() => {
                let (f, pending) = facts::parse(&out.stdout_str(), gather);
                for (k, v) in f {
                    self.scope.set(
                        k,
                        Definition {
                            value: v,
                            origin: Origin::Builtin {
                                what: "facts".into(),
                            },
                            layer: Layer::Facts,
                        },
                    );
                }
                self.had_pending = !pending.is_empty();
                let handlers = self.all_handlers();
                let (ours, theirs): (Vec<String>, Vec<String>) = pending
                    .into_iter()
                    .partition(|name| handlers.iter().any(|h| handler_matches(h, name)));
                self.notified.extend(ours);
                self.foreign_pending = theirs;
                if gather {
                    let loc = self.play.location.clone();
                    self.report(
                        "Gathering Facts",
                        None,
                        &loc,
                        Status::Ok,
                        None,
                        &[],
                        started,
                        false,
                        false,
                        &[],
                    );
                }
            }
            Ok(out) => {
                let msg = format!(
                    "gathering facts failed (exit {:?}): {}",
                    out.rc,
                    out.stderr_str().trim()
                );
                report_simple(
                    self.eng,
                    &self.host,
                    "Gathering Facts",
                    &self.play.location,
                    Status::Failed,
                    &msg,
                );
                return Flow::Failed;
            }
            Err(e) => {
                let status = if matches!(e, crate::transport::TransportError::Disconnected { .. }) {
                    Status::Unreachable
                } else {
                    Status::Failed
                };
                let msg = match e.hint() {
                    Some(h) => format!("{e} (hint: {h})"),
                    None => e.to_string(),
                };
                report_simple(
                    self.eng,
                    &self.host,
                    "Gathering Facts",
                    &self.play.location,
                    status,
                    &msg,
                );
                return if status == Status::Unreachable {
                    Flow::Unreachable
                } else {
                    Flow::Failed
                };
            }
        }
        // vars_files: read now (their paths may use variables), at their layer.
        for (path, loc) in &self.play.vars_files {
            let ctx = self.context(None, &[]);
            let p = match self
                .eng
                .loaded
                .vars
                .templar
                .render_str(path, &ctx, Some(loc))
            {
                Ok(p) => p,
                Err(e) => {
                    report_simple(
                        self.eng,
                        &self.host,
                        "vars_files",
                        loc,
                        Status::Failed,
                        &e.to_string(),
                    );
                    return Flow::Failed;
                }
            };
            let full = if Path::new(&p).is_absolute() {
                PathBuf::from(&p)
            } else {
                self.eng.playbook_dir.join(&p)
            };
            let vars = crate::yaml::parse_file(&full).and_then(|n| n.to_var_map(&full));
            match vars {
                Ok(m) => {
                    for (k, (v, l)) in m {
                        self.scope.set(k, def(&v, &l, Layer::PlayVarsFiles));
                    }
                }
                Err(e) => {
                    report_simple(
                        self.eng,
                        &self.host,
                        "vars_files",
                        loc,
                        Status::Failed,
                        &e.to_string(),
                    );
                    return Flow::Failed;
                }
            }
        }
        Flow::Continue
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
            Action::FlushHandlers => return self.flush_handlers().await,
            Action::Noop => return Flow::Continue,
            _ => {}
        }
        when.extend(task.when.iter().cloned());
        // include_*: decided per host, loaded now.
        if let Action::IncludeTasks { .. }
        | Action::IncludeRole { .. }
        | Action::EndHost
        | Action::EndPlay = &task.action
        {
            let ctx = self.context(Some(task), block_vars);
            match self.eval_when(&when, &ctx, &task.location) {
                Ok(false) => {
                    self.report(
                        &name,
                        task,
                        &task.location,
                        Status::Skipped,
                        None,
                        &[],
                        started,
                        false,
                        false,
                        &[],
                    );
                    return Flow::Continue;
                }
                Err(msg) => {
                    return self.task_failed(task, &msg, started);
                }
                Ok(true) => {}
            }
            return match &task.action {
                Action::EndHost | Action::EndPlay => Flow::End,
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
        let run_once = task
            .run_once
            .as_ref()
            .is_some_and(|v| as_bool(v).unwrap_or(false));
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
        let out = self
            .module_task(task, module, args, block_vars, &when)
            .await;
        self.finish_task(task, out)
    }

    /// Reads ahead, in one exec: the facts that the next tasks need. Stops at
    /// the first task whose needs cannot be known yet (a loop, delegation, a condition or argument that needs a result still
    /// to come...) or that will change the host whatever it finds.
    async fn read_ahead(&self, tasks: &[Task], block_vars: &[VarEntry], inherited_when: &[String]) {
        let Some(conn) = self.conn.clone() else {
            return;
        };
        if self.last_changed {
            return;
        }
        let opts = self.eng.opts;
        let mut needs: Vec<crate::modules::protocol::Need> = Vec::new();
        let mut first: Option<Prepared> = None;
        let window = self.facts.window();
        for task in tasks.iter().take(window) {
            let Action::Module { def: module, args } = &task.action else {
                break;
            };
            if !self.started
                || task.loop_.is_some()
                || task.delegate_to.is_some()
                || task.run_once.is_some()
                || task.until.is_some()
            {
                break;
            }
            if !tags_match(&task.tags, &opts.tags, &opts.skip_tags) {
                continue;
            }
            let mut when = inherited_when.to_vec();
            when.extend(task.when.iter().cloned());
            let prepared = match self.prepare(task, module, args, block_vars, &when) {
                Some(Some(p)) => p,
                Some(None) => continue,
                None => break,
            };
            if let Some(f) = &first
                && (f.become_user != prepared.become_user || f.environment != prepared.environment)
            {
                break;
            }
            let env = prepared.env(self, &conn);
            let Some(n) = super::apply::needs(module.module, &prepared.args, &env) else {
                break;
            };
            needs.extend(n);
            let predictable = module.module.predictable(&prepared.args);
            drop(env);
            if first.is_none() {
                first = Some(prepared);
            }
            if !predictable {
                break;
            }
        }
        if let Some(p) = &first
            && !needs.is_empty()
        {
            let env = p.env(self, &conn);
            super::apply::read_ahead(&env, &self.facts, &needs).await;
        }
    }

    /// A task's module arguments and settings as they would be if it ran now:
    /// `Some(Some(..))`; `Some(None)` when `when` skips it; `None` when they
    /// cannot be known now.
    fn prepare(
        &self,
        task: &Task,
        module: &'static crate::modules::ModuleDef,
        args: &Map<String, Json>,
        block_vars: &[VarEntry],
        when: &[String],
    ) -> Option<Option<Prepared>> {
        let ctx = self.with_scope(task, block_vars, Scope::new());
        if !self.eval_when(when, &ctx, &task.location).ok()? {
            return Some(None);
        }
        let Ok(Json::Object(templated)) =
            self.template_json(&Json::Object(args.clone()), &ctx, &task.location)
        else {
            return None;
        };
        let validated = module.spec.validate(&templated, true).ok()?;
        let environment = self.environment(task, &ctx).ok()?;
        let check = match &task.check_mode {
            Some(v) => self.truthy(v, &task.location).ok()?,
            None => self.eng.opts.check,
        };
        let diff = match &task.diff {
            Some(v) => self.truthy(v, &task.location).ok()?,
            None => self.eng.opts.diff,
        };
        Some(Some(Prepared {
            args: validated,
            environment,
            check,
            diff,
            become_user: self.become_user(Some(task)),
            search: self.search_path(task, module.spec.name),
            location: task.location.clone(),
            ctx,
        }))
    }

    /// Applies the outcome of a task on this host: register, facts, notify,
    /// failure handling. Reporting was done per item by `module_task`.
    fn finish_task(&mut self, task: &Task, out: Outcome) -> Flow {
        self.last_changed = out.changed;
        if let Some(Json::Object(f)) = out.data.get("ansible_facts") {
            for (k, v) in f {
                self.scope.set(
                    k.clone(),
                    Definition {
                        value: v.clone(),
                        origin: Origin::File {
                            location: task.location.clone(),
                        },
                        layer: Layer::SetFact,
                    },
                );
            }
        }
        if let Some(reg) = &task.register {
            let mut data = out.data.clone();
            data.remove("ansible_facts");
            data.insert("changed".into(), json!(out.changed));
            data.insert("failed".into(), json!(out.failed));
            data.insert("skipped".into(), json!(out.skipped));
            if let Some(m) = &out.msg {
                data.entry("msg").or_insert(json!(m));
            }
            self.scope.set(
                reg.clone(),
                Definition {
                    value: Json::Object(data),
                    origin: Origin::File {
                        location: task.location.clone(),
                    },
                    layer: Layer::SetFact,
                },
            );
        }
        if out.changed {
            for n in &task.notify {
                if !self.notified.contains(n) {
                    self.notified.push(n.clone());
                }
            }
        }
        if out.data.get("unreachable").and_then(Json::as_bool) == Some(true) {
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

    /// Evaluates the loop, runs the module for each item (when, args, run), reports
    /// each, and returns the combined outcome.
    async fn module_task(
        &self,
        task: &Task,
        module: &'static crate::modules::ModuleDef,
        args: &Map<String, Json>,
        block_vars: &[VarEntry],
        when: &[String],
    ) -> Outcome {
        let name = task.display_name();
        let started = Instant::now();
        let ctx = self.context(Some(task), block_vars);
        let no_log = task
            .no_log
            .as_ref()
            .is_some_and(|v| as_bool(v).unwrap_or(false));
        // The loop's items (a list, or a template giving one).
        let items: Option<Vec<Json>> = match &task.loop_ {
            None => None,
            Some(l) => match self
                .template_json(l, &ctx, &task.location)
                .and_then(|v| crate::playbook::finish_loop(task.loop_kind, v))
            {
                Ok(a) => Some(a),
                Err(other) => {
                    let o = Outcome::failed(other);
                    self.report(
                        &name,
                        task,
                        &task.location,
                        Status::Failed,
                        o.msg.as_deref(),
                        &[],
                        started,
                        no_log,
                        false,
                        &[],
                    );
                    return o;
                }
            },
        };
        let Some(items) = items else {
            return self
                .one(
                    task,
                    module,
                    args,
                    block_vars,
                    Scope::new(),
                    when,
                    None,
                    started,
                    no_log,
                )
                .await;
        };
        // A loop: one result per item, combined as Ansible's `results`.
        let mut results = Vec::new();
        let mut combined = Outcome::ok();
        let mut any_ran = false;
        for (i, item) in items.iter().enumerate() {
            let mut scope = Scope::new();
            let lv = &task.loop_control.loop_var;
            scope.set(
                lv,
                Definition {
                    value: item.clone(),
                    origin: Origin::Builtin {
                        what: "loop item".into(),
                    },
                    layer: Layer::SetFact,
                },
            );
            if let Some(iv) = &task.loop_control.index_var {
                scope.set(
                    iv,
                    Definition {
                        value: json!(i),
                        origin: Origin::Builtin {
                            what: "loop index".into(),
                        },
                        layer: Layer::SetFact,
                    },
                );
            }
            let item_ctx = self.with_scope(task, block_vars, scope.clone());
            let label = match &task.loop_control.label {
                Some(l) => self
                    .vars()
                    .templar
                    .render_str(l, &item_ctx, Some(&task.location))
                    .unwrap_or_else(|_| l.clone()),
                None => match item {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                },
            };
            let out = self
                .one(
                    task,
                    module,
                    args,
                    block_vars,
                    scope,
                    when,
                    Some(label),
                    Instant::now(),
                    no_log,
                )
                .await;
            any_ran |= !out.skipped;
            if let Some(p) = task
                .loop_control
                .pause
                .filter(|p| *p > 0.0 && i + 1 < items.len())
            {
                tokio::time::sleep(std::time::Duration::from_secs_f64(p)).await;
            }
            combined.changed |= out.changed;
            combined.failed |= out.failed;
            combined.diffs.extend(out.diffs.iter().cloned());
            let mut r = out.data.clone();
            r.insert("changed".into(), json!(out.changed));
            r.insert("failed".into(), json!(out.failed));
            r.insert("skipped".into(), json!(out.skipped));
            r.insert(lv.clone(), item.clone());
            if let Some(m) = &out.msg {
                r.entry("msg").or_insert(json!(m));
            }
            results.push(Json::Object(r));
            if out.data.get("unreachable").and_then(Json::as_bool) == Some(true) {
                combined.data.insert("unreachable".into(), json!(true));
                break;
            }
        }
        combined.skipped = !any_ran;
        if combined.failed {
            combined.msg = Some("one or more items failed".into());
        }
        let status = status_of(&combined);
        let ignored = combined.failed && task.ignores_errors();
        self.eng.reporter.count_status(&self.host, status, ignored);
        combined.data.insert("results".into(), Json::Array(results));
        combined
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

    /// One module run (one item): when, templated args, validation, the run,
    /// changed_when/failed_when, and its report line.
    #[allow(clippy::too_many_arguments)]
    async fn one(
        &self,
        task: &Task,
        module: &'static crate::modules::ModuleDef,
        args: &Map<String, Json>,
        block_vars: &[VarEntry],
        item_scope: Scope,
        when: &[String],
        item: Option<String>,
        started: Instant,
        no_log: bool,
    ) -> Outcome {
        let name = task.display_name();
        let ctx_value = self.with_scope(task, block_vars, item_scope.clone());
        let ctx = &ctx_value;
        match self.eval_when(when, ctx, &task.location) {
            Ok(true) => {}
            Ok(false) => {
                let mut o = Outcome::ok();
                o.skipped = true;
                o.msg = Some("conditional result was False".into());
                self.report(
                    &name,
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
                .with_item(item);
                return o;
            }
            Err(msg) => return self.failed(task, item, msg, started, no_log),
        }
        let templated = match self.template_json(&Json::Object(args.clone()), ctx, &task.location) {
            Ok(Json::Object(m)) => m,
            Ok(_) => {
                return self.failed(
                    task,
                    item,
                    "arguments must be a mapping".into(),
                    started,
                    no_log,
                );
            }
            Err(msg) => return self.failed(task, item, msg, started, no_log),
        };
        let validated = match module.spec.validate(&templated, true) {
            Ok(a) => a,
            Err(msg) => {
                return self.failed(
                    task,
                    item,
                    format!("{}: {msg}", module.spec.name),
                    started,
                    no_log,
                );
            }
        };
        let environment = match self.environment(task, ctx) {
            Ok(e) => e,
            Err(msg) => return self.failed(task, item, msg, started, no_log),
        };
        let check = match &task.check_mode {
            Some(v) => self
                .truthy(v, &task.location)
                .unwrap_or(self.eng.opts.check),
            None => self.eng.opts.check,
        };
        let diff = match &task.diff {
            Some(v) => self.truthy(v, &task.location).unwrap_or(self.eng.opts.diff),
            None => self.eng.opts.diff,
        };
        // delegate_to: localhost runs on the controller; another inventory host over
        // its own (shared) connection.
        let local;
        let delegated;
        let (conn, become_user): (&Connection, Option<String>) = match task.delegate_to.as_deref() {
            None => (
                self.conn.as_deref().expect("connected in start()"),
                self.become_user(Some(task)),
            ),
            Some("localhost" | "127.0.0.1") => {
                let spec = ConnectionSpec {
                    kind: ConnectionKind::Local,
                    become_user: None,
                    ..self.spec.clone()
                };
                local = Connection::open(&spec)
                    .await
                    .expect("local connections always open");
                (&local, None)
            }
            Some(other) => {
                if !self.eng.loaded.inventory.hosts.contains_key(other) {
                    let msg = format!(
                        "delegate_to: '{other}' is neither localhost nor a host of the inventory"
                    );
                    return self.failed(task, item, msg, started, no_log);
                }
                let spec = match connection_spec(
                    self.vars(),
                    other,
                    self.eng.loaded.target.ssh_config.as_deref(),
                ) {
                    Ok(s) => s,
                    Err(e) => return self.failed(task, item, e.message, started, no_log),
                };
                delegated = match self.eng.conns.get(&spec).await {
                    Ok(c) => c,
                    Err(e) => {
                        return self.failed(
                            task,
                            item,
                            format!("delegate_to {other}: {e}"),
                            started,
                            no_log,
                        );
                    }
                };
                (&*delegated, self.become_user(Some(task)))
            }
        };
        let search = self.search_path(task, module.spec.name);
        let env = HostEnv {
            host: &self.host,
            conn,
            check,
            diff,
            become_user: become_user.as_deref(),
            environment: &environment,
            search: &search,
            location: &task.location,
            vars: ctx,
            templar: &self.vars().templar,
            trace: Mutex::new(Vec::new()),
        };
        if task.delegate_to.is_some() {
            // a command on another host may change this one: read again
            self.facts.clear();
        }
        // until/retries/delay: run again until the condition holds.
        let (retries, delay) = match &task.until {
            Some(_) => (
                self.number(task.retries.as_ref(), ctx, &task.location)
                    .unwrap_or(3),
                self.number(task.delay.as_ref(), ctx, &task.location)
                    .unwrap_or(5),
            ),
            None => (0, 0),
        };
        let mut attempt: u64 = 0;
        let mut out = loop {
            attempt += 1;
            let mut transport_failed = false;
            let ran = super::apply::run(module.module, &validated, &env, &self.facts)
                .await
                .map(|r| r.outcome);
            let mut out = match ran {
                Ok(o) => o,
                Err(ModuleError::Args(msg)) => {
                    Outcome::failed(format!("{}: {msg}", module.spec.name))
                }
                Err(ModuleError::Transport(e)) => {
                    transport_failed = true;
                    let unreachable =
                        matches!(e, crate::transport::TransportError::Disconnected { .. });
                    let mut o = Outcome::failed(match e.hint() {
                        Some(h) => format!("{e} (hint: {h})"),
                        None => e.to_string(),
                    });
                    if unreachable {
                        o.data.insert("unreachable".into(), json!(true));
                    }
                    o
                }
            };
            // A command that could not run has no result to judge: its error is the news.
            if transport_failed
                || (task.changed_when.is_none()
                    && task.failed_when.is_none()
                    && task.until.is_none())
            {
                break out;
            }
            // changed_when / failed_when / until see the result under the register name.
            let mut scope = item_scope.clone();
            let mut data = out.data.clone();
            data.insert("changed".into(), json!(out.changed));
            data.insert("failed".into(), json!(out.failed));
            data.insert("attempts".into(), json!(attempt));
            if let Some(reg) = &task.register {
                scope.set(
                    reg,
                    Definition {
                        value: Json::Object(data),
                        origin: Origin::Builtin {
                            what: "result".into(),
                        },
                        layer: Layer::SetFact,
                    },
                );
            }
            let rctx = self.with_scope(task, block_vars, scope);
            if let Some(cw) = &task.changed_when {
                match self.eval_when(cw, &rctx, &task.location) {
                    Ok(b) => out.changed = b,
                    Err(msg) => return self.failed(task, item, msg, started, no_log),
                }
            }
            if let Some(fw) = &task.failed_when {
                match self.eval_when(fw, &rctx, &task.location) {
                    Ok(b) => {
                        out.failed = b;
                        if b && out.msg.is_none() {
                            out.msg = Some(format!("failed_when: {}", fw.join(" and ")));
                        }
                    }
                    Err(msg) => return self.failed(task, item, msg, started, no_log),
                }
            }
            let Some(until) = &task.until else { break out };
            out.data.insert("attempts".into(), json!(attempt));
            match self.eval_when(until, &rctx, &task.location) {
                Ok(true) => {
                    out.failed = false;
                    break out;
                }
                Ok(false) if attempt > retries => {
                    out.failed = true;
                    out.msg = Some(format!(
                        "still not true after {attempt} attempts: until {}",
                        until.join(" and ")
                    ));
                    break out;
                }
                Ok(false) => tokio::time::sleep(std::time::Duration::from_secs(delay)).await,
                Err(msg) => return self.failed(task, item, msg, started, no_log),
            }
        };
        let trace = env.trace.into_inner().unwrap_or_default();
        if out.data.get("unreachable").and_then(Json::as_bool) == Some(true)
            && task
                .ignore_unreachable
                .as_ref()
                .is_some_and(|v| as_bool(v).unwrap_or(false))
        {
            out.data.remove("unreachable");
            out.failed = false;
            out.skipped = true;
        }
        let status = status_of(&out);
        let ignored = out.failed && task.ignores_errors();
        let msg = out.msg.clone();
        self.report(
            &name,
            task,
            &task.location,
            status,
            msg.as_deref(),
            &out.diffs,
            started,
            no_log,
            ignored,
            &trace,
        )
        .with_item_check(item, check, out.print);
        out
    }

    fn failed(
        &self,
        task: &Task,
        item: Option<String>,
        msg: String,
        started: Instant,
        no_log: bool,
    ) -> Outcome {
        let name = task.display_name();
        self.report(
            &name,
            task,
            &task.location,
            Status::Failed,
            Some(&msg),
            &[],
            started,
            no_log,
            false,
            &[],
        )
        .with_item(item);
        Outcome::failed(msg)
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
            false,
            &[],
        );
        if task.ignores_errors() {
            Flow::Continue
        } else {
            Flow::Failed
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
        for w in when {
            let v = self
                .vars()
                .templar
                .eval_expr(w, ctx, Some(loc))
                .map_err(|e| format!("when: {w}: {e}"))?;
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
        let sub = if module == "template" {
            "templates"
        } else {
            "files"
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

    async fn include_tasks(
        &mut self,
        task: &Task,
        file: &str,
        block_vars: &[VarEntry],
        ctx: &Value,
    ) -> Flow {
        let started = Instant::now();
        let rendered = match self
            .vars()
            .templar
            .render_str(file, ctx, Some(&task.location))
        {
            Ok(f) => f,
            Err(e) => {
                return self.task_failed(task, &e.to_string(), started);
            }
        };
        let mut candidates = Vec::new();
        if Path::new(&rendered).is_absolute() {
            candidates.push(PathBuf::from(&rendered));
        } else {
            if let Some(d) = task.location.file.parent() {
                candidates.push(d.join(&rendered));
            }
            if let Some(r) = &task.role {
                candidates.push(r.dir.join("tasks").join(&rendered));
            }
            candidates.push(self.eng.playbook_dir.join(&rendered));
        }
        let Some(path) = candidates.iter().find(|p| p.is_file()) else {
            let msg = format!(
                "include_tasks: {rendered} not found (looked at {})",
                candidates
                    .iter()
                    .map(|p| crate::location::display_path(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return self.task_failed(task, &msg, started);
        };
        // The included tasks get what encloses the include (blocks, role, play) and
        // its `apply:` keywords, but not the include's own tags (as Ansible).
        let cx = self.play.include_context();
        match crate::playbook::load_tasks_file_with(path, task.role.clone(), &[], &cx) {
            Ok(mut loaded) => {
                if let Action::IncludeTasks {
                    apply, inherited, ..
                } = &task.action
                {
                    inherited.apply_to(&mut loaded.tasks);
                    if let Some(apply) = apply {
                        apply.apply_to(&mut loaded.tasks);
                    }
                }
                self.extra_handlers.extend(loaded.handlers);
                let mut vars = block_vars.to_vec();
                vars.extend(task.vars.iter().cloned());
                self.tasks(&loaded.tasks, &vars, &task.when).await
            }
            Err(e) => self.task_failed(task, &e.to_string(), started),
        }
    }

    async fn include_role(
        &mut self,
        task: &Task,
        role: &str,
        tasks_from: Option<&str>,
        block_vars: &[VarEntry],
        ctx: &Value,
    ) -> Flow {
        let started = Instant::now();
        let role = match self
            .vars()
            .templar
            .render_str(role, ctx, Some(&task.location))
        {
            Ok(r) => r,
            Err(e) => {
                return self.task_failed(task, &e.to_string(), started);
            }
        };
        match crate::playbook::load_role(
            &role,
            &self.play.role_search,
            task.vars.clone(),
            tasks_from,
        ) {
            Ok((_role, tasks, handlers)) => {
                self.extra_handlers.extend(handlers);
                self.tasks(&tasks, block_vars, &task.when).await
            }
            Err(e) => self.task_failed(task, &e.to_string(), started),
        }
    }

    /// Runs the notified handlers, in their definition order, each once.
    async fn flush_handlers(&mut self) -> Flow {
        if self.notified.is_empty() {
            return Flow::Continue;
        }
        let handlers: Vec<Task> = self.all_handlers().into_iter().cloned().collect();
        let notified = std::mem::take(&mut self.notified);
        let mut pending: Vec<String> = notified.clone();
        for h in &handlers {
            if !notified.iter().any(|n| handler_matches(h, n)) {
                continue;
            }
            let flow = Box::pin(self.task(h, &[], &[])).await;
            pending.retain(|n| !handler_matches(h, n));
            if flow != Flow::Continue {
                // What did not run yet stays pending.
                self.notified = pending;
                return flow;
            }
        }
        Flow::Continue
    }

    /// Writes (or clears) the handlers still pending on the host.
    async fn save_pending(&mut self) {
        let Some(conn) = self.conn.clone() else {
            return;
        };
        let names: Vec<String> = std::mem::take(&mut self.notified);
        if names.is_empty() && !self.had_pending {
            return;
        }
        let mut names = names;
        names.extend(self.foreign_pending.iter().cloned());
        let become_user = self.become_user(None);
        let body = names.join("\n");
        let script = if names.is_empty() {
            format!("{}\nrm -f \"$f\"", facts::PENDING_SCRIPT)
        } else {
            format!(
                "{}\nmkdir -p \"$(dirname \"$f\")\" && cat > \"$f\"",
                facts::PENDING_SCRIPT
            )
        };
        let cmd = RemoteCommand {
            script,
            stdin: Some(format!("{body}\n").into_bytes()),
            no_become: become_user.is_none(),
            become_user,
        };
        if let Err(e) = conn.run(&cmd).await {
            self.eng.reporter.warn(
                &self.host,
                &format!(
                    "could not record the pending handlers ({}): {e}",
                    names.join(", ")
                ),
            );
        } else if !names.is_empty() {
            self.eng.reporter.warn(
                &self.host,
                &format!(
                    "handlers left pending, they will run on the next run: {}",
                    names.join(", ")
                ),
            );
        }
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
    });
}

/// How an outcome shows in the output and the recap.
fn status_of(out: &Outcome) -> Status {
    if out.data.get("unreachable").and_then(Json::as_bool) == Some(true) {
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

fn handler_matches(h: &Task, notified: &str) -> bool {
    h.name.as_deref() == Some(notified) || h.listen.iter().any(|l| l == notified)
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

/// A task's validated arguments and settings, ready to run or read ahead.
struct Prepared {
    args: crate::modules::Args,
    environment: Vec<(String, String)>,
    check: bool,
    diff: bool,
    become_user: Option<String>,
    search: Vec<PathBuf>,
    location: Location,
    ctx: Value,
}

impl Prepared {
    fn env<'a>(&'a self, run: &'a HostRun<'_, '_>, conn: &'a Connection) -> HostEnv<'a> {
        HostEnv {
            host: &run.host,
            conn,
            check: self.check,
            diff: self.diff,
            become_user: self.become_user.as_deref(),
            environment: &self.environment,
            search: &self.search,
            location: &self.location,
            vars: &self.ctx,
            templar: &run.vars().templar,
            trace: Mutex::new(Vec::new()),
        }
    }
}
