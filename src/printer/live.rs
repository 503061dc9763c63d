//! The live area at the bottom of a terminal: one line per busy host, with its
//! current task and how long it has been at it, drawn by indicatif's
//! [`MultiProgress`]. Every other line the [`super::Printer`] writes while the
//! area is up goes above it, inside [`MultiProgress::suspend`]: the area
//! cleared, the line written (with its newline: `MultiProgress::println` would
//! pad it to the width and let it wrap, so that a copy or a resized terminal
//! joins it to the next), the area drawn again. A result, a `-v` line, a warning
//! or a line wider than the terminal never breaks it.
//!
//! While the area is up the terminal does not echo what is typed: a Ctrl-C
//! echoed as `^C` (or any key) would move the cursor under indicatif and leave
//! a stale line behind. The terminal's modes are restored when the area goes
//! (and when opsctl ends). Only the printer decides whether there is an area
//! (a terminal on stdout, text output, not quiet, not in CI).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Hosts shown with a line of their own; the others are counted on one line.
const SHOWN: usize = 10;

/// How often the spinners turn and the elapsed times move.
const TICK: Duration = Duration::from_millis(125);

pub(super) struct Live {
    multi: MultiProgress,
    host_style: ProgressStyle,
    more_style: ProgressStyle,
    /// Host names in bold (a colour terminal).
    bold: bool,
    state: Mutex<State>,
    /// The terminal's modes before echo was turned off (while the area is up).
    echo: Mutex<Option<rustix::termios::Termios>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

#[derive(Default)]
struct State {
    /// The busy hosts in the order they started.
    busy: IndexMap<String, Busy>,
    /// "... and N more hosts busy", when more than [`SHOWN`] are.
    more: Option<ProgressBar>,
}

struct Busy {
    task: String,
    since: Instant,
    /// Its line, when it is one of the [`SHOWN`] first.
    bar: Option<ProgressBar>,
}

impl Live {
    pub(super) fn new(bold: bool) -> Live {
        let style = |t: &str| ProgressStyle::with_template(t).expect("a valid template");
        Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            // `wide_msg` takes what is left of the width and is cut to it: a live
            // line never wraps.
            host_style: style("{spinner} {prefix}  {wide_msg} {elapsed:>3}"),
            more_style: style("  {wide_msg}"),
            bold,
            state: Mutex::new(State::default()),
            echo: Mutex::new(None),
        }
    }

    /// Stops the terminal echoing typed keys (the area is up).
    fn quiet_terminal(&self) {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let mut saved = self.echo.lock().unwrap_or_else(|e| e.into_inner());
        if saved.is_some() {
            return;
        }
        let out = std::io::stdout();
        if let Ok(modes) = tcgetattr(&out) {
            let mut quiet = modes.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            if tcsetattr(&out, OptionalActions::Now, &quiet).is_ok() {
                *saved = Some(modes);
            }
        }
    }

    /// Gives the terminal its modes back (the area is gone).
    fn restore_terminal(&self) {
        let mut saved = self.echo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(modes) = saved.take() {
            let out = std::io::stdout();
            let _ = rustix::termios::tcsetattr(&out, rustix::termios::OptionalActions::Now, &modes);
        }
    }

    /// `host` starts `task` (`None`: it is done, its line goes).
    pub(super) fn busy(&self, host: &str, task: Option<&str>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match task {
            Some(task) => match st.busy.get_mut(host) {
                Some(b) => {
                    b.task = task.to_string();
                    b.since = Instant::now();
                    if let Some(bar) = &b.bar {
                        bar.set_message(task.to_string());
                        bar.reset_elapsed();
                    }
                }
                None => {
                    st.busy.insert(
                        host.to_string(),
                        Busy {
                            task: task.to_string(),
                            since: Instant::now(),
                            bar: None,
                        },
                    );
                }
            },
            None => {
                if let Some(bar) = st.busy.shift_remove(host).and_then(|b| b.bar) {
                    self.drop_bar(&bar);
                }
            }
        }
        self.arrange(&mut st);
    }

    /// Gives a line to the first busy hosts without one (up to [`SHOWN`]) and
    /// counts the others.
    fn arrange(&self, st: &mut State) {
        let State { busy, more } = st;
        let mut shown = busy.values().filter(|b| b.bar.is_some()).count();
        for (host, b) in busy.iter_mut() {
            if shown >= SHOWN {
                break;
            }
            if b.bar.is_some() {
                continue;
            }
            let prefix = if self.bold {
                format!("\x1b[1m{host}\x1b[0m")
            } else {
                host.clone()
            };
            // Styled before it joins the area: a bar drawn before that would
            // be drawn outside it.
            let bar = ProgressBar::new_spinner()
                .with_style(self.host_style.clone())
                .with_prefix(prefix)
                .with_message(b.task.clone())
                .with_elapsed(b.since.elapsed());
            let bar = match more {
                Some(m) => self.multi.insert_before(m, bar),
                None => self.multi.add(bar),
            };
            bar.enable_steady_tick(TICK);
            b.bar = Some(bar);
            shown += 1;
        }
        if busy.is_empty() {
            let _ = self.multi.clear();
            self.restore_terminal();
        } else {
            self.quiet_terminal();
        }
        let waiting = busy.len() - shown;
        if waiting == 0 {
            if let Some(m) = more.take() {
                self.drop_bar(&m);
            }
            return;
        }
        let text = format!("... and {waiting} more hosts busy");
        match more {
            Some(m) => m.set_message(text),
            None => {
                let bar = ProgressBar::new_spinner()
                    .with_style(self.more_style.clone())
                    .with_message(text);
                let bar = self.multi.add(bar);
                bar.tick();
                *more = Some(bar);
            }
        }
    }

    /// Takes a line out of the area; the next draw (a tick, a line written)
    /// erases it. Removed before it is dropped: a bar dropped in the area would
    /// stay on the screen as a finished one.
    fn drop_bar(&self, bar: &ProgressBar) {
        self.multi.remove(bar);
    }

    /// Runs `write` with the area cleared, then draws it again.
    pub(super) fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        self.multi.suspend(write)
    }

    /// Takes the whole area away (the end of a run, an error, an interruption):
    /// what follows is written where it was.
    pub(super) fn clear(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (_, b) in st.busy.drain(..) {
            if let Some(bar) = b.bar {
                self.drop_bar(&bar);
            }
        }
        if let Some(m) = st.more.take() {
            self.drop_bar(&m);
        }
        let _ = self.multi.clear();
        self.restore_terminal();
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.restore_terminal();
    }
}
