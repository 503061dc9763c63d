//! Ansible's filters, each a small function with Ansible's (Python) semantics.
//! Expected outputs come from real Ansible (see `tests/golden/template_golden.py`).

use std::fmt::Write as _;

use base64::Engine as _;
use minijinja::value::{Kwargs, Rest, StringInput, Value, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State};

use super::limits;
use super::pyfmt::{self, JsonOpts, map_entries, py_str};
use super::pyregex::{self, PyRegex};
use super::yaml_emit::{self, YamlOpts};
use crate::transport::shell_quote;

/// Registers all Ansible filters (overriding minijinja's where Ansible differs).
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("mandatory", mandatory);
    env.add_filter("ternary", ternary);
    env.add_filter("bool", to_bool);
    env.add_filter("int", to_int);
    env.add_filter("float", to_float);
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", from_json);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("expanduser", expanduser);
    env.add_filter("splitext", splitext);
    env.add_filter("path_join", path_join);
    env.add_filter("quote", quote);
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("flatten", flatten);
    env.add_filter("unique", unique);
    env.add_filter("union", union);
    env.add_filter("intersect", intersect);
    env.add_filter("difference", difference);
    env.add_filter("symmetric_difference", symmetric_difference);
    env.add_filter("hash", hash);
    env.add_filter("checksum", checksum);
    env.add_filter("sha1", checksum);
    env.add_filter("md5", md5);
    env.add_filter("password_hash", password_hash);
    env.add_filter("to_uuid", to_uuid);
    env.add_filter("type_debug", type_debug);
    // minijinja's own filters that build sizes taken from the template, bounded
    env.add_filter("indent", indent);
    env.add_filter("replace", replace);
    env.add_filter("batch", batch);
    env.add_filter("slice", slice);
    env.add_filter("format", format);
    env.add_filter("join", join);
    env.add_filter("tojson", tojson);
    super::filters_ext::register(env);
    env.add_filter(super::json_query::NAME, super::json_query::json_query);
}

// ---------------------------------------------------------------- helpers

pub(super) fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Prefixes an error from a helper with the filter's name.
fn in_filter(name: &str, e: Error) -> Error {
    filter_err(name, e.detail().unwrap_or_default())
}

pub(super) fn filter_err(name: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("filter '{name}': {msg}"),
    )
}

/// Python-style argument binding: positional arguments fill `params` in order,
/// keyword arguments by name. Unknown keywords and extra positionals are errors.
pub(super) struct Args {
    name: String,
    params: Vec<String>,
    values: Vec<Option<Value>>,
}

impl Args {
    pub(super) fn bind(
        name: &str,
        rest: Rest<ValueOrKwargs>,
        params: &[&str],
    ) -> Result<Args, Error> {
        let mut positional = rest.into_values();
        let kwargs = match positional.last() {
            Some(last) if last.is_kwargs() => {
                Some(Kwargs::try_from(positional.pop().unwrap_or_default())?)
            }
            _ => None,
        };
        if positional.len() > params.len() {
            return Err(filter_err(
                name,
                format!(
                    "takes at most {} arguments ({} given)",
                    params.len(),
                    positional.len()
                ),
            ));
        }
        let mut values: Vec<Option<Value>> = params.iter().map(|_| None).collect();
        for (i, v) in positional.into_iter().enumerate() {
            values[i] = Some(v);
        }
        if let Some(kwargs) = kwargs {
            for key in kwargs.args() {
                let Some(idx) = params.iter().position(|p| *p == key) else {
                    return Err(filter_err(
                        name,
                        format!("got an unexpected keyword argument '{key}'"),
                    ));
                };
                if values[idx].is_some() {
                    return Err(filter_err(
                        name,
                        format!("got multiple values for argument '{key}'"),
                    ));
                }
                values[idx] = Some(kwargs.peek::<Value>(key)?);
            }
        }
        Ok(Args {
            name: name.to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
            values,
        })
    }

    pub(super) fn get(&self, i: usize) -> Option<&Value> {
        self.values.get(i).and_then(|v| v.as_ref())
    }

    /// The argument, treating an explicit `None` like an absent one.
    pub(super) fn opt(&self, i: usize) -> Option<&Value> {
        self.get(i).filter(|v| !v.is_none())
    }

    pub(super) fn bool_or(&self, i: usize, default: bool) -> bool {
        self.get(i).map_or(default, Value::is_true)
    }

    pub(super) fn str_or<'a>(&'a self, i: usize, default: &'a str) -> Result<String, Error> {
        match self.opt(i) {
            None => Ok(default.to_string()),
            Some(v) => Ok(text(v)?),
        }
    }

    pub(super) fn int_opt(&self, i: usize) -> Result<Option<i64>, Error> {
        match self.opt(i) {
            None => Ok(None),
            Some(v) => i64::try_from(v.clone()).map(Some).map_err(|_| {
                filter_err(
                    &self.name,
                    // the value itself is not shown: it may be a secret
                    format!(
                        "argument '{}' must be an integer, got a {}",
                        self.params[i],
                        type_name(v)
                    ),
                )
            }),
        }
    }
}

pub(super) fn undefined_err() -> Error {
    Error::from(ErrorKind::UndefinedError)
}

/// Python's `to_text(value, nonstring='simplerepr')`: `str(value)`.
pub(super) fn text(v: &Value) -> Result<String, Error> {
    if v.is_undefined() {
        return Err(undefined_err());
    }
    Ok(py_str(v))
}

pub(super) fn is_sequence(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable)
}

pub(super) fn items(v: &Value) -> Result<Vec<Value>, Error> {
    Ok(v.try_iter()?.collect())
}

/// Python's `==` between plain data values (1 == 1.0 == True).
pub(crate) fn py_eq(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| -> Option<f64> {
        match v.kind() {
            ValueKind::Bool => Some(if v.is_true() { 1.0 } else { 0.0 }),
            ValueKind::Number => f64::try_from(v.clone()).ok(),
            _ => None,
        }
    };
    match (a.kind(), b.kind()) {
        (ValueKind::Number | ValueKind::Bool, ValueKind::Number | ValueKind::Bool) => {
            if a.is_integer() && b.is_integer() {
                return a == b;
            }
            num(a) == num(b)
        }
        (ValueKind::Seq | ValueKind::Iterable, ValueKind::Seq | ValueKind::Iterable) => {
            let (Ok(x), Ok(y)) = (items(a), items(b)) else {
                return false;
            };
            x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| py_eq(p, q))
        }
        (ValueKind::Map, ValueKind::Map) => {
            let (Ok(x), Ok(y)) = (map_entries(a), map_entries(b)) else {
                return false;
            };
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.iter().any(|(k2, v2)| py_eq(k, k2) && py_eq(v, v2)))
        }
        (ka, kb) if ka == kb => a == b,
        _ => false,
    }
}

