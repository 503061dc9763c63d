//! deploy_helper (community.general): the release directories of a
//! Capistrano-style deploy (`path/releases/<release>`, `path/shared`, the
//! `path/current` link) and the facts a role builds on, registered as the
//! variable `deploy_helper` (`project_path`, `current_path`, `releases_path`,
//! `shared_path`, `previous_release`, `previous_release_path`, `new_release`,
//! `new_release_path`, `unfinished_filename`), as Ansible does.
//!
//! States: `query` (the facts only), `present` (the directories made),
//! `finalize` (the release's unfinished marker removed, `current` switched to
//! it atomically, then with `clean` the unfinished releases and all but
//! `keep_releases` older ones removed), `clean` (that cleaning alone), `absent`
//! (the project removed).
//!
//! On the module protocol: one read-only probe lists what exists (the
//! directories, the `current` link, each release with its ctime and whether it
//! holds the unfinished marker, the host's time for the default
//! `new_release`); `decide` plans the steps as one script; `--diff` lists them.

use serde_json::{Map, Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Action, Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static DEPLOY_HELPER: Spec = Spec::new(
    "deploy_helper",
    &[
        ArgSpec::new("path", Kind::Str)
            .required()
            .aliases(&["dest"]),
        ArgSpec::new(
            "state",
            Kind::Choice(&["present", "finalize", "absent", "clean", "query"]),
        ),
        ArgSpec::new("release", Kind::Str),
        ArgSpec::new("releases_path", Kind::Str),
        ArgSpec::new("shared_path", Kind::Str),
        ArgSpec::new("current_path", Kind::Str),
        ArgSpec::new("unfinished_filename", Kind::Str),
        ArgSpec::new("clean", Kind::Bool),
        ArgSpec::new("keep_releases", Kind::Int),
    ],
);

#[derive(Debug, Clone)]
struct Want {
    path: String,
    state: String,
    release: Option<String>,
    releases: String,
    shared: Option<String>,
    current: String,
    unfinished: String,
    clean: bool,
    keep: usize,
}

fn join(base: &str, p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{p}", base.trim_end_matches('/'))
    }
}

impl Want {
    fn new(args: &Args) -> Result<Want, Fail> {
        let path = args.string("path").unwrap_or_default();
        if !path.starts_with('/') {
            return fail::bad_args(format!("path must be absolute, not '{path}'"));
        }
        let path = path.trim_end_matches('/').to_string();
        let keep = args.int("keep_releases").unwrap_or(5);
        let state = args.string("state").unwrap_or_else(|| "present".into());
        if state == "finalize" && keep <= 0 {
            return fail::bad_args("'keep_releases' should be at least 1");
        }
        let release = args.string("release").filter(|r| !r.is_empty());
        if state == "finalize" && release.is_none() {
            return fail::bad_args(
                "'release' is a required parameter for state=finalize (try the 'deploy_helper.new_release' fact)",
            );
        }
        if let Some(r) = &release
            && (r.contains('/') || r == "." || r == "..")
        {
            return fail::bad_args(format!("release '{r}' must be a directory name"));
        }
        let unfinished = args
            .string("unfinished_filename")
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "DEPLOY_UNFINISHED".into());
        Ok(Want {
            releases: join(
                &path,
                &args
                    .string("releases_path")
                    .unwrap_or_else(|| "releases".into()),
            ),
            shared: match args.string("shared_path") {
                Some(s) if s.is_empty() => None,
                Some(s) => Some(join(&path, &s)),
                None => Some(join(&path, "shared")),
            },
            current: join(
                &path,
                &args
                    .string("current_path")
                    .unwrap_or_else(|| "current".into()),
            ),
            path,
            state,
            release,
            unfinished,
            clean: args.bool_or("clean", true),
            keep: keep.max(0) as usize,
        })
    }
}

