//! The maintenance page: while it is on, nginx answers every request of the
//! site with a 503 and a static page (the message, `Retry-After`), except the
//! exempt paths (the health endpoint, ACME challenges) and the allowed addresses
//! (`maintenance_allow`, and the host itself). See docs/maintenance.md.
//!
//! On a host it is two files in [`DIR`]: `index.html`, the page (nginx's site,
//! `roles/nginx/templates/site.conf.j2`, tests its existence on every request,
//! so turning it on or off needs no reload and drops no connection), and
//! `state`, one JSON line ([`State`]: since when, by what, who, the message).
//! The page appears last and goes first, each by an atomic rename or unlink.
//!
//! The API other commands use (`maintenance`, `deploy`, and `restore`), on the
//! hosts of a [`Hosts`] (the web hosts: `Hosts::load(loaded, limit, "deploy")`):
//! - [`enter`]: turn the page on. `by` names who: [`BY_HAND`] (an operator,
//!   `opsctl maintenance on`) replaces a page that is on (its message); any
//!   other (`deploy`, `restore`) leaves a page that is on as it is and says so
//!   ([`Entered::Already`]), so that command does not turn it off afterwards.
//! - [`leave`]: turn it off; with `only_by`, only a page that `by` turned on
//!   (a deploy never removes the page an operator put up).
//! - [`states`]: what is on, per host.
//!
//! Each returns one result per host, in the order of `hosts.names`; the hosts
//! are asked at once. The scripts and their parsing are pure and tested here.

use serde::{Deserialize, Serialize};

use super::hosts::{Hosts, controller_user, now};
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;
use crate::transport::shell_quote;

/// Where the page and its state live on a host (the nginx site names it too).
pub const DIR: &str = "/var/lib/opsctl/maintenance";

/// `by` of a page an operator turned on (`opsctl maintenance on`).
pub const BY_HAND: &str = "hand";

/// The message when neither `--message` nor `maintenance_message` gives one.
pub const DEFAULT_MESSAGE: &str =
    "The site is down for maintenance. Please try again in a few minutes.";

/// The page's state on a host (`DIR/state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// When it was turned on (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub since: String,
    /// What turned it on: [`BY_HAND`], `deploy`, `restore`...
    pub by: String,
    /// `user@machine` of whoever ran that command.
    pub user: String,
    pub message: String,
}

impl State {
    /// A state turned on now by `by` on this machine.
    pub fn now(by: &str, message: &str) -> State {
        State {
            since: super::iso_time(now()),
            by: by.to_string(),
            user: controller_user(),
            message: message.to_string(),
        }
    }

    /// `since T by hand (U): MESSAGE` / `since T by a deploy (U): MESSAGE`.
    pub fn describe(&self) -> String {
        let by = if self.by == BY_HAND {
            "by hand".to_string()
        } else {
            format!("by a {}", self.by)
        };
        format!(
            "since {} {by} ({}): {}",
            self.since, self.user, self.message
        )
    }
}

/// What [`enter`] did on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entered {
    /// The page is on now; it replaced the one that was on (`Some`), if any.
    On(Option<State>),
    /// It was on already (turned on by someone else) and is left as it was.
    Already(Option<State>),
}

/// What [`leave`] did on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Left {
    /// Turned off; it had been on with this state (`None`: no readable state).
    Off(Option<State>),
    /// Left on: someone other than `only_by` turned it on.
    Kept(Option<State>),
    /// It was not on.
    WasOff,
}

/// The page: a small self-contained HTML document with the message, escaped
/// (`&`, `<`, `>`, quotes as entities; control characters dropped).
pub fn page(message: &str) -> String {
    let text = crate::journal::junit::escape_text(message);
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Down for maintenance</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:36em;margin:15vh auto;padding:0 1em;color:#222}}\
         h1{{font-size:1.5em}}</style>\n</head>\n<body>\n<h1>Down for maintenance</h1>\n\
         <p class=\"message\">{text}</p>\n</body>\n</html>\n"
    )
}

