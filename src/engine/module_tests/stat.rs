//! stat on a real host: fields read by one exec.

use serde_json::json;

use super::kit;
use crate::modules::content;
use crate::modules::stat::{STAT, Stat};

#[tokio::test]
async fn stat_on_a_real_shell() {
    let k = kit().await;
    let t = k.task(&STAT, &Stat);
    k.write("f.txt", "abc");
    std::os::unix::fs::symlink(k.path("f.txt"), k.path("l")).unwrap();
    let (o, n) = t.apply(json!({"path": k.p("f.txt")})).await;
    assert_eq!(n, 1, "one exec");
    assert!(!o.changed && !o.failed, "{o:?}");
    let s = &o.data["stat"];
    assert_eq!(s["exists"], json!(true));
    assert_eq!(s["isreg"], json!(true));
    assert_eq!(s["size"], json!(3));
    assert_eq!(s["checksum"], json!(content::sha1_hex(b"abc")));
    // a link, not followed, then followed; sha256
    let (o, _) = t.run(json!({"path": k.p("l")}), true, false).await;
    assert_eq!(o.data["stat"]["islnk"], json!(true));
    assert_eq!(o.data["stat"]["lnk_target"], json!(k.p("f.txt")));
    let (o, _) = t
        .apply(json!({"path": k.p("l"), "follow": true, "checksum_algorithm": "sha256"}))
        .await;
    assert_eq!(o.data["stat"]["islnk"], json!(false));
    assert_eq!(
        o.data["stat"]["checksum"],
        json!(content::sha256_hex(b"abc"))
    );
    let (o, _) = t.apply(json!({"path": k.p("nope")})).await;
    assert_eq!(o.data["stat"], json!({"exists": false}));
    let (o, _) = t.apply(json!({"path": k.p("files")})).await;
    assert_eq!(o.data["stat"]["isdir"], json!(true));
    assert!(o.data["stat"].get("checksum").is_none());
}
