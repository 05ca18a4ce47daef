//! The behaviour suite: each behaviour of the contract written once as an
//! `async fn(Ctx)` and run under tokio multi-thread, tokio current-thread and smol (three threads)
//! by `for_each_executor!` at the bottom.
//!
//! Ordering is controlled with the fake fetcher's gates and observed through events, the fake's
//! call log and `stats()`, never through sleeps. Every test ends by checking that the counters add
//! up and nothing (slot, waiter, job) is left behind.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fetch_scheduler::{
    Class, ConfigError, Error, ErrorClass, EventKind, FailCause, JobContext, JobState, Prefetched,
    Priority, RetryPolicy, Scheduler,
};
use fetch_scheduler_tests::{
    Ctx, Fake, FetchError, Key, Recorder, SCRIPTED_PANIC, Step, TestScheduler, Value,
    assert_events_match_stats, assert_stats_add_up, build, build_with_retry, check_capacity,
    close_and_settle, for_each_executor, value_of,
};
use futures_lite::StreamExt;
use futures_lite::future::poll_once;

const P0: Priority = Priority::prefetch(0);
const D0: Priority = Priority::demand(0);

/// At most one attempt per key runs, whoever asks and from wherever: tasks, plain threads
/// (`get_blocking`), repeated prefetches. Every caller gets the one value.
async fn single_flight(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(1);
    let s = build(&ctx, &fake, 4, 1);
    let mut rec = Recorder::new(&s);

    assert_eq!(s.prefetch(1), Prefetched::Queued);
    assert_eq!(s.prefetch(1), Prefetched::Joined);
    ctx.within("key 1 starts", fake.started(1, 1)).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            ctx.spawn(async move { s.get(1).await })
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            ctx.thread(move || s.get_blocking(&1))
        })
        .collect();
    rec.until(&ctx, "10 waiters on key 1", || s.stats().waiters == 10)
        .await;
    assert_eq!(s.prefetch(1), Prefetched::Joined);
    assert_eq!(fake.calls(1), 1);
    fake.release(1);
    for t in tasks {
        assert_eq!(ctx.within("a task's get", t).await.unwrap(), value_of(1, 1));
    }
    for t in threads {
        assert_eq!(
            ctx.within("a thread's get_blocking", t).await.unwrap(),
            value_of(1, 1)
        );
    }
    assert_eq!(
        fake.calls(1),
        1,
        "one attempt for 10 waiters and 3 prefetches"
    );
    let st = s.stats();
    assert_eq!(st.queued_by_prefetch + st.queued_by_demand, 1);
    assert_eq!(
        st.promoted, 1,
        "the first get promoted the running prefetch"
    );
    assert_eq!(st.joined, 2 + 9, "two prefetches and nine gets joined");
    assert_eq!(s.prefetch(1), Prefetched::Done);

    // Many keys raced from several tasks without gates: still one attempt per key.
    fake.yields(2);
    let racers: Vec<_> = (0..4u64)
        .map(|r| {
            let s = s.clone();
            ctx.spawn(async move {
                for k in 100..150u64 {
                    if (k + r) % 2 == 0 {
                        s.prefetch(k);
                    }
                    assert_eq!(s.get(k).await.unwrap(), value_of(k, 1));
                }
            })
        })
        .collect();
    for r in racers {
        ctx.within("racing tasks", r).await;
    }
    for k in 100..150 {
        assert_eq!(fake.calls(k), 1, "key {k} fetched once");
    }
    assert!(fake.overlaps().is_empty(), "{:?}", fake.overlaps());
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// Requests for a key in flight join it: one attempt, every waiter gets the same value, and the
/// snapshot counts the waiters.
async fn join(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(7);
    let s = build(&ctx, &fake, 2, 0);
    let mut rec = Recorder::new(&s);

    let a = s.get(7);
    ctx.within("key 7 starts", fake.started(7, 1)).await;
    let b = s.get(7);
    let c = s.get_with_hint(7, 3);
    assert!(!a.is_immediate() && !b.is_immediate() && !c.is_immediate());
    let snap = s.snapshot();
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].key, 7);
    assert_eq!(snap[0].waiters, 3);
    assert_eq!(snap[0].state, JobState::Running { attempt: 1 });
    assert_eq!(
        snap[0].priority,
        Priority::demand(3),
        "highest live interest"
    );
    fake.release(7);
    let (a, b, c) = ctx
        .within("three joined waiters", async {
            (a.await.unwrap(), b.await.unwrap(), c.await.unwrap())
        })
        .await;
    assert_eq!((a, b, c), (value_of(7, 1), value_of(7, 1), value_of(7, 1)));
    assert_eq!(fake.calls(7), 1);
    let st = s.stats();
    assert_eq!(st.joined, 2);
    let later = s.get(7);
    assert!(later.is_immediate(), "a kept value answers at once");
    assert_eq!(later.await.unwrap(), value_of(7, 1));
    assert_eq!(s.stats().hits, 1);
    assert_eq!(
        rec.kinds(7),
        vec![
            EventKind::Queued(D0),
            EventKind::Started { attempt: 1 },
            EventKind::Joined(D0),
            EventKind::Joined(Priority::demand(3)),
            EventKind::Succeeded { attempt: 1 },
        ]
    );
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// `get` on a queued prefetch moves it to the demand class at once: it starts in the reserved slot
/// while the prefetch slot stays busy. `get` on a running prefetch raises the priority the running
/// attempt sees.
async fn promotion(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(1);
    fake.hold(2);
    // Two slots, one reserved: one prefetch at a time.
    let s = build(&ctx, &fake, 2, 1);
    let mut rec = Recorder::new(&s);

    assert_eq!(s.prefetch(1), Prefetched::Queued);
    assert_eq!(s.prefetch(2), Prefetched::Queued);
    ctx.within("prefetch 1 starts", fake.started(1, 1)).await;
    let st = s.stats();
    assert_eq!((st.running_prefetch, st.queued_prefetch), (1, 1));
    assert_eq!(
        fake.calls(2),
        0,
        "the second prefetch waits for a prefetch slot"
    );

    let w2 = s.get(2);
    // Key 1 is still held: key 2 can only start in the reserved slot, as a demand.
    ctx.within(
        "promoted key 2 starts in the reserved slot",
        fake.started(2, 1),
    )
    .await;
    let st = s.stats();
    assert_eq!((st.running_prefetch, st.running_demand), (1, 1));
    assert_eq!(st.promoted, 1);
    assert_eq!(fake.log()[1].key, 2);
    assert_eq!(
        fake.log()[1].priority_at_start.map(|p| p.class),
        Some(Class::Demand)
    );

    // Promoting the running prefetch: its class moves and the attempt sees it.
    let w1 = s.get(1);
    let st = s.stats();
    assert_eq!((st.running_prefetch, st.running_demand), (0, 2));
    assert_eq!(st.promoted, 2);
    fake.release(1);
    fake.release(2);
    assert_eq!(ctx.within("w1", w1).await.unwrap(), value_of(1, 1));
    assert_eq!(ctx.within("w2", w2).await.unwrap(), value_of(2, 1));
    let log = fake.log();
    let call1 = log.iter().find(|c| c.key == 1).unwrap();
    assert_eq!(call1.priority_at_start, Some(P0));
    assert_eq!(
        call1.priority_at_end,
        Some(D0),
        "the running attempt sees its promotion"
    );
    assert_eq!(
        rec.kinds(1),
        vec![
            EventKind::Queued(P0),
            EventKind::Started { attempt: 1 },
            EventKind::Promoted(D0),
            EventKind::Succeeded { attempt: 1 },
        ]
    );
    assert_eq!(
        rec.kinds(2),
        vec![
            EventKind::Queued(P0),
            EventKind::Promoted(D0),
            EventKind::Started { attempt: 1 },
            EventKind::Succeeded { attempt: 1 },
        ]
    );
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// When the last demand of a queued job goes, it falls back to its prefetch priority, or leaves the
/// queue if no prefetch asked for it. A running job always finishes and its result is kept.
async fn demotion(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(0);
    let s = build(&ctx, &fake, 1, 0);
    let mut rec = Recorder::new(&s);
    s.prefetch(0);
    ctx.within("blocker starts", fake.started(0, 1)).await;

    // Queued prefetch, promoted then demoted, keeping its own hint.
    s.prefetch_with_hint(1, 5);
    let w = s.get_with_hint(1, 9);
    let st = s.stats();
    assert_eq!((st.queued_prefetch, st.queued_demand), (0, 1));
    drop(w);
    let st = s.stats();
    assert_eq!((st.queued_prefetch, st.queued_demand), (1, 0));
    assert_eq!(st.demoted, 1);
    assert_eq!(st.waiters, 0);

    // Queued demand nobody prefetched: leaves the queue when its waiter goes.
    let w = s.get(2);
    assert_eq!(s.stats().queued_demand, 1);
    drop(w);
    let st = s.stats();
    assert_eq!((st.queued_demand, st.cancelled), (0, 1));
    assert!(s.snapshot().iter().all(|j| j.key != 2));

    // Running job promoted then demoted: its slot moves between classes, it still finishes.
    fake.hold(1);
    fake.release(0);
    ctx.within("key 1 starts", fake.started(1, 1)).await;
    let w = s.get(1);
    assert_eq!(s.stats().running_demand, 1);
    drop(w);
    let st = s.stats();
    assert_eq!((st.running_prefetch, st.running_demand), (1, 0));
    assert_eq!(st.demoted, 2);

    // A running demand whose only waiter left still finishes and is kept; nobody wants it now,
    // so it counts as speculative work and leaves the demand class (the reserve stays free).
    fake.hold(3);
    let w = s.get(3);
    fake.release(1);
    ctx.within("key 3 starts", fake.started(3, 1)).await;
    assert_eq!(s.stats().running_demand, 1);
    drop(w);
    let st = s.stats();
    assert_eq!((st.running_prefetch, st.running_demand), (1, 0));
    assert_eq!(st.demoted, 3);
    fake.release(3);
    ctx.within("drain", s.drain()).await;
    assert_eq!(s.peek(&1), Some(value_of(1, 1)));
    assert_eq!(
        s.peek(&3),
        Some(value_of(3, 1)),
        "a running job finishes without waiters"
    );
    assert_eq!(fake.calls(2), 0, "the withdrawn demand never ran");
    assert_eq!(
        rec.kinds(1),
        vec![
            EventKind::Queued(Priority::prefetch(5)),
            EventKind::Promoted(Priority::demand(9)),
            EventKind::Demoted(Priority::prefetch(5)),
            EventKind::Started { attempt: 1 },
            // A demand with no hint keeps the prefetch's hint: the highest of all interests.
            EventKind::Promoted(Priority::demand(5)),
            EventKind::Demoted(Priority::prefetch(5)),
            EventKind::Succeeded { attempt: 1 },
        ]
    );
    assert_eq!(
        rec.kinds(2),
        vec![EventKind::Queued(D0), EventKind::Cancelled]
    );
    assert_eq!(
        rec.kinds(3),
        vec![
            EventKind::Queued(D0),
            EventKind::Started { attempt: 1 },
            EventKind::Demoted(P0),
            EventKind::Succeeded { attempt: 1 },
        ]
    );
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// Prefetches never take the reserved slots: a demand starts at once while prefetches queue, and a
/// freed slot goes to a queued demand before any queued prefetch.
async fn reserved_capacity(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold_all();
    let s = build(&ctx, &fake, 4, 1);
    let mut rec = Recorder::new(&s);
    for k in 0..10 {
        s.prefetch(k);
    }
    ctx.within("three prefetches run", fake.until(|f| f.running() == 3))
        .await;
    let st = s.stats();
    assert_eq!((st.running_prefetch, st.queued_prefetch), (3, 7));
    check_capacity(&st, 4, 1).unwrap();

    let w100 = s.get(100);
    ctx.within(
        "a demand starts in the reserved slot, ahead of 7 queued prefetches",
        fake.started(100, 1),
    )
    .await;
    let w101 = s.get(101);
    let st = s.stats();
    assert_eq!(
        (st.running(), st.queued_demand),
        (4, 1),
        "no slot free: the demand queues"
    );
    check_capacity(&st, 4, 1).unwrap();
    fake.release(100);
    assert_eq!(ctx.within("w100", w100).await.unwrap(), value_of(100, 1));
    ctx.within(
        "the freed slot goes to the queued demand",
        fake.started(101, 1),
    )
    .await;
    fake.release(101);
    assert_eq!(ctx.within("w101", w101).await.unwrap(), value_of(101, 1));
    let st = s.stats();
    assert_eq!(
        (st.running_prefetch, st.running_demand, st.queued_prefetch),
        (3, 0, 7),
        "the reserved slot stays free of prefetches"
    );
    for k in 3..10 {
        assert_eq!(fake.calls(k), 0, "queued prefetch {k} did not start");
    }
    fake.release_all();
    ctx.within("drain", s.drain()).await;
    assert!(fake.max_running() <= 4);
    for k in 0..10 {
        assert_eq!(fake.calls(k), 1);
    }
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// Demand before prefetch; larger hints first inside a class; FIFO among equals; a second prefetch
/// with a larger hint raises the job.
async fn hint_ordering(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(0);
    let s = build(&ctx, &fake, 1, 0);
    let mut rec = Recorder::new(&s);
    s.prefetch(0);
    ctx.within("blocker starts", fake.started(0, 1)).await;
    s.prefetch_with_hint(1, 3);
    s.prefetch_with_hint(2, 9);
    s.prefetch_with_hint(3, 1);
    s.prefetch_with_hint(4, 9);
    s.prefetch_with_hint(5, 5);
    s.prefetch(6);
    let w7 = s.get(7);
    let w8 = s.get_with_hint(8, 2);
    assert_eq!(s.prefetch_with_hint(3, 10), Prefetched::Joined);
    assert_eq!(s.prefetch_with_hint(5, 1), Prefetched::Joined); // a lower hint changes nothing
    fake.release(0);
    ctx.within("w7", w7).await.unwrap();
    ctx.within("w8", w8).await.unwrap();
    ctx.within("drain", s.drain()).await;
    assert_eq!(fake.start_order(), vec![0, 8, 7, 3, 2, 4, 5, 1, 6]);
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// The delays `rec` saw announced for `key`'s retries, in order.
fn retry_delays(rec: &mut Recorder, key: Key) -> Vec<Duration> {
    rec.kinds(key)
        .into_iter()
        .filter_map(|k| match k {
            EventKind::Retrying { delay, .. } => Some(delay),
            _ => None,
        })
        .collect()
}

/// Transient errors are retried with exponential backoff (capped, jitter within bounds); the
/// waiters see only the final outcome; a job in backoff holds no slot and can be joined, promoted,
/// demoted and cancelled.
async fn retry_and_backoff(ctx: Ctx) {
    let fake = Fake::new();
    let policy = RetryPolicy::new(4)
        .base_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(3))
        .jitter(false);
    let s = build_with_retry(&ctx, &fake, 2, 0, policy);
    let mut rec = Recorder::new(&s);
    fake.script(1, [Step::Fail, Step::Fail, Step::Fail]);
    assert_eq!(
        ctx.within("retried key", s.get(1)).await.unwrap(),
        value_of(1, 4),
        "the fourth attempt answers"
    );
    assert_eq!(fake.calls(1), 4);
    assert_eq!(
        retry_delays(&mut rec, 1),
        [1, 2, 3].map(Duration::from_millis),
        "doubling, capped"
    );
    let st = s.stats();
    assert_eq!((st.retries, st.attempts, st.succeeded), (3, 4, 1));
    close_and_settle(&ctx, &s, &mut rec).await;

    // A server's Retry-After lengthens the wait (never beyond the cap), and shortens nothing.
    for (after_ms, want) in [(2, [2, 2, 3]), (100, [3, 3, 3]), (0, [1, 2, 3])] {
        let fake = Fake::new();
        let s: TestScheduler = Scheduler::builder()
            .concurrency(2)
            .retry(policy)
            .classify(move |_: &FetchError| ErrorClass::RetryAfter(Duration::from_millis(after_ms)))
            .build(ctx.runtime(), fake.clone())
            .expect("valid test configuration");
        let mut rec = Recorder::new(&s);
        fake.script(1, [Step::Fail, Step::Fail, Step::Fail]);
        assert_eq!(
            ctx.within("key retried after the server's delay", s.get(1))
                .await
                .unwrap(),
            value_of(1, 4)
        );
        assert_eq!(
            retry_delays(&mut rec, 1),
            want.map(Duration::from_millis),
            "Retry-After {after_ms} ms"
        );
        close_and_settle(&ctx, &s, &mut rec).await;
    }

    // A long backoff, observed while it lasts.
    let fake = Fake::new();
    let policy = RetryPolicy::new(3)
        .base_delay(Duration::from_secs(3600))
        .jitter(false);
    let s = build_with_retry(&ctx, &fake, 1, 0, policy);
    let mut rec = Recorder::new(&s);
    fake.script(2, [Step::Fail]);
    s.prefetch(2);
    rec.wait_for(&ctx, "key 2 backs off", |e| {
        matches!(e.kind, EventKind::Retrying { attempt: 1, .. })
    })
    .await;
    let st = s.stats();
    assert_eq!(
        (st.backing_off, st.running()),
        (1, 0),
        "backoff holds no slot"
    );
    assert_eq!(s.snapshot()[0].state, JobState::Backoff { attempt: 1 });
    assert_eq!(
        ctx.within("the only slot serves another key", s.get(3))
            .await
            .unwrap(),
        value_of(3, 1)
    );
    let w = s.get(2);
    assert_eq!(s.stats().promoted, 1, "a demand promotes a job in backoff");
    assert!(!s.cancel(&2), "cannot cancel while a demand waits");
    drop(w);
    assert_eq!(s.stats().demoted, 1);
    assert!(s.cancel(&2), "cancel a job in backoff nobody awaits");
    let st = s.stats();
    assert_eq!((st.backing_off, st.cancelled), (0, 1));
    close_and_settle(&ctx, &s, &mut rec).await;

    // Jitter keeps each delay between half and all of the nominal one.
    let fake = Fake::new();
    let policy = RetryPolicy::new(2)
        .base_delay(Duration::from_secs(100))
        .max_delay(Duration::from_secs(1000));
    let s = build_with_retry(&ctx, &fake, 4, 0, policy);
    let mut rec = Recorder::new(&s);
    for k in 10..20 {
        fake.script(k, [Step::Fail]);
        s.prefetch(k);
    }
    let mut seen = 0;
    while seen < 10 {
        let e = rec
            .wait_for(&ctx, "ten backoffs", |e| {
                matches!(e.kind, EventKind::Retrying { .. })
            })
            .await;
        let EventKind::Retrying { delay, .. } = e.kind else {
            unreachable!()
        };
        assert!(
            (Duration::from_secs(50)..=Duration::from_secs(100)).contains(&delay),
            "{delay:?}"
        );
        seen += 1;
    }
    for k in 10..20 {
        assert!(s.cancel(&k));
    }
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// Every waiter of a failed attempt receives the same real error; the key is then absent, so the
/// next request tries again.
async fn shared_errors(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(1);
    fake.script(1, [Step::Fail]);
    let s = build(&ctx, &fake, 2, 0);
    let mut rec = Recorder::new(&s);
    let waits: Vec<_> = (0..3).map(|_| s.get(1)).collect();
    let thread = {
        let s = s.clone();
        ctx.thread(move || s.get_blocking(&1))
    };
    rec.until(&ctx, "four waiters", || s.stats().waiters == 4)
        .await;
    fake.release(1);
    let mut errors = Vec::new();
    for w in waits {
        errors.push(ctx.within("a failed waiter", w).await.unwrap_err());
    }
    errors.push(ctx.within("blocking waiter", thread).await.unwrap_err());
    let expected = FetchError {
        key: 1,
        attempt: 1,
        permanent: false,
    };
    let first = errors[0]
        .fetch_error()
        .expect("the fetcher's error")
        .clone();
    assert_eq!(*first, expected);
    for e in &errors {
        assert!(
            Arc::ptr_eq(e.fetch_error().unwrap(), &first),
            "one shared error"
        );
        assert_eq!(e.to_string(), "scripted transient error: key 1 attempt 1");
        let source = std::error::Error::source(e).expect("source is the fetcher's error");
        assert_eq!(source.to_string(), expected.to_string());
    }
    assert_eq!(s.peek(&1), None);
    assert_eq!(s.stats().kept, 0, "a transient error is not kept");
    assert_eq!(
        ctx.within("retry by a new request", s.get(1))
            .await
            .unwrap(),
        value_of(1, 1)
    );
    assert_eq!(fake.calls(1), 2);
    let st = s.stats();
    assert_eq!((st.failed, st.succeeded, st.retries), (1, 1, 0));
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// An error classified permanent is never retried, is shared by every waiter and is kept: later
/// requests get it at once, until `forget`.
async fn permanent_errors_kept(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(1);
    fake.script(1, [Step::FailPermanently]);
    let s = build_with_retry(
        &ctx,
        &fake,
        2,
        0,
        RetryPolicy::new(5).base_delay(Duration::from_millis(1)),
    );
    let mut rec = Recorder::new(&s);
    let a = s.get(1);
    let b = s.get(1);
    assert_eq!(s.prefetch(1), Prefetched::Joined);
    fake.release(1);
    let ea = ctx.within("a", a).await.unwrap_err();
    let eb = ctx.within("b", b).await.unwrap_err();
    let shared = ea.fetch_error().unwrap().clone();
    assert!(shared.permanent);
    assert!(Arc::ptr_eq(eb.fetch_error().unwrap(), &shared));
    assert_eq!(fake.calls(1), 1, "never retried");

    let later = s.get(1);
    assert!(later.is_immediate(), "the permanent error is kept");
    let el = later.await.unwrap_err();
    assert!(Arc::ptr_eq(el.fetch_error().unwrap(), &shared));
    assert_eq!(s.prefetch(1), Prefetched::Done);
    assert_eq!(s.peek(&1), None, "peek shows values only");
    let st = s.stats();
    assert_eq!((st.kept, st.failed, st.retries, st.hits), (1, 1, 0, 1));

    assert!(s.forget(&1));
    assert!(!s.forget(&1));
    assert_eq!(
        ctx.within("fetch again after forget", s.get(1))
            .await
            .unwrap(),
        value_of(1, 1)
    );
    assert_eq!(fake.calls(1), 2);
    assert_eq!(
        rec.kinds(1)[..5],
        [
            EventKind::Queued(D0),
            EventKind::Started { attempt: 1 },
            EventKind::Joined(D0),
            EventKind::Joined(D0),
            EventKind::Failed {
                attempt: 1,
                cause: FailCause::Permanent
            },
        ]
    );
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// A panicking fetcher (in its future, in the `fetch` call, or in the classify fn) fails that
/// attempt with `Panicked` for every waiter, is not retried, frees its slot and poisons nothing.
async fn panics(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(1);
    fake.script(1, [Step::Panic]);
    fake.script(2, [Step::PanicBeforeFuture]);
    let s: TestScheduler = Scheduler::builder()
        .concurrency(1)
        .retry(RetryPolicy::new(3).base_delay(Duration::from_millis(1)))
        .classify(|e: &FetchError| {
            if e.key == 9 {
                panic!("{} in classify", fetch_scheduler_tests::SCRIPTED_PANIC);
            }
            fetch_scheduler_tests::classify(e)
        })
        .build(ctx.runtime(), fake.clone())
        .unwrap();
    let mut rec = Recorder::new(&s);
    let a = s.get(1);
    let b = s.get(1);
    fake.release(1);
    for w in [a, b] {
        match ctx.within("panicked waiter", w).await {
            Err(Error::Panicked(msg)) => {
                assert!(msg.contains("scripted panic: key 1 attempt 1"), "{msg}")
            }
            other => panic!("expected Panicked, got {other:?}"),
        }
    }
    match ctx.within("panic before the future", s.get(2)).await {
        Err(Error::Panicked(msg)) => assert!(msg.contains("before the future"), "{msg}"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    fake.script(9, [Step::Fail]);
    match ctx.within("panic in classify", s.get(9)).await {
        Err(Error::Panicked(msg)) => assert!(msg.contains("in classify"), "{msg}"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    let st = s.stats();
    assert_eq!((st.panicked, st.retries, st.running()), (3, 0, 0));
    assert_eq!((fake.calls(1), fake.calls(2), fake.calls(9)), (1, 1, 1));
    // The one slot is free and the scheduler works; panicked keys are absent again.
    assert_eq!(
        ctx.within("next key", s.get(3)).await.unwrap(),
        value_of(3, 1)
    );
    assert_eq!(
        ctx.within("key 1 again", s.get(1)).await.unwrap(),
        value_of(1, 1)
    );
    assert_eq!(fake.calls(1), 2);
    assert_eq!(
        rec.kinds(2),
        vec![
            EventKind::Queued(D0),
            EventKind::Started { attempt: 1 },
            EventKind::Failed {
                attempt: 1,
                cause: FailCause::Panicked
            },
        ]
    );
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// `cancel` removes a queued job nobody awaits, and nothing else: not a running job, not a job with
/// a demand waiter, not a done key.
async fn cancel(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(0);
    let s = build(&ctx, &fake, 1, 0);
    let mut rec = Recorder::new(&s);
    s.prefetch(0);
    ctx.within("blocker starts", fake.started(0, 1)).await;
    assert!(!s.cancel(&0), "a running job is never cancelled");

    s.prefetch(1);
    assert!(s.cancel(&1));
    assert!(!s.cancel(&1), "already gone");
    assert!(s.snapshot().iter().all(|j| j.key != 1));

    s.prefetch(2);
    let w2 = s.get(2);
    assert!(!s.cancel(&2), "a demand waits on it");
    drop(w2);
    assert!(s.cancel(&2), "only the prefetch is left");

    let w3 = s.get(3);
    assert!(!s.cancel(&3));
    assert!(!s.forget(&0), "forget does not touch a job in flight");
    assert_eq!(
        s.prefetch(1),
        Prefetched::Queued,
        "a cancelled key is absent"
    );
    assert!(!s.cancel(&99), "unknown key");
    fake.release(0);
    assert_eq!(ctx.within("w3", w3).await.unwrap(), value_of(3, 1));
    ctx.within("drain", s.drain()).await;
    assert!(!s.cancel(&3), "done keys are not cancelled");
    assert_eq!(
        s.peek(&0),
        Some(value_of(0, 1)),
        "kept despite the forget in flight"
    );
    assert_eq!(s.peek(&3), Some(value_of(3, 1)));
    assert_eq!((fake.calls(1), fake.calls(2)), (1, 0));
    assert_eq!(s.stats().cancelled, 2);
    assert_eq!(
        rec.kinds(1),
        vec![
            EventKind::Queued(P0),
            EventKind::Cancelled,
            EventKind::Queued(P0),
            EventKind::Started { attempt: 1 },
            EventKind::Succeeded { attempt: 1 },
        ]
    );
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// `close` refuses new keys, drops queued prefetches, keeps running jobs and awaited queued jobs;
/// `drain` resolves once they end, not before; kept results stay readable.
async fn close_and_drain(ctx: Ctx) {
    let fake = Fake::new();
    for k in [1, 2, 5] {
        fake.hold(k);
    }
    let s = build(&ctx, &fake, 2, 0);
    let mut rec = Recorder::new(&s);
    s.prefetch(1);
    s.prefetch(2);
    ctx.within("two running", fake.until(|f| f.running() == 2))
        .await;
    s.prefetch(3);
    s.prefetch(4);
    let w5 = s.get(5);
    s.prefetch(6);
    let w6 = s.get(6);
    let mut drain = s.drain();
    assert!(poll_once(&mut drain).await.is_none());

    s.close();
    assert!(s.is_closed());
    s.close(); // idempotent
    let mut in_flight: Vec<Key> = s.snapshot().into_iter().map(|j| j.key).collect();
    in_flight.sort_unstable();
    assert_eq!(
        in_flight,
        vec![1, 2, 5, 6],
        "queued prefetches dropped, the rest kept"
    );
    assert_eq!(s.stats().cancelled, 2);
    let refused = s.get(7);
    assert!(refused.is_immediate());
    assert!(matches!(refused.await, Err(Error::Closed)));
    assert_eq!(s.prefetch(7), Prefetched::Closed);
    assert!(matches!(s.get(3).await, Err(Error::Closed)));
    assert_eq!(
        s.prefetch(1),
        Prefetched::Joined,
        "in flight: still joinable"
    );
    let w1 = s.get(1);
    assert!(poll_once(&mut drain).await.is_none(), "jobs still run");

    fake.release(1);
    fake.release(2);
    fake.release(5);
    assert_eq!(ctx.within("w1", w1).await.unwrap(), value_of(1, 1));
    assert_eq!(ctx.within("w5", w5).await.unwrap(), value_of(5, 1));
    assert_eq!(ctx.within("w6", w6).await.unwrap(), value_of(6, 1));
    ctx.within("drain", drain).await;
    assert_eq!(s.peek(&2), Some(value_of(2, 1)));
    let kept = s.get(2);
    assert!(kept.is_immediate());
    assert_eq!(kept.await.unwrap(), value_of(2, 1));
    assert_eq!((fake.calls(3), fake.calls(4)), (0, 0));
    assert_eq!(s.stats().refused, 3);
    assert_eq!(
        rec.kinds(3),
        vec![EventKind::Queued(P0), EventKind::Cancelled]
    );
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// `peek`, `stats`, `snapshot` and `get_blocking` from plain threads (no runtime) while jobs run:
/// never a wrong value, and `peek` sees each value once its job is done.
async fn peek_from_plain_thread(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold_all();
    let s = build(&ctx, &fake, 4, 1);
    let mut rec = Recorder::new(&s);
    for k in 0..20 {
        s.prefetch(k);
    }
    let before = {
        let s = s.clone();
        ctx.thread(move || (0..20).filter(|k| s.peek(k).is_some()).count())
    };
    assert_eq!(ctx.within("peek before", before).await, 0);

    // Reads until it has seen every value, or until a pass that began with nothing in flight
    // (every value kept by then, as a job is kept in the step that ends it) still misses one.
    let reader = {
        let s = s.clone();
        ctx.thread(move || {
            let mut seen = HashSet::new();
            let mut peeks = 0u64;
            loop {
                let idle = s.stats().in_flight() == 0;
                for k in 0..20 {
                    peeks += 1;
                    if let Some(v) = s.peek(&k) {
                        assert_eq!(v, value_of(k, 1), "peek of key {k}");
                        seen.insert(k);
                    }
                }
                let _ = s.snapshot();
                if seen.len() == 20 || idle {
                    return (seen.len(), peeks);
                }
            }
        })
    };
    let blocking = {
        let s = s.clone();
        ctx.thread(move || s.get_blocking(&50))
    };
    for k in 0..20 {
        fake.release(k);
    }
    fake.release(50);
    let (seen, peeks) = ctx.within("the plain-thread reader", reader).await;
    assert_eq!(seen, 20, "the reader saw every value after {peeks} peeks");
    assert_eq!(
        ctx.within("get_blocking", blocking).await.unwrap(),
        value_of(50, 1)
    );
    let kept = {
        let s = s.clone();
        ctx.thread(move || s.get_blocking(&3))
    };
    assert_eq!(
        ctx.within("get_blocking of a kept key", kept)
            .await
            .unwrap(),
        value_of(3, 1)
    );
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// `get_all` registers every demand at once and yields in completion order; dropping it withdraws
/// the demands left.
async fn get_all_order(ctx: Ctx) {
    let fake = Fake::new();
    for k in [1, 2, 3] {
        fake.hold(k);
    }
    let s = build(&ctx, &fake, 4, 0);
    let mut rec = Recorder::new(&s);
    let mut all = s.get_all([1, 2, 3]);
    assert_eq!(all.remaining(), 3);
    assert_eq!(s.stats().waiters, 3, "demands registered before polling");
    for k in [2, 3, 1] {
        fake.release(k);
        let (key, value) = ctx.within("next completion", all.next()).await.unwrap();
        assert_eq!((key, value.unwrap()), (k, value_of(k, 1)));
    }
    assert!(all.next().await.is_none());

    // A kept key comes first; a failed key yields its error in place.
    fake.hold(4);
    fake.script(5, [Step::Fail]);
    fake.hold(5);
    // Two streams and a `get` on one job in flight: each stream is answered with the key (the
    // first with a copy, the last with the job's own), the `get` with the value.
    fake.hold(6);
    let mut first = s.get_all([6]);
    let mut second = s.get_all([6]);
    let single = s.get(6);
    fake.release(6);
    for all in [&mut first, &mut second] {
        let (key, value) = ctx.within("shared key", all.next()).await.unwrap();
        assert_eq!((key, value.unwrap()), (6, value_of(6, 1)));
        assert!(all.next().await.is_none());
    }
    assert_eq!(
        ctx.within("get of the shared key", single).await.unwrap(),
        value_of(6, 1)
    );
    assert!(fake.keys_called_more_than_once().is_empty());
    drop((first, second));

    let mut all = s.get_all([4, 5, 2]);
    let (key, value) = ctx.within("kept key", all.next()).await.unwrap();
    assert_eq!((key, value.unwrap()), (2, value_of(2, 1)));
    fake.release(5);
    let (key, value) = ctx.within("failed key", all.next()).await.unwrap();
    assert_eq!(key, 5);
    assert_eq!(value.unwrap_err().fetch_error().unwrap().key, 5);
    drop(all);
    assert_eq!(s.stats().waiters, 0, "dropping the stream withdrew key 4");
    fake.release(4);
    ctx.within("drain", s.drain()).await;
    assert_eq!(
        s.peek(&4),
        Some(value_of(4, 1)),
        "the running job still finished"
    );
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// Checks that `answers` name every key of `keys` exactly once, each with its first attempt's value.
fn assert_each_answered_once(
    answers: Vec<(Key, Result<u64, Error<FetchError>>)>,
    keys: std::ops::Range<Key>,
) {
    let mut answered: Vec<Key> = answers.iter().map(|(k, _)| *k).collect();
    answered.sort_unstable();
    assert_eq!(answered, keys.collect::<Vec<_>>());
    for (k, v) in answers {
        assert_eq!(v.unwrap(), value_of(k, 1));
    }
}

/// Jobs that get their slots together (one `get_all`) all run at once when they wait, whichever
/// task the scheduler first gives them to; jobs that finish at once, or after computing for a
/// while without waiting, are each answered once with their own value.
async fn jobs_started_together(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold_all();
    let s = build(&ctx, &fake, 16, 0);
    let mut rec = Recorder::new(&s);
    let all = s.get_all(0..16);
    ctx.within(
        "all 16 attempts waiting at once",
        fake.until(|f| f.running() == 16),
    )
    .await;
    assert_eq!(s.stats().running(), 16);
    fake.release_all();
    let answers: Vec<_> = ctx.within("16 answers", all.collect::<Vec<_>>()).await;
    assert_each_answered_once(answers, 0..16);

    // Instant jobs, many more than the slots: each fetched once, answered with its own value.
    let instant: Vec<_> = ctx
        .within(
            "1000 instant jobs",
            s.get_all(100..1100).collect::<Vec<_>>(),
        )
        .await;
    assert_each_answered_once(instant, 100..1100);

    // More answers than a `get_all` makes room for up front (1024), all posted before the stream
    // is first polled: every one arrives, each key once, with its own value.
    let before = s.stats().succeeded;
    let many = s.get_all(5000..8000);
    ctx.within("3000 instant jobs done", s.drain()).await;
    assert_eq!(s.stats().succeeded, before + 3000);
    assert_eq!(many.remaining(), 3000);
    let many: Vec<_> = ctx.within("3000 answers", many.collect::<Vec<_>>()).await;
    assert_each_answered_once(many, 5000..8000);

    // Jobs that compute (1 ms each, no await) before they finish.
    fake.busy(Duration::from_millis(1));
    let busy: Vec<_> = ctx
        .within("48 busy jobs", s.get_all(2000..2048).collect::<Vec<_>>())
        .await;
    assert_eq!(busy.len(), 48);
    for (k, v) in busy {
        assert_eq!(v.unwrap(), value_of(k, 1));
    }
    assert!(fake.keys_called_more_than_once().is_empty());
    assert!(fake.overlaps().is_empty(), "{:?}", fake.overlaps());
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// Each happening produces exactly one event, to every subscriber, in transition order; a late
/// subscriber sees nothing of the past.
async fn events_once_per_happening(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(1);
    let policy = RetryPolicy::new(2)
        .base_delay(Duration::from_millis(1))
        .jitter(false);
    let s = build_with_retry(&ctx, &fake, 1, 0, policy);
    let mut rec = Recorder::new(&s);
    let mut rec2 = Recorder::new(&s);
    s.prefetch(1);
    ctx.within("key 1 starts", fake.started(1, 1)).await;
    s.prefetch(1);
    let a = s.get(1);
    let b = s.get(1);
    s.prefetch(5);
    assert!(s.cancel(&5));
    drop(s.get(6));
    fake.release(1);
    ctx.within("a", a).await.unwrap();
    ctx.within("b", b).await.unwrap();
    fake.script(2, [Step::Fail]);
    fake.script(3, [Step::Panic]);
    fake.script(4, [Step::FailPermanently]);
    ctx.within("2", s.get(2)).await.unwrap();
    ctx.within("3", s.get(3)).await.unwrap_err();
    ctx.within("4", s.get(4)).await.unwrap_err();
    ctx.within("4 again", s.get(4)).await.unwrap_err();
    ctx.within("drain", s.drain()).await;
    let late = s.events();

    assert_eq!(
        rec.kinds(1),
        vec![
            EventKind::Queued(P0),
            EventKind::Started { attempt: 1 },
            EventKind::Joined(P0),
            EventKind::Promoted(D0),
            EventKind::Joined(D0),
            EventKind::Succeeded { attempt: 1 },
        ]
    );
    assert_eq!(
        rec.kinds(2),
        vec![
            EventKind::Queued(D0),
            EventKind::Started { attempt: 1 },
            EventKind::Retrying {
                attempt: 1,
                delay: Duration::from_millis(1)
            },
            EventKind::Started { attempt: 2 },
            EventKind::Succeeded { attempt: 2 },
        ]
    );
    let failed = |cause| EventKind::Failed { attempt: 1, cause };
    let started = EventKind::Started { attempt: 1 };
    let queued = EventKind::Queued(D0);
    assert_eq!(
        rec.kinds(3),
        vec![queued.clone(), started.clone(), failed(FailCause::Panicked)]
    );
    assert_eq!(
        rec.kinds(4),
        vec![queued.clone(), started, failed(FailCause::Permanent)]
    );
    assert_eq!(
        rec.kinds(5),
        vec![EventKind::Queued(P0), EventKind::Cancelled]
    );
    assert_eq!(rec.kinds(6), vec![queued, EventKind::Cancelled]);
    let progress = rec
        .all()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Progress { .. }))
        .count();
    assert_eq!(progress, 5, "one progress report per attempt");
    assert_eq!(
        rec.all(),
        rec2.all(),
        "every subscriber sees the same events"
    );
    assert!(late.try_next().is_none(), "no replay for late subscribers");
    assert_events_match_stats(rec.all(), &s.stats());
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// The counters and gauges of `stats()` and the rows of `snapshot()` follow the jobs exactly and
/// add up at every step.
async fn stats_add_up(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(1);
    fake.hold(2);
    fake.script(3, [Step::Fail]);
    let policy = RetryPolicy::new(3).base_delay(Duration::from_secs(3600));
    let s = build_with_retry(&ctx, &fake, 2, 1, policy);
    let mut rec = Recorder::new(&s);
    s.prefetch(1);
    let w2a = s.get(2);
    ctx.within("1 and 2 run", fake.until(|f| f.running() == 2))
        .await;
    s.prefetch(3);
    let w2b = s.get(2);
    let st = s.stats();
    assert_stats_add_up(&st);
    check_capacity(&st, 2, 1).unwrap();
    assert_eq!(
        (
            st.running_prefetch,
            st.running_demand,
            st.queued_prefetch,
            st.waiters
        ),
        (1, 1, 1, 2)
    );
    let snap = s.snapshot();
    let row = |k: Key| snap.iter().find(|j| j.key == k).unwrap().clone();
    assert_eq!(
        (
            row(1).state,
            row(1).priority,
            row(1).waiters,
            row(1).progress
        ),
        (JobState::Running { attempt: 1 }, P0, 0, (10, Some(100)))
    );
    assert_eq!(
        (row(2).state, row(2).priority, row(2).waiters),
        (JobState::Running { attempt: 1 }, D0, 2)
    );
    assert_eq!(
        (row(3).state, row(3).priority, row(3).waiters),
        (JobState::Queued, P0, 0)
    );
    assert!(row(1).age >= row(3).age, "snapshot ages");

    fake.release(1);
    rec.wait_for(&ctx, "key 3 backs off", |e| {
        e.key == 3 && matches!(e.kind, EventKind::Retrying { .. })
    })
    .await;
    let st = s.stats();
    assert_stats_add_up(&st);
    assert_eq!((st.backing_off, st.running(), st.retries), (1, 1, 1));
    assert!(s.cancel(&3));
    fake.release(2);
    ctx.within("w2a", w2a).await.unwrap();
    ctx.within("w2b", w2b).await.unwrap();
    ctx.within("drain", s.drain()).await;
    let st = s.stats();
    assert_eq!(st.queued_by_prefetch, 2);
    assert_eq!(st.queued_by_demand, 1);
    assert_eq!(st.joined, 1);
    assert_eq!(st.attempts, 3);
    assert_eq!(st.retries, 1);
    assert_eq!(st.succeeded, 2);
    assert_eq!(st.cancelled, 1);
    assert_eq!(
        (st.failed, st.panicked, st.promoted, st.demoted),
        (0, 0, 0, 0)
    );
    assert_eq!(st.kept, 2);
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// Jobs progress on their own tasks: prefetches nobody awaits complete without any poll from the
/// caller, even after every scheduler handle is dropped; a waiter outlives the handles too
/// (moka#240).
async fn progress_without_callers(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(99);
    let s = build(&ctx, &fake, 3, 1);
    for k in 0..10 {
        s.prefetch(k);
    }
    ctx.within(
        "unawaited prefetches complete",
        fake.until(|f| (0..10).all(|k| f.ended(k) == 1)),
    )
    .await;
    // Nothing else is in flight: once drained, every value is kept.
    ctx.within("values kept", s.drain()).await;
    assert!((0..10).all(|k| s.peek(&k).is_some()));
    let w = s.get(99);
    for k in 10..20 {
        s.prefetch(k);
    }
    drop(s);
    fake.release(99);
    assert_eq!(
        ctx.within("a waiter outlives the handles", w)
            .await
            .unwrap(),
        value_of(99, 1)
    );
    ctx.within(
        "prefetches complete with every handle dropped",
        fake.until(|f| (10..20).all(|k| f.ended(k) == 1)),
    )
    .await;
}

/// `insert` keeps a value obtained outside the scheduler unless the key is in flight, and
/// `Wait::is_owner` tells the `get` that queued a job from those that joined it or read a kept
/// result.
async fn insert_and_ownership(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold(2);
    let s = build(&ctx, &fake, 2, 0);
    let mut rec = Recorder::new(&s);

    // Absent: kept at once, answered without a fetch, and not owned by the `get` that reads it.
    assert!(s.insert(1, 77));
    assert_eq!(s.peek(&1), Some(77));
    let kept = s.get(1);
    assert!(kept.is_immediate() && !kept.is_owner());
    assert_eq!(ctx.within("a kept inserted value", kept).await.unwrap(), 77);
    assert_eq!(s.prefetch(1), Prefetched::Done);

    // In flight: refused, and the job's own result is what gets kept.
    let owner = s.get(2);
    assert!(owner.is_owner(), "this get queued the job of key 2");
    ctx.within("key 2 starts", fake.started(2, 1)).await;
    let joiner = s.get(2);
    assert!(!joiner.is_owner(), "this get joined it");
    assert!(!s.insert(2, 5), "a key in flight is not overwritten");
    fake.release(2);
    assert_eq!(
        ctx.within("key 2's owner", owner).await.unwrap(),
        value_of(2, 1)
    );
    assert_eq!(
        ctx.within("key 2's joiner", joiner).await.unwrap(),
        value_of(2, 1)
    );
    assert_eq!(s.peek(&2), Some(value_of(2, 1)));

    // Done: replaced. A prefetch queued a job, so the `get` that promotes it does not own it.
    assert!(s.insert(2, 6));
    assert_eq!(s.peek(&2), Some(6));
    fake.hold(3);
    assert_eq!(s.prefetch(3), Prefetched::Queued);
    let promoter = s.get(3);
    assert!(!promoter.is_owner(), "the prefetch queued key 3");
    fake.release(3);
    assert_eq!(ctx.within("key 3", promoter).await.unwrap(), value_of(3, 1));
    assert_eq!(fake.calls(1), 0, "an inserted key is never fetched");
    assert_eq!(s.stats().attempts, 2);
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// A configuration that cannot work is refused with a `ConfigError` that names it, never a panic,
/// and nothing is fetched.
async fn config_errors(ctx: Ctx) {
    let fake = Fake::new();
    let with = |concurrency, reserved, retry| {
        Scheduler::<Key, Value, FetchError>::builder()
            .concurrency(concurrency)
            .reserved_for_demand(reserved)
            .retry(retry)
            .build(ctx.runtime(), fake.clone())
    };
    assert_eq!(
        with(0, 0, RetryPolicy::never()).unwrap_err(),
        ConfigError::ZeroConcurrency
    );
    let too_large = ConfigError::ReserveTooLarge {
        concurrency: 4,
        reserved_for_demand: 4,
    };
    assert_eq!(with(4, 4, RetryPolicy::never()).unwrap_err(), too_large);
    assert!(too_large.to_string().contains("below"), "{too_large}");
    assert_eq!(
        with(4, 1, RetryPolicy::new(0)).unwrap_err(),
        ConfigError::ZeroAttempts
    );
    assert_eq!(fake.total_calls(), 0);
}

/// `get_all` items carry hints that order the demands; a promoted prefetch keeps the highest hint
/// of all its interests (here the prefetch's, though the demand gives none).
async fn get_all_hints(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold_all();
    let s = build(&ctx, &fake, 1, 0);
    let mut rec = Recorder::new(&s);
    let blocker = s.get(100); // takes the one slot
    ctx.within("100 starts", fake.started(100, 1)).await;
    s.prefetch_with_hint(4, 7);
    let all = s.get_all([(1, 1), (2, 5), (3, 3), (4, 0)]);
    let priority_of = |key| {
        s.snapshot()
            .into_iter()
            .find(|j| j.key == key)
            .expect("in flight")
            .priority
    };
    assert_eq!(priority_of(4), Priority::demand(7));
    assert_eq!(priority_of(2), Priority::demand(5));
    fake.release_all();
    assert_eq!(ctx.within("100", blocker).await.unwrap(), value_of(100, 1));
    let answers: Vec<_> = ctx.within("the four keys", all.collect::<Vec<_>>()).await;
    assert_each_answered_once(answers, 1..5);
    assert_eq!(
        fake.start_order(),
        vec![100, 4, 2, 3, 1],
        "one slot: the highest hint first"
    );
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// `peek`, `cancel`, `forget` and `get_blocking` take a borrowed form of the key: `&str` for
/// `String` keys.
async fn borrowed_keys(ctx: Ctx) {
    let s: Scheduler<String, usize, FetchError> = Scheduler::builder()
        .concurrency(1)
        .reserved_for_demand(0)
        .build(ctx.runtime(), |key: &String, _cx: JobContext| {
            let len = key.len();
            async move { Ok(len) }
        })
        .unwrap();
    let blocking = {
        let s = s.clone();
        ctx.thread(move || s.get_blocking("four"))
    };
    assert_eq!(ctx.within("get_blocking of &str", blocking).await, Ok(4));
    assert_eq!(s.peek("four"), Some(4));
    assert!(s.forget("four"));
    assert_eq!(s.peek("four"), None);
    assert!(!s.cancel("four"), "nothing queued");
    s.close();
    ctx.within("drain", s.drain()).await;
}

/// A hand-written fetch future, ready at once, whose `Drop` panics when `panics` is set.
struct ReadyThenDrop {
    value: Value,
    panics: bool,
}

impl std::future::Future for ReadyThenDrop {
    type Output = Result<Value, FetchError>;

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
            panic!("{SCRIPTED_PANIC} in the fetch future's drop");
        }
    }
}

/// A fetch future whose `Drop` panics fails its own attempt with `Panicked`, as a panic while it
/// runs would; the jobs started with it are unaffected and the scheduler keeps working.
async fn panic_in_drop(ctx: Ctx) {
    let s: TestScheduler = Scheduler::builder()
        .concurrency(8)
        .reserved_for_demand(0)
        .build(ctx.runtime(), |key: &Key, _cx: JobContext| ReadyThenDrop {
            value: value_of(*key, 1),
            panics: *key == 5,
        })
        .unwrap();
    let mut rec = Recorder::new(&s);
    // Started together, next to the panicking one.
    let mut answers: Vec<_> = ctx
        .within("eight answers", s.get_all(0..8).collect::<Vec<_>>())
        .await;
    answers.sort_by_key(|(k, _)| *k);
    for (k, answer) in answers {
        if k == 5 {
            match answer {
                Err(Error::Panicked(msg)) => assert!(msg.contains("future's drop"), "{msg}"),
                other => panic!("expected Panicked, got {other:?}"),
            }
        } else {
            assert_eq!(answer.unwrap(), value_of(k, 1));
        }
    }
    let st = s.stats();
    assert_eq!((st.panicked, st.succeeded, st.running()), (1, 7, 0));
    assert_eq!(
        ctx.within("the scheduler still works", s.get(9))
            .await
            .unwrap(),
        value_of(9, 1)
    );
    close_and_settle(&ctx, &s, &mut rec).await;
}

/// Fetchers may await other keys of their own scheduler while slots are left for them: a key
/// that finished moments ago, one started with them but not run yet, and a `get_all` of several.
/// Nothing waits forever, and each key is fetched once.
async fn fetcher_awaits_other_keys(ctx: Ctx) {
    let cell: Arc<Mutex<Option<TestScheduler>>> = Arc::default();
    let fetcher_cell = Arc::clone(&cell);
    let s: TestScheduler = Scheduler::builder()
        .concurrency(32)
        .reserved_for_demand(0)
        .build(ctx.runtime(), move |key: &Key, _cx: JobContext| {
            let key = *key;
            let s = fetcher_cell
                .lock()
                .unwrap()
                .clone()
                .expect("set before any get");
            async move {
                let failed = |_| FetchError {
                    key,
                    attempt: 1,
                    permanent: false,
                };
                let got = |k: Key| {
                    let s = s.clone();
                    async move { s.get(k).await.map_err(failed) }
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
    *cell.lock().unwrap() = Some(s.clone());
    let mut rec = Recorder::new(&s);
    let mut answers: Vec<_> = ctx
        .within("32 answers", s.get_all(0..32).collect::<Vec<_>>())
        .await;
    answers.sort_by_key(|(k, _)| *k);
    let values: Vec<Value> = answers.into_iter().map(|(_, v)| v.unwrap()).collect();
    assert_eq!(values[16], 31);
    assert_eq!(values[29], 31 + 13);
    assert_eq!(values[31], 32 + 33 + 34);
    assert_eq!(s.stats().attempts, 32, "each key fetched once");
    close_and_settle(&ctx, &s, &mut rec).await;
    // The fetcher holds the scheduler through `cell`: break the cycle.
    drop(cell.lock().unwrap().take());
}

for_each_executor!(
    progress_without_callers,
    insert_and_ownership,
    single_flight,
    join,
    promotion,
    demotion,
    reserved_capacity,
    hint_ordering,
    retry_and_backoff,
    shared_errors,
    permanent_errors_kept,
    panics,
    cancel,
    close_and_drain,
    peek_from_plain_thread,
    get_all_order,
    jobs_started_together,
    events_once_per_happening,
    stats_add_up,
    config_errors,
    get_all_hints,
    borrowed_keys,
    panic_in_drop,
    fetcher_awaits_other_keys,
);

/// The adapters' other constructors: `TokioRuntime::current()` inside a runtime, a smol executor
/// driven by a thread of its own, and a tokio runtime without a time driver (backoff falls back to
/// the blocking pool instead of panicking).
mod adapters {
    use std::time::Duration;

    use fetch_scheduler::{RetryPolicy, Scheduler};
    use fetch_scheduler_smol::SmolRuntime;
    use fetch_scheduler_tests::{
        Fake, Step, TestScheduler, classify, on_thread_within, value_of, within,
    };
    use fetch_scheduler_tokio::TokioRuntime;

    fn scheduler(runtime: impl fetch_scheduler::Runtime, fake: &Fake) -> TestScheduler {
        Scheduler::builder()
            .concurrency(2)
            .retry(
                RetryPolicy::new(2)
                    .base_delay(Duration::from_millis(1))
                    .jitter(false),
            )
            .classify(classify)
            .build(runtime, fake.clone())
            .unwrap()
    }

    #[test]
    fn tokio_current_handle() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let fake = Fake::new();
        fake.script(1, [Step::Fail]);
        let got = rt.block_on(async {
            let s = scheduler(TokioRuntime::current(), &fake);
            within("a get on TokioRuntime::current()", s.get(1)).await
        });
        assert_eq!(got.unwrap(), value_of(1, 2));
    }

    #[test]
    fn tokio_without_time_driver_still_backs_off() {
        fetch_scheduler_tests::quiet_scripted_panics();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let fake = Fake::new();
        fake.script(1, [Step::Fail]);
        let s = scheduler(TokioRuntime::new(rt.handle().clone()), &fake);
        let got = on_thread_within("a retry without a time driver", move || s.get_blocking(&1));
        assert_eq!(got.unwrap(), value_of(1, 2));
        assert!(
            TokioRuntime::try_current().is_err(),
            "no runtime context here"
        );
    }

    #[test]
    fn smol_executor_on_its_own_thread() {
        let executor = std::sync::Arc::new(smol::Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let driver = {
            let executor = std::sync::Arc::clone(&executor);
            std::thread::spawn(move || smol::block_on(executor.run(stopped.recv())))
        };
        let fake = Fake::new();
        fake.script(1, [Step::Fail]);
        let s = scheduler(SmolRuntime::new(&executor), &fake);
        s.prefetch(2);
        let got = smol::block_on(within("a get on the smol executor", s.get(1)));
        assert_eq!(got.unwrap(), value_of(1, 2));
        // On a thread of its own, so that a hang fails the test instead of blocking it forever.
        let s2 = s.clone();
        let kept = on_thread_within("get_blocking", move || s2.get_blocking(&2));
        assert_eq!(kept.unwrap(), value_of(2, 1));
        drop(stop);
        driver.join().unwrap().expect_err("the stop channel closed");
    }
}
