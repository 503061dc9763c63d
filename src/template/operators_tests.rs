//! `~`, `+` and `*` rewritten into checked operators (`operators.rs`): the
//! rewrite itself, results and errors unchanged, values that double stopped.

use std::path::Path;

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, Value};

use super::operators::{rewrite_expression, rewrite_template};
use super::{SYNTAX, Templar, TemplateErrorKind};

fn rewritten(src: &str) -> Option<String> {
    rewrite_template(src, &SYNTAX).map(|s| s.to_string())
}

#[test]
fn operators_are_wrapped_at_their_operands() {
    let l = "|__opsctl_left";
    let cases = [
        (
            "{{ a ~ b }}",
            format!("{{{{ (a ){l}~( b)|__opsctl_concat }}}}"),
        ),
        ("{{ a+1 }}", format!("{{{{ (a){l}+(1)|__opsctl_add }}}}")),
        (
            "{{ s * 3 }}",
            format!("{{{{ (s ){l}*( 3)|__opsctl_mul }}}}"),
        ),
        // left-associative chains: the inner pair first
        (
            "{{a~b~c}}",
            format!("{{{{((a){l}~(b)|__opsctl_concat){l}~(c)|__opsctl_concat}}}}"),
        ),
        // parentheses, filters, calls and subscripts stay inside their operand
        (
            "{{ (a ~ b) ~ c }}",
            format!("{{{{ (((a ){l}~( b)|__opsctl_concat) ){l}~( c)|__opsctl_concat }}}}"),
        ),
        (
            "{{ x|upper ~ f(1)[0] }}",
            format!("{{{{ (x|upper ){l}~( f(1)[0])|__opsctl_concat }}}}"),
        ),
        (
            "{{ a + (b ~ c) }}",
            format!("{{{{ (a ){l}+( ((b ){l}~( c)|__opsctl_concat))|__opsctl_add }}}}"),
        ),
        // `**` and `-` are not checked
        ("{{ 2 ** 3 - 1 }}", "".to_string()),
    ];
    for (src, want) in cases {
        let got = rewritten(src).unwrap_or_default();
        assert_eq!(got, want, "{src}");
    }
    // statements, macro defaults, filter arguments
    let src = "{% set s = a ~ b %}{% for i in l + m %}{{ i|join('-' ~ x) }}{% endfor %}\
               {% macro m(v=1 + 2) %}{% endmacro %}";
    let got = rewritten(src).unwrap();
    for part in [
        "(a )|__opsctl_left~( b)|__opsctl_concat",
        "(l )|__opsctl_left+( m)|__opsctl_add",
        "('-' )|__opsctl_left~( x)|__opsctl_concat",
        "(1 )|__opsctl_left+( 2)|__opsctl_add",
    ] {
        assert!(got.contains(part), "{part}: {got}");
    }
    // expressions (`when:`, a lone `{{ }}`)
    assert_eq!(
        rewrite_expression("a ~ b == 'x'").as_deref(),
        Some("(a )|__opsctl_left~( b)|__opsctl_concat == 'x'")
    );
}

#[test]
fn text_strings_and_comments_are_not_operators() {
    for src in [
        "a ~ b + c * d",
        "{{ 'a ~ b + c' }}",
        "{# x ~ y + 1 #}{{ v }}",
        "{% raw %}{{ a ~ b }}{% endraw %}",
        "cron: * * * * * {{ job }}",
    ] {
        assert_eq!(rewritten(src), None, "{src}");
    }
    // only the real operator, and no line moves
    let src = "{# ~ #}\n{{ '~ +' ~ x }}\n{{ \"a*b\" }}\n";
    let got = rewritten(src).unwrap();
    assert_eq!(
        got,
        "{# ~ #}\n{{ ('~ +' )|__opsctl_left~( x)|__opsctl_concat }}\n{{ \"a*b\" }}\n"
    );
    // a source that does not parse is left alone (compiling reports the error)
    assert_eq!(rewritten("{{ a ~ }}"), None);
    assert_eq!(rewrite_expression("a +"), None);
}

