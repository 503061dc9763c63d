//! Blocks and task files: `block`/`rescue`/`always`, `import_tasks`
//! (expanded here) and `include_tasks` (checked here, loaded at run time).

use std::path::{Path, PathBuf};

use super::keywords::{BLOCK_ONLY, IMPORT_ONLY, INCLUDE_TASKS_KEYWORDS, INHERITABLE, LOOP_KEYS};
use super::loader::{Cx, Kw, Loader, canonical, did_you_mean, nearest};
use super::resolve::resolve_tasks_file;
use super::tasks::ActionKey;
use super::types::{Action, Inherited, Task};
use crate::location::{Location, display_path};
use crate::template::is_template;
use crate::yaml::{Node, NodeValue};

impl Loader {
    pub(super) fn block(&mut self, kw: &Kw, cx: &Cx, location: Location) -> Vec<Task> {
        let file = cx.file;
        if !self.only(
            kw,
            &[BLOCK_ONLY, INHERITABLE],
            "a block",
            "put it on a task inside the block (a block takes name, when, tags, vars, become, environment, ignore_errors...)",
            file,
        ) {
            return Vec::new();
        }
        let mut inh = self.inherited(kw, file);
        // A block's notify goes to each of its tasks (ansible-core 2.19); the
        // block task records the names for the handler check.
        if let Some(e) = kw.get("notify") {
            inh.notify = self.names(e, file);
        }
        let conditional = kw.get("when").is_some();
        self.conditional += usize::from(conditional);
        let mut block = self.task_list(kw.get("block"), cx);
        let mut rescue = self.task_list(kw.get("rescue"), cx);
        let mut always = self.task_list(kw.get("always"), cx);
        self.conditional -= usize::from(conditional);
        for list in [&mut block, &mut rescue, &mut always] {
            inh.apply_to(list);
        }
        let mut t = Task::new(
            location,
            Action::Block {
                block,
                rescue,
                always,
            },
            cx.role.cloned(),
        );
        self.fill(&mut t, kw, file, inh);
        vec![t]
    }

