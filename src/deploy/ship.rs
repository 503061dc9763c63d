//! `compose_images: ship` (docs/compose.md): the images of a compose release
//! built on the controller, once per deploy, before any host is touched. The
//! release's tree (`git archive` of the commit) goes into a private temporary
//! directory with its `REVISION`, and the release's non-secret settings in the
//! build's environment (the project name `compose_project-RELEASE_ID`, so the
//! images are the release's own and a rollback finds the previous ones on the
//! host), `docker compose build` (or
//! Debian's `docker-compose`) runs there against the controller's daemon
//! (`DOCKER_HOST` as docker reads it), and the ids of every service's image are
//! handed to the hosts' playbook (`compose_ship_images`), whose compose_ship
//! task streams the ones a host lacks (`engine::local::ship`).
//!
//! Not pure: it runs git, tar and docker on the controller.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use serde_json::{Map, Value as Json};
use tokio::process::Command;

use super::hosts::Hosts;
use crate::error::{Error, Result};
use crate::printer::Printer;

/// The release being built.
pub struct Release<'a> {
    pub id: &'a str,
    pub commit: &'a str,
    pub git_ref: &'a str,
    /// The app's repository on the controller (`app_src`).
    pub src: &'a Path,
    /// What `git archive` exports (`COMMIT` or `COMMIT:SUBDIR`).
    pub tree: &'a str,
}

/// How compose is called on the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// The `docker compose` plugin (v2): default image names `project-service`.
    Plugin,
    /// `docker-compose` (1.x, Debian 12's): `project_service`.
    Standalone,
}

impl Flavor {
    fn command(self) -> Command {
        match self {
            Flavor::Plugin => {
                let mut c = Command::new("docker");
                c.arg("compose");
                c
            }
            Flavor::Standalone => Command::new("docker-compose"),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Flavor::Plugin => "docker compose",
            Flavor::Standalone => "docker-compose",
        }
    }
    fn default_image(self, project: &str, service: &str) -> String {
        match self {
            Flavor::Plugin => format!("{project}-{service}"),
            Flavor::Standalone => format!("{project}_{service}"),
        }
    }
}

/// The images of the release (name -> id) when the hosts' app is a compose
/// project with `compose_images: ship`, built on the controller; `None` when
/// the hosts build their own (`build`). An unknown `compose_images` is an
/// error before anything is built.
pub async fn build_if_shipped(
    hosts: &Hosts,
    rel: &Release<'_>,
    printer: &Printer,
) -> Result<Option<Json>> {
    if hosts.same_var("app_kind")?.as_deref() != Some("compose") {
        return Ok(None);
    }
    match hosts.same_var("compose_images")?.as_deref() {
        None | Some("build") => return Ok(None),
        Some("ship") => {}
        Some(other) => {
            return Err(Error::new(format!(
                "compose_images: '{other}' is neither build nor ship"
            ))
            .hint("build: docker-compose build on each host; ship: built on the controller and sent to the hosts (docs/compose.md)"));
        }
    }
    let project = format!(
        "{}-{}",
        hosts.same_var("compose_project")?.unwrap_or_default(),
        rel.id
    );
    let files: Vec<String> = match hosts.json_var(0, "compose_files")? {
        Json::String(s) => vec![s],
        Json::Null => vec!["docker-compose.yml".into()],
        v => serde_json::from_value(v)
            .map_err(|e| Error::new(format!("compose_files must be a list of file names: {e}")))?,
    };
    let port = match hosts.json_var(0, "compose_ports")? {
        Json::Array(a) => a
            .first()
            .map(|p| p.to_string().trim_matches('"').to_string()),
        _ => None,
    }
    .unwrap_or_else(|| "8000".into());
    let settings = vec![
        ("COMPOSE_PROJECT_NAME", project.clone()),
        ("COMPOSE_FILE", files.join(":")),
        ("OPSCTL_PROJECT", project.clone()),
        ("OPSCTL_PORT", port),
        (
            "OPSCTL_DATA_DIR",
            hosts.var(0, "compose_data_dir")?.unwrap_or_default(),
        ),
        ("OPSCTL_RELEASE", rel.id.to_string()),
        ("OPSCTL_COMMIT", rel.commit.to_string()),
        ("APP_COMMIT", rel.commit.to_string()),
        ("APP_RELEASE", rel.id.to_string()),
        ("APP_REF", rel.git_ref.to_string()),
    ];
    let build_args = hosts.var(0, "compose_build_args")?.unwrap_or_default();
    let t0 = Instant::now();
    let flavor = controller_docker().await?;
    let dir = Scratch::new(rel.id)?;
    export(rel, &dir.0).await?;
    // The settings go in the build's environment (compose reads it before
    // .env), not in the context: a `COPY .` then copies the same bytes for two
    // releases of a commit, whose builds give the same image ids. The file is
    // there for `env_file: .env`.
    write_private(&dir.0.join(".env"), ENV_FILE.as_bytes())?;
    // As in the host's release directory (roles/app: "record the commit").
    write_private(
        &dir.0.join("REVISION"),
        format!("{}\n", rel.commit).as_bytes(),
    )?;

    let mut build = flavor.command();
    build.arg("build").args(build_args.split_whitespace());
    let out = run(build, &dir.0, &settings)
        .await
        .map_err(|e| Error::new(format!("{} build on the controller: {e}", flavor.name())))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "the images of release {} did not build on the controller ({} build, rc {}):\n{}",
            rel.id,
            flavor.name(),
            out.status.code().unwrap_or(-1),
            last_lines(&out.stdout, 20)
        ))
        .hint("fix the build (the lines above are the end of its output); `docker-compose build` in the app's directory shows it whole"));
    }
    let images = service_images(flavor, &dir.0, &settings, &project).await?;
    let ids = image_ids(&images, rel.id).await?;
    printer.result(&format!(
        "built the images of release {} on the controller in {:.1} s: {}",
        rel.id,
        t0.elapsed().as_secs_f64(),
        images.join(", ")
    ));
    let keep = match hosts.same_var("compose_ship_keep")?.as_deref() {
        None => DEFAULT_KEEP,
        Some(n) => n
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                Error::new(format!(
                    "compose_ship_keep: '{n}' is not a number of releases (1 or more)"
                ))
                .hint("how many releases' images the controller keeps tagged (default 3)")
            })?,
    };
    let base = hosts.same_var("compose_project")?.unwrap_or_default();
    prune(&base, keep, printer).await;
    Ok(Some(Json::Object(ids)))
}

