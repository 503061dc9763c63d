//! `opsctl staging add [BRANCH]` and `opsctl staging sync [--yes]`: the staging
//! branch, a running merge of the branches under review, deployed as one
//! environment (docs/staging.md).
//!
//! `add` merges BRANCH into the remote's `staging` with a merge commit (`--no-ff`,
//! computed by `git merge-tree` and `git commit-tree`: the working tree, the index
//! and the checked-out branch are never touched) whose message carries a
//! `Staging-Branch: BRANCH` trailer, and pushes it: the new staging has the old
//! one as its first parent, so the push is a fast-forward. The trailers are how
//! `add` sees that a branch was rewritten (its tip at an earlier add is no longer
//! in it) and how `sync` names the branches it would drop. `sync` recreates
//! `staging` from the remote's default branch (its `HEAD`) and force-pushes it
//! with a lease on the staging it showed.

use std::path::PathBuf;

use serde_json::json;

use crate::error::{Error, Exit, Result};
use crate::git::{Git, GitError};
use crate::printer::Printer;

/// The trailer naming the branch a staging merge added.
const TRAILER: &str = "Staging-Branch";

/// `opsctl staging`.
#[derive(Debug, Clone)]
pub struct StagingOptions {
    pub action: StagingAction,
    /// The repository (default: the current directory).
    pub repo: Option<PathBuf>,
    /// The remote holding staging and the default branch (default: origin).
    pub remote: String,
    /// The staging branch's name (default: staging).
    pub staging: String,
}

#[derive(Debug, Clone)]
pub enum StagingAction {
    /// Merge BRANCH (default: the current branch) into staging and push.
    Add { branch: Option<String> },
    /// Recreate staging from the default branch (`--yes`: without asking).
    Sync { yes: bool },
}

pub fn run(o: StagingOptions, printer: &Printer) -> Result<Exit> {
    let dir = o.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let g = Git::new(&dir);
    g.run(&["rev-parse", "--git-dir"]).map_err(|e| {
        Error::new(format!(
            "{} is not in a git repository: {}",
            dir.display(),
            e.stderr
        ))
        .hint("run it in the app's repository, or give --repo DIR")
    })?;
    let s = Staging::read(g, &o.remote, &o.staging)?;
    match o.action {
        StagingAction::Add { branch } => s.add(branch, printer),
        StagingAction::Sync { yes } => s.sync(yes, printer),
    }
}

/// An earlier `staging add`: its merge commit, the branch, the branch's tip then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub merge: String,
    pub branch: String,
    pub tip: String,
    /// The merge's commit time (Unix seconds).
    pub time: i64,
}

/// Record and unit separators of the `git log` formats read here.
const RS: char = '\u{1e}';
const US: char = '\u{1f}';

/// The adds in `git log --first-parent --merges --format=%H%x1f%P%x1f%ct%x1f%B%x1e`
/// output, newest first: merges carrying the trailer, with their second parent.
pub fn parse_adds(log: &str) -> Vec<Added> {
    let mut out = Vec::new();
    for rec in log.split(RS) {
        let f: Vec<&str> = rec.trim_start_matches('\n').splitn(4, US).collect();
        let [merge, parents, time, body] = f[..] else {
            continue;
        };
        let Some(tip) = parents.split_whitespace().nth(1) else {
            continue;
        };
        let branch = body.lines().rev().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(TRAILER) && !v.trim().is_empty()).then(|| v.trim())
        });
        if let Some(branch) = branch {
            out.push(Added {
                merge: merge.trim().to_string(),
                branch: branch.to_string(),
                tip: tip.to_string(),
                time: time.trim().parse().unwrap_or(0),
            });
        }
    }
    out
}

/// A commit: its hash and subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub hash: String,
    pub subject: String,
}

impl Commit {
    fn short(&self) -> &str {
        &self.hash[..self.hash.len().min(7)]
    }
}

/// How a rewritten branch differs from what staging holds of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The same subject, another commit (rebased, amended).
    Rewritten { old: Commit, new: Commit },
    /// In staging, gone from the branch.
    Dropped(Commit),
    /// In the branch, not in staging.
    New(Commit),
}

