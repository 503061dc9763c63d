//! service and systemd (systemd_service): start, stop, restart, reload, enable,
//! mask a service, on hosts with systemd as PID 1 and on hosts without it.
//!
//! One exec probes: on a systemd host (`/run/systemd/system` exists)
//! `systemctl show` and `systemctl is-enabled`; elsewhere the init script's
//! `status` exit code and the `/etc/rc[2-5].d/S??NAME` links (`update-rc.d`'s
//! view of "enabled"). Rust decides ([`decide`]); one more exec, never in check
//! mode, runs only the needed `systemctl`/`service`/`update-rc.d` commands and
//! reads the state again to report it (and fails, with the service's last log
//! lines, when a start did not leave it running). Without systemd, enabling a
//! script that has no links runs `update-rc.d NAME defaults`, as Ansible's
//! sysvinit module does; one disabled earlier (K links) gets `update-rc.d NAME
//! enable`.

use serde_json::{Map, Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan as Decision};
use super::remote_file::{self, HostInfo};
use super::sysfacts::{self, SHOW_PROPS, sysv_name};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

const STATES: &[&str] = &["started", "stopped", "restarted", "reloaded"];

pub static SERVICE: Spec = Spec {
    required_one_of: &[&["state", "enabled"]],
    ..Spec::new(
        "service",
        &[
            ArgSpec::new("name", Kind::Str).required(),
            ArgSpec::new("state", Kind::Choice(STATES)),
            ArgSpec::new("enabled", Kind::Bool),
            ArgSpec::new("pattern", Kind::Str),
            ArgSpec::new("sleep", Kind::Int),
            ArgSpec::new("arguments", Kind::Str).aliases(&["args"]),
            ArgSpec::new(
                "use",
                Kind::Choice(&["auto", "systemd", "sysvinit", "service"]),
            ),
        ],
    )
};

// No required_one_of: Ansible's lists daemon_reload and daemon_reexec, whose
// defaults (false) count as given, so `systemd: name: x` alone is valid there
// (it registers the unit's status) and here.
pub static SYSTEMD: Spec = Spec {
    aliases: &["systemd_service"],
    ..Spec::new(
        "systemd",
        &[
            ArgSpec::new("name", Kind::Str).aliases(&["service", "unit"]),
            ArgSpec::new("state", Kind::Choice(STATES)),
            ArgSpec::new("enabled", Kind::Bool),
            ArgSpec::new("masked", Kind::Bool),
            ArgSpec::new("force", Kind::Bool),
            ArgSpec::new("daemon_reload", Kind::Bool).aliases(&["daemon-reload"]),
            ArgSpec::new("daemon_reexec", Kind::Bool).aliases(&["daemon-reexec"]),
            ArgSpec::new("scope", Kind::Choice(&["system", "user", "global"])),
            ArgSpec::new("no_block", Kind::Bool),
        ],
    )
};

// ---------------------------------------------------------------------------
// Arguments

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Start,
    Stop,
    Restart,
    Reload,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Reload => "reload",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Init {
    #[default]
    Auto,
    Systemd,
    Sysv,
}

#[derive(Debug, Clone, Default)]
struct Want {
    module: &'static str,
    name: Option<String>,
    state: Option<String>,
    enabled: Option<bool>,
    masked: Option<bool>,
    daemon_reload: bool,
    daemon_reexec: bool,
    force: bool,
    scope: String,
    no_block: bool,
    pattern: Option<String>,
    sleep: Option<i64>,
    arguments: Option<String>,
    init: Init,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('-')
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@._:-\\".contains(c))
}

fn check_name(name: Option<String>) -> Result<Option<String>, Fail> {
    match name {
        Some(n) if !valid_name(n.trim()) => fail::bad_args(format!(
            "'{n}' is not a valid service name (letters, digits, and @ . _ : - only)"
        )),
        Some(n) => Ok(Some(n.trim().to_string())),
        None => Ok(None),
    }
}

impl Want {
    fn from_service(args: &Args) -> Result<Want, Fail> {
        let init = match args.str("use") {
            Some("systemd") => Init::Systemd,
            Some("sysvinit" | "service") => Init::Sysv,
            _ => Init::Auto,
        };
        let sleep = args.int("sleep");
        if sleep.is_some_and(|s| !(0..=3600).contains(&s)) {
            return fail::bad_args("sleep must be a number of seconds between 0 and 3600");
        }
        Ok(Want {
            module: "service",
            name: check_name(args.string("name"))?,
            state: args.string("state"),
            enabled: args.bool("enabled"),
            scope: "system".into(),
            pattern: args.string("pattern"),
            sleep,
            arguments: args.string("arguments").filter(|a| !a.trim().is_empty()),
            init,
            ..Default::default()
        })
    }

