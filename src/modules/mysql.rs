//! What the MySQL/MariaDB modules (mysql_db, mysql_user) share: the
//! connection arguments of community.mysql (`login_user`, `login_password`,
//! `login_host`, `login_port`, `login_unix_socket`, `connect_timeout`,
//! `config_file`, `client_cert`, `client_key`, `ca_cert`, `check_hostname`,
//! `check_implicit_admin`), the `mysql` client invocation on the host, SQL
//! quoting and the reading of a probe's JSON lines.
//!
//! Everything goes through the `mysql` client on the host, run as the task's
//! user: by default as root over the unix socket, as Debian's mariadb-server
//! lets root in. The connection is an option file made for the run: created
//! 0600 by `mktemp` (umask 077), removed when the script exits, read with
//! `--defaults-file` so that only it counts; it `!include`s `config_file`
//! (`~/.my.cnf` by default) when that exists, then sets what the task gives
//! (later lines win, as login_* win over the config file in Ansible). A
//! `login_password` is never on a command line or in a script: it is the
//! first line of the exec's stdin, appended to the option file by the shell's
//! `printf` builtin. SQL that holds a secret (a password or its hash) follows
//! it on stdin, never in the script (which `-vvvv` shows).

use serde_json::Value as Json;

use super::Args;
use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Facts, Need, SecretProbe};
use crate::transport::{Output, shell_quote};

/// A module's arguments followed by the connection arguments every
/// community.mysql module takes.
#[macro_export]
#[doc(hidden)]
macro_rules! mysql_args {
    ($($arg:expr),* $(,)?) => {
        &[
            $($arg,)*
            $crate::modules::ArgSpec::new("login_user", $crate::modules::Kind::Str),
            $crate::modules::ArgSpec::new("login_password", $crate::modules::Kind::Str),
            $crate::modules::ArgSpec::new("login_host", $crate::modules::Kind::Str),
            $crate::modules::ArgSpec::new("login_port", $crate::modules::Kind::Int),
            $crate::modules::ArgSpec::new("login_unix_socket", $crate::modules::Kind::Str),
            $crate::modules::ArgSpec::new("connect_timeout", $crate::modules::Kind::Int),
            $crate::modules::ArgSpec::new("config_file", $crate::modules::Kind::Str),
            $crate::modules::ArgSpec::new("client_cert", $crate::modules::Kind::Str).aliases(&["ssl_cert"]),
            $crate::modules::ArgSpec::new("client_key", $crate::modules::Kind::Str).aliases(&["ssl_key"]),
            $crate::modules::ArgSpec::new("ca_cert", $crate::modules::Kind::Str).aliases(&["ssl_ca"]),
            $crate::modules::ArgSpec::new("check_hostname", $crate::modules::Kind::Bool),
            $crate::modules::ArgSpec::new("check_implicit_admin", $crate::modules::Kind::Bool),
        ]
    };
}

/// How to reach the server: the option file's lines, the password apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    /// `[client]` settings but the password (`user="app"`...).
    lines: Vec<String>,
    /// The `password="..."` line, when a login_password is given.
    password: Option<String>,
    /// The config file to include (`~/.my.cnf` unless the task says otherwise).
    config_file: Option<String>,
    /// Try root without a password first (`check_implicit_admin`).
    implicit_admin: bool,
    /// Seconds (the `mysql` client's own setting: mysqldump has none).
    connect_timeout: i64,
}

