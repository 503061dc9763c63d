//! `opsctl status --env E`: what an operator would check by hand over SSH when
//! nginx answers 502, for every host in one round trip each: the live release
//! (commit, when, by whom), supervisor's programs (a compose app's containers: state, health, restarts), `nginx -t` and whether nginx
//! runs, the certificates and their days left, the health-check URLs through
//! nginx, disk space on `/`, and the database: from each web host, whether
//! PostgreSQL answers at `database_url`'s address (or the SQLite file), and on
//! the hosts of group `db`, the app's database's size and connections, and the
//! host monitor's last verdict (roles/monitor's `last.json`). A host
//! only in group `db` gets the database and disk checks. Exit 0 when all is
//! well, 2 when something needs attention (each named on a line), 4 when a host
//! cannot be reached.

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Value as Json, json};

use super::Loaded;
use crate::deploy::LockRecord;
use crate::deploy::hosts::{Hosts, finish, holder};
use crate::deploy::lock::{Controller, HolderState, holder_state, process_start};
use crate::deploy::maintenance;
use crate::error::{Error, Exit, Result};
use crate::journal::time;
use crate::printer::{Printer, Style};
use crate::runner::{Connections, connection_spec, fan_out};
use crate::transport::{ConnectionSpec, RemoteCommand, shell_quote};
use crate::vars::{Layer, Vars, VarsError};

/// Disk use (percent of `/`) from which it needs attention.
const DISK_FULL_PCT: u64 = 90;

/// What is asked of one host.
#[derive(Debug, Clone)]
struct Probe {
    spec: ConnectionSpec,
    app_root: String,
    /// (path, curl arguments up to the URL prefix)
    health: Vec<String>,
    curl_target: String,
    timeout: u64,
    /// A web host (the app's checks): in group `web`, or every host when the
    /// inventory has no such group.
    web: bool,
    /// What the web host's app uses: a PostgreSQL server to reach, or a SQLite file.
    database: Option<Database>,
    /// A host of group `db`: the app's database (`db_name`) to look at.
    db_name: Option<String>,
}

/// The database `database_url` names (what status can check without its password).
#[derive(Debug, Clone, PartialEq)]
enum Database {
    Postgres { host: String, port: u16 },
    Sqlite { path: String },
}

impl Database {
    /// `postgresql[+driver]://user:password@host:port/db` or `sqlite[+driver]:///path`;
    /// anything else is not checked.
    fn from_url(url: &str) -> Option<Database> {
        let (scheme, rest) = url.split_once("://")?;
        let engine = scheme.split('+').next().unwrap_or(scheme);
        match engine {
            "postgresql" | "postgres" => {
                let authority = rest.split(['/', '?']).next().unwrap_or("");
                let hostport = authority.rsplit('@').next().unwrap_or(authority);
                let (host, port) = match hostport.rsplit_once(':') {
                    Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                        (h, p.parse().ok()?)
                    }
                    _ => (hostport, 5432),
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let host = if host.is_empty() { "localhost" } else { host };
                Some(Database::Postgres {
                    host: host.to_string(),
                    port,
                })
            }
            "sqlite" => Some(Database::Sqlite {
                path: format!("/{}", rest.trim_start_matches('/')),
            }),
            _ => None,
        }
    }
}

/// What a host answered, parsed.
#[derive(Debug, Clone, Default)]
struct HostStatus {
    /// Live release directory name (`current`'s target), if any.
    release: Option<String>,
    /// The release log's last record of the live release.
    record: Option<Json>,
    /// (program, state, detail) from `supervisorctl status`.
    programs: Vec<(String, String, String)>,
    /// Why supervisor could not be asked (not installed, not running).
    supervisor_error: Option<String>,
    /// A compose app's live stack (the project of `current/.env`): (container,
    /// state, health or "", restarts, image).
    containers: Vec<(String, String, String, u64, String)>,
    nginx_installed: bool,
    nginx_test_ok: bool,
    nginx_test_output: String,
    nginx_running: bool,
    /// (name, path, days left; None when the date could not be read)
    certs: Vec<(String, String, Option<i64>)>,
    /// (path, HTTP status, curl error)
    health: Vec<(String, u16, String)>,
    /// (size KiB, available KiB, used percent)
    disk: Option<(u64, u64, u64)>,
    host_now: u64,
    not_root: bool,
    /// `.deploy.lock` exists: its holder, if readable.
    lock: Option<Option<LockRecord>>,
    /// The maintenance page is on: its state, if readable.
    maintenance: Option<Option<maintenance::State>>,
    /// The probe's: a web host, and what its app's database is.
    web: bool,
    database: Option<Database>,
    /// PostgreSQL answered a connection from this (web) host.
    db_reachable: Option<bool>,
    /// The SQLite file's size in bytes (None: no such file).
    sqlite_size: Option<Option<u64>>,
    /// On a db host: (database, size in bytes, connections, max_connections) or
    /// why psql could not say.
    db_stats: Option<std::result::Result<(String, u64, u64, u64), String>>,
    /// On the backup host: `opsctl-backup status`'s lines (last run, last good).
    backup: Vec<String>,
    /// `/var/run/reboot-required` exists: since when (epoch seconds), and the
    /// packages of `reboot-required.pkgs`.
    reboot: Option<(u64, Vec<String>)>,
    /// The host monitor's last verdict (roles/monitor's `last.json`).
    monitor: Option<Json>,
}

#[derive(Debug, Clone)]
enum Answer {
    Status(Box<HostStatus>),
    Unreachable(String),
    Failed(String),
}

/// `opsctl status`: which hosts, how many at once, and how near a certificate's
/// expiry needs attention.
#[derive(Debug, Clone, Default)]
pub struct StatusOptions {
    pub limit: Option<String>,
    pub forks: usize,
    /// Warn when a certificate expires within this many days.
    pub cert_days: u64,
}

