//! Handlers: run when notified, and the ones a failed host could not run
//! written to the host (`/var/lib/opsctl/pending-handlers`) for the next run.
//! That file is read by the play's first exec: the facts script, else the
//! first gather exec (`read_ahead`), else alone before the play's last flush
//! (or a `meta: flush_handlers`) or a save (`ensure_pending`): the file is
//! never written before it was read, and its handlers run at the first flush
//! after it was read.

use super::*;

impl<'e, 'a> HostRun<'e, 'a> {
    /// Runs the notified handlers, in their definition order, each once;
    /// with `read_pending`, the pending ones too, read now if no exec of the
    /// play read them yet (else they wait for the first gather exec).
    pub(super) async fn flush_handlers(&mut self, read_pending: bool) -> Flow {
        if read_pending && let Err((status, msg)) = self.ensure_pending().await {
            let loc = self.play.location.clone();
            report_simple(self.eng, &self.host, "pending handlers", &loc, status, &msg);
            return if status == Status::Unreachable {
                Flow::Unreachable
            } else {
                Flow::Failed
            };
        }
        if self.notified.is_empty() {
            return Flow::Continue;
        }
        let handlers: Vec<Task> = self.all_handlers().into_iter().cloned().collect();
        let notified = std::mem::take(&mut self.notified);
        let mut pending: Vec<String> = notified.clone();
        for h in &handlers {
            if !notified.iter().any(|n| handler_matches(h, n)) {
                continue;
            }
            let flow = Box::pin(self.task(h, &[], &[])).await;
            pending.retain(|n| !handler_matches(h, n));
            if flow != Flow::Continue {
                // What did not run yet stays pending.
                self.notified = pending;
                return flow;
            }
        }
        Flow::Continue
    }

    /// What the pending-handlers file held: the play's handlers among them are
    /// notified, the others (other plays') written back untouched.
    pub(super) fn take_pending(&mut self, pending: Vec<String>) {
        self.pending_unread = false;
        let (ours, theirs): (Vec<String>, Vec<String>) = pending
            .into_iter()
            .partition(|name| self.play.handlers.iter().any(|h| handler_matches(h, name)));
        // only other plays' handlers: the file stays as it is
        self.had_pending = !ours.is_empty();
        for n in ours {
            if !self.notified.contains(&n) {
                self.notified.push(n);
            }
        }
        self.foreign_pending = theirs;
    }

    /// Reads the pending handlers in an exec of their own when no earlier
    /// exec of the play read them. `Err`: why it could not (the host is
    /// unreachable when the status says so).
    pub(super) async fn ensure_pending(&mut self) -> Result<(), (Status, String)> {
        if !self.pending_unread {
            return Ok(());
        }
        let Some(conn) = self.conn.clone() else {
            return Ok(());
        };
        let cmd = self.play_command(facts::pending_read(), None);
        match conn.run(&cmd).await {
            Ok(out) if out.success() => {
                self.take_pending(facts::pending_names(&out.stdout_str()));
                Ok(())
            }
            Ok(out) => Err((
                Status::Failed,
                format!(
                    "reading the pending handlers failed (exit {:?}): {}",
                    out.rc,
                    out.stderr_str().trim()
                ),
            )),
            Err(e) => Err((
                if matches!(e, crate::transport::TransportError::Disconnected { .. }) {
                    Status::Unreachable
                } else {
                    Status::Failed
                },
                match e.hint() {
                    Some(h) => format!("reading the pending handlers failed: {e} (hint: {h})"),
                    None => format!("reading the pending handlers failed: {e}"),
                },
            )),
        }
    }

    /// Writes (or clears) the handlers still pending on the host (after reading
    /// what it held: nothing pending is ever overwritten unread). A check run
    /// changes nothing: what was pending stays pending.
    pub(super) async fn save_pending(&mut self) {
        if self.eng.opts.check {
            return;
        }
        if let Err((_, msg)) = self.ensure_pending().await {
            if !self.notified.is_empty() {
                let names = self.notified.join(", ");
                let msg = format!("could not record the pending handlers ({names}): {msg}");
                self.eng.reporter.warn(&self.host, &msg);
            }
            return;
        }
        let Some(conn) = self.conn.clone() else {
            return;
        };
        let names: Vec<String> = std::mem::take(&mut self.notified);
        if names.is_empty() && !self.had_pending {
            return;
        }
        let mut names = names;
        names.extend(self.foreign_pending.iter().cloned());
        let body = names.join("\n");
        let script = if names.is_empty() {
            format!("{}\nrm -f \"$f\"", facts::pending_file())
        } else {
            format!(
                "{}\nmkdir -p \"$(dirname \"$f\")\" && cat > \"$f\"",
                facts::pending_file()
            )
        };
        let cmd = self.play_command(script, Some(format!("{body}\n").into_bytes()));
        if let Err(e) = conn.run(&cmd).await {
            self.eng.reporter.warn(
                &self.host,
                &format!(
                    "could not record the pending handlers ({}): {e}",
                    names.join(", ")
                ),
            );
        } else if !names.is_empty() {
            self.eng.reporter.warn(
                &self.host,
                &format!(
                    "handlers left pending, they will run on the next run: {}",
                    names.join(", ")
                ),
            );
        }
    }
}

pub(super) fn handler_matches(h: &Task, notified: &str) -> bool {
    h.name.as_deref() == Some(notified) || h.listen.iter().any(|l| l == notified)
}
