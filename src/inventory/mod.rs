//! Ansible inventories: INI and YAML files, host ranges, groups and host patterns.
//!
//! Loading is pure: it reads files and builds an [`Inventory`]; nothing connects.
//! Variables written in the inventory file itself (host lines, `[g:vars]`,
//! `vars:` in YAML) are kept with their [`Location`] so `opsctl vars` can say
//! where each value came from. `group_vars/` and `host_vars/` directories are
//! read by the `vars` layer, not here.
//!
//! Behaviour follows ansible-core 2.19 (checked against it, see
//! tests/fixtures/inventory/): INI values on host lines *and* in `[g:vars]` are
//! typed with Python's `ast.literal_eval` (`x=1` is an int, `x=yes` a string);
//! `[g:children]` must name groups declared somewhere in the same file; a port
//! (`h:2222`) only counts where the host first appears; `all` lists its hosts
//! level by level through child groups ([`Inventory::group_hosts`]). Where
//! Ansible only warns (unknown YAML keys, invalid variable names, empty host
//! ranges), opsctl stops with `file:line:col` and a hint.
//!
//! Modules: `ini` and `yaml` (parsers), `range` (host ranges and addresses),
//! `pyliteral` and `pyshlex` (the Python semantics INI needs), `pattern` (host
//! patterns), `export` (`--graph`, `--list`).

use indexmap::IndexMap;
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::location::Location;

pub mod export;
mod ini;
pub mod pattern;
mod pyliteral;
mod pyshlex;
pub mod range;
#[cfg(test)]
mod tests;
mod yaml;

pub use pattern::PatternError;

/// A variable defined in an inventory source, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct VarDef {
    pub value: Json,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    /// Variables set on the host in the inventory source (host line, `host:port`
    /// becomes `ansible_port`, YAML `hosts:` entry). Later definitions win.
    pub vars: IndexMap<String, VarDef>,
    /// Where the host first appeared.
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    /// Hosts listed directly in this group, in order.
    pub hosts: Vec<String>,
    /// Child groups, in order.
    pub children: Vec<String>,
    /// `[name:vars]` / YAML `vars:` of this group.
    pub vars: IndexMap<String, VarDef>,
    /// Where the group was first declared (`None` for the implicit `all` and `ungrouped`).
    pub location: Option<Location>,
    /// `ansible_group_priority` (default 1): orders groups of the same depth when
    /// merging their vars. Like Ansible, it is not kept in `vars`.
    pub priority: i64,
}

/// A loaded inventory. `all` and `ungrouped` always exist; `all` has every other
/// top-level group as a child, and hosts in no group but `all` are in `ungrouped`.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    /// Hosts in order of first appearance.
    pub hosts: IndexMap<String, Host>,
    /// Groups in order of first appearance, `all` first, `ungrouped` second.
    pub groups: IndexMap<String, Group>,
    /// The inventory file, or the directory it was loaded from.
    pub source: PathBuf,
}

/// An inventory that cannot be loaded: where, what, and what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct InventoryError {
    pub location: Location,
    pub message: String,
    pub hint: Option<String>,
}

impl InventoryError {
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        InventoryError {
            location,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Files in an inventory directory that are never inventories.
fn is_ignored_name(name: &str) -> bool {
    const EXACT: &[&str] = &["ssh_config", "known_hosts", "recipients"];
    const PREFIXES: &[&str] = &[".", "secrets", "id_"];
    const SUFFIXES: &[&str] = &[
        ".pub", ".age", ".md", ".txt", ".rst", ".cfg", ".retry", ".bak", ".orig", ".swp", "~",
        ".pyc", ".pyo", ".rpm", ".json",
    ];
    EXACT.contains(&name)
        || PREFIXES.iter().any(|p| name.starts_with(p))
        || SUFFIXES.iter().any(|s| name.ends_with(s))
}

fn is_yaml_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    )
}

/// Loads an inventory file, or every inventory file directly inside a directory
/// (in name order, merged as Ansible merges several sources).
pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let msg = if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "inventory {} does not exist",
                crate::location::display_path(path)
            )
        } else {
            format!(
                "cannot read inventory {}: {e}",
                crate::location::display_path(path)
            )
        };
        InventoryError::new(Location::file(path), msg).with_hint(
            "pass an inventory file (`hosts` or `hosts.yml`) or a directory that holds one",
        )
    })?;
    let mut b = Builder::new(path);
    if meta.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| {
                InventoryError::new(Location::file(path), format!("cannot read directory: {e}"))
            })?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_str().is_some_and(|n| !is_ignored_name(n)))
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(InventoryError::new(
                Location::file(path),
                format!(
                    "no inventory file in directory {}",
                    crate::location::display_path(path)
                ),
            )
            .with_hint("create `hosts` (INI) or `hosts.yml` (YAML) in it"));
        }
        for f in files {
            load_file_into(&mut b, &f)?;
        }
    } else {
        load_file_into(&mut b, path)?;
    }
    b.finish()
}

