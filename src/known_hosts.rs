//! The hosts we have proven either way: the one table, in `arshim-common`
//! (`common/src/known_hosts.rs`), shared with the library, which refuses a
//! known non-final host in every process (docs/DESIGN.md, "Conversion" 8).
//! `run`, `verify` and `bench` see CMD through the same `settings_for`
//! (docs/DESIGN.md, "Companion"): a known host's archiver globs when the
//! user gave none, its failure status, and whether it ends with its
//! archiver at all.

use std::ffi::{OsStr, OsString};
use std::path::Path;

pub use arshim_common::known_hosts::KnownHost;

/// The entry for an executable's basename.
pub fn lookup(basename: &str) -> Option<&'static KnownHost> {
    arshim_common::known_hosts::lookup(basename.as_bytes())
}

/// What is known of CMD as a host, and the settings that follow from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSettings {
    /// CMD's known-host entry, with the name it was found by.
    pub known: Option<(String, &'static KnownHost)>,
    /// The archiver globs: `--tools` as given, else the known host's, else
    /// `None` (the library's default, or an inherited `ARSHIM_TOOLS`).
    pub tools: Option<String>,
}

/// The one notion of CMD's host for `run`, `verify` and `bench`. CMD itself
/// is looked up: through an exec wrapper (`env HOST`, `sh -c 'exec HOST'`)
/// the library, not the companion, meets the host and refuses a non-final
/// one (docs/DESIGN.md, "Scope").
pub fn settings_for(command: &[OsString], user_tools: Option<&str>) -> HostSettings {
    let known = command.first().and_then(|program| known_host(program));
    let tools = user_tools
        .map(str::to_owned)
        .or_else(|| known.as_ref().map(|(_, host)| host.tools.to_owned()));
    HostSettings { known, tools }
}

impl HostSettings {
    /// The known host's own exit status for a failed archiver.
    pub fn failure_status(&self) -> Option<u8> {
        self.known.as_ref()?.1.failure_status
    }

    /// A known host that does more work after its archiver: its name and
    /// why. `run` runs it without conversion unless `--force`.
    pub fn not_final(&self) -> Option<(&str, &'static str)> {
        let (name, host) = self.known.as_ref()?;
        host.not_final.map(|why| (name.as_str(), why))
    }

    /// What `run` does with CMD, in one line (without `arshim: `), for
    /// `verify` and `bench` to say the same.
    pub fn run_would(&self) -> Option<String> {
        if let Some((name, why)) = self.not_final() {
            return Some(format!(
                "{name} is known not to end with its archiver: {why}; `arshim run` runs it \
                 without conversion (unless --force)"
            ));
        }
        let (name, host) = self.known.as_ref()?;
        Some(format!(
            "known host {name}: archiver globs {}{}",
            self.tools.as_deref().unwrap_or(host.tools),
            if self.tools.as_deref() == Some(host.tools) {
                ""
            } else {
                " (--tools as given)"
            }
        ))
    }
}

/// The known non-final hosts that `--hosts` globs name: an entry is named
/// when a glob matches one of its names, or one of its names (a glob
/// itself, `ghc-*`) matches a glob given as a plain name (`ghc-9.0.2`).
/// `run` says each one's refusal once for the whole run (docs/DESIGN.md,
/// "Scope").
pub fn not_final_named_by(hosts: &str) -> Vec<&'static KnownHost> {
    use arshim_common::glob::glob_match;
    let named = |host: &KnownHost| {
        hosts.split(',').any(|given| {
            host.names.iter().any(|name| {
                glob_match(given.as_bytes(), name.as_bytes())
                    || glob_match(name.as_bytes(), given.as_bytes())
            })
        })
    };
    arshim_common::known_hosts::TABLE
        .iter()
        .filter(|host| host.not_final.is_some() && named(host))
        .collect()
}

/// Every glob of `hosts` is a plain name (no `*`, `?`, `[`) of a known
/// non-final host (`rustc`, `nim-2.0`): the library would refuse every
/// process they bring into scope, so `run` can run the command without it
/// (docs/DESIGN.md, "Scope"). A glob could name anything else too: never.
pub fn names_only_not_final(hosts: &str) -> bool {
    use arshim_common::glob::glob_match;
    let plain = |given: &str| !given.is_empty() && !given.contains(['*', '?', '[']);
    let not_final = |given: &str| {
        arshim_common::known_hosts::TABLE
            .iter()
            .filter(|host| host.not_final.is_some())
            .any(|host| {
                host.names
                    .iter()
                    .any(|name| glob_match(name.as_bytes(), given.as_bytes()))
            })
    };
    hosts
        .split(',')
        .all(|given| plain(given) && not_final(given))
}

