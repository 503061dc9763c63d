//! Ansible Vault content read in place: the vault passwords of a command,
//! and decrypting with them.
//!
//! The passwords come from `--vault-id [label@]source` (a file, an executable
//! script whose output is the password, or `prompt`), `--vault-password-file`,
//! `--ask-vault-pass`, and (when none of those is given) ansible.cfg's
//! `vault_identity_list` / `vault_password_file` or `ANSIBLE_VAULT_PASSWORD_FILE`.
//! [`read`] reads them once per command; [`install`] keeps them for the process
//! (like the redaction registry), so every YAML file read afterwards — vars
//! files, `-e @file`, `vars_files`, `include_vars`, role vars and defaults,
//! inline `!vault` values — is decrypted by [`decrypt_text`] (see
//! [`crate::yaml`]). Passwords are zeroed when dropped and registered for
//! redaction; a password never appears in a message.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::SecretsError;

/// Where one vault password comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A file holding it, or an executable script printing it.
    File(PathBuf),
    /// Asked on the terminal.
    Prompt,
}

/// One vault id to read: its label, where its password comes from, and how
/// messages name where it was given (`--vault-id dev@pw.txt`, `ansible.cfg:4`...).
#[derive(Debug, Clone, PartialEq)]
pub struct VaultId {
    pub label: String,
    pub source: Source,
    /// The flag or setting that gave it (`--vault-id`, `ansible.cfg:4: vault_password_file`).
    pub flag: String,
    pub given_as: String,
}

impl VaultId {
    /// `[label@]source` as `--vault-id` takes it; a relative file is relative
    /// to `cwd`. `given_as` names the flag or setting in messages.
    pub fn parse(arg: &str, cwd: &Path, given_as: &str) -> VaultId {
        let (label, source) = match arg.split_once('@') {
            Some((l, s)) if !l.is_empty() => (l.to_string(), s),
            Some((_, s)) => ("default".to_string(), s),
            None => ("default".to_string(), arg),
        };
        let source = match source {
            "prompt" | "prompt_ask_vault_pass" => Source::Prompt,
            f => Source::File(if Path::new(f).is_absolute() {
                PathBuf::from(f)
            } else {
                cwd.join(f)
            }),
        };
        VaultId {
            label,
            source,
            flag: given_as.to_string(),
            given_as: format!("{given_as} {arg}"),
        }
    }

    /// `--vault-password-file FILE` (or the setting naming one).
    pub fn file(path: PathBuf, given_as: &str) -> VaultId {
        VaultId {
            label: "default".into(),
            flag: given_as.to_string(),
            given_as: format!("{given_as} {}", crate::location::display_path(&path)),
            source: Source::File(path),
        }
    }
}

/// A vault password, read.
pub struct VaultSecret {
    pub label: String,
    /// How messages name where it came from (never the password).
    pub given_as: String,
    password: Zeroizing<Vec<u8>>,
}

/// Reads every password (prompting on the terminal for `prompt` sources).
pub fn read(ids: &[VaultId]) -> Result<Vec<VaultSecret>, SecretsError> {
    let mut out = Vec::new();
    for id in ids {
        let password = match &id.source {
            Source::File(path) => {
                super::vault::password_from_file(path, &id.flag, Some(&id.label))?
            }
            Source::Prompt => prompt(id)?,
        };
        if let Ok(text) = std::str::from_utf8(&password) {
            crate::redact::register(text);
        }
        out.push(VaultSecret {
            label: id.label.clone(),
            given_as: id.given_as.clone(),
            password,
        });
    }
    Ok(out)
}

fn prompt(id: &VaultId) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let label = if id.label == "default" {
        String::new()
    } else {
        format!(" ({})", id.label)
    };
    let answer = super::tty::read_secret(&format!("Vault password{label}: "))
        .map_err(|e| SecretsError::new(format!("cannot read the vault password: {e}")))?;
    let Some(p) = answer else {
        return Err(SecretsError::new(format!(
            "{}: cannot ask for the vault password: {}",
            id.given_as,
            super::tty::no_prompt_reason()
        ))
        .hint("give the password in a file instead: --vault-password-file FILE or --vault-id LABEL@FILE (a script printing it works too)"));
    };
    if p.expose_secret().is_empty() {
        return Err(SecretsError::new(format!(
            "{}: the vault password is empty",
            id.given_as
        )));
    }
    Ok(Zeroizing::new(p.expose_secret().as_bytes().to_vec()))
}

static KEYRING: RwLock<Option<Arc<Vec<VaultSecret>>>> = RwLock::new(None);

/// Keeps the command's vault passwords for every file read from now on.
pub fn install(secrets: Vec<VaultSecret>) {
    *KEYRING.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(secrets));
}

fn keyring() -> Arc<Vec<VaultSecret>> {
    KEYRING
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Is `text` an Ansible Vault envelope?
pub fn is_vault(text: &str) -> bool {
    text.trim_start().starts_with("$ANSIBLE_VAULT;")
}

/// Decrypts vault-encrypted `text` (a whole file, or an inline `!vault`
/// value) with the installed passwords: those whose label is the file's vault
/// id first, then the others, as Ansible tries them. `shown` names the file
/// (and line) in errors.
pub fn decrypt_text(text: &str, shown: &str) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let v = super::vault::parse(text.trim_start(), shown)?;
    decrypt_with(&v, &keyring(), shown)
}

