//! A tiny scanner over Jinja source text, just enough for the Ansible-specific
//! preprocessing that minijinja does not do itself:
//!
//! * Ansible's `escape_backslashes`: in inline templates (variable values, task
//!   arguments) backslashes inside string literals of `{{ ... }}` blocks are
//!   taken literally, so YAML authors can write `regex_replace('\d+', 'N')`.
//! * detecting a string that is exactly one `{{ expr }}` (native evaluation).

use std::borrow::Cow;

/// What a scanned region of the source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Text,
    Comment,
    Raw,
    Block,
    Variable,
}

/// Splits `src` into regions. `Variable` regions span from `{{` to `}}` inclusive.
fn regions(src: &str) -> Vec<(Region, usize, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut text_start = 0;
    while i + 1 < b.len() {
        if b[i] != b'{' || !matches!(b[i + 1], b'{' | b'%' | b'#') {
            i += 1;
            continue;
        }
        if text_start < i {
            out.push((Region::Text, text_start, i));
        }
        let start = i;
        let end = match b[i + 1] {
            b'#' => {
                let end = find(src, i + 2, "#}").map_or(b.len(), |p| p + 2);
                out.push((Region::Comment, start, end));
                end
            }
            b'%' => {
                let end = scan_code(b, i + 2, b'%');
                if is_raw_start(&src[start..end]) {
                    let raw_end = find_endraw(src, end).unwrap_or(b.len());
                    out.push((Region::Raw, start, raw_end));
                    raw_end
                } else {
                    out.push((Region::Block, start, end));
                    end
                }
            }
            _ => {
                let end = scan_code(b, i + 2, b'}');
                out.push((Region::Variable, start, end));
                end
            }
        };
        i = end;
        text_start = end;
    }
    if text_start < b.len() {
        out.push((Region::Text, text_start, b.len()));
    }
    out
}

fn find(src: &str, from: usize, needle: &str) -> Option<usize> {
    src.get(from..)?.find(needle).map(|p| p + from)
}

/// Scans code inside `{{`/`{%` starting at `i` until the closing `}}`/`%}` at
/// bracket depth zero, skipping string literals. Returns the index after the
/// closing delimiter (or the end of input).
fn scan_code(b: &[u8], mut i: usize, close: u8) -> usize {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => i = skip_string(b, i, q),
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'}' if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            c if c == close && depth == 0 && b.get(i + 1) == Some(&b'}') => return i + 2,
            _ => i += 1,
        }
    }
    b.len()
}

/// Returns the index after the closing quote of the string literal starting at `i`.
fn skip_string(b: &[u8], mut i: usize, q: u8) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == q => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

fn is_raw_start(block: &str) -> bool {
    block_keyword(block) == Some("raw")
}

fn block_keyword(block: &str) -> Option<&str> {
    let inner = block.strip_prefix("{%")?.strip_suffix("%}")?;
    let inner = inner
        .trim_start_matches(['-', '+'])
        .trim_end_matches(['-', '+']);
    let inner = inner.trim();
    if inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Some(inner)
    } else {
        None
    }
}

fn find_endraw(src: &str, mut from: usize) -> Option<usize> {
    while let Some(p) = find(src, from, "{%") {
        let end = find(src, p, "%}")? + 2;
        if block_keyword(&src[p..end]) == Some("endraw") {
            return Some(end);
        }
        from = p + 2;
    }
    None
}

/// Ansible's `escape_backslashes` for inline templates: string literals inside
/// `{{ }}` keep their backslashes literally (`'\d'` is backslash + d, `'\n'` is
/// backslash + n). Block tags (`{% %}`) are untouched, as in Ansible.
pub(crate) fn escape_backslashes(src: &str) -> Cow<'_, str> {
    if !src.contains('\\') {
        return Cow::Borrowed(src);
    }
    let mut out = String::with_capacity(src.len() + 8);
    let mut changed = false;
    for (region, start, end) in regions(src) {
        let part = &src[start..end];
        if region != Region::Variable || !part.contains('\\') {
            out.push_str(part);
            continue;
        }
        changed = true;
        let b = part.as_bytes();
        let mut i = 0;
        let mut last = 0;
        while i < b.len() {
            match b[i] {
                q @ (b'\'' | b'"') => {
                    let end = skip_string(b, i, q);
                    out.push_str(&part[last..i]);
                    let closed = end <= b.len() && end > i + 1 && b[end - 1] == q;
                    let content_end = if closed { end - 1 } else { end };
                    let content = &part[i + 1..content_end];
                    out.push(q as char);
                    for c in content.chars() {
                        if c == '\\' {
                            out.push_str("\\\\");
                        } else if c == q as char {
                            out.push('\\');
                            out.push(c);
                        } else {
                            out.push(c);
                        }
                    }
                    if closed {
                        out.push(q as char);
                    }
                    i = end;
                    last = end;
                }
                _ => i += 1,
            }
        }
        out.push_str(&part[last..]);
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(src)
    }
}

