//! mount (ansible.posix.mount): a filesystem in `/etc/fstab` and mounted (or
//! not).
//!
//! On the module protocol: the fstab is a path read whole; what is mounted
//! at the mount point (`/proc/mounts`) and whether it is a directory are a
//! probe. Rust edits the fstab as Ansible does (the line whose mount point
//! matches gets the asked source, type, options, dump and passno, written
//! `src path fstype opts dump passno`, spaces escaped as `\040`; otherwise a
//! line is appended) and decides the mount: `mounted` mounts it (creating the
//! mount point) or remounts it when its fstab line changed, `unmounted`
//! unmounts, `absent` unmounts, removes the line and the mount point (unless
//! `keep_mountpoint`), `absent_from_fstab` only removes the line, `present`
//! only writes it, `ephemeral` mounts without touching the fstab,
//! `remounted` remounts. The change, never in check mode, runs in one
//! script; `--diff` shows the fstab.

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::remote_file::FType;
use super::sysconf::{script_applied, script_plan, text_of, text_req, write_stdin};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static MOUNT: Spec = Spec::new(
    "mount",
    &[
        ArgSpec::new("path", Kind::Str)
            .required()
            .aliases(&["name"]),
        ArgSpec::new("src", Kind::Str),
        ArgSpec::new("fstype", Kind::Str),
        ArgSpec::new("opts", Kind::Str),
        ArgSpec::new("opts_no_log", Kind::Bool),
        ArgSpec::new("dump", Kind::Str),
        ArgSpec::new("passno", Kind::Str),
        ArgSpec::new(
            "state",
            Kind::Choice(&[
                "absent",
                "absent_from_fstab",
                "mounted",
                "present",
                "unmounted",
                "remounted",
                "ephemeral",
            ]),
        )
        .required(),
        ArgSpec::new("fstab", Kind::Str),
        ArgSpec::new("boot", Kind::Bool),
        ArgSpec::new("backup", Kind::Bool),
        ArgSpec::new("keep_mountpoint", Kind::Bool),
    ],
);

pub struct Mount;

/// fstab's escapes (`\040` for a space...).
fn escape(s: &str) -> String {
    s.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012")
}

#[derive(Debug, Clone)]
struct Entry {
    src: String,
    path: String,
    fstype: String,
    opts: String,
    dump: String,
    passno: String,
}

impl Entry {
    fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {}\n",
            self.src, self.path, self.fstype, self.opts, self.dump, self.passno
        )
    }
}

fn fstab_path(args: &Args) -> String {
    args.string("fstab").unwrap_or_else(|| "/etc/fstab".into())
}

fn want(args: &Args) -> Result<Entry, Fail> {
    let path = args
        .str("path")
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    if !path.starts_with('/') {
        return fail::bad_args(format!("path: '{path}' must be absolute"));
    }
    let mut opts = args.string("opts").unwrap_or_else(|| "defaults".into());
    if !args.bool_or("boot", true) && !opts.split(',').any(|o| o == "noauto") {
        opts = if opts == "defaults" {
            "noauto".into()
        } else {
            format!("{opts},noauto")
        };
    }
    let state = args.str("state").unwrap_or_default();
    if matches!(state, "mounted" | "present" | "ephemeral")
        && (args.str("src").is_none() || args.str("fstype").is_none())
    {
        return fail::bad_args(format!("src and fstype are required with state: {state}"));
    }
    Ok(Entry {
        src: escape(args.str("src").unwrap_or_default()),
        path: escape(&path),
        fstype: escape(args.str("fstype").unwrap_or_default()),
        opts: escape(&opts),
        dump: args.string("dump").unwrap_or_else(|| "0".into()),
        passno: args.string("passno").unwrap_or_else(|| "0".into()),
    })
}

/// Ansible's `set_mount` (`Some`) or `unset_mount` (`None`): the new fstab.
fn edit(text: &str, w: &Entry, set: bool) -> String {
    let mut out = String::new();
    let mut exists = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        let f: Vec<&str> = t.split_whitespace().collect();
        if t.is_empty() || t.starts_with('#') || f.len() < 4 || f[1] != w.path {
            out.push_str(line);
            continue;
        }
        if !set {
            continue;
        }
        exists = true;
        let have = Entry {
            src: f[0].into(),
            path: f[1].into(),
            fstype: f[2].into(),
            opts: f[3].into(),
            dump: f.get(4).unwrap_or(&"0").to_string(),
            passno: f.get(5).unwrap_or(&"0").to_string(),
        };
        let same = have.src == w.src
            && have.fstype == w.fstype
            && have.opts == w.opts
            && have.dump == w.dump
            && have.passno == w.passno;
        if same {
            out.push_str(line);
        } else {
            out.push_str(&w.line());
        }
    }
    if set && !exists {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&w.line());
    }
    out
}

fn probe(path: &str) -> String {
    format!(
        "# opsctl mount: read {path}\np={}\nawk -v p=\"$p\" '$2 == p {{ print \"mounted=\" $1 \" \" $3 }}' /proc/mounts\n[ -d \"$p\" ] && echo isdir=1\n[ -e \"$p\" ] && echo exists=1\nexit 0\n",
        shell_quote(&escape(path))
    )
}

