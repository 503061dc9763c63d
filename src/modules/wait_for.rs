//! wait_for: a bounded loop on the host (a port open, closed or drained, a
//! path present or absent, a line matching in a file, or a plain sleep).

use super::net::{kv, last_line, one_line, timeout_arg, unb64s};
use serde_json::{Map, Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Change, Ctx, Facts, InCheck, Module, Need, Plan};
use super::text_edit;
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote as q;

pub static WAIT_FOR: Spec = Spec {
    mutually_exclusive: &[&["port", "path"]],
    ..Spec::new(
        "wait_for",
        &[
            ArgSpec::new("host", Kind::Str),
            ArgSpec::new("port", Kind::Int),
            ArgSpec::new("path", Kind::Str),
            ArgSpec::new(
                "state",
                Kind::Choice(&["started", "stopped", "present", "absent", "drained"]),
            ),
            ArgSpec::new("timeout", Kind::Int),
            ArgSpec::new("connect_timeout", Kind::Int),
            ArgSpec::new("delay", Kind::Int),
            ArgSpec::new("sleep", Kind::Int),
            ArgSpec::new("search_regex", Kind::Str),
            ArgSpec::new("exclude_hosts", Kind::List),
            ArgSpec::new("active_connection_states", Kind::List),
            ArgSpec::new("msg", Kind::Str),
        ],
    )
};

pub struct WaitFor;

/// What to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    Sleep,
    PortOpen {
        host: String,
        port: u16,
        regex: Option<String>,
    },
    PortClosed {
        host: String,
        port: u16,
    },
    Drained {
        port: u16,
        states: Vec<String>,
        exclude: Vec<String>,
    },
    PathPresent {
        path: String,
        regex: Option<String>,
    },
    PathAbsent {
        path: String,
    },
}

impl Wait {
    pub fn from_args(args: &Args) -> Result<Wait, String> {
        let state = args.str("state").unwrap_or("started");
        let host = args.str("host").unwrap_or("127.0.0.1").to_string();
        let regex = args.string("search_regex");
        if let Some(port) = args.int("port") {
            let port = u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("port must be between 1 and 65535, got {port}"))?;
            return Ok(match state {
                "started" | "present" => Wait::PortOpen { host, port, regex },
                "stopped" | "absent" => Wait::PortClosed { host, port },
                _ => {
                    let states = args.strings("active_connection_states");
                    Wait::Drained {
                        port,
                        states: if states.is_empty() {
                            [
                                "ESTABLISHED",
                                "FIN_WAIT1",
                                "FIN_WAIT2",
                                "SYN_RECV",
                                "SYN_SENT",
                                "TIME_WAIT",
                            ]
                            .iter()
                            .map(|s| s.to_string())
                            .collect()
                        } else {
                            states.iter().map(|s| s.to_uppercase()).collect()
                        },
                        exclude: args.strings("exclude_hosts"),
                    }
                }
            });
        }
        if let Some(path) = args.string("path") {
            return match state {
                "started" | "present" => Ok(Wait::PathPresent { path, regex }),
                "stopped" | "absent" => Ok(Wait::PathAbsent { path }),
                _ => Err("state=drained needs a port".into()),
            };
        }
        if regex.is_some() {
            return Err("search_regex needs a port or a path".into());
        }
        Ok(Wait::Sleep)
    }

    /// Ansible's message on timeout.
    pub fn timeout_msg(&self) -> String {
        match self {
            Wait::Sleep => "Timeout".into(),
            Wait::PortOpen {
                host,
                port,
                regex: None,
            } => format!("Timeout when waiting for {host}:{port}"),
            Wait::PortOpen {
                host,
                port,
                regex: Some(r),
            } => {
                format!("Timeout when waiting for search string {r} in {host}:{port}")
            }
            Wait::PortClosed { host, port } => {
                format!("Timeout when waiting for {host}:{port} to stop.")
            }
            Wait::Drained { port, .. } => format!("Timeout when waiting for port {port} to drain"),
            Wait::PathPresent { path, regex: None } => {
                format!("Timeout when waiting for file {path}")
            }
            Wait::PathPresent {
                path,
                regex: Some(r),
            } => {
                format!("Timeout when waiting for search string {r} in {path}")
            }
            Wait::PathAbsent { path } => format!("Timeout when waiting for {path} to be absent."),
        }
    }
}

