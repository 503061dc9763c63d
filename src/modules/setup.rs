//! setup: Ansible's facts, read by ONE POSIX sh script (no Python on the host)
//! and parsed here. The engine sends the same script in its start exec
//! (`engine::facts`), so gathering stays one round trip per host; the `setup`
//! module asks for it as a probe (with `gather_subset` and `filter`).
//!
//! The script prints sections (`@@name` lines, then the section's text); shell
//! builtins read the files (`r`), so a section costs a process only where a
//! tool must run (`uname -m`, `hostname -f`, `date`, `python3 -V`, `ip`,
//! `stat -f`, a facts.d executable).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::template::civil;

/// The subsets `min` stands for (as Ansible's minimal collectors).
const MIN: &[&str] = &[
    "apparmor",
    "caps",
    "cmdline",
    "date_time",
    "distribution",
    "dns",
    "env",
    "fips",
    "local",
    "lsb",
    "pkg_mgr",
    "platform",
    "python",
    "selinux",
    "service_mgr",
    "ssh_pub_keys",
    "user",
];

/// The subsets `all` adds to `min`.
const MORE: &[&str] = &["hardware", "network", "virtual"];

/// Names Ansible accepts that opsctl reads nothing for (no Ohai, no Facter).
const EMPTY: &[&str] = &["ohai", "facter"];

/// Which subsets to read, from `gather_subset` as Ansible takes it (`all`,
/// `min`, `!hardware`, `network`...). Unknown names are an error that lists
/// the valid ones.
pub fn subsets(given: &[String]) -> Result<BTreeSet<&'static str>, String> {
    let known = |n: &str| {
        MIN.iter()
            .chain(MORE)
            .chain(EMPTY)
            .find(|k| **k == n)
            .copied()
    };
    let mut add: BTreeSet<&'static str> = BTreeSet::new();
    let mut drop: BTreeSet<&'static str> = BTreeSet::new();
    let mut no_min = false;
    let mut all = false;
    let mut no_all = false;
    let mut positive = false;
    for g in given.iter().flat_map(|g| g.split(',')) {
        let g = g.trim();
        let (neg, name) = match g.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, g),
        };
        match (neg, name) {
            (_, "") => {}
            (false, "all") => {
                all = true;
                positive = true;
            }
            (true, "all") => no_all = true,
            (false, "min") => positive = true,
            (true, "min") => no_min = true,
            (neg, n) => {
                let Some(k) = known(n) else {
                    return Err(format!(
                        "bad subset '{n}' given to gather_subset: the options are all, min, {}",
                        MIN.iter()
                            .chain(MORE)
                            .chain(EMPTY)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                };
                if neg {
                    drop.insert(k);
                } else {
                    positive = true;
                    add.insert(k);
                }
            }
        }
    }
    // Nothing but exclusions means "all but those", as Ansible.
    if !positive && !no_all {
        all = true;
    }
    let mut out: BTreeSet<&'static str> = BTreeSet::new();
    if all && !no_all {
        out.extend(MORE);
    }
    if !no_min {
        out.extend(MIN);
    }
    out.extend(add);
    for d in drop {
        out.remove(d);
    }
    Ok(out)
}

/// Ansible's default `gather_timeout` (seconds).
pub const GATHER_TIMEOUT: u64 = 10;

