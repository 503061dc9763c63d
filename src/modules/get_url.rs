//! get_url: a file downloaded ON THE HOST with `curl` (http, https, ftp and
//! file:// URLs; see `net` for the curl config on stdin), on the module
//! protocol. The facts: the destination's stat and checksums, the checksum
//! file of `checksum: ALGO:URL` (read to stdout, never written), and, with
//! `force: yes` and no checksum over an existing file, a second read that
//! streams the URL through `sha256sum` (nothing written on the host to
//! decide). The change downloads beside the destination, checks the checksum
//! and installs atomically with its mode and owner. No request at all when
//! `dest` exists and `force` is off, or when it matches `checksum`.

use std::collections::BTreeMap;

use super::attrs::Attrs;
use super::fail::{self, Fail};
use super::net::{Curl, check_url, last_line, redact_url, url_basename};
use super::paths;
use super::protocol::{Action, Applied, Ctx, Facts, Module, Need, Plan, SecretProbe};
use super::regular_file::{self, FileWant};
use super::remote_file::{self, FType, Op, Req};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::{Output, shell_quote as q};

pub static GET_URL: Spec = Spec::new(
    "get_url",
    &[
        ArgSpec::new("url", Kind::Str).required(),
        ArgSpec::new("dest", Kind::Str).required(),
        ArgSpec::new("checksum", Kind::Str),
        ArgSpec::new("force", Kind::Bool).aliases(&["thirsty"]),
        ArgSpec::new("mode", Kind::Mode),
        ArgSpec::new("owner", Kind::Str),
        ArgSpec::new("group", Kind::Str),
        ArgSpec::new("backup", Kind::Bool),
        ArgSpec::new("timeout", Kind::Int),
        ArgSpec::new("headers", Kind::Any),
        ArgSpec::new("url_username", Kind::Str).aliases(&["username"]),
        ArgSpec::new("url_password", Kind::Str).aliases(&["password"]),
        ArgSpec::new("force_basic_auth", Kind::Bool),
        ArgSpec::new("validate_certs", Kind::Bool),
        ArgSpec::new("http_agent", Kind::Str),
        ArgSpec::new("use_proxy", Kind::Bool),
    ],
);

/// A `checksum:` argument: `ALGO:HEX` or `ALGO:URL-of-a-checksum-file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    Hex { algo: String, hex: String },
    Url { algo: String, url: String },
}

impl Checksum {
    pub fn parse(s: &str) -> Result<Checksum, String> {
        let (algo, value) = s.split_once(':').ok_or_else(|| {
            format!(
                "checksum must be 'algorithm:checksum' (for example 'sha256:9f86d0...'), got '{s}'"
            )
        })?;
        let algo = algo.trim().to_lowercase();
        if !remote_file::SUM_ALGOS.contains(&algo.as_str()) {
            return Err(format!(
                "checksum algorithm '{algo}' is not supported (use one of {})",
                remote_file::SUM_ALGOS.join(", ")
            ));
        }
        let value = value.trim();
        if value.contains("://") {
            return Ok(Checksum::Url {
                algo,
                url: value.to_string(),
            });
        }
        let len = hex_len(&algo);
        if value.len() != len || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "checksum: '{value}' is not a {algo} checksum ({len} hex digits)"
            ));
        }
        Ok(Checksum::Hex {
            algo,
            hex: value.to_lowercase(),
        })
    }

    pub fn algo(&self) -> &str {
        match self {
            Checksum::Hex { algo, .. } | Checksum::Url { algo, .. } => algo,
        }
    }
}

fn hex_len(algo: &str) -> usize {
    match algo {
        "md5" => 32,
        "sha1" => 40,
        "sha224" => 56,
        "sha256" => 64,
        "sha384" => 96,
        _ => 128,
    }
}

