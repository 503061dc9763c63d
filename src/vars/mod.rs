//! Host variables: Ansible's precedence, where each value came from, and lazy
//! per-host templating.
//!
//! [`Vars::load`] reads the inventory's variables, `group_vars/`, `host_vars/`
//! (project-level below the environment's) and `-e`, into one [`VarStack`] per
//! host. [`Vars::context`] gives a host's variables to templates; values are
//! templated on first use, so `workdir: "{{ ansible_env.HOME }}/app"` resolves
//! when (and for the host where) it is used.

mod context;
mod load;
mod stack;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::Value;
use serde_json::Value as Json;

pub use context::{HostContext, MAGIC, contains_template};
pub use load::{is_identifier, parse_extra_vars, sorted_groups};
pub use stack::{Definition, Layer, Origin, VarStack};

use crate::inventory::Inventory;
use crate::template::{Templar, TemplateError};

#[derive(Debug, thiserror::Error)]
pub enum VarsError {
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
    #[error("-e {arg}: {message}")]
    ExtraVars { arg: String, message: String },
    #[error("variable cycle on {host}: {}", chain.join(" -> "))]
    Cycle { host: String, chain: Vec<String> },
    #[error("variable '{var}' ({origin}) on {host}: {error}")]
    Template {
        host: String,
        var: String,
        origin: Origin,
        error: Box<TemplateError>,
    },
    #[error("unknown host '{host}'{}", if known.is_empty() { String::new() } else { format!("; hosts: {}", known.join(", ")) })]
    UnknownHost { host: String, known: Vec<String> },
    #[error("host {host} has no variable '{name}'")]
    Undefined { host: String, name: String },
}

impl VarsError {
    pub fn hint(&self) -> Option<String> {
        match self {
            VarsError::Cycle { .. } => Some(
                "make one of these variables a plain value instead of a template of the others"
                    .into(),
            ),
            VarsError::ExtraVars { .. } => {
                Some("use -e key=value, -e @vars.yml or -e '{\"key\": value}'".into())
            }
            VarsError::Template { error, .. } => error.hint.clone(),
            VarsError::UnknownHost { .. } => {
                Some("`opsctl inventory --graph` lists the hosts".into())
            }
            VarsError::Undefined { .. } => {
                Some("`opsctl vars HOST` lists the host's variables".into())
            }
            VarsError::Yaml(e) => crate::yaml::hint(e),
        }
    }
}

/// The variables of every host of an inventory.
#[derive(Debug)]
pub struct Vars {
    pub inventory: Arc<Inventory>,
    stacks: IndexMap<String, VarStack>,
    pub templar: Arc<Templar>,
}

impl Vars {
    /// Reads every variable source for every host. `vars_dirs` hold `group_vars/`
    /// and `host_vars/`, lowest precedence first; `extra` are the parsed `-e`.
    pub fn load(
        inventory: Arc<Inventory>,
        vars_dirs: &[PathBuf],
        extra: &[(Json, Origin, String)],
        templar: Arc<Templar>,
    ) -> Result<Arc<Vars>, VarsError> {
        let stacks = load::build_stacks(&inventory, vars_dirs, extra)?;
        Ok(Arc::new(Vars {
            inventory,
            stacks,
            templar,
        }))
    }

    pub fn stack(&self, host: &str) -> Option<&VarStack> {
        self.stacks.get(host)
    }

    fn check_host(&self, host: &str) -> Result<(), VarsError> {
        if self.stacks.contains_key(host) {
            Ok(())
        } else {
            Err(VarsError::UnknownHost {
                host: host.to_string(),
                known: self.stacks.keys().take(20).cloned().collect(),
            })
        }
    }

    /// The host's variables for templates (lazy).
    pub fn context(self: &Arc<Self>, host: &str) -> Value {
        Value::from_dyn_object(HostContext::new(self.clone(), host))
    }

    /// One variable of a host, templated, as plain data.
    pub fn resolve(self: &Arc<Self>, host: &str, name: &str) -> Result<Json, VarsError> {
        self.check_host(host)?;
        let ctx = HostContext::new(self.clone(), host);
        match ctx.resolve(name)? {
            Some(v) => Ok(to_json(&v)),
            None => Err(VarsError::Undefined {
                host: host.to_string(),
                name: name.to_string(),
            }),
        }
    }

    /// Every variable of a host (not the magic ones), each templated or the error
    /// that stopped it, in first-definition order.
    pub fn resolve_all(
        self: &Arc<Self>,
        host: &str,
    ) -> Result<IndexMap<String, Result<Json, VarsError>>, VarsError> {
        self.check_host(host)?;
        let ctx = HostContext::new(self.clone(), host);
        let mut out = IndexMap::new();
        for name in self.stacks[host].names() {
            let v = ctx
                .resolve(name)
                .map(|v| v.map(|v| to_json(&v)).unwrap_or(Json::Null));
            out.insert(name.to_string(), v);
        }
        Ok(out)
    }

    /// The raw (untemplated) winning value of every variable a file or `-e` set
    /// for a host (opsctl's built-in defaults left out), as `ansible-inventory` shows.
    pub fn raw(&self, host: &str) -> IndexMap<String, Json> {
        let Some(s) = self.stacks.get(host) else {
            return IndexMap::new();
        };
        s.names()
            .filter_map(|n| {
                s.get(n)
                    .filter(|d| d.layer != Layer::Magic)
                    .map(|d| (n.to_string(), d.value.clone()))
            })
            .collect()
    }
}

/// A template value as plain data (undefined becomes null).
pub fn to_json(v: &Value) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// A path shown relative to the project root when inside it.
pub fn relative_to(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}
