//! What public Ansible roles hold and Ansible loads, through the real binary
//! on a real test-bed host (cases written for these tests; `bench/converge`
//! measures real public roles against ansible-playbook): tasks for other
//! systems that only Ansible's run would refuse — an `include_tasks` of a file
//! the role does not ship, an argument value the module no longer takes
//! (`state: installed`), a test written as a filter (`result | success`) —
//! load with a warning naming the place and fail only if a host reaches them;
//! the role converges and its second run changes nothing. The same mistakes
//! where every host reaches them stay load errors. `indent` keeps a block's
//! trailing newline, as Jinja2 does (what ansible-playbook writes), a template
//! sees `ansible_managed` and the `template_*` variables, and a SysV
//! service is enabled with the links Ansible's sysvinit module makes.
//! A signing key added without `keyring:` (roles written for apt-key), from a
//! file or a keyserver, goes to /etc/apt/trusted.gpg.d/; a package list with an empty item fails as
//! Ansible's apt fails, installing nothing.

use crate::common::Testbed;

const ROLE_TASKS: &str = r#"
- name: OS-specific tasks, chosen at run time
  include_tasks: "setup-{{ ansible_os_family }}.yml"

- name: tasks this role ships for no OS the test bed runs
  include_tasks: setup-Solaris.yml
  when: ansible_os_family == 'Solaris'

- name: an argument value Ansible's apt no longer takes, for another OS
  apt: name=cowsay state=installed
  when: ansible_os_family == 'Solaris'

- name: a version check of the Ansible 2.4 era, skipped here
  command: uname -r
  register: kernel
  changed_when: false

- name: write the version only if uname failed
  copy:
    content: "{{ kernel | success }}"
    dest: /etc/legacy-kernel
  when: kernel is failed

- name: the invalid value, reached on demand
  file:
    path: /tmp/legacy
    state: installed
  when: reach | default(false) | bool
  ignore_errors: true

- name: the absent file, reached on demand
  include_tasks: setup-Solaris.yml
  when: reach | default(false) | bool
"#;

const SETUP_DEBIAN: &str = r#"
- name: the Debian part
  copy:
    content: "legacy role on {{ ansible_distribution }}\n"
    dest: /etc/legacy-role.conf
    mode: "0644"

- name: a block of configuration indented into another, as Jinja2 indents it
  copy:
    content: "server {\n    {{ extra | indent(4) }}\n}\n"
    dest: /etc/legacy-server.conf
  vars:
    extra: "location / {\n  return 204;\n}\n"

