//! opsctl on a terminal: the real binary in a pseudo-terminal (rustix's pty),
//! its bytes rendered by a terminal emulator (vt100), and the final screen read
//! back (scrollback included) as the user would see it. A 10-host run with `-v`,
//! warnings, lines wider than the terminal and Ctrl-C must leave whole lines in
//! order, no trace of the live area, the recap last and the cursor shown.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{OPSCTL, Project};

const ROWS: u16 = 24;
const COLS: u16 = 80;

/// What a run left on the terminal.
pub(crate) struct Screen {
    pub code: i32,
    /// The logical lines (a line wider than the terminal is one line here),
    /// scrollback included, trailing blanks cut.
    pub lines: Vec<String>,
    pub cursor_hidden: bool,
    /// The terminal echoes typed keys (its modes as opsctl left them).
    pub echo: bool,
    /// Everything opsctl wrote on the terminal, escape codes included.
    pub raw: String,
    /// What it wrote on the stream given a pipe ([`Term::pipe`]), if any.
    pub piped: String,
}

/// How [`in_terminal`] runs opsctl.
#[derive(Default)]
pub(crate) struct Term<'a> {
    /// Set over a clean environment (no CI, no colour variables).
    pub env: &'a [(&'a str, &'a str)],
    /// Sees the screen as it goes: the first time it says yes, opsctl is
    /// interrupted (a typed Ctrl-C, or SIGTERM with `sigterm`).
    pub stop_when: Option<&'a dyn Fn(&str) -> bool>,
    pub sigterm: bool,
    /// The stream that goes to a pipe instead of the terminal.
    pub pipe: Option<Pipe>,
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Pipe {
    Stdout,
    Stderr,
}

/// Runs opsctl in `cwd` on a new `ROWS`x`COLS` pseudo-terminal (its controlling
/// terminal: stdin, stdout and stderr unless one is piped), as `t` says.
pub(crate) fn in_terminal(cwd: &Path, args: &[&str], t: Term) -> Screen {
    let Term {
        env,
        stop_when: ctrl_c_when,
        sigterm,
        pipe,
    } = t;
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap()
        .into();
    rustix::termios::tcsetwinsize(
        &slave,
        rustix::termios::Winsize {
            ws_row: ROWS,
            ws_col: COLS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .unwrap();
    let mut c = Command::new(OPSCTL);
    c.args(args)
        .current_dir(cwd)
        .env_remove("CI")
        .env_remove("NO_COLOR")
        .env_remove("FORCE_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("OPSCTL_ENV")
        .env_remove("OPSCTL_PROJECT")
        .env("TERM", "xterm-256color")
        .stdin(Stdio::from(slave.try_clone().unwrap()));
    let on_term = || Stdio::from(slave.try_clone().unwrap());
    match pipe {
        Some(Pipe::Stdout) => c.stdout(Stdio::piped()).stderr(on_term()),
        Some(Pipe::Stderr) => c.stdout(on_term()).stderr(Stdio::piped()),
        None => c.stdout(on_term()).stderr(on_term()),
    };
    for (k, v) in env {
        c.env(k, v);
    }
    // SAFETY: setsid and the TIOCSCTTY ioctl are async-signal-safe; the
    // terminal becomes the controlling one, so a typed Ctrl-C signals opsctl's
    // foreground process group as a shell's terminal would.
    unsafe {
        c.pre_exec(|| {
            rustix::process::setsid()?;
            rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
            Ok(())
        });
    }
    let mut child = c.spawn().expect("run opsctl");
    drop(c);
    drop(slave);
    let piped = child
        .stdout
        .take()
        .map(|o| Box::new(o) as Box<dyn Read + Send>)
        .or_else(|| {
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn Read + Send>)
        })
        .map(|mut r| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = r.read_to_string(&mut text);
                text
            })
        });

    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        // EIO once every holder of the terminal is gone.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut term = vt100::Parser::new(ROWS.try_into().unwrap(), COLS.try_into().unwrap(), 5000);
    let mut raw = Vec::new();
    let mut typed = ctrl_c_when.is_none();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(50)) {
            term.process(&chunk);
            raw.extend_from_slice(&chunk);
        }
        if !typed && ctrl_c_when.is_some_and(|f| f(&term.screen().contents())) {
            if sigterm {
                let pid = rustix::process::Pid::from_child(&child);
                rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
            } else {
                rustix::io::write(&master, b"\x03").unwrap();
            }
            typed = true;
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "opsctl did not end");
    };
    // What it wrote before it ended (its children may hold the terminal open).
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(300)) {
        term.process(&chunk);
        raw.extend_from_slice(&chunk);
    }
    assert!(
        typed,
        "the screen never showed what the interruption waited for"
    );
    let echo = rustix::termios::tcgetattr(&master)
        .unwrap()
        .local_modes
        .contains(rustix::termios::LocalModes::ECHO);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    Screen {
        code: status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap()
        }),
        lines: history(&mut term),
        cursor_hidden: term.screen().hide_cursor(),
        echo,
        raw,
        piped: piped.map(|h| h.join().unwrap()).unwrap_or_default(),
    }
}

