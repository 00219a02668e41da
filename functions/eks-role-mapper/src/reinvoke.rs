//! The live hand-over: Lambda's Invoke API with `X-Amz-Invocation-Type: Event` (asynchronous) on
//! the function's own ARN, SigV4-signed with the function's credentials, so a request whose wait
//! outlasts one invocation goes on in the next.
//! <https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html>

use serde_json::Value;

use crate::clients::Clients;
use crate::cloud::Reinvoke;
use crate::error::{Error, Result};
use crate::signed;

/// Lambda's limit on an asynchronous invocation's payload (the stricter, older figure).
const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;

/// The region of a function ARN (`arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`).
fn region_of(function_arn: &str) -> Option<&str> {
    crate::arn::region_of(function_arn, "lambda", "function")
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
        let url = format!(
            "{}/2015-03-31/functions/{}/invocations",
            signed::endpoint(self.endpoint_url().as_deref(), "lambda", region),
            percent_encode(function_arn)
        );
        let headers = [
            ("content-type", "application/json"),
            ("x-amz-invocation-type", "Event"),
        ];
        let (status, _) = signed::post(self, "lambda", region, &url, &headers, body)
            .await
            .map_err(fail)?;
        if status != 202 {
            return Err(fail(format!("HTTP {status}")));
        }
        Ok(())
    }
}

/// The function name as a path segment (an ARN's colons are kept: Lambda takes them as they are).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