    fn from_systemd(args: &Args) -> Result<Want, Fail> {
        let w = Want {
            module: "systemd",
            name: check_name(args.string("name"))?,
            state: args.string("state"),
            enabled: args.bool("enabled"),
            masked: args.bool("masked"),
            daemon_reload: args.bool_or("daemon_reload", false),
            daemon_reexec: args.bool_or("daemon_reexec", false),
            force: args.bool_or("force", false),
            scope: args.string("scope").unwrap_or_else(|| "system".into()),
            no_block: args.bool_or("no_block", false),
            ..Default::default()
        };
        if w.name.is_none() && (w.state.is_some() || w.enabled.is_some() || w.masked.is_some()) {
            return fail::bad_args("systemd needs 'name' to change a unit's state");
        }
        Ok(w)
    }

    /// `--user`/`--global` for systemctl.
    fn scope_flag(&self) -> &'static str {
        match self.scope.as_str() {
            "user" => " --user",
            "global" => " --global",
            _ => "",
        }
    }
}

// ---------------------------------------------------------------------------
// Probe

/// The state of a service as probed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SvcState {
    host: HostInfo,
    systemd: bool,
    /// `systemctl show` properties, in order.
    show: Vec<(String, String)>,
    /// `systemctl is-enabled`: first line and exit code.
    is_enabled: Option<(String, i32)>,
    /// `/etc/init.d/NAME` exists.
    initd: bool,
    /// The init script's `status` exit code.
    status_rc: Option<i32>,
    /// `pgrep` of `pattern` found a process.
    pattern_running: Option<bool>,
    /// `S` and `K` links in /etc/rc[2-5].d.
    rc_start: Vec<String>,
    rc_stop: Vec<String>,
    /// Errors of `systemctl daemon-reload` run by the probe.
    reload_error: Option<String>,
}

impl SvcState {
    fn prop(&self, k: &str) -> Option<&str> {
        self.show
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    fn found(&self) -> bool {
        if self.systemd {
            self.prop("LoadState").is_some_and(|s| s != "not-found") || self.initd
        } else {
            self.initd
        }
    }

    fn masked(&self) -> bool {
        self.systemd
            && (self.prop("LoadState") == Some("masked")
                || self
                    .is_enabled
                    .as_ref()
                    .is_some_and(|(s, _)| s.starts_with("masked")))
    }

    fn running(&self) -> bool {
        if self.systemd {
            matches!(
                self.prop("ActiveState"),
                Some("active" | "activating" | "reloading")
            )
        } else if let Some(p) = self.pattern_running {
            p
        } else {
            self.status_rc == Some(0)
        }
    }

    /// Stopping it would change something (deactivating counts, as in Ansible).
    fn stoppable(&self) -> bool {
        self.running() || (self.systemd && self.prop("ActiveState") == Some("deactivating"))
    }

    fn enabled(&self) -> bool {
        if self.systemd {
            match &self.is_enabled {
                Some((_, 0)) => true,
                // no unit file state but an init script: its rc links say
                Some((s, _)) if s.is_empty() => !self.rc_start.is_empty(),
                _ => false,
            }
        } else {
            !self.rc_start.is_empty()
        }
    }

    fn unit_file_state(&self) -> &str {
        self.is_enabled
            .as_ref()
            .map(|(s, _)| s.as_str())
            .unwrap_or("")
    }

    /// The unit's canonical name (`ssh.service` for `sshd`).
    fn id<'a>(&'a self, name: &'a str) -> &'a str {
        self.prop("Id").filter(|s| !s.is_empty()).unwrap_or(name)
    }
}

fn parse_probe(out: &str) -> SvcState {
    let mut st = SvcState::default();
    let mut is_enabled = String::new();
    let mut is_enabled_rc = None;
    let mut reload_errors = Vec::new();
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if let Some(prop) = k.strip_prefix("sd.") {
            st.show.push((prop.to_string(), v.to_string()));
            continue;
        }
        match k {
            "uid" => st.host.uid = v.trim().parse().unwrap_or(u32::MAX),
            "user" => st.host.user = v.trim().to_string(),
            "init" => st.systemd = v.trim() == "systemd",
            "is_enabled" => is_enabled = v.trim().to_string(),
            "is_enabled_rc" => is_enabled_rc = v.trim().parse().ok(),
            "initd" => st.initd = true,
            "status_rc" => st.status_rc = v.trim().parse().ok(),
            "pattern_running" => st.pattern_running = Some(v.trim() == "1"),
            "rc_start" => st.rc_start.push(v.to_string()),
            "rc_stop" => st.rc_stop.push(v.to_string()),
            "reload_error" => reload_errors.push(v.to_string()),
            _ => {}
        }
    }
    if let Some(rc) = is_enabled_rc {
        st.is_enabled = Some((is_enabled, rc));
    }
    if !reload_errors.is_empty() {
        st.reload_error = Some(reload_errors.join("; "));
    }
    st
}

