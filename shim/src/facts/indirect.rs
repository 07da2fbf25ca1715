//! Reads what an archiver's command line names indirectly (docs/DESIGN.md,
//! "Conversion" 4): `@FILE` response files and the MRI script on its stdin,
//! bounded, before anything of the host is changed. Then asks
//! `decide::operation` whether the archiver writes at all. Only regular
//! files (and `/dev/null`) are read: a FIFO or a terminal would block or be
//! consumed, so it is an error and the caller does not convert.

use crate::decide::indirect::{self, MriScript};
use crate::decide::link::{self, Kind};
use crate::decide::operation::{self, Operation};
use crate::decide::protect::absolute;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// The largest response file or MRI script read (a linker's lists of
/// thousands of objects are far below this).
pub const MAX_BYTES: u64 = 4 << 20;

/// Where the archiver's stdin comes from, for an MRI script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdin {
    /// A file, by a path this process can open (`/proc/PID/fd/0` too).
    Path(Vec<u8>),
    /// Closed: the script is empty.
    Closed,
    /// Set up in a way that cannot be followed: why.
    Unknown(&'static str),
}

/// `/dev/null` is character device 1:3 on Linux.
fn is_dev_null(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == libc::makedev(1, 3)
}

/// A regular file's contents (or nothing for `/dev/null`), at most `MAX_BYTES`.
/// A response file a host reads its own options from (`@FILE`, relative to
/// this process's working directory), read as the archiver's are: a pipe
/// or anything but a regular file is refused, never waited on.
pub fn response_file(path: &[u8]) -> Result<Vec<u8>, String> {
    read_file(path)
}

fn read_file(path: &[u8]) -> Result<Vec<u8>, String> {
    let name = || String::from_utf8_lossy(path).into_owned();
    let os = std::ffi::OsStr::from_bytes(path);
    let meta = std::fs::metadata(os).map_err(|e| format!("{}: {e}", name()))?;
    if is_dev_null(&meta) {
        return Ok(Vec::new());
    }
    if meta.file_type().is_fifo() {
        return Err(format!(
            "{} is a pipe: what it carries is not ours to read",
            name()
        ));
    }
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", name()));
    }
    let mut text = Vec::new();
    std::fs::File::open(os)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut text))
        .map_err(|e| format!("{}: {e}", name()))?;
    if text.len() as u64 > MAX_BYTES {
        return Err(format!("{} is larger than {MAX_BYTES} bytes", name()));
    }
    Ok(text)
}

/// The paths the archiver reads or writes, named directly or indirectly
/// (response files, their words, the MRI script's operands), for
/// `protect::protected_paths`; or why it must not be converted: it only
/// reads, or something it names cannot be read or understood. `args` are
/// its arguments after the program name; `cwd` its working directory.
pub fn archiver_inputs(
    program: &[u8],
    args: &[Vec<u8>],
    cwd: &[u8],
    stdin: impl FnOnce() -> Stdin,
) -> Result<Vec<Vec<u8>>, String> {
    let mut read = |file: &[u8]| {
        read_file(&absolute(cwd, file))
            .map_err(|why| format!("response file cannot be read: {why}"))
    };
    let expanded = indirect::expand(args, &mut read)?;
    let mut operands: Vec<Vec<u8>> = args.to_vec();
    operands.extend(expanded.files.iter().map(|f| absolute(cwd, f)));
    operands.extend(expanded.args.iter().cloned());
    match operation::of(program, &expanded.args) {
        Operation::Writer => {}
        Operation::ReadOnly(why) => return Err(why.into()),
        Operation::Mri => {
            let stdin = stdin();
            if let Stdin::Path(path) = &stdin {
                operands.push(path.clone()); // a file opened onto fd 0 after the cleanups
            }
            let script = mri_script(stdin)?;
            if let Operation::ReadOnly(why) = operation::of_mri(script.saves) {
                return Err(why.into());
            }
            operands.extend(script.operands.iter().map(|o| absolute(cwd, o)));
        }
    }
    Ok(operands)
}

/// What a link writes (`decide::link::output`, absolute against `cwd`),
/// its `@FILE`s read again; `None` for an archiver, or when a response
/// file cannot be read. For observe mode's record of what it would convert.
pub fn link_output(program: &[u8], args: &[Vec<u8>], cwd: &[u8]) -> Option<Vec<u8>> {
    if link::kind(program) == Kind::Archiver {
        return None;
    }
    let mut read = |file: &[u8]| read_file(&absolute(cwd, file));
    let expanded = indirect::expand(args, &mut read).ok()?;
    Some(absolute(cwd, &link::output(&expanded.args)))
}

/// The file a spawned compiler driver, assembler or linker is told to
/// write (`decide::temps::promised_output`, its `@FILE`s read), absolute
/// against `cwd`; `None` for other programs, without `-o`, or when a
/// response file cannot be read (docs/DESIGN.md, "Conversion" 12).
pub fn promised_output(program: &[u8], args: &[Vec<u8>], cwd: &[u8]) -> Option<Vec<u8>> {
    let mut read = |file: &[u8]| read_file(&absolute(cwd, file));
    let expanded = indirect::expand(args, &mut read).ok()?;
    let out = crate::decide::temps::promised_output(program, &expanded.args)?;
    Some(absolute(cwd, out))
}

fn mri_script(stdin: Stdin) -> Result<MriScript, String> {
    let text = match stdin {
        Stdin::Path(path) => {
            read_file(&path).map_err(|why| format!("MRI script cannot be read: {why}"))?
        }
        Stdin::Closed => Vec::new(),
        Stdin::Unknown(why) => return Err(format!("MRI script cannot be read: {why}")),
    };
    indirect::mri_script(&text)
}
