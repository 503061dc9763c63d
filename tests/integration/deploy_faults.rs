//! Deploys that survive faults (issue 12, items 11 and 12), on one provisioned
//! test-bed host, through the real binary:
//! - a full disk (a small tmpfs over `releases/`): the error names "No space left
//!   on device" and no partial release is left;
//! - a deploy SIGKILLed after the switch, during its health check (the app's
//!   /api/version blocks until a file appears: the test waits for the request,
//!   then kills opsctl by its PID): `status` reports the stale lock and the
//!   unlogged release (exit 2) and, its holder being provably dead, takes the
//!   lock over, health-checks the live release and logs it ok; the next deploy
//!   does the same (C, killed the same way, fails its check: back to B, C logged
//!   bad), then has nothing to do;
//! - the same kill before a `rollback` and before an `initdata`: `deploy --check`
//!   names the stale lock and what the real run would do about it (changing
//!   nothing), then `rollback` (and `initdata`) take the lock over, health-check
//!   the release the dead deploy left live and log it, and only then do their job;
//!   a whole deploy, and a whole rollback, use one SSH connection per host.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{OPSCTL, Testbed, git, repo};
use crate::stack::{copy_dir, edit, releases, sh, with_stack};

/// The app at A; B and C (on B) whose /api/version, when first asked, writes
/// /tmp/asked-<tag> and waits for /tmp/go-<tag>; C then answers a wrong commit
/// (its health check fails). Returns (A, B, C).
fn app_repo(dir: &Path) -> [String; 3] {
    copy_dir(&repo().join("examples/app"), dir);
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "A"]);
    git(dir, &["tag", "A"]);
    let hook = |tag: &str, answer: &str| {
        format!(
            "@app.get(\"/api/version\")\ndef version():\n    import os, time\n    \
             open(\"/tmp/asked-{tag}\", \"w\").close()\n    \
             while not os.path.exists(\"/tmp/go-{tag}\"):\n        time.sleep(0.1)\n    \
             return {answer}\n\n\n@app.get(\"/api/version-of-a\")"
        )
    };
    let plain = "{\"commit\": settings.get(\"APP_COMMIT\", \"unknown\")}";
    edit(
        dir,
        "api/app/main.py",
        "@app.get(\"/api/version\")",
        &hook("B", plain),
    );
    git(dir, &["commit", "-q", "-am", "B"]);
    git(dir, &["tag", "B"]);
    edit(
        dir,
        "api/app/main.py",
        &hook("B", plain),
        &hook("C", "{\"commit\": \"not the deployed one\"}"),
    );
    git(dir, &["commit", "-q", "-am", "C"]);
    git(dir, &["tag", "C"]);
    ["A", "B", "C"].map(|t| git(dir, &["rev-parse", &format!("{t}^{{commit}}")]))
}

/// Starts `opsctl deploy --git-version REF`, waits until the new release's health
/// check asks /api/version (after the switch), and kills opsctl with SIGKILL.
/// Returns the killed process's PID.
fn kill_during_health_check(tb: &Testbed, git_ref: &str, more: &[&str]) -> u32 {
    kill_deploy_once(tb, git_ref, more, &format!("/tmp/asked-{git_ref}"))
}

/// Starts `opsctl deploy --git-version REF`, waits until the file `asked`
/// appears on host1 (the app makes it when its health check asks), and kills
/// opsctl with SIGKILL. Returns the killed process's PID.
pub(crate) fn kill_deploy_once(tb: &Testbed, git_ref: &str, more: &[&str], asked: &str) -> u32 {
    let mut child = Command::new(OPSCTL)
        .args(["deploy", "--env", "tb", "--git-version", git_ref])
        .args(more)
        .current_dir(tb.project.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // The file appears only when the health check asks (or never, if the deploy
    // fails first: then the wait's exit is checked).
    let wait = tb.exec(
        "host1",
        &format!(
            "i=0; while [ ! -e {asked} ]; do i=$((i+1)); [ $i -lt 3000 ] || exit 1; sleep 0.1; done"
        ),
    );
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(wait.code, 0, "the health check of {git_ref} never came");
    assert!(!status.success());
    pid
}

/// The releases of a commit (by the id's short commit: an unlogged release has
/// no record to give its commit).
fn release_of<'a>(host: &'a serde_json::Value, commit: &str) -> Vec<&'a serde_json::Value> {
    host["releases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"].as_str().unwrap().ends_with(&commit[..7]))
        .collect()
}

