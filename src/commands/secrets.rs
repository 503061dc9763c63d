//! `opsctl secrets ...`: an environment's age-encrypted secrets (see
//! `crate::secrets` and docs/secrets.md).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use serde_json::{Value as Json, json};
use zeroize::Zeroizing;

mod diff;

use crate::error::{Error, Exit, Result};
use crate::printer::{Printer, Style};
use crate::secrets::{self, IdentityOpts, Recipients, Store, edit, identity};

/// The environment whose secrets a `secrets` subcommand works on, and the
/// identity that decrypts them.
#[derive(Debug, Clone, Default)]
pub struct SecretsEnv {
    pub env: Option<String>,
    pub identity: Option<PathBuf>,
}

/// `opsctl secrets ...`.
#[derive(Debug, Clone)]
pub enum SecretsRequest {
    Edit(SecretsEnv),
    /// Every secret, or one value.
    View(SecretsEnv, Option<String>),
    /// One variable, its value read from stdin.
    Set(SecretsEnv, String),
    Rekey(SecretsEnv),
    Recipients(SecretsEnv),
    /// A new identity, written to `out` (`-`: printed).
    Keygen {
        out: Option<PathBuf>,
    },
    ImportVault(VaultImport),
    /// Variables added, removed or changed since a git revision (default HEAD).
    Diff {
        env: SecretsEnv,
        rev: Option<String>,
        values: bool,
    },
    /// git's external diff driver: PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE.
    GitDiff {
        env: SecretsEnv,
        args: Vec<PathBuf>,
        values: bool,
    },
}

/// `opsctl secrets import-vault FILE`.
#[derive(Debug, Clone)]
pub struct VaultImport {
    pub file: PathBuf,
    pub env: SecretsEnv,
    pub vault_password_file: Option<PathBuf>,
    /// Replace an existing secrets.age.
    pub force: bool,
}

pub async fn run(
    project: Option<PathBuf>,
    args: SecretsRequest,
    printer: &Printer,
) -> Result<Exit> {
    match args {
        SecretsRequest::Edit(a) => edit_cmd(project, &a, printer).await,
        SecretsRequest::View(a, key) => view(project, &a, key.as_deref(), printer),
        SecretsRequest::Set(a, key) => set(project, &a, &key, printer),
        SecretsRequest::Rekey(a) => rekey(project, &a, printer),
        SecretsRequest::Recipients(a) => recipients(project, &a, printer),
        SecretsRequest::Keygen { out } => keygen(out.as_deref(), printer),
        SecretsRequest::ImportVault(a) => import_vault(project, a, printer),
        SecretsRequest::Diff { env, rev, values } => {
            diff::diff(project, &env, rev.as_deref(), values, printer)
        }
        SecretsRequest::GitDiff { env, args, values } => {
            diff::git_diff(&args, &env, values, printer)
        }
    }
}

/// The store of `--env E` (the environment directory must exist; it needs no
/// inventory).
pub(super) fn store(
    project: Option<PathBuf>,
    a: &SecretsEnv,
) -> Result<(Store, String, IdentityOpts)> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
    let p = crate::project::Project::discover(project.as_deref(), &cwd)?;
    let Some(env) = a.env.clone() else {
        return Err(Error::new("which environment? give --env ENV")
            .hint("set OPSCTL_ENV to choose a default environment"));
    };
    let dir = p.environments_dir().join(&env);
    if env.is_empty() || env.contains('/') || !dir.is_dir() {
        // the project's own error: lists the environments, suggests the nearest
        p.environment(&env)?;
    }
    let store = Store::new(&dir, &format!("environments/{env}"));
    let opts = IdentityOpts {
        file: a.identity.clone(),
    };
    Ok((store, env, opts))
}

async fn edit_cmd(project: Option<PathBuf>, a: &SecretsEnv, printer: &Printer) -> Result<Exit> {
    let (store, env, opts) = store(project, a)?;
    match edit::edit(&store, &env, &opts, printer).await? {
        edit::Outcome::Saved { vars } => {
            let to = store.recipients()?.describe();
            printer.result(&format!(
                "{} {}: {vars} variable{}, encrypted to {to}",
                printer.paint("saved", Style::Changed),
                store.shown,
                if vars == 1 { "" } else { "s" }
            ));
            Ok(Exit::Success)
        }
        edit::Outcome::Unchanged => {
            printer.result(&format!("no change: {} left as it was", store.shown));
            Ok(Exit::Success)
        }
        edit::Outcome::Draft(path) => Err(Error::new(format!(
            "nothing saved to {}: the YAML is invalid; your edit is kept, encrypted, in {}",
            store.shown,
            crate::location::display_path(&path)
        ))
        .hint(format!("`opsctl secrets edit --env {env}` resumes from it"))),
        edit::Outcome::Interrupted => Err(Error::new(format!(
            "interrupted: nothing saved to {}; the decrypted copy was wiped",
            store.shown
        ))
        .exit(Exit::Interrupted)),
    }
}

