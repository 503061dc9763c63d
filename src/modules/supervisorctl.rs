//! supervisorctl: a supervisor program or group (`group:` or `group:*`)
//! present, started, stopped, restarted, signalled or absent, as Ansible's
//! `supervisorctl` module.
//!
//! A probe runs `supervisorctl reread`, `avail` and `status` (gathered with
//! the other tasks' facts; in an exec of its own when a password is given, so
//! that it stays on stdin); the decision is made here; the change runs only
//! the commands needed (`add`, `update`, `start`, `stop`, `restart`, `remove`,
//! `signal`) and reads `status` again.
//! Beyond Ansible: a program whose configuration changed on disk (reread says
//! `changed`) is applied with `update` for present/started/restarted, so
//! `restarted` after a template change runs the new command, and
//! started/restarted add a program that is configured but not loaded yet.
//! The password travels on stdin, never in a command line or the trace.

use serde_json::json;

use super::fail::{self, Fail};
use super::net::{kv, last_line, one_line, unb64s};
use super::protocol::{Action, Applied, Ctx, Facts, Module, Need, Plan as PPlan, SecretProbe};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote as q;

pub static SUPERVISORCTL: Spec = Spec::new(
    "supervisorctl",
    &[
        ArgSpec::new("name", Kind::Str).required(),
        ArgSpec::new(
            "state",
            Kind::Choice(&[
                "present",
                "started",
                "stopped",
                "restarted",
                "absent",
                "signalled",
            ]),
        )
        .required(),
        ArgSpec::new("config", Kind::Str),
        ArgSpec::new("server_url", Kind::Str),
        ArgSpec::new("username", Kind::Str),
        ArgSpec::new("password", Kind::Str),
        ArgSpec::new("supervisorctl_path", Kind::Str),
        ArgSpec::new("signal", Kind::Str),
        ArgSpec::new("stop_before_removing", Kind::Bool),
    ],
);

pub struct Supervisorctl;

/// The name asked: a program, or a group (`grp:` / `grp:*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Program or group name, without `:`/`:*`.
    pub name: String,
    pub group: bool,
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, String> {
        let s = s.trim();
        let (name, group) = match s.strip_suffix(":*").or_else(|| s.strip_suffix(':')) {
            Some(n) => (n, true),
            None => (s, false),
        };
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains(':') {
            return Err(format!(
                "name '{s}' is not a program name or a group (`group:`)"
            ));
        }
        Ok(Target {
            name: name.to_string(),
            group,
        })
    }

    /// Does this process (`prog` or `grp:prog`) belong to the target?
    pub fn matches(&self, process: &str) -> bool {
        match process.split_once(':') {
            Some((g, _)) => g == self.name,
            None => !self.group && process == self.name,
        }
    }
}

/// One line of `supervisorctl status`: (process, STATE).
pub fn parse_status(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (name, state) = (w.next()?, w.next()?);
            let known = [
                "STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL",
                "UNKNOWN",
            ];
            known
                .contains(&state)
                .then(|| (name.to_string(), state.to_string()))
        })
        .collect()
}

/// Processes of `supervisorctl avail`.
pub fn parse_avail(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            let rest: Vec<&str> = w.collect();
            (rest.first() == Some(&"avail") || rest.starts_with(&["in", "use"]))
                .then(|| name.to_string())
        })
        .collect()
}

/// Groups that `reread` reports as `changed` (or `available`).
pub fn parse_reread(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (n, what) = l.trim().split_once(": ")?;
            matches!(what.trim(), "changed" | "available" | "disappeared")
                .then(|| (n.trim().to_string(), what.trim().to_string()))
        })
        .collect()
}

/// Why supervisorctl could not talk to supervisord, if that is what it said.
pub fn connection_error(text: &str) -> Option<String> {
    let markers = [
        "refused connection",
        "no such file",
        "Connection refused",
        "Error: .ini file does not include supervisorctl section",
        "Server requires authentication",
        "could not find config file",
    ];
    text.lines()
        .find(|l| markers.iter().any(|m| l.contains(m)))
        .map(|l| l.trim().to_string())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub status: Vec<(String, String)>,
    pub avail: Vec<String>,
    pub reread: Vec<(String, String)>,
}

/// The commands to run (supervisorctl arguments), in order, and the states
/// expected after them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub commands: Vec<Vec<String>>,
    pub changed: bool,
}

const ACTIVE: [&str; 3] = ["RUNNING", "STARTING", "BACKOFF"];

