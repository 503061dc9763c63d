//! More of Ansible's filters and functions: dates (`strftime`, `to_datetime`,
//! `now()`), `random` (with Python's seeded generator, so a `seed` picks what
//! Ansible picks), sizes (`human_readable`, `human_to_bytes`), `urlsplit`,
//! lists (`subelements`, `extract`, `product`, `zip`, `zip_longest`),
//! `comment`, and address filters (`ipaddr`, `ipv4`, `ipv6`, `ipwrap`,
//! `ipsubnet`) in the subset real roles use.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use minijinja::value::{Object, Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State};
use sha2::Digest;

use super::filters::{Args, filter_err, is_sequence, items, text, undefined_err};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("strftime", strftime);
    env.add_filter("to_datetime", to_datetime);
    env.add_function("now", now);
    env.add_filter("random", random);
    env.add_filter("human_readable", human_readable);
    env.add_filter("human_to_bytes", human_to_bytes);
    env.add_filter("urlsplit", urlsplit);
    env.add_filter("subelements", subelements);
    env.add_filter("extract", extract);
    env.add_filter("product", product);
    env.add_filter("zip", zip);
    env.add_filter("zip_longest", zip_longest);
    env.add_filter("comment", comment);
    env.add_filter("ipaddr", ipaddr);
    env.add_filter("ipv4", ipv4);
    env.add_filter("ipv6", ipv6);
    env.add_filter("ipwrap", ipwrap);
    env.add_filter("ipsubnet", ipsubnet);
}

/// The names registered here (for "did you mean").
pub(crate) const NAMES: &[&str] = &[
    "strftime",
    "to_datetime",
    "random",
    "human_readable",
    "human_to_bytes",
    "urlsplit",
    "subelements",
    "extract",
    "product",
    "zip",
    "zip_longest",
    "comment",
    "ipaddr",
    "ipv4",
    "ipv6",
    "ipwrap",
    "ipsubnet",
];

// ---------------------------------------------------------------- dates

/// Days since 1970-01-01 to (year, month, day).
pub(crate) fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The controller's UTC offset (seconds) at `epoch`, from the C library (TZ).
fn local_offset(epoch: i64) -> i64 {
    let t: libc::time_t = epoch as libc::time_t;
    // SAFETY: localtime_r writes into `tm`, which we own; `t` outlives the call.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff as i64
    }
}

fn local_zone(epoch: i64) -> String {
    let t: libc::time_t = epoch as libc::time_t;
    // SAFETY: as above; tm_zone points to static storage of the C library.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() || tm.tm_zone.is_null() {
            return String::new();
        }
        std::ffi::CStr::from_ptr(tm.tm_zone)
            .to_string_lossy()
            .into_owned()
    }
}

fn now_epoch() -> (i64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_micros())
}

