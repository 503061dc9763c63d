//! find (ansible.builtin.find): the files below directories that match
//! patterns, age, size, type, mode and content, registered as Ansible does
//! (`files`, `matched`, `examined`, `skipped_paths`, `msg`).
//!
//! On the module protocol: each directory is a `Need::Tree` (one `find`,
//! links not followed), the host's time a probe when `age` is given; Rust
//! filters purely. A second read (`Plan::More`) asks what the first cannot
//! tell: the content of the candidates for `contains`, their checksum for
//! `get_checksum` (sha1 by default, as Ansible), the target of links with
//! `follow`. Nothing is ever changed. `follow` reports a link by its target's
//! type, size and times; directories behind links are not descended into.

use serde_json::{Map, Value as Json, json};

use super::fail::{self, Fail};
use super::mode::mode_str;
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::remote_file::{ContentReq, FType, Req, SUM_ALGOS, Stat};
use super::text_edit::pyregex::PyRegex;
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static FIND: Spec = Spec::new(
    "find",
    &[
        ArgSpec::new("paths", Kind::List)
            .required()
            .aliases(&["name", "path"]),
        ArgSpec::new("patterns", Kind::List).aliases(&["pattern"]),
        ArgSpec::new("excludes", Kind::List).aliases(&["exclude"]),
        ArgSpec::new("contains", Kind::Str),
        ArgSpec::new("read_whole_file", Kind::Bool),
        ArgSpec::new("age", Kind::Str),
        ArgSpec::new("age_stamp", Kind::Choice(&["atime", "ctime", "mtime"])),
        ArgSpec::new("size", Kind::Str),
        ArgSpec::new("recurse", Kind::Bool),
        ArgSpec::new("hidden", Kind::Bool),
        ArgSpec::new("follow", Kind::Bool),
        ArgSpec::new("get_checksum", Kind::Bool),
        ArgSpec::new("checksum_algorithm", Kind::Choice(SUM_ALGOS))
            .aliases(&["checksum_algo", "checksum"]),
        ArgSpec::new("use_regex", Kind::Bool),
        ArgSpec::new(
            "file_type",
            Kind::Choice(&["any", "directory", "file", "link"]),
        ),
        ArgSpec::new("depth", Kind::Int),
        ArgSpec::new("encoding", Kind::Str),
        ArgSpec::new("mode", Kind::Mode),
        ArgSpec::new("exact_mode", Kind::Bool),
        ArgSpec::new("limit", Kind::Int),
    ],
);

pub struct Find;

const NOW: &str = "# opsctl find: the host's time\ndate +%s\n";

/// The arguments, checked.
struct Want {
    paths: Vec<String>,
    patterns: Vec<Matcher>,
    excludes: Vec<Matcher>,
    contains: Option<PyRegex>,
    whole: bool,
    age: Option<i64>,
    age_stamp: String,
    size: Option<i64>,
    recurse: bool,
    depth: Option<i64>,
    hidden: bool,
    follow: bool,
    checksum: Option<String>,
    file_type: String,
    mode: Option<(u32, bool)>,
    limit: Option<usize>,
}

/// A pattern: a shell glob (fnmatch) or a Python regex (`re.match`).
enum Matcher {
    Glob(regex::Regex),
    Re(PyRegex),
}

impl Matcher {
    fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Glob(r) => r.is_match(name),
            Matcher::Re(r) => r.is_match(name),
        }
    }
}

fn matchers(args: &Args, arg: &str, regex: bool) -> Result<Vec<Matcher>, Fail> {
    args.strings(arg)
        .iter()
        .map(|p| {
            if regex {
                PyRegex::new_anchored(p, false, false)
                    .map(Matcher::Re)
                    .map_err(|e| {
                        Fail::Args(format!(
                            "{arg}: {p}: {}",
                            e.detail().unwrap_or("invalid regular expression")
                        ))
                    })
            } else {
                let re =
                    crate::inventory::pattern::glob_regex(p).unwrap_or_else(|| "[^\\s\\S]".into());
                regex::Regex::new(&format!("{re}$"))
                    .map(Matcher::Glob)
                    .map_err(|e| Fail::Args(format!("{arg}: {p}: {e}")))
            }
        })
        .collect()
}

