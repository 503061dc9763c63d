//! `opsctl secrets ...` and redaction, through the real binary: age files,
//! recipients, identities, a scripted `$EDITOR` (Ctrl-C included), Ansible
//! Vault import from real ansible-vault files, and the canary run on a real host.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{OPSCTL, Project, Run, Testbed, repo};

/// A home directory, a private runtime dir and a project, isolated from the
/// user's real identities.
struct Env {
    project: Project,
    home: tempfile::TempDir,
    runtime: tempfile::TempDir,
}

impl Env {
    fn new(files: &[(&str, &str)]) -> Env {
        let e = Env {
            project: Project::new(files),
            home: tempfile::tempdir().unwrap(),
            runtime: tempfile::tempdir().unwrap(),
        };
        std::fs::set_permissions(e.runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        e
    }

    fn path(&self) -> &Path {
        self.project.path()
    }

    /// The command, detached from any terminal (its own session), so prompts
    /// read stdin and signals can be sent to its process group.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(OPSCTL);
        c.args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_RUNTIME_DIR", self.runtime.path())
            .env("NO_COLOR", "1")
            .env("EDITOR", "/bin/false");
        for (k, v) in env {
            c.env(k, v);
        }
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                let _ = rustix::process::setsid();
                Ok(())
            });
        }
        c
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
        let mut c = self.command(args, env);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    fn ok(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
        let r = self.run(args, env, stdin);
        r.code(0).no_panic();
        r
    }

    /// Makes an identity with `opsctl secrets keygen --out FILE`; returns (file, public key).
    fn keygen(&self, name: &str) -> (PathBuf, String) {
        let f = self.home.path().join(format!("{name}.txt"));
        let r = self.ok(
            &["secrets", "keygen", "--out", f.to_str().unwrap()],
            &[],
            "",
        );
        let public = r.stdout.lines().next().unwrap().trim().to_string();
        assert!(public.starts_with("age1"), "{}", r.stdout);
        (f, public)
    }

    /// The runtime dir holds nothing (no plaintext left behind).
    fn runtime_is_empty(&self) -> bool {
        std::fs::read_dir(self.runtime.path())
            .unwrap()
            .next()
            .is_none()
    }

    fn secrets_file(&self, env: &str) -> PathBuf {
        self.path().join(format!("environments/{env}/secrets.age"))
    }
}

fn script(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_str().unwrap().to_string()
}

const HOSTS: &str = "[web]\nweb1 ansible_connection=local\n";

#[test]
fn keygen_writes_a_private_identity_and_prints_the_public_key() {
    let e = Env::new(&[]);
    let r = e.ok(&["secrets", "keygen"], &[], "");
    let public = r.stdout.lines().next().unwrap();
    assert!(public.starts_with("age1"), "{}", r.stdout);
    let f = e.home.path().join(".config/opsctl/identity.txt");
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.contains(&format!("# public key: {public}")));
    assert!(text.contains("AGE-SECRET-KEY-1"));
    assert!(
        !r.stdout.contains("AGE-SECRET-KEY"),
        "the private key is not printed"
    );
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = e.run(&["secrets", "keygen"], &[], "");
    again.code(1).stderr_has("exists already");
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        text,
        "not overwritten"
    );
    let r = e.ok(&["secrets", "keygen", "--out", "-"], &[], "");
    assert!(
        r.stdout.contains("AGE-SECRET-KEY-1"),
        "--out - prints the identity"
    );
}

