//! Ansible-compatible modules, part C (issue 11), through the real binary on a
//! real test-bed host: openssh_keypair and user's generate_ssh_key with a
//! passphrase. Each playbook runs twice (the second run changes nothing),
//! then the state is changed behind opsctl's back and `--check --diff`
//! reports the drift, shows it and changes nothing; a passphrase never shows,
//! even at -vvvv.

use crate::common::Testbed;
use crate::modules_system::{changed, out};

const KEY_PASS: &str = "Kp-never-0n-argv";
const USER_PASS: &str = "Up-never-0n-argv";

const KEYS: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: a deploy user with an ed25519 key behind a passphrase
      user:
        name: deploy
        shell: /bin/bash
        generate_ssh_key: true
        ssh_key_type: ed25519
        ssh_key_comment: deploy@tb
        ssh_key_passphrase: "{{ user_pass }}"
      register: u
    - assert:
        that:
          - u.ssh_key_file == '/home/deploy/.ssh/id_ed25519'
          - u.ssh_public_key is match('ssh-ed25519 AAAA')
    - name: a key pair of the deploy user, with a passphrase
      community.crypto.openssh_keypair:
        path: /home/deploy/.ssh/deploy_key
        type: ed25519
        comment: deploy@web
        passphrase: "{{ key_pass }}"
        owner: deploy
        group: deploy
      register: k
    - assert:
        that:
          - k.filename == '/home/deploy/.ssh/deploy_key'
          - k.type == 'ed25519'
          - k.size == 256
          - k.comment == 'deploy@web'
          - k.fingerprint is match('SHA256:')
          - k.public_key is match('ssh-ed25519 AAAA')
          - k.public_key is not search('deploy@web')
    - name: what opsctl returned, for the test to compare
      copy:
        content: "{{ k.fingerprint }} {{ k.public_key }}\n"
        dest: /root/deploy_key.returned
    - name: an rsa key in the PEM format
      openssh_keypair:
        path: /root/rsa_pem
        type: rsa
        size: 2048
        private_key_format: pkcs1
    - name: an ecdsa key, read-only
      openssh_keypair:
        path: /root/ecdsa
        type: ecdsa
        size: 384
        mode: "0400"
    - name: an old key that goes
      openssh_keypair:
        path: /root/old_key
        state: absent
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn openssh_keypair_and_user_ssh_keys_with_passphrases() {
    let tb = Testbed::up(1);
    tb.exec("host1", "ssh-keygen -q -t ed25519 -N '' -f /root/old_key")
        .code(0);
    let (kp, up) = (
        format!("key_pass={KEY_PASS}"),
        format!("user_pass={USER_PASS}"),
    );
    let with = |more: &[&'static str]| -> Vec<String> {
        let mut v = vec!["-e".to_string(), kp.clone(), "-e".into(), up.clone()];
        v.extend(more.iter().map(|s| s.to_string()));
        v
    };
    let play = |more: &[&'static str]| {
        let args = with(more);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tb.play("keys", KEYS, &args)
    };
    // first run at -vvvv: scripts and outputs shown, never a passphrase
    let first = play(&["-vvvv"]);
    changed(&first, 6);
    for secret in [KEY_PASS, USER_PASS] {
        assert!(
            !first.stdout.contains(secret) && !first.stderr.contains(secret),
            "a passphrase was printed"
        );
    }
    changed(&play(&[]), 0);

    // the keys on the host: modes, owners, formats, passphrases
    assert_eq!(
        out(
            &tb,
            "cd /home/deploy/.ssh && stat -c '%a %U:%G' deploy_key deploy_key.pub id_ed25519"
        ),
        "600 deploy:deploy\n644 deploy:deploy\n600 deploy:deploy"
    );
    assert_eq!(out(&tb, "stat -c %a /root/ecdsa /root/rsa_pem"), "400\n600");
    assert_eq!(
        out(&tb, "head -n 1 /root/rsa_pem"),
        "-----BEGIN RSA PRIVATE KEY-----"
    );
    assert!(out(&tb, "ssh-keygen -l -f /root/ecdsa.pub").starts_with("384 SHA256:"));
    tb.exec(
        "host1",
        "test ! -e /root/old_key && test ! -e /root/old_key.pub",
    )
    .code(0);
    for (key, pass) in [
        ("/home/deploy/.ssh/deploy_key", KEY_PASS),
        ("/home/deploy/.ssh/id_ed25519", USER_PASS),
    ] {
        // encrypted: no empty passphrase opens it, the right one does
        tb.exec("host1", &format!("ssh-keygen -y -P '' -f {key}"))
            .code(255);
        let derived = out(&tb, &format!("ssh-keygen -y -P '{pass}' -f {key}"));
        assert_eq!(derived, out(&tb, &format!("cat {key}.pub")));
    }
    assert!(out(&tb, "cat /home/deploy/.ssh/id_ed25519.pub").ends_with(" deploy@tb"));
    // the registered fingerprint and public key are the file's
    let fp = out(
        &tb,
        "ssh-keygen -l -f /home/deploy/.ssh/deploy_key.pub | cut -d' ' -f2",
    );
    let public = out(&tb, "cut -d' ' -f1,2 /home/deploy/.ssh/deploy_key.pub");
    assert_eq!(
        out(&tb, "cat /root/deploy_key.returned"),
        format!("{fp} {public}")
    );

    // drift behind opsctl's back: another comment, a lost public key, a
    // looser mode, an old key back
    tb.exec(
        "host1",
        &format!(
            "ssh-keygen -q -c -C other -P '{KEY_PASS}' -f /home/deploy/.ssh/deploy_key >/dev/null \
             && rm /root/ecdsa.pub && chmod 644 /root/rsa_pem \
             && ssh-keygen -q -t ed25519 -N '' -f /root/old_key"
        ),
    )
    .code(0);
    let before = out(&tb, "cat /home/deploy/.ssh/deploy_key.pub");
    let check = play(&["--check", "--diff"]);
    changed(&check, 4);
    check
        .stdout_has("-comment: other")
        .stdout_has("+comment: deploy@web")
        .stdout_has("-mode: 0644")
        .stdout_has("+mode: 0600");
    assert!(!check.stdout.contains(KEY_PASS) && !check.stdout.contains("PRIVATE KEY"));
    assert_eq!(out(&tb, "cat /home/deploy/.ssh/deploy_key.pub"), before);
    tb.exec(
        "host1",
        "test ! -e /root/ecdsa.pub && test -e /root/old_key",
    )
    .code(0);
    assert_eq!(out(&tb, "stat -c %a /root/rsa_pem"), "644");

    // the real run repairs without regenerating: same key material
    changed(&play(&[]), 4);
    assert_eq!(
        out(
            &tb,
            "ssh-keygen -l -f /home/deploy/.ssh/deploy_key.pub | cut -d' ' -f2"
        ),
        fp
    );
    assert!(out(&tb, "cat /home/deploy/.ssh/deploy_key.pub").ends_with(" deploy@web"));
    assert_eq!(
        out(&tb, "ssh-keygen -y -P '' -f /root/ecdsa"),
        out(&tb, "cat /root/ecdsa.pub")
    );
    changed(&play(&[]), 0);

    // a wrong passphrase is an error, not a new key (partial_idempotence)
    let wrong = tb.play(
        "keys",
        KEYS,
        &[
            "-e",
            "key_pass=Wrong-passphrase",
            "-e",
            &format!("user_pass={USER_PASS}"),
        ],
    );
    wrong
        .code(2)
        .stdout_has("protected by another passphrase, or broken");
    assert_eq!(
        out(
            &tb,
            "ssh-keygen -l -f /home/deploy/.ssh/deploy_key.pub | cut -d' ' -f2"
        ),
        fp
    );
}