/// The script that reads `subsets` (see [`subsets`]); `fact_path` is where
/// the local facts are (`/etc/ansible/facts.d`). What can hang (the sizes of
/// mounted file systems, a hung network mount; an executable local fact) gets
/// `timeout` seconds (`gather_timeout`), then its facts are left out.
pub fn script(subsets: &BTreeSet<&str>, fact_path: &str, timeout: u64) -> String {
    let has = |s: &str| subsets.contains(s);
    // `r FILE`: print a file with the shell's builtins (no process).
    let mut s = String::from(
        "r() { [ -r \"$1\" ] && while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\"; done < \"$1\"; }\n",
    );
    // one `id`: `uid=0(root) gid=0(root) groups=0(root)`
    s.push_str("echo @@id; i=$(id); echo \"$i\"; u=${i#uid=}; u=${u%%[( ]*}\n");
    if has("user") {
        s.push_str("echo @@passwd; getent passwd \"$u\"\n");
    }
    if has("env") {
        s.push_str("echo @@env; env\n");
    } else {
        s.push_str("echo @@env; echo \"HOME=$HOME\"; echo \"PATH=$PATH\"; echo \"USER=$USER\"\n");
    }
    if has("platform") {
        s.push_str(
            "echo @@platform; echo \"machine=$(uname -m)\"; echo \"fqdn=$(hostname -f 2>/dev/null || hostname)\"\n\
             for k in ostype osrelease version hostname domainname; do printf '%s=' $k; r /proc/sys/kernel/$k || echo; done\n\
",
        );
    }
    if has("distribution") {
        s.push_str(
            "echo @@os_release; r /etc/os-release\necho @@debian_version; r /etc/debian_version\n",
        );
    }
    if has("lsb") {
        s.push_str(
            "echo @@lsb; command -v lsb_release >/dev/null 2>&1 && echo lsb_release=yes; r /etc/lsb-release\n",
        );
    }
    if has("pkg_mgr") {
        s.push_str("echo @@pkg_mgr; for p in apt-get dnf5 dnf yum apk zypper pacman emerge xbps-install opkg pkg_add pkgng swupd rpm-ostree; do for d in /usr/bin /usr/sbin /bin /sbin /usr/local/bin /usr/local/sbin; do [ -x \"$d/$p\" ] && echo \"$p\"; done; done\n");
    }
    if has("service_mgr") {
        s.push_str("echo @@service_mgr; if [ -d /run/systemd/system ]; then echo systemd; else r /proc/1/comm; fi\n");
    }
    if has("python") {
        // the interpreter's version from its package (dpkg: ~1 ms), else from
        // the interpreter itself (`-V` costs tens of ms of CPU)
        s.push_str("echo @@python; py=$(command -v python3 || command -v python) && { echo \"$py\"; real=$(readlink -f \"$py\"); case $real in /usr/bin/*) ;; *) real=none;; esac; v=$(dpkg-query -W -f='${Version}' \"${real##*/}-minimal\" 2>/dev/null) && [ -n \"$v\" ] && echo \"Python ${v%%[-+~]*}\" || \"$py\" -V 2>&1; }\n");
    }
    if has("date_time") {
        s.push_str(
            "echo @@date_time; date '+%Y %m %d %H %M %S %s %N %A %a %B %b %w %u %W %j %Z %z'\n",
        );
    }
    if has("selinux") {
        s.push_str("echo @@selinux; [ -d /sys/fs/selinux ] && { printf 'enforce='; r /sys/fs/selinux/enforce || echo; printf 'policyvers='; r /sys/fs/selinux/policyvers || echo; }\n");
    }
    if has("apparmor") {
        s.push_str("echo @@apparmor; [ -d /sys/kernel/security/apparmor ] && echo enabled\n");
    }
    if has("fips") {
        s.push_str("echo @@fips; r /proc/sys/crypto/fips_enabled\n");
    }
    if has("cmdline") {
        s.push_str("echo @@cmdline; r /proc/cmdline\n");
    }
    if has("dns") {
        s.push_str("echo @@dns; r /etc/resolv.conf\n");
    }
    if has("ssh_pub_keys") {
        s.push_str("echo @@ssh_pub_keys; for k in /etc/ssh/ssh_host_*_key.pub; do [ -r \"$k\" ] && { printf '%s ' \"${k##*/}\"; r \"$k\"; }; done\n");
    }
    if has("local") {
        s.push_str(&format!(
            "echo @@local_dir; for f in {}/*.fact; do [ -f \"$f\" ] || continue; n=${{f##*/}}; echo \"@@local ${{n%.fact}}\"; if [ -x \"$f\" ]; then timeout {timeout} \"$f\" 2>&1 || echo \"@@local_failed $?\"; else r \"$f\"; fi; done\n",
            crate::transport::shell_quote(fact_path)
        ));
    }
    if has("hardware") {
        s.push_str(
            &"echo @@meminfo; r /proc/meminfo\necho @@cpuinfo; r /proc/cpuinfo\necho @@nproc; while read -r k v; do [ \"$k\" = Cpus_allowed_list: ] && echo \"$v\"; done < /proc/self/status\n\
             echo @@uptime; r /proc/uptime\necho @@loadavg; r /proc/loadavg\n\
             echo @@mounts; r /proc/mounts\n\
             echo @@statfs; timeout @TIMEOUT@ stat -f -c '%S %b %f %a %c %d %n' $(while read -r d m t o rest; do case \"$d\" in /*|*:/*) printf '%s ' \"$m\";; esac; done < /proc/mounts) 2>/dev/null\n\
             echo @@uuids; for u in /dev/disk/by-uuid/*; do [ -L \"$u\" ] && echo \"${u##*/} $(readlink -f \"$u\")\"; done\n"
                .replace("@TIMEOUT@", &timeout.to_string()),
        );
    }
    if has("network") {
        s.push_str(
            "echo @@network; if command -v ip >/dev/null 2>&1; then echo @@ip_link; ip -o link show 2>/dev/null; echo @@ip_addr; ip -o addr show 2>/dev/null\n\
             echo @@route4; ip -4 route get 8.8.8.8 2>/dev/null; echo @@route6; ip -6 route get 2001:4860:4860::8888 2>/dev/null; fi\n",
        );
    }
    if has("virtual") && !has("hardware") {
        s.push_str("echo @@cpuinfo; r /proc/cpuinfo\n");
    }
    if has("virtual") {
        s.push_str(
            "echo @@virtual; [ -e /.dockerenv ] && echo dockerenv; [ -e /run/.containerenv ] && echo containerenv\n\
             [ -d /proc/vz ] && echo vz; [ -d /proc/xen ] && echo xen\n\
             printf 'container='; r /run/systemd/container || echo\n\
             for k in product_name sys_vendor bios_vendor; do printf 'dmi_%s=' $k; r /sys/devices/virtual/dmi/id/$k || echo; done\n\
             echo @@cgroup1; r /proc/1/cgroup\n",
        );
    }
    s.push_str("echo @@end\n");
    s
}

/// Splits the script's output into its sections (a name may repeat: `local`).
fn sections(out: &str) -> Vec<(&str, Vec<&str>)> {
    let mut v: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("@@") {
            v.push((name, Vec::new()));
        } else if let Some((_, lines)) = v.last_mut() {
            lines.push(line);
        }
    }
    v
}

fn kv<'a>(lines: &[&'a str]) -> HashMap<&'a str, &'a str> {
    lines.iter().filter_map(|l| l.split_once('=')).collect()
}