/// One test-bed host with the stack provisioned, and the app's repository
/// ([`app_repo`]; keep the directory while the test runs).
fn provisioned() -> (Testbed, tempfile::TempDir, [String; 3]) {
    let tb = Testbed::up(1);
    let app = tempfile::Builder::new()
        .prefix("opsctl-app-")
        .tempdir()
        .unwrap();
    let commits = app_repo(app.path());
    with_stack(&tb, "ansible_user: root\ntls_enabled: false\n", app.path());
    tb.opsctl(&["provision", "--env", "tb"]).code(0).no_panic();
    (tb, app, commits)
}

/// Seconds since the test started, for its log.
fn since(t: std::time::Instant) -> String {
    format!("{:.1}s", t.elapsed().as_secs_f64())
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn deploy_faults_full_disk_and_sigkill_after_the_switch() {
    let t = std::time::Instant::now();
    let (tb, _app, [a, b, c]) = provisioned();
    eprintln!("{} provisioned", since(t));

    // 12. A full disk: a 256 KiB tmpfs over releases/, filled.
    sh(
        &tb,
        "host1",
        "mount -t tmpfs -o size=256k tmpfs /srv/app/releases && \
         { dd if=/dev/zero of=/srv/app/releases/fill bs=4k 2>/dev/null; true; }",
    );
    let full = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"]);
    full.code(2).no_panic().stderr_has("step code");
    let out = format!("{}{}", full.stdout, full.stderr);
    assert!(
        out.contains("No space left on device"),
        "the cause is not named:\n{out}"
    );
    assert!(
        !out.contains("(extract): tar: Exiting with failure status"),
        "{out}"
    );
    let left = sh(&tb, "host1", "ls -A /srv/app/releases");
    assert_eq!(left, "fill", "a partial release is left");
    sh(&tb, "host1", "umount /srv/app/releases");
    eprintln!("{} full disk checked", since(t));

    // 11. A deploy killed after the switch, during its health check.
    tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"])
        .code(0)
        .no_panic();
    let version = sh(&tb, "host1", "curl -fsS http://host1.test/api/version");
    assert!(version.contains(&a), "{version}");
    eprintln!("{} A deployed", since(t));
    let pid = kill_during_health_check(&tb, "B", &[]);
    eprintln!("{} B killed", since(t));
    let hosts = releases(&tb);
    let rel_b = release_of(&hosts[0], &b);
    assert_eq!(rel_b.len(), 1, "{hosts:?}");
    let id_b = rel_b[0]["id"].as_str().unwrap().to_string();
    assert_eq!(hosts[0]["live"].as_str(), Some(id_b.as_str()));
    assert!(rel_b[0]["result"].is_null(), "{hosts:?}");
    assert_eq!(hosts[0]["lock"]["pid"].as_u64(), Some(u64::from(pid)));
    // `status` names both, exit 2, and finishes the job (the lock's holder is
    // provably dead): B, answering now, is health-checked and logged ok.
    sh(&tb, "host1", "touch /tmp/go-B");
    let status = tb.opsctl(&["status", "--env", "tb"]);
    status
        .code(2)
        .no_panic()
        .stdout_has(&format!("release {id_b} is live but not in releases.log"))
        .stdout_has(&format!(
            "stale deploy lock: deploy of release {id_b} (ref B)"
        ))
        .stdout_has(&format!("its process {pid} is gone"))
        .stderr_has("Taking it over")
        .stdout_has(&format!(
            "host1: release {id_b} passes its health checks: logged ok"
        ));
    let hosts = releases(&tb);
    let rel_b = release_of(&hosts[0], &b);
    assert_eq!(rel_b[0]["result"].as_str(), Some("ok"), "{hosts:?}");
    assert!(
        rel_b[0]["note"]
            .as_str()
            .is_some_and(|n| n.contains(&format!("pid {pid}, no longer holds the lock"))),
        "{hosts:?}"
    );
    assert!(hosts[0]["lock"].is_null(), "{hosts:?}");
    let status = tb.opsctl(&["status", "--env", "tb"]);
    assert!(
        !status.stdout.contains("lock") && !status.stdout.contains("not in releases.log"),
        "{}",
        status.stdout
    );
    // B is live and healthy: the next deploy of B has nothing to do.
    tb.opsctl(&["deploy", "--env", "tb", "--git-version", "B"])
        .code(0)
        .no_panic()
        .stdout_has("already live on every host");
    eprintln!("{} B finished", since(t));
    // C is killed the same way, and fails its check: the next deploy goes back
    // to B and logs C bad.
    kill_during_health_check(&tb, "C", &[]);
    eprintln!("{} C killed", since(t));
    sh(&tb, "host1", "touch /tmp/go-C");
    let next = tb.opsctl(&[
        "deploy",
        "--env",
        "tb",
        "--git-version",
        "B",
        "-e",
        "health_check_retries=2",
    ]);
    next.code(0).no_panic().stderr_has("Taking it over");
    let hosts = releases(&tb);
    let rel_c = release_of(&hosts[0], &c);
    let id_c = rel_c[0]["id"].as_str().unwrap();
    next.stdout_has(&format!(
        "host1: release {id_c} fails its health checks: switched back to {id_b} (release {id_c} logged bad)"
    ))
    .stdout_has("already live on every host");
    assert_eq!(rel_c[0]["result"].as_str(), Some("bad"), "{hosts:?}");
    assert_eq!(rel_c[0]["step"].as_str(), Some("health"), "{hosts:?}");
    assert_eq!(hosts[0]["live"].as_str(), Some(id_b.as_str()));
    let version = sh(&tb, "host1", "curl -fsS http://host1.test/api/version");
    assert!(version.contains(&b), "{version}");
    eprintln!("{} C finished", since(t));
}

/// B deployed again (`--force`) and killed during its health check, its check
/// then released: returns (the killed PID, the new live release).
fn kill_b_again(tb: &Testbed) -> (u32, String) {
    sh(tb, "host1", "rm -f /tmp/asked-B /tmp/go-B");
    let pid = kill_during_health_check(tb, "B", &["--force"]);
    let hosts = releases(tb);
    let live = hosts[0]["live"].as_str().unwrap().to_string();
    assert_eq!(hosts[0]["lock"]["pid"].as_u64(), Some(u64::from(pid)));
    (pid, live)
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn rollback_and_initdata_finish_a_dead_deploy_first_and_check_says_so() {
    let t = std::time::Instant::now();
    let (tb, _app, [_, b, _]) = provisioned();
    tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"])
        .code(0)
        .no_panic();
    sh(&tb, "host1", "touch /tmp/go-B");
    tb.opsctl(&["deploy", "--env", "tb", "--git-version", "B"])
        .code(0)
        .no_panic();
    let id_b = releases(&tb)[0]["live"].as_str().unwrap().to_string();
    eprintln!("{} A then B deployed", since(t));

    // A deploy of B killed after its switch; --check says what the real run
    // would do about its lock, and changes nothing.
    let (pid, id_b2) = kill_b_again(&tb);
    assert_ne!(id_b2, id_b);
    let check = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "B", "--check"]);
    check
        .code(0)
        .no_panic()
        .stdout_has(&format!("stale deploy lock: deploy of release {id_b2} (ref B)"))
        .stdout_has(&format!("its process {pid} is gone"))
        .stdout_has(&format!(
            "the real run takes it over and first health-checks the live release {id_b2}: healthy, log it ok; failing, switch back to {id_b}"
        ));
    let hosts = releases(&tb);
    assert_eq!(hosts[0]["lock"]["pid"].as_u64(), Some(u64::from(pid)));
    assert_eq!(hosts[0]["live"].as_str(), Some(id_b2.as_str()));
    sh(&tb, "host1", "touch /tmp/go-B");
    // rollback: B2 is confirmed first (logged ok), then left for B.
    let rollback = tb.opsctl(&["rollback", "--env", "tb"]);
    rollback
        .code(0)
        .no_panic()
        .stderr_has("Taking it over")
        .stdout_has(&format!(
            "host1: release {id_b2} passes its health checks: logged ok"
        ))
        .stdout_has(&format!("rollback host1: {id_b2} -> {id_b}"))
        .stdout_has("rollback done");
    let hosts = releases(&tb);
    assert_eq!(hosts[0]["live"].as_str(), Some(id_b.as_str()), "{hosts:?}");
    assert!(hosts[0]["lock"].is_null(), "{hosts:?}");
    let b2: Vec<_> = release_of(&hosts[0], &b)
        .into_iter()
        .filter(|r| r["id"] == id_b2.as_str())
        .collect();
    assert_eq!(b2[0]["result"].as_str(), Some("rolled-back"), "{hosts:?}");
    eprintln!("{} rollback after a dead deploy", since(t));

    // initdata: the same, then the data goes into the confirmed release.
    let (pid, id_b3) = kill_b_again(&tb);
    sh(&tb, "host1", "touch /tmp/go-B");
    tb.write(
        "environments/tb/initdata.json",
        "{\"notes\": [\"after a takeover\"]}\n",
    );
    let init = tb.opsctl(&[
        "initdata",
        "--env",
        "tb",
        "-e",
        "initdata_src=initdata.json",
    ]);
    init.code(0)
        .no_panic()
        .stderr_has("Taking it over")
        .stderr_has(&format!("its process {pid} is gone"))
        .stdout_has(&format!(
            "host1: release {id_b3} passes its health checks: logged ok"
        ))
        .stdout_has("initdata.json loaded on host1");
    let hosts = releases(&tb);
    assert_eq!(hosts[0]["live"].as_str(), Some(id_b3.as_str()), "{hosts:?}");
    assert!(hosts[0]["lock"].is_null(), "{hosts:?}");
    let shared = sh(&tb, "host1", "cat /srv/app/shared/initdata.json");
    assert!(shared.contains("after a takeover"), "{shared}");
    eprintln!("{} initdata after a dead deploy", since(t));

    // One connection per host for a whole deploy (lock, status, the playbook,
    // unlock) and a whole rollback: every SSH connection of host1 goes through
    // a ProxyCommand that counts it.
    let log = tb.project.path().join("connections.log");
    let cfg = tb.read("environments/tb/ssh_config");
    assert!(cfg.contains("ProxyCommand /usr/bin/nsenter"), "{cfg}");
    let counted = cfg
        .lines()
        .map(|l| match l.trim_start().strip_prefix("ProxyCommand ") {
            Some(cmd) => format!(
                "  ProxyCommand sh -c 'echo connected >> {}; exec {cmd}'",
                log.display()
            ),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    tb.write("environments/tb/ssh_config", &format!("{counted}\n"));
    let connections = || {
        let n = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count();
        let _ = std::fs::remove_file(&log);
        n
    };
    tb.opsctl(&[
        "deploy",
        "--env",
        "tb",
        "--git-version",
        "A",
        "--forks",
        "1",
    ])
    .code(0)
    .no_panic()
    .stdout_has("is live on host1");
    assert_eq!(connections(), 1, "a deploy opens one connection per host");
    tb.opsctl(&["rollback", "--env", "tb"])
        .code(0)
        .no_panic()
        .stdout_has("rollback done");
    assert_eq!(connections(), 1, "a rollback opens one connection per host");
    eprintln!("{} one connection per deploy", since(t));
}
