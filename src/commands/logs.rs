//! `opsctl logs`: the supervisor programs' logs (where their configuration
//! says, `stdout_logfile`/`stderr_logfile`, or supervisor's AUTO files) and
//! nginx's access and error logs, and a compose app's running containers' logs
//! (docker's json-file logs, named after their service), from every selected host, each line with
//! the host's name and the log it came from; `-f` follows them until Ctrl-C
//! or SIGTERM (the remote `tail`s end with the connection).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::Loaded;
use crate::error::{Error, Exit, Result};
use crate::printer::{Line, Printer, Style};
use crate::runner::{Connections, fan_out};
use crate::transport::{Chunk, ConnectionSpec, RemoteCommand, TransportError, shell_quote};

/// `opsctl logs`: which hosts and logs, how much, following or not.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub limit: Option<String>,
    pub forks: usize,
    /// `api`, `client`, `nginx`, supervisor program names or a compose app's
    /// service names (its running containers' logs); empty: all.
    pub sources: Vec<String>,
    pub follow: bool,
    /// `-n`: lines per log file (default 10; 1000 with `--since`).
    pub lines: Option<usize>,
    /// `--since`: how far back (by file mtime and the lines' own timestamps).
    pub since: Option<Duration>,
}

/// What the logs of a host came to.
#[derive(Debug, Clone)]
enum Answer {
    /// The lines (source, text) when not following (printed as they came
    /// otherwise), and how many log files were read.
    Done {
        lines: Vec<(String, String)>,
        files: usize,
    },
    /// A log asked for by name that the host does not have.
    Missing(String),
    Unreachable(TransportError),
    Failed(String),
}

