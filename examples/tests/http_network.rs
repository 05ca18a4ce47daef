//! How the client reaches a server: HTTP/2 multiplexing, forced HTTP/1.1, one name look-up per
//! origin, every address tried, a name that does not exist, refused connections, preconnect,
//! `Retry-After` and credentials. Loopback only; every test runs under a timeout.

mod http_support;

use std::sync::Arc;
use std::time::Duration;

use http_support::{CountingResolver, builder, fetch, files, https_registry, path, registry, run};
use lockfetch::http::{Credentials, HttpClient, HttpErrorKind, TlsSettings};
use lockfetch::registry::{Fault, MAX_CONCURRENT_STREAMS, RegistryOptions, Shaping};
use smol::Timer;

/// GETs every URL at once and holds every response (head read, body not) until all have their
/// heads, so that all the requests are in flight together — a request keeps its HTTP/2 stream
/// or its HTTP/1.1 connection until its body is read — however slowly a loaded machine issues
/// them; then reads the bodies. Their lengths, or the first error's text.
async fn fetch_all(client: &HttpClient, urls: Vec<String>) -> Result<Vec<usize>, String> {
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let client = client.clone();
            smol::spawn(async move { client.get(&url).await.map_err(|e| e.to_string()) })
        })
        .collect();
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await?);
    }
    let mut out = Vec::new();
    for response in responses {
        out.push(response.bytes().await.map_err(|e| e.to_string())?.len());
    }
    Ok(out)
}

fn trusting(ca: &lockfetch::registry::TestCa) -> TlsSettings {
    TlsSettings {
        extra_ca_pem: vec![ca.ca_pem().to_string()],
        ..TlsSettings::default()
    }
}

#[test]
fn http2_multiplexes_concurrent_requests_up_to_the_servers_stream_limit() {
    let limit = MAX_CONCURRENT_STREAMS as usize;
    for (n, connections) in [(limit, 1), (limit + 50, 2)] {
        let (registry, ca) = https_registry(n, true);
        let client = builder().tls(trusting(&ca)).build();
        let urls = (0..n)
            .map(|i| format!("{}{}", registry.url(), path(i)))
            .collect();
        let sizes = run(30, fetch_all(&client, urls)).unwrap();
        assert_eq!(sizes, vec![4096; n]);
        let stats = registry.stats();
        assert_eq!(stats.connections, connections, "{n} requests: {stats:?}");
        assert_eq!((stats.requests, stats.duplicate_requests), (n as u64, 0));
        let resp = run(10, client.get(&format!("{}{}", registry.url(), path(0)))).unwrap();
        assert!(resp.is_http2());
        assert_eq!(registry.stats().connections, connections);
    }
}

#[test]
fn http1_only_uses_a_pool_of_http1_connections() {
    let (registry, ca) = https_registry(32, true);
    let client = builder().tls(trusting(&ca)).http1_only(true).build();
    let urls = (0..32)
        .map(|i| format!("{}{}", registry.url(), path(i)))
        .collect();
    run(30, fetch_all(&client, urls)).unwrap();
    let connections = registry.stats().connections;
    assert!(connections > 1, "{connections} connection(s)");
    assert!(client.idle_connections() as u64 <= connections);
    let resp = run(10, client.get(&format!("{}{}", registry.url(), path(0)))).unwrap();
    assert!(!resp.is_http2());
    // The idle connections were reused.
    assert_eq!(registry.stats().connections, connections);
}

#[test]
fn concurrent_connects_share_one_name_lookup_and_try_every_address() {
    let registry = registry(16, 1024, Shaping::none(), RegistryOptions::default());
    let port = registry.addr().port();
    // Nothing listens on 127.0.0.2 (the registry is bound to 127.0.0.1): refused, then the next.
    let resolver = CountingResolver::new(&["127.0.0.2", "127.0.0.1"]);
    let client = builder().resolver(resolver.clone()).build();
    let urls = (0..16)
        .map(|i| format!("http://registry.localhost:{port}{}", path(i)))
        .collect();
    run(30, fetch_all(&client, urls)).unwrap();
    assert!(registry.stats().connections > 1);
    assert_eq!(resolver.lookups(), 1);

    // A cached answer serves later connections; a new client looks up again.
    run(
        10,
        fetch(
            &client,
            &format!("http://registry.localhost:{port}{}", path(0)),
        ),
    )
    .unwrap();
    assert_eq!(resolver.lookups(), 1);
    let other = builder()
        .resolver(resolver.clone())
        .dns_ttl(Duration::ZERO)
        .build();
    run(
        10,
        fetch(
            &other,
            &format!("http://registry.localhost:{port}{}", path(0)),
        ),
    )
    .unwrap();
    run(
        10,
        fetch(
            &other,
            &format!("http://registry.localhost:{port}{}", path(1)),
        ),
    )
    .unwrap();
    assert_eq!(
        resolver.lookups(),
        2,
        "the idle connection needs no look-up"
    );
}

#[test]
fn a_name_that_does_not_exist_fails_every_request_at_once_and_permanently() {
    let resolver = CountingResolver::new(&[]);
    let client = builder().resolver(resolver.clone()).build();
    let urls: Vec<String> = (0..8)
        .map(|i| format!("https://no-such-registry.test{}", path(i)))
        .collect();
    let errors = run(20, async {
        let mut errors = Vec::new();
        for url in &urls {
            errors.push(client.get(url).await.unwrap_err());
        }
        errors
    });
    let text = errors[0].to_string();
    assert!(
        text.contains("no such host no-such-registry.test"),
        "{text}"
    );
    assert!(text.contains("--registry"), "{text}");
    for e in &errors {
        assert!(!e.is_transient());
        assert_eq!(e.to_string(), text);
    }
    assert_eq!(resolver.lookups(), 1);
}

