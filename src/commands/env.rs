//! `opsctl env new NAME [--from ENV]`: scaffolds `environments/NAME/` (inventory,
//! group_vars, recipients) like an Ansible repo's "add a new environment" routine.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, Exit, Result};
use crate::location::display_path;
use crate::printer::Printer;
use crate::project::Project;

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

/// A valid environment name: a letter or digit, then letters, digits, `-`, `_`.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(Error::new(format!(
            "'{name}' is not a valid environment name"
        ))
        .hint("use letters, digits, '-' and '_' (starting with a letter or digit), e.g. `opsctl env new preprod`"))
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

fn hosts(name: &str) -> String {
    format!(
        "# The {name} environment. Replace the address and user with your server's.\n\
         # Ansible INI inventory: [group], then one host per line with its variables.\n\
         [web]\n\
         web-{name} ansible_host={name}.example.org ansible_user=deploy\n"
    )
}

fn group_vars(name: &str) -> String {
    format!(
        "# Variables of the {name} environment (its web hosts).\n\
         # Every variable is documented in docs/stack.md and roles/<role>/README.md.\n\
         # The git ref `opsctl deploy --env {name}` deploys by default.\n\
         git_version: master\n\
         server_name: {name}.example.org\n\
         ansible_become: true\n\
         # roles/certbot: a Let's Encrypt certificate for server_name (webroot, renewed weekly).\n\
         tls_enabled: true\n\
         acme_email: \"\"  # the ACME account e-mail (optional); put your team's address\n"
    )
}

/// A copied group_vars file: a header naming its origin, and `server_name` replaced
/// by a placeholder so the new environment never points at the old one's server.
fn copy_group_vars(text: &str, name: &str, origin: &str) -> String {
    let mut out =
        format!("# Copied from {origin} by `opsctl env new {name}`: review every value.\n");
    for line in text.lines() {
        if line.starts_with("server_name:") {
            out.push_str(&format!("server_name: {name}.example.org\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn recipients(name: &str, from: Option<(&str, &str)>) -> String {
    let mut out = format!(
        "# Who can decrypt environments/{name}/secrets.age: one public key per line, an\n\
         # age key (age1...) or an SSH key (ssh-ed25519 / ssh-rsa), with a comment naming\n\
         # its owner, e.g.\n\
         #   age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p  # Alice\n\
         # `opsctl secrets keygen` makes an age key. After a change here, run\n\
         # `opsctl secrets rekey --env {name}`.\n"
    );
    if let Some((origin, text)) = from {
        out.push_str(&format!("# Copied from {origin}:\n"));
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            if !line.trim().is_empty() {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["preprod", "eu-1", "a", "test_2"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "a/b", "..", ".hidden", "a b", "é"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn copied_group_vars_get_a_placeholder_server_name() {
        let out = copy_group_vars(
            "git_version: staging\nserver_name: staging.example.org\nx: 1\n",
            "preprod",
            "environments/staging/group_vars/web.yml",
        );
        assert!(out.starts_with(
            "# Copied from environments/staging/group_vars/web.yml by `opsctl env new preprod`"
        ));
        assert!(out.contains("\nserver_name: preprod.example.org\n"));
        assert!(out.contains("git_version: staging\n") && out.contains("x: 1\n"));
        assert!(!out.contains("staging.example.org\n"));
    }

    #[test]
    fn recipients_keep_keys_not_comments() {
        let out = recipients(
            "p",
            Some(("environments/s/recipients", "# team\nage1abc  # Alice\n\n")),
        );
        assert!(out.contains("\nage1abc  # Alice\n"));
        assert!(!out.contains("# team"));
        assert!(out.contains("opsctl secrets rekey --env p"));
    }
}
