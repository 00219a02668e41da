//! How much the role may do: the access level (`cluster-admin`, the seed's grant and the default,
//! or one of Kubernetes' built-in user-facing roles `admin`, `edit`, `view`), the namespaces it
//! is limited to, the extra Kubernetes groups, and the username templates EKS renders. Pure: the
//! properties are checked here, before any call, each Reason naming its property.
//!
//! - Access policies: <https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html>
//! - Built-in ClusterRoles: <https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles>
//! - Usernames: <https://docs.aws.amazon.com/eks/latest/userguide/set-custom-username.html>

use serde_json::{Map, Value};

use crate::domain::arn::shown;
use crate::domain::error::{Error, Result};

/// The most namespaces one grant is scoped to (what an EKS access policy association takes:
/// `accessScope.namespaces`, up to 25 in the console and in `AWS::EKS::AccessEntry`).
pub const MAX_NAMESPACES: usize = 25;
/// The most extra groups (the same bound as `Groups`).
pub const MAX_KUBERNETES_GROUPS: usize = 20;
/// The prefixes EKS refuses at the start of an access entry's username and groups.
pub const RESERVED_PREFIXES: &[&str] = &["system:", "eks:", "aws:", "amazon:", "iam:"];
/// The templates of a role's username: EKS renders `{{SessionName}}` and `{{SessionNameRaw}}` on
/// access entries (set-custom-username.html) and the authenticator renders these and
/// `{{AccountID}}` in aws-auth (aws-iam-authenticator README, "mapRoles").
pub const USERNAME_TEMPLATES: &[&str] = &["{{AccountID}}", "{{SessionName}}", "{{SessionNameRaw}}"];

/// What the role is allowed, from `AccessLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AccessLevel {
    /// Everything: `system:masters` in aws-auth, AmazonEKSClusterAdminPolicy on an access entry.
    ClusterAdmin,
    /// Kubernetes' `admin` ClusterRole (AmazonEKSAdminPolicy).
    Admin,
    /// Kubernetes' `edit` ClusterRole (AmazonEKSEditPolicy).
    Edit,
    /// Kubernetes' `view` ClusterRole (AmazonEKSViewPolicy).
    View,
}

impl AccessLevel {
    /// Every level, as `AccessLevel` takes it.
    pub const ALL: [AccessLevel; 4] = [
        AccessLevel::ClusterAdmin,
        AccessLevel::Admin,
        AccessLevel::Edit,
        AccessLevel::View,
    ];

    /// The property's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::ClusterAdmin => "cluster-admin",
            AccessLevel::Admin => "admin",
            AccessLevel::Edit => "edit",
            AccessLevel::View => "view",
        }
    }

    /// The built-in aggregated ClusterRole our binding refers to; None for cluster-admin, which
    /// stays `system:masters` (no binding).
    pub fn cluster_role(self) -> Option<&'static str> {
        match self {
            AccessLevel::ClusterAdmin => None,
            other => Some(other.as_str()),
        }
    }

    /// The EKS access policy of the level.
    pub fn policy_name(self) -> &'static str {
        match self {
            AccessLevel::ClusterAdmin => "AmazonEKSClusterAdminPolicy",
            AccessLevel::Admin => "AmazonEKSAdminPolicy",
            AccessLevel::Edit => "AmazonEKSEditPolicy",
            AccessLevel::View => "AmazonEKSViewPolicy",
        }
    }

    fn parse(value: Option<&str>) -> Result<AccessLevel> {
        let Some(s) = value else {
            return Ok(AccessLevel::ClusterAdmin);
        };
        AccessLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "AccessLevel",
                    format!(
                        "expected cluster-admin, admin, edit or view, got {}",
                        shown(s)
                    ),
                )
            })
    }
}

/// The access part of the properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    pub level: AccessLevel,
    /// Empty: the whole cluster. Else sorted, without duplicates.
    pub namespaces: Vec<String>,
    /// Extra groups, in the order given, for RBAC the customer manages.
    pub kubernetes_groups: Vec<String>,
}

