//! Shared code of the file modules (file, copy, template, stat, lineinfile,
//! blockinfile, replace, slurp).
//!
//! * One fixed POSIX `sh` script, [`SCRIPT`], interprets a manifest of [`Op`]s
//!   sent on stdin: probes of paths ([`Req`]) and changes (atomic writes,
//!   mkdir, chmod, chown, links, removal, touch). Paths and strings travel
//!   base64-encoded in the manifest, file content raw after its `W` line, so the
//!   script stays small whatever the number of files and nothing is ever quoted
//!   into it (except a `validate` command, which is the user's shell code).
//! * The script prints `key=value` lines, one `@@` line before each probed path;
//!   [`parse_output`] reads them into [`Stat`]s.
//! * Pure helpers decide: [`ModeSpec`] (octal and symbolic modes, computed from
//!   the current mode exactly as Ansible does, `X` included), [`Attrs`] (owner,
//!   group, mode), [`decide_file`] (a whole regular file: content by sha256,
//!   then attributes).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value as Json, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::protocol::{Action, Applied, Facts, Need, Plan};
use super::{Args, Diff, HostEnv, ModuleError, Outcome};
use crate::transport::Output;

/// Python `re` semantics on the `regex` crate (the template engine's helper).
pub(crate) use crate::template::pyregex;

/// Contents larger than this are not shown in diffs.
pub const DIFF_CAP: u64 = 1 << 20;

// ---------------------------------------------------------------------------
// Failures

/// Why a file module stopped: a task failure the user can act on, or a module
/// error (bad arguments, unreachable host).
#[derive(Debug)]
pub enum Fail {
    Task(String),
    Module(ModuleError),
}

impl From<ModuleError> for Fail {
    fn from(e: ModuleError) -> Fail {
        Fail::Module(e)
    }
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail::Task(s)
    }
}

/// A task failure.
pub fn fail<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Task(msg.into()))
}

/// Bad arguments.
pub fn bad_args<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Module(ModuleError::Args(msg.into())))
}

/// Turns a module body's result into what the runner expects.
pub fn finish(r: Result<Outcome, Fail>) -> Result<Outcome, ModuleError> {
    match r {
        Ok(o) => Ok(o),
        Err(Fail::Task(msg)) => Ok(Outcome::failed(msg)),
        Err(Fail::Module(e)) => Err(e),
    }
}

/// The hint added to permission errors when not running as root.
pub fn become_hint(host: &HostInfo) -> String {
    if host.uid == 0 {
        String::new()
    } else {
        let who = if host.user.is_empty() {
            format!("uid {}", host.uid)
        } else {
            host.user.clone()
        };
        format!(" (running as {who}: add `become: true` to the task or play)")
    }
}

// ---------------------------------------------------------------------------
// Checksums and text helpers

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn sha1_hex(data: &[u8]) -> String {
    hex(&Sha1::digest(data))
}

pub fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

/// Text of a file for a diff: placeholders for large or binary content.
pub fn diff_text(content: &[u8], truncated: bool) -> String {
    if truncated || content.len() as u64 > DIFF_CAP {
        return "(file too large to diff)\n".into();
    }
    match std::str::from_utf8(content) {
        Ok(s) if !s.contains('\0') => s.to_string(),
        _ => "(binary file)\n".into(),
    }
}

/// The directory part of a remote path (`/a/b` -> `/a`, `b` -> `.`).
pub fn parent_of(path: &str) -> String {
    let t = path.trim_end_matches('/');
    match t.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => t[..i].trim_end_matches('/').to_string(),
        None if path.starts_with('/') => "/".into(),
        None => ".".into(),
    }
}

/// The last component of a path (`/a/b/` -> `b`).
pub fn basename(path: &str) -> String {
    let t = path.trim_end_matches('/');
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// `dir` + `/` + `name`.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

// ---------------------------------------------------------------------------
// Modes

const PERM_BITS: u32 = 0o7777;
const S_IRWXU: u32 = 0o700;
const S_IRWXG: u32 = 0o070;
const S_IRWXO: u32 = 0o007;
const EXEC_BITS: u32 = 0o111;

/// A requested mode: octal, or symbolic clauses (`u=rw,g=r,o=r`, `u+x,go-w`,
/// `a+X`) applied to the current mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSpec {
    Octal(u32),
    Symbolic(String),
}

impl ModeSpec {
    /// From a `mode:` argument: an integer is the mode itself (YAML `0644` is
    /// read as octal, like Ansible), a string of octal digits is octal
    /// (`"0644"`, `"644"`), anything else must be symbolic.
    pub fn from_json(v: &Json) -> Result<ModeSpec, String> {
        match v {
            Json::Number(n) => match n.as_u64() {
                Some(m) if m <= PERM_BITS as u64 => Ok(ModeSpec::Octal(m as u32)),
                _ => Err(format!(
                    "mode {n} is not a valid file mode (write it as a quoted octal string such as '0644')"
                )),
            },
            Json::String(s) => ModeSpec::parse(s),
            other => Err(format!(
                "mode must be a string such as '0644' or 'u=rw,g=r,o=r', got {other}"
            )),
        }
    }

    pub fn parse(s: &str) -> Result<ModeSpec, String> {
        let s = s.trim();
        if !s.is_empty() && s.chars().all(|c| c.is_digit(8)) {
            let m = u32::from_str_radix(s, 8).map_err(|_| format!("bad mode '{s}'"))?;
            if m > PERM_BITS {
                return Err(format!("mode '{s}' is out of range (at most 07777)"));
            }
            return Ok(ModeSpec::Octal(m));
        }
        // Validate the symbolic syntax now, with any current mode.
        symbolic_mode(s, 0o644, false, 0o022)?;
        Ok(ModeSpec::Symbolic(s.to_string()))
    }

    /// The resulting permission bits for a path whose mode is `current`.
    pub fn resolve(&self, current: u32, is_dir: bool, umask: u32) -> Result<u32, String> {
        match self {
            ModeSpec::Octal(m) => Ok(*m),
            ModeSpec::Symbolic(s) => symbolic_mode(s, current, is_dir, umask),
        }
    }
}

/// Ansible's `_symbolic_mode_to_octal`: clauses are applied in order, each to
/// the mode left by the previous one; an empty "who" means all, minus the umask.
pub fn symbolic_mode(spec: &str, current: u32, is_dir: bool, umask: u32) -> Result<u32, String> {
    let bad = |c: &str| format!("bad symbolic permission for mode: {c}");
    let mut mode = current & PERM_BITS;
    for clause in spec.split(',') {
        let op_at = clause.find(['+', '-', '=']).ok_or_else(|| bad(clause))?;
        let who = &clause[..op_at];
        let use_umask = who.is_empty();
        let mut users = String::new();
        for c in who.chars() {
            match c {
                'a' => users.push_str("ugo"),
                'u' | 'g' | 'o' => users.push(c),
                _ => return Err(bad(clause)),
            }
        }
        if users.is_empty() {
            users.push_str("ugo");
        }
        // (operator, permissions) pairs: `u+x-w` is two.
        let rest = &clause[op_at..];
        let mut actions: Vec<(char, String)> = Vec::new();
        for c in rest.chars() {
            if matches!(c, '+' | '-' | '=') {
                actions.push((c, String::new()));
            } else if "rwxXstugo".contains(c) {
                actions.last_mut().ok_or_else(|| bad(clause))?.1.push(c);
            } else {
                return Err(bad(clause));
            }
        }
        for (op, perms) in &actions {
            for user in users.chars() {
                let apply = perms_to_bits(user, perms, mode, is_dir, use_umask, umask);
                mode = apply_op(user, *op, apply, mode);
            }
        }
    }
    Ok(mode)
}

fn perms_to_bits(
    user: char,
    perms: &str,
    prev: u32,
    is_dir: bool,
    use_umask: bool,
    umask: u32,
) -> u32 {
    let rev_umask = !umask & PERM_BITS;
    let masked = |bit: u32| if use_umask { rev_umask & bit } else { bit };
    let apply_x = is_dir || prev & EXEC_BITS != 0;
    let mut out = 0;
    for p in perms.chars() {
        out |= match (user, p) {
            ('u', 'r') => masked(0o400),
            ('u', 'w') => masked(0o200),
            ('u', 'x') => masked(0o100),
            ('u', 'X') if apply_x => 0o100,
            ('u', 's') => 0o4000,
            ('u', 'u') => prev & S_IRWXU,
            ('u', 'g') => (prev & S_IRWXG) << 3,
            ('u', 'o') => (prev & S_IRWXO) << 6,
            ('g', 'r') => masked(0o040),
            ('g', 'w') => masked(0o020),
            ('g', 'x') => masked(0o010),
            ('g', 'X') if apply_x => 0o010,
            ('g', 's') => 0o2000,
            ('g', 'u') => (prev & S_IRWXU) >> 3,
            ('g', 'g') => prev & S_IRWXG,
            ('g', 'o') => (prev & S_IRWXO) << 3,
            ('o', 'r') => masked(0o004),
            ('o', 'w') => masked(0o002),
            ('o', 'x') => masked(0o001),
            ('o', 'X') if apply_x => 0o001,
            ('o', 't') => 0o1000,
            ('o', 'u') => (prev & S_IRWXU) >> 6,
            ('o', 'g') => (prev & S_IRWXG) >> 3,
            ('o', 'o') => prev & S_IRWXO,
            _ => 0,
        };
    }
    out
}

