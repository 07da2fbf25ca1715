//! libarshim_core.so — the shim's core. The preload (`libarshim.so`, crate
//! `preload/`) loads it only into a process where there is work to do, calls
//! `arshim_core_init` from its constructor, and routes its hooks to the
//! `arshim_hook_*` functions here. In that process, it turns the final archiver
//! spawn into an `execve` of the same process after the pending cleanups ran.
//!
//! Layout — the folder says what a file may touch (docs/DESIGN.md, "Layout"):
//! - `decide/`: pure decisions (config, scope, resolve, plan, child, memory,
//!   protect); `#![forbid(unsafe_code)]`.
//! - `facts/`: read-only questions to the kernel and `/proc` (`fs`, `proc`),
//!   the real side of the traits the decisions take.
//! - `record/`: the mirror of file actions, observe mode, trace, logging.
//! - `takeover/`: the spawn-time (`convert`) and wait-time (`wait`) entry
//!   points and the irreversible steps: cleanups, deferred deletions, replay,
//!   release, the reaper's command line, the companion's whereabouts.
//! - `ffi/`: where the C library's pointers arrive: the hand-written hooks,
//!   their exports and the real functions, generated from the one hook list
//!   in `common/`, and `state`, the switch every hook reads first.
//! - here: the constructor below. `gate`, `glob`, `preload_abi` and
//!   `raw_line` come from `arshim-common`, the trace event builder from
//!   `arshim-trace`: shared with the preload, the reaper and the companion.

// The unit-test build leaves out the exported hooks (they would interpose on
// the test binary itself), so everything only they reach looks unused there.
#![cfg_attr(test, allow(dead_code))]

mod decide;
mod execs;
mod facts;
mod ffi;
mod record;
mod takeover;

// Shared with the preload, the reaper and the companion (crate `common/`).
use arshim_common::{gate, glob, preload_abi, raw_line};
use decide::config::{self, Config, Mode};
use decide::scope::{self, Identity, Scope};
use decide::verdicts::{self, Known};
use ffi::{real, state};
use libc::c_char;
use record::{logging, trace};
use std::cell::OnceCell;
use std::ffi::CStr;

extern "C" {
    static environ: *const *const c_char;
    static program_invocation_name: *const c_char;
}

