//! EKS bearer tokens, checked as kubernetes-sigs/aws-iam-authenticator (`pkg/token/token.go`) does:
//! `k8s-aws-v1.` + raw base64url of a presigned STS GetCallerIdentity URL whose signature covers
//! `x-k8s-aws-id: <cluster>`, at most 15 minutes old. The simulator checks the signature itself
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
    #[error("x-k8s-aws-id is not signed or names another cluster")]
    ClusterId,
    #[error("token is expired")]
    Expired,
    #[error("signature does not match a known key")]
    Signature,
}

fn allowed_host(host: &str) -> bool {
    host == "sts.amazonaws.com"
        || host
            .strip_prefix("sts.")
            .and_then(|h| {
                h.strip_suffix(".amazonaws.com")
                    .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
            })
            .is_some_and(|region| {
                !region.is_empty()
                    && region
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
}

/// Verifies a bearer token for `cluster`; returns the caller ARN.
pub fn verify(world: &World, token: &str, cluster: &str) -> Result<String, TokenError> {
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
    if !allowed_host(host) || path != "/" {
        return Err(TokenError::Target);
    }
    let pairs = sigv4::query_pairs(raw_query);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    for (k, _) in &pairs {
        if !(k == "Action" || k == "Version" || k.starts_with("X-Amz-")) {
            return Err(TokenError::UnexpectedParameter(k.clone()));
        }
    }
    if get("Action") != Some("GetCallerIdentity") {
        return Err(TokenError::Target);
    }
    let signed: Vec<String> = get("X-Amz-SignedHeaders")
        .ok_or(TokenError::ClusterId)?
        .split(';')
        .map(str::to_string)
        .collect();
    if !signed.iter().any(|h| h == "x-k8s-aws-id") {
        return Err(TokenError::ClusterId);
    }
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
    for h in &signed {
        match h.as_str() {
            "host" => headers.push((h.clone(), host.to_string())),
            "x-k8s-aws-id" => headers.push((h.clone(), cluster.to_string())),
            _ => return Err(TokenError::Signature),
        }
    }
    let signature = get("X-Amz-Signature").ok_or(TokenError::Signature)?;
    let canonical_query = sigv4::canonical_query(&pairs, "X-Amz-Signature");
    // botocore presigns with UNSIGNED-PAYLOAD; some SDKs hash the empty body: STS accepts both.
    for payload in ["UNSIGNED-PAYLOAD".to_string(), sigv4::sha256_hex(b"")] {
        let canonical = sigv4::canonical_request(&sigv4::CanonicalInput {
            method: "GET",
            raw_path: "/",
            canonical_query: canonical_query.clone(),
            headers: headers.clone(),
            signed_headers: &signed,
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
        assert!(allowed_host("sts.amazonaws.com"));
        assert!(allowed_host("sts.eu-west-1.amazonaws.com"));
        assert!(allowed_host("sts.cn-north-1.amazonaws.com.cn"));
        assert!(!allowed_host("sts.evil.example.com"));
        assert!(!allowed_host("sts..amazonaws.com"));
        assert!(!allowed_host("127.0.0.1"));
    }
}
