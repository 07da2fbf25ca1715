//! The exec record (docs/DESIGN.md, "Conversion" 2): a child of the process
//! in scope tells, at the moment it execs, what it execs; its parent reads
//! that at its wait instead of guessing from a look at `/proc`.
//!
//! - `table`: the shared mapping, made at load by the process in scope and
//!   inherited by its children; one slot per child exec.
//! - `futex`: the kernel calls (futex wait/wake, the robust list that makes
//!   the kernel mark a child's word when it execs or dies).
//! - here: what runs in the child, between fork (or vfork) and exec — heap-free,
//!   lock-free, silent — and the parent's note of a `posix_spawn`.
//! - `settle`: the parent's side, at its wait.
//!
//! The exec hooks (`ffi/`) call [`before_exec`] in the child just before the
//! real exec and [`exec_failed`] if the real exec returned.

pub mod futex;
pub mod later;
pub mod settle;
pub mod table;

use crate::decide::indirect::Fixed;
use crate::ffi::state;
use libc::{c_char, c_int};
use std::ffi::CStr;
use std::sync::atomic::Ordering;
use table::{state as slot_state, Slot, Writer};

/// What a child asked to exec, as the exec hook received it.
#[derive(Clone, Copy)]
pub enum Program {
    /// `execve`, `execv`, `execle`, `execl`: a path, relative to the working
    /// directory unless absolute.
    Path(*const c_char),
    /// `execvp`, `execvpe`, `execlp`: a file searched on PATH (a path if it
    /// holds a `/`).
    Search(*const c_char),
    /// `fexecve`: an open file.
    Fd(c_int),
    /// `execveat(dirfd, path, …, flags)`.
    At {
        dirfd: c_int,
        path: *const c_char,
        flags: c_int,
    },
}

/// One exec call, as the hook received it.
pub struct Exec {
    /// The C function called (`execve`, `execvp`, …).
    pub call: &'static str,
    pub program: Program,
    /// The NULL-terminated argument vector.
    pub argv: *const *mut c_char,
}

/// An exec recorded by [`before_exec`] (its slot, its entry in the log of
/// execs after the archiver), to be marked failed if the real exec returns.
pub struct Pending {
    slot: Option<&'static Slot>,
    later: Option<&'static later::Entry>,
}

/// Makes the table. Called once by the constructor of the process in scope,
/// before any hook is routed: raw libc only.
pub fn create() -> bool {
    table::create()
}

/// Records `exec` if this is a child of the process in scope, and arms the
/// slot: the kernel will mark it when this process execs or dies. Called in
/// the child between fork (or vfork) and exec: no heap, no lock, no logging.
///
/// # Safety
/// The pointers of `exec` are those the host passed to the exec call.
pub unsafe fn before_exec(exec: &Exec) -> Option<Pending> {
    let parent = state::scope_pid();
    let me = libc::getpid();
    if parent == 0 || me == parent {
        return None; // the process in scope itself
    }
    // Any descendant, however deep, once the archiver has ended (observe mode).
    let later = note_later(me, exec);
    let slot = child_record(parent, me, exec);
    (slot.is_some() || later.is_some()).then_some(Pending { slot, later })
}

/// The child's record for its parent's wait: only a child of the process
/// in scope (`parent`) records one.
unsafe fn child_record(parent: i32, me: i32, exec: &Exec) -> Option<&'static Slot> {
    if libc::getppid() != parent {
        return None;
    }
    // The kernel marks the word only if it holds the id of the thread that
    // execs; a thread other than the first takes the process's id during
    // the exec and would not match. Such an exec stays unrecorded.
    if futex::gettid() != me {
        return None;
    }
    let slot = table::claim(me)?;
    let header = table::header()?;
    let start = crate::facts::proc::self_start_time().unwrap_or(0);
    slot.start.store(start, Ordering::Release);
    let (sec, nsec) = crate::facts::temps::coarse_now();
    slot.exec_nsec.store(nsec, Ordering::Relaxed);
    slot.exec_sec.store(sec, Ordering::Relaxed);
    let i = table::index_of(header, slot);
    if crate::record::temps::armed() {
        write_telling_output(slot, i, exec);
    } else {
        write(slot, i, exec, None);
    }
    note_outputs(slot);
    if !arm(slot, me) {
        release(slot, me);
        return None;
    }
    table::publish(slot, slot_state::EXECING);
    Some(slot)
}