fn apply_op(user: char, op: char, bits: u32, current: u32) -> u32 {
    match op {
        '=' => {
            let mask = match user {
                'u' => S_IRWXU | 0o4000,
                'g' => S_IRWXG | 0o2000,
                _ => S_IRWXO | 0o1000,
            };
            (current & (mask ^ PERM_BITS)) | bits
        }
        '+' => current | bits,
        _ => current & !bits,
    }
}

/// `0644` as Ansible registers modes.
pub fn mode_str(mode: u32) -> String {
    format!("{mode:04o}")
}

/// The mode a new file gets (`0666 & ~umask`), or a new directory (`0777 & ~umask`).
pub fn default_mode(is_dir: bool, umask: u32) -> u32 {
    (if is_dir { 0o777 } else { 0o666 }) & !umask & PERM_BITS
}

// ---------------------------------------------------------------------------
// Owner, group and mode

/// The `owner`, `group` and `mode` arguments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attrs {
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<ModeSpec>,
}

impl Attrs {
    pub fn from_args(args: &Args) -> Result<Attrs, Fail> {
        Self::from_args_with(args, "mode")
    }

    /// Same, reading the mode from another argument (`directory_mode`).
    pub fn from_args_with(args: &Args, mode_arg: &str) -> Result<Attrs, Fail> {
        let mode = match args.get(mode_arg) {
            Some(v) => Some(
                ModeSpec::from_json(v)
                    .map_err(|e| Fail::Module(ModuleError::Args(format!("{mode_arg}: {e}"))))?,
            ),
            None => None,
        };
        let name = |k: &str| -> Result<Option<String>, Fail> {
            match args.get(k) {
                None => Ok(None),
                Some(v) => {
                    let s = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    let s = s.trim().to_string();
                    if s.is_empty() || s.contains([':', '\n', '/']) {
                        return bad_args(format!("{k}: '{s}' is not a valid {k} name"));
                    }
                    Ok(Some(s))
                }
            }
        };
        Ok(Attrs {
            owner: name("owner")?,
            group: name("group")?,
            mode,
        })
    }

    /// `owner:group`, `owner` or `:group` for chown, if any is asked.
    pub fn chown_spec(&self) -> Option<String> {
        match (&self.owner, &self.group) {
            (None, None) => None,
            (Some(o), None) => Some(o.clone()),
            (None, Some(g)) => Some(format!(":{g}")),
            (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        }
    }
}

/// Does `want` (a name or a numeric id) name this user or group?
pub fn id_matches(want: &str, name: &str, id: u32) -> bool {
    want == name || want.parse::<u32>().ok() == Some(id)
}

/// What differs between the attributes asked and those of an existing path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrChange {
    pub mode: Option<(u32, u32)>,
    pub owner: Option<(String, String)>,
    pub group: Option<(String, String)>,
}

impl AttrChange {
    pub fn any(&self) -> bool {
        self.mode.is_some() || self.owner.is_some() || self.group.is_some()
    }

    /// `chown` argument for the owner/group changes.
    pub fn chown_spec(&self) -> Option<String> {
        match (&self.owner, &self.group) {
            (None, None) => None,
            (Some((_, o)), None) => Some(o.clone()),
            (None, Some((_, g))) => Some(format!(":{g}")),
            (Some((_, o)), Some((_, g))) => Some(format!("{o}:{g}")),
        }
    }

    /// The ops applying the change to `path` (`link`: the path is a symlink
    /// handled without following it: chown -h, and no chmod, like Linux).
    pub fn ops(&self, path: &str, link: bool) -> Vec<Op> {
        let mut ops = Vec::new();
        if let Some(spec) = self.chown_spec() {
            ops.push(Op::Chown {
                path: path.into(),
                spec,
                nofollow: link,
            });
        }
        if let (Some((_, m)), false) = (self.mode, link) {
            ops.push(Op::Chmod {
                path: path.into(),
                mode: m,
            });
        }
        ops
    }

    /// `path (mode)`, `path (owner)`, `path (group)` diffs.
    pub fn diffs(&self, path: &str) -> Vec<Diff> {
        let mut d = Vec::new();
        if let Some((b, a)) = &self.owner {
            d.push(Diff::new(
                format!("{path} (owner)"),
                format!("{b}\n"),
                format!("{a}\n"),
            ));
        }
        if let Some((b, a)) = &self.group {
            d.push(Diff::new(
                format!("{path} (group)"),
                format!("{b}\n"),
                format!("{a}\n"),
            ));
        }
        if let Some((b, a)) = self.mode {
            d.push(Diff::new(
                format!("{path} (mode)"),
                format!("{}\n", mode_str(b)),
                format!("{}\n", mode_str(a)),
            ));
        }
        d
    }
}

/// Compares the asked attributes with an existing path's.
pub fn attr_changes(attrs: &Attrs, st: &Stat, umask: u32) -> Result<AttrChange, String> {
    let mut c = AttrChange::default();
    if let Some(spec) = &attrs.mode
        && st.kind != FType::Link
    {
        let want = spec.resolve(st.mode, st.kind == FType::Directory, umask)?;
        if want != st.mode {
            c.mode = Some((st.mode, want));
        }
    }
    if let Some(o) = &attrs.owner
        && !id_matches(o, &st.owner, st.uid)
    {
        c.owner = Some((st.owner.clone(), o.clone()));
    }
    if let Some(g) = &attrs.group
        && !id_matches(g, &st.group, st.gid)
    {
        c.group = Some((st.group.clone(), g.clone()));
    }
    Ok(c)
}

// ---------------------------------------------------------------------------
// Remote state

/// The type of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FType {
    #[default]
    Absent,
    File,
    Directory,
    Link,
    Other,
}

impl FType {
    pub fn name(self) -> &'static str {
        match self {
            FType::Absent => "absent",
            FType::File => "file",
            FType::Directory => "directory",
            FType::Link => "link",
            FType::Other => "other",
        }
    }
    fn parse(s: &str) -> FType {
        match s {
            "file" => FType::File,
            "directory" => FType::Directory,
            "link" => FType::Link,
            "other" => FType::Other,
            _ => FType::Absent,
        }
    }
}

/// Who runs the commands on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct HostInfo {
    pub umask: u32,
    pub user: String,
    pub uid: u32,
    pub home: String,
}

/// One probed path (deserialized from module fixtures, where every field is
/// optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct Stat {
    /// The path as resolved on the host (`~` expanded).
    pub path: String,
    /// The type: of the link's target when following, else `Link` for a symlink.
    /// A dangling link followed is `Absent`.
    pub kind: FType,
    /// The path itself is a symlink.
    pub is_link: bool,
    pub link_target: Option<String>,
    /// `readlink -f` of a symlink.
    pub realpath: Option<String>,
    pub mode: u32,
    /// `st_mode` with the file type bits.
    pub raw_mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    pub mtime: i64,
    pub atime: i64,
    pub ctime: i64,
    pub inode: u64,
    pub dev: u64,
    pub nlink: u64,
    pub readable: bool,
    pub writable: bool,
    pub executable: bool,
    /// Checksums by algorithm (`sha256`, `sha1`...), for readable regular files.
    pub sums: BTreeMap<String, String>,
    /// Content asked with [`Req::content`] (one byte more than the cap when truncated).
    pub content: Option<Vec<u8>>,
    pub content_truncated: bool,
    /// The type of the parent directory, and whether it can be written.
    pub parent: FType,
    pub parent_writable: bool,
}

impl Stat {
    pub fn exists(&self) -> bool {
        self.kind != FType::Absent
    }
    pub fn sha256(&self) -> Option<&str> {
        self.sums.get("sha256").map(String::as_str)
    }
}

/// What to probe about a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Req {
    pub path: String,
    pub follow: bool,
    /// Checksum algorithms (`md5`, `sha1`, `sha224`, `sha256`, `sha384`, `sha512`).
    pub sums: Vec<String>,
    pub content: ContentReq,
}

/// How much of a file's content to read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentReq {
    None,
    /// At most this many bytes (one more is read to know it was truncated).
    Capped(u64),
    Whole,
}

pub const SUM_ALGOS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

