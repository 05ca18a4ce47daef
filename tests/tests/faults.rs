//! Fault injection, under the three executors: fetcher error, panic, waiter dropped mid-wait,
//! leader gone, cancel during promotion, close with queued and running jobs, retry exhaustion.
//!
//! Each test checks that every waiter ends with the right result, nothing hangs (every await is
//! under a timeout), and no slot is leaked: `stats()` settles to zero in flight, zero running and
//! zero waiters, and all `concurrency` slots can be taken again at once.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use fetch_scheduler::{Error, EventKind, FailCause, Prefetched, RetryPolicy, Scheduler};
use fetch_scheduler_tests::{
    Ctx, Fake, Key, ManualTimers, Recorder, Step, TestScheduler, assert_settled, build,
    build_with_retry, check_capacity, classify, close_and_settle, for_each_executor, settled,
    value_of,
};
use futures_lite::StreamExt;

/// Proves no slot leaked: `concurrency` fresh demands all run at the same time, then the
/// scheduler settles and the events match the counters.
async fn all_slots_free(
    ctx: &Ctx,
    s: &TestScheduler,
    fake: &Fake,
    concurrency: usize,
    rec: &mut Recorder,
) {
    ctx.within("drain before the slot check", s.drain()).await;
    assert_settled(&s.stats());
    let base = fake.running();
    assert_eq!(base, 0, "no attempt left running");
    let keys: Vec<Key> = (0..concurrency as u64).map(|i| 900_000 + i).collect();
    for &k in &keys {
        fake.hold(k);
    }
    let waits: Vec<_> = keys.iter().map(|&k| s.get(k)).collect();
    ctx.within(
        "every slot taken at once",
        fake.until(|f| f.running() == concurrency),
    )
    .await;
    for &k in &keys {
        fake.release(k);
    }
    for (w, &k) in waits.into_iter().zip(&keys) {
        assert_eq!(
            ctx.within("slot-check job", w).await.unwrap(),
            value_of(k, 1)
        );
    }
    close_and_settle(ctx, s, rec).await;
}

/// A fetcher error reaches every kind of waiter (task, `get_all` stream, blocking thread) and no
/// prefetch-only failure hangs anything; the failed keys are absent and fetch again.
async fn fetcher_error(ctx: Ctx) {
    let fake = Fake::new();
    let s = build(&ctx, &fake, 3, 1);
    let mut rec = Recorder::new(&s);
    for k in 0..6 {
        fake.hold(k);
        fake.script(k, [Step::Fail]);
    }
    for k in 0..6 {
        s.prefetch(k);
    }
    let task = {
        let s = s.clone();
        ctx.spawn(async move { s.get(0).await })
    };
    let mut stream = s.get_all([1, 2]);
    let thread = {
        let s = s.clone();
        ctx.thread(move || s.get_blocking(&3))
    };
    rec.until(&ctx, "four waiters", || s.stats().waiters == 4)
        .await;
    fake.release_all();
    let e = ctx.within("task waiter", task).await.unwrap_err();
    assert_eq!(e.fetch_error().unwrap().key, 0);
    let mut keys = Vec::new();
    while let Some((k, r)) = ctx.within("stream", stream.next()).await {
        assert_eq!(r.unwrap_err().fetch_error().unwrap().key, k);
        keys.push(k);
    }
    keys.sort_unstable();
    assert_eq!(keys, [1, 2]);
    let e = ctx.within("blocking waiter", thread).await.unwrap_err();
    assert_eq!(e.fetch_error().unwrap().key, 3);
    ctx.within("drain", s.drain()).await;
    assert_eq!(s.stats().failed, 6, "prefetch-only failures end too");
    for k in 0..6 {
        assert_eq!(s.peek(&k), None);
        assert_eq!(
            ctx.within("refetch", s.get(k)).await.unwrap(),
            value_of(k, 1)
        );
        assert_eq!(fake.calls(k), 2);
    }
    all_slots_free(&ctx, &s, &fake, 3, &mut rec).await;
}

