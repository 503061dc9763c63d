//! The stack end to end (issue 4, "Must show" 1-6): `opsctl provision`, then
//! `opsctl deploy` of examples/app at refs A, B, C (migration fails), D (health
//! check fails) of a real git repository made here, `rollback`, `releases`, two
//! concurrent deploys, and two hosts getting the same release. Everything through
//! the real binary, real sshd hosts, nginx, supervisor, uvicorn, node and pebble.
//! The first test's host is also its db host (issue 14): PostgreSQL from
//! roles/postgresql, its password from the environment's secrets, the app's notes
//! read and written through nginx.

use std::path::Path;
use std::process::Command;

use crate::common::{Run, Testbed, git, repo};
use crate::stack_postgres::{no_password, with_db_secrets};

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "node_modules" || name == "dist" || name == "__pycache__" {
            continue;
        }
        let dest = to.join(&name);
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

pub(crate) fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{file} lacks {from:?}");
    std::fs::write(&p, text.replace(from, to)).unwrap();
}

/// The app's repository: examples/app with tags A, B (a new migration and page
/// text), C (B + a migration that fails) and D (B + an API whose health check
/// fails). Returns (A, B, C, D) commits.
fn app_repo(dir: &Path) -> [String; 4] {
    copy_dir(&repo().join("examples/app"), dir);
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "A"]);
    git(dir, &["tag", "A"]);
    std::fs::write(
        dir.join("api/migrations/0002_tags.sql"),
        "ALTER TABLE notes ADD COLUMN tag TEXT;\n",
    )
    .unwrap();
    edit(
        dir,
        "client/src/page.html",
        "<h1>example app</h1>",
        "<h1>example app B</h1>",
    );
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "B"]);
    git(dir, &["tag", "B"]);
    std::fs::write(
        dir.join("api/migrations/0003_broken.sql"),
        "ALTER TABLE no_such_table ADD COLUMN x TEXT;\n",
    )
    .unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "C: a migration that fails"]);
    git(dir, &["tag", "C"]);
    git(dir, &["checkout", "-q", "B"]);
    edit(
        dir,
        "api/app/main.py",
        "SELECT count(*) FROM notes",
        "SELECT count(*) FROM table_of_release_d",
    );
    git(
        dir,
        &[
            "commit",
            "-q",
            "-am",
            "D: an API that fails its health check",
        ],
    );
    git(dir, &["tag", "D"]);
    git(dir, &["checkout", "-q", "main"]);
    ["A", "B", "C", "D"].map(|t| git(dir, &["rev-parse", &format!("{t}^{{commit}}")]))
}

/// The test bed's project gets the repository's roles and playbooks.
pub(crate) fn with_roles(tb: &Testbed) {
    let root = tb.project.path();
    copy_dir(&repo().join("roles"), &root.join("roles"));
    copy_dir(&repo().join("playbooks"), &root.join("playbooks"));
}

/// [`with_roles`]; `web_yml` is the tb environment's group_vars/web.yml;
/// `all.yml` points at the app. Of roles/security, the firewall and SSH parts
/// run (the deploys must pass through them); fail2ban and unattended-upgrades,
/// slow to install, are tests/integration/security.rs's business.
pub(crate) fn with_stack(tb: &Testbed, web_yml: &str, app: &Path) {
    with_roles(tb);
    tb.write("environments/tb/group_vars/web.yml", web_yml);
    all_vars(tb, app, 8);
}

/// `all.yml`: the app's repository at `app`, `retries` tries of each health
/// check, every release kept, no fail2ban or unattended upgrades.
pub(crate) fn all_vars(tb: &Testbed, app: &Path, retries: u32) {
    tb.write(
        "environments/tb/group_vars/all.yml",
        &format!(
            "app_src: {}\nhealth_check_retries: {retries}\nkeep_releases: 10\n\
             security_fail2ban: false\nsecurity_upgrades: false\n",
            app.display()
        ),
    );
}

#[track_caller]
pub(crate) fn sh(tb: &Testbed, host: &str, script: &str) -> String {
    let r = tb.exec(host, script);
    assert_eq!(
        r.code, 0,
        "`{script}` failed\n--- stdout\n{}\n--- stderr\n{}",
        r.stdout, r.stderr
    );
    r.stdout.trim().to_string()
}

