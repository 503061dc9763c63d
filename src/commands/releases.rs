//! `opsctl releases`: per host, its releases (live, commit, ref, who, when, result)
//! from `releases.log` and the release directories.

use serde_json::json;

use crate::deploy::hosts::Hosts;
use crate::deploy::{self as d, Release};
use crate::error::{Exit, Result};
use crate::printer::{Printer, Style};
use crate::session::Loaded;

/// `opsctl releases`.
#[derive(Debug, Clone, Default)]
pub struct ReleasesOptions {
    pub limit: Option<String>,
}

pub async fn run(loaded: Loaded, args: ReleasesOptions, printer: &Printer) -> Result<Exit> {
    let hosts = Hosts::load(loaded, args.limit.as_deref(), "deploy")?;
    let mut exit = Exit::Success;
    for i in 0..hosts.names.len() {
        let host = &hosts.names[i];
        let st = match hosts.status(i).await {
            Ok(s) => s,
            Err(e) => {
                if printer.is_json() {
                    printer.json(&json!({"host": host, "error": e.message}));
                } else {
                    printer.result(&format!(
                        "{host} | {}: {}",
                        printer.paint("FAILED", Style::Failed),
                        e.message
                    ));
                }
                exit = e.exit;
                continue;
            }
        };
        let releases = d::releases(&st.records, &st.present, st.current.as_deref());
        if printer.is_json() {
            let list: Vec<_> = releases.iter().map(release_json).collect();
            printer.json(&json!({
                "host": host,
                "app_root": hosts.roots[i],
                "live": st.current,
                "releases": list,
                "lock": st.lock,
                "log_problems": st.problems,
            }));
            continue;
        }
        printer.result(&format!("{host}  ({})", hosts.roots[i]));
        if releases.is_empty() {
            printer.result("    no release yet");
        } else {
            printer.result(&format!(
                "    {:<24} {:<9} {:<16} {:<18} {:<24} {}",
                "RELEASE", "COMMIT", "REF", "RESULT", "BY", "AT"
            ));
        }
        for r in &releases {
            let dep = r.deployed.as_ref();
            let mut result = r
                .outcome()
                .map(|o| o.as_str().to_string())
                .unwrap_or_else(|| "unlogged".into());
            if let Some(step) = r.last.as_ref().and_then(|l| l.step.as_deref()) {
                result = format!("{result} ({step})");
            }
            if !r.present {
                // A bad release that never went live is removed at once.
                result.push_str(if r.outcome() == Some(d::Outcome::Bad) {
                    " removed"
                } else {
                    " pruned"
                });
            }
            let commit: String = dep
                .map(|x| x.commit.chars().take(d::SHORT_SHA).collect())
                .unwrap_or_default();
            printer.result(&format!(
                "  {} {:<24} {:<9} {:<16} {:<18} {:<24} {}",
                if r.live { "*" } else { " " },
                r.id,
                commit,
                dep.map(|x| x.git_ref.as_str()).unwrap_or(""),
                result,
                dep.map(|x| x.user.as_str()).unwrap_or(""),
                dep.map(|x| x.time.as_str()).unwrap_or("")
            ));
        }
        if let Some(l) = &st.lock {
            printer.result(&format!("    locked: {}", l.describe(host)));
        }
        for p in &st.problems {
            printer.warn(&format!("{host}: {p} (line skipped)"));
        }
    }
    hosts.conns.close_all().await;
    Ok(exit)
}

fn release_json(r: &Release) -> serde_json::Value {
    let dep = r.deployed.as_ref();
    json!({
        "id": r.id,
        "live": r.live,
        "present": r.present,
        "result": r.outcome().map(|o| o.as_str()),
        "step": r.last.as_ref().and_then(|l| l.step.clone()),
        "note": r.last.as_ref().and_then(|l| l.note.clone()),
        "commit": dep.map(|x| x.commit.clone()),
        "ref": dep.map(|x| x.git_ref.clone()),
        "user": dep.map(|x| x.user.clone()),
        "time": dep.map(|x| x.time.clone()),
    })
}
