//! Persists the aws-auth edit through the Kubernetes API: read, edit in memory, write with the
//! `resourceVersion` read (409 Conflict: re-read and retry, bounded, with jitter), create when
//! missing, read back after writing. The client is built in memory from DescribeCluster's endpoint
//! and CA with an EKS bearer token: no kubeconfig file, and TLS is always verified.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use rand::Rng;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::arn::RoleArn;
use crate::aws_auth::{self, Change, CONFIG_MAP_NAME, NAMESPACE};
use crate::eks::ClusterInfo;
use crate::error::{Error, Result};

/// How many times a conflicting write is retried.
pub const MAX_ATTEMPTS: u32 = 8;
/// How many transient failures (5xx, 429, dropped connections) one request tolerates.
pub const MAX_TRANSIENT: u32 = 3;

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
    pub fn new(
        cluster: &str,
        info: &ClusterInfo,
        token: String,
        identity: String,
    ) -> Result<ClusterApi> {
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

    /// The ConfigMap's data, or None when it does not exist.
    pub async fn read(&self) -> Result<Option<ConfigMap>> {
        self.api
            .get_opt(CONFIG_MAP_NAME)
            .await
            .map_err(|e| self.error("get aws-auth", e))
    }

    /// Upserts the role and records `owner` beside it unless the mapping was already there
    /// (adopted); returns (change, adopted, conflicts seen).
    pub async fn upsert(
        &self,
        role: &RoleArn,
        username: &str,
        groups: &[String],
        owner: &str,
    ) -> Result<(Change, bool, u32)> {
        let marker = aws_auth::owner_annotation(owner);
        let mut conflicts = 0;
        let mut transient_left = MAX_TRANSIENT;
        for attempt in 1..=MAX_ATTEMPTS {
            let current = match self.api.get_opt(CONFIG_MAP_NAME).await {
                Ok(c) => c,
                Err(e) if transient(&e) && transient_left > 0 => {
                    transient_left -= 1;
                    tracing::info!(attempt, "Kubernetes API busy or unreachable, retrying");
                    backoff(attempt).await;
                    continue;
                }
                Err(e) => return Err(self.error("get aws-auth", e)),
            };
            let data = current
                .as_ref()
                .and_then(|c| c.data.clone())
                .unwrap_or_default();
            let mut annotations = current
                .as_ref()
                .and_then(|c| c.metadata.annotations.clone())
                .unwrap_or_default();
            let edit = aws_auth::upsert(&data, role, username, groups)?;
            // Our own earlier write (a retried Create) is not adoption.
            let adopted = edit.adopted && !annotations.contains_key(&marker);
            if edit.change == Change::Unchanged {
                return Ok((Change::Unchanged, adopted, conflicts));
            }
            if !adopted {
                annotations.insert(marker.clone(), role.as_str().to_string());
            }
            let annotations = (!annotations.is_empty()).then_some(annotations);
            let written = match current {
                Some(mut cm) => {
                    cm.data = Some(edit.data);
                    cm.metadata.annotations = annotations;
                    self.api
                        .replace(CONFIG_MAP_NAME, &PostParams::default(), &cm)
                        .await
                        .map_err(|e| ("replace aws-auth", e))
                }
                None => {
                    let cm = ConfigMap {
                        metadata: ObjectMeta {
                            name: Some(CONFIG_MAP_NAME.into()),
                            namespace: Some(NAMESPACE.into()),
                            annotations,
                            ..Default::default()
                        },
                        data: Some(edit.data),
                        ..Default::default()
                    };
                    self.api
                        .create(&PostParams::default(), &cm)
                        .await
                        .map_err(|e| ("create aws-auth", e))
                }
            };
            match written {
                Ok(stored) => {
                    verify(&stored, role, true)?;
                    return Ok((edit.change, adopted, conflicts));
                }
                Err((_, e)) if conflict(&e) => {
                    conflicts += 1;
                    tracing::info!(attempt, "aws-auth changed under us, re-reading");
                    backoff(attempt).await;
                }
                Err((_, e)) if transient(&e) && transient_left > 0 => {
                    transient_left -= 1;
                    tracing::info!(attempt, "Kubernetes API busy or unreachable, retrying");
                    backoff(attempt).await;
                }
                Err((op, e)) => return Err(self.error(op, e)),
            }
        }
        Err(Error::TooManyConflicts(MAX_ATTEMPTS))
    }

    /// Removes the role's entries if `owner` recorded adding them (and the record with them);
    /// returns whether anything was removed.
    pub async fn remove(&self, role: &RoleArn, owner: &str) -> Result<bool> {
        let marker = aws_auth::owner_annotation(owner);
        let mut transient_left = MAX_TRANSIENT;
        for attempt in 1..=MAX_ATTEMPTS {
            let mut cm = match self.api.get_opt(CONFIG_MAP_NAME).await {
                Ok(Some(cm)) => cm,
                Ok(None) => return Ok(false),
                Err(e) if transient(&e) && transient_left > 0 => {
                    transient_left -= 1;
                    backoff(attempt).await;
                    continue;
                }
                Err(e) => return Err(self.error("get aws-auth", e)),
            };
            let Some(annotations) = cm
                .metadata
                .annotations
                .as_mut()
                .filter(|a| a.contains_key(&marker))
            else {
                tracing::info!("aws-auth holds no record of ours for this role; leaving it");
                return Ok(false);
            };
            annotations.remove(&marker);
            let data: BTreeMap<String, String> = cm.data.clone().unwrap_or_default();
            if let Some(new_data) = aws_auth::remove(&data, role)? {
                cm.data = Some(new_data);
            }
            match self
                .api
                .replace(CONFIG_MAP_NAME, &PostParams::default(), &cm)
                .await
            {
                Ok(stored) => {
                    verify(&stored, role, false)?;
                    return Ok(true);
                }
                Err(e) if conflict(&e) => backoff(attempt).await,
                Err(e) if transient(&e) && transient_left > 0 => {
                    transient_left -= 1;
                    backoff(attempt).await;
                }
                Err(e) => return Err(self.error("replace aws-auth", e)),
            }
        }
        Err(Error::TooManyConflicts(MAX_ATTEMPTS))
    }
}

/// Reads back the object the API server answered the write with (the stored version): it must
/// parse and hold our role (or not, after a removal). No extra round trip is needed for that.
fn verify(stored: &ConfigMap, role: &RoleArn, present: bool) -> Result<()> {
    let text = stored
        .data
        .as_ref()
        .and_then(|d| d.get(aws_auth::MAP_ROLES));
    let roles = aws_auth::MapRoles::parse(text.map(String::as_str))?;
    if roles.contains(role) != present {
        return Err(Error::AwsAuth(
            "the API server stored a mapRoles other than the one written".into(),
        ));
    }
    Ok(())
}

async fn backoff(attempt: u32) {
    let base = 50u64 * 2u64.pow(attempt.min(6));
    let jitter = rand::rng().random_range(0..=base);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}
