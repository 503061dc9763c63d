//! Team access and monitoring (issue 15): `opsctl users add|remove|list` with
//! keys served by a loopback HTTP server, applied by `opsctl provision`
//! (roles/users), checked by logging in over SSH as the new user; and the
//! host's monitor (roles/monitor): a stopped supervisor program sends one
//! "failing" webhook, a second check none, a restart one "recovered";
//! `opsctl notify test` delivers; the webhook URL (a secret) is in no output and
//! no world-readable file. One host for all of it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::common::{Project, Run, Testbed, repo};
use crate::stack::{copy_dir, sh};

/// A loopback HTTP server (on this machine, the controller) answering GET
/// requests from `files` (path -> body), 404 otherwise; it stops with the test
/// process.
struct KeyServer {
    port: u16,
    files: Arc<Mutex<Vec<(String, String)>>>,
}

impl KeyServer {
    fn start() -> KeyServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let served = files.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                let body = served
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, b)| b.clone());
                let reply = match body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                        b.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        KeyServer { port, files }
    }

    fn serve(&self, path: &str, body: &str) -> String {
        let mut files = self.files.lock().unwrap();
        files.retain(|(p, _)| p != path);
        files.push((path.to_string(), body.to_string()));
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// A new ed25519 key pair in `dir`: (private key path, public key line,
/// `ssh-keygen -lf`'s line).
fn keypair(dir: &Path, name: &str) -> (String, String, String) {
    let key = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C"])
        .arg(format!("{name}@laptop"))
        .arg("-f")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let fp = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    (
        key.display().to_string(),
        public.trim().to_string(),
        String::from_utf8(fp.stdout).unwrap().trim().to_string(),
    )
}

/// `ssh` as `user` with `key` (only that key) to `host`, running `cmd`.
fn ssh_as(tb: &Testbed, user: &str, key: &str, cmd: &str) -> Run {
    let out = Command::new("ssh")
        .arg("-F")
        .arg(tb.env_dir.join("ssh_config"))
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityFile=none",
            "-i",
            key,
        ])
        .args(["-l", user, "host1", cmd])
        .output()
        .unwrap();
    Run::from(out)
}