/// A naive date and time (as Python's `datetime` without tzinfo), and the
/// offset it was read with when known (`%z`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DateTime {
    /// Seconds since 1970-01-01 00:00:00 of the naive wall-clock time.
    pub wall: i64,
    pub micro: u32,
    pub offset: Option<i64>,
}

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl DateTime {
    fn parts(&self) -> (i64, u32, u32, i64, i64, i64) {
        let (y, m, d) = civil(self.wall.div_euclid(86_400));
        let s = self.wall.rem_euclid(86_400);
        (y, m, d, s / 3600, s / 60 % 60, s % 60)
    }

    /// Python's `strftime` (the C library's directives).
    pub fn format(&self, fmt: &str, zone: &str) -> String {
        let (y, mo, d, h, mi, s) = self.parts();
        let days = self.wall.div_euclid(86_400);
        let wd = (days + 3).rem_euclid(7) as usize; // 0 = Monday
        let yday = days - days_from_civil(y, 1, 1) + 1;
        let mut out = String::new();
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let Some(k) = chars.next() else {
                out.push('%');
                break;
            };
            let h12 = if h % 12 == 0 { 12 } else { h % 12 };
            match k {
                'Y' => out.push_str(&y.to_string()),
                'y' => out.push_str(&format!("{:02}", y.rem_euclid(100))),
                'C' => out.push_str(&format!("{:02}", y / 100)),
                'm' => out.push_str(&format!("{mo:02}")),
                'd' => out.push_str(&format!("{d:02}")),
                'e' => out.push_str(&format!("{d:2}")),
                'H' => out.push_str(&format!("{h:02}")),
                'I' => out.push_str(&format!("{h12:02}")),
                'M' => out.push_str(&format!("{mi:02}")),
                'S' => out.push_str(&format!("{s:02}")),
                'f' => out.push_str(&format!("{:06}", self.micro)),
                'p' => out.push_str(if h < 12 { "AM" } else { "PM" }),
                'A' => out.push_str(DAYS[wd]),
                'a' => out.push_str(&DAYS[wd][..3]),
                'B' => out.push_str(MONTHS[mo as usize - 1]),
                'b' | 'h' => out.push_str(&MONTHS[mo as usize - 1][..3]),
                'w' => out.push_str(&((wd + 1) % 7).to_string()),
                'u' => out.push_str(&(wd + 1).to_string()),
                'j' => out.push_str(&format!("{yday:03}")),
                'U' => out.push_str(&format!("{:02}", (yday + 6 - ((wd as i64 + 1) % 7)) / 7)),
                'W' => out.push_str(&format!("{:02}", (yday + 6 - wd as i64) / 7)),
                's' => out.push_str(&(self.wall - self.offset.unwrap_or(0)).to_string()),
                'F' => out.push_str(&format!("{y}-{mo:02}-{d:02}")),
                'T' => out.push_str(&format!("{h:02}:{mi:02}:{s:02}")),
                'R' => out.push_str(&format!("{h:02}:{mi:02}")),
                'D' => out.push_str(&format!("{mo:02}/{d:02}/{:02}", y.rem_euclid(100))),
                'c' => out.push_str(&format!(
                    "{} {} {d:2} {h:02}:{mi:02}:{s:02} {y}",
                    &DAYS[wd][..3],
                    &MONTHS[mo as usize - 1][..3]
                )),
                'x' => out.push_str(&format!("{mo:02}/{d:02}/{:02}", y.rem_euclid(100))),
                'X' => out.push_str(&format!("{h:02}:{mi:02}:{s:02}")),
                'z' => {
                    if let Some(o) = self.offset {
                        let sign = if o < 0 { '-' } else { '+' };
                        let a = o.abs();
                        out.push_str(&format!("{sign}{:02}{:02}", a / 3600, a / 60 % 60));
                    }
                }
                'Z' => out.push_str(zone),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                '%' => out.push('%'),
                other => {
                    out.push('%');
                    out.push(other);
                }
            }
        }
        out
    }

    /// Python's `datetime.strptime` for the usual directives.
    pub fn parse(s: &str, fmt: &str) -> Result<DateTime, String> {
        let bad = || format!("time data '{s}' does not match format '{fmt}'");
        let (mut y, mut mo, mut d, mut h, mut mi, mut se, mut micro) =
            (1900i64, 1u32, 1u32, 0i64, 0i64, 0i64, 0u32);
        let mut pm: Option<bool> = None;
        let mut offset = None;
        let mut src = s;
        let mut f = fmt.chars().peekable();
        let num = |src: &mut &str, max: usize| -> Option<i64> {
            let n = src
                .char_indices()
                .take_while(|(i, c)| *i < max && c.is_ascii_digit())
                .count();
            if n == 0 {
                return None;
            }
            let v = src[..n].parse().ok();
            *src = &src[n..];
            v
        };
        let name = |src: &mut &str, names: &[&str]| -> Option<usize> {
            for (i, n) in names.iter().enumerate() {
                for cand in [*n, &n[..3]] {
                    if src.len() >= cand.len() && src[..cand.len()].eq_ignore_ascii_case(cand) {
                        *src = &src[cand.len()..];
                        return Some(i);
                    }
                }
            }
            None
        };
        while let Some(c) = f.next() {
            if c == '%' {
                let k = f.next().ok_or_else(bad)?;
                match k {
                    'Y' => y = num(&mut src, 4).ok_or_else(bad)?,
                    'y' => {
                        let v = num(&mut src, 2).ok_or_else(bad)?;
                        y = if v < 69 { 2000 + v } else { 1900 + v };
                    }
                    'm' => mo = num(&mut src, 2).ok_or_else(bad)? as u32,
                    'd' => d = num(&mut src, 2).ok_or_else(bad)? as u32,
                    'H' | 'I' => h = num(&mut src, 2).ok_or_else(bad)?,
                    'M' => mi = num(&mut src, 2).ok_or_else(bad)?,
                    'S' => se = num(&mut src, 2).ok_or_else(bad)?,
                    'f' => {
                        let before = src.len();
                        let v = num(&mut src, 6).ok_or_else(bad)?;
                        let digits = before - src.len();
                        micro = (v * 10i64.pow(6 - digits as u32)) as u32;
                    }
                    'j' => {
                        let v = num(&mut src, 3).ok_or_else(bad)?;
                        let (yy, mm, dd) = civil(days_from_civil(y, 1, 1) + v - 1);
                        let _ = yy;
                        mo = mm;
                        d = dd;
                    }
                    'p' => {
                        let up = src.get(..2).map(str::to_ascii_uppercase);
                        pm = match up.as_deref() {
                            Some("AM") => Some(false),
                            Some("PM") => Some(true),
                            _ => return Err(bad()),
                        };
                        src = &src[2..];
                    }
                    'b' | 'B' | 'h' => mo = name(&mut src, &MONTHS).ok_or_else(bad)? as u32 + 1,
                    'a' | 'A' => {
                        name(&mut src, &DAYS).ok_or_else(bad)?;
                    }
                    'z' => {
                        if let Some(rest) = src.strip_prefix('Z') {
                            offset = Some(0);
                            src = rest;
                        } else {
                            let sign = match src.chars().next() {
                                Some('+') => 1,
                                Some('-') => -1,
                                _ => return Err(bad()),
                            };
                            src = &src[1..];
                            let hh = num(&mut src, 2).ok_or_else(bad)?;
                            src = src.strip_prefix(':').unwrap_or(src);
                            let mm = num(&mut src, 2).ok_or_else(bad)?;
                            offset = Some(sign * (hh * 3600 + mm * 60));
                        }
                    }
                    'Z' => {
                        let n = src.chars().take_while(|c| c.is_ascii_alphabetic()).count();
                        src = &src[n..];
                    }
                    '%' => src = src.strip_prefix('%').ok_or_else(bad)?,
                    _ => return Err(format!("'{k}' is a bad directive in format '%{k}'")),
                }
            } else if c.is_whitespace() {
                src = src.trim_start();
            } else {
                src = src.strip_prefix(c).ok_or_else(bad)?;
            }
        }
        if !src.is_empty() {
            return Err(format!("unconverted data remains: {src}"));
        }
        if let Some(pm) = pm {
            h = h % 12 + if pm { 12 } else { 0 };
        }
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 61 {
            return Err(bad());
        }
        let wall = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se;
        Ok(DateTime {
            wall,
            micro,
            offset,
        })
    }
}

