//! A command's session: everything read from files before any host is touched
//! (the project, the inventory, the variables with the environment's secrets),
//! loaded once and shared by the engine and the commands.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value as Json;

use crate::ansible_cfg::{AnsibleCfg, Setting, Source};
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::project::{Project, Target};
use crate::secrets::vault_keys::{self, VaultId};
use crate::template::Templar;
use crate::vars::{Origin, Vars};

/// The roles of the project whose defaults are a layer of the variables for the
/// commands that read them before (or without) running a playbook: deploy,
/// rollback, releases, initdata, status, and `opsctl vars`. Highest precedence
/// first (app's over certbot's over common's).
pub const STACK_ROLES: [&str; 3] = ["app", "certbot", "common"];

/// What a command loads: `--env` or `-i`, `-e`, `--identity`, the vault
/// passwords and the connection flags ansible-playbook takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub env: Option<String>,
    pub inventory: Option<PathBuf>,
    pub extra_vars: Vec<String>,
    pub identity: Option<PathBuf>,
    pub vault: VaultSelection,
    pub connect: ConnectFlags,
    /// `-f` as given (`None`: ansible.cfg's `forks`, else [`crate::engine::DEFAULT_FORKS`]).
    pub forks: Option<usize>,
}

impl Selection {
    pub fn with_forks(mut self, forks: Option<usize>) -> Selection {
        self.forks = forks;
        self
    }

    /// The forks before ansible.cfg is read (the command line's, else the default).
    pub fn default_forks(&self) -> usize {
        self.forks.unwrap_or(crate::engine::DEFAULT_FORKS)
    }
}

/// `--vault-password-file`, `--vault-id`, `--ask-vault-pass`.
#[derive(Debug, Clone, Default)]
pub struct VaultSelection {
    pub password_files: Vec<PathBuf>,
    pub ids: Vec<String>,
    pub ask: bool,
}

/// `-u`, `--private-key`, `-T`, `-b`, `--become-user`, `--become-method`, `-K`.
#[derive(Debug, Clone, Default)]
pub struct ConnectFlags {
    pub user: Option<String>,
    pub private_key: Option<PathBuf>,
    pub timeout: Option<u64>,
    pub become_: bool,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    pub ask_become_pass: bool,
}

/// Everything read from files before any host is touched.
#[derive(Clone)]
pub struct Loaded {
    pub target: Target,
    pub inventory: Arc<Inventory>,
    pub vars: Arc<Vars>,
    /// The ansible.cfg read (with `ANSIBLE_*` over it).
    pub config: Arc<AnsibleCfg>,
    /// How many hosts at once: `-f`, else `ANSIBLE_FORKS` / ansible.cfg, else the default.
    pub forks: usize,
    /// What `-v` says about the configuration (which ansible.cfg, ignored settings).
    pub notes: Vec<String>,
    /// Said once, whatever the verbosity (`host_key_checking = False`...).
    pub warnings: Vec<String>,
}

impl Loaded {
    pub fn load(project: Option<PathBuf>, args: &Selection) -> Result<Loaded> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let root = Project::discover(project.as_deref(), &cwd)
            .ok()
            .map(|p| p.root);
        let env_config = std::env::var("ANSIBLE_CONFIG").ok();
        let (file, found_note) = crate::ansible_cfg::find(
            env_config.as_deref(),
            &cwd,
            root.as_deref(),
            home.as_deref(),
        );
        let config = match &file {
            Some(f) => crate::ansible_cfg::load(f, home.as_deref())?,
            None => AnsibleCfg::default(),
        }
        .with_env(&|n| std::env::var(n).ok(), &cwd, home.as_deref())?;
        let mut notes: Vec<String> = found_note.into_iter().collect();
        notes.extend(config.notes());
        let warnings: Vec<String> = config.host_key_warning().into_iter().collect();
        crate::playbook::set_search_paths(
            role_paths(&config, home.as_deref()),
            collection_paths(&config, root.as_deref(), home.as_deref()),
        );

