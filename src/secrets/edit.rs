//! `opsctl secrets edit`: the decrypted YAML in `$VISUAL` / `$EDITOR` (`vi`).
//!
//! * The plaintext lives in a private directory (mode 0700, under
//!   `$XDG_RUNTIME_DIR` when set, else the temp dir) in a file of mode 0600, and
//!   is overwritten with zeros and removed on every way out: success, error,
//!   Ctrl-C, SIGTERM/SIGHUP ([`PlainFile`]'s `Drop`). The editor's own files in
//!   that directory (swap files) are wiped too.
//! * While the editor runs, Ctrl-C belongs to the editor (as with git): opsctl
//!   waits; if the editor dies of it, nothing is saved. SIGTERM/SIGHUP to opsctl
//!   stop the editor and wipe.
//! * When the editor exits the YAML is checked; on an error the message says
//!   where and opsctl offers to re-open the editor on the same text. Declining
//!   keeps the edit, encrypted, in `secrets.age.draft`, which the next `edit`
//!   resumes from: an edit is never lost and never left in plaintext.
//! * Nothing changed: `secrets.age` is left byte-identical. Otherwise it is
//!   re-encrypted to the current recipients and written atomically.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{IdentityOpts, SecretsError, Store, tty};

/// What an edit session ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Written: how many variables the file now has.
    Saved { vars: usize },
    /// The text was not changed: the file was not touched.
    Unchanged,
    /// The YAML was invalid and the user declined to fix it now: the edit is in
    /// this encrypted draft.
    Draft(PathBuf),
    /// Ctrl-C (the editor died of it) or SIGTERM/SIGHUP: nothing saved.
    Interrupted,
}

/// The text of a new secrets file.
pub fn template(env: &str) -> String {
    format!(
        "# Secrets of environment {env}: YAML variables (name: value), like group_vars.\n\
         # They join every host's variables and are printed as ******** in all output.\n\
         # db_password: change-me\n"
    )
}

/// A plaintext file in a private directory, wiped when dropped.
pub struct PlainFile {
    dir: PathBuf,
    pub path: PathBuf,
}

