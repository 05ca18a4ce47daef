//! loom models of the per-key state machine: every interleaving (up to the preemption bound) of
//! claim, join, promote, waiter drop, cancel, close, completion and a runtime that drops its tasks.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p fetch-scheduler --test loom --release`.
//! Under `--cfg loom` the core's mutexes, read-write locks and atomics are loom's, so the models
//! explore the real code. Each spawned job runs on its own loom thread; waiters are driven by
//! `loom::future::block_on`, whose waker only fires if the core really wakes it — a lost wakeup
//! shows as a deadlock that loom reports.
#![cfg(loom)]

use std::sync::Arc;
use std::time::Duration;

use fetch_scheduler::{BoxFuture, Error, JobContext, Prefetched, Runtime, Scheduler};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// Runs each task on its own loom thread.
struct LoomRuntime;

impl Runtime for LoomRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        thread::spawn(move || loom::future::block_on(task));
    }
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Counts fetches and checks that no key is ever fetched twice at once.
#[derive(Default)]
struct Probe {
    started: AtomicUsize,
    running: [AtomicUsize; 8],
}

type S = Scheduler<u8, u32, &'static str>;

fn scheduler(concurrency: usize, reserved: usize, probe: Arc<Probe>) -> S {
    Scheduler::builder()
        .concurrency(concurrency)
        .reserved_for_demand(reserved)
        .build(LoomRuntime, move |key: &u8, _cx: JobContext| {
            let probe = Arc::clone(&probe);
            let key = *key;
            async move {
                probe.started.fetch_add(1, Ordering::SeqCst);
                let running = &probe.running[usize::from(key)];
                assert_eq!(
                    running.fetch_add(1, Ordering::SeqCst),
                    0,
                    "key fetched twice at once"
                );
                thread::yield_now();
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(u32::from(key) + 100)
            }
        })
        .unwrap()
}

/// Waits for the scheduler to go idle without event-listener (not loom-aware): spin with yields.
fn settle(s: &S) {
    while s.stats().in_flight() != 0 {
        thread::yield_now();
    }
}

fn check_counters(s: &S) {
    let st = s.stats();
    assert_eq!(
        st.queued_by_prefetch + st.queued_by_demand,
        st.succeeded + st.failed + st.panicked + st.aborted + st.cancelled + st.in_flight() as u64,
        "{st:?}"
    );
    assert_eq!(
        st.attempts,
        st.succeeded + st.failed + st.panicked + st.interrupted + st.retries + st.running() as u64,
        "{st:?}"
    );
    assert_eq!(st.waiters, 0, "{st:?}");
}

/// prefetch (claim) races get (join or claim): one fetch, the getter gets the value.
#[test]
fn claim_vs_join() {
    loom::model(|| {
        let probe = Arc::new(Probe::default());
        let s = scheduler(2, 1, Arc::clone(&probe));
        let s2 = s.clone();
        let getter = thread::spawn(move || loom::future::block_on(s2.get(1)));
        let p = s.prefetch(1);
        assert!(
            matches!(
                p,
                Prefetched::Queued | Prefetched::Joined | Prefetched::Done
            ),
            "{p:?}"
        );
        assert_eq!(getter.join().unwrap(), Ok(101));
        settle(&s);
        assert_eq!(probe.started.load(Ordering::SeqCst), 1);
        assert_eq!(s.peek(&1), Some(101));
        check_counters(&s);
    });
}

/// Two getters race to claim and join; one of them drops its waiter at once. The other still gets
/// the value, the fetch runs once, nothing leaks.
#[test]
fn join_vs_waiter_drop_vs_complete() {
    loom::model(|| {
        let probe = Arc::new(Probe::default());
        let s = scheduler(1, 0, Arc::clone(&probe));
        let s2 = s.clone();
        let dropper = thread::spawn(move || drop(s2.get(2)));
        let value = loom::future::block_on(s.get(2));
        dropper.join().unwrap();
        assert_eq!(value, Ok(102));
        settle(&s);
        let started = probe.started.load(Ordering::SeqCst);
        // The dropper may claim, drop (job leaves the queue unstarted) before our get claims anew:
        // never more than one fetch at once (checked in the fetcher), and at most two in all.
        assert!((1..=2).contains(&started), "started {started}");
        check_counters(&s);
    });
}

