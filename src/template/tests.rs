//! Behaviour tests of the Templar: configuration, native values, errors.

use std::path::Path;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Serde, Value};
use minijinja::{Error, ErrorKind};

use super::{Templar, TemplateError, TemplateErrorKind, is_template};
use crate::location::Location;

fn ctx() -> Value {
    Value::from(Serde(serde_json::json!({
        "s": "<a & \"b\">",
        "port": 8080,
        "enabled": true,
        "items": [1, 2],
        "d": {"k": "v"},
        "ansible_env": {"HOME": "/root", "PATH": "/usr/bin", "SHELL": "/bin/sh"},
        "a": {"b": {"x": 1}},
        "users": [{"name": "alice"}],
        "server_nam": "typo",
        "none": null,
    })))
}

fn file_err(src: &str) -> TemplateError {
    Templar::new()
        .render_file(Path::new("roles/nginx/templates/site.j2"), src, &ctx())
        .expect_err("should fail")
}

fn undefined_name(e: &TemplateError) -> &str {
    match &e.kind {
        TemplateErrorKind::Undefined { name } => name,
        other => panic!("expected an undefined error, got {other:?}: {e}"),
    }
}

#[test]
fn strict_undefined_names_variable_file_and_line() {
    let e = file_err("server {\n  listen 80;\n  server_name {{ server_name }};\n}\n");
    assert_eq!(undefined_name(&e), "server_name");
    let loc = e.location.clone().unwrap();
    assert_eq!(
        (loc.file.as_path(), loc.line),
        (Path::new("roles/nginx/templates/site.j2"), 3)
    );
    assert_eq!(
        e.to_string(),
        "roles/nginx/templates/site.j2:3: undefined variable 'server_name'"
    );
    let shown = e.with_hint();
    assert!(
        shown.starts_with(
            "roles/nginx/templates/site.j2:3: undefined variable 'server_name'\n  hint: did you mean"
        ),
        "{shown}"
    );
    let hint = e.hint.clone().unwrap();
    assert!(hint.contains("did you mean 'server_nam'?"), "{hint}");
    assert!(hint.contains("group_vars/ or host_vars/"), "{hint}");
    assert!(hint.contains("{{ server_name | default(...) }}"), "{hint}");
    assert_eq!(
        e.summary(),
        "roles/nginx/templates/site.j2:3: undefined variable 'server_name'"
    );
}

#[test]
fn undefined_nested_attribute_is_named_with_its_path() {
    let e = file_err("home={{ ansible_env.HOMEX }}\n");
    assert_eq!(undefined_name(&e), "ansible_env.HOMEX");
    assert!(e.message.contains("'ansible_env.HOMEX'"), "{}", e.message);
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("did you mean 'ansible_env.HOME'?"),
        "{:?}",
        e.hint
    );

    // the first missing segment is reported, with the defined prefix
    assert_eq!(undefined_name(&file_err("{{ a.b.c.d }}")), "a.b.c");
    assert_eq!(undefined_name(&file_err("{{ a.zz.c }}")), "a.zz");
    assert_eq!(undefined_name(&file_err("{{ a['b']['zz'] }}")), "a.b.zz");
    let e = file_err("{{ a.b.nope }}");
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("'a.b' has no key 'nope' (it has: x)"),
        "{:?}",
        e.hint
    );
    // loop variables
    assert_eq!(
        undefined_name(&file_err("{% for u in users %}{{ u.nme }}{% endfor %}")),
        "u.nme"
    );
}

#[test]
fn undefined_in_every_position() {
    for src in [
        "{% if missing %}x{% endif %}",
        "{{ missing | upper }}",
        "{{ 1 + missing }}",
        "{% for x in missing %}{% endfor %}",
        "{{ 'a' ~ missing }}",
        "{{ missing.attr }}",
        "a\nb\n{{ [missing] | first }}",
    ] {
        let e = file_err(src);
        assert_eq!(undefined_name(&e), "missing", "{src}: {e}");
        assert!(e.message.contains("'missing'"), "{src}: {e}");
    }
    assert_eq!(
        file_err("a\nb\n{{ [missing] | first }}")
            .location
            .unwrap()
            .line,
        3
    );
}

#[test]
fn default_and_defined_work_under_strict() {
    let t = Templar::new();
    let r = |s: &str| t.render_str(s, &ctx(), None).unwrap();
    assert_eq!(r("{{ missing | default('x') }}"), "x");
    assert_eq!(r("{{ missing | d('y') }}"), "y");
    assert_eq!(r("{{ a.b.zz | default('z') }}"), "z");
    assert_eq!(
        r("{{ missing is defined }} {{ missing is undefined }} {{ port is defined }}"),
        "False True True"
    );
    assert_eq!(
        r("{% if missing is defined and missing %}x{% else %}y{% endif %}"),
        "y"
    );
    assert_eq!(
        r("{{ none is none }}|{{ none }}|{{ none | default('n') }}"),
        "True||"
    );
}

