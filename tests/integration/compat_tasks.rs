//! Ansible's task keywords and lookups through the real binary on real
//! test-bed hosts: include_vars, vars_files alternatives, the `with_<lookup>`
//! loops, include_tasks loops, set_fact (templated keys, cacheable, kept from
//! play to play) and the meta tasks. The loop playbook changes the hosts on its
//! first run and nothing on its second; `--check --diff` on a drifted host
//! shows the change and makes none.

use crate::common::{Run, Testbed};

/// Every host's recap line says `changed=N`.
#[track_caller]
fn changed_on_each(run: &Run, hosts: &[&str], n: usize) {
    run.code(0).no_panic();
    let want = format!(" changed={n} ");
    for h in hosts {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{h} ")) && l.contains(&want)),
            "recap of {h} lacks {want:?}\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout,
            run.stderr
        );
    }
}

const LOOPS: &str = r#"
- hosts: web
  gather_facts: false
  vars:
    os: Debian
    more: [5, [6]]
    users:
      - name: ann
        keys: [k1, k2]
      - name: bob
        keys: [k3]
      - name: cy
  vars_files:
    - ["vars/{{ os }}-12.yml", "vars/{{ os }}.yml"]
  tasks:
    - include_vars: common.yml
    - include_vars:
        dir: conf.d
        files_matching: '^\d+-'
        ignore_files: ['-secret.yml']
        depth: 1
        name: conf
    - include_vars:
        file: merge.yml
        hash_behaviour: merge
    - include_vars: "{{ item }}"
      with_first_found:
        - files: ["{{ os }}-12.yml", "{{ os }}.yml"]
          paths: [vars]
    - name: set_fact with a templated key, in the fact cache
      set_fact:
        "{{ app.name }}_port": "{{ app_port + 1 }}"
        cacheable: true
    - set_fact:
        from_first_play: "{{ inventory_hostname }}"
    - name: each item sees the facts the items before it set
      set_fact:
        acc: "{{ (acc | default([])) + [item] }}"
      loop: [1, 2, 3]
    - assert:
        that:
          - from_vars_files == 'debian'
          - family == 'debian'
          - app.name == 'demo' and app.tls and app.port == 8080
          - "conf == {'web_workers': 4, 'db_pool': 5}"
          - demo_port | int == 8081
          - acc == [1, 2, 3]
          - "lookup('first_found', {'files': ['nope.yml', 'Debian.yml'], 'paths': ['vars']}) is match('.*/playbooks/vars/Debian.yml$')"
    - file: path=/tmp/opsctl-loops state=directory
    - lineinfile:
        path: /tmp/opsctl-loops/out
        create: true
        line: "nested {{ item.0 }}{{ item.1 }}"
      with_nested: [[a, b], [1, 2]]
    - lineinfile: path=/tmp/opsctl-loops/out line="together {{ item.0 }}={{ item.1 | default('none', true) }}"
      with_together: [[x, y], [1]]
    - lineinfile: path=/tmp/opsctl-loops/out line="seq {{ item }}"
      with_sequence: start=1 end=5 stride=2 format=n%02d
    - lineinfile: path=/tmp/opsctl-loops/out line="count {{ item }}"
      with_sequence: {start: 7, count: 2}
    - lineinfile: path=/tmp/opsctl-loops/out line="sub {{ item.0.name }} {{ item.1 }}"
      with_subelements: ["{{ users }}", keys, {skip_missing: true}]
    - lineinfile: path=/tmp/opsctl-loops/out line="flat {{ item }}"
      with_flattened: [[1, [2]], "{{ more }}"]
    - lineinfile: path=/tmp/opsctl-loops/out line="idx {{ item.0 }} {{ item.1 }}"
      with_indexed_items: [p, q]
    - lineinfile: path=/tmp/opsctl-loops/out line="dict {{ item.key }}={{ item.value }}"
      with_dict: "{{ {'k': 'v'} }}"
    - lineinfile: path=/tmp/opsctl-loops/out line="glob {{ item | basename }}"
      with_fileglob: "vars/conf.d/*.yml"
    - lineinfile: path=/tmp/opsctl-loops/out line="line {{ item }}"
      with_lines: "printf 'l1\\nl2\\n'"
    - lineinfile: path=/tmp/opsctl-loops/out line="host {{ item }}"
      with_inventory_hostnames: web
    - include_tasks: "{{ item }}"
      with_first_found: [tasks/nope.yml, tasks/found.yml]
    - include_tasks: tasks/each.yml
      loop: [u, v]
      loop_control:
        loop_var: thing

