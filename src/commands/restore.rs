//! `opsctl restore --env E [SNAPSHOT] [--yes] [--from ENV] [--anonymize CMD]`:
//! a snapshot of the environment's restic repository (or of `--from ENV`'s)
//! brought back, under the deploy lock. The order keeps the live database safe:
//! the snapshot is fetched and checked (its dump's sha256) and restored into a
//! NEW database while the site serves; only then are the programs stopped, the
//! new database takes the live one's name (the old one is kept as
//! `DB_before_restore`), the files of `shared/` are restored, and
//! `playbooks/restore.yml` switches to the snapshot's release (when it differs
//! and is still on the host), runs the anonymisation command, starts the
//! programs and health-checks. A failure before the swap leaves everything as
//! it was; the programs are started again whatever happens after the stop.

use serde_json::{Map, json};

use crate::deploy::backup::{self as b, Record};
use crate::deploy::hosts::{Hosts, controller_user, finish, holder, now};
use crate::deploy::maintenance as maint;
use crate::deploy::{self as d};
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;
use crate::runner::connection_spec;
use crate::session::Loaded;
use crate::transport::ConnectionSpec;

/// `opsctl restore`.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The snapshot (an id or its prefix, from `opsctl backups`); default: the newest.
    pub snapshot: Option<String>,
    /// Replace without asking (the only way without a terminal, and in CI).
    pub yes: bool,
    /// The environment whose repository holds the snapshot (`--from prod`).
    pub from: Option<String>,
    /// Run in the live release (with its .env) before the programs start.
    pub anonymize: Option<String>,
    pub force_unlock: bool,
}

/// The backup host of an environment: its name and how to reach it.
pub(crate) struct Source {
    pub env: String,
    pub host: String,
    pub spec: ConnectionSpec,
}

pub(crate) fn source(loaded: &Loaded) -> Result<Source> {
    let host = b::backup_host(&loaded.inventory).ok_or_else(b::no_backup_host)?;
    Ok(Source {
        env: loaded.target.env.clone().unwrap_or_default(),
        spec: connection_spec(&loaded.vars, &host, loaded.target.ssh_config.as_deref())?,
        host,
    })
}

pub async fn run(
    loaded: Loaded,
    from: Option<Loaded>,
    args: RestoreOptions,
    printer: &Printer,
) -> Result<Exit> {
    let target = source(&loaded)?;
    let src = match &from {
        Some(l) => source(l)?,
        None => source(&loaded)?,
    };
    let hosts = Hosts::load(loaded, None, "restore")?;
    let mut args = args;
    if from.is_some() && args.anonymize.is_none() {
        // Another environment's data: the target's own anonymisation command.
        args.anonymize = hosts
            .same_var("anonymize_command")?
            .filter(|c| !c.trim().is_empty());
    }
    let result = restore(&hosts, &target, &src, &args, printer).await;
    hosts.conns.close_all().await;
    result
}

async fn restore(
    hosts: &Hosts,
    target: &Source,
    src: &Source,
    args: &RestoreOptions,
    printer: &Printer,
) -> Result<Exit> {
    let snap = snapshot(&hosts.conns, src, args.snapshot.as_deref()).await?;
    let what = format!(
        "snapshot {} of {} ({}, release {})",
        snap.id,
        src.env,
        snap.time,
        snap.release_or_none()
    );
    let replaces = format!(
        "the database of {} on {} and the shared/ files on {}",
        target.env,
        target.host,
        hosts.names.join(", ")
    );
    confirm(args.yes, &what, &replaces, printer).await?;

    let holder = holder("restore", &snap.id);
    let taken = tokio::select! {
        r = hosts.lock(&holder, args.force_unlock, printer) => r,
        _ = crate::interrupt::signalled() => {
            hosts.unlock(&holder, hosts.names.len()).await;
            return Ok(Exit::Interrupted);
        }
    }?;
    let previous: Vec<_> = taken.into_iter().map(|(_, p)| p).collect();
    let result = async {
        let statuses = finish(hosts, &previous, printer).await?;
        let record = fetch(hosts, target, src, &snap.id, printer).await?;
        restore_under_lock(hosts, target, &snap.id, &record, statuses, args, printer).await
    }
    .await;
    // The staging directory (and a new database never swapped in) go, whatever happened.
    let _ = b::script(&hosts.conns, &target.spec, &["clean"], None).await;
    hosts.unlock(&holder, hosts.names.len()).await;
    result
}

