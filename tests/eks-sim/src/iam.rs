//! IAM policy evaluation for identity-based policies, as AWS documents it, pure (no I/O, no
//! simulator state): <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>
//!
//! - An explicit `Deny` in any statement that applies wins; otherwise an `Allow` that applies
//!   allows; otherwise the request is implicitly denied.
//! - A statement applies when its `Action` (or `NotAction`), its `Resource` (or `NotResource`) and
//!   every one of its conditions match the request
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html>).
//! - Actions match case-insensitively with `*` and `?`; resources match ARN segment by segment,
//!   case-sensitively, `*` and `?` within a segment and anywhere in the last one
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html>).
//! - Conditions: the operators below, with `...IfExists`, `ForAllValues:` and `ForAnyValue:`; keys
//!   case-insensitive; several keys of one operator, and several operators, are ANDed; several
//!   values of one key are ORed
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>,
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>).
//!
//! Also here: the table of the EKS and STS actions the simulator serves, with the resource type
//! each authorizes on and its condition keys, from the Service Authorization Reference
//! (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelastickubernetesservice.html>);
//! a test compares it with a maintained machine-readable copy of that reference.

use std::collections::BTreeMap;

use serde_json::Value;

/// What one request asks IAM.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `service:Action`.
    pub action: String,
    /// The ARN the action authorizes on, or `*` for actions without a resource type.
    pub resource: String,
    /// The request context: key (any case) -> values (one for single-valued keys). A key absent
    /// here is absent from the request.
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    pub fn new(action: &str, resource: &str) -> Request {
        Request {
            action: action.to_string(),
            resource: resource.to_string(),
            context: BTreeMap::new(),
        }
    }

    /// Adds a context key's values.
    pub fn with(mut self, key: &str, values: &[&str]) -> Request {
        self.context.insert(
            key.to_lowercase(),
            values.iter().map(|v| v.to_string()).collect(),
        );
        self
    }

    fn values(&self, key: &str) -> Option<&Vec<String>> {
        self.context.get(&key.to_lowercase())
    }
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A `Deny` statement applied.
    ExplicitDeny,
    /// No `Allow` statement applied.
    ImplicitDeny,
}

/// Evaluates `request` against identity-based policy documents.
pub fn evaluate(policies: &[Value], request: &Request) -> Decision {
    let mut allowed = false;
    for doc in policies {
        for st in statements(doc) {
            if !applies(st, request) {
                continue;
            }
            match st["Effect"].as_str() {
                Some("Deny") => return Decision::ExplicitDeny,
                Some("Allow") => allowed = true,
                _ => {}
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![&doc["Statement"]],
        _ => vec![],
    }
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        Value::Bool(true) => vec!["true"],
        Value::Bool(false) => vec!["false"],
        _ => vec![],
    }
}

fn applies(st: &Value, r: &Request) -> bool {
    let action = if st.get("Action").is_some() {
        strings(&st["Action"])
            .iter()
            .any(|p| glob(&p.to_lowercase(), &r.action.to_lowercase()))
    } else if st.get("NotAction").is_some() {
        !strings(&st["NotAction"])
            .iter()
            .any(|p| glob(&p.to_lowercase(), &r.action.to_lowercase()))
    } else {
        false
    };
    let resource = if st.get("Resource").is_some() {
        strings(&st["Resource"])
            .iter()
            .any(|p| resource_matches(p, &r.resource))
    } else if st.get("NotResource").is_some() {
        !strings(&st["NotResource"])
            .iter()
            .any(|p| resource_matches(p, &r.resource))
    } else {
        false
    };
    action && resource && conditions_match(&st["Condition"], r)
}

/// `*` any run of characters, `?` one; everything else literally.
pub fn glob(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    // Iterative wildcard match with backtracking on the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || p[i] == v[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}

/// An ARN pattern against an ARN: `*` alone matches anything; otherwise the six segments of each
/// (`arn:partition:service:region:account:resource`) match one by one, the last one whole.
pub fn resource_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    if a.len() != 6 {
        return glob(pattern, arn);
    }
    if p.len() != 6 {
        // Not an ARN pattern: never matches an ARN.
        return false;
    }
    p.iter().zip(&a).all(|(p, a)| glob(p, a))
}

fn conditions_match(cond: &Value, r: &Request) -> bool {
    let Some(ops) = cond.as_object() else {
        return true;
    };
    ops.iter().all(|(op, keys)| {
        keys.as_object()
            .is_some_and(|k| k.iter().all(|(key, want)| operator(op, key, want, r)))
    })
}

fn operator(op: &str, key: &str, want: &Value, r: &Request) -> bool {
    let (set, op) = match op.split_once(':') {
        Some((s @ ("ForAllValues" | "ForAnyValue"), rest)) => (Some(s), rest),
        _ => (None, op),
    };
    let (op, if_exists) = match op.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (op, false),
    };
    let wanted = strings(want);
    let got = r.values(key);
    if op == "Null" {
        // "true": the key must be absent; "false": present.
        let absent = got.is_none_or(Vec::is_empty);
        return wanted.iter().any(|w| (*w == "true") == absent);
    }
    let negated = op.contains("Not");
    let one = |value: &str| -> bool {
        let hit = wanted.iter().any(|w| compare(op, w, value));
        if negated {
            !wanted.iter().any(|w| compare(op, w, value))
        } else {
            hit
        }
    };
    match (set, got) {
        // ForAllValues: every value in the request matches; true when the key is absent or empty.
        (Some("ForAllValues"), None) => true,
        (Some("ForAllValues"), Some(vals)) => vals.iter().all(|v| one(v)),
        // ForAnyValue: at least one value matches; false when absent.
        (Some(_), None) => false,
        (Some(_), Some(vals)) => vals.iter().any(|v| one(v)),
        // Single-valued: an absent key matches only ...IfExists and the negated operators.
        (None, None) => if_exists || negated,
        (None, Some(vals)) => vals.iter().any(|v| one(v)),
    }
}

