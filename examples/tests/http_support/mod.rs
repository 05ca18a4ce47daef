//! Helpers shared by the `http_*` tests: a timeout, generated files, a mock registry over
//! HTTPS, an isolated environment and a resolver that counts.

#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lockfetch::http::{EnvLookup, HttpClient, HttpClientBuilder, LookupFuture, Resolver};
use lockfetch::registry::{Limits, MockRegistry, RegistryOptions, Shaping, TestCa};
use smol::{Timer, future};

/// Runs `f`, failing the test if it takes longer than `secs`.
pub fn run<T>(secs: u64, f: impl Future<Output = T>) -> T {
    smol::block_on(future::or(f, async {
        Timer::after(Duration::from_secs(secs)).await;
        panic!("test timed out after {secs} s");
    }))
}

/// `n` files of `size` bytes at `/p{i}/-/p{i}-1.0.0.tgz`.
pub fn files(n: usize, size: usize) -> Vec<(String, Arc<[u8]>)> {
    (0..n)
        .map(|i| {
            let body: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            (path(i), Arc::from(body))
        })
        .collect()
}

/// The path of file `i` of [`files`].
pub fn path(i: usize) -> String {
    format!("/p{i}/-/p{i}-1.0.0.tgz")
}

/// A registry serving `files(n, size)` with `options` and `shaping`.
pub fn registry(n: usize, size: usize, shaping: Shaping, options: RegistryOptions) -> MockRegistry {
    MockRegistry::with_options(files(n, size), shaping, Limits::default(), options)
        .expect("start mock registry")
}

/// A fresh CA and an HTTPS registry (HTTP/2 offered when `http2`) of `n` small files.
pub fn https_registry(n: usize, http2: bool) -> (MockRegistry, TestCa) {
    let ca = TestCa::generate().expect("generate CA");
    let options = RegistryOptions {
        tls: Some(ca.clone()),
        http2,
        ..RegistryOptions::default()
    };
    (registry(n, 4096, Shaping::none(), options), ca)
}

/// An environment holding only `vars` (the process's is never read nor changed).
pub fn env(vars: &[(&str, &str)]) -> EnvLookup {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

/// A builder with short timeouts and an empty environment.
pub fn builder() -> HttpClientBuilder {
    HttpClient::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(5))
        .env(env(&[]))
}

/// GETs `url` and reads the body; the error's text on failure.
pub async fn fetch(client: &HttpClient, url: &str) -> Result<Vec<u8>, String> {
    let resp = client.get(url).await.map_err(|e| e.to_string())?;
    resp.bytes().await.map_err(|e| e.to_string())
}

/// A resolver that answers every name with `addrs` (each with the asked port) after a short
/// pause, or with "not found" when `addrs` is empty, and counts the look-ups.
pub struct CountingResolver {
    pub addrs: Vec<IpAddr>,
    pub lookups: AtomicUsize,
}

impl CountingResolver {
    pub fn new(addrs: &[&str]) -> Arc<CountingResolver> {
        Arc::new(CountingResolver {
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            lookups: AtomicUsize::new(0),
        })
    }

    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl Resolver for CountingResolver {
    fn lookup(&self, _host: &str, port: u16) -> LookupFuture {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let addrs: Vec<SocketAddr> = self
            .addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        Box::pin(async move {
            Timer::after(Duration::from_millis(50)).await;
            if addrs.is_empty() {
                Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "Name or service not known",
                ))
            } else {
                Ok(addrs)
            }
        })
    }
}
