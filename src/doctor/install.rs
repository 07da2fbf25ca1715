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
use arshim_common::build_id;

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
}

impl Source {
    fn describe(self) -> String {
        match self {
            Source::NextToLibrary => "arshim-reap next to the library".to_string(),
            Source::NextToCompanion => format!("arshim-reap next to ${}", var::COMPANION),
        }
    }
}

/// The reaper candidates in the library's order: `arshim-reap` next to the
/// library, then next to `configured` (`$ARSHIM_COMPANION`).
fn reaper_candidates(configured: Option<&Path>, library: Option<&Path>) -> Vec<(PathBuf, Source)> {
    let configured = configured.filter(|c| !c.as_os_str().is_empty());
    let next_to = |p: &Path| p.parent().unwrap_or(Path::new(".")).join("arshim-reap");
    let mut candidates = Vec::new();
    if let Some(lib) = library {
        candidates.push((next_to(lib), Source::NextToLibrary));
    }
    if let Some(c) = configured {
        candidates.push((next_to(c), Source::NextToCompanion));
    }
    candidates
}

/// The reaper the library would exec: the first candidate that is an
/// absolute path to an executable ELF file (`usable`) carrying the build id
/// `id` (`id_of`); else the first usable one that carries another id (or
/// none: `Err(None)` only when there is no usable candidate at all).
pub fn choose_reaper(
    configured: Option<&Path>,
    library: Option<&Path>,
    usable: impl Fn(&Path) -> bool,
    id_of: impl Fn(&Path) -> Option<[u8; 16]>,
    id: [u8; 16],
) -> Result<(PathBuf, Source), Option<Foreign>> {
    let mut foreign = None;
    for (path, source) in reaper_candidates(configured, library) {
        if !path.is_absolute() || !usable(&path) {
            continue;
        }
        match id_of(&path) {
            Some(found) if found == id => return Ok((path, source)),
            found => {
                foreign.get_or_insert(Foreign {
                    path,
                    source,
                    id: found,
                });
            }
        }
    }
    Err(foreign)
}

/// An `arshim-reap` the library refuses: another build's, or no build id.
#[derive(Debug, PartialEq, Eq)]
pub struct Foreign {
    pub path: PathBuf,
    pub source: Source,
    pub id: Option<[u8; 16]>,
}

/// The reaper the library will exec, given the companion `arshim run` exports.
pub fn expected_reaper(library: Option<&Path>, companion: &Path) -> Option<PathBuf> {
    let id = library_id(library).0;
    choose_reaper(Some(companion), library, executable_elf, reaper_id, id)
        .ok()
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

/// An open file read with `pread`, for the build id reader.
struct Opened(fs::File);

impl build_id::ReadAt for Opened {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        std::os::unix::fs::FileExt::read_exact_at(&self.0, buf, offset).is_ok()
    }
}

fn note_id(path: &Path, kind: u32) -> Option<[u8; 16]> {
    let file = fs::File::open(path).ok()?;
    build_id::find(&mut Opened(file), kind)
}

fn reaper_id(path: &Path) -> Option<[u8; 16]> {
    note_id(path, build_id::REAPER)
}

/// The build id the library's core carries, and where it was taken from:
/// the core next to the library, else this companion's own (the core check
/// reports a missing core).
fn library_id(library: Option<&Path>) -> ([u8; 16], &'static str) {
    let core = library.map(|l| l.with_file_name(locate::CORE_FILE));
    match core.and_then(|c| note_id(&c, build_id::LIBRARY)) {
        Some(id) => (id, "the core's"),
        None => (build_id::BUILD_ID, "this arshim's"),
    }
}

fn hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The reaper is reachable: found where the library looks, of the library's
/// build, and answering. `companion` is this arshim, which `arshim run` and
/// `arshim env` export as `$ARSHIM_COMPANION`.
pub fn reaper(library: Option<&Path>, companion: &Path) -> Vec<Finding> {
    let configured = std::env::var_os(var::COMPANION).map(PathBuf::from);
    let (id, whose) = library_id(library);
    let choose = |configured: Option<&Path>| {
        choose_reaper(configured, library, executable_elf, reaper_id, id)
    };
    let finding = match choose(configured.as_deref()) {
        Ok((path, source)) => found_reaper(&path, source),
        // Not where a hand-made LD_PRELOAD setup would look; `arshim run`
        // and `arshim env` still point the library at this arshim's.
        Err(refused) => match (refused, choose(Some(companion))) {
            (None, Ok((path, _))) => reaper_through_companion(&path),
            (Some(foreign), Ok((path, _))) => foreign_reaper(&foreign, &id, whose, Some(&path)),
            (Some(foreign), Err(_)) | (None, Err(Some(foreign))) => {
                foreign_reaper(&foreign, &id, whose, None)
            }
            (None, Err(None)) => no_reaper(library, companion),
        },
    };
    vec![finding]
}