impl Module for Mount {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let w = want(args)?;
        Ok(vec![
            Need::Path(text_req(&fstab_path(args))),
            Need::Probe(probe(&w.path)),
        ])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = want(args)?;
        let state = args.str("state").unwrap_or_default();
        let raw_path = args
            .str("path")
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        let raw_path = if raw_path.is_empty() {
            "/".into()
        } else {
            raw_path
        };
        let fstab = fstab_path(args);
        let st = facts.path(&text_req(&fstab))?;
        if st.exists() && st.kind != FType::File {
            return fail::fail(format!("{fstab} is not a regular file"));
        }
        let p = facts.probe(&probe(&w.path))?.stdout_str();
        let mounted = p.lines().any(|l| l.starts_with("mounted="));
        let is_dir = p.lines().any(|l| l == "isdir=1");
        let exists = p.lines().any(|l| l == "exists=1");
        let before = text_of(st);
        let after = match state {
            "mounted" | "present" => edit(&before, &w, true),
            "absent" | "absent_from_fstab" => edit(&before, &w, false),
            _ => before.clone(),
        };
        let fstab_changed = after != before;
        let q = shell_quote(&raw_path);
        let mut cmds: Vec<String> = Vec::new();
        let opts_unescaped = args.string("opts").unwrap_or_else(|| "defaults".into());
        match state {
            "mounted" if !mounted => {
                if !is_dir {
                    if exists {
                        return fail::fail(format!(
                            "{raw_path} exists and is not a directory: it cannot be a mount point"
                        ));
                    }
                    cmds.push(format!("mkdir -p -- {q}"));
                }
                cmds.push(format!("mount -- {q}"));
            }
            "mounted" if fstab_changed => cmds.push(format!("mount -o remount -- {q}")),
            "ephemeral" if !mounted => {
                if !is_dir {
                    cmds.push(format!("mkdir -p -- {q}"));
                }
                cmds.push(format!(
                    "mount -t {} -o {} -- {} {q}",
                    shell_quote(args.str("fstype").unwrap_or_default()),
                    shell_quote(&opts_unescaped),
                    shell_quote(args.str("src").unwrap_or_default())
                ));
            }
            "unmounted" | "absent" if mounted => cmds.push(format!("umount -- {q}")),
            "remounted" if mounted => cmds.push(format!("mount -o remount -- {q}")),
            "remounted" => {
                return fail::fail(format!("{raw_path} is not mounted: it cannot be remounted"));
            }
            _ => {}
        }
        // as Ansible: the mount point goes when the mount or its line did
        if state == "absent"
            && is_dir
            && (fstab_changed || mounted)
            && !args.bool_or("keep_mountpoint", false)
        {
            cmds.push(format!("rmdir -- {q} 2>/dev/null || true"));
        }
        let mut o = Outcome::ok();
        o.data.insert("name".into(), json!(raw_path));
        o.data.insert("src".into(), json!(args.str("src")));
        o.data.insert("fstype".into(), json!(args.str("fstype")));
        if !args.bool_or("opts_no_log", false) {
            o.data.insert("opts".into(), json!(opts_unescaped));
        }
        o.data.insert("dump".into(), json!(w.dump));
        o.data.insert("passno".into(), json!(w.passno));
        o.data.insert("fstab".into(), json!(fstab));
        if cmds.is_empty() && !fstab_changed {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(format!("{raw_path}: {state}"));
        if ctx.diff && fstab_changed {
            o.diffs
                .push(Diff::new(fstab.clone(), before.clone(), after.clone()));
        }
        let mut s = format!("# opsctl mount: {raw_path} {state}\n");
        // unmount before the fstab loses the line; mount after it has it
        let (first, then): (Vec<&String>, Vec<&String>) =
            cmds.iter().partition(|c| c.starts_with("umount"));
        for c in first {
            s.push_str(&format!("{c} || exit 2\n"));
        }
        if fstab_changed {
            if args.bool_or("backup", false) {
                s.push_str(&format!(
                    "[ -f {f} ] && cp -p -- {f} {f}.$$.$(date +%Y-%m-%d@%H:%M:%S)~\n",
                    f = shell_quote(&fstab)
                ));
            }
            s.push_str(&write_stdin(&fstab, 0o644, false));
        }
        for c in then {
            s.push_str(&format!("{c} || exit 2\n"));
        }
        let stdin = fstab_changed.then(|| after.into_bytes());
        Ok(script_plan(o, s, stdin))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let path = args.str("path").unwrap_or_default().to_string();
        script_applied(planned, result, |rc| match rc {
            Some(2) => format!("Error mounting {path}"),
            _ => "writing the fstab failed".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(opts: &str) -> Entry {
        Entry {
            src: "tmpfs".into(),
            path: "/mnt/cache".into(),
            fstype: "tmpfs".into(),
            opts: opts.into(),
            dump: "0".into(),
            passno: "0".into(),
        }
    }

    #[test]
    fn edits_fstab_like_ansible() {
        let tab = "# fstab\nUUID=1 / ext4 errors=remount-ro 0 1\n";
        let added = edit(tab, &e("size=1m"), true);
        assert_eq!(added, format!("{tab}tmpfs /mnt/cache tmpfs size=1m 0 0\n"));
        assert_eq!(edit(&added, &e("size=1m"), true), added);
        assert_eq!(
            edit(&added, &e("size=2m"), true),
            format!("{tab}tmpfs /mnt/cache tmpfs size=2m 0 0\n")
        );
        assert_eq!(edit(&added, &e("size=1m"), false), tab);
        assert_eq!(escape("/mnt/my disk"), "/mnt/my\\040disk");
    }
}