impl PlainFile {
    /// Creates a private directory and the file (`name`) in it, holding `contents`.
    pub fn create(contents: &[u8], name: &str) -> std::io::Result<PlainFile> {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|d| d.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let mut attempt = 0;
        let dir = loop {
            let r = {
                use std::hash::{BuildHasher, Hasher};
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u32(std::process::id());
                h.finish()
            };
            let dir = base.join(format!("opsctl-secrets-{r:016x}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 10 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let pf = PlainFile {
            path: dir.join(name),
            dir,
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pf.path)?;
        f.write_all(contents)?;
        f.sync_all()?;
        Ok(pf)
    }

    pub fn read(&self) -> std::io::Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(std::fs::read(&self.path)?))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Overwrites every file of the directory with zeros, removes them and the
    /// directory. Idempotent.
    pub fn wipe(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_file() {
                    overwrite(&p);
                }
                let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir_all(&p));
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn overwrite(p: &Path) {
    let Ok(len) = std::fs::metadata(p).map(|m| m.len()) else {
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(p) {
        let zeros = vec![0u8; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            if f.write_all(&zeros[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = f.sync_all();
    }
}

impl Drop for PlainFile {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// The editor command: `$VISUAL`, `$EDITOR`, else `vi` (words split like a shell).
pub fn editor_command() -> Result<Vec<String>, SecretsError> {
    let raw = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let words = shlex::split(&raw)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            SecretsError::new(format!(
                "cannot parse the editor command `{raw}` ($VISUAL/$EDITOR)"
            ))
        })?;
    Ok(words)
}

/// How the editor ended.
enum EditorEnd {
    Exited,
    Interrupted,
}

async fn run_editor(path: &Path) -> Result<EditorEnd, SecretsError> {
    use tokio::signal::unix::{SignalKind, signal};
    let words = editor_command()?;
    let mut cmd = tokio::process::Command::new(&words[0]);
    cmd.args(&words[1..]);
    let base = Path::new(&words[0])
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base == "vim" || base == "nvim" {
        // no swap file, no viminfo: nothing of the plaintext outside the private dir
        cmd.args(["-n", "-i", "NONE"]);
    }
    cmd.arg(path).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        SecretsError::new(format!("cannot start the editor `{}`: {e}", words[0]))
            .hint("set $EDITOR (or $VISUAL) to your editor, e.g. EDITOR=nano")
    })?;
    let sig = |k| signal(k).map_err(|e| SecretsError::new(format!("cannot handle signals: {e}")));
    let mut int = sig(SignalKind::interrupt())?;
    let mut term = sig(SignalKind::terminate())?;
    let mut hup = sig(SignalKind::hangup())?;
    let status = loop {
        tokio::select! {
            s = child.wait() => break s,
            // Ctrl-C is the editor's: it decides whether to exit.
            _ = int.recv() => continue,
            _ = term.recv() => {
                let _ = child.kill().await;
                return Ok(EditorEnd::Interrupted);
            }
            _ = hup.recv() => {
                let _ = child.kill().await;
                return Ok(EditorEnd::Interrupted);
            }
        }
    };
    let status =
        status.map_err(|e| SecretsError::new(format!("waiting for the editor failed: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    if status.signal().is_some() {
        return Ok(EditorEnd::Interrupted);
    }
    if !status.success() {
        return Err(SecretsError::new(format!(
            "the editor `{}` exited with status {}: nothing was saved",
            words[0],
            status.code().unwrap_or(-1)
        )));
    }
    Ok(EditorEnd::Exited)
}

/// The encrypted draft of an edit whose YAML was invalid.
pub fn draft_path(store: &Store) -> PathBuf {
    store.dir.join(format!("{}.draft", super::FILE))
}

/// Asks yes/no on the terminal, or reads the answer from stdin when there is no
/// terminal (scripts). No answer at all is "no".
fn confirm(prompt: &str) -> bool {
    let answer = if tty::available() {
        tty::ask(prompt)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .ok()
            .filter(|n| *n > 0)
            .map(|_| line.trim().to_string())
    };
    match answer {
        Some(a) => a.is_empty() || a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes"),
        None => false,
    }
}

/// Runs an edit session on an environment's secrets.
pub async fn edit(
    store: &Store,
    env: &str,
    opts: &IdentityOpts,
    printer: &crate::printer::Printer,
) -> Result<Outcome, SecretsError> {
    // The recipients first: a bad recipients file must not cost an edit.
    let recipients = store.recipients()?;
    let mut passphrase = None;
    let original: Option<Zeroizing<Vec<u8>>> = if store.exists() {
        let p = super::decrypt(store, opts)?;
        passphrase = p.passphrase;
        Some(p.bytes)
    } else {
        None
    };
    if passphrase.is_none() && matches!(recipients, super::Recipients::Passphrase) {
        passphrase = Some(super::passphrase(store, true)?);
    }
    let draft = draft_path(store);
    let start: Zeroizing<Vec<u8>> = if draft.is_file() {
        let draft_store = Store {
            file: draft.clone(),
            shown: format!("{}.draft", store.shown),
            ..store.clone()
        };
        let p = super::decrypt(&draft_store, opts)?;
        printer.warn(&format!(
            "resuming your unsaved edit from {} (delete it to start over)",
            draft_store.shown
        ));
        p.bytes
    } else {
        match &original {
            Some(o) => o.clone(),
            None => Zeroizing::new(template(env).into_bytes()),
        }
    };
    let mut file = PlainFile::create(&start, "secrets.yml")
        .map_err(|e| SecretsError::new(format!("cannot create the private edit file: {e}")))?;
    let edited = loop {
        match run_editor(&file.path).await? {
            EditorEnd::Interrupted => {
                file.wipe();
                return Ok(Outcome::Interrupted);
            }
            EditorEnd::Exited => {}
        }
        let now = file.read().map_err(|e| {
            SecretsError::new(format!(
                "cannot read the edited file back: {e} (was it deleted by the editor?)"
            ))
        })?;
        let unchanged = match &original {
            Some(o) => now.as_slice() == o.as_slice(),
            None => now.as_slice() == template(env).as_bytes(),
        };
        if unchanged {
            file.wipe();
            if draft.is_file() {
                let _ = std::fs::remove_file(&draft);
            }
            return Ok(Outcome::Unchanged);
        }
        match super::parse_plaintext(store, &now) {
            Ok(vars) => break (now, vars.len()),
            Err(e) => {
                printer.error(&e.clone().into());
                if confirm("re-open the editor to fix it? [Y/n] ") {
                    continue;
                }
                let ct = super::encrypt(store, &now, passphrase.as_ref())?;
                super::write_atomic(&draft, &ct)?;
                file.wipe();
                return Ok(Outcome::Draft(draft));
            }
        }
    };
    let ct = super::encrypt(store, &edited.0, passphrase.as_ref())?;
    super::write_atomic(&store.file, &ct)?;
    file.wipe();
    if draft.is_file() {
        let _ = std::fs::remove_file(&draft);
    }
    Ok(Outcome::Saved { vars: edited.1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_file_is_private_and_wiped() {
        let mut f = PlainFile::create(b"k: secret-value\n", "s.yml").unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&f.path), 0o600);
        assert_eq!(mode(f.dir()), 0o700);
        std::fs::write(f.dir().join(".s.yml.swp"), b"swap").unwrap();
        let dir = f.dir().to_path_buf();
        f.wipe();
        assert!(!dir.exists());
        drop(f);
    }
}
