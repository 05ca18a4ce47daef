//! Proxies: which one a URL goes through (settings, then `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`),
//! and the `CONNECT` request that opens a tunnel through it.

use std::fmt;

use base64::Engine as _;
use futures_lite::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::error::HttpErrorKind;
use super::settings::{EnvLookup, ProxySettings};
use super::target::Target;

/// Largest `CONNECT` response head read from a proxy.
const MAX_HEAD: usize = 16 * 1024;

/// One proxy: where it is and its credentials (never printed).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Proxy {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `Proxy-Authorization` value, from the URL's user and password.
    authorization: Option<String>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Proxy {
    /// `http://host:port`, without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}:{}", self.host, self.port)
    }
}

impl Proxy {
    /// Parses `[http://][user[:password]@]host[:port][/]`.
    pub(crate) fn parse(url: &str) -> Result<Proxy, String> {
        let rest = match url.split_once("://") {
            Some(("http" | "HTTP", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "proxy URL scheme `{scheme}` is not supported (only http://)"
                ));
            }
            None => url,
        };
        let rest = rest.split('/').next().unwrap_or(rest);
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse() {
                Ok(port) => (h, port),
                Err(_) if hostport.starts_with('[') && hostport.ends_with(']') => (hostport, 80),
                Err(_) => return Err("proxy URL has an invalid port".to_string()),
            },
            _ => (hostport, 80),
        };
        if host.is_empty() {
            return Err("proxy URL has no host".to_string());
        }
        let authorization = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let pair = format!("{}:{}", percent_decode(user), percent_decode(pass));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        Ok(Proxy {
            host: host.to_string(),
            port,
            authorization,
        })
    }

    /// The host without IPv6 brackets, for the name look-up.
    pub(crate) fn bare_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

/// The proxies of a client and the hosts that bypass them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Proxies {
    https: Option<Proxy>,
    http: Option<Proxy>,
    no_proxy: Vec<String>,
    /// Whether `https` / `http` came from the environment rather than the settings.
    https_from_env: bool,
    http_from_env: bool,
}

impl Proxies {
    /// Settings first, then the environment (lower case before upper case, as curl reads it).
    /// An `https` URL uses the `https` proxy, else the `http` one (as npm does).
    pub(crate) fn new(settings: &ProxySettings, env: &EnvLookup) -> Result<Proxies, String> {
        let var = |name: &str| env(name).or_else(|| env(&name.to_ascii_uppercase()));
        let parse = |value: Option<String>, what: &str| {
            value
                .map(|v| Proxy::parse(v.trim()).map_err(|e| format!("{what}: {e}")))
                .transpose()
        };
        let http_from_env = settings.http_proxy.is_none();
        let http = parse(
            settings.http_proxy.clone().or_else(|| var("http_proxy")),
            "http proxy",
        )?;
        let mut https_from_env = settings.https_proxy.is_none();
        let mut https = parse(
            settings.https_proxy.clone().or_else(|| var("https_proxy")),
            "https proxy",
        )?;
        if https.is_none() {
            https = http.clone();
            https_from_env = http_from_env;
        }
        let no_proxy = settings
            .no_proxy
            .clone()
            .or_else(|| var("no_proxy"))
            .unwrap_or_default()
            .split([',', ' '])
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        Ok(Proxies {
            https,
            http,
            no_proxy,
            https_from_env,
            http_from_env,
        })
    }

    /// The proxy for `target`, or `None` to connect directly. Loopback hosts (`localhost`,
    /// `*.localhost`, `127.0.0.0/8`, `::1`) never go through a proxy from the environment, as
    /// Go's clients do: a local server is not behind the company proxy.
    pub(crate) fn for_target(&self, target: &Target) -> Option<&Proxy> {
        let (proxy, from_env) = if target.tls {
            (self.https.as_ref(), self.https_from_env)
        } else {
            (self.http.as_ref(), self.http_from_env)
        };
        let proxy = proxy?;
        let host = target.bare_host().to_ascii_lowercase();
        let loopback = host == "localhost"
            || host.ends_with(".localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if from_env && loopback {
            return None;
        }
        let bypass = self.no_proxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, port) = match entry.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') || n.ends_with(']') => (n, p.parse().ok()),
                _ => (entry.as_str(), None),
            };
            if port.is_some_and(|p: u16| p != target.port) {
                return false;
            }
            let name = name.trim_start_matches('*').trim_start_matches('.');
            let name = name
                .strip_prefix('[')
                .and_then(|n| n.strip_suffix(']'))
                .unwrap_or(name);
            host == name || host.ends_with(&format!(".{name}"))
        });
        (!bypass).then_some(proxy)
    }
}

