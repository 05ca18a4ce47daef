//! A long run of jobs that never wait (cache hits) cannot hold a one-thread runtime: a task spawned
//! after them runs before the queue has drained — under tokio and smol.

use std::future::Future;
use std::sync::Arc;

use fetch_scheduler::{JobContext, Runtime, Scheduler};
use fetch_scheduler_smol::SmolRuntime;
use fetch_scheduler_tests::on_thread_within;
use fetch_scheduler_tokio::TokioRuntime;

type S = Scheduler<u32, u32, String>;

const JOBS: u32 = 200;

/// One slot; every fetch answers at once.
fn scheduler(runtime: impl Runtime) -> S {
    Scheduler::builder()
        .concurrency(1)
        .reserved_for_demand(0)
        .build(runtime, |key: &u32, _cx: JobContext| {
            let key = *key;
            async move { Ok(key) }
        })
        .unwrap()
}

/// Queues `JOBS` instant jobs on one slot, then spawns an observer; returns how many jobs had
/// succeeded when the observer first ran, and how many in all.
async fn observe(
    s: S,
    spawn: impl FnOnce(S) -> std::pin::Pin<Box<dyn Future<Output = u64>>>,
) -> (u64, u64) {
    for key in 0..JOBS {
        s.prefetch(key);
    }
    let seen = spawn(s.clone()).await;
    s.drain().await;
    (seen, s.stats().succeeded)
}

fn check((seen, all): (u64, u64)) {
    assert_eq!(all, u64::from(JOBS), "every job ran");
    assert!(
        seen < all,
        "the observer ran only after all {all} instant jobs: they held the thread"
    );
}

#[test]
fn tokio_current_thread() {
    let counts = on_thread_within("tokio", || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let s = scheduler(TokioRuntime::new(rt.handle().clone()));
        rt.block_on(observe(s, |s| {
            let task = tokio::spawn(async move { s.stats().succeeded });
            Box::pin(async move { task.await.unwrap() })
        }))
    });
    check(counts);
}

#[test]
fn smol_one_thread() {
    let counts = on_thread_within("smol", || {
        let executor = Arc::new(smol::Executor::new());
        let s = scheduler(SmolRuntime::new(&executor));
        let ex = Arc::clone(&executor);
        smol::block_on(executor.run(observe(s, move |s| {
            let task = ex.spawn(async move { s.stats().succeeded });
            Box::pin(task)
        })))
    });
    check(counts);
}
