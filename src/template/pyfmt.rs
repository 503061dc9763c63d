//! Python-compatible formatting of template values: `str()`/`repr()` as Jinja2
//! renders them inside Ansible, Python's float repr and `json.dumps`.

use std::fmt::Write as _;

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// Python's `repr(float)`: shortest round-trip digits, scientific notation
/// outside `1e-4 <= |x| < 1e16`.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits: "1.5e0", "1e20", "-2.5e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        let point = exp + 1; // number of digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            for _ in 0..(-point) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if digits.len() <= point {
                out.push_str(&digits);
                for _ in digits.len()..point {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

/// Is `c` printable in the sense of Python's `str.isprintable()` (approximation
/// covering controls, separators and the common format characters)?
fn py_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() {
        return false;
    }
    !matches!(c,
        '\u{a0}' | '\u{ad}' | '\u{1680}' | '\u{2000}'..='\u{200f}' | '\u{2028}'..='\u{202f}'
        | '\u{205f}'..='\u{206f}' | '\u{3000}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
        | '\u{e000}'..='\u{f8ff}' | '\u{f0000}'..='\u{10ffff}')
}

/// Python's `repr(str)`.
pub(crate) fn str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !py_printable(c) => {
                let cp = c as u32;
                let _ = if cp <= 0xff {
                    write!(out, "\\x{cp:02x}")
                } else if cp <= 0xffff {
                    write!(out, "\\u{cp:04x}")
                } else {
                    write!(out, "\\U{cp:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `str(value)` as Jinja2 renders it (`{{ value }}`), except that the
/// top-level None/undefined handling is up to the caller.
pub(crate) fn py_str(v: &Value) -> String {
    if let Some(s) = v.as_str() {
        return s.to_string();
    }
    let mut out = String::new();
    py_repr(v, &mut out);
    out
}

fn number_repr(v: &Value, out: &mut String) {
    if v.is_integer() {
        let _ = write!(out, "{v}");
    } else if let Ok(f) = f64::try_from(v.clone()) {
        out.push_str(&float_repr(f));
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Python's `repr(value)`: lists, dicts and tuples print their items with repr
/// (`['a', 1, None, True]`, `{'k': 'v'}`). Tuples print as lists, as Ansible
/// 2.19 converts them to lists before rendering (groupby's pairs stay tuples).
pub(crate) fn py_repr(v: &Value, out: &mut String) {
    let _ = repr_inner(v, out, false);
}

/// Like [`py_repr`] but fails on undefined values inside containers (strict
/// undefined, like Ansible).
pub(crate) fn py_repr_strict(v: &Value, out: &mut String) -> Result<(), Error> {
    repr_inner(v, out, true)
}

fn repr_inner(v: &Value, out: &mut String, strict: bool) -> Result<(), Error> {
    match v.kind() {
        ValueKind::Undefined if strict => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "a list or dict contains an undefined value (e.g. map(attribute=...) on items without that attribute)",
            ));
        }
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => number_repr(v, out),
        ValueKind::String => str_repr(v.as_str().unwrap_or_default(), out),
        ValueKind::Bytes => {
            out.push_str("b'");
            for b in v.as_bytes().unwrap_or_default() {
                let _ = write!(out, "{}", b.escape_ascii());
            }
            out.push('\'');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_inner(&key, out, strict)?;
                out.push_str(": ");
                repr_inner(&v.get_item(&key)?, out, strict)?;
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            // minijinja's groupby yields pair objects that display as tuples
            let tuple = !v.is_tuple()
                && v.len() == Some(2)
                && v.as_object().is_some()
                && v.to_string().starts_with('(');
            out.push(if tuple { '(' } else { '[' });
            for (i, item) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_inner(&item, out, strict)?;
            }
            out.push(if tuple { ')' } else { ']' });
        }
        _ => {
            let _ = write!(out, "{v}");
        }
    }
    Ok(())
}

/// Options of Python's `json.dumps` that Ansible's filters expose.
#[derive(Debug, Clone)]
pub(crate) struct JsonOpts {
    pub indent: Option<String>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
    pub item_sep: String,
    pub key_sep: String,
}

impl Default for JsonOpts {
    fn default() -> Self {
        JsonOpts {
            indent: None,
            sort_keys: false,
            ensure_ascii: true,
            item_sep: ", ".into(),
            key_sep: ": ".into(),
        }
    }
}

fn json_str(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && (c as u32) >= 0x7f) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f < 0.0 {
            "-Infinity".into()
        } else {
            "Infinity".into()
        }
    } else {
        float_repr(f)
    }
}

