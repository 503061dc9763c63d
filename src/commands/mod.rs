//! One module per subcommand. Each loads what it needs (pure loaders), then acts.

mod inventory;
mod ping;
mod run;
mod vars;

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::{Cli, Command, TargetArgs};
use crate::error::{Error, Exit, Result};
use crate::inventory::Inventory;
use crate::printer::Printer;
use crate::project::Target;
use crate::template::Templar;
use crate::vars::Vars;

pub async fn run(cli: Cli, printer: &Printer) -> Result<Exit> {
    let project = cli.global.project.clone();
    match cli.command {
        Command::Ping(args) => {
            ping::run(&Loaded::load(project, &args.target)?, args, printer).await
        }
        Command::Run(args) => run::run(&Loaded::load(project, &args.target)?, args, printer).await,
        Command::Inventory(args) => {
            inventory::run(&Loaded::load(project, &args.target)?, args, printer)
        }
        Command::Vars(args) => vars::run(&Loaded::load(project, &args.target)?, args, printer),
    }
}

/// Everything read from files before any host is touched.
pub struct Loaded {
    pub target: Target,
    pub inventory: Arc<Inventory>,
    pub vars: Arc<Vars>,
}

impl Loaded {
    pub fn load(project: Option<PathBuf>, args: &TargetArgs) -> Result<Loaded> {
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
        let vars = Vars::load(
            inventory.clone(),
            &target.vars_dirs,
            &extra,
            Arc::new(Templar::new()),
        )?;
        Ok(Loaded {
            target,
            inventory,
            vars,
        })
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
