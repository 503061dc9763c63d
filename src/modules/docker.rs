//! community.docker's docker_image, docker_container and docker_compose_v2, for
//! roles that manage containers themselves (a compose app's deploy uses
//! roles/app, docs/compose.md).
//!
//! On the module protocol: one read-only probe per task (`docker image inspect`,
//! `docker inspect`, `docker compose config --hash` and the project's
//! containers) answers what is there; `decide` compares it with the arguments and
//! plans the `docker` commands of the change, which never run in check mode.

use serde_json::{Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::sysconf::{script_applied, script_plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote;

/// Exit code of a probe whose docker client is missing.
const NO_DOCKER: i32 = 127;

fn no_docker<T>(what: &str) -> Result<T, Fail> {
    fail::fail(format!(
        "{what} is not installed on this host (roles/docker: container_engine: docker)"
    ))
}

/// The stdout of a probe that needs the docker client.
fn docker_probe(facts: &Facts, script: &str) -> Result<String, Fail> {
    let out = facts.probe(script)?;
    if out.rc == Some(NO_DOCKER) {
        return no_docker("docker");
    }
    Ok(out.stdout_str())
}

fn q(s: &str) -> String {
    shell_quote(s)
}

fn words(w: &[String]) -> String {
    w.iter().map(|s| q(s)).collect::<Vec<_>>().join(" ")
}

/// `name:tag` (a name that has a tag or digest keeps it).
fn image_ref(name: &str, tag: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || name.contains('@') {
        name.to_string()
    } else {
        format!("{name}:{tag}")
    }
}

/// `key=value` of a mapping argument, sorted by key.
fn pairs(args: &Args, name: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = match args.get(name) {
        Some(Json::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                (k.clone(), v)
            })
            .collect(),
        _ => Vec::new(),
    };
    v.sort();
    v
}

// --- docker_image ---------------------------------------------------------------

pub static DOCKER_IMAGE: Spec = Spec::new(
    "docker_image",
    &[
        ArgSpec::new("name", Kind::Str).required(),
        ArgSpec::new("tag", Kind::Str),
        ArgSpec::new("source", Kind::Choice(&["build", "load", "pull", "local"])),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("build", Kind::Dict),
        ArgSpec::new("load_path", Kind::Str),
        ArgSpec::new("force_source", Kind::Bool),
        ArgSpec::new("force_absent", Kind::Bool),
        ArgSpec::new("force_tag", Kind::Bool),
        ArgSpec::new("repository", Kind::Str),
    ],
);

pub struct DockerImage;

fn image_name(args: &Args) -> String {
    image_ref(
        args.str("name").unwrap_or_default(),
        args.str("tag").unwrap_or("latest"),
    )
}

fn image_probe(args: &Args) -> String {
    let mut s = format!(
        "# opsctl docker_image: the image's id\ncommand -v docker >/dev/null 2>&1 || exit {NO_DOCKER}\n\
         echo \"image $(docker image inspect --format '{{{{.Id}}}}' {} 2>/dev/null)\"\n",
        q(&image_name(args))
    );
    if let Some(r) = args.str("repository") {
        s.push_str(&format!(
            "echo \"repository $(docker image inspect --format '{{{{.Id}}}}' {} 2>/dev/null)\"\n",
            q(&image_ref(r, args.str("tag").unwrap_or("latest")))
        ));
    }
    s
}

/// The probe's `key id` lines (an empty id: no such image).
fn probe_ids(stdout: &str, key: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

/// The `docker build` command of the `build` argument.
fn build_command(args: &Args, image: &str) -> Result<String, Fail> {
    let Some(Json::Object(b)) = args.get("build") else {
        return fail::bad_args("source=build needs build.path (the build context)");
    };
    let Some(path) = b.get("path").and_then(Json::as_str) else {
        return fail::bad_args("source=build needs build.path (the build context)");
    };
    let known = [
        "path",
        "dockerfile",
        "args",
        "nocache",
        "pull",
        "network",
        "target",
    ];
    if let Some(k) = b.keys().find(|k| !known.contains(&k.as_str())) {
        return fail::bad_args(format!(
            "build.{k} is not supported (supported: {})",
            known.join(", ")
        ));
    }
    let mut c = vec![
        "docker".to_string(),
        "build".into(),
        "-t".into(),
        image.into(),
    ];
    let flag = |k: &str| {
        b.get(k)
            .map(|v| matches!(v, Json::Bool(true)) || matches!(v.as_str(), Some("yes" | "true")))
            .unwrap_or(false)
    };
    if let Some(f) = b.get("dockerfile").and_then(Json::as_str) {
        c.extend(["-f".into(), format!("{path}/{f}")]);
    }
    if let Some(Json::Object(a)) = b.get("args") {
        for (k, v) in a {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            c.extend(["--build-arg".into(), format!("{k}={v}")]);
        }
    }
    if flag("nocache") {
        c.push("--no-cache".into());
    }
    if flag("pull") {
        c.push("--pull".into());
    }
    for k in ["network", "target"] {
        if let Some(v) = b.get(k).and_then(Json::as_str) {
            c.extend([format!("--{k}"), v.into()]);
        }
    }
    c.push(path.into());
    Ok(words(&c))
}

impl Module for DockerImage {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(image_probe(args))])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let stdout = docker_probe(facts, &image_probe(args))?;
        let image = image_name(args);
        let id = probe_ids(&stdout, "image");
        let mut o = Outcome::ok();
        o.data
            .insert("image".into(), json!(id.as_ref().map(|i| json!({"Id": i}))));
        let mut steps = Vec::new();
        let mut actions = Vec::new();
        if args.str("state") == Some("absent") {
            if id.is_some() {
                let force = if args.bool_or("force_absent", false) {
                    " -f"
                } else {
                    ""
                };
                steps.push(format!("docker image rm{force} {}", q(&image)));
                actions.push(format!("Removed image {image}"));
                o.data.insert("image".into(), Json::Null);
            }
        } else {
            let source = args.str("source");
            if id.is_none() || args.bool_or("force_source", false) {
                match source {
                    Some("build") => {
                        steps.push(build_command(args, &image)?);
                        actions.push(format!("Built image {image}"));
                    }
                    Some("load") => {
                        let Some(p) = args.str("load_path") else {
                            return fail::bad_args(
                                "source=load needs load_path (a `docker save` archive on the host)",
                            );
                        };
                        steps.push(format!("docker load -q -i {}", q(p)));
                        // The archive must hold the image asked for.
                        steps.push(format!(
                            "docker image inspect {} >/dev/null 2>&1 || {{ echo \"{} holds no image {}\" >&2; exit 1; }}",
                            q(&image),
                            p.replace(['"', '$', '`', '\\'], "_"),
                            image.replace(['"', '$', '`', '\\'], "_")
                        ));
                        actions.push(format!("Loaded image {image} from {p}"));
                    }
                    Some("pull") => {
                        steps.push(format!("docker pull -q {}", q(&image)));
                        actions.push(format!("Pulled image {image}"));
                    }
                    Some("local") if id.is_none() => {
                        return fail::fail(format!(
                            "image {image} is not on this host (source: local)"
                        ));
                    }
                    Some(_) => {}
                    None if id.is_none() => {
                        return fail::bad_args(format!(
                            "image {image} is not on this host: give source (build, load or pull)"
                        ));
                    }
                    None => {}
                }
            }
            if let Some(r) = args.str("repository") {
                let repo = image_ref(r, args.str("tag").unwrap_or("latest"));
                let current = probe_ids(&stdout, "repository");
                if !steps.is_empty() || current != id || args.bool_or("force_tag", false) {
                    steps.push(format!("docker tag {} {}", q(&image), q(&repo)));
                    actions.push(format!("Tagged image {image} as {repo}"));
                }
            }
        }
        if steps.is_empty() {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(actions.join("; "));
        o.data.insert("actions".into(), json!(actions));
        let mut script = format!("# opsctl docker_image\nset -e\n{}\n", steps.join("\n"));
        if args.str("state") != Some("absent") {
            script.push_str(&format!(
                "echo \"id $(docker image inspect --format '{{{{.Id}}}}' {})\"\n",
                q(&image)
            ));
        }
        Ok(script_plan(o, script, None))
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let id = match &result {
            Applied::Script(out) => probe_ids(&out.stdout_str(), "id"),
            _ => None,
        };
        let mut o = script_applied(planned, result, |rc| {
            format!("docker (rc {})", rc.unwrap_or(-1))
        })?;
        if let Some(id) = id {
            o.data.insert("image".into(), json!({"Id": id}));
        }
        Ok(o)
    }
}

