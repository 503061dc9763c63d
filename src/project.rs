//! Where things are: the project root, its environments, and which inventory and
//! vars directories a command reads.
//!
//! The project root is the nearest ancestor of the working directory holding
//! `environments/`, or `--project DIR` / `OPSCTL_PROJECT`. `--env E` selects
//! `environments/E/`; `-i PATH` takes any inventory file or directory instead.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("not inside an opsctl project: no `environments/` directory in {cwd} or any parent")]
    NotFound { cwd: PathBuf },
    #[error("--project {path}: no `environments/` directory there")]
    NotAProject { path: PathBuf },
    #[error("unknown environment '{name}' (in {dir}); {}", existing_list(existing))]
    UnknownEnvironment {
        name: String,
        dir: PathBuf,
        existing: Vec<String>,
    },
    #[error(
        "environment '{name}' has no inventory: expected {dir}/hosts (INI) or {dir}/hosts.yml (YAML)"
    )]
    NoInventory { name: String, dir: PathBuf },
    #[error("inventory {path} does not exist")]
    MissingInventory { path: PathBuf },
    #[error("choose the hosts: give --env ENV (an environment of the project) or -i INVENTORY")]
    NoTarget,
}

fn existing_list(v: &[String]) -> String {
    if v.is_empty() {
        "the project has no environments yet".into()
    } else {
        format!("existing environments: {}", v.join(", "))
    }
}

impl ProjectError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ProjectError::NotFound { .. } | ProjectError::NotAProject { .. } => {
                Some("run opsctl inside a project, or pass --project DIR (or set OPSCTL_PROJECT)".into())
            }
            ProjectError::UnknownEnvironment { name, existing, .. } => {
                let near = crate::names::nearest_name(name, existing.iter().map(String::as_str));
                Some(match near {
                    Some(n) => format!("did you mean --env {n}?"),
                    None => format!("create environments/{name}/hosts to add it"),
                })
            }
            ProjectError::NoInventory { name, .. } if name == "local" => {
                Some("the local environment is the built-in test bed: start it with `make testbed` (writes environments/local/hosts)".into())
            }
            ProjectError::NoInventory { .. } => Some("write the inventory: `[web]` then one host per line".into()),
            ProjectError::NoTarget => Some("set OPSCTL_ENV to choose a default environment".into()),
            ProjectError::MissingInventory { .. } => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
}

impl Project {
    /// Finds the project: `explicit` (from --project / OPSCTL_PROJECT) or the nearest
    /// ancestor of `cwd` holding `environments/`.
    pub fn discover(explicit: Option<&Path>, cwd: &Path) -> Result<Project, ProjectError> {
        if let Some(p) = explicit {
            let root = absolute(p, cwd);
            if !root.join("environments").is_dir() {
                return Err(ProjectError::NotAProject { path: root });
            }
            return Ok(Project { root });
        }
        cwd.ancestors()
            .find(|d| d.join("environments").is_dir())
            .map(|d| Project {
                root: d.to_path_buf(),
            })
            .ok_or_else(|| ProjectError::NotFound {
                cwd: cwd.to_path_buf(),
            })
    }

    pub fn environments_dir(&self) -> PathBuf {
        self.root.join("environments")
    }

    /// Names of the environments (directories under environments/), sorted.
    pub fn environments(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.environments_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        v
    }

    pub fn environment(&self, name: &str) -> Result<Environment, ProjectError> {
        let dir = self.environments_dir().join(name);
        if name.is_empty() || name.contains('/') || !dir.is_dir() {
            return Err(ProjectError::UnknownEnvironment {
                name: name.to_string(),
                dir: self.environments_dir(),
                existing: self.environments(),
            });
        }
        let inventory = ["hosts", "hosts.yml", "hosts.yaml", "hosts.ini"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| ProjectError::NoInventory {
                name: name.to_string(),
                dir: dir.clone(),
            })?;
        let ssh_config = Some(dir.join("ssh_config")).filter(|p| p.is_file());
        Ok(Environment {
            name: name.to_string(),
            dir,
            inventory,
            ssh_config,
        })
    }
}

/// One environment of a project.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub dir: PathBuf,
    /// `hosts` or `hosts.yml`.
    pub inventory: PathBuf,
    /// `ssh_config`, used with `ssh -F` for every connection of the environment.
    pub ssh_config: Option<PathBuf>,
}

