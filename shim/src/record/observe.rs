//! Observe mode's evidence for `arshim verify`: is the archiver spawn final?
//! Touches the trace file only (and reads the sizes of the host's files).
//!
//! Once the host has waited for its archiver (`archiver_done`), everything it
//! still does that a conversion would lose is recorded as an `after` event:
//! spawns and forks, files opened for writing, writes to files and to
//! stdout/stderr, renames and links (deletions are recorded too, as allowed).
//! Writes that glibc's stdio makes internally (out of our hooks' sight) are
//! caught at exit by comparing the sizes of the files the host had open,
//! counting what sat in stdio buffers at each point (glibc's public FILE).
//!
//! Once `exit` starts (a handler registered when the archiver ended runs
//! first), events are marked `"phase":"exit"`: a conversion runs the exit
//! handlers too, so what they do is not lost. Nothing is flushed early:
//! observing never changes the order of the host's output.
//!
//! Execs after the archiver, by the host's descendants however deep, are
//! written by them into the log of `execs::later` (they may be between fork
//! and exec: no heap there); the host turns them into `after` events of
//! `"what":"exec"` at each of its blocking waits, at its exit and before its own
//! exec, which is one too. A host that registered an `on_exit` handler is
//! said once (`on_exit`): a conversion would not run it.
//!
//! Before that point every hook here costs one atomic load.

use crate::decide::config::Mode;
use crate::decide::plan::FileAction;
use crate::execs::{later, table::CALLS};
use crate::facts::fs::open_fds;
use crate::ffi::state;
use crate::record::trace::Event;
use std::ffi::CStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;

static AFTER: AtomicBool = AtomicBool::new(false);
/// `exit` has started: the host's exit handlers run now.
static EXITING: AtomicBool = AtomicBool::new(false);
static ARCHIVER_PIDS: [AtomicI32; 8] = [const { AtomicI32::new(0) }; 8];
/// fds already reported as written to (0..1024), so a loop of writes is one event.
static WRITTEN: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

/// A regular file the host had open, and how much of it was written or
/// waiting in stdio buffers for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FdState {
    fd: i32,
    dev: u64,
    ino: u64,
    /// File size plus bytes buffered for this fd in stdio streams.
    written: i64,
}

/// When the archiver ended, and when exit started.
static AT_DONE: Mutex<Vec<FdState>> = Mutex::new(Vec::new());
static AT_EXIT: Mutex<Option<Vec<FdState>>> = Mutex::new(None);

/// glibc's `struct _IO_FILE` up to `_fileno` (<bits/types/struct_FILE.h>,
/// a public header, unchanged for decades).
#[repr(C)]
struct IoFile {
    flags: libc::c_int,
    read_ptr: *mut libc::c_char,
    read_end: *mut libc::c_char,
    read_base: *mut libc::c_char,
    write_base: *mut libc::c_char,
    write_ptr: *mut libc::c_char,
    write_end: *mut libc::c_char,
    buf_base: *mut libc::c_char,
    buf_end: *mut libc::c_char,
    save_base: *mut libc::c_char,
    backup_base: *mut libc::c_char,
    save_end: *mut libc::c_char,
    markers: *mut libc::c_void,
    chain: *mut IoFile,
    fileno: libc::c_int,
}

extern "C" {
    /// glibc's list of open streams (exported, GLIBC_2.2.5).
    static _IO_list_all: *mut IoFile;
}

/// Bytes waiting in stdio output buffers, per fd.
fn buffered() -> Vec<(i32, i64)> {
    let mut out = Vec::new();
    // SAFETY: walks glibc's stream list without its lock, reading two
    // pointers per stream: only in the observed process, at the archiver's
    // end and at exit, where a racing fopen/fclose is the host's own race.
    unsafe {
        let mut f = _IO_list_all;
        let mut guard = 0;
        while !f.is_null() && guard < 4096 {
            let (base, ptr) = ((*f).write_base, (*f).write_ptr);
            if !base.is_null() && ptr > base {
                out.push(((*f).fileno, ptr.offset_from(base) as i64));
            }
            f = (*f).chain;
            guard += 1;
        }
    }
    out
}

