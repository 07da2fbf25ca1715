//! Can a spawn's file actions and attributes be replayed in this process, and
//! how? Pure: the real process is asked through `Facts`.
//!
//! glibc's child (sysdeps/unix/sysv/linux/spawni.c) does, in order: signal
//! dispositions, scheduling, setsid, setpgid, reset ids, the file actions in
//! order, the signal mask, then exec. The plan keeps that order. Everything is
//! checked against the real process (through `Facts`) BEFORE any cleanup runs:
//! an action that would fail in the child makes us fall back to the real call,
//! which then reports the failure to the host as it always did.

use std::collections::BTreeMap;

/// One recorded `posix_spawn_file_actions_add*` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    Close(i32),
    Dup2 {
        fd: i32,
        newfd: i32,
    },
    Open {
        fd: i32,
        path: Vec<u8>,
        oflag: i32,
        mode: u32,
    },
    Chdir(Vec<u8>),
    Fchdir(i32),
    Closefrom(i32),
    /// An action we mirror only to know it is there (e.g. `addtcsetpgrp_np`).
    Unsupported(&'static str),
}

// posix_spawnattr flags (glibc <spawn.h>).
pub const RESETIDS: i16 = 0x01;
pub const SETPGROUP: i16 = 0x02;
pub const SETSIGDEF: i16 = 0x04;
pub const SETSIGMASK: i16 = 0x08;
pub const SETSCHEDPARAM: i16 = 0x10;
pub const SETSCHEDULER: i16 = 0x20;
pub const USEVFORK: i16 = 0x40;
pub const SETSID: i16 = 0x80;
const KNOWN_FLAGS: i16 = RESETIDS
    | SETPGROUP
    | SETSIGDEF
    | SETSIGMASK
    | SETSCHEDPARAM
    | SETSCHEDULER
    | USEVFORK
    | SETSID;

/// The spawn attributes that matter, read with the public getters.
/// Signal sets are bit masks: bit `n-1` is signal `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attrs {
    pub flags: i16,
    pub pgroup: i32,
    pub sigdefault: u64,
    pub sigmask: u64,
}

/// One thing to do in this process before `execve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    SetSid,
    SetPgid(i32),
    ResetIds,
    Close(i32),
    Dup2 {
        fd: i32,
        newfd: i32,
    },
    /// `adddup2(fd, fd)`: glibc clears FD_CLOEXEC so the fd survives exec.
    KeepOpen(i32),
    Open {
        fd: i32,
        path: Vec<u8>,
        oflag: i32,
        mode: u32,
    },
    /// `/dev/null` instead of a pipe nobody will feed any more.
    DevNull(i32),
    Chdir(Vec<u8>),
    Fchdir(i32),
    Closefrom(i32),
    SigDefault(u64),
    SigMask(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The last absolute `chdir` target, if the working directory changes to a known place.
    pub dir: Option<Vec<u8>>,
    pub steps: Vec<Step>,
    /// The working directory changes before exec: a relative program path
    /// would then be looked up somewhere else.
    pub changes_cwd: bool,
    /// Redirections we deliberately did not replay (for the trace).
    pub notes: Vec<String>,
    /// The fds (1, 2) whose capture pipe is not replayed ("Conversion" 5):
    /// the host meant to read what the program writes there.
    pub captured: Vec<i32>,
}

/// A pipe end as seen through an fd of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeEnd {
    pub id: (u64, u64),
    pub readable: bool,
    pub writable: bool,
}

/// What the plan needs to know about the real process.
pub trait Facts {
    fn fd_open(&self, fd: i32) -> bool;
    fn pipe(&self, fd: i32) -> Option<PipeEnd>;
    /// Does this process hold an end of pipe `id` (device, inode) open for reading (or writing)?
    fn holds_pipe_end(&self, id: (u64, u64), reading: bool) -> bool;
    fn is_session_leader(&self) -> bool;
    fn is_group_leader(&self) -> bool;
    fn pgrp(&self) -> i32;
    /// Would `open(path, oflag)` succeed? `Err` says why not.
    fn can_open(&self, path: &[u8], oflag: i32) -> Result<(), &'static str>;
}

/// The fd table of the would-be child, simulated over the real one.
struct FdTable<'a, F: Facts> {
    facts: &'a F,
    changed: BTreeMap<i32, bool>,
    closed_from: Option<i32>,
}