/// Panics fill every slot at once; every waiter gets `Panicked`, and every slot is free after.
async fn panic_in_every_slot(ctx: Ctx) {
    let fake = Fake::new();
    let s = build_with_retry(
        &ctx,
        &fake,
        4,
        1,
        RetryPolicy::new(3).base_delay(Duration::from_millis(1)),
    );
    let mut rec = Recorder::new(&s);
    for k in 0..8 {
        fake.hold(k);
        fake.script(
            k,
            [if k % 2 == 0 {
                Step::Panic
            } else {
                Step::PanicBeforeFuture
            }],
        );
    }
    // The even keys (panicking in their future, held) take the four slots first, so both waiters
    // of each odd key (panicking before any future exists) are in before its attempt starts.
    let waits: Vec<_> = [0, 2, 4, 6, 1, 3, 5, 7]
        .into_iter()
        .map(|k| (k, s.get(k), s.get(k)))
        .collect();
    assert_eq!(s.stats().queued_demand, 4);
    fake.release_all();
    for (k, a, b) in waits {
        for w in [a, b] {
            match ctx.within("panicked waiter", w).await {
                Err(Error::Panicked(msg)) => assert!(msg.contains(&format!("key {k} ")), "{msg}"),
                other => panic!("key {k}: expected Panicked, got {other:?}"),
            }
        }
        assert_eq!(fake.calls(k), 1, "a panic is not retried");
    }
    assert_eq!(s.stats().panicked, 8);
    all_slots_free(&ctx, &s, &fake, 4, &mut rec).await;
}

/// Waiters dropped while queued, while running, while backing off, and racing the completion from
/// another thread: nothing hangs, nothing leaks, and the running jobs' results are kept.
async fn waiter_dropped_mid_wait(ctx: Ctx) {
    let fake = Fake::new();
    let policy = RetryPolicy::new(3)
        .base_delay(Duration::from_secs(3600))
        .jitter(false);
    let s = build_with_retry(&ctx, &fake, 1, 0, policy);
    let mut rec = Recorder::new(&s);
    fake.hold(0);
    let w0 = s.get(0);
    ctx.within("0 runs", fake.started(0, 1)).await;
    let queued = s.get(1); // queued behind 0
    drop(queued);
    assert_eq!(s.stats().queued_demand, 0, "withdrawn from the queue");
    // Dropped after being polled once (registered a waker), while running.
    let mut w0b = s.get(0);
    assert!(futures_lite::future::poll_once(&mut w0b).await.is_none());
    drop(w0b);
    drop(w0);
    fake.release(0);
    ctx.within("drain", s.drain()).await;
    assert_eq!(
        s.peek(&0),
        Some(value_of(0, 1)),
        "the running job finished unobserved"
    );

    // Dropped while backing off: with no other interest the job goes.
    fake.script(2, [Step::Fail]);
    let w2 = s.get(2);
    rec.wait_for(&ctx, "2 backs off", |e| {
        e.key == 2 && matches!(e.kind, EventKind::Retrying { .. })
    })
    .await;
    assert_eq!(s.stats().backing_off, 1);
    drop(w2);
    let st = s.stats();
    assert_eq!((st.backing_off, st.in_flight()), (0, 0));
    assert_eq!(fake.calls(2), 1);

    // Drops racing completions, from a plain thread, many times.
    for round in 0..200u64 {
        let k = 1000 + round;
        fake.hold(k);
        let w = s.get(k);
        ctx.within("racing key starts", fake.started(k, 1)).await;
        let releaser = {
            let fake = fake.clone();
            ctx.thread(move || fake.release(k))
        };
        if round % 2 == 0 {
            futures_lite::future::yield_now().await;
        }
        drop(w);
        ctx.within("releaser", releaser).await;
        ctx.within("racing drain", s.drain()).await;
        assert_eq!(s.peek(&k), Some(value_of(k, 1)));
        assert_eq!(s.stats().waiters, 0);
    }
    all_slots_free(&ctx, &s, &fake, 1, &mut rec).await;
}

/// The caller that started a job goes away (its task aborted): joiners still get the value, a job
/// nobody else awaits still finishes and is kept, and a queued demand nobody else wants leaves.
async fn leader_gone(ctx: Ctx) {
    let fake = Fake::new();
    let s = build(&ctx, &fake, 2, 0);
    let mut rec = Recorder::new(&s);

    // Running, with a joiner.
    fake.hold(1);
    let leader = {
        let s = s.clone();
        ctx.spawn(async move { s.get(1).await })
    };
    ctx.within("1 runs", fake.started(1, 1)).await;
    let joiner = s.get(1);
    assert!(ctx.within("abort the leader", leader.abort()).await);
    assert_eq!(s.stats().waiters, 1);
    fake.release(1);
    assert_eq!(ctx.within("joiner", joiner).await.unwrap(), value_of(1, 1));

    // Running, alone.
    fake.hold(2);
    let leader = {
        let s = s.clone();
        ctx.spawn(async move { s.get(2).await })
    };
    ctx.within("2 runs", fake.started(2, 1)).await;
    assert!(ctx.within("abort the leader", leader.abort()).await);
    fake.release(2);
    ctx.within("drain", s.drain()).await;
    assert_eq!(s.peek(&2), Some(value_of(2, 1)));
    assert_eq!(fake.calls(2), 1);

    // Queued (both slots busy), alone: it leaves; with a joiner: it stays a demand and runs.
    fake.hold(10);
    fake.hold(11);
    s.prefetch(10);
    s.prefetch(11);
    ctx.within("slots busy", fake.until(|f| f.running() == 2))
        .await;
    let lone = {
        let s = s.clone();
        ctx.spawn(async move { s.get(3).await })
    };
    let joined = {
        let s = s.clone();
        ctx.spawn(async move { s.get(4).await })
    };
    rec.until(&ctx, "two queued demands", || s.stats().queued_demand == 2)
        .await;
    let joiner = s.get(4);
    assert!(ctx.within("abort lone leader", lone.abort()).await);
    assert!(ctx.within("abort joined leader", joined.abort()).await);
    let st = s.stats();
    assert_eq!((st.queued_demand, st.waiters), (1, 1));
    assert_eq!(rec.kinds(3).last(), Some(&EventKind::Cancelled));
    fake.release(10);
    fake.release(11);
    assert_eq!(
        ctx.within("joiner of 4", joiner).await.unwrap(),
        value_of(4, 1)
    );
    assert_eq!(fake.calls(3), 0);
    all_slots_free(&ctx, &s, &fake, 2, &mut rec).await;
}

