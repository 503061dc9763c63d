//! Installing opsctl: `make install` (binary, man pages, completions) into a
//! staging directory, and the `.deb` of `make dist` installed on a test-bed host
//! with apt, where `opsctl --version` answers as the binary it was made from.
//! Both use the binary under test (`BIN=`), not a release build of their own.

use std::path::Path;
use std::process::Command;

use crate::common::{OPSCTL, Testbed, repo};

#[track_caller]
fn make(args: &[&str]) -> String {
    let out = Command::new("make")
        .arg("--no-print-directory")
        .args(args)
        .arg(format!("BIN={OPSCTL}"))
        .current_dir(repo())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "make {args:?} failed:\n{text}");
    text
}

fn version_of(bin: &Path) -> String {
    let out = Command::new(bin).arg("--version").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn make_install_puts_the_binary_man_pages_and_completions_under_the_prefix() {
    let dest = tempfile::tempdir().unwrap();
    make(&[
        "install",
        &format!("DESTDIR={}", dest.path().display()),
        "PREFIX=/opt/ops",
    ]);
    let root = dest.path().join("opt/ops");
    let bin = root.join("bin/opsctl");
    let v = version_of(&bin);
    assert_eq!(v, version_of(Path::new(OPSCTL)));
    assert!(
        v.starts_with("opsctl 0.") && v.contains(", built 20"),
        "{v}"
    );
    for f in [
        "share/man/man1/opsctl.1.gz",
        "share/man/man1/opsctl-init.1.gz",
        "share/man/man1/opsctl-env-new.1.gz",
        "share/bash-completion/completions/opsctl",
        "share/zsh/vendor-completions/_opsctl",
        "share/fish/vendor_completions.d/opsctl.fish",
    ] {
        let p = root.join(f);
        assert!(
            p.metadata().is_ok_and(|m| m.len() > 100),
            "{f} missing or empty"
        );
    }
    let bash =
        std::fs::read_to_string(root.join("share/bash-completion/completions/opsctl")).unwrap();
    assert!(
        bash.contains("complete -o nospace") && bash.contains("COMPLETE=\"bash\""),
        "{bash}"
    );
}

/// What the shell completes comes from the project at each <TAB>: fish's protocol
/// (`COMPLETE=fish opsctl -- opsctl ARGS... WORD`: one candidate a line).
#[test]
fn completions_offer_the_projects_environments_hosts_playbooks_and_tags() {
    let p = crate::common::Project::new(&[
        (
            "environments/staging/hosts",
            "[web]\nweb1\nweb2\n[db]\ndb1\n",
        ),
        ("environments/prod/hosts", "[web]\nprod-web1\n"),
        (
            "playbooks/site.yml",
            "- hosts: web\n  tasks:\n    - command: 'true'\n      tags: [alpha, beta]\n",
        ),
        (
            "roles/r/tasks/main.yml",
            "- command: 'true'\n  tags:\n    - gamma\n",
        ),
    ]);
    let complete = |words: &[&str], env: &[(&str, &str)]| -> Vec<String> {
        let mut c = Command::new(OPSCTL);
        c.env("COMPLETE", "fish")
            .env_remove("OPSCTL_ENV")
            .env_remove("OPSCTL_PROJECT")
            .args(["--", "opsctl"])
            .args(words)
            .current_dir(p.path());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .filter(|l| !l.starts_with('-'))
            .collect()
    };
    assert_eq!(complete(&["ping", "--env", ""], &[]), ["prod", "staging"]);
    assert_eq!(complete(&["ping", "--env", "st"], &[]), ["staging"]);
    let hosts = complete(
        &["ping", "--env", "staging", "--limit", ""],
        &[("OPSCTL_ENV", "staging")],
    );
    for h in ["web", "db", "web1", "web2", "db1"] {
        assert!(hosts.contains(&h.to_string()), "{h}: {hosts:?}");
    }
    assert!(!hosts.contains(&"prod-web1".to_string()), "{hosts:?}");
    assert!(complete(&["run", ""], &[]).contains(&"site".to_string()));
    assert_eq!(
        complete(&["run", "site", "--tags", ""], &[]),
        ["alpha", "beta", "gamma"]
    );
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn the_deb_of_make_dist_installs_on_a_debian_host_and_runs() {
    let dist = tempfile::tempdir().unwrap();
    make(&["dist", &format!("DIST={}", dist.path().display())]);
    let debs: Vec<_> = std::fs::read_dir(dist.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    let deb = &debs[0];
    let bare: Vec<_> = std::fs::read_dir(dist.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("-x86_64-linux-gnu"))
        .collect();
    assert_eq!(bare.len(), 1);
    let want = version_of(Path::new(OPSCTL));
    assert_eq!(version_of(&bare[0]), want);

    let tb = Testbed::up(1);
    let play = format!(
        r#"- hosts: web
  gather_facts: false
  tasks:
    - copy:
        src: {deb}
        dest: /tmp/opsctl.deb
    - apt:
        deb: /tmp/opsctl.deb
    - command: opsctl --version
      register: v
      changed_when: false
    - debug:
        msg: "on the host: {{{{ v.stdout }}}}"
"#,
        deb = deb.display()
    );
    tb.play("install", &play, &[])
        .code(0)
        .stdout_has(&format!("on the host: {want}"));
    let r = tb.exec(
        "host1",
        "dpkg -s opsctl | sed -n 's/^Status: //p'; test -f /usr/share/man/man1/opsctl.1.gz && \
         test -f /usr/share/bash-completion/completions/opsctl && echo files",
    );
    assert_eq!(r.stdout, "install ok installed\nfiles\n", "{}", r.stderr);
    // And it goes away cleanly.
    tb.exec("host1", "dpkg -r opsctl >/dev/null && ! command -v opsctl")
        .code(0);
}
