//! The live CloudFormation reads through the SDK's CloudFormation client: DescribeStackResource
//! (is CloudFormation creating, updating or deleting the resource now, under which physical id;
//! does the stack still hold the grant) and DescribeStackEvents (what CloudFormation recorded of
//! the resource: its properties as CloudFormation resolved them, on each in-progress event). By
//! the stack's ARN both also find a deleted stack (for 90 days, its resources DELETE_COMPLETE);
//! a stack or resource that does not exist is a 400 `ValidationError` "... does not exist".
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResource.html>
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackEvents.html>
//! (newest first, `NextToken` paging; each `StackEvent` with `ResourceProperties`).
//!
//! The SDK resolves the endpoint (partition, FIPS, dual-stack, `AWS_ENDPOINT_URL_CLOUDFORMATION`),
//! signs, and retries throttling and server errors as its standard retry strategy does.

use std::time::SystemTime;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;

use crate::adapters::clients::Clients;
use crate::domain::error::{Error, Result};
use crate::ports::{StackEvent, StackResource, Stacks};

/// The most pages of events one request reads: a stack's whole history is kept, and what the
/// gate needs is among the newest (each page is up to 1 MB).
const MAX_PAGES: usize = 20;

pub use crate::domain::arn::stack_region;

/// Whether an error says the stack or the resource does not exist (not a failure: gone).
fn not_found(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationError") && message.is_some_and(|m| m.contains("does not exist"))
}

impl Stacks for Clients {
    async fn stack_resource(
        &self,
        stack_id: &str,
        logical_id: &str,
    ) -> Result<Option<StackResource>> {
        let region = stack_region(stack_id)
            .ok_or_else(|| Error::invalid("StackId", "expected a CloudFormation stack ARN"))?;
        let answer = Box::pin(
            self.cloudformation(region)
                .describe_stack_resource()
                .stack_name(stack_id)
                .logical_resource_id(logical_id)
                .send(),
        )
        .await;
        let out = match answer {
            Ok(out) => out,
            Err(e) if not_found(e.code(), e.message()) => return Ok(None),
            Err(e) => return Err(crate::adapters::eks::aws_error("DescribeStackResource", e)),
        };
        let detail = out.stack_resource_detail.ok_or_else(|| Error::Aws {
            operation: "DescribeStackResource".into(),
            message: "an answer without StackResourceDetail".into(),
        })?;
        let status = detail
            .resource_status
            .map(|s| s.as_str().to_string())
            .ok_or_else(|| Error::Aws {
                operation: "DescribeStackResource".into(),
                message: "an answer without ResourceStatus".into(),
            })?;
        Ok(Some(StackResource {
            physical_id: detail.physical_resource_id,
            status,
            last_updated: detail
                .last_updated_timestamp
                .and_then(|t| SystemTime::try_from(t).ok()),
        }))
    }

    async fn resource_events(
        &self,
        stack_id: &str,
        logical_id: &str,
        with_properties: usize,
    ) -> Result<Vec<StackEvent>> {
        let region = stack_region(stack_id)
            .ok_or_else(|| Error::invalid("StackId", "expected a CloudFormation stack ARN"))?;
        let client = self.cloudformation(region);
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let answer = Box::pin(
                client
                    .describe_stack_events()
                    .stack_name(stack_id)
                    .set_next_token(token.take())
                    .send(),
            )
            .await;
            let out = match answer {
                Ok(out) => out,
                Err(e) if not_found(e.code(), e.message()) => return Ok(Vec::new()),
                Err(e) => return Err(crate::adapters::eks::aws_error("DescribeStackEvents", e)),
            };
            // A hook's events name the resource too: they are not the resource's own.
            for e in out
                .stack_events
                .unwrap_or_default()
                .into_iter()
                .filter(|e| {
                    e.logical_resource_id.as_deref() == Some(logical_id) && e.hook_type.is_none()
                })
            {
                let (Some(status), Some(at)) = (e.resource_status, e.timestamp) else {
                    continue;
                };
                events.push(StackEvent {
                    status: status.as_str().to_string(),
                    physical_id: e.physical_resource_id.filter(|p| !p.is_empty()),
                    properties: e.resource_properties,
                    timestamp: SystemTime::try_from(at).unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
            let seen = events.iter().filter(|e| e.properties.is_some()).count();
            match out.next_token {
                Some(next) if seen < with_properties => token = Some(next),
                _ => break,
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_arn_names_its_region_and_nothing_else_does() {
        assert_eq!(
            stack_region("arn:aws:cloudformation:eu-west-1:111122223333:stack/s/6f1c"),
            Some("eu-west-1")
        );
        assert_eq!(stack_region("my-stack"), None);
        assert_eq!(
            stack_region("arn:aws:lambda:eu-west-1:111122223333:function:f"),
            None
        );
    }

    #[test]
    fn only_a_validation_error_that_says_so_is_a_stack_that_does_not_exist() {
        assert!(not_found(
            Some("ValidationError"),
            Some("Stack with id s does not exist")
        ));
        assert!(!not_found(Some("AccessDenied"), Some("does not exist")));
        assert!(!not_found(
            Some("ValidationError"),
            Some("1 validation error detected")
        ));
    }
}
