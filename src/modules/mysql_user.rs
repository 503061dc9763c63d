//! mysql_user (community.mysql): an account (`name`@`host`, or every host of
//! the name with `host_all`) present with its password or authentication
//! plugin and its privileges (`priv`: `db.*:ALL,GRANT/db2.t:SELECT` or a
//! dict), or absent.
//!
//! On the module protocol, through the `mysql` client on the host (see
//! `mysql`), in one read: the server's version, the account's rows of
//! `mysql.user` (host, plugin) and its `SHOW GRANTS` (with any
//! `IDENTIFIED ...` clause cut by `sed` on the host, so no hash reaches an
//! output). When a password is given, `decide`'s comparison is made by the
//! server: the read also asks whether the stored authentication string equals
//! the password's `mysql_native_password` hash (`*` + SHA1(SHA1(password)),
//! computed here); that SQL holds the hash, so the read is a secret probe
//! whose SQL is on stdin, never in a script or an output.
//!
//! Privileges are compared as Ansible does: each object of `priv` (and `*.*`
//! with USAGE when absent) against the grants found; extra objects are
//! revoked unless `append_privs`; privileges missing are granted and extra
//! ones revoked (`append_privs` only grants, `subtract_privs` only revokes).
//! A password that changes is sent as its hash (`IDENTIFIED BY PASSWORD` on
//! MariaDB, `IDENTIFIED WITH mysql_native_password AS` on MySQL), in SQL on
//! stdin; `queries` shows it as `********`.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use sha1::{Digest, Sha1};

use super::fail::{self, Fail};
use super::mysql::{self, Conn, lit};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static MYSQL_USER: Spec = Spec {
    mutually_exclusive: &[
        &["append_privs", "subtract_privs"],
        &["password", "plugin_hash_string"],
    ],
    ..Spec::new(
        "mysql_user",
        crate::mysql_args!(
            ArgSpec::new("name", Kind::Str)
                .required()
                .aliases(&["user"]),
            ArgSpec::new("password", Kind::Str),
            ArgSpec::new("encrypted", Kind::Bool),
            ArgSpec::new("host", Kind::Str),
            ArgSpec::new("host_all", Kind::Bool),
            ArgSpec::new("priv", Kind::Any),
            ArgSpec::new("append_privs", Kind::Bool),
            ArgSpec::new("subtract_privs", Kind::Bool),
            ArgSpec::new("sql_log_bin", Kind::Bool),
            ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
            ArgSpec::new(
                "update_password",
                Kind::Choice(&["always", "on_create", "on_new_username"])
            ),
            ArgSpec::new("plugin", Kind::Str),
            ArgSpec::new("plugin_hash_string", Kind::Str),
            ArgSpec::new("plugin_auth_string", Kind::Str),
        ),
    )
};

/// The privileges `priv` may name (MySQL 8 and MariaDB 10.x).
const VALID_PRIVS: &[&str] = &[
    "CREATE",
    "DROP",
    "GRANT",
    "GRANT OPTION",
    "LOCK TABLES",
    "REFERENCES",
    "EVENT",
    "ALTER",
    "DELETE",
    "INDEX",
    "INSERT",
    "SELECT",
    "UPDATE",
    "CREATE TEMPORARY TABLES",
    "TRIGGER",
    "CREATE VIEW",
    "SHOW VIEW",
    "ALTER ROUTINE",
    "CREATE ROUTINE",
    "EXECUTE",
    "FILE",
    "CREATE TABLESPACE",
    "CREATE USER",
    "PROCESS",
    "PROXY",
    "RELOAD",
    "REPLICATION CLIENT",
    "REPLICATION SLAVE",
    "SHOW DATABASES",
    "SHUTDOWN",
    "SUPER",
    "ALL",
    "ALL PRIVILEGES",
    "USAGE",
    "REQUIRESSL",
    "CREATE ROLE",
    "DROP ROLE",
    "BINLOG ADMIN",
    "BINLOG MONITOR",
    "BINLOG REPLAY",
    "CONNECTION ADMIN",
    "FEDERATED ADMIN",
    "READ_ONLY ADMIN",
    "REPLICATION MASTER ADMIN",
    "REPLICATION SLAVE ADMIN",
    "REPLICA MONITOR",
    "SET USER",
    "SLAVE MONITOR",
    "DELETE HISTORY",
    "SHOW CREATE ROUTINE",
    "BACKUP_ADMIN",
    "SYSTEM_VARIABLES_ADMIN",
    "REPLICATION_SLAVE_ADMIN",
    "CONNECTION_ADMIN",
    "SESSION_VARIABLES_ADMIN",
    "APPLICATION_PASSWORD_ADMIN",
];