pub fn decide(t: &Target, state: &str, p: &Probe, signal: Option<&str>) -> Result<Plan, String> {
    let loaded: Vec<&(String, String)> = p.status.iter().filter(|(n, _)| t.matches(n)).collect();
    let known = p.avail.iter().any(|n| t.matches(n)) || !loaded.is_empty();
    let config_changed = p.reread.iter().any(|(g, w)| g == &t.name && w == "changed");
    // start/stop/restart take `grp:*` for groups (and programs with numprocs).
    let grouped = loaded.iter().any(|(n, _)| n.contains(':'))
        || p.avail.iter().any(|n| t.matches(n) && n.contains(':'));
    let proc_target = if t.group || grouped {
        format!("{}:*", t.name)
    } else {
        t.name.clone()
    };
    let cmd = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let unknown = format!(
        "ERROR (no such process): {} is not in the supervisor configuration: add a [program:{}] (or [group:]) file under /etc/supervisor/conf.d/ first",
        t.name, t.name
    );
    let mut plan = Plan::default();
    let add_or_update = |plan: &mut Plan| -> Result<bool, String> {
        if loaded.is_empty() {
            if !known {
                return Err(unknown.clone());
            }
            plan.commands.push(cmd(&["add", &t.name]));
            return Ok(true);
        }
        if config_changed {
            plan.commands.push(cmd(&["update", &t.name]));
            return Ok(true);
        }
        Ok(false)
    };
    match state {
        "present" => {
            add_or_update(&mut plan)?;
        }
        "started" => {
            let fresh = add_or_update(&mut plan)?;
            if fresh
                || loaded
                    .iter()
                    .any(|(_, s)| !ACTIVE[..2].contains(&s.as_str()))
            {
                plan.commands.push(cmd(&["start", &proc_target]));
            }
        }
        "restarted" => {
            let fresh = add_or_update(&mut plan)?;
            plan.commands.push(cmd(&[
                if fresh { "start" } else { "restart" },
                &proc_target,
            ]));
        }
        "stopped" => {
            if loaded.is_empty() && !known {
                return Err(unknown);
            }
            if loaded.iter().any(|(_, s)| ACTIVE.contains(&s.as_str())) {
                plan.commands.push(cmd(&["stop", &proc_target]));
            }
        }
        "signalled" => {
            let sig = signal.ok_or("state=signalled needs signal (for example HUP)")?;
            if loaded.is_empty() && !known {
                return Err(unknown);
            }
            if loaded.iter().any(|(_, s)| s == "RUNNING") {
                plan.commands.push(cmd(&["signal", sig, &proc_target]));
            }
        }
        _ => {
            // absent
            if !loaded.is_empty() {
                if loaded.iter().any(|(_, s)| ACTIVE.contains(&s.as_str())) {
                    plan.commands.push(cmd(&["stop", &proc_target]));
                }
                plan.commands.push(cmd(&["remove", &t.name]));
            }
        }
    }
    plan.changed = !plan.commands.is_empty();
    Ok(plan)
}

/// Is this output line a real error (not "already started" and the like)?
pub fn real_errors(command: &str, output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| l.contains("ERROR"))
        .filter(|l| {
            !(command == "start" && l.contains("already started")
                || command == "stop" && l.contains("not running")
                || command == "add" && l.contains("already active"))
        })
        .map(|l| l.trim().to_string())
        .collect()
}

/// `name STATE [pid N]` lines of the target's processes, for diffs.
fn status_text(text: &str, t: &Target) -> String {
    let pid = regex::Regex::new(r"\bpid (\d+)").ok();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (n, st) = (w.next()?, w.next()?);
            if !t.matches(n) || parse_status(l).is_empty() {
                return None;
            }
            let p = pid
                .as_ref()
                .and_then(|re| re.captures(l))
                .map(|c| format!(" pid {}", &c[1]))
                .unwrap_or_default();
            Some(format!("{n} {st}{p}\n"))
        })
        .collect()
}

/// How supervisorctl is called: the `sc` function, the password (read from
/// stdin), the probe and how it is read.
struct Call {
    head: String,
    pw: String,
}

impl Call {
    fn new(args: &Args) -> Result<Call, Fail> {
        let mut opts = String::new();
        if let Some(c) = args.str("config") {
            opts.push_str(&format!(" -c {}", q(c)));
        }
        if let Some(s) = args.str("server_url") {
            opts.push_str(&format!(" -s {}", q(s)));
        }
        if let Some(u) = args.str("username") {
            opts.push_str(&format!(" -u {}", q(u)));
        }
        let exe = q(args.str("supervisorctl_path").unwrap_or("supervisorctl"));
        let pw = args.str("password").unwrap_or_default().to_string();
        if pw.contains('\n') {
            return fail::bad_args("password must be one line");
        }
        let head = format!(
            "command -v {exe} >/dev/null 2>&1 || {{ echo nosup=1; exit 0; }}\nsc() {{ if [ -n \"$pw\" ]; then {exe}{opts} -p \"$pw\" \"$@\"; else {exe}{opts} \"$@\"; fi; }}\n"
        );
        Ok(Call { head, pw })
    }

