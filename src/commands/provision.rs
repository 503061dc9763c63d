//! `opsctl provision --env E`: runs the project's `playbooks/provision.yml` (nginx,
//! supervisor, Node.js, Python, certbot, the app user) on the environment's hosts.

use super::Loaded;
use crate::cli::{ProvisionArgs, RunArgs};
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;

/// The playbook provision runs, relative to the project root.
pub const PLAYBOOK: &str = "playbooks/provision.yml";

pub async fn run(loaded: &Loaded, args: ProvisionArgs, printer: &Printer) -> Result<Exit> {
    let Some(project) = &loaded.target.project else {
        return Err(Error::new(format!(
            "opsctl provision runs {PLAYBOOK} of a project, and there is none here"
        ))
        .hint("run it inside the opsctl repository (or a copy of it), or pass --project DIR"));
    };
    let playbook = project.root.join(PLAYBOOK);
    if !playbook.is_file() {
        return Err(Error::new(format!(
            "{} does not exist: opsctl provision runs it",
            crate::location::display_path(&playbook)
        ))
        .hint("copy playbooks/provision.yml and roles/ from the opsctl repository into your project, or use `opsctl run PLAYBOOK`"));
    }
    let run = RunArgs {
        playbook,
        target: args.target,
        limit: args.limit,
        tags: args.tags,
        skip_tags: args.skip_tags,
        check: args.check,
        diff: args.diff,
        forks: args.forks,
        list_tasks: args.list_tasks,
        list_hosts: false,
        syntax_check: args.syntax_check,
        start_at_task: None,
    };
    super::run::run(loaded, run, printer).await
}
