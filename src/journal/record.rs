//! What a run record says about the run before any host is touched: who ran
//! what, from where, on which commit of the project, in which CI job.
//!
//! Everything here is gathered on the controller; nothing connects to a host.

use std::path::Path;
use std::process::Command;

use serde_json::{Value as Json, json};

/// The command being recorded, as the dispatcher describes it.
#[derive(Debug, Clone, Default)]
pub struct CommandInfo {
    /// The subcommand: `run`, `provision`, `deploy`, `ping`...
    pub name: String,
    /// The playbook (for `run`).
    pub playbook: Option<String>,
    pub env: Option<String>,
    pub inventory: Option<String>,
    pub limit: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub check: bool,
}

/// The first line of a run file (`"type": "run"`).
pub fn header(id: &str, start_ms: u64, cmd: &CommandInfo, project: Option<&Path>) -> Json {
    let argv: Vec<String> = std::env::args().collect();
    let argv = mask_extra_vars(&argv);
    // two git processes, side by side: the run waits for the slower one only
    let (user, project_json) = std::thread::scope(|s| {
        let u = s.spawn(|| user(project));
        let p = project.map(project_git);
        (u.join().unwrap_or(Json::Null), p)
    });
    json!({
        "type": "run",
        "id": id,
        "start": super::time::iso(start_ms),
        "opsctl": env!("CARGO_PKG_VERSION"),
        "command": cmd.name,
        "argv": argv,
        "command_line": shell_line(&argv),
        "playbook": cmd.playbook,
        "env": cmd.env,
        "inventory": cmd.inventory,
        "limit": cmd.limit,
        "tags": cmd.tags,
        "skip_tags": cmd.skip_tags,
        "check": cmd.check,
        "cwd": std::env::current_dir().ok().map(|p| p.display().to_string()),
        "user": user,
        "controller": controller_hostname(),
        "ci": ci(),
        "project": project_json,
    })
}

/// Words that make an extra variable's value a secret in the recorded command
/// line, whether or not the secrets registry knows it (`-e db_password=...`).
const SECRET_WORDS: &[&str] = &[
    "pass",
    "secret",
    "token",
    "key",
    "credential",
    "private",
    "auth",
];

fn secret_name(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| k.contains(w))
}

/// The command line with the values of secret-looking `-e` variables masked.
pub fn mask_extra_vars(argv: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut next_is_vars = false;
    for a in argv {
        if next_is_vars {
            out.push(mask_vars_arg(a));
            next_is_vars = false;
            continue;
        }
        if a == "-e" || a == "--extra-vars" {
            next_is_vars = true;
            out.push(a.clone());
        } else if let Some(v) = a.strip_prefix("--extra-vars=") {
            out.push(format!("--extra-vars={}", mask_vars_arg(v)));
        } else if let Some(v) = a
            .strip_prefix("-e")
            .filter(|v| !v.is_empty() && !a.starts_with("--"))
        {
            out.push(format!("-e{}", mask_vars_arg(v)));
        } else {
            out.push(a.clone());
        }
    }
    out
}

fn mask_vars_arg(v: &str) -> String {
    let t = v.trim_start();
    if t.starts_with('@') {
        return v.to_string();
    }
    if t.starts_with('{') {
        return match serde_json::from_str::<Json>(t) {
            Ok(j) => mask_json(j).to_string(),
            Err(_) => crate::redact::MASK.to_string(),
        };
    }
    let Some(words) = shlex::split(v) else {
        return crate::redact::MASK.to_string();
    };
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, _)) if secret_name(k) => format!("{k}={}", crate::redact::MASK),
            _ => w.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn mask_json(v: Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = if secret_name(&k) {
                        json!(crate::redact::MASK)
                    } else {
                        mask_json(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.into_iter().map(mask_json).collect()),
        other => other,
    }
}

/// The words joined as a shell would need them.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .enumerate()
        .map(|(i, a)| {
            // argv[0] as `opsctl`, not the full path of the binary.
            let a = if i == 0 {
                Path::new(a)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| a.clone())
            } else {
                a.clone()
            };
            let safe = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
            if safe {
                a
            } else {
                shlex::try_quote(&a).map(|q| q.into_owned()).unwrap_or(a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// The local user, and git's idea of who they are (`user.name`, `user.email`:
/// the last value of each, as `git config NAME` reads it, in one `git`).
fn user(project: Option<&Path>) -> Json {
    let dir = project
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| "/".into());
    let (mut name, mut email) = (None, None);
    let config = git(&dir, &["config", "--get-regexp", r"^user\.(name|email)$"]);
    for l in config.as_deref().unwrap_or("").lines() {
        let (k, v) = l.split_once(' ').unwrap_or((l, ""));
        let v = (!v.is_empty()).then(|| v.to_string());
        match k {
            "user.name" => name = v,
            "user.email" => email = v,
            _ => {}
        }
    }
    json!({
        "local": local_user(),
        "uid": rustix::process::getuid().as_raw(),
        "git_name": name,
        "git_email": email,
    })
}

/// The login name: $USER or $LOGNAME, else the name /etc/passwd gives the uid.
pub fn local_user() -> String {
    if let Some(u) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    {
        return u;
    }
    let uid = rustix::process::getuid().as_raw();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("uid{uid}"))
}

pub fn controller_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
}