/// What a command works on: the inventory to load, the vars directories in
/// precedence order (lowest first), and the ssh_config.
#[derive(Debug, Clone)]
pub struct Target {
    /// Environment name, when selected with --env.
    pub env: Option<String>,
    pub inventory: PathBuf,
    /// Directories that may hold `group_vars/` and `host_vars/`, lowest precedence first.
    pub vars_dirs: Vec<PathBuf>,
    pub ssh_config: Option<PathBuf>,
    pub project: Option<Project>,
}

impl Target {
    /// Resolves `--env` / `-i` into a target. With `-i`, the project is optional.
    pub fn resolve(
        project_arg: Option<&Path>,
        env: Option<&str>,
        inventory: Option<&Path>,
        cwd: &Path,
    ) -> Result<Target, ProjectError> {
        if let Some(inv) = inventory {
            let inv = absolute(inv, cwd);
            if !inv.exists() {
                return Err(ProjectError::MissingInventory { path: inv });
            }
            let project = Project::discover(project_arg, cwd).ok();
            let inv_dir = if inv.is_dir() {
                inv.clone()
            } else {
                inv.parent().unwrap_or(Path::new("/")).to_path_buf()
            };
            let mut vars_dirs = Vec::new();
            if let Some(p) = &project
                && p.root != inv_dir
            {
                vars_dirs.push(p.root.clone());
            }
            vars_dirs.push(inv_dir.clone());
            let ssh_config = Some(inv_dir.join("ssh_config")).filter(|p| p.is_file());
            return Ok(Target {
                env: None,
                inventory: inv,
                vars_dirs,
                ssh_config,
                project,
            });
        }
        let project = Project::discover(project_arg, cwd)?;
        let name = env.ok_or(ProjectError::NoTarget)?;
        let e = project.environment(name)?;
        Ok(Target {
            env: Some(e.name.clone()),
            inventory: e.inventory.clone(),
            vars_dirs: vec![project.root.clone(), e.dir.clone()],
            ssh_config: e.ssh_config.clone(),
            project: Some(project),
        })
    }
}

fn absolute(p: &Path, cwd: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            if !f.ends_with('/') {
                std::fs::write(&p, "").unwrap();
            }
        }
        d
    }

    #[test]
    fn finds_the_nearest_project_and_environments() {
        let d = tree(&[
            "environments/staging/hosts",
            "environments/demo/hosts.yml",
            "environments/staging/ssh_config",
            "roles/x/",
        ]);
        let sub = d.path().join("roles/x");
        let t = Target::resolve(None, Some("staging"), None, &sub).unwrap();
        assert_eq!(t.inventory, d.path().join("environments/staging/hosts"));
        assert_eq!(
            t.ssh_config,
            Some(d.path().join("environments/staging/ssh_config"))
        );
        assert_eq!(
            t.vars_dirs,
            vec![
                d.path().to_path_buf(),
                d.path().join("environments/staging")
            ]
        );
        let t = Target::resolve(None, Some("demo"), None, d.path()).unwrap();
        assert!(t.inventory.ends_with("hosts.yml"));
    }

    #[test]
    fn unknown_environment_lists_the_existing_ones() {
        let d = tree(&["environments/staging/hosts", "environments/demo/hosts"]);
        let e = Target::resolve(None, Some("stagign"), None, d.path()).unwrap_err();
        assert!(
            e.to_string()
                .contains("existing environments: demo, staging"),
            "{e}"
        );
        assert_eq!(e.hint().unwrap(), "did you mean --env staging?");
    }

    #[test]
    fn outside_a_project() {
        let d = tempfile::tempdir().unwrap();
        let e = Target::resolve(None, Some("x"), None, d.path()).unwrap_err();
        assert!(matches!(e, ProjectError::NotFound { .. }), "{e}");
        let e = Project::discover(Some(d.path()), d.path()).unwrap_err();
        assert!(matches!(e, ProjectError::NotAProject { .. }), "{e}");
    }

    #[test]
    fn inventory_path_without_project() {
        let d = tree(&["inv/hosts", "inv/group_vars/all.yml"]);
        let t = Target::resolve(None, None, Some(Path::new("inv/hosts")), d.path()).unwrap();
        assert_eq!(t.vars_dirs, vec![d.path().join("inv")]);
        assert!(t.project.is_none());
        let e = Target::resolve(None, None, Some(Path::new("nope")), d.path()).unwrap_err();
        assert!(matches!(e, ProjectError::MissingInventory { .. }));
    }

    #[test]
    fn environment_without_inventory() {
        let d = tree(&["environments/local/group_vars/all.yml"]);
        let e = Target::resolve(None, Some("local"), None, d.path()).unwrap_err();
        assert!(e.hint().unwrap().contains("make testbed"));
    }
}
