//! Building each host's [`VarStack`] from the inventory, `group_vars/`,
//! `host_vars/` and `-e`, in Ansible's order. Pure: reads files, no host.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value as Json;

use super::VarsError;
use super::stack::{Definition, Layer, Origin, VarStack};
use crate::inventory::{GroupIndex, Inventory};
use crate::location::Location;
use crate::yaml;

/// Variables of one parsed file: name -> (value, where the name was written).
pub type FileVars = IndexMap<String, (Json, Location)>;

/// Reads vars files once each, however many hosts use them, and each
/// `group_vars/` or `host_vars/` directory's listing once (so a host without a
/// `host_vars/` file costs no file-system call).
#[derive(Debug, Default, Clone)]
pub(super) struct FileCache {
    files: HashMap<PathBuf, FileVars>,
    /// dir -> the names of its entries (`None`: not a directory).
    listings: HashMap<PathBuf, Option<HashSet<String>>>,
    /// dir -> name -> the vars files of `name` in `dir` (only names that have some).
    found: HashMap<PathBuf, HashMap<String, Vec<PathBuf>>>,
}

impl FileCache {
    fn load(&mut self, path: &Path) -> Result<(), VarsError> {
        if !self.files.contains_key(path) {
            let node = yaml::parse_file(path)?;
            let vars = node.to_var_map(path)?;
            self.files.insert(path.to_path_buf(), vars);
        }
        Ok(())
    }

    /// Reads the group_vars of every group (and `all`) and the host_vars of
    /// every host of `inventory` in `vars_dirs` (files already read are kept).
    fn preload_all(
        &mut self,
        inventory: &Inventory,
        vars_dirs: &[PathBuf],
    ) -> Result<(), VarsError> {
        for dir in vars_dirs {
            let group_vars = dir.join("group_vars");
            self.preload(&group_vars, "all")?;
            for g in inventory.groups.keys().filter(|g| *g != "all") {
                self.preload(&group_vars, g)?;
            }
            let host_vars = dir.join("host_vars");
            for h in inventory.hosts.keys() {
                self.preload(&host_vars, h)?;
            }
        }
        Ok(())
    }

    /// Finds (with [`yaml::vars_files`], asking the file system only about
    /// names the directory holds) and parses the vars files of `name` in `dir`.
    fn preload(&mut self, dir: &Path, name: &str) -> Result<(), VarsError> {
        let listing = self.listings.entry(dir.to_path_buf()).or_insert_with(|| {
            let rd = std::fs::read_dir(dir).ok()?;
            Some(
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect(),
            )
        });
        let Some(names) = listing else {
            return Ok(());
        };
        let present = name.contains(std::path::MAIN_SEPARATOR)
            || ["", ".yml", ".yaml", ".json"]
                .iter()
                .any(|ext| names.contains(&format!("{name}{ext}")));
        if !present {
            return Ok(());
        }
        let files = yaml::vars_files(dir, name);
        for f in &files {
            self.load(f)?;
        }
        if !files.is_empty() {
            self.found
                .entry(dir.to_path_buf())
                .or_default()
                .insert(name.to_string(), files);
        }
        Ok(())
    }

    /// The variables of `name`'s files in `dir`, in file order (after [`Self::preload`]).
    fn vars_of<'a>(&'a self, dir: &Path, name: &str) -> impl Iterator<Item = &'a FileVars> {
        self.found
            .get(dir)
            .and_then(|m| m.get(name))
            .into_iter()
            .flatten()
            .filter_map(|f| self.files.get(f))
    }
}

/// Everything a host's [`VarStack`] is built from, read once: the vars
/// directories' files (parsed at load, so a bad file is an error at once),
/// `-e`, the secrets and the inventory's group index. A host's stack is built
/// when first asked for ([`Sources::stack`]), so a command about one host of a
/// big inventory builds one.
///
/// The directories holding `group_vars/` and `host_vars/`: the project's (lower)
/// then the environment's, as [`crate::project::Target::vars_dirs`] lists them.
/// Only the last one is "the environment's"; earlier ones are project-level.
/// `secrets`: the decrypted variables of the environment's `secrets.age`, for
/// every host at [`Layer::Secrets`] (above host_vars, below `-e`).
#[derive(Debug, Clone)]
pub(super) struct Sources {
    /// Roles' `defaults/main.yml`, lowest precedence first ([`Layer::RoleDefaults`]).
    role_defaults: Vec<FileVars>,
    vars_dirs: Vec<PathBuf>,
    extra: Vec<(Json, Origin, String)>,
    secrets: Option<FileVars>,
    cache: FileCache,
    index: GroupIndex,
}

