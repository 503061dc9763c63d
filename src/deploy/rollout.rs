//! The pure parts of a deploy to more than one host (docs/deploy.md): the order
//! in which the hosts switch (the canary batch, then `deploy_serial`'s batches),
//! when failures stop the rollout (`deploy_max_fail_percentage`), the hooks of
//! `deploy_hooks`, and the webhook's message. [`super::hooks`] runs the hooks and
//! sends the message; `commands/deploy.rs` drives the phases.

use serde_json::{Value as Json, json};

/// One size of `deploy_serial`: a number of hosts or a percentage of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Size {
    Hosts(usize),
    Percent(f64),
}

/// `deploy_serial` as Ansible's `serial`: a number, a percentage (`"30%"`) or a
/// list of them (`[1, "50%"]`, the last one repeating). Unset (null): every
/// host at once.
pub fn parse_serial(v: &Json) -> Result<Vec<Size>, String> {
    let bad = |v: &Json| {
        format!(
            "deploy_serial: {v} is not a number of hosts, a percentage (\"30%\") or a list of them"
        )
    };
    let one = |v: &Json| -> Result<Size, String> {
        match v {
            Json::Number(n) => n
                .as_u64()
                .filter(|n| *n > 0)
                .map(|n| Size::Hosts(n as usize))
                .ok_or_else(|| bad(v)),
            Json::String(s) => {
                let s = s.trim();
                if let Some(p) = s.strip_suffix('%') {
                    p.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|p| *p > 0.0 && *p <= 100.0)
                        .map(Size::Percent)
                        .ok_or_else(|| bad(v))
                } else {
                    s.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .map(Size::Hosts)
                        .ok_or_else(|| bad(v))
                }
            }
            _ => Err(bad(v)),
        }
    };
    match v {
        Json::Null => Ok(vec![Size::Percent(100.0)]),
        Json::String(s) if s.trim().is_empty() => Ok(vec![Size::Percent(100.0)]),
        Json::Array(a) if a.is_empty() => Err(bad(v)),
        Json::Array(a) => a.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// The batches in which the hosts (indices `0..n`) switch: the canary hosts
/// first, as one batch, then the others in inventory order in batches of
/// `serial`'s sizes (a percentage is of all `n` hosts, at least one host).
pub fn batches(n: usize, canary: &[usize], serial: &[Size]) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut canary: Vec<usize> = canary.iter().copied().filter(|i| *i < n).collect();
    canary.sort_unstable();
    canary.dedup();
    if !canary.is_empty() {
        out.push(canary.clone());
    }
    let rest: Vec<usize> = (0..n).filter(|i| !canary.contains(i)).collect();
    let sizes = if serial.is_empty() {
        &[Size::Percent(100.0)][..]
    } else {
        serial
    };
    let (mut at, mut k) = (0, 0);
    while at < rest.len() {
        let size = match sizes[k.min(sizes.len() - 1)] {
            Size::Hosts(h) => h,
            Size::Percent(p) => ((n as f64) * p / 100.0).floor() as usize,
        }
        .max(1);
        out.push(rest[at..(at + size).min(rest.len())].to_vec());
        at += size;
        k += 1;
    }
    out
}

/// `deploy_max_fail_percentage`: a number from 0 to 100 (default 0: any failure
/// stops the rollout).
pub fn parse_max_fail(v: &Json) -> Result<f64, String> {
    let n = match v {
        Json::Null => return Ok(0.0),
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
        _ => None,
    };
    n.filter(|n| (0.0..=100.0).contains(n))
        .ok_or_else(|| format!("deploy_max_fail_percentage: {v} is not a percentage from 0 to 100"))
}

/// Does a batch with `failed` of `size` hosts failed stop the rollout? As
/// Ansible's `max_fail_percentage`: when more than `max` percent failed. The
/// canary batch stops it on any failure.
pub fn stops(failed: usize, size: usize, max: f64, canary: bool) -> bool {
    failed > 0 && (canary || size == 0 || (failed as f64) * 100.0 / (size as f64) > max)
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// After the lock, before anything is built: a failure stops the deploy.
    Before,
    /// After every host switched and the release was logged ok.
    After,
    /// After a deploy failed (whatever was switched already went back).
    Failed,
}

impl When {
    pub fn as_str(self) -> &'static str {
        match self {
            When::Before => "before",
            When::After => "after",
            When::Failed => "failed",
        }
    }
}

/// Where a hook's command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// On this machine, in the project's root (`local: CMD`).
    Local,
    /// On every web host of the deploy, or the first one with `run_once`
    /// (`remote: CMD`); as root with `become`.
    Remote { run_once: bool, as_root: bool },
}

/// One entry of `deploy_hooks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub when: When,
    pub place: Place,
    pub command: String,
}

