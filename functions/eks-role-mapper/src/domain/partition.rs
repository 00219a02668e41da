//! Partitions and the host names the product forms itself, from the AWS SDK's own endpoint rules
//! and partition data (the `partitions.json` every SDK embeds; botocore's is the same file), not
//! from a list of DNS suffixes of ours: a partition the SDK knows (`aws`, `aws-cn`, `aws-us-gov`,
//! `aws-iso`, `aws-iso-b`, `aws-iso-e`, `aws-iso-f`, `aws-eusc`) is right here as soon as the SDK
//! is. Pure: the rules are evaluated in place, with no I/O.
//! <https://docs.rs/aws-sdk-sts/latest/aws_sdk_sts/config/endpoint/struct.DefaultResolver.html>

use crate::domain::error::{Error, Result};

/// The regional STS host of `region` (FIPS when `fips`) as the SDK's endpoint rules give it
/// (`sts.us-east-1.amazonaws.com`, `sts.cn-north-1.amazonaws.com.cn`,
/// `sts.eusc-de-east-1.amazonaws.eu`, `sts-fips.us-east-1.amazonaws.com`; GovCloud's FIPS host is
/// its plain one), never an endpoint override: the EKS authenticator accepts only the real hosts.
pub fn sts_host(region: &str, fips: bool) -> Result<String> {
    use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    use futures::FutureExt;
    let fail =
        |e: &dyn std::fmt::Display| Error::Setup(format!("the STS endpoint of {region}: {e}"));
    let params = Params::builder()
        .region(region)
        .use_fips(fips)
        .use_dual_stack(false)
        .use_global_endpoint(false)
        .build()
        .map_err(|e| fail(&e))?;
    // The rules are evaluated in place: the future is ready at once.
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .now_or_never()
        .ok_or_else(|| fail(&"the endpoint rules did not answer at once"))?
        .map_err(|e| fail(&e))?;
    let url = url::Url::parse(endpoint.url()).map_err(|e| fail(&e))?;
    url.host_str()
        .map(str::to_string)
        .ok_or_else(|| fail(&"an endpoint without a host"))
}

/// The DNS suffix of `region`'s partition (`amazonaws.com`, `amazonaws.com.cn`, `c2s.ic.gov`,
/// `amazonaws.eu`, ...): the partition's `dnsSuffix`, read from the regional STS host the rules
/// give (`sts.{region}.{dnsSuffix}` in every partition's rule set). None for a name that is not
/// a region.
pub fn dns_suffix(region: &str) -> Option<String> {
    if !crate::domain::arn::is_region(region) {
        return None;
    }
    let host = sts_host(region, false).ok()?;
    host.strip_prefix(&format!("sts.{region}."))
        .map(str::to_string)
}

/// The region of the S3 endpoint `endpoint` (a host without its bucket: `s3.REGION.SUFFIX`,
/// `s3-REGION.SUFFIX`, `s3.dualstack.REGION.SUFFIX`, `s3-fips.REGION.SUFFIX`, or the `aws`
/// partition's global `s3.amazonaws.com` and `s3-external-1.amazonaws.com`), when SUFFIX is the
/// DNS suffix of that region's partition per the SDK. Any other host is not S3.
pub fn s3_endpoint_region(endpoint: &str) -> Option<String> {
    // The `aws` partition's global endpoints name no region: they are us-east-1's.
    const GLOBAL: &str = "us-east-1";
    let labels = |rest: &str| -> Option<(String, String)> {
        let rest = rest.strip_prefix("dualstack.").unwrap_or(rest);
        let (region, suffix) = rest.split_once('.')?;
        crate::domain::arn::is_region(region).then(|| (region.to_string(), suffix.to_string()))
    };
    let (region, suffix) = if let Some(rest) = endpoint
        .strip_prefix("s3.")
        .or_else(|| endpoint.strip_prefix("s3-fips."))
    {
        labels(rest).or_else(|| Some((GLOBAL.to_string(), rest.to_string())))?
    } else if let Some(rest) = endpoint.strip_prefix("s3-external-1.") {
        (GLOBAL.to_string(), rest.to_string())
    } else {
        let rest = endpoint.strip_prefix("s3-")?;
        let (region, suffix) = rest.split_once('.')?;
        if !crate::domain::arn::is_region(region) {
            return None;
        }
        (region.to_string(), suffix.to_string())
    };
    (dns_suffix(&region)? == suffix).then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sts_host_is_the_partitions_own_in_every_partition_with_and_without_fips() {
        for (region, fips, host) in [
            ("us-east-1", false, "sts.us-east-1.amazonaws.com"),
            ("us-east-1", true, "sts-fips.us-east-1.amazonaws.com"),
            ("cn-north-1", false, "sts.cn-north-1.amazonaws.com.cn"),
            ("us-gov-west-1", false, "sts.us-gov-west-1.amazonaws.com"),
            ("us-gov-west-1", true, "sts.us-gov-west-1.amazonaws.com"),
            ("us-iso-east-1", false, "sts.us-iso-east-1.c2s.ic.gov"),
            ("us-isob-east-1", false, "sts.us-isob-east-1.sc2s.sgov.gov"),
            ("eu-isoe-west-1", false, "sts.eu-isoe-west-1.cloud.adc-e.uk"),
            (
                "us-isof-south-1",
                false,
                "sts.us-isof-south-1.csp.hci.ic.gov",
            ),
            ("eusc-de-east-1", false, "sts.eusc-de-east-1.amazonaws.eu"),
        ] {
            assert_eq!(
                sts_host(region, fips).unwrap(),
                host,
                "{region} fips={fips}"
            );
        }
    }

    #[test]
    fn s3_endpoints_are_recognised_by_their_partitions_suffix_from_the_sdk() {
        for (endpoint, region) in [
            ("s3.amazonaws.com", "us-east-1"),
            ("s3-external-1.amazonaws.com", "us-east-1"),
            ("s3.us-west-2.amazonaws.com", "us-west-2"),
            ("s3-eu-west-1.amazonaws.com", "eu-west-1"),
            ("s3.dualstack.eu-west-1.amazonaws.com", "eu-west-1"),
            ("s3.cn-north-1.amazonaws.com.cn", "cn-north-1"),
            ("s3-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
            ("s3.us-iso-east-1.c2s.ic.gov", "us-iso-east-1"),
            ("s3.us-isob-east-1.sc2s.sgov.gov", "us-isob-east-1"),
            ("s3.eu-isoe-west-1.cloud.adc-e.uk", "eu-isoe-west-1"),
            ("s3.us-isof-south-1.csp.hci.ic.gov", "us-isof-south-1"),
            ("s3.eusc-de-east-1.amazonaws.eu", "eusc-de-east-1"),
        ] {
            assert_eq!(
                s3_endpoint_region(endpoint).as_deref(),
                Some(region),
                "{endpoint}"
            );
        }
        for other in [
            // A region under another partition's suffix, or a suffix of nobody's.
            "s3.cn-north-1.amazonaws.com",
            "s3.us-east-1.amazonaws.com.cn",
            "s3.us-iso-east-1.amazonaws.com",
            "s3.eusc-de-east-1.amazonaws.com",
            "s3.us-east-1.amazonaws.eu",
            "s3.us-east-1.evil.example",
            "s3.evil.example",
            "s3.amazonaws.com.evil.example",
            "s3-evil.amazonaws.com",
            "sts.us-east-1.amazonaws.com",
            "s3",
        ] {
            assert_eq!(s3_endpoint_region(other), None, "{other}");
        }
    }
}
