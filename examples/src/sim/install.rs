//! The install phase: warm packages are free, cold ones are awaited and extracted on worker
//! threads in the order their downloads complete.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use smol::channel::{Receiver, Sender, unbounded};

use super::Env;

/// The cold packages at install start, and the clock of the phase.
#[derive(Debug)]
pub(crate) struct Install {
    /// Needed packages whose index row is not visible at `start`, largest first (pacquet's order).
    pub(crate) cold: Vec<usize>,
    start: Instant,
}

/// When the install phase ended, how long it waited on downloads, and when each cold package was
/// extracted.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    pub(crate) end: Instant,
    pub(crate) demand_wait: Duration,
    pub(crate) extracted: Vec<(usize, Instant)>,
}

/// A package's download outcome as the cold batch sees it.
pub(crate) type Completion = (usize, Result<u64, String>);

impl Install {
    /// Start the phase now, partitioning the needed packages by the store index now.
    pub(crate) fn begin(env: &Env) -> Install {
        let now = Instant::now();
        Install::begin_at(env, now)
    }

    /// Partition the needed packages by the store index now, for a phase that started at
    /// `start` (the demand wait counts from there).
    pub(crate) fn begin_at(env: &Env, start: Instant) -> Install {
        let now = Instant::now();
        let universe = &env.universe;
        let mut cold: Vec<usize> = (0..universe.packages.len())
            .filter(|&i| universe.packages[i].needed && !env.store.is_warm(i, now))
            .collect();
        cold.sort_by_key(|&i| std::cmp::Reverse(universe.packages[i].size()));
        env.cold
            .store(cold.len(), std::sync::atomic::Ordering::Relaxed);
        Install { cold, start }
    }

    /// Feed every completion of the cold batch to the extractors; ends when all are extracted.
    pub(crate) async fn finish(
        self,
        env: &Env,
        completions: Receiver<Completion>,
    ) -> Result<Timeline, String> {
        let workers = Extractors::start(env.config.workers);
        let mut last_download = self.start;
        let mut left = self.cold.len();
        let mut failure = None;
        while left > 0 {
            let Ok((package, result)) = completions.recv().await else {
                failure.get_or_insert_with(|| "the cold batch ended early".to_string());
                break;
            };
            left -= 1;
            last_download = Instant::now();
            match result {
                Ok(_) => workers.submit(package, env.extract_cost(package)),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        let extracted = workers.join().await;
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(Timeline {
            end: Instant::now(),
            demand_wait: last_download - self.start,
            extracted,
        })
    }
}

/// The CPU side of the install: `n` threads, each doing one package's work at a time.
///
/// The work is modelled as the thread sleeping for the package's extraction time, so that the
/// simulated CPUs do not take the machine's cores away from the network side (the registry, the
/// client); the order and overlap are those of real worker threads.
struct Extractors {
    jobs: Sender<(usize, Duration)>,
    threads: Vec<JoinHandle<Vec<(usize, Instant)>>>,
}

impl Extractors {
    fn start(n: usize) -> Extractors {
        let (jobs, queue) = unbounded::<(usize, Duration)>();
        let threads = (0..n.max(1))
            .map(|_| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    let mut done = Vec::new();
                    while let Ok((package, work)) = queue.recv_blocking() {
                        std::thread::sleep(work);
                        done.push((package, Instant::now()));
                    }
                    done
                })
            })
            .collect();
        Extractors { jobs, threads }
    }

    fn submit(&self, package: usize, work: Duration) {
        let _ = self.jobs.try_send((package, work));
    }

    /// Waits for the queued work; returns when each package's extraction ended.
    async fn join(self) -> Vec<(usize, Instant)> {
        self.jobs.close();
        let threads = self.threads;
        smol::unblock(move || {
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap_or_default())
                .collect()
        })
        .await
    }
}

/// Downloads `package` for the cold batch on its own task, behind one of `slots`, and reports the
/// completion on `tx`: the cold batch of the strategies that do not ask a scheduler.
pub(crate) fn download_cold(
    env: &std::sync::Arc<Env>,
    slots: &super::semaphore::FifoSemaphore,
    tx: &Sender<Completion>,
    package: usize,
) {
    let (task_env, slots, tx) = (env.clone(), slots.clone(), tx.clone());
    env.spawn(async move {
        let slot = slots.acquire().await;
        let result = task_env.download(package).await;
        drop(slot);
        complete(&tx, package, result);
    });
}

/// A channel for the completions of the cold batch.
pub(crate) fn channel() -> (Sender<Completion>, Receiver<Completion>) {
    unbounded()
}

/// Send a completion, ignoring a closed install (it already failed).
pub(crate) fn complete(tx: &Sender<Completion>, package: usize, result: Result<u64, String>) {
    let _ = tx.try_send((package, result));
}
