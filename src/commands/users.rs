//! `opsctl users add|remove|list --env E`: people's SSH access, recorded in the
//! environment's `group_vars/all/users.yml` (reviewed in git like everything
//! else) and applied by `opsctl provision` (roles/users). `add` fetches the keys
//! on this machine (a GitHub login's `https://github.com/LOGIN.keys`, any URL, or
//! a file), checks every line and shows each key's fingerprint as `ssh-keygen
//! -lf` does; running it again updates the keys and says what changed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::error::{Error, Exit, Result};
use crate::location::display_path;
use crate::printer::Printer;
use crate::project::{Environment, Project};
use crate::team::{
    PublicKey, TeamUser, USERS_FILE, check_user_name, parse_key, parse_keys, read_users,
    render_users,
};

/// Where `users add` reads the keys from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A GitHub login: `https://github.com/LOGIN.keys`.
    Github(String),
    Url(String),
    File(PathBuf),
}

/// `opsctl users ...`.
#[derive(Debug, Clone)]
pub enum UsersRequest {
    Add {
        env: Option<String>,
        name: String,
        keys: KeySource,
        sudo: bool,
    },
    Remove {
        env: Option<String>,
        name: String,
    },
    List {
        env: Option<String>,
    },
}

pub fn run(project: Option<PathBuf>, request: UsersRequest, printer: &Printer) -> Result<Exit> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
    let project = Project::discover(project.as_deref(), &cwd)
        .map_err(|e| Error::new(e.to_string()).maybe_hint(e.hint()))?;
    let env_of = |env: Option<String>| -> Result<Environment> {
        let Some(env) = env else {
            return Err(Error::new("choose the environment: --env ENV")
                .hint("or set OPSCTL_ENV to choose a default environment"));
        };
        project
            .environment(&env)
            .map_err(|e| Error::new(e.to_string()).maybe_hint(e.hint()))
    };
    match request {
        UsersRequest::Add {
            env,
            name,
            keys,
            sudo,
        } => add(&env_of(env)?, &name, &keys, sudo, printer),
        UsersRequest::Remove { env, name } => remove(&env_of(env)?, &name, printer),
        UsersRequest::List { env } => list(&env_of(env)?, printer),
    }
}

fn users_path(env: &Environment) -> PathBuf {
    env.dir.join(USERS_FILE)
}

fn load(path: &Path) -> Result<Vec<TeamUser>> {
    read_users(path).map_err(|e| {
        Error::new(e.to_string()).hint("fix the file by hand, or `git checkout` it, then run again")
    })
}

fn save(path: &Path, users: &[TeamUser]) -> Result<()> {
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
        let tmp = path.with_extension("yml.tmp");
        std::fs::write(&tmp, render_users(users))?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| Error::new(format!("cannot write {}: {e}", display_path(path))))
}

/// The keys text and what to call it in messages.
fn fetch(source: &KeySource) -> Result<(String, String)> {
    let url = match source {
        KeySource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::new(format!("cannot read {}: {e}", display_path(path)))
                    .hint("--key takes a public key file, such as ~/.ssh/id_ed25519.pub")
            })?;
            return Ok((text, display_path(path)));
        }
        KeySource::Github(login) => {
            let ok = !login.is_empty()
                && login.len() <= 39
                && !login.starts_with('-')
                && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(
                    Error::new(format!("--github {login}: not a GitHub login")).hint(
                        "a login is letters, digits and '-' (the name in https://github.com/LOGIN)",
                    ),
                );
            }
            format!("https://github.com/{login}.keys")
        }
        KeySource::Url(url) => url.clone(),
    };
    if !crate::http::is_http_url(&url) {
        return Err(Error::new(format!("--key-url {url}: not an http(s) URL"))
            .hint("give the URL of a text file of public keys, one per line"));
    }
    let agent = crate::http::agent(Duration::from_secs(20));
    let failed = |why: String| {
        Error::new(format!("cannot fetch the keys from {url}: {why}")).hint(
            "check the URL (and this machine's network), or give the key file with --key FILE",
        )
    };
    let mut response = agent.get(&url).call().map_err(|e| match e {
        ureq::Error::StatusCode(404) if matches!(source, KeySource::Github(_)) => {
            failed("HTTP 404: no such GitHub account".into())
        }
        ureq::Error::StatusCode(code) => failed(format!("HTTP {code}")),
        other => failed(other.to_string()),
    })?;
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| failed(e.to_string()))?;
    Ok((text, url))
}

fn source_name(source: &KeySource) -> String {
    match source {
        KeySource::Github(login) => format!("github:{login}"),
        KeySource::Url(url) => url.clone(),
        KeySource::File(path) => display_path(path),
    }
}