// --- docker_container -----------------------------------------------------------

pub static DOCKER_CONTAINER: Spec = Spec::new(
    "docker_container",
    &[
        ArgSpec::new("name", Kind::Str).required(),
        ArgSpec::new("image", Kind::Str),
        ArgSpec::new(
            "state",
            Kind::Choice(&["started", "present", "stopped", "absent"]),
        ),
        ArgSpec::new("command", Kind::Any),
        ArgSpec::new("env", Kind::Dict),
        ArgSpec::new("network_mode", Kind::Str),
        ArgSpec::new("volumes", Kind::List),
        ArgSpec::new(
            "restart_policy",
            Kind::Choice(&["no", "on-failure", "always", "unless-stopped"]),
        ),
        ArgSpec::new("labels", Kind::Dict),
        ArgSpec::new("published_ports", Kind::List).aliases(&["ports"]),
        ArgSpec::new("working_dir", Kind::Str),
        ArgSpec::new("user", Kind::Str),
        ArgSpec::new("recreate", Kind::Bool),
        ArgSpec::new("restart", Kind::Bool),
        ArgSpec::new("force_kill", Kind::Bool).aliases(&["forcekill"]),
    ],
);

pub struct DockerContainer;

fn container_probe(args: &Args) -> String {
    let mut s = format!(
        "# opsctl docker_container: the container and its image\ncommand -v docker >/dev/null 2>&1 || exit {NO_DOCKER}\n\
         echo \"container $(docker container inspect --format '{{{{json .}}}}' {} 2>/dev/null)\"\n",
        q(args.str("name").unwrap_or_default())
    );
    if let Some(i) = args.str("image") {
        s.push_str(&format!(
            "echo \"image $(docker image inspect --format '{{{{.Id}}}}' {} 2>/dev/null)\"\n",
            q(&image_ref(i, "latest"))
        ));
    }
    s
}

