//! The memory of a command's whole process tree over time, sampled from /proc.
//!
//! `Sampler::run` spawns a command, samples its process tree at a fixed rate
//! from a thread while it runs, and returns the timeline with the figures that
//! matter for arshim: the peak, and the most the tree held while the archiver
//! ran.
//!
//! Why sample: Linux keeps a process's `ru_maxrss` across `execve`, so a host
//! converted into the archiver still reports the host's peak through `wait4`
//! or `/usr/bin/time -v`. Only the resident memory over time (or a cgroup's
//! `memory.peak`, which `Sampler` also reads where cgroup v2 allows) shows
//! that the memory was released.
//!
//! Tree RSS = the sum of the resident set size (VmRSS, read from
//! /proc/PID/statm) of the command and all its descendants, found through the
//! parent pids in /proc/PID/stat. Pages
//! shared between processes (copy-on-write after `fork`, shared libraries)
//! count once per process; a process that shares its parent's address space
//! (a `vfork`/`posix_spawn` child before its exec) counts once.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nix::time::{clock_gettime, ClockId};

pub use self::glob::Tools;

/// One observation of the tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the command was spawned.
    pub t: f64,
    /// Sum of the tree's resident memory, KiB.
    pub rss_kib: u64,
    /// A process of the tree was the archiver.
    pub archiver: bool,
}

/// What `Sampler::run` measured.
#[derive(Debug, Clone)]
pub struct Sampled {
    pub status: ExitStatus,
    /// From the spawn to the command's exit.
    pub wall: Duration,
    pub timeline: Vec<Sample>,
    pub peak_kib: u64,
    /// Seconds since the spawn: when the archiver was first seen, and when it
    /// was first seen gone after its last sighting (or the command's exit).
    pub archiver: Option<(f64, f64)>,
    /// The most the tree held while the archiver ran; `None` if it was never seen.
    pub held_during_archiver_kib: Option<u64>,
    /// `memory.peak` of the run's own cgroup, if the sampler uses one.
    pub cgroup_peak_kib: Option<u64>,
}

/// The figures derived from a timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub peak_kib: u64,
    pub archiver: Option<(f64, f64)>,
    pub held_during_archiver_kib: Option<u64>,
}

/// Peak, archiver span and memory held during it; `end` is the command's exit time.
pub fn summarize(timeline: &[Sample], end: f64) -> Summary {
    let peak_kib = timeline.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let first = timeline.iter().position(|s| s.archiver);
    let last = timeline.iter().rposition(|s| s.archiver);
    let (archiver, held) = match (first, last) {
        (Some(first), Some(last)) => {
            // Its end is unknown between the last sighting and the next sample.
            let gone = timeline.get(last + 1).map_or(end, |s| s.t);
            let held = timeline
                .iter()
                .filter(|s| s.archiver)
                .map(|s| s.rss_kib)
                .max();
            (Some((timeline[first].t, gone.max(timeline[last].t))), held)
        }
        _ => (None, None),
    };
    Summary {
        peak_kib,
        archiver,
        held_during_archiver_kib: held,
    }
}

/// Spawns commands and samples their process trees.
#[derive(Debug)]
pub struct Sampler {
    period: Duration,
    tools: Tools,
    cgroup: Option<cgroup::Parent>,
}

impl Sampler {
    /// Samples `hz` times a second (at most: a sampler never takes more than
    /// half a CPU, so a huge tree is sampled less often); `tools` says which
    /// processes are the archiver.
    pub fn new(hz: u32, tools: Tools) -> Sampler {
        Sampler {
            period: Duration::from_secs(1) / hz.max(1),
            tools,
            cgroup: None,
        }
    }

    /// Also run each command in its own cgroup v2 and read its `memory.peak`.
    /// On failure the sampler works without, and the error says why.
    pub fn use_cgroup(&mut self) -> Result<(), String> {
        self.cgroup = Some(cgroup::Parent::find()?);
        Ok(())
    }

