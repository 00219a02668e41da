//! The Kubernetes edge of the live adapter: GET, PUT and POST of aws-auth, errors classified for
//! the conflict loop in `aws_auth_store`. The client is built in memory from DescribeCluster's
//! endpoint and CA with an EKS bearer token: no kubeconfig file, and TLS is always verified.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::client::ConfigExt;
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

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one Kubernetes call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

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
        config.auth_info.token = Some(secrecy::SecretString::from(token));
        let setup = |e: kube::Error| Error::Setup(format!("Kubernetes client for {cluster}: {e}"));
        // kube's own builder leaves Nagle's algorithm on: a request written in two TLS records
        // then waits for the server's delayed ACK (~40 ms). The same stack, with TCP_NODELAY; a
        // timeout on each call (`call`) instead of the socket-level ones.
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = config
            .rustls_https_connector_with_connector(http)
            .map_err(setup)?;
        let service = tower::ServiceBuilder::new()
            .layer(config.base_uri_layer())
            .option_layer(config.auth_layer().map_err(setup)?)
            .map_err(tower::BoxError::from)
            .service(Client::builder(TokioExecutor::new()).build(https));
        let client = kube::Client::new(service, NAMESPACE);
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
        self.call("get aws-auth", self.api.get_opt(CONFIG_MAP_NAME))
            .await
    }

    /// One call, cut off after [`CALL_TIMEOUT`] (then worth another try).
    async fn call<T>(
        &self,
        operation: &str,
        f: impl std::future::Future<Output = kube::Result<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(CALL_TIMEOUT, f).await {
            Ok(r) => r.map_err(|e| self.classify(operation, e)),
            Err(_) => Err(StoreError::Transient(Error::Kube {
                operation: operation.into(),
                message: format!("no answer within {CALL_TIMEOUT:?}"),
            })),
        }
    }

    /// Replaces (guarded by its `resourceVersion`) or creates the ConfigMap; answers what was
    /// stored.
    pub async fn write(&self, object: &ConfigMap, create: bool) -> Result<ConfigMap, StoreError> {
        let pp = PostParams::default();
        if create {
            self.call("create aws-auth", self.api.create(&pp, object))
                .await
        } else {
            self.call(
                "replace aws-auth",
                self.api.replace(CONFIG_MAP_NAME, &pp, object),
            )
            .await
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
