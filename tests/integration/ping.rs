//! `opsctl ping` against real sshd hosts of the test bed.

use crate::common::{Project, Testbed};

#[test]
fn five_hosts_answer_pong_in_inventory_order() {
    let Some(tb) = Testbed::up(5) else { return };
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
fn a_host_with_sshd_stopped_is_unreachable_and_the_others_answer() {
    let Some(tb) = Testbed::up(3) else { return };
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
fn a_wrong_key_is_an_authentication_error() {
    let Some(tb) = Testbed::up(1) else { return };
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
fn a_changed_host_key_is_refused_naming_the_known_hosts_line() {
    let Some(tb) = Testbed::up(2) else { return };
    tb.opsctl(&["ping", "--env", "tb"]).code(0);
    // The host is "reinstalled": new host keys.
    tb.exec(
        "host2",
        "rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null && service ssh restart",
    )
    .code(0);
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
fn become_goes_through_sudo_and_a_password_prompt_is_a_clear_error() {
    let Some(tb) = Testbed::up(1) else { return };
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