    /// Spawns `cmd` (its stdio as configured by the caller), samples its tree
    /// until it exits, and reaps it.
    pub fn run(&self, mut cmd: Command) -> io::Result<Sampled> {
        let run_cgroup = match &self.cgroup {
            Some(parent) => Some(parent.new_child()?),
            None => None,
        };
        if let Some(cg) = &run_cgroup {
            let fd = cg.procs_fd();
            // SAFETY: the closure runs in the forked child before exec and only
            // calls write(2), which is async-signal-safe; `fd` stays open in the
            // parent until the spawn returned (`run_cgroup` outlives it).
            unsafe {
                cmd.pre_exec(move || cgroup::join(fd));
            }
        }
        // Learn the machine's processes first, so the first sample is not late.
        let watcher = tree::Watcher::new();
        let start = Instant::now();
        let mut child = cmd.spawn()?;
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (stop, tools, period) = (stop.clone(), self.tools.clone(), self.period);
            let root = child.id();
            thread::spawn(move || sample_tree(watcher, root, start, period, &tools, &stop))
        };
        let exited = wait_exited(&child);
        let wall = start.elapsed();
        stop.store(true, Ordering::Release);
        sampler.thread().unpark();
        let timeline = sampler.join().unwrap_or_default();
        let status = child.wait()?;
        exited?;
        let summary = summarize(&timeline, wall.as_secs_f64());
        Ok(Sampled {
            status,
            wall,
            timeline,
            peak_kib: summary.peak_kib,
            archiver: summary.archiver,
            held_during_archiver_kib: summary.held_during_archiver_kib,
            cgroup_peak_kib: run_cgroup.and_then(|cg| cg.peak_kib()),
        })
    }
}

/// One-call form of `Sampler::new(hz, tools).run(cmd)`, for callers that
/// need no cgroup (`arshim verify`).
#[allow(dead_code)]
pub fn run_sampled(cmd: Command, hz: u32, tools: &Tools) -> io::Result<Sampled> {
    Sampler::new(hz, tools.clone()).run(cmd)
}

/// Blocks until the child has exited, without reaping it: as long as it is a
/// zombie its pid cannot be reused, so the sampler never walks a stranger's tree.
fn wait_exited(child: &Child) -> io::Result<()> {
    let pid = child.id() as libc::id_t;
    loop {
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: waitid on our own child with valid pointers; WNOWAIT leaves
        // it waitable, so std's `Child::wait` reaps it afterwards. (Raw libc:
        // nix's waitid fails with EINVAL for a child killed by a real-time
        // signal.)
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid,
                info.as_mut_ptr(),
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The sampling thread: one snapshot per period until `stop`.
fn sample_tree(
    mut watcher: tree::Watcher,
    root: u32,
    start: Instant,
    period: Duration,
    tools: &Tools,
    stop: &AtomicBool,
) -> Vec<Sample> {
    let mut timeline = Vec::with_capacity(4096);
    while !stop.load(Ordering::Acquire) {
        let tick = Instant::now();
        let cpu = thread_cpu_time();
        let snap = watcher.snapshot(root, tools);
        timeline.push(Sample {
            t: tick.duration_since(start).as_secs_f64(),
            rss_kib: snap.rss_kib,
            archiver: snap.archiver,
        });
        // Pause at least as long as the snapshot used the CPU: at most half a
        // CPU for a huge tree. (CPU time, not elapsed: a sampler that was
        // merely preempted must catch up, not fall further behind.)
        let used = thread_cpu_time().saturating_sub(cpu);
        thread::park_timeout(period.saturating_sub(tick.elapsed()).max(used));
    }
    timeline
}

/// CPU time used by the calling thread.
fn thread_cpu_time() -> Duration {
    match clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID) {
        Ok(ts) => Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32),
        Err(_) => Duration::ZERO,
    }
}

/// Shell-style globs on program basenames, and which process is the archiver.
pub mod glob {
    use crate::settings::{glob_list, DEFAULT_TOOLS};

