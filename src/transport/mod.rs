//! Running commands on hosts: over the system OpenSSH client (one ControlMaster per
//! host, commands multiplexed over it) or locally (`ansible_connection=local`).
//!
//! Everything that goes to a host is a POSIX `sh` script, optionally fed on stdin
//! and optionally run through `sudo -n` (become). Failures are classified into
//! [`TransportError`] so the user is told what went wrong and what to do.

pub mod classify;
mod local;
mod ssh;

use std::path::PathBuf;
use std::time::Duration;

pub use ssh::{close_kept, control_directory, interactive_args, keep_connections};

/// How to reach one host, resolved from its variables.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionSpec {
    /// The inventory name (used in messages).
    pub host: String,
    pub kind: ConnectionKind,
    /// `ansible_host`, or the inventory name.
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub private_key_file: Option<PathBuf>,
    /// The environment's `ssh_config`, passed with `-F`.
    pub ssh_config: Option<PathBuf>,
    /// `ansible_ssh_common_args` and `ansible_ssh_extra_args`, split like a shell.
    pub extra_args: Vec<String>,
    pub host_key_checking: HostKeyChecking,
    pub connect_timeout: Duration,
    /// `ansible_become`: run every command through `sudo -n -u <become_user>`.
    pub become_user: Option<String>,
    /// `ansible_become_password` (or `-K`): sudo then reads it on its stdin
    /// (`sudo -S`) when it asks for one; never on a command line.
    pub become_password: Option<BecomePassword>,
}

/// A become password: kept out of `Debug` output, zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct BecomePassword(zeroize::Zeroizing<String>);

impl BecomePassword {
    pub fn new(password: String) -> BecomePassword {
        BecomePassword(zeroize::Zeroizing::new(password))
    }

    /// The stdin of a command run with this password: the password's line,
    /// then the command's own input.
    fn stdin(&self, rest: Option<&[u8]>) -> zeroize::Zeroizing<Vec<u8>> {
        let mut v = zeroize::Zeroizing::new(Vec::with_capacity(
            self.0.len() + 1 + rest.map_or(0, <[u8]>::len),
        ));
        v.extend_from_slice(self.0.as_bytes());
        v.push(b'\n');
        v.extend_from_slice(rest.unwrap_or_default());
        v
    }
}

impl std::fmt::Debug for BecomePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BecomePassword(********)")
    }
}

impl ConnectionSpec {
    /// A host run on the controller itself (`ansible_connection=local`).
    pub fn local(host: &str) -> ConnectionSpec {
        ConnectionSpec {
            host: host.to_string(),
            kind: ConnectionKind::Local,
            address: host.to_string(),
            port: None,
            user: None,
            private_key_file: None,
            ssh_config: None,
            extra_args: vec![],
            host_key_checking: HostKeyChecking::Default,
            connect_timeout: Duration::from_secs(10),
            become_user: None,
            become_password: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    Ssh,
    Local,
}

/// Host key policy. opsctl uses `Strict` unless an environment says otherwise
/// (`ansible_host_key_checking`), or its own ssh_config sets StrictHostKeyChecking
/// (`Default`: no `-o`, the file decides). A changed key is always refused by ssh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyChecking {
    Default,
    Strict,
    AcceptNew,
    Off,
}

impl HostKeyChecking {
    fn ssh_option(self) -> Option<&'static str> {
        match self {
            HostKeyChecking::Default => None,
            HostKeyChecking::Strict => Some("StrictHostKeyChecking=yes"),
            HostKeyChecking::AcceptNew => Some("StrictHostKeyChecking=accept-new"),
            HostKeyChecking::Off => Some("StrictHostKeyChecking=no"),
        }
    }
}

/// A command to run on a host: a shell script, with optional stdin.
#[derive(Debug, Clone, Default)]
pub struct RemoteCommand {
    pub script: String,
    pub stdin: Option<Vec<u8>>,
    /// Run through `sudo -n -u USER` (overrides the connection's become setting).
    pub become_user: Option<String>,
    /// Never become, even when the connection does by default.
    pub no_become: bool,
}

impl RemoteCommand {
    pub fn new(script: impl Into<String>) -> Self {
        RemoteCommand {
            script: script.into(),
            ..Default::default()
        }
    }
}

/// How often a master probes a silent host (`ServerAliveInterval`, seconds) and how
/// many probes may go unanswered (`ServerAliveCountMax`) before ssh gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    pub interval: u64,
    pub count: u64,
}

