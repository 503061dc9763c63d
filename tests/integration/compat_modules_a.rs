//! Ansible-compatible system modules of issue 11 (sysctl, hostname, timezone,
//! locale_gen, pam_limits, modprobe, known_hosts, assemble, find, getent)
//! through the real binary on a real test-bed host: the first run changes,
//! the second changes nothing, and `--check --diff` on a host changed behind
//! opsctl's back reports and shows the changes without making them.
//!
//! What the test bed cannot do is covered by fixtures
//! (tests/fixtures/modules/<module>/): loading a kernel module (the host is
//! a namespace: `modprobe` here is `persistent: present` of a module that is
//! already loaded or built in), `hostnamectl`/`timedatectl` (plain hosts have
//! no systemd).

use crate::common::Testbed;
use crate::modules_system::{changed, out};

const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

fn playbook(kmod: &str) -> String {
    format!(
        r##"
- hosts: web
  gather_facts: false
  tasks:
    - name: locales, from the offline repository
      apt: name=locales
    - sysctl:
        name: net.ipv4.ip_forward
        value: "1"
        sysctl_set: true
        sysctl_file: /etc/sysctl.d/90-opsctl.conf
    - ansible.posix.sysctl:
        name: net.core.somaxconn
        value: 1024
        sysctl_file: /etc/sysctl.d/90-opsctl.conf
    - hostname: name=web-a.example.test
    - assert:
        that: ["ansible_hostname == 'web-a'", "ansible_domain == 'example.test'"]
    - community.general.timezone: name=Europe/Paris
    - locale_gen: name=fr_FR.UTF-8
    - pam_limits: domain=deploy limit_type=soft limit_item=nofile value=65536
    - modprobe: name={kmod} persistent=present
    - known_hosts:
        name: git.example.test
        key: "git.example.test ssh-ed25519 {KEY}"
        path: /root/.ssh/known_hosts
    - file: path=/etc/opsctl-frag state=directory
    - copy:
        dest: /etc/opsctl-frag/10-a
        content: "a=1\n"
    - copy:
        dest: /etc/opsctl-frag/20-b
        content: "b=2"
    - assemble:
        src: /etc/opsctl-frag
        dest: /etc/opsctl-assembled.conf
        delimiter: "# --"
        mode: "0640"
    - find:
        paths: /etc/opsctl-frag
        patterns: "*-b"
      register: found
    - assert:
        that: ["found.matched == 1", "found.files[0].path == '/etc/opsctl-frag/20-b'", "found.files[0].size == 3"]
    - getent: database=passwd key=deploy
    - assert:
        that: ["getent_passwd.deploy[4] == '/home/deploy'"]
"##
    )
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn system_configuration_modules_converge_and_predict_drift() {
    let tb = Testbed::up(1);
    // a module the kernel has (loaded or built in): a namespace loads none
    let mods = out(&tb, "ls /sys/module");
    let kmod = ["ext4", "overlay", "fuse", "bridge", "ipv6"]
        .into_iter()
        .find(|m| mods.lines().any(|l| l == *m))
        .expect("a common kernel module in /sys/module");
    let pb = playbook(kmod);
    let run = tb.play("compat_a", &pb, &[]);
    changed(&run, 13);
    assert_eq!(
        out(&tb, "cat /etc/sysctl.d/90-opsctl.conf"),
        "net.ipv4.ip_forward=1\nnet.core.somaxconn=1024"
    );
    assert_eq!(out(&tb, "cat /proc/sys/net/ipv4/ip_forward"), "1");
    assert_eq!(out(&tb, "cat /proc/sys/net/core/somaxconn"), "1024");
    assert_eq!(
        out(&tb, "hostname; cat /etc/hostname"),
        "web-a.example.test\nweb-a.example.test"
    );
    assert_eq!(
        out(&tb, "readlink /etc/localtime; cat /etc/timezone"),
        "/usr/share/zoneinfo/Europe/Paris\nEurope/Paris"
    );
    assert!(out(&tb, "locale -a").lines().any(|l| l == "fr_FR.utf8"));
    assert_eq!(
        out(&tb, "grep '^deploy' /etc/security/limits.conf"),
        "deploy\tsoft\tnofile\t65536"
    );
    assert_eq!(
        out(&tb, &format!("cat /etc/modules-load.d/{kmod}.conf")),
        kmod
    );
    assert_eq!(
        out(
            &tb,
            "ssh-keygen -F git.example.test -f /root/.ssh/known_hosts | grep -v '^#'"
        ),
        format!("git.example.test ssh-ed25519 {KEY}")
    );
    assert_eq!(
        out(
            &tb,
            "cat /etc/opsctl-assembled.conf; echo; stat -c %a /etc/opsctl-assembled.conf"
        ),
        "a=1\n# --\nb=2\n640"
    );
    // again: nothing to do
    changed(&tb.play("compat_a", &pb, &[]), 0);

    // drift behind opsctl's back
    tb.exec(
        "host1",
        "hostname other && echo other > /etc/hostname \
         && sed -i 's/1024/128/' /etc/sysctl.d/90-opsctl.conf \
         && ln -sf /usr/share/zoneinfo/Etc/UTC /etc/localtime && echo Etc/UTC > /etc/timezone \
         && : > /root/.ssh/known_hosts \
         && echo c=3 > /etc/opsctl-frag/30-c \
         && sed -i '/^deploy/d' /etc/security/limits.conf",
    )
    .code(0);
    let check = tb.play("compat_a", &pb, &["--check", "--diff"]);
    changed(&check, 6);
    check
        .stdout_has("-hostname = other")
        .stdout_has("+hostname = web-a.example.test")
        .stdout_has("-net.core.somaxconn=128")
        .stdout_has("+net.core.somaxconn=1024")
        .stdout_has("-name: Etc/UTC")
        .stdout_has("+name: Europe/Paris")
        .stdout_has(&format!("+git.example.test ssh-ed25519 {KEY}"))
        .stdout_has("+deploy\tsoft\tnofile\t65536")
        .stdout_has("+c=3");
    // nothing changed
    assert_eq!(out(&tb, "hostname; cat /etc/hostname"), "other\nother");
    assert_eq!(
        out(
            &tb,
            "grep somaxconn /etc/sysctl.d/90-opsctl.conf; readlink /etc/localtime"
        ),
        "net.core.somaxconn=128\n/usr/share/zoneinfo/Etc/UTC"
    );
    assert_eq!(out(&tb, "cat /root/.ssh/known_hosts"), "");
    assert!(!out(&tb, "cat /etc/opsctl-assembled.conf").contains("c=3"));
    // the real run repairs it all
    changed(&tb.play("compat_a", &pb, &[]), 6);
    assert_eq!(out(&tb, "hostname"), "web-a.example.test");
    assert_eq!(out(&tb, "cat /proc/sys/net/core/somaxconn"), "1024");
    assert_eq!(
        out(&tb, "cat /etc/opsctl-assembled.conf"),
        "a=1\n# --\nb=2\n# --\nc=3"
    );
    changed(&tb.play("compat_a", &pb, &[]), 0);
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn compat_module_errors_name_the_task() {
    let tb = Testbed::up(1);
    let bad = r#"
- hosts: web
  gather_facts: false
  tasks:
    - sysctl: name=net.no.such.key value=1
"#;
    let run = tb.play("bad_sysctl", bad, &[]);
    run.code(2).no_panic();
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("the kernel has no such key"), "{all}");
    let bad = r#"
- hosts: web
  gather_facts: false
  tasks:
    - timezone: name=Mars/Olympus
"#;
    let run = tb.play("bad_tz", bad, &[]);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("given timezone \"Mars/Olympus\" is not available"),
        "{all}"
    );
    // pip's executable and virtualenv exclude each other once templated:
    // one of them omitted at run time is fine (Ansible's rule)
    let pip = r#"
- hosts: web
  gather_facts: false
  tasks:
    - pip:
        name: six
        virtualenv: /tmp/venv-omit
        executable: "{{ pip_exe | default(omit) }}"
      check_mode: true
    - pip:
        name: six
        virtualenv: /tmp/venv-omit
        executable: "{{ pip_exe }}"
      vars:
        pip_exe: pip3
"#;
    let run = tb.play("pip_omit", pip, &[]);
    run.stdout_has("would change | pip");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("arguments 'virtualenv' and 'executable' are mutually exclusive")
            || all.contains("arguments 'executable' and 'virtualenv' are mutually exclusive"),
        "{all}"
    );
    // a typo in an argument is refused before anything runs
    let typo =
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - getent: database=passwd kye=root\n";
    let run = tb.play("typo", typo, &[]);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("typo.yml:4:7") && all.contains("unknown argument 'kye' for getent"),
        "{all}"
    );
}

