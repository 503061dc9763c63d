//! file: a path's type (file, directory, link, hard, absent, touch) and
//! attributes (owner, group, mode, times), like Ansible's `file`.
//!
//! One exec probes the path (and the link source, the timestamps to compare,
//! and with `recurse` every entry below a directory); [`decide`] compares in
//! Rust; one more exec applies only what differs.

use std::collections::BTreeMap;

use serde_json::json;

use super::attrs::{self, Attrs};
use super::fail::{self, Fail};
use super::mode;
use super::paths;
use super::protocol::{Action, Applied, Ctx, Facts, Module, Need, Plan as Decided};
use super::remote_file::{self, FType, HostInfo, Op, Req, Stat};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};

pub static FILE: Spec = Spec::new(
    "file",
    &[
        ArgSpec::new("path", Kind::Str)
            .required()
            .aliases(&["dest", "name"]),
        ArgSpec::new(
            "state",
            Kind::Choice(&["file", "directory", "link", "hard", "absent", "touch"]),
        ),
        ArgSpec::new("owner", Kind::Str),
        ArgSpec::new("group", Kind::Str),
        ArgSpec::new("mode", Kind::Mode),
        ArgSpec::new("recurse", Kind::Bool),
        ArgSpec::new("src", Kind::Str),
        ArgSpec::new("force", Kind::Bool),
        ArgSpec::new("follow", Kind::Bool),
        ArgSpec::new("modification_time", Kind::Str),
        ArgSpec::new("access_time", Kind::Str),
    ],
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    File,
    Directory,
    Link,
    Hard,
    Absent,
    Touch,
}

impl State {
    fn parse(s: &str) -> State {
        match s {
            "directory" => State::Directory,
            "link" => State::Link,
            "hard" => State::Hard,
            "absent" => State::Absent,
            "touch" => State::Touch,
            _ => State::File,
        }
    }
}

/// `modification_time` / `access_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Time {
    Preserve,
    Now,
    /// `touch -t` format, Ansible's default `%Y%m%d%H%M.%S`.
    At(String),
}

impl Time {
    fn parse(arg: &str, v: Option<&str>, state: Option<State>) -> Result<Time, String> {
        match v.map(str::trim) {
            None if state == Some(State::Touch) => Ok(Time::Now),
            None | Some("preserve") => Ok(Time::Preserve),
            Some("now") => Ok(Time::Now),
            Some(t)
                if t.len() == 15
                    && t.as_bytes()[12] == b'.'
                    && t.chars()
                        .enumerate()
                        .all(|(i, c)| i == 12 || c.is_ascii_digit()) =>
            {
                Ok(Time::At(t.into()))
            }
            Some(t) => Err(format!(
                "{arg} must be 'now', 'preserve' or a time like 202401311530.00 (%Y%m%d%H%M.%S), got '{t}'"
            )),
        }
    }
    /// The value of the touch op (`None`: leave).
    fn op(&self) -> Option<String> {
        match self {
            Time::Preserve => None,
            Time::Now => Some("now".into()),
            Time::At(t) => Some(t.clone()),
        }
    }
}

/// The arguments, parsed.
#[derive(Debug, Clone)]
pub struct FileArgs {
    pub path: String,
    pub state: Option<State>,
    pub attrs: Attrs,
    pub recurse: bool,
    pub src: Option<String>,
    pub force: bool,
    pub follow: bool,
    pub mtime: Time,
    pub atime: Time,
}

impl FileArgs {
    fn from_args(args: &Args) -> Result<FileArgs, Fail> {
        let state = args.str("state").map(State::parse);
        let t = |k: &str| Time::parse(k, args.str(k), state).map_err(Fail::Args);
        let a = FileArgs {
            path: args.string("path").unwrap_or_default(),
            state,
            attrs: Attrs::from_args(args)?,
            recurse: args.bool_or("recurse", false),
            src: args.string("src"),
            force: args.bool_or("force", false),
            follow: args.bool_or("follow", true),
            mtime: t("modification_time")?,
            atime: t("access_time")?,
        };
        if a.recurse && !matches!(a.state, None | Some(State::Directory)) {
            return fail::bad_args("recurse option requires state to be 'directory'");
        }
        if a.src.is_some() && !matches!(a.state, Some(State::Link | State::Hard)) {
            return fail::bad_args("src option requires state to be 'link' or 'hard'");
        }
        Ok(a)
    }

