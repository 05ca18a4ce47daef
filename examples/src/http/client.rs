//! [`HttpClient`]: GET with redirects, credentials, timeouts, HTTP/2 or pooled HTTP/1.1
//! connections per origin, proxies, shared name look-ups and a breaker per origin.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use futures_rustls::TlsConnector;
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::header;

use super::breaker::{ConnectFailure, Strike};
use super::builder::{Config, HttpClientBuilder};
use super::connect::{Connect, Sender};
use super::dns::DnsCache;
use super::error::{HttpError, HttpErrorKind, Phase, from_hyper};
use super::origin::{H2Sender, Origin, Proto};
use super::proxy::Proxies;
use super::response::{Release, Response};
use super::retry_after::parse_retry_after;
use super::target::{Target, resolve};
use super::timeout::timeout;
use super::tls;

/// How long a pooled connection may take to report ready before it is dropped.
const POOL_READY: Duration = Duration::from_secs(1);
/// Reused connections tried for one request before opening a new one.
const MAX_STALE: usize = 8;
/// What to fix when the trust settings cannot be used.
const TLS_SETUP_HINT: &str = "fix the CA settings (--cafile, npm's `cafile` and `ca`)";
/// What to fix when the proxy settings cannot be used.
const PROXY_SETUP_HINT: &str = "fix the proxy settings (--proxy, HTTPS_PROXY, HTTP_PROXY)";

/// An HTTP client for smol: `http` and `https` (rustls with ring), HTTP/2 by ALPN with the
/// requests to an origin on one connection up to the server's stream limit, HTTP/1.1 with a
/// pool of idle connections otherwise;
/// bounded redirects, connect and idle-read timeouts, streaming bodies.
///
/// Cloning is cheap and clones share connections, look-ups and breakers. Connection driver
/// tasks run on smol's global executor unless [`HttpClientBuilder::executor`] names another.
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

