//! Settings a caller hands the client: trust ([`TlsSettings`]), proxies ([`ProxySettings`]),
//! credentials ([`Credentials`]) and where environment variables come from ([`EnvLookup`]).

use std::path::PathBuf;
use std::sync::Arc;

/// Which certificates to trust, beyond what the client always reads.
///
/// The client always trusts the bundled Mozilla roots (`webpki-roots`), the platform's store
/// (`rustls-native-certs`, which reads `SSL_CERT_FILE` / `SSL_CERT_DIR` instead when they are set),
/// and the PEM files named by `SSL_CERT_FILE`, `SSL_CERT_DIR` and `NODE_EXTRA_CA_CERTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM bundles to trust as well (npm's `cafile`, `--cafile`). A missing or unreadable file
    /// fails every `https` request with an error naming it.
    pub extra_ca_files: Vec<PathBuf>,
    /// PEM text to trust as well (npm's `ca=` values).
    pub extra_ca_pem: Vec<String>,
    /// `false` accepts any certificate (npm's `strict-ssl=false`, `--insecure`); the client then
    /// prints one warning on stderr when it first sets up TLS.
    pub verify: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            extra_ca_files: Vec::new(),
            extra_ca_pem: Vec::new(),
            verify: true,
        }
    }
}

/// Which proxies to use. A `None` field falls back to the environment: `HTTPS_PROXY`,
/// `HTTP_PROXY`, `NO_PROXY`, in upper or lower case (lower case first, as curl does).
///
/// Proxy URLs are `http://[user:password@]host[:port]` (the port defaults to 80; a URL without
/// a scheme is taken as `http://`). Credentials in the URL are sent as `Proxy-Authorization:
/// Basic …` and never printed. Loopback hosts never go through a proxy taken from the
/// environment (a proxy set here applies to them too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// The proxy for `https` URLs.
    pub https_proxy: Option<String>,
    /// The proxy for `http` URLs (and for `https` ones when no `https` proxy is set, as npm does).
    pub http_proxy: Option<String>,
    /// Hosts reached directly: comma or space separated; `*` matches every host; an entry matches
    /// the host itself and its subdomains (`example.test` and `.example.test` both match
    /// `a.example.test`); `host:port` matches that port only.
    pub no_proxy: Option<String>,
}

/// Supplies the `Authorization` header of a request.
pub trait Credentials: Send + Sync + 'static {
    /// The `Authorization` header value for a request to `url` (asked again after every
    /// redirect, so a redirect to another host never carries the registry's token).
    fn authorization(&self, url: &str) -> Option<String>;
}

/// Reads an environment variable; the default reads the process environment. Tests inject
/// their own so they never change the process's.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment as an [`EnvLookup`] (empty values count as unset).
pub fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}
