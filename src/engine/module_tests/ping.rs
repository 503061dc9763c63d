//! ping on a real host: one round trip.

use serde_json::json;

use super::{failed_with, kit};
use crate::modules::ping::{PING, Ping};

#[tokio::test]
async fn answers_pong_or_the_data() {
    let k = kit().await;
    let t = k.task(&PING, &Ping);
    let (o, n) = t.run(json!({}), true, false).await;
    assert_eq!(n, 1, "one round trip");
    assert!(!o.changed && !o.failed, "{o:?}");
    assert_eq!(o.data["ping"], json!("pong"));
    let (o, _) = t.apply(json!({"data": "hi"})).await;
    assert_eq!(o.data["ping"], json!("hi"));
    let (o, _) = t.apply(json!({"data": "crash"})).await;
    failed_with(&o, "boom");
}
