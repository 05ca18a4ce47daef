//! Name look-ups: one per host at a time, cached for a while, behind an injectable [`Resolver`].

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_lock::OnceCell;

/// The future a [`Resolver`] returns.
pub type LookupFuture = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// Turns a host name into socket addresses.
///
/// The client asks it at most once per host and port at a time and caches the answer (see
/// [`HttpClientBuilder::dns_ttl`](super::HttpClientBuilder::dns_ttl)); IP literals never reach it.
pub trait Resolver: Send + Sync + 'static {
    /// The addresses of `host` (a name, not an IP literal), each with `port`. An error of kind
    /// [`io::ErrorKind::NotFound`] (or an empty list) means the name does not exist, which is
    /// permanent; any other error counts as transient.
    ///
    /// The future may wait as long as the system resolver does; the client bounds it with its
    /// connect timeout.
    fn lookup(&self, host: &str, port: u16) -> LookupFuture;
}

/// The system resolver (`getaddrinfo`), run on smol's blocking thread pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, host: &str, port: u16) -> LookupFuture {
        let host = host.to_string();
        Box::pin(smol::unblock(move || {
            (host.as_str(), port)
                .to_socket_addrs()
                .map(|addrs| addrs.collect())
        }))
    }
}

/// Why a look-up failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DnsFailure {
    /// The name does not exist (or has no address): permanent.
    pub(crate) not_found: bool,
    /// What the resolver said.
    pub(crate) message: String,
}

type Answer = Result<Arc<[SocketAddr]>, DnsFailure>;

struct Entry {
    created: Instant,
    answer: OnceCell<Answer>,
}

/// Look-ups shared by every connection of a client.
pub(crate) struct DnsCache {
    resolver: Arc<dyn Resolver>,
    ttl: Duration,
    entries: Mutex<HashMap<(String, u16), Arc<Entry>>>,
}

impl DnsCache {
    pub(crate) fn new(resolver: Arc<dyn Resolver>, ttl: Duration) -> DnsCache {
        DnsCache {
            resolver,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The addresses of `host:port`: an IP literal as is; else the cached answer, or the answer
    /// of the look-up in flight, or a new look-up. Transient failures are not cached.
    ///
    /// Cancel-safe: a dropped caller leaves the look-up to the others waiting on it (or to the
    /// next caller, which starts it again).
    pub(crate) async fn lookup(&self, host: &str, port: u16) -> Answer {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Arc::from([SocketAddr::new(ip, port)]));
        }
        let key = (host.to_string(), port);
        let entry = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get(&key) {
                Some(e) if e.created.elapsed() < self.ttl => e.clone(),
                _ => {
                    let e = Arc::new(Entry {
                        created: Instant::now(),
                        answer: OnceCell::new(),
                    });
                    entries.insert(key.clone(), e.clone());
                    e
                }
            }
        };
        let answer = entry
            .answer
            .get_or_init(|| async {
                match self.resolver.lookup(host, port).await {
                    Ok(addrs) if addrs.is_empty() => Err(DnsFailure {
                        not_found: true,
                        message: "no address".into(),
                    }),
                    Ok(addrs) => Ok(Arc::from(addrs)),
                    Err(e) => Err(DnsFailure {
                        not_found: is_not_found(&e),
                        message: e.to_string(),
                    }),
                }
            })
            .await
            .clone();
        if matches!(&answer, Err(f) if !f.not_found) {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if entries.get(&key).is_some_and(|e| Arc::ptr_eq(e, &entry)) {
                entries.remove(&key);
            }
        }
        answer
    }
}

/// `getaddrinfo`'s "no such name" answers (glibc, musl, macOS), as std words them.
fn is_not_found(err: &io::Error) -> bool {
    if err.kind() == io::ErrorKind::NotFound {
        return true;
    }
    let text = err.to_string();
    [
        "Name or service not known",
        "No address associated with hostname",
        "nodename nor servname provided",
        "Name does not resolve",
        "No such host is known",
    ]
    .iter()
    .any(|s| text.contains(s))
}
