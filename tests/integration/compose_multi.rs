//! A compose app on two web hosts (issue 17: compose apps with the same safety
//! as a release), one provisioned pair reused throughout, deploying
//! tests/fixtures/compose-app (a SQLite file per host in the data directory;
//! each `migrate` run appends its release to `migrate-runs` there) from a git
//! repository made here:
//! - A, each host migrating its own file (`deploy_migrate_once: false`); then,
//!   as with one shared database, `deploy_migrate_once` unset (a compose app's
//!   default: once) and `deploy_maintenance: auto` with `compose_migrate_check`;
//! - B (a new migration): the check says pending, the maintenance page goes up
//!   on both hosts and down again; the migration service ran once, on host1;
//! - C (no new migration): no page;
//! - E (its version check fails on host2 alone): host1, switched first, goes
//!   back to C's stack, both serve C, E is bad on both, exit 2;
//! - F killed while its new stack waits for its health check on host1 (before
//!   the switch): the next deploy says it removes that stack and leaves only the
//!   live stack running.

use std::path::Path;

use crate::common::{Testbed, git, repo};
use crate::compose::COMPOSE_VARS;
use crate::deploy_faults::kill_deploy_once;
use crate::stack::{all_vars, copy_dir, edit, releases, sh, with_roles};

/// Commits every change in `dir` as `message`, tagged `tag`.
fn tagged(dir: &Path, tag: &str, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["tag", tag]);
}

/// The app's repository; returns the commits of A, B, C, E and F.
fn app_repo(dir: &Path) -> [String; 5] {
    copy_dir(&repo().join("tests/fixtures/compose-app"), dir);
    git(dir, &["init", "-q", "-b", "main"]);
    tagged(dir, "A", "A");
    let notes = "    (\"notes\", \"CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)\"),\n";
    let health = "        if self.path == \"/health\":\n";
    // (tag, made from, app.py's text, replaced by, message)
    let steps = [
        ("B", "A", notes, format!("{notes}    (\"tags\", \"CREATE TABLE IF NOT EXISTS tags (name TEXT)\"),\n"), "B: a new migration"),
        ("C", "B", "import os\n", "import os  # C\n".into(), "C: no new migration"),
        (
            "E",
            "C",
            "self.answer(200, revision())",
            "self.answer(200, \"broken\" if os.path.exists(\"/data/break-version\") else revision())".into(),
            "E: broken where /data/break-version is",
        ),
        (
            "F",
            "C",
            health,
            "        if self.path == \"/health\" and os.path.exists(\"/data/hold-health\"):\n\
             \x20           open(\"/data/asked\", \"w\").close()\n\
             \x20           self.answer(503, \"held\")\n\
             \x20       elif self.path == \"/health\":\n"
                .into(),
            "F: /health held while /data/hold-health is",
        ),
    ];
    for (tag, from, old, new, message) in &steps {
        git(dir, &["checkout", "-q", from]);
        edit(dir, "app.py", old, new);
        tagged(dir, tag, message);
    }
    git(dir, &["checkout", "-q", "main"]);
    ["A", "B", "C", "E", "F"].map(|t| git(dir, &["rev-parse", &format!("{t}^{{commit}}")]))
}

/// group_vars/web.yml of both hosts (with `deploy_migrate_once: false` for A).
fn web_yml() -> String {
    format!(
        "server_name: \"{{{{ inventory_hostname }}}}.test\"\nansible_user: root\n\
         tls_enabled: false\n{COMPOSE_VARS}deploy_maintenance: auto\n\
         compose_migrate_check: python3 /app/app.py migrate --check\n"
    )
}

/// The commit `host` serves through its nginx.
fn version(tb: &Testbed, host: &str) -> String {
    sh(tb, host, &format!("curl -fsS http://{host}.test/version"))
}

/// The compose projects with a container on `host`, sorted.
fn projects(tb: &Testbed, host: &str) -> String {
    sh(
        tb,
        host,
        "docker ps -a --format '{{.Label \"com.docker.compose.project\"}}' | sort -u | paste -sd ' '",
    )
}

/// The live release's compose project on `host`.
fn live_project(tb: &Testbed, host: &str) -> String {
    sh(
        tb,
        host,
        "sed -n 's/^COMPOSE_PROJECT_NAME=//p' /srv/app/current/.env",
    )
}

