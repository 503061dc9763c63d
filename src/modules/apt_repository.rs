//! apt_repository and apt_key: APT sources and their signing keys, as
//! Ansible's modules of those names, the Debian 12 way.
//!
//! * apt_repository: a probe reads `/etc/apt/sources.list` and
//!   `/etc/apt/sources.list.d/*.list`; a `deb` line is compared by meaning
//!   (type, options in any order, URI, suite, components), so a repository
//!   already listed anywhere is not added twice. The change writes the
//!   files atomically and runs `apt-get update` (`update_cache`, default yes).
//! * apt_key: `apt-key` is deprecated (and gone after Debian 12), so keys go to
//!   a keyring file of their own (`keyring: /etc/apt/keyrings/NAME.gpg`), to
//!   be named by `[signed-by=...]` in the repository line; without `keyring`
//!   (roles written for apt-key), to `/etc/apt/trusted.gpg.d/NAME.gpg`, which
//!   apt trusts for every source as it trusted apt-key's keyring (NAME: the
//!   `id`, else the last part of `url` or `file`). The key comes from
//!   `data`, `file` (on the host) or `url` (fetched on the host); an ASCII-armored
//!   key is converted to the binary format for a `.gpg` keyring (kept armored for
//!   `.asc`), in Rust: no gpg needed on the host. `id` is checked against the
//!   key's fingerprints (v4 keys). With `keyserver` (and `id`), the key is
//!   fetched by HKP's lookup on that server (`hkp://` over http, else https).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;
use sha1::{Digest, Sha1};

use super::fail::{self, Fail};
use super::mode;
use super::net::{Curl, kv, last_line, unb64, unb64s};
use super::paths;
use super::protocol::{Action, Applied, Ctx, Facts, Module, Need, Plan as PPlan, SecretProbe};
use super::remote_file::{self, FType, Op, Own, Req, Source};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote as q;

pub static APT_REPOSITORY: Spec = Spec::new(
    "apt_repository",
    &[
        ArgSpec::new("repo", Kind::Str).required(),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("filename", Kind::Str),
        ArgSpec::new("mode", Kind::Mode),
        ArgSpec::new("update_cache", Kind::Bool).aliases(&["update-cache"]),
        ArgSpec::new("update_cache_retries", Kind::Int),
        ArgSpec::new("codename", Kind::Str),
        ArgSpec::new("validate_certs", Kind::Bool),
        // Ansible's way to get python-apt: nothing to install here.
        ArgSpec::new("install_python_apt", Kind::Bool),
    ],
);

pub static APT_KEY: Spec = Spec {
    mutually_exclusive: &[&["url", "file", "data", "keyserver"]],
    ..Spec::new(
        "apt_key",
        &[
            ArgSpec::new("id", Kind::Str),
            ArgSpec::new("url", Kind::Str),
            ArgSpec::new("file", Kind::Str),
            ArgSpec::new("data", Kind::Str),
            ArgSpec::new("keyring", Kind::Str),
            ArgSpec::new("keyserver", Kind::Str),
            ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
            ArgSpec::new("validate_certs", Kind::Bool),
        ],
    )
};

pub struct AptRepository;
pub struct AptKey;

// ---------------------------------------------------------------------------
// Source lines

/// A one-line source, compared by meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source1 {
    pub kind: String,
    pub options: Vec<String>,
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
}

impl Source1 {
    /// Parses `deb [opts] uri suite comps...` (not a comment).
    pub fn parse(line: &str) -> Option<Source1> {
        let line = line.split('#').next().unwrap_or("").trim();
        let (kind, rest) = line.split_once(char::is_whitespace)?;
        if kind != "deb" && kind != "deb-src" {
            return None;
        }
        let rest = rest.trim_start();
        let (mut options, rest) = match rest.strip_prefix('[') {
            Some(r) => {
                let (opts, after) = r.split_once(']')?;
                (
                    opts.split_whitespace()
                        .map(str::to_string)
                        .collect::<Vec<_>>(),
                    after,
                )
            }
            None => (Vec::new(), rest),
        };
        options.sort();
        let mut words = rest.split_whitespace();
        let uri = words.next()?.trim_end_matches('/').to_string();
        let suite = words.next()?.to_string();
        Some(Source1 {
            kind: kind.to_string(),
            options,
            uri,
            suite,
            components: words.map(str::to_string).collect(),
        })
    }