pub async fn run(loaded: &Loaded, o: LogsOptions, printer: &Printer) -> Result<Exit> {
    let hosts = loaded.select(o.limit.as_deref())?;
    let specs = loaded.connection_specs(&hosts)?;
    let since = o.since.map(|d| now().saturating_sub(d.as_secs()));
    let script = Arc::new(script(&o, since)?);
    let width = hosts.iter().map(String::len).max().unwrap_or(0);
    let conns = Connections::new();
    let c = conns.clone();
    let live = o.follow.then_some(printer);
    let work = move |spec: ConnectionSpec| {
        let (c, script) = (c.clone(), script.clone());
        async move { logs_one(&c, &spec, &script, o.follow, since, live, width).await }
    };
    let report = |i: usize, a: Answer| {
        if let Answer::Done { lines, .. } = &a {
            for (source, line) in lines {
                print_line(printer, &hosts[i], source, line, width);
            }
        }
        print_problem(printer, &hosts[i], &a);
    };
    let Some(answers) =
        super::unless_interrupted(fan_out(specs, o.forks, work, report), &conns, printer).await
    else {
        return Ok(Exit::Interrupted);
    };
    conns.close_all().await;
    let failed = answers
        .iter()
        .filter(|a| matches!(a, Answer::Missing(_) | Answer::Failed(_)))
        .count();
    let unreachable = answers
        .iter()
        .filter(|a| matches!(a, Answer::Unreachable(_)))
        .count();
    Ok(Exit::of_hosts(failed, unreachable))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The script run on each host: finds the log files (`#opsctl:` lines say
/// what it found or missed), then `tail -v` prints them, each file after an
/// `==> PATH <==` header; following, `tail -F` runs until opsctl's end closes
/// the script's stdin.
fn script(o: &LogsOptions, since: Option<u64>) -> Result<String> {
    let mut programs = Vec::new();
    let mut nginx = o.sources.is_empty();
    for s in &o.sources {
        if s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(Error::new(format!(
                "logs: '{s}' is not a log name: give api, client, nginx, a supervisor program's name or a compose service's"
            )));
        }
        match s.as_str() {
            "nginx" => nginx = true,
            "api" => programs.push("app-api".to_string()),
            "client" => programs.push("app-client".to_string()),
            p => programs.push(p.to_string()),
        }
    }
    let lines = o.lines.unwrap_or(if since.is_some() { 1000 } else { 10 });
    let wanted = if o.sources.is_empty() {
        "ALL".to_string()
    } else {
        programs
            .iter()
            .map(|p| shell_quote(p))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let follow = if o.follow {
        // stdin stays open while opsctl runs: its end stops tail
        "tail -v -n \"$n\" -F \"$@\" & t=$!; cat >/dev/null; kill $t 2>/dev/null; wait $t 2>/dev/null; exit 0"
    } else {
        "exec tail -v -n \"$n\" \"$@\""
    };
    Ok(format!(
        r##"n={lines}; since={since}; nginx={nginx}
conf=$(ls /etc/supervisor/supervisord.conf /etc/supervisor/conf.d/*.conf 2>/dev/null)
programs=$( [ -n "$conf" ] && sed -n 's/^\[program:\([^]]*\)\].*/\1/p' $conf | sort -u | tr '\n' ' ')
echo "#opsctl:programs $programs"
wanted="{wanted}"
all=0; [ "$wanted" = ALL ] && all=1 && wanted=$programs
set --
add() {{ [ -f "$1" ] || return 0; if [ "$since" != 0 ] && [ "$(stat -c %Y "$1")" -lt "$since" ]; then return 0; fi; set_add "$1"; }}
files=""
set_add() {{ files="$files
$1"; }}
# A compose app's running containers (docs/compose.md): their json-file logs,
# named after their compose service.
services=""
ctrs=$(command -v docker >/dev/null 2>&1 && docker ps -q --filter label=com.docker.compose.project |
  xargs -r docker inspect --format '{{{{.LogPath}}}} {{{{index .Config.Labels "com.docker.compose.service"}}}}' 2>/dev/null)
while read -r path service; do
  [ -n "$path" ] || continue
  echo "#opsctl:container $path $service"
  services="$services $service"
  if [ $all = 1 ]; then add "$path"; else case " $wanted " in *" $service "*) add "$path";; esac; fi
done <<OPSCTL_CTRS
$ctrs
OPSCTL_CTRS
for p in $wanted; do
  case " $services " in *" $p "*) continue;; esac
  case " $programs " in *" $p "*) ;; *) echo "#opsctl:missing $p"; continue;; esac
  for f in $(awk -v h="[program:$p]" '$0==h{{on=1;next}} /^\[/{{on=0}} on && /^(stdout|stderr)_logfile[ \t]*=/{{sub(/^[^=]*=[ \t]*/,""); print}}' $conf); do
    case "$f" in AUTO|NONE|none|"") ;; *) add "$f";; esac
  done
  for f in /var/log/supervisor/"$p"-std*---supervisor-*.log; do add "$f"; done
done
if [ "$nginx" = 1 ]; then for f in /var/log/nginx/*.log; do add "$f"; done; fi
IFS='
'
for f in $files; do [ -n "$f" ] && set -- "$@" "$f"; done
unset IFS
echo "#opsctl:begin $#"
[ $# -gt 0 ] || exit 0
{follow}
"##,
        since = since.unwrap_or(0),
        nginx = u8::from(nginx),
    ))
}

/// Reads one host's logs; with `live`, prints each line as it arrives.
async fn logs_one(
    conns: &Arc<Connections>,
    spec: &ConnectionSpec,
    script: &str,
    follow: bool,
    since: Option<u64>,
    live: Option<&Printer>,
    width: usize,
) -> Answer {
    let conn = match conns.get(spec).await {
        Ok(c) => c,
        Err(e) => return Answer::Unreachable(e),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cmd = RemoteCommand::new(script);
    let host = spec.host.as_str();
    let read = async {
        let mut parser = Parser::new(since);
        let (mut pending, mut err) = (Vec::<u8>::new(), Vec::<u8>::new());
        let mut kept = Vec::new();
        while let Some(chunk) = rx.recv().await {
            let bytes = match chunk {
                Chunk::Out(b) => b,
                Chunk::Err(b) => {
                    err.extend_from_slice(&b);
                    continue;
                }
            };
            pending.extend_from_slice(&bytes);
            while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = pending.drain(..=i).collect();
                let line = String::from_utf8_lossy(&raw[..i]).into_owned();
                for (source, text) in parser.line(&line) {
                    match live {
                        Some(p) => print_line(p, host, &source, &text, width),
                        None => kept.push((source, text)),
                    }
                }
            }
        }
        (parser, kept, String::from_utf8_lossy(&err).into_owned())
    };
    let (rc, (parser, lines, stderr)) = tokio::join!(conn.stream(&cmd, follow, tx), read);
    if let Some(p) = parser.missing.first() {
        return Answer::Missing(format!(
            "no supervisor program '{p}' (its programs: {})",
            if parser.programs.is_empty() {
                "none".to_string()
            } else {
                parser.programs.join(", ")
            }
        ));
    }
    match rc {
        Ok(Some(0)) | Ok(None) if parser.begun => Answer::Done {
            lines,
            files: parser.files,
        },
        Ok(rc) => Answer::Failed(format!(
            "reading the logs failed (exit {}): {}",
            rc.map(|c| c.to_string()).unwrap_or_else(|| "signal".into()),
            stderr.trim()
        )),
        Err(e @ TransportError::Disconnected { .. }) => Answer::Unreachable(e),
        Err(e) => Answer::Failed(match e.hint() {
            Some(h) => format!("{e}\n    hint: {h}"),
            None => e.to_string(),
        }),
    }
}

/// Reads the script's output: its `#opsctl:` lines, then tail's, whose
/// `==> PATH <==` headers say which log the next lines are from.
struct Parser {
    since: Option<u64>,
    programs: Vec<String>,
    missing: Vec<String>,
    begun: bool,
    files: usize,
    source: String,
    /// The current file's lines are older than `--since` (by their timestamps).
    old: bool,
    /// A blank line held back: tail prints one before each header.
    blank: bool,
    /// Containers' json-file logs (path -> compose service), and whether the
    /// current file is one (its lines are JSON records).
    containers: std::collections::HashMap<String, String>,
    json: bool,
}

impl Parser {
    fn new(since: Option<u64>) -> Parser {
        Parser {
            since,
            programs: vec![],
            missing: vec![],
            begun: false,
            files: 0,
            source: String::new(),
            old: false,
            blank: false,
            containers: Default::default(),
            json: false,
        }
    }

    /// The log lines (source, text) that `line` completes.
    fn line(&mut self, line: &str) -> Vec<(String, String)> {
        if !self.begun {
            if let Some(p) = line.strip_prefix("#opsctl:programs ") {
                self.programs = p.split_whitespace().map(str::to_string).collect();
            } else if let Some(c) = line.strip_prefix("#opsctl:container ") {
                if let Some((path, service)) = c.split_once(' ') {
                    self.containers
                        .insert(path.to_string(), service.to_string());
                }
            } else if let Some(p) = line.strip_prefix("#opsctl:missing ") {
                self.missing.push(p.to_string());
            } else if let Some(n) = line.strip_prefix("#opsctl:begin ") {
                self.begun = true;
                self.files = n.trim().parse().unwrap_or(0);
            }
            return vec![];
        }
        if let Some(path) = line
            .strip_prefix("==> ")
            .and_then(|l| l.strip_suffix(" <=="))
        {
            self.blank = false;
            self.json = self.containers.contains_key(path);
            self.source = match self.containers.get(path) {
                Some(service) => service.clone(),
                None => label(path),
            };
            self.old = false;
            return vec![];
        }
        if self.json {
            let text = docker_line(line);
            return if self.keep(&text) {
                vec![(self.source.clone(), text)]
            } else {
                vec![]
            };
        }
        let mut out = Vec::new();
        if std::mem::take(&mut self.blank) {
            out.push(String::new());
        }
        if line.is_empty() {
            self.blank = true;
            return vec![];
        }
        out.push(line.to_string());
        let kept: Vec<String> = out.into_iter().filter(|l| self.keep(l)).collect();
        kept.into_iter().map(|l| (self.source.clone(), l)).collect()
    }

    /// `--since`: a line with a timestamp is kept when it is recent enough; a
    /// line without one goes with the line before it.
    fn keep(&mut self, line: &str) -> bool {
        let Some(since) = self.since else {
            return true;
        };
        if let Some(t) = line_time(line) {
            self.old = t < since;
        }
        !self.old
    }
}

/// A line of docker's json-file log (`{"log":"...\\n","stream":"stdout","time":"..."}`)
/// as `2026-12-04T06:03:33Z text` (the time to the second, so `--since` reads it).
fn docker_line(line: &str) -> String {
    let Ok(rec) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_string();
    };
    let text = rec["log"].as_str().unwrap_or("").trim_end_matches('\n');
    match rec["time"].as_str().and_then(|t| t.get(..19)) {
        Some(t) => format!("{t}Z {text}"),
        None => text.to_string(),
    }
}

/// A log's short name: `app-api` for `/var/log/supervisor/app-api.log` (and
/// for supervisor's AUTO `app-api-stdout---supervisor-x1y2.log`),
/// `nginx/access` for `/var/log/nginx/access.log`.
fn label(path: &str) -> String {
    let p = std::path::Path::new(path);
    let stem = p
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = match stem.split_once("---supervisor") {
        Some((s, _)) => s.to_string(),
        None => stem.strip_suffix(".log").unwrap_or(&stem).to_string(),
    };
    match p.parent().and_then(|d| d.file_name()) {
        Some(d) if d == "nginx" => format!("nginx/{stem}"),
        _ => stem,
    }
}

/// The time a log line was written, when it starts with (or, for nginx's
/// access log, holds) a timestamp: `2026/12/03 22:10:00` (nginx errors),
/// `2026-12-03 22:10:00` or `2026-12-03T22:10:00Z` (ISO, taken as UTC
/// without an offset), `[03/Dec/2026:22:10:00 +0000]` (combined log format).
fn line_time(line: &str) -> Option<u64> {
    if let Some(t) = iso_time(line.get(..19)?) {
        return Some(t);
    }
    let open = line.find('[')?;
    let close = open + line[open..].find(']')?;
    clf_time(&line[open + 1..close])
}

fn iso_time(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 19 || !matches!(b[4], b'-' | b'/') || b[7] != b[4] || !matches!(b[10], b' ' | b'T')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
    epoch(
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )
}

/// `03/Dec/2026:22:10:00 +0000`
fn clf_time(s: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (date, zone) = s.split_once(' ')?;
    let mut parts = date.split([':', '/']);
    let day: u64 = parts.next()?.parse().ok()?;
    let name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == name)? as u64 + 1;
    let year: u64 = parts.next()?.parse().ok()?;
    let h: u64 = parts.next()?.parse().ok()?;
    let m: u64 = parts.next()?.parse().ok()?;
    let sec: u64 = parts.next()?.parse().ok()?;
    let t = epoch(year, month, day, h, m, sec)? as i64;
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let z: i64 = zone.get(1..5)?.parse().ok()?;
    let offset = sign * ((z / 100) * 3600 + (z % 100) * 60);
    u64::try_from(t - offset).ok()
}

/// Seconds since the epoch of a UTC date and time.
fn epoch(y: u64, mo: u64, d: u64, h: u64, mi: u64, s: u64) -> Option<u64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 || y < 1970
    {
        return None;
    }
    // days from civil (Howard Hinnant's algorithm)
    let (y, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + s)
}

/// `HOST  SOURCE | line`, the host column as wide as the longest name.
fn print_line(p: &Printer, host: &str, source: &str, text: &str, width: usize) {
    if p.is_json() {
        p.json(&json!({"host": host, "log": source, "line": text}));
        return;
    }
    p.result_line(
        &Line::new()
            .data_styled(format!("{host:width$}"), Style::Bold)
            .word(" ")
            .data_styled(source.to_string(), Style::Dim)
            .word(" | ")
            .data(text.to_string()),
    );
}

/// What went wrong on a host (or that it has no log to show), on stderr.
fn print_problem(p: &Printer, host: &str, a: &Answer) {
    let (msg, hint) = match a {
        Answer::Done { files: 0, .. } => (
            "no log file to show (supervisor's programs' logs, /var/log/nginx/*.log)".to_string(),
            None,
        ),
        Answer::Done { .. } => return,
        Answer::Missing(m) => (m.clone(), None),
        Answer::Failed(m) => (m.clone(), None),
        Answer::Unreachable(e) => (format!("UNREACHABLE: {e}"), e.hint()),
    };
    if p.is_json() {
        p.json(&json!({"host": host, "error": msg, "hint": hint}));
        return;
    }
    p.warn(&format!("{host}: {msg}"));
    if let Some(h) = hint {
        p.warn(&format!("{host}: hint: {h}"));
    }
}

/// `--since`: `90s`, `30m`, `1h`, `2d`, `1w` (see [`time::parse_seconds`]).
pub fn parse_since(s: &str) -> std::result::Result<Duration, String> {
    crate::journal::time::parse_seconds(s, false).map(|secs| Duration::from_secs(secs as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_of_log_lines() {
        let t = epoch(2026, 12, 3, 22, 10, 0).unwrap();
        assert_eq!(t, 1_796_335_800);
        assert_eq!(
            line_time("2026/12/03 22:10:00 [error] 12#12: oops"),
            Some(t)
        );
        assert_eq!(line_time("2026-12-03T22:10:00Z INFO"), Some(t));
        assert_eq!(
            line_time(r#"10.0.0.1 - - [03/Dec/2026:23:10:00 +0100] "GET / HTTP/1.1" 200"#),
            Some(t)
        );
        assert_eq!(line_time("INFO:     127.0.0.1:5 - \"GET /\" 200"), None);
        assert_eq!(line_time("short"), None);
    }

    #[test]
    fn a_containers_json_log_becomes_its_services_lines() {
        let mut p = Parser::new(Some(epoch(2026, 12, 3, 22, 0, 0).unwrap()));
        let log = "/var/lib/docker/containers/ab12/ab12-json.log";
        let mut out = Vec::new();
        for l in [
            "#opsctl:programs ",
            &format!("#opsctl:container {log} web"),
            "#opsctl:begin 1",
            &format!("==> {log} <=="),
            r#"{"log":"old line\n","stream":"stdout","time":"2026-12-03T21:59:59.5Z"}"#,
            r#"{"log":"serving abc on 8001\n","stream":"stdout","time":"2026-12-03T22:00:01.123456789Z"}"#,
            r#"{"log":"127.0.0.1 \"GET /health\" 200\n","stream":"stderr","time":"2026-12-03T22:00:02Z"}"#,
        ] {
            out.extend(p.line(l));
        }
        let got: Vec<String> = out.iter().map(|(s, l)| format!("{s}|{l}")).collect();
        assert_eq!(
            got,
            [
                "web|2026-12-03T22:00:01Z serving abc on 8001",
                "web|2026-12-03T22:00:02Z 127.0.0.1 \"GET /health\" 200"
            ]
        );
    }

    #[test]
    fn tail_output_becomes_labelled_lines() {
        let mut p = Parser::new(Some(epoch(2026, 12, 3, 22, 0, 0).unwrap()));
        let mut out = Vec::new();
        for l in [
            "#opsctl:programs app-api app-client",
            "#opsctl:begin 2",
            "==> /var/log/supervisor/app-api.log <==",
            "started",
            "",
            "==> /var/log/nginx/error.log <==",
            "2026/12/03 21:00:00 [error] old",
            "continuation of old",
            "2026/12/03 22:30:00 [error] new",
            "",
            "after a blank",
        ] {
            out.extend(p.line(l));
        }
        let got: Vec<String> = out.iter().map(|(s, l)| format!("{s}|{l}")).collect();
        assert_eq!(
            got,
            [
                "app-api|started",
                "nginx/error|2026/12/03 22:30:00 [error] new",
                "nginx/error|",
                "nginx/error|after a blank"
            ]
        );
        assert_eq!(p.programs, ["app-api", "app-client"]);
        assert_eq!(
            label("/var/log/supervisor/x-stdout---supervisor-ab12.log"),
            "x-stdout"
        );
    }

    #[test]
    fn names_and_durations() {
        assert_eq!(parse_since("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_since("90").unwrap(), Duration::from_secs(90));
        assert!(parse_since("1y").unwrap_err().contains("unit"));
        let o = LogsOptions {
            sources: vec!["a;rm".into()],
            ..Default::default()
        };
        assert!(script(&o, None).unwrap_err().to_string().contains("'a;rm'"));
        let o = LogsOptions {
            sources: vec!["api".into(), "worker".into()],
            ..Default::default()
        };
        let s = script(&o, None).unwrap();
        assert!(s.contains("wanted=\"app-api worker\""), "{s}");
        assert!(s.contains("nginx=0"), "{s}");
    }
}
