//! Replays the expectations recorded from real Ansible by `tests/golden/template_golden.py`.

use minijinja::value::Value;

use super::Templar;
use super::golden_cases::{CASES, FILES, VARS_JSON};

/// Cases where opsctl knowingly differs from Ansible, with the reason.
const KNOWN_DEVIATIONS: &[(&str, &str)] = &[
    // Ansible refuses to store an Undefined (the missing `else`); minijinja, like
    // Jinja2's own rendering, gives an empty string.
    (
        "'x' if fa",
        "if-expression without else yields '' instead of an error",
    ),
    // Ansible does not enable Jinja's loopcontrols extension; the crate enables
    // minijinja's `loop_controls` feature, so `{% break %}` works here.
    ("loop_controls", "{% break %}/{% continue %} are accepted"),
    // The regex crate has no lookaround (fancy-regex is not a dependency): a clear error instead.
    (
        "'x' | regex_replace('(?<=x)', 'y')",
        "lookbehind is not supported",
    ),
    // passlib's bcrypt is not implemented (no bcrypt crate): a clear error instead.
    (
        "'secret' | password_hash('blowfish', 'abcdefghijklmnopqrstuv')",
        "bcrypt is not supported",
    ),
];

fn vars() -> Value {
    // our own JSON reader: serde_json's float parsing is not always correctly rounded
    super::pyfmt::from_json_str(VARS_JSON).unwrap()
}

fn to_json(v: &Value) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

#[test]
fn golden_expressions() {
    let t = Templar::new();
    let ctx = vars();
    let mut failures = Vec::new();
    for &(expr, native, rendered, error) in CASES {
        if KNOWN_DEVIATIONS.iter().any(|(e, _)| *e == expr) {
            continue;
        }
        let nat = t.template_value(&format!("{{{{ {expr} }}}}"), &ctx, None);
        let ren = t.render_str(&format!("<{{{{ {expr} }}}}>"), &ctx, None);
        match error {
            Some(msg) => {
                if nat.is_ok() || ren.is_ok() {
                    failures.push(format!(
                        "{expr}: expected error ({msg}), got {:?} / {:?}",
                        nat.map(|v| v.to_string()),
                        ren
                    ));
                }
            }
            None => {
                match (&nat, native) {
                    (Ok(v), Some(want)) => {
                        let want = super::pyfmt::from_json_str(want).unwrap();
                        if to_json(v) != to_json(&want) {
                            failures.push(format!(
                                "{expr}: native {:?} != {:?}",
                                to_json(v),
                                to_json(&want)
                            ));
                        }
                    }
                    (Err(e), _) => failures.push(format!("{expr}: native error {e}")),
                    _ => {}
                }
                match (&ren, rendered) {
                    (Ok(s), Some(want)) if s != want => {
                        failures.push(format!("{expr}: rendered {s:?} != {want:?}"))
                    }
                    (Err(e), _) => failures.push(format!("{expr}: render error {e}")),
                    _ => {}
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn golden_files() {
    let t = Templar::new();
    let ctx = vars();
    let mut failures = Vec::new();
    for &(name, src, expected) in FILES {
        if KNOWN_DEVIATIONS.iter().any(|(e, _)| *e == name) {
            continue;
        }
        let got = t.render_file(std::path::Path::new(name), src, &ctx);
        match (expected, &got) {
            (Ok(want), Ok(s)) if s == want => {}
            (Err(_), Err(_)) => {}
            _ => failures.push(format!("{name}: got {got:?}, want {expected:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
