//! Python's `ast.literal_eval`, as Ansible's INI inventory applies it to every
//! variable value, and the conversions Ansible then makes (tuples and sets become
//! lists, bytes become text, complex numbers and `...` become strings).
//!
//! A value that is not a literal (`hello`, `01`, `a b`, `1+2`) stays the raw
//! string, as in Ansible, which catches `ValueError` and `SyntaxError`. A literal
//! with an unhashable dict key or set member (`{[1]: 2}`) raises `TypeError` in
//! Python and makes the whole inventory fail: that is [`LiteralError`].

use serde_json::{Map, Number, Value as Json};

/// Python values that `literal_eval` can build.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Py {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Complex(f64, f64),
    Str(String),
    Bytes(Vec<u8>),
    Ellipsis,
    List(Vec<Py>),
    Tuple(Vec<Py>),
    Set(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

/// `literal_eval` raised `TypeError` (unhashable key or set member).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiteralError {
    pub message: String,
}

/// Nesting deeper than this is a SyntaxError in CPython ("too many nested parentheses").
const MAX_NESTING: usize = 200;

enum Fail {
    /// SyntaxError or ValueError: the value stays the raw string.
    Raw,
    Type(String),
}

/// The value of an INI variable as Ansible computes it: the literal if the text is
/// one, otherwise the text itself.
pub(crate) fn ini_value(text: &str) -> Result<Json, LiteralError> {
    match literal_eval(text) {
        Ok(v) => Ok(to_json(&v)),
        Err(Fail::Raw) => Ok(Json::String(text.to_string())),
        Err(Fail::Type(message)) => Err(LiteralError { message }),
    }
}

/// `ast.literal_eval(text)`; `None` when Python would raise ValueError/SyntaxError.
#[cfg(test)]
pub(crate) fn eval(text: &str) -> Option<Py> {
    literal_eval(text).ok()
}

fn literal_eval(text: &str) -> Result<Py, Fail> {
    let text = text.trim_start_matches([' ', '\t']);
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let v = p.testlist(true)?;
    if p.pos != p.tokens.len() {
        return Err(Fail::Raw);
    }
    match v {
        Expr::Value(v) => Ok(v),
        _ => convert_top(v),
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i128),
    Float(f64),
    Imag(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// An f-string: valid syntax, but not a literal.
    FStr,
    Name(String),
    Op(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, Fail> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut nesting = 0usize;
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\x0c' => i += 1,
            '\r' | '\n' => {
                if nesting == 0 {
                    // A newline ends the expression: only blank/comment may follow.
                    let rest: String = c[i..].iter().collect();
                    if rest.lines().all(|l| {
                        let t = l.trim_start_matches([' ', '\t', '\x0c', '\r']);
                        t.is_empty() || t.starts_with('#')
                    }) {
                        return Ok(out);
                    }
                    return Err(Fail::Raw);
                }
                i += 1;
            }
            '#' => {
                while i < c.len() && c[i] != '\n' && c[i] != '\r' {
                    i += 1;
                }
            }
            '(' | '[' | '{' => {
                nesting += 1;
                if nesting > MAX_NESTING {
                    return Err(Fail::Raw);
                }
                out.push(Tok::Op(match ch {
                    '(' => "(",
                    '[' => "[",
                    _ => "{",
                }));
                i += 1;
            }
            ')' | ']' | '}' => {
                nesting = nesting.checked_sub(1).ok_or(Fail::Raw)?;
                out.push(Tok::Op(match ch {
                    ')' => ")",
                    ']' => "]",
                    _ => "}",
                }));
                i += 1;
            }
            ',' => {
                out.push(Tok::Op(","));
                i += 1;
            }
            ':' => {
                out.push(Tok::Op(":"));
                i += 1;
            }
            '+' => {
                out.push(Tok::Op("+"));
                i += 1;
            }
            '-' => {
                out.push(Tok::Op("-"));
                i += 1;
            }
            '.' if c.get(i + 1) == Some(&'.') && c.get(i + 2) == Some(&'.') => {
                out.push(Tok::Op("..."));
                i += 3;
            }
            '.' if c.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                out.push(number(&c, &mut i)?);
            }
            '0'..='9' => out.push(number(&c, &mut i)?),
            '\'' | '"' => out.push(string(&c, &mut i, "")?),
            _ if ch == '_' || ch.is_alphabetic() => {
                let start = i;
                while i < c.len() && (c[i] == '_' || c[i].is_alphanumeric()) {
                    i += 1;
                }
                let name: String = c[start..i].iter().collect();
                if matches!(c.get(i), Some('\'' | '"')) {
                    let lower = name.to_ascii_lowercase();
                    if ["r", "u", "b", "br", "rb", "f", "fr", "rf"].contains(&lower.as_str()) {
                        out.push(string(&c, &mut i, &lower)?);
                        continue;
                    }
                }
                out.push(Tok::Name(name));
            }
            // Any other operator (*, /, %, ==, ...) makes an expression that is
            // not a literal, or a syntax error: either way the raw string.
            _ => return Err(Fail::Raw),
        }
    }
    Ok(out)
}

