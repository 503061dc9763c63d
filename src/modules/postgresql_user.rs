//! postgresql_user (community.postgresql): a role present with its password,
//! attributes (`role_attr_flags`), expiry, connection limit, comment and
//! settings (`configuration`), or absent.
//!
//! On the module protocol, through `psql` on the host (see `postgres`):
//! 1. a catalog query reads the role (`pg_roles`), the server's
//!    `password_encryption` and, when the login may read `pg_authid`, only the
//!    public part of the stored password: its kind and, for SCRAM, the
//!    iteration count and salt (what any client sees when it logs in);
//! 2. when a password is given, `decide` computes in Rust the verifier the
//!    password would have with that salt (SCRAM-SHA-256, or md5 of
//!    password+name) and asks again (`Plan::More`) whether the stored one
//!    equals it: that SQL, which holds the verifier, goes on the stdin of a
//!    secret probe, never in a script or an output.
//!
//! A password that changes is sent already hashed (SCRAM-SHA-256 with a new
//! random salt, or md5, following the server's `password_encryption`, as
//! `psql`'s `\password` does; a password given as an md5 or SCRAM hash is
//! sent as it is), in SQL on stdin; `queries` shows it as `********`. When the
//! login cannot read `pg_authid` the password is set every run (as Ansible
//! does: it cannot compare).

use hmac::{Hmac, Mac};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use super::fail::{self, Fail};
use super::postgres::{self, Conn, ident, lit};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};

pub static POSTGRESQL_USER: Spec = Spec::new(
    "postgresql_user",
    crate::postgres_args!(
        ArgSpec::new("name", Kind::Str)
            .required()
            .aliases(&["user"]),
        ArgSpec::new("password", Kind::Str),
        ArgSpec::new("db", Kind::Str).aliases(&["login_db"]),
        ArgSpec::new("fail_on_user", Kind::Bool).aliases(&["fail_on_role"]),
        ArgSpec::new("role_attr_flags", Kind::Str),
        ArgSpec::new("encrypted", Kind::Bool),
        ArgSpec::new("expires", Kind::Str),
        ArgSpec::new("no_password_changes", Kind::Bool),
        ArgSpec::new("conn_limit", Kind::Int),
        ArgSpec::new("comment", Kind::Str),
        ArgSpec::new("configuration", Kind::Dict),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
    ),
);

/// The role attributes `role_attr_flags` sets, with their `pg_roles` column.
const FLAGS: &[(&str, &str)] = &[
    ("SUPERUSER", "rolsuper"),
    ("CREATEROLE", "rolcreaterole"),
    ("CREATEDB", "rolcreatedb"),
    ("INHERIT", "rolinherit"),
    ("LOGIN", "rolcanlogin"),
    ("REPLICATION", "rolreplication"),
    ("BYPASSRLS", "rolbypassrls"),
];

#[derive(Debug, Clone, Default)]
struct Want {
    name: String,
    password: Option<String>,
    present: bool,
    fail_on_user: bool,
    /// (flag, on)
    flags: Vec<(String, bool)>,
    expires: Option<String>,
    no_password_changes: bool,
    conn_limit: Option<i64>,
    comment: Option<String>,
    configuration: Vec<(String, String)>,
}

impl Want {
    fn new(args: &Args) -> Result<Want, Fail> {
        let name = args.string("name").unwrap_or_default();
        if name.is_empty() {
            return fail::bad_args("name must not be empty");
        }
        let mut flags = Vec::new();
        for f in args
            .string("role_attr_flags")
            .unwrap_or_default()
            .split(',')
            .map(|f| f.trim().to_ascii_uppercase())
            .filter(|f| !f.is_empty())
        {
            let (base, on) = match f.strip_prefix("NO") {
                Some(b) if FLAGS.iter().any(|(n, _)| *n == b) => (b.to_string(), false),
                _ => (f.clone(), true),
            };
            if !FLAGS.iter().any(|(n, _)| *n == base) {
                let valid: Vec<&str> = FLAGS.iter().map(|(n, _)| *n).collect();
                return fail::bad_args(format!(
                    "role_attr_flags: '{f}' is not a role attribute (valid: {} and their NO forms)",
                    valid.join(", ")
                ));
            }
            flags.retain(|(b, _)| *b != base);
            flags.push((base, on));
        }
        if args.bool("encrypted") == Some(false) {
            return fail::bad_args(
                "encrypted: false (UNENCRYPTED PASSWORD) is not supported since PostgreSQL 10: leave it out",
            );
        }
        let mut configuration = Vec::new();
        if let Some(Json::Object(m)) = args.get("configuration") {
            let key = regex::Regex::new(r"^[A-Za-z_][A-Za-z0-9_.]*$").expect("a valid regex");
            for (k, v) in m {
                if !key.is_match(k) {
                    return fail::bad_args(format!("configuration: '{k}' is not a setting name"));
                }
                let v = match v {
                    Json::String(s) => s.clone(),
                    Json::Bool(b) => if *b { "on" } else { "off" }.into(),
                    other => other.to_string(),
                };
                configuration.push((k.clone(), v));
            }
        }
        let password = args.string("password");
        if password.as_deref().is_some_and(|p| p.contains('\0')) {
            return fail::bad_args("password holds a NUL byte");
        }
        Ok(Want {
            name,
            password,
            present: args.str("state") != Some("absent"),
            fail_on_user: args.bool_or("fail_on_user", true),
            flags,
            expires: args.string("expires").filter(|e| !e.is_empty()),
            no_password_changes: args.bool_or("no_password_changes", false),
            conn_limit: args.int("conn_limit"),
            comment: args.string("comment"),
            configuration,
        })
    }

