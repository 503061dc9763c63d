//! Modules, on the protocol of [`protocol`]: a module declares the facts it
//! needs from its validated arguments, decides purely from (arguments, facts),
//! and hands the engine the change to make; the engine gathers facts (merged,
//! one exec for the next tasks), applies changes and enforces check mode.
//! [`HostEnv`] is the engine's handle on the host a task runs on (the
//! connection, the task's become and environment); modules never hold it.
//!
//! A module is declared by a [`Spec`] (its arguments, like Ansible's
//! `argument_spec`), validated twice: statically when the playbook is loaded
//! (unknown or missing arguments, types of literal values, mutually exclusive
//! arguments) and at run time after templating. Adding a module on the
//! protocol: one file with its `Spec` and a `protocol::Module` impl, one line in
//! [`registry`], fixtures under `tests/fixtures/modules/<name>/`.

pub mod acl;
pub mod add_host;
pub mod apt;
pub mod apt_repository;
pub mod archive;
pub mod args;
pub mod attrs;
pub mod authorized_key;
pub mod blockinfile;
pub mod builtin;
pub mod capabilities;
pub mod command;
pub mod content;
pub mod copy;
pub mod cron;
pub mod crypto;
pub mod expect;
pub mod fail;
pub mod fetch;
pub mod file;
pub mod filesystem;
#[cfg(test)]
mod fixtures;
pub mod get_url;
pub mod git;
pub mod gitfacts;
pub mod group_by;
pub mod include_vars;
pub mod ini_file;
pub mod iptables;
pub mod lineinfile;
pub mod mode;
pub mod net;
pub mod npm;
pub mod openssh_keypair;
pub mod openssl_dhparam;
pub mod openssl_privatekey;
pub mod package_facts;
pub mod paths;
pub mod pause;
pub mod ping;
pub mod pip;
pub mod postgres;
pub mod postgresql_db;
pub mod postgresql_ext;
pub mod postgresql_privs;
pub mod postgresql_user;
pub mod protocol;
pub mod reboot;
pub mod regular_file;
pub mod remote_file;
pub mod replace;
pub mod script;
pub mod service;
pub mod service_facts;
pub mod setup;
pub mod slurp;
pub mod stat;
pub mod supervisorctl;
pub mod sysfacts;
pub mod sysv_status;
pub mod tempfile;
pub mod template;
pub mod text_edit;
pub mod ufw;
pub mod unarchive;
pub mod uri;
pub mod user;
pub mod wait_for;
pub mod wait_for_connection;
// compat modules (issue 11, part a)
pub mod alternatives;
pub mod assemble;
pub mod compose_ship;
pub mod deb822_repository;
pub mod debconf;
pub mod deploy_helper;
pub mod django_manage;
pub mod docker;
pub mod dpkg_selections;
pub mod find;
pub mod getent;
pub mod hostname;
pub mod htpasswd;
pub mod known_hosts;
pub mod locale_gen;
pub mod make;
pub mod modprobe;
pub mod mount;
pub mod mysql;
pub mod mysql_db;
pub mod mysql_user;
pub mod pam_limits;
pub mod pamd;
pub mod snap;
pub mod synchronize;
pub mod sysconf;
pub mod sysctl;
pub mod timezone;
pub mod x509_certificate;
pub mod xml;

use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::{Map, Value as Json};

pub use args::{ArgSpec, Args, Kind, Spec};

use crate::location::Location;
use crate::transport::{Connection, Output, RemoteCommand, shell_quote};
use fail::Fail;

/// The result of a module on one host.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    /// A one-line message (why it failed, what it did).
    pub msg: Option<String>,
    /// What changed (or would change in check mode), for `--diff`.
    pub diffs: Vec<Diff>,
    /// Module-specific result fields, registered with `register:` (rc, stdout, ...).
    pub data: Map<String, Json>,
    /// The message is for the reader (debug): shown even when nothing changed.
    pub print: bool,
    /// The host could not be reached (the connection broke): set by the
    /// engine, never by a module.
    pub unreachable: bool,
}