// ---------------------------------------------------------------------------
// Decision

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Plan {
    unmask: bool,
    enable: Option<bool>,
    action: Option<Action>,
    mask: bool,
}

impl Plan {
    fn any(&self) -> bool {
        self.unmask || self.enable.is_some() || self.action.is_some() || self.mask
    }
}

fn decide(w: &Want, st: &SvcState) -> Result<Plan, String> {
    let mut plan = Plan::default();
    let Some(name) = &w.name else {
        return Ok(plan);
    };
    if !st.found() {
        return Err(if st.systemd {
            format!(
                "Could not find the requested service {name}: no systemd unit {name} and no /etc/init.d/{} (is its package installed?)",
                sysv_name(name)
            )
        } else {
            format!(
                "Could not find the requested service {name}: no /etc/init.d/{} on this host, which runs without systemd (is its package installed?)",
                sysv_name(name)
            )
        });
    }
    let masked = st.masked();
    if let Some(m) = w.masked {
        if !st.systemd {
            return Err(format!(
                "masked: cannot mask {name}: this host runs without systemd"
            ));
        }
        if m && !masked {
            plan.mask = true;
        } else if !m && masked {
            plan.unmask = true;
        }
    }
    let masked_after = (masked && !plan.unmask) || plan.mask;
    if let Some(e) = w.enabled {
        if st.systemd && st.unit_file_state() == "static" && !e {
            return Err(format!(
                "{name} is a static unit: it has no [Install] section, so it cannot be disabled (it starts when another unit needs it); remove `enabled: false`"
            ));
        }
        if e && masked_after {
            return Err(format!(
                "cannot enable {name}: the unit is masked (add `masked: false`)"
            ));
        }
        if e != st.enabled() {
            plan.enable = Some(e);
        }
    }
    if let Some(state) = w.state.as_deref() {
        let running = st.running();
        plan.action = match state {
            "started" if !running => Some(Action::Start),
            "stopped" if st.stoppable() => Some(Action::Stop),
            "restarted" if running => Some(Action::Restart),
            "reloaded" if running => Some(Action::Reload),
            "restarted" | "reloaded" => Some(Action::Start),
            _ => None,
        };
        if masked_after && matches!(plan.action, Some(a) if a != Action::Stop) {
            return Err(format!(
                "cannot {} {name}: the unit is masked (add `masked: false`)",
                plan.action.map(Action::verb).unwrap_or("start")
            ));
        }
    }
    Ok(plan)
}

/// `state: ...` / `enabled: ...` lines for the diff, for what was asked.
fn state_text(
    w: &Want,
    running: bool,
    enabled: bool,
    masked: bool,
    action: Option<Action>,
) -> String {
    let mut s = String::new();
    if w.state.is_some() {
        let word = match action {
            Some(Action::Restart) => "restarted",
            Some(Action::Reload) => "reloaded",
            _ if running => "started",
            _ => "stopped",
        };
        s.push_str(&format!("state: {word}\n"));
    }
    if w.enabled.is_some() {
        s.push_str(&format!(
            "enabled: {}\n",
            if enabled { "yes" } else { "no" }
        ));
    }
    if w.masked.is_some() {
        s.push_str(&format!("masked: {}\n", if masked { "yes" } else { "no" }));
    }
    s
}

// ---------------------------------------------------------------------------
// Change