fn load_file_into(b: &mut Builder, file: &Path) -> Result<(), InventoryError> {
    let bytes = std::fs::read(file).map_err(|e| {
        InventoryError::new(
            Location::file(file),
            format!("cannot read inventory file: {e}"),
        )
    })?;
    let source = String::from_utf8(bytes).map_err(|e| {
        let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
        InventoryError::new(
            Location::new(file, line, None),
            "the file is not valid UTF-8",
        )
    })?;
    if file.extension().is_some_and(|e| e == "toml") {
        return Err(InventoryError::new(
            Location::file(file),
            "TOML inventories are not supported",
        )
        .with_hint("write the inventory as INI (`hosts`) or YAML (`hosts.yml`)"));
    }
    if is_yaml_name(file) {
        return yaml::parse_into(b, &source, file);
    }
    // Like Ansible, a file without an extension holding a YAML mapping is a YAML
    // inventory (INI content never parses as a YAML mapping).
    if file.extension().is_none()
        && let Ok(node) = crate::yaml::parse(&source, file)
        && node.as_map().is_some()
    {
        return yaml::parse_into(b, &source, file);
    }
    ini::parse_into(b, &source, file)
}

/// Parses an INI inventory (Ansible's `ini` inventory plugin).
pub fn parse_ini(source: &str, file: &Path) -> Result<Inventory, InventoryError> {
    let mut b = Builder::new(file);
    ini::parse_into(&mut b, source, file)?;
    b.finish()
}

/// Parses a YAML inventory (Ansible's `yaml` inventory plugin), strictly.
pub fn parse_yaml(source: &str, file: &Path) -> Result<Inventory, InventoryError> {
    let mut b = Builder::new(file);
    yaml::parse_into(&mut b, source, file)?;
    b.finish()
}

/// Ansible accepts other names with a deprecation warning (an error from 2.23);
/// opsctl refuses them now.
pub(crate) fn valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !PY_KEYWORDS.contains(&name)
        && !["true", "false", "none", "True", "False", "None", "not"].contains(&name)
}

const PY_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

pub(crate) const VAR_NAME_HINT: &str = "variable names start with a letter or '_' and contain only letters, digits and '_' (and are not Python keywords)";

impl Inventory {
    /// An inventory with only the implicit `all` and `ungrouped` groups.
    pub fn empty(source: impl Into<PathBuf>) -> Inventory {
        let mut groups = IndexMap::new();
        for name in ["all", "ungrouped"] {
            groups.insert(
                name.to_string(),
                Group {
                    name: name.to_string(),
                    hosts: Vec::new(),
                    children: Vec::new(),
                    vars: IndexMap::new(),
                    location: None,
                    priority: 1,
                },
            );
        }
        groups["all"].children.push("ungrouped".to_string());
        Inventory {
            hosts: IndexMap::new(),
            groups,
            source: source.into(),
        }
    }

    /// The groups that list `group` as a child, in groups order.
    pub fn group_parents(&self, group: &str) -> Vec<&str> {
        self.groups
            .values()
            .filter(|g| g.children.iter().any(|c| c == group))
            .map(|g| g.name.as_str())
            .collect()
    }

    fn parents_map(&self) -> HashMap<&str, Vec<&str>> {
        let mut m: HashMap<&str, Vec<&str>> = HashMap::new();
        for g in self.groups.values() {
            for c in &g.children {
                m.entry(c.as_str()).or_default().push(g.name.as_str());
            }
        }
        m
    }

    /// Every group containing the host, directly or through child groups,
    /// including `all` (and `ungrouped` when the host is there), in groups order.
    pub fn host_groups(&self, host: &str) -> Vec<&str> {
        if !self.hosts.contains_key(host) {
            return Vec::new();
        }
        let parents = self.parents_map();
        let mut found: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&str> = self
            .groups
            .values()
            .filter(|g| g.hosts.iter().any(|h| h == host))
            .map(|g| g.name.as_str())
            .collect();
        stack.push("all");
        while let Some(g) = stack.pop() {
            if found.insert(g) {
                stack.extend(parents.get(g).into_iter().flatten().copied());
            }
        }
        self.groups
            .keys()
            .map(String::as_str)
            .filter(|g| found.contains(g))
            .collect()
    }