impl Access {
    /// Reads `AccessLevel`, `Namespaces` and `KubernetesGroups`.
    pub fn parse(props: &Map<String, Value>) -> Result<Access> {
        let level = match props.get("AccessLevel") {
            None | Some(Value::Null) => AccessLevel::ClusterAdmin,
            Some(Value::String(s)) if s.is_empty() => AccessLevel::ClusterAdmin,
            Some(Value::String(s)) => AccessLevel::parse(Some(s))?,
            Some(other) => {
                return Err(Error::invalid(
                    "AccessLevel",
                    format!("expected a string, got {}", kind(other)),
                ))
            }
        };
        let mut namespaces = list(props, "Namespaces")?;
        if namespaces.len() > MAX_NAMESPACES {
            return Err(Error::invalid(
                "Namespaces",
                format!(
                    "expected at most {MAX_NAMESPACES} namespaces, got {}",
                    namespaces.len()
                ),
            ));
        }
        for n in &namespaces {
            validate_namespace(n)?;
        }
        namespaces.sort();
        namespaces.dedup();
        if level == AccessLevel::ClusterAdmin && !namespaces.is_empty() {
            return Err(Error::invalid(
                "Namespaces",
                "cluster-admin is cluster-wide and cannot be limited to namespaces: set AccessLevel to admin, edit or view, or leave Namespaces empty",
            ));
        }
        let kubernetes_groups = list(props, "KubernetesGroups")?;
        if kubernetes_groups.len() > MAX_KUBERNETES_GROUPS {
            return Err(Error::invalid(
                "KubernetesGroups",
                format!("expected at most {MAX_KUBERNETES_GROUPS} groups"),
            ));
        }
        for g in &kubernetes_groups {
            validate_group(g)?;
        }
        Ok(Access {
            level,
            namespaces,
            kubernetes_groups,
        })
    }
}

/// A list property: a list of strings or a comma-separated string; absent or empty is none.
fn list(props: &Map<String, Value>, field: &str) -> Result<Vec<String>> {
    let items: Vec<String> = match props.get(field) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => s.split(',').map(|x| x.trim().to_string()).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_string()),
                other => Err(Error::invalid(
                    field,
                    format!("expected a list of strings, found {}", kind(other)),
                )),
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(Error::invalid(
                field,
                format!(
                    "expected a string or a list of strings, got {}",
                    kind(other)
                ),
            ))
        }
    };
    if let Some(i) = items.iter().position(String::is_empty) {
        return Err(Error::invalid(
            field,
            format!(
                "item {} of the list is empty: expected names separated by single commas",
                i + 1
            ),
        ));
    }
    Ok(items)
}

/// A namespace name is a DNS-1123 label: 1-63 of `a-z`, `0-9` and `-`, starting and ending with
/// a letter or digit.
/// <https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-label-names>
fn validate_namespace(s: &str) -> Result<()> {
    let b = s.as_bytes();
    let ok = (1..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-';
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "Namespaces",
            format!("expected namespace names (DNS-1123 labels: 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit), got {}", shown(s)),
        ))
    }
}

/// An extra group: printable, no spaces, bounded, and not a reserved prefix (EKS refuses
/// `system:` and its other prefixes on an access entry's kubernetesGroups; refused everywhere so
/// one property means the same on every kind of cluster).
fn validate_group(g: &str) -> Result<()> {
    let printable = g.len() <= 256 && g.chars().all(|c| !c.is_control() && !c.is_whitespace());
    if !printable {
        return Err(Error::invalid(
            "KubernetesGroups",
            format!(
                "expected 1-256 printable characters without spaces, got {}",
                shown(g)
            ),
        ));
    }
    if let Some(p) = reserved_prefix(g) {
        return Err(Error::invalid(
            "KubernetesGroups",
            format!("a group cannot start with {p} (EKS reserves system:, eks:, aws:, amazon: and iam:), got {}", shown(g)),
        ));
    }
    Ok(())
}

fn reserved_prefix(s: &str) -> Option<&'static str> {
    let lower = s.to_ascii_lowercase();
    RESERVED_PREFIXES
        .iter()
        .copied()
        .find(|p| lower.starts_with(p))
}