#[test]
fn refused_connections_trip_the_breaker_after_a_few() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = builder().build();
    let url = format!("http://127.0.0.1:{port}/x.tgz");
    let errors = run(20, async {
        let mut errors = Vec::new();
        for _ in 0..6 {
            errors.push(client.get(&url).await.unwrap_err());
        }
        errors
    });
    assert!(matches!(errors[0].kind(), HttpErrorKind::Connect(_)));
    assert!(errors[0].is_transient());
    let last = errors.last().unwrap();
    assert!(
        matches!(last.kind(), HttpErrorKind::Unreachable(_)),
        "{last}"
    );
    assert!(!last.is_transient());
    assert!(last.to_string().contains("refused"), "{last}");
    let tripped: Vec<_> = errors.iter().filter(|e| !e.is_transient()).collect();
    assert!(tripped.len() >= 3, "tripped after the first few");
    assert!(tripped.iter().all(|e| e.to_string() == last.to_string()));
}

#[test]
fn preconnect_opens_the_connection_before_the_first_request() {
    let (registry, ca) = https_registry(10, true);
    let client = builder().tls(trusting(&ca)).build();
    client.preconnect(&registry.url());
    run(20, async {
        while registry.stats().connections == 0 {
            Timer::after(Duration::from_millis(5)).await;
        }
    });
    assert_eq!(registry.stats().requests, 0);
    let urls = (0..10)
        .map(|i| format!("{}{}", registry.url(), path(i)))
        .collect();
    run(20, fetch_all(&client, urls)).unwrap();
    assert_eq!(registry.stats().connections, 1);
}

#[test]
fn retry_after_is_parsed_on_429_and_503_over_both_protocols() {
    let (https, ca) = https_registry(2, true);
    let plain = registry(2, 64, Shaping::none(), RegistryOptions::default());
    let client = builder().tls(trusting(&ca)).build();
    for registry in [&https, &plain] {
        registry.inject(
            &path(0),
            Fault::RetryAfter {
                status: 429,
                seconds: 7,
            },
        );
        registry.inject(&path(1), Fault::Status(503));
        run(20, async {
            let err = client
                .get(&format!("{}{}", registry.url(), path(0)))
                .await
                .unwrap_err();
            assert_eq!(err.status(), Some(429));
            assert!(err.is_transient());
            assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
            assert!(err.to_string().contains("Retry-After: 7 s"), "{err}");
            let err = client
                .get(&format!("{}{}", registry.url(), path(1)))
                .await
                .unwrap_err();
            assert_eq!((err.status(), err.retry_after()), (Some(503), None));
        });
    }
}

/// A token for the registry's own URLs only.
struct Token(String);

impl Credentials for Token {
    fn authorization(&self, url: &str) -> Option<String> {
        url.starts_with(&self.0)
            .then(|| "Bearer s3cret".to_string())
    }
}

#[test]
fn credentials_are_asked_per_request_url_over_both_protocols() {
    let ca = lockfetch::registry::TestCa::generate().unwrap();
    for tls in [Some(ca.clone()), None] {
        let registry = lockfetch::registry::MockRegistry::with_options(
            files(2, 64),
            Shaping::none(),
            Default::default(),
            RegistryOptions {
                http2: tls.is_some(),
                tls,
                authorization: Some("Bearer s3cret".into()),
            },
        )
        .unwrap();
        let url = |i| format!("{}{}", registry.url(), path(i));
        let with = builder()
            .tls(trusting(&ca))
            .credentials(Arc::new(Token(registry.url())))
            .build();
        run(20, fetch(&with, &url(0))).unwrap();
        let elsewhere = builder()
            .tls(trusting(&ca))
            .credentials(Arc::new(Token("https://elsewhere.test".into())))
            .build();
        let err = run(20, elsewhere.get(&url(1))).unwrap_err();
        assert_eq!(err.status(), Some(401));
        let counts = registry.auth_counts();
        assert_eq!((counts.accepted, counts.rejected), (1, 1));
    }
}

#[test]
fn body_faults_reach_the_client_over_http2() {
    let (registry, ca) = https_registry(4, true);
    registry.inject(&path(0), Fault::Reset { after: 1000 });
    registry.inject(&path(1), Fault::Truncate { after: 1000 });
    registry.inject(&path(2), Fault::Corrupt);
    let client = builder().tls(trusting(&ca)).build();
    let url = |i| format!("{}{}", registry.url(), path(i));
    run(20, async {
        for i in 0..2 {
            // The stream may break before or after its head reached the client.
            let err = match client.get(&url(i)).await {
                Ok(resp) => resp.bytes().await.unwrap_err(),
                Err(e) => e,
            };
            assert!(err.is_transient(), "{err}");
        }
        let corrupt = fetch(&client, &url(2)).await.unwrap();
        let good = fetch(&client, &url(3)).await.unwrap();
        assert_eq!(corrupt.len(), 4096);
        assert_ne!(corrupt, files(3, 4096)[2].1.to_vec());
        assert_eq!(good, files(4, 4096)[3].1.to_vec());
    });
    // The broken streams did not break the connection.
    assert_eq!(registry.stats().connections, 1);
}
