//! [`HttpClient`]: GET with redirects, timeouts and a per-origin pool of idle connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_rustls::TlsConnector;
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::header;

use super::connect::{Sender, Spawner, connect, tls_connector};
use super::error::{HttpError, HttpErrorKind, Phase, from_hyper};
use super::response::{Release, Response};
use super::target::{Target, resolve};
use super::timeout::timeout;

/// How long a pooled connection may take to report ready before it is dropped.
const POOL_READY: Duration = Duration::from_secs(1);

/// An HTTP/1.1 client for smol: `http` and `https` (rustls with ring, Mozilla roots), connection
/// reuse per origin, bounded redirects, connect and idle-read timeouts, streaming bodies.
///
/// Cloning is cheap and clones share the connection pool. Connection driver tasks run on smol's
/// global executor unless [`HttpClientBuilder::executor`] names another.
///
/// ```no_run
/// # smol::block_on(async {
/// let client = lockfetch::http::HttpClient::new();
/// let mut resp = client.get("http://127.0.0.1:8080/a/-/a-1.0.0.tgz").await?;
/// let mut total = 0;
/// while let Some(chunk) = resp.chunk().await? {
///     total += chunk.len();
/// }
/// # Ok::<_, lockfetch::http::HttpError>(()) });
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

/// Builds an [`HttpClient`] with non-default settings.
#[derive(Clone)]
pub struct HttpClientBuilder {
    config: Config,
}

#[derive(Clone)]
struct Config {
    connect_timeout: Duration,
    read_timeout: Duration,
    max_redirects: usize,
    max_idle_per_origin: usize,
    user_agent: String,
    spawner: Spawner,
}

pub(crate) struct Inner {
    config: Config,
    pool: Mutex<HashMap<String, Vec<Sender>>>,
    tls: OnceLock<Result<TlsConnector, String>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("connect_timeout", &self.inner.config.connect_timeout)
            .field("read_timeout", &self.inner.config.read_timeout)
            .field("max_redirects", &self.inner.config.max_redirects)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with the defaults: 10 s connect timeout, 30 s idle-read timeout, 5 redirects,
    /// up to 64 idle connections per origin.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts a builder with the defaults of [`HttpClient::new`].
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder {
            config: Config {
                connect_timeout: Duration::from_secs(10),
                read_timeout: Duration::from_secs(30),
                max_redirects: 5,
                max_idle_per_origin: 64,
                user_agent: concat!("lockfetch/", env!("CARGO_PKG_VERSION")).to_string(),
                spawner: Spawner::Global,
            },
        }
    }

    /// Sends `GET url`, follows redirects and returns the response once its headers arrived.
    ///
    /// A final status outside 200–299 is an error ([`HttpErrorKind::Status`]); read the body with
    /// [`Response::chunk`] or [`Response::for_each_chunk`].
    pub async fn get(&self, url: &str) -> Result<Response, HttpError> {
        let mut current = url.to_string();
        for _ in 0..=self.inner.config.max_redirects {
            let resp = self
                .get_once(&current)
                .await
                .map_err(|kind| HttpError::new(current.as_str(), kind))?;
            let status = resp.status();
            if matches!(status, 301 | 302 | 303 | 307 | 308)
                && let Some(location) = resp.header(header::LOCATION.as_str())
            {
                let next = resolve(&current, location);
                resp.discard().await;
                current = next;
                continue;
            }
            if !(200..300).contains(&status) {
                resp.discard().await;
                return Err(HttpError::new(current, HttpErrorKind::Status(status)));
            }
            return Ok(resp);
        }
        let n = self.inner.config.max_redirects;
        Err(HttpError::new(current, HttpErrorKind::TooManyRedirects(n)))
    }

    /// Number of idle pooled connections (all origins); for tests and diagnostics.
    pub fn idle_connections(&self) -> usize {
        self.inner.lock_pool().values().map(Vec::len).sum()
    }

    /// One request, no redirect handling: on a pooled connection when one is still open, else on
    /// a new one. A reused connection that the server closed meanwhile is retried on a new one
    /// (GET is idempotent).
    async fn get_once(&self, url: &str) -> Result<Response, HttpErrorKind> {
        let target = Target::parse(url)?;
        let origin = target.origin();
        let config = &self.inner.config;
        let request = || {
            hyper::Request::get(target.path.as_str())
                .header(header::HOST, target.host_header())
                .header(header::USER_AGENT, config.user_agent.as_str())
                .header(header::ACCEPT, "*/*")
                .body(Empty::<Bytes>::new())
                .map_err(|e| HttpErrorKind::InvalidUrl(e.to_string()))
        };
        let headers_timeout = HttpErrorKind::Timeout {
            phase: Phase::Headers,
            after: config.read_timeout,
        };

        while let Some(mut sender) = self.inner.take_idle(&origin) {
            if !matches!(timeout(POOL_READY, sender.ready()).await, Some(Ok(()))) {
                continue;
            }
            match timeout(config.read_timeout, sender.try_send_request(request()?)).await {
                None => return Err(headers_timeout),
                Some(Ok(resp)) => return Ok(self.response(url, origin, sender, resp)),
                // Closed while idle (or before any byte of the answer): try another connection.
                Some(Err(_)) => continue,
            }
        }

        let tls = if target.tls {
            Some(self.inner.tls()?)
        } else {
            None
        };
        let mut sender = connect(&target, tls, config.connect_timeout, &config.spawner).await?;
        match timeout(config.read_timeout, sender.send_request(request()?)).await {
            None => Err(headers_timeout),
            Some(Ok(resp)) => Ok(self.response(url, origin, sender, resp)),
            Some(Err(e)) => Err(from_hyper(&e, 0, None)),
        }
    }

    fn response(
        &self,
        url: &str,
        origin: String,
        sender: Sender,
        resp: hyper::Response<Incoming>,
    ) -> Response {
        let release = Release {
            pool: self.inner.clone(),
            origin,
            sender,
        };
        Response::new(
            url.to_string(),
            resp,
            self.inner.config.read_timeout,
            release,
        )
    }
}