/// A queued prefetch (the only prefetch slot is taken) is promoted by a get while another thread
/// cancels it: either the cancel wins before the demand (and the get claims afresh) or the demand
/// wins and the cancel is refused. The get always gets the value.
#[test]
fn promote_vs_cancel() {
    loom::model(|| {
        let probe = Arc::new(Probe::default());
        let s = scheduler(2, 1, Arc::clone(&probe));
        s.prefetch(3); // takes the one prefetch slot
        s.prefetch(4); // queued behind it
        let s2 = s.clone();
        let canceller = thread::spawn(move || s2.cancel(&4));
        let value = loom::future::block_on(s.get(4));
        let cancelled = canceller.join().unwrap();
        assert_eq!(value, Ok(104));
        settle(&s);
        assert!(s.peek(&3).is_some());
        let st = s.stats();
        assert_eq!(st.cancelled, u64::from(cancelled), "{st:?}");
        check_counters(&s);
    });
}

/// close races a get on a queued prefetch: the get either joins (and the job runs: somebody awaits
/// it) or is refused with Closed; it never hangs.
#[test]
fn close_vs_get() {
    loom::model(|| {
        let probe = Arc::new(Probe::default());
        let s = scheduler(2, 1, Arc::clone(&probe));
        s.prefetch(5);
        s.prefetch(6);
        let s2 = s.clone();
        let closer = thread::spawn(move || s2.close());
        let result = loom::future::block_on(s.get(6));
        closer.join().unwrap();
        assert!(matches!(result, Ok(106) | Err(Error::Closed)), "{result:?}");
        settle(&s);
        check_counters(&s);
    });
}

/// A `get_all` of two keys races a `get` joining one of them while their tasks end them: every key
/// is fetched once and every caller gets its value, whether the join comes before, during or after
/// the job's end.
#[test]
fn get_all_vs_join_vs_complete() {
    loom::model(|| {
        let probe = Arc::new(Probe::default());
        let s = scheduler(2, 0, Arc::clone(&probe));
        let s2 = s.clone();
        let joiner = thread::spawn(move || loom::future::block_on(s2.get(2)));
        let mut values: Vec<(u8, u32)> = loom::future::block_on(async {
            let mut all = s.get_all([1, 2]);
            let mut out = Vec::new();
            while let Some((k, v)) = futures_lite::StreamExt::next(&mut all).await {
                out.push((k, v.unwrap()));
            }
            out
        });
        values.sort_unstable();
        assert_eq!(values, vec![(1, 101), (2, 102)]);
        assert_eq!(joiner.join().unwrap(), Ok(102));
        settle(&s);
        assert_eq!(
            probe.started.load(Ordering::SeqCst),
            2,
            "each key fetched once"
        );
        check_counters(&s);
    });
}

/// A runtime that is gone: it drops every task it is given without running it.
struct GoneRuntime;

impl Runtime for GoneRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        drop(task);
    }
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// On a runtime that drops its tasks, a get and a prefetch racing on one key and a get of another
/// all end: the waiters get `Aborted`, nothing stays in flight, and a later get is answered at once.
#[test]
fn runtime_gone_vs_join() {
    loom::model(|| {
        let s: S = Scheduler::builder()
            .concurrency(1)
            .reserved_for_demand(0)
            .build(GoneRuntime, |key: &u8, _cx: JobContext| {
                let key = *key;
                async move { Ok(u32::from(key)) }
            })
            .unwrap();
        let s2 = s.clone();
        let other = thread::spawn(move || {
            s2.prefetch(1);
            loom::future::block_on(s2.get(2))
        });
        let first = loom::future::block_on(s.get(1));
        assert_eq!(first, Err(Error::Aborted));
        assert_eq!(other.join().unwrap(), Err(Error::Aborted));
        assert_eq!(s.stats().in_flight(), 0);
        assert_eq!(loom::future::block_on(s.get(3)), Err(Error::Aborted));
        check_counters(&s);
    });
}