fn decrypt_with(
    v: &super::vault::VaultFile,
    keys: &[VaultSecret],
    shown: &str,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    if keys.is_empty() {
        return Err(SecretsError::new(format!(
            "{shown} is encrypted with Ansible Vault and no vault password was given"
        ))
        .hint("pass --vault-password-file FILE or --vault-id [LABEL@]FILE (--ask-vault-pass on a terminal), or set vault_password_file in ansible.cfg or ANSIBLE_VAULT_PASSWORD_FILE"));
    }
    let label = v.vault_id.as_deref();
    let mut order: Vec<&VaultSecret> = keys.iter().filter(|k| Some(&*k.label) == label).collect();
    order.extend(keys.iter().filter(|k| Some(&*k.label) != label));
    for k in &order {
        if let Ok(plain) = super::vault::decrypt(v, &k.password, shown) {
            return Ok(plain);
        }
    }
    let tried: Vec<&str> = order.iter().map(|k| k.given_as.as_str()).collect();
    let id = label
        .map(|l| format!(" (vault id '{l}')"))
        .unwrap_or_default();
    Err(SecretsError::new(format!(
        "cannot decrypt {shown}{id}: the vault password does not match (HMAC mismatch); tried {}",
        tried.join(", ")
    ))
    .hint("give the password this file was encrypted with (--vault-password-file FILE, or --vault-id LABEL@FILE for a file encrypted with a vault id)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(label: &str, pw: &str) -> VaultSecret {
        VaultSecret {
            label: label.into(),
            given_as: format!("--vault-id {label}@x"),
            password: Zeroizing::new(pw.as_bytes().to_vec()),
        }
    }

    #[test]
    fn vault_id_arguments() {
        let cwd = Path::new("/w");
        let v = VaultId::parse("dev@pw/dev.txt", cwd, "--vault-id");
        assert_eq!(v.label, "dev");
        assert_eq!(v.source, Source::File(PathBuf::from("/w/pw/dev.txt")));
        assert_eq!(v.given_as, "--vault-id dev@pw/dev.txt");
        let v = VaultId::parse("/abs/pw", cwd, "--vault-id");
        assert_eq!(v.label, "default");
        assert_eq!(v.source, Source::File(PathBuf::from("/abs/pw")));
        assert_eq!(
            VaultId::parse("prod@prompt", cwd, "--vault-id").source,
            Source::Prompt
        );
        assert_eq!(VaultId::parse("prompt", cwd, "--vault-id").label, "default");
    }

    #[test]
    fn tries_the_matching_label_then_the_others() {
        let text = super::super::vault::encrypt(b"x: 1\n", b"prod-pw", &[3; 32], Some("prod"));
        let v = super::super::vault::parse(&text, "f").unwrap();
        let keys = vec![secret("dev", "dev-pw"), secret("prod", "prod-pw")];
        assert_eq!(decrypt_with(&v, &keys, "f").unwrap().as_slice(), b"x: 1\n");
        // a label that differs still works (Ansible tries every password)
        let keys = vec![secret("other", "prod-pw")];
        assert!(decrypt_with(&v, &keys, "f").is_ok());
    }

    #[test]
    fn no_password_and_wrong_password_name_the_file_never_the_password() {
        let text = super::super::vault::encrypt(b"x: 1\n", b"right-password", &[5; 32], None);
        let v = super::super::vault::parse(&text, "f").unwrap();
        let e = decrypt_with(&v, &[], "group_vars/all/vault.yml").unwrap_err();
        assert_eq!(
            e.message,
            "group_vars/all/vault.yml is encrypted with Ansible Vault and no vault password was given"
        );
        assert!(
            e.hints[0].contains("--vault-password-file"),
            "{:?}",
            e.hints
        );
        let e = decrypt_with(&v, &[secret("dev", "wrong-password")], "vault.yml:3").unwrap_err();
        assert!(e.message.starts_with("cannot decrypt vault.yml:3: the vault password does not match (HMAC mismatch); tried --vault-id dev@x"), "{}", e.message);
        assert!(!e.message.contains("wrong-password") && !e.message.contains("right-password"));
    }

    #[test]
    fn passwords_from_files_and_scripts() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("pw.txt");
        std::fs::write(&plain, "  file-password\n").unwrap();
        let script = d.path().join("vault-keys-client.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\n[ \"$1\" = --vault-id ] && echo \"pw-for-$2\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let ids = [
            VaultId::file(plain, "--vault-password-file"),
            VaultId::parse(
                &format!("prod@{}", script.display()),
                d.path(),
                "--vault-id",
            ),
        ];
        let keys = read(&ids).unwrap();
        assert_eq!(keys[0].password.as_slice(), b"file-password");
        assert_eq!(keys[1].password.as_slice(), b"pw-for-prod");
        let missing = VaultId::file(d.path().join("nope"), "--vault-password-file");
        let e = read(&[missing]).err().unwrap();
        assert!(
            e.message.starts_with("--vault-password-file "),
            "{}",
            e.message
        );
    }
}