/// The regular files open now, with what was written to each so far.
fn fd_states() -> Vec<FdState> {
    let pending = buffered();
    open_fds()
        .into_iter()
        .filter_map(|fd| {
            let st = fstat(fd).filter(is_regular)?;
            let queued: i64 = pending
                .iter()
                .filter(|(f, _)| *f == fd)
                .map(|(_, n)| n)
                .sum();
            Some(FdState {
                fd,
                dev: st.st_dev,
                ino: st.st_ino,
                written: st.st_size + queued,
            })
        })
        .collect()
}

/// What the library would convert (observe mode, docs/DESIGN.md,
/// "Conversion" 10): the spawn (`child` 0) or the forked child at its wait
/// whose end starts the recording. The matching calls it would leave alone
/// are `fallback` events, as in exec mode; `verify` judges this one.
/// `output`: for a link, the file it writes.
pub struct WouldConvert<'a> {
    pub call: &'a str,
    pub program: &'a [u8],
    pub argv: &'a [Vec<u8>],
    pub child: i32,
    pub kind: &'static str,
    pub output: Option<Vec<u8>>,
}

impl WouldConvert<'_> {
    pub fn emit(&self, trace: Option<&[u8]>) {
        let mut e = Event::new("would_convert")
            .str("call", self.call)
            .str("program", self.program)
            .list("argv", self.argv.iter().map(|a| a.as_slice()))
            .int("child", self.child as i64)
            .str("kind", self.kind);
        if let Some(output) = &self.output {
            e = e.str("output", output);
        }
        e.emit(trace);
    }
}

/// A spawn-time archiver's pid, to recognise its wait.
pub fn note_archiver_pid(pid: i32) {
    for slot in &ARCHIVER_PIDS {
        if slot
            .compare_exchange(0, pid, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
    }
}

pub fn is_archiver_pid(pid: i32) -> bool {
    pid > 0
        && ARCHIVER_PIDS
            .iter()
            .any(|s| s.load(Ordering::Relaxed) == pid)
}

/// Recording, in the observed process itself (never in a forked child:
/// the events allocate).
/// The hooks' fast-path test: nothing to record yet in any process.
#[inline(always)]
pub fn quiet() -> bool {
    !AFTER.load(Ordering::Relaxed)
}

#[inline(always)]
pub fn recording() -> bool {
    AFTER.load(Ordering::Relaxed) && in_observed_process()
}

#[cold]
#[inline(never)]
fn in_observed_process() -> bool {
    state::scope_config().is_some()
}

fn trace_path() -> Option<&'static [u8]> {
    state::scope_config().and_then(|c| c.trace.as_deref())
}

fn fstat(fd: i32) -> Option<libc::stat> {
    // SAFETY: zeroed stat is a valid out-buffer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some(st)
    }
}

fn fd_path(fd: i32) -> Vec<u8> {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default()
}

fn is_regular(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// The host waited for its archiver: from now on, record.
pub fn archiver_done(child: i32, status: Option<i32>) {
    let Some(config) = state::scope_config() else {
        return;
    };
    if config.mode != Mode::Observe || AFTER.load(Ordering::Relaxed) {
        return;
    }
    // Descendants record their execs from now on.
    let execs_recorded = later::set_phase(later::phase::MAIN);
    Event::new("archiver_done")
        .int("child", child as i64)
        .wait_status(status)
        .bool("execs_recorded", execs_recorded)
        .emit(config.trace.as_deref());
    if let Ok(mut s) = AT_DONE.lock() {
        *s = fd_states();
    }
    record_open_for_writing(config.trace.as_deref());
    record_created(config.trace.as_deref());
    // Registered now, so it runs before the host's earlier handlers: it
    // marks where `exit` starts.
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(exit_starts) };
    mark_thread_exit();
    AFTER.store(true, Ordering::Release);
}

