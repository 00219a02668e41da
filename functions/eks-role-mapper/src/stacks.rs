//! The live CloudFormation read: DescribeStackResource (query protocol, SigV4), which tells a
//! reconcile whether the stack that made the grant still holds it. By the stack's ARN it also
//! finds a deleted stack (for 90 days, its resources DELETE_COMPLETE); a stack or resource that
//! does not exist is a 400 `ValidationError`.
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResource.html>
//! (botocore: data/cloudformation/2010-05-15/service-2.json, protocol `query`).

use std::time::{Duration, SystemTime};

use aws_smithy_types::date_time::{DateTime, Format};

use crate::clients::Clients;
use crate::cloud::{StackResource, Stacks};
use crate::error::{Error, Result};
use crate::signed::{self, leaves};

/// How many times a throttled or broken call is tried.
const ATTEMPTS: u32 = 3;

/// The region of a stack ARN (`arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID`).
pub fn stack_region(stack_id: &str) -> Option<&str> {
    crate::arn::region_of(stack_id, "cloudformation", "stack/")
}

impl Stacks for Clients {
    async fn stack_resource(
        &self,
        stack_id: &str,
        logical_id: &str,
    ) -> Result<Option<StackResource>> {
        let fail = |message: String| Error::Aws {
            operation: "DescribeStackResource".into(),
            message,
        };
        let region = stack_region(stack_id)
            .ok_or_else(|| Error::invalid("StackId", "expected a CloudFormation stack ARN"))?;
        let pairs = [
            ("Action", "DescribeStackResource"),
            ("Version", "2010-05-15"),
            ("StackName", stack_id),
            ("LogicalResourceId", logical_id),
        ];
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = signed::query(self, "cloudformation", region, &pairs).await;
            let retry = match &answer {
                Err(_) => true,
                Ok((status, text)) => {
                    *status >= 500
                        || leaves(text, &["Code"])
                            .get("Code")
                            .is_some_and(|c| c == "Throttling")
                }
            };
            if retry && attempt < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                continue;
            }
            let (status, text) = answer.map_err(fail)?;
            return read_answer(status, &text).map_err(fail);
        }
    }
}

/// The resource from a 200, None from the 400 that says the stack or resource does not exist.
fn read_answer(status: u16, text: &str) -> std::result::Result<Option<StackResource>, String> {
    if status == 200 {
        let found = leaves(
            text,
            &[
                "PhysicalResourceId",
                "ResourceStatus",
                "LastUpdatedTimestamp",
            ],
        );
        let status = found
            .get("ResourceStatus")
            .cloned()
            .ok_or("an answer without ResourceStatus")?;
        return Ok(Some(StackResource {
            physical_id: found.get("PhysicalResourceId").cloned(),
            status,
            last_updated: found
                .get("LastUpdatedTimestamp")
                .and_then(|t| DateTime::from_str(t, Format::DateTime).ok())
                .and_then(|t| SystemTime::try_from(t).ok()),
        }));
    }
    let error = leaves(text, &["Code", "Message"]);
    let code = error.get("Code").map(String::as_str).unwrap_or("");
    let message = error.get("Message").map(String::as_str).unwrap_or("");
    if status == 400 && code == "ValidationError" && message.contains("does not exist") {
        return Ok(None);
    }
    Err(format!("HTTP {status} {code}: {message}"))
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
    fn the_answer_is_read_as_cloudformation_writes_it() {
        let ok = r#"<DescribeStackResourceResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStackResourceResult><StackResourceDetail>
    <StackId>arn:aws:cloudformation:us-east-1:1:stack/s/x</StackId>
    <LogicalResourceId>Mapping</LogicalResourceId>
    <PhysicalResourceId>eks-role-mapper/v2|us-east-1|0123456789abcdef|arn:aws:iam::1:role/a&amp;b</PhysicalResourceId>
    <ResourceType>Custom::EksRoleMapping</ResourceType>
    <LastUpdatedTimestamp>2026-11-25T10:00:00.500Z</LastUpdatedTimestamp>
    <ResourceStatus>UPDATE_COMPLETE</ResourceStatus>
  </StackResourceDetail></DescribeStackResourceResult>
</DescribeStackResourceResponse>"#;
        let r = read_answer(200, ok).unwrap().unwrap();
        assert_eq!(r.status, "UPDATE_COMPLETE");
        assert_eq!(
            r.physical_id.as_deref(),
            Some("eks-role-mapper/v2|us-east-1|0123456789abcdef|arn:aws:iam::1:role/a&b")
        );
        assert_eq!(
            r.last_updated,
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_600_800_500))
        );
        let gone = r#"<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id s does not exist</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
        assert_eq!(read_answer(400, gone), Ok(None));
        let denied = gone
            .replace("ValidationError", "AccessDenied")
            .replace("Stack with id s does not exist", "not authorized");
        assert_eq!(
            read_answer(403, &denied),
            Err("HTTP 403 AccessDenied: not authorized".to_string())
        );
    }
}
