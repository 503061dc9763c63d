//! Module decisions tested as data: `tests/fixtures/modules/<module>/<case>.json`
//! holds a task's arguments, the facts the host would answer, and the expected
//! needs and plan; one runner checks every case without a host.
//!
//! ```json
//! {
//!   "args": {"path": "/srv/app", "state": "directory", "mode": "0755"},
//!   "diff": true,
//!   "facts": {
//!     "host": {"umask": 18, "user": "root", "uid": 0, "home": "/root"},
//!     "paths": [{"path": "/srv/app", "kind": "directory", "mode": 448}],
//!     "epochs": {"202001021530.45": 1577979045},
//!     "probes": [{"rc": 0, "stdout": "creates\n"}]
//!   },
//!   "expect": {
//!     "needs": ["host", "path /srv/app", "path /srv/app (follow)"],
//!     "plan": "change",
//!     "changed": true,
//!     "data": {"state": "directory"},
//!     "ops": ["Chmod { path: \"/srv/app\", mode: 493 }"],
//!     "script": ["exec ls"],
//!     "diffs": ["/srv/app (mode)"],
//!     "msg": "..."
//!   }
//! }
//! ```
//!
//! System facts (see `sysfacts`) are keyed by what the module asks:
//!
//! ```json
//! "facts": {
//!   "apt": {"has_apt": true, "now": 1700000000, "cache_mtime": 1699990000},
//!   "packages": {"nginx": [{"name": "nginx", "arch": "amd64", "status": "installed", "version": "1.22"}]},
//!   "policies": {"nginx": {"installed": "1.22", "candidate": "1.24", "versions": ["1.24", "1.22"]}},
//!   "init": {"systemd": true},
//!   "units": {"nginx": {"show": {"LoadState": "loaded", "ActiveState": "active"}, "initd": true}},
//!   "passwd": {"deploy": {"name": "deploy", "uid": 1001, "gid": 1001, "home": "/home/deploy", "shell": "/bin/bash"}},
//!   "groups": {"deploy": {"name": "deploy", "gid": 1001, "members": []}},
//!   "crontabs": {"-": {"rc": 0, "content": "..."}, "deploy": {"rc": 1, "err": "no crontab for deploy"}}
//! }
//! ```
//!
//! A package, policy, account or unit the fixture does not list is unknown to
//! the host (no dpkg record, no policy, no entry, a unit `not-found`); a
//! crontab (`-`: of who runs the task) not listed is empty; `init` defaults to
//! systemd; `apt` to apt present with fresh lists. Units ignore the scope.
//!
//! A path stat is found by `path` (and `follow`, when given; a path the
//! fixture does not list is absent). Probe outputs answer the module's probes
//! in the order it asks them. `plan` is `done`, `change`, `change-skipped-in-check`,
//! `change-applied-in-check` (a pause, a wait) or `error` (with `msg` a part of
//! the error). `msg` may be a list of parts, all in the message. `needs` are
//! the needs asked before the plan or the error (`[]`: the module failed
//! before reading anything from the host). A `diffs` entry is a diff's label,
//! or the whole diff, `{"label": "/etc/motd", "before": "", "after": "hi\n"}`.
//!
//! Deploy modules add: `facts.gits`, working copies by dest (`{"/srv/app":
//! {"state": "repo", "head": "SHA", "branch": "main", "remote_url": "...",
//! "mods": ""}}`; `state` is absent, empty, repo or other; an unlisted dest is
//! absent); `expect.local_write` (the end of the controller path written) and
//! `expect.local_content`; `expect.pause` (`{"seconds": 3, "prompt": null}`);
//! `expect.reconnect` (`{"delay": 0, "sleep": 1, "timeout": 600, "connect_timeout": 5}`);
//! `expect.rsync` (`{"push": true, "src": "files/site/", "dest": "/srv/site", "opts": [...]}`);
//! `expect.reboot` (`{"reboot_command": "...", "boot_time_command": "...", "test_command": "whoami",
//! "post_reboot_delay": 0, "reboot_timeout": 600, "connect_timeout": null}`);
//! `expect.ship` (the images compose_ship sends, `["app-1-web"]`) and `expect.tag`
//! (`[["sha256:..", "app-2-web"]]`: an image the host has, tagged).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use super::protocol::{Action, Ctx, Facts, GitHead, InCheck, Need, Plan};
use super::remote_file::{FType, HostInfo, Stat};
use super::{find, sysfacts};
use crate::location::Location;
use crate::transport::Output;

