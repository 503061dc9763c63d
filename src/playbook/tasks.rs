//! Tasks: a tasks file, a list of tasks, one task (its module or control key,
//! its keywords, its loop) and `meta` tasks.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;

use super::keywords::{
    ACTION_KEYWORDS, LOOKUP_LOOPS, LOOP_CONTROL_KEYS, LOOP_KEYS, META_KEYWORDS, PLAY_KEYWORDS,
    TASK_KEYWORDS, control_name, unsupported_task_keyword,
};
use super::loader::{Cx, Entry, Kw, Loader, did_you_mean, has_template, is_identifier, nearest};
use super::types::{Action, Inherited, LoopControl, LoopKind, Role, Task};
use crate::compat::Name;
use crate::location::Location;
use crate::modules::{self, ModuleDef};
use crate::template::is_template;
use crate::yaml::{Node, NodeValue};

impl Loader {
    /// Reads a tasks file (a list of tasks) and expands it.
    pub fn tasks_file(
        &mut self,
        path: &Path,
        role: Option<&Arc<Role>>,
        handler: bool,
        at: Option<&Location>,
    ) -> Vec<Task> {
        let Some(node) = self.enter(path, at) else {
            return Vec::new();
        };
        let cx = Cx {
            file: path,
            role,
            handler,
        };
        let tasks = match &node.value {
            NodeValue::Null => Vec::new(),
            NodeValue::Seq(items) => self.task_items(items, &cx),
            _ => {
                let hint = if node.get("hosts").is_some() {
                    "this looks like a playbook: import it with import_playbook, not as tasks"
                } else {
                    "a tasks file is a YAML list: start each task with '- '"
                };
                self.err(
                    node.location(path),
                    format!(
                        "a tasks file must be a list of tasks, found {}",
                        node.kind_name()
                    ),
                    Some(hint.into()),
                );
                Vec::new()
            }
        };
        self.leave();
        tasks
    }

    fn task_items(&mut self, items: &[Node], cx: &Cx) -> Vec<Task> {
        let mut out = Vec::new();
        for item in items {
            out.extend(self.task(item, cx));
        }
        out
    }

    /// A keyword holding a list of tasks (`tasks:`, `block:`, ...).
    pub fn task_list(&mut self, e: Option<&Entry>, cx: &Cx) -> Vec<Task> {
        let Some(e) = e else { return Vec::new() };
        match &e.value.value {
            NodeValue::Null => Vec::new(),
            NodeValue::Seq(items) => self.task_items(items, cx),
            _ => {
                self.type_error(e, cx.file, "a list of tasks");
                Vec::new()
            }
        }
    }

