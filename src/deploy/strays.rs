//! A compose app's stray stacks (docs/compose.md): what a deploy that died
//! leaves running besides the live stack: the stack it started before its
//! switch, or the previous stack it had not removed yet. Found and removed under
//! the deploy lock by the next command that takes it (`deploy`, `rollback`,
//! `initdata`, or `status` taking over a dead command's lock: [`super::hosts::finish`]),
//! never the live stack nor the one nginx proxies to. The facts are read by one
//! script, the choice is [`strays`] (pure), the removal a second script.

use super::hosts::Hosts;
use crate::printer::Printer;
use crate::transport::shell_quote;

/// On each compose host of `hosts`: the stray stacks found and removed, one
/// line each (`host1 | removed the stack of release ...`); a failure to read or
/// remove is a warning (the live stack is never touched either way).
pub async fn remove(hosts: &Hosts, printer: &Printer) {
    for i in 0..hosts.names.len() {
        if hosts.var(i, "app_kind").ok().flatten().as_deref() != Some("compose") {
            continue;
        }
        let host = &hosts.names[i];
        let (Ok(Some(project)), Ok(Some(upstream))) = (
            hosts.var(i, "compose_project"),
            hosts.var(i, "compose_upstream_file"),
        ) else {
            printer.warn(&format!(
                "{host}: cannot look for stray compose stacks: compose_project or compose_upstream_file cannot be read before the playbook runs (set them in group_vars)"
            ));
            continue;
        };
        let facts = match hosts
            .run_root(i, facts_script(&hosts.roots[i], &upstream))
            .await
        {
            Ok(out) if out.rc == Some(0) => out.stdout_str(),
            Ok(out) => {
                printer.warn(&format!(
                    "{host}: cannot list the compose stacks: {}",
                    out.stderr_str().trim()
                ));
                continue;
            }
            Err(e) => {
                printer.warn(&format!(
                    "{host}: cannot list the compose stacks: {}",
                    e.message
                ));
                continue;
            }
        };
        for s in strays(&facts, &project, &hosts.roots[i]) {
            match hosts.run_root(i, remove_script(&s)).await {
                Ok(out) if out.rc == Some(0) => {
                    printer.result(&format!("{host} | {}", s.describe()))
                }
                Ok(out) => printer.warn(&format!(
                    "{host}: cannot remove the stray stack of release {}: {}",
                    s.release,
                    out.stderr_str().trim()
                )),
                Err(e) => printer.warn(&format!(
                    "{host}: cannot remove the stray stack of release {}: {}",
                    s.release, e.message
                )),
            }
        }
    }
}

/// Reads, on a host, what [`strays`] decides from: `live|PROJECT` (the project of
/// `current/.env`), `upstream|PORT` (the port nginx proxies to), then one
/// `stack|PROJECT|WORKING_DIR|PORT` per compose project with containers
/// (running or not; PORT from its directory's `.env`). Nothing without docker.
pub fn facts_script(app_root: &str, upstream_file: &str) -> String {
    let root = shell_quote(app_root);
    let upstream = shell_quote(upstream_file);
    format!(
        r#"command -v docker >/dev/null 2>&1 || exit 0
echo "live|$(sed -n 's/^COMPOSE_PROJECT_NAME=//p' {root}/current/.env 2>/dev/null | head -n 1)"
echo "upstream|$(sed -n 's/^ *server 127\.0\.0\.1:\([0-9]*\);.*/\1/p' {upstream} 2>/dev/null | head -n 1)"
docker ps -a --filter label=com.docker.compose.project \
  --format '{{{{.Label "com.docker.compose.project"}}}}|{{{{.Label "com.docker.compose.project.working_dir"}}}}' |
  sort -u | while IFS='|' read -r p d; do
    port=$([ -n "$d" ] && sed -n 's/^OPSCTL_PORT=//p' "$d/.env" 2>/dev/null | head -n 1)
    echo "stack|$p|$d|$port"
  done
"#
    )
}

/// One stray stack: its compose project, its release and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    pub project: String,
    pub release: String,
    /// Its release directory (empty when docker does not say: removed by label).
    pub dir: String,
    /// Newer than the live release: a deploy started it and died before its
    /// switch. Else an older stack a deploy had not removed yet.
    pub newer: bool,
}

/// The stacks of this app (projects `PROJECT-RELEASE_ID` whose directory, when
/// docker says, is `APP_ROOT/releases/RELEASE_ID`) other than the live one and
/// the one nginx proxies to, from [`facts_script`]'s output.
pub fn strays(facts: &str, compose_project: &str, app_root: &str) -> Vec<Stray> {
    let (mut live, mut upstream) = ("", "");
    let mut out = Vec::new();
    let mut stacks = Vec::new();
    for line in facts.lines() {
        let mut f = line.split('|');
        match (f.next(), f.next(), f.next(), f.next()) {
            (Some("live"), Some(p), ..) => live = p.trim(),
            (Some("upstream"), Some(p), ..) => upstream = p.trim(),
            (Some("stack"), Some(p), Some(d), port) => {
                stacks.push((p.trim(), d.trim(), port.unwrap_or("").trim()))
            }
            _ => {}
        }
    }
    let live_release = live
        .strip_prefix(compose_project)
        .and_then(|r| r.strip_prefix('-'))
        .unwrap_or("");
    let releases = format!("{}/releases/", app_root.trim_end_matches('/'));
    for (project, dir, port) in stacks {
        let Some(release) = project
            .strip_prefix(compose_project)
            .and_then(|r| r.strip_prefix('-'))
            .filter(|r| super::is_release_id(r))
        else {
            continue;
        };
        let ours = dir.is_empty() || dir.strip_prefix(releases.as_str()) == Some(release);
        let serving = project == live || (!port.is_empty() && port == upstream);
        if !ours || serving || out.iter().any(|s: &Stray| s.project == project) {
            continue;
        }
        out.push(Stray {
            project: project.to_string(),
            release: release.to_string(),
            dir: dir.to_string(),
            newer: live_release.is_empty() || release > live_release,
        });
    }
    out
}