    /// A validated comma list of basename globs (`*`, `?`, `[a-z]`, `[!x]`),
    /// matched as the library matches `ARSHIM_TOOLS`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Tools {
        globs: Vec<u8>,
    }

    impl Default for Tools {
        fn default() -> Tools {
            Tools::parse(DEFAULT_TOOLS).expect("the default globs are valid")
        }
    }

    /// /proc/PID/comm holds at most this many bytes of the name.
    const COMM_MAX: usize = 15;

    impl Tools {
        pub fn parse(list: &str) -> Result<Tools, String> {
            let list = glob_list(list)?;
            if !crate::shim_glob::list_is_valid(list.as_bytes()) {
                return Err(format!("not a valid glob list: {list}"));
            }
            Ok(Tools {
                globs: list.as_bytes().to_vec(),
            })
        }

        pub fn matches(&self, name: &[u8]) -> bool {
            crate::shim_glob::list_matches(&self.globs, name)
        }

        /// Is a process the archiver? Its `comm` (the basename it was exec'd
        /// as: a script's own name, a symlink's name), else its executable's
        /// basename (`/usr/bin/ar` → `x86_64-linux-gnu-ar`), else, when `comm`
        /// may be truncated, the basename of its `argv[0]`. The last two are
        /// read only if needed. Exec'ing keeps the pid, so this is asked again
        /// for every process at every sample.
        pub fn is_archiver(
            &self,
            comm: &[u8],
            exe: impl FnOnce() -> Option<Vec<u8>>,
            argv0: impl FnOnce() -> Option<Vec<u8>>,
        ) -> bool {
            self.matches(comm)
                || exe().is_some_and(|e| self.matches(basename(&e)))
                || (comm.len() >= COMM_MAX && argv0().is_some_and(|a| self.matches(basename(&a))))
        }
    }

    pub fn basename(path: &[u8]) -> &[u8] {
        path.rsplit(|&b| b == b'/').next().unwrap_or(path)
    }

    /// The library's own matcher (common/src/glob.rs), so `bench` and
    /// `verify` recognise the archiver exactly as the library does.
    #[cfg(test)]
    pub use crate::shim_glob::glob_match;
}

/// Reading processes from /proc.
///
/// Per sample, a process of the tree costs a read of `statm` and of `comm`
/// (and a readlink of `exe` when its name does not match). Not `stat`: reading
/// it blocks while the process execs away from a big address space (the very
/// moment a conversion happens), for as long as the kernel takes to free it.
pub mod procfs {
    use std::io;
    use std::os::unix::ffi::OsStrExt;

    use nix::unistd::{sysconf, SysconfVar};

    /// The parent pid from /proc/PID/stat (`pid (comm) state ppid …`). The
    /// comm may contain spaces and parentheses: the fields follow the last `)`.
    pub fn parse_stat_ppid(text: &[u8]) -> Option<u32> {
        let close = text.iter().rposition(|&b| b == b')')?;
        let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
        rest.split_ascii_whitespace().nth(1)?.parse().ok()
    }

