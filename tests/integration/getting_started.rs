//! docs/getting-started.md, run as written against a test-bed host: every command
//! line of its ```sh blocks in order (but the blocks marked "not run by the test"),
//! in a new directory, with the file contents it shows. What the test bed needs
//! instead is the only change: the server's name is `host1.test`, reached through
//! the test bed's ssh_config, with pebble as the ACME server.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{OPSCTL, Testbed, git, repo};
use crate::stack::copy_dir;

/// A block of the document: its language, whether the test runs it, its lines.
struct Block {
    lang: String,
    run: bool,
    body: String,
}

fn blocks(doc: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut skip_next = false;
    let mut current: Option<Block> = None;
    for line in doc.lines() {
        if let Some(b) = current.as_mut() {
            if line.starts_with("```") {
                out.push(current.take().unwrap());
            } else {
                b.body.push_str(line);
                b.body.push('\n');
            }
        } else if let Some(lang) = line.strip_prefix("```") {
            current = Some(Block {
                lang: lang.trim().to_string(),
                run: !skip_next,
                body: String::new(),
            });
            skip_next = false;
        } else if line.starts_with("<!-- not run by the test") {
            skip_next = true;
        }
    }
    out
}

#[test]
fn the_document_has_the_blocks_this_test_expects() {
    let doc = std::fs::read_to_string(repo().join("docs/getting-started.md")).unwrap();
    let b = blocks(&doc);
    let langs: Vec<&str> = b.iter().map(|b| b.lang.as_str()).collect();
    assert_eq!(langs, ["sh", "sh", "ini", "yaml", "sh", "sh", "sh"]);
    assert!(!b[0].run && b[1..].iter().all(|b| b.run));
    assert!(b[1].body.starts_with("opsctl init ops"));
}

/// Runs one command line of the document with bash in `cwd`; returns its stdout.
#[track_caller]
fn run_line(line: &str, cwd: &Path, env: &[(&str, &Path)]) -> String {
    let bin_dir = Path::new(OPSCTL).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", line])
        .current_dir(cwd)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("OPSCTL_AGE_KEY")
        .env_remove("OPSCTL_AGE_KEY_FILE")
        .env_remove("OPSCTL_ENV")
        .env_remove("OPSCTL_PROJECT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "`{line}` (in {}) exited {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        cwd.display(),
        out.status.code()
    );
    stdout + &stderr
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn getting_started_runs_as_written() {
    let tb = Testbed::up(1);
    let r = tb.exec("host1", "opsctl-start-pebble start");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let work = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    // The user's app: the example app in a repository of its own, branch main.
    let app = work.path().join("myapp");
    copy_dir(&repo().join("examples/app"), &app);
    git(&app, &["init", "-q", "-b", "main"]);
    git(&app, &["add", "-A"]);
    git(&app, &["commit", "-q", "-m", "my app"]);

    let doc = std::fs::read_to_string(repo().join("docs/getting-started.md")).unwrap();
    let env = [("XDG_CONFIG_HOME", config.path())];
    let mut cwd: PathBuf = work.path().to_path_buf();
    let mut output = String::new();
    for block in blocks(&doc).into_iter().filter(|b| b.run) {
        let envdir = cwd.join("environments/production");
        match block.lang.as_str() {
            "sh" => {
                for line in block.body.lines().map(str::trim) {
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    if let Some(dir) = line.strip_prefix("cd ") {
                        cwd = cwd.join(dir.trim());
                        continue;
                    }
                    output.push_str(&run_line(line, &cwd, &env));
                }
            }
            // The inventory: the test bed's host, through its ssh_config.
            "ini" => {
                assert!(block.body.contains("[web]"), "{}", block.body);
                std::fs::write(envdir.join("hosts"), "[web]\nhost1\n").unwrap();
                std::fs::copy(tb.env_dir.join("ssh_config"), envdir.join("ssh_config")).unwrap();
            }
            // group_vars as shown, for host1.test and pebble.
            "yaml" => {
                let text = block.body.replace("app.example.org", "host1.test")
                    + "tls_mode: acme\n\
                       acme_server: https://127.0.0.1:14000/dir\n\
                       health_check_validate_certs: false\n";
                std::fs::write(envdir.join("group_vars/web.yml"), text).unwrap();
            }
            other => panic!("a block the test does not know: {other}"),
        }
    }

    // What the document promises: the app over https, its secret in the release's
    // .env (mode 0600) and nowhere in what opsctl printed.
    let r = tb.exec(
        "host1",
        "curl -sfk --resolve host1.test:443:127.0.0.1 https://host1.test/api/health \
         && stat -c %a /srv/app/current/.env && grep -c '^SECRET_KEY=[0-9a-f]\\{64\\}$' /srv/app/current/.env",
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.ends_with("600\n1\n"), "{}", r.stdout);
    let secret = tb
        .exec("host1", "sed -n 's/^SECRET_KEY=//p' /srv/app/current/.env")
        .stdout
        .trim()
        .to_string();
    assert_eq!(secret.len(), 64);
    // `secrets view` shows it to its owner; no other command printed it.
    let view = output.matches(&secret).count();
    assert_eq!(
        view, 1,
        "the secret appears only in `secrets view`'s output"
    );
    // The second provision changes nothing, and `init --diff` sees no change.
    let again = run_line("opsctl provision --env production", &cwd, &env);
    assert!(again.contains("changed=0"), "{again}");
    let diff = run_line("opsctl init --diff", &cwd, &env);
    assert!(diff.contains(" 0 differ, 0 only in opsctl"), "{diff}");
}