/// `KEY="value"` files (os-release, lsb-release): the value unquoted.
fn shell_kv(lines: &[&str]) -> HashMap<String, String> {
    lines
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// Parses the script's output into the facts, named as in `ansible_facts`
/// (without the `ansible_` prefix).
pub fn parse(out: &str) -> Map<String, Json> {
    let mut f = Map::new();
    let secs = sections(out);
    let one = |name: &str| -> Vec<&str> {
        secs.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    };
    let has = |name: &str| secs.iter().any(|(n, _)| *n == name);
    let id = parse_id(one("id").first().copied().unwrap_or(""));
    let idn = |k: &str| id.get(k).map_or(0, |(n, _)| *n);
    let user = id.get("uid").map(|(_, n)| n.clone()).unwrap_or_default();
    f.insert("user_id".into(), json!(user));
    f.insert("user_uid".into(), json!(idn("uid")));
    if has("passwd") {
        let euid = id.get("euid").map_or(idn("uid"), |(n, _)| *n);
        let egid = id.get("egid").map_or(idn("gid"), |(n, _)| *n);
        f.insert("effective_user_id".into(), json!(euid));
        f.insert("effective_group_id".into(), json!(egid));
        f.insert("real_user_id".into(), json!(idn("uid")));
        f.insert("real_group_id".into(), json!(idn("gid")));
        f.insert("user_gid".into(), json!(idn("gid")));
        let pw: Vec<&str> = one("passwd").first().unwrap_or(&"").split(':').collect();
        let field = |i: usize| pw.get(i).copied().unwrap_or("").to_string();
        f.insert("user_gecos".into(), json!(field(4)));
        f.insert("user_dir".into(), json!(field(5)));
        f.insert("user_shell".into(), json!(field(6)));
    }
    // env (values on one line each; a continuation line joins the previous)
    let mut env = Map::new();
    let mut last: Option<String> = None;
    for l in one("env") {
        match l.split_once('=') {
            Some((k, v)) if !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                env.insert(k.to_string(), json!(v));
                last = Some(k.to_string());
            }
            _ => {
                if let Some(Json::String(s)) = last.as_ref().and_then(|k| env.get_mut(k)) {
                    s.push('\n');
                    s.push_str(l);
                }
            }
        }
    }
    f.insert("env".into(), Json::Object(env));
    if has("platform") {
        platform(&kv(&one("platform")), &mut f);
    }
    if has("os_release") {
        distribution(&one("os_release"), &one("debian_version"), &mut f);
    }
    if has("lsb") {
        f.insert("lsb".into(), lsb(&one("lsb"), &one("os_release")));
    }
    if has("pkg_mgr") {
        f.insert("pkg_mgr".into(), json!(pkg_mgr(&one("pkg_mgr"))));
    }
    if has("service_mgr") {
        let s = match one("service_mgr").first().map(|s| s.trim()) {
            Some("systemd") => "systemd",
            Some("init" | "sysvinit") => "sysvinit",
            Some("openrc-init" | "openrc") => "openrc",
            Some("runit" | "runit-init") => "runit",
            _ => "service",
        };
        f.insert("service_mgr".into(), json!(s));
    }
    if has("python") {
        f.insert("python".into(), python(&one("python")));
        if let Some(v) = f["python"].get("version_string") {
            f.insert("python_version".into(), v.clone());
        }
        if let Some(Json::Object(p)) = f.get_mut("python") {
            p.remove("version_string");
        }
    }
    if has("date_time")
        && let Some(d) = one("date_time").first().and_then(|l| date_time(l))
    {
        f.insert("date_time".into(), d);
    }
    if has("selinux") {
        let k = kv(&one("selinux"));
        let v = match k.get("enforce").map(|s| s.trim()) {
            Some(e) => json!({
                "status": "enabled",
                "mode": if e == "1" { "enforcing" } else { "permissive" },
                "policyvers": num(k.get("policyvers")),
            }),
            None => json!({"status": "disabled"}),
        };
        f.insert("selinux".into(), v);
        f.insert("selinux_python_present".into(), json!(false));
    }
    if has("apparmor") {
        let on = one("apparmor").iter().any(|l| l.trim() == "enabled");
        f.insert(
            "apparmor".into(),
            json!({"status": if on { "enabled" } else { "disabled" }}),
        );
    }
    if has("fips") {
        let on = one("fips").first().map(|s| s.trim()) == Some("1");
        f.insert("fips".into(), json!(on));
    }
    if has("cmdline") {
        let line = one("cmdline").join(" ");
        let mut c = Map::new();
        let mut pc = Map::new();
        for w in line.split_whitespace() {
            let (k, v) = match w.split_once('=') {
                Some((k, v)) => (k, json!(v)),
                None => (w, json!(true)),
            };
            c.insert(k.into(), v.clone());
            match pc.get_mut(k) {
                Some(Json::Array(a)) => a.push(v),
                Some(old) => *old = json!([old.clone(), v]),
                None => {
                    pc.insert(k.into(), v);
                }
            }
        }
        f.insert("cmdline".into(), Json::Object(c));
        f.insert("proc_cmdline".into(), Json::Object(pc));
    }
    if has("dns") {
        f.insert("dns".into(), dns(&one("dns")));
    }
    if has("ssh_pub_keys") {
        for l in one("ssh_pub_keys") {
            let mut w = l.split_whitespace();
            let (Some(file), Some(kind), Some(key)) = (w.next(), w.next(), w.next()) else {
                continue;
            };
            let algo = file
                .trim_start_matches("ssh_host_")
                .trim_end_matches("_key.pub");
            f.insert(format!("ssh_host_key_{algo}_public"), json!(key));
            f.insert(format!("ssh_host_key_{algo}_public_keytype"), json!(kind));
        }
    }
    if has("local_dir") {
        let mut local = Map::new();
        for (i, (n, lines)) in secs.iter().enumerate() {
            if let Some(name) = n.strip_prefix("local ") {
                let failed = secs
                    .get(i + 1)
                    .and_then(|(n, _)| n.strip_prefix("local_failed "));
                local.insert(
                    name.to_string(),
                    local_fact(name, &lines.join("\n"), failed),
                );
            }
        }
        f.insert("local".into(), Json::Object(local));
    }
    if has("meminfo") {
        hardware(&secs, &mut f);
    }
    if has("network") {
        network(
            &one("ip_link"),
            &one("ip_addr"),
            &one("route4"),
            &one("route6"),
            &mut f,
        );
    }
    if has("virtual") {
        let mut v = one("virtual");
        if one("cpuinfo")
            .iter()
            .any(|l| l.starts_with("flags") && l.contains(" hypervisor"))
        {
            v.push("hypervisor_flag");
        }
        virtual_facts(&v, &one("cgroup1"), &mut f);
    }
    f
}