fn change_script(w: &Want, st: &SvcState, plan: &Plan) -> String {
    let name = w.name.clone().unwrap_or_default();
    let mut s = format!("# opsctl {}: change {name}\n", w.module);
    s.push_str(&format!(
        "n={}\nsv={}\nfailed() {{ echo \"failed=$1\"; echo \"rc=$2\"; printf '%s\\n' \"$3\" | tail -n 15 | sed 's/^/out=/'; }}\n",
        shell_quote(st.id(&name)),
        shell_quote(sysv_name(&name))
    ));
    let step = |s: &mut String, what: &str, cmd: &str| {
        s.push_str(&format!(
            "o=$({cmd} 2>&1 < /dev/null); r=$?; if [ $r -ne 0 ]; then failed {what} $r \"$o\"; {tail} exit 0; fi\n",
            tail = if st.systemd {
                "journalctl -u \"$n\" -n 8 --no-pager -q 2>/dev/null | sed 's/^/journal=/';"
            } else {
                ""
            }
        ));
    };
    if st.systemd {
        let sc = w.scope_flag();
        let nb = if w.no_block { " --no-block" } else { "" };
        let force = if w.force { " --force" } else { "" };
        if plan.unmask {
            step(&mut s, "unmask", &format!("systemctl{sc} unmask -- \"$n\""));
        }
        if let Some(e) = plan.enable {
            let verb = if e { "enable" } else { "disable" };
            step(
                &mut s,
                verb,
                &format!("systemctl{sc}{force} {verb} -- \"$n\""),
            );
        }
        if let Some(a) = plan.action {
            step(
                &mut s,
                a.verb(),
                &format!("systemctl{sc}{nb} {} -- \"$n\"", a.verb()),
            );
        }
        if plan.mask {
            step(
                &mut s,
                "mask",
                &format!("systemctl{sc}{force} mask -- \"$n\""),
            );
        }
        s.push_str(&format!(
            "systemctl{sc} show --no-pager -p {SHOW_PROPS} -- \"$n\" 2>/dev/null | sed 's/^/sd./'\n\
             e=$(systemctl{sc} is-enabled -- \"$n\" 2>/dev/null); echo \"is_enabled_rc=$?\"\n\
             echo \"is_enabled=$(printf '%s\\n' \"$e\" | head -n 1)\"\n"
        ));
        if matches!(plan.action, Some(Action::Start | Action::Restart)) && !w.no_block {
            // a service that failed right after starting
            s.push_str(
                "case $(systemctl show -p ActiveState --value -- \"$n\" 2>/dev/null) in failed) \
                 journalctl -u \"$n\" -n 8 --no-pager -q 2>/dev/null | sed 's/^/journal=/';; esac\n",
            );
        }
        s.push_str("echo init=systemd\n");
    } else {
        let args = w
            .arguments
            .as_deref()
            .map(|a| format!(" {a}"))
            .unwrap_or_default();
        match plan.enable {
            Some(true) => {
                // A script never enabled gets its links from `defaults` alone, as
                // Ansible's sysvinit module makes them (so no systemd `.wants`
                // link that `enable` would add for a unit of the same name);
                // one disabled (K links in 2-5) is turned back with `enable`,
                // which `defaults` would leave disabled.
                step(
                    &mut s,
                    "enable",
                    "if ls /etc/rc[2345].d/K[0-9][0-9]\"$sv\" >/dev/null 2>&1; then update-rc.d \"$sv\" enable; else update-rc.d \"$sv\" defaults; fi",
                );
            }
            Some(false) => step(&mut s, "disable", "update-rc.d \"$sv\" disable"),
            None => {}
        }
        match (plan.action, w.sleep) {
            (Some(Action::Restart), Some(secs)) => {
                step(&mut s, "stop", &format!("service \"$sv\" stop{args}"));
                s.push_str(&format!("sleep {secs}\n"));
                step(&mut s, "start", &format!("service \"$sv\" start{args}"));
            }
            (Some(a), _) => step(
                &mut s,
                a.verb(),
                &format!("service \"$sv\" {}{args}", a.verb()),
            ),
            (None, _) => {}
        }
        // The state after: init scripts may return before the daemon is up (or
        // has exited), so a start is given a few seconds to show in `status`.
        let wait_up = matches!(
            plan.action,
            Some(Action::Start | Action::Restart | Action::Reload)
        );
        let check_cmd = match &w.pattern {
            Some(p) => format!("pgrep -f -- {} >/dev/null 2>&1", shell_quote(p)),
            None => "\"/etc/init.d/$sv\" status >/dev/null 2>&1 < /dev/null".to_string(),
        };
        if wait_up {
            s.push_str(&format!(
                "i=0; while :; do {check_cmd}; r=$?; [ $r -eq 0 ] && break; i=$((i+1)); [ $i -ge 25 ] && break; sleep 0.2; done\n"
            ));
        } else if plan.action == Some(Action::Stop) {
            s.push_str(&format!(
                "i=0; while :; do {check_cmd}; r=$?; [ $r -ne 0 ] && break; i=$((i+1)); [ $i -ge 25 ] && break; sleep 0.2; done\n"
            ));
        } else {
            s.push_str(&format!("{check_cmd}; r=$?\n"));
        }
        if w.pattern.is_some() {
            s.push_str(
                "if [ $r -eq 0 ]; then echo pattern_running=1; else echo pattern_running=0; fi\n",
            );
        }
        s.push_str(
            "echo \"status_rc=$r\"\necho init=sysv\n[ -f \"/etc/init.d/$sv\" ] && echo initd=1\n",
        );
        s.push_str(
            "for l in /etc/rc[2345].d/S[0-9][0-9]\"$sv\"; do [ -e \"$l\" ] && echo \"rc_start=$l\"; done\n",
        );
    }
    s.push_str("exit 0\n");
    s
}

