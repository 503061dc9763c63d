//! What the PostgreSQL modules (postgresql_db, postgresql_user,
//! postgresql_privs, postgresql_ext) share: the connection arguments of
//! community.postgresql (`login_user`, `login_password`, `login_host`,
//! `login_unix_socket`, `port`, `ssl_mode`, `ca_cert`, `ssl_cert`, `ssl_key`,
//! `connect_params`, `session_role`), the `psql` invocation on the host, SQL
//! quoting and the reading of a probe's one JSON line.
//!
//! Everything goes through `psql` on the host, run as the task's become user
//! (`become_user: postgres` for peer authentication, as Ansible users do). The
//! connection is given to libpq through its environment (`PGHOST`, `PGPORT`,
//! `PGUSER`, `PGDATABASE`, `PGSSLMODE`...); a `login_password` is never on a
//! command line or in a script: it is the first line of the exec's stdin, read
//! into `PGPASSWORD` by the script. SQL that holds a secret (a password hash)
//! follows it on stdin, never in the script (which `-vvvv` shows).
//!
//! Reads are catalog queries that print one JSON object (`json_build_object`),
//! parsed here; they never change anything.

use serde_json::Value as Json;

use super::Args;
use super::fail::{self, Fail};
use super::protocol::{Facts, Need, SecretProbe};
use crate::transport::{Output, shell_quote};

