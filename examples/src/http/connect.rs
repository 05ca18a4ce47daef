//! Opening one connection: name look-up (shared), TCP to each address in turn, the proxy's
//! tunnel, TLS with ALPN, then hyper's HTTP/1.1 or HTTP/2 handshake and its driver task.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_rustls::TlsConnector;
use futures_rustls::pki_types::ServerName;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::client::conn::{http1, http2};
use smol::net::TcpStream;
use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::breaker::{ConnectFailure, Strike};
use super::dns::DnsCache;
use super::error::{HttpErrorKind, Phase, error_chain};
use super::origin::H2Sender;
use super::proxy::{Proxy, tunnel};
use super::target::Target;
use super::timeout::timeout;
use super::tls::{UNTRUSTED_HINT, is_certificate_error};

/// What to check when the registry's name does not resolve or its port refuses connections.
pub(crate) const NETWORK_HINT: &str = "check the registry URL (--registry, npm's `registry`), the network, \
     and the proxy settings (--proxy, HTTPS_PROXY, NO_PROXY)";
/// What to do when the proxy wants credentials.
const PROXY_AUTH_HINT: &str = "put the proxy's user and password in its URL \
     (--proxy http://user:password@host:port, HTTPS_PROXY)";

/// HTTP/2 flow-control windows: large enough that one connection carries many parallel
/// downloads at full speed (hyper's defaults of 64 KiB per stream throttle a fast link).
const H2_STREAM_WINDOW: u32 = 8 << 20;
const H2_CONNECTION_WINDOW: u32 = 64 << 20;
/// Largest HTTP/2 frame accepted (fewer, larger DATA frames for big tarballs).
const H2_MAX_FRAME: u32 = 256 << 10;

/// The sending half of a connection: an HTTP/1.1 one serves one request at a time (pooled
/// while idle); an HTTP/2 one is shared by the requests to its origin, up to the server's
/// stream limit.
pub(crate) enum Sender {
    H1(http1::SendRequest<Empty<Bytes>>),
    H2(H2Sender),
}

/// Where hyper's connection tasks run.
#[derive(Clone, Default)]
pub(crate) enum Spawner {
    /// `smol::spawn` (the global executor, which runs on its own threads).
    #[default]
    Global,
    /// A given executor; it must be run by someone for as long as the client is used.
    Executor(Arc<smol::Executor<'static>>),
}

impl Spawner {
    pub(crate) fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        match self {
            Spawner::Global => smol::spawn(fut).detach(),
            Spawner::Executor(ex) => ex.spawn(fut).detach(),
        }
    }
}

impl<F> hyper::rt::Executor<F> for Spawner
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        self.spawn(async move {
            fut.await;
        });
    }
}

/// Everything opening a connection needs.
pub(crate) struct Connect<'a> {
    pub(crate) dns: &'a DnsCache,
    /// `None` for `http` targets.
    pub(crate) tls: Option<&'a TlsConnector>,
    pub(crate) proxy: Option<&'a Proxy>,
    pub(crate) timeout: Duration,
    pub(crate) spawner: &'a Spawner,
}

