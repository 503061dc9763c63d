//! What a run shows: a line per task result worth seeing (changed, failed; every
//! result with -v), diffs with --diff, commands with -v and their output with -vv,
//! then the recap. With `--output json`: one JSON object per task result and a
//! final recap object. `no_log` results show no detail at all.

use std::collections::BTreeMap;
use std::sync::Mutex;

use indexmap::IndexMap;
use serde_json::{Value as Json, json};

use crate::modules::Diff;
use crate::printer::{Line, Printer, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

/// One task's result on one host (one loop item, or the whole task).
pub struct TaskReport<'a> {
    pub host: &'a str,
    pub task: &'a str,
    pub role: Option<&'a str>,
    pub location: &'a crate::location::Location,
    pub status: Status,
    pub item: Option<String>,
    pub msg: Option<&'a str>,
    pub diffs: &'a [Diff],
    pub duration_ms: u128,
    pub no_log: bool,
    pub ignored: bool,
    pub check: bool,
    /// The message is for the reader (debug): show it even when nothing changed.
    pub print: bool,
    pub trace: &'a [(String, crate::transport::Output)],
    /// The module's result (as `register` has it): given to an ad hoc reporter.
    pub result: Option<&'a Json>,
}

pub use crate::redact::COUNT_NAMES;

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Counts {
    pub ok: u64,
    pub changed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub unreachable: u64,
    pub rescued: u64,
    pub ignored: u64,
}

/// Collects counts per host and prints results as they come.
pub struct Reporter<'p> {
    pub printer: &'p Printer,
    pub show_diff: bool,
    counts: Mutex<BTreeMap<String, Counts>>,
    order: Mutex<Vec<String>>,
    /// Hosts whose play a `meta` task ended early, and why (shown in the recap).
    ended: Mutex<BTreeMap<String, String>>,
    /// The run journal: gets every event, whatever the output format.
    journal: Option<std::sync::Arc<crate::journal::Journal>>,
    /// One ad hoc task (`opsctl exec -m`): results as Ansible's ad hoc
    /// command prints them (`HOST | CHANGED >>` and the output below), no
    /// play header, no recap.
    ad_hoc: bool,
}

impl<'p> Reporter<'p> {
    pub fn new(printer: &'p Printer, show_diff: bool) -> Self {
        Reporter {
            printer,
            show_diff,
            counts: Mutex::new(BTreeMap::new()),
            order: Mutex::new(Vec::new()),
            ended: Mutex::new(BTreeMap::new()),
            journal: None,
            ad_hoc: false,
        }
    }

    /// Whether task results ([`TaskReport::result`]) are wanted (ad hoc).
    pub fn wants_results(&self) -> bool {
        self.ad_hoc
    }

    /// Prints results as an ad hoc command does (see [`Reporter::ad_hoc`]'s field).
    pub fn ad_hoc(mut self) -> Self {
        self.ad_hoc = true;
        self
    }

    /// Sends every play, task result, warning and recap to `journal` too.
    pub fn with_journal(
        mut self,
        journal: Option<std::sync::Arc<crate::journal::Journal>>,
    ) -> Self {
        self.journal = journal;
        self
    }

    fn journal(&self, event: &Json) {
        if let Some(j) = &self.journal {
            j.event(event.clone());
        }
    }

    pub fn play(&self, name: &str, pattern: &str, hosts: usize) {
        self.journal(&json!({"type": "play", "name": name, "hosts": pattern, "count": hosts}));
        if self.ad_hoc && !self.printer.is_json() {
            return;
        }
        if !self.printer.is_json() {
            self.printer.line(&self.printer.paint(
                &format!(
                    "PLAY {name} ({pattern}: {hosts} host{})",
                    if hosts == 1 { "" } else { "s" }
                ),
                Style::Bold,
            ));
        } else {
            self.printer
                .json(&json!({"type": "play", "name": name, "hosts": pattern, "count": hosts}));
        }
    }

    pub fn count(&self, host: &str, f: impl FnOnce(&mut Counts)) {
        let mut c = self.counts.lock().unwrap();
        if !c.contains_key(host) {
            self.order.lock().unwrap().push(host.to_string());
        }
        f(c.entry(host.to_string()).or_default());
    }

    /// Registers the hosts of a play in inventory order (for the recap).
    pub fn hosts(&self, hosts: &[String]) {
        for h in hosts {
            self.count(h, |_| {});
        }
    }

