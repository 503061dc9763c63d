//! `opsctl ssh HOST [-- CMD]`: the system `ssh` to one host of the
//! environment, reaching it as the transport does (its ssh_config, user,
//! port, key, known hosts and host key policy), run in place of opsctl so the
//! terminal, signals and exit status are ssh's.

use std::os::unix::process::CommandExt;

use super::Loaded;
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;
use crate::runner::connection_spec;
use crate::transport::{ConnectionKind, interactive_args};

/// `opsctl ssh`: the host (an inventory name) and an optional command.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub host: String,
    /// Given to ssh as words after the host (ssh joins them with spaces).
    pub command: Vec<String>,
}

pub fn run(loaded: &Loaded, o: SshOptions, printer: &Printer) -> Result<Exit> {
    let hosts = loaded.inventory.select(&o.host)?;
    let host = match hosts.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(
                Error::new(format!("ssh: no host {} in the inventory", o.host))
                    .hint("`opsctl inventory --graph` lists the hosts"),
            );
        }
        many => {
            return Err(Error::new(format!(
                "ssh: '{}' matches {} hosts ({}{}); name one",
                o.host,
                many.len(),
                many[..many.len().min(3)].join(", "),
                if many.len() > 3 { ", ..." } else { "" }
            ))
            .hint("to run a command on several hosts: opsctl exec --limit PATTERN -- CMD"));
        }
    };
    let spec = connection_spec(&loaded.vars, &host, loaded.target.ssh_config.as_deref())?;
    if spec.kind == ConnectionKind::Local {
        return Err(Error::new(format!(
            "ssh: {host} is reached with ansible_connection=local: there is no ssh to it"
        ))
        .hint("it is this machine: run the command here"));
    }
    let mut args = interactive_args(&spec);
    args.extend(o.command);
    printer.verbose(1, &format!("ssh {}", args.join(" ")));
    // Replaces opsctl: returns only if ssh could not be started.
    let e = std::process::Command::new("ssh").args(&args).exec();
    Err(Error::new(format!("ssh: cannot run ssh: {e}")).hint("install the OpenSSH client"))
}