#[test]
fn set_view_vars_recipients_rekey_and_wrong_identity() {
    let e = Env::new(&[("environments/st/hosts", HOSTS)]);
    let (alice, alice_pk) = e.keygen("alice");
    let (bob, bob_pk) = e.keygen("bob");
    e.project.write(
        "environments/st/recipients",
        &format!("# Alice\n{alice_pk}\n"),
    );
    let a = [("OPSCTL_AGE_KEY_FILE", alice.to_str().unwrap())];
    let secret = "S3cret-Value-XYZ 'quoted' \"too\"";
    let r = e.ok(
        &["secrets", "set", "--env", "st", "db_password"],
        &a,
        &format!("{secret}\n"),
    );
    r.stdout_has("set db_password in environments/st/secrets.age (1 variable)");
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));
    let file = std::fs::read_to_string(e.secrets_file("st")).unwrap();
    assert!(
        file.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "armored"
    );
    assert!(!file.contains("S3cret"));
    e.ok(
        &["secrets", "set", "--env", "st", "api_token"],
        &a,
        "tok-987654321",
    );
    // view: the one place a secret is shown, on request
    let r = e.ok(&["secrets", "view", "--env", "st", "db_password"], &a, "");
    assert_eq!(r.stdout, format!("{secret}\n"));
    let r = e.ok(&["secrets", "view", "--env", "st"], &a, "");
    r.stdout_has("api_token: \"tok-987654321\"");
    // set again replaces, keeps the rest
    e.ok(
        &["secrets", "set", "--env", "st", "api_token"],
        &a,
        "tok-2-replaced",
    );
    let r = e.ok(
        &["secrets", "view", "--env", "st", "--output", "json"],
        &a,
        "",
    );
    let doc: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(doc["vars"]["api_token"], "tok-2-replaced");
    assert_eq!(doc["vars"]["db_password"], secret);
    // vars: redacted, with the secrets layer as origin
    let r = e.ok(&["vars", "--env", "st", "web1", "db_password"], &a, "");
    r.stdout_has("db_password = \"********\"")
        .stdout_has("(secrets)");
    assert!(!r.stdout.contains("S3cret"), "{}", r.stdout);
    let r = e.ok(&["vars", "--env", "st", "web1", "--output", "json"], &a, "");
    assert!(
        !r.stdout.contains("S3cret") && r.stdout.contains("********"),
        "{}",
        r.stdout
    );
    // a value too short to be redacted: said at load time
    e.ok(&["secrets", "set", "--env", "st", "pin"], &a, "123");
    e.ok(&["vars", "--env", "st", "web1", "api_token"], &a, "")
        .stderr_has("environments/st/secrets.age: pin shorter than 4 characters");
    // recipients: which one is you
    let r = e.ok(&["secrets", "recipients", "--env", "st"], &a, "");
    r.stdout_has("environments/st/recipients:2  Alice (age1")
        .stdout_has("<- you (OPSCTL_AGE_KEY_FILE=");
    // bob cannot decrypt yet: the message lists what was tried and who can
    let b = [("OPSCTL_AGE_KEY_FILE", bob.to_str().unwrap())];
    let r = e.run(&["vars", "--env", "st", "web1"], &b, "");
    r.code(1).no_panic().stderr_has(&format!(
        "cannot decrypt environments/st/secrets.age: none of your identities (OPSCTL_AGE_KEY_FILE={}) is a recipient; recipients are: Alice (age1",
        bob.display()
    ));
    // add bob, rekey; then remove alice, rekey: alice is out
    e.project.write(
        "environments/st/recipients",
        &format!("# Alice\n{alice_pk}\n\n{bob_pk} # Bob\n"),
    );
    e.ok(&["secrets", "rekey", "--env", "st"], &a, "")
        .stdout_has("re-encrypted environments/st/secrets.age to Alice (age1");
    let r = e.ok(
        &[
            "secrets",
            "view",
            "--env",
            "st",
            "api_token",
            "--identity",
            bob.to_str().unwrap(),
        ],
        &[],
        "",
    );
    assert_eq!(r.stdout, "tok-2-replaced\n");
    e.project
        .write("environments/st/recipients", &format!("{bob_pk} # Bob\n"));
    e.ok(&["secrets", "rekey", "--env", "st"], &b, "");
    let r = e.run(&["secrets", "view", "--env", "st"], &a, "");
    r.code(1).stderr_has("recipients are: Bob (age1");
    // CI: the key itself in OPSCTL_AGE_KEY, no prompt, no file
    let key = std::fs::read_to_string(&bob).unwrap();
    let r = e.ok(
        &["secrets", "view", "--env", "st", "api_token"],
        &[("OPSCTL_AGE_KEY", &key)],
        "",
    );
    assert_eq!(r.stdout, "tok-2-replaced\n");
    // no identity anywhere: every default is listed as absent
    let r = e.run(&["inventory", "--env", "st", "--list"], &[], "");
    r.code(1).stderr_has("none of your identities (~/.config/opsctl/identity.txt (absent), ~/.ssh/id_ed25519 (absent), ~/.ssh/id_rsa (absent))");
}

