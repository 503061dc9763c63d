//! `opsctl backups --env E`: the snapshots of the environment's restic
//! repository (read on its backup host): time, size, release and commit.

use serde_json::json;

use crate::deploy::backup as b;
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;
use crate::runner::{Connections, connection_spec};
use crate::session::Loaded;

/// `opsctl backups`.
#[derive(Debug, Clone, Default)]
pub struct BackupsOptions {}

pub async fn run(loaded: Loaded, _args: BackupsOptions, printer: &Printer) -> Result<Exit> {
    let host = b::backup_host(&loaded.inventory).ok_or_else(b::no_backup_host)?;
    let spec = connection_spec(&loaded.vars, &host, loaded.target.ssh_config.as_deref())?;
    let conns = Connections::new();
    let out = b::script(&conns, &spec, &["list", "--sizes"], None).await;
    conns.close_all().await;
    let out = out?;
    if !out.success() {
        return Err(b::failed(&host, "listing the snapshots", &out));
    }
    let list = b::parse_list(&out.stdout_str())
        .map_err(|e| Error::new(format!("host {host}: {e}")).exit(Exit::Failed))?;
    if printer.is_json() {
        for s in &list {
            printer.json(&json!({
                "id": s.id, "time": s.time, "host": s.host, "env": s.env,
                "release": s.release, "commit": s.commit, "size": s.size, "files": s.files,
            }));
        }
        return Ok(Exit::Success);
    }
    if list.is_empty() {
        printer.result(&format!(
            "no backup yet in the repository of {host} (`opsctl backup --env ENV`)"
        ));
        return Ok(Exit::Success);
    }
    printer.result(&format!(
        "{:<10} {:<21} {:>10}  {:<24} {:<8} {:<10} {}",
        "SNAPSHOT", "TIME", "SIZE", "RELEASE", "COMMIT", "HOST", "FILES OF"
    ));
    for s in &list {
        printer.result(&format!(
            "{:<10} {:<21} {:>10}  {:<24} {:<8} {:<10} {}",
            s.id,
            s.time,
            s.size.map(size).unwrap_or_else(|| "?".into()),
            if s.release.is_empty() {
                "-"
            } else {
                &s.release
            },
            if s.commit.is_empty() { "-" } else { &s.commit },
            s.host,
            if s.files.is_empty() {
                "-".to_string()
            } else {
                s.files.join(",")
            }
        ));
    }
    Ok(Exit::Success)
}

/// `512 B`, `12.3 KiB`, `4.0 MiB`, `1.2 GiB`.
fn size(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}