    pub fn task(&self, r: &TaskReport) {
        // A loop's items are shown one by one but counted once, as Ansible does.
        if r.item.is_none() {
            self.count_status(r.host, r.status, r.ignored);
        }
        let p = self.printer;
        if p.is_json() || self.journal.is_some() {
            let mut e = json!({
                "type": "task", "host": r.host, "task": r.task, "role": r.role,
                "file": r.location.file.display().to_string(), "line": r.location.line,
                "status": r.status, "changed": r.status == Status::Changed, "duration_ms": r.duration_ms,
            });
            if let Some(item) = &r.item {
                e["item"] = json!(if r.no_log {
                    "(hidden by no_log)"
                } else {
                    item.as_str()
                });
            }
            if r.ignored {
                e["ignored"] = json!(true);
            }
            if let Some(m) = r.msg {
                e["msg"] = json!(if r.no_log { "(hidden by no_log)" } else { m });
            }
            if self.show_diff && !r.diffs.is_empty() && !r.no_log {
                e["diff"] = Json::Array(
                    r.diffs
                        .iter()
                        .map(|d| json!({"label": d.label, "unified": d.unified()}))
                        .collect(),
                );
            }
            self.journal(&e);
            if p.is_json() {
                p.json(&e);
                return;
            }
        }
        if self.ad_hoc {
            self.ad_hoc_result(r);
        }
        let interesting = !self.ad_hoc
            && (matches!(
                r.status,
                Status::Changed | Status::Failed | Status::Unreachable
            ) || r.print
                || p.verbosity >= 1);
        if interesting {
            let (word, style) = match r.status {
                Status::Ok => ("ok", Style::Ok),
                Status::Changed if r.check => ("would change", Style::Changed),
                Status::Changed => ("changed", Style::Changed),
                Status::Failed if r.ignored => ("failed (ignored)", Style::Changed),
                Status::Failed => ("FAILED", Style::Failed),
                Status::Skipped => ("skipped", Style::Dim),
                Status::Unreachable => ("UNREACHABLE", Style::Unreachable),
            };
            let mut line = Line::new()
                .data(r.host)
                .word(" | ")
                .styled(word, style)
                .word(" | ");
            if let Some(role) = r.role {
                line = line.data(role).word(" : ");
            }
            line = line.data(r.task);
            line = match (&r.item, r.no_log) {
                (Some(_), true) => line.word(" (item hidden by no_log)"),
                (Some(i), false) => line.word(" (item=").data(i.as_str()).word(")"),
                (None, _) => line,
            };
            line = line.word(" (").data(r.location.to_string()).word(")");
            if let Some(m) = r.msg.filter(|_| {
                matches!(r.status, Status::Failed | Status::Unreachable)
                    || r.print
                    || p.verbosity >= 1
            }) {
                line = line.word(": ");
                line = if r.no_log {
                    line.word("(output hidden by no_log)")
                } else {
                    line.data(m)
                };
            }
            p.result_line(&line);
        }
        if r.no_log {
            return;
        }
        if self.show_diff {
            for d in r.diffs {
                for l in d.unified().lines() {
                    let style = if l.starts_with('+') {
                        Style::Ok
                    } else if l.starts_with('-') {
                        Style::Failed
                    } else {
                        Style::Dim
                    };
                    p.result(&format!("    {}", p.paint(l, style)));
                }
            }
        }
        for (cmd, out) in r.trace {
            p.verbose(
                1,
                &format!("    {} $ {}", r.host, cmd.lines().next().unwrap_or("")),
            );
            // -vvvv: the whole script sent
            for l in cmd.lines().skip(1) {
                p.verbose(4, &format!("      > {l}"));
            }
            if p.verbosity >= 2 {
                for l in out.stdout_str().lines() {
                    p.verbose(2, &format!("      | {l}"));
                }
                for l in out.stderr_str().lines() {
                    p.verbose(2, &format!("      ! {l}"));
                }
                p.verbose(
                    2,
                    &format!(
                        "      rc={}",
                        out.rc
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "signal".into())
                    ),
                );
            }
        }
    }

    /// As `ansible -m` prints a result: `HOST | CHANGED | rc=0 >>` and the
    /// output below it for a command, else `HOST | SUCCESS => {result}`.
    fn ad_hoc_result(&self, r: &TaskReport) {
        let p = self.printer;
        let (word, style) = match r.status {
            Status::Ok => ("SUCCESS", Style::Ok),
            Status::Changed if r.check => ("CHANGED (check mode)", Style::Changed),
            Status::Changed => ("CHANGED", Style::Changed),
            Status::Failed => ("FAILED!", Style::Failed),
            Status::Skipped => ("SKIPPED", Style::Dim),
            Status::Unreachable => ("UNREACHABLE!", Style::Unreachable),
        };
        let line = Line::new().data(r.host).word(" | ").styled(word, style);
        if r.no_log {
            p.result_line(&line.word(" => (output hidden by no_log)"));
            return;
        }
        let result = r.result.and_then(Json::as_object);
        let text = |k: &str| result.and_then(|o| o.get(k)).and_then(Json::as_str);
        let body: Vec<String> = match result.and_then(|o| o.get("rc")) {
            Some(rc) if text("stdout").is_some() => {
                p.result_line(&line.word(" | rc=").data(rc.to_string()).word(" >>"));
                let mut lines: Vec<String> = Vec::new();
                for k in ["stdout", "stderr"] {
                    lines.extend(text(k).unwrap_or("").lines().map(str::to_string));
                }
                if r.status == Status::Failed
                    && let Some(m) = r.msg.filter(|m| !m.is_empty())
                {
                    lines.push(m.to_string());
                }
                lines
            }
            _ => {
                let mut shown = result.cloned().unwrap_or_default();
                if let Some(m) = r.msg.filter(|m| !m.is_empty()) {
                    shown.entry("msg").or_insert_with(|| Json::from(m));
                }
                shown.insert("changed".into(), Json::Bool(r.status == Status::Changed));
                // said by the status word already
                for k in ["failed", "skipped"] {
                    if shown.get(k) == Some(&Json::Bool(false)) {
                        shown.remove(k);
                    }
                }
                p.result_line(&line.word(" => {"));
                let pretty = serde_json::to_string_pretty(&Json::Object(shown)).unwrap_or_default();
                let inner: Vec<&str> = pretty.lines().collect();
                let mut lines: Vec<String> = inner
                    .iter()
                    .skip(1)
                    .take(inner.len().saturating_sub(2))
                    .map(|l| l.to_string())
                    .collect();
                lines.push("}".into());
                lines
            }
        };
        for l in body {
            p.result_line(&Line::new().data(l));
        }
    }

    /// A host starts a task (`None`: the host is done): updates its live line.
    pub fn busy(&self, host: &str, task: Option<&str>) {
        self.printer.host_busy(host, task);
    }

    /// Counts one task's result in the recap.
    pub fn count_status(&self, host: &str, status: Status, ignored: bool) {
        self.count(host, |c| match status {
            Status::Ok => c.ok += 1,
            Status::Changed => {
                c.ok += 1;
                c.changed += 1
            }
            Status::Failed if ignored => {
                c.ok += 1;
                c.ignored += 1
            }
            Status::Failed => c.failed += 1,
            Status::Skipped => c.skipped += 1,
            Status::Unreachable => c.unreachable += 1,
        });
    }

    /// A failure that a block's `rescue` handled: rescued, not failed.
    pub fn rescued(&self, host: &str) {
        self.journal(&json!({"type": "rescued", "host": host}));
        self.count(host, |c| {
            c.failed = c.failed.saturating_sub(1);
            c.rescued += 1;
        });
    }

    /// A `meta` task ended a play early for `host` (`why`: which, where): the
    /// recap says so after the host's counts.
    pub fn ended(&self, host: &str, why: &str) {
        self.journal(&json!({"type": "ended", "host": host, "why": why}));
        self.count(host, |_| {});
        self.ended
            .lock()
            .unwrap()
            .insert(host.to_string(), why.to_string());
    }

    pub fn warn(&self, host: &str, msg: &str) {
        self.journal(&json!({"type": "warning", "host": host, "msg": msg}));
        if self.printer.is_json() {
            self.printer
                .json(&json!({"type": "warning", "host": host, "msg": msg}));
        } else {
            self.printer.warn(&format!("{host}: {msg}"));
        }
    }

    pub fn counts(&self) -> IndexMap<String, Counts> {
        let c = self.counts.lock().unwrap();
        self.order
            .lock()
            .unwrap()
            .iter()
            .map(|h| (h.clone(), c.get(h).copied().unwrap_or_default()))
            .collect()
    }

    pub fn recap(&self) {
        // The run is over: its live lines go before the recap is written.
        self.printer.end_live();
        let counts = self.counts();
        let p = self.printer;
        let hosts: serde_json::Map<String, Json> = counts
            .iter()
            .map(|(h, c)| (h.clone(), serde_json::to_value(c).unwrap_or_default()))
            .collect();
        let ended = self.ended.lock().unwrap().clone();
        let mut recap = json!({"type": "recap", "hosts": hosts});
        if !ended.is_empty() {
            recap["ended"] = json!(ended);
        }
        self.journal(&recap);
        if p.is_json() {
            p.json(&recap);
            return;
        }
        if self.ad_hoc {
            return;
        }
        p.result_line(&Line::new().styled("RECAP", Style::Bold));
        let width = counts.keys().map(String::len).max().unwrap_or(0);
        for (h, c) in &counts {
            let style = if c.failed > 0 || c.unreachable > 0 {
                Style::Failed
            } else if c.changed > 0 {
                Style::Changed
            } else {
                Style::Ok
            };
            let mut line = Line::new()
                .data_styled(format!("{h:width$}"), style)
                .word("  ok=")
                .count(c.ok)
                .word(" changed=")
                .count(c.changed)
                .word(" failed=")
                .count(c.failed)
                .word(" skipped=")
                .count(c.skipped)
                .word(" unreachable=")
                .count(c.unreachable);
            if c.rescued > 0 || c.ignored > 0 {
                line = line
                    .word(" rescued=")
                    .count(c.rescued)
                    .word(" ignored=")
                    .count(c.ignored);
            }
            if let Some(why) = self.ended.lock().unwrap().get(h) {
                line = line.word("  (ended early: ").data(why.clone()).word(")");
            }
            p.result_line(&line);
        }
    }
}
