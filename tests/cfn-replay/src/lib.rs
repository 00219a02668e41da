//! Replays CloudFormation custom-resource events through the mapper's real handler, against the
//! embedded simulator (or real AWS with `--aws`), catching the response locally.

use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use eks_role_mapper::Clients;
use eks_sim::Simulator;
use serde_json::{json, Value};

/// The mapper's clients pointed at a simulator, acting as one of its scenario principals.
pub async fn clients_for(sim: &Simulator, principal: &str) -> anyhow::Result<Clients> {
    let (ak, sk) = sim
        .credentials(principal)
        .ok_or_else(|| anyhow::anyhow!("the scenario has no principal named {principal}"))?;
    let region = sim.state_json()["region"]
        .as_str()
        .unwrap_or("us-east-1")
        .to_string();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(sim.aws_endpoint_url())
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_credential_types::Credentials::new(
            ak, sk, None, None, "scenario",
        ));
    Ok(Clients::new(loader, Some(sim.ca_pem().into_bytes()), true).await?)
}

/// A Lambda context like the one Lambda passes, with `budget` until the deadline.
pub fn lambda_context(request_id: &str, budget: Duration) -> lambda_runtime::Context {
    let mut ctx = lambda_runtime::Context::default();
    ctx.request_id = request_id.to_string();
    let deadline = SystemTime::now() + budget;
    ctx.deadline = deadline
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    ctx.invoked_function_arn =
        "arn:aws:lambda:us-east-1:111122223333:function:eks-role-mapper".into();
    ctx
}

/// Reads an event file: it must be a JSON object.
pub fn read_event(path: &std::path::Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not valid JSON ({e})", path.display()))?;
    if !v.is_object() {
        return Err(format!(
            "{}: expected a JSON object (a custom-resource event)",
            path.display()
        ));
    }
    Ok(v)
}

/// Points the event's ResponseURL at the local receiver, and (when chaining) carries the
/// PhysicalResourceId of the previous answer into Update and Delete.
pub fn prepare(event: &mut Value, response_url: String, previous_id: Option<&str>) {
    event["ResponseURL"] = json!(response_url);
    let kind = event["RequestType"].as_str().unwrap_or_default();
    if let (Some(id), "Update" | "Delete") = (previous_id, kind) {
        event["PhysicalResourceId"] = json!(id);
    }
}

/// A readable account of what changed in the simulator, for stderr.
pub fn account(before: &Value, after: &Value) -> String {
    let mut out = String::new();
    let empty = json!({});
    let clusters = after["clusters"].as_object().cloned().unwrap_or_default();
    for (name, c) in &clusters {
        let b = before["clusters"].get(name).unwrap_or(&empty);
        if b["authentication_mode"] != c["authentication_mode"] {
            out.push_str(&format!(
                "cluster {name}: authentication mode {} -> {}\n",
                b["authentication_mode"], c["authentication_mode"]
            ));
        }
        let roles = |v: &Value| {
            v["config_maps"]["kube-system/aws-auth"]["data"]["mapRoles"]
                .as_str()
                .map(str::to_string)
        };
        let (rb, ra) = (roles(b), roles(c));
        if rb != ra {
            out.push_str(&format!("cluster {name}: kube-system/aws-auth mapRoles\n"));
            out.push_str(&eks_role_mapper::aws_auth::diff(
                rb.as_deref(),
                ra.as_deref(),
            ));
        }
        let entries = |v: &Value| v["access_entries"].as_object().cloned().unwrap_or_default();
        let (eb, ea) = (entries(b), entries(c));
        for (arn, e) in &ea {
            if eb.get(arn) != Some(e) {
                let policies: Vec<&String> = e["policies"]
                    .as_object()
                    .map(|p| p.keys().collect())
                    .unwrap_or_default();
                out.push_str(&format!(
                    "cluster {name}: access entry {arn} (type {}) with {policies:?}\n",
                    e["type"].as_str().unwrap_or("?")
                ));
            }
        }
        for arn in eb.keys().filter(|a| !ea.contains_key(*a)) {
            out.push_str(&format!("cluster {name}: access entry {arn} deleted\n"));
        }
    }
    if out.is_empty() {
        out.push_str("no change in the simulator\n");
    }
    out
}
