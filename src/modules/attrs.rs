//! The `owner`, `group` and `mode` arguments ([`Attrs`]), compared with a
//! probed path into an [`AttrChange`]: its chown/chmod steps and its diffs.

use super::fail::{Fail, bad_args};
use super::mode::{ModeSpec, mode_str};
use super::remote_file::{FType, Op, Stat};
use super::{Args, Diff};

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
            Some(v) => {
                Some(ModeSpec::from_json(v).map_err(|e| Fail::Args(format!("{mode_arg}: {e}")))?)
            }
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