    /// One task: zero tasks when it is wrong, several for an import.
    pub fn task(&mut self, node: &Node, cx: &Cx) -> Vec<Task> {
        let file = cx.file;
        let Some(map) = node.as_map() else {
            let hint = match node.as_str() {
                Some(s) => format!(
                    "a task is a mapping: `- name: ...` then the module, e.g. `- command: {s}`"
                ),
                None => {
                    "a task is a mapping: `- name: ...` then the module and its arguments".into()
                }
            };
            self.err(
                node.location(file),
                format!("a task must be a mapping, found {}", node.kind_name()),
                Some(hint),
            );
            return Vec::new();
        };
        let Some((first, _)) = map.first() else {
            self.err(
                node.location(file),
                "empty task",
                Some("add a module such as `command: ...`, or remove the '-'".into()),
            );
            return Vec::new();
        };
        let location = first.location(file);

        let mut kw = Kw::default();
        let mut actions: Vec<ActionKey> = Vec::new();
        let mut unknown: Vec<(&Node, String, Option<String>)> = Vec::new();
        let mut bad = false;
        // task keywords Ansible has and opsctl does not
        let mut deferred: Vec<(String, String, String, Location)> = Vec::new();
        for (k, v) in map {
            let raw = k.key_string();
            let name = control_name(&raw).to_string();
            if let Some((msg, hint)) = unsupported_task_keyword(&name)
                && matches!(name.as_str(), "import_playbook" | "include")
            {
                // not valid in a task list for Ansible either
                self.err(k.location(file), msg, Some(hint));
                bad = true;
            } else if let Some((msg, hint)) = unsupported_task_keyword(&name) {
                // Valid Ansible that opsctl does not do: on a module's task
                // the playbook loads (a warning) and the task fails if a host
                // reaches it; elsewhere (block, include) an error.
                deferred.push((name, msg, hint, k.location(file)));
            } else if TASK_KEYWORDS.contains(&name.as_str()) || LOOP_KEYS.contains(&name.as_str()) {
                if ACTION_KEYWORDS.contains(&name.as_str()) {
                    actions.push(ActionKey {
                        name: name.clone(),
                        key: k,
                        value: v,
                        def: None,
                        known: None,
                    });
                }
                kw.0.push(Entry {
                    name,
                    key: k,
                    value: v,
                });
            } else {
                match self.resolve_module(&raw, cx) {
                    Name::Implemented(def) => actions.push(ActionKey {
                        name: raw,
                        key: k,
                        value: v,
                        def: Some(def),
                        known: None,
                    }),
                    Name::Known(fqcn) => actions.push(ActionKey {
                        name: raw,
                        key: k,
                        value: v,
                        def: None,
                        known: Some(fqcn),
                    }),
                    Name::Unknown(near) => unknown.push((k, raw, near)),
                }
            }
        }
        let lone = actions.is_empty() && unknown.len() == 1;
        for (k, raw, near) in &unknown {
            self.unknown_task_key(k, raw, near.as_deref(), lone, file);
            bad = true;
        }
        if bad {
            return Vec::new();
        }
        if actions.len() > 1 {
            let (a, b) = (&actions[0], &actions[1]);
            self.err(
                b.key.location(file),
                format!(
                    "a task has one action; this one has '{}' and '{}'",
                    a.name, b.name
                ),
                Some("split it into two tasks".into()),
            );
            return Vec::new();
        }
        let Some(action) = actions.pop() else {
            self.err(
                location,
                "task has no action",
                Some("add a module (such as `command:` or `copy:`), or block:, include_tasks:, import_tasks:, include_role:, import_role: or meta:".into()),
            );
            return Vec::new();
        };
        if action.name != "block" {
            for n in ["rescue", "always"] {
                if let Some(e) = kw.get(n) {
                    self.err(
                        e.loc(file),
                        format!("'{n}' needs a 'block' in the same task"),
                        Some("put the tasks to protect under block:, then rescue:/always:".into()),
                    );
                    bad = true;
                }
            }
        }
        if !cx.handler
            && let Some(e) = kw.get("listen")
        {
            self.err(
                e.loc(file),
                "'listen' is only valid on handlers",
                Some(
                    "move this task to handlers: (or a role's handlers/main.yml), or use notify:"
                        .into(),
                ),
            );
            bad = true;
        }
        if bad {
            return Vec::new();
        }
        for (k, v) in map {
            match control_name(&k.key_string()) {
                "block" | "rescue" | "always" => {}
                "when" | "changed_when" | "failed_when" | "until" => {
                    self.check_templates(v, file, true)
                }
                _ => self.check_templates(v, file, false),
            }
        }
        let defaults_before = self.play.module_defaults.len();
        if let Some(e) = kw.get("module_defaults") {
            let d = self.module_defaults(e, file);
            self.play.module_defaults.extend(d);
        }
        let mut out = self.task_action(&kw, &action, cx, location);
        self.play.module_defaults.truncate(defaults_before);
        let on_modules = out.iter().all(|t| {
            matches!(
                t.action,
                Action::Module { .. } | Action::Unimplemented { .. }
            )
        });
        for (_, msg, hint, at) in &deferred {
            if on_modules {
                self.warn(
                    at.clone(),
                    format!("{msg} ({hint}): the task fails if a host reaches it"),
                );
            } else {
                self.err(at.clone(), msg.clone(), Some(hint.clone()));
            }
        }
        if let Some((keyword, ..)) = deferred.first()
            && on_modules
        {
            let name = format!("the task keyword '{keyword}'");
            for t in &mut out {
                t.action = Action::Unimplemented {
                    fqcn: name.clone(),
                    name: name.clone(),
                    args: Json::Null,
                };
            }
        }
        if matches!(action.name.as_str(), "import_tasks" | "import_role") {
            return out;
        }
        if cx.handler {
            for t in &out {
                if t.name.is_none()
                    && t.listen.is_empty()
                    && !matches!(t.action, Action::Block { .. })
                {
                    self.err(
                        t.location.clone(),
                        "a handler needs a name (or listen:) to be notified",
                        Some("add `name: restart nginx` and notify it by that name".into()),
                    );
                }
            }
        }
        out
    }