#[test]
fn users_add_checks_names_keys_urls_and_environments() {
    let p = Project::new(&[("environments/demo/hosts", "[web]\nweb1\n")]);
    let server = KeyServer::start();
    let (_, public, fp) = keypair(p.path(), "alice");
    let url = server.serve("/alice.keys", &format!("{public}\n"));
    let html = server.serve("/html", "<html>sign in</html>\n");
    let missing = format!("http://127.0.0.1:{}/nobody.keys", server.port);

    // unknown environment, bad name, bad key, HTTP 404: actionable, nothing written
    p.opsctl(&["users", "add", "alice", "--key-url", &url, "--env", "dmeo"])
        .code(1)
        .no_panic()
        .stderr_has("dmeo")
        .stderr_has("did you mean --env demo?");
    p.opsctl(&["users", "add", "Alice!", "--key-url", &url, "--env", "demo"])
        .code(1)
        .stderr_has("'Alice!' is not a valid user name");
    p.opsctl(&["users", "add", "bob", "--key-url", &html, "--env", "demo"])
        .code(1)
        .stderr_has(&format!("{html}:1: not an SSH public key"));
    p.opsctl(&[
        "users",
        "add",
        "bob",
        "--key-url",
        &missing,
        "--env",
        "demo",
    ])
    .code(1)
    .stderr_has("HTTP 404")
    .stderr_has("--key FILE");
    p.opsctl(&["users", "remove", "carol", "--env", "demo"])
        .code(1)
        .stderr_has("no user 'carol'");
    let users_file = p.path().join("environments/demo/group_vars/all/users.yml");
    assert!(!users_file.exists());

    // add, add again (unchanged), add with another key and sudo (what changed)
    let r = p.opsctl(&["users", "add", "alice", "--key-url", &url, "--env", "demo"]);
    r.code(0).stdout_has(&fp).stdout_has("new user");
    p.opsctl(&["users", "add", "alice", "--key-url", &url, "--env", "demo"])
        .code(0)
        .stdout_has("unchanged");
    let (_, second, second_fp) = keypair(p.path(), "alice2");
    std::fs::write(
        p.path().join("alice2.keys"),
        format!("# laptop\n{second}\n"),
    )
    .unwrap();
    let r = p.opsctl(&[
        "users",
        "add",
        "alice",
        "--key",
        "alice2.keys",
        "--sudo",
        "--env",
        "demo",
    ]);
    r.code(0);
    let second_sha = second_fp.split_whitespace().nth(1).unwrap();
    let first_sha = fp.split_whitespace().nth(1).unwrap();
    r.stdout_has(&format!("key added {second_sha}"))
        .stdout_has(&format!("key removed {first_sha}"))
        .stdout_has("sudo granted");
    let text = std::fs::read_to_string(&users_file).unwrap();
    assert!(text.contains(&second) && !text.contains(&public), "{text}");
    p.opsctl(&["users", "list", "--env", "demo"])
        .code(0)
        .stdout_has("alice  sudo  1 key")
        .stdout_has(&second_fp);
    p.opsctl(&["users", "remove", "alice", "--env", "demo"])
        .code(0)
        .stdout_has("removed");
    p.opsctl(&["users", "list", "--env", "demo"])
        .code(0)
        .stdout_has("alice  removed  0 keys");
    // the file is variables of every host of the environment
    p.opsctl(&["vars", "--env", "demo", "web1", "team_users"])
        .code(0)
        .stdout_has("absent");
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn team_access_and_monitoring_on_one_host() {
    let tb = Testbed::up(1);
    let root = tb.project.path();
    copy_dir(&repo().join("roles"), &root.join("roles"));
    copy_dir(&repo().join("playbooks"), &root.join("playbooks"));
    let server = KeyServer::start();
    let (key1, public1, fp1) = keypair(root, "alice");
    let (key2, public2, _) = keypair(root, "alice-new");
    let url = server.serve("/alice.keys", &format!("{public1}\n"));

    // users add, provision: alice logs in with her key and has passwordless sudo
    let add_alice = || {
        let r = tb.opsctl(&[
            "users",
            "add",
            "alice",
            "--key-url",
            &url,
            "--sudo",
            "--env",
            "tb",
        ]);
        r.code(0);
        r
    };
    add_alice().stdout_has(&fp1);
    let provision = |what: &str| {
        let r = tb.opsctl(&["provision", "--env", "tb", "--tags", "users"]);
        r.code(0).no_panic();
        assert!(r.stdout.contains("changed="), "{what}: {}", r.stdout);
        r
    };
    provision("add");
    let r = ssh_as(&tb, "alice", &key1, "sudo -n true && id -un");
    assert_eq!(r.code, 0, "alice cannot log in: {}", r.stderr);
    assert_eq!(r.stdout.trim(), "alice");
    assert_eq!(
        sh(&tb, "host1", "stat -c %a /etc/sudoers.d/opsctl-user-alice"),
        "440"
    );
    // a second provision changes nothing
    let again = provision("again");
    assert_eq!(
        crate::stack::changed(&again, "host1"),
        0,
        "{}",
        again.stdout
    );

    // her keys change: the old key goes away, the new one works
    server.serve("/alice.keys", &format!("{public2}\n"));
    add_alice().stdout_has("key removed");
    provision("new key");
    assert_ne!(
        ssh_as(&tb, "alice", &key1, "true").code,
        0,
        "the old key still logs in"
    );
    ssh_as(&tb, "alice", &key2, "sudo -n true").code(0);

    // users remove, provision: she cannot log in, no sudo, no keys
    tb.opsctl(&["users", "remove", "alice", "--env", "tb"])
        .code(0);
    // a user removed before any provision: no account is made for them
    std::fs::write(root.join("bob.pub"), format!("{public2}\n")).unwrap();
    tb.opsctl(&["users", "add", "bob", "--key", "bob.pub", "--env", "tb"])
        .code(0);
    tb.opsctl(&["users", "remove", "bob", "--env", "tb"])
        .code(0);
    provision("remove");
    let r = ssh_as(&tb, "alice", &key2, "true");
    assert_ne!(r.code, 0, "a removed user still logs in");
    sh(
        &tb,
        "host1",
        "test ! -e /etc/sudoers.d/opsctl-user-alice && test ! -e /home/alice/.ssh/authorized_keys \
         && ! getent passwd bob",
    );

    monitoring(&tb);
}

/// A webhook receiver on the host (its own loopback): every POST body becomes a
/// line of /root/hooks.jsonl.
const RECEIVER: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open('/root/hooks.jsonl', 'ab') as f:
            f.write(body.rstrip(b'\n') + b'\n')
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'ok')
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', 8099), H).serve_forever()
"#;

