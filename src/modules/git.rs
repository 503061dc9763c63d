//! git: a working copy at a version (branch, tag, full or short sha; default
//! the remote's HEAD), as Ansible's `git` module.
//!
//! One exec probes the working copy (HEAD, branch, remote url, local
//! modifications) and asks the remote where the version points (`git
//! ls-remote`, skipped when the version is a full sha); the decision is made
//! here. When HEAD is already the target nothing is fetched and no second exec
//! runs. Otherwise one more exec clones, or fetches only what is missing and
//! checks out with `--force` (detached for tags and shas, on the branch for
//! branches, as Ansible).

use serde_json::Value as Json;

use super::fail::{self, Fail};
use super::net::{kv, last_line, one_line};
pub use super::protocol::DestState;
use super::protocol::{
    Action as PAction, Applied, Ctx, Facts, GitHead, GitReq, Module, Need, Plan as PPlan,
};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote as q;

pub static GIT: Spec = Spec::new(
    "git",
    &[
        ArgSpec::new("repo", Kind::Str)
            .required()
            .aliases(&["name"]),
        ArgSpec::new("dest", Kind::Str).required(),
        ArgSpec::new("version", Kind::Str),
        ArgSpec::new("force", Kind::Bool),
        ArgSpec::new("depth", Kind::Int),
        ArgSpec::new("update", Kind::Bool),
        ArgSpec::new("clone", Kind::Bool),
        ArgSpec::new("remote", Kind::Str),
        ArgSpec::new("accept_hostkey", Kind::Bool),
        ArgSpec::new("accept_newhostkey", Kind::Bool),
        ArgSpec::new("key_file", Kind::Str),
        ArgSpec::new("ssh_opts", Kind::Str),
        ArgSpec::new("single_branch", Kind::Bool),
        ArgSpec::new("recursive", Kind::Bool),
        ArgSpec::new("executable", Kind::Str),
        ArgSpec::new("umask", Kind::Str),
    ],
);

pub struct Git;

/// The arguments, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub repo: String,
    pub dest: String,
    pub version: String,
    pub force: bool,
    pub update: bool,
    pub clone: bool,
    pub remote: String,
    pub depth: Option<u32>,
    pub single_branch: bool,
    pub recursive: bool,
}

impl Want {
    fn from_args(args: &Args) -> Result<Want, Fail> {
        let depth = match args.int("depth") {
            None => None,
            Some(d) if d >= 1 && d <= i64::from(u32::MAX) => Some(d as u32),
            Some(d) => return fail::bad_args(format!("depth must be a positive number, got {d}")),
        };
        let version = args.str("version").unwrap_or("HEAD").trim().to_string();
        if version.is_empty() || version.starts_with('-') || version.contains(char::is_whitespace) {
            return fail::bad_args(format!("version '{version}' is not a valid git ref"));
        }
        let remote = args.str("remote").unwrap_or("origin").to_string();
        if remote.is_empty() || remote.starts_with('-') {
            return fail::bad_args(format!("remote '{remote}' is not a valid remote name"));
        }
        Ok(Want {
            repo: args.str("repo").unwrap_or_default().trim().to_string(),
            dest: args.str("dest").unwrap_or_default().to_string(),
            version,
            force: args.bool_or("force", false),
            update: args.bool_or("update", true),
            clone: args.bool_or("clone", true),
            remote,
            depth,
            single_branch: args.bool_or("single_branch", false),
            recursive: args.bool_or("recursive", true),
        })
    }
}

/// The state read: the working copy, and what the refs probe said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub wc: GitHead,
    /// The version resolved in the local repository (`rev-parse VERSION^{commit}`).
    pub local: Option<String>,
    /// `git ls-remote` was run: its exit code and (ref, sha) lines, or its error.
    pub ls_remote: Option<Result<Vec<(String, String)>, String>>,
}

/// The working copy (a `Need::GitHead` fact) with the output of the refs
/// probe (`local=`, `lsrc=`, `ls=`; empty when there is none).
pub fn parse_probe(wc: &GitHead, out: &[u8]) -> Probe {
    // key=value lines, then ls-remote's output as it printed it
    let text = String::from_utf8_lossy(out);
    let (head, ls) = match text.split_once("@@ls\n") {
        Some((h, l)) => (h.to_string(), l.to_string()),
        None => (text.into_owned(), String::new()),
    };
    let m = kv(head.as_bytes());
    let get = |k: &str| {
        m.get(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let ls_remote = m.get("lsrc").map(|rc| {
        if rc.trim() == "0" {
            Ok(parse_ls_remote(&ls))
        } else {
            Err(ls.trim().to_string())
        }
    });
    Probe {
        wc: wc.clone(),
        local: get("local"),
        ls_remote,
    }
}

/// `SHA<TAB>REF` lines (anything else, such as warnings, is skipped).
pub fn parse_ls_remote(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (sha, name) = l.split_once('\t')?;
            is_full_sha(sha).then(|| (name.trim().to_string(), sha.to_string()))
        })
        .collect()
}

