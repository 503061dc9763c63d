//! The POSIX sh scripts the deploy commands run on hosts (lock, unlock, status),
//! and the parsing of what they print. Pure: the commands send them.

use crate::transport::shell_quote;

use super::{LockRecord, ReleaseRecord, parse_log};

/// Runs the script on its stdin as root when the login user is root or sudo
/// allows it without a password, else as the login user.
pub const AS_ROOT: &str = "if [ \"$(id -u)\" != 0 ] && sudo -n true 2>/dev/null; then exec sudo -n /bin/sh -s; else exec /bin/sh -s; fi";

/// How a lock is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take<'a> {
    /// Only a free lock.
    Free,
    /// `--force-unlock`: an existing lock is removed first (its holder printed).
    Force,
    /// A lock whose holder is provably dead, with this token: taken over (its
    /// holder file replaced under `.deploy.lock/takeover`, made with `mkdir`, so
    /// of two takers one wins, and only while that token still holds it).
    Stale(&'a str),
}

/// Takes the deploy lock: `mkdir APP_ROOT/.deploy.lock` (atomic: of two takers,
/// one fails), then writes the holder. Prints `taken`, or `held` then the
/// holder's JSON; then, when taken, `@@current` and the live release's REVISION
/// (its commit). With [`Take::Force`], `forced` and the old holder come first.
pub fn lock_script(app_root: &str, holder: &LockRecord, take: Take) -> String {
    let root = shell_quote(app_root);
    let json = shell_quote(&serde_json::to_string(holder).unwrap_or_default());
    let force = if take == Take::Force {
        "if [ -d \"$lock\" ]; then echo forced; cat \"$lock/holder\" 2>/dev/null; echo; rm -rf \"$lock\"; fi\n"
    } else {
        ""
    };
    let stale = match take {
        Take::Stale(token) => {
            let mark = token_mark(token);
            format!(
                "grep -qF {mark} \"$lock/holder\" 2>/dev/null && mkdir \"$lock/takeover\" 2>/dev/null && {{ grep -qF {mark} \"$lock/holder\" || {{ rmdir \"$lock/takeover\"; false; }}; }}"
            )
        }
        _ => "false".into(),
    };
    let current = "echo taken\necho @@current; cat \"$root/current/REVISION\" 2>/dev/null; echo; readlink \"$root/current\" 2>/dev/null\n";
    format!(
        "set -u\nroot={root}\nlock=\"$root/.deploy.lock\"\nmkdir -p \"$root\" || exit 3\n{force}\
         if mkdir \"$lock\" 2>/dev/null; then\n  printf '%s\\n' {json} > \"$lock/holder\" || {{ rmdir \"$lock\"; exit 3; }}\n{current}\
         elif {stale}; then\n  printf '%s\\n' {json} > \"$lock/holder.new\" && mv -f \"$lock/holder.new\" \"$lock/holder\" || {{ rmdir \"$lock/takeover\"; exit 3; }}\n  rmdir \"$lock/takeover\"\n{current}\
         else\n  echo held\n  cat \"$lock/holder\" 2>/dev/null\nfi\n"
    )
}

/// `"token":"T"` as the holder's JSON has it, quoted for `grep -F`.
fn token_mark(token: &str) -> String {
    shell_quote(&format!("\"token\":{}", serde_json::Value::from(token)))
}

/// Removes the lock if (and only if) this command's token holds it.
pub fn unlock_script(app_root: &str, token: &str) -> String {
    let lock = shell_quote(&format!("{app_root}/.deploy.lock"));
    let mark = token_mark(token);
    format!("if grep -qF {mark} {lock}/holder 2>/dev/null; then rm -rf {lock}; fi")
}

/// What taking the lock on one host gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAnswer {
    /// Taken; the commit and release live on the host (if any).
    Taken {
        forced: Option<String>,
        live_commit: Option<String>,
        live_release: Option<String>,
    },
    /// Someone else holds it (None: the holder file is unreadable or being written).
    Held(Option<LockRecord>),
}

