//! stat: facts about a path, in one exec. Read-only (also runs in check mode).
//!
//! Registers `stat: {exists, path, isdir, isreg, islnk, mode, uid, gid, pw_name,
//! gr_name, size, mtime, checksum, lnk_target...}` like Ansible's.

use serde_json::{Map, Value as Json, json};

use super::fail::Fail;
use super::mode;
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::remote_file::{self, FType, Req};
use super::{ArgSpec, Args, Kind, Outcome, Spec};

type Probed = remote_file::Stat;

pub static STAT: Spec = Spec::new(
    "stat",
    &[
        ArgSpec::new("path", Kind::Str)
            .required()
            .aliases(&["dest", "name"]),
        ArgSpec::new("follow", Kind::Bool),
        ArgSpec::new("get_checksum", Kind::Bool),
        ArgSpec::new("checksum_algorithm", Kind::Choice(remote_file::SUM_ALGOS))
            .aliases(&["checksum", "checksum_algo"]),
    ],
);

pub struct Stat;

impl Stat {
    fn req(args: &Args) -> Req {
        let path = args.str("path").unwrap_or_default();
        let algo = args.str("checksum_algorithm").unwrap_or("sha1");
        let sums: &[&str] = if args.bool_or("get_checksum", true) {
            &[algo]
        } else {
            &[]
        };
        Req::new(path)
            .follow(args.bool_or("follow", false))
            .sums(sums)
    }
}

impl Module for Stat {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Path(Stat::req(args))])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let st = facts.path(&Stat::req(args))?;
        let algo = args.str("checksum_algorithm").unwrap_or("sha1");
        Ok(Plan::Done(
            Outcome::ok().with("stat", Json::Object(stat_fields(st, algo))),
        ))
    }
}

/// Ansible's `stat` dictionary for a probed path.
pub fn stat_fields(st: &Probed, algo: &str) -> Map<String, Json> {
    let mut m = Map::new();
    if !st.exists() {
        m.insert("exists".into(), json!(false));
        return m;
    }
    let fmt = st.raw_mode & 0o170000;
    let mode = st.mode;
    let bit = |b: u32| json!(mode & b != 0);
    let fields = [
        ("exists", json!(true)),
        ("path", json!(st.path)),
        ("mode", json!(mode::mode_str(mode))),
        ("isdir", json!(fmt == 0o040000)),
        ("ischr", json!(fmt == 0o020000)),
        ("isblk", json!(fmt == 0o060000)),
        ("isreg", json!(fmt == 0o100000)),
        ("isfifo", json!(fmt == 0o010000)),
        ("islnk", json!(fmt == 0o120000)),
        ("issock", json!(fmt == 0o140000)),
        ("uid", json!(st.uid)),
        ("gid", json!(st.gid)),
        ("size", json!(st.size)),
        ("inode", json!(st.inode)),
        ("dev", json!(st.dev)),
        ("nlink", json!(st.nlink)),
        ("atime", json!(st.atime as f64)),
        ("mtime", json!(st.mtime as f64)),
        ("ctime", json!(st.ctime as f64)),
        ("wusr", bit(0o200)),
        ("rusr", bit(0o400)),
        ("xusr", bit(0o100)),
        ("wgrp", bit(0o020)),
        ("rgrp", bit(0o040)),
        ("xgrp", bit(0o010)),
        ("woth", bit(0o002)),
        ("roth", bit(0o004)),
        ("xoth", bit(0o001)),
        ("isuid", bit(0o4000)),
        ("isgid", bit(0o2000)),
        ("pw_name", json!(st.owner)),
        ("gr_name", json!(st.group)),
        ("readable", json!(st.readable)),
        ("writeable", json!(st.writable)),
        ("executable", json!(st.executable)),
    ];
    for (k, v) in fields {
        m.insert(k.into(), v);
    }
    if st.is_link {
        if let Some(t) = &st.link_target {
            m.insert("lnk_target".into(), json!(t));
        }
        if let Some(r) = &st.realpath {
            m.insert("lnk_source".into(), json!(r));
        }
    }
    if st.kind == FType::File
        && let Some(sum) = st.sums.get(algo)
    {
        m.insert("checksum".into(), json!(sum));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_from_a_probe() {
        let st = Probed {
            path: "/bin/sh".into(),
            kind: FType::File,
            mode: 0o4755,
            raw_mode: 0o104755,
            owner: "root".into(),
            sums: [("sha1".to_string(), "abc".to_string())].into(),
            ..Default::default()
        };
        let m = stat_fields(&st, "sha1");
        assert_eq!(m["mode"], json!("4755"));
        assert_eq!(
            (
                m["isreg"].clone(),
                m["isdir"].clone(),
                m["isuid"].clone(),
                m["xoth"].clone()
            ),
            (json!(true), json!(false), json!(true), json!(true))
        );
        assert_eq!(m["checksum"], json!("abc"));
        assert_eq!(m["pw_name"], json!("root"));
        assert_eq!(
            stat_fields(&Probed::default(), "sha1"),
            json!({"exists": false}).as_object().unwrap().clone()
        );
    }
}
