//! AWS Signature Version 4, verifier side: rebuilds the canonical request from what arrived and
//! compares signatures. Used for header-signed API calls and for the presigned GetCallerIdentity
//! URL inside EKS bearer tokens.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The parsed `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

/// Parses `AKID/20250101/us-east-1/eks/aws4_request`.
pub fn parse_credential(s: &str) -> Option<Credential> {
    let mut it = s.split('/');
    let c = Credential {
        access_key_id: it.next()?.to_string(),
        date: it.next()?.to_string(),
        region: it.next()?.to_string(),
        service: it.next()?.to_string(),
    };
    (it.next()? == "aws4_request" && it.next().is_none()).then_some(c)
}

/// The parts of an `Authorization` header.
#[derive(Debug, Clone)]
pub struct AuthHeader {
    pub credential: Credential,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses an `Authorization` header value.
pub fn parse_authorization(value: &str) -> Option<AuthHeader> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => cred = parse_credential(v),
            "SignedHeaders" => signed = Some(v.split(';').map(str::to_string).collect()),
            "Signature" => sig = Some(v.to_string()),
            _ => return None,
        }
    }
    Some(AuthHeader {
        credential: cred?,
        signed_headers: signed?,
        signature: sig?,
    })
}

/// Percent-encodes with SigV4's rules: only `A-Za-z0-9-_.~` stay, plus `/` when `keep_slash`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` sequences (and nothing else: `+` stays `+`, as AWS signs it).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The decoded query pairs of a raw query string.
pub fn query_pairs(raw_query: &str) -> Vec<(String, String)> {
    raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The canonical query string from decoded pairs, leaving out `skip` (the signature itself).
pub fn canonical_query(pairs: &[(String, String)], skip: &str) -> String {
    let mut enc: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != skip)
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    enc.sort();
    enc.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Trims a header value and collapses inner runs of spaces, as SigV4 canonicalises them.
fn canonical_header_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Everything needed to rebuild one canonical request.
pub struct CanonicalInput<'a> {
    pub method: &'a str,
    /// The path exactly as sent (already percent-encoded by the client).
    pub raw_path: &'a str,
    pub canonical_query: String,
    /// (lowercase name, value) of every signed header, in `signed_headers` order.
    pub headers: Vec<(String, String)>,
    pub signed_headers: &'a [String],
    pub payload_hash: String,
}

/// Builds the canonical request. Non-S3 services encode the path a second time.
pub fn canonical_request(input: &CanonicalInput<'_>) -> String {
    let path = if input.raw_path.is_empty() {
        "/".to_string()
    } else {
        uri_encode(input.raw_path, true)
    };
    let headers: String = input
        .headers
        .iter()
        .map(|(n, v)| format!("{n}:{}\n", canonical_header_value(v)))
        .collect();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        input.method,
        path,
        input.canonical_query,
        headers,
        input.signed_headers.join(";"),
        input.payload_hash
    )
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The expected signature for a canonical request.
pub fn signature(secret: &str, amz_date: &str, cred: &Credential, canonical: &str) -> String {
    let scope = format!(
        "{}/{}/{}/aws4_request",
        cred.date, cred.region, cred.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), cred.date.as_bytes());
    let k_region = hmac(&k_date, cred.region.as_bytes());
    let k_service = hmac(&k_region, cred.service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

/// Constant-time comparison of two signatures.
pub fn signatures_match(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Parses `20250101T000000Z` into a Unix time.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The "get-vanilla" case of the AWS SigV4 test suite.
    #[test]
    fn the_aws_get_vanilla_vector_verifies() {
        let cred = parse_credential("AKIDEXAMPLE/20150830/us-east-1/service/aws4_request").unwrap();
        let signed = vec!["host".to_string(), "x-amz-date".to_string()];
        let canonical = canonical_request(&CanonicalInput {
            method: "GET",
            raw_path: "/",
            canonical_query: String::new(),
            headers: vec![
                ("host".into(), "example.amazonaws.com".into()),
                ("x-amz-date".into(), "20150830T123600Z".into()),
            ],
            signed_headers: &signed,
            payload_hash: sha256_hex(b""),
        });
        let sig = signature(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830T123600Z",
            &cred,
            &canonical,
        );
        assert_eq!(
            sig,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn path_is_encoded_a_second_time_and_query_is_sorted() {
        assert_eq!(uri_encode("/a/arn%3Aaws", true), "/a/arn%253Aaws");
        let pairs = query_pairs("b=2&a=x%20y&X-Amz-Signature=s");
        assert_eq!(canonical_query(&pairs, "X-Amz-Signature"), "a=x%20y&b=2");
    }

    #[test]
    fn a_malformed_authorization_header_is_refused() {
        assert!(parse_authorization("AWS4-HMAC-SHA256 Credential=a/b/c").is_none());
        assert!(parse_authorization("Basic abc").is_none());
    }
}