/// The start every script shares: the directory, and a check that the live
/// nginx site has the switch (`nosite` otherwise: a site rendered by an older
/// opsctl would never show the page).
fn prelude() -> String {
    format!(
        "set -u\nd={}\n\
         if ! grep -qs opsctl-maintenance /etc/nginx/sites-enabled/*; then echo nosite; exit 0; fi\n",
        shell_quote(DIR)
    )
}

/// Turns the page on with `state`. `replace`: also when it is on already (its
/// message and state replaced); else a page that is on is left alone. Prints
/// `on|PREVIOUS STATE` or `already|STATE` (or `nosite`).
pub fn enter_script(state: &State, replace: bool) -> String {
    let json = serde_json::to_string(state).unwrap_or_default();
    format!(
        "{}if [ -f \"$d/index.html\" ]; then prev=$(head -n 1 \"$d/state\" 2>/dev/null); else prev=; fi\n\
         if [ -f \"$d/index.html\" ] && [ {} = 0 ]; then echo \"already|$prev\"; exit 0; fi\n\
         umask 022\nmkdir -p \"$d\" || exit 3\n\
         printf '%s\\n' {} > \"$d/.state.new\" && mv -f \"$d/.state.new\" \"$d/state\" || exit 3\n\
         printf '%s' {} > \"$d/.index.new\" && mv -f \"$d/.index.new\" \"$d/index.html\" || exit 3\n\
         echo \"on|$prev\"\n",
        prelude(),
        u8::from(replace),
        shell_quote(&json),
        shell_quote(&page(&state.message)),
    )
}

/// Turns the page off; with `only_by`, only a page that `only_by` turned on.
/// Prints `off|STATE`, `kept|STATE` or `wasoff` (or `nosite`).
pub fn leave_script(only_by: Option<&str>) -> String {
    let keep = match only_by {
        Some(by) => format!(
            "if ! printf '%s' \"$st\" | grep -qF {}; then echo \"kept|$st\"; exit 0; fi\n",
            shell_quote(&format!("\"by\":{}", serde_json::Value::from(by)))
        ),
        None => String::new(),
    };
    format!(
        "{}if [ ! -f \"$d/index.html\" ]; then rm -f \"$d/state\"; echo wasoff; exit 0; fi\n\
         st=$(head -n 1 \"$d/state\" 2>/dev/null)\n{keep}\
         rm -f \"$d/index.html\" || exit 3\nrm -f \"$d/state\"\necho \"off|$st\"\n",
        prelude()
    )
}

/// Prints `on|STATE` or `wasoff` (or `nosite`).
pub fn state_script() -> String {
    format!(
        "{}if [ -f \"$d/index.html\" ]; then echo \"on|$(head -n 1 \"$d/state\" 2>/dev/null)\"; else echo wasoff; fi\n",
        prelude()
    )
}

/// What one of the scripts printed: its word and the state after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub word: String,
    pub state: Option<State>,
}

pub fn parse(stdout: &str) -> Option<Answer> {
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty())?;
    let (word, rest) = line.split_once('|').unwrap_or((line, ""));
    if !["on", "already", "off", "kept", "wasoff", "nosite"].contains(&word) {
        return None;
    }
    Some(Answer {
        word: word.to_string(),
        state: serde_json::from_str(rest.trim()).ok(),
    })
}

/// Runs `script` as root on every host at once; one parsed answer per host.
async fn ask_all(hosts: &Hosts, script: impl Fn(usize) -> String) -> Vec<Result<Answer>> {
    let all: Vec<usize> = (0..hosts.names.len()).collect();
    ask(hosts, &all, script).await
}

/// Runs `script` as root on the hosts `which` (indices) at once; one parsed
/// answer per host of `which`.
async fn ask(
    hosts: &Hosts,
    which: &[usize],
    script: impl Fn(usize) -> String,
) -> Vec<Result<Answer>> {
    let asks = which.iter().map(|&i| {
        let s = script(i);
        async move {
            let out = hosts.run_root(i, s).await?;
            let host = &hosts.names[i];
            match parse(&out.stdout_str()) {
                Some(a) if a.word == "nosite" => Err(Error::new(format!(
                    "host {host}: the nginx site has no maintenance switch (it was rendered by an older opsctl)"
                ))
                .hint("run `opsctl provision --env ENV --tags site` first (roles/nginx)")
                .exit(Exit::Failed)),
                Some(a) => Ok(a),
                None => Err(Error::new(format!(
                    "host {host}: cannot switch the maintenance page in {DIR} (exit {}): {}",
                    out.rc.map(|c| c.to_string()).unwrap_or_else(|| "signal".into()),
                    out.stderr_str().trim()
                ))
                .hint("opsctl needs root on the host (ansible_user root, or sudo without a password)")
                .exit(Exit::Failed)),
            }
        }
    });
    futures::future::join_all(asks).await
}