pub fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_hex(s: &str) -> bool {
    (4..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the version names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The remote's HEAD.
    Head,
    Branch(String),
    Tag(String),
    /// A commit (full or abbreviated sha).
    Commit(String),
    /// Another ref (`refs/pull/1/head`).
    Ref(String),
}

/// Where the version points: the kind of ref and its sha when known (an
/// abbreviated sha absent from the local repository is known only after fetching).
pub fn resolve(version: &str, probe: &Probe) -> Result<(Target, Option<String>), String> {
    if is_full_sha(version) {
        return Ok((
            Target::Commit(version.to_lowercase()),
            Some(version.to_lowercase()),
        ));
    }
    let refs = match &probe.ls_remote {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            return Err(format!(
                "cannot read the remote repository: {}",
                if e.is_empty() {
                    "git ls-remote failed"
                } else {
                    e
                }
            ));
        }
        None => return Err("the remote repository was not queried".into()),
    };
    let find = |name: &str| refs.iter().find(|(n, _)| n == name).map(|(_, s)| s.clone());
    if version == "HEAD" {
        return match find("HEAD") {
            Some(s) => Ok((Target::Head, Some(s))),
            None => Err("the remote repository has no HEAD (is it empty?)".into()),
        };
    }
    if let Some(s) = find(&format!("refs/heads/{version}")) {
        return Ok((Target::Branch(version.to_string()), Some(s)));
    }
    // An annotated tag: the commit it points to (`^{}`).
    if let Some(s) =
        find(&format!("refs/tags/{version}^{{}}")).or_else(|| find(&format!("refs/tags/{version}")))
    {
        return Ok((Target::Tag(version.to_string()), Some(s)));
    }
    if version.starts_with("refs/")
        && let Some(s) = find(&format!("{version}^{{}}")).or_else(|| find(version))
    {
        return Ok((Target::Ref(version.to_string()), Some(s)));
    }
    if is_hex(version) {
        return Ok((Target::Commit(version.to_lowercase()), probe.local.clone()));
    }
    Err(format!(
        "version '{version}' is neither a branch, a tag nor a commit of the repository"
    ))
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    Clone,
    Update,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub action: Action,
    pub target: Option<Target>,
    /// The sha to check out, when known before fetching.
    pub after: Option<String>,
    pub before: Option<String>,
    pub remote_url_changed: bool,
    /// Discard local modifications (`force`).
    pub reset: bool,
    pub changed: bool,
}

/// Is the url the same repository (trailing slashes and `.git` aside)?
fn same_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let s = s.trim().trim_end_matches('/');
        let s = s.strip_prefix("file://").unwrap_or(s);
        s.trim_end_matches('/').to_string()
    };
    norm(a) == norm(b)
}

/// The pure decision.
pub fn decide(p: &Probe, w: &Want) -> Result<Plan, String> {
    if p.wc.git_missing {
        return Err("git is not installed on the host: install it first (apt: name=git)".into());
    }
    let none = |before: Option<String>| Plan {
        action: Action::None,
        target: None,
        after: before.clone(),
        before,
        remote_url_changed: false,
        reset: false,
        changed: false,
    };
    match p.wc.state {
        DestState::Other => Err(format!(
            "{} exists and is not a git repository (nor an empty directory)",
            w.dest
        )),
        DestState::Absent | DestState::Empty => {
            if !w.clone {
                return Ok(none(None));
            }
            let (target, after) = resolve(&w.version, p)?;
            Ok(Plan {
                action: Action::Clone,
                target: Some(target),
                after,
                before: None,
                remote_url_changed: false,
                reset: false,
                changed: true,
            })
        }
        DestState::Repo => {
            if !w.update {
                return Ok(none(p.wc.head.clone()));
            }
            let has_mods = !p.wc.mods.trim().is_empty();
            if has_mods && !w.force {
                return Err(format!(
                    "Local modifications exist in the destination: {} (force=no). Commit or discard them, or set force: yes to discard them:\n{}",
                    w.dest,
                    p.wc.mods.trim_end()
                ));
            }
            let remote_url_changed =
                p.wc.remote_url
                    .as_deref()
                    .is_none_or(|u| !same_url(u, &w.repo));
            let (target, after) = resolve(&w.version, p)?;
            let moves = after.is_none() || after != p.wc.head;
            let changed = moves || remote_url_changed || has_mods;
            Ok(Plan {
                action: if changed {
                    Action::Update
                } else {
                    Action::None
                },
                target: Some(target),
                after,
                before: p.wc.head.clone(),
                remote_url_changed,
                reset: has_mods,
                changed,
            })
        }
    }
}

