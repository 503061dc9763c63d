//! How a module body stops: [`Fail`] (a task failure the user can act on, or
//! a module error such as bad arguments), its constructors [`fail`] and
//! [`bad_args`], and [`finish`], which turns a body's result into what the
//! engine expects.

use super::{ModuleError, Outcome};

/// Why a file module stopped: a task failure the user can act on, or a module
/// error (bad arguments, unreachable host).
#[derive(Debug)]
pub enum Fail {
    Task(String),
    Module(ModuleError),
}

impl From<ModuleError> for Fail {
    fn from(e: ModuleError) -> Fail {
        Fail::Module(e)
    }
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
pub fn bad_args<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Module(ModuleError::Args(msg.into())))
}

/// Turns a module body's result into what the runner expects.
pub fn finish(r: Result<Outcome, Fail>) -> Result<Outcome, ModuleError> {
    match r {
        Ok(o) => Ok(o),
        Err(Fail::Task(msg)) => Ok(Outcome::failed(msg)),
        Err(Fail::Module(e)) => Err(e),
    }
}
