//! Ansible's facts, the fact modules and the newer filters through the real
//! binary on a real test-bed host: every value is checked against what the
//! host itself says (read with `testbed exec`, not over SSH).

use crate::common::Testbed;

/// `key=value` lines of what the host says about itself.
const HOST_SAYS: &str = r#"
echo "kernel=$(uname -r)"
echo "machine=$(uname -m)"
echo "nodename=$(uname -n)"
. /etc/os-release; echo "major=${VERSION_ID%%.*}"; echo "codename=$VERSION_CODENAME"
echo "python=$(command -v python3)"
echo "pyver=$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
echo "ipv4=$(command -v ip >/dev/null && ip -o -4 addr show | awk '$4 !~ /^127\./ {split($4, a, "/"); printf "%s,", a[1]}')"
echo "mounts=$(awk '($1 ~ /^\// || $1 ~ /:\//) && $3 != "none" {printf "%s,", $2}' /proc/mounts)"
echo "sshver=$(dpkg-query -W -f='${Version}' openssh-server)"
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn facts_fact_modules_and_filters_on_a_host() {
    let tb = Testbed::up(1);
    tb.exec(
        "host1",
        r#"mkdir -p /etc/ansible/facts.d
printf '{"role": "web", "port": 8080}' > /etc/ansible/facts.d/app.fact
printf '[db]\nHost = db1\n' > /etc/ansible/facts.d/legacy.fact
printf '#!/bin/sh\necho "{\\"generated\\": $((6 * 7))}"\n' > /etc/ansible/facts.d/dyn.fact
chmod +x /etc/ansible/facts.d/dyn.fact
mkdir -p /srv/facts.d
printf '{"place": "srv"}' > /srv/facts.d/other.fact
printf '#!/bin/sh\nsleep 30\necho "{}"\n' > /srv/facts.d/slow.fact
chmod +x /srv/facts.d/slow.fact"#,
    )
    .code(0);
    let says = tb.exec("host1", HOST_SAYS);
    says.code(0);
    let mut extra: Vec<String> = Vec::new();
    for l in says.stdout.lines() {
        let (k, v) = l.split_once('=').unwrap();
        extra.push("-e".into());
        extra.push(format!("host_{k}={}", v.trim_end_matches(',')));
    }
    let playbook = r#"
- hosts: web
  tasks:
    - name: the facts, under both names, as the host says
      assert:
        that:
          - ansible_facts.distribution == ansible_distribution == 'Debian'
          - ansible_distribution_major_version == host_major
          - ansible_facts['distribution_release'] == host_codename
          - ansible_os_family == 'Debian'
          - ansible_lsb is mapping
          - ansible_pkg_mgr == 'apt'
          - ansible_kernel == host_kernel
          - ansible_machine == host_machine
          - ansible_system == 'Linux'
          - ansible_nodename == host_nodename
          - ansible_facts.python.executable == host_python
          - "'%d.%d.%d' | format(ansible_python.version.major, ansible_python.version.minor, ansible_python.version.micro) == host_pyver"
          - ansible_python_version == host_pyver
          - ansible_all_ipv4_addresses | join(',') == host_ipv4
          - ansible_default_ipv4 is mapping and ansible_default_ipv6 is mapping
          - ansible_all_ipv6_addresses is sequence
          - ansible_mounts | map(attribute='mount') | join(',') == host_mounts
          - ansible_date_time.epoch | int > 1700000000
          - ansible_date_time.iso8601 is match('^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
          - ansible_local.app.role == 'web' and ansible_local.app.port == 8080
          - ansible_local.legacy.db.host == 'db1'
          - ansible_facts.local.dyn.generated == 42
          - ansible_virtualization_type is string and ansible_virtualization_role is string
          - ansible_processor_vcpus >= 1 and ansible_memtotal_mb > 0
          - ansible_service_mgr == 'sysvinit'

    - name: setup with a filter keeps what matches
      setup:
        filter: ['ansible_distribution*']
      register: only_dist
    - assert:
        that:
          - only_dist.ansible_facts.ansible_distribution == 'Debian'
          - "'ansible_kernel' not in only_dist.ansible_facts"

    - name: setup with one subset
      setup:
        gather_subset: ['!all', '!min', 'network']
      register: net
    - assert:
        that:
          - net.ansible_facts.ansible_all_ipv4_addresses | join(',') == host_ipv4
          - "'ansible_distribution' not in net.ansible_facts"
          - "'ansible_mounts' not in net.ansible_facts"

    - package_facts:
        manager: auto
    - assert:
        that:
          - ansible_facts.packages['openssh-server'][0].version == host_sshver
          - packages['openssh-server'][0].source == 'apt'
          - "'surely-not-a-package' not in ansible_facts.packages"

    - service_facts:
    - assert:
        that:
          - ansible_facts.services['ssh'].state == 'running'
          - ansible_facts.services['ssh'].source == 'sysv'
          - services['ssh'].status in ['enabled', 'disabled']

    - name: the newer filters
      assert:
        that:
          - "'%Y-%m-%d' | strftime(0, utc=true) == '1970-01-01'"
          - ('2024-03-05 14:07:09' | to_datetime).year == 2024
          - now(utc=true).year >= 2024
          - 59 | random(seed='web1') == 52
          - 1048576 | human_readable == '1.00 MB'
          - "'2 GB' | human_to_bytes == 2147483648"
          - "'https://example.org:8443/x' | urlsplit('port') == 8443"
          - "[1, 2] | zip(['a', 'b']) | list == [[1, 'a'], [2, 'b']]"
          - "[1, 2] | product(['a']) | list == [[1, 'a'], [2, 'a']]"
          - "'x' | comment == '#\n# x\n#'"
          - "'10.1.2.3/24' | ipaddr('network') == '10.1.2.0'"
          - "'10.1.2.3/24' | ipaddr('netmask') == '255.255.255.0'"
          - "'::1' | ipwrap == '[::1]'"
          - "['a'] | map('extract', {'a': 1}) | list == [1]"

# The play's own gather keywords: min facts, local facts from another place
# (a slow executable fact cut at gather_timeout).
- hosts: web
  gather_subset: [min]
  fact_path: /srv/facts.d
  gather_timeout: 1
  tasks:
    - assert:
        that:
          - ansible_distribution == 'Debian'
          - ansible_facts.gather_subset == ['min']
          - ansible_local.other.place == 'srv'
          - ansible_local.app is not defined
          - ansible_local.slow is string and 'rc: 124' in ansible_local.slow
"#;
    let args: Vec<&str> = extra.iter().map(String::as_str).collect();
    let run = tb.play("facts", playbook, &args);
    run.code(0).no_panic();
    assert!(
        run.stdout.contains(" changed=0 ") && run.stdout.contains(" failed=0 "),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn service_facts_under_systemd() {
    let tb = Testbed::up_kind(1, "systemd");
    let state = tb.exec(
        "host1",
        "systemctl is-active ssh.service; systemctl is-enabled ssh.service",
    );
    let mut said = state.stdout.lines();
    let (active, enabled) = (said.next().unwrap_or(""), said.next().unwrap_or(""));
    let running = if active == "active" {
        "running"
    } else {
        "stopped"
    };
    let playbook = format!(
        r#"
- hosts: web
  tasks:
    - service_facts:
    - assert:
        that:
          - ansible_service_mgr == 'systemd'
          - ansible_facts.services['ssh.service'].source == 'systemd'
          - ansible_facts.services['ssh.service'].state == '{running}'
          - services['ssh.service'].status == '{enabled}'
"#
    );
    let run = tb.play("svc", &playbook, &[]);
    run.code(0).no_panic();
}
