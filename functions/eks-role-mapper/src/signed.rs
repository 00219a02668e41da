//! One SigV4-signed POST with the function's own credentials, for the AWS calls made without an
//! SDK client (Lambda's asynchronous Invoke, CloudFormation's DescribeStackResource, SNS Publish,
//! Secrets Manager GetSecretValue): a whole SDK crate each would add minutes to every build and
//! size to the artifact for one call.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use std::collections::HashMap;

use aws_smithy_xml::decode::{try_data, Document, ScopedDecoder, XmlDecodeError};
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

/// A query-protocol call (CloudFormation, SNS): `pairs` as the form body POSTed to `service`'s
/// endpoint in `region`. Answers the status and the (XML) text, or why nothing came back.
pub async fn query(
    clients: &Clients,
    service: &str,
    region: &str,
    pairs: &[(&str, &str)],
) -> Result<(u16, String), String> {
    let url = format!(
        "{}/",
        endpoint(clients.endpoint_url().as_deref(), service, region)
    );
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes();
    let headers = [(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    let (status, text) = post(clients, service, region, &url, &headers, body).await?;
    Ok((status, String::from_utf8_lossy(&text).into_owned()))
}

/// The text of the first element of each name in `wanted`, at any depth: what a query-protocol
/// (XML) answer says.
pub fn leaves(xml: &str, wanted: &[&str]) -> HashMap<String, String> {
    fn walk(
        dec: &mut ScopedDecoder<'_, '_>,
        wanted: &[&str],
        out: &mut HashMap<String, String>,
    ) -> std::result::Result<(), XmlDecodeError> {
        while let Some(mut tag) = dec.next_tag() {
            let name = tag.start_el().local().to_string();
            if wanted.contains(&name.as_str()) {
                let text = try_data(&mut tag)?.into_owned();
                out.entry(name).or_insert(text);
            } else {
                walk(&mut tag, wanted, out)?;
            }
        }
        Ok(())
    }
    let mut out = HashMap::new();
    let mut doc = Document::new(xml);
    if let Ok(mut root) = doc.root_element() {
        let _ = walk(&mut root, wanted, &mut out);
    }
    out
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
