//! `json_query` (community.general): a JMESPath expression over a value, as
//! Ansible's filter calls `jmespath.search(expr, data)`. The value is read as
//! the JSON it would serialise to (so facts, registered results and variables
//! all query alike); `null` (Python's `None`) when nothing matches. A bad
//! expression is the filter's error, with JMESPath's own message, as in
//! Ansible ("JMESPathError in json_query filter plugin").

use minijinja::Error;
use minijinja::value::{Value, ValueKind};

use super::filters::{filter_err, undefined_err};

/// The filter's name, for "did you mean".
pub(crate) const NAME: &str = "json_query";

pub(crate) fn json_query(data: Value, expr: Value) -> Result<Value, Error> {
    if data.is_undefined() || expr.is_undefined() {
        return Err(undefined_err());
    }
    let Some(expr) = expr.as_str() else {
        return Err(filter_err(
            NAME,
            format!("the expression must be a string, not {}", expr.kind()),
        ));
    };
    let data = to_json(&data)?;
    let compiled = jmespath::compile(expr).map_err(|e| {
        filter_err(
            NAME,
            format!("JMESPathError in json_query filter plugin:\n{e}"),
        )
    })?;
    let found = compiled.search(data).map_err(|e| {
        filter_err(
            NAME,
            format!("JMESPathError in json_query filter plugin:\n{e}"),
        )
    })?;
    let out = serde_json::to_value(&*found)
        .map_err(|e| filter_err(NAME, format!("cannot read the result: {e}")))?;
    Ok(Value::from(minijinja::value::Serde(int_numbers(out))))
}

/// The value as JSON; an undefined part is the template's undefined error.
fn to_json(v: &Value) -> Result<serde_json::Value, Error> {
    if v.kind() == ValueKind::Undefined {
        return Err(undefined_err());
    }
    serde_json::to_value(v).map_err(|e| filter_err(NAME, format!("cannot query this value: {e}")))
}

/// JMESPath keeps every number as a float; a whole one came from (or counts
/// as) a Python int, as `jmespath.search` returns it (`length(x)` is `3`, not
/// `3.0`).
fn int_numbers(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => J::from(f as i64),
            _ => J::Number(n),
        },
        J::Array(a) => J::Array(a.into_iter().map(int_numbers).collect()),
        J::Object(m) => J::Object(m.into_iter().map(|(k, v)| (k, int_numbers(v))).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use crate::template::Templar;
    use serde_json::json;

    /// Renders `{{ data | json_query(q) | to_json }}` with `data` bound.
    fn q(data: serde_json::Value, query: &str) -> Result<String, String> {
        let t = Templar::new();
        let ctx =
            minijinja::Value::from(minijinja::value::Serde(json!({ "data": data, "q": query })));
        t.env()
            .render_str("{{ data | json_query(q) | to_json }}", ctx)
            .map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn queries_as_jmespath_search_does() {
        let users = json!({"users": [
            {"name": "ann", "groups": ["adm", "web"], "uid": 1001, "shell": "/bin/bash"},
            {"name": "bob", "groups": ["web"], "uid": 1002},
            {"name": "cy", "groups": [], "uid": 1003, "shell": "/bin/zsh"}
        ]});
        assert_eq!(
            q(users.clone(), "users[*].name").unwrap(),
            r#"["ann", "bob", "cy"]"#
        );
        assert_eq!(
            q(users.clone(), "users[?contains(groups, 'web')].name").unwrap(),
            r#"["ann", "bob"]"#
        );
        assert_eq!(
            q(users.clone(), "users[?uid > `1001`].uid").unwrap(),
            "[1002, 1003]"
        );
        // a missing key drops out of a projection; nothing found is null
        assert_eq!(
            q(users.clone(), "users[*].shell").unwrap(),
            r#"["/bin/bash", "/bin/zsh"]"#
        );
        assert_eq!(q(users.clone(), "nobody").unwrap(), "null");
        assert_eq!(q(users.clone(), "length(users)").unwrap(), "3");
        assert_eq!(
            q(users.clone(), "users[0].{n: name, first: groups[0]}").unwrap(),
            r#"{"first": "adm", "n": "ann"}"#
        );
        assert_eq!(
            q(users.clone(), "join(', ', users[].name)").unwrap(),
            r#""ann, bob, cy""#
        );
        assert_eq!(
            q(users.clone(), "max_by(users, &uid).name").unwrap(),
            r#""cy""#
        );
        assert_eq!(
            q(users, "users[].groups[]").unwrap(),
            r#"["adm", "web", "web"]"#
        );
        // floats stay floats
        assert_eq!(q(json!({"a": [1.5, 2]}), "a").unwrap(), "[1.5, 2]");
        // a list at the top (a registered loop's results)
        assert_eq!(
            q(
                json!([{"item": "a", "rc": 0}, {"item": "b", "rc": 1}]),
                "[?rc != `0`].item"
            )
            .unwrap(),
            r#"["b"]"#
        );
    }

    #[test]
    fn a_bad_expression_is_the_filters_error() {
        let e = q(json!({"a": 1}), "a[?").unwrap_err();
        assert!(
            e.contains("JMESPathError in json_query filter plugin"),
            "{e}"
        );
        let e = q(json!({"a": 1}), "unknown_fn(a)").unwrap_err();
        assert!(e.contains("JMESPathError"), "{e}");
        let t = Templar::new();
        let e = t
            .env()
            .render_str("{{ {'a': 1} | json_query(3) }}", ())
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("the expression must be a string"),
            "{e:#}"
        );
        // the FQCN works too
        assert_eq!(
            t.env()
                .render_str(
                    "{{ {'a': [1, 2]} | community.general.json_query('a[-1]') }}",
                    ()
                )
                .unwrap(),
            "2"
        );
    }
}
