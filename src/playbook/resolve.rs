//! Where a task file named in a playbook is: [`resolve_tasks_file`] looks
//! beside the including file, in the role's `tasks/`, then in the playbook
//! directory.

use std::path::{Path, PathBuf};

use super::types::Role;

/// Finds the file of an `import_tasks`/`include_tasks`: relative to the including
/// file's directory, then the role's `tasks/`, then the playbook directory.
/// Returns the candidates looked at when none exists.
pub fn resolve_tasks_file(
    name: &str,
    including_file: &Path,
    role: Option<&Role>,
    playbook_dir: Option<&Path>,
) -> Result<PathBuf, Vec<PathBuf>> {
    let p = Path::new(name);
    if p.is_absolute() {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(vec![p.to_path_buf()])
        };
    }
    let mut looked: Vec<PathBuf> = Vec::new();
    let dirs = [
        including_file.parent().map(Path::to_path_buf),
        role.map(Role::tasks_dir),
        playbook_dir.map(Path::to_path_buf),
    ];
    for d in dirs.into_iter().flatten() {
        let c = d.join(p);
        if c.is_file() {
            return Ok(c);
        }
        if !looked.contains(&c) {
            looked.push(c);
        }
    }
    Err(looked)
}
