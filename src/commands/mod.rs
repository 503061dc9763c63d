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

use crate::cli::{Cli, Command};
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;
pub use crate::session::Loaded;

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
            ping::run(
                &Loaded::load(project, &(&args.target).into())?,
                args,
                printer,
            )
            .await
        }
        Command::Run { args, .. } => {
            run::run(
                &Loaded::load(project, &(&args.target).into())?,
                args,
                printer,
            )
            .await
        }
        Command::Inventory(args) => inventory::run(
            &Loaded::load(project, &(&args.target).into())?,
            args,
            printer,
        ),
        Command::Vars(args) => vars::run(
            &Loaded::load(project, &(&args.target).into())?,
            args,
            printer,
        ),
        Command::Provision(args) => {
            provision::run(
                &Loaded::load(project, &(&args.target).into())?,
                args,
                printer,
            )
            .await
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
            status::run(
                &Loaded::load(project, &(&args.target).into())?,
                args,
                printer,
            )
            .await
        }
        Command::Completions(args) => completions::completions(args, printer),
        Command::Man(args) => completions::man(args, printer),
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
