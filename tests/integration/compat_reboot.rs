//! Ansible modules of issue 11 that real roles still reached: `reboot` (the
//! host reboots and the play goes on over a new SSH master),
//! `community.general.pamd` (rules of /etc/pam.d files), `community.general.xml`
//! (XPath edits of an XML file), and the `varnames`
//! lookup, through the real binary on real test-bed hosts. A test host
//! reboots as a server does (tests/testbed/README.md, Reboot): its PID 1 ends,
//! the test bed starts it again with the same root, network and host key, and
//! it has a new boot id.

use crate::common::Testbed;
use crate::modules_system::{changed, out};

const REBOOT: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: before
      command: cat /proc/sys/kernel/random/boot_id
      register: before
      changed_when: false
      check_mode: false
    - name: a file that outlives the reboot
      copy:
        dest: /var/tmp/opsctl-before-reboot
        content: "{{ before.stdout }}\n"
    - name: the reboot
      reboot:
        msg: opsctl integration test
        reboot_timeout: 120
        connect_timeout: 5
      register: rebooted
    - name: after
      command: cat /proc/sys/kernel/random/boot_id
      register: after
      changed_when: false
      check_mode: false
    - assert:
        that:
          - rebooted.rebooted
          - rebooted.elapsed is number
          - after.stdout != before.stdout
          - "lookup('varnames', '^rebo') == 'rebooted'"
      when: not ansible_check_mode
    - name: written after the reboot, over the new master
      copy:
        dest: /var/tmp/opsctl-after-reboot
        content: "{{ after.stdout }}\n"
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn reboot_waits_for_the_new_boot_and_the_play_goes_on() {
    let tb = Testbed::up(1);
    let boot0 = out(&tb, "cat /proc/sys/kernel/random/boot_id");
    // check mode: nothing happens, the reboot is reported as a change
    let check = tb.play("reboot", REBOOT, &["--check"]);
    check.code(0).no_panic();
    assert_eq!(out(&tb, "cat /proc/sys/kernel/random/boot_id"), boot0);
    assert!(
        check.stdout.contains("reboot"),
        "--- stdout\n{}",
        check.stdout
    );

    let run = tb.play("reboot", REBOOT, &[]);
    // the copy before, the reboot, the copy after
    changed(&run, 3);
    let boot1 = out(&tb, "cat /proc/sys/kernel/random/boot_id");
    assert_ne!(boot1, boot0, "the host did not reboot");
    assert_eq!(out(&tb, "cat /var/tmp/opsctl-before-reboot"), boot0);
    assert_eq!(out(&tb, "cat /var/tmp/opsctl-after-reboot"), boot1);
    // the host answers opsctl after the run, as before (same host key)
    tb.opsctl(&["ping", "--env", "tb"])
        .code(0)
        .stdout_has("pong");
    // and the test bed's records follow the new PID 1
    let status = std::process::Command::new(crate::common::repo().join("tests/testbed/testbed"))
        .args(["status", "--dir"])
        .arg(&tb.env_dir)
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(status.trim_end().ends_with(" up"), "{status}");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn reboot_that_never_comes_back_times_out_naming_the_host() {
    let tb = Testbed::up(1);
    // a boot time command whose answer never changes: the host is back, but
    // not seen to have rebooted
    let pb = r#"
- hosts: web
  gather_facts: false
  tasks:
    - reboot:
        reboot_timeout: 8
        boot_time_command: echo same
"#;
    let run = tb.play("reboot_timeout", pb, &[]);
    run.code(2).no_panic();
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("Timed out waiting for host1 to come back after its reboot (8 s"),
        "{all}"
    );
    assert!(all.contains("the boot time has not changed yet"), "{all}");
    // a typo in an argument is a load error with the nearest name
    let typo = "- hosts: web\n  gather_facts: false\n  tasks:\n    - reboot: reboot_timout=5\n";
    let run = tb.play("reboot_typo", typo, &[]);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("reboot_typo.yml:4:7") && all.contains("did you mean 'reboot_timeout'"),
        "{all}"
    );
}

/// One test host, with `content` written at `path`.
fn host_with_file(path: &str, content: &str) -> Testbed {
    let tb = Testbed::up(1);
    tb.exec("host1", &format!("printf '%s' '{content}' > {path}"))
        .code(0);
    tb
}