/// The command as words: a list as it is, a string split as a shell would
/// (quotes respected).
fn command_words(v: &Json) -> Result<Vec<String>, Fail> {
    match v {
        Json::Array(a) => Ok(a
            .iter()
            .map(|w| {
                w.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| w.to_string())
            })
            .collect()),
        Json::String(s) => shlex::split(s)
            .ok_or_else(|| Fail::Args(format!("command {s:?} has an unclosed quote"))),
        Json::Null => Ok(Vec::new()),
        other => fail::bad_args(format!("command must be a string or a list, not {other}")),
    }
}

/// Why the existing container differs from the arguments (empty: it does not).
fn differences(args: &Args, c: &Json, image_id: Option<&str>) -> Result<Vec<String>, Fail> {
    let mut d = Vec::new();
    if args.str("image").is_some() && (image_id.is_none() || c["Image"].as_str() != image_id) {
        d.push("image".to_string());
    }
    if let Some(cmd) = args.get("command") {
        let want = command_words(cmd)?;
        let have: Vec<String> = c["Config"]["Cmd"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|w| w.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if want != have {
            d.push("command".into());
        }
    }
    let env: Vec<&str> = c["Config"]["Env"]
        .as_array()
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    if pairs(args, "env")
        .iter()
        .any(|(k, v)| !env.contains(&format!("{k}={v}").as_str()))
    {
        d.push("env".into());
    }
    let labels = &c["Config"]["Labels"];
    if pairs(args, "labels")
        .iter()
        .any(|(k, v)| labels[k].as_str() != Some(v.as_str()))
    {
        d.push("labels".into());
    }
    if let Some(m) = args.str("network_mode")
        && c["HostConfig"]["NetworkMode"].as_str() != Some(m)
    {
        d.push("network_mode".into());
    }
    let mut want_binds = args.strings("volumes");
    want_binds.sort();
    let mut binds: Vec<String> = c["HostConfig"]["Binds"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    binds.sort();
    if args.get("volumes").is_some() && want_binds != binds {
        d.push("volumes".into());
    }
    if let Some(p) = args.str("restart_policy")
        && c["HostConfig"]["RestartPolicy"]["Name"]
            .as_str()
            .unwrap_or("no")
            != p
        && !(p == "no" && c["HostConfig"]["RestartPolicy"]["Name"].as_str() == Some(""))
    {
        d.push("restart_policy".into());
    }
    for (arg, key) in [("working_dir", "WorkingDir"), ("user", "User")] {
        if let Some(v) = args.str(arg)
            && c["Config"][key].as_str() != Some(v)
        {
            d.push(arg.into());
        }
    }
    Ok(d)
}

/// `docker create` (or `run -d`) with the arguments.
fn create_command(args: &Args, run: bool) -> Result<String, Fail> {
    let Some(image) = args.str("image") else {
        return fail::bad_args("image is required to create the container");
    };
    let mut c: Vec<String> = if run {
        vec!["docker".into(), "run".into(), "-d".into()]
    } else {
        vec!["docker".into(), "create".into()]
    };
    c.extend(["--name".into(), args.string("name").unwrap_or_default()]);
    for (k, v) in pairs(args, "env") {
        c.extend(["-e".into(), format!("{k}={v}")]);
    }
    for (k, v) in pairs(args, "labels") {
        c.extend(["--label".into(), format!("{k}={v}")]);
    }
    for v in args.strings("volumes") {
        c.extend(["-v".into(), v]);
    }
    for p in args.strings("published_ports") {
        c.extend(["-p".into(), p]);
    }
    for (arg, flag) in [
        ("network_mode", "--network"),
        ("restart_policy", "--restart"),
        ("working_dir", "--workdir"),
        ("user", "--user"),
    ] {
        if let Some(v) = args.str(arg) {
            c.extend([flag.into(), v.into()]);
        }
    }
    c.push(image_ref(image, "latest"));
    if let Some(cmd) = args.get("command") {
        c.extend(command_words(cmd)?);
    }
    Ok(words(&c))
}

impl Module for DockerContainer {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(container_probe(args))])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let stdout = docker_probe(facts, &container_probe(args))?;
        let name = args.str("name").unwrap_or_default();
        let qn = q(name);
        let existing: Option<Json> = stdout
            .lines()
            .find_map(|l| l.strip_prefix("container "))
            .map(str::trim)
            .filter(|j| !j.is_empty())
            .and_then(|j| serde_json::from_str(j).ok());
        let image_id = probe_ids(&stdout, "image");
        let state = args.str("state").unwrap_or("started");
        let mut o = Outcome::ok();
        o.data.insert(
            "container".into(),
            existing
                .as_ref()
                .map(|c| json!({"Id": c["Id"], "Name": c["Name"], "State": c["State"]}))
                .unwrap_or(Json::Null),
        );
        let running = existing
            .as_ref()
            .is_some_and(|c| c["State"]["Running"].as_bool() == Some(true));
        let mut steps: Vec<String> = Vec::new();
        let mut what = Vec::new();
        if state == "absent" {
            if existing.is_some() {
                steps.push(format!("docker rm -f {qn} >/dev/null"));
                what.push("removed");
            }
        } else {
            // An image not on the host is pulled by `docker run`/`create`, as
            // community.docker's `pull: missing`; an existing container then
            // counts as running another image.
            let diff = match &existing {
                Some(c) => differences(args, c, image_id.as_deref())?,
                None => Vec::new(),
            };
            let recreate =
                existing.is_some() && (!diff.is_empty() || args.bool_or("recreate", false));
            if !diff.is_empty() {
                o.data.insert("differences".into(), json!(diff));
            }
            if existing.is_none() || recreate {
                if recreate {
                    steps.push(format!("docker rm -f {qn} >/dev/null"));
                    what.push("recreated");
                } else {
                    what.push("created");
                }
                steps.push(format!(
                    "{} >/dev/null",
                    create_command(args, state == "started")?
                ));
                if state == "started" {
                    what.push("started");
                }
            } else if state == "started" && !running {
                steps.push(format!("docker start {qn} >/dev/null"));
                what.push("started");
            } else if state == "started" && args.bool_or("restart", false) {
                steps.push(format!("docker restart {qn} >/dev/null"));
                what.push("restarted");
            } else if state == "stopped" && running {
                let stop = if args.bool_or("force_kill", false) {
                    "kill"
                } else {
                    "stop"
                };
                steps.push(format!("docker {stop} {qn} >/dev/null"));
                what.push("stopped");
            }
            if existing.is_none() && state == "stopped" {
                // Created, never started: stopped already.
            }
        }
        if steps.is_empty() {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(format!("container {name} {}", what.join(" and ")));
        let script = format!("# opsctl docker_container\nset -e\n{}\n", steps.join("\n"));
        Ok(script_plan(o, script, None))
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        script_applied(planned, result, |rc| {
            format!("docker (rc {})", rc.unwrap_or(-1))
        })
    }
}

