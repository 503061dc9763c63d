//! postgresql_privs (community.postgresql): privileges granted or revoked on
//! tables, sequences, functions, procedures, databases, schemas, tablespaces,
//! languages and types (`objs`, or `ALL_IN_SCHEMA`), default privileges
//! (`type: default_privs`, `target_roles`), and group membership
//! (`type: group`), with `grant_option`.
//!
//! On the module protocol, through `psql` on the host (see `postgres`): one
//! catalog query reads, per object, its ACL exploded (`aclexplode` of the ACL
//! or of `acldefault` when it is NULL: what the owner and PUBLIC hold by
//! default), the roles that exist, and for groups `pg_auth_members`;
//! `decide` grants only the privileges a role lacks and revokes only those it
//! holds, so a second run changes nothing; the change runs the statements in
//! one transaction. Registers `queries`.

use std::collections::BTreeSet;

use serde_json::{Value as Json, json};

use super::fail::{self, Fail};
use super::postgres::{self, Conn, ident, lit};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};

pub static POSTGRESQL_PRIVS: Spec = Spec::new(
    "postgresql_privs",
    crate::postgres_args!(
        ArgSpec::new("database", Kind::Str)
            .required()
            .aliases(&["db", "login_db"]),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("privs", Kind::Str).aliases(&["priv"]),
        ArgSpec::new(
            "type",
            Kind::Choice(&[
                "table",
                "sequence",
                "function",
                "procedure",
                "database",
                "schema",
                "language",
                "tablespace",
                "group",
                "default_privs",
                "foreign_data_wrapper",
                "foreign_server",
                "type",
                "large_object",
                "parameter",
            ])
        ),
        ArgSpec::new("objs", Kind::Str).aliases(&["obj"]),
        ArgSpec::new("schema", Kind::Str),
        ArgSpec::new("roles", Kind::Str)
            .required()
            .aliases(&["role"]),
        ArgSpec::new("target_roles", Kind::Str),
        ArgSpec::new("grant_option", Kind::Bool).aliases(&["admin_option"]),
        ArgSpec::new("fail_on_role", Kind::Bool),
        ArgSpec::new("usage_on_types", Kind::Bool),
    ),
);

/// How to read and name objects of a type.
struct Catalog {
    /// The GRANT's object keyword (`TABLE`, `FUNCTION`...).
    keyword: &'static str,
    /// Catalog table, ACL column, owner column, acldefault code.
    table: &'static str,
    acl: &'static str,
    owner: &'static str,
    code: &'static str,
    /// Every privilege of `ALL`.
    all: &'static [&'static str],
    /// Does the type live in a schema (ALL_IN_SCHEMA)?
    in_schema: Option<&'static str>,
}

fn catalog(kind: &str) -> Option<Catalog> {
    let c = |keyword, table, acl, owner, code, all, in_schema| Catalog {
        keyword,
        table,
        acl,
        owner,
        code,
        all,
        in_schema,
    };
    const TABLE: &[&str] = &[
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "TRUNCATE",
        "REFERENCES",
        "TRIGGER",
    ];
    Some(match kind {
        "table" => c(
            "TABLE",
            "pg_class",
            "relacl",
            "relowner",
            "r",
            TABLE,
            Some("x.relnamespace = {s}::regnamespace AND x.relkind IN ('r','v','m','f','p')"),
        ),
        "sequence" => c(
            "SEQUENCE",
            "pg_class",
            "relacl",
            "relowner",
            "s",
            &["USAGE", "SELECT", "UPDATE"],
            Some("x.relnamespace = {s}::regnamespace AND x.relkind = 'S'"),
        ),
        "function" => c(
            "FUNCTION",
            "pg_proc",
            "proacl",
            "proowner",
            "f",
            &["EXECUTE"],
            Some("x.pronamespace = {s}::regnamespace AND x.prokind IN ('f','w')"),
        ),
        "procedure" => c(
            "PROCEDURE",
            "pg_proc",
            "proacl",
            "proowner",
            "f",
            &["EXECUTE"],
            Some("x.pronamespace = {s}::regnamespace AND x.prokind = 'p'"),
        ),
        "database" => c(
            "DATABASE",
            "pg_database",
            "datacl",
            "datdba",
            "d",
            &["CREATE", "CONNECT", "TEMPORARY"],
            None,
        ),
        "schema" => c(
            "SCHEMA",
            "pg_namespace",
            "nspacl",
            "nspowner",
            "n",
            &["USAGE", "CREATE"],
            None,
        ),
        "tablespace" => c(
            "TABLESPACE",
            "pg_tablespace",
            "spcacl",
            "spcowner",
            "t",
            &["CREATE"],
            None,
        ),
        "language" => c(
            "LANGUAGE",
            "pg_language",
            "lanacl",
            "lanowner",
            "l",
            &["USAGE"],
            None,
        ),
        "type" => c(
            "TYPE",
            "pg_type",
            "typacl",
            "typowner",
            "T",
            &["USAGE"],
            None,
        ),
        _ => return None,
    })
}