    pub fn ppid(pid: u32) -> Option<u32> {
        parse_stat_ppid(&std::fs::read(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Memory from /proc/PID/statm, in pages.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Statm {
        /// Virtual size; 0 when the process has no address space any more
        /// (a zombie, or exiting).
        pub size: u64,
        /// Resident set (VmRSS).
        pub resident: u64,
    }

    pub fn parse_statm(text: &[u8]) -> Option<Statm> {
        let text = std::str::from_utf8(text).ok()?;
        let mut fields = text.split_ascii_whitespace().map(|f| f.parse::<u64>().ok());
        Some(Statm {
            size: fields.next()??,
            resident: fields.next()??,
        })
    }

    pub fn statm(pid: u32) -> Option<Statm> {
        parse_statm(&std::fs::read(format!("/proc/{pid}/statm")).ok()?)
    }

    /// The name the process was exec'd as (at most 15 bytes).
    pub fn comm(pid: u32) -> Option<Vec<u8>> {
        let mut name = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
        if name.last() == Some(&b'\n') {
            name.pop();
        }
        Some(name)
    }

    /// Every pid in /proc (thread-group leaders: threads are not listed).
    pub fn pids() -> io::Result<Vec<u32>> {
        let mut pids = Vec::with_capacity(512);
        for entry in std::fs::read_dir("/proc")? {
            let name = entry?.file_name();
            if let Some(pid) = std::str::from_utf8(name.as_bytes())
                .ok()
                .and_then(|s| s.parse().ok())
            {
                pids.push(pid);
            }
        }
        Ok(pids)
    }

    /// The path of the process's executable.
    pub fn exe(pid: u32) -> Option<Vec<u8>> {
        let link = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        let bytes = link.as_os_str().as_bytes();
        // A replaced binary reads as "PATH (deleted)"; the name is what counts.
        Some(bytes.strip_suffix(b" (deleted)").unwrap_or(bytes).to_vec())
    }

    pub fn argv0(pid: u32) -> Option<Vec<u8>> {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let first = cmdline.split(|&b| b == 0).next()?;
        (!first.is_empty()).then(|| first.to_vec())
    }

    /// Do two processes share one address space (a vfork child before its
    /// exec)? Unknown (no kcmp, no permission) counts as no.
    pub fn share_memory(a: u32, b: u32) -> bool {
        const KCMP_VM: libc::c_long = 1;
        // SAFETY: kcmp only compares kernel objects of the two pids; it takes
        // no pointers. (Raw: nix does not wrap kcmp.)
        let rc = unsafe {
            libc::syscall(
                libc::SYS_kcmp,
                a as libc::c_long,
                b as libc::c_long,
                KCMP_VM,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        };
        rc == 0
    }

    pub fn page_kib() -> u64 {
        match sysconf(SysconfVar::PAGE_SIZE) {
            Ok(Some(bytes)) if bytes > 0 => bytes as u64 / 1024,
            _ => 4,
        }
    }
}

/// The process tree under a root pid, and its snapshots.
pub mod tree {
    use super::procfs;
    use super::Tools;
    use std::collections::hash_map::Entry;
    use std::collections::{HashMap, HashSet, VecDeque};

    /// `root` and all its descendants (breadth-first, parents before their
    /// children), given each process's parent; empty if `root` is not listed.
    pub fn descendants(root: u32, parents: &HashMap<u32, u32>) -> Vec<u32> {
        if !parents.contains_key(&root) {
            return Vec::new();
        }
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for (&pid, &ppid) in parents {
            if pid != ppid {
                children.entry(ppid).or_default().push(pid);
            }
        }
        let mut seen = HashSet::from([root]);
        let mut order = vec![root];
        let mut queue = VecDeque::from([root]);
        while let Some(pid) = queue.pop_front() {
            let mut kids = children.remove(&pid).unwrap_or_default();
            kids.sort_unstable();
            for kid in kids {
                if seen.insert(kid) {
                    order.push(kid);
                    queue.push_back(kid);
                }
            }
        }
        order
    }

    /// What one snapshot found.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Snapshot {
        pub rss_kib: u64,
        pub archiver: bool,
        pub processes: usize,
    }

    /// Follows a tree across snapshots. The parent of every process on the
    /// machine is read once, when its pid first appears, and forgotten when
    /// it leaves /proc (pids are not reused within a sampling period). A
    /// process whose parent died is reparented elsewhere: its remembered
    /// parent is then gone, so it drops out of the tree, as it should.
    ///
    /// Whether a process is the archiver is remembered per (pid, comm): an
    /// exec changes the comm, and reading `exe` of a process in the middle of
    /// an exec blocks until the kernel freed its old address space — exactly
    /// when a converted host becomes the archiver.
    pub struct Watcher {
        parents: HashMap<u32, u32>,
        archivers: HashMap<u32, (Vec<u8>, bool)>,
        page_kib: u64,
    }

    impl Default for Watcher {
        fn default() -> Watcher {
            Watcher::new()
        }
    }

    impl Watcher {
        /// Learns the parent of every process already running.
        pub fn new() -> Watcher {
            let mut watcher = Watcher {
                parents: HashMap::new(),
                archivers: HashMap::new(),
                page_kib: procfs::page_kib(),
            };
            if let Ok(pids) = procfs::pids() {
                watcher.learn(pids);
            }
            watcher
        }

        /// Remembers the parents of pids not seen before, forgets the gone.
        fn learn(&mut self, pids: Vec<u32>) {
            let live: HashSet<u32> = pids.iter().copied().collect();
            self.parents.retain(|pid, _| live.contains(pid));
            self.archivers.retain(|pid, _| live.contains(pid));
            for pid in pids {
                if let Entry::Vacant(slot) = self.parents.entry(pid) {
                    if let Some(ppid) = procfs::ppid(pid) {
                        slot.insert(ppid);
                    }
                }
            }
        }

        /// The tree under `root` now.
        pub fn snapshot(&mut self, root: u32, tools: &Tools) -> Snapshot {
            if let Ok(pids) = procfs::pids() {
                self.learn(pids);
            }
            let mut snap = Snapshot::default();
            let mut comms: HashMap<u32, Vec<u8>> = HashMap::new();
            for pid in descendants(root, &self.parents) {
                // No address space: a zombie or exiting process holds no
                // memory and runs nothing any more.
                let Some(statm) = procfs::statm(pid).filter(|m| m.size > 0) else {
                    continue;
                };
                let comm = procfs::comm(pid).unwrap_or_default();
                let ppid = self.parents[&pid];
                snap.processes += 1;
                // A vfork child has its parent's name until it execs, and
                // would count its parent's memory a second time.
                let borrowed = pid != root
                    && comms.get(&ppid) == Some(&comm)
                    && procfs::share_memory(pid, ppid);
                if !borrowed {
                    snap.rss_kib += statm.resident * self.page_kib;
                }
                snap.archiver |= self.is_archiver(pid, &comm, tools);
                comms.insert(pid, comm);
            }
            snap
        }

        fn is_archiver(&mut self, pid: u32, comm: &[u8], tools: &Tools) -> bool {
            match self.archivers.get(&pid) {
                Some((known, answer)) if known == comm => *answer,
                _ => {
                    let answer =
                        tools.is_archiver(comm, || procfs::exe(pid), || procfs::argv0(pid));
                    self.archivers.insert(pid, (comm.to_vec(), answer));
                    answer
                }
            }
        }
    }
}

/// A cgroup v2 per run, for its `memory.peak` (which, unlike RSS, also counts
/// the page cache the run caused and kernel memory charged to it).
pub mod cgroup {
    use std::fs::{self, File, OpenOptions};
    use std::io;
    use std::os::fd::{AsRawFd, RawFd};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A cgroup under which per-run cgroups with the memory controller can be made.
    #[derive(Debug, Clone)]
    pub struct Parent {
        dir: PathBuf,
    }

    /// The cgroup v2 mount point from /proc/self/mountinfo lines.
    pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
        mountinfo.lines().find_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            (fs.split_whitespace().next() == Some("cgroup2"))
                .then(|| mount.split_whitespace().nth(4).map(PathBuf::from))?
        })
    }