        // the vault passwords first: -e @file and every vars file may be vault-encrypted
        vault_keys::install(vault_keys::read(&vault_ids(args, &config, &cwd))?);

        let inventory_arg = match (&args.inventory, &args.env, &config.inventory) {
            (Some(i), _, _) => Some(i.clone()),
            (None, None, Some(inv)) => Some(config_inventory(inv)?),
            _ => None,
        };
        let target = Target::resolve(
            project.as_deref(),
            args.env.as_deref(),
            inventory_arg.as_deref(),
            &cwd,
        )?;
        let inventory = Arc::new(crate::inventory::load(&target.inventory)?);
        let extra = crate::vars::parse_extra_vars(&args.extra_vars, &cwd)?;
        // environments/<env>/secrets.age, decrypted in memory, values registered
        // for redaction (crate::secrets)
        let identity = crate::secrets::IdentityOpts {
            file: args.identity.clone(),
        };
        let secrets = crate::secrets::load_for_vars(&target, &identity)?;
        let vars = Vars::load_with_secrets(
            inventory.clone(),
            &target.vars_dirs,
            &extra,
            Arc::new(
                Templar::new()
                    .with_managed(config.ansible_managed.as_ref().map(|s| s.value.clone())),
            ),
            secrets.as_ref().map(|s| &s.vars),
        )?
        .with_config(connection_defaults(&config, &args.connect, &cwd)?);
        let forks = args
            .forks
            .or(config.forks.as_ref().map(|f| f.value))
            .unwrap_or(crate::engine::DEFAULT_FORKS);
        Ok(Loaded {
            target,
            inventory,
            vars,
            config: Arc::new(config),
            forks,
            notes,
            warnings,
        })
    }

    /// The same, with the defaults of the project's [`STACK_ROLES`]
    /// (`roles/<role>/defaults/main.yml`) at the `role defaults` layer of the
    /// variables: below everything the inventory, group_vars and -e set.
    pub fn with_role_defaults(&self) -> Result<Loaded> {
        let mut layers = Vec::new();
        if let Some(project) = &self.target.project {
            for role in STACK_ROLES.iter().rev() {
                let dir = project.root.join("roles").join(role).join("defaults");
                for file in crate::yaml::vars_files(&dir, "main") {
                    let vars = crate::yaml::parse_file(&file)
                        .and_then(|node| node.to_var_map(&file))
                        .map_err(crate::vars::VarsError::from)?;
                    layers.push(vars);
                }
            }
        }
        Ok(Loaded {
            vars: self.vars.with_role_defaults(layers),
            ..self.clone()
        })
    }

    /// The same, plus variables a command computed (`what` says which command,
    /// for `opsctl vars`-style provenance) at the `-e` layer: nothing is read again.
    pub fn with_extra(&self, vars: serde_json::Value, what: &str) -> Loaded {
        let origin = crate::vars::Origin::Builtin {
            what: format!("set by {what}"),
        };
        Loaded {
            vars: self.vars.with_extra(&[(vars, origin, what.to_string())]),
            ..self.clone()
        }
    }

    /// How to reach each of `hosts`: every host's settings are checked before
    /// anything connects.
    pub fn connection_specs(
        &self,
        hosts: &[String],
    ) -> Result<Vec<crate::transport::ConnectionSpec>> {
        hosts
            .iter()
            .map(|h| {
                crate::runner::connection_spec(&self.vars, h, self.target.ssh_config.as_deref())
            })
            .collect()
    }

    /// The hosts a `--limit` pattern selects (all hosts without one), in inventory
    /// order. Selecting nothing is an error: a typo must not look like success.
    /// `--limit @file` (as Ansible) reads the hosts from the file, one a line.
    pub fn select(&self, limit: Option<&str>) -> Result<Vec<String>> {
        let expanded = limit
            .map(|l| self.failed_hosts(l))
            .transpose()?
            .map(|l| limit_files(&l))
            .transpose()?;
        let pattern = expanded.as_deref().unwrap_or("all");
        let hosts = self.inventory.select(pattern)?;
        if hosts.is_empty() {
            let e = if self.inventory.hosts.is_empty() {
                Error::new(format!(
                    "the inventory {} has no hosts",
                    crate::location::display_path(&self.target.inventory)
                ))
            } else {
                Error::new(format!("--limit '{pattern}' matches no host"))
                    .hint("`opsctl inventory --graph` lists the groups and hosts")
            };
            return Err(e);
        }
        Ok(hosts)
    }
}