struct Inner {
    config: Config,
    origins: Mutex<HashMap<String, Arc<Origin>>>,
    tls: OnceLock<Result<TlsConnector, String>>,
    dns: DnsCache,
    proxies: Result<Proxies, String>,
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
            .field("http1_only", &self.inner.config.http1_only)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with the defaults: 10 s connect timeout, 30 s idle-read timeout, 5 redirects,
    /// up to 64 idle HTTP/1.1 connections per origin, HTTP/2 when the server offers it, name
    /// look-ups cached for 5 minutes, proxies from the environment, trust as in
    /// [`TlsSettings`](super::TlsSettings).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts a builder with the defaults of [`HttpClient::new`].
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::new()
    }

    /// Sends `GET url`, follows redirects and returns the response once its headers arrived.
    ///
    /// A final status outside 200–299 is an error ([`HttpErrorKind::Status`], with
    /// [`HttpError::retry_after`] on a 429 or 503 that sent `Retry-After`); read the body with
    /// [`Response::chunk`] or [`Response::for_each_chunk`]. Each hop asks the
    /// [`Credentials`](super::Credentials) for its own `Authorization` header.
    ///
    /// Cancel-safe: dropping the future drops at most the connection it was using. It cannot
    /// wait forever: every step is bounded by the connect or read timeout.
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
                let retry_after = match status {
                    429 | 503 => resp
                        .header(header::RETRY_AFTER.as_str())
                        .and_then(|v| parse_retry_after(v, SystemTime::now())),
                    _ => None,
                };
                resp.discard().await;
                return Err(HttpError::new(current, HttpErrorKind::Status(status))
                    .with_retry_after(retry_after));
            }
            return Ok(resp);
        }
        let n = self.inner.config.max_redirects;
        Err(HttpError::new(current, HttpErrorKind::TooManyRedirects(n)))
    }

    /// Starts opening a connection to `url`'s origin in the background (name look-up, TCP,
    /// proxy tunnel, TLS, HTTP handshake), so that the first requests find it ready. Does
    /// nothing if the origin has a connection already; failures count like a request's (an
    /// origin that turns out unreachable fails later requests at once).
    pub fn preconnect(&self, url: &str) {
        let client = self.clone();
        let url = url.to_string();
        self.inner.config.spawner.spawn(async move {
            let _ = client.warm(&url).await;
        });
    }

    /// Number of idle pooled HTTP/1.1 connections (all origins); for tests and diagnostics.
    pub fn idle_connections(&self) -> usize {
        self.inner.lock_origins().values().map(|o| o.idle()).sum()
    }

    async fn warm(&self, url: &str) -> Result<(), HttpErrorKind> {
        let target = Target::parse(url)?;
        let origin = self.inner.origin(&target);
        origin.breaker.check()?;
        if origin.has_connection() {
            return Ok(());
        }
        // The name look-up and the reading of the trust store, side by side.
        let proxy = self
            .inner
            .proxies
            .as_ref()
            .ok()
            .and_then(|p| p.for_target(&target));
        let (host, port) = match proxy {
            Some(p) => (p.bare_host(), p.port),
            None => (target.bare_host(), target.port),
        };
        let lookup = async {
            let _ = self.inner.dns.lookup(host, port).await;
        };
        let tls = async {
            if target.tls {
                self.tls_setup().await;
            }
        };
        futures_lite::future::zip(lookup, tls).await;
        if let (Sender::H1(s), _) = self.open(&origin, &target).await? {
            origin.put_idle(s);
        }
        Ok(())
    }

    /// One request, no redirect handling: on the origin's HTTP/2 connection or an idle
    /// HTTP/1.1 one when there is one, else on a new connection. A reused connection that the
    /// server closed meanwhile is replaced (GET is idempotent).
    async fn get_once(&self, url: &str) -> Result<Response, HttpErrorKind> {
        let target = Target::parse(url)?;
        let origin = self.inner.origin(&target);
        origin.breaker.check()?;
        let authorization = self
            .inner
            .config
            .credentials
            .as_ref()
            .and_then(|c| c.authorization(url));
        for _ in 0..MAX_STALE {
            let Some(sender) = origin.reuse() else { break };
            if let Some(resp) = self
                .send(
                    &origin,
                    &target,
                    url,
                    authorization.as_deref(),
                    sender,
                    true,
                )
                .await?
            {
                return Ok(resp);
            }
        }
        let (sender, reused) = self.open(&origin, &target).await?;
        match self
            .send(
                &origin,
                &target,
                url,
                authorization.as_deref(),
                sender,
                reused,
            )
            .await?
        {
            Some(resp) => Ok(resp),
            None => Err(HttpErrorKind::Reset {
                received: 0,
                cause: "the new connection closed before the request was sent".into(),
            }),
        }
    }

    /// A connection to send on: a new one, or (`true`) one that another request opened while
    /// this one waited at the gate.
    async fn open(
        &self,
        origin: &Origin,
        target: &Target,
    ) -> Result<(Sender, bool), HttpErrorKind> {
        if origin.proto() == Proto::H1 {
            return Ok((self.connect(origin, target).await?, false));
        }
        let gate = origin.gate().await;
        origin.breaker.check()?;
        if let Some(sender) = origin.reuse() {
            return Ok((sender, true));
        }
        if origin.proto() == Proto::H1 {
            drop(gate);
        }
        Ok((self.connect(origin, target).await?, false))
    }

    async fn connect(&self, origin: &Origin, target: &Target) -> Result<Sender, HttpErrorKind> {
        let fatal = |kind, cause: &str, hint| {
            let strike = Strike::Fatal {
                cause: cause.to_string(),
                hint,
            };
            origin
                .breaker
                .failure(&origin.key, ConnectFailure { kind, strike })
        };
        if target.tls {
            self.tls_setup().await;
        }
        let tls = match target.tls {
            false => None,
            true => match self.inner.tls() {
                Ok(tls) => Some(tls),
                Err(e) => {
                    let kind = HttpErrorKind::Tls(std::io::Error::other(e.clone()));
                    return Err(fatal(kind, e, TLS_SETUP_HINT));
                }
            },
        };
        let proxy = match &self.inner.proxies {
            Ok(proxies) => proxies.for_target(target),
            Err(e) => {
                let kind = HttpErrorKind::Proxy {
                    status: None,
                    message: e.clone(),
                };
                return Err(fatal(kind, e, PROXY_SETUP_HINT));
            }
        };
        let connect = Connect {
            dns: &self.inner.dns,
            tls,
            proxy,
            timeout: self.inner.config.connect_timeout,
            spawner: &self.inner.config.spawner,
        };
        match connect.open(target).await {
            Ok(mut sender) => {
                origin.breaker.success();
                origin.opened(&mut sender);
                Ok(sender)
            }
            Err(failure) => Err(origin.breaker.failure(&origin.key, failure)),
        }
    }

    /// Sets TLS up (reading the trust store takes a while) on smol's blocking pool, once.
    async fn tls_setup(&self) {
        if self.inner.tls.get().is_none() {
            let inner = self.inner.clone();
            smol::unblock(move || {
                let _ = inner.tls();
            })
            .await;
        }
    }

    /// Sends the request on `sender`; `None` when the connection turned out closed before it
    /// took the request (try another).
    async fn send(
        &self,
        origin: &Arc<Origin>,
        target: &Target,
        url: &str,
        authorization: Option<&str>,
        sender: Sender,
        reused: bool,
    ) -> Result<Option<Response>, HttpErrorKind> {
        let config = &self.inner.config;
        let h2 = matches!(sender, Sender::H2(..));
        let mut request = if h2 {
            // HTTP/2 carries the authority in the request's URI, not in a Host header.
            hyper::Request::get(format!("{}{}", target.origin_uri(), target.path))
        } else {
            hyper::Request::get(target.path.as_str()).header(header::HOST, target.host_header())
        }
        .header(header::USER_AGENT, config.user_agent.as_str())
        .header(header::ACCEPT, "*/*");
        if let Some(auth) = authorization {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| HttpErrorKind::InvalidUrl(e.to_string()))?;
        let headers_timeout = HttpErrorKind::Timeout {
            phase: Phase::Headers,
            after: config.read_timeout,
        };
        match sender {
            Sender::H1(mut s) => {
                if reused && !matches!(timeout(POOL_READY, s.ready()).await, Some(Ok(()))) {
                    return Ok(None);
                }
                match timeout(config.read_timeout, s.try_send_request(request)).await {
                    None => Err(headers_timeout),
                    Some(Ok(resp)) => {
                        let release = Release {
                            origin: origin.clone(),
                            sender: s,
                        };
                        Ok(Some(self.response(url, resp, Some(release))))
                    }
                    // Closed while idle, before any byte of the answer: try another connection.
                    Some(Err(e)) if reused && e.message().is_some() => Ok(None),
                    Some(Err(e)) => Err(from_hyper(e.error(), 0, None)),
                }
            }
            Sender::H2(h2) => {
                let H2Sender {
                    mut send, n, slot, ..
                } = h2;
                match timeout(config.read_timeout, send.try_send_request(request)).await {
                    None => Err(headers_timeout),
                    Some(Ok(resp)) => Ok(Some(self.response(url, resp, None).holding(slot))),
                    // The connection went away (closed, GOAWAY) before taking the request.
                    Some(Err(e)) if e.message().is_some() => {
                        origin.drop_h2(n);
                        Ok(None)
                    }
                    Some(Err(e)) => Err(from_hyper(e.error(), 0, None)),
                }
            }
        }
    }

    fn response(
        &self,
        url: &str,
        resp: hyper::Response<Incoming>,
        release: Option<Release>,
    ) -> Response {
        Response::new(
            url.to_string(),
            resp,
            self.inner.config.read_timeout,
            release,
        )
    }
}

impl HttpClient {
    pub(crate) fn from_config(config: Config) -> HttpClient {
        let proxies = Proxies::new(&config.proxy, &config.env);
        let dns = DnsCache::new(config.resolver.clone(), config.dns_ttl);
        HttpClient {
            inner: Arc::new(Inner {
                config,
                origins: Mutex::new(HashMap::new()),
                tls: OnceLock::new(),
                dns,
                proxies,
            }),
        }
    }
}

impl Inner {
    fn lock_origins(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Origin>>> {
        self.origins.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn origin(&self, target: &Target) -> Arc<Origin> {
        let key = target.origin();
        self.lock_origins()
            .entry(key.clone())
            .or_insert_with(|| {
                let proto = if !target.tls || self.config.http1_only {
                    Proto::H1
                } else {
                    Proto::Unknown
                };
                Arc::new(Origin::new(key, proto, self.config.max_idle_per_origin))
            })
            .clone()
    }

    fn tls(&self) -> Result<&TlsConnector, &String> {
        self.tls
            .get_or_init(|| {
                tls::connector(&self.config.tls, &self.config.env, self.config.http1_only)
            })
            .as_ref()
    }
}
