//! CloudFormation's stack events: recorded whenever a stack resource's status is set, and served
//! by `DescribeStackEvents`, from which the mapper learns what the stack declared and is doing.
//!
//! The API (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackEvents.html>,
//! botocore data/cloudformation/2010-05-15/service-2.json): Query protocol, `StackName` (a
//! running stack by name or ID, a deleted one by ID only), `NextToken`; the answer
//! `DescribeStackEventsResult` with `StackEvents` (`member`s, "in reverse chronological order")
//! and a `NextToken` while more remain. Each `StackEvent`
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackEvent.html>)
//! has `StackId`, `EventId`, `StackName`, `LogicalResourceId`, `PhysicalResourceId`,
//! `ResourceType`, `Timestamp`, `ResourceStatus` and `ResourceProperties` ("BLOB of the
//! properties used to create the resource": the JSON text of the resolved properties).
//!
//! As strict as CloudFormation can be: `ResourceProperties` only on the events of a Create or
//! Update in progress (the ones that use properties), a NoEcho parameter's value shown as
//! `****` (the template's one NoEcho value a custom resource gets is `ClusterAdminExternalId`),
//! and pages smaller than any real one (CloudFormation pages by size, 1 MB), so a reader that
//! does not follow `NextToken` misses events.

use serde::Serialize;
use serde_json::Value;

use crate::aws_api::xml_escape;
use crate::cfn_api::{cfn_error, iso8601_ms, XMLNS};
use crate::http::{with_type, Resp};
use crate::state::Stack;

/// Events a page holds here.
pub const PAGE: usize = 25;

/// The properties CloudFormation masks: the values of NoEcho parameters the template passes.
const NO_ECHO: &[&str] = &["ClusterAdminExternalId"];

/// One event, as DescribeStackEvents reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StackEvent {
    pub event_id: String,
    pub logical_resource_id: String,
    pub physical_resource_id: Option<String>,
    pub resource_type: String,
    pub status: String,
    /// Epoch milliseconds on the simulated clock.
    pub timestamp_ms: i64,
    pub resource_properties: Option<String>,
}

/// A status set on a resource.
pub struct Recorded<'a> {
    pub logical: &'a str,
    pub physical: Option<&'a str>,
    pub status: &'a str,
    pub resource_type: &'a str,
    pub at: i64,
}

/// Whether CloudFormation records the properties on an event of this status.
fn uses_properties(status: &str) -> bool {
    matches!(status, "CREATE_IN_PROGRESS" | "UPDATE_IN_PROGRESS")
}

/// ResourceProperties as CloudFormation writes them in an event: the JSON text of `props` with
/// each NoEcho value masked.
pub fn as_recorded(props: &Value) -> String {
    let mut props = props.clone();
    for key in NO_ECHO {
        if let Some(v) = props.get_mut(*key) {
            *v = Value::String("****".into());
        }
    }
    props.to_string()
}

/// The properties last recorded for the resource `logical` of `stack`.
pub fn latest_properties(stack: &Stack, logical: &str) -> Option<String> {
    stack
        .events
        .iter()
        .rev()
        .filter(|e| e.logical_resource_id == logical)
        .find_map(|e| e.resource_properties.clone())
}

/// Records one event of `stack`'s resource: on a Create or Update in progress with
/// `properties`, or else the resource's last recorded ones (a status set without them is an
/// operation that keeps the properties it had).
pub fn record(stack: &mut Stack, r: Recorded<'_>, properties: Option<String>) {
    let properties = match uses_properties(r.status) {
        true => properties.or_else(|| latest_properties(stack, r.logical)),
        false => None,
    };
    let at = iso8601_ms(r.at);
    stack.events.push(StackEvent {
        // CloudFormation's resource events: `LOGICAL-STATUS-TIMESTAMP` (the API reference's
        // examples), made unique here by the event's index.
        event_id: format!("{}-{}-{at}-{}", r.logical, r.status, stack.events.len()),
        logical_resource_id: r.logical.to_string(),
        physical_resource_id: r.physical.map(str::to_string),
        resource_type: r.resource_type.to_string(),
        status: r.status.to_string(),
        timestamp_ms: r.at,
        resource_properties: properties,
    });
}