/// `export GIT_SSH_COMMAND=...` for key_file, accept_hostkey, ssh_opts; never
/// prompt for credentials.
fn ssh_env(args: &Args) -> String {
    let mut s = String::from("export GIT_TERMINAL_PROMPT=0\n");
    let mut ssh = vec!["ssh".to_string()];
    if let Some(k) = args.str("key_file") {
        ssh.push(format!("-i {} -o IdentitiesOnly=yes", q(k)));
    }
    if args.bool_or("accept_hostkey", false) {
        ssh.push("-o StrictHostKeyChecking=no".into());
    } else if args.bool_or("accept_newhostkey", false) {
        ssh.push("-o StrictHostKeyChecking=accept-new".into());
    }
    if let Some(o) = args.str("ssh_opts") {
        ssh.push(o.to_string());
    }
    if ssh.len() > 1 {
        ssh.insert(1, "-o BatchMode=yes".into());
        s.push_str(&format!("export GIT_SSH_COMMAND={}\n", q(&ssh.join(" "))));
    }
    if let Some(u) = args.str("umask") {
        s.push_str(&format!("umask {}\n", q(u)));
    }
    s
}

/// The refs of a repository that is a local bare directory owned by who runs
/// the probe, read from its files with shell builtins: what `git ls-remote`
/// (its `git-upload-pack`, ~5 ms of the host's CPU) would print for `HEAD` and
/// `refs/heads/$v`, the only lines [`resolve`] reads for a branch or `HEAD`.
/// The function prints nothing and returns 1, and `ls-remote` runs, when the
/// files alone may not say what upload-pack would: a repository path that is
/// not absolute or that git would read elsewhere (`$repo/.git`, a `commondir`),
/// not owned by the user (upload-pack's ownership check), any system or global
/// git configuration or `GIT_CONFIG*`/`GIT_NAMESPACE`/`XDG_CONFIG_HOME` in the
/// environment, a repository configuration that hides refs, includes files or
/// sets extensions (reftable, sha256), a version that is a pattern, a full ref
/// or a tag (ls-remote peels annotated tags), a symbolic ref other than HEAD,
/// anything but a 40-digit sha in a ref.
pub const LOCAL_REFS_FN: &str = r#"# $2 in repository $1 (loose, else packed): 0 and $rs, 1 absent, 2 cannot tell
opsctl_ref() {
  if [ -e "$1/$2" ] || [ -L "$1/$2" ]; then
    [ -f "$1/$2" ] && [ ! -L "$1/$2" ] && [ -r "$1/$2" ] || return 2
    _s=; _x=; read -r _s _x < "$1/$2"
  else
    [ -e "$1/packed-refs" ] || return 1
    [ -f "$1/packed-refs" ] && [ -r "$1/packed-refs" ] || return 2
    _s=; _x=
    while read -r _a _b _c; do
      [ "$_b" = "$2" ] && { _s=$_a; _x=$_c; break; }
    done < "$1/packed-refs"
    [ -n "$_s" ] || return 1
  fi
  case $_s in *[!0-9a-f]*) return 2 ;; esac
  [ ${#_s} = 40 ] && [ -z "$_x" ] || return 2
  rs=$_s
}
opsctl_local_refs() {
  case $repo in /*) ;; *) return 1 ;; esac
  case $v in ''|-*|refs/*|*[][*?\\:~^]*|*..*|*//*|*/|*.lock|*@\{*) return 1 ;; esac
  [ -z "${GIT_CONFIG+x}${GIT_CONFIG_GLOBAL+x}${GIT_CONFIG_SYSTEM+x}${GIT_CONFIG_NOSYSTEM+x}${GIT_CONFIG_COUNT+x}${GIT_CONFIG_PARAMETERS+x}${GIT_NAMESPACE+x}${XDG_CONFIG_HOME+x}" ] || return 1
  for _c in /etc/gitconfig "${HOME:-/}/.gitconfig" "${HOME:-/}/.config/git/config"; do
    [ -e "$_c" ] || [ -L "$_c" ] && return 1
  done
  [ -d "$repo" ] && [ -O "$repo" ] && [ ! -e "$repo/.git" ] && [ ! -L "$repo/.git" ] || return 1
  [ -f "$repo/HEAD" ] && [ ! -L "$repo/HEAD" ] && [ -d "$repo/objects" ] && [ -d "$repo/refs" ] || return 1
  [ ! -e "$repo/commondir" ] && [ -r "$repo/config" ] || return 1
  while IFS= read -r _l || [ -n "$_l" ]; do
    case $_l in *[Hh][Ii][Dd][Ee][Rr][Ee][Ff][Ss]*|*[Ii][Nn][Cc][Ll][Uu][Dd][Ee]*|*[Ee][Xx][Tt][Ee][Nn][Ss][Ii][Oo][Nn][Ss]*|*\\*) return 1 ;; esac
  done < "$repo/config"
  _h=; _t=; _y=; read -r _h _t _y < "$repo/HEAD"
  hs=
  case $_h in
    ref:)
      case $_t in refs/heads/?*) ;; *) return 1 ;; esac
      case $_t in *..*|*//*) return 1 ;; esac
      [ -z "$_y" ] || return 1
      opsctl_ref "$repo" "$_t"
      case $? in 0) hs=$rs ;; 1) ;; *) return 1 ;; esac ;;
    *)
      case $_h in *[!0-9a-f]*) return 1 ;; esac
      [ ${#_h} = 40 ] && [ -z "$_t" ] || return 1
      hs=$_h ;;
  esac
  bs=
  if [ "$v" != HEAD ]; then
    opsctl_ref "$repo" "refs/heads/$v"
    case $? in 0) bs=$rs ;; 1) ;; *) return 1 ;; esac
    # no branch: a tag of that name is ls-remote's to read (it peels)
    if [ -z "$bs" ]; then
      opsctl_ref "$repo" "refs/tags/$v"
      [ $? = 1 ] || return 1
    fi
  fi
  echo lsrc=0; echo lsby=files; echo @@ls
  [ -z "$hs" ] || printf '%s\tHEAD\n' "$hs"
  [ -z "$bs" ] || printf '%s\trefs/heads/%s\n' "$bs" "$v"
}
"#;

