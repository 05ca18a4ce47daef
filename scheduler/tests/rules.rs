//! One test per rule of the contract, on smol's global executor, each under a timeout.
#![cfg(not(loom))]

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fetch_scheduler::{
    BoxFuture, Class, ConfigError, Error, ErrorClass, EventKind, JobContext, JobState, Prefetched,
    Priority, RetryPolicy, Runtime, Scheduler,
};
use futures_lite::StreamExt;

struct Smol;
impl Runtime for Smol {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        smol::spawn(task).detach();
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            smol::Timer::after(d).await;
        })
    }
}

/// Runs `f` to completion, failing the test if it takes longer than 10 s.
fn timed<T>(f: impl Future<Output = T>) -> T {
    smol::block_on(smol::future::or(async { Some(f.await) }, async {
        smol::Timer::after(Duration::from_secs(10)).await;
        None
    }))
    .expect("test timed out after 10 s: something waits forever")
}

/// Fetches that wait until the test opens their key's gate, recording the start order.
#[derive(Clone, Default)]
struct Gates {
    inner: Arc<Mutex<GatesInner>>,
}

#[derive(Default)]
struct GatesInner {
    senders: HashMap<u32, smol::channel::Sender<Result<u32, String>>>,
    receivers: HashMap<u32, smol::channel::Receiver<Result<u32, String>>>,
    started: Vec<(u32, u32, Priority)>,
}

impl Gates {
    fn pair(&self, key: u32) -> smol::channel::Receiver<Result<u32, String>> {
        let mut g = self.inner.lock().unwrap();
        if !g.receivers.contains_key(&key) {
            let (tx, rx) = smol::channel::unbounded();
            g.senders.insert(key, tx);
            g.receivers.insert(key, rx);
        }
        g.receivers[&key].clone()
    }
    fn open(&self, key: u32, result: Result<u32, String>) {
        self.pair(key);
        self.inner.lock().unwrap().senders[&key]
            .try_send(result)
            .unwrap();
    }
    fn started(&self) -> Vec<u32> {
        self.inner
            .lock()
            .unwrap()
            .started
            .iter()
            .map(|s| s.0)
            .collect()
    }
    fn scheduler(&self, concurrency: usize, reserved: usize) -> Scheduler<u32, u32, String> {
        self.builder(concurrency, reserved)
            .build(Smol, self.fetcher())
            .unwrap()
    }
    fn builder(
        &self,
        concurrency: usize,
        reserved: usize,
    ) -> fetch_scheduler::Builder<u32, u32, String> {
        Scheduler::builder()
            .concurrency(concurrency)
            .reserved_for_demand(reserved)
            .retry(RetryPolicy::never())
    }
    fn fetcher(
        &self,
    ) -> impl Fn(&u32, JobContext) -> BoxFuture<'static, Result<u32, String>> + Send + Sync + 'static
    {
        let gates = self.clone();
        move |key: &u32, cx: JobContext| {
            let rx = gates.pair(*key);
            gates
                .inner
                .lock()
                .unwrap()
                .started
                .push((*key, cx.attempt(), cx.priority()));
            Box::pin(async move { rx.recv().await.unwrap() })
        }
    }
}

/// Resolves once `cond` holds, checking it every millisecond; fails the test with `what` after
/// 10 s. For what the scheduler does after it releases its lock — a job's fetch is called on the
/// task spawned for it, a backoff timer starts after the `Retrying` event — which no future
/// announces. A fixed sleep would be a guess that a loaded machine proves wrong.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "still waiting after 10 s for: {what}"
        );
        smol::Timer::after(Duration::from_millis(1)).await;
    }
}

/// Runs `f` on a thread of its own, failing the test if it takes longer than 10 s: for blocking
/// calls (`get_blocking`, joins), which no async timeout can interrupt.
fn timed_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(value) => value,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sends before it ends"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("test timed out after 10 s: something waits forever")
        }
    }
}

