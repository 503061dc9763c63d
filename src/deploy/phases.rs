//! A deploy's phases over its hosts (docs/deploy.md), driven by `opsctl deploy`
//! under the lock: the release prepared on every host at once, the migrations
//! on one host, the maintenance page where it is due, the switch batch by batch
//! (the canary first, then `deploy_serial`), each batch health-checked before
//! the next; a failure stops the rollout and switches every host already
//! switched back. Each phase is `playbooks/deploy.yml` (roles/app) run on some
//! hosts with `deploy_phase`; what each host did is read back from its release
//! log. Not pure: [`super::rollout`] holds the decisions.

use serde_json::{Value as Json, json};

use super::hosts::Hosts;
use super::maintenance::{self as maint, Entered};
use super::rollout::{self, Size};
use super::{Outcome, remote::Status};
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;

/// What the environment says about the rollout, read before the lock is taken.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Indices of the hosts, batch by batch.
    pub batches: Vec<Vec<usize>>,
    /// The first batch is the canary (any failure there stops the rollout).
    pub canary: bool,
    pub max_fail: f64,
    /// The hosts that run the migrations (one, unless each has its own database).
    pub migrate: Vec<usize>,
    pub hooks: Vec<rollout::Hook>,
    pub webhook: Option<String>,
}

/// The same JSON variable on every host (`Null` when unset), or an error naming
/// two hosts that differ.
fn same_json(hosts: &Hosts, name: &str) -> Result<Json> {
    let first = hosts.json_var(0, name)?;
    for i in 1..hosts.names.len() {
        if hosts.json_var(i, name)? != first {
            return Err(Error::new(format!(
                "hosts disagree on {name}: {} and {} have different values",
                hosts.names[0], hosts.names[i]
            ))
            .hint("one deploy has one rollout: set it once, in group_vars/web.yml"));
        }
    }
    Ok(first)
}

/// `deploy_webhook_url` (a secret: an error never shows it), if set.
pub fn webhook_url(hosts: &Hosts) -> Result<Option<String>> {
    Ok(same_json(hosts, "deploy_webhook_url")?
        .as_str()
        .map(str::to_string)
        .filter(|u| !u.trim().is_empty()))
}

/// `deploy_hooks`, the same on every host.
pub fn hooks(hosts: &Hosts) -> Result<Vec<rollout::Hook>> {
    rollout::parse_hooks(&same_json(hosts, "deploy_hooks")?)
        .map_err(|e| Error::new(e).hint("see docs/deploy.md for the rollout's variables"))
}