/// Removes `s`: `docker-compose down` in its release directory (its `.env`
/// names the project and files), else its containers by label. Its images stay
/// (a release's images go when keep_releases prunes it).
pub fn remove_script(s: &Stray) -> String {
    let dir = shell_quote(&s.dir);
    let label = shell_quote(&format!("label=com.docker.compose.project={}", s.project));
    format!(
        "if [ -n {dir} ] && [ -f {dir}/.env ]; then cd {dir} && docker-compose down --remove-orphans; \
         else docker ps -aq --filter {label} | xargs -r docker rm -f >/dev/null \
         && docker network ls -q --filter {label} | xargs -r docker network rm >/dev/null; fi"
    )
}

impl Stray {
    /// `removed the stack of release R (...)`, for the command's output.
    pub fn describe(&self) -> String {
        format!(
            "removed the stack of release {} ({}), left running by a command that died",
            self.release,
            if self.newer {
                "started before its switch, never live"
            } else {
                "a previous stack not removed after the switch"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "20260101000000-aaaaaaa";
    const LIVE: &str = "20260102000000-bbbbbbb";
    const NEW: &str = "20260103000000-ccccccc";

    fn stack(release: &str, port: u16) -> String {
        format!("stack|app-{release}|/srv/app/releases/{release}|{port}\n")
    }

    #[test]
    fn the_live_stack_and_the_one_nginx_uses_stay() {
        let facts = format!(
            "live|app-{LIVE}\nupstream|8000\n{}{}{}stack|modtest|/tmp/stack|\n\
             stack|other-{NEW}|/srv/app/releases/{NEW}|8001\n\
             stack|app-{NEW}|/srv/app-previews/x/releases/{NEW}|8001\n",
            stack(OLD, 8001),
            stack(LIVE, 8000),
            stack(NEW, 8001)
        );
        let got = strays(&facts, "app", "/srv/app");
        assert_eq!(
            got,
            vec![
                Stray {
                    project: format!("app-{OLD}"),
                    release: OLD.into(),
                    dir: format!("/srv/app/releases/{OLD}"),
                    newer: false
                },
                Stray {
                    project: format!("app-{NEW}"),
                    release: NEW.into(),
                    dir: format!("/srv/app/releases/{NEW}"),
                    newer: true
                }
            ]
        );
        assert!(got[1].describe().contains("started before its switch"));
        assert!(got[0].describe().contains("not removed after the switch"));
        // nginx already on the new stack while `current` is not yet: both serve.
        let facts = format!(
            "live|app-{LIVE}\nupstream|8001\n{}{}",
            stack(LIVE, 8000),
            stack(NEW, 8001)
        );
        assert!(strays(&facts, "app", "/srv/app/").is_empty());
    }

    #[test]
    fn the_main_app_and_its_previews_never_sweep_each_other() {
        // The main app live on 8000 and a stray of its own; the preview x's live
        // stack (20000) and the preview x-y's: project names of their own
        // (docs/compose.md), directories under the previews' root.
        let preview = |name: &str, release: &str, port: u16| {
            format!(
                "stack|app-preview-{name}-{release}|/srv/app-previews/{name}/releases/{release}|{port}\n"
            )
        };
        let stacks = format!(
            "{}{}{}{}{}",
            stack(LIVE, 8000),
            stack(OLD, 8001),
            preview("x", NEW, 20000),
            preview("x", OLD, 20001),
            preview("x-y", NEW, 20002)
        );
        // The projects swept by a deploy of `project` in `root` whose live
        // stack is `live` (upstream port `port`).
        let swept = |live: &str, port: &str, project: &str, root: &str| -> Vec<String> {
            let facts = format!("live|{live}\nupstream|{port}\n{stacks}");
            strays(&facts, project, root)
                .into_iter()
                .map(|s| s.project)
                .collect()
        };
        // The main app deploys: only its own old stack goes.
        assert_eq!(
            swept(&format!("app-{LIVE}"), "8000", "app", "/srv/app"),
            vec![format!("app-{OLD}")]
        );
        // The preview x deploys: only x's own old stack goes, never the main
        // app's (live or not) nor x-y's.
        assert_eq!(
            swept(
                &format!("app-preview-x-{NEW}"),
                "20000",
                "app-preview-x",
                "/srv/app-previews/x"
            ),
            vec![format!("app-preview-x-{OLD}")]
        );
        // Before its first release is live, a preview still leaves the others be.
        assert_eq!(
            swept("", "", "app-preview-x-y", "/srv/app-previews/x-y"),
            vec![format!("app-preview-x-y-{NEW}")]
        );
    }

    #[test]
    fn without_a_live_release_every_stack_of_the_app_is_stray() {
        let facts = format!("live|\nupstream|\n{}", stack(NEW, 8000));
        let got = strays(&facts, "app", "/srv/app");
        assert_eq!(got.len(), 1);
        assert!(got[0].newer);
        // No docker on the host: nothing.
        assert!(strays("", "app", "/srv/app").is_empty());
        // A container without the working-dir label is known by its name.
        let got = strays(
            &format!("live|app-{LIVE}\nupstream|8000\nstack|app-{OLD}||\n"),
            "app",
            "/srv/app",
        );
        assert_eq!(got.len(), 1);
        assert!(remove_script(&got[0]).contains("docker rm -f"));
    }
}
