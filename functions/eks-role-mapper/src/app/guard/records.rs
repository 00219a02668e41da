//! Reading CloudFormation's records of the resource: the properties on an event (as the function
//! reads properties, the masked NoEcho value the request's), and whether CloudFormation still
//! waits for the operation an event began.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::domain::error::{Error, Result};
use crate::domain::properties::Properties;
use crate::ports::StackEvent;

/// CloudFormation's default ServiceTimeout for a custom resource (one hour).
pub const DEFAULT_SERVICE_TIMEOUT: Duration = Duration::from_secs(3600);

/// The NoEcho property CloudFormation masks in its records.
const MASKED: &str = "ClusterAdminExternalId";

/// Whether an event records a grant being made: a Create or Update in progress, with properties.
pub(super) fn is_grant_event(e: &StackEvent) -> bool {
    e.properties.is_some()
        && matches!(
            e.status.as_str(),
            "CREATE_IN_PROGRESS" | "UPDATE_IN_PROGRESS"
        )
}

/// The properties CloudFormation recorded on `event`, as the function reads properties
/// (CloudFormation's numbers and booleans as the strings it sends); the masked external ID is
/// `event_props`' (the request's).
pub(super) fn recorded(event: &StackEvent, event_props: &Value, stack: &str) -> Result<Properties> {
    let value = record_value(event, event_props).ok_or_else(|| {
        Error::invalid(
            "ResourceProperties",
            "CloudFormation's record of the properties does not read; nothing was written",
        )
    })?;
    let props = Properties::parse(&value)?;
    props.in_partition_of(stack)?;
    Ok(props)
}

/// [`recorded`], as far as the record reads (a Delete's).
pub(super) fn lenient(event: &StackEvent, stack: &str) -> Option<Properties> {
    let props = Properties::parse_lenient(&record_value(event, &Value::Null)?)?;
    props.in_partition_of(stack).ok().map(|_| props)
}

fn record_value(event: &StackEvent, event_props: &Value) -> Option<Value> {
    let mut value: Value = serde_json::from_str(event.properties.as_deref()?).ok()?;
    let map = value.as_object_mut()?;
    for v in map.values_mut() {
        stringify(v);
    }
    if map.contains_key(MASKED) {
        match event_props.get(MASKED).and_then(Value::as_str) {
            Some(given) if !given.is_empty() => {
                map.insert(MASKED.into(), Value::String(given.into()));
            }
            _ => {
                map.remove(MASKED);
            }
        }
    }
    Some(value)
}

/// CloudFormation sends every scalar as a string; its records may keep a number or a boolean.
fn stringify(v: &mut Value) {
    match v {
        Value::Number(n) => *v = Value::String(n.to_string()),
        Value::Bool(b) => *v = Value::String(b.to_string()),
        Value::Array(items) => items.iter_mut().for_each(stringify),
        _ => {}
    }
}

/// The resource's ServiceTimeout as its properties give it (CloudFormation's default without).
fn service_timeout(props: Option<&Properties>) -> Duration {
    props
        .and_then(|p| p.service_timeout)
        .map_or(DEFAULT_SERVICE_TIMEOUT, Duration::from_secs)
}

pub(super) fn fresh(event: &StackEvent, props: &Properties) -> Result<()> {
    fresh_for(event, Some(props))
}

/// A request whose in-progress event is older than the ServiceTimeout: CloudFormation gave up
/// on it (and may have moved on), so it is refused.
pub(super) fn fresh_for(event: &StackEvent, props: Option<&Properties>) -> Result<()> {
    let timeout = service_timeout(props);
    let age = SystemTime::now()
        .duration_since(event.timestamp)
        .unwrap_or_default();
    if age <= timeout {
        return Ok(());
    }
    Err(Error::invalid(
        "RequestType",
        format!(
            "CloudFormation began this operation {} s ago, beyond the resource's ServiceTimeout ({} s): it no longer waits for an answer; nothing was written",
            age.as_secs(),
            timeout.as_secs()
        ),
    ))
}
