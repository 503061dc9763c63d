//! `ansible_connection=local`: commands run on the controller, through the same
//! `sh` command line as over SSH, so quoting and become behave identically.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use super::{Chunk, ConnectionSpec, Output, TransportError, pump};

pub struct LocalConnection {
    pub spec: ConnectionSpec,
}

impl LocalConnection {
    pub fn new(spec: &ConnectionSpec) -> Self {
        LocalConnection { spec: spec.clone() }
    }

    pub async fn run(&self, line: &str, stdin: Option<&[u8]>) -> Result<Output, TransportError> {
        let mut child = self.spawn(line, stdin.is_some())?;
        let group = Group::of(&child);
        let writer = child.stdin.take();
        let feed = async {
            if let (Some(mut w), Some(data)) = (writer, stdin) {
                let _ = w.write_all(data).await;
                let _ = w.shutdown().await;
            }
        };
        let (_, out) = tokio::join!(feed, child.wait_with_output());
        group.done();
        let out = out.map_err(|e| self.error(e))?;
        Ok(Output {
            rc: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    /// See [`super::Connection::stream`].
    pub async fn stream(
        &self,
        line: &str,
        hold_stdin: bool,
        tx: tokio::sync::mpsc::UnboundedSender<Chunk>,
    ) -> Result<Option<i32>, TransportError> {
        let mut child = self.spawn(line, hold_stdin)?;
        let group = Group::of(&child);
        // held (open) until the command ends
        let _stdin = child.stdin.take();
        let (out, errs) = (child.stdout.take(), child.stderr.take());
        tokio::join!(pump(out, Chunk::Out, &tx), pump(errs, Chunk::Err, &tx));
        let status = child.wait().await;
        group.done();
        Ok(status.map_err(|e| self.error(e))?.code())
    }

    /// `/bin/sh -c LINE`, stdout and stderr piped, stdin piped or empty, in a
    /// process group of its own: as on a remote host, the terminal's Ctrl-C
    /// reaches opsctl alone, which then stops the command (see [`Group`]).
    fn spawn(&self, line: &str, stdin: bool) -> Result<tokio::process::Child, TransportError> {
        tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(line)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .map_err(|e| self.error(e))
    }

    fn error(&self, e: std::io::Error) -> TransportError {
        TransportError::Local {
            host: self.spec.host.clone(),
            detail: e.to_string(),
        }
    }
}

/// A command's process group, killed whole when the command is dropped before
/// it ended (an interrupted run): `kill_on_drop` alone would kill the `sh` and
/// leave what it started running. A command that ended keeps what it put in
/// the background (`daemon &`), as Ansible's local connection does.
struct Group(Option<rustix::process::Pid>);

impl Group {
    fn of(child: &tokio::process::Child) -> Group {
        Group(
            child
                .id()
                .and_then(|id| rustix::process::Pid::from_raw(id as i32)),
        )
    }

    fn done(mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}
