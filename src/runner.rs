//! Running work on many hosts: one connection per host for the whole command,
//! at most `forks` hosts at a time, results in inventory order, and every master
//! closed at the end, on error and on Ctrl-C.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value as Json;
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::transport::{
    BecomePassword, Connection, ConnectionKind, ConnectionSpec, HostKeyChecking, TransportError,
};
use crate::vars::{Vars, VarsError};

/// A host's connection, opened at most once (or the error that prevented it).
type Slot = Arc<tokio::sync::OnceCell<Result<Arc<Connection>, TransportError>>>;

/// One connection per host and login user, opened on first use and shared by
/// every task of the command (a task with its own `remote_user` gets a
/// connection of its own, kept for the next task as that user). Concurrent
/// first uses of the same host and user wait for one connect.
#[derive(Default)]
pub struct Connections {
    /// By (host, login user: `None` for ssh's own choice).
    slots: Mutex<HashMap<(String, Option<String>), Slot>>,
}

impl Connections {
    pub fn new() -> Arc<Connections> {
        Arc::new(Connections::default())
    }

    pub async fn get(&self, spec: &ConnectionSpec) -> Result<Arc<Connection>, TransportError> {
        let cell = self
            .slots
            .lock()
            .unwrap()
            .entry((spec.host.clone(), spec.user.clone()))
            .or_default()
            .clone();
        cell.get_or_init(|| async { Connection::open(spec).await.map(Arc::new) })
            .await
            .clone()
    }

    /// Closes a host's connections, whatever their user (`meta:
    /// reset_connection`): the next `get` opens a new one, logging in again.
    pub async fn reset(&self, host: &str) {
        let cells: Vec<Slot> = {
            let mut slots = self.slots.lock().unwrap();
            let keys: Vec<_> = slots.keys().filter(|(h, _)| h == host).cloned().collect();
            keys.iter().filter_map(|k| slots.remove(k)).collect()
        };
        for cell in cells {
            if let Some(Ok(conn)) = cell.get() {
                conn.close().await;
            }
        }
    }

    /// Closes every open connection, in parallel, even those a stopped task still
    /// holds (on Ctrl-C): their commands then fail as disconnected.
    pub async fn close_all(&self) {
        let cells: Vec<_> = self.slots.lock().unwrap().drain().map(|(_, c)| c).collect();
        let mut closing = tokio::task::JoinSet::new();
        for cell in cells {
            if let Some(Ok(conn)) = cell.get() {
                let conn = conn.clone();
                closing.spawn(async move { conn.close().await });
            }
        }
        while closing.join_next().await.is_some() {}
    }
}

/// Runs `work` for every item with at most `forks` running at once, and calls
/// `report` with each result in the items' order, as soon as all earlier items are
/// done (so output streams in inventory order and a dead host delays only the
/// lines after it). The one fan-out of opsctl: commands over hosts and the
/// engine's hosts of a play. The work may borrow (nothing is spawned: the
/// futures run concurrently in the caller's task, waiting on their hosts).
pub async fn fan_out<I, T, F, Fut>(
    items: Vec<I>,
    forks: usize,
    work: F,
    mut report: impl FnMut(usize, T),
) -> Vec<T>
where
    T: Clone,
    F: Fn(I) -> Fut,
    Fut: Future<Output = T>,
{
    let n = items.len();
    let limit = Semaphore::new(forks.max(1));
    let mut running: FuturesUnordered<_> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let (limit, fut) = (&limit, work(item));
            async move {
                let _permit = limit.acquire().await.expect("semaphore is never closed");
                (i, fut.await)
            }
        })
        .collect();
    let mut slots: Vec<Option<T>> = vec![None; n];
    let mut next = 0;
    while let Some((i, out)) = running.next().await {
        slots[i] = Some(out);
        while next < n {
            match &slots[next] {
                Some(v) => {
                    report(next, v.clone());
                    next += 1;
                }
                None => break,
            }
        }
    }
    slots
        .into_iter()
        .map(|s| s.expect("every item reports once"))
        .collect()
}