/// A module's arguments followed by the connection arguments every
/// PostgreSQL module takes (community.postgresql's common argument spec).
#[macro_export]
#[doc(hidden)]
macro_rules! postgres_args {
    ($($arg:expr),* $(,)?) => {
        &[
            $($arg,)*
            $crate::modules::ArgSpec::new("login_user", $crate::modules::Kind::Str).aliases(&["login"]),
            $crate::modules::ArgSpec::new("login_password", $crate::modules::Kind::Str),
            $crate::modules::ArgSpec::new("login_host", $crate::modules::Kind::Str).aliases(&["host"]),
            $crate::modules::ArgSpec::new("login_unix_socket", $crate::modules::Kind::Str).aliases(&["unix_socket"]),
            $crate::modules::ArgSpec::new("port", $crate::modules::Kind::Int).aliases(&["login_port"]),
            $crate::modules::ArgSpec::new(
                "ssl_mode",
                $crate::modules::Kind::Choice(&["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]),
            ),
            $crate::modules::ArgSpec::new("ca_cert", $crate::modules::Kind::Str).aliases(&["ssl_rootcert"]),
            $crate::modules::ArgSpec::new("ssl_cert", $crate::modules::Kind::Str),
            $crate::modules::ArgSpec::new("ssl_key", $crate::modules::Kind::Str),
            $crate::modules::ArgSpec::new("connect_params", $crate::modules::Kind::Dict),
            $crate::modules::ArgSpec::new("session_role", $crate::modules::Kind::Str),
            $crate::modules::ArgSpec::new("trust_input", $crate::modules::Kind::Bool),
        ]
    };
}

/// libpq's settings from `connect_params` that have an environment variable.
const PARAMS: &[(&str, &str)] = &[
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("application_name", "PGAPPNAME"),
    ("options", "PGOPTIONS"),
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("sslcrl", "PGSSLCRL"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
    ("passfile", "PGPASSFILE"),
    ("service", "PGSERVICE"),
    ("gssencmode", "PGGSSENCMODE"),
    ("channel_binding", "PGCHANNELBINDING"),
];

/// How to reach the server: the environment of `psql`, the password apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    env: Vec<(String, String)>,
    password: Option<String>,
    session_role: Option<String>,
}

impl Conn {
    /// From the task's arguments; `db` is the database to connect to.
    pub fn new(args: &Args, db: &str) -> Result<Conn, Fail> {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: String| env.push((k.to_string(), v));
        set("PGDATABASE", db.to_string());
        set(
            "PGUSER",
            args.string("login_user")
                .unwrap_or_else(|| "postgres".into()),
        );
        // login_host wins over the socket, as in Ansible
        if let Some(h) = args.string("login_host").filter(|h| !h.is_empty()) {
            set("PGHOST", h);
        } else if let Some(s) = args.string("login_unix_socket").filter(|s| !s.is_empty()) {
            set("PGHOST", s);
        }
        set("PGPORT", args.int("port").unwrap_or(5432).to_string());
        set(
            "PGSSLMODE",
            args.string("ssl_mode").unwrap_or_else(|| "prefer".into()),
        );
        for (arg, var) in [
            ("ca_cert", "PGSSLROOTCERT"),
            ("ssl_cert", "PGSSLCERT"),
            ("ssl_key", "PGSSLKEY"),
        ] {
            if let Some(v) = args.string(arg) {
                set(var, v);
            }
        }
        set("PGAPPNAME", "opsctl".into());
        if let Some(Json::Object(m)) = args.get("connect_params") {
            for (k, v) in m {
                let Some((_, var)) = PARAMS.iter().find(|(p, _)| p == k) else {
                    let known: Vec<&str> = PARAMS.iter().map(|(p, _)| *p).collect();
                    return fail::bad_args(format!(
                        "connect_params: unknown libpq setting '{k}' (known: {})",
                        known.join(", ")
                    ));
                };
                let v = match v {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                env.retain(|(n, _)| n != var);
                env.push((var.to_string(), v));
            }
        }
        for (k, v) in &env {
            if v.contains(['\n', '\0']) {
                return fail::bad_args(format!("{k}: a connection setting holds a line break"));
            }
        }
        let password = args.string("login_password").filter(|p| !p.is_empty());
        if password.as_deref().is_some_and(|p| p.contains('\n')) {
            return fail::bad_args("login_password holds a line break");
        }
        Ok(Conn {
            env,
            password,
            session_role: args.string("session_role").filter(|r| !r.is_empty()),
        })
    }

    /// The database connected to.
    pub fn database(&self) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == "PGDATABASE")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The shell lines that set up `psql`'s environment (the password read
    /// from the first line of stdin when there is one).
    fn prelude(&self, what: &str) -> String {
        let mut s = format!(
            "# opsctl {what}\ncommand -v psql >/dev/null 2>&1 || {{ echo '@@nopsql'; exit 3; }}\n"
        );
        for (k, v) in &self.env {
            s.push_str(&format!("export {k}={}\n", shell_quote(v)));
        }
        if self.password.is_some() {
            s.push_str("IFS= read -r PGPASSWORD || true\nexport PGPASSWORD\n");
        }
        s
    }

    /// The SQL prefix that switches to `session_role`.
    fn role_sql(&self) -> String {
        match &self.session_role {
            Some(r) => format!("SET ROLE {};\n", ident(r)),
            None => String::new(),
        }
    }

    /// The stdin of an exec: the password line first, when there is one.
    fn stdin(&self, rest: &str) -> Vec<u8> {
        secret_first(self.password.as_deref(), rest)
    }

    /// A read-only catalog query that prints one JSON value: a probe (a
    /// secret probe when a password goes on stdin).
    pub fn probe(&self, what: &str, sql: &str) -> Need {
        let script = format!(
            "{}psql -X -q -A -t -v ON_ERROR_STOP=1 <<'OPSCTL_SQL'\n{}{sql}\nOPSCTL_SQL\n",
            self.prelude(what),
            self.role_sql()
        );
        match &self.password {
            Some(_) => Need::SecretProbe(SecretProbe {
                script,
                stdin: self.stdin(""),
            }),
            None => Need::Probe(script),
        }
    }

    /// A read whose SQL holds a secret (a password hash to compare): the SQL
    /// goes on stdin, after the password line; always a secret probe.
    pub fn secret_probe(&self, what: &str, sql: &str) -> Need {
        let script = format!(
            "{}exec psql -X -q -A -t -v ON_ERROR_STOP=1 -f -\n",
            self.prelude(what)
        );
        Need::SecretProbe(SecretProbe {
            script,
            stdin: self.stdin(&format!("{}{sql}\n", self.role_sql())),
        })
    }

    /// A script of the caller's (`body`) after the connection's prelude
    /// (pg_dump, pg_restore...), the password on stdin.
    pub fn script(&self, what: &str, body: &str) -> super::protocol::Action {
        super::protocol::Action::Script {
            script: format!("{}{body}", self.prelude(what)),
            stdin: Some(self.stdin("")),
        }
    }

    /// The change: `statements` run by `psql` from stdin (so hashes stay out
    /// of the script); in one transaction unless `transaction` is false
    /// (CREATE DATABASE cannot run in one).
    pub fn change(
        &self,
        what: &str,
        statements: &[String],
        transaction: bool,
    ) -> super::protocol::Action {
        let single = if transaction { " -1" } else { "" };
        let script = format!(
            "{}exec psql -X -q -A -t -v ON_ERROR_STOP=1{single} -f -\n",
            self.prelude(what)
        );
        let mut sql = self.role_sql();
        for s in statements {
            sql.push_str(s);
            sql.push_str(";\n");
        }
        super::protocol::Action::Script {
            script,
            stdin: Some(self.stdin(&sql)),
        }
    }
}

/// An exec's stdin: the secret's line first, when there is one, then `rest`
/// (the database modules' password, read by their script's first `read`).
pub fn secret_first(secret: Option<&str>, rest: &str) -> Vec<u8> {
    let mut v = Vec::new();
    if let Some(p) = secret {
        v.extend_from_slice(p.as_bytes());
        v.push(b'\n');
    }
    v.extend_from_slice(rest.as_bytes());
    v
}

/// The output of a probe `need`, parsed: its JSON line, or a failure that says
/// what to do.
pub fn read(need: &Need, facts: &Facts) -> Result<Json, Fail> {
    let out = match need {
        Need::SecretProbe(p) => facts.secret_probe(p)?,
        Need::Probe(s) => facts.probe(s)?,
        _ => return fail::bad_args("internal error: not a probe"),
    };
    parse(out)
}

fn parse(out: &Output) -> Result<Json, Fail> {
    let stdout = out.stdout_str();
    if stdout.contains("@@nopsql") {
        return fail::fail(
            "psql is not installed on this host: install the postgresql-client (or postgresql) package first",
        );
    }
    if !out.success() {
        return Err(Fail::Task(failure(out)));
    }
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    let Some(line) = line else {
        return fail::fail("psql printed nothing for a catalog query");
    };
    serde_json::from_str(line.trim()).map_err(|e| {
        Fail::Task(format!(
            "psql printed something else than JSON ({e}): {line}"
        ))
    })
}

/// psql's error, with what to do about the usual ones.
pub fn failure(out: &Output) -> String {
    let err = out.stderr_str();
    let err = err.trim();
    let err = if err.is_empty() {
        out.stdout_str().trim().to_string()
    } else {
        err.to_string()
    };
    let hint = if err.contains("Peer authentication failed") {
        " (run the task as the database user: `become: true` with `become_user: postgres`, or give login_user/login_password with login_host)"
    } else if err.contains("No such file or directory") && err.contains("socket") {
        " (is the PostgreSQL server running? `service postgresql start`; or give login_host/login_unix_socket/port)"
    } else if err.contains("password authentication failed") {
        " (check login_user and login_password)"
    } else {
        ""
    };
    let msg = err
        .lines()
        .filter(|l| !l.starts_with("could not change directory to"))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "psql failed (rc {}): {msg}{hint}",
        out.rc.map(|r| r.to_string()).unwrap_or("signal".into())
    )
}

/// The default reading of a change: success, or psql's error.
pub fn applied(
    planned: super::Outcome,
    result: super::protocol::Applied,
) -> Result<super::Outcome, Fail> {
    match result {
        super::protocol::Applied::Script(out) if !out.success() => {
            if out.stdout_str().contains("@@nopsql") {
                return parse(&out).map(|_| planned);
            }
            fail::fail(failure(&out))
        }
        _ => Ok(planned),
    }
}

/// A SQL string literal (standard_conforming_strings: only `'` is doubled).
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\0', "").replace('\'', "''"))
}

