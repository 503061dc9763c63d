//! unarchive: extract a .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .tar.zst or
//! .zip archive into an existing directory, as Ansible's `unarchive` module.
//!
//! `src` is a file on the controller (the role's `files/`, streamed over
//! stdin), a file on the host (`remote_src: yes`) or a URL (downloaded on the
//! host with curl). Idempotent through `creates`, or else through a stamp:
//! `DEST/.opsctl-unarchive` holds one line per archive name with its sha256
//! and the options used (include, exclude, extra_opts, owner, group, mode).
//! The same archive with the same options is not extracted again: only the
//! probe runs (a URL is downloaded by the probe to learn its checksum, then
//! removed; the change downloads it again and checks the checksum). (Ansible compares every archived file with the tree instead;
//! the stamp does not notice files edited in dest afterwards.)
//! Zip archives need `unzip` on the host; tar archives GNU tar.

use serde_json::{Value as Json, json};

use super::attrs::Attrs;
use super::content;
use super::fail::{self, Fail};
use super::mode::ModeSpec;
use super::net::{Curl, kv, last_line, one_line, unb64s};
use super::protocol::{Action, Applied, Ctx, Facts, Module, Need, Plan as PPlan, SecretProbe};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote as q;

pub static UNARCHIVE: Spec = Spec::new(
    "unarchive",
    &[
        ArgSpec::new("src", Kind::Str).required(),
        ArgSpec::new("dest", Kind::Str).required(),
        ArgSpec::new("remote_src", Kind::Bool),
        ArgSpec::new("copy", Kind::Bool),
        ArgSpec::new("creates", Kind::Str),
        ArgSpec::new("extra_opts", Kind::List),
        ArgSpec::new("include", Kind::List),
        ArgSpec::new("exclude", Kind::List),
        ArgSpec::new("list_files", Kind::Bool),
        ArgSpec::new("keep_newer", Kind::Bool),
        ArgSpec::new("mode", Kind::Mode),
        ArgSpec::new("owner", Kind::Str),
        ArgSpec::new("group", Kind::Str),
        ArgSpec::new("validate_certs", Kind::Bool),
    ],
);

pub struct Unarchive;

pub const STAMP: &str = ".opsctl-unarchive";

/// The archive format, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Zip,
    /// tar, compressed or not (GNU tar detects the compression).
    Tar(&'static str),
}

impl Format {
    pub fn from_magic(hex: &str) -> Format {
        let h = hex.to_lowercase();
        if h.starts_with("504b0304") || h.starts_with("504b0506") {
            Format::Zip
        } else if h.starts_with("1f8b") {
            Format::Tar("TgzArchive")
        } else if h.starts_with("425a68") {
            Format::Tar("TarBzipArchive")
        } else if h.starts_with("fd377a58") {
            Format::Tar("TarXzArchive")
        } else if h.starts_with("28b52ffd") {
            Format::Tar("TarZstdArchive")
        } else {
            Format::Tar("TarArchive")
        }
    }

    pub fn handler(self) -> &'static str {
        match self {
            Format::Zip => "ZipArchive",
            Format::Tar(h) => h,
        }
    }
}

fn magic_hex(bytes: &[u8]) -> String {
    bytes.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The stamp line's key: the archive's file name, without spaces.
pub fn stamp_name(src: &str) -> String {
    let base = src.split(['?', '#']).next().unwrap_or(src);
    let base = base
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(base);
    base.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The stamp line for this archive and these options.
pub fn stamp_line(name: &str, sha256: &str, opts: &str) -> String {
    format!("{name} sha256={sha256} opts={opts}")
}

/// The line for `name` in a stamp file.
pub fn find_stamp<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find(|l| l.split(' ').next() == Some(name))
}

/// The options that change what extraction produces, as one word.
pub fn opts_key(args: &Args) -> String {
    let mut parts = Vec::new();
    for k in ["extra_opts", "include", "exclude"] {
        let v = args.strings(k);
        if !v.is_empty() {
            parts.push(format!("{k}={}", v.join("\u{1f}")));
        }
    }
    for k in ["owner", "group"] {
        if let Some(v) = args.get(k) {
            parts.push(format!(
                "{k}={}",
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            ));
        }
    }
    if let Some(m) = args.get("mode") {
        parts.push(format!(
            "mode={}",
            m.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m.to_string())
        ));
    }
    if args.bool_or("keep_newer", false) {
        parts.push("keep_newer".into());
    }
    if parts.is_empty() {
        return "-".into();
    }
    content::sha256_hex(parts.join("\u{1e}").as_bytes())[..16].to_string()
}

