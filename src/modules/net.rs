//! Helpers the modules that talk to the network or parse key=value output
//! share: `key=value` lines of a probe's output ([`kv`]), base64
//! ([`unb64`], [`unb64s`]), a command's last line, URLs (checked, redacted
//! for display, their basename, percent-encoding) and `curl`'s config
//! ([`Curl`]).
//!
//! Requests are made ON THE HOST with `curl` (http, https, ftp and file://
//! URLs), never from the controller. curl's options travel as a config file
//! on stdin (`curl -K -`), so headers and passwords never appear in a command
//! line, a process list or opsctl's `-v` trace. The modules themselves are
//! `get_url`, `uri`, `wait_for` (and `unarchive`, `apt_repository`... for a
//! remote `src`), each in its own file.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value as Json;

use super::Args;
use super::fail::{self, Fail};

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
            Some(t) => return fail::bad_args(format!("timeout must be positive, got {t}")),
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
        return fail::bad_args(format!(
            "url '{url}' is not supported: use an http://, https://, ftp:// or file:// URL"
        ));
    }
    if url.contains(['\n', '\r']) {
        return fail::bad_args("url must be one line");
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
                    return fail::bad_args(format!("headers: '{h}' is not 'Name: value'"));
                };
                out.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Some(other) => return fail::bad_args(format!("headers must be a mapping, got {other}")),
    }
    for (k, v) in &out {
        if k.is_empty() || k.contains([':', '\n', '\r']) || v.contains(['\n', '\r']) {
            return fail::bad_args(format!("headers: invalid header name or value for '{k}'"));
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

pub(crate) fn percent_encode(s: &str) -> String {
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

pub(crate) fn timeout_arg(args: &Args, name: &str, default: i64) -> Result<u64, Fail> {
    match args.int(name).unwrap_or(default) {
        t if t >= 0 => Ok(t as u64),
        t => fail::bad_args(format!("{name} must not be negative, got {t}")),
    }
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
        assert_eq!(unb64s(&super::super::content::b64(b"hi")), "hi");
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
}
