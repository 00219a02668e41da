//! The access-entry calls: create (retried while IAM propagates a new role), describe its owner,
//! update what it maps the role to, delete. Its policies and tags: `associations`.
//! <https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html>

use std::time::Duration;

use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};

use super::{aws_error, code};
use crate::domain::arn::RoleArn;
use crate::domain::error::{Error, Result};
use crate::domain::ownership::{EntryOwner, OWNER_TAG, STANDARD};

/// Creates the role's access entry, tagged with `owner`; `true` when one was already there
/// (adopted: left untagged, never deleted by us).
pub async fn create_access_entry(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
    owner: &str,
    (kubernetes_groups, username): (&[String], Option<&str>),
) -> Result<bool> {
    let groups = (!kubernetes_groups.is_empty()).then(|| kubernetes_groups.to_vec());
    let create = || {
        eks.create_access_entry()
            .cluster_name(cluster)
            .principal_arn(role.as_str())
            .r#type(STANDARD)
            .set_kubernetes_groups(groups.clone())
            .set_username(username.map(str::to_string))
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
pub(super) async fn while_propagating<T, E, F, Fut>(
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
    let left = PROPAGATION_TIMEOUT.saturating_sub(crate::ports::deadline::request_age());
    let until = tokio::time::Instant::now() + left;
    let mut pause = Duration::from_millis(500);
    let mut retries = 0u32;
    loop {
        match call().await {
            Err(e)
                if not_yet(&e)
                    && crate::ports::deadline::time_to_hand_over()
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
                crate::ports::deadline::pause(pause).await;
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
            )
            .with_identity(
                entry.kubernetes_groups.clone().unwrap_or_default(),
                entry.username.clone(),
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

/// Sets the entry's Kubernetes groups (all of them: an empty list clears them) and, when given,
/// its username (UpdateAccessEntry).
pub async fn update_access_entry(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
    kubernetes_groups: &[String],
    username: Option<&str>,
) -> Result<()> {
    eks.update_access_entry()
        .cluster_name(cluster)
        .principal_arn(role.as_str())
        .set_kubernetes_groups(Some(kubernetes_groups.to_vec()))
        .set_username(username.map(str::to_string))
        .send()
        .await
        .map_err(|e| aws_error("UpdateAccessEntry", e))?;
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