/// `deploy_hooks`: a mapping of `before`, `after` and `failed`, each a list of
/// `{local: CMD}` or `{remote: CMD, run_once: BOOL, become: BOOL}`. Unknown
/// keys are errors.
pub fn parse_hooks(v: &Json) -> Result<Vec<Hook>, String> {
    let map = match v {
        Json::Null => return Ok(Vec::new()),
        Json::Object(m) => m,
        other => {
            return Err(format!(
                "deploy_hooks must be a mapping of before, after and failed, found {other}"
            ));
        }
    };
    let mut hooks = Vec::new();
    for (key, list) in map {
        let when = match key.as_str() {
            "before" => When::Before,
            "after" => When::After,
            "failed" => When::Failed,
            other => {
                return Err(format!(
                    "deploy_hooks: unknown key '{other}' (before, after or failed)"
                ));
            }
        };
        let entries = match list {
            Json::Null => continue,
            Json::Array(a) => a,
            other => return Err(format!("deploy_hooks.{key} must be a list, found {other}")),
        };
        for (n, e) in entries.iter().enumerate() {
            let at = format!("deploy_hooks.{key}[{n}]");
            let Json::Object(m) = e else {
                return Err(format!(
                    "{at} must be a mapping with local: CMD or remote: CMD, found {e}"
                ));
            };
            for k in m.keys() {
                if !["local", "remote", "run_once", "become"].contains(&k.as_str()) {
                    return Err(format!(
                        "{at}: unknown key '{k}' (local, remote, run_once, become)"
                    ));
                }
            }
            let flag = |k: &str| -> Result<bool, String> {
                match m.get(k) {
                    None | Some(Json::Null) => Ok(false),
                    Some(Json::Bool(b)) => Ok(*b),
                    Some(other) => Err(format!("{at}: {k} must be true or false, found {other}")),
                }
            };
            let text = |v: &Json| -> Result<String, String> {
                match v {
                    Json::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                    other => Err(format!(
                        "{at}: the command must be a non-empty string, found {other}"
                    )),
                }
            };
            let (place, command) = match (m.get("local"), m.get("remote")) {
                (Some(c), None) => {
                    if m.contains_key("run_once") || m.contains_key("become") {
                        return Err(format!(
                            "{at}: run_once and become are for remote hooks (a local one runs once, as you)"
                        ));
                    }
                    (Place::Local, text(c)?)
                }
                (None, Some(c)) => (
                    Place::Remote {
                        run_once: flag("run_once")?,
                        as_root: flag("become")?,
                    },
                    text(c)?,
                ),
                _ => {
                    return Err(format!(
                        "{at}: give exactly one of local: CMD and remote: CMD"
                    ));
                }
            };
            hooks.push(Hook {
                when,
                place,
                command,
            });
        }
    }
    Ok(hooks)
}

/// What a deploy or rollback tells the environment's variables and webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// `deploy` or `rollback`.
    pub action: String,
    pub env: String,
    pub release: String,
    pub commit: String,
    pub git_ref: String,
    pub user: String,
    /// `ok`, `failed`, `rolled back`...
    pub result: String,
    /// The hosts now serving the release.
    pub hosts: Vec<String>,
    /// The hosts switched back to what they served before, and those that failed.
    pub switched_back: Vec<String>,
    pub failed: Vec<String>,
    /// One line on what happened (the failure's reason).
    pub detail: String,
}

