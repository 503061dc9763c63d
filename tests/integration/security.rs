//! The hardening of `opsctl provision` (issue 15, roles/security) on one pair of
//! test-bed hosts on the test bed's network: host1 a web host, host2 a db host,
//! host3 an outsider (in no group, never provisioned) that probes and attacks.
//! opsctl reaches host1 over the network too (from host2's address), so the
//! firewall is applied under the very connection that applies it.

use crate::common::{Run, Testbed};
use crate::stack::{changed, sh, with_roles};

/// Listens on the given TCP ports (every address) and echoes what it receives.
const LISTEN_PY: &str = r#"
import socket, sys, threading
def handle(c):
    with c:
        while True:
            d = c.recv(1024)
            if not d:
                return
            c.sendall(d)
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),)).start()
"#;

/// `ADDRESS:PORT ...`: prints `ADDRESS:PORT open|refused|timeout` for each, probed
/// at once (a 2 s connect timeout).
const PROBE_PY: &str = r#"
import socket, sys, threading
res = {}
def probe(t):
    host, port = t.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, int(port)))
        res[t] = "open"
    except ConnectionRefusedError:
        res[t] = "refused"
    except socket.timeout:
        res[t] = "timeout"
    except OSError as e:
        res[t] = "error " + str(e)
    finally:
        s.close()
ts = [threading.Thread(target=probe, args=(a,)) for a in sys.argv[1:]]
[t.start() for t in ts]
[t.join() for t in ts]
for a in sys.argv[1:]:
    print(a, res[a])
"#;

/// A connection to host1:8080, used again once /tmp/go appears: writes what
/// came back before and after to /tmp/kept.
const KEEP_PY: &str = r#"
import os, socket, time
s = socket.create_connection(("10.231.0.1", 8080), timeout=5)
s.sendall(b"before\n")
a = s.recv(100)
open("/tmp/connected", "w").close()
while not os.path.exists("/tmp/go"):
    time.sleep(0.1)
try:
    s.sendall(b"after\n")
    b = s.recv(100)
except Exception as e:
    b = repr(e).encode()
open("/tmp/kept.tmp", "wb").write(a + b)
os.rename("/tmp/kept.tmp", "/tmp/kept")
"#;

