//! `ansible.cfg`: found where Ansible looks for it, read as Ansible reads it
//! (Python's configparser: `[section]`, `key = value` or `key: value`, `#` and
//! `;` comment lines, `;` inline comments, indented continuation lines), and
//! the settings opsctl honours resolved with Ansible's precedence: the command
//! line (applied by the session) over `ANSIBLE_*` environment variables over
//! the file over the default.
//!
//! [`find`] says which file (if any) is read; [`parse`] is pure (the file's
//! text in, a typed [`AnsibleCfg`] out, errors naming `file:line`);
//! [`AnsibleCfg::with_env`] lays the environment variables over it.

use std::path::{Path, PathBuf};

use crate::location::Location;

/// Where a setting's value came from, for `-v` and for messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `file:line` of ansible.cfg.
    File(Location),
    /// An `ANSIBLE_*` environment variable.
    Env(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(l) => write!(f, "{l}"),
            Source::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// A setting's value and where it was set.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

/// The settings of ansible.cfg opsctl reads. Paths are absolute: relative
/// ones are resolved against the file's directory (an environment variable's
/// against the working directory), `~` and `$VARS` expanded, as Ansible does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnsibleCfg {
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// `[defaults] roles_path` (colon-separated).
    pub roles_path: Option<Setting<Vec<PathBuf>>>,
    /// `[defaults] collections_path` (or the older `collections_paths`).
    pub collections_path: Option<Setting<Vec<PathBuf>>>,
    /// `[defaults] inventory` (comma-separated).
    pub inventory: Option<Setting<Vec<PathBuf>>>,
    pub remote_user: Option<Setting<String>>,
    pub private_key_file: Option<Setting<PathBuf>>,
    pub forks: Option<Setting<usize>>,
    /// The SSH connection timeout, seconds.
    pub timeout: Option<Setting<u64>>,
    pub vault_password_file: Option<Setting<PathBuf>>,
    /// `[defaults] vault_identity_list`: `label@source` entries, as `--vault-id`.
    pub vault_identity_list: Option<Setting<Vec<String>>>,
    pub host_key_checking: Option<Setting<bool>>,
    /// `[privilege_escalation] become`.
    pub become_: Option<Setting<bool>>,
    pub become_user: Option<Setting<String>>,
    pub become_method: Option<Setting<String>>,
    /// `[defaults] ansible_managed`: the `ansible_managed` of templates
    /// (`{host}`, `{uid}`, `{file}` and strftime directives, as Ansible).
    pub ansible_managed: Option<Setting<String>>,
    /// Settings opsctl does not use: `section.key` at its line (said under `-v`).
    pub ignored: Vec<(Location, String)>,
}

/// An error in ansible.cfg, at `file:line`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {message}")]
pub struct CfgError {
    pub location: Location,
    pub message: String,
    pub hint: Option<String>,
}

