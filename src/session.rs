//! A command's session: everything read from files before any host is touched
//! (the project, the inventory, the variables with the environment's secrets),
//! loaded once and shared by the engine and the commands.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::project::Target;
use crate::template::Templar;
use crate::vars::Vars;

/// The roles of the project whose defaults are a layer of the variables for the
/// commands that read them before (or without) running a playbook: deploy,
/// rollback, releases, initdata, status, and `opsctl vars`. Highest precedence
/// first (app's over certbot's over common's).
pub const STACK_ROLES: [&str; 3] = ["app", "certbot", "common"];

/// What a command loads: `--env` or `-i`, `-e`, `--identity`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub env: Option<String>,
    pub inventory: Option<PathBuf>,
    pub extra_vars: Vec<String>,
    pub identity: Option<PathBuf>,
}

/// Everything read from files before any host is touched.
#[derive(Clone)]
pub struct Loaded {
    pub target: Target,
    pub inventory: Arc<Inventory>,
    pub vars: Arc<Vars>,
}

impl Loaded {
    pub fn load(project: Option<PathBuf>, args: &Selection) -> Result<Loaded> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
        let target = Target::resolve(
            project.as_deref(),
            args.env.as_deref(),
            args.inventory.as_deref(),
            &cwd,
        )?;
        let inventory = Arc::new(crate::inventory::load(&target.inventory)?);
        let extra = crate::vars::parse_extra_vars(&args.extra_vars, &cwd)?;
        // environments/<env>/secrets.age, decrypted in memory, values registered
        // for redaction (crate::secrets)
        let identity = crate::secrets::IdentityOpts {
            file: args.identity.clone(),
        };
        let secrets = crate::secrets::load_for_vars(&target, &identity)?;
        let vars = Vars::load_with_secrets(
            inventory.clone(),
            &target.vars_dirs,
            &extra,
            Arc::new(Templar::new()),
            secrets.as_ref().map(|s| &s.vars),
        )?;
        Ok(Loaded {
            target,
            inventory,
            vars,
        })
    }

    /// The same, with the defaults of the project's [`STACK_ROLES`]
    /// (`roles/<role>/defaults/main.yml`) at the `role defaults` layer of the
    /// variables: below everything the inventory, group_vars and -e set.
    pub fn with_role_defaults(&self) -> Result<Loaded> {
        let mut layers = Vec::new();
        if let Some(project) = &self.target.project {
            for role in STACK_ROLES.iter().rev() {
                let dir = project.root.join("roles").join(role).join("defaults");
                for file in crate::yaml::vars_files(&dir, "main") {
                    let vars = crate::yaml::parse_file(&file)
                        .and_then(|node| node.to_var_map(&file))
                        .map_err(crate::vars::VarsError::from)?;
                    layers.push(vars);
                }
            }
        }
        Ok(Loaded {
            target: self.target.clone(),
            inventory: self.inventory.clone(),
            vars: self.vars.with_role_defaults(layers),
        })
    }

    /// The same, plus variables a command computed (`what` says which command,
    /// for `opsctl vars`-style provenance) at the `-e` layer: nothing is read again.
    pub fn with_extra(&self, vars: serde_json::Value, what: &str) -> Loaded {
        let origin = crate::vars::Origin::Builtin {
            what: format!("set by {what}"),
        };
        Loaded {
            target: self.target.clone(),
            inventory: self.inventory.clone(),
            vars: self.vars.with_extra(&[(vars, origin, what.to_string())]),
        }
    }

    /// The hosts a `--limit` pattern selects (all hosts without one), in inventory
    /// order. Selecting nothing is an error: a typo must not look like success.
    pub fn select(&self, limit: Option<&str>) -> Result<Vec<String>> {
        let pattern = limit.unwrap_or("all");
        let hosts = self.inventory.select(pattern)?;
        if hosts.is_empty() {
            let e = if self.inventory.hosts.is_empty() {
                Error::new(format!(
                    "the inventory {} has no hosts",
                    crate::location::display_path(&self.target.inventory)
                ))
            } else {
                Error::new(format!("--limit '{pattern}' matches no host"))
                    .hint("`opsctl inventory --graph` lists the groups and hosts")
            };
            return Err(e);
        }
        Ok(hosts)
    }
}