impl Connect<'_> {
    /// Opens a connection to `target`'s origin and performs the HTTP handshake (HTTP/2 when
    /// TLS negotiated `h2`).
    pub(crate) async fn open(&self, target: &Target) -> Result<Sender, ConnectFailure> {
        let tcp = self.tcp(target).await?;
        let Some(tls) = self.tls else {
            return handshake_h1(FuturesIo::new(tcp), self.spawner)
                .await
                .map_err(Into::into);
        };
        let name = ServerName::try_from(target.bare_host().to_string()).map_err(|e| {
            HttpErrorKind::Tls(io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
        })?;
        let stream = match timeout(self.timeout, tls.connect(name, tcp)).await {
            None => {
                return Err(ConnectFailure {
                    kind: HttpErrorKind::Timeout {
                        phase: Phase::TlsHandshake,
                        after: self.timeout,
                    },
                    strike: Strike::Counted {
                        cause: format!("the TLS handshake timed out after {:?}", self.timeout),
                        hint: NETWORK_HINT,
                    },
                });
            }
            Some(Err(e)) => {
                let strike = if is_certificate_error(&e) {
                    Strike::Fatal {
                        cause: format!("TLS certificate not trusted ({e})"),
                        hint: UNTRUSTED_HINT,
                    }
                } else if e.kind() == io::ErrorKind::InvalidData {
                    Strike::Fatal {
                        cause: format!("TLS handshake failed ({e})"),
                        hint: NETWORK_HINT,
                    }
                } else {
                    Strike::No
                };
                let kind = HttpErrorKind::Tls(e);
                return Err(ConnectFailure { kind, strike });
            }
            Some(Ok(stream)) => stream,
        };
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = FuturesIo::new(stream);
        if h2 {
            handshake_h2(io, self.spawner).await
        } else {
            handshake_h1(io, self.spawner).await
        }
        .map_err(Into::into)
    }

    /// A TCP connection to the target, or to the proxy with a tunnel to the target through it.
    async fn tcp(&self, target: &Target) -> Result<TcpStream, ConnectFailure> {
        let (host, port) = match self.proxy {
            Some(p) => (p.bare_host(), p.port),
            None => (target.bare_host(), target.port),
        };
        let via = match self.proxy {
            Some(p) => format!(" (proxy {p})"),
            None => String::new(),
        };
        let counted = |kind, cause: String| ConnectFailure {
            kind,
            strike: Strike::Counted {
                cause,
                hint: NETWORK_HINT,
            },
        };
        let connect_timeout = HttpErrorKind::Timeout {
            phase: Phase::Connect,
            after: self.timeout,
        };
        let addrs = match timeout(self.timeout, self.dns.lookup(host, port)).await {
            None => {
                let cause = format!("the name look-up of {host} timed out{via}");
                return Err(counted(connect_timeout, cause));
            }
            Some(Err(f)) if f.not_found => {
                return Err(ConnectFailure {
                    kind: HttpErrorKind::Dns {
                        host: host.to_string(),
                        message: f.message.clone(),
                    },
                    strike: Strike::Fatal {
                        cause: format!("no such host {host}{via} ({})", f.message),
                        hint: NETWORK_HINT,
                    },
                });
            }
            Some(Err(f)) => {
                let kind = HttpErrorKind::Dns {
                    host: host.to_string(),
                    message: f.message,
                };
                return Err(kind.into());
            }
            Some(Ok(addrs)) => addrs,
        };

        // Every address in turn, as the look-up ordered them.
        let mut last = None;
        let mut tcp = None;
        for addr in addrs.iter() {
            match timeout(self.timeout, TcpStream::connect(*addr)).await {
                Some(Ok(s)) => {
                    tcp = Some(s);
                    break;
                }
                Some(Err(e)) => last = Some(e),
                None => last = Some(io::ErrorKind::TimedOut.into()),
            }
        }
        let Some(mut tcp) = tcp else {
            let e = last.unwrap_or_else(|| io::ErrorKind::AddrNotAvailable.into());
            let cause = match e.kind() {
                io::ErrorKind::TimedOut => {
                    format!("connecting timed out after {:?}{via}", self.timeout)
                }
                _ => format!("connect failed: {e}{via}"),
            };
            let kind = if e.kind() == io::ErrorKind::TimedOut {
                connect_timeout
            } else {
                HttpErrorKind::Connect(e)
            };
            return Err(counted(kind, cause));
        };
        // Small requests: do not wait for Nagle.
        let _ = tcp.set_nodelay(true);

        if let Some(proxy) = self.proxy {
            match timeout(self.timeout, tunnel(&mut tcp, proxy, target)).await {
                None => {
                    let cause = format!("proxy {proxy} did not answer CONNECT");
                    return Err(counted(connect_timeout, cause));
                }
                Some(Err(kind)) => {
                    let strike = match &kind {
                        HttpErrorKind::Proxy {
                            status: Some(407),
                            message,
                        } => Strike::Fatal {
                            cause: message.clone(),
                            hint: PROXY_AUTH_HINT,
                        },
                        _ => Strike::No,
                    };
                    return Err(ConnectFailure { kind, strike });
                }
                Some(Ok(())) => {}
            }
        }
        Ok(tcp)
    }
}

async fn handshake_h1<T>(io: FuturesIo<T>, spawner: &Spawner) -> Result<Sender, HttpErrorKind>
where
    T: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new()
        .handshake(io)
        .await
        .map_err(|e| HttpErrorKind::Protocol(error_chain(&e)))?;
    spawner.spawn(async move {
        // The connection ends when the server closes it or every sender and body is dropped;
        // errors reach the request or body that was using it.
        let _ = conn.await;
    });
    Ok(Sender::H1(sender))
}

async fn handshake_h2<T>(io: FuturesIo<T>, spawner: &Spawner) -> Result<Sender, HttpErrorKind>
where
    T: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http2::Builder::new(spawner.clone())
        .timer(SmolTimer::new())
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_frame_size(H2_MAX_FRAME)
        .handshake(io)
        .await
        .map_err(|e| HttpErrorKind::Protocol(error_chain(&e)))?;
    let mut conn = Box::pin(conn);
    let limit = Arc::new(AtomicUsize::new(conn.current_max_send_streams()));
    let published = limit.clone();
    spawner.spawn(async move {
        // Drive the connection; after each step, publish the server's current stream limit.
        let _ = futures_lite::future::poll_fn(|cx| {
            let poll = conn.as_mut().poll(cx);
            published.store(conn.current_max_send_streams(), Ordering::Release);
            poll
        })
        .await;
    });
    Ok(Sender::H2(H2Sender::new(sender, limit)))
}
