use super::*;

fn set(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn gather_subset_as_ansible() {
    let all = subsets(&set(&["all"])).unwrap();
    assert!(all.contains("hardware") && all.contains("network") && all.contains("python"));
    assert_eq!(subsets(&[]).unwrap(), all);
    let min = subsets(&set(&["min"])).unwrap();
    assert!(!min.contains("hardware") && min.contains("distribution"));
    let no_hw = subsets(&set(&["!hardware"])).unwrap();
    assert!(!no_hw.contains("hardware") && no_hw.contains("network"));
    let only_net = subsets(&set(&["!all", "!min", "network"])).unwrap();
    assert_eq!(only_net.into_iter().collect::<Vec<_>>(), ["network"]);
    let net = subsets(&set(&["network"])).unwrap();
    assert!(net.contains("network") && net.contains("python") && !net.contains("hardware"));
    assert_eq!(subsets(&set(&["!all"])).unwrap(), min);
    assert!(
        !subsets(&set(&["all,!virtual"]))
            .unwrap()
            .contains("virtual")
    );
    let e = subsets(&set(&["hardwar"])).unwrap_err();
    assert!(
        e.contains("bad subset 'hardwar'") && e.contains("hardware"),
        "{e}"
    );
}

const SAMPLE: &str = "@@id
uid=1001(deploy) gid=1001(deploy) groups=1001(deploy),27(sudo)
@@passwd
deploy:x:1001:1001:Deploy User:/home/deploy:/bin/bash
@@env
HOME=/home/deploy
PATH=/usr/bin:/bin
LANG=C.UTF-8
@@platform
machine=x86_64
fqdn=web1.example.org
ostype=Linux
osrelease=6.1.0-18-amd64
version=#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)
hostname=web1
domainname=(none)
@@os_release
PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"
NAME=\"Debian GNU/Linux\"
VERSION_ID=\"12\"
VERSION_CODENAME=bookworm
ID=debian
@@debian_version
12.5
@@lsb
lsb_release=yes
@@pkg_mgr
apt-get
@@service_mgr
systemd
@@python
/usr/bin/python3
Python 3.11.2
@@date_time
2024 03 05 14 07 09 1709647629 123456789 Tuesday Tue March Mar 2 2 10 065 CET +0100
@@selinux
@@apparmor
enabled
@@fips
0
@@cmdline
BOOT_IMAGE=/vmlinuz root=UUID=abc ro quiet console=tty0 console=ttyS0
@@dns
# generated
nameserver 10.0.0.2
nameserver 10.0.0.3
search example.org
options ndots:2 rotate
@@ssh_pub_keys
ssh_host_ed25519_key.pub ssh-ed25519 AAAAC3Nza root@web1
@@local_dir
@@local app
{\"role\": \"web\", \"port\": 8080}
@@local legacy
[general]
Name = old
[db]
host=db1
@@local broken
boom
@@local_failed 3
@@meminfo
MemTotal:        4029632 kB
MemFree:         1024000 kB
Buffers:          102400 kB
Cached:           512000 kB
SwapTotal:       1048572 kB
SwapFree:        1048572 kB
@@cpuinfo
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R)
physical id\t: 0
cpu cores\t: 2
processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R)
physical id\t: 0
cpu cores\t: 2
flags\t: fpu vme hypervisor lahf_lm
@@nproc
0-1
@@uptime
3600.52 7000.00
@@loadavg
0.15 0.10 0.05 1/123 4567
@@mounts
/dev/vda1 / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
/dev/vdb1 /srv/my\\040data xfs rw 0 2
@@statfs
4096 2000 500 400 1000 900 /
4096 100 50 50 10 5 /srv/my data
@@uuids
1234-abcd /dev/vda1
@@network
@@ip_link
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff link-netnsid 0
@@ip_addr
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.0.0.6/24 brd 10.0.0.255 scope global secondary eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet6 fd00::5/64 scope global \\       valid_lft forever preferred_lft forever
2: eth0    inet6 fe80::5054:ff:fe12:3456/64 scope link \\       valid_lft forever preferred_lft forever
@@route4
8.8.8.8 via 10.0.0.1 dev eth0 src 10.0.0.5 uid 0 
    cache 
@@route6
@@virtual
container=
dmi_product_name=KVM
dmi_sys_vendor=QEMU
dmi_bios_vendor=SeaBIOS
@@cgroup1
0::/
@@end
";

