//! The mock registry: bytes, counts, faults, shaping, shutdown. Loopback only; every test runs
//! under a timeout.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockfetch::generate::{GenConfig, Universe, sri_sha512};
use lockfetch::registry::{ANY_PATH, Fault, MockRegistry, Shaping};
use smol::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use smol::net::TcpStream;
use smol::{Timer, future};

/// Run `f` to completion, failing the test if it takes longer than `secs`.
fn run<T>(secs: u64, f: impl Future<Output = T>) -> T {
    smol::block_on(future::or(f, async {
        Timer::after(Duration::from_secs(secs)).await;
        panic!("test timed out after {secs} s");
    }))
}

/// One parsed response; `body` is what arrived before the end or the error.
#[derive(Debug)]
struct Resp {
    status: u16,
    length: usize,
    body: Vec<u8>,
    error: Option<io::ErrorKind>,
}

/// A minimal keep-alive HTTP/1.1 connection for the tests.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Conn {
            reader: BufReader::new(stream.clone()),
            writer: stream,
        }
    }

    async fn get(&mut self, path: &str) -> Resp {
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        self.writer.write_all(req.as_bytes()).await.expect("write");
        let mut status = 0;
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.reader.read_line(&mut line).await.expect("head");
            assert!(n > 0, "connection closed before the head ended");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
                status = rest[..3].parse().unwrap();
            } else if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        let mut got = 0;
        let mut error = None;
        while got < length {
            match self.reader.read(&mut body[got..]).await {
                Ok(0) => {
                    error = Some(io::ErrorKind::UnexpectedEof);
                    break;
                }
                Ok(n) => got += n,
                Err(e) => {
                    error = Some(e.kind());
                    break;
                }
            }
        }
        body.truncate(got);
        Resp {
            status,
            length,
            body,
            error,
        }
    }
}

async fn get(addr: SocketAddr, path: &str) -> Resp {
    Conn::open(addr).await.get(path).await
}

fn small_universe() -> Universe {
    Universe::generate(&GenConfig {
        packages: 40,
        seed: 7,
        ..GenConfig::default()
    })
}

#[test]
fn serves_the_generated_bytes_and_counts_requests() {
    let universe = small_universe();
    let registry = MockRegistry::for_universe(&universe, Shaping::none()).unwrap();
    run(20, async {
        let mut conn = Conn::open(registry.addr()).await;
        for p in &universe.packages {
            let resp = conn.get(&p.tarball_path()).await;
            assert_eq!(resp.status, 200, "{}", p.key());
            assert_eq!(resp.error, None);
            assert_eq!(resp.length as u64, p.size());
            assert_eq!(sri_sha512(&resp.body), p.integrity, "{}", p.key());
        }
        let first = universe.packages[0].tarball_path();
        assert_eq!(conn.get(&first).await.status, 200);
        assert_eq!(conn.get("/no-such/-/no-such-1.0.0.tgz").await.status, 404);
    });
    let stats = registry.stats();
    let n = universe.packages.len() as u64;
    assert_eq!(stats.requests, n + 2);
    assert_eq!(stats.paths, n + 1);
    assert_eq!(stats.duplicate_requests, 1);
    assert_eq!(stats.connections, 1, "keep-alive reuses the connection");
    assert_eq!(
        stats.bytes_sent,
        universe.total_bytes() + universe.packages[0].size()
    );
    assert_eq!(
        registry.requests_for(&universe.packages[0].tarball_path()),
        2
    );
    assert_eq!(
        registry.duplicated_paths(),
        vec![(universe.packages[0].tarball_path(), 2)]
    );
    registry.reset_counts();
    assert_eq!(registry.stats().requests, 0);
    assert_eq!(
        registry.requests_for(&universe.packages[0].tarball_path()),
        0
    );
}