fn digitpart(c: &[char], i: &mut usize, ok: fn(char) -> bool) -> Result<bool, Fail> {
    // digit (["_"] digit)*; returns whether any digit was read.
    if !c.get(*i).is_some_and(|&d| ok(d)) {
        return Ok(false);
    }
    *i += 1;
    loop {
        match c.get(*i) {
            Some(&d) if ok(d) => *i += 1,
            Some('_') => {
                if c.get(*i + 1).is_some_and(|&d| ok(d)) {
                    *i += 2;
                } else {
                    return Err(Fail::Raw);
                }
            }
            _ => return Ok(true),
        }
    }
}

fn number(c: &[char], i: &mut usize) -> Result<Tok, Fail> {
    let start = *i;
    let tok;
    if c[*i] == '0' && matches!(c.get(*i + 1), Some('x' | 'X' | 'o' | 'O' | 'b' | 'B')) {
        let (radix, ok): (u32, fn(char) -> bool) = match c[*i + 1] {
            'x' | 'X' => (16, |d| d.is_ascii_hexdigit()),
            'o' | 'O' => (8, |d| ('0'..='7').contains(&d)),
            _ => (2, |d| d == '0' || d == '1'),
        };
        *i += 2;
        if c.get(*i) == Some(&'_') {
            *i += 1;
        }
        let ds = *i;
        if !digitpart(c, i, ok)? {
            return Err(Fail::Raw);
        }
        let digits: String = c[ds..*i].iter().filter(|&&d| d != '_').collect();
        tok = match i128::from_str_radix(&digits, radix) {
            Ok(v) => Tok::Int(v),
            Err(_) => Tok::Float(big_to_f64(&digits, radix)),
        };
    } else {
        let int_part = digitpart(c, i, |d| d.is_ascii_digit())?;
        let mut is_float = false;
        if c.get(*i) == Some(&'.') {
            *i += 1;
            is_float = true;
            let frac = digitpart(c, i, |d| d.is_ascii_digit())?;
            if !int_part && !frac {
                return Err(Fail::Raw);
            }
        }
        if matches!(c.get(*i), Some('e' | 'E')) {
            *i += 1;
            if matches!(c.get(*i), Some('+' | '-')) {
                *i += 1;
            }
            if !digitpart(c, i, |d| d.is_ascii_digit())? {
                return Err(Fail::Raw);
            }
            is_float = true;
        }
        let text: String = c[start..*i].iter().filter(|&&d| d != '_').collect();
        if matches!(c.get(*i), Some('j' | 'J')) {
            *i += 1;
            tok = Tok::Imag(parse_float(&text)?);
        } else if is_float {
            tok = Tok::Float(parse_float(&text)?);
        } else {
            if text.starts_with('0') && text.chars().any(|d| d != '0') {
                // "leading zeros in decimal integer literals are not permitted"
                return Err(Fail::Raw);
            }
            tok = match text.parse::<i128>() {
                Ok(v) => Tok::Int(v),
                Err(_) => Tok::Float(big_to_f64(&text, 10)),
            };
        }
    }
    // "invalid decimal literal": a number glued to a name.
    if c.get(*i).is_some_and(|&d| d == '_' || d.is_alphanumeric()) {
        return Err(Fail::Raw);
    }
    Ok(tok)
}