    /// A commented-out source (`# deb ...`).
    pub fn parse_disabled(line: &str) -> Option<Source1> {
        Source1::parse(line.trim_start().strip_prefix('#')?)
    }
}

/// Ansible's default file name: the URI's host and path, `_`-separated.
pub fn suggest_filename(repo: &str) -> String {
    let without_opts = regex::Regex::new(r"\[[^\]]+\]")
        .map(|re| re.replace_all(repo, "").into_owned())
        .unwrap_or_else(|_| repo.to_string());
    let without_proto = regex::Regex::new(r"\w+://")
        .map(|re| re.replace_all(&without_opts, "").into_owned())
        .unwrap_or(without_opts);
    let first = without_proto
        .split_whitespace()
        .find(|p| *p != "deb" && *p != "deb-src")
        .unwrap_or("");
    let first = first.rsplit('@').next().unwrap_or(first);
    first
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// One sources file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesFile {
    pub path: String,
    pub content: String,
}

/// What to write (path, new content; `None`: remove the file).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepoPlan {
    pub writes: Vec<(String, Option<String>)>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

pub fn decide_repo(
    files: &[SourcesFile],
    repo: &Source1,
    line: &str,
    target: &str,
    present: bool,
) -> RepoPlan {
    let mut plan = RepoPlan::default();
    if present {
        if files.iter().any(|f| {
            f.content
                .lines()
                .any(|l| Source1::parse(l).as_ref() == Some(repo))
        }) {
            return plan;
        }
        let existing = files.iter().find(|f| f.path == target);
        let mut content = existing.map(|f| f.content.clone()).unwrap_or_default();
        // A disabled copy in the target file is enabled again, as Ansible does.
        let disabled = content
            .lines()
            .position(|l| Source1::parse_disabled(l).as_ref() == Some(repo));
        if let Some(i) = disabled {
            let lines: Vec<String> = content
                .lines()
                .enumerate()
                .map(|(j, l)| {
                    if j == i {
                        line.to_string()
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            content = lines.join("\n") + "\n";
        } else {
            if !content.is_empty() && !content.ends_with('\n') {
                content.push('\n');
            }
            content.push_str(line);
            content.push('\n');
        }
        plan.writes.push((target.to_string(), Some(content)));
        plan.added.push(target.to_string());
        return plan;
    }
    for f in files {
        if !f
            .content
            .lines()
            .any(|l| Source1::parse(l).as_ref() == Some(repo))
        {
            continue;
        }
        let kept: Vec<&str> = f
            .content
            .lines()
            .filter(|l| Source1::parse(l).as_ref() != Some(repo))
            .collect();
        let empty = kept.iter().all(|l| l.trim().is_empty());
        let is_main = f.path == "/etc/apt/sources.list";
        plan.writes.push((
            f.path.clone(),
            if empty && !is_main {
                None
            } else {
                Some(kept.join("\n") + if kept.is_empty() { "" } else { "\n" })
            },
        ));
        plan.removed.push(f.path.clone());
    }
    plan
}

fn parse_files(out: &[u8]) -> Vec<SourcesFile> {
    let text = String::from_utf8_lossy(out);
    text.split("@@\n")
        .filter_map(|chunk| {
            let m = kv(chunk.as_bytes());
            Some(SourcesFile {
                path: unb64s(m.get("path")?),
                content: unb64s(m.get("content").map(String::as_str).unwrap_or("")),
            })
        })
        .collect()
}

const REPO_PROBE: &str = "# opsctl apt_repository: probe\nfor f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do\n  [ -f \"$f\" ] || continue\n  echo @@; printf 'path='; printf '%s' \"$f\" | base64 -w0; echo\n  printf 'content='; head -c 1048576 \"$f\" | base64 -w0; echo\ndone\n";

/// The arguments, checked: (line, parsed line, present, target file, mode).
fn repo_args(args: &Args) -> Result<(String, Source1, bool, String, String), Fail> {
    let mut line = args.str("repo").unwrap_or_default().trim().to_string();
    if line.starts_with("ppa:") {
        return fail::bad_args(
            "PPAs are for Ubuntu: on Debian give the repository's `deb [signed-by=...] URI SUITE COMPONENTS` line",
        );
    }
    if let Some(c) = args.str("codename") {
        line = line.replace("$(lsb_release -cs)", c);
    }
    let Some(repo) = Source1::parse(&line) else {
        return fail::bad_args(format!(
            "repo '{line}' is not a source line: expected `deb [options] URI SUITE [COMPONENT...]`"
        ));
    };
    let present = args.str("state").unwrap_or("present") == "present";
    let name = match args.str("filename") {
        Some(f) => f.trim_end_matches(".list").to_string(),
        None => suggest_filename(&line),
    };
    if name.is_empty() || name.contains('/') {
        return fail::bad_args(format!("filename '{name}' is not a file name"));
    }
    let target = format!("/etc/apt/sources.list.d/{name}.list");
    let mode = match args.get("mode") {
        Some(m) => match mode::ModeSpec::from_json(m).map_err(Fail::Args)? {
            mode::ModeSpec::Octal(o) => format!("{o:04o}"),
            mode::ModeSpec::Symbolic(s) => s,
        },
        None => "0644".to_string(),
    };
    Ok((line, repo, present, target, mode))
}

impl Module for AptRepository {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        repo_args(args)?;
        Ok(vec![Need::Probe(REPO_PROBE.to_string())])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<PPlan, Fail> {
        let (line, repo, present, target, mode) = repo_args(args)?;
        let out = facts.probe(REPO_PROBE)?;
        if !out.success() {
            return fail::fail(format!(
                "cannot read the APT sources: {}",
                last_line(&out.stderr_str())
            ));
        }
        let files = parse_files(&out.stdout);
        let plan = decide_repo(&files, &repo, &line, &target, present);
        let mut o = Outcome::ok()
            .with("repo", line.clone())
            .with("state", if present { "present" } else { "absent" })
            .with("sources_added", json!(plan.added))
            .with("sources_removed", json!(plan.removed));
        if plan.writes.is_empty() {
            return Ok(PPlan::Done(o));
        }
        o.changed = true;
        if ctx.diff {
            for (path, new) in &plan.writes {
                let before = files
                    .iter()
                    .find(|f| &f.path == path)
                    .map(|f| f.content.clone())
                    .unwrap_or_default();
                o.diffs
                    .push(Diff::new(path, before, new.clone().unwrap_or_default()));
            }
        }
        let mut script = String::from(
            "# opsctl apt_repository: write\nb=$(mktemp -d) || exit 1\ntrap 'rm -rf -- \"$b\"' EXIT\nrevert() { :; }\ndie() { revert; echo \"error=$1\"; exit 1; }\n",
        );
        let mut stdin = Vec::new();
        // Each file is saved first, so a failed update restores the sources as
        // they were (as Ansible does): a broken line never stays behind.
        let mut revert = String::from("revert() {\n");
        for (i, (path, new)) in plan.writes.iter().enumerate() {
            let p = q(path);
            script.push_str(&format!(
                "if [ -e {p} ]; then cp -p -- {p} \"$b/{i}\" || die backup; fi\n"
            ));
            revert.push_str(&format!(
                "  if [ -e \"$b/{i}\" ]; then mv -f -- \"$b/{i}\" {p}; else rm -f -- {p}; fi\n"
            ));
            match new {
                Some(c) => {
                    script.push_str(&format!(
                        "p={p}; mkdir -p \"$(dirname -- \"$p\")\" && t=$(mktemp \"$(dirname -- \"$p\")/.opsctl.XXXXXX\") && head -c {n} > \"$t\" && chmod {m} \"$t\" && mv -f -- \"$t\" \"$p\" || die write\n",
                        n = c.len(),
                        m = q(&mode)
                    ));
                    stdin.extend_from_slice(c.as_bytes());
                }
                None => script.push_str(&format!("rm -f -- {p} || die remove\n")),
            }
        }
        revert.push_str("}\n");
        script.push_str(&revert);
        if args.bool_or("update_cache", true) {
            let tries = args.int("update_cache_retries").unwrap_or(1).clamp(1, 20);
            script.push_str(&format!(
                "e=\"$b/err\"; i=0; while :; do i=$((i+1)); if apt-get update -q >/dev/null 2>\"$e\" && ! grep -q '^[WE]: .*\\(Failed\\|not signed\\|NO_PUBKEY\\)' \"$e\"; then break; fi; [ $i -ge {tries} ] && {{ printf 'err='; tail -c 8192 \"$e\" | base64 -w0; echo; die update; }}; sleep 1; done\n"
            ));
        }
        script.push_str("echo done=1\n");
        Ok(PPlan::change(
            o,
            Action::Script {
                script,
                stdin: Some(stdin),
            },
        ))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let Applied::Script(out) = result else {
            return Ok(planned);
        };
        let (line, _, _, target, _) = repo_args(args)?;
        let o = planned;
        let r = kv(&out.stdout);
        if !r.contains_key("done") {
            let step = r.get("error").map(String::as_str).unwrap_or("write");
            let detail = r
                .get("err")
                .map(|e| unb64s(e))
                .unwrap_or_else(|| out.stderr_str());
            let errors: Vec<&str> = detail
                .lines()
                .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
                .collect();
            let detail = if errors.is_empty() {
                last_line(&detail)
            } else {
                errors.join(" / ")
            };
            let msg = if step == "update" {
                format!(
                    "apt-get update failed with {line} (the sources are left as they were): {detail}"
                )
            } else {
                format!("{step} failed for {target}: {detail}")
            };
            let mut f = Outcome::failed(msg);
            f.data = o.data;
            return Ok(f);
        }
        Ok(o)
    }
}

// ---------------------------------------------------------------------------
// OpenPGP keys

/// The binary packets of an ASCII-armored block.
pub fn dearmor(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut inside = false;
    let mut headers = false;
    let mut found = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN PGP") {
            inside = true;
            headers = true;
            found = true;
            continue;
        }
        if line.starts_with("-----END PGP") {
            inside = false;
            continue;
        }
        if !inside {
            continue;
        }
        if headers {
            if line.is_empty() {
                headers = false;
                continue;
            }
            if line.contains(": ") {
                continue;
            }
            headers = false;
        }
        if line.starts_with('=') || line.is_empty() {
            continue;
        }
        out.extend(B64.decode(line).ok()?);
    }
    (found && !out.is_empty()).then_some(out)
}

/// The v4 fingerprints (uppercase hex) of the public keys and subkeys in
/// binary OpenPGP data; `None` if the data is not OpenPGP packets.
pub fn fingerprints(data: &[u8]) -> Option<Vec<String>> {
    let mut fps = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let h = data[i];
        if h & 0x80 == 0 {
            return None;
        }
        let (tag, len, hdr) = if h & 0x40 != 0 {
            let tag = h & 0x3f;
            let o1 = *data.get(i + 1)? as usize;
            match o1 {
                0..=191 => (tag, o1, 2),
                192..=223 => (tag, ((o1 - 192) << 8) + *data.get(i + 2)? as usize + 192, 3),
                255 => {
                    let b = data.get(i + 2..i + 6)?;
                    (
                        tag,
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                        6,
                    )
                }
                _ => return None,
            }
        } else {
            let tag = (h >> 2) & 0x0f;
            match h & 3 {
                0 => (tag, *data.get(i + 1)? as usize, 2),
                1 => {
                    let b = data.get(i + 1..i + 3)?;
                    (tag, u16::from_be_bytes([b[0], b[1]]) as usize, 3)
                }
                2 => {
                    let b = data.get(i + 1..i + 5)?;
                    (
                        tag,
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                        5,
                    )
                }
                _ => (tag, data.len() - i - 1, 1),
            }
        };
        let body = data.get(i + hdr..i + hdr + len)?;
        if (tag == 6 || tag == 14) && body.first() == Some(&4) && len <= 0xffff {
            let mut s = Sha1::new();
            s.update([0x99, (len >> 8) as u8, len as u8]);
            s.update(body);
            fps.push(s.finalize().iter().map(|b| format!("{b:02X}")).collect());
        }
        i += hdr + len;
    }
    Some(fps)
}

