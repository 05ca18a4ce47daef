//! The installer flow on a smol executor driven by two threads: prefetch as packages are
//! resolved, the cold batch, the warm path without awaiting, and close and drain.
//!
//! ```sh
//! cargo run -p fetch-scheduler --example installer_smol
//! ```

use std::sync::Arc;
use std::time::Duration;

use fetch_scheduler::{Hinted, JobContext, Scheduler};
use fetch_scheduler_smol::SmolRuntime;
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
    smol::Timer::after(Duration::from_millis(20)).await;
    let bytes = format!("the tarball at {url}").into_bytes();
    cx.progress(bytes.len() as u64, Some(bytes.len() as u64));
    Ok(Arc::from(bytes))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The executor the downloads run on, driven by two threads until `stop` is dropped. The
    // scheduler holds it weakly: the caller keeps it alive.
    let executor = Arc::new(smol::Executor::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let drivers: Vec<_> = (0..2)
        .map(|_| {
            let (executor, stopped) = (Arc::clone(&executor), stopped.clone());
            std::thread::spawn(move || smol::block_on(executor.run(stopped.recv())))
        })
        .collect();

    let tarballs: Scheduler<String, Tarball, std::io::Error> = Scheduler::builder()
        .concurrency(4) // slots in all
        .reserved_for_demand(1) // a slot prefetches never take
        .build(
            SmolRuntime::new(&executor),
            |url: &String, cx: JobContext| download(url.clone(), cx),
        )?;

    // Resolution: fire and forget, as each package is found.
    for &(name, size) in PACKAGES {
        tarballs.prefetch_with_hint(url(name), size);
    }

    smol::block_on(async {
        // The cold batch joins the downloads in flight instead of starting them again.
        let batch = PACKAGES
            .iter()
            .map(|&(name, size)| Hinted::new(url(name), size));
        let mut cold = tarballs.get_all(batch);
        while let Some((url, tarball)) = cold.next().await {
            println!("cold  {url}: {} bytes", tarball?.len());
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;

    // The warm path, from a plain thread: no runtime, no await.
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

    tarballs.close();
    smol::block_on(tarballs.drain());
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

    drop(stop);
    for driver in drivers {
        let run = driver.join().expect("a driver thread does not panic");
        run.expect_err("a driver runs until the stop channel closes");
    }
    Ok(())
}