impl Outcome {
    pub fn ok() -> Outcome {
        Outcome::default()
    }
    pub fn changed() -> Outcome {
        Outcome {
            changed: true,
            ..Default::default()
        }
    }
    pub fn failed(msg: impl Into<String>) -> Outcome {
        Outcome {
            failed: true,
            msg: Some(msg.into()),
            ..Default::default()
        }
    }
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Outcome {
        self.data.insert(key.to_string(), value.into());
        self
    }
    pub fn msg(mut self, msg: impl Into<String>) -> Outcome {
        self.msg = Some(msg.into());
        self
    }

    /// The result as `register:` keeps it: the module's fields with
    /// `changed`, `failed`, `skipped`, `msg` (and `unreachable` when so).
    pub fn registered(&self) -> Map<String, Json> {
        let mut data = self.data.clone();
        data.insert("changed".into(), Json::Bool(self.changed));
        data.insert("failed".into(), Json::Bool(self.failed));
        data.insert("skipped".into(), Json::Bool(self.skipped));
        if self.unreachable {
            data.insert("unreachable".into(), Json::Bool(true));
        }
        if let Some(m) = &self.msg {
            data.entry("msg").or_insert(Json::String(m.clone()));
        }
        data
    }
}

/// A before/after pair shown as a unified diff with `--diff`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diff {
    /// What is compared: a path, or `path (mode)` for attributes.
    pub label: String,
    pub before: String,
    pub after: String,
}

impl Diff {
    pub fn new(
        label: impl Into<String>,
        before: impl Into<String>,
        after: impl Into<String>,
    ) -> Diff {
        Diff {
            label: label.into(),
            before: before.into(),
            after: after.into(),
        }
    }

    /// The unified diff text (`--- before`, `+++ after`, hunks).
    pub fn unified(&self) -> String {
        let d = similar::TextDiff::from_lines(&self.before, &self.after);
        d.unified_diff()
            .context_radius(3)
            .header(
                &format!("before: {}", self.label),
                &format!("after: {}", self.label),
            )
            .to_string()
    }
}

/// The host a module works on, and how.
pub struct HostEnv<'a> {
    /// Inventory name.
    pub host: &'a str,
    pub conn: &'a Connection,
    /// `--check`: decide, report, change nothing.
    pub check: bool,
    /// `--diff`: fill `Outcome::diffs`.
    pub diff: bool,
    /// The task's `become` (sudo -n -u USER), if any.
    pub become_user: Option<&'a str>,
    /// The task's `environment:`, exported before every command.
    pub environment: &'a [(String, String)],
    /// Where relative `src` paths are looked up, in order (the role's `files/` or
    /// `templates/`, then the playbook's directory).
    pub search: &'a [PathBuf],
    /// The task's position, for messages.
    pub location: &'a Location,
    /// The host's variables, for modules that render templates.
    pub vars: &'a minijinja::Value,
    pub templar: &'a crate::template::Templar,
    /// Every command run, with its output, for `-v` / `-vv`.
    pub trace: Mutex<Vec<(String, Output)>>,
    /// The task's `timeout`: when its action must be over. Every command
    /// then runs under the host's `timeout`, which ends the command and its
    /// children (its process group) at that moment.
    pub deadline: Option<std::time::Instant>,
}

impl HostEnv<'_> {
    /// `script` as the task runs it: its `environment:` exported first, through
    /// its `become`. (Traces show `script` alone: the exports stay out of `-v`.)
    pub fn command(&self, script: &str, stdin: Option<Vec<u8>>) -> RemoteCommand {
        let mut full = String::new();
        for (k, v) in self.environment {
            full.push_str(&format!("export {k}={}\n", shell_quote(v)));
        }
        match self.deadline {
            None => full.push_str(script),
            Some(at) => full.push_str(&timed(script, at)),
        }
        RemoteCommand {
            script: full,
            stdin,
            become_user: self.become_user.map(str::to_string),
            no_become: self.become_user.is_none(),
        }
    }

    /// Runs a shell script on the host with the task's become and environment.
    pub async fn run(&self, script: &str) -> Result<Output, Fail> {
        self.run_stdin(script, None).await
    }

    /// Same, feeding `stdin` to the script (file content moves this way: never scp).
    pub async fn run_stdin(&self, script: &str, stdin: Option<Vec<u8>>) -> Result<Output, Fail> {
        let cmd = self.command(script, stdin);
        let out = self.conn.run(&cmd).await?;
        self.trace
            .lock()
            .unwrap()
            .push((script.to_string(), out.clone()));
        Ok(out)
    }

    /// Finds a local file (`src:`) in the search path; absolute paths as they are.
    pub fn find_local(&self, rel: &str) -> Result<PathBuf, Fail> {
        find_local(self.search, rel)
    }
}