impl Inner {
    fn lock_pool(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Sender>>> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_idle(&self, origin: &str) -> Option<Sender> {
        let mut pool = self.lock_pool();
        let idle = pool.get_mut(origin)?;
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    pub(crate) fn put_idle(&self, origin: String, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut pool = self.lock_pool();
        let idle = pool.entry(origin).or_default();
        idle.retain(|s| !s.is_closed());
        if idle.len() < self.config.max_idle_per_origin {
            idle.push(sender);
        }
    }

    fn tls(&self) -> Result<&TlsConnector, HttpErrorKind> {
        self.tls
            .get_or_init(tls_connector)
            .as_ref()
            .map_err(|e| HttpErrorKind::Tls(std::io::Error::other(e.clone())))
    }
}

impl HttpClientBuilder {
    /// Limit for opening a connection (name look-up, TCP, TLS handshake each).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Limit for waiting for the response headers and, after that, for each piece of the body.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.config.read_timeout = timeout;
        self
    }

    /// Redirects followed before [`HttpErrorKind::TooManyRedirects`] (0 disables them).
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.config.max_redirects = n;
        self
    }

    /// Idle connections kept per `scheme://host:port`.
    pub fn max_idle_per_origin(mut self, n: usize) -> Self {
        self.config.max_idle_per_origin = n;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.config.user_agent = agent.into();
        self
    }

    /// Runs connection driver tasks on `executor` instead of smol's global executor. The
    /// executor must keep running while the client is in use.
    pub fn executor(mut self, executor: Arc<smol::Executor<'static>>) -> Self {
        self.config.spawner = Spawner::Executor(executor);
        self
    }

    /// Builds the client. TLS is configured on the first `https` request.
    pub fn build(self) -> HttpClient {
        HttpClient {
            inner: Arc::new(Inner {
                config: self.config,
                pool: Mutex::new(HashMap::new()),
                tls: OnceLock::new(),
            }),
        }
    }
}
