//! Handlers: run when notified, and the ones a failed host could not run
//! written to the host (`/var/lib/opsctl/pending-handlers`) for the next run.

use super::*;

impl<'e, 'a> HostRun<'e, 'a> {
    /// Runs the notified handlers, in their definition order, each once.
    pub(super) async fn flush_handlers(&mut self) -> Flow {
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

    /// Writes (or clears) the handlers still pending on the host.
    pub(super) async fn save_pending(&mut self) {
        let Some(conn) = self.conn.clone() else {
            return;
        };
        let names: Vec<String> = std::mem::take(&mut self.notified);
        if names.is_empty() && !self.had_pending {
            return;
        }
        let mut names = names;
        names.extend(self.foreign_pending.iter().cloned());
        let become_user = self.become_user(None);
        let body = names.join("\n");
        let script = if names.is_empty() {
            format!("{}\nrm -f \"$f\"", facts::PENDING_SCRIPT)
        } else {
            format!(
                "{}\nmkdir -p \"$(dirname \"$f\")\" && cat > \"$f\"",
                facts::PENDING_SCRIPT
            )
        };
        let cmd = RemoteCommand {
            script,
            stdin: Some(format!("{body}\n").into_bytes()),
            no_become: become_user.is_none(),
            become_user,
        };
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