fn json_key(k: &Value) -> Result<String, Error> {
    Ok(match k.kind() {
        ValueKind::String => k.as_str().unwrap_or_default().to_string(),
        ValueKind::Bool => if k.is_true() { "true" } else { "false" }.to_string(),
        ValueKind::None => "null".to_string(),
        ValueKind::Number if k.is_integer() => k.to_string(),
        ValueKind::Number => json_float(f64::try_from(k.clone())?),
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "keys must be str, int, float, bool or None, not {}",
                    type_name_of_kind(other)
                ),
            ));
        }
    })
}

fn type_name_of_kind(k: ValueKind) -> &'static str {
    match k {
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        ValueKind::Bytes => "bytes",
        _ => "object",
    }
}

/// Sorts map entries like Python's `sorted(d.items())` when the keys are all
/// strings or all numbers; mixed keys keep their order.
pub(crate) fn sorted_entries(entries: &mut [(Value, Value)]) {
    if entries.iter().all(|(k, _)| k.as_str().is_some()) {
        entries.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
    } else if entries.iter().all(|(k, _)| k.kind() == ValueKind::Number) {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

/// The entries of a map value in iteration order.
pub(crate) fn map_entries(v: &Value) -> Result<Vec<(Value, Value)>, Error> {
    let mut out = Vec::new();
    for key in v.try_iter()? {
        let value = v.get_item(&key)?;
        out.push((key, value));
    }
    Ok(out)
}

fn json_write(v: &Value, opts: &JsonOpts, level: usize, out: &mut String) -> Result<(), Error> {
    let newline = |out: &mut String, level: usize| {
        if let Some(ind) = &opts.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(ind);
            }
        }
    };
    match v.kind() {
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "cannot serialize an undefined value to JSON",
            ));
        }
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number if v.is_integer() => {
            let _ = write!(out, "{v}");
        }
        ValueKind::Number => out.push_str(&json_float(f64::try_from(v.clone())?)),
        ValueKind::String => json_str(v.as_str().unwrap_or_default(), opts.ensure_ascii, out),
        ValueKind::Bytes => json_str(
            &String::from_utf8_lossy(v.as_bytes().unwrap_or_default()),
            opts.ensure_ascii,
            out,
        ),
        ValueKind::Map => {
            let mut entries = map_entries(v)?;
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if opts.sort_keys {
                sorted_entries(&mut entries);
            }
            out.push('{');
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_sep);
                }
                newline(out, level + 1);
                json_str(&json_key(k)?, opts.ensure_ascii, out);
                out.push_str(&opts.key_sep);
                json_write(val, opts, level + 1, out)?;
            }
            newline(out, level);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_sep);
                }
                newline(out, level + 1);
                json_write(item, opts, level + 1, out)?;
            }
            newline(out, level);
            out.push(']');
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("Object of type {} is not JSON serializable", v.kind()),
            ));
        }
    }
    Ok(())
}

