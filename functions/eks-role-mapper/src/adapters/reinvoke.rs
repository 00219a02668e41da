//! The live hand-over: Lambda's Invoke API, InvocationType `Event` (asynchronous), on the
//! function's own ARN through the SDK's Lambda client, so a request whose wait outlasts one
//! invocation goes on in the next (a throttled Invoke is retried by the SDK's standard strategy).
//! <https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html>

use serde_json::Value;

use crate::adapters::clients::Clients;
use crate::domain::error::{Error, Result};
use crate::ports::Reinvoke;

/// Lambda's limit on an asynchronous invocation's payload (the stricter, older figure).
const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;

/// The region of a function ARN (`arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`).
fn region_of(function_arn: &str) -> Option<&str> {
    crate::domain::arn::region_of(function_arn, "lambda", "function")
}

impl Reinvoke for Clients {
    async fn invoke_async(&self, function_arn: &str, event: &Value) -> Result<()> {
        let fail = |why: String| Error::Aws {
            operation: "Invoke (hand-over)".into(),
            message: why,
        };
        let region = region_of(function_arn)
            .ok_or_else(|| fail("the function's ARN names no region".into()))?;
        let body = serde_json::to_vec(event).map_err(|e| fail(e.to_string()))?;
        if body.len() > MAX_ASYNC_PAYLOAD {
            return Err(fail(format!(
                "the event is {} bytes, above Lambda's asynchronous limit",
                body.len()
            )));
        }
        let out = Box::pin(
            self.lambda(region)
                .invoke()
                .function_name(function_arn)
                .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                .payload(aws_sdk_lambda::primitives::Blob::new(body))
                .send(),
        )
        .await
        .map_err(|e| crate::adapters::eks::aws_error("Invoke (hand-over)", e))?;
        if out.status_code != 202 {
            return Err(fail(format!("HTTP {}", out.status_code)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_function_arn() {
        assert_eq!(
            region_of("arn:aws:lambda:eu-west-1:111122223333:function:f"),
            Some("eu-west-1")
        );
        assert_eq!(region_of("arn:aws:iam::1:role/x"), None);
        assert_eq!(region_of(""), None);
    }
}