impl<F: Facts> FdTable<'_, F> {
    fn is_open(&self, fd: i32) -> bool {
        if let Some(&open) = self.changed.get(&fd) {
            return open;
        }
        if matches!(self.closed_from, Some(low) if fd >= low) {
            return false;
        }
        fd >= 0 && self.facts.fd_open(fd)
    }
    fn set(&mut self, fd: i32, open: bool) {
        self.changed.insert(fd, open);
    }
    fn close_from(&mut self, low: i32) {
        self.changed.retain(|&fd, _| fd < low);
        self.closed_from = Some(self.closed_from.map_or(low, |l| l.min(low)));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Cwd {
    Same,
    Dir(Vec<u8>),
    Unknown,
}

fn join(cwd: &Cwd, path: &[u8]) -> Option<Vec<u8>> {
    if path.first() == Some(&b'/') {
        return Some(path.to_vec());
    }
    match cwd {
        Cwd::Same => Some(path.to_vec()),
        Cwd::Dir(dir) => {
            let mut p = dir.clone();
            p.push(b'/');
            p.extend_from_slice(path);
            Some(p)
        }
        Cwd::Unknown => None,
    }
}

impl Plan {
    /// Where the archiver will run, if the plan moves it somewhere known.
    pub fn final_dir(&self) -> Option<&[u8]> {
        self.dir.as_deref()
    }
}

/// The plan for a spawn's attributes and file actions, in glibc's order, or
/// why they cannot be replayed exactly.
pub fn plan(
    actions: &[FileAction],
    attrs: Option<&Attrs>,
    facts: &impl Facts,
) -> Result<Plan, String> {
    let a = attrs.copied().unwrap_or_default();
    let mut planner = Planner {
        facts,
        fds: FdTable {
            facts,
            changed: BTreeMap::new(),
            closed_from: None,
        },
        cwd: Cwd::Same,
        out: Plan::default(),
    };
    planner.attributes(&a)?;
    for action in actions {
        planner.file_action(action)?;
    }
    if a.flags & SETSIGMASK != 0 {
        planner.out.steps.push(Step::SigMask(a.sigmask));
    }
    Ok(planner.out)
}

/// The would-be child followed step by step: its fds, its working directory,
/// and the plan so far.
struct Planner<'a, F: Facts> {
    facts: &'a F,
    fds: FdTable<'a, F>,
    cwd: Cwd,
    out: Plan,
}

