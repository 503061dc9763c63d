//! get_url, uri and wait_for: the network as the host sees it.
//!
//! Requests are made ON THE HOST with `curl` (http, https, ftp and file://
//! URLs), never from the controller. curl's options travel as a config file
//! on stdin (`curl -K -`), so headers and passwords never appear in a command
//! line, a process list or opsctl's `-v` trace.
//!
//! * get_url: one exec probes the destination (sha256, attributes) and, with
//!   `force: yes` or a checksum URL, downloads what is needed to decide; one more
//!   exec downloads (if not done yet) and installs the file atomically with its
//!   mode and owner. No request at all when `dest` exists and `force` is off,
//!   or when it matches `checksum`.
//! * uri: one exec, the request itself. Never `changed`.
//! * wait_for: one exec, a bounded loop on the host.
//!
//! Also the small helpers the other deploy modules share (key=value output,
//! base64, curl configs).

use std::collections::BTreeMap;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value as Json, json};

use super::util::{self, Attrs, FType, Fail, FileWant, Fut, Op, Req};
use super::{ArgSpec, Args, Diff, HostEnv, Kind, Outcome, Spec};
use crate::transport::shell_quote as q;

// ---------------------------------------------------------------------------
// Shared helpers

/// `key=value` lines (the first `=` splits; the last value of a key wins).
pub(crate) fn kv(out: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(out);
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim_end_matches('\r').to_string()))
        .collect()
}

pub(crate) fn unb64(s: &str) -> Vec<u8> {
    B64.decode(s.trim()).unwrap_or_default()
}

pub(crate) fn unb64s(s: &str) -> String {
    String::from_utf8_lossy(&unb64(s)).into_owned()
}

/// The last non-empty line of a command's error output.
pub(crate) fn last_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("(no error output)")
        .to_string()
}

/// Text for the comment that starts a remote script (shown by `-v`): on one
/// line, so that nothing after a newline could become code.
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A URL for messages and traces: a password in it (`https://u:pw@host`) is hidden.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(end);
    match auth.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// A value in a curl config file: quoted, with curl's escapes.
