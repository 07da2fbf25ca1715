//! The next definition of each function we interpose on: `dlsym(RTLD_NEXT)`
//! performed by the preload (`Preload::next`), which sits in the global
//! search order where the core, loaded with RTLD_LOCAL, does not.
//!
//! Not redhook's `hook!`/`real!`: redhook 2.0.0 resolves through `std::sync::Once`
//! and panics when a symbol is missing, and its `catch_unwind` calls the real
//! function a second time after a hook panicked (a second spawn). Here a
//! pointer is cached in an atomic: resolved eagerly at load when the shim is
//! on, lazily (one `dlsym`, no lock of ours) when it is off, and a missing
//! symbol is reported to the caller as ENOSYS instead of a panic.

use arshim_common::hooks::prelude::*;
use std::ffi::CStr;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The preload's `next`, set once by `init` before any hook is routed here.
static NEXT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

type NextFn = unsafe extern "C" fn(*const c_char) -> *mut c_void;

pub fn init(next: NextFn) {
    NEXT.store(next as *mut c_void, Ordering::Release);
}

/// The next definition of `name` after the preload's, or null.
fn next(name: &CStr) -> *mut c_void {
    let f = NEXT.load(Ordering::Acquire);
    if f.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: NEXT only ever holds a `NextFn` (see `init`), and the name is
    // NUL-terminated.
    unsafe { std::mem::transmute::<*mut c_void, NextFn>(f)(name.as_ptr()) }
}

pub struct Real<F> {
    ptr: AtomicPtr<c_void>,
    name: &'static CStr,
    _f: PhantomData<F>,
}

// SAFETY: the only state is an atomic pointer; F is a plain fn pointer type.
unsafe impl<F> Sync for Real<F> {}

impl<F: Copy> Real<F> {
    pub const fn new(name: &'static CStr) -> Self {
        Real {
            ptr: AtomicPtr::new(std::ptr::null_mut()),
            name,
            _f: PhantomData,
        }
    }

    /// The next definition, or `None` if the C library has none. The hot
    /// path is one load; resolving is out of line.
    #[inline(always)]
    pub fn get(&self) -> Option<F> {
        let p = self.ptr.load(Ordering::Relaxed);
        if p.is_null() {
            return self.resolve();
        }
        // SAFETY: F is the C signature of the symbol named `name`, a fn pointer
        // of pointer size, and `p` is that symbol's address.
        Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
    }

    /// The cached pointer only (`None` before the first resolution): for the
    /// hooks' fast path, which must not call anything before its tail call.
    #[inline(always)]
    pub fn fast(&self) -> Option<F> {
        let p = self.ptr.load(Ordering::Relaxed);
        // SAFETY: as in `get`.
        (!p.is_null()).then(|| unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self) -> Option<F> {
        let p = next(self.name);
        if p.is_null() {
            return None;
        }
        // Racing threads store the same value.
        self.ptr.store(p, Ordering::Relaxed);
        debug_assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
        // SAFETY: as in `get`.
        Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
    }
}

/// `name` (NUL-terminated bytes) as a C string. Only evaluated in `REAL`'s
/// initializer, at compile time: a bad name fails the build, never a host.
const fn c_name(name: &'static [u8]) -> &'static CStr {
    match CStr::from_bytes_with_nul(name) {
        Ok(c) => c,
        Err(_) => panic!("a hook name is not a C string"),
    }
}

/// The slots and `resolve_all`, for every entry of the hook list
/// (`arshim_common::for_each_hook!`, common/src/hooks.rs).
macro_rules! real_functions {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty, missing: $missing:expr;)*) => {
        /// The next definition of each hooked function, by its C name and
        /// with its exact C signature.
        pub struct Reals {
            $(pub $name: Real<unsafe extern "C" fn($($ty),*) -> $ret>,)*
        }

        pub static REAL: Reals = Reals {
            $($name: Real::new(c_name(concat!(stringify!($name), "\0").as_bytes())),)*
        };

        /// Resolve every hook's real function now (the shim is on): no
        /// `dlsym` later, when the host may be in the middle of its cleanups.
        pub fn resolve_all() {
            $(REAL.$name.get();)*
        }

        // One slot per hook of the list.
        const _: () = assert!([$(stringify!($name)),*].len() == arshim_common::hooks::COUNT);
    };
}

arshim_common::for_each_hook!(real_functions);
