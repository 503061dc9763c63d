//! Per-environment secrets: `environments/<env>/secrets.age`, an age-encrypted
//! (ASCII-armored) YAML mapping of variables, decrypted only in memory, for the
//! people (or CI keys) listed in `environments/<env>/recipients`.
//!
//! * [`recipients`] parses the recipients file, [`identity`] finds your keys,
//!   [`tty`] prompts on the terminal, [`edit`] runs an `$EDITOR` session,
//!   [`vault`] reads Ansible Vault files for `opsctl secrets import-vault`.
//! * [`load_for_vars`] is what every command uses: it decrypts the target
//!   environment's file (if there is one), registers every value with
//!   [`crate::redact`] and hands the variables to [`crate::vars`] (layer
//!   `Secrets`, just above host_vars, below play vars and `-e`).

pub mod edit;
pub mod identity;
pub mod recipients;
pub mod tty;
pub mod vault;
pub mod vault_keys;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use age::secrecy::{ExposeSecret, SecretString};
use indexmap::IndexMap;
use serde_json::Value as Json;
use zeroize::Zeroizing;

pub use identity::IdentityOpts;
pub use recipients::Recipients;

use crate::location::Location;

/// The file name of an environment's secrets.
pub const FILE: &str = "secrets.age";
/// The file name of an environment's recipients list.
pub const RECIPIENTS: &str = "recipients";
/// Environment variable: a file holding the passphrase (passphrase mode).
pub const PASSPHRASE_FILE_ENV: &str = "OPSCTL_SECRETS_PASSPHRASE_FILE";

/// A secrets error: what went wrong (naming the file and line) and what to do.
/// Never contains a secret.
#[derive(Debug, Clone)]
pub struct SecretsError {
    pub message: String,
    pub hints: Vec<String>,
}

impl SecretsError {
    pub fn new(message: impl Into<String>) -> Self {
        SecretsError {
            message: message.into(),
            hints: Vec::new(),
        }
    }

    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hints.push(h.into());
        self
    }
}

impl std::fmt::Display for SecretsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SecretsError {}

impl From<SecretsError> for crate::error::Error {
    fn from(e: SecretsError) -> Self {
        let mut err = crate::error::Error::new(e.message);
        for h in e.hints {
            err = err.hint(h);
        }
        err
    }
}

/// Where an environment's secrets live.
#[derive(Debug, Clone)]
pub struct Store {
    /// `environments/<env>/` (or an inventory directory given with `-i`).
    pub dir: PathBuf,
    pub file: PathBuf,
    pub recipients: PathBuf,
    /// How messages name the file: `environments/staging/secrets.age`.
    pub shown: String,
    pub shown_recipients: String,
}

impl Store {
    /// The store of a directory; `shown_dir` is how messages name it.
    pub fn new(dir: &Path, shown_dir: &str) -> Store {
        Store {
            dir: dir.to_path_buf(),
            file: dir.join(FILE),
            recipients: dir.join(RECIPIENTS),
            shown: format!("{shown_dir}/{FILE}"),
            shown_recipients: format!("{shown_dir}/{RECIPIENTS}"),
        }
    }

    /// The store of a command's target: the environment directory (the last of
    /// the vars directories), named `environments/<env>` when it is one.
    pub fn for_target(target: &crate::project::Target) -> Option<Store> {
        let dir = target.vars_dirs.last()?;
        let shown = match &target.env {
            Some(e) => format!("environments/{e}"),
            None => crate::location::display_path(dir),
        };
        Some(Store::new(dir, &shown))
    }

    pub fn exists(&self) -> bool {
        self.file.is_file()
    }

    /// The recipients file, parsed.
    pub fn recipients(&self) -> Result<Recipients, SecretsError> {
        recipients::load(&self.recipients, &self.shown_recipients)
    }
}

/// Decrypted bytes (zeroed when dropped) and how they were decrypted.
pub struct Plaintext {
    pub bytes: Zeroizing<Vec<u8>>,
    /// The passphrase, when the file is passphrase-encrypted (to re-encrypt).
    pub passphrase: Option<SecretString>,
}