/// The check, a shell function `ready` returning 0 when the condition holds.
/// Ports: `nc -z` when nc exists, else bash's `/dev/tcp` (with `timeout`),
/// else curl's `telnet://`.
pub fn wait_check(w: &Wait, connect_timeout: u64) -> String {
    let port_fn = format!(
        r#"ct={connect_timeout}
grepx() {{ if echo x | grep -qP x 2>/dev/null; then grep -P "$@"; else grep -E "$@"; fi; }}
port_open() {{
  if command -v nc >/dev/null 2>&1; then nc -z -w "$ct" "$1" "$2" </dev/null >/dev/null 2>&1
  elif command -v bash >/dev/null 2>&1; then timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" >/dev/null 2>&1
  else c=$(curl -s -o /dev/null --connect-timeout "$ct" --max-time "$ct" -w '%{{time_connect}}' "telnet://$1:$2" </dev/null 2>/dev/null); [ -n "$c" ] && [ "$c" != 0 ] && [ "$c" != 0.000000 ]; fi
}}
port_read() {{
  if command -v nc >/dev/null 2>&1; then nc -w "$ct" "$1" "$2" </dev/null 2>/dev/null
  else timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$0/$1"; cat <&3' "$1" "$2" 2>/dev/null; fi
}}
"#
    );
    match w {
        Wait::Sleep => "ready() { return 1; }\n".into(),
        Wait::PortOpen {
            host,
            port,
            regex: None,
        } => {
            format!("{port_fn}ready() {{ port_open {} {port}; }}\n", q(host))
        }
        Wait::PortOpen {
            host,
            port,
            regex: Some(r),
        } => format!(
            "{port_fn}ready() {{ m=$(port_read {} {port} | head -c 1048576 | grepx -a -m1 -- {}) || return 1; printf 'line='; printf '%s' \"$m\" | base64 -w0; echo; }}\n",
            q(host),
            q(r)
        ),
        Wait::PortClosed { host, port } => {
            format!("{port_fn}ready() {{ ! port_open {} {port}; }}\n", q(host))
        }
        Wait::Drained {
            port,
            states,
            exclude,
        } => {
            let ss_states: Vec<String> = states
                .iter()
                .map(|s| {
                    match s.as_str() {
                        "ESTABLISHED" => "ESTAB",
                        "FIN_WAIT1" => "FIN-WAIT-1",
                        "FIN_WAIT2" => "FIN-WAIT-2",
                        "SYN_RECV" => "SYN-RECV",
                        "SYN_SENT" => "SYN-SENT",
                        "TIME_WAIT" => "TIME-WAIT",
                        "CLOSE_WAIT" => "CLOSE-WAIT",
                        "LAST_ACK" => "LAST-ACK",
                        "CLOSING" => "CLOSING",
                        other => other,
                    }
                    .to_string()
                })
                .collect();
            format!(
                r#"command -v ss >/dev/null 2>&1 || {{ echo noss=1; exit 0; }}
ready() {{
  n=$(ss -Htan | awk -v p={port} -v st={st} -v ex={ex} '
    BEGIN {{ ns = split(st, S, " "); ne = split(ex, E, " ") }}
    {{ ok = 0; for (i = 1; i <= ns; i++) if ($1 == S[i]) ok = 1
      lp = $4; sub(/.*:/, "", lp); if (lp != p) ok = 0
      peer = $5; sub(/:[^:]*$/, "", peer); gsub(/[][]/, "", peer); sub(/^::ffff:/, "", peer)
      for (i = 1; i <= ne; i++) if (peer == E[i]) ok = 0
      if (ok) c++ }}
    END {{ print c + 0 }}')
  [ "$n" = 0 ]
}}
"#,
                st = q(&ss_states.join(" ")),
                ex = q(&exclude.join(" ")),
            )
        }
        Wait::PathPresent { path, regex: None } => format!("ready() {{ [ -e {} ]; }}\n", q(path)),
        Wait::PathPresent {
            path,
            regex: Some(r),
        } => format!(
            "grepx() {{ if echo x | grep -qP x 2>/dev/null; then grep -P \"$@\"; else grep -E \"$@\"; fi; }}\nready() {{ [ -f {p} ] || return 1; m=$(grepx -a -m1 -- {r} {p}) || return 1; printf 'line='; printf '%s' \"$m\" | base64 -w0; echo; }}\n",
            p = q(path),
            r = q(r)
        ),
        Wait::PathAbsent { path } => {
            format!("ready() {{ [ ! -e {} ] && [ ! -L {0} ]; }}\n", q(path))
        }
    }
}

/// The whole bounded loop.
pub fn wait_script(w: &Wait, timeout: u64, delay: u64, sleep: u64, connect_timeout: u64) -> String {
    format!(
        r#"# opsctl wait_for: {what}
{check}start=$(date +%s)
sleep {delay}
end=$(( start + {delay} + {timeout} ))
while :; do
  if ready; then echo ok=1; echo "elapsed=$(( $(date +%s) - start ))"; exit 0; fi
  now=$(date +%s)
  if [ "$now" -ge "$end" ]; then echo ok=0; echo "elapsed=$(( now - start ))"; exit 0; fi
  sleep {sleep}
done
"#,
        what = one_line(&w.timeout_msg().replace("Timeout when waiting for ", "")),
        check = wait_check(w, connect_timeout),
    )
}

/// The wait, checked, and the loop that waits on the host.
fn wait_of(args: &Args) -> Result<(Wait, String), Fail> {
    let w = Wait::from_args(args).map_err(Fail::Args)?;
    let timeout = timeout_arg(args, "timeout", 300)?;
    let delay = timeout_arg(args, "delay", 0)?;
    let sleep = timeout_arg(args, "sleep", 1)?.max(1);
    let ct = timeout_arg(args, "connect_timeout", 5)?.max(1);
    if let Wait::PortOpen { regex: Some(r), .. } | Wait::PathPresent { regex: Some(r), .. } = &w {
        text_edit::py_regex("search_regex", r, true)?;
    }
    let script = wait_script(&w, timeout, delay, sleep, ct);
    Ok((w, script))
}

/// The loop is an action that changes nothing: it runs in check mode too, and
/// nothing is read ahead past it (what it waits for may change the host).
impl Module for WaitFor {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        wait_of(args)?;
        Ok(vec![])
    }

    fn predictable(&self, _: &Args) -> bool {
        false
    }

    fn decide(&self, args: &Args, _: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let (_, script) = wait_of(args)?;
        Ok(Plan::Change(Box::new(Change {
            outcome: Outcome::ok(),
            action: Action::Script {
                script,
                stdin: None,
            },
            in_check: InCheck::Apply,
        })))
    }

    fn applied(&self, args: &Args, _: Outcome, result: Applied, _: &Ctx) -> Result<Outcome, Fail> {
        let Applied::Script(out) = result else {
            return fail::fail("wait_for: internal error: not a script");
        };
        waited(args, &out)
    }
}

