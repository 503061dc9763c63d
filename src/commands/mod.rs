//! One module per subcommand. Each takes plain options (defined here, beside it:
//! no clap type), loads what it needs (pure loaders), then acts. `cli.rs` parses
//! the command line into an [`Invocation`] and calls [`run`].

mod backup;
mod backups;
pub mod complete;
mod deploy;
mod env;
mod exec;
mod init;
mod initdata;
mod inventory;
mod logs;
mod maintenance;
mod notify;
mod ping;
mod previews;
mod provision;
mod releases;
mod restore;
mod rollback;
mod run;
mod runs;
mod secrets;
mod ssh;
mod staging;
mod status;
mod users;
mod vars;

use std::path::PathBuf;

pub use crate::engine::{DEFAULT_FORKS, Options as EngineOptions};
use crate::error::{Error, Exit, Result};
pub use crate::journal::CommandInfo;
use crate::printer::Printer;
pub use crate::session::{ConnectFlags, Loaded, Selection, VaultSelection};
pub use backup::BackupOptions;
pub use backups::BackupsOptions;
pub use deploy::DeployOptions;
pub use env::EnvRequest;
pub use exec::{ExecOptions, ExecWhat};
pub use init::InitOptions;
pub use initdata::InitdataOptions;
pub use inventory::InventoryOptions;
pub use logs::{LogsOptions, parse_since};
pub use maintenance::{MaintenanceAction, MaintenanceOptions};
pub use notify::NotifyOptions;
pub use ping::PingOptions;
pub use previews::{PreviewsOptions, parse_lifetime};
pub use provision::ProvisionOptions;
pub use releases::ReleasesOptions;
pub use restore::RestoreOptions;
pub use rollback::RollbackOptions;
pub use run::{RunOptions, split_tags};
pub use runs::{RunsAction, RunsOptions};
pub use secrets::{SecretsEnv, SecretsRequest, VaultImport};
pub use ssh::SshOptions;
pub use staging::{StagingAction, StagingOptions};
pub use status::StatusOptions;
pub use users::{KeySource, UsersRequest};
pub use vars::VarsOptions;

/// A command to run, as `cli.rs` parsed it.
pub struct Invocation {
    /// `--project DIR`.
    pub project: Option<PathBuf>,
    /// `--keep-connections[=IDLE]`: masters outlive the command for IDLE.
    pub keep_connections: Option<std::time::Duration>,
    pub request: Request,
    /// What the run journal records (commands that touch hosts; `None` for the
    /// others and for listings such as `--list-tasks`).
    pub journal: Option<JournalEntry>,
}

/// The subcommand and its options. Commands that load an environment carry the
/// [`Selection`] (`--env`/`-i`, `-e`, `--identity`) to load.
pub enum Request {
    Ping(Selection, PingOptions),
    Run(Selection, RunOptions),
    Inventory(Selection, InventoryOptions),
    Vars(Selection, VarsOptions),
    Provision(Selection, ProvisionOptions),
    Env(EnvRequest),
    Init(InitOptions),
    Disconnect,
    Deploy(Selection, DeployOptions),
    Rollback(Selection, RollbackOptions),
    Releases(Selection, ReleasesOptions),
    Initdata(Selection, InitdataOptions),
    Backup(Selection, BackupOptions),
    Backups(Selection, BackupsOptions),
    Restore(Selection, RestoreOptions),
    Runs(RunsOptions),
    Status(Selection, StatusOptions),
    Secrets(SecretsRequest),
    Exec(Selection, ExecOptions),
    Logs(Selection, LogsOptions),
    Ssh(Selection, SshOptions),
    Maintenance(Selection, MaintenanceOptions),
    Staging(StagingOptions),
    Previews(Selection, PreviewsOptions),
    Users(UsersRequest),
    Notify(Selection, NotifyOptions),
}

/// What the run journal records of a command, and its CI outputs.
#[derive(Debug, Clone, Default)]
pub struct JournalEntry {
    pub command: CommandInfo,
    /// `--junit FILE`.
    pub junit: Option<PathBuf>,
    /// `--fail-on-change`.
    pub fail_on_change: bool,
}

pub async fn run(invocation: Invocation, printer: &Printer) -> Result<Exit> {
    let Invocation {
        project,
        keep_connections,
        request,
        journal,
    } = invocation;
    // before any connection opens
    crate::transport::keep_connections(keep_connections);
    // Commands that touch hosts are recorded in the run journal, whatever their outcome.
    let journal = match journal {
        Some(entry) => Some(crate::journal::begin(runs::begin(
            entry,
            project.as_deref(),
        ))?),
        None => None,
    };
    let result = dispatch(project, request, printer).await;
    match journal {
        Some(j) => j.finish(result, printer),
        None => result,
    }
}