- name: a header with Ansible's template variables
  template:
    src: motd.j2
    dest: /etc/legacy-motd
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn legacy_role_tasks_for_other_systems_load_and_fail_only_when_reached() {
    let tb = Testbed::up(1);
    tb.write("roles/legacy/tasks/main.yml", ROLE_TASKS);
    tb.write("roles/legacy/tasks/setup-Debian.yml", SETUP_DEBIAN);
    tb.write(
        "roles/legacy/templates/motd.j2",
        "{{ ansible_managed | comment }}\n{{ template_path }} -> {{ template_destpath }}, of {{ template_uid }}\n",
    );
    let play = "- hosts: web\n  roles: [legacy]\n";

    // Loads: three places named, none refused.
    let check = tb.play("site", play, &["--syntax-check"]);
    check.code(0).no_panic();
    for (line, what) in [
        (6, "include_tasks: file not found: setup-Solaris.yml"),
        (
            10,
            "apt: argument 'state' must be one of present, absent, latest, fixed, got \"installed\"",
        ),
        (
            20,
            "'success' as a filter was removed from Ansible (2.9; write `is success`)",
        ),
    ] {
        check.stderr_has(&format!("roles/legacy/tasks/main.yml:{line}:"));
        check.stderr_has(what);
    }
    // --strict refuses what would only fail when reached.
    let strict = tb.play("site", play, &["--strict"]);
    assert_ne!(strict.code, 0, "{}", strict.stderr);
    strict.stderr_has("setup-Solaris.yml");
    tb.exec("host1", "test ! -e /etc/legacy-role.conf").code(0);

    // Converges; the second run changes nothing.
    let first = tb.play("site", play, &[]);
    first.code(0).no_panic().stdout_has(" changed=3 ");
    tb.exec(
        "host1",
        "grep -qx 'legacy role on Debian' /etc/legacy-role.conf",
    )
    .code(0);
    tb.exec("host1", "test ! -e /etc/legacy-kernel").code(0);
    // ansible_managed (Ansible's default) and template_* as the template action sets them
    let motd = tb.exec("host1", "cat /etc/legacy-motd");
    assert_eq!(
        motd.stdout,
        "#\n# Ansible managed\n#\nmotd.j2 -> /etc/legacy-motd, of root\n"
    );
    // the trailing newline of the indented block stays (a blank line before `}`)
    let server = tb.exec("host1", "cat /etc/legacy-server.conf");
    assert_eq!(
        server.stdout,
        "server {\n    location / {\n      return 204;\n    }\n\n}\n"
    );
    tb.play("site", play, &[]).code(0).stdout_has(" changed=0 ");

    // Reached, each fails with what is wrong and where.
    let reached = tb.play("site", play, &["-e", "reach=true"]);
    assert_ne!(reached.code, 0, "{}", reached.stdout);
    reached.stdout_has(
        "file: argument 'state' must be one of file, directory, link, hard, absent, touch, got \"installed\"",
    );
    reached.stdout_has("roles/legacy/tasks/main.yml:24:3");
    reached.stdout_has("include_tasks: setup-Solaris.yml not found");
    reached.stdout_has(" failed=1 ");

    // A SysV service enabled as Ansible's sysvinit module enables it: rc links
    // from `update-rc.d defaults`, and no systemd `.wants` link for the unit
    // the role also ships; disabled, then enabled again, it is back in 2-5.
    let svc = r#"
- hosts: web
  tasks:
    - copy:
        dest: /etc/init.d/legacyd
        mode: "0755"
        content: |
          #!/bin/sh
          ### BEGIN INIT INFO
          # Provides:          legacyd
          # Required-Start:    $remote_fs
          # Required-Stop:     $remote_fs
          # Default-Start:     2 3 4 5
          # Default-Stop:      0 1 6
          ### END INIT INFO
          case "$1" in status) test -e /run/legacyd ;; start) touch /run/legacyd ;; stop) rm -f /run/legacyd ;; esac
    - copy:
        dest: /etc/systemd/system/legacyd.service
        content: "[Service]
ExecStart=/bin/true
[Install]
WantedBy=multi-user.target
"
    - service: name=legacyd state=started enabled={{ on | default(true) }}
"#;
    tb.play("svc", svc, &[]).code(0).stdout_has(" changed=3 ");
    let links =
        "ls /etc/rc2.d /etc/systemd/system/multi-user.target.wants 2>/dev/null | grep legacyd";
    assert_eq!(tb.exec("host1", links).stdout, "S01legacyd\n");
    tb.play("svc", svc, &["-e", "on=false"]).code(0);
    assert_eq!(tb.exec("host1", links).stdout, "K01legacyd\n");
    tb.play("svc", svc, &[]).code(0).stdout_has(" changed=1 ");
    assert!(tb.exec("host1", links).stdout.starts_with("S01legacyd\n"));
    tb.play("svc", svc, &[]).code(0).stdout_has(" changed=0 ");

    // Where every host reaches them, they stay load errors.
    let plain = "- hosts: web\n  tasks:\n    - apt: name=x state=installed\n    - include_tasks: nowhere.yml\n";
    let refused = tb.play("plain", plain, &["--syntax-check"]);
    assert_ne!(refused.code, 0, "{}", refused.stderr);
    refused
        .stderr_has("playbooks/plain.yml:3:")
        .stderr_has("argument 'state' must be one of")
        .stderr_has("include_tasks: file not found: nowhere.yml");
}

