//! `opsctl previews`: the preview environments on an environment's hosts (made by
//! `opsctl deploy --preview`): list them, destroy one, extend one's lifetime.
//! Each host's `/usr/local/sbin/opsctl-previews` (roles/app/files) does the work
//! under the previews' lock, the same tool its expiry timer runs.

use serde_json::json;

use crate::deploy::hosts::{Hosts, now};
use crate::deploy::preview as pv;
use crate::error::{Error, Exit, Result};
use crate::printer::{Printer, Style};
use crate::session::Loaded;
use crate::transport::{ConnectionSpec, Output, RemoteCommand, shell_quote};

/// `opsctl previews`.
#[derive(Debug, Clone, Default)]
pub struct PreviewsOptions {
    pub limit: Option<String>,
    /// ACTION NAME DURATION as given (none: list).
    pub words: [Option<String>; 3],
}

#[derive(Debug, Clone)]
enum PreviewsAction {
    /// Name, ref, commit, URL, expires in.
    List,
    /// Remove NAME now: programs, site, certificate, database, files, ports.
    Destroy { name: String },
    /// Move NAME's expiry by SECONDS (from now if it already passed).
    Extend { name: String, seconds: i64 },
}

const TOOL: &str = "/usr/local/sbin/opsctl-previews";

/// The tool's command line, as root (`sudo -n` for another login user).
fn script(args: &[&str]) -> String {
    let words: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    let cmd = format!("{TOOL} {}", words.join(" "));
    format!(
        "if [ ! -x {TOOL} ]; then echo 'no preview was ever deployed here ({TOOL} is missing)' >&2; exit 3; fi\n\
         if [ \"$(id -u)\" = 0 ]; then {cmd}; else sudo -n {cmd}; fi"
    )
}

/// `--lifetime`: `7d`, `36h`, `90m`... (never negative).
pub fn parse_lifetime(s: &str) -> std::result::Result<i64, String> {
    crate::journal::time::parse_seconds(s, false)
}

/// The action the words name.
fn action(words: [Option<String>; 3]) -> Result<PreviewsAction> {
    let usage =
        || Error::new("usage: opsctl previews [destroy NAME | extend NAME DURATION] --env ENV");
    Ok(match words {
        [None, None, None] => PreviewsAction::List,
        [Some(a), Some(name), None] if a == "destroy" => PreviewsAction::Destroy { name },
        [Some(a), Some(name), Some(d)] if a == "extend" => {
            let seconds = crate::journal::time::parse_seconds(&d, true).map_err(Error::new)?;
            PreviewsAction::Extend { name, seconds }
        }
        _ => return Err(usage()),
    })
}

/// `script` over the command's connection to the host of `spec`.
async fn run_on(hosts: &Hosts, spec: &ConnectionSpec, script: String) -> Result<Output> {
    let unreachable = |e: crate::transport::TransportError| {
        Error::new(format!("host {}: {e}", spec.host))
            .maybe_hint(e.hint())
            .exit(Exit::Unreachable)
    };
    let conn = hosts.conns.get(spec).await.map_err(unreachable)?;
    conn.run(&RemoteCommand::new(script))
        .await
        .map_err(unreachable)
}

