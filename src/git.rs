//! git on this machine, through the `git` binary: what `deploy` (resolving a ref,
//! `git archive`) and `staging` (merges and pushes) run. git's stderr becomes the
//! error's text, trimmed, as git printed it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A repository (or any directory inside one) that git runs in (`git -C DIR`).
#[derive(Debug, Clone)]
pub struct Git {
    pub dir: PathBuf,
}

/// What a git command that failed said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitError {
    /// The command, as `git ARGS`.
    pub command: String,
    /// git's exit status (`None`: git could not be started or was killed).
    pub status: Option<i32>,
    /// git's stderr (or why it could not be started), trimmed.
    pub stderr: String,
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.stderr.is_empty() {
            write!(f, "{} failed", self.command)
        } else {
            write!(f, "{}: {}", self.command, self.stderr)
        }
    }
}

impl Git {
    pub fn new(dir: impl Into<PathBuf>) -> Git {
        Git { dir: dir.into() }
    }

    /// Runs `git -C DIR ARGS`; its stdout, trimmed, or what it said on stderr.
    /// Nothing is asked on a terminal (`GIT_TERMINAL_PROMPT=0`).
    pub fn run(&self, args: &[&str]) -> Result<String, GitError> {
        self.output(args)
            .map(|s| s.trim().to_string())
            .map_err(|(e, _)| e)
    }

    /// As [`Git::run`], but the failure keeps git's stdout too (`git merge-tree`
    /// prints its conflicts there) and the success is untrimmed.
    pub fn output(&self, args: &[&str]) -> Result<String, (GitError, String)> {
        let command = format!("git {}", args.join(" "));
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                let stderr = format!("cannot run git: {e}");
                let err = GitError {
                    command: command.clone(),
                    status: None,
                    stderr,
                };
                (err, String::new())
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            let err = GitError {
                command,
                status: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            };
            Err((err, stdout))
        }
    }

    /// The commit a revision names, or `None` when it names none.
    pub fn commit(&self, rev: &str) -> Option<String> {
        self.run(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .ok()
        .filter(|c| c.len() >= 40 && c.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// Is `ancestor` an ancestor of (or the same commit as) `of`?
    pub fn is_ancestor(&self, ancestor: &str, of: &str) -> bool {
        self.run(&["merge-base", "--is-ancestor", ancestor, of])
            .is_ok()
    }
}

/// Runs git in `dir` (see [`Git::run`]), the error as one line.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    Git::new(dir).run(args).map_err(|e| e.stderr)
}
