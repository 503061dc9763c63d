//! What the shell completes from the project (clap_complete's dynamic completion,
//! `opsctl completions SHELL`): environment names, hosts and groups, playbooks
//! and tags. Read from the files at each <TAB>, never from a cache; a project
//! that cannot be read completes nothing rather than printing an error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::project::Project;

fn project() -> Option<Project> {
    let cwd = std::env::current_dir().ok()?;
    let explicit = std::env::var_os("OPSCTL_PROJECT").map(PathBuf::from);
    Project::discover(explicit.as_deref(), &cwd).ok()
}

/// The project's environments.
pub fn environments() -> Vec<String> {
    project().map(|p| p.environments()).unwrap_or_default()
}

/// Hosts and groups of `OPSCTL_ENV`'s inventory, else of every environment's.
pub fn hosts_and_groups() -> Vec<String> {
    let Some(p) = project() else {
        return Vec::new();
    };
    let envs = match std::env::var("OPSCTL_ENV") {
        Ok(e) if !e.is_empty() => vec![e],
        _ => p.environments(),
    };
    let mut out = BTreeSet::new();
    for e in envs {
        let Ok(env) = p.environment(&e) else {
            continue;
        };
        let Ok(inv) = crate::inventory::load(&env.inventory) else {
            continue;
        };
        out.extend(inv.groups.keys().cloned());
        out.extend(inv.hosts.keys().cloned());
    }
    out.into_iter().collect()
}

/// The project's playbooks (`playbooks/NAME.yml`, as `opsctl run NAME` takes them).
pub fn playbooks() -> Vec<String> {
    let Some(p) = project() else {
        return Vec::new();
    };
    let mut out: Vec<String> = yaml_files(&p.root.join("playbooks"))
        .iter()
        .filter_map(|f| Some(f.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Tags written in the project's playbooks and roles (`tags: x`, `tags: [a, b]`
/// and `- x` items of a `tags:` list).
pub fn tags() -> Vec<String> {
    let Some(p) = project() else {
        return Vec::new();
    };
    let mut files = yaml_files(&p.root.join("playbooks"));
    walk(&p.root.join("roles"), &mut files);
    let mut out = BTreeSet::new();
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            tags_in(&text, &mut out);
        }
    }
    out.into_iter().collect()
}

fn tags_in(text: &str, out: &mut BTreeSet<String>) {
    let mut list_indent: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if let Some(li) = list_indent {
            if let Some(item) = t.strip_prefix("- ")
                && indent >= li
            {
                add_tag(item, out);
                continue;
            }
            list_indent = None;
        }
        let Some(rest) = t
            .strip_prefix("tags:")
            .or_else(|| t.strip_prefix("- tags:"))
        else {
            continue;
        };
        let rest = rest.trim();
        if rest.is_empty() {
            list_indent = Some(indent);
        } else if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            inner.split(',').for_each(|t| add_tag(t, out));
        } else {
            rest.split(',').for_each(|t| add_tag(t, out));
        }
    }
}

fn add_tag(raw: &str, out: &mut BTreeSet<String>) {
    let t = raw.split('#').next().unwrap_or("").trim();
    let t = t.trim_matches(|c| c == '"' || c == '\'');
    if !t.is_empty() && !t.contains("{{") && !t.contains(' ') {
        out.insert(t.to_string());
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_in_each_yaml_form() {
        let mut out = BTreeSet::new();
        tags_in(
            "- name: a\n  tags: nginx\n- name: b\n  tags: [tls, 'site']\n\
             - name: c\n  tags:\n    - deploy  # a comment\n    - \"db\"\n  when: x\n\
             - name: d\n  tags: \"{{ t }}\"\n- name: e\n  tags: one, two\n",
            &mut out,
        );
        let got: Vec<&str> = out.iter().map(String::as_str).collect();
        assert_eq!(got, ["db", "deploy", "nginx", "one", "site", "tls", "two"]);
    }
}
