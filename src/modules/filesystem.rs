//! filesystem (community.general.filesystem): a filesystem made on a block
//! device or a regular file (an image), grown to the device's size with
//! `resizefs`, or wiped (`state: absent`).
//!
//! On the module protocol: one probe reads what the device holds (`blkid`),
//! its size (`blockdev --getsize64`, or the file's size), for ext2/3/4 the
//! filesystem's size (`dumpe2fs -h`), and whether `mkfs.FSTYPE` is there.
//! Rust decides as Ansible does: the same type is left alone (or grown with
//! `resizefs` when the device is larger by at least one block); another
//! filesystem is never overwritten without `force`; the change (never in
//! check mode) runs `mkfs.FSTYPE [-F] OPTS DEV`, `resize2fs DEV` or
//! `wipefs --all DEV`.

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::sysconf::{probe_fields, script_applied, script_plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static FILESYSTEM: Spec = Spec::new(
    "filesystem",
    &[
        ArgSpec::new("dev", Kind::Str)
            .required()
            .aliases(&["device"]),
        ArgSpec::new("fstype", Kind::Str).aliases(&["type"]),
        ArgSpec::new("force", Kind::Bool),
        ArgSpec::new("resizefs", Kind::Bool),
        ArgSpec::new("opts", Kind::Str),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
    ],
);

pub struct Filesystem;

const EXT: &[&str] = &["ext2", "ext3", "ext4", "ext4dev"];

fn fstype(args: &Args) -> Result<Option<String>, Fail> {
    match args.str("fstype").map(str::trim) {
        None | Some("") => Ok(None),
        Some(t)
            if t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') =>
        {
            Ok(Some(t.to_string()))
        }
        Some(t) => fail::bad_args(format!("fstype: '{t}' is not a filesystem type")),
    }
}

fn probe(dev: &str, fstype: Option<&str>) -> String {
    let d = shell_quote(dev);
    let mut s = format!(
        "# opsctl filesystem: read {dev}\n\
         if [ -b {d} ]; then echo kind=block; printf 'size=%s\\n' \"$(blockdev --getsize64 {d} 2>/dev/null)\"\n\
         elif [ -f {d} ]; then echo kind=file; printf 'size=%s\\n' \"$(stat -L -c %s {d})\"\n\
         elif [ -e {d} ]; then echo kind=other; fi\n\
         printf 'type=%s\\n' \"$(blkid -c /dev/null -o value -s TYPE {d} 2>/dev/null)\"\n\
         command -v blkid >/dev/null 2>&1 || echo noblkid=1\n\
         dumpe2fs -h {d} 2>/dev/null | sed -n 's/^Block count: *\\([0-9]*\\)$/blocks=\\1/p; s/^Block size: *\\([0-9]*\\)$/bsize=\\1/p'\n"
    );
    if let Some(t) = fstype {
        s.push_str(&format!(
            "command -v mkfs.{t} >/dev/null 2>&1 || PATH=\"$PATH:/sbin:/usr/sbin\" command -v mkfs.{t} >/dev/null 2>&1 || echo nomkfs=1\n"
        ));
    }
    s
}

impl Module for Filesystem {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let t = fstype(args)?;
        Ok(vec![Need::Probe(probe(
            args.str("dev").unwrap_or_default(),
            t.as_deref(),
        ))])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let dev = args.str("dev").unwrap_or_default();
        let want = fstype(args)?;
        let present = args.str("state") != Some("absent");
        let f = probe_fields(&facts.probe(&probe(dev, want.as_deref()))?.stdout, &[]);
        let field = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
        let num = |k: &str| field(k).trim().parse::<u64>().ok();
        let current = field("type").trim().to_string();
        let d = shell_quote(dev);
        let mut o = Outcome::ok();
        o.data.insert("dev".into(), json!(dev));
        if f.contains_key("noblkid") {
            return fail::fail("blkid is not installed on this host: install util-linux");
        }
        if !present {
            if field("kind").is_empty() {
                return Ok(Plan::Done(o));
            }
            if current.is_empty() {
                return Ok(Plan::Done(o));
            }
            o.changed = true;
            o.msg = Some(format!("{current} signature wiped from {dev}"));
            return Ok(script_plan(o, format!("wipefs --all -- {d}\n"), None));
        }
        let Some(want) = want else {
            return fail::bad_args("fstype is required with state: present");
        };
        o.data.insert("fstype".into(), json!(want));
        match field("kind") {
            "" => return fail::fail(format!("Device {dev} not found.")),
            "other" => {
                return fail::fail(format!(
                    "{dev} is neither a block device nor a regular file"
                ));
            }
            _ => {}
        }
        let force = args.bool_or("force", false);
        if current == want && !force {
            if !args.bool_or("resizefs", false) {
                return Ok(Plan::Done(o));
            }
            if !EXT.contains(&want.as_str()) {
                return fail::bad_args(format!(
                    "resizefs: opsctl grows ext2, ext3 and ext4 filesystems, not {want}"
                ));
            }
            let (Some(blocks), Some(bsize), Some(size)) =
                (num("blocks"), num("bsize"), num("size"))
            else {
                return fail::fail(format!(
                    "the size of {dev} or of its filesystem could not be read"
                ));
            };
            o.data.insert("size".into(), json!(size));
            if size < (blocks + 1) * bsize {
                // Ansible: "The filesystem is already of size ..."
                return Ok(Plan::Done(o));
            }
            o.changed = true;
            o.msg = Some(format!(
                "{dev}'s filesystem grown from {} to {size} bytes",
                blocks * bsize
            ));
            return Ok(script_plan(
                o,
                format!("resize2fs -- {d} || exit 3\n"),
                None,
            ));
        }
        if !current.is_empty() && current != want && !force {
            return fail::fail(format!(
                "'{dev}' is already used as {current}, use force=true to overwrite"
            ));
        }
        if f.contains_key("nomkfs") {
            return fail::fail(format!(
                "mkfs.{want} is not installed on this host: install the package that has it"
            ));
        }
        o.changed = true;
        o.msg = Some(format!("{want} made on {dev}"));
        let force_flag = match (force, want.as_str()) {
            (false, _) => "",
            (true, t) if EXT.contains(&t) => " -F",
            (true, "xfs" | "btrfs") => " -f",
            (true, _) => "",
        };
        let opts: Vec<String> = shlex::split(args.str("opts").unwrap_or_default())
            .ok_or_else(|| Fail::Args("opts: unbalanced quotes".into()))?
            .iter()
            .map(|w| shell_quote(w))
            .collect();
        let mut s = String::from("PATH=\"$PATH:/sbin:/usr/sbin\"\n");
        s.push_str(&format!(
            "mkfs.{want}{force_flag} {} {d} </dev/null || exit 2\n",
            opts.join(" ")
        ));
        Ok(script_plan(o, s, None))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let dev = args.str("dev").unwrap_or_default().to_string();
        script_applied(planned, result, |rc| match rc {
            Some(3) => format!("growing the filesystem on {dev} failed"),
            Some(2) => format!("making the filesystem on {dev} failed"),
            _ => format!("wiping {dev} failed"),
        })
    }
}