/// Reads the ciphertext and checks it looks like an age file.
fn read_ciphertext(store: &Store) -> Result<Vec<u8>, SecretsError> {
    let bytes = std::fs::read(&store.file)
        .map_err(|e| SecretsError::new(format!("cannot read {}: {e}", store.shown)))?;
    check_ciphertext(store, bytes)
}

/// `bytes` if they are an age file, else an error saying what they are.
fn check_ciphertext(store: &Store, bytes: Vec<u8>) -> Result<Vec<u8>, SecretsError> {
    let text = String::from_utf8_lossy(&bytes);
    if text.lines().any(|l| {
        l.starts_with("<<<<<<< ") || l.starts_with(">>>>>>> ") || l == "=======" || l == "|||||||"
    }) {
        return Err(SecretsError::new(format!(
            "{} has merge conflict markers: an encrypted file cannot be merged line by line",
            store.shown
        ))
        .hint("take one side (`git checkout --ours` or `--theirs` on the file), then re-apply the other side's change with `opsctl secrets edit`"));
    }
    let trimmed = text.trim_start();
    if !trimmed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
        && !bytes.starts_with(b"age-encryption.org/v1")
    {
        let hint = if trimmed.starts_with("$ANSIBLE_VAULT") {
            format!(
                "it is an Ansible Vault file: `opsctl secrets import-vault FILE --env ENV` converts one (move it out of {} first)",
                store.shown
            )
        } else {
            "it must be written by `opsctl secrets edit` or `opsctl secrets set`".into()
        };
        return Err(
            SecretsError::new(format!("{} is not an age-encrypted file", store.shown)).hint(hint),
        );
    }
    Ok(bytes)
}

fn damaged(store: &Store, why: &str) -> SecretsError {
    SecretsError::new(format!("cannot decrypt {}: the file is {why}", store.shown)).hint(
        "restore it from version control (`git log -p` on the file); it was never partially written by opsctl",
    )
}

/// Decrypts an environment's secrets file with the user's identities (or the
/// passphrase, in passphrase mode).
pub fn decrypt(store: &Store, opts: &IdentityOpts) -> Result<Plaintext, SecretsError> {
    decrypt_bytes(store, read_ciphertext(store)?, opts)
}

/// Decrypts `bytes` read elsewhere than `store.file` (an earlier revision from
/// git), named in messages as `store.shown`.
pub fn decrypt_bytes(
    store: &Store,
    bytes: Vec<u8>,
    opts: &IdentityOpts,
) -> Result<Plaintext, SecretsError> {
    let bytes = check_ciphertext(store, bytes)?;
    let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(&bytes[..]))
        .map_err(|e| decrypt_error(store, e))?;
    if decryptor.is_scrypt() {
        let pass = passphrase(store, false)?;
        let id = age::scrypt::Identity::new(pass.clone());
        let reader = match decryptor.decrypt(std::iter::once(&id as &dyn age::Identity)) {
            // a wrong passphrase fails to unwrap the file key (the header's MAC
            // cannot be checked without it)
            Err(age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys) => {
                return Err(SecretsError::new(format!(
                    "cannot decrypt {}: wrong passphrase",
                    store.shown
                ))
                .hint(format!(
                    "check the passphrase (from the prompt or {PASSPHRASE_FILE_ENV})"
                )));
            }
            other => other,
        };
        let plain = read_all(store, reader)?;
        return Ok(Plaintext {
            bytes: plain,
            passphrase: Some(pass),
        });
    }
    let found = identity::discover(opts)?;
    let ids: Vec<&dyn age::Identity> = found
        .found
        .iter()
        .flat_map(|f| {
            f.identities
                .iter()
                .map(|i| i.as_ref() as &dyn age::Identity)
        })
        .collect();
    let plain = read_all(store, decryptor.decrypt(ids.into_iter())).map_err(|e| {
        if e.message.contains("none of your identities") {
            no_identity(store, &found)
        } else {
            e
        }
    })?;
    Ok(Plaintext {
        bytes: plain,
        passphrase: None,
    })
}