impl Sources {
    pub fn load(
        inventory: &Inventory,
        vars_dirs: &[PathBuf],
        extra: &[(Json, Origin, String)],
        secrets: Option<&FileVars>,
    ) -> Result<Sources, VarsError> {
        let mut cache = FileCache::default();
        cache.preload_all(inventory, vars_dirs)?;
        Ok(Sources {
            role_defaults: Vec::new(),
            vars_dirs: vars_dirs.to_vec(),
            extra: extra.to_vec(),
            secrets: secrets.cloned(),
            cache,
            index: inventory.index(),
        })
    }

    /// These sources for `inventory`, the run's inventory grown by `add_host`
    /// and `group_by`: the group index built anew, the group_vars and
    /// host_vars files of the new groups and hosts read (the others are not
    /// read again).
    pub fn with_inventory(&self, inventory: &Inventory) -> Result<Sources, VarsError> {
        let mut s = self.clone();
        s.cache.preload_all(inventory, &self.vars_dirs)?;
        s.index = inventory.index();
        Ok(s)
    }

    /// These sources plus `extra` after the `-e` given (nothing read again).
    pub fn with_extra(&self, extra: &[(Json, Origin, String)]) -> Sources {
        let mut s = self.clone();
        s.extra.extend_from_slice(extra);
        s
    }

    /// These sources with `defaults` (roles' defaults, lowest first) below
    /// everything the inventory sets (nothing read again).
    pub fn with_role_defaults(&self, defaults: Vec<FileVars>) -> Sources {
        let mut s = self.clone();
        s.role_defaults = defaults;
        s
    }

    /// Every group containing the host (see [`Inventory::host_groups`]).
    pub fn host_groups<'a>(&self, inventory: &'a Inventory, host: &str) -> Vec<&'a str> {
        self.index.host_groups(inventory, host)
    }

    /// The host's stack, in Ansible's order.
    pub fn stack(&self, inventory: &Inventory, host: &str) -> VarStack {
        let groups: Vec<&str> = self
            .index
            .host_groups_vars_order(inventory, host)
            .into_iter()
            .filter(|g| *g != "all")
            .collect();
        host_stack(self, inventory, host, &groups)
    }
}

/// Ansible's group order for variables: by depth from `all`, then
/// `ansible_group_priority`, then name; `all` is handled separately (lowest).
pub fn sorted_groups<'a>(inventory: &'a Inventory, host: &str) -> Vec<&'a str> {
    inventory
        .host_groups_vars_order(host)
        .into_iter()
        .filter(|g| *g != "all")
        .collect()
}

fn host_stack(src: &Sources, inventory: &Inventory, host: &str, groups: &[&str]) -> VarStack {
    let (role_defaults, vars_dirs, extra, secrets, cache) = (
        &src.role_defaults,
        &src.vars_dirs,
        &src.extra,
        src.secrets.as_ref(),
        &src.cache,
    );
    let mut s = VarStack::default();
    let (project_dirs, env_dir) = match vars_dirs.split_last() {
        Some((last, rest)) => (rest, Some(last)),
        None => (&[][..], None),
    };

    s.push(
        "ansible_host",
        Definition {
            value: Json::from(host),
            origin: Origin::Builtin {
                what: "default: the inventory name".into(),
            },
            layer: Layer::Magic,
        },
    );

    // 0. roles' defaults (when the command asked for them: the playbook engine
    // sets those of a play's roles itself)
    for vars in role_defaults {
        for (k, (v, loc)) in vars {
            s.push(k, file_def(v, loc, Layer::RoleDefaults));
        }
    }
    // 1. the inventory file: [all:vars], then each group's vars in order
    if let Some(all) = inventory.groups.get("all") {
        for (k, d) in &all.vars {
            s.push(k, file_def(&d.value, &d.location, Layer::InventoryAll));
        }
    }
    for g in groups {
        if let Some(group) = inventory.groups.get(*g) {
            for (k, d) in &group.vars {
                s.push(k, file_def(&d.value, &d.location, Layer::InventoryGroup));
            }
        }
    }
    // 2. group_vars/all: project, then environment
    for dir in project_dirs {
        push_files(
            &mut s,
            cache,
            &dir.join("group_vars"),
            "all",
            Layer::ProjectGroupVarsAll,
        );
    }
    if let Some(dir) = env_dir {
        push_files(
            &mut s,
            cache,
            &dir.join("group_vars"),
            "all",
            Layer::GroupVarsAll,
        );
    }
    // 3. group_vars/<group>, groups in order: project, then environment
    for dir in project_dirs {
        for g in groups {
            push_files(
                &mut s,
                cache,
                &dir.join("group_vars"),
                g,
                Layer::ProjectGroupVars,
            );
        }
    }
    if let Some(dir) = env_dir {
        for g in groups {
            push_files(&mut s, cache, &dir.join("group_vars"), g, Layer::GroupVars);
        }
    }
    // 4. the host's own line in the inventory, then host_vars/
    if let Some(h) = inventory.hosts.get(host) {
        for (k, d) in &h.vars {
            s.push(k, file_def(&d.value, &d.location, Layer::InventoryHost));
        }
    }
    for dir in project_dirs {
        push_files(
            &mut s,
            cache,
            &dir.join("host_vars"),
            host,
            Layer::ProjectHostVars,
        );
    }
    if let Some(dir) = env_dir {
        push_files(&mut s, cache, &dir.join("host_vars"), host, Layer::HostVars);
    }
    // 5. the environment's secrets.age (decrypted in memory)
    for (k, (v, loc)) in secrets.into_iter().flatten() {
        s.push(k, file_def(v, loc, Layer::Secrets));
    }
    // 6. -e, in the order given
    for (map, origin, _) in extra {
        if let Json::Object(m) = map {
            for (k, v) in m {
                s.push(
                    k,
                    Definition {
                        value: v.clone(),
                        origin: origin.clone(),
                        layer: Layer::ExtraVars,
                    },
                );
            }
        }
    }
    s
}