/// Pairs the old commits (in staging, no longer in the branch) with the new ones
/// (in the branch, not in staging) by subject, in order; the rest are dropped or new.
pub fn differences(old: &[Commit], new: &[Commit]) -> Vec<Difference> {
    let mut unpaired: Vec<Option<&Commit>> = new.iter().map(Some).collect();
    let mut out = Vec::new();
    for o in old {
        let found = unpaired
            .iter_mut()
            .find(|n| n.is_some_and(|n| n.subject == o.subject));
        match found.and_then(Option::take) {
            Some(n) => out.push(Difference::Rewritten {
                old: o.clone(),
                new: n.clone(),
            }),
            None => out.push(Difference::Dropped(o.clone())),
        }
    }
    out.extend(unpaired.into_iter().flatten().cloned().map(Difference::New));
    out
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Rewritten { old, new } => {
                write!(
                    f,
                    "rewritten: {} -> {}  {}",
                    old.short(),
                    new.short(),
                    new.subject
                )
            }
            Difference::Dropped(c) => write!(f, "only in staging: {}  {}", c.short(), c.subject),
            Difference::New(c) => write!(f, "only in the branch: {}  {}", c.short(), c.subject),
        }
    }
}

/// A branch name as a commit-line argument: no options, no revision syntax.
fn check_branch(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && !name.contains("..")
        && !name
            .chars()
            .any(|c| c.is_whitespace() || "~^:?*[\\".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::new(format!("'{name}' is not a branch name")))
    }
}

/// What was read of the remote: its default branch and staging, fetched.
struct Staging {
    g: Git,
    remote: String,
    name: String,
    /// `origin/main`.
    default_name: String,
    default: String,
    /// staging's commit on the remote (`None`: there is no staging yet).
    current: Option<String>,
}

fn git_error(what: &str, e: GitError) -> Error {
    Error::new(format!("{what}: {e}"))
}

impl Staging {
    /// Fetches the remote, then reads its default branch and staging.
    fn read(g: Git, remote: &str, name: &str) -> Result<Staging> {
        check_branch(name)?;
        g.run(&["fetch", "--quiet", "--prune", "--", remote])
            .map_err(|e| {
                git_error(&format!("cannot fetch {remote}"), e)
                    .hint("check the remote (`git remote -v`) and your access to it; --remote names another one")
            })?;
        let head = format!("refs/remotes/{remote}/HEAD");
        let symbolic = |g: &Git| g.run(&["symbolic-ref", "--quiet", "--short", &head]).ok();
        let default_name = match symbolic(&g) {
            Some(n) => n,
            None => {
                // A clone made before the remote had a default branch: ask it.
                let _ = g.run(&["remote", "set-head", remote, "--auto"]);
                symbolic(&g).ok_or_else(|| {
                    Error::new(format!(
                        "{remote}'s default branch is unknown ({head} is not set)"
                    ))
                    .hint(format!(
                        "`git remote set-head {remote} main` (or your default branch)"
                    ))
                })?
            }
        };
        let default = g.commit(&default_name).ok_or_else(|| {
            Error::new(format!(
                "{default_name} (the default branch of {remote}) names no commit"
            ))
        })?;
        let current = g.commit(&format!("refs/remotes/{remote}/{name}"));
        Ok(Staging {
            g,
            remote: remote.to_string(),
            name: name.to_string(),
            default_name,
            default,
            current,
        })
    }

    /// The adds in `tip` since it left the default branch, newest first.
    fn adds(&self, tip: &str) -> Result<Vec<Added>> {
        let range = format!("{}..{tip}", self.default);
        let log = self
            .g
            .run(&[
                "log",
                "--first-parent",
                "--merges",
                "--format=%H%x1f%P%x1f%ct%x1f%B%x1e",
                &range,
            ])
            .map_err(|e| git_error("cannot read staging's history", e))?;
        Ok(parse_adds(&log))
    }