/// The read of the remote's refs (`git ls-remote`, skipped for a full sha; a
/// local bare repository's branch or HEAD from its files, [`LOCAL_REFS_FN`])
/// and of an abbreviated sha in the local repository; `None` when neither is
/// needed.
pub fn probe_script(w: &Want, exe: &str, prelude: &str) -> Option<String> {
    let ls = if is_full_sha(&w.version) {
        String::new()
    } else {
        let pattern = if w.version == "HEAD" {
            "HEAD".to_string()
        } else {
            w.version.clone()
        };
        format!(
            "{LOCAL_REFS_FN}if ! opsctl_local_refs; then\n\
             ls=$(\"$G\" ls-remote -- \"$repo\" HEAD {} {} 2>&1); echo \"lsrc=$?\"\necho @@ls\nprintf '%s\\n' \"$ls\"\nfi\n",
            q(&pattern),
            q(&format!("{pattern}^{{}}"))
        )
    };
    let local = if is_hex(&w.version) && !is_full_sha(&w.version) {
        "[ -e \"$d/.git\" ] && printf 'local=%s\\n' \"$(\"$G\" -C \"$d\" rev-parse -q --verify \"$v^{commit}\" 2>/dev/null)\"\n"
    } else {
        ""
    };
    if ls.is_empty() && local.is_empty() {
        return None;
    }
    Some(format!(
        r#"# opsctl git: refs for {shown}
{prelude}G={exe}; d={dest}; v={version}; repo={repo}
command -v "$G" >/dev/null 2>&1 || exit 0
{local}{ls}"#,
        dest = q(&w.dest),
        shown = one_line(&w.dest),
        exe = q(exe),
        version = q(&w.version),
        repo = q(&w.repo),
    ))
}