/// How to reach a host, from its variables (Ansible's names).
pub fn connection_spec(
    vars: &Arc<Vars>,
    host: &str,
    ssh_config: Option<&Path>,
) -> Result<ConnectionSpec, Error> {
    let get = |name: &str| -> Result<Option<Json>, Error> {
        match vars.resolve(host, name) {
            Ok(v) => Ok(Some(v).filter(|v| !v.is_null())),
            Err(VarsError::Undefined { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    };
    let string = |name: &str| -> Result<Option<String>, Error> {
        Ok(get(name)?.map(|v| match v {
            Json::String(s) => s,
            other => other.to_string(),
        }))
    };
    let bad = |name: &str, v: &dyn std::fmt::Display, what: &str| {
        Error::new(format!("host {host}: {name} = {v} is not {what}"))
            .hint(format!("`opsctl vars {host} {name}` shows where it is set"))
    };

    let kind = match string("ansible_connection")?.as_deref() {
        None | Some("ssh") | Some("smart") | Some("paramiko") => ConnectionKind::Ssh,
        Some("local") => ConnectionKind::Local,
        Some(other) => {
            return Err(bad(
                "ansible_connection",
                &other,
                "a supported connection (ssh or local)",
            ));
        }
    };
    let port = match get("ansible_port")?.or(get("ansible_ssh_port")?) {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("ansible_port", &v, "a port number"))?,
        ),
    };
    let user = string("ansible_user")?.or(string("ansible_ssh_user")?);
    let private_key_file = string("ansible_ssh_private_key_file")?
        .or(string("ansible_private_key_file")?)
        .map(|p| expand_tilde(&p));
    let mut extra_args = Vec::new();
    for name in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(a) = string(name)? {
            extra_args.extend(
                shlex::split(&a)
                    .ok_or_else(|| bad(name, &a, "valid shell words (unbalanced quotes)"))?,
            );
        }
    }
    let host_key_checking =
        match get("ansible_host_key_checking")?.or(get("ansible_ssh_host_key_checking")?) {
            // Strict unless the environment's own ssh_config decides: a global
            // `StrictHostKeyChecking no` in ~/.ssh/config must not weaken a deploy.
            None if ssh_config.is_some_and(sets_host_key_checking) => HostKeyChecking::Default,
            None => HostKeyChecking::Strict,
            Some(Json::Bool(true)) => HostKeyChecking::Strict,
            Some(Json::Bool(false)) => HostKeyChecking::Off,
            Some(Json::String(s)) => match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "strict" => HostKeyChecking::Strict,
                "accept-new" => HostKeyChecking::AcceptNew,
                "no" | "false" | "off" => HostKeyChecking::Off,
                _ => {
                    return Err(bad(
                        "ansible_host_key_checking",
                        &s,
                        "true, false or accept-new",
                    ));
                }
            },
            Some(v) => {
                return Err(bad(
                    "ansible_host_key_checking",
                    &v,
                    "true, false or accept-new",
                ));
            }
        };
    let timeout = match get("ansible_ssh_timeout")?.or(get("ansible_timeout")?) {
        None => 10,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|t| *t > 0)
            .ok_or_else(|| bad("ansible_ssh_timeout", &v, "a number of seconds"))?,
    };
    let become_on = match get("ansible_become")? {
        None => false,
        Some(v) => as_bool(&v).ok_or_else(|| bad("ansible_become", &v, "a boolean"))?,
    };
    if let Some(m) = string("ansible_become_method")?
        && m != "sudo"
    {
        return Err(bad(
            "ansible_become_method",
            &m,
            "supported (opsctl becomes with sudo)",
        ));
    }
    let become_user = if become_on {
        Some(string("ansible_become_user")?.unwrap_or_else(|| "root".into()))
    } else {
        None
    };
    // Read whether or not this connection becomes: a task or play may.
    let [name, alias] = BECOME_PASSWORD_VARS;
    let become_password = match string(name)? {
        Some(p) => Some(p),
        None => string(alias)?,
    }
    .filter(|p| !p.is_empty())
    .map(|p| {
        // A secret wherever it came from (`-e`, a plain vars file, -K).
        crate::redact::register(&p);
        BecomePassword::new(p)
    });
    Ok(ConnectionSpec {
        host: host.to_string(),
        kind,
        address: string("ansible_host")?.unwrap_or_else(|| host.to_string()),
        port,
        user,
        private_key_file,
        ssh_config: ssh_config.map(Path::to_path_buf),
        extra_args,
        host_key_checking,
        connect_timeout: Duration::from_secs(timeout),
        become_user,
        become_password,
    })
}

/// The variables that hold a become password (Ansible's name, then its alias):
/// their values are secrets wherever they were set.
pub const BECOME_PASSWORD_VARS: [&str; 2] = ["ansible_become_password", "ansible_become_pass"];

/// Does this ssh_config file choose a host key policy itself?
fn sets_host_key_checking(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| {
        text.lines().any(|l| {
            l.trim_start()
                .to_ascii_lowercase()
                .starts_with("stricthostkeychecking")
        })
    })
}

/// Ansible's boolean(): true/yes/on/1 and false/no/off/0, any case.
pub fn as_bool(v: &Json) -> Option<bool> {
    match v {
        Json::Bool(b) => Some(*b),
        Json::Number(n) => n.as_i64().map(|i| i != 0),
        Json::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "y" | "t" => Some(true),
            "false" | "no" | "off" | "0" | "n" | "f" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn expand_tilde(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn reports_in_order_and_respects_forks() {
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (r, p) = (running.clone(), peak.clone());
        let mut order = Vec::new();
        let out = fan_out(
            vec![30u64, 5, 20, 1, 10, 1],
            2,
            move |ms| {
                let (r, p) = (r.clone(), p.clone());
                async move {
                    let now = r.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    p.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    r.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    ms * 2
                }
            },
            |i, v| order.push((i, v)),
        )
        .await;
        assert_eq!(out, vec![60, 10, 40, 2, 20, 2]);
        assert_eq!(
            order.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4, 5]
        );
        assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 2);
    }
}
