//! The file modules over real SSH, through sudo (become): first run changes,
//! second run changes nothing, --check on drift reports without changing,
//! --diff shows the change.

use crate::common::Testbed;

const PLAYBOOK: &str = r#"
- hosts: web
  gather_facts: false
  become: true
  vars:
    app: shop
    port: 8080
  tasks:
    - name: app dir
      file:
        path: /srv/app
        state: directory
        owner: deploy
        mode: "0750"
    - name: static file
      copy:
        src: motd.txt
        dest: /srv/app/motd
        mode: "0644"
    - name: inline content
      copy:
        content: "secret-ish\n"
        dest: /srv/app/token
        mode: "0600"
        owner: deploy
    - name: config from a template
      template:
        src: app.conf.j2
        dest: /srv/app/app.conf
        validate: grep -q port %s
    - name: a line
      lineinfile:
        path: /srv/app/settings
        create: true
        regexp: '^# managed'
        line: '# managed by opsctl'
        insertbefore: BOF
    - name: a block
      blockinfile:
        path: /srv/app/extra.conf
        create: true
        block: |
          workers = 2
          timeout = 30
    - name: seed a file once
      copy:
        content: "timeout = 30\n"
        dest: /srv/app/timeouts
        force: false
    - name: replace
      replace:
        path: /srv/app/timeouts
        regexp: 'timeout = (\d+)$'
        replace: 'timeout = \1s'
    - name: link
      file:
        src: /srv/app/app.conf
        dest: /srv/app/current.conf
        state: link
    - name: stat
      stat:
        path: /srv/app/app.conf
      register: st
    - name: slurp
      slurp:
        src: /srv/app/token
      register: tok
    - assert:
        that:
          - st.stat.exists and st.stat.isreg
          - tok.content | b64decode == 'secret-ish\n'
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn file_modules_over_ssh_with_become() {
    let tb = Testbed::up(1);
    tb.write(
        "environments/tb/group_vars/all.yml",
        "ansible_user: deploy\n",
    );
    tb.write("playbooks/files/motd.txt", "Welcome\n");
    tb.write(
        "playbooks/templates/app.conf.j2",
        "app = {{ app }}\nport = {{ port }}\n",
    );

    let run = tb.play("files", PLAYBOOK, &[]);
    run.code(0).no_panic().stdout_has("changed=9");
    assert_eq!(
        tb.exec("host1", "cat /srv/app/app.conf").stdout,
        "app = shop\nport = 8080\n"
    );
    assert_eq!(
        tb.exec("host1", "cat /srv/app/settings").stdout,
        "# managed by opsctl\n"
    );
    assert_eq!(
        tb.exec("host1", "stat -c '%U %a' /srv/app /srv/app/token")
            .stdout,
        "deploy 750\ndeploy 600\n"
    );
    assert!(
        tb.exec("host1", "cat /srv/app/extra.conf")
            .stdout
            .contains("workers = 2")
    );
    assert_eq!(
        tb.exec("host1", "cat /srv/app/timeouts").stdout,
        "timeout = 30s\n"
    );
    assert_eq!(
        tb.exec("host1", "readlink /srv/app/current.conf").stdout,
        "/srv/app/app.conf\n"
    );

    // Nothing to do the second time.
    tb.play("files", PLAYBOOK, &[])
        .code(0)
        .stdout_has("changed=0");

    // Drift: check mode reports it and changes nothing; diff shows it.
    tb.exec(
        "host1",
        "echo intruder > /srv/app/motd; chmod 0666 /srv/app/token",
    )
    .code(0);
    let run = tb.play("files", PLAYBOOK, &["--check", "--diff"]);
    run.code(0)
        .no_panic()
        .stdout_has("would change")
        .stdout_has("-intruder")
        .stdout_has("+Welcome");
    run.stdout_has("changed=2");
    assert_eq!(tb.exec("host1", "cat /srv/app/motd").stdout, "intruder\n");
    // A real run repairs both.
    tb.play("files", PLAYBOOK, &[])
        .code(0)
        .stdout_has("changed=2");
    assert_eq!(
        tb.exec("host1", "cat /srv/app/motd; stat -c %a /srv/app/token")
            .stdout,
        "Welcome\n600\n"
    );
}
