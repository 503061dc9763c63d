//! wait_for on a real host: the bounded loop runs there.

use serde_json::json;

use super::kit;
use crate::modules::wait_for::{WAIT_FOR, WaitFor};

#[tokio::test]
async fn wait_for_runs_a_bounded_loop() {
    let k = kit().await;
    let t = k.task(&WAIT_FOR, &WaitFor);
    k.write("ready.txt", "status: up 42\n");
    let (o, n) = t
        .run(
            json!({"path": k.p("ready.txt"), "search_regex": "up (?P<n>\\d+)", "timeout": 2}),
            true,
            false,
        )
        .await;
    assert_eq!(n, 1);
    assert!(!o.failed && !o.changed, "{o:?}");
    assert_eq!(o.data["match_groups"], json!(["42"]));
    assert_eq!(o.data["match_groupdict"], json!({"n": "42"}));
    let (o, _) = t.apply(json!({"path": k.p("nope"), "timeout": 1})).await;
    assert!(o.failed, "{o:?}");
    assert_eq!(
        o.msg.as_deref(),
        Some(format!("Timeout when waiting for file {}", k.p("nope")).as_str())
    );
    // a port nobody listens on is closed
    let (o, _) = t
        .apply(json!({"port": 1, "state": "stopped", "timeout": 2}))
        .await;
    assert!(!o.failed, "{o:?}");
}