    fn conn(args: &Args) -> Result<Conn, Fail> {
        let db = args.string("db").unwrap_or_else(|| "postgres".into());
        Conn::new(args, &db)
    }
}

/// The first read: the role, the server's password_encryption and the public
/// part of the stored password (psql's `\if` keeps pg_authid out of the query
/// when the login may not read it).
fn query(w: &Want) -> String {
    let flags: String = FLAGS
        .iter()
        .map(|(f, col)| format!("'{}', r.{col}, ", f.to_ascii_lowercase()))
        .collect();
    let expires = match &w.expires {
        Some(e) => format!(
            "(r.rolvaliduntil IS NOT DISTINCT FROM {}::timestamptz)",
            lit(e)
        ),
        None => "true".into(),
    };
    let role = |password: &str| {
        format!(
            "SELECT json_build_object('encryption', current_setting('password_encryption'), \
             'role', (SELECT json_build_object({flags}'conn_limit', r.rolconnlimit, \
             'valid_until', r.rolvaliduntil::text, 'expires_match', {expires}, \
             'config', r.rolconfig, 'comment', shobj_description(r.oid, 'pg_authid'), \
             'password', {password}) FROM pg_roles r WHERE r.rolname = {}));",
            lit(&w.name)
        )
    };
    let authid = "(SELECT CASE WHEN a.rolpassword IS NULL THEN 'none' \
         WHEN a.rolpassword LIKE 'SCRAM-SHA-256$%' THEN split_part(a.rolpassword, '$', 1) || '$' || split_part(a.rolpassword, '$', 2) \
         WHEN a.rolpassword LIKE 'md5%' THEN 'md5' ELSE 'other' END FROM pg_authid a WHERE a.oid = r.oid)";
    format!(
        "SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS opsctl_authid \\gset\n\\if :opsctl_authid\n{}\n\\else\n{}\n\\endif",
        role(authid),
        role("'unknown'")
    )
}

/// The password's stored form: as given when it is already a hash, else
/// hashed with `salt`/`iterations` (SCRAM) or md5 of password+name.
fn verifier(password: &str, user: &str, scram: Option<(u32, &[u8])>) -> String {
    if is_hash(password) {
        return password.to_string();
    }
    match scram {
        Some((iterations, salt)) => scram_verifier(password, salt, iterations),
        None => format!(
            "md5{:x}",
            md5::Md5::digest(format!("{password}{user}").as_bytes())
        ),
    }
}

fn is_hash(p: &str) -> bool {
    (p.len() == 35 && p.starts_with("md5") && p[3..].chars().all(|c| c.is_ascii_hexdigit()))
        || (p.starts_with("SCRAM-SHA-256$") && p.matches('$').count() == 2)
}

/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802/7677,
/// as PostgreSQL stores it).
fn scram_verifier(password: &str, salt: &[u8], iterations: u32) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let hmac = |msg: &[u8]| {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&salted).expect("any key length");
        m.update(msg);
        m.finalize().into_bytes()
    };
    let client_key = hmac(b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    )
}

/// `(iterations, salt)` of a stored SCRAM prefix (`SCRAM-SHA-256$4096:SALT`).
fn scram_params(stored: &str) -> Option<(u32, Vec<u8>)> {
    use base64::Engine;
    let rest = stored.strip_prefix("SCRAM-SHA-256$")?;
    let (iter, salt) = rest.split_once(':')?;
    let salt = base64::engine::general_purpose::STANDARD
        .decode(salt.trim())
        .ok()?;
    Some((iter.trim().parse().ok()?, salt))
}

/// A new password's stored form, following `password_encryption`.
fn new_verifier(password: &str, user: &str, encryption: &str) -> Result<String, Fail> {
    if encryption == "md5" {
        return Ok(verifier(password, user, None));
    }
    let mut salt = [0u8; 16];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut salt))
        .map_err(|e| Fail::Task(format!("cannot read /dev/urandom for a salt: {e}")))?;
    Ok(verifier(password, user, Some((4096, &salt))))
}