impl std::fmt::Display for DateTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let base = self.format("%Y-%m-%d %H:%M:%S", "");
        if self.micro != 0 {
            write!(f, "{base}.{:06}", self.micro)?;
        } else {
            f.write_str(&base)?;
        }
        if let Some(o) = self.offset {
            let sign = if o < 0 { '-' } else { '+' };
            write!(f, "{sign}{:02}:{:02}", o.abs() / 3600, o.abs() / 60 % 60)?;
        }
        Ok(())
    }
}

impl Object for DateTime {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let (y, mo, d, h, mi, s) = self.parts();
        Some(Value::from(match key.as_str()? {
            "year" => y,
            "month" => mo as i64,
            "day" => d as i64,
            "hour" => h,
            "minute" => mi,
            "second" => s,
            "microsecond" => self.micro as i64,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "strftime" => {
                let fmt = args.first().and_then(Value::as_str).unwrap_or("");
                Ok(Value::from(self.format(fmt, "")))
            }
            "timestamp" => {
                let off = self.offset.unwrap_or_else(|| local_offset(self.wall));
                let t = (self.wall - off) as f64 + self.micro as f64 / 1e6;
                Ok(Value::from(t))
            }
            "isoformat" => Ok(Value::from(self.to_string().replacen(' ', "T", 1))),
            "date" => Ok(Value::from(self.format("%Y-%m-%d", ""))),
            "weekday" => Ok(Value::from(
                (self.wall.div_euclid(86_400) + 3).rem_euclid(7),
            )),
            "isoweekday" => Ok(Value::from(
                (self.wall.div_euclid(86_400) + 3).rem_euclid(7) + 1,
            )),
            _ => Err(filter_err(
                "to_datetime",
                format!("datetime has no method '{method}'"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.as_ref(), f)
    }
}

/// `strftime(fmt, second=None, utc=False)`: the format of now, or of an epoch.
fn strftime(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("strftime", args, &["second", "utc"])?;
    if value.is_undefined() {
        return Err(undefined_err());
    }
    let fmt = text(&value)?;
    let (epoch, micro) = match a.opt(0) {
        None => now_epoch(),
        Some(v) => {
            let f: f64 = match v.as_str() {
                Some(s) => s.trim().parse().map_err(|_| {
                    filter_err("strftime", format!("Invalid value for epoch value ({s})"))
                })?,
                None => f64::try_from(v.clone())
                    .map_err(|_| filter_err("strftime", "Invalid value for epoch value"))?,
            };
            (f.floor() as i64, ((f - f.floor()) * 1e6) as u32)
        }
    };
    let utc = a.bool_or(1, false);
    let (off, zone) = if utc {
        (0, "UTC".to_string())
    } else {
        (local_offset(epoch), local_zone(epoch))
    };
    let dt = DateTime {
        wall: epoch + off,
        micro,
        offset: Some(off),
    };
    Ok(Value::from(dt.format(&fmt, &zone)))
}

/// `to_datetime(format='%Y-%m-%d %H:%M:%S')`: a datetime object (its fields,
/// `strftime()`, `timestamp()`, `isoformat()`).
fn to_datetime(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("to_datetime", args, &["format"])?;
    if value.is_undefined() {
        return Err(undefined_err());
    }
    let fmt = a.str_or(0, "%Y-%m-%d %H:%M:%S")?;
    let dt =
        DateTime::parse(text(&value)?.as_str(), &fmt).map_err(|e| filter_err("to_datetime", e))?;
    Ok(Value::from_object(dt))
}

/// `now(utc=False, fmt=None)`: the controller's time, a datetime or `fmt`'s string.
fn now(args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("now", args, &["utc", "fmt"])?;
    let (epoch, micro) = now_epoch();
    let utc = a.bool_or(0, false);
    let off = if utc { 0 } else { local_offset(epoch) };
    let dt = DateTime {
        wall: epoch + off,
        micro,
        offset: None,
    };
    match a.opt(1) {
        Some(f) => {
            let zone = if utc { "UTC".into() } else { local_zone(epoch) };
            Ok(Value::from(dt.format(&text(f)?, &zone)))
        }
        None => Ok(Value::from_object(dt)),
    }
}

// ---------------------------------------------------------------- random

/// Python's `random.Random` (MT19937 with CPython's seeding), so that a
/// seeded `random` picks what Ansible picks.
pub(crate) struct PyRandom {
    mt: [u32; 624],
    idx: usize,
}

impl PyRandom {
    fn init_genrand(s: u32) -> PyRandom {
        let mut mt = [0u32; 624];
        mt[0] = s;
        for i in 1..624 {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        PyRandom { mt, idx: 624 }
    }

    fn init_by_array(key: &[u32]) -> PyRandom {
        let mut r = PyRandom::init_genrand(19_650_218);
        let mt = &mut r.mt;
        let (mut i, mut j) = (1usize, 0usize);
        let n = 624;
        let klen = key.len().max(1);
        for _ in 0..n.max(klen) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key.get(j).copied().unwrap_or(0))
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= n {
                mt[0] = mt[n - 1];
                i = 1;
            }
            if j >= klen {
                j = 0;
            }
        }
        for _ in 0..n - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= n {
                mt[0] = mt[n - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        r
    }

    /// `Random(seed)`: an int seeds with its absolute value's 32-bit words; a
    /// string (version 2) with its bytes followed by their SHA-512.
    pub fn new(seed: &Value) -> PyRandom {
        let bytes: Vec<u8> = if seed.is_integer() {
            let n = i128::try_from(seed.clone()).unwrap_or(0).unsigned_abs();
            n.to_be_bytes().to_vec()
        } else {
            let s = super::pyfmt::py_str(seed);
            let mut b = s.as_bytes().to_vec();
            b.extend_from_slice(&sha2::Sha512::digest(s.as_bytes()));
            b
        };
        // the big-endian integer as little-endian 32-bit words
        let mut words: Vec<u32> = bytes
            .rchunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[4 - c.len()..].copy_from_slice(c);
                u32::from_be_bytes(w)
            })
            .collect();
        while words.len() > 1 && words.last() == Some(&0) {
            words.pop();
        }
        PyRandom::init_by_array(&words)
    }

    fn next_u32(&mut self) -> u32 {
        if self.idx >= 624 {
            for i in 0..624 {
                let y = (self.mt[i] & 0x8000_0000) | (self.mt[(i + 1) % 624] & 0x7fff_ffff);
                let mut v = self.mt[(i + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.mt[i] = v;
            }
            self.idx = 0;
        }
        let mut y = self.mt[self.idx];
        self.idx += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn getrandbits(&mut self, k: u32) -> u64 {
        if k <= 32 {
            return (self.next_u32() >> (32 - k)) as u64;
        }
        let lo = self.next_u32() as u64;
        let hi = (self.next_u32() >> (64 - k)) as u64;
        lo | (hi << 32)
    }

    /// `_randbelow(n)`, n > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }
}

/// `random(start=None, step=1, seed=None)`: an int below the value (from
/// `start`, by `step`), or an element of a list.
fn random(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("random", args, &["start", "step", "seed"])?;
    if value.is_undefined() {
        return Err(undefined_err());
    }
    let mut rng = match a.opt(2) {
        Some(seed) => PyRandom::new(seed),
        None => {
            let mut b = [0u8; 16];
            getrandom_fill(&mut b);
            PyRandom::new(&Value::from(i64::from_le_bytes(
                b[..8].try_into().unwrap_or_default(),
            )))
        }
    };
    if value.is_integer() {
        let end = i64::try_from(value.clone())?;
        let start = a.int_opt(0)?.unwrap_or(0);
        let step = a.int_opt(1)?.unwrap_or(1);
        if step == 0 {
            return Err(filter_err("random", "zero step for randrange()"));
        }
        let n = if step > 0 {
            (end - start + step - 1) / step
        } else {
            (end - start + step + 1) / step
        };
        if n <= 0 {
            return Err(filter_err(
                "random",
                format!("empty range for randrange() ({start}, {end}, {n})"),
            ));
        }
        return Ok(Value::from(start + step * rng.below(n as u64) as i64));
    }
    if is_sequence(&value) || value.as_str().is_some() || value.kind() == ValueKind::Map {
        let list: Vec<Value> = if let Some(s) = value.as_str() {
            s.chars().map(|c| Value::from(c.to_string())).collect()
        } else {
            items(&value)?
        };
        if list.is_empty() {
            return Err(filter_err("random", "Cannot choose from an empty sequence"));
        }
        let i = rng.below(list.len() as u64) as usize;
        return Ok(list[i].clone());
    }
    Err(filter_err(
        "random",
        "can only be used on sequences and integers",
    ))
}

fn getrandom_fill(b: &mut [u8]) {
    use std::io::Read;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(b);
    }
    let (s, n) = now_epoch();
    b[0] ^= s as u8;
    b[1] ^= n as u8;
}

// ---------------------------------------------------------------- sizes

fn size_limit(c: char) -> f64 {
    let exp = match c {
        'Y' => 80,
        'Z' => 70,
        'E' => 60,
        'P' => 50,
        'T' => 40,
        'G' => 30,
        'M' => 20,
        'K' => 10,
        _ => 0,
    };
    2f64.powi(exp)
}

/// `human_readable(isbits=False, unit=None)`: `1.00 KB`, `10.00 Bytes`.
fn human_readable(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("human_readable", args, &["isbits", "unit"])?;
    let size: f64 = match value.as_str() {
        Some(s) => s.trim().parse().map_err(|_| {
            filter_err(
                "human_readable",
                format!("can't interpret {s:?} as a number"),
            )
        })?,
        None => f64::try_from(value.clone())
            .map_err(|_| filter_err("human_readable", "can't interpret the value as a number"))?,
    };
    let isbits = a.bool_or(0, false);
    let unit = a.opt(1).map(text).transpose()?;
    let base = if isbits { "bits" } else { "Bytes" };
    let mut pick = 'B';
    for c in ['Y', 'Z', 'E', 'P', 'T', 'G', 'M', 'K', 'B'] {
        let limit = size_limit(c);
        let hit = match &unit {
            None => size >= limit,
            Some(u) => u.to_uppercase().starts_with(c),
        };
        if hit {
            pick = c;
            break;
        }
    }
    let limit = size_limit(pick);
    let suffix = if pick == 'B' {
        base.to_string()
    } else {
        format!("{pick}{}", &base[..1])
    };
    Ok(Value::from(format!("{:.2} {suffix}", size / limit)))
}

/// `human_to_bytes(default_unit=None, isbits=False)`: `'1.5 MB'` -> 1572864.
fn human_to_bytes(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("human_to_bytes", args, &["default_unit", "isbits"])?;
    let s = text(&value)?;
    let isbits = a.bool_or(1, false);
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let bad = || {
        filter_err(
            "human_to_bytes",
            format!(
                "failed to convert {s}. Value is not a valid string (expected e.g. 10M, 1.5 GB)"
            ),
        )
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let unit = if unit.is_empty() {
        match a.opt(0) {
            Some(u) => text(u)?,
            None => return Ok(Value::from(n.round() as i64)),
        }
    } else {
        unit.to_string()
    };
    let first = unit
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase())
        .ok_or_else(bad)?;
    if !"BKMGTPEZY".contains(first) {
        return Err(bad());
    }
    let rest = &unit[1..];
    let unit_ok = if isbits {
        matches!(rest, "" | "b" | "bit" | "bits" | "ib")
            || unit == "b"
            || unit.eq_ignore_ascii_case("bits")
    } else {
        matches!(rest, "" | "B" | "iB" | "yte" | "ytes" | "YTE" | "YTES") || unit == "B"
    };
    if !unit_ok {
        let what = if isbits { "bit" } else { "byte" };
        return Err(filter_err(
            "human_to_bytes",
            format!("Value is not a valid string ({s}): expected a {what} unit"),
        ));
    }
    Ok(Value::from((n * size_limit(first)).round() as i64))
}

// ---------------------------------------------------------------- urlsplit

fn urlsplit(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("urlsplit", args, &["query"])?;
    let url = text(&value)?;
    let (scheme, rest) = match url.split_once(':') {
        Some((s, r))
            if !s.is_empty()
                && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (s.to_ascii_lowercase(), r)
        }
        _ => (String::new(), url.as_str()),
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (netloc, path) = match rest.strip_prefix("//") {
        Some(r) => match r.find('/') {
            Some(i) => (&r[..i], &r[i..]),
            None => (r, ""),
        },
        None => ("", rest),
    };
    let (userinfo, hostport) = match netloc.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, netloc),
    };
    let (username, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (Value::from(n), Value::from(p)),
            None => (Value::from(u), Value::from(())),
        },
        None => (Value::from(()), Value::from(())),
    };
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        let (h, after) = r.split_once(']').unwrap_or((r, ""));
        (h.to_string(), after.strip_prefix(':').unwrap_or(""))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (hostport.to_string(), ""),
        }
    };
    let port = if port.is_empty() {
        Value::from(())
    } else {
        Value::from(port.parse::<i64>().map_err(|_| {
            filter_err(
                "urlsplit",
                format!("Port could not be cast to integer value as '{port}'"),
            )
        })?)
    };
    let hostname = if host.is_empty() {
        Value::from(())
    } else {
        Value::from(host.to_lowercase())
    };
    let parts: Vec<(&str, Value)> = vec![
        ("fragment", Value::from(fragment)),
        ("hostname", hostname),
        ("netloc", Value::from(netloc)),
        ("password", password),
        ("path", Value::from(path)),
        ("port", port),
        ("query", Value::from(query)),
        ("scheme", Value::from(scheme)),
        ("username", username),
    ];
    match a.opt(0) {
        None => Ok(Value::from(
            parts
                .into_iter()
                .collect::<std::collections::BTreeMap<&str, Value>>(),
        )),
        Some(q) => {
            let q = text(q)?;
            parts
                .into_iter()
                .find(|(k, _)| *k == q)
                .map(|(_, v)| v)
                .ok_or_else(|| filter_err("urlsplit", format!("unknown URL component: {q}")))
        }
    }
}

