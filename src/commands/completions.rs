//! `opsctl completions SHELL` and `opsctl man`: generated from the same clap
//! definition as the parser (src/cli.rs), so they cannot drift from it.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::{Error, Exit, Result};
use crate::printer::Printer;

pub fn completions(args: CompletionsArgs, printer: &Printer) -> Result<Exit> {
    let mut cmd = Cli::command();
    let mut out: Vec<u8> = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "opsctl", &mut out);
    printer.reveal(String::from_utf8_lossy(&out).trim_end_matches('\n'));
    Ok(Exit::Success)
}

/// The roff of one page.
fn render(cmd: clap::Command) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| Error::new(format!("cannot render the man page: {e}")))?;
    Ok(out)
}

pub fn man(args: ManArgs, printer: &Printer) -> Result<Exit> {
    let Some(dir) = args.dir else {
        let mut cmd = Cli::command();
        cmd.build();
        printer.reveal(String::from_utf8_lossy(&render(cmd)?).trim_end_matches('\n'));
        return Ok(Exit::Success);
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::new(format!("cannot create {}: {e}", dir.display()))
            .hint("--dir needs a directory you can write to")
    })?;
    // opsctl.1, opsctl-run.1, opsctl-runs-show.1... (one page per subcommand, as git does).
    clap_mangen::generate_to(Cli::command(), &dir).map_err(|e| {
        Error::new(format!(
            "cannot write the man pages into {}: {e}",
            dir.display()
        ))
    })?;
    let n = pages(&Cli::command());
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
