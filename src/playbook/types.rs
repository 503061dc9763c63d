//! What the loader builds: [`Playbook`], [`Play`], [`Role`], [`Task`] and its
//! [`Action`], loops, the keywords a task inherits ([`Inherited`]), and
//! [`LoadError`]. Plain data (and the pure helpers on it): nothing here reads
//! a file, so both the loader and the engine import it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::location::Location;
use crate::modules::ModuleDef;

/// A loaded playbook: its plays in order, `import_playbook` entries expanded.
#[derive(Debug, Clone)]
pub struct Playbook {
    pub path: PathBuf,
    pub plays: Vec<Play>,
    /// What loads but may fail when reached: modules, filters, tests and lookups
    /// Ansible has and opsctl does not implement, roles `include_role` names that
    /// are absent under a condition. Shown before a run; `--strict` makes them
    /// errors ([`Playbook::strict`]).
    pub warnings: Vec<LoadError>,
}

impl Playbook {
    /// `--strict`: the warnings as one load error (every one listed).
    pub fn strict(self) -> Result<Playbook, LoadError> {
        let mut all = self.warnings.clone();
        let Some(last) = all.last_mut() else {
            return Ok(self);
        };
        last.hint.get_or_insert_with(|| STRICT_HINT.into());
        let mut first = all.remove(0);
        first.others = all;
        Err(first)
    }
}

const STRICT_HINT: &str = "--strict refuses what opsctl would only fail when reached; run without --strict to run the rest";

/// One play.
#[derive(Debug, Clone)]
pub struct Play {
    pub name: Option<String>,
    /// The play's first key.
    pub location: Location,
    /// The host pattern (a list is joined with ',').
    pub hosts: String,
    /// Play vars in order (vars of an `import_playbook` entry first).
    pub vars: Vec<VarEntry>,
    /// `vars_files` as written (may be templates), relative to [`Play::dir`]:
    /// each entry a list of alternatives (one for a plain file name), the first
    /// that exists is read.
    pub vars_files: Vec<(Vec<String>, Location)>,
    pub become_: Option<Json>,
    pub become_user: Option<String>,
    /// `remote_user`: the SSH user for hosts whose inventory sets no `ansible_user`.
    pub remote_user: Option<String>,
    /// A boolean or a template string.
    pub gather_facts: Option<Json>,
    /// `gather_subset` (checked when loaded; empty: `all`).
    pub gather_subset: Vec<String>,
    /// `fact_path`: where local facts are (default `/etc/ansible/facts.d`).
    pub fact_path: Option<String>,
    /// `gather_timeout`: seconds each slow fact source may take (default 10).
    pub gather_timeout: Option<u64>,
    /// An integer, a percentage string, a list of those, or a template.
    pub serial: Option<Json>,
    pub max_fail_percentage: Option<f64>,
    pub any_errors_fatal: bool,
    pub environment: Option<Json>,
    /// The play's own tags (already merged into its tasks).
    pub tags: Vec<String>,
    pub check_mode: Option<Json>,
    pub diff: Option<Json>,
    /// Play-level `ignore_errors`, the default of its tasks.
    pub ignore_errors: Option<Json>,
    pub pre_tasks: Vec<Task>,
    /// Role tasks first (roles run after pre_tasks and before the play's tasks), then
    /// the play's own tasks.
    pub tasks: Vec<Task>,
    pub post_tasks: Vec<Task>,
    /// Every role's handlers (in the order the roles were loaded), then the play's.
    pub handlers: Vec<Task>,
    /// The roles of this play (meta dependencies and `import_role` included), in
    /// execution order, each once.
    pub roles: Vec<Arc<Role>>,
    /// The directory of the file the play is written in (Ansible's `playbook_dir`).
    pub dir: PathBuf,
    /// Where roles are looked up: `<dir>/roles`, then `<project root>/roles`.
    pub role_search: Vec<PathBuf>,
}

impl Play {
    /// What [`load_tasks_file_with`] needs to resolve paths and roles at run time.
    pub fn include_context(&self) -> IncludeContext {
        IncludeContext {
            playbook_dir: Some(self.dir.clone()),
            role_search: self.role_search.clone(),
        }
    }
}

