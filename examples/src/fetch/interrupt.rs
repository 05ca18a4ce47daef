//! [`Interrupt`]: a one-way flag set on Ctrl-C (SIGINT) or SIGTERM, that running downloads await.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use event_listener::{Event, listener};

/// Set once, when the user interrupts the run; cheap to clone. Downloads race their work against
/// [`Interrupt::wait`] so that an interrupt drops them (and their temp files) at once.
#[derive(Clone, Default)]
pub struct Interrupt(Arc<Inner>);

#[derive(Default)]
struct Inner {
    set: AtomicBool,
    event: Event,
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Interrupt").field(&self.is_set()).finish()
    }
}

impl Interrupt {
    /// A flag not yet set.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        self.0.set.store(true, Ordering::SeqCst);
        self.0.event.notify(usize::MAX);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.0.set.load(Ordering::SeqCst)
    }

    /// Resolves once the flag is set (at once if it already is). Cancel-safe; waits forever if
    /// nobody sets it.
    pub async fn wait(&self) {
        loop {
            if self.is_set() {
                return;
            }
            listener!(self.0.event => heard);
            if self.is_set() {
                return;
            }
            heard.await;
        }
    }

    /// Sets the flag on the first SIGINT or SIGTERM this process receives, from a task on
    /// `executor`; the signals' default action is replaced while the task lives. A second signal
    /// ends the process at once (exit status 130), clean-up or not.
    /// Returns `None` where signals cannot be watched (then Ctrl-C ends the process as usual).
    pub fn on_signals(&self, executor: &smol::Executor<'static>) -> Option<smol::Task<()>> {
        use async_signal::{Signal, Signals};
        use futures_lite::StreamExt as _;
        let mut signals = Signals::new([Signal::Int, Signal::Term]).ok()?;
        let flag = self.clone();
        Some(executor.spawn(async move {
            if signals.next().await.is_some() {
                flag.set();
            }
            // A second one means the user will not wait for the clean-up.
            if signals.next().await.is_some() {
                std::process::exit(super::EXIT_INTERRUPTED);
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_wake_when_set() {
        let flag = Interrupt::new();
        let waiter = {
            let flag = flag.clone();
            std::thread::spawn(move || {
                let woken = async {
                    flag.wait().await;
                    true
                };
                let timeout = async {
                    smol::Timer::after(std::time::Duration::from_secs(10)).await;
                    false
                };
                smol::block_on(futures_lite::future::or(woken, timeout))
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!flag.is_set());
        flag.set();
        assert!(
            waiter.join().unwrap(),
            "the waiter was not woken within 10 s"
        );
        // Already set: returns at once.
        smol::block_on(flag.wait());
    }
}
