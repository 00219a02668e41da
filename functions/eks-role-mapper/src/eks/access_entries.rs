//! The access-entry calls: create (retried while IAM propagates a new role), describe its owner,
//! associate, list and take back the access policy, record an association, delete.
//! <https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html>

use std::time::Duration;

use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eks::types::{AccessScope, AccessScopeType};

use super::{aws_error, code};
use crate::arn::RoleArn;
use crate::error::{Error, Result};
use crate::ownership::{EntryOwner, OWNER_TAG, STANDARD};

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

/// Associates the access policy with the entry at cluster scope, or namespace scope over
/// `namespaces` (idempotent in EKS; associating again replaces the scope).
pub async fn associate_policy(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
    policy_arn: &str,
    namespaces: &[String],
) -> Result<()> {
    let scope = match namespaces {
        [] => AccessScope::builder().r#type(AccessScopeType::Cluster),
        some => AccessScope::builder()
            .r#type(AccessScopeType::Namespace)
            .set_namespaces(Some(some.to_vec())),
    }
    .build();
    let associate = || {
        eks.associate_access_policy()
            .cluster_name(cluster)
            .principal_arn(role.as_str())
            .policy_arn(policy_arn)
            .access_scope(scope.clone())
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

/// Disassociates a policy from the role's entry; one not associated is fine.
pub async fn disassociate_policy(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
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
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(()),
        Err(e) => Err(aws_error("DisassociateAccessPolicy", e)),
    }
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
    disassociate_policy(eks, cluster, role, policy).await?;
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
