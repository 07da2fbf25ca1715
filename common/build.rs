//! The build id the library and its reaper both carry (src/build_id.rs):
//! a hash of the sources they are built from, so that two builds of the same
//! sources agree (reproducible; `make build` then `make test`, or a rebuild
//! of one crate only, keep the pieces in step) and any change of the sources
//! makes a new id.
//!
//! Hashed: the workspace's manifests and lock file, and every file under the
//! source folders of the crates that go into the library, the core, the
//! reaper and the companion (not the tests). Missing paths (this crate built
//! on its own) are skipped.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Relative to the workspace root (this crate's parent folder).
const INPUTS: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "src",
    "common/Cargo.toml",
    "common/build.rs",
    "common/src",
    "common/trace/Cargo.toml",
    "common/trace/src",
    "shim/Cargo.toml",
    "shim/src",
    "preload/Cargo.toml",
    "preload/src",
];

/// FNV-1a, 128 bits: no dependency, stable across Rust releases.
struct Fnv(u128);

impl Fnv {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    /// A length-prefixed field, so that no two inputs hash alike by shifting
    /// bytes between a name and a content.
    fn field(&mut self, bytes: &[u8]) {
        self.feed(&(bytes.len() as u64).to_le_bytes());
        self.feed(bytes);
    }
}

/// Every regular file under `path` (or `path` itself), sorted.
fn files(path: &Path, out: &mut Vec<PathBuf>) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_file() {
        out.push(path.to_path_buf());
    } else if meta.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            files(&e, out);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap_or(&manifest).to_path_buf();
    let mut hash = Fnv(Fnv::OFFSET);
    hash.field(
        std::env::var("CARGO_PKG_VERSION")
            .unwrap_or_default()
            .as_bytes(),
    );
    hash.field(std::env::var("TARGET").unwrap_or_default().as_bytes());
    for input in INPUTS {
        let path = root.join(input);
        // A folder: cargo reruns this script when anything under it changes.
        println!("cargo:rerun-if-changed={}", path.display());
        let mut found = Vec::new();
        files(&path, &mut found);
        for file in found {
            let name = file.strip_prefix(&root).unwrap_or(&file);
            hash.field(name.as_os_str().as_encoded_bytes());
            hash.field(&fs::read(&file).unwrap_or_default());
        }
    }
    let id = hash.0.to_le_bytes();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("build_id.rs");
    let mut f = fs::File::create(out).unwrap();
    writeln!(f, "pub const BUILD_ID: [u8; 16] = {id:?};").unwrap();
}
