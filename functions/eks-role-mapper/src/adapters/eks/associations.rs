//! An access entry's policies and tags: associate (retried while a new entry propagates), list
//! with their scopes, disassociate, tag and untag.
//! <https://docs.aws.amazon.com/eks/latest/userguide/access-policies.html>

use aws_sdk_eks::error::SdkError;
use aws_sdk_eks::types::{AccessScope, AccessScopeType};

use super::access_entries::while_propagating;
use super::{aws_error, code};
use crate::domain::arn::RoleArn;
use crate::domain::error::Result;
use crate::domain::held::Association;

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

/// The access policies associated with the role's entry and their scopes
/// (ListAssociatedAccessPolicies, all pages).
pub async fn associations(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
) -> Result<Vec<Association>> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = eks
            .list_associated_access_policies()
            .cluster_name(cluster)
            .principal_arn(role.as_str())
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| aws_error("ListAssociatedAccessPolicies", e))?;
        out.extend(
            page.associated_access_policies
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| {
                    let namespaces = match p.access_scope {
                        Some(s) if s.r#type == Some(AccessScopeType::Namespace) => {
                            s.namespaces.unwrap_or_default()
                        }
                        _ => Vec::new(),
                    };
                    Some(Association {
                        policy: p.policy_arn?,
                        namespaces,
                    })
                }),
        );
        match page.next_token {
            Some(t) if !t.is_empty() => next = Some(t),
            _ => return Ok(out),
        }
    }
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

/// Adds tags to an entry, in one call.
pub async fn tag_entry(
    eks: &aws_sdk_eks::Client,
    entry_arn: &str,
    tags: &[(String, String)],
) -> Result<()> {
    eks.tag_resource()
        .resource_arn(entry_arn)
        .set_tags(Some(tags.iter().cloned().collect()))
        .send()
        .await
        .map_err(|e| aws_error("TagResource", e))?;
    Ok(())
}

/// Removes tags from an entry.
pub async fn untag_entry(
    eks: &aws_sdk_eks::Client,
    entry_arn: &str,
    keys: &[String],
) -> Result<()> {
    eks.untag_resource()
        .resource_arn(entry_arn)
        .set_tag_keys(Some(keys.to_vec()))
        .send()
        .await
        .map_err(|e| aws_error("UntagResource", e))?;
    Ok(())
}