/// Smol's global executor, with sleeps (retry backoffs) that last until the test ends them with
/// [`fire`](HeldTimers::fire): a backoff is exactly as long as the test needs it to be.
#[derive(Clone, Default)]
struct HeldTimers {
    pending: Arc<Mutex<Vec<smol::channel::Sender<()>>>>,
}

impl HeldTimers {
    /// Sleeps started and not fired yet.
    fn pending(&self) -> usize {
        self.pending.lock().unwrap().len()
    }

    /// Ends every sleep started so far.
    fn fire(&self) {
        drop(std::mem::take(&mut *self.pending.lock().unwrap()));
    }
}

impl Runtime for HeldTimers {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        Smol.spawn(task);
    }
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        let (tx, rx) = smol::channel::bounded::<()>(1);
        self.pending.lock().unwrap().push(tx);
        Box::pin(async move {
            // Ends when `fire` drops the sender.
            let _ = rx.recv().await;
        })
    }
}

#[test]
fn prefetch_then_get_fetches_once() {
    // Many keys through a small scheduler: each fetched once, all kept.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let s: Scheduler<u32, u32, String> = Scheduler::builder()
        .concurrency(4)
        .build(Smol, move |k: &u32, _cx: JobContext| {
            c.fetch_add(1, Ordering::SeqCst);
            let k = *k;
            async move {
                smol::Timer::after(Duration::from_millis(5)).await;
                Ok(k * 2)
            }
        })
        .unwrap();
    for k in 0..100 {
        s.prefetch(k);
    }
    let got = timed(async {
        let mut sum = 0;
        for k in 0..100 {
            sum += s.get(k).await.unwrap();
        }
        sum
    });
    assert_eq!(got, (0..100).map(|k| k * 2).sum::<u32>());
    assert_eq!(calls.load(Ordering::SeqCst), 100);
    let st = s.stats();
    assert_eq!(st.attempts, 100);
    assert_eq!(st.succeeded, 100);
    assert_eq!(st.in_flight(), 0);
    assert_eq!(st.kept, 100);
    assert_eq!(s.peek(&7), Some(14));
}

#[test]
fn config_errors_are_reported_not_panicked() {
    let gates = Gates::default();
    let zero = gates.builder(0, 0).build(Smol, gates.fetcher());
    assert_eq!(zero.unwrap_err(), ConfigError::ZeroConcurrency);
    let reserve = gates.builder(4, 4).build(Smol, gates.fetcher());
    assert_eq!(
        reserve.unwrap_err(),
        ConfigError::ReserveTooLarge {
            concurrency: 4,
            reserved_for_demand: 4
        }
    );
    let attempts = gates
        .builder(4, 1)
        .retry(RetryPolicy::new(0))
        .build(Smol, gates.fetcher());
    assert_eq!(attempts.unwrap_err(), ConfigError::ZeroAttempts);
    assert!(
        ConfigError::ReserveTooLarge {
            concurrency: 4,
            reserved_for_demand: 4
        }
        .to_string()
        .contains("below")
    );
}

#[test]
fn hints_order_a_class_and_fifo_breaks_ties() {
    let gates = Gates::default();
    let s = gates.scheduler(2, 1); // one prefetch slot
    timed(async {
        s.prefetch(100); // takes the prefetch slot
        s.prefetch_with_hint(1, 5);
        s.prefetch_with_hint(2, 9);
        s.prefetch_with_hint(3, 5);
        s.prefetch(4);
        until("100's fetch is called", || !gates.started().is_empty()).await;
        assert_eq!(gates.started(), vec![100]);
        assert_eq!(s.stats().queued_prefetch, 4);
        for key in [100, 2, 1, 3, 4] {
            gates.open(key, Ok(key));
            s.get(key).await.unwrap();
        }
        // Each get promoted its key when it was still queued; the order they started in is still
        // hint-then-FIFO because each one was at the head when its predecessor finished.
        assert_eq!(gates.started(), vec![100, 2, 1, 3, 4]);
    });
}

