//! A task that runs a module: its arguments as a mapping, as `key=value`
//! text or in the `action:` form, checked against the module's spec.

use std::path::Path;

use serde_json::Map;
use serde_json::Value as Json;

use super::kv::parse_kv;
use super::loader::{Cx, Kw, Loader, did_you_mean, nearest};
use super::tasks::ActionKey;
use super::types::{Action, Task};
use crate::location::Location;
use crate::modules::{self, ModuleDef};
use crate::yaml::{Node, NodeValue};

impl Loader {
    pub(super) fn module_task(
        &mut self,
        kw: &Kw,
        action: &ActionKey,
        cx: &Cx,
        location: Location,
    ) -> Vec<Task> {
        let file = cx.file;
        let at = action.key.location(file);
        let (def, inline, local) = match action.name.as_str() {
            "action" | "local_action" => {
                let Some((def, args)) = self.action_form(action, file) else {
                    return Vec::new();
                };
                (def, args, action.name == "local_action")
            }
            _ => {
                let def = action.def.expect("module key has a module");
                let Some(args) = self.args_from_node(def, action.value, file) else {
                    return Vec::new();
                };
                (def, args, false)
            }
        };
        if local && let Some(e) = kw.get("delegate_to") {
            self.err(
                e.loc(file),
                "local_action already runs on localhost: 'delegate_to' conflicts with it",
                Some(
                    "remove delegate_to, or write the module as a normal task with delegate_to"
                        .into(),
                ),
            );
            return Vec::new();
        }
        let mut raw = Map::new();
        if let Some(e) = kw.get("args") {
            match &e.value.value {
                NodeValue::Null => {}
                NodeValue::Map(_) => {
                    if let Json::Object(m) = e.value.to_json() {
                        raw = m;
                    }
                }
                _ => {
                    self.type_error(e, file, "a mapping");
                    return Vec::new();
                }
            }
        }
        // Arguments written with the module win over `args:`, as in Ansible.
        raw.extend(inline);
        let args = match def.spec.validate(&raw, false) {
            Ok(a) => a.values,
            Err(msg) => {
                let mut names: Vec<&str> = def.spec.args.iter().map(|a| a.name).collect();
                names.sort();
                let hint = if def.spec.free_form {
                    format!(
                        "{} takes a command line and the arguments: {}",
                        def.spec.name,
                        names.join(", ")
                    )
                } else {
                    format!("{} arguments: {}", def.spec.name, names.join(", "))
                };
                self.err(at, msg, Some(hint));
                return Vec::new();
            }
        };
        let inh = self.inherited(kw, file);
        let mut t = Task::new(location, Action::Module { def, args }, cx.role.cloned());
        self.fill(&mut t, kw, file, inh);
        if local {
            t.delegate_to = Some("localhost".into());
        }
        vec![t]
    }

    /// `action: copy src=a dest=b` or `action: {module: copy, src: a}`.
    fn action_form(
        &mut self,
        action: &ActionKey,
        file: &Path,
    ) -> Option<(&'static ModuleDef, Map<String, Json>)> {
        let v = action.value;
        let unknown = |l: &mut Loader, name: &str, at: Location| {
            let names = modules::names();
            let hint = did_you_mean(nearest(name, names.iter().copied()))
                .unwrap_or_else(|| format!("opsctl's modules: {}", names.join(", ")));
            l.err(at, format!("unknown module '{name}'"), Some(hint));
        };
        match &v.value {
            NodeValue::Str(s) => {
                let s = s.trim_start();
                let (name, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
                let Some(def) = modules::find(name) else {
                    unknown(self, name, v.location(file));
                    return None;
                };
                let args = if rest.trim().is_empty() {
                    Map::new()
                } else {
                    self.args_from_str(def, rest.trim_start(), v.location(file))?
                };
                Some((def, args))
            }
            NodeValue::Map(_) => {
                let Some(name_node) = v.get("module") else {
                    self.err(
                        action.key.location(file),
                        format!("'{}' as a mapping needs 'module:'", action.name),
                        Some(format!(
                            "{}: {{module: copy, src: a, dest: /b}}",
                            action.name
                        )),
                    );
                    return None;
                };
                let Some(name) = name_node.as_str() else {
                    self.err(
                        name_node.location(file),
                        "'module' must be a module name",
                        None,
                    );
                    return None;
                };
                let Some(def) = modules::find(name) else {
                    unknown(self, name, name_node.location(file));
                    return None;
                };
                let mut args = match v.to_json() {
                    Json::Object(m) => m,
                    _ => Map::new(),
                };
                args.remove("module");
                Some((def, args))
            }
            _ => {
                self.err(
                    action.key.location(file),
                    format!(
                        "'{}' must be a string or a mapping, found {}",
                        action.name,
                        v.kind_name()
                    ),
                    Some(format!("{}: copy src=a dest=/b", action.name)),
                );
                None
            }
        }
    }

    fn args_from_node(
        &mut self,
        def: &'static ModuleDef,
        v: &Node,
        file: &Path,
    ) -> Option<Map<String, Json>> {
        match &v.value {
            NodeValue::Null => Some(Map::new()),
            NodeValue::Map(_) => match v.to_json() {
                Json::Object(m) => Some(m),
                _ => Some(Map::new()),
            },
            NodeValue::Str(s) => self.args_from_str(def, s, v.location(file)),
            NodeValue::Int(_) | NodeValue::Float(_) | NodeValue::Bool(_) if def.spec.free_form => {
                let mut m = Map::new();
                m.insert("_raw_params".into(), Json::String(v.key_string()));
                Some(m)
            }
            _ => {
                let what = if def.spec.free_form {
                    "a command line or a mapping"
                } else {
                    "a mapping or key=value text"
                };
                self.err(
                    v.location(file),
                    format!(
                        "arguments of {} must be {what}, found {}",
                        def.spec.name,
                        v.kind_name()
                    ),
                    Some(format!(
                        "write the arguments as a mapping under `{}:`",
                        def.spec.name
                    )),
                );
                None
            }
        }
    }

    fn args_from_str(
        &mut self,
        def: &'static ModuleDef,
        s: &str,
        at: Location,
    ) -> Option<Map<String, Json>> {
        let names: Vec<&str> = def.spec.args.iter().map(|a| a.name).collect();
        let free = def.spec.free_form.then_some(names.as_slice());
        match parse_kv(s, free) {
            Ok(m) => Some(m),
            Err(msg) => {
                let extra = if def.spec.free_form {
                    ""
                } else {
                    &format!("; {} takes no free-form text", def.spec.name)
                };
                self.err(
                    at,
                    format!("{}: {msg}{extra}", def.spec.name),
                    Some(format!(
                        "write `key=value` pairs, or the arguments as a mapping under `{}:`",
                        def.spec.name
                    )),
                );
                None
            }
        }
    }
}
