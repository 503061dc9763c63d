//! authorized_key: SSH public keys in a user's `authorized_keys`.
//!
//! On the module protocol: the user's entry is a typed fact (one `getent
//! passwd` with the other tasks' accounts), then the file (its content, owner
//! and mode) and its directory are read in the file interpreter's manifest;
//! Rust edits the key lines ([`edit`]): keys are the
//! same when their key material (the base64 blob) is, so a key given again with
//! another comment or other options is updated in place, never duplicated. The
//! change, never in check mode, writes the file atomically (mode 0600, owned
//! by the user) with the file modules' shared script, creating `~/.ssh` (0700,
//! owned by the user) when `manage_dir` is on.

use base64::Engine;
use serde_json::json;

use super::fail::{self, Fail};
use super::mode;
use super::paths;
use super::protocol::{Action, Ctx, Facts, Module, Need, Plan};
use super::remote_file::{self, ContentReq, FType, Op, Own, Req, Source};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};

pub static AUTHORIZED_KEY: Spec = Spec::new(
    "authorized_key",
    &[
        ArgSpec::new("user", Kind::Str).required(),
        ArgSpec::new("key", Kind::Str).required(),
        ArgSpec::new("path", Kind::Str),
        ArgSpec::new("manage_dir", Kind::Bool),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("exclusive", Kind::Bool),
        ArgSpec::new("key_options", Kind::Str),
        ArgSpec::new("comment", Kind::Str),
        ArgSpec::new("follow", Kind::Bool),
        ArgSpec::new("validate_certs", Kind::Bool),
    ],
);

/// Key types sshd accepts (Ansible's list).
const KEY_TYPES: &[&str] = &[
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-dss",
    "ssh-rsa",
    "ssh-xmss@openssh.com",
    "ssh-xmss-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
];

/// One key line: `[options] type blob [comment]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    options: Vec<String>,
    kind: String,
    blob: String,
    comment: String,
}

impl Key {
    /// Ansible's `parsekey`: words split on whitespace, the first known key type
    /// starts the key, what is before are options, what is after the blob the
    /// comment. `None` for lines that are not keys (comments, blanks, junk).
    fn parse(line: &str) -> Option<Key> {
        let line = line.replace(r"\#", "#");
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first().is_none_or(|w| w.starts_with('#')) {
            return None;
        }
        let at = words.iter().position(|w| KEY_TYPES.contains(w))?;
        let blob = words.get(at + 1)?.to_string();
        Some(Key {
            options: if at > 0 {
                split_options(&words[..at].join(" "))
            } else {
                Vec::new()
            },
            kind: words[at].to_string(),
            blob,
            comment: words[at + 2..].join(" "),
        })
    }

    fn render(&self) -> String {
        let mut s = String::new();
        if !self.options.is_empty() {
            s.push_str(&self.options.join(","));
            s.push(' ');
        }
        s.push_str(&self.kind);
        s.push(' ');
        s.push_str(&self.blob);
        if !self.comment.is_empty() {
            s.push(' ');
            s.push_str(&self.comment);
        }
        s
    }
}

/// `no-pty,command="a, b",from="x"` -> its options (commas inside quotes kept).
fn split_options(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The keys given in `key` (one per line), with `key_options` and `comment`
/// overriding theirs.
fn wanted_keys(
    key: &str,
    options: Option<&str>,
    comment: Option<&str>,
) -> Result<Vec<Key>, String> {
    let mut keys: Vec<Key> = Vec::new();
    for line in key.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut k = Key::parse(t).ok_or_else(|| {
            let shown: String = t.chars().take(40).collect();
            format!(
                "invalid key specified: {shown}... (expected '[options] <type> <base64> [comment]' with a type such as ssh-ed25519 or ssh-rsa)"
            )
        })?;
        if base64::engine::general_purpose::STANDARD
            .decode(&k.blob)
            .is_err()
        {
            return Err(format!(
                "invalid key specified: the key material of the {} key is not base64",
                k.kind
            ));
        }
        if let Some(o) = options {
            k.options = split_options(o);
        }
        if let Some(c) = comment {
            k.comment = c.to_string();
        }
        match keys.iter_mut().find(|e| e.blob == k.blob) {
            Some(e) => *e = k,
            None => keys.push(k),
        }
    }
    if keys.is_empty() {
        return Err("key: no key given".into());
    }
    Ok(keys)
}

