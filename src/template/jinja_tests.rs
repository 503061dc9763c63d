//! Ansible's Jinja tests (`x is match(...)`, `x is version(...)` ...).

use std::cmp::Ordering;
use std::sync::LazyLock;

use minijinja::value::{Kwargs, Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind};
use regex::Regex;

use super::filters::py_eq;
use super::pyfmt::py_str;
use super::pyregex::PyRegex;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_test("match", test_match);
    env.add_test("search", test_search);
    env.add_test("regex", test_regex);
    env.add_test("version", version);
    env.add_test("version_compare", version);
    env.add_test("truthy", truthy);
    env.add_test("falsy", falsy);
    env.add_test("failed", failed);
    env.add_test("failure", failed);
    env.add_test("succeeded", succeeded);
    env.add_test("success", succeeded);
    env.add_test("successful", succeeded);
    env.add_test("changed", changed);
    env.add_test("change", changed);
    env.add_test("skipped", skipped);
    env.add_test("skip", skipped);
    env.add_test("unreachable", unreachable);
    env.add_test("reachable", reachable);
    env.add_test("timedout", timedout);
    env.add_test("subset", subset);
    env.add_test("superset", superset);
    env.add_test("contains", contains);
}

fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn version_err(msg: impl Into<String>) -> Error {
    err(format!("test 'version': {}", msg.into()))
}

fn text(v: &Value) -> Result<String, Error> {
    if v.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(py_str(v))
}

type SplitArgs = (Vec<Value>, Vec<(String, Value)>);

/// Splits `args` into positionals and keyword arguments (by name).
fn split_args(args: Rest<ValueOrKwargs>, allowed: &[&str], test: &str) -> Result<SplitArgs, Error> {
    let mut positional = args.into_values();
    let mut kw = Vec::new();
    if positional.last().is_some_and(Value::is_kwargs) {
        let kwargs = Kwargs::try_from(positional.pop().unwrap_or_default())?;
        for key in kwargs.args() {
            if !allowed.contains(&key) {
                return Err(err(format!(
                    "test '{test}': unexpected keyword argument '{key}'"
                )));
            }
            kw.push((key.to_string(), kwargs.peek::<Value>(key)?));
        }
    }
    Ok((positional, kw))
}

fn arg(pos: &[Value], kw: &[(String, Value)], i: usize, name: &str) -> Option<Value> {
    kw.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .or_else(|| pos.get(i).cloned())
}

fn regex_test(
    value: Value,
    args: Rest<ValueOrKwargs>,
    default_type: &str,
    test: &str,
) -> Result<bool, Error> {
    let (pos, kw) = split_args(
        args,
        &["pattern", "ignorecase", "multiline", "match_type"],
        test,
    )?;
    let s = text(&value)?;
    let pattern = arg(&pos, &kw, 0, "pattern")
        .map(|v| text(&v))
        .transpose()?
        .unwrap_or_default();
    let ignorecase = arg(&pos, &kw, 1, "ignorecase").is_some_and(|v| v.is_true());
    let multiline = arg(&pos, &kw, 2, "multiline").is_some_and(|v| v.is_true());
    let match_type = match arg(&pos, &kw, 3, "match_type") {
        Some(v) if test == "regex" => text(&v)?,
        _ => default_type.to_string(),
    };
    let in_test = |e: Error| err(format!("test '{test}': {}", e.detail().unwrap_or_default()));
    Ok(match match_type.as_str() {
        "match" => PyRegex::new_anchored(&pattern, ignorecase, multiline)
            .map_err(in_test)?
            .is_match(&s),
        "fullmatch" => PyRegex::new_anchored(&format!("(?:{pattern})\\Z"), ignorecase, multiline)
            .map_err(in_test)?
            .is_match(&s),
        _ => PyRegex::new(&pattern, ignorecase, multiline)
            .map_err(in_test)?
            .is_match(&s),
    })
}

/// `re.match`: anchored at the start.
fn test_match(value: Value, args: Rest<ValueOrKwargs>) -> Result<bool, Error> {
    regex_test(value, args, "match", "match")
}

fn test_search(value: Value, args: Rest<ValueOrKwargs>) -> Result<bool, Error> {
    regex_test(value, args, "search", "search")
}

fn test_regex(value: Value, args: Rest<ValueOrKwargs>) -> Result<bool, Error> {
    regex_test(value, args, "search", "regex")
}

// ---------------------------------------------------------------- versions

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Num(u128),
    Str(String),
}

/// distutils' LooseVersion components: runs of digits, runs of lowercase
/// letters, and any other text between them; `.` separators dropped.
fn loose_parts(v: &str) -> Vec<Part> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(\d+|[a-z]+|\.)").expect("valid regex"));
    let mut parts = Vec::new();
    let mut last = 0;
    let mut push = |s: &str| {
        if s.is_empty() || s == "." {
            return;
        }
        parts.push(match s.parse::<u128>() {
            Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => Part::Num(n),
            _ => Part::Str(s.to_string()),
        });
    };
    for m in RE.find_iter(v) {
        push(&v[last..m.start()]);
        push(m.as_str());
        last = m.end();
    }
    push(&v[last..]);
    parts
}