/// Whether `value` satisfies the (non-negated form of) operator `op` against `policy`.
fn compare(op: &str, policy: &str, value: &str) -> bool {
    match op {
        "StringEquals" | "StringNotEquals" => policy == value,
        "StringEqualsIgnoreCase" | "StringNotEqualsIgnoreCase" => {
            policy.to_lowercase() == value.to_lowercase()
        }
        "StringLike" | "StringNotLike" => glob(policy, value),
        // ArnEquals and ArnLike behave the same: segment-wise, wildcards allowed.
        "ArnEquals" | "ArnLike" | "ArnNotEquals" | "ArnNotLike" => resource_matches(policy, value),
        "Bool" => policy.eq_ignore_ascii_case(value),
        // An operator this evaluator does not know never matches (fails closed for Allow).
        _ => false,
    }
}

/// The resource type an action authorizes on, per the Service Authorization Reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// `arn:${Partition}:eks:${Region}:${Account}:cluster/${ClusterName}`
    Cluster,
    /// `arn:${Partition}:eks:${Region}:${Account}:access-entry/${ClusterName}/${IamIdentityType}/${IamIdentityAccountID}/${IamIdentityName}/${UUID}`
    AccessEntry,
    /// `arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}`
    Role,
    /// `arn:${Partition}:cloudformation:${Region}:${Account}:stack/${StackName}/${Id}`
    Stack,
    /// `arn:${Partition}:sns:${Region}:${Account}:${TopicName}`
    Topic,
    /// `arn:${Partition}:secretsmanager:${Region}:${Account}:secret:${SecretId}`
    Secret,
    /// No resource type: the statement's Resource must be `*`.
    None,
}

/// One action the simulator serves: its required resource type and the action's condition keys.
#[derive(Debug, Clone, Copy)]
pub struct ActionInfo {
    pub action: &'static str,
    pub resource: ResourceType,
    pub condition_keys: &'static [&'static str],
}