/// Decrypts any age file (binary or armored) with the user's identities, e.g.
/// an environment's encrypted initdata; errors name `path` and the recipients
/// of `env_dir`. The plaintext is zeroed when dropped.
pub fn decrypt_file(
    path: &Path,
    env_dir: &Path,
    opts: &IdentityOpts,
) -> Result<Plaintext, SecretsError> {
    let store = Store {
        file: path.to_path_buf(),
        shown: crate::location::display_path(path),
        ..Store::new(env_dir, &crate::location::display_path(env_dir))
    };
    decrypt(&store, opts)
}

fn no_identity(store: &Store, found: &identity::Discovered) -> SecretsError {
    let recipients = match store.recipients() {
        Ok(r) => r.describe(),
        Err(_) => format!("unknown ({} is missing or invalid)", store.shown_recipients),
    };
    let tried = if found.tried.is_empty() {
        "none found".to_string()
    } else {
        found.tried.join(", ")
    };
    SecretsError::new(format!(
        "cannot decrypt {}: none of your identities ({tried}) is a recipient; recipients are: {recipients}",
        store.shown
    ))
    .hint("pass --identity FILE, or set OPSCTL_AGE_KEY (the key itself, in CI) or OPSCTL_AGE_KEY_FILE")
    .hint(format!(
        "to be added: send your public key (`opsctl secrets keygen` prints one) to someone who can decrypt; they add it to {} and run `opsctl secrets rekey`",
        store.shown_recipients
    ))
}

fn read_all<R: Read>(
    store: &Store,
    reader: Result<R, age::DecryptError>,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let mut reader = reader.map_err(|e| decrypt_error(store, e))?;
    let mut out = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut out).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => damaged(store, "truncated"),
        _ => damaged(
            store,
            "damaged or was tampered with (authentication failed)",
        ),
    })?;
    Ok(out)
}

fn decrypt_error(store: &Store, e: age::DecryptError) -> SecretsError {
    match e {
        age::DecryptError::NoMatchingKeys => SecretsError::new(format!(
            "none of your identities can decrypt {}",
            store.shown
        )),
        age::DecryptError::InvalidHeader | age::DecryptError::UnknownFormat => {
            damaged(store, "not a valid age file (its header is damaged)")
        }
        age::DecryptError::InvalidMac => {
            damaged(store, "damaged or was tampered with (header MAC mismatch)")
        }
        age::DecryptError::DecryptionFailed => damaged(
            store,
            "damaged or was tampered with (authentication failed)",
        ),
        age::DecryptError::ExcessiveWork { .. } => SecretsError::new(format!(
            "cannot decrypt {}: its passphrase work factor is too high for this machine",
            store.shown
        )),
        age::DecryptError::KeyDecryptionFailed => SecretsError::new(format!(
            "cannot decrypt {}: your SSH key's passphrase was wrong or not given",
            store.shown
        )),
        age::DecryptError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            damaged(store, "truncated")
        }
        age::DecryptError::Io(_) => {
            damaged(store, "damaged (its ASCII armor or header cannot be read)")
        }
        other => SecretsError::new(format!("cannot decrypt {}: {other}", store.shown)),
    }
}

/// The passphrase of a passphrase-mode environment: from
/// `OPSCTL_SECRETS_PASSPHRASE_FILE`, else a prompt (twice when `new`).
pub fn passphrase(store: &Store, new: bool) -> Result<SecretString, SecretsError> {
    if let Some(f) = std::env::var_os(PASSPHRASE_FILE_ENV).filter(|f| !f.is_empty()) {
        let text = Zeroizing::new(std::fs::read_to_string(&f).map_err(|e| {
            SecretsError::new(format!(
                "{PASSPHRASE_FILE_ENV}={}: cannot read: {e}",
                Path::new(&f).display()
            ))
        })?);
        let first = text.lines().next().unwrap_or_default();
        if first.is_empty() {
            return Err(SecretsError::new(format!(
                "{PASSPHRASE_FILE_ENV}={}: the file is empty",
                Path::new(&f).display()
            )));
        }
        return Ok(SecretString::from(first.to_string()));
    }
    let prompt = format!("passphrase for {}: ", store.shown);
    let no_tty = || {
        SecretsError::new(format!(
            "{} is passphrase-encrypted and there is no terminal to ask on",
            store.shown
        ))
        .hint(format!(
            "set {PASSPHRASE_FILE_ENV} to a file holding the passphrase"
        ))
    };
    let p = tty::read_secret(&prompt)
        .map_err(|e| SecretsError::new(format!("cannot read the passphrase: {e}")))?
        .ok_or_else(no_tty)?;
    if p.expose_secret().is_empty() {
        return Err(SecretsError::new("empty passphrase"));
    }
    if new {
        let again = tty::read_secret("again: ")
            .map_err(|e| SecretsError::new(format!("cannot read the passphrase: {e}")))?
            .ok_or_else(no_tty)?;
        if again.expose_secret() != p.expose_secret() {
            return Err(SecretsError::new("the two passphrases differ"));
        }
    }
    Ok(p)
}

