//! reboot (ansible.builtin.reboot): reboot the host, wait until it is back,
//! and go on with the play over a new connection.
//!
//! On the module protocol: nothing is read to decide (a reboot always
//! changes the host); the plan is an `Action::Reboot`, run by the engine
//! (`engine::local::reboot`): the boot id read with `boot_time_command`, the
//! reboot command run, then the host's SSH master replaced until the boot id
//! differs and `test_command` succeeds. In check mode nothing runs and the
//! task reports changed. Registers `rebooted` and `elapsed` (seconds).

use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Change, Ctx, Facts, InCheck, Module, Need, Plan, Reboot};
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static REBOOT: Spec = Spec::new(
    "reboot",
    &[
        ArgSpec::new("boot_time_command", Kind::Str),
        ArgSpec::new("connect_timeout", Kind::Int),
        ArgSpec::new("msg", Kind::Str),
        ArgSpec::new("post_reboot_delay", Kind::Int).aliases(&["post_reboot_delay_sec"]),
        ArgSpec::new("pre_reboot_delay", Kind::Int).aliases(&["pre_reboot_delay_sec"]),
        ArgSpec::new("reboot_command", Kind::Str),
        ArgSpec::new("reboot_timeout", Kind::Int).aliases(&["reboot_timeout_sec"]),
        ArgSpec::new("search_paths", Kind::List),
        ArgSpec::new("test_command", Kind::Str),
    ],
);

const SEARCH_PATHS: &[&str] = &["/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin"];

pub struct RebootModule;

/// The command that reboots: `shutdown -r +M "msg"` (after the delay's
/// seconds past a whole minute) found in the search paths, or the user's
/// `reboot_command`, whose program is looked up in them too.
fn reboot_command(args: &Args, paths: &[String]) -> Result<String, Fail> {
    let path = paths.join(":");
    if let Some(cmd) = args.str("reboot_command") {
        if cmd.trim().is_empty() {
            return fail::bad_args("reboot_command must not be empty");
        }
        return Ok(format!("PATH={}:\"$PATH\"; {cmd}", shell_quote(&path)));
    }
    let delay = match args.int("pre_reboot_delay").unwrap_or(0) {
        n if n < 0 => return fail::bad_args("pre_reboot_delay must not be negative"),
        n => n as u64,
    };
    let msg = args.str("msg").unwrap_or("Reboot initiated by opsctl");
    let (min, sec) = (delay / 60, delay % 60);
    let when = if min == 0 {
        "now".to_string()
    } else {
        format!("+{min}")
    };
    let sleep = if sec > 0 {
        format!("sleep {sec}; ")
    } else {
        String::new()
    };
    Ok(format!(
        "for d in {dirs}; do if [ -x \"$d/shutdown\" ]; then {sleep}exec \"$d/shutdown\" -r {when} {msg}; fi; done; \
         echo 'shutdown not found in '{path}' (search_paths)' >&2; exit 127",
        dirs = paths
            .iter()
            .map(|p| shell_quote(p))
            .collect::<Vec<_>>()
            .join(" "),
        msg = shell_quote(msg),
        path = shell_quote(&path),
    ))
}

impl Module for RebootModule {
    fn needs(&self, _: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![])
    }

    /// The host goes away and comes back: read nothing ahead past it.
    fn predictable(&self, _: &Args) -> bool {
        false
    }

    fn decide(&self, args: &Args, _: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let secs = |name: &str, default: i64| fail::non_negative(args, name, default);
        let mut paths = args.strings("search_paths");
        if args.get("search_paths").is_none() {
            paths = SEARCH_PATHS.iter().map(|p| p.to_string()).collect();
        }
        if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
            return fail::bad_args(format!("search_paths: '{p}' is not an absolute path"));
        }
        let nonempty = |name: &str, default: &str| -> Result<String, Fail> {
            match args.str(name) {
                Some(c) if c.trim().is_empty() => {
                    fail::bad_args(format!("{name} must not be empty"))
                }
                Some(c) => Ok(c.to_string()),
                None => Ok(default.to_string()),
            }
        };
        let r = Reboot {
            reboot_command: reboot_command(args, &paths)?,
            boot_time_command: nonempty(
                "boot_time_command",
                "cat /proc/sys/kernel/random/boot_id",
            )?,
            test_command: nonempty("test_command", "whoami")?,
            post_reboot_delay: secs("post_reboot_delay", 0)?,
            reboot_timeout: secs("reboot_timeout", 600)?.max(1),
            connect_timeout: match args.int("connect_timeout") {
                Some(n) if n <= 0 => return fail::bad_args("connect_timeout must be positive"),
                n => n.map(|n| n as u64),
            },
        };
        Ok(Plan::Change(Box::new(Change {
            outcome: Outcome::changed().with("rebooted", true),
            action: Action::Reboot(r),
            in_check: InCheck::Changed,
        })))
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        match result {
            Applied::Rebooted(d) => Ok(planned.with("elapsed", d.as_secs())),
            _ => Ok(planned),
        }
    }
}
