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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use openssh::Session;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use super::{Chunk, ConnectionSpec, Keepalive, Output, TransportError, classify, pump};

/// sshd's default MaxSessions is 10: stay below it.
const CHANNELS_PER_HOST: usize = 8;
/// A master left behind by a killed opsctl exits after this much idleness.
const CONTROL_PERSIST: Duration = Duration::from_secs(120);
/// Sets [`CONTROL_PERSIST`] in seconds (docs/ssh.md).
const CONTROL_PERSIST_VAR: &str = "OPSCTL_SSH_CONTROL_PERSIST";

/// How long a master outlives its last use when opsctl is gone:
/// `OPSCTL_SSH_CONTROL_PERSIST` seconds, else [`CONTROL_PERSIST`].
fn control_persist() -> Duration {
    std::env::var(CONTROL_PERSIST_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(CONTROL_PERSIST)
}
/// Prefix of the sockets of masters kept between invocations.
const KEPT_PREFIX: &str = "k-";
/// sun_path is 108 bytes and ssh appends a random suffix while binding.
const MAX_SOCKET_PATH: usize = 80;

pub struct SshConnection {
    pub spec: ConnectionSpec,
    session: Session,
    control_path: PathBuf,
    /// What the master says (replaced with the master by [`SshConnection::remaster`]).
    log: Mutex<MasterLog>,
    channels: Arc<Semaphore>,
    /// Commands started over the master whose end was not seen (a task stopped
    /// by Ctrl-C): a channel of theirs may still be open on the master.
    unfinished: Arc<AtomicUsize>,
    /// The task that keeps an idle master from timing out (aborted on drop).
    keeper: tokio::task::AbortHandle,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Set once the control directory was swept of dead processes' leftovers.
static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

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
        SWEPT.get_or_init(|| sweep_stale(&dir)).await;
        let keep = kept();
        let control_path = if keep.is_some() {
            // The same host reached the same way gets the same socket in every run.
            dir.join(format!("{KEPT_PREFIX}{}", spec_digest(spec)))
        } else {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            dir.join(format!("{}-{n}", std::process::id()))
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
            && let Some(conn) = Self::reuse(spec, &control_path).await
        {
            return Ok(conn);
        }
        let _ = std::fs::remove_file(&control_path);
        // Removes the socket if this future is dropped (Ctrl-C) or fails.
        let mut guard = RemoveOnDrop(vec![control_path.clone()]);

        let log = start_master(spec, &control_path, keep.unwrap_or_else(control_persist)).await?;
        let session = Session::resume_mux(control_path.clone().into_boxed_path(), None);
        guard.0.clear();
        let channels = Arc::new(Semaphore::new(CHANNELS_PER_HOST));
        let unfinished = Arc::new(AtomicUsize::new(0));
        Ok(SshConnection {
            spec: spec.clone(),
            session,
            keeper: keep_master(
                &control_path,
                &channels,
                &unfinished,
                keep.unwrap_or_else(control_persist),
            ),
            control_path,
            log: Mutex::new(log),
            channels,
            unfinished,
        })
    }

    /// A master kept by an earlier command, if it still answers. Its stderr went to
    /// that command, so what it says on exit is not heard here.
    async fn reuse(spec: &ConnectionSpec, control_path: &Path) -> Option<SshConnection> {
        let session = Session::resume_mux(control_path.to_path_buf().into_boxed_path(), None);
        match tokio::time::timeout(Duration::from_secs(5), session.check()).await {
            Ok(Ok(())) => {}
            _ => {
                // A dead master's socket: ask it to exit in case it lingers.
                exit_master(control_path).await;
                return None;
            }
        }
        let channels = Arc::new(Semaphore::new(CHANNELS_PER_HOST));
        let unfinished = Arc::new(AtomicUsize::new(0));
        Some(SshConnection {
            spec: spec.clone(),
            session,
            keeper: keep_master(
                control_path,
                &channels,
                &unfinished,
                kept().unwrap_or_else(control_persist),
            ),
            control_path: control_path.to_path_buf(),
            log: Mutex::new(MasterLog::read(None)),
            channels,
            unfinished,
        })
    }

    fn log(&self) -> MasterLog {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the master with a new one at the same control socket, so that
    /// every user of the connection goes on through it: after the host
    /// rebooted (reboot), the old master's connection is gone. The old master
    /// is asked to exit first, if it still runs. `connect_timeout` replaces the
    /// connection's for this connect.
    pub async fn remaster(&self, connect_timeout: Option<Duration>) -> Result<(), TransportError> {
        exit_master(&self.control_path).await;
        let mut spec = self.spec.clone();
        if let Some(t) = connect_timeout {
            spec.connect_timeout = t;
        }
        let persist = kept().unwrap_or_else(control_persist);
        let log = start_master(&spec, &self.control_path, persist).await?;
        *self.log.lock().unwrap_or_else(|e| e.into_inner()) = log;
        Ok(())
    }

    /// The master's control socket (for tools that reuse the connection:
    /// `rsync -e "ssh -S SOCKET"`).
    pub fn control_path(&self) -> &Path {
        &self.control_path
    }

    /// Runs a command line over the master; stdin is streamed in while stdout and
    /// stderr are read, so large inputs and outputs never deadlock.
    pub async fn run(&self, line: &str, stdin: Option<&[u8]>) -> Result<Output, TransportError> {
        let (_permit, mut child) = self.spawn(line, stdin.is_some()).await?;
        let writer = child.stdin().take();
        let feed = async {
            if let (Some(mut w), Some(data)) = (writer, stdin) {
                // A command that exits without reading its input is not an error.
                let _ = w.write_all(data).await;
                let _ = w.shutdown().await;
            }
        };
        let (_, stdout, stderr) = tokio::join!(
            feed,
            read_all(child.stdout().take()),
            read_all(child.stderr().take())
        );
        let rc = self.exit_status(child).await;
        self.unfinished.fetch_sub(1, Ordering::SeqCst);
        Ok(Output {
            rc: rc?,
            stdout,
            stderr,
        })
    }

    /// See [`super::Connection::stream`].
    pub async fn stream(
        &self,
        line: &str,
        hold_stdin: bool,
        tx: tokio::sync::mpsc::UnboundedSender<Chunk>,
    ) -> Result<Option<i32>, TransportError> {
        let (_permit, mut child) = self.spawn(line, hold_stdin).await?;
        // held (open) until the command ends or the master closes
        let _stdin = child.stdin().take();
        let (out, errs) = (child.stdout().take(), child.stderr().take());
        tokio::join!(pump(out, Chunk::Out, &tx), pump(errs, Chunk::Err, &tx));
        let rc = self.exit_status(child).await;
        self.unfinished.fetch_sub(1, Ordering::SeqCst);
        rc
    }

    /// Starts a command over the master (a channel of the host's few), its
    /// stdout and stderr piped, stdin piped or empty.
    async fn spawn(
        &self,
        line: &str,
        stdin: bool,
    ) -> Result<(tokio::sync::SemaphorePermit<'_>, openssh::Child<&Session>), TransportError> {
        let permit = self
            .channels
            .acquire()
            .await
            .map_err(|_| self.lost_now("closing"))?;
        let mut cmd = self.session.raw_command(line);
        cmd.stdin(if stdin {
            openssh::Stdio::piped()
        } else {
            openssh::Stdio::null()
        })
        .stdout(openssh::Stdio::piped())
        .stderr(openssh::Stdio::piped());
        match cmd.spawn().await {
            Ok(child) => {
                self.unfinished.fetch_add(1, Ordering::SeqCst);
                Ok((permit, child))
            }
            Err(e) => Err(self.failed(e).await),
        }
    }

    /// A command's exit status (`None`: killed by a signal).
    async fn exit_status(
        &self,
        child: openssh::Child<&Session>,
    ) -> Result<Option<i32>, TransportError> {
        match child.wait().await {
            Ok(status) => Ok(status.code()),
            // The crate turns exit status 127 into an error of its own.
            Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Some(127))
            }
            // No exit status: the command was killed by a signal, or the master
            // is gone; only the master can tell.
            Err(openssh::Error::RemoteProcessTerminated) if self.master_alive().await => Ok(None),
            Err(e) => Err(self.failed(e).await),
        }
    }

    async fn master_alive(&self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.session.check()).await,
            Ok(Ok(()))
        )
    }

    /// A command could not run or finish. A master that exited said why on its
    /// stderr (a keep-alive timeout, a reset), which is read to its end first.
    async fn failed(&self, e: openssh::Error) -> TransportError {
        if self.master_alive().await {
            return self.lost_now(&error_chain(&e));
        }
        self.log().wait_closed(Duration::from_secs(2)).await;
        let said = self.log().text();
        if said
            .lines()
            .any(|l| l.starts_with("Timeout, server") && l.contains("not responding"))
        {
            let keepalive = keepalive(&self.spec);
            return TransportError::Disconnected {
                host: self.spec.host.clone(),
                // ssh probes after each `interval` of silence and gives up at the
                // probe after `count` unanswered ones.
                detail: format!(
                    "no answer to keep-alives for {} s",
                    keepalive.interval * (keepalive.count + 1)
                ),
                keepalive: Some(keepalive),
            };
        }
        let detail = match e {
            openssh::Error::RemoteProcessTerminated => "the ssh master exited".to_string(),
            other => error_chain(&other),
        };
        let last = said
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("");
        self.lost_now(&if last.is_empty() {
            detail
        } else {
            format!("{detail}; ssh said: {last}")
        })
    }

    fn lost_now(&self, detail: &str) -> TransportError {
        TransportError::Disconnected {
            host: self.spec.host.clone(),
            detail: detail.to_string(),
            keepalive: None,
        }
    }

    /// Stops the master (which also ends its ProxyCommand) and removes its
    /// socket, unless masters are kept between commands (`--keep-connections`):
    /// then it stays for the next one. With no command of ours unfinished, one mux
    /// request does it (the master stops listening and, having no channel open,
    /// exits): no `ssh -O exit` process per host. Else, or if that request
    /// fails, `ssh -O exit` ends the master at once, commands and all.
    pub async fn close(&self) {
        self.keeper.abort();
        if kept().is_some() {
            return;
        }
        let idle = self.unfinished.load(Ordering::SeqCst) == 0;
        if !idle || !stop_master(&self.control_path).await {
            exit_master(&self.control_path).await;
        }
        // `-O exit` returns once the master agreed to go; the command is over only
        // when the master (and its ProxyCommand) exited and closed their stderr.
        self.log().wait_closed(Duration::from_secs(5)).await;
    }
}

