//! More of Ansible's behaviour through the real binary on a real test-bed
//! host: become with a password (`ansible_become_password` from the
//! environment's encrypted secrets or `-e`, and `-K` asked on a terminal);
//! Vault-encrypted `copy`/`template` sources decrypted on the controller;
//! `meta: end_role` and add_host/group_by seen by the same play (on a local
//! connection: no host needed).

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use crate::common::{OPSCTL, Project, Run, Testbed};

/// The test bed's `needpw` user: sudo asks for this password.
const NEEDPW: &str = "needpw-password";

const BECOME: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: who am I after become
      command: id -un
      become: true
      register: who
      changed_when: false
    - name: a file only root may write (its content goes on stdin after the password)
      copy:
        content: "written by {{ who.stdout }}\n"
        dest: /root/become-pw.txt
        mode: "0600"
      become: true
    - name: a command reading its own stdin after sudo read the password
      command: cat
      args:
        stdin: "stdin-after-password"
      become: true
      register: piped
      changed_when: false
    - name: another become_user
      command: id -un
      become: true
      become_user: deploy
      register: other
      changed_when: false
    - name: without become
      command: id -un
      register: plain
      changed_when: false
    - debug:
        msg: "{{ who.stdout }} {{ piped.stdout }} {{ other.stdout }} {{ plain.stdout }}"
"#;

/// Nothing of the password in anything opsctl printed.
#[track_caller]
fn no_password(run: &Run) {
    for (what, out) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!out.contains(NEEDPW), "{what} holds the password:\n{out}");
    }
}

