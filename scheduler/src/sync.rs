//! The synchronization primitives the core is built on: `std`'s normally, loom's under `--cfg loom`,
//! so the loom models explore every interleaving of the real code.
//!
//! What is observation rather than state machine — a job's priority and progress as its fetcher
//! sees them, and the event subscribers — uses `std` directly: a `JobContext` needs a `dyn` view of
//! its job, and loom's `Arc` cannot be unsized.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Arc, Mutex, MutexGuard, RwLock,
    atomic::{AtomicU64, Ordering},
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    Arc, Mutex, MutexGuard, RwLock,
    atomic::{AtomicU64, Ordering},
};

/// Locks `mutex`, ignoring poison: the core never leaves its state half-updated across user code,
/// so a panic elsewhere must not take the scheduler down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