fn contains(list: &[Value], v: &Value) -> bool {
    list.iter().any(|x| py_eq(x, v))
}

fn unique_py(list: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in list {
        if !contains(&out, &v) {
            out.push(v);
        }
    }
    out
}

/// Ansible's `native_type_name`.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq if v.is_tuple() => "tuple",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

// ---------------------------------------------------------------- undefined, ternary, bool, numbers

/// Marker prefix of the error detail of `mandatory`, turned into a message
/// naming the variable by the error conversion in `mod.rs`.
pub(crate) const MANDATORY_MARK: &str = "mandatory variable not defined";
pub(crate) const MANDATORY_MSG_MARK: &str = "mandatory: ";

fn mandatory(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("mandatory", args, &["msg"])?;
    if value.is_undefined() {
        return Err(match a.opt(0) {
            Some(msg) => Error::new(
                ErrorKind::UndefinedError,
                format!("{MANDATORY_MSG_MARK}{}", py_str(msg)),
            ),
            None => Error::new(ErrorKind::UndefinedError, MANDATORY_MARK),
        });
    }
    Ok(value)
}

fn ternary(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("ternary", args, &["true_val", "false_val", "none_val"])?;
    if value.is_undefined() {
        return Err(undefined_err());
    }
    let true_val = a
        .get(0)
        .cloned()
        .ok_or_else(|| filter_err("ternary", "missing argument 'true_val'"))?;
    let false_val = a
        .get(1)
        .cloned()
        .ok_or_else(|| filter_err("ternary", "missing argument 'false_val'"))?;
    if value.is_none()
        && let Some(none_val) = a.opt(2)
    {
        return Ok(none_val.clone());
    }
    Ok(if value.is_true() { true_val } else { false_val })
}

/// Ansible's `bool` filter (`to_bool`).
fn to_bool(value: Value) -> Result<bool, Error> {
    const TRUE: [&str; 4] = ["yes", "on", "true", "1"];
    const FALSE: [&str; 4] = ["no", "off", "false", "0"];
    let check = match value.kind() {
        ValueKind::Undefined => return Err(undefined_err()),
        ValueKind::String => value.as_str().unwrap_or_default().to_lowercase(),
        ValueKind::Bool => if value.is_true() { "true" } else { "false" }.to_string(),
        ValueKind::Number if value.is_integer() => value.to_string(),
        // deprecated fallback in Ansible: `value == 1`
        ValueKind::Number => return Ok(f64::try_from(value)? == 1.0),
        _ => return Ok(false),
    };
    if TRUE.contains(&check.as_str()) {
        Ok(true)
    } else {
        // FALSE and every other value (deprecated coercion) give false
        let _ = FALSE;
        Ok(false)
    }
}

/// Python's `int(s, base)` for strings.
fn py_parse_int(s: &str, base: u32) -> Option<i128> {
    let t = s.trim();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = t.to_ascii_lowercase();
    let (base, digits) = match (base, lower.get(..2)) {
        (16 | 0, Some("0x")) => (16, &t[2..]),
        (8 | 0, Some("0o")) => (8, &t[2..]),
        (2 | 0, Some("0b")) => (2, &t[2..]),
        (0, _) => (10, t),
        (b, _) => (b, t),
    };
    if !(2..=36).contains(&base)
        || digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let v = i128::from_str_radix(&clean, base).ok()?;
    Some(if neg { -v } else { v })
}

/// Python's `float(s)` for strings.
fn py_parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity" | "nan") {
        return lower.parse().ok().or(match body {
            "nan" => Some(f64::NAN),
            _ if lower.starts_with('-') => Some(f64::NEG_INFINITY),
            _ => Some(f64::INFINITY),
        });
    }
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
    {
        return None;
    }
    clean.parse().ok()
}

/// Jinja2's `int` filter: `int(value, base)`, falling back to `int(float(value))`, then `default`.
fn to_int(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("int", args, &["default", "base"])?;
    let default = a.get(0).cloned().unwrap_or(Value::from(0));
    let base = a.int_opt(1)?.unwrap_or(10);
    let base = u32::try_from(base).map_err(|_| filter_err("int", "invalid base"))?;
    Ok(match value.kind() {
        ValueKind::Undefined => return Err(undefined_err()),
        ValueKind::Bool => Value::from(i64::from(value.is_true())),
        ValueKind::Number if value.is_integer() => value,
        ValueKind::Number => {
            let f = f64::try_from(value)?;
            if f.is_finite() {
                Value::from(f.trunc() as i128)
            } else {
                default
            }
        }
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            match py_parse_int(s, base) {
                Some(i) => Value::from(i),
                None => match py_parse_float(s) {
                    Some(f) if f.is_finite() => Value::from(f.trunc() as i128),
                    _ => default,
                },
            }
        }
        _ => default,
    })
}

/// Jinja2's `float` filter.
fn to_float(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("float", args, &["default"])?;
    let default = a.get(0).cloned().unwrap_or(Value::from(0.0));
    Ok(match value.kind() {
        ValueKind::Undefined => return Err(undefined_err()),
        ValueKind::Bool => Value::from(if value.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => Value::from(f64::try_from(value)?),
        ValueKind::String => {
            py_parse_float(value.as_str().unwrap_or_default()).map_or(default, Value::from)
        }
        _ => default,
    })
}

// ---------------------------------------------------------------- bounded builtins

/// Jinja's `indent(width=4, first=False, blank=False)`, with the output size
/// checked before it is built. As Jinja does, a trailing newline is kept
/// (the text gets one more before Python's `splitlines`), lines are joined
/// with `\n`, and blank lines get no indent unless `blank`.
fn indent(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    let a = Args::bind("indent", args, &["width", "first", "blank"])?;
    let width = match a.opt(0) {
        None => 4,
        Some(w) => usize::try_from(w.clone())
            .map_err(|_| filter_err("indent", "argument 'width' must be a non-negative integer"))?,
    };
    let (first, blank) = (a.bool_or(1, false), a.bool_or(2, false));
    let input = text(&value)?;
    let lines = input.matches('\n').count() as u128 + 2;
    limits::check_size(
        "filter 'indent'",
        input.len() as u128 + lines * width as u128,
    )?;
    let input = format!("{input}\n");
    let pad = " ".repeat(width);
    let mut out = String::new();
    for (i, line) in crate::inventory::py_splitlines(&input)
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push('\n');
        }
        let indented = if i == 0 { first } else { true };
        if indented && (blank || !line.is_empty()) {
            out.push_str(&pad);
        }
        out.push_str(line);
    }
    Ok(out)
}

