//! Team access (`opsctl users`): SSH public keys checked and fingerprinted as
//! `ssh-keygen -lf` does, user names checked as Debian's `useradd` does, and the
//! environment's users file (`group_vars/all/users.yml`, the variable
//! `team_users` that roles/users applies) read and written. Pure: no host, no
//! network.

use std::path::Path;

use base64::Engine;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::location::Location;
use crate::yaml;

/// The users file, relative to the environment's directory.
pub const USERS_FILE: &str = "group_vars/all/users.yml";
/// The variable the users file sets (roles/users reads it).
pub const USERS_VAR: &str = "team_users";

/// Key types a user's `authorized_keys` may hold (OpenSSH's public key types).
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
];

/// One checked public key line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The line as recorded: `[options] type base64 [comment]`, blanks folded.
    pub line: String,
    pub kind: String,
    /// `SHA256:` and the unpadded base64 of the key blob's sha256 (`ssh-keygen -lf`).
    pub fingerprint: String,
    /// The key's size in bits (the RSA modulus, the curve), as `ssh-keygen -l` says.
    pub bits: u32,
    pub comment: String,
}

impl PublicKey {
    /// `ssh-keygen -lf`'s line: `256 SHA256:... comment (ED25519)`.
    pub fn describe(&self) -> String {
        let comment = if self.comment.is_empty() {
            "no comment"
        } else {
            &self.comment
        };
        format!(
            "{} {} {} ({})",
            self.bits,
            self.fingerprint,
            comment,
            label(&self.kind)
        )
    }
}

/// `ssh-keygen`'s name of a key type.
fn label(kind: &str) -> &'static str {
    match kind {
        "ssh-ed25519" => "ED25519",
        "ssh-rsa" => "RSA",
        "ssh-dss" => "DSA",
        "sk-ssh-ed25519@openssh.com" => "ED25519-SK",
        "sk-ecdsa-sha2-nistp256@openssh.com" => "ECDSA-SK",
        _ => "ECDSA",
    }
}

/// Reads one length-prefixed string of the SSH wire format at `*at`.
fn wire_string<'a>(blob: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let len = u32::from_be_bytes(blob.get(*at..*at + 4)?.try_into().ok()?) as usize;
    let s = blob.get(*at + 4..(*at + 4).checked_add(len)?)?;
    *at += 4 + len;
    Some(s)
}

/// Bits of an mpint (big-endian, leading zero bytes ignored).
fn mpint_bits(n: &[u8]) -> u32 {
    let n: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
    match n.first() {
        None => 0,
        Some(first) => (n.len() as u32 - 1) * 8 + (8 - first.leading_zeros()),
    }
}

/// Checks one public key line: a known type, base64 that decodes, and a blob
/// whose own type is the line's (a truncated or mangled paste fails here).
pub fn parse_key(line: &str) -> Result<PublicKey, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some(at) = words.iter().position(|w| KEY_TYPES.contains(w)) else {
        return Err(format!(
            "not an SSH public key (expected a line starting with {}, ...)",
            KEY_TYPES[..3].join(", ")
        ));
    };
    let kind = words[at];
    let Some(b64) = words.get(at + 1) else {
        return Err(format!("{kind} key without its base64 part"));
    };
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| format!("{kind} key: its base64 part does not decode (truncated paste?)"))?;
    let mut pos = 0;
    let inner = wire_string(&blob, &mut pos)
        .ok_or_else(|| format!("{kind} key: the key data is truncated"))?;
    if inner != kind.as_bytes() {
        return Err(format!(
            "the line says {kind} but the key data is {}",
            String::from_utf8_lossy(inner)
        ));
    }
    let bits = match kind {
        "ssh-rsa" => {
            let _e = wire_string(&blob, &mut pos);
            wire_string(&blob, &mut pos).map(mpint_bits)
        }
        "ssh-dss" => wire_string(&blob, &mut pos).map(mpint_bits),
        "ssh-ed25519" | "sk-ssh-ed25519@openssh.com" => wire_string(&blob, &mut pos)
            .filter(|k| k.len() == 32)
            .map(|_| 256),
        "ecdsa-sha2-nistp384" => wire_string(&blob, &mut pos).map(|_| 384),
        "ecdsa-sha2-nistp521" => wire_string(&blob, &mut pos).map(|_| 521),
        _ => wire_string(&blob, &mut pos).map(|_| 256),
    }
    .ok_or_else(|| format!("{kind} key: the key data is truncated"))?;
    if kind == "ssh-rsa" && bits < 2048 {
        return Err(format!(
            "ssh-rsa key of {bits} bits: OpenSSH refuses RSA keys under 1024 bits and they are weak under 2048; use an ed25519 key"
        ));
    }
    let digest = Sha256::digest(&blob);
    let fingerprint = format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    );
    Ok(PublicKey {
        line: words.join(" "),
        kind: kind.to_string(),
        fingerprint,
        bits,
        comment: words[at + 2..].join(" "),
    })
}