/// The facts a fixture gives, answering exactly the module's needs.
fn facts_for(needs: &[Need], given: &Json) -> Result<Facts, String> {
    let mut facts = Facts::default();
    let paths: Vec<&Json> = given["paths"].as_array().into_iter().flatten().collect();
    let mut probes = given["probes"].as_array().into_iter().flatten();
    for n in needs {
        match n {
            Need::Host => {
                let h: HostInfo = match given.get("host") {
                    Some(h) => serde_json::from_value(h.clone()).map_err(|e| e.to_string())?,
                    None => HostInfo {
                        umask: 0o022,
                        user: "root".into(),
                        uid: 0,
                        home: "/root".into(),
                    },
                };
                facts.host = Some(h);
            }
            Need::Path(r) => {
                let found = paths.iter().find(|p| {
                    p["path"].as_str() == Some(&r.path)
                        && p.get("follow")
                            .and_then(Json::as_bool)
                            .is_none_or(|f| f == r.follow)
                });
                let st = match found {
                    Some(p) => {
                        let mut p = (*p).clone();
                        let obj = p.as_object_mut().ok_or("a path must be an object")?;
                        obj.remove("follow");
                        let content = obj.remove("content");
                        let mut st: Stat =
                            serde_json::from_value(p).map_err(|e| format!("{}: {e}", r.path))?;
                        if let Some(Json::String(c)) = content {
                            st.content = Some(c.into_bytes());
                        }
                        st
                    }
                    None => Stat {
                        path: r.path.clone(),
                        kind: FType::Absent,
                        ..Default::default()
                    },
                };
                facts.paths.insert(r.clone(), st);
            }
            Need::Epoch(t) => {
                facts
                    .epochs
                    .insert(t.clone(), given["epochs"][t.as_str()].as_i64());
            }
            Need::Tree(p) => {
                let entries: Vec<Stat> =
                    serde_json::from_value(given["trees"][p.as_str()].clone()).unwrap_or_default();
                facts.trees.insert(p.clone(), entries);
            }
            sys @ (Need::AptState
            | Need::Package(_)
            | Need::Policy(_)
            | Need::Init
            | Need::Unit { .. }
            | Need::Passwd(_)
            | Need::Group(_)
            | Need::Crontab(_)) => sys_fact(sys, given, &mut facts.sys)?,
            Need::GitHead(g) => {
                let head = deploy_git(g, given)?;
                facts.gits.insert(g.clone(), head);
            }
            Need::Probe(script) => {
                let o = probes
                    .next()
                    .ok_or_else(|| format!("the module asks one more probe:\n{script}"))?;
                facts.probes.insert(script.clone(), probe_output(o));
            }
            Need::SecretProbe(p) => {
                let o = probes
                    .next()
                    .ok_or_else(|| format!("the module asks one more probe:\n{}", p.script))?;
                facts.secret_probes.insert(p.clone(), probe_output(o));
            }
        }
    }
    Ok(facts)
}

// --- system facts (sysfacts) ---

fn parse<T: serde::de::DeserializeOwned>(what: &str, v: &Json) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("{what}: {e}"))
}