/// `replace(old, new)`, with the output size checked before it is built.
fn replace(value: Value, old: Value, new: Value) -> Result<String, Error> {
    let (s, old, new) = (text(&value)?, text(&old)?, text(&new)?);
    if new.len() > old.len() {
        let n = if old.is_empty() {
            s.chars().count() + 1
        } else {
            s.matches(old.as_str()).count()
        };
        limits::check_size(
            "filter 'replace'",
            s.len() as u128 + n as u128 * (new.len() - old.len()) as u128,
        )?;
    }
    Ok(s.replace(old.as_str(), &new))
}

/// minijinja's `batch`, whose fill pads the last batch to `count` items.
fn batch(
    state: &State,
    value: Value,
    count: usize,
    fill_with: Option<Value>,
) -> Result<Value, Error> {
    if fill_with.is_some() {
        limits::check_items("filter 'batch'", count as u128)?;
    }
    minijinja::filters::batch(state, value, count, fill_with)
}

/// minijinja's `slice`, which builds `count` lists.
fn slice(
    state: &State,
    value: Value,
    count: usize,
    fill_with: Option<Value>,
) -> Result<Value, Error> {
    limits::check_items("filter 'slice'", count as u128)?;
    minijinja::filters::slice(state, value, count, fill_with)
}

/// minijinja's printf-style `format`, with widths and precisions bounded.
fn format(state: &mut State, fmt: &Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    if let Some(f) = fmt.as_str() {
        limits::check_format("filter 'format'", f)?;
        let values: Vec<Value> = args.0.iter().map(|a| Value::clone(a)).collect();
        limits::check_format_args("filter 'format'", f, &values)?;
    }
    minijinja::filters::format(state, fmt, args)
}

/// minijinja's `join`, with the joined length checked before anything is built
/// (each item counted as its whole display, an upper bound with `attribute`).
fn join(
    state: &mut State,
    value: &Value,
    joiner: Option<StringInput<'_>>,
    attribute: Option<&str>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let max = limits::limits().max_output;
    let sep = joiner.as_ref().map_or(0, |j| j.as_str().len()) as u128;
    if let Ok(items) = value.try_iter() {
        let mut total: u128 = 0;
        for (i, item) in items.enumerate() {
            let len = limits::display_len(&item, max).map_or(u128::MAX, |n| n as u128);
            total = total
                .saturating_add(len)
                .saturating_add(if i > 0 { sep } else { 0 });
            limits::check_size("filter 'join'", total)?;
        }
    }
    minijinja::filters::join(state, value, joiner, attribute, kwargs)
}

/// minijinja's `tojson(indent=N)`, with the indent bounded.
fn tojson(value: &Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let given = match &indent {
        Some(v) => Some(v.clone()),
        None => kwargs.peek::<Option<Value>>("indent")?,
    };
    if let Some(n) = given.filter(|v| v.kind() == ValueKind::Number) {
        check_indent("tojson", usize::try_from(n).unwrap_or(usize::MAX))?;
    }
    minijinja::filters::tojson(value, indent, kwargs)
}

/// An indent given to `to_json`, `to_yaml`... (Python accepts any).
const MAX_INDENT: usize = 10_000;

fn check_indent(name: &str, n: usize) -> Result<usize, Error> {
    if n > MAX_INDENT {
        return Err(filter_err(
            name,
            format!("indent {n} is larger than the limit of {MAX_INDENT}"),
        ));
    }
    Ok(n)
}

// ---------------------------------------------------------------- json / yaml

fn json_opts(
    a: &Args,
    indent_i: usize,
    sort_i: usize,
    ascii_i: usize,
    defaults: JsonOpts,
) -> Result<JsonOpts, Error> {
    let mut opts = defaults;
    if let Some(ind) = a.opt(indent_i) {
        opts.indent = Some(match ind.kind() {
            ValueKind::String => {
                let ind = ind.as_str().unwrap_or_default();
                check_indent(&a.name, ind.len())?;
                ind.to_string()
            }
            _ => " ".repeat(check_indent(
                &a.name,
                usize::try_from(ind.clone()).unwrap_or(0),
            )?),
        });
        opts.item_sep = ",".into();
    }
    if let Some(v) = a.get(sort_i) {
        opts.sort_keys = v.is_true();
    }
    if let Some(v) = a.get(ascii_i) {
        opts.ensure_ascii = v.is_true();
    }
    Ok(opts)
}

fn to_json(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    let a = Args::bind("to_json", args, &["indent", "sort_keys", "ensure_ascii"])?;
    pyfmt::to_json(&value, &json_opts(&a, 0, 1, 2, JsonOpts::default())?)
}

fn to_nice_json(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    let a = Args::bind(
        "to_nice_json",
        args,
        &["indent", "sort_keys", "ensure_ascii"],
    )?;
    let defaults = JsonOpts {
        indent: Some("    ".into()),
        sort_keys: true,
        item_sep: ",".into(),
        ..JsonOpts::default()
    };
    pyfmt::to_json(&value, &json_opts(&a, 0, 1, 2, defaults)?)
}

fn from_json(value: Value) -> Result<Value, Error> {
    pyfmt::from_json_str(&text(&value)?).map_err(|e| in_filter("from_json", e))
}

fn yaml_opts(a: &Args, defaults: YamlOpts) -> Result<YamlOpts, Error> {
    let mut opts = defaults;
    // params: indent, default_flow_style, width, sort_keys, explicit_start, allow_unicode
    if let Some(i) = a.int_opt(0)? {
        opts.indent = check_indent(&a.name, usize::try_from(i).unwrap_or(2))?;
    }
    if let Some(v) = a.get(1) {
        opts.default_flow_style = if v.is_none() { None } else { Some(v.is_true()) };
    }
    if let Some(w) = a.int_opt(2)? {
        opts.width = usize::try_from(w).unwrap_or(usize::MAX);
    }
    if let Some(v) = a.get(3) {
        opts.sort_keys = v.is_true();
    }
    if let Some(v) = a.get(4) {
        opts.explicit_start = v.is_true();
    }
    if let Some(v) = a.get(5) {
        opts.allow_unicode = v.is_true();
    }
    Ok(opts)
}