// ---------------------------------------------------------------- lists

/// `subelements(path, skip_missing=False)`: [item, subitem] pairs.
fn subelements(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("subelements", args, &["subelements", "skip_missing"])?;
    let path = text(
        a.get(0)
            .ok_or_else(|| filter_err("subelements", "missing the subelements path"))?,
    )?;
    let skip = a.bool_or(1, false);
    let list: Vec<Value> = if value.kind() == ValueKind::Map {
        value
            .try_iter()?
            .map(|k| value.get_item(&k).unwrap_or_default())
            .collect()
    } else if is_sequence(&value) {
        items(&value)?
    } else {
        return Err(filter_err(
            "subelements",
            "obj must be a list of dicts or a nested dict",
        ));
    };
    let mut out = Vec::new();
    for item in list {
        let mut cur = item.clone();
        let mut missing = false;
        for key in path.split('.') {
            let next = cur.get_attr(key).ok().filter(|v| !v.is_undefined());
            match next {
                Some(v) => cur = v,
                None if skip => {
                    missing = true;
                    break;
                }
                None => {
                    return Err(filter_err(
                        "subelements",
                        format!("could not find '{key}' key in iterated item"),
                    ));
                }
            }
        }
        if missing {
            continue;
        }
        if !is_sequence(&cur) {
            return Err(filter_err(
                "subelements",
                format!("the key '{path}' should point to a list"),
            ));
        }
        for sub in items(&cur)? {
            out.push(Value::from(vec![item.clone(), sub]));
        }
    }
    Ok(Value::from(out))
}

