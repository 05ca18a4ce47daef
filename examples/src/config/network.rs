//! [`Network`]: the trust and proxy settings of npm's config, as plain data for the HTTP client.

use std::fmt;
use std::path::PathBuf;

use super::auth::redact_userinfo;

/// npm's `cafile`, `ca`, `strict-ssl`, `https-proxy`, `proxy` and `noproxy`.
///
/// [`fmt::Debug`] hides proxy credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Network {
    /// `cafile`: PEM bundles to trust besides the usual roots.
    pub cafiles: Vec<PathBuf>,
    /// `ca` / `ca[]`: PEM certificates to trust besides the usual roots.
    pub ca: Vec<String>,
    /// `strict-ssl` (default `true`): `false` turns certificate verification off.
    pub strict_ssl: bool,
    /// `https-proxy`: the proxy for `https://` URLs.
    pub https_proxy: Option<String>,
    /// `proxy`: the proxy for `http://` URLs (and for `https://` ones without `https-proxy`).
    pub proxy: Option<String>,
    /// `noproxy`: hosts reached directly, comma separated.
    pub noproxy: Option<String>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            cafiles: Vec::new(),
            ca: Vec::new(),
            strict_ssl: true,
            https_proxy: None,
            proxy: None,
            noproxy: None,
        }
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hide = |p: &Option<String>| p.as_deref().map(redact_userinfo);
        f.debug_struct("Network")
            .field("cafiles", &self.cafiles)
            .field("ca", &format_args!("{} certificate(s)", self.ca.len()))
            .field("strict_ssl", &self.strict_ssl)
            .field("https_proxy", &hide(&self.https_proxy))
            .field("proxy", &hide(&self.proxy))
            .field("noproxy", &self.noproxy)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_proxy_credentials() {
        let n = Network {
            https_proxy: Some("http://user:pa55@127.0.0.1:3128".into()),
            ..Network::default()
        };
        let shown = format!("{n:?}");
        assert!(!shown.contains("pa55"), "{shown}");
        assert!(shown.contains("127.0.0.1:3128"), "{shown}");
    }
}