/// The failure reported by the change script, if any: `(step, rc, output, journal)`.
fn parse_failure(out: &str) -> Option<(String, String, Vec<String>, Vec<String>)> {
    let mut step = None;
    let mut rc = String::new();
    let mut output = Vec::new();
    let mut journal = Vec::new();
    for line in out.lines() {
        if let Some(v) = line.strip_prefix("failed=") {
            step = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("rc=") {
            rc = v.to_string();
        } else if let Some(v) = line.strip_prefix("out=") {
            if !v.trim().is_empty() {
                output.push(v.to_string());
            }
        } else if let Some(v) = line.strip_prefix("journal=") {
            journal.push(v.to_string());
        }
    }
    step.map(|s| (s, rc, output, journal))
}

fn journal_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("journal="))
        .map(str::to_string)
        .collect()
}

fn describe_plan(p: &Plan) -> String {
    let mut parts = Vec::new();
    if p.unmask {
        parts.push("unmask");
    }
    match p.enable {
        Some(true) => parts.push("enable"),
        Some(false) => parts.push("disable"),
        None => {}
    }
    if let Some(a) = p.action {
        parts.push(a.verb());
    }
    if p.mask {
        parts.push("mask");
    }
    parts.join(", ")
}

/// Ansible's registered fields: name, state, enabled, status (systemctl show).
fn fill(res: &mut Outcome, name: &str, running: bool, enabled: bool, st: &SvcState) {
    res.data.insert("name".into(), json!(name));
    res.data.insert(
        "state".into(),
        json!(if running { "started" } else { "stopped" }),
    );
    res.data.insert("enabled".into(), json!(enabled));
    let mut status = Map::new();
    for (k, v) in &st.show {
        status.insert(k.clone(), Json::String(v.clone()));
    }
    if let Some(rc) = st.status_rc {
        status.insert("status_rc".into(), json!(rc));
    }
    res.data.insert("status".into(), Json::Object(status));
}

// ---------------------------------------------------------------------------
// On the module protocol

/// `service` (false) and `systemd` (true) on the module protocol: the init
/// system and the unit are typed facts (one `systemctl show` for every unit of
/// the next tasks, init scripts and rc links by globs, each init script's
/// `status` on a host without systemd); `systemctl is-enabled`, an init
/// script's `status` under `use: sysvinit` on a systemd host and `pgrep` of
/// `pattern` are read after, only when the first read does not say.
pub struct Service(bool);

pub static RUN_SERVICE: Service = Service(false);
pub static RUN_SYSTEMD: Service = Service(true);

impl Service {
    fn want(&self, args: &Args) -> Result<Want, Fail> {
        if self.0 {
            Want::from_systemd(args)
        } else {
            Want::from_service(args)
        }
    }
}

/// `systemctl is-enabled`'s answer from the unit file state `show` gave, when
/// it decides it (its exit status as documented in systemctl(1)).
fn is_enabled_from(state: &str) -> Option<(String, i32)> {
    match state {
        "enabled" | "enabled-runtime" | "static" | "alias" | "indirect" | "transient" => {
            Some((state.to_string(), 0))
        }
        "disabled" | "masked" | "masked-runtime" | "linked" | "linked-runtime" | "bad" => {
            Some((state.to_string(), 1))
        }
        _ => None,
    }
}

fn is_enabled_probe(w: &Want, id: &str) -> String {
    format!(
        "# opsctl {}: is-enabled {id}\nnl='\n'\ne=$(systemctl{} is-enabled -- {} 2>/dev/null); echo \"is_enabled_rc=$?\"\necho \"is_enabled=${{e%%\"$nl\"*}}\"",
        w.module,
        w.scope_flag(),
        shell_quote(id)
    )
}

fn status_probe(w: &Want, sv: &str) -> String {
    format!(
        "# opsctl {}: status {sv}\nsv={}\nif [ -x \"/etc/init.d/$sv\" ]; then \"/etc/init.d/$sv\" status >/dev/null 2>&1 </dev/null; echo \"status_rc=$?\"; fi",
        w.module,
        shell_quote(sv)
    )
}

fn pattern_probe(w: &Want, p: &str) -> String {
    format!(
        "# opsctl {}: pgrep\nif pgrep -f -- {} >/dev/null 2>&1; then echo pattern_running=1; else echo pattern_running=0; fi",
        w.module,
        shell_quote(p)
    )
}

