//! Python's `shlex.split(line, comments=True)` (POSIX mode), as Ansible's INI
//! inventory uses it for host lines, with the character offset of each token.
//!
//! The `shlex` crate follows the POSIX shell, where `#` starts a comment only at
//! the start of a word; Python's shlex also ends a word at `#` (`a=1#x` gives
//! `a=1`), so this is a port of `shlex.shlex.read_token`.

/// A token and the 0-based character offset where it starts in the line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub text: String,
    pub start: usize,
}

/// A quoting error, with the character offset of what was left open.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SplitError {
    pub message: &'static str,
    pub offset: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Space,
    Word,
    Quote(char),
    Escape(char),
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits like `shlex.split(s, comments=True, posix=True)`.
pub(crate) fn split(s: &str) -> Result<Vec<Token>, SplitError> {
    if s.contains(['\'', '"', '\\', '#']) {
        split_quoted(s)
    } else {
        Ok(split_plain(s))
    }
}

/// [`split`] of a line without quotes, escapes or comments (most host lines):
/// shlex's tokens are then the runs of non-whitespace, read without copying
/// the line into characters.
fn split_plain(s: &str) -> Vec<Token> {
    let mut out = Vec::new();
    // (byte, character) offsets where the current token starts
    let mut start: Option<(usize, usize)> = None;
    for (ci, (bi, c)) in s.char_indices().enumerate() {
        if is_ws(c) {
            if let Some((b0, c0)) = start.take() {
                out.push(Token {
                    text: s[b0..bi].to_string(),
                    start: c0,
                });
            }
        } else if start.is_none() {
            start = Some((bi, ci));
        }
    }
    if let Some((b0, c0)) = start {
        out.push(Token {
            text: s[b0..].to_string(),
            start: c0,
        });
    }
    out
}

/// [`split`], the whole of `shlex.shlex.read_token`.
fn split_quoted(s: &str) -> Result<Vec<Token>, SplitError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut state = State::Space;
    // Each iteration of the outer loop reads one token, as read_token does.
    loop {
        let mut token = String::new();
        let mut quoted = false;
        let mut escaped_state = State::Space;
        let mut start: Option<usize> = None;
        let mut quote_open_at = 0;
        let mut done = false; // end of input
        loop {
            let next = chars.get(i).copied();
            let pos = i;
            if next.is_some() {
                i += 1;
            }
            match state {
                State::Space => match next {
                    None => {
                        done = true;
                        break;
                    }
                    Some(c) if is_ws(c) => {
                        if !token.is_empty() || quoted {
                            break;
                        }
                    }
                    Some('#') => {
                        // readline(): the rest of the line is a comment.
                        skip_line(&chars, &mut i);
                    }
                    Some('\\') => {
                        start.get_or_insert(pos);
                        escaped_state = State::Word;
                        state = State::Escape('\\');
                    }
                    Some(c) if c == '\'' || c == '"' => {
                        start.get_or_insert(pos);
                        quote_open_at = pos;
                        state = State::Quote(c);
                    }
                    Some(c) => {
                        start.get_or_insert(pos);
                        token.push(c);
                        state = State::Word;
                    }
                },
                State::Quote(q) => {
                    quoted = true;
                    match next {
                        None => {
                            return Err(SplitError {
                                message: "No closing quotation",
                                offset: quote_open_at,
                            });
                        }
                        Some(c) if c == q => state = State::Word,
                        Some('\\') if q == '"' => {
                            escaped_state = State::Quote(q);
                            state = State::Escape('\\');
                        }
                        Some(c) => token.push(c),
                    }
                }
                State::Escape(e) => match next {
                    None => {
                        return Err(SplitError {
                            message: "No escaped character",
                            offset: pos.saturating_sub(1),
                        });
                    }
                    Some(c) => {
                        if let State::Quote(q) = escaped_state
                            && c != e
                            && c != q
                        {
                            token.push(e);
                        }
                        token.push(c);
                        state = escaped_state;
                    }
                },
                State::Word => match next {
                    None => {
                        state = State::Space;
                        done = true;
                        break;
                    }
                    Some(c) if is_ws(c) => {
                        state = State::Space;
                        if !token.is_empty() || quoted {
                            break;
                        }
                    }
                    Some('#') => {
                        skip_line(&chars, &mut i);
                        state = State::Space;
                        if !token.is_empty() || quoted {
                            break;
                        }
                    }
                    Some(c) if c == '\'' || c == '"' => {
                        quote_open_at = pos;
                        state = State::Quote(c);
                    }
                    Some('\\') => {
                        escaped_state = State::Word;
                        state = State::Escape('\\');
                    }
                    Some(c) => token.push(c),
                },
            }
        }
        if !token.is_empty() || quoted {
            out.push(Token {
                text: token,
                start: start.unwrap_or(0),
            });
        }
        if done {
            return Ok(out);
        }
    }
}

fn skip_line(chars: &[char], i: &mut usize) {
    while *i < chars.len() {
        let c = chars[*i];
        *i += 1;
        if c == '\n' {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split(s).unwrap().into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn python_shlex_cases() {
        // Expected values printed by Python 3.11 shlex.split(s, comments=True).
        assert_eq!(words("foo#bar"), ["foo"]);
        assert_eq!(words("a=\"x y\"#c"), ["a=x y"]);
        assert_eq!(words("a=b\\ c"), ["a=b c"]);
        assert_eq!(words("a=\"q\\\"w\""), ["a=q\"w"]);
        assert_eq!(words("a='x'y'z'"), ["a=xyz"]);
        assert_eq!(words("a=\"\""), ["a="]);
        assert_eq!(words("h \"\""), ["h", ""]);
        assert_eq!(words("h  k='a b'  # c d"), ["h", "k=a b"]);
        assert_eq!(words("a=\"x\\ny\""), ["a=x\\ny"]);
        assert_eq!(words("a='x\\'"), ["a=x\\"]);
        assert!(words("# all comment").is_empty());
    }

    #[test]
    fn offsets_and_errors() {
        let t = split("web1  ansible_host=1.2.3.4 k=\"v 2\"").unwrap();
        assert_eq!(t.iter().map(|t| t.start).collect::<Vec<_>>(), [0, 6, 27]);
        let e = split("h k='open").unwrap_err();
        assert_eq!(e.message, "No closing quotation");
        assert_eq!(e.offset, 4);
        assert_eq!(split("h k\\").unwrap_err().message, "No escaped character");
    }

    proptest::proptest! {
        /// A line without quotes, escapes or comments splits the same way
        /// through the short path as through the whole of read_token.
        #[test]
        fn plain_lines_split_as_read_token_does(s in "[a-zé0-9=:._ \t\r\n\u{a0}-]{0,40}") {
            proptest::prop_assert_eq!(split(&s).unwrap(), split_quoted(&s).unwrap());
        }
    }
}
