//! Backups (issue 14, "Backups"): roles/backup in `provision`, `opsctl backup`,
//! `backups`, `restore` (round trip, a corrupted snapshot, the refusal without
//! --yes), the nightly backup's cron job with its retention policy, `status`,
//! and `restore --env staging --from prod --anonymize`: one test-bed run on one
//! pair of hosts on the test bed's network. prod is host1 (web) + host2 (db, the
//! backup host), its restic repository on host1 over sftp; each backup holds
//! host2's database and host1's shared/ files (copied over SSH by host2's key).
//! Then host1 alone becomes staging (its own database, a local repository).
//! The systemd timer: one systemd db host of its own, the db and backup roles only.

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

/// The app's data: its rows on the db host (a sorted data-only dump) and the
/// files of shared/data on the web host (names, modes, owners and sha256).
fn data(tb: &Testbed, db: &str, web: &str) -> (String, String) {
    let rows = sh(
        tb,
        db,
        "cd / && su postgres -c 'pg_dump --data-only --inserts app' | grep -v -e '^--' -e '^SET ' -e '^SELECT pg_catalog.set_config' -e '^.restrict ' -e '^.unrestrict ' -e '^$' | sort",
    );
    let files = sh(
        tb,
        web,
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

/// `opsctl backups --env ENV --output json`: (id, time, release, commit, size, files).
fn snapshots(tb: &Testbed, env: &str) -> Vec<serde_json::Value> {
    let r = tb.opsctl(&["backups", "--env", env, "--output", "json"]);
    r.code(0).no_panic();
    no_secret(&r);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The recap line of `host` says changed=0.
#[track_caller]
fn unchanged(run: &Run, host: &str) {
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with(&format!("{host} ")) && l.contains("changed=0")),
        "{}",
        run.stdout
    );
}

/// Prints how long a test has run at each of its phases (read with --nocapture).
pub(crate) fn phases(test: &'static str) -> impl Fn(&str) {
    let start = std::time::Instant::now();
    move |what: &str| eprintln!("{test}: {what} at {:.0}s", start.elapsed().as_secs_f64())
}

/// The pair of the test bed's network that backs up: host1 the web host, host2
/// the db host (and backup host), the app's repository (`A`'s commit) in the
/// returned directory, `web_yml` and `all_more` (the repository...) in
/// group_vars, `backup_password` in the secrets; each host provisioned but for
/// roles/backup (the caller provisions the backups).
pub(crate) fn backed_up_pair(
    web_yml: &str,
    backup_password: &str,
    all_more: &str,
) -> (Testbed, tempfile::TempDir, String) {
    let tb = Testbed::up_net(2, &["web=host1", "db=host2"]);
    let app = tempfile::Builder::new()
        .prefix("opsctl-app-")
        .tempdir()
        .unwrap();
    let a = app_repo(app.path());
    with_stack(&tb, web_yml, app.path());
    with_db_secrets(&tb, "[web]\nhost1\n\n[db]\nhost2\n");
    tb.opsctl_stdin(
        &["secrets", "set", "--env", "tb", "backup_password"],
        &format!("{backup_password}\n"),
    )
    .code(0);
    let all = tb.read("environments/tb/group_vars/all.yml");
    tb.write(
        "environments/tb/group_vars/all.yml",
        &format!("{all}{all_more}"),
    );
    // Each host's long part alone first: a master connection idle for more than
    // its ControlPersist (120 s; the db host while the web host installs, on a
    // loaded machine) is lost mid-run (src/transport/ssh.rs).
    for limit in ["host2", "host1"] {
        let part = tb.opsctl(&[
            "provision",
            "--env",
            "tb",
            "--limit",
            limit,
            "--skip-tags",
            "backup",
        ]);
        part.code(0).no_panic();
    }
    (tb, app, a)
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn backup_restore_timer_prune_and_copy_to_staging() {
    let phase = phases("backups test");
    // The repository on the web host, over sftp (as user backup, whom the role
    // makes there); a retention policy the prune below checks. Then all of
    // provision, the backups too.
    let (tb, _app, a) = backed_up_pair(
        "tls_enabled: false\n",
        BACKUP_PASSWORD,
        "backup_repository: sftp:backup@host1:/srv/restic/prod\nbackup_env: prod\n\
         backup_keep_daily: 2\nbackup_keep_weekly: 2\nbackup_keep_monthly: 3\n",
    );
    let prov = tb.opsctl(&["provision", "--env", "tb"]);
    prov.code(0).no_panic();
    no_secret(&prov);
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"]);
    dep.code(0).no_panic();
    phase("provisioned and deployed");
    // The backup host: its settings and password root's, 0600; its SSH key and
    // known_hosts pinned with host1's own host key; the cron job (plain hosts
    // have no systemd).
    assert_eq!(
        sh(
            &tb,
            "host2",
            "stat -c '%a %U' /etc/opsctl-backup/password /etc/opsctl-backup/config /etc/opsctl-backup/ssh/id_ed25519"
        ),
        "600 root\n600 root\n600 root"
    );
    let host_key = sh(
        &tb,
        "host1",
        "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub",
    );
    let known = sh(
        &tb,
        "host2",
        "grep -v '^#' /etc/opsctl-backup/ssh/known_hosts",
    );
    assert_eq!(known, format!("host1 {host_key}"), "{known}");
    let cron = sh(&tb, "host2", "crontab -l");
    assert!(
        cron.contains("15 3 * * * /usr/local/sbin/opsctl-backup nightly"),
        "{cron}"
    );
    // The repository host: the repository is user backup's; that user's key is
    // for sftp only, and root's lets the backup host copy shared/ only.
    assert_eq!(
        sh(
            &tb,
            "host1",
            "stat -c '%a %U' /srv/restic/prod; test -f /srv/restic/prod/config && echo init"
        ),
        "700 backup\ninit"
    );
    let keys = sh(
        &tb,
        "host1",
        "grep opsctl-backup@host2 /root/.ssh/authorized_keys /var/lib/backup/.ssh/authorized_keys",
    );
    assert!(
        keys.contains("root/.ssh/authorized_keys:restrict,command=\"/usr/local/sbin/opsctl-backup peer /srv/app\" ssh-ed25519")
            && keys.contains("backup/.ssh/authorized_keys:restrict,command=\"/usr/lib/openssh/sftp-server\" ssh-ed25519"),
        "{keys}"
    );
    let shell = tb.exec(
        "host2",
        "ssh -F /etc/opsctl-backup/ssh/config root@host1 id; ssh -F /etc/opsctl-backup/ssh/config root@host1 cat /etc/shadow",
    );
    assert!(
        shell.code != 0
            && !shell.stdout.contains("uid=")
            && !shell.stdout.contains("root:")
            && shell.stderr.contains("refused"),
        "{shell:?}"
    );
    let again = tb.opsctl(&["provision", "--env", "tb", "--tags", "backup"]);
    again.code(0);
    unchanged(&again, "host1");
    unchanged(&again, "host2");

    environment(&tb, "prod", "[web]\nhost1\n\n[db]\nhost2\n");

    // 1. Round trip: rows written through nginx (into host2's database) and
    // files in host1's shared/, backed up.
    for body in ["alice@example.org wrote this", "bob second note"] {
        add_note(&tb, "host1", body);
    }
    sh(
        &tb,
        "host1",
        "mkdir -p /srv/app/shared/data/uploads && printf 'photo bytes\\0\\1' > /srv/app/shared/data/uploads/p1.jpg \
         && echo keep > /srv/app/shared/data/notes.txt && chmod 0640 /srv/app/shared/data/notes.txt && chown -R app /srv/app/shared/data",
    );
    let before = data(&tb, "host2", "host1");
    assert!(before.0.contains("bob second note"), "{}", before.0);
    assert!(
        before.1.contains("./uploads/p1.jpg 644 app"),
        "{}",
        before.1
    );
    // While it runs, `ps` on both hosts is sampled: the password is on no command line.
    let sampler = "rm -f /tmp/ps.stop /tmp/ps.log; (while [ ! -e /tmp/ps.stop ]; do ps -eo args >> /tmp/ps.log; sleep 0.02; done) >/dev/null 2>&1 &";
    sh(&tb, "host1", sampler);
    sh(&tb, "host2", sampler);
    let backup = tb.opsctl(&["backup", "--env", "prod"]);
    for h in ["host1", "host2"] {
        sh(&tb, h, "touch /tmp/ps.stop; sleep 0.2");
    }
    backup.code(0).no_panic().stdout_has("made on host2");
    no_secret(&backup);
    let release = sh(&tb, "host1", "basename $(readlink /srv/app/current)");
    backup.stdout_has(&format!("release {release} (commit {}, ref A)", &a[..7]));
    let ps = sh(&tb, "host2", "cat /tmp/ps.log") + &sh(&tb, "host1", "cat /tmp/ps.log");
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
    assert_eq!(listed[0]["files"], serde_json::json!(["host1"]));
    assert!(listed[0]["size"].as_u64().unwrap() > 1000, "{listed:?}");
    let text = tb.opsctl(&["backups", "--env", "prod"]);
    text.code(0).stdout_has(&first).stdout_has(&release);
    // The record inside the snapshot: what was live, this run's id, and host1's
    // files beside the dump.
    let record = sh(
        &tb,
        "host2",
        &format!(
            "opsctl-backup fetch {first} && ls /var/lib/opsctl-backup/restore/var/lib/opsctl-backup/files/host1/data/uploads && opsctl-backup clean"
        ),
    );
    assert!(
        record.contains("\"web\": \"host1=/var/lib/opsctl-backup/files/host1\"")
            && record.ends_with("p1.jpg"),
        "{record}"
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
        "host2",
        "cd / && su postgres -c \"psql -XAtq -d app -c \\\"update notes set body = 'changed' where id = 1\\\" -c 'delete from notes where id = 2'\"",
    );
    add_note(&tb, "host1", "written after the backup");
    sh(
        &tb,
        "host1",
        "rm /srv/app/shared/data/uploads/p1.jpg && echo other > /srv/app/shared/data/notes.txt && echo new > /srv/app/shared/data/new.txt",
    );
    assert_ne!(data(&tb, "host2", "host1"), before);

    // Without --yes and without a terminal (CI): refused, nothing changed.
    let refused = tb.opsctl(&["restore", "--env", "prod"]);
    refused
        .code(1)
        .stderr_has("refusing without --yes, as there is no terminal to ask");
    assert_ne!(data(&tb, "host2", "host1"), before);

    let restored = tb.opsctl(&["restore", "--env", "prod", &first, "--yes"]);
    restored
        .code(0)
        .no_panic()
        .stdout_has("restore of snapshot")
        .stdout_has("host1: maintenance page on (503) while the programs are stopped")
        .stdout_has("host1: files restored into /srv/app/shared (host1's)");
    no_secret(&restored);
    // ... and off again after it.
    tb.exec("host1", "test ! -e /var/lib/opsctl/maintenance/index.html")
        .code(0);
    assert_eq!(data(&tb, "host2", "host1"), before, "{}", restored.stdout);
    let notes = api(&tb, "host1", "notes");
    assert!(
        notes.contains("bob second note") && !notes.contains("after the backup"),
        "{notes}"
    );

    phase("round trip done");
    // 2. A corrupted snapshot: a second backup whose new pack files (on host1,
    // the repository's host) are damaged. Its restore fails before anything is
    // replaced: the live database and the site are as they were.
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
        "n=0; for f in $(find /srv/restic/prod/data -type f -newer /tmp/before-second); do \
         printf 'damage' | dd of=$f bs=1 seek=64 conv=notrunc 2>/dev/null; n=$((n+1)); done; test $n -gt 0",
    );
    sh(&tb, "host2", "rm -rf /var/cache/opsctl-backup/restic");
    add_note(&tb, "host1", "written after the damaged backup");
    let live = data(&tb, "host2", "host1");
    let bad = tb.opsctl(&["restore", "--env", "prod", &second, "--yes"]);
    bad.code(2).no_panic().stderr_has("nothing was replaced");
    no_secret(&bad);
    assert_eq!(data(&tb, "host2", "host1"), live, "{}", bad.stderr);
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
        "host2",
        "cd / && su postgres -c 'psql -XAtq -l' | cut -d'|' -f1",
    );
    assert!(!dbs.contains("app_restore"), "{dbs}");

    phase("corrupted snapshot done");
    // 3. The nightly job (cron's command) after snapshots of other days (restic --time):
    // backup then prune, recorded for status; the policy (2 daily, 2 weekly,
    // 3 monthly) keeps today's, 2020-02-06's newest (daily and weekly) and
    // 2020-01-20 (monthly). The damaged packs go first (a real repository
    // would be repaired or replaced).
    let job = cron
        .lines()
        .find(|l| l.contains("opsctl-backup nightly"))
        .unwrap()
        .split_whitespace()
        .skip(5)
        .collect::<Vec<_>>()
        .join(" ");
    sh(&tb, "host1", "rm -rf /srv/restic/prod/*");
    sh(
        &tb,
        "host2",
        &format!(
            "opsctl-backup init >/dev/null && \
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
    // The timer's backup asked host1 what is live, and holds its files.
    assert_eq!(kept[2]["release"], release.as_str());
    assert_eq!(kept[2]["commit"], &a[..7]);
    assert_eq!(kept[2]["files"], serde_json::json!(["host1"]));
    let last = sh(&tb, "host2", "cat /var/lib/opsctl-backup/last-run.json");
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
        .stdout_has(&format!("(snapshot {},", kept[2]["id"].as_str().unwrap()));
    no_secret(&status);
    // A good backup older than a day needs attention.
    sh(
        &tb,
        "host2",
        "sed -i 's/\"time\": \"[^\"]*\"/\"time\": \"2020-02-06T12:00:00Z\"/' /var/lib/opsctl-backup/last-ok.json",
    );
    let stale = tb.opsctl(&["status", "--env", "prod"]);
    stale
        .code(2)
        .stdout_has("the last good backup is older than a day");

    phase("timer, prune and status done");
    // 4. host1 becomes staging on its own (its own database, a local repository,
    // the nightly backup by cron); prod's data comes in anonymized before
    // staging serves it.
    let prod_rows = sh(
        &tb,
        "host2",
        "cd / && su postgres -c \"psql -XAtq -d app -c 'select count(*) from notes'\"",
    );
    // A fresh host for staging: prod's programs stopped and its releases gone
    // (else the restore would switch to the snapshot's release, whose .env
    // names prod's database).
    sh(
        &tb,
        "host1",
        "supervisorctl stop app-api app-client >/dev/null; rm -rf /srv/app/releases /srv/app/current /srv/app/releases.log",
    );
    environment(&tb, "staging", "[web]\nhost1\n\n[db]\nhost1\n");
    let all = tb
        .read("environments/staging/group_vars/all.yml")
        .replace(
            "sftp:backup@host1:/srv/restic/prod",
            "/var/backups/opsctl-restic",
        )
        .replace("backup_env: prod", "backup_env: staging");
    tb.write("environments/staging/group_vars/all.yml", &all);
    tb.opsctl(&["provision", "--env", "staging"])
        .code(0)
        .no_panic();
    tb.opsctl(&["deploy", "--env", "staging", "--git-version", "A"])
        .code(0)
        .no_panic();
    phase("staging provisioned");

    add_note(&tb, "host1", "staging own note");
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
    copy.stdout_has("files restored into /srv/app/shared (host1's)");
    let staging_notes = api(&tb, "host1", "notes");
    let count = |s: &str| s.matches("\"id\"").count();
    assert_eq!(
        count(&staging_notes).to_string(),
        prod_rows,
        "{staging_notes}"
    );
    assert!(
        !staging_notes.contains("alice@example.org")
            && !staging_notes.contains("staging own note")
            && staging_notes.contains("\"body\":\"note 1\""),
        "{staging_notes}"
    );
    // prod's database is as it was (not anonymized); its files (host1's,
    // backed up by host2) are staging's host1's now.
    let prod_notes = sh(
        &tb,
        "host2",
        "cd / && su postgres -c \"psql -XAtq -d app -c 'select body from notes order by id'\"",
    );
    assert!(prod_notes.contains("alice@example.org"), "{prod_notes}");
    assert_eq!(data(&tb, "host1", "host1").1, before.1);
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

/// The nightly backup on a systemd host: the timer enabled and active, its
/// service (what the timer starts) makes a snapshot, prunes and records it, and
/// `status` shows it. A db host of its own; the db and backup roles only.
#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn nightly_backup_by_the_systemd_timer() {
    let tb = Testbed::up_kind(1, "systemd");
    crate::stack::with_roles(&tb);
    with_db_secrets(&tb, "[db]\nhost1\n");
    tb.opsctl_stdin(
        &["secrets", "set", "--env", "tb", "backup_password"],
        &format!("{BACKUP_PASSWORD}\n"),
    )
    .code(0);
    tb.write(
        "environments/tb/group_vars/all.yml",
        "backup_repository: /var/backups/opsctl-restic\nbackup_env: prod\n",
    );
    let prov = tb.opsctl(&["provision", "--env", "tb", "--tags", "postgresql,backup"]);
    prov.code(0).no_panic();
    no_secret(&prov);
    assert_eq!(
        sh(
            &tb,
            "host1",
            "systemctl is-enabled opsctl-backup.timer; systemctl is-active opsctl-backup.timer; \
             systemctl show -p TimersCalendar --value opsctl-backup.timer | grep -c '03:15:00'; \
             crontab -l 2>/dev/null | grep -c opsctl-backup || true"
        ),
        "enabled\nactive\n1\n0"
    );
    sh(&tb, "host1", "systemctl start opsctl-backup.service");
    assert_eq!(
        sh(
            &tb,
            "host1",
            "systemctl show -p Result --value opsctl-backup.service"
        ),
        "success"
    );
    let listed = snapshots(&tb, "tb");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["env"], "prod");
    let id = listed[0]["id"].as_str().unwrap();
    let last = sh(&tb, "host1", "cat /var/lib/opsctl-backup/last-run.json");
    assert!(
        last.contains("\"result\": \"ok\"")
            && last.contains("\"prune\": \"ok\"")
            && last.contains("\"trigger\": \"timer\"")
            && last.contains(id),
        "{last}"
    );
    let status = tb.opsctl(&["status", "--env", "tb"]);
    status
        .no_panic()
        .stdout_has("last good backup")
        .stdout_has(&format!("(snapshot {id},"));
    no_secret(&status);
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
