//! A host's variables as a lazy minijinja object: a value is templated the first
//! time a template (or `opsctl vars`) asks for it, with the host's other
//! variables in scope, then cached. `workdir: "{{ ansible_env.HOME }}/app"` works,
//! and `a: "{{ b }}"`, `b: "{{ a }}"` is reported as a cycle naming the chain.
//!
//! Taint: a variable is secret when it comes from `secrets.age`, when its
//! templating read a secret, or when its value contains a registered secret
//! (a loop item, a registered result). Handing a secret variable to a template
//! calls [`crate::redact::mark_read`], so what the template computes from it is
//! registered for redaction too (see `crate::template`).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, Serde, Value};
use serde_json::Value as Json;

use super::stack::Origin;
use super::{Vars, VarsError};
use crate::template::{LazyContext, Variables};

thread_local! {
    /// Variables being resolved on this thread, outermost first: (host, name, origin).
    /// Rendering is synchronous, so this is exactly the chain of a cycle.
    static RESOLVING: RefCell<Vec<(String, String, Origin)>> = const { RefCell::new(Vec::new()) };
}

/// Variables a run adds above or below the inventory's: role defaults, facts,
/// play vars, role vars, task vars, registered results, loop items... Each
/// definition carries its [`Layer`](super::Layer); the highest layer wins.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    pub defs: HashMap<String, Vec<super::Definition>>,
}

impl Scope {
    pub fn new() -> Scope {
        Scope::default()
    }

    /// Adds a definition (a later one wins over an earlier one of the same layer).
    pub fn set(&mut self, name: impl Into<String>, def: super::Definition) {
        self.defs.entry(name.into()).or_default().push(def);
    }

    /// The winning definition of this scope.
    fn get(&self, name: &str) -> Option<&super::Definition> {
        self.defs
            .get(name)
            // max_by_key returns the LAST of equal maxima: the latest definition.
            .and_then(|defs| defs.iter().max_by_key(|d| d.layer))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.keys().map(String::as_str)
    }
}

/// The variables of one host, as seen by templates.
#[derive(Debug)]
pub struct HostContext {
    vars: Arc<Vars>,
    host: String,
    scope: Option<Arc<Scope>>,
    cache: Mutex<HashMap<String, Value>>,
    /// Cached variables whose value is (or derives from) a secret.
    tainted: Mutex<HashSet<String>>,
}

impl HostContext {
    pub fn new(vars: Arc<Vars>, host: &str) -> Arc<HostContext> {
        Self::with_scope(vars, host, None)
    }

    /// The host's variables plus a run's scope (facts, play, role and task vars...).
    pub fn with_scope(vars: Arc<Vars>, host: &str, scope: Option<Arc<Scope>>) -> Arc<HostContext> {
        Arc::new(HostContext {
            vars,
            host: host.to_string(),
            scope,
            cache: Mutex::new(HashMap::new()),
            tainted: Mutex::new(HashSet::new()),
        })
    }

    /// The definition that wins for `name`: the higher layer of the inventory's and
    /// the scope's (the scope wins a tie: it is newer).
    pub fn winner(&self, name: &str) -> Option<super::Definition> {
        let inv = self.vars.stack(&self.host).and_then(|s| s.get(name));
        let scoped = self.scope.as_ref().and_then(|s| s.get(name));
        match (inv, scoped) {
            (Some(i), Some(s)) => Some(if s.layer >= i.layer {
                s.clone()
            } else {
                i.clone()
            }),
            (Some(i), None) => Some(i.clone()),
            (None, Some(s)) => Some(s.clone()),
            (None, None) => None,
        }
    }

    /// Resolves one variable: magic variables, else the winning definition,
    /// templated. `Ok(None)` when the host has no such variable.
    pub fn resolve(self: &Arc<Self>, name: &str) -> Result<Option<Value>, VarsError> {
        if let Some(v) = self.magic(name) {
            return Ok(Some(v));
        }
        if let Some(v) = self.cache.lock().unwrap().get(name) {
            return Ok(Some(v.clone()));
        }
        let Some(def) = self.winner(name) else {
            return Ok(None);
        };
        // Facts and registered results are data from the host: never templated again
        // (Ansible marks them unsafe), so a "{{" in command output stays text.
        if matches!(def.layer, super::Layer::Facts | super::Layer::SetFact) {
            let v = Value::from(Serde(&def.value));
            if crate::redact::json_contains_secret(&def.value) {
                self.taint(name);
            }
            self.cache
                .lock()
                .unwrap()
                .insert(name.to_string(), v.clone());
            return Ok(Some(v));
        }
        let cycle = RESOLVING.with(|r| {
            let r = r.borrow();
            r.iter()
                .position(|(h, n, _)| h == &self.host && n == name)
                .map(|i| {
                    let mut chain: Vec<String> = r[i..]
                        .iter()
                        .map(|(h, n, o)| describe(h, n, o, &self.host))
                        .collect();
                    chain.push(name.to_string());
                    chain
                })
        });
        if let Some(chain) = cycle {
            return Err(VarsError::Cycle {
                host: self.host.clone(),
                chain,
            });
        }
        RESOLVING.with(|r| {
            r.borrow_mut()
                .push((self.host.clone(), name.to_string(), def.origin.clone()))
        });
        let ctx = LazyContext::value(self.clone());
        let (result, touched) =
            crate::redact::taint_scope(|| self.template_json(&def.value, &ctx, &def.origin));
        if touched
            || def.layer == super::Layer::Secrets
            || crate::redact::json_contains_secret(&def.value)
        {
            self.taint(name);
        }
        let def = &def;
        RESOLVING.with(|r| r.borrow_mut().pop());
        let value = result.map_err(|e| VarsError::Template {
            host: self.host.clone(),
            var: name.to_string(),
            origin: def.origin.clone(),
            error: Box::new(e),
        })?;
        self.cache
            .lock()
            .unwrap()
            .insert(name.to_string(), value.clone());
        Ok(Some(value))
    }