/// A variable with the position of its name.
#[derive(Debug, Clone, PartialEq)]
pub struct VarEntry {
    pub name: String,
    pub value: Json,
    pub location: Location,
}

/// A role as loaded for one play (a role used twice with different parameters is
/// two `Role`s).
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub dir: PathBuf,
    /// `defaults/main.yml` (or `main.yaml`, or every file of `defaults/main/`).
    pub defaults: Vec<VarEntry>,
    /// `vars/main.yml` (same forms).
    pub vars: Vec<VarEntry>,
    /// The parameters it was called with: inline keys and `vars:` of the role entry.
    pub params: Vec<VarEntry>,
    /// `allow_duplicates: true` in `meta/main.yml`.
    pub allow_duplicates: bool,
}

impl Role {
    /// Where relative `src:` files and templates are looked up for this role's tasks.
    pub fn files_dir(&self) -> PathBuf {
        self.dir.join("files")
    }
    pub fn templates_dir(&self) -> PathBuf {
        self.dir.join("templates")
    }
    pub fn tasks_dir(&self) -> PathBuf {
        self.dir.join("tasks")
    }
}

/// One task (or handler), with everything inherited already merged in.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: Option<String>,
    /// `file:line:col` of the task's first key.
    pub location: Location,
    pub action: Action,
    /// Jinja expressions, all of which must hold (a bool literal becomes "True"/"False").
    pub when: Vec<String>,
    /// A list or a template string (see [`Task::loop_kind`] and [`finish_loop`]).
    pub loop_: Option<Json>,
    /// How the engine turns the templated `loop_` into items.
    pub loop_kind: LoopKind,
    pub loop_control: LoopControl,
    pub register: Option<String>,
    pub changed_when: Option<Vec<String>>,
    pub failed_when: Option<Vec<String>>,
    pub ignore_errors: Option<Json>,
    pub ignore_unreachable: Option<Json>,
    pub notify: Vec<String>,
    /// Only on handlers.
    pub listen: Vec<String>,
    pub become_: Option<Json>,
    pub become_user: Option<String>,
    /// The task's own tags and those inherited from blocks, imports, roles and the play.
    pub tags: Vec<String>,
    pub check_mode: Option<Json>,
    pub diff: Option<Json>,
    pub no_log: Option<Json>,
    pub environment: Option<Json>,
    pub delegate_to: Option<String>,
    pub run_once: Option<Json>,
    /// `remote_user`: log in as this user for this task (a connection of
    /// its own; the inventory's `ansible_user` wins, as in Ansible).
    pub remote_user: Option<String>,
    /// `timeout`: seconds each run of the action may take (a number or a template).
    pub timeout: Option<Json>,
    /// `throttle`: at most this many hosts run the task at once.
    pub throttle: Option<Json>,
    /// Inherited vars first, the task's own last (later entries win).
    pub vars: Vec<VarEntry>,
    /// The role the task came from (its defaults/vars are in scope; relative files
    /// and templates are looked up in its directory).
    pub role: Option<Arc<Role>>,
    pub any_errors_fatal: Option<bool>,
    pub retries: Option<Json>,
    pub delay: Option<Json>,
    pub until: Option<Vec<String>>,
}

impl Task {
    pub(super) fn new(location: Location, action: Action, role: Option<Arc<Role>>) -> Task {
        Task {
            name: None,
            location,
            action,
            when: Vec::new(),
            loop_: None,
            loop_kind: LoopKind::Loop,
            loop_control: LoopControl::default(),
            register: None,
            changed_when: None,
            failed_when: None,
            ignore_errors: None,
            ignore_unreachable: None,
            notify: Vec::new(),
            listen: Vec::new(),
            become_: None,
            become_user: None,
            tags: Vec::new(),
            check_mode: None,
            diff: None,
            no_log: None,
            environment: None,
            delegate_to: None,
            run_once: None,
            remote_user: None,
            timeout: None,
            throttle: None,
            vars: Vec::new(),
            role,
            any_errors_fatal: None,
            retries: None,
            delay: None,
            until: None,
        }
    }

