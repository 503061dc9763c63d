//! The SSH transport when things go wrong, through the real binary on test-bed
//! hosts: a host that freezes mid-command, SIGTERM (a cancelled CI job), a
//! SIGKILLed opsctl (no secret left on disk, leftovers swept by the next run), a
//! changed host key stored under a HostKeyAlias, and remote commands that die.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::common::{OPSCTL, Run, Testbed, pids_with};

/// Starts opsctl in the test bed's project with its own control directory
/// (`<runtime>/opsctl`), stdout and stderr piped.
fn spawn(tb: &Testbed, runtime: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut c = Command::new(OPSCTL);
    c.args(args)
        .current_dir(tb.project.path())
        .env("XDG_RUNTIME_DIR", runtime)
        .env("NO_COLOR", "1")
        .env_remove("OPSCTL_ENV")
        .env_remove("OPSCTL_PROJECT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().expect("start opsctl")
}

/// Waits (at most `secs`) until `ready` holds; panics with `what` otherwise.
#[track_caller]
fn wait_until(secs: u64, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `pattern` (a `pgrep -f` regex) runs on the host.
#[track_caller]
fn wait_remote(tb: &Testbed, host: &str, pattern: &str) {
    wait_until(30, &format!("`{pattern}` never ran on {host}"), || {
        tb.exec(host, &format!("pgrep -f '{pattern}'")).code == 0
    });
}

/// PIDs of the ProxyCommands (socat) reaching into a host's network namespace.
fn proxies_into(ns: &str) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    let target = std::fs::metadata(format!("/run/netns/{ns}")).unwrap().ino();
    pids_with("socat")
        .into_iter()
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| m.ino() == target)
        })
        .collect()
}

fn signal(child: &Child, sig: rustix::process::Signal) {
    rustix::process::kill_process(rustix::process::Pid::from_child(child), sig).unwrap();
}

/// The network namespace of a test-bed host (from the test bed's state file).
fn netns(tb: &Testbed, host: &str) -> String {
    let state = std::fs::read_to_string(tb.env_dir.join(".testbed/state")).unwrap();
    state
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[0] == "host" && f[1] == host).then(|| f[2].to_string())
        })
        .unwrap_or_else(|| panic!("{host} not in the test bed's state:\n{state}"))
}

/// A test-bed host frozen whole (every process in its cgroup stops, as a hung VM
/// would), thawed when dropped.
struct Frozen {
    /// `cgroup.freeze` of the host's cgroup v2, or else the PIDs sent SIGSTOP.
    freeze_file: Option<PathBuf>,
    stopped: Vec<i32>,
}

impl Frozen {
    fn host(tb: &Testbed, host: &str) -> Frozen {
        let ns = netns(tb, host);
        let state = std::fs::read_to_string(tb.env_dir.join(".testbed/state")).unwrap();
        let cgroups: Vec<PathBuf> = state
            .lines()
            .filter_map(|l| l.strip_prefix("cgroup "))
            .map(PathBuf::from)
            .filter(|p| p.ends_with(&ns))
            .collect();
        assert!(!cgroups.is_empty(), "no cgroup for {host}:\n{state}");
        if let Some(file) = cgroups
            .iter()
            .map(|c| c.join("cgroup.freeze"))
            .find(|f| f.exists())
        {
            std::fs::write(&file, "1").unwrap();
            let events = file.with_file_name("cgroup.events");
            wait_until(10, "the host never froze", || {
                std::fs::read_to_string(&events).is_ok_and(|e| e.contains("frozen 1"))
            });
            return Frozen {
                freeze_file: Some(file),
                stopped: vec![],
            };
        }
        // No cgroup v2 freezer: stop every process of the host instead.
        let procs = std::fs::read_to_string(cgroups[0].join("cgroup.procs")).unwrap();
        let stopped: Vec<i32> = procs.lines().filter_map(|p| p.parse().ok()).collect();
        for &pid in &stopped {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).unwrap(),
                rustix::process::Signal::STOP,
            );
        }
        Frozen {
            freeze_file: None,
            stopped,
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Some(f) = &self.freeze_file {
            let _ = std::fs::write(f, "0");
        }
        for &pid in &self.stopped {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).unwrap(),
                rustix::process::Signal::CONT,
            );
        }
    }
}

