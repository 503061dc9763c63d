//! One regular file: decide what to do to make a probed path this file
//! (content by sha256, then owner, group and mode), the plan of the steps
//! and what they did, for the modules writing files (copy, template,
//! get_url, the text editors).

use serde_json::json;

use super::attrs::{AttrChange, Attrs, attr_changes};
use super::content::{diff_text, sha256_hex};
use super::fail::{Fail, bad_args};
use super::mode::default_mode;
use super::paths::parent_of;
use super::protocol::{Action, Applied, Plan};
use super::remote_file::{FType, HostInfo, Op, Own, Req, Source, Stat, become_hint, file_fields};
use super::{Args, Diff, Outcome};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::mode::ModeSpec;

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
}
