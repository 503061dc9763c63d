//! fetch from a real host: the file written on the controller once.

use serde_json::json;

use super::kit;
use crate::modules::fetch::{FETCH, Fetch};

#[tokio::test]
async fn fetches_once() {
    let k = kit().await;
    let t = k.task(&FETCH, &Fetch);
    k.write("remote/app.log", "line 1\n");
    let out = k.p("out") + "/";
    let args = json!({"src": k.p("remote/app.log"), "dest": out, "flat": true});
    let (o, n) = t.run(args.clone(), false, true).await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(n, 2);
    assert_eq!(k.read("out/app.log"), "line 1\n");
    assert_eq!(o.diffs[0].after, "line 1\n");
    let (o, n) = t.apply(args.clone()).await;
    assert!(!o.changed, "{o:?}");
    assert_eq!(n, 1, "no transfer when the checksums agree");
    k.write("remote/app.log", "line 2\n");
    let (o, _) = t.run(args.clone(), true, false).await;
    assert!(o.changed);
    assert_eq!(
        k.read("out/app.log"),
        "line 1\n",
        "check mode writes nothing"
    );
    let (o, _) = t
        .apply(json!({"src": k.p("nope"), "dest": out, "fail_on_missing": false}))
        .await;
    assert!(!o.failed && !o.changed, "{o:?}");
    let (o, _) = t.apply(json!({"src": k.p("nope"), "dest": out})).await;
    assert!(o.failed, "{o:?}");
}
