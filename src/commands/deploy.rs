//! `opsctl deploy`: resolve the ref once on this machine, take the deploy lock on
//! every host (inventory order), get the code there (`push`: a `git archive` of the
//! commit; `git`: the hosts fetch it), then run `playbooks/deploy.yml` (build the
//! release, migrate, switch, health-check, roll back on failure, log), and release
//! the lock whatever happened.
//!
//! The hosts, the lock and finishing a dead command's work are in
//! [`crate::deploy::hosts`], shared with `rollback`, `releases`, `initdata` and `status`.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use serde_json::{Value as Json, json};

use crate::commands::restore;
use crate::deploy::backup as b;
use crate::deploy::hooks::{Hooks, notify};
use crate::deploy::hosts::{Hosts, controller_user, finish, holder, now};
use crate::deploy::lock::{Controller, HolderState, holder_state, process_start};
use crate::deploy::maintenance::{self as maint, State};
use crate::deploy::phases::{self, Plan};
use crate::deploy::preview as pv;
use crate::deploy::rollout::{Event, When};
use crate::deploy::ship;
use crate::deploy::{self as d, LockRecord, Outcome};
use crate::error::{Error, Exit, Result};
use crate::git::git;
use crate::printer::Printer;
use crate::session::Loaded;

/// The commit a ref names: in the local repository `app_src`, else (strategy
/// `git`) on `git_repo` with `git ls-remote`.
fn resolve_ref(
    app_src: &Path,
    git_ref: &str,
    strategy: &str,
    git_repo: Option<&str>,
) -> Result<String> {
    let local = app_src.join(".git").exists() || git(app_src, &["rev-parse", "--git-dir"]).is_ok();
    if local {
        return git(app_src, &["rev-parse", "--verify", "--quiet", &format!("{git_ref}^{{commit}}")])
            .ok()
            .filter(|c| d::is_commit(c))
            .ok_or_else(|| {
                Error::new(format!("git ref '{git_ref}' is not a commit of {} (app_src)", app_src.display()))
                    .hint(format!("give a branch, tag or commit that exists there; `git -C {} fetch` if it is only on the remote", app_src.display()))
            });
    }
    match (strategy, git_repo) {
        ("git", Some(repo)) => {
            let out = Process::new("git")
                .args(["ls-remote", "--", repo, git_ref])
                .output()
                .map_err(|e| Error::new(format!("cannot run git: {e}")))?;
            if !out.status.success() {
                return Err(Error::new(format!(
                    "git ls-remote {repo}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
                .hint("check git_repo and your access to it (ssh agent)"));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            // Prefer the peeled tag (`^{}`), then the exact ref.
            let mut best = None;
            for line in text.lines() {
                let mut parts = line.split_whitespace();
                let (Some(sha), Some(name)) = (parts.next(), parts.next()) else { continue };
                if name.ends_with("^{}") {
                    best = Some(sha.to_string());
                    break;
                }
                best.get_or_insert(sha.to_string());
            }
            if let Some(sha) = best.filter(|s| d::is_commit(s)) {
                return Ok(sha);
            }
            if d::is_commit(git_ref) {
                return Ok(git_ref.to_string());
            }
            Err(Error::new(format!("git ref '{git_ref}' is not a branch or tag of {repo}"))
                .hint("a commit must be given in full (40 hex digits) when there is no local clone (app_src)"))
        }
        _ => Err(Error::new(format!(
            "app_src {} is not a git repository",
            app_src.display()
        ))
        .hint("set app_src (the app's repository on this machine, relative to the project root) in the environment's group_vars")),
    }
}

/// `opsctl deploy`.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    pub limit: Option<String>,
    /// The git ref (default: the environment's git_version).
    pub git_version: Option<String>,
    /// Deploy even if this commit is already live on every host.
    pub force: bool,
    /// Remove a deploy lock left by another command before taking it.
    pub force_unlock: bool,
    /// Show the plan and change nothing.
    pub check: bool,
    pub diff: bool,
    pub forks: usize,
    /// `--strict`: refuse a deploy playbook using what opsctl does not implement.
    pub strict: bool,
    /// `--preview [NAME]`: deploy as a preview environment (`Some("")`: named
    /// after the branch).
    pub preview: Option<String>,
    /// `--lifetime`: how long the preview lives (seconds; default 7 days).
    pub lifetime: Option<i64>,
    /// `--data empty|snapshot`: the preview's database.
    pub data: Option<String>,
    /// `--reset-data`: replace an existing preview's database (as `--data` says).
    pub reset_data: bool,
    /// `--anonymize CMD`: run on a snapshot's data before the preview serves it
    /// (default: the environment's `anonymize_command`).
    pub anonymize: Option<String>,
}

/// What `deploy --preview` adds to a deploy: the preview's name, where it answers
/// and until when, and the ref it deploys by default (the current branch).
struct Preview {
    name: String,
    url: String,
    removeat: u64,
    git_ref: String,
    root: String,
    /// Its PostgreSQL database, when the environment has one.
    database: Option<PreviewDb>,
    /// `--data snapshot`: the environment's backup host, to restore from.
    snapshot: Option<restore::Source>,
    /// The command run on a snapshot's data before the preview serves it.
    anonymize: String,
}

/// A preview's PostgreSQL database: its name, and whether it is on a separate
/// db host (then owned by a role of the same name).
struct PreviewDb {
    name: String,
    separate: bool,
}

/// The app's repository on this machine: app_src, relative to the project root.
fn app_src(hosts: &Hosts, root: &Path) -> Result<PathBuf> {
    let s = hosts.same_var("app_src")?.unwrap_or_default();
    let p = PathBuf::from(if s.is_empty() { "." } else { &s });
    Ok(if p.is_absolute() { p } else { root.join(p) })
}

/// `deploy --preview`: the preview's name, paths, ports' bounds, database and
/// site, as variables of the highest precedence over the environment's (the
/// deploy is the same playbook, roles/app, with these; see docs/previews.md).
fn preview_setup(loaded: Loaded, args: &DeployOptions, given: &str) -> Result<(Loaded, Preview)> {
    let probe = Hosts::load(loaded.clone(), args.limit.as_deref(), "deploy")?;
    let app_src = app_src(&probe, &probe.root)?;
    let git_ref = match &args.git_version {
        Some(r) => r.clone(),
        None => git(&app_src, &["symbolic-ref", "--quiet", "--short", "HEAD"]).map_err(|_| {
            Error::new(format!("{} is not on a branch: which ref does the preview deploy?", app_src.display()))
                .hint("give --git-version REF (and a NAME: opsctl deploy --env ENV --preview NAME --git-version REF)")
        })?,
    };
    let raw = if given.is_empty() {
        git_ref.as_str()
    } else {
        given
    };
    let name = pv::dns_safe(raw).ok_or_else(|| {
        Error::new(format!(
            "'{raw}' leaves nothing to name a preview with (a DNS label: a-z, 0-9 and '-')"
        ))
        .hint("give a name: opsctl deploy --env ENV --preview NAME")
    })?;
    let domain = probe.same_var("preview_domain")?.unwrap_or_default();
    let domain = domain.trim().trim_matches('.');
    if domain.is_empty() {
        return Err(Error::new("preview_domain is not set: previews answer at NAME.<preview_domain>")
            .hint("set preview_domain (e.g. preview.example.org, with a DNS record *.preview.example.org to the web hosts) in the environment's group_vars"));
    }
    let preview_root = probe.preview_root(0)?;
    for i in 1..probe.names.len() {
        if probe.preview_root(i)? != preview_root {
            return Err(Error::new("the hosts have different app_root or preview_root values: where do their previews go?")
                .hint("set preview_root (an absolute directory) in the environment's group_vars"));
        }
    }
    let port = |var: &str| -> Result<u64> {
        let v = probe.same_var(var)?.unwrap_or_default();
        v.trim()
            .parse()
            .map_err(|_| Error::new(format!("{var} = '{v}' is not a port number")))
    };
    let main_ports = [port("client_port")?, port("api_port")?];
    let tls = probe.same_var("tls_enabled")?.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "yes" | "1" | "on"
        )
    });
    let server = format!("{name}.{domain}");
    let url = format!("{}://{server}", if tls { "https" } else { "http" });
    // Its own PostgreSQL database where the environment has one. When the web
    // hosts are db hosts: on the web host's PostgreSQL, reached over the Unix
    // socket with peer authentication (the app's user is the database role).
    // Else on the db host (the first of group db, as `db_host`), with a role of
    // its own reached over TCP by password (roles/app/tasks/preview-db.yml). The
    // main app's role, database and pg_hba.conf lines are never touched.
    let db_hosts: Vec<String> = loaded.inventory.select("db").unwrap_or_default();
    let has_database = !db_hosts.is_empty();
    let (mut database, mut snapshot) = (None, None);
    let mut extra = json!({
        "preview_name": name,
        "preview_root": preview_root,
        "preview_url": url,
        "preview_main_ports": main_ports,
        "preview_main_root": probe.roots[0],
        "preview_cert_dir": format!("/etc/ssl/opsctl/preview-{name}"),
        "preview_database": has_database,
        "app_root": format!("{preview_root}/{name}"),
        "app_program_prefix": format!("preview-{name}"),
        "server_name": server,
        "domain_names": [server],
        // Self-signed: the health checks cannot verify it.
        "health_check_validate_certs": false,
        // The maintenance page is the host's (/var/lib/opsctl/maintenance) and
        // only the main app's site serves it: a preview's migrations must not
        // put the main app in maintenance.
        "deploy_maintenance": "never",
    });
    // A compose app's preview: a compose project of its own (so its containers,
    // networks and images are never the main stack's nor another preview's), its
    // own upstream file (the preview's site includes it; its switches rewrite
    // it) and its own data directory for bind mounts, under the preview's root.
    // Its two stack ports are the pair the preview's allocator gives
    // (roles/app/tasks/preview.yml). See docs/compose.md.
    if probe.same_var("app_kind")?.as_deref() == Some("compose") {
        let main = probe
            .same_var("compose_project")?
            .unwrap_or_else(|| "app".into());
        extra["compose_project"] = json!(pv::compose_project(&main, &name));
        extra["compose_upstream_file"] =
            json!(format!("/etc/nginx/opsctl-upstream-preview-{name}.conf"));
        extra["compose_data_dir"] = json!(format!("{preview_root}/{name}/shared/data"));
    }
    if !has_database && args.data.as_deref() == Some("snapshot") {
        return Err(Error::new(
            "--data snapshot: this environment has no database (no host in group db): a preview's SQLite file starts empty",
        ));
    }
    if has_database {
        let db_user = probe.same_var("db_user")?;
        let db = pv::database_name(
            &probe.same_var("db_name")?.unwrap_or_else(|| "app".into()),
            &name,
        );
        let separate = probe.names.iter().any(|h| !db_hosts.contains(h));
        // Where the preview's database is: the web hosts' own PostgreSQL, or the db host.
        let db_host = if separate {
            db_hosts[0].clone()
        } else {
            let app_user = probe.same_var("app_user")?;
            if app_user != db_user {
                return Err(Error::new(format!(
                    "app_user ({}) and db_user ({}) differ: a preview's app reaches its database as its Unix user (peer authentication)",
                    app_user.unwrap_or_default(),
                    db_user.unwrap_or_default()
                )));
            }
            String::new()
        };
        if args.data.as_deref() == Some("snapshot") {
            let src = restore::source(&loaded)?;
            let here = if separate {
                src.host == db_host
            } else {
                probe.names.contains(&src.host)
            };
            if !here {
                let (whose, which) = if separate {
                    (
                        format!("the db host {db_host}"),
                        format!("backup from {db_host} (backup_host)"),
                    )
                } else {
                    (
                        "a web host".to_string(),
                        "back up from the web host (backup_host)".to_string(),
                    )
                };
                return Err(Error::new(format!(
                    "the backup host {} is not {whose}: --data snapshot restores into the PostgreSQL of the backup host, where the preview's database must be",
                    src.host
                ))
                .hint(format!("use --data empty, or {which}")));
            }
            if probe
                .host_var(&src.host, "backup_repository")?
                .is_none_or(|r| r.trim().is_empty())
            {
                return Err(Error::new(format!(
                    "{} has no backups: backup_repository is not set, so there is no snapshot to start the preview from",
                    src.env
                ))
                .hint("set backup_repository and backup_password (docs/backups.md), `opsctl provision`, `opsctl backup`; or use --data empty"));
            }
            snapshot = Some(src);
        }
        extra["db_name"] = json!(db);
        if separate {
            // Its own role (named as its database) and a password derived from the
            // environment's db_password: templated on the host's variables, so it
            // is a secret's value (masked in every output) and no file holds it
            // but the preview's .env.
            extra["preview_db_host"] = json!(db_host);
            extra["preview_db_password"] =
                json!("{{ ('opsctl-preview:' ~ db_name ~ ':' ~ db_password) | hash('sha256') }}");
            extra["database_url"] = json!(
                "postgresql+asyncpg://{{ db_name }}:{{ preview_db_password }}@{{ db_host }}:{{ db_port }}/{{ db_name }}"
            );
        } else {
            extra["database_url"] = json!(format!(
                "postgresql+asyncpg://{}@/{db}?host=/var/run/postgresql",
                db_user.unwrap_or_else(|| "app".into())
            ));
        }
        database = Some(PreviewDb { name: db, separate });
    }
    let removeat = now() + args.lifetime.unwrap_or(7 * 86_400).max(0) as u64;
    extra["preview_removeat"] = json!(removeat);
    let anonymize = match &args.anonymize {
        Some(c) => c.clone(),
        None => probe.same_var("anonymize_command")?.unwrap_or_default(),
    };
    let loaded = loaded.with_extra(extra, "opsctl deploy --preview");
    Ok((
        loaded,
        Preview {
            name,
            url,
            removeat,
            git_ref,
            root: preview_root,
            database,
            snapshot,
            anonymize: anonymize.trim().to_string(),
        },
    ))
}