impl Req {
    pub fn new(path: impl Into<String>) -> Req {
        Req {
            path: path.into(),
            follow: false,
            sums: vec!["sha256".into()],
            content: ContentReq::None,
        }
    }
    pub fn follow(mut self, yes: bool) -> Req {
        self.follow = yes;
        self
    }
    pub fn sums(mut self, algos: &[&str]) -> Req {
        self.sums = algos.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn content(mut self, c: ContentReq) -> Req {
        self.content = c;
        self
    }
    /// The content for a diff when `diff` is on.
    pub fn diff_content(self, diff: bool) -> Req {
        self.content(if diff {
            ContentReq::Capped(DIFF_CAP)
        } else {
            ContentReq::None
        })
    }
}

/// How a written file gets its owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Own {
    /// Best effort (the file replaced had these ids; ignored if not permitted).
    pub preserve: Option<(u32, u32)>,
    /// Asked (`owner:group`), must succeed.
    pub set: Option<String>,
}

/// Where a written file's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Sent on stdin.
    Bytes(Vec<u8>),
    /// A file already on the host (`remote_src`), with its sha256 if known.
    Remote {
        path: String,
        sha256: Option<String>,
    },
}

/// One step of the remote script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Probe a path (its result is one item of [`Run::items`]).
    Probe(Req),
    /// Probes of many paths at once (one `stat`, one `sha256sum`), links
    /// followed or not; used by [`probe`] for plain paths.
    Batch {
        paths: Vec<String>,
        follow: bool,
    },
    /// Every path under a directory (itself included), probed without following
    /// links, with sha256 of files.
    List(String),
    /// A `touch -t` timestamp converted to epoch seconds (`x_epoch_<ts>=`).
    Epoch(String),
    /// Atomic write: temp file in the same directory, checksum verified, mode
    /// and owner set, `validate` run, backup taken, renamed over `path`.
    Write {
        path: String,
        source: Source,
        mode: u32,
        own: Own,
        backup: bool,
        validate: bool,
    },
    /// `mkdir -p`, with mode and owner applied to each directory created.
    Mkdir {
        path: String,
        mode: Option<u32>,
        own: Option<String>,
    },
    Chmod {
        path: String,
        mode: u32,
    },
    Chown {
        path: String,
        spec: String,
        nofollow: bool,
    },
    /// A symlink at `path` to `target`, replacing a file, link or empty directory.
    Symlink {
        path: String,
        target: String,
    },
    /// A hard link at `path` to `target`.
    Hardlink {
        path: String,
        target: String,
    },
    /// `rm -rf`.
    Remove(String),
    /// Set times (`None`: leave; `Some("now")`; or a `touch -t` stamp),
    /// creating an empty file first if `create` and the path is absent.
    Touch {
        path: String,
        atime: Option<String>,
        mtime: Option<String>,
        create: bool,
    },
}

/// Sets `hu` (effective uid) and `hn` (its user name) with shell builtins only:
/// `id -u; id -un` would start two processes, ~2 ms of the host's CPU each.
pub const WHOAMI_FN: &str = r#"opsctl_whoami() {
  hu=; hn=
  { while read -r _k _r _e _rest; do if [ "$_k" = Uid: ]; then hu=$_e; break; fi; done < /proc/self/status; } 2>/dev/null
  [ -n "$hu" ] || hu=$(id -u)
  { while IFS=: read -r _n _x _i _rest; do if [ "$_i" = "$hu" ]; then hn=$_n; break; fi; done < /etc/passwd; } 2>/dev/null
  [ -n "$hn" ] || hn=$(id -un 2>/dev/null)
}
"#;

/// `uid=N` and `user=NAME` lines (for the probes of modules), without a process.
pub fn whoami_lines() -> String {
    format!("{WHOAMI_FN}opsctl_whoami; echo \"uid=$hu\"; echo \"user=$hn\"\n")
}