    /// `git log --no-merges` of `include` minus `exclude`, oldest first.
    fn commits(&self, include: &str, exclude: &[&str]) -> Result<Vec<Commit>> {
        let mut args = vec![
            "log",
            "--no-merges",
            "--reverse",
            "--format=%H%x1f%s%x1e",
            include,
        ];
        let nots: Vec<String> = exclude.iter().map(|e| format!("^{e}")).collect();
        args.extend(nots.iter().map(String::as_str));
        args.push("--");
        let out = self
            .g
            .run(&args)
            .map_err(|e| git_error("cannot list commits", e))?;
        Ok(out
            .split(RS)
            .filter_map(|r| {
                let (h, s) = r.trim_start_matches('\n').split_once(US)?;
                Some(Commit {
                    hash: h.to_string(),
                    subject: s.to_string(),
                })
            })
            .collect())
    }

    fn add(&self, branch: Option<String>, printer: &Printer) -> Result<Exit> {
        let branch = match branch {
            Some(b) => b,
            None => self
                .g
                .run(&["symbolic-ref", "--quiet", "--short", "HEAD"])
                .map_err(|_| {
                    Error::new("HEAD is detached: which branch?")
                        .hint("name it: opsctl staging add BRANCH")
                })?,
        };
        check_branch(&branch)?;
        let default_short = self
            .default_name
            .strip_prefix(&format!("{}/", self.remote))
            .unwrap_or(&self.default_name);
        if branch == self.name || branch == default_short {
            return Err(Error::new(format!(
                "'{branch}' cannot be added to staging: it is {}",
                if branch == self.name {
                    "staging itself"
                } else {
                    "the default branch"
                }
            ))
            .hint("opsctl staging sync recreates staging from the default branch"));
        }
        let tip = self
            .g
            .commit(&format!("refs/heads/{branch}"))
            .or_else(|| {
                self.g
                    .commit(&format!("refs/remotes/{}/{branch}", self.remote))
            })
            .ok_or_else(|| {
                Error::new(format!("no branch '{branch}' here nor on {}", self.remote))
                    .hint("`git branch -a` lists them")
            })?;
        let base = self.current.clone().unwrap_or_else(|| self.default.clone());
        if self.g.is_ancestor(&tip, &base) {
            printer.result(&format!(
                "{branch} ({}) is already in {} on {}: nothing to add",
                &tip[..7],
                self.name,
                self.remote
            ));
            return Ok(Exit::Success);
        }
        // Rewritten since an earlier add: staging holds commits the branch lost.
        let earlier = match &self.current {
            Some(cur) => self.adds(cur)?.into_iter().find(|a| a.branch == branch),
            None => None,
        };
        if let Some(a) = earlier.filter(|a| !self.g.is_ancestor(&a.tip, &tip)) {
            return Err(self.rewritten(&branch, &a, &tip)?);
        }
        let tree = match self.g.output(&[
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            &base,
            &tip,
        ]) {
            Ok(out) => out.lines().next().unwrap_or_default().trim().to_string(),
            Err((e, out)) if e.status == Some(1) => {
                let files: Vec<&str> = out.lines().skip(1).filter(|l| !l.is_empty()).collect();
                return Err(Error::new(format!(
                    "{branch} conflicts with {} on {}: {}",
                    self.name,
                    self.remote,
                    files.join(", ")
                ))
                .hint(format!(
                    "merge {} into {branch} and resolve there, or `opsctl staging sync` to start staging again from {}",
                    self.default_name, self.default_name
                )));
            }
            Err((e, _)) => return Err(git_error("cannot merge", e)),
        };
        let subject = format!("Merge branch '{branch}' into {}", self.name);
        let trailer = format!("{TRAILER}: {branch}");
        let merge = self
            .g
            .run(&[
                "commit-tree",
                &tree,
                "-p",
                &base,
                "-p",
                &tip,
                "-m",
                &subject,
                "-m",
                &trailer,
            ])
            .map_err(|e| git_error("cannot write the merge commit", e))?;
        let added = self.commits(&tip, &[&base])?;
        self.push(&merge, None)?;
        let created = self.current.is_none();
        if printer.is_json() {
            printer.json(&json!({
                "staging": self.name, "remote": self.remote, "branch": branch,
                "merge": merge, "previous": self.current, "created_from": created.then_some(&self.default_name),
                "commits": added.iter().map(|c| json!({"commit": c.hash, "subject": c.subject})).collect::<Vec<_>>(),
            }));
            return Ok(Exit::Success);
        }
        if created {
            printer.result(&format!(
                "{} did not exist on {}: created from {} ({})",
                self.name,
                self.remote,
                self.default_name,
                &self.default[..7]
            ));
        }
        printer.result(&format!(
            "added {branch} to {} on {}: {} commit{}",
            self.name,
            self.remote,
            added.len(),
            if added.len() == 1 { "" } else { "s" }
        ));
        for c in &added {
            printer.result(&format!("  {}  {}", c.short(), c.subject));
        }
        printer.result(&format!(
            "pushed {} {}..{}",
            self.name,
            &base[..7],
            &merge[..7]
        ));
        Ok(Exit::Success)
    }