/// The controller keeps the tags of this many releases (`compose_ship_keep`).
const DEFAULT_KEEP: usize = 3;

/// The release of an image that a ship build named (`BASE-RELEASE_ID-service`
/// or `BASE-RELEASE_ID_service`), if `repository` is one.
fn release_of<'r>(base: &str, repository: &'r str) -> Option<&'r str> {
    let rest = repository.strip_prefix(base)?.strip_prefix('-')?;
    let id = rest.get(..15 + super::SHORT_SHA)?;
    let after = rest[id.len()..].chars().next()?;
    (super::is_release_id(id) && (after == '-' || after == '_')).then_some(id)
}

/// The repository:tag names of releases older than the newest `keep` (release
/// ids sort by time): what [`prune`] removes.
fn stale(base: &str, listed: &str, keep: usize) -> Vec<String> {
    let mut ids: Vec<&str> = listed
        .lines()
        .filter_map(|l| release_of(base, l.split(':').next().unwrap_or_default()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let Some(&oldest_kept) = ids.len().checked_sub(keep.max(1)).and_then(|n| ids.get(n)) else {
        return Vec::new();
    };
    listed
        .lines()
        .filter(|l| {
            release_of(base, l.split(':').next().unwrap_or_default())
                .is_some_and(|id| id < oldest_kept)
        })
        .map(str::to_string)
        .collect()
}

/// Untags (and so frees, when no other tag holds them) the controller's images
/// of this project's releases older than the newest `keep`. The hosts keep
/// their own images for rollbacks; a deploy running at the same time is newer
/// and kept. A failure is a warning: the deploy does not depend on it.
async fn prune(base: &str, keep: usize, printer: &Printer) {
    if base.is_empty() {
        return;
    }
    let listed = Command::new("docker")
        .args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
        .arg(format!("{base}-*"))
        .stdin(Stdio::null())
        .output()
        .await;
    let listed = match listed {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => return printer.warn("could not list the controller's release images to prune them"),
    };
    let old = stale(base, &listed, keep);
    if old.is_empty() {
        return;
    }
    let out = Command::new("docker")
        .args(["image", "rm"])
        .args(&old)
        .stdin(Stdio::null())
        .output()
        .await;
    match out {
        Ok(o) if o.status.success() => printer.result(&format!(
            "removed the controller's images of {} older release tag(s) (compose_ship_keep: {keep})",
            old.len()
        )),
        Ok(o) => printer.warn(&format!(
            "docker image rm on the controller: {}",
            last_lines(&o.stderr, 3)
        )),
        Err(e) => printer.warn(&format!("docker image rm on the controller: {e}")),
    }
}

/// The build's `.env`: the same for every release (see [`build_if_shipped`]).
const ENV_FILE: &str =
    "# opsctl compose_images: ship: the release's settings are in the build's environment.\n";

/// A private (0700) temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(id: &str) -> Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("opsctl-ship-{id}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", path.display())))?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(data))
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))
}

