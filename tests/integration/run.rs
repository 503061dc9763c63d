//! `opsctl run`: the task engine, through the real binary.

use crate::common::{Project, Testbed};

/// A project whose one host is the controller itself (ansible_connection=local).
pub(crate) fn local(playbook: &str) -> Project {
    let p = Project::new(&[
        (
            "environments/dev/hosts",
            "[web]\nweb1 ansible_connection=local\n",
        ),
        ("playbooks/site.yml", playbook),
    ]);
    let dir = p.path().join("work");
    std::fs::create_dir_all(&dir).unwrap();
    p.write(
        "environments/dev/group_vars/all.yml",
        &format!("dir: {}\n", dir.display()),
    );
    p
}

#[test]
fn keywords_when_loop_register_block_rescue_always() {
    let p = local(
        r#"
- hosts: web
  gather_facts: false
  vars:
    greeting: hello
  tasks:
    - name: say
      command: echo {{ greeting }}
      register: out
      changed_when: false
    - assert:
        that: ["out.stdout == 'hello'", "out.rc == 0"]
    - set_fact:
        doubled: "{{ out.stdout }}{{ out.stdout }}"
    - debug:
        msg: "doubled is {{ doubled }}"
    - name: append items
      shell: "echo {{ item }} >> {{ dir }}/items"
      loop: [a, b, c]
      args:
        creates: "{{ dir }}/items"
    - name: never runs
      command: "false"
      when: greeting == 'bye'
    - block:
        - name: breaks
          command: "false"
      rescue:
        - set_fact:
            rescued: yes
      always:
        - name: cleanup
          command: touch {{ dir }}/always
    - assert:
        that: rescued
"#,
    );
    let run = p.opsctl(&["run", "playbooks/site.yml", "--env", "dev"]);
    run.code(0).no_panic();
    let items = std::fs::read_to_string(p.path().join("work/items")).unwrap();
    assert_eq!(
        items, "a\n",
        "creates stops the loop after the first item:\n{}",
        run.stdout
    );
    assert!(p.path().join("work/always").exists());
    run.stdout_has("doubled is hellohello");
    run.stdout_has("web1  ok=");
    run.stdout_has("failed=0");
    run.stdout_has("rescued=1");
}

#[test]
fn check_mode_registers_typed_results_and_changes_nothing() {
    let p = local(
        r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: would write
      shell: echo x > {{ dir }}/written
      register: w
    - name: uses the registered result
      debug:
        msg: "rc={{ w.rc }} lines={{ w.stdout_lines | length }} skipped={{ w.skipped }}"
"#,
    );
    let run = p.opsctl(&["run", "site", "--env", "dev", "--check"]);
    run.code(0)
        .no_panic()
        .stdout_has("rc=0 lines=0 skipped=True");
    assert!(!p.path().join("work/written").exists());
}

#[test]
fn a_failure_exits_2_and_names_the_task_and_place() {
    let p = local(
        r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: uses an undefined variable
      command: echo {{ not_defined_anywhere }}
    - name: not reached
      command: touch {{ dir }}/reached
"#,
    );
    let run = p.opsctl(&["run", "site", "--env", "dev"]);
    run.code(2).no_panic();
    run.stdout_has("web1 | FAILED | uses an undefined variable (playbooks/site.yml:5:");
    run.stdout_has("not_defined_anywhere");
    assert!(!p.path().join("work/reached").exists());
    run.stdout_has("failed=1");
}

#[test]
fn an_unknown_keyword_is_an_error_before_anything_runs() {
    let p = local(
        "- hosts: web\n  tasks:\n    - name: x\n      command: touch {{ dir }}/ran\n      registr: out\n",
    );
    let run = p.opsctl(&["run", "site", "--env", "dev"]);
    run.code(1)
        .no_panic()
        .stderr_has("playbooks/site.yml:5:7")
        .stderr_has("registr")
        .stderr_has("register");
    assert!(!p.path().join("work/ran").exists());
}

