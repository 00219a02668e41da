//! The Kubernetes edge of the live adapter: kube's client and k8s-openapi's typed objects for
//! aws-auth, our RBAC bindings and namespaces, errors classified for the retry loops of
//! `aws_auth_store` and `bindings_store`.
//!
//! The client is built in memory from DescribeCluster's endpoint and CA and the bearer token
//! `token` made: no kubeconfig, and TLS always verified against the cluster's own CA. Each write
//! names its field manager and each request carries our User-Agent, so the cluster's audit log and
//! `managedFields` say who changed aws-auth (whoever manages it with server-side apply sees us).
//! <https://kubernetes.io/docs/reference/using-api/server-side-apply/#managers>

use std::time::Duration;

use http::header::{HeaderValue, USER_AGENT};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::AuthInfo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::domain::aws_auth::{CONFIG_MAP_NAME, NAMESPACE};
use crate::domain::config_map::ConfigMap;
use crate::domain::error::{Error, Result};
use crate::domain::rbac::{At, Binding};
use crate::ports::{ClusterInfo, StoreError};

mod bindings;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one Kubernetes call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The field manager of every write (`managedFields`, audit logs).
pub const FIELD_MANAGER: &str = "eks-role-mapper";
/// The User-Agent of every request.
const AGENT: &str = concat!("eks-role-mapper/", env!("CARGO_PKG_VERSION"));

/// A Kubernetes client for one cluster.
pub struct ClusterApi {
    client: kube::Client,
    cluster: String,
    identity: String,
}

impl ClusterApi {
    /// Builds the client from DescribeCluster's answer and a bearer token of `identity`.
    pub fn new(info: &ClusterInfo, token: String, identity: String) -> Result<ClusterApi> {
        let cluster = info.name.as_str();
        let setup = |what: String| Error::Setup(format!("cluster {cluster}: {what}"));
        let endpoint: http::Uri = info
            .endpoint
            .parse()
            .ok()
            .filter(|u: &http::Uri| u.scheme_str() == Some("https") && u.host().is_some())
            .ok_or_else(|| setup("no usable endpoint".into()))?;
        let mut roots = Vec::new();
        for c in CertificateDer::pem_slice_iter(&info.ca_pem) {
            roots.push(c.map_err(|e| setup(format!("CA: {e}")))?.to_vec());
        }
        if roots.is_empty() {
            return Err(setup("no certificate authority".into()));
        }
        let mut config = kube::Config::new(endpoint.clone());
        config.root_cert = Some(roots);
        config.auth_info = AuthInfo {
            token: Some(token.into()),
            ..AuthInfo::default()
        };
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        // One retry policy for the API: the stores' own, which knows the request's deadline.
        config.default_retry = false;
        config.headers = vec![(USER_AGENT, HeaderValue::from_static(AGENT))];
        // HTTPS_PROXY / NO_PROXY (and their lower-case spellings) as curl reads them.
        config.proxy_url = hyper_util::client::proxy::matcher::Matcher::from_env()
            .intercept(&endpoint)
            .map(|i| i.uri().clone());
        let client =
            kube::Client::try_from(config).map_err(|e| setup(format!("Kubernetes client: {e}")))?;
        Ok(ClusterApi {
            client,
            cluster: cluster.to_string(),
            identity,
        })
    }

    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    /// The ConfigMap, or None when it does not exist.
    pub async fn read(&self) -> Result<Option<ConfigMap>, StoreError> {
        let api = self.config_maps();
        self.call("get aws-auth", api.get_opt(CONFIG_MAP_NAME))
            .await
    }

    /// Replaces (guarded by its `resourceVersion`) or creates the ConfigMap; answers what was
    /// stored.
    pub async fn write(&self, object: &ConfigMap, create: bool) -> Result<ConfigMap, StoreError> {
        let api = self.config_maps();
        let params = post_params();
        if create {
            self.call("create aws-auth", api.create(&params, object))
                .await
        } else {
            self.call(
                "replace aws-auth",
                api.replace(CONFIG_MAP_NAME, &params, object),
            )
            .await
        }
    }

    /// The binding at `at`, or None.
    pub async fn binding(&self, at: &At) -> Result<Option<Binding>, StoreError> {
        bindings::get(self, at).await
    }

    /// Every binding carrying `owner`'s label, cluster-wide and in every namespace.
    pub async fn owned_bindings(&self, owner: &str) -> Result<Vec<Binding>, StoreError> {
        bindings::owned(self, owner).await
    }

