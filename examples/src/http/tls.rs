//! The TLS client configuration: which certificates are trusted, ALPN, and the "accept anything"
//! verifier behind `verify: false`.

use std::io;
use std::path::Path;
use std::sync::Arc;

use futures_rustls::TlsConnector;
use futures_rustls::pki_types::pem::PemObject as _;
use futures_rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::crypto::WebPkiSupportedAlgorithms;
use futures_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::settings::{EnvLookup, TlsSettings};

/// What to tell a user whose registry presents a certificate nobody here trusts.
pub(crate) const UNTRUSTED_HINT: &str = "if a proxy or firewall inspects TLS, trust its CA \
     with --cafile PATH, SSL_CERT_FILE=PATH or npm's `cafile` setting (--insecure turns \
     verification off)";

/// Builds the connector: the trust roots of `settings` and the environment, ALPN `h2` and
/// `http/1.1` (only `http/1.1` when `http1_only`).
///
/// Fails, naming the file, when an extra CA file cannot be read or holds no certificate.
pub(crate) fn connector(
    settings: &TlsSettings,
    env: &EnvLookup,
    http1_only: bool,
) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = if settings.verify {
        builder
            .with_root_certificates(roots(settings, env)?)
            .with_no_client_auth()
    } else {
        eprintln!(
            "warning: TLS certificate verification is off (--insecure or strict-ssl=false): \
             any server can pose as the registry"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth()
    };
    config.alpn_protocols = if http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Bundled roots + platform store + `SSL_CERT_FILE`/`SSL_CERT_DIR`/`NODE_EXTRA_CA_CERTS` from
/// `env` + the extra files and PEM text of `settings`, each certificate once.
fn roots(settings: &TlsSettings, env: &EnvLookup) -> Result<RootCertStore, String> {
    let mut certs = Vec::new();
    // A machine without a store (or with unreadable entries) still has the bundled roots. With
    // SSL_CERT_FILE or SSL_CERT_DIR set in the process, this reads those instead of the store.
    certs.extend(rustls_native_certs::load_native_certs().certs);
    // The same variables from `env`, unless they are the process's (read just above).
    let fresh = |name: &str| env(name).filter(|v| std::env::var(name).ok().as_ref() != Some(v));
    if let Some(file) = fresh("SSL_CERT_FILE") {
        let found = rustls_native_certs::load_certs_from_paths(Some(Path::new(&file)), None);
        certs.extend(found.certs);
    }
    if let Some(dirs) = fresh("SSL_CERT_DIR") {
        for dir in dirs.split(':').filter(|d| !d.is_empty()) {
            let found = rustls_native_certs::load_certs_from_paths(None, Some(Path::new(dir)));
            certs.extend(found.certs);
        }
    }
    // Node reads this file in addition to its own roots, and only warns when it is missing.
    if let Some(file) = env("NODE_EXTRA_CA_CERTS") {
        certs.extend(pem_file(Path::new(&file)).unwrap_or_default());
    }
    for file in &settings.extra_ca_files {
        certs.extend(pem_file(file)?);
    }
    for (i, pem) in settings.extra_ca_pem.iter().enumerate() {
        let found = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("CA certificate #{} (npm `ca`): {e}", i + 1))?;
        if found.is_empty() {
            return Err(format!(
                "CA certificate #{} (npm `ca`) holds no PEM certificate",
                i + 1
            ));
        }
        certs.extend(found);
    }
    // Stores list each certificate under several names (hash links, .pem files, the bundle).
    let mut seen = std::collections::HashSet::new();
    certs.retain(|c| seen.insert(c.as_ref().to_vec()));
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    roots.add_parsable_certificates(certs);
    Ok(roots)
}

/// The certificates of a PEM file; an error naming the file when there is none.
fn pem_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CA file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

/// Whether a TLS handshake error is about the server's certificate (not trusted, expired,
/// wrong name): retrying cannot help, and the user has to change what is trusted.
pub(crate) fn is_certificate_error(err: &io::Error) -> bool {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)))
}

/// `verify: false`: any certificate chain is accepted; handshake signatures are still checked
/// (they prove the server holds the key of the certificate it sent).
#[derive(Debug)]
struct AcceptAny(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
