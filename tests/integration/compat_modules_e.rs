//! Ansible-compatible modules, part E (issue 11), through the real binary on a
//! real test-bed host: ini_file, tempfile, script, reboot, acl and htpasswd.
//!
//! Each playbook runs twice (the second run changes nothing, except the
//! modules Ansible always reports changed), then the state is changed behind
//! opsctl's back and `--check --diff` reports the drift, shows it and changes
//! nothing; a real run repairs it.

use crate::common::Testbed;
use crate::modules_system::{changed, out};

const INI: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: a setting in a new file (its directory made)
      community.general.ini_file:
        path: /etc/opsctl-e/app.ini
        section: db
        option: port
        value: 5432
        mode: "0640"
      register: created
    - name: a second option, no extra spaces
      ini_file:
        dest: /etc/opsctl-e/app.ini
        section: db
        key: host
        value: localhost
        no_extra_spaces: true
    - name: several values of one option
      ini_file:
        path: /etc/opsctl-e/app.ini
        section: mirrors
        option: url
        values: [a, b]
    - name: a flag with no value
      ini_file:
        path: /etc/opsctl-e/app.ini
        section: mysqld
        option: skip-name-resolve
        allow_no_value: true
    - name: an option before the first section (with a backup)
      ini_file: path=/etc/opsctl-e/app.ini option=top value=1 backup=true
      register: top
    - name: a commented-out option set in place
      ini_file: path=/etc/opsctl-e/other.ini section=main option=debug value=false modify_inplace=true
    - name: an option removed
      ini_file: path=/etc/opsctl-e/other.ini section=main option=name state=absent
    - name: a section removed
      ini_file: path=/etc/opsctl-e/other.ini section=gone state=absent
      register: gone
    - name: through a link to the file
      ini_file: path=/etc/opsctl-e/link.ini section=main option=level value=3 follow=true
    - name: without follow, the link becomes a file (as Ansible's)
      ini_file: path=/etc/opsctl-e/plain.ini section=main option=level value=4
    - assert:
        that:
          - created.path == '/etc/opsctl-e/app.ini'
          - created.msg in ['section and option added', 'OK', 'option changed']
          - gone.msg in ['section removed', 'OK']
          - top is not changed or top.backup_file is defined
"#;

const APP_INI: &str = "top = 1\n\n[db]\nport = 5432\nhost=localhost\n[mirrors]\nurl = a\nurl = b\n[mysqld]\nskip-name-resolve\n";

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn ini_file_options_sections_flags_inplace_and_drift() {
    let tb = Testbed::up(1);
    tb.exec(
        "host1",
        "mkdir -p /etc/opsctl-e && printf '[main]\\n;debug = true\\nname = x\\n[gone]\\ny = 1\\n' > /etc/opsctl-e/other.ini && ln -s other.ini /etc/opsctl-e/link.ini && printf '[main]\\n' > /etc/opsctl-e/kept.ini && ln -s kept.ini /etc/opsctl-e/plain.ini",
    )
    .code(0);
    let first = tb.play("ini", INI, &[]);
    changed(&first, 10);
    changed(&tb.play("ini", INI, &[]), 0);
    assert_eq!(out(&tb, "cat /etc/opsctl-e/app.ini"), APP_INI.trim_end());
    assert_eq!(
        out(
            &tb,
            "cat /etc/opsctl-e/other.ini; readlink /etc/opsctl-e/link.ini"
        ),
        "[main]\ndebug = false\nlevel = 3\nother.ini"
    );
    assert_eq!(
        out(
            &tb,
            "cat /etc/opsctl-e/kept.ini /etc/opsctl-e/plain.ini; stat -c %F /etc/opsctl-e/plain.ini"
        ),
        "[main]\n[main]\nlevel = 4\nregular file"
    );
    assert_eq!(
        out(
            &tb,
            "stat -c %a /etc/opsctl-e/app.ini; ls /etc/opsctl-e | grep -c '^app.ini.*~$'"
        ),
        "640\n1"
    );

    // drift: a value changed and a flag removed behind opsctl's back
    tb.exec(
        "host1",
        "sed -i -e 's/^port = 5432/port = 5000/' -e '/skip-name-resolve/d' /etc/opsctl-e/app.ini",
    )
    .code(0);
    let check = tb.play("ini", INI, &["--check", "--diff"]);
    changed(&check, 2);
    check
        .stdout_has("-port = 5000")
        .stdout_has("+port = 5432")
        .stdout_has("+skip-name-resolve");
    assert!(out(&tb, "cat /etc/opsctl-e/app.ini").contains("port = 5000"));
    changed(&tb.play("ini", INI, &[]), 2);
    assert_eq!(out(&tb, "cat /etc/opsctl-e/app.ini"), APP_INI.trim_end());
}

const MISC: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: a scratch file
      tempfile:
        suffix: .txt
      register: tf
    - name: a scratch directory in /srv
      ansible.builtin.tempfile:
        state: directory
        path: /srv
        prefix: build-
      register: td
    - name: a script with arguments, run once
      script: files/setup.sh "two words" /srv/marker
      args:
        creates: /srv/marker
      register: s1
    - name: a script through bash, in a directory
      ansible.builtin.script:
        cmd: files/report.sh x
        chdir: /srv
        executable: /bin/bash
      register: s2
      changed_when: false
    - assert:
        that:
          - tf is skipped or tf.path is match('/tmp/ansible\.[^/]{8}\.txt$')
          - td is skipped or td.path is match('/srv/build-[^/]{8}$')
          - s1 is skipped or s1.stdout_lines == ['args: two words|/srv/marker']
          - s1 is skipped or s1.stderr == 'a warning'
          - s2 is skipped or s2.stdout_lines == ['/srv', 'bash x']
          - s2 is skipped or s2.rc == 0
      when: not ansible_check_mode
    - assert:
        that:
          - tf is skipped and td is skipped and s2 is skipped
          - s1 is changed and s1.stdout == ''
      when: ansible_check_mode
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn tempfile_and_script_run_once_and_check_mode() {
    let tb = Testbed::up(1);
    tb.write(
        "playbooks/files/setup.sh",
        "#!/bin/sh\nset -e\necho \"$1\" > \"$2\"\necho \"args: $1|$2\"\necho 'a warning' >&2\n",
    );
    tb.write(
        "playbooks/files/report.sh",
        "pwd\n[ -n \"$BASH_VERSION\" ] && echo \"bash $1\"\n",
    );
    // tempfile always changes (as Ansible); the script runs once (creates)
    changed(&tb.play("misc", MISC, &[]), 3);
    changed(&tb.play("misc", MISC, &[]), 2);
    let made = "stat -c '%a %F' /tmp/ansible.*.txt /srv/build-*; cat /srv/marker; ls /tmp | grep -c opsctl-script";
    let want = "600 regular empty file\n600 regular empty file\n700 directory\n700 directory\ntwo words\n0";
    assert_eq!(out(&tb, made), want);

    // drift: the marker gone; check mode runs nothing and makes nothing
    tb.exec("host1", "rm /srv/marker").code(0);
    let check = tb.play("misc", MISC, &["--check", "--diff"]);
    // the script would run (creates decides); tempfile is skipped
    changed(&check, 1);
    assert_eq!(
        out(&tb, made),
        "600 regular empty file\n600 regular empty file\n700 directory\n700 directory\n0"
    );
    // a failing script fails the task with its rc and output
    tb.write(
        "playbooks/files/fail.sh",
        "echo out; echo boom >&2; exit 3\n",
    );
    let r = tb.play(
        "fail",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - script: files/fail.sh\n",
        &[],
    );
    r.code(2).stdout_has("boom");
}

/// A password with characters a shell or a file format would trip on.
const WEB_PASSWORD: &str = r#"s3cret pw'$x:"#;

const PERMS: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - apt: name=acl
    - file: path=/srv/shared/sub state=directory
    - name: www-data reads the tree
      ansible.posix.acl:
        path: /srv/shared
        entity: www-data
        etype: user
        permissions: rX
        recursive: true
        state: present
    - name: new files are writable for staff
      acl: path=/srv/shared etype=group entity=staff permissions=rwx default=true state=present
      register: staff
    - name: no entry for nobody
      acl: path=/srv/shared entity=nobody etype=user state=absent
    - acl: path=/srv/shared
      register: q
    - name: a web user (apr1, as Apache's htpasswd)
      community.general.htpasswd:
        path: /etc/nginx/.htpasswd
        name: alice
        password: "{{ web_password }}"
        mode: "0640"
    - name: a second one with sha512
      htpasswd:
        path: /etc/nginx/.htpasswd
        name: bob
        password: "{{ web_password }}"
        crypt_scheme: sha512_crypt
    - name: and bcrypt
      htpasswd: path=/etc/nginx/.htpasswd name=carol password="{{ web_password }}" hash_scheme=bcrypt
    - name: an old user removed
      htpasswd: path=/etc/nginx/.htpasswd name=old state=absent
    - assert:
        that:
          - "'user:www-data:r-x' in q.acl"
          - "'default:group:staff:rwx' in q.acl"
          - q.msg == 'current acl'
          - staff.msg == 'group:staff:rwx is present'
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn acl_and_htpasswd_entries_and_drift() {
    let tb = Testbed::up(1);
    tb.exec(
        "host1",
        "mkdir -p /etc/nginx && printf 'old:plain\\nkeep:{SHA}x\\n' > /etc/nginx/.htpasswd",
    )
    .code(0);
    let pw = serde_json::json!({ "web_password": WEB_PASSWORD }).to_string();
    let play = |extra: &[&str]| {
        let mut args = vec!["-e", pw.as_str()];
        args.extend_from_slice(extra);
        let r = tb.play("perms", PERMS, &args);
        assert!(!r.stdout.contains("s3cret") && !r.stderr.contains("s3cret"));
        r
    };
    // apt, directory, two acl entries, three users, one removed
    changed(&play(&[]), 8);
    changed(&play(&[]), 0);
    let verify = format!(
        "cd /etc/nginx; stat -c %a .htpasswd; cut -d: -f1 .htpasswd | tr '\\n' ' '; echo; \
         h=$(awk -F: '$1==\"alice\"{{print $2}}' .htpasswd); s=$(echo \"$h\" | cut -d'$' -f3); \
         [ \"$(printf %s {pw} | openssl passwd -apr1 -salt \"$s\" -stdin)\" = \"$h\" ] && echo alice ok; \
         for u in bob carol; do H=$(awk -F: -v u=$u '$1==u{{print $2}}' .htpasswd) python3 -W ignore -c \
         'import crypt,os,sys; h=os.environ[\"H\"]; print(sys.argv[1], h[:3], crypt.crypt(sys.argv[2], h) == h)' $u {pw}; done",
        pw = sq(WEB_PASSWORD)
    );
    assert_eq!(
        out(&tb, &verify),
        "640\nkeep alice bob carol \nalice ok\nbob $6$ True\ncarol $2b True"
    );
    let acl = "getfacl --absolute-names --omit-header /srv/shared/sub | grep -c www-data";
    assert_eq!(out(&tb, acl), "1");

    // drift: an entry added and one removed behind opsctl's back
    tb.exec(
        "host1",
        "setfacl -m u:nobody:rwx /srv/shared && setfacl -x u:www-data /srv/shared/sub",
    )
    .code(0);
    tb.exec(
        "host1",
        "sed -i \"s|^alice:.*|alice:$(openssl passwd -apr1 other)|\" /etc/nginx/.htpasswd",
    )
    .code(0);
    let check = play(&["--check", "--diff"]);
    changed(&check, 3);
    assert_eq!(out(&tb, acl), "0");
    assert!(!out(&tb, &verify).contains("alice ok"));
    changed(&play(&[]), 3);
    assert_eq!(out(&tb, acl), "1");
    assert!(out(&tb, &verify).contains("alice ok"));
    assert_eq!(
        out(
            &tb,
            "getfacl --absolute-names --omit-header /srv/shared | grep -c nobody"
        ),
        "0"
    );
}

/// `s` as one shell word.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