/// `cancel` racing `get` on a queued prefetch (two plain threads released together): whichever
/// wins, the `get` gets the value, never `Cancelled`, and the key is fetched once.
async fn cancel_during_promotion(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(0);
    // One prefetch slot (held by the blocker), one reserved for demand.
    let s = build(&ctx, &fake, 2, 1);
    let mut rec = Recorder::new(&s);
    s.prefetch(0);
    ctx.within("blocker runs", fake.started(0, 1)).await;
    let mut cancels_won = 0;
    for round in 0..100u64 {
        let k = 100 + round;
        assert_eq!(s.prefetch(k), Prefetched::Queued);
        let barrier = Arc::new(Barrier::new(2));
        let getter = {
            let (s, b) = (s.clone(), Arc::clone(&barrier));
            ctx.thread(move || {
                b.wait();
                s.get_blocking(&k)
            })
        };
        let canceller = {
            let (s, b) = (s.clone(), Arc::clone(&barrier));
            ctx.thread(move || {
                b.wait();
                s.cancel(&k)
            })
        };
        let got = ctx.within("getter", getter).await;
        let cancelled = ctx.within("canceller", canceller).await;
        assert_eq!(
            got,
            Ok(value_of(k, 1)),
            "round {round}, cancel won: {cancelled}"
        );
        assert_eq!(fake.calls(k), 1, "round {round}");
        cancels_won += u32::from(cancelled);
        check_capacity(&s.stats(), 2, 1).unwrap();
    }
    // Sequential promotion then cancel: the demand protects the job.
    s.prefetch(50);
    let w = s.get(50);
    assert!(!s.cancel(&50));
    assert_eq!(ctx.within("w50", w).await.unwrap(), value_of(50, 1));
    fake.release(0);
    let st = s.stats();
    assert_eq!(st.cancelled, u64::from(cancels_won));
    all_slots_free(&ctx, &s, &fake, 2, &mut rec).await;
}

