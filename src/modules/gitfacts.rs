//! Git working copies as facts (`Need::GitHead`): one shell function run for
//! every working copy the next tasks ask about, in one section of the gather
//! exec, and the parsing of what it prints.

use std::collections::HashMap;

use super::fail::{self, Fail};
use super::protocol::{DestState, GitHead, GitReq};
use crate::transport::{Output, shell_quote};

/// One shell function reading a working copy, called for each: `@git N` opens
/// the key=value lines of the Nth.
pub fn script(gits: &[GitReq]) -> String {
    let mut s = String::from(
        r#"# opsctl: git working copies
opsctl_git() {
  G=$1; d=$2; r=$3
  command -v "$G" >/dev/null 2>&1 || { echo nogit=1; return 0; }
  if [ -e "$d/.git" ]; then
    echo state=repo
    printf 'head=%s\n' "$("$G" -C "$d" rev-parse -q --verify HEAD 2>/dev/null)"
    printf 'branch=%s\n' "$("$G" -C "$d" symbolic-ref -q --short HEAD 2>/dev/null)"
    printf 'url=%s\n' "$("$G" -C "$d" config --get "remote.$r.url" | base64 -w0)"
    printf 'mods=%s\n' "$("$G" -C "$d" status --porcelain --untracked-files=no 2>&1 | base64 -w0)"
  elif [ -d "$d" ]; then
    if [ -z "$(ls -A -- "$d")" ]; then echo state=empty; else echo state=other; fi
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
    let get = |k: &str| {
        lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(|v| v.trim_end_matches('\r'))
    };
    let text = |k: &str| get(k).map(str::trim).filter(|s| !s.is_empty());
    let unb64 = |k: &str| {
        use base64::Engine;
        let raw = get(k).unwrap_or_default().trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    GitHead {
        git_missing: get("nogit").is_some(),
        state: match get("state") {
            Some("repo") => DestState::Repo,
            Some("empty") => DestState::Empty,
            Some("other") => DestState::Other,
            _ => DestState::Absent,
        },
        head: text("head").map(str::to_string),
        branch: text("branch").map(str::to_string),
        remote_url: Some(unb64("url").trim().to_string()).filter(|s| !s.is_empty()),
        mods: unb64("mods"),
    }
}
