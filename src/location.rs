//! Where something was written: a file, a line and (when known) a column.

use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A position in a source file, printed as `file:line` or `file:line:col` (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Location {
    pub file: SharedPath,
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Location {
    /// `file` is shared when given as a [`SharedPath`] (a clone of another
    /// location's `file`), copied otherwise.
    pub fn new(file: impl Into<SharedPath>, line: usize, column: Option<usize>) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }

    /// A location covering a whole file (line 0 prints as just the path).
    pub fn file(file: impl Into<SharedPath>) -> Self {
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

/// A file's path that clones by sharing (a reference count): a big inventory
/// has a [`Location`] for each host and each variable, all in one file. It
/// derefs to [`Path`], and compares, hashes, prints and serialises as one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SharedPath(Arc<Path>);

impl SharedPath {
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl Deref for SharedPath {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for SharedPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for SharedPath {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl fmt::Debug for SharedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl serde::Serialize for SharedPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl From<&Path> for SharedPath {
    fn from(p: &Path) -> Self {
        SharedPath(Arc::from(p))
    }
}

impl From<PathBuf> for SharedPath {
    fn from(p: PathBuf) -> Self {
        SharedPath(Arc::from(p))
    }
}

impl From<&PathBuf> for SharedPath {
    fn from(p: &PathBuf) -> Self {
        SharedPath::from(p.as_path())
    }
}

impl From<&SharedPath> for SharedPath {
    fn from(p: &SharedPath) -> Self {
        p.clone()
    }
}

impl From<&str> for SharedPath {
    fn from(p: &str) -> Self {
        SharedPath::from(Path::new(p))
    }
}

impl From<String> for SharedPath {
    fn from(p: String) -> Self {
        SharedPath::from(PathBuf::from(p))
    }
}

impl PartialEq<Path> for SharedPath {
    fn eq(&self, other: &Path) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&Path> for SharedPath {
    fn eq(&self, other: &&Path) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<PathBuf> for SharedPath {
    fn eq(&self, other: &PathBuf) -> bool {
        *self.0 == *other.as_path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cloned_location_shares_its_path_and_compares_as_a_path() {
        let a = Location::new(Path::new("/srv/inventory/hosts"), 3, Some(1));
        let b = Location::new(&a.file, 4, None);
        assert!(Arc::ptr_eq(&a.file.0, &b.file.0));
        assert_eq!(b.file, Path::new("/srv/inventory/hosts"));
        assert_eq!(b.file, PathBuf::from("/srv/inventory/hosts"));
        assert_eq!(b.to_string(), "/srv/inventory/hosts:4");
        assert_eq!(format!("{:?}", a.file), "\"/srv/inventory/hosts\"");
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::json!({"file": "/srv/inventory/hosts", "line": 3, "column": 1})
        );
    }
}
