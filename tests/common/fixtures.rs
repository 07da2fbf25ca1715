//! Fixtures compiled once per test binary: the C and Rust hosts, two tiny
//! objects, and the stand-in archiver (tests/hosts/standin_ar.sh) that
//! reports who ran it and how much memory the host still held.

use super::dirs::fixture_dir;
use super::tools::{compile_c, compile_object, compile_rust, hosts_src, real_ar};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub struct Fixtures {
    pub dir: PathBuf,
    /// The C host (tests/hosts/host.c).
    pub host: PathBuf,
    /// Two tiny objects, `one.o` and `two.o`.
    pub objs: [PathBuf; 2],
    /// Directory holding the stand-in `ar` (put it first on PATH).
    pub bin: PathBuf,
    /// The stand-in archiver script, `bin/ar`, a copy of tests/hosts/standin_ar.sh.
    pub standin: PathBuf,
    /// The real archiver the stand-in execs ($STANDIN_REAL_AR).
    pub real_ar: PathBuf,
}

pub fn fixtures() -> &'static Fixtures {
    static FX: OnceLock<Fixtures> = OnceLock::new();
    FX.get_or_init(|| {
        let dir = fixture_dir();
        let host = dir.join("host");
        compile_c(&hosts_src().join("host.c"), &host);

        let real_ar = real_ar();

        let objs = [dir.join("one.o"), dir.join("two.o")];
        for (obj, body) in objs.iter().zip([
            "int one(void) { return 1; }\n",
            "int two(void) { return 2; }\n",
        ]) {
            let c = obj.with_extension("c");
            fs::write(&c, body).unwrap();
            compile_object(&c, obj);
        }

        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let standin = bin.join("ar");
        install_script(&hosts_src().join("standin_ar.sh"), &standin);

        Fixtures {
            dir,
            host,
            objs,
            bin,
            standin,
            real_ar,
        }
    })
}

/// Copies the script `src` to `to`, executable.
pub fn install_script(src: &Path, to: &Path) {
    fs::copy(src, to).unwrap_or_else(|e| panic!("copy {} to {}: {e}", src.display(), to.display()));
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The Rust host (tests/hosts/rust_host.rs), compiled with `rustc` once per test binary.
pub fn rust_host() -> &'static Path {
    static RH: OnceLock<PathBuf> = OnceLock::new();
    RH.get_or_init(|| {
        let out = fixtures().dir.join("rust_host");
        compile_rust(&hosts_src().join("rust_host.rs"), &out);
        out
    })
    .as_path()
}
