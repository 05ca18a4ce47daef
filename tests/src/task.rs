//! Tasks and plain threads a test starts, awaited like futures, their panics resumed in the test.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;

use futures_util::future::AbortHandle;

use crate::gate::{Gate, lock};

/// How a spawned task or thread ended.
pub(crate) enum Outcome<T> {
    Done(T),
    Panicked(Box<dyn Any + Send>),
    Aborted,
}

pub(crate) struct TaskShared<T> {
    outcome: Mutex<Option<Outcome<T>>>,
    done: Arc<Gate>,
}

/// A task spawned with [`Ctx::spawn`](crate::Ctx::spawn) or a thread started with [`Ctx::thread`](crate::Ctx::thread). Awaiting it gives
/// its output; **a panic inside it resumes in the awaiting test**, so assertions in tasks count.
pub struct Task<T> {
    shared: Arc<TaskShared<T>>,
    abort: Option<AbortHandle>,
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("finished", &self.shared.done.is_open())
            .finish()
    }
}

impl<T: Send + 'static> Task<T> {
    pub(crate) fn new(abort: Option<AbortHandle>) -> (Self, Arc<TaskShared<T>>) {
        let shared = Arc::new(TaskShared {
            outcome: Mutex::new(None),
            done: Gate::new(),
        });
        (
            Task {
                shared: Arc::clone(&shared),
                abort,
            },
            shared,
        )
    }

    pub(crate) fn finish(shared: &TaskShared<T>, outcome: Outcome<T>) {
        *lock(&shared.outcome) = Some(outcome);
        shared.done.open();
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.shared.done.is_open()
    }

    /// Aborts the task (drops its future at its next poll) and resolves once it is gone; returns
    /// whether it was still running, i.e. really aborted rather than already finished.
    ///
    /// # Panics
    /// If the task was a thread, or it panicked.
    pub async fn abort(mut self) -> bool {
        self.abort
            .take()
            .expect("only tasks can be aborted, not threads")
            .abort();
        self.shared.done.wait().await;
        match lock(&self.shared.outcome).take() {
            Some(Outcome::Aborted) => true,
            Some(Outcome::Done(_)) => false,
            Some(Outcome::Panicked(p)) => resume_unwind(p),
            None => unreachable!("the done gate opens after the outcome is set"),
        }
    }
}

impl<T: Send + 'static> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut wait = self.shared.done.wait();
        futures_lite::ready!(Pin::new(&mut wait).poll(cx));
        let outcome = lock(&self.shared.outcome).take();
        self.abort = None;
        match outcome {
            Some(Outcome::Done(value)) => Poll::Ready(value),
            Some(Outcome::Panicked(payload)) => resume_unwind(payload),
            Some(Outcome::Aborted) => panic!("awaited a task that was aborted"),
            None => panic!("Task polled after it completed"),
        }
    }
}

/// Runs `f` on a new plain thread named `name` (no runtime context: the "rayon" side of an
/// installer). Await the returned task instead of joining, so a current-thread runtime keeps
/// running, and under [`within`](crate::within), so a thread that never ends fails the test.
pub fn plain_thread<T, F>(name: String, f: F) -> Task<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (task, shared) = Task::new(None);
    thread::Builder::new()
        .name(name)
        .spawn(move || {
            let outcome = match catch_unwind(AssertUnwindSafe(f)) {
                Ok(value) => Outcome::Done(value),
                Err(payload) => Outcome::Panicked(payload),
            };
            Task::finish(&shared, outcome);
        })
        .expect("spawn a plain thread");
    task
}
