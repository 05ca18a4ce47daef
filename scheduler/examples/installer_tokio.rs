//! The installer flow on tokio: the resolver prefetches each tarball as it finds it, the install
//! demands its cold batch at once, reads warm results from a plain thread without awaiting, and
//! ends by closing and draining the scheduler.
//!
//! ```sh
//! cargo run -p fetch-scheduler --example installer_tokio
//! ```

use std::sync::Arc;
use std::time::Duration;

use fetch_scheduler::{Hinted, JobContext, Scheduler};
use fetch_scheduler_tokio::TokioRuntime;
use futures_lite::StreamExt;

/// A downloaded tarball, shared by every caller that asked for it.
type Tarball = Arc<[u8]>;

/// The packages the resolver finds, in order, with their tarball sizes.
const PACKAGES: &[(&str, u64)] = &[
    ("react-18.2.0", 81_000),
    ("lodash-4.17.21", 547_000),
    ("left-pad-1.3.0", 2_000),
    ("typescript-5.4.5", 5_900_000),
    ("is-odd-3.0.1", 3_000),
    ("chalk-5.3.0", 43_000),
];

fn url(name: &str) -> String {
    format!("https://registry.npmjs.org/{name}.tgz")
}

/// Stands in for an HTTP GET: a few milliseconds on a pretend loopback registry.
async fn download(url: String, cx: JobContext) -> Result<Tarball, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let bytes = format!("the tarball at {url}").into_bytes();
    cx.progress(bytes.len() as u64, Some(bytes.len() as u64));
    Ok(Arc::from(bytes))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tarballs: Scheduler<String, Tarball, std::io::Error> = Scheduler::builder()
        .concurrency(4) // slots in all
        .reserved_for_demand(1) // a slot prefetches never take
        .build(TokioRuntime::current(), |url: &String, cx: JobContext| {
            download(url.clone(), cx)
        })?;

    // Resolution: each tarball is prefetched as its package is found, largest first among those
    // waiting. `prefetch` never waits; the downloads run on the scheduler's own tasks.
    for &(name, size) in PACKAGES {
        tarballs.prefetch_with_hint(url(name), size);
        tokio::task::yield_now().await; // the resolver's own work
    }

    // The install's cold batch: every package it needs now. Tarballs in flight are joined (and
    // promoted if still queued), never downloaded a second time.
    let batch = PACKAGES
        .iter()
        .map(|&(name, size)| Hinted::new(url(name), size));
    let mut cold = tarballs.get_all(batch);
    while let Some((url, tarball)) = cold.next().await {
        println!("cold  {url}: {} bytes", tarball?.len());
    }

    // The warm path: a plain thread (rayon, in an installer) reads kept tarballs without a
    // runtime and without awaiting; `&str` works for `String` keys.
    let warm = tarballs.clone();
    let readable = std::thread::spawn(move || {
        PACKAGES
            .iter()
            .filter(|&&(name, _)| warm.peek(url(name).as_str()).is_some())
            .count()
    })
    .join()
    .expect("the warm reader does not panic");
    println!(
        "warm  {readable} of {} tarballs read without awaiting",
        PACKAGES.len()
    );

    // End of the install: stop speculative work and wait for the rest.
    tarballs.close();
    tarballs.drain().await;
    let stats = tarballs.stats();
    println!(
        "done  {} downloads for {} packages; the cold batch promoted {} prefetches in flight",
        stats.attempts,
        PACKAGES.len(),
        stats.promoted
    );
    assert_eq!(
        stats.attempts,
        PACKAGES.len() as u64,
        "each tarball downloaded once"
    );
    Ok(())
}
