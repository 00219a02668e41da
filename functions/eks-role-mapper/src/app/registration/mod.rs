//! Registration with the service: after a successful Create, Update or Delete the function
//! publishes one small versioned JSON document to the service's SNS topic (`RegistrationTopicArn`),
//! so nobody copies the role ARN and the external ID into the service by hand. The document is
//! built here (pure); `live` sends it (SNS Publish, Secrets Manager GetSecretValue, both signed
//! with SigV4 like the hand-over). A publish that fails never fails the request: the grant stands,
//! the failure is logged with a `RegistrationFailed` metric, and the next Update (or reconcile)
//! publishes again.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::app::per_cluster::Granted;
use crate::domain::error::Result;
use crate::domain::properties::{ExternalIdSource, Properties};
use crate::ports::Register;

/// The CloudWatch namespace of the registration's and the reconcile's metrics.
pub const NAMESPACE: &str = "EksRoleMapper";

/// The schema's version: a consumer refuses a document of a version it does not know.
pub const VERSION: u64 = 1;

/// What the message says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Registered,
    Updated,
    Deregistered,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Registered => "Registered",
            Event::Updated => "Updated",
            Event::Deregistered => "Deregistered",
        }
    }
}

pub use crate::domain::properties::Outgoing;

/// Who is being registered: the stack, its resource and the role.
pub struct Subject<'a> {
    pub stack_id: &'a str,
    pub logical_resource_id: &'a str,
    /// The resource's physical id: what a registration is known by (an Update in place keeps it,
    /// a replacement gets a new one and the old one is deregistered).
    pub physical_resource_id: &'a str,
    /// The region of the clusters.
    pub region: &'a str,
    pub props: &'a Properties,
}

/// The account of a stack ARN (`arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/...`), else
/// the role's.
fn account_of<'a>(stack_id: &'a str, props: &'a Properties) -> &'a str {
    stack_id
        .split(':')
        .nth(4)
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| props.role.account())
}

/// The document for `event` over the clusters granted (Registered, Updated) or revoked
/// (Deregistered: names only); None when registration is off.
pub fn outgoing(
    subject: &Subject<'_>,
    event: Event,
    granted: &[Granted],
    revoked: &[String],
) -> Option<Outgoing> {
    let registration = subject.props.registration.clone()?;
    let props = subject.props;
    let account = account_of(subject.stack_id, props);
    let clusters: Vec<Value> = match event {
        Event::Deregistered => revoked
            .iter()
            .map(|name| {
                json!({
                    "Name": name,
                    "Arn": format!("arn:{}:eks:{}:{account}:cluster/{name}", props.role.partition(), subject.region),
                })
            })
            .collect(),
        _ => granted
            .iter()
            .map(|g| json!({"Name": g.cluster, "Arn": g.arn, "Method": g.mechanism.as_str()}))
            .collect(),
    };
    let document = json!({
        "Version": VERSION,
        "Event": event.as_str(),
        "AccountId": account,
        "Region": subject.region,
        "StackId": subject.stack_id,
        "LogicalResourceId": subject.logical_resource_id,
        "PhysicalResourceId": subject.physical_resource_id,
        "RoleArn": props.role.as_str(),
        "AccessLevel": props.access.level.as_str(),
        "Namespaces": props.access.namespaces,
        "Clusters": clusters,
    });
    Some(Outgoing {
        registration,
        document,
    })
}

/// The most one invocation spends publishing.
const BUDGET: Duration = Duration::from_secs(20);

/// What a publish may take before `deadline`: what is left of the invocation, a second kept for
/// returning, at most [`BUDGET`].
pub fn budget(deadline: SystemTime) -> Duration {
    deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(Duration::from_secs(1))
        .min(BUDGET)
}

/// How many times one publish is tried, and the pause before each retry.
const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(300);

/// Sends `outgoing` within `budget`, retrying what may pass on a second try. Never fails: a
/// failure is logged (without the external ID) and counted as a `RegistrationFailed` metric on
/// stdout, and `false` is answered.
pub async fn publish<R: Register>(port: &R, outgoing: &Outgoing, budget: Duration) -> bool {
    let topic = outgoing.registration.topic.as_str();
    let event = outgoing.document["Event"].as_str().unwrap_or_default();
    let started = tokio::time::Instant::now();
    let sent = tokio::time::timeout(budget, send(port, outgoing)).await;
    let reason = match sent {
        Ok(Ok(attempts)) => {
            tracing::info!(topic, event, attempts, "registration published");
            return true;
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} ms", started.elapsed().as_millis()),
    };
    tracing::error!(topic, event, reason = %reason, "registration failed; the grant stands, and the next update or reconcile publishes again");
    let stack_id = outgoing.document["StackId"].as_str().unwrap_or_default();
    println!(
        "{}",
        failed_metric(crate::domain::arn::stack_name(stack_id), SystemTime::now())
    );
    false
}

/// The message with its external ID, published; answers the attempts it took.
async fn send<R: Register>(port: &R, outgoing: &Outgoing) -> Result<u32> {
    let external_id = match &outgoing.registration.external_id {
        ExternalIdSource::Given(x) => x.clone(),
        ExternalIdSource::Secret { arn, region } => {
            retried(|| port.secret_string(arn, region)).await?.0
        }
    };
    let mut document = outgoing.document.clone();
    document["ExternalId"] = Value::String(external_id);
    let message = document.to_string();
    let topic = &outgoing.registration.topic;
    retried(|| port.publish(topic.as_str(), topic.region(), &message))
        .await
        .map(|(_, attempts)| attempts)
}

/// Tries `call` up to [`ATTEMPTS`] times while it fails with a transient error.
async fn retried<T, F, Fut>(mut call: F) -> Result<(T, u32)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, Refused>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Ok(v) => return Ok((v, attempt)),
            Err(Refused::Transient(_)) if attempt < ATTEMPTS => {
                tokio::time::sleep(BACKOFF * attempt).await;
            }
            Err(Refused::Transient(e) | Refused::Final(e)) => return Err(e),
        }
    }
}

pub use crate::ports::Refused;

/// One embedded-metric record: `RegistrationFailed` 1 for the stack (namespace EksRoleMapper,
/// dimension Stack), which an alarm can watch.
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
pub fn failed_metric(stack_name: &str, now: SystemTime) -> Value {
    let ms = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    json!({
        "_aws": {
            "Timestamp": ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Stack"]],
                "Metrics": [{"Name": "RegistrationFailed", "Unit": "Count"}],
            }],
        },
        "Stack": stack_name,
        "RegistrationFailed": 1,
    })
}