    fn taint(&self, name: &str) {
        self.tainted.lock().unwrap().insert(name.to_string());
    }

    /// Is this (resolved) variable a secret or derived from one?
    pub fn is_tainted(&self, name: &str) -> bool {
        self.tainted.lock().unwrap().contains(name)
    }

    /// Templates every string inside a value (lists and mappings recursively).
    fn template_json(
        &self,
        json: &Json,
        ctx: &Value,
        origin: &Origin,
    ) -> Result<Value, crate::template::TemplateError> {
        if !crate::template::has_template(json) {
            return Ok(Value::from(Serde(json)));
        }
        let templar = &self.vars.templar;
        match json {
            Json::String(s) => templar.template_value(s, ctx, origin.location()),
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.template_json(i, ctx, origin)?);
                }
                Ok(Value::from(out))
            }
            Json::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let v = self.template_json(v, ctx, origin)?;
                    out.insert(k.clone(), serde_json::to_value(&v).unwrap_or(Json::Null));
                }
                Ok(Value::from(Serde(Json::Object(out))))
            }
            other => Ok(Value::from(Serde(other))),
        }
    }

    /// Variables opsctl defines itself; they cannot be overridden.
    fn magic(self: &Arc<Self>, name: &str) -> Option<Value> {
        let inv = &self.vars.inventory;
        Some(match name {
            "inventory_hostname" => Value::from(self.host.as_str()),
            "inventory_hostname_short" => {
                Value::from(self.host.split('.').next().unwrap_or(&self.host))
            }
            "group_names" => {
                let mut g: Vec<&str> = self
                    .vars
                    .host_groups(&self.host)
                    .into_iter()
                    .filter(|g| *g != "all")
                    .collect();
                g.sort();
                Value::from(g.into_iter().map(Value::from).collect::<Vec<_>>())
            }
            "groups" => Value::from_object(Groups {
                vars: self.vars.clone(),
            }),
            "hostvars" => Value::from_object(HostVars {
                vars: self.vars.clone(),
            }),
            "inventory_dir" | "inventory_file" => {
                let file = inv
                    .hosts
                    .get(&self.host)
                    .map(|h| h.location.file.to_path_buf())
                    .unwrap_or_else(|| inv.source.clone());
                let p = if name == "inventory_dir" && !file.is_dir() {
                    file.parent().map(|p| p.to_path_buf()).unwrap_or(file)
                } else {
                    file
                };
                Value::from(p.display().to_string())
            }
            _ => return None,
        })
    }
}

fn describe(host: &str, name: &str, origin: &Origin, current: &str) -> String {
    let who = if host == current {
        String::new()
    } else {
        format!("hostvars['{host}'].")
    };
    format!("{who}{name} ({origin})")
}

/// Does any string inside contain `{{`, `{%` or `{#`?
pub const MAGIC: &[&str] = &[
    "inventory_hostname",
    "inventory_hostname_short",
    "group_names",
    "groups",
    "hostvars",
    "inventory_dir",
    "inventory_file",
];

impl Variables for Arc<HostContext> {
    fn get(&self, name: &str) -> Option<Value> {
        match self.resolve(name) {
            Ok(v) => {
                if self.is_tainted(name) {
                    crate::redact::mark_read();
                }
                v
            }
            Err(e) => Some(Value::from(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                e.to_string(),
            ))),
        }
    }

    fn names(&self) -> Vec<Value> {
        let mut names: Vec<Value> = MAGIC.iter().map(|n| Value::from(*n)).collect();
        if let Some(s) = self.vars.stack(&self.host) {
            names.extend(s.names().map(Value::from));
        }
        if let Some(scope) = &self.scope {
            names.extend(
                scope
                    .names()
                    .filter(|n| {
                        self.vars
                            .stack(&self.host)
                            .is_none_or(|s| s.get(n).is_none())
                    })
                    .map(Value::from),
            );
        }
        names
    }
}

/// `groups`: every group's hosts, by group name, in the inventory's order of
/// groups; a group's list is computed when a template first reads it.
#[derive(Debug)]
struct Groups {
    vars: Arc<Vars>,
}

impl Object for Groups {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.vars.group_hosts(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.vars
                .inventory
                .groups
                .keys()
                .map(|g| Value::from(g.as_str()))
                .collect(),
        )
    }
}

/// `hostvars`: every host's variables, by inventory name.
#[derive(Debug)]
struct HostVars {
    vars: Arc<Vars>,
}

impl Object for HostVars {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let host = key.as_str()?;
        self.vars
            .inventory
            .hosts
            .contains_key(host)
            .then(|| LazyContext::value(HostContext::new(self.vars.clone(), host)))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.vars
                .inventory
                .hosts
                .keys()
                .map(|h| Value::from(h.as_str()))
                .collect(),
        )
    }
}