/// Which snapshot of `src`'s repository: the one named (an id or its prefix),
/// else the newest.
pub(crate) async fn snapshot(
    conns: &crate::runner::Connections,
    src: &Source,
    want: Option<&str>,
) -> Result<b::Snapshot> {
    let out = b::script(conns, &src.spec, &["list"], None).await?;
    if !out.success() {
        return Err(b::failed(&src.host, "listing the snapshots", &out));
    }
    let list = b::parse_list(&out.stdout_str())
        .map_err(|e| Error::new(format!("host {}: {e}", src.host)).exit(Exit::Failed))?;
    let snap = match want {
        Some(want) => list
            .iter()
            .find(|s| s.id.starts_with(want) || want.starts_with(s.id.as_str()))
            .ok_or_else(|| {
                Error::new(format!(
                    "no snapshot {want} in the repository of {} ({})",
                    src.env, src.host
                ))
                .hint(format!("`opsctl backups --env {}` lists them", src.env))
            })?,
        None => list.last().ok_or_else(|| {
            Error::new(format!(
                "no backup yet in the repository of {} ({})",
                src.env, src.host
            ))
            .hint(format!("`opsctl backup --env {}` makes one", src.env))
        })?,
    };
    Ok(snap.clone())
}

/// Asks before anything is replaced; without a terminal (or in CI) only `--yes` goes on.
async fn confirm(yes: bool, what: &str, replaces: &str, printer: &Printer) -> Result<()> {
    if yes {
        printer.result(&format!("restoring {what}: replaces {replaces}"));
        return Ok(());
    }
    if !crate::printer::interactive() {
        return Err(Error::new(format!(
            "restore replaces {replaces} with {what}: refusing without --yes, as there is no terminal to ask{}",
            if crate::printer::in_ci() { " (CI)" } else { "" }
        ))
        .hint("run it again with --yes once you are sure")
        .exit(Exit::Config));
    }
    let prompt = format!("restore {what}? This replaces {replaces}. Type yes to go on: ");
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, Write};
        let mut err = std::io::stderr();
        let _ = write!(err, "{prompt}");
        let _ = err.flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| Error::new(format!("cannot ask: {e}")))?
    .map_err(|e| Error::new(format!("cannot read the answer: {e}")))?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(Error::new("restore cancelled: nothing was changed").exit(Exit::Config))
    }
}

/// The snapshot into the target backup host's staging directory, checked: from
/// its own repository (`fetch`), or from another environment's backup host
/// through this machine (`export` | `import`). Returns its record.
pub(crate) async fn fetch(
    hosts: &Hosts,
    target: &Source,
    src: &Source,
    id: &str,
    printer: &Printer,
) -> Result<Record> {
    let out = if src.env == target.env && src.host == target.host {
        b::script(&hosts.conns, &target.spec, &["fetch", id], None).await?
    } else {
        printer.result(&format!(
            "copying snapshot {id} from {} ({}) to {} ({}) through this machine",
            src.host, src.env, target.host, target.env
        ));
        let tar = b::script(&hosts.conns, &src.spec, &["export", id], None).await?;
        if !tar.success() {
            return Err(not_touched(b::failed(
                &src.host,
                &format!("reading snapshot {id}"),
                &tar,
            )));
        }
        b::script(&hosts.conns, &target.spec, &["import"], Some(tar.stdout)).await?
    };
    if !out.success() {
        return Err(not_touched(b::failed(
            &target.host,
            &format!("fetching snapshot {id}"),
            &out,
        )));
    }
    b::last_json(&out.stdout_str()).ok_or_else(|| {
        Error::new(format!(
            "host {}: snapshot {id} holds no readable backup.json",
            target.host
        ))
        .exit(Exit::Failed)
    })
}

