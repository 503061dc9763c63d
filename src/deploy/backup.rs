//! Backups (`opsctl backup`, `backups`, `restore`, and the backup lines of
//! `opsctl status`): roles/backup installs `/usr/local/sbin/opsctl-backup` on the
//! environment's backup host (the first host of group `backup`, else of `db`);
//! these commands run it over their connection and read what it prints. The
//! parsing is pure; [`script`] is the one place that runs it on a host.
//!
//! In the restic repository each backup is one snapshot, tagged `opsctl`,
//! `env:ENV`, `release:ID`, `commit:SHA7` and `files:HOST` for each web host
//! whose files it holds: the database's dump, every web host's `shared/`
//! (without `venvs/`; the backup host copies the others' over SSH first) and
//! `backup.json` ([`Record`]: what was live).

use serde::Deserialize;
use serde_json::Value as Json;

use crate::error::{Error, Exit, Result};
use crate::inventory::Inventory;
use crate::runner::Connections;
use crate::transport::{ConnectionSpec, Output, RemoteCommand, shell_quote};

/// The backup script roles/backup installs.
pub const SCRIPT: &str = "/usr/local/sbin/opsctl-backup";

/// A last good backup older than this needs attention (`opsctl status`).
pub const STALE_SECS: u64 = 86_400;

/// The environment's backup host: the first host of group `backup`, else of `db`.
pub fn backup_host(inventory: &Inventory) -> Option<String> {
    ["backup", "db"]
        .iter()
        .find_map(|g| inventory.group_hosts(g).first().map(|h| h.to_string()))
}

/// The error of an environment without a backup host.
pub fn no_backup_host() -> Error {
    Error::new("this environment has no backup host: no host in group backup or db")
        .hint("add the database host to group db (roles/postgresql), or a host to group backup, set backup_repository and backup_password, then `opsctl provision`")
}

/// What was live when a backup was taken (the first web host's release).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Live {
    #[serde(default)]
    pub release: String,
    #[serde(default)]
    pub commit: String,
    #[serde(default, rename = "ref")]
    pub git_ref: String,
}

impl Live {
    /// The release id, or `none`.
    pub fn release_or_none(&self) -> &str {
        or_none(&self.release)
    }
}

/// What `opsctl-backup run` prints about the snapshot it made.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Made {
    pub snapshot: String,
    pub time: String,
    #[serde(flatten)]
    pub live: Live,
}

/// A snapshot's `backup.json`: what was live when it was taken.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Record {
    pub env: String,
    pub host: String,
    pub time: String,
    #[serde(flatten)]
    pub live: Live,
    #[serde(default)]
    pub run_id: String,
    #[serde(default)]
    pub db_name: String,
    #[serde(default)]
    pub shared: String,
    /// The web hosts' files in the snapshot: `NAME=PATH` separated by spaces.
    #[serde(default)]
    pub web: String,
}

/// One snapshot of `opsctl backups`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub id: String,
    pub time: String,
    pub host: String,
    pub env: String,
    pub release: String,
    pub commit: String,
    /// The web hosts whose `shared/` it holds (its `files:` tags).
    pub files: Vec<String>,
    /// Bytes restored (restic stats, restore-size), when asked for.
    pub size: Option<u64>,
}

impl Snapshot {
    /// The release it was taken with, or `none`.
    pub fn release_or_none(&self) -> &str {
        or_none(&self.release)
    }
}

/// A release id, or `none` for an empty one.
fn or_none(release: &str) -> &str {
    if release.is_empty() { "none" } else { release }
}

/// The last line of `out` that parses as `T` (the script prints one JSON line
/// last; restic's own lines may come before it).
pub fn last_json<T: for<'a> Deserialize<'a>>(out: &str) -> Option<T> {
    out.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
}

