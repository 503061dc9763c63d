//! django_manage (community.general): a Django `manage.py` command in
//! `project_path`, with the arguments Ansible passes (`--settings`,
//! `--pythonpath`, `--database`, `--noinput`, `--failfast`, `--testrunner`,
//! `--clear`, `--link`, `--skip`, `--merge`; `apps`, `cache_table` and
//! `fixtures` at the end), run by the virtualenv's python when `virtualenv`
//! is given (its `bin/` first on PATH), else by `python3`.
//!
//! Changed as Ansible decides it, from what the command printed: `migrate`
//! when it applied migrations (`Applying ...`), `collectstatic` when it copied
//! or linked files, `loaddata` when it installed objects, `createcachetable`
//! when it created a table; other commands report no change.
//!
//! On the module protocol, the commands that have a read-only dry run are
//! decided ahead by it, so a converged project changes nothing and `--check`
//! reports what would run: `migrate --plan` (the migrations it would apply),
//! `collectstatic --dry-run` (the files it would copy),
//! `createcachetable --dry-run` (the tables it would create); `--diff` shows
//! the plan. The other commands (loaddata, flush, test, check, any other)
//! always run, and are skipped in check mode.

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Ctx, Facts, InCheck, Module, Need, Plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static DJANGO_MANAGE: Spec = Spec::new(
    "django_manage",
    &[
        ArgSpec::new("command", Kind::Str).required(),
        ArgSpec::new("project_path", Kind::Str)
            .required()
            .aliases(&["app_path", "chdir"]),
        ArgSpec::new("settings", Kind::Str),
        ArgSpec::new("pythonpath", Kind::Str).aliases(&["python_path"]),
        ArgSpec::new("virtualenv", Kind::Str).aliases(&["virtual_env"]),
        ArgSpec::new("apps", Kind::Str),
        ArgSpec::new("cache_table", Kind::Str),
        ArgSpec::new("clear", Kind::Bool),
        ArgSpec::new("database", Kind::Str),
        ArgSpec::new("failfast", Kind::Bool).aliases(&["fail_fast"]),
        ArgSpec::new("fixtures", Kind::Str),
        ArgSpec::new("testrunner", Kind::Str).aliases(&["test_runner"]),
        ArgSpec::new("link", Kind::Bool),
        ArgSpec::new("merge", Kind::Bool),
        ArgSpec::new("skip", Kind::Bool),
        ArgSpec::new("ack_venv_creation_deprecation", Kind::Bool),
    ],
);

/// The arguments each known command accepts (Ansible's map); other commands
/// accept the general ones only.
const ALLOWED: &[(&str, &[&str])] = &[
    ("cleanup", &[]),
    ("createcachetable", &["cache_table", "database"]),
    ("flush", &["database"]),
    ("loaddata", &["database", "fixtures"]),
    ("syncdb", &["database"]),
    ("test", &["failfast", "testrunner", "apps"]),
    ("validate", &[]),
    ("migrate", &["apps", "skip", "merge", "database"]),
    ("collectstatic", &["clear", "link"]),
];

/// Commands that get `--noinput`.
const NOINPUT: &[&str] = &["flush", "syncdb", "migrate", "test", "collectstatic"];

#[derive(Debug, Clone)]
struct Want {
    /// The command's words (`migrate --fake` is two).
    words: Vec<String>,
    project: String,
    virtualenv: Option<String>,
}

impl Want {
    fn new(args: &Args) -> Result<Want, Fail> {
        let command = args.string("command").unwrap_or_default();
        let words = shlex::split(&command)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| {
                Fail::Args(format!(
                    "command: '{command}' is empty or has unbalanced quotes"
                ))
            })?;
        let project = args.string("project_path").unwrap_or_default();
        if project.is_empty() {
            return fail::bad_args("project_path must not be empty");
        }
        let w = Want {
            words,
            project,
            virtualenv: args.string("virtualenv").filter(|v| !v.is_empty()),
        };
        let bin = w.bin();
        if let Some((_, allowed)) = ALLOWED.iter().find(|(c, _)| *c == bin) {
            for p in [
                "apps",
                "clear",
                "database",
                "failfast",
                "fixtures",
                "testrunner",
                "cache_table",
            ] {
                let given = match args.get(p) {
                    Some(serde_json::Value::Bool(b)) => *b,
                    Some(serde_json::Value::String(s)) => !s.is_empty(),
                    Some(_) => true,
                    None => false,
                };
                if given && !allowed.contains(&p) {
                    return fail::bad_args(format!("{p} param is incompatible with command={bin}"));
                }
            }
        }
        if bin == "loaddata" && args.string("fixtures").is_none_or(|f| f.is_empty()) {
            return fail::bad_args("command=loaddata needs the argument 'fixtures'");
        }
        Ok(w)
    }

    fn bin(&self) -> &str {
        &self.words[0]
    }
}