fn num(v: Option<&&str>) -> u64 {
    v.and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

fn platform(k: &HashMap<&str, &str>, f: &mut Map<String, Json>) {
    let get = |n: &str| k.get(n).map(|s| s.trim()).unwrap_or("").to_string();
    let machine = get("machine");
    let nodename = get("hostname");
    let fqdn = get("fqdn");
    let short = nodename.split('.').next().unwrap_or("").to_string();
    let domain = fqdn
        .split_once('.')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    let system = match get("ostype") {
        s if s.is_empty() => "Linux".to_string(),
        s => s,
    };
    let bits = if machine.is_empty() {
        String::new()
    } else if machine.contains("64") || machine == "s390x" {
        "64".to_string()
    } else {
        "32".to_string()
    };
    let arch = match machine.as_str() {
        "i386" | "i486" | "i586" | "i686" => "i386".to_string(),
        "armv7l" | "armv6l" => machine.clone(),
        m => m.to_string(),
    };
    f.insert("system".into(), json!(system));
    f.insert("kernel".into(), json!(get("osrelease")));
    f.insert("kernel_version".into(), json!(get("version")));
    f.insert("machine".into(), json!(machine));
    f.insert("architecture".into(), json!(arch));
    if !bits.is_empty() {
        f.insert("userspace_bits".into(), json!(bits));
        let ua = if machine == "x86_64" && bits == "32" {
            "i386".to_string()
        } else {
            machine.clone()
        };
        f.insert("userspace_architecture".into(), json!(ua));
    }
    f.insert("nodename".into(), json!(nodename));
    f.insert("hostname".into(), json!(short));
    f.insert("fqdn".into(), json!(fqdn));
    f.insert("domain".into(), json!(domain));
}

/// Ansible's distribution names for os-release IDs.
fn distribution_name(id: &str) -> String {
    match id {
        "debian" => "Debian".into(),
        "ubuntu" => "Ubuntu".into(),
        "centos" => "CentOS".into(),
        "rhel" => "RedHat".into(),
        "fedora" => "Fedora".into(),
        "rocky" => "Rocky".into(),
        "almalinux" => "AlmaLinux".into(),
        "ol" => "OracleLinux".into(),
        "amzn" => "Amazon".into(),
        "opensuse-leap" | "opensuse" => "openSUSE Leap".into(),
        "opensuse-tumbleweed" => "openSUSE Tumbleweed".into(),
        "sles" => "SLES".into(),
        "arch" => "Archlinux".into(),
        "alpine" => "Alpine".into(),
        "linuxmint" => "Linux Mint".into(),
        "raspbian" => "Debian".into(),
        "devuan" => "Devuan".into(),
        "kali" => "Kali".into(),
        "pop" => "Pop!_OS".into(),
        "" => "Unknown".into(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    }
}

fn distribution(os: &[&str], debian_version: &[&str], f: &mut Map<String, Json>) {
    let os = shell_kv(os);
    let get = |k: &str| os.get(k).cloned().unwrap_or_default();
    let id = get("ID");
    let like = get("ID_LIKE");
    let dist = distribution_name(&id);
    let family = match id.as_str() {
        "debian" | "ubuntu" | "raspbian" | "linuxmint" | "devuan" | "kali" | "pop" => "Debian",
        "rhel" | "centos" | "fedora" | "rocky" | "almalinux" | "ol" | "amzn" => "RedHat",
        "opensuse-leap" | "opensuse" | "opensuse-tumbleweed" | "sles" => "Suse",
        "arch" => "Archlinux",
        "alpine" => "Alpine",
        _ if like.contains("debian") || like.contains("ubuntu") => "Debian",
        _ if like.contains("rhel") || like.contains("fedora") => "RedHat",
        _ if like.contains("suse") => "Suse",
        _ => dist.as_str(),
    }
    .to_string();
    let dv = debian_version.first().map(|s| s.trim()).unwrap_or("");
    let version = if id == "debian" && dv.starts_with(|c: char| c.is_ascii_digit()) {
        dv.to_string()
    } else if id == "debian" && get("VERSION_ID").is_empty() {
        // testing/sid: Ansible reports the codename's release as version
        dv.split('/').next().unwrap_or("").to_string()
    } else {
        get("VERSION_ID")
    };
    let major = version.split('.').next().unwrap_or("").to_string();
    let minor = version.split('.').nth(1).unwrap_or("").to_string();
    let release = match get("VERSION_CODENAME") {
        c if !c.is_empty() => c,
        _ => get("UBUNTU_CODENAME"),
    };
    f.insert("distribution".into(), json!(dist));
    f.insert("distribution_release".into(), json!(release));
    f.insert("distribution_version".into(), json!(version));
    f.insert("distribution_major_version".into(), json!(major));
    if !minor.is_empty() {
        f.insert("distribution_minor_version".into(), json!(minor));
    }
    f.insert("distribution_file_path".into(), json!("/etc/os-release"));
    f.insert("distribution_file_variety".into(), json!(family));
    f.insert("os_family".into(), json!(family));
}

/// `id`'s `uid=0(root) gid=0(root) euid=...`: number and name by key.
fn parse_id(line: &str) -> HashMap<String, (u64, String)> {
    line.split_whitespace()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            let (n, name) = v.split_once('(').unwrap_or((v, ""));
            let name = name.split(')').next().unwrap_or("").to_string();
            Some((k.to_string(), (n.parse().ok()?, name)))
        })
        .collect()
}

/// `lsb`: /etc/lsb-release, else (when `lsb_release` is installed: it reads
/// os-release) what `lsb_release -a` would say, from os-release.
fn lsb(lines: &[&str], os_release: &[&str]) -> Json {
    let mut m = Map::new();
    if lines.iter().any(|l| l.trim() == "lsb_release=yes")
        && !lines.iter().any(|l| l.starts_with("DISTRIB_ID="))
    {
        let os = shell_kv(os_release);
        let get = |k: &str| os.get(k).cloned().unwrap_or_default();
        m.insert("id".into(), json!(distribution_name(&get("ID"))));
        m.insert("description".into(), json!(get("PRETTY_NAME")));
        m.insert("release".into(), json!(get("VERSION_ID")));
        m.insert("codename".into(), json!(get("VERSION_CODENAME")));
    }
    // `lsb_release -a`: "Distributor ID:\tDebian"; /etc/lsb-release: DISTRIB_ID=Ubuntu
    for l in lines {
        if let Some((k, v)) = l.split_once(":\t").or_else(|| l.split_once(": ")) {
            let key = match k.trim() {
                "Distributor ID" => "id",
                "Description" => "description",
                "Release" => "release",
                "Codename" => "codename",
                _ => continue,
            };
            m.insert(key.into(), json!(v.trim()));
        }
    }
    for (k, v) in shell_kv(lines) {
        let key = match k.as_str() {
            "DISTRIB_ID" => "id",
            "DISTRIB_DESCRIPTION" => "description",
            "DISTRIB_RELEASE" => "release",
            "DISTRIB_CODENAME" => "codename",
            _ => continue,
        };
        m.insert(key.into(), json!(v));
    }
    if let Some(r) = m.get("release").and_then(Json::as_str) {
        let major = r.split('.').next().unwrap_or("").to_string();
        m.insert("major_release".into(), json!(major));
    }
    Json::Object(m)
}

