//! The live CloudFormation read: DescribeStackResource through the SDK's CloudFormation client,
//! which tells a reconcile whether the stack that made the grant still holds it, and the gate
//! whether CloudFormation is updating or deleting the resource now. By the stack's ARN it also
//! finds a deleted stack (for 90 days, its resources DELETE_COMPLETE); a stack or resource that
//! does not exist is a 400 `ValidationError` "... does not exist".
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResource.html>
//!
//! The SDK resolves the endpoint (partition, FIPS, dual-stack, `AWS_ENDPOINT_URL_CLOUDFORMATION`),
//! signs, and retries throttling and server errors as its standard retry strategy does.

use std::time::SystemTime;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;

use crate::adapters::clients::Clients;
use crate::domain::error::{Error, Result};
use crate::ports::{StackResource, Stacks};

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
