//! Deploying to more than one host (issue 13), run by
//! `stack::stack_two_hosts_get_the_same_release` on its two provisioned web
//! hosts (host1 also the db host: one PostgreSQL for both), through the real
//! binary:
//! - B with `deploy_serial: 1`: the migrations run once (a `migrate_command`
//!   that appends to a file counts the runs), the canary host1 switches and is
//!   health-checked before host2 switches (the output's order and the `current`
//!   links' times on the hosts); the hooks run with their variables, on the
//!   controller and on the hosts (`run_once` on the first only);
//! - E, whose health check fails on host2 alone: host1 is switched back, both
//!   serve B, E is logged bad on both, the `failed` hook runs, exit 2;
//! - a failing `before` hook: nothing is built or switched;
//! - `opsctl rollback` runs the hooks (a failing `before` switches nothing);
//! - the webhook (a loopback HTTP listener here, the controller) gets one JSON
//!   per deploy and rollback with the right fields, and its URL (a secret) is in
//!   no output and no file of the run journal.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::common::{Run, Testbed, git};
use crate::stack::{edit, releases, sh};

/// A loopback HTTP listener: every POST's body, parsed as JSON.
fn listener() -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let keep = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_ok() {
                let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                keep.lock().unwrap().push(v);
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (port, got)
}

/// The live commit of `host` through its nginx.
fn version(tb: &Testbed, host: &str) -> String {
    sh(
        tb,
        host,
        &format!("curl -fsS http://{host}.test/api/version"),
    )
}

/// How many times the migrations ran, on both hosts together.
fn migrations(tb: &Testbed) -> usize {
    ["host1", "host2"]
        .iter()
        .map(|h| {
            sh(
                tb,
                h,
                "cat /srv/app/shared/migrate-runs 2>/dev/null | wc -l",
            )
            .parse::<usize>()
            .unwrap()
        })
        .sum()
}

/// E: B with an /api/version that answers a wrong commit while /tmp/unhealthy
/// exists (the test makes it on host2 only). Returns its commit.
fn unhealthy_release(app: &Path) -> String {
    git(app, &["checkout", "-q", "-b", "e", "B"]);
    edit(
        app,
        "api/app/main.py",
        "def version():\n",
        "def version():\n    import os\n    if os.path.exists(\"/tmp/unhealthy\"):\n        return {\"commit\": \"unhealthy\"}\n",
    );
    git(
        app,
        &[
            "commit",
            "-q",
            "-am",
            "E: unhealthy where /tmp/unhealthy exists",
        ],
    );
    git(app, &["checkout", "-q", "main"]);
    git(app, &["rev-parse", "e"])
}

const WEB_YML: &str = "deploy_serial: 1\nhealth_check_retries: 4\n\
migrate_command: \"echo {{ inventory_hostname }} >> {{ app_root }}/shared/migrate-runs && {{ release_dir }}/venv/bin/python -m app.migrate\"\n\
deploy_hooks:\n\
\x20 before:\n\
\x20   - local: echo \"before $OPSCTL_RELEASE $OPSCTL_COMMIT $OPSCTL_REF $OPSCTL_ENV\" >> hooks.log; echo said before\n\
\x20   - remote: echo \"remote before $OPSCTL_REF\" >> /tmp/hooks.log\n\
\x20 after:\n\
\x20   - local: echo \"after $OPSCTL_RESULT $OPSCTL_HOSTS\" >> hooks.log\n\
\x20   - remote: echo \"remote after $OPSCTL_COMMIT\" >> /tmp/hooks.log\n\
\x20     run_once: true\n\
\x20 failed:\n\
\x20   - local: echo \"failed $OPSCTL_RELEASE $OPSCTL_RESULT\" >> hooks.log\n";