fn pkg_mgr(found: &[&str]) -> String {
    let has = |p: &str| found.iter().any(|f| f.trim() == p);
    for (exe, name) in [
        ("apt-get", "apt"),
        ("dnf5", "dnf5"),
        ("dnf", "dnf"),
        ("yum", "yum"),
        ("apk", "apk"),
        ("zypper", "zypper"),
        ("pacman", "pacman"),
        ("emerge", "portage"),
        ("xbps-install", "xbps"),
        ("opkg", "opkg"),
        ("swupd", "swupd"),
        ("rpm-ostree", "atomic_container"),
        ("pkg_add", "openbsd_pkg"),
        ("pkgng", "pkgng"),
    ] {
        if has(exe) {
            return name.into();
        }
    }
    "unknown".into()
}

fn python(lines: &[&str]) -> Json {
    let exe = lines.first().map(|s| s.trim()).unwrap_or("");
    let ver = lines
        .get(1)
        .and_then(|l| l.trim().strip_prefix("Python "))
        .unwrap_or("");
    if exe.is_empty() || ver.is_empty() {
        return json!({});
    }
    // 3.11.2, 3.13.0rc1
    let split = ver
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(ver.len());
    let (nums, rest) = ver.split_at(split);
    let n: Vec<u64> = nums.split('.').filter_map(|x| x.parse().ok()).collect();
    let part = |i: usize| n.get(i).copied().unwrap_or(0);
    let (level, serial) = match rest {
        "" => ("final", 0),
        r => {
            let d = r.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            let lvl = match &r[..r.len() - d.len()] {
                "a" => "alpha",
                "b" => "beta",
                "rc" => "candidate",
                _ => "final",
            };
            (lvl, d.parse().unwrap_or(0))
        }
    };
    json!({
        "executable": exe,
        "has_sslcontext": true,
        "type": "cpython",
        "version": {"major": part(0), "minor": part(1), "micro": part(2), "releaselevel": level, "serial": serial},
        "version_info": [part(0), part(1), part(2), level, serial],
        "version_string": ver,
    })
}

fn date_time(line: &str) -> Option<Json> {
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.len() < 18 {
        return None;
    }
    let epoch: i64 = w[6].parse().ok()?;
    let nanos: u64 = w[7].parse().unwrap_or(0);
    let micro = nanos / 1000;
    let (y, mo, d) = civil(epoch.div_euclid(86_400));
    let secs = epoch.rem_euclid(86_400);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let tz_offset = w[17];
    Some(json!({
        "year": w[0], "month": w[1], "day": w[2],
        "hour": w[3], "minute": w[4], "second": w[5],
        "epoch": w[6], "epoch_int": w[6],
        "weekday": w[8], "weekday_number": w[12], "weeknumber": w[14],
        "date": format!("{}-{}-{}", w[0], w[1], w[2]),
        "time": format!("{}:{}:{}", w[3], w[4], w[5]),
        "iso8601": format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        "iso8601_micro": format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micro:06}Z"),
        "iso8601_basic": format!("{}{}{}T{}{}{}{micro:06}", w[0], w[1], w[2], w[3], w[4], w[5]),
        "iso8601_basic_short": format!("{}{}{}T{}{}{}", w[0], w[1], w[2], w[3], w[4], w[5]),
        "tz": w[16], "tz_dst": w[16], "tz_offset": tz_offset,
    }))
}

fn dns(lines: &[&str]) -> Json {
    let mut ns = Vec::new();
    let mut search = Vec::new();
    let mut m = Map::new();
    for l in lines {
        let mut w = l.split_whitespace();
        match w.next() {
            Some("nameserver") => ns.extend(w.map(|x| json!(x))),
            Some("search") => search.extend(w.map(|x| json!(x))),
            Some("domain") => {
                if let Some(d) = w.next() {
                    m.insert("domain".into(), json!(d));
                }
            }
            Some("sortlist") => {
                m.insert("sortlist".into(), json!(w.collect::<Vec<_>>()));
            }
            Some("options") => {
                let o = m.entry("options").or_insert_with(|| json!({}));
                for opt in w {
                    let (k, v) = opt
                        .split_once(':')
                        .map_or((opt, json!(true)), |(k, v)| (k, json!(v)));
                    o[k] = v;
                }
            }
            _ => {}
        }
    }
    if !ns.is_empty() {
        m.insert("nameservers".into(), Json::Array(ns));
    }
    if !search.is_empty() {
        m.insert("search".into(), Json::Array(search));
    }
    Json::Object(m)
}

/// A facts.d file: JSON, else INI (sections of key = value), as Ansible.
fn local_fact(name: &str, text: &str, failed: Option<&str>) -> Json {
    if let Some(rc) = failed {
        return json!(format!(
            "Failure executing fact script ({name}.fact), rc: {rc}, err: {}",
            text.trim()
        ));
    }
    if text.trim().is_empty() {
        return json!({});
    }
    if let Ok(v) = serde_json::from_str::<Json>(text) {
        return v;
    }
    let mut out = Map::new();
    let mut section: Option<String> = None;
    for l in text.lines() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(s) = t.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            section = Some(s.trim().to_string());
            out.entry(s.trim()).or_insert_with(|| json!({}));
            continue;
        }
        let Some(sec) = &section else {
            return json!(format!(
                "error loading facts as JSON or ini - please check content: {name}.fact"
            ));
        };
        let (k, v) = t
            .split_once('=')
            .or_else(|| t.split_once(':'))
            .unwrap_or((t, ""));
        // configparser lowercases option names
        out[sec.as_str()][k.trim().to_lowercase()] = json!(v.trim());
    }
    Json::Object(out)
}

