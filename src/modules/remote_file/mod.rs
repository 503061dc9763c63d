//! The remote file protocol: what the file modules ask of a host and what
//! comes back, in one exec of one fixed POSIX `sh` interpreter.
//!
//! * [`Op`]s are the steps: probes of paths ([`Req`]) and changes (atomic
//!   writes, mkdir, chmod, chown, links, removal, touch). [`manifest`] encodes
//!   them for the interpreter's stdin: paths and strings base64-encoded, file
//!   content raw after its `W` line, so the script stays small whatever the
//!   number of files and nothing is ever quoted into it (except a `validate`
//!   command, which is the user's shell code).
//! * [`SCRIPT`] ([`script`]) interprets the manifest and prints `key=value`
//!   lines, one `@@` line before each probed path; [`parse_output`] reads them
//!   into a [`Run`] of [`Stat`]s.
//! * [`run_ops`], [`interpret`] and [`probe`] run ops on a host and turn a
//!   failed step into a task failure naming the path.

mod manifest;
mod parse;
mod script;

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};

pub use manifest::manifest;
use manifest::path_field;
use parse::dec;
pub use parse::parse_output;
pub use script::{READER, SCRIPT, WHOAMI_FN, whoami_lines};

use super::HostEnv;
use super::content::DIFF_CAP;
use super::fail::{Fail, fail};
use super::mode::mode_str;
use crate::transport::Output;

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
    /// The path's `state` as Ansible names it: a regular file with more than
    /// one link is `hard`.
    pub fn state(&self) -> &'static str {
        match self.kind {
            FType::File if self.nlink > 1 => "hard",
            kind => kind.name(),
        }
    }

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
    /// Probes of many paths at once (one `stat`, one `sha256sum` for the files
    /// whose sha256 is asked, their content inline), links followed or not as
    /// `follow` says (every req's `follow` is that); see [`probe_ops`].
    Batch {
        reqs: Vec<Req>,
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

/// `mode`, `owner`, `group`, `uid`, `gid`, `size`, `state` of a path, as Ansible
/// registers them.
pub fn file_fields(st: &Stat) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("state".into(), json!(st.state()));
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

/// The read-only interpreter ([`READER`]) of a gathering, a function of its
/// shell.
pub fn reader() -> String {
    format!("{WHOAMI_FN}{READER}")
}

/// What the interpreter printed for `ops`: the probes, or the failed step as a
/// task failure naming the path (with the `become` hint for permission errors).
pub fn interpret(out: &Output, ops: &[Op]) -> Result<Run, Fail> {
    let mut run = parse_output(&out.stdout);
    // Content read one byte past its cap was truncated.
    if !ops.iter().any(|o| matches!(o, Op::List(_))) {
        let caps = ops.iter().flat_map(|o| match o {
            Op::Probe(r) => vec![r.content],
            Op::Batch { reqs, .. } => reqs.iter().map(|r| r.content).collect(),
            _ => Vec::new(),
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

/// Can a req go into a batch? Its path is sent raw (no newline, no leading or
/// trailing blank, no backslash: `sha256sum` would escape it), is not `~` or
/// an option, and it asks for sha256 at most (other sums: a probe of its own).
pub fn batchable(r: &Req) -> bool {
    (r.sums.is_empty() || r.sums == ["sha256"])
        && path_field(&r.path) == r.path
        && !r.path.contains(['\\', '\r'])
        && !r.path.starts_with(['~', '-'])
}

/// The ops that probe `reqs`: a probe for each req that cannot be batched,
/// then one batch per `follow` (one `stat`, one `sha256sum`, content inline).
/// Also the index in `reqs` of each item the ops print, in order.
pub fn probe_ops(reqs: &[Req]) -> (Vec<Op>, Vec<usize>) {
    let mut ops = Vec::new();
    let mut order = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        if !batchable(r) {
            ops.push(Op::Probe(r.clone()));
            order.push(i);
        }
    }
    for follow in [false, true] {
        let (idx, batch): (Vec<usize>, Vec<Req>) = reqs
            .iter()
            .enumerate()
            .filter(|(_, r)| batchable(r) && r.follow == follow)
            .map(|(i, r)| (i, r.clone()))
            .unzip();
        if !batch.is_empty() {
            ops.push(Op::Batch {
                reqs: batch,
                follow,
            });
            order.extend(idx);
        }
    }
    (ops, order)
}

/// Probes paths in one exec; the items in the order of `reqs`.
pub async fn probe(env: &HostEnv<'_>, reqs: Vec<Req>) -> Result<Run, Fail> {
    let (ops, order) = probe_ops(&reqs);
    let mut run = run_ops(env, &ops, None).await?;
    let mut items = vec![Stat::default(); reqs.len()];
    for (i, st) in order.into_iter().zip(std::mem::take(&mut run.items)) {
        items[i] = st;
    }
    run.items = items;
    Ok(run)
}
