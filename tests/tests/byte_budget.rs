//! The byte budget, under tokio multi-thread, tokio current-thread and smol: it bounds the bytes
//! running jobs hold, keeps the demand's share from prefetches, lets a job heavier than the budget
//! run alone, follows the attempt's corrections and early releases, and holds nothing for a job in
//! retry backoff.
//!
//! Ordering is controlled with the fake fetcher's gates and observed through events and `stats()`;
//! every wait is bounded by the suite's deadline.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use fetch_scheduler::{EventKind, Fetch, JobContext, RetryPolicy, Scheduler};
use fetch_scheduler_tests::{
    Ctx, Fake, FetchError, Key, ManualTimers, Recorder, Step, TestScheduler, Value, classify,
    close_and_settle, for_each_executor, value_of,
};

/// The contexts of the attempts started so far, by key, so a test can act as the fetcher would.
type Contexts = Arc<Mutex<BTreeMap<Key, JobContext>>>;

/// A scheduler over `fake` with `concurrency` slots, `reserved` for demand, a budget of `budget`
/// bytes and a default weight of `default_weight`; records each attempt's context in `contexts`.
fn build(
    runtime: impl fetch_scheduler::Runtime,
    fake: &Fake,
    (concurrency, reserved): (usize, usize),
    (budget, default_weight): (u64, u64),
    retry: RetryPolicy,
    contexts: &Contexts,
) -> TestScheduler {
    let fetcher = Recording {
        fake: fake.clone(),
        contexts: Arc::clone(contexts),
    };
    Scheduler::builder()
        .concurrency(concurrency)
        .reserved_for_demand(reserved)
        .byte_budget(budget)
        .default_weight(default_weight)
        .retry(retry)
        .classify(classify)
        .build(runtime, fetcher)
        .expect("valid test configuration")
}

/// The fake fetcher, keeping each attempt's context.
struct Recording {
    fake: Fake,
    contexts: Contexts,
}

impl Fetch<Key, Value, FetchError> for Recording {
    fn fetch(
        &self,
        key: &Key,
        cx: JobContext,
    ) -> impl Future<Output = Result<Value, FetchError>> + Send + 'static {
        self.contexts.lock().unwrap().insert(*key, cx.clone());
        self.fake.fetch(key, cx)
    }
}

/// What each in-flight key holds against the budget now.
fn held(s: &TestScheduler) -> BTreeMap<Key, u64> {
    s.snapshot()
        .into_iter()
        .map(|f| (f.key, f.bytes_held))
        .collect()
}

/// Six demands of 4 bytes under a budget of 10 with eight slots: two run at once, the third waits
/// for bytes with slots free (and says so), each end lets the next start, and the peak is 8.
async fn budget_bounds_bytes_in_flight(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold_all();
    let contexts = Contexts::default();
    let s = build(
        ctx.runtime(),
        &fake,
        (8, 2),
        (10, 1),
        RetryPolicy::never(),
        &contexts,
    );
    let mut rec = Recorder::new(&s);

    let waits: Vec<_> = (1..=6).map(|k| s.get_with_hint(k, 4)).collect();
    rec.wait_for(&ctx, "key 3 waits for bytes", |e| {
        e.key == 3 && e.kind == EventKind::WaitingForBytes { weight: 4, held: 8 }
    })
    .await;
    let st = s.stats();
    assert_eq!(
        (st.running(), st.queued_demand, st.bytes_held),
        (2, 4, 8),
        "{st:?}"
    );
    assert_eq!(st.waited_for_bytes, 1, "{st:?}");
    for k in 1..=6 {
        fake.release(k);
        // Key k's end frees the bytes key k + 2 needs (the fake counts the start, not an event).
        ctx.within("the next job starts", fake.started((k + 2).min(6), 1))
            .await;
        assert!(s.stats().bytes_held <= 10);
        assert!(fake.max_running() <= 2, "at most two fit the budget");
    }
    for (k, wait) in (1..=6).zip(waits) {
        assert_eq!(ctx.within("each get", wait).await.unwrap(), value_of(k, 1));
    }
    let st = close_and_settle(&ctx, &s, &mut rec).await;
    assert_eq!(st.peak_bytes_held, 8, "{st:?}");
    assert_eq!(fake.max_running(), 2);
}