fn hardware(secs: &[(&str, Vec<&str>)], f: &mut Map<String, Json>) {
    let one = |name: &str| -> Vec<&str> {
        secs.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    };
    let mem: HashMap<&str, u64> = one("meminfo")
        .iter()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim(), v.split_whitespace().next()?.parse().ok()?))
        })
        .collect();
    let mb = |k: &str| mem.get(k).copied().unwrap_or(0) / 1024;
    f.insert("memtotal_mb".into(), json!(mb("MemTotal")));
    f.insert("memfree_mb".into(), json!(mb("MemFree")));
    f.insert("swaptotal_mb".into(), json!(mb("SwapTotal")));
    f.insert("swapfree_mb".into(), json!(mb("SwapFree")));
    let real_used = mb("MemTotal").saturating_sub(mb("MemFree"));
    let nocache_free = mb("MemFree") + mb("Buffers") + mb("Cached");
    f.insert(
        "memory_mb".into(),
        json!({
            "real": {"total": mb("MemTotal"), "free": mb("MemFree"), "used": real_used},
            "nocache": {"free": nocache_free, "used": mb("MemTotal").saturating_sub(nocache_free)},
            "swap": {"total": mb("SwapTotal"), "free": mb("SwapFree"), "used": mb("SwapTotal").saturating_sub(mb("SwapFree")), "cached": mb("SwapCached")},
        }),
    );
    // processors
    let mut procs: Vec<Json> = Vec::new();
    let mut vcpus = 0u64;
    let mut sockets: BTreeSet<String> = BTreeSet::new();
    let mut cores: BTreeMap<String, u64> = BTreeMap::new();
    let mut cur_phys = String::from("0");
    for l in one("cpuinfo") {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => {
                vcpus += 1;
                procs.push(json!(v));
            }
            "vendor_id" => procs.push(json!(v)),
            "model name" | "Processor" | "cpu model" => procs.push(json!(v)),
            "physical id" => {
                cur_phys = v.to_string();
                sockets.insert(v.to_string());
            }
            "cpu cores" => {
                cores.insert(cur_phys.clone(), v.parse().unwrap_or(1));
            }
            _ => {}
        }
    }
    let count = sockets.len().max(1) as u64;
    let per_socket = cores
        .values()
        .next()
        .copied()
        .unwrap_or(vcpus.max(1) / count);
    let threads = (vcpus / (count * per_socket.max(1))).max(1);
    f.insert("processor".into(), Json::Array(procs));
    f.insert("processor_count".into(), json!(count));
    f.insert("processor_cores".into(), json!(per_socket.max(1)));
    f.insert("processor_threads_per_core".into(), json!(threads));
    f.insert("processor_vcpus".into(), json!(vcpus.max(1)));
    // Cpus_allowed_list: `0-3,8`
    let nproc = one("nproc")
        .first()
        .map(|l| {
            l.split(',')
                .filter_map(|r| match r.trim().split_once('-') {
                    Some((a, b)) => Some(b.parse::<u64>().ok()? + 1 - a.parse::<u64>().ok()?),
                    None => r.trim().parse::<u64>().ok().map(|_| 1),
                })
                .sum::<u64>()
        })
        .filter(|n| *n > 0)
        .unwrap_or(vcpus.max(1));
    f.insert("processor_nproc".into(), json!(nproc));
    if let Some(up) = one("uptime")
        .first()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
    {
        f.insert("uptime_seconds".into(), json!(up as u64));
    }
    if let Some(l) = one("loadavg").first() {
        let w: Vec<f64> = l
            .split_whitespace()
            .take(3)
            .filter_map(|x| x.parse().ok())
            .collect();
        if w.len() == 3 {
            f.insert(
                "loadavg".into(),
                json!({"1m": w[0], "5m": w[1], "15m": w[2]}),
            );
        }
    }
    // mounts: devices (or network file systems) only, as Ansible
    let uuids: HashMap<&str, &str> = one("uuids")
        .iter()
        .filter_map(|l| l.split_once(' ').map(|(u, d)| (d, u)))
        .collect();
    let statfs: HashMap<String, Vec<u64>> = one("statfs")
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.splitn(7, ' ').collect();
            if w.len() < 7 {
                return None;
            }
            let n: Vec<u64> = w[..6].iter().map(|x| x.parse().unwrap_or(0)).collect();
            Some((w[6].to_string(), n))
        })
        .collect();
    let mut mounts = Vec::new();
    for l in one("mounts") {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() < 6 {
            continue;
        }
        let (dev, mnt, fstype, opts) = (w[0], unescape_mount(w[1]), w[2], w[3]);
        if !(dev.starts_with('/') || dev.contains(":/")) || fstype == "none" {
            continue;
        }
        let mut m = json!({
            "device": dev, "mount": mnt, "fstype": fstype, "options": opts,
            "dump": w[4].parse::<u64>().unwrap_or(0), "passno": w[5].parse::<u64>().unwrap_or(0),
            "uuid": uuids.get(dev).copied().unwrap_or("N/A"),
        });
        if let Some(s) = statfs.get(&mnt) {
            let (bs, blocks, bfree, bavail, files, ffree) = (s[0], s[1], s[2], s[3], s[4], s[5]);
            m["size_total"] = json!(bs * blocks);
            m["size_available"] = json!(bs * bavail);
            m["block_size"] = json!(bs);
            m["block_total"] = json!(blocks);
            m["block_available"] = json!(bavail);
            m["block_used"] = json!(blocks.saturating_sub(bfree));
            m["inode_total"] = json!(files);
            m["inode_available"] = json!(ffree);
            m["inode_used"] = json!(files.saturating_sub(ffree));
        }
        mounts.push(m);
    }
    f.insert("mounts".into(), Json::Array(mounts));
}

