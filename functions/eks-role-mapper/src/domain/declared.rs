//! What the stack that deployed the function declared, and the check that holds every request
//! to it.
//!
//! Anyone allowed `lambda:InvokeFunction` on the function can send it any event, and
//! CloudFormation invokes it with the stack operator's identity, so a resource policy cannot tell
//! the two apart (design notes, section 9). The function therefore carries its stack's
//! declaration in its own configuration, which only the stack (CloudFormation, with IAM rights on
//! the function) can change: the template sets it as environment variables
//! (`infra/eks-role-mapper.yaml`, `MapperFunction`). Environment variables, not a parameter
//! store or the stack's template read back, because Lambda hands them to the process with no
//! call, no IAM right and nothing to fail, and they change exactly when the stack changes them.
//!
//! A request may then only grant what the declaration names: the stack, its custom resource, its
//! role, its admin role, its clusters, its level, namespaces and groups, the function's own
//! region, and registration only to the service's account. A function with no declaration (the
//! variables unset) grants nothing.

use serde_json::{json, Map, Value};

use crate::domain::arn::shown;
use crate::domain::error::{Error, Invalid, Result};
use crate::domain::properties::{Clusters, Properties};

/// The environment variables the template sets (one per declared value).
pub const STACK_ID_ENV: &str = "EKS_ROLE_MAPPER_STACK_ID";
pub const LOGICAL_ID_ENV: &str = "EKS_ROLE_MAPPER_LOGICAL_ID";
pub const ROLE_ARN_ENV: &str = "EKS_ROLE_MAPPER_ROLE_ARN";
pub const CLUSTER_NAME_ENV: &str = "EKS_ROLE_MAPPER_CLUSTER_NAME";
pub const ACCESS_LEVEL_ENV: &str = "EKS_ROLE_MAPPER_ACCESS_LEVEL";
pub const NAMESPACES_ENV: &str = "EKS_ROLE_MAPPER_NAMESPACES";
pub const KUBERNETES_GROUPS_ENV: &str = "EKS_ROLE_MAPPER_KUBERNETES_GROUPS";
pub const CLUSTER_ADMIN_ROLE_ARN_ENV: &str = "EKS_ROLE_MAPPER_CLUSTER_ADMIN_ROLE_ARN";
pub const ENABLE_ACCESS_ENTRIES_ENV: &str = "EKS_ROLE_MAPPER_ENABLE_ACCESS_ENTRIES";
pub const SERVICE_ACCOUNT_ENV: &str = "EKS_ROLE_MAPPER_SERVICE_ACCOUNT";

/// Each declared property and the variable that carries it.
const CARRIED: &[(&str, &str)] = &[
    ("RoleArn", ROLE_ARN_ENV),
    ("ClusterName", CLUSTER_NAME_ENV),
    ("AccessLevel", ACCESS_LEVEL_ENV),
    ("Namespaces", NAMESPACES_ENV),
    ("KubernetesGroups", KUBERNETES_GROUPS_ENV),
    ("ClusterAdminRoleArn", CLUSTER_ADMIN_ROLE_ARN_ENV),
    ("EnableAccessEntries", ENABLE_ACCESS_ENTRIES_ENV),
];

/// What the stack declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    /// The stack that deployed the function (its ARN).
    pub stack_id: String,
    /// The custom resource of that stack the function serves.
    pub logical_id: String,
    /// The grant, as the custom resource's properties would state it.
    pub grant: Properties,
    /// The service's account: where registration may go (None: anywhere the grant's topic says).
    pub service_account: Option<String>,
}