    /// Where a link's `src` is, from the link's directory.
    fn abs_src(&self, path: &str) -> Option<String> {
        self.src.as_ref().map(|s| {
            if s.starts_with('/') {
                s.clone()
            } else {
                paths::join(&paths::parent_of(path), s)
            }
        })
    }
}

/// What the probe found.
#[derive(Debug, Clone, Default)]
pub struct Probed {
    pub host: HostInfo,
    /// The path itself (links not followed).
    pub st: Stat,
    /// The path, links followed.
    pub target: Stat,
    /// The link's source (followed).
    pub src: Option<Stat>,
    /// `touch -t` stamps as epoch seconds.
    pub epochs: BTreeMap<String, i64>,
    /// Every entry below the directory (recurse), itself excluded.
    pub tree: Vec<Stat>,
}

/// The decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub ops: Vec<Op>,
    pub diffs: Vec<Diff>,
    pub changed: bool,
    /// The state reported (`file`, `directory`, `link`, `hard`, `absent`, `touch`→`file`).
    pub state: &'static str,
    /// The path whose attributes are reported, and whether links are followed there.
    pub report: String,
    pub report_follow: bool,
    /// Predicted attributes (check mode).
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

fn prev_state(st: &Stat) -> &'static str {
    st.state()
}

fn state_diff(plan: &mut Plan, path: &str, before: &str, after: &str, diff: bool) {
    if diff && before != after {
        plan.diffs.push(Diff::new(
            format!("{path} (state)"),
            format!("{before}\n"),
            format!("{after}\n"),
        ));
    }
}

/// Attribute changes of an existing path, as ops and diffs.
fn attrs_on(
    plan: &mut Plan,
    a: &FileArgs,
    st: &Stat,
    umask: u32,
    link: bool,
    diff: bool,
) -> Result<(), String> {
    let mut attrs = a.attrs.clone();
    if link {
        attrs.mode = None;
    }
    let c = attrs::attr_changes(&attrs, st, umask)?;
    plan.ops.extend(c.ops(&st.path, link));
    if diff {
        plan.diffs.extend(c.diffs(&st.path));
    }
    plan.mode = Some(c.mode.map(|(_, m)| m).unwrap_or(st.mode));
    plan.owner = Some(c.owner.map(|(_, o)| o).unwrap_or_else(|| st.owner.clone()));
    plan.group = Some(c.group.map(|(_, g)| g).unwrap_or_else(|| st.group.clone()));
    Ok(())
}

/// Times to set on an existing path, if they differ.
fn times_on(plan: &mut Plan, a: &FileArgs, st: &Stat, epochs: &BTreeMap<String, i64>) {
    let differs = |t: &Time, current: i64| match t {
        Time::Preserve => false,
        Time::Now => true,
        Time::At(s) => epochs.get(s) != Some(&current),
    };
    if differs(&a.mtime, st.mtime) || differs(&a.atime, st.atime) {
        plan.ops.push(Op::Touch {
            path: st.path.clone(),
            atime: a.atime.op(),
            mtime: a.mtime.op(),
            create: false,
        });
    }
}