/// `write`, with the `-o` file this child found missing. Only with temps
/// globs: its buffers (about 24 KiB) stay off the stack of every other
/// child's exec.
#[inline(never)]
unsafe fn write_telling_output(slot: &Slot, i: usize, exec: &Exec) {
    let mut told = Fixed::<4096>::new();
    let missing = missing_output(exec, &mut told).then(|| told.bytes());
    write(slot, i, exec, missing);
}

/// The file this child, a compiler driver, assembler or linker, is told
/// with `-o` to write (its `@FILE`s read too), when that file is missing
/// now, right after the record's time and before its exec (docs/DESIGN.md,
/// "Conversion" 12): only then can the file later found there, born after
/// that time, be the host's temporary (`as` unlinks an existing output and
/// makes a new one, so a birth time alone cannot tell). Heap-free, in
/// fixed buffers: a response file over 8 KiB, one nested in another, a word
/// over 4 KiB or a file that cannot be read tells nothing. errno kept.
unsafe fn missing_output(exec: &Exec, out: &mut Fixed<4096>) -> bool {
    let errno = *libc::__errno_location();
    let missing = told_and_missing(exec, out);
    *libc::__errno_location() = errno;
    missing
}

/// `missing_output`'s work, errno not kept.
unsafe fn told_and_missing(exec: &Exec, out: &mut Fixed<4096>) -> bool {
    use crate::decide::temps::{usable_output, writes_named_output, OutputScan};
    let mut buf = [0u8; 4096];
    if !writes_named_output(program_of(exec, &mut buf)) {
        return false;
    }
    let mut scan = OutputScan::default();
    let mut found = false;
    for word in Words::new(exec.argv).skip(1) {
        let read = match word.strip_prefix(b"@") {
            Some(file) => response_file(file, &mut scan, out, &mut found),
            None => {
                heed(scan.word(word), out, &mut found);
                true
            }
        };
        if !read {
            return false;
        }
    }
    if !found || out.overflow || !usable_output(out.bytes()) {
        return false;
    }
    let mut path = [0u8; 4097];
    // SAFETY: `p` points into `path`, NUL-terminated by `c_path`.
    c_path(out.bytes(), &mut path)
        .is_some_and(|p| crate::facts::temps::lstat_at(libc::AT_FDCWD, p) == Err(libc::ENOENT))
}

/// One word's effect on the output found so far (`decide::temps::Told`).
fn heed(told: crate::decide::temps::Told<'_>, out: &mut Fixed<4096>, found: &mut bool) {
    use crate::decide::temps::Told;
    match told {
        Told::Output(value) => {
            out.set(value);
            *found = true;
        }
        Told::Cleared => *found = false,
        Told::Nothing => {}
    }
}

/// The words of response file `name` fed to `scan`; false when it cannot
/// be read whole into 8 KiB, a word does not fit, or it names another.
unsafe fn response_file(
    name: &[u8],
    scan: &mut crate::decide::temps::OutputScan,
    out: &mut Fixed<4096>,
    found: &mut bool,
) -> bool {
    let mut text = [0u8; 8192];
    let len = read_small(name, &mut text);
    let Some(mut rest) = len.and_then(|n| text.get(..n)) else {
        return false;
    };
    let mut word = Fixed::<4096>::new();
    loop {
        word.clear();
        match crate::decide::indirect::next_word(rest, &mut word) {
            None => return true,
            Some(after) => rest = after,
        }
        if word.overflow || word.bytes().starts_with(b"@") {
            return false;
        }
        heed(scan.word(word.bytes()), out, found);
    }
}

