//! Ansible's YAML inventory format (the `yaml` inventory plugin): top-level keys
//! are groups (usually just `all`), each a mapping of `hosts`, `vars` and
//! `children`. Ansible only warns about other keys and skips malformed groups;
//! opsctl refuses them with the position of the key.

use std::path::Path;

use super::{Builder, InventoryError, VAR_NAME_HINT, VarDef, range, valid_var_name};
use crate::location::{Location, SharedPath};
use crate::yaml::{Node, NodeValue};

const GROUP_KEYS_HINT: &str =
    "a group is a mapping whose only keys are `hosts`, `vars` and `children`";

pub(crate) fn parse_into(b: &mut Builder, source: &str, file: &Path) -> Result<(), InventoryError> {
    let root =
        crate::yaml::parse(source, file).map_err(|e| InventoryError::new(e.location, e.message))?;
    let lines: Vec<&str> = source.lines().collect();
    let p = YamlInv {
        file: SharedPath::from(file),
        lines,
    };
    match &root.value {
        // Ansible's yaml plugin rejects an empty file and its ini plugin then reads
        // it as an empty inventory.
        NodeValue::Null => Ok(()),
        NodeValue::Map(entries) => {
            if let Some((k, _)) = entries.iter().find(|(k, _)| k.as_str() == Some("plugin")) {
                return Err(InventoryError::new(
                    k.location(file),
                    "this is an inventory plugin configuration (`plugin:`), not a YAML inventory",
                )
                .with_hint("opsctl reads static inventories: list groups under `all:` with hosts/vars/children"));
            }
            for (k, v) in entries {
                let name = p.name(k, "group")?;
                p.group(b, &name, k, v)?;
            }
            Ok(())
        }
        _ => Err(InventoryError::new(
            root.location(file),
            format!(
                "a YAML inventory must be a mapping of groups, found {}",
                root.kind_name()
            ),
        )
        .with_hint(
            "start the file with `all:` and put `hosts:`, `vars:` and `children:` under it",
        )),
    }
}

struct YamlInv<'a> {
    /// Shared by every location (one per host and variable).
    file: SharedPath,
    lines: Vec<&'a str>,
}

