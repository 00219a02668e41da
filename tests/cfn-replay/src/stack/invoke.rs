//! `--then invoke FILE`: sends FILE to the stack's function directly, as any other principal
//! with `lambda:InvokeFunction` could, with the function configured as the stack in force renders
//! it. CloudFormation is not involved: the stack's resource keeps the status it has.
//!
//! In FILE, `{{StackId}}`, `{{PhysicalResourceId}}`, `{{Owner}}` (the owner key the physical id
//! records, which names the resource's markers on the clusters), `{{RoleArn}}` and
//! `{{ClusterAdminRoleArn}}` become the stack's own values (so a forged event can name the stack
//! it attacks) and `{{ResponseURL}}` the local receiver's URL for this request (so the function's
//! answer, if any, is seen).
//!
//! With `--while STATUS` the invoke is sent while CloudFormation holds the stack's resource as it
//! reports it during that operation ([`super::hold`]), and the resource is put back after.

use std::path::Path;

use serde_json::{json, Value};

use super::{hold, Lifecycle, MOTO_ACCOUNT};
use crate::during::During;
use crate::error::{Error, Result};
use crate::lambda;

/// The request ids of invoke steps: never one CloudFormation would use.
const REQUEST_PREFIX: &str = "invoke-";

/// Reads FILE with the stack's values in place.
pub(super) fn event_of(path: &Path, values: &[(&'static str, String)]) -> Result<Value> {
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

/// Where in the stack's life an invoke step is sent.
pub(super) struct At<'a> {
    pub(super) stack_id: &'a str,
    pub(super) physical_id: Option<&'a str>,
    /// The status the last stack operation left.
    pub(super) stack_status: &'a str,
    /// `--while`: the operation CloudFormation is running meanwhile.
    pub(super) during: Option<During>,
    /// The custom resource's properties now (None: MapRole=false, or deleted).
    pub(super) props: Option<&'a Value>,
}

/// What the placeholders of a file become: the stack's own values, and `url` for `{{ResponseURL}}`.
pub(super) fn placeholders(at: &At<'_>, url: &str) -> Vec<(&'static str, String)> {
    let prop = |k: &str| {
        at.props
            .and_then(|p| p.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    vec![
        ("{{StackId}}", at.stack_id.to_string()),
        ("{{Owner}}", owner_of(at.physical_id)),
        (
            "{{PhysicalResourceId}}",
            at.physical_id.unwrap_or("").to_string(),
        ),
        ("{{ResponseURL}}", url.to_string()),
        ("{{RoleArn}}", prop("RoleArn")),
        ("{{ClusterAdminRoleArn}}", prop("ClusterAdminRoleArn")),
    ]
}

/// The owner key a physical id records (empty for an id this function did not make).
fn owner_of(physical_id: Option<&str>) -> String {
    physical_id
        .and_then(eks_role_mapper::Recorded::decode)
        .map(|r| r.owner)
        .unwrap_or_default()
}

/// One invoke step: its line (`Step`, `Action: "Invoke"`, `Status` and `Reason` of the answer or
/// null, `Calls`, `Writes`, and the stack's status, which an invocation never changes; with
/// `--while`, `HeldStatus` and `HeldResourceStatus`, what CloudFormation reported meanwhile).
pub(super) async fn step(
    life: &mut Lifecycle<'_>,
    n: usize,
    path: &Path,
    at: At<'_>,
) -> Result<Value> {
    life.counter += 1;
    let request_id = format!("{REQUEST_PREFIX}{}", life.counter);
    let url = life.sim.response_url(&request_id);
    let values = placeholders(&at, &url);
    let At {
        stack_id,
        stack_status,
        during,
        ..
    } = at;
    let mut event = event_of(path, &values)?;
    let answered_id = event
        .get("RequestId")
        .and_then(Value::as_str)
        .map(str::to_string);
    if event.get("ResponseURL").and_then(Value::as_str) == Some(url.as_str()) {
        // The receiver files the answer under the URL's request id.
        event["RequestId"] = json!(answered_id.clone().unwrap_or_else(|| request_id.clone()));
    }
    let held = during.map(|d| hold::hold(life.sim, stack_id, d));
    let held_resource = held.as_ref().and_then(hold::Held::resource_status);
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
    if let Some(h) = held {
        h.restore();
    }
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
        "HeldStatus": during.map(During::stack_status),
        "HeldResourceStatus": held_resource,
    }))
}
