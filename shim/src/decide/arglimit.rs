//! Will the kernel take this `execve`'s arguments and environment? The
//! rules of Linux's fs/exec.c, so that a conversion that would end in E2BIG
//! after the host's cleanups is refused while the real call can still be
//! made (docs/DESIGN.md, "Conversion" 1). Pure arithmetic on the strings.
//!
//! The kernel's accounting (`bprm_stack_limits`, `copy_strings`):
//! - the room for strings is a quarter of the stack limit, at most three
//!   quarters of `_STK_LIM` (8 MiB) and at least `ARG_MAX` (32 pages);
//! - every argv and envp pointer is taken from that room first
//!   (`max(argc, 1) + envc` pointers);
//! - then each string costs its length plus its NUL: the file name given
//!   to `execve`, every environment string, every argument;
//! - a single string (NUL included) may not exceed `MAX_ARG_STRLEN` (32
//!   pages), and there may be at most `MAX_ARG_STRINGS` of each vector;
//! - a `#!` script then drops its argv[0] and adds the script's path, the
//!   interpreter and its optional argument, against the same room.

/// `_STK_LIM` (include/uapi/linux/resource.h).
const STK_LIM: u64 = 8 << 20;
/// `ARG_MAX` and `MAX_ARG_STRLEN`, in pages (include/uapi/linux/binfmts.h).
const ARG_PAGES: u64 = 32;
/// `MAX_ARG_STRINGS`.
const MAX_ARG_STRINGS: usize = 0x7FFF_FFFF;
/// One argv or envp pointer on the new stack (64-bit).
const POINTER: usize = std::mem::size_of::<usize>();

/// What one `execve` asks of the kernel's argument room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecSize {
    /// Bytes of every string, NULs included.
    pub strings: usize,
    pub argc: usize,
    pub envc: usize,
    /// The longest single string, its NUL included.
    pub longest: usize,
}

impl ExecSize {
    /// The size of `execve(path, argv, envp)`.
    pub fn of<'a>(
        path: &[u8],
        argv: impl IntoIterator<Item = &'a [u8]>,
        envp: impl IntoIterator<Item = &'a [u8]>,
    ) -> ExecSize {
        let mut size = ExecSize::default();
        size.add_string(path);
        for a in argv {
            size.add_string(a);
            size.argc += 1;
        }
        for e in envp {
            size.add_string(e);
            size.envc += 1;
        }
        size
    }

    fn add_string(&mut self, s: &[u8]) {
        let cost = s.len().saturating_add(1);
        self.strings = self.strings.saturating_add(cost);
        self.longest = self.longest.max(cost);
    }

    /// A `#!` script's exec: argv[0] dropped, the script's path, the
    /// interpreter and its argument (if any) added (fs/binfmt_script.c).
    /// The pointers were counted before, from the original argc.
    pub fn as_script(
        mut self,
        path: &[u8],
        argv0: &[u8],
        interp: &[u8],
        arg: Option<&[u8]>,
    ) -> ExecSize {
        self.strings = self.strings.saturating_sub(argv0.len() + 1);
        for s in [Some(path), Some(interp), arg].into_iter().flatten() {
            self.add_string(s);
        }
        self
    }
}

/// The kernel's room for argument and environment strings and pointers,
/// for a stack limit of `stack` bytes (`RLIM_INFINITY` as `u64::MAX`).
pub fn room(stack: u64, page: u64) -> u64 {
    (STK_LIM / 4 * 3)
        .min(stack / 4)
        .max(ARG_PAGES.saturating_mul(page))
}

/// The bytes left in `room` after `size`, or why the kernel refuses it (E2BIG).
pub fn left(size: &ExecSize, room: u64, page: u64) -> Result<u64, &'static str> {
    if size.argc > MAX_ARG_STRINGS || size.envc > MAX_ARG_STRINGS {
        return Err("more strings than the kernel takes (MAX_ARG_STRINGS)");
    }
    if size.longest as u64 > ARG_PAGES.saturating_mul(page) {
        return Err("a string longer than the kernel takes (MAX_ARG_STRLEN)");
    }
    let pointers = (size.argc.max(1) as u64).saturating_add(size.envc as u64) * POINTER as u64;
    let needed = pointers.saturating_add(size.strings as u64);
    room.checked_sub(needed)
        .ok_or("arguments and environment larger than the kernel takes (E2BIG)")
}

