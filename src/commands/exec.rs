//! `opsctl exec`: a shell command on every selected host at once (`-- CMD`),
//! or one module run ad hoc through the engine (`-m MODULE -a ARGS`), as
//! Ansible's `ansible` command does.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::Loaded;
use crate::engine::{self, Options, Reporter};
use crate::error::{Error, Exit, Result};
use crate::printer::{Line, Printer, Style};
use crate::runner::{Connections, fan_out};
use crate::transport::{Chunk, ConnectionSpec, RemoteCommand, TransportError};

/// `opsctl exec`: which hosts, how many at once, and what to run.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub limit: Option<String>,
    pub forks: usize,
    pub what: ExecWhat,
}

#[derive(Debug, Clone)]
pub enum ExecWhat {
    /// `-- CMD`: run with `/bin/sh -c` (the words joined by spaces, as ssh
    /// does), templated per host; `stream`: print lines as they arrive.
    Shell { command: String, stream: bool },
    /// `-m MODULE -a ARGS`: one task through the engine.
    Module {
        name: String,
        args: Option<String>,
        check: bool,
        diff: bool,
    },
}

pub async fn run(loaded: &Loaded, o: ExecOptions, printer: &Printer) -> Result<Exit> {
    match o.what.clone() {
        ExecWhat::Shell { command, stream } => shell(loaded, &o, &command, stream, printer).await,
        ExecWhat::Module {
            name,
            args,
            check,
            diff,
        } => {
            let opts = Options {
                check,
                diff,
                forks: o.forks,
                limit: o.limit.clone(),
                ..Options::default()
            };
            module(loaded, &name, args.as_deref(), &opts, printer).await
        }
    }
}

/// What a command did on one host.
#[derive(Debug, Clone)]
enum Answer {
    Done {
        rc: Option<i32>,
        stdout: String,
        stderr: String,
        ms: u128,
    },
    Unreachable(TransportError),
    /// sudo refused, or the connection broke during the command.
    Error(TransportError),
}

impl Answer {
    fn status(&self) -> &'static str {
        match self {
            Answer::Done { rc: Some(0), .. } => "ok",
            Answer::Done { .. } | Answer::Error(_) => "failed",
            Answer::Unreachable(_) => "unreachable",
        }
    }
}