/// Runs opsctl with `args` on a pseudo-terminal (`script`, outside CI) and
/// types `password` once the `-K` prompt shows.
fn on_a_terminal(tb: &Testbed, args: &[&str], password: &str) -> Run {
    let line = std::iter::once(OPSCTL)
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(tb.project.path())
        .env_remove("CI")
        .env_remove("OPSCTL_ENV")
        .env_remove("OPSCTL_PROJECT")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("BECOME password: ") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "no -K prompt:\n{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    // The prompt is written, then echo turned off: let that happen first.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    stdout.read_to_end(&mut seen).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&seen).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn become_with_a_password_from_secrets_e_or_the_k_prompt() {
    let tb = Testbed::up(1);
    tb.write("playbooks/become.yml", BECOME);

    // A wrong password: a clear error naming the host and what to check.
    let wrong = tb.opsctl(&[
        "run",
        "become",
        "--env",
        "tb",
        "-u",
        "needpw",
        "-e",
        "ansible_become_password=Wrong-Pw-42",
    ]);
    wrong
        .code(2)
        .no_panic()
        .stdout_has("host1 | FAILED | who am I after become (playbooks/become.yml:5:7)")
        .stdout_has("sudo rejected the become password (to become root): incorrect password")
        .stdout_has("`opsctl vars host1 ansible_become_password` shows where it is set");
    assert!(!wrong.stdout.contains("Wrong-Pw-42"), "{}", wrong.stdout);

    // Without one: sudo's refusal says how to give it.
    tb.opsctl(&["run", "become", "--env", "tb", "-u", "needpw"])
        .code(2)
        .stdout_has("sudo needs a password to become root")
        .stdout_has("set ansible_become_password");

    // -K on a terminal: asked without echo, used for every become.
    let asked = on_a_terminal(
        &tb,
        &["run", "become", "--env", "tb", "-u", "needpw", "-K"],
        NEEDPW,
    );
    asked.code(0).no_panic();
    assert!(
        asked
            .stdout
            .contains("): root stdin-after-password deploy needpw"),
        "{}",
        asked.stdout
    );
    no_password(&asked);
    assert_eq!(
        tb.exec(
            "host1",
            "stat -c %U:%a /root/become-pw.txt; cat /root/become-pw.txt"
        )
        .stdout,
        "root:600\nwritten by root\n"
    );

    // From the environment's encrypted secrets, twice: the second run changes
    // nothing; with -vvv (every command line traced) and JSON output too.
    let key = tb.age_key();
    let with_key = |args: &[&str], stdin: &str| {
        let mut c = Command::new(OPSCTL)
            .args(args)
            .current_dir(tb.project.path())
            .env("OPSCTL_AGE_KEY", &key)
            .env("NO_COLOR", "1")
            .env_remove("OPSCTL_ENV")
            .env_remove("OPSCTL_PROJECT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        Run::from(c.wait_with_output().unwrap())
    };
    with_key(
        &["secrets", "set", "--env", "tb", "ansible_become_password"],
        NEEDPW,
    )
    .code(0);
    tb.exec("host1", "rm /root/become-pw.txt").code(0);
    let first = with_key(
        &["run", "become", "--env", "tb", "-u", "needpw", "-vvv"],
        "",
    );
    first.code(0).no_panic().stdout_has("changed=1 ");
    no_password(&first);
    let again = with_key(
        &[
            "run", "become", "--env", "tb", "-u", "needpw", "--output", "json", "-vvv",
        ],
        "",
    );
    again
        .code(0)
        .stdout_has("\"host1\":{\"ok\":6,\"changed\":0,");
    no_password(&again);
    // `opsctl vars` masks it, wherever it was set.
    let shown = with_key(
        &[
            "vars",
            "host1",
            "ansible_become_pass",
            "--env",
            "tb",
            "-e",
            &format!("ansible_become_pass={NEEDPW}"),
        ],
        "",
    );
    shown
        .code(0)
        .stdout_has("ansible_become_pass = \"********\"");
    no_password(&shown);
}

const VAULT_PW: &str = "Vault-Src-Pw-1";
const FILE_CANARY: &str = "Vault-File-Canary-77";
const TPL_CANARY: &str = "Vault-Tpl-Canary-88";

const VAULT_SOURCES: &str = r#"
- hosts: web
  gather_facts: false
  vars:
    greeting: hello-from-a-var
  tasks:
    - name: a vault-encrypted copy source, decrypted on the controller
      copy:
        src: app.secret
        dest: /tmp/app.secret
        mode: "0600"
    - name: decrypt false sends it as it is
      copy:
        src: app.secret
        dest: /tmp/app.secret.vault
        decrypt: false
    - name: a vault-encrypted template
      template:
        src: app.conf.j2
        dest: /tmp/app.conf
        mode: "0600"
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn vault_encrypted_copy_and_template_sources_are_decrypted_and_secret() {
    use opsctl::secrets::vault::encrypt;
    let tb = Testbed::up(1);
    let file = encrypt(
        format!("token={FILE_CANARY}\n").as_bytes(),
        VAULT_PW.as_bytes(),
        &[7; 32],
        None,
    );
    let tpl = encrypt(
        format!("greeting={{{{ greeting }}}}\nkey={TPL_CANARY}\n").as_bytes(),
        VAULT_PW.as_bytes(),
        &[8; 32],
        Some("prod"),
    );
    tb.write("playbooks/files/app.secret", &file);
    tb.write("playbooks/templates/app.conf.j2", &tpl);
    tb.write("vault-pw", &format!("{VAULT_PW}\n"));
    tb.write("playbooks/vaultsrc.yml", VAULT_SOURCES);
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "vaultsrc", "--env", "tb"];
        args.extend_from_slice(extra);
        let r = tb.opsctl(&args);
        r.no_panic();
        for out in [&r.stdout, &r.stderr] {
            assert!(
                !out.contains(FILE_CANARY) && !out.contains(TPL_CANARY),
                "a decrypted source in the output:\n{out}"
            );
        }
        r
    };

    // No vault password: the task fails, naming the file and what to pass.
    run(&[])
        .code(2)
        .stdout_has("app.secret is encrypted with Ansible Vault and no vault password was given");

    let pw = ["--vault-password-file", "vault-pw"];
    fn with<'a>(pw: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
        [pw, more].concat()
    }
    run(&with(&pw, &["--diff", "-vv"]))
        .code(0)
        .stdout_has("changed=3 ");
    assert_eq!(
        tb.exec(
            "host1",
            "cat /tmp/app.secret /tmp/app.conf; head -1 /tmp/app.secret.vault"
        )
        .stdout,
        format!(
            "token={FILE_CANARY}\ngreeting=hello-from-a-var\nkey={TPL_CANARY}\n$ANSIBLE_VAULT;1.1;AES256\n"
        )
    );
    run(&pw).code(0).stdout_has("changed=0 ");

    // Drift, then --check --diff: the change is reported, its content never
    // shown, nothing written.
    tb.exec("host1", "echo drifted > /tmp/app.conf").code(0);
    let check = run(&with(&pw, &["--check", "--diff"]));
    check.code(0).stdout_has("changed=1 ");
    assert!(!check.stdout.contains("+greeting="), "{}", check.stdout);
    assert_eq!(tb.exec("host1", "cat /tmp/app.conf").stdout, "drifted\n");
}