/// `manage.py` and its arguments, as words (Ansible's order).
fn command_words(args: &Args, w: &Want, extra: &[&str]) -> Vec<String> {
    let mut c: Vec<String> = vec!["manage.py".into()];
    c.extend(w.words.iter().cloned());
    if NOINPUT.contains(&w.bin()) {
        c.push("--noinput".into());
    }
    for p in ["settings", "pythonpath", "database"] {
        if let Some(v) = args.string(p).filter(|v| !v.is_empty()) {
            c.push(format!("--{p}={v}"));
        }
    }
    if args.bool_or("failfast", false) {
        c.push("--failfast".into());
    }
    if let Some(t) = args.string("testrunner").filter(|v| !v.is_empty()) {
        c.push(format!("--testrunner={t}"));
    }
    for p in ["clear", "skip", "merge", "link"] {
        if args.bool_or(p, false) {
            c.push(format!("--{p}"));
        }
    }
    c.extend(extra.iter().map(|s| s.to_string()));
    for p in ["apps", "cache_table", "fixtures"] {
        if let Some(v) = args.string(p) {
            c.extend(shlex::split(&v).unwrap_or_else(|| vec![v.clone()]));
        }
    }
    c
}

/// The script that runs `words` in the project with the right python.
fn script(w: &Want, words: &[String], what: &str) -> String {
    let mut s = format!(
        "# opsctl django_manage: {what}\ncd {} || {{ echo '@@nodir' >&2; exit 125; }}\n",
        shell_quote(&w.project)
    );
    let python = match &w.virtualenv {
        Some(v) => {
            let v = shell_quote(v);
            s.push_str(&format!(
                "[ -x {v}/bin/python ] || {{ echo '@@novenv' >&2; exit 125; }}\nVIRTUAL_ENV={v}; PATH={v}/bin:$PATH; export VIRTUAL_ENV PATH\n"
            ));
            "python".to_string()
        }
        None => "python3".to_string(),
    };
    s.push_str("[ -f manage.py ] || { echo '@@nomanage' >&2; exit 125; }\n");
    let line: Vec<String> = words.iter().map(|x| shell_quote(x)).collect();
    s.push_str(&format!("exec {python} {} 2>&1\n", line.join(" ")));
    s
}

/// The dry run that decides a command ahead, when it has one.
fn dry_run(args: &Args, w: &Want) -> Option<Need> {
    let extra: &[&str] = match w.bin() {
        "migrate" => &["--plan"],
        "collectstatic" | "createcachetable" => &["--dry-run"],
        _ => return None,
    };
    let words = command_words(args, w, extra);
    Some(Need::Probe(script(w, &words, "dry run")))
}

/// What a failed run said, with what to do.
fn failure(w: &Want, out: &crate::transport::Output) -> String {
    let text = format!("{}{}", out.stdout_str(), out.stderr_str());
    if text.contains("@@nodir") {
        return format!("project_path {} does not exist on the host", w.project);
    }
    if text.contains("@@novenv") {
        return format!(
            "virtualenv {} has no bin/python: create it first (pip with virtualenv:, or python3 -m venv)",
            w.virtualenv.clone().unwrap_or_default()
        );
    }
    if text.contains("@@nomanage") {
        return format!(
            "{}/manage.py does not exist",
            w.project.trim_end_matches('/')
        );
    }
    let tail: Vec<&str> = text.lines().rev().take(12).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!(
        "manage.py {} failed (rc {}): {}",
        w.words.join(" "),
        out.rc.map(|r| r.to_string()).unwrap_or("signal".into()),
        tail.join("\n")
    )
}

/// Did the output report a change, as Ansible's filters read it?
fn changed_by(bin: &str, out: &str) -> bool {
    let copied =
        regex::Regex::new(r"(\d+) static files? (?:copied|symlinked)").expect("a valid regex");
    let installed = regex::Regex::new(r"Installed (\d+) object").expect("a valid regex");
    let n = |re: &regex::Regex, l: &str| {
        re.captures(l)
            .and_then(|c| c[1].parse::<u64>().ok())
            .unwrap_or(0)
    };
    out.lines().any(|l| match bin {
        "migrate" => {
            l.trim_start().starts_with("Applying ")
                || l.contains("Migrating forwards ")
                || n(&installed, l) > 0
        }
        "syncdb" => l.contains("Creating table ") || n(&installed, l) > 0,
        "loaddata" => n(&installed, l) > 0,
        "collectstatic" => n(&copied, l) > 0 || l.starts_with("Deleting "),
        _ => false,
    })
}