impl Event {
    /// The environment of a hook: `OPSCTL_RELEASE`, `OPSCTL_COMMIT`, `OPSCTL_REF`,
    /// `OPSCTL_ENV`, `OPSCTL_USER`, `OPSCTL_HOSTS` (space-separated), and
    /// `OPSCTL_RESULT` (empty before).
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OPSCTL_ACTION", self.action.clone()),
            ("OPSCTL_RELEASE", self.release.clone()),
            ("OPSCTL_COMMIT", self.commit.clone()),
            ("OPSCTL_REF", self.git_ref.clone()),
            ("OPSCTL_ENV", self.env.clone()),
            ("OPSCTL_USER", self.user.clone()),
            ("OPSCTL_HOSTS", self.hosts.join(" ")),
            ("OPSCTL_RESULT", self.result.clone()),
        ]
    }

    /// The webhook's JSON: Slack-compatible (`text`), with the same facts as
    /// fields of their own for other receivers.
    pub fn webhook(&self) -> Json {
        let short: String = self.commit.chars().take(super::SHORT_SHA).collect();
        let mut text = format!(
            "{} of {} ({short}) as release {} to {} by {}: {}",
            self.action,
            self.git_ref,
            self.release,
            if self.env.is_empty() {
                "the hosts"
            } else {
                &self.env
            },
            self.user,
            self.result
        );
        if !self.hosts.is_empty() {
            text.push_str(&format!("; live on {}", self.hosts.join(", ")));
        }
        if !self.switched_back.is_empty() {
            text.push_str(&format!(
                "; switched back on {}",
                self.switched_back.join(", ")
            ));
        }
        if !self.detail.is_empty() {
            text.push_str(&format!("; {}", self.detail));
        }
        json!({
            "text": text,
            "action": self.action,
            "environment": self.env,
            "release": self.release,
            "commit": self.commit,
            "ref": self.git_ref,
            "user": self.user,
            "result": self.result,
            "hosts": self.hosts,
            "switched_back": self.switched_back,
            "failed": self.failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_as_ansible() {
        assert_eq!(
            parse_serial(&Json::Null).unwrap(),
            vec![Size::Percent(100.0)]
        );
        assert_eq!(parse_serial(&json!(2)).unwrap(), vec![Size::Hosts(2)]);
        assert_eq!(parse_serial(&json!("3")).unwrap(), vec![Size::Hosts(3)]);
        assert_eq!(
            parse_serial(&json!([1, "50%"])).unwrap(),
            vec![Size::Hosts(1), Size::Percent(50.0)]
        );
        for bad in [
            json!(0),
            json!("0%"),
            json!("x"),
            json!([]),
            json!({"a": 1}),
            json!(-1),
        ] {
            assert!(parse_serial(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_canary_first_then_the_batches() {
        // No canary, all at once.
        assert_eq!(
            batches(3, &[], &[Size::Percent(100.0)]),
            vec![vec![0, 1, 2]]
        );
        // The first host as canary, then the rest at once.
        assert_eq!(
            batches(3, &[0], &[Size::Percent(100.0)]),
            vec![vec![0], vec![1, 2]]
        );
        // Canaries from the middle; serial 1.
        assert_eq!(
            batches(4, &[2, 1], &[Size::Hosts(1)]),
            vec![vec![1, 2], vec![0], vec![3]]
        );
        // [1, 50%] of 5 hosts: 1, then 2 (50% of 5, floored), repeating.
        assert_eq!(
            batches(5, &[], &[Size::Hosts(1), Size::Percent(50.0)]),
            vec![vec![0], vec![1, 2], vec![3, 4]]
        );
        // A tiny percentage is still one host; out-of-range canaries are ignored.
        assert_eq!(
            batches(2, &[7], &[Size::Percent(1.0)]),
            vec![vec![0], vec![1]]
        );
        // Every host a canary.
        assert_eq!(batches(2, &[0, 1], &[Size::Hosts(1)]), vec![vec![0, 1]]);
    }

    #[test]
    fn failures_stop_the_rollout_over_the_limit() {
        assert_eq!(parse_max_fail(&Json::Null).unwrap(), 0.0);
        assert_eq!(parse_max_fail(&json!("25%")).unwrap(), 25.0);
        assert!(parse_max_fail(&json!(101)).is_err());
        assert!(parse_max_fail(&json!("many")).is_err());
        assert!(!stops(0, 3, 0.0, true));
        assert!(stops(1, 4, 0.0, false));
        assert!(!stops(1, 4, 25.0, false));
        assert!(stops(2, 4, 25.0, false));
        // The canary: any failure.
        assert!(stops(1, 4, 50.0, true));
    }

    #[test]
    fn hooks_are_checked() {
        let hooks = parse_hooks(&json!({
            "before": [{"local": "make check"}, {"remote": "df -h /", "run_once": true}],
            "failed": [{"remote": "logger x", "become": true}],
        }))
        .unwrap();
        assert_eq!(hooks.len(), 3);
        assert_eq!(hooks[0].place, Place::Local);
        assert_eq!(
            hooks[1].place,
            Place::Remote {
                run_once: true,
                as_root: false
            }
        );
        assert_eq!(hooks[2].when, When::Failed);
        for (bad, says) in [
            (json!({"during": []}), "unknown key 'during'"),
            (
                json!({"before": [{"local": "a", "remote": "b"}]}),
                "exactly one",
            ),
            (
                json!({"before": [{"local": "a", "run_once": true}]}),
                "remote hooks",
            ),
            (
                json!({"before": [{"remote": "a", "tags": 1}]}),
                "unknown key 'tags'",
            ),
            (json!({"after": [{"local": ""}]}), "non-empty"),
            (json!({"after": "x"}), "must be a list"),
            (json!(["x"]), "must be a mapping"),
        ] {
            let e = parse_hooks(&bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_webhook_message() {
        let e = Event {
            action: "deploy".into(),
            env: "staging".into(),
            release: "20260101000000-0123456".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            git_ref: "main".into(),
            user: "ann@laptop".into(),
            result: "failed".into(),
            hosts: vec![],
            switched_back: vec!["web1".into()],
            failed: vec!["web2".into()],
            detail: "web2 failed at step health".into(),
        };
        let j = e.webhook();
        let text = j["text"].as_str().unwrap();
        assert_eq!(
            text,
            "deploy of main (0123456) as release 20260101000000-0123456 to staging by ann@laptop: failed; switched back on web1; web2 failed at step health"
        );
        assert_eq!(j["failed"], json!(["web2"]));
        assert_eq!(j["commit"], json!(e.commit));
        let vars = e.vars();
        assert!(vars.contains(&("OPSCTL_REF", "main".to_string())));
    }
}