pub(crate) fn curl_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What a curl request needs (a curl config file, read with `curl -K -`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Curl {
    pub url: String,
    pub method: Option<String>,
    pub headers: Vec<(String, String)>,
    pub user: Option<(String, String)>,
    pub timeout: u64,
    pub insecure: bool,
    pub follow: bool,
    pub agent: String,
    pub no_proxy: bool,
    /// `--fail`: HTTP errors are errors.
    pub fail: bool,
    pub unix_socket: Option<String>,
}

impl Curl {
    pub fn new(url: &str) -> Curl {
        Curl {
            url: url.to_string(),
            timeout: 10,
            follow: true,
            agent: format!("opsctl/{}", env!("CARGO_PKG_VERSION")),
            fail: true,
            ..Default::default()
        }
    }

    /// Reads the common arguments: headers, url_username/url_password,
    /// validate_certs, http_agent, use_proxy, timeout.
    pub fn from_args(args: &Args, url: &str, timeout: u64) -> Result<Curl, Fail> {
        check_url(url)?;
        let mut c = Curl::new(url);
        c.timeout = match args.int("timeout") {
            Some(t) if t > 0 => t as u64,
            Some(t) => return util::bad_args(format!("timeout must be positive, got {t}")),
            None => timeout,
        };
        c.insecure = !args.bool_or("validate_certs", true);
        c.no_proxy = !args.bool_or("use_proxy", true);
        if let Some(a) = args.str("http_agent") {
            c.agent = a.to_string();
        }
        c.headers = headers_arg(args)?;
        if let Some(u) = args.str("url_username") {
            let p = args.str("url_password").unwrap_or_default();
            c.user = Some((u.to_string(), p.to_string()));
        }
        Ok(c)
    }

    pub fn config(&self) -> String {
        let mut s = format!("url = {}\nsilent\nshow-error\n", curl_quote(&self.url));
        s.push_str(&format!(
            "connect-timeout = {t}\nspeed-time = {t}\nspeed-limit = 1\n",
            t = self.timeout
        ));
        if self.follow {
            s.push_str("location\nmax-redirs = 50\n");
        }
        if self.insecure {
            s.push_str("insecure\n");
        }
        if self.no_proxy {
            s.push_str("noproxy = \"*\"\n");
        }
        if self.fail {
            s.push_str("fail\n");
        }
        s.push_str(&format!("user-agent = {}\n", curl_quote(&self.agent)));
        if let Some(m) = &self.method {
            if m == "HEAD" {
                s.push_str("head\n");
            } else {
                s.push_str(&format!("request = {}\n", curl_quote(m)));
            }
        }
        for (k, v) in &self.headers {
            s.push_str(&format!("header = {}\n", curl_quote(&format!("{k}: {v}"))));
        }
        if let Some((u, p)) = &self.user {
            s.push_str(&format!("user = {}\n", curl_quote(&format!("{u}:{p}"))));
        }
        if let Some(sock) = &self.unix_socket {
            s.push_str(&format!("unix-socket = {}\n", curl_quote(sock)));
        }
        s
    }

    /// The config as one base64 line, to send as the first line of stdin.
    pub fn line(&self) -> String {
        B64.encode(self.config())
    }
}

/// A URL curl can fetch, without anything that could break a config line.
pub(crate) fn check_url(url: &str) -> Result<(), Fail> {
    let ok = ["http://", "https://", "ftp://", "file://"]
        .iter()
        .any(|p| url.len() > p.len() && url[..p.len()].eq_ignore_ascii_case(p));
    if !ok {
        return util::bad_args(format!(
            "url '{url}' is not supported: use an http://, https://, ftp:// or file:// URL"
        ));
    }
    if url.contains(['\n', '\r']) {
        return util::bad_args("url must be one line");
    }
    Ok(())
}

/// The `headers` argument: a mapping (or `K: V` strings).
fn headers_arg(args: &Args) -> Result<Vec<(String, String)>, Fail> {
    let mut out = Vec::new();
    match args.get("headers") {
        None => {}
        Some(Json::Object(m)) => {
            for (k, v) in m {
                let v = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                out.push((k.clone(), v));
            }
        }
        Some(Json::Array(a)) => {
            for h in a {
                let h = h.as_str().unwrap_or_default();
                let Some((k, v)) = h.split_once(':') else {
                    return util::bad_args(format!("headers: '{h}' is not 'Name: value'"));
                };
                out.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Some(other) => return util::bad_args(format!("headers must be a mapping, got {other}")),
    }
    for (k, v) in &out {
        if k.is_empty() || k.contains([':', '\n', '\r']) || v.contains(['\n', '\r']) {
            return util::bad_args(format!("headers: invalid header name or value for '{k}'"));
        }
    }
    Ok(out)
}

/// The file name of a URL's path (`https://x/a/b.tar.gz?x=1` -> `b.tar.gz`).
pub(crate) fn url_basename(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let path = if url.to_ascii_lowercase().starts_with("file://") {
        rest
    } else {
        rest.split_once('/').map(|(_, p)| p).unwrap_or("")
    };
    let name = path.rsplit('/').next().unwrap_or("");
    let name = percent_decode(name);
    (!name.is_empty() && name != "." && name != ".." && !name.contains('/')).then_some(name)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else if b == b' ' {
                "+".to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn timeout_arg(args: &Args, name: &str, default: i64) -> Result<u64, Fail> {
    match args.int(name).unwrap_or(default) {
        t if t >= 0 => Ok(t as u64),
        t => util::bad_args(format!("{name} must not be negative, got {t}")),
    }
}

// ---------------------------------------------------------------------------
// get_url

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

pub fn run_get_url<'a>(args: &'a Args, env: &'a HostEnv<'a>) -> Fut<'a> {
    Box::pin(async move { util::finish(get_url(args, env).await) })
}

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
        if !util::SUM_ALGOS.contains(&algo.as_str()) {
            return Err(format!(
                "checksum algorithm '{algo}' is not supported (use one of {})",
                util::SUM_ALGOS.join(", ")
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

/// The remote part run before util's probe script in get_url's first exec:
/// fetch a checksum file, and with `force` download the file to a temporary
/// file beside the destination (kept only when it differs, and not in check mode).
fn get_url_probe_prelude(dest: &str, base: Option<&str>, algo: &str, keep: bool) -> String {
    format!(
        r#"# opsctl get_url: probe {shown}
IFS= read -r cfg; IFS= read -r sumcfg
if [ -n "$cfg$sumcfg" ] && ! command -v curl >/dev/null 2>&1; then echo x_nocurl=1; exit 0; fi
e=$(mktemp) || exit 1
if [ -n "$sumcfg" ]; then
  s=$(mktemp) || exit 1
  if printf '%s' "$sumcfg" | base64 -d | curl -K - -o "$s" 2>"$e"; then
    printf 'x_sumfile='; head -c 1048576 "$s" | base64 -w0; echo
  else printf 'x_sumerr='; base64 -w0 < "$e"; echo; fi
  rm -f -- "$s"
fi
if [ -n "$cfg" ]; then
  f={dest_q}
  if [ -d "$f" ]; then f="$f"/{base_q}; fi
  if [ -d "$(dirname -- "$f")" ]; then
    dl="$(dirname -- "$f")/.opsctl-get_url.$$"
    if code=$(printf '%s' "$cfg" | base64 -d | curl -K - -o "$dl" -w '%{{http_code}}' 2>"$e"); then
      echo "x_code=$code"
      for a in sha1 sha256 {algo}; do h=$("${{a}}sum" < "$dl") && echo "x_dl_$a=${{h%% *}}"; done
      h=$(sha256sum < "$dl"); h=${{h%% *}}
      o=; [ -f "$f" ] && o=$(sha256sum < "$f") && o=${{o%% *}}
      if [ "$h" = "$o" ] || [ {keep} != 1 ]; then rm -f -- "$dl"
      else printf 'x_dl='; printf '%s' "$dl" | base64 -w0; echo; fi
    else
      printf 'x_dlerr='; base64 -w0 < "$e"; echo; rm -f -- "$dl"
    fi
  fi
fi
rm -f -- "$e"
"#,
        shown = one_line(dest),
        dest_q = q(dest),
        base_q = q(base.unwrap_or("")),
        keep = if keep { 1 } else { 0 },
    )
}

/// The download of get_url's second exec: into `dl`, checked against the
/// checksum, removed on exit whatever happens (util's script then copies it).
fn get_url_download_prelude(dl: &str, url: &str, sum: Option<(&str, &str)>) -> String {
    let check = match sum {
        Some((algo, hex)) => format!(
            "h=$({algo}sum < \"$dl\") || exit 3\nif [ \"${{h%% *}}\" != {hex} ]; then echo \"x_mismatch=${{h%% *}}\"; exit 3; fi\n",
        ),
        None => String::new(),
    };
    format!(
        r#"# opsctl get_url: download {url_shown}
IFS= read -r cfg; IFS= read -r sumcfg
dl={dl_q}
trap 'rm -f -- "$dl"' EXIT
command -v curl >/dev/null 2>&1 || {{ echo x_nocurl=1; exit 3; }}
code=$(printf '%s' "$cfg" | base64 -d | curl -K - -o "$dl" -w '%{{http_code}}') || {{ echo x_dlfail=1; exit 3; }}
echo "x_code=$code"
{check}"#,
        url_shown = redact_url(url),
        dl_q = q(dl),
    )
}

/// Runs util's probe/apply script after a prelude, with the curl configs as
/// the first two lines of stdin.
async fn run_with_prelude(
    env: &HostEnv<'_>,
    prelude: &str,
    cfg: &str,
    sumcfg: &str,
    ops: &[Op],
) -> Result<(util::Run, crate::transport::Output), Fail> {
    let script = format!("{prelude}opsctl_validate() {{ :; }}\n{}", util::SCRIPT);
    let mut stdin = format!("{cfg}\n{sumcfg}\n").into_bytes();
    stdin.extend(util::manifest(ops));
    let out = env.run_stdin(&script, Some(stdin)).await?;
    Ok((util::parse_output(&out.stdout), out))
}

fn nonce() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), t & 0xffff_ffff)
}

async fn get_url(args: &Args, env: &HostEnv<'_>) -> Result<Outcome, Fail> {
    let url = args.str("url").unwrap_or_default().trim().to_string();
    let dest = args.str("dest").unwrap_or_default().to_string();
    let force = args.bool_or("force", false);
    let attrs = Attrs::from_args(args)?;
    let checksum = match args.str("checksum").filter(|s| !s.trim().is_empty()) {
        Some(c) => Some(Checksum::parse(c).map_err(|e| Fail::Module(super::ModuleError::Args(e)))?),
        None => None,
    };
    let curl = Curl::from_args(args, &url, 10)?;
    let base = url_basename(&url);
    let algo = checksum
        .as_ref()
        .map(|c| c.algo().to_string())
        .unwrap_or("sha256".into());
    let mut sums = vec!["sha1", "sha256"];
    if !sums.contains(&algo.as_str()) {
        sums.push(&algo);
    }
    let mut reqs = vec![Op::Probe(Req::new(&dest).follow(true).sums(&sums))];
    if let Some(b) = &base {
        reqs.push(Op::Probe(
            Req::new(util::join(&dest, b)).follow(true).sums(&sums),
        ));
    }
    let sum_url = match &checksum {
        Some(Checksum::Url { url, .. }) => {
            let mut c = curl.clone();
            c.url = url.clone();
            check_url(url)?;
            c.line()
        }
        _ => String::new(),
    };
    // force: download now (the decision needs the content's checksum).
    let probe_dl = force && !matches!(checksum, Some(Checksum::Hex { .. }));
    let prelude = get_url_probe_prelude(&dest, base.as_deref(), &algo, !env.check);
    let cfg = if probe_dl { curl.line() } else { String::new() };
    let (run, out) = run_with_prelude(env, &prelude, &cfg, &sum_url, &reqs).await?;
    if run.extra("nocurl").is_some() {
        return util::fail("curl is not installed on the host: install it first (apt: name=curl)");
    }
    if !out.success() {
        return util::fail(format!(
            "could not inspect {dest}: {}",
            last_line(&out.stderr_str())
        ));
    }
    let Some(first) = run.items.first() else {
        return util::fail(format!("could not inspect {dest}"));
    };
    let st = if first.kind == FType::Directory {
        match run.items.get(1) {
            Some(s) => s.clone(),
            None => {
                return util::fail(format!(
                    "{dest} is a directory and the url has no file name: give dest as a file path"
                ));
            }
        }
    } else {
        first.clone()
    };
    let path = st.path.clone();
    if let Some(e) = run.extra("dlerr") {
        return util::fail(format!(
            "Request failed for {}: {}",
            redact_url(&url),
            last_line(&unb64s(e))
        ));
    }
    // The checksum to match.
    let want_sum = match &checksum {
        Some(Checksum::Hex { hex, .. }) => Some(hex.clone()),
        Some(Checksum::Url { url: su, algo }) => {
            if let Some(e) = run.extra("sumerr") {
                return util::fail(format!(
                    "could not fetch the checksum file {su}: {}",
                    last_line(&unb64s(e))
                ));
            }
            let text = run.extra("sumfile").map(unb64s).unwrap_or_default();
            let name = basename_or(&path);
            match checksum_from_file(&text, base.as_deref().unwrap_or(&name), algo) {
                Some(h) => Some(h),
                None => {
                    return util::fail(format!(
                        "no {algo} checksum for {} in {su}",
                        base.as_deref().unwrap_or(&name)
                    ));
                }
            }
        }
        None => None,
    };
    let downloaded = run.extra("dl").map(unb64s);
    let dl_sha256 = run.extra("dl_sha256").map(str::to_string);
    let dl_algo = run.extra(&format!("dl_{algo}")).map(str::to_string);
    if let (Some(w), Some(got)) = (&want_sum, &dl_algo)
        && w != got
    {
        if let Some(d) = &downloaded {
            let _ = env.run(&format!("rm -f -- {}", q(d))).await;
        }
        return util::fail(format!(
            "The checksum for {path} did not match {w}; it was {got}."
        ));
    }
    let exists = st.kind == FType::File;
    let current_sum = st.sums.get(&algo).cloned();
    // Whether the content must be (re)written, and from what.
    let (need_write, known_sha) = if probe_dl {
        match (&dl_sha256, st.sha256()) {
            (Some(n), Some(o)) if exists && n == o => (false, None),
            (Some(n), _) => (true, Some(n.clone())),
            (None, _) => (true, None),
        }
    } else if !exists {
        (true, None)
    } else if let Some(w) = &want_sum {
        (current_sum.as_deref() != Some(w.as_str()), None)
    } else {
        (false, None)
    };
    let host = &run.host;
    let dl_path = downloaded
        .clone()
        .unwrap_or_else(|| format!("{}/.opsctl-get_url.{}", util::parent_of(&path), nonce()));
    let want = FileWant {
        remote: need_write.then_some((dl_path.as_str(), known_sha.as_deref())),
        attrs,
        backup: args.bool_or("backup", false),
        diff: false,
        ..Default::default()
    };
    let d = util::decide_file(&st, host, &want).map_err(Fail::Task)?;
    let mut o = if d.changed {
        Outcome::changed()
    } else {
        Outcome::ok()
    };
    let status = run.extra("code").and_then(|c| c.trim().parse::<i64>().ok());
    if env.diff && d.changed {
        if d.content_changed {
            let before = match st.sha256() {
                Some(s) if exists => format!("sha256: {s}\n"),
                _ => String::new(),
            };
            let after = match (&known_sha, &want_sum) {
                (Some(s), _) => format!("sha256: {s}\n"),
                (None, Some(w)) => format!("{algo}: {w}\n"),
                (None, None) => format!("(downloaded from {url})\n"),
            };
            o.diffs.push(Diff::new(&path, before, after));
        }
        o.diffs.extend(d.attrs.diffs(&path));
    }
    let started = Instant::now();
    let mut fin = st.clone();
    let mut code = status;
    if d.changed && !env.check {
        let mut ops = d.ops.clone();
        ops.push(Op::Probe(Req::new(&path).sums(&["sha1"])));
        let (prelude, cfg) = if d.content_changed && downloaded.is_none() {
            let sum = want_sum.as_deref().map(|h| (algo.as_str(), h));
            (get_url_download_prelude(&dl_path, &url, sum), curl.line())
        } else if let Some(dl) = &downloaded {
            (
                format!(
                    "# opsctl get_url: install {}\nIFS= read -r cfg; IFS= read -r sumcfg\ntrap 'rm -f -- {}' EXIT\n",
                    one_line(&path),
                    q(dl)
                ),
                String::new(),
            )
        } else {
            (
                format!(
                    "# opsctl get_url: attributes of {}\nIFS= read -r cfg; IFS= read -r sumcfg\n",
                    one_line(&path)
                ),
                String::new(),
            )
        };
        let (r, out) = run_with_prelude(env, &prelude, &cfg, "", &ops).await?;
        if !out.success() {
            let err = out.stderr_str();
            if r.extra("nocurl").is_some() {
                return util::fail(
                    "curl is not installed on the host: install it first (apt: name=curl)",
                );
            }
            if r.extra("dlfail").is_some() {
                return util::fail(format!(
                    "Request failed for {}: {}",
                    redact_url(&url),
                    last_line(&err)
                ));
            }
            if let Some(got) = r.extra("mismatch") {
                return util::fail(format!(
                    "The checksum for {path} did not match {}; it was {got}.",
                    want_sum.unwrap_or_default()
                ));
            }
            let step = r.extra("error").unwrap_or("install");
            return util::fail(format!(
                "{step} failed for {path}: {}{}",
                last_line(&err),
                if err.contains("Permission denied") || err.contains("Operation not permitted") {
                    util::become_hint(&r.host)
                } else {
                    String::new()
                }
            ));
        }
        if let Some(c) = r.extra("code").and_then(|c| c.trim().parse::<i64>().ok()) {
            code = Some(c);
        }
        if let Some(b) = r.backup_file() {
            o = o.with("backup_file", b);
        }
        if let Some(after) = r.items.last() {
            fin = after.clone();
        }
    } else if d.changed {
        fin.kind = FType::File;
        fin.mode = d.mode;
    }
    for (k, v) in util::file_fields(&fin) {
        o.data.insert(k, v);
    }
    let msg = if d.content_changed && env.check {
        format!("would download {}", redact_url(&url))
    } else if d.content_changed {
        format!("OK ({} bytes)", fin.size)
    } else if d.changed {
        "file already exists but file attributes changed".into()
    } else {
        "file already exists".into()
    };
    o = o
        .with("url", redact_url(&url))
        .with("dest", path.clone())
        .with("elapsed", started.elapsed().as_secs())
        .with("msg", msg.clone())
        .msg(msg);
    if let Some(c) = code {
        o = o.with("status_code", c);
    }
    if let Some(s) = st.sums.get("sha1").filter(|_| exists) {
        o = o.with("checksum_dest", s.clone());
    }
    let src_sum = if d.content_changed && !env.check {
        fin.sums.get("sha1").cloned()
    } else if d.content_changed {
        run.extra("dl_sha1").map(str::to_string)
    } else {
        st.sums.get("sha1").cloned()
    };
    if let Some(s) = src_sum {
        o = o.with("checksum_src", s);
    }
    Ok(o)
}

fn basename_or(path: &str) -> String {
    util::basename(path)
}

// ---------------------------------------------------------------------------
// uri

pub static URI: Spec = Spec {
    read_only: true,
    ..Spec::new(
        "uri",
        &[
            ArgSpec::new("url", Kind::Str).required(),
            ArgSpec::new("method", Kind::Str),
            ArgSpec::new("body", Kind::Any),
            ArgSpec::new(
                "body_format",
                Kind::Choice(&["raw", "json", "form-urlencoded"]),
            ),
            ArgSpec::new("headers", Kind::Any),
            ArgSpec::new("status_code", Kind::List),
            ArgSpec::new("return_content", Kind::Bool),
            ArgSpec::new("timeout", Kind::Int),
            ArgSpec::new("validate_certs", Kind::Bool),
            ArgSpec::new(
                "follow_redirects",
                Kind::Choice(&["all", "safe", "none", "urllib2", "yes", "no"]),
            ),
            ArgSpec::new("url_username", Kind::Str).aliases(&["user"]),
            ArgSpec::new("url_password", Kind::Str).aliases(&["password"]),
            ArgSpec::new("force_basic_auth", Kind::Bool),
            ArgSpec::new("http_agent", Kind::Str),
            ArgSpec::new("use_proxy", Kind::Bool),
            ArgSpec::new("unix_socket", Kind::Str),
            ArgSpec::new("creates", Kind::Str),
            ArgSpec::new("removes", Kind::Str),
        ],
    )
};

pub fn run_uri<'a>(args: &'a Args, env: &'a HostEnv<'a>) -> Fut<'a> {
    Box::pin(async move { util::finish(uri(args, env).await) })
}

/// A request body and its default content type.
pub type Body = (Vec<u8>, Option<&'static str>);

/// The request body and its default content type.
pub fn uri_body(body: Option<&Json>, format: &str) -> Result<Option<Body>, String> {
    let Some(body) = body else { return Ok(None) };
    Ok(Some(match format {
        "json" => match body {
            Json::String(s) => (s.as_bytes().to_vec(), Some("application/json")),
            other => (other.to_string().into_bytes(), Some("application/json")),
        },
        "form-urlencoded" => match body {
            Json::Object(m) => {
                let pairs: Vec<String> = m
                    .iter()
                    .map(|(k, v)| {
                        let v = v
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string());
                        format!("{}={}", percent_encode(k), percent_encode(&v))
                    })
                    .collect();
                (
                    pairs.join("&").into_bytes(),
                    Some("application/x-www-form-urlencoded"),
                )
            }
            Json::Array(a) => {
                let mut pairs = Vec::new();
                for p in a {
                    match p.as_array().map(Vec::as_slice) {
                        Some([k, v]) => {
                            let s = |j: &Json| {
                                j.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| j.to_string())
                            };
                            pairs.push(format!(
                                "{}={}",
                                percent_encode(&s(k)),
                                percent_encode(&s(v))
                            ));
                        }
                        _ => {
                            return Err(
                                "body: a form-urlencoded list must hold [key, value] pairs".into(),
                            );
                        }
                    }
                }
                (
                    pairs.join("&").into_bytes(),
                    Some("application/x-www-form-urlencoded"),
                )
            }
            Json::String(s) => (
                s.as_bytes().to_vec(),
                Some("application/x-www-form-urlencoded"),
            ),
            other => return Err(format!("body: cannot form-urlencode {other}")),
        },
        _ => match body {
            Json::String(s) => (s.as_bytes().to_vec(), None),
            other => (other.to_string().into_bytes(), None),
        },
    }))
}

