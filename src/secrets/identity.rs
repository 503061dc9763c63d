//! Your identities: the private keys that decrypt `secrets.age`.
//!
//! Looked up in this order: `--identity FILE`; `OPSCTL_AGE_KEY` (the key text,
//! for CI secrets); `OPSCTL_AGE_KEY_FILE`; then the default files
//! `~/.config/opsctl/identity.txt`, `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`. The
//! first of the explicit sources that is set wins alone (CI is deterministic);
//! without one, every default file that exists is tried.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::{SecretsError, tty};

/// How the user chose identities on the command line.
#[derive(Debug, Clone, Default)]
pub struct IdentityOpts {
    /// `--identity FILE`.
    pub file: Option<PathBuf>,
}

/// One source of identities, loaded.
pub struct Found {
    /// What it is, for messages: `OPSCTL_AGE_KEY`, `~/.ssh/id_ed25519`...
    pub label: String,
    pub identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// The public keys of these identities (`age1...`, `ssh-ed25519 AAAA...`),
    /// to say which recipient is you.
    pub publics: Vec<String>,
}

/// Everything looked for: the sources that were found, and how each candidate
/// fared (for "none of your identities (...) is a recipient").
pub struct Discovered {
    pub found: Vec<Found>,
    pub tried: Vec<String>,
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `~/x` for paths under $HOME.
pub fn tilde(p: &Path) -> String {
    if let Some(h) = home()
        && let Ok(rest) = p.strip_prefix(&h)
    {
        return format!("~/{}", rest.display());
    }
    p.display().to_string()
}

/// The default identity file written by `opsctl secrets keygen`.
pub fn default_identity_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))?;
    Some(base.join("opsctl").join("identity.txt"))
}

/// Finds and loads identities (see the module docs for the order).
pub fn discover(opts: &IdentityOpts) -> Result<Discovered, SecretsError> {
    let mut d = Discovered {
        found: Vec::new(),
        tried: Vec::new(),
    };
    if let Some(f) = &opts.file {
        let label = format!("--identity {}", f.display());
        let found = load_file(f, &label)?;
        d.tried.push(label);
        d.found.push(found);
        return Ok(d);
    }
    if let Some(key) = std::env::var_os("OPSCTL_AGE_KEY").filter(|k| !k.is_empty()) {
        let text = Zeroizing::new(key.to_string_lossy().into_owned());
        let found = parse_age_identities(&text, "OPSCTL_AGE_KEY")?;
        d.tried.push("OPSCTL_AGE_KEY".into());
        d.found.push(found);
        return Ok(d);
    }
    if let Some(f) = std::env::var_os("OPSCTL_AGE_KEY_FILE").filter(|k| !k.is_empty()) {
        let f = PathBuf::from(f);
        let label = format!("OPSCTL_AGE_KEY_FILE={}", f.display());
        let found = load_file(&f, &label)?;
        d.tried.push(label);
        d.found.push(found);
        return Ok(d);
    }
    let mut defaults = Vec::new();
    if let Some(f) = default_identity_file() {
        defaults.push(f);
    }
    if let Some(h) = home() {
        defaults.push(h.join(".ssh/id_ed25519"));
        defaults.push(h.join(".ssh/id_rsa"));
    }
    for f in defaults {
        let label = tilde(&f);
        if !f.is_file() {
            d.tried.push(format!("{label} (absent)"));
            continue;
        }
        match load_file(&f, &label) {
            Ok(found) => {
                d.tried.push(label);
                d.found.push(found);
            }
            // A default file that is not usable is skipped, and said so.
            Err(e) => d.tried.push(format!("{label} ({})", e.message)),
        }
    }
    Ok(d)
}

/// Loads one identity file: an age identity file (`AGE-SECRET-KEY-1...` lines)
/// or an SSH private key (OpenSSH or PEM format).
pub fn load_file(path: &Path, label: &str) -> Result<Found, SecretsError> {
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            SecretsError::new(format!("{label}: cannot read the identity file: {e}"))
        })?);
    if text.contains("PRIVATE KEY-----") {
        return load_ssh(path, &text, label);
    }
    parse_age_identities(&text, label)
}

/// Parses `AGE-SECRET-KEY-1...` lines (comments and blank lines allowed). Errors
/// give the line number only: an identity line is a secret.
pub fn parse_age_identities(text: &str, label: &str) -> Result<Found, SecretsError> {
    let mut found = Found {
        label: label.to_string(),
        identities: Vec::new(),
        publics: Vec::new(),
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id: age::x25519::Identity = line.parse().map_err(|_| {
            SecretsError::new(format!(
                "{label}: line {} is not an age identity (expected AGE-SECRET-KEY-1...)",
                i + 1
            ))
            .hint("`opsctl secrets keygen` writes a new identity; plugin identities are not supported")
        })?;
        found.publics.push(id.to_public().to_string());
        found.identities.push(Box::new(id));
    }
    if found.identities.is_empty() {
        return Err(SecretsError::new(format!(
            "{label}: holds no identity (AGE-SECRET-KEY-1...)"
        )));
    }
    Ok(found)
}

fn load_ssh(path: &Path, text: &str, label: &str) -> Result<Found, SecretsError> {
    let id = age::ssh::Identity::from_buffer(
        BufReader::new(text.as_bytes()),
        Some(path.display().to_string()),
    )
    .map_err(|_| SecretsError::new(format!("{label}: not an SSH private key age can read")))?;
    if let age::ssh::Identity::Unsupported(_) = &id {
        return Err(SecretsError::new(format!(
            "{label}: unsupported SSH key type (age uses ssh-ed25519 and ssh-rsa keys)"
        )));
    }
    // The public key, from the .pub file beside it, to tell which recipient is you.
    let mut publics = Vec::new();
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    if let Ok(p) = std::fs::read_to_string(PathBuf::from(pub_path)) {
        let mut w = p.split_whitespace();
        if let (Some(k), Some(b)) = (w.next(), w.next()) {
            publics.push(format!("{k} {b}"));
        }
    }
    Ok(Found {
        label: label.to_string(),
        identities: vec![Box::new(id.with_callbacks(TtyCallbacks))],
        publics,
    })
}

/// Asks for an SSH key's passphrase on the terminal (nothing when there is none,
/// e.g. in CI: the key is then skipped).
#[derive(Clone, Copy)]
struct TtyCallbacks;

impl age::Callbacks for TtyCallbacks {
    fn display_message(&self, message: &str) {
        tty::message(message);
    }

    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        tty::read_secret(&format!("{description}: "))
            .ok()
            .flatten()
            .filter(|p| !p.expose_secret().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_identity_lines() {
        let id = age::x25519::Identity::generate();
        let text = format!(
            "# created: now\n# public key: {}\n{}\n",
            id.to_public(),
            id.to_string().expose_secret()
        );
        let f = parse_age_identities(&text, "OPSCTL_AGE_KEY").unwrap();
        assert_eq!(f.publics, vec![id.to_public().to_string()]);
        let e = parse_age_identities("# c\nAGE-SECRET-KEY-1NOPE\n", "X")
            .err()
            .unwrap();
        assert!(e.message.contains("X: line 2 is not an age identity"));
        assert!(!e.message.contains("NOPE"), "no key text in errors");
        assert!(parse_age_identities("# nothing\n", "X").is_err());
    }
}
