//! Prompts on the controlling terminal (`/dev/tty`), never on stdout/stdin:
//! they work while stdout is piped, and a passphrase is read without echo.
//! Without a terminal, or with `CI=true`, every prompt answers `None`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};

use age::secrecy::SecretString;
use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
use zeroize::Zeroizing;

/// In CI (`CI=true`) nothing prompts, even when a terminal exists: the commands
/// that would ask say which flag or variable to set instead.
fn open_tty() -> Option<File> {
    if crate::printer::in_ci() {
        return None;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()
}

/// Why nothing can be asked (for an error naming the flag that would ask).
pub fn no_prompt_reason() -> &'static str {
    if crate::printer::in_ci() {
        "CI=true: opsctl never prompts in CI"
    } else {
        "there is no terminal to ask on"
    }
}

/// Is there a terminal to ask on?
pub fn available() -> bool {
    open_tty().is_some()
}

/// Shows a message on the terminal (if any).
pub fn message(msg: &str) {
    if let Some(mut t) = open_tty() {
        let _ = writeln!(t, "{msg}");
    }
}

/// Asks a question (the answer is echoed). `None` without a terminal.
pub fn ask(prompt: &str) -> Option<String> {
    let mut t = open_tty()?;
    let _ = write!(t, "{prompt}");
    let _ = t.flush();
    let mut line = String::new();
    BufReader::new(t).read_line(&mut line).ok()?;
    Some(line.trim().to_string())
}

/// Reads a secret without echo. `Ok(None)` without a terminal.
pub fn read_secret(prompt: &str) -> io::Result<Option<SecretString>> {
    let Some(mut t) = open_tty() else {
        return Ok(None);
    };
    let saved = tcgetattr(&t).map_err(io::Error::from)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    write!(t, "{prompt}")?;
    t.flush()?;
    tcsetattr(&t, OptionalActions::Now, &quiet).map_err(io::Error::from)?;
    let mut line = Zeroizing::new(String::new());
    let read = BufReader::new(&t).read_line(&mut line);
    let _ = tcsetattr(&t, OptionalActions::Now, &saved);
    read?;
    let s = line.trim_end_matches(['\n', '\r']).to_string();
    Ok(Some(SecretString::from(s)))
}