impl Plan {
    /// Reads `deploy_serial`, `deploy_max_fail_percentage`, `deploy_canary`,
    /// `deploy_migrate_once`, `deploy_hooks` and `deploy_webhook_url`.
    pub fn read(hosts: &Hosts) -> Result<Plan> {
        let config =
            |e: String| Error::new(e).hint("see docs/deploy.md for the rollout's variables");
        let serial: Vec<Size> =
            rollout::parse_serial(&same_json(hosts, "deploy_serial")?).map_err(config)?;
        let max_fail = rollout::parse_max_fail(&same_json(hosts, "deploy_max_fail_percentage")?)
            .map_err(config)?;
        let canary: Vec<usize> = match same_json(hosts, "deploy_canary")? {
            Json::Null => vec![0],
            Json::Bool(false) => Vec::new(),
            Json::String(s) if s.trim().is_empty() => vec![0],
            Json::String(s) if s.trim() == "none" => Vec::new(),
            Json::String(pattern) => {
                let picked = hosts.loaded.inventory.select(pattern.trim())?;
                let idx: Vec<usize> = (0..hosts.names.len())
                    .filter(|i| picked.contains(&hosts.names[*i]))
                    .collect();
                if idx.is_empty() {
                    return Err(Error::new(format!(
                        "deploy_canary '{pattern}' selects none of the hosts of this deploy ({})",
                        hosts.names.join(", ")
                    ))
                    .hint("a host pattern such as web1 or 'web[0]'; `none` for no canary"));
                }
                idx
            }
            other => {
                return Err(config(format!(
                    "deploy_canary: {other} is not a host pattern (or none)"
                )));
            }
        };
        let batches = rollout::batches(hosts.names.len(), &canary, &serial);
        let first = batches
            .first()
            .and_then(|b| b.first())
            .copied()
            .unwrap_or(0);
        // Each host its own SQLite file: each migrates its own. Else one host.
        // A compose app's database is its own business (not database_url):
        // once, unless it says otherwise.
        let compose = hosts.var(0, "app_kind").ok().flatten().as_deref() == Some("compose");
        let once = match same_json(hosts, "deploy_migrate_once")? {
            Json::Bool(b) => b,
            Json::Null => {
                compose
                    || !hosts
                        .var(0, "database_url")
                        .ok()
                        .flatten()
                        .is_some_and(|u| u.trim_start().starts_with("sqlite"))
            }
            other => {
                return Err(config(format!(
                    "deploy_migrate_once: {other} is not true or false"
                )));
            }
        };
        let migrate = if once {
            vec![first]
        } else {
            (0..hosts.names.len()).collect()
        };
        let hooks = self::hooks(hosts)?;
        let webhook = hosts
            .same_var("deploy_webhook_url")?
            .filter(|u| !u.trim().is_empty());
        Ok(Plan {
            canary: !canary.is_empty(),
            batches,
            max_fail,
            migrate,
            hooks,
            webhook,
        })
    }