- hosts: web
  gather_facts: false
  tasks:
    - name: set_fact, register and include_vars stay for the next play
      assert:
        that:
          - demo_port | int == 8081
          - from_first_play == inventory_hostname
          - conf.db_pool == 5
    - meta: clear_facts
    - name: clear_facts drops the cacheable facts only
      assert:
        that:
          - demo_port is not defined
          - from_first_play == inventory_hostname
"#;

const EXPECTED: &str = "\
nested a1
nested a2
nested b1
nested b2
together x=1
together y=none
seq n01
seq n03
seq n05
count 7
count 8
sub ann k1
sub ann k2
sub bob k3
flat 1
flat 2
flat 5
flat 6
idx 0 p
idx 1 q
dict k=v
glob 10-web.yml
glob 20-db.yml
glob skip-secret.yml
line l1
line l2
host host1
host host2
included found.yml
each u
each v
";

const META: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - meta: end_host
      when: inventory_hostname == 'host2'
    - file: path=/tmp/opsctl-meta-after-end-host state=touch

- hosts: web
  gather_facts: false
  tasks:
    - shell: echo $PPID
      register: before
      changed_when: false
    - shell: echo $PPID
      register: same
      changed_when: false
    - meta: reset_connection
    - shell: echo $PPID
      register: after
      changed_when: false
    - name: one login per connection, a new one after reset_connection
      assert:
        that:
          - before.stdout == same.stdout
          - before.stdout != after.stdout
    - meta: end_play
    - file: path=/tmp/opsctl-meta-after-end-play state=touch

- hosts: web
  gather_facts: false
  tasks:
    - name: the next play runs on every host
      file: path=/tmp/opsctl-meta-next-play state=touch
"#;

const BATCH: &str = r#"
- hosts: web
  serial: 1
  gather_facts: false
  tasks:
    - meta: end_batch
      when: inventory_hostname == 'host1'
    - file: path=/tmp/opsctl-batch state=touch

- hosts: web
  gather_facts: false
  tasks:
    - fail: msg=boom
      when: inventory_hostname == 'host2'
    - meta: clear_host_errors

- hosts: web
  gather_facts: false
  tasks:
    - file: path=/tmp/opsctl-after-clear state=touch
"#;

const GROW: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - add_host:
        name: "{{ item }}"
        groups: added
        ansible_host: host2
        marker: "from add_host"
      loop: [extra1]
    - group_by:
        key: "kind_{{ inventory_hostname }}"
        parents: [grouped]

- hosts: added
  gather_facts: false
  tasks:
    - copy:
        dest: /tmp/opsctl-added
        content: "{{ marker }} {{ inventory_hostname }} {{ groups['added'] }}\n"