impl From<CfgError> for crate::error::Error {
    fn from(e: CfgError) -> Self {
        let err = crate::error::Error::new(e.to_string());
        match e.hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

/// Which ansible.cfg Ansible would read: `ANSIBLE_CONFIG` (a file, or a
/// directory holding `ansible.cfg`), then `./ansible.cfg`, then the project
/// root's, then `~/.ansible.cfg`, then `/etc/ansible/ansible.cfg`. Like Ansible,
/// an `ansible.cfg` in a world-writable working directory is skipped (the
/// returned note says so).
pub fn find(
    ansible_config: Option<&str>,
    cwd: &Path,
    project_root: Option<&Path>,
    home: Option<&Path>,
) -> (Option<PathBuf>, Option<String>) {
    let mut note = None;
    if let Some(c) = ansible_config.filter(|c| !c.is_empty()) {
        let p = absolute(&expand(c, home), cwd);
        let p = if p.is_dir() { p.join("ansible.cfg") } else { p };
        if p.is_file() {
            return (Some(p), None);
        }
        note = Some(format!(
            "ANSIBLE_CONFIG={c}: no such file; looking for ansible.cfg elsewhere"
        ));
    }
    let mut cands = Vec::new();
    if world_writable(cwd) {
        if cwd.join("ansible.cfg").is_file() {
            note = Some(format!(
                "ignoring {}/ansible.cfg: the directory is world-writable (as Ansible does)",
                cwd.display()
            ));
        }
    } else {
        cands.push(cwd.join("ansible.cfg"));
    }
    if let Some(root) = project_root {
        cands.push(root.join("ansible.cfg"));
    }
    if let Some(h) = home {
        cands.push(h.join(".ansible.cfg"));
    }
    cands.push(PathBuf::from("/etc/ansible/ansible.cfg"));
    (cands.into_iter().find(|p| p.is_file()), note)
}

fn world_writable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

/// Reads and parses `file`.
pub fn load(file: &Path, home: Option<&Path>) -> Result<AnsibleCfg, CfgError> {
    let text = std::fs::read_to_string(file).map_err(|e| CfgError {
        location: Location::file(file),
        message: format!("cannot read ansible.cfg: {e}"),
        hint: None,
    })?;
    parse(&text, file, home)
}

/// One `key = value` of the file.
struct Entry {
    section: String,
    key: String,
    value: String,
    line: usize,
}

/// configparser's grammar: the entries in file order.
fn entries(text: &str, file: &Path) -> Result<Vec<Entry>, CfgError> {
    let err = |line: usize, message: String, hint: Option<&str>| CfgError {
        location: Location::new(file, line, None),
        message,
        hint: hint.map(str::to_string),
    };
    let mut out: Vec<Entry> = Vec::new();
    let mut section: Option<String> = None;
    // the entry a continuation line extends, and its indentation
    let mut open: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = strip_inline_comment(raw);
        let trimmed = line.trim();
        if trimmed.is_empty() || raw.trim_start().starts_with(['#', ';']) {
            // an empty line ends a multi-line value (configparser keeps it
            // inside, then strips it: the same result)
            if trimmed.is_empty() {
                open = None;
            }
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if indented && let Some(idx) = open {
            let e = &mut out[idx];
            e.value.push('\n');
            e.value.push_str(trimmed);
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(err(
                    n,
                    format!("`{trimmed}` is not a section header"),
                    Some("write a section as [defaults]"),
                ));
            };
            section = Some(name.trim().to_string());
            open = None;
            continue;
        }
        let Some(sec) = &section else {
            return Err(err(
                n,
                "a setting before any [section] header".into(),
                Some(
                    "put settings under [defaults] (or [privilege_escalation], [ssh_connection]...)",
                ),
            ));
        };
        let sep = trimmed.find(['=', ':']).ok_or_else(|| {
            err(
                n,
                format!("`{trimmed}` is not `key = value`"),
                Some("write each setting as key = value"),
            )
        })?;
        let key = trimmed[..sep].trim().to_ascii_lowercase();
        let value = trimmed[sep + 1..].trim().replace("%%", "%");
        if key.is_empty() {
            return Err(err(n, "a setting without a name".into(), None));
        }
        if let Some(prev) = out.iter().find(|e| e.section == *sec && e.key == key) {
            return Err(err(
                n,
                format!(
                    "`{key}` is set twice in [{sec}] (first at line {})",
                    prev.line
                ),
                Some("keep one of them (Ansible refuses the file too)"),
            ));
        }
        out.push(Entry {
            section: sec.clone(),
            key,
            value,
            line: n,
        });
        open = Some(out.len() - 1);
    }
    Ok(out)
}

/// Ansible reads ansible.cfg with `inline_comment_prefixes=(';',)`: a `;`
/// after whitespace starts a comment.
fn strip_inline_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for i in 1..b.len() {
        if b[i] == b';' && (b[i - 1] == b' ' || b[i - 1] == b'\t') {
            return &line[..i];
        }
    }
    line
}

