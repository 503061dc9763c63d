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
use rustc_hash::{FxBuildHasher, FxHashSet};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

use crate::location::Location;

pub mod export;
#[cfg(test)]
mod fuzz_tests;
mod ini;
pub(crate) use ini::py_splitlines;
pub mod pattern;
mod pyliteral;
mod pyshlex;
pub mod range;
#[cfg(test)]
mod tests;
mod yaml;

pub use pattern::PatternError;

/// The inventory's maps by name, hashed with FxHash (a multiply per word
/// instead of SipHash: the inventory is the user's own file, nothing to defend
/// against; 100,000 hosts are hashed several times each while loading).
pub type NameMap<V> = IndexMap<String, V, FxBuildHasher>;

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
    pub vars: NameMap<VarDef>,
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
    pub vars: NameMap<VarDef>,
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
    pub hosts: NameMap<Host>,
    /// Groups in order of first appearance, `all` first, `ungrouped` second.
    pub groups: NameMap<Group>,
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
    let source = crate::yaml::decode_utf8(bytes, file).map_err(|e| {
        InventoryError::new(e.location, e.message).with_hint(crate::yaml::UTF8_HINT)
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
        let mut groups = NameMap::default();
        for name in ["all", "ungrouped"] {
            groups.insert(
                name.to_string(),
                Group {
                    name: name.to_string(),
                    hosts: Vec::new(),
                    children: Vec::new(),
                    vars: NameMap::default(),
                    location: None,
                    priority: 1,
                },
            );
        }
        groups["all"].children.push("ungrouped".to_string());
        Inventory {
            hosts: NameMap::default(),
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

    /// Every group containing the host, directly or through child groups,
    /// including `all` (and `ungrouped` when the host is there), in groups order.
    /// Builds a [`GroupIndex`] (linear in the inventory's size): to ask this for
    /// many hosts, build the index once with [`Inventory::index`].
    pub fn host_groups(&self, host: &str) -> Vec<&str> {
        self.index().host_groups(self, host)
    }

    /// Ansible's group depth: `all` is 0, its children 1, and a group below
    /// several parents takes the longest path from `all`.
    pub fn group_depth(&self, group: &str) -> usize {
        self.index().depth(self, group)
    }

    /// The host's groups in the order Ansible merges their variables: by depth,
    /// then `ansible_group_priority`, then name (so `all` first).
    pub fn host_groups_vars_order(&self, host: &str) -> Vec<&str> {
        self.index().host_groups_vars_order(self, host)
    }

    /// The group relations, indexed once for questions about many hosts.
    pub fn index(&self) -> GroupIndex {
        GroupIndex::new(self)
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
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        let mut unprocessed: Vec<&str> = dedup(g.children.iter().map(String::as_str));
        while !unprocessed.is_empty() {
            seen.extend(unprocessed.iter().copied());
            let mut next: Vec<&str> = Vec::new();
            let mut in_next: FxHashSet<&str> = FxHashSet::default();
            for u in &unprocessed {
                for c in self
                    .groups
                    .get(*u)
                    .map(|x| x.children.as_slice())
                    .unwrap_or_default()
                {
                    if in_next.insert(c.as_str()) {
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
        let mut have: FxHashSet<&str> = FxHashSet::default();
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
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    items.filter(|i| seen.insert(i)).collect()
}

/// Builds an [`Inventory`] the way Ansible's `InventoryData` does: groups and hosts
/// in order of first appearance, cycle checks on every child edge, and the final
/// `reconcile_inventory` (top-level groups under `all`, `ungrouped`).
///
/// Linear in the inventory's size: groups and hosts are known by their index in
/// `inv.groups` / `inv.hosts` (never removed, so indices are stable), and the
/// membership and edge checks are hash lookups.
pub(crate) struct Builder {
    pub inv: Inventory,
    /// parents[g]: the groups that have group g as a child.
    parents: Vec<Vec<usize>>,
    /// children[g]: group g's child groups, as indices (mirrors `Group::children`).
    children: Vec<Vec<usize>>,
    /// (parent, child) edges, to refuse duplicates quickly.
    edges: PairSet,
    /// (group, host) memberships, to refuse duplicates quickly.
    members: PairSet,
    /// direct[h]: the groups listing host h (in the order it joined them).
    direct: Vec<Vec<usize>>,
}

/// A set of index pairs.
type PairSet = FxHashSet<(usize, usize)>;

impl Builder {
    pub fn new(source: &Path) -> Builder {
        let inv = Inventory::empty(source);
        let (all, ungrouped) = (0, 1);
        debug_assert_eq!(inv.groups.get_index_of("ungrouped"), Some(ungrouped));
        Builder {
            inv,
            parents: vec![Vec::new(), vec![all]],
            children: vec![vec![ungrouped], Vec::new()],
            edges: PairSet::from_iter([(all, ungrouped)]),
            members: PairSet::default(),
            direct: Vec::new(),
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
                    vars: NameMap::default(),
                    location: Some(location),
                    priority: 1,
                },
            );
            self.parents.push(Vec::new());
            self.children.push(Vec::new());
        }
    }

    /// Adds each of `names` to `group` with the host variables `vars` (a later
    /// definition of a variable wins over an earlier one). A new host is
    /// created with `ansible_port` when a port is given, as Ansible does: a
    /// port on a later mention of the host is ignored.
    pub fn add_hosts(
        &mut self,
        names: Vec<String>,
        group: &str,
        port: Option<u64>,
        location: &Location,
        vars: Vec<(String, VarDef)>,
    ) {
        let last = names.len().saturating_sub(1);
        let mut vars = Some(vars);
        for (i, name) in names.into_iter().enumerate() {
            let h = self.add_host(name, group, port, location);
            let host = &mut self.inv.hosts[h];
            if i == last {
                host.vars.extend(vars.take().into_iter().flatten());
            } else {
                host.vars.extend(vars.iter().flatten().cloned());
            }
        }
    }

    /// Adds a host to a group; its index in `inv.hosts`.
    fn add_host(
        &mut self,
        name: String,
        group: &str,
        port: Option<u64>,
        location: &Location,
    ) -> usize {
        let (h, name) = match self.inv.hosts.entry(name) {
            indexmap::map::Entry::Occupied(e) => (e.index(), e.key().clone()),
            indexmap::map::Entry::Vacant(e) => {
                let mut vars = NameMap::default();
                if let Some(p) = port.filter(|&p| p != 0) {
                    vars.insert(
                        "ansible_port".to_string(),
                        VarDef {
                            value: Json::from(p),
                            location: location.clone(),
                        },
                    );
                }
                let h = e.index();
                let name = e.key().clone();
                e.insert(Host {
                    name: name.clone(),
                    vars,
                    location: location.clone(),
                });
                (h, name)
            }
        };
        if let Some((g, _, grp)) = self.inv.groups.get_full_mut(group)
            && self.members.insert((g, h))
        {
            if self.direct.len() <= h {
                self.direct.resize_with(h + 1, Vec::new);
            }
            self.direct[h].push(g);
            grp.hosts.push(name);
        }
        h
    }

    /// Is group `below` reachable from group `above` through child edges (or the
    /// same group)? Searches down from `above` and up from `below` in turns, so
    /// it stops as soon as either side runs out: adding a chain's next link costs
    /// a step, whichever end the chain grows from.
    fn is_below(&self, below: usize, above: usize) -> bool {
        if below == above {
            return true;
        }
        let mut down = (vec![above], FxHashSet::from_iter([above]));
        let mut up = (vec![below], FxHashSet::from_iter([below]));
        loop {
            match search_step(&self.children, &mut down, &up.1) {
                Some(false) => {}
                met => return met == Some(true),
            }
            match search_step(&self.parents, &mut up, &down.1) {
                Some(false) => {}
                met => return met == Some(true),
            }
        }
    }

    /// Makes `child` a child group of `parent` (both must exist).
    pub fn add_child(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if parent == child {
            return Err(format!("group '{child}' cannot be a child of itself"));
        }
        let (Some(p), Some(c)) = (
            self.inv.groups.get_index_of(parent),
            self.inv.groups.get_index_of(child),
        ) else {
            return Err(format!("no group '{parent}' or '{child}'"));
        };
        if self.edges.contains(&(p, c)) {
            return Ok(());
        }
        if self.is_below(p, c) {
            return Err(format!(
                "adding group '{child}' as a child of '{parent}' creates a cycle ('{parent}' is already below '{child}')"
            ));
        }
        self.edges.insert((p, c));
        self.inv.groups[p].children.push(child.to_string());
        self.children[p].push(c);
        self.parents[c].push(p);
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

    /// `InventoryData.reconcile_inventory`, then the finished inventory.
    pub fn finish(mut self) -> Result<Inventory, InventoryError> {
        let (all, ungrouped) = (0, 1);
        for g in 0..self.inv.groups.len() {
            if g != all && self.parents[g].is_empty() {
                let name = self.inv.groups[g].name.clone();
                self.add_child("all", &name).map_err(|m| {
                    let loc = self.inv.groups[g]
                        .location
                        .clone()
                        .unwrap_or_else(|| Location::file(&self.inv.source));
                    InventoryError::new(loc, m)
                })?;
            }
        }
        // A host listed in `ungrouped` leaves it when it is in another group too
        // (through `ungrouped`'s own parents as well); a host in no group but
        // `all` joins it. Groups below `ungrouped` count as `ungrouped`.
        let mut below_ungrouped = vec![false; self.inv.groups.len()];
        let mut stack = vec![ungrouped];
        while let Some(g) = stack.pop() {
            if !below_ungrouped[g] {
                below_ungrouped[g] = true;
                stack.extend(self.children[g].iter().copied());
            }
        }
        let ungrouped_has_other_parent = self.parents[ungrouped].iter().any(|&p| p != all);
        let mut direct = std::mem::take(&mut self.direct);
        direct.resize_with(self.inv.hosts.len(), Vec::new);
        let mut leave: FxHashSet<usize> = FxHashSet::default();
        let mut join: Vec<String> = Vec::new();
        for (h, groups) in direct.iter().enumerate() {
            let in_ungrouped = groups.iter().any(|&g| below_ungrouped[g]);
            let in_other = groups.iter().any(|&g| g != all && g != ungrouped)
                || (groups.contains(&ungrouped) && ungrouped_has_other_parent);
            if in_ungrouped {
                if in_other {
                    leave.insert(h);
                }
            } else if !in_other {
                join.push(
                    self.inv
                        .hosts
                        .get_index(h)
                        .map(|(k, _)| k.clone())
                        .unwrap_or_default(),
                );
            }
        }
        let hosts = &self.inv.hosts;
        let list = &mut self.inv.groups[ungrouped].hosts;
        if !leave.is_empty() {
            list.retain(|x| {
                hosts
                    .get_index_of(x.as_str())
                    .is_none_or(|i| !leave.contains(&i))
            });
        }
        list.extend(join);
        Ok(self.inv)
    }
}

/// One step of one side of [`Builder::is_below`]'s search: `None` when that
/// side has run out, `Some(true)` when it met the other side.
fn search_step(
    edges: &[Vec<usize>],
    (stack, seen): &mut (Vec<usize>, FxHashSet<usize>),
    other: &FxHashSet<usize>,
) -> Option<bool> {
    let g = stack.pop()?;
    for &n in &edges[g] {
        if other.contains(&n) {
            return Some(true);
        }
        if seen.insert(n) {
            stack.push(n);
        }
    }
    Some(false)
}

/// The group relations of an [`Inventory`], indexed once: each group's parents
/// and depth, each host's direct groups. Building it is linear in the
/// inventory's size; asking it about one host costs that host's groups. It
/// owns its data (group and host indices), so it can live beside the
/// inventory; ask it with the inventory it was built from.
#[derive(Debug, Clone)]
pub struct GroupIndex {
    parents: Vec<Vec<usize>>,
    /// Ansible's depth of each group (longest path from `all`).
    depth: Vec<usize>,
    /// host index -> the groups listing it directly.
    direct: Vec<Vec<usize>>,
}

impl GroupIndex {
    pub fn new(inv: &Inventory) -> GroupIndex {
        let n = inv.groups.len();
        let mut parents: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (p, g) in inv.groups.values().enumerate() {
            for c in &g.children {
                if let Some(c) = inv.groups.get_index_of(c.as_str()) {
                    parents[c].push(p);
                    children[p].push(c);
                }
            }
        }
        // Longest path from the roots, in topological order (Kahn). Groups on a
        // cycle (refused at load time; only a hand-built inventory has one) keep 0.
        let mut depth = vec![0usize; n];
        let mut waiting: Vec<usize> = parents.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..n).filter(|&g| waiting[g] == 0).collect();
        while let Some(g) = ready.pop() {
            for &c in &children[g] {
                depth[c] = depth[c].max(depth[g] + 1);
                waiting[c] -= 1;
                if waiting[c] == 0 {
                    ready.push(c);
                }
            }
        }
        let mut direct: Vec<Vec<usize>> = vec![Vec::new(); inv.hosts.len()];
        for (g, group) in inv.groups.values().enumerate() {
            for h in &group.hosts {
                if let Some(i) = inv.hosts.get_index_of(h.as_str()) {
                    direct[i].push(g);
                }
            }
        }
        GroupIndex {
            parents,
            depth,
            direct,
        }
    }

    /// [`Inventory::host_groups`], as group indices in groups order.
    fn host_group_ids(&self, inv: &Inventory, host: &str) -> Vec<usize> {
        let Some(direct) = inv
            .hosts
            .get_index_of(host)
            .and_then(|h| self.direct.get(h))
        else {
            return Vec::new();
        };
        let all = 0;
        // Most hosts have a few groups: a list searched in place until it is
        // long, then a set (no hash set built per host of a big flat group).
        let mut ids: Vec<usize> = Vec::new();
        let mut set: FxHashSet<usize> = FxHashSet::default();
        let mut stack: Vec<usize> = direct.clone();
        stack.push(all);
        while let Some(g) = stack.pop() {
            let new = if ids.len() < 32 {
                !ids.contains(&g)
            } else {
                if set.is_empty() {
                    set.extend(ids.iter().copied());
                }
                set.insert(g)
            };
            if new {
                ids.push(g);
                stack.extend(self.parents.get(g).into_iter().flatten().copied());
            }
        }
        ids.sort_unstable();
        ids
    }

    /// The groups listing host `h` (its index in `inv.hosts`) directly, as
    /// group indices: they decide all its groups, so hosts with the same
    /// direct groups share their group-level variables.
    pub fn direct_groups(&self, h: usize) -> &[usize] {
        self.direct.get(h).map(Vec::as_slice).unwrap_or_default()
    }

    /// Every group containing the host, directly or through child groups,
    /// including `all`, in groups order.
    pub fn host_groups<'a>(&self, inv: &'a Inventory, host: &str) -> Vec<&'a str> {
        self.host_group_ids(inv, host)
            .into_iter()
            .filter_map(|g| inv.groups.get_index(g).map(|(k, _)| k.as_str()))
            .collect()
    }

    /// The host's groups in the order Ansible merges their variables: by depth,
    /// then `ansible_group_priority`, then name (so `all` first).
    pub fn host_groups_vars_order<'a>(&self, inv: &'a Inventory, host: &str) -> Vec<&'a str> {
        let mut gs: Vec<(usize, i64, &str)> = self
            .host_group_ids(inv, host)
            .into_iter()
            .filter_map(|g| {
                let (name, group) = inv.groups.get_index(g)?;
                Some((
                    self.depth.get(g).copied().unwrap_or(0),
                    group.priority,
                    name.as_str(),
                ))
            })
            .collect();
        gs.sort();
        gs.into_iter().map(|(_, _, g)| g).collect()
    }

    /// Ansible's depth of a group (0 for an unknown one).
    pub fn depth(&self, inv: &Inventory, group: &str) -> usize {
        inv.groups
            .get_index_of(group)
            .and_then(|g| self.depth.get(g).copied())
            .unwrap_or(0)
    }
}
