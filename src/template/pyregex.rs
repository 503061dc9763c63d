//! Python `re` semantics on top of the `regex` crate, for Ansible's regex
//! filters and tests.
//!
//! * Pattern syntax is translated: `\Z` -> `\z`, `(?P<n>` kept, literal `{`/`[`
//!   escaped where Python treats them literally, `(?#...)` dropped, and
//!   Python's non-MULTILINE `$` (end of string *or* before a final newline) is
//!   emulated with an extra capture group whose newline is then excluded from
//!   the match.
//! * Backreferences (`\1`, `(?P=n)`) and lookaround (`(?=`, `(?!`, `(?<=`,
//!   `(?<!`) compile with `fancy-regex` (a backtracking engine; there `$` is
//!   the lookahead `(?=\n?\z)`); every other pattern with `regex`.
//!   Conditional groups `(?(1)...)` give a clear error.
//! * Replacement strings use Python syntax: `\1`, `\g<1>`, `\g<name>`, `\n`...

use std::collections::HashMap;

use minijinja::{Error, ErrorKind};
use regex::Regex;

/// The engine a pattern compiled with.
#[derive(Debug)]
enum Engine {
    Plain(Regex),
    /// Lookaround or backreferences.
    Fancy(fancy_regex::Regex),
}

fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// A compiled Python-syntax regex.
#[derive(Debug)]
pub(crate) struct PyRegex {
    re: Engine,
    /// Python group number (index) -> group index in `re`. Index 0 is the match.
    groups: Vec<usize>,
    /// Python group names -> Python group number.
    names: HashMap<String, usize>,
    /// Inserted groups matching the final newline for Python's `$`.
    dollar_groups: Vec<usize>,
}

/// One match with Python-visible spans.
pub(crate) struct PyMatch<'h> {
    hay: &'h str,
    /// The span of each group of the compiled pattern (0: the match).
    caps: Vec<Option<(usize, usize)>>,
    end_limit: usize,
    re: &'h PyRegex,
}

impl<'h> PyMatch<'h> {
    fn span(&self, i: usize) -> Option<(usize, usize)> {
        self.caps.get(i).copied().flatten()
    }
    pub fn start(&self) -> usize {
        self.span(0).map_or(0, |m| m.0)
    }
    pub fn end(&self) -> usize {
        self.span(0).map_or(0, |m| m.1).min(self.end_limit)
    }
    /// The text of Python group `i` (0 = whole match), None when it did not participate.
    pub fn group(&self, i: usize) -> Option<&'h str> {
        let idx = *self.re.groups.get(i)?;
        let (start, end) = self.span(idx)?;
        let end = end.min(self.end_limit).max(start);
        Some(&self.hay[start..end])
    }
    pub fn group_by_name(&self, name: &str) -> Option<&'h str> {
        self.group(*self.re.names.get(name)?)
    }
}

impl PyRegex {
    pub fn new(pattern: &str, ignorecase: bool, multiline: bool) -> Result<PyRegex, Error> {
        Self::build(pattern, ignorecase, multiline, false)
    }

    /// Like `re.match`: anchored at the start of the string.
    pub fn new_anchored(
        pattern: &str,
        ignorecase: bool,
        multiline: bool,
    ) -> Result<PyRegex, Error> {
        Self::build(pattern, ignorecase, multiline, true)
    }

    fn build(
        pattern: &str,
        ignorecase: bool,
        multiline: bool,
        anchored: bool,
    ) -> Result<PyRegex, Error> {
        let tr = translate(pattern, multiline)?;
        let mut src = String::new();
        if ignorecase {
            src.push_str("(?i)");
        }
        if multiline {
            src.push_str("(?m)");
        }
        if anchored {
            src.push_str(r"\A(?:");
            src.push_str(&tr.pattern);
            src.push(')');
        } else {
            src.push_str(&tr.pattern);
        }
        let bad =
            |e: &dyn std::fmt::Display| err(format!("invalid regular expression {pattern:?}: {e}"));
        let (re, names_of): (Engine, Vec<Option<String>>) = if tr.fancy {
            let re = fancy_regex::Regex::new(&src).map_err(|e| bad(&e))?;
            let n = re.capture_names().map(|n| n.map(str::to_string)).collect();
            (Engine::Fancy(re), n)
        } else {
            let re = Regex::new(&src).map_err(|e| bad(&e))?;
            let n = re.capture_names().map(|n| n.map(str::to_string)).collect();
            (Engine::Plain(re), n)
        };
        let mut groups = vec![0];
        let mut names = HashMap::new();
        let mut dollar_groups = Vec::new();
        let mut py_index = 0;
        for (rust_index, name) in names_of.iter().map(Option::as_deref).enumerate().skip(1) {
            if name.is_some_and(|n| n.starts_with("__pydollar")) {
                dollar_groups.push(rust_index);
                continue;
            }
            py_index += 1;
            groups.push(rust_index);
            if let Some(name) = name {
                names.insert(name.to_string(), py_index);
            }
        }
        Ok(PyRegex {
            re,
            groups,
            names,
            dollar_groups,
        })
    }

