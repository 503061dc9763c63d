//! `opsctl env new NAME [--from ENV]`: scaffolds `environments/NAME/` (inventory,
//! group_vars, recipients) like an Ansible repo's "add a new environment" routine.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, Exit, Result};
use crate::location::display_path;
use crate::printer::Printer;
use crate::project::Project;
use crate::scaffold::{check_name, copy_group_vars, group_vars, hosts, recipients};

/// `opsctl env ...`.
#[derive(Debug, Clone)]
pub enum EnvRequest {
    /// Scaffold environments/NAME/, copying group_vars and recipients `from` another.
    New { name: String, from: Option<String> },
}

pub fn run(project: Option<PathBuf>, args: EnvRequest, printer: &Printer) -> Result<Exit> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
    let project = Project::discover(project.as_deref(), &cwd)
        .map_err(|e| Error::new(e.to_string()).maybe_hint(e.hint()))?;
    match args {
        EnvRequest::New { name, from } => new(&project, &name, from.as_deref(), printer),
    }
}

/// The files of the new environment: (path relative to its directory, content).
fn scaffold(project: &Project, name: &str, from: Option<&str>) -> Result<Vec<(PathBuf, String)>> {
    let mut files: Vec<(PathBuf, String)> = vec![(PathBuf::from("hosts"), hosts(name))];
    match from {
        None => files.push((PathBuf::from("group_vars/web.yml"), group_vars(name))),
        Some(src) => {
            let src_dir = project.environments_dir().join(src);
            if src.contains('/') || !src_dir.is_dir() {
                let existing = project.environments();
                return Err(Error::new(format!(
                    "--from {src}: no environment of that name in {}",
                    display_path(&project.environments_dir())
                ))
                .hint(if existing.is_empty() {
                    "the project has no environments yet: leave out --from".to_string()
                } else {
                    format!("existing environments: {}", existing.join(", "))
                }));
            }
            let gv = src_dir.join("group_vars");
            let mut copied = Vec::new();
            collect(&gv, &gv, &mut copied)?;
            if copied.is_empty() {
                files.push((PathBuf::from("group_vars/web.yml"), group_vars(name)));
            }
            for (rel, text) in copied {
                let shown = display_path(&gv.join(&rel));
                files.push((
                    Path::new("group_vars").join(&rel),
                    copy_group_vars(&text, name, &shown),
                ));
            }
            let rec = src_dir.join("recipients");
            if rec.is_file() {
                let text = std::fs::read_to_string(&rec)
                    .map_err(|e| Error::new(format!("cannot read {}: {e}", display_path(&rec))))?;
                files.push((
                    PathBuf::from("recipients"),
                    recipients(name, Some((&display_path(&rec), &text))),
                ));
            }
        }
    }
    if !files.iter().any(|(p, _)| p == Path::new("recipients")) {
        files.push((PathBuf::from("recipients"), recipients(name, None)));
    }
    Ok(files)
}

/// Every file under `dir` (recursively), as (path relative to `base`, content).
fn collect(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(base, &p, out)?;
        } else if p.is_file() {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| Error::new(format!("cannot read {}: {e}", display_path(&p))))?;
            let rel = p.strip_prefix(base).unwrap_or(&p).to_path_buf();
            out.push((rel, text));
        }
    }
    Ok(())
}

fn new(project: &Project, name: &str, from: Option<&str>, printer: &Printer) -> Result<Exit> {
    check_name(name)?;
    let envs = project.environments_dir();
    let dir = envs.join(name);
    if dir.exists() {
        return Err(Error::new(format!(
            "environment '{name}' already exists: {}",
            display_path(&dir)
        ))
        .hint("choose another name, or edit its files"));
    }
    let files = scaffold(project, name, from)?;
    // Written into a temporary directory, then renamed: all or nothing.
    let tmp = envs.join(format!(".{name}.new-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        for (rel, content) in &files {
            let path = tmp.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, content)?;
        }
        std::fs::rename(&tmp, &dir)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::new(format!(
            "cannot create {}: {e}",
            display_path(&dir)
        )));
    }
    let rels: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    if printer.is_json() {
        printer.json(&json!({
            "env": name,
            "dir": display_path(&dir),
            "from": from,
            "files": rels,
        }));
        return Ok(Exit::Success);
    }
    printer.result(&format!(
        "created {}{}:",
        display_path(&dir),
        from.map(|f| format!(" (group_vars and recipients from {f})"))
            .unwrap_or_default()
    ));
    for r in &rels {
        printer.result(&format!("  {r}"));
    }
    printer.line(&format!(
        "next:\n  \
         1. put your server's address and user in {dir}/hosts, and review {dir}/group_vars/\n  \
         2. add your public key to {dir}/recipients, then `opsctl secrets edit --env {name}` creates {dir}/secrets.age\n  \
         3. opsctl ping --env {name}\n  \
         4. opsctl provision --env {name}, then opsctl deploy --env {name}",
        dir = display_path(&dir)
    ));
    Ok(Exit::Success)
}