/// The new file content, or `None` when nothing changes.
fn edit(current: &str, keys: &[Key], present: bool, exclusive: bool) -> Option<String> {
    let mut lines: Vec<String> = current.lines().map(str::to_string).collect();
    let mut changed = false;
    if present && exclusive {
        // Only the keys given, in their order; comments and other keys go, as
        // in Ansible. The order of the keys already there does not matter.
        let mut wanted: Vec<String> = keys.iter().map(Key::render).collect();
        let desired: String = wanted.iter().map(|l| format!("{l}\n")).collect();
        let now: Vec<Option<String>> = lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Key::parse(l).map(|k| k.render()))
            .collect();
        if now.iter().any(Option::is_none) {
            return Some(desired);
        }
        let mut now: Vec<String> = now.into_iter().flatten().collect();
        now.sort();
        wanted.sort();
        return (now != wanted).then_some(desired);
    }
    for k in keys {
        let found = lines
            .iter()
            .position(|l| Key::parse(l).is_some_and(|e| e.blob == k.blob));
        match (found, present) {
            (Some(i), true) => {
                if Key::parse(&lines[i]).as_ref() != Some(k) {
                    lines[i] = k.render();
                    changed = true;
                }
                // later duplicates of the same key go away
                let mut j = i + 1;
                while j < lines.len() {
                    if Key::parse(&lines[j]).is_some_and(|e| e.blob == k.blob) {
                        lines.remove(j);
                        changed = true;
                    } else {
                        j += 1;
                    }
                }
            }
            (None, true) => {
                lines.push(k.render());
                changed = true;
            }
            (Some(_), false) => {
                lines.retain(|l| Key::parse(l).is_none_or(|e| e.blob != k.blob));
                changed = true;
            }
            (None, false) => {}
        }
    }
    changed.then(|| lines.iter().map(|l| format!("{l}\n")).collect())
}

/// What the probe found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Found {
    host: remote_file::HostInfo,
    user_exists: bool,
    uid: u32,
    gid: u32,
    home: String,
    file: String,
    /// `uid:gid:mode` of the directory and the file, when they exist.
    dir: Option<(u32, u32, u32)>,
    stat: Option<(u32, u32, u32)>,
    file_is_link: bool,
    content: Option<String>,
}

/// `authorized_key` on the module protocol: the user's entry (merged with the
/// other tasks' accounts), then the key file (content, owner, mode; the link's
/// target with `follow`) and its directory, in the file interpreter's manifest.
pub struct AuthorizedKey;

/// The key file asked (`path`, `~` meaning the user's home), before links.
fn key_file(path: Option<&str>, home: &str) -> String {
    match path {
        Some("~") => home.to_string(),
        Some(p) if p.starts_with("~/") => format!("{home}/{}", &p[2..]),
        Some(p) => p.to_string(),
        None => format!("{home}/.ssh/authorized_keys"),
    }
}

fn file_req(path: &str) -> Req {
    let mut r = Req::new(path).follow(true);
    r.sums.clear();
    r.content = ContentReq::Whole;
    r
}

fn dir_req(path: &str) -> Req {
    let mut r = Req::new(path).follow(true);
    r.sums.clear();
    r
}