/// Where the archive comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum From {
    Local(Vec<u8>),
    Remote(String),
    Url(String),
}

/// The extraction commands: `x` extracts `"$a"` into `"$d"`, `l` lists it.
pub fn extract_commands(fmt: Format, args: &Args) -> (String, String) {
    let extra: Vec<String> = args.strings("extra_opts").iter().map(|o| q(o)).collect();
    let include: Vec<String> = args.strings("include").iter().map(|o| q(o)).collect();
    let exclude = args.strings("exclude");
    let keep = args.bool_or("keep_newer", false);
    match fmt {
        Format::Zip => {
            let ex = if exclude.is_empty() {
                String::new()
            } else {
                format!(
                    " -x {}",
                    exclude.iter().map(|e| q(e)).collect::<Vec<_>>().join(" ")
                )
            };
            let mut x = format!("unzip -q {} ", if keep { "-u" } else { "-o" });
            if !extra.is_empty() {
                x.push_str(&format!("{} ", extra.join(" ")));
            }
            x.push_str(&format!("\"$a\" {}{ex} -d \"$d\"", include.join(" ")));
            let l = format!("unzip -Z1 \"$a\" {}{ex}", include.join(" "));
            (x, l)
        }
        Format::Tar(_) => {
            let ex: String = exclude
                .iter()
                .map(|e| format!(" --exclude={}", q(e)))
                .collect();
            let kn = if keep { " --keep-newer-files" } else { "" };
            let extra = if extra.is_empty() {
                String::new()
            } else {
                format!(" {}", extra.join(" "))
            };
            let inc = if include.is_empty() {
                String::new()
            } else {
                format!(" -- {}", include.join(" "))
            };
            (
                format!("tar -xf \"$a\" -C \"$d\"{kn}{ex}{extra}{inc}"),
                format!("tar -tf \"$a\"{ex}{inc}"),
            )
        }
    }
}

/// Where the archive comes from, and the probe that reads dest (and the
/// archive's checksum; a URL is downloaded to a temporary file and removed:
/// the change downloads it again and checks it has that checksum).
fn source(args: &Args, ctx: &Ctx) -> Result<(From, Need), Fail> {
    let src = args.str("src").unwrap_or_default().to_string();
    let dest = args.str("dest").unwrap_or_default().to_string();
    let remote = args.bool_or("remote_src", false) || !args.bool_or("copy", true);
    let from = if src.contains("://") {
        super::net::check_url(&src)?;
        From::Url(src.clone())
    } else if remote {
        From::Remote(src.clone())
    } else {
        let path = ctx.find_local(&src)?;
        match std::fs::read(&path) {
            Ok(b) => From::Local(b),
            Err(e) => return fail::fail(format!("cannot read {}: {e}", path.display())),
        }
    };
    let d = q(&dest);
    // Probe.
    let mut probe = format!(
        "# opsctl unarchive: probe {src_shown} -> {dest_shown}\n{read}d={d}\nif [ -d \"$d\" ]; then echo dest=1; [ -w \"$d\" ] && echo destw=1; fi\nif [ -f \"$d\"/{STAMP} ]; then printf 'stamp='; head -c 65536 \"$d\"/{STAMP} | base64 -w0; echo; fi\nif command -v unzip >/dev/null 2>&1; then echo unzip=1; fi\n",
        src_shown = one_line(&super::net::redact_url(&src)),
        dest_shown = one_line(&dest),
        read = if matches!(from, From::Url(_)) {
            "IFS= read -r cfg\n"
        } else {
            ""
        },
    );
    if let Some(c) = args.str("creates") {
        probe.push_str(&format!("if [ -e {} ]; then echo creates=1; fi\n", q(c)));
    }
    let info = "h=$(sha256sum < \"$a\") && echo \"sha=${h%% *}\"; printf 'magic='; head -c 4 \"$a\" | od -An -tx1 | tr -d ' \\n'; echo\n";
    let mut cfg = String::new();
    match &from {
        From::Remote(p) => probe.push_str(&format!(
            "a={}\nif [ -f \"$a\" ] && [ -r \"$a\" ]; then {info}else echo nosrc=1; fi\n",
            q(p)
        )),
        From::Url(u) => {
            let mut c = Curl::new(u);
            c.insecure = !args.bool_or("validate_certs", true);
            cfg = c.line();
            probe.push_str(&format!(
                r#"command -v curl >/dev/null 2>&1 || {{ echo nocurl=1; exit 0; }}
if [ -d "$d" ]; then
  a=$(mktemp) && e=$(mktemp) || exit 1
  if printf '%s' "$cfg" | base64 -d | curl -K - -o "$a" 2>"$e"; then
    {info}    rm -f -- "$a"
  else printf 'dlerr='; base64 -w0 < "$e"; echo; rm -f -- "$a"; fi
  rm -f -- "$e"
fi
"#,
            ));
        }
        From::Local(_) => {}
    }
    let need = if cfg.is_empty() {
        Need::Probe(probe)
    } else {
        Need::SecretProbe(SecretProbe {
            script: probe,
            stdin: format!("{cfg}\n").into_bytes(),
        })
    };
    Ok((from, need))
}