/// What a command produced. `rc` is `None` when it was killed by a signal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    pub rc: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.rc == Some(0)
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A piece of a streamed command's output ([`Connection::stream`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    Out(Vec<u8>),
    Err(Vec<u8>),
}

/// Reads `pipe` to its end, sending what it reads as chunks made by `wrap`.
async fn pump(
    pipe: Option<impl tokio::io::AsyncRead + Unpin>,
    wrap: fn(Vec<u8>) -> Chunk,
    tx: &tokio::sync::mpsc::UnboundedSender<Chunk>,
) {
    use tokio::io::AsyncReadExt;
    let Some(mut p) = pipe else { return };
    let mut buf = vec![0u8; 16 * 1024];
    // A pipe cut short means a lost connection, which the exit status reports.
    while let Ok(n) = p.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let _ = tx.send(wrap(buf[..n].to_vec()));
    }
}

/// Why a host could not be reached or a command could not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("cannot resolve the host name ({detail})")]
    NameResolution { host: String, detail: String },
    #[error("connection refused ({detail})")]
    ConnectionRefused { host: String, detail: String },
    #[error("timed out connecting{} ({detail})", seconds.map(|s| format!(" after {s} s")).unwrap_or_default())]
    Timeout {
        host: String,
        seconds: Option<u64>,
        detail: String,
    },
    #[error("network unreachable ({detail})")]
    NetworkUnreachable { host: String, detail: String },
    #[error("the connection was closed before ssh could log in ({detail})")]
    ConnectionClosed { host: String, detail: String },
    #[error("authentication failed ({detail})")]
    Authentication { host: String, detail: String },
    #[error("the host key has CHANGED{}", match (file, line) { (Some(f), Some(l)) => format!(": the known key is {}:{l}", crate::location::display_path(f)), _ => String::new() })]
    HostKeyChanged {
        host: String,
        /// The name the key is stored under in known_hosts, as ssh looked it up:
        /// the HostKeyAlias if one is set, `[address]:port` on another port.
        name: Option<String>,
        file: Option<PathBuf>,
        line: Option<usize>,
    },
    #[error("the host key is not known ({detail})")]
    HostKeyUnknown { host: String, detail: String },
    #[error("ssh configuration error ({detail})")]
    SshConfig { host: String, detail: String },
    #[error("ssh failed: {detail}")]
    Ssh { host: String, detail: String },
    #[error("sudo needs a password to become {user}")]
    SudoPassword { host: String, user: String },
    #[error("sudo rejected the become password (to become {user}): incorrect password")]
    SudoWrongPassword { host: String, user: String },
    #[error("sudo refused to become {user} ({detail})")]
    SudoDenied {
        host: String,
        user: String,
        detail: String,
    },
    #[error("sudo is not installed")]
    SudoMissing { host: String },
    #[error("the connection was lost ({detail})")]
    Disconnected {
        host: String,
        detail: String,
        /// Set when ssh gave up because the host stopped answering keep-alives.
        keepalive: Option<Keepalive>,
    },
    #[error("the login shell could not start /bin/sh to run opsctl's command ({detail})")]
    NoShell { host: String, detail: String },
    #[error("cannot run the local command: {detail}")]
    Local { host: String, detail: String },
    #[error("interrupted")]
    Interrupted { host: String },
}