/// sshd stops for a few seconds in the background; a short wait times out,
/// a longer one returns once new connections work again (the marker is
/// written just before sshd starts, so a task that ran without waiting would
/// not find it). opsctl's own connection stays up throughout.
const RECONNECT: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: sshd goes away for a while, in the background
      shell: >-
        rm -f /tmp/sshd_starting;
        nohup sh -c 'sleep 1; service ssh stop; sleep 8; touch /tmp/sshd_starting; service ssh start'
        </dev/null >/dev/null 2>&1 &
    - name: too short a wait fails
      wait_for_connection:
        delay: 2
        timeout: 2
        connect_timeout: 1
      register: short
      ignore_errors: true
    - assert:
        that:
          - short is failed
          - "'timed out waiting for a connection to host1' in short.msg"
    - name: a long enough wait returns once sshd answers again
      ansible.builtin.wait_for_connection:
        sleep: 1
        timeout: 60
        connect_timeout: 2
      register: w
    - stat:
        path: /tmp/sshd_starting
      register: s
    - assert:
        that:
          - w is not changed
          - w.elapsed >= 0
          - s.stat.exists
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn wait_for_connection_waits_for_sshd_to_come_back() {
    let tb = Testbed::up(1);
    let run = tb.play("reconnect", RECONNECT, &[]);
    run.code(0).no_panic();
    // the host reports the one failure as ignored
    run.stdout_has("ignored=1");
    // in check mode it waits too (and changes nothing): sshd is up now
    let check = tb.play(
        "reconnect_check",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - wait_for_connection:\n        timeout: 10\n      register: w\n    - assert:\n        that: [w is not changed, w is not skipped]\n",
        &["--check"],
    );
    changed(&check, 0);
}

