//! What the community.crypto modules (openssl_privatekey, x509_certificate)
//! share: their file arguments, the reading of a probe that may carry a
//! passphrase on stdin, the passphrase and mode arguments, the backup line.

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
