//! Randomized schedules over whole scenarios with shuttle (`check_random`, ≥ 1 000 iterations
//! each).
//!
//! The scheduler runs on a [`Runtime`] whose `spawn` is `shuttle::future::spawn` and whose `sleep`
//! yields, so shuttle decides the order of every task step: callers, the scheduler's job tasks and
//! backoff timers. The core's `std` mutex is never held across an await or user code, so shuttle
//! explores the interleavings between whole scheduler operations. In every schedule:
//!
//! - no key runs twice at once (the fake's overlap detector stays empty);
//! - every waiter finishes with an answer that fits its key (a hang is a shuttle deadlock, which
//!   fails the test with the schedule to replay);
//! - after every operation the capacity rule and the counters hold, and at the end the scheduler
//!   settles with nothing leaked and one event per counted happening.

use std::time::Duration;

use fetch_scheduler::{BoxFuture, Error, Prefetched, RetryPolicy, Runtime, Scheduler};
use fetch_scheduler_tests::{
    Fake, Key, Step, TestScheduler, check_answer, check_capacity, check_events_match_stats,
    check_settled, check_stats, classify, collect_events, quiet_scripted_panics,
};
use futures_lite::StreamExt;
use shuttle::future::{self, JoinHandle};

/// Iterations per scenario in CI; `SHUTTLE_ITERATIONS=<n>` asks for more (never fewer).
const ITERATIONS: usize = 1000;

fn iterations() -> usize {
    std::env::var("SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(ITERATIONS, |n: usize| n.max(ITERATIONS))
}

/// The scheduler's runtime under shuttle: tasks are shuttle tasks, sleeps are two yields.
struct ShuttleRuntime;

impl Runtime for ShuttleRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        drop(future::spawn(task)); // detached
    }

    fn sleep(&self, _duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {
            future::yield_now().await;
            future::yield_now().await;
        })
    }
}

struct Harness {
    s: TestScheduler,
    fake: Fake,
    concurrency: usize,
    reserved: usize,
}

impl Harness {
    fn new(concurrency: usize, reserved: usize, retry: RetryPolicy) -> Self {
        quiet_scripted_panics();
        let fake = Fake::new();
        fake.yields(1);
        let s = Scheduler::builder()
            .concurrency(concurrency)
            .reserved_for_demand(reserved)
            .retry(retry)
            .classify(classify)
            .build(ShuttleRuntime, fake.clone())
            .unwrap();
        Harness {
            s,
            fake,
            concurrency,
            reserved,
        }
    }

    /// The invariants that hold between any two operations.
    fn check(&self) {
        let st = self.s.stats();
        if let Err(e) =
            check_stats(&st).and_then(|()| check_capacity(&st, self.concurrency, self.reserved))
        {
            panic!("{e}");
        }
        assert!(self.fake.overlaps().is_empty(), "a key ran twice at once");
    }

    /// Awaits a `get` and checks its answer.
    async fn get(&self, key: Key, closed_ok: bool) {
        let answer = self.s.get(key).await;
        if let Err(e) = check_answer(key, &answer, closed_ok) {
            panic!("{e}");
        }
        self.check();
    }

    /// Closes, drains, and checks the end state.
    async fn finish(&self, events: &fetch_scheduler::Events<Key>) {
        self.s.close();
        self.s.drain().await;
        let st = self.s.stats();
        if let Err(e) =
            check_settled(&st).and_then(|()| check_events_match_stats(&collect_events(events), &st))
        {
            panic!("{e}");
        }
        assert!(self.fake.overlaps().is_empty(), "a key ran twice at once");
        assert_eq!(st.attempts, self.fake.total_calls());
    }
}

fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(f: F) -> JoinHandle<()> {
    future::spawn(f)
}

async fn join_all(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        t.await.expect("task finished");
    }
}