/// What the facts say of the user and the file, or what to read first.
fn found(args: &Args, facts: &Facts) -> Result<Result<Found, Vec<Need>>, Fail> {
    let user = args.str("user").unwrap_or_default().trim().to_string();
    let mut f = Found::default();
    let Some(pw) = facts.sys.passwd(&user)? else {
        return Ok(Ok(f));
    };
    f.user_exists = true;
    (f.uid, f.gid, f.home) = (pw.uid, pw.gid, pw.home.clone());
    let mut file = key_file(args.str("path"), &pw.home);
    // the file and its directory in one read; with `follow`, the link's
    // target and its directory in one more
    let pair = |file: &str| {
        let (fr, dr) = (file_req(file), dir_req(&paths::parent_of(file)));
        let more = vec![Need::Path(fr.clone()), Need::Path(dr.clone())];
        (fr, dr, more)
    };
    let (mut fr, mut dr, more) = pair(&file);
    if more.iter().any(|n| !facts.has(n)) {
        return Ok(Err(more));
    }
    let st = facts.path(&fr)?;
    if args.bool_or("follow", false)
        && st.is_link
        && let Some(real) = st.realpath.clone()
    {
        file = real;
        let more;
        (fr, dr, more) = pair(&file);
        if more.iter().any(|n| !facts.has(n)) {
            return Ok(Err(more));
        }
    }
    let (st, dir) = (facts.path(&fr)?, facts.path(&dr)?);
    f.file = file;
    f.file_is_link = st.is_link;
    if dir.kind == FType::Directory {
        f.dir = Some((dir.uid, dir.gid, dir.mode));
    }
    if st.kind == FType::File {
        f.stat = Some((st.uid, st.gid, st.mode));
        f.content =
            Some(String::from_utf8_lossy(st.content.as_deref().unwrap_or_default()).into_owned());
    }
    Ok(Ok(f))
}

impl Module for AuthorizedKey {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let user = args.str("user").unwrap_or_default().trim().to_string();
        // The home is known only from the passwd entry; read the file and its
        // directory at the usual home with it (checked against the entry in
        // `found`, read again elsewhere), so the common case takes one read.
        let guess = if user == "root" {
            "/root".to_string()
        } else {
            format!("/home/{user}")
        };
        let file = key_file(args.str("path"), &guess);
        let mut v = vec![Need::Passwd(user)];
        v.push(Need::Path(file_req(&file)));
        v.push(Need::Path(dir_req(&paths::parent_of(&file))));
        Ok(v)
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        decide(args, facts, ctx)
    }
}

