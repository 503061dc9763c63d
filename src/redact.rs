//! Redaction by construction: every value that came from a secrets file, and
//! every string derived from one by templating, is replaced by `********` in
//! everything opsctl prints.
//!
//! * A process-wide registry holds the secret strings: values are registered
//!   when `secrets.age` is decrypted ([`register_json`]), and strings computed
//!   from them by a template are registered as they are produced (taint, below).
//! * [`redact`] replaces every registered string (longest first, one pass) by
//!   [`MASK`]. The [`Printer`](crate::printer::Printer) passes every line it
//!   writes through it (text, JSON, warnings, errors, live lines), and so does
//!   the panic hook installed by [`install_panic_hook`]; a run journal or any
//!   other sink calls [`redact`] / [`redact_json`] before writing.
//! * Taint: reading a secret variable in a template calls [`mark_read`]. The
//!   templating engine asks [`take_expression_taint`] after each `{{ expression }}`
//!   is formatted and registers the expression's output when it is tainted, so
//!   `{{ db_password | b64encode }}` is redacted too; [`taint_scope`] tells a
//!   caller whether anything inside a whole evaluation read a secret.
//!
//! Strings shorter than [`MIN_LEN`] characters are not registered: replacing
//! every `ab` in the output would garble it and tell where the secret is
//! anyway. The secrets loader warns about such values.
//!
//! Each secret is also registered in the escaped forms it takes in output:
//! JSON string escapes, Python reprs, and the two ways a value is single-quoted
//! for a shell; a multi-line secret (a private key) also line by line, since
//! output is printed line by line.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::{LazyLock, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value as Json;
use zeroize::Zeroizing;

/// What a secret becomes in output.
pub const MASK: &str = "********";

/// Shorter strings are not registered (see the module docs).
pub const MIN_LEN: usize = 4;

#[derive(Default)]
struct Registry {
    /// Every registered pattern (secrets and their escaped forms), deduplicated.
    patterns: Vec<Zeroizing<String>>,
    /// Built from `patterns`; `None` when there are none.
    matcher: Option<AhoCorasick>,
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(Default::default);

/// The names of a recap's counts, in the order they are shown
/// (`engine::report::Counts`).
pub const COUNT_NAMES: [&str; 7] = [
    "ok",
    "changed",
    "failed",
    "skipped",
    "unreachable",
    "rescued",
    "ignored",
];

/// opsctl's own words (with the recap's counts, [`COUNT_NAMES`]):
/// statuses, the keys of a task's result and the literals of YAML and Python.
/// They are never registered (a value templated from a secret that happens to
/// be `failed` or `True` says nothing about the secret, and masking them would
/// falsify every status and recap).
pub const VOCABULARY: &[&str] = &[
    "would change",
    "task",
    "play",
    "recap",
    "warning",
    "status",
    "msg",
    "item",
    "rc",
    "cmd",
    "stdout",
    "stderr",
    "stdout_lines",
    "stderr_lines",
    "results",
    "diff",
    "true",
    "false",
    "null",
    "none",
    "yes",
    "no",
    "on",
    "off",
];

/// Is `s` one of opsctl's own words (case aside)? See [`VOCABULARY`].
pub fn is_vocabulary(s: &str) -> bool {
    let s = s.trim();
    VOCABULARY
        .iter()
        .chain(&COUNT_NAMES)
        .any(|w| w.eq_ignore_ascii_case(s))
}

/// Registers a secret string (and its escaped forms). Returns false when it is
/// too short to be registered (see [`MIN_LEN`]) or one of opsctl's own words
/// (see [`VOCABULARY`]).
pub fn register(secret: &str) -> bool {
    if secret.chars().count() < MIN_LEN || is_vocabulary(secret) {
        return false;
    }
    let mut forms: Vec<String> = vec![secret.to_string()];
    let json = serde_json::to_string(secret).unwrap_or_default();
    forms.push(json[1..json.len().saturating_sub(1).max(1)].to_string());
    forms.push(secret.replace('\'', r"'\''"));
    forms.push(secret.replace('\'', "'\"'\"'"));
    forms.push(secret.replace('\\', r"\\").replace('\'', r"\'"));
    forms.push(secret.replace('\\', r"\\"));
    if secret.contains('\n') {
        for line in secret.lines() {
            let line = line.trim();
            if line.chars().count() >= MIN_LEN {
                forms.push(line.to_string());
            }
        }
    }
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let mut added = false;
    for f in forms {
        // A string of asterisks is already what the mask looks like.
        if f.chars().count() < MIN_LEN || MASK.contains(f.as_str()) || is_vocabulary(&f) {
            continue;
        }
        if !reg.patterns.iter().any(|p| p.as_str() == f) {
            reg.patterns.push(Zeroizing::new(f));
            added = true;
        }
    }
    if added {
        reg.matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(reg.patterns.iter().map(|p| p.as_bytes()))
            .ok();
    }
    true
}

/// Registers every scalar inside a value (strings, and numbers as text).
/// Returns the strings that could not be registered (too short, or one of
/// opsctl's own words).
pub fn register_json(value: &Json) -> Vec<String> {
    let mut short = Vec::new();
    walk_json(value, &mut |s| {
        if !register(s) {
            short.push(s.to_string());
        }
    });
    short
}

fn walk_json(value: &Json, f: &mut dyn FnMut(&str)) {
    match value {
        Json::String(s) => f(s),
        Json::Number(n) => f(&n.to_string()),
        Json::Array(a) => a.iter().for_each(|v| walk_json(v, f)),
        Json::Object(m) => m.values().for_each(|v| walk_json(v, f)),
        Json::Bool(_) | Json::Null => {}
    }
}

/// Is anything registered? (A fast path: no secrets, nothing to do.)
pub fn is_active() -> bool {
    REGISTRY
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .matcher
        .is_some()
}

/// `s` with every registered secret replaced by [`MASK`]. A base64 token that
/// decodes to text holding a secret (a file's content in a `-vv` probe) is
/// masked whole: its encoding would otherwise carry the secret. So is a run of
/// hex bytes holding a secret or a piece of one (see [`hex_holds_secret`]).
pub fn redact(s: &str) -> Cow<'_, str> {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let Some(m) = &reg.matcher else {
        return Cow::Borrowed(s);
    };
    // each step borrows when it changes nothing (the common case)
    let s = chain(Cow::Borrowed(s), |t| redact_hex(&reg.patterns, t));
    let s = chain(s, |t| {
        BASE64_TOKEN.replace_all(t, |c: &regex::Captures| {
            let token = &c[0];
            if decodes_to_secret(m, token) {
                MASK.to_string()
            } else {
                token.to_string()
            }
        })
    });
    if !m.is_match(s.as_ref()) {
        return s;
    }
    let replacements = vec![MASK; reg.patterns.len()];
    Cow::Owned(m.replace_all(s.as_ref(), &replacements))
}

