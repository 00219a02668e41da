//! EKS bearer tokens, checked as kubernetes-sigs/aws-iam-authenticator (`pkg/token/token.go`) does:
//! `k8s-aws-v1.` + raw base64url of a presigned STS GetCallerIdentity URL whose signature covers
//! `x-k8s-aws-id: <cluster>`, at most 15 minutes old, with only the allowed query parameters
//! (any case, none twice), `X-Amz-Expires` within 0..900, and an STS host of the cluster's
//! partition. The simulator checks the signature itself
//! instead of calling STS.

use base64::Engine;

use crate::sigv4;
use crate::state::World;

const PREFIX: &str = "k8s-aws-v1.";
const MAX_TOKEN_LEN: usize = 4096;
const MAX_AGE_SECS: i64 = 15 * 60;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is too large")]
    TooLarge,
    #[error("token is missing the expected \"k8s-aws-v1.\" prefix")]
    Prefix,
    #[error("token is not raw base64url")]
    Encoding,
    #[error("presigned URL is malformed")]
    Url,
    #[error("unexpected scheme, host or action in the presigned URL")]
    Target,
    #[error("unexpected query parameter {0}")]
    UnexpectedParameter(String),
    #[error("duplicate query parameter {0}")]
    DuplicateParameter(String),
    #[error("X-Amz-Expires is missing or not within 0..900")]
    Expires,
    #[error("x-k8s-aws-id is not signed or names another cluster")]
    ClusterId,
    #[error("token is expired")]
    Expired,
    #[error("signature does not match a known key")]
    Signature,
}

/// The query parameters the authenticator lets through, compared lowercased
/// (aws-iam-authenticator pkg/token/token.go, `parameterWhitelist`).
const ALLOWED_PARAMETERS: [&str; 9] = [
    "action",
    "version",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
];

/// The partition of a region, by its prefix.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else {
        "aws"
    }
}

/// STS domains of a partition: regular and dual-stack (aws-iam-authenticator
/// pkg/endpoints/partitions.go, GetSTSPartitionDomain and GetSTSDualStackPartitionDomain).
fn sts_domains(partition: &str) -> &'static [&'static str] {
    match partition {
        "aws" | "aws-us-gov" => &["amazonaws.com", "api.aws"],
        "aws-cn" => &["amazonaws.com.cn", "api.amazonwebservices.com.cn"],
        "aws-eusc" => &["amazonaws.eu", "api.amazonwebservices.eu"],
        _ => &[],
    }
}

/// Whether the presigned URL's host is an STS endpoint of the cluster's partition, as
/// `verifySTSHostnameFormat` (pkg/token/token.go) decides: the global `sts.amazonaws.com` only in
/// `aws`; otherwise `sts.REGION.DOMAIN` or `sts-fips.REGION.DOMAIN` (what the SDK's STS resolver
/// gives with FIPS and dual-stack on or off), REGION a well-formed region name (it is not checked
/// against a list) and DOMAIN the partition's regular or dual-stack domain.
fn allowed_host(host: &str, partition: &str) -> bool {
    if host == "sts.amazonaws.com" {
        return partition == "aws";
    }
    let mut labels = host.splitn(3, '.');
    let (Some(service), Some(region), Some(domain)) = (labels.next(), labels.next(), labels.next())
    else {
        return false;
    };
    // validateInputRegion: ^[[:alnum:]]([[:alnum:]\-]*[[:alnum:]])?$
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    matches!(service, "sts" | "sts-fips") && region_ok && sts_domains(partition).contains(&domain)
}

/// Verifies a bearer token for `cluster`; returns the caller ARN and the access key it was
/// signed with (the authenticator's `{{AccessKeyID}}`).
pub fn verify(world: &World, token: &str, cluster: &str) -> Result<(String, String), TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLarge);
    }
    let b64 = token.strip_prefix(PREFIX).ok_or(TokenError::Prefix)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| TokenError::Encoding)?;
    let url = String::from_utf8(raw).map_err(|_| TokenError::Encoding)?;
    let rest = url.strip_prefix("https://").ok_or(TokenError::Target)?;
    let (host_path, raw_query) = rest.split_once('?').ok_or(TokenError::Url)?;
    let (host, path) = match host_path.split_once('/') {
        Some((h, p)) => (h, format!("/{p}")),
        None => (host_path, "/".to_string()),
    };
    let region = world
        .clusters
        .get(cluster)
        .map(|c| c.region.clone())
        .unwrap_or_else(|| world.scenario.region.clone());
    if !allowed_host(host, partition_of(&region)) || path != "/" {
        return Err(TokenError::Target);
    }
    let pairs = sigv4::query_pairs(raw_query);
    // Only allowed parameters, each once, whatever their case (`validateDuplicateParameters`
    // and the whitelist loop in token.go); the values are then read by lowercased name.
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &pairs {
        let lower = k.to_ascii_lowercase();
        if !ALLOWED_PARAMETERS.contains(&lower.as_str()) {
            return Err(TokenError::UnexpectedParameter(k.clone()));
        }
        if !seen.insert(lower) {
            return Err(TokenError::DuplicateParameter(k.clone()));
        }
    }
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    // X-Amz-Expires must be an integer from 0 to 900 (token.go; the token still lives 15 minutes
    // from X-Amz-Date whatever it says).
    let expires_ok = get("X-Amz-Expires")
        .and_then(|e| e.parse::<i64>().ok())
        .is_some_and(|e| (0..=900).contains(&e));
    if !expires_ok {
        return Err(TokenError::Expires);
    }
    if get("Action") != Some("GetCallerIdentity") {
        return Err(TokenError::Target);
    }
    let signed: Vec<String> = get("X-Amz-SignedHeaders")
        .ok_or(TokenError::ClusterId)?
        .split(';')
        .map(str::to_string)
        .collect();
    if !signed
        .iter()
        .any(|h| h.eq_ignore_ascii_case("x-k8s-aws-id"))
    {
        return Err(TokenError::ClusterId);
    }
    let caller = signed_caller(world, host, &pairs, &signed, |h| {
        (h == "x-k8s-aws-id").then(|| cluster.to_string())
    })?;
    let key = get("X-Amz-Credential")
        .and_then(sigv4::parse_credential)
        .map(|c| c.access_key_id)
        .unwrap_or_default();
    Ok((caller, key))
}

