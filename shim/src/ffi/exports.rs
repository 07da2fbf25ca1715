//! The core's exports: `arshim_hook_NAME` for every entry of the hook list
//! (`arshim_common::for_each_hook!`, common/src/hooks.rs), which the preload
//! looks up by that name. Each is its hand-written body in `hooks.rs`,
//! inlined, so the fast path stays one load, one test and a tail jump.

use super::hooks;
use arshim_common::hooks::prelude::*;

macro_rules! exports {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty, missing: $missing:expr;)*) => {
        $(
            #[export_name = concat!("arshim_hook_", stringify!($name))]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
                // The body has exactly the entry's C signature: a function
                // coerces to this pointer type only if every argument and
                // the result match (a `*mut` for a `*const` does not build).
                const BODY: unsafe extern "C" fn($($ty),*) -> $ret = hooks::$name;
                BODY($($arg),*)
            }
        )*
        // One export per hook of the list.
        const _: () = assert!([$(stringify!($name)),*].len() == arshim_common::hooks::COUNT);
    };
}

arshim_common::for_each_hook!(exports);