/// Sends `CONNECT host:port` on `stream` (a connection to `proxy`) and reads the answer; on a
/// 2xx the stream is a tunnel to the target.
pub(crate) async fn tunnel<S>(
    stream: &mut S,
    proxy: &Proxy,
    target: &Target,
) -> Result<(), HttpErrorKind>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let authority = format!("{}:{}", target.host, target.port);
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = &proxy.authorization {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    let io_error = |e: std::io::Error| HttpErrorKind::Proxy {
        status: None,
        message: format!("proxy {proxy}: {e}"),
    };
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(io_error)?;
    stream.flush().await.map_err(io_error)?;

    // Byte by byte: whatever follows the head belongs to the tunnel.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.map_err(io_error)? == 0 {
            return Err(io_error(std::io::ErrorKind::UnexpectedEof.into()));
        }
        head.push(byte[0]);
        if head.len() > MAX_HEAD {
            return Err(io_error(std::io::ErrorKind::InvalidData.into()));
        }
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(()),
        Some(407) => Err(HttpErrorKind::Proxy {
            status: Some(407),
            message: format!(
                "proxy {proxy} requires authentication (407): put user:password in the proxy URL"
            ),
        }),
        status => Err(HttpErrorKind::Proxy {
            status,
            message: format!(
                "proxy {proxy} refused CONNECT {authority}: {}",
                status_line.trim()
            ),
        }),
    }
}

/// Decodes `%XX` escapes (proxy user names and passwords may contain `@`, `:`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> EnvLookup {
        Arc::new(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn parses_proxy_urls_and_hides_credentials() {
        let p = Proxy::parse("http://us%40er:p%3Ass@proxy.test:3128/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.test", 3128));
        let expected = base64::engine::general_purpose::STANDARD.encode("us@er:p:ss");
        assert_eq!(p.authorization, Some(format!("Basic {expected}")));
        assert_eq!(p.to_string(), "http://proxy.test:3128");
        assert_eq!(format!("{p:?}"), "http://proxy.test:3128");
        assert_eq!(Proxy::parse("proxy.test").unwrap().port, 80);
        assert_eq!(Proxy::parse("[::1]:8").unwrap().bare_host(), "::1");
        assert!(Proxy::parse("socks5://x:1").unwrap_err().contains("socks5"));
        assert!(Proxy::parse("http://x:port").is_err());
    }

    #[test]
    fn environment_and_no_proxy() {
        let proxies = Proxies::new(
            &ProxySettings::default(),
            &env(&[
                ("HTTPS_PROXY", "http://p:1"),
                ("no_proxy", "internal.test, .corp.test,mirror.test:9"),
            ]),
        )
        .unwrap();
        let target = |url: &str| Target::parse(url).unwrap();
        let via = |url: &str| proxies.for_target(&target(url)).map(|p| p.port);
        assert_eq!(via("https://registry.test/x"), Some(1));
        assert_eq!(via("http://registry.test/x"), None, "no http proxy set");
        assert_eq!(via("https://internal.test/x"), None);
        assert_eq!(via("https://a.internal.test/x"), None);
        assert_eq!(via("https://b.corp.test/x"), None);
        assert_eq!(via("https://notinternal.test/x"), Some(1));
        assert_eq!(via("https://mirror.test:9/x"), None);
        assert_eq!(via("https://mirror.test:10/x"), Some(1));

        // Settings win over the environment; the http proxy serves https too.
        let settings = ProxySettings {
            http_proxy: Some("http://q:2".into()),
            no_proxy: Some("*".into()),
            ..ProxySettings::default()
        };
        let proxies = Proxies::new(&settings, &env(&[("HTTP_PROXY", "http://p:1")])).unwrap();
        assert!(proxies.for_target(&target("https://x.test/")).is_none());
        let settings = ProxySettings {
            no_proxy: Some(String::new()),
            ..settings
        };
        let proxies = Proxies::new(&settings, &env(&[])).unwrap();
        assert_eq!(
            proxies.for_target(&target("https://x.test/")).unwrap().port,
            2
        );
        // A proxy from the settings applies to loopback hosts too; one from the environment not.
        let local = target("http://127.0.0.1:9/");
        assert_eq!(proxies.for_target(&local).unwrap().port, 2);
        let proxies = Proxies::new(
            &ProxySettings::default(),
            &env(&[("https_proxy", "http://p:1")]),
        )
        .unwrap();
        for local in [
            "https://localhost/",
            "https://127.0.0.7/",
            "https://[::1]/",
            "https://registry.localhost/",
        ] {
            assert!(proxies.for_target(&target(local)).is_none(), "{local}");
        }
        assert!(proxies.for_target(&target("https://x.test/")).is_some());
    }
}
