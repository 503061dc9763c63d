//! Is a deploy lock's holder still alive? The lock ([`LockRecord`]) records the
//! controller that took it (machine id, boot id) and its process (pid, start
//! time). On that same machine a holder is provably dead when the boot changed,
//! its pid is gone (or a zombie), or the pid now belongs to a process started at
//! another time (reused). On another machine nothing can be proven.

use super::LockRecord;

/// What this machine can tell of a lock's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HolderState {
    /// Its process runs (on this machine).
    Alive,
    /// Provably gone: why.
    Dead(String),
    /// Taken elsewhere (or by an opsctl that did not record where): why unknown.
    Unknown(String),
}

/// This controller: `/etc/machine-id` and the boot id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    pub machine: String,
    pub boot: String,
}

impl Controller {
    /// Reads this machine's ids (the hostname when there is no machine id).
    pub fn here() -> Controller {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let machine = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
            .iter()
            .map(|p| read(p))
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| format!("host:{}", read("/proc/sys/kernel/hostname")));
        Controller {
            machine,
            boot: read("/proc/sys/kernel/random/boot_id"),
        }
    }
}

/// The start time (clock ticks since boot, field 22 of `/proc/PID/stat`) of a
/// running process; None when there is none, or it is a zombie (killed, not yet
/// reaped: it does nothing any more).
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<u64> {
    // `pid (comm) state ...`: comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first().is_none_or(|s| *s == "Z" || *s == "X") {
        return None;
    }
    // Fields 3.. of the man page: state is 3, starttime 22.
    fields.get(22 - 3)?.parse().ok()
}

/// Is the process that took `lock` alive? `start_of` gives a pid's start time on
/// this machine ([`process_start`]).
pub fn holder_state(
    lock: &LockRecord,
    here: &Controller,
    start_of: impl Fn(u32) -> Option<u64>,
) -> HolderState {
    if lock.machine.is_empty() {
        return HolderState::Unknown(
            "the lock does not say which machine took it (an older opsctl)".into(),
        );
    }
    if lock.machine != here.machine {
        return HolderState::Unknown(format!(
            "taken on another machine ({}, pid {})",
            lock.user, lock.pid
        ));
    }
    if !lock.boot.is_empty() && lock.boot != here.boot {
        return HolderState::Dead(format!(
            "this machine restarted since: its process {} is gone",
            lock.pid
        ));
    }
    match start_of(lock.pid) {
        None => HolderState::Dead(format!("its process {} is gone", lock.pid)),
        Some(s) if s != lock.start => HolderState::Dead(format!(
            "its process {} is gone (the pid is now another process's)",
            lock.pid
        )),
        Some(_) => HolderState::Alive,
    }
}

/// The record of a lock taken now by this process.
pub fn record_here(user: String, time: String, git_ref: &str, action: &str) -> LockRecord {
    let here = Controller::here();
    let pid = std::process::id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    LockRecord {
        user,
        time,
        git_ref: git_ref.to_string(),
        pid,
        action: action.to_string(),
        token: format!("{pid}-{nanos}"),
        machine: here.machine,
        boot: here.boot,
        start: process_start(pid).unwrap_or(0),
        release: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(machine: &str, boot: &str, pid: u32, start: u64) -> LockRecord {
        LockRecord {
            user: "alice@ctl".into(),
            time: "2024-01-01T00:00:00Z".into(),
            git_ref: "B".into(),
            pid,
            action: "deploy".into(),
            token: "t".into(),
            machine: machine.into(),
            boot: boot.into(),
            start,
            release: "20240101000000-bbbbbbb".into(),
        }
    }

    #[test]
    fn a_holder_is_dead_only_when_provably_so() {
        let here = Controller {
            machine: "m1".into(),
            boot: "b1".into(),
        };
        let running = |pid: u32| (pid == 10).then_some(500);
        assert_eq!(
            holder_state(&lock("m1", "b1", 10, 500), &here, running),
            HolderState::Alive
        );
        // pid gone; pid reused by a process started later; rebooted.
        for (l, why) in [
            (lock("m1", "b1", 11, 500), "process 11 is gone"),
            (lock("m1", "b1", 10, 499), "now another process's"),
            (lock("m1", "b0", 10, 500), "restarted"),
        ] {
            match holder_state(&l, &here, running) {
                HolderState::Dead(m) => assert!(m.contains(why), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        // Another machine, or no machine recorded: nothing is proven.
        assert!(matches!(
            holder_state(&lock("m2", "b1", 11, 0), &here, running),
            HolderState::Unknown(_)
        ));
        assert!(matches!(
            holder_state(&lock("", "", 11, 0), &here, running),
            HolderState::Unknown(_)
        ));
    }

    #[test]
    fn reads_this_process_and_its_stat() {
        let me = process_start(std::process::id());
        assert!(me.is_some_and(|s| s > 0), "{me:?}");
        let here = Controller::here();
        assert!(!here.machine.is_empty());
        let mut l = record_here("u".into(), "t".into(), "main", "deploy");
        assert_eq!(holder_state(&l, &here, process_start), HolderState::Alive);
        l.start += 1;
        assert!(matches!(
            holder_state(&l, &here, process_start),
            HolderState::Dead(_)
        ));
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19";
        assert_eq!(parse_stat(stat), Some(777));
        assert_eq!(parse_stat(&stat.replace(") S ", ") Z ")), None);
    }
}
