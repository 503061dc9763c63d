//! `ansible_connection=local`: commands run on the controller, through the same
//! `sh` command line as over SSH, so quoting and become behave identically.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use super::{ConnectionSpec, Output, TransportError};

pub struct LocalConnection {
    pub spec: ConnectionSpec,
}

impl LocalConnection {
    pub fn new(spec: &ConnectionSpec) -> Self {
        LocalConnection { spec: spec.clone() }
    }

    pub async fn run(&self, line: &str, stdin: Option<&[u8]>) -> Result<Output, TransportError> {
        let err = |e: std::io::Error| TransportError::Local {
            host: self.spec.host.clone(),
            detail: e.to_string(),
        };
        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(line)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(err)?;
        let writer = child.stdin.take();
        let feed = async {
            if let (Some(mut w), Some(data)) = (writer, stdin) {
                let _ = w.write_all(data).await;
                let _ = w.shutdown().await;
            }
        };
        let (_, out) = tokio::join!(feed, child.wait_with_output());
        let out = out.map_err(err)?;
        Ok(Output {
            rc: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}