/// A value in an option file: double-quoted, `\` and `"` escaped (what the
/// MariaDB and MySQL clients read back as the value).
fn opt_value(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Conn {
    /// From the task's arguments.
    pub fn new(args: &Args) -> Result<Conn, Fail> {
        let mut lines = Vec::new();
        let mut set = |k: &str, v: &str| -> Result<(), Fail> {
            if v.contains(['\n', '\r', '\0']) {
                return fail::bad_args(format!("{k}: a connection setting holds a line break"));
            }
            lines.push(format!("{k}={}", opt_value(v)));
            Ok(())
        };
        let s = |k: &str| args.string(k).filter(|v| !v.is_empty());
        if let Some(u) = s("login_user") {
            set("user", &u)?;
        }
        // the default host (localhost: the socket) unless config_file's
        // settings override the defaults (mysql_db's config_overrides_defaults)
        match s("login_host") {
            Some(h) => set("host", &h)?,
            None if args.bool_or("config_overrides_defaults", false) => {}
            None => set("host", "localhost")?,
        }
        if let Some(p) = args.int("login_port") {
            set("port", &p.to_string())?;
        }
        if let Some(sock) = s("login_unix_socket") {
            set("socket", &sock)?;
        }
        for (arg, opt) in [
            ("client_cert", "ssl-cert"),
            ("client_key", "ssl-key"),
            ("ca_cert", "ssl-ca"),
        ] {
            if let Some(v) = s(arg) {
                set(opt, &v)?;
            }
        }
        if args.bool("check_hostname") == Some(true) {
            lines.push("ssl-verify-server-cert".into());
        }
        let password = match args.string("login_password").filter(|p| !p.is_empty()) {
            Some(p) if p.contains(['\n', '\r', '\0']) => {
                return fail::bad_args("login_password holds a line break");
            }
            Some(p) => Some(format!("password={}", opt_value(&p))),
            None => None,
        };
        let config_file = match args.string("config_file") {
            Some(c) if c.is_empty() => None,
            Some(c) => Some(c),
            None => Some("~/.my.cnf".into()),
        };
        Ok(Conn {
            lines,
            password,
            config_file,
            implicit_admin: args.bool_or("check_implicit_admin", false),
            connect_timeout: args.int("connect_timeout").unwrap_or(30),
        })
    }

    /// Does a secret go on stdin?
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The shell lines that make the option file (`$opsctl_cnf`) and define
    /// `opsctl_mysql` (the client on it) and `opsctl_dump` (mysqldump on it).
    fn prelude(&self, what: &str) -> String {
        let mut s = format!(
            "# opsctl {what}\ncommand -v mysql >/dev/null 2>&1 || {{ echo '@@nomysql'; exit 3; }}\n\
             umask 077\nopsctl_cnf=$(mktemp) || exit 1\nopsctl_root=\n\
             trap 'rm -f \"$opsctl_cnf\" $opsctl_root' EXIT\ntrap 'exit 1' HUP INT TERM\n{{\n"
        );
        if let Some(c) = &self.config_file {
            let path = match c.strip_prefix("~/") {
                Some(rest) => format!("\"$HOME\"/{}", shell_quote(rest)),
                None => shell_quote(c),
            };
            s.push_str(&format!(
                "  [ -f {path} ] && [ -r {path} ] && printf '!include %s\\n' {path}\n"
            ));
        }
        s.push_str("  cat <<'OPSCTL_CNF'\n[client]\n");
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(&format!(
            "[mysql]\nconnect-timeout={}\nOPSCTL_CNF\n}} > \"$opsctl_cnf\"\n",
            self.connect_timeout
        ));
        if self.password.is_some() {
            s.push_str(
                "IFS= read -r opsctl_pw || true\nprintf '[client]\\n%s\\n' \"$opsctl_pw\" >> \"$opsctl_cnf\"\nopsctl_pw=\n",
            );
        }
        if self.implicit_admin {
            // root without a password first, as Ansible's check_implicit_admin
            s.push_str("opsctl_root=$(mktemp) || exit 1\ncat > \"$opsctl_root\" <<'OPSCTL_CNF'\n[client]\nuser=root\npassword=\"\"\n");
            for l in self.lines.iter().filter(|l| !l.starts_with("user=")) {
                s.push_str(l);
                s.push('\n');
            }
            s.push_str(&format!(
                "[mysql]\nconnect-timeout={}\n",
                self.connect_timeout
            ));
            s.push_str(
                "OPSCTL_CNF\nif mysql --defaults-file=\"$opsctl_root\" -N -B -e 'SELECT 1' >/dev/null 2>&1 </dev/null; then\n  mv \"$opsctl_root\" \"$opsctl_cnf\"\nfi\n",
            );
        }
        s.push_str(
            "opsctl_mysql() { mysql --defaults-file=\"$opsctl_cnf\" -N -B -r \"$@\"; }\n\
             opsctl_dump() { mysqldump --defaults-file=\"$opsctl_cnf\" \"$@\"; }\n",
        );
        s
    }

    /// The stdin of an exec: the password line first, when there is one.
    fn stdin(&self, rest: &str) -> Vec<u8> {
        super::postgres::secret_first(self.password.as_deref(), rest)
    }

    /// A read-only script (queries and shell around them, using
    /// `opsctl_mysql`): a probe, or a secret probe when a password goes on
    /// stdin.
    pub fn probe_script(&self, what: &str, body: &str) -> Need {
        let script = format!("{}{body}", self.prelude(what));
        match &self.password {
            Some(_) => Need::SecretProbe(SecretProbe {
                script,
                stdin: self.stdin(""),
            }),
            None => Need::Probe(script),
        }
    }

    /// A read-only query (no secret in it) whose rows are printed one a line.
    pub fn probe(&self, what: &str, sql: &str) -> Need {
        self.probe_script(
            what,
            &format!("opsctl_mysql <<'OPSCTL_SQL'\n{sql}\nOPSCTL_SQL\n"),
        )
    }

    /// A read whose SQL holds a secret (a password hash to compare): the SQL
    /// goes on stdin, after the password line; always a secret probe.
    pub fn secret_probe(&self, what: &str, sql: &str) -> Need {
        Need::SecretProbe(SecretProbe {
            script: format!("{}opsctl_mysql\n", self.prelude(what)),
            stdin: self.stdin(&format!("{sql}\n")),
        })
    }

    /// A script of the caller's (`body`: mysqldump, an import...) after the
    /// connection's prelude, the password on stdin.
    pub fn script(&self, what: &str, body: &str) -> Action {
        Action::Script {
            script: format!("{}{body}", self.prelude(what)),
            stdin: Some(self.stdin("")),
        }
    }

    /// The change: `statements` run by the client from stdin (so passwords
    /// stay out of the script); the client stops at the first error.
    pub fn change(&self, what: &str, statements: &[String]) -> Action {
        let mut sql = String::new();
        for s in statements {
            sql.push_str(s);
            sql.push_str(";\n");
        }
        Action::Script {
            script: format!("{}opsctl_mysql\n", self.prelude(what)),
            stdin: Some(self.stdin(&sql)),
        }
    }
}

/// The output of a probe `need`: its stdout, or a failure that says what to do.
pub fn output<'a>(need: &Need, facts: &'a Facts) -> Result<&'a Output, Fail> {
    let out = match need {
        Need::SecretProbe(p) => facts.secret_probe(p)?,
        Need::Probe(s) => facts.probe(s)?,
        _ => return fail::bad_args("internal error: not a probe"),
    };
    if out.stdout_str().contains("@@nomysql") {
        return fail::fail(NO_CLIENT);
    }
    if !out.success() {
        return Err(Fail::Task(failure(out)));
    }
    Ok(out)
}

