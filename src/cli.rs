//! Command-line grammar of the companion. Each subcommand has its own argument
//! struct and module; adding one is a new `Command` variant plus a match arm in
//! `main`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::failure::Failure;
use crate::settings::{glob_list, host_glob_list, Mode, Scope, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "arshim",
    version,
    about = "Run legacy linkers so that their final archiver spawn becomes an execve",
    long_about = "Companion of libarshim.so, an LD_PRELOAD library that turns a program's \
final spawn of the archiver (ar) into an execve of the same process, after flushing its \
exit handlers, so the program's memory is released while ar runs.\n\n\
The library is found at $ARSHIM_LIB, next to this binary, or in ../lib/arshim/.",
    arg_required_else_help = true,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one command with the library preloaded; only that process may convert.
    #[command(
        long_about = "Run CMD with libarshim.so preloaded and exec'd in place of arshim, so CMD \
keeps arshim's pid. ARSHIM_PID is set to that pid and its start time (PID:TICKS, zero-padded to one size; a later \
process reusing the pid does not match it): CMD is the only process that may convert \
(unless --hosts is given). Its children inherit the library but never convert.\n\n\
Verdicts of `arshim verify` are looked up for CMD (found like execvp does): a CMD verified \
NOT SAFE runs without the library (one line says why) unless --force; a CMD never \
verified (or changed since) gets a one-line note only with --log info or debug (or such an \
ARSHIM_LOG), so that default runs stay quiet. With --verified-only, a CMD not verified SAFE \
runs without the library at all (a note says why). The library itself does the same for \
whatever program ends up in scope (through env, nice, sh -c 'exec …', --hosts): a NOT SAFE \
one, or with --verified-only (ARSHIM_VERIFIED_ONLY=1) one not verified SAFE, is not \
converted, with one line.\n\n\
CMD is what follows `--`, or else the first word that is not an option of run's: its own \
options are never read as run's, and an unknown option before it is a usage error.\n\n\
Exit status: CMD's own; 2 for a usage error or if the library cannot be found; 126/127 if CMD \
cannot be executed or found.",
        override_usage = "arshim run [OPTIONS] [--] <CMD> [ARGS]...",
        after_help = "Examples:\n  arshim run -- ld-legacy -o libfoo.a foo.o bar.o\n  \
arshim run --observe --trace /tmp/ld.jsonl -- ld-legacy -o libfoo.a foo.o\n  \
arshim run --hosts 'ld-legacy*' -- make lib   # make itself never converts"
    )]
    Run(RunArgs),

    /// Print shell settings that enable the library for a whole build.
    #[command(
        long_about = "Print the variables to export so that every program of a build loads \
libarshim.so, and the processes named by --hosts (required: the linkers' names) may convert. \
Without a list, the first program of the shell to load the library would claim it and convert \
its first archiver spawn, whatever it is (a Python build driver running ar twice would stop \
after the first), so env refuses. Shells and build drivers never convert. For one command, \
use `arshim run -- CMD`.",
        after_help = "Examples:\n  eval \"$(arshim env --hosts 'ld-legacy*')\"\n  \
arshim env --shell fish --hosts 'ld-legacy*' | source\n  \
arshim env --shell make --hosts 'ld-legacy*' > arshim.mk   # then: include arshim.mk"
    )]
    Env(EnvArgs),

    /// Measure CMD without and with the library: tree memory over time, wall time.
    #[command(long_about = crate::bench::LONG_ABOUT)]
    Bench(crate::bench::BenchArgs),

    /// Check the installation (library, a real probe conversion, ar, reaper) and CMD.
    #[command(
        long_about = "Self-test libarshim.so on this machine, one line per check (ok, problem, \
warn or note, with the reason): the library is found and loads; it really converts a probe \
host's archiver spawn, at the spawn call (posix_spawnp) and at the wait call (fork + exec); \
`ar` is on PATH; the library can reach arshim's reaper. With CMD (a name on PATH or a path), \
also say whether preloading can work in that program at all: statically linked, setuid, not \
glibc, or a script.\n\nExit status: 0 when no check found a problem, 1 otherwise.",
        after_help = "Examples:\n  arshim doctor\n  arshim doctor ld-legacy\n  arshim doctor ./tools/link.sh"
    )]
    Doctor(crate::doctor::DoctorArgs),

    /// Prove that converting CMD's archiver spawn is safe: runs CMD twice.
    #[command(
        long_about = "Prove on your own command that converting its archiver spawn is safe. \
verify RUNS CMD TWICE, so CMD must be safe to run twice (it rewrites its outputs, such as the \
archive, in place):\n\n\
1. Under observe mode (the library changes nothing), with a trace: after the archiver ended, \
did the process spawn anything, write to a file, stdout or stderr, open a file for writing, \
rename or link, or delete files in its main code? (Its exit handlers' work is kept; so are \
deletions of the temporaries it created under --temps, which the conversion hands to the \
reaper: the report says whether the converted run removed them, or names the --temps that \
would cover them.) Its stdin is yours; its stdout and stderr are captured and shown when it \
ends.\n\
2. If it did nothing: converted, as `arshim run` does (stdin /dev/null, output not shown), and \
compared: exit status, the archive (bytes, else its members and their contents: ar's \
timestamps may differ), peak memory of the whole process tree.\n\n\
Verdict: SAFE, NOT SAFE or CANNOT TELL, with the reasons. SAFE and NOT SAFE are remembered \
per host binary (its path plus ELF build-id or content hash) in \
$XDG_CACHE_HOME/arshim/verdicts.json (default ~/.cache/arshim/): the library then refuses \
to convert a NOT SAFE host (unless `arshim run --force`), and `arshim run --verified-only` \
converts only SAFE ones, with the --temps they were verified with. \
The host is the program that claimed the library — for a script, its interpreter; the \
verdict is stored for the script itself too.\n\n\
CMD is seen as `arshim run` sees it: a known host (ldc2, ghc, …) gets its own archiver \
globs in both runs unless --tools is given, and one known not to end with its archiver \
(nim, ocamlopt) is named in a note, with what `arshim run` does with it.\n\n\
Exit status: 0 SAFE, 1 NOT SAFE, 2 CANNOT TELL or a usage error.",
        override_usage = "arshim verify [--tools GLOBS] [--temps GLOBS] [--] <CMD> [ARGS]...",
        after_help = "Examples:\n  arshim verify -- ld-legacy -o libfoo.a foo.o bar.o\n  \
arshim verify --tools 'ar,my-ar' -- ./link.sh"
    )]
    Verify(VerifyArgs),

    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    #[command(
        long_about = "Print the completion script for SHELL on stdout. `make install` installs \
those of bash, zsh and fish where these shells look for them.",
        after_help = "Examples:\n  source <(arshim completions bash)\n  \
arshim completions zsh > ~/.zfunc/_arshim\n  \
arshim completions fish > ~/.config/fish/completions/arshim.fish"
    )]
    Completions(crate::generate::CompletionsArgs),

    /// Print the manual page arshim(1), or write every page into a directory.
    #[command(
        long_about = "Print the manual page arshim(1) in roff, generated from the same \
definitions as --help; with --dir, write arshim.1 and one page per subcommand \
(arshim-run.1, ...) into DIR. `make install` installs them in share/man/man1.",
        after_help = "Examples:\n  arshim man | man -l -\n  arshim man --dir /tmp/man1"
    )]
    Man(crate::generate::ManArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Programs that count as the archiver: comma list of globs on the basename
    /// [default: a known host's, as for `arshim run`, else the library's:
    /// ar,*-ar,llvm-ar*,gcc-ar*]
    #[arg(long, value_name = "GLOBS", value_parser = glob_list)]
    pub tools: Option<String>,

    /// The host's temporaries: comma list of globs on absolute paths
    /// (`$TMPDIR/…` for its temp dir) of what it creates and deletes after
    /// the archiver, which the conversion hands to the reaper [with a known
    /// host's own]
    #[arg(long, value_name = "GLOBS", value_parser = crate::settings::temps_list)]
    pub temps: Option<String>,

    /// The command to verify, with its arguments (after `--`, or from its
    /// first word); it runs twice
    #[arg(value_name = "CMD", required = true, trailing_var_arg = true)]
    pub command: Vec<OsString>,
}

