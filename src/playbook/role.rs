//! Roles: finding them, reading `defaults/`, `vars/`, `meta/`, `tasks/`,
//! `handlers/`, expanding meta dependencies first, each role once per play
//! unless its parameters differ (or `allow_duplicates: true`); and the tasks
//! that name a role (`import_role`, expanded here, and `include_role`, checked
//! here and loaded at run time).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value as Json;

use super::keywords::{
    IMPORT_ONLY, INCLUDE_ROLE_EXTRA, INCLUDE_TASKS_KEYWORDS, INHERITABLE, LOOP_KEYS,
};
use super::kv::parse_kv;
use super::loader::{Cx, Entry, Kw, Loader, canonical, did_you_mean, is_identifier, nearest};
use super::tasks::ActionKey;
use super::types::{Action, Inherited, Role, Task, VarEntry};
use crate::location::{Location, display_path};
use crate::template::is_template;
use crate::yaml::{Node, NodeValue};

/// The roles path and the collections paths of the command (ansible.cfg's
/// `roles_path` and `collections_path`, or Ansible's defaults), set once by
/// the session before any playbook is loaded.
static SEARCH_PATHS: std::sync::RwLock<Option<(Vec<PathBuf>, Vec<PathBuf>)>> =
    std::sync::RwLock::new(None);

/// Sets the roles path and the collections paths every role lookup adds to
/// the playbook's and the project's `roles/`.
pub fn set_search_paths(roles_path: Vec<PathBuf>, collections: Vec<PathBuf>) {
    *SEARCH_PATHS.write().unwrap_or_else(|e| e.into_inner()) = Some((roles_path, collections));
}

