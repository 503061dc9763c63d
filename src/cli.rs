//! The command line: clap definitions, their conversion into the commands'
//! plain options ([`Cli::invocation`]), then `commands::run`. Completions and man
//! pages are generated here, from the same definitions.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};

use crate::commands::{
    BackupOptions, BackupsOptions, CommandInfo, ConnectFlags, DeployOptions, EngineOptions,
    EnvRequest, ExecOptions, ExecWhat, InitOptions, InitdataOptions, InventoryOptions, Invocation,
    JournalEntry, KeySource, LogsOptions, MaintenanceAction, MaintenanceOptions, NotifyOptions,
    PingOptions, PreviewsOptions, ProvisionOptions, ReleasesOptions, Request, RestoreOptions,
    RollbackOptions, RunOptions, RunsAction, RunsOptions, SecretsEnv, SecretsRequest, Selection,
    SshOptions, StagingAction, StagingOptions, StatusOptions, UsersRequest, VarsOptions,
    VaultImport, VaultSelection, split_tags,
};
use crate::error::{Error, Exit, Result};
use crate::printer::{OutputFormat, Printer};

const ABOUT: &str =
    "Provision servers and deploy web apps over SSH, Ansible-style, as one fast binary.";

const LONG_ABOUT: &str = "\
Provision servers and deploy web apps over SSH, Ansible-style, as one fast binary.

opsctl reads the Ansible layout you know: environments/<env>/hosts (INI or YAML
inventory), group_vars/, host_vars/, roles/. It connects with your system OpenSSH
client (your ~/.ssh/config, agent, ProxyJump and known_hosts apply), one connection
per host for the whole command.";

const EXAMPLES: &str = "\
Examples:
  opsctl ping --env staging                 every host answers \"pong\"
  opsctl inventory --env staging --graph    the groups and hosts
  opsctl vars --env staging web1 workdir    a variable's value and where it was set
  opsctl ping -i inventory/hosts --limit 'web:!web3'

Exit status: 0 all well; 1 usage or configuration error; 2 a task failed on some
host; 4 some host was unreachable.";

/// `--version`: the release, the commit it was built from and the build date.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("OPSCTL_BUILD_COMMIT"),
    ", built ",
    env!("OPSCTL_BUILD_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(name = "opsctl", version = VERSION, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The project root (the directory holding environments/); default: the nearest
    /// parent of the current directory that has one
    #[arg(long, global = true, env = "OPSCTL_PROJECT", value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Output format: text for people, json for programs (one object per line)
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Show more: -v the commands run, -vv their output, -vvvv the whole scripts sent
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Show only results and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// `--keep-connections`, on the commands that connect to hosts.
#[derive(Debug, Args, Clone, Copy)]
pub struct KeepArg {
    /// Keep SSH connections open for DURATION (default 10m) after the command, and
    /// reuse connections kept by an earlier one; `opsctl disconnect` closes them
    #[arg(long, env = "OPSCTL_KEEP_CONNECTIONS", value_name = "DURATION",
          num_args = 0..=1, default_missing_value = "10m", value_parser = parse_keep)]
    pub keep_connections: Option<KeepFor>,
}

/// How long connections outlive a command (`--keep-connections`).
#[derive(Debug, Clone, Copy)]
pub struct KeepFor(pub Option<std::time::Duration>);

/// `10m`, `90s`, `1h`, `600` (seconds); `0`, `no`, `off`, `false`: do not keep.
fn parse_keep(s: &str) -> Result<KeepFor, String> {
    let t = s.trim().to_ascii_lowercase();
    if matches!(t.as_str(), "" | "0" | "no" | "off" | "false") {
        return Ok(KeepFor(None));
    }
    let secs = crate::commands::parse_since(&t)?;
    Ok(KeepFor((!secs.is_zero()).then_some(secs)))
}

/// Which hosts a command works on.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// The environment: environments/ENV/ of the project
    #[arg(long, env = "OPSCTL_ENV", value_name = "ENV", add = ArgValueCandidates::new(env_names))]
    pub env: Option<String>,
    /// Any inventory file or directory, instead of --env (as `ansible -i`)
    #[arg(
        short = 'i',
        long = "inventory",
        value_name = "PATH",
        conflicts_with = "env"
    )]
    pub inventory: Option<PathBuf>,
    /// Extra variables, highest precedence: -e key=value, -e @vars.yml, -e '{"k": 1}'
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// The age identity (or SSH private key) that decrypts the environment's
    /// secrets.age; default: OPSCTL_AGE_KEY, OPSCTL_AGE_KEY_FILE, ~/.config/opsctl/identity.txt, ~/.ssh/id_ed25519
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    #[command(flatten)]
    pub vault: VaultArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Ansible Vault content read in place (as ansible-playbook takes it).
#[derive(Debug, Args, Clone)]
pub struct VaultArgs {
    /// The vault password file (an executable one is run, its output is the password); repeatable
    #[arg(help_heading = "Ansible Vault", long, value_name = "FILE")]
    pub vault_password_file: Vec<PathBuf>,
    /// A vault identity: [LABEL@]FILE, [LABEL@]SCRIPT or [LABEL@]prompt; repeatable
    #[arg(help_heading = "Ansible Vault", long, value_name = "ID")]
    pub vault_id: Vec<String>,
    /// Ask for the vault password on the terminal
    #[arg(help_heading = "Ansible Vault", short = 'J', long)]
    pub ask_vault_pass: bool,
}

/// Connection defaults, as ansible-playbook's flags: below every variable
/// (an inventory's ansible_user wins over -u, as in Ansible).
#[derive(Debug, Args, Clone)]
pub struct ConnectArgs {
    /// Log in as this user (default: ansible.cfg's remote_user, else ssh's own)
    #[arg(
        help_heading = "Connection (as ansible-playbook)",
        short = 'u',
        long = "user",
        value_name = "USER"
    )]
    pub user: Option<String>,
    /// The SSH private key to log in with
    #[arg(
        help_heading = "Connection (as ansible-playbook)",
        long = "private-key",
        visible_alias = "key-file",
        value_name = "FILE"
    )]
    pub private_key: Option<PathBuf>,
    /// SSH connection timeout in seconds
    #[arg(
        help_heading = "Connection (as ansible-playbook)",
        short = 'T',
        long,
        value_name = "SECONDS"
    )]
    pub timeout: Option<u64>,
    /// Run tasks with become (sudo), unless a play or task says otherwise
    #[arg(
        help_heading = "Connection (as ansible-playbook)",
        short = 'b',
        long = "become"
    )]
    pub become_: bool,
    /// The user to become (default root)
    #[arg(
        help_heading = "Connection (as ansible-playbook)",
        long,
        value_name = "USER"
    )]
    pub become_user: Option<String>,
    /// How to become (opsctl becomes with sudo)
    #[arg(
        help_heading = "Connection (as ansible-playbook)",
        long,
        value_name = "METHOD"
    )]
    pub become_method: Option<String>,
    /// Ask for the become (sudo) password (not supported yet: opsctl becomes with passwordless sudo; an error says so)
    #[arg(help_heading = "Connection (as ansible-playbook)", short = 'K', long)]
    pub ask_become_pass: bool,
}

impl From<&TargetArgs> for Selection {
    fn from(a: &TargetArgs) -> Self {
        let c = &a.connect;
        Selection {
            env: a.env.clone(),
            inventory: a.inventory.clone(),
            extra_vars: a.extra_vars.clone(),
            identity: a.identity.clone(),
            vault: VaultSelection {
                password_files: a.vault.vault_password_file.clone(),
                ids: a.vault.vault_id.clone(),
                ask: a.vault.ask_vault_pass,
            },
            connect: ConnectFlags {
                user: c.user.clone(),
                private_key: c.private_key.clone(),
                timeout: c.timeout,
                become_: c.become_,
                become_user: c.become_user.clone(),
                become_method: c.become_method.clone(),
                ask_become_pass: c.ask_become_pass,
            },
            forks: None,
        }
    }
}