/// The whole of file `name` (relative to the working directory) in `buf`;
/// None when it cannot be opened or read, or does not fit.
unsafe fn read_small(name: &[u8], buf: &mut [u8]) -> Option<usize> {
    let mut path = [0u8; 4097];
    // SAFETY: a NUL-terminated path in `path` (`c_path`); the fd is ours,
    // closed below; `read` writes only into `buf`'s free part.
    let fd = libc::open(c_path(name, &mut path)?, libc::O_RDONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return None;
    }
    let mut len = 0;
    let whole = loop {
        let Some(room) = buf.get_mut(len..).filter(|r| !r.is_empty()) else {
            break false; // full: the file may go on
        };
        match libc::read(fd, room.as_mut_ptr().cast(), room.len()) {
            0 => break true,
            n if n > 0 => len += n as usize,
            _ if *libc::__errno_location() == libc::EINTR => {}
            _ => break false,
        }
    };
    libc::close(fd);
    whole.then_some(len)
}

/// `bytes` NUL-terminated in `buf` (zeroed by the caller), heap-free; None
/// when they do not fit or hold a NUL.
fn c_path(bytes: &[u8], buf: &mut [u8; 4097]) -> Option<*const c_char> {
    if bytes.contains(&0) || bytes.len() >= buf.len() {
        return None;
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    Some(buf.as_ptr().cast())
}

/// The words of a NULL-terminated `argv`, borrowed for `'a` (heap-free).
#[derive(Clone, Copy)]
struct Words<'a> {
    next: *const *mut c_char,
    argv: std::marker::PhantomData<&'a [u8]>,
}

impl Words<'_> {
    /// # Safety
    /// `argv` is null or a NULL-terminated vector of C strings that stay
    /// alive and unchanged while the words are used (the exec call's own).
    unsafe fn new<'a>(argv: *const *mut c_char) -> Words<'a> {
        Words {
            next: argv,
            argv: std::marker::PhantomData,
        }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        // SAFETY: `new`'s contract: every pointer up to the NULL is a live
        // C string, and the NULL ends the walk.
        unsafe {
            if self.next.is_null() || (*self.next).is_null() {
                return None;
            }
            let word = c_bytes(*self.next);
            self.next = self.next.add(1);
            Some(word)
        }
    }
}

/// The child's stdout and stderr as its exec will leave them, for the
/// parent's wait (docs/DESIGN.md, "Conversion" 2: output the host reads is
/// not handed off). Read where the record is written, just before the real
/// exec; an fd marked close-on-exec is recorded closed.
fn note_outputs(slot: &Slot) {
    for (fd, note) in [1, 2].into_iter().zip(&slot.outputs) {
        note.store(crate::facts::output::own_fd(fd));
    }
}

/// A descendant of the process in scope (not that process: it traces its
/// own spawns) started `program` with `posix_spawn`, `posix_spawnp`,
/// `system` or `popen`, which exec inside the C library, out of the exec
/// hooks' sight: into the log of execs after the archiver, if it is
/// recording. `pid`: the started child, or this process when the call does
/// not say. Heap-free, lock-free, silent (this process may be a child that
/// has not exec'd).
///
/// # Safety
/// `argv` is null or a NULL-terminated vector of C strings.
pub unsafe fn note_descendant_spawn(
    pid: i32,
    call: &'static str,
    program: &[u8],
    argv: *const *mut c_char,
) {
    let parent = state::scope_pid();
    if parent == 0 || libc::getpid() == parent || !later::is_recording() {
        return;
    }
    later::note(pid, table::call_index(call), program, argv);
}