    /// The refusal of a branch whose commits were rewritten after `earlier`.
    fn rewritten(&self, branch: &str, earlier: &Added, tip: &str) -> Result<Error> {
        let old = self.commits(&earlier.tip, &[tip, &self.default])?;
        let new = self.commits(tip, &[&earlier.tip, &self.default])?;
        let mut msg = format!(
            "{branch} was rewritten (rebased, amended or reset) after it was added to {} \
             (merge {}): {} holds commits that {branch} no longer has, and merging it again \
             would put both versions in {}; what differs (old -> new, by subject):",
            self.name,
            &earlier.merge[..7],
            self.name,
            self.name,
        );
        for d in differences(&old, &new) {
            msg.push_str(&format!("\n  {d}"));
        }
        Ok(Error::new(msg)
            .hint(format!(
                "`opsctl staging sync` recreates {} from {} (dropping every branch added since: add them again)",
                self.name, self.default_name
            ))
            .hint(format!(
                "or keep staging: bring {} into {branch} with a merge (`git merge {}`) rather than a rebase, and never rewrite a branch once added",
                self.default_name, self.default_name
            )))
    }

    /// Pushes `commit` as staging: a fast-forward, or (`lease`) a forced push that
    /// fails if staging is no longer the commit that was read.
    fn push(&self, commit: &str, lease: Option<&str>) -> Result<()> {
        let dest = format!("{commit}:refs/heads/{}", self.name);
        let lease_arg = lease.map(|l| format!("--force-with-lease=refs/heads/{}:{l}", self.name));
        let mut args = vec!["push", "--quiet"];
        args.extend(lease_arg.as_deref());
        args.extend(["--", &self.remote, &dest]);
        self.g.run(&args).map_err(|e| {
            let moved = e.stderr.contains("rejected") || e.stderr.contains("stale info");
            let err = git_error(&format!("cannot push {} to {}", self.name, self.remote), e);
            if moved {
                err.hint(format!(
                    "{} changed on {} while this ran: run the command again",
                    self.name, self.remote
                ))
            } else {
                err
            }
        })?;
        Ok(())
    }