/// Decides, like Ansible's file module.
pub fn decide(a: &FileArgs, p: &Probed, diff: bool) -> Result<Plan, String> {
    let st = &p.st;
    let path = st.path.clone();
    let prev = prev_state(st);
    let umask = p.host.umask;
    let state = a.state.unwrap_or(match prev {
        "absent" if a.recurse => State::Directory,
        "directory" => State::Directory,
        _ => State::File,
    });
    let mut plan = Plan {
        report: path.clone(),
        report_follow: a.follow,
        ..Default::default()
    };
    match state {
        State::Absent => {
            plan.state = "absent";
            if st.exists() {
                plan.ops.push(Op::Remove(path.clone()));
                state_diff(&mut plan, &path, prev, "absent", diff);
            }
        }
        State::File => {
            let t = if st.kind == FType::Link && a.follow {
                &p.target
            } else {
                st
            };
            let what = if st.kind == FType::Link && !a.follow {
                "link"
            } else {
                prev_state(t)
            };
            if !matches!(what, "file" | "hard") {
                return Err(format!("file ({path}) is {what}, cannot continue"));
            }
            plan.state = "file";
            attrs_on(&mut plan, a, t, umask, false, diff)?;
            times_on(&mut plan, a, t, &p.epochs);
        }
        State::Directory => {
            plan.state = "directory";
            let t = if st.kind == FType::Link && a.follow {
                &p.target
            } else {
                st
            };
            match t.kind {
                FType::Absent => {
                    let mode = match &a.attrs.mode {
                        Some(m) => Some(m.resolve(mode::default_mode(true, umask), true, umask)?),
                        None => None,
                    };
                    plan.ops.push(Op::Mkdir {
                        path: path.clone(),
                        mode,
                        own: a.attrs.chown_spec(),
                    });
                    state_diff(&mut plan, &path, "absent", "directory", diff);
                    plan.mode = Some(mode.unwrap_or(mode::default_mode(true, umask)));
                    plan.owner = a.attrs.owner.clone();
                    plan.group = a.attrs.group.clone();
                }
                FType::Directory => {
                    attrs_on(&mut plan, a, t, umask, false, diff)?;
                    times_on(&mut plan, a, t, &p.epochs);
                    if a.recurse {
                        for e in &p.tree {
                            let link = e.kind == FType::Link;
                            let mut attrs = a.attrs.clone();
                            if link {
                                attrs.mode = None;
                            }
                            let c = attrs::attr_changes(&attrs, e, umask)?;
                            plan.ops.extend(c.ops(&e.path, link));
                            if diff {
                                plan.diffs.extend(c.diffs(&e.path));
                            }
                        }
                    }
                }
                _ => return Err(format!("{path} already exists as a {}", prev_state(t))),
            }
        }
        State::Link => {
            plan.state = "link";
            plan.report_follow = false;
            let src = match (&a.src, st.kind) {
                (Some(s), _) => s.clone(),
                (None, FType::Link) => st.link_target.clone().unwrap_or_default(),
                (None, _) => return Err("src is required for creating new symlinks".into()),
            };
            let abs = a.abs_src(&path).unwrap_or_else(|| src.clone());
            if !a.force && !p.src.as_ref().is_some_and(Stat::exists) && a.src.is_some() {
                return Err(format!(
                    "src file does not exist, use \"force=yes\" if you really want to create the link: {abs}"
                ));
            }
            let same = st.kind == FType::Link && st.link_target.as_deref() == Some(src.as_str());
            if !same {
                match prev {
                    "absent" | "link" => {}
                    "directory" | "file" | "hard" | "other" if !a.force => {
                        return Err(format!(
                            "refusing to convert from {prev} to symlink for {path}"
                        ));
                    }
                    _ => {}
                }
                plan.ops.push(Op::Symlink {
                    path: path.clone(),
                    target: src.clone(),
                });
                if diff {
                    let before = if st.kind == FType::Link {
                        format!("link -> {}\n", st.link_target.as_deref().unwrap_or(""))
                    } else {
                        format!("{prev}\n")
                    };
                    plan.diffs.push(Diff::new(
                        format!("{path} (state)"),
                        before,
                        format!("link -> {src}\n"),
                    ));
                }
                if let Some(spec) = a.attrs.chown_spec() {
                    plan.ops.push(Op::Chown {
                        path: path.clone(),
                        spec,
                        nofollow: true,
                    });
                }
                plan.owner = a.attrs.owner.clone();
                plan.group = a.attrs.group.clone();
            } else {
                attrs_on(&mut plan, a, st, umask, true, diff)?;
            }
        }
        State::Hard => {
            plan.state = "hard";
            let Some(abs) = a.abs_src(&path) else {
                return Err("src is required for creating new hardlinks".into());
            };
            let Some(src) = p.src.as_ref().filter(|s| s.exists()) else {
                return Err(format!("src does not exist: {abs}"));
            };
            if src.kind == FType::Directory {
                return Err(format!("cannot hard link a directory: {abs}"));
            }
            let same = st.kind == FType::File && st.inode == src.inode && st.dev == src.dev;
            if !same {
                match prev {
                    "absent" => {}
                    "directory" => {
                        return Err(format!("Cannot link: {path} exists and is a directory"));
                    }
                    "hard" if !a.force => {
                        return Err(format!(
                            "Cannot link, different hard link exists at destination: {path}"
                        ));
                    }
                    _ if !a.force => {
                        return Err(format!("Cannot link, {prev} exists at destination: {path}"));
                    }
                    _ => {}
                }
                plan.ops.push(Op::Hardlink {
                    path: path.clone(),
                    target: abs.clone(),
                });
                state_diff(&mut plan, &path, prev, "hard", diff);
            }
            // the attributes are the source's (one inode)
            let mut t = src.clone();
            t.path = path.clone();
            attrs_on(&mut plan, a, &t, umask, false, diff)?;
        }
        State::Touch => {
            plan.state = "file";
            let t = if st.kind == FType::Link && a.follow {
                &p.target
            } else {
                st
            };
            if !t.exists() {
                plan.ops.push(Op::Touch {
                    path: path.clone(),
                    atime: None,
                    mtime: None,
                    create: true,
                });
                let base = mode::default_mode(false, umask);
                let mode = match &a.attrs.mode {
                    Some(m) => m.resolve(base, false, umask)?,
                    None => base,
                };
                if mode != base {
                    plan.ops.push(Op::Chmod {
                        path: path.clone(),
                        mode,
                    });
                }
                if let Some(spec) = a.attrs.chown_spec() {
                    plan.ops.push(Op::Chown {
                        path: path.clone(),
                        spec,
                        nofollow: false,
                    });
                }
                state_diff(&mut plan, &path, "absent", "file", diff);
                plan.mode = Some(mode);
                plan.owner = a.attrs.owner.clone();
                plan.group = a.attrs.group.clone();
            } else {
                if t.kind == FType::Directory {
                    plan.state = "directory";
                }
                attrs_on(&mut plan, a, t, umask, false, diff)?;
                times_on(&mut plan, a, t, &p.epochs);
            }
        }
    }
    plan.changed = !plan.ops.is_empty();
    Ok(plan)
}