pub fn parse_lock(stdout: &str) -> Option<LockAnswer> {
    let mut lines = stdout.lines();
    let mut first = lines.next()?;
    let mut forced = None;
    if first == "forced" {
        forced = lines
            .next()
            .map(|l| l.to_string())
            .filter(|l| !l.is_empty());
        // `cat` + `echo`: the holder's line, then an empty line.
        let mut rest = lines.by_ref().skip_while(|l| l.is_empty());
        first = rest.next()?;
        return finish(first, rest.collect::<Vec<_>>(), forced);
    }
    finish(first, lines.collect(), forced.take())
}

fn finish(first: &str, rest: Vec<&str>, forced: Option<String>) -> Option<LockAnswer> {
    match first {
        "taken" => {
            let after: Vec<&str> = rest
                .iter()
                .skip_while(|l| **l != "@@current")
                .skip(1)
                .copied()
                .collect();
            let live_commit = after
                .iter()
                .find(|l| super::is_commit(l.trim()))
                .map(|l| l.trim().to_string());
            let live_release = after
                .iter()
                .filter_map(|l| l.trim().rsplit('/').next())
                .find(|l| super::is_release_id(l))
                .map(str::to_string);
            Some(LockAnswer::Taken {
                forced,
                live_commit,
                live_release,
            })
        }
        "held" => Some(LockAnswer::Held(
            rest.first().and_then(|l| serde_json::from_str(l).ok()),
        )),
        _ => None,
    }
}

/// Prints the live release, the release directories and the log, in sections.
pub fn status_script(app_root: &str) -> String {
    let root = shell_quote(app_root);
    format!(
        "root={root}\necho @@current; readlink \"$root/current\" 2>/dev/null\n\
         echo @@revision; cat \"$root/current/REVISION\" 2>/dev/null; echo\n\
         echo @@present; ls -1 \"$root/releases\" 2>/dev/null\n\
         echo @@log; cat \"$root/releases.log\" 2>/dev/null\n\
         echo @@lock; cat \"$root/.deploy.lock/holder\" 2>/dev/null\necho @@end\n"
    )
}

/// One host's releases as read by [`status_script`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub current: Option<String>,
    /// The live release's REVISION (the commit it runs).
    pub live_commit: Option<String>,
    pub present: Vec<String>,
    pub records: Vec<ReleaseRecord>,
    /// Lines of the log that are not records (reported, skipped).
    pub problems: Vec<String>,
    pub lock: Option<LockRecord>,
}