#[test]
fn bad_files_give_clear_errors_and_no_partial_write() {
    let e = Env::new(&[("environments/st/hosts", HOSTS)]);
    let (alice, pk) = e.keygen("alice");
    let a = [("OPSCTL_AGE_KEY_FILE", alice.to_str().unwrap())];
    // unknown recipient format: the line is named, nothing is written
    e.project.write(
        "environments/st/recipients",
        &format!("# Alice\n{pk}\npgp:ABCDEF0123\n"),
    );
    let r = e.run(&["secrets", "set", "--env", "st", "x"], &a, "value-1234");
    r.code(1)
        .no_panic()
        .stderr_has("environments/st/recipients:3: unknown recipient format");
    assert!(!e.secrets_file("st").exists());
    e.project
        .write("environments/st/recipients", &format!("{pk}\n"));
    e.ok(&["secrets", "set", "--env", "st", "x"], &a, "value-1234");
    let good = std::fs::read(e.secrets_file("st")).unwrap();
    // tampered
    let mut text = String::from_utf8(good.clone()).unwrap();
    let mid = text.len() / 2;
    let c = if &text[mid..mid + 1] == "A" { "B" } else { "A" };
    text.replace_range(mid..mid + 1, c);
    std::fs::write(e.secrets_file("st"), &text).unwrap();
    let r = e.run(&["vars", "--env", "st", "web1"], &a, "");
    r.code(1)
        .no_panic()
        .stderr_has("cannot decrypt environments/st/secrets.age");
    // truncated
    std::fs::write(e.secrets_file("st"), &good[..good.len() / 2]).unwrap();
    let r = e.run(&["secrets", "view", "--env", "st"], &a, "");
    r.code(1)
        .no_panic()
        .stderr_has("cannot decrypt environments/st/secrets.age: the file is");
    // not age
    std::fs::write(e.secrets_file("st"), "db_password: plain\n").unwrap();
    let r = e.run(&["secrets", "view", "--env", "st"], &a, "");
    r.code(1)
        .stderr_has("environments/st/secrets.age is not an age-encrypted file");
    // a failed set leaves the file as it was (here: it cannot be decrypted)
    let before = std::fs::read(e.secrets_file("st")).unwrap();
    e.run(&["secrets", "set", "--env", "st", "y"], &a, "zzzzzz")
        .code(1);
    assert_eq!(std::fs::read(e.secrets_file("st")).unwrap(), before);
    // invalid YAML inside (written through age by hand): line and column, no text
    std::fs::write(e.secrets_file("st"), &good).unwrap();
    let editor = script(
        e.home.path(),
        "bad.sh",
        "printf 'a: 1\\nb: [leaky-token-value\\n' > \"$1\"",
    );
    let r = e.run(
        &["secrets", "edit", "--env", "st"],
        &[a[0], ("EDITOR", &editor)],
        "n\n",
    );
    r.code(1)
        .no_panic()
        .stderr_has("environments/st/secrets.age:");
    assert!(!r.stderr.contains("leaky-token-value"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(e.secrets_file("st")).unwrap(),
        good,
        "untouched"
    );
    assert!(e.runtime_is_empty());
}

#[test]
fn edit_with_a_scripted_editor() {
    let e = Env::new(&[("environments/st/hosts", HOSTS)]);
    let (alice, pk) = e.keygen("alice");
    e.project
        .write("environments/st/recipients", &format!("{pk}\n"));
    let key = alice.to_str().unwrap();
    let tools = e.home.path();
    // the editor gets a private file: record its mode and its directory's
    let add = script(
        tools,
        "add.sh",
        &format!(
            "stat -c %a \"$1\" > {t}/mode; stat -c %a \"$(dirname \"$1\")\" > {t}/dirmode\nprintf 'db_password: \"Edit-S3cret-42\"\\n' >> \"$1\"",
            t = tools.display()
        ),
    );
    // absent: created from a commented template
    let r = e.ok(
        &["secrets", "edit", "--env", "st"],
        &[("OPSCTL_AGE_KEY_FILE", key), ("EDITOR", &add)],
        "",
    );
    r.stdout_has("saved environments/st/secrets.age: 1 variable");
    assert_eq!(
        std::fs::read_to_string(tools.join("mode")).unwrap().trim(),
        "600"
    );
    assert_eq!(
        std::fs::read_to_string(tools.join("dirmode"))
            .unwrap()
            .trim(),
        "700"
    );
    assert!(e.runtime_is_empty(), "plaintext removed");
    let r = e.ok(
        &["secrets", "view", "--env", "st", "db_password"],
        &[("OPSCTL_AGE_KEY_FILE", key)],
        "",
    );
    assert_eq!(r.stdout, "Edit-S3cret-42\n");
    // no change: byte-identical
    let before = std::fs::read(e.secrets_file("st")).unwrap();
    let touch = script(tools, "touch.sh", "touch \"$1\"");
    e.ok(
        &["secrets", "edit", "--env", "st"],
        &[("OPSCTL_AGE_KEY_FILE", key), ("VISUAL", &touch)],
        "",
    )
    .stdout_has("no change");
    assert_eq!(std::fs::read(e.secrets_file("st")).unwrap(), before);
    // invalid YAML, then fixed when the editor re-opens ("y")
    let twice = script(
        tools,
        "twice.sh",
        &format!(
            "if [ -e {t}/once ]; then printf 'db_password: fixed-value-1\\n' > \"$1\"; else touch {t}/once; printf 'db_password: [broken\\n' > \"$1\"; fi",
            t = tools.display()
        ),
    );
    let r = e.ok(
        &["secrets", "edit", "--env", "st"],
        &[("OPSCTL_AGE_KEY_FILE", key), ("EDITOR", &twice)],
        "y\n",
    );
    r.stderr_has("environments/st/secrets.age:1:")
        .stdout_has("saved");
    // invalid and declined: kept in an encrypted draft, resumed next time
    let broken = script(
        tools,
        "broken.sh",
        "printf 'db_password: draft-value-7\\nother: [x\\n' > \"$1\"",
    );
    let r = e.run(
        &["secrets", "edit", "--env", "st"],
        &[("OPSCTL_AGE_KEY_FILE", key), ("EDITOR", &broken)],
        "n\n",
    );
    r.code(1)
        .stderr_has("your edit is kept, encrypted, in environments/st/secrets.age.draft");
    let draft =
        std::fs::read_to_string(e.path().join("environments/st/secrets.age.draft")).unwrap();
    assert!(
        draft.starts_with("-----BEGIN AGE ENCRYPTED FILE-----") && !draft.contains("draft-value-7")
    );
    assert!(e.runtime_is_empty());
    let fix = script(
        tools,
        "fix.sh",
        "grep -q draft-value-7 \"$1\" && sed -i 's/\\[x/[x]/' \"$1\"",
    );
    let r = e.ok(
        &["secrets", "edit", "--env", "st"],
        &[("OPSCTL_AGE_KEY_FILE", key), ("EDITOR", &fix)],
        "",
    );
    r.stderr_has("resuming your unsaved edit")
        .stdout_has("saved environments/st/secrets.age: 2 variables");
    assert!(!e.path().join("environments/st/secrets.age.draft").exists());
    let r = e.ok(
        &["secrets", "view", "--env", "st", "db_password"],
        &[("OPSCTL_AGE_KEY_FILE", key)],
        "",
    );
    assert_eq!(r.stdout, "draft-value-7\n");
}

/// Waits for a file to appear (the editor started).
fn wait_for(p: &Path) {
    for _ in 0..200 {
        if p.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{} never appeared", p.display());
}

#[test]
fn ctrl_c_or_sigterm_during_edit_leaves_no_plaintext() {
    let e = Env::new(&[("environments/st/hosts", HOSTS)]);
    let (alice, pk) = e.keygen("alice");
    e.project
        .write("environments/st/recipients", &format!("{pk}\n"));
    let key = alice.to_str().unwrap();
    e.ok(
        &["secrets", "set", "--env", "st", "db_password"],
        &[("OPSCTL_AGE_KEY_FILE", key)],
        "Ctrl-C-S3cret",
    );
    let before = std::fs::read(e.secrets_file("st")).unwrap();
    let tools = e.home.path();
    for (i, signal) in [rustix::process::Signal::INT, rustix::process::Signal::TERM]
        .into_iter()
        .enumerate()
    {
        let started = tools.join(format!("started{i}"));
        let editor = script(
            tools,
            &format!("slow{i}.sh"),
            &format!(
                "printf 'db_password: changed\\n' >> \"$1\"\necho \"$1\" > {}\nsleep 30",
                started.display()
            ),
        );
        let mut c = e.command(
            &["secrets", "edit", "--env", "st"],
            &[("OPSCTL_AGE_KEY_FILE", key), ("EDITOR", &editor)],
        );
        let child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for(&started);
        let plain = PathBuf::from(std::fs::read_to_string(&started).unwrap().trim());
        assert!(plain.exists(), "the decrypted file exists while editing");
        assert!(plain.starts_with(e.runtime.path()));
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        if signal == rustix::process::Signal::INT {
            // a terminal's Ctrl-C: the whole foreground process group
            rustix::process::kill_process_group(pid, signal).unwrap();
        } else {
            rustix::process::kill_process(pid, signal).unwrap();
        }
        let r = Run::from(child.wait_with_output().unwrap());
        r.code(130).no_panic().stderr_has("nothing saved");
        assert!(!plain.exists(), "plaintext removed after {signal:?}");
        assert!(e.runtime_is_empty(), "private dir removed after {signal:?}");
        assert_eq!(std::fs::read(e.secrets_file("st")).unwrap(), before);
    }
}

#[test]
fn import_vault_from_real_ansible_vault_files() {
    let fixtures = repo().join("tests/fixtures/secrets");
    let e = Env::new(&[("environments/st/hosts", HOSTS)]);
    let (alice, pk) = e.keygen("alice");
    e.project
        .write("environments/st/recipients", &format!("{pk} # Alice\n"));
    let a = [("OPSCTL_AGE_KEY_FILE", alice.to_str().unwrap())];
    let pw = fixtures.join("vault-password");
    for (i, name) in ["vault-1.1.yml", "vault-1.2.yml"].into_iter().enumerate() {
        let vault = fixtures.join(name);
        let mut args = vec![
            "secrets",
            "import-vault",
            vault.to_str().unwrap(),
            "--env",
            "st",
            "--vault-password-file",
            pw.to_str().unwrap(),
        ];
        if i > 0 {
            let r = e.run(&args, &a, "");
            r.code(1).stderr_has("exists already");
            args.push("--force");
        }
        e.ok(&args, &a, "").stdout_has("imported 3 variables");
        let r = e.ok(&["secrets", "view", "--env", "st", "db_password"], &a, "");
        assert_eq!(r.stdout, "Vault-imported-S3cret!\n");
        let r = e.ok(&["secrets", "view", "--env", "st"], &a, "");
        assert_eq!(
            r.stdout,
            std::fs::read_to_string(fixtures.join("vault-plain.yml")).unwrap()
        );
    }
    // nested values are secrets too: vars shows them redacted
    let r = e.ok(&["vars", "--env", "st", "web1", "smtp"], &a, "");
    assert!(!r.stdout.contains("smtp-p@ss word"), "{}", r.stdout);
    r.stdout_has("********");
    // wrong password
    let bad = e.home.path().join("badpw");
    std::fs::write(&bad, "nope\n").unwrap();
    let r = e.run(
        &[
            "secrets",
            "import-vault",
            fixtures.join("vault-1.1.yml").to_str().unwrap(),
            "--env",
            "st",
            "--vault-password-file",
            bad.to_str().unwrap(),
            "--force",
        ],
        &a,
        "",
    );
    r.code(1).no_panic().stderr_has("wrong vault password");
}

#[test]
fn passphrase_mode_from_a_file() {
    let e = Env::new(&[
        ("environments/pp/hosts", HOSTS),
        (
            "environments/pp/recipients",
            "# one shared passphrase, as with Ansible Vault\npassphrase\n",
        ),
    ]);
    let pf = e.home.path().join("pass");
    std::fs::write(&pf, "a long shared passphrase\n").unwrap();
    let p = [("OPSCTL_SECRETS_PASSPHRASE_FILE", pf.to_str().unwrap())];
    e.ok(
        &["secrets", "set", "--env", "pp", "db_password"],
        &p,
        "Pass-Mode-S3cret",
    );
    let r = e.ok(&["secrets", "view", "--env", "pp", "db_password"], &p, "");
    assert_eq!(r.stdout, "Pass-Mode-S3cret\n");
    let r = e.ok(&["vars", "--env", "pp", "web1", "db_password"], &p, "");
    r.stdout_has("********");
    e.ok(&["secrets", "recipients", "--env", "pp"], &p, "")
        .stdout_has("passphrase mode");
    std::fs::write(&pf, "wrong\n").unwrap();
    let r = e.run(&["secrets", "view", "--env", "pp"], &p, "");
    r.code(1).no_panic().stderr_has("wrong passphrase");
    let r = e.run(&["secrets", "view", "--env", "pp"], &[], "");
    r.code(1).stderr_has("OPSCTL_SECRETS_PASSPHRASE_FILE");
}

/// The canary: a secret used in a template, a command, a loop item, a derived
/// value and a failing task, run with -vv --diff (text and JSON): it appears
/// nowhere in what opsctl prints or records, and it is on the host.
#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn canary_secret_never_printed_but_delivered() {
    let tb = Testbed::up(1);
    let canary = "Canary-9f3b-S3cret";
    let derived = "Q2FuYXJ5LTlmM2ItUzNjcmV0"; // base64 of the canary
    // a key for CI, through OPSCTL_AGE_KEY only
    let key = tb.age_key();
    let home = tempfile::tempdir().unwrap();
    let opsctl = |args: &[&str], stdin: &str| {
        let mut c = Command::new(OPSCTL);
        c.args(args)
            .current_dir(tb.project.path())
            .env("OPSCTL_AGE_KEY", &key)
            .env("HOME", home.path())
            .env("NO_COLOR", "1")
            .env_remove("OPSCTL_ENV")
            .env_remove("OPSCTL_PROJECT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().unwrap())
    };
    opsctl(&["secrets", "set", "--env", "tb", "app_secret"], canary).code(0);
    tb.write(
        "playbooks/templates/app.env.j2",
        "# managed\nAPP_SECRET={{ app_secret }}\nMODE=prod\n",
    );
    tb.write(
        "playbooks/canary.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: a template holding the secret
      template:
        src: app.env.j2
        dest: /tmp/app.env
        mode: "0600"
    - name: a file whose line changes (diff)
      copy:
        content: "token={{ app_secret | b64encode }}\n"
        dest: /tmp/token
    - name: a command with the secret
      command: echo connecting with {{ app_secret }}
    - name: a loop over the secret
      debug:
        msg: "item is {{ item }}"
      loop:
        - "{{ app_secret }}"
        - public-item
    - name: a derived value
      set_fact:
        url: "postgres://app:{{ app_secret }}@db/app"
    - name: show it
      debug:
        msg: "{{ url }}"
    - name: a failing task
      shell: "echo '{{ app_secret }}' >&2; echo {{ url | b64encode }}; exit 3"
"#,
    );
    for format in ["text", "json", "text"] {
        // /tmp/token changes each run (a diff); /tmp/app.env is created by the
        // first run, then read back (content probes with -vv) by the second
        tb.exec("host1", "echo token=old > /tmp/token");
        let r = opsctl(
            &[
                "run", "canary", "--env", "tb", "-vv", "--diff", "--output", format,
            ],
            "",
        );
        r.no_panic();
        assert_eq!(r.code, 2, "the last task fails\n{}\n{}", r.stdout, r.stderr);
        for (what, out) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            assert!(
                !out.contains(canary),
                "{format} {what} leaks the canary:\n{out}"
            );
            assert!(
                !out.contains(derived),
                "{format} {what} leaks a derived value:\n{out}"
            );
            assert!(
                !decoded_tokens(out).iter().any(|d| d.contains(canary)),
                "{format} {what} holds the canary base64-encoded:\n{out}"
            );
            assert!(
                !out.contains("postgres://app:C"),
                "{format} {what} leaks the url:\n{out}"
            );
        }
        assert!(
            r.stdout.contains("********"),
            "{format}: redacted, not dropped:\n{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("public-item"),
            "{format}: other values stay visible"
        );
        // the record of the run (journal, state) holds no secret either
        if let Ok(entries) = std::fs::read_dir(tb.project.path().join(".opsctl")) {
            for entry in walk(entries) {
                let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
                assert!(
                    !text.contains(canary),
                    "{} holds the canary",
                    entry.display()
                );
            }
        }
    }
    // the secret is where it belongs
    let host = tb.exec("host1", "cat /tmp/app.env /tmp/token");
    assert!(
        host.stdout.contains(&format!("APP_SECRET={canary}")),
        "{}",
        host.stdout
    );
    assert!(
        host.stdout.contains(&format!("token={derived}")),
        "{}",
        host.stdout
    );
}

/// Every base64-looking word of `out`, decoded (lossy).
fn decoded_tokens(out: &str) -> Vec<String> {
    use base64::Engine;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    out.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c)))
        .filter(|w| w.len() >= 16)
        .filter_map(|w| engine.decode(w).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

fn walk(entries: std::fs::ReadDir) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Ok(sub) = std::fs::read_dir(&p) {
                out.extend(walk(sub));
            }
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn diff_names_added_removed_and_changed_variables_since_a_revision() {
    let e = Env::new(&[("environments/st/hosts", HOSTS)]);
    let (alice, alice_pk) = e.keygen("alice");
    e.project.write(
        "environments/st/recipients",
        &format!("# Alice\n{alice_pk}\n"),
    );
    let a = [("OPSCTL_AGE_KEY_FILE", alice.to_str().unwrap())];
    let git = |args: &[&str]| crate::common::git(e.path(), args);
    git(&["init", "-q", "-b", "main"]);
    // Not in git yet: everything is added.
    e.ok(
        &["secrets", "set", "--env", "st", "db_password"],
        &a,
        "old-pw-111",
    );
    e.ok(
        &["secrets", "set", "--env", "st", "gone_token"],
        &a,
        "gone-222",
    );
    e.ok(&["secrets", "set", "--env", "st", "same"], &a, "same-333");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "secrets"]);
    let r = e.ok(&["secrets", "diff", "--env", "st"], &a, "");
    r.stdout_has("0 added, 0 removed, 0 changed, 3 unchanged");
    e.ok(
        &["secrets", "set", "--env", "st", "db_password"],
        &a,
        "new-pw-444",
    );
    e.ok(&["secrets", "set", "--env", "st", "new_key"], &a, "new-555");
    // (remove one by rewriting the file through the editor)
    let editor = script(e.home.path(), "drop.sh", "sed -i '/^gone_token:/d' \"$1\"");
    e.ok(
        &["secrets", "edit", "--env", "st"],
        &[a[0], ("EDITOR", editor.as_str())],
        "",
    );
    let r = e.ok(&["secrets", "diff", "--env", "st"], &a, "");
    r.stdout_has("environments/st/secrets.age (HEAD -> working copy)")
        .stdout_has("~ db_password (changed)")
        .stdout_has("- gone_token (removed)")
        .stdout_has("+ new_key (added)")
        .stdout_has("1 added, 1 removed, 1 changed, 1 unchanged");
    for v in [
        "old-pw-111",
        "new-pw-444",
        "gone-222",
        "new-555",
        "same-333",
    ] {
        assert!(!r.stdout.contains(v) && !r.stderr.contains(v), "{v} shown");
    }
    let r = e.ok(&["secrets", "diff", "--env", "st", "--values"], &a, "");
    r.stdout_has("db_password: old-pw-111 -> new-pw-444")
        .stdout_has("new_key: new-555");
    // git diff through the driver: the same, values hidden.
    git(&[
        "config",
        "diff.opsctl-secrets.command",
        &format!("{OPSCTL} secrets git-diff"),
    ]);
    std::fs::write(
        e.path().join(".gitattributes"),
        "secrets.age diff=opsctl-secrets\n",
    )
    .unwrap();
    let out = Command::new("git")
        .args(["-C", e.path().to_str().unwrap(), "diff"])
        .env("HOME", e.home.path())
        .env("OPSCTL_AGE_KEY_FILE", &alice)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("~ db_password (changed)") && text.contains("- gone_token (removed)"),
        "{text}"
    );
    assert!(
        !text.contains("new-pw-444") && !text.contains("old-pw-111"),
        "{text}"
    );
    // A revision git does not know is a clear error.
    e.run(&["secrets", "diff", "--env", "st", "nosuchrev"], &a, "")
        .code(1)
        .stderr_has("cannot read environments/st/secrets.age at nosuchrev from git");
}