fn view(
    project: Option<PathBuf>,
    a: &SecretsEnv,
    key: Option<&str>,
    printer: &Printer,
) -> Result<Exit> {
    let (store, env, opts) = store(project, a)?;
    if !store.exists() {
        return Err(no_file(&store, &env));
    }
    let plain = secrets::decrypt(&store, &opts)?;
    let vars = secrets::parse_plaintext(&store, &plain.bytes)?;
    // `reveal`: the one deliberate unredacted output (the owner asked for it).
    match key {
        Some(k) => {
            let Some((v, _)) = vars.get(k) else {
                let near = crate::names::near(k, vars.keys().map(String::as_str), 3);
                let mut e = Error::new(format!("{} has no variable '{k}'", store.shown));
                if !near.is_empty() {
                    e = e.hint(format!("did you mean {}?", near.join(", ")));
                }
                return Err(e.hint(format!("`opsctl secrets view --env {env}` shows them all")));
            };
            if printer.is_json() {
                printer.reveal(&json!({"env": env, "name": k, "value": v}).to_string());
            } else {
                match v {
                    Json::String(s) => printer.reveal(s),
                    other => printer.reveal(&other.to_string()),
                }
            }
        }
        None => {
            if printer.is_json() {
                let doc: serde_json::Map<String, Json> = vars
                    .iter()
                    .map(|(k, (v, _))| (k.clone(), v.clone()))
                    .collect();
                printer.reveal(&json!({"env": env, "vars": doc}).to_string());
            } else {
                let text = String::from_utf8_lossy(&plain.bytes);
                printer.reveal(text.trim_end_matches('\n'));
            }
        }
    }
    Ok(Exit::Success)
}

fn no_file(store: &Store, env: &str) -> Error {
    Error::new(format!("{} does not exist yet", store.shown)).hint(format!(
        "`opsctl secrets edit --env {env}` creates it (or `opsctl secrets set --env {env} NAME`)"
    ))
}

/// Replaces (or appends) the top-level entry `key` of a YAML mapping's text,
/// keeping every other line and comment.
fn set_entry(text: &str, key: &str, value_yaml: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let starts_entry = |l: &str| {
        l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    };
    let new_line = format!("{key}: {value_yaml}");
    if let Some(i) = lines.iter().position(|l| starts_entry(l)) {
        // the entry runs until the next line at column 1 (a key or a comment)
        let end = lines[i + 1..]
            .iter()
            .position(|l| l.starts_with(|c: char| !c.is_whitespace()))
            .map(|n| i + 1 + n)
            .unwrap_or(lines.len());
        let mut out: Vec<&str> = lines[..i].to_vec();
        out.push(&new_line);
        out.extend_from_slice(&lines[end..]);
        return out.join("\n") + "\n";
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&new_line);
    out.push('\n');
    out
}