/// `file` on the module protocol.
pub struct File;

/// The probes of a task: the path (not followed, then followed), the link
/// source (followed).
fn reqs(a: &FileArgs) -> (Req, Req, Option<Req>) {
    (
        Req::new(&a.path).sums(&[]),
        Req::new(&a.path).follow(true).sums(&[]),
        a.abs_src(&a.path)
            .map(|s| Req::new(s).follow(true).sums(&[])),
    )
}

fn stamps(a: &FileArgs) -> impl Iterator<Item = (&'static str, &String)> {
    [("modification_time", &a.mtime), ("access_time", &a.atime)]
        .into_iter()
        .filter_map(|(k, t)| match t {
            Time::At(s) => Some((k, s)),
            _ => None,
        })
}

impl Module for File {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let a = FileArgs::from_args(args)?;
        let (st, target, src) = reqs(&a);
        let mut needs = vec![Need::Host, Need::Path(st), Need::Path(target)];
        needs.extend(src.map(Need::Path));
        needs.extend(stamps(&a).map(|(_, s)| Need::Epoch(s.clone())));
        if a.recurse {
            needs.push(Need::Tree(a.path.clone()));
        }
        Ok(needs)
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Decided, Fail> {
        let a = FileArgs::from_args(args)?;
        let (st, target, src) = reqs(&a);
        let st = facts.path(&st)?.clone();
        let tree: Vec<Stat> = if a.recurse {
            facts
                .tree(&a.path)?
                .iter()
                .filter(|e| e.path.trim_end_matches('/') != st.path.trim_end_matches('/'))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let mut epochs = BTreeMap::new();
        for (k, s) in stamps(&a) {
            match facts.epoch(s)? {
                Some(e) => {
                    epochs.insert(s.clone(), e);
                }
                None => {
                    return fail::bad_args(format!("{k}: '{s}' is not a valid time on the host"));
                }
            }
        }
        let probed = Probed {
            host: facts.host()?.clone(),
            target: facts.path(&target)?.clone(),
            src: match &src {
                Some(r) => Some(facts.path(r)?.clone()),
                None => None,
            },
            st,
            epochs,
            tree,
        };
        let plan = decide(&a, &probed, ctx.diff)?;
        let mut o = if plan.changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        };
        o.diffs = plan.diffs.clone();
        let path = probed.st.path.clone();
        o.data.insert("path".into(), json!(path));
        o.data.insert("state".into(), json!(plan.state));
        if matches!(plan.state, "link" | "hard") {
            o.data.insert("dest".into(), json!(path));
            o.data.insert(
                "src".into(),
                json!(a.src.clone().or_else(|| probed.st.link_target.clone())),
            );
        }
        if plan.state != "absent" {
            o.data
                .extend(remote_file::file_fields(&predicted(&plan, &probed)));
        }
        if !plan.changed {
            return Ok(Decided::Done(o));
        }
        let mut ops = plan.ops.clone();
        if plan.state != "absent" {
            // the attributes as they end up, reported after the change
            ops.push(Op::Probe(
                Req::new(&plan.report).follow(plan.report_follow).sums(&[]),
            ));
        }
        Ok(Decided::change(
            o,
            Action::Files {
                ops,
                validate: None,
            },
        ))
    }

