//! The tools the tests need (`cc`, `rustc`, `python3`, anything on PATH) and
//! the setup steps that must succeed. A missing tool is a failure saying so.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The test hosts' sources, tests/hosts.
pub fn hosts_src() -> PathBuf {
    tests_dir().join("hosts")
}

/// The real programs' sources and projects, tests/real.
pub fn real_src() -> PathBuf {
    tests_dir().join("real")
}

/// The integration tests' package, tests/.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's root, the parent of tests/.
pub fn repo_root() -> PathBuf {
    tests_dir()
        .parent()
        .expect("tests/ is in the repository")
        .to_path_buf()
}

/// The first executable file `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// `name` on PATH, which a test needs: missing is a failure naming the
/// Debian package `package` to install (locally and in CI), never a skip.
pub fn require(name: &str, package: &str) -> PathBuf {
    find_on_path(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: these tests need it (Debian package `{package}`; \
             `make deps` installs what the tests need, as root)"
        )
    })
}

/// The real archiver `ar` (binutils): the first on PATH, else /usr/bin/ar;
/// its canonical path.
pub fn real_ar() -> PathBuf {
    let ar = find_on_path("ar")
        .or_else(|| Some(PathBuf::from("/usr/bin/ar")).filter(|p| p.is_file()))
        .expect("the archiver `ar` (binutils) is not installed: it is required by these tests");
    fs::canonicalize(&ar).unwrap()
}

/// Runs a setup step that must succeed (stdin from /dev/null).
pub fn checked(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run {what} ({cmd:?}): {e} — it is required by these tests")
    });
    assert!(
        out.status.success(),
        "{what} failed ({cmd:?}): {}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `cc -O1 -Wall -Werror -I tests/hosts -o OUT SRC`
pub fn compile_c(src: &Path, out: &Path) {
    compile_c_with(src, out, &[]);
}

/// `cc -O1 -Wall -Werror -I tests/hosts -o OUT SRC FLAGS…` (tests/hosts holds
/// the hosts' shared header).
pub fn compile_c_with(src: &Path, out: &Path, flags: &[&str]) {
    checked(
        Command::new("cc")
            .args(["-O1", "-Wall", "-Werror", "-I"])
            .arg(hosts_src())
            .arg("-o")
            .arg(out)
            .arg(src)
            .args(flags),
        "the C compiler `cc`",
    );
}

/// `cc -O1 -Wall -Werror -c -o OBJ SRC`
pub fn compile_object(src: &Path, obj: &Path) {
    checked(
        Command::new("cc")
            .args(["-O1", "-Wall", "-Werror", "-c", "-o"])
            .arg(obj)
            .arg(src),
        "the C compiler `cc`",
    );
}

/// `rustc -O --edition 2021 -o OUT SRC` (`$RUSTC` if set).
pub fn compile_rust(src: &Path, out: &Path) {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    checked(
        Command::new(rustc)
            .args(["-O", "--edition", "2021", "-o"])
            .arg(out)
            .arg(src),
        "`rustc`",
    );
}

/// An empty ELF shared object, so ld.so preloads it silently. A missing C
/// compiler is a failure, never a skip.
pub fn empty_shared_library(path: &Path) {
    let built = Command::new("cc")
        .args(["-shared", "-o"])
        .arg(path)
        .args(["-x", "c", "/dev/null"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        built,
        "cc could not build an empty shared library (is gcc installed?)"
    );
}

/// The interpreter binary itself: `python3` on PATH may be a pyenv shell
/// script, and a shell would claim the shim and never convert.
pub fn find_python() -> PathBuf {
    let out = checked(
        Command::new("python3").args(["-c", "import sys; print(sys.executable)"]),
        "the Python interpreter `python3` (Debian: python3)",
    );
    let exe = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let head = fs::read(&exe).unwrap_or_else(|e| panic!("cannot read {}: {e}", exe.display()));
    assert!(
        head.starts_with(b"\x7fELF"),
        "sys.executable {} is not an ELF binary",
        exe.display()
    );
    exe
}

/// The last component of a path.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
