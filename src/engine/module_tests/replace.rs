//! replace on a real host: replacements written, idempotence and check mode.

use serde_json::json;

use super::{failed_with, kit};
use crate::modules::replace::{REPLACE, Replace};

#[tokio::test]
async fn on_a_real_shell() {
    let k = kit().await;
    let t = k.task(&REPLACE, &Replace);
    k.write("hosts", "127.0.0.1 old.example\n10.0.0.1 old.example\n");
    let path = k.p("hosts");
    let args = json!({"path": path, "regexp": r"(\s+)old\.example$", "replace": r"\1new.example"});
    let (o, n) = t.run(args.clone(), false, true).await;
    assert!(o.changed && !o.failed && n == 2, "{o:?}");
    assert_eq!(o.msg.as_deref(), Some("2 replacements made"));
    assert_eq!(
        k.read("hosts"),
        "127.0.0.1 new.example\n10.0.0.1 new.example\n"
    );
    assert_eq!(o.diffs.len(), 1);
    t.again_then_drift(
        &args,
        "hosts",
        "1.1.1.1 old.example\n",
        "1.1.1.1 new.example\n",
    )
    .await;
    let (o, _) = t.apply(json!({"path": k.p("none"), "regexp": "x"})).await;
    failed_with(&o, "does not exist");
}
