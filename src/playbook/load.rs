//! The loader: its state, keyword parsing and tasks.
//!
//! Every problem is pushed to `Loader::errors` and parsing goes on with the next
//! task, so one load reports every problem; a task with a bad key is dropped
//! rather than guessed at, so one mistake does not cascade into others.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Map;

use super::play::PLAY_KEYWORDS;
use super::role::RoleRef;
use super::{
    Action, Inherited, Json, LoadError, LoopControl, LoopKind, Role, Task, VarEntry, parse_kv,
    resolve_tasks_file,
};
use crate::location::{Location, display_path};
use crate::modules::{self, ModuleDef};
use crate::template::is_template;
use crate::yaml::{Node, NodeValue};

/// Every keyword a task may have (its module key aside).
pub(super) const TASK_KEYWORDS: &[&str] = &[
    "name",
    "action",
    "local_action",
    "args",
    "when",
    "loop",
    "with_items",
    "with_list",
    "with_dict",
    "loop_control",
    "register",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "notify",
    "listen",
    "become",
    "become_user",
    "become_method",
    "tags",
    "check_mode",
    "diff",
    "no_log",
    "environment",
    "delegate_to",
    "run_once",
    "vars",
    "retries",
    "delay",
    "until",
    "any_errors_fatal",
    "block",
    "rescue",
    "always",
    "import_tasks",
    "include_tasks",
    "import_role",
    "include_role",
    "meta",
    "collections",
];

/// Keywords that say what a task does (a module key does too).
const ACTION_KEYWORDS: &[&str] = &[
    "action",
    "local_action",
    "block",
    "import_tasks",
    "include_tasks",
    "import_role",
    "include_role",
    "meta",
];

/// Keywords a parent passes down to its tasks ([`Inherited`]).
pub(super) const INHERITABLE: &[&str] = &[
    "when",
    "tags",
    "vars",
    "become",
    "become_user",
    "become_method",
    "environment",
    "ignore_errors",
    "ignore_unreachable",
    "check_mode",
    "diff",
    "no_log",
    "delegate_to",
    "run_once",
    "any_errors_fatal",
];

const BLOCK_ONLY: &[&str] = &["name", "block", "rescue", "always", "collections"];
const IMPORT_ONLY: &[&str] = &["name", "collections", "import_tasks", "import_role"];
const INCLUDE_TASKS_KEYWORDS: &[&str] = &[
    "name",
    "include_tasks",
    "args",
    "when",
    "tags",
    "vars",
    "loop",
    "with_items",
    "with_list",
    "with_dict",
    "loop_control",
    "register",
    "ignore_errors",
    "no_log",
    "run_once",
    "collections",
];
const INCLUDE_ROLE_EXTRA: &[&str] = &[
    "include_role",
    "become",
    "become_user",
    "become_method",
    "environment",
    "delegate_to",
    "check_mode",
    "diff",
    "any_errors_fatal",
    "ignore_unreachable",
];
const META_KEYWORDS: &[&str] = &["name", "meta", "when", "tags", "vars", "collections"];
const LOOP_KEYS: &[&str] = &["loop", "with_items", "with_list", "with_dict"];
const LOOP_CONTROL_KEYS: &[&str] = &[
    "loop_var",
    "index_var",
    "label",
    "pause",
    "extended",
    "extended_allitems",
];

/// Ansible task keywords opsctl refuses, with why and what to do instead.
fn unsupported_task_keyword(key: &str) -> Option<(String, String)> {
    let (msg, hint): (String, &str) = match key {
        "async" | "poll" => (
            format!("'{key}' (background tasks) is not supported"),
            "run the task in the foreground; for a long-running service use a supervisor or systemd unit",
        ),
        "throttle" => (
            "'throttle' is not supported".into(),
            "limit parallelism with serial: on the play or with --forks",
        ),
        "timeout" => (
            "'timeout' is not supported on tasks".into(),
            "bound the command itself (e.g. `timeout 60 <cmd>` in shell)",
        ),
        "connection" => (
            "'connection' is not supported".into(),
            "opsctl connects over SSH, or locally to localhost; use delegate_to: localhost to run on the controller",
        ),
        "remote_user" | "port" => (
            format!("'{key}' is not supported on tasks"),
            "set ansible_user / ansible_port in the inventory",
        ),
        "delegate_facts" | "debugger" | "become_exe" | "become_flags" | "module_defaults" => (
            format!("'{key}' is not supported by opsctl"),
            "remove it (module_defaults: give the arguments on each task)",
        ),
        "import_playbook" => (
            "'import_playbook' cannot be used in a task list".into(),
            "import playbooks at the top level of a playbook: - import_playbook: other.yml",
        ),
        "include" => (
            "'include' was removed from Ansible (2.16)".into(),
            "use include_tasks (dynamic) or import_tasks (static)",
        ),
        k if k.starts_with("with_") && !LOOP_KEYS.contains(&k) => (
            format!("'{k}' is not supported"),
            "use loop: with a list, or a template giving one (with_items, with_list and with_dict are supported)",
        ),
        _ => return None,
    };
    Some((msg, hint.to_string()))
}