/// Finds the checksum of `name` in a checksum file (`HEX  name` lines, `*name`
/// for binary mode, or a file holding only the checksum), as Ansible does.
pub fn checksum_from_file(text: &str, name: &str, algo: &str) -> Option<String> {
    let len = hex_len(algo);
    let valid = |h: &str| h.len() == len && h.bytes().all(|b| b.is_ascii_hexdigit());
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for l in &lines {
        let mut parts = l.split_whitespace();
        let (Some(h), Some(f)) = (parts.next(), parts.next()) else {
            continue;
        };
        let f = f.trim_start_matches('*').trim_start_matches("./");
        if f == name && valid(h) {
            return Some(h.to_lowercase());
        }
    }
    match lines.as_slice() {
        [one] => {
            let h = one.split_whitespace().next()?;
            valid(h).then(|| h.to_lowercase())
        }
        _ => None,
    }
}

/// A task's arguments, validated.
struct Task {
    url: String,
    dest: String,
    force: bool,
    attrs: Attrs,
    backup: bool,
    checksum: Option<Checksum>,
    curl: Curl,
    /// The URL's file name (used when dest is a directory).
    base: Option<String>,
    /// The checksum algorithm (sha256 without a checksum).
    algo: String,
}

impl Task {
    fn from_args(args: &Args) -> Result<Task, Fail> {
        let url = args.str("url").unwrap_or_default().trim().to_string();
        let checksum = match args.str("checksum").filter(|s| !s.trim().is_empty()) {
            Some(c) => Some(Checksum::parse(c).map_err(Fail::Args)?),
            None => None,
        };
        if let Some(Checksum::Url { url, .. }) = &checksum {
            check_url(url)?;
        }
        let algo = checksum
            .as_ref()
            .map(|c| c.algo().to_string())
            .unwrap_or("sha256".into());
        Ok(Task {
            curl: Curl::from_args(args, &url, 10)?,
            base: url_basename(&url),
            dest: args.str("dest").unwrap_or_default().to_string(),
            force: args.bool_or("force", false),
            attrs: Attrs::from_args(args)?,
            backup: args.bool_or("backup", false),
            checksum,
            algo,
            url,
        })
    }

    /// The stat of dest, and of dest/<url's file name> (dest may be a directory).
    fn reqs(&self) -> Vec<Req> {
        let mut sums = vec!["sha1", "sha256"];
        if !sums.contains(&self.algo.as_str()) {
            sums.push(&self.algo);
        }
        let mut reqs = vec![Req::new(&self.dest).follow(true).sums(&sums)];
        if let Some(b) = &self.base {
            reqs.push(
                Req::new(paths::join(&self.dest, b))
                    .follow(true)
                    .sums(&sums),
            );
        }
        reqs
    }

    /// A read of the checksum file (`checksum: ALGO:URL`): printed on stdout,
    /// at most 1 MiB; curl's exit status on stderr.
    fn sum_file_read(&self) -> Option<Need> {
        let Some(Checksum::Url { url, .. }) = &self.checksum else {
            return None;
        };
        let mut c = self.curl.clone();
        c.url = url.clone();
        Some(net_read(
            &c,
            &format!("the checksum file {}", redact_url(url)),
            "{ printf '%s' \"$cfg\" | base64 -d | curl -K - -o -; echo \"x_rc=$?\" >&2; } | head -c 1048576\n",
        ))
    }

    /// The sha256 of what the URL serves, streamed (`force` without a
    /// checksum, over an existing file): nothing is written on the host.
    fn stream_read(&self) -> Need {
        net_read(
            &self.curl,
            &format!("the checksum of {}", redact_url(&self.url)),
            "{ printf '%s' \"$cfg\" | base64 -d | curl -K - -o - -w '%{stderr}x_code=%{http_code}\\n'; echo \"x_rc=$?\" >&2; } | { h=$(sha256sum); echo \"x_sha256=${h%% *}\"; }\n",
        )
    }

    fn request_failed(&self, url: &str, err: &str) -> Fail {
        Fail::Task(format!(
            "Request failed for {}: {}",
            redact_url(url),
            last_line(err)
        ))
    }
}

