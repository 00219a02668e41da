//! The EKS bearer token, made as `aws eks get-token` makes it: `k8s-aws-v1.` + unpadded base64url
//! of a SigV4 query-presigned STS GetCallerIdentity URL whose signed headers include
//! `x-k8s-aws-id: <cluster>`. The URL always names the partition's real regional STS host (the
//! authenticator only accepts those), whatever endpoint override the SDK clients use.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine;

use crate::domain::error::{Error, Result};

/// A bearer token for `cluster`, valid for 15 minutes from `now`.
pub fn bearer_token(
    credentials: &Credentials,
    region: &str,
    cluster: &str,
    now: SystemTime,
    fips: bool,
) -> Result<String> {
    let fail = |e: &dyn std::fmt::Display| Error::Setup(format!("signing the EKS token: {e}"));
    let host = crate::domain::partition::sts_host(region, fips)?;
    let url = format!("https://{host}/?Action=GetCallerIdentity&Version=2011-06-15");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| fail(&e))?
        .into();
    let headers = [("host", host.as_str()), ("x-k8s-aws-id", cluster)];
    let signable = SignableRequest::new(
        "GET",
        &url,
        headers.into_iter(),
        SignableBody::UnsignedPayload,
    )
    .map_err(|e| fail(&e))?;
    let (instructions, _) = sign(signable, &params).map_err(|e| fail(&e))?.into_parts();
    let mut request = http::Request::builder()
        .uri(&url)
        .body(())
        .map_err(|e| fail(&e))?;
    instructions.apply_to_request_http1x(&mut request);
    let presigned = request.uri().to_string();
    Ok(format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_a_presigned_sts_url_naming_the_cluster_header() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("session".into()),
            None,
            "test",
        );
        let t = bearer_token(&creds, "eu-west-1", "prod", SystemTime::now(), false).unwrap();
        let b64 = t.strip_prefix("k8s-aws-v1.").unwrap();
        assert!(!b64.contains('='));
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b64)
                .unwrap(),
        )
        .unwrap();
        assert!(
            url.starts_with(
                "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
            ),
            "{url}"
        );
        assert!(url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"));
        assert!(url.contains("X-Amz-Expires=60"));
        assert!(url.contains("X-Amz-Security-Token=session"));
    }
}