/// `ALTER DEFAULT PRIVILEGES` object kinds: (keyword, pg_default_acl code,
/// acldefault code, ALL).
const DEFAULTS: &[(&str, &str, &str, &[&str])] = &[
    (
        "TABLES",
        "r",
        "r",
        &[
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
            "TRUNCATE",
            "REFERENCES",
            "TRIGGER",
        ],
    ),
    ("SEQUENCES", "S", "s", &["USAGE", "SELECT", "UPDATE"]),
    ("FUNCTIONS", "f", "f", &["EXECUTE"]),
    ("TYPES", "T", "T", &["USAGE"]),
    ("SCHEMAS", "n", "n", &["USAGE", "CREATE"]),
];

#[derive(Debug, Clone)]
struct Want {
    db: String,
    present: bool,
    kind: String,
    privs: Vec<String>,
    objs: Vec<String>,
    schema: Option<String>,
    roles: Vec<String>,
    target_roles: Vec<String>,
    grant_option: Option<bool>,
    fail_on_role: bool,
}

fn list(s: Option<String>) -> Vec<String> {
    s.unwrap_or_default()
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

impl Want {
    fn new(args: &Args) -> Result<Want, Fail> {
        let kind = args.string("type").unwrap_or_else(|| "table".into());
        let mut privs: Vec<String> = list(args.string("privs"))
            .into_iter()
            .map(|p| match p.to_ascii_uppercase().as_str() {
                "TEMP" => "TEMPORARY".into(),
                "ALL PRIVILEGES" => "ALL".into(),
                u => u.to_string(),
            })
            .collect();
        privs.dedup();
        let w = Want {
            db: args.string("database").unwrap_or_default(),
            present: args.str("state") != Some("absent"),
            kind: kind.clone(),
            privs,
            objs: list(args.string("objs")),
            schema: args.string("schema").filter(|s| !s.is_empty()),
            roles: list(args.string("roles")),
            target_roles: list(args.string("target_roles")),
            grant_option: args.bool("grant_option"),
            fail_on_role: args.bool_or("fail_on_role", true),
        };
        if matches!(
            kind.as_str(),
            "foreign_data_wrapper" | "foreign_server" | "large_object" | "parameter"
        ) {
            return fail::bad_args(format!(
                "type {kind} is not implemented by opsctl (table, sequence, function, procedure, database, schema, language, tablespace, type, group and default_privs are)"
            ));
        }
        if w.roles.is_empty() {
            return fail::bad_args("roles must name at least one role (or PUBLIC)");
        }
        if kind != "group" && w.privs.is_empty() {
            return fail::bad_args(format!("type {kind} needs the argument 'privs'"));
        }
        if kind == "database" && w.objs.is_empty() {
            // Ansible: the database connected to
            return Ok(Want {
                objs: vec![w.db.clone()],
                ..w
            });
        }
        if kind == "schema" && w.objs.is_empty() {
            return fail::bad_args("type schema needs the argument 'objs' (the schemas)");
        }
        if !matches!(kind.as_str(), "database" | "schema") && w.objs.is_empty() {
            return fail::bad_args(format!("type {kind} needs the argument 'objs'"));
        }
        if w.schema.is_some()
            && !matches!(
                kind.as_str(),
                "table" | "sequence" | "function" | "procedure" | "type" | "default_privs"
            )
        {
            return fail::bad_args(format!("schema is not valid with type {kind}"));
        }
        if !w.target_roles.is_empty() && kind != "default_privs" {
            return fail::bad_args("target_roles is only valid with type default_privs");
        }
        if let Some(c) = catalog(&kind) {
            for p in &w.privs {
                if p != "ALL" && !c.all.contains(&p.as_str()) {
                    return fail::bad_args(format!(
                        "privilege {p} does not apply to a {kind} (valid: ALL, {})",
                        c.all.join(", ")
                    ));
                }
            }
        }
        Ok(w)
    }

    fn schema(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }

    /// A role in SQL: PUBLIC as the keyword, others quoted.
    fn role_sql(r: &str) -> String {
        if r.eq_ignore_ascii_case("public") {
            "PUBLIC".into()
        } else {
            ident(r)
        }
    }

    /// The privileges wanted, `ALL` expanded.
    fn expand(&self, all: &[&str]) -> Vec<String> {
        if self.privs.iter().any(|p| p == "ALL") {
            all.iter().map(|p| p.to_string()).collect()
        } else {
            self.privs.clone()
        }
    }
}

/// The JSON of one object's exploded ACL.
fn acl_json(acl: &str) -> String {
    format!(
        "(SELECT coalesce(json_agg(json_build_object('grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, 'priv', a.privilege_type, 'grant', a.is_grantable)), '[]'::json) FROM aclexplode({acl}) a)"
    )
}

/// A function's reference as SQL from `name(int:int)` (Ansible's form).
fn function_ref(schema: &str, obj: &str) -> String {
    match obj.split_once('(') {
        Some((name, args)) => format!(
            "{}.{}({})",
            ident(schema),
            ident(name.trim()),
            args.trim_end_matches(')').replace(':', ",")
        ),
        None => format!("{}.{}()", ident(schema), ident(obj.trim())),
    }
}

/// The read: the roles that exist and, per object, its target and ACL.
fn query(w: &Want) -> String {
    let mut roles: Vec<String> = w.roles.clone();
    roles.extend(w.target_roles.iter().cloned());
    if w.kind == "group" {
        roles.extend(w.objs.iter().cloned());
    }
    let role_list = roles.iter().map(|r| lit(r)).collect::<Vec<_>>().join(", ");
    let roles_sql = format!(
        "(SELECT coalesce(json_agg(rolname), '[]'::json) FROM pg_roles WHERE rolname IN ({role_list}))"
    );
    let objs = match w.kind.as_str() {
        "group" => {
            let groups = w.objs.iter().map(|g| lit(g)).collect::<Vec<_>>().join(", ");
            format!(
                "(SELECT coalesce(json_agg(json_build_object('group', g.rolname, 'member', m.rolname, 'admin', am.admin_option)), '[]'::json) \
                 FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid JOIN pg_roles m ON m.oid = am.member WHERE g.rolname IN ({groups}))"
            )
        }
        "default_privs" => {
            let owners: Vec<String> = if w.target_roles.is_empty() {
                vec!["current_user".into()]
            } else {
                w.target_roles.iter().map(|r| lit(r)).collect()
            };
            let ns = match &w.schema {
                Some(s) => format!("{}::regnamespace", lit(&ident(s))),
                None => "0::oid".into(),
            };
            let mut parts = Vec::new();
            for owner in owners {
                for (kw, dcode, acode, _) in DEFAULTS {
                    let base = if w.schema.is_some() {
                        "NULL::aclitem[]".to_string()
                    } else {
                        format!("acldefault('{acode}', r.oid)")
                    };
                    parts.push(format!(
                        "(SELECT json_build_object('obj', '{kw}', 'owner', r.rolname, 'acl', {}) FROM pg_roles r \
                         LEFT JOIN pg_default_acl d ON d.defaclrole = r.oid AND d.defaclnamespace = {ns} AND d.defaclobjtype = '{dcode}' \
                         WHERE r.rolname = {owner})",
                        acl_json(&format!("coalesce(d.defaclacl, {base})"))
                    ));
                }
            }
            format!("json_build_array({})", parts.join(", "))
        }
        kind => {
            let c = catalog(kind).expect("a known type");
            let acl = acl_json(&format!(
                "coalesce(x.{}, acldefault('{}', x.{}))",
                c.acl, c.code, c.owner
            ));
            let mut parts = Vec::new();
            let schema_lit = lit(&ident(w.schema()));
            for obj in &w.objs {
                if obj == "ALL_IN_SCHEMA" {
                    let Some(cond) = c.in_schema else { continue };
                    let target = match kind {
                        "function" | "procedure" => "x.oid::regprocedure::text".to_string(),
                        _ => format!("format('%I.%I', {}, x.relname)", lit(w.schema())),
                    };
                    let name = match kind {
                        "function" | "procedure" => "x.oid::regprocedure::text",
                        _ => "x.relname",
                    };
                    parts.push(format!(
                        "(SELECT coalesce(json_agg(json_build_object('obj', {name}, 'target', {target}, 'acl', {acl})), '[]'::json) FROM {} x WHERE {})",
                        c.table,
                        cond.replace("{s}", &schema_lit)
                    ));
                    continue;
                }
                let (cond, target) = match kind {
                    "table" | "sequence" => {
                        let r = format!("{}.{}", ident(w.schema()), ident(obj));
                        (format!("x.oid = to_regclass({})", lit(&r)), r)
                    }
                    "function" | "procedure" => {
                        let r = function_ref(w.schema(), obj);
                        (format!("x.oid = to_regprocedure({})", lit(&r)), r)
                    }
                    "type" => {
                        let r = format!("{}.{}", ident(w.schema()), ident(obj));
                        (format!("x.oid = to_regtype({})", lit(&r)), r)
                    }
                    "database" => (format!("x.datname = {}", lit(obj)), ident(obj)),
                    "schema" => (format!("x.nspname = {}", lit(obj)), ident(obj)),
                    "tablespace" => (format!("x.spcname = {}", lit(obj)), ident(obj)),
                    _ => (format!("x.lanname = {}", lit(obj)), ident(obj)),
                };
                parts.push(format!(
                    "(SELECT coalesce(json_agg(json_build_object('obj', {}, 'target', {}, 'acl', {acl})), json_build_array(json_build_object('obj', {}, 'missing', true))) FROM {} x WHERE {cond})",
                    lit(obj),
                    lit(&target),
                    lit(obj),
                    c.table
                ));
            }
            format!("json_build_array({})", parts.join(", "))
        }
    };
    format!("SELECT json_build_object('roles', {roles_sql}, 'objs', {objs});")
}

/// (grantee, privilege) -> grantable, of an object's ACL.
fn held(acl: &Json) -> Vec<(String, String, bool)> {
    acl.as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                postgres::text(a, "grantee"),
                postgres::text(a, "priv"),
                a["grant"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

/// The statements for one object and one role: (grants, grant option revokes
/// / revokes), from what the role holds.
fn plan_one(
    w: &Want,
    have: &[(String, String, bool)],
    role: &str,
    all: &[&str],
    on: &str,
) -> Vec<String> {
    let is = |g: &str| {
        if role.eq_ignore_ascii_case("public") {
            g == "PUBLIC"
        } else {
            g == role
        }
    };
    let mine: Vec<&(String, String, bool)> = have.iter().filter(|(g, _, _)| is(g)).collect();
    let holds = |p: &str| mine.iter().find(|(_, q, _)| q == p).map(|(_, _, g)| *g);
    let wanted = w.expand(all);
    let r = Want::role_sql(role);
    let mut sql = Vec::new();
    if w.present {
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|p| match holds(p) {
                None => true,
                Some(g) => w.grant_option == Some(true) && !g,
            })
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let opt = if w.grant_option == Some(true) {
                " WITH GRANT OPTION"
            } else {
                ""
            };
            sql.push(format!("GRANT {} ON {on} TO {r}{opt}", missing.join(", ")));
        }
        if w.grant_option == Some(false) {
            let grantable: Vec<&str> = wanted
                .iter()
                .filter(|p| holds(p) == Some(true))
                .map(String::as_str)
                .collect();
            if !grantable.is_empty() {
                sql.push(format!(
                    "REVOKE GRANT OPTION FOR {} ON {on} FROM {r}",
                    grantable.join(", ")
                ));
            }
        }
    } else {
        let to_revoke: Vec<&str> = wanted
            .iter()
            .filter(|p| match holds(p) {
                None => false,
                Some(g) => w.grant_option != Some(true) || g,
            })
            .map(String::as_str)
            .collect();
        if !to_revoke.is_empty() {
            let what = if w.grant_option == Some(true) {
                "GRANT OPTION FOR "
            } else {
                ""
            };
            sql.push(format!(
                "REVOKE {what}{} ON {on} FROM {r}",
                to_revoke.join(", ")
            ));
        }
    }
    sql
}

/// The privileges as `--diff` shows them: one `object grantee privilege` line each.
fn acl_lines(
    out: &mut BTreeSet<String>,
    obj: &str,
    have: &[(String, String, bool)],
    roles: &[String],
) {
    for (g, p, grant) in have {
        if roles
            .iter()
            .any(|r| r == g || (r.eq_ignore_ascii_case("public") && g == "PUBLIC"))
        {
            let opt = if *grant { " WITH GRANT OPTION" } else { "" };
            out.insert(format!("{obj}: {g} {p}{opt}"));
        }
    }
}

fn probe(args: &Args, w: &Want) -> Result<Need, Fail> {
    Ok(Conn::new(args, &w.db)?.probe("postgresql_privs: read", &query(w)))
}

pub struct PostgresqlPrivs;

impl Module for PostgresqlPrivs {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = Want::new(args)?;
        Ok(vec![probe(args, &w)?])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let mut w = Want::new(args)?;
        let got = postgres::read(&probe(args, &w)?, facts)?;
        let exist: Vec<String> = got["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        let mut warnings = Vec::new();
        let mut roles = Vec::new();
        for r in &w.roles {
            if r.eq_ignore_ascii_case("public") || exist.contains(r) {
                roles.push(r.clone());
            } else if w.fail_on_role {
                return fail::fail(format!("Role {r} does not exist"));
            } else {
                warnings.push(format!("Role {r} does not exist, skipped"));
            }
        }
        for r in &w.target_roles {
            if !exist.contains(r) {
                return fail::fail(format!("Role {r} does not exist (target_roles)"));
            }
        }
        w.roles = roles;
        let mut sql = Vec::new();
        let mut before = BTreeSet::new();
        match w.kind.as_str() {
            "group" => {
                for g in &w.objs {
                    if !exist.contains(g) {
                        return fail::fail(format!("Role {g} does not exist (objs: the groups)"));
                    }
                }
                let members: Vec<(String, String, bool)> = got["objs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| {
                        (
                            postgres::text(m, "group"),
                            postgres::text(m, "member"),
                            m["admin"].as_bool().unwrap_or(false),
                        )
                    })
                    .collect();
                for (g, m, a) in &members {
                    if w.roles.contains(m) {
                        let opt = if *a { " WITH ADMIN OPTION" } else { "" };
                        before.insert(format!("{g}: member {m}{opt}"));
                    }
                }
                for g in &w.objs {
                    for m in &w.roles {
                        let is = members.iter().find(|(gg, mm, _)| gg == g && mm == m);
                        let (gq, mq) = (ident(g), Want::role_sql(m));
                        match (w.present, is) {
                            (true, None) => sql.push(format!(
                                "GRANT {gq} TO {mq}{}",
                                if w.grant_option == Some(true) {
                                    " WITH ADMIN OPTION"
                                } else {
                                    ""
                                }
                            )),
                            (true, Some((_, _, false))) if w.grant_option == Some(true) => {
                                sql.push(format!("GRANT {gq} TO {mq} WITH ADMIN OPTION"))
                            }
                            (true, Some((_, _, true))) if w.grant_option == Some(false) => {
                                sql.push(format!("REVOKE ADMIN OPTION FOR {gq} FROM {mq}"))
                            }
                            (false, Some((_, _, true))) if w.grant_option == Some(true) => {
                                sql.push(format!("REVOKE ADMIN OPTION FOR {gq} FROM {mq}"))
                            }
                            (false, Some(_)) if w.grant_option == Some(true) => {}
                            (false, Some(_)) => sql.push(format!("REVOKE {gq} FROM {mq}")),
                            _ => {}
                        }
                    }
                }
            }
            "default_privs" => {
                let kinds: Vec<String> = w
                    .objs
                    .iter()
                    .flat_map(|o| {
                        if o.eq_ignore_ascii_case("ALL_DEFAULT") {
                            let mut v = vec!["TABLES", "SEQUENCES", "FUNCTIONS", "TYPES"];
                            if w.schema.is_none() {
                                v.push("SCHEMAS");
                            }
                            v.into_iter().map(str::to_string).collect()
                        } else {
                            vec![o.to_ascii_uppercase()]
                        }
                    })
                    .collect();
                for k in &kinds {
                    if !DEFAULTS.iter().any(|(kw, ..)| kw == k) {
                        return fail::bad_args(format!(
                            "objs: {k} is not a default privileges kind (ALL_DEFAULT, TABLES, SEQUENCES, FUNCTIONS, TYPES, SCHEMAS)"
                        ));
                    }
                }
                for entry in got["objs"].as_array().into_iter().flatten() {
                    let kw = postgres::text(entry, "obj");
                    if !kinds.contains(&kw) {
                        continue;
                    }
                    let owner = postgres::text(entry, "owner");
                    let all = DEFAULTS
                        .iter()
                        .find(|(k, ..)| *k == kw)
                        .map(|d| d.3)
                        .unwrap_or(&[]);
                    let have = held(&entry["acl"]);
                    acl_lines(&mut before, &format!("{owner} {kw}"), &have, &w.roles);
                    let mut prefix = "ALTER DEFAULT PRIVILEGES".to_string();
                    if !w.target_roles.is_empty() {
                        prefix.push_str(&format!(" FOR ROLE {}", ident(&owner)));
                    }
                    if let Some(s) = &w.schema {
                        prefix.push_str(&format!(" IN SCHEMA {}", ident(s)));
                    }
                    for r in &w.roles {
                        for s in plan_one(&w, &have, r, all, &kw) {
                            sql.push(format!("{prefix} {s}"));
                        }
                    }
                }
            }
            kind => {
                let c = catalog(kind).expect("a known type");
                for entry in got["objs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|e| e.as_array().cloned().unwrap_or_default())
                {
                    let obj = postgres::text(&entry, "obj");
                    if entry["missing"] == json!(true) {
                        return fail::fail(format!(
                            "{kind} {obj} does not exist in database {}{}",
                            w.db,
                            if c.in_schema.is_some() {
                                format!(" (schema {})", w.schema())
                            } else {
                                String::new()
                            }
                        ));
                    }
                    let have = held(&entry["acl"]);
                    acl_lines(&mut before, &obj, &have, &w.roles);
                    let on = format!("{} {}", c.keyword, postgres::text(&entry, "target"));
                    for r in &w.roles {
                        sql.extend(plan_one(&w, &have, r, c.all, &on));
                    }
                }
            }
        }
        let mut res = Outcome::ok().with("queries", postgres::shown(&sql));
        if !warnings.is_empty() {
            res.data.insert("warnings".into(), json!(warnings));
        }
        if sql.is_empty() {
            return Ok(Plan::Done(res));
        }
        res.changed = true;
        res.msg = Some(format!(
            "privileges {} in database {}",
            if w.present { "granted" } else { "revoked" },
            w.db
        ));
        if ctx.diff {
            let text =
                |s: &BTreeSet<String>| s.iter().map(|l| format!("{l}\n")).collect::<String>();
            res.diffs.push(Diff::new(
                format!("privileges in database {}", w.db),
                text(&before),
                // what is held, then the statements that change it
                format!(
                    "{}{}",
                    text(&before),
                    sql.iter().map(|s| format!("{s}\n")).collect::<String>()
                ),
            ));
        }
        Ok(Plan::change(
            res,
            Conn::new(args, &w.db)?.change("postgresql_privs: change", &sql, true),
        ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_take_ansibles_colon_form() {
        assert_eq!(
            function_ref("public", "add(int:int)"),
            "\"public\".\"add\"(int,int)"
        );
    }
}