pub async fn run(loaded: &Loaded, args: StatusOptions, printer: &Printer) -> Result<Exit> {
    let hosts = loaded.select(args.limit.as_deref())?;
    // The stack roles' defaults are a layer of the variables read here.
    let vars = loaded.with_role_defaults()?.vars;
    let mut probes = Vec::with_capacity(hosts.len());
    for h in &hosts {
        probes.push(probe(loaded, &vars, h)?);
    }
    let conns = Connections::new();
    let c = conns.clone();
    let work = move |p: Probe| {
        let c = c.clone();
        async move { ask(&c, &p).await }
    };
    let journal = crate::journal::active();
    let cert_days = args.cert_days as i64;
    let here = Controller::here();
    let mut attention: Vec<(String, String)> = Vec::new();
    let mut unreachable = 0usize;
    // Hosts whose deploy lock's holder is provably dead: their work is finished.
    let mut stale: Vec<String> = Vec::new();
    let report = |i: usize, a: Answer| {
        let host = &hosts[i];
        if let Answer::Status(st) = &a
            && let Some(Some(l)) = &st.lock
            && matches!(holder_state(l, &here, process_start), HolderState::Dead(_))
        {
            stale.push(host.clone());
        }
        let items = verdicts(&a, cert_days, &here);
        if let Some(j) = &journal {
            for (check, ok, msg) in &items {
                j.event(json!({"type": "task", "host": host, "task": format!("status: {check}"),
                    "status": match (ok, &a) { (_, Answer::Unreachable(_)) => "unreachable", (true, _) => "ok", (false, _) => "failed" },
                    "changed": false, "duration_ms": 0, "msg": msg}));
            }
        }
        for (_, ok, msg) in &items {
            if !ok {
                attention.push((host.clone(), msg.clone()));
            }
        }
        if matches!(a, Answer::Unreachable(_)) {
            unreachable += 1;
        }
        print_host(printer, host, &a, &items, cert_days);
    };
    let Some(_answers) =
        super::unless_interrupted(fan_out(probes, args.forks, work, report), &conns, printer).await
    else {
        return Ok(Exit::Interrupted);
    };
    conns.close_all().await;
    if !stale.is_empty() {
        finish_stale(loaded, &stale, printer).await;
    }
    let problems: Vec<&(String, String)> = attention.iter().collect();
    if !printer.is_json() {
        printer.result("");
        if problems.is_empty() {
            printer.result(&printer.paint(
                &format!(
                    "all is well on {} host{}",
                    hosts.len(),
                    if hosts.len() == 1 { "" } else { "s" }
                ),
                Style::Ok,
            ));
        } else {
            printer.result(&printer.paint(
                &format!(
                    "{} thing{} need{} attention:",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" },
                    if problems.len() == 1 { "s" } else { "" }
                ),
                Style::Failed,
            ));
            for (h, what) in &problems {
                printer.result(&format!("  {h}: {what}"));
            }
        }
    }
    Ok(if !problems.is_empty() && problems.len() > unreachable {
        Exit::Failed
    } else if unreachable > 0 {
        Exit::Unreachable
    } else {
        Exit::Success
    })
}

/// Finishes the work of the dead commands whose locks `stale` hosts hold, as the
/// next deploy would (`deploy::finish`: health-check the live release, log it or
/// switch back), under the lock taken over. What it does is printed; a failure
/// is a warning (the status above stays true of what was found).
async fn finish_stale(loaded: &Loaded, stale: &[String], printer: &Printer) {
    let limit = stale.join(":");
    let hosts = match Hosts::load(loaded.clone(), Some(&limit), "deploy") {
        Ok(h) => h,
        Err(e) => {
            printer.warn(&format!(
                "cannot finish the dead command's work: {}",
                e.message
            ));
            return;
        }
    };
    let holder = holder("status", "-");
    let result = match hosts.lock(&holder, false, printer).await {
        Ok(taken) => {
            let previous: Vec<_> = taken.into_iter().map(|(_, p)| p).collect();
            let r = finish(&hosts, &previous, printer).await;
            hosts.unlock(&holder, hosts.names.len()).await;
            r.map(|_| ())
        }
        Err(e) => Err(e),
    };
    hosts.conns.close_all().await;
    if let Err(e) = result {
        printer.warn(&format!(
            "cannot finish the dead command's work: {}",
            e.message
        ));
    }
}