fn decide(args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
    let user = args.str("user").unwrap_or_default().trim().to_string();
    let key = args.str("key").unwrap_or_default().to_string();
    if key.trim_start().starts_with("http://") || key.trim_start().starts_with("https://") {
        return fail::bad_args(
            "key: fetching keys from a URL is not supported; put the keys in the playbook, or read them on the controller with lookup('file', ...)",
        );
    }
    let present = args.str("state") != Some("absent");
    let exclusive = args.bool_or("exclusive", false);
    let manage_dir = args.bool_or("manage_dir", true);
    let follow = args.bool_or("follow", false);
    let keys =
        wanted_keys(&key, args.str("key_options"), args.str("comment")).map_err(Fail::Args)?;
    let found = match found(args, facts)? {
        Ok(f) => f,
        Err(more) => return Ok(Plan::More(more)),
    };
    if !found.user_exists && !present {
        // no user, no key to remove
        let mut res = Outcome::ok();
        res.data.insert("user".into(), json!(user));
        res.data.insert("state".into(), json!("absent"));
        return Ok(Plan::Done(res));
    }
    if !found.user_exists {
        return fail::fail(format!(
            "Failed to lookup user {user}: the user does not exist on this host"
        ));
    }
    let file = found.file.clone();
    let dir = paths::parent_of(&file);
    let owner = format!("{}:{}", found.uid, found.gid);
    let current = found.content.clone().unwrap_or_default();
    let new = edit(&current, &keys, present, exclusive);

    // What else differs: the directory (manage_dir), the file's owner and mode.
    let mut ops: Vec<Op> = Vec::new();
    let mut diffs: Vec<Diff> = Vec::new();
    let writes = new.is_some() && (present || found.stat.is_some());
    if manage_dir && (present || found.dir.is_some()) {
        match found.dir {
            None if writes => ops.push(Op::Mkdir {
                path: dir.clone(),
                mode: Some(0o700),
                own: Some(owner.clone()),
            }),
            Some((u, g, m)) if present => {
                if (u, g) != (found.uid, found.gid) {
                    ops.push(Op::Chown {
                        path: dir.clone(),
                        spec: owner.clone(),
                        nofollow: false,
                    });
                    diffs.push(Diff::new(
                        format!("{dir} (owner)"),
                        format!("{u}:{g}\n"),
                        format!("{owner}\n"),
                    ));
                }
                if m != 0o700 {
                    ops.push(Op::Chmod {
                        path: dir.clone(),
                        mode: 0o700,
                    });
                    diffs.push(Diff::new(
                        format!("{dir} (mode)"),
                        format!("{}\n", mode::mode_str(m)),
                        "0700\n".to_string(),
                    ));
                }
            }
            _ => {}
        }
    } else if found.dir.is_none() && writes {
        ops.push(Op::Mkdir {
            path: dir.clone(),
            mode: None,
            own: None,
        });
    }
    if let Some(content) = &new {
        // A new file, or a managed one, is 0600 and the user's; otherwise the
        // file keeps what it had.
        let (mode, set) = match found.stat {
            Some((_, _, m)) if !manage_dir => (m, None),
            _ => (0o600, Some(owner.clone())),
        };
        ops.push(Op::Write {
            path: file.clone(),
            source: Source::Bytes(content.clone().into_bytes()),
            mode,
            own: Own {
                preserve: found.stat.map(|(u, g, _)| (u, g)),
                set,
            },
            backup: false,
            validate: false,
        });
        diffs.push(Diff::new(file.clone(), current.clone(), content.clone()));
    } else if let Some((u, g, m)) = found.stat.filter(|_| manage_dir && present) {
        if (u, g) != (found.uid, found.gid) {
            ops.push(Op::Chown {
                path: file.clone(),
                spec: owner.clone(),
                nofollow: false,
            });
            diffs.push(Diff::new(
                format!("{file} (owner)"),
                format!("{u}:{g}\n"),
                format!("{owner}\n"),
            ));
        }
        if m != 0o600 {
            ops.push(Op::Chmod {
                path: file.clone(),
                mode: 0o600,
            });
            diffs.push(Diff::new(
                format!("{file} (mode)"),
                format!("{}\n", mode::mode_str(m)),
                "0600\n".to_string(),
            ));
        }
    }

    let changed = !ops.is_empty();
    let mut res = if changed {
        Outcome::changed()
    } else {
        Outcome::ok()
    };
    for (k, v) in [
        ("user", json!(user)),
        ("key", json!(key)),
        ("key_options", json!(args.str("key_options"))),
        ("keyfile", json!(file)),
        ("path", json!(args.str("path"))),
        ("manage_dir", json!(manage_dir)),
        ("state", json!(if present { "present" } else { "absent" })),
        ("exclusive", json!(exclusive)),
        ("follow", json!(follow)),
        ("comment", json!(args.str("comment"))),
    ] {
        res.data.insert(k.into(), v);
    }
    if !changed {
        return Ok(Plan::Done(res));
    }
    res.msg = Some(match &new {
        Some(_) if present => format!("keys of {user} updated in {file}"),
        Some(_) => format!("keys removed from {file}"),
        None => format!("owner and mode of {file} fixed"),
    });
    if ctx.diff {
        res.diffs = diffs;
    }
    Ok(Plan::change(
        res,
        Action::Files {
            ops,
            validate: None,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHmCgZu3NrVwimd8FATAK3/tgp5mQCF8Skh/6PTjsevP";
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7";

    #[test]
    fn parses_keys_like_ansible() {
        let k = Key::parse(&format!("{ED} alice@laptop")).unwrap();
        assert_eq!(k.kind, "ssh-ed25519");
        assert_eq!(k.comment, "alice@laptop");
        assert!(k.options.is_empty());
        let k = Key::parse(&format!(
            r#"no-pty,command="echo a, b",from="10.0.0.1" {RSA} bob"#
        ))
        .unwrap();
        assert_eq!(
            k.options,
            vec!["no-pty", r#"command="echo a, b""#, r#"from="10.0.0.1""#]
        );
        assert_eq!(k.kind, "ssh-rsa");
        assert!(Key::parse("# a comment").is_none());
        assert!(Key::parse("").is_none());
        assert!(Key::parse("garbage here").is_none());
        assert_eq!(
            Key::parse(&format!("  {ED}  x  y ")).unwrap().render(),
            format!("{ED} x y")
        );
    }

    #[test]
    fn wanted_keys_apply_options_and_reject_junk() {
        let ks = wanted_keys(
            &format!("{ED} a\n\n# comment\n{RSA} b\n"),
            Some("no-pty"),
            None,
        )
        .unwrap();
        assert_eq!(ks.len(), 2);
        assert_eq!(ks[0].render(), format!("no-pty {ED} a"));
        let e = wanted_keys("not a key", None, None).unwrap_err();
        assert!(e.starts_with("invalid key specified"), "{e}");
        assert!(wanted_keys("ssh-rsa !!!notbase64", None, None).is_err());
    }

    #[test]
    fn present_adds_once_and_updates_in_place() {
        let keys = wanted_keys(&format!("{ED} new-comment"), None, None).unwrap();
        // added to an empty file
        assert_eq!(
            edit("", &keys, true, false).unwrap(),
            format!("{ED} new-comment\n")
        );
        // already there: nothing
        let cur = format!("# keys\n{RSA} b\n{ED} new-comment\n");
        assert_eq!(edit(&cur, &keys, true, false), None);
        // same material, other comment: replaced where it is
        let cur = format!("{ED} old\n{RSA} b\n");
        assert_eq!(
            edit(&cur, &keys, true, false).unwrap(),
            format!("{ED} new-comment\n{RSA} b\n")
        );
        // duplicates collapse
        let cur = format!("{ED} new-comment\n{ED} again\n");
        assert_eq!(
            edit(&cur, &keys, true, false).unwrap(),
            format!("{ED} new-comment\n")
        );
    }

    #[test]
    fn absent_and_exclusive() {
        let keys = wanted_keys(ED, None, None).unwrap();
        let cur = format!("# keys\n{ED} x\n{RSA} b\n");
        assert_eq!(
            edit(&cur, &keys, false, false).unwrap(),
            format!("# keys\n{RSA} b\n")
        );
        assert_eq!(edit(&format!("{RSA} b\n"), &keys, false, false), None);
        // exclusive keeps only the keys given
        assert_eq!(edit(&cur, &keys, true, true).unwrap(), format!("{ED}\n"));
        assert_eq!(edit(&format!("{ED}\n"), &keys, true, true), None);
        let two = wanted_keys(&format!("{ED}\n{RSA}"), None, None).unwrap();
        assert_eq!(edit(&format!("{RSA}\n{ED}\n"), &two, true, true), None);
        assert!(edit(&format!("{ED}\n{ED}\n"), &two, true, true).is_some());
    }

    #[test]
    fn the_key_file_is_in_the_users_home() {
        assert_eq!(
            key_file(Some("~/.ssh/extra_keys"), "/home/app"),
            "/home/app/.ssh/extra_keys"
        );
        assert_eq!(
            key_file(None, "/home/app"),
            "/home/app/.ssh/authorized_keys"
        );
        assert_eq!(
            key_file(Some("/etc/keys/app"), "/home/app"),
            "/etc/keys/app"
        );
    }
}
