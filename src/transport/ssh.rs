//! SSH through the system OpenSSH client.
//!
//! opsctl starts ONE ControlMaster per host itself (`ssh -M -N -f`), so every
//! option is ours to choose and whatever ssh or its ProxyCommand prints on the way
//! is captured and classified. Commands then go over the master's socket with the
//! `openssh` crate's native mux client (no `ssh` process per command). Users'
//! `~/.ssh/config`, ProxyJump, agents and known_hosts all apply, because the real
//! ssh runs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openssh::Session;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use super::{ConnectionSpec, Output, TransportError, classify};

/// sshd's default MaxSessions is 10: stay below it.
const CHANNELS_PER_HOST: usize = 8;
/// A master left behind by a killed opsctl exits after this much idleness.
const CONTROL_PERSIST: Duration = Duration::from_secs(120);
/// Prefix of the sockets of masters kept between invocations.
const KEPT_PREFIX: &str = "k-";
/// sun_path is 108 bytes and ssh appends a random suffix while binding.
const MAX_SOCKET_PATH: usize = 80;

pub struct SshConnection {
    pub spec: ConnectionSpec,
    session: Session,
    control_path: PathBuf,
    log_path: PathBuf,
    channels: Semaphore,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// How long masters outlive the command (`--keep-connections`); `None`: closed at exit.
static KEEP: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();

/// Keep masters alive for `idle` after the command exits, and reuse masters that an
/// earlier command kept (as Ansible's ControlPersist does). Call once, before any
/// connection opens; the default is to close every master at exit.
pub fn keep_connections(idle: Option<Duration>) {
    let _ = KEEP.set(idle);
}

fn kept() -> Option<Duration> {
    KEEP.get().copied().flatten()
}

/// The private directory holding control sockets: `$XDG_RUNTIME_DIR/opsctl`, else
/// `/tmp/opsctl-<uid>`. Created 0700; refused if another user owns it.
pub fn control_directory() -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let uid = rustix::process::getuid().as_raw();
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir() && p.join("opsctl").as_os_str().len() < 40)
        .map(|p| p.join("opsctl"))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/opsctl-{uid}")));
    match std::fs::DirBuilder::new().mode(0o700).create(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", base.display())),
    }
    let meta = std::fs::symlink_metadata(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(format!(
            "{} is not a directory owned by you: remove it",
            base.display()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot make {} private: {e}", base.display()))?;
    }
    Ok(base)
}

impl SshConnection {
    pub async fn open(spec: &ConnectionSpec) -> Result<SshConnection, TransportError> {
        let dir = control_directory().map_err(|detail| TransportError::Local {
            host: spec.host.clone(),
            detail,
        })?;
        let keep = kept();
        let (control_path, log_path) = if keep.is_some() {
            // The same host reached the same way gets the same socket in every run.
            let name = format!("{KEPT_PREFIX}{}", spec_digest(spec));
            (dir.join(&name), dir.join(format!("{name}.log")))
        } else {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            (
                dir.join(format!("{}-{n}", std::process::id())),
                dir.join(format!("{}-{n}.log", std::process::id())),
            )
        };
        if control_path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(TransportError::Local {
                host: spec.host.clone(),
                detail: format!(
                    "control socket path {} is too long; set XDG_RUNTIME_DIR to a short directory",
                    control_path.display()
                ),
            });
        }
        // Two opsctl starting the same kept master at once: the second waits here,
        // then reuses the first one's.
        let _lock = match keep {
            Some(_) => Some(lock_file(&control_path.with_extension("lock")).await),
            None => None,
        };
        if keep.is_some()
            && control_path.exists()
            && let Some(conn) = Self::reuse(spec, &control_path, &log_path).await
        {
            return Ok(conn);
        }
        let _ = std::fs::remove_file(&control_path);
        let _ = std::fs::remove_file(&log_path);
        // Removes the log and socket if this future is dropped (Ctrl-C) or fails.
        let mut guard = RemoveOnDrop(vec![log_path.clone(), control_path.clone()]);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| TransportError::Local {
                host: spec.host.clone(),
                detail: format!("{}: {e}", log_path.display()),
            })?;

        let mut cmd = tokio::process::Command::new("ssh");
        cmd.args(master_args(
            spec,
            &control_path,
            &log_path,
            keep.unwrap_or(CONTROL_PERSIST),
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| TransportError::Local {
            host: spec.host.clone(),
            detail: format!("cannot run ssh ({e}); install the OpenSSH client"),
        })?;
        // ConnectTimeout bounds the TCP connect and the banner; this bounds the rest
        // (a ProxyCommand that hangs, a stuck authentication).
        let limit = spec.connect_timeout * 2 + Duration::from_secs(5);
        let status = match tokio::time::timeout(limit, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                return Err(TransportError::Local {
                    host: spec.host.clone(),
                    detail: e.to_string(),
                });
            }
            Err(_) => {
                let _ = child.kill().await;
                let _ = std::fs::remove_file(&log_path);
                return Err(TransportError::Timeout {
                    host: spec.host.clone(),
                    seconds: Some(limit.as_secs()),
                    detail: "no answer".into(),
                });
            }
        };
        let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if !status.success() || !control_path.exists() {
            let _ = std::fs::remove_file(&log_path);
            return Err(classify::connect_error(&spec.host, &log_text));
        }
        // Only errors are read from the log from now on; drop the connect chatter.
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&log_path) {
            let _ = f.set_len(0);
        }
        let session = Session::resume_mux(
            control_path.clone().into_boxed_path(),
            Some(log_path.clone().into_boxed_path()),
        );
        guard.0.clear();
        Ok(SshConnection {
            spec: spec.clone(),
            session,
            control_path,
            log_path,
            channels: Semaphore::new(CHANNELS_PER_HOST),
        })
    }

    /// A master kept by an earlier command, if it still answers.
    async fn reuse(
        spec: &ConnectionSpec,
        control_path: &Path,
        log_path: &Path,
    ) -> Option<SshConnection> {
        let session = Session::resume_mux(
            control_path.to_path_buf().into_boxed_path(),
            Some(log_path.to_path_buf().into_boxed_path()),
        );
        match tokio::time::timeout(Duration::from_secs(5), session.check()).await {
            Ok(Ok(())) => {}
            _ => {
                // A dead master's socket: ask it to exit in case it lingers.
                exit_master(control_path).await;
                return None;
            }
        }
        // Only errors of this run are read from the log.
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(log_path) {
            let _ = f.set_len(0);
        }
        Some(SshConnection {
            spec: spec.clone(),
            session,
            control_path: control_path.to_path_buf(),
            log_path: log_path.to_path_buf(),
            channels: Semaphore::new(CHANNELS_PER_HOST),
        })
    }

    /// Runs a command line over the master; stdin is streamed in while stdout and
    /// stderr are read, so large inputs and outputs never deadlock.
    pub async fn run(&self, line: &str, stdin: Option<&[u8]>) -> Result<Output, TransportError> {
        let _permit = self
            .channels
            .acquire()
            .await
            .map_err(|_| self.lost("closing"))?;
        let mut cmd = self.session.raw_command(line);
        cmd.stdin(if stdin.is_some() {
            openssh::Stdio::piped()
        } else {
            openssh::Stdio::null()
        })
        .stdout(openssh::Stdio::piped())
        .stderr(openssh::Stdio::piped());
        let mut child = cmd.spawn().await.map_err(|e| self.map_err(e))?;
        let writer = child.stdin().take();
        let feed = async {
            if let (Some(mut w), Some(data)) = (writer, stdin) {
                // A command that exits without reading its input is not an error.
                let _ = w.write_all(data).await;
                let _ = w.shutdown().await;
            }
        };
        let (_, out) = tokio::join!(feed, child.wait_with_output());
        let out = out.map_err(|e| self.map_err(e))?;
        Ok(Output {
            rc: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    fn map_err(&self, e: openssh::Error) -> TransportError {
        match e {
            openssh::Error::RemoteProcessTerminated => self.lost("the remote process was killed"),
            other => self.lost(&error_chain(&other)),
        }
    }

    fn lost(&self, detail: &str) -> TransportError {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let last = log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("debug"))
            .unwrap_or("")
            .trim();
        let detail = if last.is_empty() {
            detail.to_string()
        } else {
            format!("{detail}; ssh said: {last}")
        };
        TransportError::Disconnected {
            host: self.spec.host.clone(),
            detail,
        }
    }

    /// Stops the master (`ssh -O exit`) and removes its files, unless masters are
    /// kept between commands (`--keep-connections`): then it stays for the next one.
    pub async fn close(&self) {
        if kept().is_some() {
            return;
        }
        exit_master(&self.control_path).await;
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// `ssh -S SOCKET -O exit`: the master closes its connection and removes the socket.
async fn exit_master(control_path: &Path) {
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.arg("-S")
        .arg(control_path)
        .args(["-O", "exit", "opsctl-master"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), cmd.status()).await;
    let _ = std::fs::remove_file(control_path);
}

/// Closes every master kept by earlier commands (`opsctl disconnect`); returns how
/// many were running.
pub async fn close_kept() -> Result<usize, String> {
    let dir = control_directory()?;
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut closed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(KEPT_PREFIX) {
            continue;
        }
        let path = entry.path();
        if name.ends_with(".log") || name.ends_with(".lock") {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let session = Session::resume_mux(path.clone().into_boxed_path(), None);
        if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(5), session.check()).await {
            closed += 1;
        }
        exit_master(&path).await;
    }
    Ok(closed)
}

/// A stable name for how a host is reached: everything that goes on the master's
/// command line. Another user, port, key or config gets another master.
fn spec_digest(spec: &ConnectionSpec) -> String {
    use sha2::{Digest, Sha256};
    let mut args = master_args(spec, Path::new(""), Path::new(""), Duration::ZERO);
    args.push(env!("CARGO_PKG_VERSION").to_string());
    let digest = Sha256::digest(args.join("\0").as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Holds an exclusive `flock` on `path` until dropped (the file stays).
async fn lock_file(path: &Path) -> Option<std::fs::File> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ok()?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).ok()?;
        Some(file)
    })
    .await
    .ok()
    .flatten()
}

