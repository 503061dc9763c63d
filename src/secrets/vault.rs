//! Reading Ansible Vault files (format 1.1 and 1.2, AES256), for
//! `opsctl secrets import-vault`: the migration from a Vault-based repo.
//!
//! The format (ansible/parsing/vault/__init__.py, `VaultAES256`): a header line
//! `$ANSIBLE_VAULT;1.1;AES256` (1.2 adds `;<vault-id>`), then hex lines. The hex
//! decodes to three hex lines: salt, HMAC, ciphertext. PBKDF2-HMAC-SHA256 with
//! 10000 iterations derives 80 bytes from the password and salt: the AES-256
//! key, the HMAC-SHA256 key, and the CTR initial counter. The HMAC covers the
//! ciphertext; the plaintext is PKCS#7-padded.

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::SecretsError;

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// A parsed vault file (still encrypted).
#[derive(Debug)]
pub struct VaultFile {
    pub version: String,
    pub vault_id: Option<String>,
    salt: Vec<u8>,
    hmac: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    let s: Vec<u8> = s
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16)?;
            let l = (p[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}

/// Parses the envelope; `shown` names the file in errors.
pub fn parse(text: &str, shown: &str) -> Result<VaultFile, SecretsError> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().trim();
    let not_vault = || {
        SecretsError::new(format!(
            "{shown}:1: not an Ansible Vault file (expected a `$ANSIBLE_VAULT;1.1;AES256` header)"
        ))
    };
    let fields: Vec<&str> = header.split(';').collect();
    if fields.first() != Some(&"$ANSIBLE_VAULT") || fields.len() < 3 {
        return Err(not_vault());
    }
    let version = fields[1].to_string();
    if version != "1.1" && version != "1.2" {
        return Err(SecretsError::new(format!(
            "{shown}:1: Ansible Vault format {version} is not supported (1.1 and 1.2 are)"
        )));
    }
    if fields[2].trim() != "AES256" {
        return Err(SecretsError::new(format!(
            "{shown}:1: vault cipher {} is not supported (AES256 is)",
            fields[2]
        )));
    }
    let vault_id = fields.get(3).map(|s| s.trim().to_string());
    let body: String = lines.collect::<Vec<_>>().join("");
    let damaged = |what: &str| {
        SecretsError::new(format!("{shown}: the vault body is damaged ({what})"))
            .hint("check that the file was not cut or merged by hand")
    };
    let inner = unhex(body.as_bytes()).ok_or_else(|| damaged("not hexadecimal"))?;
    let parts: Vec<&[u8]> = inner.split(|b| *b == b'\n').collect();
    if parts.len() != 3 {
        return Err(damaged("expected salt, HMAC and ciphertext"));
    }
    let salt = unhex(parts[0]).ok_or_else(|| damaged("bad salt"))?;
    let hmac = unhex(parts[1]).ok_or_else(|| damaged("bad HMAC"))?;
    let ciphertext = unhex(parts[2]).ok_or_else(|| damaged("bad ciphertext"))?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(damaged("ciphertext length"));
    }
    Ok(VaultFile {
        version,
        vault_id,
        salt,
        hmac,
        ciphertext,
    })
}

/// Decrypts with the vault password. A wrong password (or a tampered file)
/// fails the HMAC check.
pub fn decrypt(
    v: &VaultFile,
    password: &[u8],
    shown: &str,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let mut derived = Zeroizing::new([0u8; 80]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, &v.salt, 10_000, derived.as_mut());
    let (key, rest) = derived.split_at(32);
    let (hmac_key, iv) = rest.split_at(32);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(hmac_key)
        .map_err(|_| SecretsError::new("HMAC key length"))?;
    mac.update(&v.ciphertext);
    mac.verify_slice(&v.hmac).map_err(|_| {
        SecretsError::new(format!(
            "cannot decrypt {shown}: wrong vault password (or the file was modified)"
        ))
        .hint("give the password file with --vault-password-file FILE (as for ansible-vault)")
    })?;
    let mut out = Zeroizing::new(v.ciphertext.clone());
    let mut cipher =
        Aes256Ctr::new_from_slices(key, iv).map_err(|_| SecretsError::new("AES key length"))?;
    cipher.apply_keystream(&mut out);
    let pad = *out.last().unwrap_or(&0) as usize;
    if pad == 0
        || pad > 16
        || pad > out.len()
        || out[out.len() - pad..].iter().any(|b| *b as usize != pad)
    {
        return Err(SecretsError::new(format!(
            "cannot decrypt {shown}: bad padding after decryption"
        )));
    }
    let n = out.len() - pad;
    out.truncate(n);
    Ok(out)
}