/// The second read: does the stored password equal `v`? (SQL on stdin.)
fn match_probe(conn: &Conn, user: &str, v: &str) -> Need {
    conn.secret_probe(
        "postgresql_user: compare the password",
        &format!(
            "SELECT json_build_object('match', rolpassword = {}) FROM pg_authid WHERE rolname = {};",
            lit(v),
            lit(user)
        ),
    )
}

/// What the role's password needs.
enum Pw {
    Keep,
    /// Set it to this stored form (`None`: PASSWORD NULL).
    Set(Option<String>),
    /// Compare first.
    Ask(Need),
}

fn password_plan(
    w: &Want,
    conn: &Conn,
    role: &Json,
    encryption: &str,
    facts: &Facts,
) -> Result<Pw, Fail> {
    let Some(p) = &w.password else {
        return Ok(Pw::Keep);
    };
    if role.is_null() {
        return Ok(Pw::Set(if p.is_empty() {
            None
        } else {
            Some(new_verifier(p, &w.name, encryption)?)
        }));
    }
    if w.no_password_changes {
        return Ok(Pw::Keep);
    }
    let stored = postgres::text(role, "password");
    if p.is_empty() {
        return Ok(if stored == "none" {
            Pw::Keep
        } else {
            Pw::Set(None)
        });
    }
    let expect = match stored.as_str() {
        "none" | "other" | "unknown" => {
            return Ok(Pw::Set(Some(new_verifier(p, &w.name, encryption)?)));
        }
        "md5" => verifier(p, &w.name, None),
        s => match scram_params(s) {
            Some((i, salt)) => verifier(p, &w.name, Some((i, &salt))),
            None => return Ok(Pw::Set(Some(new_verifier(p, &w.name, encryption)?))),
        },
    };
    let need = match_probe(conn, &w.name, &expect);
    if !facts.has(&need) {
        return Ok(Pw::Ask(need));
    }
    let got = postgres::read(&need, facts)?;
    Ok(if got["match"] == json!(true) {
        Pw::Keep
    } else if is_hash(p) {
        Pw::Set(Some(p.clone()))
    } else {
        Pw::Set(Some(new_verifier(p, &w.name, encryption)?))
    })
}

/// The role as `--diff` shows it (the password only as set or not).
fn show(name: &str, role: &Json) -> String {
    if role.is_null() {
        return String::new();
    }
    let mut s = format!("role: {name}\n");
    for (f, _) in FLAGS {
        let k = f.to_ascii_lowercase();
        s.push_str(&format!("{k}: {}\n", role[&k].as_bool().unwrap_or(false)));
    }
    for k in ["conn_limit", "valid_until", "comment"] {
        s.push_str(&format!("{k}: {}\n", postgres::text(role, k)));
    }
    // never the stored form: set or not, or changed
    let pw = match postgres::text(role, "password").as_str() {
        "none" | "" => "none",
        "(changed)" => "(changed)",
        _ => "(set)",
    };
    s.push_str(&format!("password: {pw}\n"));
    if let Some(c) = role["config"].as_array() {
        for e in c {
            s.push_str(&format!("set {}\n", e.as_str().unwrap_or_default()));
        }
    }
    s
}

pub struct PostgresqlUser;

