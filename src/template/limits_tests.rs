//! Templates that would run away (loops, growing values, sizes taken from the
//! template) stop with an error naming the template and its line.

use std::path::Path;

use minijinja::Value;

use super::{Templar, TemplateError};

fn render_err(src: &str) -> TemplateError {
    let t = Templar::new();
    t.render_file(Path::new("roles/x/templates/t.j2"), src, &Value::from(()))
        .expect_err(src)
}

/// Renders a template that stays within the limits.
fn render_ok(src: &str) -> String {
    Templar::new()
        .render_file(Path::new("t.j2"), src, &Value::from(()))
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn assert_limit(src: &str, line: usize, what: &str) {
    let e = render_err(src);
    let loc = e.location.clone().expect("a location");
    assert_eq!(loc.file, Path::new("roles/x/templates/t.j2"), "{e}");
    assert_eq!(loc.line, line, "{src}: {e}");
    assert!(e.message.contains(what), "{src}: {e}");
    assert!(
        e.hint
            .as_deref()
            .is_some_and(|h| h.contains("OPSCTL_TEMPLATE")),
        "{e:?}"
    );
}

#[test]
fn a_huge_indent_is_an_error_not_an_abort() {
    assert_limit(
        "a\n{{ 'x' | indent(100000000000000) }}\n",
        2,
        "filter 'indent'",
    );
    assert_limit(
        "{{ 'x\\ny' | indent(width=100000000000, first=true) }}",
        1,
        "would build",
    );
    // ordinary use is unchanged
    assert_eq!(
        render_ok("{{ 'a\\nb\\n\\nc' | indent(2) }}"),
        "a\n  b\n\n  c"
    );
    // as Jinja2 3.1 renders them: a trailing newline is kept, \r\n becomes \n
    for (template, want) in [
        ("{{ 'a\\nb\\n' | indent(4) }}", "a\n    b\n"),
        (
            "{{ 'a\\n\\nb\\n' | indent(2, blank=true) }}",
            "a\n  \n  b\n  ",
        ),
        ("{{ 'a\\r\\nb' | indent(2, true) }}", "  a\n  b"),
        ("{{ '' | indent }}", ""),
        ("{{ 'x\\n' | indent(first=true) }}", "    x\n"),
    ] {
        assert_eq!(render_ok(template), want, "{template}");
    }
}

#[test]
fn nested_ranges_run_out_of_fuel() {
    assert_limit(
        "x\n{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}\n",
        2,
        "ran too long",
    );
}

#[test]
fn output_is_bounded() {
    // 100000 * 1000 bytes through the formatter
    let src = "{% set s = 'x' * 1000 %}\n{% for i in range(100000) %}{{ s }}{{ s }}{% endfor %}";
    assert_limit(src, 2, "exceeds");
}

#[test]
fn sizes_taken_from_the_template_are_bounded() {
    for src in [
        "{{ 'a' | replace('a', 'x' * 100000000) | replace('x', 'yy') }}",
        "{{ [1] | batch(10000000000000, 0) }}",
        "{{ [1] | slice(10000000000000) }}",
        "{{ {'a': 1} | to_json(indent=100000000000) }}",
        "{{ {'a': 1} | to_nice_yaml(indent=100000000000) }}",
        "{{ 'pw' | password_hash('sha512', 'salt', rounds=999999999) }}",
    ] {
        let e = render_err(src);
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(1), "{src}: {e}");
    }
}

#[test]
fn expression_values_are_bounded() {
    let t = Templar::new();
    let e = t
        .template_value(
            "{{ ('x' * 50000000) ~ ('x' * 50000000) }}",
            &Value::from(()),
            None,
        )
        .unwrap_err();
    // checked at the operator, before the 100 MB string is built
    assert!(e.message.contains("`~` would build 100000000 bytes"), "{e}");
    let e = t
        .template_value(
            "{{ 'x' * 60000000 + 'y' * 10000000 }}",
            &Value::from(()),
            None,
        )
        .unwrap_err();
    assert!(e.message.contains("`+` would build"), "{e}");
}

#[test]
fn joins_and_formats_are_measured_before_they_are_built() {
    for src in [
        "x\n{{ range(100000) | join('x' * 10000) }}",
        "x\n{{ ['x' * 40000000, 'y' * 40000000] | join }}",
        "x\n{{ '%s%s' | format('x' * 40000000, 'y' * 40000000) }}",
        "x\n{{ ('{0}' * 1000).format('x' * 1000000) }}",
    ] {
        assert_limit(src, 2, "would build");
    }
    assert_eq!(
        render_ok(
            "{{ ['a', 1] | join('-') }} {{ '%s=%d' | format('a', 1) }} {{ '{}:{}'.format('h', 22) }}"
        ),
        "a-1 a=1 h:22"
    );
}

#[test]
fn a_pipe_that_never_ends_is_stopped_at_the_output_bound() {
    assert_limit(
        "x\n{{ lookup('pipe', 'yes') }}",
        2,
        "lookup('pipe', 'yes') would build",
    );
    // a sparse file larger than the bound: refused before it is read
    let d = tempfile::tempdir().unwrap();
    let big = d.path().join("big");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((super::limits::DEFAULT_MAX_OUTPUT + 1) as u64)
        .unwrap();
    assert_limit(
        &format!("{{{{ lookup('file', '{}') }}}}", big.display()),
        1,
        "would build",
    );
}

#[test]
fn format_widths_are_bounded() {
    for src in [
        "{{ '%100000000000s' | format('x') }}",
        "{{ '{:>100000000000}'.format('x') }}",
        "{{ '{:0100000000000}'.format(1) }}",
        "{{ '%0100000000000d' | format(1) }}",
        "{{ '{:.100000000000f}'.format(1.5) }}",
        "{{ {'a': 1} | tojson(indent=100000000000) }}",
        "{{ {'a': 1} | tojson(100000000000) }}",
    ] {
        let e = render_err(src);
        assert!(
            e.message.contains("would build") || e.message.contains("limit"),
            "{src}: {e}"
        );
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(1), "{src}: {e}");
    }
}
