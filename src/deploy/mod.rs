//! The pure parts of `opsctl deploy`, `rollback` and `releases`: release ids, the
//! release log on each host, the deploy lock's record, and the choice of a
//! rollback target. Nothing here touches a host but [`hosts`], which the commands drive.
//!
//! On a host, under `app_root`:
//! - `releases/<id>/`: one directory per release, `id` = UTC `YYYYMMDDHHMMSS-<sha7>`;
//! - `current`: a symlink to the live release (switched with `ln -sfn` + `mv -T`);
//! - `releases.log`: JSON lines, one per event ([`ReleaseRecord`]); the last record
//!   of an id gives its state;
//! - `.deploy.lock/holder`: the deploy lock ([`LockRecord`]), a directory made with
//!   `mkdir` (atomic).

use serde::{Deserialize, Serialize};

pub mod backup;
pub mod hooks;
pub mod hosts;
pub mod lock;
pub mod maintenance;
pub mod phases;
pub mod preview;
pub mod remote;
pub mod rollout;
pub mod ship;
pub mod strays;

/// Length of the short commit in a release id.
pub const SHORT_SHA: usize = 7;

/// A release's id: `YYYYMMDDHHMMSS-<first 7 hex digits of the commit>` (UTC), so
/// ids sort by time.
pub fn release_id(unix_secs: u64, commit: &str) -> String {
    let (y, mo, d, h, mi, s) = utc(unix_secs);
    let short: String = commit.chars().take(SHORT_SHA).collect();
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}-{short}")
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn iso_time(unix_secs: u64) -> String {
    let (y, mo, d, h, mi, s) = utc(unix_secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Is this a well-formed release id (also used to refuse path tricks in `--to`)?
pub fn is_release_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 15 + SHORT_SHA
        && b[..14].iter().all(u8::is_ascii_digit)
        && b[14] == b'-'
        && b[15..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// A 40 (sha1) or 64 (sha256) hex digit commit id.
pub fn is_commit(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// (year, month, day, hour, minute, second) of a Unix time, UTC.
fn utc(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The result of a release, as the log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Deployed and healthy (or the target of a rollback).
    Ok,
    /// A step or the health check failed; `current` went back to the previous release.
    Bad,
    /// Was live, then a rollback left it.
    RolledBack,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Bad => "bad",
            Outcome::RolledBack => "rolled-back",
        }
    }
}

/// One line of `releases.log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRecord {
    pub id: String,
    pub commit: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub user: String,
    pub time: String,
    pub result: Outcome,
    /// The step that failed (with `bad`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// How the result was reached when it was not by the deploy itself (e.g. the
    /// health check of a release whose deploy died after the switch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Parses `releases.log`. A line that is not a record (a crash mid-write, a hand
/// edit) is reported with its number and skipped: the log is history, not config.
pub fn parse_log(text: &str) -> (Vec<ReleaseRecord>, Vec<String>) {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ReleaseRecord>(line) {
            Ok(r) => records.push(r),
            Err(e) => problems.push(format!("releases.log:{}: {e}", i + 1)),
        }
    }
    (records, problems)
}

/// What is known of one release on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    pub id: String,
    /// Its directory still exists (not pruned by keep_releases).
    pub present: bool,
    pub live: bool,
    /// The last record of this id (deploy, failure or rollback).
    pub last: Option<ReleaseRecord>,
    /// The record of its deploy (the first one: who deployed it, when, which ref).
    pub deployed: Option<ReleaseRecord>,
}

impl Release {
    pub fn outcome(&self) -> Option<Outcome> {
        self.last.as_ref().map(|r| r.result)
    }
}

/// Every release of a host, oldest first: those in the log and those on disk.
pub fn releases(
    records: &[ReleaseRecord],
    present: &[String],
    current: Option<&str>,
) -> Vec<Release> {
    let mut ids: Vec<String> = records
        .iter()
        .map(|r| r.id.clone())
        .chain(present.iter().filter(|p| is_release_id(p)).cloned())
        .collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .map(|id| Release {
            present: present.contains(&id),
            live: current == Some(id.as_str()),
            last: records.iter().rev().find(|r| r.id == id).cloned(),
            deployed: records.iter().find(|r| r.id == id).cloned(),
            id,
        })
        .collect()
}

