//! Finds the filter, test and lookup names a Jinja text uses, without
//! evaluating it: `x | name`, `x is [not] name`, `lookup('name', ...)`,
//! `query('name')` / `q('name')`, `select('name')` / `reject('name')`,
//! `selectattr('a', 'name')` / `rejectattr(...)`, `map('name')` and
//! `{% filter name %}`. String literals are skipped; `{# #}` comments and
//! `{% raw %}` sections are not code.

use super::Kind;

/// One use: the kind, the name as written, and its line within the text (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub kind: Kind,
    pub name: String,
    pub line: usize,
}

/// The names used in the `{{ }}` / `{% %}` parts of a template text.
pub fn template(src: &str) -> Vec<Use> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'{' || !matches!(b[i + 1], b'{' | b'%' | b'#') {
            i += 1;
            continue;
        }
        let open = b[i + 1];
        let start = i + 2;
        if open == b'#' {
            i = find(src, start, "#}").map_or(b.len(), |p| p + 2);
            continue;
        }
        let close = if open == b'{' { b'}' } else { b'%' };
        let end = code_end(b, start, close);
        let code = &src[start..end.min(b.len())];
        if open == b'%' && is_raw(code) {
            i = find(src, end, "endraw").map_or(b.len(), |p| p + 6);
            continue;
        }
        let line0 = line_of(src, start);
        let block = open == b'%';
        for mut u in expression_uses(code, block) {
            u.line += line0;
            out.push(u);
        }
        i = end + 2;
    }
    out
}

/// The names used in a bare expression (`when:`, `changed_when:`, ...), or in
/// the template parts when the text holds `{{`.
pub fn expression(src: &str) -> Vec<Use> {
    if src.contains("{{") || src.contains("{%") {
        template(src)
    } else {
        expression_uses(src, false)
    }
}

fn line_of(src: &str, at: usize) -> usize {
    src.as_bytes()[..at].iter().filter(|&&c| c == b'\n').count()
}

fn find(src: &str, from: usize, pat: &str) -> Option<usize> {
    src.get(from..)?.find(pat).map(|p| p + from)
}

fn is_raw(code: &str) -> bool {
    code.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace()) == "raw"
}

/// Where the code started at `from` ends (the index of `}}` / `%}`), skipping
/// string literals.
fn code_end(b: &[u8], from: usize, close: u8) -> usize {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => i = skip_string(b, i, q),
            c if c == close && b.get(i + 1) == Some(&b'}') => return i,
            _ => i += 1,
        }
    }
    b.len()
}

fn skip_string(b: &[u8], at: usize, q: u8) -> usize {
    let mut i = at + 1;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Punct(u8),
}

fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'\'' || c == b'"' {
            let end = skip_string(b, i, c);
            let inner = &code[i + 1..end.saturating_sub(1).max(i + 1)];
            line += inner.matches('\n').count();
            out.push((Tok::Str(inner.to_string()), line));
            i = end;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let s = i;
            // Dotted names (`ansible.builtin.to_json`); attribute access reads
            // the same, which only matters after `|` and `is`.
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            let name = code[s..i].trim_end_matches('.');
            out.push((Tok::Name(name.to_string()), line));
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn expression_uses(code: &str, block: bool) -> Vec<Use> {
    let toks = tokens(code);
    let mut out = Vec::new();
    let mut push = |kind: Kind, name: &str, line: usize| {
        out.push(Use {
            kind,
            name: name.to_string(),
            line,
        })
    };
    let name_at = |i: usize| match toks.get(i) {
        Some((Tok::Name(n), l)) => Some((n.as_str(), *l)),
        _ => None,
    };
    let str_at = |i: usize| match toks.get(i) {
        Some((Tok::Str(s), l)) => Some((s.as_str(), *l)),
        _ => None,
    };
    if block
        && let Some(("filter", _)) = name_at(0)
        && let Some((n, l)) = name_at(1)
    {
        push(Kind::Filter, n, l);
    }
    for i in 0..toks.len() {
        match &toks[i].0 {
            Tok::Punct(b'|') => {
                if let Some((n, l)) = name_at(i + 1) {
                    push(Kind::Filter, n, l);
                }
            }
            Tok::Name(n) if n == "is" => {
                let j = if name_at(i + 1).map(|(n, _)| n) == Some("not") {
                    i + 2
                } else {
                    i + 1
                };
                if let Some((n, l)) = name_at(j) {
                    push(Kind::Test, n, l);
                }
            }
            Tok::Name(n) if toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Punct(b'(')) => {
                let first = str_at(i + 2);
                match n.as_str() {
                    "lookup" | "query" | "q" => {
                        if let Some((s, l)) = first {
                            push(Kind::Lookup, s, l);
                        }
                    }
                    "select" | "reject" => {
                        if let Some((s, l)) = first {
                            push(Kind::Test, s, l);
                        }
                    }
                    "map" => {
                        if let Some((s, l)) = first {
                            push(Kind::Filter, s, l);
                        }
                    }
                    "selectattr" | "rejectattr" => {
                        if first.is_some()
                            && toks.get(i + 3).map(|t| &t.0) == Some(&Tok::Punct(b','))
                            && let Some((s, l)) = str_at(i + 4)
                        {
                            push(Kind::Test, s, l);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    out
}