/// DescribeStackEvents for `stack` (already found and authorized), from `token` on.
pub fn describe(stack: &Stack, token: Option<&str>) -> Resp {
    match page(stack, token) {
        Some(xml) => with_type(200, "text/xml", xml),
        None => cfn_error(400, "ValidationError", "Invalid NextToken"),
    }
}

/// The answer's XML, or None for a token this stack never gave.
fn page(stack: &Stack, token: Option<&str>) -> Option<String> {
    let start = match token {
        None => 0,
        Some(t) => match t
            .strip_prefix("events-")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) if n <= stack.events.len() => n,
            _ => return None,
        },
    };
    let newest_first: Vec<&StackEvent> = stack.events.iter().rev().collect();
    let page = newest_first.iter().skip(start).take(PAGE);
    let mut members = String::new();
    for e in page {
        let opt = |tag: &str, v: Option<&str>| {
            v.map(|v| format!("<{tag}>{}</{tag}>", xml_escape(v)))
                .unwrap_or_default()
        };
        members.push_str(&format!(
            "      <member>\n        <Timestamp>{}</Timestamp>\n        <ResourceStatus>{}</ResourceStatus>\n        <StackId>{}</StackId>\n        <EventId>{}</EventId>\n        <LogicalResourceId>{}</LogicalResourceId>\n        <StackName>{}</StackName>\n        {}\n        {}\n        <ResourceType>{}</ResourceType>\n      </member>\n",
            iso8601_ms(e.timestamp_ms),
            e.status,
            xml_escape(&stack.stack_id),
            xml_escape(&e.event_id),
            xml_escape(&e.logical_resource_id),
            xml_escape(&stack.name),
            opt("PhysicalResourceId", e.physical_resource_id.as_deref()),
            opt("ResourceProperties", e.resource_properties.as_deref()),
            xml_escape(&e.resource_type),
        ));
    }
    let next = if start + PAGE < stack.events.len() {
        format!("    <NextToken>events-{}</NextToken>\n", start + PAGE)
    } else {
        String::new()
    };
    Some(format!(
        "<DescribeStackEventsResponse xmlns=\"{XMLNS}\">\n  <DescribeStackEventsResult>\n    <StackEvents>\n{members}    </StackEvents>\n{next}  </DescribeStackEventsResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</DescribeStackEventsResponse>\n",
        uuid::Uuid::new_v4()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn stack() -> Stack {
        Stack {
            stack_id: "arn:aws:cloudformation:us-east-1:111122223333:stack/s/1".into(),
            name: "s".into(),
            region: "us-east-1".into(),
            account: "111122223333".into(),
            deleted: false,
            resources: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    fn at(status: &str, n: i64) -> Recorded<'_> {
        Recorded {
            logical: "Mapping",
            physical: None,
            status,
            resource_type: "Custom::EksRoleMapping",
            at: n,
        }
    }

    #[test]
    fn properties_only_on_an_operation_in_progress_masked_and_kept_by_a_status_without_them() {
        let mut s = stack();
        let props = serde_json::json!({"RoleArn": "r", "ClusterAdminExternalId": "secret"});
        record(
            &mut s,
            at("CREATE_IN_PROGRESS", 1),
            Some(as_recorded(&props)),
        );
        record(&mut s, at("CREATE_COMPLETE", 2), Some(as_recorded(&props)));
        record(&mut s, at("UPDATE_IN_PROGRESS", 3), None);
        let p: Vec<Option<&str>> = s
            .events
            .iter()
            .map(|e| e.resource_properties.as_deref())
            .collect();
        let masked = r#"{"ClusterAdminExternalId":"****","RoleArn":"r"}"#;
        assert_eq!(p, [Some(masked), None, Some(masked)]);
    }

    #[test]
    fn pages_newest_first_and_a_reader_must_follow_the_token() {
        let mut s = stack();
        for n in 0..(PAGE as i64 + 3) {
            record(&mut s, at("UPDATE_COMPLETE", n), None);
        }
        let first = page(&s, None).unwrap();
        assert!(
            first.contains("<NextToken>events-25</NextToken>"),
            "{first}"
        );
        let newest = iso8601_ms(PAGE as i64 + 2);
        assert!(first.find(&newest) < first.find(&iso8601_ms(PAGE as i64 + 1)));
        let second = page(&s, Some("events-25")).unwrap();
        assert_eq!(second.matches("<member>").count(), 3);
        assert!(!second.contains("NextToken"));
        assert!(page(&s, Some("x")).is_none());
    }
}