/// Does a key id (fingerprint, long or short id, `0x` allowed) name one of these?
pub fn has_id(fps: &[String], id: &str) -> bool {
    let id = id
        .trim()
        .trim_start_matches("0x")
        .replace(' ', "")
        .to_uppercase();
    !id.is_empty() && fps.iter().any(|f| f.ends_with(&id))
}

/// The bytes to write for a keyring: binary for `.gpg`, armored kept for `.asc`.
pub fn keyring_bytes(material: &[u8], keyring: &str) -> Result<(Vec<u8>, Vec<String>), String> {
    let text = String::from_utf8_lossy(material);
    let armored = text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----");
    let binary = if armored {
        dearmor(&text).ok_or("the key's ASCII armor is damaged")?
    } else {
        material.to_vec()
    };
    let fps = fingerprints(&binary)
        .filter(|f| !f.is_empty())
        .ok_or("the key is not an OpenPGP public key (neither ASCII-armored nor binary)")?;
    let out = if keyring.ends_with(".asc") && armored {
        material.to_vec()
    } else {
        binary
    };
    Ok((out, fps))
}

/// The checked arguments: (present, keyring).
fn key_args(args: &Args) -> Result<(bool, String), Fail> {
    if args.get("keyserver").is_some() && args.get("id").is_none() {
        return fail::bad_args("keyserver needs the id of the key to receive");
    }
    let present = args.str("state").unwrap_or("present") == "present";
    let Some(keyring) = args.string("keyring").or_else(|| default_keyring(args)) else {
        return fail::bad_args(
            "apt_key without keyring needs id, url or file to name its keyring in /etc/apt/trusted.gpg.d/; or give `keyring: /etc/apt/keyrings/NAME.gpg` and reference it from the repository line with [signed-by=/etc/apt/keyrings/NAME.gpg]",
        );
    };
    if present
        && args.get("url").is_none()
        && args.get("file").is_none()
        && args.get("data").is_none()
        && args.get("keyserver").is_none()
    {
        return fail::bad_args("apt_key needs the key: url, file, data or keyserver");
    }
    Ok((present, keyring))
}

