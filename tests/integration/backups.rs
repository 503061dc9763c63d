//! Backups (issue 14, "Backups"): roles/backup in `provision`, `opsctl backup`,
//! `backups`, `restore` (round trip, a corrupted snapshot, the refusal without
//! --yes), the nightly timer's command with its retention policy, `status`, and
//! `restore --env staging --from prod --anonymize`. One test-bed run: two hosts
//! provisioned and deployed together (environment tb), then seen as two
//! environments, prod (host1) and staging (host2), each with its own backup
//! repository on its own host.

use std::path::Path;

use crate::common::{Run, Testbed, git, repo};
use crate::stack::{copy_dir, sh, with_stack};
use crate::stack_postgres::{no_password, with_db_secrets};

/// The restic repositories' password, in the environments' secrets.
const BACKUP_PASSWORD: &str = "restic-Secret/pw:odd@chars";

/// No output of `run` shows the repository's password (nor the database's).
#[track_caller]
fn no_secret(run: &Run) {
    no_password(run);
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(BACKUP_PASSWORD),
            "the backup password is printed:\n{text}"
        );
    }
}

/// The app's repository (examples/app at tag A); returns A's commit.
fn app_repo(dir: &Path) -> String {
    copy_dir(&repo().join("examples/app"), dir);
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "A"]);
    git(dir, &["tag", "A"]);
    git(dir, &["rev-parse", "A^{commit}"])
}