    /// The name shown in output: the task's name, else `module` or the action.
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        match &self.action {
            Action::Module { def, .. } => def.spec.name.to_string(),
            Action::Unimplemented { name, .. } => name.clone(),
            Action::Invalid { def, .. } => def.spec.name.to_string(),
            Action::Block { .. } => "block".into(),
            Action::IncludeTasks { file, .. } => format!("include_tasks {file}"),
            Action::IncludeRole { name, .. } => format!("include_role {name}"),
            Action::FlushHandlers => "meta: flush_handlers".into(),
            Action::EndPlay => "meta: end_play".into(),
            Action::EndHost => "meta: end_host".into(),
            Action::EndRole => "meta: end_role".into(),
            Action::Noop => "meta: noop".into(),
            Action::EndBatch => "meta: end_batch".into(),
            Action::ClearFacts => "meta: clear_facts".into(),
            Action::ClearHostErrors => "meta: clear_host_errors".into(),
            Action::RefreshInventory => "meta: refresh_inventory".into(),
            Action::ResetConnection => "meta: reset_connection".into(),
        }
    }

    /// The module name, for module tasks.
    pub fn module_name(&self) -> Option<&'static str> {
        match &self.action {
            Action::Module { def, .. } => Some(def.spec.name),
            _ => None,
        }
    }
}

/// What a task does.
#[derive(Clone)]
pub enum Action {
    /// A module call. `args` are not templated; they were validated statically
    /// (`Spec::validate(.., false)`) and are stored under their canonical names.
    Module {
        def: &'static ModuleDef,
        args: serde_json::Map<String, Json>,
    },
    /// `block`/`rescue`/`always`. The block's own keywords are already merged
    /// into its children; the block task keeps them for display.
    Block {
        block: Vec<Task>,
        rescue: Vec<Task>,
        always: Vec<Task>,
    },
    /// Dynamic `include_tasks`: `file` may be a template. At run time the engine
    /// resolves it ([`resolve_tasks_file`]), loads it ([`load_tasks_file_with`]) and
    /// applies `inherited` (what enclosing blocks, imports, roles and the play pass
    /// down; the include's own `when`/`tags` apply to the include only) then `apply`.
    IncludeTasks {
        file: String,
        apply: Option<Box<Inherited>>,
        inherited: Box<Inherited>,
    },
    /// Dynamic `include_role`: `name`/`tasks_from` may be templates; the include
    /// task's `vars` are the role's parameters ([`load_role`]).
    IncludeRole {
        name: String,
        tasks_from: Option<String>,
    },
    /// A module Ansible has and opsctl does not implement (or a role's own module
    /// in `library/`): loads, and fails with "opsctl does not implement" when a
    /// host reaches it. `name` as written, `fqcn` what Ansible resolves it to,
    /// `args` as written (for the templates they use).
    Unimplemented {
        name: String,
        fqcn: String,
        args: Json,
    },
    /// A module task whose arguments are wrong in value (not in name), under a
    /// condition: Ansible checks arguments only when a host reaches the task
    /// (a role's task for another OS release), so it loads with a warning and
    /// fails with `message` if a host reaches it.
    Invalid {
        def: &'static ModuleDef,
        message: String,
    },
    /// `meta: flush_handlers`
    FlushHandlers,
    /// `meta: end_play`
    EndPlay,
    /// `meta: end_host`
    EndHost,
    /// `meta: end_role` (ansible-core 2.18+): the rest of the current role's
    /// tasks are not run for the host.
    EndRole,
    /// `meta: noop`
    Noop,
    /// `meta: end_batch`
    EndBatch,
    /// `meta: clear_facts`
    ClearFacts,
    /// `meta: clear_host_errors`
    ClearHostErrors,
    /// `meta: refresh_inventory`: the inventory read again for the next plays.
    RefreshInventory,
    /// `meta: reset_connection`
    ResetConnection,
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Module { def, args } => f
                .debug_struct("Module")
                .field("module", &def.spec.name)
                .field("args", args)
                .finish(),
            Action::Unimplemented { name, fqcn, args } => f
                .debug_struct("Unimplemented")
                .field("name", name)
                .field("fqcn", fqcn)
                .field("args", args)
                .finish(),
            Action::Invalid { def, message } => f
                .debug_struct("Invalid")
                .field("module", &def.spec.name)
                .field("message", message)
                .finish(),
            Action::Block {
                block,
                rescue,
                always,
            } => f
                .debug_struct("Block")
                .field("block", block)
                .field("rescue", rescue)
                .field("always", always)
                .finish(),
            Action::IncludeTasks {
                file,
                apply,
                inherited,
            } => f
                .debug_struct("IncludeTasks")
                .field("file", file)
                .field("apply", apply)
                .field("inherited", inherited)
                .finish(),
            Action::IncludeRole { name, tasks_from } => f
                .debug_struct("IncludeRole")
                .field("name", name)
                .field("tasks_from", tasks_from)
                .finish(),
            Action::FlushHandlers => f.write_str("FlushHandlers"),
            Action::EndPlay => f.write_str("EndPlay"),
            Action::EndHost => f.write_str("EndHost"),
            Action::EndRole => f.write_str("EndRole"),
            Action::Noop => f.write_str("Noop"),
            Action::EndBatch => f.write_str("EndBatch"),
            Action::ClearFacts => f.write_str("ClearFacts"),
            Action::ClearHostErrors => f.write_str("ClearHostErrors"),
            Action::RefreshInventory => f.write_str("RefreshInventory"),
            Action::ResetConnection => f.write_str("ResetConnection"),
        }
    }
}

