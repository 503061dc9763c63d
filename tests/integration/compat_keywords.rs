//! Ansible's task keywords `remote_user`, `timeout` and `throttle` (issue 11),
//! through the real binary on real test-bed hosts: one test bed of three
//! plain hosts, one playbook.

use crate::common::Testbed;

const PLAY: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: a user who may log in with the test bed's key
      when: inventory_hostname == 'host1'
      block:
        - user: name=tester shell=/bin/sh
        - file: path=/home/tester/.ssh state=directory owner=tester mode="0700"
        - copy:
            remote_src: true
            src: /root/.ssh/authorized_keys
            dest: /home/tester/.ssh/authorized_keys
            owner: tester
            mode: "0600"
        - name: this task logs in as tester
          command: whoami
          remote_user: tester
          register: as_tester
        - name: a block's remote_user, for each of its tasks
          remote_user: deploy
          block:
            - command: whoami
              register: as_deploy
            - name: with become, deploy's sudo makes it root
              command: whoami
              become: true
              register: as_deploy_root
            - name: the task's own remote_user wins over its block's
              command: whoami
              remote_user: tester
              register: as_tester_again
        - name: without remote_user, the host's login user again
          command: whoami
          register: as_root
        - assert:
            that:
              - as_tester.stdout == 'tester'
              - as_deploy.stdout == 'deploy'
              - as_deploy_root.stdout == 'root'
              - as_tester_again.stdout == 'tester'
              - as_root.stdout == 'root'
        - name: a command that outlives its timeout
          command: sleep 31
          timeout: 2
          register: slow
          ignore_errors: true
        - name: a timeout the action keeps
          shell: "sleep 0.2; echo done"
          timeout: "{{ 1 + 4 }}"
          register: quick
        - assert:
            that:
              - slow is failed
              - "'The task timed out after 2 seconds' in slow.msg"
              - slow.timedout.period == 2
              - slow is timedout
              - quick is not timedout
              - quick.stdout == 'done'
    - name: one host at a time
      shell: "date +%s%N > /tmp/throttle-start; sleep 0.5; date +%s%N > /tmp/throttle-end"
      throttle: 1
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn remote_user_timeout_and_throttle() {
    let tb = Testbed::up(3);
    let run = tb.play("keywords", PLAY, &[]);
    run.code(0).no_panic();
    assert!(
        run.stdout.contains("The task timed out after 2 seconds"),
        "{}",
        run.stdout
    );
    // The timed-out command was killed on the host, not left running.
    let left = tb.exec("host1", "ps -eo args= | grep -x 'sleep 31' || true");
    assert_eq!(left.stdout.trim(), "", "the timed-out sleep still runs");
    // throttle: 1: the hosts ran the task one after the other.
    let mut spans: Vec<(u128, u128)> = (1..=3)
        .map(|i| {
            let r = tb.exec(
                &format!("host{i}"),
                "cat /tmp/throttle-start /tmp/throttle-end",
            );
            let n: Vec<u128> = r
                .stdout
                .lines()
                .map(|l| l.trim().parse().unwrap())
                .collect();
            (n[0], n[1])
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "two hosts ran the throttled task at once: {spans:?}"
        );
    }
}
