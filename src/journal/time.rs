//! Times as the journal writes and shows them: UTC ISO 8601, run ids, "3m ago".

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a civil date (inverse of [`civil`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parts(ms: u64) -> (i64, u32, u32, u64, u64, u64) {
    let secs = ms / 1000;
    let (y, m, d) = civil((secs / 86_400) as i64);
    let s = secs % 86_400;
    (y, m, d, s / 3600, (s / 60) % 60, s % 60)
}

/// `2026-01-05T14:30:12.345Z`
pub fn iso(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = parts(ms);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        ms % 1000
    )
}

/// `2026-01-05 14:30:12` (UTC), for tables.
pub fn short(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = parts(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `20260105-143012`: the time part of a run id (sorts in time order).
pub fn stamp(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = parts(ms);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|+00:00]` (UTC) into ms since the epoch.
pub fn parse_iso(s: &str) -> Option<u64> {
    let s = s.trim();
    let (date, time) = s.split_once(['T', ' '])?;
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    let time = time
        .trim_end_matches('Z')
        .trim_end_matches("+00:00")
        .trim_end_matches("+0000");
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut tp = hms.split(':');
    let h: u64 = tp.next()?.parse().ok()?;
    let mi: u64 = tp.next()?.parse().ok()?;
    let sec: u64 = tp.next().unwrap_or("0").parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let ms: u64 = format!("{:0<3}", &frac[..frac.len().min(3)])
        .parse()
        .unwrap_or(0);
    let days = days_from_civil(y, m, d);
    if days < 0 {
        return None;
    }
    Some(((days as u64 * 86_400) + h * 3600 + mi * 60 + sec) * 1000 + ms)
}

/// `850ms`, `12.3s`, `4m05s`, `2h03m`.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// `just now`, `5m ago`, `3h ago`, `2d ago`.
pub fn ago(secs: u64) -> String {
    match secs {
        0..60 => "just now".into(),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// A duration as people write it on the command line: `90s`, `30m`, `36h`,
/// `7d`, `2w` or plain seconds, in seconds; negative (`-1h`) only when
/// `negative` allows it. The one parser of `--since`, `--lifetime`,
/// `--keep-connections` and `previews extend`.
pub fn parse_seconds(s: &str, negative: bool) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) if negative => (true, b),
        Some(_) => return Err(format!("'{s}': a duration cannot be negative here")),
        None => (false, t.as_str()),
    };
    let split = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    let (num, unit) = body.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration: write e.g. 90s, 30m, 1h or 7d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("'{s}': the unit must be s, m, h, d or w (e.g. 1h)")),
    };
    let secs = n
        .checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too long"))?;
    Ok(if neg { -secs } else { secs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_written() {
        assert_eq!(parse_seconds("7d", false), Ok(604_800));
        assert_eq!(parse_seconds("36h", false), Ok(129_600));
        assert_eq!(parse_seconds("90m", false), Ok(5400));
        assert_eq!(parse_seconds("5min", false), Ok(300));
        assert_eq!(parse_seconds("600", false), Ok(600));
        assert_eq!(parse_seconds("2w", false), Ok(1_209_600));
        assert_eq!(parse_seconds("-1h", true), Ok(-3600));
        assert!(parse_seconds("-1h", false).is_err());
        assert!(parse_seconds("3y", false).unwrap_err().contains("unit"));
        assert!(parse_seconds("d", false).is_err());
        assert!(parse_seconds("99999999999999999w", false).is_err());
    }

    #[test]
    fn iso_round_trips() {
        // 2024-02-29T23:59:58.5Z, a leap day.
        let ms = 1_709_251_198_500;
        assert_eq!(iso(ms), "2024-02-29T23:59:58.500Z");
        assert_eq!(parse_iso(&iso(ms)), Some(ms));
        assert_eq!(parse_iso("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_iso("2026-01-05 14:30:12"),
            parse_iso("2026-01-05T14:30:12+00:00")
        );
        assert_eq!(stamp(ms), "20240229-235958");
        assert_eq!(parse_iso("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_iso("yesterday"), None);
    }

    #[test]
    fn human_durations() {
        assert_eq!(duration(12), "12ms");
        assert_eq!(duration(12_340), "12.3s");
        assert_eq!(duration(245_000), "4m05s");
        assert_eq!(ago(30), "just now");
        assert_eq!(ago(7200), "2h ago");
    }
}
