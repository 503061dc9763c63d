//! Building each host's [`VarStack`] from the inventory, `group_vars/`,
//! `host_vars/` and `-e`, in Ansible's order. Pure: reads files, no host.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;
use serde_json::Value as Json;

use super::VarsError;
use super::stack::{Definition, Layer, Origin, VarStack};
use crate::inventory::{GroupIndex, Host, Inventory};
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
    /// dir -> the names of its entries, and of those named `*.yml`, `*.yaml`
    /// or `*.json` without that extension too (`None`: not a directory).
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
            self.preload(&group_vars, ["all"])?;
            let groups = inventory.groups.keys().map(String::as_str);
            self.preload(&group_vars, groups.filter(|g| *g != "all"))?;
            let hosts = inventory.hosts.keys().map(String::as_str);
            self.preload(&dir.join("host_vars"), hosts)?;
        }
        Ok(())
    }

    /// Finds (with [`yaml::vars_files`], asking the file system only about
    /// names the directory holds) and parses the vars files of each of `names`
    /// in `dir`.
    fn preload<'n>(
        &mut self,
        dir: &Path,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<(), VarsError> {
        let listing = self.listings.entry(dir.to_path_buf()).or_insert_with(|| {
            let rd = std::fs::read_dir(dir).ok()?;
            let mut stems = HashSet::new();
            for name in rd
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
            {
                if let Some(stem) = [".yml", ".yaml", ".json"]
                    .iter()
                    .find_map(|ext| name.strip_suffix(ext))
                {
                    stems.insert(stem.to_string());
                }
                stems.insert(name);
            }
            Some(stems)
        });
        let Some(stems) = listing else {
            return Ok(());
        };
        // `name`, `name.yml`, `name.yaml` or `name.json` is in the directory
        let present: Vec<&str> = names
            .into_iter()
            .filter(|name| name.contains(std::path::MAIN_SEPARATOR) || stems.contains(*name))
            .collect();
        for name in present {
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
    /// Connection defaults ([`Layer::Config`]): name, value, where set.
    config: Vec<(String, Json, Origin)>,
    /// Roles' `defaults/main.yml`, lowest precedence first ([`Layer::RoleDefaults`]).
    role_defaults: Vec<FileVars>,
    /// The vars directories, and `group_vars/` and `host_vars/` of each.
    vars_dirs: Vec<PathBuf>,
    group_vars_dirs: Vec<PathBuf>,
    host_vars_dirs: Vec<PathBuf>,
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
            config: Vec::new(),
            role_defaults: Vec::new(),
            vars_dirs: vars_dirs.to_vec(),
            group_vars_dirs: vars_dirs.iter().map(|d| d.join("group_vars")).collect(),
            host_vars_dirs: vars_dirs.iter().map(|d| d.join("host_vars")).collect(),
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

    /// These sources with connection defaults (ansible.cfg, `ANSIBLE_*`, the
    /// command line) below every variable (nothing read again).
    pub fn with_config(&self, config: Vec<(String, Json, Origin)>) -> Sources {
        let mut s = self.clone();
        s.config = config;
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

    /// The winning raw values of each host's variables ([`RawVars`]).
    pub fn raw<'a>(&'a self, inventory: &'a Inventory) -> RawVars<'a> {
        RawVars::new(self, inventory)
    }

    /// The host's stack, in Ansible's order.
    pub fn stack(&self, inventory: &Inventory, host: &str) -> VarStack {
        host_stack(self, inventory, host, &self.vars_groups(inventory, host))
    }

    /// The host's groups in Ansible's order for variables, `all` left out.
    fn vars_groups<'a>(&self, inventory: &'a Inventory, host: &str) -> Vec<&'a str> {
        let mut groups = self.index.host_groups_vars_order(inventory, host);
        groups.retain(|g| *g != "all");
        groups
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
    let mut s = VarStack::default();
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
    let mut push = |name: &str, value: &Json, from: Whence<'_>, layer: Layer| {
        let origin = match from {
            Whence::File(location) => Origin::File {
                location: location.clone(),
            },
            Whence::Other(origin) => origin.clone(),
        };
        s.push(
            name,
            Definition {
                value: value.clone(),
                origin,
                layer,
            },
        );
    };
    // connection defaults (ansible.cfg, ANSIBLE_*, -u/-b/--private-key): the
    // lowest layer, and not inventory variables (left out of `raw`)
    for (k, v, origin) in &src.config {
        push(k, v, Whence::Other(origin), Layer::Config);
    }
    walk_groups(src, inventory, groups, &mut push);
    walk_host(src, host, inventory.hosts.get(host), &mut push);
    s
}

