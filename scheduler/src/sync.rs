//! The synchronization primitives the core is built on: `std`'s normally, loom's under `--cfg loom`,
//! so the loom models explore every interleaving of the real code.

//!
//! `Arc` is always `std`'s: it carries no ordering of its own worth modelling, and unsized coercion
//! (`Arc<dyn Trait>`) needs the real one.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard, RwLock,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard, RwLock,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

/// Locks `mutex`, ignoring poison: the core never leaves its state half-updated across user code,
/// so a panic elsewhere must not take the scheduler down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
