//! The one place that decides what reaches the terminal: text or JSON lines,
//! quiet or verbose, colour or not (as uv's Printer does).
//!
//! Every byte it writes goes through [`crate::redact`]: a secret (a value of a
//! secrets file, or a string templated from one) is printed as `********`
//! whatever the format, verbosity or kind of line. Nothing else in opsctl
//! prints (no `println!`), so nothing can bypass it. Result and recap lines are
//! [`Line`]s: their data is redacted, opsctl's own words never are; JSON is
//! redacted value by value, keys never (see [`crate::redact::redact_json`]).

use std::io::{IsTerminal, Write};

mod live;

/// Can opsctl ask the operator (a terminal on stdin, not in CI)?
pub fn interactive() -> bool {
    use std::io::IsTerminal;
    !in_ci() && std::io::stdin().is_terminal()
}

/// Running in CI (`CI` set to anything but empty, `0`, `false` or `no`): no colour,
/// no live lines, no prompt, whatever the terminal.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no"
        )
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line, for programs.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Ok,
    Changed,
    Failed,
    Unreachable,
    Dim,
    Bold,
}

#[derive(Debug, Clone)]
pub struct Printer {
    pub format: OutputFormat,
    /// -1 quiet, 0 default, 1 `-v`, 2 `-vv`...
    pub verbosity: i8,
    /// Colour on stdout, and on stderr: decided per stream ([`colour_for`]).
    color: bool,
    color_err: bool,
    /// The live area at the bottom of a terminal: one line per busy host (never
    /// in CI, with JSON, `-q` or stdout not a terminal).
    live: Option<std::sync::Arc<live::Live>>,
}

/// The stream a line goes to.
#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