/// Answers a system need from the fixture's facts.
fn sys_fact(n: &Need, given: &Json, sys: &mut sysfacts::SysFacts) -> Result<(), String> {
    match n {
        Need::AptState => {
            sys.apt = Some(match given.get("apt") {
                Some(a) => parse("apt", a)?,
                None => sysfacts::AptState {
                    has_apt: true,
                    now: 1_700_000_000,
                    cache_mtime: Some(1_700_000_000),
                },
            });
        }
        Need::Package(p) => {
            let v = &given["packages"][p.as_str()];
            let recs = if v.is_null() {
                Vec::new()
            } else {
                parse(p, v)?
            };
            sys.packages.insert(p.clone(), recs);
        }
        Need::Policy(p) => {
            let v = &given["policies"][p.as_str()];
            let pol = if v.is_null() {
                None
            } else {
                Some(parse(p, v)?)
            };
            sys.policies.insert(p.clone(), pol);
        }
        Need::Init => {
            sys.init = Some(match given.get("init") {
                Some(i) => parse("init", i)?,
                None => sysfacts::InitState { systemd: true },
            });
        }
        Need::Unit { scope, name } => {
            let mut v = given["units"][name.as_str()].clone();
            // `show` as an object of properties
            let show: Vec<(String, String)> = match v.as_object_mut().and_then(|o| o.remove("show"))
            {
                Some(Json::Object(m)) => m
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or(v.to_string())))
                    .collect(),
                _ => vec![("LoadState".into(), "not-found".into())],
            };
            let mut u: sysfacts::Unit = if v.is_null() {
                Default::default()
            } else {
                parse(name, &v)?
            };
            u.show = show;
            sys.units.insert((scope.clone(), name.clone()), u);
        }
        Need::Passwd(u) => {
            let v = &given["passwd"][u.as_str()];
            let e = if v.is_null() {
                None
            } else {
                Some(parse(u, v)?)
            };
            sys.passwd.insert(u.clone(), e);
        }
        Need::Group(g) => {
            let v = &given["groups"][g.as_str()];
            let e = if v.is_null() {
                None
            } else {
                Some(parse(g, v)?)
            };
            sys.groups.insert(g.clone(), e);
        }
        Need::Crontab(u) => {
            let key = u.as_deref().unwrap_or("-");
            let v = &given["crontabs"][key];
            let c = if v.is_null() {
                sysfacts::CrontabRead {
                    rc: Some(0),
                    ..Default::default()
                }
            } else {
                parse(key, v)?
            };
            sys.crontabs.insert(u.clone(), c);
        }
        _ => {}
    }
    Ok(())
}

// --- deploy modules: git working copies, controller actions ---

/// A working copy of `facts.gits` (by dest; absent when not listed).
fn deploy_git(g: &super::protocol::GitReq, given: &Json) -> Result<GitHead, String> {
    match given["gits"].get(g.dest.as_str()) {
        Some(h) => serde_json::from_value(h.clone()).map_err(|e| format!("git {}: {e}", g.dest)),
        None => Ok(GitHead::default()),
    }
}

