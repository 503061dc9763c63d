//! template on a real host: the rendered file written, its mode, newline
//! sequence and check mode. A rendering error is a decision: the fixture
//! `template/rendering_error_names_file_and_line.json`.

use serde_json::json;

use super::{kit_with_vars, mode_of};
use crate::modules::Diff;
use crate::modules::template::{TEMPLATE, Template};

#[tokio::test]
async fn renders_round_trip_check_diff() {
    let k = kit_with_vars(json!({"port": 8080, "names": ["a", "b"]})).await;
    let t = k.task(&TEMPLATE, &Template);
    k.write(
        "files/site.conf.j2",
        "listen {{ port }};\n{% for n in names %}server {{ n }};\n{% endfor %}\n",
    );
    let dest = k.p("site.conf");
    let args = json!({"src": "site.conf.j2", "dest": dest, "mode": "0600"});
    let (o, n) = t.run(args.clone(), false, true).await;
    assert!(o.changed && !o.failed && n == 2, "{o:?}");
    // trim_blocks eats the newline after a block tag, like Ansible
    let want = "listen 8080;\nserver a;\nserver b;\n";
    assert_eq!(k.read("site.conf"), want);
    assert_eq!(mode_of(&k.path("site.conf")), 0o600);
    assert_eq!(o.diffs, vec![Diff::new(dest.clone(), "", want)]);
    let (o, n) = t.run(args.clone(), false, true).await;
    assert!(!o.changed && n == 1, "{o:?}");
    let crlf =
        json!({"src": "site.conf.j2", "dest": k.p("crlf.conf"), "newline_sequence": "\\r\\n"});
    t.apply(crlf).await;
    assert_eq!(k.read("crlf.conf"), want.replace('\n', "\r\n"));
    k.write("site.conf", "listen 80;\n");
    let (o, _) = t.run(args.clone(), true, true).await;
    assert!(o.changed);
    assert_eq!(o.diffs[0], Diff::new(dest.clone(), "listen 80;\n", want));
    assert_eq!(k.read("site.conf"), "listen 80;\n");
}