// --- docker_compose_v2 ----------------------------------------------------------

pub static DOCKER_COMPOSE_V2: Spec = Spec::new(
    "docker_compose_v2",
    &[
        ArgSpec::new("project_src", Kind::Str).required(),
        ArgSpec::new("project_name", Kind::Str),
        ArgSpec::new("files", Kind::List),
        ArgSpec::new("env_files", Kind::List),
        ArgSpec::new("profiles", Kind::List),
        ArgSpec::new(
            "state",
            Kind::Choice(&["present", "absent", "stopped", "restarted"]),
        ),
        ArgSpec::new("services", Kind::List),
        ArgSpec::new("build", Kind::Choice(&["always", "never", "policy"])),
        ArgSpec::new("recreate", Kind::Choice(&["always", "never", "auto"])),
        ArgSpec::new("remove_orphans", Kind::Bool),
        ArgSpec::new("remove_images", Kind::Choice(&["all", "local"])),
        ArgSpec::new("remove_volumes", Kind::Bool),
        ArgSpec::new("timeout", Kind::Int),
    ],
);

pub struct DockerComposeV2;

/// The compose command line up to the subcommand: `docker compose` (the
/// plugin) when it answers, else `docker-compose` (Debian 12's 1.29); the
/// project's options.
fn compose_prefix(args: &Args) -> String {
    let mut o = Vec::new();
    if let Some(p) = args.str("project_name") {
        o.extend(["-p".to_string(), p.to_string()]);
    }
    for f in args.strings("files") {
        o.extend(["-f".to_string(), f]);
    }
    for f in args.strings("env_files") {
        o.extend(["--env-file".to_string(), f]);
    }
    for p in args.strings("profiles") {
        o.extend(["--profile".to_string(), p]);
    }
    format!("$compose {}", words(&o))
}