/// Parses the text of `file` (pure: no file is read). `home` expands `~`.
pub fn parse(text: &str, file: &Path, home: Option<&Path>) -> Result<AnsibleCfg, CfgError> {
    let base = file.parent().unwrap_or(Path::new("/"));
    let mut cfg = AnsibleCfg {
        file: Some(file.to_path_buf()),
        ..Default::default()
    };
    for e in entries(text, file)? {
        let location = Location::new(file, e.line, None);
        let source = Source::File(location.clone());
        let bad = |what: &str| CfgError {
            location: location.clone(),
            message: format!("{} = {}: {what}", e.key, e.value),
            hint: None,
        };
        let v = e.value.as_str();
        match (e.section.as_str(), e.key.as_str()) {
            ("defaults", "roles_path") => {
                cfg.roles_path = setting(&source, path_list(v, ':', base, home));
            }
            ("defaults", "collections_path" | "collections_paths") => {
                cfg.collections_path = setting(&source, path_list(v, ':', base, home));
            }
            ("defaults", "inventory" | "hostfile") => {
                cfg.inventory = setting(&source, path_list(v, ',', base, home));
            }
            ("defaults", "remote_user") => cfg.remote_user = setting(&source, v.to_string()),
            ("defaults", "private_key_file") => {
                cfg.private_key_file = setting(&source, absolute(&expand(v, home), base));
            }
            ("defaults", "forks") => {
                let n = positive(v).ok_or_else(|| bad("not a number of hosts (1 or more)"))?;
                cfg.forks = setting(&source, n as usize);
            }
            ("defaults", "timeout") => {
                let n = positive(v).ok_or_else(|| bad("not a number of seconds"))?;
                cfg.timeout = setting(&source, n);
            }
            ("defaults", "vault_password_file") => {
                cfg.vault_password_file = setting(&source, absolute(&expand(v, home), base));
            }
            ("defaults", "vault_identity_list") => {
                let ids = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| resolve_vault_id(s, base, home))
                    .collect();
                cfg.vault_identity_list = setting(&source, ids);
            }
            ("defaults", "ansible_managed") => {
                cfg.ansible_managed = setting(&source, v.to_string());
            }
            ("defaults", "host_key_checking") => {
                let b = boolean(v).ok_or_else(|| bad("not a boolean (True or False)"))?;
                cfg.host_key_checking = setting(&source, b);
            }
            ("privilege_escalation", "become") => {
                let b = boolean(v).ok_or_else(|| bad("not a boolean (True or False)"))?;
                cfg.become_ = setting(&source, b);
            }
            ("privilege_escalation", "become_user") => {
                cfg.become_user = setting(&source, v.to_string())
            }
            ("privilege_escalation", "become_method") => {
                cfg.become_method = setting(&source, v.to_string());
            }
            (section, key) => cfg
                .ignored
                .push((location.clone(), format!("{section}.{key}"))),
        }
    }
    Ok(cfg)
}

fn setting<T>(source: &Source, value: T) -> Option<Setting<T>> {
    Some(Setting {
        value,
        source: source.clone(),
    })
}

fn env_setting<T>(value: T, name: &'static str) -> Option<Setting<T>> {
    Some(Setting {
        value,
        source: Source::Env(name),
    })
}

/// A `label@source` vault id from the file: a relative source is relative to
/// the file's directory (`prompt` stays as it is).
fn resolve_vault_id(s: &str, base: &Path, home: Option<&Path>) -> String {
    let (label, source) = match s.split_once('@') {
        Some((l, src)) => (Some(l), src),
        None => (None, s),
    };
    let source = if source == "prompt" || source == "prompt_ask_vault_pass" {
        source.to_string()
    } else {
        absolute(&expand(source, home), base).display().to_string()
    };
    match label {
        Some(l) => format!("{l}@{source}"),
        None => source,
    }
}

/// A whole number above 0.
fn positive(v: &str) -> Option<u64> {
    v.trim().parse::<u64>().ok().filter(|n| *n > 0)
}

/// Ansible's boolean for settings.
pub fn boolean(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "y" | "t" => Some(true),
        "false" | "no" | "off" | "0" | "n" | "f" => Some(false),
        _ => None,
    }
}

fn path_list(v: &str, sep: char, base: &Path, home: Option<&Path>) -> Vec<PathBuf> {
    v.split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| absolute(&expand(s, home), base))
        .collect()
}

/// `~` and `$VAR` / `${VAR}` expanded (an unset variable stays as written, as
/// Python's `os.path.expandvars`).
fn expand(s: &str, home: Option<&Path>) -> PathBuf {
    let s = match (s.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{}{rest}", h.display())
        }
        _ => s.to_string(),
    };
    static VAR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
            .expect("valid regex")
    });
    let out = VAR.replace_all(&s, |c: &regex::Captures| {
        let name = c.get(1).or(c.get(2)).map_or("", |m| m.as_str());
        std::env::var(name).unwrap_or_else(|_| c[0].to_string())
    });
    PathBuf::from(out.into_owned())
}