async fn shell(
    loaded: &Loaded,
    o: &ExecOptions,
    command: &str,
    stream: bool,
    printer: &Printer,
) -> Result<Exit> {
    let hosts = loaded.select(o.limit.as_deref())?;
    // Every host's settings and command are checked before anything connects.
    let mut work_items = Vec::with_capacity(hosts.len());
    for (h, spec) in hosts.iter().zip(loaded.connection_specs(&hosts)?) {
        let script = loaded
            .vars
            .templar
            .render_str(command, &loaded.vars.context(h), None)
            .map_err(|e| {
                Error::new(format!("{h}: the command cannot be templated: {e}"))
                    .hint("`opsctl vars --env ENV HOST` shows the host's variables")
            })?;
        work_items.push((spec, script));
    }
    let conns = Connections::new();
    let c = conns.clone();
    let work = move |(spec, script): (ConnectionSpec, String)| {
        let c = c.clone();
        async move { exec_one(&c, &spec, &script, stream.then_some(printer)).await }
    };
    let journal = crate::journal::active();
    let report = |i: usize, a: Answer| {
        if let Some(j) = &journal {
            j.event(journal_event(&hosts[i], &a));
        }
        print_answer(printer, &hosts[i], &a, stream);
    };
    let Some(answers) =
        super::unless_interrupted(fan_out(work_items, o.forks, work, report), &conns, printer)
            .await
    else {
        return Ok(Exit::Interrupted);
    };
    conns.close_all().await;
    let count = |s: &str| answers.iter().filter(|a| a.status() == s).count();
    let (ok, failed, unreachable) = (count("ok"), count("failed"), count("unreachable"));
    if printer.is_json() {
        printer.json(&json!({"type": "summary", "hosts": answers.len(), "ok": ok,
            "failed": failed, "unreachable": unreachable}));
    } else {
        printer.line(&format!(
            "{} host{}: {ok} ok, {failed} failed, {unreachable} unreachable",
            answers.len(),
            if answers.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(Exit::of_hosts(failed, unreachable))
}

/// Runs the script on one host; with `live`, prints each line as it arrives.
async fn exec_one(
    conns: &Arc<Connections>,
    spec: &ConnectionSpec,
    script: &str,
    live: Option<&Printer>,
) -> Answer {
    let start = Instant::now();
    let conn = match conns.get(spec).await {
        Ok(c) => c,
        Err(e) => return Answer::Unreachable(e),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cmd = RemoteCommand::new(script);
    let collect = async {
        let (mut out, mut err) = (Lines::default(), Lines::default());
        while let Some(chunk) = rx.recv().await {
            let (lines, bytes, is_err) = match chunk {
                Chunk::Out(b) => (&mut out, b, false),
                Chunk::Err(b) => (&mut err, b, true),
            };
            for l in lines.push(&bytes) {
                if let Some(p) = live {
                    print_live(p, &spec.host, &l, is_err);
                }
            }
        }
        for (lines, is_err) in [(&mut out, false), (&mut err, true)] {
            if let Some(l) = lines.finish()
                && let Some(p) = live
            {
                print_live(p, &spec.host, &l, is_err);
            }
        }
        (out.text, err.text)
    };
    let (rc, (stdout, stderr)) = tokio::join!(conn.stream(&cmd, false, tx), collect);
    match rc {
        Ok(rc) => Answer::Done {
            rc,
            stdout,
            stderr,
            ms: start.elapsed().as_millis(),
        },
        Err(e @ TransportError::Disconnected { .. }) => Answer::Unreachable(e),
        Err(e) => Answer::Error(e),
    }
}

/// Splits a stream of bytes into lines, keeping the whole text too.
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
    text: String,
}

impl Lines {
    /// The lines completed by `bytes`.
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            let s = String::from_utf8_lossy(&line[..i]).into_owned();
            self.text.push_str(&s);
            self.text.push('\n');
            out.push(s);
        }
        out
    }

    /// The last line, when the output did not end with a newline.
    fn finish(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        let s = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
        self.text.push_str(&s);
        Some(s)
    }
}

/// `HOST | line` (stdout) or `HOST ! line` (stderr) as it arrives.
fn print_live(p: &Printer, host: &str, line: &str, is_err: bool) {
    if p.is_json() {
        let stream = if is_err { "stderr" } else { "stdout" };
        p.json(&json!({"type": "line", "host": host, "stream": stream, "line": line}));
        return;
    }
    let sep = if is_err { " ! " } else { " | " };
    p.result_line(&Line::new().data(host).word(sep).data(line));
}

fn rc_text(rc: Option<i32>) -> String {
    rc.map(|c| c.to_string()).unwrap_or_else(|| "signal".into())
}

/// One host's result: `HOST | SUCCESS | rc=0 >>` and its output (the output
/// was printed already with `--stream`).
fn print_answer(printer: &Printer, host: &str, a: &Answer, streamed: bool) {
    if printer.is_json() {
        let v = match a {
            Answer::Done {
                rc,
                stdout,
                stderr,
                ms,
            } => {
                let mut v = json!({"type": "host", "host": host, "status": a.status(), "rc": rc,
                    "duration_ms": ms});
                if !streamed {
                    v["stdout"] = json!(stdout);
                    v["stderr"] = json!(stderr);
                }
                v
            }
            Answer::Unreachable(e) | Answer::Error(e) => json!({"type": "host", "host": host,
                "status": a.status(), "error": {"kind": e.kind(), "message": e.to_string(), "hint": e.hint()}}),
        };
        printer.json(&v);
        return;
    }
    match a {
        Answer::Done {
            rc, stdout, stderr, ..
        } => {
            let (word, style) = if a.status() == "ok" {
                ("SUCCESS", Style::Ok)
            } else {
                ("FAILED", Style::Failed)
            };
            let mut line = Line::new()
                .data(host)
                .word(" | ")
                .styled(word, style)
                .word(" | rc=")
                .data(rc_text(*rc));
            let quiet = stdout.is_empty() && stderr.is_empty();
            if !streamed && !quiet {
                line = line.word(" >>");
            }
            printer.result_line(&line);
            if !streamed {
                for l in stdout.lines().chain(stderr.lines()) {
                    printer.result_line(&Line::new().data(l));
                }
            }
        }
        Answer::Unreachable(e) | Answer::Error(e) => {
            let word = if a.status() == "unreachable" {
                "UNREACHABLE!"
            } else {
                "FAILED"
            };
            printer.result_line(
                &Line::new()
                    .data(host)
                    .word(" | ")
                    .styled(word, Style::Unreachable)
                    .word(": ")
                    .data(e.to_string()),
            );
            if let Some(h) = e.hint() {
                printer.line(&format!("    hint: {h}"));
            }
        }
    }
}

/// A host's result as a task result of the run journal (`--limit @failed`
/// reads it back).
fn journal_event(host: &str, a: &Answer) -> serde_json::Value {
    let (ms, msg) = match a {
        Answer::Done { rc, stderr, ms, .. } => {
            let tail: String = stderr
                .lines()
                .last()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect();
            let msg = if tail.is_empty() {
                format!("rc={}", rc_text(*rc))
            } else {
                format!("rc={}: {tail}", rc_text(*rc))
            };
            (*ms, msg)
        }
        Answer::Unreachable(e) | Answer::Error(e) => (
            0,
            match e.hint() {
                Some(h) => format!("{e}\nhint: {h}"),
                None => e.to_string(),
            },
        ),
    };
    json!({"type": "task", "host": host, "task": "exec", "status": a.status(),
           "changed": false, "duration_ms": ms, "msg": msg})
}

/// The name the ad hoc task's play is given in messages (a file that does not
/// exist: relative paths in the arguments resolve against the current directory).
const AD_HOC: &str = "(ad hoc)";

/// `-m MODULE -a ARGS`: one task, run by the engine on every selected host.
async fn module(
    loaded: &Loaded,
    name: &str,
    args: Option<&str>,
    opts: &Options,
    printer: &Printer,
) -> Result<Exit> {
    // Selecting nothing is an error before anything loads.
    loaded.select(opts.limit.as_deref())?;
    let source = ad_hoc_playbook(name, args)?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let root = loaded.target.project.as_ref().map(|p| p.root.clone());
    let playbook =
        crate::playbook::load_playbook_source(&cwd.join(AD_HOC), &source, root.as_deref())
            .map_err(|e| {
                e.to_error().hint(format!(
                    "{AD_HOC} is the task of `-m {name}{}` on the command line",
                    args.map(|a| format!(" -a {}", crate::transport::shell_quote(a)))
                        .unwrap_or_default()
                ))
            })?;
    let reporter = Reporter::new(printer, opts.diff)
        .with_journal(crate::journal::active())
        .ad_hoc();
    let conns = Connections::new();
    let exit = engine::run(loaded, &playbook, opts, &reporter, conns.clone()).await;
    conns.close_all().await;
    exit
}

/// The playbook of one ad hoc task: `-a` as the module's free-form or
/// `key=value` string, or a YAML/JSON mapping of its arguments.
fn ad_hoc_playbook(name: &str, args: Option<&str>) -> Result<String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.".contains(c))
    {
        return Err(Error::new(format!("-m {name}: not a module name"))
            .hint("give a module such as `-m ping`, `-m apt`, `-m ansible.builtin.file`"));
    }
    let args_yaml = match args.map(str::trim) {
        None | Some("") => "{}".to_string(),
        Some(a) => match mapping(name, a) {
            Some(m) => m.to_string(),
            None => serde_json::Value::from(a).to_string(),
        },
    };
    Ok(format!(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: {}\n      {name}: {args_yaml}\n",
        serde_json::Value::from(name)
    ))
}

