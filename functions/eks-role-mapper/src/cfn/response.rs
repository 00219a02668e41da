//! The CloudFormation response: built to the protocol's rules and PUT to the presigned ResponseURL
//! exactly once. <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html>
//!
//! The ResponseURL is a credential (anyone holding it can answer for the stack): it is never
//! logged, never shown by `Debug`, and must be https on an S3 host of the partition.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::domain::error::{Error, Result};

/// CloudFormation's limit on a response body.
pub const MAX_BODY: usize = 4096;

/// A validated ResponseURL. Its `Debug` and `Display` never show the URL.
#[derive(Clone)]
pub struct ResponseUrl(url::Url);

impl fmt::Debug for ResponseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseUrl(<redacted>)")
    }
}

/// CloudFormation's response buckets: `cloudformation-custom-resource-response-<region without
/// dashes>` (the name in every ResponseURL CloudFormation sends; an answer anywhere else is not
/// CloudFormation's, and would carry `Data` to whoever owns that bucket).
const RESPONSE_BUCKET: &str = "cloudformation-custom-resource-response-";

fn is_response_bucket(name: &str) -> bool {
    name.strip_prefix(RESPONSE_BUCKET).is_some_and(|r| {
        (4..=32).contains(&r.len())
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// An S3 endpoint (a host without its bucket) of a partition the SDK knows, under that
/// partition's own DNS suffix (see `partition`).
fn is_s3_endpoint(host: &str) -> bool {
    crate::domain::partition::s3_endpoint_region(host).is_some()
}

/// A ResponseURL's place: a response bucket, virtual-hosted (`BUCKET.s3...`) or path style
/// (`s3.../BUCKET/...`).
fn is_response_place(url: &url::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    if let Some((bucket, endpoint)) = host.split_once('.') {
        if is_response_bucket(bucket) && is_s3_endpoint(endpoint) {
            return true;
        }
    }
    is_s3_endpoint(host)
        && url
            .path_segments()
            .and_then(|mut s| s.next())
            .is_some_and(is_response_bucket)
}

impl ResponseUrl {
    /// The URL, for the one PUT (never for a log).
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Accepts https on an S3 host, or (when the sender allows it: a local receiver's, never the
    /// product's) http/https on loopback.
    pub fn parse(s: &str, allow_loopback: bool) -> Result<ResponseUrl> {
        let refuse = |why: &str| {
            Error::invalid(
                "ResponseURL",
                format!("expected a presigned https URL on an S3 host ({why})"),
            )
        };
        let url = url::Url::parse(s).map_err(|_| refuse("not a URL"))?;
        let host = url.host_str().unwrap_or_default();
        let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
        if allow_loopback && loopback && matches!(url.scheme(), "http" | "https") {
            return Ok(ResponseUrl(url));
        }
        if url.scheme() != "https" {
            return Err(refuse("scheme is not https"));
        }
        if url.port().is_some_and(|p| p != 443) || !url.username().is_empty() {
            return Err(refuse("host is not S3"));
        }
        if !is_response_place(&url) {
            return Err(refuse("not CloudFormation's response bucket"));
        }
        Ok(ResponseUrl(url))
    }
}

/// The response body.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Body {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub no_echo: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl Body {
    /// Serializes, shortening the Reason until the whole body fits in 4096 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = self.clone();
        loop {
            let out = serde_json::to_vec(&body).expect("a response body always serializes");
            if out.len() <= MAX_BODY {
                return out;
            }
            match &mut body.reason {
                Some(r) if r.len() > 16 => {
                    let keep = r.len().saturating_sub(out.len() - MAX_BODY + 8).max(16);
                    let mut cut = keep.min(r.len());
                    while !r.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    r.truncate(cut);
                    r.push_str(" ...");
                }
                _ => body.data = None,
            }
        }
    }
}

/// Delivers a response body to CloudFormation; the S3 [`Sender`] is the live one.
pub trait Respond: Send + Sync {
    /// Delivers `body` within `budget`; answers the attempts made.
    fn send(
        &self,
        url: &ResponseUrl,
        body: &Body,
        budget: Duration,
    ) -> impl Future<Output = Result<u32>> + Send;

    /// Whether a loopback ResponseURL is taken (tests and replays only).
    fn allows_loopback(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cloudformations_response_buckets_are_accepted_unless_loopback_is_allowed() {
        for ok in [
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=a",
            "https://cloudformation-custom-resource-response-uswest2.s3.us-west-2.amazonaws.com/x",
            "https://s3-eu-west-1.amazonaws.com/cloudformation-custom-resource-response-euwest1/x",
            "https://s3.amazonaws.com/cloudformation-custom-resource-response-useast1/x",
            "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/x",
            // Every partition the SDK knows, by its own DNS suffix (a list of ours named only
            // amazonaws.com and amazonaws.com.cn: an ISO or EUSC stack waited an hour and failed).
            "https://cloudformation-custom-resource-response-usisoeast1.s3.us-iso-east-1.c2s.ic.gov/x",
            "https://cloudformation-custom-resource-response-usisobeast1.s3.us-isob-east-1.sc2s.sgov.gov/x",
            "https://cloudformation-custom-resource-response-euisoewest1.s3.eu-isoe-west-1.cloud.adc-e.uk/x",
            "https://cloudformation-custom-resource-response-usisofsouth1.s3.us-isof-south-1.csp.hci.ic.gov/x",
            "https://cloudformation-custom-resource-response-euscdeeast1.s3.eusc-de-east-1.amazonaws.eu/x",
            "https://cloudformation-custom-resource-response-usgovwest1.s3-fips.us-gov-west-1.amazonaws.com/x",
        ] {
            ResponseUrl::parse(ok, false).unwrap();
        }
        for bad in [
            // Any other bucket, though on S3: the invoker's own, which would receive `Data`.
            "https://bucket.s3.us-west-2.amazonaws.com/x",
            "https://s3-eu-west-1.amazonaws.com/b/x",
            "https://b.s3.cn-north-1.amazonaws.com.cn/x",
            "https://cloudformation-custom-resource-response-useast1evil.example.s3.amazonaws.com/x",
            "https://s3.evil.example/cloudformation-custom-resource-response-useast1/x",
            "https://cloudformation-custom-resource-response-useast1.s3.evil/x.amazonaws.com/x",
            "http://b.s3.amazonaws.com/x",
            "https://evil.example.com/x",
            "https://s3.amazonaws.com.evil.example/x",
            // A region under another partition's suffix.
            "https://cloudformation-custom-resource-response-euscdeeast1.s3.eusc-de-east-1.amazonaws.com/x",
            "https://127.0.0.1:8443/x",
            "not a url",
        ] {
            assert!(ResponseUrl::parse(bad, false).is_err(), "{bad}");
        }
        ResponseUrl::parse("https://127.0.0.1:8443/x", true).unwrap();
        assert!(ResponseUrl::parse("https://10.0.0.1/x", true).is_err());
        assert_eq!(
            format!(
                "{:?}",
                ResponseUrl::parse("https://127.0.0.1/secret", true).unwrap()
            ),
            "ResponseUrl(<redacted>)"
        );
    }

    #[test]
    fn a_long_reason_is_cut_to_fit_4096_bytes() {
        let body = Body {
            status: "FAILED",
            reason: Some("x".repeat(10_000)),
            physical_resource_id: "id".into(),
            stack_id: "s".into(),
            request_id: "r".into(),
            logical_resource_id: "l".into(),
            no_echo: false,
            data: None,
        };
        let out = body.to_bytes();
        assert!(out.len() <= MAX_BODY);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert!(v["Reason"].as_str().unwrap().ends_with(" ..."));
    }
}
