//! `opsctl ping` against real sshd hosts of the test bed.

use crate::common::{Project, Testbed, pids_with};

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn five_hosts_answer_pong_in_inventory_order() {
    let tb = Testbed::up(5);
    let run = tb.opsctl(&["ping", "--env", "tb"]);
    run.code(0).no_panic();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "host1 | pong",
            "host2 | pong",
            "host3 | pong",
            "host4 | pong",
            "host5 | pong"
        ],
        "{}",
        run.stderr
    );

    // --limit and JSON output
    let run = tb.opsctl(&[
        "ping",
        "--env",
        "tb",
        "--limit",
        "host2:host4",
        "--output",
        "json",
    ]);
    run.code(0);
    let docs: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["host"], "host2");
    assert_eq!(docs[0]["status"], "pong");
    assert_eq!(docs[1]["host"], "host4");
    assert_eq!(docs[1]["user"], "root");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn a_host_with_sshd_stopped_is_unreachable_and_the_others_answer() {
    let tb = Testbed::up(3);
    tb.exec("host2", "service ssh stop").code(0);
    let run = tb.opsctl(&["ping", "--env", "tb"]);
    run.code(4).no_panic();
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("    "))
        .collect();
    assert_eq!(lines[0], "host1 | pong");
    assert!(
        lines[1].starts_with("host2 | UNREACHABLE: connection refused"),
        "{}",
        run.stdout
    );
    assert_eq!(lines[2], "host3 | pong");
    run.stdout_has("hint: is sshd running");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn a_wrong_key_is_an_authentication_error() {
    let tb = Testbed::up(1);
    // Take the key out of ssh_config and give it through the inventory instead:
    // first the right key (pong), then a key the host does not know.
    let cfg = tb.read("environments/tb/ssh_config");
    let cfg: String = cfg
        .lines()
        .filter(|l| !l.trim_start().starts_with("IdentityFile"))
        .map(|l| format!("{l}\n"))
        .collect();
    tb.write("environments/tb/ssh_config", &cfg);
    let key = tb.env_dir.join("id_ed25519");
    tb.write(
        "environments/tb/group_vars/all.yml",
        &format!("ansible_ssh_private_key_file: {}\n", key.display()),
    );
    tb.opsctl(&["ping", "--env", "tb"])
        .code(0)
        .stdout_has("host1 | pong");

    let wrong = tb.project.path().join("wrong_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&wrong)
        .status()
        .unwrap();
    assert!(st.success());
    tb.write(
        "environments/tb/group_vars/all.yml",
        &format!("ansible_ssh_private_key_file: {}\n", wrong.display()),
    );
    let run = tb.opsctl(&["ping", "--env", "tb"]);
    run.code(4)
        .no_panic()
        .stdout_has("host1 | UNREACHABLE: authentication failed")
        .stdout_has("ansible_ssh_private_key_file");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn a_changed_host_key_is_refused_naming_the_known_hosts_line() {
    let tb = Testbed::up(2);
    tb.opsctl(&["ping", "--env", "tb"]).code(0);
    // The host is "reinstalled": new host keys.
    tb.new_host_keys("host2");
    let run = tb.opsctl(&["ping", "--env", "tb"]);
    run.code(4).no_panic();
    run.stdout_has("host1 | pong");
    let known = tb.env_dir.join("known_hosts");
    let line = std::fs::read_to_string(&known)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("host2 "))
        .unwrap()
        + 1;
    run.stdout_has("host2 | UNREACHABLE: the host key has CHANGED");
    run.stdout_has(&format!("known_hosts:{line}"));
    run.stdout_has("ssh-keygen -R host2");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn become_goes_through_sudo_and_a_password_prompt_is_a_clear_error() {
    let tb = Testbed::up(1);
    tb.write(
        "environments/tb/host_vars/host1.yml",
        "ansible_user: deploy\nansible_become: yes\n",
    );
    tb.opsctl(&["ping", "--env", "tb", "-v"])
        .code(0)
        .stdout_has("host1 | pong")
        .stderr_has("as root");

    tb.write(
        "environments/tb/host_vars/host1.yml",
        "ansible_user: needpw\nansible_become: true\n",
    );
    let run = tb.opsctl(&["ping", "--env", "tb"]);
    run.code(2)
        .no_panic()
        .stdout_has("host1 | FAILED: sudo needs a password to become root")
        .stdout_has("NOPASSWD");
}

#[test]
fn local_connection_needs_no_ssh() {
    let p = Project::new(&[(
        "environments/dev/hosts",
        "[web]\nlocalhost ansible_connection=local\n",
    )]);
    p.opsctl(&["ping", "--env", "dev"])
        .code(0)
        .stdout_has("localhost | pong");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn unknown_host_keys_are_refused_unless_the_environment_says_accept_new() {
    let tb = Testbed::up(1);
    // An ssh_config that does not choose a policy, and an empty known_hosts.
    let cfg = tb.read("environments/tb/ssh_config");
    let cfg: String = cfg
        .lines()
        .filter(|l| !l.trim_start().starts_with("StrictHostKeyChecking"))
        .map(|l| format!("{l}\n"))
        .collect();
    tb.write("environments/tb/ssh_config", &cfg);
    tb.write("environments/tb/known_hosts", "");
    let run = tb.opsctl(&["ping", "--env", "tb"]);
    run.code(4)
        .no_panic()
        .stdout_has("host1 | UNREACHABLE: the host key is not known")
        .stdout_has("accept-new");

    tb.write(
        "environments/tb/group_vars/all.yml",
        "ansible_host_key_checking: accept-new\n",
    );
    tb.opsctl(&["ping", "--env", "tb"])
        .code(0)
        .stdout_has("host1 | pong");
    assert!(
        tb.read("environments/tb/known_hosts")
            .contains("ssh-ed25519"),
        "accept-new records the key"
    );
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn ctrl_c_stops_cleanly_and_closes_every_master() {
    use std::io::Read;
    let tb = Testbed::up(1);
    // A second host whose connection hangs (its ProxyCommand never answers).
    tb.add_host_via("slow", "sleep 8");
    let runtime = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(crate::common::OPSCTL)
        .args(["ping", "--env", "tb"])
        .current_dir(tb.project.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let control = runtime.path().join("opsctl");
    // Wait until host1's master is up (its socket exists), then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let sockets = std::fs::read_dir(&control).map(|d| {
            d.flatten()
                .filter(|e| !e.path().to_string_lossy().ends_with(".log"))
                .count()
        });
        if sockets.unwrap_or(0) >= 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let started = std::time::Instant::now();
    let status = child.wait().unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "Ctrl-C must stop at once"
    );
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(out.contains("host1 | pong"), "{out}");
    // No socket, no log, and no ssh process using that control directory is left.
    let left: Vec<_> = std::fs::read_dir(&control)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let needle = control.to_string_lossy().into_owned();
    assert_eq!(pids_with(&needle), Vec::<i32>::new(), "still running");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn kept_connections_are_reused_then_closed_by_disconnect() {
    let tb = Testbed::up(1);
    let runtime = tempfile::tempdir().unwrap();
    let control = runtime.path().join("opsctl");
    let needle = control.to_string_lossy().into_owned();
    let ping = |extra: &[&str]| {
        let out = std::process::Command::new(crate::common::OPSCTL)
            .arg("ping")
            .args(["--env", "tb"])
            .args(extra)
            .current_dir(tb.project.path())
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(text.contains("host1 | pong"), "{text}");
    };
    // Without the flag, nothing outlives the command.
    ping(&[]);
    assert!(pids_with(&needle).is_empty());

    ping(&["--keep-connections=1m"]);
    let first = pids_with(&needle);
    assert_eq!(first.len(), 1, "one master kept: {first:?}");
    // The next command reuses it: no second master, the same process.
    ping(&["--keep-connections"]);
    assert_eq!(pids_with(&needle), first, "the kept master is reused");

    // A kept master that died is replaced transparently.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(first[0]).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    ping(&["--keep-connections"]);
    let second = pids_with(&needle);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first);

    let out = std::process::Command::new(crate::common::OPSCTL)
        .arg("disconnect")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("closed 1 kept connection"), "{text}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !pids_with(&needle).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        pids_with(&needle).is_empty(),
        "disconnect closes the master"
    );
    let left: Vec<_> = std::fs::read_dir(&control)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
