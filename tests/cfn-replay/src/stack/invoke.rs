//! `--then invoke FILE`: sends FILE to the stack's function directly, as any other principal
//! with `lambda:InvokeFunction` could, with the function configured as the stack in force renders
//! it. CloudFormation is not involved: the stack's resource keeps the status it has.
//!
//! In FILE, `{{StackId}}`, `{{PhysicalResourceId}}`, `{{RoleArn}}` and `{{ClusterAdminRoleArn}}`
//! become the stack's own values (so a forged event can name the stack it attacks) and
//! `{{ResponseURL}}` the local receiver's URL for this request (so the function's answer, if
//! any, is seen).

use std::path::Path;

use serde_json::{json, Value};

use super::{Lifecycle, MOTO_ACCOUNT};
use crate::error::{Error, Result};
use crate::lambda;

/// The request ids of invoke steps: never one CloudFormation would use.
const REQUEST_PREFIX: &str = "invoke-";

/// Reads FILE with the stack's values in place.
fn event_of(path: &Path, values: &[(&str, &str)]) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::EventFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let text = values.iter().fold(text, |t, (k, v)| t.replace(k, v));
    serde_json::from_str(&text).map_err(|e| Error::EventFile {
        path: path.to_path_buf(),
        message: format!("not a JSON event ({e})"),
    })
}

/// One invoke step: its line (`Step`, `Action: "Invoke"`, `Status` and `Reason` of the answer or
/// null, `Calls`, `Writes`, and the stack's status, which an invocation never changes).
pub(super) async fn step(
    life: &mut Lifecycle<'_>,
    n: usize,
    path: &Path,
    stack_id: &str,
    physical_id: Option<&str>,
    stack_status: &str,
) -> Result<Value> {
    life.counter += 1;
    let request_id = format!("{REQUEST_PREFIX}{}", life.counter);
    let url = life.sim.response_url(&request_id);
    let env = |k: &str| life.environment.get(k).cloned().unwrap_or_default();
    let role = env(eks_role_mapper::declared::ROLE_ARN_ENV);
    let admin = env(eks_role_mapper::declared::CLUSTER_ADMIN_ROLE_ARN_ENV);
    let values = [
        ("{{StackId}}", stack_id),
        ("{{PhysicalResourceId}}", physical_id.unwrap_or("")),
        ("{{ResponseURL}}", url.as_str()),
        ("{{RoleArn}}", role.as_str()),
        ("{{ClusterAdminRoleArn}}", admin.as_str()),
    ];
    let mut event = event_of(path, &values)?;
    let answered_id = event
        .get("RequestId")
        .and_then(Value::as_str)
        .map(str::to_string);
    if event.get("ResponseURL").and_then(Value::as_str) == Some(url.as_str()) {
        // The receiver files the answer under the URL's request id.
        event["RequestId"] = json!(answered_id.clone().unwrap_or_else(|| request_id.clone()));
    }
    let logged = life.sim.request_log().len();
    let answers = life.sim.responses().len();
    let function = life.function();
    let ctx = lambda::context(&life.region, MOTO_ACCOUNT, lambda::INVOCATION_BUDGET);
    let is_reconcile = eks_role_mapper::reconcile::is_reconcile(&event);
    let report = if is_reconcile {
        let invocation = eks_role_mapper::Invocation::from(&ctx);
        let r = eks_role_mapper::reconcile_with(&function, &event, invocation).await;
        Some(serde_json::to_value(&r).unwrap_or_default())
    } else {
        let _ = eks_role_mapper::handle(&function, event, ctx).await;
        None
    };
    let calls: Vec<Value> = life.sim.request_log()[logged..]
        .iter()
        .map(|r| json!({"Op": r.op, "Method": r.method, "Path": r.path, "Status": r.status}))
        .collect();
    let writes: Vec<Value> = calls
        .iter()
        .filter(|c| c["Method"] != "GET" && (200..300).contains(&c["Status"].as_u64().unwrap_or(0)))
        .filter(|c| {
            let op = c["Op"].as_str().unwrap_or("");
            // Reads and the answer itself are not changes of the account or a cluster.
            !op.starts_with("sts:")
                && !op.starts_with("cloudformation:Describe")
                && !op.starts_with("cfn:")
        })
        .cloned()
        .collect();
    let answer = life.sim.responses()[answers..]
        .first()
        .map(|r| r.body.clone());
    let (status, reason) = match (&answer, &report) {
        (Some(a), _) => (a["Status"].clone(), a["Reason"].clone()),
        (None, Some(r)) => (r["Verdict"].clone(), Value::Null),
        (None, None) => (Value::Null, Value::Null),
    };
    Ok(json!({
        "Step": n,
        "Action": "Invoke",
        "File": path.display().to_string(),
        "Status": status,
        "Reason": reason,
        "Calls": calls,
        "Writes": writes,
        "StackStatus": stack_status,
        "Reconcile": report,
    }))
}