fn waited(args: &Args, out: &crate::transport::Output) -> Result<Outcome, Fail> {
    let (w, _) = wait_of(args)?;
    let m = kv(&out.stdout);
    if m.contains_key("noss") {
        return fail::fail("state=drained needs `ss` (iproute2) on the host");
    }
    let elapsed: i64 = m
        .get("elapsed")
        .and_then(|e| e.trim().parse().ok())
        .unwrap_or(0);
    let mut o = Outcome::ok().with("elapsed", elapsed);
    match &w {
        Wait::PortOpen { port, .. }
        | Wait::PortClosed { port, .. }
        | Wait::Drained { port, .. } => {
            o = o
                .with("port", *port)
                .with("state", args.str("state").unwrap_or("started"));
        }
        Wait::PathPresent { path, .. } | Wait::PathAbsent { path } => {
            o = o
                .with("path", path.clone())
                .with("state", args.str("state").unwrap_or("started"));
        }
        Wait::Sleep => {}
    }
    if let Wait::PortOpen { regex: Some(r), .. } | Wait::PathPresent { regex: Some(r), .. } = &w {
        o = o.with("search_regex", r.clone());
        if let Some(line) = m.get("line").map(|l| unb64s(l)) {
            let re = text_edit::py_regex("search_regex", r, true)?;
            let mut groups = Vec::new();
            let mut dict = Map::new();
            if let Some(mm) = re.search(&line) {
                for i in 1..=re.group_count() {
                    groups.push(mm.group(i).map(|g| json!(g)).unwrap_or(Json::Null));
                }
                for (name, idx) in group_names(r)
                    .into_iter()
                    .filter_map(|n| re.group_index(&n).map(|i| (n, i)))
                {
                    dict.insert(name, mm.group(idx).map(|g| json!(g)).unwrap_or(Json::Null));
                }
            }
            o = o
                .with("match_groups", Json::Array(groups))
                .with("match_groupdict", Json::Object(dict));
        }
    }
    match m.get("ok").map(String::as_str) {
        Some("1") => Ok(o),
        Some(_) if w == Wait::Sleep => Ok(o),
        Some(_) => {
            o.failed = true;
            o.msg = Some(args.string("msg").unwrap_or_else(|| w.timeout_msg()));
            Ok(o)
        }
        None => fail::fail(format!(
            "wait_for could not run: {}",
            last_line(&out.stderr_str())
        )),
    }
}

/// `(?P<name>` group names of a pattern.
fn group_names(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(i) = rest.find("(?P<") {
        rest = &rest[i + 4..];
        if let Some(j) = rest.find('>') {
            out.push(rest[..j].to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_kinds_and_messages() {
        let spec = &WAIT_FOR;
        let args = |v: Json| spec.validate(v.as_object().unwrap(), true).unwrap();
        let w = Wait::from_args(&args(json!({"port": 8080}))).unwrap();
        assert_eq!(
            w,
            Wait::PortOpen {
                host: "127.0.0.1".into(),
                port: 8080,
                regex: None
            }
        );
        assert_eq!(w.timeout_msg(), "Timeout when waiting for 127.0.0.1:8080");
        let w = Wait::from_args(&args(json!({"path": "/x", "state": "absent"}))).unwrap();
        assert_eq!(w.timeout_msg(), "Timeout when waiting for /x to be absent.");
        assert!(Wait::from_args(&args(json!({"port": 70000}))).is_err());
        assert!(Wait::from_args(&args(json!({"path": "/x", "state": "drained"}))).is_err());
        assert_eq!(
            Wait::from_args(&args(json!({"timeout": 1}))).unwrap(),
            Wait::Sleep
        );
        let w = Wait::from_args(&args(
            json!({"port": 80, "state": "drained", "exclude_hosts": "10.0.0.1"}),
        ))
        .unwrap();
        let s = wait_script(&w, 5, 0, 1, 5);
        assert!(s.contains("ESTAB") && s.contains("10.0.0.1"), "{s}");
        assert_eq!(group_names("(?P<a>x)(y)(?P<bc>z)"), vec!["a", "bc"]);
    }
}
