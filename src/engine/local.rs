//! Actions that run on the controller, not on the host: writing a fetched file
//! (`Action::WriteLocal`) and pausing (`Action::Pause`). Called by
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
