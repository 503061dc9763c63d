//! `opsctl initdata`: copies the environment's `initdata_src` file to each host
//! (mode 0600, `{{ app_root }}/shared/`) and runs the app's `initdata_command` in
//! the live release, under the deploy lock (`playbooks/initdata.yml`), as the
//! `make ops-initdata` target of an Ansible repo.

use std::path::PathBuf;

use serde_json::json;

use crate::deploy::hosts::{Hosts, finish, holder};
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;
use crate::session::Loaded;

/// The first bytes of an age file (binary and armored).
const AGE_MAGIC: [&str; 2] = [
    "age-encryption.org/v1",
    "-----BEGIN AGE ENCRYPTED FILE-----",
];

/// `opsctl initdata`.
#[derive(Debug, Clone, Default)]
pub struct InitdataOptions {
    pub limit: Option<String>,
    /// Remove a deploy lock left by another command before taking it.
    pub force_unlock: bool,
    /// The age identity that decrypts an encrypted initdata_src (`--identity`).
    pub identity: Option<PathBuf>,
}

pub async fn run(loaded: Loaded, args: InitdataOptions, printer: &Printer) -> Result<Exit> {
    let hosts = Hosts::load(loaded, args.limit.as_deref(), "initdata")?;
    let src = hosts.same_var("initdata_src")?.filter(|s| !s.is_empty()).ok_or_else(|| {
        Error::new("initdata_src is not set for this environment")
            .hint("add `initdata_src: assets/initdata.json` (relative to the environment's directory) to its group_vars/web.yml")
    })?;
    let base = hosts
        .loaded
        .target
        .inventory
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let path = if PathBuf::from(&src).is_absolute() {
        PathBuf::from(&src)
    } else {
        base.join(&src)
    };
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::new(format!(
            "initdata_src {}: {e}",
            crate::location::display_path(&path)
        ))
        .hint("initdata_src is relative to the environment's directory (where its hosts file is)")
    })?;
    // An age-encrypted initdata_src is decrypted in memory, into a private file
    // (0600 in a 0700 directory) that is wiped when this command ends.
    let mut plain_file = None;
    let (local, name) = if AGE_MAGIC.iter().any(|m| bytes.starts_with(m.as_bytes())) {
        let opts = crate::secrets::IdentityOpts {
            file: args.identity.clone(),
        };
        let plain = crate::secrets::decrypt_file(&path, &base, &opts)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".age").to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "initdata".into());
        let pf = crate::secrets::edit::PlainFile::create(&plain.bytes, &name).map_err(|e| {
            Error::new(format!(
                "cannot write the decrypted initdata to a private file: {e}"
            ))
        })?;
        let local = pf.path.clone();
        plain_file = Some(pf);
        (local, name)
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "initdata".into());
        (path.clone(), name)
    };
    let holder = holder("initdata", "-");
    let locked = tokio::select! {
        r = hosts.lock(&holder, args.force_unlock, printer) => r,
        _ = crate::interrupt::signalled() => {
            hosts.unlock(&holder, hosts.names.len()).await;
            hosts.conns.close_all().await;
            return Ok(Exit::Interrupted);
        }
    };
    let previous: Vec<_> = match locked {
        Ok(taken) => taken.into_iter().map(|(_, p)| p).collect(),
        Err(e) => {
            hosts.conns.close_all().await;
            return Err(e);
        }
    };
    let extra = json!({
        "initdata_file": local.to_string_lossy(),
        "initdata_name": name,
    });
    // A lock taken over from a command that died: its live release is
    // health-checked first (logged ok, or switched back), as deploy does, so
    // the data goes into a release that is known good.
    let result = match finish(&hosts, &previous, printer).await {
        Ok(_) => {
            hosts
                .run_playbook("initdata", extra, (false, false), printer)
                .await
        }
        Err(e) => Err(e),
    };
    if let Some(mut pf) = plain_file.take() {
        pf.wipe();
    }
    hosts.unlock(&holder, hosts.names.len()).await;
    hosts.conns.close_all().await;
    match result? {
        Exit::Success => {
            printer.result(&format!(
                "initdata {} loaded on {}",
                crate::location::display_path(&path),
                hosts.names.join(", ")
            ));
            Ok(Exit::Success)
        }
        Exit::Interrupted => Ok(Exit::Interrupted),
        e => Err(Error::new("initdata failed")
            .hint("see the failed task above")
            .exit(e)),
    }
}