fn set(project: Option<PathBuf>, a: &SecretsEnv, key: &str, printer: &Printer) -> Result<Exit> {
    let (store, env, opts) = store(project, a)?;
    if !crate::vars::is_identifier(key) {
        return Err(Error::new(format!("`{key}` is not a valid variable name"))
            .hint("names are letters, digits and _, not starting with a digit"));
    }
    let recipients = store.recipients()?;
    // The value: from stdin, never from the command line (argv is visible to
    // every user of the machine and kept in shell history).
    let value: Zeroizing<String> = if std::io::stdin().is_terminal() {
        let v = secrets::tty::read_secret(&format!("value of {key} (not shown): "))
            .map_err(|e| Error::new(format!("cannot read the value: {e}")))?
            .ok_or_else(|| Error::new("no terminal to read the value from; pipe it on stdin"))?;
        Zeroizing::new(v.expose_secret().to_string())
    } else {
        let mut s = Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Error::new(format!("cannot read the value from stdin: {e}")))?;
        let trimmed = s
            .strip_suffix("\r\n")
            .or_else(|| s.strip_suffix('\n'))
            .unwrap_or(&s);
        Zeroizing::new(trimmed.to_string())
    };
    if value.is_empty() {
        return Err(
            Error::new(format!("no value for {key}: stdin was empty")).hint(format!(
                "printf %s \"$VALUE\" | opsctl secrets set --env {env} {key}"
            )),
        );
    }
    let (text, passphrase) = if store.exists() {
        let p = secrets::decrypt(&store, &opts)?;
        let text = String::from_utf8(p.bytes.to_vec()).map_err(|_| {
            Error::new(format!(
                "{}: the decrypted content is not UTF-8 text",
                store.shown
            ))
        })?;
        // it must be valid before it is changed
        secrets::parse_plaintext(&store, text.as_bytes())?;
        (Zeroizing::new(text), p.passphrase)
    } else {
        let pass = match recipients {
            Recipients::Passphrase => Some(secrets::passphrase(&store, true)?),
            Recipients::Keys(_) => None,
        };
        (Zeroizing::new(edit::template(&env)), pass)
    };
    let quoted = Zeroizing::new(serde_json::to_string(value.as_str()).unwrap_or_default());
    let updated = Zeroizing::new(set_entry(&text, key, &quoted));
    let vars = secrets::parse_plaintext(&store, updated.as_bytes())?;
    if vars.get(key).map(|(v, _)| v.as_str()) != Some(Some(value.as_str())) {
        return Err(Error::new(format!(
            "cannot set {key}: its entry in {} is not a simple `{key}: value` line",
            store.shown
        ))
        .hint(format!("use `opsctl secrets edit --env {env}`")));
    }
    let ct = secrets::encrypt(&store, updated.as_bytes(), passphrase.as_ref())?;
    secrets::write_atomic(&store.file, &ct)?;
    printer.result(&format!(
        "{} {key} in {} ({} variable{})",
        printer.paint("set", Style::Changed),
        store.shown,
        vars.len(),
        if vars.len() == 1 { "" } else { "s" }
    ));
    Ok(Exit::Success)
}

fn rekey(project: Option<PathBuf>, a: &SecretsEnv, printer: &Printer) -> Result<Exit> {
    let (store, env, opts) = store(project, a)?;
    if !store.exists() {
        return Err(no_file(&store, &env));
    }
    let recipients = store.recipients()?;
    let plain = secrets::decrypt(&store, &opts)?;
    let pass = match recipients {
        // a rekey in passphrase mode sets a new passphrase
        Recipients::Passphrase => Some(secrets::passphrase(&store, true)?),
        Recipients::Keys(_) => None,
    };
    let ct = secrets::encrypt(&store, &plain.bytes, pass.as_ref())?;
    secrets::write_atomic(&store.file, &ct)?;
    printer.result(&format!(
        "{} {} to {}",
        printer.paint("re-encrypted", Style::Changed),
        store.shown,
        store.recipients()?.describe()
    ));
    printer.line(
        "  note: anyone removed can still decrypt older copies (git history): rotate the secrets they knew",
    );
    Ok(Exit::Success)
}

