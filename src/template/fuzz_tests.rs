//! Fuzzing the template loader: random templates made of Jinja's pieces
//! (loops, filters with sizes, huge numbers, unclosed tags) and mutated real
//! templates. Whatever the input: no panic, no abort, and an error names the
//! template file and a line. Bounded: a few hundred cases, seconds in CI.

use std::path::Path;

use minijinja::Value;
use proptest::prelude::*;

use super::Templar;

const BASE: &str = "server {\n  listen {{ port | default(80) }};\n{% for h in hosts %}\n  upstream {{ h | upper }}:{{ loop.index }};\n{% endfor %}\n  {{ conf | to_nice_json(indent=2) | indent(4) }}\n}\n";

fn piece() -> impl Strategy<Value = String> {
    let num = prop_oneof![
        Just("0"),
        Just("3"),
        Just("-1"),
        Just("100000"),
        Just("100000000000000"),
        Just("99999999999999999999999"),
    ];
    let filter = prop_oneof![
        Just("indent"),
        Just("center"),
        Just("batch"),
        Just("slice"),
        Just("to_json"),
        Just("to_nice_yaml"),
        Just("replace('a', 'aaaa')"),
        Just("format"),
        Just("join"),
        Just("list"),
        Just("first"),
        Just("int"),
        Just("b64encode"),
        Just("regex_replace('(a)', '\\\\1\\\\1')"),
        Just("password_hash('sha512', 'salt')"),
    ];
    prop_oneof![
        Just("{{ ".to_string()),
        Just(" }}".to_string()),
        Just("{% ".to_string()),
        Just(" %}".to_string()),
        Just("{# ".to_string()),
        Just("\n".to_string()),
        Just("for i in range(".to_string()),
        Just(")".to_string()),
        Just("endfor".to_string()),
        Just("if x".to_string()),
        Just("endif".to_string()),
        Just("set ns = namespace(x='ab')".to_string()),
        Just("ns.x ~ ns.x".to_string()),
        // values that double inside one template (`~`, `+`, `*`, recursion)
        Just("set ns.x = ns.x ~ ns.x".to_string()),
        Just("set ns.x = ns.x + ns.x".to_string()),
        Just("set l = [1, 2] + hosts + ".to_string()),
        Just("(ns.x * 2) ~ ".to_string()),
        Just("macro d(s, n)".to_string()),
        Just("d(s ~ s, n - 1) if n else s".to_string()),
        Just("endmacro".to_string()),
        Just("d('x', 40)".to_string()),
        Just("('{0}' * 1000).format(".to_string()),
        Just("'a' * ".to_string()),
        Just("hosts".to_string()),
        Just("port".to_string()),
        Just("undefined_thing.attr".to_string()),
        Just("'{:>'".to_string()),
        Just("'%0'".to_string()),
        num.clone().prop_map(str::to_string),
        (filter, num).prop_map(|(f, n)| format!(" | {f}({n})")),
        "[a-z '\\[\\](),.|~*+-]{1,6}",
    ]
}

fn template() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..24).prop_map(|v| v.concat())
}

fn mutated() -> impl Strategy<Value = String> {
    (0..BASE.len(), "[{}%#|()\\[\\]'\"a-z0-9 \n]{0,4}", 0..4usize).prop_map(|(at, ins, del)| {
        let mut s = BASE.to_string();
        let at = at.min(s.len());
        let end = (at + del).min(s.len());
        s.replace_range(at..end, &ins);
        s
    })
}

fn ctx() -> Value {
    Value::from(minijinja::value::Serde(serde_json::json!({
        "port": 8080,
        "hosts": ["a", "b"],
        "conf": {"k": [1, 2, {"x": "y"}]},
        "x": true,
    })))
}

fn check(src: &str) -> Result<(), TestCaseError> {
    let t = Templar::new();
    let file = Path::new("roles/web/templates/site.conf.j2");
    if let Err(e) = t.render_file(file, src, &ctx()) {
        let loc = e.location.clone();
        prop_assert!(loc.is_some(), "no location: {}", e);
        let loc = loc.unwrap_or_else(|| crate::location::Location::file(file));
        prop_assert_eq!(loc.file.as_path(), file, "{}", e);
        prop_assert!(loc.line >= 1, "no line: {}", e);
    }
    // the same text as an inline value (a variable, a task argument)
    let at = crate::location::Location::new("group_vars/all.yml", 3, Some(5));
    if let Err(e) = t.template_value(src, &ctx(), Some(&at)) {
        prop_assert!(
            e.location.as_ref().is_some_and(|l| l.line >= 3),
            "no location: {}",
            e
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn random_templates_fail_cleanly(src in template()) {
        check(&src)?;
    }

    #[test]
    fn mutated_templates_fail_cleanly(src in mutated()) {
        check(&src)?;
    }
}