    /// Our cgroup v2 path from /proc/self/cgroup (the `0::PATH` line).
    pub fn own_path(proc_cgroup: &str) -> Option<&str> {
        proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
    }

    /// Does a `cgroup.subtree_control` enable the memory controller?
    pub fn enables_memory(subtree_control: &str) -> bool {
        subtree_control.split_whitespace().any(|c| c == "memory")
    }

    impl Parent {
        /// Our own cgroup, if it hands the memory controller to new children.
        /// (It then holds no processes unless it is the root: cgroup v2's "no
        /// internal processes" rule. We never change a controller setting.)
        pub fn find() -> Result<Parent, String> {
            let mountinfo =
                fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
            let mount = cgroup2_mount(&mountinfo).ok_or("no cgroup v2 mount")?;
            let ours = fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
            let path = own_path(&ours).ok_or("this process is in no cgroup v2")?;
            let dir = mount.join(path.trim_start_matches('/'));
            let control = fs::read_to_string(dir.join("cgroup.subtree_control"))
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            if !enables_memory(&control) {
                let available =
                    fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
                return Err(format!(
                    "the memory controller is not enabled for children of {} (controllers: {})",
                    dir.display(),
                    match available.trim() {
                        "" => "none",
                        list => list,
                    }
                ));
            }
            // Prove it once: make a child and look for memory.peak (Linux 5.19+).
            let parent = Parent { dir };
            let probe = parent.new_child().map_err(|e| e.to_string())?;
            let has_peak = probe.dir.join("memory.peak").is_file();
            drop(probe);
            if has_peak {
                Ok(parent)
            } else {
                Err("the kernel has no memory.peak (Linux 5.19+)".into())
            }
        }

        /// A fresh, empty cgroup, removed when dropped.
        pub fn new_child(&self) -> io::Result<RunCgroup> {
            static SEQ: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "arshim-bench-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            );
            let dir = self.dir.join(name);
            fs::create_dir(&dir)?;
            match OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
            {
                Ok(procs) => Ok(RunCgroup { dir, procs }),
                Err(e) => {
                    let _ = fs::remove_dir(&dir);
                    Err(e)
                }
            }
        }
    }

    /// One run's cgroup.
    #[derive(Debug)]
    pub struct RunCgroup {
        dir: PathBuf,
        procs: File,
    }

    impl RunCgroup {
        pub fn procs_fd(&self) -> RawFd {
            self.procs.as_raw_fd()
        }

        pub fn peak_kib(&self) -> Option<u64> {
            let text = fs::read_to_string(self.dir.join("memory.peak")).ok()?;
            text.trim().parse::<u64>().ok().map(|bytes| bytes / 1024)
        }
    }

