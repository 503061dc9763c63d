//! `environments/<env>/recipients`: who can decrypt the environment's secrets.
//!
//! One recipient a line: an `age1...` key, or an `ssh-ed25519` / `ssh-rsa`
//! public key (as in `~/.ssh/id_ed25519.pub`). `#` starts a comment; a comment
//! line names the person of the keys below it, a comment after a key names that
//! key's person (an SSH key's own comment is used otherwise). A file whose only
//! entry is the word `passphrase` selects the passphrase mode (scrypt, one
//! shared passphrase, like Ansible Vault).

use std::path::Path;

use super::SecretsError;

/// One recipient of the file.
pub struct Entry {
    /// 1-based line in the recipients file.
    pub line: usize,
    /// The key as written (`age1...` or `ssh-ed25519 AAAA...` without comment).
    pub key: String,
    /// Who it is, from the comments.
    pub name: Option<String>,
    pub recipient: Box<dyn age::Recipient + Send + Sync>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("line", &self.line)
            .field("key", &self.key)
            .field("name", &self.name)
            .finish()
    }
}

impl Entry {
    /// `alice (age1abc...)`, or the shortened key alone.
    pub fn describe(&self) -> String {
        let short = short_key(&self.key);
        match &self.name {
            Some(n) => format!("{n} ({short})"),
            None => short,
        }
    }
}

/// `age1qyqszqgp...x8f3`, `ssh-ed25519 AAAAC3Nz...isGN`.
pub fn short_key(key: &str) -> String {
    let (kind, body) = match key.split_once(' ') {
        Some((k, b)) => (format!("{k} "), b),
        None => (String::new(), key),
    };
    if body.len() <= 20 {
        return key.to_string();
    }
    format!("{kind}{}...{}", &body[..12], &body[body.len() - 4..])
}

/// Who can decrypt.
#[derive(Debug)]
pub enum Recipients {
    Keys(Vec<Entry>),
    /// A shared passphrase (age's scrypt recipient).
    Passphrase,
}

impl Recipients {
    /// Everyone, for an error message.
    pub fn describe(&self) -> String {
        match self {
            Recipients::Keys(e) => e.iter().map(Entry::describe).collect::<Vec<_>>().join(", "),
            Recipients::Passphrase => "a shared passphrase".into(),
        }
    }
}

/// Reads and parses a recipients file; `shown` is how errors name it.
pub fn load(path: &Path, shown: &str) -> Result<Recipients, SecretsError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SecretsError::new(format!("{shown} does not exist: nobody can decrypt this environment's secrets yet"))
                .hint(format!(
                    "`opsctl secrets keygen` makes your key; put its public key (age1...) or your ~/.ssh/id_ed25519.pub line in {shown}, one per line, with a `# name` comment"
                ))
        } else {
            SecretsError::new(format!("cannot read {shown}: {e}"))
        }
    })?;
    parse(&text, shown)
}