/// Single flight, joins, promotion and demotion, waiter drops (before and after a poll), cancel,
/// forget, `get_all` read in part, racing on four keys with two slots (one reserved).
#[test]
fn contention() {
    shuttle::check_random(
        || {
            let h = std::sync::Arc::new(Harness::new(2, 1, RetryPolicy::never()));
            let events = h.s.events();
            let tasks = vec![
                spawn({
                    let h = h.clone();
                    async move {
                        h.s.prefetch(0);
                        h.s.prefetch(1);
                        h.check();
                        h.get(1, false).await;
                        h.s.prefetch(2);
                        h.get(0, false).await;
                    }
                }),
                spawn({
                    let h = h.clone();
                    async move {
                        let mut w = h.s.get(0);
                        let _ = futures_lite::future::poll_once(&mut w).await;
                        drop(w);
                        h.check();
                        h.get(2, false).await;
                        h.s.cancel(&1);
                        h.check();
                        h.get(1, false).await;
                    }
                }),
                spawn({
                    let h = h.clone();
                    async move {
                        h.get(3, false).await;
                        h.s.forget(&0);
                        h.check();
                        h.get(0, false).await;
                        if let Some(v) = h.s.peek(&3) {
                            assert_eq!(v / 1000, 3);
                        }
                    }
                }),
                spawn({
                    let h = h.clone();
                    async move {
                        h.s.prefetch(3);
                        h.s.cancel(&0);
                        h.check();
                        let mut all = h.s.get_all([0, 1, 2]);
                        let (k, r) = all.next().await.unwrap();
                        check_answer(k, &r, false).unwrap();
                        drop(all);
                        h.check();
                    }
                }),
            ];
            future::block_on(async move {
                join_all(tasks).await;
                h.finish(&events).await;
            });
        },
        iterations(),
    );
}

/// Transient failures with retries and backoff, permanent errors, panics (in the future and
/// before it), with waiters joining, leaving mid-backoff and cancelling, on one slot.
#[test]
fn failures_and_retries() {
    shuttle::check_random(
        || {
            let h = std::sync::Arc::new(Harness::new(
                1,
                0,
                RetryPolicy::new(3).base_delay(Duration::from_millis(1)),
            ));
            h.fake.script(0, [Step::Fail, Step::Fail]);
            h.fake.script(1, [Step::Panic, Step::Succeed]);
            h.fake.script(2, [Step::FailPermanently]);
            h.fake.script(3, [Step::Fail, Step::PanicBeforeFuture]);
            let events = h.s.events();
            let tasks = vec![
                spawn({
                    let h = h.clone();
                    async move {
                        h.get(0, false).await;
                        h.get(1, false).await;
                    }
                }),
                spawn({
                    let h = h.clone();
                    async move {
                        h.s.prefetch(3);
                        h.get(0, false).await;
                        h.get(2, false).await;
                        h.get(2, false).await;
                    }
                }),
                spawn({
                    let h = h.clone();
                    async move {
                        let w = h.s.get(3);
                        future::yield_now().await;
                        drop(w);
                        h.check();
                        h.s.cancel(&3);
                        h.check();
                        h.get(1, false).await;
                        h.get(3, false).await;
                    }
                }),
            ];
            future::block_on(async move {
                join_all(tasks).await;
                // Key 2's permanent error is kept; the others end with a value or are absent.
                assert_eq!(h.fake.calls(2), 1);
                assert_eq!(h.s.prefetch(2), Prefetched::Done);
                h.finish(&events).await;
            });
        },
        iterations(),
    );
}

