//! The pair's own certificate authority and node certificates (the seed's
//! server-group certificate), made with rcgen so a set-up needs no outside
//! tool.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

#[derive(Debug, thiserror::Error)]
#[error("cannot create the pair's certificates: {0}")]
pub struct PkiError(#[from] rcgen::Error);

/// PEM text of a certificate and its private key.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The pair's certificate authority with one certificate per node.
#[derive(Debug, Clone)]
pub struct PairPki {
    pub ca: Issued,
    pub nodes: Vec<(String, Issued)>,
}

/// Creates a certificate authority for the pair and a certificate for each
/// node name, valid both as a TLS server and as a TLS client. Each node
/// certificate names the node (and `localhost`) as DNS names, so a node
/// checks it is talking to its peer.
pub fn create_pair(pair_name: &str, node_names: &[&str]) -> Result<PairPki, PkiError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("duet pair {pair_name} CA"));
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let ca = Issued {
        cert_pem: ca_cert.pem(),
        key_pem: issuer.key().serialize_pem(),
    };
    let mut nodes = Vec::new();
    for name in node_names {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![name.to_string(), "localhost".to_string()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("duet node {name}"));
        params.distinguished_name = dn;
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &issuer)?;
        nodes.push((
            name.to_string(),
            Issued {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            },
        ));
    }
    Ok(PairPki { ca, nodes })
}
