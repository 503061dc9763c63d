//! Reads what the interpreter printed (`key=value` lines, one `@@` line
//! before each probed path) into a [`Run`].

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::{FType, Run, Stat};

pub(super) fn dec(s: &str) -> Option<String> {
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
    let mut deferred = false;
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
                // after a batch that deferred its stat, both are read at the end
                if !deferred {
                    batch_start = items.len();
                }
                deferred = false;
                continue;
            }
            "@@defer" => {
                deferred = true;
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
                    // a link followed was stat'ed by its real path; nothing of
                    // an absent path (the same path not followed may be a link)
                    // a link's target: its own stat's %N, followed or not
                    if item.contains_key("link")
                        && !item.contains_key("rtarget")
                        && !item.contains_key("target")
                        && let Some(t) = by_path
                            .get(&path)
                            .and_then(|r| r.get("linkq"))
                            .and_then(|q| link_target_of(q))
                    {
                        item.insert("rtarget".into(), String::from_utf8_lossy(&t).into_owned());
                    }
                    let key = item.get("statpath").unwrap_or(&path);
                    let absent = item.get("type").is_some_and(|t| t == "absent");
                    if let Some(r) = by_path.get(key).filter(|_| !absent) {
                        for (k, v) in r {
                            item.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    if let Some(h) = sums.get(&path)
                        && item.contains_key("sumread")
                    {
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

/// The target in stat's `%N` of a link, C-quoted (`QUOTING_STYLE=c`,
/// `LC_ALL=C`): `"PATH" -> "TARGET"`; `None` for anything else.
fn link_target_of(q: &str) -> Option<Vec<u8>> {
    let (_, rest) = c_string(q.as_bytes())?;
    let rest = rest.strip_prefix(b" -> ")?;
    let (target, rest) = c_string(rest)?;
    rest.is_empty().then_some(target)
}

/// A C-quoted string at the start of `b` (as gnulib's quotearg writes it):
/// its bytes and what follows it.
fn c_string(b: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut i = 1;
    let mut out = Vec::new();
    if b.first() != Some(&b'"') {
        return None;
    }
    loop {
        match *b.get(i)? {
            b'"' => return Some((out, &b[i + 1..])),
            b'\\' => {
                let c = *b.get(i + 1)?;
                i += 2;
                out.push(match c {
                    b'a' => 7,
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'v' => 11,
                    b'\\' | b'"' | b'\'' | b'?' => c,
                    b'0'..=b'7' => {
                        let mut v = u32::from(c - b'0');
                        for _ in 0..2 {
                            match b.get(i) {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        u8::try_from(v).ok()?
                    }
                    _ => return None,
                });
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::content::b64;
    use crate::modules::remote_file::HostInfo;
    use crate::modules::remote_file::manifest::enc;

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
}

#[cfg(test)]
mod link_tests {
    use super::*;

    /// The targets in real `stat` output, whatever their bytes: spaces, quotes,
    /// backslashes, a newline, a tab, a byte that is not UTF-8, ` -> ` itself.
    #[test]
    fn link_targets_from_stat_s_quoted_names() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let t = tempfile::tempdir().unwrap();
        let targets: Vec<&[u8]> = vec![
            b"/srv/app/releases/20261204",
            b"rel",
            b"a b -> c",
            b"quote\"d 'x' \\back\\slash",
            b"new\nline\ttab\x01?",
            b"caf\xe9 \xc3\xa9t\xc3\xa9 777",
            b"../up/./x",
        ];
        for (i, target) in targets.iter().enumerate() {
            let link = t.path().join(format!("l {i} -> \"q\""));
            std::os::unix::fs::symlink(OsStr::from_bytes(target), &link).unwrap();
            let out = std::process::Command::new("stat")
                .env("QUOTING_STYLE", "c")
                .env("LC_ALL", "C")
                .args(["--printf", "%N"])
                .arg(&link)
                .output()
                .unwrap();
            let q = String::from_utf8(out.stdout).expect("ASCII");
            assert!(!q.contains('\n'), "{q}");
            assert_eq!(link_target_of(&q).as_deref(), Some(*target), "{q}");
        }
        assert_eq!(link_target_of("\"plain\""), None);
        assert_eq!(link_target_of("\"a\" -> \"b"), None);
        assert_eq!(link_target_of("\"a\" -> \"b\\q\""), None);
    }
}