/// `ansible.builtin.include_tasks` is `include_tasks`.
fn control_name(key: &str) -> &str {
    for prefix in ["ansible.builtin.", "ansible.legacy."] {
        if let Some(rest) = key.strip_prefix(prefix)
            && (ACTION_KEYWORDS.contains(&rest) || rest == "import_playbook")
        {
            return rest;
        }
    }
    key
}

pub(super) use crate::names::{is_identifier, nearest};

pub(super) fn did_you_mean(near: Option<(&str, usize)>) -> Option<String> {
    near.map(|(n, _)| format!("did you mean '{n}'?"))
}

pub(super) use crate::template::has_template;

pub(super) fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// One `key: value` of a mapping, the key normalised.
#[derive(Clone)]
pub(super) struct Entry<'a> {
    pub name: String,
    pub key: &'a Node,
    pub value: &'a Node,
}

impl Entry<'_> {
    pub fn loc(&self, file: &Path) -> Location {
        self.key.location(file)
    }
}

#[derive(Default)]
pub(super) struct Kw<'a>(pub Vec<Entry<'a>>);

impl<'a> Kw<'a> {
    pub fn get(&self, name: &str) -> Option<&Entry<'a>> {
        self.0.iter().find(|e| e.name == name)
    }
    pub fn iter(&self) -> impl Iterator<Item = &Entry<'a>> {
        self.0.iter()
    }
    pub fn from_map(map: &'a [(Node, Node)]) -> Kw<'a> {
        Kw(map
            .iter()
            .map(|(k, v)| Entry {
                name: k.key_string(),
                key: k,
                value: v,
            })
            .collect())
    }
}

/// Where tasks are being read.
#[derive(Clone, Copy)]
pub(super) struct Cx<'a> {
    pub file: &'a Path,
    pub role: Option<&'a Arc<Role>>,
    pub handler: bool,
}

/// What one play has gathered so far.
#[derive(Default)]
pub(super) struct PlayState {
    pub playbook_dir: Option<PathBuf>,
    pub role_search: Vec<PathBuf>,
    /// Roles in execution order, each (directory, params) once.
    pub roles: Vec<Arc<Role>>,
    /// Handlers of the roles, once per role directory.
    pub handlers: Vec<Task>,
    pub handler_dirs: Vec<PathBuf>,
    /// Roles being expanded (canonical dir, name), for dependency cycles.
    pub role_stack: Vec<(PathBuf, String)>,
    /// Every static `notify` name and where it was written.
    pub notify: Vec<(String, Location)>,
    /// Handlers may come from a role included at run time: notify can't be checked.
    pub dynamic_handlers: bool,
}

pub(super) struct Loader {
    pub errors: Vec<LoadError>,
    pub project_root: Option<PathBuf>,
    /// Files being read (canonical path, path as given), for import cycles.
    pub file_stack: Vec<(PathBuf, PathBuf)>,
    pub play: PlayState,
    /// `include_tasks` files already checked (file, role dir).
    checked: HashSet<(PathBuf, Option<PathBuf>)>,
    /// `include_role` roles already checked.
    pub checked_roles: HashSet<PathBuf>,
}

/// Beyond this many, more errors add nothing.
const MAX_ERRORS: usize = 50;

impl Loader {
    pub fn new(project_root: Option<&Path>) -> Loader {
        Loader {
            errors: Vec::new(),
            project_root: project_root.map(Path::to_path_buf),
            file_stack: Vec::new(),
            play: PlayState::default(),
            checked: HashSet::new(),
            checked_roles: HashSet::new(),
        }
    }

    pub fn begin_play(&mut self, playbook_dir: Option<PathBuf>, role_search: Vec<PathBuf>) {
        self.play = PlayState {
            playbook_dir,
            role_search,
            ..Default::default()
        };
    }

    pub fn end_play(&mut self) -> PlayState {
        std::mem::take(&mut self.play)
    }

    pub fn finish<T>(self, value: T) -> Result<T, LoadError> {
        let mut errs: Vec<LoadError> = Vec::new();
        for e in self.errors {
            if !errs.contains(&e) {
                errs.push(e);
            }
        }
        if errs.is_empty() {
            return Ok(value);
        }
        let mut first = errs.remove(0);
        first.others = errs;
        Err(first)
    }

