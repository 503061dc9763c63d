//! A recorded run read back: its header, its task results per host (a loop's
//! items folded into one result), its recap and its end. `runs show`, the HTML
//! report and the JUnit writer all read runs through this.

use indexmap::IndexMap;
use serde_json::{Value as Json, json};

/// One task's result on one host (all of a loop's items together).
#[derive(Debug, Clone)]
pub struct TaskResult {
    pub host: String,
    pub task: String,
    pub role: Option<String>,
    /// `file:line` of the task, when known.
    pub location: Option<String>,
    /// ok, changed, failed, skipped, unreachable.
    pub status: String,
    pub duration_ms: u64,
    pub msg: Option<String>,
    pub ignored: bool,
    /// A failure that a block's rescue handled.
    pub rescued: bool,
    /// (label, unified diff) as shown with --diff.
    pub diffs: Vec<(String, String)>,
    /// A loop's items: (item, status, msg).
    pub items: Vec<(String, String, Option<String>)>,
    /// Index of the play (0-based) the task ran in.
    pub play: usize,
    /// Seconds since the run started when the result came.
    pub at_ms: u64,
}

impl TaskResult {
    /// `role : task`
    pub fn title(&self) -> String {
        match &self.role {
            Some(r) => format!("{r} : {}", self.task),
            None => self.task.clone(),
        }
    }

    /// Counted as a failure (not ignored, not rescued).
    pub fn is_failure(&self) -> bool {
        self.status == "failed" && !self.ignored && !self.rescued
    }
}

