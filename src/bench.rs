//! `arshim bench`: run a command alternately without and with the library
//! and compare the memory of its whole process tree over time and its wall
//! time, as a table, JSON, and an SVG plot.

mod ab;
mod plot;
mod report;
mod stats;

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use clap::Args;

use self::ab::Side;
use self::report::Report;
use crate::failure::Failure;
use crate::known_hosts::{self, HostSettings};
use crate::measure::{Sampled, Sampler, Tools};
use crate::settings::{glob_list, DEFAULT_TOOLS};
use crate::{locate, preload, run};

/// The long help of `arshim bench` (cli.rs attaches it to the subcommand).
pub const LONG_ABOUT: &str =
    "Run CMD 2×N times, alternating without the library (A) and through it exactly \
as `arshim run` would (B), and compare: the peak memory of the whole process tree, the memory \
the tree held while the archiver ran, and the wall time — medians of each side and the B/A \
ratio.\n\n\
Memory is sampled from /proc while each run goes on: the sum of VmRSS over CMD and all its \
descendants, up to --hz times a second, with the archiver (a process whose name, executable or \
argv[0] matches --tools, else a known host's globs, as for `arshim run`) marked when it runs. \
Where cgroup v2 hands out the memory controller, each run also gets its own cgroup and its \
memory.peak is shown. ru_maxrss (what `time -v` and \
wait4 report) is not used: Linux keeps it across execve, so a converted host would still show \
its own peak.\n\n\
A whole build (`make -j4`, `ninja`, any build command) is measured with --hosts, as \
`arshim run --hosts` runs it: the programs named there (the linkers) convert wherever they \
appear in the tree, and the build driver never does. The peak of the whole tree is then the \
build's peak.\n\n\
CMD runs in the current directory, 2×N times: it must be repeatable. Its stdin is /dev/null; \
its output is kept aside and shown only when a run fails.\n\n\
Exit status: 0 if every run exited 0; 1 if a run failed or the two runs of a pair ended \
differently (the results are still printed); 2 if the library cannot be found; 127/126 if \
CMD cannot be run.";

#[derive(Debug, Args)]
#[command(
    override_usage = "arshim bench [OPTIONS] [--] <CMD> [ARGS]...",
    after_help = "Examples:\n  arshim bench -- ld-legacy -o libfoo.a foo.o bar.o\n  \
arshim bench -n 10 --plot mem.svg --hosts 'ld-legacy*' -- make -j4\n  \
arshim bench --json -- ld-legacy -o libfoo.a foo.o > bench.json"
)]
pub struct BenchArgs {
    /// Number of A/B pairs of runs
    #[arg(short = 'n', long = "pairs", value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pairs: u32,

    /// Write an SVG plot of the median run of each side (tree RSS over time)
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Print one JSON object (runs, medians, ratios, timelines) instead of the table
    #[arg(long)]
    pub json: bool,

    /// Programs that count as the archiver: comma list of globs on the basename
    /// (also passed to the library) [default: a known host's, as for `arshim
    /// run`, else ar,*-ar,llvm-ar*,gcc-ar*]
    #[arg(long, value_name = "GLOBS", value_parser = glob_list)]
    pub tools: Option<String>,

    /// Let every process whose executable basename matches these comma globs
    /// convert, wherever it appears in CMD's tree (as `arshim run --hosts`):
    /// for a whole build, name the linkers
    #[arg(long, value_name = "GLOBS", value_parser = glob_list)]
    pub hosts: Option<String>,

    /// Samples per second of the process tree
    #[arg(long, value_name = "HZ", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(200..=20000))]
    pub hz: u32,

    /// The command to measure, with its arguments (after `--`, or from its
    /// first word)
    #[arg(value_name = "CMD", required = true, trailing_var_arg = true)]
    pub command: Vec<OsString>,
}

