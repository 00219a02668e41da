//! EKS API calls: DescribeCluster, access entries, and the opt-in authentication-mode switch.
//! <https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html>

use std::time::Duration;

use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eks::types::{
    AccessScope, AccessScopeType, AuthenticationMode, UpdateAccessConfigRequest, UpdateStatus,
};
use base64::Engine;

use crate::arn::RoleArn;
use crate::cloud::ClusterInfo;
use crate::decision::AuthMode;
use crate::error::{Error, Result};
use crate::ownership::{EntryOwner, OWNER_TAG, STANDARD};

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

/// Creates the role's access entry, tagged with `owner`; `true` when one was already there
/// (adopted: left untagged, never deleted by us).
pub async fn create_access_entry(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
    owner: &str,
) -> Result<bool> {
    let create = || {
        eks.create_access_entry()
            .cluster_name(cluster)
            .principal_arn(role.as_str())
            .r#type(STANDARD)
            .tags(OWNER_TAG, owner)
            .send()
    };
    // A role made moments before (the template makes it just before this resource) is an
    // "invalid principal" to EKS until IAM has propagated it.
    let not_yet = |e: &SdkError<_>| {
        code(e) == Some("InvalidParameterException")
            && e.message().is_some_and(|m| m.contains("invalid principal"))
    };
    match while_propagating("CreateAccessEntry", cluster, create, not_yet).await? {
        Ok(_) => Ok(false),
        Err(e) if code(&e) == Some("ResourceInUseException") => Ok(true),
        Err(e) => Err(aws_error("CreateAccessEntry", e)),
    }
}

/// How long IAM propagation is waited for: terraform-provider-aws's `propagationTimeout` for
/// these EKS calls (`internal/service/eks/access_entry.go`, `access_policy_association.go`).
pub const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `call` again while it fails with the error IAM propagation causes (`not_yet`), with a
/// growing pause, for at most [`PROPAGATION_TIMEOUT`]; the Lambda deadline guard still applies.
/// The outer error is `Error::Pending` when the invocation is about to end while still waiting.
async fn while_propagating<T, E, F, Fut>(
    operation: &str,
    cluster: &str,
    call: F,
    not_yet: impl Fn(&SdkError<E>) -> bool,
) -> Result<std::result::Result<T, SdkError<E>>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E>>>,
{
    // The window counts from the request's first receipt: a role that never appears (a wrong
    // ARN looks the same to EKS) fails after it, however many invocations it spans.
    let left = PROPAGATION_TIMEOUT.saturating_sub(crate::protocol::request_age());
    let until = tokio::time::Instant::now() + left;
    let mut pause = Duration::from_millis(500);
    let mut retries = 0u32;
    loop {
        match call().await {
            Err(e)
                if not_yet(&e)
                    && crate::protocol::time_to_hand_over()
                    && tokio::time::Instant::now() < until =>
            {
                return Err(Error::Pending(format!(
                    "{operation} on {cluster}: the role is not known to EKS yet (IAM propagation)"
                )))
            }
            Err(e) if not_yet(&e) && tokio::time::Instant::now() + pause < until => {
                retries += 1;
                tracing::info!(
                    operation,
                    cluster,
                    retries,
                    "the role is not known to EKS yet (IAM propagation); retrying"
                );
                crate::protocol::pause(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            r => return Ok(r),
        }
    }
}

/// Whether the role has an access entry on `cluster` and whether `owner`'s tag is on it.
pub async fn access_entry_owner(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
    owner: &str,
) -> Result<EntryOwner> {
    match eks
        .describe_access_entry()
        .cluster_name(cluster)
        .principal_arn(role.as_str())
        .send()
        .await
    {
        Ok(out) => {
            let entry = out
                .access_entry
                .unwrap_or_else(|| aws_sdk_eks::types::AccessEntry::builder().build());
            Ok(EntryOwner::of(
                entry.tags.as_ref(),
                entry.r#type.as_deref().unwrap_or_default(),
                entry.access_entry_arn.as_deref().unwrap_or_default(),
                owner,
            ))
        }
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(EntryOwner::Missing),
        Err(e) => Err(aws_error("DescribeAccessEntry", e)),
    }
}

/// Every cluster name of the region (ListClusters, all pages).
pub async fn list_clusters(eks: &aws_sdk_eks::Client) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = eks
            .list_clusters()
            .max_results(100)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| aws_error("ListClusters", e))?;
        names.extend(out.clusters.unwrap_or_default());
        match out.next_token {
            Some(t) if !t.is_empty() => next = Some(t),
            _ => return Ok(names),
        }
    }
}