/// The project-level directories of `dirs` and the environment's (the last).
fn split_dirs(dirs: &[PathBuf]) -> (&[PathBuf], Option<&PathBuf>) {
    match dirs.split_last() {
        Some((last, rest)) => (rest, Some(last)),
        None => (&[], None),
    }
}

/// Where a definition [`walk_groups`] or [`walk_host`] found was written.
enum Whence<'a> {
    File(&'a Location),
    Other(&'a Origin),
}

/// The group-level definitions of a host in `groups` (Ansible's order, `all`
/// left out), lowest precedence first: roles' defaults, the inventory file's
/// `[all:vars]` and group vars, `group_vars/all`, `group_vars/<group>`. They
/// depend on the host's groups only, not on the host.
fn walk_groups<'a>(
    src: &'a Sources,
    inventory: &'a Inventory,
    groups: &[&str],
    f: &mut impl FnMut(&'a str, &'a Json, Whence<'a>, Layer),
) {
    // 0. roles' defaults (when the command asked for them: the playbook engine
    // sets those of a play's roles itself)
    for vars in &src.role_defaults {
        for (k, (v, loc)) in vars {
            f(k, v, Whence::File(loc), Layer::RoleDefaults);
        }
    }
    // 1. the inventory file: [all:vars], then each group's vars in order
    if let Some(all) = inventory.groups.get("all") {
        for (k, d) in &all.vars {
            f(k, &d.value, Whence::File(&d.location), Layer::InventoryAll);
        }
    }
    for g in groups {
        if let Some(group) = inventory.groups.get(*g) {
            for (k, d) in &group.vars {
                f(
                    k,
                    &d.value,
                    Whence::File(&d.location),
                    Layer::InventoryGroup,
                );
            }
        }
    }
    let (project, env) = split_dirs(&src.group_vars_dirs);
    // 2. group_vars/all: project, then environment
    for dir in project {
        walk_files(&src.cache, dir, "all", Layer::ProjectGroupVarsAll, f);
    }
    if let Some(dir) = env {
        walk_files(&src.cache, dir, "all", Layer::GroupVarsAll, f);
    }
    // 3. group_vars/<group>, groups in order: project, then environment
    for dir in project {
        for g in groups {
            walk_files(&src.cache, dir, g, Layer::ProjectGroupVars, f);
        }
    }
    if let Some(dir) = env {
        for g in groups {
            walk_files(&src.cache, dir, g, Layer::GroupVars, f);
        }
    }
}

/// The host-level definitions of a host, above every group-level one, lowest
/// first: the host's line in the inventory, `host_vars/`, the secrets, `-e`.
fn walk_host<'a>(
    src: &'a Sources,
    host: &str,
    entry: Option<&'a Host>,
    f: &mut impl FnMut(&'a str, &'a Json, Whence<'a>, Layer),
) {
    // 4. the host's own line in the inventory, then host_vars/
    if let Some(h) = entry {
        for (k, d) in &h.vars {
            f(k, &d.value, Whence::File(&d.location), Layer::InventoryHost);
        }
    }
    let (project, env) = split_dirs(&src.host_vars_dirs);
    for dir in project {
        walk_files(&src.cache, dir, host, Layer::ProjectHostVars, f);
    }
    if let Some(dir) = env {
        walk_files(&src.cache, dir, host, Layer::HostVars, f);
    }
    // 5. the environment's secrets.age (decrypted in memory)
    for (k, (v, loc)) in src.secrets.iter().flatten() {
        f(k, v, Whence::File(loc), Layer::Secrets);
    }
    // 6. -e, in the order given
    for (map, origin, _) in &src.extra {
        if let Json::Object(m) = map {
            for (k, v) in m {
                f(k, v, Whence::Other(origin), Layer::ExtraVars);
            }
        }
    }
}

fn walk_files<'a>(
    cache: &'a FileCache,
    dir: &Path,
    name: &str,
    layer: Layer,
    f: &mut impl FnMut(&'a str, &'a Json, Whence<'a>, Layer),
) {
    for vars in cache.vars_of(dir, name) {
        for (k, (v, loc)) in vars {
            f(k, v, Whence::File(loc), layer);
        }
    }
}

/// The raw (untemplated) winning value of every variable a file or `-e` sets
/// for each host, as `ansible-inventory --list` shows them (opsctl's built-in
/// defaults left out), without building each host's [`VarStack`]: the
/// group-level winners are merged once per set of groups (most hosts of a big
/// inventory share one), and only each host's own definitions go on top.
pub struct RawVars<'a> {
    src: &'a Sources,
    inventory: &'a Inventory,
    /// A host's direct groups ([`GroupIndex::direct_groups`]) -> the winners
    /// of its group-level definitions, sorted by name.
    by_groups: HashMap<Vec<usize>, Vec<(&'a str, &'a Json)>, FxBuildHasher>,
    own: Vec<(&'a str, &'a Json)>,
}

