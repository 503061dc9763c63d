//! Bounds on what one template may cost, so a runaway loop or a value that
//! grows without end stops with an error naming the template, never a hang or
//! an out-of-memory abort.
//!
//! * fuel: the number of template-VM instructions one render or expression may
//!   execute (minijinja's fuel; `range(100000)` nested twice runs out of it);
//! * output: the bytes one render may produce, counting every `{{ }}` written
//!   (inside `{% set %}` blocks and macros too) and the template's own text;
//!   the same bound applies to one expression's string value;
//! * sizes taken from the template (`indent(N)`, `to_json(indent=N)`,
//!   `'{:>N}'.format()`, `batch(N)`, `password_hash(rounds=N)`...) and the
//!   results of `join` and `format` are checked before anything is built;
//! * `~`, `+` and `*` inside one template are checked before they build their
//!   result (`operators.rs` rewrites them into checked operators): strings
//!   against the output bound, lists against [`MAX_ITEMS`]. Values doubled
//!   across variables are bounded too: each variable is its own render;
//! * `lookup('pipe')` keeps at most the output bound of a command's output
//!   (and stops the command), `lookup('file')` refuses a larger file.
//!
//! The limits come from the environment, read once:
//! `OPSCTL_TEMPLATE_FUEL` (instructions, default [`DEFAULT_FUEL`]) and
//! `OPSCTL_TEMPLATE_MAX_OUTPUT` (bytes, default [`DEFAULT_MAX_OUTPUT`]);
//! docs/variables.md describes them.

use std::cell::Cell;
use std::sync::LazyLock;

use minijinja::{Error, ErrorKind};

/// Default fuel: a few seconds of template work at most.
pub const DEFAULT_FUEL: u64 = 50_000_000;
/// Default output bound: 64 MiB.
pub const DEFAULT_MAX_OUTPUT: usize = 64 << 20;
/// The most items a filter may build from a count in the template (`batch`, `slice`).
pub const MAX_ITEMS: usize = 1_000_000;
/// The most rounds `password_hash` runs (passlib allows up to 999,999,999: minutes).
pub const MAX_ROUNDS: u32 = 10_000_000;

pub const FUEL_VAR: &str = "OPSCTL_TEMPLATE_FUEL";
pub const OUTPUT_VAR: &str = "OPSCTL_TEMPLATE_MAX_OUTPUT";

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub fuel: u64,
    pub max_output: usize,
}

static LIMITS: LazyLock<Limits> = LazyLock::new(|| Limits {
    fuel: env_number(FUEL_VAR).unwrap_or(DEFAULT_FUEL),
    max_output: env_number(OUTPUT_VAR)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_MAX_OUTPUT),
});

/// A positive whole number from the environment (`1_000` and `1000` alike);
/// anything else is ignored (the default applies).
fn env_number(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    raw.trim()
        .replace('_', "")
        .parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
}

pub fn limits() -> Limits {
    *LIMITS
}

thread_local! {
    /// Bytes the current render has written through the formatter.
    static WRITTEN: Cell<usize> = const { Cell::new(0) };
}

/// Runs one render with its own output count (renders nest: a lazy variable is
/// rendered while another template is being rendered).
pub fn output_scope<T>(f: impl FnOnce() -> T) -> T {
    let outer = WRITTEN.with(|w| w.replace(0));
    let out = f();
    WRITTEN.with(|w| w.set(outer));
    out
}

pub const OUTPUT_MARK: &str = "template output exceeds";
pub const SIZE_MARK: &str = "would build";

fn output_error(max: usize) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "{OUTPUT_MARK} {} (a loop or a value that grows without end?)",
            bytes(max)
        ),
    )
}

/// Counts `n` more bytes of output; an error past the bound.
pub fn count_output(n: usize) -> Result<(), Error> {
    let max = limits().max_output;
    let total = WRITTEN.with(|w| {
        let t = w.get().saturating_add(n);
        w.set(t);
        t
    });
    if total > max {
        return Err(output_error(max));
    }
    Ok(())
}

/// A string value (an expression's result, a filter's) larger than the bound.
pub fn check_len(len: usize) -> Result<(), Error> {
    let max = limits().max_output;
    if len > max {
        return Err(output_error(max));
    }
    Ok(())
}