/// The script that clones or updates, printing `after=SHA`.
pub fn change_script(w: &Want, p: &Probe, plan: &Plan, exe: &str, prelude: &str) -> String {
    let depth = w.depth.map(|d| format!(" --depth {d}")).unwrap_or_default();
    let target = plan.target.clone().unwrap_or(Target::Head);
    let mut s = format!(
        r#"# opsctl git: {what} {shown}
{prelude}G={exe}; d={dest}; r={remote}; v={version}; repo={repo}; t={after}
die() {{ echo "error=$1"; exit 1; }}
"#,
        what = if plan.action == Action::Clone {
            "clone into"
        } else {
            "update"
        },
        dest = q(&w.dest),
        shown = one_line(&w.dest),
        exe = q(exe),
        remote = q(&w.remote),
        version = q(&w.version),
        repo = q(&w.repo),
        after = q(plan.after.as_deref().unwrap_or("")),
    );
    // Fetch what the target needs, unless it is already in the repository.
    let fetch = match &target {
        Target::Head => format!("\"$G\" fetch -q --force{depth} \"$r\" HEAD || die fetch\n"),
        Target::Branch(_) => format!(
            "\"$G\" fetch -q --force{depth} \"$r\" \"+refs/heads/$v:refs/remotes/$r/$v\" || die fetch\n"
        ),
        Target::Tag(_) => {
            format!(
                "\"$G\" fetch -q --force{depth} \"$r\" \"+refs/tags/$v:refs/tags/$v\" || die fetch\n"
            )
        }
        Target::Ref(_) => format!("\"$G\" fetch -q --force{depth} \"$r\" \"$v\" || die fetch\n"),
        Target::Commit(_) => format!(
            "\"$G\" fetch -q --force --tags{depth} \"$r\" || die fetch\n\"$G\" cat-file -e \"$v^{{commit}}\" 2>/dev/null || {{ [ ${{#v}} = 40 ] && \"$G\" fetch -q{depth} \"$r\" \"$v\"; }} 2>/dev/null\n"
        ),
    };
    let resolve = "[ -n \"$t\" ] || t=$(\"$G\" rev-parse -q --verify \"$v^{commit}\") || die resolve\n\"$G\" cat-file -e \"$t^{commit}\" 2>/dev/null || die resolve\n";
    let checkout = match (&target, p.wc.branch.as_deref()) {
        (Target::Branch(_), _) => "\"$G\" checkout -q --force -B \"$v\" \"$t\" || die checkout\n\"$G\" branch -q --set-upstream-to=\"$r/$v\" \"$v\" >/dev/null 2>&1 || :\n".to_string(),
        (Target::Head, Some(b)) if plan.action == Action::Update => format!(
            "\"$G\" checkout -q --force -B {} \"$t\" || die checkout\n",
            q(b)
        ),
        _ => "\"$G\" checkout -q --force --detach \"$t\" || die checkout\n".to_string(),
    };
    let submodules = if w.recursive {
        format!(
            "if [ -f .gitmodules ]; then \"$G\" submodule -q update --init --recursive{depth} || die submodules; fi\n"
        )
    } else {
        String::new()
    };
    match plan.action {
        Action::Clone => {
            let mut opts = depth.clone();
            if w.single_branch {
                opts.push_str(" --single-branch");
            } else if w.depth.is_some() {
                opts.push_str(" --no-single-branch");
            }
            if matches!(target, Target::Branch(_) | Target::Tag(_)) {
                opts.push_str(" --branch \"$v\"");
            }
            s.push_str(&format!(
                "mkdir -p -- \"$(dirname -- \"$d\")\" || die mkdir\n\"$G\" clone -q --no-checkout{opts} --origin \"$r\" -- \"$repo\" \"$d\" || die clone\ncd \"$d\" || die clone\n"
            ));
            if matches!(target, Target::Commit(_) | Target::Ref(_)) {
                s.push_str(
                    "if [ -z \"$t\" ] || ! \"$G\" cat-file -e \"$t^{commit}\" 2>/dev/null; then\n",
                );
                s.push_str(&fetch);
                s.push_str("fi\n");
            }
            s.push_str(resolve);
            // A clone of a branch or of HEAD stays on its branch.
            let co = match &target {
                Target::Head => "b=$(\"$G\" symbolic-ref -q --short HEAD) && \"$G\" checkout -q --force -B \"$b\" \"$t\" || \"$G\" checkout -q --force --detach \"$t\" || die checkout\n".to_string(),
                _ => checkout,
            };
            s.push_str(&co);
        }
        Action::Update => {
            s.push_str("cd \"$d\" || die cd\n");
            if plan.remote_url_changed {
                s.push_str("\"$G\" remote set-url \"$r\" \"$repo\" 2>/dev/null || \"$G\" remote add \"$r\" \"$repo\" || die remote\n");
            }
            if plan.reset {
                s.push_str("\"$G\" reset -q --hard || die reset\n");
            }
            s.push_str(
                "if [ -z \"$t\" ] || ! \"$G\" cat-file -e \"$t^{commit}\" 2>/dev/null; then\n",
            );
            s.push_str(&fetch);
            s.push_str("fi\n");
            s.push_str(resolve);
            s.push_str(&checkout);
        }
        Action::None => {}
    }
    s.push_str(&submodules);
    s.push_str("printf 'after=%s\\n' \"$(\"$G\" rev-parse HEAD)\"\n");
    s
}

fn prepare(args: &Args) -> Result<(Want, String, String), Fail> {
    let w = Want::from_args(args)?;
    if w.repo.is_empty() || w.dest.is_empty() {
        return fail::bad_args("repo and dest must not be empty");
    }
    let exe = args.str("executable").unwrap_or("git").to_string();
    Ok((w, exe, ssh_env(args)))
}

fn wc_req(w: &Want, exe: &str) -> GitReq {
    GitReq {
        dest: w.dest.clone(),
        exe: exe.to_string(),
        remote: w.remote.clone(),
    }
}

fn sha(s: &Option<String>) -> Json {
    s.clone().map(Json::String).unwrap_or(Json::Null)
}