/// The last `n` lines of a command's output.
fn last_lines(out: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(out);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `cmd` in `dir` with the release's settings, stdout and stderr in one
/// stream (the order a terminal would show).
async fn run(
    mut cmd: Command,
    dir: &Path,
    settings: &[(&str, String)],
) -> std::io::Result<std::process::Output> {
    let (reader, writer) = std::io::pipe()?;
    let writer2 = writer.try_clone()?;
    let mut child = cmd
        .current_dir(dir)
        .envs(settings.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .kill_on_drop(true)
        .spawn()?;
    // The command's own pipe ends went with it: the reader sees EOF when it exits.
    drop(cmd);
    let read = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut buf = Vec::new();
        let mut r = reader;
        let _ = r.read_to_end(&mut buf);
        buf
    });
    let status = child.wait().await?;
    let stdout = read.await.unwrap_or_default();
    Ok(std::process::Output {
        status,
        stdout,
        stderr: Vec::new(),
    })
}

/// The controller's docker: its client, its daemon (DOCKER_HOST), its compose.
async fn controller_docker() -> Result<Flavor> {
    let daemon = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock (DOCKER_HOST is not set)".into());
    let version = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output()
        .await;
    let version = match version {
        Err(e) => {
            return Err(Error::new(format!(
                "compose_images: ship builds the images on this machine, which has no docker client ({e})"
            ))
            .hint("install docker and docker-compose here (apt-get install docker.io docker-compose), or set compose_images: build to build on the hosts"));
        }
        Ok(v) => v,
    };
    if !version.status.success() {
        let err = String::from_utf8_lossy(&version.stderr);
        return Err(Error::new(format!(
            "compose_images: ship: the docker daemon at {daemon} does not answer: {}",
            last_lines(err.as_bytes(), 3)
        ))
        .hint("start docker on this machine, or set DOCKER_HOST to a daemon it can reach (unix:///path/to.sock, ssh://user@builder, tcp://...)"));
    }
    let answers = |mut c: Command| async move {
        c.arg("version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success())
    };
    for flavor in [Flavor::Plugin, Flavor::Standalone] {
        if answers(flavor.command()).await {
            return Ok(flavor);
        }
    }
    Err(Error::new(
        "compose_images: ship: neither `docker compose` nor `docker-compose` runs on this machine",
    )
    .hint("install compose here (apt-get install docker-compose), or set compose_images: build"))
}

/// The release's tree into `dir`: `git archive TREE | tar -x`.
async fn export(rel: &Release<'_>, dir: &Path) -> Result<()> {
    let mut git = std::process::Command::new("git");
    git.arg("-C")
        .arg(rel.src)
        .args(["archive", "--format=tar", rel.tree])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut archive = git
        .spawn()
        .map_err(|e| Error::new(format!("cannot run git: {e}")))?;
    let tar = std::process::Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir)
        .stdin(
            archive
                .stdout
                .take()
                .map(Stdio::from)
                .unwrap_or(Stdio::null()),
        )
        .output();
    let archived = archive.wait_with_output();
    let (tar, archived) = match (tar, archived) {
        (Ok(t), Ok(a)) => (t, a),
        (Err(e), _) | (_, Err(e)) => return Err(Error::new(format!("git archive | tar: {e}"))),
    };
    if !archived.status.success() || !tar.status.success() {
        return Err(Error::new(format!(
            "cannot export {} from {} for the build: {}{}",
            rel.tree,
            rel.src.display(),
            String::from_utf8_lossy(&archived.stderr).trim(),
            String::from_utf8_lossy(&tar.stderr).trim()
        ))
        .hint("compose_images: ship builds from app_src, the app's repository on this machine"));
    }
    Ok(())
}

