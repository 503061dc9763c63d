//! copy on a real host: content, src files and trees, remote_src, owners,
//! backups and validate, as written to the filesystem.

use serde_json::json;

use super::{Kit, failed_with, kit, mode_of};
use crate::modules::copy::{COPY, Copy};
use crate::modules::{Diff, content};

#[tokio::test]
async fn content_round_trip_check_and_diff() {
    let k = kit().await;
    let t = k.task(&COPY, &Copy);
    let dest = k.p("app.conf");
    let args = json!({"content": "port=1\n", "dest": dest, "mode": "0640"});
    let (o, n) = t.run(args.clone(), false, true).await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(n, 2, "probe + write");
    assert_eq!(k.read("app.conf"), "port=1\n");
    assert_eq!(mode_of(&k.path("app.conf")), 0o640);
    assert_eq!(o.data["mode"], json!("0640"));
    assert_eq!(o.data["checksum"], json!(content::sha1_hex(b"port=1\n")));
    assert_eq!(o.data["dest"], json!(dest));
    assert_eq!(o.diffs, vec![Diff::new(dest.clone(), "", "port=1\n")]);

    let (o, n) = t.run(args.clone(), false, true).await;
    assert!(!o.changed && o.diffs.is_empty(), "{o:?}");
    assert_eq!(n, 1, "one exec when nothing differs");

    // drift: check mode reports it and changes nothing
    k.write("app.conf", "port=2\n");
    std::fs::set_permissions(
        k.path("app.conf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let (o, n) = t.run(args.clone(), true, true).await;
    assert!(o.changed, "{o:?}");
    assert_eq!(n, 1);
    assert_eq!(k.read("app.conf"), "port=2\n");
    assert_eq!(
        o.diffs,
        vec![
            Diff::new(dest.clone(), "port=2\n", "port=1\n"),
            Diff::new(format!("{dest} (mode)"), "0644\n", "0640\n")
        ]
    );
    // backup keeps the old content under Ansible's name
    let (o, _) = t
        .apply(json!({"content": "port=1\n", "dest": dest, "backup": true}))
        .await;
    let b = o.data["backup_file"].as_str().unwrap().to_string();
    assert!(
        regex::Regex::new(r"app\.conf\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$")
            .unwrap()
            .is_match(&b),
        "{b}"
    );
    assert_eq!(std::fs::read_to_string(&b).unwrap(), "port=2\n");
    assert_eq!(k.read("app.conf"), "port=1\n");
    // attributes only: no content sent
    let (o, n) = t
        .run(
            json!({"content": "port=1\n", "dest": dest, "mode": "u=rw,go="}),
            false,
            true,
        )
        .await;
    assert!(o.changed && n == 2);
    assert_eq!(
        o.diffs,
        vec![Diff::new(format!("{dest} (mode)"), "0644\n", "0600\n")]
    );
    assert_eq!(mode_of(&k.path("app.conf")), 0o600);
    // force: no leaves an existing file
    let (o, _) = t
        .apply(json!({"content": "other\n", "dest": dest, "force": false}))
        .await;
    assert!(!o.changed);
    assert_eq!(k.read("app.conf"), "port=1\n");
}

#[tokio::test]
async fn src_file_into_directory_and_errors() {
    let k = kit().await;
    let t = k.task(&COPY, &Copy);
    k.write("files/motd", "hello\n");
    std::fs::create_dir(k.path("etc")).unwrap();
    let (o, _) = t.apply(json!({"src": "motd", "dest": k.p("etc")})).await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(k.read("etc/motd"), "hello\n");
    assert_eq!(o.data["dest"], json!(k.p("etc/motd")));
    let (o, _) = t.apply(json!({"src": "motd", "dest": k.p("etc")})).await;
    assert!(!o.changed);
    // dest ending with / creates the directories
    let (o, _) = t
        .apply(json!({"src": "motd", "dest": format!("{}/", k.p("new/sub"))}))
        .await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(k.read("new/sub/motd"), "hello\n");
    // a missing parent directory is named
    let (o, _) = t
        .apply(json!({"src": "motd", "dest": k.p("nodir/motd")}))
        .await;
    failed_with(
        &o,
        &format!("destination directory {} does not exist", k.p("nodir")),
    );
    // a missing src says where it was looked for
    let raw = json!({"src": "nope", "dest": k.p("x")})
        .as_object()
        .unwrap()
        .clone();
    let args = COPY.validate(&raw, true).unwrap();
    let env = k.env(false, false);
    let e = Kit::apply(&Copy, &args, &env)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("src nope not found") && e.contains("files"),
        "{e}"
    );
    // validate: failure keeps the old file and reports validate's output
    let (o, _) = t.apply(json!({"content": "bad\n", "dest": k.p("etc/motd"), "validate": "grep -q hello %s || { echo 'no hello in' %s >&2; exit 1; }"})).await;
    assert!(o.failed, "{o:?}");
    assert!(
        o.msg.as_deref().unwrap().contains("failed to validate")
            && o.msg.as_deref().unwrap().contains("no hello in"),
        "{o:?}"
    );
    assert_eq!(k.read("etc/motd"), "hello\n");
    let leftovers: Vec<_> = std::fs::read_dir(k.path("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "temp file removed: {leftovers:?}");
    let (o, _) = t.apply(json!({"content": "hello 2\n", "dest": k.p("etc/motd"), "validate": "grep -q hello %s"})).await;
    assert!(o.changed && !o.failed, "{o:?}");
}

#[tokio::test]
async fn directory_tree() {
    let k = kit().await;
    let t = k.task(&COPY, &Copy);
    k.write("files/site/index.html", "<h1>hi</h1>\n");
    k.write("files/site/css/a.css", "body{}\n");
    std::fs::create_dir_all(k.path("files/site/empty")).unwrap();
    let dest = k.p("www");
    let args = json!({"src": "site", "dest": dest, "directory_mode": "0750", "mode": "0640"});
    let (o, n) = t.run(args.clone(), false, true).await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(n, 2);
    assert_eq!(k.read("www/site/index.html"), "<h1>hi</h1>\n");
    assert_eq!(k.read("www/site/css/a.css"), "body{}\n");
    assert!(k.path("www/site/empty").is_dir());
    assert_eq!(mode_of(&k.path("www/site/css")), 0o750);
    assert_eq!(mode_of(&k.path("www/site/css/a.css")), 0o640);
    let (o, n) = t.apply(args.clone()).await;
    assert!(!o.changed, "{o:?}");
    assert_eq!(n, 1);
    // one file drifts: check mode sees only it
    k.write("www/site/css/a.css", "body{color:red}\n");
    let (o, _) = t.run(args.clone(), true, true).await;
    assert!(o.changed);
    assert_eq!(
        o.diffs,
        vec![Diff::new(
            k.p("www/site/css/a.css"),
            "body{color:red}\n",
            "body{}\n"
        )]
    );
    assert_eq!(k.read("www/site/css/a.css"), "body{color:red}\n");
    let (o, _) = t.apply(args.clone()).await;
    assert_eq!(o.msg.as_deref(), Some("1 file(s) copied"));
    // trailing slash: the contents
    let (o, _) = t.apply(json!({"src": "site/", "dest": k.p("flat")})).await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(k.read("flat/css/a.css"), "body{}\n");
}

#[tokio::test]
async fn owner_and_group_as_root() {
    if !rustix::process::getuid().is_root() {
        eprintln!("skipped: changing owners needs root");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let k = kit().await;
    let t = k.task(&COPY, &Copy);
    let dest = k.p("owned");
    let args = json!({"content": "x", "dest": dest, "owner": "nobody", "group": "0"});
    let (o, _) = t.apply(args.clone()).await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(o.data["owner"], json!("nobody"));
    let nobody = std::fs::metadata(k.path("owned")).unwrap().uid();
    assert_ne!(nobody, 0);
    // names and numeric ids compare equal: no change
    let (o, _) = t.apply(args).await;
    assert!(!o.changed, "{o:?}");
    let (o, _) = t
        .run(
            json!({"content": "x", "dest": dest, "owner": "root"}),
            true,
            true,
        )
        .await;
    assert!(o.changed);
    assert_eq!(
        o.diffs,
        vec![Diff::new(format!("{dest} (owner)"), "nobody\n", "root\n")]
    );
    assert_eq!(std::fs::metadata(k.path("owned")).unwrap().uid(), nobody);
    // a replaced file keeps its owner when none is asked
    let (o, _) = t.apply(json!({"content": "y", "dest": dest})).await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(std::fs::metadata(k.path("owned")).unwrap().uid(), nobody);
    // an unknown user is a task failure naming it
    let (o, _) = t
        .apply(json!({"content": "z", "dest": dest, "owner": "no-such-user-x"}))
        .await;
    failed_with(&o, "no-such-user-x");
    assert_eq!(k.read("owned"), "y");
}

#[tokio::test]
async fn remote_src() {
    let k = kit().await;
    let t = k.task(&COPY, &Copy);
    k.write("remote/a.txt", "A\n");
    k.write("remote/tree/b.txt", "B\n");
    std::os::unix::fs::symlink("b.txt", k.path("remote/tree/link")).unwrap();
    for i in 0..6 {
        k.write(&format!("remote/many/{i}"), &format!("{i}\n"));
    }
    let args = json!({"src": k.p("remote/a.txt"), "dest": k.p("out.txt"), "remote_src": true});
    let (o, n) = t.run(args.clone(), false, true).await;
    assert!(o.changed && !o.failed && n == 2, "{o:?}");
    assert_eq!(k.read("out.txt"), "A\n");
    assert_eq!(o.data["checksum"], json!(content::sha1_hex(b"A\n")));
    let (o, n) = t.apply(args).await;
    assert!(!o.changed && n == 1);
    let args = json!({"src": k.p("remote/"), "dest": k.p("mirror"), "remote_src": true});
    let (o, _) = t.apply(args.clone()).await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(k.read("mirror/tree/b.txt"), "B\n");
    assert_eq!(
        std::fs::read_link(k.path("mirror/tree/link"))
            .unwrap()
            .to_str(),
        Some("b.txt")
    );
    assert_eq!(k.read("mirror/many/5"), "5\n");
    let (o, n) = t.apply(args).await;
    assert!(!o.changed && n == 3, "listing + probe: {o:?} {n}");
}