/// Waits for opsctl to exit (a bound against a hang, not a timing assertion).
fn finish(mut child: Child, secs: u64) -> Run {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "opsctl still running after {secs} s\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Run::from(child.wait_with_output().unwrap())
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn a_frozen_host_is_reported_as_not_answering_keepalives() {
    let tb = Testbed::up(2);
    // A keep-alive after each second of silence; ssh gives up when two went
    // unanswered, 3 s after the host's last word.
    tb.write(
        "environments/tb/group_vars/all.yml",
        "ansible_ssh_common_args: -o ServerAliveInterval=1 -o ServerAliveCountMax=2\n",
    );
    tb.write(
        "playbooks/long.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: long\n      command: sleep 6\n    - name: after\n      command: echo after\n",
    );
    let runtime = tempfile::tempdir().unwrap();
    let child = spawn(&tb, runtime.path(), &["run", "long", "--env", "tb"], &[]);
    wait_remote(&tb, "host1", "^sleep 6$");
    let frozen = Frozen::host(&tb, "host1");
    let run = finish(child, 60);
    drop(frozen);
    run.code(4).no_panic();
    run.stdout_has("no answer to keep-alives for 3 s");
    run.stdout_has("ServerAliveInterval");
    assert!(
        !run.stdout.contains("remote process"),
        "a frozen host is not a killed process:\n{}",
        run.stdout
    );
    // host2 went on unaffected, and host1 is counted unreachable in the recap.
    let recap = run.stdout.split("RECAP").nth(1).expect("a recap");
    let line = |h: &str| {
        recap
            .lines()
            .find(|l| l.trim_start().starts_with(h))
            .unwrap_or_else(|| panic!("no {h} in the recap:\n{recap}"))
            .to_string()
    };
    assert!(line("host1").contains("unreachable=1"), "{recap}");
    assert!(
        line("host2").contains("ok=2") && line("host2").contains("unreachable=0"),
        "{recap}"
    );
    // Nothing of the dead master is left.
    assert!(
        files_in(&runtime.path().join("opsctl")).is_empty(),
        "{:?}",
        files_in(&runtime.path().join("opsctl"))
    );
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn sigterm_stops_like_ctrl_c_recap_journal_masters_and_proxycommands() {
    let tb = Testbed::up(1);
    // A second host whose connection hangs in its ProxyCommand when SIGTERM comes.
    tb.add_host_via("slow", "sleep 47.5");
    tb.write(
        "playbooks/slow.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: long\n      command: sleep 5\n",
    );
    let runtime = tempfile::tempdir().unwrap();
    let control = runtime.path().join("opsctl");
    let ns = netns(&tb, "host1");
    let child = spawn(&tb, runtime.path(), &["run", "slow", "--env", "tb"], &[]);
    wait_remote(&tb, "host1", "^sleep 5$");
    assert_eq!(proxies_into(&ns).len(), 1, "host1's ProxyCommand runs");
    assert_eq!(pids_with("sleep 47.5").len(), 1, "slow's ProxyCommand runs");
    signal(&child, rustix::process::Signal::TERM);
    let run = finish(child, 10);
    run.code(143).no_panic();
    run.stdout_has("RECAP");
    run.stderr_has("interrupted");
    assert!(files_in(&control).is_empty(), "{:?}", files_in(&control));
    let gone = |needle: &str| pids_with(needle).is_empty();
    wait_until(5, "a master or ProxyCommand outlived opsctl", || {
        gone(&control.to_string_lossy()) && proxies_into(&ns).is_empty() && gone("sleep 47.5")
    });
    // The journal records the run as interrupted, with the exit status.
    let runs = tb.project.path().join(".opsctl/runs");
    let mut records: Vec<PathBuf> = files_in(&runs)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl") && !p.ends_with("index.jsonl"))
        .collect();
    records.sort();
    let text = std::fs::read_to_string(records.last().expect("a journal record")).unwrap();
    let end: Json = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .find(|l| l["type"] == "end")
        .unwrap_or_else(|| panic!("no end record:\n{text}"));
    assert_eq!(end["status"], "interrupted", "{end}");
    assert_eq!(end["exit"], 143, "{end}");
}

/// Every regular file under `dir` (not following links), skipping test-bed host
/// trees (a host's own disk).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(t) = e.file_type() else { continue };
        let p = e.path();
        if t.is_dir() && e.file_name() != ".testbed" {
            walk(&p, out);
        } else if t.is_file() {
            out.push(p);
        }
    }
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn no_secret_on_disk_after_sigkill_and_the_next_run_sweeps_leftovers() {
    let tb = Testbed::up(1);
    let started = std::time::SystemTime::now();
    let canary = format!("Canary-{}-tr4nsport", std::process::id());
    let key = tb.age_key();
    let home = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let home_env = home.path().to_str().unwrap();
    let env = [("OPSCTL_AGE_KEY", key.as_str()), ("HOME", home_env)];
    let mut setter = Command::new(OPSCTL)
        .args(["secrets", "set", "--env", "tb", "app_secret"])
        .current_dir(tb.project.path())
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    setter
        .stdin
        .take()
        .unwrap()
        .write_all(canary.as_bytes())
        .unwrap();
    assert!(setter.wait().unwrap().success(), "secrets set");
    tb.write(
        "playbooks/canary.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: a command holding the secret\n      shell: \"sleep 30; echo {{ app_secret }} >/dev/null\"\n",
    );
    // A leftover of an older opsctl that died: a log file of a PID that is free.
    let control = runtime.path().join("opsctl");
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    std::fs::create_dir_all(&control).unwrap();
    std::fs::write(control.join(format!("{dead}-0.log")), "debug1: old\n").unwrap();

    let child = spawn(&tb, runtime.path(), &["run", "canary", "--env", "tb"], &env);
    wait_remote(&tb, "host1", "^sleep 30$");
    let pid = child.id();
    signal(&child, rustix::process::Signal::KILL);
    let _ = finish(child, 10);

    // What the killed run left: its master's socket (private), and no file with
    // the secret anywhere opsctl writes (control dir, project, home, /tmp).
    let socket = control.join(format!("{pid}-0"));
    assert!(socket.exists(), "{:?}", files_in(&control));
    for f in files_in(&control) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::symlink_metadata(&f).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is not private", f.display());
    }
    let mut files = vec![];
    for dir in [
        runtime.path(),
        tb.project.path(),
        home.path(),
        Path::new("/tmp"),
    ] {
        walk(dir, &mut files);
    }
    let mut read = 0;
    for f in files {
        let Ok(meta) = std::fs::metadata(&f) else {
            continue;
        };
        let recent = meta.modified().is_ok_and(|m| m >= started);
        if !recent || meta.len() > 16 << 20 {
            continue;
        }
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        read += 1;
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&canary),
            "{} holds the secret",
            f.display()
        );
    }
    assert!(read > 0, "the search read files");
    let master = pids_with(&socket.to_string_lossy());
    assert_eq!(
        master.len(),
        1,
        "the killed run's master lingers: {master:?}"
    );

    // The next run stops that master and removes every stale file.
    let mut next = spawn(&tb, runtime.path(), &["ping", "--env", "tb"], &env);
    let mut out = String::new();
    next.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(next.wait().unwrap().code(), Some(0), "{out}");
    assert!(out.contains("host1 | pong"), "{out}");
    assert!(files_in(&control).is_empty(), "{:?}", files_in(&control));
    wait_until(5, "the stale master still runs", || {
        pids_with(&socket.to_string_lossy()).is_empty()
    });
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn a_changed_host_key_stored_under_a_host_key_alias_names_the_alias() {
    let tb = Testbed::up(1);
    // The user's ssh_config stores host1's key under another name.
    let cfg = tb.read("environments/tb/ssh_config");
    assert!(cfg.contains("HostKeyAlias host1\n"), "{cfg}");
    tb.write(
        "environments/tb/ssh_config",
        &cfg.replace("HostKeyAlias host1\n", "HostKeyAlias db-primary.key\n"),
    );
    let known = tb.env_dir.join("known_hosts");
    let keys = std::fs::read_to_string(&known).unwrap();
    std::fs::write(&known, keys.replace("host1 ", "db-primary.key ")).unwrap();
    tb.opsctl(&["ping", "--env", "tb"]).code(0);
    // The host is "reinstalled": new host keys.
    tb.new_host_keys("host1");
    let run = tb.opsctl(&["ping", "--env", "tb"]);
    run.code(4).no_panic();
    run.stdout_has("host1 | UNREACHABLE: the host key has CHANGED");
    run.stdout_has("known_hosts:1");
    run.stdout_has("`ssh-keygen -R db-primary.key -f ");
    // The hinted command is right: run as given (where opsctl ran), it removes
    // the old key.
    let hinted = run
        .stdout
        .split('`')
        .find(|s| s.starts_with("ssh-keygen -R "))
        .unwrap();
    let st = Command::new("sh")
        .args(["-c", hinted])
        .current_dir(tb.project.path())
        .output()
        .unwrap();
    assert!(st.status.success(), "{hinted}: {st:?}");
    let left = std::fs::read_to_string(&known).unwrap();
    assert!(!left.contains("db-primary.key"), "{hinted} left:\n{left}");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn a_remote_command_killed_by_a_signal_or_not_found_fails_the_task_not_the_connection() {
    let tb = Testbed::up(1);
    tb.write(
        "playbooks/dies.yml",
        r#"- hosts: web
  gather_facts: false
  tasks:
    - name: killed
      shell: kill -9 $$
      ignore_errors: true
    - name: not found
      command: no-such-command-here
      ignore_errors: true
    - name: still connected
      command: echo still-connected
"#,
    );
    let run = tb.opsctl(&["run", "dies", "--env", "tb"]);
    run.no_panic();
    run.stdout_has("killed by a signal");
    run.stdout_has("127");
    run.stdout_has("host1 | changed | still connected");
    assert!(
        !run.stdout.contains("connection was lost") && !run.stdout.contains("UNREACHABLE"),
        "{}",
        run.stdout
    );
    run.code(0);
}

/// A host that waits through other hosts' plays longer than ControlPersist
/// keeps its connection: opsctl keeps an idle master alive while it runs
/// (here ControlPersist is 3 s, and host1 waits 8 s for host2's play).
#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn an_idle_host_keeps_its_connection_through_a_long_play_of_another() {
    let tb = Testbed::up(2);
    tb.write(
        "playbooks/turns.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - command: 'true'\n\
         - hosts: host2\n  gather_facts: false\n  tasks:\n    - command: sleep 8\n\
         - hosts: host1\n  gather_facts: false\n  tasks:\n    - command: echo back\n",
    );
    let runtime = tempfile::tempdir().unwrap();
    let child = spawn(
        &tb,
        runtime.path(),
        &["run", "turns", "--env", "tb"],
        &[("OPSCTL_SSH_CONTROL_PERSIST", "3")],
    );
    let run = finish(child, 120);
    run.code(0).no_panic();
    let recap = run.stdout.split("RECAP").nth(1).expect("a recap");
    assert!(
        recap.lines().any(|l| l.trim_start().starts_with("host1")
            && l.contains("ok=2")
            && l.contains("unreachable=0")),
        "{}",
        run.stdout
    );
}