/// `item | extract(container, morekeys=None)`: container[item][k]...
fn extract(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("extract", args, &["container", "morekeys"])?;
    let container = a
        .get(0)
        .cloned()
        .ok_or_else(|| filter_err("extract", "missing the container"))?;
    let mut cur = container.get_item(&value).unwrap_or_default();
    if cur.is_undefined() {
        return Ok(cur);
    }
    if let Some(more) = a.opt(1) {
        let keys = if is_sequence(more) {
            items(more)?
        } else {
            vec![more.clone()]
        };
        for k in keys {
            cur = cur.get_item(&k).unwrap_or_default();
            if cur.is_undefined() {
                return Ok(cur);
            }
        }
    }
    Ok(cur)
}

fn lists(name: &str, value: &Value, others: &[Value]) -> Result<Vec<Vec<Value>>, Error> {
    let mut out = Vec::new();
    for v in std::iter::once(value).chain(others) {
        if v.is_undefined() {
            return Err(undefined_err());
        }
        if !(is_sequence(v) || v.kind() == ValueKind::Map || v.as_str().is_some()) {
            return Err(filter_err(
                name,
                format!("'{}' object is not iterable", super::filters::type_name(v)),
            ));
        }
        out.push(items(v)?);
    }
    Ok(out)
}