fn parse_float(text: &str) -> Result<f64, Fail> {
    let mut t = text.to_string();
    if t.starts_with('.') {
        t.insert(0, '0');
    }
    if let Some(p) = t.find('.')
        && !t[p + 1..].starts_with(|d: char| d.is_ascii_digit())
    {
        t.insert(p + 1, '0');
    }
    t.parse::<f64>().map_err(|_| Fail::Raw)
}

fn big_to_f64(digits: &str, radix: u32) -> f64 {
    digits.chars().fold(0.0, |acc, d| {
        acc * radix as f64 + d.to_digit(radix).unwrap_or(0) as f64
    })
}

fn string(c: &[char], i: &mut usize, prefix: &str) -> Result<Tok, Fail> {
    let raw = prefix.contains('r');
    let bytes = prefix.contains('b');
    let fstr = prefix.contains('f');
    let q = c[*i];
    let triple = c.get(*i + 1) == Some(&q) && c.get(*i + 2) == Some(&q);
    *i += if triple { 3 } else { 1 };
    let mut body = Vec::new();
    loop {
        let ch = *c.get(*i).ok_or(Fail::Raw)?;
        if ch == q {
            if !triple {
                *i += 1;
                break;
            }
            if c.get(*i + 1) == Some(&q) && c.get(*i + 2) == Some(&q) {
                *i += 3;
                break;
            }
        }
        if !triple && (ch == '\n' || ch == '\r') {
            return Err(Fail::Raw);
        }
        if ch == '\\' {
            let next = *c.get(*i + 1).ok_or(Fail::Raw)?;
            body.push(ch);
            body.push(next);
            *i += 2;
            continue;
        }
        body.push(ch);
        *i += 1;
    }
    if fstr {
        return Ok(Tok::FStr);
    }
    if bytes && body.iter().any(|ch| !ch.is_ascii()) {
        return Err(Fail::Raw); // "bytes can only contain ASCII literal characters"
    }
    if raw {
        let s: String = body.into_iter().collect();
        return Ok(if bytes {
            Tok::Bytes(s.into_bytes())
        } else {
            Tok::Str(s)
        });
    }
    unescape(&body, bytes)
}

fn unescape(body: &[char], bytes: bool) -> Result<Tok, Fail> {
    let mut s = String::new();
    let mut b: Vec<u8> = Vec::new();
    let push = |s: &mut String, b: &mut Vec<u8>, ch: char| {
        if bytes {
            let mut buf = [0u8; 4];
            b.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        } else {
            s.push(ch);
        }
    };
    let mut k = 0;
    while k < body.len() {
        let ch = body[k];
        if ch != '\\' {
            push(&mut s, &mut b, ch);
            k += 1;
            continue;
        }
        let e = body[k + 1];
        k += 2;
        let simple = match e {
            '\n' => Some(None),
            '\\' => Some(Some('\\')),
            '\'' => Some(Some('\'')),
            '"' => Some(Some('"')),
            'a' => Some(Some('\x07')),
            'b' => Some(Some('\x08')),
            'f' => Some(Some('\x0c')),
            'n' => Some(Some('\n')),
            'r' => Some(Some('\r')),
            't' => Some(Some('\t')),
            'v' => Some(Some('\x0b')),
            _ => None,
        };
        if let Some(v) = simple {
            if let Some(ch) = v {
                push(&mut s, &mut b, ch);
            }
            continue;
        }
        match e {
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                let mut n = 1;
                while n < 3 && k < body.len() && ('0'..='7').contains(&body[k]) {
                    v = v * 8 + body[k].to_digit(8).unwrap_or(0);
                    k += 1;
                    n += 1;
                }
                if bytes {
                    b.push((v & 0xff) as u8);
                } else {
                    s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                }
            }
            'x' | 'u' | 'U' if e == 'x' || !bytes => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                if k + n > body.len() || !body[k..k + n].iter().all(|d| d.is_ascii_hexdigit()) {
                    return Err(Fail::Raw); // truncated \xXX escape
                }
                let hex: String = body[k..k + n].iter().collect();
                k += n;
                let v = u32::from_str_radix(&hex, 16).map_err(|_| Fail::Raw)?;
                if bytes {
                    b.push(v as u8);
                } else {
                    if v > 0x10ffff {
                        return Err(Fail::Raw);
                    }
                    s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                }
            }
            // \N{NAME} needs the Unicode name table; leave such values raw.
            'N' if !bytes => return Err(Fail::Raw),
            _ => {
                push(&mut s, &mut b, '\\');
                push(&mut s, &mut b, e);
            }
        }
    }
    Ok(if bytes { Tok::Bytes(b) } else { Tok::Str(s) })
}

