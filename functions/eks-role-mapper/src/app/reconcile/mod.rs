//! The scheduled reconcile: a grant made once does not stay made (aws-auth rewritten by a
//! `kubectl apply`, an access entry or its policy deleted, a new cluster under `*`). A schedule
//! of the stack invokes the function with what the stack granted; this re-applies that grant with
//! the very per-cluster code of a Create, and answers nobody: what it did goes to the log (one
//! line a repair or grant) and to CloudWatch metrics (embedded metric format).
//!
//! It writes only while CloudFormation says the stack still holds this resource with this
//! physical id and is not changing it: nothing comes back once the stack is gone or replaced
//! the resource, and a stack operation under way is left to finish.
//!
//! With registration in its event (a topic and the secret of a generated external ID; a given
//! external ID is never put in a schedule) each run that finds the grant held publishes it again
//! as `Updated`: a publish that failed at the stack's operation is made good by the next run.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::Value;

use crate::app::lifecycle::{admin_of, scope};
use crate::app::per_cluster::{self, Granted, Scope};
use crate::app::registration::{self, Event, Outgoing, Subject};
use crate::cfn::protocol;
use crate::domain::arn::{stack_name, stack_region};
use crate::domain::error::{Error, Invalid, Result};
use crate::domain::ownership::owner_key;
use crate::domain::physical_id::Recorded;
use crate::domain::properties::Properties;
use crate::ports::{Cloud, Connect, StackResource};

mod report;

pub use report::{ClusterReport, Outcome, Report, Verdict};

/// The RequestType of a reconcile event (which carries no ResponseURL).
pub const REQUEST_TYPE: &str = "Reconcile";
/// The CloudWatch namespace of the reconcile's metrics (the registration's too).
pub use crate::app::registration::NAMESPACE;

/// Whether an event is a reconcile from the schedule rather than a CloudFormation request (which
/// always has a ResponseURL, and is answered even with a wrong RequestType).
pub fn is_reconcile(event: &Value) -> bool {
    event.get("RequestType").and_then(Value::as_str) == Some(REQUEST_TYPE)
        && event.get("ResponseURL").is_none()
}

/// A reconcile event, checked against itself.
struct Target {
    stack_id: String,
    logical_id: String,
    physical_id: String,
    rec: Recorded,
    props: Properties,
}

fn text<'a>(event: &'a Value, field: &str) -> Option<&'a str> {
    event
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn parse(event: &Value) -> Result<Target> {
    let stack_id = text(event, "StackId")
        .filter(|s| stack_region(s).is_some())
        .ok_or_else(|| {
            Invalid::new(
                "StackId",
                "expected the stack's ARN (arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID)",
            )
        })?;
    let logical_id = text(event, "LogicalResourceId")
        .ok_or_else(|| Invalid::new("LogicalResourceId", "required: the custom resource's name"))?;
    let physical_id = text(event, "PhysicalResourceId").ok_or_else(|| {
        Invalid::new(
            "PhysicalResourceId",
            "required: the id the custom resource answered (Ref of it)",
        )
    })?;
    let rec = Recorded::decode(physical_id).ok_or_else(|| {
        Invalid::new(
            "PhysicalResourceId",
            "expected an id this function answered (eks-role-mapper/v2|REGION|OWNER|ROLE)",
        )
    })?;
    let props = Properties::parse(event.get("ResourceProperties").unwrap_or(&Value::Null))?;
    // The properties must be the resource's own: its role, its region, its owner key.
    if props.role.match_key() != rec.role.match_key()
        || props.region.as_deref().is_some_and(|r| r != rec.region)
        || owner_key(stack_id, logical_id, &props.role) != rec.owner
    {
        return Err(Invalid::new(
            "PhysicalResourceId",
            "does not belong to this StackId, LogicalResourceId, RoleArn and Region",
        )
        .into());
    }
    Ok(Target {
        stack_id: stack_id.to_string(),
        logical_id: logical_id.to_string(),
        physical_id: physical_id.to_string(),
        rec,
        props,
    })
}

/// Resource statuses (botocore data/cloudformation/2010-05-15/service-2.json, `ResourceStatus`)
/// in which the stack holds the resource as it was last made: created, updated, imported, or
/// back after a rolled-back update or export.
const HELD: &[&str] = &[
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "EXPORT_ROLLBACK_COMPLETE",
];
/// Statuses in which the stack no longer holds it: deleted (or skipped on delete), its creation or
/// import rolled back, or exported to another stack.
const LET_GO: &[&str] = &[
    "ROLLBACK_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
    "EXPORT_COMPLETE",
];