    fn sync(&self, yes: bool, printer: &Printer) -> Result<Exit> {
        let short = &self.default[..7];
        let Some(cur) = self
            .current
            .clone()
            .filter(|c| !self.g.is_ancestor(c, &self.default))
        else {
            // Nothing would be lost: staging is created or fast-forwarded.
            if self.current.as_deref() != Some(self.default.as_str()) {
                self.push(&self.default, None)?;
            }
            printer.result(&format!(
                "{} on {} is {} ({short}): nothing dropped",
                self.name, self.remote, self.default_name
            ));
            return Ok(Exit::Success);
        };
        let adds = self.adds(&cur)?;
        let dropped = self.commits(&cur, &[&self.default])?;
        // Per branch (in the order added), the dropped commits it brought.
        let mut branches: Vec<(&str, Vec<&Commit>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for a in adds.iter().rev() {
            let mine: Vec<String> = self
                .commits(&a.tip, &[&self.default])?
                .into_iter()
                .map(|c| c.hash)
                .collect();
            let new: Vec<&Commit> = dropped
                .iter()
                .filter(|c| mine.contains(&c.hash) && seen.insert(c.hash.clone()))
                .collect();
            match branches.iter_mut().find(|(b, _)| *b == a.branch) {
                Some((_, cs)) => cs.extend(new),
                None => branches.push((&a.branch, new)),
            }
        }
        let others: Vec<&Commit> = dropped.iter().filter(|c| !seen.contains(&c.hash)).collect();
        if printer.is_json() {
            printer.json(&json!({
                "staging": self.name, "remote": self.remote, "from": self.default_name,
                "commit": self.default, "previous": cur,
                "dropped_branches": branches.iter().map(|(b, _)| b).collect::<Vec<_>>(),
                "dropped_commits": dropped.iter().map(|c| json!({"commit": c.hash, "subject": c.subject})).collect::<Vec<_>>(),
            }));
        } else {
            printer.result(&format!(
                "recreating {} on {} from {} ({short}) drops {} branch{} and {} commit{}:",
                self.name,
                self.remote,
                self.default_name,
                branches.len(),
                if branches.len() == 1 { "" } else { "es" },
                dropped.len(),
                if dropped.len() == 1 { "" } else { "s" },
            ));
            let others =
                (!others.is_empty()).then_some(("(not added by `opsctl staging add`)", others));
            for (b, cs) in branches.iter().chain(others.iter()) {
                printer.result(&format!("  {b}"));
                for c in cs {
                    printer.result(&format!("    {}  {}", c.short(), c.subject));
                }
            }
        }
        if !yes {
            let question = format!(
                "Recreate {} from {}, dropping these? [y/N] ",
                self.name, self.default_name
            );
            match crate::secrets::tty::ask(&question) {
                None => {
                    return Err(Error::new(format!(
                        "not recreating {} without a confirmation ({})",
                        self.name,
                        crate::secrets::tty::no_prompt_reason()
                    ))
                    .hint("give --yes to confirm (CI)"));
                }
                Some(a) if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") => {}
                Some(_) => {
                    printer.result(&format!("{} left as it was", self.name));
                    return Ok(Exit::Config);
                }
            }
        }
        self.push(&self.default, Some(&cur))?;
        if !printer.is_json() {
            printer.result(&format!(
                "{} on {} is now {} ({short}); add the branches again with `opsctl staging add BRANCH`",
                self.name, self.remote, self.default_name
            ));
        }
        Ok(Exit::Success)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(h: &str, s: &str) -> Commit {
        Commit {
            hash: h.repeat(40 / h.len()),
            subject: s.into(),
        }
    }

    #[test]
    fn adds_are_the_merges_with_the_trailer() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let t = "c".repeat(40);
        let log = format!(
            "{a}\u{1f}{b} {t}\u{1f}1700000000\u{1f}Merge branch 'f' into staging\n\nStaging-Branch: f\n\u{1e}\n\
             {b}\u{1f}{a} {t}\u{1f}1700000001\u{1f}Merge branch 'x' (by hand)\n\u{1e}\n"
        );
        assert_eq!(
            parse_adds(&log),
            vec![Added {
                merge: a,
                branch: "f".into(),
                tip: t,
                time: 1_700_000_000
            }]
        );
        assert!(parse_adds("").is_empty());
    }

    #[test]
    fn differences_pair_by_subject() {
        let old = [c("1", "Add the widget"), c("2", "Fix a typo")];
        let new = [c("3", "Add the widget"), c("4", "Tests")];
        let d = differences(&old, &new);
        assert_eq!(
            d,
            vec![
                Difference::Rewritten {
                    old: old[0].clone(),
                    new: new[0].clone()
                },
                Difference::Dropped(old[1].clone()),
                Difference::New(new[1].clone()),
            ]
        );
        assert_eq!(
            d[0].to_string(),
            "rewritten: 1111111 -> 3333333  Add the widget"
        );
        assert_eq!(d[1].to_string(), "only in staging: 2222222  Fix a typo");
    }

    #[test]
    fn branch_names_are_checked() {
        assert!(check_branch("feature/x-1").is_ok());
        for bad in ["", "-f", "a..b", "a b", "x^", "x:y"] {
            assert!(check_branch(bad).is_err(), "{bad}");
        }
    }
}
