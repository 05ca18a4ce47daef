//! The executors every behaviour runs under, and the context a test body gets.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use fetch_scheduler::{BoxFuture, Runtime};
use fetch_scheduler_smol::SmolRuntime;
use fetch_scheduler_tokio::TokioRuntime;
use futures_lite::FutureExt;
use futures_util::future::{AbortHandle, Abortable};

use crate::deadline::{TEST_TIMEOUT, Watchdog, within, within_limit};
use crate::gate::Gate;
use crate::panics::quiet_scripted_panics;
use crate::task::{Outcome, Task, plain_thread};

/// The executors the behaviour suite runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exec {
    /// A tokio multi-thread runtime with two workers; the test body runs on the test thread.
    TokioMultiThread,
    /// A tokio current-thread runtime: the test body *and every job* run on the test thread, so a
    /// test must never block it (use [`Ctx::thread`] for `get_blocking`).
    TokioCurrentThread,
    /// A smol `Executor` run by three threads; the test body runs on the test thread.
    Smol,
}

impl fmt::Display for Exec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Exec::TokioMultiThread => "tokio multi-thread",
            Exec::TokioCurrentThread => "tokio current-thread",
            Exec::Smol => "smol (3 threads)",
        })
    }
}

const SMOL_THREADS: usize = 3;

/// A [`Runtime`] for any of the three executors, delegating to the adapter crates.
#[derive(Clone, Debug)]
pub enum AnyRuntime {
    /// `fetch_scheduler_tokio::TokioRuntime::new(handle)`.
    Tokio(TokioRuntime),
    /// `fetch_scheduler_smol::SmolRuntime::new(executor)`.
    Smol(SmolRuntime),
}

impl Runtime for AnyRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        match self {
            AnyRuntime::Tokio(rt) => rt.spawn(task),
            AnyRuntime::Smol(rt) => rt.spawn(task),
        }
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        match self {
            AnyRuntime::Tokio(rt) => rt.sleep(duration),
            AnyRuntime::Smol(rt) => rt.sleep(duration),
        }
    }
}

#[derive(Clone)]
enum Spawner {
    Tokio(tokio::runtime::Handle),
    Smol(Arc<smol::Executor<'static>>),
}

/// What a test body gets: the executor it runs under and everything it needs from it.
#[derive(Clone)]
pub struct Ctx {
    exec: Exec,
    name: Arc<str>,
    spawner: Spawner,
    runtime: AnyRuntime,
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("exec", &self.exec)
            .field("test", &self.name)
            .finish()
    }
}

impl Ctx {
    /// Which executor this is.
    pub fn exec(&self) -> Exec {
        self.exec
    }

    /// The scheduler runtime for this executor (through the adapter crates).
    pub fn runtime(&self) -> AnyRuntime {
        self.runtime.clone()
    }

    /// Spawns `future` on this executor.
    pub fn spawn<T, F>(&self, future: F) -> Task<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (handle, registration) = AbortHandle::new_pair();
        let (task, shared) = Task::new(Some(handle));
        let wrapped = async move {
            let abortable = Abortable::new(future, registration);
            let outcome = match AssertUnwindSafe(abortable).catch_unwind().await {
                Ok(Ok(value)) => Outcome::Done(value),
                Ok(Err(_aborted)) => Outcome::Aborted,
                Err(payload) => Outcome::Panicked(payload),
            };
            Task::finish(&shared, outcome);
        };
        match &self.spawner {
            Spawner::Tokio(handle) => drop(handle.spawn(wrapped)),
            Spawner::Smol(executor) => executor.spawn(wrapped).detach(),
        }
        task
    }

    /// Runs `f` on a new plain thread (no runtime context: the "rayon" side of an installer).
    /// Await the returned task instead of joining, so a current-thread runtime keeps running.
    pub fn thread<T, F>(&self, f: F) -> Task<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        plain_thread(format!("{}-plain", self.name), f)
    }

    /// Awaits `future`, failing the test with `what` (and this test's name and executor) if it
    /// takes longer than [`STEP_TIMEOUT`](crate::STEP_TIMEOUT): [`within`] for a test body.
    pub async fn within<T>(&self, what: &str, future: impl Future<Output = T>) -> T {
        let what = format!("`{}` on {}: {what}", self.name, self.exec);
        within(&what, future).await
    }
}

