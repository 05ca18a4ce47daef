//! [`MockProxy`]: a loopback HTTP `CONNECT` proxy for tests, with optional Basic credentials.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::Engine as _;
use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};
use smol::net::TcpStream;
use smol::{LocalExecutor, future};

/// What the proxy saw, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Tunnels opened (`CONNECT` answered 200).
    pub tunnels: u64,
    /// `CONNECT`s refused with 407 (no or wrong credentials).
    pub unauthorized: u64,
}

#[derive(Debug, Default)]
struct Shared {
    tunnels: AtomicU64,
    unauthorized: AtomicU64,
    targets: Mutex<Vec<String>>,
    /// Expected `Proxy-Authorization` value.
    authorization: Option<String>,
}

/// A running `CONNECT` proxy on `127.0.0.1`; dropping it stops it.
///
/// It tunnels to loopback targets only (`127.0.0.1`, `localhost`, `*.localhost`, `[::1]`) and
/// answers 403 to others, 405 to anything but `CONNECT`, and 407 when credentials are required
/// and missing or wrong.
#[derive(Debug)]
pub struct MockProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockProxy {
    /// Starts the proxy; with `credentials` (user, password) it requires them as Basic
    /// `Proxy-Authorization`.
    pub fn start(credentials: Option<(&str, &str)>) -> io::Result<MockProxy> {
        let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let listener = smol::net::TcpListener::try_from(listener)?;
        let shared = Arc::new(Shared {
            authorization: credentials.map(|(u, p)| {
                let pair = format!("{u}:{p}");
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }),
            ..Shared::default()
        });
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mock-proxy".into())
            .spawn(move || {
                let ex = LocalExecutor::new();
                let serve = async {
                    while let Ok((stream, peer)) = listener.accept().await {
                        if peer.ip().is_loopback() {
                            ex.spawn(tunnel(stream, thread_shared.clone())).detach();
                        }
                    }
                };
                let stop = async {
                    let _ = stopped.recv().await;
                };
                smol::block_on(ex.run(future::or(serve, stop)));
            })?;
        Ok(MockProxy {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:port` (without credentials).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters.
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            tunnels: self.shared.tunnels.load(Ordering::Relaxed),
            unauthorized: self.shared.unauthorized.load(Ordering::Relaxed),
        }
    }

    /// The `host:port` of every `CONNECT` received, in order.
    pub fn targets(&self) -> Vec<String> {
        self.shared
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for MockProxy {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn tunnel(mut client: TcpStream, shared: Arc<Shared>) {
    let Ok(head) = read_head(&mut client).await else {
        return;
    };
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut parts = request.split(' ');
    let (method, authority) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let authorization = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_string())
    });
    let reply = |status: &str| format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
    if method != "CONNECT" {
        let _ = client
            .write_all(reply("405 Method Not Allowed").as_bytes())
            .await;
        return;
    }
    shared
        .targets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(authority.to_string());
    if shared.authorization.is_some() && authorization != shared.authorization {
        shared.unauthorized.fetch_add(1, Ordering::Relaxed);
        let refuse = "HTTP/1.1 407 Proxy Authentication Required\r\n\
                      Proxy-Authenticate: Basic realm=\"mock\"\r\nContent-Length: 0\r\n\r\n";
        let _ = client.write_all(refuse.as_bytes()).await;
        return;
    }
    let Some(target) = loopback(authority) else {
        let _ = client.write_all(reply("403 Forbidden").as_bytes()).await;
        return;
    };
    let Ok(upstream) = TcpStream::connect(target).await else {
        let _ = client.write_all(reply("502 Bad Gateway").as_bytes()).await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    shared.tunnels.fetch_add(1, Ordering::Relaxed);
    let up = smol::io::copy(client.clone(), upstream.clone());
    let down = smol::io::copy(upstream, client);
    let _ = future::or(up, down).await;
}

/// The request head, read byte by byte (what follows belongs to the tunnel).
async fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 || head.len() > 16 * 1024 {
            return Err(io::ErrorKind::InvalidData.into());
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).map_err(|_| io::ErrorKind::InvalidData.into())
}

/// `host:port` as a loopback socket address, if it is one.
fn loopback(authority: &str) -> Option<SocketAddr> {
    let (host, port) = authority.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = if host == "localhost" || host.ends_with(".localhost") {
        Ipv4Addr::LOCALHOST.into()
    } else {
        host.parse::<std::net::IpAddr>().ok()?
    };
    ip.is_loopback().then_some(SocketAddr::new(ip, port))
}