// ---------------------------------------------------------------- parser

/// What the parser builds: a finished value, or a node whose validity depends on
/// where it is (`-1` and `1+2j` are only literals in some positions).
enum Expr {
    Value(Py),
    /// A plain number constant (int, float or complex), not a bool.
    Num(Py),
    /// `+x` / `-x` of a plain number.
    Signed(Py),
    /// `+`/`-` binary operation: left, plus?, right.
    Bin(Box<Expr>, bool, Box<Expr>),
    /// Unary applied to something that is not a plain number.
    BadUnary,
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }
    fn eat(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, op: &str) -> Result<(), Fail> {
        if self.eat(op) { Ok(()) } else { Err(Fail::Raw) }
    }

    /// expr (',' expr)* [','] — a tuple when there is a comma.
    fn testlist(&mut self, top: bool) -> Result<Expr, Fail> {
        if top && self.peek().is_none() {
            return Err(Fail::Raw);
        }
        let first = self.expr()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![convert(first)?];
        while self.eat(",") {
            if self.at_end_of_list() {
                break;
            }
            items.push(convert(self.expr()?)?);
        }
        Ok(Expr::Value(Py::Tuple(items)))
    }

    fn at_end_of_list(&self) -> bool {
        self.peek().is_none() || self.is_op(")") || self.is_op("]") || self.is_op("}")
    }

    fn expr(&mut self) -> Result<Expr, Fail> {
        let mut left = self.unary()?;
        loop {
            let plus = if self.eat("+") {
                true
            } else if self.eat("-") {
                false
            } else {
                return Ok(left);
            };
            let right = self.unary()?;
            left = Expr::Bin(Box::new(left), plus, Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, Fail> {
        let neg = if self.eat("-") {
            true
        } else if self.eat("+") {
            false
        } else {
            return self.atom();
        };
        self.enter()?;
        let operand = self.unary()?;
        self.depth -= 1;
        Ok(match operand {
            Expr::Num(n) => Expr::Signed(if neg { negate(n) } else { n }),
            _ => Expr::BadUnary,
        })
    }

    fn enter(&mut self) -> Result<(), Fail> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            Err(Fail::Raw)
        } else {
            Ok(())
        }
    }

    fn atom(&mut self) -> Result<Expr, Fail> {
        let tok = self.peek().cloned().ok_or(Fail::Raw)?;
        self.pos += 1;
        match tok {
            Tok::Int(v) => Ok(Expr::Num(Py::Int(v))),
            Tok::Float(v) => Ok(Expr::Num(Py::Float(v))),
            Tok::Imag(v) => Ok(Expr::Num(Py::Complex(0.0, v))),
            Tok::Str(_) | Tok::Bytes(_) | Tok::FStr => {
                // Adjacent string literals concatenate; str and bytes do not mix.
                let mut parts = vec![tok];
                while let Some(t @ (Tok::Str(_) | Tok::Bytes(_) | Tok::FStr)) = self.peek() {
                    parts.push(t.clone());
                    self.pos += 1;
                }
                let any_bytes = parts.iter().any(|t| matches!(t, Tok::Bytes(_)));
                let any_text = parts.iter().any(|t| !matches!(t, Tok::Bytes(_)));
                if any_bytes && any_text {
                    return Err(Fail::Raw);
                }
                if parts.iter().any(|t| matches!(t, Tok::FStr)) {
                    return Err(Fail::Raw);
                }
                if any_bytes {
                    let mut b = Vec::new();
                    for p in parts {
                        if let Tok::Bytes(x) = p {
                            b.extend(x);
                        }
                    }
                    Ok(Expr::Value(Py::Bytes(b)))
                } else {
                    let mut s = String::new();
                    for p in parts {
                        if let Tok::Str(x) = p {
                            s.push_str(&x);
                        }
                    }
                    Ok(Expr::Value(Py::Str(s)))
                }
            }
            Tok::Name(n) => match n.as_str() {
                "True" => Ok(Expr::Value(Py::Bool(true))),
                "False" => Ok(Expr::Value(Py::Bool(false))),
                "None" => Ok(Expr::Value(Py::None)),
                "set" if self.is_op("(") => {
                    self.pos += 1;
                    self.expect(")")?;
                    Ok(Expr::Value(Py::Set(Vec::new())))
                }
                _ => Err(Fail::Raw),
            },
            Tok::Op("...") => Ok(Expr::Value(Py::Ellipsis)),
            Tok::Op("(") => {
                self.enter()?;
                let v = if self.eat(")") {
                    Expr::Value(Py::Tuple(Vec::new()))
                } else {
                    let v = self.testlist(false)?;
                    self.expect(")")?;
                    v
                };
                self.depth -= 1;
                Ok(v)
            }
            Tok::Op("[") => {
                self.enter()?;
                let mut items = Vec::new();
                while !self.eat("]") {
                    items.push(convert(self.expr()?)?);
                    if !self.eat(",") {
                        self.expect("]")?;
                        break;
                    }
                }
                self.depth -= 1;
                Ok(Expr::Value(Py::List(items)))
            }
            Tok::Op("{") => {
                self.enter()?;
                let v = self.dict_or_set()?;
                self.depth -= 1;
                Ok(Expr::Value(v))
            }
            _ => Err(Fail::Raw),
        }
    }

    fn dict_or_set(&mut self) -> Result<Py, Fail> {
        if self.eat("}") {
            return Ok(Py::Dict(Vec::new()));
        }
        let first = self.expr()?;
        if self.eat(":") {
            // Python builds the dict pair by pair: key, value, insert.
            let mut entries: Vec<(Py, Py)> = Vec::new();
            let mut key = Some(first);
            loop {
                let k = match key.take() {
                    Some(k) => k,
                    None => {
                        let k = self.expr()?;
                        self.expect(":")?;
                        k
                    }
                };
                let v = self.expr()?;
                let (k, v) = (convert(k)?, convert(v)?);
                if !hashable(&k) {
                    return Err(Fail::Type(format!("unhashable type: '{}'", type_name(&k))));
                }
                match entries.iter_mut().find(|(ek, _)| py_eq(ek, &k)) {
                    Some(e) => e.1 = v,
                    None => entries.push((k, v)),
                }
                if !self.eat(",") {
                    self.expect("}")?;
                    break;
                }
                if self.eat("}") {
                    break;
                }
            }
            return Ok(Py::Dict(entries));
        }
        let mut items = vec![convert(first)?];
        while self.eat(",") {
            if self.is_op("}") {
                break;
            }
            items.push(convert(self.expr()?)?);
        }
        self.expect("}")?;
        let mut set: Vec<Py> = Vec::new();
        for it in items {
            if !hashable(&it) {
                return Err(Fail::Type(format!("unhashable type: '{}'", type_name(&it))));
            }
            if !set.iter().any(|s| py_eq(s, &it)) {
                set.push(it);
            }
        }
        Ok(Py::Set(set))
    }
}

