//! The access-entry calls: create (retried while IAM propagates a new role), describe its owner,
//! update what it maps the role to, delete. Its policies and tags: `associations`.
//! <https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html>

use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};

use super::propagation::while_propagating;
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
/// its username, by making the entry anew: DescribeAccessEntry (its owner tag and username),
/// ListAssociatedAccessPolicies, DeleteAccessEntry, CreateAccessEntry with the new groups, then
/// each access policy it had, associated again with its scope.
///
/// Not UpdateAccessEntry: that action has no condition keys of its own, and the groups and
/// username keys IAM evaluates on it are the access-entry resource's (the entry as it stands), so
/// no policy can bind the groups it asks for, and a policy bounding the entry's groups refuses
/// the removal of one. CreateAccessEntry's own keys are the request's, which the function's
/// policy binds to KubernetesGroups and EKS's default username (Service Authorization Reference
/// for EKS, <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelastickubernetesservice.html>).
/// Between the delete and the associations the role has no access to the cluster (a second or
/// so); a failure in between is made up by the next request, which finds no entry and makes it.
pub async fn update_access_entry(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    role: &RoleArn,
    kubernetes_groups: &[String],
    username: Option<&str>,
) -> Result<()> {
    let entry = eks
        .describe_access_entry()
        .cluster_name(cluster)
        .principal_arn(role.as_str())
        .send()
        .await
        .map_err(|e| aws_error("DescribeAccessEntry", e))?
        .access_entry
        .unwrap_or_else(|| aws_sdk_eks::types::AccessEntry::builder().build());
    let owner = entry
        .tags
        .as_ref()
        .and_then(|t| t.get(OWNER_TAG))
        .cloned()
        .unwrap_or_default();
    // The entry's own username is kept, unless it is EKS's default, which EKS makes again.
    let username = username
        .map(str::to_string)
        .or(entry.username.filter(|u| *u != eks_default_username(role)));
    let associated = super::associations(eks, cluster, role).await?;
    delete_access_entry(eks, cluster, role).await?;
    let identity = (kubernetes_groups, username.as_deref());
    if create_access_entry(eks, cluster, role, &owner, identity).await? {
        return Err(Error::Aws {
            operation: "CreateAccessEntry".into(),
            message: format!(
                "cluster {cluster}: another access entry of the role was made while ours was made anew"
            ),
        });
    }
    for a in &associated {
        super::associate_policy(eks, cluster, role, &a.policy, &a.namespaces).await?;
    }
    Ok(())
}

/// The username EKS gives a role's entry made without one:
/// `arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/{{SessionName}}` (the name without its path;
/// <https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html>).
fn eks_default_username(role: &RoleArn) -> String {
    let arn = role.as_str();
    let (prefix, resource) = arn.rsplit_once(':').unwrap_or((arn, ""));
    let name = resource.rsplit('/').next().unwrap_or(resource);
    format!(
        "{}:assumed-role/{name}/{{{{SessionName}}}}",
        prefix.replacen(":iam:", ":sts:", 1)
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_username_is_the_roles_session_without_its_path() {
        let role = RoleArn::parse("RoleArn", "arn:aws-cn:iam::111122223333:role/a/b/svc").unwrap();
        assert_eq!(
            eks_default_username(&role),
            "arn:aws-cn:sts::111122223333:assumed-role/svc/{{SessionName}}"
        );
    }
}
