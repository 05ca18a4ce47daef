//! The mock npm registry: one loopback HTTP/1.1 server for the demo, the tests and the benchmarks.
//!
//! It serves tarballs (usually a generated [`Universe`]) at npm-style paths
//! (`/{name}/-/{unscoped}-{version}.tgz`, scoped names too), on `127.0.0.1` and an ephemeral port,
//! with keep-alive and `Content-Length` bodies. It
//!
//! - shapes traffic ([`Shaping`]): a latency before every response head, one before the first
//!   request of a new connection, and one bandwidth cap shared by every response at once;
//! - counts requests per path, as the server sees them ([`MockRegistry::stats`],
//!   [`MockRegistry::requests_for`], [`MockRegistry::reset_counts`]): duplicate requests are the
//!   requests for a path that was requested before;
//! - injects faults on demand, per path or for every path, for every request or the next `n`
//!   ([`Fault`]: status codes, reset mid-body, truncated body, corrupted bytes, stalls, delays).
//!
//! The server runs on its own thread with a single-threaded executor; dropping the
//! [`MockRegistry`] stops it and closes every connection. It accepts loopback peers only and is
//! bounded by [`Limits`] (requests, idle time, lifetime, open connections).

mod conn;
mod fault;
pub(crate) mod shaping;
mod stats;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use smol::{LocalExecutor, Timer, future};

pub use fault::{ANY_PATH, Fault};
pub use shaping::{Shaping, mbit_to_bytes};
pub use stats::RegistryStats;

use crate::generate::{Universe, tarball_path};

/// Bounds that make the server stop by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests served over the server's life; later ones get a 503 and a close.
    pub max_requests: u64,
    /// A connection idle this long between requests is closed.
    pub idle_timeout: Duration,
    /// The server stops this long after it started.
    pub max_lifetime: Duration,
    /// Connections open at once; more are closed at accept.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_requests: 10_000_000,
            idle_timeout: Duration::from_secs(30),
            max_lifetime: Duration::from_secs(2 * 60 * 60),
            max_connections: 1024,
        }
    }
}

/// State shared by the server thread and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    files: RwLock<HashMap<String, Arc<[u8]>>>,
    shaping: Mutex<Shaping>,
    link: shaping::Link,
    faults: fault::Faults,
    counters: stats::Counters,
    limits: Limits,
    served: AtomicU64,
}

impl Shared {
    fn shaping(&self) -> Shaping {
        *self.shaping.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn file(&self, path: &str) -> Option<Arc<[u8]>> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files.get(path).cloned()
    }
}

/// A running mock registry; dropping it shuts the server down.
#[derive(Debug)]
pub struct MockRegistry {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockRegistry {
    /// Serve `files` (`(path, bytes)`, paths starting with `/`) with `shaping` and default limits.
    pub fn start(
        files: impl IntoIterator<Item = (String, Arc<[u8]>)>,
        shaping: Shaping,
    ) -> io::Result<MockRegistry> {
        MockRegistry::with_limits(files, shaping, Limits::default())
    }

    /// Serve every tarball of `universe` with `shaping`.
    pub fn for_universe(universe: &Universe, shaping: Shaping) -> io::Result<MockRegistry> {
        MockRegistry::start(universe.files(), shaping)
    }

    /// Serve `files` with `shaping` and `limits`.
    pub fn with_limits(
        files: impl IntoIterator<Item = (String, Arc<[u8]>)>,
        shaping: Shaping,
        limits: Limits,
    ) -> io::Result<MockRegistry> {
        let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let listener = smol::net::TcpListener::try_from(listener)?;
        let shared = Arc::new(Shared {
            files: RwLock::new(files.into_iter().collect()),
            shaping: Mutex::new(shaping),
            link: shaping::Link::default(),
            faults: fault::Faults::default(),
            counters: stats::Counters::default(),
            limits,
            served: AtomicU64::new(0),
        });
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mock-registry".into())
            .spawn(move || {
                let ex = LocalExecutor::new();
                let lifetime = async {
                    Timer::after(limits.max_lifetime).await;
                };
                let stop = async {
                    let _ = stopped.recv().await;
                };
                let serve = accept_loop(&ex, listener, thread_shared);
                smol::block_on(ex.run(future::or(serve, future::or(stop, lifetime))));
                // Dropping the executor cancels every connection task and closes its socket.
            })?;
        Ok(MockRegistry {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The listening address (`127.0.0.1:port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the registry, `http://127.0.0.1:port` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Full tarball URL of `name@version`.
    pub fn tarball_url(&self, name: &str, version: &str) -> String {
        format!("{}{}", self.url(), tarball_path(name, version))
    }

    /// Serve `bytes` at `path` from now on (replacing what was there).
    pub fn insert_file(&self, path: &str, bytes: Arc<[u8]>) {
        let mut files = self.shared.files.write().unwrap_or_else(|e| e.into_inner());
        files.insert(path.to_owned(), bytes);
    }

    /// The current traffic shaping.
    pub fn shaping(&self) -> Shaping {
        self.shared.shaping()
    }

    /// Change the traffic shaping for the requests that start from now on.
    pub fn set_shaping(&self, shaping: Shaping) {
        *self
            .shared
            .shaping
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = shaping;
    }

    /// Answer every request of `path` with `fault` until cleared ([`ANY_PATH`] matches every path
    /// without a fault of its own).
    pub fn inject(&self, path: &str, fault: Fault) {
        self.shared.faults.arm(path, fault, None);
    }

    /// Answer the next `times` requests of `path` with `fault`, then serve normally again.
    pub fn inject_times(&self, path: &str, fault: Fault, times: u32) {
        self.shared.faults.arm(path, fault, Some(times));
    }

    /// Remove the fault armed for `path`.
    pub fn clear_fault(&self, path: &str) {
        self.shared.faults.clear(Some(path));
    }

    /// Remove every armed fault.
    pub fn clear_faults(&self) {
        self.shared.faults.clear(None);
    }

    /// The server's counters.
    pub fn stats(&self) -> RegistryStats {
        self.shared.counters.snapshot()
    }

    /// Requests received for `path` (decoded, without query) since the last reset.
    pub fn requests_for(&self, path: &str) -> u64 {
        self.shared.counters.requests_for(path)
    }

    /// Paths requested more than once since the last reset, with their counts, sorted.
    pub fn duplicated_paths(&self) -> Vec<(String, u64)> {
        self.shared.counters.duplicated()
    }

    /// Zero every counter (not the active-responses gauge).
    pub fn reset_counts(&self) {
        self.shared.counters.reset();
    }

    /// Resolves once no response is being produced (call it after the clients are gone).
    pub async fn idle(&self) {
        self.shared.counters.idle().await;
    }

    /// Stop the server and wait for its thread (what dropping does).
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MockRegistry {
    fn drop(&mut self) {
        self.stop_now();
    }
}

async fn accept_loop(
    ex: &LocalExecutor<'_>,
    listener: smol::net::TcpListener,
    shared: Arc<Shared>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of descriptors or similar: back off instead of spinning.
                Timer::after(Duration::from_millis(10)).await;
                continue;
            }
        };
        if !peer.ip().is_loopback() || open.load(Ordering::Relaxed) >= shared.limits.max_connections
        {
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let open = open.clone();
        let shared = shared.clone();
        ex.spawn(async move {
            conn::serve(stream, shared).await;
            open.fetch_sub(1, Ordering::Relaxed);
        })
        .detach();
    }
}