#[test]
fn scoped_paths_and_escapes() {
    let registry = MockRegistry::start(
        [(
            "/@scope/pkg/-/pkg-1.2.3.tgz".to_string(),
            Arc::<[u8]>::from(&b"scoped"[..]),
        )],
        Shaping::none(),
    )
    .unwrap();
    assert_eq!(
        registry.tarball_url("@scope/pkg", "1.2.3"),
        format!("{}/@scope/pkg/-/pkg-1.2.3.tgz", registry.url())
    );
    run(10, async {
        let addr = registry.addr();
        assert_eq!(
            get(addr, "/@scope/pkg/-/pkg-1.2.3.tgz").await.body,
            b"scoped"
        );
        assert_eq!(
            get(addr, "/%40scope%2fpkg/-/pkg-1.2.3.tgz?x=1").await.body,
            b"scoped"
        );
    });
    assert_eq!(registry.requests_for("/@scope/pkg/-/pkg-1.2.3.tgz"), 2);
}

fn one_file(len: usize) -> (MockRegistry, &'static str, Vec<u8>) {
    let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let path = "/a/-/a-1.0.0.tgz";
    let registry = MockRegistry::start(
        [(path.to_string(), Arc::<[u8]>::from(bytes.clone()))],
        Shaping::none(),
    )
    .unwrap();
    (registry, path, bytes)
}

#[test]
fn status_faults_for_the_next_n_requests() {
    let (registry, path, bytes) = one_file(10_000);
    registry.inject_times(path, Fault::Status(503), 2);
    run(10, async {
        let mut conn = Conn::open(registry.addr()).await;
        assert_eq!(conn.get(path).await.status, 503);
        assert_eq!(conn.get(path).await.status, 503);
        let ok = conn.get(path).await;
        assert_eq!((ok.status, ok.body == bytes), (200, true));
        registry.inject(ANY_PATH, Fault::Status(500));
        assert_eq!(conn.get(path).await.status, 500);
        assert_eq!(conn.get("/other").await.status, 500);
        registry.inject(path, Fault::Status(404));
        assert_eq!(conn.get(path).await.status, 404, "a path's own fault wins");
        registry.clear_faults();
        assert_eq!(conn.get(path).await.status, 200);
    });
    assert_eq!(registry.stats().faults, 5);
}

#[test]
fn reset_mid_body() {
    let (registry, path, bytes) = one_file(200_000);
    registry.inject_times(path, Fault::Reset { after: 50_000 }, 1);
    run(10, async {
        let resp = get(registry.addr(), path).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.length, bytes.len());
        assert!(resp.body.len() <= 50_000, "got {} bytes", resp.body.len());
        assert!(
            matches!(
                resp.error,
                Some(io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof)
            ),
            "{:?}",
            resp.error
        );
        let again = get(registry.addr(), path).await;
        assert_eq!(again.body, bytes, "the fault was for one request only");
    });
}

#[test]
fn truncated_body_keeps_the_content_length() {
    let (registry, path, bytes) = one_file(100_000);
    registry.inject_times(path, Fault::Truncate { after: 30_000 }, 1);
    run(10, async {
        let resp = get(registry.addr(), path).await;
        assert_eq!(resp.length, bytes.len());
        assert_eq!(resp.body.len(), 30_000);
        assert_eq!(resp.body[..], bytes[..30_000]);
        assert_eq!(resp.error, Some(io::ErrorKind::UnexpectedEof));
    });
}

#[test]
fn corrupt_body_has_the_same_length_and_other_bytes() {
    let (registry, path, bytes) = one_file(100_000);
    registry.inject_times(path, Fault::Corrupt, 1);
    run(10, async {
        let resp = get(registry.addr(), path).await;
        assert_eq!(resp.error, None);
        assert_eq!(resp.body.len(), bytes.len());
        assert_ne!(resp.body, bytes);
        assert_ne!(sri_sha512(&resp.body), sri_sha512(&bytes));
    });
}

