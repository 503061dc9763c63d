//! Host names with ranges (`web[01:20]`, `db-[a:c]`, `n[1:10:2]`) and ports
//! (`host:2222`, `[fe80::1]:22`), as Ansible's `parse_address` and
//! `expand_hostname_range` read them.

use std::sync::LazyLock;

use regex::Regex;

/// Expanding more names than this from one host entry is an error, not an
/// out-of-memory (`h[0:99999][0:99999]`).
pub const MAX_EXPANSION: usize = 100_000;

/// A malformed range, with the character offset (0-based) in the host pattern
/// of the range that is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeError {
    pub message: String,
    pub offset: usize,
    pub hint: Option<String>,
}

const NUMERIC_RANGE: &str = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEX_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
const ALNUM_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

static BRACKETED_HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[(.+)\]:([0-9]+)$").unwrap());
static HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$").unwrap());
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})");
    Regex::new(&format!(r"(?i)^(?:{c}\.){{3}}{c}$")).unwrap()
});
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[0-9a-f]{{1,4}}|{HEX_RANGE})");
    let alts = [
        format!("(?:{c}:){{7}}{c}"),
        format!("(?:{c}:){{1,6}}:"),
        format!("(?:{c}:)(?::{c}){{1,6}}"),
        format!("(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!("(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!("(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!("(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!("(?:{c}:){{6}}(?::{c})"),
        format!(":(?::{c}){{1,6}}"),
        format!("{c}?::"),
        format!(r"(?:0:){{6}}(?:{c}\.){{3}}{c}"),
        format!(r"::(?:ffff:)?(?:{c}\.){{3}}{c}"),
        format!(r"(?:0:){{5}}ffff:(?:{c}\.){{3}}{c}"),
    ];
    Regex::new(&format!("(?i)^(?:{})$", alts.join("|"))).unwrap()
});
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    // Python: (?:\w|R)(?:[\w_-]|R)*(?<![_-]) — the look-behind (no label ends
    // with '_' or '-') spelled without look-behind for the regex crate.
    let r = ALNUM_RANGE;
    let label = format!(r"(?:(?:\w|{r})(?:[\w-]|{r})*)?(?:[^\W_]|{r})");
    Regex::new(&format!(r"(?i)^{label}(?:\.{label})*$")).unwrap()
});

/// Ansible's `parse_address(address, allow_ranges=True)`: the host part and the
/// port, or `None` when it is not a valid host name or address.
pub fn parse_address(address: &str) -> Option<(String, Option<u64>)> {
    let mut address = address.to_string();
    let mut port = None;
    // a port, and an IPv6 address, have a ':' (most names have none: the
    // regexes that need one are not run)
    for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if address.contains(':')
            && let Some(c) = re.captures(&address)
        {
            let p = c[2].parse::<u64>().ok()?;
            let a = c[1].to_string();
            address = a;
            port = Some(p);
        }
    }
    let colon = address.contains(':');
    if IPV4.is_match(&address) || (colon && IPV6.is_match(&address)) || HOSTNAME.is_match(&address)
    {
        Some((address, port))
    } else {
        None
    }
}

/// `_expand_hostpattern`: the host names of one inventory host entry and its port.
pub fn expand_hostpattern(hostpattern: &str) -> Result<(Vec<String>, Option<u64>), RangeError> {
    let (pattern, port) = match parse_address(hostpattern) {
        Some((p, port)) => (p, port),
        None => (hostpattern.to_string(), None),
    };
    // When the port was split off, the ranges are at the same offsets.
    let names = if pattern.contains('[') {
        expand_range(&pattern)?
    } else {
        vec![pattern]
    };
    Ok((names, port))
}

