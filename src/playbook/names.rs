//! The names a playbook uses that Ansible may know and opsctl not implement
//! (the rule is in [`crate::compat`]): module names (through the play's
//! `collections:` and the modules roles ship in `library/`), and the
//! filters, tests and lookups of the templates in task arguments and
//! conditions. Known but unimplemented: a warning (the task fails when a host
//! reaches it); unknown to Ansible: an error with the nearest name.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::loader::{Cx, Entry, Loader};
use crate::compat::{self, Kind, Name, scan};
use crate::location::Location;
use crate::modules::ModuleDef;
use crate::template::Templar;
use crate::yaml::{Node, NodeValue};

/// The template environment whose filters and tests count as implemented.
fn templar() -> &'static Templar {
    static T: OnceLock<Templar> = OnceLock::new();
    T.get_or_init(Templar::new)
}

/// Is `name` a filter / test / lookup opsctl implements?
pub(super) fn implemented(kind: Kind, name: &str) -> bool {
    match kind {
        Kind::Filter | Kind::Test => compat::has_filter_or_test(templar().env(), kind, name),
        Kind::Lookup => {
            let short = name
                .strip_prefix("ansible.builtin.")
                .or_else(|| name.strip_prefix("ansible.legacy."))
                .unwrap_or(name);
            crate::template::lookup_names().contains(&short)
        }
        Kind::Module => crate::modules::find(name).is_some(),
    }
}

/// Module names in the `library/` directories: file stems.
fn library_modules(dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let p = ent.path();
        if p.is_file()
            && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
            && !stem.starts_with('_')
            && !out.iter().any(|o| o == stem)
        {
            out.push(stem.to_string());
        }
    }
}

/// The names the plugin files of `dir` define: a lookup is its file; a filter
/// or test file maps names to functions (`'name': function`), read as text.
fn plugin_dir_names(dir: &Path, kind: Kind, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let p = ent.path();
        if p.extension().and_then(|e| e.to_str()) != Some("py") {
            continue;
        }
        if kind == Kind::Lookup {
            if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                out.push(stem.to_string());
            }
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let q = b[i];
            if q != b'\'' && q != b'"' {
                i += 1;
                continue;
            }
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j] != q && b[j] != b'\n' {
                j += 1;
            }
            let key = &text[start..j.min(b.len())];
            let mut k = j + 1;
            while k < b.len() && (b[k] == b' ' || b[k] == b'\t') {
                k += 1;
            }
            if b.get(k) == Some(&b':') && crate::names::is_identifier(key) {
                out.push(key.to_string());
            }
            i = j + 1;
        }
    }
}

impl Loader {
    /// Filters, tests or lookups the play's roles and the playbook ship in
    /// `filter_plugins/`, `test_plugins/`, `lookup_plugins/`.
    fn custom_plugins(&self, kind: Kind) -> Vec<String> {
        let sub = match kind {
            Kind::Filter => "filter_plugins",
            Kind::Test => "test_plugins",
            Kind::Lookup => "lookup_plugins",
            Kind::Module => "library",
        };
        let mut dirs: Vec<PathBuf> = Vec::new();
        dirs.extend(self.play.role_stack.iter().map(|(d, _)| d.join(sub)));
        dirs.extend(self.play.roles.iter().map(|r| r.dir.join(sub)));
        dirs.extend(self.play.playbook_dir.iter().map(|d| d.join(sub)));
        let mut out = Vec::new();
        for d in dirs {
            plugin_dir_names(&d, kind, &mut out);
        }
        out
    }

