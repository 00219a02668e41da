//! The custom resource's properties. CloudFormation sends every value as a string (or a list of
//! strings): numbers and booleans arrive stringified. Anything unknown or malformed is refused here,
//! before any call is made, with the field named.

use serde_json::Value;

use crate::domain::access::{kind, validate_username, Access, AccessLevel};
use crate::domain::arn::{shown, RoleArn};
use crate::domain::error::{Error, Result};

mod clusters;
mod fields;

pub use clusters::Clusters;
mod registration;

use fields::{
    boolean, external_id, groups, region, string, string_or_list_given, validate_identity_text,
};
pub use registration::{ExternalIdSource, Outgoing, Registration};

/// Every property the function accepts (the template test checks against this).
pub const KNOWN_PROPERTIES: &[&str] = &[
    "ServiceToken",
    "ServiceTimeout",
    "ClusterName",
    "RoleArn",
    "Username",
    "Groups",
    "AccessPolicyArn",
    "Method",
    "ClusterAdminRoleArn",
    "ClusterAdminExternalId",
    "EnableAccessEntries",
    "Region",
    "AccessLevel",
    "Namespaces",
    "KubernetesGroups",
    "RegistrationTopicArn",
    "ExternalId",
    "ExternalIdSecretArn",
];

/// The group the seed's Step 2 maps the role to.
pub const DEFAULT_GROUP: &str = "system:masters";
/// The access policy that grants cluster-admin.
pub const CLUSTER_ADMIN_POLICY_NAME: &str = "AmazonEKSClusterAdminPolicy";
pub(super) const MAX_TEXT: usize = 256;

/// How to grant access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Method {
    /// Access entry where the cluster's mode allows it, else aws-auth.
    Auto,
    AccessEntry,
    AwsAuth,
}

/// Validated properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Properties {
    pub clusters: Clusters,
    pub role: RoleArn,
    pub username: String,
    pub groups: Vec<String>,
    pub access_policy_arn: String,
    pub method: Method,
    pub cluster_admin_role: Option<RoleArn>,
    pub cluster_admin_external_id: Option<String>,
    pub enable_access_entries: bool,
    pub region: Option<String>,
    /// The level, its namespaces and the extra groups.
    pub access: Access,
    /// `Username` as given, for an access entry (None: EKS makes its session-aware default).
    pub entry_username: Option<String>,
    /// Where to register the role with the service after each successful request (None: off).
    pub registration: Option<Registration>,
}