const YAML_PARAMS: &[&str] = &[
    "indent",
    "default_flow_style",
    "width",
    "sort_keys",
    "explicit_start",
    "allow_unicode",
];

fn to_yaml(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    let a = Args::bind("to_yaml", args, YAML_PARAMS)?;
    yaml_emit::dump(&value, &yaml_opts(&a, YamlOpts::default())?)
}

fn to_nice_yaml(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    let a = Args::bind("to_nice_yaml", args, YAML_PARAMS)?;
    let defaults = YamlOpts {
        indent: 4,
        default_flow_style: Some(false),
        ..YamlOpts::default()
    };
    yaml_emit::dump(&value, &yaml_opts(&a, defaults)?)
}

fn from_yaml(value: Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::Undefined => return Err(undefined_err()),
        ValueKind::None => return Ok(Value::from(())),
        ValueKind::String => {}
        _ => return Ok(value),
    }
    super::yaml_load::load(value.as_str().unwrap_or_default())
}

// ---------------------------------------------------------------- base64

fn encode_text(s: &str, encoding: &str) -> Result<Vec<u8>, Error> {
    let enc = encoding.to_ascii_lowercase().replace('_', "-");
    Ok(match enc.as_str() {
        "utf-8" | "utf8" => s.as_bytes().to_vec(),
        "utf-16-le" | "utf-16le" => s.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        "utf-16-be" | "utf-16be" => s.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        "utf-16" => [0xff, 0xfe]
            .into_iter()
            .chain(s.encode_utf16().flat_map(u16::to_le_bytes))
            .collect(),
        "latin-1" | "latin1" | "iso-8859-1" | "ascii" => {
            let max = if enc == "ascii" { 0x7f } else { 0xff };
            s.chars()
                .map(|c| u8::try_from(c as u32).ok().filter(|b| u32::from(*b) <= max))
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| err(format!("'{encoding}' codec can't encode the string")))?
        }
        _ => return Err(err(format!("unsupported encoding '{encoding}'"))),
    })
}

fn decode_text(b: &[u8], encoding: &str) -> Result<String, Error> {
    let enc = encoding.to_ascii_lowercase().replace('_', "-");
    let utf16 = |units: Vec<u16>| String::from_utf16_lossy(&units);
    Ok(match enc.as_str() {
        "utf-8" | "utf8" => String::from_utf8_lossy(b).into_owned(),
        "utf-16-le" | "utf-16le" => utf16(
            b.chunks(2)
                .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect(),
        ),
        "utf-16-be" | "utf-16be" => utf16(
            b.chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect(),
        ),
        "utf-16" => {
            let (be, body) = match b {
                [0xfe, 0xff, rest @ ..] => (true, rest),
                [0xff, 0xfe, rest @ ..] => (false, rest),
                _ => (false, b),
            };
            utf16(
                body.chunks(2)
                    .map(|c| {
                        let pair = [c[0], *c.get(1).unwrap_or(&0)];
                        if be {
                            u16::from_be_bytes(pair)
                        } else {
                            u16::from_le_bytes(pair)
                        }
                    })
                    .collect(),
            )
        }
        "latin-1" | "latin1" | "iso-8859-1" | "ascii" => b.iter().map(|&c| char::from(c)).collect(),
        _ => return Err(err(format!("unsupported encoding '{encoding}'"))),
    })
}

fn b64encode(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    let a = Args::bind("b64encode", args, &["encoding", "urlsafe"])?;
    let bytes = match value
        .as_bytes()
        .filter(|_| value.kind() == ValueKind::Bytes)
    {
        Some(b) => b.to_vec(),
        None => encode_text(&text(&value)?, &a.str_or(0, "utf-8")?)?,
    };
    Ok(if a.bool_or(1, false) {
        base64::engine::general_purpose::URL_SAFE.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
}

fn b64decode(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    let a = Args::bind("b64decode", args, &["encoding", "urlsafe"])?;
    let urlsafe = a.bool_or(1, false);
    // like Python's base64.b64decode(validate=False): characters outside the alphabet are discarded
    let s: String = text(&value)?
        .chars()
        .filter(|c| {
            c.is_ascii_alphanumeric()
                || *c == '='
                || if urlsafe {
                    matches!(c, '-' | '_')
                } else {
                    matches!(c, '+' | '/')
                }
        })
        .collect();
    let config = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let alphabet = if urlsafe {
        &base64::alphabet::URL_SAFE
    } else {
        &base64::alphabet::STANDARD
    };
    let bytes = base64::engine::GeneralPurpose::new(alphabet, config)
        .decode(s.trim_end_matches('='))
        .map_err(|e| filter_err("b64decode", e))?;
    decode_text(&bytes, &a.str_or(0, "utf-8")?)
}

// ---------------------------------------------------------------- regex

fn regex_replace(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    let a = Args::bind(
        "regex_replace",
        args,
        &[
            "pattern",
            "replacement",
            "ignorecase",
            "multiline",
            "count",
            "mandatory_count",
        ],
    )?;
    let s = text(&value)?;
    let pattern = a.str_or(0, "")?;
    let replacement = a.str_or(1, "")?;
    let re = PyRegex::new(&pattern, a.bool_or(2, false), a.bool_or(3, false))
        .map_err(|e| in_filter("regex_replace", e))?;
    let count = usize::try_from(a.int_opt(4)?.unwrap_or(0)).unwrap_or(0);
    let (out, subs) = re
        .subn(&s, &replacement, count)
        .map_err(|e| in_filter("regex_replace", e))?;
    let mandatory = a.int_opt(5)?.unwrap_or(0);
    if mandatory != 0 && usize::try_from(mandatory).ok() != Some(subs) {
        return Err(filter_err(
            "regex_replace",
            format!("'{pattern}' should match {mandatory} times, but matches {subs} times"),
        ));
    }
    Ok(out)
}

fn regex_search(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let mut positional = args.into_values();
    let kwargs = match positional.last() {
        Some(last) if last.is_kwargs() => {
            Some(Kwargs::try_from(positional.pop().unwrap_or_default())?)
        }
        _ => None,
    };
    let (mut ignorecase, mut multiline) = (false, false);
    if let Some(kw) = &kwargs {
        for key in kw.args() {
            match key {
                "ignorecase" => ignorecase = kw.peek::<Value>(key)?.is_true(),
                "multiline" => multiline = kw.peek::<Value>(key)?.is_true(),
                _ => {}
            }
        }
    }
    if positional.is_empty() {
        return Err(filter_err("regex_search", "missing argument 'regex'"));
    }
    let pattern = text(&positional.remove(0))?;
    let s = text(&value)?;
    let re =
        PyRegex::new(&pattern, ignorecase, multiline).map_err(|e| in_filter("regex_search", e))?;
    enum G {
        Idx(usize),
        Name(String),
    }
    let mut groups = Vec::new();
    for arg in &positional {
        let arg = text(arg)?;
        if let Some(rest) = arg.strip_prefix("\\g<") {
            let name = rest.split('>').next().unwrap_or_default();
            groups.push(match name.parse::<usize>() {
                Ok(i) => G::Idx(i),
                Err(_) => G::Name(name.to_string()),
            });
        } else if let Some(rest) = arg.strip_prefix('\\') {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            groups.push(G::Idx(
                digits
                    .parse()
                    .map_err(|_| filter_err("regex_search", "Unknown argument"))?,
            ));
        } else {
            return Err(filter_err("regex_search", "Unknown argument"));
        }
    }
    let Some(m) = re.search(&s) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(m.group(0).unwrap_or_default()));
    }
    let mut out = Vec::new();
    for g in groups {
        let v = match g {
            G::Idx(i) if i > re.group_count() => {
                return Err(filter_err("regex_search", format!("no such group: {i}")));
            }
            G::Idx(i) => m.group(i),
            G::Name(n) if re.group_index(&n).is_none() => {
                return Err(filter_err("regex_search", format!("no such group: {n}")));
            }
            G::Name(n) => m.group_by_name(&n),
        };
        out.push(v.map_or(Value::from(()), Value::from));
    }
    Ok(Value::from(out))
}

