//! The custom resource's properties. CloudFormation sends every value as a string (or a list of
//! strings): numbers and booleans arrive stringified. Anything unknown or malformed is refused here,
//! before any call is made, with the field named.

use serde_json::Value;

use crate::access::{kind, validate_username, Access, AccessLevel};
use crate::arn::{shown, RoleArn};
use crate::error::{Error, Result};

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
];

/// The group the seed's Step 2 maps the role to.
pub const DEFAULT_GROUP: &str = "system:masters";
/// The access policy that grants cluster-admin.
pub const CLUSTER_ADMIN_POLICY_NAME: &str = "AmazonEKSClusterAdminPolicy";
const MAX_TEXT: usize = 256;

/// How to grant access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Method {
    /// Access entry where the cluster's mode allows it, else aws-auth.
    Auto,
    AccessEntry,
    AwsAuth,
}

/// The most clusters one resource handles by name (EKS's default quota per region is 100).
pub const MAX_CLUSTERS: usize = 100;

/// Which clusters the role is mapped into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clusters {
    /// These, in the order given, without duplicates.
    Named(Vec<String>),
    /// Every ACTIVE cluster of the region (`*`): StackSets give every account the same
    /// parameters, while cluster names differ from account to account.
    All,
}

impl Clusters {
    /// Parses `ClusterName`: one name, names separated by commas (or a list), or `*`.
    pub fn parse(value: Option<&Value>) -> Result<Clusters> {
        const FIELD: &str = "ClusterName";
        let items: Vec<String> = match value {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s.split(',').map(|c| c.trim().to_string()).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.trim().to_string()),
                    other => Err(Error::invalid(
                        FIELD,
                        format!("expected a list of cluster names, found {}", kind(other)),
                    )),
                })
                .collect::<Result<_>>()?,
            Some(other) => {
                return Err(Error::invalid(
                    FIELD,
                    format!("expected a string, got {}", kind(other)),
                ))
            }
        };
        if items.is_empty() || items == [""] {
            return Err(Error::invalid(
                FIELD,
                "required: the name of the EKS cluster, names separated by commas, or * for every ACTIVE cluster of the region",
            ));
        }
        if items.iter().any(|c| c == "*") {
            if items.len() > 1 {
                return Err(Error::invalid(
                    FIELD,
                    "expected * alone, not * among cluster names",
                ));
            }
            return Ok(Clusters::All);
        }
        let mut names: Vec<String> = Vec::with_capacity(items.len());
        for (i, name) in items.into_iter().enumerate() {
            if name.is_empty() {
                return Err(Error::invalid(
                    FIELD,
                    format!("cluster name {} of the list is empty: expected names separated by single commas", i + 1),
                ));
            }
            validate_cluster_name(FIELD, &name)?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if names.len() > MAX_CLUSTERS {
            return Err(Error::invalid(
                FIELD,
                format!("expected at most {MAX_CLUSTERS} cluster names, got {} (use * for every cluster of the region)", names.len()),
            ));
        }
        Ok(Clusters::Named(names))
    }
}

impl std::fmt::Display for Clusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Clusters::All => f.write_str("every ACTIVE cluster"),
            Clusters::Named(n) => f.write_str(&n.join(",")),
        }
    }
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
}

fn string(props: &serde_json::Map<String, Value>, field: &str) -> Result<Option<String>> {
    match props.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::invalid(
            field,
            format!("expected a string, got {}", kind(other)),
        )),
    }
}

/// EKS cluster names: 1-100 of letters, digits, '-' and '_', starting with a letter or digit.
pub fn validate_cluster_name(field: &str, s: &str) -> Result<()> {
    let ok = (1..=100).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("expected an EKS cluster name (1-100 letters, digits, '-' or '_', starting with a letter or digit), got {}", shown(s)),
        ))
    }
}

/// Text that goes into aws-auth or an access entry: printable, no line breaks, bounded.
fn validate_identity_text(field: &str, s: &str, allow_space: bool) -> Result<()> {
    let bad = s
        .chars()
        .any(|c| c.is_control() || (!allow_space && c.is_whitespace()));
    if s.is_empty() || s.len() > MAX_TEXT || bad || s.trim() != s {
        return Err(Error::invalid(
            field,
            format!(
                "expected 1-{MAX_TEXT} printable characters without line breaks{}, got {}",
                if allow_space { "" } else { " or spaces" },
                shown(s)
            ),
        ));
    }
    Ok(())
}

