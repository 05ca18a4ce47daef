//! Splitting a URL into what a connection needs (origin) and what a request needs (path, `Host`),
//! and resolving redirect locations.

use super::error::HttpErrorKind;

/// Where a request goes: parsed from an `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Whether the connection uses TLS.
    pub(crate) tls: bool,
    /// The host as written in the URL (IPv6 literals keep their brackets).
    pub(crate) host: String,
    /// The port, explicit or the scheme's default.
    pub(crate) port: u16,
    /// Path and query, at least `/`.
    pub(crate) path: String,
}

impl Target {
    /// Parses `url`.
    pub(crate) fn parse(url: &str) -> Result<Target, HttpErrorKind> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| HttpErrorKind::InvalidUrl(format!("{e}")))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(HttpErrorKind::InvalidUrl(format!(
                    "unsupported scheme `{other}` (only http and https)"
                )));
            }
            None => return Err(HttpErrorKind::InvalidUrl("no scheme".into())),
        };
        let host = match uri.host() {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => return Err(HttpErrorKind::InvalidUrl("no host".into())),
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
            .to_string();
        Ok(Target {
            tls,
            host,
            port,
            path,
        })
    }

    /// The pool key: `scheme://host:port`.
    pub(crate) fn origin(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// `scheme://authority` as a URI prefix (the port only when it is not the default).
    pub(crate) fn origin_uri(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host_header())
    }

    /// The value of the `Host` header (the port only when it is not the default).
    pub(crate) fn host_header(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The host without IPv6 brackets, for name look-up and TLS server name.
    pub(crate) fn bare_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

/// Resolves a `Location` header value against the URL that answered with it.
pub(crate) fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    if let Some(net) = location.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    // Relative path: replace the last segment of the base path.
    let path = &rest[authority_end..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    format!("{scheme}://{authority}{dir}{location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = Target::parse("http://127.0.0.1:8080/a/-/a-1.0.0.tgz").unwrap();
        assert!(!t.tls);
        assert_eq!(t.port, 8080);
        assert_eq!(t.path, "/a/-/a-1.0.0.tgz");
        assert_eq!(t.origin(), "http://127.0.0.1:8080");
        assert_eq!(t.host_header(), "127.0.0.1:8080");

        let t = Target::parse("https://example.test").unwrap();
        assert!(t.tls);
        assert_eq!((t.port, t.path.as_str()), (443, "/"));
        assert_eq!(t.host_header(), "example.test");

        let t = Target::parse("http://[::1]:9/x?y=1").unwrap();
        assert_eq!(t.bare_host(), "::1");
        assert_eq!(t.path, "/x?y=1");

        assert!(Target::parse("ftp://x/").is_err());
        assert!(Target::parse("/relative").is_err());
    }

    #[test]
    fn resolves_redirects() {
        let base = "http://h:1/a/b/c.tgz?q";
        assert_eq!(resolve(base, "https://o/x"), "https://o/x");
        assert_eq!(resolve(base, "//o/x"), "http://o/x");
        assert_eq!(resolve(base, "/x/y"), "http://h:1/x/y");
        assert_eq!(resolve(base, "d.tgz"), "http://h:1/a/b/d.tgz");
        assert_eq!(resolve("http://h", "d"), "http://h/d");
    }
}