impl Declared {
    /// Reads the declaration from `get` (the environment), in the function's `region`. None when
    /// the stack id is not set: the function then grants nothing.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        region: Option<&str>,
    ) -> Result<Option<Declared>> {
        let Some(stack_id) = get(STACK_ID_ENV).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let mut props = Map::new();
        for (property, var) in CARRIED {
            if let Some(v) = get(var).filter(|v| !v.is_empty()) {
                props.insert((*property).to_string(), json!(v));
            }
        }
        if let Some(r) = region {
            props.insert("Region".into(), json!(r));
        }
        let grant = Properties::parse(&Value::Object(props))
            .map_err(|e| Error::Setup(format!("the function's declared stack ({e})")))?;
        Ok(Some(Declared {
            stack_id,
            logical_id: get(LOGICAL_ID_ENV)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "Mapping".into()),
            grant,
            service_account: get(SERVICE_ACCOUNT_ENV).filter(|s| !s.is_empty()),
        }))
    }

    /// The declaration a CloudFormation event speaks for: its stack, resource and properties.
    /// For the replay tool and tests, which play the stack that deploys the function.
    pub fn of_event(event: &Value) -> Result<Declared> {
        let text = |f: &str| {
            event
                .get(f)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let props = event.get("ResourceProperties").unwrap_or(&Value::Null);
        let mut grant = Properties::parse(props).or_else(|_| {
            Properties::parse_lenient(props)
                .ok_or_else(|| Error::invalid("ResourceProperties", "does not parse"))
        })?;
        grant.registration = None;
        Ok(Declared {
            stack_id: text("StackId"),
            logical_id: text("LogicalResourceId"),
            grant,
            service_account: None,
        })
    }

    /// The declaration of the stack that sends `event`, after `before` (what the same player
    /// declared last): a Create or Update declares its own properties; a Delete leaves the stack's
    /// declaration as it was (CloudFormation deletes an old resource with the new declaration in
    /// force), or, with none before, declares the event's own.
    pub fn playing(event: &Value, before: Option<&Declared>) -> Option<Declared> {
        let same_stack = |d: &&Declared| {
            event.get("StackId").and_then(Value::as_str) == Some(d.stack_id.as_str())
                && event.get("LogicalResourceId").and_then(Value::as_str)
                    == Some(d.logical_id.as_str())
        };
        match (
            event.get("RequestType").and_then(Value::as_str),
            before.filter(same_stack),
        ) {
            (Some("Delete"), Some(d)) => Some(d.clone()),
            _ => Declared::of_event(event).ok(),
        }
    }

    /// The request's stack and custom resource must be the declared ones.
    pub fn owns(&self, stack_id: &str, logical_id: &str) -> std::result::Result<(), Invalid> {
        if stack_id != self.stack_id {
            return Err(Invalid::new(
                "StackId",
                format!(
                    "this function serves only the stack that deployed it ({}), got {}",
                    self.stack_id,
                    shown(stack_id)
                ),
            ));
        }
        if logical_id != self.logical_id {
            return Err(Invalid::new(
                "LogicalResourceId",
                format!(
                    "this function serves only its stack's resource {}, got {}",
                    self.logical_id,
                    shown(logical_id)
                ),
            ));
        }
        Ok(())
    }

    /// Whether `p` grants nothing beyond the declaration; the first field that exceeds it is named.
    pub fn permits(&self, p: &Properties) -> std::result::Result<(), Invalid> {
        let d = &self.grant;
        let beyond = |field: &str, declared: String, got: String| {
            Err(Invalid::new(
                field,
                format!("beyond what the stack declared ({declared}), got {got}"),
            ))
        };
        if p.role.as_str() != d.role.as_str() {
            return beyond("RoleArn", d.role.to_string(), shown(p.role.as_str()));
        }
        if p.cluster_admin_role != d.cluster_admin_role {
            let show = |r: &Option<crate::domain::arn::RoleArn>| {
                r.as_ref().map_or("none".to_string(), |r| r.to_string())
            };
            return beyond(
                "ClusterAdminRoleArn",
                show(&d.cluster_admin_role),
                shown(&show(&p.cluster_admin_role)),
            );
        }
        if p.region.is_some() && p.region != d.region {
            return beyond(
                "Region",
                format!(
                    "the function's region {}",
                    d.region.as_deref().unwrap_or("?")
                ),
                shown(p.region.as_deref().unwrap_or("")),
            );
        }
        match (&d.clusters, &p.clusters) {
            (Clusters::All, _) => {}
            (Clusters::Named(_), Clusters::All) => {
                return beyond("ClusterName", d.clusters.to_string(), "*".into())
            }
            (Clusters::Named(allowed), Clusters::Named(asked)) => {
                if let Some(extra) = asked.iter().find(|c| !allowed.contains(c)) {
                    return beyond("ClusterName", d.clusters.to_string(), shown(extra));
                }
            }
        }
        if p.access.level != d.access.level {
            return beyond(
                "AccessLevel",
                d.access.level.as_str().into(),
                p.access.level.as_str().into(),
            );
        }
        if p.access.namespaces != d.access.namespaces {
            return beyond(
                "Namespaces",
                list(&d.access.namespaces),
                shown(&p.access.namespaces.join(",")),
            );
        }
        if p.access.kubernetes_groups != d.access.kubernetes_groups {
            return beyond(
                "KubernetesGroups",
                list(&d.access.kubernetes_groups),
                shown(&p.access.kubernetes_groups.join(",")),
            );
        }
        if p.enable_access_entries && !d.enable_access_entries {
            return beyond("EnableAccessEntries", "false".into(), "true".into());
        }
        // What the template never passes: the declaration's own defaults, exactly.
        if p.username != d.username || p.entry_username != d.entry_username {
            return beyond("Username", d.username.clone(), shown(&p.username));
        }
        if p.groups != d.groups {
            return beyond("Groups", list(&d.groups), shown(&p.groups.join(",")));
        }
        if p.access_policy_arn != d.access_policy_arn {
            return beyond(
                "AccessPolicyArn",
                d.access_policy_arn.clone(),
                shown(&p.access_policy_arn),
            );
        }
        if p.method != d.method {
            return beyond(
                "Method",
                format!("{:?}", d.method),
                format!("{:?}", p.method),
            );
        }
        if let (Some(account), Some(r)) = (&self.service_account, &p.registration) {
            let topic_account = r.topic.as_str().split(':').nth(4).unwrap_or("");
            if topic_account != account {
                return Err(Invalid::new(
                    "RegistrationTopicArn",
                    format!(
                        "expected a topic in the service's account {account}, got one in {}",
                        shown(topic_account)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The variables the template sets for the stack that sends `event` (its stack, its resource,
/// the properties it declares): what the replay tool and tests give a bootstrap they run as that
/// stack's function.
pub fn environment_of(event: &Value) -> Vec<(&'static str, String)> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    };
    let props = event.get("ResourceProperties").unwrap_or(&Value::Null);
    let mut env = vec![
        (STACK_ID_ENV, text(&event["StackId"])),
        (LOGICAL_ID_ENV, text(&event["LogicalResourceId"])),
    ];
    for (property, var) in CARRIED {
        if let Some(v) = props.get(*property) {
            env.push((*var, text(v)));
        }
    }
    env
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(",")
    }
}