/// A size taken from the template (a width, an indent): an error naming the
/// filter when what it would build exceeds the output bound.
pub fn check_size(what: &str, size: u128) -> Result<(), Error> {
    let max = limits().max_output;
    if size > max as u128 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "{what} {SIZE_MARK} {} (more than {}, the limit of {OUTPUT_VAR})",
                if size > u64::MAX as u128 {
                    "more than 16 EiB".to_string()
                } else {
                    bytes(size as usize)
                },
                bytes(max)
            ),
        ));
    }
    Ok(())
}

/// A count of items taken from the template (`batch(N)`).
pub fn check_items(what: &str, n: u128) -> Result<(), Error> {
    if n > MAX_ITEMS as u128 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{what} {SIZE_MARK} {n} items (more than the limit of {MAX_ITEMS})"),
        ));
    }
    Ok(())
}

/// Counts the bytes written through it, refusing to count past `max`.
struct Counter {
    n: usize,
    max: usize,
}

impl std::fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.n = self.n.saturating_add(s.len());
        if self.n > self.max {
            return Err(std::fmt::Error);
        }
        Ok(())
    }
}

/// The bytes `value` displays as (a string's length, anything else's
/// `Display`), counted without building it; `None` when more than `max`.
pub fn display_len(value: &minijinja::Value, max: usize) -> Option<usize> {
    if let Some(s) = value.as_str() {
        return (s.len() <= max).then_some(s.len());
    }
    let mut c = Counter { n: 0, max };
    std::fmt::Write::write_fmt(&mut c, format_args!("{value}")).ok()?;
    Some(c.n)
}

/// An error when formatting `args` into `fmt` could build more than the
/// output bound: each of the format's `%`/`{` conversions counted as wide as
/// the widest argument (checked before anything is built).
pub fn check_format_args(what: &str, fmt: &str, args: &[minijinja::Value]) -> Result<(), Error> {
    let max = limits().max_output;
    let mut widest: u128 = 0;
    for a in args {
        widest = widest.max(display_len(a, max).map_or(u128::MAX, |n| n as u128));
    }
    let conversions = fmt.bytes().filter(|b| matches!(b, b'%' | b'{')).count() as u128;
    let widths = largest_format_number(fmt);
    check_size(
        what,
        (fmt.len() as u128)
            .saturating_add(conversions.saturating_mul(widest.saturating_add(widths))),
    )
}

/// `1048576` -> "1 MiB (1048576 bytes)".
pub fn bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

pub const FUEL_MESSAGE: &str = "the template ran too long";

/// The message for a template that ran out of fuel.
pub fn fuel_message() -> String {
    format!(
        "{FUEL_MESSAGE}: more than {} steps (a loop that runs too often, nested `range()`s?)",
        limits().fuel
    )
}

/// What to do about a template that hit a limit.
pub fn hint() -> String {
    format!(
        "make the loop or value smaller; if the template really needs more, raise {FUEL_VAR} (steps, default {DEFAULT_FUEL}) or {OUTPUT_VAR} (bytes, default {DEFAULT_MAX_OUTPUT}) in the environment"
    )
}

/// The largest width or precision in a format string: printf style
/// (`%-10.3f`) and `str.format` style (`{:>10}`, `{0:010.2f}`).
pub fn largest_format_number(fmt: &str) -> u128 {
    let b = fmt.as_bytes();
    let mut max: u128 = 0;
    let mut number = |b: &[u8], mut i: usize| -> usize {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n = std::str::from_utf8(&b[start..i])
            .ok()
            .and_then(|d| d.parse::<u128>().ok())
            .unwrap_or(if i > start { u128::MAX } else { 0 });
        max = max.max(n);
        i
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                i += 1;
                if b.get(i) == Some(&b'(') {
                    while i < b.len() && b[i] != b')' {
                        i += 1;
                    }
                    i += 1;
                }
                while i < b.len() && b"#0- +".contains(&b[i]) {
                    i += 1;
                }
                i = number(b, i);
                if b.get(i) == Some(&b'.') {
                    i = number(b, i + 1);
                }
            }
            b'{' => {
                let end = fmt[i..].find('}').map_or(b.len(), |e| i + e);
                if let Some(colon) = fmt[i..end].find(':') {
                    let mut j = i + colon + 1;
                    while j < end {
                        if b[j].is_ascii_digit() {
                            j = number(b, j);
                        } else {
                            j += 1;
                        }
                    }
                }
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
    max
}

/// An error when a format string asks for a width or precision past the bound.
pub fn check_format(what: &str, fmt: &str) -> Result<(), Error> {
    check_size(what, largest_format_number(fmt))
}
