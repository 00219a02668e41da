//! The CloudFormation response receiver: stands in for the presigned S3 URL a custom resource
//! answers to, and checks the PUT as S3 would before recording it.

use serde_json::Value;

use crate::http::{with_type, Req, Resp};
use crate::state::{RecordedResponse, World};

/// Path prefix of response URLs.
pub const PREFIX: &str = "/cfn-response/";

/// The name of CloudFormation's response buckets, before the region (without dashes).
pub const RESPONSE_BUCKET: &str = "cloudformation-custom-resource-response-";

/// `url` (a [`crate::Simulator::response_url`] on loopback) at CloudFormation's response bucket
/// of us-east-1 on S3 (virtual-hosted, as CloudFormation's ResponseURLs are), with the same path
/// and query: the form a real bootstrap takes (it never answers to loopback), reached through the
/// simulator's CONNECT proxy (`HTTPS_PROXY`), which serves that host as the receiver. A URL that
/// is not on loopback is given back as it is.
pub fn on_s3(url: &str) -> String {
    on_s3_in(url, "us-east-1", "amazonaws.com")
}

/// [`on_s3`] for `region` under the DNS suffix of its partition.
pub fn on_s3_in(url: &str, region: &str, dns_suffix: &str) -> String {
    let Some(rest) = url
        .strip_prefix("https://127.0.0.1:")
        .or_else(|| url.strip_prefix("http://127.0.0.1:"))
    else {
        return url.to_string();
    };
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    format!(
        "https://{RESPONSE_BUCKET}{}.s3.{region}.{dns_suffix}{path}",
        region.replace('-', "")
    )
}
const MAX_BODY: usize = 4096;

/// An S3 error answer.
pub fn s3_error(status: u16, code: &str, message: &str) -> Resp {
    with_type(
        status,
        "application/xml",
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"),
    )
}

/// Checks and records one response PUT.
pub fn handle(world: &mut World, req: &Req) -> Resp {
    let verdict = check(req);
    match verdict {
        Ok(body) => {
            let request_id = req.raw_path[PREFIX.len()..].to_string();
            world.learn_from_response(&request_id, &body);
            world.responses.push(RecordedResponse {
                request_id,
                body,
                raw_len: req.body.len(),
                content_type: req.header("content-type").map(str::to_string),
            });
            with_type(200, "application/xml", String::new())
        }
        Err(resp) => {
            world.rejected_responses += 1;
            *resp
        }
    }
}

fn rej(status: u16, code: &str, message: &str) -> Box<Resp> {
    Box::new(s3_error(status, code, message))
}

fn check(req: &Req) -> Result<Value, Box<Resp>> {
    if req.method != "PUT" {
        return Err(rej(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        ));
    }
    if req.query("X-Amz-Signature").is_none() {
        return Err(rej(403, "AccessDenied", "Request is not presigned."));
    }
    if req.header("content-type").is_some_and(|t| !t.is_empty()) {
        return Err(rej(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided (Content-Type was not signed)."));
    }
    let Some(len) = req
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    else {
        return Err(rej(
            411,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
        ));
    };
    if len != req.body.len() {
        return Err(rej(
            400,
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        ));
    }
    if len > MAX_BODY {
        return Err(rej(
            400,
            "EntityTooLarge",
            "A CloudFormation response may be at most 4096 bytes.",
        ));
    }
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|_| rej(400, "MalformedResponse", "The response body is not JSON."))?;
    let field = |k: &str| body[k].as_str().filter(|s| !s.is_empty());
    let status = field("Status");
    if !matches!(status, Some("SUCCESS") | Some("FAILED")) {
        return Err(rej(
            400,
            "MalformedResponse",
            "Status must be SUCCESS or FAILED.",
        ));
    }
    for k in [
        "PhysicalResourceId",
        "StackId",
        "RequestId",
        "LogicalResourceId",
    ] {
        if field(k).is_none() {
            return Err(rej(400, "MalformedResponse", &format!("{k} is required.")));
        }
    }
    if status == Some("FAILED") && field("Reason").is_none() {
        return Err(rej(
            400,
            "MalformedResponse",
            "Reason is required on FAILED.",
        ));
    }
    Ok(body)
}
