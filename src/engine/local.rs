//! Actions that run on the controller, not on the host: writing a fetched file
//! (`Action::WriteLocal`), pausing (`Action::Pause`), waiting for a new
//! connection to answer (`Action::Reconnect`) and rebooting a host
//! (`Action::Reboot`: the host's SSH master replaced). Called by
//! `engine::apply`, which decides whether they run (check mode).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::modules::fail::Fail;
use crate::modules::protocol::{Pause, Paused};

/// Writes through a temporary file in the same directory, then renames.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), Fail> {
    let write = || -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(
            ".{}.opsctl-fetch.{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
            std::process::id()
        ));
        std::fs::write(&tmp, data)?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    };
    write().map_err(|e| Fail::Task(format!("cannot write {}: {e}", path.display())))
}

use crate::printer::interactive;

/// Answers already given, by task (file:line) and prompt.
fn answers() -> &'static tokio::sync::Mutex<HashMap<String, String>> {
    static A: OnceLock<tokio::sync::Mutex<HashMap<String, String>>> = OnceLock::new();
    A.get_or_init(|| tokio::sync::Mutex::new(HashMap::new()))
}

fn read_line(prompt: String, echo: bool) -> std::io::Result<String> {
    static TTY: Mutex<()> = Mutex::new(());
    let _g = TTY.lock().unwrap_or_else(|e| e.into_inner());
    let mut err = std::io::stderr();
    write!(err, "[pause]\n{prompt}: ")?;
    err.flush()?;
    let stty = |arg: &str| {
        let _ = std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    if !echo {
        stty("-echo");
    }
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    if !echo {
        stty("echo");
        let _ = writeln!(err);
    }
    r?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Sleeps, or asks the operator (once per task and prompt) on a terminal; without
/// one (or with `CI` set) a prompt without a duration returns at once.
pub async fn pause(p: &Pause) -> Result<Paused, Fail> {
    let start = SystemTime::now();
    let t0 = Instant::now();
    let mut user_input = String::new();
    let mut not_asked = false;
    match p.seconds {
        Some(s) => {
            if let Some(prompt) = &p.prompt
                && interactive()
            {
                eprintln!("[pause]\n{}", crate::redact::redact(prompt));
            }
            tokio::time::sleep(Duration::from_secs(s)).await;
        }
        None if interactive() => {
            let prompt = p
                .prompt
                .clone()
                .unwrap_or_else(|| "Press enter to continue, Ctrl+C to interrupt".into());
            let key = format!("{}\u{1f}{prompt}", p.key);
            let mut a = answers().lock().await;
            user_input = match a.get(&key) {
                Some(v) => v.clone(),
                None => {
                    let echo = p.echo;
                    let v = tokio::task::spawn_blocking(move || read_line(prompt, echo))
                        .await
                        .map_err(|e| Fail::Task(format!("pause: {e}")))?
                        .map_err(|e| Fail::Task(format!("pause: cannot read the answer: {e}")))?;
                    a.insert(key, v.clone());
                    v
                }
            };
        }
        None => not_asked = true,
    }
    Ok(Paused {
        seconds: p.seconds,
        user_input,
        not_asked,
        start,
        stop: SystemTime::now(),
        elapsed: t0.elapsed(),
    })
}

/// Waits until a new connection to the host, made as the task's own is (user,
/// key, ProxyCommand, host key checking), opens and runs a command: after
/// `delay`, one attempt every `sleep` seconds, each bounded by
/// `connect_timeout`, until `timeout`. Returns how long it took (after the
/// delay). A connection that fails names its reason in the timeout's error.
pub async fn reconnect(
    conn: &crate::transport::Connection,
    r: &crate::modules::protocol::Reconnect,
) -> Result<Duration, Fail> {
    use crate::transport::{Connection, RemoteCommand};
    tokio::time::sleep(Duration::from_secs(r.delay)).await;
    let t0 = Instant::now();
    let mut spec = conn.spec().clone();
    spec.connect_timeout = Duration::from_secs(r.connect_timeout.max(1));
    let bound = spec.connect_timeout * 2 + Duration::from_secs(5);
    let deadline = Duration::from_secs(r.timeout);
    loop {
        let attempt = async {
            let c = Connection::open(&spec).await.map_err(|e| e.to_string())?;
            let out = c.run(&RemoteCommand::new("echo pong")).await;
            c.close().await;
            match out {
                Ok(o) if o.success() && o.stdout_str().trim() == "pong" => Ok(()),
                Ok(o) => Err(format!("the test command failed (rc {:?})", o.rc)),
                Err(e) => Err(e.to_string()),
            }
        };
        let last = match tokio::time::timeout(bound, attempt).await {
            Ok(Ok(())) => return Ok(t0.elapsed()),
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {} s", bound.as_secs()),
        };
        if t0.elapsed() + Duration::from_secs(r.sleep) >= deadline {
            return Err(Fail::Task(format!(
                "timed out waiting for a connection to {} after {} s: {last}",
                spec.host,
                t0.elapsed().as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(r.sleep)).await;
    }
}

/// Reboots the host (reboot): reads its boot id, runs the reboot command
/// (the connection may drop under it: the host going down is no failure),
/// waits `post_reboot_delay`, then replaces the host's SSH master until one
/// connects and reads another boot id, and runs the test command until it
/// succeeds, within `reboot_timeout` of the reboot command. Every later task
/// runs over the new master. Returns how long it took from the reboot command.
pub async fn reboot(
    env: &crate::modules::HostEnv<'_>,
    r: &crate::modules::protocol::Reboot,
) -> Result<Duration, Fail> {
    if env.conn.control_path().is_none() {
        return Err(Fail::Task(format!(
            "reboot: {} is reached by a local connection (the controller itself): opsctl does not reboot the machine it runs on",
            env.host
        )));
    }
    let before = env.run(&r.boot_time_command).await?;
    if !before.success() {
        return Err(Fail::Task(format!(
            "cannot read the boot time with `{}` before the reboot: {}",
            r.boot_time_command,
            crate::modules::protocol::script_failure(&before)
        )));
    }
    let before = before.stdout_str().trim().to_string();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(r.reboot_timeout);
    // A reboot command that hangs as the host goes down is the host going down.
    let bound = Duration::from_secs(30).min(Duration::from_secs(r.reboot_timeout.max(1)));
    match tokio::time::timeout(bound, env.run(&r.reboot_command)).await {
        Ok(Ok(out)) if !out.success() && out.rc.is_some() && out.rc != Some(255) => {
            return Err(Fail::Task(format!(
                "Reboot command failed ({}): {}",
                r.reboot_command,
                crate::modules::protocol::script_failure(&out)
            )));
        }
        // done, or the connection dropped under it
        Ok(Ok(_)) | Ok(Err(Fail::Transport(_))) | Err(_) => {}
        Ok(Err(e)) => return Err(e),
    }
    tokio::time::sleep(Duration::from_secs(r.post_reboot_delay)).await;
    let connect = r.connect_timeout.map(Duration::from_secs);
    let mut booted = false;
    loop {
        let attempt = async {
            if !booted {
                env.conn
                    .remaster(connect)
                    .await
                    .map_err(|e| e.to_string())?;
                let now = env
                    .run(&r.boot_time_command)
                    .await
                    .map_err(|e| e.to_string())?;
                if !now.success() {
                    return Err(format!(
                        "`{}` failed (rc {:?})",
                        r.boot_time_command, now.rc
                    ));
                }
                if now.stdout_str().trim() == before {
                    return Err("the boot time has not changed yet".to_string());
                }
                booted = true;
            }
            let t = env.run(&r.test_command).await.map_err(|e| e.to_string())?;
            match t.success() {
                true => Ok(()),
                false => Err(format!(
                    "the test command `{}` failed: {}",
                    r.test_command,
                    crate::modules::protocol::script_failure(&t)
                )),
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let last = match tokio::time::timeout(left.max(Duration::from_secs(1)), attempt).await {
            Ok(Ok(())) => return Ok(t0.elapsed()),
            Ok(Err(e)) => e,
            Err(_) => "no answer".to_string(),
        };
        if Instant::now() + Duration::from_secs(1) >= deadline {
            return Err(Fail::Task(format!(
                "Timed out waiting for {} to come back after its reboot ({} s, reboot_timeout): {last}",
                env.host, r.reboot_timeout
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Runs rsync on the controller for synchronize. Over SSH, its remote shell is
/// `ssh -S <the host's master socket>`: the transfer reuses the task's
/// connection (no new login, same user, same host key); the host's side is
/// `opsctl-host:PATH` (the name is not used by ssh when it goes through the
/// socket). The task's become runs the host's rsync through `sudo -n -u USER`
/// (unless the task gives `rsync_path`); check mode adds `--dry-run`, so
/// rsync reports what it would transfer and changes nothing.
pub async fn rsync(
    env: &crate::modules::HostEnv<'_>,
    r: &crate::modules::protocol::Rsync,
) -> Result<crate::modules::protocol::Applied, Fail> {
    use crate::transport::shell_quote;
    let mut args: Vec<String> = r.opts.clone();
    if env.check {
        args.push("--dry-run".into());
    }
    let rsync_path = r.rsync_path.clone().or_else(|| {
        env.become_user
            .map(|u| format!("sudo -n -u {} rsync", shell_quote(u)))
    });
    if let Some(p) = rsync_path {
        args.push(format!("--rsync-path={p}"));
    }
    let remote = |path: &str| match env.conn.control_path() {
        Some(_) => format!("opsctl-host:{path}"),
        None => path.to_string(),
    };
    if let Some(sock) = env.conn.control_path() {
        args.push(format!(
            "--rsh=ssh -S {} -o ControlMaster=no",
            shell_quote(&sock.display().to_string())
        ));
    }
    let (src, dest) = if r.push {
        (r.src.clone(), remote(&r.dest))
    } else {
        (remote(&r.src), r.dest.clone())
    };
    args.push(src);
    args.push(dest);
    let cmd = std::iter::once("rsync".to_string())
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let out = tokio::process::Command::new("rsync")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            Fail::Task(format!(
                "cannot run rsync on the controller ({e}): install it (apt-get install rsync)"
            ))
        })?;
    let out = crate::transport::Output {
        rc: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    };
    env.trace.lock().unwrap().push((cmd.clone(), out.clone()));
    Ok(crate::modules::protocol::Applied::Rsynced { cmd, out })
}
