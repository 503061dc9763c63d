//! Facts, gathered in ONE round trip per host, with a POSIX sh script (no Python on
//! the host). The same exec reads the handlers a failed earlier run left pending.

use serde_json::{Map, Value as Json, json};

/// Where a failed run leaves the handlers it had notified (root, else the user's).
pub const PENDING_SCRIPT: &str = r#"if [ "$(id -u)" = 0 ]; then f=/var/lib/opsctl/pending-handlers; else f="${XDG_STATE_HOME:-$HOME/.local/state}/opsctl/pending-handlers"; fi"#;

/// The probe: `key=value` lines, then the pending handlers after a marker.
pub fn script(gather: bool) -> String {
    let mut s = String::new();
    if gather {
        s.push_str(
            r#"echo "home=$HOME"
echo "path=$PATH"
echo "user=$(id -un)"
echo "uid=$(id -u)"
echo "hostname=$(hostname 2>/dev/null || cat /etc/hostname)"
echo "fqdn=$(hostname -f 2>/dev/null || hostname)"
if [ -r /etc/os-release ]; then . /etc/os-release; echo "os_id=$ID"; echo "os_version_id=$VERSION_ID"; echo "os_codename=$VERSION_CODENAME"; echo "os_like=$ID_LIKE"; fi
[ -r /etc/debian_version ] && echo "debian_version=$(cat /etc/debian_version)"
echo "arch=$(uname -m)"
echo "vcpus=$(nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo)"
echo "memtotal_kb=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)"
if [ -d /run/systemd/system ]; then echo "service_mgr=systemd"; else echo "service_mgr=$(cat /proc/1/comm 2>/dev/null)"; fi
"#,
        );
    }
    s.push_str(PENDING_SCRIPT);
    s.push_str("\necho '--- pending'\ncat \"$f\" 2>/dev/null\nexit 0\n");
    s
}

/// Parses the probe's output into (facts, pending handler names).
pub fn parse(out: &str, gather: bool) -> (Map<String, Json>, Vec<String>) {
    let (head, pending) = out.split_once("--- pending\n").unwrap_or((out, ""));
    let pending: Vec<String> = pending
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if !gather {
        return (Map::new(), pending);
    }
    let kv: std::collections::HashMap<&str, &str> =
        head.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| kv.get(k).copied().unwrap_or("").to_string();
    let os_id = get("os_id");
    let distribution = match os_id.as_str() {
        "debian" => "Debian".to_string(),
        "ubuntu" => "Ubuntu".to_string(),
        "" => "Unknown".to_string(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    };
    let like = get("os_like");
    let os_family = if os_id == "debian" || os_id == "ubuntu" || like.contains("debian") {
        "Debian"
    } else if like.contains("rhel") || like.contains("fedora") {
        "RedHat"
    } else {
        distribution.as_str()
    };
    let version = match get("debian_version") {
        v if os_id == "debian"
            && !v.is_empty()
            && v.chars().next().is_some_and(|c| c.is_ascii_digit()) =>
        {
            v
        }
        _ => get("os_version_id"),
    };
    let major = version.split('.').next().unwrap_or("").to_string();
    let mem_mb = get("memtotal_kb")
        .parse::<u64>()
        .map(|k| k / 1024)
        .unwrap_or(0);
    let vcpus = get("vcpus").parse::<u64>().unwrap_or(1);
    let service_mgr = match get("service_mgr").as_str() {
        "systemd" => "systemd",
        "init" | "sysvinit" => "sysvinit",
        "" => "service",
        _ => "service",
    }
    .to_string();
    let hostname = get("hostname");
    let short = hostname.split('.').next().unwrap_or("").to_string();
    let facts = json!({
        "env": {"HOME": get("home"), "PATH": get("path"), "USER": get("user")},
        "user_id": get("user"),
        "user_uid": get("uid").parse::<u64>().unwrap_or(0),
        "hostname": short,
        "nodename": hostname,
        "fqdn": get("fqdn"),
        "distribution": distribution,
        "distribution_release": get("os_codename"),
        "distribution_version": version,
        "distribution_major_version": major,
        "os_family": os_family,
        "architecture": get("arch"),
        "service_mgr": service_mgr,
        "processor_vcpus": vcpus,
        "memtotal_mb": mem_mb,
    });
    let mut out = Map::new();
    let Json::Object(f) = facts else {
        unreachable!()
    };
    for (k, v) in &f {
        out.insert(format!("ansible_{k}"), v.clone());
    }
    out.insert("ansible_facts".into(), Json::Object(f));
    (out, pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_debian_host() {
        let out = "home=/root\npath=/usr/bin:/bin\nuser=root\nuid=0\nhostname=host1\nfqdn=host1.test\nos_id=debian\nos_version_id=12\nos_codename=bookworm\nos_like=\ndebian_version=12.12\narch=x86_64\nvcpus=2\nmemtotal_kb=24576000\nservice_mgr=init\n--- pending\nreload nginx\n";
        let (f, pending) = parse(out, true);
        assert_eq!(f["ansible_env"]["HOME"], "/root");
        assert_eq!(f["ansible_distribution"], "Debian");
        assert_eq!(f["ansible_distribution_release"], "bookworm");
        assert_eq!(f["ansible_distribution_version"], "12.12");
        assert_eq!(f["ansible_distribution_major_version"], "12");
        assert_eq!(f["ansible_os_family"], "Debian");
        assert_eq!(f["ansible_service_mgr"], "sysvinit");
        assert_eq!(f["ansible_memtotal_mb"], 24000);
        assert_eq!(f["ansible_processor_vcpus"], 2);
        assert_eq!(f["ansible_facts"]["hostname"], "host1");
        assert_eq!(pending, vec!["reload nginx"]);
        let (f, p) = parse("--- pending\n", false);
        assert!(f.is_empty() && p.is_empty());
    }

    #[tokio::test]
    async fn the_script_runs_in_a_real_shell() {
        let out = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script(true))
            .output()
            .await
            .unwrap();
        let (f, _) = parse(&String::from_utf8_lossy(&out.stdout), true);
        assert!(!f["ansible_env"]["HOME"].as_str().unwrap().is_empty());
        assert!(f["ansible_processor_vcpus"].as_u64().unwrap() >= 1);
    }
}
