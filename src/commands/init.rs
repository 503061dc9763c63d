//! `opsctl init [DIR]`: a project from nothing. The stack's playbooks and roles
//! that this opsctl ships (`crate::stack`) are written out for the user to own and
//! edit, with one environment scaffolded and a `.gitignore`.
//! `opsctl init --diff [DIR]`: how a project's copies differ from the shipped ones,
//! so that taking a newer opsctl's roles is a reviewable change.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, Exit, Result};
use crate::location::display_path;
use crate::printer::{Printer, Style};
use crate::project::Project;
use crate::scaffold;
use crate::stack;

/// `opsctl init`'s options.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The project's directory (default: the current one).
    pub dir: Option<PathBuf>,
    /// The environment to scaffold.
    pub env: String,
    /// Compare instead of writing.
    pub diff: bool,
}

pub fn run(project: Option<PathBuf>, o: InitOptions, printer: &Printer) -> Result<Exit> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
    if o.diff {
        let explicit = o.dir.as_deref().or(project.as_deref());
        let project = Project::discover(explicit, &cwd)
            .map_err(|e| Error::new(e.to_string()).maybe_hint(e.hint()))?;
        return diff(&project.root, printer);
    }
    let dir = match &o.dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => cwd.join(d),
        None => cwd,
    };
    init(&dir, &o.env, printer)
}

/// A file to write: path relative to the project, mode, content.
struct NewFile {
    rel: String,
    mode: u32,
    content: Vec<u8>,
}