impl<'a> RawVars<'a> {
    pub(super) fn new(src: &'a Sources, inventory: &'a Inventory) -> RawVars<'a> {
        RawVars {
            src,
            inventory,
            by_groups: HashMap::default(),
            own: Vec::new(),
        }
    }

    /// Fills `out` (cleared first) with the host's variables, sorted by name,
    /// each once with its winning value: what `VarStack::get` gives for each
    /// name of the host's stack, built-in defaults left out. Nothing for an
    /// unknown host.
    pub fn host(&mut self, host: &str, out: &mut Vec<(&'a str, &'a Json)>) {
        out.clear();
        let (src, inventory) = (self.src, self.inventory);
        let Some((h, name, entry)) = inventory.hosts.get_full(host) else {
            return;
        };
        let direct = src.index.direct_groups(h);
        if !self.by_groups.contains_key(direct) {
            let groups = src.vars_groups(inventory, name);
            let mut won: IndexMap<&'a str, &'a Json, FxBuildHasher> = IndexMap::default();
            walk_groups(src, inventory, &groups, &mut |k, v, _, _| {
                won.insert(k, v);
            });
            let mut won: Vec<(&'a str, &'a Json)> = won.into_iter().collect();
            won.sort_unstable_by(|a, b| a.0.cmp(b.0));
            self.by_groups.insert(direct.to_vec(), won);
        }
        let shared = &self.by_groups[direct];
        let own = &mut self.own;
        own.clear();
        walk_host(src, name, Some(entry), &mut |k, v, _, _| own.push((k, v)));
        // the last definition of a name wins: a stable sort keeps them in order
        own.sort_by(|a, b| a.0.cmp(b.0));
        let (mut i, mut j) = (0, 0);
        while i < shared.len() || j < own.len() {
            // the host's own winner of the name at j: the last of its run
            let mut last = j;
            while last + 1 < own.len() && own[last + 1].0 == own[j].0 {
                last += 1;
            }
            match (shared.get(i), own.get(j)) {
                (Some(s), Some(o)) if s.0 < o.0 => {
                    out.push(*s);
                    i += 1;
                }
                (Some(s), Some(o)) => {
                    if s.0 == o.0 {
                        i += 1;
                    }
                    out.push(own[last]);
                    j = last + 1;
                }
                (Some(s), None) => {
                    out.push(*s);
                    i += 1;
                }
                (None, _) => {
                    out.push(own[last]);
                    j = last + 1;
                }
            }
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
