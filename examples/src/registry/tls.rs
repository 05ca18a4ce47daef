//! A certificate authority made on the spot, and the server certificate it signs, for the mock
//! registry's HTTPS (and anything else a test wants to trust or distrust).

use std::sync::Arc;

use futures_rustls::TlsAcceptor;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use futures_rustls::rustls::{self, ServerConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// Names the server certificate is valid for.
pub const TEST_SERVER_NAMES: [&str; 3] = ["localhost", "registry.localhost", "127.0.0.1"];

/// A fresh CA and a server certificate it signed for [`TEST_SERVER_NAMES`].
///
/// Nothing trusts the CA unless told to: hand [`TestCa::ca_pem`] to a client (a CA file, PEM
/// text, `SSL_CERT_FILE`) to make the mock registry trusted.
#[derive(Debug, Clone)]
pub struct TestCa {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivatePkcs8KeyDer<'static>>,
}

impl TestCa {
    /// Generates the CA (its name says so) and the server certificate.
    pub fn generate() -> Result<TestCa, rcgen::Error> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "lockfetch mock registry test CA");
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let names: Vec<String> = TEST_SERVER_NAMES.iter().map(|s| s.to_string()).collect();
        let mut server = CertificateParams::new(names)?;
        server
            .distinguished_name
            .push(DnType::CommonName, "lockfetch mock registry");
        let server_key = KeyPair::generate()?;
        let server_cert = server.signed_by(&server_key, &issuer)?;
        Ok(TestCa {
            ca_pem: ca_cert.pem(),
            chain: vec![server_cert.der().clone(), ca_cert.der().clone()],
            key: Arc::new(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A TLS acceptor presenting the server certificate, offering `h2` (when `http2`) and
    /// `http/1.1` by ALPN.
    pub(crate) fn acceptor(&self, http2: bool) -> Result<TlsAcceptor, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                self.chain.clone(),
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )?;
        config.alpn_protocols = if http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