/// A number with an optional unit letter (`1w`, `-3d`, `10k`), times the
/// unit's factor (`default` when no letter is given).
fn suffixed(s: &str, default: char, units: &[(char, i64)]) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = match s.chars().last()? {
        c if c.is_ascii_alphabetic() => (&s[..s.len() - 1], c.to_ascii_lowercase()),
        _ => (s, default),
    };
    let n: i64 = num.parse().ok()?;
    let (_, mult) = units.iter().find(|(u, _)| *u == unit)?;
    Some(n * mult)
}

/// `1w`, `-3d`, `600`: seconds (Ansible's `age`).
fn parse_age(s: &str) -> Option<i64> {
    suffixed(
        s,
        's',
        &[
            ('s', 1),
            ('m', 60),
            ('h', 3600),
            ('d', 86400),
            ('w', 604800),
        ],
    )
}

/// `10k`, `-1m`, `512`: bytes (Ansible's `size`).
fn parse_size(s: &str) -> Option<i64> {
    suffixed(
        s,
        'b',
        &[
            ('b', 1),
            ('k', 1 << 10),
            ('m', 1 << 20),
            ('g', 1 << 30),
            ('t', 1 << 40),
        ],
    )
}

fn want(args: &Args) -> Result<Want, Fail> {
    let regex = args.bool_or("use_regex", false);
    let age = match args.str("age") {
        Some(a) => Some(parse_age(a).ok_or_else(|| {
            Fail::Args(format!(
                "failed to process age: '{a}' (such as 600, 1h, -2d, 1w)"
            ))
        })?),
        None => None,
    };
    let size = match args.str("size") {
        Some(s) => Some(parse_size(s).ok_or_else(|| {
            Fail::Args(format!(
                "failed to process size: '{s}' (such as 512, 10k, -1m, 2g)"
            ))
        })?),
        None => None,
    };
    let contains = match args.str("contains") {
        Some(c) => Some(PyRegex::new_anchored(c, false, false).map_err(|e| {
            Fail::Args(format!(
                "contains: {}",
                e.detail().unwrap_or("invalid regular expression")
            ))
        })?),
        None => None,
    };
    let contains =
        match (
            contains,
            args.bool_or("read_whole_file", false),
            args.str("contains"),
        ) {
            (Some(_), true, Some(c)) => Some(PyRegex::new(c, false, false).map_err(|e| {
                Fail::Args(format!("contains: {}", e.detail().unwrap_or("invalid")))
            })?),
            (c, _, _) => c,
        };
    let mode = match args.get("mode") {
        None => None,
        Some(m) => {
            let text = m
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{:o}", m.as_u64().unwrap_or_default()));
            let bits = match m.as_u64() {
                Some(n) => n as u32,
                None => u32::from_str_radix(text.trim(), 8).map_err(|_| {
                    Fail::Args(format!("mode: '{text}': give an octal mode such as '0644'"))
                })?,
            };
            Some((bits, args.bool_or("exact_mode", true)))
        }
    };
    let paths: Vec<String> = args
        .strings("paths")
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    if paths.is_empty() {
        return fail::bad_args("paths: give at least one directory");
    }
    Ok(Want {
        paths,
        patterns: matchers(args, "patterns", regex)?,
        excludes: matchers(args, "excludes", regex)?,
        contains,
        whole: args.bool_or("read_whole_file", false),
        age,
        age_stamp: args.string("age_stamp").unwrap_or_else(|| "mtime".into()),
        size,
        recurse: args.bool_or("recurse", false),
        depth: args.int("depth"),
        hidden: args.bool_or("hidden", false),
        follow: args.bool_or("follow", false),
        checksum: args.bool_or("get_checksum", false).then(|| {
            args.string("checksum_algorithm")
                .unwrap_or_else(|| "sha1".into())
        }),
        file_type: args.string("file_type").unwrap_or_else(|| "file".into()),
        mode,
        limit: args.int("limit").map(|l| l.max(0) as usize),
    })
}

fn basename(p: &str) -> &str {
    p.trim_end_matches('/').rsplit('/').next().unwrap_or(p)
}

/// Ansible's `pfilter`: patterns select, excludes reject (by base name).
fn name_ok(w: &Want, name: &str) -> bool {
    let selected = w.patterns.is_empty() || w.patterns.iter().any(|m| m.matches(name));
    selected && !w.excludes.iter().any(|m| m.matches(name))
}