/// Runs `deploy` while host1 runs `probe` (a shell command) over and over; returns
/// the deploy's run, the probe's outputs (one a line) and how many probes failed.
pub(crate) fn under_requests(
    tb: &Testbed,
    probe: &str,
    deploy: impl FnOnce() -> Run,
) -> (Run, String, String) {
    sh(
        tb,
        "host1",
        &format!(
            "rm -f /tmp/loop.*; (while [ ! -e /tmp/loop.stop ]; do \
               if out=$({{ {probe}; }} 2>/tmp/loop.last); \
               then echo \"$out\" >> /tmp/loop.ok; else echo \"$(date +%T.%N) $(tr '\\n' ' ' </tmp/loop.last)\" >> /tmp/loop.err; fi; \
             done; touch /tmp/loop.done) >/dev/null 2>&1 &"
        ),
    );
    let run = deploy();
    sh(
        tb,
        "host1",
        "sleep 1; touch /tmp/loop.stop; while [ ! -e /tmp/loop.done ]; do sleep 0.1; done",
    );
    let errors = sh(tb, "host1", "cat /tmp/loop.err 2>/dev/null | wc -l");
    if errors != "0" {
        // what curl said, for the failure's message
        eprintln!("{}", sh(tb, "host1", "cat /tmp/loop.err"));
    }
    let ok = sh(tb, "host1", "cat /tmp/loop.ok 2>/dev/null || true");
    (run, ok, errors)
}

