//! How module code stops: [`Fail`], the one error type of module code (a task
//! failure the user can act on, bad arguments, or a transport error), and its
//! constructors [`fail`] and [`bad_args`]. The engine turns a `Fail` into the
//! task's `Outcome` in one place (`engine::apply::outcome`).

use crate::transport::TransportError;

/// Why module code stopped.
#[derive(Debug, thiserror::Error)]
pub enum Fail {
    /// A task failure: the task fails with this message.
    #[error("{0}")]
    Task(String),
    /// Bad arguments (after templating); names the argument. The task fails
    /// with the module's name before the message.
    #[error("{0}")]
    Args(String),
    /// The host could not be reached or the connection broke. The task fails
    /// with the error and its hint; the host is unreachable when disconnected.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail::Task(s)
    }
}

/// A task failure.
pub fn fail<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Task(msg.into()))
}

/// Bad arguments.
/// An argument of seconds (or another count) that must not be negative.
pub fn non_negative(args: &super::Args, name: &str, default: i64) -> Result<u64, Fail> {
    match args.int(name).unwrap_or(default) {
        n if n < 0 => bad_args(format!("{name} must not be negative")),
        n => Ok(n as u64),
    }
}

pub fn bad_args<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Args(msg.into()))
}