const IPTABLES: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - apt:
        name: iptables
    - name: a chain of the app
      iptables:
        chain: APP
        chain_management: true
    - name: loopback first
      iptables:
        chain: INPUT
        in_interface: lo
        jump: ACCEPT
        action: insert
        rule_num: "1"
    - name: replies
      iptables:
        chain: INPUT
        ctstate: [ESTABLISHED, RELATED]
        jump: ACCEPT
    - name: ssh and the app's ports
      ansible.builtin.iptables:
        chain: INPUT
        protocol: tcp
        destination_ports: ["22", "8080:8089"]
        jump: ACCEPT
        comment: ssh and app
      register: r
    - assert:
        that:
          - r.rule == '-p tcp -j ACCEPT -m multiport --dports 22,8080:8089 -m comment --comment ssh and app'
          - r.chain == 'INPUT' and r.table == 'filter'
    - name: the app's chain gets its port
      iptables:
        chain: INPUT
        protocol: tcp
        destination_port: "9000"
        jump: APP
    - name: no telnet
      iptables:
        chain: INPUT
        protocol: tcp
        destination_port: "23"
        jump: ACCEPT
        state: absent
    - name: ssh over IPv6
      iptables:
        ip_version: ipv6
        chain: INPUT
        protocol: tcp
        destination_port: "22"
        jump: ACCEPT
    - name: masquerade
      iptables:
        table: nat
        chain: POSTROUTING
        out_interface: eth0
        jump: MASQUERADE
    - name: nothing is forwarded
      iptables:
        chain: FORWARD
        policy: DROP
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn iptables_rules_policies_and_chains() {
    let tb = Testbed::up(1);
    // iptables from the offline repository, and a rule to remove
    tb.exec(
        "host1",
        "apt-get install -y iptables >/dev/null 2>&1 && iptables -A INPUT -p tcp --dport 23 -j ACCEPT",
    )
    .code(0);
    changed(&tb.play("iptables", IPTABLES, &[]), 9);
    changed(&tb.play("iptables", IPTABLES, &[]), 0);
    let rules = out(
        &tb,
        "iptables -S; iptables -t nat -S POSTROUTING; ip6tables -S INPUT",
    );
    for line in [
        "-P FORWARD DROP",
        "-N APP",
        "-A INPUT -p tcp -m multiport --dports 22,8080:8089 -m comment --comment \"ssh and app\" -j ACCEPT",
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A INPUT -p tcp -m tcp --dport 9000 -j APP",
        "-A POSTROUTING -o eth0 -j MASQUERADE",
        "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
    ] {
        assert!(
            rules.lines().any(|l| l == line),
            "{line:?} missing in\n{rules}"
        );
    }
    assert!(!rules.contains("--dport 23 "), "{rules}");
    assert_eq!(
        out(&tb, "iptables -S INPUT | sed -n 2p"),
        "-A INPUT -i lo -j ACCEPT"
    );

    // drift: loopback rule gone, the policy back, telnet back
    tb.exec(
        "host1",
        "iptables -D INPUT -i lo -j ACCEPT && iptables -P FORWARD ACCEPT && iptables -A INPUT -p tcp --dport 23 -j ACCEPT",
    )
    .code(0);
    let drifted = out(&tb, "iptables -S");
    let check = tb.play("iptables", IPTABLES, &["--check", "--diff"]);
    changed(&check, 3);
    check
        .stdout_has("--P FORWARD ACCEPT")
        .stdout_has("+-P FORWARD DROP")
        .stdout_has("+-A INPUT -j ACCEPT -i lo")
        .stdout_has("(removed) -A INPUT -p tcp -j ACCEPT --destination-port 23");
    assert_eq!(out(&tb, "iptables -S"), drifted);
    changed(&tb.play("iptables", IPTABLES, &[]), 3);
    assert_eq!(
        out(&tb, "iptables -S INPUT | sed -n 2p"),
        "-A INPUT -i lo -j ACCEPT"
    );
    changed(&tb.play("iptables", IPTABLES, &[]), 0);
}