/// One `writing` event per regular file the host has open for writing now
/// (the archiver just ended): `verify` compares these files at the end of
/// both runs, since writes through stdio, by another thread, or after the
/// fd is closed escape every hook (docs/DESIGN.md, "verify: files the host
/// writes").
fn record_open_for_writing(trace: Option<&[u8]>) {
    for fd in open_fds() {
        // SAFETY: F_GETFL on an fd number only reads its flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || flags & libc::O_ACCMODE == libc::O_RDONLY {
            continue;
        }
        let Some(st) = fstat(fd).filter(is_regular) else {
            continue;
        };
        Event::new("writing")
            .str("at", "archiver_done")
            .int("fd", fd as i64)
            .str("path", fd_path(fd))
            .int("dev", st.st_dev as i64)
            .int("ino", st.st_ino as i64)
            .int("size", st.st_size)
            .bool("append", flags & libc::O_APPEND != 0)
            .emit(trace);
    }
}

/// One `created` event per file or directory the host created under its
/// temps globs and still has, as it was (dev, ino): `verify` tells the
/// host's own temporaries among the deletions that follow by them
/// (docs/DESIGN.md, "verify: temporaries taken over"). A record that is not
/// whole says so (`created_incomplete`): some creations are then unknown.
fn record_created(trace: Option<&[u8]>) {
    use crate::record::temps;
    if !temps::armed() {
        return;
    }
    let recorded = match temps::recorded() {
        Ok(recorded) => recorded,
        Err(why) => {
            return Event::new("created_incomplete")
                .str("reason", why)
                .emit(trace)
        }
    };
    for c in recorded.into_iter().filter_map(temps::fulfilled) {
        let Ok(path) = std::ffi::CString::new(c.path.as_slice()) else {
            continue;
        };
        // SAFETY: `path` is NUL-terminated.
        let now = unsafe { crate::facts::temps::lstat_at(libc::AT_FDCWD, path.as_ptr()) };
        if now != Ok(c.id) {
            continue;
        }
        Event::new("created")
            .str("path", &c.path)
            .int("dev", c.id.dev as i64)
            .int("ino", c.id.ino as i64)
            .str("kind", if c.id.is_dir() { "dir" } else { "file" })
            .emit(trace);
    }
}

/// One `writing` event per file an archiver spawn's file actions open for
/// writing (ar's output to a log, say): a conversion replays them after the
/// exit handlers ran, so `verify` compares these files too (docs/DESIGN.md,
/// "verify: files the host writes"). A relative path comes with the
/// directory it is relative to: the host's, or the one the actions `chdir` to.
pub fn file_action_writes(actions: &[FileAction], trace: Option<&[u8]>) {
    let mut dir: Option<std::path::PathBuf> = std::env::current_dir().ok();
    for action in actions {
        match action {
            FileAction::Chdir(p) => {
                let p = std::path::Path::new(std::ffi::OsStr::from_bytes(p));
                dir = dir.map(|d| d.join(p));
            }
            FileAction::Fchdir(fd) => dir = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok(),
            FileAction::Open {
                fd, path, oflag, ..
            } if writes(*oflag) => {
                let mut e = Event::new("writing")
                    .str("at", "spawn")
                    .int("fd", *fd as i64)
                    .str("path", path)
                    .bool("truncates", truncates(*oflag));
                if let (Some(d), false) = (&dir, path.first() == Some(&b'/')) {
                    e = e.str("cwd", d.as_os_str().as_bytes());
                }
                e.emit(trace);
            }
            _ => {}
        }
    }
}

extern "C" {
    /// glibc (GLIBC_2.18): what C++ `thread_local` destructors register
    /// with; `exit` runs the calling thread's before the atexit handlers,
    /// last registered first.
    fn __cxa_thread_atexit_impl(
        dtor: unsafe extern "C" fn(*mut libc::c_void),
        obj: *mut libc::c_void,
        dso: *mut libc::c_void,
    ) -> libc::c_int;
}