/// The service's state from the facts, or what to read first.
fn svc_state(w: &Want, facts: &Facts) -> Result<Result<SvcState, Vec<Need>>, Fail> {
    let detected = facts.sys.init()?.systemd;
    let mut st = SvcState {
        systemd: match w.init {
            Init::Auto => detected,
            Init::Systemd => true,
            Init::Sysv => false,
        },
        ..Default::default()
    };
    let Some(name) = &w.name else {
        return Ok(Ok(st));
    };
    let unit = facts.sys.unit(&w.scope, name)?;
    st.initd = unit.initd;
    st.rc_start = unit.rc_start.clone();
    st.rc_stop = unit.rc_stop.clone();
    let mut more = Vec::new();
    if st.systemd {
        st.show = unit.show.clone();
        if st.found() {
            let ufs = st.prop("UnitFileState").unwrap_or_default().to_string();
            st.is_enabled = is_enabled_from(&ufs);
            if st.is_enabled.is_none() {
                more.push(Need::Probe(is_enabled_probe(w, st.id(name))));
            }
        }
    } else {
        st.status_rc = unit.status_rc;
        if detected && st.initd {
            // `use: sysvinit` on a systemd host: the gathering skipped `status`
            more.push(Need::Probe(status_probe(w, sysv_name(name))));
        }
        if let Some(p) = &w.pattern {
            more.push(Need::Probe(pattern_probe(w, p)));
        }
    }
    if more.iter().any(|n| !facts.has(n)) {
        return Ok(Err(more));
    }
    for n in &more {
        if let Need::Probe(p) = n {
            let read = parse_probe(&facts.probe(p)?.stdout_str());
            st.is_enabled = st.is_enabled.take().or(read.is_enabled);
            st.status_rc = read.status_rc.or(st.status_rc);
            st.pattern_running = read.pattern_running.or(st.pattern_running);
        }
    }
    Ok(Ok(st))
}

/// `systemctl daemon-reexec`/`daemon-reload`, as the change's first steps.
fn reload_steps(w: &Want) -> String {
    let sc = w.scope_flag();
    let mut s = String::new();
    if w.daemon_reexec {
        s.push_str(&format!(
            "systemctl{sc} daemon-reexec 2>&1 | sed 's/^/reload_error=/'\n"
        ));
    }
    if w.daemon_reload {
        s.push_str(&format!(
            "systemctl{sc} daemon-reload 2>&1 | sed 's/^/reload_error=/'\n"
        ));
    }
    s
}

impl Module for Service {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = self.want(args)?;
        let mut v = vec![Need::Init];
        if let Some(name) = &w.name {
            v.push(Need::Unit {
                scope: w.scope.clone(),
                name: name.clone(),
            });
        }
        Ok(v)
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Decision, Fail> {
        let w = self.want(args)?;
        let st = match svc_state(&w, facts)? {
            Ok(st) => st,
            Err(more) => return Ok(Decision::More(more)),
        };
        let plan = decide(&w, &st)?;
        let name = w.name.clone().unwrap_or_default();
        let mut res = if plan.any() {
            Outcome::changed()
        } else {
            Outcome::ok()
        };
        if plan.any() {
            let running = match plan.action {
                Some(Action::Stop) => false,
                Some(_) => true,
                None => st.running(),
            };
            let enabled = plan.enable.unwrap_or(st.enabled());
            let masked = (st.masked() || plan.mask) && !plan.unmask;
            if ctx.diff {
                let before = state_text(&w, st.running(), st.enabled(), st.masked(), None);
                let after = state_text(&w, running, enabled, masked, plan.action);
                res.diffs
                    .push(Diff::new(format!("service {name}"), before, after));
            }
            res.msg = Some(describe_plan(&plan));
            fill(&mut res, &name, running, enabled, &st);
        } else if !name.is_empty() {
            fill(&mut res, &name, st.running(), st.enabled(), &st);
        }
        let reload = if st.systemd {
            reload_steps(&w)
        } else {
            String::new()
        };
        if !plan.any() && reload.is_empty() {
            return Ok(Decision::Done(res));
        }
        let mut script = format!("# opsctl {}: change {name}\n{reload}", w.module);
        if plan.any() {
            if w.scope == "system" {
                script.push_str(&sysfacts::root_guard());
            }
            if let Some(a) = plan.action {
                script.push_str(&format!("echo planned_action={}\n", a.verb()));
            }
            script.push_str(&change_script(&w, &st, &plan));
        }
        Ok(Decision::change(
            res,
            super::protocol::Action::Script {
                script,
                stdin: None,
            },
        ))
    }