fn recipients(project: Option<PathBuf>, a: &SecretsEnv, printer: &Printer) -> Result<Exit> {
    let (store, _env, opts) = store(project, a)?;
    let r = store.recipients()?;
    let mine = identity::discover(&opts)
        .map(|d| d.found)
        .unwrap_or_default();
    let Recipients::Keys(entries) = r else {
        if printer.is_json() {
            printer.json(&json!({"file": store.shown_recipients, "mode": "passphrase"}));
        } else {
            printer.result(&format!(
                "{}: passphrase mode (one shared passphrase, from a prompt or {})",
                store.shown_recipients,
                secrets::PASSPHRASE_FILE_ENV
            ));
        }
        return Ok(Exit::Success);
    };
    let mut any_mine = false;
    let mut rows = Vec::new();
    for e in &entries {
        let you = mine
            .iter()
            .find(|f| f.publics.iter().any(|p| p == &e.key))
            .map(|f| f.label.clone());
        any_mine |= you.is_some();
        if printer.is_json() {
            rows.push(json!({"line": e.line, "name": e.name, "key": e.key, "yours": you}));
        } else {
            let mut line = format!("{}:{}  {}", store.shown_recipients, e.line, e.describe());
            if let Some(l) = you {
                line.push_str(&format!(
                    "  {}",
                    printer.paint(&format!("<- you ({l})"), Style::Ok)
                ));
            }
            printer.result(&line);
        }
    }
    if printer.is_json() {
        printer.json(&json!({"file": store.shown_recipients, "recipients": rows}));
    } else if !any_mine {
        printer.line(&format!(
            "  none of these is yours (identities looked at: {})",
            if mine.is_empty() {
                "none found".to_string()
            } else {
                mine.iter()
                    .map(|f| f.label.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    Ok(Exit::Success)
}

fn keygen(out: Option<&Path>, printer: &Printer) -> Result<Exit> {
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let text = Zeroizing::new(format!(
        "# opsctl secrets keygen\n# public key: {public}\n{}\n",
        id.to_string().expose_secret()
    ));
    if out == Some(Path::new("-")) {
        // for a CI secret (OPSCTL_AGE_KEY): the identity itself, on stdout
        printer.reveal(text.trim_end());
        return Ok(Exit::Success);
    }
    let path = match out {
        Some(p) => p.to_path_buf(),
        None => identity::default_identity_file().ok_or_else(|| {
            Error::new("cannot tell where your home directory is ($HOME is not set)")
                .hint("pass --out FILE")
        })?,
    };
    let shown = identity::tilde(&path);
    if path.exists() {
        return Err(Error::new(format!(
            "{shown} exists already: not overwriting an identity"
        ))
        .hint("its public key: `grep 'public key' FILE`; to make another one, pass --out FILE"));
    }
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    }
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()).map(|_| f))
            .map_err(|e| Error::new(format!("cannot write {shown}: {e}")))?;
        f.flush().ok();
    }
    if printer.is_json() {
        printer.json(&json!({"public_key": public, "identity_file": path.display().to_string()}));
    } else {
        printer.result(&public);
        printer.note(&format!(
            "  wrote your identity to {shown} (mode 0600: keep it private, back it up)"
        ));
        printer.note("  add the public key above to environments/<env>/recipients with a `# your name` line, then someone who can decrypt runs `opsctl secrets rekey --env <env>`");
    }
    Ok(Exit::Success)
}

fn import_vault(project: Option<PathBuf>, a: VaultImport, printer: &Printer) -> Result<Exit> {
    let (store, env, _opts) = store(project, &a.env)?;
    if store.exists() && !a.force {
        return Err(Error::new(format!("{} exists already", store.shown))
            .hint("pass --force to replace it with the vault's content"));
    }
    let recipients = store.recipients()?;
    let shown = crate::location::display_path(&a.file);
    let text = std::fs::read_to_string(&a.file)
        .map_err(|e| Error::new(format!("cannot read {shown}: {e}")))?;
    let vault = secrets::vault::parse(&text, &shown)?;
    let password: Zeroizing<Vec<u8>> = match &a.vault_password_file {
        Some(f) => secrets::vault::password_from_file(f, "--vault-password-file", None)?,
        None => {
            let p = secrets::tty::read_secret("Vault password: ")
                .map_err(|e| Error::new(format!("cannot read the password: {e}")))?
                .ok_or_else(|| {
                    Error::new("no terminal to ask the vault password on")
                        .hint("pass --vault-password-file FILE")
                })?;
            Zeroizing::new(p.expose_secret().as_bytes().to_vec())
        }
    };
    let plain = secrets::vault::decrypt(&vault, &password, &shown)?;
    let source = Store {
        shown: shown.clone(),
        ..store.clone()
    };
    let vars = secrets::parse_plaintext(&source, &plain)?;
    let pass = match recipients {
        Recipients::Passphrase => Some(secrets::passphrase(&store, true)?),
        Recipients::Keys(_) => None,
    };
    let ct = secrets::encrypt(&store, &plain, pass.as_ref())?;
    secrets::write_atomic(&store.file, &ct)?;
    printer.result(&format!(
        "{} {} variable{} from {shown} (Ansible Vault {}) into {}, encrypted to {}",
        printer.paint("imported", Style::Changed),
        vars.len(),
        if vars.len() == 1 { "" } else { "s" },
        vault.version,
        store.shown,
        store.recipients()?.describe()
    ));
    printer.line(&format!(
        "  check with `opsctl secrets view --env {env}`, then delete {shown} and its vault password"
    ));
    Ok(Exit::Success)
}