/// Python's `json.dumps(value, ...)`.
pub(crate) fn to_json(v: &Value, opts: &JsonOpts) -> Result<String, Error> {
    let mut out = String::new();
    json_write(v, opts, 0, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        for (f, s) in [
            (1.0, "1.0"),
            (1.5, "1.5"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (1e100, "1e+100"),
            (123456.789, "123456.789"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(float_repr(f), s, "{f}");
        }
    }

    #[test]
    fn python_repr() {
        let mut out = String::new();
        str_repr("it's", &mut out);
        assert_eq!(out, "\"it's\"");
        out.clear();
        str_repr("a'b\"c\\\n\u{1}é", &mut out);
        assert_eq!(out, r#"'a\'b"c\\\n\x01é'"#);
        let v = Value::from(minijinja::value::Serde(
            serde_json::json!({"a": [1, "x", null, true, 1.5], "b": {}}),
        ));
        assert_eq!(py_str(&v), "{'a': [1, 'x', None, True, 1.5], 'b': {}}");
    }

    #[test]
    fn json_like_python() {
        let v = Value::from(minijinja::value::Serde(
            serde_json::json!({"b": [1, 2.0, null], "a": "é\u{1F600}\"", "c": {}}),
        ));
        assert_eq!(
            to_json(&v, &JsonOpts::default()).unwrap(),
            r#"{"b": [1, 2.0, null], "a": "\u00e9\ud83d\ude00\"", "c": {}}"#
        );
        let opts = JsonOpts {
            indent: Some("  ".into()),
            sort_keys: true,
            item_sep: ",".into(),
            ..Default::default()
        };
        assert_eq!(
            to_json(&v, &opts).unwrap(),
            "{\n  \"a\": \"\\u00e9\\ud83d\\ude00\\\"\",\n  \"b\": [\n    1,\n    2.0,\n    null\n  ],\n  \"c\": {}\n}"
        );
    }
}

/// Python's `json.loads`: like serde_json but with correctly rounded floats
/// (serde_json's default float parsing may be off by one ulp), NaN/Infinity,
/// arbitrary key order kept and Python-style error messages.
pub(crate) fn from_json_str(s: &str) -> Result<Value, Error> {
    let mut p = JsonParser {
        s: s.as_bytes(),
        src: s,
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.error("Extra data"));
    }
    Ok(v)
}

struct JsonParser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl JsonParser<'_> {
    fn error(&self, what: &str) -> Error {
        let before = &self.src[..self.i.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map_or(before.chars().count(), |p| before[p + 1..].chars().count())
            + 1;
        Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "{what}: line {line} column {col} (char {})",
                before.chars().count()
            ),
        )
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        if depth > 500 {
            return Err(self.error("Nesting too deep"));
        }
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut map = indexmap::IndexMap::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Value::from_pairs(map));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.error("Expecting property name enclosed in double quotes"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(":") {
                        return Err(self.error("Expecting ':' delimiter"));
                    }
                    self.ws();
                    let v = self.value(depth + 1)?;
                    map.insert(Value::from(k), v);
                    self.ws();
                    if self.eat("}") {
                        return Ok(Value::from_pairs(map));
                    }
                    if !self.eat(",") {
                        return Err(self.error("Expecting ',' delimiter"));
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Value::from(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat("]") {
                        return Ok(Value::from(items));
                    }
                    if !self.eat(",") {
                        return Err(self.error("Expecting ',' delimiter"));
                    }
                }
            }
            Some(b'"') => Ok(Value::from(self.string()?)),
            _ if self.eat("null") => Ok(Value::from(())),
            _ if self.eat("true") => Ok(Value::from(true)),
            _ if self.eat("false") => Ok(Value::from(false)),
            _ if self.eat("NaN") => Ok(Value::from(f64::NAN)),
            _ if self.eat("Infinity") => Ok(Value::from(f64::INFINITY)),
            _ if self.eat("-Infinity") => Ok(Value::from(f64::NEG_INFINITY)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error("Expecting value")),
        }
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.i < p.s.len() && p.s[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i - s
        };
        if digits(self) == 0 {
            self.i = start;
            return Err(self.error("Expecting value"));
        }
        let mut float = false;
        if self.s.get(self.i) == Some(&b'.') {
            let save = self.i;
            self.i += 1;
            if digits(self) == 0 {
                self.i = save;
            } else {
                float = true;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            let save = self.i;
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                self.i = save;
            } else {
                float = true;
            }
        }
        let text = &self.src[start..self.i];
        if !float {
            if let Ok(n) = text.parse::<i64>() {
                return Ok(Value::from(n));
            }
            if let Ok(n) = text.parse::<i128>() {
                return Ok(Value::from(n));
            }
        }
        text.parse::<f64>()
            .map(Value::from)
            .map_err(|_| self.error("Expecting value"))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let h = self
            .src
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.error("Invalid \\uXXXX escape"))?;
        let v = u32::from_str_radix(h, 16).map_err(|_| self.error("Invalid \\uXXXX escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, Error> {
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                self.i = start;
                return Err(self.error("Unterminated string starting at"));
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let e = self.s.get(self.i + 1).copied();
                    self.i += 2;
                    match e {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let mut cp = self.hex4()?;
                            if (0xd800..0xdc00).contains(&cp)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                } else {
                                    self.i = save;
                                }
                            }
                            out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                        }
                        _ => {
                            self.i -= 2;
                            return Err(self.error("Invalid \\escape"));
                        }
                    }
                }
                c if c < 0x20 => return Err(self.error("Invalid control character at")),
                _ => {
                    // copy one UTF-8 character
                    let ch = self.src[self.i..].chars().next().unwrap_or('\u{fffd}');
                    out.push(ch);
                    self.i += ch.len_utf8();
                }
            }
        }
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn loads_like_python() {
        let v = from_json_str(r#" {"a": [1, -2.5e3, 96.50299868048347, null, true], "b": "\u00e9\ud83d\ude00\n", "c": {}} "#).unwrap();
        assert_eq!(
            py_str(&v),
            "{'a': [1, -2500.0, 96.50299868048347, None, True], 'b': 'é😀\\n', 'c': {}}"
        );
        assert_eq!(
            from_json_str("123456789012345678901234")
                .unwrap()
                .to_string(),
            "123456789012345678901234"
        );
        assert_eq!(
            from_json_str("bad json").unwrap_err().detail(),
            Some("Expecting value: line 1 column 1 (char 0)")
        );
        assert_eq!(
            from_json_str("[1,]").unwrap_err().detail(),
            Some("Expecting value: line 1 column 4 (char 3)")
        );
        assert_eq!(
            from_json_str("{} x").unwrap_err().detail(),
            Some("Extra data: line 1 column 4 (char 3)")
        );
    }
}
