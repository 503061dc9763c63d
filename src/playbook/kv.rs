//! Ansible's `key=value` short form of module arguments (`copy: src=a dest=/b`)
//! and the options written inside a free-form command (`command: ls creates=/x`).
//!
//! Splitting follows Ansible's `split_args`: words are separated by whitespace
//! outside quotes and outside Jinja blocks (`{{ x | default('a b') }}` is one
//! word); the value of `k=v` loses one pair of surrounding quotes.

use serde_json::{Map, Value as Json};

/// The options Ansible pulls out of a free-form string (`parse_kv(check_raw=True)`).
const FREE_FORM_OPTIONS: &[&str] = &[
    "creates",
    "removes",
    "chdir",
    "executable",
    "warn",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
];

/// Byte spans of the words of `s`, or `None` when a quote or a Jinja block is
/// not closed.
pub fn split_args(s: &str) -> Option<Vec<(usize, usize)>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<u8> = None;
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if let Some(q) = quote {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if depth > 0 {
            if matches!(c, b'}' | b'%' | b'#') && next == Some(b'}') {
                depth -= 1;
                i += 2;
            } else if c == b'{' && matches!(next, Some(b'{' | b'%' | b'#')) {
                depth += 1;
                i += 2;
            } else {
                if c == b'"' || c == b'\'' {
                    quote = Some(c);
                }
                i += 1;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            if let Some(st) = start.take() {
                out.push((st, i));
            }
            i += 1;
            continue;
        }
        if start.is_none() {
            start = Some(i);
        }
        if c == b'{' && matches!(next, Some(b'{' | b'%' | b'#')) {
            depth += 1;
            i += 2;
            continue;
        }
        if c == b'"' || c == b'\'' {
            quote = Some(c);
        }
        i += 1;
    }
    if quote.is_some() || depth > 0 {
        return None;
    }
    if let Some(st) = start {
        out.push((st, b.len()));
    }
    Some(out)
}

/// Where the `=` of a `k=v` word is: the first one after the first character
/// that is not escaped (`\=`), as Ansible's `parse_kv`.
fn equals_at(word: &str) -> Option<usize> {
    let b = word.as_bytes();
    (1..b.len()).find(|&i| b[i] == b'=' && b[i - 1] != b'\\')
}