impl Module for Unarchive {
    fn needs(&self, args: &Args, ctx: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![source(args, ctx)?.1])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<PPlan, Fail> {
        let src = args.str("src").unwrap_or_default().to_string();
        let dest = args.str("dest").unwrap_or_default().to_string();
        let attrs = Attrs::from_args(args)?;
        let (from, need) = source(args, ctx)?;
        let out = match &need {
            Need::SecretProbe(p) => facts.secret_probe(p)?,
            Need::Probe(p) => facts.probe(p)?,
            _ => unreachable!("a probe"),
        };
        let name = stamp_name(&src);
        let opts = opts_key(args);
        let d = q(&dest);
        let m = kv(&out.stdout);
        if !out.success() {
            return fail::fail(format!(
                "could not inspect {dest}: {}",
                last_line(&out.stderr_str())
            ));
        }
        let mut o = Outcome::ok()
            .with("dest", dest.clone())
            .with("src", src.clone());
        if m.contains_key("creates") {
            let c = args.str("creates").unwrap_or_default();
            return Ok(PPlan::Done(o.msg(format!("skipped, since {c} exists"))));
        }
        if !m.contains_key("dest") {
            return fail::fail(format!("dest '{dest}' must be an existing dir"));
        }
        if m.contains_key("nocurl") {
            return fail::fail(
                "curl is not installed on the host: install it first (apt: name=curl)",
            );
        }
        if let Some(e) = m.get("dlerr") {
            return fail::fail(format!(
                "failure downloading {}: {}",
                super::net::redact_url(&src),
                last_line(&unb64s(e))
            ));
        }
        if m.contains_key("nosrc") {
            return fail::fail(format!(
                "Source '{src}' does not exist (or is not readable) on the host"
            ));
        }
        let (sha, magic) = match &from {
            From::Local(b) => (content::sha256_hex(b), magic_hex(b)),
            _ => (
                m.get("sha").cloned().unwrap_or_default(),
                m.get("magic").cloned().unwrap_or_default(),
            ),
        };
        let fmt = Format::from_magic(&magic);
        o = o.with("handler", fmt.handler());
        if fmt == Format::Zip && !m.contains_key("unzip") {
            return fail::fail(format!(
                "{src} is a zip archive and unzip is not installed on the host: install it first (apt: name=unzip)"
            ));
        }
        let stamps = m.get("stamp").map(|s| unb64s(s)).unwrap_or_default();
        let want = stamp_line(&name, &sha, &opts);
        let current = find_stamp(&stamps, &name);
        if current == Some(want.as_str()) {
            return Ok(PPlan::Done(o));
        }
        if !m.contains_key("destw") {
            return fail::fail(format!(
                "dest '{dest}' is not writable{}",
                if args.get("owner").is_some() {
                    ""
                } else {
                    " (add `become: true`?)"
                }
            ));
        }
        o.changed = true;
        if ctx.diff {
            o.diffs.push(Diff::new(
                format!("{dest} ({STAMP})"),
                current.map(|c| format!("{c}\n")).unwrap_or_default(),
                format!("{want}\n"),
            ));
        }
        // Extract.
        let (x, l) = extract_commands(fmt, args);
        let mut own = String::new();
        if let Some(spec) = attrs.chown_spec() {
            own.push_str(&format!("chown -h -- {} \"$p\" || die chown\n", q(&spec)));
        }
        if let Some(mode) = &attrs.mode {
            let m = match mode {
                ModeSpec::Octal(o) => format!("{o:04o}"),
                ModeSpec::Symbolic(s) => s.clone(),
            };
            own.push_str(&format!(
                "[ -L \"$p\" ] || chmod {} \"$p\" || die chmod\n",
                q(&m)
            ));
        }
        let (get, stdin) = match &from {
            From::Local(b) => (
                format!(
                    "a=$(mktemp) || die mktemp\ntrap 'rm -f -- \"$a\" \"$e\"' EXIT\ncat > \"$a\" || die copy\nh=$(sha256sum < \"$a\"); [ \"${{h%% *}}\" = {sha} ] || die checksum\n"
                ),
                Some(b.clone()),
            ),
            From::Remote(p) => (format!("a={}\n", q(p)), None),
            From::Url(u) => {
                let mut c = Curl::new(u);
                c.insecure = !args.bool_or("validate_certs", true);
                (
                    format!(
                        "IFS= read -r cfg\na=$(mktemp) || die mktemp\ntrap 'rm -f -- \"$a\" \"$e\"' EXIT\nprintf '%s' \"$cfg\" | base64 -d | curl -K - -o \"$a\" 2>\"$e\" || die download\nh=$(sha256sum < \"$a\"); [ \"${{h%% *}}\" = {sha} ] || die changed\n"
                    ),
                    Some(format!("{}\n", c.line()).into_bytes()),
                )
            }
        };
        let list_files = args.bool_or("list_files", false);
        let script = format!(
            r#"# opsctl unarchive: {src_shown} -> {dest_shown}
    e=$(mktemp) || exit 1
    die() {{ echo "error=$1"; printf 'err='; tail -c 8192 "$e" | base64 -w0; echo; exit 1; }}
    d={d}
    {get}{x} >"$e" 2>&1 || die extract
    if [ {list} = 1 ] || [ {own_needed} = 1 ]; then
      f=$(mktemp) || die mktemp
      {l} > "$f" 2>>"$e" || die list
      if [ {own_needed} = 1 ]; then
        while IFS= read -r m; do [ -n "$m" ] || continue; p="$d/$m"; {{ [ -e "$p" ] || [ -L "$p" ]; }} || continue
    {own}    done < "$f"
      fi
      if [ {list} = 1 ]; then printf 'files='; head -c 4194304 "$f" | base64 -w0; echo; fi
      rm -f -- "$f"
    fi
    s="$d"/{STAMP}
    {{ [ -f "$s" ] && awk -v n={n} '$1 != n' "$s"; printf '%s\n' {line}; }} > "$s.tmp" && mv -f -- "$s.tmp" "$s" || die stamp
    rm -f -- "$e"
    echo done=1
    "#,
            src_shown = one_line(&super::net::redact_url(&src)),
            dest_shown = one_line(&dest),
            list = if list_files { 1 } else { 0 },
            own_needed = if own.is_empty() { 0 } else { 1 },
            n = q(&name),
            line = q(&want),
        );
        Ok(PPlan::change(o, Action::Script { script, stdin }))
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
        let src = args.str("src").unwrap_or_default().to_string();
        let dest = args.str("dest").unwrap_or_default().to_string();
        let list_files = args.bool_or("list_files", false);
        let mut o = planned;
        let r = kv(&out.stdout);
        if !r.contains_key("done") {
            let step = r.get("error").map(String::as_str).unwrap_or("extract");
            let err = r
                .get("err")
                .map(|s| unb64s(s))
                .unwrap_or_else(|| out.stderr_str());
            let what = match step {
                "checksum" => "the archive was corrupted in transfer".to_string(),
                "changed" => "the archive at the URL changed since it was read".to_string(),
                "extract" | "list" => tar_errors(&err),
                _ => last_line(&err),
            };
            let mut f = Outcome::failed(format!(
                "failed to unpack {src} into {dest} ({step}): {what}"
            ));
            f.data = o.data;
            f.data
                .insert("extract_results".into(), json!({"rc": 1, "err": err}));
            return Ok(f);
        }
        if list_files {
            let files: Vec<Json> = r
                .get("files")
                .map(|s| unb64s(s))
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| Json::String(l.to_string()))
                .collect();
            o = o.with("files", Json::Array(files));
        }
        Ok(o)
    }
}