/// Files removed when dropped, unless the list was emptied.
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The arguments of the master process.
fn master_args(
    spec: &ConnectionSpec,
    control: &Path,
    log: &Path,
    persist: Duration,
) -> Vec<String> {
    // -v: with ControlPersist, OpenSSH sends a ProxyCommand's (or ProxyJump's) stderr
    // to /dev/null unless debugging, and that stderr is where "Connection refused"
    // is said. The debug lines go to the private log and are skipped when classifying.
    let mut a: Vec<String> = vec!["-M".into(), "-N".into(), "-f".into(), "-v".into()];
    a.extend(["-S".into(), control.display().to_string()]);
    a.extend(["-E".into(), log.display().to_string()]);
    for o in [
        format!("ControlPersist={}s", persist.as_secs().max(1)),
        "BatchMode=yes".into(),
        format!("ConnectTimeout={}", spec.connect_timeout.as_secs().max(1)),
        "ServerAliveInterval=15".into(),
        "ServerAliveCountMax=3".into(),
    ] {
        a.extend(["-o".into(), o]);
    }
    if let Some(o) = spec.host_key_checking.ssh_option() {
        a.extend(["-o".into(), o.into()]);
    }
    if let Some(cfg) = &spec.ssh_config {
        a.extend(["-F".into(), cfg.display().to_string()]);
    }
    if let Some(port) = spec.port {
        a.extend(["-p".into(), port.to_string()]);
    }
    if let Some(user) = &spec.user {
        a.extend(["-l".into(), user.clone()]);
    }
    if let Some(key) = &spec.private_key_file {
        a.extend([
            "-i".into(),
            key.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
        ]);
    }
    a.extend(spec.extra_args.iter().cloned());
    a.push("--".into());
    a.push(spec.address.clone());
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{ConnectionKind, HostKeyChecking};

    #[test]
    fn master_arguments() {
        let spec = ConnectionSpec {
            host: "web1".into(),
            kind: ConnectionKind::Ssh,
            address: "10.0.0.5".into(),
            port: Some(2222),
            user: Some("deploy".into()),
            private_key_file: Some("/k/id".into()),
            ssh_config: Some("/env/ssh_config".into()),
            extra_args: vec!["-o".into(), "ProxyJump=bastion".into()],
            host_key_checking: HostKeyChecking::Default,
            connect_timeout: Duration::from_secs(10),
            become_user: None,
        };
        let a = master_args(
            &spec,
            Path::new("/tmp/c"),
            Path::new("/tmp/l"),
            CONTROL_PERSIST,
        )
        .join(" ");
        assert!(a.starts_with("-M -N -f -v -S /tmp/c -E /tmp/l"), "{a}");
        assert!(a.contains("-o BatchMode=yes -o ConnectTimeout=10"), "{a}");
        assert!(
            !a.contains("StrictHostKeyChecking"),
            "the user's ssh_config decides by default: {a}"
        );
        assert!(a.ends_with("-F /env/ssh_config -p 2222 -l deploy -i /k/id -o IdentitiesOnly=yes -o ProxyJump=bastion -- 10.0.0.5"), "{a}");
    }

    #[test]
    fn control_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = control_directory().unwrap();
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