const PAMD: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: a rule after another
      community.general.pamd:
        name: opsctl-test
        type: account
        control: required
        module_path: pam_nologin.so
        new_type: session
        new_control: optional
        new_module_path: pam_motd.so
        module_arguments: motd=/run/motd.dynamic
        state: after
    - name: arguments added to a rule, one given a new value
      pamd:
        name: opsctl-test
        type: password
        control: "[success=1 default=ignore]"
        module_path: pam_unix.so
        module_arguments: rounds=65536 remember=5
        state: args_present
    - name: a control updated
      pamd:
        name: opsctl-test
        type: session
        control: required
        module_path: pam_limits.so
        new_control: requisite
    - name: a rule removed
      pamd:
        name: opsctl-test
        type: auth
        control: required
        module_path: pam_env.so
        state: absent
      register: removed
    - assert:
        that: ["removed.change_count == (removed.changed | ternary(1, 0))"]
"#;

const PAM_FILE: &str = "#%PAM-1.0\n\
auth       required     pam_env.so\n\
account    required     pam_nologin.so\n\
# passwords\n\
password   [success=1 default=ignore]   pam_unix.so obscure rounds=5000\n\
session    required     pam_limits.so\n";

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn pamd_edits_rules_converges_and_predicts_drift() {
    let tb = host_with_file("/etc/pam.d/opsctl-test", PAM_FILE);
    let run = tb.play("pamd", PAMD, &[]);
    changed(&run, 4);
    let want = "#%PAM-1.0\n\
account    required     pam_nologin.so\n\
session    optional pam_motd.so motd=/run/motd.dynamic\n\
# passwords\n\
password   [success=1 default=ignore] pam_unix.so obscure rounds=65536 remember=5\n\
session    requisite pam_limits.so";
    assert_eq!(out(&tb, "cat /etc/pam.d/opsctl-test"), want);
    changed(&tb.play("pamd", PAMD, &[]), 0);

    // drift behind opsctl's back: the motd rule and an argument gone
    tb.exec(
        "host1",
        "sed -i '/pam_motd/d; s/ remember=5//' /etc/pam.d/opsctl-test",
    )
    .code(0);
    let check = tb.play("pamd", PAMD, &["--check", "--diff"]);
    changed(&check, 2);
    check
        .stdout_has("+session    optional pam_motd.so motd=/run/motd.dynamic")
        .stdout_has(
            "+password   [success=1 default=ignore] pam_unix.so obscure rounds=65536 remember=5",
        );
    assert!(!out(&tb, "cat /etc/pam.d/opsctl-test").contains("pam_motd"));
    changed(&tb.play("pamd", PAMD, &[]), 2);
    assert_eq!(out(&tb, "cat /etc/pam.d/opsctl-test"), want);
    changed(&tb.play("pamd", PAMD, &[]), 0);
}

const XML: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: an attribute
      community.general.xml:
        path: /etc/opsctl-server.xml
        xpath: /server/connector[@name='http']
        attribute: port
        value: 9090
    - name: a path created, with its text
      xml:
        path: /etc/opsctl-server.xml
        xpath: /server/logging/level
        value: debug
    - name: the children of an element
      xml:
        path: /etc/opsctl-server.xml
        xpath: /server/hosts
        set_children:
          - host: web1
          - host: {"+value": web2, weight: "2"}
    - name: an element removed
      xml:
        path: /etc/opsctl-server.xml
        xpath: /server/legacy
        state: absent
    - name: counted
      xml:
        path: /etc/opsctl-server.xml
        xpath: //host
        count: true
      register: hosts
    - assert:
        that: ["hosts.count == 2"]
"#;

const SERVER_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<server>\n  <connector name=\"http\" port=\"8080\"/>\n  <hosts><host>old</host></hosts>\n  <legacy/>\n</server>\n";

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn xml_edits_converge_and_predict_drift() {
    let tb = host_with_file("/etc/opsctl-server.xml", SERVER_XML);
    let run = tb.play("xml", XML, &[]);
    changed(&run, 4);
    let doc = out(&tb, "cat /etc/opsctl-server.xml");
    assert!(
        doc.contains("<connector name=\"http\" port=\"9090\"/>"),
        "{doc}"
    );
    assert!(
        doc.contains("<logging><level>debug</level></logging>"),
        "{doc}"
    );
    assert!(
        doc.contains("<hosts><host>web1</host><host weight=\"2\">web2</host></hosts>"),
        "{doc}"
    );
    assert!(!doc.contains("legacy"), "{doc}");
    changed(&tb.play("xml", XML, &[]), 0);

    // drift: the port changed behind opsctl's back
    tb.exec("host1", "sed -i 's/9090/8081/' /etc/opsctl-server.xml")
        .code(0);
    let check = tb.play("xml", XML, &["--check", "--diff"]);
    changed(&check, 1);
    check
        .stdout_has("port=\"8081\"")
        .stdout_has("port=\"9090\"");
    assert!(out(&tb, "cat /etc/opsctl-server.xml").contains("8081"));
    changed(&tb.play("xml", XML, &[]), 1);
    changed(&tb.play("xml", XML, &[]), 0);
}