    /// Ansible's group depth: `all` is 0, its children 1, and a group below
    /// several parents takes the longest path from `all`.
    pub fn group_depth(&self, group: &str) -> usize {
        let parents = self.parents_map();
        let mut memo = HashMap::new();
        depth_of(group, &parents, &mut memo, 0)
    }

    /// The host's groups in the order Ansible merges their variables: by depth,
    /// then `ansible_group_priority`, then name (so `all` first).
    pub fn host_groups_vars_order(&self, host: &str) -> Vec<&str> {
        let parents = self.parents_map();
        let mut memo = HashMap::new();
        let mut gs: Vec<(usize, i64, &str)> = self
            .host_groups(host)
            .into_iter()
            .map(|g| {
                (
                    depth_of(g, &parents, &mut memo, 0),
                    self.groups[g].priority,
                    g,
                )
            })
            .collect();
        gs.sort();
        gs.into_iter().map(|(_, _, g)| g).collect()
    }

    /// The hosts of a group and of all its descendants, without duplicates, in the
    /// order Ansible lists them (`groups['name']`, `ansible name --list-hosts`): the
    /// group's own hosts, then its children's, then grandchildren's, level by level.
    pub fn group_hosts(&self, group: &str) -> Vec<&str> {
        let Some(g) = self.groups.get(group) else {
            return Vec::new();
        };
        // Group._walk_relationship('child_groups', include_self=True, preserve_ordering=True)
        let mut ordered: Vec<&str> = vec![g.name.as_str()];
        ordered.extend(g.children.iter().map(String::as_str));
        let mut seen: HashSet<&str> = HashSet::new();
        let mut unprocessed: Vec<&str> = dedup(g.children.iter().map(String::as_str));
        while !unprocessed.is_empty() {
            seen.extend(unprocessed.iter().copied());
            let mut next: Vec<&str> = Vec::new();
            for u in &unprocessed {
                for c in self
                    .groups
                    .get(*u)
                    .map(|x| x.children.as_slice())
                    .unwrap_or_default()
                {
                    if !next.contains(&c.as_str()) {
                        next.push(c);
                    }
                    if !seen.contains(c.as_str()) {
                        ordered.push(c);
                    }
                }
            }
            next.retain(|c| !seen.contains(c));
            unprocessed = next;
        }
        let mut out: Vec<&str> = Vec::new();
        let mut have: HashSet<&str> = HashSet::new();
        for kid in ordered {
            for h in self
                .groups
                .get(kid)
                .map(|x| x.hosts.as_slice())
                .unwrap_or_default()
            {
                if have.insert(h.as_str()) {
                    out.push(h);
                }
            }
        }
        out
    }
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn depth_of<'a>(
    group: &'a str,
    parents: &HashMap<&'a str, Vec<&'a str>>,
    memo: &mut HashMap<&'a str, usize>,
    guard: usize,
) -> usize {
    if let Some(&d) = memo.get(group) {
        return d;
    }
    // Cycles are refused at load time; the guard only protects hand-built inventories.
    if guard > 10_000 {
        return 0;
    }
    let d = parents
        .get(group)
        .map(|ps| {
            ps.iter()
                .map(|p| depth_of(p, parents, memo, guard + 1) + 1)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    memo.insert(group, d);
    d
}

/// Builds an [`Inventory`] the way Ansible's `InventoryData` does: groups and hosts
/// in order of first appearance, cycle checks on every child edge, and the final
/// `reconcile_inventory` (top-level groups under `all`, `ungrouped`).
pub(crate) struct Builder {
    pub inv: Inventory,
    /// child -> parents, to check cycles quickly.
    parents: HashMap<String, Vec<String>>,
}

impl Builder {
    pub fn new(source: &Path) -> Builder {
        let mut parents = HashMap::new();
        parents.insert("ungrouped".to_string(), vec!["all".to_string()]);
        Builder {
            inv: Inventory::empty(source),
            parents,
        }
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.inv.groups.contains_key(name)
    }

    pub fn add_group(&mut self, name: &str, location: Location) {
        if !self.inv.groups.contains_key(name) {
            self.inv.groups.insert(
                name.to_string(),
                Group {
                    name: name.to_string(),
                    hosts: Vec::new(),
                    children: Vec::new(),
                    vars: IndexMap::new(),
                    location: Some(location),
                    priority: 1,
                },
            );
        }
    }

    /// Adds a host (created with `ansible_port` when it is new and a port is given,
    /// as Ansible does: a port on a later mention of the host is ignored) to a group.
    pub fn add_host(&mut self, name: &str, group: &str, port: Option<u64>, location: &Location) {
        if !self.inv.hosts.contains_key(name) {
            let mut vars = IndexMap::new();
            if let Some(p) = port.filter(|&p| p != 0) {
                vars.insert(
                    "ansible_port".to_string(),
                    VarDef {
                        value: Json::from(p),
                        location: location.clone(),
                    },
                );
            }
            self.inv.hosts.insert(
                name.to_string(),
                Host {
                    name: name.to_string(),
                    vars,
                    location: location.clone(),
                },
            );
        }
        if let Some(g) = self.inv.groups.get_mut(group)
            && !g.hosts.iter().any(|h| h == name)
        {
            g.hosts.push(name.to_string());
        }
    }

    fn ancestors(&self, group: &str) -> HashSet<String> {
        let mut out = HashSet::new();
        let mut stack = vec![group.to_string()];
        while let Some(g) = stack.pop() {
            for p in self.parents.get(&g).into_iter().flatten() {
                if out.insert(p.clone()) {
                    stack.push(p.clone());
                }
            }
        }
        out
    }

    /// Makes `child` a child group of `parent` (both must exist).
    pub fn add_child(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if parent == child {
            return Err(format!("group '{child}' cannot be a child of itself"));
        }
        if self.inv.groups[parent].children.iter().any(|c| c == child) {
            return Ok(());
        }
        if self.ancestors(parent).contains(child) {
            return Err(format!(
                "adding group '{child}' as a child of '{parent}' creates a cycle ('{parent}' is already below '{child}')"
            ));
        }
        if let Some(g) = self.inv.groups.get_mut(parent) {
            g.children.push(child.to_string());
        }
        let ps = self.parents.entry(child.to_string()).or_default();
        if !ps.iter().any(|p| p == parent) {
            ps.push(parent.to_string());
        }
        Ok(())
    }

    /// Group.set_variable: `ansible_group_priority` sets the priority instead.
    pub fn set_group_var(
        &mut self,
        group: &str,
        key: &str,
        def: VarDef,
    ) -> Result<(), InventoryError> {
        let g = self.inv.groups.get_mut(group).expect("group exists");
        if key == "ansible_group_priority" {
            let p = match &def.value {
                Json::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
                Json::Bool(b) => Some(*b as i64),
                Json::String(s) => range::py_int(s).and_then(|v| i64::try_from(v).ok()),
                Json::Null => return Ok(()),
                _ => None,
            };
            g.priority = p.ok_or_else(|| {
                InventoryError::new(
                    def.location.clone(),
                    format!(
                        "ansible_group_priority must be an integer, got {}",
                        def.value
                    ),
                )
            })?;
            return Ok(());
        }
        g.vars.insert(key.to_string(), def);
        Ok(())
    }

    pub fn set_host_var(&mut self, host: &str, key: &str, def: VarDef) {
        if let Some(h) = self.inv.hosts.get_mut(host) {
            h.vars.insert(key.to_string(), def);
        }
    }

    /// `InventoryData.reconcile_inventory`, then the finished inventory.
    pub fn finish(mut self) -> Result<Inventory, InventoryError> {
        let names: Vec<String> = self.inv.groups.keys().cloned().collect();
        for g in names {
            if g != "all" && self.ancestors(&g).is_empty() {
                self.add_child("all", &g).map_err(|m| {
                    let loc = self.inv.groups[&g]
                        .location
                        .clone()
                        .unwrap_or_else(|| Location::file(&self.inv.source));
                    InventoryError::new(loc, m)
                })?;
            }
        }
        let hosts: Vec<String> = self.inv.hosts.keys().cloned().collect();
        for h in hosts {
            let mine = self.inv.host_groups(&h);
            if mine.contains(&"ungrouped") {
                if mine.iter().any(|g| *g != "all" && *g != "ungrouped") {
                    self.inv.groups["ungrouped"].hosts.retain(|x| *x != h);
                }
            } else if mine.iter().all(|g| *g == "all") {
                self.inv.groups["ungrouped"].hosts.push(h.clone());
            }
        }
        Ok(self.inv)
    }
}