/// Encrypts to the recipients file (or to `passphrase` in passphrase mode),
/// ASCII-armored.
pub fn encrypt(
    store: &Store,
    plaintext: &[u8],
    passphrase: Option<&SecretString>,
) -> Result<Vec<u8>, SecretsError> {
    let encryptor = match store.recipients()? {
        Recipients::Keys(entries) => age::Encryptor::with_recipients(
            entries
                .iter()
                .map(|e| e.recipient.as_ref() as &dyn age::Recipient),
        )
        .map_err(|e| {
            SecretsError::new(format!(
                "cannot encrypt to the recipients of {}: {e}",
                store.shown_recipients
            ))
        })?,
        Recipients::Passphrase => {
            let p = match passphrase {
                Some(p) => p.clone(),
                None => self::passphrase(store, true)?,
            };
            age::Encryptor::with_user_passphrase(p)
        }
    };
    let mut out = Vec::new();
    let io = |e: std::io::Error| SecretsError::new(format!("cannot encrypt: {e}"));
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(io)?;
    let mut w = encryptor.wrap_output(armor).map_err(io)?;
    w.write_all(plaintext).map_err(io)?;
    w.finish().and_then(|a| a.finish()).map_err(io)?;
    Ok(out)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory,
/// flushed, then renamed over. A failure leaves the old file as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SecretsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let shown = crate::location::display_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(SecretsError::new(format!("cannot write {shown}: {e}")));
    }
    Ok(())
}

/// The variables of a decrypted secrets file: name -> (value, line in the
/// decrypted YAML).
pub type SecretVars = IndexMap<String, (Json, Location)>;

/// Parses decrypted YAML: a mapping of variable names. Errors name the line and
/// column but never quote the text.
pub fn parse_plaintext(store: &Store, bytes: &[u8]) -> Result<SecretVars, SecretsError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        SecretsError::new(format!(
            "{}: the decrypted content is not UTF-8 text (byte {})",
            store.shown,
            e.valid_up_to()
        ))
    })?;
    let shown = PathBuf::from(&store.shown);
    let node = crate::yaml::parse(text, &shown).map_err(|e| yaml_error(store, e, text))?;
    let vars = node
        .to_var_map(&shown)
        .map_err(|e| yaml_error(store, e, text))?;
    for (k, (_, loc)) in &vars {
        if !crate::vars::is_identifier(k) {
            return Err(SecretsError::new(format!(
                "{}:{}: (decrypted) `{k}` is not a valid variable name",
                store.shown, loc.line
            ))
            .hint("names are letters, digits and _, not starting with a digit"));
        }
    }
    Ok(vars)
}

/// A YAML parser's message about decrypted `text`: the parser may quote a
/// piece of the text, so its words are kept only when none of them is a word
/// of the plaintext (a secret could be one); else just "invalid YAML".
pub fn scrub_yaml_message(message: &str, text: &str) -> String {
    let leaks = message
        .split(|c: char| c.is_whitespace() || "'\"`".contains(c))
        .filter(|w| w.len() >= 3)
        .any(|w| text.contains(w) && !COMMON.contains(&w.to_ascii_lowercase().as_str()));
    if leaks {
        "invalid YAML".to_string()
    } else {
        message.to_string()
    }
}