/// Privileges by object (`*.*`, `` `db`.* ``, `` `db`.`t` ``), normalized.
type Privs = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, Default)]
struct Want {
    name: String,
    host: String,
    host_all: bool,
    password: Option<String>,
    encrypted: bool,
    privs: Option<Privs>,
    append: bool,
    subtract: bool,
    present: bool,
    /// update_password: on_create or on_new_username (an existing password stays).
    on_create: bool,
    /// update_password: on_new_username (a new host of a known name gets its password).
    on_new_username: bool,
    plugin: Option<String>,
    plugin_hash: Option<String>,
    plugin_auth: Option<String>,
    log_bin: bool,
}

impl Want {
    fn new(args: &Args) -> Result<Want, Fail> {
        let s = |k: &str| args.string(k).filter(|v| !v.is_empty());
        let name = args.string("name").unwrap_or_default();
        let privs = match args.get("priv") {
            None => None,
            Some(Json::String(p)) if p.trim().is_empty() => None,
            Some(Json::String(p)) => Some(unpack(p)?),
            Some(Json::Object(m)) => {
                let mut parts = Vec::new();
                for (k, v) in m {
                    let v = match v {
                        Json::String(s) => s.clone(),
                        Json::Array(a) => a
                            .iter()
                            .map(|x| x.as_str().map(str::to_string).unwrap_or(x.to_string()))
                            .collect::<Vec<_>>()
                            .join(","),
                        other => other.to_string(),
                    };
                    parts.push(format!("{k}:{v}"));
                }
                Some(unpack(&parts.join("/"))?)
            }
            Some(other) => {
                return fail::bad_args(format!(
                    "priv must be a string ('db.*:ALL/db2.t:SELECT') or a dict, not {other}"
                ));
            }
        };
        let password = args.string("password");
        if password.as_deref().is_some_and(|p| p.contains('\0')) {
            return fail::bad_args("password holds a NUL byte");
        }
        let w = Want {
            name,
            host: args.string("host").unwrap_or_else(|| "localhost".into()),
            host_all: args.bool_or("host_all", false),
            password,
            encrypted: args.bool_or("encrypted", false),
            privs,
            append: args.bool_or("append_privs", false),
            subtract: args.bool_or("subtract_privs", false),
            present: args.str("state") != Some("absent"),
            on_create: matches!(
                args.str("update_password"),
                Some("on_create" | "on_new_username")
            ),
            on_new_username: args.str("update_password") == Some("on_new_username"),
            plugin: s("plugin"),
            plugin_hash: s("plugin_hash_string"),
            plugin_auth: s("plugin_auth_string"),
            log_bin: args.bool_or("sql_log_bin", true),
        };
        if w.encrypted
            && w.password
                .as_deref()
                .is_some_and(|p| !p.is_empty() && !is_native_hash(p))
        {
            return fail::bad_args(
                "encrypted: true needs password to be a mysql_native_password hash ('*' and 40 hex digits)",
            );
        }
        if w.plugin.is_some()
            && w.password.is_some()
            && w.plugin.as_deref() != Some("mysql_native_password")
        {
            return fail::bad_args(
                "password sets a mysql_native_password account: with another plugin give plugin_auth_string or plugin_hash_string",
            );
        }
        if (w.plugin_hash.is_some() || w.plugin_auth.is_some()) && w.plugin.is_none() {
            return fail::bad_args("plugin_hash_string and plugin_auth_string need plugin");
        }
        Ok(w)
    }

    /// The stored form the password has: its native hash.
    fn hash(&self) -> Option<String> {
        self.password.as_ref().map(|p| {
            if p.is_empty() {
                String::new()
            } else if self.encrypted {
                p.to_ascii_uppercase()
            } else {
                native_hash(p)
            }
        })
    }
}

/// `*` and the upper-case hex of SHA1(SHA1(password)) (mysql_native_password).
fn native_hash(password: &str) -> String {
    let once = Sha1::digest(password.as_bytes());
    format!("*{:X}", Sha1::digest(once))
}