    fn task_action(
        &mut self,
        kw: &Kw,
        action: &ActionKey,
        cx: &Cx,
        location: Location,
    ) -> Vec<Task> {
        match action.name.as_str() {
            "block" => self.block(kw, cx, location),
            "import_tasks" => self.import_tasks(kw, action, cx),
            "include_tasks" => self.include_tasks(kw, action, cx, location),
            "import_role" => self.role_task(kw, action, cx, location, true),
            "include_role" => self.role_task(kw, action, cx, location, false),
            "meta" => self.meta(kw, action, cx, location),
            _ if action.known.is_some() => self.unimplemented_task(kw, action, cx, location),
            _ => self.module_task(kw, action, cx, location),
        }
    }

    fn unknown_task_key(
        &mut self,
        k: &Node,
        raw: &str,
        mod_near: Option<&str>,
        maybe_module: bool,
        file: &Path,
    ) {
        if PLAY_KEYWORDS.contains(&raw) && !TASK_KEYWORDS.contains(&raw) {
            self.err(
                k.location(file),
                format!("'{raw}' is a play keyword, not a task keyword"),
                Some("is this a playbook? Import it with import_playbook; else move the key to the play".into()),
            );
            return;
        }
        let names = modules::names();
        let kw_near = nearest(raw, TASK_KEYWORDS.iter().chain(LOOP_KEYS).copied());
        let mod_near = mod_near.map(|n| {
            (
                n,
                crate::names::strsim(&n.to_lowercase(), &raw.to_lowercase()),
            )
        });
        let module_first = match (kw_near, mod_near) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((_, dk)), Some((_, dm))) => dm < dk,
        };
        if maybe_module && module_first {
            let hint = match did_you_mean(mod_near) {
                Some(h) => h,
                None => {
                    let mut n = names.clone();
                    n.sort();
                    format!("opsctl's modules: {}", n.join(", "))
                }
            };
            self.err(
                k.location(file),
                format!("unknown module '{raw}'"),
                Some(hint),
            );
        } else {
            let near = match (kw_near, mod_near) {
                (Some(a), Some(b)) => Some(if b.1 < a.1 { b } else { a }),
                (a, b) => a.or(b),
            };
            let hint = did_you_mean(near).unwrap_or_else(|| {
                "not a task keyword nor a module opsctl knows; task keywords are name, when, loop, register, notify, become, tags, vars, ... (each task has one module)".into()
            });
            self.err(
                k.location(file),
                format!("unknown task keyword '{raw}'"),
                Some(hint),
            );
        }
    }

    /// The fields every task kind shares: inherited keywords plus name, loop,
    /// register, notify...
    pub(super) fn fill(&mut self, t: &mut Task, kw: &Kw, file: &Path, inh: Inherited) {
        t.when = inh.when;
        t.tags = inh.tags;
        t.vars = inh.vars;
        t.become_ = inh.become_;
        t.become_user = inh.become_user;
        t.environment = inh.environment;
        t.ignore_errors = inh.ignore_errors;
        t.ignore_unreachable = inh.ignore_unreachable;
        t.check_mode = inh.check_mode;
        t.diff = inh.diff;
        t.no_log = inh.no_log;
        t.delegate_to = inh.delegate_to;
        t.run_once = inh.run_once;
        t.any_errors_fatal = inh.any_errors_fatal;
        t.remote_user = inh.remote_user;
        t.timeout = inh.timeout;
        t.throttle = inh.throttle;
        for e in kw.iter() {
            match e.name.as_str() {
                "name" => t.name = self.string(e, file),
                "register" => match e.value.as_str() {
                    Some(r) if is_identifier(r) => t.register = Some(r.to_string()),
                    Some(r) => self.err(
                        e.loc(file),
                        format!("invalid variable name '{r}' for register"),
                        Some(
                            "variable names are letters, digits and '_', not starting with a digit"
                                .into(),
                        ),
                    ),
                    None => self.type_error(e, file, "a variable name"),
                },
                "changed_when" => t.changed_when = self.conditions(e, file),
                "failed_when" => t.failed_when = self.conditions(e, file),
                "until" => t.until = self.conditions(e, file),
                "retries" => t.retries = self.count(e, file),
                "delay" => t.delay = self.count(e, file),
                "notify" => {
                    t.notify = self.names(e, file);
                    self.record_notify(e, file);
                }
                "listen" => t.listen = self.names(e, file),
                _ => {}
            }
        }
        self.loop_fields(t, kw, file);
    }

    fn record_notify(&mut self, e: &Entry, file: &Path) {
        let items: Vec<&Node> = match &e.value.value {
            NodeValue::Seq(items) => items.iter().collect(),
            _ => vec![e.value],
        };
        for item in items {
            if let Some(s) = item.as_str()
                && !is_template(s)
            {
                self.play.notify.push((s.to_string(), item.location(file)));
            }
        }
    }

    fn loop_fields(&mut self, t: &mut Task, kw: &Kw, file: &Path) {
        let loops: Vec<&Entry> = kw
            .iter()
            .filter(|e| LOOP_KEYS.contains(&e.name.as_str()))
            .collect();
        if loops.len() > 1 {
            self.err(
                loops[1].loc(file),
                format!(
                    "a task has one loop; '{}' and '{}' are both given",
                    loops[0].name, loops[1].name
                ),
                Some("keep one of them (loop: is the usual form)".into()),
            );
        }
        if let Some(e) = loops.first() {
            let v = e.value;
            let bad_hint = match &v.value {
                NodeValue::Map(_) => {
                    "to loop over a mapping write loop: \"{{ x | dict2items }}\" or use with_dict"
                }
                NodeValue::Str(_) => "to loop over a variable write loop: \"{{ name }}\"",
                _ => "give a list (- a, - b) or a template giving one",
            };
            let bad = |l: &mut Loader, expected: &str| {
                l.err(
                    e.loc(file),
                    format!("'{}' must be {expected}, found {}", e.name, v.kind_name()),
                    Some(bad_hint.into()),
                );
            };
            let lookup = e
                .name
                .strip_prefix("with_")
                .and_then(|n| LOOKUP_LOOPS.iter().find(|l| **l == n));
            match (e.name.as_str(), &v.value) {
                (_, NodeValue::Null) if lookup.is_some() => bad(
                    self,
                    "the terms of the lookup (a list, a string or a mapping)",
                ),
                _ if lookup.is_some() => {
                    t.loop_ = Some(v.to_json());
                    t.loop_kind = LoopKind::Lookup(lookup.copied().unwrap_or_default());
                }
                ("loop" | "with_list", NodeValue::Seq(_)) => t.loop_ = Some(v.to_json()),
                ("loop" | "with_list" | "with_items" | "with_dict", NodeValue::Str(s))
                    if is_template(s) =>
                {
                    t.loop_ = Some(Json::String(s.clone()));
                    t.loop_kind = match e.name.as_str() {
                        "with_items" => LoopKind::Items,
                        "with_dict" => LoopKind::Dict,
                        _ => LoopKind::Loop,
                    };
                }
                ("loop" | "with_list", _) => bad(self, "a list or a template giving one"),
                ("with_items", NodeValue::Seq(_)) => {
                    let items = v.to_json();
                    if has_template(&items) {
                        t.loop_ = Some(items);
                        t.loop_kind = LoopKind::Items;
                    } else {
                        t.loop_ = super::finish_loop(LoopKind::Items, items)
                            .ok()
                            .map(Json::Array);
                    }
                }
                (
                    "with_items",
                    NodeValue::Str(_)
                    | NodeValue::Int(_)
                    | NodeValue::Float(_)
                    | NodeValue::Bool(_),
                ) => t.loop_ = Some(Json::Array(vec![v.to_json()])),
                ("with_items", _) => bad(self, "a list or a template giving one"),
                ("with_dict", NodeValue::Map(_)) => {
                    t.loop_ = super::finish_loop(LoopKind::Dict, v.to_json())
                        .ok()
                        .map(Json::Array);
                }
                _ => bad(self, "a mapping or a template giving one"),
            }
        }
        // Without a loop, loop_control is ignored, as in Ansible.
        if let Some(e) = kw.get("loop_control") {
            match e.value.as_map() {
                Some(map) => t.loop_control = self.loop_control(map, file),
                None => self.type_error(e, file, "a mapping"),
            }
        }
    }

    fn loop_control(&mut self, map: &[(Node, Node)], file: &Path) -> LoopControl {
        let mut lc = LoopControl::default();
        for e in Kw::from_map(map).iter() {
            let what = || format!("loop_control.{}", e.name);
            match e.name.as_str() {
                "loop_var" | "index_var" => match e.value.as_str() {
                    Some(s) if is_identifier(s) => {
                        if e.name == "loop_var" {
                            lc.loop_var = s.to_string();
                        } else {
                            lc.index_var = Some(s.to_string());
                        }
                    }
                    _ => self.err(
                        e.loc(file),
                        format!("{} must be a variable name", what()),
                        Some(
                            "variable names are letters, digits and '_', not starting with a digit"
                                .into(),
                        ),
                    ),
                },
                "label" => {
                    if let Some(s) = self.string(e, file) {
                        lc.label = Some(s);
                    }
                }
                "pause" => match &e.value.value {
                    NodeValue::Int(i) if *i >= 0 => lc.pause = Some(*i as f64),
                    NodeValue::Float(f) if *f >= 0.0 => lc.pause = Some(*f),
                    _ => self.err(
                        e.loc(file),
                        format!(
                            "{} must be a number of seconds, found {}",
                            what(),
                            e.value.kind_name()
                        ),
                        Some("pause: 2".into()),
                    ),
                },
                "extended" => lc.extended = self.literal_bool(e, file).unwrap_or(false),
                "extended_allitems" => {
                    self.literal_bool(e, file);
                }
                other => {
                    let hint = did_you_mean(nearest(other, LOOP_CONTROL_KEYS.iter().copied()))
                        .unwrap_or_else(|| format!("valid keys: {}", LOOP_CONTROL_KEYS.join(", ")));
                    self.err(
                        e.loc(file),
                        format!("unknown loop_control key '{other}'"),
                        Some(hint),
                    );
                }
            }
        }
        lc
    }

    fn meta(&mut self, kw: &Kw, action: &ActionKey, cx: &Cx, location: Location) -> Vec<Task> {
        let file = cx.file;
        const SUPPORTED: &[&str] = &[
            "flush_handlers",
            "end_play",
            "end_host",
            "end_role",
            "end_batch",
            "clear_facts",
            "clear_host_errors",
            "reset_connection",
            "refresh_inventory",
            "noop",
        ];
        if !self.only(
            kw,
            &[META_KEYWORDS],
            "meta",
            "meta takes name, when and tags",
            file,
        ) {
            return Vec::new();
        }
        let value = action.value.as_str().map(str::trim);
        let act = match value {
            Some("flush_handlers") => Action::FlushHandlers,
            Some("end_play") => Action::EndPlay,
            Some("end_host") => Action::EndHost,
            Some("end_role") if cx.role.is_none() => {
                self.err(
                    action.value.location(file),
                    "meta: end_role outside a role: it ends the current role's tasks",
                    Some("use meta: end_host (or end_play) outside a role".into()),
                );
                return Vec::new();
            }
            Some("end_role") => Action::EndRole,
            Some("noop") => Action::Noop,
            Some("end_batch") => Action::EndBatch,
            Some("clear_facts") => Action::ClearFacts,
            Some("clear_host_errors") => Action::ClearHostErrors,
            Some("reset_connection") => Action::ResetConnection,
            Some("refresh_inventory") => Action::RefreshInventory,
            Some(other) => {
                let hint = match did_you_mean(nearest(other, SUPPORTED.iter().copied())) {
                    Some(h) => h,
                    None => format!("opsctl supports meta: {}", SUPPORTED.join(", ")),
                };
                self.err(
                    action.value.location(file),
                    format!("meta: '{other}' is not supported"),
                    Some(hint),
                );
                return Vec::new();
            }
            None => {
                self.err(
                    action.key.location(file),
                    format!(
                        "'meta' must be one of {}, found {}",
                        SUPPORTED.join(", "),
                        action.value.kind_name()
                    ),
                    Some("meta: flush_handlers".into()),
                );
                return Vec::new();
            }
        };
        let inh = self.inherited(kw, file);
        let mut t = Task::new(location, act, cx.role.cloned());
        self.fill(&mut t, kw, file, inh);
        vec![t]
    }
}

/// The key that says what a task does.
pub(super) struct ActionKey<'a> {
    pub name: String,
    pub key: &'a Node,
    pub value: &'a Node,
    pub def: Option<&'static ModuleDef>,
    /// A module Ansible has and opsctl does not implement: its FQCN.
    pub known: Option<String>,
}