async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(mut p) = pipe {
        // A pipe cut short means a lost connection, which `wait` reports.
        let _ = p.read_to_end(&mut out).await;
    }
    out
}

/// The mux request `ssh -O stop` sends, from opsctl itself: the master removes
/// its socket and exits once no channel is open. `false` if it was not done.
async fn stop_master(control_path: &Path) -> bool {
    let session = Session::resume_mux(control_path.to_path_buf().into_boxed_path(), None);
    let stopped = matches!(
        tokio::time::timeout(Duration::from_secs(5), session.close()).await,
        Ok(Ok(()))
    );
    if stopped {
        let _ = std::fs::remove_file(control_path);
    }
    stopped
}

/// `ssh -S SOCKET -O exit`: the master closes its connection and removes the socket.
/// Starts a master at `control_path` and waits until it is authenticated (it
/// then runs on its own); returns what it says on stderr from then on.
async fn start_master(
    spec: &ConnectionSpec,
    control_path: &Path,
    persist: Duration,
) -> Result<MasterLog, TransportError> {
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.args(master_args(spec, control_path, persist))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group: a terminal's Ctrl-C does not reach ssh or its
        // ProxyCommand (opsctl closes them), and a failed connect can end both.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| TransportError::Local {
        host: spec.host.clone(),
        detail: format!("cannot run ssh ({e}); install the OpenSSH client"),
    })?;
    let log = MasterLog::read(child.stderr.take());
    let mut group = KillGroupOnDrop(child.id());
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
            return Err(TransportError::Timeout {
                host: spec.host.clone(),
                seconds: Some(limit.as_secs()),
                detail: "no answer".into(),
            });
        }
    };
    if !status.success() || !control_path.exists() {
        // What a ProxyCommand still running would add is not worth waiting for.
        drop(group);
        log.wait_closed(Duration::from_secs(2)).await;
        return Err(classify::connect_error(&spec.host, &log.text()));
    }
    // The master runs on its own now; its ProxyCommand stays in the group.
    group.0 = None;
    // Only what the master says from now on matters: drop the connect chatter.
    log.clear();
    Ok(log)
}

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
    SWEPT.get_or_init(|| sweep_stale(&dir)).await;
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut closed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(KEPT_PREFIX) {
            continue;
        }
        let path = entry.path();
        // (`.log`: written by earlier opsctl builds, which logged masters to files)
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
    let mut args = master_args(spec, Path::new(""), Duration::ZERO);
    args.push(env!("CARGO_PKG_VERSION").to_string());
    let digest = Sha256::digest(args.join("\0").as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Holds an exclusive `flock` on `path` until dropped (the file stays).
async fn lock_file(path: &Path) -> Option<std::fs::File> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .ok()?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).ok()?;
        Some(file)
    })
    .await
    .ok()
    .flatten()
}

