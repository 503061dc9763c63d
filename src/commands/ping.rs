//! `opsctl ping`: connect to every host and run a trivial command.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::Loaded;
use crate::error::{Exit, Result};
use crate::printer::{Printer, Style};
use crate::runner::{Connections, fan_out};
use crate::transport::{RemoteCommand, TransportError};

#[derive(Debug, Clone)]
enum Answer {
    Pong { ms: u128, user: String },
    Unreachable(TransportError),
    Failed(String),
}

/// `opsctl ping`: which hosts, how many at once.
#[derive(Debug, Clone)]
pub struct PingOptions {
    pub limit: Option<String>,
    pub forks: usize,
}

pub async fn run(loaded: &Loaded, args: PingOptions, printer: &Printer) -> Result<Exit> {
    let hosts = loaded.select(args.limit.as_deref())?;
    let specs = loaded.connection_specs(&hosts)?;
    let conns = Connections::new();
    let c = conns.clone();
    let work = move |spec: crate::transport::ConnectionSpec| {
        let c = c.clone();
        async move { ping_one(&c, &spec).await }
    };
    let journal = crate::journal::active();
    let report = |i: usize, a: Answer| {
        if let Some(j) = &journal {
            j.event(journal_event(&hosts[i], &a));
        }
        print_answer(printer, &hosts[i], &a)
    };
    let Some(answers) =
        super::unless_interrupted(fan_out(specs, args.forks, work, report), &conns, printer).await
    else {
        return Ok(Exit::Interrupted);
    };
    conns.close_all().await;
    let unreachable = answers
        .iter()
        .filter(|a| matches!(a, Answer::Unreachable(_)))
        .count();
    let failed = answers
        .iter()
        .filter(|a| matches!(a, Answer::Failed(_)))
        .count();
    Ok(Exit::of_hosts(failed, unreachable))
}

async fn ping_one(conns: &Arc<Connections>, spec: &crate::transport::ConnectionSpec) -> Answer {
    let start = Instant::now();
    let conn = match conns.get(spec).await {
        Ok(c) => c,
        Err(e) => return Answer::Unreachable(e),
    };
    match conn.run(&RemoteCommand::new("echo pong; id -un")).await {
        Ok(out) if out.success() && out.stdout_str().starts_with("pong\n") => Answer::Pong {
            ms: start.elapsed().as_millis(),
            user: out.stdout_str().lines().nth(1).unwrap_or("").to_string(),
        },
        Ok(out) => Answer::Failed(format!(
            "the command failed (exit {}): {}",
            out.rc
                .map(|c| c.to_string())
                .unwrap_or_else(|| "signal".into()),
            out.stderr_str().trim()
        )),
        Err(e @ TransportError::Disconnected { .. }) => Answer::Unreachable(e),
        Err(e) => Answer::Failed(match e.hint() {
            Some(h) => format!("{e}\n    hint: {h}"),
            None => e.to_string(),
        }),
    }
}

/// A ping as a task result of the run journal (and of --junit).
fn journal_event(host: &str, a: &Answer) -> serde_json::Value {
    let (status, ms, msg) = match a {
        Answer::Pong { ms, user } => ("ok", *ms, format!("pong (as {user})")),
        Answer::Unreachable(e) => (
            "unreachable",
            0,
            match e.hint() {
                Some(h) => format!("{e}\nhint: {h}"),
                None => e.to_string(),
            },
        ),
        Answer::Failed(m) => ("failed", 0, m.clone()),
    };
    json!({"type": "task", "host": host, "task": "ping", "status": status,
           "changed": false, "duration_ms": ms, "msg": msg})
}

fn print_answer(printer: &Printer, host: &str, a: &Answer) {
    if printer.is_json() {
        let v = match a {
            Answer::Pong { ms, user } => {
                json!({"host": host, "status": "pong", "user": user, "elapsed_ms": ms})
            }
            Answer::Unreachable(e) => json!({"host": host, "status": "unreachable",
                "error": {"kind": e.kind(), "message": e.to_string(), "hint": e.hint()}}),
            Answer::Failed(m) => {
                json!({"host": host, "status": "failed", "error": {"kind": "failed", "message": m}})
            }
        };
        printer.json(&v);
        return;
    }
    match a {
        Answer::Pong { ms, user } => {
            printer.result(&format!("{host} | {}", printer.paint("pong", Style::Ok)));
            printer.verbose(1, &format!("    as {user}, {ms} ms"));
        }
        Answer::Unreachable(e) => {
            printer.result(&format!(
                "{host} | {}: {e}",
                printer.paint("UNREACHABLE", Style::Unreachable)
            ));
            if let Some(h) = e.hint() {
                printer.line(&format!("    hint: {h}"));
            }
        }
        Answer::Failed(m) => printer.result(&format!(
            "{host} | {}: {m}",
            printer.paint("FAILED", Style::Failed)
        )),
    }
}