/// The EKS actions the simulator serves, STS's AssumeRole, IAM's PassRole (which CreateCluster
/// also needs on the cluster role) and CloudFormation's DescribeStackResource, as the Service
/// Authorization Reference lists them (resource type marked required, action-level condition keys). Checked
/// against the reference's machine-readable copy by `tests/integration/tests/iam_reference.rs`.
pub const ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        action: "eks:ListClusters",
        resource: ResourceType::None,
        condition_keys: &[],
    },
    ActionInfo {
        action: "eks:DescribeClusterVersions",
        resource: ResourceType::None,
        condition_keys: &[],
    },
    ActionInfo {
        action: "eks:CreateCluster",
        // No resource type: the statement's Resource must be "*". Of the reference's keys, the
        // ones this simulator's CreateCluster fills.
        resource: ResourceType::None,
        condition_keys: &[
            "aws:RequestTag/${TagKey}",
            "aws:TagKeys",
            "eks:authenticationMode",
            "eks:bootstrapClusterCreatorAdminPermissions",
            "eks:kubernetesVersion",
        ],
    },
    ActionInfo {
        action: "eks:DeleteCluster",
        resource: ResourceType::Cluster,
        condition_keys: &[],
    },
    ActionInfo {
        action: "iam:PassRole",
        resource: ResourceType::Role,
        condition_keys: &["iam:PassedToService"],
    },
    ActionInfo {
        action: "cloudformation:DescribeStackResource",
        resource: ResourceType::Stack,
        condition_keys: &[],
    },
    ActionInfo {
        action: "eks:DescribeCluster",
        resource: ResourceType::Cluster,
        condition_keys: &[],
    },
    ActionInfo {
        action: "eks:UpdateClusterConfig",
        resource: ResourceType::Cluster,
        // Of the reference's keys, the one this simulator's UpdateClusterConfig (access config
        // only) fills.
        condition_keys: &["eks:authenticationMode"],
    },
    ActionInfo {
        action: "eks:DescribeUpdate",
        resource: ResourceType::Cluster,
        condition_keys: &[],
    },
    ActionInfo {
        action: "eks:ListUpdates",
        resource: ResourceType::Cluster,
        condition_keys: &[],
    },
    ActionInfo {
        action: "eks:CreateAccessEntry",
        resource: ResourceType::Cluster,
        condition_keys: &[
            "aws:RequestTag/${TagKey}",
            "aws:TagKeys",
            "eks:accessEntryType",
            "eks:kubernetesGroups",
            "eks:principalArn",
            "eks:username",
        ],
    },
    ActionInfo {
        action: "eks:ListAccessEntries",
        resource: ResourceType::Cluster,
        condition_keys: &[],
    },
    ActionInfo {
        action: "eks:DescribeAccessEntry",
        resource: ResourceType::AccessEntry,
        condition_keys: &[],
    },
    ActionInfo {
        action: "eks:DeleteAccessEntry",
        resource: ResourceType::AccessEntry,
        condition_keys: &[],
    },
    ActionInfo {
        action: "eks:UpdateAccessEntry",
        resource: ResourceType::AccessEntry,
        // The reference lists no keys of the action's own: eks:kubernetesGroups and eks:username
        // come with the access-entry resource type (ACCESS_ENTRY_RESOURCE_KEYS), from the request.
        condition_keys: &[],
    },
    ActionInfo {
        action: "eks:AssociateAccessPolicy",
        resource: ResourceType::AccessEntry,
        condition_keys: &["eks:accessScope", "eks:namespaces", "eks:policyArn"],
    },
    ActionInfo {
        action: "eks:DisassociateAccessPolicy",
        resource: ResourceType::AccessEntry,
        condition_keys: &["eks:accessScope", "eks:namespaces", "eks:policyArn"],
    },
    ActionInfo {
        action: "eks:ListAssociatedAccessPolicies",
        resource: ResourceType::AccessEntry,
        condition_keys: &[],
    },
    ActionInfo {
        action: "eks:TagResource",
        resource: ResourceType::AccessEntry,
        condition_keys: &["aws:RequestTag/${TagKey}", "aws:TagKeys"],
    },
    ActionInfo {
        action: "eks:UntagResource",
        resource: ResourceType::AccessEntry,
        condition_keys: &["aws:TagKeys"],
    },
    ActionInfo {
        action: "sns:Publish",
        resource: ResourceType::Topic,
        condition_keys: &[],
    },
    ActionInfo {
        action: "secretsmanager:GetSecretValue",
        resource: ResourceType::Secret,
        // Of the reference's keys, the one this simulator's GetSecretValue fills.
        condition_keys: &["secretsmanager:SecretId"],
    },
    ActionInfo {
        action: "sts:AssumeRole",
        resource: ResourceType::Role,
        condition_keys: &["aws:RequestTag/${TagKey}", "aws:TagKeys", "sts:ExternalId"],
    },
];

