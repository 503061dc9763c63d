//! Helpers: a scratch project, running the real `opsctl` binary, and the test bed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const OPSCTL: &str = env!("CARGO_BIN_EXE_opsctl");

/// The repository root (for tests/testbed and fixtures).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A throwaway project directory with files written from (path, content) pairs.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(files: &[(&str, &str)]) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("opsctl-it-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        let p = Project { dir };
        for (path, content) in files {
            p.write(path, content);
        }
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, path: &str, content: &str) {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    /// Runs opsctl with the project as working directory.
    pub fn opsctl(&self, args: &[&str]) -> Run {
        run_in(self.path(), args)
    }
}

/// Runs opsctl in `cwd` with a clean, predictable environment.
pub fn run_in(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(OPSCTL)
        .args(args)
        .current_dir(cwd)
        .env_remove("OPSCTL_ENV")
        .env_remove("OPSCTL_PROJECT")
        .env("NO_COLOR", "1")
        .output()
        .expect("run opsctl");
    Run::from(out)
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    pub fn stdout_has(&self, s: &str) -> &Self {
        assert!(
            self.stdout.contains(s),
            "stdout lacks {s:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
    #[track_caller]
    pub fn stderr_has(&self, s: &str) -> &Self {
        assert!(
            self.stderr.contains(s),
            "stderr lacks {s:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
    /// No panic message or backtrace, whatever happened.
    #[track_caller]
    pub fn no_panic(&self) -> &Self {
        for s in [&self.stdout, &self.stderr] {
            assert!(
                !s.contains("panicked") && !s.contains("RUST_BACKTRACE"),
                "panic:\n{s}"
            );
        }
        self
    }
}

/// Real SSH hosts from tests/testbed, in their own network namespaces, as
/// environment `tb` of a scratch project. Stopped (by PID) when dropped.
pub struct Testbed {
    pub project: Project,
    pub env_dir: PathBuf,
    /// Environment variables every `opsctl` run of this test bed gets (e.g. the
    /// age identity of the environment's secrets, `OPSCTL_AGE_KEY_FILE`).
    pub env: std::cell::RefCell<Vec<(String, String)>>,
}

impl Testbed {
    /// Starts `n` hosts. The tests that call this are `#[ignore]`d (reported as
    /// such by a plain `cargo test`): `make test` runs them as root with
    /// `--include-ignored`, and one run without root fails here, never passes.
    pub fn up(n: usize) -> Testbed {
        Self::up_kind(n, "plain")
    }

    /// `kind`: "plain" (sysvinit-style init, `service`) or "systemd" (systemd as PID 1).
    pub fn up_kind(n: usize, kind: &str) -> Testbed {
        Self::up_with(n, &["--kind", kind])
    }

    /// `n` plain hosts on the test bed's own network (`testbed up --net`: hostI is
    /// 10.231.0.I and every host resolves the others' names), in the inventory
    /// groups `groups` gives (`testbed up --group`: "web=host1,host3", "db=host2").
    pub fn up_net(n: usize, groups: &[&str]) -> Testbed {
        Self::up_net_kind(n, "plain", groups)
    }

    /// [`Testbed::up_net`] with hosts of `kind` ("plain" or "systemd").
    pub fn up_net_kind(n: usize, kind: &str, groups: &[&str]) -> Testbed {
        let mut args = vec!["--net", "--kind", kind];
        for g in groups {
            args.extend(["--group", g]);
        }
        Self::up_with(n, &args)
    }

    fn up_with(n: usize, extra: &[&str]) -> Testbed {
        assert!(
            rustix::process::getuid().is_root(),
            "the test bed needs root (network namespaces): run `make test` as root; \
             a plain `cargo test` reports these tests as ignored"
        );
        let project = Project::new(&[]);
        let env_dir = project.path().join("environments/tb");
        let out = Command::new(repo().join("tests/testbed/testbed"))
            .args(["up", "--dir"])
            .arg(&env_dir)
            .args(["--hosts", &n.to_string()])
            .args(extra)
            .output()
            .expect("run tests/testbed/testbed");
        assert!(
            out.status.success(),
            "testbed up failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Testbed {
            project,
            env_dir,
            env: Default::default(),
        }
    }

    pub fn opsctl(&self, args: &[&str]) -> Run {
        self.opsctl_stdin(args, "")
    }

    /// Runs opsctl (with [`Testbed::env`]) with `stdin` as its standard input.
    pub fn opsctl_stdin(&self, args: &[&str], stdin: &str) -> Run {
        use std::io::Write;
        let mut child = Command::new(OPSCTL)
            .args(args)
            .current_dir(self.project.path())
            .env_remove("OPSCTL_ENV")
            .env_remove("OPSCTL_PROJECT")
            .env("NO_COLOR", "1")
            .envs(self.env.borrow().iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run opsctl");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
        drop(input);
        Run::from(child.wait_with_output().expect("run opsctl"))
    }

    /// Runs a shell command inside a host (as root, not over SSH).
    pub fn exec(&self, host: &str, script: &str) -> Run {
        let out = Command::new(repo().join("tests/testbed/testbed"))
            .args(["exec", "--dir"])
            .arg(&self.env_dir)
            .args([host, "--", "/bin/sh", "-c", script])
            .output()
            .expect("testbed exec");
        Run::from(out)
    }

    pub fn write(&self, path: &str, content: &str) {
        self.project.write(path, content)
    }

    /// Writes `playbooks/<name>.yml` and runs it on the test bed's environment.
    pub fn play(&self, name: &str, playbook: &str, extra: &[&str]) -> Run {
        self.write(&format!("playbooks/{name}.yml"), playbook);
        let mut args = vec!["run", name, "--env", "tb"];
        args.extend_from_slice(extra);
        self.opsctl(&args)
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.project.path().join(path)).unwrap()
    }

    /// "Reinstalls" a host as far as SSH can tell: new host keys, sshd restarted.
    pub fn new_host_keys(&self, host: &str) {
        self.exec(
            host,
            "rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null && service ssh restart",
        )
        .code(0);
    }

    /// Adds host `name` to the inventory, reached through `proxy_command` (a
    /// connection that hangs or fails on purpose).
    pub fn add_host_via(&self, name: &str, proxy_command: &str) {
        let hosts = self.read("environments/tb/hosts");
        self.write("environments/tb/hosts", &format!("{hosts}\n{name}\n"));
        let cfg = self.read("environments/tb/ssh_config");
        self.write(
            "environments/tb/ssh_config",
            &format!("{cfg}\nHost {name}\n  ProxyCommand {proxy_command}\n"),
        );
    }

    /// A new age identity (for OPSCTL_AGE_KEY) whose public key is the
    /// environment's only recipient.
    pub fn age_key(&self) -> String {
        let keygen = Command::new(OPSCTL)
            .args(["secrets", "keygen", "--out", "-"])
            .output()
            .unwrap();
        let key = String::from_utf8(keygen.stdout).unwrap();
        let public = key
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap()
            .to_string();
        self.write("environments/tb/recipients", &format!("# CI\n{public}\n"));
        key
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/testbed/testbed"))
            .args(["down", "--dir"])
            .arg(&self.env_dir)
            .output();
    }
}

/// Runs real git in `dir` (as a fixed test identity) and returns its stdout.
#[track_caller]
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// PIDs of the live processes whose command line mentions `needle`.
pub fn pids_with(needle: &str) -> Vec<i32> {
    let mut pids = vec![];
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let stat = std::fs::read_to_string(p.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z'));
        if !zombie && cmd.contains(needle) {
            pids.push(pid);
        }
    }
    pids
}
