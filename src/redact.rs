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

/// Registers a secret string (and its escaped forms). Returns false when it is
/// too short to be registered (see [`MIN_LEN`]).
pub fn register(secret: &str) -> bool {
    if secret.chars().count() < MIN_LEN {
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
        if f.chars().count() < MIN_LEN || MASK.contains(f.as_str()) {
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
/// Returns the strings that were too short to register.
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
/// masked whole: its encoding would otherwise carry the secret.
pub fn redact(s: &str) -> Cow<'_, str> {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let Some(m) = &reg.matcher else {
        return Cow::Borrowed(s);
    };
    let s: Cow<'_, str> = if BASE64_TOKEN.is_match(s) {
        BASE64_TOKEN.replace_all(s, |c: &regex::Captures| {
            let token = &c[0];
            if decodes_to_secret(m, token) {
                MASK.to_string()
            } else {
                token.to_string()
            }
        })
    } else {
        Cow::Borrowed(s)
    };
    if !m.is_match(s.as_ref()) {
        return s;
    }
    let replacements = vec![MASK; reg.patterns.len()];
    Cow::Owned(m.replace_all(s.as_ref(), &replacements))
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

/// A copy of a JSON document with every string (keys too) redacted. Numbers
/// that are secrets become the string [`MASK`].
pub fn redact_json(value: &Json) -> Json {
    if !is_active() {
        return value.clone();
    }
    match value {
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
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (redact(k).into_owned(), redact_json(v)))
                .collect(),
        ),
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