/// The table's row for `action`.
pub fn action_info(action: &str) -> Option<&'static ActionInfo> {
    ACTIONS
        .iter()
        .find(|a| a.action.eq_ignore_ascii_case(action))
}

/// The resource keys of the access-entry resource type (present on every access-entry action).
pub const ACCESS_ENTRY_RESOURCE_KEYS: &[&str] = &[
    "aws:ResourceTag/${TagKey}",
    "eks:accessEntryType",
    "eks:clusterName",
    "eks:kubernetesGroups",
    "eks:principalArn",
    "eks:username",
];

/// The access-entry ARN of `principal` on a cluster: `arn:P:eks:R:A:access-entry/CLUSTER/
/// {role|user}/PRINCIPAL_ACCOUNT/NAME/UUID` (the reference's ARN format; the name without its
/// path). `uuid` stands for the id EKS gives each entry.
pub fn access_entry_arn(cluster_arn: &str, principal: &str, uuid: &str) -> String {
    let (prefix, cluster) = cluster_arn
        .rsplit_once(":cluster/")
        .unwrap_or((cluster_arn, ""));
    let account = principal.split(':').nth(4).unwrap_or_default();
    let resource = principal.splitn(6, ':').nth(5).unwrap_or_default();
    let (kind, rest) = resource.split_once('/').unwrap_or((resource, ""));
    let name = rest.rsplit('/').next().unwrap_or(rest);
    format!("{prefix}:access-entry/{cluster}/{kind}/{account}/{name}/{uuid}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allow(action: &str, resource: &str) -> Value {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]})
    }

    fn eval(p: &Value, r: &Request) -> Decision {
        evaluate(std::slice::from_ref(p), r)
    }

    const CLUSTER: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod";

    #[test]
    fn explicit_deny_beats_allow_which_beats_the_implicit_deny() {
        let r = Request::new("eks:DescribeCluster", CLUSTER);
        assert_eq!(evaluate(&[], &r), Decision::ImplicitDeny);
        let a = allow("eks:DescribeCluster", CLUSTER);
        assert_eq!(eval(&a, &r), Decision::Allow);
        let d = json!({"Statement": {"Effect": "Deny", "Action": "eks:*", "Resource": "*"}});
        assert_eq!(
            evaluate(&[a.clone(), d.clone()], &r),
            Decision::ExplicitDeny
        );
        assert_eq!(evaluate(&[d, a], &r), Decision::ExplicitDeny);
        // Another action or resource: not allowed.
        let a = allow("eks:DescribeCluster", CLUSTER);
        assert_eq!(
            eval(&a, &Request::new("eks:ListClusters", "*")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            eval(
                &a,
                &Request::new("eks:DescribeCluster", &CLUSTER.replace("prod", "dev"))
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn actions_match_case_insensitively_with_wildcards_and_not_action() {
        let r = Request::new("eks:DescribeCluster", CLUSTER);
        for p in [
            "eks:*",
            "EKS:describecluster",
            "eks:Describe*",
            "eks:Describe?luster",
            "*",
        ] {
            assert_eq!(evaluate(&[allow(p, "*")], &r), Decision::Allow, "{p}");
        }
        for p in ["eks:Describe", "eks:List*", "sts:*", "eks:DescribeCluster?"] {
            assert_eq!(
                evaluate(&[allow(p, "*")], &r),
                Decision::ImplicitDeny,
                "{p}"
            );
        }
        let not = json!({"Statement": [{"Effect": "Allow", "NotAction": ["eks:Delete*"], "Resource": "*"}]});
        assert_eq!(eval(&not, &r), Decision::Allow);
        assert_eq!(
            eval(&not, &Request::new("eks:DeleteAccessEntry", CLUSTER)),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn resources_match_by_arn_segment_with_wildcards_and_not_resource() {
        assert!(resource_matches(
            "arn:aws:eks:eu-west-1:111122223333:cluster/*",
            CLUSTER
        ));
        assert!(resource_matches("arn:*:eks:*:*:cluster/prod", CLUSTER));
        assert!(resource_matches(
            "arn:aws:eks:eu-west-?:111122223333:cluster/pro?",
            CLUSTER
        ));
        assert!(!resource_matches(
            "arn:aws:eks:us-east-1:111122223333:cluster/*",
            CLUSTER
        ));
        assert!(!resource_matches(
            "arn:aws:eks:eu-west-1:111122223333:cluster/Prod",
            CLUSTER
        ));
        // A wildcard stays within its segment (the account's * does not swallow the region).
        assert!(!resource_matches("arn:aws:eks:*:cluster/prod", CLUSTER));
        // The last segment's * spans slashes.
        let entry =
            "arn:aws:eks:eu-west-1:111122223333:access-entry/prod/role/111122223333/r/0a-1b";
        assert!(resource_matches(
            "arn:aws:eks:eu-west-1:111122223333:access-entry/*/role/111122223333/r/*",
            entry
        ));
        assert!(!resource_matches(
            "arn:aws:eks:eu-west-1:111122223333:access-entry/*/role/111122223333/other/*",
            entry
        ));
        // A specific ARN never covers an action without a resource type ("*").
        assert!(!resource_matches(
            "arn:aws:eks:eu-west-1:111122223333:cluster/*",
            "*"
        ));
        let not = json!({"Statement": [{"Effect": "Allow", "Action": "eks:*", "NotResource": "arn:aws:eks:*:*:cluster/prod"}]});
        let r = Request::new("eks:DescribeCluster", CLUSTER);
        assert_eq!(eval(&not, &r), Decision::ImplicitDeny);
        assert_eq!(
            eval(
                &not,
                &Request::new("eks:DescribeCluster", &CLUSTER.replace("prod", "dev"))
            ),
            Decision::Allow
        );
    }

    fn with_condition(cond: Value) -> Value {
        json!({"Statement": [{"Effect": "Allow", "Action": "eks:*", "Resource": "*", "Condition": cond}]})
    }

    #[test]
    fn string_and_arn_operators_with_absent_keys() {
        let p = with_condition(json!({"StringEquals": {"eks:accessScope": "cluster"}}));
        let r = Request::new("eks:AssociateAccessPolicy", "x");
        assert_eq!(eval(&p, &r), Decision::ImplicitDeny, "absent key");
        assert_eq!(
            eval(&p, &r.clone().with("EKS:AccessScope", &["cluster"])),
            Decision::Allow,
            "keys are case-insensitive"
        );
        assert_eq!(
            eval(&p, &r.clone().with("eks:accessScope", &["Cluster"])),
            Decision::ImplicitDeny,
            "values are case-sensitive"
        );
        // Values ORed, keys ANDed, operators ANDed.
        let p = with_condition(json!({
            "StringEquals": {"eks:accessScope": ["namespace", "cluster"], "aws:RequestedRegion": "eu-west-1"},
            "ArnEquals": {"eks:policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"}
        }));
        let ok = r
            .clone()
            .with("eks:accessScope", &["cluster"])
            .with("aws:RequestedRegion", &["eu-west-1"])
            .with(
                "eks:policyArn",
                &["arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"],
            );
        assert_eq!(eval(&p, &ok), Decision::Allow);
        let other = ok.clone().with(
            "eks:policyArn",
            &["arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"],
        );
        assert_eq!(eval(&p, &other), Decision::ImplicitDeny);
        let region = ok.clone().with("aws:RequestedRegion", &["us-east-1"]);
        assert_eq!(eval(&p, &region), Decision::ImplicitDeny);
        // Negated operators and IfExists match an absent key.
        let p = with_condition(json!({"StringNotEquals": {"eks:username": "admin"}}));
        assert_eq!(eval(&p, &r), Decision::Allow);
        assert_eq!(
            eval(&p, &r.clone().with("eks:username", &["admin"])),
            Decision::ImplicitDeny
        );
        let p = with_condition(json!({"StringEqualsIfExists": {"eks:username": "ops"}}));
        assert_eq!(eval(&p, &r), Decision::Allow);
        assert_eq!(
            eval(&p, &r.clone().with("eks:username", &["admin"])),
            Decision::ImplicitDeny
        );
        let p = with_condition(json!({"StringLike": {"aws:RequestTag/owner": "????"}}));
        assert_eq!(
            eval(&p, &r.clone().with("aws:RequestTag/owner", &["abcd"])),
            Decision::Allow
        );
        assert_eq!(
            eval(&p, &r.clone().with("aws:RequestTag/owner", &["abc"])),
            Decision::ImplicitDeny
        );
        let p = with_condition(
            json!({"ArnLike": {"eks:principalArn": "arn:aws:iam::*:role/*-RoleForAccessingEksAndEcr"}}),
        );
        assert_eq!(
            eval(
                &p,
                &r.clone().with(
                    "eks:principalArn",
                    &["arn:aws:iam::111122223333:role/x-RoleForAccessingEksAndEcr"]
                )
            ),
            Decision::Allow
        );
        assert_eq!(
            eval(
                &p,
                &r.clone().with(
                    "eks:principalArn",
                    &["arn:aws:iam::111122223333:role/admin"]
                )
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn set_operators_and_null() {
        let p = with_condition(
            json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["eks-role-mapper/owner"]}}),
        );
        let r = Request::new("eks:CreateAccessEntry", "x");
        assert_eq!(eval(&p, &r), Decision::Allow, "absent: vacuously true");
        assert_eq!(
            eval(
                &p,
                &r.clone().with("aws:TagKeys", &["eks-role-mapper/owner"])
            ),
            Decision::Allow
        );
        assert_eq!(
            eval(
                &p,
                &r.clone()
                    .with("aws:TagKeys", &["eks-role-mapper/owner", "team"])
            ),
            Decision::ImplicitDeny
        );
        let p = with_condition(json!({"ForAnyValue:StringLike": {"aws:TagKeys": "team*"}}));
        assert_eq!(eval(&p, &r), Decision::ImplicitDeny, "absent: false");
        assert_eq!(
            eval(&p, &r.clone().with("aws:TagKeys", &["a", "team-x"])),
            Decision::Allow
        );
        let p = with_condition(json!({"Null": {"aws:RequestTag/eks-role-mapper/owner": "false"}}));
        assert_eq!(eval(&p, &r), Decision::ImplicitDeny);
        assert_eq!(
            eval(
                &p,
                &r.clone()
                    .with("aws:RequestTag/eks-role-mapper/owner", &["0123"])
            ),
            Decision::Allow
        );
        let p = with_condition(json!({"Null": {"eks:namespaces": "true"}}));
        assert_eq!(eval(&p, &r), Decision::Allow);
        // An operator the evaluator does not know fails closed.
        let p =
            with_condition(json!({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}));
        assert_eq!(
            eval(
                &p,
                &r.clone().with("aws:CurrentTime", &["2030-01-01T00:00:00Z"])
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn the_table_knows_each_actions_resource_type() {
        assert_eq!(
            action_info("eks:ListClusters").unwrap().resource,
            ResourceType::None
        );
        assert_eq!(
            action_info("eks:associateaccesspolicy").unwrap().resource,
            ResourceType::AccessEntry
        );
        assert_eq!(
            action_info("eks:CreateAccessEntry").unwrap().resource,
            ResourceType::Cluster
        );
        assert_eq!(
            action_info("cloudformation:describestackresource")
                .unwrap()
                .resource,
            ResourceType::Stack
        );
        assert!(action_info("eks:CreateNodegroup").is_none());
    }

    #[test]
    fn access_entry_arns_have_the_references_form() {
        assert_eq!(
            access_entry_arn(CLUSTER, "arn:aws:iam::444455556666:role/some/path/r", "u-1"),
            "arn:aws:eks:eu-west-1:111122223333:access-entry/prod/role/444455556666/r/u-1"
        );
        assert_eq!(
            access_entry_arn(CLUSTER, "arn:aws:iam::111122223333:user/ops", "u-2"),
            "arn:aws:eks:eu-west-1:111122223333:access-entry/prod/user/111122223333/ops/u-2"
        );
    }
}