/// The whole rollout story on `tb` (two web hosts serving one release; `base`
/// the group_vars/web.yml the stack test wrote).
pub(crate) fn rollout(tb: &Testbed, app: &Path, base: &str) {
    let started = std::time::Instant::now();
    let b = git(app, &["rev-parse", "B"]);
    let e = unhealthy_release(app);
    let (port, got) = listener();
    let token = "hook-Secret-7f3a9c";
    let url = format!("http://127.0.0.1:{port}/{token}");
    tb.opsctl_stdin(
        &["secrets", "set", "--env", "tb", "deploy_webhook_url"],
        &format!("{url}\n"),
    )
    .code(0);
    tb.write(
        "environments/tb/group_vars/web.yml",
        &format!("{base}{WEB_YML}"),
    );
    let mut runs: Vec<Run> = Vec::new();
    let hooks_log =
        || std::fs::read_to_string(tb.project.path().join("hooks.log")).unwrap_or_default();

    // 1. B, host by host: the canary host1 first, health-checked, then host2.
    let before = migrations(tb);
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "B"]);
    dep.code(0).no_panic().stdout_has("said before");
    let out = &dep.stdout;
    let (canary, second) = (
        out.find("switching the canary host1 (1 of 2)").expect(out),
        out.find("switching host2 (2 of 2)").expect(out),
    );
    assert!(canary < second, "{out}");
    // host1's health check passed before host2's switch began.
    let health1 = out[canary..second]
        .lines()
        .any(|l| l.starts_with("host1 | release ") && l.ends_with(" live and healthy"));
    assert!(
        health1,
        "host1 was not health-checked before host2 switched:\n{out}"
    );
    assert_eq!(
        migrations(tb) - before,
        1,
        "the migrations ran more than once"
    );
    let t = |h: &str| -> f64 { sh(tb, h, "stat -c %.Y /srv/app/current").parse().unwrap() };
    assert!(t("host1") < t("host2"), "host1 switched after host2");
    for h in ["host1", "host2"] {
        assert!(version(tb, h).contains(&b), "{h}");
    }
    let hosts = releases(tb);
    let id_b = hosts[0]["live"].as_str().unwrap().to_string();
    assert_eq!(hosts[1]["live"].as_str(), Some(id_b.as_str()));
    let log = hooks_log();
    assert!(log.contains(&format!("before {id_b} {b} B tb\n")), "{log}");
    assert!(log.contains("after ok host1 host2\n"), "{log}");
    let remote1 = sh(tb, "host1", "cat /tmp/hooks.log");
    let remote2 = sh(tb, "host2", "cat /tmp/hooks.log");
    assert_eq!(remote1, format!("remote before B\nremote after {b}"));
    assert_eq!(remote2, "remote before B");
    runs.push(dep);

    // 2. E fails its health check on host2: host1 goes back to B.
    sh(tb, "host2", "touch /tmp/unhealthy");
    let before = migrations(tb);
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "e"]);
    dep.code(2)
        .no_panic()
        .stderr_has("failed on host2 (step health")
        .stderr_has("switched back: host1")
        .stdout_has(&format!("host1 | switched back to {id_b}"));
    sh(tb, "host2", "rm /tmp/unhealthy");
    assert_eq!(migrations(tb) - before, 1);
    for h in ["host1", "host2"] {
        assert!(version(tb, h).contains(&b), "{h} does not serve B");
    }
    let hosts = releases(tb);
    for h in &hosts {
        assert_eq!(h["live"].as_str(), Some(id_b.as_str()), "{hosts:?}");
        let rel = h["releases"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(rel["commit"].as_str(), Some(e.as_str()), "{hosts:?}");
        assert_eq!(rel["result"].as_str(), Some("bad"), "{hosts:?}");
    }
    assert!(hooks_log().contains(" rolled back\n"), "{}", hooks_log());
    runs.push(dep);

    // 3. A before hook that fails: nothing is built, nothing switches.
    tb.write(
        "environments/tb/group_vars/web.yml",
        &format!("{base}deploy_hooks:\n  before:\n    - local: echo refusing; exit 3\n"),
    );
    let present = sh(tb, "host1", "ls /srv/app/releases | wc -l");
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"]);
    dep.code(2)
        .no_panic()
        .stdout_has("refusing")
        .stderr_has("deploy_hooks.before[0] (local: echo refusing; exit 3) failed (exit 3)");
    assert_eq!(sh(tb, "host1", "ls /srv/app/releases | wc -l"), present);
    for h in ["host1", "host2"] {
        assert!(version(tb, h).contains(&b), "{h}");
    }
    runs.push(dep);

    // 4. A rollback runs the hooks too: the failing before hook stops it with
    // nothing switched; then the before and after hooks see
    // OPSCTL_ACTION=rollback and the release gone back to.
    let rb = tb.opsctl(&["rollback", "--env", "tb"]);
    rb.code(2)
        .no_panic()
        .stdout_has("refusing")
        .stderr_has("deploy_hooks.before[0] (local: echo refusing; exit 3) failed (exit 3)")
        .stderr_has("before anything is switched");
    for h in ["host1", "host2"] {
        assert!(version(tb, h).contains(&b), "{h}");
    }
    runs.push(rb);
    tb.write(
        "environments/tb/group_vars/web.yml",
        &format!(
            "{base}deploy_hooks:\n  before:\n    - local: echo \"$OPSCTL_ACTION before $OPSCTL_RELEASE [$OPSCTL_HOSTS]\" >> rollback-hooks.log\n  after:\n    - local: echo \"$OPSCTL_ACTION after $OPSCTL_RELEASE $OPSCTL_RESULT $OPSCTL_HOSTS\" >> rollback-hooks.log\n"
        ),
    );
    let rb = tb.opsctl(&["rollback", "--env", "tb"]);
    rb.code(0).no_panic();
    runs.push(rb);
    let back = releases(tb)[0]["live"].as_str().unwrap().to_string();
    assert_ne!(back, id_b);
    let log =
        std::fs::read_to_string(tb.project.path().join("rollback-hooks.log")).unwrap_or_default();
    assert_eq!(
        log,
        format!("rollback before {back} []\nrollback after {back} ok host1 host2\n")
    );

    // The webhook: one message per deploy and rollback.
    let msgs = got.lock().unwrap().clone();
    assert_eq!(msgs.len(), 5, "{msgs:?}");
    let field = |m: &serde_json::Value, k: &str| m[k].as_str().unwrap_or_default().to_string();
    assert_eq!(field(&msgs[0], "result"), "ok");
    assert_eq!(field(&msgs[0], "release"), id_b);
    assert_eq!(field(&msgs[0], "commit"), b);
    assert_eq!(field(&msgs[0], "ref"), "B");
    assert_eq!(msgs[0]["hosts"], serde_json::json!(["host1", "host2"]));
    assert!(field(&msgs[0], "user").contains('@'), "{msgs:?}");
    assert!(
        field(&msgs[0], "text").contains(&format!("release {id_b}")),
        "{msgs:?}"
    );
    assert_eq!(field(&msgs[1], "result"), "rolled back");
    assert_eq!(field(&msgs[1], "commit"), e);
    assert_eq!(msgs[1]["switched_back"], serde_json::json!(["host1"]));
    assert_eq!(msgs[1]["failed"], serde_json::json!(["host2"]));
    assert_eq!(field(&msgs[2], "result"), "failed");
    assert_eq!(field(&msgs[2], "ref"), "A");
    assert_eq!(field(&msgs[3], "action"), "rollback");
    assert_eq!(field(&msgs[3], "result"), "failed");
    assert_eq!(msgs[3]["hosts"], serde_json::json!([]));
    assert_eq!(field(&msgs[4], "action"), "rollback");
    assert_eq!(field(&msgs[4], "result"), "ok");
    assert_eq!(field(&msgs[4], "release"), back);
    assert_eq!(msgs[4]["hosts"], serde_json::json!(["host1", "host2"]));
    // The URL, a secret: in no output, no journal file.
    for r in &runs {
        assert!(
            !r.stdout.contains(token) && !r.stderr.contains(token),
            "the webhook URL is printed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
    let journal = std::process::Command::new("grep")
        .args(["-rl", token])
        .arg(tb.project.path().join(".opsctl"))
        .output()
        .unwrap();
    assert!(
        journal.stdout.is_empty(),
        "the webhook URL is in {}",
        String::from_utf8_lossy(&journal.stdout)
    );
    tb.write("environments/tb/group_vars/web.yml", base);
    eprintln!(
        "deploy_multi::rollout: {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