/// The release a rollback goes to. With `to`: that release, if it is on disk, not
/// live and not bad. Without: the newest release older than the live one whose
/// last result is `ok` (bad and rolled-back releases are skipped) and still on disk.
pub fn rollback_target(releases: &[Release], to: Option<&str>) -> Result<String, String> {
    let live = releases.iter().find(|r| r.live);
    if let Some(to) = to {
        let Some(r) = releases.iter().find(|r| r.id == to) else {
            return Err(format!(
                "release {to} is unknown here (`opsctl releases` lists them)"
            ));
        };
        if r.live {
            return Err(format!("release {to} is already live"));
        }
        if !r.present {
            return Err(format!(
                "release {to} was pruned (keep_releases): its directory is gone"
            ));
        }
        if r.outcome() == Some(Outcome::Bad) {
            let step = r
                .last
                .as_ref()
                .and_then(|l| l.step.clone())
                .unwrap_or_default();
            return Err(format!(
                "release {to} is marked bad (failed at {step}); deploy its ref again instead"
            ));
        }
        return Ok(to.to_string());
    }
    let Some(live) = live else {
        return Err("no release is live (no `current` link): nothing to roll back from".into());
    };
    releases
        .iter()
        .rfind(|r| r.id < live.id && r.present && r.outcome() == Some(Outcome::Ok))
        .map(|r| r.id.clone())
        .ok_or_else(|| {
            format!(
                "no good release older than the live one ({}) is left to roll back to",
                live.id
            )
        })
}

/// Who holds a deploy lock: `.deploy.lock/holder` on each host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub user: String,
    pub time: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub pid: u32,
    /// What the command does: deploy, rollback or initdata.
    pub action: String,
    /// Unique per lock taking: only the holder removes its own lock.
    pub token: String,
    /// The controller that took it (`/etc/machine-id`) and its boot id, with
    /// `pid` and the process's start time: whether the holder is still alive
    /// ([`lock::holder_state`]). Empty in locks of older versions.
    #[serde(default)]
    pub machine: String,
    #[serde(default)]
    pub boot: String,
    #[serde(default)]
    pub start: u64,
    /// The release a deploy builds and switches to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release: String,
}

impl LockRecord {
    /// "deploy in progress on HOST since TIME by USER (ref REF)".
    pub fn describe(&self, host: &str) -> String {
        format!(
            "{} in progress on {host} since {} by {} (ref {})",
            self.action, self.time, self.user, self.git_ref
        )
    }

    /// "deploy of release ID (ref REF) by USER since TIME".
    pub fn doing(&self) -> String {
        let release = if self.release.is_empty() {
            String::new()
        } else {
            format!(" of release {}", self.release)
        };
        format!(
            "{}{release} (ref {}) by {} since {}",
            self.action, self.git_ref, self.user, self.time
        )
    }
}

/// A live release that nothing vouches for, to be health-checked before anything
/// else happens: then logged `ok`, or left for `back` (logged `bad`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub id: String,
    /// Its last record is not `ok` (unlogged: its deploy died after the switch).
    pub log: bool,
    /// The newest good release older than it, on disk (what a rollback picks).
    pub back: Option<String>,
}

/// The live release must be checked when its last record is not `ok` (a deploy
/// died between the switch and the log), or when the command that held the
/// lock died (`after_dead_holder`: a rollback switches before it logs).
pub fn unfinished(releases: &[Release], after_dead_holder: bool) -> Option<Unfinished> {
    let live = releases.iter().find(|r| r.live)?;
    let logged_ok = live.outcome() == Some(Outcome::Ok);
    if logged_ok && !after_dead_holder {
        return None;
    }
    Some(Unfinished {
        id: live.id.clone(),
        log: !logged_ok,
        back: rollback_target(releases, None).ok(),
    })
}