/// Turns the page on, on every host, with `message` (else each host's
/// `maintenance_message`, else [`DEFAULT_MESSAGE`]). See the module's doc for `by`.
pub async fn enter(hosts: &Hosts, by: &str, message: Option<&str>) -> Vec<Result<Entered>> {
    let all: Vec<usize> = (0..hosts.names.len()).collect();
    enter_on(hosts, by, &all, message).await
}

/// [`enter`] on the hosts `which` (indices) only: one result per host of `which`.
pub async fn enter_on(
    hosts: &Hosts,
    by: &str,
    which: &[usize],
    message: Option<&str>,
) -> Vec<Result<Entered>> {
    let mut scripts = Vec::new();
    for &i in which {
        let msg = match message {
            Some(m) => Ok(m.to_string()),
            None => hosts
                .var(i, "maintenance_message")
                .map(|m| m.unwrap_or_else(|| DEFAULT_MESSAGE.into())),
        };
        scripts.push(msg.map(|m| enter_script(&State::now(by, &m), by == BY_HAND)));
    }
    let text: Vec<String> = scripts
        .iter()
        .map(|s| s.as_ref().cloned().unwrap_or_default())
        .collect();
    let pos = |i: usize| which.iter().position(|w| *w == i).unwrap_or(0);
    let answers = ask(hosts, which, |i| text[pos(i)].clone()).await;
    scripts
        .into_iter()
        .zip(answers)
        .map(|(script, answer)| {
            script?;
            let a = answer?;
            Ok(if a.word == "already" {
                Entered::Already(a.state)
            } else {
                Entered::On(a.state)
            })
        })
        .collect()
}

/// Turns the page off on every host; with `only_by`, only where `only_by`
/// turned it on.
pub async fn leave(hosts: &Hosts, only_by: Option<&str>) -> Vec<Result<Left>> {
    let script = leave_script(only_by);
    ask_all(hosts, |_| script.clone())
        .await
        .into_iter()
        .map(|a| {
            let a = a?;
            Ok(match a.word.as_str() {
                "off" => Left::Off(a.state),
                "kept" => Left::Kept(a.state),
                _ => Left::WasOff,
            })
        })
        .collect()
}

/// Turns off the pages `by` turned on (never one turned on by hand), printing
/// a warning per host where one was on, with `why`. A host whose nginx site
/// has no switch has no page: nothing to say.
pub async fn leave_saying(hosts: &Hosts, by: &str, why: &str, printer: &Printer) {
    for (host, left) in hosts.names.iter().zip(leave(hosts, Some(by)).await) {
        match left {
            Ok(Left::Off(st)) => printer.warn(&format!(
                "{host}: maintenance page off ({why}{})",
                st.map(|s| format!("; it was on {}", s.describe()))
                    .unwrap_or_default()
            )),
            Ok(_) => {}
            Err(e) if e.message.contains("no maintenance switch") => {}
            Err(e) => printer.warn(&format!(
                "{host}: cannot check the maintenance page: {}",
                e.message
            )),
        }
    }
}

/// Per host: `Some(state)` while the page is on (a page without a readable
/// state has an empty one), `None` when it is off.
pub async fn states(hosts: &Hosts) -> Vec<Result<Option<State>>> {
    let script = state_script();
    ask_all(hosts, |_| script.clone())
        .await
        .into_iter()
        .map(|a| {
            let a = a?;
            Ok((a.word == "on").then(|| a.state.unwrap_or_else(unknown)))
        })
        .collect()
}