/// `insert` racing a `get` of the same key: either the insert lands first (the get answers the
/// inserted value and nothing is fetched) or the get claims the key first (the insert is refused,
/// the fetched value is kept). Never both kept and in flight, never a fetch after a kept insert.
#[test]
fn insert_vs_claim() {
    loom::model(|| {
        let probe = Arc::new(Probe::default());
        let s = scheduler(1, 0, Arc::clone(&probe));
        let inserting = {
            let s = s.clone();
            thread::spawn(move || s.insert(1, 7))
        };
        let wait = s.get(1);
        let owner = wait.is_owner();
        let got = loom::future::block_on(wait).unwrap();
        let inserted = inserting.join().unwrap();
        settle(&s);
        if owner {
            assert_eq!(
                got, 101,
                "the get that claimed the key is answered by its fetch"
            );
            assert_eq!(probe.started.load(Ordering::SeqCst), 1);
            // The get owned the job, so the insert found the key in flight (refused) or ran
            // after the job ended (kept, replacing the fetched value).
            let kept = s.peek(&1).unwrap();
            assert_eq!(kept, if inserted { 7 } else { 101 });
        } else {
            assert!(
                inserted,
                "the get found the key kept, so the insert came first"
            );
            assert_eq!(got, 7);
            assert_eq!(probe.started.load(Ordering::SeqCst), 0);
        }
        check_counters(&s);
    });
}

// ---- the byte budget --------------------------------------------------------------------------

/// Counts the fetches holding bytes at once: a fetch holds from its start until it releases or
/// ends.
#[derive(Default)]
struct Holders {
    now: AtomicUsize,
}

impl Holders {
    /// A fetch starts holding its bytes; no other may hold at the same time (the budget fits one).
    fn hold(&self) {
        assert_eq!(
            self.now.fetch_add(1, Ordering::SeqCst),
            0,
            "two jobs hold bytes at once beyond the budget"
        );
    }

