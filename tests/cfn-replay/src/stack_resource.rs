//! The custom resource as the template makes it, for `cfn-replay stack`: its properties for a
//! step's parameters, the schedule's reconcile event, and the generated external ID's secret.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::rendered::{Rendered, MOTO_ACCOUNT};

/// The custom resource's properties as the template passes them (its `Mapping` resource), or
/// None with MapRole=false.
pub(crate) fn properties(
    params: &BTreeMap<String, String>,
    r: &Rendered,
    region: &str,
    secret: Option<&Secret>,
) -> Option<Value> {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    // No function role: MapRole=false, or another template's stack (--from-template).
    if get("MapRole") == "false" || !r.roles.iter().any(|(l, _)| l == "MapperRole") {
        return None;
    }
    let mut p = json!({
        "ServiceTimeout": "300",
        "ClusterName": get("ClusterName"),
        "RoleArn": r.role("RoleForAccessingEksAndEcr").arn,
        "EnableAccessEntries": if get("EnableAccessEntries").is_empty() { "false" } else { get("EnableAccessEntries") },
        "Region": region,
        "AccessLevel": if get("AccessLevel").is_empty() { "cluster-admin" } else { get("AccessLevel") },
        "Namespaces": get("Namespaces"),
        "KubernetesGroups": get("KubernetesGroups"),
    });
    for k in ["ClusterAdminRoleArn", "ClusterAdminExternalId"] {
        if !get(k).is_empty() {
            p[k] = json!(get(k));
        }
    }
    // Registration: the given external ID, or the generated one's secret (the template's
    // RegisterGivenId and RegisterGeneratedId).
    if !get("RegistrationTopicArn").is_empty() {
        p["RegistrationTopicArn"] = json!(get("RegistrationTopicArn"));
        match get("ExternalId") {
            "" => p["ExternalIdSecretArn"] = json!(secret.map(|s| s.arn.as_str())),
            given => p["ExternalId"] = json!(given),
        }
    }
    Some(p)
}

/// The reconcile event the template's schedule sends (infra/eks-role-mapper.yaml,
/// `ReconcileSchedule`'s Input) for the custom resource's properties: those it carries, with the
/// template's values where the properties leave one out (`Region` is required). Registration
/// rides along only with a generated external ID (the topic and the secret's ARN); a given
/// external ID is never put in a schedule.
pub fn reconcile_event(stack_id: &str, physical_id: &str, props: &Value) -> Value {
    let get = |k: &str, default: &str| props.get(k).cloned().unwrap_or(json!(default));
    let mut carried = json!({
        "ClusterName": get("ClusterName", ""),
        "RoleArn": get("RoleArn", ""),
        "EnableAccessEntries": get("EnableAccessEntries", "false"),
        "Region": get("Region", ""),
        "ClusterAdminRoleArn": get("ClusterAdminRoleArn", ""),
        "AccessLevel": get("AccessLevel", "cluster-admin"),
        "Namespaces": get("Namespaces", ""),
        "KubernetesGroups": get("KubernetesGroups", ""),
    });
    if let (Some(topic), Some(secret)) = (
        props.get("RegistrationTopicArn"),
        props.get("ExternalIdSecretArn"),
    ) {
        carried["RegistrationTopicArn"] = topic.clone();
        carried["ExternalIdSecretArn"] = secret.clone();
    }
    json!({
        "RequestType": "Reconcile",
        "StackId": stack_id,
        "LogicalResourceId": "Mapping",
        "PhysicalResourceId": physical_id,
        "ResourceProperties": carried,
    })
}

/// The stack's `ExternalIdSecret` (ExternalId empty): moto's CloudFormation makes no
/// `AWS::SecretsManager::Secret` (and leaves a `!Ref` to one out of a policy), so the replay makes
/// it as CloudFormation would: once, at the stack's creation, 40 random letters and digits
/// (GenerateSecretString with ExcludePunctuation), its ARN `secret:NAME-XXXXXX`.
#[derive(Debug, Clone)]
pub(crate) struct Secret {
    pub(crate) arn: String,
    pub(crate) value: String,
}

impl Secret {
    pub(crate) fn generate(region: &str, stack: &str) -> Secret {
        let random = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Secret {
            arn: format!(
                "arn:aws:secretsmanager:{region}:{MOTO_ACCOUNT}:secret:{stack}-ExternalIdSecret-{}",
                &random[40..46]
            ),
            value: random[..40].to_string(),
        }
    }
}
