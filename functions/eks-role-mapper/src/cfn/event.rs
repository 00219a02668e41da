//! The custom-resource request: read as `aws_lambda_events`' typed request first, and from raw
//! JSON when that fails, so that even a malformed one still gets a FAILED answer when it carries a
//! usable ResponseURL. Both readings go through the same checks.
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html>
//!
//! The typed request's `Debug` prints the ResponseURL (a credential): it is never logged, only
//! taken apart here.

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest as Typed;
use serde_json::Value;

use crate::cfn::response::ResponseUrl;
use crate::domain::error::{Error, Invalid, Result};

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
    pub continuation: Option<Continuation>,
}

fn text(event: &Value, field: &str) -> Option<String> {
    event
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The fields of a request, as either reading found them (an empty text is absent).
struct Fields {
    request_type: Option<String>,
    response_url: Option<String>,
    stack_id: Option<String>,
    request_id: Option<String>,
    logical_resource_id: Option<String>,
    physical_resource_id: Option<String>,
    properties: Value,
    old_properties: Option<Value>,
}

fn given(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl Fields {
    /// The typed request's fields (None: the event is not one).
    fn typed(event: &Value) -> Option<Fields> {
        let typed: Typed = serde_json::from_value(event.clone()).ok()?;
        // The three request types share their envelope; Update and Delete add the id, Update
        // the old properties.
        let of = |kind: &str,
                  url: String,
                  stack: String,
                  request: String,
                  logical: String,
                  physical: Option<String>,
                  properties: Value,
                  old: Option<Value>| Fields {
            request_type: Some(kind.into()),
            response_url: given(url),
            stack_id: given(stack),
            request_id: given(request),
            logical_resource_id: given(logical),
            physical_resource_id: physical.and_then(given),
            properties,
            old_properties: old,
        };
        Some(match typed {
            Typed::Create(r) => of(
                "Create",
                r.response_url,
                r.stack_id,
                r.request_id,
                r.logical_resource_id,
                None,
                r.resource_properties,
                None,
            ),
            Typed::Update(r) => of(
                "Update",
                r.response_url,
                r.stack_id,
                r.request_id,
                r.logical_resource_id,
                Some(r.physical_resource_id),
                r.resource_properties,
                Some(r.old_resource_properties),
            ),
            Typed::Delete(r) => of(
                "Delete",
                r.response_url,
                r.stack_id,
                r.request_id,
                r.logical_resource_id,
                Some(r.physical_resource_id),
                r.resource_properties,
                None,
            ),
            _ => return None,
        })
    }

    /// The fields read one by one from JSON that is no typed request.
    fn raw(event: &Value) -> Fields {
        Fields {
            request_type: event
                .get("RequestType")
                .and_then(Value::as_str)
                .map(str::to_string),
            response_url: text(event, "ResponseURL"),
            stack_id: text(event, "StackId"),
            request_id: text(event, "RequestId"),
            logical_resource_id: text(event, "LogicalResourceId"),
            physical_resource_id: text(event, "PhysicalResourceId"),
            properties: event
                .get("ResourceProperties")
                .cloned()
                .unwrap_or(Value::Null),
            old_properties: event.get("OldResourceProperties").cloned(),
        }
    }
}

impl Request {
    /// Reads the event. Fails only when there is no ResponseURL to answer to.
    pub fn parse(event: &Value, allow_loopback: bool) -> Result<Request> {
        let f = Fields::typed(event).unwrap_or_else(|| Fields::raw(event));
        let url = f.response_url.clone().ok_or_else(|| {
            Error::invalid("ResponseURL", "required: nowhere to send the response")
        })?;
        let response_url = ResponseUrl::parse(&url, allow_loopback)?;
        // A missing id is echoed as a visible placeholder so the FAILED answer is still well-formed.
        let echo = |v: &Option<String>, field: &str| {
            v.clone().unwrap_or_else(|| format!("(missing {field})"))
        };
        let envelope = Envelope {
            response_url,
            stack_id: echo(&f.stack_id, "StackId"),
            request_id: echo(&f.request_id, "RequestId"),
            logical_resource_id: echo(&f.logical_resource_id, "LogicalResourceId"),
            physical_resource_id: f.physical_resource_id.clone(),
        };
        let mut kind = match f.request_type.as_deref() {
            Some("Create") => Ok(RequestType::Create),
            Some("Update") => Ok(RequestType::Update),
            Some("Delete") => Ok(RequestType::Delete),
            Some(other) => Err(Invalid::new(
                "RequestType",
                format!(
                    "expected Create, Update or Delete, got {}",
                    crate::domain::arn::shown(other)
                ),
            )),
            None => Err(Invalid::new(
                "RequestType",
                "expected Create, Update or Delete, got none",
            )),
        };
        for (field, v) in [
            ("StackId", &f.stack_id),
            ("RequestId", &f.request_id),
            ("LogicalResourceId", &f.logical_resource_id),
        ] {
            if v.is_none() && kind.is_ok() {
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
            properties: f.properties,
            old_properties: f.old_properties,
            continuation: event
                .get(CONTINUATION_FIELD)
                .and_then(|c| serde_json::from_value(c.clone()).ok()),
        })
    }
}

/// Where a request stands across invocations; carried in the event given to the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Continuation {
    /// How many invocations came before this one.
    pub count: u32,
    /// When the first invocation received the request (ms since the epoch).
    pub since_ms: u64,
}

/// The event field that carries a [`Continuation`].
pub const CONTINUATION_FIELD: &str = "EksRoleMapperContinuation";
