//! `opsctl maintenance on|off|status --env E [--message TEXT]`: the maintenance
//! page of the web hosts (the hosts of `playbooks/deploy.yml`), switched through
//! [`crate::deploy::maintenance`] without reloading nginx. See docs/maintenance.md.

use serde_json::json;

use crate::deploy::hosts::Hosts;
use crate::deploy::maintenance::{self as m, BY_HAND, Entered, Left, State};
use crate::error::{Error, Exit, Result};
use crate::printer::{Printer, Style};
use crate::session::Loaded;

/// What `opsctl maintenance` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaintenanceAction {
    On,
    Off,
    #[default]
    Status,
}

/// `opsctl maintenance`.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceOptions {
    pub action: MaintenanceAction,
    pub limit: Option<String>,
    /// `--message` (on): else each host's `maintenance_message`.
    pub message: Option<String>,
}

pub async fn run(loaded: Loaded, args: MaintenanceOptions, printer: &Printer) -> Result<Exit> {
    if args.action != MaintenanceAction::On && args.message.is_some() {
        return Err(Error::new("--message goes with `opsctl maintenance on`")
            .hint("opsctl maintenance on --env ENV --message TEXT"));
    }
    let hosts = Hosts::load(loaded, args.limit.as_deref(), "deploy")?;
    let lines: Vec<Result<(String, serde_json::Value)>> = match args.action {
        MaintenanceAction::On => m::enter(&hosts, BY_HAND, args.message.as_deref())
            .await
            .into_iter()
            .map(|r| r.map(entered))
            .collect(),
        MaintenanceAction::Off => m::leave(&hosts, None)
            .await
            .into_iter()
            .map(|r| r.map(left))
            .collect(),
        MaintenanceAction::Status => m::states(&hosts)
            .await
            .into_iter()
            .map(|r| r.map(|s| status(s.as_ref())))
            .collect(),
    };
    hosts.conns.close_all().await;
    let mut exit = Exit::Success;
    for (host, line) in hosts.names.iter().zip(lines) {
        match line {
            Ok((text, mut v)) => {
                if printer.is_json() {
                    v["host"] = json!(host);
                    printer.json(&v);
                } else {
                    printer.result(&format!("{host} | {text}"));
                }
            }
            Err(e) => {
                if printer.is_json() {
                    printer.json(&json!({"host": host, "error": e.message}));
                } else {
                    let hint = e
                        .hints
                        .first()
                        .map(|h| format!(" ({h})"))
                        .unwrap_or_default();
                    printer.result(&format!(
                        "{host} | {}: {}{hint}",
                        printer.paint("FAILED", Style::Failed),
                        e.message
                    ));
                }
                if exit == Exit::Success || e.exit == Exit::Failed {
                    exit = e.exit;
                }
            }
        }
    }
    Ok(exit)
}

fn state_json(s: Option<&State>) -> serde_json::Value {
    json!(s)
}

fn entered(e: Entered) -> (String, serde_json::Value) {
    match e {
        Entered::On(None) | Entered::Already(None) => (
            "maintenance page on".into(),
            json!({"maintenance": "on", "changed": true}),
        ),
        Entered::On(Some(prev)) | Entered::Already(Some(prev)) => (
            format!(
                "maintenance page on (it was on {}: now by hand, with the new message)",
                prev.describe()
            ),
            json!({"maintenance": "on", "changed": true, "previous": state_json(Some(&prev))}),
        ),
    }
}

fn left(l: Left) -> (String, serde_json::Value) {
    match l {
        Left::Off(prev) => (
            match &prev {
                Some(p) => format!("maintenance page off (it was on {})", p.describe()),
                None => "maintenance page off".into(),
            },
            json!({"maintenance": "off", "changed": true, "previous": state_json(prev.as_ref())}),
        ),
        Left::Kept(_) | Left::WasOff => (
            "maintenance page was off".into(),
            json!({"maintenance": "off", "changed": false}),
        ),
    }
}

fn status(s: Option<&State>) -> (String, serde_json::Value) {
    match s {
        Some(st) => (
            format!("maintenance page on {}", st.describe()),
            json!({"maintenance": "on", "state": state_json(Some(st))}),
        ),
        None => ("maintenance page off".into(), json!({"maintenance": "off"})),
    }
}