fn is_native_hash(p: &str) -> bool {
    p.len() == 41 && p.starts_with('*') && p[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// An object as SHOW GRANTS writes it: `*.*`, `` `db`.* ``, `` `db`.`t` ``,
/// `` FUNCTION `db`.`f` ``.
fn norm_object(o: &str) -> String {
    let o = o.trim();
    let (kind, rest) = match o.split_once(' ') {
        Some((k, r)) if matches!(k.to_ascii_uppercase().as_str(), "FUNCTION" | "PROCEDURE") => {
            (format!("{} ", k.to_ascii_uppercase()), r.trim())
        }
        _ => (String::new(), o),
    };
    let (db, table) = match rest.rsplit_once('.') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let side = |s: &str| {
        let s = s.trim().trim_matches('`');
        if s == "*" {
            "*".to_string()
        } else {
            format!("`{}`", s.replace('`', "``"))
        }
    };
    match table {
        Some(t) => format!("{kind}{}.{}", side(db), side(t)),
        None => format!("{kind}{}", side(db)),
    }
}

/// One privilege, normalized: upper case, single spaces, `ALL PRIVILEGES`
/// as `ALL`, column lists sorted without backticks.
fn norm_priv(p: &str) -> String {
    let p = p.trim();
    let (name, cols) = match p.find('(') {
        Some(i) => (
            &p[..i],
            Some(p[i..].trim_matches(|c| c == '(' || c == ')' || c == ' ')),
        ),
        None => (p, None),
    };
    let name = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    let name = if name == "ALL PRIVILEGES" {
        "ALL".into()
    } else {
        name
    };
    let name = if name == "GRANT OPTION" {
        "GRANT".into()
    } else {
        name
    };
    match cols {
        Some(c) => {
            let mut cols: Vec<String> = c
                .split(',')
                .map(|x| x.trim().trim_matches('`').to_ascii_uppercase())
                .filter(|x| !x.is_empty())
                .collect();
            cols.sort();
            format!("{name} ({})", cols.join(", "))
        }
        None => name,
    }
}

/// Splits a privilege list on commas outside parentheses.
fn split_privs(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// `db.*:ALL,GRANT/db2.t:SELECT` as privileges by object; `*.*` gets USAGE
/// when absent (as Ansible's privileges_unpack).
fn unpack(priv_: &str) -> Result<Privs, Fail> {
    let mut out = Privs::new();
    for item in priv_.trim().split('/').filter(|i| !i.trim().is_empty()) {
        let Some((obj, privs)) = item.trim().rsplit_once(':') else {
            return fail::bad_args(format!(
                "priv: '{item}' is not 'db.table:PRIV1,PRIV2' (objects separated by '/')"
            ));
        };
        let mut list = Vec::new();
        for p in split_privs(privs) {
            let n = norm_priv(&p);
            let base = n.split(" (").next().unwrap_or_default();
            if !VALID_PRIVS.contains(&base) {
                return fail::bad_args(format!(
                    "priv: '{}' is not a privilege of MySQL or MariaDB (in '{item}')",
                    p.trim()
                ));
            }
            if !list.contains(&n) {
                list.push(n);
            }
        }
        out.insert(norm_object(obj), list);
    }
    out.entry("*.*".into())
        .or_insert_with(|| vec!["USAGE".into()]);
    Ok(out)
}

/// The grants one `SHOW GRANTS` printed, by object (PROXY and role grants left
/// out, as Ansible leaves them).
fn parse_grants(lines: &[&str]) -> Privs {
    let re = regex::Regex::new(
        r"^GRANT (.+?) ON (.+?) TO (?:'[^']*'|`[^`]*`|\S+)@(?:'[^']*'|`[^`]*`|\S+)(.*)$",
    )
    .expect("a valid regex");
    let mut out = Privs::new();
    for l in lines {
        let Some(c) = re.captures(l.trim()) else {
            continue;
        };
        let mut privs: Vec<String> = split_privs(&c[1]).iter().map(|p| norm_priv(p)).collect();
        if privs.iter().any(|p| p == "PROXY") {
            continue;
        }
        if c[3].contains("WITH GRANT OPTION") {
            privs.push("GRANT".into());
        }
        if c[3].contains("REQUIRE SSL") {
            privs.push("REQUIRESSL".into());
        }
        let e = out.entry(norm_object(&c[2])).or_default();
        for p in privs {
            if !e.contains(&p) {
                e.push(p);
            }
        }
    }
    out
}

/// One account as read.
#[derive(Debug, Clone, Default)]
struct Account {
    host: String,
    plugin: String,
    /// The stored authentication string equals the wanted password's hash
    /// (`None`: no password to compare).
    pw_match: Option<bool>,
    /// The stored string equals plugin_hash_string.
    hash_match: Option<bool>,
    has_password: bool,
    grants: Privs,
}

/// What the read found.
#[derive(Debug, Clone, Default)]
struct Found {
    mariadb: bool,
    /// Accounts of the same name on other hosts.
    others: i64,
    accounts: Vec<Account>,
}

/// The read: the version, the account rows (with the comparisons), then
/// `@@grants HOST` and the grant lines of each account.
fn read_need(conn: &Conn, w: &Want) -> Need {
    let hash = w.hash();
    let cmp = |v: &Option<String>| match v {
        Some(h) => format!("authentication_string = {}", lit(h)),
        None => "NULL".into(),
    };
    let filter = if w.host_all {
        format!("User = {}", lit(&w.name))
    } else {
        format!("User = {} AND Host = {}", lit(&w.name), lit(&w.host))
    };
    let sql = format!(
        "SELECT JSON_OBJECT('version', VERSION());\n\
         SELECT JSON_OBJECT('host', Host, 'plugin', plugin, 'has_password', authentication_string <> '', \
         'pw_match', {}, 'hash_match', {}) FROM mysql.user WHERE {filter} ORDER BY Host;\n\
         SELECT JSON_OBJECT('others', COUNT(*)) FROM mysql.user WHERE User = {} AND Host <> {};",
        cmp(&hash),
        cmp(&w.plugin_hash),
        lit(&w.name),
        lit(&w.host),
    );
    let grants = format!(
        "opsctl_u={}\nopsctl_mysql -e {} | while IFS= read -r opsctl_h; do\n  \
         printf '@@grants %s\\n' \"$opsctl_h\"\n  \
         opsctl_q=$(printf '%s' \"$opsctl_h\" | sed \"s/'/''/g\")\n  \
         printf \"SHOW GRANTS FOR %s@'%s'\\n\" \"$opsctl_u\" \"$opsctl_q\" | opsctl_mysql \
         | sed -E \"s/ IDENTIFIED (BY PASSWORD|BY|VIA|WITH) .*( WITH GRANT OPTION)\\$/\\2/; s/ IDENTIFIED (BY PASSWORD|BY|VIA|WITH) .*//\" || exit 1\n\
         done\n",
        shell_quote(&lit(&w.name)),
        shell_quote(&format!(
            "SELECT Host FROM mysql.user WHERE {filter} ORDER BY Host"
        )),
    );
    let secret = hash.as_deref().is_some_and(|h| !h.is_empty()) || w.plugin_hash.is_some();
    if secret {
        // the SQL holds a hash: on stdin
        let first = conn.secret_probe("mysql_user: read", &sql);
        let Need::SecretProbe(mut p) = first else {
            return first;
        };
        p.script.push_str("[ $? = 0 ] || exit 1\n");
        p.script.push_str(&grants);
        Need::SecretProbe(p)
    } else {
        conn.probe_script(
            "mysql_user: read",
            &format!("opsctl_mysql <<'OPSCTL_SQL' || exit 1\n{sql}\nOPSCTL_SQL\n{grants}"),
        )
    }
}

fn read(conn: &Conn, w: &Want, facts: &Facts) -> Result<Found, Fail> {
    let out = mysql::output(&read_need(conn, w), facts)?;
    let text = out.stdout_str();
    let mut found = Found::default();
    let mut grants: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("@@grants ") {
            current = Some(h.to_string());
            grants.entry(h.to_string()).or_default();
        } else if let Some(h) = &current {
            grants.entry(h.clone()).or_default().push(line);
        } else if !line.trim().is_empty() {
            let v = mysql::json_lines(line)?.remove(0);
            if let Some(ver) = v.get("version") {
                found.mariadb = ver.as_str().unwrap_or_default().contains("MariaDB");
            } else if let Some(n) = v.get("others") {
                found.others = n.as_i64().unwrap_or(0);
            } else {
                let b = |k: &str| match &v[k] {
                    Json::Bool(b) => Some(*b),
                    Json::Number(n) => Some(n.as_i64() == Some(1)),
                    _ => None,
                };
                found.accounts.push(Account {
                    host: mysql::text(&v, "host"),
                    plugin: mysql::text(&v, "plugin"),
                    pw_match: b("pw_match"),
                    hash_match: b("hash_match"),
                    has_password: b("has_password").unwrap_or(false),
                    grants: Privs::new(),
                });
            }
        }
    }
    for a in &mut found.accounts {
        if let Some(g) = grants.get(&a.host) {
            a.grants = parse_grants(g);
        }
    }
    Ok(found)
}

fn account(name: &str, host: &str) -> String {
    format!("{}@{}", lit(name), lit(host))
}

/// The `IDENTIFIED ...` clause for the wanted authentication, if any.
fn identified(w: &Want, mariadb: bool) -> Option<String> {
    if let Some(p) = &w.plugin {
        let via = if mariadb { "VIA" } else { "WITH" };
        return Some(match (&w.plugin_hash, &w.plugin_auth) {
            (Some(h), _) => format!(
                " IDENTIFIED {via} {p} {} {}",
                if mariadb { "USING" } else { "AS" },
                lit(h)
            ),
            (None, Some(a)) if mariadb => format!(" IDENTIFIED VIA {p} USING PASSWORD({})", lit(a)),
            (None, Some(a)) => format!(" IDENTIFIED WITH {p} BY {}", lit(a)),
            (None, None) => match w.hash().filter(|h| !h.is_empty()) {
                Some(h) if mariadb => format!(" IDENTIFIED VIA {p} USING {}", lit(&h)),
                Some(h) => format!(" IDENTIFIED WITH {p} AS {}", lit(&h)),
                None => format!(" IDENTIFIED {via} {p}"),
            },
        });
    }
    let h = w.hash()?;
    Some(match (h.is_empty(), mariadb) {
        (true, true) => " IDENTIFIED BY ''".into(),
        (true, false) => " IDENTIFIED WITH mysql_native_password BY ''".into(),
        (false, true) => format!(" IDENTIFIED BY PASSWORD {}", lit(&h)),
        (false, false) => format!(" IDENTIFIED WITH mysql_native_password AS {}", lit(&h)),
    })
}

/// `CREATE USER` with the plugin and authentication string of an account of
/// the same name on another host (update_password: on_new_username), through
/// a prepared statement: the server copies the hash.
fn copy_auth(w: &Want, acct: &str, mariadb: bool) -> Vec<String> {
    let (with, using) = if mariadb {
        ("VIA", "USING")
    } else {
        ("WITH", "AS")
    };
    vec![
        format!(
            "SELECT plugin, authentication_string INTO @opsctl_plugin, @opsctl_auth FROM mysql.user \
             WHERE User = {} AND Host <> {} ORDER BY Host LIMIT 1",
            lit(&w.name),
            lit(&w.host)
        ),
        format!(
            "SET @opsctl_sql = CONCAT('CREATE USER ', {}, ' IDENTIFIED {with} ', @opsctl_plugin, \
             IF(@opsctl_auth = '', '', CONCAT(' {using} ', QUOTE(@opsctl_auth))))",
            lit(acct)
        ),
        "PREPARE opsctl_st FROM @opsctl_sql".into(),
        "EXECUTE opsctl_st".into(),
        "DEALLOCATE PREPARE opsctl_st".into(),
    ]
}

/// The statements that take `have` to `want` on one object.
fn grant_sql(obj: &str, privs: &[String], acct: &str) -> Option<String> {
    let list: Vec<&str> = privs
        .iter()
        .map(String::as_str)
        .filter(|p| *p != "GRANT" && *p != "REQUIRESSL")
        .collect();
    let with = privs.iter().any(|p| p == "GRANT");
    if list.is_empty() && !with {
        return None;
    }
    let list = if list.is_empty() {
        "USAGE".to_string()
    } else {
        list.join(", ")
    };
    Some(format!(
        "GRANT {list} ON {obj} TO {acct}{}",
        if with { " WITH GRANT OPTION" } else { "" }
    ))
}

fn revoke_sql(obj: &str, privs: &[String], acct: &str) -> Vec<String> {
    let mut out = Vec::new();
    let list: Vec<&str> = privs
        .iter()
        .map(String::as_str)
        .filter(|p| !matches!(*p, "GRANT" | "USAGE" | "REQUIRESSL"))
        .collect();
    if !list.is_empty() {
        out.push(format!("REVOKE {} ON {obj} FROM {acct}", list.join(", ")));
    }
    if privs.iter().any(|p| p == "GRANT") {
        out.push(format!("REVOKE GRANT OPTION ON {obj} FROM {acct}"));
    }
    out
}

/// The statements that bring an account's privileges to `want`, and the
/// privileges it will hold.
fn privs_sql(w: &Want, have: &Privs, acct: &str) -> (Vec<String>, Privs) {
    let Some(want) = &w.privs else {
        return (Vec::new(), have.clone());
    };
    let mut sql = Vec::new();
    let mut after = have.clone();
    if !w.append && !w.subtract {
        for (obj, privs) in have {
            if !want.contains_key(obj) && w.name != "root" {
                sql.extend(revoke_sql(obj, privs, acct));
                after.remove(obj);
            }
        }
    }
    for (obj, privs) in want {
        let cur = have.get(obj).cloned().unwrap_or_default();
        let all = |l: &[String]| l.iter().any(|p| p == "ALL");
        // ALL covers each privilege but GRANT OPTION
        let missing: Vec<String> = privs
            .iter()
            .filter(|p| !(cur.contains(p) || all(&cur) && *p != "GRANT" && *p != "USAGE"))
            .filter(|p| *p != "USAGE" || cur.is_empty())
            .cloned()
            .collect();
        let extra: Vec<String> = cur
            .iter()
            .filter(|p| !privs.contains(p) && *p != "USAGE")
            .cloned()
            .collect();
        if w.subtract {
            let gone: Vec<String> = privs.iter().filter(|p| cur.contains(p)).cloned().collect();
            sql.extend(revoke_sql(obj, &gone, acct));
            after
                .entry(obj.clone())
                .or_default()
                .retain(|p| !gone.contains(p));
            continue;
        }
        if !w.append && !extra.is_empty() {
            sql.extend(revoke_sql(obj, &extra, acct));
            after
                .entry(obj.clone())
                .or_default()
                .retain(|p| !extra.contains(p));
        }
        if !missing.is_empty() {
            if let Some(g) = grant_sql(obj, &missing, acct) {
                sql.push(g);
            }
            let e = after.entry(obj.clone()).or_default();
            e.retain(|p| p != "USAGE");
            e.extend(missing);
        }
    }
    after.retain(|_, v| !v.is_empty());
    (sql, after)
}

/// An account as `--diff` shows it (the password only as set or changed).
fn show(name: &str, host: &str, plugin: &str, password: &str, privs: &Privs) -> String {
    let mut s = format!("user: {name}@{host}\nplugin: {plugin}\npassword: {password}\n");
    for (obj, p) in privs {
        s.push_str(&format!("grant {obj}: {}\n", p.join(",")));
    }
    s
}

pub struct MysqlUser;

impl Module for MysqlUser {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = Want::new(args)?;
        Ok(vec![read_need(&Conn::new(args)?, &w)])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = Want::new(args)?;
        let conn = Conn::new(args)?;
        let found = read(&conn, &w, facts)?;
        let mut res = Outcome::ok().with("user", w.name.clone());
        let mut sql: Vec<String> = Vec::new();
        let mut password_changed = false;
        let created = found.accounts.is_empty();
        if !w.present {
            for a in &found.accounts {
                sql.push(format!("DROP USER {}", account(&w.name, &a.host)));
                if ctx.diff {
                    let pw = if a.has_password { "(set)" } else { "none" };
                    res.diffs.push(Diff::new(
                        format!("user {}@{}", w.name, a.host),
                        show(&w.name, &a.host, &a.plugin, pw, &a.grants),
                        "",
                    ));
                }
            }
        } else if created {
            if w.host_all {
                return fail::fail(format!(
                    "host_all cannot be used when creating users: {} has no account on any host",
                    w.name
                ));
            }
            let acct = account(&w.name, &w.host);
            if w.on_new_username && found.others > 0 && w.plugin.is_none() {
                // the authentication of the name's other account, copied by the
                // server (the hash never leaves it)
                sql.extend(copy_auth(&w, &acct, found.mariadb));
            } else {
                let ident = identified(&w, found.mariadb).unwrap_or_default();
                password_changed = w.password.is_some() || w.plugin.is_some();
                sql.push(format!("CREATE USER {acct}{ident}"));
            }
            let (grants, after) = privs_sql(&w, &Privs::new(), &acct);
            sql.extend(grants);
            if ctx.diff {
                let pw = if w.password.as_deref().is_some_and(|p| !p.is_empty()) {
                    "(changed)"
                } else {
                    "none"
                };
                let plugin = w
                    .plugin
                    .clone()
                    .unwrap_or_else(|| "mysql_native_password".into());
                let mut after = after;
                after
                    .entry("*.*".into())
                    .or_insert_with(|| vec!["USAGE".into()]);
                res.diffs.push(Diff::new(
                    format!("user {}@{}", w.name, w.host),
                    "",
                    show(&w.name, &w.host, &plugin, pw, &after),
                ));
            }
        } else {
            for a in &found.accounts {
                let acct = account(&w.name, &a.host);
                let mut change_auth = false;
                if !w.on_create {
                    if let Some(p) = &w.plugin {
                        change_auth = *p != a.plugin
                            || a.hash_match == Some(false)
                            || a.pw_match == Some(false);
                    } else if let Some(pw) = &w.password {
                        change_auth = if pw.is_empty() {
                            a.has_password
                        } else {
                            a.pw_match != Some(true)
                        };
                    }
                }
                let mut acct_sql = Vec::new();
                if change_auth && let Some(i) = identified(&w, found.mariadb) {
                    acct_sql.push(format!("ALTER USER {acct}{i}"));
                    password_changed = true;
                }
                let (grants, after) = privs_sql(&w, &a.grants, &acct);
                acct_sql.extend(grants);
                if ctx.diff && !acct_sql.is_empty() {
                    let pw_before = if a.has_password { "(set)" } else { "none" };
                    let pw_after = if change_auth { "(changed)" } else { pw_before };
                    let plugin = if change_auth {
                        w.plugin
                            .clone()
                            .unwrap_or_else(|| "mysql_native_password".into())
                    } else {
                        a.plugin.clone()
                    };
                    res.diffs.push(Diff::new(
                        format!("user {}@{}", w.name, a.host),
                        show(&w.name, &a.host, &a.plugin, pw_before, &a.grants),
                        show(&w.name, &a.host, &plugin, pw_after, &after),
                    ));
                }
                sql.extend(acct_sql);
            }
        }
        res.data
            .insert("password_changed".into(), json!(password_changed));
        res.data.insert("queries".into(), mysql::shown(&sql));
        if sql.is_empty() {
            res.msg = Some(if w.present {
                "User unchanged".into()
            } else {
                "User doesn't exist".into()
            });
            return Ok(Plan::Done(res));
        }
        res.changed = true;
        res.msg = Some(
            if !w.present {
                "User deleted"
            } else if created {
                "User added"
            } else {
                "User updated"
            }
            .into(),
        );
        if !w.log_bin {
            sql.insert(0, "SET SQL_LOG_BIN = 0".into());
        }
        Ok(Plan::change(res, conn.change("mysql_user: change", &sql)))
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        mysql::applied(planned, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_hash_is_mysqls() {
        // SELECT PASSWORD('secret') on MariaDB 10.11
        assert_eq!(
            native_hash("secret"),
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
        );
        assert!(is_native_hash(&native_hash("x")));
    }

    #[test]
    fn priv_strings_unpack_as_ansible() {
        let p = unpack("appdb.*:ALL,GRANT/appdb.items:SELECT (b, a),insert").unwrap();
        assert_eq!(p["`appdb`.*"], vec!["ALL", "GRANT"]);
        assert_eq!(p["`appdb`.`items`"], vec!["SELECT (A, B)", "INSERT"]);
        assert_eq!(p["*.*"], vec!["USAGE"]);
        assert!(unpack("appdb.*:SELEKT").is_err());
        assert!(unpack("appdb.*").is_err());
    }

    #[test]
    fn show_grants_parse_without_passwords() {
        let g = parse_grants(&[
            "GRANT USAGE ON *.* TO `app`@`localhost`",
            "GRANT ALL PRIVILEGES ON `appdb`.* TO `app`@`localhost` WITH GRANT OPTION",
            "GRANT SELECT (`b`, `a`), INSERT ON `appdb`.`items` TO `app`@`localhost`",
            "GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION",
        ]);
        assert_eq!(g["*.*"], vec!["USAGE"]);
        assert_eq!(g["`appdb`.*"], vec!["ALL", "GRANT"]);
        assert_eq!(g["`appdb`.`items`"], vec!["SELECT (A, B)", "INSERT"]);
        assert_eq!(g.len(), 3);
    }
}