/// `system(command)` or `popen(command, …)` in a descendant: the shell it
/// runs, `sh -c COMMAND` (see [`note_descendant_spawn`]).
///
/// # Safety
/// `command` is null or a C string.
pub unsafe fn note_descendant_shell(call: &'static str, command: *const c_char) {
    if command.is_null() {
        return;
    }
    let argv = [
        c"sh".as_ptr() as *mut c_char,
        c"-c".as_ptr() as *mut c_char,
        command as *mut c_char,
        std::ptr::null_mut(),
    ];
    note_descendant_spawn(libc::getpid(), call, b"/bin/sh", argv.as_ptr());
}

/// The exec in the log of execs after the archiver, if it is recording.
unsafe fn note_later(me: i32, exec: &Exec) -> Option<&'static later::Entry> {
    if !later::is_recording() {
        return None;
    }
    let mut buf = [0u8; 4096];
    let program = program_of(exec, &mut buf);
    later::note(me, table::call_index(exec.call), program, exec.argv)
}

/// The real exec returned (it failed): the child's own robust list back,
/// the word disarmed, the parent woken. errno is the caller's to keep.
///
/// # Safety
/// Called in the same child, right after the real exec returned.
pub unsafe fn exec_failed(pending: Pending) {
    if let Some(e) = pending.later {
        later::failed(e);
    }
    let Some(slot) = pending.slot else { return };
    let (head, len) = *slot.old.get();
    futex::set_robust_list(head as *mut table::RobustHead, len);
    slot.state.store(slot_state::FAILED, Ordering::Release);
    slot.word.store(0, Ordering::Release);
    futex::wake(&slot.word);
    if let Some(h) = table::header() {
        table::bump(h);
    }
}

/// Notes, in the parent, a child that `posix_spawn` started: the C library
/// returns only once the child's exec succeeded, so the record is final.
///
/// # Safety
/// `path` and `argv` are those the host passed to the spawn.
pub unsafe fn note_spawn(
    pid: i32,
    start: u64,
    call: &'static str,
    path: *const c_char,
    argv: *const *mut c_char,
) {
    let saved = *libc::__errno_location();
    spawn_record(pid, start, call, path, argv);
    *libc::__errno_location() = saved;
}

unsafe fn spawn_record(
    pid: i32,
    start: u64,
    call: &'static str,
    path: *const c_char,
    argv: *const *mut c_char,
) {
    let Some(slot) = table::claim(pid) else {
        return;
    };
    slot.start.store(start, Ordering::Release);
    let Some(header) = table::header() else {
        return;
    };
    let i = table::index_of(header, slot);
    let mut w = Writer::new(i);
    slot.call.store(table::call_index(call), Ordering::Relaxed);
    slot.program_len.store(w.push_c(path), Ordering::Relaxed);
    // The spawn's file actions may change directory: the parent's is not
    // the child's. Empty: the parent asks /proc if it needs it.
    slot.cwd_len.store(w.push(b""), Ordering::Relaxed);
    write_args(slot, &mut w, argv);
    // The C library's child exec'd inside the spawn: it wrote no record of
    // its stdout and stderr. It has just started, so `/proc` shows them as
    // the file actions left them (docs/DESIGN.md, "Conversion" 2); read at
    // the wait, a child that is ending would show them closed.
    for (note, stream) in slot
        .outputs
        .iter()
        .zip(crate::facts::output::child_outputs(pid))
    {
        note.store(stream);
    }
    table::publish(slot, slot_state::SPAWNED);
}

/// The record's strings: program, working directory, arguments.
unsafe fn write(slot: &Slot, i: usize, exec: &Exec, missing_output: Option<&[u8]>) {
    let mut w = Writer::new(i);
    slot.call
        .store(table::call_index(exec.call), Ordering::Relaxed);
    let mut buf = [0u8; 4096];
    let program = program_of(exec, &mut buf);
    slot.program_len.store(w.push(program), Ordering::Relaxed);
    let mut cwd = [0u8; 4096];
    let here = if libc::getcwd(cwd.as_mut_ptr().cast(), cwd.len()).is_null() {
        &b""[..]
    } else {
        c_bytes(cwd.as_ptr().cast())
    };
    slot.cwd_len.store(w.push(here), Ordering::Relaxed);
    write_args(slot, &mut w, exec.argv);
    if let Some(path) = missing_output {
        slot.missing_output_len
            .store(w.push(path), Ordering::Relaxed);
    }
}

