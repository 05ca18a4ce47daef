//! What every strategy shares: the universe, the registry's URL, the HTTP client, the store index,
//! the moments each package was discovered and downloaded, and the tasks spawned for the run (so
//! teardown can wait for them).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use event_listener::Event;
use smol::{Executor, Task};

use super::SimConfig;
use super::stamps::Stamps;
use super::store::StoreIndex;
use crate::generate::Universe;
use crate::http::HttpClient;

/// What every strategy shares: the universe, the registry's URL, the client, the store index.
pub(crate) struct Env {
    pub(crate) universe: Arc<Universe>,
    pub(crate) base: String,
    pub(crate) client: HttpClient,
    pub(crate) config: SimConfig,
    pub(crate) store: StoreIndex,
    /// Weak, so that tasks holding the environment keep no executor alive.
    pub(crate) ex: Weak<Executor<'static>>,
    pub(crate) tasks: AtomicUsize,
    pub(crate) idle: Event,
    /// When resolution ended.
    pub(crate) resolved: OnceLock<Instant>,
    /// Cold packages at install start.
    pub(crate) cold: AtomicUsize,
    /// When each package was discovered.
    pub(crate) discovered: Stamps,
    /// When each package's first download finished.
    pub(crate) downloaded: Stamps,
    /// The `scheduler` strategy's trace, when asked for.
    pub(crate) trace: std::sync::Mutex<Option<crate::trace::Trace>>,
    /// When the run (resolution) started.
    pub(crate) start: Instant,
}

impl Env {
    /// Download `package` from the mock registry, then write its store-index row.
    pub(crate) async fn download(&self, package: usize) -> Result<u64, String> {
        let p = &self.universe.packages[package];
        let url = format!("{}{}", self.base, p.tarball_path());
        let mut response = self.client.get(&url).await.map_err(|e| e.to_string())?;
        if response.status() != 200 {
            return Err(format!("{}: HTTP {}", p.key(), response.status()));
        }
        let mut received = 0;
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            received += chunk.len() as u64;
        }
        if received != p.size() {
            return Err(format!("{}: {received} of {} bytes", p.key(), p.size()));
        }
        self.downloaded.note(package);
        self.store.record(package);
        Ok(received)
    }

    /// Notes that the resolver has just discovered `package`.
    pub(crate) fn note_discovered(&self, package: usize) {
        self.discovered.note(package);
    }

    /// When `package` was discovered, after the start; `None` if it was not.
    pub(crate) fn discovered_at(&self, package: usize) -> Option<Duration> {
        self.discovered.get(package)
    }

    /// Extraction time of `package` on one worker.
    pub(crate) fn extract_cost(&self, package: usize) -> Duration {
        let size = self.universe.packages[package].size();
        self.config.extract_overhead
            + Duration::from_secs_f64(size as f64 / self.config.extract_bytes_per_sec.max(1) as f64)
    }

    /// Spawn a detached task that [`Env::quiet`] waits for.
    pub(crate) fn spawn(self: &Arc<Self>, task: impl Future<Output = ()> + Send + 'static) {
        if let Some(task) = self.spawn_task(task) {
            task.detach();
        }
    }

    /// Spawn a task that [`Env::quiet`] waits for; `None` once the executor is gone.
    pub(crate) fn spawn_task<T: Send + 'static>(
        self: &Arc<Self>,
        task: impl Future<Output = T> + Send + 'static,
    ) -> Option<Task<T>> {
        let ex = self.ex.upgrade()?;
        self.tasks.fetch_add(1, Ordering::SeqCst);
        let guard = TaskGuard(self.clone());
        Some(ex.spawn(async move {
            let _guard = guard;
            task.await
        }))
    }

    /// Resolves once every task spawned through [`Env::spawn`] has ended.
    pub(crate) async fn quiet(&self) {
        loop {
            if self.tasks.load(Ordering::SeqCst) == 0 {
                return;
            }
            let listener = self.idle.listen();
            if self.tasks.load(Ordering::SeqCst) == 0 {
                return;
            }
            listener.await;
        }
    }
}

/// Counts a spawned task until it ends or is dropped.
struct TaskGuard(Arc<Env>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.0.tasks.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify(usize::MAX);
        }
    }
}