#[test]
fn parses_every_subset() {
    let f = parse(SAMPLE);
    let j = Json::Object(f.clone());
    assert_eq!(j["user_id"], "deploy");
    assert_eq!(j["user_uid"], 1001);
    assert_eq!(j["user_dir"], "/home/deploy");
    assert_eq!(j["user_shell"], "/bin/bash");
    assert_eq!(j["user_gecos"], "Deploy User");
    assert_eq!(j["env"]["LANG"], "C.UTF-8");
    assert_eq!(j["system"], "Linux");
    assert_eq!(j["kernel"], "6.1.0-18-amd64");
    assert_eq!(j["machine"], "x86_64");
    assert_eq!(j["architecture"], "x86_64");
    assert_eq!(j["userspace_bits"], "64");
    assert_eq!(j["nodename"], "web1");
    assert_eq!(j["hostname"], "web1");
    assert_eq!(j["fqdn"], "web1.example.org");
    assert_eq!(j["domain"], "example.org");
    assert_eq!(j["distribution"], "Debian");
    assert_eq!(j["distribution_version"], "12.5");
    assert_eq!(j["distribution_major_version"], "12");
    assert_eq!(j["distribution_minor_version"], "5");
    assert_eq!(j["distribution_release"], "bookworm");
    assert_eq!(j["os_family"], "Debian");
    assert_eq!(
        j["lsb"],
        json!({"id": "Debian", "description": "Debian GNU/Linux 12 (bookworm)", "release": "12", "codename": "bookworm", "major_release": "12"})
    );
    assert_eq!(j["pkg_mgr"], "apt");
    assert_eq!(j["service_mgr"], "systemd");
    assert_eq!(j["python"]["executable"], "/usr/bin/python3");
    assert_eq!(
        j["python"]["version"],
        json!({"major": 3, "minor": 11, "micro": 2, "releaselevel": "final", "serial": 0})
    );
    assert_eq!(j["python"]["version_info"], json!([3, 11, 2, "final", 0]));
    assert_eq!(j["python_version"], "3.11.2");
    let d = &j["date_time"];
    assert_eq!(d["date"], "2024-03-05");
    assert_eq!(d["time"], "14:07:09");
    assert_eq!(d["epoch"], "1709647629");
    assert_eq!(d["weekday"], "Tuesday");
    assert_eq!(d["tz_offset"], "+0100");
    // iso8601 is UTC, as Ansible
    assert_eq!(d["iso8601"], "2024-03-05T14:07:09Z");
    assert_eq!(d["tz"], "CET");
    assert_eq!(d["weekday_number"], "2");
    assert_eq!(d["weeknumber"], "10");
    assert_eq!(d["iso8601_micro"], "2024-03-05T14:07:09.123456Z");
    assert_eq!(d["iso8601_basic_short"], "20240305T140709");
    assert_eq!(j["selinux"]["status"], "disabled");
    assert_eq!(j["apparmor"]["status"], "enabled");
    assert_eq!(j["fips"], false);
    assert_eq!(j["cmdline"]["root"], "UUID=abc");
    assert_eq!(j["cmdline"]["quiet"], true);
    assert_eq!(j["proc_cmdline"]["console"], json!(["tty0", "ttyS0"]));
    assert_eq!(j["dns"]["nameservers"], json!(["10.0.0.2", "10.0.0.3"]));
    assert_eq!(j["dns"]["search"], json!(["example.org"]));
    assert_eq!(j["dns"]["options"], json!({"ndots": "2", "rotate": true}));
    assert_eq!(j["ssh_host_key_ed25519_public"], "AAAAC3Nza");
    assert_eq!(j["local"]["app"], json!({"role": "web", "port": 8080}));
    assert_eq!(
        j["local"]["legacy"],
        json!({"general": {"name": "old"}, "db": {"host": "db1"}})
    );
    assert!(j["local"]["broken"].as_str().unwrap().contains("rc: 3"));
    assert_eq!(j["memtotal_mb"], 3935);
    assert_eq!(j["memory_mb"]["real"]["total"], 3935);
    assert_eq!(j["swaptotal_mb"], 1023);
    assert_eq!(j["processor_vcpus"], 2);
    assert_eq!(j["processor_cores"], 2);
    assert_eq!(j["processor_count"], 1);
    assert_eq!(j["processor_nproc"], 2);
    assert_eq!(j["uptime_seconds"], 3600);
    assert_eq!(j["loadavg"]["1m"], 0.15);
    let mounts = j["mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    assert_eq!(mounts[0]["mount"], "/");
    assert_eq!(mounts[0]["uuid"], "1234-abcd");
    assert_eq!(mounts[0]["size_total"], 4096 * 2000);
    assert_eq!(mounts[0]["size_available"], 4096 * 400);
    assert_eq!(mounts[0]["block_used"], 1500);
    assert_eq!(mounts[1]["mount"], "/srv/my data");
    assert_eq!(mounts[1]["inode_used"], 5);
    assert_eq!(mounts[1]["uuid"], "N/A");
    assert_eq!(j["interfaces"], json!(["lo", "eth0"]));
    assert_eq!(j["eth0"]["macaddress"], "52:54:00:12:34:56");
    assert_eq!(j["eth0"]["mtu"], 1500);
    assert_eq!(j["eth0"]["ipv4"]["address"], "10.0.0.5");
    assert_eq!(j["eth0"]["ipv4_secondaries"][0]["address"], "10.0.0.6");
    assert_eq!(j["lo"]["type"], "loopback");
    assert_eq!(
        j["default_ipv4"],
        json!({"interface": "eth0", "alias": "eth0", "gateway": "10.0.0.1", "macaddress": "52:54:00:12:34:56",
               "mtu": 1500, "type": "ether", "address": "10.0.0.5", "netmask": "255.255.255.0",
               "network": "10.0.0.0", "prefix": "24", "broadcast": "10.0.0.255"})
    );
    assert_eq!(j["default_ipv6"], json!({}));
    assert_eq!(j["all_ipv4_addresses"], json!(["10.0.0.5", "10.0.0.6"]));
    assert_eq!(
        j["all_ipv6_addresses"],
        json!(["fd00::5", "fe80::5054:ff:fe12:3456"])
    );
    assert_eq!(j["virtualization_type"], "kvm");
    assert_eq!(j["virtualization_role"], "guest");
}

#[test]
fn only_what_was_gathered() {
    let f = parse("@@id\nuid=5(a) gid=5(a)\n@@env\nHOME=/h\n@@end\n");
    assert_eq!(f["user_id"], "a");
    assert_eq!(f["user_uid"], 5);
    assert!(!f.contains_key("local") && !f.contains_key("default_ipv4"));
    assert!(!f.contains_key("mounts") && !f.contains_key("distribution"));
    let f = parse("@@id\nuid=5(a)\n@@local_dir\n@@network\n@@end\n");
    assert_eq!(f["local"], json!({}));
    assert_eq!(f["default_ipv4"], json!({}));
    assert_eq!(f["all_ipv4_addresses"], json!([]));
}

#[test]
fn containers_and_bare_metal() {
    let mut f = Map::new();
    virtual_facts(&["container=lxc"], &[], &mut f);
    assert_eq!(f["virtualization_type"], "lxc");
    virtual_facts(&["dockerenv"], &[], &mut f);
    assert_eq!(f["virtualization_type"], "docker");
    let f = parse(
        "@@id\nuid=0(root)\n@@cpuinfo\nflags\t: fpu hypervisor\n@@virtual\ncontainer=\n@@end\n",
    );
    assert_eq!(f["virtualization_type"], "kvm");
    let mut f = Map::new();
    virtual_facts(
        &["container=", "dmi_product_name=PowerEdge R740"],
        &[],
        &mut f,
    );
    assert_eq!(f["virtualization_type"], "NA");
    assert_eq!(f["virtualization_role"], "NA");
}

#[test]
fn filter_takes_globs_with_or_without_the_prefix() {
    let f = parse(SAMPLE);
    let kept = filtered(f.clone(), &set(&["ansible_distribution*"]));
    assert!(kept.contains_key("distribution") && kept.contains_key("distribution_major_version"));
    assert!(!kept.contains_key("os_family"));
    let kept = filtered(f.clone(), &set(&["os_family", "ansible_eth[0-9]"]));
    assert_eq!(kept.keys().collect::<Vec<_>>(), ["os_family", "eth0"]);
    assert_eq!(filtered(f.clone(), &[]).len(), f.len());
    assert!(glob("a?c", "abc") && !glob("a[!b]c", "abc") && glob("*", ""));
}

#[test]
fn python_prereleases() {
    let p = python(&["/usr/bin/python3", "Python 3.13.0rc2"]);
    assert_eq!(p["version_info"], json!([3, 13, 0, "candidate", 2]));
    assert_eq!(python(&["", ""]), json!({}));
}

#[test]
fn civil_dates() {
    assert_eq!(civil(0), (1970, 1, 1));
    assert_eq!(civil(19_787), (2024, 3, 5));
    assert_eq!(civil(-1), (1969, 12, 31));
    assert_eq!(civil(11_016), (2000, 2, 29));
}

#[tokio::test]
async fn the_script_runs_in_a_real_shell() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.fact"), "{\"x\": 1}").unwrap();
    std::fs::write(d.join("b.fact"), "[s]\nk=v\n").unwrap();
    std::fs::write(d.join("c.fact"), "#!/bin/sh\necho '{\"y\": 2}'\n").unwrap();
    std::fs::set_permissions(
        d.join("c.fact"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let all = subsets(&[]).unwrap();
    let out = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script(&all, d.to_str().unwrap(), GATHER_TIMEOUT))
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let f = Json::Object(parse(&String::from_utf8_lossy(&out.stdout)));
    assert!(!f["env"]["HOME"].as_str().unwrap().is_empty());
    assert!(f["processor_vcpus"].as_u64().unwrap() >= 1);
    assert_eq!(f["system"], "Linux");
    let uname = |a: &str| {
        String::from_utf8(
            std::process::Command::new("uname")
                .arg(a)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_string()
    };
    assert_eq!(f["kernel"], uname("-r"));
    assert_eq!(f["machine"], uname("-m"));
    assert_eq!(f["nodename"], uname("-n"));
    assert_eq!(
        f["local"],
        json!({"a": {"x": 1}, "b": {"s": {"k": "v"}}, "c": {"y": 2}})
    );
    assert!(f["mounts"].as_array().is_some());
    assert!(
        f["date_time"]["epoch"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 1_700_000_000
    );
    assert!(f["distribution"].is_string());
}
