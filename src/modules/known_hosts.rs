//! known_hosts (ansible.builtin.known_hosts): a host's public key in an SSH
//! `known_hosts` file.
//!
//! On the module protocol: the file is a path read whole (`~` is the home of
//! who runs the task). Rust finds the host's lines as `ssh-keygen -F` does
//! (plain names, `[host]:port`, hashed `|1|salt|hmac` entries) and decides as
//! Ansible does: the same key is kept; another key of the same type is
//! replaced; a new type is added; `state: absent` removes every line of the
//! host. With `hash_host` the name is written hashed (HMAC-SHA1, its salt
//! derived from the name and key so the decision stays pure). The change,
//! never in check mode, writes the file atomically (0644; its directory
//! 0700 when created); `--diff` shows the file before and after.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha1::{Digest, Sha1};

use super::fail::{self, Fail};
use super::paths::parent_of;
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::remote_file::FType;
use super::sysconf::{script_plan, text_of, text_req, write_stdin};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static KNOWN_HOSTS: Spec = Spec::new(
    "known_hosts",
    &[
        ArgSpec::new("name", Kind::Str)
            .required()
            .aliases(&["host"]),
        ArgSpec::new("key", Kind::Str),
        ArgSpec::new("path", Kind::Str),
        ArgSpec::new("hash_host", Kind::Bool),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
    ],
);

pub struct KnownHosts;

fn path(args: &Args) -> String {
    args.string("path")
        .unwrap_or_else(|| "~/.ssh/known_hosts".into())
}

/// A known_hosts line split: hosts field, key type, key blob.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    hosts: String,
    ktype: String,
    blob: String,
}

fn parse_line(line: &str) -> Option<Entry> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with('@') {
        return None;
    }
    let mut it = t.split_whitespace();
    Some(Entry {
        hosts: it.next()?.to_string(),
        ktype: it.next()?.to_string(),
        blob: it.next()?.to_string(),
    })
}

fn hmac_host(salt: &[u8], host: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(salt).expect("any key length");
    mac.update(host.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Does a hosts field (comma-separated names, or one hashed entry) name `host`?
fn names_host(field: &str, host: &str) -> bool {
    if let Some(rest) = field.strip_prefix("|1|") {
        let Some((salt, hash)) = rest.split_once('|') else {
            return false;
        };
        let (Ok(salt), Ok(hash)) = (B64.decode(salt), B64.decode(hash)) else {
            return false;
        };
        return hmac_host(&salt, host) == hash;
    }
    field.split(',').any(|h| h == host)
}

/// The hosts field to write: the name, hashed with `hash_host`.
fn hosts_field(host: &str, ktype: &str, blob: &str, hash: bool) -> String {
    if !hash {
        return host.to_string();
    }
    let salt = Sha1::digest(format!("opsctl known_hosts\0{host}\0{ktype}\0{blob}").as_bytes());
    format!(
        "|1|{}|{}",
        B64.encode(salt),
        B64.encode(hmac_host(&salt, host))
    )
}

/// The key argument checked against the host name (as Ansible's sanity check).
fn key_entry(key: &str, host: &str) -> Result<Entry, Fail> {
    let lines: Vec<&str> = key.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != 1 {
        return fail::bad_args("key: give exactly one known_hosts line (HOST TYPE KEY)");
    }
    let e = parse_line(lines[0]).ok_or_else(|| {
        Fail::Args("key: not a known_hosts line (HOST TYPE KEY [COMMENT])".into())
    })?;
    if B64.decode(&e.blob).is_err() {
        return fail::bad_args("key: the key is not valid base64");
    }
    if !names_host(&e.hosts, host) {
        return fail::bad_args(format!(
            "Host parameter does not match hashed host field in supplied key: the key is for {}, name is {host}",
            e.hosts
        ));
    }
    Ok(e)
}

/// The new file content, or `None` when nothing changes.
fn edit(text: &str, host: &str, key: Option<&Entry>, hash: bool) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let host_lines: Vec<(usize, Entry)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| parse_line(l).map(|e| (i, e)))
        .filter(|(_, e)| names_host(&e.hosts, host))
        .collect();
    let Some(k) = key else {
        // absent: every line of the host goes
        if host_lines.is_empty() {
            return None;
        }
        let drop: Vec<usize> = host_lines.iter().map(|(i, _)| *i).collect();
        let kept: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .map(|(_, l)| *l)
            .collect();
        return Some(join(&kept));
    };
    if host_lines
        .iter()
        .any(|(_, e)| e.ktype == k.ktype && e.blob == k.blob)
    {
        return None;
    }
    let replace = host_lines
        .iter()
        .find(|(_, e)| e.ktype == k.ktype)
        .map(|(i, _)| *i);
    let mut kept: Vec<String> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != replace)
        .map(|(_, l)| l.to_string())
        .collect();
    let hosts = if k.hosts.starts_with("|1|") {
        k.hosts.clone()
    } else {
        hosts_field(host, &k.ktype, &k.blob, hash)
    };
    kept.push(format!("{hosts} {} {}", k.ktype, k.blob));
    let refs: Vec<&str> = kept.iter().map(String::as_str).collect();
    Some(join(&refs))
}

