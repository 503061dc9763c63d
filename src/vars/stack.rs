//! Variable precedence: every definition of a variable for a host, lowest first,
//! with where it was written. The winner is the last one; the others are what it
//! overrode. Pure data, no templating.

use std::fmt;

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::location::Location;

/// Ansible's precedence levels, lowest first. Only some are filled today
/// (inventory, group_vars, host_vars, -e); the others are where role defaults,
/// facts, play vars, role vars, registered vars... slot in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Defaults opsctl provides (`ansible_host` = the inventory name).
    Magic,
    /// Connection defaults from ansible.cfg, `ANSIBLE_*` and the command line
    /// (`-u`, `--private-key`, `-b`, `--become-user`, `-T`): below every
    /// variable, as in Ansible.
    Config,
    RoleDefaults,
    /// `[all:vars]` or `all: vars:` in the inventory file.
    InventoryAll,
    /// `[group:vars]` in the inventory file (groups in Ansible's order).
    InventoryGroup,
    /// Project-level `group_vars/all`.
    ProjectGroupVarsAll,
    /// The environment's (or inventory directory's) `group_vars/all`.
    GroupVarsAll,
    ProjectGroupVars,
    GroupVars,
    /// Variables on the host's line of the inventory file.
    InventoryHost,
    ProjectHostVars,
    HostVars,
    /// The environment's secrets file (at host vars' level; see the secrets issue).
    Secrets,
    Facts,
    PlayVars,
    PlayVarsFiles,
    RoleVars,
    BlockVars,
    TaskVars,
    IncludeVars,
    SetFact,
    RoleParams,
    IncludeParams,
    /// `-e k=v` / `-e @file.yml`: always win.
    ExtraVars,
}

impl Layer {
    pub fn describe(self) -> &'static str {
        match self {
            Layer::Magic => "built-in default",
            Layer::Config => "ansible.cfg / command line",
            Layer::RoleDefaults => "role defaults",
            Layer::InventoryAll => "inventory [all:vars]",
            Layer::InventoryGroup => "inventory group vars",
            Layer::ProjectGroupVarsAll => "project group_vars/all",
            Layer::GroupVarsAll => "group_vars/all",
            Layer::ProjectGroupVars => "project group_vars",
            Layer::GroupVars => "group_vars",
            Layer::InventoryHost => "inventory host vars",
            Layer::ProjectHostVars => "project host_vars",
            Layer::HostVars => "host_vars",
            Layer::Secrets => "secrets",
            Layer::Facts => "facts",
            Layer::PlayVars => "play vars",
            Layer::PlayVarsFiles => "play vars_files",
            Layer::RoleVars => "role vars",
            Layer::BlockVars => "block vars",
            Layer::TaskVars => "task vars",
            Layer::IncludeVars => "include_vars",
            Layer::SetFact => "set_fact / register",
            Layer::RoleParams => "role params",
            Layer::IncludeParams => "include params",
            Layer::ExtraVars => "extra vars (-e)",
        }
    }
}

/// Where a definition came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Origin {
    /// A file, line and column.
    File { location: Location },
    /// A command-line argument (`-e ...`).
    CommandLine { arg: String },
    /// Built into opsctl.
    Builtin { what: String },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { location } => write!(f, "{location}"),
            Origin::CommandLine { arg } => write!(f, "command line: -e {arg}"),
            Origin::Builtin { what } => write!(f, "{what}"),
        }
    }
}

impl Origin {
    pub fn location(&self) -> Option<&Location> {
        match self {
            Origin::File { location } => Some(location),
            _ => None,
        }
    }
}

/// One definition of a variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub value: Json,
    pub origin: Origin,
    pub layer: Layer,
}

/// Every variable of one host with all its definitions, lowest precedence first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VarStack {
    vars: IndexMap<String, Vec<Definition>>,
}

impl VarStack {
    /// Adds a definition on top (it wins over the earlier ones). Callers push in
    /// precedence order; `push` checks that layers never go down.
    pub fn push(&mut self, name: impl Into<String>, def: Definition) {
        let defs = self.vars.entry(name.into()).or_default();
        debug_assert!(
            defs.last().is_none_or(|d| d.layer <= def.layer),
            "precedence layers must be pushed in order"
        );
        defs.push(def);
    }

    /// The winning definition.
    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.vars.get(name).and_then(|d| d.last())
    }

    /// All definitions, lowest first (the last one wins).
    pub fn history(&self, name: &str) -> &[Definition] {
        self.vars.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn def(v: i64, layer: Layer) -> Definition {
        Definition {
            value: Json::from(v),
            origin: Origin::Builtin {
                what: format!("{layer:?}"),
            },
            layer,
        }
    }

    #[test]
    fn last_pushed_wins_and_history_is_kept() {
        let mut s = VarStack::default();
        s.push("port", def(1, Layer::GroupVarsAll));
        s.push("port", def(2, Layer::GroupVars));
        s.push("port", def(3, Layer::ExtraVars));
        assert_eq!(s.get("port").unwrap().value, Json::from(3));
        assert_eq!(s.history("port").len(), 3);
        assert!(s.get("nope").is_none());
    }

    proptest! {
        /// Whatever the order definitions arrive in, sorting them by layer and pushing
        /// makes the highest layer win (ties: the later one).
        #[test]
        fn highest_layer_wins(layers in proptest::collection::vec(0usize..8, 1..20)) {
            let all = [Layer::InventoryAll, Layer::InventoryGroup, Layer::GroupVarsAll, Layer::GroupVars,
                       Layer::InventoryHost, Layer::HostVars, Layer::Facts, Layer::ExtraVars];
            let mut defs: Vec<(usize, Layer)> = layers.iter().enumerate().map(|(i, l)| (i, all[*l])).collect();
            defs.sort_by_key(|(_, l)| *l);
            let mut s = VarStack::default();
            for (i, l) in &defs {
                s.push("x", def(*i as i64, *l));
            }
            let max = defs.iter().map(|(_, l)| *l).max().unwrap();
            let expected = defs.iter().rfind(|(_, l)| *l == max).unwrap().0;
            prop_assert_eq!(s.get("x").unwrap().value.clone(), Json::from(expected as i64));
        }
    }
}
