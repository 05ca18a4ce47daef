//! A strictly FIFO semaphore (no barging), the one slot pool of the `naive`, `barrier` and `fifo`
//! strategies.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use smol::channel::{Receiver, Sender, bounded};

#[derive(Debug)]
struct State {
    free: usize,
    waiters: VecDeque<Sender<()>>,
}

/// Permits handed out in request order.
#[derive(Debug, Clone)]
pub(crate) struct FifoSemaphore {
    state: Arc<Mutex<State>>,
}

/// A held permit; dropping it hands the permit to the oldest waiter.
#[derive(Debug)]
pub(crate) struct Permit {
    state: Arc<Mutex<State>>,
}

impl FifoSemaphore {
    pub(crate) fn new(permits: usize) -> FifoSemaphore {
        FifoSemaphore {
            state: Arc::new(Mutex::new(State {
                free: permits,
                waiters: VecDeque::new(),
            })),
        }
    }

    /// Wait for a permit behind every earlier caller.
    pub(crate) async fn acquire(&self) -> Permit {
        let wait: Receiver<()> = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            // Waiters whose future was dropped before being served no longer hold their place.
            state.waiters.retain(|w| !w.is_closed());
            if state.free > 0 && state.waiters.is_empty() {
                state.free -= 1;
                return Permit {
                    state: self.state.clone(),
                };
            }
            let (tx, rx) = bounded(1);
            state.waiters.push_back(tx);
            rx
        };
        // The sender is only dropped after a successful hand-over or with the semaphore itself.
        let _ = wait.recv().await;
        Permit {
            state: self.state.clone(),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(next) = state.waiters.pop_front() {
            if next.try_send(()).is_ok() {
                return;
            }
        }
        state.free += 1;
    }
}