/// Removes what opsctl processes that died (SIGKILL, a crash, a power cut) left in
/// the control directory: the sockets of their masters, each asked to exit first
/// (else it would hold its connection until ControlPersist expires), and the `-v`
/// logs that versions before in-memory master logs wrote next to them.
async fn sweep_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let (stem, is_log) = match name.strip_suffix(".log") {
            Some(stem) => (stem, true),
            None => (name.as_str(), false),
        };
        let Some(pid) = stem
            .split_once('-')
            .and_then(|(pid, n)| n.parse::<u64>().ok().and(pid.parse::<i32>().ok()))
        else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        if is_log {
            let _ = std::fs::remove_file(entry.path());
        } else {
            exit_master(&entry.path()).await;
        }
    }
}

/// Whether a process with that PID exists (it may be another program by now: its
/// files then stay until a later run finds the PID free).
fn pid_alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(p) => !matches!(
            rustix::process::test_kill_process(p),
            Err(rustix::io::Errno::SRCH)
        ),
        None => true,
    }
}

impl Drop for SshConnection {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

/// Keeps the master at `control` from timing out while this connection lives:
/// ControlPersist counts from the moment no channel is open, so a host idle
/// for longer (its turn in a later play) would find its master gone. Every
/// 5/12 of its ControlPersist `persist` (50 s of 120 s), when none of its
/// channels is in use, `true` runs over it (one channel, as any command).
fn keep_master(
    control: &Path,
    channels: &Arc<Semaphore>,
    unfinished: &Arc<AtomicUsize>,
    persist: Duration,
) -> tokio::task::AbortHandle {
    let (control, channels) = (control.to_path_buf(), channels.clone());
    let unfinished = unfinished.clone();
    let every = (persist * 5 / 12).max(Duration::from_secs(1));
    tokio::spawn(async move {
        let session = Session::resume_mux(control.into_boxed_path(), None);
        let start = tokio::time::Instant::now() + every;
        let mut tick = tokio::time::interval_at(start, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if channels.available_permits() < CHANNELS_PER_HOST {
                continue; // busy: its own channels keep it
            }
            let Ok(_permit) = channels.try_acquire() else {
                continue;
            };
            let mut cmd = session.raw_command("true");
            cmd.stdin(openssh::Stdio::null())
                .stdout(openssh::Stdio::null())
                .stderr(openssh::Stdio::null());
            unfinished.fetch_add(1, Ordering::SeqCst);
            if tokio::time::timeout(Duration::from_secs(10), cmd.status())
                .await
                .is_ok()
            {
                unfinished.fetch_sub(1, Ordering::SeqCst);
            }
        }
    })
    .abort_handle()
}

/// Ends what is left of a connecting `ssh` (its ProxyCommand) when dropped, unless
/// disarmed: the group is the one `process_group(0)` gave it.
struct KillGroupOnDrop(Option<u32>);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(pgid) = self
            .0
            .and_then(|id| rustix::process::Pid::from_raw(id as i32))
        {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }
}

