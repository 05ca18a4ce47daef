//! The one deadline of the workspace's scheduler tests: every wait a test makes is bounded by
//! [`within`] (or [`within_limit`] for a whole test body), so a hang is a failure that names what
//! was awaited rather than a stuck CI.
//!
//! The deadline's timer is `async-io`'s, which runs on its own thread when nothing else drives it,
//! so it fires under any executor — tokio, smol, a plain `block_on` — and even after the runtime
//! under test has shut down. Deadlines bound waits; they never order anything (gates and events do
//! that), so a loaded machine makes a test slower, never wrong.

use std::future::Future;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures_lite::FutureExt;

use crate::task::plain_thread;

/// How long a whole test body may run before it counts as hung.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// How long one awaited step ([`within`]) may take before it counts as hung.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test with `what` if it takes longer than [`STEP_TIMEOUT`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    within_limit(STEP_TIMEOUT, what, future).await
}

/// [`within`] with another limit than [`STEP_TIMEOUT`]: for whole test bodies.
pub async fn within_limit<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    let deadline = smol::Timer::after(limit);
    match async { Some(future.await) }
        .or(async {
            deadline.await;
            None
        })
        .await
    {
        Some(value) => value,
        None => panic!("hung for {limit:?} waiting for: {what}"),
    }
}

/// Runs blocking code `f` on a thread of its own and returns its result, failing the test with
/// `what` if it is not done within [`TEST_TIMEOUT`]: for tests that build and drop their runtime
/// themselves, or call `get_blocking`, which no future can interrupt.
pub fn on_thread_within<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let task = plain_thread(format!("{what}-thread"), f);
    futures_lite::future::block_on(within_limit(TEST_TIMEOUT, what, task))
}

/// Aborts the process if a test does not finish in time even though its deadline should have
/// fired: that only happens when the thread awaiting it is blocked (a deadlock), which no future
/// can end. A backstop behind [`within_limit`], not a deadline of its own.
pub(crate) struct Watchdog(mpsc::Sender<()>);

impl Watchdog {
    /// Aborts the process after `limit` unless dropped first.
    pub(crate) fn arm(what: String, limit: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    eprintln!(
                        "watchdog: {what} did not finish within {limit:?} and its deadline could \
                         not fire (a thread is blocked: deadlock?); aborting the test process"
                    );
                    std::process::abort();
                }
            })
            .expect("spawn the watchdog");
        Watchdog(tx)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}
