//! The remote file protocol's script (`remote_file`) on a real local
//! shell: odd paths, and batched probes against single ones.

use super::kit;
use crate::modules::content::sha256_hex;
use crate::modules::remote_file::{ContentReq, Op, Own, Req, Source, probe, probe_ops, run_ops};

#[tokio::test]
async fn odd_paths_survive_the_script() {
    let k = kit().await;
    let env = k.env(false, false);
    for name in [
        "with space",
        " lead",
        "trail ",
        "new\nline",
        "back\\",
        "b64:x",
        "quote'\"$x",
    ] {
        let p = k.p(name);
        let ops = [
            Op::Write {
                path: p.clone(),
                source: Source::Bytes(name.as_bytes().to_vec()),
                mode: 0o600,
                own: Own::default(),
                backup: false,
                validate: false,
            },
            Op::Probe(Req::new(p.clone())),
        ];
        let run = run_ops(&env, &ops, None).await.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), name.as_bytes(), "{name:?}");
        assert_eq!(run.items[0].path, p, "{name:?}");
        assert_eq!(
            run.items[0].sha256(),
            Some(sha256_hex(name.as_bytes()).as_str())
        );
    }
}

/// A batch tells what a probe per path tells: content (whole, capped,
/// truncated), sha256 where asked, links followed or not (with their
/// target and real path), absent paths; odd paths and other sums are
/// probed alone, and the items come back in the order asked.
#[tokio::test]
async fn a_batch_says_what_single_probes_say() {
    let k = kit().await;
    let env = k.env(false, false);
    k.write("a", "alpha\n");
    k.write("big", "0123456789");
    std::fs::create_dir_all(k.path("dir")).unwrap();
    std::os::unix::fs::symlink(k.path("a"), k.path("link")).unwrap();
    std::os::unix::fs::symlink(k.path("nowhere"), k.path("dangling")).unwrap();
    let mut reqs = Vec::new();
    for name in ["a", "big", "dir", "link", "dangling", "absent", "sp ace"] {
        for follow in [false, true] {
            let base = Req::new(k.p(name)).follow(follow);
            reqs.push(base.clone());
            reqs.push(base.clone().sums(&["sha256"]).content(ContentReq::Whole));
            reqs.push(base.clone().sums(&[]).content(ContentReq::Capped(4)));
            reqs.push(base.clone().sums(&["sha1"]));
        }
    }
    reqs.push(Req::new(k.p("new\nline")).sums(&["sha256"]));
    let (ops, _) = probe_ops(&reqs);
    assert_eq!(
        ops.iter().filter(|o| matches!(o, Op::Batch { .. })).count(),
        2,
        "one batch per follow"
    );
    let batched = probe(&env, reqs.clone()).await.unwrap();
    let singles: Vec<Op> = reqs.iter().cloned().map(Op::Probe).collect();
    let single = run_ops(&env, &singles, None).await.unwrap();
    assert_eq!(batched.items.len(), reqs.len());
    for ((r, b), s) in reqs.iter().zip(&batched.items).zip(&single.items) {
        // reading content may move the access time between the two reads
        let (mut b, mut s) = (b.clone(), s.clone());
        (b.atime, s.atime) = (0, 0);
        assert_eq!(b, s, "{r:?}");
    }
    let a = &batched.items[1];
    assert_eq!(a.content.as_deref(), Some(&b"alpha\n"[..]));
    assert!(a.sha256().is_some());
    let capped = &batched.items[10];
    assert_eq!(capped.content.as_deref(), Some(&b"0123"[..]));
    assert!(capped.content_truncated && capped.sha256().is_none());
}
