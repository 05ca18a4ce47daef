//! [`HttpClientBuilder`]: the settings of an [`HttpClient`] and their defaults.

use std::sync::Arc;
use std::time::Duration;

use super::client::HttpClient;
use super::connect::Spawner;
use super::dns::{Resolver, SystemResolver};
use super::settings::{Credentials, EnvLookup, ProxySettings, TlsSettings, process_env};

/// Builds an [`HttpClient`] with non-default settings.
#[derive(Clone)]
pub struct HttpClientBuilder {
    config: Config,
}

/// Everything a client is built from.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) max_redirects: usize,
    pub(crate) max_idle_per_origin: usize,
    pub(crate) user_agent: String,
    pub(crate) spawner: Spawner,
    pub(crate) tls: TlsSettings,
    pub(crate) proxy: ProxySettings,
    pub(crate) credentials: Option<Arc<dyn Credentials>>,
    pub(crate) http1_only: bool,
    pub(crate) resolver: Arc<dyn Resolver>,
    pub(crate) dns_ttl: Duration,
    pub(crate) env: EnvLookup,
}

impl HttpClientBuilder {
    /// The defaults of [`HttpClient::new`].
    pub(crate) fn new() -> HttpClientBuilder {
        HttpClientBuilder {
            config: Config {
                connect_timeout: Duration::from_secs(10),
                read_timeout: Duration::from_secs(30),
                max_redirects: 5,
                max_idle_per_origin: 64,
                user_agent: concat!("lockfetch/", env!("CARGO_PKG_VERSION")).to_string(),
                spawner: Spawner::Global,
                tls: TlsSettings::default(),
                proxy: ProxySettings::default(),
                credentials: None,
                http1_only: false,
                resolver: Arc::new(SystemResolver),
                dns_ttl: Duration::from_secs(300),
                env: process_env(),
            },
        }
    }

    /// Limit for each step of opening a connection (name look-up, TCP per address, proxy
    /// tunnel, TLS handshake).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Limit for waiting for the response headers and, after that, for each piece of the body.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.config.read_timeout = timeout;
        self
    }

    /// Redirects followed before [`HttpErrorKind::TooManyRedirects`](super::HttpErrorKind::TooManyRedirects) (0 disables them).
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.config.max_redirects = n;
        self
    }

    /// Idle HTTP/1.1 connections kept per `scheme://host:port`.
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

    /// What to trust besides the bundled roots, the platform store and the CA variables of the
    /// environment; or to trust anything (see [`TlsSettings::verify`]).
    pub fn tls(mut self, settings: TlsSettings) -> Self {
        self.config.tls = settings;
        self
    }

    /// Proxies (unset fields fall back to the environment, see [`ProxySettings`]).
    pub fn proxy(mut self, settings: ProxySettings) -> Self {
        self.config.proxy = settings;
        self
    }

    /// Where each request's `Authorization` header comes from.
    pub fn credentials(mut self, credentials: Arc<dyn Credentials>) -> Self {
        self.config.credentials = Some(credentials);
        self
    }

    /// `true` offers only HTTP/1.1 (no `h2` in ALPN): one request per connection, connections
    /// pooled per origin.
    pub fn http1_only(mut self, only: bool) -> Self {
        self.config.http1_only = only;
        self
    }

    /// The name resolver (default: the system's, on smol's blocking pool).
    pub fn resolver(mut self, resolver: Arc<dyn Resolver>) -> Self {
        self.config.resolver = resolver;
        self
    }

    /// How long a name look-up's answer is reused (default 5 minutes). Names that do not exist
    /// are remembered as long; other failures are not remembered.
    pub fn dns_ttl(mut self, ttl: Duration) -> Self {
        self.config.dns_ttl = ttl;
        self
    }

    /// Where `SSL_CERT_FILE`, `SSL_CERT_DIR`, `NODE_EXTRA_CA_CERTS` and the proxy variables are
    /// read (default: the process environment).
    pub fn env(mut self, env: EnvLookup) -> Self {
        self.config.env = env;
        self
    }

    /// Builds the client. The proxy settings are read now; TLS is set up on the first `https`
    /// connection (its errors fail every `https` request, naming the cause).
    pub fn build(self) -> HttpClient {
        HttpClient::from_config(self.config)
    }
}