impl Loaded {
    /// `--limit` with an `@failed` part: that part becomes the hosts that failed
    /// or were unreachable in the last finished run of this environment, read
    /// from the run journal (`.opsctl/runs/` of the project).
    fn failed_hosts(&self, limit: &str) -> Result<String> {
        if !limit.split(',').any(|p| p.trim() == "@failed") {
            return Ok(limit.to_string());
        }
        let (Some(project), Some(env)) = (&self.target.project, &self.target.env) else {
            return Err(Error::new(
                "--limit @failed: the run journal is kept per environment of a project",
            )
            .hint("select the environment with --env ENV (inside the project)"));
        };
        let store = crate::journal::store::Store::new(&project.root);
        // The newest finished run of the environment that reached hosts (a
        // command that stopped on an error before touching any is skipped).
        let mut last = None;
        for s in store.summaries()?.into_iter().rev() {
            if !s.finished() || s.str("env") != Some(env.as_str()) {
                continue;
            }
            let view = crate::journal::view::RunView::from_lines(store.load(&s.id)?);
            if !view.hosts().is_empty() {
                last = Some((s, view));
                break;
            }
        }
        let Some((last, view)) = last else {
            return Err(Error::new(format!(
                "--limit @failed: no finished run of environment {env} in the run journal"
            ))
            .hint("`opsctl runs --env ENV` lists the recorded runs"));
        };
        let hosts = failed_in(&view);
        let what = last.str("command").unwrap_or("run");
        if hosts.is_empty() {
            return Err(Error::new(format!(
                "--limit @failed: the last run of environment {env} ({what}, {}) had no failed or unreachable host",
                last.id
            ))
            .hint(format!("`opsctl runs show {}` shows it", last.id)));
        }
        Ok(limit
            .split(',')
            .map(|p| {
                if p.trim() == "@failed" {
                    hosts.join(",")
                } else {
                    p.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(","))
    }
}

/// The hosts of a recorded run that failed (a failure neither ignored nor
/// rescued) or were unreachable, in the run's order.
fn failed_in(view: &crate::journal::view::RunView) -> Vec<String> {
    view.recap()
        .into_iter()
        .filter(|(_, c)| {
            c.get("failed").copied().unwrap_or(0) > 0
                || c.get("unreachable").copied().unwrap_or(0) > 0
        })
        .map(|(h, _)| h)
        .collect()
}

/// The roles search path: `roles_path` of ansible.cfg (or `ANSIBLE_ROLES_PATH`),
/// else Ansible's default (`~/.ansible/roles`, `/usr/share/ansible/roles`,
/// `/etc/ansible/roles`).
fn role_paths(config: &AnsibleCfg, home: Option<&Path>) -> Vec<PathBuf> {
    match &config.roles_path {
        Some(s) => s.value.clone(),
        None => home
            .map(|h| h.join(".ansible/roles"))
            .into_iter()
            .chain(["/usr/share/ansible/roles", "/etc/ansible/roles"].map(PathBuf::from))
            .collect(),
    }
}

/// Where collections are installed: the project's `collections/`, then
/// `collections_path` (or Ansible's default, `~/.ansible/collections` and
/// `/usr/share/ansible/collections`). The playbook's own `collections/` is
/// added by the loader.
fn collection_paths(config: &AnsibleCfg, root: Option<&Path>, home: Option<&Path>) -> Vec<PathBuf> {
    let configured = match &config.collections_path {
        Some(s) => s.value.clone(),
        None => home
            .map(|h| h.join(".ansible/collections"))
            .into_iter()
            .chain([PathBuf::from("/usr/share/ansible/collections")])
            .collect(),
    };
    root.map(|r| r.join("collections"))
        .into_iter()
        .chain(configured)
        .collect()
}

/// ansible.cfg's `inventory` (or `ANSIBLE_INVENTORY`), when neither --env nor
/// -i is given: opsctl reads one inventory source.
fn config_inventory(inv: &Setting<Vec<PathBuf>>) -> Result<PathBuf> {
    match inv.value.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::new(format!("{}: inventory is empty", inv.source))),
        many => Err(Error::new(format!(
            "{}: inventory lists {} sources; opsctl reads one",
            inv.source,
            many.len()
        ))
        .hint("pass the one to use with -i PATH (or --env ENV)")),
    }
}

/// The vault passwords to read: `--vault-id`s, `--vault-password-file`s and
/// `--ask-vault-pass`, then ansible.cfg's `vault_identity_list`, and its
/// `vault_password_file` (or `ANSIBLE_VAULT_PASSWORD_FILE`) when the command
/// line gives no password file, as Ansible combines them.
fn vault_ids(args: &Selection, config: &AnsibleCfg, cwd: &Path) -> Vec<VaultId> {
    let mut ids: Vec<VaultId> = args
        .vault
        .ids
        .iter()
        .map(|a| VaultId::parse(a, cwd, "--vault-id"))
        .collect();
    for f in &args.vault.password_files {
        let f = if f.is_absolute() {
            f.clone()
        } else {
            cwd.join(f)
        };
        ids.push(VaultId::file(f, "--vault-password-file"));
    }
    if args.vault.ask {
        ids.push(VaultId {
            label: "default".into(),
            source: vault_keys::Source::Prompt,
            flag: "--ask-vault-pass".into(),
            given_as: "--ask-vault-pass".into(),
        });
    }
    if let Some(list) = &config.vault_identity_list {
        let flag = format!("{}: vault_identity_list", list.source);
        ids.extend(list.value.iter().map(|a| VaultId::parse(a, cwd, &flag)));
    }
    if args.vault.password_files.is_empty()
        && !args.vault.ask
        && let Some(f) = &config.vault_password_file
    {
        let flag = match &f.source {
            Source::File(loc) => format!("{loc}: vault_password_file"),
            Source::Env(name) => (*name).to_string(),
        };
        ids.push(VaultId::file(f.value.clone(), &flag));
    }
    ids
}

/// The connection defaults of ansible.cfg (and `ANSIBLE_*`), then the command
/// line's over them, as variables of the lowest layer: every inventory or
/// playbook variable wins over them, as in Ansible. The names are those the
/// connection reads last (`ansible_ssh_user`, `ansible_private_key_file`,
/// `ansible_timeout`), so a host's `ansible_user` still wins.
fn connection_defaults(
    config: &AnsibleCfg,
    flags: &ConnectFlags,
    cwd: &Path,
) -> Result<Vec<(String, Json, Origin)>> {
    let mut out: Vec<(String, Json, Origin)> = Vec::new();
    let mut from_cfg = |name: &str, value: Json, source: &Source| {
        let origin = match source {
            Source::File(location) => Origin::File {
                location: location.clone(),
            },
            Source::Env(var) => Origin::Builtin {
                what: format!("environment variable {var}"),
            },
        };
        out.push((name.to_string(), value, origin));
    };
    if let Some(s) = &config.remote_user {
        from_cfg("ansible_ssh_user", Json::from(s.value.clone()), &s.source);
    }
    if let Some(s) = &config.private_key_file {
        let p = s.value.display().to_string();
        from_cfg("ansible_private_key_file", Json::from(p), &s.source);
    }
    if let Some(s) = &config.timeout {
        from_cfg("ansible_timeout", Json::from(s.value), &s.source);
    }
    if let Some(s) = &config.become_ {
        from_cfg("ansible_become", Json::from(s.value), &s.source);
    }
    if let Some(s) = &config.become_user {
        from_cfg(
            "ansible_become_user",
            Json::from(s.value.clone()),
            &s.source,
        );
    }
    if let Some(s) = &config.become_method {
        from_cfg(
            "ansible_become_method",
            Json::from(s.value.clone()),
            &s.source,
        );
    }
    let mut flag = |name: &str, value: Json, arg: String| {
        out.push((
            name.to_string(),
            value,
            Origin::Builtin {
                what: format!("command line: {arg}"),
            },
        ));
    };
    if let Some(u) = &flags.user {
        flag("ansible_ssh_user", Json::from(u.clone()), format!("-u {u}"));
    }
    if let Some(k) = &flags.private_key {
        let k = if k.is_absolute() {
            k.clone()
        } else {
            cwd.join(k)
        };
        let shown = k.display().to_string();
        flag(
            "ansible_private_key_file",
            Json::from(shown.clone()),
            format!("--private-key {shown}"),
        );
    }
    if let Some(t) = flags.timeout {
        flag("ansible_timeout", Json::from(t), format!("-T {t}"));
    }
    if flags.become_ {
        flag("ansible_become", Json::Bool(true), "--become".into());
    }
    if let Some(u) = &flags.become_user {
        flag(
            "ansible_become_user",
            Json::from(u.clone()),
            format!("--become-user {u}"),
        );
    }
    if let Some(m) = &flags.become_method {
        flag(
            "ansible_become_method",
            Json::from(m.clone()),
            format!("--become-method {m}"),
        );
    }
    if flags.ask_become_pass {
        flag(
            "ansible_become_password",
            Json::from(ask_become_pass()?),
            "-K".into(),
        );
    }
    Ok(out)
}

/// `-K`: asks for the become password on the terminal (no echo), as
/// ansible-playbook does ("BECOME password: "); in CI or without a terminal,
/// an error naming the flag. The answer is a secret from then on (redacted).
fn ask_become_pass() -> Result<String> {
    use age::secrecy::ExposeSecret;
    let answer = crate::secrets::tty::read_secret("BECOME password: ").map_err(|e| {
        Error::new(format!(
            "--ask-become-pass (-K): cannot read the password: {e}"
        ))
    })?;
    let Some(p) = answer else {
        return Err(Error::new(format!(
            "--ask-become-pass (-K): cannot ask for the become password: {}",
            crate::secrets::tty::no_prompt_reason()
        ))
        .hint("set ansible_become_password for the hosts instead (in the environment's secrets: `opsctl secrets edit`), or give the login user passwordless sudo, then drop -K"));
    };
    let p = p.expose_secret().to_string();
    if p.is_empty() {
        return Err(Error::new(
            "--ask-become-pass (-K): the become password is empty",
        ));
    }
    crate::redact::register(&p);
    Ok(p)
}

/// `--limit` with `@file` parts (as Ansible): each becomes the hosts listed
/// in the file, one a line (`#` comments and empty lines skipped).
pub fn limit_files(limit: &str) -> Result<String> {
    if !limit.contains('@') {
        return Ok(limit.to_string());
    }
    let mut parts = Vec::new();
    for part in limit.split(',') {
        let Some(file) = part.trim().strip_prefix('@') else {
            parts.push(part.to_string());
            continue;
        };
        let text = std::fs::read_to_string(file).map_err(|e| {
            Error::new(format!("--limit @{file}: cannot read the file: {e}"))
                .hint("--limit @FILE takes a file listing one host (or pattern) a line")
        })?;
        let hosts: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if hosts.is_empty() {
            return Err(Error::new(format!(
                "--limit @{file}: the file lists no host"
            )));
        }
        parts.extend(hosts.into_iter().map(str::to_string));
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ansible_cfg::parse;

    fn cfg(text: &str) -> AnsibleCfg {
        parse(text, Path::new("/proj/ansible.cfg"), None).unwrap()
    }

    fn find<'a>(v: &'a [(String, Json, Origin)], name: &str) -> Vec<(&'a Json, String)> {
        v.iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, j, o)| (j, o.to_string()))
            .collect()
    }

    #[test]
    fn command_line_over_ansible_cfg_as_lowest_variables() {
        let c = cfg(
            "[defaults]\nremote_user = cfguser\nprivate_key_file = k/id\ntimeout = 7\n[privilege_escalation]\nbecome = yes\nbecome_user = app\n",
        );
        let flags = ConnectFlags {
            user: Some("cliuser".into()),
            private_key: Some(PathBuf::from("cli/id")),
            ..Default::default()
        };
        let v = connection_defaults(&c, &flags, Path::new("/cwd")).unwrap();
        // both are pushed, the command line's last (it wins within the layer)
        let users = find(&v, "ansible_ssh_user");
        assert_eq!(users[0].0, "cfguser");
        assert_eq!(users[0].1, "/proj/ansible.cfg:2");
        assert_eq!(users[1].0, "cliuser");
        assert_eq!(users[1].1, "command line: -u cliuser");
        assert_eq!(find(&v, "ansible_private_key_file")[1].0, "/cwd/cli/id");
        assert_eq!(find(&v, "ansible_private_key_file")[0].0, "/proj/k/id");
        assert_eq!(find(&v, "ansible_timeout")[0].0, 7);
        assert_eq!(find(&v, "ansible_become")[0].0, true);
        assert_eq!(find(&v, "ansible_become_user")[0].0, "app");
        // and the layer sits below everything else
        assert!(crate::vars::Layer::Config < crate::vars::Layer::RoleDefaults);
    }

    #[test]
    fn vault_ids_from_flags_then_the_file() {
        let c =
            cfg("[defaults]\nvault_password_file = pw.txt\nvault_identity_list = prod@prod.txt\n");
        let mut s = Selection::default();
        let ids = vault_ids(&s, &c, Path::new("/cwd"));
        let shown: Vec<&str> = ids.iter().map(|i| i.given_as.as_str()).collect();
        assert_eq!(
            shown,
            vec![
                "/proj/ansible.cfg:3: vault_identity_list prod@/proj/prod.txt",
                "/proj/ansible.cfg:2: vault_password_file /proj/pw.txt"
            ]
        );
        // a password file on the command line replaces the file's
        s.vault.password_files = vec![PathBuf::from("mine.txt")];
        s.vault.ids = vec!["dev@dev.txt".into()];
        let ids = vault_ids(&s, &c, Path::new("/cwd"));
        let shown: Vec<&str> = ids.iter().map(|i| i.given_as.as_str()).collect();
        assert_eq!(
            shown,
            vec![
                "--vault-id dev@dev.txt",
                "--vault-password-file /cwd/mine.txt",
                "/proj/ansible.cfg:3: vault_identity_list prod@/proj/prod.txt"
            ]
        );
    }

    #[test]
    fn limit_from_a_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("retry");
        std::fs::write(&f, "web1\n# comment\n\nweb2\n").unwrap();
        let arg = format!("@{},db", f.display());
        assert_eq!(limit_files(&arg).unwrap(), "web1,web2,db");
        assert_eq!(limit_files("web:&prod").unwrap(), "web:&prod");
        let e = limit_files("@/nonexistent/x").unwrap_err();
        assert!(e.to_string().contains("--limit @/nonexistent/x"), "{e}");
    }

    #[test]
    fn one_inventory_from_the_file() {
        let c = cfg("[defaults]\ninventory = a,b\n");
        let e = config_inventory(c.inventory.as_ref().unwrap()).unwrap_err();
        assert!(
            e.to_string()
                .contains("/proj/ansible.cfg:2: inventory lists 2 sources"),
            "{e}"
        );
        let c = cfg("[defaults]\ninventory = hosts.ini\n");
        assert_eq!(
            config_inventory(c.inventory.as_ref().unwrap()).unwrap(),
            PathBuf::from("/proj/hosts.ini")
        );
    }
}
