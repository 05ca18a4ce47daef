//! Property test: random sequences of prefetch / get / waiter drop / cancel / completion (success,
//! transient and permanent failure, panic) / close / forget / insert, and in some cases the executor shutting
//! down (dropping every task, refusing new ones), run against the real scheduler on a
//! deterministic hand-cranked executor, and checked step by step against a plain reference model.
//!
//! Checked after every step: the set of in-flight keys with their state and class, the gauges,
//! every waiter's answer (or that it is still pending), "demand never waits while a slot it may
//! use is free", no key fetched twice at once, and that the counters add up. At the end, `close`
//! plus completing what runs must answer every waiter.
#![cfg(not(loom))]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use fetch_scheduler::{
    BoxFuture, Class, Error, ErrorClass, GetAll, JobContext, JobState, Prefetched, RetryPolicy,
    Runtime, Scheduler, Wait,
};
use futures_lite::Stream;
use proptest::prelude::*;

const KEYS: u8 = 6;
const CONCURRENCY: usize = 3;
const RESERVED: usize = 1;

// ---- a deterministic executor ----------------------------------------------------------------

#[derive(Clone, Default)]
struct Manual {
    spawned: Arc<Mutex<Vec<BoxFuture<'static, ()>>>>,
    /// Shut down: every task given to it is dropped unpolled.
    gone: Arc<AtomicBool>,
}

impl Runtime for Manual {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        if self.gone.load(Ordering::SeqCst) {
            drop(task);
        } else {
            self.spawned.lock().unwrap().push(task);
        }
    }
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

// ---- fetches the test completes by hand -------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Ok,
    Transient,
    Permanent,
    Panic,
}

#[derive(Default)]
struct Gates {
    /// Key → the outcome the test chose, once it chose; present while the fetch runs.
    open: BTreeMap<u8, Option<Outcome>>,
    starts: u64,
}

struct Gate {
    key: u8,
    gates: Arc<Mutex<Gates>>,
}

impl Future for Gate {
    type Output = Result<u32, &'static str>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let mut gates = self.gates.lock().unwrap();
        match gates.open.get(&self.key).copied().flatten() {
            None => Poll::Pending,
            Some(outcome) => {
                gates.open.remove(&self.key);
                drop(gates);
                match outcome {
                    Outcome::Ok => Poll::Ready(Ok(value_of(self.key))),
                    Outcome::Transient => Poll::Ready(Err("transient")),
                    Outcome::Permanent => Poll::Ready(Err("permanent")),
                    Outcome::Panic => panic!("boom"),
                }
            }
        }
    }
}

fn value_of(key: u8) -> u32 {
    u32::from(key) * 10
}

/// Marks a key as running while alive.
struct Running {
    key: u8,
    set: Arc<Mutex<BTreeSet<u8>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

// ---- the reference model ----------------------------------------------------------------------

type Answer = Result<u32, Error<&'static str>>;

struct MJob {
    running: bool,
    prefetch: bool,
    waiters: BTreeSet<usize>,
    /// Arrival in its current class: promotion and demotion move a job to the tail.
    seq: u64,
}

impl MJob {
    fn class(&self) -> Class {
        if self.waiters.is_empty() {
            Class::Prefetch
        } else {
            Class::Demand
        }
    }
}

#[derive(Default)]
struct Model {
    jobs: BTreeMap<u8, MJob>,
    done: BTreeMap<u8, Answer>,
    closed: bool,
    /// The executor shut down: no job ever starts again.
    gone: bool,
    seq: u64,
    /// Waiter → its answer once it has one.
    answers: BTreeMap<usize, Option<Answer>>,
}

impl Model {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn dispatch(&mut self) {
        loop {
            let running: Vec<&MJob> = self.jobs.values().filter(|j| j.running).collect();
            if running.len() >= CONCURRENCY {
                return;
            }
            let running_prefetch = running
                .iter()
                .filter(|j| j.class() == Class::Prefetch)
                .count();
            let pick = |class: Class| {
                self.jobs
                    .iter()
                    .filter(|(_, j)| !j.running && j.class() == class)
                    .min_by_key(|(_, j)| j.seq)
                    .map(|(k, _)| *k)
            };
            let next = pick(Class::Demand).or_else(|| {
                if running_prefetch < CONCURRENCY - RESERVED {
                    pick(Class::Prefetch)
                } else {
                    None
                }
            });
            match next {
                Some(k) => self.jobs.get_mut(&k).unwrap().running = true,
                None => return,
            }
        }
    }