/// The remote interpreter. Reads a manifest on stdin, one op per line (fields
/// separated by one space; strings base64; `-` for none).
pub const SCRIPT: &str = r#"
d64() { printf '%s' "$1" | base64 -d; echo .; }
e64() { printf '%s' "$1" | base64 -w0; echo; }
nl='
'
tmp=
fail() {
  printf 'x_error=%s\nx_errpath=%s\n' "$1" "$2"
  [ -n "$tmp" ] && rm -f -- "$tmp"
  exit 3
}
# the parent directory of $1 in $d, without forking dirname
pdir() {
  q=$1
  while [ "$q" != / ] && [ "${q%/}" != "$q" ]; do q=${q%/}; done
  case $q in /) d=/ ;; */*) d=${q%/*}; d=${d:-/} ;; *) d=. ;; esac
}
opsctl_probe() {
  # $1 follow, $2 sums (comma-separated), $3 content cap, $4 path
  p=$4
  case $p in "~") p=$HOME ;; "~/"*) p=$HOME/${p#"~/"} ;; esac
  echo @@
  case $p in *"$nl"*) printf 'path='; e64 "$p" ;; *) printf 'rpath=%s\n' "$p" ;; esac
  if [ -L "$p" ]; then
    echo link=1
    t=$(readlink -- "$p"; echo .); t=${t%.}; t=${t%"$nl"}
    case $t in *"$nl"*) printf 'target='; e64 "$t" ;; *) printf 'rtarget=%s\n' "$t" ;; esac
    rp=$(readlink -f -- "$p") && case $rp in *"$nl"*) printf 'realpath='; e64 "$rp" ;; *) printf 'rrealpath=%s\n' "$rp" ;; esac
  fi
  if [ -L "$p" ] && [ "$1" != 1 ]; then t=link
  elif [ -d "$p" ]; then t=directory
  elif [ -f "$p" ]; then t=file
  elif [ -e "$p" ]; then t=other
  else t=absent; fi
  echo "type=$t"
  if [ "$t" != absent ]; then
    if [ "$t" = link ]; then s=; else s=-L; fi
    stat $s --printf 'mode=%a\nrawmode=%f\nuid=%u\ngid=%g\nowner=%U\ngroup=%G\nsize=%s\nmtime=%Y\natime=%X\nctime=%Z\ninode=%i\ndev=%d\nnlink=%h\n' -- "$p"
    [ -r "$p" ] && echo readable=1
    [ -w "$p" ] && echo writable=1
    [ -x "$p" ] && echo executable=1
    if [ "$t" = file ] && [ -r "$p" ]; then
      if [ "$2" != - ]; then
        l=$2,
        while [ -n "$l" ]; do a=${l%%,*}; l=${l#*,}; h=$("${a}sum" < "$p") && echo "sum_$a=${h%% *}"; done
      fi
      case $3 in
        -) ;;
        all) printf 'content='; base64 -w0 < "$p"; echo ;;
        *) printf 'content='; head -c "$3" -- "$p" | base64 -w0; echo ;;
      esac
    fi
  fi
  pdir "$p"
  if [ -d "$d" ]; then echo parent=directory; [ -w "$d" ] && echo parent_writable=1
  elif [ -e "$d" ]; then echo parent=other
  else echo parent=absent; fi
  return 0
}
batch() {
  # $1 follow; $2 count; the paths follow on stdin, one a line
  f=$1; n=$2; set --
  echo @@batch
  while [ "$n" -gt 0 ] && IFS= read -r p; do
    case $p in b64:*) p=$(d64 "${p#b64:}"); p=${p%.} ;; esac
    set -- "$@" "$p"; n=$((n-1))
  done
  for p; do
    echo @@
    printf 'rpath=%s\n' "$p"
    if [ -L "$p" ]; then
      echo link=1
      t=$(readlink -- "$p"; echo .); t=${t%.}; t=${t%"$nl"}
      case $t in *"$nl"*) printf 'target='; e64 "$t" ;; *) printf 'rtarget=%s\n' "$t" ;; esac
    fi
    if [ -L "$p" ] && [ "$f" != 1 ]; then t=link
    elif [ -d "$p" ]; then t=directory
    elif [ -f "$p" ]; then t=file
    elif [ -e "$p" ]; then t=other
    else t=absent; fi
    echo "type=$t"
    if [ "$t" != absent ]; then
      [ -r "$p" ] && echo readable=1
      [ -w "$p" ] && echo writable=1
      [ -x "$p" ] && echo executable=1
    fi
    pdir "$p"
    if [ -d "$d" ]; then echo parent=directory; [ -w "$d" ] && echo parent_writable=1
    elif [ -e "$d" ]; then echo parent=other
    else echo parent=absent; fi
  done
  echo @@stat
  if [ "$f" = 1 ]; then s=-L; else s=; fi
  stat $s --printf 'rpath=%n\nmode=%a\nrawmode=%f\nuid=%u\ngid=%g\nowner=%U\ngroup=%G\nsize=%s\nmtime=%Y\natime=%X\nctime=%Z\ninode=%i\ndev=%d\nnlink=%h\n' -- "$@" 2>/dev/null
  echo @@sums
  n=$#
  for p; do
    if [ -f "$p" ] && [ -r "$p" ] && { [ "$f" = 1 ] || [ ! -L "$p" ]; }; then set -- "$@" "$p"; fi
  done
  shift "$n"
  if [ $# -gt 0 ]; then sha256sum -- "$@"; fi
  echo @@end
  return 0
}
own() {
  # $1 ids to keep if permitted, $2 owner:group asked (base64), $3 path
  if [ "$1" != - ]; then chown -- "$1" "$3" 2>/dev/null || :; fi
  if [ "$2" != - ]; then o=$(d64 "$2"); chown -- "${o%.}" "$3" || fail chown "$4"; fi
}
mkd() {
  [ -d "$1" ] && return 0
  pdir "$1"
  mkd "$d" "$2" "$3" "$4"
  mkdir -- "$1" || fail mkdir "$4"
  [ "$2" = - ] || chmod "$2" "$1" || fail chmod "$4"
  own - "$3" "$1" "$4"
}
# who and where, without starting a process (each costs ~2 ms of the host's CPU)
printf 'host_umask='; umask
opsctl_whoami
printf 'host_uid=%s\nhost_user=%s\n' "$hu" "$hn"
case ${HOME:-} in *"$nl"*) printf 'host_home='; e64 "$HOME" ;; *) printf 'host_home_raw=%s\n' "${HOME:-}" ;; esac
# one op a line: the op, 8 fields, the path (raw, or b64:...)
while IFS=' ' read -r op f1 f2 f3 f4 f5 f6 f7 f8 p; do
  case $p in b64:*) p=$(d64 "${p#b64:}"); p=${p%.} ;; esac
  case $op in
  P) opsctl_probe "$f1" "$f2" "$f3" "$p" ;;
  B) batch "$f1" "$f2" ;;
  F) find "$p" -print | while IFS= read -r e; do opsctl_probe 0 sha256 - "$e"; done ;;
  E) t=$(mktemp) && touch -m -t "$f1" -- "$t" && printf 'x_epoch_%s=%s\n' "$f1" "$(stat -c %Y -- "$t")"; rm -f -- "$t" ;;
  W|R)
    pdir "$p"
    tmp=$(mktemp "$d/.opsctl.XXXXXX") || fail mktemp "$p"
    if [ "$op" = W ]; then head -c "$f1" > "$tmp" || fail write "$p"
    else s=$(d64 "$f1"); cp -- "${s%.}" "$tmp" || fail copy "$p"; fi
    if [ "$f2" != - ]; then h=$(sha256sum < "$tmp") || fail checksum "$p"; [ "${h%% *}" = "$f2" ] || fail checksum "$p"; fi
    own "$f4" "$f5" "$tmp" "$p"
    chmod "$f3" "$tmp" || fail chmod "$p"
    if [ "$f7" = 1 ]; then opsctl_validate "$tmp" < /dev/null 1>&2 || fail validate "$p"; fi
    if [ "$f6" = 1 ] && [ -f "$p" ]; then
      b="$p.$$.$(date +%Y-%m-%d@%H:%M:%S)~"
      cp -p -- "$p" "$b" || fail backup "$p"
      printf 'x_backup='; e64 "$b"
    fi
    mv -fT -- "$tmp" "$p" || fail rename "$p"
    tmp= ;;
  D) mkd "$p" "$f1" "$f2" "$p" ;;
  M) chmod "$f1" "$p" || fail chmod "$p" ;;
  C) own - "$f1" "$p" "$p" ;;
  H) o=$(d64 "$f1"); chown -h -- "${o%.}" "$p" || fail chown "$p" ;;
  S) t=$(d64 "$f1"); t=${t%.}
     pdir "$p"; l="$d/.opsctl.$$.link"; rm -f -- "$l"
     ln -s -- "$t" "$l" || fail symlink "$p"
     if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir -- "$p" || { rm -f -- "$l"; fail rmdir "$p"; }; fi
     mv -fT -- "$l" "$p" || { rm -f -- "$l"; fail rename "$p"; } ;;
  L) t=$(d64 "$f1")
     if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir -- "$p" || fail rmdir "$p"; fi
     ln -fT -- "${t%.}" "$p" || fail hardlink "$p" ;;
  X) rm -rf -- "$p" || fail remove "$p" ;;
  T) if [ "$f3" = 1 ] && [ ! -e "$p" ] && [ ! -L "$p" ]; then : > "$p" || fail touch "$p"; fi
     case $f1 in -) ;; now) touch -a -c -- "$p" || fail touch "$p" ;; *) touch -a -c -t "$f1" -- "$p" || fail touch "$p" ;; esac
     case $f2 in -) ;; now) touch -m -c -- "$p" || fail touch "$p" ;; *) touch -m -c -t "$f2" -- "$p" || fail touch "$p" ;; esac ;;
  *) fail "unknown op $op" - ;;
  esac
done
exit 0
"#;

fn enc(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// A mode for chmod: five octal digits, because GNU chmod keeps a directory's
/// setuid/setgid bits for shorter numeric modes ("00755" clears them).
fn chmod_mode(m: u32) -> String {
    format!("0{m:04o}")
}

fn opt_mode(m: Option<u32>) -> String {
    m.map(chmod_mode).unwrap_or_else(|| "-".into())
}

/// A path as the last field of a manifest line: raw when `read` keeps it
/// intact, else base64.
fn path_field(p: &str) -> String {
    let safe = !p.is_empty()
        && !p.starts_with("b64:")
        && !p.contains(['\n', '\r'])
        && !p.starts_with([' ', '\t'])
        && !p.ends_with([' ', '\t', '\\']);
    if safe {
        p.to_string()
    } else {
        format!("b64:{}", enc(p))
    }
}

fn bit(b: bool) -> String {
    if b { "1" } else { "0" }.into()
}

/// The manifest for these ops: lines (the op, 8 fields, the path), and the
/// content of writes right after their line.
pub fn manifest(ops: &[Op]) -> Vec<u8> {
    fn line(out: &mut Vec<u8>, op: &str, fields: &[String], path: &str) {
        let mut l = op.to_string();
        for i in 0..8 {
            l.push(' ');
            l.push_str(fields.get(i).map(String::as_str).unwrap_or("-"));
        }
        l.push(' ');
        l.push_str(&path_field(path));
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    let none = || "-".to_string();
    let mut out = Vec::new();
    for op in ops {
        match op {
            Op::Probe(r) => {
                let sums = if r.sums.is_empty() {
                    none()
                } else {
                    r.sums.join(",")
                };
                let content = match r.content {
                    ContentReq::None => none(),
                    ContentReq::Capped(n) => (n + 1).to_string(),
                    ContentReq::Whole => "all".into(),
                };
                line(&mut out, "P", &[bit(r.follow), sums, content], &r.path);
            }
            Op::List(p) => line(&mut out, "F", &[], p),
            Op::Batch { paths, follow } => {
                line(&mut out, "B", &[bit(*follow), paths.len().to_string()], "-");
                for p in paths {
                    out.extend_from_slice(path_field(p).as_bytes());
                    out.push(b'\n');
                }
            }
            Op::Epoch(ts) => line(&mut out, "E", std::slice::from_ref(ts), "-"),
            Op::Write {
                path,
                source,
                mode,
                own,
                backup,
                validate,
            } => {
                let pre = own
                    .preserve
                    .map(|(u, g)| format!("{u}:{g}"))
                    .unwrap_or_else(none);
                let set = own.set.as_deref().map(enc).unwrap_or_else(none);
                match source {
                    Source::Bytes(data) => {
                        let f = [
                            data.len().to_string(),
                            sha256_hex(data),
                            chmod_mode(*mode),
                            pre,
                            set,
                            bit(*backup),
                            bit(*validate),
                        ];
                        line(&mut out, "W", &f, path);
                        out.extend_from_slice(data);
                    }
                    Source::Remote { path: src, sha256 } => {
                        let f = [
                            enc(src),
                            sha256.clone().unwrap_or_else(none),
                            chmod_mode(*mode),
                            pre,
                            set,
                            bit(*backup),
                            bit(*validate),
                        ];
                        line(&mut out, "R", &f, path);
                    }
                }
            }
            Op::Mkdir { path, mode, own } => line(
                &mut out,
                "D",
                &[
                    opt_mode(*mode),
                    own.as_deref().map(enc).unwrap_or_else(none),
                ],
                path,
            ),
            Op::Chmod { path, mode } => line(&mut out, "M", &[chmod_mode(*mode)], path),
            Op::Chown {
                path,
                spec,
                nofollow,
            } => line(
                &mut out,
                if *nofollow { "H" } else { "C" },
                &[enc(spec)],
                path,
            ),
            Op::Symlink { path, target } => line(&mut out, "S", &[enc(target)], path),
            Op::Hardlink { path, target } => line(&mut out, "L", &[enc(target)], path),
            Op::Remove(p) => line(&mut out, "X", &[], p),
            Op::Touch {
                path,
                atime,
                mtime,
                create,
            } => line(
                &mut out,
                "T",
                &[
                    atime.clone().unwrap_or_else(none),
                    mtime.clone().unwrap_or_else(none),
                    bit(*create),
                ],
                path,
            ),
        }
    }
    out
}

/// What the script printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Run {
    pub host: HostInfo,
    /// One per `Probe` op (and per path listed), in order.
    pub items: Vec<Stat>,
    /// `x_*` lines (`backup`, `error`, `epoch_<ts>`...), without the prefix.
    pub extra: Vec<(String, String)>,
}

impl Run {
    pub fn extra(&self, key: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// `x_backup`, decoded.
    pub fn backup_file(&self) -> Option<String> {
        self.extra("backup").and_then(dec)
    }
}

fn dec(s: &str) -> Option<String> {
    B64.decode(s.trim())
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Parses the script's output. Unknown lines are ignored; a `key=value` line
/// belongs to the last `@@` item, or to the host before the first one.
pub fn parse_output(out: &[u8]) -> Run {
    #[derive(PartialEq)]
    enum Section {
        Items,
        Stat,
        Sums,
    }
    let mut run = Run::default();
    let mut items: Vec<BTreeMap<String, String>> = Vec::new();
    let mut section = Section::Items;
    // a batch: where its items start, its stat records and checksums by path
    let mut batch_start = 0;
    let mut stats: Vec<BTreeMap<String, String>> = Vec::new();
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    for raw in out.split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_end_matches('\r');
        match line {
            "@@" => {
                items.push(BTreeMap::new());
                continue;
            }
            "@@batch" => {
                batch_start = items.len();
                continue;
            }
            "@@stat" => {
                section = Section::Stat;
                continue;
            }
            "@@sums" => {
                section = Section::Sums;
                continue;
            }
            "@@end" => {
                let by_path: BTreeMap<String, BTreeMap<String, String>> = stats
                    .drain(..)
                    .filter_map(|r| Some((r.get("rpath")?.clone(), r)))
                    .collect();
                for item in items.iter_mut().skip(batch_start) {
                    let Some(path) = item.get("rpath").cloned() else {
                        continue;
                    };
                    if let Some(r) = by_path.get(&path) {
                        for (k, v) in r {
                            item.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    if let Some(h) = sums.get(&path) {
                        item.insert("sum_sha256".into(), h.clone());
                    }
                }
                sums.clear();
                section = Section::Items;
                batch_start = items.len();
                continue;
            }
            _ => {}
        }
        if section == Section::Sums {
            if let Some((h, name)) = line.split_once("  ")
                && h.len() == 64
                && h.bytes().all(|b| b.is_ascii_hexdigit())
            {
                sums.insert(name.to_string(), h.to_string());
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if section == Section::Stat {
            if k == "rpath" {
                stats.push(BTreeMap::new());
            }
            if let Some(r) = stats.last_mut() {
                r.insert(k.to_string(), v.to_string());
            }
            continue;
        }
        if let Some(x) = k.strip_prefix("x_") {
            run.extra.push((x.to_string(), v.to_string()));
        } else if let Some(h) = k.strip_prefix("host_") {
            match h {
                "umask" => run.host.umask = u32::from_str_radix(v.trim(), 8).unwrap_or(0o022),
                "uid" => run.host.uid = v.trim().parse().unwrap_or(u32::MAX),
                "user" => run.host.user = v.to_string(),
                "home" => run.host.home = dec(v).unwrap_or_default(),
                "home_raw" => run.host.home = v.to_string(),
                _ => {}
            }
        } else if let Some(item) = items.last_mut() {
            item.insert(k.to_string(), v.to_string());
        }
    }
    run.items = items.iter().map(stat_from).collect();
    run
}

fn stat_from(m: &BTreeMap<String, String>) -> Stat {
    let num = |k: &str| {
        m.get(k)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let int = |k: &str| {
        m.get(k)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0)
    };
    let flag = |k: &str| m.get(k).is_some_and(|v| v == "1");
    let text = |k: &str| m.get(k).cloned().unwrap_or_default();
    let content = m
        .get("content")
        .map(|c| B64.decode(c.trim()).unwrap_or_default());
    let sums = m
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("sum_").map(|a| (a.to_string(), v.clone())))
        .collect();
    Stat {
        path: m
            .get("rpath")
            .cloned()
            .or_else(|| m.get("path").and_then(|p| dec(p)))
            .unwrap_or_default(),
        kind: FType::parse(m.get("type").map(String::as_str).unwrap_or("absent")),
        is_link: flag("link"),
        link_target: m.get("rtarget").cloned().or_else(|| {
            m.get("target")
                .and_then(|t| dec(t))
                .map(|t| t.strip_suffix('\n').unwrap_or(&t).to_string())
        }),
        realpath: m
            .get("rrealpath")
            .cloned()
            .or_else(|| m.get("realpath").and_then(|p| dec(p))),
        mode: m
            .get("mode")
            .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            .unwrap_or(0),
        raw_mode: m
            .get("rawmode")
            .and_then(|v| u32::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0),
        uid: num("uid") as u32,
        gid: num("gid") as u32,
        owner: text("owner"),
        group: text("group"),
        size: num("size"),
        mtime: int("mtime"),
        atime: int("atime"),
        ctime: int("ctime"),
        inode: num("inode"),
        dev: num("dev"),
        nlink: num("nlink"),
        readable: flag("readable"),
        writable: flag("writable"),
        executable: flag("executable"),
        sums,
        content,
        content_truncated: false,
        parent: FType::parse(m.get("parent").map(String::as_str).unwrap_or("absent")),
        parent_writable: flag("parent_writable"),
    }
}

/// Runs ops on the host in one exec. `validate` (with `%s`) is run on each
/// written temp file whose op asks for it. A failing op stops the script; its
/// error comes back as a task failure naming the path, with the command's
/// stderr and, for permission errors, the `become` hint.
pub async fn run_ops(env: &HostEnv<'_>, ops: &[Op], validate: Option<&str>) -> Result<Run, Fail> {
    let out = env
        .run_stdin(&interpreter(validate), Some(manifest(ops)))
        .await?;
    interpret(&out, ops)
}

/// The interpreter script, with the user's `validate` command for written files.
pub fn interpreter(validate: Option<&str>) -> String {
    let mut script = String::new();
    match validate {
        // a subshell: `exit` in the command ends only the validation
        Some(v) => script.push_str(&format!(
            "opsctl_validate() (\n{}\n)\n",
            v.replace("%s", "\"$1\"")
        )),
        None => script.push_str("opsctl_validate() { :; }\n"),
    }
    script.push_str(WHOAMI_FN);
    script.push_str(SCRIPT);
    script
}

/// What the interpreter printed for `ops`: the probes, or the failed step as a
/// task failure naming the path (with the `become` hint for permission errors).
pub fn interpret(out: &Output, ops: &[Op]) -> Result<Run, Fail> {
    let mut run = parse_output(&out.stdout);
    // Content read one byte past its cap was truncated.
    if !ops.iter().any(|o| matches!(o, Op::List(_))) {
        let caps = ops.iter().filter_map(|o| match o {
            Op::Probe(r) => Some(r.content),
            _ => None,
        });
        for (st, cap) in run.items.iter_mut().zip(caps) {
            if let (ContentReq::Capped(n), Some(c)) = (cap, &mut st.content)
                && c.len() as u64 > n
            {
                c.truncate(n as usize);
                st.content_truncated = true;
            }
        }
    }
    if out.success() {
        return Ok(run);
    }
    let stderr = out.stderr_str();
    let detail = stderr.trim();
    let Some(step) = run.extra("error").map(str::to_string) else {
        return fail(format!(
            "the remote script failed (rc {}): {detail}",
            out.rc
                .map(|r| r.to_string())
                .unwrap_or_else(|| "signal".into())
        ));
    };
    let path = run.extra("errpath").unwrap_or_default().to_string();
    let hint = if detail.contains("Permission denied") || detail.contains("Operation not permitted")
    {
        become_hint(&run.host)
    } else {
        String::new()
    };
    let msg = match step.as_str() {
        "validate" => format!(
            "failed to validate {path}: {}",
            if detail.is_empty() {
                "the validate command failed"
            } else {
                detail
            }
        ),
        "checksum" => format!("{path}: the transferred content does not match its checksum"),
        "mkdir" if detail.contains("Not a directory") || detail.contains("File exists") => {
            format!(
                "cannot create directory {path}: a component of the path exists and is not a directory ({detail})"
            )
        }
        _ => format!("{step} failed for {path}: {detail}{hint}"),
    };
    fail(msg)
}

/// Probes paths in one exec.
pub async fn probe(env: &HostEnv<'_>, reqs: Vec<Req>) -> Result<Run, Fail> {
    // Many plain paths (a tree) are probed in one batch: one stat, one sha256sum.
    // (the batch always computes sha256; it takes the paths probed like the first one)
    let plain = |r: &Req| {
        r.content == ContentReq::None
            && (r.sums.is_empty() || r.sums == ["sha256"])
            && path_field(&r.path) == r.path
            && !r.path.contains('\\')
            && !r.path.starts_with(['~', '-'])
    };
    let Some(follow) = reqs.iter().find(|r| plain(r)).map(|r| r.follow) else {
        let ops: Vec<Op> = reqs.into_iter().map(Op::Probe).collect();
        return run_ops(env, &ops, None).await;
    };
    let in_batch: Vec<bool> = reqs
        .iter()
        .map(|r| plain(r) && r.follow == follow)
        .collect();
    let n_batch = in_batch.iter().filter(|b| **b).count();
    if n_batch < 4 {
        let ops: Vec<Op> = reqs.into_iter().map(Op::Probe).collect();
        return run_ops(env, &ops, None).await;
    }
    let mut ops = Vec::new();
    let mut paths = Vec::new();
    for (r, b) in reqs.iter().zip(&in_batch) {
        if *b {
            paths.push(r.path.clone());
        } else {
            ops.push(Op::Probe(r.clone()));
        }
    }
    let singles = ops.len();
    ops.push(Op::Batch { paths, follow });
    let mut run = run_ops(env, &ops, None).await?;
    // back in the order asked: single probes come first, then the batch
    let mut batch = run
        .items
        .split_off(singles.min(run.items.len()))
        .into_iter();
    let mut single = std::mem::take(&mut run.items).into_iter();
    for b in in_batch {
        let next = if b { batch.next() } else { single.next() };
        run.items.push(next.unwrap_or_default());
    }
    Ok(run)
}

// ---------------------------------------------------------------------------
// One regular file: decide and apply

/// The options of a module writing one regular file.
#[derive(Debug, Clone, Default)]
pub struct FileWant<'a> {
    /// The new content (`None`: leave the content, attributes only).
    pub content: Option<&'a [u8]>,
    /// Or the content of a file on the host (`remote_src`).
    pub remote: Option<(&'a str, Option<&'a str>)>,
    pub attrs: Attrs,
    pub backup: bool,
    pub validate: bool,
    /// `force: no`: an existing file is left as it is.
    pub keep_existing: bool,
    /// Fill diffs.
    pub diff: bool,
}

/// The decision for one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileDecision {
    pub ops: Vec<Op>,
    pub diffs: Vec<Diff>,
    pub changed: bool,
    pub content_changed: bool,
    /// The mode the file will have.
    pub mode: u32,
    pub attrs: AttrChange,
}

/// Decides what to do to make `st` (probed with sha256, and with its content
/// when diffing) a regular file with this content and these attributes.
pub fn decide_file(st: &Stat, host: &HostInfo, want: &FileWant) -> Result<FileDecision, String> {
    let path = st.path.as_str();
    match st.kind {
        FType::Directory => return Err(format!("{path} is a directory")),
        FType::Other => return Err(format!("{path} exists and is not a regular file")),
        _ => {}
    }
    let exists = st.kind == FType::File;
    if exists && want.keep_existing {
        // `force: no`: an existing file is left alone, attributes included.
        return Ok(FileDecision {
            mode: st.mode,
            ..Default::default()
        });
    }
    if exists && !st.readable && (want.content.is_some() || want.remote.is_some()) {
        return Err(format!(
            "permission denied reading {path}{}",
            become_hint(host)
        ));
    }
    let new_sha = match (want.content, want.remote) {
        (Some(c), _) => Some(sha256_hex(c)),
        (None, Some((_, sha))) => sha.map(str::to_string),
        _ => None,
    };
    let writes = want.content.is_some() || want.remote.is_some();
    let content_changed =
        writes && !(exists && new_sha.is_some() && st.sha256() == new_sha.as_deref());
    let mut d = FileDecision {
        content_changed,
        ..Default::default()
    };
    if !exists && !writes {
        return Err(format!("{path} does not exist"));
    }
    if content_changed {
        match st.parent {
            FType::Directory => {}
            FType::Absent => {
                return Err(format!(
                    "destination directory {} does not exist",
                    parent_of(path)
                ));
            }
            _ => return Err(format!("{} is not a directory", parent_of(path))),
        }
        if !st.parent_writable {
            return Err(format!(
                "permission denied: cannot write to directory {}{}",
                parent_of(path),
                become_hint(host)
            ));
        }
        let base = if exists {
            st.mode
        } else {
            default_mode(false, host.umask)
        };
        let mode = match &want.attrs.mode {
            Some(m) => m.resolve(base, false, host.umask)?,
            None => base,
        };
        d.mode = mode;
        let mut own = Own {
            preserve: exists.then_some((st.uid, st.gid)),
            set: None,
        };
        if exists {
            let c = attr_changes(&want.attrs, st, host.umask)?;
            own.set = c.chown_spec();
            d.attrs = c;
        } else {
            own.set = want.attrs.chown_spec();
        }
        let source = match (want.content, want.remote) {
            (Some(c), _) => Source::Bytes(c.to_vec()),
            (None, Some((p, sha))) => Source::Remote {
                path: p.to_string(),
                sha256: sha.map(str::to_string),
            },
            _ => unreachable!("content_changed implies a source"),
        };
        d.ops.push(Op::Write {
            path: path.to_string(),
            source,
            mode,
            own,
            backup: want.backup,
            validate: want.validate,
        });
        if want.diff {
            let before = if exists {
                st.content
                    .as_deref()
                    .map(|c| diff_text(c, st.content_truncated))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let after = match want.content {
                Some(c) => diff_text(c, false),
                None => "(content of the remote source)\n".into(),
            };
            d.diffs.push(Diff::new(path, before, after));
            if exists {
                d.diffs.extend(d.attrs.diffs(path));
            }
        }
    } else {
        let c = attr_changes(&want.attrs, st, host.umask)?;
        d.mode = c.mode.map(|(_, a)| a).unwrap_or(st.mode);
        d.ops.extend(c.ops(path, false));
        if want.diff {
            d.diffs.extend(c.diffs(path));
        }
        d.attrs = c;
    }
    d.changed = d.content_changed || d.attrs.any();
    Ok(d)
}

/// The plan of a module writing one regular file, from its decision: the
/// outcome (the file's attributes as they will be, `key` naming the path) and,
/// when something differs, the steps with a probe of the result.
pub fn file_plan(
    st: &Stat,
    d: &FileDecision,
    validate: Option<&str>,
    key: &str,
    new_size: Option<u64>,
) -> Plan {
    let mut o = if d.changed {
        Outcome::changed()
    } else {
        Outcome::ok()
    };
    o.diffs = d.diffs.clone();
    let mut fin = st.clone();
    if d.changed {
        // as it will be (what check mode reports)
        fin.kind = FType::File;
        fin.mode = d.mode;
        if let Some((_, ow)) = &d.attrs.owner {
            fin.owner = ow.clone();
        }
        if let Some((_, g)) = &d.attrs.group {
            fin.group = g.clone();
        }
        if let Some(s) = new_size {
            fin.size = s;
        }
    }
    o.data.extend(file_fields(&fin));
    o.data.insert(key.into(), json!(st.path));
    if !d.changed {
        return Plan::Done(o);
    }
    let mut ops = d.ops.clone();
    ops.push(Op::Probe(Req::new(st.path.clone()).sums(&[])));
    Plan::change(
        o,
        Action::Files {
            ops,
            validate: validate.map(str::to_string),
        },
    )
}

/// The outcome of an applied [`file_plan`]: the backup taken and the file's
/// attributes as they are now.
pub fn file_applied(mut o: Outcome, result: &Applied) -> Outcome {
    if let Applied::Files(run) = result {
        if let Some(b) = run.backup_file() {
            o.data.insert("backup_file".into(), json!(b));
        }
        if let Some(after) = run.items.last() {
            o.data.extend(file_fields(after));
        }
    }
    o
}

/// `mode`, `owner`, `group`, `uid`, `gid`, `size`, `state` of a path, as Ansible
/// registers them.
pub fn file_fields(st: &Stat) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("state".into(), json!(st.kind.name()));
    if st.exists() {
        m.insert("mode".into(), json!(mode_str(st.mode)));
        m.insert("owner".into(), json!(st.owner));
        m.insert("group".into(), json!(st.group));
        m.insert("uid".into(), json!(st.uid));
        m.insert("gid".into(), json!(st.gid));
        m.insert("size".into(), json!(st.size));
    }
    m
}

/// The `validate` argument, checked for `%s`.
pub fn validate_arg(args: &Args) -> Result<Option<String>, Fail> {
    match args.str("validate") {
        None => Ok(None),
        Some(v) if v.contains("%s") => Ok(Some(v.to_string())),
        Some(v) => bad_args(format!(
            "validate must contain %s (the path of the file to check): {v}"
        )),
    }
}

/// Ansible's error for a missing file to edit.
pub fn require_readable(st: &Stat, host: &HostInfo) -> Result<(), String> {
    if st.kind == FType::Directory {
        return Err(format!("Path {} is a directory !", st.path));
    }
    if st.kind == FType::File && !st.readable {
        return Err(format!(
            "permission denied reading {}{}",
            st.path,
            become_hint(host)
        ));
    }
    Ok(())
}

/// The file an editing module works on: a symlink's target (Ansible writes to
/// the link's real path).
pub fn edit_target(st: &Stat) -> Stat {
    let mut st = st.clone();
    if st.is_link
        && let Some(r) = &st.realpath
    {
        st.path = r.clone();
    }
    st
}

/// Content of a text file to edit, as UTF-8.
pub fn text_of(st: &Stat) -> Result<String, String> {
    let c = st.content.as_deref().unwrap_or_default();
    String::from_utf8(c.to_vec()).map_err(|_| {
        format!(
            "{} is not UTF-8 text; opsctl edits text files only",
            st.path
        )
    })
}

/// Compiles a Python regex, with errors naming the argument.
pub(crate) fn py_regex(
    arg: &str,
    pattern: &str,
    multiline: bool,
) -> Result<pyregex::PyRegex, Fail> {
    pyregex::PyRegex::new(pattern, false, multiline).map_err(|e| {
        Fail::Module(ModuleError::Args(format!(
            "{arg}: {}",
            e.detail().unwrap_or("invalid regular expression")
        )))
    })
}

/// The file a text-editing module (lineinfile, blockinfile, replace) reads:
/// `path`, links followed, with its whole content.
pub fn edit_req(args: &Args) -> Req {
    Req::new(args.str("path").unwrap_or_default())
        .follow(true)
        .content(ContentReq::Whole)
}

/// What a text-editing module needs: who runs on the host, and the file.
pub fn edit_needs(args: &Args) -> Vec<Need> {
    vec![Need::Host, Need::Path(edit_req(args))]
}

/// The file to edit (see [`edit_target`]), readable, and who edits it.
pub fn edited<'f>(args: &Args, facts: &'f Facts) -> Result<(Stat, &'f HostInfo), Fail> {
    let host = facts.host()?;
    let st = edit_target(facts.path(&edit_req(args))?);
    require_readable(&st, host)?;
    Ok((st, host))
}

/// The plan of a module editing a text file (lineinfile, blockinfile,
/// replace): `new` is the whole new text; `msg` says what the edit does.
pub fn text_plan(
    args: &Args,
    st: &Stat,
    host: &HostInfo,
    new: &str,
    msg: &str,
    diff: bool,
) -> Result<Plan, Fail> {
    let validate = validate_arg(args)?;
    let attrs = Attrs::from_args(args)?;
    let old = st.content.as_deref().unwrap_or_default();
    let content_changed = st.kind != FType::File || old != new.as_bytes();
    let want = FileWant {
        content: content_changed.then_some(new.as_bytes()),
        attrs,
        backup: args.bool_or("backup", false),
        validate: validate.is_some(),
        diff,
        ..Default::default()
    };
    // A file created (`create: yes`) gets its missing directories too.
    let mut st = st.clone();
    let mkdir = (!st.exists() && st.parent == FType::Absent).then(|| Op::Mkdir {
        path: parent_of(&st.path),
        mode: None,
        own: None,
    });
    if mkdir.is_some() {
        st.parent = FType::Directory;
        st.parent_writable = true;
    }
    let mut d = decide_file(&st, host, &want)?;
    if let Some(m) = mkdir {
        d.ops.insert(0, m);
    }
    let mut plan = file_plan(&st, &d, validate.as_deref(), "path", Some(new.len() as u64));
    let mut msg = msg.to_string();
    if d.attrs.any() && !d.content_changed {
        msg = "ownership, perms or SE linux context changed".into();
    } else if d.attrs.any() {
        msg.push_str(" and ownership, perms or SE linux context changed");
    }
    if let Some(o) = plan.outcome_mut() {
        o.msg = (!msg.is_empty()).then_some(msg);
    }
    Ok(plan)
}

#[cfg(test)]
pub(crate) mod testkit {
    //! A real local host for module tests: a local connection working in a
    //! temporary directory.
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use serde_json::{Map, Value as Json};

    use crate::location::Location;
    use crate::modules::{Args, HostEnv, Outcome, Spec};
    use crate::template::Templar;
    use crate::transport::{Connection, ConnectionSpec};

    pub struct Kit {
        pub dir: tempfile::TempDir,
        pub conn: Connection,
        pub search: Vec<PathBuf>,
        pub location: Location,
        pub vars: minijinja::Value,
        pub templar: Templar,
    }

    pub async fn kit() -> Kit {
        kit_with_vars(serde_json::json!({})).await
    }

    pub async fn kit_with_vars(vars: Json) -> Kit {
        let dir = tempfile::tempdir().unwrap();
        let spec = ConnectionSpec::local("localhost");
        let conn = Connection::open(&spec).await.unwrap();
        let files = dir.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        Kit {
            search: vec![files],
            location: Location::new(dir.path().join("tasks.yml"), 1, None),
            vars: minijinja::Value::from(minijinja::value::Serde(vars)),
            templar: Templar::new(),
            conn,
            dir,
        }
    }

    impl Kit {
        pub fn env(&self, check: bool, diff: bool) -> HostEnv<'_> {
            HostEnv {
                host: "localhost",
                conn: &self.conn,
                check,
                diff,
                become_user: None,
                environment: &[],
                search: &self.search,
                location: &self.location,
                vars: &self.vars,
                templar: &self.templar,
                trace: Mutex::new(vec![]),
            }
        }
        pub fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }
        pub fn p(&self, rel: &str) -> String {
            self.path(rel).display().to_string()
        }
        pub fn write(&self, rel: &str, content: &str) {
            let p = self.path(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        pub fn read(&self, rel: &str) -> String {
            std::fs::read_to_string(self.path(rel)).unwrap()
        }
        /// Runs a protocol module with these (validated) arguments, as the
        /// engine does; returns the outcome and the number of execs.
        pub async fn run_module(
            &self,
            spec: &Spec,
            module: &dyn crate::modules::protocol::Module,
            args: Json,
            check: bool,
            diff: bool,
        ) -> (Outcome, usize) {
            let raw: Map<String, Json> = args.as_object().unwrap().clone();
            let args: Args = spec
                .validate(&raw, true)
                .unwrap_or_else(|e| panic!("bad args: {e}"));
            let env = self.env(check, diff);
            let o = Self::apply(module, &args, &env)
                .await
                .unwrap_or_else(|e| panic!("module error: {e}"));
            let n = env.trace.lock().unwrap().len();
            (o, n)
        }

        /// The module run as the engine runs it (facts, decide, apply): the one
        /// place module tests reach into the engine.
        pub async fn apply(
            module: &dyn crate::modules::protocol::Module,
            args: &Args,
            env: &HostEnv<'_>,
        ) -> Result<Outcome, crate::modules::ModuleError> {
            let cache = crate::engine::gather::FactCache::default();
            crate::engine::apply::run(module, args, env, &cache)
                .await
                .map(|r| r.outcome)
        }
    }

    pub fn mode_of(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_modes() {
        assert_eq!(
            ModeSpec::from_json(&json!(420)).unwrap(),
            ModeSpec::Octal(0o644)
        );
        assert_eq!(
            ModeSpec::from_json(&json!("0644")).unwrap(),
            ModeSpec::Octal(0o644)
        );
        assert_eq!(
            ModeSpec::from_json(&json!("644")).unwrap(),
            ModeSpec::Octal(0o644)
        );
        assert_eq!(
            ModeSpec::from_json(&json!("01777")).unwrap(),
            ModeSpec::Octal(0o1777)
        );
        assert!(ModeSpec::from_json(&json!("0999")).is_err());
        assert!(ModeSpec::from_json(&json!(99999)).is_err());
        assert!(ModeSpec::from_json(&json!("u=rw;g=r")).is_err());
        assert_eq!(mode_str(0o644), "0644");
        assert_eq!(mode_str(0o4755), "4755");
    }

    fn sym(s: &str, cur: u32, dir: bool) -> u32 {
        symbolic_mode(s, cur, dir, 0o022).unwrap()
    }

    #[test]
    fn symbolic_modes_like_ansible() {
        assert_eq!(sym("u=rw,g=r,o=r", 0o777, false), 0o644);
        assert_eq!(sym("u+x,go-w", 0o666, false), 0o744);
        assert_eq!(sym("a+x", 0o644, false), 0o755);
        assert_eq!(sym("go=", 0o755, false), 0o700);
        assert_eq!(sym("u=rwx,g=rx,o=", 0o000, false), 0o750);
        assert_eq!(sym("o+t", 0o777, true), 0o1777);
        assert_eq!(sym("u+s,g+s", 0o755, false), 0o6755);
        assert_eq!(sym("u=rw", 0o4755, false), 0o655, "= clears setuid");
        assert_eq!(sym("g=u", 0o740, false), 0o770);
        assert_eq!(sym("o=g", 0o750, false), 0o755);
        assert_eq!(
            sym("u+x-w", 0o644, false),
            0o544,
            "several operators in one clause"
        );
        // no "who": all, minus the umask (022)
        assert_eq!(sym("+w", 0o444, false), 0o644);
        assert_eq!(sym("=rw", 0o777, false), 0o644);
    }

    #[test]
    fn capital_x() {
        // X: x only for directories or when someone already has x
        assert_eq!(sym("a+X", 0o644, false), 0o644);
        assert_eq!(sym("a+X", 0o744, false), 0o755);
        assert_eq!(sym("a+X", 0o644, true), 0o755);
        assert_eq!(sym("u=rwX,g=rX,o=rX", 0o600, true), 0o755);
        assert_eq!(sym("u=rwX,g=rX,o=rX", 0o600, false), 0o644);
        assert_eq!(sym("go-X", 0o755, true), 0o744);
        // the check uses the mode left by the previous clause
        assert_eq!(sym("u+x,g+X", 0o644, false), 0o754);
    }

    #[test]
    fn symbolic_errors() {
        for bad in ["rw", "u=q", "z+x", "u+x,", "=,"] {
            assert!(symbolic_mode(bad, 0o644, false, 0o022).is_err(), "{bad}");
        }
        assert!(ModeSpec::parse("u+rwX,go-w").is_ok());
    }

    #[test]
    fn paths() {
        assert_eq!(parent_of("/etc/nginx/nginx.conf"), "/etc/nginx");
        assert_eq!(parent_of("/etc"), "/");
        assert_eq!(parent_of("file"), ".");
        assert_eq!(parent_of("a/b/"), "a");
        assert_eq!(basename("/a/b/"), "b");
        assert_eq!(join("/a/", "b"), "/a/b");
        assert_eq!(join("/a", "b"), "/a/b");
    }

    #[test]
    fn checksums() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn parses_probe_output() {
        let out = format!(
            "host_umask=0027\nhost_uid=1000\nhost_user=deploy\nhost_home={}\n@@\npath={}\nlink=1\ntarget={}\ntype=file\nmode=640\nrawmode=81a0\nuid=0\ngid=4\nowner=root\ngroup=adm\nsize=3\nmtime=1700000000\nsum_sha256=abc\ncontent={}\nreadable=1\nparent=directory\nparent_writable=1\ngarbage line\n@@\npath={}\ntype=absent\nparent=absent\nx_backup={}\n",
            enc("/home/deploy"),
            enc("/etc/x y"),
            enc("/target\n"),
            b64(b"a\nb"),
            enc("/nope"),
            enc("/etc/x.1~")
        );
        let run = parse_output(out.as_bytes());
        assert_eq!(
            run.host,
            HostInfo {
                umask: 0o027,
                user: "deploy".into(),
                uid: 1000,
                home: "/home/deploy".into()
            }
        );
        assert_eq!(run.items.len(), 2);
        let a = &run.items[0];
        assert_eq!(
            (a.path.as_str(), a.kind, a.is_link, a.mode, a.raw_mode),
            ("/etc/x y", FType::File, true, 0o640, 0o100640)
        );
        assert_eq!(a.link_target.as_deref(), Some("/target"));
        assert_eq!(
            (
                a.owner.as_str(),
                a.group.as_str(),
                a.uid,
                a.gid,
                a.size,
                a.mtime
            ),
            ("root", "adm", 0, 4, 3, 1_700_000_000)
        );
        assert_eq!(a.sha256(), Some("abc"));
        assert_eq!(a.content.as_deref(), Some(&b"a\nb"[..]));
        assert!(a.readable && !a.writable && a.parent_writable);
        let b = &run.items[1];
        assert_eq!(
            (b.kind, b.parent, b.exists()),
            (FType::Absent, FType::Absent, false)
        );
        assert_eq!(run.backup_file().as_deref(), Some("/etc/x.1~"));
    }

    fn host() -> HostInfo {
        HostInfo {
            umask: 0o022,
            user: "me".into(),
            uid: 1000,
            home: "/home/me".into(),
        }
    }

    fn file(content: &[u8], mode: u32) -> Stat {
        Stat {
            path: "/srv/f".into(),
            kind: FType::File,
            mode,
            uid: 1000,
            gid: 1000,
            owner: "me".into(),
            group: "me".into(),
            readable: true,
            sums: [("sha256".to_string(), sha256_hex(content))].into(),
            content: Some(content.to_vec()),
            parent: FType::Directory,
            parent_writable: true,
            ..Default::default()
        }
    }

    #[test]
    fn decide_file_compares_sha256_then_attributes() {
        let st = file(b"same\n", 0o644);
        let want = FileWant {
            content: Some(b"same\n"),
            diff: true,
            ..Default::default()
        };
        let d = decide_file(&st, &host(), &want).unwrap();
        assert!(!d.changed && d.ops.is_empty() && d.diffs.is_empty());

        let want = FileWant {
            content: Some(b"same\n"),
            attrs: Attrs {
                mode: Some(ModeSpec::Octal(0o600)),
                ..Default::default()
            },
            diff: true,
            ..Default::default()
        };
        let d = decide_file(&st, &host(), &want).unwrap();
        assert!(d.changed && !d.content_changed);
        assert_eq!(
            d.ops,
            vec![Op::Chmod {
                path: "/srv/f".into(),
                mode: 0o600
            }]
        );
        assert_eq!(
            d.diffs,
            vec![Diff::new("/srv/f (mode)", "0644\n", "0600\n")]
        );

        let want = FileWant {
            content: Some(b"new\n"),
            diff: true,
            backup: true,
            ..Default::default()
        };
        let d = decide_file(&st, &host(), &want).unwrap();
        assert!(d.content_changed);
        match &d.ops[..] {
            [
                Op::Write {
                    mode,
                    own,
                    backup: true,
                    ..
                },
            ] => {
                assert_eq!(*mode, 0o644, "the existing mode is kept");
                assert_eq!(own.preserve, Some((1000, 1000)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.diffs, vec![Diff::new("/srv/f", "same\n", "new\n")]);

        // force: no keeps an existing file
        let want = FileWant {
            content: Some(b"new\n"),
            keep_existing: true,
            ..Default::default()
        };
        assert!(!decide_file(&st, &host(), &want).unwrap().changed);
    }

    #[test]
    fn decide_new_file_and_errors() {
        let absent = Stat {
            path: "/srv/n".into(),
            parent: FType::Directory,
            parent_writable: true,
            ..Default::default()
        };
        let want = FileWant {
            content: Some(b"x"),
            attrs: Attrs {
                mode: Some(ModeSpec::Symbolic("u+x".into())),
                ..Default::default()
            },
            ..Default::default()
        };
        let d = decide_file(&absent, &host(), &want).unwrap();
        assert_eq!(d.mode, 0o744, "symbolic modes apply to 0666 & ~umask");
        let missing = Stat {
            parent: FType::Absent,
            ..absent.clone()
        };
        assert!(
            decide_file(&missing, &host(), &want)
                .unwrap_err()
                .contains("destination directory /srv does not exist")
        );
        let ro = Stat {
            parent_writable: false,
            ..absent.clone()
        };
        let e = decide_file(&ro, &host(), &want).unwrap_err();
        assert!(
            e.contains("permission denied") && e.contains("become: true"),
            "{e}"
        );
        let dir = Stat {
            kind: FType::Directory,
            ..absent
        };
        assert!(
            decide_file(&dir, &host(), &want)
                .unwrap_err()
                .contains("is a directory")
        );
    }

    #[test]
    fn manifest_layout() {
        let m = manifest(&[
            Op::Probe(
                Req::new("/a b")
                    .follow(true)
                    .content(ContentReq::Capped(10)),
            ),
            Op::Write {
                path: "/a".into(),
                source: Source::Bytes(b"hi".to_vec()),
                mode: 0o640,
                own: Own::default(),
                backup: false,
                validate: true,
            },
            Op::Chmod {
                path: " odd\n".into(),
                mode: 0o600,
            },
        ]);
        let text = String::from_utf8(m).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], "P 1 sha256 11 - - - - - /a b");
        assert_eq!(
            lines[1],
            format!("W 2 {} 00640 - - 0 1 - /a", sha256_hex(b"hi"))
        );
        assert_eq!(
            lines[2],
            format!("hiM 00600 - - - - - - - b64:{}", enc(" odd\n")),
            "content follows its line"
        );
    }

    #[tokio::test]
    async fn odd_paths_survive_the_script() {
        let k = testkit::kit().await;
        let env = k.env(false, false);
        for name in [
            "with space",
            " lead",
            "trail ",
            "new\nline",
            "back\\",
            "b64:x",
            "quote'\"$x",
        ] {
            let p = k.p(name);
            let ops = [
                Op::Write {
                    path: p.clone(),
                    source: Source::Bytes(name.as_bytes().to_vec()),
                    mode: 0o600,
                    own: Own::default(),
                    backup: false,
                    validate: false,
                },
                Op::Probe(Req::new(p.clone())),
            ];
            let run = run_ops(&env, &ops, None).await.unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), name.as_bytes(), "{name:?}");
            assert_eq!(run.items[0].path, p, "{name:?}");
            assert_eq!(
                run.items[0].sha256(),
                Some(sha256_hex(name.as_bytes()).as_str())
            );
        }
    }
}