    /// `canary host1, then host2, host3` / `host1, then host2`.
    pub fn describe(&self, hosts: &Hosts) -> String {
        let names = |b: &[usize]| {
            b.iter()
                .map(|i| hosts.names[*i].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let parts: Vec<String> = self
            .batches
            .iter()
            .enumerate()
            .map(|(k, b)| {
                if k == 0 && self.canary {
                    format!("canary {}", names(b))
                } else {
                    names(b)
                }
            })
            .collect();
        format!(
            "switch {}; migrations on {}",
            parts.join(", then "),
            names(&self.migrate)
        )
    }
}

/// What the rollout did, for the command's message, recap, hooks and webhook.
#[derive(Debug)]
pub struct Done {
    /// Hosts serving the new release.
    pub live: Vec<usize>,
    /// Hosts that failed, with the step (their own rescue went back).
    pub failed: Vec<(usize, String)>,
    /// Hosts switched back after another failed.
    pub switched_back: Vec<usize>,
    /// Hosts never switched.
    pub untouched: Vec<usize>,
    pub exit: Exit,
}

impl Default for Done {
    fn default() -> Done {
        Done {
            live: Vec::new(),
            failed: Vec::new(),
            switched_back: Vec::new(),
            untouched: Vec::new(),
            exit: Exit::Success,
        }
    }
}

/// The phases, from the build to the confirmation. `base`: the deploy's
/// variables (release_id...); `previous[i]`: host i's live release before
/// (`{dir, commit}`); `pages[i]`: host i's `deploy_maintenance`.
pub async fn run(
    hosts: &Hosts,
    plan: &Plan,
    base: &Json,
    previous: &[Json],
    pages: &[String],
    printer: &Printer,
) -> Result<Done> {
    let n = hosts.names.len();
    let all: Vec<usize> = (0..n).collect();
    let id = base["release_id"].as_str().unwrap_or_default().to_string();
    let name = |i: &usize| hosts.names[*i].clone();
    let mut prev = serde_json::Map::new();
    for (i, p) in previous.iter().enumerate() {
        prev.insert(hosts.names[i].clone(), p.clone());
    }
    let vars = |phase: &str, more: Json| {
        let mut v = base.clone();
        if let (Some(o), Json::Object(m)) = (v.as_object_mut(), more) {
            o.extend(m);
            o.insert("deploy_phase".into(), phase.into());
            o.insert("deploy_previous".into(), Json::Object(prev.clone()));
        }
        v
    };
    let mut done = Done::default();

    // 1. Prepare, everywhere at once.
    let migrate_names: Vec<String> = plan.migrate.iter().map(name).collect();
    let check = pages.iter().any(|p| p == "auto");
    let exit = hosts
        .run_playbook_on(
            "deploy",
            vars(
                "prepare",
                json!({"deploy_migrate_hosts": migrate_names, "deploy_check_migrations": check}),
            ),
            &all,
            printer,
        )
        .await?;
    if exit == Exit::Interrupted {
        done.exit = exit;
        return Ok(done);
    }
    if exit != Exit::Success {
        let failed = failures(hosts, &id, &all).await;
        let rest = others(&all, &failed);
        return stop(hosts, &vars, done, failed, Vec::new(), rest, printer).await;
    }

    // 2. The maintenance page where it is due: `always`, or `auto` while the
    // release has migrations to run.
    let mut migrating = false;
    for i in &plan.migrate {
        let out = hosts
            .run(
                *i,
                format!(
                    "cat {}/.deploy.lock/migrations 2>/dev/null",
                    crate::transport::shell_quote(&hosts.roots[*i])
                ),
            )
            .await?;
        let said = out.stdout_str();
        migrating |= matches!(said.trim(), "1" | "unknown");
    }
    let want: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| pages[*i] == "always" || (pages[*i] == "auto" && migrating))
        .collect();
    if !want.is_empty() {
        let mut failed = Vec::new();
        for (i, r) in want
            .iter()
            .zip(maint::enter_on(hosts, "deploy", &want, None).await)
        {
            match r {
                Ok(Entered::On(_)) => {
                    printer.result(&format!("{} | maintenance page on", hosts.names[*i]))
                }
                Ok(Entered::Already(st)) => printer.result(&format!(
                    "{} | maintenance page already on{}: left on",
                    hosts.names[*i],
                    st.map(|s| format!(" ({})", s.describe()))
                        .unwrap_or_default()
                )),
                Err(e) => {
                    printer.warn(&e.message);
                    failed.push((*i, "maintenance".to_string()));
                }
            }
        }
        if !failed.is_empty() {
            // Nothing logged it yet: every host abandons the release.
            return stop(hosts, &vars, done, failed, Vec::new(), all, printer).await;
        }
    }

    // 3. The migrations, once (or on each host with its own database).
    let exit = hosts
        .run_playbook_on("deploy", vars("migrate", json!({})), &plan.migrate, printer)
        .await?;
    if exit == Exit::Interrupted {
        done.exit = exit;
        return Ok(done);
    }
    if exit != Exit::Success {
        let failed = failures(hosts, &id, &plan.migrate).await;
        let rest = others(&all, &failed);
        return stop(hosts, &vars, done, failed, Vec::new(), rest, printer).await;
    }

    // 4. The switch, batch by batch.
    let total = plan.batches.len();
    for (k, batch) in plan.batches.iter().enumerate() {
        let canary = k == 0 && plan.canary && total > 1;
        printer.result(&format!(
            "switching {}{} ({} of {total})",
            if canary { "the canary " } else { "" },
            batch.iter().map(name).collect::<Vec<_>>().join(", "),
            k + 1
        ));
        let exit = hosts
            .run_playbook_on("deploy", vars("switch", json!({})), batch, printer)
            .await?;
        if exit == Exit::Interrupted {
            done.exit = exit;
            return Ok(done);
        }
        let mut bad = Vec::new();
        for i in batch {
            match hosts.status(*i).await {
                Ok(st)
                    if st.current.as_deref() == Some(id.as_str())
                        && bad_step(&st, &id).is_none() =>
                {
                    printer.result(&format!(
                        "{} | release {id} live and healthy",
                        hosts.names[*i]
                    ));
                    done.live.push(*i)
                }
                Ok(st) => bad.push((*i, bad_step(&st, &id).unwrap_or_else(|| "switch".into()))),
                Err(_) => bad.push((*i, "unreachable".into())),
            }
        }
        let stops = rollout::stops(bad.len(), batch.len(), plan.max_fail, canary);
        done.failed.extend(bad);
        if stops {
            let failed = std::mem::take(&mut done.failed);
            let switched = std::mem::take(&mut done.live);
            let rest: Vec<usize> = others(&all, &failed)
                .into_iter()
                .filter(|i| !switched.contains(i))
                .collect();
            return stop(hosts, &vars, done, failed, switched, rest, printer).await;
        }
    }

    // 5. Confirm where it is live (every host failed within a limit of 100%: nowhere).
    let exit = if done.live.is_empty() {
        Exit::Failed
    } else {
        hosts
            .run_playbook_on("deploy", vars("confirm", json!({})), &done.live, printer)
            .await?
    };
    done.exit = if exit == Exit::Success && done.failed.is_empty() {
        Exit::Success
    } else if exit == Exit::Interrupted {
        exit
    } else {
        Exit::Failed
    };
    Ok(done)
}

/// The step at which host `st` logged `id` bad, if it did.
fn bad_step(st: &Status, id: &str) -> Option<String> {
    st.records
        .iter()
        .rev()
        .find(|r| r.id == id)
        .filter(|r| r.result == Outcome::Bad)
        .map(|r| r.step.clone().unwrap_or_else(|| "?".into()))
}

/// The hosts of `which` that logged `id` bad, with the step (an unreadable
/// host counts as failed: `unreachable`).
async fn failures(hosts: &Hosts, id: &str, which: &[usize]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for i in which {
        match hosts.status(*i).await {
            Ok(st) => {
                if let Some(step) = bad_step(&st, id) {
                    out.push((*i, step));
                }
            }
            Err(_) => out.push((*i, "unreachable".into())),
        }
    }
    out
}

/// The hosts of `all` not in `failed`.
fn others(all: &[usize], failed: &[(usize, String)]) -> Vec<usize> {
    all.iter()
        .copied()
        .filter(|i| !failed.iter().any(|(f, _)| f == i))
        .collect()
}

/// The rollout stops: the hosts of `switched` go back to what they served
/// before (`switchback`), those of `abandon` (never switched) drop the release;
/// both log it bad, saying which host failed at which step.
async fn stop(
    hosts: &Hosts,
    vars: &dyn Fn(&str, Json) -> Json,
    mut done: Done,
    failed: Vec<(usize, String)>,
    switched: Vec<usize>,
    abandon: Vec<usize>,
    printer: &Printer,
) -> Result<Done> {
    let (step, note) = match failed.first() {
        Some((_, step)) => (
            step.clone(),
            failed
                .iter()
                .map(|(i, s)| format!("{} failed at step {s}", hosts.names[*i]))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        None => ("deploy".to_string(), "the deploy failed".to_string()),
    };
    if !switched.is_empty() {
        let names: Vec<&str> = switched.iter().map(|i| hosts.names[*i].as_str()).collect();
        printer.result(&format!(
            "rollout stopped ({note}): switching {} back",
            names.join(", ")
        ));
        let more =
            json!({"deploy_failed_step": step, "deploy_note": format!("switched back: {note}")});
        hosts
            .run_playbook_on("deploy", vars("switchback", more), &switched, printer)
            .await?;
    }
    if !abandon.is_empty() {
        let more =
            json!({"deploy_failed_step": step, "deploy_note": format!("not switched: {note}")});
        hosts
            .run_playbook_on("deploy", vars("abandon", more), &abandon, printer)
            .await?;
    }
    done.failed = failed;
    done.switched_back = switched;
    done.untouched = abandon;
    done.exit = Exit::Failed;
    Ok(done)
}