    /// Creates (no version) or replaces a binding; `false` when there is no such namespace or
    /// the binding was deleted meanwhile (404).
    pub async fn write_binding(&self, binding: &Binding) -> Result<bool, StoreError> {
        bindings::write(self, binding).await
    }

    /// Deletes a binding; `false` when there was none.
    pub async fn delete_binding(&self, at: &At) -> Result<bool, StoreError> {
        bindings::delete(self, at).await
    }

    /// Whether the namespace exists.
    pub async fn namespace_exists(&self, name: &str) -> Result<bool, StoreError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        Ok(self
            .call("get namespace", api.get_opt(name))
            .await?
            .is_some())
    }

    /// One call, cut off after [`CALL_TIMEOUT`], or sooner when this invocation must hand the
    /// request over (a call to a paused API server would otherwise run into the Lambda deadline,
    /// which answers FAILED with a write perhaps made).
    async fn call<T>(
        &self,
        operation: &str,
        call: impl std::future::Future<Output = kube::Result<T>>,
    ) -> Result<T, StoreError> {
        tokio::select! {
            answer = call => answer.map_err(|e| self.classify(operation, e)),
            _ = crate::ports::deadline::pause(CALL_TIMEOUT) => Err(StoreError::Transient(Error::KubeUnreachable {
                operation: operation.into(),
                message: match crate::ports::deadline::time_to_hand_over() {
                    true => "no answer before this invocation had to hand over".into(),
                    false => format!("no answer within {CALL_TIMEOUT:?}"),
                },
            })),
        }
    }

    /// A conflict for the loops; what is worth another try (the API server busy, the connection
    /// broken) as transient; a refused certificate and the rest as failed.
    fn classify(&self, operation: &str, e: kube::Error) -> StoreError {
        let kube = |message: String| Error::Kube {
            operation: operation.into(),
            message,
        };
        match e {
            kube::Error::Api(s) if s.code == 409 => StoreError::Conflict,
            kube::Error::Api(s) if matches!(s.code, 401 | 403) => {
                StoreError::Failed(Error::NotAuthorized {
                    cluster: self.cluster.clone(),
                    identity: self.identity.clone(),
                    status: s.code,
                })
            }
            kube::Error::Api(s) => {
                let error = kube(if s.reason == "Failed to parse error data" {
                    // A body that is not a Kubernetes Status (an empty redirect, a proxy's page).
                    format!("{}: the API server's answer was not a Kubernetes Status (a redirect or a proxy in the way?)", s.code)
                } else {
                    format!("{} {}: {}", s.code, s.reason, s.message)
                });
                if s.code == 429 || s.code >= 500 {
                    StoreError::Transient(error)
                } else {
                    StoreError::Failed(error)
                }
            }
            kube::Error::SerdeError(_) => StoreError::Failed(kube(
                "the API server's answer was not a Kubernetes object or Status (a redirect or a proxy in the way?)".into(),
            )),
            e @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => {
                match certificate_refused(&e) {
                    Some(why) => StoreError::Failed(kube(format!(
                        "TLS: the API server's certificate was refused ({why}): it must chain to the certificate authority DescribeCluster reports for the cluster"
                    ))),
                    None => StoreError::Transient(Error::KubeUnreachable {
                        operation: operation.into(),
                        message: "network error (connect or request error)".into(),
                    }),
                }
            }
            e => StoreError::Failed(kube(e.to_string())),
        }
    }
}

/// Every write's parameters: our field manager.
fn post_params() -> PostParams {
    PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.into()),
    }
}

/// A delete's parameters.
fn delete_params() -> DeleteParams {
    DeleteParams::default()
}

/// A list of at most this many objects a page: the API server hands the rest on with a continue
/// token. <https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks>
const PAGE: u32 = 250;

/// The first page's parameters of a list by label.
fn list_params(selector: &str) -> ListParams {
    ListParams::default().labels(selector).limit(PAGE)
}

/// Why rustls refused the server's certificate, when that is what failed the exchange: unlike a
/// dropped or refused connection, trying again cannot help. (hyper-rustls hands rustls' error on
/// inside an `io::Error`, itself inside hyper-util's: an `io::Error`'s `source` skips the error it
/// wraps, so `get_ref` is followed instead.)
fn certificate_refused(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return matches!(
                r,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
            .then(|| r.to_string());
        }
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}