/// A variable of `host` (the stack roles' defaults included); `None`: unset,
/// null, or a role default that cannot be resolved before a playbook runs.
fn var(vars: &Arc<Vars>, host: &str, name: &str) -> Result<Option<Json>> {
    match vars.resolve(host, name) {
        Ok(v) if !v.is_null() => Ok(Some(v)),
        Ok(_) | Err(VarsError::Undefined { .. }) => Ok(None),
        Err(_)
            if vars.stack(host).and_then(|s| s.get(name)).map(|d| d.layer)
                == Some(Layer::RoleDefaults) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn truthy(v: &Json) -> bool {
    match v {
        Json::Bool(b) => *b,
        Json::String(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"),
        Json::Number(n) => n.as_i64() != Some(0),
        _ => false,
    }
}

fn probe(loaded: &Loaded, vars: &Arc<Vars>, host: &str) -> Result<Probe> {
    let spec = connection_spec(&loaded.vars, host, loaded.target.ssh_config.as_deref())?;
    let s = |name: &str| -> Result<Option<String>> {
        Ok(var(vars, host, name)?.map(|v| match v {
            Json::String(s) => s,
            other => other.to_string(),
        }))
    };
    let app_root = s("app_root")?.unwrap_or_else(|| "/srv/app".into());
    if !app_root.starts_with('/') {
        return Err(Error::new(format!(
            "host {host}: app_root = {app_root} is not an absolute directory"
        ))
        .hint(format!(
            "`opsctl vars --env ENV {host} app_root` shows where it is set"
        )));
    }
    let server_name = s("server_name")?.unwrap_or_else(|| host.to_string());
    let tls = var(vars, host, "tls_enabled")?.is_some_and(|v| truthy(&v));
    let validate = var(vars, host, "health_check_validate_certs")?.is_none_or(|v| truthy(&v));
    let health: Vec<String> = match var(vars, host, "health_checks")? {
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Some(Json::String(s)) => vec![s],
        _ => vec!["/".into()],
    };
    let timeout = s("health_check_timeout")?
        .and_then(|t| t.parse().ok())
        .unwrap_or(5);
    let inventory = &loaded.inventory;
    let in_group = |g: &str| inventory.group_hosts(g).contains(&host);
    let web = inventory.group_hosts("web").is_empty() || in_group("web");
    let database = match (web, var(vars, host, "database_url")) {
        (true, Ok(Some(Json::String(url)))) => Database::from_url(&url),
        _ => None,
    };
    let db_name = if in_group("db") {
        Some(s("db_name")?.unwrap_or_else(|| "app".into()))
    } else {
        None
    };
    let (scheme, port) = if tls { ("https", 443) } else { ("http", 80) };
    let curl_target = format!(
        "{}--resolve {}:{port}:127.0.0.1 {scheme}://{}",
        if validate { "" } else { "--insecure " },
        shell_quote(&server_name),
        server_name
    );
    Ok(Probe {
        spec,
        app_root: app_root.trim_end_matches('/').to_string(),
        health,
        curl_target,
        timeout,
        web,
        database,
        db_name,
    })
}

/// The script a host runs (on stdin, as root when sudo allows): one line per
/// fact, `kind|fields...`.
fn script(p: &Probe) -> String {
    let root = shell_quote(&p.app_root);
    let maint = shell_quote(maintenance::DIR);
    let mut s = format!(
        r#"PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export LC_ALL=C
echo "now|$(date +%s)|$(id -u)"
root={root}
if [ -L "$root/current" ]; then echo "current|$(readlink "$root/current")"; else echo "current|"; fi
[ -r "$root/releases.log" ] && tail -n 500 "$root/releases.log" | sed 's/^/log|/'
[ -d "$root/.deploy.lock" ] && echo "lock|$(head -n 1 "$root/.deploy.lock/holder" 2>/dev/null)"
[ -f {maint}/index.html ] && echo "maint|$(head -n 1 {maint}/state 2>/dev/null)"
if command -v supervisorctl >/dev/null 2>&1; then
  out=$(supervisorctl status 2>&1); rc=$?
  # A program STARTING (within its startsecs, e.g. just after a deploy) is given
  # up to 10 s to be RUNNING, or to show that it is not (BACKOFF, FATAL).
  n=0
  while [ $n -lt 20 ] && printf '%s\n' "$out" | grep -q ' STARTING'; do
    sleep 0.5; n=$((n+1)); out=$(supervisorctl status 2>&1); rc=$?
  done
  printf '%s\n' "$out" | sed 's/^/sup|/'; echo "suprc|$rc"
else echo "suprc|notinstalled"; fi
if command -v nginx >/dev/null 2>&1; then
  out=$(nginx -t 2>&1); rc=$?
  printf '%s\n' "$out" | sed 's/^/ngt|/'; echo "ngtrc|$rc"
  if pgrep -x nginx >/dev/null 2>&1; then echo "ngrun|1"; else echo "ngrun|0"; fi
else echo "ngtrc|notinstalled"; fi
for f in /etc/letsencrypt/live/*/fullchain.pem /etc/ssl/opsctl/*/fullchain.pem; do
  [ -f "$f" ] || continue
  end=$(openssl x509 -noout -enddate -in "$f" 2>/dev/null | cut -d= -f2)
  echo "cert|$(basename "$(dirname "$f")")|$(date -d "$end" +%s 2>/dev/null)|$f"
done
"#
    );
    s.push_str(COMPOSE_SCRIPT);
    for path in &p.health {
        s.push_str(&format!(
            "code=$(curl -sS -o /dev/null -w '%{{http_code}}' --max-time {} {}{} 2>/tmp/.opsctl-status-$$); echo \"health|{}|$code|$(head -c 300 /tmp/.opsctl-status-$$ | tr '\\n|' '  ')\"; rm -f /tmp/.opsctl-status-$$\n",
            p.timeout,
            p.curl_target,
            shell_quote(path),
            path.replace(['|', '"', '$', '`', '\\', '\n'], "_")
        ));
    }
    s.push_str(&database_script(p));
    s.push_str(&crate::deploy::backup::status_script());
    s.push_str("df -Pk / | awk 'NR==2 {print \"disk|\"$2\"|\"$4\"|\"$5}'\n");
    s.push_str("if [ -f /var/run/reboot-required ]; then echo \"reboot|$(stat -c %Y /var/run/reboot-required)|$(sort -u /var/run/reboot-required.pkgs 2>/dev/null | tr '\\n' ' ')\"; fi\n");
    s.push_str("[ -r /var/lib/opsctl-monitor/last.json ] && echo \"monitor|$(head -c 8000 /var/lib/opsctl-monitor/last.json)\" || true\n");
    s
}

/// A compose app's live stack (docs/compose.md): one `ctr|` line per container
/// of the project `current/.env` names (none for other apps).
const COMPOSE_SCRIPT: &str = r#"if command -v docker >/dev/null 2>&1 && [ -r "$root/current/.env" ]; then
  project=$(sed -n 's/^COMPOSE_PROJECT_NAME=//p' "$root/current/.env" | head -n 1)
  [ -n "$project" ] && docker ps -aq --filter "label=com.docker.compose.project=$project" |
    xargs -r docker inspect --format 'ctr|{{.Name}}|{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|{{.RestartCount}}|{{.Config.Image}}' 2>/dev/null
fi
"#;

/// The database's lines: `dbreach|0/1` (a TCP connection to PostgreSQL from this
/// web host: no password needed), `sqlite|SIZE` (or empty), and on a db host
/// `dbstat|RC|DB|SIZE|CONNECTIONS|MAX` from psql as the postgres user.
fn database_script(p: &Probe) -> String {
    let mut s = String::new();
    match &p.database {
        Some(Database::Postgres { host, port }) => s.push_str(&format!(
            "if timeout 5 bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' {} {port} 2>/dev/null; then echo 'dbreach|1'; else echo 'dbreach|0'; fi\n",
            shell_quote(host)
        )),
        Some(Database::Sqlite { path }) => s.push_str(&format!(
            "echo \"sqlite|$(stat -c %s {} 2>/dev/null)\"\n",
            shell_quote(path)
        )),
        None => {}
    }
    if let Some(db) = &p.db_name {
        let sql = "select current_database(), pg_database_size(current_database()), \
                   (select count(*) from pg_stat_activity where datname = current_database()), \
                   current_setting('max_connections')";
        s.push_str(&format!(
            "out=$(cd / && runuser -u postgres -- psql -XAtq -d {} -c {} 2>&1); echo \"dbstat|$?|$(printf '%s' \"$out\" | tr '\\n' ' ')\"\n",
            shell_quote(db),
            shell_quote(sql)
        ));
    }
    s
}

async fn ask(conns: &Arc<Connections>, p: &Probe) -> Answer {
    let conn = match conns.get(&p.spec).await {
        Ok(c) => c,
        Err(e) => {
            return Answer::Unreachable(match e.hint() {
                Some(h) => format!("{e} (hint: {h})"),
                None => e.to_string(),
            });
        }
    };
    // The checks read root-only files (certificates, nginx -t): as root when
    // sudo allows it without a password, else as the login user.
    let cmd = RemoteCommand {
        script: crate::deploy::remote::AS_ROOT.into(),
        stdin: Some(script(p).into_bytes()),
        ..Default::default()
    };
    match conn.run(&cmd).await {
        Ok(out) => match parse(&out.stdout_str()) {
            Some(mut st) => {
                st.web = p.web;
                st.database = p.database.clone();
                Answer::Status(Box::new(st))
            }
            None => Answer::Failed(format!(
                "the status script failed (exit {}): {}",
                out.rc
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into()),
                out.stderr_str().trim()
            )),
        },
        Err(e @ crate::transport::TransportError::Disconnected { .. }) => {
            Answer::Unreachable(e.to_string())
        }
        Err(e) => Answer::Failed(e.to_string()),
    }
}

fn parse(out: &str) -> Option<HostStatus> {
    // A web host unless the probe says otherwise.
    let mut st = HostStatus {
        web: true,
        ..Default::default()
    };
    let mut seen_now = false;
    let mut sup_rc: Option<String> = None;
    let mut sup_lines: Vec<String> = Vec::new();
    let mut log: Vec<Json> = Vec::new();
    let mut ngt: Vec<String> = Vec::new();
    for line in out.lines() {
        let (kind, rest) = line.split_once('|').unwrap_or((line, ""));
        let f: Vec<&str> = rest.split('|').collect();
        match kind {
            "now" => {
                seen_now = true;
                st.host_now = f[0].parse().unwrap_or(0);
                st.not_root = f.get(1).is_some_and(|u| *u != "0");
            }
            "current" if !rest.is_empty() => {
                st.release = rest
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .map(String::from);
            }
            "log" => {
                if let Ok(v) = serde_json::from_str::<Json>(rest) {
                    log.push(v);
                }
            }
            "lock" => st.lock = Some(serde_json::from_str(rest).ok()),
            "maint" => st.maintenance = Some(serde_json::from_str(rest).ok()),
            "sup" => sup_lines.push(rest.to_string()),
            "suprc" => sup_rc = Some(rest.to_string()),
            "ngt" => ngt.push(rest.to_string()),
            "ngtrc" => {
                st.nginx_installed = rest != "notinstalled";
                st.nginx_test_ok = rest == "0";
            }
            "ngrun" => st.nginx_running = rest == "1",
            "ctr" if f.len() >= 5 => st.containers.push((
                f[0].trim_start_matches('/').to_string(),
                f[1].to_string(),
                f[2].to_string(),
                f[3].parse().unwrap_or(0),
                f[4..].join("|"),
            )),
            "cert" if f.len() >= 3 => {
                let days = f[1]
                    .parse::<i64>()
                    .ok()
                    .map(|end| (end - st.host_now as i64).div_euclid(86_400));
                st.certs.push((f[0].to_string(), f[2..].join("|"), days));
            }
            "health" if f.len() >= 2 => {
                st.health.push((
                    f[0].to_string(),
                    f[1].parse().unwrap_or(0),
                    f.get(2).unwrap_or(&"").trim().to_string(),
                ));
            }
            "backup" => st.backup.push(rest.to_string()),
            "dbreach" => st.db_reachable = Some(rest == "1"),
            "sqlite" => st.sqlite_size = Some(rest.trim().parse().ok()),
            "dbstat" if f.len() >= 2 => {
                let n = |i: usize| f.get(i).and_then(|v| v.trim().parse::<u64>().ok());
                st.db_stats = Some(match (f[0], n(2), n(3), n(4)) {
                    ("0", Some(size), Some(conns), Some(max)) => {
                        Ok((f[1].to_string(), size, conns, max))
                    }
                    _ => Err(f[1..].join("|").trim().to_string()),
                });
            }
            "reboot" => {
                let since = f[0].trim().parse().unwrap_or(0);
                let pkgs = f.get(1).unwrap_or(&"").split_whitespace();
                st.reboot = Some((since, pkgs.map(String::from).collect()));
            }
            "disk" if f.len() >= 3 => {
                let n = |s: &str| s.trim_end_matches('%').parse::<u64>().unwrap_or(0);
                st.disk = Some((n(f[0]), n(f[1]), n(f[2])));
            }
            "monitor" => st.monitor = serde_json::from_str(rest).ok(),
            _ => {}
        }
    }
    if !seen_now {
        return None;
    }
    st.nginx_test_output = ngt.join("\n");
    if let Some(id) = &st.release {
        st.record = log
            .iter()
            .rev()
            .find(|r| r.get("id").and_then(Json::as_str) == Some(id))
            .cloned();
    }
    match sup_rc.as_deref() {
        Some("notinstalled") => st.supervisor_error = Some("supervisorctl is not installed".into()),
        None => st.supervisor_error = Some("supervisor was not asked".into()),
        Some(_) => {
            for l in &sup_lines {
                let mut w = l.split_whitespace();
                let (Some(name), Some(state)) = (w.next(), w.next()) else {
                    continue;
                };
                let known = [
                    "RUNNING", "STOPPED", "STARTING", "BACKOFF", "STOPPING", "EXITED", "FATAL",
                    "UNKNOWN",
                ];
                if known.contains(&state) {
                    st.programs.push((
                        name.to_string(),
                        state.to_string(),
                        w.collect::<Vec<_>>().join(" "),
                    ));
                }
            }
            if st.programs.is_empty() {
                let text = sup_lines.join(" ").trim().to_string();
                if !text.is_empty() {
                    st.supervisor_error = Some(text);
                }
            }
        }
    }
    Some(st)
}

/// (check, ok, message) for each thing looked at.
fn verdicts(a: &Answer, cert_days: i64, here: &Controller) -> Vec<(String, bool, String)> {
    let st = match a {
        Answer::Status(st) => st,
        Answer::Unreachable(m) => {
            return vec![("connection".into(), false, format!("unreachable: {m}"))];
        }
        Answer::Failed(m) => return vec![("connection".into(), false, m.clone())],
    };
    let mut v = if st.web {
        app_verdicts(st, cert_days, here)
    } else {
        Vec::new()
    };
    v.extend(database_verdicts(st));
    v.extend(crate::deploy::backup::status_verdicts(
        &st.backup,
        st.host_now,
    ));
    if let Some((since, pkgs)) = &st.reboot {
        v.push((
            "reboot".into(),
            false,
            reboot_line(st.host_now, *since, pkgs),
        ));
    }
    v.extend(monitor_verdict(st));
    if let Some((size, avail, pct)) = st.disk {
        let free = format!("{} free of {} ({pct}% used)", gib(avail), gib(size));
        v.push((
            "disk /".into(),
            pct < DISK_FULL_PCT,
            if pct < DISK_FULL_PCT {
                free
            } else {
                format!("/ is {pct}% full: {free}")
            },
        ));
    }
    v
}

/// The host monitor's last verdict and when (roles/monitor). What it found is
/// checked above anew, so only a notification that could not be sent needs
/// attention here.
fn monitor_verdict(st: &HostStatus) -> Option<(String, bool, String)> {
    let m = st.monitor.as_ref()?;
    let when = m["time"].as_u64()?;
    let verdict = m["verdict"].as_str().unwrap_or("?");
    let failing: Vec<&str> = m["failing"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .collect();
    let notify = m["notify"].as_str().unwrap_or("");
    let mut msg = format!("{verdict} {}", time::ago(st.host_now.saturating_sub(when)));
    if !failing.is_empty() {
        msg.push_str(&format!(": {}", failing.join("; ")));
    }
    let unsent = notify.starts_with("failed");
    if unsent {
        msg.push_str(&format!(
            " (could not notify: {})",
            notify.trim_start_matches("failed:").trim()
        ));
    }
    Some(("monitor".into(), !unsent, msg))
}

/// The app's checks on a web host: release, lock, supervisor, nginx,
/// certificates, health checks.
fn app_verdicts(st: &HostStatus, cert_days: i64, here: &Controller) -> Vec<(String, bool, String)> {
    let mut v = Vec::new();
    match &st.release {
        Some(r) => {
            let result = st
                .record
                .as_ref()
                .and_then(|rec| rec.get("result"))
                .and_then(Json::as_str);
            let msg = match result {
                Some("ok") => release_line(st, r),
                None => format!(
                    "release {r} is live but not in releases.log: the command that switched to it stopped before its health check was logged; the next deploy checks it, then logs it or switches back"
                ),
                Some(other) => format!(
                    "release {r} is live but logged {other}: the next deploy checks it, then logs it or switches back"
                ),
            };
            v.push(("release".into(), result == Some("ok"), msg));
        }
        None => v.push((
            "release".into(),
            false,
            "no release is live (no `current` link): `opsctl deploy` first".into(),
        )),
    }
    match &st.lock {
        None => {}
        Some(None) => v.push((
            "lock".into(),
            false,
            "deploy lock without a holder: a command is taking it, or died taking it (`--force-unlock` if none runs)".into(),
        )),
        Some(Some(l)) => v.push((
            "lock".into(),
            false,
            match holder_state(l, here, process_start) {
                HolderState::Alive => format!(
                    "deploy lock held: {} (its process {} runs on this machine)",
                    l.doing(),
                    l.pid
                ),
                HolderState::Dead(why) => format!(
                    "stale deploy lock: {}; {why}: taken over to finish its work (health-check the live release, then log it or switch back)",
                    l.doing()
                ),
                HolderState::Unknown(why) => format!(
                    "deploy lock held: {} ({why}); `--force-unlock` once it is gone",
                    l.doing()
                ),
            },
        )),
    }
    if let Some(page) = &st.maintenance {
        v.push(maintenance_verdict(page.as_ref(), st.lock.is_some()));
    }
    if let Some(e) = &st.supervisor_error {
        v.push(("supervisor".into(), false, e.clone()));
    }
    for (name, state, detail) in &st.programs {
        let ok = state == "RUNNING";
        let msg = if ok {
            format!("{state} ({detail})")
        } else {
            format!(
                "program {name} is {state}{}",
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                }
            )
        };
        v.push((format!("supervisor {name}"), ok, msg));
    }
    for (name, state, health, restarts, image) in &st.containers {
        let ok = state == "running" && (health.is_empty() || health == "healthy");
        let health = if health.is_empty() {
            String::new()
        } else {
            format!(", {health}")
        };
        let msg = format!("{name} {state}{health}, {restarts} restart(s) ({image})");
        v.push((format!("container {name}"), ok, msg));
    }
    if !st.nginx_installed {
        v.push((
            "nginx".into(),
            false,
            "nginx is not installed: `opsctl provision` first".into(),
        ));
    } else {
        let last = st
            .nginx_test_output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        v.push((
            "nginx".into(),
            st.nginx_running,
            if st.nginx_running {
                "running".into()
            } else {
                "nginx is not running".into()
            },
        ));
        v.push((
            "nginx -t".into(),
            st.nginx_test_ok,
            if st.nginx_test_ok {
                "configuration ok (nginx -t)".into()
            } else {
                format!(
                    "nginx -t fails: {}",
                    st.nginx_test_output
                        .lines()
                        .find(|l| l.contains("emerg") || l.contains("error"))
                        .unwrap_or(&last)
                )
            },
        ));
    }
    for (name, path, days) in &st.certs {
        match days {
            Some(d) if *d < 0 => v.push((
                format!("certificate {name}"),
                false,
                format!("certificate {name} expired {} days ago ({path})", -d),
            )),
            Some(d) if *d < cert_days => v.push((
                format!("certificate {name}"),
                false,
                format!("certificate {name} expires in {d} days ({path})"),
            )),
            Some(d) => v.push((
                format!("certificate {name}"),
                true,
                format!("{name}: {d} days left"),
            )),
            None => v.push((
                format!("certificate {name}"),
                false,
                format!("cannot read the expiry date of {path}"),
            )),
        }
    }
    for (path, code, err) in &st.health {
        let ok = (200..400).contains(code);
        let msg = if *code == 0 {
            format!(
                "GET {path}: no answer ({})",
                if err.is_empty() { "curl failed" } else { err }
            )
        } else if ok {
            format!("GET {path}: {code}")
        } else {
            format!("GET {path}: HTTP {code}")
        };
        v.push((format!("health {path}"), ok, msg));
    }
    v
}

/// The maintenance page is on: since when, by whom, with which message. On by
/// hand, it is said (an operator's choice); left on by a deploy while no
/// command holds the deploy lock, it needs attention.
fn maintenance_verdict(page: Option<&maintenance::State>, locked: bool) -> (String, bool, String) {
    let (ok, msg) = match page {
        None => (
            true,
            format!("maintenance on (no state in {}/state)", maintenance::DIR),
        ),
        Some(p) if p.by != maintenance::BY_HAND && !locked => (
            false,
            format!(
                "maintenance on {}, but no {} runs: `opsctl maintenance off`",
                p.describe(),
                p.by
            ),
        ),
        Some(p) => (true, format!("maintenance on {}", p.describe())),
    };
    ("maintenance".into(), ok, msg)
}

/// The database, as seen from a web host (PostgreSQL answers, or the SQLite file)
/// and on a db host (size, connections).
fn database_verdicts(st: &HostStatus) -> Vec<(String, bool, String)> {
    let mut v = Vec::new();
    match (&st.database, st.db_reachable, st.sqlite_size) {
        (Some(Database::Postgres { host, port }), Some(ok), _) => v.push((
            "database".into(),
            ok,
            if ok {
                format!("PostgreSQL at {host}:{port} reachable")
            } else {
                format!(
                    "PostgreSQL at {host}:{port} does not answer from this host: is it running, listening (listen_addresses) and not firewalled?"
                )
            },
        )),
        (Some(Database::Sqlite { path }), _, Some(size)) => v.push((
            "database".into(),
            true,
            match size {
                Some(b) => format!("SQLite {path} ({})", bytes(b)),
                None => format!("SQLite {path} (not created yet: the first deploy's migrations make it)"),
            },
        )),
        _ => {}
    }
    match &st.db_stats {
        Some(Ok((db, size, conns, max))) => {
            let busy = *max > 0 && conns * 10 >= max * 9;
            v.push((
                "database".into(),
                !busy,
                format!(
                    "{db}: {}, {conns} connections of {max}{}",
                    bytes(*size),
                    if busy {
                        " (nearly full: raise postgresql_max_connections)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Some(Err(e)) => v.push((
            "database".into(),
            false,
            format!(
                "PostgreSQL does not answer on this db host ({}): `opsctl provision` sets it up",
                if e.is_empty() { "no output" } else { e }
            ),
        )),
        None => {}
    }
    v
}

/// `reboot required since 2026-01-05 14:30:12 UTC (3h ago): libc6, linux-image-amd64`
/// (unattended-upgrades, or any package, asked for it).
fn reboot_line(now: u64, since: u64, pkgs: &[String]) -> String {
    let mut line = format!(
        "reboot required since {} UTC ({})",
        time::short(since * 1000),
        time::ago(now.saturating_sub(since))
    );
    if !pkgs.is_empty() {
        line.push_str(&format!(": {}", pkgs.join(", ")));
    }
    line
}

fn bytes(b: u64) -> String {
    if b < 1024 * 1024 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else if b < 1024 * 1024 * 1024 {
        format!("{:.1} MiB", b as f64 / 1024.0 / 1024.0)
    } else {
        format!("{:.1} GiB", b as f64 / 1024.0 / 1024.0 / 1024.0)
    }
}

fn gib(kib: u64) -> String {
    format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0)
}

fn release_line(st: &HostStatus, release: &str) -> String {
    let Some(r) = &st.record else {
        return format!("{release} (not in releases.log)");
    };
    let g = |k: &str| r.get(k).and_then(Json::as_str).unwrap_or("?");
    let when = r
        .get("time")
        .and_then(Json::as_str)
        .and_then(time::parse_iso)
        .map(|t| time::ago(st.host_now.saturating_sub(t / 1000)))
        .unwrap_or_else(|| "?".into());
    let commit = g("commit");
    format!(
        "{release}: commit {} (ref {}), {when} by {}, {}",
        &commit[..commit.len().min(12)],
        r.get("ref")
            .or_else(|| r.get("git_ref"))
            .and_then(Json::as_str)
            .unwrap_or("?"),
        g("user"),
        g("result")
    )
}

fn print_host(
    p: &Printer,
    host: &str,
    a: &Answer,
    items: &[(String, bool, String)],
    cert_days: i64,
) {
    if p.is_json() {
        let checks: Vec<Json> = items
            .iter()
            .map(|(c, ok, m)| json!({"check": c, "ok": ok, "msg": m}))
            .collect();
        let mut v =
            json!({"host": host, "ok": items.iter().all(|(_, ok, _)| *ok), "checks": checks});
        if let Answer::Status(st) = a {
            v["release"] = json!(st.release);
            v["release_record"] = st.record.clone().unwrap_or(Json::Null);
            v["programs"] = json!(
                st.programs
                    .iter()
                    .map(|(n, s, d)| json!({"name": n, "state": s, "detail": d}))
                    .collect::<Vec<_>>()
            );
            v["maintenance"] = json!(
                st.maintenance
                    .as_ref()
                    .map(|m| json!({"on": true, "state": m}))
            );
            v["nginx"] = json!({"installed": st.nginx_installed, "test_ok": st.nginx_test_ok, "running": st.nginx_running});
            v["certificates"] = json!(st.certs.iter().map(|(n, path, d)| json!({"name": n, "path": path, "days_left": d, "warn_under_days": cert_days})).collect::<Vec<_>>());
            v["health"] = json!(
                st.health
                    .iter()
                    .map(|(path, c, e)| json!({"path": path, "status": c, "error": e}))
                    .collect::<Vec<_>>()
            );
            v["database"] = json!({
                "reachable": st.db_reachable,
                "sqlite_bytes": st.sqlite_size.flatten(),
                "stats": st.db_stats.as_ref().and_then(|r| r.as_ref().ok()).map(|(d, size, c, max)| json!({"name": d, "size_bytes": size, "connections": c, "max_connections": max})),
            });
            v["reboot_required"] =
                json!(st.reboot.as_ref().map(
                    |(since, pkgs)| json!({"since": time::iso(since * 1000), "packages": pkgs})
                ));
            v["monitor"] = st.monitor.clone().unwrap_or(Json::Null);
            v["disk"] = json!(
                st.disk
                    .map(|(s, a, pct)| json!({"size_kib": s, "available_kib": a, "used_pct": pct}))
            );
        }
        p.json(&v);
        return;
    }
    let bad = items.iter().any(|(_, ok, _)| !ok);
    p.result(&p.paint(host, if bad { Style::Failed } else { Style::Ok }));
    if let Answer::Status(st) = a
        && st.not_root
    {
        p.result(&format!(
            "  {}",
            p.paint(
                "(not root and sudo -n refused: some checks may be incomplete)",
                Style::Dim
            )
        ));
    }
    // One line per kind of check (release, supervisor, nginx, certificate,
    // health, disk), the details joined.
    let mut groups: IndexMap<String, Vec<(bool, String)>> = IndexMap::new();
    for (check, ok, msg) in items {
        let group = check.split_whitespace().next().unwrap_or(check).to_string();
        let text = match (group.as_str(), check.split_once(' ')) {
            // `app-api RUNNING (...)`: the program's name, then its state.
            ("supervisor", Some((_, name))) if *ok => format!("{name} {msg}"),
            _ => msg.clone(),
        };
        groups.entry(group).or_default().push((*ok, text));
    }
    for (group, entries) in groups {
        let text = entries
            .iter()
            .map(|(ok, m)| {
                if *ok {
                    m.clone()
                } else {
                    p.paint(m, Style::Failed)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        p.result(&format!("  {group:<12}{text}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maintenance_page_is_shown_and_a_dead_deploys_needs_attention() {
        let st = parse(
            "now|1|0\nmaint|{\"since\":\"2026-01-02T03:04:05Z\",\"by\":\"hand\",\"user\":\"ann@ctl\",\"message\":\"back soon\"}\n",
        )
        .unwrap();
        let page = st.maintenance.clone().unwrap();
        let v = maintenance_verdict(page.as_ref(), false);
        assert_eq!(
            v,
            (
                "maintenance".into(),
                true,
                "maintenance on since 2026-01-02T03:04:05Z by hand (ann@ctl): back soon".into()
            )
        );
        let mut by_deploy = page.unwrap();
        by_deploy.by = "deploy".into();
        let (_, ok, msg) = maintenance_verdict(Some(&by_deploy), false);
        assert!(
            !ok && msg.ends_with("but no deploy runs: `opsctl maintenance off`"),
            "{msg}"
        );
        assert!(maintenance_verdict(Some(&by_deploy), true).1);
        assert!(parse("now|1|0\n").unwrap().maintenance.is_none());
    }

    #[test]
    fn the_monitors_verdict_needs_attention_only_when_unsent() {
        let st = |last: &str| HostStatus {
            host_now: 1000,
            monitor: parse(&format!("now|0|0\nmonitor|{last}\n")).and_then(|s| s.monitor),
            ..Default::default()
        };
        let none = HostStatus::default();
        assert_eq!(monitor_verdict(&none), None);
        let ok = st(r#"{"time": 880, "verdict": "ok", "failing": [], "notify": "unchanged"}"#);
        assert_eq!(
            monitor_verdict(&ok),
            Some(("monitor".into(), true, "ok 2m ago".into()))
        );
        let failing = st(
            r#"{"time": 1000, "verdict": "failing", "failing": ["program app-api is STOPPED"], "notify": "failed: webhook(curl: (7))"}"#,
        );
        let (_, ok, msg) = monitor_verdict(&failing).unwrap();
        assert!(!ok);
        assert_eq!(
            msg,
            "failing just now: program app-api is STOPPED (could not notify: webhook(curl: (7)))"
        );
    }

    #[test]
    fn database_urls_and_database_lines() {
        let pg = |h: &str, port| {
            Some(Database::Postgres {
                host: h.into(),
                port,
            })
        };
        assert_eq!(
            Database::from_url("postgresql+asyncpg://app:p%40ss:w@db1.internal:6432/app"),
            pg("db1.internal", 6432)
        );
        assert_eq!(
            Database::from_url("postgres://u@10.0.0.5/app?sslmode=require"),
            pg("10.0.0.5", 5432)
        );
        assert_eq!(
            Database::from_url("postgresql://u:pw@[::1]:5433/app"),
            pg("::1", 5433)
        );
        assert_eq!(
            Database::from_url("sqlite:////srv/app/shared/data/app.sqlite3"),
            Some(Database::Sqlite {
                path: "/srv/app/shared/data/app.sqlite3".into()
            })
        );
        assert_eq!(Database::from_url("mysql://x@y/z"), None);
        let mut st = parse("now|1700000000|0\ndbreach|0\ndbstat|0|app|7340032|48|50\n").unwrap();
        st.database = pg("host2", 5432);
        let v = database_verdicts(&st);
        assert_eq!(v.len(), 2);
        assert!(
            !v[0].1
                && v[0]
                    .2
                    .starts_with("PostgreSQL at host2:5432 does not answer"),
            "{v:?}"
        );
        assert!(
            !v[1].1
                && v[1]
                    .2
                    .starts_with("app: 7.0 MiB, 48 connections of 50 (nearly full"),
            "{v:?}"
        );
        let st = parse("now|1|0\ndbstat|2|psql: error: connection to server failed\n").unwrap();
        let v = database_verdicts(&st);
        assert!(
            !v[0].1 && v[0].2.contains("psql: error: connection to server failed"),
            "{v:?}"
        );
    }

    #[test]
    fn a_compose_stacks_containers_are_checked() {
        let out = "now|1700000000|0\ncurrent|/srv/app/releases/20231114221320-abcdef0\nsuprc|0\n\
ctr|/app-20231114221320-abcdef0_web_1|running|healthy|0|app-20231114221320-abcdef0-web\n\
ctr|/app-20231114221320-abcdef0_worker_1|restarting||7|app-20231114221320-abcdef0-web\n\
ctr|/app-20231114221320-abcdef0_cache_1|running|starting|0|redis:7\n";
        let st = parse(out).unwrap();
        assert_eq!(st.containers.len(), 3);
        let here = Controller {
            machine: "m".into(),
            boot: "b".into(),
        };
        let v = verdicts(&Answer::Status(Box::new(st)), 14, &here);
        let containers: Vec<(bool, &str)> = v
            .iter()
            .filter(|(c, _, _)| c.starts_with("container "))
            .map(|(_, ok, m)| (*ok, m.as_str()))
            .collect();
        assert_eq!(
            containers,
            [
                (
                    true,
                    "app-20231114221320-abcdef0_web_1 running, healthy, 0 restart(s) (app-20231114221320-abcdef0-web)"
                ),
                (
                    false,
                    "app-20231114221320-abcdef0_worker_1 restarting, 7 restart(s) (app-20231114221320-abcdef0-web)"
                ),
                (
                    false,
                    "app-20231114221320-abcdef0_cache_1 running, starting, 0 restart(s) (redis:7)"
                ),
            ]
        );
    }

    #[test]
    fn parses_what_a_host_answers() {
        let out = "now|1700000000|0\ncurrent|/srv/app/releases/20231114221320-abcdef0\n\
log|{\"id\":\"20231114221320-abcdef0\",\"commit\":\"abcdef0123\",\"ref\":\"main\",\"user\":\"al@ctl\",\"time\":\"2023-11-14T22:13:20Z\",\"result\":\"ok\"}\n\
sup|app-api                          RUNNING   pid 12, uptime 0:01:00\nsup|app-client                       STOPPED   Nov 14 10:00 PM\nsuprc|3\n\
ngt|nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\nngtrc|0\nngrun|1\n\
cert|host1.test|1700432000|/etc/ssl/opsctl/host1.test/fullchain.pem\nhealth|/|200|\nhealth|/api/health|502|\ndisk|41152736|20576368|48%\n";
        let st = parse(out).unwrap();
        assert_eq!(st.release.as_deref(), Some("20231114221320-abcdef0"));
        assert_eq!(st.programs.len(), 2);
        assert_eq!(st.certs[0].2, Some(5));
        let here = Controller {
            machine: "m".into(),
            boot: "b".into(),
        };
        let v = verdicts(&Answer::Status(Box::new(st.clone())), 14, &here);
        let bad: Vec<&str> = v
            .iter()
            .filter(|(_, ok, _)| !ok)
            .map(|(c, _, _)| c.as_str())
            .collect();
        assert_eq!(
            bad,
            [
                "supervisor app-client",
                "certificate host1.test",
                "health /api/health"
            ]
        );
        assert!(
            v[0].2.contains("commit abcdef0123 (ref main)"),
            "{}",
            v[0].2
        );
        assert!(parse("garbage").is_none());
        // A dead deploy's lock and its unlogged release need attention.
        // The live release is another one, not logged; pid 4000000 exceeds pid_max.
        let killed = out.replace(
            "current|/srv/app/releases/20231114221320-abcdef0",
            "current|/srv/app/releases/20231115000000-1234567",
        ) + "lock|{\"user\":\"al@ctl\",\"time\":\"t\",\"ref\":\"B\",\"pid\":4000000,\"action\":\"deploy\",\"token\":\"x\",\"machine\":\"m\",\"boot\":\"b\",\"start\":1,\"release\":\"20231115000000-1234567\"}\n";
        let v = verdicts(
            &Answer::Status(Box::new(parse(&killed).unwrap())),
            14,
            &here,
        );
        let bad: Vec<&str> = v
            .iter()
            .filter(|(_, ok, _)| !ok)
            .map(|(_, _, m)| m.as_str())
            .collect();
        assert!(
            bad[0].starts_with("release 20231115000000-1234567 is live but not in releases.log"),
            "{bad:?}"
        );
        assert!(
            bad[1]
                .starts_with("stale deploy lock: deploy of release 20231115000000-1234567 (ref B)")
                && bad[1].contains("process 4000000 is gone"),
            "{bad:?}"
        );
    }

    #[test]
    fn a_pending_reboot_needs_attention() {
        let out = "now|1700010800|0\nreboot|1700000000|libc6 linux-image-amd64 \ndisk|100|50|50%\n";
        let mut st = parse(out).unwrap();
        st.web = false;
        let here = Controller {
            machine: "m".into(),
            boot: "b".into(),
        };
        let v = verdicts(&Answer::Status(Box::new(st)), 14, &here);
        assert_eq!(
            v[0],
            (
                "reboot".to_string(),
                false,
                "reboot required since 2023-11-14 22:13:20 UTC (3h ago): libc6, linux-image-amd64"
                    .to_string()
            )
        );
        let none = parse("now|1700010800|0\nreboot|1700000000|\n").unwrap();
        assert_eq!(
            reboot_line(none.host_now, 1700000000, &none.reboot.unwrap().1),
            "reboot required since 2023-11-14 22:13:20 UTC (3h ago)"
        );
    }
}