/// Associates the access policy with the entry at cluster scope (idempotent in EKS).
pub async fn associate_cluster_policy(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
    policy_arn: &str,
) -> Result<()> {
    let associate = || {
        eks.associate_access_policy()
            .cluster_name(cluster)
            .principal_arn(role.as_str())
            .policy_arn(policy_arn)
            .access_scope(
                AccessScope::builder()
                    .r#type(AccessScopeType::Cluster)
                    .build(),
            )
            .send()
    };
    // Right after the entry is made, EKS may not find it yet (terraform-provider-aws retries
    // ResourceNotFoundException here for the same propagation timeout).
    let not_yet = |e: &SdkError<_>| code(e) == Some("ResourceNotFoundException");
    while_propagating("AssociateAccessPolicy", cluster, associate, not_yet)
        .await?
        .map_err(|e| aws_error("AssociateAccessPolicy", e))?;
    Ok(())
}

/// The access policies associated with the role's entry (ListAssociatedAccessPolicies, all pages).
pub async fn associated_policies(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
) -> Result<Vec<String>> {
    let mut policies = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = eks
            .list_associated_access_policies()
            .cluster_name(cluster)
            .principal_arn(role.as_str())
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| aws_error("ListAssociatedAccessPolicies", e))?;
        policies.extend(
            out.associated_access_policies
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.policy_arn),
        );
        match out.next_token {
            Some(t) if !t.is_empty() => next = Some(t),
            _ => return Ok(policies),
        }
    }
}

/// Tags an adopted entry with the record of the association this resource made.
pub async fn record_association(
    eks: &aws_sdk_eks::Client,
    entry_arn: &str,
    owner: &str,
    policy: &str,
) -> Result<()> {
    eks.tag_resource()
        .resource_arn(entry_arn)
        .tags(crate::ownership::associated_tag(owner), policy)
        .send()
        .await
        .map_err(|e| aws_error("TagResource", e))?;
    Ok(())
}

/// Disassociates the recorded policy (already gone is fine), then removes the record.
pub async fn take_back_association(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
    entry_arn: &str,
    owner: &str,
    policy: &str,
) -> Result<()> {
    match eks
        .disassociate_access_policy()
        .cluster_name(cluster)
        .principal_arn(role.as_str())
        .policy_arn(policy)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if code(&e) == Some("ResourceNotFoundException") => {}
        Err(e) => return Err(aws_error("DisassociateAccessPolicy", e)),
    }
    eks.untag_resource()
        .resource_arn(entry_arn)
        .tag_keys(crate::ownership::associated_tag(owner))
        .send()
        .await
        .map_err(|e| aws_error("UntagResource", e))?;
    Ok(())
}

/// Deletes the access entry; an entry or cluster already gone is fine.
pub async fn delete_access_entry(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
) -> Result<bool> {
    match eks
        .delete_access_entry()
        .cluster_name(cluster)
        .principal_arn(role.as_str())
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(false),
        Err(e) => Err(aws_error("DeleteAccessEntry", e)),
    }
}

/// Switches CONFIG_MAP to API_AND_CONFIG_MAP (one-way) and waits for the update to finish. The
/// switch takes minutes; when the invocation is about to end it answers `Error::Pending`, and the
/// fresh invocation that goes on finds the update in progress (UpdateClusterConfig answers
/// ResourceInUseException) and waits for the cluster instead.
/// <https://docs.aws.amazon.com/eks/latest/userguide/setting-up-access-entries.html>
pub async fn enable_access_entries(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    poll: Duration,
) -> Result<()> {
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
    let id = match started {
        Ok(update) => update.update.and_then(|u| u.id),
        // An update already running: ours from an earlier invocation, or someone's.
        Err(e) if code(&e) == Some("ResourceInUseException") => None,
        Err(e) => return Err(aws_error("UpdateClusterConfig", e)),
    };
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
        if crate::protocol::time_to_hand_over() {
            return Err(Error::Pending(format!(
                "cluster {cluster} is switching to API_AND_CONFIG_MAP"
            )));
        }
        crate::protocol::pause(pause).await;
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