fn file_def(value: &Json, location: &Location, layer: Layer) -> Definition {
    Definition {
        value: value.clone(),
        origin: Origin::File {
            location: location.clone(),
        },
        layer,
    }
}

fn push_files(s: &mut VarStack, cache: &FileCache, dir: &Path, name: &str, layer: Layer) {
    for vars in cache.vars_of(dir, name) {
        for (k, (v, loc)) in vars {
            s.push(k, file_def(v, loc, layer));
        }
    }
}

/// Parses `-e` arguments: `k=v k2="v 2"` (values are strings, as in Ansible),
/// `@file.yml` (a YAML/JSON file of variables), or an inline JSON/YAML mapping.
pub fn parse_extra_vars(
    args: &[String],
    cwd: &Path,
) -> Result<Vec<(Json, Origin, String)>, VarsError> {
    let mut out = Vec::new();
    for arg in args {
        let trimmed = arg.trim();
        if let Some(file) = trimmed.strip_prefix('@') {
            let path = if Path::new(file).is_absolute() {
                PathBuf::from(file)
            } else {
                cwd.join(file)
            };
            if !path.is_file() {
                return Err(VarsError::ExtraVars {
                    arg: arg.clone(),
                    message: format!("file {} does not exist", path.display()),
                });
            }
            let node = yaml::parse_file(&path)?;
            // Each variable keeps its own line in the file.
            for (k, (v, loc)) in node.to_var_map(&path)? {
                let mut one = serde_json::Map::new();
                one.insert(k, v);
                out.push((
                    Json::Object(one),
                    Origin::File { location: loc },
                    arg.clone(),
                ));
            }
            continue;
        }
        if trimmed.starts_with('{') {
            let node = yaml::parse(trimmed, Path::new("-e")).map_err(|e| VarsError::ExtraVars {
                arg: arg.clone(),
                message: e.message,
            })?;
            let json = node.to_json();
            if !json.is_object() {
                return Err(VarsError::ExtraVars {
                    arg: arg.clone(),
                    message: "expected a mapping".into(),
                });
            }
            out.push((json, Origin::CommandLine { arg: arg.clone() }, arg.clone()));
            continue;
        }
        let words = shlex::split(trimmed).ok_or_else(|| VarsError::ExtraVars {
            arg: arg.clone(),
            message: "unbalanced quotes".into(),
        })?;
        let mut map = serde_json::Map::new();
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                return Err(VarsError::ExtraVars {
                    arg: arg.clone(),
                    message: format!("`{w}` is not key=value"),
                });
            };
            if !is_identifier(k) {
                return Err(VarsError::ExtraVars {
                    arg: arg.clone(),
                    message: format!("`{k}` is not a valid variable name"),
                });
            }
            map.insert(k.to_string(), Json::String(v.to_string()));
        }
        out.push((
            Json::Object(map),
            Origin::CommandLine { arg: arg.clone() },
            arg.clone(),
        ));
    }
    Ok(out)
}

pub use crate::names::is_identifier;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_vars_forms() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("x.yml"), "a: 1\nb: [1, 2]\n").unwrap();
        let e = parse_extra_vars(
            &[
                "git_version=v1.2 msg=\"hello world\"".into(),
                "@x.yml".into(),
                r#"{"n": 3, "ok": true}"#.into(),
            ],
            d.path(),
        )
        .unwrap();
        assert_eq!(
            e[0].0,
            serde_json::json!({"git_version": "v1.2", "msg": "hello world"})
        );
        assert_eq!(e[1].0, serde_json::json!({"a": 1}));
        assert_eq!(e[2].0, serde_json::json!({"b": [1, 2]}));
        assert!(matches!(&e[2].1, Origin::File { location } if location.line == 2));
        assert_eq!(e[3].0, serde_json::json!({"n": 3, "ok": true}));
        assert!(parse_extra_vars(&["novalue".into()], d.path()).is_err());
        assert!(parse_extra_vars(&["@missing.yml".into()], d.path()).is_err());
        assert!(parse_extra_vars(&["1x=2".into()], d.path()).is_err());
    }
}