fn regex_findall(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("regex_findall", args, &["regex", "multiline", "ignorecase"])?;
    let s = text(&value)?;
    let re = PyRegex::new(&a.str_or(0, "")?, a.bool_or(2, false), a.bool_or(1, false))
        .map_err(|e| in_filter("regex_findall", e))?;
    let n = re.group_count();
    let mut out = Vec::new();
    for m in re.find_all(&s) {
        out.push(match n {
            0 => Value::from(m.group(0).unwrap_or_default()),
            1 => Value::from(m.group(1).unwrap_or_default()),
            _ => Value::from(
                (1..=n)
                    .map(|i| Value::from(m.group(i).unwrap_or_default()))
                    .collect::<Vec<_>>(),
            ),
        });
    }
    Ok(Value::from(out))
}

fn regex_escape(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    let a = Args::bind("regex_escape", args, &["re_type"])?;
    let s = text(&value)?;
    match a.str_or(0, "python")?.as_str() {
        "python" => Ok(pyregex::escape(&s)),
        "posix_basic" => Ok(PyRegex::new(r"([].[^$*\\])", false, false)?
            .subn(&s, r"\\\1", 0)?
            .0),
        "posix_extended" => Err(filter_err(
            "regex_escape",
            "Regex type (posix_extended) not yet implemented",
        )),
        other => Err(filter_err(
            "regex_escape",
            format!("Invalid regex type ({other})"),
        )),
    }
}

// ---------------------------------------------------------------- paths, quoting

fn py_basename(p: &str) -> &str {
    p.rfind('/').map_or(p, |i| &p[i + 1..])
}

fn py_dirname(p: &str) -> &str {
    let head = p.rfind('/').map_or("", |i| &p[..=i]);
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/')
    } else {
        head
    }
}

fn basename(value: Value) -> Result<String, Error> {
    Ok(py_basename(&text(&value)?).to_string())
}

fn dirname(value: Value) -> Result<String, Error> {
    Ok(py_dirname(&text(&value)?).to_string())
}

fn home_of(user: &str) -> Option<String> {
    if user.is_empty()
        && let Some(home) = std::env::var_os("HOME")
    {
        return Some(home.to_string_lossy().into_owned());
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let uid = current_uid();
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        let matches = if user.is_empty() {
            uid.as_deref().is_some_and(|u| f.get(2) == Some(&u))
        } else {
            f.first() == Some(&user)
        };
        if matches {
            f.get(5).map(|h| h.to_string())
        } else {
            None
        }
    })
}

fn current_uid() -> Option<String> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .and_then(|r| r.split_whitespace().next().map(str::to_string))
            })
        })
}