/// A read of the network on the host, `body` with the curl config in `$cfg`:
/// a probe (merged with the other reads) with the config in the script, or,
/// when the config carries credentials (a password, headers, a URL with a
/// user, or any value known to be a secret), a secret probe with the config on
/// its stdin, in an exec of its own.
fn net_read(curl: &Curl, what: &str, body: &str) -> Need {
    let userinfo = curl
        .url
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .is_some_and(|authority| authority.contains('@'));
    let check = "command -v curl >/dev/null 2>&1 || { echo x_nocurl=1; exit 0; }\n";
    // a URL holding a secret (a token in the query or path) never goes into
    // a command line either
    let secret = crate::redact::contains_secret(&curl.config());
    if curl.user.is_some() || !curl.headers.is_empty() || userinfo || secret {
        Need::SecretProbe(SecretProbe {
            script: format!("# opsctl get_url: {what}\nIFS= read -r cfg\n{check}{body}"),
            stdin: format!("{}\n", curl.line()).into_bytes(),
        })
    } else {
        Need::Probe(format!(
            "# opsctl get_url: {what}\ncfg={}\n{check}{body}",
            curl.line()
        ))
    }
}

/// The output of a read.
fn read_output<'a>(facts: &'a Facts, need: &Need) -> Result<&'a Output, Fail> {
    match need {
        Need::SecretProbe(p) => facts.secret_probe(p),
        Need::Probe(script) => facts.probe(script),
        _ => fail::fail("get_url: internal error: not a read"),
    }
}

const NO_CURL: &str = "curl is not installed on the host: install it first (apt: name=curl)";

/// A probe's `x_key=value` lines (stdout and stderr) and the other stderr lines.
fn probe_lines(out: &Output) -> (BTreeMap<String, String>, String) {
    let mut kv = BTreeMap::new();
    let mut err = String::new();
    for l in out.stdout_str().lines().chain(out.stderr_str().lines()) {
        match l.strip_prefix("x_").and_then(|l| l.split_once('=')) {
            Some((k, v)) => {
                kv.insert(k.to_string(), v.to_string());
            }
            None => {
                err.push_str(l);
                err.push('\n');
            }
        }
    }
    (kv, err)
}

/// The download of the change: into `dl` beside the destination, checked
/// against the checksum, removed on exit whatever happens (the file
/// interpreter after it installs it with its attributes).
fn download_script(dl: &str, url: &str, sum: Option<(&str, &str)>) -> String {
    let check = match sum {
        Some((algo, hex)) => format!(
            "h=$({algo}sum < \"$dl\") || exit 3\nif [ \"${{h%% *}}\" != {hex} ]; then echo \"x_mismatch=${{h%% *}}\"; echo x_want={hex}; exit 3; fi\n",
        ),
        None => String::new(),
    };
    format!(
        r#"# opsctl get_url: download {url_shown}
IFS= read -r cfg
dl={dl_q}
trap 'rm -f -- "$dl"' EXIT
command -v curl >/dev/null 2>&1 || {{ echo x_nocurl=1; exit 3; }}
code=$(printf '%s' "$cfg" | base64 -d | curl -K - -o "$dl" -w '%{{http_code}}') || {{ echo x_dlfail=1; exit 3; }}
echo "x_code=$code"
{check}{interpreter}"#,
        url_shown = redact_url(url),
        dl_q = q(dl),
        interpreter = remote_file::interpreter(None),
    )
}

pub struct GetUrl;

