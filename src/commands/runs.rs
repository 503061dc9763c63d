//! `opsctl runs`: the run journal of the project (.opsctl/runs/): a table of
//! recent runs, one run as it happened, a self-contained HTML report. Also the
//! journal's start of a command that `cli.rs` says to record ([`begin`]).

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::JournalEntry;
use crate::error::{Error, Exit, Result};
use crate::journal::store::Store;
use crate::journal::view::RunView;
use crate::journal::{Begin, time};
use crate::printer::{Printer, Style};
use crate::project::Project;

/// `opsctl runs`: which runs, and what to do with them.
#[derive(Debug, Clone)]
pub struct RunsOptions {
    /// Only runs of this environment.
    pub env: Option<String>,
    /// How many runs to list (the newest).
    pub number: usize,
    pub action: RunsAction,
}

#[derive(Debug, Clone)]
pub enum RunsAction {
    /// The table of recent runs.
    List,
    /// One run (`last`, an id or a unique prefix) as it happened.
    Show { run: String },
    /// One run as a self-contained HTML page written to `html`.
    /// `html`: the file to write (`None`: stdout).
    Report { run: String, html: Option<PathBuf> },
}

/// The journal's start of a command: what `cli.rs` said to record, and the
/// project it is stored under (none outside a project: `--junit` still works).
pub fn begin(entry: JournalEntry, project: Option<&Path>) -> Begin {
    let cwd = std::env::current_dir().unwrap_or_default();
    let project = Project::discover(project, &cwd).ok().map(|p| p.root);
    Begin {
        command: entry.command,
        project,
        junit: entry.junit,
        fail_on_change: entry.fail_on_change,
    }
}

fn store(project: Option<PathBuf>) -> Result<Store> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
    let p = Project::discover(project.as_deref(), &cwd)?;
    Ok(Store::new(&p.root))
}

pub fn run(project: Option<PathBuf>, args: RunsOptions, printer: &Printer) -> Result<Exit> {
    let store = store(project)?;
    match args.action {
        RunsAction::List => list(&store, args.env.as_deref(), args.number, printer),
        RunsAction::Show { run } => {
            let id = store.resolve(&run)?;
            let view = RunView::from_lines(store.load(&id)?);
            if printer.is_json() {
                printer.json(&view.to_json());
            } else {
                show(&view, printer);
            }
            Ok(Exit::Success)
        }
        RunsAction::Report { run, html } => {
            let id = store.resolve(&run)?;
            let view = RunView::from_lines(store.load(&id)?);
            let page = crate::journal::html::render(&view.redacted());
            let Some(html) = html else {
                // The page alone on stdout (`> run.html`, or a pipe); with
                // `--output json`, inside one JSON object.
                if printer.is_json() {
                    printer.json(&serde_json::json!({"run": id, "html": page}));
                } else {
                    printer.result(page.trim_end_matches('\n'));
                }
                return Ok(Exit::Success);
            };
            std::fs::write(&html, page.as_bytes()).map_err(|e| {
                Error::new(format!("cannot write {}: {e}", html.display()))
                    .hint("--html FILE needs a writable path (its directory must exist)")
            })?;
            if printer.is_json() {
                printer.json(&serde_json::json!({"run": id, "wrote": html}));
            } else {
                printer.result(&format!("wrote {} (run {id})", html.display()));
            }
            Ok(Exit::Success)
        }
    }
}

fn result_word(s: &crate::journal::store::Summary) -> String {
    match (s.str("status"), s.u64("exit")) {
        (Some(st), Some(0)) => st.to_string(),
        (Some(st), Some(code)) => format!("{st} ({code})"),
        _ => "unfinished".into(),
    }
}