/// The keyring of a key given without `keyring:` (what `apt-key add` did, without
/// apt-key): a file of its own in /etc/apt/trusted.gpg.d/, which apt trusts for
/// every source, as it trusted apt-key's /etc/apt/trusted.gpg. Named by `id`, else
/// by the last part of `url` or `file` without its extension.
pub fn default_keyring(args: &Args) -> Option<String> {
    let name = match args.str("id") {
        Some(id) => id.trim().trim_start_matches("0x").to_ascii_uppercase(),
        None => {
            let from = args.str("url").or(args.str("file"))?;
            let last = from.split(['?', '#']).next()?.trim_end_matches('/');
            let last = last.rsplit('/').next()?;
            let stem = match last.rsplit_once('.') {
                Some((s, "asc" | "gpg" | "key" | "pub" | "txt")) => s,
                _ => last,
            };
            stem.to_string()
        }
    };
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = name.trim_start_matches('.');
    (!name.is_empty()).then(|| format!("/etc/apt/trusted.gpg.d/{name}.gpg"))
}

/// Where the key comes from over the network: `url`, else the HKP lookup of
/// `id` on `keyserver` (http for `hkp://`, https for a bare name).
fn key_url(args: &Args) -> Option<String> {
    if let Some(u) = args.string("url") {
        return Some(u);
    }
    let ks = args.str("keyserver")?.trim().trim_end_matches('/');
    let id = args.str("id")?.trim().trim_start_matches("0x");
    let (scheme, host) = match ks.split_once("://") {
        Some(("hkp" | "http", h)) => ("http", h),
        Some((_, h)) => ("https", h),
        None => ("https", ks),
    };
    Some(format!(
        "{scheme}://{host}/pks/lookup?op=get&options=mr&search=0x{id}"
    ))
}