/// `deploy --preview` under the deploy lock, before the playbook: whether the
/// preview exists, and its data as `--data` and `--reset-data` say: an existing
/// preview keeps its database unless `--reset-data`; `--data snapshot` restores
/// the environment's newest snapshot into the preview's database (restore's
/// machinery: `opsctl-backup fetch`, `restore-db DB`). Returns the variables
/// the playbook gets for it (`preview_reset_data`, `preview_anonymize`).
async fn preview_data(
    hosts: &Hosts,
    p: &Preview,
    args: &DeployOptions,
    printer: &Printer,
) -> Result<Json> {
    let mut vars = json!({"preview_reset_data": false, "preview_anonymize": ""});
    let Some(PreviewDb { name: db, separate }) = &p.database else {
        return Ok(vars);
    };
    let mut exists = false;
    for i in 0..hosts.names.len() {
        let rec = format!("{}/{}/preview.env", p.root, p.name);
        let out = hosts
            .run(
                i,
                format!(
                    "test -f {} && echo yes || true",
                    crate::transport::shell_quote(&rec)
                ),
            )
            .await?;
        exists |= out.stdout_str().trim() == "yes";
    }
    if exists && args.data.is_some() && !args.reset_data {
        return Err(Error::new(format!(
            "preview {} exists and keeps its database {db}: --data {} would replace it",
            p.name,
            args.data.as_deref().unwrap_or_default()
        ))
        .hint(format!(
            "add --reset-data to replace its data, or deploy without --data to keep it (opsctl deploy --preview {})",
            p.name
        )));
    }
    if exists && !args.reset_data {
        return Ok(vars);
    }
    let Some(src) = &p.snapshot else {
        // --data empty (or nothing) on a new preview; --reset-data: the playbook
        // drops it first.
        vars["preview_reset_data"] = json!(exists);
        return Ok(vars);
    };
    let snap = restore::snapshot(&hosts.conns, src, None).await?;
    printer.result(&format!(
        "preview {}: database {db} from snapshot {} of {} (taken {}, release {}) on {}",
        p.name,
        snap.id,
        src.env,
        snap.time,
        snap.release_or_none(),
        src.host
    ));
    let restored = async {
        restore::fetch(hosts, src, src, &snap.id, printer).await?;
        // On a separate db host, owned by the preview's own role.
        let mut args = vec!["restore-db", db.as_str()];
        if *separate {
            args.push(db);
        }
        let out = b::script(&hosts.conns, &src.spec, &args, None).await?;
        if !out.success() {
            return Err(b::failed(
                &src.host,
                &format!("restoring snapshot {} into {db}", snap.id),
                &out,
            ));
        }
        Ok(())
    }
    .await;
    let _ = b::script(&hosts.conns, &src.spec, &["clean"], None).await;
    restored?;
    if p.anonymize.is_empty() {
        printer.warn(&format!(
            "preview {}: no anonymize_command: it serves the snapshot's data as it is (set anonymize_command in the environment's group_vars, or give --anonymize CMD)",
            p.name
        ));
    } else {
        vars["preview_anonymize"] = json!(p.anonymize);
    }
    Ok(vars)
}

