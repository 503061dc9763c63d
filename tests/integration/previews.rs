//! Preview environments (issue 16): on the ONE provisioned test bed host (web and
//! db) of `stack::stack_deploy_switch_fail_rollback_and_lock` (no provision of
//! its own: its checks run at the end of that test),
//! the main app and two previews of branches, each answering on its own server
//! name through nginx with its own commit; the main app untouched (same release,
//! same programs' PIDs); an expired preview removed by the host's timer command,
//! nothing of it left (files, programs, site, certificate, ports, database); the
//! other preview still serving. One preview starts from a backup snapshot of
//! the environment (`--data snapshot`), anonymized; both get their certificates
//! from the test bed's ACME server (pebble), deleted with them, the main app's
//! untouched; a preview's venv is linked from the main app's, not built again.
//! Real sshd, nginx, supervisor, PostgreSQL, restic, certbot, pebble, git.

use std::path::Path;

use crate::common::{Testbed, git};
use crate::stack::{edit, sh};
use crate::stack_postgres::no_password;

/// The preview `rep` of the branch `report`, from a snapshot of the environment.
const REP_SNAPSHOT: &[&str] = &[
    "deploy",
    "--env",
    "tb",
    "--preview",
    "rep",
    "--git-version",
    "report",
    "--data",
    "snapshot",
];

/// `curl` on the host, through nginx, for a server name: its certificate
/// verified against pebble's root (the stack test fetched it).
fn get(tb: &Testbed, name: &str, path: &str) -> String {
    sh(
        tb,
        "host1",
        &format!(
            "curl -fsS --max-time 10 --cacert /tmp/pebble-root.pem --resolve {name}:443:127.0.0.1 https://{name}{path}"
        ),
    )
}

/// The certificate nginx serves for a server name (SNI), verified against
/// pebble's root: its SHA-256 fingerprint and names.
fn served_cert(tb: &Testbed, name: &str) -> String {
    sh(
        tb,
        "host1",
        &format!(
            "echo | openssl s_client -connect 127.0.0.1:443 -servername {name} -CAfile /tmp/pebble-root.pem -verify_return_error 2>/dev/null \
             | openssl x509 -noout -fingerprint -sha256 -ext subjectAltName"
        ),
    )
}

/// The notes of the app at a server name, as the API lists them.
fn notes(tb: &Testbed, name: &str) -> String {
    get(tb, name, "/api/notes")
}

/// supervisor's PIDs of the main app's programs.
fn main_pids(tb: &Testbed) -> String {
    sh(
        tb,
        "host1",
        "supervisorctl pid app-api; supervisorctl pid app-client",
    )
}