#[derive(Debug, Args, Clone, Default)]
pub struct LimitArg {
    /// Only these hosts: names, groups, web*, a:b (or), a:&b (and), a:!b (not), ~regex
    #[arg(short = 'l', long, value_name = "PATTERN", add = ArgValueCandidates::new(host_names))]
    pub limit: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to every host and run a trivial command: each answers "pong"
    #[command(after_help = "\
Examples:
  opsctl ping --env staging
  opsctl ping --env staging --limit web1 --output json

Prints `HOST | pong` per host in inventory order, or `HOST | UNREACHABLE: why`.
When the environment sets ansible_become, the command also goes through sudo.
Exit status: 0 all answered, 4 some host is unreachable, 2 some host failed (sudo).")]
    Ping(PingArgs),
    /// Show the inventory: groups and hosts (--graph) or ansible-inventory's JSON (--list)
    #[command(after_help = "\
Examples:
  opsctl inventory --env staging --graph
  opsctl inventory --env staging --list > inventory.json
  opsctl inventory -i hosts --graph web

--list prints the same document as `ansible-inventory --list`: groups with
hosts/children and _meta.hostvars (each host's merged variables, not templated).")]
    Inventory(InventoryArgs),
    /// Run a playbook (the ansible-playbook equivalent)
    #[command(after_help = "\
Examples:
  opsctl run playbooks/site.yml --env staging
  opsctl run provision --env staging --limit web1 --check --diff
  opsctl run provision --env staging --tags nginx -e app_port=3000
  opsctl run provision --env staging --list-tasks

Playbooks live in playbooks/ by convention; any path works. Prints changed and
failed results as they happen (every result with -v, commands with -v, their
output with -vv), then a recap per host. Exit status: 0 all ok, 2 a task failed,
4 some host unreachable, 1 the playbook or inventory has an error (nothing ran).
With --fail-on-change, 2 also when a task changed something (drift).")]
    Run {
        #[command(flatten)]
        args: RunArgs,
        #[command(flatten)]
        ci: CiArgs,
    },
    /// Show a host's variables, each with the file:line that set it and what it overrode
    #[command(after_help = "\
Examples:
  opsctl vars --env staging web1
  opsctl vars --env staging web1 workdir
  opsctl vars --env staging web1 --output json

Values are templated for that host (\"{{ ... }}\" resolved). A value that needs
facts (ansible_env...) is shown with the reason it cannot be resolved yet.")]
    Vars(VarsArgs),
    /// Provision the hosts: nginx (and TLS), supervisor, Node.js, Python, the app user
    #[command(after_help = "\
Examples:
  opsctl provision --env staging
  opsctl provision --env staging --check --diff     what would change, change nothing
  opsctl provision --env staging --limit web1 --tags nginx
  opsctl provision --env staging -e node_version=20 -e node_apt_repo='deb ...'

Runs the project's playbooks/provision.yml (roles common, nginx, supervisor, node,
python, certbot; see docs/stack.md). A second run reports changed=0. Exit status:
0 all ok, 2 a task failed, 4 some host unreachable, 1 configuration error.")]
    Provision(ProvisionArgs),
    /// Start a project: the stack's playbooks and roles, one environment, a .gitignore
    #[command(after_help = "\
Examples:
  opsctl init ops                     a new project in ./ops, environment 'production'
  opsctl init --env staging           in the current directory, environment 'staging'
  opsctl init --diff                  how this project's playbooks and roles differ
                                      from the ones this opsctl ships

Writes playbooks/ and roles/ (nginx, TLS by certbot, supervisor, Node, Python, the
app's release-based deploy: see docs/stack.md) for you to own and edit, and
environments/ENV/ (hosts, group_vars/web.yml, recipients). Never overwrites a file:
an existing one is an error and nothing is written.")]
    Init(InitArgs),
    /// Environments: `env new NAME` scaffolds environments/NAME/
    #[command(after_help = "\
Examples:
  opsctl env new preprod                  hosts, group_vars/web.yml, recipients
  opsctl env new preprod --from staging   group_vars and recipients copied from staging

Then put the server in environments/NAME/hosts, add your key to recipients and run
`opsctl secrets edit --env NAME` (creates secrets.age), `opsctl provision --env NAME`.")]
    Env(EnvArgs),
    /// Close the SSH connections that --keep-connections kept open
    #[command(after_help = "\
Examples:
  opsctl provision --env staging --keep-connections
  opsctl deploy --env staging --keep-connections   reuses provision's connections
  opsctl disconnect

Closes every connection master of yours that an earlier command kept
(they also close by themselves after the --keep-connections idle time).")]
    Disconnect,
    /// Deploy the app at a git ref: lock, build a release, switch, health-check, roll back on failure
    #[command(after_help = "\
Examples:
  opsctl deploy --env staging                        the environment's git_version
  opsctl deploy --env demo --git-version v1.4.2      a tag, a branch or a commit
  opsctl deploy --env demo --git-version main --force
  opsctl deploy --env demo --force-unlock            after a deploy that crashed

The ref is resolved once, on this machine (app_src), so every host gets the same
commit and release id (UTC YYYYMMDDHHMMSS-<sha7>). Runs playbooks/deploy.yml. A
failed step or health check puts `current` back to the previous release, marks the
new one bad in releases.log and exits 2. Exit status: 0 live (or already live),
1 configuration error or the lock is held, 2 the deploy failed, 4 unreachable.")]
    Deploy(DeployArgs),
    /// Go back to the previous good release (or --to RELEASE)
    #[command(after_help = "\
Examples:
  opsctl rollback --env staging
  opsctl rollback --env staging --to 20240501120000-3f2a9c1

Without --to each host goes back to its newest release older than the live one
whose result is ok (bad and rolled-back releases are skipped). Runs
playbooks/rollback.yml under the deploy lock; the release left is logged as
rolled-back. A lock whose holder died (on this machine) is taken over, and the
release that command left live is health-checked first (logged ok, or switched
back), as deploy does.")]
    Rollback(RollbackArgs),
    /// List each host's releases: which is live, commit, ref, who, when, result
    #[command(after_help = "\
Examples:
  opsctl releases --env staging
  opsctl releases --env staging --output json

`*` marks the live release; `pruned` releases are in the log but their directory
was removed (keep_releases).")]
    Releases(ReleasesArgs),
    /// Load the environment's initial data (initdata_src) with the app's command
    #[command(after_help = "\
Examples:
  opsctl initdata --env demo

Copies the file named by initdata_src (relative to the environment's directory;
age-encrypted files are decrypted on this machine) to the host, mode 0600, and runs
initdata_command in the live release, under the deploy lock (a lock whose holder
died is taken over after health-checking the release it left live, as deploy does).")]
    Initdata(InitdataArgs),
    /// Back up the app now: its database (pg_dump) and shared/ files into the restic repository
    #[command(after_help = "\
Examples:
  opsctl backup --env staging
  opsctl backup --env staging --output json

Runs roles/backup's opsctl-backup on the environment's backup host (the first host
of group backup, else of group db): pg_dump --format=custom of db_name, the app's
shared/ files (without venvs/) and a record of what was live (time, host, release,
commit, ref, this run's id), as one snapshot tagged env:ENV and release:ID. The
nightly timer runs the same backup, then prunes. See docs/backups.md.")]
    Backup(BackupArgs),
    /// List the snapshots of the environment's backup repository: time, size, release, commit
    #[command(after_help = "\
Examples:
  opsctl backups --env staging
  opsctl backups --env staging --output json")]
    Backups(BackupsArgs),
    /// Restore a backup: the database (into a new one, then swapped) and files, under the deploy lock
    #[command(after_help = "\
Examples:
  opsctl restore --env staging                      the newest snapshot (asks first)
  opsctl restore --env staging 4f2a9c1e --yes       a snapshot from `opsctl backups`
  opsctl restore --env staging --from prod --anonymize 'cd api && ../venv/bin/python -m app.anonymize' --yes

Asks before it replaces anything; without a terminal, or in CI, it refuses unless
--yes is given (exit 1). The snapshot is checked and restored into a new database
while the site serves; then the programs stop, the new database takes the live
one's name (the old one is kept as DB_before_restore), shared/ is restored, the
release the snapshot was taken with goes live when it differs and is still on the
host, --anonymize runs in the live release with its .env, the programs start and
the health checks run. A failure before the swap changes nothing. --from ENV reads
ENV's repository (on ENV's backup host) and copies the snapshot through this machine.")]
    Restore(RestoreArgs),
    /// The run journal: recent runs, one run as it happened, an HTML report
    #[command(after_help = "\
Examples:
  opsctl runs                                  the last 20 runs of the project
  opsctl runs --env staging -n 50
  opsctl runs show last                        the newest run, per host
  opsctl runs show 20260105-143012-4173a --output json
  opsctl runs report last --html run.html      one self-contained page (stdout without --html)

Every command that touches hosts (run, provision, deploy, rollback, ping,
status...) records a run in .opsctl/runs/ of the project: who ran what, where
from, the commits, every task result per host. The newest OPSCTL_RUNS_KEEP
(default 200) runs are kept. See docs/journal.md.")]
    Runs(RunsArgs),
    /// Preview environments (deploy --preview): list them, destroy one, extend one's lifetime
    #[command(after_help = "\
Examples:
  opsctl previews --env staging                        name, ref, commit, URL, expires in
  opsctl previews --env staging --output json
  opsctl previews destroy feature-login --env staging  programs, site, database, files, ports
  opsctl previews extend feature-login 3d --env staging

A preview is made (and updated in place) by `opsctl deploy --env E --preview
[NAME]`; the host removes expired ones itself (a systemd timer, else cron, runs
/usr/local/sbin/opsctl-previews reap). `extend` moves the expiry by DURATION from
the current one (from now if it already passed; a negative DURATION such as -1h
moves it back). See docs/previews.md.")]
    Previews(PreviewsArgs),
    /// The staging branch: add a branch to it (a merge, pushed), or recreate it from the default branch
    #[command(after_help = "\
Examples:
  opsctl staging add                      the current branch
  opsctl staging add feature/login        merge it into origin's staging and push
  opsctl staging sync                     recreate staging from origin's default branch (asks)
  opsctl staging sync --yes               the same, in CI

Runs git in the repository (the current directory, or --repo DIR). `add` merges
BRANCH into REMOTE/staging with a merge commit (never a rebase; the working tree is
not touched) and pushes it as a fast-forward; it refuses a branch whose commits
were rewritten since an earlier add, naming them. `sync` shows the branches and
commits it would drop, asks, and force-pushes (with a lease) staging = the default
branch. See docs/staging.md.")]
    Staging(StagingArgs),
    /// Per host: live release, supervisor programs or compose containers, nginx, certificates, health checks, disk
    #[command(after_help = "\
Examples:
  opsctl status --env staging
  opsctl status --env staging --limit web1 --output json

One round trip per host. Exit status: 0 all is well; 2 something needs
attention (a stopped program, nginx -t failing or nginx down, a certificate
expiring within 14 days, a health check not answering 2xx/3xx, disk over 90%
full, a maintenance page a dead deploy left on, no good backup within a day, a
reboot required, the host monitor unable to send its notification), each with a
line saying what; 4 some host unreachable. A maintenance page is shown: since
when, by whom, its message; so are the monitor's last verdict and its time
(docs/monitoring.md).")]
    Status(StatusArgs),
    /// Turn the maintenance page on or off (nginx answers 503 with your message), or show it
    #[command(after_help = "\
Examples:
  opsctl maintenance on --env staging --message 'Back at 14:00 UTC'
  opsctl maintenance status --env staging
  opsctl maintenance off --env staging

On the web hosts (those of playbooks/deploy.yml), nginx answers every request
with a 503, a Retry-After header and a static page with the message (else
maintenance_message), except the health endpoint (maintenance_exempt_paths), the
addresses of maintenance_allow and the host itself. Switched by a file nginx
tests per request: no reload, no connection dropped. A page turned on by hand
stays on through deploys until `maintenance off`. Exit status: 0 done, 2 failed
on some host, 4 some host unreachable. See docs/maintenance.md.")]
    Maintenance(MaintenanceArgs),
    /// Run a shell command (or one module, -m) on every selected host at once
    #[command(after_help = "\
Examples:
  opsctl exec --env staging -- uptime
  opsctl exec --env staging --limit web --become -- 'systemctl status nginx | head -3'
  opsctl exec --env staging --stream -- tail -n 20 /var/log/syslog
  opsctl exec --env staging -m apt -a 'name=htop state=present' --become --check
  opsctl exec --env staging -m copy -a '{\"dest\": \"/tmp/motd\", \"content\": \"hi\"}' --diff
  opsctl exec --env staging --limit @failed -- uptime     the hosts that failed last time

The words after -- are joined by spaces and run with /bin/sh -c on each host (as
ssh does), templated per host ({{ inventory_hostname }}...). Output is grouped per
host (`HOST | SUCCESS | rc=0 >>` then its output), or with --stream printed as it
arrives, `HOST | line` (stdout) and `HOST ! line` (stderr). -m runs one task of
that module through the engine, as `ansible -m` (key=value, free-form, or
YAML/JSON arguments; --check and --diff as for a playbook). Exit status: 0 all
succeeded, 2 the command failed (non-zero exit) on some host, 4 some host was
unreachable (and none failed), 1 configuration error.")]
    Exec(ExecArgs),
    /// Show the app's logs (supervisor programs or compose containers) and nginx's, from every host; -f follows them
    #[command(after_help = "\
Examples:
  opsctl logs --env staging                       the last 10 lines of every log
  opsctl logs --env staging api -f                follow the API's log on every host
  opsctl logs --env staging nginx --since 1h      nginx's access and error logs of the last hour
  opsctl logs --env staging client worker -n 50 --limit web1

LOG is api (supervisor program app-api), client (app-client), nginx
(/var/log/nginx/*.log), any supervisor program's name or a compose app's service
name (its running containers' logs); without one, every program's and
container's log and nginx's. A program's files are those its supervisor
configuration names (stdout_logfile, stderr_logfile, or supervisor's AUTO files).
Each line is printed as `HOST LOG | line`. -n is lines per log file (default 10,
1000 with --since); --since skips files not written since then and lines whose
timestamp (nginx's, ISO) is older. -f follows until Ctrl-C or SIGTERM (the
remote tails stop with it). Exit status: 0, 2 a named program is not on some
host (or reading failed), 4 some host unreachable.")]
    Logs(LogsArgs),
    /// Open an SSH session to one host (or run a command there) as opsctl reaches it
    #[command(after_help = "\
Examples:
  opsctl ssh --env staging web1
  opsctl ssh --env staging web1 -- sudo supervisorctl status
  opsctl ssh --env staging web1 -- 'tail -f /var/log/nginx/error.log'

Runs your system ssh with what opsctl connects with: the environment's
ssh_config, the host's ansible_host, ansible_port, ansible_user, key, extra ssh
arguments, and the same host key checking (an unknown or changed key is
refused). The words after -- are the remote command (ssh joins them with
spaces). The exit status is ssh's (the remote command's, 255 for ssh errors).")]
    Ssh(SshArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_help = "\
Examples:
  opsctl completions bash > /etc/bash_completion.d/opsctl
  opsctl completions zsh > \"${fpath[1]}/_opsctl\"
  opsctl completions fish > ~/.config/fish/completions/opsctl.fish")]
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per subcommand into a directory
    #[command(after_help = "\
Examples:
  opsctl man | man -l -
  opsctl man --dir /usr/local/share/man/man1      opsctl.1, opsctl-run.1, ...")]
    Man(ManArgs),
    /// An environment's age-encrypted secrets: edit, view, set, rekey, recipients, keygen
    #[command(after_help = "\
Examples:
  opsctl secrets keygen                            your key; prints the public key
  opsctl secrets edit --env staging                decrypt into $EDITOR, re-encrypt
  printf %s \"$PW\" | opsctl secrets set --env staging db_password
  opsctl secrets view --env staging db_password
  opsctl secrets recipients --env staging          who can decrypt (and which is you)
  opsctl secrets rekey --env staging               after editing environments/staging/recipients
  opsctl secrets import-vault group_vars/all/vault.yml --env staging --vault-password-file pw

environments/ENV/secrets.age holds YAML variables, encrypted with age to the keys
listed in environments/ENV/recipients. Every command that loads variables
decrypts it in memory; its values (and strings made from them) print as ********.
Identity: --identity FILE, OPSCTL_AGE_KEY, OPSCTL_AGE_KEY_FILE,
~/.config/opsctl/identity.txt, ~/.ssh/id_ed25519, ~/.ssh/id_rsa.")]
    Secrets(SecretsArgs),
    /// People's SSH access: add (keys from GitHub, a URL or a file), remove, list
    #[command(after_help = "\
Examples:
  opsctl users add alice --github alice --sudo --env staging
  opsctl users add bob --key-url https://keys.example.org/bob.keys --env staging
  opsctl users add carol --key ~/carol.pub --env staging
  opsctl users remove bob --env staging
  opsctl users list --env staging

The keys are fetched here, checked line by line and shown with their fingerprints
(as `ssh-keygen -lf`), then recorded in environments/ENV/group_vars/all/users.yml
(commit it). `opsctl provision` applies the file on every host: the accounts,
authorized_keys exactly as recorded, passwordless sudo for --sudo; a removed user's
account is locked and its keys and sudo are removed. See docs/team.md.")]
    Users(UsersArgs),
    /// Notifications of the hosts' monitor: `notify test` sends a test one from each host
    #[command(after_help = "\
Examples:
  opsctl notify test --env staging
  opsctl notify test --env staging --limit web1

Each host runs its monitor's sender (/usr/local/sbin/opsctl-monitor test, from
roles/monitor): the webhook (monitor_webhook_url, a secret) and/or mail to
monitor_mail_to through the host's MTA. Exit status: 0 sent from every host,
2 some host could not send (no channel set, webhook or MTA failing), 4 unreachable.
See docs/monitoring.md.")]
    Notify(NotifyArgs),
}

#[derive(Debug, Args)]
pub struct PingArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// How many hosts to work on at once (default: ansible.cfg's forks, else 50)
    #[arg(short = 'f', long, value_name = "N")]
    pub forks: Option<usize>,
    #[command(flatten)]
    pub ci: CiArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["command", "module"])))]
pub struct ExecArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// How many hosts to work on at once (default: ansible.cfg's forks, else 50)
    #[arg(short = 'f', long, value_name = "N")]
    pub forks: Option<usize>,
    /// Print output lines as they arrive, prefixed with the host's name
    #[arg(long, conflicts_with = "module")]
    pub stream: bool,
    /// Run this module ad hoc (as `ansible -m`) instead of a command
    #[arg(short = 'm', long, value_name = "MODULE")]
    pub module: Option<String>,
    /// The module's arguments: key=value ..., a free-form command, or YAML/JSON
    #[arg(short = 'a', long, value_name = "ARGS", conflicts_with = "command")]
    pub args: Option<String>,
    /// With -m: report what would change, change nothing
    #[arg(short = 'C', long, conflicts_with = "command")]
    pub check: bool,
    /// With -m: show the differences of files and attributes
    #[arg(short = 'D', long, conflicts_with = "command")]
    pub diff: bool,
    /// The command to run on each host (after --)
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// Which logs: api, client, nginx, supervisor program or compose service names (default: all)
    #[arg(value_name = "LOG")]
    pub sources: Vec<String>,
    /// Follow: print new lines as they are written, until Ctrl-C
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines per log file (default 10; 1000 with --since)
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,
    /// Only what was written in this last while: 90s, 30m, 1h, 2d
    #[arg(long, value_name = "DURATION", value_parser = crate::commands::parse_since)]
    pub since: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The host: its inventory name
    #[arg(add = ArgValueCandidates::new(host_names))]
    pub host: String,
    /// A command to run instead of a login shell (after --)
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    /// The playbook: a path, or a name under the project's playbooks/
    #[arg(add = ArgValueCandidates::new(playbook_names))]
    pub playbook: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// Only tasks with these tags (comma-separated or repeated)
    #[arg(short = 't', long, add = ArgValueCandidates::new(tag_names))]
    pub tags: Vec<String>,
    /// Skip tasks with these tags
    #[arg(long, add = ArgValueCandidates::new(tag_names))]
    pub skip_tags: Vec<String>,
    /// Report what would change, change nothing
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Show the differences of files and attributes
    #[arg(short = 'D', long)]
    pub diff: bool,
    /// How many hosts to work on at once (default: ansible.cfg's forks, else 50)
    #[arg(short = 'f', long, value_name = "N")]
    pub forks: Option<usize>,
    /// List the tasks that would run, and stop
    #[arg(long)]
    pub list_tasks: bool,
    /// List the hosts of each play, and stop
    #[arg(long)]
    pub list_hosts: bool,
    /// Check the playbook (YAML, keywords, modules, arguments), and stop
    #[arg(long)]
    pub syntax_check: bool,
    /// Refuse a playbook using modules, filters, tests or lookups that Ansible has
    /// and opsctl does not implement (by default: a warning, a failure if reached)
    #[arg(long)]
    pub strict: bool,
    /// Start at the first task with this name
    #[arg(long, value_name = "NAME")]
    pub start_at_task: Option<String>,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// Print the group tree, like `ansible-inventory --graph`
    #[arg(long, conflicts_with = "list")]
    pub graph: bool,
    /// Print the JSON document of `ansible-inventory --list` (the default)
    #[arg(long)]
    pub list: bool,
    /// With --graph: start the tree at this group
    #[arg(value_name = "GROUP")]
    pub group: Option<String>,
}

#[derive(Debug, Args)]
pub struct VarsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The host (its inventory name)
    #[arg(add = ArgValueCandidates::new(host_names))]
    pub host: String,
    /// Only this variable, with every definition it overrode
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// Only tasks with these tags (comma-separated or repeated): common, nginx, site,
    /// supervisor, node, python, certbot, tls, renewal, packages
    #[arg(short = 't', long, add = ArgValueCandidates::new(tag_names))]
    pub tags: Vec<String>,
    /// Skip tasks with these tags
    #[arg(long, add = ArgValueCandidates::new(tag_names))]
    pub skip_tags: Vec<String>,
    /// Report what would change, change nothing
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Show the differences of files and attributes
    #[arg(short = 'D', long)]
    pub diff: bool,
    /// How many hosts to work on at once (default: ansible.cfg's forks, else 50)
    #[arg(short = 'f', long, value_name = "N")]
    pub forks: Option<usize>,
    /// List the tasks that would run, and stop
    #[arg(long)]
    pub list_tasks: bool,
    /// Check the playbook and roles (YAML, keywords, modules, arguments), and stop
    #[arg(long)]
    pub syntax_check: bool,
    /// Refuse a playbook using modules, filters, tests or lookups that Ansible has
    /// and opsctl does not implement (by default: a warning, a failure if reached)
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub ci: CiArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project's directory (created if needed; default: the current directory)
    pub dir: Option<PathBuf>,
    /// The environment to scaffold (letters, digits, '-', '_')
    #[arg(
        long,
        value_name = "ENV",
        default_value = "production",
        conflicts_with = "diff"
    )]
    pub env: String,
    /// Compare the project's playbooks and roles with the ones this opsctl ships
    /// (a unified diff per file); writes nothing
    #[arg(long)]
    pub diff: bool,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    #[command(subcommand)]
    pub command: EnvCommand,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Scaffold environments/NAME/: hosts, group_vars/web.yml, recipients
    #[command(after_help = "\
Examples:
  opsctl env new preprod
  opsctl env new preprod --from staging

Writes environments/NAME/hosts (a placeholder host to replace), group_vars/ (from
--from ENV with server_name replaced by a placeholder, else a commented template)
and recipients (who may decrypt secrets.age). Refuses an existing NAME.")]
    New(EnvNewArgs),
}

#[derive(Debug, Args)]
pub struct EnvNewArgs {
    /// The new environment's name (letters, digits, '-', '_')
    pub name: String,
    /// Copy group_vars/ and recipients from this environment
    #[arg(long, value_name = "ENV")]
    pub from: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// The git ref to deploy: a branch, tag or commit (default: the environment's git_version)
    #[arg(long, value_name = "REF")]
    pub git_version: Option<String>,
    /// Deploy even if this commit is already live on every host
    #[arg(long)]
    pub force: bool,
    /// Remove a deploy lock left by another deploy (a crashed one) before taking it
    #[arg(long)]
    pub force_unlock: bool,
    /// Show the plan (commit, release id, what is live, who holds the lock) and
    /// change nothing: no lock, no build, no switch
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Show the differences of files and attributes
    #[arg(short = 'D', long)]
    pub diff: bool,
    /// How many hosts to work on at once (default: ansible.cfg's forks, else 50)
    #[arg(short = 'f', long, value_name = "N")]
    pub forks: Option<usize>,
    /// Refuse a deploy playbook using modules, filters, tests or lookups that
    /// Ansible has and opsctl does not implement
    #[arg(long)]
    pub strict: bool,
    /// Deploy the ref as a preview environment NAME (default: the branch, made
    /// DNS-safe) beside the main app, at NAME.<preview_domain>
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub preview: Option<String>,
    /// With --preview: how long it lives before the host removes it (7d, 36h, 90m)
    #[arg(long, value_name = "DURATION", requires = "preview", value_parser = crate::commands::parse_lifetime)]
    pub lifetime: Option<i64>,
    /// With --preview: its database, empty (migrations fill it) or a snapshot of the environment's
    #[arg(long, value_name = "empty|snapshot", requires = "preview", value_parser = ["empty", "snapshot"])]
    pub data: Option<String>,
    /// With --preview --data: replace an existing preview's database (else refused: it keeps its data)
    #[arg(long, requires = "data")]
    pub reset_data: bool,
    /// With --preview --data snapshot: run CMD (in the new release, with its .env) on the
    /// restored data before the preview serves it (default: the environment's anonymize_command)
    #[arg(long, value_name = "CMD", requires = "preview")]
    pub anonymize: Option<String>,
    #[command(flatten)]
    pub ci: CiArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// The release to go back to (an id from `opsctl releases`); default: the
    /// newest good release older than the live one
    #[arg(long, value_name = "RELEASE")]
    pub to: Option<String>,
    /// Remove a deploy lock left by another deploy (a crashed one) before taking it
    #[arg(long)]
    pub force_unlock: bool,
    #[command(flatten)]
    pub ci: CiArgs,
}

#[derive(Debug, Args)]
pub struct ReleasesArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
}

#[derive(Debug, Args)]
pub struct InitdataArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// Remove a deploy lock left by another deploy (a crashed one) before taking it
    #[arg(long)]
    pub force_unlock: bool,
    #[command(flatten)]
    pub ci: CiArgs,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct BackupsArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The snapshot to restore (an id or its prefix, from `opsctl backups`); default: the newest
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: Option<String>,
    /// Replace the data without asking (needed without a terminal and in CI)
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Restore a snapshot of another environment's repository (e.g. prod into staging)
    #[arg(long, value_name = "ENV", add = ArgValueCandidates::new(env_names))]
    pub from: Option<String>,
    /// A command run in the live release (with its .env, as app_user) on the
    /// restored data before the programs start
    #[arg(long, value_name = "COMMAND")]
    pub anonymize: Option<String>,
    /// Remove a deploy lock left by another command before taking it
    #[arg(long)]
    pub force_unlock: bool,
}

/// `--junit` and `--fail-on-change`, for the commands that run tasks on hosts.
#[derive(Debug, Args, Clone, Default)]
pub struct CiArgs {
    /// Also write the run as a JUnit XML report to FILE: a testcase per host and
    /// task, failed tasks as failures, unreachable hosts as errors
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// A task that changed something fails the command (exit 2): drift detection
    /// for a scheduled `provision --check`
    #[arg(long)]
    pub fail_on_change: bool,
}

#[derive(Debug, Args)]
pub struct PreviewsArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// Nothing (list), `destroy NAME` or `extend NAME DURATION`
    #[arg(value_name = "ACTION", value_parser = ["destroy", "extend"])]
    pub action: Option<String>,
    /// The preview (destroy, extend)
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// extend: 3d, 12h, 90m (negative moves the expiry back)
    #[arg(value_name = "DURATION", allow_hyphen_values = true)]
    pub duration: Option<String>,
}

#[derive(Debug, Args)]
pub struct StagingArgs {
    #[command(subcommand)]
    pub command: StagingCommand,
    /// The git repository (default: the current directory)
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// The remote that holds staging and the default branch
    #[arg(long, global = true, value_name = "REMOTE", default_value = "origin")]
    pub remote: String,
    /// The staging branch's name
    #[arg(
        long = "staging-branch",
        global = true,
        value_name = "BRANCH",
        default_value = "staging"
    )]
    pub staging_branch: String,
}

#[derive(Debug, Subcommand)]
pub enum StagingCommand {
    /// Merge BRANCH (default: the current branch) into staging and push it
    Add {
        /// The branch to add (default: the current branch)
        branch: Option<String>,
    },
    /// Recreate staging from the remote's default branch, dropping every added branch
    Sync {
        /// Do not ask (required without a terminal and in CI)
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: Option<RunsCommand>,
    /// Only runs of this environment
    #[arg(long, value_name = "ENV", add = ArgValueCandidates::new(env_names))]
    pub env: Option<String>,
    /// How many runs to list (the newest)
    #[arg(short = 'n', long = "number", default_value_t = 20, value_name = "N")]
    pub number: usize,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One run as it happened: who, what, commits, every task result per host
    #[command(after_help = "\
Examples:
  opsctl runs show last
  opsctl runs show 20260105-143012            a unique prefix of the id is enough
  opsctl runs show last --output json")]
    Show(RunsShowArgs),
    /// Write one run as a single self-contained HTML page (hosts x tasks grid)
    #[command(after_help = "\
Examples:
  opsctl runs report last --html run.html
  opsctl runs report 20260105-143012 --html /tmp/deploy.html
  opsctl runs report last > run.html            (stdout without --html)

The page needs no network: open it in any browser, attach it to a ticket, or
publish it as a CI artifact.")]
    Report(RunsReportArgs),
}

#[derive(Debug, Args)]
pub struct RunsShowArgs {
    /// The run: `last`, an id from `opsctl runs`, or a unique prefix of one
    #[arg(value_name = "ID|last")]
    pub run: String,
}

#[derive(Debug, Args)]
pub struct RunsReportArgs {
    /// The run: `last`, an id from `opsctl runs`, or a unique prefix of one
    #[arg(value_name = "ID|last")]
    pub run: String,
    /// Where to write the page (default: stdout)
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// How many hosts to ask at once
    #[arg(short = 'f', long, value_name = "N")]
    pub forks: Option<usize>,
    /// Warn when a certificate expires within this many days
    #[arg(long, default_value_t = 14, value_name = "DAYS")]
    pub cert_days: u64,
}

#[derive(Debug, Args)]
pub struct MaintenanceArgs {
    /// on, off, or status
    #[arg(value_enum)]
    pub action: MaintenanceWhat,
    #[command(flatten)]
    pub keep: KeepArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// The page's message (with `on`; default: the host's maintenance_message)
    #[arg(short = 'm', long, value_name = "TEXT")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MaintenanceWhat {
    /// Turn the page on (or replace its message)
    On,
    /// Turn the page off
    Off,
    /// Show whether it is on, since when, by whom, with which message
    Status,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write opsctl.1 and one opsctl-SUBCOMMAND.1 per subcommand into DIR
    /// (default: print opsctl.1 on stdout)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NotifyArgs {
    #[command(subcommand)]
    pub command: NotifyCommand,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test notification from every selected host, through the monitor's channels
    /// (the same host selection and flags as `ping`)
    Test(PingArgs),
}

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
}

/// The environment a `users` subcommand works on.
#[derive(Debug, Args, Clone)]
pub struct UsersEnvArgs {
    /// The environment: environments/ENV/group_vars/all/users.yml
    #[arg(long, env = "OPSCTL_ENV", value_name = "ENV", add = ArgValueCandidates::new(env_names))]
    pub env: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Record a user and their public keys (again: update them); --sudo for passwordless sudo
    Add(UsersAddArgs),
    /// Mark a user removed: provision locks the account and removes its keys and sudo
    Remove(UsersRemoveArgs),
    /// The environment's users, with their keys' fingerprints
    List(UsersEnvArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("keys").required(true).args(["github", "key_url", "key"])))]
pub struct UsersAddArgs {
    /// The account's login name on the hosts
    pub name: String,
    /// Their keys from GitHub: https://github.com/LOGIN.keys
    #[arg(long, value_name = "LOGIN")]
    pub github: Option<String>,
    /// Their keys from this URL (a text file of public keys, one per line)
    #[arg(long, value_name = "URL")]
    pub key_url: Option<String>,
    /// Their keys from this file (a .pub file or authorized_keys lines)
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Passwordless sudo on every host
    #[arg(long)]
    pub sudo: bool,
    #[command(flatten)]
    pub env: UsersEnvArgs,
}

#[derive(Debug, Args)]
pub struct UsersRemoveArgs {
    /// The account's login name
    pub name: String,
    #[command(flatten)]
    pub env: UsersEnvArgs,
}

#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

/// The environment whose secrets a `secrets` subcommand works on.
#[derive(Debug, Args, Clone)]
pub struct SecretsEnvArgs {
    /// The environment: environments/ENV/secrets.age
    #[arg(long, env = "OPSCTL_ENV", value_name = "ENV", add = ArgValueCandidates::new(env_names))]
    pub env: Option<String>,
    /// Your age identity file (or SSH private key); see `opsctl secrets --help`
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Decrypt into $VISUAL/$EDITOR (private file, wiped after), check the YAML, re-encrypt
    #[command(
        after_help = "Examples:\n  opsctl secrets edit --env staging\n  EDITOR=nano opsctl secrets edit --env demo"
    )]
    Edit(SecretsEnvArgs),
    /// Print the decrypted secrets, or one value
    #[command(
        after_help = "Examples:\n  opsctl secrets view --env staging\n  opsctl secrets view --env staging db_password"
    )]
    View(SecretsViewArgs),
    /// Set one variable; the value is read from stdin (never from the command line)
    #[command(
        after_help = "Examples:\n  printf %s \"$PW\" | opsctl secrets set --env staging db_password\n  opsctl secrets set --env staging api_token    (asks, without echo)"
    )]
    Set(SecretsSetArgs),
    /// Re-encrypt to the recipients file (after adding or removing someone)
    #[command(after_help = "Examples:\n  opsctl secrets rekey --env production")]
    Rekey(SecretsEnvArgs),
    /// List who can decrypt, and which recipient is you
    #[command(after_help = "Examples:\n  opsctl secrets recipients --env staging")]
    Recipients(SecretsEnvArgs),
    /// Make a new age identity (~/.config/opsctl/identity.txt) and print its public key
    #[command(
        after_help = "Examples:\n  opsctl secrets keygen\n  opsctl secrets keygen --out - > ci-key.txt    (for OPSCTL_AGE_KEY in CI)"
    )]
    Keygen(SecretsKeygenArgs),
    /// Convert an Ansible Vault file (1.1/1.2, AES256) into environments/ENV/secrets.age
    #[command(
        after_help = "Examples:\n  opsctl secrets import-vault ops/ansible/staging/vault.yml --env staging --vault-password-file ops/ansible/vault-password"
    )]
    ImportVault(SecretsImportArgs),
    /// Which variables were added, removed or changed since a git revision (values hidden)
    #[command(
        after_help = "Examples:\n  opsctl secrets diff --env staging              since HEAD (the last commit)\n  opsctl secrets diff --env staging main~3\n  opsctl secrets diff --env staging --values     show the values too (to you)\n\nFor `git diff` and `git log -p` (docs/secrets.md):\n  git config diff.opsctl-secrets.command 'opsctl secrets git-diff'\n  echo 'secrets.age diff=opsctl-secrets' >> .gitattributes"
    )]
    Diff(SecretsDiffArgs),
    /// git's external diff driver for secrets.age (git passes the 7 arguments)
    #[command(hide = true)]
    GitDiff(SecretsGitDiffArgs),
}

#[derive(Debug, Args)]
pub struct SecretsDiffArgs {
    #[command(flatten)]
    pub env: SecretsEnvArgs,
    /// The git revision to compare with (a commit, branch or tag)
    #[arg(default_value = "HEAD")]
    pub rev: String,
    /// Show the old and new values (on your terminal only: they are secrets)
    #[arg(long)]
    pub values: bool,
}

#[derive(Debug, Args)]
pub struct SecretsGitDiffArgs {
    /// Show the old and new values
    #[arg(long)]
    pub values: bool,
    /// Your age identity file
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE, from git
    #[arg(num_args = 0.., allow_hyphen_values = true)]
    pub args: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SecretsViewArgs {
    #[command(flatten)]
    pub env: SecretsEnvArgs,
    /// Only this variable's value
    pub key: Option<String>,
}

#[derive(Debug, Args)]
pub struct SecretsSetArgs {
    #[command(flatten)]
    pub env: SecretsEnvArgs,
    /// The variable to set
    pub key: String,
}

#[derive(Debug, Args)]
pub struct SecretsKeygenArgs {
    /// Where to write the identity (`-` prints it); default ~/.config/opsctl/identity.txt
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SecretsImportArgs {
    /// The Ansible Vault file
    pub file: PathBuf,
    #[command(flatten)]
    pub env: SecretsEnvArgs,
    /// The vault password file (an executable one is run), as for ansible-vault
    #[arg(long, value_name = "FILE")]
    pub vault_password_file: Option<PathBuf>,
    /// Replace an existing secrets.age
    #[arg(long)]
    pub force: bool,
}

/// The global flags that mean nothing on a command: hidden from its help, man
/// page and completions, and refused on its command line.
const MEANINGLESS: &[(&str, &[&str])] = &[
    // Prints roff (or writes files): no JSON, nothing to show more or less, no project.
    ("man", &["output", "verbose", "quiet", "project"]),
    // Prints a shell script: the same.
    ("completions", &["output", "verbose", "quiet", "project"]),
];

/// The clap definition as users see it: [`Cli`] with the global flags hidden
/// where they mean nothing ([`MEANINGLESS`]).
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // Propagates the global flags to every subcommand, so they can be hidden there.
    cmd.build();
    for (sub, flags) in MEANINGLESS {
        // In place (`mut_arg` would reorder the built command's arguments).
        cmd = cmd.mut_subcommand(*sub, |c| {
            c.mut_args(|a| {
                let hide = flags.contains(&a.get_id().as_str());
                a.hide(hide)
            })
        });
    }
    cmd
}

/// Parses the command line with [`command`], refusing the flags that mean
/// nothing on the command given.
fn parse(args: Vec<OsString>) -> std::result::Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let mut cmd = command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    if let Some((sub, sub_matches)) = matches.subcommand()
        && let Some((_, flags)) = MEANINGLESS.iter().find(|(n, _)| n == &sub)
    {
        for f in *flags {
            let given = [&matches, sub_matches]
                .iter()
                .any(|m| m.value_source(f) == Some(clap::parser::ValueSource::CommandLine));
            if given {
                let mut sub_cmd = cmd.find_subcommand_mut(sub).expect("parsed").clone();
                return Err(sub_cmd.error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("--{f} means nothing for `opsctl {sub}`"),
                ));
            }
        }
    }
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
}

/// `--output json` (or `--output=json`) on the command line: even a usage
/// error is then written as JSON.
fn wants_json(args: &[OsString]) -> bool {
    args.windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || args.iter().any(|a| a == "--output=json")
}

/// Entry point of the binary.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    // A shell asking for completions (`COMPLETE=bash opsctl -- ...`).
    let cwd = std::env::current_dir().ok();
    match clap_complete::CompleteEnv::with_factory(command)
        .var(COMPLETE_VAR)
        .try_complete(args.clone(), cwd.as_deref())
    {
        Ok(true) => return ExitCode::SUCCESS,
        Ok(false) => {}
        Err(e) => {
            let _ = e.print();
            return Exit::Config.into();
        }
    }
    let json = wants_json(&args);
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(e) => {
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                // A usage error in JSON mode is a JSON object on stdout too.
                _ if json => {
                    let text = e.render().to_string();
                    let message = text
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim_start_matches("error: ");
                    let mut err = Error::new(message.to_string());
                    err.exit = Exit::Config;
                    exit_code(Err(err), &Printer::new(OutputFormat::Json, 0))
                }
                _ => {
                    let _ = e.print();
                    Exit::Config.into()
                }
            };
        }
    };
    let verbosity = if cli.global.quiet {
        -1
    } else {
        cli.global.verbose.min(4) as i8
    };
    let printer = Printer::new(cli.global.output, verbosity);
    let invocation = match cli.invocation() {
        Ok(invocation) => invocation,
        // Generated from the clap definition itself: no runtime, no command.
        Err(Generated::Completions(a)) => return exit_code(completions(&a, &printer), &printer),
        Err(Generated::Man(a)) => return exit_code(man(&a, &printer), &printer),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(4)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            printer.error(&Error::new(format!("cannot start the async runtime: {e}")));
            return Exit::Config.into();
        }
    };
    let exit = runtime.block_on(crate::commands::run(invocation, &printer));
    // Nothing may outlive the command: masters are closed by the commands.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    exit_code(exit, &printer)
}

fn exit_code(exit: Result<Exit>, printer: &Printer) -> ExitCode {
    match exit {
        Ok(exit) => exit.into(),
        Err(e) => {
            printer.error(&e);
            e.exit.into()
        }
    }
}

/// A command that touches hosts: what it loads, and what the run journal records of it.
fn on_hosts(
    name: &str,
    t: &TargetArgs,
    limit: &LimitArg,
    ci: Option<&CiArgs>,
) -> (Selection, JournalEntry) {
    let entry = JournalEntry {
        command: CommandInfo {
            name: name.to_string(),
            env: t.env.clone(),
            inventory: t.inventory.as_ref().map(|p| p.display().to_string()),
            limit: limit.limit.clone(),
            ..CommandInfo::default()
        },
        junit: ci.and_then(|c| c.junit.clone()),
        fail_on_change: ci.is_some_and(|c| c.fail_on_change),
    };
    (t.into(), entry)
}

/// The engine's options for a playbook run's flags (`--limit` as the journal
/// has it), recorded in the journal's entry.
fn play(
    j: &mut JournalEntry,
    check: bool,
    diff: bool,
    forks: usize,
    tags: &[String],
    skip_tags: &[String],
) -> EngineOptions {
    j.command.tags = tags.to_vec();
    j.command.skip_tags = skip_tags.to_vec();
    j.command.check = check;
    EngineOptions {
        check,
        diff,
        forks,
        limit: j.command.limit.clone(),
        tags: split_tags(tags),
        skip_tags: split_tags(skip_tags),
        start_at_task: None,
        strict: false,
    }
}

fn secrets_env(a: SecretsEnvArgs) -> SecretsEnv {
    SecretsEnv {
        env: a.env,
        identity: a.identity,
    }
}

/// What is generated from the clap definition rather than run by a command.
enum Generated {
    Completions(CompletionsArgs),
    Man(ManArgs),
}

impl Cli {
    /// The parsed command line as the commands take it (plain options, no clap
    /// type), with what the run journal records of it.
    fn invocation(self) -> std::result::Result<Invocation, Generated> {
        let keep = match &self.command {
            Command::Ping(a) => a.keep.keep_connections,
            Command::Run { args, .. } => args.keep.keep_connections,
            Command::Provision(a) => a.keep.keep_connections,
            Command::Deploy(a) => a.keep.keep_connections,
            Command::Rollback(a) => a.keep.keep_connections,
            Command::Releases(a) => a.keep.keep_connections,
            Command::Initdata(a) => a.keep.keep_connections,
            Command::Backup(a) => a.keep.keep_connections,
            Command::Backups(a) => a.keep.keep_connections,
            Command::Restore(a) => a.keep.keep_connections,
            Command::Status(a) => a.keep.keep_connections,
            Command::Maintenance(a) => a.keep.keep_connections,
            Command::Exec(a) => a.keep.keep_connections,
            Command::Logs(a) => a.keep.keep_connections,
            Command::Previews(a) => a.keep.keep_connections,
            Command::Notify(NotifyArgs {
                command: NotifyCommand::Test(a),
            }) => a.keep.keep_connections,
            _ => None,
        };
        let (request, journal) = match self.command {
            Command::Ping(a) => {
                let (s, j) = on_hosts("ping", &a.target, &a.limit, Some(&a.ci));
                let s = s.with_forks(a.forks);
                let o = PingOptions {
                    limit: a.limit.limit,
                    forks: s.default_forks(),
                };
                (Request::Ping(s, o), Some(j))
            }
            Command::Run { args: a, ci } => {
                let listing = a.list_tasks || a.list_hosts || a.syntax_check;
                let (s, mut j) = on_hosts("run", &a.target, &a.limit, Some(&ci));
                let s = s.with_forks(a.forks);
                j.command.playbook = Some(a.playbook.display().to_string());
                let forks = s.default_forks();
                let mut engine = play(&mut j, a.check, a.diff, forks, &a.tags, &a.skip_tags);
                engine.start_at_task = a.start_at_task;
                engine.strict = a.strict;
                let o = RunOptions {
                    playbook: a.playbook,
                    engine,
                    list_tasks: a.list_tasks,
                    list_hosts: a.list_hosts,
                    syntax_check: a.syntax_check,
                };
                (Request::Run(s, o), (!listing).then_some(j))
            }
            Command::Inventory(a) => {
                let o = InventoryOptions {
                    limit: a.limit.limit,
                    graph: a.graph,
                    list: a.list,
                    group: a.group,
                };
                (Request::Inventory((&a.target).into(), o), None)
            }
            Command::Vars(a) => {
                let o = VarsOptions {
                    host: a.host,
                    name: a.name,
                };
                (Request::Vars((&a.target).into(), o), None)
            }
            Command::Provision(a) => {
                let listing = a.list_tasks || a.syntax_check;
                let (s, mut j) = on_hosts("provision", &a.target, &a.limit, Some(&a.ci));
                let s = s.with_forks(a.forks);
                let forks = s.default_forks();
                let mut engine = play(&mut j, a.check, a.diff, forks, &a.tags, &a.skip_tags);
                engine.strict = a.strict;
                let o = ProvisionOptions {
                    engine,
                    list_tasks: a.list_tasks,
                    syntax_check: a.syntax_check,
                };
                (Request::Provision(s, o), (!listing).then_some(j))
            }
            Command::Env(a) => {
                let EnvCommand::New(n) = a.command;
                let r = EnvRequest::New {
                    name: n.name,
                    from: n.from,
                };
                (Request::Env(r), None)
            }
            Command::Init(a) => (
                Request::Init(InitOptions {
                    dir: a.dir,
                    env: a.env,
                    diff: a.diff,
                }),
                None,
            ),
            Command::Disconnect => (Request::Disconnect, None),
            Command::Deploy(a) => {
                let (s, mut j) = on_hosts("deploy", &a.target, &a.limit, Some(&a.ci));
                let s = s.with_forks(a.forks);
                j.command.check = a.check;
                let o = DeployOptions {
                    limit: a.limit.limit,
                    git_version: a.git_version,
                    force: a.force,
                    force_unlock: a.force_unlock,
                    check: a.check,
                    diff: a.diff,
                    forks: s.default_forks(),
                    strict: a.strict,
                    preview: a.preview,
                    lifetime: a.lifetime,
                    data: a.data,
                    reset_data: a.reset_data,
                    anonymize: a.anonymize,
                };
                (Request::Deploy(s, o), Some(j))
            }
            Command::Rollback(a) => {
                let (s, j) = on_hosts("rollback", &a.target, &a.limit, Some(&a.ci));
                let o = RollbackOptions {
                    to: a.to,
                    force_unlock: a.force_unlock,
                    limit: a.limit.limit,
                };
                (Request::Rollback(s, o), Some(j))
            }
            Command::Releases(a) => {
                let (s, j) = on_hosts("releases", &a.target, &a.limit, None);
                let limit = a.limit.limit;
                (Request::Releases(s, ReleasesOptions { limit }), Some(j))
            }
            Command::Initdata(a) => {
                let (s, j) = on_hosts("initdata", &a.target, &a.limit, Some(&a.ci));
                let mut o = InitdataOptions::default();
                (o.limit, o.force_unlock) = (a.limit.limit, a.force_unlock);
                o.identity = s.identity.clone();
                (Request::Initdata(s, o), Some(j))
            }
            Command::Backup(a) => {
                let (s, j) = on_hosts("backup", &a.target, &LimitArg::default(), None);
                (Request::Backup(s, BackupOptions::default()), Some(j))
            }
            Command::Backups(a) => {
                let (s, j) = on_hosts("backups", &a.target, &LimitArg::default(), None);
                (Request::Backups(s, BackupsOptions::default()), Some(j))
            }
            Command::Restore(a) => {
                let (s, j) = on_hosts("restore", &a.target, &LimitArg::default(), None);
                let o = RestoreOptions {
                    snapshot: a.snapshot,
                    yes: a.yes,
                    from: a.from,
                    anonymize: a.anonymize,
                    force_unlock: a.force_unlock,
                };
                (Request::Restore(s, o), Some(j))
            }
            Command::Runs(a) => {
                let action = match a.command {
                    None => RunsAction::List,
                    Some(RunsCommand::Show(s)) => RunsAction::Show { run: s.run },
                    Some(RunsCommand::Report(r)) => RunsAction::Report {
                        run: r.run,
                        html: r.html,
                    },
                };
                let (env, number) = (a.env, a.number);
                (
                    Request::Runs(RunsOptions {
                        env,
                        number,
                        action,
                    }),
                    None,
                )
            }
            Command::Previews(a) => {
                let (s, j) = on_hosts("previews", &a.target, &a.limit, None);
                let o = PreviewsOptions {
                    limit: a.limit.limit,
                    words: [a.action, a.name, a.duration],
                };
                (Request::Previews(s, o), Some(j))
            }
            Command::Staging(a) => {
                let action = match a.command {
                    StagingCommand::Add { branch } => StagingAction::Add { branch },
                    StagingCommand::Sync { yes } => StagingAction::Sync { yes },
                };
                let o = StagingOptions {
                    action,
                    repo: a.repo,
                    remote: a.remote,
                    staging: a.staging_branch,
                };
                (Request::Staging(o), None)
            }
            Command::Status(a) => {
                let (s, j) = on_hosts("status", &a.target, &a.limit, None);
                let s = s.with_forks(a.forks);
                let mut o = StatusOptions::default();
                (o.limit, o.forks, o.cert_days) = (a.limit.limit, s.default_forks(), a.cert_days);
                (Request::Status(s, o), Some(j))
            }
            Command::Maintenance(a) => {
                let (s, j) = on_hosts("maintenance", &a.target, &a.limit, None);
                let action = match a.action {
                    MaintenanceWhat::On => MaintenanceAction::On,
                    MaintenanceWhat::Off => MaintenanceAction::Off,
                    MaintenanceWhat::Status => MaintenanceAction::Status,
                };
                let o = MaintenanceOptions {
                    action,
                    limit: a.limit.limit,
                    message: a.message,
                };
                (Request::Maintenance(s, o), Some(j))
            }
            Command::Secrets(a) => {
                let r = match a.command {
                    SecretsCommand::Edit(e) => SecretsRequest::Edit(secrets_env(e)),
                    SecretsCommand::View(v) => SecretsRequest::View(secrets_env(v.env), v.key),
                    SecretsCommand::Set(v) => SecretsRequest::Set(secrets_env(v.env), v.key),
                    SecretsCommand::Rekey(e) => SecretsRequest::Rekey(secrets_env(e)),
                    SecretsCommand::Recipients(e) => SecretsRequest::Recipients(secrets_env(e)),
                    SecretsCommand::Keygen(k) => SecretsRequest::Keygen { out: k.out },
                    SecretsCommand::Diff(d) => SecretsRequest::Diff {
                        env: secrets_env(d.env),
                        rev: Some(d.rev),
                        values: d.values,
                    },
                    SecretsCommand::GitDiff(d) => SecretsRequest::GitDiff {
                        env: SecretsEnv {
                            env: None,
                            identity: d.identity,
                        },
                        args: d.args,
                        values: d.values,
                    },
                    SecretsCommand::ImportVault(v) => SecretsRequest::ImportVault(VaultImport {
                        file: v.file,
                        env: secrets_env(v.env),
                        vault_password_file: v.vault_password_file,
                        force: v.force,
                    }),
                };
                (Request::Secrets(r), None)
            }
            Command::Notify(a) => {
                let NotifyCommand::Test(t) = a.command;
                let (s, j) = on_hosts("notify", &t.target, &t.limit, Some(&t.ci));
                let s = s.with_forks(t.forks);
                let o = NotifyOptions {
                    limit: t.limit.limit,
                    forks: s.default_forks(),
                };
                (Request::Notify(s, o), Some(j))
            }
            Command::Users(a) => {
                let r = match a.command {
                    UsersCommand::Add(u) => UsersRequest::Add {
                        env: u.env.env,
                        name: u.name,
                        keys: match (u.github, u.key_url, u.key) {
                            (Some(login), _, _) => KeySource::Github(login),
                            (_, Some(url), _) => KeySource::Url(url),
                            (_, _, Some(file)) => KeySource::File(file),
                            (None, None, None) => unreachable!("clap requires one of them"),
                        },
                        sudo: u.sudo,
                    },
                    UsersCommand::Remove(u) => UsersRequest::Remove {
                        env: u.env.env,
                        name: u.name,
                    },
                    UsersCommand::List(e) => UsersRequest::List { env: e.env },
                };
                (Request::Users(r), None)
            }
            Command::Exec(a) => {
                let (s, mut j) = on_hosts("exec", &a.target, &a.limit, None);
                let s = s.with_forks(a.forks);
                j.command.check = a.check;
                let what = match a.module {
                    Some(name) => ExecWhat::Module {
                        name,
                        args: a.args,
                        check: a.check,
                        diff: a.diff,
                    },
                    None => ExecWhat::Shell {
                        command: a.command.join(" "),
                        stream: a.stream,
                    },
                };
                let o = ExecOptions {
                    limit: a.limit.limit,
                    forks: s.default_forks(),
                    what,
                };
                (Request::Exec(s, o), Some(j))
            }
            Command::Logs(a) => {
                let o = LogsOptions {
                    limit: a.limit.limit,
                    forks: 0,
                    sources: a.sources,
                    follow: a.follow,
                    lines: a.lines,
                    since: a.since,
                };
                (Request::Logs((&a.target).into(), o), None)
            }
            Command::Ssh(a) => {
                let o = SshOptions {
                    host: a.host,
                    command: a.command,
                };
                (Request::Ssh((&a.target).into(), o), None)
            }
            Command::Completions(a) => return Err(Generated::Completions(a)),
            Command::Man(a) => return Err(Generated::Man(a)),
        };
        Ok(Invocation {
            project: self.global.project,
            keep_connections: keep.and_then(|k| k.0),
            request,
            journal,
        })
    }
}

// `opsctl completions SHELL` and `opsctl man`: generated from the same clap
// definition as the parser, so they cannot drift from it.

/// The shell's registration script: at each <TAB> the shell asks opsctl itself
/// (`COMPLETE=<shell> opsctl -- ...`, answered in [`main`]), so environments,
/// hosts, playbooks and tags come from the project of the current directory.
fn completions(args: &CompletionsArgs, printer: &Printer) -> Result<Exit> {
    let name = args.shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let Some(shell) = shells.completer(&name) else {
        return Err(Error::new(format!("no completion for the shell '{name}'")));
    };
    let mut out: Vec<u8> = Vec::new();
    shell
        .write_registration(COMPLETE_VAR, "opsctl", "opsctl", "opsctl", &mut out)
        .map_err(|e| Error::new(format!("cannot write the completion script: {e}")))?;
    printer.reveal(String::from_utf8_lossy(&out).trim_end_matches('\n'));
    Ok(Exit::Success)
}

/// The variable through which the shell asks for completions.
const COMPLETE_VAR: &str = "COMPLETE";

fn candidates(values: Vec<String>) -> Vec<CompletionCandidate> {
    values.into_iter().map(CompletionCandidate::new).collect()
}

fn env_names() -> Vec<CompletionCandidate> {
    candidates(crate::commands::complete::environments())
}

fn host_names() -> Vec<CompletionCandidate> {
    candidates(crate::commands::complete::hosts_and_groups())
}

fn playbook_names() -> Vec<CompletionCandidate> {
    candidates(crate::commands::complete::playbooks())
}

fn tag_names() -> Vec<CompletionCandidate> {
    candidates(crate::commands::complete::tags())
}

/// The roff of one page.
fn render(cmd: clap::Command) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| Error::new(format!("cannot render the man page: {e}")))?;
    Ok(out)
}

fn man(args: &ManArgs, printer: &Printer) -> Result<Exit> {
    let Some(dir) = &args.dir else {
        let cmd = command();
        printer.reveal(String::from_utf8_lossy(&render(cmd)?).trim_end_matches('\n'));
        return Ok(Exit::Success);
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::new(format!("cannot create {}: {e}", dir.display()))
            .hint("--dir needs a directory you can write to")
    })?;
    // opsctl.1, opsctl-run.1, opsctl-runs-show.1... (one page per subcommand, as git does).
    clap_mangen::generate_to(command(), dir).map_err(|e| {
        Error::new(format!(
            "cannot write the man pages into {}: {e}",
            dir.display()
        ))
    })?;
    let n = pages(&command());
    printer.result(&format!(
        "wrote {n} man pages into {} (opsctl.1, opsctl-SUBCOMMAND.1)",
        dir.display()
    ));
    Ok(Exit::Success)
}

/// The number of pages `generate_to` writes: the command and every subcommand.
fn pages(cmd: &clap::Command) -> usize {
    1 + cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .map(pages)
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    fn invocation(args: &[&str]) -> Invocation {
        match Cli::try_parse_from(args).unwrap().invocation() {
            Ok(i) => i,
            Err(_) => panic!("{args:?} is generated, not run"),
        }
    }

    #[test]
    fn keep_connections_is_a_flag_of_the_commands_that_connect() {
        let i = invocation(&["opsctl", "ping", "--env", "demo", "--keep-connections"]);
        assert_eq!(
            i.keep_connections,
            Some(std::time::Duration::from_secs(600))
        );
        let i = invocation(&[
            "opsctl",
            "deploy",
            "--env",
            "demo",
            "--keep-connections=90s",
        ]);
        assert_eq!(i.keep_connections, Some(std::time::Duration::from_secs(90)));
        assert!(
            invocation(&["opsctl", "status", "--env", "demo"])
                .keep_connections
                .is_none()
        );
        for args in [
            ["opsctl", "secrets", "view", "--keep-connections"].as_slice(),
            &["opsctl", "init", "--keep-connections"],
            &["opsctl", "--keep-connections", "ping"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn parsed_arguments_become_plain_options_and_a_journal_entry() {
        let i = invocation(&["opsctl", "deploy", "--env", "demo", "-l", "web1", "-f", "3"]);
        let Request::Deploy(sel, o) = i.request else {
            panic!("not a deploy")
        };
        assert_eq!(sel.env.as_deref(), Some("demo"));
        assert_eq!((o.forks, o.limit.as_deref()), (3, Some("web1")));
        let j = i.journal.expect("a deploy is journaled");
        assert_eq!(j.command.name, "deploy");
        assert_eq!(j.command.limit.as_deref(), Some("web1"));
        let Request::Deploy(_, o) = invocation(&["opsctl", "deploy", "--env", "d"]).request else {
            panic!("not a deploy")
        };
        assert_eq!(o.forks, crate::commands::DEFAULT_FORKS);
        // Listings touch no host: not journaled.
        let i = invocation(&["opsctl", "run", "site", "-t", "a,b", "--list-tasks"]);
        assert!(i.journal.is_none());
        let Request::Run(_, o) = i.request else {
            panic!("not a run")
        };
        assert_eq!(o.engine.tags, ["a", "b"]);
        let i = invocation(&[
            "opsctl",
            "provision",
            "--env",
            "s",
            "--check",
            "--junit",
            "j.xml",
        ]);
        let j = i.journal.expect("provision is journaled");
        assert!(j.command.check);
        assert_eq!(j.junit.as_deref(), Some(std::path::Path::new("j.xml")));
        assert!(matches!(
            Cli::try_parse_from(["opsctl", "man"]).unwrap().invocation(),
            Err(Generated::Man(_))
        ));
    }

    #[test]
    fn every_subcommand_help_has_an_example() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("Examples:"),
                "`opsctl {}` --help has no example",
                sub.get_name()
            );
        }
    }
}