/// Writes a script into a host and returns its path there.
fn script(tb: &Testbed, host: &str, name: &str, text: &str) -> String {
    let path = format!("/tmp/{name}");
    let r = tb.exec(host, &format!("cat > {path} <<'EOF'\n{text}\nEOF"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    path
}

/// From `host`, each `address:port` -> open, refused or timeout.
fn probe(tb: &Testbed, host: &str, targets: &[&str]) -> String {
    script(tb, host, "probe.py", PROBE_PY);
    sh(
        tb,
        host,
        &format!("python3 /tmp/probe.py {}", targets.join(" ")),
    )
}

/// Polls `check` (a shell test inside `host`) for up to 20 s.
fn wait_for(tb: &Testbed, host: &str, check: &str) -> bool {
    let script = format!("for i in $(seq 100); do {check} && exit 0; sleep 0.2; done; exit 1");
    tb.exec(host, &script).code == 0
}

#[track_caller]
fn provisioned(run: &Run) {
    run.code(0).no_panic();
    assert!(!run.stdout.contains("unreachable=1"), "{}", run.stdout);
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn hardened_hosts_firewall_ssh_fail2ban_upgrades() {
    let tb = Testbed::up_net(3, &["web=host1", "db=host2"]);
    with_roles(&tb);
    tb.write("environments/tb/hosts", "[web]\nhost1\n\n[db]\nhost2\n");
    tb.write(
        "environments/tb/group_vars/all.yml",
        "security_fail2ban_maxretry: 3\nsecurity_fail2ban_ignoreip: [192.0.2.7]\n",
    );
    tb.write(
        "environments/tb/group_vars/web.yml",
        "security_firewall_allow:\n  - {port: 8080, from: [host2]}\n  - 9000/udp\n",
    );
    // opsctl reaches host1 over the test bed's network, from host2's address.
    let cfg = tb.read("environments/tb/ssh_config");
    let ns1 = cfg
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("ProxyCommand /usr/bin/nsenter --net=")
        })
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let ns2 = format!("{}-2", ns1.strip_suffix("-1").unwrap());
    tb.write(
        "environments/tb/ssh_config",
        &cfg.replacen(
            &format!("{ns1} /usr/bin/socat - TCP:127.0.0.1:22"),
            &format!("{ns2} /usr/bin/socat - TCP:10.231.0.1:22"),
            1,
        ),
    );

    // Before: host1's sshd also listens on 2222 (the firewall must find it);
    // nginx (its logs get fail2ban's nginx jails); stand-in servers on host1
    // and host2.
    sh(
        &tb,
        "host1",
        "printf 'Port 22\\nPort 2222\\n' > /etc/ssh/sshd_config.d/50-ports.conf && service ssh restart >/dev/null \
         && apt-get install -y -q --no-install-recommends nginx >/dev/null 2>&1",
    );
    for (host, ports) in [("host1", "443 3000 7000 8080"), ("host2", "5432 6000")] {
        script(&tb, host, "listen.py", LISTEN_PY);
        sh(
            &tb,
            host,
            &format!("(setsid python3 /tmp/listen.py {ports} >/dev/null 2>&1 &)"),
        );
    }
    assert!(wait_for(
        &tb,
        "host2",
        "python3 -c 'import socket; socket.create_connection((\"10.231.0.1\", 7000), 1)' 2>/dev/null"
    ));

    // Provision the hardening (the stack's roles are the stack tests' business).
    let first = tb.opsctl(&["provision", "--env", "tb", "--tags", "security"]);
    provisioned(&first);
    assert!(changed(&first, "host1") > 5, "{}", first.stdout);
    first.stdout_has("reload ssh");
    let again = tb.opsctl(&["provision", "--env", "tb", "--tags", "security"]);
    provisioned(&again);
    assert_eq!(changed(&again, "host1"), 0, "{}", again.stdout);
    assert_eq!(changed(&again, "host2"), 0, "{}", again.stdout);
    // The next command connects, over the network, as root with a key.
    tb.opsctl(&["ping", "--env", "tb"])
        .code(0)
        .stdout_has("pong");

    // Only the allowed ports answer, from where they are allowed.
    let from3 = probe(
        &tb,
        "host3",
        &[
            "10.231.0.1:22",
            "10.231.0.1:2222",
            "10.231.0.1:80",
            "10.231.0.1:443",
            "10.231.0.1:3000",
            "10.231.0.1:7000",
            "10.231.0.1:8080",
            "10.231.0.2:22",
            "10.231.0.2:80",
            "10.231.0.2:5432",
            "10.231.0.2:6000",
        ],
    );
    assert_eq!(
        from3,
        "10.231.0.1:22 open\n10.231.0.1:2222 open\n10.231.0.1:80 open\n10.231.0.1:443 open\n\
         10.231.0.1:3000 timeout\n10.231.0.1:7000 timeout\n10.231.0.1:8080 timeout\n\
         10.231.0.2:22 open\n10.231.0.2:80 timeout\n10.231.0.2:5432 timeout\n10.231.0.2:6000 timeout"
    );
    // PostgreSQL's port for the web host only; 8080 of host1 for host2 only.
    assert_eq!(
        probe(&tb, "host1", &["10.231.0.2:5432", "10.231.0.2:6000"]),
        "10.231.0.2:5432 open\n10.231.0.2:6000 timeout"
    );
    assert_eq!(
        probe(&tb, "host2", &["10.231.0.1:8080", "10.231.0.1:3000"]),
        "10.231.0.1:8080 open\n10.231.0.1:3000 timeout"
    );
    let rules = sh(&tb, "host1", "nft list table inet opsctl");
    assert!(rules.contains("udp dport 9000 accept"), "{rules}");
    assert!(rules.contains("tcp dport { 22, 2222 } accept"), "{rules}");

    // SSH: what sshd itself says.
    let sshd = sh(&tb, "host1", "sshd -T");
    for want in [
        "permitrootlogin without-password",
        "passwordauthentication no",
        "kbdinteractiveauthentication no",
        "permitemptypasswords no",
        "x11forwarding no",
        "kexalgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512",
        "ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr",
        "macs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,umac-128-etm@openssh.com",
    ] {
        assert!(
            sshd.lines().any(|l| l == want),
            "sshd -T lacks {want:?}:\n{sshd}"
        );
    }
    // PermitRootLogin no while opsctl logs in as root: refused before anything
    // is written, and the next command still connects.
    let locked = tb.opsctl(&[
        "provision",
        "--env",
        "tb",
        "--tags",
        "ssh",
        "--limit",
        "host1",
        "-e",
        "security_ssh_permit_root_login=no",
    ]);
    assert_ne!(locked.code, 0, "{}", locked.stdout);
    locked.stdout_has("PermitRootLogin no would lock out root");
    assert_eq!(
        sh(
            &tb,
            "host1",
            "grep PermitRootLogin /etc/ssh/sshd_config.d/00-opsctl-hardening.conf"
        ),
        "PermitRootLogin prohibit-password"
    );
    tb.opsctl(&["ping", "--env", "tb", "--limit", "host1"])
        .code(0);

    // fail2ban: host3 fails to log in 3 times (a user that does not exist, a
    // key nobody knows): banned in nftables, SSH refused to it, still open to
    // opsctl; the allow-list is in the jail.
    sh(
        &tb,
        "host3",
        "ssh-keygen -q -t ed25519 -N '' -f /tmp/k && for i in 1 2 3 4; do \
         ssh -i /tmp/k -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile=/dev/null -o ConnectTimeout=3 nosuchuser@10.231.0.1 true >/dev/null 2>&1; done; true",
    );
    assert!(
        wait_for(
            &tb,
            "host1",
            "nft list set inet f2b-table addr-set-sshd 2>/dev/null | grep -q 10.231.0.3"
        ),
        "not banned: {}",
        tb.exec(
            "host1",
            "fail2ban-client status sshd; tail /var/log/sshd.log; nft list ruleset"
        )
        .stdout
    );
    assert_eq!(
        probe(&tb, "host3", &["10.231.0.1:22", "10.231.0.1:80"]),
        "10.231.0.1:22 refused\n10.231.0.1:80 open"
    );
    tb.opsctl(&["ping", "--env", "tb", "--limit", "host1"])
        .code(0);
    let ignore = sh(&tb, "host1", "fail2ban-client get sshd ignoreip");
    assert!(ignore.contains("192.0.2.7"), "{ignore}");
    // nginx's jails: a known bad bot's request is banned from the site at once.
    sh(
        &tb,
        "host3",
        "curl -s -o /dev/null -A 'EmailCollector' http://10.231.0.1/ || true",
    );
    assert!(
        wait_for(
            &tb,
            "host1",
            "nft list set inet f2b-table addr-set-nginx-badbots 2>/dev/null | grep -q 10.231.0.3"
        ),
        "{}",
        tb.exec(
            "host1",
            "fail2ban-client status; tail -3 /var/log/nginx/access.log"
        )
        .stdout
    );
    assert_eq!(
        sh(
            &tb,
            "host1",
            "fail2ban-client status | sed -n 's/.*Jail list:\\s*//p'"
        ),
        "nginx-badbots, nginx-botsearch, nginx-http-auth, sshd"
    );

    // unattended-upgrades: Debian's security archive, no automatic reboot.
    let u = sh(
        &tb,
        "host2",
        "apt-config dump Unattended-Upgrade::Automatic-Reboot APT::Periodic::Unattended-Upgrade; \
         unattended-upgrade --dry-run --debug 2>&1 | grep 'Allowed origins'",
    );
    assert!(
        u.contains("Unattended-Upgrade::Automatic-Reboot \"false\";")
            && u.contains("APT::Periodic::Unattended-Upgrade \"1\";")
            && u.contains(
                "Allowed origins are: origin=Debian,codename=bookworm-security,label=Debian-Security, origin=Debian,codename=bookworm,label=Debian-Security"
            ),
        "{u}"
    );
    // A pending reboot shows in opsctl status (and needs attention).
    sh(
        &tb,
        "host2",
        "touch -d '2026-01-05 14:30:12 UTC' /var/run/reboot-required && printf 'libc6\\nlinux-image-amd64\\n' > /var/run/reboot-required.pkgs",
    );
    let status = tb.opsctl(&["status", "--env", "tb", "--limit", "host2"]);
    status
        .code(2)
        .no_panic()
        .stdout_has("reboot required since 2026-01-05 14:30:12 UTC (");
    status.stdout_has("): libc6, linux-image-amd64");

    // A ruleset change is one transaction: host2's open connection to 8080
    // survives the rule that allowed it going away; a new one is dropped.
    script(&tb, "host2", "keep.py", KEEP_PY);
    sh(
        &tb,
        "host2",
        "(setsid python3 /tmp/keep.py >/dev/null 2>&1 &)",
    );
    assert!(wait_for(&tb, "host2", "test -e /tmp/connected"));
    let closed = tb.opsctl(&[
        "provision",
        "--env",
        "tb",
        "--tags",
        "firewall",
        "--limit",
        "host1",
        "-e",
        r#"{"security_firewall_allow": []}"#,
    ]);
    provisioned(&closed);
    closed.stdout_has("the ruleset applied");
    sh(&tb, "host2", "touch /tmp/go");
    assert!(wait_for(&tb, "host2", "test -e /tmp/kept"));
    assert_eq!(sh(&tb, "host2", "cat /tmp/kept"), "before\nafter");
    assert_eq!(
        probe(&tb, "host2", &["10.231.0.1:8080"]),
        "10.231.0.1:8080 timeout"
    );
}