/// A username given in `Username`: no reserved prefix, and every `{{...}}` one of
/// [`USERNAME_TEMPLATES`] (a typo would otherwise reach the audit log as written).
pub fn validate_username(u: &str) -> Result<()> {
    if let Some(p) = reserved_prefix(u) {
        return Err(Error::invalid(
            "Username",
            format!("a username cannot start with {p} (EKS reserves system:, eks:, aws:, amazon: and iam:), got {}", shown(u)),
        ));
    }
    let mut rest = u;
    while let Some(i) = rest.find(['{', '}']) {
        let tail = &rest[i..];
        match USERNAME_TEMPLATES.iter().find(|t| tail.starts_with(**t)) {
            Some(t) => rest = &tail[t.len()..],
            None => {
                return Err(Error::invalid(
                    "Username",
                    format!(
                        "braces only in the templates {}, got {}",
                        USERNAME_TEMPLATES.join(", "),
                        shown(u)
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// How a JSON value is named in a Reason.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Access> {
        Access::parse(v.as_object().unwrap())
    }

    #[test]
    fn nothing_given_is_todays_cluster_admin_grant() {
        let a = parse(json!({})).unwrap();
        assert_eq!(a.level, AccessLevel::ClusterAdmin);
        assert!(a.namespaces.is_empty() && a.kubernetes_groups.is_empty());
        assert_eq!(a.level.cluster_role(), None);
        assert_eq!(a.level.policy_name(), "AmazonEKSClusterAdminPolicy");
    }

    #[test]
    fn namespaces_are_sorted_deduplicated_and_only_below_cluster_admin() {
        let a = parse(json!({"AccessLevel": "view", "Namespaces": "ml, data,ml"})).unwrap();
        assert_eq!(a.namespaces, ["data", "ml"]);
        assert_eq!(a.level.cluster_role(), Some("view"));
        assert_eq!(a.level.policy_name(), "AmazonEKSViewPolicy");
        let err = parse(json!({"Namespaces": ["ml"]}))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("Namespaces: cluster-admin is cluster-wide"),
            "{err}"
        );
    }

    #[test]
    fn each_bad_value_names_its_property() {
        let many: Vec<String> = (0..26).map(|i| format!("n{i}")).collect();
        for (props, want) in [
            (
                json!({"AccessLevel": "Admin"}),
                "AccessLevel: expected cluster-admin, admin, edit or view",
            ),
            (json!({"AccessLevel": 3}), "AccessLevel: expected a string"),
            (
                json!({"AccessLevel": "view", "Namespaces": "ML"}),
                "Namespaces: expected namespace names",
            ),
            (
                json!({"AccessLevel": "view", "Namespaces": "-a"}),
                "Namespaces: expected namespace names",
            ),
            (
                json!({"AccessLevel": "view", "Namespaces": "a,,b"}),
                "Namespaces: item 2 of the list is empty",
            ),
            (
                json!({"AccessLevel": "view", "Namespaces": many}),
                "Namespaces: expected at most 25",
            ),
            (
                json!({"AccessLevel": "view", "Namespaces": "a".repeat(64)}),
                "Namespaces: expected namespace names",
            ),
            (
                json!({"KubernetesGroups": "system:masters"}),
                "KubernetesGroups: a group cannot start with system:",
            ),
            (
                json!({"KubernetesGroups": ["ok", 1]}),
                "KubernetesGroups: expected a list of strings",
            ),
            (
                json!({"KubernetesGroups": "a b"}),
                "KubernetesGroups: expected 1-256 printable",
            ),
        ] {
            let err = parse(props.clone()).unwrap_err().to_string();
            assert!(err.starts_with(want), "{props}: {err}");
        }
    }

    #[test]
    fn usernames_take_the_eks_templates_and_nothing_like_them() {
        for ok in [
            "arn:aws:sts::111122223333:assumed-role/R/{{SessionName}}",
            "concurrent:{{AccountID}}:{{SessionNameRaw}}",
            "plain",
        ] {
            validate_username(ok).unwrap();
        }
        for (bad, want) in [
            ("x/{{SessionID}}", "braces only in the templates"),
            ("x/{{SessionName}", "braces only in the templates"),
            ("x}", "braces only in the templates"),
            ("system:node:x", "cannot start with system:"),
            ("Amazon:x", "cannot start with amazon:"),
        ] {
            let err = validate_username(bad).unwrap_err().to_string();
            assert!(err.starts_with("Username: ") && err.contains(want), "{err}");
        }
    }
}