    fn prefetch(&mut self, k: u8) -> Prefetched {
        if self.done.contains_key(&k) {
            return Prefetched::Done;
        }
        if let Some(job) = self.jobs.get_mut(&k) {
            job.prefetch = true;
            return Prefetched::Joined;
        }
        if self.closed {
            return Prefetched::Closed;
        }
        if self.gone {
            return Prefetched::Queued; // and fails at once: nothing can run it
        }
        let seq = self.next_seq();
        self.jobs.insert(
            k,
            MJob {
                running: false,
                prefetch: true,
                waiters: BTreeSet::new(),
                seq,
            },
        );
        self.dispatch();
        Prefetched::Queued
    }

    /// Registers waiter `w`; whether it queued a new job (`Wait::is_owner`).
    fn get(&mut self, k: u8, w: usize) -> bool {
        if let Some(answer) = self.done.get(&k) {
            self.answers.insert(w, Some(answer.clone()));
            return false;
        }
        let mut owner = false;
        if self.jobs.contains_key(&k) {
            let seq = self.next_seq();
            let job = self.jobs.get_mut(&k).unwrap();
            if job.waiters.is_empty() && !job.running {
                job.seq = seq; // promoted: tail of the demand class
            }
            job.waiters.insert(w);
        } else if self.closed {
            self.answers.insert(w, Some(Err(Error::Closed)));
            return false;
        } else if self.gone {
            // The job is queued and fails at once: it cannot start.
            self.answers.insert(w, Some(Err(Error::Aborted)));
            return true;
        } else {
            owner = true;
            let seq = self.next_seq();
            let waiters = BTreeSet::from([w]);
            self.jobs.insert(
                k,
                MJob {
                    running: false,
                    prefetch: false,
                    waiters,
                    seq,
                },
            );
        }
        self.answers.insert(w, None);
        self.dispatch();
        owner
    }

    /// `insert`: kept unless the key is in flight.
    fn insert(&mut self, k: u8, value: u32) -> bool {
        if self.jobs.contains_key(&k) {
            return false;
        }
        self.done.insert(k, Ok(value));
        true
    }

    fn drop_waiter(&mut self, w: usize) {
        if self.answers.remove(&w) != Some(None) {
            return; // already answered: dropping changes nothing
        }
        let k = *self
            .jobs
            .iter()
            .find(|(_, j)| j.waiters.contains(&w))
            .unwrap()
            .0;
        let seq = self.next_seq();
        let closed = self.closed;
        let job = self.jobs.get_mut(&k).unwrap();
        job.waiters.remove(&w);
        if job.waiters.is_empty() && !job.running {
            if !job.prefetch || closed {
                self.jobs.remove(&k);
            } else {
                job.seq = seq; // demoted: tail of the prefetch class
            }
        }
        self.dispatch();
    }

    fn cancel(&mut self, k: u8) -> bool {
        match self.jobs.get(&k) {
            Some(job) if !job.running && job.waiters.is_empty() => {
                self.jobs.remove(&k);
                true
            }
            _ => false,
        }
    }

    fn complete(&mut self, k: u8, outcome: Outcome) {
        let job = self.jobs.remove(&k).unwrap();
        let answer: Answer = match outcome {
            Outcome::Ok => Ok(value_of(k)),
            Outcome::Transient => Err(Error::Failed(Arc::new("transient"))),
            Outcome::Permanent => Err(Error::Failed(Arc::new("permanent"))),
            Outcome::Panic => Err(Error::Panicked(Arc::from("boom"))),
        };
        if matches!(outcome, Outcome::Ok | Outcome::Permanent) {
            self.done.insert(k, answer.clone());
        }
        for w in job.waiters {
            self.answers.insert(w, Some(answer.clone()));
        }
        self.dispatch();
    }