/// `loop_control`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopControl {
    /// Default `item`.
    pub loop_var: String,
    pub index_var: Option<String>,
    /// A template string, rendered per item for output instead of the item.
    pub label: Option<String>,
    /// Seconds between items.
    pub pause: Option<f64>,
    /// `extended: true` exposes `ansible_loop`.
    pub extended: bool,
}

impl Default for LoopControl {
    fn default() -> Self {
        LoopControl {
            loop_var: "item".into(),
            index_var: None,
            label: None,
            pause: None,
            extended: false,
        }
    }
}

/// Which loop keyword the task used, when the engine still has work to do after
/// templating `loop_` (literal values are already normalised to [`LoopKind::Loop`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopKind {
    /// `loop` / `with_list`: the value must be a list.
    #[default]
    Loop,
    /// `with_items`: a list flattened one level (a scalar is a one-item list).
    Items,
    /// `with_dict`: a mapping becomes a list of `{key, value}`.
    Dict,
    /// `with_<lookup>` (`with_nested`, `with_first_found`...): the templated value
    /// (a list, or one term) are the terms of `query('<lookup>', *terms)`.
    Lookup(&'static str),
}

/// Turns a templated loop value into its items, as `loop`, `with_items` and
/// `with_dict` do (for `with_<lookup>`, the lookup's result).
pub fn finish_loop(kind: LoopKind, value: Json) -> Result<Vec<Json>, String> {
    match (kind, value) {
        (LoopKind::Loop, Json::Array(items)) => Ok(items),
        (LoopKind::Loop, other) => Err(format!(
            "loop needs a list, got {}; use `| dict2items` for a mapping",
            json_kind(&other)
        )),
        (LoopKind::Items, Json::Array(items)) => Ok(flatten_once(items)),
        (LoopKind::Items, Json::Null) => Ok(Vec::new()),
        (LoopKind::Items, Json::Object(_)) => {
            Err("with_items needs a list, got a mapping; use with_dict".into())
        }
        (LoopKind::Items, scalar) => Ok(vec![scalar]),
        (LoopKind::Dict, Json::Object(m)) => Ok(dict_items(m)),
        (LoopKind::Dict, other) => Err(format!(
            "with_dict needs a mapping, got {}",
            json_kind(&other)
        )),
        (LoopKind::Lookup(_), Json::Array(items)) => Ok(items),
        (LoopKind::Lookup(name), other) => Err(format!(
            "with_{name}: the lookup gave {}, not a list",
            json_kind(&other)
        )),
    }
}

