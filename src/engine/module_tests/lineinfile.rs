//! lineinfile on a real host: the edit written, its backup, check mode,
//! create and symlinks followed.

use serde_json::json;

use super::{failed_with, kit, mode_of};
use crate::modules::Diff;
use crate::modules::lineinfile::{LINEINFILE, LineInFile};

#[tokio::test]
async fn on_a_real_shell() {
    let k = kit().await;
    let t = k.task(&LINEINFILE, &LineInFile);
    k.write("sshd_config", "Port 22\nPermitRootLogin yes\n");
    let path = k.p("sshd_config");
    let args = json!({"path": path, "regexp": "^PermitRootLogin ", "line": "PermitRootLogin no", "backup": true});
    let (o, n) = t.run(args.clone(), false, true).await;
    assert!(o.changed && !o.failed && n == 2, "{o:?}");
    assert_eq!(o.msg.as_deref(), Some("line replaced"));
    assert_eq!(k.read("sshd_config"), "Port 22\nPermitRootLogin no\n");
    assert_eq!(
        o.diffs,
        vec![Diff::new(
            path.clone(),
            "Port 22\nPermitRootLogin yes\n",
            "Port 22\nPermitRootLogin no\n"
        )]
    );
    let b = o.data["backup"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(b).unwrap(),
        "Port 22\nPermitRootLogin yes\n"
    );
    t.again_then_drift(
        &args,
        "sshd_config",
        "PermitRootLogin maybe\n",
        "PermitRootLogin no\n",
    )
    .await;
    // absent
    let (o, _) = t
        .apply(json!({"path": path, "regexp": "^Permit", "state": "absent"}))
        .await;
    assert!(o.changed && o.data["found"] == json!(1), "{o:?}");
    assert_eq!(k.read("sshd_config"), "");
    // a missing file: error, or created (with its directory) with create
    let (o, _) = t.apply(json!({"path": k.p("new/f"), "line": "x"})).await;
    failed_with(&o, "does not exist");
    let (o, _) = t
        .apply(json!({"path": k.p("new/f"), "line": "x", "create": true, "mode": "0600"}))
        .await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(k.read("new/f"), "x\n");
    assert_eq!(mode_of(&k.path("new/f")), 0o600);
    // a symlink is followed: the target is edited, the link stays
    std::os::unix::fs::symlink(k.path("new/f"), k.path("link")).unwrap();
    let (o, _) = t.apply(json!({"path": k.p("link"), "line": "y"})).await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert!(
        std::fs::symlink_metadata(k.path("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(k.read("new/f"), "x\ny\n");
}
