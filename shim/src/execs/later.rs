//! Execs after the archiver (docs/DESIGN.md, "verify: everything after the
//! archiver counts"): in observe mode, once the host has waited for its
//! archiver, every exec made by any process that shares this record — the
//! host's fork and vfork children and theirs, however deep, until they exec
//! — is written here by that process at its exec, heap-free, lock-free and
//! silent (it may be a child between fork and exec). The host turns the
//! entries into trace events at its blocking waits and at its exit ([`drain`]).
//!
//! One `MAP_SHARED | MAP_ANONYMOUS` mapping made with the exec record at
//! load: a phase word, a counter that numbers every exec, and a ring of
//! [`ENTRIES`] entries. An entry is overwritten when more execs than that
//! happen before the host reads them: the host then counts the ones it
//! missed, and says so — never silently.

use std::cell::UnsafeCell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, Ordering};

/// How many execs the ring holds between two reads by the host.
pub const ENTRIES: usize = 64;
/// Bytes for one exec's program and arguments; longer lists are cut.
pub const ENTRY_DATA: usize = 4096 - 48;

/// What [`Log::phase`] holds.
pub mod phase {
    /// Not recording (exec mode, or the archiver has not ended).
    pub const OFF: u32 = 0;
    /// The archiver ended; the host's main code runs.
    pub const MAIN: u32 = 1;
    /// The host's `exit` has started: its exit handlers run.
    pub const EXIT: u32 = 2;
}

/// One exec, as the process that made it wrote it.
#[repr(C)]
pub struct Entry {
    /// The exec's number + 1 once the entry is whole; 0 while written.
    pub done: AtomicU32,
    pub pid: AtomicI32,
    /// [`phase`] when the exec was made.
    pub phase: AtomicU32,
    /// 1 when the exec call returned (it failed).
    pub failed: AtomicU32,
    /// Which exec function was called (an index into `table::CALLS`).
    pub call: AtomicU32,
    pub argc: AtomicU32,
    /// 1 when the arguments did not fit in [`ENTRY_DATA`].
    pub cut: AtomicU32,
    /// The program, NUL, then each argument and NUL.
    pub data: UnsafeCell<[u8; ENTRY_DATA]>,
}

#[repr(C)]
pub struct Log {
    pub phase: AtomicU32,
    /// How many execs were numbered since the archiver ended.
    pub count: AtomicU32,
    pub entries: [Entry; ENTRIES],
}

static LOG: AtomicPtr<Log> = AtomicPtr::new(null_mut());
/// The host's own: the number of the next exec to read.
static READ: AtomicU32 = AtomicU32::new(0);

/// Maps the log. Called once by the constructor of the process in scope in
/// observe mode, after the exec record (raw libc only). Without it execs
/// after the archiver are not seen, and `verify` is told so at
/// `archiver_done`.
pub fn create() -> bool {
    // SAFETY: a fresh anonymous mapping, no address hint; zero pages are a
    // log in phase OFF with no entries. NORESERVE: touched only when written.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            std::mem::size_of::<Log>(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    LOG.store(p.cast(), Ordering::Release);
    true
}

fn log() -> Option<&'static Log> {
    let p = LOG.load(Ordering::Acquire);
    // SAFETY: the mapping is never unmapped; a Log is atomics and bytes
    // that each writer publishes through `done`.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Whether execs are recorded now (observe mode, after the archiver).
pub fn is_recording() -> bool {
    log().is_some_and(|l| l.phase.load(Ordering::Acquire) != phase::OFF)
}

/// The host enters `to` ([`phase::MAIN`] at `archiver_done`, [`phase::EXIT`]
/// when its exit starts). False when there is no log.
pub fn set_phase(to: u32) -> bool {
    log()
        .map(|l| l.phase.store(to, Ordering::Release))
        .is_some()
}

/// Records an exec about to be made by this process (a descendant of the
/// host; not the host itself, which traces its own). Heap-free, lock-free,
/// silent: safe between fork (or vfork) and exec. Returns the entry, to be
/// marked failed if the exec returns.
///
/// # Safety
/// `argv` is null or a NULL-terminated vector of C strings.
pub unsafe fn note(
    pid: i32,
    call: u32,
    program: &[u8],
    argv: *const *mut libc::c_char,
) -> Option<&'static Entry> {
    let log = log()?;
    let phase = log.phase.load(Ordering::Acquire);
    if phase == phase::OFF {
        return None;
    }
    let n = log.count.fetch_add(1, Ordering::AcqRel);
    let e = &log.entries[n as usize % ENTRIES];
    e.done.store(0, Ordering::Release);
    e.pid.store(pid, Ordering::Relaxed);
    e.phase.store(phase, Ordering::Relaxed);
    e.failed.store(0, Ordering::Relaxed);
    e.call.store(call, Ordering::Relaxed);
    let (argc, cut) = write_strings(&mut *e.data.get(), program, argv);
    e.argc.store(argc, Ordering::Relaxed);
    e.cut.store(cut as u32, Ordering::Relaxed);
    e.done.store(n.wrapping_add(1), Ordering::Release);
    Some(e)
}

/// The exec recorded in `e` returned: it failed.
pub fn failed(e: &Entry) {
    e.failed.store(1, Ordering::Release);
}

/// `program` NUL, then each argument NUL, as far as `data` holds; the
/// number of arguments written and whether some did not fit.
unsafe fn write_strings(
    data: &mut [u8; ENTRY_DATA],
    program: &[u8],
    argv: *const *mut libc::c_char,
) -> (u32, bool) {
    let mut at = 0;
    if !push(data, &mut at, program) {
        return (0, true);
    }
    let mut argc = 0;
    let mut p = argv;
    while !p.is_null() && !(*p).is_null() {
        if !push(data, &mut at, std::ffi::CStr::from_ptr(*p).to_bytes()) {
            return (argc, true);
        }
        argc += 1;
        p = p.add(1);
    }
    (argc, false)
}

