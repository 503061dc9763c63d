//! htpasswd (community.general.htpasswd): a user's line in an Apache/nginx
//! password file present (with this password) or absent.
//!
//! The password is a secret: it travels only as the stdin of the host's
//! commands (never on a command line, in a script, an output or a trace).
//! Present: a secret probe checks the user's existing hash with the hash's own
//! scheme and salt (as passlib's `check_password`): `openssl passwd` for
//! `$apr1$`, `$1$`, `$5$`, `$6$`, `openssl dgst` for `{SHA}`, Python's `crypt`
//! (libxcrypt) for bcrypt, DES and hashes with `rounds=`; plain text is
//! compared as is. Only `same` or `differs` comes back. When it differs (or
//! the user or file is missing) the change hashes the password with
//! `hash_scheme` (alias `crypt_scheme`, default `apr_md5_crypt`) and a fresh
//! salt and rewrites the file atomically (other lines kept, the user's line
//! replaced in place or appended). `owner`, `group` and `mode` as the file
//! module.

use serde_json::json;

use super::attrs::{Attrs, attr_changes};
use super::fail::{self, Fail};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan, SecretProbe};
use super::remote_file::{FType, Req, Stat};
use super::sysconf::{script_applied, script_plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote;

const SCHEMES: &[&str] = &[
    "apr_md5_crypt",
    "md5_crypt",
    "sha256_crypt",
    "sha512_crypt",
    "bcrypt",
    "des_crypt",
    "ldap_sha1",
    "plaintext",
];

pub static HTPASSWD: Spec = Spec::new(
    "htpasswd",
    &[
        ArgSpec::new("path", Kind::Str)
            .required()
            .aliases(&["dest", "destfile"]),
        ArgSpec::new("name", Kind::Str)
            .required()
            .aliases(&["username"]),
        ArgSpec::new("password", Kind::Str),
        ArgSpec::new("hash_scheme", Kind::Choice(SCHEMES)).aliases(&["crypt_scheme"]),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("create", Kind::Bool),
        ArgSpec::new("owner", Kind::Str),
        ArgSpec::new("group", Kind::Str),
        ArgSpec::new("mode", Kind::Mode),
    ],
);

pub struct Htpasswd;

struct Want {
    path: String,
    name: String,
    password: Option<String>,
    scheme: &'static str,
    present: bool,
}

fn want(args: &Args) -> Result<Want, Fail> {
    let name = args.str("name").unwrap_or_default().to_string();
    if name.is_empty() || name.contains([':', '\n']) {
        return fail::bad_args(format!("name: '{name}' must not be empty or hold ':'"));
    }
    let present = args.str("state") != Some("absent");
    let password = args.string("password");
    if present && password.is_none() {
        return fail::bad_args("password is required when state=present");
    }
    if password.as_deref().is_some_and(|p| p.contains('\n')) {
        return fail::bad_args("password must be one line");
    }
    let scheme = args.str("hash_scheme").unwrap_or("apr_md5_crypt");
    let scheme = SCHEMES
        .iter()
        .find(|s| **s == scheme)
        .copied()
        .unwrap_or("apr_md5_crypt");
    Ok(Want {
        path: args.str("path").unwrap_or_default().to_string(),
        name,
        password,
        scheme,
        present,
    })
}

/// Python's crypt (libxcrypt) on stdin's password, with the salt in `$H`.
const PY_CRYPT: &str = "python3 -W ignore -c 'import crypt,os,sys;print(crypt.crypt(sys.stdin.read(),os.environ[\"H\"]) or \"\")'";

/// Reads the user's hash from `$f` into `$h` (empty: no such user).
fn read_hash(w: &Want) -> String {
    format!(
        "f={}\nu={}\nh=$(u=\"$u\" awk -F: '$1 == ENVIRON[\"u\"] {{ sub(/^[^:]*:/, \"\"); print; exit }}' \"$f\")\n",
        shell_quote(&w.path),
        shell_quote(&w.name)
    )
}

/// The read: `nofile`, `unreadable`, `nouser`, else whether the password
/// (stdin) gives the same hash.
fn probe(w: &Want) -> String {
    let mut s = format!("# opsctl htpasswd: check {}\n", w.name.replace('\n', " "));
    s.push_str(&format!(
        "[ -e {p} ] || {{ echo nofile; exit 0; }}\n[ -r {p} ] || {{ echo unreadable; exit 0; }}\n",
        p = shell_quote(&w.path)
    ));
    s.push_str(&read_hash(w));
    s.push_str("[ -n \"$h\" ] || { echo nouser; exit 0; }\n");
    if !w.present {
        s.push_str("echo user\n");
        return s;
    }
    s.push_str(&format!(
        "pw=$(cat)\n\
         ossl() {{ s=${{h#\"$1\"}}; s=${{s%%'$'*}}; printf '%s' \"$pw\" | openssl passwd \"$2\" -salt \"$s\" -stdin 2>/dev/null; }}\n\
         case \"$h\" in\n\
         '$5$rounds='*|'$6$rounds='*|'$2'*|'$y$'*) c=$(printf '%s' \"$pw\" | H=\"$h\" {PY_CRYPT} 2>/dev/null) ;;\n\
         '$apr1$'*) c=$(ossl '$apr1$' -apr1) ;;\n\
         '$1$'*) c=$(ossl '$1$' -1) ;;\n\
         '$5$'*) c=$(ossl '$5$' -5) ;;\n\
         '$6$'*) c=$(ossl '$6$' -6) ;;\n\
         '{{SHA}}'*) c=\"{{SHA}}$(printf '%s' \"$pw\" | openssl dgst -sha1 -binary | base64)\" ;;\n\
         *) c=$pw; [ \"$c\" = \"$h\" ] || [ ${{#h}} -ne 13 ] || c=$(printf '%s' \"$pw\" | H=\"$h\" {PY_CRYPT} 2>/dev/null) ;;\n\
         esac\n\
         [ \"$c\" = \"$h\" ] && echo same || echo differs\n"
    ));
    s
}

/// The command hashing stdin's password with a fresh salt.
fn hasher(scheme: &str) -> String {
    let py = |method: &str| {
        format!(
            "python3 -W ignore -c 'import crypt,sys;print(crypt.crypt(sys.stdin.read(),crypt.mksalt(crypt.{method})))'"
        )
    };
    match scheme {
        "md5_crypt" => "openssl passwd -1 -stdin".into(),
        "sha256_crypt" => "openssl passwd -5 -stdin".into(),
        "sha512_crypt" => "openssl passwd -6 -stdin".into(),
        "bcrypt" => py("METHOD_BLOWFISH"),
        "des_crypt" => py("METHOD_CRYPT"),
        "ldap_sha1" => "printf '{SHA}%s\\n' \"$(openssl dgst -sha1 -binary | base64)\"".into(),
        "plaintext" => "cat; echo".into(),
        _ => "openssl passwd -apr1 -stdin".into(),
    }
}

/// The write: the file rewritten with the user's line set (`$h`) or removed,
/// then the attributes.
fn writer(w: &Want, new_file: bool, chown: Option<String>, chmod: Option<u32>) -> String {
    let mut s = format!(
        "# opsctl htpasswd: {} {}\nset -u\n",
        w.name.replace('\n', " "),
        if w.present { "present" } else { "absent" }
    );
    s.push_str(&format!(
        "f={}\nu={}\n",
        shell_quote(&w.path),
        shell_quote(&w.name)
    ));
    if w.present {
        s.push_str(&format!(
            "h=$({}) || exit 2\ncase \"$h\" in ''|'*'*|*:*) echo \"hashing with {} failed on this host\" >&2; exit 2 ;; esac\n",
            hasher(w.scheme),
            w.scheme
        ));
    }
    s.push_str("d=$(dirname -- \"$f\")\n");
    if new_file {
        s.push_str("mkdir -p -- \"$d\" || exit 1\n");
    }
    s.push_str(
        "t=$(mktemp \"$d/.opsctl-htpasswd.XXXXXX\") || exit 1\n\
         trap 'rm -f \"$t\"' EXIT\n",
    );
    let awk = if w.present {
        "u=\"$u\" h=\"$h\" awk -F: 'BEGIN { u = ENVIRON[\"u\"]; h = ENVIRON[\"h\"] } $1 == u { if (!done) print u \":\" h; done = 1; next } { print } END { if (!done) print u \":\" h }'"
    } else {
        "u=\"$u\" awk -F: '$1 != ENVIRON[\"u\"]'"
    };
    if new_file {
        s.push_str(&format!(
            "{awk} < /dev/null > \"$t\" || exit 1\nchmod \"$(printf '%o' $((0666 & ~0$(umask))))\" \"$t\"\n"
        ));
    } else {
        s.push_str(&format!(
            "{awk} \"$f\" > \"$t\" || exit 1\nchmod --reference=\"$f\" \"$t\" && chown --reference=\"$f\" \"$t\" || exit 1\n"
        ));
    }
    s.push_str("mv -f -- \"$t\" \"$f\" || exit 1\ntrap - EXIT\n");
    if let Some(c) = chown {
        s.push_str(&format!("chown {} -- \"$f\" || exit 1\n", shell_quote(&c)));
    }
    if let Some(m) = chmod {
        s.push_str(&format!("chmod {m:o} -- \"$f\" || exit 1\n"));
    }
    s
}

fn path_req(w: &Want) -> Req {
    Req::new(w.path.clone()).follow(true)
}

fn secret(w: &Want) -> SecretProbe {
    SecretProbe {
        script: probe(w),
        stdin: w.password.clone().unwrap_or_default().into_bytes(),
    }
}

impl Module for Htpasswd {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = want(args)?;
        Attrs::from_args(args)?;
        Ok(vec![
            Need::Host,
            Need::Path(path_req(&w)),
            Need::SecretProbe(secret(&w)),
        ])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let w = want(args)?;
        let attrs = Attrs::from_args(args)?;
        let host = facts.host()?;
        let st = facts.path(&path_req(&w))?;
        let said = facts.secret_probe(&secret(&w))?.stdout_str();
        let said = said.trim();
        if st.kind == FType::Directory {
            return fail::fail(format!("{} is a directory", w.path));
        }
        if said == "unreadable" {
            return fail::fail(format!(
                "permission denied reading {}: run the task with become",
                w.path
            ));
        }
        let exists = st.exists() && said != "nofile";
        if !exists && !w.present {
            return fail::fail(format!("{} does not exist", w.path));
        }
        if !exists && !args.bool_or("create", true) {
            return fail::fail(format!("Destination {} does not exist", w.path));
        }
        let (content, msg) = match (exists, w.present, said) {
            (false, _, _) => (true, format!("Created {} and added {}", w.path, w.name)),
            (true, true, "same") => (false, format!("{} already present", w.name)),
            (true, true, _) => (true, format!("Add/update {}", w.name)),
            (true, false, "nouser") => (false, format!("{} not present", w.name)),
            (true, false, _) => (true, format!("Remove {}", w.name)),
        };
        // the attributes, against the file as it is or as it will be made
        let mut base: Stat = st.clone();
        if !exists {
            base.kind = FType::File;
            base.mode = 0o666 & !host.umask;
            base.owner = host.user.clone();
        }
        let ch = attr_changes(&attrs, &base, host.umask).map_err(Fail::Task)?;
        let chown = if exists {
            ch.chown_spec()
        } else {
            attrs.chown_spec()
        };
        let chmod = ch.mode.map(|(_, m)| m);
        let mut o = Outcome::ok();
        o.msg = Some(msg.clone());
        if !content && chown.is_none() && chmod.is_none() {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        if !content {
            o.msg = Some(format!(
                "{msg}, and ownership, perms or SE linux context changed"
            ));
            let mut s = format!(
                "# opsctl htpasswd: attributes\nf={}\n",
                shell_quote(&w.path)
            );
            if let Some(c) = &chown {
                s.push_str(&format!("chown {} -- \"$f\" || exit 1\n", shell_quote(c)));
            }
            if let Some(m) = chmod {
                s.push_str(&format!("chmod {m:o} -- \"$f\" || exit 1\n"));
            }
            return Ok(script_plan(o, s, None));
        }
        o.data.insert("path".into(), json!(w.path));
        let stdin = w.password.clone().map(String::into_bytes);
        Ok(script_plan(o, writer(&w, !exists, chown, chmod), stdin))
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        script_applied(planned, result, |_| "updating the password file".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_in_a_script() {
        let a = HTPASSWD
            .validate(
                json!({"path": "/etc/nginx/.htpasswd", "name": "alice", "password": "s3cret-pw", "crypt_scheme": "sha512_crypt"})
                    .as_object()
                    .unwrap(),
                true,
            )
            .unwrap();
        let w = want(&a).unwrap();
        assert_eq!(w.scheme, "sha512_crypt");
        for s in [probe(&w), writer(&w, true, None, Some(0o640))] {
            assert!(!s.contains("s3cret"), "{s}");
        }
        assert!(writer(&w, false, None, None).contains("openssl passwd -6 -stdin"));
        assert!(format!("{:?}", secret(&w)).contains("(hidden)"));
    }
}