/// The program and arguments of `exec` (the process in scope only: this
/// allocates).
///
/// # Safety
/// The pointers of `exec` are those the host passed to the exec call.
pub unsafe fn described(exec: &Exec) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut buf = [0u8; 4096];
    let program = program_of(exec, &mut buf).to_vec();
    let mut argv = Vec::new();
    let mut p = exec.argv;
    while !p.is_null() && !(*p).is_null() {
        argv.push(c_bytes(*p).to_vec());
        p = p.add(1);
    }
    (program, argv)
}

/// The program `exec` names, as given (`buf` holds it for `fexecve` and
/// `execveat` on an fd).
unsafe fn program_of<'a>(exec: &Exec, buf: &'a mut [u8; 4096]) -> &'a [u8] {
    match exec.program {
        Program::Path(p) | Program::Search(p) => c_bytes(p),
        Program::Fd(fd) => fd_path(fd, buf),
        Program::At { dirfd, path, flags } => at_path(dirfd, path, flags, buf),
    }
}

unsafe fn write_args(slot: &Slot, w: &mut Writer, argv: *const *mut c_char) {
    let (mut argc, mut len) = (0u32, 0u32);
    let mut p = argv;
    while !p.is_null() && !(*p).is_null() {
        let n = w.push_c(*p);
        if w.cut {
            break;
        }
        argc += 1;
        len += n;
        p = p.add(1);
    }
    slot.argc.store(argc, Ordering::Relaxed);
    slot.args_len.store(len, Ordering::Relaxed);
    slot.truncated.store(w.cut as u32, Ordering::Relaxed);
}

/// Registers the slot's one-entry robust list with the word set to our id.
unsafe fn arm(slot: &Slot, me: i32) -> bool {
    let Some(old) = futex::robust_list() else {
        return false;
    };
    *slot.old.get() = old;
    let head = table::lay_out_list(slot);
    slot.word.store(me as u32, Ordering::Release);
    futex::set_robust_list(head, futex::HEAD_LEN)
}

/// Gives a claimed slot up; a parent that saw it claimed is woken to look again.
fn release(slot: &Slot, me: i32) {
    slot.state.store(slot_state::FREE, Ordering::Release);
    let _ = slot
        .pid
        .compare_exchange(me, 0, Ordering::AcqRel, Ordering::Acquire);
    if let Some(h) = table::header() {
        table::bump(h);
    }
}

unsafe fn c_bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        b""
    } else {
        CStr::from_ptr(p).to_bytes()
    }
}

/// What `/proc/self/fd/FD` names (the file `fexecve` runs), or "".
unsafe fn fd_path(fd: c_int, buf: &mut [u8; 4096]) -> &[u8] {
    let mut link = [0u8; 32];
    let mut l = arshim_common::raw_line::Line::new();
    l.push(b"/proc/self/fd/");
    l.push_number(fd.max(0) as u32);
    let name = l.as_bytes();
    if name.len() >= link.len() {
        return b"";
    }
    link[..name.len()].copy_from_slice(name);
    let n = libc::readlink(link.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len());
    if n <= 0 {
        return b"";
    }
    &buf[..n as usize]
}

/// The program `execveat` runs: the path if absolute or relative to the
/// working directory, the file of `dirfd` for AT_EMPTY_PATH, else the path
/// alone (its base name is what identifies the archiver).
unsafe fn at_path(dirfd: c_int, path: *const c_char, flags: c_int, buf: &mut [u8; 4096]) -> &[u8] {
    let p = c_bytes(path);
    if p.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
        return fd_path(dirfd, buf);
    }
    p
}