/// /proc/mounts escapes spaces, tabs, newlines and backslashes as octal.
fn unescape_mount(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u8::from_str_radix(&s[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(v as char);
            i += 4;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn network(
    link: &[&str],
    addr: &[&str],
    route4: &[&str],
    route6: &[&str],
    f: &mut Map<String, Json>,
) {
    let mut ifaces: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    // `2: eth0@if5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc ... link/ether aa:bb:.. brd ...`
    for l in link {
        let mut parts = l.splitn(3, ": ");
        let (Some(_), Some(name), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name).to_string();
        let w: Vec<&str> = rest.split_whitespace().collect();
        let after = |k: &str| {
            w.iter()
                .position(|x| *x == k)
                .and_then(|i| w.get(i + 1))
                .copied()
        };
        let flags = w
            .first()
            .map(|s| s.trim_matches(|c| c == '<' || c == '>'))
            .unwrap_or("");
        let kind = w
            .iter()
            .find_map(|x| x.strip_prefix("link/"))
            .unwrap_or("unknown");
        let mut m = Map::new();
        m.insert("device".into(), json!(name));
        m.insert("active".into(), json!(flags.split(',').any(|x| x == "UP")));
        m.insert(
            "type".into(),
            json!(match kind {
                "loopback" => "loopback",
                "ether" => "ether",
                other => other,
            }),
        );
        if let Some(mtu) = after("mtu").and_then(|s| s.parse::<u64>().ok()) {
            m.insert("mtu".into(), json!(mtu));
        }
        if let Some(mac) = after(&format!("link/{kind}"))
            && kind != "loopback"
            && mac.contains(':')
        {
            m.insert("macaddress".into(), json!(mac));
        }
        m.insert(
            "promisc".into(),
            json!(flags.split(',').any(|x| x == "PROMISC")),
        );
        order.push(name.clone());
        ifaces.insert(name, m);
    }
    let mut all4 = Vec::new();
    let mut all6 = Vec::new();
    // `2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\       valid_lft ...`
    for l in addr {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() < 4 {
            continue;
        }
        let name = w[1].split('@').next().unwrap_or(w[1]).to_string();
        let after = |k: &str| {
            w.iter()
                .position(|x| *x == k)
                .and_then(|i| w.get(i + 1))
                .copied()
        };
        let m = ifaces.entry(name.clone()).or_insert_with(|| {
            let mut m = Map::new();
            m.insert("device".into(), json!(name));
            m
        });
        let scope = after("scope").unwrap_or("global");
        match w[2] {
            "inet" => {
                let Ok(net) = w[3].parse::<ipnet::Ipv4Net>() else {
                    continue;
                };
                let mut a = json!({
                    "address": net.addr().to_string(),
                    "netmask": net.netmask().to_string(),
                    "network": net.network().to_string(),
                    "prefix": net.prefix_len().to_string(),
                });
                a["broadcast"] = json!(after("brd").unwrap_or(""));
                if !net.addr().is_loopback() {
                    all4.push(json!(net.addr().to_string()));
                }
                if m.contains_key("ipv4") {
                    if let Some(v) = m
                        .entry("ipv4_secondaries")
                        .or_insert_with(|| json!([]))
                        .as_array_mut()
                    {
                        v.push(a)
                    }
                } else {
                    m.insert("ipv4".into(), a);
                }
            }
            "inet6" => {
                let Some((ad, pre)) = w[3].split_once('/') else {
                    continue;
                };
                let scope = if scope == "global" { "global" } else { scope };
                if let Some(v) = m.entry("ipv6").or_insert_with(|| json!([])).as_array_mut() {
                    v.push(json!({"address": ad, "prefix": pre, "scope": scope}))
                }
                if ad != "::1" {
                    all6.push(json!(ad));
                }
            }
            _ => {}
        }
    }
    let default =
        |route: &[&str], v6: bool, ifaces: &BTreeMap<String, Map<String, Json>>| -> Json {
            let Some(l) = route.first() else {
                return json!({});
            };
            let w: Vec<&str> = l.split_whitespace().collect();
            let after = |k: &str| {
                w.iter()
                    .position(|x| *x == k)
                    .and_then(|i| w.get(i + 1))
                    .copied()
            };
            let Some(dev) = after("dev") else {
                return json!({});
            };
            let src = after("src").unwrap_or("");
            let mut d = Map::new();
            d.insert("interface".into(), json!(dev));
            d.insert("alias".into(), json!(dev));
            if let Some(gw) = after("via") {
                d.insert("gateway".into(), json!(gw));
            }
            if let Some(i) = ifaces.get(dev) {
                for k in ["macaddress", "mtu", "type"] {
                    if let Some(v) = i.get(k) {
                        d.insert(k.into(), v.clone());
                    }
                }
                let pick = if v6 {
                    i.get("ipv6")
                        .and_then(Json::as_array)
                        .and_then(|a| a.iter().find(|x| x["address"] == src).or(a.first()))
                        .cloned()
                } else {
                    std::iter::once(i.get("ipv4"))
                        .flatten()
                        .chain(
                            i.get("ipv4_secondaries")
                                .and_then(Json::as_array)
                                .into_iter()
                                .flatten(),
                        )
                        .find(|x| x["address"] == src)
                        .or(i.get("ipv4"))
                        .cloned()
                };
                if let Some(Json::Object(a)) = pick {
                    d.extend(a);
                }
            }
            if !src.is_empty() {
                d.insert("address".into(), json!(src));
            }
            Json::Object(d)
        };
    f.insert("default_ipv4".into(), default(route4, false, &ifaces));
    f.insert("default_ipv6".into(), default(route6, true, &ifaces));
    f.insert("all_ipv4_addresses".into(), Json::Array(all4));
    f.insert("all_ipv6_addresses".into(), Json::Array(all6));
    f.insert(
        "interfaces".into(),
        json!(
            order
                .iter()
                .map(|n| n.replace('-', "_"))
                .collect::<Vec<_>>()
        ),
    );
    for (name, m) in ifaces {
        // Ansible names the fact after the device, `-` and `:` as `_`
        f.insert(name.replace(['-', ':', '.'], "_"), Json::Object(m));
    }
}

fn virtual_facts(lines: &[&str], cgroup: &[&str], f: &mut Map<String, Json>) {
    let k = kv(lines);
    let flag = |n: &str| lines.iter().any(|l| l.trim() == n);
    let get = |n: &str| k.get(n).map(|s| s.trim()).unwrap_or("").to_string();
    let container = get("container");
    let cg = cgroup.join("\n");
    let (kind, role) = if flag("dockerenv") || cg.contains("/docker") {
        ("docker", "guest")
    } else if flag("containerenv") || container == "podman" {
        ("podman", "guest")
    } else if container == "lxc" || container == "lxc-libvirt" || cg.contains("/lxc") {
        ("lxc", "guest")
    } else if container == "systemd-nspawn" || cg.contains("machine.slice/machine-") {
        ("systemd-nspawn", "guest")
    } else if !container.is_empty() {
        ("container", "guest")
    } else if flag("vz") {
        ("openvz", "guest")
    } else {
        let product = get("dmi_product_name");
        let vendor = get("dmi_sys_vendor");
        let bios = get("dmi_bios_vendor");
        let any = |s: &str| [&product, &vendor, &bios].iter().any(|x| x.contains(s));
        if any("KVM") || any("QEMU") || any("Bochs") || any("OpenStack") || any("Amazon EC2") {
            ("kvm", "guest")
        } else if any("VMware") {
            ("VMware", "guest")
        } else if any("VirtualBox") || any("innotek") {
            ("virtualbox", "guest")
        } else if any("Virtual Machine") && any("Microsoft") {
            ("VirtualPC", "guest")
        } else if any("Xen") || any("HVM domU") {
            ("xen", "guest")
        } else if any("Google") {
            ("kvm", "guest")
        } else if any("RHEV") || any("oVirt") {
            ("RHEV", "guest")
        } else if flag("xen") {
            ("xen", "guest")
        } else if flag("hypervisor_flag") {
            ("kvm", "guest")
        } else {
            ("NA", "NA")
        }
    };
    f.insert("virtualization_type".into(), json!(kind));
    f.insert("virtualization_role".into(), json!(role));
    let guest: Vec<&str> = if role == "guest" { vec![kind] } else { vec![] };
    f.insert("virtualization_tech_guest".into(), json!(guest));
    f.insert("virtualization_tech_host".into(), json!([]));
}

/// Adds the `ansible_` prefix to facts as Ansible injects them as variables
/// (`distribution` -> `ansible_distribution`), plus `ansible_facts` itself.
pub fn as_variables(facts: &Map<String, Json>) -> Map<String, Json> {
    let mut out = Map::new();
    for (k, v) in facts {
        out.insert(format!("ansible_{k}"), v.clone());
    }
    out
}

/// Keeps the facts whose name (with or without `ansible_`) matches one of
/// `patterns` (shell globs, as `setup`'s `filter`).
pub fn filtered(facts: Map<String, Json>, patterns: &[String]) -> Map<String, Json> {
    if patterns.is_empty() || patterns.iter().any(|p| p == "*") {
        return facts;
    }
    facts
        .into_iter()
        .filter(|(k, _)| {
            let full = format!("ansible_{k}");
            patterns.iter().any(|p| glob(p, &full) || glob(p, k))
        })
        .collect()
}

/// fnmatch: `*`, `?`, `[...]`.
fn glob(p: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (p.chars().collect(), s.chars().collect());
    fn m(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).any(|i| m(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && m(&p[1..], &s[1..]),
            Some('[') => {
                let Some(end) = p.iter().skip(1).position(|c| *c == ']').map(|i| i + 1) else {
                    return s.first() == Some(&'[') && m(&p[1..], &s[1..]);
                };
                let Some(c) = s.first() else {
                    return false;
                };
                let set = &p[1..end];
                let (neg, set) = match set.first() {
                    Some('!') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &s[1..])
            }
            Some(c) => s.first() == Some(c) && m(&p[1..], &s[1..]),
        }
    }
    m(&p, &s)
}

// --- the setup module ---

pub static SETUP: Spec = Spec::new(
    "setup",
    &[
        ArgSpec::new("gather_subset", Kind::Any),
        ArgSpec::new("filter", Kind::Any),
        ArgSpec::new("fact_path", Kind::Str),
        ArgSpec::new("gather_timeout", Kind::Int),
    ],
);

/// `setup` on the module protocol: one probe (the facts script), facts out.
pub struct Setup;

fn strings(v: Option<&Json>) -> Vec<String> {
    match v {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect(),
        Some(Json::String(s)) => s.split(',').map(|x| x.trim().to_string()).collect(),
        Some(other) => vec![other.to_string()],
    }
}

fn setup_probe(args: &Args) -> Result<String, Fail> {
    let given = strings(args.get("gather_subset"));
    let given = if given.is_empty() {
        vec!["all".to_string()]
    } else {
        given
    };
    let subs = subsets(&given).map_err(Fail::Args)?;
    let path = args.str("fact_path").unwrap_or("/etc/ansible/facts.d");
    let timeout = args
        .get("gather_timeout")
        .and_then(Json::as_u64)
        .unwrap_or(GATHER_TIMEOUT);
    Ok(script(&subs, path, timeout))
}

impl Module for Setup {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(setup_probe(args)?)])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let out = facts.probe(&setup_probe(args)?)?;
        if !out.success() {
            return fail::fail(format!(
                "gathering facts failed: {}",
                super::protocol::script_failure(out)
            ));
        }
        let mut given = strings(args.get("gather_subset"));
        if given.is_empty() {
            given.push("all".into());
        }
        let mut f = parse(&out.stdout_str());
        f.insert("gather_subset".into(), json!(given));
        f.insert("module_setup".into(), json!(true));
        let f = filtered(f, &strings(args.get("filter")));
        Ok(Plan::Done(
            Outcome::ok().with("ansible_facts", Json::Object(as_variables(&f))),
        ))
    }
}

#[cfg(test)]
#[path = "setup_tests.rs"]
mod tests;