/// The headers of the last response in a `curl -D` dump (after redirects).
pub fn parse_response_headers(dump: &str) -> (String, Vec<(String, String)>) {
    let mut status_line = String::new();
    let mut headers = Vec::new();
    for line in dump.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("HTTP/") {
            status_line = line.to_string();
            headers.clear();
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (status_line, headers)
}

/// Ansible's `msg` of a response: `OK (N bytes)` or the reason phrase.
fn reason(status_line: &str) -> String {
    let mut parts = status_line.splitn(3, ' ');
    parts.next();
    parts.next();
    parts.next().unwrap_or("").trim().to_string()
}

async fn uri(args: &Args, env: &HostEnv<'_>) -> Result<Outcome, Fail> {
    let url = args.str("url").unwrap_or_default().trim().to_string();
    let method = args.str("method").unwrap_or("GET").trim().to_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return util::bad_args(format!("method '{method}' is not an HTTP method"));
    }
    let read_only = matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
    let mut curl = Curl::from_args(args, &url, 30)?;
    curl.fail = false;
    curl.method = Some(method.clone());
    curl.unix_socket = args.string("unix_socket");
    curl.follow = match args.str("follow_redirects").unwrap_or("safe") {
        "all" | "yes" | "urllib2" => true,
        "safe" => read_only,
        _ => false,
    };
    let format = args.str("body_format").unwrap_or("raw");
    let body = uri_body(args.get("body"), format)
        .map_err(|e| Fail::Module(super::ModuleError::Args(e)))?;
    if let Some((_, Some(ct))) = &body
        && !curl
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        curl.headers.push(("Content-Type".into(), ct.to_string()));
    }
    let statuses: Vec<i64> = {
        let raw = args.strings("status_code");
        if raw.is_empty() {
            vec![200]
        } else {
            let mut v = Vec::new();
            for s in raw {
                match s.trim().parse::<i64>() {
                    Ok(n) => v.push(n),
                    Err(_) => return util::bad_args(format!("status_code: '{s}' is not a number")),
                }
            }
            v
        }
    };
    let return_content = args.bool_or("return_content", false);
    if env.check && !read_only {
        let mut o = Outcome::ok();
        o.skipped = true;
        return Ok(o.msg(format!(
            "not run in check mode: a {method} request may change things"
        )));
    }
    let mut guard = String::new();
    if let Some(c) = args.str("creates") {
        guard.push_str(&format!(
            "if [ -e {} ]; then echo skip=creates; exit 0; fi\n",
            q(c)
        ));
    }
    if let Some(r) = args.str("removes") {
        guard.push_str(&format!(
            "if [ ! -e {} ]; then echo skip=removes; exit 0; fi\n",
            q(r)
        ));
    }
    let wanted: Vec<String> = statuses.iter().map(i64::to_string).collect();
    let data = if body.is_some() {
        "--data-binary @\"$b\""
    } else {
        ""
    };
    let script = format!(
        r#"# opsctl uri: {method} {url_q}
{guard}command -v curl >/dev/null 2>&1 || {{ echo nocurl=1; exit 0; }}
IFS= read -r cfg
b=$(mktemp) && h=$(mktemp) && o=$(mktemp) && e=$(mktemp) || exit 1
trap 'rm -f -- "$b" "$h" "$o" "$e"' EXIT
cat > "$b"
w=$(printf '%s' "$cfg" | base64 -d | curl -K - {data} -D "$h" -o "$o" -w '%{{http_code}} %{{time_total}} %{{num_redirects}} %{{url_effective}}' 2>"$e")
echo "rc=$?"
echo "w=$w"
printf 'err='; base64 -w0 < "$e"; echo
printf 'headers='; head -c 262144 "$h" | base64 -w0; echo
echo "size=$(wc -c < "$o")"
set -- $w
case " {wanted} " in *" $1 "*) show={show} ;; *) show=1 ;; esac
if [ "$show" = 1 ]; then printf 'content='; head -c 67108864 "$o" | base64 -w0; echo; fi
"#,
        url_q = redact_url(&url),
        wanted = wanted.join(" "),
        show = if return_content { 1 } else { 0 },
    );
    let mut stdin = format!("{}\n", curl.line()).into_bytes();
    if let Some((b, _)) = &body {
        stdin.extend_from_slice(b);
    }
    let out = env.run_stdin(&script, Some(stdin)).await?;
    let m = kv(&out.stdout);
    if m.contains_key("nocurl") {
        return util::fail("curl is not installed on the host: install it first (apt: name=curl)");
    }
    if let Some(why) = m.get("skip") {
        let p = if why == "creates" {
            args.str("creates")
        } else {
            args.str("removes")
        };
        let mut o = Outcome::ok();
        o.skipped = true;
        let msg = if why == "creates" {
            format!("skipped, since {} exists", p.unwrap_or_default())
        } else {
            format!("skipped, since {} does not exist", p.unwrap_or_default())
        };
        return Ok(o.msg(msg));
    }
    if !out.success() || !m.contains_key("rc") {
        return util::fail(format!(
            "uri: the request could not run: {}",
            last_line(&out.stderr_str())
        ));
    }
    let w = m.get("w").cloned().unwrap_or_default();
    let mut wp = w.splitn(4, ' ');
    let code: i64 = wp.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let elapsed: f64 = wp.next().and_then(|c| c.parse().ok()).unwrap_or(0.0);
    let redirects: i64 = wp.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let final_url = wp
        .next()
        .map(str::to_string)
        .filter(|s| !s.is_empty())
        .unwrap_or(url.clone());
    let curl_rc = m
        .get("rc")
        .and_then(|r| r.trim().parse::<i64>().ok())
        .unwrap_or(-1);
    let err = m.get("err").map(|s| unb64s(s)).unwrap_or_default();
    let (status_line, headers) =
        parse_response_headers(&m.get("headers").map(|s| unb64s(s)).unwrap_or_default());
    let status = if curl_rc != 0 || code == 0 { -1 } else { code };
    let mut o = Outcome::ok()
        .with("status", status)
        .with("url", redact_url(&final_url))
        .with("elapsed", elapsed.round() as i64)
        .with("redirected", redirects > 0)
        .with("changed", false);
    let mut ct = String::new();
    for (k, v) in &headers {
        let key = k.to_lowercase().replace('-', "_");
        if key == "content_type" {
            ct = v.to_lowercase();
        }
        o.data.insert(key, Json::String(v.clone()));
    }
    let size = m
        .get("size")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let content = m.get("content").map(|c| unb64(c));
    if let Some(c) = &content {
        let text = String::from_utf8_lossy(c).into_owned();
        if ct.contains("json")
            && let Ok(j) = serde_json::from_str::<Json>(&text)
        {
            o.data.insert("json".into(), j);
        }
        if return_content {
            o.data.insert("content".into(), Json::String(text));
        }
    }
    let wanted_txt = format!("[{}]", wanted.join(", "));
    let msg = if status == -1 {
        format!(
            "Status code was -1 and not {wanted_txt}: Request failed: {}",
            last_line(&err)
        )
    } else if statuses.contains(&status) {
        format!("OK ({size} bytes)")
    } else {
        let r = reason(&status_line);
        format!("Status code was {status} and not {wanted_txt}: HTTP Error {status}: {r}")
    };
    o.data.insert("msg".into(), Json::String(msg.clone()));
    if !statuses.contains(&status) {
        o.failed = true;
        o.msg = Some(msg);
    }
    Ok(o)
}