fn groups(props: &serde_json::Map<String, Value>) -> Result<Vec<String>> {
    let raw: Vec<String> = match props.get("Groups") {
        None | Some(Value::Null) => return Ok(vec![DEFAULT_GROUP.to_string()]),
        Some(Value::String(s)) if s.is_empty() => return Ok(vec![DEFAULT_GROUP.to_string()]),
        Some(Value::String(s)) => s.split(',').map(|g| g.trim().to_string()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(Error::invalid(
                    "Groups",
                    format!("expected a list of strings, found {}", kind(other)),
                )),
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(Error::invalid(
                "Groups",
                format!(
                    "expected a string or a list of strings, got {}",
                    kind(other)
                ),
            ))
        }
    };
    if raw.is_empty() || raw.len() > 20 {
        return Err(Error::invalid("Groups", "expected 1 to 20 group names"));
    }
    for g in &raw {
        validate_identity_text("Groups", g, false)?;
    }
    Ok(raw)
}

/// Whether a property holds anything (a non-empty string or a list).
fn string_or_list_given(props: &serde_json::Map<String, Value>, field: &str) -> bool {
    match props.get(field) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

fn boolean(props: &serde_json::Map<String, Value>, field: &str) -> Result<bool> {
    match string(props, field)?.as_deref() {
        None => Ok(false),
        Some(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(s) => Err(Error::invalid(
            field,
            format!("expected \"true\" or \"false\", got {}", shown(s)),
        )),
    }
}

fn region(s: &str) -> Result<String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = s.len() <= 32
        && parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(s.to_string())
    } else {
        Err(Error::invalid(
            "Region",
            format!("expected an AWS region like us-east-1, got {}", shown(s)),
        ))
    }
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
        let cluster_admin_external_id = string(props, "ClusterAdminExternalId")?;
        if let Some(x) = &cluster_admin_external_id {
            let ok = (2..=1224).contains(&x.len())
                && x.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b));
            if !ok {
                return Err(Error::invalid(
                    "ClusterAdminExternalId",
                    "expected 2 to 1224 characters of letters, digits and _+=,.@:/-",
                ));
            }
            if cluster_admin_role.is_none() {
                return Err(Error::invalid(
                    "ClusterAdminExternalId",
                    "only meaningful with ClusterAdminRoleArn",
                ));
            }
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:f", "ClusterName": "prod", "RoleArn": "arn:aws:iam::111122223333:role/R"})
    }

    #[test]
    fn defaults_follow_the_seed_script() {
        let p = Properties::parse(&base()).unwrap();
        assert_eq!(p.username, "arn:aws:iam::111122223333:role/R");
        assert_eq!(p.groups, vec!["system:masters"]);
        assert_eq!(p.method, Method::Auto);
        assert!(!p.enable_access_entries);
        assert_eq!(
            p.access_policy_arn,
            "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        );
    }

    #[test]
    fn each_bad_value_names_its_field() {
        let cases = [
            ("Nope", json!("x"), "Nope: unknown property"),
            ("ClusterName", json!(""), "ClusterName: required"),
            (
                "ClusterName",
                json!("-bad"),
                "ClusterName: expected an EKS cluster name",
            ),
            (
                "ClusterName",
                json!(5),
                "ClusterName: expected a string, got a number",
            ),
            (
                "Groups",
                json!(["a", 1]),
                "Groups: expected a list of strings",
            ),
            (
                "Groups",
                json!("system:masters\n- rolearn: x"),
                "Groups: expected 1-256 printable",
            ),
            ("Username", json!("a\nb"), "Username: expected"),
            ("Method", json!("Magic"), "Method: expected Auto"),
            (
                "EnableAccessEntries",
                json!("yes"),
                "EnableAccessEntries: expected \"true\"",
            ),
            ("Region", json!("moon"), "Region: expected an AWS region"),
        ];
        for (k, v, want) in cases {
            let mut e = base();
            e[k] = v;
            let err = Properties::parse(&e).unwrap_err().to_string();
            assert!(err.starts_with(want), "{k}: {err}");
        }
    }

    #[test]
    fn cluster_lists_and_the_wildcard() {
        let parse = |v: Value| Clusters::parse(Some(&v));
        assert_eq!(
            parse(json!("a, b,a")).unwrap(),
            Clusters::Named(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            parse(json!(["x", "y"])).unwrap(),
            Clusters::Named(vec!["x".into(), "y".into()])
        );
        assert_eq!(parse(json!("*")).unwrap(), Clusters::All);
        assert_eq!(
            parse(json!("prod")).unwrap(),
            Clusters::Named(vec!["prod".into()])
        );
        let many = (0..=MAX_CLUSTERS)
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>()
            .join(",");
        for (bad, want) in [
            (json!("a,,b"), "cluster name 2 of the list is empty"),
            (json!("a,*"), "expected * alone"),
            (json!("a,-b"), "expected an EKS cluster name"),
            (json!(many), "expected at most 100 cluster names"),
            (json!([1]), "expected a list of cluster names"),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("ClusterName: ") && err.contains(want),
                "{err}"
            );
        }
    }
}
