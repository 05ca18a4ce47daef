//! `CONNECT` proxies: from the settings and from the environment, `NO_PROXY`, proxy
//! credentials (sent, never printed). Loopback only; every test runs under a timeout.

mod http_support;

use http_support::{builder, env, fetch, https_registry, path, registry, run};
use lockfetch::http::{HttpErrorKind, ProxySettings, TlsSettings};
use lockfetch::registry::{MockProxy, RegistryOptions, Shaping};

fn trusting(ca: &lockfetch::registry::TestCa) -> TlsSettings {
    TlsSettings {
        extra_ca_pem: vec![ca.ca_pem().to_string()],
        ..TlsSettings::default()
    }
}

#[test]
fn https_through_a_proxy_with_credentials() {
    let (registry, ca) = https_registry(4, true);
    let proxy = MockProxy::start(Some(("alice", "p@ss:word"))).unwrap();
    let with_credentials = format!(
        "http://alice:p%40ss%3Aword@{}",
        proxy.url().trim_start_matches("http://")
    );
    let client = builder()
        .tls(trusting(&ca))
        .proxy(ProxySettings {
            https_proxy: Some(with_credentials),
            ..ProxySettings::default()
        })
        .build();
    for i in 0..4 {
        run(
            20,
            fetch(&client, &format!("{}{}", registry.url(), path(i))),
        )
        .unwrap();
    }
    // One tunnel carries the HTTP/2 connection to the registry.
    assert_eq!(proxy.stats().tunnels, 1);
    assert_eq!(proxy.targets(), vec![registry.addr().to_string()]);
    assert_eq!(registry.stats().connections, 1);
}

#[test]
fn wrong_proxy_credentials_fail_once_clearly_without_printing_them() {
    let (registry, ca) = https_registry(3, true);
    let proxy = MockProxy::start(Some(("alice", "right"))).unwrap();
    let wrong = format!(
        "http://alice:wr0ng@{}",
        proxy.url().trim_start_matches("http://")
    );
    let client = builder()
        .tls(trusting(&ca))
        .proxy(ProxySettings {
            https_proxy: Some(wrong),
            ..ProxySettings::default()
        })
        .build();
    let errors: Vec<_> = (0..3)
        .map(|i| run(20, client.get(&format!("{}{}", registry.url(), path(i)))).unwrap_err())
        .collect();
    let text = errors[0].to_string();
    assert!(matches!(errors[0].kind(), HttpErrorKind::Unreachable(_)));
    assert!(text.contains("requires authentication (407)"), "{text}");
    assert!(text.contains(&proxy.url()), "{text}");
    assert!(!text.contains("wr0ng") && !text.contains("alice"), "{text}");
    assert!(errors.iter().all(|e| e.to_string() == text));
    assert_eq!(proxy.stats().unauthorized, 1);
    assert_eq!(registry.stats().connections, 0);
}

#[test]
fn plain_http_is_tunnelled_too_and_no_proxy_bypasses() {
    let registry = registry(2, 256, Shaping::none(), RegistryOptions::default());
    let proxy = MockProxy::start(None).unwrap();
    let via = |no_proxy: Option<&str>| {
        builder()
            .proxy(ProxySettings {
                http_proxy: Some(proxy.url()),
                no_proxy: no_proxy.map(str::to_string),
                ..ProxySettings::default()
            })
            .build()
    };
    run(
        20,
        fetch(&via(None), &format!("{}{}", registry.url(), path(0))),
    )
    .unwrap();
    assert_eq!(proxy.stats().tunnels, 1);

    let port = registry.addr().port();
    for no_proxy in ["127.0.0.1", "*", &format!("localhost,127.0.0.1:{port}")] {
        let direct = via(Some(no_proxy));
        run(
            20,
            fetch(&direct, &format!("{}{}", registry.url(), path(1))),
        )
        .unwrap();
    }
    assert_eq!(proxy.stats().tunnels, 1, "NO_PROXY hosts go direct");

    // NO_PROXY from the environment applies to a proxy from the settings.
    let direct = builder()
        .env(env(&[("NO_PROXY", "127.0.0.1")]))
        .proxy(ProxySettings {
            http_proxy: Some(proxy.url()),
            ..ProxySettings::default()
        })
        .build();
    run(
        20,
        fetch(&direct, &format!("{}{}", registry.url(), path(1))),
    )
    .unwrap();
    assert_eq!(proxy.stats().tunnels, 1);
}

#[test]
fn a_proxy_from_the_environment_is_not_used_for_loopback_hosts() {
    // The mock registry and the demo live on loopback, whatever proxy the user has set.
    let registry = registry(1, 256, Shaping::none(), RegistryOptions::default());
    let proxy = MockProxy::start(None).unwrap();
    let client = builder()
        .env(env(&[
            ("HTTP_PROXY", &proxy.url()),
            ("HTTPS_PROXY", &proxy.url()),
        ]))
        .build();
    run(
        20,
        fetch(&client, &format!("{}{}", registry.url(), path(0))),
    )
    .unwrap();
    assert_eq!(proxy.stats().tunnels, 0);
}

#[test]
fn an_unusable_proxy_url_is_a_clear_error() {
    let registry = registry(1, 16, Shaping::none(), RegistryOptions::default());
    let client = builder()
        .env(env(&[("HTTP_PROXY", "socks5://127.0.0.1:1080")]))
        .build();
    let err = run(20, client.get(&format!("{}{}", registry.url(), path(0)))).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("socks5") && text.contains("not supported"),
        "{text}"
    );
    assert!(!err.is_transient());
}
