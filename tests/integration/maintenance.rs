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

use std::path::Path;

use crate::common::Testbed;
use crate::stack::sh;

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

/// The checks, on test-bed hosts provisioned with [`ALLOW`] where release `a`
/// (of the repository `app`) is live.
pub(crate) fn maintenance_page(tb: &Testbed, _app: &Path, a: &str) {
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
}