fn flatten_once(items: Vec<Json>) -> Vec<Json> {
    let mut out = Vec::new();
    for i in items {
        match i {
            Json::Array(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    out
}

fn dict_items(m: serde_json::Map<String, Json>) -> Vec<Json> {
    m.into_iter()
        .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
        .collect()
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "a mapping",
    }
}

/// Keywords a parent (block, import, role entry, play, `apply:`) passes down to
/// its tasks (and to the `inherited` of an `include_tasks`). [`Inherited::apply_to`] merges them as Ansible does: parent
/// conditions first and all must hold, tags and vars accumulate (the task's own
/// vars win), the other keywords are the default when the task has none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inherited {
    pub when: Vec<String>,
    /// `notify` of a block: added to every task's own (ansible-core 2.19).
    pub notify: Vec<String>,
    pub tags: Vec<String>,
    pub vars: Vec<VarEntry>,
    pub become_: Option<Json>,
    pub become_user: Option<String>,
    pub environment: Option<Json>,
    pub ignore_errors: Option<Json>,
    pub ignore_unreachable: Option<Json>,
    pub check_mode: Option<Json>,
    pub diff: Option<Json>,
    pub no_log: Option<Json>,
    pub delegate_to: Option<String>,
    pub run_once: Option<Json>,
    pub any_errors_fatal: Option<bool>,
    pub remote_user: Option<String>,
    pub timeout: Option<Json>,
    pub throttle: Option<Json>,
}

impl Inherited {
    pub fn is_empty(&self) -> bool {
        *self == Inherited::default()
    }

    /// Merges these parent keywords into every task (and into the children of
    /// blocks, and the `inherited` of dynamic includes).
    pub fn apply_to(&self, tasks: &mut [Task]) {
        if self.is_empty() {
            return;
        }
        for t in tasks {
            self.apply_task(t);
        }
    }

    fn apply_task(&self, t: &mut Task) {
        t.when = prepend(&self.when, std::mem::take(&mut t.when));
        t.tags = union(std::mem::take(&mut t.tags), &self.tags);
        t.notify = union(std::mem::take(&mut t.notify), &self.notify);
        t.vars = prepend(&self.vars, std::mem::take(&mut t.vars));
        or_parent(&mut t.become_, &self.become_);
        or_parent(&mut t.become_user, &self.become_user);
        t.environment = merge_env(self.environment.as_ref(), t.environment.take());
        or_parent(&mut t.ignore_errors, &self.ignore_errors);
        or_parent(&mut t.ignore_unreachable, &self.ignore_unreachable);
        or_parent(&mut t.check_mode, &self.check_mode);
        or_parent(&mut t.diff, &self.diff);
        or_parent(&mut t.no_log, &self.no_log);
        or_parent(&mut t.delegate_to, &self.delegate_to);
        or_parent(&mut t.run_once, &self.run_once);
        or_parent(&mut t.any_errors_fatal, &self.any_errors_fatal);
        or_parent(&mut t.remote_user, &self.remote_user);
        or_parent(&mut t.timeout, &self.timeout);
        or_parent(&mut t.throttle, &self.throttle);
        match &mut t.action {
            Action::Block {
                block,
                rescue,
                always,
            } => {
                self.apply_to(block);
                self.apply_to(rescue);
                self.apply_to(always);
            }
            Action::IncludeTasks { inherited, .. } => inherited.wrap(self),
            _ => {}
        }
    }

    /// Makes `outer` the parent of `self`.
    fn wrap(&mut self, outer: &Inherited) {
        self.when = prepend(&outer.when, std::mem::take(&mut self.when));
        self.tags = union(std::mem::take(&mut self.tags), &outer.tags);
        self.notify = union(std::mem::take(&mut self.notify), &outer.notify);
        self.vars = prepend(&outer.vars, std::mem::take(&mut self.vars));
        or_parent(&mut self.become_, &outer.become_);
        or_parent(&mut self.become_user, &outer.become_user);
        self.environment = merge_env(outer.environment.as_ref(), self.environment.take());
        or_parent(&mut self.ignore_errors, &outer.ignore_errors);
        or_parent(&mut self.ignore_unreachable, &outer.ignore_unreachable);
        or_parent(&mut self.check_mode, &outer.check_mode);
        or_parent(&mut self.diff, &outer.diff);
        or_parent(&mut self.no_log, &outer.no_log);
        or_parent(&mut self.delegate_to, &outer.delegate_to);
        or_parent(&mut self.run_once, &outer.run_once);
        or_parent(&mut self.any_errors_fatal, &outer.any_errors_fatal);
        or_parent(&mut self.remote_user, &outer.remote_user);
        or_parent(&mut self.timeout, &outer.timeout);
        or_parent(&mut self.throttle, &outer.throttle);
    }
}

fn prepend<T: Clone>(parent: &[T], own: Vec<T>) -> Vec<T> {
    if parent.is_empty() {
        return own;
    }
    let mut out = parent.to_vec();
    out.extend(own);
    out
}

fn union(mut own: Vec<String>, parent: &[String]) -> Vec<String> {
    for t in parent {
        if !own.contains(t) {
            own.push(t.clone());
        }
    }
    own
}

fn or_parent<T: Clone>(own: &mut Option<T>, parent: &Option<T>) {
    if own.is_none() {
        own.clone_from(parent);
    }
}

/// Environments merge key by key (the child wins); a template string replaces.
fn merge_env(parent: Option<&Json>, own: Option<Json>) -> Option<Json> {
    match (parent, own) {
        (Some(Json::Object(p)), Some(Json::Object(o))) => {
            let mut m = p.clone();
            for (k, v) in o {
                m.insert(k, v);
            }
            Some(Json::Object(m))
        }
        (p, None) => p.cloned(),
        (_, o) => o,
    }
}

/// A playbook, role or tasks file that cannot be loaded: where, what, and what
/// to do. `others` holds the further problems found in the same load.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct LoadError {
    pub location: Location,
    pub message: String,
    pub hint: Option<String>,
    pub others: Vec<LoadError>,
}

