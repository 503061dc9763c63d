//! mysql_db (community.mysql): databases present (created with their
//! character set and collation; an existing one whose `encoding` or
//! `collation` differs is altered), absent, dumped (`mysqldump`, compressed
//! by the target's extension) or imported (created first when missing).
//!
//! On the module protocol, through the `mysql` client on the host (see
//! `mysql`): one query of `information_schema.SCHEMATA` reads the named
//! databases (a dump or an import reads nothing but, for an import, the
//! target's stat); `decide` compares and plans the SQL; the change runs it.
//! A dump or an import always changes (as in Ansible). `--diff` shows each
//! database's character set and collation before and after.

use serde_json::{Value as Json, json};

use super::fail::{self, Fail};
use super::mysql::{self, Conn, ident, lit};
use super::protocol::{Action, Applied, Ctx, Facts, Module, Need, Plan};
use super::remote_file::{FType, Req};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static MYSQL_DB: Spec = Spec::new(
    "mysql_db",
    crate::mysql_args!(
        ArgSpec::new("name", Kind::List).required().aliases(&["db"]),
        ArgSpec::new(
            "state",
            Kind::Choice(&["present", "absent", "dump", "import"])
        ),
        ArgSpec::new("collation", Kind::Str),
        ArgSpec::new("encoding", Kind::Str),
        ArgSpec::new("target", Kind::Str),
        ArgSpec::new("single_transaction", Kind::Bool),
        ArgSpec::new("quick", Kind::Bool),
        ArgSpec::new("ignore_tables", Kind::List),
        ArgSpec::new("hex_blob", Kind::Bool),
        ArgSpec::new("force", Kind::Bool),
        ArgSpec::new("master_data", Kind::Choice(&["0", "1", "2"])),
        ArgSpec::new("skip_lock_tables", Kind::Bool),
        ArgSpec::new("dump_extra_args", Kind::Str),
        ArgSpec::new("use_shell", Kind::Bool),
        ArgSpec::new("unsafe_login_password", Kind::Bool),
        ArgSpec::new("restrict_config_file", Kind::Bool),
        ArgSpec::new("config_overrides_defaults", Kind::Bool),
        ArgSpec::new("chdir", Kind::Str),
        ArgSpec::new("pipefail", Kind::Bool),
    ),
);

#[derive(Debug, Clone, Default)]
struct Want {
    names: Vec<String>,
    state: String,
    collation: Option<String>,
    encoding: Option<String>,
    target: Option<String>,
    /// `name: all` (dump and import only).
    all: bool,
}

impl Want {
    fn new(args: &Args) -> Result<Want, Fail> {
        let names: Vec<String> = args
            .strings("name")
            .into_iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return fail::bad_args("name must name at least one database");
        }
        let s = |k: &str| args.string(k).filter(|v| !v.is_empty());
        let w = Want {
            all: names.len() == 1 && names[0] == "all",
            names,
            state: args.string("state").unwrap_or_else(|| "present".into()),
            collation: s("collation"),
            encoding: s("encoding"),
            target: s("target"),
        };
        let dump_import = matches!(w.state.as_str(), "dump" | "import");
        if dump_import && w.target.is_none() {
            return fail::bad_args(format!("state={} needs the argument 'target'", w.state));
        }
        if w.all && !dump_import {
            return fail::bad_args(
                "name: all is only valid with state=dump or state=import (name the databases)",
            );
        }
        if w.state == "import" && w.names.len() > 1 {
            return fail::bad_args(
                "state=import takes one database (or all): name the one the target holds",
            );
        }
        Ok(w)
    }
}

/// The read: one JSON line per named database that exists.
fn query(w: &Want) -> String {
    let names: Vec<String> = w.names.iter().map(|n| lit(n)).collect();
    format!(
        "SELECT JSON_OBJECT('name', SCHEMA_NAME, 'encoding', DEFAULT_CHARACTER_SET_NAME, \
         'collation', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME IN ({}) ORDER BY SCHEMA_NAME;",
        names.join(", ")
    )
}

fn read_need(args: &Args, w: &Want) -> Result<Need, Fail> {
    Ok(Conn::new(args)?.probe("mysql_db: read", &query(w)))
}