/// environments/NAME: `hosts`, with tb's group_vars, secrets, recipients and ssh files.
fn environment(tb: &Testbed, name: &str, hosts: &str) {
    let root = tb.project.path();
    let (from, to) = (
        root.join("environments/tb"),
        root.join("environments").join(name),
    );
    copy_dir(&from.join("group_vars"), &to.join("group_vars"));
    for f in ["secrets.age", "recipients", "ssh_config", "known_hosts"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    tb.write(&format!("environments/{name}/hosts"), hosts);
}

/// The app's data on `host`: its rows (a sorted data-only dump) and its files
/// in shared/data (names, modes and sha256).
fn data(tb: &Testbed, host: &str) -> (String, String) {
    let rows = sh(
        tb,
        host,
        "cd / && su postgres -c 'pg_dump --data-only --inserts app' | grep -v -e '^--' -e '^SET ' -e '^SELECT pg_catalog.set_config' -e '^.restrict ' -e '^.unrestrict ' -e '^$' | sort",
    );
    let files = sh(
        tb,
        host,
        "cd /srv/app/shared/data && find . -type f | sort | while read -r f; do echo \"$f $(stat -c '%a %U' \"$f\") $(sha256sum < \"$f\")\"; done",
    );
    (rows, files)
}

fn api(tb: &Testbed, host: &str, rest: &str) -> String {
    sh(
        tb,
        host,
        &format!("curl -fsS --max-time 10 --resolve {host}:80:127.0.0.1 http://{host}/api/{rest}"),
    )
}

fn add_note(tb: &Testbed, host: &str, body: &str) {
    let r = api(
        tb,
        host,
        &format!("notes -X POST -H 'content-type: application/json' -d '{{\"body\": \"{body}\"}}'"),
    );
    assert!(r.contains(body), "{r}");
}

/// `opsctl backups --env ENV --output json`: (id, time, release, commit, size).
fn snapshots(tb: &Testbed, env: &str) -> Vec<serde_json::Value> {
    let r = tb.opsctl(&["backups", "--env", env, "--output", "json"]);
    r.code(0).no_panic();
    no_secret(&r);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn backup_restore_timer_prune_and_copy_to_staging() {
    let start = std::time::Instant::now();
    let phase = |what: &str| {
        eprintln!(
            "backups test: {what} at {:.0}s",
            start.elapsed().as_secs_f64()
        )
    };
    let tb = Testbed::up(2);
    let app = tempfile::Builder::new()
        .prefix("opsctl-app-")
        .tempdir()
        .unwrap();
    let a = app_repo(app.path());
    with_stack(&tb, "tls_enabled: false\n", app.path());
    // Each host is its own db and backup host (in prod and staging below); the
    // repository a local path (a mounted backup disk); a retention policy the
    // prune below checks.
    with_db_secrets(&tb, "[web]\nhost1\nhost2\n\n[db]\nhost1\nhost2\n");
    tb.opsctl_stdin(
        &["secrets", "set", "--env", "tb", "backup_password"],
        &format!("{BACKUP_PASSWORD}\n"),
    )
    .code(0);
    // The two hosts stand for two environments in one inventory, with no
    // network between them: no firewall rules naming each other (roles/security
    // would open each one's PostgreSQL to the other, a web host it cannot resolve).
    tb.write(
        "environments/tb/group_vars/db.yml",
        "backup_repository: /var/backups/opsctl-restic\nbackup_host: \"{{ inventory_hostname }}\"\n\
         backup_keep_daily: 2\nbackup_keep_weekly: 2\nbackup_keep_monthly: 3\n\
         security_firewall: false\n",
    );
    tb.write("environments/tb/host_vars/host1.yml", "backup_env: prod\n");
    tb.write(
        "environments/tb/host_vars/host2.yml",
        "backup_env: staging\n",
    );

    let prov = tb.opsctl(&["provision", "--env", "tb"]);
    prov.code(0).no_panic();
    no_secret(&prov);
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"]);
    dep.code(0).no_panic();
    // The password file: root's, 0600; the repository exists; cron runs the
    // nightly backup (plain hosts have no systemd).
    assert_eq!(
        sh(
            &tb,
            "host1",
            "stat -c '%a %U' /etc/opsctl-backup/password /etc/opsctl-backup/config"
        ),
        "600 root\n600 root"
    );
    sh(&tb, "host1", "test -f /var/backups/opsctl-restic/config");
    let cron = sh(&tb, "host1", "crontab -l");
    assert!(
        cron.contains("15 3 * * * /usr/local/sbin/opsctl-backup nightly"),
        "{cron}"
    );
    let again = tb.opsctl(&["provision", "--env", "tb", "--tags", "backup"]);
    again.code(0);
    assert!(
        again
            .stdout
            .lines()
            .any(|l| l.starts_with("host1 ") && l.contains("changed=0")),
        "{}",
        again.stdout
    );

    phase("provisioned and deployed");
    environment(&tb, "prod", "[web]\nhost1\n\n[db]\nhost1\n");
    environment(&tb, "staging", "[web]\nhost2\n\n[db]\nhost2\n");

    // 1. Round trip: rows written through nginx and files in shared/, backed up.
    for body in ["alice@example.org wrote this", "bob second note"] {
        add_note(&tb, "host1", body);
    }
    sh(
        &tb,
        "host1",
        "mkdir -p /srv/app/shared/data/uploads && printf 'photo bytes\\0\\1' > /srv/app/shared/data/uploads/p1.jpg \
         && echo keep > /srv/app/shared/data/notes.txt && chmod 0640 /srv/app/shared/data/notes.txt && chown -R app /srv/app/shared/data",
    );
    let before = data(&tb, "host1");
    assert!(before.0.contains("bob second note"), "{}", before.0);
    // While it runs, `ps` on the host is sampled: the password is on no command line.
    sh(
        &tb,
        "host1",
        "rm -f /tmp/ps.stop /tmp/ps.log; (while [ ! -e /tmp/ps.stop ]; do ps -eo args >> /tmp/ps.log; sleep 0.02; done) >/dev/null 2>&1 &",
    );
    let backup = tb.opsctl(&["backup", "--env", "prod"]);
    sh(&tb, "host1", "touch /tmp/ps.stop; sleep 0.2");
    backup.code(0).no_panic().stdout_has("made on host1");
    no_secret(&backup);
    let release = sh(&tb, "host1", "basename $(readlink /srv/app/current)");
    backup.stdout_has(&format!("release {release} (commit {}, ref A)", &a[..7]));
    let ps = sh(&tb, "host1", "cat /tmp/ps.log");
    assert!(
        ps.contains("opsctl-backup run"),
        "the sampler missed the backup"
    );
    assert!(
        !ps.contains(BACKUP_PASSWORD) && !ps.contains("pg-Secret"),
        "{ps}"
    );
    let listed = snapshots(&tb, "prod");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let first = listed[0]["id"].as_str().unwrap().to_string();
    assert_eq!(listed[0]["release"], release.as_str());
    assert_eq!(listed[0]["commit"], &a[..7]);
    assert_eq!(listed[0]["env"], "prod");
    assert!(listed[0]["size"].as_u64().unwrap() > 1000, "{listed:?}");
    let text = tb.opsctl(&["backups", "--env", "prod"]);
    text.code(0).stdout_has(&first).stdout_has(&release);
    // The record inside the snapshot: what was live, and this run's id.
    let record = sh(
        &tb,
        "host1",
        &format!("opsctl-backup fetch {first} && opsctl-backup clean"),
    );
    let run_id = std::fs::read_dir(tb.project.path().join(".opsctl/runs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| record.contains(n.trim_end_matches(".jsonl")))
        .count();
    assert_eq!(
        run_id, 1,
        "the record names no run of .opsctl/runs: {record}"
    );
    assert!(record.contains(&format!("\"commit\": \"{a}\"")), "{record}");

    // Changes after the backup: rows changed, deleted and added, files changed,
    // deleted and added.
    sh(
        &tb,
        "host1",
        "cd / && su postgres -c \"psql -XAtq -d app -c \\\"update notes set body = 'changed' where id = 1\\\" -c 'delete from notes where id = 2'\"",
    );
    add_note(&tb, "host1", "written after the backup");
    sh(
        &tb,
        "host1",
        "rm /srv/app/shared/data/uploads/p1.jpg && echo other > /srv/app/shared/data/notes.txt && echo new > /srv/app/shared/data/new.txt",
    );
    assert_ne!(data(&tb, "host1"), before);

    // Without --yes and without a terminal (CI): refused, nothing changed.
    let refused = tb.opsctl(&["restore", "--env", "prod"]);
    refused
        .code(1)
        .stderr_has("refusing without --yes, as there is no terminal to ask");
    let changed = data(&tb, "host1");
    assert_ne!(changed, before);

    let restored = tb.opsctl(&["restore", "--env", "prod", &first, "--yes"]);
    restored
        .code(0)
        .no_panic()
        .stdout_has("restore of snapshot")
        .stdout_has("host1: maintenance page on (503) while the programs are stopped");
    no_secret(&restored);
    // ... and off again after it.
    tb.exec("host1", "test ! -e /var/lib/opsctl/maintenance/index.html")
        .code(0);
    assert_eq!(data(&tb, "host1"), before, "{}", restored.stdout);
    let notes = api(&tb, "host1", "notes");
    assert!(
        notes.contains("bob second note") && !notes.contains("after the backup"),
        "{notes}"
    );

    phase("round trip done");
    // 2. A corrupted snapshot: a second backup whose new pack files are damaged.
    // Its restore fails before anything is replaced: the live database and the
    // site are as they were.
    add_note(&tb, "host1", "only in the damaged snapshot");
    sh(&tb, "host1", "touch /tmp/before-second");
    tb.opsctl(&["backup", "--env", "prod"]).code(0);
    let second = snapshots(&tb, "prod")[1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    sh(
        &tb,
        "host1",
        "n=0; for f in $(find /var/backups/opsctl-restic/data -type f -newer /tmp/before-second); do \
         printf 'damage' | dd of=$f bs=1 seek=64 conv=notrunc 2>/dev/null; n=$((n+1)); done; test $n -gt 0; \
         rm -rf /var/cache/opsctl-backup/restic",
    );
    add_note(&tb, "host1", "written after the damaged backup");
    let live = data(&tb, "host1");
    let bad = tb.opsctl(&["restore", "--env", "prod", &second, "--yes"]);
    bad.code(2).no_panic().stderr_has("nothing was replaced");
    no_secret(&bad);
    assert_eq!(data(&tb, "host1"), live, "{}", bad.stderr);
    let notes = api(&tb, "host1", "notes");
    assert!(
        notes.contains("written after the damaged backup"),
        "{notes}"
    );
    sh(
        &tb,
        "host1",
        "supervisorctl status app-api | grep -q RUNNING",
    );
    let dbs = sh(
        &tb,
        "host1",
        "cd / && su postgres -c 'psql -XAtq -l' | cut -d'|' -f1",
    );
    assert!(!dbs.contains("app_restore"), "{dbs}");

    phase("corrupted snapshot done");
    // 3. The timer's command (cron here) after snapshots of other days (restic
    // --time): backup then prune, recorded for status; the policy (2 daily,
    // 2 weekly, 3 monthly) keeps today's newest, 2020-02-06's newest (daily and
    // weekly) and 2020-01-20 (monthly).
    let job = cron
        .lines()
        .find(|l| l.contains("opsctl-backup nightly"))
        .unwrap()
        .split_whitespace()
        .skip(5)
        .collect::<Vec<_>>()
        .join(" ");
    // The damaged packs go first (a real repository would be repaired or replaced).
    sh(
        &tb,
        "host1",
        &format!(
            "rm -rf /var/backups/opsctl-restic && opsctl-backup init >/dev/null && \
        for t in '2020-01-10 03:00:00' '2020-01-20 03:00:00' '2020-02-05 03:00:00' '2020-02-06 03:00:00' '2020-02-06 12:00:00'; do \
        opsctl-backup run --time \"$t\" >/dev/null || exit 1; done; {job}"
        ),
    );
    let kept = snapshots(&tb, "prod");
    let times: Vec<&str> = kept.iter().map(|s| s["time"].as_str().unwrap()).collect();
    assert_eq!(times.len(), 3, "{kept:?}");
    assert_eq!(
        &times[..2],
        ["2020-01-20T03:00:00Z", "2020-02-06T12:00:00Z"],
        "{kept:?}"
    );
    assert_eq!(kept[2]["release"], release.as_str());
    let last = sh(&tb, "host1", "cat /var/lib/opsctl-backup/last-run.json");
    assert!(
        last.contains("\"result\": \"ok\"")
            && last.contains("\"prune\": \"ok\"")
            && last.contains("\"trigger\": \"timer\""),
        "{last}"
    );
    let status = tb.opsctl(&["status", "--env", "prod"]);
    status
        .code(0)
        .stdout_has("last good backup")
        .stdout_has(kept[2]["id"].as_str().unwrap());
    no_secret(&status);
    // A good backup older than a day needs attention.
    sh(
        &tb,
        "host1",
        "sed -i 's/\"time\": \"[^\"]*\"/\"time\": \"2020-02-06T12:00:00Z\"/' /var/lib/opsctl-backup/last-ok.json",
    );
    let stale = tb.opsctl(&["status", "--env", "prod"]);
    stale
        .code(2)
        .stdout_has("the last good backup is older than a day");

    phase("timer, prune and status done");
    // 4. prod's data into staging, anonymized before staging serves it.
    add_note(&tb, "host2", "staging own note");
    tb.opsctl(&["backup", "--env", "prod"]).code(0);
    let copy = tb.opsctl(&[
        "restore",
        "--env",
        "staging",
        "--from",
        "prod",
        "--anonymize",
        "cd api && ../venv/bin/python -m app.anonymize",
        "--yes",
    ]);
    copy.code(0).no_panic().stdout_has("through this machine");
    no_secret(&copy);
    let prod_notes = api(&tb, "host1", "notes");
    let staging_notes = api(&tb, "host2", "notes");
    let count = |s: &str| s.matches("\"id\"").count();
    assert_eq!(count(&staging_notes), count(&prod_notes), "{staging_notes}");
    assert!(
        !staging_notes.contains("alice@example.org")
            && !staging_notes.contains("staging own note")
            && staging_notes.contains("\"body\":\"note 1\""),
        "{staging_notes}"
    );
    assert!(prod_notes.contains("alice@example.org"), "{prod_notes}");

    phase("prod into staging done");
    // The password is in no journal of any of these runs.
    for e in walk(&tb.project.path().join(".opsctl")) {
        let text = String::from_utf8_lossy(&std::fs::read(&e).unwrap()).into_owned();
        assert!(
            !text.contains(BACKUP_PASSWORD),
            "{} holds the password",
            e.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