/// The lines of tar's (or unzip's) stderr that say what went wrong: its closing
/// summaries ("Exiting with failure status due to previous errors") dropped, one
/// line per distinct cause (the text after the file name, e.g. "Cannot write: No
/// space left on device"), with how many more files it hit.
fn tar_errors(err: &str) -> String {
    let summary = [
        "Exiting with failure status due to previous errors",
        "Error is not recoverable: exiting now",
        "Child returned status",
    ];
    let mut causes: Vec<(String, String, usize)> = Vec::new();
    for line in err.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if summary.iter().any(|s| line.contains(s)) {
            continue;
        }
        // `tar: FILE: Cannot write: CAUSE`: the cause is what follows the file.
        let body = line.strip_prefix("tar: ").unwrap_or(line);
        let cause = body.split_once(": ").map_or(body, |(_, c)| c).to_string();
        match causes.iter_mut().find(|(c, _, _)| *c == cause) {
            Some((_, _, n)) => *n += 1,
            None => causes.push((cause, line.to_string(), 0)),
        }
    }
    if causes.is_empty() {
        return last_line(err);
    }
    causes
        .iter()
        .take(3)
        .map(|(_, line, more)| match more {
            0 => line.clone(),
            n => format!("{line} (and {n} more like it)"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(Format::from_magic("504b0304"), Format::Zip);
        assert_eq!(Format::from_magic("1f8b0800").handler(), "TgzArchive");
        assert_eq!(Format::from_magic("fd377a58").handler(), "TarXzArchive");
        assert_eq!(Format::from_magic("61707000").handler(), "TarArchive");
        assert_eq!(magic_hex(&[0x1f, 0x8b, 8, 0, 9]), "1f8b0800");
    }

    #[test]
    fn stamps() {
        assert_eq!(stamp_name("files/app 1.tgz"), "app_1.tgz");
        assert_eq!(stamp_name("https://x.test/r/app.zip?token=1"), "app.zip");
        let text = "a.tgz sha256=1 opts=-\napp.tgz sha256=2 opts=-\n";
        assert_eq!(find_stamp(text, "app.tgz"), Some("app.tgz sha256=2 opts=-"));
        assert_eq!(find_stamp(text, "app"), None);
        assert_eq!(stamp_line("app.tgz", "2", "-"), "app.tgz sha256=2 opts=-");
    }

    fn args(v: Json) -> Args {
        UNARCHIVE.validate(v.as_object().unwrap(), true).unwrap()
    }

    #[test]
    fn options_and_commands() {
        let plain = args(json!({"src": "a.tgz", "dest": "/srv"}));
        assert_eq!(opts_key(&plain), "-");
        let moded = args(json!({"src": "a.tgz", "dest": "/srv", "mode": "0755"}));
        assert_ne!(opts_key(&moded), "-");
        let a = args(
            json!({"src": "a.tgz", "dest": "/srv", "exclude": ["*.log"], "extra_opts": ["--strip-components=1"]}),
        );
        let (x, l) = extract_commands(Format::Tar("TgzArchive"), &a);
        assert_eq!(
            x,
            "tar -xf \"$a\" -C \"$d\" --exclude='*.log' --strip-components=1"
        );
        assert_eq!(l, "tar -tf \"$a\" --exclude='*.log'");
        let (x, _) = extract_commands(Format::Zip, &a);
        assert_eq!(
            x,
            "unzip -q -o --strip-components=1 \"$a\"  -x '*.log' -d \"$d\""
        );
    }

    #[test]
    fn tar_errors_name_the_cause_not_the_summary() {
        let err = "tar: ./api/app/main.py: Cannot write: No space left on device\n\
                   tar: ./api/app/db.py: Cannot write: No space left on device\n\
                   tar: ./client: Cannot mkdir: No space left on device\n\
                   tar: Exiting with failure status due to previous errors\n";
        assert_eq!(
            tar_errors(err),
            "tar: ./api/app/main.py: Cannot write: No space left on device (and 1 more like it); \
             tar: ./client: Cannot mkdir: No space left on device"
        );
        assert_eq!(
            tar_errors("gzip: stdin: not in gzip format\ntar: Child returned status 1\n"),
            "gzip: stdin: not in gzip format"
        );
        assert_eq!(
            tar_errors("tar: Exiting with failure status due to previous errors"),
            "tar: Exiting with failure status due to previous errors"
        );
    }
}