impl<F: Facts> Planner<'_, F> {
    /// Everything glibc does before the file actions: signal dispositions,
    /// (scheduling: refused), session, process group, ids.
    fn attributes(&mut self, a: &Attrs) -> Result<(), String> {
        if a.flags & !KNOWN_FLAGS != 0 {
            return Err(format!(
                "unknown spawn attribute flags {:#x}",
                a.flags & !KNOWN_FLAGS
            ));
        }
        if a.flags & (SETSCHEDPARAM | SETSCHEDULER) != 0 {
            return Err("scheduling attributes are not replayed".into());
        }
        if a.flags & SETSIGDEF != 0 && a.sigdefault != 0 {
            self.out.steps.push(Step::SigDefault(a.sigdefault));
        }
        self.session_and_group(a)?;
        if a.flags & RESETIDS != 0 {
            self.out.steps.push(Step::ResetIds);
        }
        Ok(())
    }

    fn session_and_group(&mut self, a: &Attrs) -> Result<(), String> {
        if a.flags & SETSID != 0 {
            // The real child is never a group leader; we may be, and then setsid fails.
            if self.facts.is_group_leader() {
                return Err(
                    "POSIX_SPAWN_SETSID: this process leads its process group, setsid would fail"
                        .into(),
                );
            }
            self.out.steps.push(Step::SetSid);
        }
        if a.flags & SETPGROUP != 0 {
            if a.pgroup == 0 {
                if self.facts.is_session_leader() && a.flags & SETSID == 0 {
                    return Err("POSIX_SPAWN_SETPGROUP: this process leads its session".into());
                }
                self.out.steps.push(Step::SetPgid(0));
            } else if a.pgroup != self.facts.pgrp() {
                return Err(format!(
                    "POSIX_SPAWN_SETPGROUP into another group ({})",
                    a.pgroup
                ));
            }
        }
        Ok(())
    }

    fn file_action(&mut self, action: &FileAction) -> Result<(), String> {
        match action {
            FileAction::Close(fd) => self.close(*fd),
            FileAction::Dup2 { fd, newfd } => self.dup2(*fd, *newfd),
            FileAction::Open {
                fd,
                path,
                oflag,
                mode,
            } => self.open(*fd, path, *oflag, *mode),
            FileAction::Chdir(path) => {
                self.chdir(path);
                Ok(())
            }
            FileAction::Fchdir(fd) => self.fchdir(*fd),
            FileAction::Closefrom(low) => self.close_from(*low),
            FileAction::Unsupported(what) => Err(format!("file action {what} is not replayed")),
        }
    }

    fn close(&mut self, fd: i32) -> Result<(), String> {
        // glibc ignores close() failing on a valid but closed fd.
        if fd < 0 {
            return Err(format!("close of invalid fd {fd}"));
        }
        self.fds.set(fd, false);
        self.out.steps.push(Step::Close(fd));
        Ok(())
    }

    fn dup2(&mut self, fd: i32, newfd: i32) -> Result<(), String> {
        if !self.fds.is_open(fd) {
            return Err(format!(
                "dup2 from fd {fd}, which is not open: the spawn would fail"
            ));
        }
        if newfd < 0 {
            return Err(format!("dup2 onto invalid fd {newfd}"));
        }
        if self.host_pipe(fd, newfd) {
            return Ok(());
        }
        if fd == newfd {
            self.out.steps.push(Step::KeepOpen(fd));
        } else {
            self.fds.set(newfd, true);
            self.out.steps.push(Step::Dup2 { fd, newfd });
        }
        Ok(())
    }

    /// A pipe between the host and the child (docs/DESIGN.md, "Conversion"
    /// 5): output the host meant to read goes to its own stdout/stderr, input
    /// it meant to feed becomes /dev/null. Whether `dup2(fd, newfd)` was one.
    fn host_pipe(&mut self, fd: i32, newfd: i32) -> bool {
        if self.fds.changed.contains_key(&fd) {
            return false;
        }
        match self.facts.pipe(fd) {
            Some(p)
                if (newfd == 1 || newfd == 2)
                    && p.writable
                    && self.facts.holds_pipe_end(p.id, true) =>
            {
                // Capture: the caller meant to read it. Nobody will once we
                // exec, so the archiver writes to our own stdout/stderr.
                self.out.notes.push(format!("fd {newfd}: capture pipe not replayed, archiver writes to the host's own fd {newfd}"));
                self.out.captured.push(newfd);
                true
            }
            Some(p) if newfd == 0 && p.readable && self.facts.holds_pipe_end(p.id, false) => {
                self.out
                    .notes
                    .push("fd 0: pipe fed by the host replaced by /dev/null".into());
                self.fds.set(0, true);
                self.out.steps.push(Step::DevNull(0));
                true
            }
            _ => false,
        }
    }

    fn open(&mut self, fd: i32, path: &[u8], oflag: i32, mode: u32) -> Result<(), String> {
        if fd < 0 {
            return Err(format!("open onto invalid fd {fd}"));
        }
        let Some(full) = join(&self.cwd, path) else {
            return Err("relative open after fchdir cannot be checked".into());
        };
        self.facts.can_open(&full, oflag).map_err(|why| {
            format!(
                "open of {} would fail: {why}",
                String::from_utf8_lossy(path)
            )
        })?;
        self.fds.set(fd, true);
        self.out.steps.push(Step::Open {
            fd,
            path: path.to_vec(),
            oflag,
            mode,
        });
        Ok(())
    }

    fn chdir(&mut self, path: &[u8]) {
        self.cwd = match join(&self.cwd, path) {
            Some(p) if p.first() == Some(&b'/') => Cwd::Dir(p),
            _ => Cwd::Unknown,
        };
        self.out.dir = match &self.cwd {
            Cwd::Dir(d) => Some(d.clone()),
            _ => None,
        };
        self.out.changes_cwd = true;
        self.out.steps.push(Step::Chdir(path.to_vec()));
    }

    fn fchdir(&mut self, fd: i32) -> Result<(), String> {
        if !self.fds.is_open(fd) {
            return Err(format!("fchdir to fd {fd}, which is not open"));
        }
        self.cwd = Cwd::Unknown;
        self.out.dir = None;
        self.out.changes_cwd = true;
        self.out.steps.push(Step::Fchdir(fd));
        Ok(())
    }

    fn close_from(&mut self, low: i32) -> Result<(), String> {
        if low < 0 {
            return Err(format!("closefrom of invalid fd {low}"));
        }
        self.fds.close_from(low);
        self.out.steps.push(Step::Closefrom(low));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[derive(Default)]
    struct Fake {
        open: HashSet<i32>,
        pipes: HashMap<i32, PipeEnd>,
        group_leader: bool,
        session_leader: bool,
        unopenable: Vec<&'static str>,
    }
    impl Facts for Fake {
        fn fd_open(&self, fd: i32) -> bool {
            self.open.contains(&fd)
        }
        fn pipe(&self, fd: i32) -> Option<PipeEnd> {
            self.pipes.get(&fd).copied()
        }
        fn holds_pipe_end(&self, id: (u64, u64), reading: bool) -> bool {
            self.pipes
                .values()
                .any(|p| p.id == id && if reading { p.readable } else { p.writable })
        }
        fn is_session_leader(&self) -> bool {
            self.session_leader
        }
        fn is_group_leader(&self) -> bool {
            self.group_leader
        }
        fn pgrp(&self) -> i32 {
            100
        }
        fn can_open(&self, path: &[u8], _: i32) -> Result<(), &'static str> {
            if self.unopenable.iter().any(|p| p.as_bytes() == path) {
                Err("permission denied")
            } else {
                Ok(())
            }
        }
    }
    fn std_fds() -> Fake {
        Fake {
            open: [0, 1, 2].into_iter().collect(),
            ..Default::default()
        }
    }
    fn with_pipe(mut f: Fake, r: i32, w: i32, inode: u64) -> Fake {
        f.open.extend([r, w]);
        f.pipes.insert(
            r,
            PipeEnd {
                id: (1, inode),
                readable: true,
                writable: false,
            },
        );
        f.pipes.insert(
            w,
            PipeEnd {
                id: (1, inode),
                readable: false,
                writable: true,
            },
        );
        f
    }

    #[test]
    fn empty_plan() {
        let p = plan(&[], None, &std_fds()).unwrap();
        assert!(p.steps.is_empty() && !p.changes_cwd);
    }

    #[test]
    fn file_redirection_is_replayed_in_order() {
        let actions = vec![
            FileAction::Open {
                fd: 1,
                path: b"out.log".to_vec(),
                oflag: libc::O_WRONLY | libc::O_CREAT,
                mode: 0o644,
            },
            FileAction::Dup2 { fd: 1, newfd: 2 },
            FileAction::Close(7),
        ];
        let p = plan(&actions, None, &std_fds()).unwrap();
        assert_eq!(
            p.steps,
            vec![
                Step::Open {
                    fd: 1,
                    path: b"out.log".to_vec(),
                    oflag: libc::O_WRONLY | libc::O_CREAT,
                    mode: 0o644
                },
                Step::Dup2 { fd: 1, newfd: 2 },
                Step::Close(7)
            ]
        );
    }

    #[test]
    fn capture_pipe_is_skipped() {
        let f = with_pipe(std_fds(), 5, 6, 77);
        let actions = vec![
            FileAction::Dup2 { fd: 6, newfd: 1 },
            FileAction::Dup2 { fd: 6, newfd: 2 },
            FileAction::Close(5),
            FileAction::Close(6),
        ];
        let p = plan(&actions, None, &f).unwrap();
        assert_eq!(p.steps, vec![Step::Close(5), Step::Close(6)]);
        assert_eq!(p.notes.len(), 2);
        assert_eq!(p.captured, vec![1, 2]);
    }

    #[test]
    fn pipe_whose_reader_is_gone_is_replayed() {
        // write end only: the read end belongs to someone else (e.g. a `tee`)
        let mut f = std_fds();
        f.open.insert(6);
        f.pipes.insert(
            6,
            PipeEnd {
                id: (1, 9),
                readable: false,
                writable: true,
            },
        );
        let p = plan(&[FileAction::Dup2 { fd: 6, newfd: 1 }], None, &f).unwrap();
        assert_eq!(p.steps, vec![Step::Dup2 { fd: 6, newfd: 1 }]);
    }

    #[test]
    fn stdin_pipe_fed_by_host_becomes_dev_null() {
        let f = with_pipe(std_fds(), 5, 6, 77);
        let p = plan(
            &[FileAction::Dup2 { fd: 5, newfd: 0 }, FileAction::Close(6)],
            None,
            &f,
        )
        .unwrap();
        assert_eq!(p.steps, vec![Step::DevNull(0), Step::Close(6)]);
    }

    #[test]
    fn dup2_of_closed_fd_falls_back() {
        assert!(plan(&[FileAction::Dup2 { fd: 9, newfd: 1 }], None, &std_fds()).is_err());
        // closed by an earlier action
        let actions = [FileAction::Close(1), FileAction::Dup2 { fd: 1, newfd: 2 }];
        assert!(plan(&actions, None, &std_fds()).is_err());
        let actions = [
            FileAction::Closefrom(0),
            FileAction::Dup2 { fd: 2, newfd: 1 },
        ];
        assert!(plan(&actions, None, &std_fds()).is_err());
        // opened by an earlier action
        let actions = [
            FileAction::Open {
                fd: 9,
                path: b"/dev/null".to_vec(),
                oflag: libc::O_RDONLY,
                mode: 0,
            },
            FileAction::Dup2 { fd: 9, newfd: 0 },
        ];
        assert!(plan(&actions, None, &std_fds()).is_ok());
    }

    #[test]
    fn dup2_onto_itself_keeps_fd_open_across_exec() {
        let p = plan(&[FileAction::Dup2 { fd: 2, newfd: 2 }], None, &std_fds()).unwrap();
        assert_eq!(p.steps, vec![Step::KeepOpen(2)]);
    }

    #[test]
    fn failing_open_falls_back() {
        let mut f = std_fds();
        f.unopenable.push("/root/secret");
        let a = [FileAction::Open {
            fd: 0,
            path: b"/root/secret".to_vec(),
            oflag: 0,
            mode: 0,
        }];
        let err = plan(&a, None, &f).unwrap_err();
        assert!(err.contains("/root/secret"), "{err}");
    }

    #[test]
    fn chdir_is_tracked_for_relative_opens() {
        let mut f = std_fds();
        f.unopenable.push("/work/in.txt");
        let a = [
            FileAction::Chdir(b"/work".to_vec()),
            FileAction::Open {
                fd: 0,
                path: b"in.txt".to_vec(),
                oflag: 0,
                mode: 0,
            },
        ];
        assert!(plan(&a, None, &f).is_err(), "checked as /work/in.txt");
        let a = [
            FileAction::Fchdir(2),
            FileAction::Open {
                fd: 0,
                path: b"in.txt".to_vec(),
                oflag: 0,
                mode: 0,
            },
        ];
        assert!(plan(&a, None, &std_fds()).is_err(), "unknown directory");
        let p = plan(&[FileAction::Chdir(b"/tmp".to_vec())], None, &std_fds()).unwrap();
        assert!(p.changes_cwd);
    }

    #[test]
    fn unsupported_actions_fall_back() {
        assert!(plan(
            &[FileAction::Unsupported("addtcsetpgrp_np")],
            None,
            &std_fds()
        )
        .is_err());
    }

    #[test]
    fn attributes_in_glibc_order() {
        let a = Attrs {
            flags: SETSIGMASK | SETSIGDEF | RESETIDS | SETPGROUP | USEVFORK,
            pgroup: 0,
            sigdefault: 0b110,
            sigmask: 0b1,
        };
        let p = plan(&[FileAction::Close(5)], Some(&a), &std_fds()).unwrap();
        assert_eq!(
            p.steps,
            vec![
                Step::SigDefault(0b110),
                Step::SetPgid(0),
                Step::ResetIds,
                Step::Close(5),
                Step::SigMask(0b1)
            ]
        );
    }

    #[test]
    fn attributes_that_cannot_be_replayed() {
        let sched = Attrs {
            flags: SETSCHEDULER,
            ..Default::default()
        };
        assert!(plan(&[], Some(&sched), &std_fds()).is_err());
        let unknown = Attrs {
            flags: 0x100,
            ..Default::default()
        };
        assert!(plan(&[], Some(&unknown), &std_fds()).is_err());
        let setsid = Attrs {
            flags: SETSID,
            ..Default::default()
        };
        let leader = Fake {
            group_leader: true,
            ..std_fds()
        };
        assert!(plan(&[], Some(&setsid), &leader).is_err());
        assert_eq!(
            plan(&[], Some(&setsid), &std_fds()).unwrap().steps,
            vec![Step::SetSid]
        );
        let other_group = Attrs {
            flags: SETPGROUP,
            pgroup: 555,
            ..Default::default()
        };
        assert!(plan(&[], Some(&other_group), &std_fds()).is_err());
        let same_group = Attrs {
            flags: SETPGROUP,
            pgroup: 100,
            ..Default::default()
        };
        assert!(plan(&[], Some(&same_group), &std_fds())
            .unwrap()
            .steps
            .is_empty());
        let session = Fake {
            session_leader: true,
            ..std_fds()
        };
        let new_group = Attrs {
            flags: SETPGROUP,
            pgroup: 0,
            ..Default::default()
        };
        assert!(plan(&[], Some(&new_group), &session).is_err());
    }
}