#[test]
fn chained_lookups_on_undefined_work_like_ansible() {
    let t = Templar::new();
    let r = |s: &str| t.render_str(s, &ctx(), None);
    assert_eq!(r("{{ a.zz.c | default('x') }}").unwrap(), "x");
    assert_eq!(r("{{ missing.b.c is defined }}").unwrap(), "False");
    assert_eq!(r("{{ a.zz.c | default('x') }} {{ a.b.x }}").unwrap(), "x 1");
    assert!(
        !t.eval_expr("missing.b is defined", &ctx(), None)
            .unwrap()
            .is_true()
    );
    assert_eq!(
        t.template_value("{{ a.zz.c | default(7) }}", &ctx(), None)
            .unwrap()
            .as_i64(),
        Some(7)
    );
    // using the undefined value is still an error naming the first missing part
    assert_eq!(undefined_name(&r("{{ a.zz.c }}").unwrap_err()), "a.zz");
    assert_eq!(
        undefined_name(&r("{{ a.zz.c | default('x') }} {{ nope }}").unwrap_err()),
        "a.zz"
    );
    assert_eq!(
        undefined_name(&t.eval_expr("missing.b", &ctx(), None).unwrap_err()),
        "missing"
    );
}

#[test]
fn mandatory_names_the_variable() {
    let e = file_err("{{ db_password | mandatory }}");
    assert_eq!(undefined_name(&e), "db_password");
    assert_eq!(e.message, "mandatory variable 'db_password' not defined");
    let e = file_err("{{ db_password | mandatory('set db_password in vault.yml') }}");
    assert_eq!(e.message, "set db_password in vault.yml");
    assert_eq!(undefined_name(&e), "db_password");
}

#[test]
fn no_autoescape_whatever_the_extension() {
    let t = Templar::new();
    for name in [
        "x.yaml.j2",
        "x.json.j2",
        "x.html.j2",
        "x.htm",
        "x.xml.j2",
        "values.yml.j2",
        "x.js",
    ] {
        let out = t
            .render_file(Path::new(name), "v: {{ s }}\n", &ctx())
            .unwrap();
        assert_eq!(out, "v: <a & \"b\">\n", "{name}");
    }
}

#[test]
fn trim_blocks_and_trailing_newlines() {
    let t = Templar::new();
    let f = |s: &str| t.render_file(Path::new("t.j2"), s, &ctx()).unwrap();
    assert_eq!(f("{% if enabled %}\nyes\n{% endif %}\nend\n"), "yes\nend\n");
    assert_eq!(
        f("{% for i in items %}\n- {{ i }}\n{% endfor %}\n"),
        "- 1\n- 2\n"
    );
    assert_eq!(f("a\n"), "a\n");
    assert_eq!(f("a\n\n"), "a\n\n");
    assert_eq!(f("a"), "a");
    // lstrip_blocks is off, as in Ansible
    assert_eq!(f("  {% if enabled %}\nx\n  {% endif %}\n"), "  x\n  \n");
    assert_eq!(
        t.render_str("x={{ port }}\n", &ctx(), None).unwrap(),
        "x=8080\n"
    );
}

#[test]
fn renders_values_like_ansible() {
    let t = Templar::new();
    let r = |s: &str| t.render_str(s, &ctx(), None).unwrap();
    assert_eq!(
        r("{{ items }} {{ d }} {{ enabled }} {{ none }}"),
        "[1, 2] {'k': 'v'} True "
    );
    assert_eq!(r("{{ [none, 1.5, \"it's\"] }}"), "[None, 1.5, \"it's\"]");
    // minijinja's `{% break %}` works (crate feature loop_controls)
    assert_eq!(r("{% for i in items %}{{ i }}{% break %}{% endfor %}"), "1");
}

#[test]
fn python_methods_work() {
    let t = Templar::new();
    let r = |s: &str| t.render_str(s, &ctx(), None).unwrap();
    assert_eq!(r("{{ d.items() | list }}"), "[['k', 'v']]");
    assert_eq!(
        r("{{ 'abc'.startswith('a') }} {{ 'a,b'.split(',') }} {{ d.get('zz', 1) }}"),
        "True ['a', 'b'] 1"
    );
}