/// `opsctl-backup list`: restic's snapshots (a JSON array), then `size ID BYTES`
/// lines. Newest last, as restic lists them.
pub fn parse_list(out: &str) -> std::result::Result<Vec<Snapshot>, String> {
    let mut lines = out.lines();
    let first = lines.next().unwrap_or("").trim();
    let list: Vec<Json> = serde_json::from_str(if first.is_empty() || first == "null" {
        "[]"
    } else {
        first
    })
    .map_err(|e| format!("restic snapshots printed no JSON list: {e}"))?;
    let mut sizes = std::collections::HashMap::new();
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let ["size", id, n] = f.as_slice() {
            sizes.insert(id.to_string(), n.parse::<u64>().ok());
        }
    }
    Ok(list
        .iter()
        .map(|s| {
            let tags: Vec<&str> = s["tags"]
                .as_array()
                .map(|a| a.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            let tag = |k: &str| {
                tags.iter()
                    .find_map(|t| t.strip_prefix(k))
                    .filter(|v| *v != "none")
                    .unwrap_or("")
                    .to_string()
            };
            let id = s["short_id"].as_str().unwrap_or_default().to_string();
            Snapshot {
                size: sizes.get(&id).copied().flatten(),
                id,
                time: short_time(s["time"].as_str().unwrap_or_default()),
                host: s["hostname"].as_str().unwrap_or_default().to_string(),
                env: tag("env:"),
                release: tag("release:"),
                commit: tag("commit:"),
                files: tags
                    .iter()
                    .filter_map(|t| t.strip_prefix("files:"))
                    .map(str::to_string)
                    .collect(),
            }
        })
        .collect())
}

/// restic's `2026-12-04T02:30:00.123456789Z` (or with an offset) to the second:
/// `2026-12-04T02:30:00Z`.
pub fn short_time(t: &str) -> String {
    let (head, zone) = match t
        .find(['Z', '+'])
        .or_else(|| t.rfind('-').filter(|i| *i > 10))
    {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let head = head.split('.').next().unwrap_or(head);
    let zone = if zone == "+00:00" { "Z" } else { zone };
    format!("{head}{zone}")
}

/// One line of `opsctl-backup status` (last-run.json, last-ok.json).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct LastRun {
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub snapshot: String,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub trigger: String,
}

/// The lines `opsctl status` adds to its host script: `backup|{json}` twice
/// (the last run, the last good one) on the backup host.
pub fn status_script() -> String {
    format!(
        "[ -x {SCRIPT} ] && [ -r /etc/opsctl-backup/config ] && {SCRIPT} status 2>/dev/null | sed 's/^/backup|/'\n"
    )
}

/// `opsctl status`'s verdicts on the `backup|` lines (none: not a backup host):
/// the last good backup, attention when it is older than a day or missing, and
/// when the last run failed.
pub fn status_verdicts(lines: &[String], now: u64) -> Vec<(String, bool, String)> {
    if lines.is_empty() {
        return Vec::new();
    }
    let parse = |i: usize| {
        lines
            .get(i)
            .and_then(|l| serde_json::from_str::<LastRun>(l).ok())
            .filter(|r| !r.time.is_empty())
    };
    let (last, good) = (parse(0), parse(1));
    let mut v = Vec::new();
    match &good {
        None => v.push((
            "backup".into(),
            false,
            "no good backup yet: `opsctl backup --env ENV` (the nightly timer makes one too)"
                .into(),
        )),
        Some(g) => {
            let age =
                crate::journal::time::parse_iso(&g.time).map(|ms| now.saturating_sub(ms / 1000));
            let when = age
                .map(crate::journal::time::ago)
                .unwrap_or_else(|| g.time.clone());
            let fresh = age.is_some_and(|a| a <= STALE_SECS);
            v.push((
                "backup".into(),
                fresh,
                if fresh {
                    format!("last good backup {when} (snapshot {}, {})", g.snapshot, g.time)
                } else {
                    format!(
                        "the last good backup is older than a day: {when} (snapshot {}, {}); see `journalctl -u opsctl-backup` or /var/lib/opsctl-backup/",
                        g.snapshot, g.time
                    )
                },
            ));
        }
    }
    if let Some(l) = last.filter(|l| l.result != "ok") {
        v.push((
            "backup run".into(),
            false,
            format!(
                "the last backup ({}, {}) failed: {}",
                l.time,
                if l.trigger.is_empty() {
                    "manual"
                } else {
                    &l.trigger
                },
                l.error.trim()
            ),
        ));
    }
    v
}

/// Runs `opsctl-backup ARGS` on `spec`'s host as root (through `sudo -n` for
/// another login user), with `stdin`.
pub async fn script(
    conns: &Connections,
    spec: &ConnectionSpec,
    args: &[&str],
    stdin: Option<Vec<u8>>,
) -> Result<Output> {
    let conn = conns.get(spec).await.map_err(|e| {
        Error::new(format!("host {}: {e}", spec.host))
            .maybe_hint(e.hint())
            .exit(Exit::Unreachable)
    })?;
    let args: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    let line = format!(
        "if [ \"$(id -u)\" = 0 ]; then S=; else S='sudo -n'; fi; $S {SCRIPT} {}",
        args.join(" ")
    );
    let cmd = RemoteCommand {
        script: line,
        stdin,
        no_become: true,
        ..Default::default()
    };
    conn.run(&cmd).await.map_err(|e| {
        Error::new(format!("host {}: {e}", spec.host))
            .maybe_hint(e.hint())
            .exit(Exit::Unreachable)
    })
}