    fn applied(
        &self,
        _: &Args,
        mut planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        if let Applied::Files(run) = result
            && planned.data.get("state") != Some(&json!("absent"))
            && let Some(fin) = run.items.last()
        {
            planned.data.extend(remote_file::file_fields(fin));
        }
        Ok(planned)
    }
}

/// The path's attributes as the plan leaves them (what check mode reports).
fn predicted(plan: &Plan, probed: &Probed) -> Stat {
    let mut fin = if plan.report_follow && probed.st.kind == FType::Link {
        probed.target.clone()
    } else {
        probed.st.clone()
    };
    if let Some(m) = plan.mode {
        fin.mode = m;
    }
    if let Some(ow) = &plan.owner {
        fin.owner = ow.clone();
    }
    if let Some(g) = &plan.group {
        fin.group = g.clone();
    }
    if !fin.exists() {
        fin.kind = match plan.state {
            "directory" => FType::Directory,
            "link" => FType::Link,
            _ => FType::File,
        };
    }
    fin
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::mode::ModeSpec;

    fn args(state: Option<State>) -> FileArgs {
        FileArgs {
            path: "/p".into(),
            state,
            attrs: Attrs::default(),
            recurse: false,
            src: None,
            force: false,
            follow: true,
            mtime: Time::parse("t", None, state).unwrap(),
            atime: Time::parse("t", None, state).unwrap(),
        }
    }

    fn stat(kind: FType, mode: u32) -> Stat {
        Stat {
            path: "/p".into(),
            kind,
            mode,
            uid: 1,
            gid: 1,
            owner: "u".into(),
            group: "g".into(),
            nlink: 1,
            parent: FType::Directory,
            parent_writable: true,
            ..Default::default()
        }
    }

    fn probed(st: Stat) -> Probed {
        Probed {
            host: HostInfo {
                umask: 0o022,
                user: "u".into(),
                uid: 1,
                home: "/".into(),
            },
            target: st.clone(),
            st,
            ..Default::default()
        }
    }

    #[test]
    fn times() {
        assert_eq!(
            Time::parse("t", None, Some(State::Touch)).unwrap(),
            Time::Now
        );
        assert_eq!(
            Time::parse("t", None, Some(State::File)).unwrap(),
            Time::Preserve
        );
        assert_eq!(
            Time::parse("t", Some("202401311530.00"), None).unwrap(),
            Time::At("202401311530.00".into())
        );
        assert!(Time::parse("t", Some("2024-01-31"), None).is_err());
    }

    #[test]
    fn directory_states() {
        let mut a = args(Some(State::Directory));
        a.attrs.mode = Some(ModeSpec::Symbolic("u=rwX,g=rX,o=".into()));
        let p = decide(&a, &probed(stat(FType::Absent, 0)), true).unwrap();
        assert_eq!(
            p.ops,
            vec![Op::Mkdir {
                path: "/p".into(),
                mode: Some(0o750),
                own: None
            }]
        );
        assert_eq!(
            p.diffs,
            vec![Diff::new("/p (state)", "absent\n", "directory\n")]
        );
        let p = decide(&a, &probed(stat(FType::Directory, 0o750)), true).unwrap();
        assert!(!p.changed);
        let p = decide(&a, &probed(stat(FType::Directory, 0o755)), true).unwrap();
        assert_eq!(
            p.ops,
            vec![Op::Chmod {
                path: "/p".into(),
                mode: 0o750
            }]
        );
        assert!(
            decide(&a, &probed(stat(FType::File, 0o644)), false)
                .unwrap_err()
                .contains("already exists as a file")
        );
    }

    #[test]
    fn recurse_applies_x_per_entry() {
        let mut a = args(Some(State::Directory));
        a.recurse = true;
        a.attrs.mode = Some(ModeSpec::Symbolic("u=rwX,go=rX".into()));
        let mut p = probed(stat(FType::Directory, 0o755));
        let mut f = stat(FType::File, 0o600);
        f.path = "/p/f".into();
        let mut d = stat(FType::Directory, 0o700);
        d.path = "/p/d".into();
        let mut l = stat(FType::Link, 0o777);
        l.path = "/p/l".into();
        p.tree = vec![f, d, l];
        let plan = decide(&a, &p, false).unwrap();
        assert_eq!(
            plan.ops,
            vec![
                Op::Chmod {
                    path: "/p/f".into(),
                    mode: 0o644
                },
                Op::Chmod {
                    path: "/p/d".into(),
                    mode: 0o755
                }
            ]
        );
    }

    #[test]
    fn file_state_needs_an_existing_file() {
        let a = args(Some(State::File));
        assert_eq!(
            decide(&a, &probed(stat(FType::Absent, 0)), false).unwrap_err(),
            "file (/p) is absent, cannot continue"
        );
        assert!(
            decide(&a, &probed(stat(FType::Directory, 0o755)), false)
                .unwrap_err()
                .contains("is directory")
        );
        assert!(
            !decide(&a, &probed(stat(FType::File, 0o644)), false)
                .unwrap()
                .changed
        );
        // no state: the current type is kept
        assert_eq!(
            decide(&args(None), &probed(stat(FType::Directory, 0o755)), false)
                .unwrap()
                .state,
            "directory"
        );
    }

    #[test]
    fn links() {
        let mut a = args(Some(State::Link));
        a.src = Some("/target".into());
        let mut p = probed(stat(FType::Absent, 0));
        assert!(
            decide(&a, &p, false)
                .unwrap_err()
                .contains("src file does not exist")
        );
        p.src = Some(stat(FType::File, 0o644));
        let plan = decide(&a, &p, true).unwrap();
        assert_eq!(
            plan.ops,
            vec![Op::Symlink {
                path: "/p".into(),
                target: "/target".into()
            }]
        );
        assert_eq!(
            plan.diffs,
            vec![Diff::new("/p (state)", "absent\n", "link -> /target\n")]
        );
        let mut l = stat(FType::Link, 0o777);
        l.link_target = Some("/target".into());
        p.st = l.clone();
        assert!(!decide(&a, &p, false).unwrap().changed);
        l.link_target = Some("/other".into());
        p.st = l;
        assert!(decide(&a, &p, false).unwrap().changed);
        p.st = stat(FType::File, 0o644);
        assert!(
            decide(&a, &p, false)
                .unwrap_err()
                .contains("refusing to convert from file to symlink")
        );
        a.force = true;
        assert!(decide(&a, &p, false).unwrap().changed);
    }

    #[test]
    fn hard_links_compare_inodes() {
        let mut a = args(Some(State::Hard));
        a.src = Some("/src".into());
        let mut p = probed(stat(FType::File, 0o644));
        let mut s = stat(FType::File, 0o644);
        s.inode = 7;
        p.src = Some(s.clone());
        p.st.inode = 7;
        assert!(!decide(&a, &p, false).unwrap().changed);
        p.st.inode = 8;
        assert!(decide(&a, &p, false).unwrap_err().contains("Cannot link"));
        a.force = true;
        assert_eq!(
            decide(&a, &p, false).unwrap().ops,
            vec![Op::Hardlink {
                path: "/p".into(),
                target: "/src".into()
            }]
        );
    }

    #[test]
    fn touch() {
        let a = args(Some(State::Touch));
        let p = decide(&a, &probed(stat(FType::Absent, 0)), false).unwrap();
        assert_eq!(
            p.ops,
            vec![Op::Touch {
                path: "/p".into(),
                atime: None,
                mtime: None,
                create: true
            }]
        );
        // existing: always changed (times set to now), unless preserved
        assert!(
            decide(&a, &probed(stat(FType::File, 0o644)), false)
                .unwrap()
                .changed
        );
        let mut keep = a.clone();
        keep.mtime = Time::Preserve;
        keep.atime = Time::Preserve;
        assert!(
            !decide(&keep, &probed(stat(FType::File, 0o644)), false)
                .unwrap()
                .changed
        );
        // an explicit time is compared
        let mut at = a.clone();
        at.mtime = Time::At("202401010000.00".into());
        at.atime = Time::Preserve;
        let mut p = probed(stat(FType::File, 0o644));
        p.st.mtime = 1000;
        p.epochs.insert("202401010000.00".into(), 1000);
        assert!(!decide(&at, &p, false).unwrap().changed);
        p.epochs.insert("202401010000.00".into(), 2000);
        assert!(decide(&at, &p, false).unwrap().changed);
    }
}