/// `script` bounded by the host's `timeout` (coreutils) until `at`, in whole
/// seconds (at least one): TERM to the script's process group then, KILL a
/// second later to what is left.
fn timed(script: &str, at: std::time::Instant) -> String {
    let left = at.saturating_duration_since(std::time::Instant::now());
    let secs = left.as_millis().div_ceil(1000).max(1);
    format!(
        "exec timeout -k 1 {secs} /bin/sh -c {}",
        shell_quote(script)
    )
}

/// Finds a local file (`src:`) in `search`, in order; absolute paths as they are.
pub fn find_local(search: &[PathBuf], rel: &str) -> Result<PathBuf, Fail> {
    find_in(search, rel, "src", |p| p.exists())
}

/// The first of `search` holding `rel` that `ok` accepts (absolute paths as
/// they are); the error names `what` and where it looked.
pub fn find_in(
    search: &[PathBuf],
    rel: &str,
    what: &str,
    ok: impl Fn(&std::path::Path) -> bool,
) -> Result<PathBuf, Fail> {
    let p = std::path::Path::new(rel);
    if p.is_absolute() {
        return if ok(p) {
            Ok(p.to_path_buf())
        } else {
            Err(Fail::Args(format!("{what} {rel} does not exist")))
        };
    }
    search
        .iter()
        .map(|d| d.join(rel))
        .find(|c| ok(c))
        .ok_or_else(|| {
            let looked: Vec<String> = search
                .iter()
                .map(|d| crate::location::display_path(d))
                .collect();
            Fail::Args(format!(
                "{what} {rel} not found (looked in {})",
                looked.join(", ")
            ))
        })
}

/// A module: its argument spec and its implementation.
pub struct ModuleDef {
    pub spec: &'static Spec,
    /// Its decisions, on the protocol (facts -> decide -> change, see [`protocol`]).
    pub module: &'static dyn protocol::Module,
}