const OLD_APT: &str = r#"
- hosts: web
  tasks:
    - name: a key as roles written for apt-key add it, by id
      apt_key:
        file: /srv/archive.asc
        id: F8D2585B8783D481
        state: "{{ key_state | default('present') }}"
    - name: and by the name of its file
      apt_key: file=/srv/archive.asc
      when: key_state is not defined
    - name: received from a keyserver (HKP's lookup)
      apt_key:
        keyserver: hkp://127.0.0.1:8011
        id: 4D64FEC119C2029067D6E791F8D2585B8783D481
      when: key_state is not defined
    - name: a list a ternary left an empty item in
      apt:
        name:
          - rsync
          - "{{ (backend == 'systemd') | ternary('python3-systemd', '') }}"
      vars:
        backend: auto
      register: pkgs
      ignore_errors: true
    - assert:
        that:
          - pkgs is failed
          - pkgs.msg == "No package matching '' is available"
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn keys_without_keyring_and_empty_package_names_as_older_roles_write_them() {
    let tb = Testbed::up(1);
    tb.exec(
        "host1",
        "f=/usr/share/keyrings/debian-archive-bookworm-stable.gpg; mkdir -p /srv && \
         { echo '-----BEGIN PGP PUBLIC KEY BLOCK-----'; echo; base64 -w64 < $f; echo '-----END PGP PUBLIC KEY BLOCK-----'; } > /srv/archive.asc && \
         mkdir -p /srv/ks/pks && cp /srv/archive.asc /srv/ks/pks/lookup && \
         { setsid python3 -m http.server 8011 --bind 127.0.0.1 --directory /srv/ks >/dev/null 2>&1 < /dev/null & echo $! > /run/ks.pid; } && \
         for i in $(seq 50); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8011))' 2>/dev/null && break; sleep 0.1; done",
    )
    .code(0);
    tb.play("apt", OLD_APT, &[])
        .code(0)
        .no_panic()
        .stdout_has(" changed=3 ");
    // binary keyrings apt trusts for every source; the package list installed nothing
    tb.exec(
        "host1",
        "cd /etc/apt/trusted.gpg.d && f=/usr/share/keyrings/debian-archive-bookworm-stable.gpg && \
         cmp F8D2585B8783D481.gpg $f && cmp archive.gpg $f && cmp 4D64FEC119C2029067D6E791F8D2585B8783D481.gpg $f && \
         ! dpkg -s rsync >/dev/null 2>&1",
    )
    .code(0);
    tb.play("apt", OLD_APT, &[])
        .code(0)
        .stdout_has(" changed=0 ");
    tb.play("apt", OLD_APT, &["-e", "key_state=absent"])
        .code(0)
        .stdout_has(" changed=1 ");
    tb.exec(
        "host1",
        "test ! -e /etc/apt/trusted.gpg.d/F8D2585B8783D481.gpg && kill $(cat /run/ks.pid)",
    )
    .code(0);
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn retries_without_until_retry_until_the_task_succeeds() {
    let tb = Testbed::up(1);
    let play = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: succeeds at the third attempt
      shell: n=$(cat /tmp/third 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/third; [ $n -ge 3 ]
      retries: 4
      delay: 0
      register: third
    - assert:
        that: third.attempts == 3 and third is succeeded
    - name: never succeeds, tried once and twice again
      shell: n=$(cat /tmp/never 2>/dev/null || echo 0); echo $((n+1)) > /tmp/never; exit 1
      retries: 2
      delay: 0
      register: never
      ignore_errors: true
    - assert:
        that: never is failed
    - name: without retries, once
      shell: n=$(cat /tmp/once 2>/dev/null || echo 0); echo $((n+1)) > /tmp/once; exit 1
      ignore_errors: true
"#;
    tb.play("retries", play, &[]).code(0).no_panic();
    assert_eq!(
        tb.exec("host1", "cat /tmp/third /tmp/never /tmp/once")
            .stdout,
        "3\n3\n1\n"
    );
}