    /// Number of Python-visible capture groups.
    pub fn group_count(&self) -> usize {
        self.groups.len() - 1
    }

    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.names.get(name).copied()
    }

    /// The spans of the first match at or after `pos` (a backtracking
    /// engine that gives up, past its limit, finds no match).
    fn captures_at(&self, hay: &str, pos: usize) -> Option<Vec<Option<(usize, usize)>>> {
        match &self.re {
            Engine::Plain(re) => re
                .captures_at(hay, pos)
                .map(|c| c.iter().map(|m| m.map(|m| (m.start(), m.end()))).collect()),
            Engine::Fancy(re) => re
                .captures_from_pos(hay, pos)
                .ok()
                .flatten()
                .map(|c| c.iter().map(|m| m.map(|m| (m.start(), m.end()))).collect()),
        }
    }

    fn wrap<'h>(&'h self, hay: &'h str, caps: Vec<Option<(usize, usize)>>) -> PyMatch<'h> {
        let end_limit = self
            .dollar_groups
            .iter()
            .filter_map(|&i| caps.get(i).copied().flatten())
            .map(|m| m.0)
            .min()
            .unwrap_or(usize::MAX);
        PyMatch {
            hay,
            caps,
            end_limit,
            re: self,
        }
    }

    pub fn search<'h>(&'h self, hay: &'h str) -> Option<PyMatch<'h>> {
        self.captures_at(hay, 0).map(|c| self.wrap(hay, c))
    }

    pub fn is_match(&self, hay: &str) -> bool {
        match &self.re {
            Engine::Plain(re) => re.is_match(hay),
            Engine::Fancy(re) => re.is_match(hay).unwrap_or(false),
        }
    }

    /// All matches like Python's `finditer` (3.7+): an empty match may directly
    /// follow a non-empty one; after an empty match the search moves on one character.
    pub fn find_all<'h>(&'h self, hay: &'h str) -> impl Iterator<Item = PyMatch<'h>> + 'h {
        let mut pos = 0;
        let mut done = false;
        std::iter::from_fn(move || {
            if done || pos > hay.len() {
                return None;
            }
            let caps = self.captures_at(hay, pos)?;
            let (start, end) = caps.first().copied().flatten()?;
            if start == end {
                pos = end + hay[end..].chars().next().map_or(1, char::len_utf8);
                if end >= hay.len() {
                    done = true;
                }
            } else {
                pos = end;
            }
            Some(self.wrap(hay, caps))
        })
    }

    /// `re.subn(repl, hay, count)`: returns the new string and the number of substitutions.
    pub fn subn(&self, hay: &str, repl: &str, count: usize) -> Result<(String, usize), Error> {
        let parts = parse_replacement(repl, self)?;
        let mut out = String::with_capacity(hay.len());
        let mut last = 0;
        let mut n = 0;
        for m in self.find_all(hay) {
            if count > 0 && n >= count {
                break;
            }
            out.push_str(&hay[last..m.start()]);
            for part in &parts {
                match part {
                    ReplPart::Lit(s) => out.push_str(s),
                    ReplPart::Group(i) => out.push_str(m.group(*i).unwrap_or("")),
                }
            }
            last = m.end();
            n += 1;
        }
        out.push_str(&hay[last..]);
        Ok((out, n))
    }
}

struct Translated {
    pattern: String,
    /// Needs lookaround or backreferences (fancy-regex).
    fancy: bool,
}