/// A database as `--diff` shows it.
fn show(name: &str, db: Option<&Json>) -> String {
    match db {
        None => String::new(),
        Some(d) => format!(
            "database: {name}\nencoding: {}\ncollation: {}\n",
            mysql::text(d, "encoding"),
            mysql::text(d, "collation")
        ),
    }
}

/// The `CHARACTER SET ... COLLATE ...` clause of the wanted settings.
fn charset(w: &Want) -> String {
    let mut c = String::new();
    if let Some(e) = &w.encoding {
        c.push_str(&format!(" CHARACTER SET {}", lit(e)));
    }
    if let Some(co) = &w.collation {
        c.push_str(&format!(" COLLATE {}", lit(co)));
    }
    c
}

/// The dump or import script (compressed by the target's extension).
/// `create`: the statement that makes the database an import goes into.
fn dump_import(args: &Args, w: &Want, conn: &Conn, create: Option<&str>) -> Result<Action, Fail> {
    let target = w.target.clone().unwrap_or_default();
    let t = shell_quote(&target);
    let (compress, decompress) = [
        (".gz", "gzip", "gzip -dc"),
        (".bz2", "bzip2", "bzip2 -dc"),
        (".xz", "xz", "xz -dc"),
        (".zst", "zstd -q", "zstd -dcq"),
    ]
    .iter()
    .find(|(ext, _, _)| target.ends_with(ext))
    .map(|(_, c, d)| (Some(*c), Some(*d)))
    .unwrap_or((None, None));
    let mut body = String::new();
    if let Some(d) = args.string("chdir").filter(|d| !d.is_empty()) {
        body.push_str(&format!("cd {} || exit 1\n", shell_quote(&d)));
    }
    if let Some(c) = create {
        // from a here-document: no secret in it
        body.push_str(&format!(
            "opsctl_mysql <<'OPSCTL_SQL' || exit 1\n{c};\nOPSCTL_SQL\n"
        ));
    }
    let dbs: String = if w.all {
        String::new()
    } else {
        w.names
            .iter()
            .map(|n| format!(" {}", shell_quote(n)))
            .collect()
    };
    // the status of the first command of a pipe, through a file (sh has no pipefail)
    let piped = |first: &str, second: &str| {
        format!(
            "opsctl_s=$(mktemp) || exit 1\n{{ {first}; echo $? > \"$opsctl_s\"; }} | {second}\nopsctl_r=$?\nopsctl_f=$(cat \"$opsctl_s\"); rm -f \"$opsctl_s\"\n[ \"$opsctl_f\" = 0 ] || exit \"${{opsctl_f:-1}}\"\nexit \"$opsctl_r\"\n"
        )
    };
    if w.state == "dump" {
        let mut opts = String::new();
        if args.bool_or("quick", true) {
            opts.push_str(" --quick");
        }
        for (arg, flag) in [
            ("single_transaction", " --single-transaction"),
            ("hex_blob", " --hex-blob"),
            ("force", " --force"),
            ("skip_lock_tables", " --skip-lock-tables"),
        ] {
            if args.bool_or(arg, false) {
                opts.push_str(flag);
            }
        }
        if let Some(m) = args.string("master_data").filter(|m| m != "0") {
            opts.push_str(&format!(" --master-data={m}"));
        }
        for t in args.strings("ignore_tables") {
            if !t.contains('.') {
                return fail::bad_args(format!("ignore_tables: '{t}' must be written db.table"));
            }
            opts.push_str(&format!(" --ignore-table={}", shell_quote(&t)));
        }
        if let Some(extra) = args.string("dump_extra_args").filter(|e| !e.is_empty()) {
            let parts = shlex::split(&extra).ok_or_else(|| {
                Fail::Args(format!("dump_extra_args: '{extra}' has unbalanced quotes"))
            })?;
            for p in parts {
                opts.push_str(&format!(" {}", shell_quote(&p)));
            }
        }
        let which = if w.all {
            " --all-databases".to_string()
        } else if w.names.len() > 1 {
            format!(" --databases{dbs}")
        } else {
            dbs.clone()
        };
        let dump = format!("opsctl_dump{opts}{which}");
        body.push_str(&match compress {
            Some(c) => piped(&dump, &format!("{c} > {t}")),
            None => format!("{dump} > {t}\n"),
        });
    } else {
        let force = if args.bool_or("force", false) {
            " --force"
        } else {
            ""
        };
        let import = format!("opsctl_mysql{force}{dbs}");
        body.push_str(&match decompress {
            Some(d) => piped(&format!("{d} {t}"), &import),
            None => format!("{import} < {t}\n"),
        });
    }
    Ok(conn.script(&format!("mysql_db: {}", w.state), &body))
}