/// The probe: `key value` lines.
fn probe(w: &Want) -> String {
    let q = shell_quote;
    let mut s = format!(
        "# opsctl deploy_helper: read\necho \"now $(date +%Y%m%d%H%M%S)\"\n\
         for d in {} {} {}; do if [ -d \"$d\" ]; then echo \"dir $d\"; elif [ -e \"$d\" ] || [ -L \"$d\" ]; then echo \"notdir $d\"; fi; done\n",
        q(&w.path),
        q(&w.releases),
        w.shared.as_deref().map(q).unwrap_or_default(),
    );
    s.push_str(&format!(
        "c={}\nif [ -L \"$c\" ]; then echo \"link $(readlink \"$c\")\"; echo \"real $(readlink -f \"$c\")\"; elif [ -e \"$c\" ]; then echo \"real $(readlink -f \"$c\")\"; fi\n\
         [ -e \"$c\".{u} ] || [ -L \"$c\".{u} ] && echo tmplink\n\
         r={}\nif [ -d \"$r\" ]; then for e in \"$r\"/* \"$r\"/.[!.]*; do [ -d \"$e\" ] && [ ! -L \"$e\" ] || continue\n  \
         if [ -f \"$e\"/{u} ]; then f=1; else f=0; fi\n  echo \"release $(stat -c %Z \"$e\") $f ${{e##*/}}\"\ndone; fi\n",
        q(&w.current),
        q(&w.releases),
        u = q(&w.unfinished),
    ));
    s
}

#[derive(Debug, Default)]
struct Found {
    now: String,
    dirs: Vec<String>,
    notdirs: Vec<String>,
    link: Option<String>,
    real: Option<String>,
    tmplink: bool,
    /// (ctime, unfinished, name)
    releases: Vec<(i64, bool, String)>,
}

fn parse(out: &str) -> Found {
    let mut f = Found::default();
    for l in out.lines() {
        let (k, v) = l.split_once(' ').unwrap_or((l, ""));
        match k {
            "now" => f.now = v.to_string(),
            "dir" => f.dirs.push(v.to_string()),
            "notdir" => f.notdirs.push(v.to_string()),
            "link" => f.link = Some(v.to_string()),
            "real" => f.real = Some(v.to_string()),
            "tmplink" => f.tmplink = true,
            "release" => {
                let mut p = v.splitn(3, ' ');
                let ctime = p.next().and_then(|c| c.parse().ok()).unwrap_or(0);
                let unfinished = p.next() == Some("1");
                if let Some(name) = p.next() {
                    f.releases.push((ctime, unfinished, name.to_string()));
                }
            }
            _ => {}
        }
    }
    f
}

/// The facts, as Ansible's `gather_facts`.
fn facts(w: &Want, f: &Found) -> Map<String, Json> {
    let previous = f
        .real
        .as_ref()
        .map(|r| r.rsplit('/').next().unwrap_or_default().to_string());
    let new_release = w.release.clone().unwrap_or_else(|| f.now.clone());
    let mut m = Map::new();
    m.insert("project_path".into(), json!(w.path));
    m.insert("current_path".into(), json!(w.current));
    m.insert("releases_path".into(), json!(w.releases));
    m.insert("shared_path".into(), json!(w.shared));
    m.insert("previous_release".into(), json!(previous));
    m.insert(
        "previous_release_path".into(),
        json!(previous.as_ref().map(|p| join(&w.releases, p))),
    );
    m.insert("new_release".into(), json!(new_release));
    m.insert(
        "new_release_path".into(),
        json!(join(&w.releases, &new_release)),
    );
    m.insert("unfinished_filename".into(), json!(w.unfinished));
    m
}

/// The cleaning steps: the temporary link, unfinished releases, then all but
/// `keep` of the others (newest ctime first), never `reserve`.
fn clean_steps(w: &Want, f: &Found, reserve: &str, steps: &mut Vec<(String, String)>) {
    let tmp = format!("{}.{}", w.current, w.unfinished);
    if f.tmplink {
        steps.push((
            format!("remove {tmp}"),
            format!("rm -rf -- {}", shell_quote(&tmp)),
        ));
    }
    let mut kept = Vec::new();
    for (ctime, unfinished, name) in &f.releases {
        let p = join(&w.releases, name);
        if *unfinished && name != reserve {
            steps.push((
                format!("remove unfinished release {name}"),
                format!("rm -rf -- {}", shell_quote(&p)),
            ));
        } else if name != reserve {
            kept.push((*ctime, name.clone(), p));
        }
    }
    kept.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    for (_, name, p) in kept.into_iter().skip(w.keep) {
        steps.push((
            format!("remove old release {name}"),
            format!("rm -rf -- {}", shell_quote(&p)),
        ));
    }
}