enum Backend {
    Tokio(Option<tokio::runtime::Runtime>),
    Smol {
        stop: Arc<Gate>,
        threads: Vec<thread::JoinHandle<()>>,
    },
}

impl Drop for Backend {
    fn drop(&mut self) {
        match self {
            Backend::Tokio(rt) => {
                if let Some(rt) = rt.take() {
                    rt.shutdown_timeout(Duration::from_secs(5));
                }
            }
            Backend::Smol { stop, threads, .. } => {
                stop.open();
                for t in threads.drain(..) {
                    let _ = t.join();
                }
            }
        }
    }
}

/// Runs the test body `body` under `exec`, failing with a message if it takes longer than
/// [`TEST_TIMEOUT`].
///
/// The body runs on the calling thread (`block_on`); jobs run on the executor's threads (on the
/// calling thread too for [`Exec::TokioCurrentThread`]).
pub fn run<F, Fut>(exec: Exec, name: &str, body: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    run_with_timeout(exec, name, TEST_TIMEOUT, body);
}

/// [`run`] with another time limit than [`TEST_TIMEOUT`] (for long stress runs).
pub fn run_with_timeout<F, Fut>(exec: Exec, name: &str, limit: Duration, body: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    quiet_scripted_panics();
    let (backend, spawner, runtime) = match exec {
        Exec::TokioMultiThread | Exec::TokioCurrentThread => {
            let rt = if exec == Exec::TokioMultiThread {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            }
            .expect("build a tokio runtime");
            let handle = rt.handle().clone();
            (
                Backend::Tokio(Some(rt)),
                Spawner::Tokio(handle.clone()),
                AnyRuntime::Tokio(TokioRuntime::new(handle)),
            )
        }
        Exec::Smol => {
            let executor = Arc::new(smol::Executor::new());
            let stop = Gate::new();
            let threads = (0..SMOL_THREADS)
                .map(|i| {
                    let executor = Arc::clone(&executor);
                    let stop = Arc::clone(&stop);
                    thread::Builder::new()
                        .name(format!("smol-{i}"))
                        .spawn(move || smol::block_on(executor.run(stop.wait())))
                        .expect("spawn a smol thread")
                })
                .collect();
            (
                Backend::Smol { stop, threads },
                Spawner::Smol(Arc::clone(&executor)),
                AnyRuntime::Smol(SmolRuntime::new(&executor)),
            )
        }
    };
    let ctx = Ctx {
        exec,
        name: Arc::from(name),
        spawner,
        runtime,
    };
    let _watchdog = Watchdog::arm(
        format!("`{name}` on {exec}"),
        limit + Duration::from_secs(15),
    );
    let what = format!("`{name}` on {exec} to end");
    let body = within_limit(limit, &what, body(ctx));
    match &backend {
        Backend::Tokio(Some(rt)) => rt.block_on(body),
        Backend::Tokio(None) => unreachable!("the runtime lives until the backend drops"),
        Backend::Smol { .. } => smol::block_on(body),
    }
    drop(backend);
}

/// Generates `mod tokio_mt`, `mod tokio_ct` and `mod smol`, each with one `#[test]` per listed
/// behaviour: `async fn name(ctx: Ctx)` in the calling module, run with [`run`].
///
/// ```text
/// async fn single_flight(ctx: Ctx) { /* … */ }
/// fetch_scheduler_tests::for_each_executor!(single_flight, join);
/// ```
#[macro_export]
macro_rules! for_each_executor {
    ($($name:ident),* $(,)?) => {
        /// The behaviours under a tokio multi-thread runtime.
        mod tokio_mt {
            $(
                #[test]
                fn $name() {
                    $crate::run($crate::Exec::TokioMultiThread, stringify!($name), super::$name);
                }
            )*
        }
        /// The behaviours under a tokio current-thread runtime.
        mod tokio_ct {
            $(
                #[test]
                fn $name() {
                    $crate::run($crate::Exec::TokioCurrentThread, stringify!($name), super::$name);
                }
            )*
        }
        /// The behaviours under a smol executor on three threads.
        mod smol {
            $(
                #[test]
                fn $name() {
                    $crate::run($crate::Exec::Smol, stringify!($name), super::$name);
                }
            )*
        }
    };
}