async fn dispatch(project: Option<PathBuf>, request: Request, printer: &Printer) -> Result<Exit> {
    let load = |selection: &Selection| {
        let loaded = Loaded::load(project.clone(), selection)?;
        for n in &loaded.notes {
            printer.verbose(1, n);
        }
        for w in &loaded.warnings {
            printer.warn(w);
        }
        Ok::<Loaded, Error>(loaded)
    };
    match request {
        Request::Ping(s, mut o) => {
            let loaded = load(&s)?;
            o.forks = loaded.forks;
            ping::run(&loaded, o, printer).await
        }
        Request::Run(s, mut o) => {
            let loaded = load(&s)?;
            o.engine.forks = loaded.forks;
            run::run(&loaded, o, printer).await
        }
        // These two only read and print, and the process ends right after:
        // the loaded inventory is left to the OS (freeing 100,000 hosts one by
        // one costs a sixth of `inventory --list`).
        Request::Inventory(s, o) => {
            let loaded = load(&s)?;
            let r = inventory::run(&loaded, o, printer);
            std::mem::forget(loaded);
            r
        }
        // The stack roles' defaults are a layer `opsctl vars` shows (and names).
        Request::Vars(s, o) => {
            let loaded = load(&s)?.with_role_defaults()?;
            let r = vars::run(&loaded, o, printer);
            std::mem::forget(loaded);
            r
        }
        Request::Provision(s, mut o) => {
            let loaded = load(&s)?;
            o.engine.forks = loaded.forks;
            provision::run(&loaded, o, printer).await
        }
        Request::Env(r) => env::run(project, r, printer),
        Request::Init(o) => init::run(project, o, printer),
        Request::Disconnect => disconnect(printer).await,
        Request::Deploy(s, mut o) => {
            let loaded = load(&s)?;
            o.forks = loaded.forks;
            deploy::run(loaded, o, printer).await
        }
        Request::Rollback(s, o) => rollback::run(load(&s)?, o, printer).await,
        Request::Releases(s, o) => releases::run(load(&s)?, o, printer).await,
        Request::Initdata(s, o) => initdata::run(load(&s)?, o, printer).await,
        Request::Backup(s, o) => backup::run(load(&s)?, o, printer).await,
        Request::Backups(s, o) => backups::run(load(&s)?, o, printer).await,
        Request::Restore(s, o) => {
            let from = match &o.from {
                Some(env) => Some(load(&Selection {
                    env: Some(env.clone()),
                    inventory: None,
                    ..s.clone()
                })?),
                None => None,
            };
            restore::run(load(&s)?, from, o, printer).await
        }
        Request::Secrets(r) => secrets::run(project, r, printer).await,
        Request::Runs(o) => runs::run(project, o, printer),
        Request::Users(r) => users::run(project, r, printer),
        Request::Notify(s, mut o) => {
            let loaded = load(&s)?;
            o.forks = loaded.forks;
            notify::run(&loaded, o, printer).await
        }
        Request::Exec(s, mut o) => {
            let loaded = load(&s)?;
            o.forks = loaded.forks;
            exec::run(&loaded, o, printer).await
        }
        Request::Logs(s, mut o) => {
            let loaded = load(&s)?;
            o.forks = loaded.forks;
            logs::run(&loaded, o, printer).await
        }
        Request::Ssh(s, o) => ssh::run(&load(&s)?, o, printer),
        Request::Maintenance(s, o) => maintenance::run(load(&s)?, o, printer).await,
        Request::Staging(o) => staging::run(o, printer),
        Request::Previews(s, o) => previews::run(load(&s)?, o, printer).await,
        Request::Status(s, mut o) => {
            let loaded = load(&s)?;
            o.forks = loaded.forks;
            status::run(&loaded, o, printer).await
        }
    }
}

/// Waits for `work` (a fan-out over hosts), unless Ctrl-C or SIGTERM comes
/// first: then every connection is closed, the interruption said, and `None`
/// returned (the command exits [`Exit::Interrupted`]).
async fn unless_interrupted<T>(
    work: impl std::future::Future<Output = T>,
    conns: &crate::runner::Connections,
    printer: &Printer,
) -> Option<T> {
    tokio::select! {
        done = work => Some(done),
        _ = crate::interrupt::signalled() => {
            printer.end_live();
            conns.close_all().await;
            printer.warn("interrupted");
            None
        }
    }
}

/// `opsctl disconnect`: closes the masters kept by `--keep-connections`.
async fn disconnect(printer: &Printer) -> Result<Exit> {
    let n = crate::transport::close_kept().await.map_err(Error::new)?;
    if printer.is_json() {
        printer.json(&serde_json::json!({"closed": n}));
        return Ok(Exit::Success);
    }
    printer.result(&match n {
        0 => "no kept connection was open".to_string(),
        1 => "closed 1 kept connection".to_string(),
        n => format!("closed {n} kept connections"),
    });
    Ok(Exit::Success)
}