fn keyring_req(keyring: &str) -> Req {
    Req::new(keyring)
        .follow(true)
        .sums(&["sha256"])
        .content(remote_file::ContentReq::Capped(1 << 20))
}

/// The read of the key from `file` (a probe) or `url` (fetched on the host,
/// its curl config on stdin); none for `data` or `state: absent`.
fn key_read(args: &Args, present: bool) -> Result<Option<Need>, Fail> {
    if !present {
        return Ok(None);
    }
    if let Some(f) = args.str("file") {
        return Ok(Some(Need::Probe(format!(
            "# opsctl apt_key: read {}\nif [ -r {f} ]; then printf 'x_key='; head -c 1048576 {f} | base64 -w0; echo; else echo x_nokey=1; fi\n",
            super::net::one_line(f),
            f = q(f)
        ))));
    }
    if let Some(u) = key_url(args) {
        let mut c = Curl::from_args(args, &u, 30)?;
        c.insecure = !args.bool_or("validate_certs", true);
        return Ok(Some(Need::SecretProbe(SecretProbe {
            script: "# opsctl apt_key: download\nIFS= read -r cfg\ncommand -v curl >/dev/null 2>&1 || { echo x_nocurl=1; exit 0; }\ne=$(mktemp) || exit 1\nif k=$(printf '%s' \"$cfg\" | base64 -d | curl -K - 2>\"$e\" | head -c 1048576 | base64 -w0) && [ -n \"$k\" ]; then echo \"x_key=$k\"; else printf 'x_keyerr='; base64 -w0 < \"$e\"; echo; fi\nrm -f -- \"$e\"\n".into(),
            stdin: format!("{}\n", c.line()).into_bytes(),
        })));
    }
    Ok(None)
}