#[test]
fn meta_end_role_ends_the_current_roles_tasks_for_the_host() {
    let p = Project::new(&[
        (
            "environments/dev/hosts",
            "[web]\nh1 ansible_connection=local stop=true\nh2 ansible_connection=local stop=false\n",
        ),
        (
            "roles/app/tasks/main.yml",
            "- debug:\n    msg: app-first\n- meta: end_role\n  when: stop | bool\n- debug:\n    msg: app-after-end\n",
        ),
        (
            "roles/other/tasks/main.yml",
            "- debug:\n    msg: other-role-runs\n",
        ),
        (
            "playbooks/site.yml",
            "- hosts: web\n  gather_facts: false\n  roles: [app, other]\n  tasks:\n    - debug:\n        msg: play-task-runs\n",
        ),
        (
            "playbooks/outside.yml",
            "- hosts: web\n  gather_facts: false\n  tasks:\n    - meta: end_role\n",
        ),
    ]);
    let r = p.opsctl(&["run", "site", "--env", "dev"]);
    r.code(0).no_panic();
    let lines = |host: &str, msg: &str| {
        r.stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{host} ")) && l.ends_with(msg))
            .count()
    };
    for h in ["h1", "h2"] {
        assert_eq!(lines(h, "app-first"), 1, "{}", r.stdout);
        assert_eq!(lines(h, "other-role-runs"), 1, "{}", r.stdout);
        assert_eq!(lines(h, "play-task-runs"), 1, "{}", r.stdout);
    }
    assert_eq!(lines("h1", "app-after-end"), 0, "{}", r.stdout);
    assert_eq!(lines("h2", "app-after-end"), 1, "{}", r.stdout);
    // Outside a role it is a load error, with the file and line.
    p.opsctl(&["run", "outside", "--env", "dev"])
        .code(1)
        .stderr_has("playbooks/outside.yml:4:")
        .stderr_has("meta: end_role outside a role");
}

#[test]
fn add_host_and_group_by_are_seen_by_the_same_play() {
    let p = Project::new(&[
        (
            "environments/dev/hosts",
            "[web]\nh1 ansible_connection=local kind=a\nh2 ansible_connection=local kind=b\n",
        ),
        (
            "playbooks/site.yml",
            r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: runs once (the first host), as Ansible's add_host does
      add_host:
        name: added1
        groups: [new]
        color: "blue-{{ kind }}"
    - group_by:
        key: "kind_{{ kind }}"
    - debug:
        msg: "grouped={{ inventory_hostname in groups['kind_' ~ kind] }}"
    - debug:
        msg: "new={{ groups['new'] | join(',') }} color={{ hostvars['added1'].color }}"
      when: inventory_hostname == 'h1'
"#,
        ),
    ]);
    let r = p.opsctl(&["run", "site", "--env", "dev"]);
    r.code(0).no_panic();
    let has = |h: &str, want: &str| {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{h} ")) && l.ends_with(want)),
            "{h} lacks {want:?}:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    };
    has("h1", "grouped=True");
    has("h2", "grouped=True");
    has("h1", "new=added1 color=blue-a");
}

#[test]
fn meta_refresh_inventory_reads_the_inventory_again_for_the_next_plays() {
    let p = Project::new(&[
        (
            "environments/dev/hosts",
            "[web]\nh1 ansible_connection=local\n",
        ),
        (
            "playbooks/site.yml",
            r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: a new host in the inventory file (as a provisioning task would)
      lineinfile:
        path: "{{ inventory_file }}"
        line: "[late]\nh9 ansible_connection=local colour=green"
      delegate_to: localhost
    - meta: refresh_inventory
- hosts: late
  gather_facts: false
  tasks:
    - debug:
        msg: "late host {{ inventory_hostname }} is {{ colour }}; web={{ groups['web'] | join(',') }}"
"#,
        ),
    ]);
    let r = p.opsctl(&["run", "site", "--env", "dev"]);
    r.code(0).no_panic();
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("h9 ") && l.ends_with("late host h9 is green; web=h1")),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    // An inventory that no longer parses: the task fails naming the file.
    p.write("playbooks/broken.yml", "- hosts: web\n  gather_facts: false\n  tasks:\n    - copy:\n        dest: \"{{ inventory_file }}\"\n        content: \"[web\\nh1\\n\"\n      delegate_to: localhost\n    - meta: refresh_inventory\n");
    let r = p.opsctl(&["run", "broken", "--env", "dev"]);
    r.code(2)
        .stdout_has("meta: refresh_inventory:")
        .stdout_has("environments/dev/hosts");
}
