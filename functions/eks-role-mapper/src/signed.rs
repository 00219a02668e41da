//! One SigV4-signed POST with the function's own credentials, for the two AWS calls made without
//! an SDK client (Lambda's asynchronous Invoke and CloudFormation's DescribeStackResource): a
//! whole SDK crate each would add minutes to every build and size to the artifact for one call.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::Full;

use crate::clients::Clients;

/// The endpoint of `service` in `region`, unless the configuration names one
/// (`AWS_ENDPOINT_URL`); aws-cn regions are under `amazonaws.com.cn`.
pub fn endpoint(configured: Option<&str>, service: &str, region: &str) -> String {
    match configured {
        Some(url) => url.trim_end_matches('/').to_string(),
        None if region.starts_with("cn-") => format!("https://{service}.{region}.amazonaws.com.cn"),
        None => format!("https://{service}.{region}.amazonaws.com"),
    }
}

/// POSTs `body` to `url`, signed for `service` in `region`; `headers` are sent and signed.
/// Answers the status and the body, or why nothing came back.
pub async fn post(
    clients: &Clients,
    service: &str,
    region: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, Bytes), String> {
    let credentials = clients.own_credentials().await.map_err(|e| e.to_string())?;
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let uri: http::Uri = url.parse().map_err(|_| "bad endpoint".to_string())?;
    let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let mut signed_headers = vec![("host", host.as_str())];
    signed_headers.extend_from_slice(headers);
    let signable = SignableRequest::new(
        "POST",
        url,
        signed_headers.into_iter(),
        SignableBody::Bytes(&body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut request = http::Request::post(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    instructions.apply_to_request_http1x(&mut request);
    clients.sender().request(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_follows_the_partition_unless_one_is_configured() {
        assert_eq!(
            endpoint(None, "lambda", "cn-north-1"),
            "https://lambda.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            endpoint(None, "cloudformation", "eu-west-1"),
            "https://cloudformation.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            endpoint(Some("https://127.0.0.1:9/"), "lambda", "us-east-1"),
            "https://127.0.0.1:9"
        );
    }
}