fn loose_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let (x, y) = (loose_parts(a), loose_parts(b));
    for (p, q) in x.iter().zip(&y) {
        if p == q {
            continue;
        }
        return match (p, q) {
            (Part::Num(m), Part::Num(n)) => Ok(m.cmp(n)),
            (Part::Str(m), Part::Str(n)) => Ok(m.cmp(n)),
            (Part::Str(_), Part::Num(_)) => Err(version_err(
                "Version comparison failed: '<' not supported between instances of 'str' and 'int'",
            )),
            (Part::Num(_), Part::Str(_)) => Err(version_err(
                "Version comparison failed: '<' not supported between instances of 'int' and 'str'",
            )),
        };
    }
    Ok(x.len().cmp(&y.len()))
}

type StrictVersion = ((u64, u64, u64), Option<(String, u64)>);

fn strict_parse(v: &str) -> Result<StrictVersion, Error> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$").expect("valid regex"));
    let bad = || {
        version_err(format!(
            "Version comparison failed: invalid version number '{v}'"
        ))
    };
    let c = RE.captures(v).ok_or_else(bad)?;
    let num = |i: usize| {
        c.get(i)
            .map_or(Ok(0), |m| m.as_str().parse::<u64>())
            .map_err(|_| bad())
    };
    let pre = match c.get(5) {
        Some(m) => Some((m.as_str()[..1].to_string(), num(6)?)),
        None => None,
    };
    Ok(((num(1)?, num(2)?, num(4)?), pre))
}

fn strict_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let (x, y) = (strict_parse(a)?, strict_parse(b)?);
    Ok(x.0.cmp(&y.0).then_with(|| match (&x.1, &y.1) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(p), Some(q)) => p.cmp(q),
    }))
}

type SemVer = (u128, u128, u128, Vec<String>);

fn semver_parse(v: &str) -> Result<SemVer, Error> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$",
        )
        .expect("valid regex")
    });
    let bad = || {
        version_err(format!(
            "Version comparison failed: invalid semantic version '{v}'"
        ))
    };
    let c = RE.captures(v).ok_or_else(bad)?;
    let n = |i: usize| c[i].parse::<u128>().map_err(|_| bad());
    let pre = c
        .get(4)
        .map(|m| m.as_str().split('.').map(str::to_string).collect())
        .unwrap_or_default();
    Ok((n(1)?, n(2)?, n(3)?, pre))
}

fn semver_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let (x, y) = (semver_parse(a)?, semver_parse(b)?);
    let core = (x.0, x.1, x.2).cmp(&(y.0, y.1, y.2));
    if core != Ordering::Equal {
        return Ok(core);
    }
    Ok(match (x.3.is_empty(), y.3.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            for (p, q) in x.3.iter().zip(&y.3) {
                let ord = match (p.parse::<u128>(), q.parse::<u128>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => p.cmp(q),
                };
                if ord != Ordering::Equal {
                    return Ok(ord);
                }
            }
            x.3.len().cmp(&y.3.len())
        }
    })
}

/// Ansible's `version` test (`version_compare`).
fn version(value: Value, args: Rest<ValueOrKwargs>) -> Result<bool, Error> {
    let (pos, kw) = split_args(
        args,
        &["version", "operator", "strict", "version_type"],
        "version",
    )?;
    let value = text(&value)?;
    let other = arg(&pos, &kw, 0, "version")
        .map(|v| text(&v))
        .transpose()?
        .unwrap_or_default();
    let op = arg(&pos, &kw, 1, "operator")
        .map(|v| text(&v))
        .transpose()?
        .unwrap_or_else(|| "eq".into());
    let strict = arg(&pos, &kw, 2, "strict").filter(|v| !v.is_none());
    let vtype = arg(&pos, &kw, 3, "version_type")
        .filter(|v| !v.is_none())
        .map(|v| text(&v))
        .transpose()?;
    if strict.is_some() && vtype.is_some() {
        return Err(version_err(
            "Cannot specify both 'strict' and 'version_type'",
        ));
    }
    if other.is_empty() {
        return Err(version_err(
            "Version parameter to compare against cannot be empty",
        ));
    }
    let kind = match (&strict, vtype.as_deref()) {
        (Some(s), _) if s.is_true() => "strict",
        (_, Some(t)) => t,
        _ => "loose",
    };
    let op = match op.as_str() {
        "==" | "=" | "eq" => "eq",
        "<" | "lt" => "lt",
        "<=" | "le" => "le",
        ">" | "gt" => "gt",
        ">=" | "ge" => "ge",
        "!=" | "<>" | "ne" => "ne",
        other => {
            return Err(version_err(format!(
                "Invalid operator type ({other}). Must be one of '==', '=', 'eq', '<', 'lt', '<=', 'le', '>', 'gt', '>=', 'ge', '!=', '<>', 'ne'"
            )));
        }
    };
    let ord = match kind {
        "loose" => loose_cmp(&value, &other)?,
        "strict" => strict_cmp(&value, &other)?,
        "semver" | "semantic" => semver_cmp(&value, &other)?,
        other => {
            return Err(version_err(format!(
                "Invalid version type ({other}). Must be one of 'loose', 'strict', 'semver', 'semantic' ('pep440' is not supported)"
            )));
        }
    };
    Ok(match op {
        "eq" => ord == Ordering::Equal,
        "ne" => ord != Ordering::Equal,
        "lt" => ord == Ordering::Less,
        "le" => ord != Ordering::Greater,
        "gt" => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    })
}