/// The JSON rows a probe printed (one JSON value a line).
pub fn rows(need: &Need, facts: &Facts) -> Result<Vec<Json>, Fail> {
    json_lines(&output(need, facts)?.stdout_str())
}

/// Each non-empty line as JSON.
pub fn json_lines(text: &str) -> Result<Vec<Json>, Fail> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l.trim()).map_err(|e| {
                Fail::Task(format!("mysql printed something else than JSON ({e}): {l}"))
            })
        })
        .collect()
}

const NO_CLIENT: &str = "the mysql client is not installed on this host: install mariadb-client (or default-mysql-client, or the server: mariadb-server)";

/// The client's error, with what to do about the usual ones.
pub fn failure(out: &Output) -> String {
    let err = out.stderr_str();
    let err = if err.trim().is_empty() {
        out.stdout_str()
    } else {
        err
    };
    let err = err.trim();
    let hint = if err.contains("Access denied") && err.contains("using password: YES") {
        " (check login_user and login_password, or the password of config_file)"
    } else if err.contains("Access denied") {
        " (run the task as root, `become: true`, so the unix socket lets it in as on Debian's mariadb-server; or give login_user and login_password, or a config_file such as ~/.my.cnf)"
    } else if err.contains("Can't connect to local") || err.contains("Can't connect to server") {
        " (is the server running? `service mariadb start`; or give login_host, login_port or login_unix_socket)"
    } else {
        ""
    };
    format!(
        "mysql failed (rc {}): {}{hint}",
        out.rc.map(|r| r.to_string()).unwrap_or("signal".into()),
        err.lines().collect::<Vec<_>>().join(" ")
    )
}

/// The default reading of a change: success, or the client's error.
pub fn applied(planned: super::Outcome, result: Applied) -> Result<super::Outcome, Fail> {
    match result {
        Applied::Script(out) if !out.success() => {
            if out.stdout_str().contains("@@nomysql") {
                return fail::fail(NO_CLIENT);
            }
            fail::fail(failure(&out))
        }
        _ => Ok(planned),
    }
}