/// Python's `os.path.expanduser` on the controller.
pub(crate) fn expand_user(p: &str) -> String {
    let Some(rest) = p.strip_prefix('~') else {
        return p.to_string();
    };
    let (user, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    match home_of(user) {
        Some(home) => {
            let joined = format!("{}{tail}", home.trim_end_matches('/'));
            if joined.is_empty() {
                "/".to_string()
            } else {
                joined
            }
        }
        None => p.to_string(),
    }
}

fn expanduser(value: Value) -> Result<String, Error> {
    Ok(expand_user(&text(&value)?))
}

fn splitext(value: Value) -> Result<Value, Error> {
    let p = text(&value)?;
    let base_start = p.rfind('/').map_or(0, |i| i + 1);
    let base = &p[base_start..];
    let dot = base
        .rfind('.')
        .filter(|&i| base[..i].chars().any(|c| c != '.'));
    Ok(match dot {
        Some(i) => Value::from(vec![
            Value::from(&p[..base_start + i]),
            Value::from(&p[base_start + i..]),
        ]),
        None => Value::from(vec![Value::from(p.clone()), Value::from("")]),
    })
}

fn path_join(value: Value) -> Result<String, Error> {
    let parts: Vec<String> = match value.kind() {
        ValueKind::String => return text(&value),
        ValueKind::Seq | ValueKind::Iterable => {
            items(&value)?.iter().map(text).collect::<Result<_, _>>()?
        }
        _ => {
            return Err(filter_err(
                "path_join",
                format!(
                    "expects string or sequence, got {} instead",
                    type_name(&value)
                ),
            ));
        }
    };
    let mut out = String::new();
    for p in parts {
        if p.starts_with('/') {
            out = p;
        } else if out.is_empty() || out.ends_with('/') {
            out.push_str(&p);
        } else {
            out.push('/');
            out.push_str(&p);
        }
    }
    Ok(out)
}

fn quote(value: Value) -> Result<String, Error> {
    if value.is_none() {
        return Ok("''".into());
    }
    Ok(shell_quote(&text(&value)?))
}

// ---------------------------------------------------------------- dicts and lists

const LIST_MERGE: [&str; 6] = [
    "replace",
    "keep",
    "append",
    "prepend",
    "append_rp",
    "prepend_rp",
];

/// Ansible's `merge_hash(x, y, recursive, list_merge)`: y wins.
fn merge_hash(x: &Value, y: &Value, recursive: bool, list_merge: &str) -> Result<Value, Error> {
    if x.kind() != ValueKind::Map || y.kind() != ValueKind::Map {
        return Err(filter_err(
            "combine",
            format!(
                "failed to combine variables, expected dicts but got a '{}' and a '{}'.",
                type_name(x),
                type_name(y)
            ),
        ));
    }
    let mut out: indexmap::IndexMap<Value, Value> = map_entries(x)?.into_iter().collect();
    for (key, y_value) in map_entries(y)? {
        let Some(x_value) = out.get(&key).cloned() else {
            out.insert(key, y_value);
            continue;
        };
        let merged = if x_value.kind() == ValueKind::Map && y_value.kind() == ValueKind::Map {
            if recursive {
                merge_hash(&x_value, &y_value, recursive, list_merge)?
            } else {
                y_value
            }
        } else if is_sequence(&x_value) && is_sequence(&y_value) {
            let xs = items(&x_value)?;
            let ys = items(&y_value)?;
            match list_merge {
                "keep" => x_value,
                "append" => Value::from(xs.into_iter().chain(ys).collect::<Vec<_>>()),
                "prepend" => Value::from(ys.into_iter().chain(xs).collect::<Vec<_>>()),
                "append_rp" => {
                    let kept: Vec<Value> = xs.into_iter().filter(|z| !contains(&ys, z)).collect();
                    Value::from(kept.into_iter().chain(ys).collect::<Vec<_>>())
                }
                "prepend_rp" => {
                    let kept: Vec<Value> = xs.into_iter().filter(|z| !contains(&ys, z)).collect();
                    Value::from(ys.into_iter().chain(kept).collect::<Vec<_>>())
                }
                _ => y_value,
            }
        } else {
            y_value
        };
        out.insert(key, merged);
    }
    Ok(Value::from_pairs(out))
}

fn combine(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let mut positional = args.into_values();
    let kwargs = match positional.last() {
        Some(last) if last.is_kwargs() => {
            Some(Kwargs::try_from(positional.pop().unwrap_or_default())?)
        }
        _ => None,
    };
    let (mut recursive, mut list_merge) = (false, "replace".to_string());
    if let Some(kw) = &kwargs {
        for key in kw.args() {
            match key {
                "recursive" => recursive = kw.peek::<Value>(key)?.is_true(),
                "list_merge" => list_merge = text(&kw.peek::<Value>(key)?)?,
                _ => {
                    return Err(filter_err(
                        "combine",
                        "'recursive' and 'list_merge' are the only valid keyword arguments",
                    ));
                }
            }
        }
    }
    if !LIST_MERGE.contains(&list_merge.as_str()) {
        return Err(filter_err(
            "combine",
            "'list_merge' argument can only be equal to 'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp'",
        ));
    }
    // flatten(terms, levels=1)
    let mut dicts = Vec::new();
    for term in std::iter::once(value).chain(positional) {
        if term.is_undefined() {
            return Err(undefined_err());
        }
        if is_sequence(&term) {
            dicts.extend(items(&term)?.into_iter().filter(|v| !is_py_null(v)));
        } else if !is_py_null(&term) {
            dicts.push(term);
        }
    }
    let Some(mut result) = dicts.pop() else {
        return Ok(Value::from_pairs(Vec::<(Value, Value)>::new()));
    };
    if dicts.is_empty() {
        return Ok(result);
    }
    while let Some(d) = dicts.pop() {
        result = merge_hash(&d, &result, recursive, &list_merge)?;
    }
    Ok(result)
}

fn dict2items(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("dict2items", args, &["key_name", "value_name"])?;
    if value.kind() != ValueKind::Map {
        return Err(filter_err(
            "dict2items",
            format!(
                "dict2items requires a dictionary, got {} instead.",
                type_name(&value)
            ),
        ));
    }
    let (kn, vn) = (a.str_or(0, "key")?, a.str_or(1, "value")?);
    let out: Vec<Value> = map_entries(&value)?
        .into_iter()
        .map(|(k, v)| {
            Value::from_pairs([(Value::from(kn.as_str()), k), (Value::from(vn.as_str()), v)])
        })
        .collect();
    Ok(Value::from(out))
}

fn items2dict(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("items2dict", args, &["key_name", "value_name"])?;
    if !is_sequence(&value) {
        return Err(filter_err(
            "items2dict",
            format!(
                "items2dict requires a list, got {} instead.",
                type_name(&value)
            ),
        ));
    }
    let (kn, vn) = (a.str_or(0, "key")?, a.str_or(1, "value")?);
    let mut out = Vec::new();
    for item in items(&value)? {
        if item.kind() != ValueKind::Map {
            return Err(filter_err(
                "items2dict",
                format!(
                    "items2dict requires a list of dictionaries, got a list with a {} item instead.",
                    type_name(&item)
                ),
            ));
        }
        let k = item.get_item(&Value::from(kn.as_str()))?;
        let v = item.get_item(&Value::from(vn.as_str()))?;
        if k.is_undefined() || v.is_undefined() {
            return Err(filter_err(
                "items2dict",
                format!(
                    "items2dict requires each dictionary in the list to contain the keys '{kn}' and '{vn}', got one with keys {} instead.",
                    map_entries(&item)?
                        .iter()
                        .map(|(k, _)| format!("'{k}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        out.push((k, v));
    }
    Ok(Value::from_pairs(out))
}

fn is_py_null(v: &Value) -> bool {
    v.is_none() || matches!(v.as_str(), Some("None" | "null"))
}

fn flatten_into(
    list: &Value,
    levels: Option<i64>,
    skip_nulls: bool,
    out: &mut Vec<Value>,
) -> Result<(), Error> {
    for element in items(list)? {
        if skip_nulls && is_py_null(&element) {
            continue;
        }
        if is_sequence(&element) {
            match levels {
                None => flatten_into(&element, None, skip_nulls, out)?,
                Some(l) if l >= 1 => flatten_into(&element, Some(l - 1), skip_nulls, out)?,
                Some(_) => out.push(element),
            }
        } else {
            out.push(element);
        }
    }
    Ok(())
}

fn flatten(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("flatten", args, &["levels", "skip_nulls"])?;
    if value.is_undefined() {
        return Err(undefined_err());
    }
    let mut out = Vec::new();
    flatten_into(&value, a.int_opt(0)?, a.bool_or(1, true), &mut out)?;
    Ok(Value::from(out))
}

fn two_lists(name: &str, a: &Value, b: &Value) -> Result<(Vec<Value>, Vec<Value>), Error> {
    if a.is_undefined() || b.is_undefined() {
        return Err(undefined_err());
    }
    let list = |v: &Value| -> Result<Vec<Value>, Error> {
        match v.kind() {
            ValueKind::Seq | ValueKind::Iterable | ValueKind::Map | ValueKind::String => items(v),
            _ => Err(filter_err(
                name,
                format!("'{}' object is not iterable", type_name(v)),
            )),
        }
    };
    Ok((list(a)?, list(b)?))
}

/// Jinja2's `unique` as Ansible calls it (`case_sensitive=False` by default),
/// with Python equality (`1 == 1.0 == True`).
fn unique(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("unique", args, &["case_sensitive", "attribute"])?;
    if value.is_undefined() {
        return Err(undefined_err());
    }
    let case_sensitive = a.bool_or(0, false);
    let attribute = a.opt(1).map(text).transpose()?;
    let mut seen: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    for item in items(&value)? {
        let mut key = match &attribute {
            Some(attr) => attr
                .split('.')
                .try_fold(item.clone(), |v, seg| v.get_attr(seg))?,
            None => item.clone(),
        };
        if !case_sensitive && let Some(s) = key.as_str() {
            key = Value::from(s.to_lowercase());
        }
        if !contains(&seen, &key) {
            seen.push(key);
            out.push(item);
        }
    }
    Ok(Value::from(out))
}

// Ansible uses Python sets (arbitrary order) when the items are hashable; we
// always keep first-seen order, which is one of the orders Python may produce.
fn union(a: Value, b: Value) -> Result<Value, Error> {
    let (x, y) = two_lists("union", &a, &b)?;
    Ok(Value::from(unique_py(x.into_iter().chain(y).collect())))
}

fn intersect(a: Value, b: Value) -> Result<Value, Error> {
    let (x, y) = two_lists("intersect", &a, &b)?;
    Ok(Value::from(unique_py(
        x.into_iter().filter(|v| contains(&y, v)).collect(),
    )))
}

fn difference(a: Value, b: Value) -> Result<Value, Error> {
    let (x, y) = two_lists("difference", &a, &b)?;
    Ok(Value::from(unique_py(
        x.into_iter().filter(|v| !contains(&y, v)).collect(),
    )))
}

fn symmetric_difference(a: Value, b: Value) -> Result<Value, Error> {
    let (x, y) = two_lists("symmetric_difference", &a, &b)?;
    let both: Vec<Value> = x.iter().filter(|v| contains(&y, v)).cloned().collect();
    let all = unique_py(x.into_iter().chain(y).collect());
    Ok(Value::from(
        all.into_iter()
            .filter(|v| !contains(&both, v))
            .collect::<Vec<_>>(),
    ))
}

// ---------------------------------------------------------------- hashing

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn digest(kind: &str, data: &[u8]) -> Option<String> {
    use sha2::Digest as _;
    Some(match kind {
        "md5" => hex(&md5::Md5::digest(data)),
        "sha1" => hex(&sha1::Sha1::digest(data)),
        "sha224" => hex(&sha2::Sha224::digest(data)),
        "sha256" => hex(&sha2::Sha256::digest(data)),
        "sha384" => hex(&sha2::Sha384::digest(data)),
        "sha512" => hex(&sha2::Sha512::digest(data)),
        _ => return None,
    })
}

fn value_bytes(v: &Value) -> Result<Vec<u8>, Error> {
    if v.kind() == ValueKind::Bytes {
        return Ok(v.as_bytes().unwrap_or_default().to_vec());
    }
    Ok(text(v)?.into_bytes())
}

fn hash(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    let a = Args::bind("hash", args, &["hashtype"])?;
    let kind = a.str_or(0, "sha1")?;
    digest(&kind, &value_bytes(&value)?)
        .ok_or_else(|| filter_err("hash", format!("unsupported hash type {kind}")))
}

fn checksum(value: Value) -> Result<String, Error> {
    digest("sha1", &value_bytes(&value)?).ok_or_else(|| err("sha1 unavailable"))
}

fn md5(value: Value) -> Result<String, Error> {
    digest("md5", &value_bytes(&value)?).ok_or_else(|| err("md5 unavailable"))
}

const CRYPT_ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The crypt(3) base64 variant over already transposed bytes: little-endian
/// 24-bit groups, least significant 6 bits first.
fn crypt_b64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut w = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            w |= u32::from(*b) << (8 * i);
        }
        let n = (chunk.len() * 8).div_ceil(6);
        for _ in 0..n {
            out.push(char::from(CRYPT_ALPHABET[(w & 0x3f) as usize]));
            w >>= 6;
        }
    }
    out
}

fn transpose(src: &[u8], table: &[usize]) -> Vec<u8> {
    table.iter().map(|&i| src[i]).collect()
}

fn random_salt(len: usize) -> String {
    use std::io::Read as _;
    let mut buf = vec![0u8; len];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok();
    if !ok {
        // fall back to std's randomly keyed hasher
        use std::hash::{BuildHasher as _, Hasher as _};
        for (i, b) in buf.iter_mut().enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            *b = h.finish() as u8;
        }
    }
    buf.iter()
        .map(|b| char::from(CRYPT_ALPHABET[usize::from(b & 0x3f)]))
        .collect()
}

fn md5_crypt(pw: &[u8], salt: &[u8]) -> String {
    use md5::{Digest as _, Md5};
    let mut ctx = Md5::new();
    ctx.update(pw);
    ctx.update(b"$1$");
    ctx.update(salt);
    let alt = Md5::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut left = pw.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&pw[..1.min(pw.len())]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for r in 0..1000 {
        let mut c = Md5::new();
        if r & 1 == 1 {
            c.update(pw);
        } else {
            c.update(fin);
        }
        if r % 3 != 0 {
            c.update(salt);
        }
        if r % 7 != 0 {
            c.update(pw);
        }
        if r & 1 == 1 {
            c.update(fin);
        } else {
            c.update(pw);
        }
        fin = c.finalize();
    }
    let table = [12, 6, 0, 13, 7, 1, 14, 8, 2, 15, 9, 3, 5, 10, 4, 11];
    crypt_b64(&transpose(&fin, &table))
}

/// Ansible's `password_hash` (passlib's sha512_crypt / sha256_crypt / md5_crypt).
fn password_hash(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    let a = Args::bind(
        "password_hash",
        args,
        &["hashtype", "salt", "salt_size", "rounds", "ident"],
    )?;
    let password = text(&value)?;
    let hashtype = a.str_or(0, "sha512")?;
    let (algo, ident, max_salt, default_rounds) = match hashtype.as_str() {
        "sha512" | "sha512_crypt" => ("sha512_crypt", "6", 16, Some(656_000)),
        "sha256" | "sha256_crypt" => ("sha256_crypt", "5", 16, Some(535_000)),
        "md5" | "md5_crypt" => ("md5_crypt", "1", 8, None),
        other => {
            return Err(filter_err(
                "password_hash",
                format!(
                    "{other} is not supported (supported: sha512, sha256, md5; bcrypt is not available)"
                ),
            ));
        }
    };
    let salt = match a.opt(1) {
        Some(s) => text(s)?,
        None => {
            let size = usize::try_from(a.int_opt(2)?.unwrap_or(max_salt as i64))
                .unwrap_or(max_salt)
                .min(max_salt);
            random_salt(size)
        }
    };
    if salt.len() > max_salt {
        return Err(filter_err(
            "password_hash",
            format!(
                "Could not hash the secret: salt too large ({algo} requires <= {max_salt} chars)"
            ),
        ));
    }
    if !salt.bytes().all(|b| CRYPT_ALPHABET.contains(&b)) {
        return Err(filter_err(
            "password_hash",
            format!("Could not hash the secret: invalid characters in {algo} salt"),
        ));
    }
    if algo == "md5_crypt" {
        return Ok(format!(
            "$1${salt}${}",
            md5_crypt(password.as_bytes(), salt.as_bytes())
        ));
    }
    let rounds = match a.int_opt(3)? {
        Some(r) => match u32::try_from(r) {
            Ok(r) if r > limits::MAX_ROUNDS => {
                return Err(filter_err(
                    "password_hash",
                    format!(
                        "rounds={r} is more than the limit of {}",
                        limits::MAX_ROUNDS
                    ),
                ));
            }
            Ok(r) => r,
            Err(_) => return Err(filter_err("password_hash", "invalid rounds")),
        },
        None => default_rounds.unwrap_or(5000),
    };
    let params = sha_crypt::Params::new(rounds).map_err(|_| {
        filter_err(
            "password_hash",
            format!(
                "Could not hash the secret: rounds must be between 1000 and 999999999 ({algo})"
            ),
        )
    })?;
    let encoded = if algo == "sha512_crypt" {
        const T: [usize; 64] = [
            42, 21, 0, 1, 43, 22, 23, 2, 44, 45, 24, 3, 4, 46, 25, 26, 5, 47, 48, 27, 6, 7, 49, 28,
            29, 8, 50, 51, 30, 9, 10, 52, 31, 32, 11, 53, 54, 33, 12, 13, 55, 34, 35, 14, 56, 57,
            36, 15, 16, 58, 37, 38, 17, 59, 60, 39, 18, 19, 61, 40, 41, 20, 62, 63,
        ];
        crypt_b64(&transpose(
            &sha_crypt::sha512_crypt(password.as_bytes(), salt.as_bytes(), params),
            &T,
        ))
    } else {
        const T: [usize; 32] = [
            20, 10, 0, 11, 1, 21, 2, 22, 12, 23, 13, 3, 14, 4, 24, 5, 25, 15, 26, 16, 6, 17, 7, 27,
            8, 28, 18, 29, 19, 9, 30, 31,
        ];
        crypt_b64(&transpose(
            &sha_crypt::sha256_crypt(password.as_bytes(), salt.as_bytes(), params),
            &T,
        ))
    };
    Ok(if rounds == 5000 {
        format!("${ident}${salt}${encoded}")
    } else {
        format!("${ident}$rounds={rounds}${salt}${encoded}")
    })
}

/// Ansible's `to_uuid`: UUID v5 in Ansible's namespace (or the given one).
fn to_uuid(value: Value, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    use sha1::Digest as _;
    let a = Args::bind("to_uuid", args, &["namespace"])?;
    let ns = a.str_or(0, "361E6D51-FAEC-444A-9079-341386DA8E2E")?;
    let ns_hex: String = ns.chars().filter(|c| *c != '-').collect();
    let ns_bytes: Vec<u8> = (0..ns_hex.len() / 2)
        .map(|i| u8::from_str_radix(ns_hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .ok()
        .filter(|b: &Vec<u8>| b.len() == 16)
        .ok_or_else(|| filter_err("to_uuid", format!("Invalid value '{ns}' for 'namespace'")))?;
    let mut h = sha1::Sha1::new();
    h.update(&ns_bytes);
    h.update(text(&value)?.as_bytes());
    let mut d = h.finalize()[..16].to_vec();
    d[6] = (d[6] & 0x0f) | 0x50;
    d[8] = (d[8] & 0x3f) | 0x80;
    let x = hex(&d);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    ))
}

fn type_debug(_state: &State, value: Value) -> String {
    type_name(&value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_parsing() {
        assert_eq!(py_parse_int(" 12 ", 10), Some(12));
        assert_eq!(py_parse_int("1_000", 10), Some(1000));
        assert_eq!(py_parse_int("0x1A", 16), Some(26));
        assert_eq!(py_parse_int("0x1A", 10), None);
        assert_eq!(py_parse_int("-0b101", 2), Some(-5));
        assert_eq!(py_parse_int("_1", 10), None);
        assert_eq!(py_parse_float("1e3"), Some(1000.0));
        assert_eq!(py_parse_float("abc"), None);
    }

    #[test]
    fn paths_like_python() {
        for (p, base, dir) in [
            ("/etc/nginx/a.conf", "a.conf", "/etc/nginx"),
            ("/etc/", "", "/etc"),
            ("file", "file", ""),
            ("/", "", "/"),
            ("//x", "x", "//"),
            ("a//b", "b", "a"),
        ] {
            assert_eq!(py_basename(p), base, "{p}");
            assert_eq!(py_dirname(p), dir, "{p}");
        }
    }

    #[test]
    fn shlex_quote() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\"'\"'s'");
        assert_eq!(shell_quote("é"), "'é'");
        assert_eq!(shell_quote("safe-_@%+=:,./"), "safe-_@%+=:,./");
    }

    #[test]
    fn expanduser_uses_home() {
        let home = std::env::var("HOME").unwrap_or_default();
        if !home.is_empty() {
            assert_eq!(
                expand_user("~/app"),
                format!("{}/app", home.trim_end_matches('/'))
            );
            assert_eq!(expand_user("~"), home);
        }
        assert_eq!(expand_user("/opt/~x"), "/opt/~x");
        assert_eq!(expand_user("~no-such-user-xyz/a"), "~no-such-user-xyz/a");
    }
}
