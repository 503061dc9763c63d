//! The stack this opsctl ships: the project's `playbooks/` and `roles/` as they
//! were when the binary was built, embedded by `build.rs`. `opsctl init` writes
//! them into a new project (which then owns them); `opsctl init --diff` compares a
//! project's copies with them.

mod generated {
    include!(concat!(env!("OUT_DIR"), "/stack.rs"));
}

/// One shipped file.
#[derive(Debug, Clone, Copy)]
pub struct StackFile {
    /// Relative to the project root, with `/` (`roles/nginx/tasks/main.yml`).
    pub path: &'static str,
    /// 0o755 for executables, else 0o644.
    pub mode: u32,
    pub content: &'static [u8],
}

/// Every shipped file, sorted by path.
pub fn files() -> impl Iterator<Item = StackFile> {
    generated::FILES
        .iter()
        .map(|&(path, mode, content)| StackFile {
            path,
            mode,
            content,
        })
}

/// The shipped roles' names (`roles/<name>/...`), sorted.
pub fn roles() -> Vec<&'static str> {
    let mut names: Vec<&str> = files()
        .filter_map(|f| f.path.strip_prefix("roles/")?.split('/').next())
        .collect();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_playbooks_and_roles_of_the_stack_are_shipped() {
        let paths: Vec<&str> = files().map(|f| f.path).collect();
        for p in [
            "playbooks/provision.yml",
            "playbooks/deploy.yml",
            "roles/app/tasks/main.yml",
            "roles/nginx/files/opsctl-nginx-check-site",
        ] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        let check = files()
            .find(|f| f.path == "roles/nginx/files/opsctl-nginx-check-site")
            .unwrap();
        assert_eq!(check.mode, 0o755);
        for r in [
            "app",
            "certbot",
            "common",
            "nginx",
            "node",
            "python",
            "supervisor",
        ] {
            assert!(roles().contains(&r), "{r}");
        }
        // What is shipped is the repository's files, byte for byte.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for f in files() {
            assert_eq!(
                std::fs::read(root.join(f.path)).unwrap(),
                f.content,
                "{}",
                f.path
            );
        }
    }
}