fn stamp(st: &Stat, which: &str) -> i64 {
    match which {
        "atime" => st.atime,
        "ctime" => st.ctime,
        _ => st.mtime,
    }
}

/// The entries of the trees that pass every filter but `contains`, in order,
/// with the number examined.
fn candidates(
    w: &Want,
    facts: &Facts,
    skipped: &mut Map<String, Json>,
) -> Result<(Vec<Stat>, usize), Fail> {
    let mut out = Vec::new();
    let mut examined = 0;
    for root in &w.paths {
        let entries = facts.tree(root)?;
        let top = entries
            .iter()
            .find(|e| e.path.trim_end_matches('/') == root.trim_end_matches('/'));
        if top.is_none_or(|t| t.kind != FType::Directory) {
            skipped.insert(root.clone(), json!(format!("{root} was skipped as it does not seem to be a valid directory or it cannot be accessed")));
            continue;
        }
        let root_depth = root.trim_end_matches('/').matches('/').count();
        for e in entries {
            if e.path.trim_end_matches('/') == root.trim_end_matches('/') {
                continue;
            }
            let depth = e.path.matches('/').count() - root_depth;
            let max = if w.recurse {
                w.depth.unwrap_or(i64::MAX)
            } else {
                1
            };
            if depth as i64 > max {
                continue;
            }
            // Ansible skips (and does not count) entries whose name is hidden
            if !w.hidden && basename(&e.path).starts_with('.') {
                continue;
            }
            examined += 1;
            out.push(e.clone());
        }
    }
    Ok((out, examined))
}

/// Does an entry (by its own stat, or its target's with `follow`) pass the
/// type, name, age, size and mode filters?
fn passes(w: &Want, st: &Stat, now: Option<i64>) -> bool {
    let kind_ok = match w.file_type.as_str() {
        "file" => st.kind == FType::File,
        "directory" => st.kind == FType::Directory,
        "link" => st.kind == FType::Link,
        _ => true,
    };
    if !kind_ok || !name_ok(w, basename(&st.path)) {
        return false;
    }
    if let (Some(age), Some(now)) = (w.age, now) {
        let a = now - stamp(st, &w.age_stamp);
        if (age >= 0 && a < age) || (age < 0 && a > -age) {
            return false;
        }
    }
    if let Some(size) = w.size
        && st.kind == FType::File
    {
        let s = st.size as i64;
        if (size >= 0 && s < size) || (size < 0 && s > -size) {
            return false;
        }
    }
    if let Some((m, exact)) = w.mode {
        let perms = st.mode & 0o7777;
        if (exact && perms != m) || (!exact && perms & m != m) {
            return false;
        }
    }
    true
}

fn link_req(p: &str) -> Req {
    let mut r = Req::new(p).follow(true);
    r.sums.clear();
    r
}

fn content_req(p: &str) -> Req {
    let mut r = Req::new(p).follow(true).content(ContentReq::Whole);
    r.sums.clear();
    r
}

fn sum_req(p: &str, algo: &str) -> Req {
    Req::new(p).follow(true).sums(&[algo])
}

/// Ansible's stat dictionary of one file.
fn file_dict(st: &Stat, shown: &Stat, checksum: Option<&str>) -> Json {
    let m = shown.mode;
    let bit = |b: u32| m & b != 0;
    let mut d = json!({
        "path": st.path,
        "mode": mode_str(m & 0o7777),
        "isdir": shown.kind == FType::Directory,
        "isreg": shown.kind == FType::File,
        "islnk": st.kind == FType::Link && shown.kind == FType::Link,
        "ischr": false, "isblk": false, "isfifo": false, "issock": false,
        "uid": shown.uid, "gid": shown.gid,
        "size": shown.size,
        "inode": shown.inode, "dev": shown.dev, "nlink": shown.nlink,
        "atime": shown.atime, "mtime": shown.mtime, "ctime": shown.ctime,
        "pw_name": shown.owner, "gr_name": shown.group,
        "rusr": bit(0o400), "wusr": bit(0o200), "xusr": bit(0o100),
        "rgrp": bit(0o040), "wgrp": bit(0o020), "xgrp": bit(0o010),
        "roth": bit(0o004), "woth": bit(0o002), "xoth": bit(0o001),
        "isuid": bit(0o4000), "isgid": bit(0o2000),
    });
    if st.kind == FType::Link {
        if let Some(t) = &st.link_target {
            d["lnk_target"] = json!(t);
        }
        if let Some(r) = &st.realpath {
            d["lnk_source"] = json!(r);
        }
    }
    if let Some(c) = checksum {
        d["checksum"] = json!(c);
    }
    d
}