/// Applies a rewriting step to a string that may already be a rewritten copy.
fn chain<'s>(s: Cow<'s, str>, step: impl for<'t> Fn(&'t str) -> Cow<'t, str>) -> Cow<'s, str> {
    match s {
        Cow::Borrowed(b) => step(b),
        Cow::Owned(o) => Cow::Owned(step(&o).into_owned()),
    }
}

/// A run of hex: groups of hex digits separated by one or two spaces or a
/// colon, as `xxd -p`, `od -tx1`, `xxd` and `hexdump -C` print bytes.
static HEX_RUN: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"\b[0-9A-Fa-f]{2,}(?:(?:  ?|:)[0-9A-Fa-f]{2,})*\b").expect("valid regex")
});

/// Masks each run of hex bytes that holds a secret (see [`hex_holds_secret`]).
fn redact_hex<'s>(patterns: &[Zeroizing<String>], s: &'s str) -> Cow<'s, str> {
    HEX_RUN.replace_all(s, |c: &regex::Captures| {
        let run = &c[0];
        if hex_segments(run)
            .iter()
            .any(|bytes| hex_holds_secret(patterns, bytes))
        {
            MASK.to_string()
        } else {
            run.to_string()
        }
    })
}

/// The bytes of a hex run: its even-length groups, joined while consecutive
/// (an odd group, such as od's 7-digit offset, splits the run).
fn hex_segments(run: &str) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out = Vec::new();
    let mut cur = Zeroizing::new(Vec::new());
    for group in run.split([' ', ':']).filter(|g| !g.is_empty()) {
        if group.len() % 2 == 1 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        for pair in group.as_bytes().chunks(2) {
            let pair = std::str::from_utf8(pair).unwrap_or("zz");
            match u8::from_str_radix(pair, 16) {
                Ok(b) => cur.push(b),
                Err(_) => return out,
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The shortest piece of a secret recognised inside hex bytes, and the
/// shortest piece recognised at either end of them (a secret cut in two by
/// the end of a line of `od` output).
const HEX_PIECE: usize = 8;
const HEX_EDGE: usize = 2;

/// Do these bytes (decoded hex) hold a secret: the whole of it, at least
/// [`HEX_PIECE`] bytes of it, or, at the start or end of the bytes, at least
/// [`HEX_EDGE`] bytes of its end or start (the rest being on another line)?
fn hex_holds_secret(patterns: &[Zeroizing<String>], bytes: &[u8]) -> bool {
    patterns.iter().any(|p| {
        let p = p.as_bytes();
        let piece = p.len().min(HEX_PIECE);
        if bytes.len() >= piece && p.windows(piece).any(|w| contains(bytes, w)) {
            return true;
        }
        let edge = p.len().min(HEX_EDGE);
        // the secret's start at the end of the bytes, or its end at their start
        (edge..=p.len().min(bytes.len()))
            .any(|n| bytes.ends_with(&p[..n]) || bytes.starts_with(&p[p.len() - n..]))
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

static BASE64_TOKEN: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"[A-Za-z0-9+/_-]{16,}={0,2}").expect("valid regex"));

fn decodes_to_secret(m: &AhoCorasick, token: &str) -> bool {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    [standard, url].iter().any(|engine| {
        engine
            .decode(token)
            .is_ok_and(|bytes| m.is_match(&Zeroizing::new(bytes)[..]))
    })
}

/// Does `s` contain a registered secret?
pub fn contains_secret(s: &str) -> bool {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    reg.matcher.as_ref().is_some_and(|m| m.is_match(s))
}

/// Does any string (or key) inside a value contain a registered secret?
pub fn json_contains_secret(value: &Json) -> bool {
    if !is_active() {
        return false;
    }
    match value {
        Json::String(s) => contains_secret(s),
        Json::Number(n) => contains_secret(&n.to_string()),
        Json::Array(a) => a.iter().any(json_contains_secret),
        Json::Object(m) => m
            .iter()
            .any(|(k, v)| contains_secret(k) || json_contains_secret(v)),
        Json::Bool(_) | Json::Null => false,
    }
}

/// A copy of a JSON document with every string value redacted, field by
/// field. Keys are opsctl's structure (`status`, `changed`, a recap's counts,
/// a result's `stdout`) and stay as they are, and so does a value that is one
/// of opsctl's own words ([`VOCABULARY`]: a `status` of `failed`). Numbers
/// that are secrets become the string [`MASK`].
pub fn redact_json(value: &Json) -> Json {
    if !is_active() {
        return value.clone();
    }
    match value {
        Json::String(s) if is_vocabulary(s) => value.clone(),
        Json::String(s) => Json::String(redact(s).into_owned()),
        Json::Number(n) => {
            let t = n.to_string();
            if contains_secret(&t) {
                Json::String(redact(&t).into_owned())
            } else {
                value.clone()
            }
        }
        Json::Array(a) => Json::Array(a.iter().map(redact_json).collect()),
        Json::Object(m) => {
            Json::Object(m.iter().map(|(k, v)| (k.clone(), redact_json(v))).collect())
        }
        Json::Bool(_) | Json::Null => value.clone(),
    }
}

thread_local! {
    /// A secret was read since the last expression was formatted.
    static EXPRESSION: Cell<bool> = const { Cell::new(false) };
    /// A secret was read inside the current [`taint_scope`].
    static SCOPE: Cell<bool> = const { Cell::new(false) };
}

/// Called when a template reads a secret value (or one derived from a secret).
pub fn mark_read() {
    EXPRESSION.with(|c| c.set(true));
    SCOPE.with(|c| c.set(true));
}

/// Was a secret read since the last call? (Called by the template formatter
/// after each expression: a tainted expression's output is registered.)
pub fn take_expression_taint() -> bool {
    EXPRESSION.with(|c| c.replace(false))
}

/// Runs `f` with fresh taint flags; returns its result and whether it read a
/// secret. The enclosing scope is tainted too when it did (what it computes
/// flows into the enclosing expression).
pub fn taint_scope<R>(f: impl FnOnce() -> R) -> (R, bool) {
    let outer_expr = EXPRESSION.with(|c| c.replace(false));
    let outer_scope = SCOPE.with(|c| c.replace(false));
    let r = f();
    let touched = SCOPE.with(|c| c.get());
    EXPRESSION.with(|c| c.set(outer_expr || touched));
    SCOPE.with(|c| c.set(outer_scope || touched));
    (r, touched)
}

/// Makes panic messages go through [`redact`] too (installed once, by the Printer).
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let msg = format!(
                "opsctl panicked{at}: {}\nthis is a bug in opsctl; please report it",
                redact(&payload)
            );
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "{msg}");
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    // The registry is process-wide: each test uses its own distinct strings.

    #[test]
    fn replaces_secrets_longest_first() {
        register("hunter2-redact-test");
        register("hunter2-redact-test-longer");
        let out = redact("a hunter2-redact-test-longer b hunter2-redact-test c");
        assert_eq!(out, "a ******** b ******** c");
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_values_are_not_registered() {
        assert!(!register("abc"));
        assert_eq!(redact("abc abc"), "abc abc");
        assert_eq!(
            register_json(&serde_json::json!({"a": "xyz", "b": 12})).len(),
            2
        );
    }

    #[test]
    fn escaped_and_multiline_forms() {
        register("it's \"q\" \\ z9");
        assert_eq!(redact(r#"{"v":"it's \"q\" \\ z9"}"#), r#"{"v":"********"}"#);
        assert_eq!(redact(r#"echo 'it'\''s "q" \ z9'"#), "echo '********'");
        register("-----BEGIN TEST KEY-----\nQUJDREVGR0hJSktMTU5PUA==\n-----END TEST KEY-----");
        assert_eq!(redact("    +QUJDREVGR0hJSktMTU5PUA=="), "    +********");
    }

    #[test]
    fn base64_of_text_holding_a_secret_is_masked() {
        use base64::Engine;
        register("b64-Hidden-Value");
        for prefix in ["", "a", "ab", "# config file\nkey="] {
            let file = format!("{prefix}b64-Hidden-Value\nother=1\n");
            let enc = base64::engine::general_purpose::STANDARD.encode(&file);
            assert_eq!(
                redact(&format!("content={enc}")),
                "content=********",
                "{prefix:?}"
            );
        }
        let harmless = base64::engine::general_purpose::STANDARD.encode("nothing to see here\n");
        assert_eq!(redact(&harmless), harmless);
    }

    #[test]
    fn hex_of_a_secret_is_masked_in_every_layout() {
        let secret = "Hex-Hidden-Value-9";
        register(secret);
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        let spaced: Vec<String> = secret.bytes().map(|b| format!("{b:02x}")).collect();
        // xxd -p, upper case, od -An, and a secret cut by the end of an od line
        assert_eq!(redact(&format!("out {hex}")), "out ********");
        assert_eq!(redact(&hex.to_uppercase()), MASK);
        assert_eq!(redact(&format!(" {}", spaced.join(" "))), " ********");
        let line1 = format!("0000000 41 42 {}", spaced[..14].join(" "));
        let line2 = format!("0000020 {} 0a", spaced[14..].join(" "));
        assert_eq!(redact(&line1), MASK);
        assert_eq!(redact(&line2), MASK);
        // xxd's 2-byte groups
        let groups: Vec<String> = hex
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into())
            .collect();
        assert_eq!(
            redact(&format!("00000000: {}", groups.join(" "))),
            "00000000: ********"
        );
        // other hex stays
        let other = "0000000 68 65 6c 6c 6f 20 77 6f 72 6c 64 0a  deadbeef 0123456789abcdef";
        assert_eq!(redact(other), other);
    }

    #[test]
    fn opsctl_words_are_never_registered() {
        for w in ["changed", "FAILED", "stdout", "True", "none", "unreachable"] {
            assert!(!register(w), "{w}");
        }
        assert_eq!(
            redact("changed failed stdout True"),
            "changed failed stdout True"
        );
    }

    #[test]
    fn json_is_redacted_structurally() {
        register("s3cr3t-json-test");
        register_json(&serde_json::json!(987654321));
        let v =
            serde_json::json!({"msg": "pw=s3cr3t-json-test", "n": 987654321, "k": [true, null]});
        assert_eq!(
            redact_json(&v),
            serde_json::json!({"msg": "pw=********", "n": "********", "k": [true, null]})
        );
        assert!(json_contains_secret(&v));
        // keys are structure, never redacted, even when they hold a secret
        register("keyword-secret-x");
        let v = serde_json::json!({"keyword-secret-x": "keyword-secret-x", "status": "failed"});
        assert_eq!(
            redact_json(&v),
            serde_json::json!({"keyword-secret-x": "********", "status": "failed"})
        );
    }

    #[test]
    fn taint_scopes_nest() {
        let ((), t) = taint_scope(|| {
            let ((), inner) = taint_scope(mark_read);
            assert!(inner);
            assert!(
                take_expression_taint(),
                "the inner read taints the enclosing expression"
            );
        });
        assert!(t);
        let ((), t) = taint_scope(|| {});
        assert!(!t);
    }
}