/// `changed=N` of a host's recap line.
pub(crate) fn changed(run: &Run, host: &str) -> usize {
    run.stdout
        .lines()
        .rev()
        .find(|l| l.starts_with(&format!("{host} ")) && l.contains(" ok="))
        .and_then(|l| l.split("changed=").nth(1))
        .and_then(|n| n.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no recap for {host}:\n{}\n{}", run.stdout, run.stderr))
}

/// The releases of every host, from `opsctl releases --output json`.
pub(crate) fn releases(tb: &Testbed) -> Vec<serde_json::Value> {
    let r = tb.opsctl(&["releases", "--env", "tb", "--output", "json"]);
    r.code(0).no_panic();
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn release_ids(host: &serde_json::Value) -> Vec<(String, String, String)> {
    host["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["commit"].as_str().unwrap_or("").to_string(),
                r["result"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

const CURL: &str = "curl -fsS --max-time 10 --cacert /tmp/pebble-root.pem";

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn stack_deploy_switch_fail_rollback_and_lock() {
    let tb = Testbed::up(1);
    let app = tempfile::Builder::new()
        .prefix("opsctl-app-")
        .tempdir()
        .unwrap();
    let [a, b, c, d] = app_repo(app.path());
    // The shipped local environment's settings (TLS from pebble), with the app at
    // the root of this test's repository.
    let local: String =
        std::fs::read_to_string(repo().join("environments/local/group_vars/web.yml"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("app_subdir:"))
            .map(|l| format!("{l}\n"))
            .collect();
    with_stack(&tb, &local, app.path());
    // host1 is also the db host, as in environments/local.
    with_db_secrets(&tb, "[web]\nhost1\n\n[db]\nhost1\n");
    sh(&tb, "host1", "opsctl-start-pebble start");

    // 1. A fresh host: provision, deploy A, https through nginx with pebble's
    // certificate verified against pebble's root.
    let prov = tb.opsctl(&["provision", "--env", "tb"]);
    prov.code(0).no_panic();
    no_password(&prov);
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"]);
    dep.code(0).no_panic().stdout_has("is live on host1");
    no_password(&dep);
    sh(
        &tb,
        "host1",
        "curl -sS --fail -o /tmp/pebble-root.pem https://127.0.0.1:15000/roots/0",
    );
    let page = sh(&tb, "host1", &format!("{CURL} https://host1.test/"));
    assert!(
        page.contains("<h1>example app</h1>") && page.contains(&a),
        "{page}"
    );
    let version = sh(
        &tb,
        "host1",
        &format!("{CURL} https://host1.test/api/version"),
    );
    assert!(version.contains(&a), "{version}");
    let mode = sh(&tb, "host1", "stat -c '%a %U' /srv/app/current/.env");
    assert_eq!(mode, "600 app");
    // The API reads and writes PostgreSQL (on this host, listening on localhost
    // only) through nginx; no SQLite file appears.
    let get = |path: &str| sh(&tb, "host1", &format!("{CURL} https://host1.test{path}"));
    let health = get("/api/health");
    assert!(health.contains("\"database\":\"postgresql\""), "{health}");
    let added = get(
        "/api/notes -X POST -H 'content-type: application/json' -d '{\"body\": \"written through nginx\"}'",
    );
    assert!(added.contains("\"id\":1"), "{added}");
    let notes = get("/api/notes");
    assert!(notes.contains("written through nginx"), "{notes}");
    let rows = sh(
        &tb,
        "host1",
        "cd / && su postgres -c \"psql -XAtq -d app -c 'select body from notes' -c 'show listen_addresses'\"",
    );
    assert_eq!(rows, "written through nginx\nlocalhost");
    sh(&tb, "host1", "test ! -e /srv/app/shared/data/app.sqlite3");
    // The password is in the release's .env (mode 0600), on no process's command line.
    sh(
        &tb,
        "host1",
        "grep -q '^DATABASE_URL=postgresql+asyncpg://app:' /srv/app/current/.env",
    );
    let procs = sh(&tb, "host1", "ps -eo args");
    assert!(!procs.contains("pg-Secret"), "{procs}");
    let status = tb.opsctl(&["status", "--env", "tb"]);
    status
        .code(0)
        .stdout_has("PostgreSQL at 127.0.0.1:5432 reachable")
        .stdout_has("connections of 100");
    no_password(&status);
    // Provision again: nothing changes. Deploy A again: a no-op.
    let again = tb.opsctl(&["provision", "--env", "tb"]);
    again.code(0);
    assert_eq!(changed(&again, "host1"), 0, "{}", again.stdout);
    let check = tb.opsctl(&["provision", "--env", "tb", "--check", "--diff"]);
    check.code(0);
    assert_eq!(changed(&check, "host1"), 0, "{}", check.stdout);
    no_password(&check);
    tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"])
        .code(0)
        .stdout_has("already live on every host");

    // 2. B while requests run through nginx: none fails. nginx is not reloaded
    // (its configuration did not change since deploy A reloaded it): its
    // workers are the same processes after the switch.
    let workers =
        "ps -o pid= --ppid \"$(cat /run/nginx.pid)\" | sort -n | tr -d ' ' | tr '\\n' ' '";
    let workers_before = sh(&tb, "host1", workers);
    assert!(!workers_before.is_empty(), "no nginx worker");
    let (dep, ok, errors) = under_requests(
        &tb,
        &format!(
            "{CURL} https://host1.test/api/version && {CURL} -o /dev/null https://host1.test/"
        ),
        || tb.opsctl(&["deploy", "--env", "tb", "--git-version", "B"]),
    );
    dep.code(0).no_panic();
    let (on_a, on_b) = (
        ok.lines().filter(|l| l.contains(&a)).count(),
        ok.lines().filter(|l| l.contains(&b)).count(),
    );
    eprintln!(
        "during the switch to B: {} ok ({on_a} on A, {on_b} on B), {errors} errors",
        ok.lines().count()
    );
    assert_eq!(errors, "0", "requests failed during the switch");
    assert!(on_a > 0 && on_b > 0, "the loop saw A then B: {on_a} {on_b}");
    assert_eq!(
        sh(&tb, "host1", workers),
        workers_before,
        "nginx was reloaded by a switch that did not change its configuration"
    );
    let page = sh(&tb, "host1", &format!("{CURL} https://host1.test/"));
    assert!(
        page.contains("example app B") && page.contains(&b),
        "{page}"
    );

    // 3. C (migration fails) and D (health check fails): B keeps serving, the
    // command names the step and exits non-zero.
    let fail_c = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "C"]);
    fail_c.code(2).no_panic().stderr_has("step migrate");
    assert!(
        sh(
            &tb,
            "host1",
            &format!("{CURL} https://host1.test/api/version")
        )
        .contains(&b)
    );
    let fail_d = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "D"]);
    fail_d.code(2).no_panic().stderr_has("step health");
    assert!(
        sh(
            &tb,
            "host1",
            &format!("{CURL} https://host1.test/api/version")
        )
        .contains(&b)
    );
    sh(
        &tb,
        "host1",
        &format!("{CURL} https://host1.test/api/health"),
    );

    // 4. rollback goes back to A (skipping the bad C and D); releases lists them.
    tb.opsctl(&["rollback", "--env", "tb"]).code(0).no_panic();
    assert!(
        sh(
            &tb,
            "host1",
            &format!("{CURL} https://host1.test/api/version")
        )
        .contains(&a)
    );
    let hosts = releases(&tb);
    let ids = release_ids(&hosts[0]);
    let got: Vec<(&str, &str)> = ids
        .iter()
        .map(|(_, c, r)| (c.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (a.as_str(), "ok"),
            (b.as_str(), "rolled-back"),
            (c.as_str(), "bad"),
            (d.as_str(), "bad")
        ],
        "{hosts:?}"
    );
    assert_eq!(hosts[0]["live"].as_str(), Some(ids[0].0.as_str()));
    let text = tb.opsctl(&["releases", "--env", "tb"]);
    text.code(0)
        .stdout_has("bad (migrate)")
        .stdout_has("bad (health)");
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("  * ") && l.contains(&a[..7])),
        "{}",
        text.stdout
    );

    // initdata from an age-encrypted file: decrypted on the controller only, loaded
    // by the app's initdata command in the live release.
    // The environment's identity (with_db_secrets), its only recipient.
    let key = tb.project.path().join("identity.txt");
    // secrets.age (db_password) stays aside while `secrets edit` makes the data file.
    let secrets = tb.env_dir.join("secrets.age");
    let aside = tb.env_dir.join("secrets.age.aside");
    std::fs::rename(&secrets, &aside).unwrap();
    let editor = tb.project.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\necho '{\"notes\": [\"loaded from age\"]}' > \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let edited = Command::new(crate::common::OPSCTL)
        .args(["secrets", "edit", "--env", "tb"])
        .current_dir(tb.project.path())
        .env("OPSCTL_AGE_KEY_FILE", &key)
        .env("EDITOR", &editor)
        .env_remove("VISUAL")
        .output()
        .unwrap();
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    std::fs::rename(&secrets, tb.env_dir.join("initdata.json.age")).unwrap();
    std::fs::rename(&aside, &secrets).unwrap();
    let init = Command::new(crate::common::OPSCTL)
        .args([
            "initdata",
            "--env",
            "tb",
            "-vv",
            "-e",
            "initdata_src=initdata.json.age",
        ])
        .current_dir(tb.project.path())
        .env("OPSCTL_AGE_KEY_FILE", &key)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&init.stdout),
        String::from_utf8_lossy(&init.stderr)
    );
    assert_eq!(init.status.code(), Some(0), "{out}");
    assert!(out.contains("1 note(s) added"), "{out}");
    let shared = sh(&tb, "host1", "cat /srv/app/shared/initdata.json");
    assert!(shared.contains("loaded from age"), "{shared}");
    let rows = sh(
        &tb,
        "host1",
        "cd / && su postgres -c \"psql -XAtq -d app -c 'select body from notes order by id'\"",
    );
    assert_eq!(rows, "written through nginx\nloaded from age");

    // 5. Two deploys started together: exactly one runs, the other is refused.
    let start = |r: &str| {
        Command::new(crate::common::OPSCTL)
            .args(["deploy", "--env", "tb", "--git-version", r])
            .current_dir(tb.project.path())
            .env("NO_COLOR", "1")
            .env("OPSCTL_AGE_KEY_FILE", &key)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (p1, p2) = (start("B"), start("B"));
    let runs: Vec<Run> = [p1, p2]
        .map(|p| Run::from(p.wait_with_output().unwrap()))
        .into();
    let codes: Vec<i32> = runs.iter().map(|r| r.code).collect();
    assert!(codes.contains(&0) && codes.contains(&1), "{runs:?}");
    let refused = runs.iter().find(|r| r.code == 1).unwrap();
    refused
        .stderr_has("deploy in progress on host1 since")
        .stderr_has("(ref B)")
        .stderr_has("--force-unlock");
    assert!(
        sh(
            &tb,
            "host1",
            &format!("{CURL} https://host1.test/api/version")
        )
        .contains(&b)
    );
    // The lock is gone after both.
    sh(&tb, "host1", "test ! -e /srv/app/.deploy.lock");

    // 6. Preview environments beside the main app, on this same host (issue 16).
    crate::previews::beside_the_main_app(&tb, app.path(), "B");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn stack_two_hosts_get_the_same_release() {
    // Two web hosts, host1 also the db host: one PostgreSQL for both, reached
    // by host2 over the test bed's network.
    let tb = Testbed::up_net(2, &["web=host1,host2", "db=host1"]);
    let app = tempfile::Builder::new()
        .prefix("opsctl-app-")
        .tempdir()
        .unwrap();
    let [a, ..] = app_repo(app.path());
    let web_yml = format!(
        "ansible_user: root\ngit_version: A\ntls_enabled: false\n{}",
        crate::maintenance::ALLOW
    );
    with_stack(&tb, &web_yml, app.path());
    with_db_secrets(&tb, "[web]\nhost1\nhost2\n\n[db]\nhost1\n");
    tb.opsctl(&["provision", "--env", "tb"]).code(0).no_panic();
    tb.opsctl(&["deploy", "--env", "tb"]).code(0).no_panic();
    let hosts = releases(&tb);
    assert_eq!(hosts.len(), 2);
    let live: Vec<&str> = hosts.iter().map(|h| h["live"].as_str().unwrap()).collect();
    assert_eq!(live[0], live[1], "{hosts:?}");
    assert!(live[0].ends_with(&a[..7]));
    for (i, h) in ["host1", "host2"].iter().enumerate() {
        let v = sh(&tb, h, &format!("curl -fsS http://{h}.test/api/version"));
        assert!(v.contains(&a) && v.contains(live[i]), "{h}: {v}");
        let health = sh(&tb, h, &format!("curl -fsS http://{h}.test/api/health"));
        assert!(
            health.contains("\"database\":\"postgresql\""),
            "{h}: {health}"
        );
    }
    // The maintenance page, by hand and during deploys (tests/integration/maintenance.rs).
    crate::maintenance::maintenance_page(&tb, app.path(), &a);
    // Migrations once, host by host, a failed host switching the others back,
    // hooks and the webhook (tests/integration/deploy_multi.rs).
    crate::deploy_multi::rollout(&tb, app.path(), &web_yml);
}