fn contains_ok(w: &Want, re: &PyRegex, content: &[u8]) -> bool {
    let text = String::from_utf8_lossy(content);
    if w.whole {
        re.search(&text).is_some()
    } else {
        text.split_inclusive('\n').any(|l| re.is_match(l))
    }
}

impl Module for Find {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = want(args)?;
        let mut v: Vec<Need> = w.paths.iter().map(|p| Need::Tree(p.clone())).collect();
        if w.age.is_some() {
            v.push(Need::Probe(NOW.into()));
        }
        Ok(v)
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let w = want(args)?;
        let now = match w.age {
            Some(_) => Some(
                String::from_utf8_lossy(&facts.probe(NOW)?.stdout)
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| Fail::Task("cannot read the host's time (date +%s)".into()))?,
            ),
            None => None,
        };
        let mut skipped = Map::new();
        let (entries, examined) = candidates(&w, facts, &mut skipped)?;
        // links with follow: their targets first
        if w.follow {
            let more: Vec<Need> = entries
                .iter()
                .filter(|e| e.kind == FType::Link)
                .map(|e| Need::Path(link_req(&e.path)))
                .filter(|n| !facts.has(n))
                .collect();
            if !more.is_empty() {
                return Ok(Plan::More(more));
            }
        }
        let shown = |e: &Stat| -> Stat {
            if w.follow && e.kind == FType::Link {
                let mut t = facts
                    .path(&link_req(&e.path))
                    .cloned()
                    .unwrap_or_else(|_| e.clone());
                t.path = e.path.clone();
                t
            } else {
                e.clone()
            }
        };
        let matched: Vec<(Stat, Stat)> = entries
            .iter()
            .map(|e| (e.clone(), shown(e)))
            .filter(|(_, s)| passes(&w, s, now))
            .collect();
        // contents for `contains`, checksums for `get_checksum`
        let mut more = Vec::new();
        for (e, s) in &matched {
            if s.kind != FType::File {
                continue;
            }
            if w.contains.is_some() {
                more.push(Need::Path(content_req(&e.path)));
            }
            if let Some(a) = &w.checksum {
                more.push(Need::Path(sum_req(&e.path, a)));
            }
        }
        more.retain(|n| !facts.has(n));
        if !more.is_empty() {
            return Ok(Plan::More(more));
        }
        let mut files = Vec::new();
        for (e, s) in &matched {
            if let Some(re) = &w.contains {
                if s.kind != FType::File {
                    continue;
                }
                let c = facts.path(&content_req(&e.path))?;
                if !contains_ok(&w, re, c.content.as_deref().unwrap_or_default()) {
                    continue;
                }
            }
            let sum = match (&w.checksum, s.kind) {
                (Some(a), FType::File) => facts.path(&sum_req(&e.path, a))?.sums.get(a).cloned(),
                _ => None,
            };
            files.push(file_dict(e, s, sum.as_deref()));
            if w.limit.is_some_and(|l| files.len() >= l) {
                break;
            }
        }
        let mut o = Outcome::ok();
        o.data.insert("matched".into(), json!(files.len()));
        o.data.insert("files".into(), Json::Array(files));
        o.data.insert("examined".into(), json!(examined));
        let msg = if skipped.is_empty() {
            "All paths examined"
        } else {
            "Not all paths examined, check warnings for details"
        };
        o.data.insert("skipped_paths".into(), Json::Object(skipped));
        o.data.insert("msg".into(), json!(msg));
        Ok(Plan::Done(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_sizes() {
        assert_eq!(parse_age("1w"), Some(604800));
        assert_eq!(parse_age("-2d"), Some(-172800));
        assert_eq!(parse_age("600"), Some(600));
        assert_eq!(parse_age("3x"), None);
        assert_eq!(parse_size("10k"), Some(10240));
        assert_eq!(parse_size("-1m"), Some(-1048576));
        assert_eq!(parse_size("12"), Some(12));
    }
}