    fn applied(
        &self,
        args: &Args,
        mut res: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let w = self.want(args)?;
        let Applied::Script(out) = result else {
            return Ok(res);
        };
        let text = out.stdout_str();
        let reload_errors: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("reload_error="))
            .collect();
        if !reload_errors.is_empty() {
            return fail::fail(format!(
                "systemctl daemon-reload failed: {}",
                reload_errors.join("; ")
            ));
        }
        let name = w.name.clone().unwrap_or_default();
        let Some(what) = res.msg.clone() else {
            // only a daemon reload
            return Ok(res);
        };
        if let Some(host) = sysfacts::not_root(&text) {
            return fail::fail(format!(
                "{} needs root to {what} {name}{}",
                w.module,
                remote_file::become_hint(&host)
            ));
        }
        if let Some((step, rc, output, journal)) = parse_failure(&text) {
            let mut msg = format!("Unable to {step} service {name} (rc {rc})");
            if !output.is_empty() {
                msg.push_str(&format!(": {}", output.join(" | ")));
            }
            if !journal.is_empty() {
                msg.push_str(&format!("; its last log lines: {}", journal.join(" | ")));
            }
            return fail::fail(msg);
        }
        let action = match text.lines().find_map(|l| l.strip_prefix("planned_action=")) {
            Some("start") => Some(Action::Start),
            Some("stop") => Some(Action::Stop),
            Some("restart") => Some(Action::Restart),
            Some("reload") => Some(Action::Reload),
            _ => None,
        };
        let after_st = parse_probe(&text);
        let running = after_st.running();
        let enabled = after_st.enabled();
        if matches!(action, Some(Action::Start | Action::Restart)) && !running && !w.no_block {
            let journal = journal_lines(&text);
            let mut msg = format!(
                "service {name} was {} but is not running{}",
                if action == Some(Action::Start) {
                    "started"
                } else {
                    "restarted"
                },
                match (
                    after_st.systemd,
                    after_st.prop("ActiveState"),
                    after_st.status_rc
                ) {
                    (true, Some(s), _) => format!(" (ActiveState={s})"),
                    (false, _, Some(rc)) => format!(" (its init script's status says rc {rc})"),
                    _ => String::new(),
                }
            );
            if !journal.is_empty() {
                msg.push_str(&format!("; its last log lines: {}", journal.join(" | ")));
            }
            // A oneshot unit that ran and exited is fine.
            let oneshot = after_st.prop("Type") == Some("oneshot")
                && after_st.prop("Result") == Some("success");
            if !oneshot {
                return fail::fail(msg);
            }
        }
        if let Some(d) = res.diffs.first_mut() {
            d.after = state_text(&w, running, enabled, after_st.masked(), action);
        }
        res.data.clear();
        fill(&mut res, &name, running, enabled, &after_st);
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(state: Option<&str>, enabled: Option<bool>) -> Want {
        Want {
            module: "service",
            name: Some("cron".into()),
            state: state.map(str::to_string),
            enabled,
            scope: "system".into(),
            ..Default::default()
        }
    }

    const SYSTEMD_UP: &str = "uid=0\nuser=root\ninit=systemd\nsd.Id=cron.service\nsd.LoadState=loaded\nsd.ActiveState=active\nsd.SubState=running\nsd.UnitFileState=enabled\nis_enabled_rc=0\nis_enabled=enabled\ninitd=1\nrc_start=/etc/rc2.d/S01cron\n";
    const SYSV_DOWN: &str = "uid=0\nuser=root\ninit=sysv\nstatus_rc=3\nstatus_out=cron is not running ... failed!\ninitd=1\nrc_stop=/etc/rc2.d/K01cron\n";

    #[test]
    fn parses_both_kinds_of_probe() {
        let st = parse_probe(SYSTEMD_UP);
        assert!(st.systemd && st.found() && st.running() && st.enabled() && !st.masked());
        assert_eq!(st.id("cron"), "cron.service");
        let st = parse_probe(SYSV_DOWN);
        assert!(!st.systemd && st.found() && !st.running() && !st.enabled());
        assert_eq!(st.rc_stop, vec!["/etc/rc2.d/K01cron"]);
        let st = parse_probe("uid=1000\ninit=sysv\n");
        assert!(!st.found());
        assert_eq!(st.host.uid, 1000);
        let st = parse_probe(
            "init=systemd\nsd.Id=x.service\nsd.LoadState=not-found\nis_enabled_rc=1\nis_enabled=\n",
        );
        assert!(!st.found());
    }

    #[test]
    fn started_and_enabled_decisions() {
        let up = parse_probe(SYSTEMD_UP);
        let down = parse_probe(SYSV_DOWN);
        assert_eq!(
            decide(&want(Some("started"), Some(true)), &up).unwrap(),
            Plan::default()
        );
        assert_eq!(
            decide(&want(Some("started"), Some(true)), &down).unwrap(),
            Plan {
                enable: Some(true),
                action: Some(Action::Start),
                ..Default::default()
            }
        );
        assert_eq!(
            decide(&want(Some("stopped"), Some(false)), &up).unwrap(),
            Plan {
                enable: Some(false),
                action: Some(Action::Stop),
                ..Default::default()
            }
        );
        assert_eq!(
            decide(&want(Some("stopped"), None), &down).unwrap(),
            Plan::default()
        );
    }