// ---------------------------------------------------------------------------
// wait_for

pub static WAIT_FOR: Spec = Spec {
    read_only: true,
    mutually_exclusive: &[&["port", "path"]],
    ..Spec::new(
        "wait_for",
        &[
            ArgSpec::new("host", Kind::Str),
            ArgSpec::new("port", Kind::Int),
            ArgSpec::new("path", Kind::Str),
            ArgSpec::new(
                "state",
                Kind::Choice(&["started", "stopped", "present", "absent", "drained"]),
            ),
            ArgSpec::new("timeout", Kind::Int),
            ArgSpec::new("connect_timeout", Kind::Int),
            ArgSpec::new("delay", Kind::Int),
            ArgSpec::new("sleep", Kind::Int),
            ArgSpec::new("search_regex", Kind::Str),
            ArgSpec::new("exclude_hosts", Kind::List),
            ArgSpec::new("active_connection_states", Kind::List),
            ArgSpec::new("msg", Kind::Str),
        ],
    )
};

pub fn run_wait_for<'a>(args: &'a Args, env: &'a HostEnv<'a>) -> Fut<'a> {
    Box::pin(async move { util::finish(wait_for(args, env).await) })
}

/// What to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    Sleep,
    PortOpen {
        host: String,
        port: u16,
        regex: Option<String>,
    },
    PortClosed {
        host: String,
        port: u16,
    },
    Drained {
        port: u16,
        states: Vec<String>,
        exclude: Vec<String>,
    },
    PathPresent {
        path: String,
        regex: Option<String>,
    },
    PathAbsent {
        path: String,
    },
}