impl Module for AptKey {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let (present, keyring) = key_args(args)?;
        let mut n = vec![Need::Path(keyring_req(&keyring))];
        n.extend(key_read(args, present)?);
        Ok(n)
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<PPlan, Fail> {
        let (present, keyring) = key_args(args)?;
        let st = facts.path(&keyring_req(&keyring))?;
        let read = match key_read(args, present)? {
            Some(Need::Probe(p)) => Some(facts.probe(&p)?),
            Some(Need::SecretProbe(p)) => Some(facts.secret_probe(&p)?),
            _ => None,
        };
        let m = read.map(|o| kv(&o.stdout)).unwrap_or_default();
        let extra = |k: &str| m.get(&format!("x_{k}")).map(String::as_str);
        if extra("nocurl").is_some() {
            return fail::fail(
                "curl is not installed on the host: install it first (apt: name=curl)",
            );
        }
        if st.kind == FType::Directory {
            return fail::fail(format!("keyring {keyring} is a directory"));
        }
        let current = st.content.clone().filter(|_| st.kind == FType::File);
        let current_fps = current
            .as_deref()
            .and_then(|c| keyring_bytes(c, &keyring).ok())
            .map(|(_, f)| f)
            .unwrap_or_default();
        let id = args.str("id");
        let mut o = Outcome::ok().with("keyring", keyring.clone());
        if !present {
            let holds = st.kind == FType::File && id.is_none_or(|i| has_id(&current_fps, i));
            if !holds {
                return Ok(PPlan::Done(o));
            }
            o.changed = true;
            if ctx.diff {
                o.diffs
                    .push(Diff::new(&keyring, fp_text(&current_fps), String::new()));
            }
            return Ok(PPlan::change(
                o,
                Action::Files {
                    ops: vec![Op::Remove(st.path.clone())],
                    validate: None,
                },
            ));
        }
        if let Some(i) = id
            && has_id(&current_fps, i)
        {
            return Ok(PPlan::Done(
                o.with("fp", fp_of(&current_fps, i)).with("id", i),
            ));
        }
        let material = if let Some(d) = args.str("data") {
            d.as_bytes().to_vec()
        } else if let Some(e) = extra("keyerr") {
            return fail::fail(format!(
                "failed to download the key from {}: {}",
                key_url(args).unwrap_or_default(),
                last_line(&unb64s(e))
            ));
        } else if extra("nokey").is_some() {
            return fail::fail(format!(
                "key file {} does not exist or is not readable on the host",
                args.str("file").unwrap_or_default()
            ));
        } else {
            unb64(extra("key").unwrap_or_default())
        };
        let (bytes, fps) = keyring_bytes(&material, &keyring).map_err(Fail::Task)?;
        if let Some(i) = id
            && !has_id(&fps, i)
        {
            return fail::fail(format!(
                "the key does not match id {i} (its fingerprints: {})",
                fps.join(", ")
            ));
        }
        o = o.with("fp", fps.first().cloned().unwrap_or_default());
        if let Some(i) = id {
            o = o.with("id", i).with("fp", fp_of(&fps, i));
        }
        if current.as_deref() == Some(&bytes[..]) {
            return Ok(PPlan::Done(o));
        }
        o.changed = true;
        if ctx.diff {
            o.diffs
                .push(Diff::new(&keyring, fp_text(&current_fps), fp_text(&fps)));
        }
        let mut ops = Vec::new();
        if st.parent == FType::Absent {
            ops.push(Op::Mkdir {
                path: paths::parent_of(&st.path),
                mode: Some(0o755),
                own: None,
            });
        }
        ops.push(Op::Write {
            path: st.path.clone(),
            source: Source::Bytes(bytes),
            mode: 0o644,
            own: Own::default(),
            backup: false,
            validate: false,
        });
        Ok(PPlan::change(
            o,
            Action::Files {
                ops,
                validate: None,
            },
        ))
    }
}