    /// The executor drops every task: every job fails its waiters with `Aborted`.
    fn shutdown(&mut self) {
        self.gone = true;
        for (_, job) in std::mem::take(&mut self.jobs) {
            for w in job.waiters {
                self.answers.insert(w, Some(Err(Error::Aborted)));
            }
        }
    }

    fn close(&mut self) {
        self.closed = true;
        self.jobs.retain(|_, j| j.running || !j.waiters.is_empty());
    }
}

// ---- the system under test --------------------------------------------------------------------

/// A `get_all` stream and its waiters (key, waiter id) not yet answered.
type Batch = (GetAll<u8, u32, &'static str>, Vec<(u8, usize)>);

struct Harness {
    scheduler: Scheduler<u8, u32, &'static str>,
    runtime: Manual,
    tasks: Vec<BoxFuture<'static, ()>>,
    gates: Arc<Mutex<Gates>>,
    running_now: Arc<Mutex<BTreeSet<u8>>>,
    waits: BTreeMap<usize, Wait<u8, u32, &'static str>>,
    /// `get_all` streams, each with its waiters (key, waiter id) not yet answered.
    batches: Vec<Batch>,
    answered: BTreeMap<usize, Answer>,
}

impl Harness {
    fn new() -> Self {
        let runtime = Manual::default();
        let gates = Arc::new(Mutex::new(Gates::default()));
        let running_now = Arc::new(Mutex::new(BTreeSet::new()));
        let (g, r) = (Arc::clone(&gates), Arc::clone(&running_now));
        let scheduler = Scheduler::builder()
            .concurrency(CONCURRENCY)
            .reserved_for_demand(RESERVED)
            .retry(RetryPolicy::never())
            .classify(|e: &&'static str| {
                if *e == "permanent" {
                    ErrorClass::Permanent
                } else {
                    ErrorClass::Transient
                }
            })
            .build(runtime.clone(), move |k: &u8, _cx: JobContext| {
                let key = *k;
                let mut gates = g.lock().unwrap();
                gates.starts += 1;
                assert!(
                    gates.open.insert(key, None).is_none(),
                    "key {key} fetched twice at once"
                );
                assert!(r.lock().unwrap().insert(key), "key {key} running twice");
                let gate = Gate {
                    key,
                    gates: Arc::clone(&g),
                };
                let running = Running {
                    key,
                    set: Arc::clone(&r),
                };
                async move {
                    let _running = running; // leaves the set when the attempt ends, even by panic
                    gate.await
                }
            })
            .unwrap();
        Harness {
            scheduler,
            runtime,
            tasks: Vec::new(),
            gates,
            running_now,
            waits: BTreeMap::new(),
            batches: Vec::new(),
            answered: BTreeMap::new(),
        }
    }

    /// Shuts the executor down: refuses new tasks, drops every task it holds.
    fn shutdown(&mut self) {
        self.runtime.gone.store(true, Ordering::SeqCst);
        let spawned: Vec<_> = self.runtime.spawned.lock().unwrap().drain(..).collect();
        drop(spawned);
        drop(std::mem::take(&mut self.tasks));
        self.gates.lock().unwrap().open.clear();
    }

    /// Polls every task until nothing moves.
    fn run(&mut self) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut quiet_rounds = 0;
        while quiet_rounds < 2 {
            let mut moved = false;
            let new: Vec<_> = self.runtime.spawned.lock().unwrap().drain(..).collect();
            moved |= !new.is_empty();
            self.tasks.extend(new);
            let starts = self.gates.lock().unwrap().starts;
            let before = self.tasks.len();
            self.tasks
                .retain_mut(|t| t.as_mut().poll(&mut cx).is_pending());
            moved |= self.tasks.len() != before || self.gates.lock().unwrap().starts != starts;
            quiet_rounds = if moved { 0 } else { quiet_rounds + 1 };
        }
        for (stream, members) in &mut self.batches {
            while let Poll::Ready(Some((key, answer))) = Pin::new(&mut *stream).poll_next(&mut cx) {
                // Answers of one key are the same for every waiter of it: give it to the first.
                let i = members
                    .iter()
                    .position(|&(k, _)| k == key)
                    .expect("a batch yields its own keys");
                let (_, w) = members.remove(i);
                self.answered.insert(w, answer);
            }
        }
        let ids: Vec<usize> = self.waits.keys().copied().collect();
        for w in ids {
            let wait = self.waits.get_mut(&w).unwrap();
            if let Poll::Ready(answer) = Pin::new(wait).poll(&mut cx) {
                self.waits.remove(&w);
                self.answered.insert(w, answer);
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Prefetch(u8),
    Get(u8),
    DropWaiter(usize),
    GetAll(Vec<u8>),
    DropBatch(usize),
    Cancel(u8),
    Complete(usize, Outcome),
    Close,
    Forget(u8),
    Insert(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS;
    let outcome = prop_oneof![
        4 => Just(Outcome::Ok),
        2 => Just(Outcome::Transient),
        1 => Just(Outcome::Permanent),
        1 => Just(Outcome::Panic),
    ];
    prop_oneof![
        6 => key.clone().prop_map(Op::Prefetch),
        6 => key.clone().prop_map(Op::Get),
        3 => (0usize..64).prop_map(Op::DropWaiter),
        3 => proptest::collection::vec(0..KEYS, 1..4).prop_map(Op::GetAll),
        1 => (0usize..8).prop_map(Op::DropBatch),
        2 => key.clone().prop_map(Op::Cancel),
        8 => ((0usize..8), outcome).prop_map(|(i, o)| Op::Complete(i, o)),
        1 => Just(Op::Close),
        1 => key.clone().prop_map(Op::Forget),
        1 => key.prop_map(Op::Insert),
    ]
}

fn check(h: &Harness, model: &Model) -> Result<(), TestCaseError> {
    // In-flight keys, state and class.
    let real: BTreeMap<u8, (bool, Class)> = h
        .scheduler
        .snapshot()
        .into_iter()
        .map(|f| {
            (
                f.key,
                (
                    matches!(f.state, JobState::Running { .. }),
                    f.priority.class,
                ),
            )
        })
        .collect();
    let expected: BTreeMap<u8, (bool, Class)> = model
        .jobs
        .iter()
        .map(|(k, j)| (*k, (j.running, j.class())))
        .collect();
    prop_assert_eq!(&real, &expected);
    let running: BTreeSet<u8> = model
        .jobs
        .iter()
        .filter(|(_, j)| j.running)
        .map(|(k, _)| *k)
        .collect();
    prop_assert_eq!(&*h.running_now.lock().unwrap(), &running);

    // Answers.
    for (w, answer) in &model.answers {
        match answer {
            Some(a) => prop_assert_eq!(h.answered.get(w), Some(a), "waiter {}", w),
            None => prop_assert!(
                h.waits.contains_key(w)
                    || h.batches
                        .iter()
                        .any(|(_, m)| m.iter().any(|&(_, x)| x == *w)),
                "waiter {} answered early",
                w
            ),
        }
    }

    // Gauges, capacity and counters.
    let st = h.scheduler.stats();
    prop_assert_eq!(st.running(), running.len());
    if st.queued_demand > 0 {
        prop_assert_eq!(
            st.running(),
            CONCURRENCY,
            "demand waits while a slot is free: {:?}",
            st
        );
    }
    if st.queued_prefetch > 0 {
        prop_assert!(
            st.running() == CONCURRENCY || st.running_prefetch >= CONCURRENCY - RESERVED,
            "prefetch waits while a prefetch slot is free: {:?}",
            st
        );
    }
    prop_assert!(st.running() <= CONCURRENCY);
    prop_assert_eq!(
        st.queued_by_prefetch + st.queued_by_demand,
        st.succeeded + st.failed + st.panicked + st.aborted + st.cancelled + st.in_flight() as u64,
        "{:?}",
        st
    );
    prop_assert_eq!(
        st.attempts,
        st.succeeded + st.failed + st.panicked + st.interrupted + st.retries + st.running() as u64
    );
    prop_assert_eq!(st.kept, model.done.len());
    Ok(())
}

fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"boom") {
                default(info);
            }
        }));
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1000)
    ))]

    #[test]
    fn scheduler_matches_reference_model(
        ops in proptest::collection::vec(op(), 1..60),
        shutdown_at in proptest::option::weighted(0.25, 0..60usize),
    ) {
        quiet_expected_panics();
        let mut h = Harness::new();
        let mut model = Model::default();
        let mut next_waiter = 0usize;
        for (i, op) in ops.into_iter().enumerate() {
            if shutdown_at == Some(i) {
                h.shutdown();
                model.shutdown();
                h.run();
                check(&h, &model)?;
            }
            match op {
                Op::Prefetch(k) => {
                    let got = h.scheduler.prefetch(k);
                    prop_assert_eq!(got, model.prefetch(k));
                }
                Op::Get(k) => {
                    let w = next_waiter;
                    next_waiter += 1;
                    let wait = h.scheduler.get(k);
                    prop_assert_eq!(wait.is_owner(), model.get(k, w), "is_owner of get({})", k);
                    h.waits.insert(w, wait);
                }
                Op::DropWaiter(i) => {
                    if next_waiter > 0 {
                        let w = i % next_waiter;
                        if h.waits.remove(&w).is_some() || !h.batches.iter().any(|(_, m)| m.iter().any(|&(_, x)| x == w)) {
                            model.drop_waiter(w);
                        }
                    }
                }
                Op::GetAll(keys) => {
                    let mut members = Vec::new();
                    for &k in &keys {
                        model.get(k, next_waiter);
                        members.push((k, next_waiter));
                        next_waiter += 1;
                    }
                    h.batches.push((h.scheduler.get_all(keys), members));
                }
                Op::DropBatch(i) => {
                    if !h.batches.is_empty() {
                        let (stream, members) = h.batches.remove(i % h.batches.len());
                        drop(stream);
                        for (_, w) in members {
                            model.drop_waiter(w);
                        }
                    }
                }
                Op::Cancel(k) => prop_assert_eq!(h.scheduler.cancel(&k), model.cancel(k)),
                Op::Complete(i, outcome) => {
                    let running: Vec<u8> = model.jobs.iter().filter(|(_, j)| j.running).map(|(k, _)| *k).collect();
                    if !running.is_empty() {
                        let k = running[i % running.len()];
                        h.gates.lock().unwrap().open.insert(k, Some(outcome));
                        model.complete(k, outcome);
                    }
                }
                Op::Close => {
                    h.scheduler.close();
                    model.close();
                }
                Op::Forget(k) => prop_assert_eq!(h.scheduler.forget(&k), model.done.remove(&k).is_some()),
                Op::Insert(k) => {
                    let value = value_of(k) + 1;
                    prop_assert_eq!(h.scheduler.insert(k, value), model.insert(k, value));
                }
            }
            h.run();
            check(&h, &model)?;
        }

        // Every waiter finishes: close, then complete whatever runs until nothing is left.
        h.scheduler.close();
        model.close();
        h.run();
        check(&h, &model)?;
        while let Some((&k, _)) = model.jobs.iter().find(|(_, j)| j.running) {
            h.gates.lock().unwrap().open.insert(k, Some(Outcome::Ok));
            model.complete(k, Outcome::Ok);
            h.run();
            check(&h, &model)?;
        }
        prop_assert!(model.jobs.is_empty(), "jobs left that nothing runs");
        prop_assert!(h.waits.is_empty(), "waiters left unanswered: {:?}", h.waits.keys().collect::<Vec<_>>());
        prop_assert!(h.batches.iter().all(|(_, m)| m.is_empty()), "get_all keys left unanswered");
        prop_assert_eq!(h.scheduler.stats().in_flight(), 0);
    }
}