/// Every module opsctl knows.
pub fn registry() -> &'static [ModuleDef] {
    static MODULES: &[ModuleDef] = &[
        ModuleDef {
            spec: &command::COMMAND,
            module: &command::RUN_COMMAND,
        },
        ModuleDef {
            spec: &command::SHELL,
            module: &command::RUN_SHELL,
        },
        ModuleDef {
            spec: &command::RAW,
            module: &command::RUN_RAW,
        },
        ModuleDef {
            spec: &builtin::DEBUG,
            module: &builtin::RUN_DEBUG,
        },
        ModuleDef {
            spec: &builtin::SET_FACT,
            module: &builtin::RUN_SET_FACT,
        },
        ModuleDef {
            spec: &add_host::ADD_HOST,
            module: &add_host::RUN_ADD_HOST,
        },
        ModuleDef {
            spec: &group_by::GROUP_BY,
            module: &group_by::RUN_GROUP_BY,
        },
        ModuleDef {
            spec: &include_vars::INCLUDE_VARS,
            module: &include_vars::RUN_INCLUDE_VARS,
        },
        ModuleDef {
            spec: &builtin::ASSERT,
            module: &builtin::RUN_ASSERT,
        },
        ModuleDef {
            spec: &builtin::FAIL,
            module: &builtin::RUN_FAIL,
        },
        ModuleDef {
            spec: &apt::APT,
            module: &apt::RUN_APT,
        },
        ModuleDef {
            spec: &apt::PACKAGE,
            module: &apt::RUN_PACKAGE,
        },
        ModuleDef {
            spec: &service::SERVICE,
            module: &service::RUN_SERVICE,
        },
        ModuleDef {
            spec: &service::SYSTEMD,
            module: &service::RUN_SYSTEMD,
        },
        ModuleDef {
            spec: &user::USER,
            module: &user::User,
        },
        ModuleDef {
            spec: &user::GROUP,
            module: &user::Group,
        },
        ModuleDef {
            spec: &authorized_key::AUTHORIZED_KEY,
            module: &authorized_key::AuthorizedKey,
        },
        ModuleDef {
            spec: &cron::CRON,
            module: &cron::Cron,
        },
        ModuleDef {
            spec: &file::FILE,
            module: &file::File,
        },
        ModuleDef {
            spec: &copy::COPY,
            module: &copy::Copy,
        },
        ModuleDef {
            spec: &template::TEMPLATE,
            module: &template::Template,
        },
        ModuleDef {
            spec: &stat::STAT,
            module: &stat::Stat,
        },
        ModuleDef {
            spec: &lineinfile::LINEINFILE,
            module: &lineinfile::LineInFile,
        },
        ModuleDef {
            spec: &blockinfile::BLOCKINFILE,
            module: &blockinfile::BlockInFile,
        },
        ModuleDef {
            spec: &ini_file::INI_FILE,
            module: &ini_file::IniFile,
        },
        ModuleDef {
            spec: &tempfile::TEMPFILE,
            module: &tempfile::Tempfile,
        },
        ModuleDef {
            spec: &script::SCRIPT,
            module: &script::Script,
        },
        ModuleDef {
            spec: &acl::ACL,
            module: &acl::Acl,
        },
        ModuleDef {
            spec: &htpasswd::HTPASSWD,
            module: &htpasswd::Htpasswd,
        },
        ModuleDef {
            spec: &replace::REPLACE,
            module: &replace::Replace,
        },
        ModuleDef {
            spec: &setup::SETUP,
            module: &setup::Setup,
        },
        ModuleDef {
            spec: &package_facts::PACKAGE_FACTS,
            module: &package_facts::PackageFacts,
        },
        ModuleDef {
            spec: &service_facts::SERVICE_FACTS,
            module: &service_facts::ServiceFacts,
        },
        ModuleDef {
            spec: &slurp::SLURP,
            module: &slurp::Slurp,
        },
        ModuleDef {
            spec: &ping::PING,
            module: &ping::Ping,
        },
        ModuleDef {
            spec: &git::GIT,
            module: &git::Git,
        },
        ModuleDef {
            spec: &get_url::GET_URL,
            module: &get_url::GetUrl,
        },
        ModuleDef {
            spec: &uri::URI,
            module: &uri::Uri,
        },
        ModuleDef {
            spec: &wait_for::WAIT_FOR,
            module: &wait_for::WaitFor,
        },
        ModuleDef {
            spec: &pip::PIP,
            module: &pip::Pip,
        },
        ModuleDef {
            spec: &npm::NPM,
            module: &npm::Npm,
        },
        ModuleDef {
            spec: &supervisorctl::SUPERVISORCTL,
            module: &supervisorctl::Supervisorctl,
        },
        ModuleDef {
            spec: &unarchive::UNARCHIVE,
            module: &unarchive::Unarchive,
        },
        ModuleDef {
            spec: &fetch::FETCH,
            module: &fetch::Fetch,
        },
        ModuleDef {
            spec: &pause::PAUSE,
            module: &pause::PauseModule,
        },
        ModuleDef {
            spec: &apt_repository::APT_REPOSITORY,
            module: &apt_repository::AptRepository,
        },
        ModuleDef {
            spec: &apt_repository::APT_KEY,
            module: &apt_repository::AptKey,
        },
        ModuleDef {
            spec: &sysctl::SYSCTL,
            module: &sysctl::Sysctl,
        },
        ModuleDef {
            spec: &hostname::HOSTNAME,
            module: &hostname::Hostname,
        },
        ModuleDef {
            spec: &timezone::TIMEZONE,
            module: &timezone::Timezone,
        },
        ModuleDef {
            spec: &locale_gen::LOCALE_GEN,
            module: &locale_gen::LocaleGen,
        },
        ModuleDef {
            spec: &find::FIND,
            module: &find::Find,
        },
        ModuleDef {
            spec: &getent::GETENT,
            module: &getent::Getent,
        },
        ModuleDef {
            spec: &known_hosts::KNOWN_HOSTS,
            module: &known_hosts::KnownHosts,
        },
        ModuleDef {
            spec: &assemble::ASSEMBLE,
            module: &assemble::Assemble,
        },
        ModuleDef {
            spec: &pam_limits::PAM_LIMITS,
            module: &pam_limits::PamLimits,
        },
        ModuleDef {
            spec: &pamd::PAMD,
            module: &pamd::Pamd,
        },
        ModuleDef {
            spec: &reboot::REBOOT,
            module: &reboot::RebootModule,
        },
        ModuleDef {
            spec: &xml::XML,
            module: &xml::Xml,
        },
        ModuleDef {
            spec: &modprobe::MODPROBE,
            module: &modprobe::Modprobe,
        },
        ModuleDef {
            spec: &alternatives::ALTERNATIVES,
            module: &alternatives::Alternatives,
        },
        ModuleDef {
            spec: &dpkg_selections::DPKG_SELECTIONS,
            module: &dpkg_selections::DpkgSelections,
        },
        ModuleDef {
            spec: &debconf::DEBCONF,
            module: &debconf::Debconf,
        },
        ModuleDef {
            spec: &make::MAKE,
            module: &make::Make,
        },
        ModuleDef {
            spec: &compose_ship::COMPOSE_SHIP,
            module: &compose_ship::ComposeShip,
        },
        ModuleDef {
            spec: &docker::DOCKER_IMAGE,
            module: &docker::DockerImage,
        },
        ModuleDef {
            spec: &docker::DOCKER_CONTAINER,
            module: &docker::DockerContainer,
        },
        ModuleDef {
            spec: &docker::DOCKER_COMPOSE_V2,
            module: &docker::DockerComposeV2,
        },
        ModuleDef {
            spec: &mount::MOUNT,
            module: &mount::Mount,
        },
        ModuleDef {
            spec: &deb822_repository::DEB822_REPOSITORY,
            module: &deb822_repository::Deb822Repository,
        },
        ModuleDef {
            spec: &snap::SNAP,
            module: &snap::Snap,
        },
        ModuleDef {
            spec: &postgresql_db::POSTGRESQL_DB,
            module: &postgresql_db::PostgresqlDb,
        },
        ModuleDef {
            spec: &postgresql_user::POSTGRESQL_USER,
            module: &postgresql_user::PostgresqlUser,
        },
        ModuleDef {
            spec: &postgresql_ext::POSTGRESQL_EXT,
            module: &postgresql_ext::PostgresqlExt,
        },
        ModuleDef {
            spec: &postgresql_privs::POSTGRESQL_PRIVS,
            module: &postgresql_privs::PostgresqlPrivs,
        },
        ModuleDef {
            spec: &ufw::UFW,
            module: &ufw::Ufw,
        },
        ModuleDef {
            spec: &openssl_privatekey::OPENSSL_PRIVATEKEY,
            module: &openssl_privatekey::OpensslPrivatekey,
        },
        ModuleDef {
            spec: &x509_certificate::X509_CERTIFICATE,
            module: &x509_certificate::X509Certificate,
        },
        ModuleDef {
            spec: &openssl_dhparam::OPENSSL_DHPARAM,
            module: &openssl_dhparam::OpensslDhparam,
        },
        ModuleDef {
            spec: &openssh_keypair::OPENSSH_KEYPAIR,
            module: &openssh_keypair::OpensshKeypair,
        },
        ModuleDef {
            spec: &wait_for_connection::WAIT_FOR_CONNECTION,
            module: &wait_for_connection::WaitForConnection,
        },
        ModuleDef {
            spec: &iptables::IPTABLES,
            module: &iptables::Iptables,
        },
        ModuleDef {
            spec: &synchronize::SYNCHRONIZE,
            module: &synchronize::Synchronize,
        },
        ModuleDef {
            spec: &mysql_db::MYSQL_DB,
            module: &mysql_db::MysqlDb,
        },
        ModuleDef {
            spec: &mysql_user::MYSQL_USER,
            module: &mysql_user::MysqlUser,
        },
        ModuleDef {
            spec: &django_manage::DJANGO_MANAGE,
            module: &django_manage::DjangoManage,
        },
        ModuleDef {
            spec: &deploy_helper::DEPLOY_HELPER,
            module: &deploy_helper::DeployHelper,
        },
        ModuleDef {
            spec: &archive::ARCHIVE,
            module: &archive::Archive,
        },
        ModuleDef {
            spec: &capabilities::CAPABILITIES,
            module: &capabilities::Capabilities,
        },
        ModuleDef {
            spec: &filesystem::FILESYSTEM,
            module: &filesystem::Filesystem,
        },
        ModuleDef {
            spec: &expect::EXPECT,
            module: &expect::Expect,
        },
    ];
    MODULES
}

