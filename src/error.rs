//! The error a command ends with, and the exit codes opsctl promises.
//!
//! Each layer has its own typed error (inventory, yaml, template, vars, transport);
//! they become an [`Error`] here: a message that already names the file:line or
//! host, plus hints saying what to do. Nothing here prints a stack trace.

use std::fmt;
use std::process::ExitCode;

/// opsctl's exit status contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything went well.
    Success,
    /// A usage or configuration error before anything ran.
    Config,
    /// A task failed on some host.
    Failed,
    /// Some host was unreachable (and nothing failed).
    Unreachable,
    /// Interrupted by Ctrl-C (exit 130) or SIGTERM (exit 143).
    Interrupted,
}

impl Exit {
    /// The status of a command over hosts: a failure wins over an unreachable host.
    pub fn of_hosts(failed: usize, unreachable: usize) -> Exit {
        if failed > 0 {
            Exit::Failed
        } else if unreachable > 0 {
            Exit::Unreachable
        } else {
            Exit::Success
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Config => 1,
            Exit::Failed => 2,
            Exit::Unreachable => 4,
            Exit::Interrupted => crate::interrupt::exit_code(),
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// A user-facing error: what went wrong (naming where) and what to do.
#[derive(Debug)]
pub struct Error {
    pub message: String,
    pub hints: Vec<String>,
    pub exit: Exit,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            hints: Vec::new(),
            exit: Exit::Config,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn maybe_hint(self, hint: Option<String>) -> Self {
        match hint {
            Some(h) => self.hint(h),
            None => self,
        }
    }

    pub fn exit(mut self, exit: Exit) -> Self {
        self.exit = exit;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        for h in &self.hints {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<crate::yaml::YamlError> for Error {
    fn from(e: crate::yaml::YamlError) -> Self {
        Error::new(e.to_string()).maybe_hint(crate::yaml::hint(&e))
    }
}

impl From<crate::inventory::InventoryError> for Error {
    fn from(e: crate::inventory::InventoryError) -> Self {
        let hint = e.hint.clone();
        Error::new(e.to_string()).maybe_hint(hint)
    }
}

impl From<crate::inventory::PatternError> for Error {
    fn from(e: crate::inventory::PatternError) -> Self {
        Error::new(e.to_string()).hint(
            "patterns: names, groups, web*, a:b (or), a:&b (and), a:!b (not), ~regex, web[0:2]",
        )
    }
}

impl From<crate::template::TemplateError> for Error {
    fn from(e: crate::template::TemplateError) -> Self {
        let hint = e.hint.clone();
        Error::new(e.to_string()).maybe_hint(hint)
    }
}

impl From<crate::vars::VarsError> for Error {
    fn from(e: crate::vars::VarsError) -> Self {
        let hint = e.hint();
        Error::new(e.to_string()).maybe_hint(hint)
    }
}

impl From<crate::project::ProjectError> for Error {
    fn from(e: crate::project::ProjectError) -> Self {
        let hint = e.hint();
        Error::new(e.to_string()).maybe_hint(hint)
    }
}
