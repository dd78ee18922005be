//! Mutual TLS between the nodes: each side presents its node certificate and
//! accepts only certificates issued by the pair's certificate authority. The
//! ring crypto provider is chosen explicitly.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "{what}: no PEM certificate found; expected a file beginning with -----BEGIN CERTIFICATE-----"
    )]
    NoCertificate { what: String },
    #[error("{what}: {detail}")]
    Pem { what: String, detail: String },
    #[error("TLS set-up failed: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("the pair's CA certificate is not usable as a trust anchor: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("{0:?} is not a valid peer name for TLS")]
    ServerName(String),
}

/// PEM text of the pair's CA and this node's certificate and key.
#[derive(Debug, Clone)]
pub struct Identity {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: what.into(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { what: what.into() });
    }
    Ok(certs)
}

fn key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::Pem {
        what: "node key".into(),
        detail: e.to_string(),
    })
}

fn roots(ca_pem: &str) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certs(ca_pem, "pair CA certificate")? {
        store.add(cert)?;
    }
    Ok(Arc::new(store))
}

/// Accepts connections only from holders of a pair certificate.
pub fn server_config(id: &Identity) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(roots(&id.ca_pem)?, provider()).build()?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&id.cert_pem, "node certificate")?, key(&id.key_pem)?)?;
    Ok(Arc::new(config))
}

/// Serves the HTTP API over TLS to any client (no client certificate):
/// the node's pair certificate or an operator's, with its chain.
pub fn api_server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs(cert_pem, "API certificate")?, key(key_pem)?)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Connects to the peer, trusting only the pair's CA, presenting this node's
/// certificate.
pub fn client_config(id: &Identity) -> Result<Arc<ClientConfig>, TlsError> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(&id.ca_pem)?, provider())
        .build()
        .map_err(TlsError::Verifier)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(certs(&id.cert_pem, "node certificate")?, key(&id.key_pem)?)?;
    Ok(Arc::new(config))
}

/// The TLS name of a peer node.
pub fn peer_name(node: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(node.to_string()).map_err(|_| TlsError::ServerName(node.to_string()))
}