fn search_paths() -> (Vec<PathBuf>, Vec<PathBuf>) {
    SEARCH_PATHS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Every place a role named `name` may be, in Ansible's order: `roles/` next
/// to the playbook and the project's (`role_search`), the roles path, the
/// playbook's directory itself; for `ns.coll.role`, also
/// `<path>/ansible_collections/ns/coll/roles/role` in the playbook's
/// `collections/` and each collections path.
pub(super) fn role_candidates(
    name: &str,
    playbook_dir: Option<&Path>,
    role_search: &[PathBuf],
    roles_path: &[PathBuf],
    collections: &[PathBuf],
) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = role_search
        .iter()
        .chain(roles_path)
        .map(PathBuf::as_path)
        .chain(playbook_dir)
        .map(|d| d.join(name))
        .collect();
    let parts: Vec<&str> = name.split('.').collect();
    if let [ns, coll, role] = parts[..]
        && parts.iter().all(|p| is_identifier(p))
    {
        let local = playbook_dir.map(|d| d.join("collections"));
        for c in local.iter().chain(collections) {
            let base = if c.ends_with("ansible_collections") {
                c.clone()
            } else {
                c.join("ansible_collections")
            };
            out.push(base.join(ns).join(coll).join("roles").join(role));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// A reference to a role: an entry of `roles:`, of `dependencies:`, or an import.
pub(super) struct RoleRef {
    pub name: String,
    pub location: Location,
    pub params: Vec<VarEntry>,
    /// `when`, `tags`, `become`... of the entry, given to every task of the role.
    pub inherit: Inherited,
    pub tasks_from: Option<String>,
}

const META_KEYS: &[&str] = &[
    "dependencies",
    "allow_duplicates",
    "galaxy_info",
    "collections",
];

/// `tasks/main.yml`, `tasks/main.yaml` or `tasks/main`; `tasks_from: x` the same.
fn find_in(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut cands = vec![dir.join(name)];
    if !(name.ends_with(".yml") || name.ends_with(".yaml")) {
        cands.insert(0, dir.join(format!("{name}.yaml")));
        cands.insert(0, dir.join(format!("{name}.yml")));
    }
    cands.into_iter().find(|c| c.is_file())
}

fn same_params(a: &[VarEntry], b: &[VarEntry]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.name == y.name && x.value == y.value)
}

impl Loader {
    /// An entry of a play's `roles:` or of a role's `dependencies:`: `nginx`, or
    /// `{role: nginx, vars: {...}, when: ..., tags: ..., param: value}`.
    pub fn role_ref(&mut self, node: &Node, file: &Path) -> Option<RoleRef> {
        match &node.value {
            NodeValue::Str(s) if !s.trim().is_empty() => {
                if is_template(s) {
                    self.template_role_name(node.location(file));
                    return None;
                }
                Some(RoleRef {
                    name: s.trim().to_string(),
                    location: node.location(file),
                    params: Vec::new(),
                    inherit: Inherited::default(),
                    tasks_from: None,
                })
            }
            NodeValue::Map(map) => {
                let kw = Kw::from_map(map);
                let Some(name_e) = kw.get("role").or_else(|| kw.get("name")) else {
                    self.err(
                        node.location(file),
                        "a role entry needs 'role:'",
                        Some("- role: nginx\n  vars: {...}".into()),
                    );
                    return None;
                };
                let Some(name) = name_e.value.as_str().filter(|s| !s.trim().is_empty()) else {
                    self.err(
                        name_e.loc(file),
                        format!(
                            "'{}' must be a role name, found {}",
                            name_e.name,
                            name_e.value.kind_name()
                        ),
                        Some("- role: nginx".into()),
                    );
                    return None;
                };
                if is_template(name) {
                    self.template_role_name(name_e.value.location(file));
                    return None;
                }
                let mut keywords = Kw::default();
                let mut params = Vec::new();
                for e in kw.iter() {
                    let n = e.name.as_str();
                    if n == "role" || n == "name" || n == "collections" {
                        continue;
                    }
                    if INHERITABLE.contains(&n) {
                        keywords.0.push(Entry {
                            name: e.name.clone(),
                            key: e.key,
                            value: e.value,
                        });
                    } else if is_identifier(n) {
                        params.push(VarEntry {
                            name: e.name.clone(),
                            value: e.value.to_json(),
                            location: e.loc(file),
                        });
                    } else {
                        self.err(
                            e.loc(file),
                            format!("invalid role parameter name '{n}'"),
                            Some("role parameters are variables: letters, digits and '_'".into()),
                        );
                    }
                }
                let mut inherit = self.inherited(&keywords, file);
                params.append(&mut inherit.vars);
                Some(RoleRef {
                    name: name.trim().to_string(),
                    location: name_e.value.location(file),
                    params,
                    inherit,
                    tasks_from: None,
                })
            }
            _ => {
                self.err(
                    node.location(file),
                    format!(
                        "a role entry must be a role name or a mapping with role:, found {}",
                        node.kind_name()
                    ),
                    Some("roles:\n  - common\n  - role: nginx\n    vars: {...}".into()),
                );
                None
            }
        }
    }

    fn template_role_name(&mut self, at: Location) {
        self.err(
            at,
            "a role name here cannot use variables",
            Some(
                "roles are loaded with the playbook; use include_role to choose one at run time"
                    .into(),
            ),
        );
    }

    /// Finds a role's directory: `<search>/<name>`, then ansible.cfg's
    /// `roles_path` (see [`role_candidates`]); a name with '/' is a path
    /// (relative to the playbook directory); `ns.coll.role` a collection's role.
    pub fn find_role(&mut self, name: &str, at: &Location) -> Option<PathBuf> {
        let cands = self.role_candidates(name);
        if let Some(found) = cands.iter().find(|c| c.is_dir()) {
            return Some(found.clone());
        }
        self.role_not_found(name, &cands, at);
        None
    }

    /// Where a role of that name may be, in search order.
    fn role_candidates(&self, name: &str) -> Vec<PathBuf> {
        let p = Path::new(name);
        let (roles_path, collections) = search_paths();
        if p.is_absolute() {
            vec![p.to_path_buf()]
        } else if name.contains('/') {
            let mut c: Vec<PathBuf> = self.play.playbook_dir.iter().map(|d| d.join(p)).collect();
            c.extend(self.play.role_search.iter().map(|d| d.join(p)));
            c
        } else {
            role_candidates(
                name,
                self.play.playbook_dir.as_deref(),
                &self.play.role_search,
                &roles_path,
                &collections,
            )
        }
    }

    fn role_not_found(&mut self, name: &str, cands: &[PathBuf], at: &Location) {
        let (roles_path, _) = search_paths();
        let mut known: Vec<String> = Vec::new();
        for d in self.play.role_search.iter().chain(&roles_path) {
            if let Ok(rd) = std::fs::read_dir(d) {
                for ent in rd.flatten() {
                    if ent.path().is_dir()
                        && let Some(n) = ent.file_name().to_str()
                    {
                        known.push(n.to_string());
                    }
                }
            }
        }
        known.sort();
        known.dedup();
        let looked: Vec<String> = cands.iter().map(|c| display_path(c)).collect();
        let hint = match did_you_mean(nearest(name, known.iter().map(String::as_str))) {
            Some(h) => format!("{h} (looked at {})", looked.join(", ")),
            None if looked.is_empty() => "no roles/ directory to look in".into(),
            None => format!("looked at {}", looked.join(", ")),
        };
        self.err(at.clone(), format!("role '{name}' not found"), Some(hint));
    }

    /// Variables of `defaults/` or `vars/`: `main.yml`, `main.yaml`, or `main/*`.
    fn role_vars(&mut self, dir: &Path) -> Vec<VarEntry> {
        let mut out = Vec::new();
        for p in crate::yaml::vars_files(dir, "main") {
            match crate::yaml::parse_file(&p) {
                Ok(node) => out.extend(self.var_entries(&node, &p, "a role vars file")),
                Err(e) => self.errors.push(e.into()),
            }
        }
        out
    }

    /// `meta/main.yml`: dependencies and allow_duplicates.
    fn role_meta(&mut self, dir: &Path) -> (Vec<RoleRef>, bool) {
        let mut deps = Vec::new();
        let mut allow = false;
        let Some(path) = find_in(&dir.join("meta"), "main") else {
            return (deps, allow);
        };
        let node = match crate::yaml::parse_file(&path) {
            Ok(n) => n,
            Err(e) => {
                self.errors.push(e.into());
                return (deps, allow);
            }
        };
        let map = match &node.value {
            NodeValue::Null => return (deps, allow),
            NodeValue::Map(m) => m,
            _ => {
                self.err(
                    node.location(&path),
                    format!(
                        "meta/main.yml must be a mapping, found {}",
                        node.kind_name()
                    ),
                    Some("dependencies:\n  - common".into()),
                );
                return (deps, allow);
            }
        };
        for e in Kw::from_map(map).iter() {
            match e.name.as_str() {
                "dependencies" => match &e.value.value {
                    NodeValue::Null => {}
                    NodeValue::Seq(items) => {
                        for item in items {
                            deps.extend(self.role_ref(item, &path));
                        }
                    }
                    _ => self.err(
                        e.loc(&path),
                        format!(
                            "'dependencies' must be a list of roles, found {}",
                            e.value.kind_name()
                        ),
                        Some("dependencies:\n  - common\n  - role: users\n    vars: {...}".into()),
                    ),
                },
                "allow_duplicates" => allow = self.literal_bool(e, &path).unwrap_or(false),
                "galaxy_info" | "collections" => {}
                other => {
                    let hint = did_you_mean(nearest(other, META_KEYS.iter().copied()))
                        .unwrap_or_else(|| {
                            format!("meta/main.yml takes: {}", META_KEYS.join(", "))
                        });
                    self.err(
                        e.loc(&path),
                        format!("unknown key '{other}' in role meta"),
                        Some(hint),
                    );
                }
            }
        }
        (deps, allow)
    }

    /// Loads a role and its dependencies; returns the role and its tasks
    /// (dependencies' first), `r.inherit` applied. With `dedup`, a role already in
    /// the play with the same parameters gives no tasks. Handlers go to the play.
    pub fn expand_role(&mut self, r: RoleRef, dedup: bool) -> (Option<Arc<Role>>, Vec<Task>) {
        let Some(dir) = self.find_role(&r.name, &r.location) else {
            return (None, Vec::new());
        };
        let canon = canonical(&dir);
        let name = Path::new(&r.name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&r.name)
            .to_string();
        if let Some(i) = self.play.role_stack.iter().position(|(c, _)| *c == canon) {
            let mut chain: Vec<String> = self.play.role_stack[i..]
                .iter()
                .map(|(_, n)| n.clone())
                .collect();
            chain.push(name);
            self.err(
                r.location.clone(),
                format!("role dependency cycle: {}", chain.join(" -> ")),
                Some("a role cannot depend on itself, directly or through others".into()),
            );
            return (None, Vec::new());
        }
        let defaults = self.role_vars(&dir.join("defaults"));
        let vars = self.role_vars(&dir.join("vars"));
        let (deps, allow_duplicates) = self.role_meta(&dir);
        let role = Role {
            name: name.clone(),
            dir: dir.clone(),
            defaults,
            vars,
            params: r.params,
            allow_duplicates,
        };
        if dedup && !allow_duplicates {
            let seen = self
                .play
                .roles
                .iter()
                .find(|x| canonical(&x.dir) == canon && same_params(&x.params, &role.params));
            if let Some(seen) = seen {
                return (Some(seen.clone()), Vec::new());
            }
        }
        self.play.role_stack.push((canon.clone(), name.clone()));
        let mut tasks = Vec::new();
        for d in deps {
            let (_, t) = self.expand_role(d, true);
            tasks.extend(t);
        }
        let role = Arc::new(role);
        self.play.roles.push(role.clone());
        let tasks_dir = dir.join("tasks");
        match &r.tasks_from {
            Some(tf) => match find_in(&tasks_dir, tf) {
                Some(p) => tasks.extend(self.tasks_file(&p, Some(&role), false, Some(&r.location))),
                None => self.err(
                    r.location.clone(),
                    format!("role '{name}' has no tasks file '{tf}'"),
                    Some(format!(
                        "looked for {tf}, {tf}.yml and {tf}.yaml in {}",
                        display_path(&tasks_dir)
                    )),
                ),
            },
            None => {
                if let Some(p) = find_in(&tasks_dir, "main") {
                    tasks.extend(self.tasks_file(&p, Some(&role), false, Some(&r.location)));
                }
            }
        }
        if !self.play.handler_dirs.contains(&canon) {
            self.play.handler_dirs.push(canon.clone());
            if let Some(p) = find_in(&dir.join("handlers"), "main") {
                let handlers = self.tasks_file(&p, Some(&role), true, Some(&r.location));
                self.play.handlers.extend(handlers);
            }
        }
        self.play.role_stack.pop();
        r.inherit.apply_to(&mut tasks);
        (Some(role), tasks)
    }

    /// `load_role` at run time.
    pub fn runtime_role(
        &mut self,
        name: &str,
        at: Location,
        params: Vec<VarEntry>,
        tasks_from: Option<&str>,
    ) -> (Option<Arc<Role>>, Vec<Task>) {
        let r = RoleRef {
            name: name.to_string(),
            location: at,
            params,
            inherit: Inherited::default(),
            tasks_from: tasks_from.map(str::to_string),
        };
        self.expand_role(r, false)
    }

    /// Checks now a role that `include_role` will load at run time: it exists, and
    /// its files are valid (once per role and tasks_from).
    /// A role absent under a condition (the include's own `when`, or an
    /// enclosing block's) is resolved when reached, as Ansible does: a warning.
    pub fn check_included_role(
        &mut self,
        name: &str,
        at: &Location,
        tasks_from: Option<&str>,
        conditional: bool,
    ) {
        if (conditional || self.conditional > 0)
            && !self.role_candidates(name).iter().any(|c| c.is_dir())
        {
            self.warn(
                at.clone(),
                format!("role '{name}' not found: the include_role fails if a host reaches it"),
            );
            return;
        }
        let Some(dir) = self.find_role(name, at) else {
            return;
        };
        let canon = canonical(&dir);
        if self.play.role_stack.iter().any(|(c, _)| *c == canon) {
            return;
        }
        if tasks_from.is_some_and(is_template) {
            return;
        }
        let key = match tasks_from {
            Some(t) => canon.join("tasks").join(t),
            None => canon,
        };
        if !self.checked_roles.insert(key) {
            return;
        }
        let r = RoleRef {
            name: name.to_string(),
            location: at.clone(),
            params: Vec::new(),
            inherit: Inherited::default(),
            tasks_from: tasks_from.map(str::to_string),
        };
        self.scratch(|l| {
            l.expand_role(r, false);
        });
    }
}

impl Loader {
    /// import_role (static: expanded here) and include_role (dynamic).
    pub(super) fn role_task(
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
                &[INCLUDE_TASKS_KEYWORDS, INCLUDE_ROLE_EXTRA, LOOP_KEYS],
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
            let conditional = kw.get("when").is_some();
            self.check_included_role(&name, &name_at, tasks_from.as_deref(), conditional);
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
}

#[cfg(test)]
mod search_tests {
    use super::*;

    #[test]
    fn roles_path_then_the_playbook_dir_and_collection_roles() {
        let p = |s: &str| PathBuf::from(s);
        let c = role_candidates(
            "web",
            Some(Path::new("/pb")),
            &[p("/pb/roles"), p("/proj/roles")],
            &[p("/cfg/roles"), p("/home/u/.ansible/roles")],
            &[p("/proj/collections"), p("/cols/ansible_collections")],
        );
        assert_eq!(
            c,
            vec![
                p("/pb/roles/web"),
                p("/proj/roles/web"),
                p("/cfg/roles/web"),
                p("/home/u/.ansible/roles/web"),
                p("/pb/web")
            ]
        );
        let c = role_candidates(
            "acme.tools.nginx",
            Some(Path::new("/pb")),
            &[p("/pb/roles")],
            &[],
            &[p("/proj/collections"), p("/cols/ansible_collections")],
        );
        assert_eq!(
            c[2..],
            [
                p("/pb/collections/ansible_collections/acme/tools/roles/nginx"),
                p("/proj/collections/ansible_collections/acme/tools/roles/nginx"),
                p("/cols/ansible_collections/acme/tools/roles/nginx"),
            ]
        );
        // galaxy-style `owner.role` directories are plain roles
        assert_eq!(
            role_candidates("geerlingguy.nginx", None, &[p("/r")], &[], &[p("/c")]).len(),
            1
        );
    }
}