/// Whether CloudFormation's answer lets the reconcile write; the verdict when not. Any other
/// status (in progress, failed) is an operation that has not settled: the next run looks again.
fn holds(target: &Target, resource: Option<&StackResource>) -> std::result::Result<(), Verdict> {
    let Some(r) = resource else {
        return Err(Verdict::StackGone);
    };
    if r.status.starts_with("DELETE_") || LET_GO.contains(&r.status.as_str()) {
        return Err(Verdict::StackGone);
    }
    if r.physical_id.as_deref() != Some(target.physical_id.as_str()) {
        return Err(Verdict::Superseded);
    }
    if !HELD.contains(&r.status.as_str()) {
        return Err(Verdict::StackBusy(r.status.clone()));
    }
    Ok(())
}

/// Reconciles the grant an event describes, within `deadline`; never fails, the report says.
pub async fn reconcile<C: Connect>(connect: &C, event: &Value, deadline: SystemTime) -> Report {
    let stack = stack_name(text(event, "StackId").unwrap_or("")).to_string();
    let target = match parse(event) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(reason = %e, "reconcile event refused; nothing was written");
            return Report::without_clusters(&stack, Verdict::Invalid(e.to_string()));
        }
    };
    // Only the declared stack's own grant, checked before any call: a StackId naming any other
    // stack (or a region that is no region) never reaches CloudFormation's endpoint.
    let declared = crate::app::guard::declaration(connect).and_then(|d| {
        d.owns(&target.stack_id, &target.logical_id)?;
        d.permits(&target.props)
    });
    if let Err(e) = declared {
        tracing::error!(reason = %e, "reconcile event refused; nothing was written");
        return Report::without_clusters(&stack, Verdict::Invalid(e.to_string()));
    }
    let resource = match connect
        .stack_resource(&target.stack_id, &target.logical_id)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "could not ask CloudFormation whether the stack holds the grant; nothing was written");
            return Report::without_clusters(&stack, Verdict::Failed(e.to_string()));
        }
    };
    if let Err(verdict) = holds(&target, resource.as_ref()) {
        tracing::info!(verdict = ?verdict, "the stack does not hold this grant now; nothing was written");
        return Report::without_clusters(&stack, verdict);
    }
    let since = resource.and_then(|r| r.last_updated);
    let done: Arc<Mutex<Vec<ClusterReport>>> = Arc::default();
    let names: Arc<Mutex<Vec<String>>> = Arc::default();
    let work = {
        let (connect, done, names) = (connect.clone(), done.clone(), names.clone());
        async move { over_clusters(&connect, &target, since, &done, &names).await }
    };
    let finished = protocol::within(deadline, work).await;
    let mut clusters = take(&done);
    let names = take(&names);
    let (verdict, outgoing) = match finished {
        Some(Ok(outgoing)) => (Verdict::Reconciled, outgoing),
        Some(Err(e)) => (Verdict::Failed(e.to_string()), None),
        // Cut off before the clusters were even listed: nothing to name, but not a success.
        None if names.is_empty() => (
            Verdict::Failed("the clusters were not listed before the Lambda deadline".into()),
            None,
        ),
        // Cut off: what was granted is not all known, so the next run publishes.
        None => (Verdict::Reconciled, None),
    };
    // Cut off by the deadline: the clusters not done are named, not dropped.
    for n in &names {
        if !clusters.iter().any(|c| &c.cluster == n) {
            clusters.push(ClusterReport {
                cluster: n.clone(),
                outcome: Outcome::Failed,
                detail: Some("not finished before the Lambda deadline".into()),
            });
        }
    }
    clusters.sort_by_key(|c| names.iter().position(|n| n == &c.cluster));
    let report = Report {
        stack,
        verdict,
        clusters,
    };
    if let Verdict::Failed(e) = &report.verdict {
        tracing::error!(error = %e, "reconcile could not list the clusters; nothing was written");
    }
    tracing::info!(
        clusters = report.clusters.len(),
        repaired = report.count(Outcome::Repaired),
        granted = report.count(Outcome::Granted),
        failed = report.count(Outcome::Failed),
        pending = report.count(Outcome::Pending),
        gone = report.count(Outcome::Gone),
        "reconciled"
    );
    if let Some(outgoing) = outgoing {
        registration::publish(connect, &outgoing, registration::budget(deadline)).await;
    }
    report
}