/// Every key of an `authorized_keys`-style text (blank lines and `#` comments
/// skipped); a bad line is an error with its 1-based line number. The same key
/// twice is kept once.
pub fn parse_keys(text: &str) -> Result<Vec<PublicKey>, (usize, String)> {
    let mut keys: Vec<PublicKey> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = parse_key(line).map_err(|e| (i + 1, e))?;
        if !keys.iter().any(|k| k.fingerprint == key.fingerprint) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// A name `useradd` accepts on Debian (`NAME_REGEX` `^[a-z][-a-z0-9_]*$`, at
/// most 32 characters), and not an account the system or opsctl relies on.
pub fn check_user_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        return Err(format!(
            "'{name}' is not a valid user name: a lowercase letter, then lowercase letters, digits, '-' or '_', at most 32 characters"
        ));
    }
    if [
        "root", "daemon", "bin", "sys", "nobody", "www-data", "postgres",
    ]
    .contains(&name)
    {
        return Err(format!(
            "'{name}' is a system account: opsctl users manages people's accounts"
        ));
    }
    Ok(())
}

/// One person's account as the users file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamUser {
    pub name: String,
    /// false: removed (provision locks the account and removes its keys and sudo).
    pub present: bool,
    pub sudo: bool,
    /// Where the keys came from (`github:LOGIN`, a URL or a file name).
    pub source: String,
    pub keys: Vec<String>,
}

/// A users file that cannot be read, with where.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {message}")]
pub struct UsersFileError {
    pub location: Location,
    pub message: String,
}

impl From<yaml::YamlError> for UsersFileError {
    fn from(e: yaml::YamlError) -> Self {
        UsersFileError {
            location: e.location,
            message: e.message,
        }
    }
}

/// The users recorded in `path` (none when the file does not exist).
pub fn read_users(path: &Path) -> Result<Vec<TeamUser>, UsersFileError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let node = yaml::parse_file(path)?;
    let err = |n: &yaml::Node, message: String| UsersFileError {
        location: n.location(path),
        message,
    };
    let Some(list) = node.get(USERS_VAR) else {
        return Ok(Vec::new());
    };
    if list.is_null() {
        return Ok(Vec::new());
    }
    let Some(items) = list.as_seq() else {
        return Err(err(list, format!("{USERS_VAR} must be a list of users")));
    };
    let mut users = Vec::new();
    for item in items {
        let Json::Object(map) = item.to_json() else {
            return Err(err(
                item,
                "each user must be a mapping (name, keys...)".into(),
            ));
        };
        for k in map.keys() {
            if !["name", "state", "sudo", "source", "keys"].contains(&k.as_str()) {
                return Err(err(
                    item,
                    format!("unknown key '{k}' (a user has name, state, sudo, source, keys)"),
                ));
            }
        }
        let name = map.get("name").and_then(Json::as_str).unwrap_or_default();
        check_user_name(name).map_err(|e| err(item, e))?;
        let present = match map.get("state").and_then(Json::as_str) {
            None | Some("present") => true,
            Some("absent") => false,
            Some(other) => {
                return Err(err(
                    item,
                    format!("{name}: state '{other}' is neither present nor absent"),
                ));
            }
        };
        let keys: Vec<String> = match map.get("keys") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(a)) => a
                .iter()
                .map(|k| k.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| err(item, format!("{name}: keys must be strings")))?,
            Some(_) => return Err(err(item, format!("{name}: keys must be a list"))),
        };
        for k in &keys {
            parse_key(k).map_err(|e| err(item, format!("{name}: {e}")))?;
        }
        users.push(TeamUser {
            name: name.to_string(),
            present,
            sudo: map.get("sudo").and_then(Json::as_bool).unwrap_or(false),
            source: map
                .get("source")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            keys,
        });
    }
    Ok(users)
}

/// A YAML double-quoted scalar (JSON's string syntax is YAML's).
fn quoted(s: &str) -> String {
    Json::String(s.to_string()).to_string()
}

