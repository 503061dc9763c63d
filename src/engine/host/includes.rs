//! include_tasks / import_tasks and include_role at run time.

use super::*;

impl<'e, 'a> HostRun<'e, 'a> {
    /// `include_tasks`/`include_role` with a loop: the include once per item,
    /// `when` judged per item, the item (and index) visible to the included
    /// tasks as variables.
    pub(super) async fn include_loop(
        &mut self,
        task: &Task,
        value: &Json,
        block_vars: &[VarEntry],
        when: &[String],
    ) -> Flow {
        let started = Instant::now();
        let items = match self.loop_items(task, value, block_vars) {
            Ok(items) => items,
            Err(msg) => return self.task_failed(task, &msg, started),
        };
        for (i, item) in items.into_iter().enumerate() {
            let mut vars = block_vars.to_vec();
            vars.push(VarEntry {
                name: task.loop_control.loop_var.clone(),
                value: item,
                location: task.location.clone(),
            });
            if let Some(iv) = &task.loop_control.index_var {
                vars.push(VarEntry {
                    name: iv.clone(),
                    value: json!(i),
                    location: task.location.clone(),
                });
            }
            let ctx = self.context(Some(task), &vars);
            match self.eval_when(when, &ctx, &task.location) {
                Ok(false) => {
                    self.skipped(task, Instant::now(), false);
                    continue;
                }
                Err(msg) => return self.task_failed(task, &msg, started),
                Ok(true) => {}
            }
            let flow = match &task.action {
                Action::IncludeTasks { file, .. } => {
                    Box::pin(self.include_tasks(task, file, &vars, &ctx)).await
                }
                Action::IncludeRole {
                    name: role,
                    tasks_from,
                } => {
                    Box::pin(self.include_role(task, role, tasks_from.as_deref(), &vars, &ctx))
                        .await
                }
                _ => Flow::Continue,
            };
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    }

    pub(super) async fn include_tasks(
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

    pub(super) async fn include_role(
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
}