fn rank(status: &str) -> u8 {
    match status {
        "unreachable" => 5,
        "failed" => 4,
        "changed" => 3,
        "ok" => 2,
        _ => 1,
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunView {
    pub header: Json,
    pub events: Vec<Json>,
    pub end: Option<Json>,
}

impl RunView {
    pub fn from_lines(lines: Vec<Json>) -> RunView {
        let mut v = RunView::default();
        for l in lines {
            match l.get("type").and_then(Json::as_str) {
                Some("run") => v.header = l,
                Some("end") => v.end = Some(l),
                _ => v.events.push(l),
            }
        }
        v
    }

    /// A copy with every value redacted, field by field (see
    /// [`crate::redact::redact_json`]), for writers of other formats (JUnit):
    /// redacting their text afterwards could cut through their syntax.
    pub fn redacted(&self) -> RunView {
        RunView {
            header: crate::redact::redact_json(&self.header),
            events: self.events.iter().map(crate::redact::redact_json).collect(),
            end: self.end.as_ref().map(crate::redact::redact_json),
        }
    }

    pub fn id(&self) -> &str {
        self.header.get("id").and_then(Json::as_str).unwrap_or("?")
    }

    pub fn h(&self, k: &str) -> Option<&str> {
        self.header.get(k).and_then(Json::as_str)
    }

    /// Task results in the order they came, loops folded.
    pub fn results(&self) -> Vec<TaskResult> {
        let mut out: Vec<TaskResult> = Vec::new();
        // Index in `out` of each host's last result, to fold loop items and rescues.
        let mut last: IndexMap<String, usize> = IndexMap::new();
        let mut play = 0usize;
        let mut seen_play = false;
        let root = self
            .header
            .pointer("/project/root")
            .and_then(Json::as_str)
            .map(|r| format!("{}/", r.trim_end_matches('/')));
        for e in &self.events {
            let s = |k: &str| e.get(k).and_then(Json::as_str).map(String::from);
            match e.get("type").and_then(Json::as_str) {
                Some("play") => {
                    if seen_play {
                        play += 1;
                    }
                    seen_play = true;
                }
                Some("rescued") => {
                    if let Some(i) = s("host").and_then(|h| last.get(&h).copied()) {
                        out[i].rescued = true;
                    }
                }
                Some("task") => {
                    let host = s("host").unwrap_or_default();
                    let task = s("task").unwrap_or_default();
                    // Task files as the project sees them (relative to its root).
                    let file = e
                        .get("file")
                        .and_then(Json::as_str)
                        .map(|f| root.as_deref().and_then(|r| f.strip_prefix(r)).unwrap_or(f));
                    let location = match (file, e.get("line").and_then(Json::as_u64)) {
                        (Some(f), Some(l)) => Some(format!("{f}:{l}")),
                        (Some(f), None) => Some(f.to_string()),
                        _ => None,
                    };
                    let status = s("status").unwrap_or_else(|| "ok".into());
                    let duration = e.get("duration_ms").and_then(Json::as_u64).unwrap_or(0);
                    let msg = s("msg");
                    let diffs: Vec<(String, String)> = e
                        .get("diff")
                        .and_then(Json::as_array)
                        .map(|a| {
                            a.iter()
                                .map(|d| {
                                    (
                                        d.get("label")
                                            .and_then(Json::as_str)
                                            .unwrap_or("")
                                            .to_string(),
                                        d.get("unified")
                                            .and_then(Json::as_str)
                                            .unwrap_or("")
                                            .to_string(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let ignored = e.get("ignored").and_then(Json::as_bool).unwrap_or(false);
                    let at = e.get("t").and_then(Json::as_u64).unwrap_or(0);
                    if let Some(item) = e.get("item").and_then(Json::as_str) {
                        // The next item of the same task on this host joins its result.
                        if let Some(&i) = last.get(&host) {
                            let r = &mut out[i];
                            if !r.items.is_empty()
                                && r.task == task
                                && r.location == location
                                && r.play == play
                            {
                                r.items
                                    .push((item.to_string(), status.clone(), msg.clone()));
                                if rank(&status) > rank(&r.status) {
                                    r.status = status.clone();
                                }
                                if status == "failed" || status == "unreachable" {
                                    r.msg = msg.clone().or(r.msg.take());
                                }
                                r.duration_ms += duration;
                                r.diffs.extend(diffs);
                                r.ignored |= ignored;
                                continue;
                            }
                        }
                    }
                    let items = e
                        .get("item")
                        .and_then(Json::as_str)
                        .map(|i| vec![(i.to_string(), status.clone(), msg.clone())])
                        .unwrap_or_default();
                    last.insert(host.clone(), out.len());
                    out.push(TaskResult {
                        host,
                        task,
                        role: s("role"),
                        location,
                        status,
                        duration_ms: duration,
                        msg,
                        ignored,
                        rescued: false,
                        diffs,
                        items,
                        play,
                        at_ms: at,
                    });
                }
                _ => {}
            }
        }
        out
    }

    /// The hosts, in the order the run met them (recap order first).
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.recap().keys().cloned().collect();
        for r in self.results() {
            if !hosts.contains(&r.host) {
                hosts.push(r.host);
            }
        }
        hosts
    }

    /// Counts per host: the sum of the run's recap events, or (a command without
    /// a recap, such as ping) counted from the results.
    pub fn recap(&self) -> IndexMap<String, IndexMap<String, u64>> {
        let mut out: IndexMap<String, IndexMap<String, u64>> = IndexMap::new();
        let mut any = false;
        for e in &self.events {
            if e.get("type").and_then(Json::as_str) != Some("recap") {
                continue;
            }
            any = true;
            if let Some(hosts) = e.get("hosts").and_then(Json::as_object) {
                for (h, c) in hosts {
                    let entry = out.entry(h.clone()).or_default();
                    if let Some(c) = c.as_object() {
                        for (k, n) in c {
                            *entry.entry(k.clone()).or_default() += n.as_u64().unwrap_or(0);
                        }
                    }
                }
            }
        }
        if any {
            return out;
        }
        for r in self.results() {
            let c = out.entry(r.host.clone()).or_default();
            let key = match r.status.as_str() {
                "changed" => {
                    *c.entry("ok".into()).or_default() += 1;
                    "changed"
                }
                "failed" if r.ignored => "ok",
                s => match s {
                    "ok" => "ok",
                    "failed" => "failed",
                    "skipped" => "skipped",
                    _ => "unreachable",
                },
            };
            *c.entry(key.into()).or_default() += 1;
        }
        out
    }

    /// Totals over hosts: ok, changed, failed, skipped, unreachable.
    pub fn totals(&self) -> IndexMap<String, u64> {
        let mut t: IndexMap<String, u64> = ["ok", "changed", "failed", "skipped", "unreachable"]
            .iter()
            .map(|k| (k.to_string(), 0))
            .collect();
        for c in self.recap().values() {
            for (k, n) in c {
                if let Some(v) = t.get_mut(k) {
                    *v += n;
                }
            }
        }
        t
    }

    /// The deploy event (ref, commit, release) when the command deployed.
    pub fn deploy(&self) -> Option<&Json> {
        self.events
            .iter()
            .rev()
            .find(|e| e.get("type").and_then(Json::as_str) == Some("deploy"))
    }

    pub fn warnings(&self) -> Vec<(String, String)> {
        self.events
            .iter()
            .filter(|e| e.get("type").and_then(Json::as_str) == Some("warning"))
            .map(|e| {
                (
                    e.get("host")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                    e.get("msg")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    }

    /// `exit` of the end line, or null for a run that did not finish.
    pub fn exit(&self) -> Option<u64> {
        self.end
            .as_ref()
            .and_then(|e| e.get("exit"))
            .and_then(Json::as_u64)
    }

    pub fn status_word(&self) -> String {
        match &self.end {
            Some(e) => e
                .get("status")
                .and_then(Json::as_str)
                .unwrap_or("?")
                .to_string(),
            None => "unfinished".into(),
        }
    }

    /// A compact JSON document of the whole run (for `runs show --output json`).
    pub fn to_json(&self) -> Json {
        let results: Vec<Json> = self
            .results()
            .iter()
            .map(|r| {
                json!({"host": r.host, "task": r.task, "role": r.role, "location": r.location,
                       "status": r.status, "duration_ms": r.duration_ms, "msg": r.msg,
                       "ignored": r.ignored, "rescued": r.rescued,
                       "items": r.items.iter().map(|(i, s, m)| json!({"item": i, "status": s, "msg": m})).collect::<Vec<_>>(),
                       "diff": r.diffs.iter().map(|(l, u)| json!({"label": l, "unified": u})).collect::<Vec<_>>()})
            })
            .collect();
        json!({"run": self.header, "results": results, "recap": self.recap(), "end": self.end})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_items_fold_into_one_result_and_rescue_marks_the_failure() {
        let v = RunView::from_lines(vec![
            json!({"type": "run", "id": "x"}),
            json!({"type": "play", "name": "p"}),
            json!({"type": "task", "host": "a", "task": "pkgs", "file": "f.yml", "line": 3, "status": "ok", "item": "x", "duration_ms": 5}),
            json!({"type": "task", "host": "b", "task": "pkgs", "file": "f.yml", "line": 3, "status": "ok", "item": "x", "duration_ms": 5}),
            json!({"type": "task", "host": "a", "task": "pkgs", "file": "f.yml", "line": 3, "status": "changed", "item": "y", "duration_ms": 7}),
            json!({"type": "task", "host": "a", "task": "boom", "file": "f.yml", "line": 9, "status": "failed", "msg": "no"}),
            json!({"type": "rescued", "host": "a"}),
            json!({"type": "recap", "hosts": {"a": {"ok": 2, "changed": 1, "failed": 0}, "b": {"ok": 1}}}),
            json!({"type": "end", "exit": 0, "status": "ok"}),
        ]);
        let r = v.results();
        assert_eq!(r.len(), 3);
        assert_eq!(
            (
                r[0].host.as_str(),
                r[0].status.as_str(),
                r[0].items.len(),
                r[0].duration_ms
            ),
            ("a", "changed", 2, 12)
        );
        assert_eq!(r[1].host, "b");
        assert!(r[2].rescued && !r[2].is_failure());
        assert_eq!(v.totals()["changed"], 1);
        assert_eq!(v.hosts(), ["a", "b"]);
        assert_eq!(v.exit(), Some(0));
    }
}