/// A job heavier than the whole budget waits until nothing holds bytes, then runs alone: a light
/// job asked for after it waits for its end. Nobody waits forever.
async fn oversized_job_runs_alone(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold_all();
    let contexts = Contexts::default();
    let s = build(
        ctx.runtime(),
        &fake,
        (4, 1),
        (10, 1),
        RetryPolicy::never(),
        &contexts,
    );
    let mut rec = Recorder::new(&s);

    let light = s.get_with_hint(1, 4);
    ctx.within("key 1 starts", fake.started(1, 1)).await;
    let heavy = s.get_with_hint(2, 50);
    let after = s.get_with_hint(3, 1);
    rec.wait_for(&ctx, "the heavy job waits for bytes", |e| {
        e.key == 2 && matches!(e.kind, EventKind::WaitingForBytes { weight: 50, .. })
    })
    .await;
    assert_eq!(fake.calls(3), 0, "nothing overtakes the head of the queue");
    fake.release(1);
    ctx.within("the heavy job starts alone", fake.started(2, 1))
        .await;
    assert_eq!(held(&s), BTreeMap::from([(2, 50), (3, 0)]));
    fake.release(2);
    fake.release(3);
    assert_eq!(ctx.within("light", light).await.unwrap(), value_of(1, 1));
    assert_eq!(ctx.within("heavy", heavy).await.unwrap(), value_of(2, 1));
    assert_eq!(ctx.within("after", after).await.unwrap(), value_of(3, 1));
    assert_eq!(fake.max_running(), 1, "each ran alone");
    let st = close_and_settle(&ctx, &s, &mut rec).await;
    assert_eq!(st.peak_bytes_held, 50, "{st:?}");
}

/// Prefetches hold at most the budget less the demand's share (100 × 1/4 here): with large
/// prefetches queued, a small demand starts at once.
async fn demand_share_is_never_taken_by_prefetches(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold_all();
    let contexts = Contexts::default();
    let s = build(
        ctx.runtime(),
        &fake,
        (4, 1),
        (100, 1),
        RetryPolicy::never(),
        &contexts,
    );
    let mut rec = Recorder::new(&s);

    for k in 1..=4 {
        s.prefetch_with_hint(k, 30);
    }
    rec.wait_for(&ctx, "the third prefetch waits for bytes", |e| {
        matches!(
            e.kind,
            EventKind::WaitingForBytes {
                weight: 30,
                held: 60
            }
        )
    })
    .await;
    assert_eq!(s.stats().running_prefetch, 2, "{:?}", s.stats());
    let small = s.get_with_hint(9, 20);
    ctx.within(
        "the demand starts beside the prefetches",
        fake.started(9, 1),
    )
    .await;
    assert_eq!(s.stats().bytes_held, 80);
    fake.release_all();
    assert_eq!(
        ctx.within("the demand", small).await.unwrap(),
        value_of(9, 1)
    );
    let st = close_and_settle(&ctx, &s, &mut rec).await;
    assert!(st.peak_bytes_held <= 100, "{st:?}");
}

