//! What the library reads to know this binary's remembered verdict
//! (docs/DESIGN.md, "Scope"): the verdict store, untrusted (opened without
//! blocking or following a symlink, a regular file of bounded size), and
//! this program's identity — its GNU build-id from its own PT_NOTE segments
//! in memory, else a hash of its file, computed only when the store names a
//! hash. Asked only in a process that would otherwise convert.

use crate::decide::verdicts::{self, Fnv1a};
use std::ffi::CString;

/// A store bigger than this is not read (thousands of entries).
const MAX_STORE: usize = arshim_common::verdict_store::MAX_BYTES;

/// The store's path from this process's environment.
pub fn store_path() -> Option<Vec<u8>> {
    let var = |name: &std::ffi::CStr| {
        // SAFETY: getenv with a NUL-terminated name; the value is copied at once.
        let v = unsafe { libc::getenv(name.as_ptr()) };
        // SAFETY: a non-null getenv result is a NUL-terminated string.
        (!v.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(v) }.to_bytes().to_vec())
    };
    verdicts::store_location(var(c"XDG_CACHE_HOME").as_deref(), var(c"HOME").as_deref())
}

/// The store's bytes; `Ok(None)` when there is none; `Err` says why it
/// cannot be read.
pub fn read_store(path: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let c = CString::new(path).map_err(|_| "a NUL in its path".to_string())?;
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: NUL-terminated path; the fd is ours and closed below.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => Ok(None),
            Some(libc::ELOOP) => Err("a symlink".into()),
            _ => Err(e.to_string()),
        };
    }
    let out = read_regular(fd);
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };
    out.map(Some)
}

/// All of a regular file of at most `MAX_STORE` bytes.
fn read_regular(fd: i32) -> Result<Vec<u8>, String> {
    // SAFETY: zeroed stat is a valid out-buffer for fstat on our fd.
    let st = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        st
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err("not a regular file".into());
    }
    if st.st_size as u64 > MAX_STORE as u64 {
        return Err(format!("bigger than {} MiB", MAX_STORE >> 20));
    }
    // Sized by what fstat said, not by the bound: a small store costs a
    // small buffer. A file that grows meanwhile is still cut at the bound.
    let mut buf = Vec::with_capacity(st.st_size as usize + 1);
    let mut chunk = [0u8; 8192];
    loop {
        // SAFETY: reading into a stack buffer we own, bounded by its length.
        let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        match n {
            0 => break,
            n if n > 0 => buf.extend_from_slice(&chunk[..n as usize]),
            _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => return Err(std::io::Error::last_os_error().to_string()),
        }
        if buf.len() > MAX_STORE {
            return Err(format!("bigger than {} MiB", MAX_STORE >> 20));
        }
    }
    Ok(buf)
}

#[cfg(target_pointer_width = "64")]
type Phdr = libc::Elf64_Phdr;
#[cfg(target_pointer_width = "32")]
type Phdr = libc::Elf32_Phdr;

/// This program's `build-id:HEX`, from its PT_NOTE segments as loaded (the
/// kernel's `AT_PHDR`/`AT_PHNUM`; the load bias from `PT_PHDR`). A note is
/// read only if it lies inside a loaded segment.
pub fn own_build_id() -> Option<String> {
    // SAFETY: getauxval has no preconditions.
    let (at, count) = unsafe {
        (
            libc::getauxval(libc::AT_PHDR) as usize,
            libc::getauxval(libc::AT_PHNUM) as usize,
        )
    };
    if at == 0 || count == 0 || count > 4096 {
        return None;
    }
    // SAFETY: the kernel's AT_PHDR/AT_PHNUM describe this program's program
    // headers, mapped for the life of the process.
    let phdrs = unsafe { std::slice::from_raw_parts(at as *const Phdr, count) };
    let me = phdrs.iter().find(|p| p.p_type == libc::PT_PHDR)?;
    let bias = at.wrapping_sub(me.p_vaddr as usize);
    let loaded = |start: usize, len: usize| {
        phdrs.iter().any(|l| {
            l.p_type == libc::PT_LOAD
                && start >= l.p_vaddr as usize
                && start.saturating_add(len)
                    <= (l.p_vaddr as usize).saturating_add(l.p_filesz as usize)
        })
    };
    phdrs
        .iter()
        .filter(|n| n.p_type == libc::PT_NOTE && loaded(n.p_vaddr as usize, n.p_memsz as usize))
        .find_map(|n| {
            let addr = bias.wrapping_add(n.p_vaddr as usize);
            // SAFETY: inside a PT_LOAD segment's file-backed part, so mapped
            // and readable for the life of the process.
            let notes =
                unsafe { std::slice::from_raw_parts(addr as *const u8, n.p_memsz as usize) };
            verdicts::build_id(notes)
        })
}

/// `fnv1a64:HEX` of the file at `path` (the companion's identity of a
/// binary without a build-id); `None` if it cannot be read.
pub fn file_id(path: &[u8]) -> Option<String> {
    let c = CString::new(path).ok()?;
    // SAFETY: NUL-terminated path; the fd is ours and closed below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut hash = Fnv1a::default();
    let mut buf = vec![0u8; 64 << 10];
    let ok = loop {
        // SAFETY: reading into a buffer we own.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            0 => break true,
            n if n > 0 => hash.feed(&buf[..n as usize]),
            _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => break false,
        }
    };
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };
    ok.then(|| hash.id())
}
