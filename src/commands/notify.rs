//! `opsctl notify test --env E`: each host sends a test notification through
//! the path its monitor uses (`/usr/local/sbin/opsctl-monitor test`, installed
//! by roles/monitor): the webhook (its URL read from the host's root-only file,
//! given to curl on its stdin) and/or mail through the host's MTA. So a test that
//! arrives proves what the monitor needs: the URL, the host's way out, the MTA.

use std::sync::Arc;

use serde_json::json;

use super::Loaded;
use crate::error::{Exit, Result};
use crate::printer::{Printer, Style};
use crate::runner::{Connections, fan_out};
use crate::transport::{ConnectionSpec, RemoteCommand, TransportError};

/// The host's monitor script (roles/monitor).
const MONITOR: &str = "/usr/local/sbin/opsctl-monitor";

/// `opsctl notify test`: which hosts, how many at once.
#[derive(Debug, Clone, Default)]
pub struct NotifyOptions {
    pub limit: Option<String>,
    pub forks: usize,
}

#[derive(Debug, Clone)]
enum Answer {
    /// What was sent (`sent: webhook mail`).
    Sent(String),
    Failed(String),
    Unreachable(String),
}

pub async fn run(loaded: &Loaded, args: NotifyOptions, printer: &Printer) -> Result<Exit> {
    let hosts = loaded.select(args.limit.as_deref())?;
    let specs = loaded.connection_specs(&hosts)?;
    let conns = Connections::new();
    let c = conns.clone();
    let work = move |spec: ConnectionSpec| {
        let c = c.clone();
        async move { send(&c, &spec).await }
    };
    let journal = crate::journal::active();
    let report = |i: usize, a: Answer| {
        let host = &hosts[i];
        let (status, msg) = match &a {
            Answer::Sent(m) => ("ok", m.clone()),
            Answer::Failed(m) => ("failed", m.clone()),
            Answer::Unreachable(m) => ("unreachable", m.clone()),
        };
        if let Some(j) = &journal {
            j.event(
                json!({"type": "task", "host": host, "task": "notify test", "status": status,
                "changed": false, "duration_ms": 0, "msg": msg}),
            );
        }
        if printer.is_json() {
            printer.json(&json!({"host": host, "status": status, "msg": msg}));
            return;
        }
        let word = match a {
            Answer::Sent(_) => printer.paint("SENT", Style::Ok),
            Answer::Failed(_) => printer.paint("FAILED", Style::Failed),
            Answer::Unreachable(_) => printer.paint("UNREACHABLE", Style::Unreachable),
        };
        printer.result(&format!("{host} | {word}: {msg}"));
    };
    let Some(answers) =
        super::unless_interrupted(fan_out(specs, args.forks, work, report), &conns, printer).await
    else {
        return Ok(Exit::Interrupted);
    };
    conns.close_all().await;
    let count = |f: fn(&Answer) -> bool| answers.iter().filter(|a| f(a)).count();
    Ok(Exit::of_hosts(
        count(|a| matches!(a, Answer::Failed(_))),
        count(|a| matches!(a, Answer::Unreachable(_))),
    ))
}

async fn send(conns: &Arc<Connections>, spec: &ConnectionSpec) -> Answer {
    let conn = match conns.get(spec).await {
        Ok(c) => c,
        Err(e) => {
            return Answer::Unreachable(match e.hint() {
                Some(h) => format!("{e} (hint: {h})"),
                None => e.to_string(),
            });
        }
    };
    // The webhook's URL file is root's: as root, through sudo when not root.
    let script = format!(
        "if [ ! -x {MONITOR} ]; then echo 'the monitor is not installed: run `opsctl provision` (roles/monitor)' >&2; exit 3; fi; \
         if [ \"$(id -u)\" = 0 ]; then exec {MONITOR} test; else exec sudo -n {MONITOR} test; fi"
    );
    match conn.run(&RemoteCommand::new(&script)).await {
        Ok(out) if out.success() => Answer::Sent(out.stdout_str().trim().to_string()),
        Ok(out) => {
            let why = out.stderr_str().trim().to_string();
            Answer::Failed(if why.is_empty() {
                format!("{MONITOR} test failed (exit {:?})", out.rc)
            } else {
                why
            })
        }
        Err(e @ TransportError::Disconnected { .. }) => Answer::Unreachable(e.to_string()),
        Err(e) => Answer::Failed(e.to_string()),
    }
}