/// Parses the text of a recipients file.
pub fn parse(text: &str, shown: &str) -> Result<Recipients, SecretsError> {
    let mut entries = Vec::new();
    let mut passphrase = None;
    let mut heading: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            heading = None;
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            let c = c.trim();
            if !c.is_empty() {
                heading = Some(c.to_string());
            }
            continue;
        }
        let (body, trailing) = match line.split_once(" #") {
            Some((b, c)) => (
                b.trim(),
                Some(c.trim().to_string()).filter(|c| !c.is_empty()),
            ),
            None => (line, None),
        };
        if body == "passphrase" {
            passphrase = Some(line_no);
            continue;
        }
        let at = format!("{shown}:{line_no}");
        let (key, own_comment, recipient): (
            String,
            Option<String>,
            Box<dyn age::Recipient + Send + Sync>,
        ) = if body.starts_with("age1") {
            let r: age::x25519::Recipient = body.parse().map_err(|_| {
                    SecretsError::new(format!("{at}: not a valid age recipient (age1... is malformed)"))
                        .hint("copy the whole public key printed by `opsctl secrets keygen` (or `age-keygen -y`)")
                })?;
            (body.to_string(), None, Box::new(r))
        } else if body.starts_with("ssh-") {
            let mut words = body.split_whitespace();
            let kind = words.next().unwrap_or_default();
            let b64 = words.next().unwrap_or_default();
            let comment = words.collect::<Vec<_>>().join(" ");
            let key = format!("{kind} {b64}");
            let r = key.parse::<age::ssh::Recipient>().map_err(|e| {
                    let why = match e {
                        age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                            "this ssh-rsa key is shorter than 2048 bits".to_string()
                        }
                        age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => {
                            "this ssh-rsa key is longer than age supports".to_string()
                        }
                        _ if kind == "ssh-ed25519" || kind == "ssh-rsa" => {
                            format!("a malformed {kind} public key")
                        }
                        _ => format!("unsupported SSH key type `{kind}`"),
                    };
                    SecretsError::new(format!("{at}: {why}"))
                        .hint("use an ssh-ed25519 or ssh-rsa public key (the line of ~/.ssh/id_ed25519.pub), or an age1... key")
                })?;
            (key, Some(comment).filter(|c| !c.is_empty()), Box::new(r))
        } else {
            let what: String = body.chars().take(12).collect();
            return Err(SecretsError::new(format!(
                    "{at}: unknown recipient format `{what}...`: expected an age1... key or an ssh-ed25519/ssh-rsa public key"
                ))
                .hint("one recipient a line; `# name` comments say whose key it is"));
        };
        entries.push(Entry {
            line: line_no,
            key,
            name: trailing.or(own_comment).or_else(|| heading.clone()),
            recipient,
        });
    }
    match (passphrase, entries.is_empty()) {
        (Some(_), true) => Ok(Recipients::Passphrase),
        (Some(line), false) => Err(SecretsError::new(format!(
            "{shown}:{line}: `passphrase` cannot be mixed with keys (age encrypts to a passphrase alone)"
        ))
        .hint("either keep only the `passphrase` line, or remove it and list keys")),
        (None, true) => Err(SecretsError::new(format!("{shown} lists no recipient"))
            .hint("add an age1... key (from `opsctl secrets keygen`) or an ssh-ed25519 public key, one a line")),
        (None, false) => Ok(Recipients::Keys(entries)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@rust";

    #[test]
    fn names_come_from_comments() {
        let id = age::x25519::Identity::generate();
        let pk = id.to_public().to_string();
        let text = format!("# Bob Smith\n{pk}\n\n{pk} # Carol\n{ED}\n");
        let Recipients::Keys(e) = parse(&text, "r").unwrap() else {
            panic!("keys")
        };
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].name.as_deref(), Some("Bob Smith"));
        assert_eq!(e[1].name.as_deref(), Some("Carol"));
        assert_eq!(e[2].name.as_deref(), Some("alice@rust"));
        assert_eq!(e[2].line, 5);
        assert!(e[2].key.starts_with("ssh-ed25519 AAAA"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("# x\nage1nope\n", "environments/s/recipients").unwrap_err();
        assert!(
            e.message.starts_with("environments/s/recipients:2: "),
            "{}",
            e.message
        );
        let e = parse("pgp-key ABCDEF\n", "r").unwrap_err();
        assert!(
            e.message.contains("r:1: unknown recipient format"),
            "{}",
            e.message
        );
        let e = parse("ssh-ed25519 AAAAbroken x\n", "r").unwrap_err();
        assert!(e.message.contains("malformed ssh-ed25519"), "{}", e.message);
        let e = parse("ssh-dss AAAAB3NzaC1kc3MAAACBAP x\n", "r").unwrap_err();
        assert!(e.message.contains("r:1:"), "{}", e.message);
        assert!(parse("# only\n", "r").is_err());
        assert!(matches!(
            parse("passphrase\n", "r").unwrap(),
            Recipients::Passphrase
        ));
        assert!(parse(&format!("passphrase\n{ED}\n"), "r").is_err());
    }
}
