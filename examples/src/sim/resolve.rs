//! The resolver: breadth-first discovery, one RTT per package, `resolve_concurrency` at a time.
//!
//! Each lane keeps its own clock of round trips: a discovery ends one RTT after the later of the
//! lane's previous discovery and the moment its package became known (its parent's discovery),
//! and the lane sleeps until that deadline rather than for one RTT from whenever it woke. A timer
//! that fires late on a busy machine thus delays one discovery, not every later one of its lane,
//! and every strategy sees the same discovery schedule to within the timer's lateness.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smol::Timer;

use super::Env;

/// Called once per package as it is discovered (the strategy's prefetch).
pub(crate) type Discover = Arc<dyn Fn(usize) + Send + Sync>;

/// Discover every package reachable from the importer, calling `discover` for each; resolves when
/// the last one has been discovered.
pub(crate) async fn resolve(env: &Arc<Env>, discover: Discover) {
    // Each queued package carries when it became known, on the run's clock.
    let (tx, rx) = smol::channel::unbounded::<(usize, Duration)>();
    let seen = Arc::new(Mutex::new(vec![false; env.universe.packages.len()]));
    let pending = Arc::new(AtomicUsize::new(0));
    {
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        for &root in &env.universe.direct {
            if !seen[root] {
                seen[root] = true;
                pending.fetch_add(1, Ordering::SeqCst);
                let _ = tx.try_send((root, Duration::ZERO));
            }
        }
    }
    if pending.load(Ordering::SeqCst) == 0 {
        let _ = env.resolved.set(Instant::now());
        return;
    }
    let lanes: Vec<_> = (0..env.config.resolve_concurrency.max(1))
        .map(|_| {
            let (env, tx, rx) = (env.clone(), tx.clone(), rx.clone());
            let (seen, pending, discover) = (seen.clone(), pending.clone(), discover.clone());
            let lane_env = env.clone();
            lane_env.spawn_task(async move {
                let mut lane_free = Duration::ZERO;
                while let Ok((package, known)) = rx.recv().await {
                    let done = lane_free.max(known) + env.config.rtt;
                    lane_free = done;
                    Timer::at(env.start + done).await;
                    env.note_discovered(package);
                    discover(package);
                    let p = &env.universe.packages[package];
                    {
                        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                        for &child in p.dependencies.iter().chain(&p.optional_dependencies) {
                            if !seen[child] {
                                seen[child] = true;
                                pending.fetch_add(1, Ordering::SeqCst);
                                let _ = tx.try_send((child, done));
                            }
                        }
                    }
                    if pending.fetch_sub(1, Ordering::SeqCst) == 1 {
                        tx.close();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for lane in lanes.into_iter().flatten() {
        lane.await;
    }
    let _ = env.resolved.set(Instant::now());
}