/// `expand_hostname_range`: every name a pattern with `[a:b(:step)]` ranges stands for.
pub fn expand_range(pattern: &str) -> Result<Vec<String>, RangeError> {
    let chars: Vec<char> = pattern.chars().collect();
    // Segments: literal text and the choices of each range, left to right.
    let mut segments: Vec<Vec<String>> = Vec::new();
    let mut rest_start = 0;
    loop {
        let rest = &chars[rest_start..];
        let Some(open) = rest.iter().position(|&c| c == '[') else {
            segments.push(vec![rest.iter().collect()]);
            break;
        };
        let err = |message: String, at: usize, hint: Option<&str>| RangeError {
            message,
            offset: rest_start + at,
            hint: hint.map(str::to_string),
        };
        if let Some(bar) = chars.iter().position(|&c| c == '|') {
            return Err(RangeError {
                message: format!("invalid character '|' in host name {pattern:?}"),
                offset: bar,
                hint: None,
            });
        }
        let Some(close) = rest.iter().position(|&c| c == ']') else {
            return Err(err(
                format!("host range in {pattern:?} has no closing ']'"),
                open,
                Some("write a range as name[begin:end] or name[begin:end:step], e.g. web[01:20]"),
            ));
        };
        let (a, b) = (open.min(close), open.max(close));
        segments.push(vec![rest[..a].iter().collect()]);
        let nrange: String = rest[a + 1..b].iter().collect();
        let seq = range_values(&nrange).map_err(|m| {
            err(
                format!("invalid host range [{nrange}] in {pattern:?}: {m}"),
                a,
                Some("write a range as [begin:end] or [begin:end:step]: numbers (01:20 keeps the zero padding) or single letters (a:f)"),
            )
        })?;
        if seq.is_empty() {
            return Err(err(
                format!("host range [{nrange}] in {pattern:?} is empty"),
                a,
                Some("the begin of a range must not be after its end"),
            ));
        }
        segments.push(seq);
        rest_start += b + 1;
    }
    let total = segments.iter().try_fold(1usize, |acc, s| {
        acc.checked_mul(s.len()).filter(|&n| n <= MAX_EXPANSION)
    });
    if total.is_none() {
        return Err(RangeError {
            message: format!("host pattern {pattern:?} expands to more than {MAX_EXPANSION} names"),
            offset: 0,
            hint: None,
        });
    }
    let mut out = vec![String::new()];
    for seg in segments {
        if seg.len() == 1 {
            out.iter_mut().for_each(|o| o.push_str(&seg[0]));
        } else {
            out = out
                .iter()
                .flat_map(|o| seg.iter().map(move |s| format!("{o}{s}")))
                .collect();
        }
    }
    Ok(out)
}

const ASCII_LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The values of the inside of one `[...]`, as Ansible computes them.
fn range_values(nrange: &str) -> Result<Vec<String>, String> {
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err("host range must be begin:end or begin:end:step".into());
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    let step = bounds.get(2).copied().unwrap_or("1");
    if end.is_empty() {
        return Err("host range must specify end value".into());
    }
    let width = if beg.starts_with('0') && beg.chars().count() > 1 {
        if beg.chars().count() != end.chars().count() {
            return Err("host range must specify equal-length begin and end formats".into());
        }
        Some(beg.chars().count())
    } else {
        None
    };
    let fill = |s: String| match width {
        Some(w) => zfill(&s, w),
        None => s,
    };
    // Letters first: `string.ascii_letters.index(beg)` (a substring search).
    if let (Some(ib), Some(ie)) = (ASCII_LETTERS.find(beg), ASCII_LETTERS.find(end)) {
        if ib > ie {
            return Err("host range must have begin <= end".into());
        }
        if let Some(st) = py_int(step).filter(|&s| s != 0) {
            let letters: Vec<char> = ASCII_LETTERS.chars().collect();
            return Ok(py_slice(&letters, ib as i128, ie as i128 + 1, st)
                .into_iter()
                .map(|c| fill(c.to_string()))
                .collect());
        }
    }
    let b = py_int(beg).ok_or_else(|| format!("{beg:?} is not a number or a letter"))?;
    let e = py_int(end).ok_or_else(|| format!("{end:?} is not a number or a letter"))?;
    let st = py_int(step).ok_or_else(|| format!("step {step:?} is not a number"))?;
    if st == 0 {
        return Err("step must not be zero".into());
    }
    let e = e + 1;
    let ceil = |a: i128, d: i128| if a <= 0 { 0 } else { (a + d - 1) / d };
    let count = if st > 0 {
        ceil(e - b, st)
    } else {
        ceil(b - e, -st)
    };
    if count > MAX_EXPANSION as i128 {
        return Err(format!("the range has more than {MAX_EXPANSION} values"));
    }
    Ok((0..count).map(|k| fill((b + k * st).to_string())).collect())
}

