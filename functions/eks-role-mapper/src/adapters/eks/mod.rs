//! EKS API calls: DescribeCluster, access entries, and the opt-in authentication-mode switch.
//! <https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html>

use std::time::Duration;

use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eks::types::{AuthenticationMode, UpdateAccessConfigRequest, UpdateStatus};
use base64::Engine;

use crate::domain::decision::AuthMode;
use crate::domain::error::{Error, Result};
use crate::ports::ClusterInfo;

mod access_entries;
mod associations;
mod updates;

pub use access_entries::*;
pub use associations::*;

fn code<E: ProvideErrorMetadata>(e: &SdkError<E>) -> Option<&str> {
    e.code()
}

/// Turns an SDK error into a Reason with the operation named.
pub fn aws_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &str,
    e: SdkError<E>,
) -> Error {
    let message = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        // An error body the SDK could not read: its status says enough; its Debug dump does not
        // belong in a stack's events.
        _ => match &e {
            SdkError::ServiceError(se) => format!(
                "HTTP {} with an error body that could not be read",
                se.raw().status().as_u16()
            ),
            _ => {
                let full = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
                full.chars().take(300).collect()
            }
        },
    };
    Error::Aws {
        operation: operation.to_string(),
        message,
    }
}

/// DescribeCluster; None when the cluster does not exist.
pub async fn describe(eks: &aws_sdk_eks::Client, cluster: &str) -> Result<Option<ClusterInfo>> {
    let out = match eks.describe_cluster().name(cluster).send().await {
        Ok(o) => o,
        Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(None),
        Err(e) => return Err(aws_error("DescribeCluster", e)),
    };
    let c = out.cluster.ok_or_else(|| Error::Aws {
        operation: "DescribeCluster".into(),
        message: "answer without a cluster".into(),
    })?;
    let ca_b64 = c
        .certificate_authority
        .and_then(|ca| ca.data)
        .unwrap_or_default();
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(ca_b64.trim())
        .map_err(|_| Error::Aws {
            operation: "DescribeCluster".into(),
            message: "certificateAuthority.data is not base64".into(),
        })?;
    Ok(Some(ClusterInfo {
        name: cluster.to_string(),
        arn: c.arn.unwrap_or_default(),
        endpoint: c.endpoint.unwrap_or_default(),
        ca_pem,
        mode: AuthMode::parse(
            c.access_config
                .and_then(|a| a.authentication_mode)
                .as_ref()
                .map(AuthenticationMode::as_str),
        ),
        status: c.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        created_at: c
            .created_at
            .and_then(|t| std::time::SystemTime::try_from(t).ok()),
    }))
}

/// Switches CONFIG_MAP to API_AND_CONFIG_MAP (one-way) and waits for the update to finish. The
/// switch takes minutes; when the invocation is about to end it answers `Error::Pending`, and the
/// fresh invocation that goes on finds the update in progress (UpdateClusterConfig answers
/// ResourceInUseException) and waits for it. That answer comes for any update in progress: only
/// an access-configuration update of the mode is waited for as the switch; another (a version
/// upgrade, a logging change) is waited for to end, within the same budget of invocations, and
/// then the switch is made; a budget spent waiting fails naming that update.
/// <https://docs.aws.amazon.com/eks/latest/userguide/setting-up-access-entries.html>
pub async fn enable_access_entries(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    poll: Duration,
) -> Result<()> {
    let mut pause = poll;
    let (id, what) = loop {
        let started = eks
            .update_cluster_config()
            .name(cluster)
            .access_config(
                UpdateAccessConfigRequest::builder()
                    .authentication_mode(AuthenticationMode::ApiAndConfigMap)
                    .build(),
            )
            .send()
            .await;
        let waiting_for = match started {
            Ok(update) => break (update.update.and_then(|u| u.id), None),
            Err(e) if code(&e) == Some("ResourceInUseException") => {
                match updates::in_progress(eks, cluster).await? {
                    Some(u) if u.is_mode_switch() => break (Some(u.id.clone()), Some(u)),
                    // Ended in between: the switch is tried again.
                    None => None,
                    Some(u) => Some(u),
                }
            }
            Err(e) => return Err(aws_error("UpdateClusterConfig", e)),
        };
        if let Some(u) = &waiting_for {
            tracing::info!(cluster, update = %u.id, kind = %u.kind, "another update is in progress; the switch waits for it to end");
            if crate::ports::deadline::time_to_hand_over() {
                return Err(Error::Pending(format!(
                    "cluster {cluster}: {} is in progress, and the switch to API_AND_CONFIG_MAP waits for it to end",
                    u.shown()
                )));
            }
        }
        crate::ports::deadline::pause(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    };
    if let Some(u) = &what {
        tracing::info!(cluster, update = %u.id, "the switch to API_AND_CONFIG_MAP is in progress already");
    }
    let mut pause = poll;
    loop {
        let done = match &id {
            Some(id) => update_finished(eks, cluster, id).await?,
            None => describe(eks, cluster)
                .await?
                .is_some_and(|c| c.is_active() && c.mode == AuthMode::ApiAndConfigMap),
        };
        if done {
            return Ok(());
        }
        if crate::ports::deadline::time_to_hand_over() {
            return Err(Error::Pending(format!(
                "cluster {cluster} is switching to API_AND_CONFIG_MAP"
            )));
        }
        crate::ports::deadline::pause(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

/// Whether an UpdateClusterConfig finished; a failed one is an error.
async fn update_finished(eks: &aws_sdk_eks::Client, cluster: &str, id: &str) -> Result<bool> {
    let out = eks
        .describe_update()
        .name(cluster)
        .update_id(id)
        .send()
        .await
        .map_err(|e| aws_error("DescribeUpdate", e))?;
    match out.update.and_then(|u| u.status) {
        Some(UpdateStatus::Successful) => Ok(true),
        Some(UpdateStatus::Failed | UpdateStatus::Cancelled) => Err(Error::Aws {
            operation: "UpdateClusterConfig".into(),
            message: format!("update {id} to API_AND_CONFIG_MAP did not succeed"),
        }),
        _ => Ok(false),
    }
}