/// Finds a module by name; `ansible.builtin.x`, `ansible.posix.x` and
/// `community.general.x` (and the other collections below) name the same module as `x`.
pub fn find(name: &str) -> Option<&'static ModuleDef> {
    let short = name.rsplit('.').next().unwrap_or(name);
    if name.contains('.')
        && ![
            "ansible.builtin.",
            "ansible.posix.",
            "community.general.",
            "ansible.legacy.",
            "community.postgresql.",
            "community.crypto.",
            "community.mysql.",
            "community.docker.",
        ]
        .iter()
        .any(|p| name.starts_with(p))
    {
        return None;
    }
    registry()
        .iter()
        .find(|m| m.spec.name == short || m.spec.aliases.contains(&short))
}

/// All module names (for "did you mean").
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|m| m.spec.name).collect()
}

/// The module reference (docs/modules.md), generated from the specs so the docs
/// never drift from the code.
pub fn reference() -> String {
    let mut s = String::from(
        "# Modules\n\nGenerated from the modules' argument specs (`opsctl::modules::reference()`; \
         a test keeps this file equal to it). Each module reads the host's state, decides, \
         and changes only what differs: `--check` reports, `--diff` shows. Arguments are \
         Ansible's; an unknown argument is an error before anything runs.\n\n\
         | module | arguments (required in bold; aliases in parentheses) |\n|---|---|\n",
    );
    let mut mods: Vec<&ModuleDef> = registry().iter().collect();
    mods.sort_by_key(|m| m.spec.name);
    for m in mods {
        let mut args: Vec<String> = m
            .spec
            .args
            .iter()
            .map(|a| {
                let name = if a.required {
                    format!("**{}**", a.name)
                } else {
                    a.name.to_string()
                };
                if a.aliases.is_empty() {
                    name
                } else {
                    format!("{name} ({})", a.aliases.join(", "))
                }
            })
            .collect();
        if m.spec.free_form {
            args.insert(0, "free-form command".into());
        }
        if m.spec.any_args {
            args.insert(0, "any `name: value`".into());
        }
        let mut name = m.spec.name.to_string();
        if !m.spec.aliases.is_empty() {
            name.push_str(&format!(" ({})", m.spec.aliases.join(", ")));
        }
        s.push_str(&format!("| {name} | {} |\n", args.join(", ")));
    }
    s
}

#[cfg(test)]
mod reference_tests {
    /// docs/modules.md is the generated reference; regenerate with
    /// `OPSCTL_WRITE_DOCS=1 cargo test --lib modules::reference_tests`.
    #[test]
    fn docs_modules_md_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/modules.md");
        let want = super::reference();
        if std::env::var_os("OPSCTL_WRITE_DOCS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/modules.md is stale: OPSCTL_WRITE_DOCS=1 cargo test --lib modules::reference_tests"
        );
    }
}
