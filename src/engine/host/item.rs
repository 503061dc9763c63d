//! A module task on one host: its loop items, each one prepared (when,
//! templated and validated arguments, environment, delegation), run on the
//! module protocol (with until/retries), judged (changed_when, failed_when)
//! and reported.

use std::time::Duration;

use super::*;

impl<'e, 'a> HostRun<'e, 'a> {
    /// Evaluates the loop, runs the module for each item (when, args, run), reports
    /// each, and returns the combined outcome.
    pub(super) async fn module_task(
        &self,
        task: &Task,
        module: &'static crate::modules::ModuleDef,
        args: &Map<String, Json>,
        block_vars: &[VarEntry],
        when: &[String],
    ) -> Outcome {
        let name = task.display_name();
        let started = Instant::now();
        let no_log = task
            .no_log
            .as_ref()
            .is_some_and(|v| as_bool(v).unwrap_or(false));
        // The loop's items (a list, or a template giving one).
        let items: Option<Vec<Json>> = match &task.loop_ {
            None => None,
            Some(l) => match self.loop_items(task, l, block_vars) {
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
        // Facts an item set (set_fact, include_vars) are seen by the next items,
        // as in Ansible (`acc: "{{ acc + [item] }}"` accumulates).
        let mut carried = Scope::new();
        for (i, item) in items.iter().enumerate() {
            let mut scope = carried.clone();
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
            if let Some(Json::Object(f)) = out.data.get("ansible_facts") {
                for (k, v) in f {
                    carried.set(k.clone(), def(v, &task.location, Layer::SetFact));
                }
            }
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
            let mut r = out.registered();
            r.insert(lv.clone(), item.clone());
            results.push(Json::Object(r));
            if out.unreachable {
                combined.unreachable = true;
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

    /// A loop's items: the templated value made a list as the loop keyword
    /// says; for `with_<lookup>`, the lookup's result on those terms
    /// (`query('<lookup>', *terms)`, in the `templates`/`vars`/`files` subdir
    /// the module's name says, as Ansible's task executor does).
    pub(super) fn loop_items(
        &self,
        task: &Task,
        value: &Json,
        block_vars: &[VarEntry],
    ) -> Result<Vec<Json>, String> {
        let ctx = self.context(Some(task), block_vars);
        let v = self.template_json(value, &ctx, &task.location)?;
        let crate::playbook::LoopKind::Lookup(name) = task.loop_kind else {
            return crate::playbook::finish_loop(task.loop_kind, v);
        };
        let terms = match v {
            Json::Array(a) => a,
            other => vec![other],
        };
        let module = task.module_name().unwrap_or_default();
        let subdir = if module.contains("template") {
            "templates"
        } else if module.contains("var") {
            "vars"
        } else {
            "files"
        };
        const TERMS: &str = "__opsctl_loop_terms";
        let mut scope = Scope::new();
        scope.set(
            TERMS,
            Definition {
                value: Json::Array(terms),
                origin: Origin::Builtin {
                    what: format!("with_{name} terms"),
                },
                layer: Layer::ExtraVars,
            },
        );
        let ctx = self.with_scope(task, block_vars, scope);
        let expr = format!("query('{name}', *{TERMS}, _subdir='{subdir}')");
        let r = self
            .vars()
            .templar
            .eval_expr(&expr, &ctx, Some(&task.location))
            .map_err(|e| format!("with_{name}: {e}"))?;
        crate::playbook::finish_loop(task.loop_kind, crate::vars::to_json(&r))
    }

    /// One module run (one item): when, templated args, validation, the run,
    /// changed_when/failed_when, and its report line.
    #[allow(clippy::too_many_arguments)]
    /// A task's module arguments and settings as they would be if it ran now
    /// (with `scope`: a loop item's variables): `Ok(None)` when `when` skips
    /// it; `Err` says what could not be evaluated or is invalid.
    pub(super) fn prepare(
        &self,
        task: &Task,
        module: &'static crate::modules::ModuleDef,
        args: &Map<String, Json>,
        block_vars: &[VarEntry],
        when: &[String],
        scope: Scope,
    ) -> Result<Option<Prepared>, String> {
        let ctx = self.with_scope(task, block_vars, scope);
        if !self.eval_when(when, &ctx, &task.location)? {
            return Ok(None);
        }
        let Json::Object(mut templated) =
            self.template_json(&Json::Object(args.clone()), &ctx, &task.location)?
        else {
            return Err("arguments must be a mapping".into());
        };
        // `x: "{{ y | default(omit) }}"`: as if x were not given
        templated.retain(|_, v| v.as_str() != Some(crate::modules::args::OMIT));
        // set_fact's keys are variable names, and templates too (`"{{ n }}_port": 1`).
        if module.spec.name == "set_fact" {
            let mut keyed = Map::new();
            for (k, v) in templated {
                let k = self
                    .vars()
                    .templar
                    .render_str(&k, &ctx, Some(&task.location))
                    .map_err(|e| format!("set_fact: key {k}: {e}"))?;
                keyed.insert(k, v);
            }
            templated = keyed;
        }
        let validated = module
            .spec
            .validate(&templated, true)
            .map_err(|msg| format!("{}: {msg}", module.spec.name))?;
        let environment = self.environment(task, &ctx)?;
        let check = match &task.check_mode {
            Some(v) => self.truthy(v, &task.location)?,
            None => self.eng.opts.check,
        };
        let diff = match &task.diff {
            Some(v) => self.truthy(v, &task.location)?,
            None => self.eng.opts.diff,
        };
        let timeout =
            self.seconds_keyword("timeout", task.timeout.as_ref(), &ctx, &task.location)?;
        Ok(Some(Prepared {
            args: validated,
            environment,
            check,
            diff,
            become_user: self.become_user(Some(task)),
            search: self.search_path(task, module.spec.name),
            location: task.location.clone(),
            ctx,
            timeout: timeout.filter(|t| *t > 0),
        }))
    }

    /// One item of a module task: prepared, run on its connection, judged
    /// and reported.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn one(
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
        let prepared = self.prepare(task, module, args, block_vars, when, item_scope.clone());
        let mut prepared = match prepared {
            Ok(Some(p)) => p,
            Ok(None) => {
                let mut o = Outcome::ok();
                o.skipped = true;
                o.msg = Some("conditional result was False".into());
                self.skipped(task, started, no_log).with_item(item);
                return o;
            }
            Err(msg) => return self.failed(task, item, msg, started, no_log),
        };
        let conn = match self.connection_for(task, &prepared.ctx).await {
            Ok((conn, become_user)) => {
                prepared.become_user = become_user;
                conn
            }
            Err(msg) => return self.failed(task, item, msg, started, no_log),
        };
        // Another host (a command there may change this one), or another login
        // user (facts read as one user are not another's): read again, before
        // and after.
        let own = self.conn.as_ref().is_some_and(|c| Arc::ptr_eq(c, &conn));
        if !own {
            self.facts.clear();
        }
        let mut env = prepared.env(self, &conn);
        env.deadline = prepared
            .timeout
            .map(|t| Instant::now() + Duration::from_secs(t));
        let run = self.run_until(task, module, &prepared.args, &env, block_vars, &item_scope);
        let ran = match prepared.timeout {
            None => run.await,
            // The host ends the commands at the deadline; a second more for
            // their news to arrive, then the task stops waiting.
            Some(t) => match tokio::time::timeout(Duration::from_secs(t + 1), run).await {
                Ok(r) => r,
                Err(_) => Ok(Outcome::failed(String::new())),
            },
        };
        if !own {
            self.facts.clear();
        }
        let mut out = match ran {
            Ok(o) => o,
            Err(msg) => return self.failed(task, item, msg, started, no_log),
        };
        if let (Some(t), Some(at)) = (prepared.timeout, env.deadline)
            && out.failed
            && Instant::now() >= at
        {
            timed_out(&mut out, t, module.spec.name);
        }
        let trace = env.trace.into_inner().unwrap_or_default();
        if out.unreachable
            && task
                .ignore_unreachable
                .as_ref()
                .is_some_and(|v| as_bool(v).unwrap_or(false))
        {
            out.unreachable = false;
            out.failed = false;
            out.skipped = true;
        }
        let status = status_of(&out);
        let ignored = out.failed && task.ignores_errors();
        let msg = out.msg.clone();
        let mut pending = self.report(
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
        );
        if self.eng.reporter.wants_results() {
            pending.result = Some(Json::Object(out.registered()));
        }
        pending.with_item_check(item, prepared.check, out.print);
        out
    }

    /// The connection a task runs on, and whom it becomes there: the host's
    /// (as the task's `remote_user`, when it has one and the inventory names
    /// no user: a connection of its own); the controller for `delegate_to:
    /// localhost`; another inventory host's (shared) connection.
    async fn connection_for(
        &self,
        task: &Task,
        ctx: &Value,
    ) -> Result<(Arc<Connection>, Option<String>), String> {
        // A keyword's value may name its user or host through a variable, as in Ansible.
        let rendered = |value: &Option<String>, keyword: &str| match value {
            Some(v) if crate::template::is_template(v) => self
                .vars()
                .templar
                .render_str(v, ctx, Some(&task.location))
                .map(Some)
                .map_err(|e| format!("{keyword}: {e}")),
            other => Ok(other.clone()),
        };
        let remote_user = rendered(&task.remote_user, "remote_user")?;
        let delegate = rendered(&task.delegate_to, "delegate_to")?;
        match delegate.as_deref() {
            None => {
                let own = self.conn.clone().expect("connected in start()");
                let conn = match remote_user {
                    Some(u) if !self.user_from_vars && self.spec.user.as_ref() != Some(&u) => {
                        let spec = ConnectionSpec {
                            user: Some(u.clone()),
                            ..self.spec.clone()
                        };
                        self.eng
                            .conns
                            .get(&spec)
                            .await
                            .map_err(|e| format!("remote_user {u}: {e}"))?
                    }
                    _ => own,
                };
                Ok((conn, self.become_user(Some(task))))
            }
            Some("localhost" | "127.0.0.1") => {
                let spec = ConnectionSpec {
                    kind: ConnectionKind::Local,
                    become_user: None,
                    ..self.spec.clone()
                };
                let local = Connection::open(&spec)
                    .await
                    .expect("local connections always open");
                Ok((Arc::new(local), None))
            }
            Some(other) => {
                if !self.eng.loaded.inventory.hosts.contains_key(other) {
                    return Err(format!(
                        "delegate_to: '{other}' is neither localhost nor a host of the inventory"
                    ));
                }
                let mut spec = connection_spec(
                    self.vars(),
                    other,
                    self.eng.loaded.target.ssh_config.as_deref(),
                )
                .map_err(|e| e.message)?;
                if spec.user.is_none() {
                    spec.user = remote_user;
                }
                let conn = self
                    .eng
                    .conns
                    .get(&spec)
                    .await
                    .map_err(|e| format!("delegate_to {other}: {e}"))?;
                Ok((conn, self.become_user(Some(task))))
            }
        }
    }

    /// Runs the module (again, with until/retries/delay, until the condition
    /// holds) and judges each result with changed_when/failed_when. `Err`: a
    /// condition that could not be evaluated.
    async fn run_until(
        &self,
        task: &Task,
        module: &'static crate::modules::ModuleDef,
        args: &crate::modules::Args,
        env: &HostEnv<'_>,
        block_vars: &[VarEntry],
        item_scope: &Scope,
    ) -> Result<Outcome, String> {
        let ctx = env.vars;
        // `retries` without `until` retries until the task succeeds, as
        // ansible-core does (`until: result is not failed`).
        let (retries, delay) = match (&task.until, &task.retries) {
            (None, None) => (0, 0),
            (until, retries) => (
                self.number(retries.as_ref(), ctx, &task.location)
                    .unwrap_or(if until.is_some() { 3 } else { 0 }),
                self.number(task.delay.as_ref(), ctx, &task.location)
                    .unwrap_or(5),
            ),
        };
        let mut attempt: u64 = 0;
        loop {
            attempt += 1;
            let ran = crate::engine::apply::run(module.module, args, env, &self.facts).await;
            let mut out = match ran {
                Ok(o) => o,
                // A command that could not run has no result to judge: its error is the news.
                Err(f @ Fail::Transport(_)) => {
                    return Ok(crate::engine::apply::outcome(module.spec.name, f));
                }
                Err(f) => crate::engine::apply::outcome(module.spec.name, f),
            };
            let again = |out: &Outcome| out.failed && attempt <= retries;
            if task.changed_when.is_none() && task.failed_when.is_none() && task.until.is_none() {
                if task.retries.is_some() {
                    out.data.insert("attempts".into(), json!(attempt));
                }
                if !again(&out) {
                    return Ok(out);
                }
                tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
                continue;
            }
            // changed_when / failed_when / until see the result under the register name.
            let mut scope = item_scope.clone();
            let mut data = out.registered();
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
                out.changed = self.eval_condition("changed_when", cw, &rctx, &task.location)?;
            }
            if let Some(fw) = &task.failed_when {
                out.failed = self.eval_condition("failed_when", fw, &rctx, &task.location)?;
                if out.failed && out.msg.is_none() {
                    out.msg = Some(format!("failed_when: {}", fw.join(" and ")));
                }
            }
            let Some(until) = &task.until else {
                if !again(&out) {
                    return Ok(out);
                }
                tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
                continue;
            };
            out.data.insert("attempts".into(), json!(attempt));
            let done = self.eval_condition("until", until, &rctx, &task.location)?;
            if done {
                out.failed = false;
                return Ok(out);
            }
            if attempt > retries {
                out.failed = true;
                out.msg = Some(format!(
                    "still not true after {attempt} attempts: until {}",
                    until.join(" and ")
                ));
                return Ok(out);
            }
            tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
        }
    }

    pub(super) fn failed(
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
}

/// A task's validated arguments and settings, ready to run or read ahead.
pub(super) struct Prepared {
    pub(super) args: crate::modules::Args,
    pub(super) environment: Vec<(String, String)>,
    pub(super) check: bool,
    pub(super) diff: bool,
    pub(super) become_user: Option<String>,
    pub(super) search: Vec<PathBuf>,
    pub(super) location: Location,
    pub(super) ctx: Value,
    /// The task's `timeout` in seconds (none, or 0: no limit).
    pub(super) timeout: Option<u64>,
}

impl Prepared {
    pub(super) fn env<'a>(&'a self, run: &'a HostRun<'_, '_>, conn: &'a Connection) -> HostEnv<'a> {
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
            deadline: None,
        }
    }
}

/// A task that ran past its `timeout`: failed as Ansible reports it, with
/// `timedout` registered (the `timedout` test reads it).
fn timed_out(out: &mut Outcome, secs: u64, action: &str) {
    out.failed = true;
    out.changed = false;
    out.msg = Some(format!(
        "The task timed out after {secs} seconds: the {action} action did not finish in time and was terminated"
    ));
    out.data
        .insert("timedout".into(), json!({ "period": secs }));
}