impl Wait {
    pub fn from_args(args: &Args) -> Result<Wait, String> {
        let state = args.str("state").unwrap_or("started");
        let host = args.str("host").unwrap_or("127.0.0.1").to_string();
        let regex = args.string("search_regex");
        if let Some(port) = args.int("port") {
            let port = u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("port must be between 1 and 65535, got {port}"))?;
            return Ok(match state {
                "started" | "present" => Wait::PortOpen { host, port, regex },
                "stopped" | "absent" => Wait::PortClosed { host, port },
                _ => {
                    let states = args.strings("active_connection_states");
                    Wait::Drained {
                        port,
                        states: if states.is_empty() {
                            [
                                "ESTABLISHED",
                                "FIN_WAIT1",
                                "FIN_WAIT2",
                                "SYN_RECV",
                                "SYN_SENT",
                                "TIME_WAIT",
                            ]
                            .iter()
                            .map(|s| s.to_string())
                            .collect()
                        } else {
                            states.iter().map(|s| s.to_uppercase()).collect()
                        },
                        exclude: args.strings("exclude_hosts"),
                    }
                }
            });
        }
        if let Some(path) = args.string("path") {
            return match state {
                "started" | "present" => Ok(Wait::PathPresent { path, regex }),
                "stopped" | "absent" => Ok(Wait::PathAbsent { path }),
                _ => Err("state=drained needs a port".into()),
            };
        }
        if regex.is_some() {
            return Err("search_regex needs a port or a path".into());
        }
        Ok(Wait::Sleep)
    }

    /// Ansible's message on timeout.
    pub fn timeout_msg(&self) -> String {
        match self {
            Wait::Sleep => "Timeout".into(),
            Wait::PortOpen {
                host,
                port,
                regex: None,
            } => format!("Timeout when waiting for {host}:{port}"),
            Wait::PortOpen {
                host,
                port,
                regex: Some(r),
            } => {
                format!("Timeout when waiting for search string {r} in {host}:{port}")
            }
            Wait::PortClosed { host, port } => {
                format!("Timeout when waiting for {host}:{port} to stop.")
            }
            Wait::Drained { port, .. } => format!("Timeout when waiting for port {port} to drain"),
            Wait::PathPresent { path, regex: None } => {
                format!("Timeout when waiting for file {path}")
            }
            Wait::PathPresent {
                path,
                regex: Some(r),
            } => {
                format!("Timeout when waiting for search string {r} in {path}")
            }
            Wait::PathAbsent { path } => format!("Timeout when waiting for {path} to be absent."),
        }
    }
}