/// A finished run stops its masters over their sockets: the only `ssh`
/// processes it starts are the masters, one per host (no `ssh -O exit` each),
/// and nothing is left: no master, no ProxyCommand, no socket.
#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn a_finished_run_stops_its_masters_without_starting_another_ssh() {
    use std::os::unix::fs::PermissionsExt;
    let tb = Testbed::up(2);
    tb.write(
        "playbooks/two.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - command: 'true'\n    - command: echo two\n",
    );
    // The real ssh, behind a wrapper that notes how it is called.
    let bin = tempfile::tempdir().unwrap();
    let calls = bin.path().join("calls");
    let wrapper = bin.path().join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec /usr/bin/ssh \"$@\"\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let runtime = tempfile::tempdir().unwrap();
    let control = runtime.path().join("opsctl");
    let ns = netns(&tb, "host1");
    let child = spawn(
        &tb,
        runtime.path(),
        &["run", "two", "--env", "tb"],
        &[("PATH", &path)],
    );
    let run = finish(child, 120);
    run.code(0).no_panic();
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    let started: Vec<&str> = calls.lines().collect();
    assert_eq!(started.len(), 2, "one ssh per host:\n{calls}");
    assert!(
        started.iter().all(|l| l.starts_with("-M -N -f ")),
        "only masters:\n{calls}"
    );
    assert!(files_in(&control).is_empty(), "{:?}", files_in(&control));
    wait_until(5, "a master or ProxyCommand outlived opsctl", || {
        pids_with(&control.to_string_lossy()).is_empty() && proxies_into(&ns).is_empty()
    });
}
