//! The live hand-over: Lambda's Invoke API with `X-Amz-Invocation-Type: Event` (asynchronous) on
//! the function's own ARN, SigV4-signed with the function's credentials, so a request whose wait
//! outlasts one invocation goes on in the next.
//! <https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html>

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::Full;
use serde_json::Value;

use crate::clients::Clients;
use crate::cloud::Reinvoke;
use crate::error::{Error, Result};

/// Lambda's limit on an asynchronous invocation's payload (the stricter, older figure).
const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;

/// The region of a function ARN (`arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`).
fn region_of(function_arn: &str) -> Option<&str> {
    let mut parts = function_arn.split(':');
    (parts.next()? == "arn").then_some(())?;
    parts.next()?;
    (parts.next()? == "lambda").then_some(())?;
    parts.next().filter(|r| !r.is_empty())
}

/// Lambda's endpoint for a region, unless the configuration names one (`AWS_ENDPOINT_URL`).
fn endpoint(configured: Option<&str>, region: &str) -> String {
    match configured {
        Some(url) => url.trim_end_matches('/').to_string(),
        None if region.starts_with("cn-") => format!("https://lambda.{region}.amazonaws.com.cn"),
        None => format!("https://lambda.{region}.amazonaws.com"),
    }
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
            endpoint(self.endpoint_url().as_deref(), region),
            percent_encode(function_arn)
        );
        let credentials = self.own_credentials().await?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("lambda")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| fail(e.to_string()))?
            .into();
        let uri: http::Uri = url.parse().map_err(|_| fail("bad endpoint".into()))?;
        let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/json"),
            ("x-amz-invocation-type", "Event"),
        ];
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.into_iter(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| fail(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| fail(e.to_string()))?
            .into_parts();
        let mut request = http::Request::post(uri)
            .header("content-type", "application/json")
            .header("x-amz-invocation-type", "Event")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| fail(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut request);
        let status = self.sender().request(request).await.map_err(fail)?;
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
    fn the_region_comes_from_the_function_arn_and_the_endpoint_from_the_partition() {
        assert_eq!(
            region_of("arn:aws:lambda:eu-west-1:111122223333:function:f"),
            Some("eu-west-1")
        );
        assert_eq!(region_of("arn:aws:iam::1:role/x"), None);
        assert_eq!(region_of(""), None);
        assert_eq!(
            endpoint(None, "cn-north-1"),
            "https://lambda.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            endpoint(Some("https://127.0.0.1:9/"), "us-east-1"),
            "https://127.0.0.1:9"
        );
    }
}