/// Python's escape sequences in a word, as Ansible's `parse_kv` decodes them
/// before it splits `k=v`: `\n`, `\t`, `\\`, `\"`, `\xHH`, `\uHHHH`,
/// `\UHHHHHHHH`... (`\N{name}` is left as written). Words that are not
/// `k=v` (a free-form command) keep their escapes.
fn decode_escapes(word: &str) -> std::borrow::Cow<'_, str> {
    if !word.contains('\\') {
        return word.into();
    }
    let mut out = String::with_capacity(word.len());
    let mut chars = word.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let simple = match chars.peek().map(|&(_, n)| n) {
            Some('\\') => Some('\\'),
            Some('\'') => Some('\''),
            Some('"') => Some('"'),
            Some('a') => Some('\u{7}'),
            Some('b') => Some('\u{8}'),
            Some('f') => Some('\u{c}'),
            Some('n') => Some('\n'),
            Some('r') => Some('\r'),
            Some('t') => Some('\t'),
            Some('v') => Some('\u{b}'),
            _ => None,
        };
        if let Some(d) = simple {
            out.push(d);
            chars.next();
            continue;
        }
        let digits = match chars.peek().map(|&(_, n)| n) {
            Some('x') => 2,
            Some('u') => 4,
            Some('U') => 8,
            _ => 0,
        };
        let hex = word.get(i + 2..i + 2 + digits).filter(|h| {
            digits > 0 && h.len() == digits && h.bytes().all(|b| b.is_ascii_hexdigit())
        });
        match hex
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
        {
            Some(d) => {
                out.push(d);
                for _ in 0..=digits {
                    chars.next();
                }
            }
            None => out.push('\\'),
        }
    }
    out.into()
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// Parses a module's argument string.
///
/// With `free_form = None` every word must be `key=value` (values are strings);
/// a word that is not is returned as the error. With `free_form = Some(names)`
/// (the module's argument names), `k=v` words whose key is one of Ansible's
/// free-form options and one of `names` become arguments and the rest of the
/// string, kept verbatim, is `_raw_params`.
pub fn parse_kv(s: &str, free_form: Option<&[&str]>) -> Result<Map<String, Json>, String> {
    let mut out = Map::new();
    let Some(words) = split_args(s) else {
        return match free_form {
            // A shell line with an odd quote is the shell's business, not ours.
            Some(_) => {
                out.insert("_raw_params".into(), Json::String(s.to_string()));
                Ok(out)
            }
            None => Err("unbalanced quotes or Jinja braces".into()),
        };
    };
    let mut removed: Vec<(usize, usize)> = Vec::new();
    for &(st, en) in &words {
        let word = decode_escapes(&s[st..en]);
        let Some(eq) = equals_at(&word) else {
            if free_form.is_none() {
                return Err(format!("'{word}' is not a key=value argument"));
            }
            continue;
        };
        let key = word[..eq].trim();
        let value = unquote(word[eq + 1..].trim()).replace("\\=", "=");
        match free_form {
            None => {
                out.insert(key.to_string(), Json::String(value));
            }
            Some(names) => {
                if FREE_FORM_OPTIONS.contains(&key) && names.contains(&key) {
                    out.insert(key.to_string(), Json::String(value));
                    removed.push((st, en));
                }
            }
        }
    }
    if free_form.is_some() {
        let raw = if removed.is_empty() {
            s.to_string()
        } else {
            let mut raw = String::new();
            let mut at = 0;
            for (st, en) in removed {
                raw.push_str(s[at..st].trim_end_matches([' ', '\t']));
                at = en;
            }
            raw.push_str(&s[at..]);
            raw.trim().to_string()
        };
        if !raw.trim().is_empty() {
            out.insert("_raw_params".into(), Json::String(raw));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(s: &str) -> Vec<&str> {
        split_args(s)
            .unwrap()
            .into_iter()
            .map(|(a, b)| &s[a..b])
            .collect()
    }

    #[test]
    fn escapes_are_decoded_in_key_value_words_as_ansible() {
        let m = parse_kv(r#"content="a\nb\t\x41\u00e9\\" dest=/x"#, None).unwrap();
        assert_eq!(m["content"], json!("a\nb\tA\u{e9}\\"));
        // unknown and incomplete escapes stay as written
        let m = parse_kv(r"msg=\d\x4 path=\N{BULLET}", None).unwrap();
        assert_eq!(m["msg"], json!(r"\d\x4"));
        assert_eq!(m["path"], json!(r"\N{BULLET}"));
        // a free-form command keeps its escapes; its options are decoded
        let m = parse_kv(r"printf 'a\n' chdir=/t\x6dp", Some(&["chdir"])).unwrap();
        assert_eq!(m["_raw_params"], json!(r"printf 'a\n'"));
        assert_eq!(m["chdir"], json!("/tmp"));
    }

    #[test]
    fn splits_on_whitespace_outside_quotes_and_jinja() {
        assert_eq!(
            words("src=a  dest='/b c' msg=\"x y\""),
            ["src=a", "dest='/b c'", "msg=\"x y\""]
        );
        assert_eq!(
            words("msg={{ a | default('x y') }} b"),
            ["msg={{ a | default('x y') }}", "b"]
        );
        assert_eq!(
            words("a {% if b %} {# c d #}"),
            ["a", "{% if b %}", "{# c d #}"]
        );
        assert_eq!(words("a\n  b"), ["a", "b"]);
        assert!(split_args("a 'b").is_none());
        assert!(split_args("{{ a").is_none());
        assert_eq!(words("é=ü ö"), ["é=ü", "ö"]);
    }

    #[test]
    fn key_value_form() {
        let m = parse_kv("src=a.conf dest=/etc/a.conf mode=0644", None).unwrap();
        assert_eq!(
            Json::Object(m),
            json!({"src": "a.conf", "dest": "/etc/a.conf", "mode": "0644"})
        );
        let m = parse_kv("msg='hello world' x=a\\=b y=\"a=b\"", None).unwrap();
        assert_eq!(
            Json::Object(m),
            json!({"msg": "hello world", "x": "a=b", "y": "a=b"})
        );
        let e = parse_kv("src=a dest", None).unwrap_err();
        assert_eq!(e, "'dest' is not a key=value argument");
        assert!(parse_kv("src='a", None).is_err());
        assert!(parse_kv("=a", None).is_err());
    }

    #[test]
    fn free_form_keeps_the_command_and_pulls_options() {
        let names: &[&str] = &["chdir", "creates", "removes", "cmd"];
        let m = parse_kv("make install creates=/usr/bin/x chdir=/src", Some(names)).unwrap();
        assert_eq!(
            Json::Object(m),
            json!({"_raw_params": "make install", "creates": "/usr/bin/x", "chdir": "/src"})
        );
        // Unknown keys (FOO=bar, cmd=) stay in the command, whitespace is kept.
        let script = "FOO=bar ./run.sh  cmd=x\n  echo 'a  b'\n";
        let m = parse_kv(script, Some(names)).unwrap();
        assert_eq!(Json::Object(m), json!({"_raw_params": script}));
        // Unbalanced quotes: verbatim.
        let m = parse_kv("echo don't", Some(names)).unwrap();
        assert_eq!(Json::Object(m), json!({"_raw_params": "echo don't"}));
        let m = parse_kv("creates=/x", Some(names)).unwrap();
        assert_eq!(Json::Object(m), json!({"creates": "/x"}));
    }
}