/// The vault password from a file as ansible-vault reads it: an executable
/// file is run and its output used (a script named `*-client` is asked for
/// `label` with `--vault-id label`, as Ansible's client scripts are);
/// otherwise the file's text; surrounding whitespace stripped. `flag` is how
/// messages name where the file was given (`--vault-password-file`...).
pub fn password_from_file(
    path: &std::path::Path,
    flag: &str,
    label: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    use std::os::unix::fs::PermissionsExt;
    let shown = crate::location::display_path(path);
    let meta = std::fs::metadata(path).map_err(|e| {
        SecretsError::new(format!("{flag} {shown}: {e}"))
            .hint("give the file holding the vault password (or a script printing it)")
    })?;
    let raw = if meta.permissions().mode() & 0o111 != 0 {
        let mut cmd = std::process::Command::new(path);
        let client = path
            .file_stem()
            .and_then(|s| s.to_str())
            .is_some_and(|s| s.ends_with("-client"));
        if client {
            cmd.arg("--vault-id").arg(label.unwrap_or("default"));
        }
        let out = cmd
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| SecretsError::new(format!("{flag} {shown}: cannot run it: {e}")))?;
        if !out.status.success() {
            return Err(SecretsError::new(format!(
                "{flag} {shown}: the script failed ({})",
                out.status
            )));
        }
        Zeroizing::new(out.stdout)
    } else {
        Zeroizing::new(
            std::fs::read(path).map_err(|e| SecretsError::new(format!("{flag} {shown}: {e}")))?,
        )
    };
    let s = raw.trim_ascii();
    if s.is_empty() {
        return Err(SecretsError::new(format!(
            "{flag} {shown}: the password is empty"
        )));
    }
    Ok(Zeroizing::new(s.to_vec()))
}

/// Encrypts as `ansible-vault encrypt` does (format 1.1, or 1.2 with a
/// `vault_id`), with the given 32-byte salt: the counterpart of [`decrypt`],
/// used to write test data and checked against files made by ansible-core.
pub fn encrypt(plaintext: &[u8], password: &[u8], salt: &[u8], vault_id: Option<&str>) -> String {
    let mut derived = Zeroizing::new([0u8; 80]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, 10_000, derived.as_mut());
    let (key, rest) = derived.split_at(32);
    let (hmac_key, iv) = rest.split_at(32);
    let pad = 16 - plaintext.len() % 16;
    let mut data = plaintext.to_vec();
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let mut cipher = Aes256Ctr::new_from_slices(key, iv).expect("32-byte key, 16-byte iv");
    cipher.apply_keystream(&mut data);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(hmac_key).expect("any key length");
    mac.update(&data);
    let tag = mac.finalize().into_bytes();
    let inner = format!("{}\n{}\n{}", hex(salt), hex(&tag), hex(&data));
    let body = hex(inner.as_bytes());
    let header = match vault_id {
        Some(id) => format!("$ANSIBLE_VAULT;1.2;AES256;{id}"),
        None => "$ANSIBLE_VAULT;1.1;AES256".to_string(),
    };
    let mut out = header;
    for chunk in body.as_bytes().chunks(80) {
        out.push('\n');
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
    out.push('\n');
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made with ansible-core 2.19: tests/fixtures/secrets/README.md says how.
    fn fixture(name: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/secrets")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn decrypts_real_ansible_vault_files() {
        let expected = fixture("vault-plain.yml");
        for name in ["vault-1.1.yml", "vault-1.2.yml"] {
            let v = parse(&fixture(name), name).unwrap();
            let plain = decrypt(&v, b"correct horse battery staple", name).unwrap();
            assert_eq!(std::str::from_utf8(&plain).unwrap(), expected, "{name}");
        }
        let v = parse(&fixture("vault-1.2.yml"), "x").unwrap();
        assert_eq!(v.version, "1.2");
        assert_eq!(v.vault_id.as_deref(), Some("staging"));
    }

    #[test]
    fn wrong_password_and_damage() {
        let v = parse(&fixture("vault-1.1.yml"), "f").unwrap();
        let e = decrypt(&v, b"nope", "f").unwrap_err();
        assert!(e.message.contains("wrong vault password"), "{}", e.message);
        assert!(
            parse("hello\n", "f")
                .unwrap_err()
                .message
                .contains("not an Ansible Vault file")
        );
        let mut t = fixture("vault-1.1.yml");
        t.truncate(t.len() / 2);
        assert!(parse(&t, "f").is_err() || decrypt(&parse(&t, "f").unwrap(), b"x", "f").is_err());
        assert!(parse("$ANSIBLE_VAULT;1.1;AES256\nzz\n", "f").is_err());
        assert!(parse("$ANSIBLE_VAULT;1.0;AES\n00\n", "f").is_err());
    }

    #[test]
    fn encrypts_what_decrypt_reads() {
        let salt = [7u8; 32];
        for (plain, id) in [(&b"a: 1\n"[..], None), (&[0u8; 32][..], Some("prod"))] {
            let text = encrypt(plain, b"pw", &salt, id);
            let v = parse(&text, "t").unwrap();
            assert_eq!(v.vault_id.as_deref(), id);
            assert_eq!(decrypt(&v, b"pw", "t").unwrap().as_slice(), plain);
            assert!(decrypt(&v, b"other", "t").is_err());
        }
        // the body is wrapped at 80 columns, as ansible-vault writes it
        let text = encrypt(&[1u8; 100], b"pw", &salt, None);
        assert!(text.lines().skip(1).all(|l| l.len() <= 80));
    }
}