/// `close` with running jobs (awaited or not), queued demands, queued prefetches, and jobs backing
/// off with and without waiters: every waiter gets its job's result, speculative work is dropped
/// (including retries and demoted jobs after `close`), and `drain` resolves.
async fn close_with_queued_and_running(ctx: Ctx) {
    let fake = Fake::new();
    let timers = ManualTimers::new(ctx.runtime());
    let s: TestScheduler = Scheduler::builder()
        .concurrency(3)
        .reserved_for_demand(1)
        .retry(RetryPolicy::new(3))
        .classify(classify)
        .build(timers.clone(), fake.clone())
        .unwrap();
    let mut rec = Recorder::new(&s);
    // Two keys fail once and back off: one awaited, one not.
    fake.script(20, [Step::Fail]);
    fake.script(21, [Step::Fail]);
    let w20 = s.get(20);
    s.prefetch(21);
    for _ in 0..2 {
        rec.wait_for(&ctx, "20 and 21 back off", |e| {
            matches!(e.kind, EventKind::Retrying { .. })
        })
        .await;
    }
    // The event is sent under the lock; the timer starts just after it is released.
    ctx.within("20 and 21 wait on their timers", timers.until_pending(2))
        .await;
    // Running: an awaited demand, a prefetch that will fail transiently, a plain prefetch.
    for k in [1, 2, 3] {
        fake.hold(k);
    }
    fake.script(2, [Step::Fail]);
    let w1 = s.get(1);
    s.prefetch(2);
    s.prefetch(3);
    ctx.within("three running", fake.until(|f| f.running() == 3))
        .await;
    // Queued: demands (one awaited by a blocking thread), prefetches, a promoted prefetch.
    let w4 = s.get(4);
    let blocking5 = {
        let s = s.clone();
        ctx.thread(move || s.get_blocking(&5))
    };
    s.prefetch(6);
    s.prefetch(7);
    s.prefetch(8);
    let w8 = s.get(8);
    rec.until(&ctx, "queued demands", || s.stats().queued_demand == 3)
        .await;
    let st = s.stats();
    assert_eq!((st.queued_prefetch, st.backing_off), (2, 2));

    s.close();
    let cancelled: Vec<Key> = rec
        .all()
        .iter()
        .filter(|e| e.kind == EventKind::Cancelled)
        .map(|e| e.key)
        .collect();
    let mut cancelled = cancelled;
    cancelled.sort_unstable();
    assert_eq!(
        cancelled,
        vec![6, 7, 21],
        "queued prefetches and the unawaited backoff go"
    );
    assert!(matches!(s.get(99).await, Err(Error::Closed)));
    // The promoted prefetch loses its demand after close: it is speculative now, so it goes.
    drop(w8);
    assert_eq!(rec.kinds(8).last(), Some(&EventKind::Cancelled));

    fake.release_all();
    let ended = rec
        .wait_for(&ctx, "the prefetch of 2 fails after close", |e| {
            e.key == 2
                && matches!(
                    e.kind,
                    EventKind::Failed { .. } | EventKind::Retrying { .. }
                )
        })
        .await;
    assert!(
        matches!(ended.kind, EventKind::Failed { .. }),
        "a prefetch failing after close is not retried: {ended:?}"
    );
    assert_eq!(
        timers.pending(),
        2,
        "no timer for the prefetch failing after close"
    );
    timers.fire();
    assert_eq!(ctx.within("w1", w1).await.unwrap(), value_of(1, 1));
    assert_eq!(ctx.within("w4", w4).await.unwrap(), value_of(4, 1));
    assert_eq!(
        ctx.within("blocking 5", blocking5).await.unwrap(),
        value_of(5, 1)
    );
    assert_eq!(
        ctx.within("w20 retried after close", w20).await.unwrap(),
        value_of(20, 2)
    );
    ctx.within("drain after close", s.drain()).await;
    assert_eq!(
        fake.calls(2),
        1,
        "a prefetch failing after close is not retried"
    );
    assert_eq!(
        rec.kinds(2).last(),
        Some(&EventKind::Failed {
            attempt: 1,
            cause: FailCause::Transient
        })
    );
    assert_eq!(
        s.peek(&3),
        Some(value_of(3, 1)),
        "running prefetch finished"
    );
    for k in [6, 7, 8, 21] {
        assert_eq!(s.peek(&k), None);
    }
    settled(&s, &mut rec);
}

/// Every attempt fails: the waiters get the last attempt's error after `max_attempts`, the key is
/// absent again, and a new request starts over from attempt 1.
async fn retry_exhaustion(ctx: Ctx) {
    let fake = Fake::new();
    let policy = RetryPolicy::new(3)
        .base_delay(Duration::from_millis(1))
        .jitter(false);
    let s = build_with_retry(&ctx, &fake, 2, 0, policy);
    let mut rec = Recorder::new(&s);
    fake.script(1, [Step::Fail; 6]);
    fake.hold(1);
    s.prefetch(1);
    let a = s.get(1);
    let b = s.get(1);
    fake.release(1);
    let ea = ctx.within("a", a).await.unwrap_err();
    let eb = ctx.within("b", b).await.unwrap_err();
    let err = ea.fetch_error().unwrap();
    assert_eq!(
        (err.key, err.attempt, err.permanent),
        (1, 3, false),
        "the last attempt's error"
    );
    assert!(Arc::ptr_eq(err, eb.fetch_error().unwrap()));
    assert_eq!(fake.calls(1), 3);
    let st = s.stats();
    assert_eq!((st.retries, st.failed, st.attempts), (2, 1, 3));
    assert_eq!(s.peek(&1), None);
    let again = ctx.within("again", s.get(1)).await.unwrap_err();
    assert_eq!(again.fetch_error().unwrap().attempt, 3);
    assert_eq!(fake.calls(1), 6, "a new request starts over");
    assert_eq!(
        ctx.within("third time", s.get(1)).await.unwrap(),
        value_of(1, 1)
    );
    let kinds = rec.kinds(1);
    let failed = kinds
        .iter()
        .filter(|k| matches!(k, EventKind::Failed { .. }))
        .count();
    assert_eq!(failed, 2, "one Failed per exhausted job, not per attempt");
    all_slots_free(&ctx, &s, &fake, 2, &mut rec).await;
}

for_each_executor!(
    fetcher_error,
    panic_in_every_slot,
    waiter_dropped_mid_wait,
    leader_gone,
    cancel_during_promotion,
    close_with_queued_and_running,
    retry_exhaustion,
);