pub async fn run(loaded: Loaded, o: PreviewsOptions, printer: &Printer) -> Result<Exit> {
    let action = action(o.words)?;
    let hosts = Hosts::load(loaded, o.limit.as_deref(), "deploy")?;
    if let PreviewsAction::Destroy { name } | PreviewsAction::Extend { name, .. } = &action
        && pv::dns_safe(name).as_deref() != Some(name.as_str())
    {
        return Err(Error::new(format!("'{name}' is not a preview name"))
            .hint("`opsctl previews --env ENV` lists them"));
    }
    let mut exit = Exit::Success;
    let t = now() as i64;
    // The web hosts, then the db hosts that hold previews' databases of their
    // own (a separate db host: its record of each preview, under the web hosts'
    // preview_root). Listing reads the web hosts; destroy also drops the
    // databases there (unless --limit leaves the db host out); extend always
    // moves their expiry too, so a database never goes before its preview.
    let mut targets = Vec::new();
    for i in 0..hosts.names.len() {
        targets.push((
            hosts.names[i].clone(),
            hosts.specs[i].clone(),
            hosts.preview_root(i)?,
        ));
    }
    if !matches!(action, PreviewsAction::List) {
        let web = hosts.loaded.inventory.select("web").unwrap_or_default();
        let limited = match (&action, o.limit.as_deref()) {
            (PreviewsAction::Destroy { .. }, Some(l)) => Some(hosts.loaded.select(Some(l))?),
            _ => None,
        };
        let root = targets[0].2.clone();
        for h in hosts.loaded.inventory.select("db").unwrap_or_default() {
            if web.contains(&h) || limited.as_ref().is_some_and(|l| !l.contains(&h)) {
                continue;
            }
            let spec = hosts
                .loaded
                .connection_specs(std::slice::from_ref(&h))?
                .remove(0);
            targets.push((h, spec, root.clone()));
        }
    }
    for (host, spec, root) in &targets {
        let s = match &action {
            PreviewsAction::List => script(&["list", root]),
            PreviewsAction::Destroy { name } => script(&["destroy", root, name]),
            PreviewsAction::Extend { name, seconds } => {
                script(&["extend", root, name, &seconds.to_string()])
            }
        };
        let out = match run_on(&hosts, spec, s).await {
            Ok(out) => out,
            Err(e) => {
                printer.result(&format!(
                    "{host} | {}: {}",
                    printer.paint("UNREACHABLE", Style::Failed),
                    e.message
                ));
                exit = e.exit;
                continue;
            }
        };
        let stdout = out.stdout_str();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let missing = out.rc == Some(3);
        if missing && let PreviewsAction::Destroy { name } = &action {
            // Nothing to destroy is what destroy wants (a CI stop job run twice).
            printer.result(&format!(
                "{host} | no preview {name} here: nothing to destroy"
            ));
            continue;
        }
        let listed_none = missing && matches!(action, PreviewsAction::List);
        if !out.success() && !listed_none {
            let e = if stderr.is_empty() {
                format!("exit {:?}", out.rc)
            } else {
                stderr
            };
            printer.result(&format!(
                "{host} | {}: {e}",
                printer.paint("FAILED", Style::Failed)
            ));
            exit = Exit::Failed;
            continue;
        }
        match &action {
            PreviewsAction::List => {
                let records = pv::parse_list(&stdout);
                if printer.is_json() {
                    for r in &records {
                        printer.json(&json!({
                            "host": host, "name": r.name, "ref": r.git_ref, "commit": r.commit,
                            "url": r.url, "release": r.release, "removeat": r.removeat,
                            "expires_in_seconds": r.removeat - t,
                            "client_port": r.fields.get("CLIENT_PORT"), "api_port": r.fields.get("API_PORT"),
                            "database": r.fields.get("DB_NAME").filter(|d| !d.is_empty()),
                            // A compose app's preview: its stacks' project (each
                            // release's is COMPOSE_PROJECT-RELEASE_ID).
                            "compose_project": r.fields.get("COMPOSE_PROJECT").filter(|p| !p.is_empty()),
                        }));
                    }
                    continue;
                }
                printer.result(&format!("{host}  ({root})"));
                if records.is_empty() {
                    printer.result("    no preview");
                    continue;
                }
                printer.result(&format!(
                    "    {:<24} {:<20} {:<9} {:<40} {}",
                    "NAME", "REF", "COMMIT", "URL", "EXPIRES IN"
                ));
                for r in &records {
                    let commit: String = if r.commit.is_empty() {
                        "none".into()
                    } else {
                        r.commit.chars().take(7).collect()
                    };
                    printer.result(&format!(
                        "    {:<24} {:<20} {:<9} {:<40} {}",
                        r.name,
                        r.git_ref,
                        commit,
                        r.url,
                        pv::human_left(r.removeat - t)
                    ));
                }
            }
            PreviewsAction::Destroy { .. } => {
                printer.result(&format!("{host} | {}", stdout.trim()));
            }
            PreviewsAction::Extend { name, .. } => {
                let at: i64 = stdout
                    .trim()
                    .trim_start_matches("REMOVEAT=")
                    .parse()
                    .unwrap_or(0);
                printer.result(&format!(
                    "{host} | preview {name} is removed at {} (in {})",
                    crate::deploy::iso_time(at.max(0) as u64),
                    pv::human_left(at - t)
                ));
            }
        }
    }
    hosts.conns.close_all().await;
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> [Option<String>; 3] {
        let mut out = [None, None, None];
        for (i, s) in w.iter().enumerate() {
            out[i] = Some(s.to_string());
        }
        out
    }

    #[test]
    fn actions_from_words() {
        assert!(matches!(action(words(&[])), Ok(PreviewsAction::List)));
        assert!(
            matches!(action(words(&["destroy", "x"])), Ok(PreviewsAction::Destroy { name }) if name == "x")
        );
        assert!(matches!(
            action(words(&["extend", "x", "-1h"])),
            Ok(PreviewsAction::Extend { seconds: -3600, .. })
        ));
        for bad in [
            &["destroy"][..],
            &["extend", "x"],
            &["destroy", "x", "3d"],
            &["extend", "x", "3y"],
        ] {
            assert!(action(words(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_tool_runs_as_root_with_quoted_words() {
        let s = script(&["destroy", "/srv/app-previews", "a b"]);
        assert!(
            s.contains("/usr/local/sbin/opsctl-previews destroy /srv/app-previews 'a b'"),
            "{s}"
        );
        assert!(s.contains("sudo -n"), "{s}");
    }
}