/// `local_write` (the path written on the controller, content in `local_content`)
/// and `pause` (`{"seconds": N}` or `{"prompt": "..."}`) of a controller action.
fn deploy_action(action: &Action, expect: &Json) -> Result<(), String> {
    match action {
        Action::WriteLocal { path, content } => {
            let have = path.display().to_string();
            if let Some(want) = expect["local_write"].as_str()
                && !have.ends_with(want)
            {
                return Err(format!("local_write: have {have}, want ..{want}"));
            }
            if let Some(want) = expect["local_content"].as_str()
                && content != want.as_bytes()
            {
                return Err(format!(
                    "local_content: have {:?}, want {want:?}",
                    String::from_utf8_lossy(content)
                ));
            }
        }
        Action::Pause(p) => {
            let have = serde_json::json!({"seconds": p.seconds, "prompt": p.prompt});
            for (k, v) in expect["pause"].as_object().into_iter().flatten() {
                if have[k] != *v {
                    return Err(format!("pause.{k}: have {}, want {v}", have[k]));
                }
            }
        }
        Action::Ship { images, tags } => {
            if let Some(w) = expect.get("ship")
                && *w != serde_json::json!(images)
            {
                return Err(format!("ship: have {images:?}, want {w}"));
            }
            if let Some(w) = expect.get("tag")
                && *w != serde_json::json!(tags)
            {
                return Err(format!("tag: have {tags:?}, want {w}"));
            }
        }
        Action::Rsync(r) => {
            let want = &expect["rsync"];
            if let Some(p) = want["push"].as_bool()
                && p != r.push
            {
                return Err(format!("rsync.push: have {}, want {p}", r.push));
            }
            for k in ["src", "dest"] {
                let have = if k == "src" { &r.src } else { &r.dest };
                if let Some(w) = want[k].as_str()
                    && !have.ends_with(w)
                {
                    return Err(format!("rsync.{k}: have {have}, want ..{w}"));
                }
            }
            if let Some(w) = want.get("opts")
                && *w != serde_json::json!(r.opts)
            {
                return Err(format!("rsync.opts: have {:?}, want {w}", r.opts));
            }
        }
        Action::Reboot(r) => {
            let have = serde_json::json!({"reboot_command": r.reboot_command,
                "boot_time_command": r.boot_time_command, "test_command": r.test_command,
                "post_reboot_delay": r.post_reboot_delay, "reboot_timeout": r.reboot_timeout,
                "connect_timeout": r.connect_timeout});
            for (k, v) in expect["reboot"].as_object().into_iter().flatten() {
                if have[k] != *v {
                    return Err(format!("reboot.{k}: have {}, want {v}", have[k]));
                }
            }
        }
        Action::Reconnect(r) => {
            let have = serde_json::json!({"delay": r.delay, "sleep": r.sleep,
                "timeout": r.timeout, "connect_timeout": r.connect_timeout});
            for (k, v) in expect["reconnect"].as_object().into_iter().flatten() {
                if have[k] != *v {
                    return Err(format!("reconnect.{k}: have {}, want {v}", have[k]));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn probe_output(o: &Json) -> Output {
    Output {
        rc: Some(o["rc"].as_i64().unwrap_or(0) as i32),
        stdout: o["stdout"].as_str().unwrap_or_default().as_bytes().to_vec(),
        stderr: o["stderr"].as_str().unwrap_or_default().as_bytes().to_vec(),
    }
}

/// Runs one fixture; `Err` says what differs.
pub fn check(module: &str, case: &Json, dir: &Path) -> Result<(), String> {
    let def = find(module).ok_or_else(|| format!("no module {module}"))?;
    let m = def.module;
    let raw: Map<String, Json> = case["args"].as_object().cloned().unwrap_or_default();
    let args = def.spec.validate(&raw, true)?;
    let vars = minijinja::Value::from(minijinja::value::Serde(case["vars"].clone()));
    let templar = crate::template::Templar::new();
    let location = Location::new(dir.join("tasks.yml"), 1, None);
    let search: Vec<PathBuf> = vec![dir.join("files")];
    let ctx = Ctx {
        host: "host1",
        diff: case["diff"].as_bool().unwrap_or(false),
        search: &search,
        location: &location,
        vars: &vars,
        templar: &templar,
    };
    let expect = &case["expect"];
    // the needs asked so far (none when `needs` itself fails: nothing is
    // read from the host before the error)
    let mut needs = Vec::new();
    let outcome: Result<Plan, String> = (|| {
        needs = m.needs(&args, &ctx).map_err(|f| f.to_string())?;
        loop {
            let facts = facts_for(&needs, &case["facts"])?;
            match m.decide(&args, &facts, &ctx).map_err(|f| f.to_string())? {
                Plan::More(more) => needs.extend(more),
                plan => return Ok(plan),
            }
        }
    })();
    if let Some(want) = expect.get("needs") {
        let have: Vec<String> = needs.iter().map(Need::describe).collect();
        if *want != serde_json::json!(have) {
            return Err(format!("needs: have {have:?}, want {want}"));
        }
    }
    let plan = match outcome {
        Err(e) if expect["plan"] == "error" => return msg_says(&e, &expect["msg"]),
        Err(e) => return Err(e),
        Ok(x) => x,
    };
    let (kind, outcome) = match plan {
        Plan::Done(o) => ("done", o),
        Plan::Change(c) => {
            let kind = match &c.in_check {
                InCheck::Changed => "change",
                InCheck::Skipped(_) => "change-skipped-in-check",
                InCheck::Apply => "change-applied-in-check",
            };
            match &c.action {
                Action::Files { ops, .. } => {
                    let have: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
                    if let Some(want) = expect.get("ops")
                        && *want != serde_json::json!(have)
                    {
                        return Err(format!("ops: have {have:#?}, want {want:#}"));
                    }
                }
                Action::Script { script, .. } => {
                    for part in expect["script"].as_array().into_iter().flatten() {
                        let part = part.as_str().unwrap_or_default();
                        if !script.contains(part) {
                            return Err(format!("script {script:?} lacks {part:?}"));
                        }
                    }
                }
                other => deploy_action(other, expect)?,
            }
            (kind, c.outcome)
        }
        Plan::More(_) => unreachable!("handled above"),
    };
    if expect["plan"] != kind {
        return Err(format!("plan: have {kind}, want {}", expect["plan"]));
    }
    if let Some(want) = expect.get("changed").and_then(Json::as_bool)
        && outcome.changed != want
    {
        return Err(format!("changed: have {}, want {want}", outcome.changed));
    }
    if let Some(want) = expect.get("failed").and_then(Json::as_bool)
        && outcome.failed != want
    {
        return Err(format!("failed: have {}, want {want}", outcome.failed));
    }
    if let Some(want) = expect.get("msg") {
        msg_says(outcome.msg.as_deref().unwrap_or_default(), want)?;
    }
    for (k, v) in expect["data"].as_object().into_iter().flatten() {
        if outcome.data.get(k) != Some(v) {
            return Err(format!(
                "data.{k}: have {:?}, want {v}",
                outcome.data.get(k)
            ));
        }
    }
    if let Some(want) = expect.get("diffs") {
        diffs_are(&outcome.diffs, want)?;
    }
    Ok(())
}

/// `msg`: a part of the message, or a list of parts it all contains.
fn msg_says(have: &str, want: &Json) -> Result<(), String> {
    let parts: Vec<&str> = match want {
        Json::Array(parts) => parts.iter().filter_map(Json::as_str).collect(),
        w => vec![w.as_str().unwrap_or_default()],
    };
    match parts.iter().find(|p| !have.contains(**p)) {
        Some(p) => Err(format!("msg {have:?} does not contain {p:?}")),
        None => Ok(()),
    }
}

/// `diffs`: each diff by its label, or as `{"label", "before", "after"}`.
fn diffs_are(have: &[super::Diff], want: &Json) -> Result<(), String> {
    let have: Vec<Json> = have
        .iter()
        .map(|d| serde_json::json!({"label": d.label, "before": d.before, "after": d.after}))
        .collect();
    let want = want.as_array().ok_or("diffs: a list")?;
    let same = have.len() == want.len()
        && have.iter().zip(want).all(|(h, w)| match w {
            Json::String(label) => h["label"] == *label,
            w => h == w,
        });
    if same {
        Ok(())
    } else {
        Err(format!("diffs: have {have:#?}, want {want:#?}"))
    }
}

#[cfg(test)]
mod tests {
    /// Every fixture under tests/fixtures/modules/, by module directory.
    #[test]
    fn module_fixtures() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/modules");
        let mut failures = Vec::new();
        let mut n = 0;
        let mut modules: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        modules.sort();
        for dir in modules {
            let module = dir.file_name().unwrap().to_string_lossy().into_owned();
            let mut cases: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            cases.sort();
            for path in cases {
                n += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                let case: serde_json::Value = match serde_json::from_str(&text) {
                    Ok(c) => c,
                    Err(e) => {
                        failures.push(format!("{}: {e}", path.display()));
                        continue;
                    }
                };
                if let Err(e) = super::check(&module, &case, &dir) {
                    failures.push(format!("{}: {e}", path.display()));
                }
            }
        }
        assert!(n >= 10, "only {n} fixtures found in {}", root.display());
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }
}