/// What a command that takes over a dead command's lock does first (see
/// [`unfinished`]), in words: `u` is the live release to confirm, if any.
pub fn takeover_plan(u: Option<&Unfinished>) -> String {
    let Some(u) = u else {
        return "finds nothing to finish (no release is live)".into();
    };
    let log = if u.log { "log it ok" } else { "keep it" };
    match &u.back {
        Some(b) => format!(
            "first health-checks the live release {}: healthy, {log}; failing, switch back to {b} and log {} bad",
            u.id, u.id
        ),
        None => format!(
            "first health-checks the live release {}: healthy, {log}; failing, stop the programs (no good release to go back to) and log {} bad",
            u.id, u.id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, result: Outcome) -> ReleaseRecord {
        ReleaseRecord {
            id: id.into(),
            commit: "c".repeat(40),
            git_ref: "main".into(),
            user: "u".into(),
            time: "t".into(),
            result,
            step: (result == Outcome::Bad).then(|| "migrate".into()),
            note: None,
        }
    }

    #[test]
    fn ids_and_times_are_utc() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(release_id(0, sha), "19700101000000-0123456");
        // 2024-02-29T23:59:59Z, a leap day.
        assert_eq!(release_id(1_709_251_199, sha), "20240229235959-0123456");
        assert_eq!(iso_time(1_709_251_200), "2024-03-01T00:00:00Z");
        assert_eq!(iso_time(4_102_444_800), "2100-01-01T00:00:00Z");
        assert!(is_release_id("20240229235959-0123456"));
        assert!(!is_release_id("../../etc-0123456"));
        assert!(!is_release_id("20240229235959-012345"));
        assert!(is_commit(sha));
        assert!(!is_commit("0123456"));
    }

    #[test]
    fn ids_sort_by_time() {
        let a = release_id(1_700_000_000, "ffffffffffffffffffffffffffffffffffffffff");
        let b = release_id(1_700_000_001, "0000000000000000000000000000000000000000");
        assert!(a < b);
    }

    #[test]
    fn log_round_trip_and_bad_lines() {
        let r = rec("20240101000000-aaaaaaa", Outcome::Bad);
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains(r#""ref":"main""#) && line.contains(r#""result":"bad""#));
        let text = format!(
            "{line}\nnot json\n\n{}\n",
            r#"{"id":"x","commit":"c","ref":"r","user":"u","time":"t","result":"rolled-back"}"#
        );
        let (records, problems) = parse_log(&text);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0], r);
        assert_eq!(records[1].result, Outcome::RolledBack);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("releases.log:2:"), "{problems:?}");
        // Unknown keys are errors, not ignored.
        let (_, p) = parse_log(
            r#"{"id":"x","commit":"c","ref":"r","user":"u","time":"t","result":"ok","extra":1}"#,
        );
        assert_eq!(p.len(), 1);
    }

    const A: &str = "20240101000000-aaaaaaa";
    const B: &str = "20240102000000-bbbbbbb";
    const C: &str = "20240103000000-ccccccc";
    const D: &str = "20240104000000-ddddddd";

    #[test]
    fn rollback_skips_bad_and_rolled_back_releases() {
        let log = vec![
            rec(A, Outcome::Ok),
            rec(B, Outcome::Ok),
            rec(C, Outcome::Bad),
            rec(D, Outcome::Bad),
        ];
        let present: Vec<String> = [A, B, C, D].iter().map(|s| s.to_string()).collect();
        let rs = releases(&log, &present, Some(B));
        assert_eq!(rs.len(), 4);
        assert!(rs[1].live);
        assert_eq!(rollback_target(&rs, None).unwrap(), A);
        // B rolled back to A: from A there is nothing older.
        let mut log2 = log.clone();
        log2.push(rec(B, Outcome::RolledBack));
        let rs = releases(&log2, &present, Some(A));
        assert_eq!(rs[1].outcome(), Some(Outcome::RolledBack));
        assert_eq!(rs[1].deployed.as_ref().unwrap().result, Outcome::Ok);
        assert!(
            rollback_target(&rs, None)
                .unwrap_err()
                .contains("no good release")
        );
        // --to: any present, non-bad, non-live release, also a newer one.
        assert_eq!(rollback_target(&rs, Some(B)).unwrap(), B);
        assert!(rollback_target(&rs, Some(C)).unwrap_err().contains("bad"));
        assert!(
            rollback_target(&rs, Some(A))
                .unwrap_err()
                .contains("already live")
        );
        assert!(
            rollback_target(&rs, Some("20990101000000-0000000"))
                .unwrap_err()
                .contains("unknown")
        );
    }

    #[test]
    fn rollback_skips_pruned_releases_and_needs_a_live_one() {
        let log = vec![
            rec(A, Outcome::Ok),
            rec(B, Outcome::Ok),
            rec(C, Outcome::Ok),
        ];
        let present: Vec<String> = [B, C].iter().map(|s| s.to_string()).collect();
        let rs = releases(&log, &present, Some(C));
        assert_eq!(rollback_target(&rs, None).unwrap(), B);
        assert!(
            rollback_target(&rs, Some(A))
                .unwrap_err()
                .contains("pruned")
        );
        let rs = releases(&log, &present, Some(B));
        assert!(rollback_target(&rs, None).is_err());
        let rs = releases(&log, &present, None);
        assert!(
            rollback_target(&rs, None)
                .unwrap_err()
                .contains("no release is live")
        );
    }

    #[test]
    fn lock_message() {
        let l = LockRecord {
            user: "alice@laptop".into(),
            time: "2024-01-01T00:00:00Z".into(),
            git_ref: "staging".into(),
            pid: 42,
            action: "deploy".into(),
            token: "t".into(),
            machine: String::new(),
            boot: String::new(),
            start: 0,
            release: A.into(),
        };
        assert_eq!(
            l.describe("web1"),
            "deploy in progress on web1 since 2024-01-01T00:00:00Z by alice@laptop (ref staging)"
        );
        assert_eq!(
            l.doing(),
            format!(
                "deploy of release {A} (ref staging) by alice@laptop since 2024-01-01T00:00:00Z"
            )
        );
        // A lock of an older opsctl (no machine, no release) still reads.
        let old: LockRecord = serde_json::from_str(
            r#"{"user":"u","time":"t","ref":"r","pid":1,"action":"deploy","token":"x"}"#,
        )
        .unwrap();
        assert!(old.machine.is_empty() && old.release.is_empty());
    }

    #[test]
    fn an_unlogged_live_release_is_unfinished() {
        let present: Vec<String> = [A, B, C].iter().map(|s| s.to_string()).collect();
        // C switched, never logged: check it, B to go back to.
        let log = vec![rec(A, Outcome::Ok), rec(B, Outcome::Ok)];
        let rs = releases(&log, &present, Some(C));
        assert_eq!(
            unfinished(&rs, false),
            Some(Unfinished {
                id: C.into(),
                log: true,
                back: Some(B.into())
            })
        );
        // B live and logged ok: nothing, unless its lock holder died (a rollback
        // switches before it logs): then checked, not logged again.
        let rs = releases(&log, &present, Some(B));
        assert_eq!(unfinished(&rs, false), None);
        assert_eq!(
            unfinished(&rs, true),
            Some(Unfinished {
                id: B.into(),
                log: false,
                back: Some(A.into())
            })
        );
        // Nothing live, nothing to finish; the first release has nothing to go back to.
        assert_eq!(unfinished(&releases(&log, &present, None), false), None);
        let rs = releases(&[], &present, Some(A));
        assert_eq!(unfinished(&rs, false).unwrap().back, None);
    }

    #[test]
    fn takeover_plan_names_the_release_and_where_it_would_go_back() {
        let u = Unfinished {
            id: "20260101000000-bbbbbbb".into(),
            log: true,
            back: Some("20250101000000-aaaaaaa".into()),
        };
        let said = takeover_plan(Some(&u));
        assert!(
            said.contains("health-checks the live release 20260101000000-bbbbbbb"),
            "{said}"
        );
        assert!(said.contains("log it ok"), "{said}");
        assert!(
            said.contains("switch back to 20250101000000-aaaaaaa"),
            "{said}"
        );
        let u = Unfinished {
            log: false,
            back: None,
            ..u
        };
        let said = takeover_plan(Some(&u));
        assert!(
            said.contains("keep it") && said.contains("stop the programs"),
            "{said}"
        );
        assert!(takeover_plan(None).contains("nothing to finish"));
    }
}