fn init(dir: &Path, env: &str, printer: &Printer) -> Result<Exit> {
    scaffold::check_name(env)?;
    let shown = display_path(dir);
    if dir.join("environments").is_dir() {
        return Err(Error::new(format!(
            "{shown} is already an opsctl project (it has environments/)"
        ))
        .hint(
            "`opsctl init --diff` shows how its playbooks and roles differ from this opsctl's; \
             `opsctl env new NAME` adds an environment",
        ));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(Error::new(format!("{shown} exists and is not a directory")));
    }
    let mut files: Vec<NewFile> = stack::files()
        .map(|f| NewFile {
            rel: f.path.to_string(),
            mode: f.mode,
            content: f.content.to_vec(),
        })
        .collect();
    let env_dir = format!("environments/{env}");
    for (rel, text) in [
        ("hosts", scaffold::hosts(env)),
        ("group_vars/web.yml", scaffold::group_vars(env)),
        ("recipients", scaffold::recipients(env, None)),
    ] {
        files.push(NewFile {
            rel: format!("{env_dir}/{rel}"),
            mode: 0o644,
            content: text.into_bytes(),
        });
    }
    // Never overwrite what the user has: every conflict is listed, nothing written.
    let conflicts: Vec<&str> = files
        .iter()
        .filter(|f| dir.join(&f.rel).symlink_metadata().is_ok())
        .map(|f| f.rel.as_str())
        .collect();
    if !conflicts.is_empty() {
        let more = conflicts.len().saturating_sub(10);
        let mut list = conflicts[..conflicts.len().min(10)].join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        return Err(Error::new(format!(
            "{shown}: {} file(s) opsctl init would write exist already: {list}",
            conflicts.len()
        ))
        .hint("run opsctl init in a new or empty directory, or move those files away"));
    }
    // .gitignore: created, or completed with the lines it lacks.
    let gitignore = dir.join(".gitignore");
    let existing = std::fs::read_to_string(&gitignore).unwrap_or_default();
    let have: BTreeSet<&str> = existing.lines().map(str::trim).collect();
    let missing: String = scaffold::gitignore()
        .lines()
        .filter(|l| l.starts_with('#') || !have.contains(l.trim()))
        .map(|l| format!("{l}\n"))
        .collect();
    let gitignore_changed = missing.lines().any(|l| !l.starts_with('#'));

    let mut written: Vec<PathBuf> = Vec::new();
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    let result = (|| -> std::io::Result<()> {
        for f in &files {
            let path = dir.join(&f.rel);
            if let Some(parent) = path.parent() {
                create_dirs(parent, &mut made_dirs)?;
            }
            write_new(&path, &f.content, f.mode)?;
            written.push(path);
        }
        if gitignore_changed {
            let mut text = existing.clone();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&missing);
            std::fs::write(&gitignore, text)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        // All or nothing: remove what this command wrote.
        for p in written.iter().rev() {
            let _ = std::fs::remove_file(p);
        }
        for d in made_dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
        return Err(Error::new(format!(
            "cannot write the project into {shown}: {e}"
        )));
    }
    if printer.is_json() {
        printer.json(&json!({
            "dir": shown,
            "env": env,
            "files": files.iter().map(|f| f.rel.as_str()).collect::<Vec<_>>(),
            "gitignore": gitignore_changed,
        }));
        return Ok(Exit::Success);
    }
    let roles = stack::roles();
    printer.result(&format!(
        "created an opsctl project in {shown}: playbooks/, roles/ ({}), {env_dir}/{}",
        roles.join(", "),
        if gitignore_changed {
            ", .gitignore"
        } else {
            ""
        }
    ));
    printer.line(&format!(
        "next:\n  \
         1. put your server's address and SSH user in {env_dir}/hosts, and your domain and\n     \
            app in {env_dir}/group_vars/web.yml\n  \
         2. `opsctl secrets keygen`, add the public key it prints to {env_dir}/recipients, then\n     \
            `opsctl secrets edit --env {env}` creates {env_dir}/secrets.age\n  \
         3. opsctl ping --env {env}\n  \
         4. opsctl provision --env {env}, then opsctl deploy --env {env}\n\
         The roles are yours to edit; `opsctl init --diff` shows how they differ from the ones\n\
         a newer opsctl ships (docs/getting-started.md walks through it all)."
    ));
    Ok(Exit::Success)
}

/// Creates `dir` and its missing parents, recording each one created.
fn create_dirs(dir: &Path, made: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut d = dir;
    while !d.exists() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    for m in missing.into_iter().rev() {
        std::fs::create_dir(&m)?;
        made.push(m);
    }
    Ok(())
}

/// Writes a file that must not exist yet, with `mode` from its creation.
fn write_new(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(content)
}

/// How one of the project's files compares with the shipped one.
#[derive(Debug, PartialEq, Eq)]
enum Compared {
    Same,
    /// The project's copy differs: the unified diff (shipped -> project's).
    Differs(String),
    /// Shipped, absent from the project.
    OnlyShipped,
    /// In a shipped role's directory of the project, not shipped.
    OnlyProject,
}

/// Compares the project at `root` with the shipped stack: every shipped file, and
/// the files of the project's copies of the shipped roles and playbooks.
fn compare(root: &Path) -> Vec<(String, Compared)> {
    let version = env!("CARGO_PKG_VERSION");
    let mut out = Vec::new();
    let mut shipped = BTreeSet::new();
    for f in stack::files() {
        shipped.insert(f.path.to_string());
        let state = match std::fs::read(root.join(f.path)) {
            Err(_) => Compared::OnlyShipped,
            Ok(ours) if ours == f.content => Compared::Same,
            Ok(ours) => {
                let a = String::from_utf8_lossy(f.content);
                let b = String::from_utf8_lossy(&ours);
                let diff = similar::TextDiff::from_lines(a.as_ref(), b.as_ref())
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("opsctl {version}/{}", f.path), f.path)
                    .to_string();
                Compared::Differs(diff)
            }
        };
        out.push((f.path.to_string(), state));
    }
    let mut extra = Vec::new();
    let mut dirs: Vec<PathBuf> = vec![root.join("playbooks")];
    dirs.extend(stack::roles().iter().map(|r| root.join("roles").join(r)));
    for d in dirs {
        files_under(root, &d, &mut extra);
    }
    for rel in extra {
        if !shipped.contains(&rel) {
            out.push((rel, Compared::OnlyProject));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every regular file under `dir`, relative to `root` with `/`.
fn files_under(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let p = entry.path();
        if p.is_dir() {
            files_under(root, &p, out);
        } else if p.is_file()
            && let Ok(rel) = p.strip_prefix(root)
        {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

fn diff(root: &Path, printer: &Printer) -> Result<Exit> {
    let compared = compare(root);
    let version = env!("CARGO_PKG_VERSION");
    let count = |f: fn(&Compared) -> bool| compared.iter().filter(|(_, c)| f(c)).count();
    let same = count(|c| matches!(c, Compared::Same));
    let differs = count(|c| matches!(c, Compared::Differs(_)));
    let only_shipped = count(|c| matches!(c, Compared::OnlyShipped));
    let only_project = count(|c| matches!(c, Compared::OnlyProject));
    if printer.is_json() {
        for (path, c) in &compared {
            let (state, d) = match c {
                Compared::Same => ("same", None),
                Compared::Differs(d) => ("differs", Some(d.as_str())),
                Compared::OnlyShipped => ("only_shipped", None),
                Compared::OnlyProject => ("only_project", None),
            };
            printer.json(&json!({"path": path, "state": state, "diff": d}));
        }
        return Ok(Exit::Success);
    }
    for (path, c) in &compared {
        match c {
            Compared::Same => {}
            Compared::Differs(d) => {
                printer.result(&format!(
                    "{} {path}: yours differs from opsctl {version}'s",
                    printer.paint("changed", Style::Changed)
                ));
                for line in d.lines() {
                    let style = match line.as_bytes().first() {
                        Some(b'+') if !line.starts_with("+++") => Some(Style::Ok),
                        Some(b'-') if !line.starts_with("---") => Some(Style::Failed),
                        _ => None,
                    };
                    match style {
                        Some(s) => printer.result(&printer.paint(line, s)),
                        None => printer.result(line),
                    }
                }
            }
            Compared::OnlyShipped => printer.result(&format!(
                "{} {path}: shipped by opsctl {version}, not in your project",
                printer.paint("new", Style::Ok)
            )),
            Compared::OnlyProject => printer.result(&format!(
                "{} {path}: only in your project",
                printer.paint("yours", Style::Dim)
            )),
        }
    }
    printer.result(&format!(
        "{}: {same} same, {differs} differ, {only_shipped} only in opsctl {version}, \
         {only_project} only in your project",
        display_path(root)
    ));
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_sorts_files_into_same_differs_new_and_yours() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in stack::files() {
            let p = root.join(f.path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f.content).unwrap();
        }
        assert!(
            compare(root).iter().all(|(_, c)| *c == Compared::Same),
            "a fresh copy is the same"
        );
        let first = stack::files().next().unwrap().path;
        let edited = "playbooks/provision.yml";
        let mut text = std::fs::read_to_string(root.join(edited)).unwrap();
        text.push_str("# our change\n");
        std::fs::write(root.join(edited), text).unwrap();
        std::fs::remove_file(root.join(first)).unwrap();
        std::fs::write(root.join("roles/nginx/tasks/ours.yml"), "- debug: msg=x\n").unwrap();
        std::fs::create_dir_all(root.join("roles/mine/tasks")).unwrap();
        std::fs::write(root.join("roles/mine/tasks/main.yml"), "[]\n").unwrap();
        let c = compare(root);
        let get = |p: &str| &c.iter().find(|(q, _)| q == p).unwrap().1;
        match get(edited) {
            Compared::Differs(d) => {
                assert!(d.contains(&format!(
                    "--- opsctl {}/{edited}",
                    env!("CARGO_PKG_VERSION")
                )));
                assert!(d.contains(&format!("+++ {edited}")));
                assert!(d.contains("+# our change"), "{d}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(*get(first), Compared::OnlyShipped);
        assert_eq!(*get("roles/nginx/tasks/ours.yml"), Compared::OnlyProject);
        // A role of the user's own is not opsctl's business.
        assert!(!c.iter().any(|(p, _)| p.starts_with("roles/mine/")));
    }
}
