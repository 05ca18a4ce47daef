//! Watching a scheduler at work: the event of every happening, the snapshot of what is in flight
//! (what to print when an install seems stuck), and the counters and gauges of `stats()`.
//!
//! ```sh
//! cargo run -p fetch-scheduler --example observe
//! ```

use std::sync::Arc;
use std::time::Duration;

use fetch_scheduler::{EventKind, JobContext, RetryPolicy, Scheduler};
use fetch_scheduler_tokio::TokioRuntime;
use futures_lite::StreamExt;
use tokio::sync::Notify;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `slow` holds its download until the example lets it go; `flaky` fails once, transiently.
    let let_slow_go = Arc::new(Notify::new());
    let gate = Arc::clone(&let_slow_go);
    let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
        .concurrency(2)
        .reserved_for_demand(1)
        .retry(RetryPolicy::new(3).base_delay(Duration::from_millis(10)))
        .build(
            TokioRuntime::current(),
            move |name: &String, cx: JobContext| {
                let (name, gate) = (name.clone(), Arc::clone(&gate));
                async move {
                    if name == "slow" {
                        cx.progress(1_000, Some(4_000));
                        gate.notified().await;
                    }
                    if name == "flaky" && cx.attempt() == 1 {
                        return Err(std::io::Error::other("connection reset"));
                    }
                    Ok(name.len())
                }
            },
        )?;

    // Subscribe before the first request to see every event.
    let mut events = tarballs.events();
    tarballs.prefetch("slow".to_string()); // takes the one slot prefetches may use
    tarballs.prefetch("flaky".to_string()); // waits for that slot
    let flaky = tarballs.get("flaky".to_string()); // promoted: runs in the reserved slot

    // Events arrive in the order of each key's transitions.
    while let Some(event) = events.next().await {
        println!("event     {:<6} {:?}", event.key, event.kind);
        if event.key == "flaky" && matches!(event.kind, EventKind::Succeeded { .. }) {
            break;
        }
    }
    println!("flaky     {:?}", flaky.await);

    // The snapshot: every job in flight with its state, priority, age, waiters and progress.
    for job in tarballs.snapshot() {
        println!(
            "in flight {:<6} {:?} at {}, {} waiter(s), progress {:?}, for {:?}",
            job.key, job.state, job.priority, job.waiters, job.progress, job.age
        );
    }

    let_slow_go.notify_one();
    tarballs.close();
    tarballs.drain().await;
    while let Some(event) = events.try_next() {
        println!("event     {:<6} {:?}", event.key, event.kind);
    }
    let stats = tarballs.stats();
    println!(
        "stats     {} attempts, {} retries, {} promoted, {} kept, {} in flight",
        stats.attempts,
        stats.retries,
        stats.promoted,
        stats.kept,
        stats.in_flight()
    );
    Ok(())
}