    pub fn err(&mut self, location: Location, message: impl Into<String>, hint: Option<String>) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(LoadError::new(location, message, hint));
        }
    }

    /// Reads a YAML file that is about to be expanded in place, refusing cycles.
    /// The caller must call [`Loader::leave`] after a `Some`.
    pub fn enter(&mut self, path: &Path, at: Option<&Location>) -> Option<Node> {
        let canon = canonical(path);
        if let Some(i) = self.file_stack.iter().position(|(c, _)| *c == canon) {
            let mut chain: Vec<String> = self.file_stack[i..]
                .iter()
                .map(|(_, p)| display_path(p))
                .collect();
            chain.push(display_path(path));
            self.err(
                at.cloned().unwrap_or_else(|| Location::file(path)),
                format!("import cycle: {}", chain.join(" -> ")),
                Some("a file cannot import itself, directly or through others; break the cycle (include_tasks with a condition can recurse at run time)".into()),
            );
            return None;
        }
        match crate::yaml::parse_file(path) {
            Ok(n) => {
                self.file_stack.push((canon, path.to_path_buf()));
                Some(n)
            }
            Err(e) => {
                self.errors.push(e.into());
                None
            }
        }
    }

    pub fn leave(&mut self) {
        self.file_stack.pop();
    }

    /// Runs `f` as a check of something loaded at run time: its roles and handlers
    /// are not part of the play, but its notify names are.
    pub fn scratch(&mut self, f: impl FnOnce(&mut Self)) {
        let fresh = PlayState {
            playbook_dir: self.play.playbook_dir.clone(),
            role_search: self.play.role_search.clone(),
            role_stack: self.play.role_stack.clone(),
            ..Default::default()
        };
        let saved = std::mem::replace(&mut self.play, fresh);
        f(self);
        let done = std::mem::replace(&mut self.play, saved);
        self.play.notify.extend(done.notify);
        self.play.dynamic_handlers |= done.dynamic_handlers || !done.handlers.is_empty();
    }

    // ---------------------------------------------------------------- values

    fn type_error(&mut self, e: &Entry, file: &Path, expected: &str) {
        let hint = match e.name.as_str() {
            "when" | "changed_when" | "failed_when" | "until" => {
                "write a Jinja expression without {{ }} (when: x == 'a'), or a list of them that must all hold; quote an expression containing ': '"
            }
            "register" => "register takes one variable name: register: result",
            "loop_control" => {
                "loop_control is a mapping, e.g. loop_control: {loop_var: site, label: \"{{ site.name }}\"}"
            }
            "notify" | "listen" => "give a handler name or a list of names",
            "tags" => "give a tag, a comma-separated string or a list of tags",
            "vars" => "vars is a mapping of name: value",
            "environment" => "environment is a mapping of NAME: value",
            "args" => "args is a mapping of the module's arguments",
            _ => "",
        };
        let hint = if hint.is_empty() {
            format!("'{}' takes {expected}", e.name)
        } else {
            hint.to_string()
        };
        self.err(
            e.loc(file),
            format!(
                "'{}' must be {expected}, found {}",
                e.name,
                e.value.kind_name()
            ),
            Some(hint),
        );
    }

    /// A scalar as text (`name: 3` is "3").
    pub fn string(&mut self, e: &Entry, file: &Path) -> Option<String> {
        match &e.value.value {
            NodeValue::Str(s) => Some(s.clone()),
            NodeValue::Int(_) | NodeValue::Float(_) | NodeValue::Bool(_) => {
                Some(e.value.key_string())
            }
            _ => {
                self.type_error(e, file, "a string");
                None
            }
        }
    }

    /// `when`-like: a string, a bool, or a list of them.
    pub fn conditions(&mut self, e: &Entry, file: &Path) -> Option<Vec<String>> {
        let one = |n: &Node| match &n.value {
            NodeValue::Str(s) if !s.trim().is_empty() => Some(s.clone()),
            NodeValue::Bool(_) | NodeValue::Int(_) | NodeValue::Float(_) => Some(n.key_string()),
            _ => None,
        };
        match &e.value.value {
            NodeValue::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    match one(item) {
                        Some(c) => out.push(c),
                        None => {
                            self.err(
                                item.location(file),
                                format!(
                                    "each condition of '{}' must be an expression, found {}",
                                    e.name,
                                    item.kind_name()
                                ),
                                Some("quote an expression containing ': '".into()),
                            );
                            return None;
                        }
                    }
                }
                Some(out)
            }
            _ => match one(e.value) {
                Some(c) => Some(vec![c]),
                None => {
                    self.type_error(e, file, "an expression or a list of expressions");
                    None
                }
            },
        }
    }

    /// A boolean, or a template deciding it at run time.
    pub fn flag(&mut self, e: &Entry, file: &Path) -> Option<Json> {
        match &e.value.value {
            NodeValue::Bool(b) => Some(Json::Bool(*b)),
            NodeValue::Str(s) if is_template(s) => Some(Json::String(s.clone())),
            NodeValue::Str(_) | NodeValue::Int(_) => {
                match crate::runner::as_bool(&e.value.to_json()) {
                    Some(b) => Some(Json::Bool(b)),
                    None => {
                        self.type_error(e, file, "a boolean (true/false) or a template");
                        None
                    }
                }
            }
            _ => {
                self.type_error(e, file, "a boolean (true/false) or a template");
                None
            }
        }
    }

    /// A literal boolean.
    pub fn literal_bool(&mut self, e: &Entry, file: &Path) -> Option<bool> {
        match self.flag(e, file)? {
            Json::Bool(b) => Some(b),
            _ => {
                self.type_error(e, file, "true or false (not a template)");
                None
            }
        }
    }

    /// A non-negative integer or a template.
    fn count(&mut self, e: &Entry, file: &Path) -> Option<Json> {
        match &e.value.value {
            NodeValue::Int(i) if *i >= 0 => Some(Json::from(*i)),
            NodeValue::Str(s) if is_template(s) => Some(Json::String(s.clone())),
            NodeValue::Str(s) if s.trim().parse::<u32>().is_ok() => {
                Some(Json::from(s.trim().parse::<u32>().unwrap_or(0)))
            }
            _ => {
                self.type_error(e, file, "a non-negative integer or a template");
                None
            }
        }
    }

    /// Names: a string or a list of strings (`notify`, `listen`).
    fn names(&mut self, e: &Entry, file: &Path) -> Vec<String> {
        match &e.value.value {
            NodeValue::Str(s) => vec![s.clone()],
            NodeValue::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item.as_str() {
                        Some(s) => out.push(s.to_string()),
                        None => self.err(
                            item.location(file),
                            format!(
                                "each name in '{}' must be a string, found {}",
                                e.name,
                                item.kind_name()
                            ),
                            Some("give handler names as strings".into()),
                        ),
                    }
                }
                out
            }
            _ => {
                self.type_error(e, file, "a name or a list of names");
                Vec::new()
            }
        }
    }

    /// Tags: a string (comma-separated), a number, or a list.
    pub fn tags(&mut self, e: &Entry, file: &Path) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |t: &str| {
            let t = t.trim();
            if !t.is_empty() && !out.iter().any(|o| o == t) {
                out.push(t.to_string());
            }
        };
        match &e.value.value {
            NodeValue::Str(s) => s.split(',').for_each(&mut push),
            NodeValue::Int(_) | NodeValue::Float(_) => push(&e.value.key_string()),
            NodeValue::Seq(items) => {
                for item in items {
                    match &item.value {
                        NodeValue::Str(s) => push(s),
                        NodeValue::Int(_) | NodeValue::Float(_) => push(&item.key_string()),
                        _ => {
                            let msg =
                                format!("each tag must be a string, found {}", item.kind_name());
                            self.err(item.location(file), msg, Some("tags: [web, deploy]".into()));
                        }
                    }
                }
            }
            _ => self.type_error(e, file, "a tag or a list of tags"),
        }
        out
    }

    /// Variables: a mapping (or a list of mappings), names checked.
    pub fn var_entries(&mut self, node: &Node, file: &Path, what: &str) -> Vec<VarEntry> {
        let mut out = Vec::new();
        let maps: Vec<&Node> = match &node.value {
            NodeValue::Null => return out,
            NodeValue::Map(_) => vec![node],
            NodeValue::Seq(items) if items.iter().all(|i| i.as_map().is_some()) => {
                items.iter().collect()
            }
            _ => {
                self.err(
                    node.location(file),
                    format!(
                        "{what} must be a mapping of name: value, found {}",
                        node.kind_name()
                    ),
                    Some("write one variable per line: `name: value`".into()),
                );
                return out;
            }
        };
        for m in maps {
            for (k, v) in m.as_map().unwrap_or_default() {
                let name = k.key_string();
                if !is_identifier(&name) {
                    self.err(
                        k.location(file),
                        format!("invalid variable name '{name}'"),
                        Some(
                            "variable names are letters, digits and '_', not starting with a digit"
                                .into(),
                        ),
                    );
                    continue;
                }
                out.push(VarEntry {
                    name,
                    value: v.to_json(),
                    location: k.location(file),
                });
            }
        }
        out
    }

    fn environment(&mut self, e: &Entry, file: &Path) -> Option<Json> {
        let maps: Vec<&Node> = match &e.value.value {
            NodeValue::Str(s) if is_template(s) => return Some(Json::String(s.clone())),
            NodeValue::Map(_) => vec![e.value],
            NodeValue::Seq(items) if items.iter().all(|i| i.as_map().is_some()) => {
                items.iter().collect()
            }
            _ => {
                self.type_error(e, file, "a mapping of NAME: value (or a template)");
                return None;
            }
        };
        let mut out = Map::new();
        for m in maps {
            for (k, v) in m.as_map().unwrap_or_default() {
                match &v.value {
                    NodeValue::Map(_) | NodeValue::Seq(_) => self.err(
                        v.location(file),
                        format!(
                            "environment variable '{}' must be a string, found {}",
                            k.key_string(),
                            v.kind_name()
                        ),
                        Some("environment values are strings (or templates)".into()),
                    ),
                    _ => {
                        out.insert(k.key_string(), v.to_json());
                    }
                }
            }
        }
        Some(Json::Object(out))
    }

    pub fn become_method(&mut self, e: &Entry, file: &Path) {
        if let Some(m) = self.string(e, file)
            && m != "sudo"
        {
            self.err(
                e.loc(file),
                format!("become_method '{m}' is not supported"),
                Some("opsctl becomes another user with sudo only: remove become_method or set it to sudo".into()),
            );
        }
    }

    /// The keywords a parent passes down.
    pub fn inherited(&mut self, kw: &Kw, file: &Path) -> Inherited {
        let mut inh = Inherited::default();
        for e in kw.iter() {
            match e.name.as_str() {
                "when" => inh.when = self.conditions(e, file).unwrap_or_default(),
                "tags" => inh.tags = self.tags(e, file),
                "vars" => inh.vars = self.var_entries(e.value, file, "vars"),
                "become" => inh.become_ = self.flag(e, file),
                "become_user" => inh.become_user = self.string(e, file),
                "become_method" => self.become_method(e, file),
                "environment" => inh.environment = self.environment(e, file),
                "ignore_errors" => inh.ignore_errors = self.flag(e, file),
                "ignore_unreachable" => inh.ignore_unreachable = self.flag(e, file),
                "check_mode" => inh.check_mode = self.flag(e, file),
                "diff" => inh.diff = self.flag(e, file),
                "no_log" => inh.no_log = self.flag(e, file),
                "delegate_to" => inh.delegate_to = self.string(e, file),
                "run_once" => inh.run_once = self.flag(e, file),
                "any_errors_fatal" => inh.any_errors_fatal = self.literal_bool(e, file),
                _ => {}
            }
        }
        inh
    }

    /// Reports every keyword of `kw` not in `allowed`.
    fn only(&mut self, kw: &Kw, allowed: &[&[&str]], what: &str, hint: &str, file: &Path) -> bool {
        let mut ok = true;
        for e in kw.iter() {
            if !allowed.iter().any(|a| a.contains(&e.name.as_str())) {
                self.err(
                    e.loc(file),
                    format!("'{}' cannot be used on {what}", e.name),
                    Some(hint.to_string()),
                );
                ok = false;
            }
        }
        ok
    }

    // ----------------------------------------------------------------- tasks

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
        let mut unknown: Vec<(&Node, String)> = Vec::new();
        let mut bad = false;
        for (k, v) in map {
            let raw = k.key_string();
            let name = control_name(&raw).to_string();
            if let Some((msg, hint)) = unsupported_task_keyword(&name) {
                self.err(k.location(file), msg, Some(hint));
                bad = true;
            } else if TASK_KEYWORDS.contains(&name.as_str()) {
                if ACTION_KEYWORDS.contains(&name.as_str()) {
                    actions.push(ActionKey {
                        name: name.clone(),
                        key: k,
                        value: v,
                        def: None,
                    });
                }
                kw.0.push(Entry {
                    name,
                    key: k,
                    value: v,
                });
            } else if let Some(def) = modules::find(&raw) {
                actions.push(ActionKey {
                    name: raw,
                    key: k,
                    value: v,
                    def: Some(def),
                });
            } else {
                unknown.push((k, raw));
            }
        }
        let lone = actions.is_empty() && unknown.len() == 1;
        for (k, raw) in &unknown {
            self.unknown_task_key(k, raw, lone, file);
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
        let out = match action.name.as_str() {
            "block" => self.block(&kw, cx, location),
            "import_tasks" => return self.import_tasks(&kw, &action, cx),
            "include_tasks" => self.include_tasks(&kw, &action, cx, location),
            "import_role" => return self.role_task(&kw, &action, cx, location, true),
            "include_role" => self.role_task(&kw, &action, cx, location, false),
            "meta" => self.meta(&kw, &action, cx, location),
            _ => self.module_task(&kw, &action, cx, location),
        };
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

    fn unknown_task_key(&mut self, k: &Node, raw: &str, maybe_module: bool, file: &Path) {
        if PLAY_KEYWORDS.contains(&raw) && !TASK_KEYWORDS.contains(&raw) {
            self.err(
                k.location(file),
                format!("'{raw}' is a play keyword, not a task keyword"),
                Some("is this a playbook? Import it with import_playbook; else move the key to the play".into()),
            );
            return;
        }
        let names = modules::names();
        let kw_near = nearest(raw, TASK_KEYWORDS.iter().copied());
        let mod_near = nearest(raw, names.iter().copied());
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
    fn fill(&mut self, t: &mut Task, kw: &Kw, file: &Path, inh: Inherited) {
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
            match (e.name.as_str(), &v.value) {
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
        if let Some(e) = kw.get("loop_control") {
            if loops.is_empty() {
                self.err(
                    e.loc(file),
                    "'loop_control' without a loop",
                    Some("add loop: to the task, or remove loop_control".into()),
                );
            }
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

    // --------------------------------------------------------------- actions

    fn module_task(
        &mut self,
        kw: &Kw,
        action: &ActionKey,
        cx: &Cx,
        location: Location,
    ) -> Vec<Task> {
        let file = cx.file;
        let at = action.key.location(file);
        let (def, inline, local) = match action.name.as_str() {
            "action" | "local_action" => {
                let Some((def, args)) = self.action_form(action, file) else {
                    return Vec::new();
                };
                (def, args, action.name == "local_action")
            }
            _ => {
                let def = action.def.expect("module key has a module");
                let Some(args) = self.args_from_node(def, action.value, file) else {
                    return Vec::new();
                };
                (def, args, false)
            }
        };
        if local && let Some(e) = kw.get("delegate_to") {
            self.err(
                e.loc(file),
                "local_action already runs on localhost: 'delegate_to' conflicts with it",
                Some(
                    "remove delegate_to, or write the module as a normal task with delegate_to"
                        .into(),
                ),
            );
            return Vec::new();
        }
        let mut raw = Map::new();
        if let Some(e) = kw.get("args") {
            match &e.value.value {
                NodeValue::Null => {}
                NodeValue::Map(_) => {
                    if let Json::Object(m) = e.value.to_json() {
                        raw = m;
                    }
                }
                _ => {
                    self.type_error(e, file, "a mapping");
                    return Vec::new();
                }
            }
        }
        // Arguments written with the module win over `args:`, as in Ansible.
        raw.extend(inline);
        let args = match def.spec.validate(&raw, false) {
            Ok(a) => a.values,
            Err(msg) => {
                let mut names: Vec<&str> = def.spec.args.iter().map(|a| a.name).collect();
                names.sort();
                let hint = if def.spec.free_form {
                    format!(
                        "{} takes a command line and the arguments: {}",
                        def.spec.name,
                        names.join(", ")
                    )
                } else {
                    format!("{} arguments: {}", def.spec.name, names.join(", "))
                };
                self.err(at, msg, Some(hint));
                return Vec::new();
            }
        };
        let inh = self.inherited(kw, file);
        let mut t = Task::new(location, Action::Module { def, args }, cx.role.cloned());
        self.fill(&mut t, kw, file, inh);
        if local {
            t.delegate_to = Some("localhost".into());
        }
        vec![t]
    }

    /// `action: copy src=a dest=b` or `action: {module: copy, src: a}`.
    fn action_form(
        &mut self,
        action: &ActionKey,
        file: &Path,
    ) -> Option<(&'static ModuleDef, Map<String, Json>)> {
        let v = action.value;
        let unknown = |l: &mut Loader, name: &str, at: Location| {
            let names = modules::names();
            let hint = did_you_mean(nearest(name, names.iter().copied()))
                .unwrap_or_else(|| format!("opsctl's modules: {}", names.join(", ")));
            l.err(at, format!("unknown module '{name}'"), Some(hint));
        };
        match &v.value {
            NodeValue::Str(s) => {
                let s = s.trim_start();
                let (name, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
                let Some(def) = modules::find(name) else {
                    unknown(self, name, v.location(file));
                    return None;
                };
                let args = if rest.trim().is_empty() {
                    Map::new()
                } else {
                    self.args_from_str(def, rest.trim_start(), v.location(file))?
                };
                Some((def, args))
            }
            NodeValue::Map(_) => {
                let Some(name_node) = v.get("module") else {
                    self.err(
                        action.key.location(file),
                        format!("'{}' as a mapping needs 'module:'", action.name),
                        Some(format!(
                            "{}: {{module: copy, src: a, dest: /b}}",
                            action.name
                        )),
                    );
                    return None;
                };
                let Some(name) = name_node.as_str() else {
                    self.err(
                        name_node.location(file),
                        "'module' must be a module name",
                        None,
                    );
                    return None;
                };
                let Some(def) = modules::find(name) else {
                    unknown(self, name, name_node.location(file));
                    return None;
                };
                let mut args = match v.to_json() {
                    Json::Object(m) => m,
                    _ => Map::new(),
                };
                args.remove("module");
                Some((def, args))
            }
            _ => {
                self.err(
                    action.key.location(file),
                    format!(
                        "'{}' must be a string or a mapping, found {}",
                        action.name,
                        v.kind_name()
                    ),
                    Some(format!("{}: copy src=a dest=/b", action.name)),
                );
                None
            }
        }
    }

    fn args_from_node(
        &mut self,
        def: &'static ModuleDef,
        v: &Node,
        file: &Path,
    ) -> Option<Map<String, Json>> {
        match &v.value {
            NodeValue::Null => Some(Map::new()),
            NodeValue::Map(_) => match v.to_json() {
                Json::Object(m) => Some(m),
                _ => Some(Map::new()),
            },
            NodeValue::Str(s) => self.args_from_str(def, s, v.location(file)),
            NodeValue::Int(_) | NodeValue::Float(_) | NodeValue::Bool(_) if def.spec.free_form => {
                let mut m = Map::new();
                m.insert("_raw_params".into(), Json::String(v.key_string()));
                Some(m)
            }
            _ => {
                let what = if def.spec.free_form {
                    "a command line or a mapping"
                } else {
                    "a mapping or key=value text"
                };
                self.err(
                    v.location(file),
                    format!(
                        "arguments of {} must be {what}, found {}",
                        def.spec.name,
                        v.kind_name()
                    ),
                    Some(format!(
                        "write the arguments as a mapping under `{}:`",
                        def.spec.name
                    )),
                );
                None
            }
        }
    }

    fn args_from_str(
        &mut self,
        def: &'static ModuleDef,
        s: &str,
        at: Location,
    ) -> Option<Map<String, Json>> {
        let names: Vec<&str> = def.spec.args.iter().map(|a| a.name).collect();
        let free = def.spec.free_form.then_some(names.as_slice());
        match parse_kv(s, free) {
            Ok(m) => Some(m),
            Err(msg) => {
                let extra = if def.spec.free_form {
                    ""
                } else {
                    &format!("; {} takes no free-form text", def.spec.name)
                };
                self.err(
                    at,
                    format!("{}: {msg}{extra}", def.spec.name),
                    Some(format!(
                        "write `key=value` pairs, or the arguments as a mapping under `{}:`",
                        def.spec.name
                    )),
                );
                None
            }
        }
    }

    fn block(&mut self, kw: &Kw, cx: &Cx, location: Location) -> Vec<Task> {
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
        let inh = self.inherited(kw, file);
        let mut block = self.task_list(kw.get("block"), cx);
        let mut rescue = self.task_list(kw.get("rescue"), cx);
        let mut always = self.task_list(kw.get("always"), cx);
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

    fn import_tasks(&mut self, kw: &Kw, action: &ActionKey, cx: &Cx) -> Vec<Task> {
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
        let mut tasks =
            self.tasks_file(&path, cx.role, cx.handler, Some(&action.key.location(file)));
        inh.apply_to(&mut tasks);
        tasks
    }

    fn include_tasks(
        &mut self,
        kw: &Kw,
        action: &ActionKey,
        cx: &Cx,
        location: Location,
    ) -> Vec<Task> {
        let file = cx.file;
        if !self.only(
            kw,
            &[INCLUDE_TASKS_KEYWORDS],
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
        if !is_template(&name) {
            let path = self.resolve(&name, cx, &at, "include_tasks");
            if let Some(path) = path {
                self.check_included_file(&path, cx, &action.key.location(file));
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
        let (role, handler) = (cx.role, cx.handler);
        self.scratch(|l| {
            l.tasks_file(path, role, handler, Some(at));
        });
    }

    /// import_role (static: expanded here) and include_role (dynamic).
    fn role_task(
        &mut self,
        kw: &Kw,
        action: &ActionKey,
        cx: &Cx,
        location: Location,
        import: bool,
    ) -> Vec<Task> {
        let file = cx.file;
        let what = action.name.as_str();
        let ok = if import {
            self.only(
                kw,
                &[IMPORT_ONLY, INHERITABLE],
                what,
                "import_role is static (expanded when the playbook is loaded); use include_role for loops or register",
                file,
            )
        } else {
            self.only(
                kw,
                &[INCLUDE_TASKS_KEYWORDS, INCLUDE_ROLE_EXTRA],
                what,
                "include_role takes name, when, tags, vars, loop, loop_control, register, become, environment, delegate_to...",
                file,
            )
        };
        if !ok {
            return Vec::new();
        }
        let Some((name, name_at, tasks_from)) = self.role_args(action, kw, file) else {
            return Vec::new();
        };
        if import {
            if is_template(&name) || tasks_from.as_deref().is_some_and(is_template) {
                self.err(
                    name_at,
                    "import_role is static: its name and tasks_from cannot use variables",
                    Some("use include_role to choose the role at run time".into()),
                );
                return Vec::new();
            }
            let mut inh = self.inherited(kw, file);
            let params = std::mem::take(&mut inh.vars);
            let r = RoleRef {
                name,
                location: name_at,
                params,
                inherit: inh,
                tasks_from,
            };
            let (_, tasks) = self.expand_role(r, false);
            return tasks;
        }
        self.play.dynamic_handlers = true;
        if !is_template(&name) {
            self.check_included_role(&name, &name_at, tasks_from.as_deref());
        }
        let inh = self.inherited(kw, file);
        let mut t = Task::new(
            location,
            Action::IncludeRole { name, tasks_from },
            cx.role.cloned(),
        );
        self.fill(&mut t, kw, file, inh);
        vec![t]
    }

    /// `name:` and `tasks_from:` of include_role/import_role (a mapping, `args:`,
    /// or `name=x tasks_from=y`).
    fn role_args(
        &mut self,
        action: &ActionKey,
        kw: &Kw,
        file: &Path,
    ) -> Option<(String, Location, Option<String>)> {
        let what = action.name.as_str();
        // (key, value, where the key is, where the value is)
        let mut pairs: Vec<(String, Json, Location, Location)> = Vec::new();
        match &action.value.value {
            NodeValue::Map(m) => {
                for (k, v) in m {
                    pairs.push((
                        k.key_string(),
                        v.to_json(),
                        k.location(file),
                        v.location(file),
                    ));
                }
            }
            NodeValue::Str(s) if s.contains('=') => match parse_kv(s, None) {
                Ok(m) => {
                    let at = action.value.location(file);
                    for (k, v) in m {
                        pairs.push((k, v, at.clone(), at.clone()));
                    }
                }
                Err(msg) => {
                    self.err(action.value.location(file), format!("{what}: {msg}"), None);
                    return None;
                }
            },
            NodeValue::Str(s) => pairs.push((
                "name".into(),
                Json::String(s.clone()),
                action.value.location(file),
                action.value.location(file),
            )),
            NodeValue::Null => {}
            _ => {
                self.type_error(
                    &Entry {
                        name: what.to_string(),
                        key: action.key,
                        value: action.value,
                    },
                    file,
                    "a mapping with name:",
                );
                return None;
            }
        }
        if let Some(e) = kw.get("args") {
            match e.value.as_map() {
                Some(m) => {
                    for (k, v) in m {
                        pairs.push((
                            k.key_string(),
                            v.to_json(),
                            k.location(file),
                            v.location(file),
                        ));
                    }
                }
                None => {
                    self.type_error(e, file, "a mapping");
                    return None;
                }
            }
        }
        let mut name = None;
        let mut tasks_from = None;
        let mut ok = true;
        for (k, v, at, vat) in pairs {
            let text = match &v {
                Json::String(s) => Some(s.clone()),
                _ => None,
            };
            match k.as_str() {
                "name" | "role" => match text {
                    Some(s) => name = Some((s, vat)),
                    None => {
                        self.err(vat, format!("{what}: 'name' must be a role name"), None);
                        ok = false;
                    }
                },
                "tasks_from" => match text {
                    Some(s) => tasks_from = Some(s),
                    None => {
                        self.err(
                            vat,
                            format!("{what}: 'tasks_from' must be a file name"),
                            None,
                        );
                        ok = false;
                    }
                },
                "vars_from" | "defaults_from" | "handlers_from" | "public" | "allow_duplicates"
                | "rolespec_validate" | "apply" => {
                    self.err(
                        at,
                        format!("{what}: '{k}' is not supported"),
                        Some(format!("{what} takes name and tasks_from; put keywords on the {what} task itself")),
                    );
                    ok = false;
                }
                other => {
                    let hint = did_you_mean(nearest(other, ["name", "tasks_from"]))
                        .unwrap_or_else(|| format!("{what} takes name and tasks_from"));
                    self.err(
                        at,
                        format!("unknown argument '{other}' for {what}"),
                        Some(hint),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        match name {
            Some((n, at)) if !n.trim().is_empty() => Some((n, at, tasks_from)),
            _ => {
                self.err(
                    action.key.location(file),
                    format!("{what} needs the role's name"),
                    Some(format!("{what}:\n  name: nginx")),
                );
                None
            }
        }
    }

    fn meta(&mut self, kw: &Kw, action: &ActionKey, cx: &Cx, location: Location) -> Vec<Task> {
        let file = cx.file;
        const SUPPORTED: &[&str] = &["flush_handlers", "end_play", "end_host", "noop"];
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
            Some("noop") => Action::Noop,
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
}