/// The known-host entry for CMD: by the name it is called by, else by its
/// resolved executable (`ocamlopt` → `ocamlopt.opt`).
fn known_host(program: &OsStr) -> Option<(String, &'static KnownHost)> {
    let called = Path::new(program)
        .file_name()?
        .to_string_lossy()
        .into_owned();
    if let Some(host) = lookup(&called) {
        return Some((called, host));
    }
    let resolved = crate::pathsearch::found(program)?.canonicalize().ok()?;
    let name = resolved.file_name()?.to_string_lossy().into_owned();
    lookup(&name).map(|host| (name, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hosts_by_name() {
        assert_eq!(lookup("ghc-9.0.2").unwrap().tools, "*ranlib");
        assert!(lookup("ocamlopt").unwrap().not_final.is_some());
        assert!(lookup("ldc2").unwrap().not_final.is_none());
        assert_eq!(lookup("gcc"), None);
        assert!(!arshim_common::known_hosts::TABLE.is_empty());
    }

    fn cmd(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_known_host_brings_its_globs_and_status_unless_tools_are_given() {
        let ldc2 = lookup("ldc2").unwrap();
        let s = settings_for(&cmd(&["/nonexistent/ldc2", "-lib"]), None);
        assert_eq!(s.known, Some(("ldc2".to_owned(), ldc2)));
        assert_eq!(s.tools.as_deref(), Some(ldc2.tools));
        assert_eq!(s.failure_status(), ldc2.failure_status);
        assert_eq!(s.not_final(), None);
        assert!(s.run_would().unwrap().ends_with(ldc2.tools), "{s:?}");
        let given = settings_for(&cmd(&["ldc2"]), Some("my-ar"));
        assert_eq!(given.tools.as_deref(), Some("my-ar"));
        assert!(given
            .run_would()
            .unwrap()
            .ends_with("my-ar (--tools as given)"));
    }

    #[test]
    fn a_non_final_host_is_said_as_run_says_it() {
        let s = settings_for(&cmd(&["/nonexistent/nim", "c"]), None);
        let (name, why) = s.not_final().unwrap();
        assert_eq!(name, "nim");
        assert!(s.run_would().unwrap().contains(why));
    }

    #[test]
    fn hosts_globs_name_the_non_final_hosts_they_match() {
        let first = |list: &str| -> Vec<&str> {
            not_final_named_by(list)
                .iter()
                .map(|h| h.names[0])
                .collect()
        };
        assert_eq!(first("rustc"), ["rustc"]);
        assert_eq!(first("ld-legacy,rust*"), ["rustc"]);
        assert_eq!(first("ocamlopt.opt"), ["ocamlopt"]);
        assert!(
            first("ldc2,gcc-ar,ghc-9.0.2,ld-legacy*,cc").is_empty(),
            "final or unknown"
        );
        assert_eq!(first("*").len(), 3, "{:?}", first("*"));
    }

    #[test]
    fn other_programs_and_wrappers_are_not_hosts() {
        for words in [&["/nonexistent/ld-legacy"][..], &["env", "ldc2"], &[]] {
            let s = settings_for(&cmd(words), None);
            assert_eq!((s.run_would(), s.known, s.tools), (None, None, None));
        }
        let s = settings_for(&cmd(&["/nonexistent/ld"]), Some("ar"));
        assert_eq!(s.tools.as_deref(), Some("ar"));
    }

    #[test]
    fn only_not_final_hosts_by_plain_names() {
        assert!(names_only_not_final("rustc"));
        assert!(names_only_not_final("rustc,nim-2.0,ocamlopt"));
        assert!(!names_only_not_final("rustc,ldc2"), "ldc2 converts");
        assert!(
            !names_only_not_final("rust*"),
            "a glob may name another program"
        );
        assert!(!names_only_not_final("rustc,"), "an empty glob");
        assert!(!names_only_not_final("ghc"), "ghc is final");
    }
}
