//! Opening one HTTP/1 connection (TCP, optionally TLS) and spawning its hyper driver task.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_rustls::TlsConnector;
use futures_rustls::pki_types::ServerName;
use futures_rustls::rustls::{self, ClientConfig, RootCertStore};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use smol::net::TcpStream;
use smol_hyper::rt::FuturesIo;

use super::error::{HttpErrorKind, Phase, error_chain};
use super::target::Target;
use super::timeout::timeout;

/// The sending half of an idle or busy HTTP/1 connection.
pub(crate) type Sender = SendRequest<Empty<Bytes>>;

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
    fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        match self {
            Spawner::Global => smol::spawn(fut).detach(),
            Spawner::Executor(ex) => ex.spawn(fut).detach(),
        }
    }
}

/// Builds the TLS configuration: ring provider, the Mozilla roots from `webpki-roots`, HTTP/1.1 ALPN.
pub(crate) fn tls_connector() -> Result<TlsConnector, String> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Opens a connection to `target`'s origin and performs the HTTP/1 handshake.
pub(crate) async fn connect(
    target: &Target,
    tls: Option<&TlsConnector>,
    connect_timeout: Duration,
    spawner: &Spawner,
) -> Result<Sender, HttpErrorKind> {
    let addr = (target.bare_host().to_string(), target.port);
    let tcp = timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .ok_or(HttpErrorKind::Timeout {
            phase: Phase::Connect,
            after: connect_timeout,
        })?
        .map_err(HttpErrorKind::Connect)?;
    // Small requests: do not wait for Nagle.
    let _ = tcp.set_nodelay(true);

    let Some(tls) = tls else {
        return handshake(FuturesIo::new(tcp), spawner).await;
    };
    let name = ServerName::try_from(target.bare_host().to_string()).map_err(|e| {
        HttpErrorKind::Tls(io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
    })?;
    let stream = timeout(connect_timeout, tls.connect(name, tcp))
        .await
        .ok_or(HttpErrorKind::Timeout {
            phase: Phase::TlsHandshake,
            after: connect_timeout,
        })?
        .map_err(HttpErrorKind::Tls)?;
    handshake(FuturesIo::new(stream), spawner).await
}

async fn handshake<T>(io: FuturesIo<T>, spawner: &Spawner) -> Result<Sender, HttpErrorKind>
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
    Ok(sender)
}
