//! Playbooks, roles and tasks: the pure loader.
//!
//! [`load_playbook`] reads a playbook (and what it imports: `import_playbook`,
//! roles with their meta dependencies, `import_tasks`, `import_role`), checks every
//! keyword, module name and static module argument, and returns typed [`Play`]s.
//! Nothing is templated here: values holding `{{ }}` stay strings for the engine.
//! Dynamic includes (`include_tasks`, `include_role`) stay [`Action`]s; the engine
//! loads them at run time with [`load_tasks_file_with`] and [`load_role`], and
//! the loader has already checked that a static file or role name exists and that
//! its content is valid.
//!
//! Strictness is the point (complaints 7 and 8 of the anchors): an unknown key, a
//! keyword of the wrong type, two modules in a task, an unknown module, bad module
//! arguments, a missing role or file, an import cycle, a `notify` naming no handler:
//! each one is an error naming `file:line:col` with a hint, and all of them are
//! collected ([`LoadError::others`]) so one run shows every problem.
//!
//! Inheritance is folded in at load time, as Ansible evaluates it: the `when`,
//! `tags`, `vars`, `become`... of enclosing blocks, imports and roles are already
//! merged into every task (see [`Inherited`]); play tags are merged into the tasks
//! of `pre_tasks`, `tasks` and `post_tasks`. The other play keywords (`become`,
//! `environment`, ...) stay on the [`Play`] for the engine to use as defaults.

mod include;
mod keywords;
mod kv;
mod loader;
mod module_task;
mod names;
mod play;
mod resolve;
mod role;
mod tasks;
#[cfg(test)]
mod tests;
mod types;
mod values;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use serde_json::Value as Json;

use crate::location::Location;

pub use kv::{parse_kv, split_args};
use loader::Loader;
pub use resolve::resolve_tasks_file;
pub use role::set_search_paths;
pub use types::{
    Action, IncludeContext, Inherited, LoadError, LoadedRole, LoopControl, LoopKind, Play,
    Playbook, Role, Task, TasksFile, VarEntry, finish_loop,
};

/// Loads a playbook: plays, imported playbooks, roles, imported task files.
/// `project_root` adds `<project_root>/roles` to the role search path.
pub fn load_playbook(path: &Path, project_root: Option<&Path>) -> Result<Playbook, LoadError> {
    load_with(Loader::new(project_root), path)
}

fn load_with(mut l: Loader, path: &Path) -> Result<Playbook, LoadError> {
    let plays = l.playbook(path);
    let warnings = std::mem::take(&mut l.warnings);
    l.finish(Playbook {
        path: path.to_path_buf(),
        plays,
        warnings,
    })
}

/// Loads a playbook given as text (`opsctl exec -m`'s one task): `name` is
/// what messages call it; relative paths resolve against its directory.
pub fn load_playbook_source(
    name: &Path,
    source: &str,
    project_root: Option<&Path>,
) -> Result<Playbook, LoadError> {
    let mut l = Loader::new(project_root);
    l.inline = Some((name.to_path_buf(), source.to_string()));
    load_with(l, name)
}

/// The warnings of a load as one block: a line saying what they mean, then
/// one `file:line:col: what` line each. `None` without warnings.
pub fn warnings_block(warnings: &[LoadError]) -> Option<String> {
    if warnings.is_empty() {
        return None;
    }
    let n = warnings.len();
    let mut s = format!(
        "{n} {} of this playbook {} what opsctl does not implement (or Ansible refuses when a host reaches it): each fails only if a host reaches it (--strict refuses them)",
        if n == 1 { "place" } else { "places" },
        if n == 1 { "uses" } else { "use" },
    );
    for w in warnings {
        s.push_str(&format!("\n  {}: {}", w.location, w.message));
    }
    Some(s)
}

/// Loads a tasks file for `include_tasks` at run time. `path` is already resolved
/// (see [`resolve_tasks_file`]); `inherited_tags` are added to every task. Relative
/// imports inside it are resolved against its directory, then the role's `tasks/`.
pub fn load_tasks_file(
    path: &Path,
    role: Option<Arc<Role>>,
    inherited_tags: &[String],
) -> Result<Vec<Task>, LoadError> {
    let mut cx = IncludeContext::default();
    if let Some(r) = &role
        && let Some(parent) = r.dir.parent()
    {
        cx.role_search.push(parent.to_path_buf());
    }
    if let Some(dir) = path.parent() {
        cx.role_search.push(dir.join("roles"));
    }
    let f = load_tasks_file_with(path, role, inherited_tags, &cx)?;
    Ok(f.tasks)
}

/// [`load_tasks_file`] with the play's paths ([`Play::include_context`]), also
/// returning the handlers and roles of any `import_role` inside the file.
pub fn load_tasks_file_with(
    path: &Path,
    role: Option<Arc<Role>>,
    inherited_tags: &[String],
    cx: &IncludeContext,
) -> Result<TasksFile, LoadError> {
    let mut l = Loader::new(None);
    l.begin_play(cx.playbook_dir.clone(), cx.role_search.clone());
    let mut tasks = l.tasks_file(path, role.as_ref(), false, None);
    let inh = Inherited {
        tags: inherited_tags.to_vec(),
        ..Default::default()
    };
    inh.apply_to(&mut tasks);
    let state = l.end_play();
    l.finish(TasksFile {
        tasks,
        handlers: state.handlers,
        roles: state.roles,
    })
}

/// Loads a role for `include_role` at run time: the role (looked up in the
/// `roles/` directories `search`), its tasks (dependencies' tasks first) and
/// every handler of it and its dependencies.
pub fn load_role(
    name: &str,
    search: &[PathBuf],
    params: Vec<VarEntry>,
    tasks_from: Option<&str>,
) -> Result<LoadedRole, LoadError> {
    let mut l = Loader::new(None);
    let at = Location::file(
        search
            .first()
            .cloned()
            .unwrap_or_else(|| PathBuf::from(".")),
    );
    l.begin_play(None, search.to_vec());
    let (role, tasks) = l.runtime_role(name, at.clone(), params, tasks_from);
    let state = l.end_play();
    let value = (role, tasks, state.handlers);
    let (role, tasks, handlers) = l.finish(value)?;
    match role {
        Some(r) => Ok((r, tasks, handlers)),
        None => Err(LoadError::new(at, format!("role '{name}' not found"), None)),
    }
}