/// What a master and its ProxyCommand print on stderr, read from a pipe and held in
/// memory only, never on disk. ssh's `-v` debug lines (which include every command
/// sent, and so any secret in one) are dropped as they are read; of the other
/// lines the last [`MasterLog::LINES`] are kept.
#[derive(Clone, Default)]
struct MasterLog(Arc<MasterLogInner>);

#[derive(Default)]
struct MasterLogInner {
    lines: Mutex<VecDeque<String>>,
    /// `true` once every writer closed the pipe (the master and its ProxyCommand exited).
    closed: tokio::sync::watch::Sender<bool>,
}

impl MasterLog {
    const LINES: usize = 200;
    /// Longer lines are cut (a debug line can hold a whole script).
    const LINE_BYTES: usize = 2048;

    /// Starts reading `pipe` until its end. Without a pipe the log is empty and closed.
    fn read(pipe: Option<tokio::process::ChildStderr>) -> MasterLog {
        let log = MasterLog::default();
        let Some(pipe) = pipe else {
            log.0.closed.send_replace(true);
            return log;
        };
        let writer = log.clone();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(pipe);
            let mut line = Vec::new();
            while next_line(&mut reader, &mut line, Self::LINE_BYTES).await {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\r', '\n']);
                if text.starts_with("debug") || text.trim().is_empty() {
                    continue;
                }
                let mut lines = writer.0.lines.lock().unwrap();
                if lines.len() == Self::LINES {
                    lines.pop_front();
                }
                lines.push_back(text.to_string());
            }
            line.fill(0);
            writer.0.closed.send_replace(true);
        });
        log
    }

    fn text(&self) -> String {
        let lines = self.0.lines.lock().unwrap();
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    fn clear(&self) {
        self.0.lines.lock().unwrap().clear();
    }

    /// Waits (at most `limit`) until the pipe is closed, so that everything a master
    /// said before exiting has been read.
    async fn wait_closed(&self, limit: Duration) {
        let mut closed = self.0.closed.subscribe();
        let _ = tokio::time::timeout(limit, closed.wait_for(|c| *c)).await;
    }
}

