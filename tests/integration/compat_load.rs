//! Loading Ansible playbooks: what Ansible has and opsctl does not implement
//! loads, is skipped under a false `when`, and fails only when a host reaches
//! it; a name no Ansible plugin has is an error; `--strict` refuses before
//! touching a host. Through the real binary, on a test-bed host.

use crate::common::{Run, Testbed};

/// The recap's `name=N` of host1.
fn recap(run: &Run, name: &str) -> u32 {
    let line = run
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("host1 ") && l.contains(" ok="))
        .unwrap_or_else(|| panic!("no recap line:\n{}\n{}", run.stdout, run.stderr));
    let n = line.split(&format!("{name}=")).nth(1).unwrap_or("");
    n.split_whitespace().next().unwrap_or("").parse().unwrap()
}

/// A playbook for Debian written as public roles are: tasks for other systems
/// under `when:`, Ansible keywords opsctl took to reject, a role with its own
/// module in `library/`.
const CONVERGES: &str = r#"
- hosts: all
  module_defaults:
    ansible.builtin.copy: {mode: "0640"}
  tasks:
    - name: packages on Red Hat
      yum: {name: nginx}
      when: ansible_facts['os_family'] == 'RedHat'
    - name: packages on SUSE
      community.general.zypper: {name: nginx}
      when: ansible_os_family == 'Suse'
    - name: a role only Red Hat hosts need
      include_role: {name: redhat_repos}
      when: ansible_os_family == 'RedHat'
    - import_role: {name: tuned}
    - block:
        - name: config
          copy: {content: "a=1\n", dest: /etc/compat-a.conf}
        - name: preserved mode
          copy: {src: run.sh, dest: /usr/local/bin/compat-run.sh, mode: preserve}
      notify: reload
    - name: loop_control without a loop
      command: cat /etc/compat-a.conf
      changed_when: false
      loop_control: {label: x}
  handlers:
    - name: reload
      command: touch /etc/compat-reloaded
    - name: unused, unimplemented
      ansible.posix.firewalld: {state: reloaded}
"#;

const REACHED: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: firewall
      community.general.nmcli: {conn_name: lan, state: absent}
      register: fw
      ignore_errors: true
    - assert:
        that: fw is failed
    - name: reached and fatal
      ansible.posix.seboolean: {name: httpd_can_network_connect, state: true}
    - name: never
      command: touch /etc/compat-never
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn ansible_names_opsctl_lacks_load_and_fail_only_when_reached() {
    let tb = Testbed::up(1);
    tb.write("playbooks/files/run.sh", "#!/bin/sh\necho run\n");
    std::fs::set_permissions(
        tb.project.path().join("playbooks/files/run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    tb.write(
        "playbooks/roles/tuned/library/tuned_profile.py",
        "# own module\n",
    );
    tb.write(
        "playbooks/roles/tuned/tasks/main.yml",
        "- name: a profile on bare metal only\n  tuned_profile: {name: throughput}\n  when: ansible_virtualization_role | default('guest') == 'host'\n",
    );

    // --strict refuses before any host is touched
    let strict = tb.play("compat", CONVERGES, &["--strict"]);
    strict.code(1).no_panic();
    strict
        .stderr_has(
            "compat.yml:7:7: opsctl does not implement the module 'yum' (ansible.builtin.dnf)",
        )
        .stderr_has("main.yml:2:3: opsctl does not implement the module 'tuned_profile'")
        .stderr_has("--strict refuses");
    assert_eq!(
        tb.exec("host1", "test -e /etc/compat-a.conf; echo $?")
            .stdout,
        "1\n",
        "--strict touched the host"
    );

    // one block of warnings, then the play converges
    let first = tb.play("compat", CONVERGES, &[]);
    first.code(0).no_panic();
    first
        .stderr_has("places of this playbook use what opsctl does not implement")
        .stderr_has("compat.yml:7:7: opsctl does not implement the module 'yum'")
        .stderr_has(
            "compat.yml:10:7: opsctl does not implement the module 'community.general.zypper'",
        )
        .stderr_has("compat.yml:13:28: role 'redhat_repos' not found")
        .stderr_has(
            "compat.yml:30:7: opsctl does not implement the module 'ansible.posix.firewalld'",
        );
    assert_eq!(first.stderr.matches("the module 'yum'").count(), 1);
    assert!(recap(&first, "changed") >= 3, "{}", first.stdout);
    assert_eq!(recap(&first, "failed"), 0);
    assert!(recap(&first, "skipped") >= 4, "{}", first.stdout);
    assert_eq!(
        tb.exec("host1", "stat -c %a /etc/compat-a.conf /usr/local/bin/compat-run.sh; test -e /etc/compat-reloaded && echo reloaded").stdout,
        "640\n750\nreloaded\n",
        "module_defaults, mode: preserve and the block's notify"
    );
    let second = tb.play("compat", CONVERGES, &[]);
    second.code(0);
    assert_eq!(recap(&second, "changed"), 0, "{}", second.stdout);

    // reached: the task fails with the message, the recap counts it
    let reached = tb.play("reached", REACHED, &[]);
    reached.no_panic();
    assert_ne!(reached.code, 0);
    reached
        .stdout_has("opsctl does not implement community.general.nmcli (")
        .stdout_has("reached.yml:5:7)")
        .stdout_has("opsctl does not implement ansible.posix.seboolean (");
    assert_eq!(recap(&reached, "failed"), 1, "{}", reached.stdout);
    assert_eq!(recap(&reached, "ignored"), 1, "{}", reached.stdout);
    assert_eq!(
        tb.exec("host1", "test -e /etc/compat-never; echo $?")
            .stdout,
        "1\n"
    );

    // a name no Ansible module has: an error with the nearest, nothing runs
    let typo = tb.play(
        "typo",
        "- hosts: all\n  tasks:\n    - ufww: {rule: allow}\n    - command: touch /etc/compat-typo\n",
        &[],
    );
    typo.code(1)
        .no_panic()
        .stderr_has("typo.yml:3:7: unknown module 'ufww'")
        .stderr_has("did you mean 'ufw'?");
    // unknown filters and tests in templates, with file:line, from --syntax-check
    tb.write("playbooks/templates/site.j2", "a\n{{ port | to_jsno }}\n");
    let syntax = tb.play(
        "syntax",
        "- hosts: all\n  tasks:\n    - template: {src: site.j2, dest: /etc/site}\n      when: x is versoin('1', '>')\n",
        &["--syntax-check"],
    );
    syntax
        .code(1)
        .no_panic()
        .stderr_has("syntax.yml:4:13: unknown test 'versoin'")
        .stderr_has("did you mean 'version'?")
        .stderr_has("site.j2:2: unknown filter 'to_jsno'");
    assert_eq!(
        tb.exec("host1", "test -e /etc/compat-typo; echo $?").stdout,
        "1\n"
    );
}