#[test]
fn template_value_is_native_for_single_expressions() {
    let t = Templar::new();
    let v = |s: &str| t.template_value(s, &ctx(), None).unwrap();
    assert_eq!(
        serde_json::to_value(v("{{ items }}")).unwrap(),
        serde_json::json!([1, 2])
    );
    assert_eq!(
        serde_json::to_value(v("{{ {'a': port} }}")).unwrap(),
        serde_json::json!({"a": 8080})
    );
    assert_eq!(v("{{ port + 1 }}").as_i64(), Some(8081));
    assert!(v("{{ enabled }}").is_true() && v("{{ enabled }}").as_str().is_none());
    assert!(v("{{ none }}").is_none());
    assert_eq!(
        v("{{ port }}\n").as_i64(),
        Some(8080),
        "Jinja drops one trailing newline"
    );
    // Ansible gives it back to strings (`content: "{{ key }}\n"`)
    assert_eq!(v("{{ '42' }}\n").as_str(), Some("42\n"));
    assert_eq!(v("{{ none }}\n").as_str(), Some("\n"));
    assert_eq!(v("{{- port -}}").as_i64(), Some(8080));
    assert_eq!(v("{{ '42' }}").as_str(), Some("42"), "strings stay strings");
    // everything else renders to a string
    assert_eq!(v("port={{ port }}").as_str(), Some("port=8080"));
    assert_eq!(v(" {{ port }}").as_str(), Some(" 8080"));
    assert_eq!(v("{{ port }}{{ port }}").as_str(), Some("80808080"));
    assert_eq!(
        v("{% if enabled %}{{ items }}{% endif %}").as_str(),
        Some("[1, 2]")
    );
    assert_eq!(v("plain text").as_str(), Some("plain text"));
    assert_eq!(
        v("{{ 'a\\d' }}").as_str(),
        Some("a\\d"),
        "backslashes are literal in inline templates"
    );
    let e = t.template_value("{{ missing }}", &ctx(), None).unwrap_err();
    assert_eq!(undefined_name(&e), "missing");
    let e = t
        .template_value("{{ users | map(attribute='nope') | list }}", &ctx(), None)
        .unwrap_err();
    assert!(matches!(e.kind, TemplateErrorKind::Undefined { .. }), "{e}");
}

#[test]
fn eval_expr_for_conditionals() {
    let t = Templar::new();
    let e = |s: &str| t.eval_expr(s, &ctx(), None);
    assert!(e("port > 1000 and enabled").unwrap().is_true());
    assert!(!e("port > 1000 and not enabled").unwrap().is_true());
    assert!(!e("missing is defined").unwrap().is_true());
    assert!(
        e("'alice' in users | map(attribute='name')")
            .unwrap()
            .is_true()
    );
    assert!(e("ansible_env.SHELL is match('/bin/')").unwrap().is_true());
    assert_eq!(e("items | length").unwrap().as_i64(), Some(2));
    let origin = Location::new("roles/web/tasks/main.yml", 7, Some(11));
    let err = t
        .eval_expr("missing and enabled", &ctx(), Some(&origin))
        .unwrap_err();
    assert_eq!(undefined_name(&err), "missing");
    assert_eq!(err.location, Some(origin.clone()));
    let err = t.eval_expr("missing", &ctx(), Some(&origin)).unwrap_err();
    assert_eq!(undefined_name(&err), "missing");
    let err = t.eval_expr("port >", &ctx(), Some(&origin)).unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::Syntax);
    // no backslash escaping in bare expressions (as in Ansible)
    assert!(e("'a\\nb' == 'a\nb'").unwrap().is_true());
}

#[test]
fn syntax_errors_name_file_and_line() {
    let e = Templar::new()
        .render_file(Path::new("t.j2"), "ok\n{{ port \nmore\n", &ctx())
        .unwrap_err();
    assert_eq!(e.kind, TemplateErrorKind::Syntax);
    assert!(e.to_string().starts_with("t.j2:"), "{e}");
    assert!(e.message.starts_with("syntax error: "), "{e}");
    let e = Templar::new()
        .render_file(Path::new("t.j2"), "a\n{% if x %}\nb\n", &ctx())
        .unwrap_err();
    assert_eq!(e.kind, TemplateErrorKind::Syntax);
    assert!(e.location.unwrap().line >= 2);
    let e = Templar::new()
        .render_file(Path::new("t.j2"), "a\n{% endfor %}\n", &ctx())
        .unwrap_err();
    assert_eq!(
        (e.kind, e.location.unwrap().line),
        (TemplateErrorKind::Syntax, 2)
    );
}

