//! The test harness of `fetch-scheduler`, written once and shared by every test of this crate.
//!
//! - [`Exec`] names the three executors every behaviour runs under: tokio multi-thread, tokio
//!   current-thread and a smol [`Executor`](smol::Executor) driven by three threads. [`run`] builds
//!   one, hands the test body a [`Ctx`] (the matching [`fetch_scheduler::Runtime`], task and thread
//!   spawning, sleeping, per-step timeouts) and drives the body **under a timeout**, so a hang is a
//!   failure with a message rather than a stuck CI. A watchdog aborts the process if a thread is
//!   blocked so hard that even the timeout cannot fire.
//! - [`Fake`] is a controllable fetcher: per-key [`Gate`]s that hold attempts until the test opens
//!   them, scripted outcomes per attempt ([`Step`]: success, transient or permanent error, panic),
//!   counters of calls per key, a detector of two attempts of one key running at once, and a log of
//!   every call with the priority the attempt saw.
//! - [`check_stats`], [`check_capacity`] and [`check_events_match_stats`] state the invariants
//!   every test ends with: the counters add up, no slot or waiter is leaked, demand never waits while
//!   a slot it may take is free, and each happening produced exactly one event.
//!
//! Ordering in tests relies on gates and events, never on sleeps.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use fetch_scheduler::{
    BoxFuture, ErrorClass, Event, EventKind, Events, FailCause, Fetch, JobContext, Priority,
    RetryPolicy, Runtime, Scheduler, Stats,
};
use fetch_scheduler_smol::SmolRuntime;
use fetch_scheduler_tokio::TokioRuntime;
use futures_lite::FutureExt;
use futures_util::future::{AbortHandle, Abortable};

/// How long a whole test body may run before it counts as hung.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// How long one awaited step ([`Ctx::within`]) may take before it counts as hung.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Marker in the message of every panic a [`Fake`] throws on purpose; the panic hook installed by
/// [`quiet_scripted_panics`] keeps them off stderr.
pub const SCRIPTED_PANIC: &str = "scripted panic";

// ---- keys, values, errors ------------------------------------------------------------------------

/// The key type of every test scheduler.
pub type Key = u64;

/// The value type of every test scheduler: [`value_of`] the key and the attempt that produced it.
pub type Value = u64;

/// The scheduler every test builds.
pub type TestScheduler = Scheduler<Key, Value, FetchError>;

/// The value attempt `attempt` of `key` produces, so a test can tell which attempt answered.
pub fn value_of(key: Key, attempt: u32) -> Value {
    key * 1000 + u64::from(attempt)
}

/// The error a [`Fake`] returns: which key, which attempt, and whether it is permanent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchError {
    /// The key that failed.
    pub key: Key,
    /// The attempt that failed (0 for a direct [`Fake::download`]).
    pub attempt: u32,
    /// Whether [`classify`] calls it permanent.
    pub permanent: bool,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.permanent {
            "permanent"
        } else {
            "transient"
        };
        write!(
            f,
            "scripted {kind} error: key {} attempt {}",
            self.key, self.attempt
        )
    }
}

impl std::error::Error for FetchError {}

/// The classify function tests give the builder: [`FetchError::permanent`] decides.
pub fn classify(error: &FetchError) -> ErrorClass {
    if error.permanent {
        ErrorClass::Permanent
    } else {
        ErrorClass::Transient
    }
}

/// A scheduler over `fake` on `ctx`'s runtime with `concurrency` slots, `reserved` of them for
/// demand, no retry, and [`classify`].
pub fn build(ctx: &Ctx, fake: &Fake, concurrency: usize, reserved: usize) -> TestScheduler {
    build_with_retry(ctx, fake, concurrency, reserved, RetryPolicy::never())
}

/// [`build`] with a retry policy.
pub fn build_with_retry(
    ctx: &Ctx,
    fake: &Fake,
    concurrency: usize,
    reserved: usize,
    retry: RetryPolicy,
) -> TestScheduler {
    Scheduler::builder()
        .concurrency(concurrency)
        .reserved_for_demand(reserved)
        .retry(retry)
        .classify(classify)
        .build(ctx.runtime(), fake.clone())
        .expect("valid test configuration")
}

