//! The one place that decides what reaches the terminal: text or JSON lines,
//! quiet or verbose, colour or not (as uv's Printer does).

use std::io::{IsTerminal, Write};

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
    color: bool,
    /// Live status lines at the bottom of a terminal (never in CI, JSON or a pipe).
    live: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
}

impl Printer {
    pub fn new(format: OutputFormat, verbosity: i8) -> Printer {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        let tty = format == OutputFormat::Text && std::io::stdout().is_terminal() && !ci;
        let color = tty && std::env::var_os("NO_COLOR").is_none();
        let live = (tty && verbosity >= 0).then(Default::default);
        Printer {
            format,
            verbosity,
            color,
            live,
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Paints `s` when writing to a colour terminal.
    pub fn paint(&self, s: &str, style: Style) -> String {
        if !self.color {
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

    /// A line of normal output (stdout), suppressed by `-q`... unless it is JSON.
    pub fn line(&self, s: &str) {
        if self.verbosity >= 0 {
            self.result(s);
        }
    }

    /// A line that is the command's result: printed even with `-q`.
    pub fn result(&self, s: &str) {
        match &self.live {
            Some(live) => {
                let live = live.lock().unwrap();
                let mut out = std::io::stdout().lock();
                erase(&mut out, live.len());
                write_line(&mut out, s);
                draw(&mut out, &live);
            }
            None => write_line(&mut std::io::stdout().lock(), s),
        }
    }

    /// Replaces the live status lines (one per busy host) on a terminal; a no-op
    /// elsewhere.
    pub fn set_live(&self, lines: Vec<String>) {
        if let Some(live) = &self.live {
            let mut live = live.lock().unwrap();
            let mut out = std::io::stdout().lock();
            erase(&mut out, live.len());
            *live = lines;
            draw(&mut out, &live);
        }
    }

    /// One JSON document on one line (stdout).
    pub fn json(&self, v: &serde_json::Value) {
        write_line(&mut std::io::stdout().lock(), &v.to_string());
    }

    /// Extra detail shown with `-v` (level 1) or `-vv` (level 2), on stderr.
    pub fn verbose(&self, level: i8, s: &str) {
        if self.verbosity >= level {
            write_line(&mut std::io::stderr().lock(), &self.paint(s, Style::Dim));
        }
    }

    pub fn warn(&self, s: &str) {
        if self.verbosity >= 0 {
            write_line(
                &mut std::io::stderr().lock(),
                &format!("{} {s}", self.paint("warning:", Style::Changed)),
            );
        }
    }

    pub fn error(&self, e: &crate::error::Error) {
        let text = e.to_string();
        let text = text.replacen("error:", &self.paint("error:", Style::Failed), 1);
        write_line(&mut std::io::stderr().lock(), &text);
    }
}

/// Moves up over `n` live lines and clears them.
fn erase(w: &mut dyn Write, n: usize) {
    for _ in 0..n {
        let _ = write!(w, "\x1b[1A\x1b[2K");
    }
}

fn draw(w: &mut dyn Write, lines: &[String]) {
    for l in lines {
        let _ = writeln!(w, "\x1b[2m{l}\x1b[0m");
    }
    let _ = w.flush();
}

/// Writes a line and flushes at once (line-buffered even into a pipe, so CI logs
/// stream). A closed pipe (`opsctl ... | head`) is not an error.
fn write_line(w: &mut dyn Write, s: &str) {
    let _ = writeln!(w, "{s}");
    let _ = w.flush();
}