pub fn bench(args: BenchArgs) -> Result<(), Failure> {
    let library = locate::library()?;
    let companion = locate::companion()?;
    // CMD as `arshim run` sees it (docs/DESIGN.md, "Companion").
    let host = known_hosts::settings_for(&args.command, args.tools.as_deref());
    if let Some(line) = host.run_would() {
        eprintln!("arshim bench: {line}");
    }
    let tools_text = host.tools.clone().unwrap_or_else(|| DEFAULT_TOOLS.into());
    let tools = Tools::parse(&tools_text).map_err(Failure::usage)?;
    let mut sampler = Sampler::new(args.hz, tools);
    let cgroup_skipped = sampler.use_cgroup().err();
    let vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let scrub = ab::scrub(
        vars.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str())),
        preload::same_library_as(&library),
    );
    let sides = Sides {
        args: &args,
        scrub: &scrub,
        companion: &companion,
        library: &library,
        tools: host.tools.as_deref(),
    };
    let runs = sides.run_all(&sampler)?;
    let hosts_given = args.hosts.is_some();

    let report = Report::new(args.command, args.hz, tools_text, cgroup_skipped, runs);
    // The results first: a plot that cannot be written must not lose them.
    print_results(&report, args.json, &host, hosts_given)?;
    if let Some(path) = &args.plot {
        write_plot(&report, path)?;
        eprintln!("arshim bench: plot written to {}", path.display());
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            1,
            format!(
                "the comparison is not valid: {}",
                report.problems.join("; ")
            ),
        ))
    }
}

/// What the runs of both sides are made of.
struct Sides<'a> {
    args: &'a BenchArgs,
    scrub: &'a ab::Scrub,
    companion: &'a Path,
    library: &'a Path,
    /// The archiver globs both the library and the sampler use.
    tools: Option<&'a str>,
}

impl Sides<'_> {
    /// All the runs, alternating sides, each with a progress line.
    fn run_all(&self, sampler: &Sampler) -> Result<Vec<Sampled>, Failure> {
        let outputs = OutputDir::create()?;
        let total = self.args.pairs as usize * 2;
        let mut runs: Vec<Sampled> = Vec::with_capacity(total);
        for i in 0..total {
            let side = Side::of_run(i);
            progress(format_args!(
                "arshim bench: run {}/{total} ({})… ",
                i + 1,
                side.label()
            ));
            let mut cmd = ab::command(
                side,
                &self.args.command,
                self.scrub,
                self.companion,
                self.library,
                self.tools,
                self.args.hosts.as_deref(),
            );
            let (stdout, stderr) = outputs.files(i)?;
            cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
            let sampled = sampler.run(cmd).map_err(|e| {
                eprintln!();
                run::cannot_run(&self.args.command[0], &e)
            })?;
            eprintln!("{}", run_summary(&sampled));
            if !sampled.status.success() {
                outputs.show_tail(i);
            }
            runs.push(sampled);
        }
        Ok(runs)
    }
}

/// The table (with a hint when nothing was converted) or the JSON, on stdout.
fn print_results(
    report: &Report,
    json: bool,
    host: &HostSettings,
    hosts_given: bool,
) -> Result<(), Failure> {
    let text = if json {
        format!("{}\n", report.json())
    } else {
        let mut t = report.table();
        if let Some(hint) = not_converted_hint(report, host, hosts_given) {
            t.push_str(&hint);
        }
        t
    };
    match io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Failure::new(1, format!("cannot write the results: {e}")))
        }
        _ => Ok(()),
    }
}

/// The plot of the median run (by wall time) of each side.
fn write_plot(report: &Report, path: &Path) -> Result<(), Failure> {
    let lines: Vec<plot::Line> = [Side::Without, Side::With]
        .into_iter()
        .filter_map(|side| {
            let i = report.median_run(side)?;
            Some(plot::Line {
                side,
                run: i + 1,
                sampled: &report.runs[i],
            })
        })
        .collect();
    // 60 characters of the command: the title stays inside the plot's
    // 1000 px at its font size (plot.rs), however wide the letters.
    let title = format!(
        "arshim bench: tree RSS of {}",
        shorten(&report.command_line(), 60)
    );
    plot::write(path, &title, &lines).map_err(|e| Failure::new(1, e))
}

fn progress(args: std::fmt::Arguments) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args);
    let _ = err.flush();
}

/// The end of a progress line: what one run measured.
fn run_summary(r: &Sampled) -> String {
    let held = r
        .held_during_archiver_kib
        .map_or("archiver not seen".into(), |k| {
            format!("{} while the archiver ran", report::mib(Some(k as f64)))
        });
    format!(
        "{}, {}, peak {}, {held}",
        stats::Exit::from(r.status),
        report::secs(Some(r.wall.as_secs_f64())),
        report::mib(Some(r.peak_kib as f64)),
    )
}

