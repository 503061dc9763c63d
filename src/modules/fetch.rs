//! fetch: copy a file from the host to the controller, as Ansible's `fetch`.
//!
//! Layout: `dest/HOST/SRC-PATH` (`dest/web1/etc/nginx/nginx.conf`), or with
//! `flat: yes` `dest` itself (or `dest/BASENAME` when dest ends with `/`).
//! A relative `dest` is relative to the playbook's directory, as in Ansible.
//! The remote file's checksums are gathered; when the local copy has the same
//! sha256 nothing is transferred. Otherwise a second read (`Plan::More`) brings
//! the content, whose checksum is verified (`validate_checksum`) before the
//! plan writes it atomically on the controller (`Action::WriteLocal`, run by
//! `engine::local`; never in check mode).

use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use super::content;
use super::fail::{self, Fail};
use super::paths;
use super::protocol::{Action, Ctx, Facts, Module, Need, Plan};
use super::remote_file::{self, ContentReq, FType, Req};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};

pub static FETCH: Spec = Spec::new(
    "fetch",
    &[
        ArgSpec::new("src", Kind::Str).required(),
        ArgSpec::new("dest", Kind::Str).required(),
        ArgSpec::new("flat", Kind::Bool),
        ArgSpec::new("fail_on_missing", Kind::Bool),
        ArgSpec::new("validate_checksum", Kind::Bool),
    ],
);

pub struct Fetch;

/// Where the file goes on the controller.
pub fn local_dest(dest: &str, src: &str, host: &str, flat: bool, base: &Path) -> PathBuf {
    let d = if Path::new(dest).is_absolute() {
        PathBuf::from(dest)
    } else if let Some(rest) = dest.strip_prefix("~/") {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest)
    } else {
        base.join(dest)
    };
    if flat {
        if dest.ends_with('/') {
            d.join(paths::basename(src))
        } else {
            d
        }
    } else {
        // dest/HOST/src without its leading slash; `..` components are dropped.
        let rel: PathBuf = Path::new(src)
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(p) => Some(p),
                _ => None,
            })
            .collect();
        d.join(host).join(rel)
    }
}

/// The playbook's directory: the last non-`files` entry of the search path
/// (the engine lists role, task file and playbook directories, each after its
/// `files/`, then the project's `files/`).
fn playbook_dir(ctx: &Ctx) -> PathBuf {
    ctx.search
        .iter()
        .rev()
        .find(|p| p.file_name().is_none_or(|n| n != "files"))
        .cloned()
        .or_else(|| ctx.location.file.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

fn sha256_of(path: &Path) -> Option<(String, Vec<u8>)> {
    let b = std::fs::read(path).ok()?;
    Some((hex(&Sha256::digest(&b)), b))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn stat_req(src: &str) -> Req {
    Req::new(src).follow(true).sums(&["sha256", "sha1", "md5"])
}

/// The content, read once the checksums differ.
fn content_req(src: &str) -> Req {
    Req::new(src)
        .follow(true)
        .sums(&["sha256"])
        .content(ContentReq::Whole)
}

impl Module for Fetch {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let src = args.str("src").unwrap_or_default();
        Ok(vec![Need::Host, Need::Path(stat_req(src))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let src = args.str("src").unwrap_or_default().to_string();
        let dest = args.str("dest").unwrap_or_default();
        let flat = args.bool_or("flat", false);
        let fail_on_missing = args.bool_or("fail_on_missing", true);
        let validate = args.bool_or("validate_checksum", true);
        let st = facts.path(&stat_req(&src))?;
        let local = local_dest(dest, &st.path, ctx.host, flat, &playbook_dir(ctx));
        let mut o = Outcome::ok()
            .with("file", src.clone())
            .with("dest", local.display().to_string());
        match st.kind {
            FType::Absent => {
                let msg = "the remote file does not exist, not transferring, ignored";
                if fail_on_missing {
                    return fail::fail(format!(
                        "the remote file {src} does not exist (fail_on_missing: yes)"
                    ));
                }
                return Ok(Plan::Done(o.msg(msg)));
            }
            FType::Directory => {
                return fail::fail(format!(
                    "remote file {src} is a directory, fetch cannot work on directories"
                ));
            }
            _ if !st.readable => {
                return fail::fail(format!(
                    "file is not readable: {src}{}",
                    remote_file::become_hint(facts.host()?)
                ));
            }
            _ => {}
        }
        let remote_sha = st.sha256().unwrap_or_default().to_string();
        if let Some(s) = st.sums.get("sha1") {
            o = o
                .with("remote_checksum", s.clone())
                .with("checksum", s.clone());
        }
        if let Some(s) = st.sums.get("md5") {
            o = o.with("remote_md5sum", s.clone()).with("md5sum", s.clone());
        }
        if local.is_dir() {
            return fail::fail(format!(
                "{} is a directory on the controller: use flat: yes with a dest ending in '/' or a file path",
                local.display()
            ));
        }
        let current = sha256_of(&local);
        if current.as_ref().is_some_and(|(s, _)| *s == remote_sha) {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        // The content: a second read, once the checksums differ.
        let read = Need::Path(content_req(&src));
        if !facts.has(&read) {
            return Ok(Plan::More(vec![read]));
        }
        let c = facts
            .path(&content_req(&src))?
            .content
            .clone()
            .unwrap_or_default();
        let got = hex(&Sha256::digest(&c));
        if validate && got != remote_sha {
            return fail::fail(format!(
                "checksum mismatch for {src}: the remote file has sha256 {remote_sha}, the transferred data {got} (did the file change during the transfer?)"
            ));
        }
        if ctx.diff {
            let before = current
                .as_ref()
                .map(|(_, b)| content::diff_text(b, false))
                .unwrap_or_default();
            o.diffs.push(Diff::new(
                local.display().to_string(),
                before,
                content::diff_text(&c, false),
            ));
        }
        Ok(Plan::change(
            o.with("remote_sha256", json!(remote_sha)),
            Action::WriteLocal {
                path: local,
                content: c,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let base = Path::new("/p/playbooks");
        assert_eq!(
            local_dest("fetched", "/etc/nginx/nginx.conf", "web1", false, base),
            PathBuf::from("/p/playbooks/fetched/web1/etc/nginx/nginx.conf")
        );
        assert_eq!(
            local_dest("/tmp/out/", "/etc/hosts", "web1", true, base),
            PathBuf::from("/tmp/out/hosts")
        );
        assert_eq!(
            local_dest("/tmp/out/h.txt", "/etc/hosts", "web1", true, base),
            PathBuf::from("/tmp/out/h.txt")
        );
        assert_eq!(
            local_dest("/tmp/o", "../../etc/x", "h", false, base),
            PathBuf::from("/tmp/o/h/etc/x"),
            "no escape from dest"
        );
    }
}
