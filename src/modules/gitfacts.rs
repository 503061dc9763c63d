//! Git working copies as facts (`Need::GitHead`): one shell function run for
//! every working copy the next tasks ask about, in one section of the gather
//! exec, and the parsing of what it prints.

use std::collections::HashMap;

use super::fail::{self, Fail};
use super::protocol::{DestState, GitHead, GitReq};
use crate::transport::{Output, shell_quote};

/// The remote's URL from the working copy's `.git/config` with shell builtins,
/// when that file alone says what `git config --get remote.R.url` prints: the
/// repository's own file is read last and its last value wins, so the system
/// and global files cannot change it. Anything it cannot read as git would
/// (git's environment, another owner, a `.git` that is not a plain repository
/// directory, includes, worktree configuration, escapes, continuations, quotes,
/// comments or tabs in the value, an old-style `[remote.R]` header, no URL in
/// the file) returns 1 and `git config` reads it.
const URL_FN: &str = r#"# the url of remote $2 in working copy $1 from its .git/config alone, when that
# file says what `git config --get` would (its last value wins over the system
# and global files); else 1 and git reads it
opsctl_git_url() {
  [ -z "${GIT_DIR+x}${GIT_WORK_TREE+x}${GIT_COMMON_DIR+x}${GIT_CONFIG+x}${GIT_CONFIG_COUNT+x}${GIT_CONFIG_PARAMETERS+x}" ] || return 1
  _g=$1/.git
  [ -d "$_g" ] && [ ! -L "$_g" ] && [ -O "$1" ] && [ -O "$_g" ] || return 1
  [ -f "$_g/HEAD" ] && [ -d "$_g/objects" ] && [ -d "$_g/refs" ] && [ ! -e "$_g/commondir" ] || return 1
  _a=; _b=; read -r _a _b < "$_g/HEAD"
  case $_a in
    ref:) case $_b in refs/*) ;; *) return 1 ;; esac ;;
    *) case $_a in *[!0-9a-f]*) return 1 ;; esac; [ ${#_a} = 40 ] || return 1 ;;
  esac
  [ -f "$_g/config" ] && [ -r "$_g/config" ] || return 1
  _in=; _url=; _found=
  while IFS= read -r _l || [ -n "$_l" ]; do
    case $_l in *\\*|*"$cr"*|*[Ww][Oo][Rr][Kk][Tt][Rr][Ee][Ee][Cc][Oo][Nn][Ff][Ii][Gg]*|*[Ii][Nn][Cc][Ll][Uu][Dd][Ee]*) return 1 ;; esac
    _l=${_l#"${_l%%[! {TAB}]*}"}
    case $_l in
      ''|'#'*|';'*) continue ;;
      '['*)
        _in=
        case $_l in *']') ;; *) return 1 ;; esac
        case $_l in
          '['[Rr][Ee][Mm][Oo][Tt][Ee]' "'*'"]')
            _s=${_l#*\"}; _s=${_s%\"]}
            case $_s in *\"*) return 1 ;; esac
            [ "$_s" = "$2" ] && _in=1 ;;
          '['[Rr][Ee][Mm][Oo][Tt][Ee]*) return 1 ;;
        esac
        continue ;;
    esac
    [ -n "$_in" ] || continue
    _k=${_l%%=*}
    _k=${_k%"${_k##*[! {TAB}]}"}
    case $_k in [Uu][Rr][Ll]) ;; *) continue ;; esac
    case $_l in *=*) ;; *) return 1 ;; esac
    _v=${_l#*=}
    _v=${_v#"${_v%%[! {TAB}]*}"}
    _v=${_v%"${_v##*[! {TAB}]}"}
    case $_v in *[\"\;#\{TAB}]*) return 1 ;; esac
    _url=$_v; _found=1
  done < "$_g/config"
  [ -n "$_found" ] || return 1
  printf 'url=%s\n' "$_url"
}
"#;

/// One shell function reading a working copy, called for each: `@git N` opens
/// the lines of the Nth. One git process a working copy: `status
/// --porcelain=v2 --branch` (HEAD, branch and local modifications, without
/// taking the index lock); the remote's URL from `.git/config` ([`URL_FN`]),
/// else `git config`; the modifications follow `@@mods` as git prints them.
pub fn script(gits: &[GitReq]) -> String {
    // a carriage return, written as itself: `$(printf '\r')` would fork
    let mut s = String::from("# opsctl: git working copies\ncr='\r'\n");
    s.push_str(&URL_FN.replace("{TAB}", "\t"));
    s.push_str(
        r#"opsctl_git() {
  G=$1; d=$2; r=$3
  command -v "$G" >/dev/null 2>&1 || { echo nogit=1; return 0; }
  if [ -e "$d/.git" ]; then
    echo state=repo
    opsctl_git_url "$d" "$r" || printf 'url=%s\n' "$("$G" -C "$d" config --get "remote.$r.url")"
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

    /// The URL read from `.git/config` is `git config --get`'s (real git) for
    /// each configuration; what the file alone cannot say is left to git.
    #[test]
    fn the_remote_url_from_the_config_file_is_gits() {
        use std::process::Command;
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("wc");
        let ds = d.to_str().unwrap();
        let git = |args: &[&str]| {
            let o = Command::new("git").args(args).output().unwrap();
            assert!(o.status.success(), "git {args:?}: {o:?}");
            String::from_utf8_lossy(&o.stdout)
                .trim_end_matches('\n')
                .to_string()
        };
        git(&["init", "-q", "-b", "main", ds]);
        git(&["-C", ds, "remote", "add", "origin", "/srv/git/app.git"]);
        let base = std::fs::read_to_string(d.join(".git/config")).unwrap();
        let req = GitReq {
            exe: "git".into(),
            dest: ds.into(),
            remote: "origin".into(),
        };
        // (the config after the default one, read from the file?)
        let cases = [
            ("", true),
            ("[remote \"origin\"]\n\turl = /srv/other.git  \n", true),
            (
                "[Remote \"origin\"]\n  URL=/srv/with  two spaces.git\n",
                true,
            ),
            ("[remote \"up\"]\n\turl = /srv/up.git\n", true),
            ("[remote \"origin\"]\n\turl = \"/srv/quoted.git\"\n", false),
            ("[remote \"origin\"]\n\turl = /srv/a.git # comment\n", false),
            ("[remote \"origin\"]\n\turl = /srv/a\\\n.git\n", false),
            ("[remote.origin]\n\turl = /srv/old.git\n", false),
            ("[include]\n\tpath = /nonexistent\n", false),
            ("[remote \"origin\"]\r\n\turl = /srv/crlf.git\r\n", false),
        ];
        for (extra, by_file) in cases {
            std::fs::write(d.join(".git/config"), format!("{base}{extra}")).unwrap();
            let out = Command::new("/bin/sh")
                .arg("-c")
                .arg(format!(
                    "{}\nopsctl_git_url {ds} origin",
                    URL_FN.replace("{TAB}", "\t").replace("\"$cr\"", "'\r'")
                ))
                .output()
                .unwrap();
            let mine = String::from_utf8_lossy(&out.stdout).into_owned();
            assert_eq!(out.status.success(), by_file, "{extra:?}: {mine}");
            let wc = parse(
                std::slice::from_ref(&req),
                &Output {
                    rc: Some(0),
                    stdout: Command::new("/bin/sh")
                        .arg("-c")
                        .arg(script(std::slice::from_ref(&req)))
                        .output()
                        .unwrap()
                        .stdout,
                    stderr: Vec::new(),
                },
            )
            .unwrap();
            let theirs = git(&["-C", ds, "config", "--get", "remote.origin.url"]);
            assert_eq!(
                wc[&req].remote_url.as_deref().unwrap_or(""),
                theirs,
                "{extra:?}"
            );
            if by_file {
                assert_eq!(mine, format!("url={theirs}\n"), "{extra:?}");
            }
        }
    }

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