pub fn parse_status(stdout: &str) -> Option<Status> {
    if !stdout.lines().any(|l| l == "@@end") {
        return None;
    }
    let mut section = "";
    let (mut current, mut present, mut log, mut lock) = (None, Vec::new(), String::new(), None);
    let mut live_commit = None;
    for line in stdout.lines() {
        if let Some(s) = line.strip_prefix("@@") {
            section = match s {
                "current" | "revision" | "present" | "log" | "lock" | "end" => s,
                _ => section,
            };
            if matches!(
                s,
                "current" | "revision" | "present" | "log" | "lock" | "end"
            ) {
                continue;
            }
        }
        match section {
            "current" if !line.trim().is_empty() => {
                current = line
                    .trim()
                    .rsplit('/')
                    .next()
                    .filter(|s| super::is_release_id(s))
                    .map(str::to_string)
            }
            "revision" if super::is_commit(line.trim()) => live_commit = Some(line.trim().into()),
            "present" if super::is_release_id(line.trim()) => present.push(line.trim().into()),
            "log" => {
                log.push_str(line);
                log.push('\n');
            }
            "lock" if !line.trim().is_empty() => lock = serde_json::from_str(line).ok(),
            _ => {}
        }
    }
    let (records, problems) = parse_log(&log);
    Some(Status {
        current,
        live_commit,
        present,
        records,
        problems,
        lock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> LockRecord {
        LockRecord {
            user: "alice@ctl".into(),
            time: "2024-01-01T00:00:00Z".into(),
            git_ref: "main".into(),
            pid: 7,
            action: "deploy".into(),
            token: "tok-1".into(),
            machine: "m".into(),
            boot: "b".into(),
            start: 1,
            release: String::new(),
        }
    }

    /// The scripts run for real in a local sh, on a scratch directory.
    fn sh(script: &str) -> String {
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", script])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn lock_is_exclusive_and_unlock_needs_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("app root").to_string_lossy().into_owned();
        let first = parse_lock(&sh(&lock_script(&root, &holder(), Take::Free))).unwrap();
        assert_eq!(
            first,
            LockAnswer::Taken {
                forced: None,
                live_commit: None,
                live_release: None
            }
        );
        let mut other = holder();
        other.token = "tok-2".into();
        other.user = "bob".into();
        let second = parse_lock(&sh(&lock_script(&root, &other, Take::Free))).unwrap();
        assert_eq!(second, LockAnswer::Held(Some(holder())));
        // The wrong token removes nothing.
        sh(&unlock_script(&root, "tok-2"));
        assert!(matches!(
            parse_lock(&sh(&lock_script(&root, &other, Take::Free))),
            Some(LockAnswer::Held(_))
        ));
        // --force-unlock takes it over and says from whom.
        let forced = parse_lock(&sh(&lock_script(&root, &other, Take::Force))).unwrap();
        match forced {
            LockAnswer::Taken {
                forced: Some(f), ..
            } => assert!(f.contains("alice@ctl"), "{f}"),
            other => panic!("{other:?}"),
        }
        sh(&unlock_script(&root, "tok-2"));
        assert!(!dir.path().join("app root/.deploy.lock").exists());
    }

    #[test]
    fn a_stale_lock_is_taken_over_once_and_only_by_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_string_lossy().into_owned();
        let dead = holder();
        sh(&lock_script(&root, &dead, Take::Free));
        let mut a = holder();
        a.token = "tok-a".into();
        let mut b = holder();
        b.token = "tok-b".into();
        // A wrong token (the lock changed hands since it was read) takes nothing.
        assert_eq!(
            parse_lock(&sh(&lock_script(&root, &a, Take::Stale("tok-")))).unwrap(),
            LockAnswer::Held(Some(dead.clone()))
        );
        // A takes it over from the dead holder; B, who also read the dead holder,
        // is refused and sees A.
        assert!(matches!(
            parse_lock(&sh(&lock_script(&root, &a, Take::Stale("tok-1")))),
            Some(LockAnswer::Taken { forced: None, .. })
        ));
        assert_eq!(
            parse_lock(&sh(&lock_script(&root, &b, Take::Stale("tok-1")))).unwrap(),
            LockAnswer::Held(Some(a.clone()))
        );
        assert!(!dir.path().join(".deploy.lock/takeover").exists());
        // A takeover in progress (takeover/ exists): refused too.
        std::fs::create_dir(dir.path().join(".deploy.lock/takeover")).unwrap();
        assert!(matches!(
            parse_lock(&sh(&lock_script(&root, &b, Take::Stale("tok-a")))),
            Some(LockAnswer::Held(_))
        ));
        std::fs::remove_dir(dir.path().join(".deploy.lock/takeover")).unwrap();
        sh(&unlock_script(&root, "tok-a"));
        assert!(!dir.path().join(".deploy.lock").exists());
    }

    #[test]
    fn lock_reports_the_live_release() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_string_lossy().into_owned();
        let id = "20240101000000-0123456";
        let commit = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(dir.path().join("releases").join(id)).unwrap();
        std::fs::write(
            dir.path().join("releases").join(id).join("REVISION"),
            commit,
        )
        .unwrap();
        std::os::unix::fs::symlink(format!("{root}/releases/{id}"), dir.path().join("current"))
            .unwrap();
        let got = parse_lock(&sh(&lock_script(&root, &holder(), Take::Free))).unwrap();
        assert_eq!(
            got,
            LockAnswer::Taken {
                forced: None,
                live_commit: Some(commit.into()),
                live_release: Some(id.into())
            }
        );
        let st = parse_status(&sh(&status_script(&root))).unwrap();
        assert_eq!(st.current.as_deref(), Some(id));
        assert_eq!(st.live_commit.as_deref(), Some(commit));
        assert_eq!(st.present, vec![id.to_string()]);
        assert_eq!(st.lock, Some(holder()));
    }

    #[test]
    fn status_of_a_fresh_host() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("nothing").to_string_lossy().into_owned();
        let st = parse_status(&sh(&status_script(&root))).unwrap();
        assert_eq!(st, Status::default());
        assert_eq!(parse_status("garbage"), None);
    }
}