impl LoadError {
    pub fn new(location: Location, message: impl Into<String>, hint: Option<String>) -> Self {
        LoadError {
            location,
            message: message.into(),
            hint,
            others: Vec::new(),
        }
    }

    /// This error and the others, in the order they were found.
    pub fn all(&self) -> impl Iterator<Item = &LoadError> {
        std::iter::once(self).chain(self.others.iter())
    }

    /// The user-facing error: every problem with its hint.
    pub fn to_error(&self) -> crate::error::Error {
        if self.others.is_empty() {
            return crate::error::Error::new(self.to_string()).maybe_hint(self.hint.clone());
        }
        let mut msg = String::new();
        for (i, e) in self.all().enumerate() {
            if i > 0 {
                msg.push_str("\nerror: ");
            }
            msg.push_str(&e.to_string());
            if let Some(h) = &e.hint {
                msg.push_str("\n  hint: ");
                msg.push_str(h);
            }
        }
        crate::error::Error::new(msg)
    }
}

impl From<crate::yaml::YamlError> for LoadError {
    fn from(e: crate::yaml::YamlError) -> Self {
        let hint = crate::yaml::hint(&e);
        LoadError::new(e.location, e.message, hint)
    }
}

/// Paths and roles for loading a tasks file at run time ([`Play::include_context`]).
#[derive(Debug, Clone, Default)]
pub struct IncludeContext {
    /// The last place relative task files are looked up.
    pub playbook_dir: Option<PathBuf>,
    /// The `roles/` directories for `import_role` inside the file.
    pub role_search: Vec<PathBuf>,
}

/// A tasks file loaded at run time: its tasks, and what an `import_role` inside
/// it brought (handlers and roles).
#[derive(Debug, Clone, Default)]
pub struct TasksFile {
    pub tasks: Vec<Task>,
    pub handlers: Vec<Task>,
    pub roles: Vec<Arc<Role>>,
}

/// A role loaded at run time: the role, its tasks, its handlers.
pub type LoadedRole = (Arc<Role>, Vec<Task>, Vec<Task>);
