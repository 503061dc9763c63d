//! postgresql_ext (community.postgresql): an extension present in a
//! database (in a `schema`, at a `version` or `latest`, with `cascade`),
//! updated or moved to another schema, or absent.
//!
//! On the module protocol, through `psql` on the host (see `postgres`): one
//! catalog query reads the installed extension (`pg_extension`) and the
//! versions the server offers (`pg_available_extension_versions`); `decide`
//! plans `CREATE`/`ALTER`/`DROP EXTENSION`; the change runs it in one
//! transaction. Registers `prev_version`, `version` and `queries`.

use super::fail::{self, Fail};
use super::postgres::{self, Conn, ident, lit};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};

pub static POSTGRESQL_EXT: Spec = Spec::new(
    "postgresql_ext",
    crate::postgres_args!(
        ArgSpec::new("name", Kind::Str).required().aliases(&["ext"]),
        ArgSpec::new("db", Kind::Str).aliases(&["login_db", "database"]),
        ArgSpec::new("schema", Kind::Str),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("cascade", Kind::Bool),
        ArgSpec::new("version", Kind::Str),
    ),
);

fn conn(args: &Args) -> Result<Conn, Fail> {
    let db = args.string("db").unwrap_or_else(|| "postgres".into());
    Conn::new(args, &db)
}

fn query(name: &str) -> String {
    let n = lit(name);
    format!(
        "SELECT json_build_object(\
         'installed', (SELECT json_build_object('version', e.extversion, 'schema', s.nspname) \
         FROM pg_extension e JOIN pg_namespace s ON s.oid = e.extnamespace WHERE e.extname = {n}), \
         'default', (SELECT default_version FROM pg_available_extensions WHERE name = {n}), \
         'versions', (SELECT json_agg(version) FROM pg_available_extension_versions WHERE name = {n}));"
    )
}

/// Versions compared as Ansible's LooseVersion does: numbers as numbers.
fn version_key(v: &str) -> Vec<(u64, String)> {
    let re = regex::Regex::new(r"\d+|[A-Za-z]+").expect("a valid regex");
    re.find_iter(v)
        .map(|m| match m.as_str().parse::<u64>() {
            Ok(n) => (n, String::new()),
            Err(_) => (0, m.as_str().to_string()),
        })
        .collect()
}

fn probe(args: &Args) -> Result<Need, Fail> {
    let name = args.string("name").unwrap_or_default();
    Ok(conn(args)?.probe("postgresql_ext: read", &query(&name)))
}

pub struct PostgresqlExt;

impl Module for PostgresqlExt {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![probe(args)?])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let name = args.string("name").unwrap_or_default();
        if name.is_empty() {
            return fail::bad_args("name must not be empty");
        }
        let got = postgres::read(&probe(args)?, facts)?;
        let installed = &got["installed"];
        let prev = postgres::text(installed, "version");
        let present = args.str("state") != Some("absent");
        let cascade = if args.bool_or("cascade", false) {
            " CASCADE"
        } else {
            ""
        };
        let schema = args.string("schema").filter(|s| !s.is_empty());
        let mut versions: Vec<String> = got["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        versions.sort_by_key(|v| version_key(v));
        let want_version = match args.string("version").filter(|v| !v.is_empty()) {
            Some(v) if v == "latest" => versions.last().cloned(),
            other => other,
        };
        let q = ident(&name);
        let mut sql = Vec::new();
        let mut version = prev.clone();
        let mut after_schema = postgres::text(installed, "schema");
        if present {
            if versions.is_empty() && installed.is_null() {
                return fail::fail(format!(
                    "Extension {name} is not available on this server (install the package that provides it, e.g. postgresql-contrib)"
                ));
            }
            if let Some(v) = &want_version
                && !versions.contains(v)
                && *v != prev
            {
                return fail::fail(format!(
                    "Passed version '{v}' is not available for extension {name} (available: {})",
                    versions.join(", ")
                ));
            }
            if installed.is_null() {
                let mut c = format!("CREATE EXTENSION {q}");
                if let Some(s) = &schema {
                    c.push_str(&format!(" SCHEMA {}", ident(s)));
                    after_schema = s.clone();
                }
                if let Some(v) = &want_version {
                    c.push_str(&format!(" VERSION {}", lit(v)));
                    version = v.clone();
                } else {
                    version = postgres::text(&got, "default");
                }
                c.push_str(cascade);
                sql.push(c);
            } else {
                if let Some(v) = &want_version
                    && *v != prev
                {
                    sql.push(format!("ALTER EXTENSION {q} UPDATE TO {}", lit(v)));
                    version = v.clone();
                }
                if let Some(s) = &schema
                    && *s != after_schema
                {
                    sql.push(format!("ALTER EXTENSION {q} SET SCHEMA {}", ident(s)));
                    after_schema = s.clone();
                }
            }
        } else if !installed.is_null() {
            sql.push(format!("DROP EXTENSION {q}{cascade}"));
            version = String::new();
        }
        let mut res = Outcome::ok()
            .with("prev_version", prev.clone())
            .with("version", version.clone())
            .with("queries", postgres::shown(&sql));
        if sql.is_empty() {
            return Ok(Plan::Done(res));
        }
        res.changed = true;
        let db = args.string("db").unwrap_or_else(|| "postgres".into());
        res.msg = Some(if !present {
            format!("extension {name} dropped from {db}")
        } else if installed.is_null() {
            format!("extension {name} created in {db}")
        } else {
            format!("extension {name} altered in {db}")
        });
        if ctx.diff {
            let show = |v: &str, s: &str| {
                if v.is_empty() {
                    String::new()
                } else {
                    format!("extension: {name}\nversion: {v}\nschema: {s}\n")
                }
            };
            res.diffs.push(Diff::new(
                format!("extension {name} in {db}"),
                show(&prev, &postgres::text(installed, "schema")),
                show(&version, &after_schema),
            ));
        }
        Ok(Plan::change(
            res,
            conn(args)?.change("postgresql_ext: change", &sql, true),
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
    #[test]
    fn versions_sort_as_numbers() {
        let mut v = vec!["1.10", "1.2", "1.9"];
        v.sort_by_key(|s| super::version_key(s));
        assert_eq!(v, ["1.2", "1.9", "1.10"]);
    }
}
