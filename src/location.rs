//! Where something was written: a file, a line and (when known) a column.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a source file, printed as `file:line` or `file:line:col` (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, line: usize, column: Option<usize>) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }

    /// A location covering a whole file (line 0 prints as just the path).
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Location {
            file: file.into(),
            line: 0,
            column: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.file
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = display_path(&self.file);
        match (self.line, self.column) {
            (0, _) => write!(f, "{file}"),
            (l, None) => write!(f, "{file}:{l}"),
            (l, Some(c)) => write!(f, "{file}:{l}:{c}"),
        }
    }
}

/// Paths are shown relative to the current directory when they are below it, so
/// `file:line` stays short and clickable.
pub fn display_path(path: &Path) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = path.strip_prefix(&cwd)
        && !rel.as_os_str().is_empty()
    {
        return rel.display().to_string();
    }
    path.display().to_string()
}