fn negate(n: Py) -> Py {
    match n {
        Py::Int(v) => Py::Int(-v),
        Py::Float(v) => Py::Float(-v),
        Py::Complex(r, i) => Py::Complex(-r, -i),
        other => other,
    }
}

/// literal_eval's `_convert` for a node in a value position.
fn convert(e: Expr) -> Result<Py, Fail> {
    match e {
        Expr::Value(v) | Expr::Num(v) | Expr::Signed(v) => Ok(v),
        Expr::BadUnary => Err(Fail::Raw),
        Expr::Bin(l, plus, r) => {
            // Only `real +/- complex`, e.g. 1+2j.
            let left = match *l {
                Expr::Num(v) | Expr::Signed(v) => v,
                _ => return Err(Fail::Raw),
            };
            let right = match *r {
                Expr::Num(v) => v,
                _ => return Err(Fail::Raw),
            };
            let lr = match left {
                Py::Int(v) => v as f64,
                Py::Float(v) => v,
                _ => return Err(Fail::Raw),
            };
            match right {
                Py::Complex(re, im) => Ok(if plus {
                    Py::Complex(lr + re, im)
                } else {
                    Py::Complex(lr - re, -im)
                }),
                _ => Err(Fail::Raw),
            }
        }
    }
}

fn convert_top(e: Expr) -> Result<Py, Fail> {
    convert(e)
}