/// The whole history of the terminal (scrollback and screen) as logical lines.
fn history(term: &mut vt100::Parser) -> Vec<String> {
    let rows = usize::from(ROWS);
    term.screen_mut().set_scrollback(usize::MAX);
    let back = term.screen().scrollback();
    let mut lines: Vec<String> = Vec::new();
    let mut continued = false;
    for i in 0..back + rows {
        // The window at offset `o` shows history lines back-o .. back-o+rows.
        let o = back.saturating_sub(i);
        let row = i - (back - o);
        term.screen_mut().set_scrollback(o);
        let screen = term.screen();
        let text = screen.rows(0, COLS).nth(row).unwrap_or_default();
        if continued {
            lines.last_mut().unwrap().push_str(&text);
        } else {
            lines.push(text);
        }
        continued = screen.row_wrapped(row as u16);
    }
    term.screen_mut().set_scrollback(0);
    let mut lines: Vec<String> = lines.iter().map(|l| l.trim_end().to_string()).collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// Ten hosts on local connections, each at its own pace: results, `-v` lines
/// (stderr), a line wider than the terminal and a warning come while the
/// others are busy.
fn ten_hosts() -> Project {
    let mut hosts = String::from("[web]\n");
    for i in 1..=10 {
        hosts.push_str(&format!(
            "web{i:02} ansible_connection=local pace={}\n",
            i % 4
        ));
    }
    Project::new(&[
        ("ansible.cfg", "[defaults]\n"),
        ("environments/dev/hosts", &hosts),
        (
            "playbooks/site.yml",
            r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: first steps
      command: "sleep 0.{{ pace }}"
      changed_when: false
    - name: a line wider than the terminal
      debug:
        msg: "{{ inventory_hostname }} {{ 'wide ' * 30 }}end"
    - name: middle steps
      command: "sleep 0.{{ 3 - pace }}"
      changed_when: false
    - name: last steps
      command: "sleep 0.{{ pace }}"
      changed_when: false
"#,
        ),
    ])
}

/// The lines of each host kept in their order, the hosts in name order (hosts
/// run in parallel); the lines that name no host where they were. Durations
/// and the project's path filtered.
fn per_host(lines: &[String]) -> String {
    let host = |l: &str| -> Option<String> {
        let w = l.split_whitespace().next()?;
        w.starts_with("web")
            .then(|| w.trim_end_matches(':').to_string())
    };
    let mut out: Vec<String> = Vec::new();
    let mut group: Vec<(String, String)> = Vec::new();
    let flush = |group: &mut Vec<(String, String)>, out: &mut Vec<String>| {
        group.sort_by(|a, b| a.0.cmp(&b.0));
        out.extend(group.drain(..).map(|(_, l)| l));
    };
    for l in lines {
        match host(l) {
            Some(h) => group.push((h, l.clone())),
            None => {
                flush(&mut group, &mut out);
                out.push(l.clone());
            }
        }
    }
    flush(&mut group, &mut out);
    out.join("\n")
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(r"(/[^\s/:]+)*/opsctl-it-[0-9A-Za-z]+", "[PROJECT]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// A 10-host run with `-v` on an 80-column terminal: the screen it leaves is
/// the lines a pipe gets, each whole (wide ones wrapped, not cut or
/// overwritten), with no live line left, the recap last and the cursor shown;
/// the live area was there while it ran (one line per busy host: its task and
/// elapsed time); and not on a pipe, with `--output json`, or in CI.
#[test]
fn a_ten_host_run_with_v_leaves_whole_lines_and_the_recap_last() {
    let p = ten_hosts();
    let args = ["run", "site", "--env", "dev", "-v"];
    let s = in_terminal(p.path(), &args, Term::default());
    assert_eq!(s.code, 0, "{}", s.lines.join("\n"));
    assert!(!s.cursor_hidden && s.echo);
    // The live area was drawn: a host's line with its task and elapsed time...
    let live = regex::Regex::new(r"web\d\d  (first steps|middle steps|last steps)\s+\d+s").unwrap();
    let plain = strip_escapes(&s.raw);
    assert!(live.is_match(&plain), "no live line drawn:\n{plain}");
    // ...and none of it is left.
    for l in &s.lines {
        assert!(!live.is_match(l), "a live line was left: {l:?}");
    }
    let recap = s.lines.iter().position(|l| l == "RECAP").expect("a recap");
    assert_eq!(s.lines.len(), recap + 11, "the recap is last");
    snapshot("terminal_ten_hosts_v", &per_host(&s.lines));

    // The same lines as a pipe gets them (stdout, then stderr), none missing,
    // none extra, none broken.
    let piped = p.opsctl(&args);
    piped.code(0);
    let mut a: Vec<String> = s.lines.clone();
    let mut b: Vec<String> = format!("{}{}", piped.stdout, piped.stderr)
        .lines()
        .map(str::to_string)
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the terminal's lines differ from the pipe's");
    // No live area on a pipe or in JSON mode, or in CI.
    assert!(!piped.stdout.contains('\u{1b}') && !piped.stderr.contains('\u{1b}'));
    let json = in_terminal(
        p.path(),
        &["run", "site", "--env", "dev", "--output", "json"],
        Term::default(),
    );
    assert_eq!(json.code, 0);
    assert!(!live.is_match(&strip_escapes(&json.raw)), "{}", json.raw);
    for l in json.lines.iter().filter(|l| l.starts_with('{')) {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
    let ci = in_terminal(
        p.path(),
        &args,
        Term {
            env: &[("CI", "true")],
            ..Term::default()
        },
    );
    assert_eq!(ci.code, 0);
    assert!(
        !ci.raw.contains('\u{1b}'),
        "CI: no live area, no colour: {:?}",
        ci.raw
    );
}

/// Ctrl-C (typed) or SIGTERM while every host is busy: the live area goes,
/// the interruption is said, the recap is last, the cursor is shown and the
/// terminal echoes again, exit 130 or 143; the local commands (in their own
/// process groups, as on remote hosts) were stopped by opsctl.
#[test]
fn ctrl_c_and_sigterm_leave_the_terminal_clean() {
    let p = ten_hosts();
    p.write(
        "playbooks/long.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: a long wait\n      command: sleep 31.25\n",
    );
    let busy = |screen: &str| screen.matches("a long wait").count() >= 10;
    for (sigterm, code) in [(false, 130), (true, 143)] {
        let t = Term {
            stop_when: Some(&busy),
            sigterm,
            ..Term::default()
        };
        let s = in_terminal(p.path(), &["run", "long", "--env", "dev"], t);
        let screen = s.lines.join("\n");
        assert_eq!(s.code, code, "{screen}");
        assert!(!s.cursor_hidden && s.echo, "{screen}");
        // A live line is `SPINNER HOST  TASK  ELAPSED`; a result line naming
        // the task (a command stopped as opsctl stopped) is not one.
        assert!(
            s.lines
                .iter()
                .all(|l| !l.contains("a long wait") || l.contains(" | FAILED | ")),
            "a live line was left:\n{screen}"
        );
        let recap = s.lines.iter().position(|l| l == "RECAP").expect("a recap");
        assert_eq!(s.lines.len(), recap + 11, "the recap is last:\n{screen}");
        assert!(
            s.lines[..recap]
                .iter()
                .any(|l| l == "warning: opsctl: interrupted: stopping"),
            "{screen}"
        );
        let left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.trim() == "sleep 31.25")
            .collect();
        assert!(left.is_empty(), "commands left running: {left:?}");
    }
}

/// The text without its escape sequences (CSI and lone ESC codes).
fn strip_escapes(s: &str) -> String {
    regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[^\[]")
        .unwrap()
        .replace_all(s, "")
        .into_owned()
}

/// Colour is decided per stream (stdout and stderr apart): a terminal gets it,
/// a pipe or CI does not; `NO_COLOR` (set, not empty) turns it off everywhere;
/// `FORCE_COLOR` or `CLICOLOR_FORCE` (not empty nor `0`) turn it on in pipes
/// and in CI too; JSON on stdout is never coloured. Through the binary: a `-v`
/// run writes results (green `ok`) on stdout and the commands run (dim) on stderr.
#[test]
fn colour_per_stream_no_color_force_color_clicolor_force() {
    let p = crate::run::local(
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n      changed_when: false\n",
    );
    let args = ["run", "site", "--env", "dev", "-v"];
    let sgr = regex::Regex::new(r"\x1b\[[0-9;]*m").unwrap();
    let coloured = |s: &str| sgr.is_match(s);
    let piped = |env: &[(&str, &str)], extra: &[&str]| {
        let mut c = Command::new(OPSCTL);
        c.args(args)
            .args(extra)
            .current_dir(p.path())
            .env_remove("NO_COLOR")
            .env_remove("FORCE_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CI");
        for (k, v) in env {
            c.env(k, v);
        }
        let r = crate::common::Run::from(c.output().unwrap());
        r.code(0);
        (coloured(&r.stdout), coloured(&r.stderr))
    };
    // Pipes: (stdout coloured, stderr coloured).
    assert_eq!(piped(&[], &[]), (false, false));
    for force in [("FORCE_COLOR", "1"), ("CLICOLOR_FORCE", "1")] {
        assert_eq!(piped(&[force], &[]), (true, true), "{force:?}");
        assert_eq!(
            piped(&[force, ("CI", "true")], &[]),
            (true, true),
            "{force:?} in CI"
        );
        assert_eq!(piped(&[force, ("NO_COLOR", "1")], &[]), (false, false));
        // NO_COLOR set but empty does not count.
        assert_eq!(piped(&[force, ("NO_COLOR", "")], &[]), (true, true));
    }
    assert_eq!(piped(&[("FORCE_COLOR", "0")], &[]), (false, false));
    assert_eq!(
        piped(&[("FORCE_COLOR", "1")], &["--output", "json"]),
        (false, true),
        "JSON on stdout is never coloured"
    );
    // A terminal on one stream, a pipe on the other.
    let term = |env: &[(&str, &str)], pipe: Option<Pipe>| {
        let s = in_terminal(
            p.path(),
            &args,
            Term {
                env,
                pipe,
                ..Term::default()
            },
        );
        assert_eq!(s.code, 0, "{}", s.lines.join("\n"));
        (coloured(&s.raw), coloured(&s.piped), s)
    };
    let (t, pipe, s) = term(&[], Some(Pipe::Stderr));
    assert!(
        t && !pipe,
        "stdout on the terminal coloured, stderr piped plain"
    );
    assert!(s.piped.contains("web1 $ "), "{}", s.piped);
    let (t, pipe, s) = term(&[], Some(Pipe::Stdout));
    assert!(
        t && !pipe,
        "stderr on the terminal coloured, stdout piped plain"
    );
    assert!(s.piped.contains("web1 | ok | "), "{}", s.piped);
    let (t, _, _) = term(&[("NO_COLOR", "1")], None);
    assert!(!t, "NO_COLOR: no colour on a terminal");
    let (t, _, _) = term(&[("CI", "true")], None);
    assert!(!t, "CI: no colour on a terminal");
    let (t, _, _) = term(&[("CI", "true"), ("FORCE_COLOR", "1")], None);
    assert!(t, "FORCE_COLOR in CI");
}