impl TransportError {
    /// A short, stable name of the failure class (used in JSON output and tests).
    pub fn kind(&self) -> &'static str {
        match self {
            TransportError::NameResolution { .. } => "name resolution",
            TransportError::ConnectionRefused { .. } => "connection refused",
            TransportError::Timeout { .. } => "timeout",
            TransportError::NetworkUnreachable { .. } => "network unreachable",
            TransportError::ConnectionClosed { .. } => "connection closed",
            TransportError::Authentication { .. } => "authentication",
            TransportError::HostKeyChanged { .. } => "host key changed",
            TransportError::HostKeyUnknown { .. } => "unknown host key",
            TransportError::SshConfig { .. } => "ssh configuration",
            TransportError::Ssh { .. } => "ssh",
            TransportError::SudoPassword { .. } => "sudo password required",
            TransportError::SudoWrongPassword { .. } => "sudo wrong password",
            TransportError::SudoDenied { .. } => "sudo denied",
            TransportError::SudoMissing { .. } => "sudo missing",
            TransportError::Disconnected {
                keepalive: Some(_), ..
            } => "unresponsive",
            TransportError::Disconnected { .. } => "disconnected",
            TransportError::NoShell { .. } => "no shell",
            TransportError::Local { .. } => "local",
            TransportError::Interrupted { .. } => "interrupted",
        }
    }

    pub fn host(&self) -> &str {
        match self {
            TransportError::NameResolution { host, .. }
            | TransportError::ConnectionRefused { host, .. }
            | TransportError::Timeout { host, .. }
            | TransportError::NetworkUnreachable { host, .. }
            | TransportError::ConnectionClosed { host, .. }
            | TransportError::Authentication { host, .. }
            | TransportError::HostKeyChanged { host, .. }
            | TransportError::HostKeyUnknown { host, .. }
            | TransportError::SshConfig { host, .. }
            | TransportError::Ssh { host, .. }
            | TransportError::SudoPassword { host, .. }
            | TransportError::SudoWrongPassword { host, .. }
            | TransportError::SudoDenied { host, .. }
            | TransportError::SudoMissing { host }
            | TransportError::Disconnected { host, .. }
            | TransportError::NoShell { host, .. }
            | TransportError::Local { host, .. }
            | TransportError::Interrupted { host } => host,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            TransportError::NameResolution { .. } => "check the host name, or set ansible_host to its address".into(),
            TransportError::ConnectionRefused { .. } => "is sshd running on the host, and on that port (ansible_port)?".into(),
            TransportError::Timeout { .. } => "the host did not answer: check that it is up and reachable; raise ansible_ssh_timeout if it is slow".into(),
            TransportError::NetworkUnreachable { .. } => "check the address (ansible_host) and the network route to it".into(),
            TransportError::ConnectionClosed { .. } => "sshd closed the connection: is it running and accepting connections (MaxStartups, firewall, ProxyCommand)?".into(),
            TransportError::Authentication { host, .. } => format!(
                "check the user (ansible_user) and key (ansible_ssh_private_key_file or your ssh agent); try `ssh {host}` with the environment's ssh_config"
            ),
            TransportError::HostKeyChanged { file, line, host, name } => match (file, line) {
                (Some(f), Some(l)) => format!(
                    "if the host was really reinstalled, remove line {l} of {} (`ssh-keygen -R {} -f {}`) and connect again; otherwise someone may be intercepting the connection",
                    crate::location::display_path(f),
                    shell_quote(name.as_deref().unwrap_or(host)),
                    shell_quote(&crate::location::display_path(f).to_string())
                ),
                _ => "if the host was reinstalled, remove its old key from known_hosts and connect again".into(),
            },
            TransportError::HostKeyUnknown { host, .. } => format!(
                "add the host key to known_hosts (check its fingerprint: `ssh-keyscan {host}`), or set `ansible_host_key_checking: accept-new` in the environment's group_vars"
            ),
            TransportError::SshConfig { .. } => "fix the ssh_config file or ansible_ssh_common_args".into(),
            TransportError::SudoPassword { .. } => {
                "give sudo its password: set ansible_become_password (in the environment's secrets) or pass -K to be asked; or allow the user NOPASSWD in sudoers".into()
            }
            TransportError::SudoWrongPassword { host, .. } => format!(
                "check the become password: `opsctl vars {host} ansible_become_password` shows where it is set (or type it again at the -K prompt)"
            ),
            TransportError::SudoDenied { .. } => "give the login user sudo rights on the host, or change ansible_become_user".into(),
            TransportError::SudoMissing { .. } => "install sudo on the host, or connect as the target user".into(),
            TransportError::Disconnected { keepalive: Some(k), .. } => format!(
                "the host froze or the network to it went down: ssh sent a keep-alive every {} s and {} went unanswered. Check the host (load, memory, a paused VM) and the route to it; if it is only slow, raise them with ansible_ssh_common_args: -o ServerAliveInterval=N -o ServerAliveCountMax=N",
                k.interval, k.count
            ),
            TransportError::Disconnected { .. } => "the host or network went away during the run; run again".into(),
            TransportError::NoShell { host, .. } => format!(
                "opsctl runs every command with /bin/sh: check that the host has /bin/sh and that the login user's shell works (`ssh {host} /bin/sh -c true`)"
            ),
            _ => return None,
        })
    }
}

/// An open connection to one host.
pub enum Connection {
    Ssh(ssh::SshConnection),
    Local(local::LocalConnection),
}

