//! Git working copies as facts (`Need::GitHead`): one shell function run for
//! every working copy the next tasks ask about, in one section of the gather
//! exec, and the parsing of what it prints.

use std::collections::HashMap;

use super::fail::{self, Fail};
use super::protocol::{DestState, GitHead, GitReq};
use crate::transport::{Output, shell_quote};

/// One shell function reading a working copy, called for each: `@git N` opens
/// the lines of the Nth. Two git processes a working copy: `status
/// --porcelain=v2 --branch` (HEAD, branch and local modifications, without
/// taking the index lock) and `config` (the remote's URL); the modifications
/// follow `@@mods` as git prints them.
pub fn script(gits: &[GitReq]) -> String {
    let mut s = String::from(
        r#"# opsctl: git working copies
opsctl_git() {
  G=$1; d=$2; r=$3
  command -v "$G" >/dev/null 2>&1 || { echo nogit=1; return 0; }
  if [ -e "$d/.git" ]; then
    echo state=repo
    printf 'url=%s\n' "$("$G" -C "$d" config --get "remote.$r.url")"
    echo @@mods
    "$G" --no-optional-locks -C "$d" status --porcelain=v2 --branch --untracked-files=no 2>&1
  elif [ -d "$d" ]; then
    set -- "$d"/* "$d"/.[!.]* "$d"/..?*
    e=empty; for f; do if [ -e "$f" ] || [ -L "$f" ]; then e=other; break; fi; done
    echo "state=$e"
  elif [ -e "$d" ] || [ -L "$d" ]; then echo state=other
  else echo state=absent; fi
}
"#,
    );
    for (i, g) in gits.iter().enumerate() {
        s.push_str(&format!(
            "echo '@git {i}'; opsctl_git {} {} {}
",
            shell_quote(&g.exe),
            shell_quote(&g.dest),
            shell_quote(&g.remote)
        ));
    }
    s
}

pub fn parse(gits: &[GitReq], out: &Output) -> Result<HashMap<GitReq, GitHead>, Fail> {
    let text = out.stdout_str();
    let mut parts: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("@git ") {
            parts.push(Vec::new());
        } else if let Some(p) = parts.last_mut() {
            p.push(line);
        }
    }
    if parts.len() != gits.len() {
        return fail::fail(format!(
            "reading git working copies failed (rc {}): {}",
            out.rc.map(|r| r.to_string()).unwrap_or("signal".into()),
            out.stderr_str().trim()
        ));
    }
    Ok(gits
        .iter()
        .cloned()
        .zip(parts.iter().map(|lines| git_head(lines)))
        .collect())
}

/// A working copy from its `key=value` lines (url and mods in base64).
pub fn git_head(lines: &[&str]) -> GitHead {
    let (head, status) = match lines.iter().position(|l| *l == "@@mods") {
        Some(at) => (&lines[..at], &lines[at + 1..]),
        None => (lines, &[][..]),
    };
    let get = |k: &str| {
        head.iter()
            .rev()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(|v| v.trim_end_matches('\r').trim())
    };
    let mut wc = GitHead {
        git_missing: get("nogit").is_some(),
        state: match get("state") {
            Some("repo") => DestState::Repo,
            Some("empty") => DestState::Empty,
            Some("other") => DestState::Other,
            _ => DestState::Absent,
        },
        remote_url: get("url").filter(|s| !s.is_empty()).map(str::to_string),
        ..Default::default()
    };
    for l in status {
        if let Some(oid) = l.strip_prefix("# branch.oid ") {
            wc.head = Some(oid.trim().to_string()).filter(|o| o != "(initial)");
        } else if let Some(b) = l.strip_prefix("# branch.head ") {
            wc.branch = Some(b.trim().to_string()).filter(|b| b != "(detached)");
        } else if l.starts_with("# ") {
            continue;
        } else {
            wc.mods.push_str(&porcelain_v1(l));
            wc.mods.push('\n');
        }
    }
    wc
}

/// A `git status --porcelain=v2` entry as v1 shows it (`XY path`, `XY orig ->
/// path` for renames); anything else (an error) as it is.
fn porcelain_v1(line: &str) -> String {
    let fields: Vec<&str> = line.split(' ').collect();
    let xy = |f: &str| f.replace('.', " ");
    match fields.first().copied() {
        // 1 XY sub mH mI mW hH hI path
        Some("1") if fields.len() >= 9 => format!("{} {}", xy(fields[1]), fields[8..].join(" ")),
        // 2 XY sub mH mI mW hH hI Xscore path<TAB>orig
        Some("2") if fields.len() >= 10 => {
            let rest = fields[9..].join(" ");
            match rest.split_once('\t') {
                Some((path, orig)) => format!("{} {orig} -> {path}", xy(fields[1])),
                None => format!("{} {rest}", xy(fields[1])),
            }
        }
        // u XY sub m1 m2 m3 mW h1 h2 h3 path
        Some("u") if fields.len() >= 11 => format!("{} {}", xy(fields[1]), fields[10..].join(" ")),
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_v2_reads_head_branch_and_changes_as_v1() {
        let a = "a".repeat(40);
        let text = format!(
            "state=repo\nurl=/srv/git/app.git\n@@mods\n# branch.oid {a}\n# branch.head (detached)\n\
             1 .M N... 100644 100644 100644 {a} {a} my app.py\n\
             2 R. N... 100644 100644 100644 {a} {a} R100 new.py\told.py\n\
             u UU N... 100644 100644 100644 100644 {a} {a} {a} c.txt"
        );
        let lines: Vec<&str> = text.lines().collect();
        let wc = git_head(&lines);
        assert_eq!(wc.head.as_deref(), Some(a.as_str()));
        assert_eq!(wc.branch, None);
        assert_eq!(wc.remote_url.as_deref(), Some("/srv/git/app.git"));
        assert_eq!(wc.mods, " M my app.py\nR  old.py -> new.py\nUU c.txt\n");
        let empty = git_head(&[
            "state=repo",
            "@@mods",
            "# branch.oid (initial)",
            "# branch.head main",
        ]);
        assert_eq!((empty.head, empty.branch.as_deref()), (None, Some("main")));
    }
}