/// Anchors our `thread_local` destructor to this object (never unloaded).
static DSO_ANCHOR: u8 = 0;

/// `exit` runs this thread's `thread_local` destructors before any atexit
/// handler: one registered now, running before the host's earlier ones,
/// marks the start of `exit` there too (a conversion runs them as well,
/// `takeover/cleanup.rs`).
fn mark_thread_exit() {
    // SAFETY: registers a plain extern "C" function with a null object and
    // the address of a static of this object as its DSO.
    unsafe {
        __cxa_thread_atexit_impl(
            thread_exit_starts,
            std::ptr::null_mut(),
            std::ptr::addr_of!(DSO_ANCHOR) as *mut libc::c_void,
        )
    };
}

/// This thread's `thread_local` destructors run: when it is the main
/// thread, that is `exit` starting (a main thread calling `pthread_exit`
/// is taken for it too: then only the phase of later events is off).
unsafe extern "C" fn thread_exit_starts(_: *mut libc::c_void) {
    if crate::execs::futex::gettid() == libc::getpid() {
        exit_starts();
    }
}

extern "C" fn exit_starts() {
    if !AFTER.load(Ordering::Relaxed)
        || state::scope_config().is_none()
        || EXITING.load(Ordering::Acquire)
    {
        return;
    }
    if let Ok(mut s) = AT_EXIT.lock() {
        *s = Some(fd_states());
    }
    // Execs before this point were made by the main code.
    emit_later_execs(false);
    later::set_phase(later::phase::EXIT);
    EXITING.store(true, Ordering::Release);
    Event::new("exiting").emit(trace_path());
}

/// The execs the host's descendants made since the last look, as `after`
/// events (the host only: it allocates). `last`: the host is at its exit
/// or its own exec, so an exec still being written is counted as missed.
pub fn emit_later_execs(last: bool) {
    let Some(config) = state::scope_config() else {
        return;
    };
    if config.mode != Mode::Observe || !AFTER.load(Ordering::Relaxed) {
        return;
    }
    let Some(_guard) = state::Reentry::enter() else {
        return;
    };
    let drained = later::drain(last);
    for e in &drained.seen {
        let phase = if e.phase == later::phase::EXIT {
            "exit"
        } else {
            "main"
        };
        let call = CALLS.get(e.call as usize).copied().unwrap_or("exec");
        let mut detail = format!("{call} by pid {}", e.pid);
        if e.cut {
            detail.push_str(", arguments cut");
        }
        exec_event(phase, &e.program, &e.argv, &detail, e.pid, config)
            .bool("failed", e.failed)
            .emit(config.trace.as_deref());
    }
    if drained.missed > 0 {
        after_in(
            "main",
            "exec_missed",
            b"",
            &format!(
                "{} exec(s) after the archiver were not recorded (the record holds {} \
                 between two looks)",
                drained.missed,
                later::ENTRIES
            ),
        );
    }
}

/// One exec after the archiver as an `after` event with its arguments, and
/// whether its program is an archiver (`ARSHIM_TOOLS`).
fn exec_event(
    phase: &str,
    program: &[u8],
    argv: &[Vec<u8>],
    detail: &str,
    pid: i32,
    config: &crate::decide::config::Config,
) -> Event {
    let name = arshim_common::gate::basename(program);
    after_event(phase, "exec", program, detail)
        .int("by", pid as i64)
        .list("argv", argv.iter().map(Vec::as_slice))
        .bool("archiver", config.tools.matches(name))
}

/// The host itself is about to exec `program` after the archiver: what its
/// descendants exec'd first, then this exec. Its exit handlers never run.
pub fn exec_self(call: &str, program: &[u8], argv: &[Vec<u8>]) {
    emit_later_execs(true);
    let Some(config) = state::scope_config() else {
        return;
    };
    let Some(_guard) = state::Reentry::enter() else {
        return;
    };
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    exec_event(
        phase(),
        program,
        argv,
        &format!("{call} in the host's own pid"),
        me,
        config,
    )
    .emit(config.trace.as_deref());
}

