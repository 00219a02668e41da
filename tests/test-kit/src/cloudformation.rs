//! CloudFormation as the in-memory region plays it: the stack resource's status and the events
//! CloudFormation records (DescribeStackResource, DescribeStackEvents), set as CloudFormation
//! sets them while it sends a request and when it reads the answer.

use std::time::SystemTime;

use eks_role_mapper::ports::{Connect, StackEvent, StackResource, Stacks};
use eks_role_mapper::Result;

use crate::{Memory, World};

impl Memory {
    /// Plays the stack that sends `event`, as CloudFormation would be while sending it: the
    /// function configured for the event's stack, the resource CREATE_IN_PROGRESS, or
    /// UPDATE_IN_PROGRESS / DELETE_IN_PROGRESS under the event's id, and the event recorded as
    /// CloudFormation records it (a Create's or Update's with its properties, the NoEcho
    /// `ClusterAdminExternalId` masked). The Delete of an id the resource no longer has (a
    /// replacement's cleanup) leaves the resource as it is and records only the event.
    pub fn as_cloudformation(&self, event: &serde_json::Value) {
        let before = self.declared();
        self.declare(eks_role_mapper::declared::Declared::playing(
            event,
            before.as_ref(),
        ));
        let text = |f: &str| {
            event
                .get(f)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
        };
        let status = match text("RequestType") {
            "Create" => "CREATE_IN_PROGRESS",
            "Update" => "UPDATE_IN_PROGRESS",
            "Delete" => "DELETE_IN_PROGRESS",
            _ => return,
        };
        let key = (
            text("StackId").to_string(),
            text("LogicalResourceId").to_string(),
        );
        let physical = Some(text("PhysicalResourceId").to_string()).filter(|p| !p.is_empty());
        let props = (status != "DELETE_IN_PROGRESS")
            .then(|| recorded_properties(event.get("ResourceProperties")));
        let mut w = self.world();
        let current = w.stacks.get(&key).cloned();
        let cleanup = status == "DELETE_IN_PROGRESS"
            && current
                .as_ref()
                .is_some_and(|r| !r.status.starts_with("DELETE_") && r.physical_id != physical);
        if !cleanup {
            w.stacks.insert(
                key.clone(),
                StackResource {
                    physical_id: physical.clone(),
                    status: status.into(),
                    last_updated: Some(SystemTime::now()),
                },
            );
        }
        w.record(&key, status, physical, props.flatten(), SystemTime::now());
    }

    /// CloudFormation's reading of the answer `body` to `event` (sent while playing it): the
    /// resource *_COMPLETE or *_FAILED (a Create's or Update's with the answered id), and the
    /// event recorded; a cleanup's Delete records only its event.
    pub fn answered(&self, event: &serde_json::Value, body: &eks_role_mapper::Body) {
        let text = |f: &str| {
            event
                .get(f)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
        };
        let key = (
            text("StackId").to_string(),
            text("LogicalResourceId").to_string(),
        );
        let ok = body.status == "SUCCESS";
        let kind = text("RequestType");
        let status = match (kind, ok) {
            ("Create", true) => "CREATE_COMPLETE",
            ("Create", false) => "CREATE_FAILED",
            ("Update", true) => "UPDATE_COMPLETE",
            ("Update", false) => "UPDATE_FAILED",
            ("Delete", true) => "DELETE_COMPLETE",
            ("Delete", false) => "DELETE_FAILED",
            _ => return,
        };
        let mut w = self.world();
        let request_id = Some(text("PhysicalResourceId").to_string()).filter(|p| !p.is_empty());
        let answered = Some(body.physical_resource_id.clone()).filter(|p| !p.is_empty());
        let current = w.stacks.get(&key).cloned();
        let physical = match (kind, ok) {
            ("Update", false) | ("Delete", _) => request_id.clone(),
            _ => answered,
        };
        let cleanup = kind == "Delete"
            && current
                .as_ref()
                .is_some_and(|r| !r.status.starts_with("DELETE_") && r.physical_id != request_id);
        if !cleanup {
            w.stacks.insert(
                key.clone(),
                StackResource {
                    physical_id: physical.clone(),
                    status: status.into(),
                    last_updated: Some(SystemTime::now()),
                },
            );
        }
        w.record(&key, status, physical, None, SystemTime::now());
    }
}

/// ResourceProperties as CloudFormation records them in an event: the NoEcho
/// `ClusterAdminExternalId` masked (CloudFormation shows `****` for a NoEcho parameter's value).
pub fn recorded_properties(props: Option<&serde_json::Value>) -> Option<String> {
    let mut props = props?.clone();
    if let Some(x) = props.get_mut("ClusterAdminExternalId") {
        *x = serde_json::json!("****");
    }
    Some(props.to_string())
}

impl World {
    /// Records one event of a stack's resource, as CloudFormation does.
    pub fn record(
        &mut self,
        key: &(String, String),
        status: &str,
        physical_id: Option<String>,
        properties: Option<String>,
        timestamp: SystemTime,
    ) {
        self.stack_events.push((
            key.0.clone(),
            key.1.clone(),
            StackEvent {
                status: status.into(),
                physical_id,
                properties,
                timestamp,
            },
        ));
    }
}

impl Stacks for Memory {
    async fn stack_resource(
        &self,
        stack_id: &str,
        logical_id: &str,
    ) -> Result<Option<StackResource>> {
        let mut w = self.world();
        w.check("DescribeStackResource", stack_id)?;
        Ok(w.stacks
            .get(&(stack_id.to_string(), logical_id.to_string()))
            .cloned())
    }

    /// Every event of the resource, newest first (the memory region has no pages).
    async fn resource_events(
        &self,
        stack_id: &str,
        logical_id: &str,
        _with_properties: usize,
    ) -> Result<Vec<StackEvent>> {
        let mut w = self.world();
        w.check("DescribeStackEvents", stack_id)?;
        Ok(w.stack_events
            .iter()
            .rev()
            .filter(|(s, l, _)| s == stack_id && l == logical_id)
            .map(|(_, _, e)| e.clone())
            .collect())
    }
}