/// Reads the destination (and the checksum file, for `checksum: ALGO:URL`);
/// with `force` and no checksum, a second read streams the URL through
/// sha256sum to compare. The change downloads beside the destination and
/// installs atomically with the attributes asked.
impl Module for GetUrl {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let t = Task::from_args(args)?;
        let mut needs = vec![Need::Host];
        needs.extend(t.reqs().into_iter().map(Need::Path));
        needs.extend(t.sum_file_read());
        Ok(needs)
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let t = Task::from_args(args)?;
        let host = facts.host()?;
        let reqs = t.reqs();
        let first = facts.path(&reqs[0])?;
        let st = if first.kind == FType::Directory {
            match reqs.get(1) {
                Some(r) => facts.path(r)?.clone(),
                None => {
                    return fail::fail(format!(
                        "{} is a directory and the url has no file name: give dest as a file path",
                        t.dest
                    ));
                }
            }
        } else {
            first.clone()
        };
        let path = st.path.clone();
        let exists = st.kind == FType::File;
        // The checksum to match.
        let want_sum = match &t.checksum {
            Some(Checksum::Hex { hex, .. }) => Some(hex.clone()),
            Some(Checksum::Url { url: su, algo }) => {
                let read = t.sum_file_read().expect("a checksum url");
                let out = read_output(facts, &read)?;
                let (kv, err) = probe_lines(out);
                if kv.contains_key("nocurl") {
                    return fail::fail(NO_CURL);
                }
                if kv.get("rc").map(String::as_str) != Some("0") {
                    return fail::fail(format!(
                        "could not fetch the checksum file {}: {}",
                        redact_url(su),
                        last_line(&err)
                    ));
                }
                let name = t.base.clone().unwrap_or_else(|| paths::basename(&path));
                match checksum_from_file(&out.stdout_str(), &name, algo) {
                    Some(h) => Some(h),
                    None => {
                        return fail::fail(format!(
                            "no {algo} checksum for {name} in {}",
                            redact_url(su)
                        ));
                    }
                }
            }
            None => None,
        };
        // Whether the content must be (re)written, and its sha256 when known.
        let mut status = None;
        let (need_write, known_sha) = if !exists {
            (true, None)
        } else if let Some(w) = &want_sum {
            (st.sums.get(&t.algo) != Some(w), None)
        } else if t.force {
            let read = t.stream_read();
            if !facts.has(&read) {
                return Ok(Plan::More(vec![read]));
            }
            let (kv, err) = probe_lines(read_output(facts, &read)?);
            if kv.contains_key("nocurl") {
                return fail::fail(NO_CURL);
            }
            if kv.get("rc").map(String::as_str) != Some("0") {
                return Err(t.request_failed(&t.url, &err));
            }
            status = kv.get("code").and_then(|c| c.trim().parse::<i64>().ok());
            let new = kv.get("sha256").cloned().unwrap_or_default();
            (st.sha256() != Some(new.as_str()), Some(new))
        } else {
            (false, None)
        };
        let dl = format!(
            "{}/.opsctl-get_url.{}",
            paths::parent_of(&path),
            paths::basename(&path)
        );
        let want = FileWant {
            remote: need_write.then_some((dl.as_str(), known_sha.as_deref())),
            attrs: t.attrs.clone(),
            backup: t.backup,
            diff: false,
            ..Default::default()
        };
        let d = regular_file::decide_file(&st, host, &want).map_err(Fail::Task)?;
        let mut o = if d.changed {
            Outcome::changed()
        } else {
            Outcome::ok()
        };
        if ctx.diff && d.changed {
            if d.content_changed {
                let before = match st.sha256() {
                    Some(s) if exists => format!("sha256: {s}\n"),
                    _ => String::new(),
                };
                let after = match (&known_sha, &want_sum) {
                    (Some(s), _) => format!("sha256: {s}\n"),
                    (None, Some(w)) => format!("{}: {w}\n", t.algo),
                    (None, None) => format!("(downloaded from {})\n", redact_url(&t.url)),
                };
                o.diffs.push(Diff::new(&path, before, after));
            }
            o.diffs.extend(d.attrs.diffs(&path));
        }
        let mut fin = st.clone();
        if d.changed {
            fin.kind = FType::File;
            fin.mode = d.mode;
        }
        o.data.extend(remote_file::file_fields(&fin));
        let msg = if d.content_changed {
            format!("would download {}", redact_url(&t.url))
        } else if d.changed {
            "file already exists but file attributes changed".into()
        } else {
            "file already exists".into()
        };
        o = o
            .with("url", redact_url(&t.url))
            .with("dest", path.clone())
            .with("elapsed", 0)
            .with("msg", msg.clone())
            .msg(msg);
        if let Some(c) = status {
            o = o.with("status_code", c);
        }
        if let Some(s) = st.sums.get("sha1").filter(|_| exists) {
            o = o.with("checksum_dest", s.clone());
            if !d.content_changed {
                o = o.with("checksum_src", s.clone());
            }
        }
        if !d.changed {
            return Ok(Plan::Done(o));
        }
        let mut ops = d.ops;
        ops.push(Op::Probe(Req::new(&path).sums(&["sha1"])));
        let action = if d.content_changed {
            let sum = want_sum.as_deref().map(|h| (t.algo.as_str(), h));
            let mut stdin = format!("{}\n", t.curl.line()).into_bytes();
            stdin.extend(remote_file::manifest(&ops));
            Action::Script {
                script: download_script(&dl, &t.url, sum),
                stdin: Some(stdin),
            }
        } else {
            Action::Files {
                ops,
                validate: None,
            }
        };
        Ok(Plan::change(o, action))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let t = Task::from_args(args)?;
        let path = planned.data["dest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let run = match &result {
            Applied::Files(run) => run.clone(),
            Applied::Script(out) => {
                let r = remote_file::parse_output(&out.stdout);
                if !out.success() {
                    let err = out.stderr_str();
                    if r.extra("nocurl").is_some() {
                        return fail::fail(NO_CURL);
                    }
                    if r.extra("dlfail").is_some() {
                        return Err(t.request_failed(&t.url, &err));
                    }
                    if let Some(got) = r.extra("mismatch") {
                        return fail::fail(format!(
                            "The checksum for {path} did not match {}; it was {got}.",
                            r.extra("want").unwrap_or_default()
                        ));
                    }
                    let step = r.extra("error").unwrap_or("install");
                    return fail::fail(format!(
                        "{step} failed for {path}: {}{}",
                        last_line(&err),
                        if err.contains("Permission denied")
                            || err.contains("Operation not permitted")
                        {
                            remote_file::become_hint(&r.host)
                        } else {
                            String::new()
                        }
                    ));
                }
                r
            }
            _ => return fail::fail("get_url: internal error: not a download"),
        };
        let mut o = planned;
        if let Some(c) = run.extra("code").and_then(|c| c.trim().parse::<i64>().ok()) {
            o.data.insert("status_code".into(), c.into());
        }
        if let Some(b) = run.backup_file() {
            o.data.insert("backup_file".into(), b.into());
        }
        let downloaded = matches!(result, Applied::Script(_));
        if let Some(after) = run.items.last() {
            o.data.extend(remote_file::file_fields(after));
            if let Some(s) = after.sums.get("sha1") {
                o.data.insert("checksum_src".into(), s.clone().into());
            }
            if downloaded {
                let msg = format!("OK ({} bytes)", after.size);
                o.data.insert("msg".into(), msg.clone().into());
                o.msg = Some(msg);
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_holding_a_secret_goes_on_stdin_never_into_the_script() {
        let plain = Curl::new("https://dl.example.test/app.tgz");
        assert!(matches!(net_read(&plain, "x", "true\n"), Need::Probe(_)));
        crate::redact::register("tok-5f1e9c2d8a7b41");
        let token = Curl::new("https://dl.example.test/app.tgz?token=tok-5f1e9c2d8a7b41");
        match net_read(&token, "x", "true\n") {
            Need::SecretProbe(p) => {
                assert!(!p.script.contains(&token.line()));
                assert_eq!(p.stdin, format!("{}\n", token.line()).into_bytes());
            }
            other => panic!("not on stdin: {other:?}"),
        }
    }

    #[test]
    fn checksums() {
        let h = "a".repeat(64);
        assert_eq!(
            Checksum::parse(&format!("sha256:{h}")).unwrap(),
            Checksum::Hex {
                algo: "sha256".into(),
                hex: h.clone()
            }
        );
        assert_eq!(
            Checksum::parse("SHA256:https://x.test/SHA256SUMS").unwrap(),
            Checksum::Url {
                algo: "sha256".into(),
                url: "https://x.test/SHA256SUMS".into()
            }
        );
        assert!(
            Checksum::parse("sha256:abc")
                .unwrap_err()
                .contains("64 hex digits")
        );
        assert!(
            Checksum::parse("crc32:abc")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(Checksum::parse("abc").is_err());
        let file = format!("{}  other.tgz\n{h} *app.tgz\n", "b".repeat(64));
        assert_eq!(
            checksum_from_file(&file, "app.tgz", "sha256"),
            Some(h.clone())
        );
        assert_eq!(checksum_from_file(&file, "missing.tgz", "sha256"), None);
        assert_eq!(
            checksum_from_file(&format!("{h}\n"), "x", "sha256"),
            Some(h.clone())
        );
        assert_eq!(
            checksum_from_file(&format!("{h}  ./x\n"), "x", "sha256"),
            Some(h)
        );
    }
}
