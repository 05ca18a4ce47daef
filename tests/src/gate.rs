//! A latch that async code and plain threads alike can wait on.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Locks `mutex`, ignoring poison: a panicking test thread must not hide the real failure.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runtime-free (works on tokio, smol, shuttle and plain threads).
#[derive(Debug, Default)]
pub struct Gate {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Arc<Self> {
        Arc::new(Gate::default())
    }

    /// Opens the gate for good and wakes every waiter.
    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *lock(&self.wakers));
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether [`open`](Gate::open) was called.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    /// Resolves once the gate is open.
    pub fn wait(self: &Arc<Self>) -> GateWait {
        GateWait {
            gate: Arc::clone(self),
        }
    }
}

/// The future of [`Gate::wait`].
#[derive(Debug)]
pub struct GateWait {
    gate: Arc<Gate>,
}

impl Future for GateWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.gate.is_open() {
            return Poll::Ready(());
        }
        let mut wakers = lock(&self.gate.wakers);
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        // Checked again under the lock `open` takes after setting the flag: no lost wakeup.
        if self.gate.is_open() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
