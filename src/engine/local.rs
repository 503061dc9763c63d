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

/// Puts images of the controller's docker daemon on the host (compose_ship):
/// `docker save IMAGE...` on the controller, its stdout copied as it comes
/// into the stdin of `docker load` on the host. Over SSH `docker load` runs
/// through the host's master socket (`ssh -S`, as rsync does): the task's
/// connection, no new login, no registry, nothing written on either side but
/// what docker itself keeps. The task's become runs it through `sudo -n -u
/// USER`. Returns the bytes sent, the time taken and, on failure, which side
/// failed with its stderr.
pub async fn ship(
    env: &crate::modules::HostEnv<'_>,
    images: &[String],
    tags: &[(String, String)],
) -> Result<crate::modules::protocol::Applied, Fail> {
    use crate::transport::shell_quote;
    let t0 = Instant::now();
    let (mut bytes, mut out) = (
        0,
        crate::transport::Output {
            rc: Some(0),
            ..Default::default()
        },
    );
    if !images.is_empty() {
        (bytes, out) = save_load(env, images).await?;
    }
    if out.success() && !tags.is_empty() {
        let script: String = tags
            .iter()
            .map(|(id, name)| format!("docker tag {} {}\n", shell_quote(id), shell_quote(name)))
            .collect();
        out = env.run_stdin(&format!("set -e\n{script}"), None).await?;
    }
    Ok(crate::modules::protocol::Applied::Shipped {
        bytes,
        elapsed: t0.elapsed(),
        out,
    })
}

/// `docker save | docker load`: the bytes sent and what failed.
async fn save_load(
    env: &crate::modules::HostEnv<'_>,
    images: &[String],
) -> Result<(u64, crate::transport::Output), Fail> {
    use crate::transport::{Output, shell_quote};
    use std::process::Stdio;
    use tokio::io::AsyncReadExt;
    use tokio::process::Command;

    async fn read_all<R: tokio::io::AsyncRead + Unpin>(r: Option<R>) -> Vec<u8> {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf).await;
        }
        buf
    }

    let load = match env.become_user {
        Some(u) => format!("sudo -n -u {} docker load", shell_quote(u)),
        None => "docker load".to_string(),
    };
    // Each side as the words it runs: the commands started and the one line
    // the trace shows are made from the same words.
    let save_argv: Vec<String> = ["docker", "save"]
        .into_iter()
        .map(String::from)
        .chain(images.iter().cloned())
        .collect();
    let load_argv: Vec<String> = match env.conn.control_path() {
        Some(sock) => vec![
            "ssh".into(),
            "-S".into(),
            sock.display().to_string(),
            "-o".into(),
            "ControlMaster=no".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "opsctl-host".into(),
            load.clone(),
        ],
        None => vec!["sh".into(), "-c".into(), load.clone()],
    };
    let line = |argv: &[String]| {
        argv.iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let cmd = format!("{} | {}", line(&save_argv), line(&load_argv));
    let command = |argv: &[String]| {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    };
    let (mut save_cmd, mut load_cmd) = (command(&save_argv), command(&load_argv));
    let piped = |c: &mut Command, stdin: Stdio| {
        c.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
    };
    let mut save = piped(&mut save_cmd, Stdio::null()).map_err(|e| {
        Fail::Task(format!(
            "cannot run docker on the controller ({e}): compose_images: ship needs the \
                 docker CLI there (apt-get install docker.io), or set compose_images: build"
        ))
    })?;
    let mut loader = piped(&mut load_cmd, Stdio::piped())
        .map_err(|e| Fail::Task(format!("cannot start `{load}` on the host: {e}")))?;
    let save_err = tokio::spawn(read_all(save.stderr.take()));
    let load_out = tokio::spawn(read_all(loader.stdout.take()));
    let load_err = tokio::spawn(read_all(loader.stderr.take()));
    let (mut from, mut to) = match (save.stdout.take(), loader.stdin.take()) {
        (Some(f), Some(t)) => (f, t),
        _ => return Err(Fail::Task("docker save | docker load: no pipe".into())),
    };
    let copied = tokio::io::copy(&mut from, &mut to).await;
    drop(to);
    drop(from);
    let saved = save.wait().await;
    let loaded = loader.wait().await;
    let text = |h: tokio::task::JoinHandle<Vec<u8>>| async move { h.await.unwrap_or_default() };
    let (save_err, load_out, load_err) = (
        text(save_err).await,
        text(load_out).await,
        text(load_err).await,
    );
    let code =
        |s: &std::io::Result<std::process::ExitStatus>| s.as_ref().ok().and_then(|s| s.code());
    let failed = |side: &str, rc: Option<i32>, err: &[u8]| Output {
        rc: Some(rc.filter(|c| *c != 0).unwrap_or(1)),
        stdout: Vec::new(),
        stderr: format!("{side}: {}", String::from_utf8_lossy(err).trim()).into_bytes(),
    };
    // A `docker load` that stops early breaks the pipe, and `docker save` then
    // fails too: the side that failed first is the one to name.
    let (save_failed, load_failed) = (code(&saved) != Some(0), code(&loaded) != Some(0));
    let out = if load_failed && (!save_failed || copied.is_err()) {
        let mut err = load_err;
        if err.is_empty() {
            err = load_out;
        }
        failed("docker load on the host", code(&loaded), &err)
    } else if save_failed {
        failed("docker save on the controller", code(&saved), &save_err)
    } else if let Err(e) = &copied {
        failed("sending the images", None, e.to_string().as_bytes())
    } else {
        Output {
            rc: Some(0),
            stdout: load_out,
            stderr: load_err,
        }
    };
    env.trace.lock().unwrap().push((cmd, out.clone()));
    Ok((copied.unwrap_or(0), out))
}