/// The error of a failed `opsctl-backup` run: its last words, naming the host.
pub fn failed(host: &str, what: &str, out: &Output) -> Error {
    let err = out.stderr_str();
    let said: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = said[said.len().saturating_sub(3)..].join("; ");
    let missing = out.rc == Some(127) || err.contains("opsctl-backup: not found");
    Error::new(format!(
        "host {host}: {what} failed (exit {}): {}",
        out.rc
            .map(|c| c.to_string())
            .unwrap_or_else(|| "signal".into()),
        if tail.is_empty() { "no message" } else { &tail }
    ))
    .hint(if missing || err.contains("/etc/opsctl-backup/config is missing") {
        "set backup_repository (and backup_password in the secrets), then `opsctl provision --env ENV` installs the backups (roles/backup)"
    } else {
        "the backup host's /var/lib/opsctl-backup/ holds the last run's files; `opsctl ssh` to look"
    })
    .exit(Exit::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_with_their_tags_and_sizes() {
        let out = r#"[{"time":"2026-12-04T02:30:00.123456789Z","tree":"x","paths":["/a"],"hostname":"host1","tags":["opsctl","env:prod","release:20261204023000-abc1234","commit:abc1234","files:web1","files:web2"],"id":"f00","short_id":"deadbeef"},{"time":"2026-12-05T03:00:00+00:00","hostname":"host1","tags":["opsctl","env:prod","release:none"],"short_id":"0badcafe"}]
size deadbeef 12345
size 0badcafe x
"#;
        let list = parse_list(out).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[0],
            Snapshot {
                id: "deadbeef".into(),
                time: "2026-12-04T02:30:00Z".into(),
                host: "host1".into(),
                env: "prod".into(),
                release: "20261204023000-abc1234".into(),
                commit: "abc1234".into(),
                files: vec!["web1".into(), "web2".into()],
                size: Some(12345),
            }
        );
        assert_eq!(list[1].release, "");
        assert!(list[1].files.is_empty());
        assert_eq!(list[1].time, "2026-12-05T03:00:00Z");
        assert_eq!(list[1].size, None);
        assert_eq!(parse_list("null\n").unwrap(), vec![]);
        assert!(parse_list("restic: no repository\n").is_err());
    }

    #[test]
    fn status_says_fresh_stale_missing_and_failed() {
        let now = crate::journal::time::parse_iso("2026-12-04T12:00:00Z").unwrap() / 1000;
        let ok = r#"{"time": "2026-12-04T03:15:00Z", "result": "ok", "snapshot": "deadbeef", "error": "", "prune": "ok", "trigger": "timer"}"#;
        let v = status_verdicts(&[ok.into(), ok.into()], now);
        assert_eq!(v.len(), 1);
        assert!(v[0].1, "{v:?}");
        assert!(
            v[0].2.contains("deadbeef") && v[0].2.contains("8h ago"),
            "{v:?}"
        );
        let old = ok.replace("2026-12-04T03", "2026-12-02T03");
        let failed = r#"{"time": "2026-12-04T03:15:00Z", "result": "failed", "snapshot": "", "error": "pg_dump of database app failed", "prune": "", "trigger": "timer"}"#;
        let v = status_verdicts(&[failed.into(), old], now);
        assert_eq!(v.len(), 2);
        assert!(!v[0].1 && v[0].2.contains("older than a day"), "{v:?}");
        assert!(
            !v[1].1 && v[1].2.contains("pg_dump of database app failed"),
            "{v:?}"
        );
        let v = status_verdicts(&["{}".into(), "{}".into()], now);
        assert!(!v[0].1 && v[0].2.contains("no good backup yet"), "{v:?}");
        assert!(status_verdicts(&[], now).is_empty());
    }

    #[test]
    fn made_is_the_last_json_line() {
        let out = "repository opened\n{\"snapshot\": \"deadbeef\", \"time\": \"t\", \"release\": \"r\", \"commit\": \"c\", \"ref\": \"main\", \"host\": \"host1\"}\n";
        let m: Made = last_json(out).unwrap();
        assert_eq!(
            (m.snapshot.as_str(), m.live.git_ref.as_str()),
            ("deadbeef", "main")
        );
        assert!(last_json::<Made>("nothing\n").is_none());
    }
}