- hosts: "grouped:!kind_host1"
  gather_facts: false
  tasks:
    - copy:
        dest: /tmp/opsctl-grouped
        content: "{{ group_names | sort | join(',') }}\n"
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn loops_lookups_include_vars_set_fact_and_meta() {
    let tb = Testbed::up(2);
    for (path, text) in [
        (
            "vars/common.yml",
            "app_port: 8080\napp: {name: demo, tls: false, port: 8080}\n",
        ),
        ("vars/merge.yml", "app: {tls: true}\n"),
        (
            "vars/Debian.yml",
            "family: debian\nfrom_vars_files: debian\n",
        ),
        ("vars/conf.d/10-web.yml", "web_workers: 4\n"),
        ("vars/conf.d/20-db.json", "{\"db_pool\": 5}\n"),
        ("vars/conf.d/skip-secret.yml", "secret: 1\n"),
        ("vars/conf.d/sub/30-deep.yml", "deep: true\n"),
        ("vars/conf.d/notes.txt", "not vars\n"),
        (
            "tasks/found.yml",
            "- lineinfile: path=/tmp/opsctl-loops/out line=\"included {{ item | basename }}\"\n",
        ),
        (
            "tasks/each.yml",
            "- lineinfile: path=/tmp/opsctl-loops/out line=\"each {{ thing }}\"\n",
        ),
    ] {
        tb.write(&format!("playbooks/{path}"), text);
    }
    // The glob sees only .yml files: 20-db.json is left out.
    let expected = EXPECTED.replace("glob 20-db.yml\n", "");

    let first = tb.play("loops", LOOPS, &[]);
    first.code(0).no_panic();
    for h in ["host1", "host2"] {
        assert_eq!(
            tb.exec(h, "cat /tmp/opsctl-loops/out").stdout,
            expected,
            "{h}\n{}",
            first.stdout
        );
    }
    let again = tb.play("loops", LOOPS, &[]);
    changed_on_each(&again, &["host1", "host2"], 0);

    // Drift: --check --diff shows the missing line, and leaves it missing.
    tb.exec("host1", "sed -i '/^seq n03$/d' /tmp/opsctl-loops/out")
        .code(0);
    let check = tb.play("loops", LOOPS, &["--check", "--diff"]);
    changed_on_each(&check, &["host1"], 1);
    changed_on_each(&check, &["host2"], 0);
    assert!(check.stdout.contains("+seq n03"), "{}", check.stdout);
    tb.exec("host1", "! grep -qx 'seq n03' /tmp/opsctl-loops/out")
        .code(0);

    // meta: end_host ends one host's play; end_play every host's; the run goes on.
    let meta = tb.play("meta", META, &[]);
    meta.code(0).no_panic();
    tb.exec("host1", "test -e /tmp/opsctl-meta-after-end-host")
        .code(0);
    tb.exec("host2", "test ! -e /tmp/opsctl-meta-after-end-host")
        .code(0);
    for h in ["host1", "host2"] {
        tb.exec(
            h,
            "test ! -e /tmp/opsctl-meta-after-end-play && test -e /tmp/opsctl-meta-next-play",
        )
        .code(0);
    }
    let recap: Vec<&str> = meta
        .stdout
        .lines()
        .filter(|l| l.starts_with("host"))
        .collect();
    assert!(
        recap
            .iter()
            .any(|l| l.starts_with("host2 ") && l.contains("(ended early: meta: end_play at ")),
        "{}",
        meta.stdout
    );

    // add_host (once, whatever the number of hosts) and group_by: hosts and
    // groups for the later plays' `hosts:`.
    let grow = tb.play("grow", GROW, &[]);
    grow.code(0).no_panic();
    assert_eq!(
        tb.exec("host2", "cat /tmp/opsctl-added").stdout,
        "from add_host extra1 ['extra1']\n",
        "{}",
        grow.stdout
    );
    assert_eq!(
        tb.exec("host2", "cat /tmp/opsctl-grouped")
            .stdout
            .trim_end(),
        "grouped,kind_host2,web"
    );
    tb.exec(
        "host1",
        "test ! -e /tmp/opsctl-grouped && test ! -e /tmp/opsctl-added",
    )
    .code(0);
    // Again: add_host and group_by say changed (they grow this run's
    // inventory, as Ansible's do); the hosts are left as they are.
    let again = tb.play("grow", GROW, &[]);
    changed_on_each(&again, &["host1"], 2);
    changed_on_each(&again, &["host2"], 1);
    changed_on_each(&again, &["extra1"], 0);

    // end_batch ends host1's batch only; clear_host_errors brings the failed
    // host2 back for the next play (the run still exits 2: host2 failed).
    let batch = tb.play("batch", BATCH, &[]);
    batch.code(2).no_panic();
    tb.exec(
        "host1",
        "test ! -e /tmp/opsctl-batch && test -e /tmp/opsctl-after-clear",
    )
    .code(0);
    tb.exec(
        "host2",
        "test -e /tmp/opsctl-batch && test -e /tmp/opsctl-after-clear",
    )
    .code(0);
}
