//! get_url: a file downloaded ON THE HOST with `curl` (http, https, ftp and
//! file:// URLs; see `net` for the curl config on stdin). One exec probes the
//! destination (sha256, attributes) and, with `force: yes` or a checksum URL,
//! downloads what is needed to decide; one more exec downloads (if not done
//! yet) and installs the file atomically with its mode and owner. No request
//! at all when `dest` exists and `force` is off, or when it matches `checksum`.

use std::time::Instant;

use super::net::{Curl, check_url, last_line, one_line, redact_url, unb64s, url_basename};
use super::util::{self, Attrs, FType, Fail, FileWant, Fut, Op, Req};
use super::{ArgSpec, Args, Diff, HostEnv, Kind, Outcome, Spec};
use crate::transport::shell_quote as q;

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

#[cfg(test)]
mod tests {
    use super::*;

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
