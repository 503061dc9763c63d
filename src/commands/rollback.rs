//! `opsctl rollback`: under the deploy lock, each host goes back to the newest good
//! release older than its live one (or `--to RELEASE`), through
//! `playbooks/rollback.yml` (switch, reload or restart the programs, health check,
//! log the release left as rolled-back).

use serde_json::{Map, json};

use crate::deploy as d;
use crate::deploy::hooks::{self, Hooks};
use crate::deploy::hosts::{Hosts, controller_user, finish, holder, now};
use crate::deploy::rollout::{Event, When};
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;
use crate::session::Loaded;

/// `opsctl rollback`.
#[derive(Debug, Clone, Default)]
pub struct RollbackOptions {
    pub limit: Option<String>,
    /// The release to go back to (default: the newest good one older than the live one).
    pub to: Option<String>,
    /// Remove a deploy lock left by another command before taking it.
    pub force_unlock: bool,
}

pub async fn run(loaded: Loaded, args: RollbackOptions, printer: &Printer) -> Result<Exit> {
    if let Some(to) = &args.to
        && !d::is_release_id(to)
    {
        return Err(Error::new(format!(
            "--to {to} is not a release id (YYYYMMDDHHMMSS-<sha7>)"
        ))
        .hint("`opsctl releases --env ENV` lists them"));
    }
    let hosts = Hosts::load(loaded, args.limit.as_deref(), "rollback")?;
    let webhook = crate::deploy::phases::webhook_url(&hosts)?;
    let hook_list = crate::deploy::phases::hooks(&hosts)?;
    let holder = holder("rollback", args.to.as_deref().unwrap_or("previous"));
    let locked = tokio::select! {
        r = hosts.lock(&holder, args.force_unlock, printer) => r,
        _ = crate::interrupt::signalled() => {
            hosts.unlock(&holder, hosts.names.len()).await;
            hosts.conns.close_all().await;
            return Ok(Exit::Interrupted);
        }
    };
    let previous: Vec<_> = match locked {
        Ok(taken) => taken.into_iter().map(|(_, p)| p).collect(),
        Err(e) => {
            hosts.conns.close_all().await;
            return Err(e);
        }
    };
    let result = async {
        // A lock taken over from a command that died: its live release is
        // health-checked first (logged ok, or switched back), as deploy does;
        // the rollback then starts from what is live after that.
        let statuses = finish(&hosts, &previous, printer).await?;
        let mut targets = Map::new();
        let mut plan = Vec::new();
        let mut event = Event {
            action: "rollback".into(),
            env: hosts.loaded.target.env.clone().unwrap_or_default(),
            user: controller_user(),
            ..Event::default()
        };
        for (i, st) in statuses.into_iter().enumerate() {
            let releases = d::releases(&st.records, &st.present, st.current.as_deref());
            let target = d::rollback_target(&releases, args.to.as_deref()).map_err(|e| {
                Error::new(format!("host {}: {e}", hosts.names[i]))
                    .hint("nothing was changed on any host")
            })?;
            let record = releases
                .iter()
                .find(|r| r.id == target)
                .and_then(|r| r.deployed.clone());
            let from = releases
                .iter()
                .find(|r| r.live)
                .and_then(|r| r.deployed.clone());
            if i == 0 {
                event.release = target.clone();
                if let Some(r) = &record {
                    event.commit = r.commit.clone();
                    event.git_ref = r.git_ref.clone();
                }
            }
            plan.push(format!(
                "{}: {} -> {}",
                hosts.names[i],
                st.current.as_deref().unwrap_or("none"),
                target
            ));
            targets.insert(
                hosts.names[i].clone(),
                json!({
                    "id": target,
                    "from": st.current.clone().unwrap_or_default(),
                    "from_commit": from.as_ref().map(|r| r.commit.clone()).or_else(|| st.live_commit.clone()).unwrap_or_default(),
                    "from_ref": from.as_ref().map(|r| r.git_ref.clone()).unwrap_or_default(),
                    "commit": record.as_ref().map(|r| r.commit.clone()).unwrap_or_default(),
                    "ref": record.as_ref().map(|r| r.git_ref.clone()).unwrap_or_default(),
                }),
            );
        }
        printer.result(&format!("rollback {}", plan.join(", ")));
        // deploy_hooks run around a rollback as around a deploy, with
        // OPSCTL_ACTION=rollback: a failing `before` changes nothing.
        let hooks = Hooks {
            hosts: &hosts,
            hooks: &hook_list,
            root: &hosts.root,
            printer,
        };
        if let Err(e) = hooks.run(When::Before, &event).await {
            event.result = "failed".into();
            event.detail = format!("{}: nothing was switched", e.message);
            hooks.run_after(When::Failed, &event).await;
            hooks::notify(webhook.as_deref(), &event, printer).await;
            return Err(e.hint("a before hook stops the rollback before anything is switched"));
        }
        let extra = json!({
            "rollback_targets": targets,
            "deploy_user": controller_user(),
            "release_time": d::iso_time(now()),
        });
        let exit = hosts
            .run_playbook("rollback", extra, (false, false), printer)
            .await?;
        if exit != Exit::Interrupted {
            event.result = if exit == Exit::Success { "ok" } else { "failed" }.into();
            event.detail = plan.join(", ");
            if exit == Exit::Success {
                event.hosts = hosts.names.clone();
                hooks.run_after(When::After, &event).await;
            } else {
                hooks.run_after(When::Failed, &event).await;
            }
            hooks::notify(webhook.as_deref(), &event, printer).await;
        }
        if exit == Exit::Success {
            printer.result("rollback done");
            Ok(exit)
        } else if exit == Exit::Interrupted {
            Ok(exit)
        } else {
            Err(Error::new("the rollback failed")
                .hint("see the failed task above; `opsctl releases --env ENV` shows what is live")
                .exit(exit))
        }
    }
    .await;
    hosts.unlock(&holder, hosts.names.len()).await;
    hosts.conns.close_all().await;
    result
}