// ---- small sync tools ----------------------------------------------------------------------------

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A latch: [`wait`](Gate::wait) futures stay pending until [`open`](Gate::open) is called once.
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

/// How a spawned task or thread ended.
enum Outcome<T> {
    Done(T),
    Panicked(Box<dyn Any + Send>),
    Aborted,
}

struct TaskShared<T> {
    outcome: Mutex<Option<Outcome<T>>>,
    done: Arc<Gate>,
}

/// A task spawned with [`Ctx::spawn`] or a thread started with [`Ctx::thread`]. Awaiting it gives
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
    fn new(abort: Option<AbortHandle>) -> (Self, Arc<TaskShared<T>>) {
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

    fn finish(shared: &TaskShared<T>, outcome: Outcome<T>) {
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

// ---- panics --------------------------------------------------------------------------------------

/// The message of a panic payload, if it is a string.
pub fn panic_text(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Installs (once per process) a panic hook that stays silent for the panics a [`Fake`] throws on
/// purpose (they contain [`SCRIPTED_PANIC`]) and hands every other panic to the hook installed
/// before it. Call it after any other hook is in place (shuttle installs one on its first run).
pub fn quiet_scripted_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if panic_text(info.payload()).is_some_and(|m| m.contains(SCRIPTED_PANIC)) {
                return;
            }
            previous(info);
        }));
    });
}

// ---- executors -----------------------------------------------------------------------------------

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

/// A [`Runtime`] that spawns on a real executor but whose sleeps (retry backoffs) end only when
/// the test calls [`fire`](ManualTimers::fire): backoffs last exactly as long as a test needs.
#[derive(Clone, Debug)]
pub struct ManualTimers {
    runtime: AnyRuntime,
    pending: Arc<Mutex<Vec<Arc<Gate>>>>,
}

impl ManualTimers {
    /// Spawns through `runtime`; sleeps wait for [`fire`](ManualTimers::fire).
    pub fn new(runtime: AnyRuntime) -> Self {
        ManualTimers {
            runtime,
            pending: Arc::default(),
        }
    }

