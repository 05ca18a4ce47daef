//! The mock npm registry: one loopback server for the demo, the tests and the benchmarks.
//!
//! It serves tarballs (usually a generated [`Universe`]) at npm-style paths
//! (`/{name}/-/{unscoped}-{version}.tgz`, scoped names too), on `127.0.0.1` and an ephemeral port,
//! with keep-alive and `Content-Length` bodies: plain HTTP/1.1 by default, or
//! ([`RegistryOptions`]) HTTPS with a certificate from a [`TestCa`] made at run time, HTTP/2 by
//! ALPN, and a required `Authorization` header. It
//!
//! - shapes traffic ([`Shaping`]): a latency before every response head, one before the first
//!   request of a new connection, and one bandwidth cap shared by every response at once;
//! - counts requests per path, as the server sees them ([`MockRegistry::stats`],
//!   [`MockRegistry::requests_for`], [`MockRegistry::reset_counts`]): duplicate requests are the
//!   requests for a path that was requested before;
//! - injects faults on demand, per path or for every path, for every request or the next `n`
//!   ([`Fault`]: status codes, `Retry-After`, reset mid-body, truncated body, corrupted bytes,
//!   stalls, delays).
//!
//! [`MockProxy`] is a loopback HTTP `CONNECT` proxy to put in front of it.
//!
//! The server runs on its own thread with a single-threaded executor; dropping the
//! [`MockRegistry`] stops it and closes every connection. It accepts loopback peers only and is
//! bounded by [`Limits`] (requests, idle time, lifetime, open connections).

mod answer;
mod conn;
mod fault;
mod h2;
mod proxy;
pub(crate) mod shaping;
mod stats;
mod tls;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use smol::{LocalExecutor, Timer, future};

use futures_rustls::TlsAcceptor;

pub use fault::{ANY_PATH, Fault};
pub use h2::MAX_CONCURRENT_STREAMS;
pub use proxy::{MockProxy, ProxyStats};
pub use shaping::{Shaping, mbit_to_bytes};
pub use stats::{AuthCounts, RegistryStats};
pub use tls::{TEST_SERVER_NAMES, TestCa};

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

/// How the mock registry speaks (the default: plain HTTP/1.1, no authorization).
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Serve HTTPS with this CA's server certificate (valid for [`TEST_SERVER_NAMES`]).
    pub tls: Option<TestCa>,
    /// Offer HTTP/2 by ALPN (with `tls` only), at most [`MAX_CONCURRENT_STREAMS`] streams at
    /// once per connection.
    pub http2: bool,
    /// Answer 401 (with `WWW-Authenticate`) unless a request carries exactly this
    /// `Authorization` value; see [`MockRegistry::auth_counts`].
    pub authorization: Option<String>,
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
    options: RegistryOptions,
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
    https: bool,
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
        MockRegistry::with_options(files, shaping, limits, RegistryOptions::default())
    }

    /// Serve `files` with `shaping` and `limits`, speaking as `options` say.
    pub fn with_options(
        files: impl IntoIterator<Item = (String, Arc<[u8]>)>,
        shaping: Shaping,
        limits: Limits,
        options: RegistryOptions,
    ) -> io::Result<MockRegistry> {
        let acceptor = match &options.tls {
            Some(ca) => Some(ca.acceptor(options.http2).map_err(io::Error::other)?),
            None => None,
        };
        let https = acceptor.is_some();
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
            options,
            served: AtomicU64::new(0),
        });
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mock-registry".into())
            .spawn(move || {
                let ex = Rc::new(LocalExecutor::new());
                let lifetime = async {
                    Timer::after(limits.max_lifetime).await;
                };
                let stop = async {
                    let _ = stopped.recv().await;
                };
                let serve = accept_loop(ex.clone(), listener, thread_shared, acceptor);
                smol::block_on(ex.run(future::or(serve, future::or(stop, lifetime))));
                // Dropping the executor cancels every connection task and closes its socket.
            })?;
        Ok(MockRegistry {
            addr,
            https,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The listening address (`127.0.0.1:port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the registry, `http://127.0.0.1:port` (`https://` when serving TLS; no
    /// trailing slash).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
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

    /// Requests accepted and rejected by the required `Authorization` check
    /// ([`RegistryOptions::authorization`]) since start or the last reset.
    pub fn auth_counts(&self) -> AuthCounts {
        self.shared.counters.auth_counts()
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
    ex: Rc<LocalExecutor<'static>>,
    listener: smol::net::TcpListener,
    shared: Arc<Shared>,
    acceptor: Option<TlsAcceptor>,
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
        let acceptor = acceptor.clone();
        let exec = h2::LocalExec(Rc::downgrade(&ex));
        ex.spawn(async move {
            connection(stream, shared, acceptor, exec).await;
            open.fetch_sub(1, Ordering::Relaxed);
        })
        .detach();
    }
}

/// One accepted connection: plain HTTP/1.1, or TLS then HTTP/1.1 or HTTP/2 as ALPN chose.
async fn connection(
    stream: smol::net::TcpStream,
    shared: Arc<Shared>,
    acceptor: Option<TlsAcceptor>,
    exec: h2::LocalExec,
) {
    let _ = stream.set_nodelay(true);
    shared.counters.connection();
    let connect_latency = shared.shaping().connect_latency;
    if !connect_latency.is_zero() {
        Timer::after(connect_latency).await;
    }
    let Some(acceptor) = acceptor else {
        conn::serve(stream.clone(), stream, shared).await;
        return;
    };
    let idle = shared.limits.idle_timeout;
    let handshake = future::or(
        async { acceptor.accept(stream.clone()).await.ok() },
        async {
            Timer::after(idle).await;
            None
        },
    );
    // A client that does not trust the certificate just goes away.
    let Some(tls) = handshake.await else { return };
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        h2::serve(tls, shared, exec).await;
    } else {
        conn::serve(tls, stream, shared).await;
    }
}