/// `get_all` items carry hints; a promoted prefetch keeps the highest hint of all its interests
/// (here the prefetch's size, though the demand gives none).
#[test]
fn get_all_hints_order_demands_and_a_promotion_keeps_the_prefetch_hint() {
    let gates = Gates::default();
    let s = gates.scheduler(1, 0);
    timed(async {
        let blocker = s.get(100); // takes the one slot
        s.prefetch_with_hint(4, 7);
        let mut all = s.get_all([(1, 1), (2, 5), (3, 3), (4, 0)]);
        let priority_of = |key| {
            s.snapshot()
                .into_iter()
                .find(|j| j.key == key)
                .unwrap()
                .priority
        };
        assert_eq!(priority_of(4), Priority::demand(7));
        until("100's fetch is called", || !gates.started().is_empty()).await;
        assert_eq!(gates.started(), vec![100]);
        gates.open(100, Ok(100));
        assert_eq!(blocker.await, Ok(100));
        for (i, key) in [4, 2, 3, 1].into_iter().enumerate() {
            // The job that got the freed slot is spawned once the lock is released.
            until("the next fetch is called", || {
                gates.started().len() == i + 2
            })
            .await;
            assert_eq!(gates.started().last(), Some(&key), "{:?}", gates.started());
            gates.open(key, Ok(key));
            assert_eq!(all.next().await, Some((key, Ok(key))));
        }
        assert_eq!(all.next().await, None);
    });
}

/// `peek`, `cancel`, `forget` and `get_blocking` take a borrowed form of the key.
#[test]
fn borrowed_keys() {
    let s: Scheduler<String, usize, String> = Scheduler::builder()
        .concurrency(1)
        .reserved_for_demand(0)
        .build(Smol, |key: &String, _cx: JobContext| {
            let len = key.len();
            async move { Ok(len) }
        })
        .unwrap();
    let s2 = s.clone();
    assert_eq!(timed_blocking(move || s2.get_blocking("four")), Ok(4));
    assert_eq!(s.peek("four"), Some(4));
    assert!(s.forget("four"));
    assert_eq!(s.peek("four"), None);
    assert!(!s.cancel("four"), "nothing queued");
}

#[test]
fn promotion_uses_the_reserve_and_is_visible_to_the_running_fetch() {
    let gates = Gates::default();
    let s = gates.scheduler(2, 1);
    timed(async {
        s.prefetch(1); // running in the one prefetch slot
        s.prefetch(2); // queued: prefetches may not take the reserve
        until("1's fetch is called", || !gates.started().is_empty()).await;
        assert_eq!(gates.started(), vec![1]);
        assert_eq!(s.stats().queued_prefetch, 1);
        let wait = s.get(2); // promoted: starts at once in the reserved slot
        assert_eq!(s.stats().queued_prefetch, 0);
        until("2's fetch is called", || gates.started().len() == 2).await;
        assert_eq!(gates.started(), vec![1, 2]);
        assert_eq!(
            gates.inner.lock().unwrap().started[1].2.class,
            Class::Demand
        );
        let st = s.stats();
        assert_eq!(
            (st.promoted, st.running_demand, st.running_prefetch),
            (1, 1, 1)
        );

        // A demand joining the running prefetch raises the priority its fetcher sees.
        let snapshot = s.snapshot();
        assert!(
            snapshot
                .iter()
                .any(|f| f.key == 1 && f.priority.class == Class::Prefetch)
        );
        let join = s.get(1);
        assert!(
            s.snapshot()
                .iter()
                .any(|f| f.key == 1 && f.priority.class == Class::Demand)
        );
        gates.open(1, Ok(10));
        gates.open(2, Ok(20));
        assert_eq!(join.await, Ok(10));
        assert_eq!(wait.await, Ok(20));
    });
}

