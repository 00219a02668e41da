//! The custom-resource request, read from raw JSON so that even a malformed one still gets a
//! FAILED answer when it carries a usable ResponseURL.
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html>

use serde_json::Value;

use crate::error::{Error, Invalid, Result};
use crate::response::ResponseUrl;

/// Create, Update or Delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

/// The fields every answer must echo, plus where to send it.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub response_url: ResponseUrl,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub physical_resource_id: Option<String>,
}

/// A request whose envelope is usable; `kind` may still be an error to report.
#[derive(Debug, Clone)]
pub struct Request {
    pub envelope: Envelope,
    pub kind: Result<RequestType, Invalid>,
    pub properties: Value,
    pub old_properties: Option<Value>,
    /// Set when an earlier invocation handed this request over (see `protocol::HandOver`).
    pub continuation: Option<crate::protocol::Continuation>,
}

fn text(event: &Value, field: &str) -> Option<String> {
    event
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Request {
    /// Reads the event. Fails only when there is no ResponseURL to answer to.
    pub fn parse(event: &Value, allow_loopback: bool) -> Result<Request> {
        let url = text(event, "ResponseURL").ok_or_else(|| {
            Error::invalid("ResponseURL", "required: nowhere to send the response")
        })?;
        let response_url = ResponseUrl::parse(&url, allow_loopback)?;
        // A missing id is echoed as a visible placeholder so the FAILED answer is still well-formed.
        let echo = |field: &str| text(event, field).unwrap_or_else(|| format!("(missing {field})"));
        let envelope = Envelope {
            response_url,
            stack_id: echo("StackId"),
            request_id: echo("RequestId"),
            logical_resource_id: echo("LogicalResourceId"),
            physical_resource_id: text(event, "PhysicalResourceId"),
        };
        let mut kind = match event.get("RequestType").and_then(Value::as_str) {
            Some("Create") => Ok(RequestType::Create),
            Some("Update") => Ok(RequestType::Update),
            Some("Delete") => Ok(RequestType::Delete),
            Some(other) => Err(Invalid::new(
                "RequestType",
                format!(
                    "expected Create, Update or Delete, got {}",
                    crate::arn::shown(other)
                ),
            )),
            None => Err(Invalid::new(
                "RequestType",
                "expected Create, Update or Delete, got none",
            )),
        };
        for field in ["StackId", "RequestId", "LogicalResourceId"] {
            if text(event, field).is_none() && kind.is_ok() {
                kind = Err(Invalid::new(field, "required in a CloudFormation request"));
            }
        }
        if matches!(kind, Ok(RequestType::Update | RequestType::Delete))
            && envelope.physical_resource_id.is_none()
        {
            kind = Err(Invalid::new(
                "PhysicalResourceId",
                "required on Update and Delete",
            ));
        }
        Ok(Request {
            envelope,
            kind,
            properties: event
                .get("ResourceProperties")
                .cloned()
                .unwrap_or(Value::Null),
            old_properties: event.get("OldResourceProperties").cloned(),
            continuation: event
                .get(crate::protocol::CONTINUATION_FIELD)
                .and_then(|c| serde_json::from_value(c.clone()).ok()),
        })
    }
}