/// The value of `expr` through opsctl (rewritten) and through a plain strict
/// minijinja environment (not rewritten): the same value or the same error.
#[test]
fn results_and_errors_are_minijinjas() {
    let t = Templar::new();
    let mut plain = Environment::new();
    plain.set_undefined_behavior(UndefinedBehavior::Strict);
    let ctx = Value::from(Serde(serde_json::json!({
        "i": 2, "f": 1.5, "s": "ab", "l": [1, "x"], "m": {"k": "v"}, "big": 9007199254740993u64
    })));
    for expr in [
        "1 + 2",
        "i + f",
        "f + f",
        "big + big",
        "9223372036854775807 + 1",
        "-i + 3",
        "s + s",
        "s ~ i ~ f",
        "l ~ m",
        "l + l",
        "(1, 2) + (3,)",
        "l + [s, i]",
        "s * 3",
        "3 * s",
        "l * 2",
        "i * f",
        "(s ~ s)|length + 1",
        "none ~ s",
        "true + 1",
    ] {
        let want = plain.compile_expression(expr).unwrap().eval(&ctx).unwrap();
        let got = t
            .eval_expr(expr, &ctx, None)
            .unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(
            format!("{got:?}"),
            format!("{want:?}"),
            "{expr}: kinds {:?} {:?}",
            got.kind(),
            want.kind()
        );
    }
    for expr in ["1 + 'a'", "l + s", "m + m", "s * s", "l * l", "(1,) + [2]"] {
        let want = plain
            .compile_expression(expr)
            .unwrap()
            .eval(&ctx)
            .unwrap_err();
        let got = t.eval_expr(expr, &ctx, None).unwrap_err();
        let detail = want.detail().unwrap_or_default();
        assert!(got.message.contains(detail), "{expr}: {got} / {want}");
    }
}

#[test]
fn undefined_operands_behave_as_before() {
    let t = Templar::new();
    let ctx = Value::from(Serde(serde_json::json!({"s": "ab", "d": {"k": 1}})));
    let file = Path::new("roles/x/templates/t.j2");
    for (src, name) in [
        ("a\n\n{{ missing ~ 'x' }}\n", "missing"),
        ("a\n\n{{ s ~ d.nokey }}\n", "d.nokey"),
        ("a\n\n{{ 1 + missing }}\n", "missing"),
        ("a\n\n{% set v = missing * 2 %}{{ v }}\n", "missing"),
    ] {
        let e = t.render_file(file, src, &ctx).expect_err(src);
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(3), "{src}: {e}");
        assert_eq!(
            e.kind,
            TemplateErrorKind::Undefined { name: name.into() },
            "{src}: {e}"
        );
    }
    // guarded chains and silent undefined values still render
    for (src, want) in [
        ("{{ missing.attr | default('d') ~ 'x' }}", "dx"),
        ("{{ (s if false) ~ 'y' }}", "y"),
        ("{{ 'p' ~ (d.k2 | default(2) + 1) }}", "p3"),
        ("{{ s ~ s if s is defined }}", "abab"),
    ] {
        assert_eq!(t.render_str(src, &ctx, None).unwrap(), want, "{src}");
    }
}

#[test]
fn values_that_double_inside_one_template_stop_at_their_line() {
    let t = Templar::new();
    let file = Path::new("roles/x/templates/t.j2");
    let sets: String = (0..40).map(|_| "{% set s = s ~ s %}\n").collect();
    let lists: String = (0..40).map(|_| "{% set l = l + l %}\n").collect();
    let cases = [
        (
            "{% set ns = namespace(s='x') %}\n{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}".to_string(),
            2,
            "`~` would build",
        ),
        // 'x' doubled 26 times is 64 MiB: the 27th doubling stops
        (format!("{{% set s = 'x' %}}\n{sets}"), 28, "`~` would build"),
        (
            "{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s|length }}{% endmacro %}\n{{ d('x', 40) }}".to_string(),
            1,
            "`~` would build",
        ),
        (format!("{{% set l = [1] %}}\n{lists}"), 21, "`+` would build"),
        (
            "{% set ns = namespace(s='xy') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}".to_string(),
            1,
            "`+` would build",
        ),
        ("{{ 'x' * 100000000 }}".to_string(), 1, "`*` would build"),
        (
            "{% set l = [1, 2] * 600000 %}".to_string(),
            1,
            "`*` would build 1200000 items",
        ),
    ];
    for (src, line, what) in cases {
        let e = t.render_file(file, &src, &Value::from(())).expect_err(&src);
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(line), "{e}");
        assert!(e.message.contains(what), "{what}: {e}");
        assert!(
            e.hint
                .as_deref()
                .is_some_and(|h| h.contains("OPSCTL_TEMPLATE")),
            "{e:?}"
        );
    }
    // below the bounds the same shapes render
    let ok = "{% set ns = namespace(s='x') %}{% for i in range(10) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}\
              {% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s|length }}{% endmacro %} {{ d('x', 12) }}\
              {% set l = [1] %}{% for i in range(3) %}{% set l = l + l %}{% endfor %} {{ (l + l + l)|length }}";
    assert_eq!(
        t.render_file(file, ok, &Value::from(())).unwrap(),
        "1024 4096 3"
    );
}
