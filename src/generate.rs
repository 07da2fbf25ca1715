//! `arshim completions SHELL` and `arshim man`: shell completion scripts and
//! manual pages, generated from the command-line grammar itself (src/cli.rs),
//! so they cannot drift from `--help`. `make install` writes them where
//! bash-completion, zsh, fish and man look (docs/DESIGN.md, "Companion").

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Args, CommandFactory};

use crate::cli::Cli;
use crate::failure::Failure;

/// The name the completions complete and the pages are titled by.
const PROGRAM: &str = "arshim";

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write arshim.1 and one page per subcommand (arshim-run.1, …) into DIR
    /// instead of printing arshim.1
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints the completion script of `args.shell` on stdout.
pub fn completions(args: CompletionsArgs) -> Result<(), Failure> {
    let mut command = Cli::command();
    if args.shell == clap_complete::Shell::Fish {
        command = without_value_help(command);
    }
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, PROGRAM, &mut script);
    print(&script, "the completion script")
}

/// The grammar with every option value's help text left out: the fish
/// script puts that text inside a double-quoted word without escaping `"`
/// or `$(` (clap_complete 4.6), so `--shell sh`'s example, `eval
/// "$(arshim env …)"`, ran `arshim env` when fish loaded the script.
fn without_value_help(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| {
            let values: Vec<PossibleValue> = arg
                .get_possible_values()
                .into_iter()
                .map(|value| value.help(None))
                .collect();
            if values.is_empty() {
                arg
            } else {
                arg.value_parser(PossibleValuesParser::new(values))
            }
        })
        .mut_subcommands(without_value_help)
}

/// Prints arshim(1), or writes every page into `--dir`.
pub fn man(args: ManArgs) -> Result<(), Failure> {
    match args.dir {
        Some(dir) => write_pages(&dir),
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(paged_command())
                .render(&mut page)
                .map_err(|e| Failure::new(1, format!("cannot render the manual page: {e}")))?;
            print(&page, "the manual page")
        }
    }
}

/// The grammar the pages describe: without clap's `help` subcommand, which
/// has no page of its own (`--help` is on every page).
fn paged_command() -> clap::Command {
    Cli::command().disable_help_subcommand(true)
}

/// arshim.1 and arshim-SUBCOMMAND.1 for every visible subcommand, each
/// path printed on a line of its own.
fn write_pages(dir: &Path) -> Result<(), Failure> {
    let cannot = |e: std::io::Error| {
        Failure::new(
            1,
            format!("cannot write the manual pages into {}: {e}", dir.display()),
        )
    };
    fs::create_dir_all(dir).map_err(cannot)?;
    let mut top = paged_command();
    // Gives each subcommand its display name, `arshim-run`, which names its page.
    top.build();
    let subcommands: Vec<clap::Command> = top
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut written = Vec::new();
    for command in std::iter::once(top).chain(subcommands) {
        let page = clap_mangen::Man::new(command);
        written.push(page.generate_to(dir).map_err(cannot)?);
    }
    let list: String = written
        .iter()
        .map(|p| format!("{}\n", p.display()))
        .collect();
    print(list.as_bytes(), "the list of pages")
}

fn print(bytes: &[u8], what: &str) -> Result<(), Failure> {
    match std::io::stdout().lock().write_all(bytes) {
        // A reader that stopped early (`| head`) is not our error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::new(1, format!("cannot write {what}: {e}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_gets_a_page_named_after_it() {
        let dir = std::env::temp_dir().join(format!("arshim-man-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        write_pages(&dir).unwrap();
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        fs::remove_dir_all(&dir).unwrap();
        for name in [
            "arshim.1",
            "arshim-run.1",
            "arshim-verify.1",
            "arshim-man.1",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
        }
    }
}
