//! service_facts: the host's services as `ansible_facts.services` (name ->
//! {name, state, status, source}), read by one probe: under systemd, the
//! service units (`systemctl list-units` for their state, `list-unit-files`
//! for their status, names with `.service` as Ansible); without systemd, the
//! init scripts of /etc/init.d (their `status` through `service --status-all`,
//! `enabled` when a start link is in /etc/rc[2-5].d).

use serde_json::{Map, Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::{Args, Outcome, Spec};

pub static SERVICE_FACTS: Spec = Spec::new("service_facts", &[]);

/// `service_facts` on the module protocol.
pub struct ServiceFacts;

pub const PROBE: &str = r#"if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
echo @@units; systemctl list-units --no-pager --type service --all --plain --no-legend 2>/dev/null
echo @@files; systemctl list-unit-files --no-pager --type service --no-legend 2>/dev/null
fi
if [ -d /etc/init.d ]; then
echo @@sysv; if command -v service >/dev/null 2>&1; then service --status-all 2>&1; fi
echo @@rc; for l in /etc/rc2.d/S* /etc/rc3.d/S* /etc/rc4.d/S* /etc/rc5.d/S*; do [ -e "$l" ] && echo "${l##*/}"; done
echo @@initd; for s in /etc/init.d/*; do [ -x "$s" ] && [ -f "$s" ] && echo "${s##*/}"; done
fi
exit 0
"#;

fn service(name: &str, state: &str, status: &str, source: &str) -> Json {
    json!({"name": name, "state": state, "status": status, "source": source})
}

/// Parses the probe's output into `services`.
pub fn parse(out: &str) -> Map<String, Json> {
    let mut sec = "";
    let mut units: Vec<(String, String, String)> = Vec::new();
    let mut files: Map<String, Json> = Map::new();
    let mut sysv: Map<String, Json> = Map::new();
    let mut rc: Vec<String> = Vec::new();
    let mut initd: Vec<String> = Vec::new();
    for line in out.lines() {
        if let Some(s) = line.strip_prefix("@@") {
            sec = match s {
                "units" => "units",
                "files" => "files",
                "sysv" => "sysv",
                "rc" => "rc",
                "initd" => "initd",
                _ => "",
            };
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        match sec {
            // `nginx.service loaded active running A high performance web server`
            "units" if w.len() >= 4 => {
                let name = w[0].trim_start_matches('●').to_string();
                units.push((name, w[1].to_string(), w[3].to_string()));
            }
            // `nginx.service enabled enabled`
            "files" if w.len() >= 2 => {
                files.insert(w[0].to_string(), json!(w[1]));
            }
            // ` [ + ]  nginx`
            "sysv" => {
                let t = line.trim();
                if let Some(rest) = t.strip_prefix('[')
                    && let Some((mark, name)) = rest.split_once(']')
                {
                    let state = match mark.trim() {
                        "+" => "running",
                        "-" => "stopped",
                        _ => "unknown",
                    };
                    sysv.insert(name.trim().to_string(), json!(state));
                }
            }
            "rc" if !w.is_empty() => {
                // S01nginx
                let n = w[0].trim_start_matches('S');
                rc.push(
                    n.trim_start_matches(|c: char| c.is_ascii_digit())
                        .to_string(),
                );
            }
            "initd" if !w.is_empty() => initd.push(w[0].to_string()),
            _ => {}
        }
    }
    let mut services = Map::new();
    for (name, load, sub) in &units {
        let state = match sub.as_str() {
            "running" => "running",
            "exited" | "dead" => "stopped",
            "failed" => "failed",
            other => other,
        };
        let status = files
            .get(name)
            .and_then(Json::as_str)
            .unwrap_or(if load == "not-found" {
                "not-found"
            } else {
                "unknown"
            });
        services.insert(name.clone(), service(name, state, status, "systemd"));
    }
    for (name, status) in &files {
        if name.contains('@') || services.contains_key(name) {
            continue;
        }
        let status = status.as_str().unwrap_or("unknown");
        services.insert(name.clone(), service(name, "stopped", status, "systemd"));
    }
    let systemd = !units.is_empty() || !files.is_empty();
    for script in &initd {
        if matches!(
            script.as_str(),
            "rc" | "rcS" | "README" | "skeleton" | "functions"
        ) {
            continue;
        }
        // under systemd, a unit of the same name is the service
        if systemd && services.contains_key(&format!("{script}.service")) {
            continue;
        }
        let state = sysv.get(script).and_then(Json::as_str).unwrap_or("unknown");
        let status = if rc.iter().any(|r| r == script) {
            "enabled"
        } else {
            "disabled"
        };
        services.insert(script.clone(), service(script, state, status, "sysv"));
    }
    services
}

impl Module for ServiceFacts {
    fn needs(&self, _: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(PROBE.to_string())])
    }

    fn decide(&self, _: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let out = facts.probe(PROBE)?;
        let services = parse(&out.stdout_str());
        if services.is_empty() {
            return fail::fail(
                "found no services: neither systemd nor /etc/init.d scripts on the host",
            );
        }
        Ok(Plan::Done(
            Outcome::ok().with("ansible_facts", json!({ "services": services })),
        ))
    }
}
