//! `opsctl provision --env E`: runs the project's `playbooks/provision.yml` (nginx,
//! supervisor, Node.js, Python, certbot, the app user) on the environment's hosts.

use super::Loaded;
use super::run::RunOptions;
use crate::engine::Options;
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;

/// The playbook provision runs, relative to the project root.
pub const PLAYBOOK: &str = "playbooks/provision.yml";

/// `opsctl provision`: the run's options, or only a listing or a syntax check.
#[derive(Debug, Clone, Default)]
pub struct ProvisionOptions {
    pub engine: Options,
    pub list_tasks: bool,
    pub syntax_check: bool,
}

pub async fn run(loaded: &Loaded, args: ProvisionOptions, printer: &Printer) -> Result<Exit> {
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
    let run = RunOptions {
        playbook,
        engine: args.engine,
        list_tasks: args.list_tasks,
        list_hosts: false,
        syntax_check: args.syntax_check,
    };
    super::run::run(loaded, run, printer).await
}