/// The library configuration both `run` and `env` express as variables.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Programs that count as the archiver: comma list of globs on the basename
    /// [library default: ar,*-ar,llvm-ar*,gcc-ar*]
    #[arg(long, value_name = "GLOBS", value_parser = glob_list)]
    pub tools: Option<String>,

    /// Let every process whose executable basename matches these comma globs
    /// convert, instead of one pid
    #[arg(long, value_name = "GLOBS", value_parser = host_glob_list)]
    pub hosts: Option<String>,

    /// Never change behaviour: only log and trace what would be converted
    #[arg(long)]
    pub observe: bool,

    /// Library log filter, env_logger syntax (info, debug, ...) [default: warnings only]
    #[arg(long, value_name = "FILTER", value_parser = NonEmptyStringValueParser::new())]
    pub log: Option<String>,

    /// Append one JSON object per library event to FILE
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// The host's temporaries: comma list of globs on absolute paths (a
    /// leading $TMPDIR is the host's TMPDIR) of what it creates and deletes
    /// after its final spawn; a conversion has the reaper delete what the
    /// host created there, after the archiver
    #[arg(long, value_name = "GLOBS", value_parser = crate::settings::temps_list)]
    pub temps: Option<String>,
}

impl ConfigArgs {
    /// The settings these options ask for. `unscoped` is the scope used when
    /// `--hosts` is not given (run: its own pid; env refuses to go without).
    pub fn into_settings(self, unscoped: Scope, companion: PathBuf) -> Result<Settings, Failure> {
        let trace = match self.trace {
            // Absolute now: the traced processes may run in other directories.
            Some(path) => Some(
                std::path::absolute(&path)
                    .map_err(|e| Failure::usage(format!("--trace {}: {e}", path.display())))?,
            ),
            None => None,
        };
        Ok(Settings {
            mode: if self.observe {
                Mode::Observe
            } else {
                Mode::Exec
            },
            scope: self.hosts.map_or(unscoped, Scope::Hosts),
            tools: self.tools,
            log: self.log,
            trace,
            companion,
            failure_status: None,
            force: false,
            verified_only: false,
            temps: self.temps,
        })
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,

    /// Convert only a CMD that `arshim verify` proved SAFE; run any other
    /// without the library (one note on stderr says why). Passed to the
    /// library as ARSHIM_VERIFIED_ONLY=1, which descendants inherit
    #[arg(long, conflicts_with_all = ["observe", "hosts"])]
    pub verified_only: bool,

    /// Convert known hosts that do not end with their archiver (nim,
    /// ocamlopt) and hosts verified NOT SAFE anyway, CMD or any process in
    /// scope (ARSHIM_FORCE=1, which descendants inherit): what they do after
    /// the archiver is then lost. Does not loosen --verified-only
    #[arg(long)]
    pub force: bool,

    /// The command to run, with its arguments (after `--`, or from its first word)
    #[arg(value_name = "CMD", required = true, trailing_var_arg = true)]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Syntax of the output
    #[arg(long, value_enum, default_value_t = Shell::Sh)]
    pub shell: Shell,

    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// POSIX sh, bash, zsh (`bash` and `zsh` are accepted for it):
    /// `eval "$(arshim env --hosts GLOBS)"`
    #[value(aliases = ["bash", "zsh"])]
    Sh,
    /// fish: `arshim env --shell fish --hosts GLOBS | source`
    Fish,
    /// GNU make: write to a file and `include` it
    Make,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("arshim").chain(args.iter().copied()))
    }

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_everything_after_the_double_dash() {
        let cli = parse(&["run", "--tools", "ar", "--", "ld", "--observe", "-o", "x"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.config.tools.as_deref(), Some("ar"));
        assert!(
            !run.config.observe,
            "--observe after -- belongs to the command"
        );
        assert_eq!(run.command, ["ld", "--observe", "-o", "x"]);
    }

    #[test]
    fn the_command_starts_after_the_double_dash_or_at_the_first_word() {
        for sub in ["run", "verify", "bench"] {
            for args in [
                &[sub, "ld", "-r", "--observe", "--", "x.o"][..],
                &[sub, "--", "ld", "-r", "--observe", "--", "x.o"],
            ] {
                let cmd = match parse(args).unwrap().command {
                    Command::Run(r) => r.command,
                    Command::Verify(v) => v.command,
                    Command::Bench(b) => b.command,
                    _ => panic!("{args:?}"),
                };
                assert_eq!(cmd, ["ld", "-r", "--observe", "--", "x.o"], "{args:?}");
            }
        }
    }

    #[test]
    fn unknown_options_before_the_command_are_usage_errors() {
        for sub in ["run", "verify", "bench"] {
            for args in [
                &[sub, "--obsrve", "--", "ld"][..],
                &[sub, "--obsrve", "ld"],
                &[sub, "-x", "ld"],
            ] {
                let err = parse(args).unwrap_err();
                assert_eq!(
                    err.kind(),
                    clap::error::ErrorKind::UnknownArgument,
                    "{args:?}"
                );
                assert_eq!(err.exit_code(), 2, "{args:?}");
            }
        }
    }

    #[test]
    fn run_without_a_command_is_a_usage_error() {
        for args in [&["run"][..], &["run", "--"], &["run", "--observe", "--"]] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn verify_takes_a_command_after_the_double_dash() {
        let cli = parse(&["verify", "--tools", "ar", "--", "ld", "--tools", "x"]).unwrap();
        let Command::Verify(v) = cli.command else {
            panic!("not verify")
        };
        assert_eq!(v.tools.as_deref(), Some("ar"));
        assert_eq!(v.command, ["ld", "--tools", "x"]);
        for args in [
            &["verify"][..],
            &["verify", "--"],
            &["verify", "--tools", "ar", "--"],
        ] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn verified_only_is_for_plain_runs() {
        let Command::Run(run) = parse(&["run", "--verified-only", "--", "ld"])
            .unwrap()
            .command
        else {
            panic!("not run")
        };
        assert!(run.verified_only);
        assert!(parse(&["run", "--verified-only", "--observe", "--", "ld"]).is_err());
        assert!(parse(&["run", "--verified-only", "--hosts", "ld", "--", "make"]).is_err());
    }

    #[test]
    fn bad_globs_are_usage_errors() {
        for g in ["", "ar,", " ar"] {
            let err = parse(&["run", "--tools", g, "--", "true"]).unwrap_err();
            assert_eq!(err.exit_code(), 2);
        }
        assert!(parse(&["env", "--hosts", "a,,b"]).is_err());
        // The library refuses an empty ARSHIM_LOG; better to say so here.
        assert!(parse(&["env", "--log", ""]).is_err());
        assert!(parse(&["env", "--log", "arshim=debug"]).is_ok());
    }

    #[test]
    fn options_become_settings() {
        let Command::Run(run) = parse(&[
            "run",
            "--observe",
            "--hosts",
            "ld*",
            "--trace",
            "t.jsonl",
            "--",
            "x",
        ])
        .unwrap()
        .command
        else {
            panic!("not run")
        };
        let s = run
            .config
            .into_settings(Scope::Pid(7, None), "/c".into())
            .unwrap();
        assert_eq!(s.mode, Mode::Observe);
        assert_eq!(s.scope, Scope::Hosts("ld*".into()));
        let trace = s.trace.unwrap();
        assert!(
            trace.is_absolute() && trace.ends_with("t.jsonl"),
            "{}",
            trace.display()
        );

        let Command::Run(run) = parse(&["run", "--", "x"]).unwrap().command else {
            panic!()
        };
        let s = run
            .config
            .into_settings(Scope::Pid(7, None), "/c".into())
            .unwrap();
        assert_eq!((s.mode, s.scope), (Mode::Exec, Scope::Pid(7, None)));
    }

    #[test]
    fn env_defaults_to_sh() {
        let Command::Env(env) = parse(&["env"]).unwrap().command else {
            panic!("not env")
        };
        assert_eq!(env.shell, Shell::Sh);
        let Command::Env(env) = parse(&["env", "--shell", "make"]).unwrap().command else {
            panic!("not env")
        };
        assert_eq!(env.shell, Shell::Make);
        assert!(parse(&["env", "--shell", "csh"]).is_err());
        for shell in ["bash", "zsh"] {
            let Command::Env(env) = parse(&["env", "--shell", shell]).unwrap().command else {
                panic!("not env")
            };
            assert_eq!(env.shell, Shell::Sh, "{shell}");
        }
    }
}