pub async fn run(loaded: Loaded, args: DeployOptions, printer: &Printer) -> Result<Exit> {
    let (loaded, preview) = match &args.preview {
        Some(given) => {
            let (l, p) = preview_setup(loaded, &args, given)?;
            (l, Some(p))
        }
        None => (loaded, None),
    };
    let mut hosts = Hosts::load(loaded, args.limit.as_deref(), "deploy")?;
    hosts.forks = args.forks;
    if args.strict {
        hosts.refuse_unimplemented("deploy")?;
    }
    let root = hosts.root.clone();
    let strategy = hosts
        .same_var("deploy_strategy")?
        .unwrap_or_else(|| "push".into());
    if strategy != "push" && strategy != "git" {
        return Err(
            Error::new(format!("deploy_strategy = {strategy} is not push or git")).hint(
                "push: this machine sends a `git archive` of the commit; git: hosts fetch git_repo",
            ),
        );
    }
    let git_ref = match (&args.git_version, &preview) {
        (Some(r), _) => r.clone(),
        (None, Some(p)) => p.git_ref.clone(),
        (None, None) => hosts.same_var("git_version")?.ok_or_else(|| {
            Error::new("no ref to deploy: give --git-version REF or set git_version in the environment's group_vars")
        })?,
    };
    let app_src = app_src(&hosts, &root)?;
    let git_repo = hosts.same_var("git_repo")?;
    let subdir = hosts.same_var("app_subdir")?.unwrap_or_default();
    let subdir = subdir.trim_matches('/').to_string();
    if strategy == "git" && git_repo.as_deref().is_none_or(str::is_empty) {
        return Err(Error::new("deploy_strategy is git but git_repo is not set")
            .hint("set git_repo (the URL the hosts clone) in the environment's group_vars, or use deploy_strategy: push"));
    }
    let mut pages = false;
    for i in 0..hosts.names.len() {
        match hosts.var(i, "deploy_maintenance")?.as_deref() {
            None | Some("never") => {}
            Some("auto" | "always") => pages = true,
            Some(other) => {
                return Err(Error::new(format!(
                    "host {}: deploy_maintenance = {other} is not auto, always or never",
                    hosts.names[i]
                ))
                .hint("auto: the maintenance page while a release with migrations to run migrates and switches; always; never"));
            }
        }
    }
    let plan = Plan::read(&hosts)?;
    let commit = resolve_ref(&app_src, &git_ref, &strategy, git_repo.as_deref())?;
    let t = now();
    let id = d::release_id(t, &commit);
    crate::journal::deployed(&git_ref, &commit, &id);
    let user = controller_user();
    let env = hosts.loaded.target.env.clone().unwrap_or_default();
    printer.result(&format!(
        "deploy {git_ref} = {commit} as release {id} to {} ({strategy})",
        hosts.names.join(", ")
    ));

    let mut holder = holder("deploy", &git_ref);
    holder.release = id.clone();
    if args.check {
        // --check: the plan, read from the hosts; nothing is locked, built or switched
        // (a release's steps depend on each other: they cannot be dry-run one by one).
        let mut result = Ok(Exit::Success);
        printer.result(&format!("check: would {}", plan.describe(&hosts)));
        let here = Controller::here();
        for i in 0..hosts.names.len() {
            match hosts.status(i).await {
                Ok(st) => {
                    let live = st.current.clone().unwrap_or_else(|| "none".into());
                    let live_commit = d::releases(&st.records, &st.present, st.current.as_deref())
                        .into_iter()
                        .find(|r| r.live)
                        .and_then(|r| r.deployed)
                        .map(|r| r.commit);
                    let what = if live_commit.as_deref() == Some(commit.as_str()) && !args.force {
                        format!("{commit} is already live ({live}): nothing to do")
                    } else {
                        format!("would build {id} and switch from {live}")
                    };
                    let lock = st
                        .lock
                        .as_ref()
                        .map(|l| format!("; {}", lock_plan(l, &st, &hosts.names[i], &here)))
                        .unwrap_or_default();
                    printer.result(&format!("{} | check: {what}{lock}", hosts.names[i]));
                }
                Err(e) => result = Err(e),
            }
        }
        hosts.conns.close_all().await;
        return result;
    }
    let answers = {
        // Ctrl-C while locking: give back what was taken.
        tokio::select! {
            r = hosts.lock(&holder, args.force_unlock, printer) => match r {
                Ok(a) => a,
                Err(e) => {
                    hosts.conns.close_all().await;
                    return Err(e);
                }
            },
            _ = crate::interrupt::signalled() => {
                printer.warn("interrupted: releasing the deploy lock");
                hosts.unlock(&holder, hosts.names.len()).await;
                hosts.conns.close_all().await;
                return Ok(Exit::Interrupted);
            }
        }
    };
    let mut archive: Option<PathBuf> = None;
    let result = async {
        let previous: Vec<Option<LockRecord>> = answers.into_iter().map(|(_, p)| p).collect();
        let statuses = finish(&hosts, &previous, printer).await?;
        // A preview's data (a snapshot restored) is new data: the playbook runs
        // (the anonymisation) even when the commit is already live.
        let data_vars = match &preview {
            Some(p) => Some(preview_data(&hosts, p, &args, printer).await?),
            None => None,
        };
        let new_data = data_vars.as_ref().is_some_and(|v| {
            v["preview_reset_data"] == json!(true) || v["preview_anonymize"] != json!("") || args.reset_data
        });
        if pages {
            // Under the lock no other deploy runs: a page a deploy turned on is
            // one a deploy that died left behind.
            maint::leave_saying(&hosts, "deploy", "a deploy that no longer runs left it on", printer).await;
        }
        // Already live everywhere, and logged ok: nothing to do unless --force.
        let live_everywhere = !statuses.is_empty()
            && statuses.iter().all(|st| {
                st.live_commit.as_deref() == Some(commit.as_str())
                    && d::releases(&st.records, &st.present, st.current.as_deref())
                        .iter()
                        .any(|r| r.live && r.outcome() == Some(Outcome::Ok))
            });
        if live_everywhere && !args.force && !new_data {
            let rel = statuses[0].current.clone().unwrap_or_default();
            printer.result(&format!(
                "{commit} is already live on every host (release {rel}); nothing to do (--force deploys it again)"
            ));
            return Ok(Exit::Success);
        }
        if strategy == "push" {
            let path = std::env::temp_dir().join(format!("opsctl-release-{id}-{}.tar.gz", std::process::id()));
            let tree = if subdir.is_empty() { commit.clone() } else { format!("{commit}:{subdir}") };
            archive = Some(path.clone());
            git(&app_src, &["archive", "--format=tar.gz", "-o", &path.to_string_lossy(), &tree]).map_err(|e| {
                Error::new(format!("git archive {tree} in {}: {e}", app_src.display()))
                    .hint("app_subdir must be a directory of the repository at that commit")
            })?;
        }
        let mut base = json!({
            "release_id": id,
            "release_commit": commit,
            "release_ref": git_ref,
            "release_archive": archive.as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
            "release_time": d::iso_time(t),
            "deploy_user": user,
            "deploy_force": args.force,
            "deploy_env": env,
        });
        // What each host served before: where a host that switched goes back.
        let previous: Vec<Json> = statuses
            .iter()
            .enumerate()
            .map(|(i, st)| {
                json!({
                    "dir": st.current.as_ref().map(|c| format!("{}/releases/{c}", hosts.roots[i])).unwrap_or_default(),
                    "commit": st.live_commit.clone().unwrap_or_default(),
                })
            })
            .collect();
        let mut event = Event {
            action: "deploy".into(),
            env: env.clone(),
            release: id.clone(),
            commit: commit.clone(),
            git_ref: git_ref.clone(),
            user: user.clone(),
            ..Event::default()
        };
        let hooks = Hooks {
            hosts: &hosts,
            hooks: &plan.hooks,
            root: &root,
            printer,
        };
        if let Err(e) = hooks.run(When::Before, &event).await {
            event.result = "failed".into();
            event.detail = format!("{}: nothing was switched", e.message);
            hooks.run_after(When::Failed, &event).await;
            notify(plan.webhook.as_deref(), &event, printer).await;
            return Err(e.hint("a before hook stops the deploy before anything is built or switched"));
        }
        // compose_images: ship: the images built here, once, before any host
        // changes (docs/compose.md); Ctrl-C stops the build.
        let tree = if subdir.is_empty() { commit.clone() } else { format!("{commit}:{subdir}") };
        let rel = ship::Release { id: &id, commit: &commit, git_ref: &git_ref, src: &app_src, tree: &tree };
        let shipped = tokio::select! {
            r = ship::build_if_shipped(&hosts, &rel, printer) => r,
            _ = crate::interrupt::signalled() => return Ok(Exit::Interrupted),
        };
        match shipped {
            Ok(Some(images)) => {
                if let Some(b) = base.as_object_mut() {
                    b.insert("compose_ship_images".into(), images);
                }
            }
            Ok(None) => {}
            Err(e) => {
                event.result = "failed".into();
                event.detail = format!("{}: nothing was switched", e.message);
                hooks.run_after(When::Failed, &event).await;
                notify(plan.webhook.as_deref(), &event, printer).await;
                return Err(e);
            }
        }
        let modes: Vec<String> = (0..hosts.names.len())
            .map(|i| hosts.var(i, "deploy_maintenance").map(|m| m.unwrap_or_else(|| "auto".into())))
            .collect::<Result<_>>()?;
        if let (Some(e), Some(Json::Object(vars))) = (base.as_object_mut(), data_vars) {
            e.extend(vars);
        }
        // The engine handles Ctrl-C from here: it stops and returns Interrupted.
        let done = phases::run(&hosts, &plan, &base, &previous, &modes, printer).await;
        // Whatever happened (a failure, Ctrl-C), the page this deploy turned
        // on goes; one turned on by hand stays.
        let pages_on = if pages {
            for (host, left) in hosts.names.iter().zip(maint::leave(&hosts, Some("deploy")).await) {
                if let Ok(maint::Left::Off(_)) = left {
                    printer.result(&format!("{host} | maintenance page off"));
                }
            }
            maint::states(&hosts).await
        } else {
            Vec::new()
        };
        let done = done?;
        let names = |v: &[usize]| v.iter().map(|i| hosts.names[*i].clone()).collect::<Vec<_>>();
        let page_on = |i: usize| pages_on.get(i).and_then(|s| s.as_ref().ok()).and_then(Option::as_ref);
        for (i, host) in hosts.names.iter().enumerate() {
            if let Some(st) = page_on(i) {
                printer.warn(&format!("{host}: the maintenance page stays on ({}): `opsctl maintenance off --env {env}` when ready", st.describe()));
            }
        }
        if done.exit == Exit::Interrupted {
            return Ok(Exit::Interrupted);
        }
        event.hosts = names(&done.live);
        event.switched_back = names(&done.switched_back);
        event.failed = done.failed.iter().map(|(i, _)| hosts.names[*i].clone()).collect();
        if done.exit == Exit::Success {
            printer.result(&format!("release {id} ({commit}) is live on {}", hosts.names.join(", ")));
            if let Some(p) = &preview {
                printer.result(&format!(
                    "preview {} answers at {}; removed at {} (in {}) unless extended: opsctl previews extend {} 3d",
                    p.name,
                    p.url,
                    d::iso_time(p.removeat),
                    pv::human_left(p.removeat as i64 - now() as i64),
                    p.name
                ));
            }
            event.result = "ok".into();
            hooks.run_after(When::After, &event).await;
            notify(plan.webhook.as_deref(), &event, printer).await;
            return Ok(Exit::Success);
        }
        // Name the failed step per host, from the release log; then what the
        // rollout did about the others.
        let mut failed = Vec::new();
        let mut live_now = Vec::new();
        for i in 0..hosts.names.len() {
            let st = hosts.status(i).await.ok();
            let live = st.as_ref().and_then(|s| s.current.clone()).unwrap_or_else(|| "none".into());
            live_now.push(live.clone());
            if let Some((_, step)) = done.failed.iter().find(|(f, _)| *f == i) {
                failed.push(format!(
                    "{} (step {step}; live: {live}{})",
                    hosts.names[i],
                    match page_on(i) {
                        Some(p) => page_stays(p),
                        None if pages => "; maintenance page off".into(),
                        None => String::new(),
                    }
                ));
            }
        }
        // The rollout's recap, one line per host.
        for (i, host) in hosts.names.iter().enumerate() {
            let said = if let Some((_, step)) = done.failed.iter().find(|(f, _)| *f == i) {
                format!("failed at step {step}; live: {}", live_now[i])
            } else if done.switched_back.contains(&i) {
                format!("switched back to {}", live_now[i])
            } else if done.live.contains(&i) {
                format!("live: {}", live_now[i])
            } else {
                format!("not switched; live: {}", live_now[i])
            };
            printer.result(&format!("{host} | {said}"));
        }
        let mut msg = if failed.is_empty() {
            format!("deploy of release {id} failed")
        } else {
            format!("deploy of release {id} failed on {}", failed.join(", "))
        };
        if !done.switched_back.is_empty() {
            msg.push_str(&format!("; switched back: {}", names(&done.switched_back).join(", ")));
        }
        if !done.untouched.is_empty() {
            msg.push_str(&format!("; not switched: {}", names(&done.untouched).join(", ")));
        }
        let hint = if done.live.is_empty() {
            "the hosts serve the release that was live before and release {id} is marked bad; `opsctl releases --env ENV` shows the log".replace("{id}", &id)
        } else {
            msg.push_str(&format!("; live on {} (within deploy_max_fail_percentage)", names(&done.live).join(", ")));
            "the failed hosts serve the release that was live before; `opsctl releases --env ENV` shows the log".into()
        };
        event.result = if done.switched_back.is_empty() { "failed".into() } else { "rolled back".into() };
        event.detail = msg.clone();
        hooks.run_after(When::Failed, &event).await;
        notify(plan.webhook.as_deref(), &event, printer).await;
        Err(Error::new(msg).hint(hint).exit(Exit::Failed))
    }
    .await;
    if !args.check {
        hosts.unlock(&holder, hosts.names.len()).await;
    }
    if let Some(p) = archive {
        let _ = std::fs::remove_file(p);
    }
    hosts.conns.close_all().await;
    result
}

/// `; maintenance page stays on (...)`, for a failed deploy's message.
fn page_stays(st: &State) -> String {
    format!("; maintenance page stays on, {}", st.describe())
}

/// What `deploy --check` says of a lock found on a host: who holds it, and what
/// the real run would do about it (take a stale one over and first finish the
/// dead command's work, or refuse a live one).
fn lock_plan(
    lock: &LockRecord,
    st: &crate::deploy::remote::Status,
    host: &str,
    here: &Controller,
) -> String {
    match holder_state(lock, here, process_start) {
        HolderState::Dead(why) => {
            let releases = d::releases(&st.records, &st.present, st.current.as_deref());
            format!(
                "stale deploy lock: {}; {why}: the real run takes it over and {}",
                lock.doing(),
                d::takeover_plan(d::unfinished(&releases, true).as_ref())
            )
        }
        HolderState::Alive | HolderState::Unknown(_) => format!(
            "{}: the real run would refuse (wait, or --force-unlock if that command is gone)",
            lock.describe(host)
        ),
    }
}