/// A SQL string literal (`'` doubled, `\` escaped: the server's default
/// sql_mode reads backslash escapes).
pub fn lit(s: &str) -> String {
    format!(
        "'{}'",
        s.replace('\0', "")
            .replace('\\', "\\\\")
            .replace('\'', "''")
    )
}

/// A quoted identifier (`` `x` ``, backticks doubled).
pub fn ident(s: &str) -> String {
    format!("`{}`", s.replace('\0', "").replace('`', "``"))
}

/// A field of a JSON object as text ("" when null or missing).
pub fn text(v: &Json, key: &str) -> String {
    match &v[key] {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Queries as Ansible registers them, with password literals masked
/// (`IDENTIFIED BY '...'`, `BY PASSWORD '...'`, `USING '...'`, `AS '...'`).
pub fn shown(statements: &[String]) -> Json {
    let re =
        regex::Regex::new(r"(?i)((?:IDENTIFIED BY(?: PASSWORD)?|USING|AS) )'(?:[^'\\]|''|\\.)*'")
            .expect("a valid regex");
    Json::Array(
        statements
            .iter()
            .map(|s| Json::String(re.replace_all(s, "$1'********'").into_owned()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static SPEC: crate::modules::Spec = crate::modules::Spec::new("t", crate::mysql_args!());

    fn conn(v: Json) -> Conn {
        let args = SPEC.validate(v.as_object().unwrap(), true).unwrap();
        Conn::new(&args).unwrap()
    }

    #[test]
    fn quoting() {
        assert_eq!(lit("it's a\\b"), "'it''s a\\\\b'");
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(opt_value("a\\b\"c#d"), "\"a\\\\b\\\"c#d\"");
    }

    #[test]
    fn passwords_are_masked_in_queries() {
        let q = vec![
            "CREATE USER 'a'@'localhost' IDENTIFIED BY PASSWORD '*ABC'".to_string(),
            "ALTER USER 'a'@'%' IDENTIFIED VIA ed25519 USING 'x''y'".to_string(),
        ];
        assert_eq!(
            shown(&q),
            json!([
                "CREATE USER 'a'@'localhost' IDENTIFIED BY PASSWORD '********'",
                "ALTER USER 'a'@'%' IDENTIFIED VIA ed25519 USING '********'"
            ])
        );
    }

    #[test]
    fn the_password_is_on_stdin_never_in_the_script() {
        let c =
            conn(json!({"login_user": "admin", "login_password": "s3cr\"et", "login_host": "db1"}));
        let Need::SecretProbe(p) = c.probe("read", "SELECT 1") else {
            panic!("a secret probe")
        };
        assert!(!p.script.contains("s3cr"));
        assert!(p.script.contains("user=\"admin\"\nhost=\"db1\"\n"));
        assert!(p.script.contains("!include"));
        assert_eq!(p.stdin, b"password=\"s3cr\\\"et\"\n");
        let Action::Script { script, stdin } = c.change("x", &["SELECT 2".into()]) else {
            panic!()
        };
        assert!(!script.contains("s3cr") && !script.contains("SELECT 2"));
        assert_eq!(stdin.unwrap(), b"password=\"s3cr\\\"et\"\nSELECT 2;\n");
    }

    #[test]
    fn defaults_are_the_socket_as_who_runs_it() {
        let c = conn(json!({"config_file": ""}));
        let Need::Probe(s) = c.probe("read", "SELECT 1") else {
            panic!("a plain probe without a password")
        };
        assert!(!s.contains("user=") && s.contains("host=\"localhost\""));
        assert!(!s.contains("!include"));
    }

    #[test]
    fn config_overrides_defaults_leaves_the_host_to_the_config_file() {
        static DB: crate::modules::Spec = crate::modules::Spec::new(
            "t",
            crate::mysql_args!(crate::modules::ArgSpec::new(
                "config_overrides_defaults",
                crate::modules::Kind::Bool
            )),
        );
        let args = DB
            .validate(
                json!({"config_overrides_defaults": true, "config_file": "/etc/app.cnf"})
                    .as_object()
                    .unwrap(),
                true,
            )
            .unwrap();
        let Need::Probe(s) = Conn::new(&args).unwrap().probe("read", "SELECT 1") else {
            panic!("a plain probe")
        };
        assert!(
            !s.contains("host=") && s.contains("[ -f /etc/app.cnf ]"),
            "{s}"
        );
    }
}
