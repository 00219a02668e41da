//! The Kubernetes edge of the live adapter: GET, PUT and POST of aws-auth, errors classified for
//! the conflict loop in `aws_auth_store`. The client is built in memory from DescribeCluster's
//! endpoint and CA with an EKS bearer token: no kubeconfig file, and TLS is always verified.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::Api;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::aws_auth::{CONFIG_MAP_NAME, NAMESPACE};
use crate::cloud::{ClusterInfo, StoreError};
use crate::error::{Error, Result};

/// Errors worth another try: the API server was busy or the connection broke.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// A Kubernetes client for one cluster.
pub struct ClusterApi {
    api: Api<ConfigMap>,
    cluster: String,
    identity: String,
}

impl ClusterApi {
    /// Builds the client from DescribeCluster's answer and a bearer token of `identity`.
    pub fn new(info: &ClusterInfo, token: String, identity: String) -> Result<ClusterApi> {
        let cluster = info.name.as_str();
        let url: http::Uri = info
            .endpoint
            .parse()
            .map_err(|_| Error::Setup(format!("cluster {cluster} has no usable endpoint")))?;
        let mut roots = Vec::new();
        for c in CertificateDer::pem_slice_iter(&info.ca_pem) {
            roots.push(
                c.map_err(|e| Error::Setup(format!("cluster {cluster} CA: {e}")))?
                    .to_vec(),
            );
        }
        if roots.is_empty() {
            return Err(Error::Setup(format!(
                "cluster {cluster} has no certificate authority"
            )));
        }
        let mut config = kube::Config::new(url);
        config.root_cert = Some(roots);
        config.accept_invalid_certs = false;
        config.connect_timeout = Some(Duration::from_secs(5));
        config.read_timeout = Some(Duration::from_secs(15));
        config.write_timeout = Some(Duration::from_secs(15));
        config.auth_info.token = Some(secrecy::SecretString::from(token));
        let client = kube::Client::try_from(config)
            .map_err(|e| Error::Setup(format!("Kubernetes client for {cluster}: {e}")))?;
        Ok(ClusterApi {
            api: Api::namespaced(client, NAMESPACE),
            cluster: cluster.to_string(),
            identity,
        })
    }

    fn error(&self, operation: &str, e: kube::Error) -> Error {
        match &e {
            kube::Error::Api(s) if s.code == 401 || s.code == 403 => Error::NotAuthorized {
                cluster: self.cluster.clone(),
                identity: self.identity.clone(),
                status: s.code,
            },
            kube::Error::Api(s) => Error::Kube {
                operation: operation.into(),
                message: format!("{} {}: {}", s.code, s.reason, s.message),
            },
            // A body that is neither the object nor a Kubernetes Status (an empty redirect, a
            // proxy's page): say what it is, not the deserializer's complaint.
            kube::Error::SerdeError(_) => Error::Kube {
                operation: operation.into(),
                message: "the API server's answer was not a Kubernetes object or Status (a redirect or a proxy in the way?)".into(),
            },
            other => Error::Kube {
                operation: operation.into(),
                message: other.to_string(),
            },
        }
    }

    /// The ConfigMap, or None when it does not exist.
    pub async fn read(&self) -> Result<Option<ConfigMap>, StoreError> {
        self.api
            .get_opt(CONFIG_MAP_NAME)
            .await
            .map_err(|e| self.classify("get aws-auth", e))
    }

    /// Replaces (guarded by its `resourceVersion`) or creates the ConfigMap; answers what was
    /// stored.
    pub async fn write(&self, object: &ConfigMap, create: bool) -> Result<ConfigMap, StoreError> {
        let pp = PostParams::default();
        if create {
            self.api
                .create(&pp, object)
                .await
                .map_err(|e| self.classify("create aws-auth", e))
        } else {
            self.api
                .replace(CONFIG_MAP_NAME, &pp, object)
                .await
                .map_err(|e| self.classify("replace aws-auth", e))
        }
    }

    fn classify(&self, operation: &str, e: kube::Error) -> StoreError {
        if conflict(&e) {
            StoreError::Conflict
        } else if transient(&e) {
            StoreError::Transient(self.error(operation, e))
        } else {
            StoreError::Failed(self.error(operation, e))
        }
    }
}