/// Every service's image, in the order of the services (each once): its
/// `image:`, else compose's default name for a built service.
async fn service_images(
    flavor: Flavor,
    dir: &Path,
    settings: &[(&str, String)],
    project: &str,
) -> Result<Vec<String>> {
    let out = flavor
        .command()
        .arg("config")
        .current_dir(dir)
        .envs(settings.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| Error::new(format!("{} config on the controller: {e}", flavor.name())))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "{} config on the controller failed:\n{}",
            flavor.name(),
            last_lines(&out.stderr, 10)
        )));
    }
    let config: Json =
        serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).map_err(|e| {
            Error::new(format!(
                "cannot read what {} config printed: {e}",
                flavor.name()
            ))
        })?;
    images_of(flavor, &config, project)
}

/// The images of a compose configuration (as `config` prints it).
fn images_of(flavor: Flavor, config: &Json, project: &str) -> Result<Vec<String>> {
    let Some(services) = config.get("services").and_then(Json::as_object) else {
        return Err(Error::new("the compose configuration has no services"));
    };
    let mut images: Vec<String> = Vec::new();
    for (name, service) in services {
        let image = match (
            service.get("image").and_then(Json::as_str),
            service.get("build"),
        ) {
            (Some(i), _) => i.to_string(),
            (None, Some(_)) => flavor.default_image(project, name),
            (None, None) => {
                return Err(Error::new(format!(
                    "service {name} has neither image nor build"
                )));
            }
        };
        if !images.contains(&image) {
            images.push(image);
        }
    }
    Ok(images)
}

/// The controller's id of each image; an image that was not built (a
/// service's `image:` only) and is not there yet is pulled on the controller.
async fn image_ids(images: &[String], id: &str) -> Result<Map<String, Json>> {
    let mut ids = Map::new();
    for image in images {
        let inspect = || async {
            Command::new("docker")
                .args(["image", "inspect", "--format", "{{.Id}}", image])
                .stdin(Stdio::null())
                .output()
                .await
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let found = match inspect().await {
            Some(i) => Some(i),
            None => {
                let pull = Command::new("docker")
                    .args(["pull", "--quiet", image])
                    .stdin(Stdio::null())
                    .output()
                    .await
                    .map_err(|e| Error::new(format!("docker pull {image}: {e}")))?;
                if !pull.status.success() {
                    return Err(Error::new(format!(
                        "image {image} of release {id} was not built on the controller and cannot be pulled there: {}",
                        last_lines(&pull.stderr, 3)
                    ))
                    .hint("give the service a build:, or make the image available to the controller's docker"));
                }
                inspect().await
            }
        };
        match found {
            Some(i) if i.starts_with("sha256:") => {
                ids.insert(image.clone(), Json::String(i));
            }
            _ => return Err(Error::new(format!("image {image}: docker gives no id"))),
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_service_image_once_with_compose_default_names() {
        let config = json!({"services": {
            "web": {"build": {"context": "."}, "image": "app-1-web"},
            "migrate": {"image": "app-1-web"},
            "worker": {"build": {"context": "./worker"}},
            "db": {"image": "postgres:16"},
        }});
        assert_eq!(
            images_of(Flavor::Standalone, &config, "app-1").unwrap(),
            ["app-1-web", "app-1_worker", "postgres:16"]
        );
        assert_eq!(
            images_of(Flavor::Plugin, &config, "app-1").unwrap()[1],
            "app-1-worker"
        );
        let bad = json!({"services": {"x": {"command": "true"}}});
        assert!(
            images_of(Flavor::Standalone, &bad, "p")
                .unwrap_err()
                .to_string()
                .contains("service x has neither image nor build")
        );
    }

    #[test]
    fn stale_release_tags_are_all_but_the_newest() {
        let listed = "app-20260101000000-aaaaaaa_web:latest\n\
                      app-20260102000000-bbbbbbb_web:latest\n\
                      app-20260102000000-bbbbbbb_worker:latest\n\
                      app-20260103000000-ccccccc-web:latest\n\
                      app-preview-x-20260101000000-aaaaaaa-web:latest\n\
                      app-tools:latest\n\
                      app-20260101000000-aaaaaaa:latest\n";
        assert_eq!(
            stale("app", listed, 2),
            ["app-20260101000000-aaaaaaa_web:latest"]
        );
        assert_eq!(
            stale("app", listed, 1),
            [
                "app-20260101000000-aaaaaaa_web:latest",
                "app-20260102000000-bbbbbbb_web:latest",
                "app-20260102000000-bbbbbbb_worker:latest"
            ]
        );
        assert!(stale("app", listed, 3).is_empty());
        // Another project's names (a preview's) are never this one's.
        assert!(stale("app-preview-x", listed, 1).is_empty());
        assert!(stale("app-previe", listed, 1).is_empty());
    }

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines(b"a\n", 5), "a");
    }
}