/// `product(*lists, repeat=1)`: the cartesian product, as lists.
fn product(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let mut others = args.into_values();
    let mut repeat = 1usize;
    if let Some(last) = others.last()
        && last.is_kwargs()
    {
        let kw = minijinja::value::Kwargs::try_from(others.pop().unwrap_or_default())?;
        repeat = kw.get::<Option<usize>>("repeat")?.unwrap_or(1);
        kw.assert_all_used()?;
    }
    let base = lists("product", &value, &others)?;
    let pools: Vec<Vec<Value>> = (0..repeat).flat_map(|_| base.clone()).collect();
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for pool in &pools {
        let mut next = Vec::new();
        for prefix in &out {
            for x in pool {
                let mut p = prefix.clone();
                p.push(x.clone());
                next.push(p);
            }
        }
        if next.len() > super::limits::MAX_ITEMS {
            return Err(filter_err(
                "product",
                format!("{} {} items", super::limits::SIZE_MARK, next.len()),
            ));
        }
        out = next;
    }
    Ok(Value::from(
        out.into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

/// `zip(*others)`: lists of the n-th elements, as long as the shortest.
fn zip(value: Value, others: Rest<Value>) -> Result<Value, Error> {
    let all = lists("zip", &value, &others)?;
    let n = all.iter().map(Vec::len).min().unwrap_or(0);
    Ok(Value::from(
        (0..n)
            .map(|i| Value::from(all.iter().map(|l| l[i].clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    ))
}

/// `zip_longest(*others, fillvalue=None)`: as long as the longest.
fn zip_longest(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let mut others = args.into_values();
    let mut fill = Value::from(());
    if let Some(last) = others.last()
        && last.is_kwargs()
    {
        let kw = minijinja::value::Kwargs::try_from(others.pop().unwrap_or_default())?;
        if let Some(f) = kw.get::<Option<Value>>("fillvalue")? {
            fill = f;
        }
        kw.assert_all_used()?;
    }
    let all = lists("zip_longest", &value, &others)?;
    let n = all.iter().map(Vec::len).max().unwrap_or(0);
    Ok(Value::from(
        (0..n)
            .map(|i| {
                Value::from(
                    all.iter()
                        .map(|l| l.get(i).cloned().unwrap_or_else(|| fill.clone()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
    ))
}

// ---------------------------------------------------------------- comment

/// `comment(style='plain', **params)`: the text as a comment block.
fn comment(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind(
        "comment",
        args,
        &[
            "style",
            "decoration",
            "beginning",
            "prefix",
            "prefix_count",
            "postfix",
            "postfix_count",
            "end",
            "newline",
        ],
    )?;
    let t = text(&value)?;
    let style = a.str_or(0, "plain")?;
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => return Err(filter_err("comment", format!("unknown style '{other}'"))),
    };
    let decoration = a.str_or(1, decoration)?;
    let beginning = a.str_or(2, beginning)?;
    let prefix = a.str_or(3, decoration.trim_end())?;
    let prefix_count = a.int_opt(4)?.unwrap_or(1).max(0) as usize;
    let postfix = a.str_or(5, decoration.trim_end())?;
    let postfix_count = a.int_opt(6)?.unwrap_or(1).max(0) as usize;
    let end = a.str_or(7, end)?;
    let nl = a.str_or(8, "\n")?;
    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&nl);
    }
    if !prefix.is_empty() {
        let one = if prefix != nl {
            format!("{prefix}{nl}")
        } else {
            nl.clone()
        };
        out.push_str(&one.repeat(prefix_count));
    }
    let body = format!(
        "{decoration}{}",
        t.replace(&nl, &format!("{nl}{decoration}"))
    );
    out.push_str(&body.replace(
        &format!("{decoration}{nl}"),
        &format!("{}{nl}", decoration.trim_end()),
    ));
    for _ in 0..postfix_count {
        out.push_str(&nl);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&nl);
        out.push_str(&end);
    }
    Ok(Value::from(out))
}

// ---------------------------------------------------------------- addresses

/// An address with its prefix (`10.0.0.5/24`); a bare address has a host prefix.
fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n);
    }
    if let Ok(a) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Some(IpNet::from(a));
    }
    // 10.0.0.5/255.255.255.0
    let (a, m) = s.split_once('/')?;
    let a: std::net::Ipv4Addr = a.parse().ok()?;
    let m: std::net::Ipv4Addr = m.parse().ok()?;
    let p = ipnet::ipv4_mask_to_prefix(m).ok()?;
    ipnet::Ipv4Net::new(a, p).ok().map(IpNet::V4)
}

fn family_ok(n: &IpNet, version: Option<u8>) -> bool {
    match version {
        Some(4) => matches!(n, IpNet::V4(_)),
        Some(6) => matches!(n, IpNet::V6(_)),
        _ => true,
    }
}

/// One value through `ipaddr(query)`: the answer, or `false` when it is not
/// an address of that kind (as Ansible).
fn ip_query(s: &str, query: &str, version: Option<u8>) -> Result<Value, Error> {
    let Some(n) = parse_net(s) else {
        return Ok(Value::from(false));
    };
    if !family_ok(&n, version) {
        return Ok(Value::from(false));
    }
    let has_prefix = s.contains('/');
    let host_prefix = n.max_prefix_len();
    let is_host_net = n.prefix_len() == host_prefix;
    // a network address with a prefix is not a host address
    let network_only =
        has_prefix && n.addr() == n.network() && !is_host_net && n.prefix_len() < host_prefix - 1;
    let v = match query {
        "" => {
            if has_prefix {
                Value::from(n.to_string())
            } else {
                Value::from(n.addr().to_string())
            }
        }
        "address" | "ip" => {
            if network_only {
                Value::from(false)
            } else {
                Value::from(n.addr().to_string())
            }
        }
        "host" => {
            if network_only {
                Value::from(false)
            } else {
                Value::from(format!("{}/{}", n.addr(), n.prefix_len()))
            }
        }
        "network" => Value::from(n.network().to_string()),
        "net" => {
            if n.addr() == n.network() && has_prefix {
                Value::from(n.trunc().to_string())
            } else {
                Value::from(false)
            }
        }
        "netmask" => Value::from(n.netmask().to_string()),
        "hostmask" => Value::from(n.hostmask().to_string()),
        "prefix" => Value::from(n.prefix_len() as i64),
        "broadcast" => match n {
            IpNet::V4(v4) if v4.prefix_len() < 31 => Value::from(v4.broadcast().to_string()),
            _ => Value::from(()),
        },
        "subnet" | "cidr" => Value::from(n.trunc().to_string()),
        "network/prefix" => Value::from(format!("{}/{}", n.network(), n.prefix_len())),
        "address/prefix" | "host/prefix" => {
            if !has_prefix || is_host_net {
                Value::from(false)
            } else {
                Value::from(format!("{}/{}", n.addr(), n.prefix_len()))
            }
        }
        "size" => Value::from(if host_prefix - n.prefix_len() >= 64 {
            f64::MAX as i64
        } else {
            1i64 << (host_prefix - n.prefix_len())
        }),
        "version" => Value::from(if matches!(n, IpNet::V4(_)) { 4 } else { 6 }),
        "private" => Value::from(match n.addr() {
            IpAddr::V4(a) => {
                if a.is_private() {
                    s
                } else {
                    return Ok(Value::from(false));
                }
            }
            IpAddr::V6(a) => {
                if (a.segments()[0] & 0xfe00) == 0xfc00 {
                    s
                } else {
                    return Ok(Value::from(false));
                }
            }
        }),
        "public" => {
            let public = match n.addr() {
                IpAddr::V4(a) => {
                    !(a.is_private()
                        || a.is_loopback()
                        || a.is_link_local()
                        || a.is_unspecified()
                        || a.is_broadcast()
                        || a.is_documentation()
                        || a.octets()[0] >= 224)
                }
                IpAddr::V6(a) => {
                    !(a.is_loopback()
                        || a.is_unspecified()
                        || (a.segments()[0] & 0xfe00) == 0xfc00
                        || (a.segments()[0] & 0xffc0) == 0xfe80
                        || a.is_multicast())
                }
            };
            if public {
                Value::from(s)
            } else {
                Value::from(false)
            }
        }
        "loopback" => {
            if n.addr().is_loopback() {
                Value::from(s)
            } else {
                Value::from(false)
            }
        }
        "multicast" => {
            if n.addr().is_multicast() {
                Value::from(s)
            } else {
                Value::from(false)
            }
        }
        "link-local" => {
            let ll = match n.addr() {
                IpAddr::V4(a) => a.is_link_local(),
                IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
            };
            if ll {
                Value::from(s)
            } else {
                Value::from(false)
            }
        }
        "ipv4" => match n {
            IpNet::V4(_) => Value::from(s),
            IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
                Some(a) => Value::from(a.to_string()),
                None => Value::from(false),
            },
        },
        "ipv6" => match n {
            IpNet::V6(_) => Value::from(s),
            IpNet::V4(v4) => {
                let m = v4.addr().to_ipv6_mapped();
                if has_prefix {
                    Value::from(format!("{m}/{}", 96 + v4.prefix_len()))
                } else {
                    Value::from(m.to_string())
                }
            }
        },
        "wrap" | "ipwrap" => match n {
            IpNet::V6(_) if has_prefix => Value::from(format!("[{}]/{}", n.addr(), n.prefix_len())),
            IpNet::V6(_) => Value::from(format!("[{}]", n.addr())),
            IpNet::V4(_) => Value::from(s),
        },
        "revdns" => Value::from(match n.addr() {
            IpAddr::V4(a) => {
                let o = a.octets();
                format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
            }
            IpAddr::V6(a) => {
                let hex: String = a.octets().iter().map(|b| format!("{b:02x}")).collect();
                let mut r: Vec<String> = hex.chars().rev().map(|c| c.to_string()).collect();
                r.push("ip6.arpa.".into());
                r.join(".")
            }
        }),
        "bool" => Value::from(true),
        q if q.parse::<i64>().is_ok() => {
            // the n-th address of the network (negative: from the end)
            let i: i64 = q.parse().unwrap_or(0);
            match nth(&n, i) {
                Some(a) => Value::from(format!("{a}/{}", n.prefix_len())),
                None => Value::from(false),
            }
        }
        other => {
            return Err(filter_err(
                "ipaddr",
                format!("unknown filter type: {other}"),
            ));
        }
    };
    Ok(v)
}

fn nth(n: &IpNet, i: i64) -> Option<IpAddr> {
    match n {
        IpNet::V4(v) => {
            let base = u32::from(v.network()) as i64;
            let size = 1i64 << (32 - v.prefix_len());
            let idx = if i < 0 { size + i } else { i };
            (0..size)
                .contains(&idx)
                .then(|| IpAddr::V4(((base + idx) as u32).into()))
        }
        IpNet::V6(v) => {
            let base = u128::from(v.network());
            let bits = 128 - v.prefix_len() as u32;
            let size: u128 = if bits >= 128 {
                u128::MAX
            } else {
                1u128 << bits
            };
            let idx = if i < 0 {
                size.checked_sub(i.unsigned_abs() as u128)?
            } else {
                i as u128
            };
            (idx < size).then(|| IpAddr::V6((base + idx).into()))
        }
    }
}

/// `ipaddr` over a value or a list (a list keeps the values that pass).
fn ip_filter(name: &str, value: &Value, query: &str, version: Option<u8>) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(undefined_err());
    }
    if is_sequence(value) {
        let mut out = Vec::new();
        for v in items(value)? {
            let Some(s) = v
                .as_str()
                .map(str::to_string)
                .or_else(|| v.is_integer().then(|| v.to_string()))
            else {
                continue;
            };
            let r = ip_query(&s, query, version)?;
            if (r.kind() != ValueKind::Bool || r.is_true()) && !r.is_none() {
                out.push(r);
            }
        }
        return Ok(Value::from(out));
    }
    let Some(s) = value.as_str() else {
        if value.is_none() || value.kind() == ValueKind::Bool {
            return Ok(Value::from(false));
        }
        return Err(filter_err(
            name,
            format!("{} is not a valid IP address or network", text(value)?),
        ));
    };
    ip_query(s, query, version)
}