    /// Modules the playbook's and the roles' `library/` directories ship: the
    /// task's role, the play's roles so far, the playbook's directory.
    fn local_modules(&self, cx: &Cx) -> Vec<String> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        dirs.extend(cx.role.map(|r| r.dir.join("library")));
        dirs.extend(self.play.roles.iter().map(|r| r.dir.join("library")));
        dirs.extend(self.play.playbook_dir.iter().map(|d| d.join("library")));
        let mut out = Vec::new();
        for d in dirs {
            library_modules(&d, &mut out);
        }
        out
    }

    /// `module_defaults:` (a mapping, or a list of mappings): module name (or
    /// `group/<action group>`) -> arguments. A name no Ansible module has is an
    /// error, as on a task.
    pub(super) fn module_defaults(
        &mut self,
        e: &Entry,
        file: &Path,
    ) -> Vec<(String, serde_json::Map<String, serde_json::Value>)> {
        let maps: Vec<&Node> = match &e.value.value {
            NodeValue::Null => return Vec::new(),
            NodeValue::Map(_) => vec![e.value],
            NodeValue::Seq(items) => items.iter().collect(),
            _ => {
                self.type_error(e, file, "a mapping of module names to arguments");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for m in maps {
            let Some(pairs) = m.as_map() else {
                self.err(
                    m.location(file),
                    format!(
                        "each entry of module_defaults must be a mapping, found {}",
                        m.kind_name()
                    ),
                    Some(
                        "module_defaults:\n  ansible.builtin.apt:\n    cache_valid_time: 3600"
                            .into(),
                    ),
                );
                continue;
            };
            for (k, v) in pairs {
                let name = k.key_string();
                let args = match v.to_json() {
                    serde_json::Value::Object(a) => a,
                    serde_json::Value::Null => serde_json::Map::new(),
                    _ => {
                        self.err(
                            v.location(file),
                            format!("module_defaults for '{name}' must be a mapping of arguments, found {}", v.kind_name()),
                            Some(format!("module_defaults:\n  {name}:\n    argument: value")),
                        );
                        continue;
                    }
                };
                if !name.starts_with("group/")
                    && let Name::Unknown(near) = compat::module(&name, &self.play.collections, &[])
                {
                    let hint = near
                        .map(|n| format!("did you mean '{n}'?"))
                        .unwrap_or_else(|| "give a module name, or group/<action group>".into());
                    self.err(
                        k.location(file),
                        format!("module_defaults: unknown module '{name}'"),
                        Some(hint),
                    );
                    continue;
                }
                out.push((name, args));
            }
        }
        out
    }

    /// What a module name a task uses is (see [`compat::module`]).
    pub(super) fn resolve_module(&self, name: &str, cx: &Cx) -> Name<&'static ModuleDef> {
        compat::module(name, &self.play.collections, &self.local_modules(cx))
    }

    /// The warning of a task whose module opsctl does not implement.
    pub(super) fn unimplemented_module(&mut self, name: &str, fqcn: &str, at: Location) {
        let what = if name == fqcn || !fqcn.contains('.') {
            format!("module '{name}'")
        } else {
            format!("module '{name}' ({fqcn})")
        };
        self.warn(
            at,
            format!("opsctl does not implement the {what}: the task fails if a host reaches it"),
        );
    }

    /// Checks the filters, tests and lookups of every string in `node` (a
    /// task's arguments, a keyword's value); `bare` strings are expressions
    /// (`when:`, `changed_when:`...).
    pub(super) fn check_templates(&mut self, node: &Node, file: &Path, bare: bool) {
        match &node.value {
            NodeValue::Str(s) => {
                let uses = if bare {
                    scan::expression(s)
                } else if s.contains("{{") || s.contains("{%") {
                    scan::template(s)
                } else {
                    return;
                };
                self.check_uses(uses, node.line, node.column, file);
            }
            NodeValue::Seq(items) => {
                for i in items {
                    self.check_templates(i, file, bare);
                }
            }
            NodeValue::Map(m) => {
                for (_, v) in m {
                    self.check_templates(v, file, bare);
                }
            }
            _ => {}
        }
    }

    /// Checks the names of a template file (a `template:` source).
    pub(super) fn check_template_file(&mut self, path: &Path) {
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        self.check_uses(scan::template(&text), 1, 0, path);
    }

    fn check_uses(&mut self, uses: Vec<scan::Use>, line: usize, column: usize, file: &Path) {
        for u in uses {
            let at = if u.line == 0 && column > 0 {
                Location::new(file, line, Some(column))
            } else {
                Location::new(file, line + u.line, None)
            };
            match compat::plugin(u.kind, &u.name, |n| implemented(u.kind, n)) {
                Name::Implemented(()) => {}
                Name::Known(fqcn) => {
                    let also = if fqcn == u.name {
                        String::new()
                    } else {
                        format!(" ({fqcn})")
                    };
                    self.warn(
                        at,
                        format!(
                            "opsctl does not implement the {} '{}'{also}: a task that evaluates it fails",
                            u.kind.noun(),
                            u.name
                        ),
                    );
                }
                Name::Unknown(_) if self.custom_plugins(u.kind).contains(&u.name) => {
                    self.warn(
                        at,
                        format!(
                            "opsctl does not implement the {} '{}' (a plugin of the play's roles or playbook): a task that evaluates it fails",
                            u.kind.noun(),
                            u.name
                        ),
                    );
                }
                Name::Unknown(_)
                    if u.kind == Kind::Filter && TESTS_AS_FILTERS.contains(&u.name.as_str()) =>
                {
                    self.warn(
                        at,
                        format!(
                            "'{0}' as a filter was removed from Ansible (2.9; write `is {0}`): a task that evaluates it fails",
                            u.name
                        ),
                    );
                }
                Name::Unknown(near) => {
                    let hint = match near {
                        Some(n) => format!("did you mean '{n}'?"),
                        None => format!(
                            "no {} of ansible.builtin or of {} has this name",
                            u.kind.noun(),
                            compat::COLLECTIONS.join(", ")
                        ),
                    };
                    self.err(
                        at,
                        format!("unknown {} '{}'", u.kind.noun(), u.name),
                        Some(hint),
                    );
                }
            }
        }
    }
}

/// Tests that Ansible before 2.9 also took as filters (`result | failed`), and
/// old roles still write so in tasks their conditions skip: Ansible fails
/// such a template only when it evaluates it, so they load with a warning.
const TESTS_AS_FILTERS: &[&str] = &[
    "success",
    "succeeded",
    "failed",
    "failure",
    "changed",
    "change",
    "skipped",
    "skip",
    "finished",
    "started",
    "version_compare",
    "issubset",
    "subset",
    "issuperset",
    "superset",
    "match",
    "search",
    "regex",
];