fn add(
    env: &Environment,
    name: &str,
    source: &KeySource,
    sudo: bool,
    printer: &Printer,
) -> Result<Exit> {
    check_user_name(name).map_err(|e| {
        Error::new(format!("users add: {e}"))
            .hint("choose the account's login name, such as alice or bob-smith")
    })?;
    let path = users_path(env);
    let mut users = load(&path)?;
    let (text, from) = fetch(source)?;
    let keys = parse_keys(&text).map_err(|(line, why)| {
        Error::new(format!("{from}:{line}: {why}"))
            .hint("every line must be an OpenSSH public key (`ssh-keygen -y -f KEY` prints one)")
    })?;
    if keys.is_empty() {
        return Err(
            Error::new(format!("{from} holds no public key")).hint(match source {
                KeySource::Github(_) => {
                    "the account has no SSH key on GitHub: ask them to add one, or use --key FILE"
                }
                _ => "give a file or URL with at least one OpenSSH public key line",
            }),
        );
    }
    let new = TeamUser {
        name: name.to_string(),
        present: true,
        sudo,
        source: source_name(source),
        keys: keys.iter().map(|k| k.line.clone()).collect(),
    };
    let old = users.iter().position(|u| u.name == name);
    let changes = match old {
        None => vec!["new user".to_string()],
        Some(i) => describe_changes(&users[i], &new),
    };
    let shown = display_path(&path);
    if printer.is_json() {
        printer.json(&json!({"user": name, "file": shown, "sudo": sudo,
            "keys": keys.iter().map(key_json).collect::<Vec<_>>(), "changes": changes}));
    } else {
        printer.result(&format!(
            "{name}: {} key{} from {from}",
            keys.len(),
            if keys.len() == 1 { "" } else { "s" }
        ));
        for k in &keys {
            printer.result(&format!("  {}", k.describe()));
        }
    }
    if changes.is_empty() {
        if !printer.is_json() {
            printer.result(&format!("{name}: unchanged in {shown}"));
        }
        return Ok(Exit::Success);
    }
    match old {
        Some(i) => users[i] = new,
        None => users.push(new),
    }
    save(&path, &users)?;
    if !printer.is_json() {
        printer.result(&format!("{name}: {} in {shown}", changes.join(", ")));
        printer.result(&format!(
            "next: review and commit {shown}, then `opsctl provision --env {}`",
            env.name
        ));
    }
    Ok(Exit::Success)
}

fn key_json(k: &PublicKey) -> serde_json::Value {
    json!({"type": k.kind, "bits": k.bits, "fingerprint": k.fingerprint, "comment": k.comment})
}

fn fingerprints(u: &TeamUser) -> Vec<PublicKey> {
    u.keys.iter().filter_map(|k| parse_key(k).ok()).collect()
}

/// What differs between the recorded user and the new record, in words.
fn describe_changes(old: &TeamUser, new: &TeamUser) -> Vec<String> {
    let mut out = Vec::new();
    if !old.present {
        out.push("restored (was removed)".to_string());
    }
    let (o, n) = (fingerprints(old), fingerprints(new));
    for k in &n {
        if !o.iter().any(|x| x.fingerprint == k.fingerprint) {
            out.push(format!("key added {}", k.fingerprint));
        }
    }
    for k in &o {
        if !n.iter().any(|x| x.fingerprint == k.fingerprint) {
            out.push(format!("key removed {}", k.fingerprint));
        }
    }
    if old.present && o.len() == n.len() && out.is_empty() && old.keys != new.keys {
        out.push("key options or comments updated".to_string());
    }
    if old.sudo != new.sudo {
        out.push(
            if new.sudo {
                "sudo granted"
            } else {
                "sudo revoked"
            }
            .to_string(),
        );
    }
    if old.source != new.source {
        out.push(format!("source now {}", new.source));
    }
    out
}

fn remove(env: &Environment, name: &str, printer: &Printer) -> Result<Exit> {
    let path = users_path(env);
    let shown = display_path(&path);
    let mut users = load(&path)?;
    let Some(u) = users.iter_mut().find(|u| u.name == name) else {
        let known: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        return Err(
            Error::new(format!("users remove: no user '{name}' in {shown}")).hint(
                if known.is_empty() {
                    format!(
                        "environment {} has no users yet (`opsctl users add`)",
                        env.name
                    )
                } else {
                    format!("its users: {}", known.join(", "))
                },
            ),
        );
    };
    if !u.present {
        printer.result(&format!("{name}: already removed in {shown}"));
        return Ok(Exit::Success);
    }
    let dropped = u.keys.len();
    u.present = false;
    u.sudo = false;
    u.keys.clear();
    save(&path, &users)?;
    printer.result(&format!(
        "{name}: removed in {shown} ({dropped} key{} dropped); `opsctl provision --env {}` locks the account and removes its keys and sudo",
        if dropped == 1 { "" } else { "s" },
        env.name
    ));
    Ok(Exit::Success)
}

fn list(env: &Environment, printer: &Printer) -> Result<Exit> {
    let path = users_path(env);
    let users = load(&path)?;
    if printer.is_json() {
        for u in &users {
            printer.json(
                &json!({"user": u.name, "state": if u.present {"present"} else {"absent"},
                "sudo": u.sudo, "source": u.source,
                "keys": fingerprints(u).iter().map(key_json).collect::<Vec<_>>()}),
            );
        }
        return Ok(Exit::Success);
    }
    if users.is_empty() {
        printer.result(&format!(
            "no users in environment {} (`opsctl users add NAME --github LOGIN --env {}`)",
            env.name, env.name
        ));
        return Ok(Exit::Success);
    }
    let mut users = users;
    users.sort_by(|a, b| a.name.cmp(&b.name));
    for u in &users {
        let state = match (u.present, u.sudo) {
            (false, _) => "removed".to_string(),
            (true, true) => "sudo".to_string(),
            (true, false) => "no sudo".to_string(),
        };
        printer.result(&format!(
            "{}  {state}  {} key{}  {}",
            u.name,
            u.keys.len(),
            if u.keys.len() == 1 { "" } else { "s" },
            u.source
        ));
        for k in fingerprints(u) {
            printer.result(&format!("  {}", k.describe()));
        }
    }
    Ok(Exit::Success)
}