#[test]
fn json_output_has_one_event_per_result_and_a_recap() {
    let p = local(
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: hi\n      command: echo hi\n",
    );
    let run = p.opsctl(&["run", "site", "--env", "dev", "--output", "json"]);
    run.code(0);
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let task = events.iter().find(|e| e["type"] == "task").unwrap();
    assert_eq!(task["host"], "web1");
    assert_eq!(task["task"], "hi");
    assert_eq!(task["status"], "changed");
    assert_eq!(task["line"], 4);
    assert!(
        task["file"]
            .as_str()
            .unwrap()
            .ends_with("playbooks/site.yml")
    );
    let recap = events.last().unwrap();
    assert_eq!(recap["type"], "recap");
    assert_eq!(recap["hosts"]["web1"]["changed"], 1);
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn facts_become_and_handlers_on_real_hosts() {
    let tb = Testbed::up(2);
    tb.write(
        "environments/tb/group_vars/all.yml",
        "ansible_user: deploy\n",
    );
    tb.write(
        "playbooks/site.yml",
        r#"
- hosts: web
  become: true
  tasks:
    - assert:
        that:
          - ansible_distribution == 'Debian'
          - ansible_distribution_release == 'bookworm'
          - ansible_env.HOME == '/root'
          - ansible_processor_vcpus >= 1
    - name: who am i
      command: id -un
      register: who
      changed_when: false
    - assert:
        that: who.stdout == 'root'
    - name: configure
      shell: echo v1 > /etc/app.conf
      args:
        creates: /etc/app.conf
      notify: reload app
    - name: configure again (notifies the same handler)
      command: "true"
      notify: [reload app]
  handlers:
    - name: reload app
      shell: echo reloaded >> /var/log/app-reloads
"#,
    );
    let run = tb.opsctl(&["run", "site", "--env", "tb"]);
    run.code(0).no_panic();
    for h in ["host1", "host2"] {
        // The handler ran exactly once although notified twice.
        assert_eq!(tb.exec(h, "cat /var/log/app-reloads").stdout, "reloaded\n");
    }
    // Second run: `configure` is skipped by creates but `true` still reports
    // changed (command always does), so the handler runs once more.
    tb.opsctl(&["run", "site", "--env", "tb"]).code(0);
    assert_eq!(
        tb.exec("host1", "cat /var/log/app-reloads").stdout,
        "reloaded\nreloaded\n"
    );
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn a_handler_notified_before_a_failure_runs_on_the_next_run() {
    let tb = Testbed::up(1);
    let playbook = |fail: bool| {
        format!(
            r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: change the config
      shell: echo new > /etc/app.conf
      args:
        creates: /etc/app.conf
      notify: restart app
    - name: a later step
      command: "{}"
  handlers:
    - name: restart app
      shell: echo restarted >> /var/log/app-restarts
"#,
            if fail { "false" } else { "true" }
        )
    };
    tb.write("playbooks/site.yml", &playbook(true));
    let run = tb.opsctl(&["run", "site", "--env", "tb"]);
    run.code(2)
        .no_panic()
        .stderr_has("handlers left pending, they will run on the next run: restart app");
    assert!(
        tb.exec("host1", "test -e /var/log/app-restarts").code != 0,
        "the handler must not run after the failure"
    );
    tb.exec("host1", "test -s /var/lib/opsctl/pending-handlers")
        .code(0);

    // Fixed: the config task no longer changes anything, yet the pending restart runs.
    tb.write("playbooks/site.yml", &playbook(false));
    tb.opsctl(&["run", "site", "--env", "tb"])
        .code(0)
        .no_panic();
    assert_eq!(
        tb.exec("host1", "cat /var/log/app-restarts").stdout,
        "restarted\n"
    );
    assert!(
        tb.exec("host1", "test -e /var/lib/opsctl/pending-handlers")
            .code
            != 0,
        "pending file cleared"
    );
    // And not again.
    tb.opsctl(&["run", "site", "--env", "tb"]).code(0);
    assert_eq!(
        tb.exec("host1", "cat /var/log/app-restarts").stdout,
        "restarted\n"
    );
}

#[test]
fn until_retries_until_the_condition_holds() {
    let p = local(
        r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: count to three
      shell: "echo x >> {{ dir }}/n; wc -l < {{ dir }}/n"
      register: r
      until: r.stdout | int >= 3
      retries: 5
      delay: 0
    - assert:
        that: r.attempts == 3
    - name: gives up
      command: "false"
      register: g
      until: g.rc == 0
      retries: 1
      delay: 0
      ignore_errors: true
    - assert:
        that: g.attempts == 2 and g.failed
"#,
    );
    p.opsctl(&["run", "site", "--env", "dev"])
        .code(0)
        .no_panic()
        .stdout_has("ignored=1");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn delegate_to_and_run_once_on_real_hosts() {
    let tb = Testbed::up(3);
    let run = tb.play(
        "site",
        r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: every host reports to host3
      shell: echo {{ inventory_hostname }} >> /tmp/reports
      delegate_to: host3
    - name: the host named by a variable, as Ansible templates delegate_to
      shell: echo via-{{ inventory_hostname }} >> /tmp/reports
      delegate_to: "{{ report_host }}"
      vars:
        report_host: host2
    - name: once for all
      shell: echo once >> /tmp/once; hostname
      register: o
      run_once: true
    - name: every host has the result
      assert:
        that: o.stdout == 'host1'
"#,
        &[],
    );
    run.code(0).no_panic();
    let mut reports: Vec<String> = tb
        .exec("host3", "cat /tmp/reports")
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    reports.sort();
    assert_eq!(reports, ["host1", "host2", "host3"]);
    let mut via: Vec<String> = tb
        .exec("host2", "cat /tmp/reports")
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    via.sort();
    assert_eq!(via, ["via-host1", "via-host2", "via-host3"]);
    let once: usize = ["host1", "host2", "host3"]
        .iter()
        .map(|h| {
            tb.exec(h, "cat /tmp/once 2>/dev/null")
                .stdout
                .lines()
                .count()
        })
        .sum();
    assert_eq!(once, 1, "run_once ran {once} times");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn ctrl_c_prints_the_recap_and_closes_masters_while_remote_commands_finish() {
    use std::io::Read;
    let tb = Testbed::up(1);
    tb.write(
        "playbooks/slow.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: long\n      command: sleep 4\n",
    );
    let runtime = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(crate::common::OPSCTL)
        .args(["run", "slow", "--env", "tb"])
        .current_dir(tb.project.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the remote sleep runs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tb.exec("host1", "pgrep -f '^sleep 4$'").code != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the remote command never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let interrupted = std::time::Instant::now();
    let status = child.wait().unwrap();
    assert!(
        interrupted.elapsed() < std::time::Duration::from_secs(2),
        "opsctl must stop at once"
    );
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(out.contains("RECAP"), "{out}");
    let left: Vec<_> = std::fs::read_dir(runtime.path().join("opsctl"))
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "control files left: {left:?}");
    // A command already running on the host is left to finish (never killed
    // halfway, like an apt-get or a migration would be), and it does end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tb.exec("host1", "pgrep -f '^sleep 4$'").code == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the remote command never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn roles_templates_handlers_and_idempotence_with_check_and_diff() {
    let p = Project::new(&[
        (
            "environments/dev/hosts",
            "[web]\nweb1 ansible_connection=local\n",
        ),
        (
            "playbooks/site.yml",
            "- hosts: web\n  gather_facts: false\n  roles:\n    - role: app\n      app_port: 8080\n",
        ),
        (
            "roles/base/tasks/main.yml",
            "- name: base dir\n  file:\n    path: \"{{ root }}\"\n    state: directory\n    mode: \"0755\"\n",
        ),
        ("roles/app/meta/main.yml", "dependencies:\n  - base\n"),
        (
            "roles/app/defaults/main.yml",
            "app_port: 3000\napp_name: shop\n",
        ),
        (
            "roles/app/tasks/main.yml",
            "- name: config\n  template:\n    src: app.conf.j2\n    dest: \"{{ root }}/app.conf\"\n    mode: \"0640\"\n  notify: reload app\n- include_tasks: extra.yml\n",
        ),
        (
            "roles/app/tasks/extra.yml",
            "- name: motd\n  copy:\n    content: \"{{ app_name }} on {{ app_port }}\\n\"\n    dest: \"{{ root }}/motd\"\n",
        ),
        (
            "roles/app/templates/app.conf.j2",
            "name = {{ app_name }}\nport = {{ app_port }}\n",
        ),
        (
            "roles/app/handlers/main.yml",
            "- name: reload app\n  shell: echo reload >> {{ root }}/reloads\n",
        ),
    ]);
    let root = p.path().join("srv");
    p.write(
        "environments/dev/group_vars/all.yml",
        &format!("root: {}\n", root.display()),
    );

    let run = p.opsctl(&["run", "site", "--env", "dev"]);
    run.code(0).no_panic().stdout_has("changed=4");
    assert_eq!(
        std::fs::read_to_string(root.join("app.conf")).unwrap(),
        "name = shop\nport = 8080\n",
        "role params beat defaults"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("motd")).unwrap(),
        "shop on 8080\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("reloads")).unwrap(),
        "reload\n"
    );

    // Nothing changes the second time, and the handler is not notified.
    p.opsctl(&["run", "site", "--env", "dev"])
        .code(0)
        .stdout_has("changed=0");
    assert_eq!(
        std::fs::read_to_string(root.join("reloads")).unwrap(),
        "reload\n"
    );

    // Drift: --check --diff shows it and changes nothing.
    std::fs::write(root.join("app.conf"), "name = shop\nport = 1\n").unwrap();
    let run = p.opsctl(&["run", "site", "--env", "dev", "--check", "--diff"]);
    run.code(0)
        .no_panic()
        .stdout_has("would change")
        .stdout_has("-port = 1")
        .stdout_has("+port = 8080");
    assert_eq!(
        std::fs::read_to_string(root.join("app.conf")).unwrap(),
        "name = shop\nport = 1\n"
    );
    // And a real run repairs it and reloads.
    p.opsctl(&["run", "site", "--env", "dev"])
        .code(0)
        .stdout_has("changed=2");
    assert_eq!(
        std::fs::read_to_string(root.join("reloads")).unwrap(),
        "reload\nreload\n"
    );
}

/// Probes read ahead in one exec are used only while nothing ran on the host: a
/// task that changes a file makes the next task read it again (a stale stat would
/// fail the assert).
#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn probes_read_ahead_never_hide_a_change() {
    let tb = Testbed::up(1);
    let playbook = r#"
- hosts: all
  gather_facts: false
  tasks:
    - file: { path: /srv/ra, state: directory }
    - copy: { content: "new\n", dest: /srv/ra/f }
    - stat: { path: /srv/ra/f }
      register: st
    - assert:
        that: st.stat.size == 4
    - lineinfile: { path: /srv/ra/g, line: "x", create: true }
    - file: { path: /srv/ra/h, state: touch, modification_time: preserve, access_time: preserve }
"#;
    let first = tb.play("ra", playbook, &[]);
    first.code(0);
    let again = tb.play("ra", playbook, &["-v"]);
    again.code(0).stdout_has("changed=0");
    let all = format!("{}{}", again.stdout, again.stderr);
    assert!(all.contains("(read ahead)"), "a re-run reads ahead:\n{all}");
    // Drift: the copy task changes the file, then stat must see the new size.
    tb.exec("host1", "printf 'old content\\n' > /srv/ra/f")
        .code(0);
    let fixed = tb.play("ra", playbook, &["-v"]);
    fixed.code(0).stdout_has("changed=1");
    assert_eq!(tb.exec("host1", "cat /srv/ra/f").stdout, "new\n");
}

/// A play without gathered facts reads the pending handlers in its first gather
/// exec: a no-change run sends ONE command to the host (counted on the host). The handlers of the play
/// that were pending run (also when its tasks need nothing of the host), those of
/// other plays stay pending, and a `--check` run leaves the file as it is.
#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn pending_handlers_ride_with_the_first_read() {
    let tb = Testbed::up(1);
    let playbook = r#"
- hosts: all
  gather_facts: false
  tasks:
    - file: { path: /srv/pend, state: directory }
    - copy: { content: "x\n", dest: /srv/pend/f }
  handlers:
    - name: restart app
      shell: echo restarted >> /srv/pend/log
"#;
    // Every command sent to the host starts root's shell, which sources
    // .bashrc (Debian's bash does for ssh): it logs the first line of each.
    tb.exec(
        "host1",
        "printf 'printf \"%%.60s\\\\n\" \"$BASH_EXECUTION_STRING\" | head -n1 >> /tmp/execs\\n' | cat - /root/.bashrc > /tmp/rc && mv /tmp/rc /root/.bashrc",
    )
    .code(0);
    let execs = |args: &[&str]| {
        tb.exec("host1", ": > /tmp/execs").code(0);
        let run = tb.play("pend", playbook, args);
        let log = tb.exec("host1", "cat /tmp/execs").stdout;
        (run, log.lines().count(), log)
    };
    let pending = "/var/lib/opsctl/pending-handlers";
    tb.play("pend", playbook, &[])
        .code(0)
        .stdout_has("changed=2");
    tb.exec(
        "host1",
        &format!("mkdir -p /var/lib/opsctl && printf 'restart app\\nother play\\n' > {pending}"),
    )
    .code(0);
    // --check: the handler would run; nothing on the host changes.
    tb.play("pend", playbook, &["--check"]).code(0);
    assert_eq!(
        tb.exec("host1", &format!("cat {pending}")).stdout,
        "restart app\nother play\n"
    );
    assert!(tb.exec("host1", "test -e /srv/pend/log").code != 0);
    // The pending restart runs: the read-ahead, the handler, the file rewritten.
    let (run, n, log) = execs(&["-v"]);
    run.code(0).stdout_has("restart app");
    assert_eq!(n, 3, "commands sent:\n{log}");
    assert_eq!(tb.exec("host1", "cat /srv/pend/log").stdout, "restarted\n");
    assert_eq!(
        tb.exec("host1", &format!("cat {pending}")).stdout,
        "other play\n"
    );
    // No change, another play's handler pending: one command, the file untouched.
    let (run, n, log) = execs(&["-v"]);
    run.code(0).stdout_has("changed=0");
    assert_eq!(n, 1, "commands sent:\n{log}");
    assert_eq!(
        tb.exec("host1", &format!("cat {pending}")).stdout,
        "other play\n"
    );
    // A play whose tasks need nothing of the host still runs its pending handler.
    tb.exec("host1", &format!("printf 'restart app\\n' > {pending}"))
        .code(0);
    let only_debug = r#"
- hosts: all
  gather_facts: false
  tasks:
    - debug: { msg: hello }
  handlers:
    - name: restart app
      shell: echo restarted >> /srv/pend/log
"#;
    tb.play("pend2", only_debug, &[]).code(0);
    assert_eq!(
        tb.exec("host1", "cat /srv/pend/log").stdout,
        "restarted\nrestarted\n"
    );
    assert!(tb.exec("host1", &format!("test -e {pending}")).code != 0);
}