#[test]
fn inline_errors_use_the_origin() {
    let t = Templar::new();
    let origin = Location::new("group_vars/all.yml", 10, Some(5));
    let e = t
        .render_str("x {{ missing }}", &ctx(), Some(&origin))
        .unwrap_err();
    assert_eq!(
        e.location,
        Some(Location::new("group_vars/all.yml", 10, Some(5)))
    );
    assert_eq!(
        e.summary(),
        "group_vars/all.yml:10:5: undefined variable 'missing'"
    );
    let e = t
        .render_str("line one\nline two {{ missing }}\n", &ctx(), Some(&origin))
        .unwrap_err();
    assert_eq!(
        e.location,
        Some(Location::new("group_vars/all.yml", 11, None))
    );
    let e = t.render_str("{{ missing }}", &ctx(), None).unwrap_err();
    assert_eq!(
        (&e.location, e.to_string()),
        (&None, "undefined variable 'missing'".to_string())
    );
}

#[test]
fn filter_errors() {
    let t = Templar::new();
    let e = t.render_str("{{ d | to_jsn }}", &ctx(), None).unwrap_err();
    assert_eq!(e.kind, TemplateErrorKind::Filter);
    assert_eq!(e.message, "unknown filter 'to_jsn'");
    assert_eq!(e.hint.as_deref(), Some("did you mean 'to_json'?"));
    let e = t
        .render_str("{{ port | combine(d) }}", &ctx(), None)
        .unwrap_err();
    assert_eq!(e.kind, TemplateErrorKind::Filter);
    assert!(e.message.contains("expected dicts"), "{e}");
    let e = t
        .render_str("{{ 'x' is versio('1') }}", &ctx(), None)
        .unwrap_err();
    assert_eq!(
        (e.kind, e.hint.as_deref()),
        (TemplateErrorKind::Filter, Some("did you mean 'version'?"))
    );
}

/// A lazily templated variable map, like the vars engine's.
#[derive(Debug)]
struct LazyVars(bool);

impl Object for LazyVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "ok" => Some(Value::from("fine")),
            "broken" if self.0 => {
                let inner = TemplateError {
                    location: Some(Location::new("host_vars/web1.yml", 3, None)),
                    kind: TemplateErrorKind::Undefined {
                        name: "nope".into(),
                    },
                    message: "undefined variable 'nope'".into(),
                    hint: None,
                };
                Some(Value::from(
                    Error::new(ErrorKind::InvalidOperation, inner.summary()).with_source(inner),
                ))
            }
            "broken" => Some(Value::from(Error::new(
                ErrorKind::UndefinedError,
                "host_vars/web1.yml:3: undefined variable 'nope' (while templating 'broken')",
            ))),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["ok", "broken"])
    }
}

#[test]
fn lazy_variable_errors_surface_the_inner_error() {
    let t = Templar::new();
    let ctx = Value::from_object(LazyVars(false));
    assert_eq!(t.render_str("{{ ok }}", &ctx, None).unwrap(), "fine");
    let e = t
        .render_file(Path::new("site.j2"), "a\n{{ broken }}\n", &ctx)
        .unwrap_err();
    assert_eq!(
        e.message,
        "host_vars/web1.yml:3: undefined variable 'nope' (while templating 'broken')"
    );
    assert_eq!(e.location, Some(Location::new("site.j2", 2, None)));
    let e = t
        .render_str("{{ broken | upper }}", &ctx, None)
        .unwrap_err();
    assert!(
        e.message
            .starts_with("host_vars/web1.yml:3: undefined variable 'nope'"),
        "{e}"
    );

    // a TemplateError carried as the source is returned as is
    let ctx = Value::from_object(LazyVars(true));
    let e = t
        .render_file(Path::new("site.j2"), "{{ broken }}", &ctx)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "host_vars/web1.yml:3: undefined variable 'nope'"
    );
    assert_eq!(undefined_name(&e), "nope");
    // missing keys of a lazy object are ordinary undefined variables
    let e = t.render_str("{{ absent }}", &ctx, None).unwrap_err();
    assert_eq!(undefined_name(&e), "absent");
}

#[test]
fn runaway_recursion_is_an_error() {
    let t = Templar::new();
    let e = t
        .render_str(
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            &ctx(),
            None,
        )
        .unwrap_err();
    assert!(e.message.contains("recursion"), "{e}");
}

#[test]
fn helpers_and_thread_safety() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Templar>();
    assert_send_sync::<TemplateError>();
    assert!(is_template("a {{ b }}") && is_template("{% if %}") && is_template("{# c #}"));
    assert!(!is_template("plain { text }"));
    assert_eq!(
        Templar::new()
            .render_str("no template", &ctx(), None)
            .unwrap(),
        "no template"
    );
    let t = Templar::new();
    assert_eq!(
        t.env()
            .render_str("{{ {'a': 1} | combine({'b': 2}) }}", ())
            .unwrap(),
        "{'a': 1, 'b': 2}"
    );
}