pub struct DeployHelper;

impl Module for DeployHelper {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(&Want::new(args)?))])
    }

    fn decide(&self, args: &Args, facts_: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = Want::new(args)?;
        let out = facts_.probe(&probe(&w))?;
        if !out.success() {
            return fail::fail(format!(
                "deploy_helper could not read {}: {}",
                w.path,
                out.stderr_str().trim()
            ));
        }
        let f = parse(&out.stdout_str());
        if let Some(bad) = f.notdirs.first() {
            return fail::fail(format!("{bad} exists and is not a directory"));
        }
        let mut fx = facts(&w, &f);
        let new_release = fx["new_release"].as_str().unwrap_or_default().to_string();
        let new_path = fx["new_release_path"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut steps: Vec<(String, String)> = Vec::new();
        let has = |d: &str| f.dirs.iter().any(|x| x == d);
        match w.state.as_str() {
            "query" => {}
            "present" => {
                for d in [Some(&w.path), Some(&w.releases), w.shared.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    if !has(d) {
                        steps.push((
                            format!("create {d}"),
                            format!("mkdir -p -- {}", shell_quote(d)),
                        ));
                    }
                }
            }
            "absent" => {
                if has(&w.path) {
                    steps.push((
                        format!("remove {}", w.path),
                        format!("rm -rf -- {}", shell_quote(&w.path)),
                    ));
                }
                fx = Map::new();
            }
            "clean" => clean_steps(&w, &f, &new_release, &mut steps),
            _ => {
                // finalize
                let Some((_, unfinished, _)) =
                    f.releases.iter().find(|(_, _, n)| *n == new_release)
                else {
                    return fail::fail(format!(
                        "release {new_release} does not exist in {} (deploy it to deploy_helper.new_release_path first)",
                        w.releases
                    ));
                };
                if *unfinished {
                    let marker = join(&new_path, &w.unfinished);
                    steps.push((
                        format!("remove {marker}"),
                        format!("rm -f -- {}", shell_quote(&marker)),
                    ));
                }
                if f.link.as_deref() != Some(new_path.as_str())
                    && f.real.as_deref() != Some(new_path.as_str())
                {
                    if f.link.is_none() && f.real.is_some() {
                        return fail::fail(format!(
                            "{} exists and is not a symlink: move it away first",
                            w.current
                        ));
                    }
                    let tmp = format!("{}.{}", w.current, w.unfinished);
                    steps.push((
                        format!("link {} -> {new_path}", w.current),
                        format!(
                            "rm -rf -- {t} && ln -s -- {n} {t} && mv -T -- {t} {c}",
                            t = shell_quote(&tmp),
                            n = shell_quote(&new_path),
                            c = shell_quote(&w.current)
                        ),
                    ));
                }
                if w.clean {
                    // the temporary link is replaced by the switch above
                    let f2 = Found {
                        tmplink: f.tmplink && !steps.iter().any(|(d, _)| d.starts_with("link ")),
                        releases: f.releases.clone(),
                        ..Default::default()
                    };
                    clean_steps(&w, &f2, &new_release, &mut steps);
                }
            }
        }
        let mut res = Outcome::ok().with("ansible_facts", json!({ "deploy_helper": fx }));
        if steps.is_empty() {
            return Ok(Plan::Done(res));
        }
        res.changed = true;
        let plan: Vec<String> = steps.iter().map(|(d, _)| d.clone()).collect();
        res.msg = Some(plan.join("; "));
        if ctx.diff {
            res.diffs.push(Diff::new(
                format!("deploy {}", w.path),
                "",
                plan.join("\n") + "\n",
            ));
        }
        let mut script = format!("# opsctl deploy_helper: {}\nset -e\n", w.state);
        for (_, cmd) in &steps {
            script.push_str(cmd);
            script.push('\n');
        }
        Ok(Plan::change(
            res,
            Action::Script {
                script,
                stdin: None,
            },
        ))
    }
}