pub struct MysqlDb;

impl Module for MysqlDb {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = Want::new(args)?;
        Ok(match w.state.as_str() {
            "dump" => Vec::new(),
            "import" if w.all => vec![Need::Path(Req::new(w.target.clone().unwrap_or_default()))],
            "import" => vec![
                Need::Path(Req::new(w.target.clone().unwrap_or_default())),
                read_need(args, &w)?,
            ],
            _ => vec![read_need(args, &w)?],
        })
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = Want::new(args)?;
        let conn = Conn::new(args)?;
        let mut res = Outcome::ok()
            .with("db", w.names.join(" "))
            .with("db_list", json!(w.names));
        let found = if w.state == "dump" || w.all {
            Vec::new()
        } else {
            mysql::rows(&read_need(args, &w)?, facts)?
        };
        let have = |n: &str| found.iter().find(|d| d["name"] == json!(n));
        let target = w.target.clone().unwrap_or_default();
        let mut sql = Vec::new();
        match w.state.as_str() {
            "dump" | "import" => {
                if w.state == "import" {
                    let st = facts.path(&Req::new(target.clone()))?;
                    if st.kind == FType::Absent {
                        return fail::fail(format!("target {target} does not exist on the host"));
                    }
                    if !w.all && have(&w.names[0]).is_none() {
                        sql.push(format!(
                            "CREATE DATABASE {}{}",
                            ident(&w.names[0]),
                            charset(&w)
                        ));
                    }
                }
                let action = dump_import(args, &w, &conn, sql.first().map(String::as_str))?;
                res.changed = true;
                res.msg = Some(if w.state == "dump" {
                    format!("database {} dumped to {target}", w.names.join(" "))
                } else {
                    format!("database {} imported from {target}", w.names.join(" "))
                });
                res.data
                    .insert("executed_commands".into(), mysql::shown(&sql));
                return Ok(Plan::change(res, action));
            }
            "absent" => {
                for n in &w.names {
                    if let Some(d) = have(n) {
                        sql.push(format!("DROP DATABASE {}", ident(n)));
                        if ctx.diff {
                            res.diffs.push(Diff::new(
                                format!("database {n}"),
                                show(n, Some(d)),
                                "",
                            ));
                        }
                    }
                }
            }
            _ => {
                for n in &w.names {
                    match have(n) {
                        None => {
                            sql.push(format!("CREATE DATABASE {}{}", ident(n), charset(&w)));
                            if ctx.diff {
                                let after = json!({
                                    "encoding": w.encoding.clone().unwrap_or_else(|| "(the server's default)".into()),
                                    "collation": w.collation.clone().unwrap_or_else(|| "(the character set's default)".into()),
                                });
                                res.diffs.push(Diff::new(
                                    format!("database {n}"),
                                    "",
                                    show(n, Some(&after)),
                                ));
                            }
                        }
                        Some(d) => {
                            let differs = |want: &Option<String>, key: &str| {
                                want.as_ref()
                                    .is_some_and(|v| !v.eq_ignore_ascii_case(&mysql::text(d, key)))
                            };
                            if differs(&w.encoding, "encoding")
                                || differs(&w.collation, "collation")
                            {
                                sql.push(format!("ALTER DATABASE {}{}", ident(n), charset(&w)));
                                if ctx.diff {
                                    let mut after = d.clone();
                                    if let Some(e) = &w.encoding {
                                        after["encoding"] = json!(e);
                                    }
                                    if let Some(c) = &w.collation {
                                        after["collation"] = json!(c);
                                    }
                                    res.diffs.push(Diff::new(
                                        format!("database {n}"),
                                        show(n, Some(d)),
                                        show(n, Some(&after)),
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
        res.data
            .insert("executed_commands".into(), mysql::shown(&sql));
        if sql.is_empty() {
            return Ok(Plan::Done(res));
        }
        res.changed = true;
        res.msg = Some(format!(
            "{}: {}",
            if w.state == "absent" {
                "dropped"
            } else {
                "created or altered"
            },
            w.names.join(" ")
        ));
        Ok(Plan::change(res, conn.change("mysql_db: change", &sql)))
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