fn ipaddr(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("ipaddr", args, &["query", "version", "alias"])?;
    let q = a.str_or(0, "")?;
    let v = a.int_opt(1)?.map(|v| v as u8);
    ip_filter("ipaddr", &value, &q, v)
}

fn ipv4(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("ipv4", args, &["query"])?;
    let q = a.str_or(0, "")?;
    if q == "ipv6" || q == "ipv4" {
        return ip_filter("ipv4", &value, &q, None);
    }
    ip_filter("ipv4", &value, &q, Some(4))
}

fn ipv6(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("ipv6", args, &["query"])?;
    let q = a.str_or(0, "")?;
    if q == "ipv6" {
        return ip_filter("ipv6", &value, "ipv6", None);
    }
    ip_filter("ipv6", &value, &q, Some(6))
}

/// `ipwrap`: IPv6 addresses in brackets; anything else as it is.
fn ipwrap(value: Value) -> Result<Value, Error> {
    let wrap = |v: &Value| -> Value {
        match v.as_str().and_then(parse_net) {
            Some(IpNet::V6(_)) => {
                ip_query(v.as_str().unwrap_or(""), "wrap", None).unwrap_or_else(|_| v.clone())
            }
            _ => v.clone(),
        }
    };
    if is_sequence(&value) {
        return Ok(Value::from(
            items(&value)?.iter().map(wrap).collect::<Vec<_>>(),
        ));
    }
    Ok(wrap(&value))
}