impl YamlInv<'_> {
    fn loc(&self, n: &Node) -> Location {
        Location::new(&self.file, n.line, Some(n.column))
    }

    /// A group or host name: must be a string.
    fn name(&self, k: &Node, what: &str) -> Result<String, InventoryError> {
        match &k.value {
            NodeValue::Str(s) if !s.is_empty() => Ok(s.clone()),
            NodeValue::Str(_) => Err(InventoryError::new(
                self.loc(k),
                format!("empty {what} name"),
            )),
            _ => Err(InventoryError::new(
                self.loc(k),
                format!(
                    "{what} name {} must be a string, found {}",
                    k.key_string(),
                    k.kind_name()
                ),
            )
            .with_hint(format!(
                "quote the {what} name, e.g. \"{}\"",
                k.key_string()
            ))),
        }
    }

    /// A `hosts`/`vars`/`children` section as (key, value) pairs: a mapping,
    /// nothing, or a single string (Ansible reads `hosts: web1` as `{web1: null}`).
    fn section<'n>(
        &self,
        group: &str,
        key: &str,
        v: &'n Node,
    ) -> Result<Vec<(&'n Node, Option<&'n Node>)>, InventoryError> {
        match &v.value {
            NodeValue::Null => Ok(Vec::new()),
            NodeValue::Str(_) => Ok(vec![(v, None)]),
            NodeValue::Map(entries) => Ok(entries.iter().map(|(k, v)| (k, Some(v))).collect()),
            _ => {
                let example = match key {
                    "hosts" => "hosts:\n  web1:\n  web2:\n    ansible_host: 10.0.0.2",
                    "children" => "children:\n  web:\n  db:",
                    _ => "vars:\n  name: value",
                };
                Err(InventoryError::new(
                    self.loc(v),
                    format!(
                        "`{key}` of group '{group}' must be a mapping, found {}",
                        v.kind_name()
                    ),
                )
                .with_hint(format!("write it as a mapping, e.g.\n{example}")))
            }
        }
    }

    fn group(
        &self,
        b: &mut Builder,
        name: &str,
        key: &Node,
        data: &Node,
    ) -> Result<(), InventoryError> {
        let entries = match &data.value {
            NodeValue::Null => {
                b.add_group(name, self.loc(key));
                return Ok(());
            }
            NodeValue::Map(entries) => entries,
            _ => {
                return Err(InventoryError::new(
                    self.loc(data),
                    format!(
                        "group '{name}' must be a mapping (hosts, vars, children), found {}",
                        data.kind_name()
                    ),
                )
                .with_hint(GROUP_KEYS_HINT));
            }
        };
        b.add_group(name, self.loc(key));
        // Ansible checks the three sections' types before reading any of them.
        for (k, v) in entries {
            match k.as_str() {
                Some("hosts" | "vars" | "children") => {
                    self.section(name, k.as_str().unwrap_or_default(), v)?;
                }
                _ => {
                    return Err(InventoryError::new(
                        self.loc(k),
                        format!("unknown key `{}` in group '{name}'", k.key_string()),
                    )
                    .with_hint(format!(
                        "{GROUP_KEYS_HINT}; to make `{}` a child group, put it under `children:`",
                        k.key_string()
                    )));
                }
            }
        }
        for (k, v) in entries {
            let section = k.as_str().unwrap_or_default();
            let items = self.section(name, section, v)?;
            match section {
                "vars" => {
                    for (vk, vv) in items {
                        let var = vk.key_string();
                        if !valid_var_name(&var) {
                            return Err(InventoryError::new(
                                self.loc(vk),
                                format!("invalid variable name {var:?}"),
                            )
                            .with_hint(VAR_NAME_HINT));
                        }
                        let value = vv.map(Node::to_json).unwrap_or(serde_json::Value::Null);
                        b.set_group_var(
                            name,
                            &var,
                            VarDef {
                                value,
                                location: self.loc(vk),
                            },
                        )?;
                    }
                }
                "children" => {
                    for (ck, cv) in items {
                        let child = self.name(ck, "group")?;
                        let null = Node {
                            value: NodeValue::Null,
                            line: ck.line,
                            column: ck.column,
                        };
                        self.group(b, &child, ck, cv.unwrap_or(&null))?;
                        b.add_child(name, &child).map_err(|m| {
                            InventoryError::new(self.loc(ck), m).with_hint(
                                "a group cannot contain itself, directly or through its children",
                            )
                        })?;
                    }
                }
                _ => {
                    for (hk, hv) in items {
                        self.host(b, name, hk, hv)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn host(
        &self,
        b: &mut Builder,
        group: &str,
        key: &Node,
        data: Option<&Node>,
    ) -> Result<(), InventoryError> {
        let pattern = self.name(key, "host")?;
        let mut loc = self.loc(key);
        let (names, port) = range::expand_hostpattern(&pattern).map_err(|e| {
            // Point at the range inside the key (one further when the key is quoted).
            let quoted = self
                .lines
                .get(key.line.wrapping_sub(1))
                .and_then(|l| l.chars().nth(key.column.saturating_sub(1)))
                .is_some_and(|c| c == '"' || c == '\'');
            let mut at = loc.clone();
            at.column = Some(key.column + e.offset + quoted as usize);
            InventoryError {
                location: at,
                message: e.message,
                hint: e.hint,
            }
        })?;
        let vars: Vec<(String, VarDef)> = match data.map(|d| &d.value) {
            None | Some(NodeValue::Null) => Vec::new(),
            Some(NodeValue::Map(entries)) => {
                let mut out = Vec::new();
                for (vk, vv) in entries {
                    let var = vk.key_string();
                    if !valid_var_name(&var) {
                        return Err(InventoryError::new(
                            self.loc(vk),
                            format!("invalid variable name {var:?}"),
                        )
                        .with_hint(VAR_NAME_HINT));
                    }
                    out.push((
                        var,
                        VarDef {
                            value: vv.to_json(),
                            location: self.loc(vk),
                        },
                    ));
                }
                out
            }
            Some(_) => {
                let d = data.expect("some");
                return Err(InventoryError::new(
                    self.loc(d),
                    format!("host '{pattern}' must map to its variables (a mapping) or nothing, found {}", d.kind_name()),
                )
                .with_hint(format!("write `{pattern}:` alone, or with variables below it: `ansible_host: 10.0.0.1`")));
            }
        };
        if names.iter().any(String::is_empty) {
            loc.column = Some(key.column);
            return Err(InventoryError::new(loc, "empty host name"));
        }
        b.add_hosts(names, group, port, &loc, vars);
        Ok(())
    }
}
