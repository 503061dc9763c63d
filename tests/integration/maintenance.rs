//! The maintenance page (issue 15), run by `stack::stack_two_hosts_get_the_same_release`
//! on its provisioned hosts (the app's release A live), through the real binary,
//! nginx and the example app. Requests come from inside host1 through nginx, from
//! three source addresses: 127.0.0.2 (an outside client), 127.0.0.3 (in
//! `maintenance_allow`) and 127.0.0.1 (the host itself).
//! - By hand: `maintenance on --message` answers 503 with `Retry-After` and the
//!   escaped message to 127.0.0.2 (a POST to the API too), while the health
//!   endpoint, the allowed address and the host itself get the app; `status`
//!   says so; `off` brings the app back; nginx was never reloaded (its master
//!   and workers are the same processes).
//! - A deploy of a release whose migration is slow (a test-only migration and a
//!   sleep in this copy of the app), under a request loop: only 200s and the
//!   page, never a 502, 504 or a connection error; the page is off afterwards.
//! - A failing migration: with a page turned on by hand it stays on (and the
//!   failure says so); without, the deploy's page is off again (said too).

use std::path::Path;

use crate::common::{Testbed, git};
use crate::stack::{edit, sh};

/// The `maintenance_allow` of the test's group_vars.
pub(crate) const ALLOW: &str = "maintenance_allow: [127.0.0.3/32]\n";

/// GET (or `extra` curl arguments) `path` through nginx on host1 from source
/// address `from`: (status, headers, body).
fn get(tb: &Testbed, from: &str, path: &str, extra: &str) -> (u16, String, String) {
    let out = sh(
        tb,
        "host1",
        &format!(
            "curl -sS --max-time 10 --interface {from} {extra} -D /tmp/h -o /tmp/b -w '%{{http_code}}' http://host1.test{path}; \
             echo; cat /tmp/h; echo @@body; cat /tmp/b"
        ),
    );
    let (code, rest) = out.split_once('\n').unwrap_or((&out, ""));
    let (headers, body) = rest.split_once("@@body").unwrap_or((rest, ""));
    (
        code.trim().parse().unwrap_or(0),
        headers.to_string(),
        body.to_string(),
    )
}

/// nginx's master PID and its workers' PIDs: unchanged means no reload.
fn nginx_pids(tb: &Testbed) -> String {
    sh(
        tb,
        "host1",
        "m=$(cat /run/nginx.pid); echo $m; ps -o pid= --ppid $m | sort -n | tr -d ' '",
    )
}

/// Adds to the app's repository `app`: S (A + a migration that takes 6 s) and
/// F (S + a migration that fails). Returns (S, F) commits.
fn slow_and_failing(app: &Path) -> (String, String) {
    git(app, &["checkout", "-q", "-b", "slow", "A"]);
    std::fs::write(
        app.join("api/migrations/0002_slow.sql"),
        "CREATE TABLE slow_marker (x INTEGER);\n",
    )
    .unwrap();
    edit(
        app,
        "api/app/migrate.py",
        "            try:\n                async with eng.begin() as conn:",
        "            if \"slow\" in name:\n                await asyncio.sleep(6)\n            try:\n                async with eng.begin() as conn:",
    );
    git(app, &["add", "-A"]);
    git(app, &["commit", "-q", "-m", "S: a slow migration"]);
    git(app, &["tag", "S"]);
    std::fs::write(
        app.join("api/migrations/0003_broken.sql"),
        "ALTER TABLE no_such_table ADD COLUMN x TEXT;\n",
    )
    .unwrap();
    git(app, &["add", "-A"]);
    git(app, &["commit", "-q", "-m", "F: a migration that fails"]);
    git(app, &["tag", "F"]);
    git(app, &["checkout", "-q", "main"]);
    let commit = |t: &str| git(app, &["rev-parse", &format!("{t}^{{commit}}")]);
    (commit("S"), commit("F"))
}