fn exe_path() -> Vec<u8> {
    let mut buf = [0u8; 4096];
    // SAFETY: readlink into a buffer we own, bounded by its length.
    let n = unsafe {
        libc::readlink(
            c"/proc/self/exe".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n <= 0 {
        return Vec::new();
    }
    buf[..n as usize].to_vec()
}

/// Called by the preload's constructor, inside the loader, before the host's
/// `main`: raw libc only (no logger, no std::thread, no `Once`;
/// rust-lang/rust#130210). Returns whether this process is in scope, i.e.
/// whether the preload must route its hooks here.
unsafe fn on_load(preload: &preload_abi::Preload) -> bool {
    // The preload never loads the core there (docs/DESIGN.md, "Scope"); if
    // anything else did, still nothing is written, warned or set.
    if libc::getauxval(libc::AT_SECURE) != 0 {
        return false;
    }
    if preload.version != preload_abi::VERSION {
        logging::warn_line(
            "libarshim_core.so does not match libarshim.so (version); the shim stays off",
        );
        return false;
    }
    takeover::companion::set_library_path(CStr::from_ptr(preload.path));
    real::init(preload.next);
    let Some(mut config) = configuration() else {
        return false;
    };
    if config.mode == Mode::Off {
        return false;
    }
    config.trace = writable_trace(config.trace.take());
    let pid = libc::getpid();
    let exe = exe_path();
    let mut me = identity(&config, pid, &exe);
    let mut decision = scope::decide(&config, &me);
    // Read at most once, by the first that needs them.
    let own_args = OnceCell::new();
    decision = refused_by_options(&config, &me, decision, &own_args);
    let script = own_script(&config, &decision, &exe);
    me.script = script.as_deref();
    if decision.mode == Mode::Exec {
        known_host_defaults(&mut config, &me, &own_args);
    }
    if decision.mode == Mode::Exec {
        // Only a process that would convert pays for reading the store.
        let temps = config
            .temps
            .as_ref()
            .map(|l| l.entries().collect::<Vec<_>>().join(&b','));
        let known = own_verdict(&exe, me.script, temps.as_deref());
        decision = scope::heed_verdict(&config, &me, decision, &known);
    }
    announce(&config, &decision, &me, &exe);
    if decision.mode == Mode::Off {
        return false;
    }
    // An observed run with a trace records them too: `verify` tells the
    // host's own deletions by them (docs/DESIGN.md, "verify: temporaries
    // taken over").
    if decision.mode == Mode::Exec || config.trace.is_some() {
        arm_temps(&config, &me, pid);
    }
    real::resolve_all();
    // Before `main`, so before any child: every child inherits it.
    execs::create();
    if decision.mode == Mode::Observe {
        // Only `verify`'s observed run reads the execs after the archiver.
        execs::later::create();
    }
    let traced = config.trace.is_some();
    state::activate(
        Config {
            mode: decision.mode,
            ..config
        },
        pid,
    );
    if traced {
        // Registered first, so it runs after the host's own handlers.
        libc::atexit(trace_exit);
    }
    true
}

/// A known host in scope through `ARSHIM_HOSTS` or a claim handed on (a
/// whole build: `arshim run --hosts ldc2 -- dub build`) converts what
/// `arshim run -- HOST` would: its own archiver and link globs unless
/// `ARSHIM_TOOLS` is set, and its own failure status unless
/// `ARSHIM_FAILURE_STATUS` is (docs/DESIGN.md, "Scope").
fn known_host_defaults(config: &mut Config, me: &Identity<'_>, own_args: &OwnArgs) {
    let Some(host) = own_known_host(me) else {
        return;
    };
    if !config.tools_given {
        if let Some(tools) = config::GlobList::parse(host.tools.as_bytes()) {
            config.tools = tools;
        }
    }
    if config.failure_status.is_none() {
        config.failure_status = host.failure_status;
    }
    config.failure_line = host.failure_line.map(|style| failure_line(style, own_args));
}

/// The host's own line for a failed archiver or link, in colour when the
/// host would use it: decided now, from its arguments, its stderr and its
/// `TERM` (docs/DESIGN.md, "Conversion" 6). Only ldc2's can be in colour:
/// only it reads the arguments.
fn failure_line(
    style: arshim_common::known_hosts::LineStyle,
    own_args: &OwnArgs,
) -> arshim_common::known_hosts::FailureLine {
    use arshim_common::known_hosts::LineStyle;
    let args: Option<Vec<&[u8]>> = match style {
        LineStyle::Ldc2 => own_args
            .get_or_init(own_args_expanded)
            .as_ref()
            .map(|args| args.iter().map(Vec::as_slice).collect()),
        LineStyle::Ghc => None,
    };
    // SAFETY: isatty and getenv have no preconditions; the constructor runs
    // before the host's threads, so TERM is not being changed meanwhile, and
    // its bytes are copied out by `colour` before anything else runs.
    let (tty, term) = unsafe {
        let term = libc::getenv(c"TERM".as_ptr());
        (
            libc::isatty(2) == 1,
            (!term.is_null()).then(|| CStr::from_ptr(term).to_bytes()),
        )
    };
    arshim_common::known_hosts::FailureLine {
        style,
        colour: style.colour(args.as_deref(), tty, term),
    }
}

/// This process's known-host entry, by its executable's basename, else the
/// name it was called by.
fn own_known_host(me: &Identity<'_>) -> Option<&'static arshim_common::known_hosts::KnownHost> {
    [me.exe, me.argv0]
        .iter()
        .find_map(|name| arshim_common::known_hosts::lookup(name))
}

/// The host's temporaries are recorded from now on when it has globs:
/// `ARSHIM_TEMPS` and its known host's, `$TMPDIR` expanded with the `TMPDIR`
/// it started with (docs/DESIGN.md, "Conversion" 12).
unsafe fn arm_temps(config: &Config, me: &Identity<'_>, pid: i32) {
    let known = own_known_host(me).map_or(&[][..], |host| host.temps);
    let own = config.temps.iter().flat_map(|list| list.entries());
    let tmpdir = libc::getenv(c"TMPDIR".as_ptr());
    let tmpdir = (!tmpdir.is_null()).then(|| CStr::from_ptr(tmpdir).to_bytes());
    let globs = decide::temps::expand(
        own.chain(known.iter().map(|g| g.as_bytes())),
        &decide::temps::tmpdir(tmpdir),
    );
    record::temps::arm(globs, pid);
}

/// The configuration from the `ARSHIM*` variables, or `None` when there are
/// none (the preload's gate already answered the processes with nothing to
/// do) or one is bad: then one warning for the whole process tree, since
/// descendants inherit the mark.
unsafe fn configuration() -> Option<Config> {
    let found = gate::scan(environ)?;
    let entries = found.as_slice();
    match config::parse(|name| config::lookup(entries, name)) {
        Ok(c) => Some(c),
        Err(e) => {
            warn_once_per_tree(c"ARSHIM_WARNED", &e.to_string());
            None
        }
    }
}

/// One warning line for the whole process tree: descendants inherit the
/// `mark` (`ARSHIM_WARNED`, or `ARSHIM_STORE_WARNED` for the verdict store)
/// and stay quiet.
unsafe fn warn_once_per_tree(mark: &CStr, message: &str) {
    if libc::getenv(mark.as_ptr()).is_null() {
        logging::warn_line(message);
        libc::setenv(mark.as_ptr(), c"1".as_ptr(), 1);
    }
}

/// `ARSHIM_TRACE` if it is a file events can be appended to, decided once
/// here (docs/DESIGN.md, "Trace events"): anything else (a FIFO, a symlink,
/// a directory, a path that cannot be written) is one warning per process
/// tree and no trace, and the run goes on as without one. Each event then
/// opens the path again the same safe way.
unsafe fn writable_trace(path: Option<Vec<u8>>) -> Option<Vec<u8>> {
    let path = path?;
    match trace::open_append(&path) {
        Ok(fd) => {
            // A raw close: the descriptor is ours, not the host's.
            libc::syscall(libc::SYS_close, fd);
            Some(path)
        }
        Err(why) => {
            warn_once_per_tree(c"ARSHIM_WARNED", &trace::warning(&path, why));
            None
        }
    }
}

/// An interpreter's script, where it keys a verdict (a process that would
/// convert) or the trace's `load` event names it for `verify`
/// (docs/DESIGN.md, "Verdicts"); `None` for any other program.
fn own_script(config: &Config, decision: &Scope, exe: &[u8]) -> Option<Vec<u8>> {
    let name = scope::basename(exe);
    let wanted = match decision.mode {
        Mode::Off => false,
        Mode::Observe => config.trace.is_some(),
        Mode::Exec => true,
    };
    if !wanted || !arshim_common::names::is_interpreter(name) {
        return None;
    }
    facts::script::own_script(name)
}

/// What the verdict store says about this binary (path and identity) and,
/// for an interpreter, the script it runs (path and hash): without one, an
/// interpreter has no verdict. A store that exists but cannot be read counts
/// as no verdict, said once per process tree (descendants inherit the mark).
/// A SAFE verdict holds for the temps (`ARSHIM_TEMPS`) it was given with.
unsafe fn own_verdict(exe: &[u8], script: Option<&[u8]>, temps: Option<&[u8]>) -> Known {
    use facts::verdicts as read;
    if script.is_none() && !verdicts::heeded_for(scope::basename(exe)) {
        return Known::Never;
    }
    let Some(store) = read::store_path() else {
        return Known::Never;
    };
    let entry = match read::read_store(&store) {
        Ok(None) => return Known::Never,
        Ok(Some(bytes)) => verdicts::entry_for(&bytes, exe, script).map_err(str::to_owned),
        Err(why) => Err(why),
    };
    let entry = match entry {
        Ok(entry) => entry,
        Err(why) => {
            warn_once_per_tree(
                c"ARSHIM_STORE_WARNED",
                &format!(
                    "verdict store {}: {why}; read as no verdict",
                    String::from_utf8_lossy(&store)
                ),
            );
            return Known::Unreadable(why);
        }
    };
    let id = match &entry {
        Some(e) if e.id.starts_with("fnv1a64:") => read::file_id(exe),
        Some(_) => read::own_build_id(),
        None => None,
    };
    // The script is hashed only when an entry names it.
    let script_id = match (&entry, script) {
        (Some(e), Some(path)) if e.script_id.is_some() => facts::script::script_id(path),
        _ => None,
    };
    let known = verdicts::judge(entry.as_ref(), id.as_deref(), script_id.as_deref());
    verdicts::judge_temps(known, entry.as_ref(), temps)
}

/// A known host whose options can make it not final (ldc2 `-run`,
/// `-cleanup-obj`; docs/DESIGN.md, "Compilers") is judged by its own
/// arguments, read only there and only when it would convert.
fn refused_by_options(
    config: &Config,
    me: &Identity<'_>,
    decision: Scope,
    own_args: &OwnArgs,
) -> Scope {
    let names = [me.argv0, me.exe];
    if decision.mode != Mode::Exec
        || arshim_common::known_hosts::NotFinalWith::for_names(&names).is_none()
    {
        return decision;
    }
    let args: Option<Vec<&[u8]>> = own_args
        .get_or_init(own_args_expanded)
        .as_ref()
        .map(|args| args.iter().map(Vec::as_slice).collect());
    scope::refuse_by_options(config, me, decision, args.as_deref())
}

/// [`own_args_expanded`], read once by whichever needs it first.
type OwnArgs = OnceCell<Option<Vec<Vec<u8>>>>;

/// This process's arguments after `argv[0]`, its response files (`@FILE`,
/// as LLVM's GNU tokenizer and libiberty read them) expanded; `None` when
/// any of it cannot be read.
fn own_args_expanded() -> Option<Vec<Vec<u8>>> {
    let line = facts::script::own_cmdline()?;
    let body = line.strip_suffix(&[0]).unwrap_or(&line);
    let given: Vec<Vec<u8>> = body
        .split(|&b| b == 0)
        .skip(1)
        .map(<[u8]>::to_vec)
        .collect();
    let mut read = |file: &[u8]| facts::indirect::response_file(file);
    decide::indirect::expand(&given, &mut read)
        .ok()
        .map(|e| e.args)
}

/// Who this process is, as the scope decision sees it. Its start time is
/// read only where `ARSHIM_PID` names our pid or a claim may be made (no
/// `ARSHIM_HOSTS`): the processes the trace alone brought here skip it.
unsafe fn identity<'a>(config: &Config, pid: i32, exe: &'a [u8]) -> Identity<'a> {
    let argv0 = if program_invocation_name.is_null() {
        &b""[..]
    } else {
        CStr::from_ptr(program_invocation_name).to_bytes()
    };
    let claims = match config.pid {
        Some(claim) => claim.pid == pid,
        None => config.hosts.is_none(),
    };
    Identity {
        pid,
        start: if claims {
            facts::proc::self_start_time()
        } else {
            None
        },
        exe: scope::basename(exe),
        argv0: scope::basename(argv0),
        secure: libc::getauxval(libc::AT_SECURE) != 0,
        script: None,
    }
}

/// The decision made known: its warning or note on stderr, the claim marked
/// in the environment descendants inherit, and the `load` trace event.
unsafe fn announce(config: &Config, decision: &Scope, me: &Identity<'_>, exe: &[u8]) {
    if let Some(w) = &decision.warning {
        logging::warn_line(w);
    }
    if let (Some(n), Some(_)) = (&decision.note, &config.log) {
        logging::warn_line(n);
    }
    if decision.claim {
        // PID:START names this process only (docs/DESIGN.md, "Scope"); a
        // bare pid when /proc cannot tell the start, as set by hand. Both
        // at a fixed width: the claim's size does not depend on the pid.
        // A shell or driver's claim has start 0: no process, not even one
        // it execs in its pid, matches it.
        let start = if decision.nobody { Some(0) } else { me.start };
        let claim = gate::claim_text(me.pid, start).to_string();
        let claim = std::ffi::CString::new(claim).expect("digits");
        libc::setenv(c"ARSHIM_PID".as_ptr(), claim.as_ptr(), 1);
    }
    let mut load = trace::Event::new("load").str("exe", exe);
    if let Some(script) = me.script {
        // The script that keys this host's verdict, for `verify` to store
        // it under (docs/DESIGN.md, "Verdicts").
        load = load.str("script", script);
    }
    load.str(
        "mode",
        match decision.mode {
            Mode::Off => "off",
            Mode::Observe => "observe",
            Mode::Exec => "exec",
        },
    )
    .bool("in_scope", decision.mode != Mode::Off)
    .str("reason", decision.reason)
    .emit(config.trace.as_deref());
}

/// `{"event":"exit"}` when the host exits normally (not when it converted:
/// the conversion turns the hooks off before running the handlers).
extern "C" fn trace_exit() {
    if let Some(config) = state::scope_config() {
        record::observe::at_exit();
        trace::Event::new("exit").emit(config.trace.as_deref());
    }
}

/// The core's entry point (`preload_abi::INIT_SYMBOL`): 1 when the hooks
/// must be routed here, 0 when the process stays as without the shim.
///
/// # Safety
/// Called once, by the preload's constructor, single-threaded, with a valid
/// `Preload` whose `path` lives as long as the process.
#[cfg(not(test))]
#[no_mangle]
pub unsafe extern "C" fn arshim_core_init(preload: *const preload_abi::Preload) -> libc::c_int {
    match preload.as_ref() {
        Some(p) => on_load(p) as libc::c_int,
        None => 0,
    }
}