    fn give_back(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

fn check_bytes(s: &S, budget: u64) {
    let st = s.stats();
    assert_eq!(st.bytes_held, 0, "every admitted weight given back: {st:?}");
    assert!(st.peak_bytes_held <= budget, "{st:?}");
}

/// Two demands of weight 2 under a budget of 2 with two slots: the second waits for the first's
/// bytes. The first releases them early while the second is being requested: the second starts
/// then, never while the first still holds its bytes, and nothing is held at the end.
#[test]
fn release_vs_demand() {
    loom::model(|| {
        let holders = Arc::new(Holders::default());
        let h = Arc::clone(&holders);
        let s: S = Scheduler::builder()
            .concurrency(2)
            .reserved_for_demand(0)
            .byte_budget(2)
            .build(LoomRuntime, move |key: &u8, cx: JobContext| {
                let h = Arc::clone(&h);
                let key = *key;
                async move {
                    h.hold();
                    thread::yield_now();
                    h.give_back();
                    cx.release();
                    thread::yield_now();
                    Ok(u32::from(key))
                }
            })
            .unwrap();
        let s2 = s.clone();
        let other = thread::spawn(move || loom::future::block_on(s2.get_with_hint(2, 2)));
        assert_eq!(loom::future::block_on(s.get_with_hint(1, 2)), Ok(1));
        assert_eq!(other.join().unwrap(), Ok(2));
        settle(&s);
        check_bytes(&s, 2);
        check_counters(&s);
    });
}

/// A job that starts at the default weight (the whole budget) learns it weighs 1: a demand of
/// weight 1 racing the correction starts beside it only once the correction is in, and waits for
/// the end otherwise; both finish, nothing is held at the end.
#[test]
fn set_weight_vs_demand() {
    loom::model(|| {
        let s: S = Scheduler::builder()
            .concurrency(2)
            .reserved_for_demand(0)
            .byte_budget(2)
            .default_weight(2)
            .build(LoomRuntime, |key: &u8, cx: JobContext| {
                let key = *key;
                async move {
                    if key == 1 {
                        cx.set_weight(1);
                    }
                    thread::yield_now();
                    Ok(u32::from(key))
                }
            })
            .unwrap();
        let s2 = s.clone();
        let other = thread::spawn(move || loom::future::block_on(s2.get_with_hint(2, 1)));
        assert_eq!(loom::future::block_on(s.get(1)), Ok(1));
        assert_eq!(other.join().unwrap(), Ok(2));
        settle(&s);
        check_bytes(&s, 2);
        check_counters(&s);
    });
}

/// A job heavier than the budget fails transiently, backs off (holding nothing) and retries,
/// while a light demanded job waits for bytes and runs: neither waits forever, they never hold bytes at once, and nothing is
/// held at the end.
#[test]
fn oversized_retry_vs_demand() {
    loom::model(|| {
        let holders = Arc::new(Holders::default());
        let h = Arc::clone(&holders);
        let s: S = Scheduler::builder()
            .concurrency(2)
            .reserved_for_demand(0)
            .byte_budget(1)
            .retry(fetch_scheduler::RetryPolicy::new(2).base_delay(Duration::ZERO))
            .build(LoomRuntime, move |key: &u8, cx: JobContext| {
                let h = Arc::clone(&h);
                let key = *key;
                async move {
                    h.hold();
                    thread::yield_now();
                    h.give_back();
                    if key == 1 && cx.attempt() == 1 {
                        return Err("reset");
                    }
                    Ok(u32::from(key))
                }
            })
            .unwrap();
        // One caller for both (loom allows five threads: this one, three attempts, a timer).
        let mut values: Vec<(u8, u32)> = loom::future::block_on(async {
            let mut all = s.get_all([(1, 5), (2, 1)]);
            let mut out = Vec::new();
            while let Some((k, v)) = futures_lite::StreamExt::next(&mut all).await {
                out.push((k, v.unwrap()));
            }
            out
        });
        values.sort_unstable();
        assert_eq!(values, vec![(1, 1), (2, 2)]);
        settle(&s);
        let st = s.stats();
        assert_eq!(st.retries, 1, "{st:?}");
        assert_eq!(st.bytes_held, 0, "{st:?}");
        assert_eq!(st.peak_bytes_held, 5, "the oversized job ran alone: {st:?}");
        check_counters(&s);
    });
}

/// On a runtime that drops its tasks, jobs admitted by bytes give them back when they abort.
#[test]
fn runtime_gone_gives_bytes_back() {
    loom::model(|| {
        let s: S = Scheduler::builder()
            .concurrency(2)
            .reserved_for_demand(0)
            .byte_budget(3)
            .build(GoneRuntime, |key: &u8, _cx: JobContext| {
                let key = *key;
                async move { Ok(u32::from(key)) }
            })
            .unwrap();
        let s2 = s.clone();
        let other = thread::spawn(move || loom::future::block_on(s2.get_with_hint(2, 2)));
        assert_eq!(
            loom::future::block_on(s.get_with_hint(1, 2)),
            Err(Error::Aborted)
        );
        assert_eq!(other.join().unwrap(), Err(Error::Aborted));
        assert_eq!(s.stats().in_flight(), 0);
        assert_eq!(s.stats().bytes_held, 0);
        check_counters(&s);
    });
}