/// `-a` as a mapping, when it is written as one in JSON or YAML (`{"k": 1}`;
/// `k: v` except for the free-form modules, whose `echo a: b` is a command);
/// `None` for `key=value` and free-form strings.
fn mapping(module: &str, a: &str) -> Option<serde_json::Value> {
    let short = module.strip_prefix("ansible.builtin.").unwrap_or(module);
    let free_form = matches!(short, "command" | "shell" | "raw" | "script");
    if !a.starts_with('{') && (free_form || a.contains('=')) {
        return None;
    }
    let node = crate::yaml::parse(a, std::path::Path::new("-a")).ok()?;
    node.as_map()?;
    Some(node.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let mut l = Lines::default();
        assert!(l.push(b"ab").is_empty());
        assert_eq!(l.push(b"c\nde\nf"), vec!["abc", "de"]);
        assert_eq!(l.finish().as_deref(), Some("f"));
        assert_eq!(l.text, "abc\nde\nf");
        assert_eq!(l.finish(), None);
    }

    #[test]
    fn ad_hoc_arguments() {
        let p = ad_hoc_playbook("file", Some("path=/tmp/x state=touch")).unwrap();
        assert!(p.contains(r#"file: "path=/tmp/x state=touch""#), "{p}");
        let p = ad_hoc_playbook("copy", Some(r#"{"dest": "/tmp/y", "content": "a: b"}"#)).unwrap();
        assert!(
            p.contains(r#"copy: {"dest":"/tmp/y","content":"a: b"}"#),
            "{p}"
        );
        let p = ad_hoc_playbook("shell", Some("echo a: b")).unwrap();
        assert!(p.contains(r#"shell: "echo a: b""#), "{p}");
        let p = ad_hoc_playbook("file", Some("path: /tmp/z\nstate: touch")).unwrap();
        assert!(
            p.contains(r#"file: {"path":"/tmp/z","state":"touch"}"#),
            "{p}"
        );
        let p = ad_hoc_playbook("ping", None).unwrap();
        assert!(p.contains("ping: {}"), "{p}");
        let e = ad_hoc_playbook("a b", None).unwrap_err();
        assert!(e.to_string().contains("-m a b: not a module name"), "{e}");
    }
}