/// Reads one line into `line` (without its newline, cut at `max` bytes); `false`
/// at the end of the input.
async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> bool {
    line.fill(0);
    line.clear();
    let mut read_any = false;
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) if !buf.is_empty() => buf,
            _ => return read_any,
        };
        read_any = true;
        let (used, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = max.saturating_sub(line.len());
        line.extend_from_slice(&buf[..(used - usize::from(end)).min(room)]);
        reader.consume(used);
        if end {
            return true;
        }
    }
}

/// ServerAliveInterval and ServerAliveCountMax of a host's master: the first `-o`
/// setting them in ansible_ssh_common_args / ansible_ssh_extra_args (ssh keeps the
/// first value it reads), else 15 s and 3.
pub(super) fn keepalive(spec: &ConnectionSpec) -> Keepalive {
    let mut interval = None;
    let mut count = None;
    let mut args = spec.extra_args.iter();
    while let Some(arg) = args.next() {
        let option = match arg.strip_prefix("-o") {
            Some("") => match args.next() {
                Some(next) => next.as_str(),
                None => break,
            },
            Some(inline) => inline,
            None => continue,
        };
        let Some((key, value)) = option
            .trim()
            .split_once(|c: char| c == '=' || c.is_whitespace())
        else {
            continue;
        };
        let value = value.trim_start_matches(|c: char| c == '=' || c.is_whitespace());
        let Ok(value) = value.trim().parse::<u64>() else {
            continue;
        };
        if key.eq_ignore_ascii_case("ServerAliveInterval") {
            interval.get_or_insert(value);
        } else if key.eq_ignore_ascii_case("ServerAliveCountMax") {
            count.get_or_insert(value);
        }
    }
    Keepalive {
        interval: interval.unwrap_or(15),
        count: count.unwrap_or(3),
    }
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
fn master_args(spec: &ConnectionSpec, control: &Path, persist: Duration) -> Vec<String> {
    // -v: with ControlPersist, OpenSSH sends a ProxyCommand's (or ProxyJump's) stderr
    // to /dev/null unless debugging, and that stderr is where "Connection refused"
    // is said. Without -E, ssh keeps its stderr (a pipe to opsctl, read into memory,
    // debug lines dropped) after going to the background. Nothing goes to a file.
    let mut a: Vec<String> = vec!["-M".into(), "-N".into(), "-f".into(), "-v".into()];
    a.extend(["-S".into(), control.display().to_string()]);
    for o in [
        format!("ControlPersist={}s", persist.as_secs().max(1)),
        "BatchMode=yes".into(),
    ] {
        a.extend(["-o".into(), o]);
    }
    a.extend(connect_args(spec));
    a
}

/// The arguments of an interactive `ssh` to the host (`opsctl ssh`), as the
/// transport reaches it: the same ssh_config, user, port, key, host key
/// policy, timeouts and extra arguments, ending with `-- ADDRESS`; a command
/// may follow. Prompts (a key's passphrase) are allowed: a person is there.
pub fn interactive_args(spec: &ConnectionSpec) -> Vec<String> {
    connect_args(spec)
}

/// What every ssh opsctl starts to a host shares.
fn connect_args(spec: &ConnectionSpec) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let keepalive = keepalive(spec);
    for o in [
        format!("ConnectTimeout={}", spec.connect_timeout.as_secs().max(1)),
        format!("ServerAliveInterval={}", keepalive.interval),
        format!("ServerAliveCountMax={}", keepalive.count),
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
            become_password: None,
        };
        let a = master_args(&spec, Path::new("/tmp/c"), CONTROL_PERSIST).join(" ");
        assert!(a.starts_with("-M -N -f -v -S /tmp/c -o"), "{a}");
        assert!(!a.contains("-E"), "ssh's log never goes to a file: {a}");
        assert!(a.contains("-o BatchMode=yes -o ConnectTimeout=10"), "{a}");
        assert!(
            !a.contains("StrictHostKeyChecking"),
            "the user's ssh_config decides by default: {a}"
        );
        assert!(a.ends_with("-F /env/ssh_config -p 2222 -l deploy -i /k/id -o IdentitiesOnly=yes -o ProxyJump=bastion -- 10.0.0.5"), "{a}");
    }

    #[test]
    fn keepalive_is_the_users_first_setting_or_15_s_times_3() {
        let spec = |args: &[&str]| ConnectionSpec {
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            ..ConnectionSpec::local("h")
        };
        let k = |args: &[&str]| {
            let k = keepalive(&spec(args));
            (k.interval, k.count)
        };
        assert_eq!(k(&[]), (15, 3));
        assert_eq!(
            k(&["-o", "ServerAliveInterval=5", "-o", "serveralivecountmax 4"]),
            (5, 4)
        );
        assert_eq!(
            k(&["-oServerAliveInterval=7", "-o", "ServerAliveInterval=9"]),
            (7, 3)
        );
        assert_eq!(
            k(&["-o", "ServerAliveInterval=x", "-J", "bastion"]),
            (15, 3)
        );
        let a = master_args(
            &spec(&["-o", "ServerAliveInterval=2"]),
            Path::new("/c"),
            CONTROL_PERSIST,
        );
        assert!(a.contains(&"ServerAliveInterval=2".to_string()), "{a:?}");
    }

    #[tokio::test]
    async fn master_log_keeps_no_debug_line_and_waits_for_the_end() {
        // A real pipe from a real process, printing as ssh -v does (CRLF).
        let mut child = tokio::process::Command::new("/bin/sh")
            .args([
                "-c",
                r"printf 'OpenSSH_9.2p1\r\ndebug1: Sending command: echo S3cret\r\n\r\nTimeout, server h not responding.\r\n' >&2; printf 'debug1: %0300000d\n' 0 >&2",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = MasterLog::read(child.stderr.take());
        child.wait().await.unwrap();
        log.wait_closed(Duration::from_secs(10)).await;
        assert_eq!(
            log.text(),
            "OpenSSH_9.2p1\nTimeout, server h not responding.\n"
        );
        log.clear();
        assert_eq!(log.text(), "");
        let none = MasterLog::read(None);
        none.wait_closed(Duration::from_secs(10)).await;
        assert_eq!(none.text(), "");
    }

    #[test]
    fn control_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = control_directory().unwrap();
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
