//! Which certificates the client trusts: each source on its own, `verify: false`, and one clear
//! error for an untrusted certificate. Loopback only; every test runs under a timeout.

mod http_support;

use futures_lite::future;
use http_support::{builder, env, fetch, https_registry, path, run};
use lockfetch::http::{HttpClient, HttpErrorKind, TlsSettings};

/// A CA file on disk.
fn ca_file(pem: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), pem).unwrap();
    file
}

fn assert_fetches(client: &HttpClient, url: &str) {
    let body = run(20, fetch(client, url)).expect("fetch");
    assert_eq!(body.len(), 4096);
}

#[test]
fn untrusted_certificate_fails_every_request_with_one_message_after_one_handshake() {
    let (registry, _ca) = https_registry(20, true);
    let client = builder().build();
    let errors = run(20, async {
        let requests = (0..20).map(|i| {
            let client = client.clone();
            let url = format!("{}{}", registry.url(), path(i));
            smol::spawn(async move { client.get(&url).await.unwrap_err() })
        });
        let mut errors = Vec::new();
        for task in requests.collect::<Vec<_>>() {
            errors.push(task.await);
        }
        errors
    });
    let text = errors[0].to_string();
    assert!(text.contains("TLS certificate not trusted"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    for hint in ["--cafile", "SSL_CERT_FILE", "`cafile`"] {
        assert!(text.contains(hint), "no {hint} in: {text}");
    }
    for e in &errors {
        assert_eq!(e.to_string(), text, "one cause, one text");
        assert!(!e.is_transient());
        assert!(matches!(e.kind(), HttpErrorKind::Unreachable(_)));
    }
    // The first handshake failed; the other requests did not try again.
    assert_eq!(registry.stats().connections, 1);
    assert_eq!(registry.stats().requests, 0);
}

#[test]
fn extra_ca_file_is_trusted() {
    let (registry, ca) = https_registry(1, true);
    let file = ca_file(ca.ca_pem());
    let client = builder()
        .tls(TlsSettings {
            extra_ca_files: vec![file.path().to_path_buf()],
            ..TlsSettings::default()
        })
        .build();
    assert_fetches(&client, &format!("{}{}", registry.url(), path(0)));
}

#[test]
fn extra_ca_pem_is_trusted() {
    let (registry, ca) = https_registry(1, false);
    let client = builder()
        .tls(TlsSettings {
            extra_ca_pem: vec![ca.ca_pem().to_string()],
            ..TlsSettings::default()
        })
        .build();
    assert_fetches(&client, &format!("{}{}", registry.url(), path(0)));
}

#[test]
fn ssl_cert_file_and_node_extra_ca_certs_from_the_environment_are_trusted() {
    let (registry, ca) = https_registry(1, true);
    let file = ca_file(ca.ca_pem());
    let url = format!("{}{}", registry.url(), path(0));
    let name = file.path().to_str().unwrap();
    for var in ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"] {
        let client = builder().env(env(&[(var, name)])).build();
        assert_fetches(&client, &url);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("test-ca.pem"), ca.ca_pem()).unwrap();
    let dir = dir.path().to_str().unwrap();
    let client = builder()
        .env(env(&[("SSL_CERT_DIR", &format!("/nonexistent:{dir}"))]))
        .build();
    assert_fetches(&client, &url);
    // The same client without the variable does not trust the registry.
    let err = run(20, fetch(&builder().build(), &url)).map(|b| b.len());
    assert!(err.is_err_and(|e| e.contains("not trusted")));
}

#[test]
fn insecure_accepts_any_certificate() {
    let (registry, _ca) = https_registry(1, true);
    let client = builder()
        .tls(TlsSettings {
            verify: false,
            ..TlsSettings::default()
        })
        .build();
    assert_fetches(&client, &format!("{}{}", registry.url(), path(0)));
}

#[test]
fn unreadable_ca_file_is_named() {
    let (registry, _ca) = https_registry(2, true);
    let missing = std::env::temp_dir().join("lockfetch-no-such-ca.pem");
    let client = builder()
        .tls(TlsSettings {
            extra_ca_files: vec![missing.clone()],
            ..TlsSettings::default()
        })
        .build();
    let (a, b) = run(20, async {
        future::zip(
            fetch(&client, &format!("{}{}", registry.url(), path(0))),
            fetch(&client, &format!("{}{}", registry.url(), path(1))),
        )
        .await
    });
    let (a, b) = (a.unwrap_err(), b.unwrap_err());
    assert!(a.contains(&missing.display().to_string()), "{a}");
    assert!(a.contains("cannot read CA file"), "{a}");
    assert_eq!(a, b);
    assert_eq!(registry.stats().connections, 0);
}