/// The check, a shell function `ready` returning 0 when the condition holds.
/// Ports: `nc -z` when nc exists, else bash's `/dev/tcp` (with `timeout`),
/// else curl's `telnet://`.
pub fn wait_check(w: &Wait, connect_timeout: u64) -> String {
    let port_fn = format!(
        r#"ct={connect_timeout}
grepx() {{ if echo x | grep -qP x 2>/dev/null; then grep -P "$@"; else grep -E "$@"; fi; }}
port_open() {{
  if command -v nc >/dev/null 2>&1; then nc -z -w "$ct" "$1" "$2" </dev/null >/dev/null 2>&1
  elif command -v bash >/dev/null 2>&1; then timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" >/dev/null 2>&1
  else c=$(curl -s -o /dev/null --connect-timeout "$ct" --max-time "$ct" -w '%{{time_connect}}' "telnet://$1:$2" </dev/null 2>/dev/null); [ -n "$c" ] && [ "$c" != 0 ] && [ "$c" != 0.000000 ]; fi
}}
port_read() {{
  if command -v nc >/dev/null 2>&1; then nc -w "$ct" "$1" "$2" </dev/null 2>/dev/null
  else timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$0/$1"; cat <&3' "$1" "$2" 2>/dev/null; fi
}}
"#
    );
    match w {
        Wait::Sleep => "ready() { return 1; }\n".into(),
        Wait::PortOpen {
            host,
            port,
            regex: None,
        } => {
            format!("{port_fn}ready() {{ port_open {} {port}; }}\n", q(host))
        }
        Wait::PortOpen {
            host,
            port,
            regex: Some(r),
        } => format!(
            "{port_fn}ready() {{ m=$(port_read {} {port} | head -c 1048576 | grepx -a -m1 -- {}) || return 1; printf 'line='; printf '%s' \"$m\" | base64 -w0; echo; }}\n",
            q(host),
            q(r)
        ),
        Wait::PortClosed { host, port } => {
            format!("{port_fn}ready() {{ ! port_open {} {port}; }}\n", q(host))
        }
        Wait::Drained {
            port,
            states,
            exclude,
        } => {
            let ss_states: Vec<String> = states
                .iter()
                .map(|s| {
                    match s.as_str() {
                        "ESTABLISHED" => "ESTAB",
                        "FIN_WAIT1" => "FIN-WAIT-1",
                        "FIN_WAIT2" => "FIN-WAIT-2",
                        "SYN_RECV" => "SYN-RECV",
                        "SYN_SENT" => "SYN-SENT",
                        "TIME_WAIT" => "TIME-WAIT",
                        "CLOSE_WAIT" => "CLOSE-WAIT",
                        "LAST_ACK" => "LAST-ACK",
                        "CLOSING" => "CLOSING",
                        other => other,
                    }
                    .to_string()
                })
                .collect();
            format!(
                r#"command -v ss >/dev/null 2>&1 || {{ echo noss=1; exit 0; }}
ready() {{
  n=$(ss -Htan | awk -v p={port} -v st={st} -v ex={ex} '
    BEGIN {{ ns = split(st, S, " "); ne = split(ex, E, " ") }}
    {{ ok = 0; for (i = 1; i <= ns; i++) if ($1 == S[i]) ok = 1
      lp = $4; sub(/.*:/, "", lp); if (lp != p) ok = 0
      peer = $5; sub(/:[^:]*$/, "", peer); gsub(/[][]/, "", peer); sub(/^::ffff:/, "", peer)
      for (i = 1; i <= ne; i++) if (peer == E[i]) ok = 0
      if (ok) c++ }}
    END {{ print c + 0 }}')
  [ "$n" = 0 ]
}}
"#,
                st = q(&ss_states.join(" ")),
                ex = q(&exclude.join(" ")),
            )
        }
        Wait::PathPresent { path, regex: None } => format!("ready() {{ [ -e {} ]; }}\n", q(path)),
        Wait::PathPresent {
            path,
            regex: Some(r),
        } => format!(
            "grepx() {{ if echo x | grep -qP x 2>/dev/null; then grep -P \"$@\"; else grep -E \"$@\"; fi; }}\nready() {{ [ -f {p} ] || return 1; m=$(grepx -a -m1 -- {r} {p}) || return 1; printf 'line='; printf '%s' \"$m\" | base64 -w0; echo; }}\n",
            p = q(path),
            r = q(r)
        ),
        Wait::PathAbsent { path } => {
            format!("ready() {{ [ ! -e {} ] && [ ! -L {0} ]; }}\n", q(path))
        }
    }
}

/// The whole bounded loop.
pub fn wait_script(w: &Wait, timeout: u64, delay: u64, sleep: u64, connect_timeout: u64) -> String {
    format!(
        r#"# opsctl wait_for: {what}
{check}start=$(date +%s)
sleep {delay}
end=$(( start + {delay} + {timeout} ))
while :; do
  if ready; then echo ok=1; echo "elapsed=$(( $(date +%s) - start ))"; exit 0; fi
  now=$(date +%s)
  if [ "$now" -ge "$end" ]; then echo ok=0; echo "elapsed=$(( now - start ))"; exit 0; fi
  sleep {sleep}
done
"#,
        what = one_line(&w.timeout_msg().replace("Timeout when waiting for ", "")),
        check = wait_check(w, connect_timeout),
    )
}

async fn wait_for(args: &Args, env: &HostEnv<'_>) -> Result<Outcome, Fail> {
    let w = Wait::from_args(args).map_err(|e| Fail::Module(super::ModuleError::Args(e)))?;
    let timeout = timeout_arg(args, "timeout", 300)?;
    let delay = timeout_arg(args, "delay", 0)?;
    let sleep = timeout_arg(args, "sleep", 1)?.max(1);
    let ct = timeout_arg(args, "connect_timeout", 5)?.max(1);
    if let Wait::PortOpen { regex: Some(r), .. } | Wait::PathPresent { regex: Some(r), .. } = &w {
        util::py_regex("search_regex", r, true)?;
    }
    let out = env.run(&wait_script(&w, timeout, delay, sleep, ct)).await?;
    let m = kv(&out.stdout);
    if m.contains_key("noss") {
        return util::fail("state=drained needs `ss` (iproute2) on the host");
    }
    let elapsed: i64 = m
        .get("elapsed")
        .and_then(|e| e.trim().parse().ok())
        .unwrap_or(0);
    let mut o = Outcome::ok().with("elapsed", elapsed);
    match &w {
        Wait::PortOpen { port, .. }
        | Wait::PortClosed { port, .. }
        | Wait::Drained { port, .. } => {
            o = o
                .with("port", *port)
                .with("state", args.str("state").unwrap_or("started"));
        }
        Wait::PathPresent { path, .. } | Wait::PathAbsent { path } => {
            o = o
                .with("path", path.clone())
                .with("state", args.str("state").unwrap_or("started"));
        }
        Wait::Sleep => {}
    }
    if let Wait::PortOpen { regex: Some(r), .. } | Wait::PathPresent { regex: Some(r), .. } = &w {
        o = o.with("search_regex", r.clone());
        if let Some(line) = m.get("line").map(|l| unb64s(l)) {
            let re = util::py_regex("search_regex", r, true)?;
            let mut groups = Vec::new();
            let mut dict = Map::new();
            if let Some(mm) = re.search(&line) {
                for i in 1..=re.group_count() {
                    groups.push(mm.group(i).map(|g| json!(g)).unwrap_or(Json::Null));
                }
                for (name, idx) in group_names(r)
                    .into_iter()
                    .filter_map(|n| re.group_index(&n).map(|i| (n, i)))
                {
                    dict.insert(name, mm.group(idx).map(|g| json!(g)).unwrap_or(Json::Null));
                }
            }
            o = o
                .with("match_groups", Json::Array(groups))
                .with("match_groupdict", Json::Object(dict));
        }
    }
    match m.get("ok").map(String::as_str) {
        Some("1") => Ok(o),
        Some(_) if w == Wait::Sleep => Ok(o),
        Some(_) => {
            o.failed = true;
            o.msg = Some(args.string("msg").unwrap_or_else(|| w.timeout_msg()));
            Ok(o)
        }
        None => util::fail(format!(
            "wait_for could not run: {}",
            last_line(&out.stderr_str())
        )),
    }
}

/// `(?P<name>` group names of a pattern.
fn group_names(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(i) = rest.find("(?P<") {
        rest = &rest[i + 4..];
        if let Some(j) = rest.find('>') {
            out.push(rest[..j].to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_and_lines() {
        let m = kv(b"a=1\nb=x=y\nnoise\na=2\n");
        assert_eq!(m.get("a").map(String::as_str), Some("2"));
        assert_eq!(m.get("b").map(String::as_str), Some("x=y"));
        assert_eq!(last_line("one\ntwo\n\n"), "two");
        assert_eq!(unb64s(&util::b64(b"hi")), "hi");
    }

    #[test]
    fn curl_configs_escape_values() {
        let mut c = Curl::new("https://example.test/a b");
        c.headers = vec![("Authorization".into(), "Bearer \"x\\y".into())];
        c.user = Some(("u".into(), "p:w".into()));
        c.method = Some("POST".into());
        let cfg = c.config();
        assert!(
            cfg.contains("url = \"https://example.test/a b\"\n"),
            "{cfg}"
        );
        assert!(
            cfg.contains("header = \"Authorization: Bearer \\\"x\\\\y\"\n"),
            "{cfg}"
        );
        assert!(
            cfg.contains("user = \"u:p:w\"\n")
                && cfg.contains("request = \"POST\"\n")
                && cfg.contains("fail\n")
        );
        c.method = Some("HEAD".into());
        assert!(c.config().contains("\nhead\n"));
    }

    #[test]
    fn urls_in_messages_hide_passwords() {
        assert_eq!(
            redact_url("https://bob:s3cret@x.test/a?b=c@d"),
            "https://bob:***@x.test/a?b=c@d"
        );
        assert_eq!(redact_url("https://x.test/a@b"), "https://x.test/a@b");
        assert_eq!(redact_url("file:///srv/x"), "file:///srv/x");
        assert_eq!(one_line("/srv/a\nrm -rf /"), "/srv/a?rm -rf /");
    }

    #[test]
    fn url_names() {
        assert_eq!(
            url_basename("https://x.test/a/b.tar.gz?x=1").as_deref(),
            Some("b.tar.gz")
        );
        assert_eq!(
            url_basename("file:///srv/f%20g.txt").as_deref(),
            Some("f g.txt")
        );
        assert_eq!(url_basename("https://x.test/"), None);
        assert_eq!(url_basename("https://x.test"), None);
        assert!(check_url("ftp://x/y").is_ok());
        assert!(check_url("x.test/y").is_err());
        assert!(check_url("scp://x/y").is_err());
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

    #[test]
    fn uri_bodies() {
        let (b, ct) = uri_body(Some(&json!({"a": 1})), "json").unwrap().unwrap();
        assert_eq!((b, ct), (br#"{"a":1}"#.to_vec(), Some("application/json")));
        let (b, _) = uri_body(Some(&json!({"name": "a b&c", "n": 2})), "form-urlencoded")
            .unwrap()
            .unwrap();
        assert_eq!(String::from_utf8(b).unwrap(), "name=a+b%26c&n=2");
        let (b, ct) = uri_body(Some(&json!("raw text")), "raw").unwrap().unwrap();
        assert_eq!((b, ct), (b"raw text".to_vec(), None));
        assert!(uri_body(None, "json").unwrap().is_none());
        assert!(uri_body(Some(&json!(3)), "form-urlencoded").is_err());
    }

    #[test]
    fn response_headers_of_the_last_response() {
        let dump = "HTTP/1.1 301 Moved\r\nLocation: /b\r\n\r\nHTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\nX-A: 1\r\n\r\n";
        let (line, h) = parse_response_headers(dump);
        assert_eq!(reason(&line), "Not Found");
        assert_eq!(
            h,
            vec![
                ("Content-Type".into(), "text/html".into()),
                ("X-A".into(), "1".into())
            ]
        );
    }

    #[test]
    fn wait_kinds_and_messages() {
        let spec = &WAIT_FOR;
        let args = |v: Json| spec.validate(v.as_object().unwrap(), true).unwrap();
        let w = Wait::from_args(&args(json!({"port": 8080}))).unwrap();
        assert_eq!(
            w,
            Wait::PortOpen {
                host: "127.0.0.1".into(),
                port: 8080,
                regex: None
            }
        );
        assert_eq!(w.timeout_msg(), "Timeout when waiting for 127.0.0.1:8080");
        let w = Wait::from_args(&args(json!({"path": "/x", "state": "absent"}))).unwrap();
        assert_eq!(w.timeout_msg(), "Timeout when waiting for /x to be absent.");
        assert!(Wait::from_args(&args(json!({"port": 70000}))).is_err());
        assert!(Wait::from_args(&args(json!({"path": "/x", "state": "drained"}))).is_err());
        assert_eq!(
            Wait::from_args(&args(json!({"timeout": 1}))).unwrap(),
            Wait::Sleep
        );
        let w = Wait::from_args(&args(
            json!({"port": 80, "state": "drained", "exclude_hosts": "10.0.0.1"}),
        ))
        .unwrap();
        let s = wait_script(&w, 5, 0, 1, 5);
        assert!(s.contains("ESTAB") && s.contains("10.0.0.1"), "{s}");
        assert_eq!(group_names("(?P<a>x)(y)(?P<bc>z)"), vec!["a", "bc"]);
    }

    #[tokio::test]
    async fn wait_for_runs_a_bounded_loop() {
        use crate::modules::util::testkit::kit;
        let k = kit().await;
        k.write("ready.txt", "status: up 42\n");
        let (o, n) = k
            .run(
                &WAIT_FOR,
                run_wait_for,
                json!({"path": k.p("ready.txt"), "search_regex": "up (?P<n>\\d+)", "timeout": 2}),
                true,
                false,
            )
            .await;
        assert_eq!(n, 1);
        assert!(!o.failed && !o.changed, "{o:?}");
        assert_eq!(o.data["match_groups"], json!(["42"]));
        assert_eq!(o.data["match_groupdict"], json!({"n": "42"}));
        let (o, _) = k
            .run(
                &WAIT_FOR,
                run_wait_for,
                json!({"path": k.p("nope"), "timeout": 1}),
                false,
                false,
            )
            .await;
        assert!(o.failed, "{o:?}");
        assert_eq!(
            o.msg.as_deref(),
            Some(format!("Timeout when waiting for file {}", k.p("nope")).as_str())
        );
        // a port nobody listens on is closed
        let (o, _) = k
            .run(
                &WAIT_FOR,
                run_wait_for,
                json!({"port": 1, "state": "stopped", "timeout": 2}),
                false,
                false,
            )
            .await;
        assert!(!o.failed, "{o:?}");
    }
}