/// The reaper's arguments for one deferred deletion, at most:
/// `--unlink DIRFD NAME` (docs/DESIGN.md, "Conversion" 4), the fd number
/// taken as ten digits, three pointers.
pub fn deferral_cost(name: &[u8]) -> u64 {
    let strings = b"--unlink".len() + 1 + 10 + 1 + name.len() + 1;
    (strings + 3 * POINTER) as u64
}

/// What one temporary handed to the reaper adds to its arguments:
/// `--unlink-if` (or `--rmdir-if`), the fd (at most ten digits), the name
/// and `DEV:INO:SEC.NSEC` (at most 20 + 20 + 20 + 9 digits), NULs and
/// pointers included (docs/DESIGN.md, "Conversion" 12).
pub fn temp_cost(name: &[u8]) -> u64 {
    let strings =
        b"--unlink-if".len() + 1 + 10 + 1 + name.len() + 1 + 20 + 1 + 20 + 1 + 21 + 1 + 9 + 1;
    (strings + 4 * POINTER) as u64
}

/// The most the deferred deletions can add to the reaper's arguments: each
/// path a cleanup's deletion may be deferred for (a protected path or one
/// of its directories) deleted both as a file and as a directory. The
/// session enforces it (`defer`), so the bound holds.
pub fn deferral_reserve(protected: &[Vec<u8>]) -> u64 {
    let mut seen: Vec<&[u8]> = Vec::new();
    for p in protected {
        let mut path: &[u8] = p;
        loop {
            if !path.is_empty() && !seen.contains(&path) {
                seen.push(path);
            }
            match path.iter().rposition(|&b| b == b'/') {
                Some(cut) => path = &path[..cut],
                None => break,
            }
        }
    }
    seen.iter()
        .map(|p| {
            let name = p.rsplit(|&b| b == b'/').next().unwrap_or(p);
            2 * deferral_cost(name)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_follows_the_stack_limit() {
        assert_eq!(room(8 << 20, 4096), 2 << 20);
        assert_eq!(room(256 << 10, 4096), 128 << 10, "at least 32 pages");
        assert_eq!(room(u64::MAX, 4096), 6 << 20, "at most 3/4 of _STK_LIM");
    }

    #[test]
    fn strings_and_pointers_are_counted() {
        let s = ExecSize::of(b"/bin/ar", [&b"ar"[..], b"x"], [&b"A=1"[..]]);
        assert_eq!(s.strings, 8 + 3 + 2 + 4);
        assert_eq!(left(&s, 100, 4096), Ok(100 - 17 - 3 * 8));
        assert_eq!(left(&s, 41, 4096), Ok(0));
        assert!(left(&s, 40, 4096).is_err());
        let empty = ExecSize::of(b"/x", [], []);
        assert_eq!(
            left(&empty, 100, 4096),
            Ok(100 - 3 - 8),
            "argc 0 counts one"
        );
    }

    #[test]
    fn one_string_may_not_exceed_32_pages() {
        let long = vec![b'a'; 32 * 4096 - 1];
        let s = ExecSize::of(b"/p", [&long[..]], []);
        assert!(left(&s, u64::MAX, 4096).is_ok());
        let long = vec![b'a'; 32 * 4096];
        let s = ExecSize::of(b"/p", [&long[..]], []);
        assert!(left(&s, u64::MAX, 4096).is_err());
    }

    #[test]
    fn a_script_swaps_argv0_for_its_path_and_interpreter() {
        let s = ExecSize::of(b"/t/ar", [&b"ar"[..]], []);
        let script = s.as_script(b"/t/ar", b"ar", b"/bin/sh", Some(b"-e"));
        assert_eq!(script.strings, 6 + 6 + 8 + 3);
        assert_eq!(script.argc, 1);
    }

    #[test]
    fn the_reserve_covers_every_protected_path_and_directory() {
        let one = deferral_reserve(&[b"/t/a.o".to_vec()]);
        assert_eq!(one, 2 * deferral_cost(b"a.o") + 2 * deferral_cost(b"t"));
        let two = deferral_reserve(&[b"/t/a.o".to_vec(), b"/t/b.o".to_vec()]);
        assert_eq!(two, one + 2 * deferral_cost(b"b.o"), "/t counted once");
        let relative = deferral_reserve(&[b"a.o".to_vec()]);
        assert_eq!(relative, 2 * deferral_cost(b"a.o"));
    }
}
