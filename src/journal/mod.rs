//! The run journal: every opsctl command that touches hosts records what it did
//! in the project's `.opsctl/runs/` (see docs/journal.md). No server needed.
//!
//! One [`Journal`] exists per command, process-wide ([`active`]): the dispatcher
//! starts it before the command and finishes it after, whatever the outcome;
//! the engine's [`Reporter`](crate::engine::Reporter) sends it every task result,
//! play, warning and recap, whatever the output format. Each line is written as
//! it comes (a crash leaves the run up to that point) and passes through
//! [`crate::redact`]; when the run ends, the file is redacted once more against
//! every secret registered meanwhile.
//!
//! At the end: the `--fail-on-change` verdict, the `--junit` report, the index
//! line, and pruning to the newest `OPSCTL_RUNS_KEEP` (default 200) runs.

pub mod html;
pub mod junit;
pub mod record;
pub mod store;
pub mod time;
pub mod view;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};

use crate::error::{Error, Exit, Result};
use crate::printer::Printer;
pub use record::CommandInfo;
use store::Store;
use view::RunView;

/// What the dispatcher knows when a command starts.
#[derive(Debug, Clone, Default)]
pub struct Begin {
    pub command: CommandInfo,
    /// The project root: the run is stored under it. `None`: not stored (an
    /// inventory outside a project), but `--junit` still works.
    pub project: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub fail_on_change: bool,
}

pub struct Journal {
    pub id: String,
    start_ms: u64,
    store: Option<Store>,
    keep: usize,
    junit: Option<PathBuf>,
    fail_on_change: bool,
    header: Json,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    events: Vec<Json>,
    file: Option<File>,
    opened: bool,
    /// The first error writing the journal (reported once, at the end).
    error: Option<String>,
}

static ACTIVE: Mutex<Option<Arc<Journal>>> = Mutex::new(None);

/// The journal of the command running in this process, if it is recorded.
pub fn active() -> Option<Arc<Journal>> {
    ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Records the ref and commit a deploy puts live (called by `opsctl deploy`
/// once it has resolved them). A no-op when no journal is active.
pub fn deployed(git_ref: &str, commit: &str, release: &str) {
    if let Some(j) = active() {
        j.event(json!({"type": "deploy", "ref": git_ref, "commit": commit, "release": release}));
    }
}

/// Starts the journal of this command and makes it [`active`].
pub fn begin(b: Begin) -> Result<Arc<Journal>> {
    let keep = store::runs_keep().map_err(Error::new)?;
    let start_ms = time::now_ms();
    let store = b.project.as_deref().map(Store::new);
    // Time to the millisecond (ids sort in start order), then 2 hex digits
    // against two commands starting in the same millisecond.
    let mut id = String::new();
    for n in 0..64u32 {
        let salt = (std::process::id() as u64)
            .wrapping_mul(0x9E37_79B9)
            .wrapping_add(u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0),
            ))
            .wrapping_add(u64::from(n) * 7919);
        id = format!(
            "{}-{:03}{:02x}",
            time::stamp(start_ms),
            start_ms % 1000,
            salt & 0xff
        );
        if store.as_ref().is_none_or(|s| !s.run_path(&id).exists()) {
            break;
        }
    }
    let header = record::header(&id, start_ms, &b.command, b.project.as_deref());
    let j = Arc::new(Journal {
        id,
        start_ms,
        store,
        keep,
        junit: b.junit,
        fail_on_change: b.fail_on_change,
        header,
        state: Mutex::new(State::default()),
    });
    *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(j.clone());
    Ok(j)
}