/// A quoted SQL identifier (`"x"`, `"` doubled), as Ansible's
/// `pg_quote_identifier` quotes names.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('\0', "").replace('"', "\"\""))
}

/// A possibly schema-qualified name (`schema.table`), each part quoted.
pub fn qualified(s: &str) -> String {
    s.split('.').map(ident).collect::<Vec<_>>().join(".")
}

/// A field of a JSON object as text ("" when null or missing).
pub fn text(v: &Json, key: &str) -> String {
    match &v[key] {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Queries as Ansible registers them, with password literals masked.
pub fn shown(statements: &[String]) -> Json {
    Json::Array(
        statements
            .iter()
            .map(|s| {
                let masked = match s.find(" PASSWORD '") {
                    Some(i) => {
                        let start = i + " PASSWORD '".len();
                        let rest = &s[start..];
                        // the literal ends at the first lone quote
                        let mut end = rest.len();
                        let b = rest.as_bytes();
                        let mut j = 0;
                        while j < b.len() {
                            if b[j] == b'\'' {
                                if b.get(j + 1) == Some(&b'\'') {
                                    j += 2;
                                    continue;
                                }
                                end = j;
                                break;
                            }
                            j += 1;
                        }
                        format!("{}********{}", &s[..start], &rest[end..])
                    }
                    None => s.clone(),
                };
                Json::String(masked)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static SPEC: crate::modules::Spec = crate::modules::Spec::new("t", crate::postgres_args!());

    #[test]
    fn quoting() {
        assert_eq!(lit("it's"), "'it''s'");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(qualified("public.t"), "\"public\".\"t\"");
    }

    #[test]
    fn passwords_are_masked_in_queries() {
        let q =
            vec!["ALTER ROLE \"a\" WITH PASSWORD 'SCRAM-SHA-256$4096:x''y$z' LOGIN".to_string()];
        assert_eq!(
            shown(&q),
            json!(["ALTER ROLE \"a\" WITH PASSWORD '********' LOGIN"])
        );
    }

    #[test]
    fn the_password_is_on_stdin_never_in_the_script() {
        let args = SPEC
            .validate(
                json!({"login_password": "s3cret", "login_host": "db1"})
                    .as_object()
                    .unwrap(),
                true,
            )
            .unwrap();
        let c = Conn::new(&args, "app").unwrap();
        let Need::SecretProbe(p) = c.probe("read", "SELECT 1") else {
            panic!("a secret probe")
        };
        assert!(!p.script.contains("s3cret"));
        assert!(p.script.contains("export PGHOST=db1"));
        assert!(p.script.contains("export PGDATABASE=app"));
        assert_eq!(p.stdin, b"s3cret\n");
        let super::super::protocol::Action::Script { script, stdin } =
            c.change("x", &["SELECT 2".into()], true)
        else {
            panic!()
        };
        assert!(!script.contains("s3cret") && !script.contains("SELECT 2"));
        assert_eq!(stdin.unwrap(), b"s3cret\nSELECT 2;\n");
    }

    #[test]
    fn unknown_connect_params_are_errors() {
        let args = SPEC
            .validate(
                json!({"connect_params": {"nope": 1}}).as_object().unwrap(),
                true,
            )
            .unwrap();
        assert!(
            Conn::new(&args, "x")
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
    }
}