/// The reaper where the library looks: does it answer?
fn found_reaper(path: &Path, source: Source) -> Finding {
    match answers(path) {
        Ok(()) => Finding::new(
            Status::Ok,
            "reaper",
            format!(
                "{} ({}, of this build) answers `__reap`",
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

/// The library refuses this reaper: nothing converts, or only through
/// `arshim run` and `arshim env`, when they point it at `through_companion`.
fn foreign_reaper(
    foreign: &Foreign,
    id: &[u8; 16],
    whose: &str,
    through_companion: Option<&Path>,
) -> Finding {
    let carries = match &foreign.id {
        Some(other) => format!("build id {}", hex(other)),
        None => "no arshim build id".to_string(),
    };
    let consequence = match through_companion {
        Some(ours) => format!(
            "with LD_PRELOAD set by hand nothing converts; `arshim run` and `arshim env` \
             point the library at {}",
            ours.display()
        ),
        None => "nothing converts".to_string(),
    };
    Finding::new(
        Status::Problem,
        "reaper",
        format!(
            "{} ({}) is not the arshim-reap of this build ({carries}, {whose} is {}): \
             the library does not hand a host over to it, {consequence} (install \
             arshim-reap of the same build: `make install` copies it)",
            foreign.path.display(),
            foreign.source.describe(),
            hex(id)
        ),
    )
}

/// The reaper next to this arshim, which the library finds only through
/// `arshim run` and `arshim env`.
fn reaper_through_companion(path: &Path) -> Finding {
    if let Err(why) = answers(path) {
        return Finding::new(
            Status::Problem,
            "reaper",
            format!("{} is not a working reaper: {why}", path.display()),
        );
    }
    Finding::new(
        Status::Warn,
        "reaper",
        format!(
            "{} answers `__reap`, but the library finds it only through `arshim run` or \
             `arshim env` (they set ${}); with LD_PRELOAD set by hand, nothing converts",
            path.display(),
            var::COMPANION,
        ),
    )
}

/// No `arshim-reap` anywhere the library looks.
fn no_reaper(library: Option<&Path>, companion: &Path) -> Finding {
    let looked: Vec<String> = reaper_candidates(Some(companion), library)
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    Finding::new(
        Status::Problem,
        "reaper",
        format!(
            "no arshim-reap where the library looks ({}): nothing converts \
             (`make install` copies it)",
            looked.join(", ")
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

    const OURS: [u8; 16] = [7; 16];

    /// Files under `/ours/` carry `OURS`, the others another id.
    fn id_of(p: &Path) -> Option<[u8; 16]> {
        Some(if p.starts_with("/ours") {
            OURS
        } else {
            [8; 16]
        })
    }

    #[test]
    fn reaper_lookup_follows_the_library() {
        let lib = Some(Path::new("/ours/lib/arshim/libarshim.so"));
        let c = choose_reaper(
            Some(Path::new("/ours/bin/arshim")),
            lib,
            only(&["/ours/lib/arshim/arshim-reap", "/ours/bin/arshim-reap"]),
            id_of,
            OURS,
        );
        assert_eq!(
            c,
            Ok(("/ours/lib/arshim/arshim-reap".into(), Source::NextToLibrary))
        );

        let c = choose_reaper(
            Some(Path::new("/ours/bin/arshim")),
            lib,
            only(&["/ours/bin/arshim-reap", "/ours/bin/arshim"]),
            id_of,
            OURS,
        );
        assert_eq!(
            c,
            Ok(("/ours/bin/arshim-reap".into(), Source::NextToCompanion))
        );

        let c = choose_reaper(
            Some(Path::new("rel/arshim")),
            lib,
            only(&["rel/arshim-reap", "/ours/lib/arshim/arshim"]),
            id_of,
            OURS,
        );
        assert_eq!(
            c,
            Err(None),
            "relative paths and arshim itself are never used"
        );
        assert_eq!(choose_reaper(None, None, only(&[]), id_of, OURS), Err(None));
    }

    #[test]
    fn a_reaper_of_another_build_is_refused() {
        let lib = Some(Path::new("/other/lib/libarshim.so"));
        let c = choose_reaper(
            Some(Path::new("/ours/bin/arshim")),
            lib,
            only(&["/other/lib/arshim-reap", "/ours/bin/arshim-reap"]),
            id_of,
            OURS,
        );
        assert_eq!(
            c,
            Ok(("/ours/bin/arshim-reap".into(), Source::NextToCompanion)),
            "the foreign one is skipped, as the library does"
        );
        let c = choose_reaper(None, lib, only(&["/other/lib/arshim-reap"]), id_of, OURS);
        assert_eq!(
            c,
            Err(Some(Foreign {
                path: "/other/lib/arshim-reap".into(),
                source: Source::NextToLibrary,
                id: Some([8; 16]),
            }))
        );
    }
}
