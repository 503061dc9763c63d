//! uri: an HTTP request made ON THE HOST with `curl` (see `net`). Never
//! `changed`; a request other than GET, HEAD or OPTIONS is not sent in check
//! mode.

use super::net::{Curl, kv, last_line, percent_encode, redact_url, unb64, unb64s};
use serde_json::Value as Json;

use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Change, Ctx, Facts, InCheck, Module, Need, Plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote as q;

pub static URI: Spec = Spec::new(
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
);

pub struct Uri;

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

/// The request: (script, stdin, method is read-only, statuses wanted, return_content).
fn request(args: &Args) -> Result<(String, Vec<u8>, bool, Vec<i64>), Fail> {
    let url = args.str("url").unwrap_or_default().trim().to_string();
    let method = args.str("method").unwrap_or("GET").trim().to_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return fail::bad_args(format!("method '{method}' is not an HTTP method"));
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
    let body = uri_body(args.get("body"), format).map_err(Fail::Args)?;
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
                    Err(_) => return fail::bad_args(format!("status_code: '{s}' is not a number")),
                }
            }
            v
        }
    };
    let return_content = args.bool_or("return_content", false);
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
    Ok((script, stdin, read_only, statuses))
}

/// The request is an action: a read-only method runs in check mode too (it
/// changes nothing), any other is skipped there.
impl Module for Uri {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        request(args)?;
        Ok(vec![])
    }

    fn decide(&self, args: &Args, _: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let (script, stdin, read_only, _) = request(args)?;
        let method = args.str("method").unwrap_or("GET").trim().to_uppercase();
        Ok(Plan::Change(Box::new(Change {
            outcome: Outcome::ok(),
            action: Action::Script {
                script,
                stdin: Some(stdin),
            },
            in_check: if read_only {
                InCheck::Apply
            } else {
                InCheck::Skipped(format!(
                    "not run in check mode: a {method} request may change things"
                ))
            },
        })))
    }

    fn applied(&self, args: &Args, _: Outcome, result: Applied, _: &Ctx) -> Result<Outcome, Fail> {
        let Applied::Script(out) = result else {
            return fail::fail("uri: internal error: not a script");
        };
        answered(args, &out)
    }
}

fn answered(args: &Args, out: &crate::transport::Output) -> Result<Outcome, Fail> {
    let (_, _, _, statuses) = request(args)?;
    let url = args.str("url").unwrap_or_default().trim().to_string();
    let return_content = args.bool_or("return_content", false);
    let wanted: Vec<String> = statuses.iter().map(i64::to_string).collect();
    let m = kv(&out.stdout);
    if m.contains_key("nocurl") {
        return fail::fail("curl is not installed on the host: install it first (apt: name=curl)");
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
        return fail::fail(format!(
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