/// `close` racing prefetches, gets, drops and cancels: every answer fits (`Closed` allowed), and
/// `drain` after `close` always resolves.
#[test]
fn close_races_requests() {
    shuttle::check_random(
        || {
            let h = std::sync::Arc::new(Harness::new(
                2,
                1,
                RetryPolicy::new(2).base_delay(Duration::from_millis(1)),
            ));
            h.fake.script(1, [Step::Fail]);
            h.fake.script(4, [Step::Fail]);
            let events = h.s.events();
            let tasks = vec![
                spawn({
                    let h = h.clone();
                    async move {
                        for k in 0..4 {
                            h.s.prefetch(k);
                        }
                        h.check();
                        h.get(1, true).await;
                        h.get(2, true).await;
                    }
                }),
                spawn({
                    let h = h.clone();
                    async move {
                        h.get(3, true).await;
                        let w = h.s.get(4);
                        future::yield_now().await;
                        drop(w);
                        h.check();
                        h.get(0, true).await;
                    }
                }),
                spawn({
                    let h = h.clone();
                    async move {
                        future::yield_now().await;
                        h.s.close();
                        h.check();
                        assert!(h.s.is_closed());
                        assert_eq!(h.s.prefetch(99), Prefetched::Closed);
                        h.s.drain().await;
                        h.check();
                    }
                }),
            ];
            future::block_on(async move {
                join_all(tasks).await;
                h.finish(&events).await;
            });
        },
        iterations(),
    );
}

/// A runtime under shuttle that can shut down: from then on it drops every task it holds (at the
/// task's next step) and every task it is given.
#[derive(Clone, Default)]
struct Stoppable {
    /// Whether it shut down, and the tasks it runs; one lock, so no task slips past a shutdown.
    state: std::sync::Arc<std::sync::Mutex<(bool, Vec<futures_util::future::AbortHandle>)>>,
}

impl Stoppable {
    fn shut_down(&self) {
        let mut state = self.state.lock().unwrap();
        state.0 = true;
        for task in state.1.drain(..) {
            task.abort();
        }
    }
}

impl Runtime for Stoppable {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        let mut state = self.state.lock().unwrap();
        if state.0 {
            drop(state);
            drop(task);
            return;
        }
        let (handle, registration) = futures_util::future::AbortHandle::new_pair();
        state.1.push(handle);
        drop(state);
        let task = futures_util::future::Abortable::new(task, registration);
        drop(future::spawn(async move {
            let _ = task.await;
        }));
    }

    fn sleep(&self, _duration: Duration) -> BoxFuture<'static, ()> {
        ShuttleRuntime.sleep(_duration)
    }
}

/// The runtime shuts down while requests, a `get_all` and jobs are in flight: every waiter ends,
/// with its value or `Aborted`; nothing stays in flight; a later request is answered at once.
#[test]
fn runtime_shutdown_races_requests() {
    shuttle::check_random(
        || {
            quiet_scripted_panics();
            let fake = Fake::new();
            fake.yields(1);
            let runtime = Stoppable::default();
            let s: TestScheduler = Scheduler::builder()
                .concurrency(2)
                .reserved_for_demand(1)
                .retry(RetryPolicy::never())
                .classify(classify)
                .build(runtime.clone(), fake.clone())
                .unwrap();
            let events = s.events();
            let fits = |key: Key, answer: &Result<_, Error<_>>| {
                if !matches!(answer, Err(Error::Aborted)) {
                    check_answer(key, answer, false).unwrap();
                }
            };
            let tasks = vec![
                spawn({
                    let s = s.clone();
                    async move {
                        s.prefetch(0);
                        s.prefetch(1);
                        fits(1, &s.get(1).await);
                        fits(2, &s.get(2).await);
                    }
                }),
                spawn({
                    let s = s.clone();
                    async move {
                        fits(3, &s.get(3).await);
                        let mut all = s.get_all([0, 2]);
                        while let Some((key, answer)) = all.next().await {
                            fits(key, &answer);
                        }
                    }
                }),
                spawn(async move {
                    future::yield_now().await;
                    runtime.shut_down();
                }),
            ];
            future::block_on(async move {
                join_all(tasks).await;
                s.drain().await;
                assert_eq!(s.get(5).await, Err(Error::Aborted), "the runtime is gone");
                let st = s.stats();
                if let Err(e) = check_settled(&st)
                    .and_then(|()| check_events_match_stats(&collect_events(&events), &st))
                {
                    panic!("{e}");
                }
                assert!(fake.overlaps().is_empty(), "a key ran twice at once");
                assert!(fake.total_calls() <= st.attempts);
            });
        },
        iterations(),
    );
}