#[test]
fn dropping_the_last_demand_demotes_or_removes_a_queued_job() {
    let gates = Gates::default();
    let s = gates.scheduler(1, 0);
    timed(async {
        let events = s.events();
        let first = s.get(1); // running
        s.prefetch(2);
        let promote = s.get(2); // queued, promoted
        drop(promote); // demoted back to prefetch
        let only_demand = s.get(3); // queued demand, nobody prefetched it
        drop(only_demand); // leaves the queue
        let st = s.stats();
        assert_eq!((st.promoted, st.demoted, st.cancelled), (1, 1, 1), "{st:?}");
        assert_eq!(st.queued_prefetch, 1);
        assert_eq!(st.queued_demand, 0);
        s.close(); // while 2 is still queued at prefetch priority
        gates.open(1, Ok(1));
        assert_eq!(first.await, Ok(1));
        s.drain().await;
        assert_eq!(gates.started(), vec![1], "the dropped prefetch never ran");
        let mut kinds = Vec::new();
        while let Some(e) = events.try_next() {
            kinds.push((e.key, e.kind));
        }
        let of = |key: u32| {
            kinds
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, e)| e.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            of(2),
            vec![
                EventKind::Queued(Priority::prefetch(0)),
                EventKind::Promoted(Priority::demand(0)),
                EventKind::Demoted(Priority::prefetch(0)),
                EventKind::Cancelled,
            ],
            "close drops the queued prefetch"
        );
        assert_eq!(
            of(3),
            vec![EventKind::Queued(Priority::demand(0)), EventKind::Cancelled]
        );
    });
}

#[test]
fn every_waiter_gets_the_real_error_and_transient_errors_are_forgotten() {
    let gates = Gates::default();
    let s = gates.scheduler(2, 1);
    timed(async {
        let a = s.get(1);
        let b = s.get(1);
        gates.open(1, Err("connection reset".into()));
        let (ra, rb) = (a.await, b.await);
        assert_eq!(
            ra,
            Err(Error::Failed(Arc::new("connection reset".to_string())))
        );
        let (Err(Error::Failed(ea)), Err(Error::Failed(eb))) = (ra, rb) else {
            unreachable!()
        };
        assert!(Arc::ptr_eq(&ea, &eb), "waiters share one error");
        assert_eq!(s.peek(&1), None);
        gates.open(1, Ok(7));
        assert_eq!(
            s.get(1).await,
            Ok(7),
            "a transient failure leaves the key absent: retried"
        );
        assert_eq!(gates.started(), vec![1, 1]);
    });
}

#[test]
fn permanent_errors_are_kept_until_forgotten() {
    let gates = Gates::default();
    let s = gates
        .builder(2, 1)
        .classify(|e: &String| {
            if e.contains("404") {
                ErrorClass::Permanent
            } else {
                ErrorClass::Transient
            }
        })
        .build(Smol, gates.fetcher())
        .unwrap();
    timed(async {
        gates.open(1, Err("404 Not Found".into()));
        let first = s.get(1).await;
        assert!(matches!(&first, Err(Error::Failed(e)) if e.contains("404")));
        let again = s.get(1);
        assert!(again.is_immediate(), "a kept error answers at once");
        assert_eq!(again.await, first);
        assert_eq!(s.prefetch(1), Prefetched::Done);
        assert_eq!(s.peek(&1), None, "peek returns values only");
        assert!(s.forget(&1));
        gates.open(1, Ok(1));
        assert_eq!(s.get(1).await, Ok(1));
        assert_eq!(gates.started(), vec![1, 1]);
    });
}