/// The `{{ }}` or `{% %}` tag of `src` containing byte `offset`, if any.
pub(crate) fn tag_at(src: &str, offset: usize) -> Option<&str> {
    regions(src)
        .into_iter()
        .find(|(r, start, end)| {
            matches!(r, Region::Variable | Region::Block) && *start <= offset && offset < *end
        })
        .map(|(_, start, end)| &src[start..end])
}

/// If `src` is exactly one `{{ expr }}` (optionally followed by one newline, which
/// Jinja strips), returns the expression text.
pub(crate) fn single_expression(src: &str) -> Option<&str> {
    let src = src.strip_suffix('\n').unwrap_or(src);
    let regions = regions(src);
    match regions.as_slice() {
        [(Region::Variable, 0, end)] if *end == src.len() => {
            let inner = src.get(2..src.len().checked_sub(2)?)?;
            let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
            let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
            if inner.trim().is_empty() {
                None
            } else {
                Some(inner)
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_inside_variable_strings() {
        assert_eq!(escape_backslashes(r"a\n{{ 'x\d' }}"), r"a\n{{ 'x\\d' }}");
        assert_eq!(
            escape_backslashes(r"{% set a = '\n' %}"),
            r"{% set a = '\n' %}"
        );
        assert_eq!(
            escape_backslashes(r#"{{ "a\"b" ~ '\'' }}"#),
            r#"{{ "a\\\"b" ~ '\\\'' }}"#
        );
        assert_eq!(
            escape_backslashes(r"{% raw %}{{ '\d' }}{% endraw %}"),
            r"{% raw %}{{ '\d' }}{% endraw %}"
        );
        assert_eq!(
            escape_backslashes(r"{# '\d' #}{{ '\d' }}"),
            r"{# '\d' #}{{ '\\d' }}"
        );
        assert_eq!(
            escape_backslashes(r"{{ {'a': '\d'} }}"),
            r"{{ {'a': '\\d'} }}"
        );
        assert!(matches!(escape_backslashes("{{ x }}"), Cow::Borrowed(_)));
    }

    #[test]
    fn finds_the_enclosing_tag() {
        let src = "a {{ x.y | default(1) }} b {% if z %}c{% endif %}";
        assert_eq!(tag_at(src, 5), Some("{{ x.y | default(1) }}"));
        assert_eq!(tag_at(src, 33), Some("{% if z %}"));
        assert_eq!(tag_at(src, 0), None);
    }

    #[test]
    fn single_expression_detection() {
        assert_eq!(single_expression("{{ x }}"), Some(" x "));
        assert_eq!(single_expression("{{- x -}}"), Some(" x "));
        assert_eq!(single_expression("{{ x }}\n"), Some(" x "));
        assert_eq!(
            single_expression("{{ {'a': {'b': 1}} }}"),
            Some(" {'a': {'b': 1}} ")
        );
        assert_eq!(single_expression("{{ '}}' }}"), Some(" '}}' "));
        assert_eq!(single_expression("{{ x }}{{ y }}"), None);
        assert_eq!(single_expression(" {{ x }}"), None);
        assert_eq!(single_expression("{{ x }} "), None);
        assert_eq!(single_expression("{{ x }}\n\n"), None);
        assert_eq!(single_expression("a{{ x }}"), None);
        assert_eq!(single_expression("{% if x %}{% endif %}"), None);
        assert_eq!(single_expression("plain"), None);
    }
}