/// The attempt corrects its weight (a lighter one lets a queued job start at once) and releases
/// its bytes early; a context whose attempt has ended changes nothing.
async fn set_weight_and_release(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold_all();
    let contexts = Contexts::default();
    let s = build(
        ctx.runtime(),
        &fake,
        (4, 0),
        (10, 10),
        RetryPolicy::never(),
        &contexts,
    );
    let mut rec = Recorder::new(&s);
    let cx = |k: Key| contexts.lock().unwrap()[&k].clone();

    let one = s.get(1); // the default weight: the whole budget
    ctx.within("key 1 starts", fake.started(1, 1)).await;
    let two = s.get_with_hint(2, 6);
    rec.wait_for(&ctx, "key 2 waits for bytes", |e| {
        e.key == 2 && matches!(e.kind, EventKind::WaitingForBytes { .. })
    })
    .await;
    cx(1).set_weight(4); // the Content-Length is in
    ctx.within("key 2 starts beside it", fake.started(2, 1))
        .await;
    assert_eq!(held(&s), BTreeMap::from([(1, 4), (2, 6)]));
    let three = s.get_with_hint(3, 5);
    rec.wait_for(&ctx, "key 3 waits for bytes", |e| {
        e.key == 3 && matches!(e.kind, EventKind::WaitingForBytes { .. })
    })
    .await;
    cx(1).release();
    cx(1).set_weight(9); // after the release: only what a later attempt would start at
    assert_eq!(s.stats().bytes_held, 6);
    cx(2).release();
    ctx.within("key 3 starts once 2 released", fake.started(3, 1))
        .await;
    assert_eq!(held(&s), BTreeMap::from([(1, 0), (2, 0), (3, 5)]));
    fake.release_all();
    assert_eq!(ctx.within("one", one).await.unwrap(), value_of(1, 1));
    assert_eq!(ctx.within("two", two).await.unwrap(), value_of(2, 1));
    assert_eq!(ctx.within("three", three).await.unwrap(), value_of(3, 1));
    cx(1).set_weight(1000); // its attempt is over
    cx(1).release();
    let st = close_and_settle(&ctx, &s, &mut rec).await;
    assert_eq!(st.peak_bytes_held, 10, "{st:?}");
}

/// A job in retry backoff holds no bytes: the job queued behind it starts; the retry starts at the
/// weight the failed attempt learnt, once it fits.
async fn backoff_holds_no_bytes(ctx: Ctx) {
    let fake = Fake::new();
    fake.script(1, [Step::Fail]);
    fake.hold(1);
    fake.hold(2);
    let contexts = Contexts::default();
    let timers = ManualTimers::new(ctx.runtime());
    let s = build(
        timers.clone(),
        &fake,
        (4, 0),
        (10, 1),
        RetryPolicy::new(2),
        &contexts,
    );
    let mut rec = Recorder::new(&s);

    let one = s.get_with_hint(1, 10);
    ctx.within("key 1 starts", fake.started(1, 1)).await;
    let two = s.get_with_hint(2, 10);
    contexts.lock().unwrap()[&1].set_weight(8);
    fake.release(1);
    fake.hold(1);
    ctx.within("key 1 backs off", timers.until_pending(1)).await;
    ctx.within("key 2 starts in the freed bytes", fake.started(2, 1))
        .await;
    let st = s.stats();
    assert_eq!((st.backing_off, st.bytes_held), (1, 10), "{st:?}");
    assert_eq!(held(&s), BTreeMap::from([(1, 0), (2, 10)]));
    timers.fire();
    rec.wait_for(
        &ctx,
        "the retry waits for bytes at its learnt weight",
        |e| {
            e.key == 1
                && e.kind
                    == EventKind::WaitingForBytes {
                        weight: 8,
                        held: 10,
                    }
        },
    )
    .await;
    fake.release(2);
    ctx.within("the retry starts", fake.started(1, 2)).await;
    assert_eq!(held(&s), BTreeMap::from([(1, 8)]));
    fake.release(1);
    assert_eq!(ctx.within("one", one).await.unwrap(), value_of(1, 2));
    assert_eq!(ctx.within("two", two).await.unwrap(), value_of(2, 1));
    close_and_settle(&ctx, &s, &mut rec).await;
}

for_each_executor!(
    budget_bounds_bytes_in_flight,
    oversized_job_runs_alone,
    demand_share_is_never_taken_by_prefetches,
    set_weight_and_release,
    backoff_holds_no_bytes,
);