fn hashable(v: &Py) -> bool {
    match v {
        Py::List(_) | Py::Dict(_) | Py::Set(_) => false,
        Py::Tuple(items) => items.iter().all(hashable),
        _ => true,
    }
}

fn type_name(v: &Py) -> &'static str {
    match v {
        Py::List(_) => "list",
        Py::Dict(_) => "dict",
        Py::Set(_) => "set",
        Py::Tuple(_) => "tuple",
        _ => "object",
    }
}

/// Python `==` for hashable literals (1 == 1.0 == True).
fn py_eq(a: &Py, b: &Py) -> bool {
    fn num(v: &Py) -> Option<(f64, f64)> {
        match v {
            Py::Bool(b) => Some((*b as i32 as f64, 0.0)),
            Py::Int(i) => Some((*i as f64, 0.0)),
            Py::Float(f) => Some((*f, 0.0)),
            Py::Complex(r, i) => Some((*r, *i)),
            _ => None,
        }
    }
    match (a, b) {
        (Py::Int(x), Py::Int(y)) => x == y,
        (Py::Tuple(x), Py::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

// ---------------------------------------------------------------- to JSON

/// Ansible's `_parse_recursive_coerce_types_and_tag` followed by JSON's view.
pub(crate) fn to_json(v: &Py) -> Json {
    match v {
        Py::None => Json::Null,
        Py::Bool(b) => Json::Bool(*b),
        Py::Int(i) => int_json(*i),
        Py::Float(f) => float_json(*f),
        Py::Complex(re, im) => Json::String(complex_str(*re, *im)),
        Py::Str(s) => Json::String(s.clone()),
        Py::Bytes(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        Py::Ellipsis => Json::String("...".into()),
        Py::List(items) | Py::Tuple(items) | Py::Set(items) => {
            Json::Array(items.iter().map(to_json).collect())
        }
        Py::Dict(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                m.insert(key_string(k), to_json(v));
            }
            Json::Object(m)
        }
    }
}

fn int_json(i: i128) -> Json {
    if let Ok(v) = i64::try_from(i) {
        Json::from(v)
    } else if let Ok(v) = u64::try_from(i) {
        Json::from(v)
    } else {
        float_json(i as f64)
    }
}

fn float_json(f: f64) -> Json {
    Number::from_f64(f)
        .map(Json::Number)
        .unwrap_or_else(|| Json::String(py_float_repr(f, false)))
}

/// How `json.dumps` writes a non-string dict key.
fn key_string(k: &Py) -> String {
    match k {
        Py::Str(s) => s.clone(),
        Py::None => "null".into(),
        Py::Bool(true) => "true".into(),
        Py::Bool(false) => "false".into(),
        Py::Int(i) => i.to_string(),
        Py::Float(f) => py_float_repr(*f, true),
        other => match to_json(other) {
            Json::String(s) => s,
            j => j.to_string(),
        },
    }
}

/// `str(complex)` as Python prints it: `2j`, `(1+2j)`, `(-0-1j)`.
pub(crate) fn complex_str(re: f64, im: f64) -> String {
    if re == 0.0 && re.is_sign_positive() {
        format!("{}j", py_float_repr(im, false))
    } else {
        let im_s = py_float_repr(im, false);
        let sign = if im_s.starts_with('-') { "" } else { "+" };
        format!("({}{sign}{im_s}j)", py_float_repr(re, false))
    }
}

/// Python's `repr(float)` (`add_dot_0`), or the `'r'` format without the `.0`
/// that complex numbers use.
pub(crate) fn py_float_repr(f: f64, add_dot_0: bool) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        let z = if add_dot_0 { "0.0" } else { "0" };
        return if f.is_sign_negative() {
            format!("-{z}")
        } else {
            z.into()
        };
    }
    let sci = format!("{:e}", f.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let decpt = exp + 1;
    let sign = if f < 0.0 { "-" } else { "" };
    let body = if !(-4 < decpt && decpt <= 16) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if digits.len() as i32 <= decpt {
        let s = format!(
            "{digits}{}",
            "0".repeat((decpt - digits.len() as i32) as usize)
        );
        if add_dot_0 { format!("{s}.0") } else { s }
    } else {
        format!(
            "{}.{}",
            &digits[..decpt as usize],
            &digits[decpt as usize..]
        )
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lit(s: &str) -> Json {
        ini_value(s).unwrap()
    }

    #[test]
    fn scalars() {
        assert_eq!(lit("1"), json!(1));
        assert_eq!(lit("-3"), json!(-3));
        assert_eq!(lit("+3"), json!(3));
        assert_eq!(lit("1.5"), json!(1.5));
        assert_eq!(lit("1e3"), json!(1000.0));
        assert_eq!(lit("1_000"), json!(1000));
        assert_eq!(lit("0x1f"), json!(31));
        assert_eq!(lit("0o17"), json!(15));
        assert_eq!(lit("0b101"), json!(5));
        assert_eq!(lit("00"), json!(0));
        assert_eq!(lit("01"), json!("01"));
        assert_eq!(lit("1."), json!(1.0));
        assert_eq!(lit(".5"), json!(0.5));
        assert_eq!(lit("True"), json!(true));
        assert_eq!(lit("False"), json!(false));
        assert_eq!(lit("None"), json!(null));
        assert_eq!(lit("true"), json!("true"));
        assert_eq!(lit("yes"), json!("yes"));
        assert_eq!(lit("hello"), json!("hello"));
        assert_eq!(lit("1 # comment"), json!(1));
        assert_eq!(
            lit("spaced value # comment"),
            json!("spaced value # comment")
        );
        assert_eq!(lit("192.168.56.10"), json!("192.168.56.10"));
        assert_eq!(lit("1.2.3"), json!("1.2.3"));
        assert_eq!(lit("1abc"), json!("1abc"));
        assert_eq!(lit("--1"), json!("--1"));
        assert_eq!(lit("-True"), json!("-True"));
        assert_eq!(lit("1+2"), json!("1+2"));
        assert_eq!(lit(""), json!(""));
        assert_eq!(lit("  7"), json!(7));
        assert_eq!(lit("a=b"), json!("a=b"));
        assert_eq!(lit("..."), json!("..."));
    }

    #[test]
    fn strings() {
        assert_eq!(lit("'quoted'"), json!("quoted"));
        assert_eq!(lit("\"dq\""), json!("dq"));
        assert_eq!(lit("'a' \"b\""), json!("ab"));
        assert_eq!(lit(r"'a\nb'"), json!("a\nb"));
        assert_eq!(lit(r"r'a\nb'"), json!("a\\nb"));
        assert_eq!(lit(r"'\x41\u00e9\101'"), json!("AéA"));
        assert_eq!(lit(r"'\d'"), json!("\\d"));
        assert_eq!(lit("b'x'"), json!("x"));
        assert_eq!(lit("'''tri'ple'''"), json!("tri'ple"));
        assert_eq!(lit("f'x'"), json!("f'x'"));
        assert_eq!(lit("'a' b'c'"), json!("'a' b'c'"));
        assert_eq!(lit("'unterminated"), json!("'unterminated"));
        assert_eq!(lit(r"'\x4'"), json!(r"'\x4'"));
    }

    #[test]
    fn containers() {
        assert_eq!(lit("[1, 'two', 3.0]"), json!([1, "two", 3.0]));
        assert_eq!(lit("{'k': 'v', 'n': 2}"), json!({"k": "v", "n": 2}));
        assert_eq!(lit("(1, 2)"), json!([1, 2]));
        assert_eq!(lit("1, 2"), json!([1, 2]));
        assert_eq!(lit("1,"), json!([1]));
        assert_eq!(lit("()"), json!([]));
        assert_eq!(lit("(1)"), json!(1));
        assert_eq!(lit("{1, 2, 1}"), json!([1, 2]));
        assert_eq!(lit("set()"), json!([]));
        assert_eq!(lit("{}"), json!({}));
        assert_eq!(lit("[1, [2, {'a': (3,)}]]"), json!([1, [2, {"a": [3]}]]));
        assert_eq!(
            lit("{1: 'a', True: 'b', None: 0}"),
            json!({"1": "b", "null": 0})
        );
        assert_eq!(lit("[1, x]"), json!("[1, x]"));
        assert_eq!(lit("[1,,2]"), json!("[1,,2]"));
        assert_eq!(lit("[1"), json!("[1"));
        assert!(ini_value("{[1]: 2}").is_err());
        assert!(ini_value("{[1], 2}").is_err());
        assert_eq!(lit("{(1, 2): 3}"), json!({"[1,2]": 3}));
    }

    #[test]
    fn complex_and_floats() {
        assert_eq!(lit("1+2j"), json!("(1+2j)"));
        assert_eq!(lit("2j"), json!("2j"));
        assert_eq!(lit("1-2j"), json!("(1-2j)"));
        assert_eq!(lit("-1j"), json!("(-0-1j)"));
        assert_eq!(lit("1.5+0.5j"), json!("(1.5+0.5j)"));
        assert_eq!(lit("2j+1"), json!("2j+1"));
        assert_eq!(py_float_repr(1e16, true), "1e+16");
        assert_eq!(py_float_repr(1e15, true), "1000000000000000.0");
        assert_eq!(py_float_repr(0.0001, true), "0.0001");
        assert_eq!(py_float_repr(0.00001, true), "1e-05");
        assert_eq!(py_float_repr(1.5, true), "1.5");
        assert_eq!(py_float_repr(-2.0, true), "-2.0");
        assert_eq!(py_float_repr(123.456, true), "123.456");
        assert_eq!(py_float_repr(1.2345e-7, true), "1.2345e-07");
        assert_eq!(py_float_repr(0.1, true), "0.1");
    }

    #[test]
    fn deep_nesting_is_raw_not_a_crash() {
        let s = "[".repeat(5000);
        assert_eq!(lit(&s), json!(s));
        let s = "-".repeat(5000) + "1";
        assert_eq!(lit(&s), json!(s));
        assert!(eval("[[1]]").is_some());
    }
}