fn list(store: &Store, env: Option<&str>, n: usize, printer: &Printer) -> Result<Exit> {
    let all = store.summaries()?;
    let runs: Vec<_> = all
        .iter()
        .filter(|s| env.is_none_or(|e| s.str("env") == Some(e)))
        .collect();
    let shown = &runs[runs.len().saturating_sub(n)..];
    if printer.is_json() {
        for s in shown {
            printer.json(&Json::Object(s.fields.clone()));
        }
        return Ok(Exit::Success);
    }
    if shown.is_empty() {
        printer.result(&match env {
            Some(e) => format!(
                "no run recorded for environment {e} in {}",
                crate::location::display_path(&store.dir)
            ),
            None => format!(
                "no run recorded yet in {}",
                crate::location::display_path(&store.dir)
            ),
        });
        return Ok(Exit::Success);
    }
    let rows: Vec<[String; 7]> = shown
        .iter()
        .map(|s| {
            let start = s
                .str("start")
                .and_then(time::parse_iso)
                .map(time::short)
                .unwrap_or_default();
            let what = match (s.str("command"), s.str("deploy_ref")) {
                (Some(c), Some(r)) => format!("{c} {r}"),
                (Some(c), None) => c.to_string(),
                _ => "?".into(),
            };
            let what = if s.fields.get("check").and_then(Json::as_bool) == Some(true) {
                format!("{what} --check")
            } else {
                what
            };
            let counts = if s.finished() {
                format!(
                    "ok={} changed={} failed={} unreachable={}",
                    s.u64("ok").unwrap_or(0),
                    s.u64("changed").unwrap_or(0),
                    s.u64("failed").unwrap_or(0),
                    s.u64("unreachable").unwrap_or(0)
                )
            } else {
                String::new()
            };
            [
                s.id.clone(),
                start,
                s.u64("duration_ms")
                    .map(time::duration)
                    .unwrap_or_else(|| "-".into()),
                what,
                s.str("env").unwrap_or("-").to_string(),
                s.str("user").unwrap_or("-").to_string(),
                format!("{} {counts}", result_word(s))
                    .trim_end()
                    .to_string(),
            ]
        })
        .collect();
    let head = [
        "ID",
        "STARTED (UTC)",
        "TOOK",
        "COMMAND",
        "ENV",
        "USER",
        "RESULT",
    ];
    let mut w = head.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let fmt = |cells: [&str; 7]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 6 {
                    c.to_string()
                } else {
                    format!("{c:<width$}", width = w[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    printer.result(&printer.paint(&fmt(head), Style::Bold));
    for r in &rows {
        let style = match r[6].split_whitespace().next() {
            Some("ok") => Style::Ok,
            Some("unfinished") => Style::Dim,
            _ => Style::Failed,
        };
        let line = fmt([
            &r[0],
            &r[1],
            &r[2],
            &r[3],
            &r[4],
            &r[5],
            &printer.paint(&r[6], style),
        ]);
        printer.result(&line);
    }
    if runs.len() > shown.len() {
        printer.line(&format!(
            "({} older runs; -n {} shows them all)",
            runs.len() - shown.len(),
            runs.len()
        ));
    }
    Ok(Exit::Success)
}

fn s<'a>(v: &'a Json, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Json::as_str)
}

/// `runs show`: the run as it happened, per host.
fn show(run: &RunView, p: &Printer) {
    let h = &run.header;
    let start = run.h("start").and_then(time::parse_iso);
    let took = run
        .end
        .as_ref()
        .and_then(|e| e.get("duration_ms"))
        .and_then(Json::as_u64)
        .map(time::duration)
        .unwrap_or_else(|| "did not finish".into());
    let result = match run.exit() {
        Some(0) => p.paint("ok", Style::Ok),
        Some(code) => p.paint(
            &format!("{} (exit {code})", run.status_word()),
            Style::Failed,
        ),
        None => p.paint(
            "unfinished (no end recorded: the command was killed or is still running)",
            Style::Changed,
        ),
    };
    p.result(&format!(
        "{}  {result}",
        p.paint(&format!("run {}", run.id()), Style::Bold)
    ));
    let row = |k: &str, v: String| p.result(&format!("  {k:<10}{v}"));
    row(
        "started",
        format!(
            "{} UTC, took {took}",
            start.map(time::short).unwrap_or_default()
        ),
    );
    row("command", run.h("command_line").unwrap_or("?").to_string());
    let mut target = vec![format!("env {}", run.h("env").unwrap_or("-"))];
    if let Some(i) = run.h("inventory") {
        target.push(format!("inventory {i}"));
    }
    target.push(format!("limit {}", run.h("limit").unwrap_or("-")));
    let tags = |k: &str| {
        h.get(k)
            .and_then(Json::as_array)
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
    };
    if let Some(t) = tags("tags") {
        target.push(format!("tags {t}"));
    }
    if let Some(t) = tags("skip_tags") {
        target.push(format!("skip-tags {t}"));
    }
    if h.get("check").and_then(Json::as_bool) == Some(true) {
        target.push("check mode".into());
    }
    row("target", target.join(", "));
    let git_id = match (s(h, "/user/git_name"), s(h, "/user/git_email")) {
        (Some(n), Some(e)) => format!(" ({n} <{e}>)"),
        (Some(n), None) => format!(" ({n})"),
        (None, Some(e)) => format!(" (<{e}>)"),
        _ => String::new(),
    };
    row(
        "by",
        format!(
            "{}{git_id} on {}",
            s(h, "/user/local").unwrap_or("?"),
            run.h("controller").unwrap_or("?")
        ),
    );
    if let Some(ci) = h.get("ci").filter(|c| !c.is_null()) {
        let mut parts = vec![s(ci, "/provider").unwrap_or("ci").to_string()];
        if let Some(id) = s(ci, "/job_id") {
            parts.push(format!("job {id}"));
        }
        if let Some(u) = s(ci, "/job_url") {
            parts.push(u.to_string());
        }
        row("ci", parts.join(" "));
    }
    if let Some(pr) = h.get("project").filter(|v| !v.is_null()) {
        let root = s(pr, "/root").unwrap_or("?");
        let v = match s(pr, "/commit") {
            Some(c) => format!(
                "{root} at {}{}{}",
                &c[..c.len().min(12)],
                s(pr, "/branch")
                    .map(|b| format!(" ({b})"))
                    .unwrap_or_default(),
                if pr.get("dirty").and_then(Json::as_bool) == Some(true) {
                    ", with uncommitted changes"
                } else {
                    ""
                }
            ),
            None => format!("{root} (not a git repository)"),
        };
        row("project", v);
    }
    if let Some(d) = run.deploy() {
        row(
            "deployed",
            format!(
                "{} = {} (release {})",
                s(d, "/ref").unwrap_or("?"),
                s(d, "/commit").unwrap_or("?"),
                s(d, "/release").unwrap_or("?")
            ),
        );
    }
    let results = run.results();
    for host in run.hosts() {
        p.result("");
        p.result(&p.paint(&host, Style::Bold));
        for r in results.iter().filter(|r| r.host == host) {
            let (word, style) = match r.status.as_str() {
                "ok" => ("ok", Style::Ok),
                "changed" => ("changed", Style::Changed),
                "failed" if r.rescued => ("rescued", Style::Changed),
                "failed" if r.ignored => ("ignored", Style::Changed),
                "failed" => ("FAILED", Style::Failed),
                "skipped" => ("skipped", Style::Dim),
                _ => ("UNREACHABLE", Style::Unreachable),
            };
            let loc = r
                .location
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            let items = if r.items.is_empty() {
                String::new()
            } else {
                format!(" [{} items]", r.items.len())
            };
            let mut line = format!(
                "  {} {}{items}{loc} {}",
                p.paint(&format!("{word:<11}"), style),
                r.title(),
                p.paint(&time::duration(r.duration_ms), Style::Dim)
            );
            if let Some(m) = r
                .msg
                .as_ref()
                .filter(|_| r.status != "ok" && r.status != "changed")
            {
                line.push_str(&format!(": {}", m.lines().next().unwrap_or("")));
                p.result(&line);
                for l in m.lines().skip(1) {
                    p.result(&format!("      {l}"));
                }
            } else {
                p.result(&line);
            }
            for (item, st, msg) in &r.items {
                if st != "ok" && st != "skipped" {
                    p.result(&format!(
                        "      item {item}: {st}{}",
                        msg.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
                    ));
                }
            }
            for (label, diff) in &r.diffs {
                if !diff.starts_with("--- ") {
                    p.result(&format!("      --- {label}"));
                }
                for l in diff.lines() {
                    let style = if l.starts_with('+') {
                        Style::Ok
                    } else if l.starts_with('-') {
                        Style::Failed
                    } else {
                        Style::Dim
                    };
                    p.result(&format!("      {}", p.paint(l, style)));
                }
            }
        }
    }
    for (host, msg) in run.warnings() {
        p.result(&format!("warning: {host}: {msg}"));
    }
    let recap = run.recap();
    if !recap.is_empty() {
        p.result("");
        p.result(&p.paint("RECAP", Style::Bold));
        let width = recap.keys().map(String::len).max().unwrap_or(0);
        for (host, c) in &recap {
            let n = |k: &str| c.get(k).copied().unwrap_or(0);
            p.result(&format!(
                "{host:width$}  ok={} changed={} failed={} skipped={} unreachable={}",
                n("ok"),
                n("changed"),
                n("failed"),
                n("skipped"),
                n("unreachable")
            ));
        }
    }
    if let Some(e) = run
        .end
        .as_ref()
        .and_then(|e| e.get("error"))
        .and_then(Json::as_str)
    {
        p.result("");
        for l in e.lines() {
            p.result(l);
        }
    }
}