/// The lines of `migrate-runs` (one per run of the migration service) on both
/// hosts that name a release of `commit`.
fn migration_runs(tb: &Testbed, commit: &str) -> Vec<usize> {
    ["host1", "host2"]
        .iter()
        .map(|h| {
            sh(
                tb,
                h,
                &format!(
                    "grep -c -- '-{}$' /home/app/data/migrate-runs || true",
                    &commit[..7]
                ),
            )
            .parse::<usize>()
            .unwrap()
        })
        .collect()
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn compose_two_hosts_migrate_once_switch_back_pages_and_strays() {
    let t = std::time::Instant::now();
    let since = || format!("{:.1}s", t.elapsed().as_secs_f64());
    let tb = Testbed::up(2);
    let app = tempfile::Builder::new()
        .prefix("opsctl-compose-multi-")
        .tempdir()
        .unwrap();
    let [a, b, c, e, f] = app_repo(app.path());
    with_roles(&tb);
    tb.write(
        "environments/tb/group_vars/web.yml",
        &format!("{}deploy_migrate_once: false\n", web_yml()),
    );
    all_vars(&tb, app.path(), 4);
    tb.opsctl(&["provision", "--env", "tb"]).code(0).no_panic();
    let base = std::fs::read_to_string(repo().join("tests/testbed/docker-base-image.sh")).unwrap();
    for h in ["host1", "host2"] {
        sh(
            &tb,
            h,
            &format!("cat > /tmp/base.sh <<'OPSCTL_EOF'\n{base}OPSCTL_EOF\nbash /tmp/base.sh"),
        );
    }
    eprintln!("{} provisioned", since());

    // A: each host migrates its own file (deploy_migrate_once: false).
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"]);
    dep.code(0).no_panic();
    assert_eq!(migration_runs(&tb, &a), vec![1, 1]);
    assert_eq!(
        (version(&tb, "host1"), version(&tb, "host2")),
        (a.clone(), a.clone())
    );
    // From here one database as far as the rollout knows: the default, once.
    tb.write("environments/tb/group_vars/web.yml", &web_yml());
    eprintln!("{} A live", since());

    // B has a migration to run: the page goes up on both hosts before it and
    // down after the switch; the migration service ran once, on host1.
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "B"]);
    dep.code(0)
        .no_panic()
        .stdout_has("host1 | maintenance page on")
        .stdout_has("host2 | maintenance page on")
        .stdout_has("host1 | maintenance page off")
        .stdout_has("host2 | maintenance page off");
    assert_eq!(migration_runs(&tb, &b), vec![1, 0]);
    assert_eq!(
        (version(&tb, "host1"), version(&tb, "host2")),
        (b.clone(), b.clone())
    );
    sh(
        &tb,
        "host1",
        "! test -e /var/lib/opsctl/maintenance/index.html",
    );
    eprintln!("{} B live", since());

    // C: nothing pending, no page; still one migration run, and only the live
    // stack runs on each host (the previous one removed once both switched).
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "C"]);
    dep.code(0).no_panic().stdout_has("is live on host1, host2");
    assert!(
        !dep.stdout.contains("maintenance page on"),
        "{}",
        dep.stdout
    );
    assert_eq!(migration_runs(&tb, &c), vec![1, 0]);
    let live_c = [live_project(&tb, "host1"), live_project(&tb, "host2")];
    for (h, p) in ["host1", "host2"].iter().zip(&live_c) {
        assert_eq!(projects(&tb, h), *p, "{h}");
    }
    eprintln!("{} C live", since());

    // E fails its version check on host2 alone: host1 (the canary, switched and
    // healthy) goes back to C's stack; both serve C; E is bad on both.
    sh(&tb, "host2", "touch /home/app/data/break-version");
    let fail = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "E"]);
    fail.code(2)
        .no_panic()
        .stdout_has("host1 | release ")
        .stdout_has("switching host1 back")
        .stdout_has("host1 | switched back to ")
        .stderr_has("host2 (step health");
    sh(&tb, "host2", "rm /home/app/data/break-version");
    assert_eq!(
        (version(&tb, "host1"), version(&tb, "host2")),
        (c.clone(), c.clone())
    );
    for (h, p) in ["host1", "host2"].iter().zip(&live_c) {
        assert_eq!(&live_project(&tb, h), p, "{h}");
        assert_eq!(projects(&tb, h), *p, "{h}: E's stack is gone");
    }
    let hosts = releases(&tb);
    for host in &hosts {
        let last = host["releases"]
            .as_array()
            .unwrap()
            .iter()
            .rfind(|r| r["commit"] == e.as_str())
            .unwrap_or_else(|| panic!("no record of E: {host}"));
        assert_eq!(last["result"], "bad", "{host}");
    }
    eprintln!("{} E failed, C live again", since());

    // F killed while its stack, started on host1, waits for its health check
    // (before the switch): that stack is left running beside C's.
    sh(
        &tb,
        "host1",
        "rm -f /home/app/data/asked; touch /home/app/data/hold-health",
    );
    kill_deploy_once(&tb, "F", &[], "/home/app/data/asked");
    sh(&tb, "host1", "rm /home/app/data/hold-health");
    let stray = sh(
        &tb,
        "host1",
        &format!("ls /srv/app/releases | grep -- '-{}$'", &f[..7]),
    );
    let mut both = [format!("app-{stray}"), live_c[0].clone()];
    both.sort();
    assert_eq!(
        projects(&tb, "host1"),
        both.join(" "),
        "the killed deploy's stack runs beside the live one"
    );
    assert_eq!(version(&tb, "host1"), c);
    eprintln!("{} F killed before its switch", since());

    // The next deploy takes the dead deploy's lock over, removes that stack
    // (saying so), and deploys F: only F's new stack runs on each host.
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "F"]);
    dep.code(0).no_panic().stdout_has(&format!(
        "host1 | removed the stack of release {stray} (started before its switch, never live)"
    ));
    assert_eq!(
        (version(&tb, "host1"), version(&tb, "host2")),
        (f.clone(), f.clone())
    );
    for h in ["host1", "host2"] {
        let live = live_project(&tb, h);
        assert_ne!(live, format!("app-{stray}"));
        assert_eq!(projects(&tb, h), live, "{h}");
    }
    eprintln!("{} F live, the stray stack removed", since());
}
