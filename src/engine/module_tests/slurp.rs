//! slurp on a real host: bytes read back exactly (base64).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

use super::{failed_with, kit};
use crate::modules::slurp::{SLURP, Slurp};

#[tokio::test]
async fn slurps_bytes() {
    let k = kit().await;
    let t = k.task(&SLURP, &Slurp);
    std::fs::write(k.path("bin"), b"\x00\xffhello\n\n").unwrap();
    let (o, n) = t.run(json!({"src": k.p("bin")}), true, false).await;
    assert_eq!(n, 1);
    assert!(!o.changed && !o.failed, "{o:?}");
    assert_eq!(o.data["content"], json!(B64.encode(b"\x00\xffhello\n\n")));
    assert_eq!(o.data["encoding"], json!("base64"));
    assert_eq!(o.data["source"], json!(k.p("bin")));
    let (o, _) = t.apply(json!({"path": k.p("missing")})).await;
    failed_with(&o, "file not found");
    let (o, _) = t.apply(json!({"src": k.p("files")})).await;
    failed_with(&o, "is a directory");
}
