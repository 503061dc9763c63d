//! `opsctl staging add|sync` with real git: a bare repository as the remote, a
//! clone as the developer's working copy, in a temporary directory.

use std::path::Path;
use std::process::Command;

use crate::common::{OPSCTL, Run, git};

/// opsctl in `dir`, with `CI` set as given (the refusal to prompt is asserted
/// with CI=true, whatever terminal the tests run on).
fn opsctl(dir: &Path, ci: &str, args: &[&str]) -> Run {
    let out = Command::new(OPSCTL)
        .args(args)
        .current_dir(dir)
        .env("CI", ci)
        .env("NO_COLOR", "1")
        .env_remove("OPSCTL_PROJECT")
        .output()
        .expect("run opsctl");
    Run::from(out)
}

fn commit(dir: &Path, file: &str, subject: &str) {
    std::fs::write(dir.join(file), subject).unwrap();
    git(dir, &["add", file]);
    git(dir, &["commit", "-q", "-m", subject]);
}

#[test]
fn staging_add_two_branches_refuse_a_rewritten_one_then_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("remote.git");
    let work = tmp.path().join("work");
    git(
        tmp.path(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            remote.to_str().unwrap(),
        ],
    );
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            remote.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    // opsctl writes merge commits: the clone has an identity.
    git(&work, &["config", "user.name", "Test"]);
    git(&work, &["config", "user.email", "test@example.org"]);
    git(&work, &["checkout", "-q", "-b", "main"]);
    commit(&work, "README", "Start");
    git(&work, &["push", "-q", "-u", "origin", "main"]);
    let main = git(&work, &["rev-parse", "HEAD"]);

    git(&work, &["checkout", "-q", "-b", "feature-a"]);
    commit(&work, "a1", "Add the login page");
    commit(&work, "a2", "Validate the login form");
    git(&work, &["checkout", "-q", "-b", "feature-b", "main"]);
    commit(&work, "b1", "Add the report");

    // The current branch (feature-b), then feature-a by name.
    let r = opsctl(&work, "true", &["staging", "add"]);
    r.code(0)
        .stdout_has("staging did not exist on origin: created from origin/main")
        .stdout_has("added feature-b to staging on origin: 1 commit")
        .stdout_has("Add the report");
    let r = opsctl(&work, "true", &["staging", "add", "feature-a"]);
    r.code(0)
        .stdout_has("added feature-a to staging on origin: 2 commits")
        .stdout_has("Add the login page")
        .stdout_has("Validate the login form");
    let staged = git(&remote, &["rev-parse", "refs/heads/staging"]);
    // Merges, never rebases: both branches' own commits are in staging, each
    // added by a merge commit, and the working copy was not touched.
    for b in ["feature-a", "feature-b"] {
        let tip = git(&work, &["rev-parse", b]);
        git(&remote, &["merge-base", "--is-ancestor", &tip, &staged]);
    }
    let merges = git(
        &remote,
        &[
            "log",
            "--first-parent",
            "--merges",
            "--format=%s",
            "staging",
        ],
    );
    assert_eq!(
        merges.lines().collect::<Vec<_>>(),
        [
            "Merge branch 'feature-a' into staging",
            "Merge branch 'feature-b' into staging"
        ]
    );
    assert_eq!(
        git(&work, &["symbolic-ref", "--short", "HEAD"]),
        "feature-b"
    );
    assert_eq!(git(&work, &["status", "--porcelain"]), "");
    // Again: nothing to add, nothing pushed.
    opsctl(&work, "true", &["staging", "add", "feature-a"])
        .code(0)
        .stdout_has("is already in staging on origin: nothing to add");
    assert_eq!(git(&remote, &["rev-parse", "staging"]), staged);

    // feature-a rebased onto a newer main: refused, naming what differs.
    git(&work, &["checkout", "-q", "main"]);
    commit(&work, "m1", "Bump the version");
    git(&work, &["push", "-q", "origin", "main"]);
    git(&work, &["checkout", "-q", "feature-a"]);
    git(&work, &["rebase", "-q", "main"]);
    let r = opsctl(&work, "true", &["staging", "add"]);
    r.code(1)
        .no_panic()
        .stderr_has(
            "feature-a was rewritten (rebased, amended or reset) after it was added to staging",
        )
        .stderr_has("rewritten: ")
        .stderr_has("Add the login page")
        .stderr_has("Validate the login form")
        .stderr_has("opsctl staging sync")
        .stderr_has("git merge origin/main");
    let old_tip = git(&work, &["rev-parse", "feature-a@{1}"]);
    let new_tip = git(&work, &["rev-parse", "feature-a"]);
    r.stderr_has(&format!(
        "rewritten: {} -> {}  Validate the login form",
        &old_tip[..7],
        &new_tip[..7]
    ));
    assert_eq!(
        git(&remote, &["rev-parse", "staging"]),
        staged,
        "nothing pushed"
    );

    // sync: in CI, without --yes, it shows what it would drop and refuses.
    let r = opsctl(&work, "true", &["staging", "sync"]);
    r.code(1)
        .stdout_has("drops 2 branches and 3 commits")
        .stdout_has("  feature-a")
        .stdout_has("  feature-b")
        .stderr_has("not recreating staging without a confirmation (CI=true")
        .stderr_has("--yes");
    assert_eq!(
        git(&remote, &["rev-parse", "staging"]),
        staged,
        "nothing pushed"
    );
    // --yes: staging is main again (force-pushed), and the rebased branch goes in.
    let r = opsctl(&work, "true", &["staging", "sync", "--yes"]);
    r.code(0).stdout_has("staging on origin is now origin/main");
    let new_main = git(&work, &["rev-parse", "main"]);
    assert_ne!(new_main, main);
    assert_eq!(git(&remote, &["rev-parse", "staging"]), new_main);
    opsctl(&work, "true", &["staging", "add"])
        .code(0)
        .stdout_has("added feature-a to staging on origin: 2 commits");
    // Without a repository: said, with what to do.
    opsctl(tmp.path(), "true", &["staging", "add", "x"])
        .code(1)
        .stderr_has("is not in a git repository")
        .stderr_has("--repo DIR");
}
