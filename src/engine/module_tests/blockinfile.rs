//! blockinfile on a real host: the block inserted, updated, removed and
//! a file created.

use serde_json::json;

use super::kit;
use crate::modules::Diff;
use crate::modules::blockinfile::{BLOCKINFILE, BlockInFile};

const B: &str = "# BEGIN ANSIBLE MANAGED BLOCK\n";
const E: &str = "# END ANSIBLE MANAGED BLOCK\n";

#[tokio::test]
async fn on_a_real_shell() {
    let k = kit().await;
    let t = k.task(&BLOCKINFILE, &BlockInFile);
    k.write("conf", "listen 80;\n");
    let path = k.p("conf");
    let args = json!({"path": path, "block": "a 1;\nb 2;"});
    let (o, n) = t.run(args.clone(), false, true).await;
    assert!(o.changed && !o.failed && n == 2, "{o:?}");
    assert_eq!(o.msg.as_deref(), Some("Block inserted"));
    let want = format!("listen 80;\n{B}a 1;\nb 2;\n{E}");
    assert_eq!(k.read("conf"), want);
    assert_eq!(
        o.diffs,
        vec![Diff::new(path.clone(), "listen 80;\n", want.clone())]
    );
    let drifted = format!("listen 80;\n{B}a 9;\n{E}");
    t.again_then_drift(&args, "conf", &drifted, &want).await;
    let (o, _) = t.apply(json!({"path": path, "state": "absent"})).await;
    assert!(
        o.changed && o.msg.as_deref() == Some("Block removed"),
        "{o:?}"
    );
    assert_eq!(k.read("conf"), "listen 80;\n");
    let (o, _) = t
        .apply(json!({"path": k.p("d/new"), "block": "x", "create": true}))
        .await;
    assert!(
        o.changed && o.msg.as_deref() == Some("File created"),
        "{o:?}"
    );
    assert_eq!(k.read("d/new"), format!("{B}x\n{E}"));
}