const PACKAGING: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: package passes apt's arguments through
      package:
        name: make
        update_cache: true
        install_recommends: false
      register: pkg
    - assert:
        that: ["ansible_check_mode or pkg.cache_updated"]
    - alternatives:
        name: opsctl-demo
        link: /usr/local/bin/opsctl-demo
        path: /bin/true
        priority: 10
    - community.general.alternatives:
        name: opsctl-demo
        path: /bin/false
        priority: 20
        state: present
    - dpkg_selections: name=sudo selection=hold
    - debconf:
        name: tzdata
        question: tzdata/Areas
        vtype: select
        value: Europe
    - file: path=/srv/mk state=directory
    - copy:
        dest: /srv/mk/Makefile
        content: "out.txt: in.txt\n\tcp in.txt out.txt\n"
    - copy:
        dest: /srv/mk/in.txt
        content: "hello\n"
    - make: chdir=/srv/mk target=out.txt
      register: built
    - user:
        name: deploy
        password_expire_max: 90
        password_expire_warn: 14
        expires: 1893456000
    - deb822_repository:
        name: opsctl offline
        uris: file:/var/lib/opsctl-offline-repo
        suites: ./
        trusted: true
    - ansible.posix.mount:
        path: /mnt/opsctl-tmp
        src: tmpfs
        fstype: tmpfs
        opts: size=1m
        state: mounted
    - mount:
        path: /mnt/opsctl-fstab
        src: /dev/nonexistent
        fstype: ext4
        opts: noauto
        state: present
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn packaging_and_mount_modules_converge_and_predict_drift() {
    let tb = Testbed::up(1);
    changed(&tb.play("compat_pkg", PACKAGING, &[]), 13);
    let q = out(&tb, "update-alternatives --query opsctl-demo");
    assert!(
        q.contains("Status: manual") && q.contains("Value: /bin/true"),
        "{q}"
    );
    assert!(q.contains("Alternative: /bin/false\nPriority: 20"), "{q}");
    assert_eq!(
        out(&tb, "dpkg --get-selections sudo | awk '{print $2}'"),
        "hold"
    );
    assert_eq!(
        out(
            &tb,
            "echo 'GET tzdata/Areas' | DEBIAN_FRONTEND=noninteractive debconf-communicate tzdata 2>/dev/null"
        ),
        "0 Europe"
    );
    assert_eq!(out(&tb, "cat /srv/mk/out.txt"), "hello");
    assert_eq!(
        out(&tb, "getent shadow deploy | cut -d: -f5,6,8"),
        "90:14:21915"
    );
    assert_eq!(
        out(&tb, "cat /etc/apt/sources.list.d/opsctl-offline.sources"),
        "X-Repolib-Name: opsctl offline\nTypes: deb\nURIs: file:/var/lib/opsctl-offline-repo\nSuites: ./\nTrusted: yes\nEnabled: yes"
    );
    assert_eq!(
        out(
            &tb,
            "awk '$2 == \"/mnt/opsctl-tmp\" {print $1, $3, $4}' /proc/mounts"
        ),
        "tmpfs tmpfs rw,relatime,size=1024k"
    );
    assert_eq!(
        out(&tb, "grep opsctl /etc/fstab"),
        "tmpfs /mnt/opsctl-tmp tmpfs size=1m 0 0\n/dev/nonexistent /mnt/opsctl-fstab ext4 noauto 0 0"
    );
    changed(&tb.play("compat_pkg", PACKAGING, &[]), 0);

    // drift behind opsctl's back
    tb.exec(
        "host1",
        "update-alternatives --auto opsctl-demo >/dev/null \
         && echo 'sudo install' | dpkg --set-selections \
         && echo 'tzdata tzdata/Areas select Asia' | debconf-set-selections \
         && rm /srv/mk/out.txt \
         && umount /mnt/opsctl-tmp \
         && sed -i '/opsctl-fstab/d' /etc/fstab \
         && sed -i 's/Enabled: yes/Enabled: no/' /etc/apt/sources.list.d/opsctl-offline.sources \
         && chage -M 99999 deploy",
    )
    .code(0);
    let check = tb.play("compat_pkg", PACKAGING, &["--check", "--diff"]);
    changed(&check, 8);
    check
        .stdout_has("-status: auto")
        .stdout_has("+status: manual")
        .stdout_has("-install")
        .stdout_has("+hold")
        .stdout_has("-tzdata/Areas: Asia")
        .stdout_has("+tzdata/Areas: Europe")
        .stdout_has("+/dev/nonexistent /mnt/opsctl-fstab ext4 noauto 0 0")
        .stdout_has("-Enabled: no")
        .stdout_has("+Enabled: yes")
        .stdout_has("-password_expire_max: 99999")
        .stdout_has("+password_expire_max: 90");
    // nothing changed
    assert_eq!(
        out(&tb, "dpkg --get-selections sudo | awk '{print $2}'"),
        "install"
    );
    assert_eq!(out(&tb, "test -e /srv/mk/out.txt || echo gone"), "gone");
    assert_eq!(out(&tb, "grep -c opsctl-tmp /proc/mounts"), "0");
    // the real run repairs it all, then rests
    changed(&tb.play("compat_pkg", PACKAGING, &[]), 8);
    assert_eq!(out(&tb, "grep -c opsctl-tmp /proc/mounts"), "1");
    assert!(out(&tb, "update-alternatives --query opsctl-demo").contains("Value: /bin/true"));
    changed(&tb.play("compat_pkg", PACKAGING, &[]), 0);
}