    /// The file of import_tasks / include_tasks: `x.yml` or `{file: x.yml, apply: ...}`;
    /// returns the name and the `apply` node.
    fn file_and_apply<'n>(
        &mut self,
        action: &ActionKey<'n>,
        kw: &Kw<'n>,
        file: &Path,
    ) -> Option<(String, Location, Option<&'n Node>)> {
        let mut name: Option<(String, Location)> = None;
        let mut apply = None;
        let mut maps: Vec<&Node> = Vec::new();
        match &action.value.value {
            NodeValue::Str(s) => name = Some((s.clone(), action.value.location(file))),
            NodeValue::Map(_) => maps.push(action.value),
            NodeValue::Null => {}
            _ => {
                self.err(
                    action.key.location(file),
                    format!(
                        "'{}' must be a file name, found {}",
                        action.name,
                        action.value.kind_name()
                    ),
                    Some(format!("{}: tasks/setup.yml", action.name)),
                );
                return None;
            }
        }
        if let Some(e) = kw.get("args") {
            match e.value.as_map() {
                Some(_) => maps.push(e.value),
                None => {
                    self.type_error(e, file, "a mapping");
                    return None;
                }
            }
        }
        let mut ok = true;
        for m in maps {
            for (k, v) in m.as_map().unwrap_or_default() {
                match k.key_string().as_str() {
                    "file" | "_raw_params" => match v.as_str() {
                        Some(s) => name = Some((s.to_string(), v.location(file))),
                        None => {
                            self.err(v.location(file), "the file name must be a string", None);
                            ok = false;
                        }
                    },
                    "apply" if action.name == "include_tasks" => apply = Some(v),
                    other => {
                        let valid: &[&str] = if action.name == "include_tasks" {
                            &["file", "apply"]
                        } else {
                            &["file"]
                        };
                        let hint = did_you_mean(nearest(other, valid.iter().copied()))
                            .unwrap_or_else(|| {
                                format!("{} takes: {}", action.name, valid.join(", "))
                            });
                        self.err(
                            k.location(file),
                            format!("unknown argument '{other}' for {}", action.name),
                            Some(hint),
                        );
                        ok = false;
                    }
                }
            }
        }
        if !ok {
            return None;
        }
        match name {
            Some((n, loc)) if !n.trim().is_empty() => Some((n, loc, apply)),
            _ => {
                self.err(
                    action.key.location(file),
                    format!("'{}' needs a file name", action.name),
                    Some(format!("{}: tasks/setup.yml", action.name)),
                );
                None
            }
        }
    }

    /// Replaces `{{ role_path }}` and `{{ playbook_dir }}`, known at load time.
    fn static_path(&self, name: &str, cx: &Cx) -> String {
        let mut out = name.to_string();
        let mut subst = |var: &str, value: Option<&Path>| {
            let Some(v) = value else { return };
            let re = regex::Regex::new(&format!(r"\{{\{{\s*{var}\s*\}}\}}")).expect("static regex");
            out = re
                .replace_all(&out, v.display().to_string().as_str())
                .into_owned();
        };
        subst("role_path", cx.role.map(|r| r.dir.as_path()));
        subst("playbook_dir", self.play.playbook_dir.as_deref());
        out
    }

    fn resolve(&mut self, name: &str, cx: &Cx, at: &Location, what: &str) -> Option<PathBuf> {
        let role = cx.role.map(|r| r.as_ref());
        match resolve_tasks_file(name, cx.file, role, self.play.playbook_dir.as_deref()) {
            Ok(p) => Some(p),
            Err(looked) => {
                let looked: Vec<String> = looked.iter().map(|p| display_path(p)).collect();
                self.err(
                    at.clone(),
                    format!("{what}: file not found: {name}"),
                    Some(format!("looked at {}", looked.join(", "))),
                );
                None
            }
        }
    }

    pub(super) fn import_tasks(&mut self, kw: &Kw, action: &ActionKey, cx: &Cx) -> Vec<Task> {
        let file = cx.file;
        if !self.only(
            kw,
            &[IMPORT_ONLY, INHERITABLE],
            "import_tasks",
            "import_tasks is static (expanded when the playbook is loaded); use include_tasks for loops, register or a file chosen at run time",
            file,
        ) {
            return Vec::new();
        }
        let Some((name, at, _)) = self.file_and_apply(action, kw, file) else {
            return Vec::new();
        };
        let name = self.static_path(&name, cx);
        if is_template(&name) {
            self.err(
                at,
                "import_tasks is static: its file name cannot use variables",
                Some("use include_tasks to choose the file at run time".into()),
            );
            return Vec::new();
        }
        let Some(path) = self.resolve(&name, cx, &at, "import_tasks") else {
            return Vec::new();
        };
        let inh = self.inherited(kw, file);
        let conditional = usize::from(!inh.when.is_empty());
        self.conditional += conditional;
        let mut tasks =
            self.tasks_file(&path, cx.role, cx.handler, Some(&action.key.location(file)));
        self.conditional -= conditional;
        inh.apply_to(&mut tasks);
        tasks
    }

    pub(super) fn include_tasks(
        &mut self,
        kw: &Kw,
        action: &ActionKey,
        cx: &Cx,
        location: Location,
    ) -> Vec<Task> {
        let file = cx.file;
        // a handler may be an include_tasks that listens to a topic
        let handler: &[&str] = if cx.handler { &["listen"] } else { &[] };
        if !self.only(
            kw,
            &[INCLUDE_TASKS_KEYWORDS, LOOP_KEYS, handler],
            "include_tasks",
            "include_tasks takes name, when, tags, vars, loop, loop_control, register, ignore_errors, no_log, run_once and args; to pass keywords to the included tasks use `apply:`",
            file,
        ) {
            return Vec::new();
        }
        let Some((name, at, apply_node)) = self.file_and_apply(action, kw, file) else {
            return Vec::new();
        };
        let apply = apply_node.map(|n| Box::new(self.apply(n, file)));
        let name = self.static_path(&name, cx);
        let conditional = usize::from(kw.get("when").is_some());
        if !is_template(&name) {
            let role = cx.role.map(|r| r.as_ref());
            let found = resolve_tasks_file(&name, file, role, self.play.playbook_dir.as_deref());
            match found {
                Ok(path) => {
                    self.conditional += conditional;
                    self.check_included_file(&path, cx, &action.key.location(file));
                    self.conditional -= conditional;
                }
                // Under a condition (the include's own `when`, or an enclosing
                // block's or include's), the file is resolved when reached, as
                // Ansible does: a role's tasks for another OS may be absent.
                Err(_) if conditional + self.conditional > 0 => self.warn(
                    at,
                    format!(
                        "include_tasks: file not found: {name}: the include fails if a host reaches it"
                    ),
                ),
                Err(_) => {
                    self.resolve(&name, cx, &at, "include_tasks");
                }
            }
        }
        let inh = self.inherited(kw, file);
        let mut t = Task::new(
            location,
            Action::IncludeTasks {
                file: name,
                apply,
                inherited: Box::default(),
            },
            cx.role.cloned(),
        );
        self.fill(&mut t, kw, file, inh);
        vec![t]
    }

    /// `apply:` of include_tasks: the keywords given to every included task.
    fn apply(&mut self, node: &Node, file: &Path) -> Inherited {
        let Some(map) = node.as_map() else {
            self.err(
                node.location(file),
                format!(
                    "'apply' must be a mapping of keywords, found {}",
                    node.kind_name()
                ),
                Some("apply: {tags: [web], become: true}".into()),
            );
            return Inherited::default();
        };
        let kw = Kw::from_map(map);
        for e in kw.iter() {
            if !INHERITABLE.contains(&e.name.as_str()) {
                let hint = did_you_mean(nearest(&e.name, INHERITABLE.iter().copied()))
                    .unwrap_or_else(|| format!("apply takes: {}", INHERITABLE.join(", ")));
                self.err(
                    e.loc(file),
                    format!("'{}' cannot be used in apply", e.name),
                    Some(hint),
                );
            }
        }
        self.inherited(&kw, file)
    }

    /// Checks now a file that will be included at run time (once per file).
    fn check_included_file(&mut self, path: &Path, cx: &Cx, at: &Location) {
        let canon = canonical(path);
        if self.file_stack.iter().any(|(c, _)| *c == canon) {
            return; // a recursive include: fine at run time, already being checked
        }
        if !self.checked.insert((canon, cx.role.map(|r| r.dir.clone()))) {
            return;
        }
        // the file's tasks are ordinary tasks (also when a handler includes
        // it), as the engine loads them at run time
        let role = cx.role;
        self.scratch(|l| {
            l.tasks_file(path, role, false, Some(at));
        });
    }
}
