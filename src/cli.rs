//! The command line: clap definitions, then dispatch to `commands`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::Exit;
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

#[derive(Debug, Parser)]
#[command(name = "opsctl", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
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
    /// Show more: -v the commands run, -vv their output
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Show only results and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// Which hosts a command works on.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// The environment: environments/ENV/ of the project
    #[arg(long, env = "OPSCTL_ENV", value_name = "ENV")]
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
}

#[derive(Debug, Args, Clone)]
pub struct LimitArg {
    /// Only these hosts: names, groups, web*, a:b (or), a:&b (and), a:!b (not), ~regex
    #[arg(short = 'l', long, value_name = "PATTERN")]
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
  opsctl run site --env staging --limit web1 --check --diff
  opsctl run site --env staging --tags nginx -e app_port=3000
  opsctl run site --env staging --list-tasks

Playbooks live in playbooks/ by convention; any path works. Prints changed and
failed results as they happen (every result with -v, commands with -v, their
output with -vv), then a recap per host. Exit status: 0 all ok, 2 a task failed,
4 some host unreachable, 1 the playbook or inventory has an error (nothing ran).")]
    Run(RunArgs),
    /// Show a host's variables, each with the file:line that set it and what it overrode
    #[command(after_help = "\
Examples:
  opsctl vars --env staging web1
  opsctl vars --env staging web1 workdir
  opsctl vars --env staging web1 --output json

Values are templated for that host (\"{{ ... }}\" resolved). A value that needs
facts (ansible_env...) is shown with the reason it cannot be resolved yet.")]
    Vars(VarsArgs),
}

#[derive(Debug, Args)]
pub struct PingArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// How many hosts to work on at once
    #[arg(short = 'f', long, default_value_t = 50, value_name = "N")]
    pub forks: usize,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The playbook: a path, or a name under the project's playbooks/
    pub playbook: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub limit: LimitArg,
    /// Only tasks with these tags (comma-separated or repeated)
    #[arg(short = 't', long)]
    pub tags: Vec<String>,
    /// Skip tasks with these tags
    #[arg(long)]
    pub skip_tags: Vec<String>,
    /// Report what would change, change nothing
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Show the differences of files and attributes
    #[arg(short = 'D', long)]
    pub diff: bool,
    /// How many hosts to work on at once
    #[arg(short = 'f', long, default_value_t = 50, value_name = "N")]
    pub forks: usize,
    /// List the tasks that would run, and stop
    #[arg(long)]
    pub list_tasks: bool,
    /// List the hosts of each play, and stop
    #[arg(long)]
    pub list_hosts: bool,
    /// Check the playbook (YAML, keywords, modules, arguments), and stop
    #[arg(long)]
    pub syntax_check: bool,
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
    pub host: String,
    /// Only this variable, with every definition it overrode
    pub name: Option<String>,
}

/// Entry point of the binary.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => Exit::Config.into(),
            };
        }
    };
    let verbosity = if cli.global.quiet {
        -1
    } else {
        cli.global.verbose.min(4) as i8
    };
    let printer = Printer::new(cli.global.output, verbosity);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(4)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            printer.error(&crate::error::Error::new(format!(
                "cannot start the async runtime: {e}"
            )));
            return Exit::Config.into();
        }
    };
    let exit = runtime.block_on(crate::commands::run(cli, &printer));
    // Nothing may outlive the command: masters are closed by the commands.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match exit {
        Ok(exit) => exit.into(),
        Err(e) => {
            printer.error(&e);
            e.exit.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
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