    fn stdin(&self) -> Vec<u8> {
        format!("{}\n", self.pw).into_bytes()
    }

    /// `reread`, `avail` and `status`: a plain probe, or one with the password
    /// on its stdin (never in the script).
    fn probe(&self, t: &Target) -> Need {
        let read = if self.pw.is_empty() {
            "pw=\n"
        } else {
            "IFS= read -r pw\n"
        };
        let script = format!(
            "# opsctl supervisorctl: probe {}\n{read}{}for c in reread avail status; do printf '%s=' \"$c\"; sc \"$c\" 2>&1 | base64 -w0; echo; done\n",
            t.name, self.head
        );
        if self.pw.is_empty() {
            Need::Probe(script)
        } else {
            Need::SecretProbe(SecretProbe {
                script,
                stdin: self.stdin(),
            })
        }
    }
}

fn commands_json(plan: &Plan) -> serde_json::Value {
    json!(
        plan.commands
            .iter()
            .map(|c| c.join(" "))
            .collect::<Vec<_>>()
    )
}

impl Module for Supervisorctl {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let t = Target::parse(args.str("name").unwrap_or_default()).map_err(Fail::Task)?;
        Ok(vec![Call::new(args)?.probe(&t)])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<PPlan, Fail> {
        let t = Target::parse(args.str("name").unwrap_or_default()).map_err(Fail::Task)?;
        let state = args.str("state").unwrap_or("present");
        let call = Call::new(args)?;
        let out = match call.probe(&t) {
            Need::SecretProbe(p) => facts.secret_probe(&p)?,
            Need::Probe(p) => facts.probe(&p)?,
            _ => unreachable!("a probe"),
        };
        let m = kv(&out.stdout);
        if m.contains_key("nosup") {
            return fail::fail(
                "supervisorctl is not installed on the host: install supervisor first (apt: name=supervisor)",
            );
        }
        if !out.success() {
            return fail::fail(format!(
                "supervisorctl could not run: {}",
                last_line(&out.stderr_str())
            ));
        }
        let text = |k: &str| m.get(k).map(|s| unb64s(s)).unwrap_or_default();
        let (reread, avail, status) = (text("reread"), text("avail"), text("status"));
        if let Some(e) = connection_error(&reread).or_else(|| connection_error(&status)) {
            return fail::fail(format!(
                "cannot reach supervisord ({e}): is it running? (service supervisor start)"
            ));
        }
        let p = Probe {
            status: parse_status(&status),
            avail: parse_avail(&avail),
            reread: parse_reread(&reread),
        };
        let plan = decide(&t, state, &p, args.str("signal")).map_err(Fail::Task)?;
        let before = status_text(&status, &t);
        let mut o = if plan.changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        };
        o = o
            .with("name", args.str("name").unwrap_or_default())
            .with("state", state)
            .with("commands", commands_json(&plan));
        if !plan.changed {
            return Ok(PPlan::Done(o));
        }
        let shown = plan
            .commands
            .iter()
            .map(|c| c.join(" "))
            .collect::<Vec<_>>()
            .join("; ");
        if ctx.diff {
            // replaced by the status after the change when it runs
            o.diffs.push(Diff::new(
                format!("supervisor {}", t.name),
                before,
                format!("({shown})\n"),
            ));
        }
        let mut script = format!(
            "# opsctl supervisorctl: {}\nIFS= read -r pw\n{}",
            one_line(&shown),
            call.head
        );
        for (i, c) in plan.commands.iter().enumerate() {
            let words: Vec<String> = c.iter().map(|w| q(w)).collect();
            script.push_str(&format!(
                "printf 'c{i}='; sc {} 2>&1 | base64 -w0; echo\n",
                words.join(" ")
            ));
        }
        script.push_str("printf 'status='; sc status 2>&1 | base64 -w0; echo\n");
        Ok(PPlan::change(
            o,
            Action::Script {
                script,
                stdin: Some(call.stdin()),
            },
        ))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let Applied::Script(out) = result else {
            return Ok(planned);
        };
        let t = Target::parse(args.str("name").unwrap_or_default()).map_err(Fail::Task)?;
        let commands: Vec<String> = planned
            .data
            .get("commands")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect();
        let r = kv(&out.stdout);
        let mut errors = Vec::new();
        for (i, c) in commands.iter().enumerate() {
            let said = r
                .get(&format!("c{i}"))
                .map(|s| unb64s(s))
                .unwrap_or_default();
            let verb = c.split(' ').next().unwrap_or_default();
            for e in real_errors(verb, &said) {
                errors.push(format!("{c}: {e}"));
            }
        }
        let after_text = r.get("status").map(|s| unb64s(s)).unwrap_or_default();
        let after_status = parse_status(&after_text);
        let after = status_text(&after_text, &t);
        let mut o = planned.with(
            "processes",
            json!(
                after_status
                    .iter()
                    .filter(|(n, _)| t.matches(n))
                    .map(|(n, s)| json!({"name": n, "state": s}))
                    .collect::<Vec<_>>()
            ),
        );
        if !errors.is_empty() {
            let mut f = Outcome::failed(errors.join("; "));
            f.data = o.data;
            return Ok(f);
        }
        for d in &mut o.diffs {
            d.after = after.clone();
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "app                              RUNNING   pid 12, uptime 0:01:00\nworker:worker_00                 STOPPED   Not started\nworker:worker_01                 RUNNING   pid 13, uptime 0:00:10\n";

    fn probe() -> Probe {
        Probe {
            status: parse_status(STATUS),
            avail: parse_avail(
                "app                              in use    auto      999:999\nworker:worker_00 in use auto 999:999\nnew                              avail     auto      999:999\n",
            ),
            reread: vec![],
        }
    }

    #[test]
    fn parses() {
        assert_eq!(parse_status(STATUS).len(), 3);
        assert_eq!(
            parse_status("unix:///var/run/supervisor.sock no such file\n"),
            vec![]
        );
        assert_eq!(probe().avail, vec!["app", "worker:worker_00", "new"]);
        assert_eq!(
            parse_reread("app: changed\nnew: available\n"),
            vec![
                ("app".into(), "changed".into()),
                ("new".into(), "available".into())
            ]
        );
        assert!(parse_reread("No config updates to processes\n").is_empty());
        assert!(connection_error("unix:///var/run/supervisor.sock no such file\n").is_some());
        assert_eq!(
            Target::parse("worker:").unwrap(),
            Target {
                name: "worker".into(),
                group: true
            }
        );
        assert_eq!(
            Target::parse("worker:*").unwrap(),
            Target {
                name: "worker".into(),
                group: true
            }
        );
        assert!(Target::parse("a:b").is_err());
    }

    fn cmds(p: &Plan) -> Vec<String> {
        p.commands.iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn decisions() {
        let app = Target::parse("app").unwrap();
        let p = probe();
        assert!(!decide(&app, "present", &p, None).unwrap().changed);
        assert!(!decide(&app, "started", &p, None).unwrap().changed);
        assert_eq!(
            cmds(&decide(&app, "stopped", &p, None).unwrap()),
            vec!["stop app"]
        );
        assert_eq!(
            cmds(&decide(&app, "restarted", &p, None).unwrap()),
            vec!["restart app"]
        );
        assert_eq!(
            cmds(&decide(&app, "absent", &p, None).unwrap()),
            vec!["stop app", "remove app"]
        );
        assert_eq!(
            cmds(&decide(&app, "signalled", &p, Some("HUP")).unwrap()),
            vec!["signal HUP app"]
        );
        // a configuration changed on disk is applied
        let mut p2 = probe();
        p2.reread = vec![("app".into(), "changed".into())];
        assert_eq!(
            cmds(&decide(&app, "present", &p2, None).unwrap()),
            vec!["update app"]
        );
        assert_eq!(
            cmds(&decide(&app, "restarted", &p2, None).unwrap()),
            vec!["update app", "start app"]
        );
        // configured, not loaded
        let new = Target::parse("new").unwrap();
        assert_eq!(
            cmds(&decide(&new, "present", &p, None).unwrap()),
            vec!["add new"]
        );
        assert_eq!(
            cmds(&decide(&new, "started", &p, None).unwrap()),
            vec!["add new", "start new"]
        );
        assert!(!decide(&new, "stopped", &p, None).unwrap().changed);
        assert!(!decide(&new, "absent", &p, None).unwrap().changed);
        let none = Target::parse("ghost").unwrap();
        assert!(
            decide(&none, "started", &p, None)
                .unwrap_err()
                .contains("no such process")
        );
        // groups
        let g = Target::parse("worker:").unwrap();
        assert_eq!(
            cmds(&decide(&g, "started", &p, None).unwrap()),
            vec!["start worker:*"]
        );
        assert_eq!(
            cmds(&decide(&g, "stopped", &p, None).unwrap()),
            vec!["stop worker:*"]
        );
        let w = Target::parse("worker").unwrap();
        assert_eq!(
            cmds(&decide(&w, "restarted", &p, None).unwrap()),
            vec!["restart worker:*"]
        );
    }

    #[test]
    fn tolerated_errors() {
        assert!(real_errors("start", "app: ERROR (already started)\n").is_empty());
        assert!(real_errors("stop", "app: ERROR (not running)\n").is_empty());
        assert_eq!(
            real_errors("start", "app: ERROR (spawn error)\n"),
            vec!["app: ERROR (spawn error)"]
        );
    }
}