fn fp_text(fps: &[String]) -> String {
    fps.iter().map(|f| format!("{f}\n")).collect()
}

fn fp_of(fps: &[String], id: &str) -> String {
    let id = id.trim_start_matches("0x").to_uppercase();
    fps.iter()
        .find(|f| f.ends_with(&id))
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_lines() {
        let a = Source1::parse("deb [signed-by=/etc/apt/keyrings/n.gpg arch=amd64] https://deb.nodesource.com/node_20.x/ nodistro main").unwrap();
        let b = Source1::parse("deb  [arch=amd64 signed-by=/etc/apt/keyrings/n.gpg]  https://deb.nodesource.com/node_20.x nodistro main # x").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.uri, "https://deb.nodesource.com/node_20.x");
        assert!(Source1::parse("# deb http://x y z").is_none());
        assert_eq!(
            Source1::parse_disabled("# deb http://x y z").unwrap().suite,
            "y"
        );
        assert!(Source1::parse("Types: deb").is_none());
        assert_eq!(
            suggest_filename(
                "deb [signed-by=/k.gpg] https://deb.nodesource.com/node_20.x nodistro main"
            ),
            "deb_nodesource_com_node_20_x"
        );
        assert_eq!(
            suggest_filename("deb http://user:pw@ftp.debian.org/debian bookworm main"),
            "ftp_debian_org_debian"
        );
    }

    #[test]
    fn repo_decisions() {
        let line = "deb [trusted=yes] file:/srv/repo ./";
        let repo = Source1::parse(line).unwrap();
        let target = "/etc/apt/sources.list.d/srv_repo.list";
        let main = SourcesFile {
            path: "/etc/apt/sources.list".into(),
            content: "deb http://deb.debian.org/debian bookworm main\n".into(),
        };
        let plan = decide_repo(std::slice::from_ref(&main), &repo, line, target, true);
        assert_eq!(
            plan.writes,
            vec![(target.to_string(), Some(format!("{line}\n")))]
        );
        let with = SourcesFile {
            path: "/etc/apt/sources.list.d/other.list".into(),
            content: "deb [trusted=yes] file:/srv/repo/ ./\n".into(),
        };
        assert!(
            decide_repo(&[main.clone(), with.clone()], &repo, line, target, true)
                .writes
                .is_empty()
        );
        // absent: the file that only held it goes away
        let plan = decide_repo(&[main.clone(), with], &repo, line, target, false);
        assert_eq!(
            plan.writes,
            vec![("/etc/apt/sources.list.d/other.list".to_string(), None)]
        );
        let disabled = SourcesFile {
            path: target.into(),
            content: "# deb [trusted=yes] file:/srv/repo ./\n".into(),
        };
        let plan = decide_repo(&[disabled], &repo, line, target, true);
        assert_eq!(
            plan.writes,
            vec![(target.to_string(), Some(format!("{line}\n")))]
        );
    }

    #[test]
    fn keyring_of_a_key_given_without_one() {
        let of = |v: serde_json::Value| {
            default_keyring(&Args {
                values: v.as_object().unwrap().clone(),
            })
        };
        let k = |s: &str| Some(s.to_string());
        assert_eq!(
            of(json!({"id": "0x68576280", "url": "https://x/k.asc"})),
            k("/etc/apt/trusted.gpg.d/68576280.gpg")
        );
        assert_eq!(
            of(json!({"url": "https://www.postgresql.org/media/keys/ACCC4CF8.asc"})),
            k("/etc/apt/trusted.gpg.d/ACCC4CF8.gpg")
        );
        assert_eq!(
            of(json!({"url": "https://download.docker.com/linux/debian/gpg"})),
            k("/etc/apt/trusted.gpg.d/gpg.gpg")
        );
        assert_eq!(
            of(
                json!({"url": "https://keyserver.ubuntu.com/pks/lookup?op=get&search=0x1655A0AB68576280"})
            ),
            k("/etc/apt/trusted.gpg.d/lookup.gpg")
        );
        assert_eq!(
            of(json!({"file": "/tmp/my key.pub"})),
            k("/etc/apt/trusted.gpg.d/my_key.gpg")
        );
        assert_eq!(of(json!({"data": "-----BEGIN PGP"})), None);
        let url = |v: serde_json::Value| {
            key_url(&Args {
                values: v.as_object().unwrap().clone(),
            })
        };
        assert_eq!(
            url(
                json!({"keyserver": "hkp://keyserver.ubuntu.com:80", "id": "0x9DC858229FC7DD38854AE2D88D81803C0EBFCD88"})
            ),
            k(
                "http://keyserver.ubuntu.com:80/pks/lookup?op=get&options=mr&search=0x9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
            )
        );
        assert_eq!(
            url(json!({"keyserver": "keyserver.ubuntu.com", "id": "E0C56BD4"})),
            k("https://keyserver.ubuntu.com/pks/lookup?op=get&options=mr&search=0xE0C56BD4")
        );
        assert_eq!(of(json!({"url": "https://x/.."})), None);
    }

    /// A v4 public key packet (RSA, tiny numbers: only the layout matters).
    fn key_packet() -> Vec<u8> {
        let body: Vec<u8> = vec![4, 0x65, 0, 0, 0, 1, 0, 8, 0xc5, 0, 8, 0x03];
        let mut p = vec![0x99, 0, body.len() as u8];
        p.extend(&body);
        p
    }

    #[test]
    fn fingerprints_and_armor() {
        let pkt = key_packet();
        let fps = fingerprints(&pkt).unwrap();
        let body = &pkt[3..];
        let mut s = Sha1::new();
        s.update([0x99, 0, body.len() as u8]);
        s.update(body);
        let want: String = s.finalize().iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(fps, vec![want.clone()]);
        assert!(
            has_id(&fps, &want[24..]) && has_id(&fps, &format!("0x{}", &want[32..].to_lowercase()))
        );
        assert!(!has_id(&fps, "DEADBEEF"));
        let armored = format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n{}\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n",
            B64.encode(&pkt)
        );
        assert_eq!(dearmor(&armored).unwrap(), pkt);
        let (bytes, f) = keyring_bytes(armored.as_bytes(), "/etc/apt/keyrings/x.gpg").unwrap();
        assert_eq!((bytes, f), (pkt.clone(), fps.clone()));
        let (bytes, _) = keyring_bytes(armored.as_bytes(), "/etc/apt/keyrings/x.asc").unwrap();
        assert_eq!(bytes, armored.as_bytes());
        assert!(keyring_bytes(b"hello", "/k.gpg").is_err());
        assert!(fingerprints(b"\x00garbage").is_none());
    }
}