/// The host registered an `on_exit` handler: `exit` runs it, a conversion
/// does not (`__cxa_finalize` runs only `atexit`-style handlers). Said once.
pub fn on_exit_registered() {
    static SAID: AtomicBool = AtomicBool::new(false);
    let Some(config) = state::scope_config() else {
        return;
    };
    if config.mode != Mode::Observe || SAID.swap(true, Ordering::Relaxed) {
        return;
    }
    if let Some(_guard) = state::Reentry::enter() {
        Event::new("on_exit").emit(config.trace.as_deref());
    }
}

/// One `after` event. Nothing when re-entered: our own writes (log, trace)
/// are not the host's.
pub fn after(what: &str, path: &[u8], detail: &str) {
    let Some(_guard) = state::Reentry::enter() else {
        return;
    };
    after_in(phase(), what, path, detail);
}

/// Where the host is: its main code, or its exit handlers.
fn phase() -> &'static str {
    if EXITING.load(Ordering::Relaxed) {
        "exit"
    } else {
        "main"
    }
}

/// An open for writing after the archiver ended: an `after` event that also
/// says whether the open truncates or creates the file (its content then
/// does not depend on what was there before) and, for a relative path, the
/// working directory it is relative to (`verify` finds the file by them).
pub fn after_open(path: &[u8], call: &str, truncates: bool) {
    let Some(_guard) = state::Reentry::enter() else {
        return;
    };
    let mut e = after_event(phase(), "open", path, call).bool("truncates", truncates);
    if path.first() != Some(&b'/') {
        if let Ok(cwd) = std::env::current_dir() {
            e = e.str("cwd", cwd.into_os_string().into_encoded_bytes());
        }
    }
    e.emit(trace_path());
}

/// A deletion after the archiver ended: an `after` event that also says,
/// when it can, the path made absolute (against `dirfd` or the working
/// directory) and what it names now (`dev`, `ino`; a symlink not
/// followed): `verify` tells the host's own temporaries by them
/// (docs/DESIGN.md, "verify: temporaries taken over").
pub fn after_delete(dirfd: i32, path: &CStr, rmdir: bool) {
    let Some(_guard) = state::Reentry::enter() else {
        return;
    };
    let name = path.to_bytes();
    let detail = if rmdir { "rmdir" } else { "unlink" };
    let mut e = after_event(phase(), "delete", name, detail);
    if let Some(abs) = absolute(dirfd, name) {
        e = e.str("abs", abs);
    }
    if let Some((dev, ino)) = crate::facts::fs::identity_at(dirfd, path) {
        e = e.int("dev", dev as i64).int("ino", ino as i64);
    }
    e.emit(trace_path());
}

