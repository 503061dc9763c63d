//! Remote paths as strings (the host's paths, never the controller's):
//! parent directory, last component, joining.

/// The directory part of a remote path (`/a/b` -> `/a`, `b` -> `.`).
pub fn parent_of(path: &str) -> String {
    let t = path.trim_end_matches('/');
    match t.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => t[..i].trim_end_matches('/').to_string(),
        None if path.starts_with('/') => "/".into(),
        None => ".".into(),
    }
}

/// The last component of a path (`/a/b/` -> `b`).
pub fn basename(path: &str) -> String {
    let t = path.trim_end_matches('/');
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// `dir` + `/` + `name`.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parent_of("/etc/nginx/nginx.conf"), "/etc/nginx");
        assert_eq!(parent_of("/etc"), "/");
        assert_eq!(parent_of("file"), ".");
        assert_eq!(parent_of("a/b/"), "a");
        assert_eq!(basename("/a/b/"), "b");
        assert_eq!(join("/a/", "b"), "/a/b");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