/// The preview assertions, on the test bed host of
/// `stack::stack_deploy_switch_fail_rollback_and_lock` once its own checks are
/// done (its host is provisioned, web and db, with the main app live): `app` is
/// the app's repository there, `base` the ref the preview branches start from.
pub(crate) fn beside_the_main_app(tb: &Testbed, dir: &Path, base: &str) {
    let started = std::time::Instant::now();
    let web = tb.env_dir.join("group_vars/web.yml");
    let vars = std::fs::read_to_string(&web).unwrap();
    std::fs::write(&web, format!("{vars}\npreview_domain: preview.test\n")).unwrap();
    let main = sh(tb, "host1", "cat /srv/app/current/REVISION");
    // A branch off `base` whose page's title starts with `title`; its commit.
    let branch = |name: &str, title: &str| {
        git(dir, &["checkout", "-q", "-b", name, base]);
        let h1 = format!("<h1>{title} example app");
        edit(dir, "client/src/page.html", "<h1>example app", &h1);
        git(dir, &["commit", "-q", "-am", title]);
        git(dir, &["rev-parse", "HEAD"])
    };
    let one = branch("feature/Login_Page", "login");
    let two = branch("report", "report");
    // The preview of the current branch: feature/Login_Page.
    git(dir, &["checkout", "-q", "feature/Login_Page"]);

    // --data snapshot without backups: refused, saying why.
    tb.opsctl(REP_SNAPSHOT)
        .code(1)
        .stderr_has("tb has no backups: backup_repository is not set");
    // A personal note in the main app's database, then a backup of it (restic,
    // roles/backup), with the environment's anonymisation command.
    sh(
        tb,
        "host1",
        "curl -fsS --cacert /tmp/pebble-root.pem https://host1.test/api/notes -X POST -H 'content-type: application/json' -d '{\"body\": \"call alice@example.org\"}'",
    );
    tb.opsctl_stdin(
        &["secrets", "set", "--env", "tb", "backup_password"],
        "preview-Backup-pw\n",
    )
    .code(0);
    std::fs::write(
        &web,
        format!(
            "{vars}\npreview_domain: preview.test\nbackup_repository: /var/backups/opsctl-restic\n\
             anonymize_command: cd api && ../venv/bin/python -m app.anonymize\n"
        ),
    )
    .unwrap();
    tb.opsctl(&["provision", "--env", "tb", "--tags", "backup"])
        .code(0)
        .no_panic();
    tb.opsctl(&["backup", "--env", "tb"]).code(0).no_panic();
    let snaps = tb.opsctl(&["backups", "--env", "tb", "--output", "json"]);
    snaps.code(0);
    let snap: serde_json::Value =
        serde_json::from_str(snaps.stdout.lines().last().unwrap()).unwrap();
    let snap_id = snap["id"].as_str().unwrap().to_string();
    let main_notes = notes(tb, "host1.test");
    assert!(
        main_notes.contains("call alice@example.org"),
        "{main_notes}"
    );
    // The main app's certificate (pebble's, roles/certbot) as nginx serves it.
    let main_cert = served_cert(tb, "host1.test");
    assert!(main_cert.contains("DNS:host1.test"), "{main_cert}");
    let main_venv = sh(tb, "host1", "readlink -f /srv/app/current/venv");

    let live = sh(tb, "host1", "readlink /srv/app/current");
    let pids = main_pids(tb);
    let main_site = sh(
        tb,
        "host1",
        "sha256sum /etc/nginx/sites-available/app /etc/supervisor/conf.d/app-*.conf /srv/app/current/.env",
    );

    // Two previews: the current branch (its name made DNS-safe), and `report`.
    let d1 = tb.opsctl(&["deploy", "--env", "tb", "--preview", "--lifetime", "2d"]);
    d1.code(0).no_panic().stdout_has(
        "preview feature-login-page answers at https://feature-login-page.preview.test",
    );
    no_password(&d1);
    let d2 = tb.opsctl(REP_SNAPSHOT);
    d2.code(0)
        .no_panic()
        .stdout_has(&format!(
            "preview rep: database app_preview_rep from snapshot {snap_id} of tb (taken {}",
            snap["time"].as_str().unwrap()
        ))
        .stdout_has("preview rep answers at https://rep.preview.test");
    no_password(&d2);
    assert!(!d2.stdout.contains("preview-Backup-pw") && !d2.stderr.contains("preview-Backup-pw"));
    // Its data is the snapshot's, anonymized; the main app's is as it was.
    let rep_notes = notes(tb, "rep.preview.test");
    assert_eq!(
        rep_notes.matches("\"id\"").count(),
        main_notes.matches("\"id\"").count(),
        "{rep_notes}"
    );
    assert!(
        !rep_notes.contains("alice@example.org") && rep_notes.contains("\"body\":\"note 1\""),
        "{rep_notes}"
    );
    assert_eq!(notes(tb, "host1.test"), main_notes);
    // Deployed again with --data: refused, it keeps its data (unless --reset-data).
    tb.opsctl(REP_SNAPSHOT)
        .code(1)
        .stderr_has("preview rep exists and keeps its database app_preview_rep")
        .stderr_has("--reset-data");
    assert_eq!(notes(tb, "rep.preview.test"), rep_notes);
    // Each preview's certificate is its own, from the ACME server (pebble);
    // the main app's is the same certificate as before.
    for name in ["feature-login-page", "rep"] {
        let cert = served_cert(tb, &format!("{name}.preview.test"));
        assert!(cert.contains(&format!("DNS:{name}.preview.test")), "{cert}");
        assert!(!cert.contains("host1.test"), "{cert}");
    }
    assert_eq!(served_cert(tb, "host1.test"), main_cert);
    // The previews' venvs: linked from the main app's (same requirements), their
    // own directories, with their own paths in their scripts.
    let v1 = sh(
        tb,
        "host1",
        "readlink -f /srv/app-previews/rep/current/venv",
    );
    assert!(
        v1.starts_with("/srv/app-previews/rep/shared/venvs/"),
        "{v1}"
    );
    assert_eq!(
        sh(
            tb,
            "host1",
            &format!("stat -c %i {main_venv}/.opsctl-complete")
        ),
        sh(tb, "host1", &format!("stat -c %i {v1}/.opsctl-complete")),
        "linked, not built"
    );
    for v in [&v1, &main_venv] {
        let shebang = sh(tb, "host1", &format!("head -n 1 {v}/bin/uvicorn"));
        assert!(
            shebang.starts_with(&format!("#!{v}/bin/python")),
            "{v}: {shebang}"
        );
    }

    // Each answers on its own name with its own commit; the main app keeps its own.
    let v1 = get(tb, "feature-login-page.preview.test", "/api/version");
    assert!(v1.contains(&one), "{v1}");
    let v2 = get(tb, "rep.preview.test", "/api/version");
    assert!(v2.contains(&two), "{v2}");
    let v0 = get(tb, "host1.test", "/api/version");
    assert!(v0.contains(&main), "{v0}");
    assert!(get(tb, "rep.preview.test", "/").contains("<h1>report example app"));
    assert!(get(tb, "host1.test", "/").contains("<h1>example app"));
    // Each has its own PostgreSQL database, filled by the migrations.
    let h1 = get(tb, "rep.preview.test", "/api/health");
    assert!(h1.contains("\"database\":\"postgresql\""), "{h1}");
    let dbs = sh(
        tb,
        "host1",
        "cd / && su postgres -c \"psql -XAtq -c 'select datname from pg_database order by 1'\"",
    );
    assert!(
        dbs.contains("app_preview_feature_login_page") && dbs.contains("app_preview_rep"),
        "{dbs}"
    );
    // The main app untouched: same release, same programs (PIDs), same files.
    assert_eq!(sh(tb, "host1", "readlink /srv/app/current"), live);
    assert_eq!(main_pids(tb), pids);
    assert_eq!(
        sh(
            tb,
            "host1",
            "sha256sum /etc/nginx/sites-available/app /etc/supervisor/conf.d/app-*.conf /srv/app/current/.env"
        ),
        main_site
    );

    // The list: name, ref, commit, URL, expiry.
    let list = tb.opsctl(&["previews", "--env", "tb"]);
    list.code(0)
        .stdout_has("feature-login-page")
        .stdout_has("feature/Login_Page")
        .stdout_has(&one[..7])
        .stdout_has("https://rep.preview.test")
        .stdout_has("1d 23h");
    let json = tb.opsctl(&["previews", "--env", "tb", "--output", "json"]);
    json.code(0);
    let rows: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{}", json.stdout);
    let ports: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            [
                r["client_port"].as_str().unwrap().to_string(),
                r["api_port"].as_str().unwrap().to_string(),
            ]
        })
        .collect();
    let mut unique = ports.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{ports:?}");
    assert!(
        !ports.iter().any(|p| p == "3000" || p == "3579"),
        "{ports:?}"
    );
    let rep = rows.iter().find(|r| r["name"] == "rep").unwrap();
    let rep_ports = [
        rep["client_port"].as_str().unwrap(),
        rep["api_port"].as_str().unwrap(),
    ]
    .map(String::from);

    // Expire the first one (extend into the past), then run what the timer runs.
    tb.opsctl(&[
        "previews",
        "extend",
        "feature-login-page",
        "-3d",
        "--env",
        "tb",
    ])
    .code(0)
    .stdout_has("preview feature-login-page is removed at");
    let timer = sh(
        tb,
        "host1",
        "cat /etc/cron.d/opsctl-previews-app-previews 2>/dev/null || systemctl cat opsctl-previews-app-previews.service",
    );
    assert!(
        timer.contains("/usr/local/sbin/opsctl-previews reap /srv/app-previews"),
        "{timer}"
    );
    let reaped = sh(
        tb,
        "host1",
        "/usr/local/sbin/opsctl-previews reap /srv/app-previews",
    );
    assert!(
        reaped.contains("removed preview feature-login-page"),
        "{reaped}"
    );
    let log = sh(tb, "host1", "cat /srv/app-previews/removed.log");
    assert!(
        log.contains("database app_preview_feature_login_page")
            && log.contains("ACME certificate preview-feature-login-page.preview.test"),
        "{log}"
    );
    sh(
        tb,
        "host1",
        "test ! -e /etc/letsencrypt/live/preview-feature-login-page.preview.test && test ! -e /etc/letsencrypt/renewal/preview-feature-login-page.preview.test.conf",
    );
    // Nothing of it is left.
    sh(
        tb,
        "host1",
        "test ! -e /srv/app-previews/feature-login-page",
    );
    sh(
        tb,
        "host1",
        "test ! -e /etc/nginx/sites-enabled/preview-feature-login-page && test ! -e /etc/nginx/sites-available/preview-feature-login-page",
    );
    sh(
        tb,
        "host1",
        "test ! -e /etc/ssl/opsctl/preview-feature-login-page",
    );
    sh(
        tb,
        "host1",
        "! ls /etc/supervisor/conf.d/ | grep -q feature-login-page",
    );
    let programs = sh(tb, "host1", "supervisorctl status || true");
    assert!(!programs.contains("feature-login-page"), "{programs}");
    let dbs = sh(
        tb,
        "host1",
        "cd / && su postgres -c \"psql -XAtq -c 'select datname from pg_database'\"",
    );
    assert!(
        !dbs.contains("app_preview_feature_login_page") && dbs.contains("app_preview_rep"),
        "{dbs}"
    );
    let listening = sh(tb, "host1", "ss -Hltn | awk '{print $4}'");
    for p in &ports {
        let mine = rep_ports.contains(p);
        assert_eq!(
            listening.contains(&format!(":{p}")),
            mine,
            "port {p}: {listening}"
        );
    }
    // The other preview still serves; the main app is still untouched.
    assert!(get(tb, "rep.preview.test", "/api/version").contains(&two));
    assert_eq!(main_pids(tb), pids);
    assert_eq!(sh(tb, "host1", "readlink /srv/app/current"), live);
    // --reset-data: its database replaced by an empty one the migrations fill.
    let mut reset = REP_SNAPSHOT.to_vec();
    *reset.last_mut().unwrap() = "empty";
    reset.push("--reset-data");
    tb.opsctl(&reset).code(0).no_panic();
    assert_eq!(notes(tb, "rep.preview.test").matches("\"id\"").count(), 0);
    // destroy: the second one, by hand.
    tb.opsctl(&["previews", "destroy", "rep", "--env", "tb"])
        .code(0)
        .stdout_has("removed preview rep")
        .stdout_has("ACME certificate preview-rep.preview.test");
    let certs = sh(
        tb,
        "host1",
        "ls /etc/letsencrypt/live /etc/letsencrypt/renewal",
    );
    assert!(!certs.contains("preview-"), "{certs}");
    assert_eq!(served_cert(tb, "host1.test"), main_cert);
    tb.opsctl(&["previews", "--env", "tb"])
        .code(0)
        .stdout_has("no preview");
    assert!(get(tb, "host1.test", "/api/version").contains(&main));
    // What the previews add to this test bed run (read with --nocapture).
    eprintln!("previews: {:.0} s", started.elapsed().as_secs_f64());
}
