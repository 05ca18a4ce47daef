//! The synchronization primitives the core is built on: `std`'s normally, loom's under `--cfg loom`,
//! so the loom models explore every interleaving of the real code.

//!
//! The one `Arc<dyn _>` (a job's progress sink) uses `std::sync::Arc` directly: loom's `Arc` cannot
//! be unsized, and what that sink owns is synchronized by the loom types inside it.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Arc, Mutex, MutexGuard, RwLock,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    Arc, Mutex, MutexGuard, RwLock,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

/// Locks `mutex`, ignoring poison: the core never leaves its state half-updated across user code,
/// so a panic elsewhere must not take the scheduler down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
