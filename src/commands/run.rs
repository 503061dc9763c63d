//! `opsctl run PLAYBOOK`: the ansible-playbook equivalent.

use std::path::PathBuf;

use serde_json::json;

use super::Loaded;
use crate::engine::{self, Options, Reporter};
use crate::error::{Error, Exit, Result};
use crate::playbook::{Action, Task};
use crate::printer::Printer;
use crate::runner::Connections;

/// What `opsctl run` (and `provision`, which runs the project's provision
/// playbook through it) does: the playbook, the engine's options, or only a
/// listing or a syntax check.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A path, or a name under the project's playbooks/.
    pub playbook: PathBuf,
    pub engine: Options,
    pub list_tasks: bool,
    pub list_hosts: bool,
    pub syntax_check: bool,
}

pub async fn run(loaded: &Loaded, args: RunOptions, printer: &Printer) -> Result<Exit> {
    let path = resolve_playbook(&args.playbook, loaded)?;
    let playbook = engine::load(loaded, &path, args.engine.strict, printer)?;
    if args.syntax_check {
        printer.result(&format!(
            "playbook: {} (syntax OK: {} plays)",
            crate::location::display_path(&path),
            playbook.plays.len()
        ));
        return Ok(Exit::Success);
    }
    let limit = match &args.engine.limit {
        Some(p) => Some(loaded.select(Some(p))?),
        None => None,
    };
    if args.list_hosts || args.list_tasks {
        for play in &playbook.plays {
            let hosts: Vec<String> = loaded
                .inventory
                .select(&play.hosts)?
                .into_iter()
                .filter(|h| limit.as_ref().is_none_or(|l| l.contains(h)))
                .collect();
            let name = play.name.clone().unwrap_or_else(|| play.hosts.clone());
            if printer.is_json() {
                let tasks: Vec<String> = if args.list_tasks {
                    list_tasks(
                        play.pre_tasks
                            .iter()
                            .chain(&play.tasks)
                            .chain(&play.post_tasks),
                        &args,
                    )
                } else {
                    vec![]
                };
                printer.json(&json!({"play": name, "hosts": hosts, "tasks": tasks}));
                continue;
            }
            printer.result(&format!(
                "play: {name} ({})",
                crate::location::display_path(&play.location.file)
            ));
            if args.list_hosts {
                printer.result(&format!("  hosts ({}):", hosts.len()));
                for h in &hosts {
                    printer.result(&format!("    {h}"));
                }
            }
            if args.list_tasks {
                printer.result("  tasks:");
                for t in list_tasks(
                    play.pre_tasks
                        .iter()
                        .chain(&play.tasks)
                        .chain(&play.post_tasks),
                    &args,
                ) {
                    printer.result(&format!("    {t}"));
                }
            }
        }
        return Ok(Exit::Success);
    }
    let reporter = Reporter::new(printer, args.engine.diff).with_journal(crate::journal::active());
    let conns = Connections::new();
    let exit = engine::run(loaded, &playbook, &args.engine, &reporter, conns.clone()).await;
    conns.close_all().await;
    exit
}

/// Tags as given (comma-separated or repeated), one per entry.
pub fn split_tags(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|t| t.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// `name  [tags]  file:line` for every task that the tag selection keeps.
fn list_tasks<'a>(tasks: impl Iterator<Item = &'a Task>, args: &RunOptions) -> Vec<String> {
    let (only, skip) = (&args.engine.tags, &args.engine.skip_tags);
    let mut out = Vec::new();
    for t in tasks {
        if let Action::Block {
            block,
            rescue,
            always,
        } = &t.action
        {
            out.extend(list_tasks(block.iter().chain(rescue).chain(always), args));
            continue;
        }
        if !engine::tags_match(&t.tags, only, skip) {
            continue;
        }
        let role = t
            .role
            .as_ref()
            .map(|r| format!("{} : ", r.name))
            .unwrap_or_default();
        let name = t.name.clone().unwrap_or_else(|| match &t.action {
            Action::Module { def, .. } => def.spec.name.to_string(),
            Action::Unimplemented { name, .. } => name.clone(),
            Action::Invalid { def, .. } => def.spec.name.to_string(),
            _ => "(include)".into(),
        });
        let tags = if t.tags.is_empty() {
            String::new()
        } else {
            format!("  TAGS: [{}]", t.tags.join(", "))
        };
        out.push(format!("{role}{name}{tags}  ({})", t.location));
    }
    out
}

/// A playbook path as given, else under the project's playbooks/.
fn resolve_playbook(arg: &std::path::Path, loaded: &Loaded) -> Result<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let direct = if arg.is_absolute() {
        arg.to_path_buf()
    } else {
        cwd.join(arg)
    };
    if direct.is_file() {
        return Ok(direct);
    }
    if let Some(p) = &loaded.target.project {
        for cand in [
            p.root.join("playbooks").join(arg),
            p.root.join("playbooks").join(arg).with_extension("yml"),
            p.root.join(arg),
        ] {
            if cand.is_file() {
                return Ok(cand);
            }
        }
    }
    Err(Error::new(format!("playbook {} not found", arg.display())).hint("give a path, or a name under the project's playbooks/ (e.g. `opsctl run provision --env staging`)"))
}