/// The diff of HEAD, before and after (or the version when known on apply only).
fn head_diff(w: &Want, before: Option<&str>, after: Option<&str>) -> Diff {
    Diff::new(
        format!("git {}", w.dest),
        before.map(|b| format!("{b}\n")).unwrap_or_default(),
        after
            .map(|a| format!("{a}\n"))
            .unwrap_or_else(|| format!("{} (fetched on apply)\n", w.version)),
    )
}

impl Module for Git {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let (w, exe, prelude) = prepare(args)?;
        let mut n = vec![Need::GitHead(wc_req(&w, &exe))];
        n.extend(probe_script(&w, &exe, &prelude).map(Need::Probe));
        Ok(n)
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<PPlan, Fail> {
        let (w, exe, prelude) = prepare(args)?;
        let wc = facts.git(&wc_req(&w, &exe))?;
        let refs = match probe_script(&w, &exe, &prelude) {
            Some(script) => {
                let out = facts.probe(&script)?;
                if !out.success() {
                    return fail::fail(format!(
                        "could not inspect {}: {}",
                        w.dest,
                        last_line(&out.stderr_str())
                    ));
                }
                out.stdout.clone()
            }
            None => Vec::new(),
        };
        let p = parse_probe(wc, &refs);
        let plan = decide(&p, &w).map_err(Fail::Task)?;
        let mut o = if plan.changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        };
        if plan.changed && ctx.diff {
            o.diffs
                .push(head_diff(&w, plan.before.as_deref(), plan.after.as_deref()));
        }
        o = o
            .with("before", sha(&plan.before))
            .with("after", sha(&plan.after));
        if p.wc.state == DestState::Repo {
            o = o.with("remote_url_changed", plan.remote_url_changed);
        }
        if plan.reset {
            o = o.msg(format!(
                "Local modifications exist in the destination: {}",
                w.dest
            ));
        }
        if !plan.changed {
            return Ok(PPlan::Done(o));
        }
        Ok(PPlan::change(
            o,
            PAction::Script {
                script: change_script(&w, &p, &plan, &exe, &prelude),
                stdin: None,
            },
        ))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        ctx: &Ctx,
    ) -> Result<Outcome, Fail> {
        let Applied::Script(out) = result else {
            return Ok(planned);
        };
        let (w, _, _) = prepare(args)?;
        let m = kv(&out.stdout);
        if !out.success() {
            let step = m.get("error").map(String::as_str).unwrap_or("update");
            let detail = out.stderr_str();
            let why = match step {
                "resolve" => format!(
                    "version '{}' was not found in {} after fetching",
                    w.version, w.repo
                ),
                _ => format!("git {step} failed in {}: {}", w.dest, last_line(&detail)),
            };
            return fail::fail(why);
        }
        let mut o = planned;
        let after = m
            .get("after")
            .map(|s| s.trim().to_string())
            .filter(|s| is_full_sha(s));
        let before = o
            .data
            .get("before")
            .and_then(Json::as_str)
            .map(str::to_string);
        let url_changed = o.data.get("remote_url_changed") == Some(&Json::Bool(true));
        // A sha resolved only by the fetch may turn out to be HEAD already.
        if before.is_some() && after == before && !url_changed && o.msg.is_none() {
            o.changed = false;
        }
        if ctx.diff {
            o.diffs = vec![head_diff(&w, before.as_deref(), after.as_deref())];
        }
        Ok(o.with("after", sha(&after)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const T: &str = "3333333333333333333333333333333333333333";

    fn want(version: &str) -> Want {
        Want {
            repo: "/srv/git/app.git".into(),
            dest: "/srv/app".into(),
            version: version.into(),
            force: false,
            update: true,
            clone: true,
            remote: "origin".into(),
            depth: None,
            single_branch: false,
            recursive: true,
        }
    }

    fn repo_at(head: &str) -> Probe {
        Probe {
            wc: GitHead {
                git_missing: false,
                state: DestState::Repo,
                head: Some(head.into()),
                branch: Some("main".into()),
                remote_url: Some("/srv/git/app.git".into()),
                mods: String::new(),
            },
            local: None,
            ls_remote: Some(Ok(vec![
                ("HEAD".into(), B.into()),
                ("refs/heads/main".into(), B.into()),
                ("refs/tags/v1".into(), T.into()),
                ("refs/tags/v1^{}".into(), A.into()),
            ])),
        }
    }

    #[test]
    fn parses_the_probe() {
        let head = format!(
            "state=repo\nurl=/srv/git/app.git\n@@mods\n# branch.oid {A}\n# branch.head main\n1 .M N... 100644 100644 100644 {A} {A} app.py"
        );
        let lines: Vec<&str> = head.lines().collect();
        let wc = crate::modules::gitfacts::git_head(&lines);
        let out = format!("local=\nlsrc=0\n@@ls\nwarning: x\n{B}\tHEAD\n{B}\trefs/heads/main\n");
        let p = parse_probe(&wc, out.as_bytes());
        assert_eq!(p.wc.state, DestState::Repo);
        assert_eq!(p.wc.head.as_deref(), Some(A));
        assert_eq!(p.wc.branch.as_deref(), Some("main"));
        assert_eq!(p.wc.remote_url.as_deref(), Some("/srv/git/app.git"));
        assert_eq!(p.wc.mods, " M app.py\n");
        assert_eq!(p.local, None);
        assert_eq!(
            p.ls_remote,
            Some(Ok(vec![
                ("HEAD".into(), B.into()),
                ("refs/heads/main".into(), B.into())
            ]))
        );
        let wc = crate::modules::gitfacts::git_head(&["state=absent"]);
        let p = parse_probe(&wc, b"lsrc=128\n@@ls\nfatal: nope\n");
        assert_eq!(p.wc.state, DestState::Absent);
        assert_eq!(p.ls_remote, Some(Err("fatal: nope".into())));
        let wc = crate::modules::gitfacts::git_head(&["nogit=1"]);
        assert!(parse_probe(&wc, b"").wc.git_missing);
    }

    #[test]
    fn resolves_branches_tags_and_shas() {
        let p = repo_at(A);
        assert_eq!(resolve("HEAD", &p).unwrap(), (Target::Head, Some(B.into())));
        assert_eq!(
            resolve("main", &p).unwrap(),
            (Target::Branch("main".into()), Some(B.into()))
        );
        // an annotated tag resolves to its commit
        assert_eq!(
            resolve("v1", &p).unwrap(),
            (Target::Tag("v1".into()), Some(A.into()))
        );
        assert_eq!(
            resolve(A, &p).unwrap(),
            (Target::Commit(A.into()), Some(A.into()))
        );
        let mut p2 = p.clone();
        p2.local = Some(A.into());
        assert_eq!(
            resolve("1111111", &p2).unwrap(),
            (Target::Commit("1111111".into()), Some(A.into()))
        );
        assert_eq!(
            resolve("abcdef0", &p).unwrap(),
            (Target::Commit("abcdef0".into()), None)
        );
        assert!(
            resolve("nosuch", &p)
                .unwrap_err()
                .contains("neither a branch, a tag nor a commit")
        );
        let mut p3 = p.clone();
        p3.ls_remote = Some(Err("fatal: could not read from remote".into()));
        assert!(
            resolve("main", &p3)
                .unwrap_err()
                .contains("could not read from remote")
        );
        // a full sha needs no remote
        assert!(resolve(A, &p3).is_ok());
    }

    #[test]
    fn decides() {
        // at the target: nothing to do, nothing fetched
        let plan = decide(&repo_at(B), &want("main")).unwrap();
        assert_eq!((plan.action.clone(), plan.changed), (Action::None, false));
        let plan = decide(&repo_at(A), &want(A)).unwrap();
        assert!(!plan.changed);
        // elsewhere: update
        let plan = decide(&repo_at(A), &want("main")).unwrap();
        assert_eq!(plan.action, Action::Update);
        assert_eq!(
            (plan.before.as_deref(), plan.after.as_deref()),
            (Some(A), Some(B))
        );
        // local modifications: refused without force, reset with it
        let mut p = repo_at(B);
        p.wc.mods = " M app.py\n".into();
        let e = decide(&p, &want("main")).unwrap_err();
        assert!(
            e.contains("Local modifications exist") && e.contains("app.py"),
            "{e}"
        );
        let w = Want {
            force: true,
            ..want("main")
        };
        let plan = decide(&p, &w).unwrap();
        assert!(plan.changed && plan.reset);
        // another url
        let mut p = repo_at(B);
        p.wc.remote_url = Some("/elsewhere.git".into());
        let plan = decide(&p, &want("main")).unwrap();
        assert!(plan.changed && plan.remote_url_changed);
        let mut p = repo_at(B);
        p.wc.remote_url = Some("file:///srv/git/app.git/".into());
        assert!(!decide(&p, &want("main")).unwrap().changed);
        // update: no
        let w = Want {
            update: false,
            ..want("main")
        };
        let plan = decide(&repo_at(A), &w).unwrap();
        assert!(!plan.changed && plan.after.as_deref() == Some(A));
        // absent: clone (or not)
        let mut p = repo_at(A);
        p.wc.state = DestState::Absent;
        p.wc.head = None;
        let plan = decide(&p, &want("v1")).unwrap();
        assert_eq!(
            (plan.action, plan.after.as_deref()),
            (Action::Clone, Some(A))
        );
        let w = Want {
            clone: false,
            ..want("v1")
        };
        assert!(!decide(&p, &w).unwrap().changed);
        p.wc.state = DestState::Other;
        assert!(
            decide(&p, &want("v1"))
                .unwrap_err()
                .contains("not a git repository")
        );
        let mut p = repo_at(A);
        p.wc.git_missing = true;
        assert!(
            decide(&p, &want("main"))
                .unwrap_err()
                .contains("git is not installed")
        );
    }

    /// A local bare repository: the refs read from its files resolve every
    /// version as `git ls-remote` does (real git; packed and loose refs, HEAD
    /// detached and unborn), and a tag or a pattern is left to ls-remote.
    #[test]
    fn a_local_bare_repository_reads_as_ls_remote_does() {
        use std::process::Command;
        let t = tempfile::tempdir().unwrap();
        let (home, xdg) = (t.path().join("home"), t.path().join("xdg"));
        std::fs::create_dir_all(&home).unwrap();
        let repo = t.path().join("r.git");
        let git = |args: &[&str]| {
            let o = Command::new("git")
                .args(args)
                .env("HOME", &home)
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@t")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@t")
                .output()
                .unwrap();
            assert!(o.status.success(), "git {args:?}: {o:?}");
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let r = repo.to_str().unwrap();
        let w = t.path().join("w");
        let wd = w.to_str().unwrap();
        git(&["init", "-q", "--bare", "-b", "main", r]);
        git(&["init", "-q", "-b", "main", wd]);
        git(&["-C", wd, "commit", "-q", "--allow-empty", "-m", "one"]);
        git(&["-C", wd, "tag", "-a", "-m", "t", "v1"]);
        git(&["-C", wd, "commit", "-q", "--allow-empty", "-m", "two"]);
        git(&[
            "-C",
            wd,
            "push",
            "-q",
            r,
            "main",
            "main:refs/heads/dev",
            "v1",
        ]);
        let probe = |version: &str, files: bool| {
            let want = Want {
                repo: r.to_string(),
                ..want(version)
            };
            // this machine's system configuration stays out of both reads
            let script = probe_script(&want, "git", "")
                .unwrap()
                .replace("/etc/gitconfig", &format!("{r}/no-system-config"));
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(&script).env("HOME", &home);
            if files {
                c.env_remove("XDG_CONFIG_HOME")
                    .env_remove("GIT_CONFIG_NOSYSTEM");
            } else {
                // either sends the probe to ls-remote
                c.env("XDG_CONFIG_HOME", &xdg)
                    .env("GIT_CONFIG_NOSYSTEM", "1");
            }
            let out = c.output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let p = parse_probe(&GitHead::default(), out.stdout.as_slice());
            (text.contains("lsby=files"), resolve(version, &p))
        };
        let check = |version: &str, by_files: bool| {
            let (files, a) = probe(version, true);
            let (_, b) = probe(version, false);
            assert_eq!(a, b, "{version}");
            assert_eq!(files, by_files, "{version}: read from the files?");
        };
        for (v, files) in [
            ("main", true),
            ("HEAD", true),
            ("dev", true),
            ("nope", true),
        ] {
            check(v, files);
        }
        check("v1", false);
        check("ma*", false);
        git(&["--git-dir", r, "pack-refs", "--all"]);
        check("main", true);
        check("dev", true);
        let head = git(&["--git-dir", r, "rev-parse", "dev"]);
        std::fs::write(repo.join("HEAD"), format!("{head}\n")).unwrap();
        check("HEAD", true);
        std::fs::write(repo.join("HEAD"), "ref: refs/heads/unborn\n").unwrap();
        check("HEAD", true);
        check("main", true);
        // refs the repository hides from upload-pack: ls-remote's to say
        let cfg = std::fs::read_to_string(repo.join("config")).unwrap();
        std::fs::write(
            repo.join("config"),
            format!("{cfg}[uploadpack]\n\thideRefs = refs/heads/dev\n"),
        )
        .unwrap();
        check("dev", false);
        assert!(probe("dev", true).1.is_err(), "dev is hidden");
    }

    #[test]
    fn scripts_quote_values() {
        let w = Want {
            dest: "/srv/my app".into(),
            ..want("main")
        };
        let s = probe_script(&w, "git", "").unwrap();
        assert!(s.contains("d='/srv/my app'"), "{s}");
        assert!(
            s.contains("ls-remote -- \"$repo\" HEAD main 'main^{}'"),
            "{s}"
        );
        assert_eq!(
            probe_script(&want(A), "git", ""),
            None,
            "no remote query for a full sha"
        );
        let plan = decide(&repo_at(A), &want("main")).unwrap();
        let s = change_script(&want("main"), &repo_at(A), &plan, "git", "");
        assert!(
            s.contains("+refs/heads/$v:refs/remotes/$r/$v") && s.contains("checkout -q --force -B"),
            "{s}"
        );
        assert!(s.contains(&format!("t={B}")), "{s}");
    }
}