fn take<T>(shared: &Mutex<Vec<T>>) -> Vec<T> {
    std::mem::take(&mut *shared.lock().unwrap_or_else(|e| e.into_inner()))
}

async fn over_clusters<C: Connect>(
    connect: &C,
    target: &Target,
    since: Option<SystemTime>,
    done: &Mutex<Vec<ClusterReport>>,
    names_out: &Mutex<Vec<String>>,
) -> Result<Option<Outgoing>> {
    let cloud = connect.connect(&target.rec.region, admin_of(Some(&target.props)));
    let scope = scope(&cloud, Some(&target.props), &target.rec);
    let names = scope.resolve(&target.props.clusters).await?;
    *names_out.lock().unwrap_or_else(|e| e.into_inner()) = names.clone();
    let scope = &scope;
    let held: Mutex<Vec<Granted>> = Mutex::default();
    let held = &held;
    per_cluster::each(&names, |c| async move {
        let (outcome, detail, granted) = one(scope, &target.props, c, since).await;
        if let Some(g) = granted {
            held.lock().unwrap_or_else(|e| e.into_inner()).push(g);
        }
        match outcome {
            Outcome::Unchanged => tracing::debug!(cluster = c, "grant stands"),
            Outcome::Failed => {
                tracing::error!(cluster = c, outcome = ?outcome, detail = detail.as_deref().unwrap_or(""), "reconcile failed on this cluster")
            }
            _ => {
                tracing::info!(cluster = c, outcome = ?outcome, detail = detail.as_deref().unwrap_or(""), "reconciled")
            }
        }
        done.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ClusterReport {
                cluster: c.to_string(),
                outcome,
                detail,
            });
        Ok(())
    })
    .await;
    // The clusters whose grant stands, in the order they were listed.
    let mut held = take(held);
    held.sort_by_key(|g| names.iter().position(|n| n == &g.cluster));
    let subject = Subject {
        stack_id: &target.stack_id,
        logical_resource_id: &target.logical_id,
        physical_resource_id: &target.physical_id,
        region: &target.rec.region,
        props: &target.props,
    };
    Ok(registration::outgoing(&subject, Event::Updated, &held, &[]))
}

/// One cluster: described, then granted exactly as a Create grants (held before: an entry the
/// grant moved off aws-auth stays moved). Answers the grant too when it stands.
async fn one<K: Cloud>(
    scope: &Scope<'_, K>,
    props: &Properties,
    cluster: &str,
    since: Option<SystemTime>,
) -> (Outcome, Option<String>, Option<Granted>) {
    let info = match scope.cloud.describe(cluster).await {
        Ok(Some(info)) => info,
        Ok(None) => return (Outcome::Gone, None, None),
        Err(e) => return (Outcome::Failed, Some(e.to_string()), None),
    };
    if !info.is_active() {
        return (
            Outcome::Skipped,
            Some(format!("status {}", info.status)),
            None,
        );
    }
    match scope.grant_on(props, &info, true).await {
        Ok(g) if !g.changed => (Outcome::Unchanged, None, Some(g)),
        Ok(g) => {
            // Whole milliseconds: EKS gives createdAt as fractional epoch seconds, CloudFormation
            // its timestamp to the millisecond; a float's last digit must not make a cluster
            // made with the stack look newer than it.
            let ms = |t: SystemTime| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or_default()
            };
            let newer = matches!((info.created_at, since), (Some(c), Some(s)) if ms(c) > ms(s));
            let outcome = if newer {
                Outcome::Granted
            } else {
                Outcome::Repaired
            };
            (outcome, Some(g.mechanism.as_str().to_string()), Some(g))
        }
        Err(Error::Pending(w)) => (Outcome::Pending, Some(w), None),
        Err(e) => (Outcome::Failed, Some(e.to_string()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stack_arn_gives_the_stack_name() {
        assert_eq!(
            stack_name("arn:aws:cloudformation:us-east-1:1:stack/concurrent-eks/6f1c"),
            "concurrent-eks"
        );
        assert_eq!(stack_name("nonsense"), "");
    }

    #[test]
    fn only_an_event_without_a_response_url_is_a_reconcile() {
        assert!(is_reconcile(&json!({"RequestType": "Reconcile"})));
        assert!(!is_reconcile(
            &json!({"RequestType": "Reconcile", "ResponseURL": "https://x"})
        ));
        assert!(!is_reconcile(&json!({"RequestType": "Create"})));
    }
}
