//! The static checks of the installation: which library `arshim run` would
//! preload, which `ar` a linker would find, and whether the library can
//! reach the companion's reaper.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::report::{Finding, Status};
use crate::locate;
use crate::pathsearch::{self, Resolved};
use crate::settings::var;

/// The library `arshim run` would use, or the problem with finding it.
pub fn library(companion: &Path) -> Result<(PathBuf, Finding), Finding> {
    let chosen = locate::library()
        .map_err(|failure| Finding::new(Status::Problem, "library", failure.message))?;
    let override_set = std::env::var_os(var::LIB).is_some_and(|v| !v.is_empty());
    let bin_dir = companion.parent().unwrap_or(Path::new("/"));
    let candidates = locate::library_candidates(bin_dir);
    let from = if override_set {
        format!("from ${}", var::LIB)
    } else if candidates.first().is_some_and(|c| same_file(c, &chosen)) {
        "next to arshim".to_string()
    } else {
        "the installed layout, ../lib/arshim/ from arshim".to_string()
    };
    let finding = Finding::new(
        Status::Ok,
        "library",
        format!("{} ({from})", chosen.display()),
    );
    Ok((chosen, finding))
}

/// The core the preload loads into the process it takes in scope, which
/// must sit next to it (`make install` copies both).
pub fn core(library: &Path) -> Finding {
    let core = library.with_file_name(locate::CORE_FILE);
    if core.is_file() {
        Finding::new(Status::Ok, "core", core.display().to_string())
    } else {
        Finding::new(
            Status::Problem,
            "core",
            format!(
                "no {} next to {}: the library loads it where it has work, and \
                 stays off without it (`make install` copies both)",
                locate::CORE_FILE,
                library.display()
            ),
        )
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `ar` on PATH and its version line. Not finding it does not block the
/// library (a linker may run another archiver, by path), so it only warns.
pub fn ar() -> Finding {
    let warn = |r: String| Finding::new(Status::Warn, "ar", r);
    let path = match pathsearch::resolve(OsStr::new("ar")) {
        Resolved::Found(path) => path,
        Resolved::NotExecutable(path) | Resolved::IsDirectory(path) => {
            return warn(format!(
                "{} is on PATH but cannot be executed: a linker running `ar` will fail",
                path.display()
            ))
        }
        Resolved::NotFound => {
            return warn(
                "no `ar` on PATH (install binutils): a linker that runs `ar` will fail \
                 with or without arshim"
                    .to_string(),
            )
        }
    };
    match version_line(&path) {
        Ok(line) => Finding::new(Status::Ok, "ar", format!("{} — {line}", path.display())),
        Err(e) => warn(format!(
            "{} found, but `ar --version` failed: {e}",
            path.display()
        )),
    }
}

fn version_line(ar: &Path) -> Result<String, String> {
    let out = Command::new(ar)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) if out.status.success() => Ok(line.to_string()),
        _ => Err(format!(
            "{} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Where the library looks for the reaper, as shim/src/takeover/companion.rs does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `arshim-reap` next to the library (build tree, or PREFIX/lib/arshim/).
    NextToLibrary,
    /// `arshim-reap` next to `$ARSHIM_COMPANION`.
    NextToCompanion,
    /// `$ARSHIM_COMPANION` itself (its `__reap` mode).
    Variable,
    /// `arshim` next to the library.
    CompanionNextToLibrary,
    /// `../../bin/arshim` from the library.
    Installed,
}

impl Source {
    fn describe(self) -> String {
        match self {
            Source::NextToLibrary => "arshim-reap next to the library".to_string(),
            Source::NextToCompanion => format!("arshim-reap next to ${}", var::COMPANION),
            Source::Variable => format!("${}", var::COMPANION),
            Source::CompanionNextToLibrary => "arshim next to the library".to_string(),
            Source::Installed => "../../bin/arshim from the library".to_string(),
        }
    }
}

/// The reaper the library would exec: the first candidate that is an
/// absolute path to an executable ELF file. Also returns the candidates it
/// skipped, in order.
pub fn choose_reaper(
    configured: Option<&Path>,
    library: Option<&Path>,
    usable: impl Fn(&Path) -> bool,
) -> (Option<(PathBuf, Source)>, Vec<PathBuf>) {
    let configured = configured.filter(|c| !c.as_os_str().is_empty());
    let lib_dir = library.map(|lib| lib.parent().unwrap_or(Path::new(".")));
    let mut candidates = Vec::new();
    if let Some(dir) = lib_dir {
        candidates.push((dir.join("arshim-reap"), Source::NextToLibrary));
    }
    if let Some(c) = configured {
        let dir = c.parent().unwrap_or(Path::new("."));
        candidates.push((dir.join("arshim-reap"), Source::NextToCompanion));
        candidates.push((c.to_path_buf(), Source::Variable));
    }
    if let Some(dir) = lib_dir {
        candidates.push((dir.join("arshim"), Source::CompanionNextToLibrary));
        // Lexical `..`, like the library: PREFIX/lib/arshim → PREFIX/bin.
        candidates.push((dir.join("../../bin/arshim"), Source::Installed));
    }
    let mut skipped = Vec::new();
    for (path, source) in candidates {
        if path.is_absolute() && usable(&path) {
            return (Some((path, source)), skipped);
        }
        skipped.push(path);
    }
    (None, skipped)
}

/// The reaper the library will exec, given the companion `arshim run` exports.
pub fn expected_reaper(library: Option<&Path>, companion: &Path) -> Option<PathBuf> {
    choose_reaper(Some(companion), library, executable_elf)
        .0
        .map(|(p, _)| p)
}

fn executable_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    path.is_file()
        && pathsearch::executable(path)
        && fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && magic == *b"\x7fELF"
}

/// The reaper is reachable: found where the library looks, and answering.
/// `companion` is this arshim, which `arshim run` and `arshim env` export as
/// `$ARSHIM_COMPANION`.
pub fn reaper(library: Option<&Path>, companion: &Path) -> Vec<Finding> {
    let configured = std::env::var_os(var::COMPANION).map(PathBuf::from);
    let (chosen, skipped) = choose_reaper(configured.as_deref(), library, executable_elf);
    let mut out = Vec::new();
    if let Some(c) = configured
        .as_deref()
        .filter(|c| skipped.iter().any(|s| s == c) && !c.is_absolute())
    {
        out.push(Finding::new(
            Status::Warn,
            "reaper",
            format!(
                "${}={} is not an absolute path to an executable ELF file: the library \
                 skips it",
                var::COMPANION,
                c.display()
            ),
        ));
    }
    out.push(match chosen {
        Some((path, source)) => found_reaper(&path, source),
        // Not where a hand-made LD_PRELOAD setup would look; `arshim run`
        // and `arshim env` still point the library at this arshim.
        None => companion_reaper(companion, &skipped),
    });
    out
}

/// The reaper where the library looks: does it answer?
fn found_reaper(path: &Path, source: Source) -> Finding {
    match answers(path) {
        Ok(()) => Finding::new(
            Status::Ok,
            "reaper",
            format!(
                "{} ({}) answers `__reap`",
                path.display(),
                source.describe()
            ),
        ),
        Err(why) => Finding::new(
            Status::Problem,
            "reaper",
            format!(
                "{} ({}) is not a working reaper: {why}",
                path.display(),
                source.describe()
            ),
        ),
    }
}

/// No reaper where the library looks (it `skipped` those): this arshim,
/// which the library finds only through `arshim run` and `arshim env`.
fn companion_reaper(companion: &Path, skipped: &[PathBuf]) -> Finding {
    if let Err(why) = answers(companion) {
        return Finding::new(
            Status::Problem,
            "reaper",
            format!("{} is not a working reaper: {why}", companion.display()),
        );
    }
    let looked: Vec<String> = skipped.iter().map(|p| p.display().to_string()).collect();
    Finding::new(
        Status::Warn,
        "reaper",
        format!(
            "{} answers `arshim __reap`, but the library finds it only through \
             `arshim run` or `arshim env` (they set ${}); with LD_PRELOAD set by \
             hand, fork + exec hosts could not be handed off (looked at: {})",
            companion.display(),
            var::COMPANION,
            if looked.is_empty() {
                "nothing".to_string()
            } else {
                looked.join(", ")
            }
        ),
    )
}

/// `arshim __reap` without a mode must fail as a usage error (status 2, a
/// `reaper:` line): proof that the binary has the reaper, without running it.
fn answers(companion: &Path) -> Result<(), String> {
    let out = Command::new(companion)
        .arg("__reap")
        .env_remove(var::PRELOAD)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) && stderr.contains("reaper:") {
        Ok(())
    } else {
        Err(format!(
            "`{} __reap` gave {} and {:?}, not the reaper's usage error",
            companion.display(),
            out.status,
            stderr.trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(existing: &'static [&'static str]) -> impl Fn(&Path) -> bool {
        move |p| existing.iter().any(|e| Path::new(e) == p)
    }

    #[test]
    fn reaper_lookup_follows_the_library() {
        let lib = Some(Path::new("/p/lib/arshim/libarshim.so"));
        let (c, skipped) = choose_reaper(
            Some(Path::new("/opt/bin/arshim")),
            lib,
            only(&["/p/lib/arshim/arshim-reap", "/opt/bin/arshim"]),
        );
        assert_eq!(
            c,
            Some(("/p/lib/arshim/arshim-reap".into(), Source::NextToLibrary))
        );
        assert!(skipped.is_empty());

        let (c, skipped) = choose_reaper(
            Some(Path::new("/opt/bin/arshim")),
            lib,
            only(&["/opt/bin/arshim-reap", "/opt/bin/arshim"]),
        );
        assert_eq!(
            c,
            Some(("/opt/bin/arshim-reap".into(), Source::NextToCompanion))
        );
        assert_eq!(skipped, [PathBuf::from("/p/lib/arshim/arshim-reap")]);

        let (c, skipped) = choose_reaper(
            Some(Path::new("rel/arshim")),
            lib,
            only(&[
                "rel/arshim",
                "rel/arshim-reap",
                "/p/lib/arshim/../../bin/arshim",
            ]),
        );
        assert_eq!(
            c,
            Some(("/p/lib/arshim/../../bin/arshim".into(), Source::Installed))
        );
        assert!(
            skipped.contains(&PathBuf::from("rel/arshim")),
            "relative paths are never used"
        );

        let (c, _) = choose_reaper(
            None,
            Some(Path::new("/t/release/libarshim.so")),
            only(&["/t/release/arshim"]),
        );
        assert_eq!(
            c,
            Some(("/t/release/arshim".into(), Source::CompanionNextToLibrary))
        );
        assert_eq!(choose_reaper(None, None, only(&[])), (None, vec![]));
    }
}