/// The state of a page whose state file is missing or unreadable.
fn unknown() -> State {
    State {
        since: "?".into(),
        by: "?".into(),
        user: "?".into(),
        message: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn the_page_escapes_the_message() {
        let p = page("Back at <b>5</b> & \"soon\" 'ok'\u{7}");
        assert!(
            p.contains(
                "<p class=\"message\">Back at &lt;b&gt;5&lt;/b&gt; &amp; &quot;soon&quot; &apos;ok&apos;</p>"
            ),
            "{p}"
        );
        assert!(!p.contains("<b>"));
    }

    fn state(by: &str, message: &str) -> State {
        State {
            since: "2026-01-02T03:04:05Z".into(),
            by: by.into(),
            user: "ann@ctl".into(),
            message: message.into(),
        }
    }

    /// Runs a script with `DIR` replaced by a scratch directory and the site
    /// check pointed at a scratch site file (`site`: whether it has the switch).
    fn sh(dir: &std::path::Path, site: bool, script: &str) -> Answer {
        let sites = dir.join("sites");
        std::fs::create_dir_all(&sites).unwrap();
        let text = if site {
            "# opsctl-maintenance\n"
        } else {
            "server {}\n"
        };
        std::fs::write(sites.join("app"), text).unwrap();
        let script = script
            .replace(DIR, &dir.join("m").to_string_lossy())
            .replace("/etc/nginx/sites-enabled", &sites.to_string_lossy());
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{script}\n{out:?}");
        parse(&String::from_utf8_lossy(&out.stdout)).unwrap()
    }

    #[test]
    fn scripts_remember_who_turned_it_on() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let page_file = d.join("m/index.html");
        // Off: nothing to leave; the state says so.
        assert_eq!(sh(d, true, &state_script()).word, "wasoff");
        assert_eq!(sh(d, true, &leave_script(None)).word, "wasoff");
        // A deploy turns it on; the page has its message.
        let deploy = state("deploy", "migrating <db>");
        let a = sh(d, true, &enter_script(&deploy, false));
        assert_eq!((a.word.as_str(), a.state), ("on", None));
        let html = std::fs::read_to_string(&page_file).unwrap();
        assert!(html.contains("migrating &lt;db&gt;"), "{html}");
        let on = sh(d, true, &state_script());
        assert_eq!((on.word.as_str(), on.state), ("on", Some(deploy.clone())));
        // The operator takes it over (replacing the message)...
        let hand = state(BY_HAND, "back at 5");
        let a = sh(d, true, &enter_script(&hand, true));
        assert_eq!(a.state, Some(deploy.clone()));
        // ...so a second deploy leaves it, and the deploy's leave keeps it.
        let a = sh(d, true, &enter_script(&deploy, false));
        assert_eq!((a.word.as_str(), a.state), ("already", Some(hand.clone())));
        let a = sh(d, true, &leave_script(Some("deploy")));
        assert_eq!((a.word.as_str(), a.state), ("kept", Some(hand.clone())));
        assert!(
            std::fs::read_to_string(&page_file)
                .unwrap()
                .contains("back at 5")
        );
        // By hand: off, whoever turned it on.
        let a = sh(d, true, &leave_script(None));
        assert_eq!((a.word.as_str(), a.state), ("off", Some(hand)));
        assert!(!page_file.exists() && !d.join("m/state").exists());
        // A deploy's own page goes with the deploy's leave.
        sh(d, true, &enter_script(&deploy, false));
        let a = sh(d, true, &leave_script(Some("deploy")));
        assert_eq!((a.word.as_str(), a.state), ("off", Some(deploy)));
        assert!(!page_file.exists());
        // A site without the switch: refused, nothing written.
        let other = tempfile::tempdir().unwrap();
        let a = sh(
            other.path(),
            false,
            &enter_script(&state(BY_HAND, "x"), true),
        );
        assert_eq!(a.word, "nosite");
        assert!(!other.path().join("m").exists());
    }

    #[test]
    fn describe_says_who() {
        assert_eq!(
            state(BY_HAND, "back soon").describe(),
            "since 2026-01-02T03:04:05Z by hand (ann@ctl): back soon"
        );
        assert!(state("deploy", "m").describe().contains("by a deploy"));
        assert_eq!(parse("garbage\n"), None);
    }
}
