//! postgresql_db (community.postgresql): a database present (created with
//! its owner, template, encoding, locales, tablespace, connection limit and
//! comment; owner, limit, tablespace and comment changed in place), absent
//! (`force` drops it with its sessions), renamed, dumped or restored.
//!
//! On the module protocol: one catalog query (`pg_database`) through `psql`
//! on the host reads the database (and the rename target); `decide` compares
//! it with the arguments and plans the SQL; the change runs it through `psql`
//! (see `postgres`). A dump or restore always changes (as in Ansible), so it
//! reads nothing. `--diff` shows the database's settings before and after.

use serde_json::{Value as Json, json};

use super::fail::{self, Fail};
use super::postgres::{self, Conn, ident, lit};
use super::protocol::{Action, Applied, Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static POSTGRESQL_DB: Spec = Spec::new(
    "postgresql_db",
    crate::postgres_args!(
        ArgSpec::new("name", Kind::Str)
            .required()
            .aliases(&["db", "datname"]),
        ArgSpec::new(
            "state",
            Kind::Choice(&["present", "absent", "dump", "restore", "rename"])
        ),
        ArgSpec::new("owner", Kind::Str),
        ArgSpec::new("template", Kind::Str),
        ArgSpec::new("encoding", Kind::Str),
        ArgSpec::new("lc_collate", Kind::Str),
        ArgSpec::new("lc_ctype", Kind::Str),
        ArgSpec::new("icu_locale", Kind::Str),
        ArgSpec::new("locale_provider", Kind::Choice(&["libc", "icu"])),
        ArgSpec::new("target", Kind::Str),
        ArgSpec::new("target_opts", Kind::Str),
        ArgSpec::new("maintenance_db", Kind::Str).aliases(&["login_db"]),
        ArgSpec::new("conn_limit", Kind::Str),
        ArgSpec::new("tablespace", Kind::Str),
        ArgSpec::new("dump_extra_args", Kind::Str),
        ArgSpec::new("force", Kind::Bool),
        ArgSpec::new("comment", Kind::Str),
    ),
);

/// The arguments, checked.
#[derive(Debug, Clone, Default)]
struct Want {
    name: String,
    state: String,
    owner: Option<String>,
    template: Option<String>,
    encoding: Option<String>,
    lc_collate: Option<String>,
    lc_ctype: Option<String>,
    icu_locale: Option<String>,
    locale_provider: Option<String>,
    target: Option<String>,
    target_opts: Option<String>,
    conn_limit: Option<i64>,
    tablespace: Option<String>,
    dump_extra_args: Option<String>,
    force: bool,
    comment: Option<String>,
}

impl Want {
    fn new(args: &Args) -> Result<Want, Fail> {
        let s = |k: &str| args.string(k).filter(|v| !v.is_empty());
        let conn_limit = match s("conn_limit") {
            Some(c) => Some(c.trim().parse::<i64>().map_err(|_| {
                Fail::Args(format!(
                    "conn_limit: '{c}' is not an integer (-1: no limit)"
                ))
            })?),
            None => None,
        };
        let w = Want {
            name: args.string("name").unwrap_or_default(),
            state: args.string("state").unwrap_or_else(|| "present".into()),
            owner: s("owner"),
            template: s("template"),
            encoding: s("encoding"),
            lc_collate: s("lc_collate"),
            lc_ctype: s("lc_ctype"),
            icu_locale: s("icu_locale"),
            locale_provider: s("locale_provider"),
            target: s("target"),
            target_opts: s("target_opts"),
            conn_limit,
            tablespace: s("tablespace"),
            dump_extra_args: s("dump_extra_args"),
            force: args.bool_or("force", false),
            comment: args.string("comment"),
        };
        if w.name.is_empty() {
            return fail::bad_args("name must not be empty");
        }
        if matches!(w.state.as_str(), "dump" | "restore" | "rename") && w.target.is_none() {
            return fail::bad_args(format!("state={} needs the argument 'target'", w.state));
        }
        if w.force && w.state != "absent" {
            return fail::bad_args("force is only valid with state=absent");
        }
        Ok(w)
    }

    fn conn(args: &Args) -> Result<Conn, Fail> {
        let db = args
            .string("maintenance_db")
            .unwrap_or_else(|| "postgres".into());
        Conn::new(args, &db)
    }
}

/// The catalog query: the database (and the rename target) as JSON.
fn query(w: &Want) -> String {
    // encodings compare by id, as Ansible does ('UTF-8' is UTF8)
    let encoding = match &w.encoding {
        Some(e) => format!(
            "'encoding_match', d.encoding = pg_char_to_encoding({}), ",
            lit(e)
        ),
        None => String::new(),
    };
    let one = |name: &str| {
        format!(
            "(SELECT json_build_object({encoding}'owner', pg_get_userbyid(d.datdba), \
             'encoding', pg_encoding_to_char(d.encoding), 'lc_collate', d.datcollate, \
             'lc_ctype', d.datctype, 'conn_limit', d.datconnlimit, 'tablespace', t.spcname, \
             'comment', shobj_description(d.oid, 'pg_database')) \
             FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace \
             WHERE d.datname = {})",
            lit(name)
        )
    };
    let target = match (&w.state[..], &w.target) {
        ("rename", Some(t)) => one(t),
        _ => "NULL".into(),
    };
    format!(
        "SELECT json_build_object('db', {}, 'target', {target});",
        one(&w.name)
    )
}

/// The database's settings as `--diff` shows them.
fn show(name: &str, db: &Json) -> String {
    if db.is_null() {
        return String::new();
    }
    let mut s = format!("database: {name}\n");
    for k in [
        "owner",
        "encoding",
        "lc_collate",
        "lc_ctype",
        "tablespace",
        "conn_limit",
        "comment",
    ] {
        s.push_str(&format!("{k}: {}\n", postgres::text(db, k)));
    }
    s
}

/// What `present` changes: the statements, and the database as it will be.
fn present(w: &Want, db: &Json) -> Result<(Vec<String>, Json), Fail> {
    let q = ident(&w.name);
    let mut sql = Vec::new();
    if db.is_null() {
        let mut c = format!("CREATE DATABASE {q}");
        if let Some(o) = &w.owner {
            c.push_str(&format!(" OWNER {}", ident(o)));
        }
        if let Some(t) = &w.template {
            c.push_str(&format!(" TEMPLATE {}", ident(t)));
        }
        if let Some(e) = &w.encoding {
            c.push_str(&format!(" ENCODING {}", lit(e)));
        }
        if let Some(l) = &w.lc_collate {
            c.push_str(&format!(" LC_COLLATE {}", lit(l)));
        }
        if let Some(l) = &w.lc_ctype {
            c.push_str(&format!(" LC_CTYPE {}", lit(l)));
        }
        if let Some(p) = &w.locale_provider {
            c.push_str(&format!(" LOCALE_PROVIDER {p}"));
        }
        if let Some(l) = &w.icu_locale {
            c.push_str(&format!(" ICU_LOCALE {}", lit(l)));
        }
        if let Some(t) = &w.tablespace {
            c.push_str(&format!(" TABLESPACE {}", ident(t)));
        }
        if let Some(n) = w.conn_limit {
            c.push_str(&format!(" CONNECTION LIMIT {n}"));
        }
        sql.push(c);
        if let Some(cm) = w.comment.as_deref().filter(|c| !c.is_empty()) {
            sql.push(format!("COMMENT ON DATABASE {q} IS {}", lit(cm)));
        }
        let after = json!({
            "owner": w.owner.clone().unwrap_or_else(|| "(the login user)".into()),
            "encoding": w.encoding.clone().unwrap_or_else(|| "(the template's)".into()),
            "lc_collate": w.lc_collate.clone().unwrap_or_else(|| "(the template's)".into()),
            "lc_ctype": w.lc_ctype.clone().unwrap_or_else(|| "(the template's)".into()),
            "tablespace": w.tablespace.clone().unwrap_or_else(|| "pg_default".into()),
            "conn_limit": w.conn_limit.unwrap_or(-1),
            "comment": w.comment.clone().filter(|c| !c.is_empty()),
        });
        return Ok((sql, after));
    }
    // encoding and locales cannot change: Ansible's messages
    let differs = |want: &Option<String>, key: &str| {
        want.as_ref()
            .is_some_and(|v| !v.eq_ignore_ascii_case(&postgres::text(db, key)))
    };
    let encoding_differs = match db["encoding_match"].as_bool() {
        Some(m) => w.encoding.is_some() && !m,
        None => differs(&w.encoding, "encoding"),
    };
    if encoding_differs {
        return fail::fail(format!(
            "Changing database encoding is not supported. Current encoding: {}",
            postgres::text(db, "encoding")
        ));
    }
    if differs(&w.lc_collate, "lc_collate") {
        return fail::fail(format!(
            "Changing LC_COLLATE is not supported. Current LC_COLLATE: {}",
            postgres::text(db, "lc_collate")
        ));
    }
    if differs(&w.lc_ctype, "lc_ctype") {
        return fail::fail(format!(
            "Changing LC_CTYPE is not supported. Current LC_CTYPE: {}",
            postgres::text(db, "lc_ctype")
        ));
    }
    let mut after = db.clone();
    if let Some(o) = &w.owner
        && *o != postgres::text(db, "owner")
    {
        sql.push(format!("ALTER DATABASE {q} OWNER TO {}", ident(o)));
        after["owner"] = json!(o);
    }
    if let Some(n) = w.conn_limit
        && Some(n) != db["conn_limit"].as_i64()
    {
        sql.push(format!("ALTER DATABASE {q} CONNECTION LIMIT {n}"));
        after["conn_limit"] = json!(n);
    }
    if let Some(t) = &w.tablespace
        && *t != postgres::text(db, "tablespace")
    {
        sql.push(format!("ALTER DATABASE {q} SET TABLESPACE {}", ident(t)));
        after["tablespace"] = json!(t);
    }
    if let Some(c) = &w.comment
        && *c != postgres::text(db, "comment")
    {
        let value = if c.is_empty() { "NULL".into() } else { lit(c) };
        sql.push(format!("COMMENT ON DATABASE {q} IS {value}"));
        after["comment"] = if c.is_empty() { Json::Null } else { json!(c) };
    }
    Ok((sql, after))
}

/// The dump or restore script (its format from the target's name, as Ansible).
fn dump_restore(w: &Want, conn: &Conn) -> Result<Action, Fail> {
    let target = w.target.clone().unwrap_or_default();
    let split = |s: &Option<String>| -> Result<String, Fail> {
        match s {
            None => Ok(String::new()),
            Some(s) => {
                let parts = shlex::split(s).ok_or_else(|| {
                    Fail::Args(format!(
                        "'{s}': unbalanced quotes in target_opts or dump_extra_args"
                    ))
                })?;
                Ok(parts
                    .iter()
                    .map(|p| format!(" {}", shell_quote(p)))
                    .collect())
            }
        }
    };
    let opts = split(&w.target_opts)?;
    let extra = split(&w.dump_extra_args)?;
    let t = shell_quote(&target);
    let db = shell_quote(&w.name);
    let (compress, decompress) = if target.ends_with(".gz") {
        (Some("gzip"), Some("gzip -dc"))
    } else if target.ends_with(".bz2") {
        (Some("bzip2"), Some("bzip2 -dc"))
    } else if target.ends_with(".xz") {
        (Some("xz"), Some("xz -dc"))
    } else {
        (None, None)
    };
    let archive = if target.ends_with(".tar") {
        " -Ft"
    } else if target.ends_with(".pgc") {
        " -Fc"
    } else {
        ""
    };
    let body = if w.state == "dump" {
        match compress {
            // the dump's status, through a file (sh has no pipefail)
            Some(c) => format!(
                "s=$(mktemp) || exit 1\n{{ pg_dump{opts}{extra} -- {db}; echo $? > \"$s\"; }} | {c} > {t}\nr=$(cat \"$s\"); rm -f \"$s\"\n[ \"$r\" = 0 ] || exit \"${{r:-1}}\"\n"
            ),
            None => format!("exec pg_dump{archive}{opts}{extra} -f {t} -- {db}\n"),
        }
    } else if !archive.is_empty() {
        format!("exec pg_restore{opts} -d {db} -- {t}\n")
    } else {
        match decompress {
            Some(d) => format!("{d} {t} | psql -X -q -v ON_ERROR_STOP=1{opts} -d {db}\n"),
            None => format!("exec psql -X -q -v ON_ERROR_STOP=1{opts} -d {db} -f {t}\n"),
        }
    };
    Ok(conn.script(&format!("postgresql_db: {}", w.state), &body))
}

pub struct PostgresqlDb;

impl Module for PostgresqlDb {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = Want::new(args)?;
        if matches!(w.state.as_str(), "dump" | "restore") {
            return Ok(Vec::new());
        }
        Ok(vec![
            Want::conn(args)?.probe("postgresql_db: read", &query(&w)),
        ])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = Want::new(args)?;
        let conn = Want::conn(args)?;
        let mut res = Outcome::ok().with("db", w.name.clone());
        if matches!(w.state.as_str(), "dump" | "restore") {
            let action = dump_restore(&w, &conn)?;
            let target = w.target.clone().unwrap_or_default();
            res.changed = true;
            res.msg = Some(if w.state == "dump" {
                format!("database {} dumped to {target}", w.name)
            } else {
                format!("database {} restored from {target}", w.name)
            });
            res.data.insert("executed_commands".into(), json!([]));
            return Ok(Plan::change(res, action));
        }
        let got = postgres::read(&conn.probe("postgresql_db: read", &query(&w)), facts)?;
        let db = &got["db"];
        let (sql, before, after, label) = match w.state.as_str() {
            "absent" => {
                if db.is_null() {
                    (Vec::new(), Json::Null, Json::Null, w.name.clone())
                } else {
                    let force = if w.force { " WITH (FORCE)" } else { "" };
                    (
                        vec![format!("DROP DATABASE {}{force}", ident(&w.name))],
                        db.clone(),
                        Json::Null,
                        w.name.clone(),
                    )
                }
            }
            "rename" => {
                let target = w.target.clone().unwrap_or_default();
                let t = &got["target"];
                match (db.is_null(), t.is_null()) {
                    (true, false) => (Vec::new(), Json::Null, Json::Null, target),
                    (true, true) => {
                        return fail::fail(format!(
                            "The source and the target databases do not exist: {} and {target}",
                            w.name
                        ));
                    }
                    (false, false) => {
                        return fail::fail(format!(
                            "Both the source and the target databases exist: {} and {target}",
                            w.name
                        ));
                    }
                    (false, true) => (
                        vec![format!(
                            "ALTER DATABASE {} RENAME TO {}",
                            ident(&w.name),
                            ident(&target)
                        )],
                        db.clone(),
                        db.clone(),
                        target,
                    ),
                }
            }
            _ => {
                let (sql, after) = present(&w, db)?;
                (sql, db.clone(), after, w.name.clone())
            }
        };
        res.data
            .insert("executed_commands".into(), postgres::shown(&sql));
        if sql.is_empty() {
            return Ok(Plan::Done(res));
        }
        res.changed = true;
        res.msg = Some(match w.state.as_str() {
            "absent" => format!("database {} dropped", w.name),
            "rename" => format!("database {} renamed to {label}", w.name),
            _ if db.is_null() => format!("database {} created", w.name),
            _ => format!("database {} altered", w.name),
        });
        if ctx.diff {
            let before_name = if w.state == "rename" { &w.name } else { &label };
            res.diffs.push(Diff::new(
                format!("database {label}"),
                show(before_name, &before),
                show(&label, &after),
            ));
        }
        let action = conn.change("postgresql_db: change", &sql, false);
        Ok(Plan::change(res, action))
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        postgres::applied(planned, result)
    }
}