fn absolute(p: &Path, base: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

impl AnsibleCfg {
    /// The same settings with the `ANSIBLE_*` environment variables over them
    /// (`env` reads one; relative paths are relative to `cwd`). A bad value is
    /// an error naming the variable.
    pub fn with_env(
        mut self,
        env: &dyn Fn(&str) -> Option<String>,
        cwd: &Path,
        home: Option<&Path>,
    ) -> Result<AnsibleCfg, CfgError> {
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        let bad = |name: &str, v: &str, what: &str| CfgError {
            location: Location::file(Path::new(name)),
            message: format!("environment variable {name}={v}: {what}"),
            hint: None,
        };
        if let Some(v) = get("ANSIBLE_ROLES_PATH") {
            self.roles_path = env_setting(path_list(&v, ':', cwd, home), "ANSIBLE_ROLES_PATH");
        }
        for name in ["ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"] {
            if let Some(v) = get(name) {
                self.collections_path = env_setting(path_list(&v, ':', cwd, home), name);
                break;
            }
        }
        if let Some(v) = get("ANSIBLE_INVENTORY") {
            self.inventory = env_setting(path_list(&v, ',', cwd, home), "ANSIBLE_INVENTORY");
        }
        if let Some(v) = get("ANSIBLE_REMOTE_USER") {
            self.remote_user = env_setting(v, "ANSIBLE_REMOTE_USER");
        }
        if let Some(v) = get("ANSIBLE_PRIVATE_KEY_FILE") {
            self.private_key_file =
                env_setting(absolute(&expand(&v, home), cwd), "ANSIBLE_PRIVATE_KEY_FILE");
        }
        if let Some(v) = get("ANSIBLE_FORKS") {
            let n =
                positive(&v).ok_or_else(|| bad("ANSIBLE_FORKS", &v, "not a number of hosts"))?;
            self.forks = env_setting(n as usize, "ANSIBLE_FORKS");
        }
        if let Some(v) = get("ANSIBLE_TIMEOUT") {
            let n = positive(&v)
                .ok_or_else(|| bad("ANSIBLE_TIMEOUT", &v, "not a number of seconds"))?;
            self.timeout = env_setting(n, "ANSIBLE_TIMEOUT");
        }
        if let Some(v) = get("ANSIBLE_VAULT_PASSWORD_FILE") {
            self.vault_password_file = env_setting(
                absolute(&expand(&v, home), cwd),
                "ANSIBLE_VAULT_PASSWORD_FILE",
            );
        }
        if let Some(v) = get("ANSIBLE_VAULT_IDENTITY_LIST") {
            let ids = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| resolve_vault_id(s, cwd, home))
                .collect();
            self.vault_identity_list = env_setting(ids, "ANSIBLE_VAULT_IDENTITY_LIST");
        }
        let flag = |name: &'static str| -> Result<Option<Setting<bool>>, CfgError> {
            match get(name) {
                None => Ok(None),
                Some(v) => {
                    let b = boolean(&v).ok_or_else(|| bad(name, &v, "not a boolean"))?;
                    Ok(env_setting(b, name))
                }
            }
        };
        if let Some(s) = flag("ANSIBLE_HOST_KEY_CHECKING")? {
            self.host_key_checking = Some(s);
        }
        if let Some(s) = flag("ANSIBLE_BECOME")? {
            self.become_ = Some(s);
        }
        if let Some(v) = get("ANSIBLE_BECOME_USER") {
            self.become_user = env_setting(v, "ANSIBLE_BECOME_USER");
        }
        if let Some(v) = get("ANSIBLE_BECOME_METHOD") {
            self.become_method = env_setting(v, "ANSIBLE_BECOME_METHOD");
        }
        Ok(self)
    }

    /// What `-v` says about the file: which one was read, and one line per
    /// setting opsctl ignores.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.file {
            Some(f) => out.push(format!(
                "using {}",
                crate::location::display_path(f)
            )),
            None => out.push("no ansible.cfg found (ANSIBLE_CONFIG, ./ansible.cfg, the project's, ~/.ansible.cfg, /etc/ansible/ansible.cfg)".into()),
        }
        for (loc, name) in &self.ignored {
            out.push(format!("{loc}: {name} is not used by opsctl (ignored)"));
        }
        out
    }

    /// The warning when the file (or the environment) turns host key checking
    /// off: opsctl keeps its strict default.
    pub fn host_key_warning(&self) -> Option<String> {
        let s = self.host_key_checking.as_ref().filter(|s| !s.value)?;
        Some(format!(
            "{}: host_key_checking = False is not applied: opsctl keeps checking host keys; to accept new hosts' keys set ansible_host_key_checking: accept-new (or false) in the inventory's group_vars, or add the keys to ~/.ssh/known_hosts (ssh-keyscan)",
            s.source
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> AnsibleCfg {
        parse(
            text,
            Path::new("/proj/ansible.cfg"),
            Some(Path::new("/home/u")),
        )
        .unwrap()
    }

    fn err(text: &str) -> String {
        parse(text, Path::new("/proj/ansible.cfg"), None)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_the_settings_with_their_lines() {
        let c = p(
            "# a comment\n; another\n[defaults]\nroles_path = roles:~/shared/roles:/opt/roles ; inline\ninventory = inventories/prod/hosts,extra.yml\nremote_user: deploy\nprivate_key_file = keys/id_ed25519\nforks=25\ntimeout = 30\nvault_password_file = .vault_pass\nhost_key_checking = False\nCOLLECTIONS_PATHS = collections\n\n[privilege_escalation]\nbecome = True\nbecome_user = app\nbecome_method = sudo\n",
        );
        let rp = c.roles_path.unwrap();
        assert_eq!(
            rp.value,
            vec![
                PathBuf::from("/proj/roles"),
                PathBuf::from("/home/u/shared/roles"),
                PathBuf::from("/opt/roles")
            ]
        );
        assert_eq!(
            rp.source,
            Source::File(Location::new("/proj/ansible.cfg", 4, None))
        );
        assert_eq!(
            c.inventory.unwrap().value,
            vec![
                PathBuf::from("/proj/inventories/prod/hosts"),
                PathBuf::from("/proj/extra.yml")
            ]
        );
        assert_eq!(c.remote_user.unwrap().value, "deploy");
        assert_eq!(
            c.private_key_file.unwrap().value,
            PathBuf::from("/proj/keys/id_ed25519")
        );
        assert_eq!(c.forks.unwrap().value, 25);
        assert_eq!(c.timeout.unwrap().value, 30);
        assert_eq!(
            c.vault_password_file.unwrap().value,
            PathBuf::from("/proj/.vault_pass")
        );
        assert_eq!(
            c.collections_path.unwrap().value,
            vec![PathBuf::from("/proj/collections")]
        );
        assert!(c.become_.unwrap().value);
        assert_eq!(c.become_user.unwrap().value, "app");
        assert_eq!(c.become_method.unwrap().value, "sudo");
        let hk = c.host_key_checking.clone().unwrap();
        assert!(!hk.value);
        assert!(c.ignored.is_empty(), "{:?}", c.ignored);
    }

    #[test]
    fn host_key_checking_off_is_warned_with_its_line() {
        let c = p("[defaults]\n\nhost_key_checking = no\n");
        let w = c.host_key_warning().unwrap();
        assert!(
            w.starts_with("/proj/ansible.cfg:3: host_key_checking = False is not applied"),
            "{w}"
        );
        assert!(w.contains("accept-new"), "{w}");
        assert!(
            p("[defaults]\nhost_key_checking = True\n")
                .host_key_warning()
                .is_none()
        );
        assert!(p("[defaults]\n").host_key_warning().is_none());
    }

    #[test]
    fn unknown_settings_are_listed_with_their_lines() {
        let c = p(
            "[defaults]\nstdout_callback = yaml\nretry_files_enabled = False\n[ssh_connection]\npipelining = True\nssh_args = -o ControlMaster=auto\n  -o ControlPersist=60s\n",
        );
        let names: Vec<(usize, &str)> = c
            .ignored
            .iter()
            .map(|(l, n)| (l.line, n.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                (2, "defaults.stdout_callback"),
                (3, "defaults.retry_files_enabled"),
                (5, "ssh_connection.pipelining"),
                (6, "ssh_connection.ssh_args"),
            ]
        );
        let notes = c.notes();
        assert_eq!(notes[0], "using /proj/ansible.cfg");
        assert_eq!(
            notes[1],
            "/proj/ansible.cfg:2: defaults.stdout_callback is not used by opsctl (ignored)"
        );
    }

    #[test]
    fn continuation_lines_and_comments() {
        let c = p("[defaults]\nroles_path = a\n   :b\n# roles_path = c\nremote_user = x#y\n");
        assert_eq!(
            c.roles_path.unwrap().value,
            vec![PathBuf::from("/proj/a"), PathBuf::from("/proj/b")]
        );
        // `#` inside a value is not a comment (Ansible's parser)
        assert_eq!(c.remote_user.unwrap().value, "x#y");
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            err("remote_user = x\n"),
            "/proj/ansible.cfg:1: a setting before any [section] header"
        );
        assert_eq!(
            err("[defaults]\nforks = many\n"),
            "/proj/ansible.cfg:2: forks = many: not a number of hosts (1 or more)"
        );
        assert_eq!(
            err("[defaults]\nbecome\n"),
            "/proj/ansible.cfg:2: `become` is not `key = value`"
        );
        assert_eq!(
            err("[defaults]\nforks = 5\nFORKS = 6\n"),
            "/proj/ansible.cfg:3: `forks` is set twice in [defaults] (first at line 2)"
        );
        assert!(
            err("[privilege_escalation]\nbecome = maybe\n").starts_with("/proj/ansible.cfg:2:")
        );
        assert!(err("[defaults\n").contains("not a section header"));
    }

    #[test]
    fn environment_over_file() {
        let c = p("[defaults]\nforks = 5\nremote_user = filer\nroles_path = r1\n");
        let vars = [
            ("ANSIBLE_FORKS", "9"),
            ("ANSIBLE_ROLES_PATH", "x:/abs"),
            ("ANSIBLE_BECOME", "yes"),
            ("ANSIBLE_VAULT_PASSWORD_FILE", "pw.txt"),
        ];
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let c = c.with_env(&env, Path::new("/cwd"), None).unwrap();
        assert_eq!(c.forks.as_ref().unwrap().value, 9);
        assert_eq!(c.forks.unwrap().source, Source::Env("ANSIBLE_FORKS"));
        assert_eq!(c.remote_user.unwrap().value, "filer");
        assert_eq!(
            c.roles_path.unwrap().value,
            vec![PathBuf::from("/cwd/x"), PathBuf::from("/abs")]
        );
        assert!(c.become_.unwrap().value);
        assert_eq!(
            c.vault_password_file.unwrap().value,
            PathBuf::from("/cwd/pw.txt")
        );
        let bad = |name: &str| (name == "ANSIBLE_FORKS").then(|| "lots".to_string());
        let e = AnsibleCfg::default()
            .with_env(&bad, Path::new("/"), None)
            .unwrap_err();
        assert!(e.message.contains("ANSIBLE_FORKS=lots"), "{}", e.message);
    }

    #[test]
    fn vault_identity_list_sources_are_resolved() {
        let c = p("[defaults]\nvault_identity_list = dev@pw/dev.txt, prod@prompt, /abs/pw\n");
        assert_eq!(
            c.vault_identity_list.unwrap().value,
            vec![
                "dev@/proj/pw/dev.txt".to_string(),
                "prod@prompt".to_string(),
                "/abs/pw".to_string()
            ]
        );
    }

    #[test]
    fn found_where_ansible_looks() {
        let d = tempfile::tempdir().unwrap();
        let (cwd, root, home) = (
            d.path().join("cwd"),
            d.path().join("root"),
            d.path().join("home"),
        );
        for dir in [&cwd, &root, &home] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let f = |env: Option<&str>| find(env, &cwd, Some(&root), Some(&home)).0;
        let etc = f(None);
        // nothing in the temp dirs: only /etc/ansible/ansible.cfg may be found
        assert!(etc.is_none() || etc == Some(PathBuf::from("/etc/ansible/ansible.cfg")));
        std::fs::write(home.join(".ansible.cfg"), "").unwrap();
        assert_eq!(f(None), Some(home.join(".ansible.cfg")));
        std::fs::write(root.join("ansible.cfg"), "").unwrap();
        assert_eq!(f(None), Some(root.join("ansible.cfg")));
        std::fs::write(cwd.join("ansible.cfg"), "").unwrap();
        assert_eq!(f(None), Some(cwd.join("ansible.cfg")));
        let other = d.path().join("other.cfg");
        std::fs::write(&other, "").unwrap();
        assert_eq!(f(Some(other.to_str().unwrap())), Some(other.clone()));
        // ANSIBLE_CONFIG naming a directory
        assert_eq!(
            f(Some(root.to_str().unwrap())),
            Some(root.join("ansible.cfg"))
        );
        // a world-writable working directory is skipped, and said
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cwd, std::fs::Permissions::from_mode(0o777)).unwrap();
        let (found, note) = find(None, &cwd, Some(&root), Some(&home));
        assert_eq!(found, Some(root.join("ansible.cfg")));
        assert!(note.unwrap().contains("world-writable"));
    }
}