/// The webhook messages the receiver got, and the mails deploy got.
fn received(tb: &Testbed) -> (Vec<String>, usize) {
    let hooks = sh(tb, "host1", "cat /root/hooks.jsonl 2>/dev/null; true");
    let hooks: Vec<String> = hooks
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect();
    let mails = sh(
        tb,
        "host1",
        "grep -c '^Subject: ' /var/mail/deploy 2>/dev/null; true",
    );
    (hooks, mails.parse().unwrap_or(0))
}

/// The receiver got `n` webhook messages, the last one saying each of `words`.
#[track_caller]
fn last_hook(tb: &Testbed, n: usize, words: &[&str]) {
    let (hooks, _) = received(tb);
    assert_eq!(hooks.len(), n, "{hooks:?}");
    assert!(words.iter().all(|w| hooks[n - 1].contains(w)), "{hooks:?}");
}

/// Waits (up to 10 s) for the mailbox of deploy to hold `n` mails (exim delivers in
/// the background).
fn wait_mails(tb: &Testbed, n: usize) -> usize {
    for _ in 0..50 {
        let (_, mails) = received(tb);
        if mails >= n {
            return mails;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    received(tb).1
}

fn monitoring(tb: &Testbed) {
    let token = "T0ken-of-the-hook-4f9c2e";
    let hook = format!("http://127.0.0.1:8099/services/{token}");
    let key = tb.project.path().join("identity.txt");
    std::fs::write(&key, tb.age_key()).unwrap();
    tb.env
        .borrow_mut()
        .push(("OPSCTL_AGE_KEY_FILE".into(), key.display().to_string()));
    let mut outputs: Vec<Run> = Vec::new();
    outputs.push(tb.opsctl_stdin(
        &["secrets", "set", "--env", "tb", "monitor_webhook_url"],
        &format!("{hook}\n"),
    ));
    tb.write(
        "environments/tb/group_vars/all.yml",
        "monitor_mail_to: deploy\nhealth_checks: [/]\n",
    );
    // what the monitor watches: nginx (its default page), a supervisor program,
    // a live release; the webhook's receiver
    let receiver = RECEIVER.replace('\n', "\n          ");
    tb.play(
        "watched",
        &format!(
            r#"- hosts: all
  become: true
  tasks:
    - apt:
        name: [nginx, supervisor]
    - copy:
        dest: /etc/supervisor/conf.d/worker.conf
        content: "[program:worker]\ncommand=/bin/sleep 100000\n"
    - file:
        path: /srv/app/releases/r1
        state: directory
    - file:
        src: releases/r1
        dest: /srv/app/current
        state: link
    - copy:
        dest: /root/receiver.py
        content: |
          {receiver}
    - shell: nohup python3 /root/receiver.py >/dev/null 2>&1 &
    - wait_for:
        port: 8099
        timeout: 10
    - shell: for i in $(seq 50); do supervisorctl update >/dev/null 2>&1; supervisorctl status worker | grep -q RUNNING && exit 0; sleep 0.2; done; supervisorctl status; exit 1
"#
        ),
        &[],
    )
    .code(0);
    let r = tb.opsctl(&["provision", "--env", "tb", "--tags", "monitor"]);
    r.code(0).no_panic();
    outputs.push(r);
    // the timer's command: the cron entry's (the plain test host has no systemd)
    let cron = sh(
        tb,
        "host1",
        "grep -v '^#' /etc/cron.d/opsctl-monitor | grep root",
    );
    assert!(cron.starts_with("*/10 * * * * root "), "{cron}");
    let command = cron
        .split_whitespace()
        .skip(6)
        .collect::<Vec<_>>()
        .join(" ");
    let check = || sh(tb, "host1", &command);

    check();
    assert_eq!(received(tb), (vec![], 0), "all is well: nothing to say");
    sh(tb, "host1", "supervisorctl stop worker");
    check();
    last_hook(tb, 1, &["FAILING", "program worker is STOPPED"]);
    assert_eq!(wait_mails(tb, 1), 1);
    check();
    assert_eq!(received(tb).0.len(), 1, "a failing check is told once");
    sh(tb, "host1", "supervisorctl start worker");
    check();
    last_hook(tb, 2, &["RECOVERED", "worker"]);
    assert_eq!(wait_mails(tb, 2), 2);
    // a pending reboot and a failed backup (roles/backup's record): one
    // notification naming both; both gone: one recovery
    sh(
        tb,
        "host1",
        "touch /var/run/reboot-required && echo libc6 > /var/run/reboot-required.pkgs \
         && mkdir -p /var/lib/opsctl-backup \
         && echo '{\"time\": \"2026-01-01T00:00:00Z\", \"result\": \"failed\"}' > /var/lib/opsctl-backup/last-run.json",
    );
    check();
    last_hook(
        tb,
        3,
        &[
            "FAILING",
            "(+1 more)",
            "reboot required since",
            "(libc6)",
            "the last backup failed",
        ],
    );
    sh(
        tb,
        "host1",
        "rm /var/run/reboot-required /var/lib/opsctl-backup/last-run.json",
    );
    check();
    last_hook(tb, 4, &["RECOVERED", "(+1 more)"]);
    assert_eq!(wait_mails(tb, 4), 4);

    // opsctl status shows the last verdict; notify test goes the same way
    let r = tb.opsctl(&["status", "--env", "tb"]);
    r.no_panic().stdout_has("monitor     ok just now");
    outputs.push(r);
    let r = tb.opsctl(&["notify", "test", "--env", "tb"]);
    r.code(0).stdout_has("host1 | SENT: sent: webhook mail");
    outputs.push(r);
    last_hook(tb, 5, &["test notification"]);
    assert_eq!(wait_mails(tb, 5), 5);

    // the webhook URL: in no output, in no world-readable file on the host, not
    // in the run journal
    for r in &outputs {
        assert!(
            !r.stdout.contains(token) && !r.stderr.contains(token),
            "the webhook URL is printed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
    let files = sh(
        tb,
        "host1",
        &format!(
            "grep -rlF {token} /etc /var /usr/local /root /home /tmp /run /srv 2>/dev/null; true"
        ),
    );
    assert_eq!(
        files, "/etc/opsctl-monitor/webhook",
        "files holding the URL"
    );
    assert_eq!(
        sh(
            tb,
            "host1",
            "stat -c '%a %U' /etc/opsctl-monitor/webhook /etc/opsctl-monitor"
        ),
        "600 root\n700 root"
    );
    let journal = Command::new("grep")
        .args(["-rlF", token])
        .arg(tb.project.path().join(".opsctl"))
        .output()
        .unwrap();
    assert!(
        journal.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&journal.stdout)
    );
}
