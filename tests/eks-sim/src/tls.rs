//! The simulator's own certificate authority. EKS hands its cluster CA out in DescribeCluster's
//! `certificateAuthority.data`; the simulator does the same, so clients must trust exactly this CA.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, Result};

/// A CA and a loopback server certificate it signed.
pub struct Authority {
    /// PEM of the CA certificate (what clients must trust).
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
    ca_der: rustls::pki_types::CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate the authority issued, with its key: for a real server of the test cluster
/// (kube-apiserver's serving certificate) or a host the simulator answers for through its proxy.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub server: Arc<rustls::ServerConfig>,
}

impl Authority {
    /// Makes a fresh CA named `name` and a server certificate for 127.0.0.1 and localhost.
    pub fn new(name: &str) -> Result<Self> {
        let tls = |e: rcgen::Error| Error::Tls(e.to_string());
        let ca_key = KeyPair::generate().map_err(tls)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
        ca_params.distinguished_name.push(DnType::CommonName, name);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(tls)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let ca_der = ca_cert.der().clone();
        let server = issue(
            &issuer,
            &ca_der,
            &["127.0.0.1", "localhost"],
            "kube-apiserver",
        )?
        .server;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            server,
            ca_der,
            issuer,
        })
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses).
    pub fn issue(&self, names: &[&str], common_name: &str) -> Result<Issued> {
        issue(&self.issuer, &self.ca_der, names, common_name)
    }

    /// The rustls server configuration to accept connections with.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }
}

fn issue(
    issuer: &Issuer<'static, KeyPair>,
    ca_der: &rustls::pki_types::CertificateDer<'static>,
    names: &[&str],
    common_name: &str,
) -> Result<Issued> {
    let tls = |e: rcgen::Error| Error::Tls(e.to_string());
    let leaf_key = KeyPair::generate().map_err(tls)?;
    let mut leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .map_err(tls)?;
    leaf.distinguished_name
        .push(DnType::CommonName, common_name);
    let leaf_cert = leaf.signed_by(&leaf_key, issuer).map_err(tls)?;
    let chain = vec![leaf_cert.der().clone(), ca_der.clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| Error::Tls(e.to_string()))?;
    // HTTP/1.1 only: SigV4 signs the Host header, which HTTP/2 replaces with :authority.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Issued {
        cert_pem: leaf_cert.pem(),
        key_pem: leaf_key.serialize_pem(),
        server: Arc::new(server),
    })
}