fn join(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

impl Module for KnownHosts {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Path(text_req(&path(args)))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let host = args.str("name").unwrap_or_default().trim().to_lowercase();
        if host.is_empty() || host.contains(char::is_whitespace) {
            return fail::bad_args("name: give the host's name (or [host]:port)");
        }
        let present = args.str("state") != Some("absent");
        let key = match (present, args.str("key")) {
            (true, None) => return fail::bad_args("key is required when state is present"),
            (true, Some(k)) => Some(key_entry(k, &host)?),
            (false, _) => None,
        };
        let st = facts.path(&text_req(&path(args)))?;
        if st.exists() && st.kind != FType::File {
            return fail::fail(format!("{} is not a regular file", st.path));
        }
        let before = text_of(st);
        let mut o = Outcome::ok();
        o.data.insert("name".into(), json!(host));
        o.data.insert("path".into(), json!(st.path));
        o.data
            .insert("hash_host".into(), json!(args.bool_or("hash_host", false)));
        o.data.insert(
            "state".into(),
            json!(if present { "present" } else { "absent" }),
        );
        if let Some(k) = args.str("key") {
            o.data.insert("key".into(), json!(k));
        }
        let Some(after) = edit(
            &before,
            &host,
            key.as_ref(),
            args.bool_or("hash_host", false),
        ) else {
            return Ok(Plan::Done(o));
        };
        o.changed = true;
        o.msg = Some(if present {
            format!("key of {host} set in {}", st.path)
        } else {
            format!("keys of {host} removed from {}", st.path)
        });
        if ctx.diff {
            o.diffs
                .push(Diff::new(st.path.clone(), before, after.clone()));
        }
        let dir = parent_of(&st.path);
        let script = format!(
            "# opsctl known_hosts: {host}\n[ -d {d} ] || mkdir -p -m 0700 -- {d} || exit 1\n{}",
            write_stdin(&st.path, 0o644, false),
            d = shell_quote(&dir)
        );
        Ok(script_plan(o, script, Some(after.into_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const K2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIB8bq1+VQ3dxYTmCvBu+xm3n7ccqNn5Rl2sN7gRnsG9x";

    #[test]
    fn adds_keeps_replaces_and_removes() {
        let k = key_entry(&format!("db1 ssh-ed25519 {K1}"), "db1").unwrap();
        let added = edit("other ssh-rsa AAAA\n", "db1", Some(&k), false).unwrap();
        assert_eq!(added, format!("other ssh-rsa AAAA\ndb1 ssh-ed25519 {K1}\n"));
        assert_eq!(edit(&added, "db1", Some(&k), false), None);
        let k2 = key_entry(&format!("db1 ssh-ed25519 {K2}"), "db1").unwrap();
        assert_eq!(
            edit(&added, "db1", Some(&k2), false).unwrap(),
            format!("other ssh-rsa AAAA\ndb1 ssh-ed25519 {K2}\n")
        );
        assert_eq!(
            edit(&added, "db1", None, false).unwrap(),
            "other ssh-rsa AAAA\n"
        );
        assert_eq!(edit("other ssh-rsa AAAA\n", "db1", None, false), None);
    }

    #[test]
    fn hashed_names() {
        let f = hosts_field("db1", "ssh-ed25519", K1, true);
        assert!(f.starts_with("|1|"));
        assert!(names_host(&f, "db1"));
        assert!(!names_host(&f, "db2"));
        let k = key_entry(&format!("db1 ssh-ed25519 {K1}"), "db1").unwrap();
        let text = format!("{f} ssh-ed25519 {K1}\n");
        assert_eq!(edit(&text, "db1", Some(&k), true), None);
        assert!(key_entry(&format!("db2 ssh-ed25519 {K1}"), "db1").is_err());
        assert!(names_host("a,[db1]:2222", "[db1]:2222"));
    }
}