impl Journal {
    /// Records one event (a task result, a play, a warning, the recap...).
    pub fn event(&self, mut v: Json) {
        if let Json::Object(m) = &mut v {
            m.insert(
                "t".into(),
                json!(time::now_ms().saturating_sub(self.start_ms)),
            );
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.open(&mut st);
        self.write(&mut st, &v);
        st.events.push(v);
    }

    /// Creates the run's file and writes the header, on the first event: by
    /// then the secrets are loaded, so the header is redacted against them.
    fn open(&self, st: &mut State) {
        if st.opened {
            return;
        }
        st.opened = true;
        let Some(store) = &self.store else { return };
        match store.create(&self.id) {
            Ok(f) => st.file = Some(f),
            Err(e) => {
                st.error = Some(format!(
                    "cannot create {}: {e}",
                    crate::location::display_path(&store.run_path(&self.id))
                ));
                return;
            }
        }
        let header = self.header.clone();
        self.write(st, &header);
        let h = |k: &str| header.get(k).cloned().unwrap_or(Json::Null);
        let start = json!({
            "id": self.id, "start": h("start"), "command": h("command"),
            "command_line": h("command_line"), "env": h("env"), "limit": h("limit"),
            "check": h("check"), "user": header.pointer("/user/local").cloned().unwrap_or(Json::Null),
            "ci_job_url": header.pointer("/ci/job_url").cloned().unwrap_or(Json::Null),
        });
        if let Err(e) = store.append_index(&crate::redact::redact_json(&start)) {
            st.error
                .get_or_insert(format!("cannot write the run index: {e}"));
        }
    }

    fn write(&self, st: &mut State, v: &Json) {
        let Some(f) = &mut st.file else { return };
        let line = format!("{}\n", crate::redact::redact_json(v));
        if let Err(e) = f.write_all(line.as_bytes()) {
            st.error
                .get_or_insert(format!("cannot write the run journal: {e}"));
            st.file = None;
        }
    }

    /// The run so far, as `runs show` would read it.
    pub fn view(&self) -> RunView {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        RunView {
            header: self.header.clone(),
            events: st.events.clone(),
            end: None,
        }
    }

    /// Ends the run: applies `--fail-on-change`, writes the end line, the index
    /// line and the `--junit` report, prunes old runs. Returns the command's
    /// outcome (a failure when there was drift under `--fail-on-change`).
    pub fn finish(&self, result: Result<Exit>, printer: &Printer) -> Result<Exit> {
        *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let mut view = self.view();
        let totals = view.totals();
        let mut result = result;
        if self.fail_on_change && matches!(result, Ok(Exit::Success)) && totals["changed"] > 0 {
            let mut hosts: Vec<String> = view
                .recap()
                .iter()
                .filter(|(_, c)| c.get("changed").copied().unwrap_or(0) > 0)
                .map(|(h, _)| h.clone())
                .collect();
            hosts.dedup();
            let n = totals["changed"];
            result = Err(Error::new(format!(
                "--fail-on-change: {n} task{} changed on {} (drift)",
                if n == 1 { "" } else { "s" },
                hosts.join(", ")
            ))
            .hint("`opsctl runs show last` lists them; run without --check to apply the changes")
            .exit(Exit::Failed));
        }
        let end_ms = time::now_ms();
        let (exit, error) = match &result {
            Ok(e) => (*e, None),
            Err(e) => (e.exit, Some(e.to_string())),
        };
        let status = match exit {
            Exit::Success => "ok",
            Exit::Config => "error",
            Exit::Failed => "failed",
            Exit::Unreachable => "unreachable",
            Exit::Interrupted => "interrupted",
        };
        let deploy = view.deploy().cloned();
        let recap = view.recap();
        let end = json!({
            "type": "end",
            "end": time::iso(end_ms),
            "duration_ms": end_ms.saturating_sub(self.start_ms),
            "exit": exit.code(),
            "status": status,
            "error": error,
            "fail_on_change": self.fail_on_change,
            "recap": recap,
            "deploy": deploy,
        });
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.open(&mut st);
        self.write(&mut st, &end);
        st.file = None;
        if let Some(store) = &self.store
            && st.error.is_none()
        {
            let summary = json!({
                "id": self.id,
                "end": end["end"], "duration_ms": end["duration_ms"], "exit": exit.code(),
                "status": status, "hosts": recap.len(),
                "ok": totals["ok"], "changed": totals["changed"], "failed": totals["failed"],
                "unreachable": totals["unreachable"],
                "deploy_ref": deploy.as_ref().and_then(|d| d.get("ref")).cloned(),
                "deploy_commit": deploy.as_ref().and_then(|d| d.get("commit")).cloned(),
            });
            let r = store
                .append_index(&crate::redact::redact_json(&summary))
                .and_then(|()| {
                    if crate::redact::is_active() {
                        // secrets derived later in the run (set_fact, register)
                        // may sit in earlier lines: redact again, value by value
                        store.rewrite(&self.id, &redact_line)
                    } else {
                        Ok(())
                    }
                })
                .and_then(|()| store.prune(self.keep));
            if let Err(e) = r {
                st.error.get_or_insert(format!(
                    "cannot update {}: {e}",
                    crate::location::display_path(&store.dir)
                ));
            }
        }
        if let Some(e) = st.error.take() {
            printer.warn(&format!(
                "run journal: {e}; this run is not recorded completely"
            ));
        }
        drop(st);
        view.end = Some(end);
        if let Some(path) = &self.junit {
            let xml = junit::render(&view.redacted(), self.fail_on_change);
            if let Err(e) = write_file(path, xml.as_bytes()) {
                let err = Error::new(format!(
                    "cannot write the JUnit report {}: {e}",
                    path.display()
                ))
                .hint("--junit FILE needs a writable path (its directory must exist)");
                match result {
                    Ok(Exit::Success) => return Err(err),
                    _ => printer.error(&err),
                }
            }
        }
        result
    }
}

/// A journal line redacted value by value (keys and opsctl's words stay; see
/// [`crate::redact::redact_json`]); a line that is not JSON, as text.
fn redact_line(line: &str) -> String {
    match serde_json::from_str::<Json>(line) {
        Ok(v) => crate::redact::redact_json(&v).to_string(),
        Err(_) => crate::redact::redact(line).into_owned(),
    }
}

fn write_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}",
        path.file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
