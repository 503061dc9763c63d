//! file on a real host: directories, touch, attributes, recursion, links
//! and removal, as made on the filesystem.

use serde_json::json;

use super::{failed_with, kit, mode_of};
use crate::modules::Diff;
use crate::modules::file::{FILE, File};

#[tokio::test]
async fn on_a_real_shell() {
    let k = kit().await;
    let t = k.task(&FILE, &File);
    let d = k.p("app/releases");
    // directory with parents, mode applied to each created directory
    let dir_args = json!({"path": d, "state": "directory", "mode": "0750"});
    let (o, n) = t.run(dir_args.clone(), false, true).await;
    assert!(o.changed && !o.failed && n == 2, "{o:?}");
    assert_eq!(
        o.diffs,
        vec![Diff::new(format!("{d} (state)"), "absent\n", "directory\n")]
    );
    assert_eq!(
        (mode_of(&k.path("app")), mode_of(&k.path("app/releases"))),
        (0o750, 0o750)
    );
    assert_eq!(o.data["mode"], json!("0750"));
    assert_eq!(o.data["state"], json!("directory"));
    let (o, n) = t.run(dir_args.clone(), false, true).await;
    assert!(!o.changed && n == 1, "{o:?}");
    std::fs::set_permissions(
        k.path("app/releases"),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let (o, n) = t.run(dir_args.clone(), true, true).await;
    assert!(o.changed && n == 1);
    assert_eq!(
        o.diffs,
        vec![Diff::new(format!("{d} (mode)"), "0777\n", "0750\n")]
    );
    assert_eq!(
        mode_of(&k.path("app/releases")),
        0o777,
        "check mode changes nothing"
    );

    // touch, then file attributes
    let f = k.p("app/releases/f");
    let (o, _) = t
        .apply(json!({"path": f, "state": "touch", "mode": "u=rw,g=r,o="}))
        .await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(mode_of(&k.path("app/releases/f")), 0o640);
    let (o, _) = t.apply(json!({"path": f, "state": "touch", "modification_time": "preserve", "access_time": "preserve"})).await;
    assert!(!o.changed);
    let (o, _) = t.apply(json!({"path": f, "state": "touch", "modification_time": "202001021530.45", "access_time": "preserve"})).await;
    assert!(o.changed && !o.failed, "{o:?}");
    let (o, _) = t
        .apply(json!({"path": f, "modification_time": "202001021530.45"}))
        .await;
    assert!(!o.changed && !o.failed, "{o:?}");
    let (o, _) = t.apply(json!({"path": f, "mode": "0600"})).await;
    assert!(o.changed && o.data["state"] == json!("file"), "{o:?}");
    assert_eq!(mode_of(&k.path("app/releases/f")), 0o600);
    let (o, _) = t
        .apply(json!({"path": k.p("missing"), "state": "file"}))
        .await;
    failed_with(&o, "is absent, cannot continue");

    // recurse
    let (o, _) = t.apply(json!({"path": k.p("app"), "state": "directory", "recurse": true, "mode": "u=rwX,g=rX,o=rX"})).await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(
        (
            mode_of(&k.path("app/releases")),
            mode_of(&k.path("app/releases/f"))
        ),
        (0o755, 0o644)
    );
    let (o, _) = t.apply(json!({"path": k.p("app"), "state": "directory", "recurse": true, "mode": "u=rwX,g=rX,o=rX"})).await;
    assert!(!o.changed, "{o:?}");

    // symlink: relative src, then idempotent, then absent
    let link = k.p("app/current");
    let largs = json!({"path": link, "src": "releases", "state": "link"});
    let (o, n) = t.run(largs.clone(), false, true).await;
    assert!(o.changed && !o.failed && n == 2, "{o:?}");
    assert_eq!(
        std::fs::read_link(k.path("app/current")).unwrap().to_str(),
        Some("releases")
    );
    assert_eq!(o.data["state"], json!("link"));
    let (o, n) = t.run(largs.clone(), false, true).await;
    assert!(!o.changed && n == 1, "{o:?}");
    let (o, _) = t
        .apply(json!({"path": link, "src": "nowhere", "state": "link"}))
        .await;
    failed_with(&o, "src file does not exist");
    // a link to a directory is replaced, not written into
    std::fs::create_dir(k.path("app/v2")).unwrap();
    let (o, _) = t
        .apply(json!({"path": link, "src": k.p("app/v2"), "state": "link"}))
        .await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(
        std::fs::read_link(k.path("app/current")).unwrap(),
        k.path("app/v2")
    );
    assert!(
        !k.path("app/v2/.opsctl").exists()
            && std::fs::read_dir(k.path("app/v2")).unwrap().count() == 0
    );

    // hard link
    let (o, _) = t
        .apply(json!({"path": k.p("hard"), "src": f, "state": "hard"}))
        .await;
    assert!(o.changed && !o.failed, "{o:?}");
    let (o, _) = t
        .apply(json!({"path": k.p("hard"), "src": f, "state": "hard"}))
        .await;
    assert!(!o.changed && !o.failed, "{o:?}");

    // absent, in check mode first
    let (o, _) = t
        .run(json!({"path": k.p("app"), "state": "absent"}), true, true)
        .await;
    assert!(o.changed && k.path("app").exists());
    assert_eq!(
        o.diffs,
        vec![Diff::new(
            format!("{} (state)", k.p("app")),
            "directory\n",
            "absent\n"
        )]
    );
    let (o, _) = t
        .apply(json!({"path": k.p("app"), "state": "absent"}))
        .await;
    assert!(o.changed && !k.path("app").exists());
    let (o, n) = t
        .apply(json!({"path": k.p("app"), "state": "absent"}))
        .await;
    assert!(!o.changed && n == 1);
    assert_eq!(o.data["state"], json!("absent"));
}
