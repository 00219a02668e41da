//! The Kubernetes edge of the live adapter: GET, PUT and POST of aws-auth (and of our RBAC
//! bindings, as JSON), errors classified for the conflict loops. The client is built in memory from DescribeCluster's
//! endpoint and CA with an EKS bearer token: no kubeconfig file, and TLS is always verified
//! against the cluster's own CA.
//!
//! A few calls of a few objects do not need a Kubernetes client library: they are plain HTTPS with
//! a bearer token we made ourselves, on the HTTP stack the binary already has. (kube's client
//! brought its kubeconfig and exec-credential machinery, a JSONPath engine, a YAML parser and a
//! full regex engine into the artifact for them.)
//! <https://kubernetes.io/docs/reference/using-api/api-concepts/>

use std::sync::Arc;
use std::time::Duration;

use crate::config_map::ConfigMap;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::aws_auth::{CONFIG_MAP_NAME, NAMESPACE};
use crate::cloud::{ClusterInfo, StoreError};
use crate::error::{Error, Result};
use crate::https::HttpsClient;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one Kubernetes call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an answer read: a ConfigMap is at most 1 MiB of data (etcd's limit is 1.5 MiB).
const MAX_ANSWER: usize = 3 << 20;

/// A Kubernetes `Status`, as the API server answers a refused request.
/// <https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/>
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Status {
    kind: String,
    code: u16,
    reason: String,
    message: String,
}

/// What one call met short of the object.
enum Failure {
    /// An answer with this HTTP status, and the Status object when the body was one.
    Answer(u16, Option<Status>),
    /// A 2xx answer whose body was not the object.
    NotAnObject,
    /// No answer: the connection failed or broke.
    Network(String),
    /// The server's certificate is not one the cluster's CA signed: no retry changes that.
    Certificate(String),
    /// No answer within [`CALL_TIMEOUT`].
    Timeout,
    /// No answer yet when this invocation's time to hand over came (`protocol::pause`).
    OutOfTime,
}

/// A Kubernetes client for one cluster.
pub struct ClusterApi {
    client: Arc<HttpsClient<Full<Bytes>>>,
    /// `https://host[:port]`, without a trailing slash.
    base: String,
    authorization: http::HeaderValue,
    cluster: String,
    identity: String,
}

impl ClusterApi {
    /// Builds the client from DescribeCluster's answer and a bearer token of `identity`.
    pub fn new(info: &ClusterInfo, token: String, identity: String) -> Result<ClusterApi> {
        let cluster = info.name.as_str();
        let endpoint = url::Url::parse(&info.endpoint)
            .ok()
            .filter(|u| u.scheme() == "https" && u.host_str().is_some())
            .ok_or_else(|| Error::Setup(format!("cluster {cluster} has no usable endpoint")))?;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&info.ca_pem) {
            let c = c.map_err(|e| Error::Setup(format!("cluster {cluster} CA: {e}")))?;
            roots
                .add(c)
                .map_err(|e| Error::Setup(format!("cluster {cluster} CA: {e}")))?;
        }
        if roots.is_empty() {
            return Err(Error::Setup(format!(
                "cluster {cluster} has no certificate authority"
            )));
        }
        // TLS always verified against the cluster's own CA; a timeout on each call (`call`)
        // instead of the socket-level ones.
        let client = crate::https::client(roots, false, CONNECT_TIMEOUT)
            .map_err(|e| Error::Setup(format!("Kubernetes client for {cluster}: {e}")))?;
        let mut authorization = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Error::Setup(format!("the token for {cluster} is not a header value")))?;
        authorization.set_sensitive(true);
        Ok(ClusterApi {
            client: Arc::new(client),
            base: endpoint.as_str().trim_end_matches('/').to_string(),
            authorization,
            cluster: cluster.to_string(),
            identity,
        })
    }

    /// The ConfigMap, or None when it does not exist.
    pub async fn read(&self) -> Result<Option<ConfigMap>, StoreError> {
        const OP: &str = "get aws-auth";
        match self.call(http::Method::GET, &object_path(), None).await {
            Ok(object) => Ok(Some(object)),
            Err(Failure::Answer(404, _)) => Ok(None),
            Err(f) => Err(self.classify(OP, f)),
        }
    }

    /// Replaces (guarded by its `resourceVersion`) or creates the ConfigMap; answers what was
    /// stored.
    pub async fn write(&self, object: &ConfigMap, create: bool) -> Result<ConfigMap, StoreError> {
        let (op, method, path) = if create {
            ("create aws-auth", http::Method::POST, collection_path())
        } else {
            ("replace aws-auth", http::Method::PUT, object_path())
        };
        let body = serde_json::to_vec(object).map_err(|e| {
            StoreError::Failed(Error::Kube {
                operation: op.into(),
                message: format!("serializing the ConfigMap: {e}"),
            })
        })?;
        self.call(method, &path, Some(body))
            .await
            .map_err(|f| self.classify(op, f))
    }

    /// Another object (an RBAC binding) as JSON, or None when it does not exist.
    pub async fn get_object(&self, op: &str, path: &str) -> Result<Option<Value>, StoreError> {
        match self.call(http::Method::GET, path, None).await {
            Ok(object) => Ok(Some(object)),
            Err(Failure::Answer(404, _)) => Ok(None),
            Err(f) => Err(self.classify(op, f)),
        }
    }

    /// Creates (POST to `path`, its collection) or replaces (PUT) an object; 404 is `Ok(None)`
    /// (a namespace that does not exist, or an object deleted meanwhile).
    pub async fn put_object(
        &self,
        op: &str,
        path: &str,
        object: &Value,
        create: bool,
    ) -> Result<Option<Value>, StoreError> {
        let method = if create {
            http::Method::POST
        } else {
            http::Method::PUT
        };
        let body = serde_json::to_vec(object).map_err(|e| {
            StoreError::Failed(Error::Kube {
                operation: op.into(),
                message: format!("serializing: {e}"),
            })
        })?;
        match self.call(method, path, Some(body)).await {
            Ok(stored) => Ok(Some(stored)),
            Err(Failure::Answer(404, _)) => Ok(None),
            Err(f) => Err(self.classify(op, f)),
        }
    }

    /// Deletes an object; `false` when there was none.
    pub async fn delete_object(&self, op: &str, path: &str) -> Result<bool, StoreError> {
        match self.call::<Value>(http::Method::DELETE, path, None).await {
            Ok(_) => Ok(true),
            Err(Failure::Answer(404, _)) => Ok(false),
            Err(f) => Err(self.classify(op, f)),
        }
    }

    /// One request, cut off after [`CALL_TIMEOUT`], or sooner when this invocation must hand the
    /// request over (a call to a paused API server would otherwise run into the Lambda deadline,
    /// which answers FAILED with a write perhaps made); a 2xx answer is read as the object.
    async fn call<T: DeserializeOwned>(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> std::result::Result<T, Failure> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(http::header::AUTHORIZATION, self.authorization.clone())
            .header(http::header::ACCEPT, "application/json");
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Failure::Network(e.to_string()))?;
        let exchange = async {
            let answer = self.client.request(request).await.map_err(|e| {
                if let Some(refused) = certificate_refused(&e) {
                    return Failure::Certificate(refused);
                }
                Failure::Network(if e.is_connect() {
                    "connect error".into()
                } else {
                    "request error".into()
                })
            })?;
            let status = answer.status().as_u16();
            let body = Limited::new(answer.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|_| Failure::Network("reading the answer".into()))?
                .to_bytes();
            if (200..300).contains(&status) {
                serde_json::from_slice(&body).map_err(|_| Failure::NotAnObject)
            } else {
                let s = serde_json::from_slice::<Status>(&body)
                    .ok()
                    .filter(|s| s.kind == "Status");
                Err(Failure::Answer(status, s))
            }
        };
        tokio::select! {
            answer = exchange => answer,
            _ = crate::protocol::pause(CALL_TIMEOUT) => Err(match crate::protocol::time_to_hand_over() {
                true => Failure::OutOfTime,
                false => Failure::Timeout,
            }),
        }
    }

    /// A conflict for the loop in `aws_auth_store`; what is worth another try (the API server
    /// busy, the connection broken, no answer in time) as transient; the rest as failed.
    fn classify(&self, operation: &str, failure: Failure) -> StoreError {
        let kube = |message: String| Error::Kube {
            operation: operation.into(),
            message,
        };
        match failure {
            Failure::Answer(409, _) => StoreError::Conflict,
            Failure::Answer(code @ (401 | 403), _) => StoreError::Failed(Error::NotAuthorized {
                cluster: self.cluster.clone(),
                identity: self.identity.clone(),
                status: code,
            }),
            Failure::Answer(code, status) => {
                let error = kube(match status {
                    Some(s) => format!("{code} {}: {}", s.reason, s.message),
                    // A body that is not a Kubernetes Status (an empty redirect, a proxy's page):
                    // say what it is.
                    None => format!("{code}: the API server's answer was not a Kubernetes Status (a redirect or a proxy in the way?)"),
                });
                if code == 429 || code >= 500 {
                    StoreError::Transient(error)
                } else {
                    StoreError::Failed(error)
                }
            }
            Failure::NotAnObject => StoreError::Failed(kube(
                "the API server's answer was not a Kubernetes object or Status (a redirect or a proxy in the way?)".into(),
            )),
            Failure::Network(what) => StoreError::Transient(Error::KubeUnreachable {
                operation: operation.into(),
                message: format!("network error ({what})"),
            }),
            Failure::Certificate(why) => StoreError::Failed(kube(format!(
                "TLS: the API server's certificate was refused ({why}): it must chain to the certificate authority DescribeCluster reports for the cluster"
            ))),
            Failure::Timeout => StoreError::Transient(Error::KubeUnreachable {
                operation: operation.into(),
                message: format!("no answer within {CALL_TIMEOUT:?}"),
            }),
            Failure::OutOfTime => StoreError::Transient(Error::KubeUnreachable {
                operation: operation.into(),
                message: "no answer before this invocation had to hand over".into(),
            }),
        }
    }
}

/// Why rustls refused the server's certificate, when that is what failed the exchange: unlike a
/// dropped or refused connection, trying again cannot help. (hyper-rustls hands rustls' error on
/// inside an `io::Error`, whose `source` skips it: `get_ref` reaches it.)
fn certificate_refused(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let refused = |r: &rustls::Error| {
        matches!(
            r,
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
        )
        .then(|| r.to_string())
    };
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return refused(r);
        }
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|i| i.downcast_ref::<rustls::Error>());
        if let Some(r) = inner {
            return refused(r);
        }
        next = e.source();
    }
    None
}

/// The aws-auth ConfigMap's path.
fn object_path() -> String {
    format!("{}/{CONFIG_MAP_NAME}", collection_path())
}

/// The ConfigMaps of aws-auth's namespace.
fn collection_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/configmaps")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paths_are_those_of_the_core_api() {
        assert_eq!(
            object_path(),
            "/api/v1/namespaces/kube-system/configmaps/aws-auth"
        );
        assert_eq!(
            collection_path(),
            "/api/v1/namespaces/kube-system/configmaps"
        );
    }
}