fn py_slice<T: Clone>(v: &[T], start: i128, stop: i128, step: i128) -> Vec<T> {
    let n = v.len() as i128;
    let mut out = Vec::new();
    if step > 0 {
        let mut i = start.clamp(0, n);
        let stop = stop.clamp(0, n);
        while i < stop {
            out.push(v[i as usize].clone());
            i += step;
        }
    } else {
        let mut i = start.min(n - 1);
        let stop = stop.max(-1);
        while i > stop {
            out.push(v[i as usize].clone());
            i += step;
        }
    }
    out
}

/// Python `int(s)`: surrounding whitespace, a sign, digits with single underscores.
pub(crate) fn py_int(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let v: i128 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Python `str.zfill`.
fn zfill(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        return s.to_string();
    }
    let pad = "0".repeat(width - n);
    match s.strip_prefix(['-', '+']) {
        Some(rest) => format!("{}{pad}{rest}", &s[..1]),
        None => format!("{pad}{s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(p: &str) -> Vec<String> {
        expand_range(p).unwrap()
    }

    #[test]
    fn numeric_alpha_stride_multi() {
        assert_eq!(exp("web[01:03]"), ["web01", "web02", "web03"]);
        assert_eq!(exp("web[1:10:4]"), ["web1", "web5", "web9"]);
        assert_eq!(exp("db-[a:c]"), ["db-a", "db-b", "db-c"]);
        assert_eq!(exp("n[a:e:2]"), ["na", "nc", "ne"]);
        assert_eq!(
            exp("r[1:2]-[a:b].x"),
            ["r1-a.x", "r1-b.x", "r2-a.x", "r2-b.x"]
        );
        assert_eq!(exp("h[:2]"), ["h0", "h1", "h2"]);
        assert_eq!(exp("h[8:10]"), ["h8", "h9", "h10"]);
        assert_eq!(exp("h[y:B]"), ["hy", "hz", "hA", "hB"]);
        assert_eq!(exp("plain"), ["plain"]);
    }

    #[test]
    fn bad_ranges() {
        for p in [
            "web[01:x]",
            "web[1:x]",
            "web[1]",
            "web[1:]",
            "web[01:3]",
            "web[c:a]",
            "web[1:3",
            "w[1:2:0]",
        ] {
            assert!(expand_range(p).is_err(), "{p}");
        }
        assert_eq!(expand_range("web[01:x]").unwrap_err().offset, 3);
        assert_eq!(expand_range("a[1:2]b[3:x]").unwrap_err().offset, 7);
        assert!(expand_range("h[3:1]").is_err());
        assert!(expand_range("h[0:99999][0:99999]").is_err());
    }

    #[test]
    fn addresses_and_ports() {
        assert_eq!(
            expand_hostpattern("h:2222").unwrap(),
            (vec!["h".to_string()], Some(2222))
        );
        assert_eq!(
            expand_hostpattern("1.2.3.4:22").unwrap(),
            (vec!["1.2.3.4".to_string()], Some(22))
        );
        assert_eq!(
            expand_hostpattern("fe80::1").unwrap(),
            (vec!["fe80::1".to_string()], None)
        );
        assert_eq!(
            expand_hostpattern("[fe80::1]:22").unwrap(),
            (vec!["fe80::1".to_string()], Some(22))
        );
        assert_eq!(
            expand_hostpattern("2001:db8::1").unwrap(),
            (vec!["2001:db8::1".to_string()], None)
        );
        assert_eq!(
            expand_hostpattern("web[1:2]:22").unwrap(),
            (vec!["web1".to_string(), "web2".to_string()], Some(22))
        );
        assert_eq!(
            expand_hostpattern("my_host_:22").unwrap(),
            (vec!["my_host_:22".to_string()], None)
        );
        assert!(parse_address("web-").is_none());
        assert!(parse_address("a_").is_none());
        assert!(parse_address("_a").is_some());
        assert!(parse_address("x").is_some());
        assert!(expand_hostpattern("[::1]").is_err());
    }
}