#[test]
fn stall_forever_and_for_a_while() {
    let (registry, path, bytes) = one_file(100_000);
    registry.inject_times(
        path,
        Fault::Stall {
            after: 1000,
            duration: None,
        },
        1,
    );
    run(10, async {
        let stalled = future::or(async { Some(get(registry.addr(), path).await) }, async {
            Timer::after(Duration::from_millis(300)).await;
            None
        })
        .await;
        assert!(stalled.is_none(), "a stalled response must not finish");
        registry.inject_times(
            path,
            Fault::Stall {
                after: 1000,
                duration: Some(Duration::from_millis(200)),
            },
            1,
        );
        let start = Instant::now();
        let resp = get(registry.addr(), path).await;
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert_eq!(resp.body, bytes);
        registry.inject_times(path, Fault::Delay(Duration::from_millis(150)), 1);
        let start = Instant::now();
        assert_eq!(get(registry.addr(), path).await.body, bytes);
        assert!(start.elapsed() >= Duration::from_millis(150));
    });
    assert!(
        registry.stats().active_responses >= 1,
        "the stalled one is still active"
    );
}

#[test]
fn latency_applies_per_request() {
    let (registry, path, _) = one_file(1000);
    // The handshake's latency is far longer than a request's, so that "the second request is
    // quicker" holds however much a loaded machine delays either request.
    registry.set_shaping(Shaping {
        latency: Duration::from_millis(40),
        connect_latency: Duration::from_millis(500),
        ..Shaping::none()
    });
    run(10, async {
        let start = Instant::now();
        let mut conn = Conn::open(registry.addr()).await;
        conn.get(path).await;
        let first = start.elapsed();
        let start = Instant::now();
        conn.get(path).await;
        let second = start.elapsed();
        assert!(
            first >= Duration::from_millis(540),
            "{first:?}: handshake + rtt"
        );
        assert!(second >= Duration::from_millis(40), "{second:?}");
        assert!(second < first, "a reused connection skips the handshake");
    });
    assert_eq!(registry.stats().connections, 1, "one connection, reused");
}

#[test]
fn bandwidth_cap_is_shared_by_all_connections() {
    // 8 Mbit/s = 1 MB/s shared; 4 concurrent 200 kB responses = 0.8 s at the cap.
    let size = 200_000;
    let files: Vec<(String, Arc<[u8]>)> = (0..4)
        .map(|i| {
            (
                format!("/f{i}/-/f{i}-1.0.0.tgz"),
                Arc::from(vec![i as u8; size]),
            )
        })
        .collect();
    let paths: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    let registry = MockRegistry::start(files, Shaping::none()).unwrap();
    let fetch_all = |registry: &MockRegistry| {
        let addr = registry.addr();
        let paths = paths.clone();
        async move {
            let start = Instant::now();
            let tasks: Vec<_> = paths
                .into_iter()
                .map(|p| smol::spawn(async move { get(addr, &p).await.body.len() }))
                .collect();
            for t in tasks {
                assert_eq!(t.await, size);
            }
            start.elapsed()
        }
    };
    run(30, async {
        let free = fetch_all(&registry).await;
        registry.set_shaping(Shaping {
            bandwidth: Some(1_000_000),
            ..Shaping::none()
        });
        let capped = fetch_all(&registry).await;
        let ideal = Duration::from_millis(800);
        assert!(
            capped >= ideal.mul_f64(0.85),
            "capped run too fast: {capped:?}"
        );
        assert!(capped <= ideal * 3, "capped run far too slow: {capped:?}");
        assert!(capped > free * 2, "cap {capped:?} vs free {free:?}");
    });
}

#[test]
fn drop_shuts_the_server_down() {
    let (registry, path, _) = one_file(1000);
    let addr = registry.addr();
    registry.inject(
        path,
        Fault::Stall {
            after: 10,
            duration: None,
        },
    );
    run(10, async {
        let mut conn = Conn::open(addr).await;
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        conn.writer.write_all(req.as_bytes()).await.unwrap();
        Timer::after(Duration::from_millis(100)).await;
        drop(registry);
        let mut rest = Vec::new();
        // The stalled response's connection is closed: the read ends instead of hanging.
        let _ = conn.reader.read_to_end(&mut rest).await;
        assert!(TcpStream::connect(addr).await.is_err(), "still listening");
    });
}