fn push(data: &mut [u8], at: &mut usize, bytes: &[u8]) -> bool {
    let Some(room) = data.get_mut(*at..*at + bytes.len() + 1) else {
        return false;
    };
    let (text, nul) = room.split_at_mut(bytes.len());
    text.copy_from_slice(bytes);
    nul[0] = 0;
    *at += bytes.len() + 1;
    true
}

/// One exec read back by the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub pid: i32,
    pub phase: u32,
    pub failed: bool,
    pub call: u32,
    pub program: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub cut: bool,
}

/// What the host reads at one of its waits or at its exit: the execs since
/// the last read, and how many it missed (overwritten before it read them,
/// or, when `last`, still being written).
pub struct Drained {
    pub seen: Vec<Seen>,
    pub missed: u32,
}

/// Reads the execs numbered since the last call (the host only; it
/// allocates). With `last` (the host's exit or exec) nothing is left for
/// later: an entry still being written counts as missed.
pub fn drain(last: bool) -> Drained {
    let mut out = Drained {
        seen: Vec::new(),
        missed: 0,
    };
    let Some(log) = log() else { return out };
    let count = log.count.load(Ordering::Acquire);
    let mut n = READ.load(Ordering::Relaxed);
    while n != count {
        let behind = count.wrapping_sub(n) as usize;
        let entry = if behind > ENTRIES {
            Err(true)
        } else {
            read(log, n)
        };
        match entry {
            Ok(seen) => out.seen.push(seen),
            Err(true) => out.missed += 1,
            Err(false) if last => out.missed += 1,
            Err(false) => break, // being written: read it next time
        }
        n = n.wrapping_add(1);
    }
    READ.store(n, Ordering::Relaxed);
    out
}

/// Entry `n`, if whole and still that exec's; `Err(true)`: overwritten by
/// a later exec, `Err(false)`: not written yet.
fn read(log: &Log, n: u32) -> Result<Seen, bool> {
    let e = &log.entries[n as usize % ENTRIES];
    let want = n.wrapping_add(1);
    let before = e.done.load(Ordering::Acquire);
    if before != want {
        return Err(before != 0);
    }
    // SAFETY: a copy of bytes in the mapping; a writer that took this entry
    // meanwhile is caught by the second look at `done`.
    let data: [u8; ENTRY_DATA] = unsafe { std::ptr::read_volatile(e.data.get()) };
    let seen = Seen {
        pid: e.pid.load(Ordering::Relaxed),
        phase: e.phase.load(Ordering::Relaxed),
        failed: e.failed.load(Ordering::Acquire) != 0,
        call: e.call.load(Ordering::Relaxed),
        program: Vec::new(),
        argv: Vec::new(),
        cut: e.cut.load(Ordering::Relaxed) != 0,
    };
    let argc = e.argc.load(Ordering::Relaxed) as usize;
    if e.done.load(Ordering::Acquire) != want {
        return Err(true);
    }
    Ok(with_strings(seen, &data, argc))
}

fn with_strings(mut seen: Seen, data: &[u8], argc: usize) -> Seen {
    let mut parts = data.split(|&b| b == 0);
    seen.program = parts.next().unwrap_or_default().to_vec();
    seen.argv = parts.take(argc).map(<[u8]>::to_vec).collect();
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    #[test]
    fn strings_are_written_and_read_back_and_cut_when_long() {
        let mut data = [0u8; ENTRY_DATA];
        let args = [CString::new("cp").unwrap(), CString::new("a.a").unwrap()];
        let mut argv: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr() as *mut _).collect();
        argv.push(null_mut());
        // SAFETY: a NULL-terminated vector of C strings.
        let (argc, cut) = unsafe { write_strings(&mut data, b"/bin/cp", argv.as_ptr()) };
        assert_eq!((argc, cut), (2, false));
        let seen = with_strings(
            Seen {
                pid: 1,
                phase: phase::MAIN,
                failed: false,
                call: 0,
                program: Vec::new(),
                argv: Vec::new(),
                cut,
            },
            &data,
            argc as usize,
        );
        assert_eq!(seen.program, b"/bin/cp");
        assert_eq!(seen.argv, [b"cp".to_vec(), b"a.a".to_vec()]);

        let long = CString::new(vec![b'x'; ENTRY_DATA]).unwrap();
        let argv = [
            args[0].as_ptr() as *mut _,
            long.as_ptr() as *mut _,
            null_mut(),
        ];
        // SAFETY: as above.
        let (argc, cut) = unsafe { write_strings(&mut data, b"cp", argv.as_ptr()) };
        assert_eq!((argc, cut), (1, true));
    }

    #[test]
    fn the_host_reads_every_exec_once_and_counts_what_it_missed() {
        assert!(create());
        assert!(set_phase(phase::MAIN));
        let argv = [null_mut()];
        for _ in 0..3 {
            // SAFETY: an empty vector.
            unsafe { note(7, 0, b"cp", argv.as_ptr()) };
        }
        let d = drain(false);
        assert_eq!((d.seen.len(), d.missed), (3, 0));
        assert!(drain(false).seen.is_empty());
        for _ in 0..ENTRIES + 5 {
            // SAFETY: as above.
            unsafe { note(7, 0, b"cp", argv.as_ptr()) };
        }
        let d = drain(true);
        assert_eq!((d.seen.len(), d.missed), (ENTRIES, 5));
        set_phase(phase::OFF);
    }
}