/// Does the pattern use lookaround or backreferences?
fn needs_fancy(p: &str) -> bool {
    let chars: Vec<char> = p.chars().collect();
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if !in_class && chars.get(i + 1).is_some_and(|c| ('1'..='9').contains(c)) {
                    return true;
                }
                i += 2;
                continue;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class && chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..].iter().take(2).collect();
                if rest.starts_with('=')
                    || rest.starts_with('!')
                    || rest == "<="
                    || rest == "<!"
                    || rest == "P="
                {
                    return true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

fn is_valid_quantifier(rest: &str) -> Option<(usize, String)> {
    // rest starts right after '{'
    let close = rest.find('}')?;
    let inner = &rest[..close];
    let (a, b) = match inner.split_once(',') {
        Some((a, b)) => (a, Some(b)),
        None => (inner, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(a) || !b.is_none_or(digits) || (a.is_empty() && b.is_none_or(|b| b.is_empty())) {
        return None;
    }
    let a = if a.is_empty() { "0" } else { a };
    let q = match b {
        Some(b) => format!("{{{a},{b}}}"),
        None => format!("{{{a}}}"),
    };
    Some((close + 1, q))
}

fn translate(p: &str, multiline: bool) -> Result<Translated, Error> {
    let fancy = needs_fancy(p);
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    let mut dollar_n = 0;
    let mut in_class = false;
    let mut class_start = 0;
    // an inline (?m) at the very start makes `$` multi-line, like the flag
    let multiline =
        multiline || p.starts_with("(?m)") || p.starts_with("(?im)") || p.starts_with("(?mi)");
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(&n) = chars.get(i + 1) else {
                return Err(err(format!("bad escape (end of pattern) in {p:?}")));
            };
            i += 2;
            match n {
                'Z' if !in_class => out.push_str(r"\z"),
                '1'..='9' if !in_class => {
                    // a backreference (fancy): `\12` is group 12, as Python
                    out.push('\\');
                    out.push(n);
                    if let Some(d) = chars.get(i).filter(|d| d.is_ascii_digit()) {
                        out.push(*d);
                        i += 1;
                    }
                }
                '0' => out.push_str(r"\x00"),
                '<' | '>' | '\'' | '"' | '/' | '`' | '!' | '@' | '%' | ',' | ';' | '=' | ':'
                | '_' => out.push(n),
                n => {
                    out.push('\\');
                    out.push(n);
                }
            }
            continue;
        }
        if in_class {
            match c {
                ']' if i > class_start => {
                    in_class = false;
                    out.push(']');
                }
                '[' => out.push_str(r"\["),
                '&' => out.push_str(r"\&"),
                '~' => out.push_str(r"\~"),
                c => out.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // a ']' right after '[' or '[^' is literal
                class_start = i + 1;
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
                continue;
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..].iter().collect();
                if rest.starts_with('=')
                    || rest.starts_with('!')
                    || rest.starts_with("<=")
                    || rest.starts_with("<!")
                {
                    // lookaround (fancy): as it is
                    out.push_str("(?");
                    i += 2;
                    continue;
                }
                if let Some(named) = rest.strip_prefix("P=") {
                    let Some(close) = named.find(')') else {
                        return Err(err(format!("missing ) in {p:?}")));
                    };
                    out.push_str(&format!(r"\k<{}>", &named[..close]));
                    i += 2 + 2 + named[..close].chars().count() + 1;
                    continue;
                }
                if rest.starts_with('#') {
                    // comment group: skip to the closing paren
                    let close = chars[i..]
                        .iter()
                        .position(|&c| c == ')')
                        .map_or(chars.len(), |x| i + x + 1);
                    i = close;
                    continue;
                }
                if rest.starts_with('(') {
                    return Err(err(format!(
                        "conditional groups are not supported in regular expressions: {p:?}"
                    )));
                }
                // inline flags like (?aiLmsux) / (?i:...): drop the Python-only a, L, u
                if let Some(end) = rest.find([')', ':']) {
                    let flags = &rest[..end];
                    if !flags.is_empty() && flags.chars().all(|c| "aiLmsux-".contains(c)) {
                        let kept: String = flags.chars().filter(|c| !"aLu".contains(*c)).collect();
                        let closer = &rest[end..=end];
                        if kept.is_empty() || kept == "-" {
                            if closer == ":" {
                                out.push_str("(?:");
                            }
                        } else {
                            out.push_str("(?");
                            out.push_str(&kept);
                            out.push_str(closer);
                        }
                        i += 2 + end + 1;
                        continue;
                    }
                }
                out.push_str("(?");
                i += 2;
            }
            '{' => match is_valid_quantifier(&chars[i + 1..].iter().collect::<String>()) {
                Some((len, q)) if i > 0 => {
                    out.push_str(&q);
                    i += 1 + len;
                }
                _ => {
                    out.push_str(r"\{");
                    i += 1;
                }
            },
            '}' => {
                out.push_str(r"\}");
                i += 1;
            }
            '$' if !multiline && fancy => {
                out.push_str(r"(?=\n?\z)");
                i += 1;
            }
            '$' if !multiline => {
                out.push_str(&format!(r"(?:\z|(?P<__pydollar{dollar_n}>\n\z))"));
                dollar_n += 1;
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(Translated {
        pattern: out,
        fancy,
    })
}

enum ReplPart {
    Lit(String),
    Group(usize),
}

/// Parses a Python `re.sub` replacement template.
fn parse_replacement(repl: &str, re: &PyRegex) -> Result<Vec<ReplPart>, Error> {
    let chars: Vec<char> = repl.chars().collect();
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let group_ok = |g: usize| -> Result<usize, Error> {
        if g > re.group_count() {
            Err(err(format!(
                "invalid group reference {g} in replacement {repl:?}"
            )))
        } else {
            Ok(g)
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            lit.push(c);
            i += 1;
            continue;
        }
        let Some(&n) = chars.get(i + 1) else {
            return Err(err(format!(
                "bad escape (end of pattern) in replacement {repl:?}"
            )));
        };
        i += 2;
        let group = match n {
            'g' => {
                if chars.get(i) != Some(&'<') {
                    return Err(err(format!(
                        "missing < in group reference in replacement {repl:?}"
                    )));
                }
                let close = chars[i..].iter().position(|&c| c == '>').ok_or_else(|| {
                    err(format!(
                        "missing > in group reference in replacement {repl:?}"
                    ))
                })?;
                let name: String = chars[i + 1..i + close].iter().collect();
                i += close + 1;
                let g = match name.parse::<usize>() {
                    Ok(g) => g,
                    Err(_) => re.group_index(&name).ok_or_else(|| {
                        err(format!(
                            "unknown group name '{name}' in replacement {repl:?}"
                        ))
                    })?,
                };
                Some(group_ok(g)?)
            }
            '0' => {
                // octal escape: up to 3 octal digits
                let mut v = 0u32;
                let mut k = 0;
                while k < 2 && chars.get(i).is_some_and(|c| c.is_digit(8)) {
                    v = v * 8 + chars[i].to_digit(8).unwrap_or(0);
                    i += 1;
                    k += 1;
                }
                lit.push(char::from_u32(v).unwrap_or('\0'));
                None
            }
            '1'..='9' => {
                let mut g = n.to_digit(10).unwrap_or(0) as usize;
                if chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                    g = g * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
                    i += 1;
                }
                Some(group_ok(g)?)
            }
            'n' => {
                lit.push('\n');
                None
            }
            't' => {
                lit.push('\t');
                None
            }
            'r' => {
                lit.push('\r');
                None
            }
            'f' => {
                lit.push('\u{c}');
                None
            }
            'v' => {
                lit.push('\u{b}');
                None
            }
            'a' => {
                lit.push('\u{7}');
                None
            }
            'b' => {
                lit.push('\u{8}');
                None
            }
            '\\' => {
                lit.push('\\');
                None
            }
            c if c.is_ascii_alphabetic() => {
                return Err(err(format!("bad escape \\{c} in replacement {repl:?}")));
            }
            c => {
                lit.push('\\');
                lit.push(c);
                None
            }
        };
        if let Some(g) = group {
            if !lit.is_empty() {
                parts.push(ReplPart::Lit(std::mem::take(&mut lit)));
            }
            parts.push(ReplPart::Group(g));
        }
    }
    if !lit.is_empty() {
        parts.push(ReplPart::Lit(lit));
    }
    Ok(parts)
}

/// Python's `re.escape`.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(p: &str, r: &str, s: &str) -> String {
        PyRegex::new(p, false, false)
            .unwrap()
            .subn(s, r, 0)
            .unwrap()
            .0
    }

    #[test]
    fn python_dollar() {
        assert_eq!(sub("$", "<", "a\nb\n"), "a\nb<\n<");
        assert_eq!(sub("b$", "X", "a\nb\n"), "a\nX\n");
        assert_eq!(sub("a$", "X", "a\nb\n"), "a\nb\n");
        assert_eq!(sub("(b)$", r"[\1]", "ab\n"), "a[b]\n");
        assert!(PyRegex::new("b$", false, false).unwrap().is_match("ab\n"));
        let re = PyRegex::new("(x)(b$)", false, false).unwrap();
        let m = re.search("xb\n").unwrap();
        assert_eq!(
            (m.group(0), m.group(1), m.group(2)),
            (Some("xb"), Some("x"), Some("b"))
        );
    }

    #[test]
    fn python_syntax() {
        assert_eq!(sub(r"(?P<a>\w)\Z", r"\g<a>!", "xy"), "xy!");
        assert_eq!(sub(r"[[]", "(", "a[b"), "a(b");
        assert_eq!(sub(r"a{", "_", "a{b"), "_b");
        assert_eq!(sub(r"a{2}", "_", "aaa"), "_a");
        assert_eq!(sub(r"a{,2}", "_", "aaa"), "___");
        assert_eq!(sub("x*", "-", "abxd"), "-a-b--d-");
        assert_eq!(sub("a*", "-", "aaa"), "--");
        assert_eq!(sub(r"(?#note)b", "_", "ab"), "a_");
        assert_eq!(sub(r"\<b\>", "_", "a<b>"), "a_");
        assert_eq!(sub("x", r"\\\n\&", "x"), "\\\n\\&");
        assert!(PyRegex::new(r"(?(1)a|b)", false, false).is_err());
        assert!(
            PyRegex::new("a", false, false)
                .unwrap()
                .subn("a", r"\2", 0)
                .is_err()
        );
        assert!(
            PyRegex::new("a", false, false)
                .unwrap()
                .subn("a", r"\q", 0)
                .is_err()
        );
        assert_eq!(escape("a.b*c d"), r"a\.b\*c\ d");
    }

    #[test]
    fn lookaround_and_backreferences() {
        // lookahead and lookbehind, positive and negative
        assert_eq!(sub(r"foo(?=bar)", "X", "foobar foobaz"), "Xbar foobaz");
        assert_eq!(sub(r"foo(?!bar)", "X", "foobar foobaz"), "foobar Xbaz");
        assert_eq!(sub(r"(?<=\$)\d+", "N", "cost $42 or 42"), "cost $N or 42");
        assert_eq!(sub(r"(?<!\$)\b\d+", "N", "cost $42 or 42"), "cost $42 or N");
        // numbered and named backreferences, in the pattern and the replacement
        assert_eq!(sub(r"(\w+) \1", r"\1", "the the cat"), "the cat");
        assert_eq!(
            sub(r#"(?P<q>['"]).*?(?P=q)"#, "S", r#"a 'x' "y" b"#),
            "a S S b"
        );
        assert_eq!(
            sub(r"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\10", "!", "abcdefghijj"),
            "!"
        );
        // Python's `$` (before a final newline) in the backtracking engine too
        assert_eq!(sub(r"(\w)\1$", "=", "xaa\n"), "x=\n");
        let re = PyRegex::new(r"^(?!#)(\w+)=(?P<v>.*)$", false, true).unwrap();
        let found: Vec<_> = re
            .find_all("#a=1\nb=2\nc=3")
            .map(|m| m.group_by_name("v").unwrap().to_string())
            .collect();
        assert_eq!(found, ["2", "3"]);
        assert!(re.is_match("k=v") && !re.is_match("#k=v"));
        // plain patterns stay on the `regex` engine
        assert!(matches!(
            PyRegex::new("a+b", false, false).unwrap().re,
            Engine::Plain(_)
        ));
        assert!(matches!(
            PyRegex::new("a(?=b)", false, false).unwrap().re,
            Engine::Fancy(_)
        ));
    }
}