/// `ipsubnet(query='', index=None)`: with a prefix length, how many subnets
/// of it the network holds, or (with an index) the index-th of them; with an
/// address, the smallest... as Ansible's basic forms.
fn ipsubnet(value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let a = Args::bind("ipsubnet", args, &["query", "index"])?;
    let s = text(&value)?;
    let Some(net) = parse_net(&s) else {
        return Ok(Value::from(false));
    };
    let q = a.str_or(0, "")?;
    if q.is_empty() {
        return Ok(Value::from(net.trunc().to_string()));
    }
    if let Ok(prefix) = q.parse::<u8>() {
        if prefix < net.prefix_len() || prefix > net.max_prefix_len() {
            return Ok(Value::from(false));
        }
        let count_bits = (prefix - net.prefix_len()) as u32;
        match a.int_opt(1)? {
            None => Ok(Value::from(if count_bits >= 63 {
                i64::MAX
            } else {
                1i64 << count_bits
            })),
            Some(i) => {
                let subs: Vec<IpNet> = match net.subnets(prefix) {
                    Ok(it) => {
                        let total = if count_bits >= 20 {
                            None
                        } else {
                            Some(1i64 << count_bits)
                        };
                        let idx = if i < 0 {
                            total.map(|t| t + i).unwrap_or(-1)
                        } else {
                            i
                        };
                        if idx < 0 {
                            return Ok(Value::from(false));
                        }
                        it.skip(idx as usize).take(1).collect()
                    }
                    Err(_) => Vec::new(),
                };
                Ok(subs
                    .first()
                    .map_or(Value::from(false), |n| Value::from(n.to_string())))
            }
        }
    } else if let Some(sup) = parse_net(&q) {
        // the position of `value` (a subnet) within `query` (a larger network)
        if !sup.contains(&net) {
            return Ok(Value::from(false));
        }
        let size = |n: &IpNet| -> u128 {
            match n {
                IpNet::V4(v) => u32::from(v.network()) as u128,
                IpNet::V6(v) => u128::from(v.network()),
            }
        };
        let step_bits = (net.max_prefix_len() - net.prefix_len()) as u32;
        let pos = (size(&net) - size(&sup)) >> step_bits;
        Ok(Value::from((pos + 1) as i64))
    } else {
        Err(filter_err("ipsubnet", format!("invalid query: {q}")))
    }
}

#[cfg(test)]
#[path = "filters_ext_tests.rs"]
mod tests;