    impl Drop for RunCgroup {
        fn drop(&mut self) {
            // Fails if a process the run left behind is still inside: leave it.
            let _ = fs::remove_dir(&self.dir);
        }
    }

    /// In a forked child: move the calling process into the cgroup whose
    /// `cgroup.procs` is open as `fd` ("0" means the writer itself).
    pub fn join(fd: RawFd) -> io::Result<()> {
        // SAFETY: writes 1 byte from a static buffer to an open fd;
        // async-signal-safe, as a pre_exec hook requires. (Raw: between fork
        // and exec the fd is a number the closure captured; nix's write
        // would need it as a `BorrowedFd`, made from the number no more safely.)
        let n = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
        if n == 1 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::glob::{basename, glob_match};
    use super::tree::descendants;
    use super::*;

    fn s(t: f64, rss_kib: u64, archiver: bool) -> Sample {
        Sample {
            t,
            rss_kib,
            archiver,
        }
    }

    #[test]
    fn summary_of_a_run_whose_host_held_its_memory() {
        let tl = [
            s(0.0, 100, false),
            s(0.1, 900, false),
            s(0.2, 910, true),
            s(0.3, 905, true),
            s(0.4, 10, false),
        ];
        let sum = summarize(&tl, 0.45);
        assert_eq!(sum.peak_kib, 910);
        assert_eq!(
            sum.archiver,
            Some((0.2, 0.4)),
            "ends at the first sample without it"
        );
        assert_eq!(sum.held_during_archiver_kib, Some(910));
    }

    #[test]
    fn archiver_running_at_exit_ends_with_the_run() {
        let tl = [s(0.0, 900, false), s(0.1, 3, true), s(0.2, 2, true)];
        let sum = summarize(&tl, 0.25);
        assert_eq!(sum.archiver, Some((0.1, 0.25)));
        assert_eq!(sum.held_during_archiver_kib, Some(3));
        assert_eq!(sum.peak_kib, 900);
    }

    #[test]
    fn no_archiver_seen_and_empty_timelines() {
        let sum = summarize(&[s(0.0, 5, false)], 1.0);
        assert_eq!((sum.archiver, sum.held_during_archiver_kib), (None, None));
        assert_eq!(summarize(&[], 1.0).peak_kib, 0);
    }

    #[test]
    fn held_ignores_gaps_between_two_archiver_runs() {
        let tl = [s(0.0, 1, true), s(0.1, 999, false), s(0.2, 2, true)];
        assert_eq!(summarize(&tl, 0.3).held_during_archiver_kib, Some(2));
    }

    #[test]
    fn globs_match_like_the_library() {
        let m = |p: &str, n: &str| glob_match(p.as_bytes(), n.as_bytes());
        assert!(m("ar", "ar") && !m("ar", "ars") && !m("ar", "a"));
        assert!(m("*-ar", "x86_64-linux-gnu-ar") && !m("*-ar", "ar"));
        assert!(m("llvm-ar*", "llvm-ar-14") && m("gcc-ar*", "gcc-ar"));
        assert!(m("a*b*c", "aXbYbZc") && !m("a*b*c", "aXbYbZ"));
        assert!(m("ar?", "ar1") && !m("ar?", "ar"));
        assert!(m("gcc-ar-[0-9]*", "gcc-ar-12") && !m("gcc-ar-[0-9]*", "gcc-ar-x"));
        assert!(m("[!x]ar", "gar") && !m("[!x]ar", "xar"));
        assert!(m("[]]", "]") && m("[a", "[a"));
        assert!(m("*", "") && m("**ar", "ar"));
    }

    #[test]
    fn archiver_detection_by_comm_exe_or_argv0() {
        let tools = Tools::default();
        let none = || None;
        let some = |s: &'static str| move || Some(s.as_bytes().to_vec());
        // A script named ar, and ar exec'd through its /usr/bin/ar symlink.
        assert!(tools.is_archiver(b"ar", none, none));
        // comm truncated to 15 bytes; the executable has the full name.
        assert!(tools.is_archiver(
            b"x86_64-linux-gn",
            some("/usr/bin/x86_64-linux-gnu-ar"),
            none
        ));
        // Neither comm nor exe: argv[0], only when comm may be truncated.
        assert!(tools.is_archiver(
            b"busybox-multica",
            some("/bin/busybox"),
            some("/usr/bin/llvm-ar")
        ));
        assert!(!tools.is_archiver(b"sh", some("/usr/bin/dash"), some("ar")));
        assert!(!tools.is_archiver(b"demo-linker", some("/t/demo-linker"), none));
        assert!(!tools.is_archiver(b"arshim", some("/t/arshim"), none));
        let custom = Tools::parse("my-archiver").unwrap();
        assert!(custom.is_archiver(b"my-archiver", none, none));
        assert!(!custom.is_archiver(b"ar", none, none));
        assert!(Tools::parse("ar,").is_err());
        assert_eq!(basename(b"/usr/bin/ar"), b"ar");
        assert_eq!(basename(b"ar"), b"ar");
    }

    #[test]
    fn tree_walk_from_a_fake_proc_listing() {
        // init(1) ─ bash(10) ─ bench(20) ─ host(30) ┬ ar(31) ─ helper(40)
        //                                           └ ld(32)
        //         └ sshd(11) ─ other(33)
        let parents: HashMap<u32, u32> = [
            (1, 0),
            (10, 1),
            (11, 1),
            (20, 10),
            (30, 20),
            (31, 30),
            (32, 30),
            (33, 11),
            (40, 31),
        ]
        .into_iter()
        .collect();
        assert_eq!(descendants(30, &parents), [30, 31, 32, 40]);
        assert_eq!(descendants(40, &parents), [40]);
        assert_eq!(descendants(99, &parents), Vec::<u32>::new());
        let all = descendants(1, &parents);
        assert_eq!(all.len(), parents.len());
        assert_eq!(all.iter().copied().collect::<HashSet<_>>().len(), all.len());
    }

    #[test]
    fn tree_walk_survives_a_cycle() {
        let parents: HashMap<u32, u32> = [(5, 6), (6, 5), (7, 7)].into_iter().collect();
        assert_eq!(descendants(5, &parents), [5, 6]);
        assert_eq!(descendants(7, &parents), [7]);
    }

    #[test]
    fn stat_and_statm_are_parsed() {
        let line = b"4242 (we ird) (x)) S 4200 4242 4200 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
123456 1073741824 262144 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(procfs::parse_stat_ppid(line), Some(4200));
        assert_eq!(procfs::parse_stat_ppid(b"1 (x) S"), None);
        assert_eq!(procfs::parse_stat_ppid(b"garbage"), None);
        let m = procfs::parse_statm(b"262700 262144 300 10 0 262200 0\n").unwrap();
        assert_eq!((m.size, m.resident), (262700, 262144));
        assert_eq!(procfs::parse_statm(b"0 0 0 0 0 0 0\n").unwrap().size, 0);
        assert_eq!(procfs::parse_statm(b"12"), None);
    }

    #[test]
    fn our_own_process_is_readable() {
        let me = std::process::id();
        assert!(procfs::statm(me).unwrap().resident > 0);
        assert_eq!(procfs::ppid(me), Some(std::os::unix::process::parent_id()));
        assert!(!procfs::comm(me).unwrap().ends_with(b"\n"));
        assert!(procfs::pids().unwrap().contains(&me));
        assert!(procfs::exe(me).is_some());
        assert!(procfs::page_kib() >= 4);
    }

    #[test]
    fn cgroup_files_are_parsed() {
        let mountinfo = "24 30 0:22 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                         29 23 0:26 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup::cgroup2_mount(mountinfo),
            Some("/sys/fs/cgroup/unified".into())
        );
        assert_eq!(
            cgroup::cgroup2_mount("1 2 0:1 / / rw - ext4 /dev/x rw\n"),
            None
        );
        assert_eq!(
            cgroup::own_path("4:memory:/a\n0::/user.slice/x\n"),
            Some("/user.slice/x")
        );
        assert_eq!(cgroup::own_path("4:memory:/a\n"), None);
        assert!(cgroup::enables_memory("cpu io memory pids\n"));
        assert!(!cgroup::enables_memory("hugetlb memory_x\n"));
    }

    #[test]
    fn samples_a_real_short_command() {
        let mut sleep = Command::new("sleep");
        sleep.arg("0.05");
        let out = run_sampled(sleep, 500, &Tools::default()).unwrap();
        assert!(out.status.success());
        assert!(out.wall >= Duration::from_millis(50));
        assert!(out.timeline.len() >= 5, "{} samples", out.timeline.len());
        assert!(out.peak_kib > 0);
        assert_eq!(out.archiver, None);
    }
}
