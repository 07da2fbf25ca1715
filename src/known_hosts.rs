//! The hosts we have proven either way: the one table, in `arshim-common`
//! (`common/src/known_hosts.rs`), shared with the library, which refuses a
//! known non-final host in every process (docs/DESIGN.md, "Conversion" 8).
//! `arshim run` uses the archiver globs when the user gave none, and refuses
//! the command it runs itself before even preloading the library.

pub use arshim_common::known_hosts::KnownHost;

/// The entry for an executable's basename.
pub fn lookup(basename: &str) -> Option<&'static KnownHost> {
    arshim_common::known_hosts::lookup(basename.as_bytes())
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
}