/// The checks, on test-bed hosts provisioned with [`ALLOW`] where release `a`
/// (of the repository `app`) is live.
pub(crate) fn maintenance_page(tb: &Testbed, app: &Path, a: &str) {
    let (code, _, body) = get(tb, "127.0.0.2", "/", "");
    assert!(code == 200 && body.contains(a), "{code} {body}");
    tb.opsctl(&["maintenance", "status", "--env", "tb"])
        .code(0)
        .stdout_has("host1 | maintenance page off");
    let pids = nginx_pids(tb);

    // 1. On, by hand, with a message that needs escaping.
    tb.opsctl(&[
        "maintenance",
        "on",
        "--env",
        "tb",
        "--message",
        "Back at <b>14:00</b> & \"soon\"",
    ])
    .code(0)
    .no_panic()
    .stdout_has("host1 | maintenance page on")
    .stdout_has("host2 | maintenance page on");
    let (code, headers, body) = get(tb, "127.0.0.2", "/", "");
    assert_eq!(code, 503, "{headers}{body}");
    assert!(headers.contains("Retry-After: 120"), "{headers}");
    assert!(
        body.contains("Back at &lt;b&gt;14:00&lt;/b&gt; &amp; &quot;soon&quot;"),
        "{body}"
    );
    // A POST, and the API, get the page too (not a 405).
    let (code, _, body) = get(
        tb,
        "127.0.0.2",
        "/api/notes",
        "-X POST -H 'content-type: application/json' -d '{\"body\": \"x\"}'",
    );
    assert!(code == 503 && body.contains("14:00"), "{code} {body}");
    // The health endpoint, an allowed address and the host itself get the app.
    let (code, _, body) = get(tb, "127.0.0.2", "/api/health", "");
    assert!(code == 200 && body.contains("ok"), "{code} {body}");
    for from in ["127.0.0.3", "127.0.0.1"] {
        let (code, _, body) = get(tb, from, "/", "");
        assert!(code == 200 && body.contains(a), "{from}: {code} {body}");
    }
    tb.opsctl(&["maintenance", "status", "--env", "tb", "--limit", "host1"])
        .code(0)
        .stdout_has("host1 | maintenance page on since ")
        .stdout_has(" by hand (")
        .stdout_has("Back at <b>14:00</b>");
    let json = tb.opsctl(&["maintenance", "status", "--env", "tb", "--output", "json"]);
    json.code(0);
    let v: serde_json::Value = serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(v["state"]["by"], "hand", "{v}");
    tb.opsctl(&["status", "--env", "tb", "--limit", "host1"])
        .code(0)
        .stdout_has("maintenance on since ")
        .stdout_has("Back at <b>14:00</b>");

    // Off: the app again, and nginx never reloaded.
    tb.opsctl(&["maintenance", "off", "--env", "tb"])
        .code(0)
        .stdout_has("host1 | maintenance page off (it was on since ");
    let (code, _, body) = get(tb, "127.0.0.2", "/", "");
    assert!(code == 200 && body.contains(a), "{code} {body}");
    tb.opsctl(&["maintenance", "off", "--env", "tb", "--limit", "host1"])
        .code(0)
        .stdout_has("host1 | maintenance page was off");
    assert_eq!(nginx_pids(tb), pids, "nginx was reloaded or restarted");

    // 2. A slow migration under a request loop from outside: 200s and the page only.
    let (s, _f) = slow_and_failing(app);
    sh(
        tb,
        "host1",
        "rm -f /tmp/mloop.*; (while [ ! -e /tmp/mloop.stop ]; do \
           code=$(curl -s -o /tmp/mloop.body -w '%{http_code}' --max-time 10 --interface 127.0.0.2 http://host1.test/); \
           if [ \"$code\" = 503 ] && grep -q 'down for maintenance' /tmp/mloop.body; then echo page; \
           elif [ \"$code\" = 200 ]; then echo ok; else echo \"bad $code\"; fi >> /tmp/mloop.log; \
         done; touch /tmp/mloop.done) >/dev/null 2>&1 &",
    );
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "S"]);
    sh(
        tb,
        "host1",
        "sleep 1; touch /tmp/mloop.stop; while [ ! -e /tmp/mloop.done ]; do sleep 0.1; done",
    );
    dep.code(0).no_panic();
    let log = sh(tb, "host1", "cat /tmp/mloop.log");
    let count = |w: &str| log.lines().filter(|l| l.starts_with(w)).count();
    let bad: Vec<&str> = log.lines().filter(|l| l.starts_with("bad")).collect();
    eprintln!(
        "during the deploy of S: {} ok, {} maintenance pages, {} errors",
        count("ok"),
        count("page"),
        bad.len()
    );
    assert!(bad.is_empty(), "requests failed during the deploy: {bad:?}");
    assert!(count("page") > 0 && count("ok") > 0, "{log}");
    let (code, _, body) = get(tb, "127.0.0.2", "/", "");
    assert!(code == 200 && body.contains(&s), "{code} {body}");
    tb.opsctl(&["maintenance", "status", "--env", "tb"])
        .code(0)
        .stdout_has("host1 | maintenance page off")
        .stdout_has("host2 | maintenance page off");

    // 3. A failing migration: a page turned on by hand stays on, the deploy's
    // own page goes again; the failure says which.
    let deploy_f = |said: &str| {
        tb.opsctl(&["deploy", "--env", "tb", "--git-version", "F"])
            .code(2)
            .no_panic()
            .stderr_has("step migrate")
            .stderr_has(said);
        get(tb, "127.0.0.2", "/", "")
    };
    tb.opsctl(&["maintenance", "on", "--env", "tb", "-m", "by hand"])
        .code(0);
    let (code, _, body) = deploy_f("maintenance page stays on, since ");
    assert!(code == 503 && body.contains("by hand"), "{code} {body}");
    tb.opsctl(&["maintenance", "off", "--env", "tb"]).code(0);
    let (code, _, body) = deploy_f("maintenance page off");
    assert!(code == 200 && body.contains(&s), "{code} {body}");
}