impl Connection {
    /// Opens a connection (for SSH: starts the ControlMaster and waits until it is
    /// authenticated).
    pub async fn open(spec: &ConnectionSpec) -> Result<Connection, TransportError> {
        match spec.kind {
            ConnectionKind::Ssh => ssh::SshConnection::open(spec).await.map(Connection::Ssh),
            ConnectionKind::Local => Ok(Connection::Local(local::LocalConnection::new(spec))),
        }
    }

    /// Runs a command, through sudo when asked. A sudo refusal is an error; any
    /// other failure of the command is a normal [`Output`] with its exit code.
    /// With a become password, the password's line goes first on stdin (see
    /// [`become_password_line`]).
    pub async fn run(&self, cmd: &RemoteCommand) -> Result<Output, TransportError> {
        let (line, become_user) = self.line(cmd);
        if become_user.is_none()
            && cmd.stdin.is_none()
            && matches!(self, Connection::Ssh(_))
            && let Some((line, stdin)) = script_on_stdin(&cmd.script)
        {
            return self.run_line(&line, Some(&stdin)).await;
        }
        let out = match (&become_user, &self.spec().become_password) {
            (Some(_), Some(pw)) => {
                let stdin = pw.stdin(cmd.stdin.as_deref());
                self.run_line(&line, Some(&stdin)).await?
            }
            _ => self.run_line(&line, cmd.stdin.as_deref()).await?,
        };
        self.check_become(out, become_user.as_deref())
    }

    /// The exact command line `run` sends for `cmd`, and the sudo user it uses.
    pub fn line(&self, cmd: &RemoteCommand) -> (String, Option<String>) {
        let become_user = if cmd.no_become {
            None
        } else {
            cmd.become_user
                .clone()
                .or_else(|| self.spec().become_user.clone())
        };
        let line = match (&become_user, &self.spec().become_password) {
            (Some(user), Some(_)) => become_password_line(&cmd.script, user),
            _ => command_line(&cmd.script, become_user.as_deref()),
        };
        (line, become_user)
    }

