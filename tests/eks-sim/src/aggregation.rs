//! What kube-controller-manager's ClusterRole aggregation controller does, for the real control
//! plane of the tests, which runs no controller manager: every ClusterRole with an
//! `aggregationRule` gets the rules of the ClusterRoles its selectors match. Without it the
//! built-in `admin`, `edit` and `view` grant nothing (the apiserver's bootstrap policy makes them
//! with an aggregation rule and no rules of their own), while on EKS they hold their rules.
//! As kubernetes `pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go`
//! (`syncClusterRole`): rules appended selector by selector, in name order, without duplicates;
//! repeated until nothing changes, as the controller's watch converges (`view` is aggregated
//! into `edit` and `edit` into `admin`). `matchLabels` only: the bootstrap roles use nothing else.
//! <https://kubernetes.io/docs/reference/access-authn-authz/rbac/#aggregated-clusterroles>

use serde_json::{json, Value};

use crate::control_plane::ControlPlane;
use crate::error::{Error, Result};

const CLUSTER_ROLES: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";

/// Aggregates until a fixed point; answers how many ClusterRoles were updated.
pub async fn aggregate_cluster_roles(cp: &ControlPlane) -> Result<usize> {
    let mut updated = 0;
    for _round in 0..5 {
        let (status, body) = cp.request("GET", CLUSTER_ROLES, None).await?;
        let list: Value = serde_json::from_str(&body).unwrap_or_default();
        let roles = list["items"].as_array().cloned().unwrap_or_default();
        if status != 200 || roles.is_empty() {
            return Err(Error::ControlPlane(format!(
                "listing ClusterRoles: {status} {body}"
            )));
        }
        let mut changed = false;
        for role in roles.iter().filter(|r| r["aggregationRule"].is_object()) {
            let rules = aggregated(role, &roles);
            if role["rules"].as_array().cloned().unwrap_or_default() == rules {
                continue;
            }
            let mut new = role.clone();
            new["rules"] = json!(rules);
            let name = role["metadata"]["name"].as_str().unwrap_or_default();
            let (status, body) = cp
                .request("PUT", &format!("{CLUSTER_ROLES}/{name}"), Some(&new))
                .await?;
            if status != 200 {
                return Err(Error::ControlPlane(format!(
                    "aggregating {name}: {status} {body}"
                )));
            }
            changed = true;
            updated += 1;
        }
        if !changed {
            return Ok(updated);
        }
    }
    Ok(updated)
}

/// The rules of every ClusterRole one of `role`'s selectors matches (itself aside).
fn aggregated(role: &Value, all: &[Value]) -> Vec<Value> {
    let mut sorted: Vec<&Value> = all.iter().collect();
    sorted.sort_by_key(|r| {
        r["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    let mut rules: Vec<Value> = Vec::new();
    let selectors = role["aggregationRule"]["clusterRoleSelectors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for selector in &selectors {
        let want = selector["matchLabels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for other in &sorted {
            if other["metadata"]["name"] == role["metadata"]["name"] {
                continue;
            }
            let labels = &other["metadata"]["labels"];
            if !want.iter().all(|(k, v)| &labels[k] == v) {
                continue;
            }
            for rule in other["rules"].as_array().into_iter().flatten() {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
    }
    rules
}
