//! Runs a deploy's hooks (`deploy_hooks`, parsed in [`super::rollout`]) and sends
//! its webhook (`deploy_webhook_url`, a secret): what `deploy` and `rollback`
//! share. Not pure: a hook runs a process here or a command over the hosts'
//! connections, the webhook is a POST with `ureq` (opsctl's one HTTP client).

use std::path::Path;
use std::time::Duration;

use super::hosts::Hosts;
use super::rollout::{Event, Hook, Place, When};
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;
use crate::transport::shell_quote;

/// `export K='V'; ...` for a remote hook.
fn exports(event: &Event) -> String {
    event
        .vars()
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
        .collect()
}

/// Prints what a hook printed, each line under its heading.
fn show(printer: &Printer, head: &str, stdout: &[u8], stderr: &[u8]) {
    printer.result(head);
    for text in [stdout, stderr] {
        for line in String::from_utf8_lossy(text).lines() {
            printer.result(&format!("    {line}"));
        }
    }
}

/// A deploy's hooks, with where they run: the deploy's hosts, the project's root.
pub struct Hooks<'a> {
    pub hosts: &'a Hosts,
    pub hooks: &'a [Hook],
    pub root: &'a Path,
    pub printer: &'a Printer,
}

impl Hooks<'_> {
    /// Runs the hooks of `when` after the deploy's outcome is known: a failing
    /// one is a warning (what was done stays done).
    pub async fn run_after(&self, when: When, event: &Event) {
        if let Err(e) = self.run(when, event).await {
            self.printer.warn(&e.message);
        }
    }

    /// Runs the hooks of `when`, in order, printing each one's output. The
    /// first that fails stops the others and is the error (exit 2), naming it.
    pub async fn run(&self, when: When, event: &Event) -> Result<()> {
        let Hooks {
            hosts,
            hooks,
            root,
            printer,
        } = *self;
        run(hosts, hooks, when, event, root, printer).await
    }
}

async fn run(
    hosts: &Hosts,
    hooks: &[Hook],
    when: When,
    event: &Event,
    root: &Path,
    printer: &Printer,
) -> Result<()> {
    for (n, hook) in hooks.iter().filter(|h| h.when == when).enumerate() {
        let name = format!("deploy_hooks.{}[{n}]", when.as_str());
        match &hook.place {
            Place::Local => {
                let (cmd, dir, vars) = (hook.command.clone(), root.to_path_buf(), event.vars());
                let out = tokio::process::Command::new("/bin/sh")
                    .args(["-c", &cmd])
                    .current_dir(&dir)
                    .envs(vars)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .await
                    .map_err(|e| Error::new(format!("{name}: cannot run /bin/sh: {e}")))?;
                show(
                    printer,
                    &format!("hook {} (local): {}", when.as_str(), hook.command),
                    &out.stdout,
                    &out.stderr,
                );
                if !out.status.success() {
                    return Err(Error::new(format!(
                        "{name} (local: {}) failed (exit {})",
                        hook.command,
                        out.status
                            .code()
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "signal".into())
                    ))
                    .exit(Exit::Failed));
                }
            }
            Place::Remote { run_once, as_root } => {
                let script = format!("{}{}", exports(event), hook.command);
                let which = if *run_once { 1 } else { hosts.names.len() };
                for i in 0..which {
                    let host = &hosts.names[i];
                    let out = if *as_root {
                        hosts.run_root(i, script.clone()).await
                    } else {
                        hosts.run(i, script.clone()).await
                    }?;
                    show(
                        printer,
                        &format!("{host} | hook {} (remote): {}", when.as_str(), hook.command),
                        &out.stdout,
                        &out.stderr,
                    );
                    if !out.success() {
                        return Err(Error::new(format!(
                            "{name} (remote: {}) failed on {host} (exit {})",
                            hook.command,
                            out.rc
                                .map(|c| c.to_string())
                                .unwrap_or_else(|| "signal".into())
                        ))
                        .exit(Exit::Failed));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Sends `event` to the webhook at `url` (a secret: never printed; an error
/// says what failed without it). A failure is a warning, never the deploy's.
pub async fn notify(url: Option<&str>, event: &Event, printer: &Printer) {
    let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return;
    };
    let (url, body) = (url.to_string(), event.webhook().to_string());
    let sent = tokio::task::spawn_blocking(move || post(&url, &body)).await;
    match sent {
        Ok(Ok(())) => printer.verbose(
            1,
            &format!("webhook: {} {} sent", event.action, event.result),
        ),
        Ok(Err(why)) => printer.warn(&format!(
            "the {} notification was not delivered to deploy_webhook_url: {why}",
            event.action
        )),
        Err(_) => printer.warn("the notification was not sent (its thread stopped)"),
    }
}

/// POSTs `body` (JSON) to `url`; the error says why without the URL.
fn post(url: &str, body: &str) -> std::result::Result<(), String> {
    if !crate::http::is_http_url(url) {
        return Err("it is not an http(s) URL".into());
    }
    crate::http::agent(Duration::from_secs(10))
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .map(|_| ())
        .map_err(|e| match e {
            ureq::Error::StatusCode(code) => format!("it answered HTTP {code}"),
            ureq::Error::Timeout(_) => "no answer within 10 s".into(),
            ureq::Error::Io(io) => format!("{}", io.kind()),
            ureq::Error::HostNotFound => "its host name does not resolve".into(),
            ureq::Error::ConnectionFailed => "the connection failed".into(),
            _ => "the request failed".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A real loopback server that answers every request with `status`, and
    /// hands back what it received.
    fn server(status: &'static str) -> (u16, std::thread::JoinHandle<String>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&got).contains("\"text\"") {
                    break;
                }
            }
            let _ = s.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            String::from_utf8_lossy(&got).into_owned()
        });
        (port, h)
    }

    #[test]
    fn posts_json_and_says_why_it_failed_without_the_url() {
        let body = r#"{"text":"deploy of main"}"#;
        let (port, h) = server("200 OK");
        post(&format!("http://127.0.0.1:{port}/T0ken-ok"), body).unwrap();
        let got = h.join().unwrap();
        assert!(got.starts_with("POST /T0ken-ok HTTP/1.1"), "{got}");
        assert!(
            got.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{got}"
        );
        assert!(got.ends_with(body), "{got}");

        let (port, h) = server("500 Internal Server Error");
        let e = post(&format!("http://127.0.0.1:{port}/T0ken-500"), body).unwrap_err();
        h.join().unwrap();
        assert_eq!(e, "it answered HTTP 500");

        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = post(&format!("http://127.0.0.1:{port}/T0ken-closed"), body).unwrap_err();
        assert!(!e.contains("T0ken") && !e.contains("127.0.0.1"), "{e}");
        assert!(
            post("ftp://example.org/T0ken", body)
                .unwrap_err()
                .contains("not an http(s) URL")
        );
    }
}