    #[test]
    fn restarted_and_reloaded_always_act() {
        let up = parse_probe(SYSTEMD_UP);
        let down = parse_probe(SYSV_DOWN);
        assert_eq!(
            decide(&want(Some("restarted"), None), &up).unwrap().action,
            Some(Action::Restart)
        );
        assert_eq!(
            decide(&want(Some("reloaded"), None), &up).unwrap().action,
            Some(Action::Reload)
        );
        // a stopped service is started, as Ansible does
        assert_eq!(
            decide(&want(Some("reloaded"), None), &down).unwrap().action,
            Some(Action::Start)
        );
    }

    #[test]
    fn unknown_service_is_named() {
        let st = parse_probe("uid=0\ninit=sysv\n");
        let e = decide(&want(Some("started"), None), &st).unwrap_err();
        assert!(
            e.contains("Could not find the requested service cron"),
            "{e}"
        );
        assert!(e.contains("/etc/init.d/cron"), "{e}");
    }

    #[test]
    fn masking() {
        let masked = parse_probe(
            "init=systemd\nsd.Id=cron.service\nsd.LoadState=masked\nsd.ActiveState=inactive\nis_enabled_rc=1\nis_enabled=masked\n",
        );
        assert!(masked.masked() && !masked.enabled());
        let mut w = want(Some("started"), None);
        assert!(decide(&w, &masked).unwrap_err().contains("masked"));
        w.masked = Some(false);
        assert_eq!(
            decide(&w, &masked).unwrap(),
            Plan {
                unmask: true,
                action: Some(Action::Start),
                ..Default::default()
            }
        );
        let up = parse_probe(SYSTEMD_UP);
        let w = Want {
            masked: Some(true),
            state: Some("stopped".into()),
            ..want(None, None)
        };
        assert_eq!(
            decide(&w, &up).unwrap(),
            Plan {
                action: Some(Action::Stop),
                mask: true,
                ..Default::default()
            }
        );
        let down = parse_probe(SYSV_DOWN);
        assert!(decide(&w, &down).unwrap_err().contains("without systemd"));
    }

    #[test]
    fn static_units_cannot_be_disabled() {
        let st = parse_probe(
            "init=systemd\nsd.Id=x.service\nsd.LoadState=loaded\nsd.ActiveState=inactive\nis_enabled_rc=0\nis_enabled=static\n",
        );
        assert!(st.enabled());
        assert_eq!(
            decide(&want(None, Some(true)), &st).unwrap(),
            Plan::default()
        );
        assert!(
            decide(&want(None, Some(false)), &st)
                .unwrap_err()
                .contains("static")
        );
    }

    #[test]
    fn diff_text() {
        let w = want(Some("started"), Some(true));
        assert_eq!(
            state_text(&w, false, false, false, None),
            "state: stopped\nenabled: no\n"
        );
        assert_eq!(
            state_text(&w, true, true, false, Some(Action::Start)),
            "state: started\nenabled: yes\n"
        );
        let w = want(Some("restarted"), None);
        assert_eq!(
            state_text(&w, true, true, false, Some(Action::Restart)),
            "state: restarted\n"
        );
    }

    #[test]
    fn scripts_quote_the_name_and_use_the_right_tools() {
        let w = want(Some("started"), Some(true));
        let p = &sysfacts::plan(&[Need::Unit {
            scope: "system".into(),
            name: "cron".into(),
        }])[0]
            .1;
        assert!(p.contains("for sv in cron; do"), "{p}");
        assert!(p.contains("systemctl show --no-pager"));
        let down = parse_probe(SYSV_DOWN);
        let plan = decide(&w, &down).unwrap();
        let c = change_script(&w, &down, &plan);
        assert!(
            c.contains("then update-rc.d \"$sv\" enable; else update-rc.d \"$sv\" defaults; fi")
        );
        assert!(c.contains("service \"$sv\" start"));
        assert!(!c.contains("systemctl"));
        let up = parse_probe(SYSTEMD_UP);
        let w = want(Some("stopped"), Some(false));
        let plan = decide(&w, &up).unwrap();
        let c = change_script(&w, &up, &plan);
        assert!(c.contains("n=cron.service\n"));
        assert!(c.contains("systemctl disable -- \"$n\""));
        assert!(c.contains("systemctl stop -- \"$n\""));
        assert!(!valid_name("a b") && !valid_name("-x") && valid_name("getty@tty1.service"));
    }

    #[test]
    fn failures_are_parsed() {
        let f = parse_failure("failed=start\nrc=1\nout=Job for x failed.\njournal=x: bad config\n")
            .unwrap();
        assert_eq!(f.0, "start");
        assert_eq!(f.1, "1");
        assert_eq!(f.2, vec!["Job for x failed."]);
        assert_eq!(f.3, vec!["x: bad config"]);
        assert!(parse_failure("status_rc=0\n").is_none());
    }
}