impl Properties {
    /// For Delete: the properties as far as they can be read, unknown keys left out, so the
    /// clusters and the admin role are still known when something else no longer validates.
    pub fn parse_lenient(value: &Value) -> Option<Properties> {
        Properties::parse(value).ok().or_else(|| {
            let known: serde_json::Map<String, Value> = value
                .as_object()?
                .iter()
                .filter(|(k, _)| KNOWN_PROPERTIES.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Properties::parse(&Value::Object(known)).ok()
        })
    }

    /// Refuses role ARNs of another partition than the stack's (`stack_id`,
    /// `arn:PARTITION:cloudformation:...`): a role is in its account's partition, and every
    /// partition is accepted by [`RoleArn::parse`] alone. A stack id that names no partition is
    /// left to the guard, which refuses any stack but its own.
    pub fn in_partition_of(&self, stack_id: &str) -> Result<()> {
        let Some(partition) = crate::domain::arn::stack_partition(stack_id) else {
            return Ok(());
        };
        for (field, role) in [
            ("RoleArn", Some(&self.role)),
            ("ClusterAdminRoleArn", self.cluster_admin_role.as_ref()),
        ] {
            if let Some(role) = role.filter(|r| r.partition() != partition) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "expected an IAM role ARN like arn:{partition}:iam::123456789012:role/NAME (the stack's partition, {partition}), got one of {}",
                        role.partition()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Parses and validates ResourceProperties.
    pub fn parse(value: &Value) -> Result<Properties> {
        let Value::Object(props) = value else {
            return Err(Error::invalid(
                "ResourceProperties",
                format!("expected a map, got {}", kind(value)),
            ));
        };
        if let Some(unknown) = props
            .keys()
            .find(|k| !KNOWN_PROPERTIES.contains(&k.as_str()))
        {
            let plain = unknown.len() <= 64 && unknown.bytes().all(|b| b.is_ascii_alphanumeric());
            let name = if plain {
                unknown.clone()
            } else {
                let quoted = shown(unknown);
                quoted.trim_start_matches('"').replacen("\"", "", 1)
            };
            return Err(Error::invalid(
                &name,
                format!(
                    "unknown property; expected one of {}",
                    KNOWN_PROPERTIES[2..].join(", ")
                ),
            ));
        }
        let clusters = Clusters::parse(props.get("ClusterName"))?;
        let role_text = string(props, "RoleArn")?
            .ok_or_else(|| Error::invalid("RoleArn", "required: the ARN of the IAM role to map"))?;
        let role = RoleArn::parse("RoleArn", &role_text)?;
        let entry_username = string(props, "Username")?;
        let username = match entry_username.clone() {
            Some(u) => {
                validate_identity_text("Username", &u, false)?;
                validate_username(&u)?;
                u
            }
            None => role.as_str().to_string(),
        };
        let method = match string(props, "Method")?.as_deref() {
            None | Some("Auto") => Method::Auto,
            Some("AccessEntry") => Method::AccessEntry,
            Some("AwsAuth") => Method::AwsAuth,
            Some(other) => {
                return Err(Error::invalid(
                    "Method",
                    format!(
                        "expected Auto, AccessEntry or AwsAuth, got {}",
                        shown(other)
                    ),
                ))
            }
        };
        let access = Access::parse(props)?;
        let explicit_policy = string(props, "AccessPolicyArn")?;
        if access.level != AccessLevel::ClusterAdmin {
            // Each level has its own policy and group: a second way to say it could contradict.
            for (field, given) in [
                ("AccessPolicyArn", explicit_policy.is_some()),
                ("Groups", string_or_list_given(props, "Groups")),
            ] {
                if given {
                    return Err(Error::invalid(
                        field,
                        format!("only with AccessLevel cluster-admin: {} has its own access policy and group (use KubernetesGroups for groups of your own)", access.level.as_str()),
                    ));
                }
            }
        }
        let access_policy_arn = match explicit_policy {
            Some(p) => {
                let ok = p.starts_with("arn:")
                    && p.contains(":eks::aws:cluster-access-policy/")
                    && p.len() <= 256
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b":/-_".contains(&b));
                if !ok {
                    return Err(Error::invalid("AccessPolicyArn", format!("expected an EKS access policy ARN like arn:aws:eks::aws:cluster-access-policy/{CLUSTER_ADMIN_POLICY_NAME}, got {}", shown(&p))));
                }
                p
            }
            None => format!(
                "arn:{}:eks::aws:cluster-access-policy/{}",
                role.partition(),
                access.level.policy_name()
            ),
        };
        let cluster_admin_role = string(props, "ClusterAdminRoleArn")?
            .map(|s| RoleArn::parse("ClusterAdminRoleArn", &s))
            .transpose()?;
        let cluster_admin_external_id = string(props, "ClusterAdminExternalId")?
            .map(|x| external_id("ClusterAdminExternalId", &x))
            .transpose()?;
        if cluster_admin_external_id.is_some() && cluster_admin_role.is_none() {
            return Err(Error::invalid(
                "ClusterAdminExternalId",
                "only meaningful with ClusterAdminRoleArn",
            ));
        }
        Ok(Properties {
            clusters,
            role,
            username,
            groups: groups(props)?,
            access_policy_arn,
            method,
            cluster_admin_role,
            cluster_admin_external_id,
            enable_access_entries: boolean(props, "EnableAccessEntries")?,
            region: string(props, "Region")?.map(|r| region(&r)).transpose()?,
            access,
            entry_username,
            registration: registration::parse(props)?,
        })
    }
}

#[cfg(test)]
mod tests;