impl Module for PostgresqlUser {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = Want::new(args)?;
        Ok(vec![
            Want::conn(args)?.probe("postgresql_user: read", &query(&w)),
        ])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = Want::new(args)?;
        let conn = Want::conn(args)?;
        let got = postgres::read(&conn.probe("postgresql_user: read", &query(&w)), facts)?;
        let role = &got["role"];
        let encryption = postgres::text(&got, "encryption");
        let q = ident(&w.name);
        let mut res = Outcome::ok().with("user", w.name.clone());
        let mut sql: Vec<String> = Vec::new();
        let mut after = role.clone();
        if !w.present {
            if !role.is_null() {
                sql.push(format!("DROP USER {q}"));
                after = Json::Null;
            }
            res.data
                .insert("user_removed".into(), json!(!sql.is_empty()));
        } else {
            let pw = match password_plan(&w, &conn, role, &encryption, facts)? {
                Pw::Ask(need) => return Ok(Plan::More(vec![need])),
                pw => pw,
            };
            let mut with = String::new();
            if let Pw::Set(v) = &pw {
                match v {
                    Some(v) => with.push_str(&format!(" PASSWORD {}", lit(v))),
                    None => with.push_str(" PASSWORD NULL"),
                }
                if role.is_null() {
                    after = json!({});
                }
                after["password"] = json!(if v.is_some() { "(changed)" } else { "none" });
            }
            if role.is_null() {
                after = json!({"login": true, "inherit": true, "conn_limit": -1,
                                "password": after["password"].as_str().unwrap_or("none")});
            }
            for (f, on) in &w.flags {
                let key = f.to_ascii_lowercase();
                if role.is_null() || role[&key].as_bool() != Some(*on) {
                    with.push_str(&format!(" {}{f}", if *on { "" } else { "NO" }));
                    after[&key] = json!(on);
                }
            }
            if let Some(e) = &w.expires
                && (role.is_null() || role["expires_match"] != json!(true))
            {
                with.push_str(&format!(" VALID UNTIL {}", lit(e)));
                after["valid_until"] = json!(e);
            }
            if let Some(n) = w.conn_limit
                && (role.is_null() || role["conn_limit"].as_i64() != Some(n))
            {
                with.push_str(&format!(" CONNECTION LIMIT {n}"));
                after["conn_limit"] = json!(n);
            }
            if role.is_null() {
                sql.push(format!("CREATE USER {q}{}", with_clause(&with)));
            } else if !with.is_empty() {
                sql.push(format!("ALTER USER {q}{}", with_clause(&with)));
            }
            if let Some(c) = &w.comment
                && (role.is_null() && !c.is_empty()
                    || !role.is_null() && *c != postgres::text(role, "comment"))
            {
                let v = if c.is_empty() { "NULL".into() } else { lit(c) };
                sql.push(format!("COMMENT ON ROLE {q} IS {v}"));
                after["comment"] = json!(c);
            }
            let have: Vec<String> = role["config"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect();
            let mut config = have.clone();
            for (k, v) in &w.configuration {
                let entry = format!("{k}={v}");
                if !have.contains(&entry) {
                    sql.push(format!("ALTER ROLE {q} SET {k} TO {}", lit(v)));
                    config.retain(|e| !e.starts_with(&format!("{k}=")));
                    config.push(entry);
                }
            }
            if !w.configuration.is_empty() {
                after["config"] = json!(config);
            }
        }
        res.data.insert("queries".into(), postgres::shown(&sql));
        if sql.is_empty() {
            return Ok(Plan::Done(res));
        }
        res.changed = true;
        res.msg = Some(if !w.present {
            format!("role {} dropped", w.name)
        } else if role.is_null() {
            format!("role {} created", w.name)
        } else {
            format!("role {} altered", w.name)
        });
        if ctx.diff {
            res.diffs.push(Diff::new(
                format!("role {}", w.name),
                show(&w.name, role),
                show(&w.name, &after),
            ));
        }
        Ok(Plan::change(
            res,
            conn.change("postgresql_user: change", &sql, true),
        ))
    }

    fn applied(
        &self,
        args: &Args,
        mut planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let w = Want::new(args)?;
        if let Applied::Script(out) = &result
            && !out.success()
            && !w.present
            && !w.fail_on_user
        {
            planned.changed = false;
            planned.data.insert("user_removed".into(), json!(false));
            planned.msg = Some(format!(
                "Unable to remove user {}: {}",
                w.name,
                postgres::failure(out)
            ));
            return Ok(planned);
        }
        postgres::applied(planned, result)
    }
}

fn with_clause(with: &str) -> String {
    if with.is_empty() {
        String::new()
    } else {
        format!(" WITH{with}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A verifier PostgreSQL 15 stored for `CREATE ROLE x PASSWORD 'pencil'`
    /// is reproduced from its salt and iteration count.
    #[test]
    fn scram_matches_postgres() {
        let stored = "SCRAM-SHA-256$4096:gUA3zde7zq5rGfh3TmUvRg==$hB/qqmw3ulK6I1o3O9kHAqukVkW9myerauwsMpSZv+s=:fvqr/GNyHqvu+yA3bg5SkQv2BAqVpZ6394mKtqE7bP8=";
        let (i, salt) = scram_params("SCRAM-SHA-256$4096:gUA3zde7zq5rGfh3TmUvRg==").unwrap();
        assert_eq!(i, 4096);
        assert_eq!(verifier("pencil", "scramtest", Some((i, &salt))), stored);
        assert_ne!(verifier("pencil2", "scramtest", Some((i, &salt))), stored);
        // a hash given as the password is kept as it is
        assert_eq!(verifier(stored, "scramtest", None), stored);
    }

    #[test]
    fn md5_is_password_then_name() {
        // md5('secretapp')
        assert_eq!(
            verifier("secret", "app", None),
            format!("md5{:x}", md5::Md5::digest(b"secretapp"))
        );
        assert!(is_hash("md5d41d8cd98f00b204e9800998ecf8427e"));
        assert!(!is_hash("md5 plain"));
    }
}
