//! pause: wait a number of seconds or minutes, or for the operator to press
//! Enter, as Ansible's `pause`. Runs on the controller, no exec on the host.
//!
//! A prompt waits for input only on an interactive terminal: with `CI` set or
//! no TTY on stdin, a prompt without a duration returns at once with a
//! warning, and a prompt with a duration just sleeps. The prompt is asked once
//! per task and its answer given to every host (Ansible runs pause once too).

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use super::util::{self, Fail, Fut};
use super::{ArgSpec, Args, HostEnv, Kind, Outcome, Spec};

pub static PAUSE: Spec = Spec {
    read_only: true,
    mutually_exclusive: &[&["minutes", "seconds"]],
    ..Spec::new(
        "pause",
        &[
            ArgSpec::new("seconds", Kind::Int),
            ArgSpec::new("minutes", Kind::Int),
            ArgSpec::new("prompt", Kind::Str),
            ArgSpec::new("echo", Kind::Bool),
        ],
    )
};

pub fn run_pause<'a>(args: &'a Args, env: &'a HostEnv<'a>) -> Fut<'a> {
    Box::pin(async move { util::finish(pause(args, env).await) })
}

/// Can we ask the operator?
fn interactive() -> bool {
    !crate::printer::in_ci() && std::io::stdin().is_terminal()
}

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

fn stamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

async fn pause(args: &Args, env: &HostEnv<'_>) -> Result<Outcome, Fail> {
    let secs = match (args.int("seconds"), args.int("minutes")) {
        (Some(s), _) if s < 0 => return util::bad_args("seconds must not be negative"),
        (_, Some(m)) if m < 0 => return util::bad_args("minutes must not be negative"),
        (Some(s), _) => Some(s as u64),
        (_, Some(m)) => Some(m as u64 * 60),
        _ => None,
    };
    let prompt = args.string("prompt");
    let echo = args.bool_or("echo", true);
    let start = SystemTime::now();
    let t0 = Instant::now();
    let mut o = Outcome::ok().with("echo", echo).with("start", stamp(start));
    let mut user_input = String::new();
    match (secs, &prompt) {
        (Some(s), _) => {
            if let Some(p) = &prompt
                && interactive()
            {
                eprintln!("[pause]\n{}", crate::redact::redact(p));
            }
            tokio::time::sleep(Duration::from_secs(s)).await;
            o = o.with("stdout", format!("Paused for {s} seconds"));
        }
        (None, prompt) if interactive() => {
            let p = prompt
                .clone()
                .unwrap_or_else(|| "Press enter to continue, Ctrl+C to interrupt".into());
            let key = format!("{}\u{1f}{p}", env.location);
            let mut a = answers().lock().await;
            user_input = match a.get(&key) {
                Some(v) => v.clone(),
                None => {
                    let v = tokio::task::spawn_blocking(move || read_line(p, echo))
                        .await
                        .map_err(|e| Fail::Task(format!("pause: {e}")))?
                        .map_err(|e| Fail::Task(format!("pause: cannot read the answer: {e}")))?;
                    a.insert(key, v.clone());
                    v
                }
            };
            o = o.with(
                "stdout",
                format!(
                    "Paused for {:.2} minutes",
                    t0.elapsed().as_secs_f64() / 60.0
                ),
            );
        }
        (None, _) => {
            o.print = true;
            o = o
                .with("stdout", "Paused for 0 seconds")
                .msg("not waiting for input: no terminal (or CI is set); continuing");
        }
    }
    let delta = t0.elapsed().as_secs_f64();
    Ok(o.with("user_input", user_input)
        .with("stop", stamp(SystemTime::now()))
        .with("delta", delta.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::util::testkit::kit;
    use serde_json::json;

    #[tokio::test]
    async fn sleeps_or_returns_without_a_terminal() {
        let k = kit().await;
        let t = Instant::now();
        let (o, n) = k
            .run(&PAUSE, run_pause, json!({"seconds": 1}), false, false)
            .await;
        assert!(t.elapsed() >= Duration::from_secs(1));
        assert_eq!(n, 0, "nothing runs on the host");
        assert_eq!(o.data["stdout"], json!("Paused for 1 seconds"));
        // `cargo test` has no terminal on stdin (or CI is set): no wait
        if !interactive() {
            let t = Instant::now();
            let (o, _) = k
                .run(&PAUSE, run_pause, json!({"prompt": "Go?"}), false, false)
                .await;
            assert!(t.elapsed() < Duration::from_secs(1));
            assert!(
                o.print && o.msg.as_deref().unwrap().contains("not waiting"),
                "{o:?}"
            );
            assert_eq!(o.data["user_input"], json!(""));
        }
    }
}