    /// Sends a command line as it is (see [`Connection::line`]). An exit status
    /// of 127 is the command's (a command not found, `exit 127`), a failed task
    /// like any other; only a login shell that could not start opsctl's
    /// `/bin/sh` is an error ([`TransportError::NoShell`]).
    pub async fn run_line(
        &self,
        line: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Output, TransportError> {
        match self {
            Connection::Ssh(c) => classify::no_shell(&c.spec.host, c.run(line, stdin).await?),
            Connection::Local(c) => c.run(line, stdin).await,
        }
    }

    /// A failed command run through sudo: was it sudo that failed?
    pub fn check_become(
        &self,
        out: Output,
        become_user: Option<&str>,
    ) -> Result<Output, TransportError> {
        if let Some(user) = become_user
            && !out.success()
            && let Some(e) = classify::sudo_error(
                &self.spec().host,
                user,
                out.rc.unwrap_or(-1),
                &out.stderr_str(),
            )
        {
            return Err(e);
        }
        Ok(out)
    }

    /// The SSH master's control socket, for a tool that runs its own ssh over
    /// this connection (synchronize's rsync); `None` for a local connection.
    pub fn control_path(&self) -> Option<&std::path::Path> {
        match self {
            Connection::Ssh(c) => Some(c.control_path()),
            Connection::Local(_) => None,
        }
    }

    /// Runs a command and sends its output as it arrives ([`Chunk`]s, in the
    /// order each stream produced them); returns its exit status (`None`: killed
    /// by a signal). With `hold_stdin` the command's stdin stays open until the
    /// command ends or the connection closes (a script can wait on it, `cat
    /// >/dev/null`, to learn that opsctl went away); without it stdin is empty.
    /// A sudo refusal is an error, as for [`Connection::run`].
    pub async fn stream(
        &self,
        cmd: &RemoteCommand,
        hold_stdin: bool,
        tx: tokio::sync::mpsc::UnboundedSender<Chunk>,
    ) -> Result<Option<i32>, TransportError> {
        let (line, become_user) = self.line(cmd);
        // stderr is kept too: it says whether sudo refused.
        let (inner_tx, mut inner_rx) = tokio::sync::mpsc::unbounded_channel();
        let forward = async {
            let mut stderr = Vec::new();
            while let Some(c) = inner_rx.recv().await {
                if let Chunk::Err(b) = &c
                    && stderr.len() < 64 * 1024
                {
                    stderr.extend_from_slice(b);
                }
                let _ = tx.send(c);
            }
            stderr
        };
        let run = async {
            match self {
                Connection::Ssh(c) => c.stream(&line, hold_stdin, inner_tx).await,
                Connection::Local(c) => c.stream(&line, hold_stdin, inner_tx).await,
            }
        };
        let (rc, stderr) = tokio::join!(run, forward);
        let rc = rc?;
        let out = Output {
            rc,
            stdout: Vec::new(),
            stderr,
        };
        self.check_become(out, become_user.as_deref()).map(|o| o.rc)
    }

    /// Replaces the SSH master with a new one (the host rebooted): see
    /// [`ssh::SshConnection::remaster`]. A local connection has none.
    pub async fn remaster(
        &self,
        connect_timeout: Option<std::time::Duration>,
    ) -> Result<(), TransportError> {
        match self {
            Connection::Ssh(c) => c.remaster(connect_timeout).await,
            Connection::Local(_) => Ok(()),
        }
    }

    pub fn spec(&self) -> &ConnectionSpec {
        match self {
            Connection::Ssh(c) => &c.spec,
            Connection::Local(c) => &c.spec,
        }
    }

    /// Closes the connection (for SSH: stops the master). Commands still running on
    /// it fail as disconnected.
    pub async fn close(&self) {
        match self {
            Connection::Ssh(c) => c.close().await,
            Connection::Local(_) => {}
        }
    }
}

/// The command line given to the remote login shell: `/bin/sh -c SCRIPT`, wrapped
/// in `sudo -n -H -u USER --` when becoming another user. The script is quoted, so
/// the login shell (bash, zsh, fish) never interprets it.
pub fn command_line(script: &str, become_user: Option<&str>) -> String {
    let quoted = shell_quote(script);
    match become_user {
        Some(user) => format!("sudo -n -H -u {} -- /bin/sh -c {quoted}", shell_quote(user)),
        None => format!("/bin/sh -c {quoted}"),
    }
}

/// How long a script must be to go on stdin rather than on the command line.
pub const STDIN_SCRIPT_MIN: usize = 8192;

/// The command line for the login shell, and its stdin, that run a long
/// script needing no input (`None` for a short one): the login shell parses
/// a few words instead of the whole quoted script (bash takes about 45 ns a
/// byte), and dash reads the script from stdin in blocks. The script runs
/// inside `{ ... } </dev/null`, which dash parses whole before running any of
/// it, so nothing the script starts can read the rest of it, and its
/// commands' stdin is empty as with [`command_line`]. Without dash (a `/bin/sh`
/// that is bash reads a script on stdin a byte at a time), `/bin/sh -c` gets
/// the script from `cat`.
pub fn script_on_stdin(script: &str) -> Option<(String, Vec<u8>)> {
    if script.len() < STDIN_SCRIPT_MIN {
        return None;
    }
    let line = "command -v dash >/dev/null 2>&1 && exec dash -s || exec /bin/sh -c \"$(cat)\"";
    Some((
        line.to_string(),
        format!("{{\n{script}\n}} </dev/null\n").into_bytes(),
    ))
}

/// The command line of a become with a password, whose line comes first on
/// stdin. When sudo needs no password (a NOPASSWD rule, or credentials it
/// still caches), the line is read and dropped and sudo runs with `-n`, so the
/// password never reaches the command's input. Otherwise `sudo -S` reads it
/// from stdin itself (one byte at a time, so the command's own input follows
/// untouched), with an empty prompt. The password is on no command line.
pub fn become_password_line(script: &str, user: &str) -> String {
    let user = shell_quote(user);
    let quoted = shell_quote(script);
    let outer = format!(
        "if sudo -n -u {user} -- /bin/sh -c : </dev/null >/dev/null 2>&1; then \
         IFS= read -r _; exec sudo -n -H -u {user} -- /bin/sh -c {quoted}; \
         else exec sudo -S -p '' -H -u {user} -- /bin/sh -c {quoted}; fi"
    );
    format!("/bin/sh -c {}", shell_quote(&outer))
}

/// Bytes a word may hold and stay as it is for `sh`, letters and digits aside.
pub const SHELL_SAFE: &[u8] = b"@%+=:,./-_";

/// Quotes a string for a POSIX shell exactly as Python's `shlex.quote` does
/// (so the template filter `quote` gives Ansible's bytes): as is when every
/// byte is safe ([`SHELL_SAFE`]), else in single quotes with `'` written `'"'"'`.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || SHELL_SAFE.contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Each of `items` quoted for `sh`, joined by spaces (a command's arguments).
pub fn shell_words(items: &[String]) -> String {
    items
        .iter()
        .map(|s| shell_quote(s))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_become_password_line_quotes_the_script_twice_and_holds_no_password() {
        let script = "echo 'it''s' \"$HOME\"";
        let line = become_password_line(script, "app user");
        let words = shlex::split(&line).unwrap();
        assert_eq!(words[..2], ["/bin/sh", "-c"]);
        let outer = &words[2];
        assert!(
            outer.starts_with("if sudo -n -u 'app user' -- /bin/sh -c : </dev/null"),
            "{outer}"
        );
        let quoted = shell_quote(script);
        assert!(
            outer.contains(&format!(
                "exec sudo -n -H -u 'app user' -- /bin/sh -c {quoted};"
            )),
            "{outer}"
        );
        assert!(
            outer.contains(&format!(
                "else exec sudo -S -p '' -H -u 'app user' -- /bin/sh -c {quoted}; fi"
            )),
            "{outer}"
        );
        let pw = BecomePassword::new("S3cret-pw".into());
        assert_eq!(format!("{pw:?}"), "BecomePassword(********)");
        assert_eq!(&pw.stdin(Some(b"data"))[..], b"S3cret-pw\ndata");
        assert_eq!(&pw.stdin(None)[..], b"S3cret-pw\n");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("abc"), "abc");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), "'it'\"'\"'s'");
        assert_eq!(command_line("echo pong", None), "/bin/sh -c 'echo pong'");
        assert_eq!(
            command_line("id -u", Some("root")),
            "sudo -n -H -u root -- /bin/sh -c 'id -u'"
        );
    }

    /// A long script on stdin runs as it would from `/bin/sh -c`, with dash
    /// and without it (then `/bin/sh -c "$(cat)"`): same output, status and
    /// positional parameters; what it starts reads nothing of the script.
    #[test]
    fn long_scripts_on_stdin_run_as_on_the_command_line() {
        use std::io::Write;
        let filler = format!("# {}\n", "x".repeat(STDIN_SCRIPT_MIN));
        let script = format!(
            "printf '%s|' \"$#\" 'it'\"'\"'s' $((1+2))\nf() {{ echo \"in f: $1\"; }}\nf a\n\
             cat\nread -r l || echo \"no input\"\n{filler}cat <<'EOF'\n}}\nEOF\necho done >&2\nexit 3\n"
        );
        assert!(script_on_stdin("echo short").is_none());
        let (line, stdin) = script_on_stdin(&script).unwrap();
        let t = tempfile::tempdir().unwrap();
        // a PATH without dash: /bin/sh and cat only
        for tool in ["sh", "cat"] {
            std::os::unix::fs::symlink(format!("/bin/{tool}"), t.path().join(tool)).unwrap();
        }
        let want = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(want.status.code(), Some(3));
        assert_eq!(
            String::from_utf8_lossy(&want.stdout),
            "0|it's|3|in f: a\nno input\n}\n"
        );
        let mut runs = vec![
            std::env::var("PATH").unwrap(),
            t.path().display().to_string(),
        ];
        if !std::path::Path::new("/bin/dash").exists()
            && !std::path::Path::new("/usr/bin/dash").exists()
        {
            eprintln!("no dash here: the run through dash is not checked");
            runs.remove(0);
        }
        for path in runs {
            let mut c = std::process::Command::new("/bin/bash")
                .arg("-c")
                .arg(&line)
                .env("PATH", &path)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(&stdin).unwrap();
            let got = c.wait_with_output().unwrap();
            assert_eq!(got.status.code(), Some(3), "PATH={path}");
            assert_eq!(got.stdout, want.stdout, "PATH={path}");
            assert_eq!(got.stderr, want.stderr, "PATH={path}");
        }
    }

    #[tokio::test]
    async fn quoted_scripts_survive_a_real_shell() {
        let spec = ConnectionSpec::local("localhost");
        let conn = Connection::open(&spec).await.unwrap();
        let script = r#"printf '%s|' "a b" 'c'"'"'d' $((1+2)); cat"#;
        let mut cmd = RemoteCommand::new(script);
        cmd.stdin = Some(b"in".to_vec());
        let out = conn.run(&cmd).await.unwrap();
        assert_eq!(out.stdout_str(), "a b|c'd|3|in");
        let out = conn
            .run(&RemoteCommand::new("echo oops >&2; exit 3"))
            .await
            .unwrap();
        assert_eq!((out.rc, out.stderr_str().as_str()), (Some(3), "oops\n"));
    }
}