const SYNC: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - apt:
        name: rsync
    - name: the site, pushed over opsctl's connection
      synchronize:
        src: site/
        dest: /srv/site
        delete: true
        rsync_opts: ["--exclude=*.tmp"]
      register: p
    - assert:
        that:
          - p is not changed or p.stdout_lines | select('search', 'index.html') | list | length == 1
          - p.cmd is search('--rsh=ssh -S')
    - name: a file of the host, pulled
      ansible.posix.synchronize:
        mode: pull
        src: /etc/hostname
        dest: "{{ pull_dest }}/"
"#;

#[test]
#[ignore = "needs root: the local test bed and rsync on the controller (make test runs it)"]
fn synchronize_pushes_and_pulls_over_the_connection() {
    let tb = Testbed::up(1);
    tb.write("playbooks/site/index.html", "<h1>v1</h1>\n");
    tb.write("playbooks/site/css/app.css", "body {}\n");
    tb.write("playbooks/site/draft.tmp", "not shipped\n");
    let pulled = tb.project.path().join("pulled");
    std::fs::create_dir_all(&pulled).unwrap();
    let pull_dest = format!("pull_dest={}", pulled.display());
    tb.exec(
        "host1",
        "mkdir -p /srv/site && echo old > /srv/site/stale.html",
    )
    .code(0);
    changed(&tb.play("sync", SYNC, &["-e", &pull_dest]), 3);
    changed(&tb.play("sync", SYNC, &["-e", &pull_dest]), 0);
    assert_eq!(out(&tb, "cat /srv/site/index.html"), "<h1>v1</h1>");
    assert_eq!(out(&tb, "cat /srv/site/css/app.css"), "body {}");
    tb.exec(
        "host1",
        "test ! -e /srv/site/stale.html && test ! -e /srv/site/draft.tmp",
    )
    .code(0);
    assert_eq!(
        std::fs::read_to_string(pulled.join("hostname"))
            .unwrap()
            .trim(),
        out(&tb, "cat /etc/hostname")
    );

    // drift on the host: --check --diff is rsync's dry run, shown, nothing changed
    tb.exec(
        "host1",
        "echo changed > /srv/site/index.html && touch /srv/site/extra",
    )
    .code(0);
    let check = tb.play("sync", SYNC, &["-e", &pull_dest, "--check", "--diff"]);
    changed(&check, 1);
    check
        .stdout_has("index.html")
        .stdout_has("*deleting   extra");
    assert_eq!(out(&tb, "cat /srv/site/index.html"), "changed");
    tb.exec("host1", "test -e /srv/site/extra").code(0);
    changed(&tb.play("sync", SYNC, &["-e", &pull_dest]), 1);
    assert_eq!(out(&tb, "cat /srv/site/index.html"), "<h1>v1</h1>");
    tb.exec("host1", "test ! -e /srv/site/extra").code(0);
}