// ---------------------------------------------------------------- truthiness and results

/// `ansible.module_utils.parsing.convert_bool.boolean(value)` (strict): None if not convertible.
fn module_boolean(v: &Value) -> Option<bool> {
    match v.kind() {
        ValueKind::Bool => Some(v.is_true()),
        ValueKind::String => match v
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_lowercase()
            .as_str()
        {
            "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" => Some(false),
            _ => None,
        },
        ValueKind::Number => {
            let f = f64::try_from(v.clone()).ok()?;
            if f == 1.0 {
                Some(true)
            } else if f == 0.0 {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn truthy(value: Value, args: Rest<ValueOrKwargs>) -> Result<bool, Error> {
    let (pos, kw) = split_args(args, &["convert_bool"], "truthy")?;
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    if arg(&pos, &kw, 0, "convert_bool").is_some_and(|v| v.is_true())
        && let Some(b) = module_boolean(&value)
    {
        return Ok(b);
    }
    Ok(value.is_true())
}

fn falsy(value: Value, args: Rest<ValueOrKwargs>) -> Result<bool, Error> {
    truthy(value, args).map(|b| !b)
}

fn result_dict(value: &Value, test: &str) -> Result<(), Error> {
    if value.kind() == ValueKind::Map {
        Ok(())
    } else {
        Err(err(format!(
            "test '{test}': The '{test}' test expects a dictionary"
        )))
    }
}

fn flag(value: &Value, key: &str) -> bool {
    value.get_attr(key).is_ok_and(|v| v.is_true())
}

fn failed(value: Value) -> Result<bool, Error> {
    result_dict(&value, "failed")?;
    Ok(flag(&value, "failed"))
}

fn succeeded(value: Value) -> Result<bool, Error> {
    result_dict(&value, "successful")?;
    Ok(!flag(&value, "failed"))
}

fn changed(value: Value) -> Result<bool, Error> {
    result_dict(&value, "changed")?;
    let has_changed = value.get_attr("changed").is_ok_and(|v| !v.is_undefined());
    if !has_changed
        && let Ok(results) = value.get_attr("results")
        && results.kind() == ValueKind::Seq
    {
        return Ok(results.try_iter()?.any(|r| flag(&r, "changed")));
    }
    Ok(flag(&value, "changed"))
}

fn skipped(value: Value) -> Result<bool, Error> {
    result_dict(&value, "skipped")?;
    Ok(flag(&value, "skipped"))
}

fn unreachable(value: Value) -> Result<bool, Error> {
    result_dict(&value, "unreachable")?;
    Ok(flag(&value, "unreachable"))
}

/// A task that ran past its `timeout` (Ansible: `timedout.period` is set).
fn timedout(value: Value) -> Result<bool, Error> {
    result_dict(&value, "timedout")?;
    Ok(value
        .get_attr("timedout")
        .is_ok_and(|t| t.get_attr("period").is_ok_and(|p| p.is_true())))
}

fn reachable(value: Value) -> Result<bool, Error> {
    unreachable(value).map(|b| !b)
}

fn list(v: &Value) -> Result<Vec<Value>, Error> {
    if v.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(v.try_iter()?.collect())
}

fn subset(a: Value, b: Value) -> Result<bool, Error> {
    let (x, y) = (list(&a)?, list(&b)?);
    Ok(x.iter().all(|v| y.iter().any(|w| py_eq(v, w))))
}

fn superset(a: Value, b: Value) -> Result<bool, Error> {
    subset(b, a)
}

fn contains(seq: Value, v: Value) -> Result<bool, Error> {
    Ok(list(&seq)?.iter().any(|w| py_eq(w, &v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_version_parts() {
        assert_eq!(
            loose_parts("1.0.0-rc1"),
            vec![
                Part::Num(1),
                Part::Num(0),
                Part::Num(0),
                Part::Str("-".into()),
                Part::Str("rc".into()),
                Part::Num(1)
            ]
        );
        assert_eq!(loose_cmp("1.10", "1.9").unwrap(), Ordering::Greater);
        assert_eq!(loose_cmp("1.2", "1.2.0").unwrap(), Ordering::Less);
        assert!(loose_cmp("1.a", "1.1").is_err());
    }
}