/// What a dry run says would change (None: nothing).
fn planned(bin: &str, out: &str) -> Option<String> {
    match bin {
        "migrate" => {
            let ops: Vec<&str> = out
                .lines()
                .skip_while(|l| !l.starts_with("Planned operations"))
                .skip(1)
                .filter(|l| !l.trim().is_empty())
                .collect();
            let none = ops.is_empty()
                || ops
                    .iter()
                    .any(|l| l.contains("No planned migration operations"));
            (!none).then(|| ops.join("\n") + "\n")
        }
        "collectstatic" => {
            let re = regex::Regex::new(r"(\d+) static files? (?:copied|symlinked)")
                .expect("a valid regex");
            let files: Vec<&str> = out
                .lines()
                .filter(|l| l.starts_with("Pretending to ") || l.starts_with("Deleting "))
                .collect();
            let n: u64 = out
                .lines()
                .filter_map(|l| re.captures(l).and_then(|c| c[1].parse::<u64>().ok()))
                .sum();
            (n > 0 || !files.is_empty()).then(|| files.join("\n") + "\n")
        }
        // createcachetable: the SQL of the tables it would create ("Cache
        // table 'x' already exists." for the others)
        _ => out.contains("CREATE TABLE").then(|| {
            out.lines()
                .filter(|l| !l.contains("already exists"))
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        }),
    }
}

pub struct DjangoManage;

impl Module for DjangoManage {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = Want::new(args)?;
        Ok(dry_run(args, &w).into_iter().collect())
    }

    fn predictable(&self, args: &Args) -> bool {
        Want::new(args)
            .is_ok_and(|w| matches!(w.bin(), "migrate" | "collectstatic" | "createcachetable"))
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = Want::new(args)?;
        let words = command_words(args, &w, &[]);
        let mut res = Outcome::ok()
            .with("cmd", words.join(" "))
            .with("project_path", w.project.clone())
            .with("app_path", w.project.clone());
        for k in ["settings", "virtualenv", "pythonpath"] {
            if let Some(v) = args.string(k) {
                res.data.insert(k.into(), json!(v));
            }
        }
        let action = Action::Script {
            script: script(&w, &words, &w.words.join(" ")),
            stdin: None,
        };
        let Some(need) = dry_run(args, &w) else {
            return Ok(Plan::Change(Box::new(super::protocol::Change {
                outcome: res,
                action,
                in_check: InCheck::Skipped(format!(
                    "not run in check mode (manage.py {} has no dry run)",
                    w.bin()
                )),
            })));
        };
        let Need::Probe(s) = &need else {
            return fail::bad_args("internal error: the dry run is a probe");
        };
        let out = facts.probe(s)?;
        if !out.success() {
            return fail::fail(failure(&w, out));
        }
        let Some(plan) = planned(w.bin(), &out.stdout_str()) else {
            res.data.insert("out".into(), json!(out.stdout_str()));
            return Ok(Plan::Done(res));
        };
        res.changed = true;
        if ctx.diff {
            res.diffs.push(Diff::new(
                format!("manage.py {} in {}", w.bin(), w.project),
                "",
                plan,
            ));
        }
        Ok(Plan::change(res, action))
    }

    fn applied(
        &self,
        args: &Args,
        mut planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let w = Want::new(args)?;
        let Applied::Script(out) = result else {
            return Ok(planned);
        };
        if !out.success() {
            let text = out.stdout_str();
            // as Ansible: a cache table that exists is no failure
            if w.bin() == "createcachetable" && text.contains("already exists") {
                planned.changed = false;
                planned.data.insert("out".into(), json!("already exists."));
                return Ok(planned);
            }
            return fail::fail(failure(&w, &out));
        }
        let text = out.stdout_str();
        // createcachetable prints nothing when it creates: its dry run decided
        if w.bin() != "createcachetable" {
            planned.changed = changed_by(w.bin(), &text);
        }
        planned.data.insert("out".into(), json!(text));
        Ok(planned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_as_ansible_reads_them() {
        assert!(changed_by(
            "migrate",
            "Operations to perform:\n  Applying polls.0001_initial... OK\n"
        ));
        assert!(!changed_by(
            "migrate",
            "Operations to perform:\nRunning migrations:\n  No migrations to apply.\n"
        ));
        assert!(changed_by(
            "collectstatic",
            "\n10 static files copied to '/srv/static', 3 unmodified.\n"
        ));
        assert!(!changed_by(
            "collectstatic",
            "\n0 static files copied to '/srv/static', 130 unmodified.\n"
        ));
        assert!(changed_by(
            "loaddata",
            "Installed 2 object(s) from 1 fixture(s)\n"
        ));
        assert!(!changed_by(
            "loaddata",
            "Installed 0 object(s) from 1 fixture(s)\n"
        ));
        assert!(!changed_by(
            "check",
            "System check identified no issues (0 silenced).\n"
        ));
    }

    #[test]
    fn plans_from_dry_runs() {
        assert_eq!(
            planned(
                "migrate",
                "Planned operations:\n  No planned migration operations.\n"
            ),
            None
        );
        assert_eq!(
            planned(
                "migrate",
                "Planned operations:\npolls.0001_initial\n    Create model Question\n"
            )
            .as_deref(),
            Some("polls.0001_initial\n    Create model Question\n")
        );
        assert_eq!(
            planned(
                "collectstatic",
                "\n0 static files copied to '/s', 2 unmodified.\n"
            ),
            None
        );
        assert!(
            planned(
                "collectstatic",
                "Pretending to copy '/p/a.css'\n\n1 static file copied to '/s'.\n"
            )
            .is_some()
        );
    }
}
