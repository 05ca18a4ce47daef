//! Retry backoffs that last exactly as long as a test needs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fetch_scheduler::{BoxFuture, Runtime};

use crate::exec::AnyRuntime;
use crate::gate::{Gate, lock};

/// A [`Runtime`] that spawns on a real executor but whose sleeps (retry backoffs) end only when
/// the test calls [`fire`](ManualTimers::fire): backoffs last exactly as long as a test needs.
#[derive(Clone, Debug)]
pub struct ManualTimers {
    runtime: AnyRuntime,
    pending: Arc<Mutex<Vec<Arc<Gate>>>>,
    /// Notified whenever a sleep starts.
    started: Arc<event_listener::Event>,
}

impl ManualTimers {
    /// Spawns through `runtime`; sleeps wait for [`fire`](ManualTimers::fire).
    pub fn new(runtime: AnyRuntime) -> Self {
        ManualTimers {
            runtime,
            pending: Arc::default(),
            started: Arc::default(),
        }
    }

    /// Sleeps started and not fired yet.
    pub fn pending(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Resolves once `n` sleeps are pending (the scheduler starts a backoff's sleep just after
    /// the lock hold that sent its `Retrying` event, so the event alone does not tell).
    pub async fn until_pending(&self, n: usize) {
        loop {
            let listener = self.started.listen();
            if self.pending() >= n {
                return;
            }
            listener.await;
        }
    }

    /// Ends every sleep started so far.
    pub fn fire(&self) {
        let gates = std::mem::take(&mut *lock(&self.pending));
        for gate in gates {
            gate.open();
        }
    }
}

impl Runtime for ManualTimers {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.runtime.spawn(task);
    }

    fn sleep(&self, _duration: Duration) -> BoxFuture<'static, ()> {
        let gate = Gate::new();
        lock(&self.pending).push(Arc::clone(&gate));
        self.started.notify(usize::MAX);
        Box::pin(gate.wait())
    }
}
