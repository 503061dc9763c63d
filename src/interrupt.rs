//! Ctrl-C (SIGINT) and SIGTERM (a cancelled CI job, `timeout`, `kill`) stop a
//! command the same way: every place that waits for an interruption waits for
//! [`signalled`], which resolves on either; the command then prints its recap,
//! closes its masters and removes its control files, and opsctl exits 128 + the
//! signal's number (130 for Ctrl-C, 143 for SIGTERM), as a shell would report it.

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that interrupted the command, 0 if none did.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// Resolves when SIGINT or SIGTERM arrives, and remembers which. The handlers are
/// installed at the first call: before it, both signals keep their default action.
pub async fn signalled() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // No handler could be installed: the default actions stay (opsctl dies).
        return std::future::pending().await;
    };
    let number = tokio::select! {
        _ = int.recv() => SIGINT,
        _ = term.recv() => SIGTERM,
    };
    RECEIVED.store(number, Ordering::SeqCst);
}

/// The exit status of an interrupted command: 128 + the signal (130 when no signal
/// was recorded, as for Ctrl-C).
pub fn exit_code() -> u8 {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => 128 + SIGINT as u8,
        n => 128 + n as u8,
    }
}