fn not_touched(e: Error) -> Error {
    let message = format!(
        "{}; nothing was replaced: the live database and files are untouched and the site keeps serving",
        e.message
    );
    Error::new(message)
        .hint("`opsctl backups --env ENV` lists the snapshots; try another one")
        .exit(Exit::Failed)
}

async fn restore_under_lock(
    hosts: &Hosts,
    target: &Source,
    snap: &str,
    record: &Record,
    statuses: Vec<crate::deploy::remote::Status>,
    args: &RestoreOptions,
    printer: &Printer,
) -> Result<Exit> {
    // 1. The dump into a new database, while the site serves the live one.
    let out = b::script(&hosts.conns, &target.spec, &["restore-db"], None).await?;
    if !out.success() {
        return Err(not_touched(b::failed(
            &target.host,
            "restoring the database dump",
            &out,
        )));
    }
    printer.result(&format!(
        "{}: snapshot {snap} restored into a new database",
        target.host
    ));
    // 2. Each web host: the release to go to (the snapshot's, when it is still there).
    let mut targets = Map::new();
    for (i, st) in statuses.iter().enumerate() {
        let host = &hosts.names[i];
        let releases = d::releases(&st.records, &st.present, st.current.as_deref());
        let live = st.current.clone().unwrap_or_default();
        let live_commit = st.live_commit.clone().unwrap_or_default();
        let wanted = &record.live.release;
        let here = st.present.iter().any(|p| p == wanted);
        let (switch, id, commit, git_ref) = if wanted.is_empty() || *wanted == live {
            (false, live.clone(), live_commit.clone(), String::new())
        } else if here {
            let dep = releases
                .iter()
                .find(|r| &r.id == wanted)
                .and_then(|r| r.deployed.clone());
            printer.result(&format!(
                "{host}: the snapshot was taken with release {wanted}: switching to it from {live}"
            ));
            (
                true,
                wanted.clone(),
                dep.as_ref()
                    .map(|x| x.commit.clone())
                    .unwrap_or_else(|| record.live.commit.clone()),
                dep.map(|x| x.git_ref)
                    .unwrap_or_else(|| record.live.git_ref.clone()),
            )
        } else {
            printer.warn(&format!(
                "{host}: the snapshot was taken with release {wanted} (commit {}), which is no longer on the host (pruned, or another environment's): release {live} stays live; if its code needs the older schema, `opsctl deploy --git-version {}`",
                record.live.commit.chars().take(d::SHORT_SHA).collect::<String>(),
                record.live.commit
            ));
            (false, live.clone(), live_commit.clone(), String::new())
        };
        targets.insert(
            host.clone(),
            json!({"switch": switch, "id": id, "commit": commit, "ref": git_ref, "snapshot": snap}),
        );
    }
    // 3. The maintenance page (a 503 with the page, not a 502), then the
    // programs stop: nothing writes to the database.
    for (host, entered) in hosts.names.iter().zip(maint::enter(hosts, BY, None).await) {
        match entered {
            Ok(maint::Entered::On(_)) => printer.result(&format!(
                "{host}: maintenance page on (503) while the programs are stopped"
            )),
            Ok(maint::Entered::Already(_)) => printer.result(&format!(
                "{host}: the maintenance page was already on: it stays on after the restore"
            )),
            Err(e) => printer.warn(&format!(
                "{host}: no maintenance page during the restore ({}): requests get errors while the programs are stopped",
                e.message
            )),
        }
    }
    let outcome = async {
    stop_programs(hosts, printer).await?;
    // 4. The new database takes the live one's name; the files of shared/.
    let swapped = async {
        let out = b::script(&hosts.conns, &target.spec, &["swap"], None).await?;
        if !out.success() {
            return Err(b::failed(&target.host, "swapping the databases", &out)
                .hint("the live database kept its name; the programs are started again"));
        }
        printer.result(&format!("{}: {}", target.host, out.stdout_str().trim()));
        // Every web host's shared/, from the backup host (over SSH to the others).
        let out = b::script(&hosts.conns, &target.spec, &["restore-files"], None).await?;
        if !out.success() {
            return Err(b::failed(&target.host, "restoring the files", &out));
        }
        for line in out.stdout_str().lines().filter(|l| !l.trim().is_empty()) {
            printer.result(line.trim());
        }
        Ok(())
    }
    .await;
    // 5. Release, anonymisation, programs started, health checks (playbooks/restore.yml).
    let extra = json!({
        "restore_targets": targets,
        "restore_anonymize": args.anonymize.clone().unwrap_or_default(),
        "deploy_user": controller_user(),
        "release_time": d::iso_time(now()),
    });
    if let Err(e) = swapped {
        let _ = start_programs(hosts).await;
        return Err(e);
    }
    let exit = hosts
        .run_playbook("restore", extra, (false, false), printer)
        .await;
    match exit? {
        Exit::Success => {
            printer.result(&format!(
                "restore of snapshot {snap} done: {} serves the data of {} (backed up {} from release {})",
                hosts.names.join(", "),
                record.env,
                record.time,
                record.live.release_or_none()
            ));
            Ok(Exit::Success)
        }
        Exit::Interrupted => Ok(Exit::Interrupted),
        e => {
            let _ = start_programs(hosts).await;
            Err(Error::new("the restored app failed to start or its health checks")
                .hint(format!(
                    "see the failed task above; the database before the restore is kept as {0}_before_restore on {1} (rename it back to {0} to undo)",
                    if record.db_name.is_empty() { "DB" } else { &record.db_name },
                    target.host
                ))
                .exit(e))
        }
    }
    }
    .await;
    // The page goes whatever happened (never one an operator put up).
    let why = match &outcome {
        Ok(Exit::Success) => None,
        _ => Some("the restore did not finish"),
    };
    match why {
        None => {
            let _ = maint::leave(hosts, Some(BY)).await;
        }
        Some(why) => maint::leave_saying(hosts, BY, why, printer).await,
    }
    outcome
}