/// `name` relative to `dirfd` (or the working directory), `.` and `//`
/// dropped; `None` when the base cannot be read.
fn absolute(dirfd: i32, name: &[u8]) -> Option<Vec<u8>> {
    use std::path::{Component, Path, PathBuf};
    let name = Path::new(std::ffi::OsStr::from_bytes(name));
    let joined = if name.is_absolute() {
        name.to_path_buf()
    } else if dirfd == libc::AT_FDCWD {
        std::env::current_dir().ok()?.join(name)
    } else {
        std::fs::read_link(format!("/proc/self/fd/{dirfd}"))
            .ok()?
            .join(name)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Some(out.into_os_string().into_encoded_bytes())
}

fn after_in(phase: &str, what: &str, path: &[u8], detail: &str) {
    after_event(phase, what, path, detail).emit(trace_path());
}

/// An `after` event's common fields (`detail` left out when empty).
fn after_event(phase: &str, what: &str, path: &[u8], detail: &str) -> Event {
    let e = Event::new("after")
        .str("what", what)
        .str("path", path)
        .str("phase", phase);
    if detail.is_empty() {
        e
    } else {
        e.str("detail", detail)
    }
}

/// A write(2)-family call on `fd`: reported once per fd, for regular files
/// and for stdout/stderr whatever they are.
pub fn wrote(fd: i32, call: &str) {
    if state::Reentry::is_inside() {
        return;
    }
    if (0..1024).contains(&fd) {
        let bit = 1u64 << (fd % 64);
        if WRITTEN[(fd / 64) as usize].fetch_or(bit, Ordering::Relaxed) & bit != 0 {
            return;
        }
    }
    let Some(st) = fstat(fd) else { return };
    if fd == 1 || fd == 2 || is_regular(&st) {
        after("write", &fd_path(fd), &format!("{call} on fd {fd}"));
    }
}

/// At the very end of exit (our handler, registered first, runs last):
/// flush stdio (exit would, right after us), then compare each file open
/// when the archiver ended: what grew before `exit` started was written
/// after the archiver; what grew since, by the exit handlers.
pub fn at_exit() {
    if !AFTER.load(Ordering::Relaxed) {
        return;
    }
    emit_later_execs(true);
    // SAFETY: fflush(NULL) flushes all output streams.
    unsafe { libc::fflush(std::ptr::null_mut()) };
    let done = AT_DONE.lock().map(|s| s.clone()).unwrap_or_default();
    let exiting = AT_EXIT.lock().ok().and_then(|s| s.clone());
    let now = fd_states();
    let same = |list: &[FdState], d: &FdState| {
        list.iter()
            .find(|s| s.fd == d.fd && s.dev == d.dev && s.ino == d.ino)
            .map(|s| s.written)
    };
    for d in &done {
        let Some(end) = same(&now, d) else { continue };
        // Without an `exiting` mark (exit via _exit, or exit called before our
        // handler got registered), everything counts as before exit.
        let before_exit = exiting.as_deref().and_then(|e| same(e, d)).unwrap_or(end);
        let path = fd_path(d.fd);
        if before_exit > d.written {
            after_in(
                "main",
                "write",
                &path,
                &format!(
                    "fd {} grew by {} bytes after the archiver ended",
                    d.fd,
                    before_exit - d.written
                ),
            );
        }
        if end > before_exit {
            after_in(
                "exit",
                "write",
                &path,
                &format!(
                    "fd {} grew by {} bytes in the exit handlers",
                    d.fd,
                    end - before_exit
                ),
            );
        }
    }
}

/// open/creat flags that write or create.
pub fn writes(flags: i32) -> bool {
    let acc = flags & libc::O_ACCMODE;
    acc == libc::O_WRONLY || acc == libc::O_RDWR || flags & (libc::O_CREAT | libc::O_TRUNC) != 0
}

/// open flags whose open leaves nothing of the file's earlier content.
pub fn truncates(flags: i32) -> bool {
    flags & (libc::O_TRUNC | libc::O_EXCL) != 0
}

/// fopen modes that truncate ("w") or create exclusively ("x").
pub fn mode_truncates(mode: &[u8]) -> bool {
    mode.iter().any(|&c| matches!(c, b'w' | b'x'))
}

/// fopen modes that write or create.
pub fn mode_writes(mode: &[u8]) -> bool {
    mode.iter().any(|&c| matches!(c, b'w' | b'a' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_flags() {
        assert!(!writes(libc::O_RDONLY | libc::O_CLOEXEC));
        assert!(writes(libc::O_WRONLY));
        assert!(writes(libc::O_RDWR));
        assert!(writes(libc::O_RDONLY | libc::O_CREAT));
        assert!(mode_writes(b"w"));
        assert!(mode_writes(b"r+"));
        assert!(mode_writes(b"ab"));
        assert!(!mode_writes(b"rb"));
        assert!(!mode_writes(b"re"));
        assert!(truncates(libc::O_WRONLY | libc::O_TRUNC));
        assert!(!truncates(libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT));
        assert!(mode_truncates(b"wb") && !mode_truncates(b"a+"));
    }

    #[test]
    fn archiver_pids() {
        note_archiver_pid(4242);
        assert!(is_archiver_pid(4242));
        assert!(!is_archiver_pid(4243));
        assert!(!is_archiver_pid(0));
    }
}