#[test]
fn retries_back_off_without_holding_a_slot() {
    let gates = Gates::default();
    // Backoffs end when the test fires them, so the first one surely lasts while key 2 runs.
    let timers = HeldTimers::default();
    let s = gates
        .builder(1, 0)
        .retry(
            RetryPolicy::new(3)
                .base_delay(Duration::from_millis(200))
                .jitter(false),
        )
        .build(timers.clone(), gates.fetcher())
        .unwrap();
    timed(async {
        let events = s.events();
        gates.open(1, Err("503".into()));
        let wait = s.get(1);
        until("attempt 1 fails and backs off", || timers.pending() == 1).await;
        let st = s.stats();
        assert_eq!(
            (st.backing_off, st.running(), st.retries),
            (1, 0, 1),
            "{st:?}"
        );
        // The slot is free during the backoff: another key runs meanwhile.
        gates.open(2, Ok(2));
        assert_eq!(s.get(2).await, Ok(2));
        gates.open(1, Err("503".into()));
        gates.open(1, Ok(1));
        timers.fire();
        until("attempt 2 fails and backs off", || timers.pending() == 1).await;
        timers.fire();
        assert_eq!(wait.await, Ok(1));
        let attempts: Vec<u32> = gates
            .inner
            .lock()
            .unwrap()
            .started
            .iter()
            .filter(|s| s.0 == 1)
            .map(|s| s.1)
            .collect();
        assert_eq!(attempts, vec![1, 2, 3]);
        let mut retrying = Vec::new();
        while let Some(e) = events.try_next() {
            if let EventKind::Retrying { attempt, delay } = e.kind {
                retrying.push((attempt, delay));
            }
        }
        assert_eq!(
            retrying,
            vec![
                (1, Duration::from_millis(200)),
                (2, Duration::from_millis(400))
            ]
        );
    });
}

#[test]
fn retry_exhaustion_returns_the_last_error() {
    let gates = Gates::default();
    let s = gates
        .builder(1, 0)
        .retry(RetryPolicy::new(2).base_delay(Duration::from_millis(1)))
        .build(Smol, gates.fetcher())
        .unwrap();
    timed(async {
        gates.open(1, Err("first".into()));
        gates.open(1, Err("second".into()));
        assert_eq!(
            s.get(1).await,
            Err(Error::Failed(Arc::new("second".to_string())))
        );
        let st = s.stats();
        assert_eq!(
            (st.attempts, st.retries, st.failed, st.in_flight()),
            (2, 1, 1, 0)
        );
    });
}

#[test]
fn a_panicking_fetcher_fails_its_waiters_and_frees_its_slot() {
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    let s: Scheduler<u32, u32, String> = Scheduler::builder()
        .concurrency(1)
        .build(Smol, move |key: &u32, _cx: JobContext| {
            *c.lock().unwrap() += 1;
            if *key == 1 {
                panic!("fetch() itself panicked");
            }
            let key = *key;
            async move {
                if key == 2 {
                    panic!("the future panicked");
                }
                Ok(key)
            }
        })
        .unwrap();
    timed(async {
        assert_eq!(
            s.get(1).await,
            Err(Error::Panicked(Arc::from("fetch() itself panicked")))
        );
        assert_eq!(
            s.get(2).await,
            Err(Error::Panicked(Arc::from("the future panicked")))
        );
        assert_eq!(s.get(3).await, Ok(3), "the single slot was freed twice");
        let st = s.stats();
        assert_eq!((st.panicked, st.succeeded, st.running()), (2, 1, 0));
    });
}

/// A hand-written fetch future, ready at once, whose `Drop` panics when `panics` is set.
struct ReadyThenDrop {
    value: u32,
    panics: bool,
}

impl Future for ReadyThenDrop {
    type Output = Result<u32, String>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(self.value))
    }
}

impl Drop for ReadyThenDrop {
    fn drop(&mut self) {
        if self.panics {
            panic!("the future's drop panicked");
        }
    }
}