/// A note when B held as much as A while the archiver ran: no conversion;
/// for a known non-final host, why (`run` refuses it). Without --hosts only
/// CMD itself may convert, never a build driver's links.
fn not_converted_hint(report: &Report, host: &HostSettings, hosts_given: bool) -> Option<String> {
    (report.ratios.held? > 0.5).then(|| match host.not_final() {
        Some((name, _)) => format!(
            "note: with arshim, the tree still held its memory while the archiver ran: {name} \
             is known not to end with its archiver, and `arshim run` runs it without \
             conversion.\n"
        ),
        None => {
            let how = if hosts_given {
                "see `arshim run --log info --hosts GLOBS -- CMD`"
            } else {
                "see `arshim run --log info -- CMD`; for a build, name the linkers with --hosts"
            };
            format!(
                "note: with arshim, the tree still held its memory while the archiver ran: the \
                 spawn was not converted ({how}).\n"
            )
        }
    })
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// Where each run's stdout and stderr go (files, so the command sees what it
/// would see writing to a file, and a full pipe never blocks it). Removed at the end.
struct OutputDir {
    dir: PathBuf,
}

impl OutputDir {
    fn create() -> Result<OutputDir, Failure> {
        let dir = std::env::temp_dir().join(format!("arshim-bench-{}", std::process::id()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Failure::new(1, format!("cannot create {}: {e}", dir.display())))?;
        Ok(OutputDir { dir })
    }

    fn path(&self, run: usize, stream: &str) -> PathBuf {
        self.dir.join(format!("run{}.{stream}", run + 1))
    }

    fn files(&self, run: usize) -> Result<(File, File), Failure> {
        let open = |stream| {
            let path = self.path(run, stream);
            File::create(&path)
                .map_err(|e| Failure::new(1, format!("cannot create {}: {e}", path.display())))
        };
        Ok((open("stdout")?, open("stderr")?))
    }

    /// Shows the last lines a failed run wrote, on stderr.
    fn show_tail(&self, run: usize) {
        for stream in ["stdout", "stderr"] {
            let text = fs::read(self.path(run, stream)).unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                continue;
            }
            eprintln!("  its {stream} (last lines):");
            for line in &lines[lines.len().saturating_sub(10)..] {
                eprintln!("    {line}");
            }
        }
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        let cli = Cli::try_parse_from(["arshim", "bench"].iter().chain(args))?;
        match cli.command {
            Command::Bench(b) => Ok(b),
            _ => panic!("not bench"),
        }
    }

    #[test]
    fn defaults_and_options() {
        let b = parse(&["--", "ld", "-n", "3"]).unwrap();
        assert_eq!(
            (b.pairs, b.hz, b.json, b.plot, b.tools, b.hosts),
            (5, 1000, false, None, None, None)
        );
        assert_eq!(
            b.command,
            ["ld", "-n", "3"],
            "options after -- belong to CMD"
        );
        let b = parse(&[
            "-n", "2", "--json", "--plot", "p.svg", "--tools", "ar,x-ar", "--", "ld",
        ])
        .unwrap();
        assert_eq!((b.pairs, b.json), (2, true));
        assert_eq!(b.plot, Some(PathBuf::from("p.svg")));
        assert_eq!(b.tools.as_deref(), Some("ar,x-ar"));
        let b = parse(&["--hosts", "ld-*,ldc2", "--", "make", "-j4"]).unwrap();
        assert_eq!(b.hosts.as_deref(), Some("ld-*,ldc2"));
        assert_eq!(b.command, ["make", "-j4"]);
    }

    #[test]
    fn bad_usage_is_refused() {
        for args in [
            &["--"][..],
            &[],
            &["-n", "0", "--", "ld"],
            &["--hz", "50", "--", "ld"],
            &["--tools", "ar,", "--", "ld"],
            &["--hosts", "", "--", "make"],
            &["--hosts", "/usr/bin/ld", "--", "make"],
        ] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn titles_are_shortened() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdefgh", 5), "abcd…");
    }
}