impl Printer {
    pub fn new(format: OutputFormat, verbosity: i8) -> Printer {
        let ci = in_ci();
        let text = format == OutputFormat::Text;
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let tty = text && std::io::stdout().is_terminal() && !ci && !dumb;
        let color = text && colour_for(std::io::stdout().is_terminal());
        let color_err = colour_for(std::io::stderr().is_terminal());
        let live = (tty && verbosity >= 0).then(|| std::sync::Arc::new(live::Live::new(color)));
        crate::redact::install_panic_hook();
        Printer {
            format,
            verbosity,
            color,
            color_err,
            live,
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Paints `s` for stdout, when it takes colour.
    pub fn paint(&self, s: &str, style: Style) -> String {
        paint(self.color, s, style)
    }

    /// Paints `s` for stderr, when it takes colour.
    fn paint_err(&self, s: &str, style: Style) -> String {
        paint(self.color_err, s, style)
    }

    /// A line of normal output (stdout), suppressed by `-q`... unless it is JSON.
    pub fn line(&self, s: &str) {
        self.flush_deferred();
        if self.verbosity >= 0 {
            self.result(s);
        }
    }

    /// Guidance for a person beside a result meant for pipes (stderr), suppressed
    /// by `-q`: `$(opsctl secrets keygen)` is the key alone.
    pub fn note(&self, s: &str) {
        self.flush_deferred();
        if self.verbosity >= 0 {
            self.emit(Stream::Err, &crate::redact::redact(s));
        }
    }

    /// A line that is the command's result: printed even with `-q`.
    pub fn result(&self, s: &str) {
        self.write_result(&crate::redact::redact(s));
    }

    /// A result line whose data parts alone are redacted (see [`Line`]).
    pub fn result_line(&self, line: &Line) {
        self.write_result(&line.render(self));
    }

    /// Writes an already redacted result line (above the live area).
    fn write_result(&self, s: &str) {
        self.flush_deferred();
        self.emit(Stream::Out, s);
    }

    /// Writes an already redacted line to `stream`: above the live area when
    /// there is one, so that nothing breaks it.
    fn emit(&self, stream: Stream, s: &str) {
        match (&self.live, stream) {
            (Some(live), Stream::Out) => {
                live.suspend(|| write_raw(&mut std::io::stdout().lock(), s))
            }
            (Some(live), Stream::Err) => {
                live.suspend(|| write_raw(&mut std::io::stderr().lock(), s))
            }
            (None, Stream::Out) => write_raw(&mut std::io::stdout().lock(), s),
            (None, Stream::Err) => write_raw(&mut std::io::stderr().lock(), s),
        }
    }

    /// `host` starts `task` (`None`: it is done): its line in the live area on a
    /// terminal; a no-op elsewhere.
    pub fn host_busy(&self, host: &str, task: Option<&str>) {
        if let Some(live) = &self.live {
            live.busy(
                &crate::redact::redact(host),
                task.map(|t| crate::redact::redact(t)).as_deref(),
            );
        }
    }

    /// Takes the live area away (the run's end, an error, an interruption), so
    /// that the terminal is left with the lines written and nothing else.
    pub fn end_live(&self) {
        if let Some(live) = &self.live {
            live.clear();
        }
    }

    /// One JSON document on one line (stdout).
    pub fn json(&self, v: &serde_json::Value) {
        self.flush_deferred();
        // Structurally first (escaped strings inside the JSON text), then as text.
        let v = crate::redact::redact_json(v);
        self.emit(Stream::Out, &crate::redact::redact(&v.to_string()));
    }

    /// Extra detail shown with `-v` (level 1) or `-vv` (level 2), on stderr.
    pub fn verbose(&self, level: i8, s: &str) {
        self.flush_deferred();
        if self.verbosity >= level {
            self.emit(
                Stream::Err,
                &self.paint_err(&crate::redact::redact(s), Style::Dim),
            );
        }
    }

    /// Writes `s` to stdout WITHOUT redaction: only for `opsctl secrets view`
    /// (and `keygen --out -`), whose whole point is to show a secret to its owner.
    pub fn reveal(&self, s: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{s}");
        let _ = out.flush();
    }

    pub fn warn(&self, s: &str) {
        self.flush_deferred();
        self.write_warning(s);
    }

    fn write_warning(&self, s: &str) {
        if self.verbosity >= 0 {
            let s = crate::redact::redact(s);
            self.emit(
                Stream::Err,
                &format!("{} {s}", self.paint_err("warning:", Style::Changed)),
            );
        }
    }

    /// An error: on stderr, or with `--output json` as a JSON object on stdout
    /// (`{"error": ..., "hints": [...], "exit": N}`), the stream a program reads.
    pub fn error(&self, e: &crate::error::Error) {
        self.end_live();
        self.flush_deferred();
        if self.is_json() {
            self.json(&serde_json::json!({
                "error": e.message,
                "hints": e.hints,
                "exit": e.exit.code(),
            }));
            return;
        }
        let text = e.to_string();
        let text = crate::redact::redact(&text);
        let text = text.replacen("error:", &self.paint_err("error:", Style::Failed), 1);
        self.emit(Stream::Err, &text);
    }
}

/// A line built from opsctl's own words and the data it reports (host, task,
/// item, message). Only the data is redacted: a secret (or a value templated
/// from one) can mask a task's message, never a status word or a recap count.
/// Words are `&'static str`, so nothing read at run time can pass as one.
#[derive(Debug, Default, Clone)]
pub struct Line {
    parts: Vec<(Part, Option<Style>)>,
}

#[derive(Debug, Clone)]
enum Part {
    Word(&'static str),
    Count(u64),
    Data(String),
}

impl Line {
    pub fn new() -> Line {
        Line::default()
    }
    /// One of opsctl's own words (never redacted).
    pub fn word(mut self, w: &'static str) -> Line {
        self.parts.push((Part::Word(w), None));
        self
    }
    /// One of opsctl's own words, painted on a colour terminal.
    pub fn styled(mut self, w: &'static str, style: Style) -> Line {
        self.parts.push((Part::Word(w), Some(style)));
        self
    }
    /// A count opsctl made (never redacted).
    pub fn count(mut self, n: u64) -> Line {
        self.parts.push((Part::Count(n), None));
        self
    }
    /// Data (redacted).
    pub fn data(mut self, d: impl Into<String>) -> Line {
        self.parts.push((Part::Data(d.into()), None));
        self
    }
    /// Data (redacted), painted on a colour terminal.
    pub fn data_styled(mut self, d: impl Into<String>, style: Style) -> Line {
        self.parts.push((Part::Data(d.into()), Some(style)));
        self
    }

    /// The line as written: data redacted, then painted.
    fn render(&self, p: &Printer) -> String {
        let mut out = String::new();
        for (part, style) in &self.parts {
            let text = match part {
                Part::Word(w) => std::borrow::Cow::Borrowed(*w),
                Part::Count(n) => std::borrow::Cow::Owned(n.to_string()),
                Part::Data(d) => crate::redact::redact(d),
            };
            match style {
                Some(st) => out.push_str(&p.paint(&text, *st)),
                None => out.push_str(&text),
            }
        }
        out
    }
}

static DEFERRED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
static HAS_DEFERRED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A warning found by a loader that has no Printer (e.g. a secret too short to
/// be redacted): printed before the next line any Printer writes.
pub fn defer_warning(msg: impl Into<String>) {
    DEFERRED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(msg.into());
    HAS_DEFERRED.store(true, std::sync::atomic::Ordering::SeqCst);
}

impl Printer {
    fn flush_deferred(&self) {
        if !HAS_DEFERRED.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let pending = std::mem::take(&mut *DEFERRED.lock().unwrap_or_else(|e| e.into_inner()));
        for w in pending {
            self.write_warning(&w);
        }
    }
}

/// Colour for a stream: `NO_COLOR` (set, not empty) turns it off; `FORCE_COLOR` or
/// `CLICOLOR_FORCE` (set, not empty nor `0`) turns it on, in CI and pipes too;
/// else a terminal outside CI (`TERM=dumb` is not one).
fn colour_for(is_terminal: bool) -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
    let forced = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0");
    if set("NO_COLOR") {
        return false;
    }
    if forced("FORCE_COLOR") || forced("CLICOLOR_FORCE") {
        return true;
    }
    is_terminal && !in_ci() && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

fn paint(on: bool, s: &str, style: Style) -> String {
    if !on {
        return s.to_string();
    }
    let code = match style {
        Style::Ok => "32",
        Style::Changed => "33",
        Style::Failed => "31",
        Style::Unreachable => "1;31",
        Style::Dim => "2",
        Style::Bold => "1",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

/// Writes a line (already redacted: by [`crate::redact::redact`], or part by
/// part for a [`Line`]) and flushes at once (line-buffered even into a pipe, so
/// CI logs stream). A closed pipe (`opsctl ... | head`) is not an error.
fn write_raw(w: &mut dyn Write, s: &str) {
    let _ = writeln!(w, "{s}");
    let _ = w.flush();
}