/// The caller a presigned STS GetCallerIdentity URL on `host` stands for, as STS itself checks it
/// when the URL is called: a known key (and its session token), at most 15 minutes since
/// `X-Amz-Date`, and a signature over the signed headers' values as `header` gives them (the
/// authenticator sends `x-k8s-aws-id` as its own cluster id, so a token made for another cluster
/// fails here). Shared by the token check and the STS endpoint behind the simulator's proxy.
pub fn signed_caller(
    world: &World,
    host: &str,
    pairs: &[(String, String)],
    signed: &[String],
    header: impl Fn(&str) -> Option<String>,
) -> Result<String, TokenError> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let amz_date = get("X-Amz-Date").ok_or(TokenError::Url)?;
    let issued = sigv4::parse_amz_date(amz_date).ok_or(TokenError::Url)?;
    let age = world.now() - issued;
    if !(-MAX_AGE_SECS..=MAX_AGE_SECS).contains(&age) {
        return Err(TokenError::Expired);
    }
    let cred = get("X-Amz-Credential")
        .and_then(sigv4::parse_credential)
        .ok_or(TokenError::Url)?;
    let owner = world
        .keys
        .get(&cred.access_key_id)
        .ok_or(TokenError::Signature)?;
    if let Some((session_token, expires)) = &owner.session {
        if get("X-Amz-Security-Token") != Some(session_token.as_str()) {
            return Err(TokenError::Signature);
        }
        if *expires < world.now() {
            return Err(TokenError::Expired);
        }
    }
    let mut headers = Vec::new();
    for h in signed {
        let value = match h.as_str() {
            "host" => Some(host.to_string()),
            other => header(other),
        };
        headers.push((h.clone(), value.ok_or(TokenError::Signature)?));
    }
    let signature = get("X-Amz-Signature").ok_or(TokenError::Signature)?;
    let canonical_query = sigv4::canonical_query(pairs, "X-Amz-Signature");
    // botocore presigns with UNSIGNED-PAYLOAD; some SDKs hash the empty body: STS accepts both.
    for payload in ["UNSIGNED-PAYLOAD".to_string(), sigv4::sha256_hex(b"")] {
        let canonical = sigv4::canonical_request(&sigv4::CanonicalInput {
            method: "GET",
            raw_path: "/",
            canonical_query: canonical_query.clone(),
            headers: headers.clone(),
            signed_headers: signed,
            payload_hash: payload,
        });
        let expected = sigv4::signature(&owner.secret, amz_date, &cred, &canonical);
        if sigv4::signatures_match(&expected, signature) {
            return Ok(owner.caller_arn.clone());
        }
    }
    // A signature that is fine for another cluster id is the "cluster changed" case.
    Err(TokenError::Signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sts_hosts_of_a_partition_are_accepted() {
        for ok in [
            "sts.amazonaws.com",
            "sts.eu-west-1.amazonaws.com",
            "sts-fips.us-east-1.amazonaws.com",
            "sts.us-east-1.api.aws",
            "sts-fips.us-east-2.api.aws",
        ] {
            assert!(allowed_host(ok, "aws"), "{ok}");
        }
        for bad in [
            "sts.cn-north-1.amazonaws.com.cn",
            "sts.evil.example.com",
            "sts..amazonaws.com",
            "sts.-x.amazonaws.com",
            "iam.us-east-1.amazonaws.com",
            "127.0.0.1",
        ] {
            assert!(!allowed_host(bad, "aws"), "{bad}");
        }
        assert!(allowed_host("sts.cn-north-1.amazonaws.com.cn", "aws-cn"));
        assert!(allowed_host(
            "sts.cn-north-1.api.amazonwebservices.com.cn",
            "aws-cn"
        ));
        assert!(!allowed_host("sts.amazonaws.com", "aws-cn"));
        assert!(!allowed_host("sts.amazonaws.com", "aws-us-gov"));
        assert!(allowed_host(
            "sts.us-gov-west-1.amazonaws.com",
            "aws-us-gov"
        ));
    }
}