const COMPOSE_DETECT: &str = "if docker compose version >/dev/null 2>&1; then compose='docker compose'; \
elif command -v docker-compose >/dev/null 2>&1; then compose=docker-compose; else exit 127; fi\n";

fn compose_probe(args: &Args) -> String {
    let c = compose_prefix(args);
    format!(
        "# opsctl docker_compose_v2: the project's services, their config hashes and containers\n\
         {COMPOSE_DETECT}cd {} || exit 125\n\
         {c} config --hash='*' | sed 's/^/hash /' || exit 124\n\
         {c} ps -a -q | xargs -r docker inspect --format \
         'ctr {{{{index .Config.Labels \"com.docker.compose.service\"}}}} {{{{.State.Status}}}} {{{{index .Config.Labels \"com.docker.compose.config-hash\"}}}}'\n",
        q(args.str("project_src").unwrap_or_default())
    )
}

impl Module for DockerComposeV2 {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(compose_probe(args))])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let out = facts.probe(&compose_probe(args))?;
        let src = args.str("project_src").unwrap_or_default();
        match out.rc {
            Some(127) => return no_docker("docker compose (or docker-compose)"),
            Some(125) => {
                return fail::fail(format!("project_src {src} is not a directory on the host"));
            }
            Some(124) => {
                return fail::fail(format!(
                    "the compose project in {src} does not load: {}",
                    out.stderr_str().trim()
                ));
            }
            _ => {}
        }
        let stdout = out.stdout_str();
        let wanted = args.strings("services");
        let selected = |s: &str| wanted.is_empty() || wanted.iter().any(|w| w == s);
        let hashes: Vec<(String, String)> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("hash "))
            .filter_map(|l| {
                let (s, h) = l.trim().split_once(' ')?;
                Some((s.to_string(), h.trim().to_string()))
            })
            .filter(|(s, _)| selected(s))
            .collect();
        // (service, status, config hash)
        let ctrs: Vec<(String, String, String)> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("ctr "))
            .map(|l| {
                let mut w = l.split_whitespace().map(str::to_string);
                (
                    w.next().unwrap_or_default(),
                    w.next().unwrap_or_default(),
                    w.next().unwrap_or_default(),
                )
            })
            .filter(|(s, _, _)| selected(s))
            .collect();
        let c = compose_prefix(args);
        let services = words(&wanted);
        let mut o = Outcome::ok();
        let state = args.str("state").unwrap_or("present");
        let mut reasons = Vec::new();
        let command = match state {
            "absent" => {
                if !ctrs.is_empty() {
                    reasons.push(format!("{} container(s) to remove", ctrs.len()));
                }
                let mut cmd = format!("{c} down");
                if let Some(r) = args.str("remove_images") {
                    cmd.push_str(&format!(" --rmi {r}"));
                }
                if args.bool_or("remove_volumes", false) {
                    cmd.push_str(" -v");
                }
                if args.bool_or("remove_orphans", false) {
                    cmd.push_str(" --remove-orphans");
                }
                cmd
            }
            "stopped" => {
                let running = ctrs.iter().filter(|(_, st, _)| st == "running").count();
                if running > 0 {
                    reasons.push(format!("{running} container(s) running"));
                }
                format!("{c} stop {services}")
            }
            "restarted" => {
                reasons.push("restart asked".into());
                format!("{c} restart {services}")
            }
            _ => {
                let recreate = args.str("recreate").unwrap_or("auto");
                for (service, hash) in &hashes {
                    let mine: Vec<_> = ctrs.iter().filter(|(s, _, _)| s == service).collect();
                    if mine.is_empty() {
                        reasons.push(format!("{service}: no container"));
                    } else if mine.iter().any(|(_, st, _)| st != "running") {
                        reasons.push(format!("{service}: not running"));
                    } else if recreate == "auto" && mine.iter().any(|(_, _, h)| h != hash) {
                        reasons.push(format!("{service}: configuration changed"));
                    }
                }
                if recreate == "always" {
                    reasons.push("recreate: always".into());
                }
                if args.str("build") == Some("always") {
                    reasons.push("build: always".into());
                }
                let mut cmd = format!("{c} up -d");
                match args.str("build") {
                    Some("always") => cmd.push_str(" --build"),
                    Some("never") => cmd.push_str(" --no-build"),
                    _ => {}
                }
                match recreate {
                    "always" => cmd.push_str(" --force-recreate"),
                    "never" => cmd.push_str(" --no-recreate"),
                    _ => {}
                }
                if args.bool_or("remove_orphans", false) {
                    cmd.push_str(" --remove-orphans");
                }
                if let Some(t) = args.int("timeout") {
                    cmd.push_str(&format!(" -t {t}"));
                }
                format!("{cmd} {services}")
            }
        };
        o.data.insert(
            "containers".into(),
            json!(
                ctrs.iter()
                    .map(|(s, st, _)| json!({"Service": s, "State": st}))
                    .collect::<Vec<_>>()
            ),
        );
        if reasons.is_empty() {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(reasons.join("; "));
        let script = format!(
            "# opsctl docker_compose_v2\n{COMPOSE_DETECT}cd {} || exit 125\n{}\n",
            q(src),
            command.trim_end()
        );
        Ok(script_plan(o, script, None))
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        script_applied(planned, result, |rc| {
            format!("docker compose (rc {})", rc.unwrap_or(-1))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        assert_eq!(image_ref("app", "latest"), "app:latest");
        assert_eq!(image_ref("app:1.2", "latest"), "app:1.2");
        assert_eq!(
            image_ref("localhost:5000/app", "v1"),
            "localhost:5000/app:v1"
        );
        assert_eq!(image_ref("app@sha256:abc", "latest"), "app@sha256:abc");
    }

    #[test]
    fn commands_as_words() {
        assert_eq!(
            command_words(&json!("python3 -c 'print(1)'")).unwrap(),
            ["python3", "-c", "print(1)"]
        );
        assert_eq!(command_words(&json!(["a", "b c"])).unwrap(), ["a", "b c"]);
        assert!(command_words(&json!("a 'b")).is_err());
    }
}