    /// Sleeps started and not fired yet.
    pub fn pending(&self) -> usize {
        lock(&self.pending).len()
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
        Box::pin(gate.wait())
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

    /// Sleeps on this executor's timer. Tests use it only for pacing, never to order things.
    pub fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.runtime.sleep(duration)
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
        let (task, shared) = Task::new(None);
        thread::Builder::new()
            .name(format!("{}-plain", self.name))
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

    /// Awaits `future`, failing the test with `what` if it takes longer than [`STEP_TIMEOUT`].
    pub async fn within<T>(&self, what: &str, future: impl Future<Output = T>) -> T {
        let timeout = self.sleep(STEP_TIMEOUT);
        match async { Some(future.await) }
            .or(async {
                timeout.await;
                None
            })
            .await
        {
            Some(value) => value,
            None => panic!(
                "`{}` on {}: hung for {STEP_TIMEOUT:?} waiting for: {what}",
                self.name, self.exec
            ),
        }
    }

    /// Resolves once `cond` holds, checking it every millisecond; fails the test with `what` after
    /// [`STEP_TIMEOUT`]. For conditions no event announces (e.g. a gauge of [`Stats`]); never used to
    /// order things.
    pub async fn eventually(&self, what: &str, mut cond: impl FnMut() -> bool) {
        self.within(what, async {
            while !cond() {
                self.sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
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

/// Aborts the process if the test does not finish in time even though the async timeout should
/// have fired: that only happens when a thread is blocked (a deadlock), which no future can end.
struct Watchdog(mpsc::Sender<()>);

impl Watchdog {
    fn arm(what: String, limit: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    eprintln!(
                        "watchdog: {what} did not finish within {limit:?} and its timeout could not \
                         fire (a thread is blocked: deadlock?); aborting the test process"
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

/// Runs `f` on a thread of its own and fails the test if it is not done within
/// [`TEST_TIMEOUT`]: for tests that build their runtime themselves.
pub fn on_thread_within<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(TEST_TIMEOUT)
        .unwrap_or_else(|_| panic!("{what}: still waiting after {TEST_TIMEOUT:?}"))
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
    let timeout = ctx.sleep(limit);
    let body = body(ctx);
    let timed = async {
        async {
            body.await;
            true
        }
        .or(async {
            timeout.await;
            false
        })
        .await
    };
    let finished = match &backend {
        Backend::Tokio(Some(rt)) => rt.block_on(timed),
        Backend::Tokio(None) => unreachable!("the runtime lives until the backend drops"),
        Backend::Smol { .. } => smol::block_on(timed),
    };
    assert!(
        finished,
        "`{name}` on {exec}: still running after {limit:?}: a hang"
    );
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

// ---- the fake fetcher ----------------------------------------------------------------------------

/// What one attempt of a [`Fake`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Returns [`value_of`] the key and attempt.
    Succeed,
    /// Returns a transient [`FetchError`].
    Fail,
    /// Returns a permanent [`FetchError`].
    FailPermanently,
    /// Panics inside the future.
    Panic,
    /// Panics in the synchronous `fetch` call, before any future exists.
    PanicBeforeFuture,
}

/// Odds, in per mille, of each outcome of an unscripted attempt of a randomized [`Fake`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Odds {
    /// Transient errors.
    pub fail: u32,
    /// Permanent errors.
    pub permanent: u32,
    /// Panics (half in the future, half before it).
    pub panic: u32,
}

/// One recorded call of a [`Fake`].
#[derive(Clone, Debug)]
pub struct Call {
    /// The key.
    pub key: Key,
    /// The attempt number the scheduler gave (0 for a direct [`Fake::download`]).
    pub attempt: u32,
    /// What the call was scripted to do.
    pub step: Step,
    /// The job's priority when the attempt started (`None` for a direct download).
    pub priority_at_start: Option<Priority>,
    /// The job's priority when the attempt ended, if it has.
    pub priority_at_end: Option<Priority>,
}

#[derive(Default)]
struct FakeState {
    scripts: HashMap<Key, VecDeque<Step>>,
    gates: HashMap<Key, Arc<Gate>>,
    hold_all: bool,
    random: Option<(fastrand::Rng, Odds)>,
    yields: usize,
    busy: Duration,
    keep_log: bool,
    calls: HashMap<Key, u32>,
    ended: HashMap<Key, u32>,
    running: HashMap<Key, u32>,
    running_total: usize,
    max_running_total: usize,
    total_calls: u64,
    overlaps: Vec<Key>,
    log: Vec<Call>,
}

struct FakeInner {
    state: Mutex<FakeState>,
    changed: event_listener::Event,
}

/// A controllable fetcher, shared by clones.
///
/// By default every attempt succeeds at once. [`hold`](Fake::hold) makes a key's attempts wait
/// until [`release`](Fake::release); [`script`](Fake::script) queues outcomes per attempt;
/// [`randomize`](Fake::randomize) draws outcomes of unscripted attempts. It counts calls per key,
/// records each call, and notes every time an attempt of a key starts while another attempt of the
/// same key is still running ([`overlaps`](Fake::overlaps): must stay empty under the scheduler).
#[derive(Clone)]
pub struct Fake {
    inner: Arc<FakeInner>,
}

impl Default for Fake {
    fn default() -> Self {
        Fake::new()
    }
}

impl fmt::Debug for Fake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state();
        f.debug_struct("Fake")
            .field("total_calls", &s.total_calls)
            .field("running_total", &s.running_total)
            .field("overlaps", &s.overlaps)
            .finish()
    }
}

impl Fake {
    /// A fetcher whose attempts all succeed at once, with a call log.
    pub fn new() -> Self {
        Fake {
            inner: Arc::new(FakeInner {
                state: Mutex::new(FakeState {
                    keep_log: true,
                    ..FakeState::default()
                }),
                changed: event_listener::Event::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        lock(&self.inner.state)
    }

    fn changed(&self) {
        self.inner.changed.notify(usize::MAX);
    }

    /// Makes every later attempt of `key` wait until [`release`](Fake::release) (a fresh, closed
    /// gate: attempts already past an old gate are not affected).
    pub fn hold(&self, key: Key) {
        self.state().gates.insert(key, Gate::new());
    }

    /// Holds every key that has no gate yet, until released one by one or by
    /// [`release_all`](Fake::release_all).
    pub fn hold_all(&self) {
        self.state().hold_all = true;
    }

    /// Opens `key`'s gate: its waiting attempt proceeds, and later ones do not wait.
    pub fn release(&self, key: Key) {
        let gate = Arc::clone(self.state().gates.entry(key).or_default());
        gate.open();
    }

    /// Opens every gate and stops holding keys.
    pub fn release_all(&self) {
        let gates: Vec<Arc<Gate>> = {
            let mut s = self.state();
            s.hold_all = false;
            s.gates.values().cloned().collect()
        };
        for gate in gates {
            gate.open();
        }
    }

    /// Queues outcomes for the next attempts of `key`, in order; after them, attempts succeed (or
    /// draw at random).
    pub fn script(&self, key: Key, steps: impl IntoIterator<Item = Step>) {
        self.state().scripts.entry(key).or_default().extend(steps);
    }

    /// Draws the outcome of every unscripted attempt from `odds` with a generator seeded by `seed`.
    pub fn randomize(&self, seed: u64, odds: Odds) {
        self.state().random = Some((fastrand::Rng::with_seed(seed), odds));
    }

    /// Yields to the executor `times` times inside every attempt (more interleavings).
    pub fn yields(&self, times: usize) {
        self.state().yields = times;
    }

    /// Makes every attempt compute for `busy` (a spin, no await) before anything else, as a fetcher
    /// that hashes or unpacks synchronously would.
    pub fn busy(&self, busy: Duration) {
        self.state().busy = busy;
    }

    /// Stops recording the per-call log (counters stay), for long stress runs.
    pub fn without_log(&self) {
        self.state().keep_log = false;
    }

    /// Attempts of `key` started so far.
    pub fn calls(&self, key: Key) -> u32 {
        self.state().calls.get(&key).copied().unwrap_or(0)
    }

    /// Attempts of `key` that have ended (returned or panicked).
    pub fn ended(&self, key: Key) -> u32 {
        self.state().ended.get(&key).copied().unwrap_or(0)
    }

    /// Attempts of all keys started so far.
    pub fn total_calls(&self) -> u64 {
        self.state().total_calls
    }

    /// Attempts running right now.
    pub fn running(&self) -> usize {
        self.state().running_total
    }

    /// The most attempts that ever ran at once.
    pub fn max_running(&self) -> usize {
        self.state().max_running_total
    }

    /// Keys whose attempt started while another attempt of the same key was still running.
    pub fn overlaps(&self) -> Vec<Key> {
        self.state().overlaps.clone()
    }

    /// Every call so far, in start order.
    pub fn log(&self) -> Vec<Call> {
        self.state().log.clone()
    }

    /// The keys in the order their attempts started.
    pub fn start_order(&self) -> Vec<Key> {
        self.state().log.iter().map(|c| c.key).collect()
    }

    /// Keys with more than one attempt started, for duplicate counting.
    pub fn keys_called_more_than_once(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .state()
            .calls
            .iter()
            .filter(|&(_, &n)| n > 1)
            .map(|(&k, _)| k)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Resolves once `cond` holds; re-checked after every start and end of an attempt.
    pub async fn until(&self, mut cond: impl FnMut(&Fake) -> bool) {
        loop {
            let listener = self.inner.changed.listen();
            if cond(self) {
                return;
            }
            listener.await;
        }
    }

    /// Resolves once `key` has had `n` attempts started.
    pub async fn started(&self, key: Key, n: u32) {
        self.until(|f| f.calls(key) >= n).await;
    }

    /// Records the start of an attempt; decides its step and gate.
    fn begin(
        &self,
        key: Key,
        attempt: u32,
        priority: Option<Priority>,
    ) -> (Step, Option<Arc<Gate>>, (usize, Duration), Option<usize>) {
        let mut guard = self.state();
        let s = &mut *guard;
        s.total_calls += 1;
        *s.calls.entry(key).or_insert(0) += 1;
        let running = s.running.entry(key).or_insert(0);
        *running += 1;
        if *running > 1 {
            s.overlaps.push(key);
        }
        s.running_total += 1;
        s.max_running_total = s.max_running_total.max(s.running_total);
        let scripted = s.scripts.get_mut(&key).and_then(VecDeque::pop_front);
        let step = match (scripted, &mut s.random) {
            (Some(step), _) => step,
            (None, Some((rng, odds))) => {
                let roll = rng.u32(0..1000);
                if roll < odds.fail {
                    Step::Fail
                } else if roll < odds.fail + odds.permanent {
                    Step::FailPermanently
                } else if roll < odds.fail + odds.permanent + odds.panic {
                    if roll % 2 == 0 {
                        Step::Panic
                    } else {
                        Step::PanicBeforeFuture
                    }
                } else {
                    Step::Succeed
                }
            }
            (None, None) => Step::Succeed,
        };
        let gate = match s.gates.get(&key) {
            Some(gate) => Some(Arc::clone(gate)),
            None if s.hold_all => Some(Arc::clone(s.gates.entry(key).or_default())),
            None => None,
        };
        let index = s.keep_log.then(|| {
            s.log.push(Call {
                key,
                attempt,
                step,
                priority_at_start: priority,
                priority_at_end: None,
            });
            s.log.len() - 1
        });
        let pace = (s.yields, s.busy);
        drop(guard);
        self.changed();
        (step, gate, pace, index)
    }

    /// Records the end of an attempt.
    fn end(&self, key: Key, index: Option<usize>, priority: Option<Priority>) {
        {
            let mut s = self.state();
            *s.running.get_mut(&key).expect("began") -= 1;
            s.running_total -= 1;
            *s.ended.entry(key).or_insert(0) += 1;
            if let Some(i) = index {
                s.log[i].priority_at_end = priority;
            }
        }
        self.changed();
    }

    fn attempt_future(
        &self,
        key: Key,
        attempt: u32,
        cx: Option<JobContext>,
    ) -> impl Future<Output = Result<Value, FetchError>> + Send + 'static {
        // Reported before the start is recorded, so a test that saw the start sees the progress.
        if let Some(cx) = &cx {
            cx.progress(u64::from(attempt) * 10, Some(100));
        }
        let (step, gate, (yields, busy), index) =
            self.begin(key, attempt, cx.as_ref().map(JobContext::priority));
        if step == Step::PanicBeforeFuture {
            self.end(key, index, None);
            panic!("{SCRIPTED_PANIC} before the future: key {key} attempt {attempt}");
        }
        let this = self.clone();
        async move {
            let began = std::time::Instant::now();
            while began.elapsed() < busy {
                std::hint::spin_loop();
            }
            if let Some(gate) = gate {
                gate.wait().await;
            }
            for _ in 0..yields {
                futures_lite::future::yield_now().await;
            }
            this.end(key, index, cx.as_ref().map(JobContext::priority));
            let error = |permanent| FetchError {
                key,
                attempt,
                permanent,
            };
            match step {
                Step::Succeed => Ok(value_of(key, attempt)),
                Step::Fail => Err(error(false)),
                Step::FailPermanently => Err(error(true)),
                Step::Panic => panic!("{SCRIPTED_PANIC}: key {key} attempt {attempt}"),
                Step::PanicBeforeFuture => unreachable!("handled before the future"),
            }
        }
    }

    /// One download of `key` without any scheduler (the naive installer of pnpm/pnpm#12241):
    /// counted, gated and scripted like a scheduled attempt, with attempt number 0.
    pub fn download(
        &self,
        key: Key,
    ) -> impl Future<Output = Result<Value, FetchError>> + Send + 'static {
        self.attempt_future(key, 0, None)
    }
}

impl Fetch<Key, Value, FetchError> for Fake {
    fn fetch(
        &self,
        key: &Key,
        cx: JobContext,
    ) -> impl Future<Output = Result<Value, FetchError>> + Send + 'static {
        self.attempt_future(*key, cx.attempt(), Some(cx.clone()))
    }
}

// ---- invariants ----------------------------------------------------------------------------------

/// Checks one answer a waiter of `key` got: a value of that key, that key's error, or a panic of
/// that key's fetcher; `Closed` only if `closed_ok`.
pub fn check_answer(
    key: Key,
    answer: &Result<Value, fetch_scheduler::Error<FetchError>>,
    closed_ok: bool,
) -> Result<(), String> {
    use fetch_scheduler::Error;
    let ok = match answer {
        Ok(v) => v / 1000 == key && (1..1000).contains(&(v % 1000)),
        Err(Error::Failed(e)) => e.key == key && e.attempt >= 1,
        Err(Error::Panicked(msg)) => msg.contains(&format!("key {key} ")),
        Err(Error::Closed) => closed_ok,
        Err(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("key {key}: unexpected answer {answer:?}"))
    }
}

/// Checks the identities documented on [`Stats`]:
/// `queued_by_prefetch + queued_by_demand == succeeded + failed + panicked + aborted + cancelled + in_flight()`
/// and `attempts == succeeded + failed + panicked + interrupted + retries + running()`.
pub fn check_stats(s: &Stats) -> Result<(), String> {
    let created = s.queued_by_prefetch + s.queued_by_demand;
    let ended =
        s.succeeded + s.failed + s.panicked + s.aborted + s.cancelled + s.in_flight() as u64;
    if created != ended {
        return Err(format!(
            "jobs created ({created}) != ended + in flight ({ended}): {s:?}"
        ));
    }
    let attempts =
        s.succeeded + s.failed + s.panicked + s.interrupted + s.retries + s.running() as u64;
    if s.attempts != attempts {
        return Err(format!(
            "attempts ({}) != succeeded + failed + panicked + interrupted + retries + running ({attempts}): {s:?}",
            s.attempts
        ));
    }
    Ok(())
}

/// [`check_stats`], panicking.
pub fn assert_stats_add_up(s: &Stats) {
    if let Err(e) = check_stats(s) {
        panic!("stats do not add up: {e}");
    }
}

/// [`check_stats`], and nothing queued, running, backing off or waiting: no slot or waiter leaked.
pub fn check_settled(s: &Stats) -> Result<(), String> {
    check_stats(s)?;
    if s.in_flight() != 0 || s.running() != 0 || s.backing_off != 0 || s.waiters != 0 {
        return Err(format!(
            "not settled: in_flight {} running {} backing_off {} waiters {}: {s:?}",
            s.in_flight(),
            s.running(),
            s.backing_off,
            s.waiters
        ));
    }
    Ok(())
}

/// [`check_settled`], panicking.
pub fn assert_settled(s: &Stats) {
    if let Err(e) = check_settled(s) {
        panic!("{e}");
    }
}

/// The capacity rule, true after every operation: a demand is queued only while every slot is
/// taken, and a prefetch only while every slot or every prefetch slot is taken. (A queued demand
/// with a free slot is a demand waiting while a reserved slot is free.)
pub fn check_capacity(s: &Stats, concurrency: usize, reserved: usize) -> Result<(), String> {
    if s.running() > concurrency {
        return Err(format!(
            "{} slots held out of {concurrency}: {s:?}",
            s.running()
        ));
    }
    if s.queued_demand > 0 && s.running() < concurrency {
        return Err(format!(
            "{} demand(s) queued while only {} of {concurrency} slots are held: {s:?}",
            s.queued_demand,
            s.running()
        ));
    }
    if s.queued_prefetch > 0
        && s.running() < concurrency
        && s.running_prefetch < concurrency - reserved
    {
        return Err(format!(
            "{} prefetch(es) queued while a prefetch slot is free: {s:?}",
            s.queued_prefetch
        ));
    }
    Ok(())
}

/// A subscription to a scheduler's events that keeps everything it has seen.
pub struct Recorder {
    events: Events<Key>,
    seen: Vec<Event<Key>>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("seen", &self.seen.len())
            .finish()
    }
}

impl Recorder {
    /// Subscribes to `scheduler`'s events from now on.
    pub fn new(scheduler: &TestScheduler) -> Self {
        Recorder {
            events: scheduler.events(),
            seen: Vec::new(),
        }
    }

    /// Waits (at most [`STEP_TIMEOUT`]) for the next event matching `pred`, keeping every event it
    /// reads; returns the match.
    pub async fn wait_for(
        &mut self,
        ctx: &Ctx,
        what: &str,
        mut pred: impl FnMut(&Event<Key>) -> bool,
    ) -> Event<Key> {
        use futures_lite::StreamExt;
        ctx.within(what, async {
            loop {
                let event = self.events.next().await.expect("the scheduler is alive");
                self.seen.push(event.clone());
                if pred(&event) {
                    return event;
                }
            }
        })
        .await
    }

    /// Every event so far (reads what is waiting without waiting).
    pub fn all(&mut self) -> &[Event<Key>] {
        self.seen.extend(collect_events(&self.events));
        &self.seen
    }

    /// The kinds of `key`'s events so far, without `Progress`.
    pub fn kinds(&mut self, key: Key) -> Vec<EventKind> {
        kinds_of(self.all(), key)
    }
}

/// Every event waiting in `events`, without waiting.
pub fn collect_events(events: &Events<Key>) -> Vec<Event<Key>> {
    std::iter::from_fn(|| events.try_next()).collect()
}

/// The kinds of `key`'s events, in order, without `Progress` reports.
pub fn kinds_of(events: &[Event<Key>], key: Key) -> Vec<EventKind> {
    events
        .iter()
        .filter(|e| e.key == key && !matches!(e.kind, EventKind::Progress { .. }))
        .map(|e| e.kind.clone())
        .collect()
}

/// Checks that each counted happening produced exactly one event: the events of a subscription
/// taken before the first request, counted by kind, equal the counters of [`Stats`].
pub fn check_events_match_stats(events: &[Event<Key>], s: &Stats) -> Result<(), String> {
    let mut n = [0u64; 11];
    for e in events {
        let i = match e.kind {
            EventKind::Queued(_) => 0,
            EventKind::Joined(_) => 1,
            EventKind::Promoted(_) => 2,
            EventKind::Demoted(_) => 3,
            EventKind::Started { .. } => 4,
            EventKind::Retrying { .. } => 5,
            EventKind::Succeeded { .. } => 6,
            EventKind::Failed { cause, .. } => match cause {
                FailCause::Permanent | FailCause::Transient => 7,
                FailCause::Panicked => 8,
                FailCause::Aborted => 10,
                _ => return Err(format!("a failure of an unknown cause: {e:?}")),
            },
            EventKind::Cancelled => 9,
            EventKind::Progress { .. } => continue,
            _ => return Err(format!("an event of an unknown kind: {e:?}")),
        };
        n[i] += 1;
    }
    let expected = [
        ("Queued", s.queued_by_prefetch + s.queued_by_demand),
        ("Joined", s.joined),
        ("Promoted", s.promoted),
        ("Demoted", s.demoted),
        ("Started", s.attempts),
        ("Retrying", s.retries),
        ("Succeeded", s.succeeded),
        ("Failed", s.failed),
        ("Failed(panicked)", s.panicked),
        ("Cancelled", s.cancelled),
        ("Failed(aborted)", s.aborted),
    ];
    let wrong: Vec<String> = expected
        .iter()
        .zip(n)
        .filter(|((_, want), got)| want != got)
        .map(|((name, want), got)| format!("{name}: {got} events, stats say {want}"))
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "events do not match stats: {}; {s:?}",
            wrong.join(", ")
        ))
    }
}

/// Closes `s`, waits (at most one step's timeout) for it to drain, and checks that nothing is left
/// and that the events `rec` saw match the counters: how every scenario ends.
pub async fn close_and_settle(ctx: &Ctx, s: &TestScheduler, rec: &mut Recorder) -> Stats {
    s.close();
    ctx.within("drain after close", s.drain()).await;
    settled(s, rec)
}

/// Checks that nothing is in flight or waiting in `s` and that the events `rec` saw match the
/// counters; returns the stats.
pub fn settled(s: &TestScheduler, rec: &mut Recorder) -> Stats {
    let stats = s.stats();
    assert_settled(&stats);
    assert_events_match_stats(rec.all(), &stats);
    stats
}

/// [`check_events_match_stats`], panicking.
pub fn assert_events_match_stats(events: &[Event<Key>], s: &Stats) {
    if let Err(e) = check_events_match_stats(events, s) {
        panic!("{e}");
    }
}
