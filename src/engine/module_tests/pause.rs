//! pause run by the engine: it sleeps (in check mode too) and does not
//! wait for a prompt without a terminal.

use std::time::{Duration, Instant};

use serde_json::json;

use super::kit;
use crate::modules::pause::{PAUSE, PauseModule};

#[tokio::test]
async fn sleeps_or_returns_without_a_terminal() {
    let k = kit().await;
    let pause = k.task(&PAUSE, &PauseModule);
    let t = Instant::now();
    let (o, n) = pause.apply(json!({"seconds": 1})).await;
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(n, 0, "nothing runs on the host");
    assert_eq!(o.data["stdout"], json!("Paused for 1 seconds"));
    // check mode pauses too: it changes nothing
    let t = Instant::now();
    let (o, _) = pause.run(json!({"seconds": 1}), true, false).await;
    assert!(t.elapsed() >= Duration::from_secs(1), "{o:?}");
    assert!(!o.changed && !o.skipped, "{o:?}");
    // `cargo test` has no terminal on stdin (or CI is set): no wait
    if !crate::printer::interactive() {
        let t = Instant::now();
        let (o, _) = pause.apply(json!({"prompt": "Go?"})).await;
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(
            o.print && o.msg.as_deref().unwrap().contains("not waiting"),
            "{o:?}"
        );
        assert_eq!(o.data["user_input"], json!(""));
    }
}