#[test]
fn a_fetch_future_that_panics_when_dropped_fails_its_attempt_only() {
    let s: Scheduler<u32, u32, String> = Scheduler::builder()
        .concurrency(8)
        .reserved_for_demand(0)
        .build(Smol, move |key: &u32, _cx: JobContext| ReadyThenDrop {
            value: *key,
            panics: *key == 5,
        })
        .unwrap();
    timed(async {
        // Started together, next to the panicking one.
        let mut answers: Vec<_> = s.get_all(0..8).collect().await;
        answers.sort_by_key(|(k, _)| *k);
        for (k, answer) in answers {
            if k == 5 {
                assert_eq!(
                    answer,
                    Err(Error::Panicked(Arc::from("the future's drop panicked")))
                );
            } else {
                assert_eq!(answer, Ok(k));
            }
        }
        let st = s.stats();
        assert_eq!((st.panicked, st.succeeded, st.running()), (1, 7, 0));
        assert_eq!(s.get(9).await, Ok(9), "the scheduler still works");
    });
}

/// Fetchers may await other keys of the same scheduler while slots are left for them: a key that
/// finished moments ago, one started with them but not run yet, and a `get_all` of several.
/// Nothing waits forever.
#[test]
fn a_fetcher_may_await_other_keys_of_its_scheduler() {
    let cell: Arc<std::sync::OnceLock<Scheduler<u32, u32, String>>> = Arc::default();
    let inner = Arc::clone(&cell);
    let s: Scheduler<u32, u32, String> = Scheduler::builder()
        .concurrency(32)
        .reserved_for_demand(0)
        .build(Smol, move |key: &u32, _cx: JobContext| {
            let (key, cell) = (*key, Arc::clone(&inner));
            async move {
                let s = cell.get().expect("set before any get").clone();
                let got = |k: u32| {
                    let s = s.clone();
                    async move { s.get(k).await.map_err(|e| e.to_string()) }
                };
                match key {
                    16 => Ok(got(30).await? + 1),           // started with it, not run yet
                    17..=29 => Ok(got(key - 1).await? + 1), // finished just before
                    31 => {
                        let all: Vec<_> = s.get_all([17, 18, 19]).collect().await;
                        Ok(all.into_iter().map(|(_, v)| v.unwrap()).sum())
                    }
                    _ => Ok(key),
                }
            }
        })
        .unwrap();
    assert!(cell.set(s.clone()).is_ok());
    timed(async {
        let mut answers: Vec<_> = s.get_all(0..32).collect().await;
        answers.sort_by_key(|(k, _)| *k);
        let values: Vec<u32> = answers.into_iter().map(|(_, v)| v.unwrap()).collect();
        assert_eq!(values[16], 31);
        assert_eq!(values[29], 31 + 13);
        assert_eq!(values[31], 32 + 33 + 34);
        assert_eq!(s.stats().attempts, 32, "each key fetched once");
    });
    drop(cell);
}

#[test]
fn close_refuses_new_work_drops_prefetches_and_drain_waits_for_running_jobs() {
    let gates = Gates::default();
    let s = gates.scheduler(2, 1);
    timed(async {
        s.prefetch(1); // running
        s.prefetch(2); // queued prefetch: dropped by close
        let demanded = s.get(3); // running in the reserve: finishes
        s.close();
        assert!(s.is_closed());
        assert_eq!(s.prefetch(9), Prefetched::Closed);
        assert_eq!(s.get(9).await, Err(Error::Closed));
        assert_eq!(
            s.get(2).await,
            Err(Error::Closed),
            "the dropped prefetch is gone"
        );
        let mut drain = s.drain();
        assert!(
            futures_lite::future::poll_once(&mut drain).await.is_none(),
            "drain must still be waiting"
        );
        assert_eq!(s.stats().running(), 2);
        gates.open(1, Ok(1));
        gates.open(3, Ok(3));
        drain.await;
        assert_eq!(demanded.await, Ok(3));
        assert_eq!(
            s.peek(&1),
            Some(1),
            "a running prefetch finishes and is kept"
        );
        assert_eq!(s.stats().in_flight(), 0);
    });
}