/// The project repository's commit, branch and whether it has uncommitted
/// changes (tracked or untracked, .gitignore'd files aside).
fn project_git(root: &Path) -> Json {
    // the commit, the branch and whether anything changed, in one `git status`
    let status = git(root, &["status", "--porcelain=v2", "--branch"]);
    let field = |k: &str| {
        status
            .as_deref()?
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(str::to_string)
    };
    let Some(commit) = field("# branch.oid ").filter(|c| c != "(initial)") else {
        return json!({"root": root.display().to_string(), "git": false});
    };
    let branch = field("# branch.head ").filter(|b| b != "(detached)");
    let dirty = status
        .as_deref()
        .map(|s| s.lines().any(|l| !l.starts_with('#')));
    json!({
        "root": root.display().to_string(),
        "git": true,
        "commit": commit,
        "branch": branch,
        "dirty": dirty,
    })
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn truthy(name: &str) -> bool {
    var(name).is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no"))
}

/// The CI job this run is part of: GitLab CI, GitHub Actions, or a generic CI
/// (`CI=true` with Jenkins-style `BUILD_URL`/`BUILD_ID`). `null` outside CI.
pub fn ci() -> Json {
    if truthy("GITLAB_CI") {
        return json!({
            "provider": "gitlab",
            "job_url": var("CI_JOB_URL"),
            "job_id": var("CI_JOB_ID"),
            "job_name": var("CI_JOB_NAME"),
            "pipeline_url": var("CI_PIPELINE_URL"),
            "pipeline_id": var("CI_PIPELINE_ID"),
            "project": var("CI_PROJECT_PATH"),
            "commit": var("CI_COMMIT_SHA"),
            "ref": var("CI_COMMIT_REF_NAME"),
            "triggered_by": var("GITLAB_USER_LOGIN"),
        });
    }
    if truthy("GITHUB_ACTIONS") {
        let url = match (
            var("GITHUB_SERVER_URL"),
            var("GITHUB_REPOSITORY"),
            var("GITHUB_RUN_ID"),
        ) {
            (Some(s), Some(r), Some(id)) => Some(match var("GITHUB_RUN_ATTEMPT") {
                Some(a) => format!("{s}/{r}/actions/runs/{id}/attempts/{a}"),
                None => format!("{s}/{r}/actions/runs/{id}"),
            }),
            _ => None,
        };
        return json!({
            "provider": "github",
            "job_url": url,
            "job_id": var("GITHUB_RUN_ID"),
            "job_name": var("GITHUB_JOB"),
            "workflow": var("GITHUB_WORKFLOW"),
            "project": var("GITHUB_REPOSITORY"),
            "commit": var("GITHUB_SHA"),
            "ref": var("GITHUB_REF_NAME"),
            "triggered_by": var("GITHUB_ACTOR"),
        });
    }
    if crate::printer::in_ci() || var("BUILD_URL").is_some() {
        return json!({
            "provider": var("CI_NAME").unwrap_or_else(|| "generic".into()),
            "job_url": var("BUILD_URL").or_else(|| var("CI_JOB_URL")),
            "job_id": var("BUILD_ID").or_else(|| var("CI_JOB_ID")).or_else(|| var("BUILD_NUMBER")),
            "job_name": var("JOB_NAME").or_else(|| var("CI_JOB_NAME")),
            "commit": var("GIT_COMMIT").or_else(|| var("CI_COMMIT_SHA")),
        });
    }
    Json::Null
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `git config` for the user (the last value of each name), one
    /// `git status` for the project: what the five commands before said.
    #[test]
    fn git_facts_of_the_user_and_the_project() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let g = |args: &[&str]| {
            let o = Command::new("git")
                .arg("-C")
                .arg(d)
                .args(args)
                .output()
                .unwrap();
            assert!(o.status.success(), "{args:?} {o:?}");
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        g(&["init", "-q", "-b", "main"]);
        assert_eq!(project_git(d)["git"], false, "no commit yet");
        g(&["config", "user.name", "First"]);
        g(&["config", "--add", "user.name", "Ada Lovelace"]);
        g(&["config", "user.email", "ada@example.test"]);
        let u = user(Some(d));
        assert_eq!(
            (u["git_name"].as_str(), u["git_email"].as_str()),
            (Some("Ada Lovelace"), Some("ada@example.test"))
        );
        std::fs::write(d.join("f"), "1").unwrap();
        g(&["add", "f"]);
        g(&["commit", "-q", "-m", "one"]);
        let p = project_git(d);
        let head = g(&["rev-parse", "HEAD"]);
        assert_eq!(
            (
                p["git"].as_bool(),
                p["commit"].as_str(),
                p["branch"].as_str(),
                p["dirty"].as_bool()
            ),
            (Some(true), Some(head.as_str()), Some("main"), Some(false))
        );
        std::fs::write(d.join("untracked"), "").unwrap();
        assert_eq!(project_git(d)["dirty"], true);
        g(&["checkout", "-q", "--detach"]);
        assert!(project_git(d)["branch"].is_null());
        let none = tempfile::tempdir().unwrap();
        assert_eq!(project_git(none.path())["git"], false);
    }

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn secret_looking_extra_vars_are_masked() {
        let out = mask_extra_vars(&v(&[
            "opsctl",
            "run",
            "site",
            "-e",
            "db_password=hunter22 port=5432",
            "--extra-vars={\"api_token\": \"t0k3n\", \"n\": 1}",
            "-eAPP_KEY=abcd",
            "-e",
            "@vars.yml",
        ]));
        assert_eq!(out[4], "db_password=******** port=5432");
        assert_eq!(out[5], "--extra-vars={\"api_token\":\"********\",\"n\":1}");
        assert_eq!(out[6], "-eAPP_KEY=********");
        assert_eq!(out[8], "@vars.yml");
        assert!(!out.join(" ").contains("hunter22"));
    }

    #[test]
    fn command_line_is_quoted_like_a_shell() {
        assert_eq!(
            shell_line(&v(&[
                "/usr/local/bin/opsctl",
                "run",
                "site",
                "-l",
                "web:!web3"
            ])),
            "opsctl run site -l 'web:!web3'"
        );
    }
}
