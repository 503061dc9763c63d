//! System modules (apt, package, service, systemd, user, group, authorized_key,
//! cron) through the real binary on real test-bed hosts: the first run changes,
//! the second changes nothing, `--check` on a drifted host reports the change
//! and makes none, `--diff` shows it.

use crate::common::{Run, Testbed};

/// The recap of the one host says `changed=N`.
#[track_caller]
pub(crate) fn changed(run: &Run, n: usize) {
    run.code(0).no_panic();
    let want = format!(" changed={n} ");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("host1 ") && l.contains(&want)),
        "recap lacks {want:?}\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout,
        run.stderr
    );
}

pub(crate) fn out(tb: &Testbed, script: &str) -> String {
    let r = tb.exec("host1", script);
    r.stdout.trim().to_string()
}

/// dpkg's status word for a package (`installed`, `config-files`...), or "".
fn dpkg_status(tb: &Testbed, pkg: &str) -> String {
    out(
        tb,
        &format!("dpkg-query -W -f='${{Status}}' {pkg} 2>/dev/null | awk '{{print $3}}'"),
    )
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn apt_and_package_install_remove_and_predict() {
    let tb = Testbed::up(1);
    // update_cache alone: the update runs and is registered, but lists that
    // come back the same change nothing (the lists' content is compared)
    let refresh = |want: &str| {
        format!(
            "- hosts: web\n  gather_facts: false\n  tasks:\n    - apt:\n        update_cache: true\n      register: u\n    - assert:\n        that: [u.cache_updated, \"u is {want}\", \"u.cache_update_time > 0\"]\n"
        )
    };
    changed(&tb.play("refresh", &refresh("not changed"), &[]), 0);
    tb.exec(
        "host1",
        "test -f /var/lib/apt/periodic/update-success-stamp",
    )
    .code(0);
    // lists gone behind opsctl's back: fetched again, and that is a change
    tb.exec("host1", "rm -f /var/lib/apt/lists/*_Packages")
        .code(0);
    changed(&tb.play("refresh", &refresh("changed"), &[]), 1);

    let install = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: cron from the lists updated less than an hour ago
      apt:
        name: [cron]
        cache_valid_time: 3600
        install_recommends: false
      register: a
    - assert:
        that: ["not a.cache_updated"]
    - name: unzip through the generic module
      package:
        name: unzip
"#;
    let run = tb.play("install", install, &["--diff"]);
    changed(&run, 2);
    run.stdout_has("-cron: absent").stdout_has("+cron: 3.0");
    run.stdout_has("+unzip: ");
    assert_eq!(dpkg_status(&tb, "cron"), "installed");
    assert_eq!(dpkg_status(&tb, "unzip"), "installed");
    changed(&tb.play("install", install, &[]), 0);

    // drifted: --check predicts the install and does nothing
    tb.exec(
        "host1",
        "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q cron",
    )
    .code(0);
    let run = tb.play("install", install, &["--check", "--diff"]);
    changed(&run, 1);
    run.stdout_has("would change")
        .stdout_has("-cron: absent")
        .stdout_has("+cron: 3.0");
    assert_ne!(dpkg_status(&tb, "cron"), "installed");
    changed(&tb.play("install", install, &[]), 1);
    assert_eq!(dpkg_status(&tb, "cron"), "installed");

    // latest on an up-to-date package changes nothing; absent removes
    let remove = r#"
- hosts: web
  gather_facts: false
  tasks:
    - apt: name=cron state=latest
    - apt:
        name: [cron, unzip]
        state: absent
        purge: true
"#;
    let run = tb.play("remove", remove, &["--diff"]);
    changed(&run, 1);
    run.stdout_has("-cron: 3.0").stdout_has("+cron: absent");
    for pkg in ["cron", "unzip"] {
        let st = dpkg_status(&tb, pkg);
        assert!(st.is_empty() || st == "not-installed", "{pkg}: {st}");
    }
    let remove_only = "- hosts: web\n  gather_facts: false\n  tasks:\n    - apt:\n        name: [cron, unzip]\n        state: absent\n";
    changed(&tb.play("remove_only", remove_only, &[]), 0);

    // a package that does not exist is named
    let bad =
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - apt: name=no-such-package-xyz\n";
    tb.play("bad", bad, &[])
        .code(2)
        .no_panic()
        .stdout_has("No package matching 'no-such-package-xyz' is available");

    // not root: the message says what to do
    tb.play("install", install, &["-e", "ansible_user=deploy"])
        .code(2)
        .no_panic()
        .stdout_has("needs root")
        .stdout_has("become: true");
    assert_ne!(dpkg_status(&tb, "cron"), "installed");
}

/// The service tests, the same on both kinds of host.
fn service_round_trips(tb: &Testbed, running: &str, enabled: &str) {
    let stop = r#"
- hosts: web
  gather_facts: false
  tasks:
    - apt: name=cron
    - name: cron stopped and disabled
      service:
        name: cron
        state: stopped
        enabled: false
      register: s
    - assert:
        that: ["s.state == 'stopped'", "not s.enabled", "s.name == 'cron'"]
"#;
    changed(&tb.play("stop", stop, &[]), 2);
    assert_ne!(out(tb, running), "yes", "cron still runs");
    assert_eq!(out(tb, enabled), "no");
    changed(&tb.play("stop", stop, &[]), 0);

    // drifted: started and enabled behind our back
    let start = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: cron started and enabled
      systemd:
        name: cron
        state: started
        enabled: true
"#;
    let run = tb.play("start", start, &["--check", "--diff"]);
    changed(&run, 1);
    run.stdout_has("would change")
        .stdout_has("-state: stopped")
        .stdout_has("+state: started")
        .stdout_has("-enabled: no")
        .stdout_has("+enabled: yes");
    assert_ne!(out(tb, running), "yes", "--check started cron");
    let run = tb.play("start", start, &["--diff"]);
    changed(&run, 1);
    run.stdout_has("+state: started");
    assert_eq!(out(tb, running), "yes");
    assert_eq!(out(tb, enabled), "yes");
    changed(&tb.play("start", start, &[]), 0);

    // restarted always changes, and really restarts
    let pid = out(tb, "pidof cron");
    let restart =
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - service: name=cron state=restarted\n";
    changed(&tb.play("restart", restart, &[]), 1);
    assert_eq!(out(tb, running), "yes");
    assert_ne!(out(tb, "pidof cron"), pid, "the pid changed");

    // an unknown service is a clear failure naming it
    let bad = "- hosts: web\n  gather_facts: false\n  tasks:\n    - service: name=no-such-svc state=started\n";
    tb.play("bad", bad, &[])
        .code(2)
        .no_panic()
        .stdout_has("Could not find the requested service no-such-svc");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn service_without_systemd() {
    let tb = Testbed::up(1);
    tb.exec("host1", "test ! -d /run/systemd/system").code(0);
    service_round_trips(
        &tb,
        "/etc/init.d/cron status >/dev/null 2>&1 && echo yes || echo no",
        "ls /etc/rc2.d/S[0-9][0-9]cron >/dev/null 2>&1 && echo yes || echo no",
    );
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn service_and_systemd_with_systemd() {
    let tb = Testbed::up_kind(1, "systemd");
    tb.exec("host1", "test -d /run/systemd/system").code(0);
    service_round_trips(
        &tb,
        "systemctl is-active -q cron && echo yes || echo no",
        "systemctl is-enabled -q cron && echo yes || echo no",
    );
    // masking, and daemon_reload
    let mask = r#"
- hosts: web
  gather_facts: false
  tasks:
    - systemd_service:
        name: cron
        state: stopped
        masked: true
        daemon_reload: true
"#;
    changed(&tb.play("mask", mask, &[]), 1);
    assert_eq!(out(&tb, "systemctl is-enabled cron"), "masked");
    changed(&tb.play("mask", mask, &[]), 0);
    let unmask = "- hosts: web\n  gather_facts: false\n  tasks:\n    - systemd: name=cron masked=false state=started enabled=true\n";
    changed(&tb.play("unmask", unmask, &[]), 1);
    assert_eq!(out(&tb, "systemctl is-active cron"), "active");
}

const HASH: &str = "$6$opsctltest$3R2jL6g5XDi1GbMIOSx.hk64Q80lLSoNDEbZCrd7UdMCOHoBicHlWc.Bqk/TxGzk8axV79WFH11zqncRAOYEY/";

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn user_group_and_authorized_key() {
    let tb = Testbed::up(1);
    let pubkey = std::fs::read_to_string(tb.env_dir.join("id_ed25519.pub")).unwrap();
    let play = format!(
        r#"
- hosts: web
  gather_facts: false
  tasks:
    - group:
        name: app
        gid: 1500
    - user:
        name: app
        uid: 1501
        group: app
        groups: [sudo, www-data]
        shell: /bin/bash
        comment: App user
        password: "{HASH}"
      register: u
    - assert:
        that: ["u.password == 'NOT_LOGGING_PASSWORD'", "u.uid == 1501", "u.home == '/home/app'"]
    - authorized_key:
        user: app
        key: "{}"
"#,
        pubkey.trim()
    );
    let run = tb.play("users", &play, &["--diff", "-vv"]);
    changed(&run, 3);
    run.stdout_has("+gid: 1500")
        .stdout_has("+shell: /bin/bash")
        .stdout_has("+password: NOT_LOGGING_PASSWORD")
        .stdout_has("+ssh-ed25519 ");
    assert!(
        !run.stdout.contains("opsctltest$") && !run.stderr.contains("opsctltest$"),
        "the password hash leaked:\n{}",
        run.stdout
    );
    assert_eq!(
        out(&tb, "getent passwd app"),
        "app:x:1501:1500:App user:/home/app:/bin/bash"
    );
    assert_eq!(out(&tb, "id -Gn app"), "app sudo www-data");
    assert_eq!(out(&tb, "getent shadow app | cut -d: -f2"), HASH);
    assert_eq!(
        out(
            &tb,
            "stat -c '%U %a' /home/app/.ssh /home/app/.ssh/authorized_keys"
        ),
        "app 700\napp 600"
    );
    changed(&tb.play("users", &play, &[]), 0);

    // the key works: opsctl connects as app
    tb.opsctl(&["ping", "--env", "tb", "-e", "ansible_user=app"])
        .code(0)
        .stdout_has("host1 | pong");

    // drifted: --check reports it and changes nothing
    tb.exec(
        "host1",
        "usermod -s /bin/sh app && gpasswd -d app www-data >/dev/null && chmod 644 /home/app/.ssh/authorized_keys",
    )
    .code(0);
    let run = tb.play("users", &play, &["--check", "--diff"]);
    changed(&run, 2);
    run.stdout_has("-shell: /bin/sh")
        .stdout_has("+shell: /bin/bash")
        .stdout_has("-groups: sudo")
        .stdout_has("+groups: sudo,www-data")
        .stdout_has("authorized_keys (mode)");
    assert_eq!(
        out(
            &tb,
            "getent passwd app | cut -d: -f7; stat -c %a /home/app/.ssh/authorized_keys"
        ),
        "/bin/sh\n644"
    );
    changed(&tb.play("users", &play, &[]), 2);
    changed(&tb.play("users", &play, &[]), 0);

    // a new password is set, and still never shown
    let other = "$6$opsctlnew$CVYcd1cN57amphNzE5J835AEKwTlL8qI.z4fKF0.xWjL/xirGnfT7Xzi/pSgP4v/hXM/yT26rtbpPjjfUC2XB1";
    let run = tb.play("users", &play.replace(HASH, other), &["--diff", "-vv"]);
    changed(&run, 1);
    run.stdout_has("+password: NOT_LOGGING_PASSWORD (changed)");
    assert!(!run.stdout.contains("opsctlnew$"), "{}", run.stdout);
    assert_eq!(out(&tb, "getent shadow app | cut -d: -f2"), other);

    // removal
    let gone = r#"
- hosts: web
  gather_facts: false
  tasks:
    - authorized_key:
        user: app
        key: "KEY"
        state: absent
    - user: name=app state=absent remove=yes
    - group: name=app state=absent
"#
    .replace("KEY", pubkey.trim());
    // (userdel drops the user's own group with it)
    changed(&tb.play("gone", &gone, &[]), 2);
    tb.exec(
        "host1",
        "getent passwd app || getent group app || test -e /home/app",
    )
    .code(1);
    // (a key of a user that is gone is gone too: nothing to do)
    changed(&tb.play("gone", &gone, &[]), 0);

    // a user that does not exist, a group that does not exist: check mode says
    // it would add the user (an earlier task may add the group, as Ansible's
    // check mode assumes); the real run fails with useradd's word
    let bad =
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - user: name=app2 group=nosuchgroup\n";
    tb.play("bad", bad, &["--check"])
        .code(0)
        .stdout_has("would change");
    tb.play("bad", bad, &[])
        .code(2)
        .stdout_has("group 'nosuchgroup' does not exist");
    tb.exec("host1", "getent passwd app2").code(2);
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn cron_entries_in_ansibles_format() {
    let tb = Testbed::up(1);
    tb.exec(
        "host1",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q cron >/dev/null 2>&1",
    )
    .code(0);
    // a crontab Ansible wrote stays managed
    tb.exec(
        "host1",
        "printf '#Ansible: certs_renewal\\n@weekly certbot renew -q\\n' | crontab -",
    )
    .code(0);
    let play = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: certs renewal
      cron:
        name: certs_renewal
        special_time: weekly
        job: certbot renew -q
    - name: mail to ops
      cron:
        name: MAILTO
        env: true
        job: ops@example.org
    - name: app poll
      cron:
        name: poll
        minute: "*/5"
        job: /usr/bin/true
        user: www-data
        cron_file: app-poll
    - name: deploy's cleanup
      cron:
        name: cleanup
        hour: "3"
        minute: "0"
        user: deploy
        job: find /tmp -mtime +7 -delete
"#;
    let run = tb.play("cron", play, &["--diff"]);
    changed(&run, 3);
    run.stdout_has("+MAILTO=\"ops@example.org\"")
        .stdout_has("+*/5 * * * * www-data /usr/bin/true");
    assert_eq!(
        out(&tb, "crontab -l"),
        "MAILTO=\"ops@example.org\"\n#Ansible: certs_renewal\n@weekly certbot renew -q"
    );
    assert_eq!(
        out(
            &tb,
            "cat /etc/cron.d/app-poll; stat -c %a /etc/cron.d/app-poll"
        ),
        "#Ansible: poll\n*/5 * * * * www-data /usr/bin/true\n644"
    );
    assert_eq!(
        out(&tb, "crontab -l -u deploy"),
        "#Ansible: cleanup\n0 3 * * * find /tmp -mtime +7 -delete"
    );
    changed(&tb.play("cron", play, &[]), 0);

    // drifted: --check reports it, the crontab stays as it is
    tb.exec("host1", "crontab -r").code(0);
    let run = tb.play("cron", play, &["--check", "--diff"]);
    changed(&run, 2);
    run.stdout_has("would change")
        .stdout_has("+#Ansible: certs_renewal")
        .stdout_has("+@weekly certbot renew -q");
    tb.exec("host1", "crontab -l").code(1);
    changed(&tb.play("cron", play, &[]), 2);

    // a changed schedule replaces the entry, never duplicates it
    let daily = play.replace("special_time: weekly", "special_time: daily");
    changed(&tb.play("cron", &daily, &[]), 1);
    assert_eq!(
        out(
            &tb,
            "crontab -l | grep -c certbot; crontab -l | grep certbot"
        ),
        "1\n@daily certbot renew -q"
    );

    // absent: the entry goes, and an emptied cron file too
    let gone = r#"
- hosts: web
  gather_facts: false
  tasks:
    - cron: name=certs_renewal state=absent
    - cron: name=poll cron_file=app-poll state=absent
"#;
    changed(&tb.play("gone", gone, &[]), 2);
    assert_eq!(out(&tb, "crontab -l"), "MAILTO=\"ops@example.org\"");
    tb.exec("host1", "test -e /etc/cron.d/app-poll").code(1);
    changed(&tb.play("gone", gone, &[]), 0);
}
