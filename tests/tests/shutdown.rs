//! A runtime that goes away with jobs in flight: no waiter, `get_blocking`, new `get` or `drain`
//! waits forever. Jobs whose tasks the runtime drops fail with `Error::Aborted`, free their slots,
//! and every job that would start afterwards fails the same way — under tokio and smol.

use std::future::Future;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use fetch_scheduler::EventKind;
use fetch_scheduler::{Error, JobContext, RetryPolicy, Runtime, Scheduler};
use fetch_scheduler_smol::SmolRuntime;
use fetch_scheduler_tests::{on_thread_within, within};
use fetch_scheduler_tokio::TokioRuntime;
use futures_lite::StreamExt;

type S = Scheduler<u32, u32, String>;

/// Key 0 answers at once; every other key's fetch never completes; keys ≥ 100 fail transiently
/// first (and then back off for a minute).
fn scheduler(runtime: impl Runtime) -> S {
    Scheduler::builder()
        .concurrency(2)
        .reserved_for_demand(1)
        .retry(RetryPolicy::new(2).base_delay(Duration::from_secs(60)))
        .build(runtime, |key: &u32, cx: JobContext| {
            let key = *key;
            async move {
                if key >= 100 && cx.attempt() == 1 {
                    return Err(format!("key {key} failed"));
                }
                if key != 0 {
                    std::future::pending::<()>().await;
                }
                Ok(key)
            }
        })
        .unwrap()
}

/// Blocks on `future`, failing the test with `what` if it hangs.
fn block_on<T>(what: &str, future: impl Future<Output = T>) -> T {
    futures_lite::future::block_on(within(what, future))
}

/// Starts jobs in every state a runtime's shutdown can catch: two running (keys 1, 2), one
/// queued (3), one backing off (100); waits until they are there.
fn fill(s: &S) -> Vec<fetch_scheduler::Wait<u32, u32, String>> {
    let mut events = s.events();
    let waits = vec![s.get(100), s.get(1), s.get(2), s.get(3)];
    // 100 and 1 take both slots; 100 fails at once and backs off, and 2 takes the slot it
    // freed, in the same step: once both are announced, nothing moves any more.
    block_on("100 to back off and 2 to start", async {
        let (mut backing_off, mut started) = (false, false);
        while !(backing_off && started) {
            let event = events.next().await.expect("the scheduler is alive");
            match (event.key, event.kind) {
                (100, EventKind::Retrying { .. }) => backing_off = true,
                (2, EventKind::Started { .. }) => started = true,
                _ => {}
            }
        }
    });
    let st = s.stats();
    assert_eq!(
        (st.running(), st.backing_off, st.queued_demand),
        (2, 1, 1),
        "{st:?}"
    );
    waits
}

/// What every test checks once the runtime is gone: every waiter got `Aborted`, nothing is in
/// flight, `drain` ends, later requests are answered at once, kept values stay.
fn check_after(s: S, waits: Vec<fetch_scheduler::Wait<u32, u32, String>>) {
    for wait in waits {
        assert_eq!(block_on("a waiter", wait), Err(Error::Aborted));
    }
    let st = s.stats();
    assert_eq!(st.in_flight(), 0, "{st:?}");
    assert_eq!(st.aborted, 4, "{st:?}");
    // The two running attempts, and the queued job if a freed slot started it before the
    // scheduler learnt that the runtime is gone.
    assert!((2..=3).contains(&st.interrupted), "{st:?}");
    fetch_scheduler_tests::assert_stats_add_up(&st);
    block_on("drain", s.drain());
    assert_eq!(block_on("a new get", s.get(7)), Err(Error::Aborted));
    let s2 = s.clone();
    assert_eq!(
        on_thread_within("get_blocking", move || s2.get_blocking(&8)),
        Err(Error::Aborted)
    );
    assert_eq!(s.peek(&0), Some(0), "kept values stay readable");
    assert_eq!(s.stats().in_flight(), 0);
}

#[test]
fn tokio_runtime_dropped_with_jobs_in_flight() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let s = scheduler(TokioRuntime::new(rt.handle().clone()));
    assert_eq!(block_on("key 0", s.get(0)), Ok(0));
    let waits = fill(&s);
    drop(rt);
    check_after(s, waits);
}

#[test]
fn tokio_current_thread_runtime_dropped_with_jobs_in_flight() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = scheduler(TokioRuntime::new(rt.handle().clone()));
    // A current-thread runtime runs its tasks only while something blocks on it.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let driver = thread::spawn(move || {
        rt.block_on(async {
            let _ = stopped.await;
        });
        rt
    });
    assert_eq!(block_on("key 0", s.get(0)), Ok(0));
    let waits = fill(&s);
    stop.send(()).unwrap();
    drop(driver.join().unwrap());
    check_after(s, waits);
}

#[test]
fn tokio_runtime_gone_before_the_first_job() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    drop(rt);
    let s = scheduler(TokioRuntime::new(handle));
    s.prefetch(1);
    assert_eq!(block_on("a get", s.get(2)), Err(Error::Aborted));
    block_on("drain", s.drain());
    let st = s.stats();
    // The prefetch started, and its task was refused: that is how the scheduler learnt.
    assert_eq!(
        (st.aborted, st.interrupted, st.in_flight()),
        (2, 1, 0),
        "{st:?}"
    );
}

#[test]
fn smol_executor_dropped_with_jobs_in_flight() {
    let executor = Arc::new(smol::Executor::new());
    let s = scheduler(SmolRuntime::new(&executor));
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let driver = {
        let executor = Arc::clone(&executor);
        thread::spawn(move || smol::block_on(executor.run(stopped.recv())))
    };
    assert_eq!(block_on("key 0", s.get(0)), Ok(0));
    let waits = fill(&s);
    drop(stop);
    driver.join().unwrap().expect_err("the stop channel closed");
    drop(executor);
    check_after(s, waits);
}

#[test]
fn smol_executor_gone_before_the_first_job() {
    let executor = Arc::new(smol::Executor::new());
    let s = scheduler(SmolRuntime::new(&executor));
    drop(executor);
    s.prefetch(1);
    assert_eq!(block_on("a get", s.get(2)), Err(Error::Aborted));
    block_on("drain", s.drain());
    assert_eq!(s.stats().aborted, 2);
}