/// `by` of the maintenance page a restore puts up.
const BY: &str = "restore";

const PROGRAMS: &str = "app-api app-client";

async fn stop_programs(hosts: &Hosts, printer: &Printer) -> Result<()> {
    for i in 0..hosts.names.len() {
        let out = hosts
            .run(
                i,
                format!("{SUDO}; $S supervisorctl stop {PROGRAMS} >/dev/null 2>&1; $S supervisorctl status {PROGRAMS} | grep -E ' (RUNNING|STARTING|STOPPING) ' && exit 1; exit 0"),
            )
            .await?;
        if !out.success() {
            let _ = start_programs(hosts).await;
            return Err(Error::new(format!(
                "host {}: cannot stop the programs ({PROGRAMS}): {}",
                hosts.names[i],
                out.stdout_str().trim()
            ))
            .hint("nothing was replaced: the live database and files are untouched")
            .exit(Exit::Failed));
        }
    }
    printer.result(&format!("programs stopped on {}", hosts.names.join(", ")));
    Ok(())
}

async fn start_programs(hosts: &Hosts) -> Result<()> {
    for i in 0..hosts.names.len() {
        hosts
            .run(i, format!("{SUDO}; $S supervisorctl start {PROGRAMS}"))
            .await?;
    }
    Ok(())
}

/// `$S`: `sudo -n` for a login user that is not root.
const SUDO: &str = "if [ \"$(id -u)\" = 0 ]; then S=; else S='sudo -n'; fi";
