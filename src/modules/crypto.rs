//! What the community.crypto modules (openssl_privatekey, x509_certificate,
//! openssh_keypair; user's ssh key too) share: their file arguments, the
//! reading of a probe that may carry a passphrase on stdin, the passphrase and
//! mode arguments, the key file's facts, the backup line, and ssh-keygen's
//! passphrase through `SSH_ASKPASS`.

use serde_json::Value as Json;

use super::Args;
use super::fail::{self, Fail};
use super::protocol::{Facts, Need, SecretProbe};
use crate::transport::Output;

/// A module's arguments followed by the file arguments of community.crypto
/// (`force`, `backup`, `mode`, `owner`, `group`, `select_crypto_backend`).
#[macro_export]
#[doc(hidden)]
macro_rules! crypto_file_args {
    ($($arg:expr),* $(,)?) => {
        &[
            $($arg,)*
            $crate::modules::ArgSpec::new("force", $crate::modules::Kind::Bool),
            $crate::modules::ArgSpec::new("backup", $crate::modules::Kind::Bool),
            $crate::modules::ArgSpec::new("mode", $crate::modules::Kind::Mode),
            $crate::modules::ArgSpec::new("owner", $crate::modules::Kind::Str),
            $crate::modules::ArgSpec::new("group", $crate::modules::Kind::Str),
            $crate::modules::ArgSpec::new(
                "select_crypto_backend",
                $crate::modules::Kind::Choice(&["auto", "cryptography"]),
            ),
        ]
    };
}

/// The probe `script`, a secret probe when a passphrase goes on its stdin.
pub fn probe(script: String, passphrase: Option<&str>) -> Need {
    match passphrase {
        Some(p) => Need::SecretProbe(SecretProbe {
            script,
            stdin: format!("{p}\n").into_bytes(),
        }),
        None => Need::Probe(script),
    }
}

/// The output of a probe made by [`probe`].
pub fn output<'a>(need: &Need, facts: &'a Facts) -> Result<&'a Output, Fail> {
    match need {
        Need::SecretProbe(p) => facts.secret_probe(p),
        Need::Probe(s) => facts.probe(s),
        _ => fail::bad_args("internal error: not a probe"),
    }
}

/// A passphrase argument (empty is none; one line).
pub fn passphrase(args: &Args, name: &str) -> Result<Option<String>, Fail> {
    let p = args.string(name).filter(|p| !p.is_empty());
    if p.as_deref().is_some_and(|p| p.contains('\n')) {
        return fail::bad_args(format!("{name} holds a line break"));
    }
    Ok(p)
}

/// The `mode` argument as bits (`None` when not given).
pub fn mode(args: &Args, base: u32, umask: u32) -> Result<Option<u32>, Fail> {
    match args.get("mode") {
        None | Some(Json::Null) => Ok(None),
        Some(m) => super::mode::ModeSpec::from_json(m)
            .and_then(|spec| spec.resolve(base, false, umask))
            .map(Some)
            .map_err(|e| Fail::Args(format!("mode: {e}"))),
    }
}

/// The `owner`/`group` arguments as chown's `owner:group`.
pub fn chown(args: &Args) -> Result<Option<String>, Fail> {
    Ok(super::attrs::Attrs::from_args(args)?.chown_spec())
}

/// The shell line that copies `$1`'s file (the variable named) aside and
/// prints `@@backup PATH`.
pub fn backup_line(var: &str) -> String {
    format!(
        "b=\"${var}.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"${var}\" \"$b\" && echo \"@@backup $b\"\n"
    )
}

/// Shell lines that write `$<dir>/ap`, an `SSH_ASKPASS` program answering
/// each of ssh-keygen's passphrase prompts with the next line of the stdin it
/// inherits: the passphrase goes to ssh-keygen on stdin, never on its argv
/// (`-N`/`-P`) or in a file. `$<dir>` is a directory `mktemp -d` made.
pub fn askpass_lines(dir: &str) -> String {
    format!(
        "cat > \"${dir}/ap\" <<'OPSCTL_AP'\n#!/bin/sh\nIFS= read -r l || exit 1\nprintf '%s\\n' \"$l\"\nOPSCTL_AP\nchmod 700 \"${dir}/ap\"\n"
    )
}

/// The environment that makes ssh-keygen ask [`askpass_lines`]'s program.
pub fn askpass_env(dir: &str) -> String {
    format!("SSH_ASKPASS=\"${dir}/ap\" SSH_ASKPASS_REQUIRE=force")
}

/// `regenerate`'s choices (openssl_privatekey, openssh_keypair).
pub const REGENERATE: super::Kind = super::Kind::Choice(&[
    "never",
    "fail",
    "partial_idempotence",
    "full_idempotence",
    "always",
]);

/// What a key probe says of the key file: its `exists=`, `loaded=`, `mode=`,
/// `owner=`, `group=` and `header=` lines.
#[derive(Debug, Default)]
pub struct KeyFile {
    pub exists: bool,
    pub loaded: bool,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    /// The PEM header line (`-----BEGIN ... PRIVATE KEY-----`).
    pub header: String,
}

impl KeyFile {
    /// Reads one `key=value` line of the probe; false when it is not one of
    /// the file's.
    pub fn take(&mut self, k: &str, v: &str) -> bool {
        match k {
            "exists" => self.exists = v == "1",
            "loaded" => self.loaded = v == "1",
            "mode" => self.mode = u32::from_str_radix(v.trim(), 8).unwrap_or(0),
            "owner" => self.owner = v.trim().into(),
            "group" => self.group = v.trim().into(),
            "header" => self.header = v.trim().into(),
            _ => return false,
        }
        true
    }
}

/// The failure of a key's change script: its exit status and stderr (the
/// tools' own stderr that may echo what they read goes to /dev/null).
pub fn write_failed<T>(what: &str, planned: &super::Outcome, out: &Output) -> Result<T, Fail> {
    fail::fail(format!(
        "writing the {what} {} failed (rc {}): {}",
        planned.data["filename"].as_str().unwrap_or_default(),
        out.rc.map(|r| r.to_string()).unwrap_or("signal".into()),
        out.stderr_str().trim()
    ))
}
