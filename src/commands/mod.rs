//! One module per subcommand. Each loads what it needs (pure loaders), then acts.

mod completions;
mod deploy;
mod env;
mod initdata;
mod inventory;
mod ping;
mod provision;
mod releases;
mod rollback;
mod run;
mod runs;
mod secrets;
mod status;
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
    // Commands that touch hosts are recorded in the run journal, whatever their outcome.
    let journal = match runs::begin(&cli) {
        Some(b) => Some(crate::journal::begin(b)?),
        None => None,
    };
    let result = dispatch(cli, printer).await;
    match journal {
        Some(j) => j.finish(result, printer),
        None => result,
    }
}

async fn dispatch(cli: Cli, printer: &Printer) -> Result<Exit> {
    let project = cli.global.project.clone();
    match cli.command {
        Command::Ping(args) => {
            ping::run(&Loaded::load(project, &args.target)?, args, printer).await
        }
        Command::Run { args, .. } => {
            run::run(&Loaded::load(project, &args.target)?, args, printer).await
        }
        Command::Inventory(args) => {
            inventory::run(&Loaded::load(project, &args.target)?, args, printer)
        }
        Command::Vars(args) => vars::run(&Loaded::load(project, &args.target)?, args, printer),
        Command::Provision(args) => {
            provision::run(&Loaded::load(project, &args.target)?, args, printer).await
        }
        Command::Env(args) => env::run(project, args, printer),
        Command::Disconnect => disconnect(printer).await,
        Command::Deploy(args) => deploy::run(project, args, printer).await,
        Command::Rollback(args) => rollback::run(project, args, printer).await,
        Command::Releases(args) => releases::run(project, args, printer).await,
        Command::Initdata(args) => initdata::run(project, args, printer).await,
        Command::Secrets(args) => secrets::run(project, args, printer).await,
        Command::Runs(args) => runs::run(project, args, printer),
        Command::Status(args) => {
            status::run(&Loaded::load(project, &args.target)?, args, printer).await
        }
        Command::Completions(args) => completions::completions(args, printer),
        Command::Man(args) => completions::man(args, printer),
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

/// `opsctl disconnect`: closes the masters kept by `--keep-connections`.
async fn disconnect(printer: &Printer) -> Result<Exit> {
    let n = crate::transport::close_kept().await.map_err(Error::new)?;
    printer.result(&match n {
        0 => "no kept connection was open".to_string(),
        1 => "closed 1 kept connection".to_string(),
        n => format!("closed {n} kept connections"),
    });
    Ok(Exit::Success)
}