fn yaml_error(store: &Store, e: crate::yaml::YamlError, text: &str) -> SecretsError {
    let message = scrub_yaml_message(&e.message, text);
    let at = match (e.location.line, e.location.column) {
        (0, _) => String::new(),
        (l, None) => format!(":{l}"),
        (l, Some(c)) => format!(":{l}:{c}"),
    };
    SecretsError::new(format!("{}{at}: (decrypted) {message}", store.shown))
        .hint("fix it with `opsctl secrets edit` (the editor reopens on the error)")
}

/// Parser words that may also appear in a plaintext without being a secret.
const COMMON: &[&str] = &[
    "invalid",
    "yaml",
    "expected",
    "found",
    "mapping",
    "sequence",
    "scalar",
    "while",
    "parsing",
    "block",
    "the",
    "and",
    "for",
    "key",
    "value",
    "values",
    "not",
    "allowed",
    "this",
    "context",
    "did",
    "find",
    "end",
    "line",
    "column",
    "duplicate",
    "could",
];

/// What [`load_for_vars`] returns: the variables, and the names of values too
/// short to be redacted (the caller warns).
pub struct Loaded {
    pub store: Store,
    pub vars: SecretVars,
    pub short: Vec<String>,
}

/// Decrypts the target's `secrets.age` if there is one, registers every value
/// for redaction and returns the variables. `Ok(None)` when the environment
/// has no secrets file.
pub fn load_for_vars(
    target: &crate::project::Target,
    opts: &IdentityOpts,
) -> Result<Option<Loaded>, SecretsError> {
    let Some(store) = Store::for_target(target) else {
        return Ok(None);
    };
    if !store.exists() {
        return Ok(None);
    }
    let plain = decrypt(&store, opts)?;
    let vars = parse_plaintext(&store, &plain.bytes)?;
    let mut short = Vec::new();
    for (k, (v, _)) in &vars {
        if !crate::redact::register_json(v).is_empty() {
            short.push(k.clone());
        }
    }
    if !short.is_empty() {
        crate::printer::defer_warning(format!(
            "{}: {} shorter than {} characters or one of opsctl's own words (true, failed...): such values are not redacted from output (it would garble every matching text); make {} longer, or move {} to group_vars/ if not secret",
            store.shown,
            short.join(", "),
            crate::redact::MIN_LEN,
            if short.len() == 1 { "it" } else { "them" },
            if short.len() == 1 { "it" } else { "them" },
        ));
    }
    Ok(Some(Loaded { store, vars, short }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_key() -> (tempfile::TempDir, Store, age::x25519::Identity) {
        let d = tempfile::tempdir().unwrap();
        let id = age::x25519::Identity::generate();
        std::fs::write(
            d.path().join(RECIPIENTS),
            format!("# Test Person\n{}\n", id.to_public()),
        )
        .unwrap();
        let store = Store::new(d.path(), "environments/t");
        (d, store, id)
    }

    fn opts_for(d: &Path, id: &age::x25519::Identity) -> IdentityOpts {
        let f = d.join("id.txt");
        std::fs::write(&f, format!("{}\n", id.to_string().expose_secret())).unwrap();
        IdentityOpts { file: Some(f) }
    }

    #[test]
    fn round_trip_armored() {
        let (d, store, id) = store_with_key();
        let ct = encrypt(&store, b"db_password: s3cret-round-trip\n", None).unwrap();
        assert!(String::from_utf8_lossy(&ct).starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        write_atomic(&store.file, &ct).unwrap();
        let p = decrypt(&store, &opts_for(d.path(), &id)).unwrap();
        let vars = parse_plaintext(&store, &p.bytes).unwrap();
        assert_eq!(vars["db_password"].0, Json::from("s3cret-round-trip"));
        assert_eq!(vars["db_password"].1.line, 1);
    }

    #[test]
    fn any_age_file_binary_or_armored() {
        let (d, _store, id) = store_with_key();
        let f = d.path().join("initdata.sql.age");
        std::fs::write(&f, age::encrypt(&id.to_public(), b"insert 1;").unwrap()).unwrap();
        let p = decrypt_file(&f, d.path(), &opts_for(d.path(), &id)).unwrap();
        assert_eq!(p.bytes.as_slice(), b"insert 1;");
    }

    #[test]
    fn wrong_identity_lists_tried_and_recipients() {
        let (d, store, _) = store_with_key();
        write_atomic(&store.file, &encrypt(&store, b"a: bbbb\n", None).unwrap()).unwrap();
        let other = age::x25519::Identity::generate();
        let e = decrypt(&store, &opts_for(d.path(), &other)).err().unwrap();
        assert!(
            e.message.starts_with(
                "cannot decrypt environments/t/secrets.age: none of your identities (--identity "
            ),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("recipients are: Test Person (age1"),
            "{}",
            e.message
        );
    }

    #[test]
    fn tampered_truncated_and_foreign_files() {
        let (d, store, id) = store_with_key();
        let opts = opts_for(d.path(), &id);
        let ct = encrypt(&store, "k: vvvvvvvv\n".repeat(200).as_bytes(), None).unwrap();
        let text = String::from_utf8(ct).unwrap();
        // flip a character in the middle of the armored payload
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mid = lines.len() / 2;
        let c = if lines[mid].starts_with('A') {
            "B"
        } else {
            "A"
        };
        lines[mid].replace_range(0..1, c);
        std::fs::write(&store.file, lines.join("\n") + "\n").unwrap();
        let e = decrypt(&store, &opts).err().unwrap();
        assert!(
            e.message.contains("damaged") || e.message.contains("tampered"),
            "{}",
            e.message
        );
        // truncated
        let keep: Vec<&str> = text.lines().take(text.lines().count() / 2).collect();
        std::fs::write(&store.file, keep.join("\n")).unwrap();
        let e = decrypt(&store, &opts).err().unwrap();
        assert!(
            e.message
                .contains("cannot decrypt environments/t/secrets.age: the file is"),
            "{}",
            e.message
        );
        // not age
        std::fs::write(&store.file, "db: plain\n").unwrap();
        let e = decrypt(&store, &opts).err().unwrap();
        assert!(
            e.message.contains("is not an age-encrypted file"),
            "{}",
            e.message
        );
        std::fs::write(&store.file, "<<<<<<< HEAD\nx\n=======\ny\n>>>>>>> b\n").unwrap();
        let e = decrypt(&store, &opts).err().unwrap();
        assert!(e.message.contains("merge conflict"), "{}", e.message);
    }

    #[test]
    fn invalid_yaml_inside_names_the_line_without_quoting() {
        let (_d, store, _) = store_with_key();
        let e = parse_plaintext(&store, b"a: 1\nb: [unclosed-secret-value\n")
            .err()
            .unwrap();
        assert!(
            e.message.starts_with("environments/t/secrets.age:"),
            "{}",
            e.message
        );
        assert!(
            !e.message.contains("unclosed-secret-value"),
            "{}",
            e.message
        );
        let e = parse_plaintext(&store, b"- a\n- b\n").err().unwrap();
        assert!(e.message.contains("expected a mapping"), "{}", e.message);
        let e = parse_plaintext(&store, b"bad-name: 1\n").err().unwrap();
        assert!(
            e.message.contains("not a valid variable name"),
            "{}",
            e.message
        );
    }

    #[test]
    fn passphrase_mode_with_a_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(RECIPIENTS),
            "# shared, like Vault\npassphrase\n",
        )
        .unwrap();
        let store = Store::new(d.path(), "environments/p");
        let pass = SecretString::from("correct horse".to_string());
        let ct = encrypt(&store, b"x: yyyyyy\n", Some(&pass)).unwrap();
        write_atomic(&store.file, &ct).unwrap();
        // decrypt through the passphrase file: tested in the integration tests
        // (the variable is process-wide); here the scrypt identity directly.
        let id = age::scrypt::Identity::new(pass);
        let dec = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(&ct[..])).unwrap();
        assert!(dec.is_scrypt());
        let mut out = Vec::new();
        dec.decrypt(std::iter::once(&id as &dyn age::Identity))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"x: yyyyyy\n");
    }
}
