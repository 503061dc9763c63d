//! The operator's daily commands against real sshd hosts of the test bed:
//! `opsctl exec` (a command, `--stream`, `-m MODULE`), `--limit @failed`,
//! `opsctl logs` (and `-f` stopped by SIGTERM), `opsctl ssh HOST -- CMD`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::{OPSCTL, Project, Run, Testbed, pids_with};

/// opsctl in `cwd` with extra environment variables (the age key).
fn opsctl_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(OPSCTL);
    c.args(args)
        .current_dir(cwd)
        .env_remove("OPSCTL_ENV")
        .env_remove("OPSCTL_PROJECT")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from(c.output().expect("run opsctl"))
}

/// A secret `api_token` in the test bed environment's secrets.age; returns
/// the key file and the secret's value.
fn secret(tb: &Testbed) -> (String, &'static str) {
    let key = tb.project.path().join("id.txt");
    let key = key.to_str().unwrap().to_string();
    let r = tb.opsctl(&["secrets", "keygen", "--out", &key]);
    r.code(0);
    let public = r.stdout.lines().next().unwrap().trim().to_string();
    tb.write("environments/tb/recipients", &format!("# test\n{public}\n"));
    let value = "Tk7-ops-S3CRET-token";
    let mut child = Command::new(OPSCTL)
        .args(["secrets", "set", "--env", "tb", "api_token"])
        .current_dir(tb.project.path())
        .env("OPSCTL_AGE_KEY_FILE", &key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{value}\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (key, value)
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn exec_runs_commands_and_modules_and_retries_the_failed_hosts() {
    let tb = Testbed::up(2);
    let (key, token) = secret(&tb);
    let env = [("OPSCTL_AGE_KEY_FILE", key.as_str())];
    let dir = tb.project.path();
    let exec = |args: &[&str]| {
        let mut a = vec!["exec", "--env", "tb"];
        a.extend_from_slice(args);
        opsctl_env(dir, &a, &env)
    };

    // Grouped per host, in inventory order, templated per host; a secret in
    // the output is masked; host2 fails: exit 2.
    let r = exec(&[
        "--",
        "echo out-{{ inventory_hostname }}; echo tok={{ api_token }}; echo err >&2;",
        "[ {{ inventory_hostname }} = host1 ]",
    ]);
    r.code(2).no_panic();
    let expected = "host1 | SUCCESS | rc=0 >>\nout-host1\ntok=********\nerr\n\
                    host2 | FAILED | rc=1 >>\nout-host2\ntok=********\nerr\n";
    assert!(r.stdout.starts_with(expected), "{}", r.stdout);
    assert!(
        r.stdout.contains("2 hosts: 1 ok, 1 failed, 0 unreachable"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(token) && !r.stderr.contains(token));

    // --limit @failed: host2 alone, from the journal; then nothing failed.
    let r = exec(&["--limit", "@failed", "--", "hostname"]);
    r.code(0);
    assert!(
        r.stdout.starts_with("host2 | SUCCESS | rc=0 >>\nhost2\n"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("host1"), "{}", r.stdout);
    let r = exec(&["--limit", "@failed", "--", "hostname"]);
    r.code(1)
        .stderr_has("--limit @failed: the last run of environment tb (exec,")
        .stderr_has("had no failed or unreachable host");

    // ... and for a playbook run: the host its task failed on, alone
    tb.write(
        "playbooks/half.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - fail: {msg: no}\n      when: inventory_hostname == 'host1'\n",
    );
    opsctl_env(dir, &["run", "half", "--env", "tb"], &env).code(2);
    let r = opsctl_env(
        dir,
        &["run", "half", "--env", "tb", "--limit", "@failed"],
        &env,
    );
    r.code(2).stdout_has("RECAP");
    let recap = &r.stdout[r.stdout.find("RECAP").unwrap()..];
    assert!(
        recap.contains("host1") && !recap.contains("host2"),
        "{recap}"
    );

    // --stream: lines as they come, stdout `|`, stderr `!`, then each host's status.
    let r = exec(&["--stream", "--", "echo a; sleep 0.5; echo b >&2; exit 3"]);
    r.code(2);
    for l in [
        "host1 | a",
        "host2 | a",
        "host1 ! b",
        "host2 ! b",
        "host1 | FAILED | rc=3",
    ] {
        assert!(r.stdout.lines().any(|x| x == l), "{l}: {}", r.stdout);
    }
    let pos = |s: &str| r.stdout.find(s).unwrap();
    assert!(pos("host2 | a") < pos("host1 ! b"), "{}", r.stdout);
    // JSON: one object per host, then the summary.
    let r = exec(&["--output", "json", "--limit", "host1", "--", "echo j"]);
    r.code(0);
    let docs: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs[0]["host"], "host1");
    assert_eq!(docs[0]["rc"], 0);
    assert_eq!(docs[0]["stdout"], "j\n");
    assert_eq!(docs[1]["type"], "summary");

    // -m ping: every host answers, as Ansible's ad hoc ping prints it
    let r = exec(&["-m", "ping"]);
    r.code(0);
    assert!(
        r.stdout
            .contains("host2 | SUCCESS => {\n  \"ping\": \"pong\",\n  \"changed\": false\n}\n"),
        "{}",
        r.stdout
    );
    // -m: a module ad hoc, check mode changes nothing, then it does, then it is done.
    let touch = ["-m", "file", "-a", "path=/tmp/adhoc state=touch mode=0600"];
    let r = exec(&[&touch[..], &["--check"]].concat());
    r.code(0);
    assert!(
        r.stdout.contains("host1 | CHANGED (check mode) => {"),
        "{}",
        r.stdout
    );
    tb.exec("host1", "test ! -e /tmp/adhoc").code(0);
    exec(&touch).code(0).stdout_has("host2 | CHANGED => {");
    tb.exec("host2", "test -e /tmp/adhoc").code(0);
    let r = exec(&[
        "-m",
        "file",
        "-a",
        "path=/tmp/adhoc state=file",
        "-l",
        "host1",
    ]);
    r.code(0).stdout_has("host1 | SUCCESS => {");
    // YAML/JSON arguments and --diff; a command module prints its output.
    let r = exec(&[
        "-m",
        "copy",
        "-a",
        r#"{"dest": "/tmp/c.txt", "content": "hi {{ inventory_hostname }}\n"}"#,
        "--diff",
        "-l",
        "host1",
    ]);
    r.code(0).stdout_has("+hi host1");
    let r = exec(&["-m", "command", "-a", "cat /tmp/c.txt", "-l", "host1"]);
    r.code(0)
        .stdout_has("host1 | CHANGED | rc=0 >>\nhi host1\n");
    let r = exec(&["-m", "shell", "-a", "exit 5", "-l", "host2"]);
    r.code(2).stdout_has("host2 | FAILED! | rc=5 >>");
    let r = exec(&["-m", "nosuch", "-l", "host1"]);
    r.code(1).stderr_has("unknown module 'nosuch'");
    let r = exec(&["-m", "file", "-a", "path=/x state=bogus", "-l", "host1"]);
    r.code(1).stderr_has("must be one of").stderr_has(
        "(ad hoc) is the task of `-m file -a 'path=/x state=bogus'` on the command line",
    );

    // An unreachable host: exit 4, and @failed retries it.
    tb.exec("host2", "service ssh stop").code(0);
    let r = exec(&["--", "true"]);
    r.code(4);
    assert!(r.stdout.contains("host2 | UNREACHABLE!: "), "{}", r.stdout);
    tb.exec("host2", "service ssh start").code(0);
    let r = exec(&["--limit", "@failed", "--", "echo back"]);
    r.code(0).stdout_has("host2 | SUCCESS | rc=0 >>\nback\n");

    // ssh HOST -- CMD: the session's exit status and output are the command's.
    let r = opsctl_env(
        dir,
        &["ssh", "--env", "tb", "host1", "--", "echo via-ssh; exit 7"],
        &env,
    );
    r.code(7).stdout_has("via-ssh");
    let r = opsctl_env(dir, &["ssh", "--env", "tb", "host*", "--", "true"], &env);
    r.code(1).stderr_has("'host*' matches 2 hosts");
    // as strict about host keys as the transport: a changed key is refused
    tb.new_host_keys("host1");
    let r = opsctl_env(dir, &["ssh", "--env", "tb", "host1", "--", "true"], &env);
    r.code(255);
    assert!(
        r.stderr.contains("HOST IDENTIFICATION HAS CHANGED")
            || r.stderr.contains("Host key verification failed"),
        "{}",
        r.stderr
    );
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn logs_show_and_follow_supervisor_and_nginx_logs() {
    let tb = Testbed::up(2);
    // The files where roles/app's supervisor programs and roles/nginx write.
    for h in ["host1", "host2"] {
        tb.exec(
            h,
            r#"mkdir -p /etc/supervisor/conf.d /var/log/supervisor /var/log/nginx
printf '[program:app-api]\ncommand=/bin/true\nstdout_logfile=/var/log/supervisor/app-api.log\n[program:worker]\ncommand=/bin/true\n' > /etc/supervisor/conf.d/app.conf
printf 'api one\napi two\n' > /var/log/supervisor/app-api.log
echo worker-line > /var/log/supervisor/worker-stdout---supervisor-x1.log
printf '10.0.0.1 - - [03/Dec/2020:10:00:00 +0000] "GET /old HTTP/1.1" 200 1\n' > /var/log/nginx/access.log
printf '10.0.0.1 - - [%s +0000] "GET /new HTTP/1.1" 200 1\n' "$(date -u +%d/%b/%Y:%H:%M:%S)" >> /var/log/nginx/access.log
touch -d '2020-01-01' /var/log/nginx/error.log"#,
        )
        .code(0);
    }
    let r = tb.opsctl(&["logs", "--env", "tb"]);
    r.code(0).no_panic();
    for l in [
        "host1 app-api | api one",
        "host1 app-api | api two",
        "host1 worker-stdout | worker-line",
        "host2 nginx/access | 10.0.0.1 - - [03/Dec/2020:10:00:00 +0000] \"GET /old HTTP/1.1\" 200 1",
    ] {
        assert!(r.stdout.lines().any(|x| x == l), "{l}: {}", r.stdout);
    }
    assert!(r.stdout.find("host1 ").unwrap() < r.stdout.find("host2 ").unwrap());
    // one log, one line per file
    let r = tb.opsctl(&["logs", "--env", "tb", "api", "-n", "1"]);
    r.code(0);
    assert_eq!(
        r.stdout, "host1 app-api | api two\nhost2 app-api | api two\n",
        "{}",
        r.stderr
    );
    // --since: old lines (by their timestamps) and old files (by mtime) left out
    let r = tb.opsctl(&[
        "logs", "--env", "tb", "nginx", "--since", "1h", "-l", "host1",
    ]);
    r.code(0);
    assert!(r.stdout.contains("GET /new"), "{}", r.stdout);
    assert!(!r.stdout.contains("GET /old"), "{}", r.stdout);
    let r = tb.opsctl(&["logs", "--env", "tb", "nope", "-l", "host2"]);
    r.code(2)
        .stderr_has("host2: no supervisor program 'nope' (its programs: app-api, worker)");
    let r = tb.opsctl(&["logs", "--env", "tb", "a;b"]);
    r.code(1).stderr_has("'a;b' is not a log name");

    // -f: a line written on a host arrives; SIGTERM stops it, nothing is left.
    let runtime = tempfile::tempdir().unwrap();
    let control = runtime.path().join("opsctl");
    let mut child = Command::new(OPSCTL)
        .args(["logs", "--env", "tb", "api", "-f", "-n", "0"])
        .current_dir(tb.project.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    // until both tails run, a line may be written before one started: write
    // again until it arrives
    let mut got = None;
    for i in 0..40 {
        tb.exec(
            "host2",
            &format!("echo fresh-{i} >> /var/log/supervisor/app-api.log"),
        )
        .code(0);
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
            got = Some(l);
            break;
        }
    }
    let got = got.expect("a line written on host2 arrives");
    assert!(got.starts_with("host2 app-api | fresh-"), "{got}");
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(143));
    let left: Vec<_> = std::fs::read_dir(&control)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(
        pids_with(&control.to_string_lossy()),
        Vec::<i32>::new(),
        "an ssh still running"
    );
    for h in ["host1", "host2"] {
        // the remote tails ended with the connection
        let mut gone = false;
        for _ in 0..50 {
            let r = tb.exec(h, "ps -eo args | grep -c '^tail -v' || true");
            if r.stdout.trim() == "0" {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(gone, "a tail is still running on {h}");
    }
}

#[test]
fn limit_failed_needs_a_recorded_run() {
    let p = Project::new(&[("environments/dev/hosts", "web1 ansible_connection=local\n")]);
    let r = p.opsctl(&["exec", "--env", "dev", "--limit", "@failed", "--", "true"]);
    r.code(1)
        .stderr_has("--limit @failed: no finished run of environment dev in the run journal");
    let r = p.opsctl(&["exec", "--env", "dev"]);
    r.code(1).stderr_has("<CMD|--module <MODULE>>");
    let r = p.opsctl(&["exec", "--env", "dev", "--check", "--", "true"]);
    r.code(1).stderr_has("'--check' cannot be used with");
    let r = p.opsctl(&["ssh", "--env", "dev", "web1"]);
    r.code(1)
        .stderr_has("web1 is reached with ansible_connection=local");
}
