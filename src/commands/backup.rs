//! `opsctl backup --env E`: one backup now, on the environment's backup host
//! (roles/backup's `opsctl-backup run`): the database's dump, the app's
//! `shared/` files and a record of what was live (time, host, release, commit,
//! ref, this run's id) into one restic snapshot tagged with the env and release.
//! `opsctl backups` lists them; see docs/backups.md.

use serde_json::json;

use crate::deploy::backup::{self as b, Made};
use crate::deploy::hosts::Hosts;
use crate::deploy::{self as d};
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;
use crate::runner::connection_spec;
use crate::session::Loaded;

/// `opsctl backup`.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {}

pub async fn run(loaded: Loaded, _args: BackupOptions, printer: &Printer) -> Result<Exit> {
    let env = loaded.target.env.clone().unwrap_or_default();
    let host = b::backup_host(&loaded.inventory).ok_or_else(b::no_backup_host)?;
    let spec = connection_spec(&loaded.vars, &host, loaded.target.ssh_config.as_deref())?;
    // What is live: the first web host's release, from its releases.log (the
    // backup host may be a db host of its own, with no release).
    let hosts = Hosts::load(loaded, None, "deploy")?;
    let st = hosts.status(0).await?;
    let releases = d::releases(&st.records, &st.present, st.current.as_deref());
    let live = releases.iter().find(|r| r.live);
    let release = st.current.clone().unwrap_or_default();
    let commit = live
        .and_then(|r| r.deployed.as_ref().map(|x| x.commit.clone()))
        .or(st.live_commit.clone())
        .unwrap_or_default();
    let git_ref = live
        .and_then(|r| r.deployed.as_ref().map(|x| x.git_ref.clone()))
        .unwrap_or_default();
    let run_id = crate::journal::active()
        .map(|j| j.id.clone())
        .unwrap_or_default();
    let args = [
        "run",
        "--trigger",
        "opsctl",
        "--run-id",
        &run_id,
        "--release",
        &release,
        "--commit",
        &commit,
        "--ref",
        &git_ref,
    ];
    let out = tokio::select! {
        r = b::script(&hosts.conns, &spec, &args, None) => r,
        _ = crate::interrupt::signalled() => {
            hosts.conns.close_all().await;
            return Ok(Exit::Interrupted);
        }
    };
    hosts.conns.close_all().await;
    let out = out?;
    if !out.success() {
        return Err(b::failed(&host, "the backup", &out));
    }
    let made: Made = b::last_json(&out.stdout_str()).ok_or_else(|| {
        Error::new(format!(
            "host {host}: the backup printed no snapshot: {}",
            out.stdout_str().trim()
        ))
        .exit(Exit::Failed)
    })?;
    if printer.is_json() {
        printer.json(&json!({
            "env": env, "host": host, "snapshot": made.snapshot, "time": made.time,
            "release": made.live.release, "commit": made.live.commit, "ref": made.live.git_ref, "run_id": run_id,
        }));
    } else {
        let l = &made.live;
        let live = if l.release.is_empty() {
            "no release live".to_string()
        } else {
            format!(
                "release {} (commit {}, ref {})",
                l.release,
                l.commit.chars().take(d::SHORT_SHA).collect::<String>(),
                l.git_ref
            )
        };
        printer.result(&format!(
            "backup {} of {env} made on {host} at {}: {live}",
            made.snapshot, made.time
        ));
    }
    Ok(Exit::Success)
}