#[test]
fn cancel_removes_only_queued_jobs_nobody_awaits() {
    let gates = Gates::default();
    let s = gates.scheduler(1, 0);
    timed(async {
        s.prefetch(1); // running
        s.prefetch(2);
        s.prefetch(3);
        let waited = s.get(3);
        assert!(!s.cancel(&1), "running");
        assert!(s.cancel(&2));
        assert!(!s.cancel(&3), "a demand waits on it");
        assert!(!s.cancel(&4), "absent");
        gates.open(1, Ok(1));
        gates.open(3, Ok(3));
        assert_eq!(waited.await, Ok(3));
        assert_eq!(gates.started(), vec![1, 3]);
    });
}

#[test]
fn peek_and_get_blocking_work_from_plain_threads() {
    let gates = Gates::default();
    let s = gates.scheduler(2, 1);
    s.prefetch(1);
    let s2 = s.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(s2.get_blocking(&1)));
    assert_eq!(s.peek(&1), None);
    gates.open(1, Ok(11));
    let blocked = rx.recv_timeout(Duration::from_secs(10));
    assert_eq!(blocked.expect("get_blocking answered within 10 s"), Ok(11));
    assert_eq!(s.peek(&1), Some(11));
    let s2 = s.clone();
    assert_eq!(
        timed_blocking(move || s2.get_blocking(&1)),
        Ok(11),
        "a kept value needs no runtime"
    );
}

#[test]
fn get_all_yields_in_completion_order() {
    let gates = Gates::default();
    let s = gates.scheduler(4, 1);
    timed(async {
        let mut all = s.get_all([1, 2, 3]);
        assert_eq!(all.remaining(), 3);
        gates.open(3, Ok(30));
        assert_eq!(all.next().await, Some((3, Ok(30))));
        gates.open(1, Ok(10));
        assert_eq!(all.next().await, Some((1, Ok(10))));
        gates.open(2, Ok(20));
        assert_eq!(all.next().await, Some((2, Ok(20))));
        assert_eq!(all.next().await, None);
    });
}

#[test]
fn progress_shows_in_snapshot_and_events() {
    let (tx, rx) = smol::channel::unbounded::<()>();
    let s: Scheduler<u32, u32, String> = Scheduler::builder()
        .concurrency(1)
        .build(Smol, move |key: &u32, cx: JobContext| {
            let (key, cx, rx) = (*key, cx.clone(), rx.clone());
            async move {
                cx.progress(512, Some(1024));
                rx.recv().await.unwrap();
                Ok(key)
            }
        })
        .unwrap();
    timed(async {
        let events = s.events();
        let wait = s.get(5);
        // The fetch reports its progress on the task spawned for it.
        until("the fetch reports progress", || {
            s.snapshot().first().is_some_and(|j| j.progress.0 > 0)
        })
        .await;
        let snap = s.snapshot();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].state, JobState::Running { attempt: 1 });
        assert_eq!(snap[0].progress, (512, Some(1024)));
        assert_eq!(snap[0].waiters, 1);
        tx.send(()).await.unwrap();
        assert_eq!(wait.await, Ok(5));
        let kinds: Vec<EventKind> = std::iter::from_fn(|| events.try_next())
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::Queued(Priority::demand(0)),
                EventKind::Started { attempt: 1 },
                EventKind::Progress {
                    bytes: 512,
                    total: Some(1024)
                },
                EventKind::Succeeded { attempt: 1 },
            ]
        );
        drop(events);
        assert_eq!(s.get(5).await, Ok(5));
        assert_eq!(s.stats().hits, 1);

        // A new subscriber sees only what happens after it subscribed.
        let later = s.events();
        s.prefetch(6);
        let first = later.try_next().map(|e| (e.key, e.kind));
        assert_eq!(first, Some((6, EventKind::Queued(Priority::prefetch(0)))));
        tx.send(()).await.unwrap();
        s.close();
        s.drain().await;
    });
}