/// The users file's text: a header, then `team_users` in name order.
pub fn render_users(users: &[TeamUser]) -> String {
    let mut users: Vec<&TeamUser> = users.iter().collect();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    let mut s = String::from(
        "# People's accounts on every host of this environment, written by\n\
         # `opsctl users add|remove` and applied by `opsctl provision` (roles/users):\n\
         # authorized_keys exactly as listed, passwordless sudo when sudo is true,\n\
         # state absent: the account is locked, its keys and sudo removed.\n",
    );
    if users.is_empty() {
        s.push_str(&format!("{USERS_VAR}: []\n"));
        return s;
    }
    s.push_str(&format!("{USERS_VAR}:\n"));
    for u in users {
        s.push_str(&format!("  - name: {}\n", u.name));
        s.push_str(&format!(
            "    state: {}\n",
            if u.present { "present" } else { "absent" }
        ));
        s.push_str(&format!("    sudo: {}\n", u.sudo));
        s.push_str(&format!("    source: {}\n", quoted(&u.source)));
        if u.keys.is_empty() {
            s.push_str("    keys: []\n");
        } else {
            s.push_str("    keys:\n");
            for k in &u.keys {
                s.push_str(&format!("      - {}\n", quoted(k)));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    // Throwaway keys made for this test with ssh-keygen; the fingerprints are
    // what `ssh-keygen -lf` printed for them.
    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIABZErALfcVXMVK1V0Wao9C9+oV1wsDElr6zNsm7mlZI alice@laptop";
    const ED_FP: &str =
        "256 SHA256:Y0doaN0gi4s7Hq/4wlNv4fCy5Eq4/6QKxaMOmjVF9gc alice@laptop (ED25519)";
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCiaC3jvpeV/LsmMOxOZ0rZjgjv2GK8Wgp4j41z8lI8HKl8QISW97bugdnogFkqYAfR+ESZJv4vs7NPgU/C7sIBzgZkQ8KqrT5hkc2BXxIdwTkf1mz7MMAMcQeirUeX0nW+XxoGWaUT5T2OizJ3AxXdKtxtg+QBhEzCvSD6OSpOya4OiUup1ZVY1X2BxSPY1G68AtGV8bu1xBcLjc3dXyfZ5UcliL1N33d8bUM4zdtiGOYcpM7kHe9qHvclInhmVjNocM4EtDO1KRm2QsGbHcwKtzGCZZuCUYn41tQME2zwdx4/qEItCaDaAUTSWv2N2Kn3i1Do7nNVxmFdVM6UvAGV1FQsrO1uCpaiFMthem2dhkSvh3huCZzL28rOD2o92j29OBTpM0e57Q4eFzpNXzf54igHd+1J5YqYIoPdlfB5iSRrebeVfBtYVXEen1qDRH/wZqxqumAq2/uYXohPdT69L15DGj7Bo7LZ55dJ31wvhsJdWv/hdfDVva4OIw1ZsqU= bob";
    const RSA_FP: &str = "3072 SHA256:da6iwfZG+Z/uUbbPFwvkxZDwp4GvvQzUSrZcH2zUjac bob (RSA)";

    #[test]
    fn key_lines_are_checked() {
        let k = parse_key(ED).unwrap();
        assert_eq!(k.kind, "ssh-ed25519");
        assert_eq!(k.bits, 256);
        assert_eq!(k.comment, "alice@laptop");
        assert!(k.fingerprint.starts_with("SHA256:"));
        assert!(!k.fingerprint.ends_with('='));
        assert_eq!(k.describe(), ED_FP);
        assert_eq!(parse_key(RSA).unwrap().describe(), RSA_FP);
        let opts = parse_key(&format!("from=\"10.0.0.1\"   {ED}")).unwrap();
        assert_eq!(opts.fingerprint, k.fingerprint);
        assert!(opts.line.starts_with("from=\"10.0.0.1\" ssh-ed25519 "));

        assert!(
            parse_key("hello world")
                .unwrap_err()
                .contains("not an SSH public key")
        );
        let truncated = &ED[..60];
        assert!(parse_key(truncated).is_err());
        // the blob of an ed25519 key under another type name
        let liar = ED.replacen("ssh-ed25519", "ssh-rsa", 1);
        assert!(
            parse_key(&liar)
                .unwrap_err()
                .contains("key data is ssh-ed25519")
        );
        assert!(parse_key("ssh-ed25519").unwrap_err().contains("without"));
    }

    #[test]
    fn key_texts_skip_comments_and_name_the_bad_line() {
        let text = format!("# mine\n\n{ED}\n{ED}\n");
        assert_eq!(parse_keys(&text).unwrap().len(), 1);
        let (line, msg) = parse_keys(&format!("{ED}\n<html>\n")).unwrap_err();
        assert_eq!(line, 2);
        assert!(msg.contains("not an SSH public key"));
    }

    #[test]
    fn user_names_are_those_useradd_takes() {
        for ok in ["alice", "bob-smith", "c_3", "a"] {
            check_user_name(ok).unwrap();
        }
        for bad in [
            "Alice",
            "1bob",
            "-x",
            "a b",
            "a:b",
            "",
            "root",
            &"a".repeat(33),
        ] {
            assert!(check_user_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_users_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.yml");
        let users = vec![
            TeamUser {
                name: "zoe".into(),
                present: false,
                sudo: false,
                source: "github:zoe".into(),
                keys: vec![],
            },
            TeamUser {
                name: "alice".into(),
                present: true,
                sudo: true,
                source: "https://example.org/alice.keys".into(),
                keys: vec![ED.into()],
            },
        ];
        std::fs::write(&path, render_users(&users)).unwrap();
        let back = read_users(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], users[1]);
        assert_eq!(back[1], users[0]);
        assert!(read_users(&dir.path().join("none.yml")).unwrap().is_empty());
    }

    #[test]
    fn a_bad_users_file_names_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.yml");
        std::fs::write(&path, "team_users:\n  - name: alice\n    shell: /bin/zsh\n").unwrap();
        let e = read_users(&path).unwrap_err();
        assert_eq!(e.location.line, 2);
        assert!(e.message.contains("unknown key 'shell'"));
        std::fs::write(
            &path,
            "team_users:\n  - name: alice\n    keys: [\"ssh-ed25519 AAAA\"]\n",
        )
        .unwrap();
        assert!(read_users(&path).unwrap_err().message.contains("alice"));
    }
}
