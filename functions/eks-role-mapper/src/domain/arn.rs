//! IAM role ARNs: strict validation (only roles of the AWS partitions; no assumed-role or
//! service-linked ARNs) and the matching key EKS's authenticator uses for aws-auth: case-insensitive,
//! with the role's path stripped.

use std::fmt;

use crate::domain::error::{Error, Result};

/// The partitions, by their ids in the SDKs' partition data (botocore's and aws-sdk-rust's
/// `partitions.json`): the function reaches every one of them (`partition`; the partition test
/// runs it in each), and the template's `SupportedPartition` rule lists the same.
const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// A validated IAM role ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    arn: String,
    partition: String,
    account: String,
    name: String,
}

fn role_name_ok(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

fn path_segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

impl RoleArn {
    /// Validates `s` as the ARN of an IAM role; `field` names the property in errors.
    pub fn parse(field: &str, s: &str) -> Result<RoleArn> {
        let expected = |why: &str| {
            Error::invalid(
                field,
                format!(
                    "expected an IAM role ARN like arn:aws:iam::123456789012:role/NAME ({why}), got {}",
                    shown(s)
                ),
            )
        };
        if s.len() > 2048 {
            return Err(expected("at most 2048 characters"));
        }
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(expected("six ':'-separated parts"));
        };
        if arn != "arn" || !PARTITIONS.contains(&partition) {
            return Err(expected(
                "a partition of AWS (aws, aws-cn, aws-us-gov, aws-iso, ...)",
            ));
        }
        if service == "sts" || resource.starts_with("assumed-role/") {
            return Err(expected("an assumed-role session is not a role"));
        }
        if service != "iam" || !region.is_empty() {
            return Err(expected("service iam with an empty region"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(expected("a 12-digit account id"));
        }
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(expected("the resource must be role/NAME"));
        };
        let segments: Vec<&str> = path_and_name.split('/').collect();
        let (name, path) = segments.split_last().expect("split yields one item");
        if path.first() == Some(&"aws-service-role") {
            return Err(expected("service-linked roles cannot be mapped"));
        }
        let path_len = 1 + path.iter().map(|p| p.len() + 1).sum::<usize>();
        if path_len > 512 {
            return Err(expected("a role path of at most 512 characters"));
        }
        if !(1..=64).contains(&name.len()) {
            return Err(expected("a role name of 1 to 64 characters"));
        }
        if !role_name_ok(name) || !path.iter().all(|p| path_segment_ok(p)) {
            return Err(expected(
                "role path and name may only use letters, digits and +=,.@_-",
            ));
        }
        Ok(RoleArn {
            arn: s.to_string(),
            partition: partition.to_string(),
            account: account.to_string(),
            name: name.to_string(),
        })
    }

    /// The ARN as given (path kept: access entries want it).
    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// The partition (aws, aws-cn, aws-us-gov, aws-iso, ...).
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The role's account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The ARN written into aws-auth: without the path, which the authenticator never matches.
    pub fn aws_auth_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition, self.account, self.name
        )
    }

    /// How aws-auth matches it: path stripped, lowercase.
    pub fn match_key(&self) -> String {
        self.aws_auth_arn().to_lowercase()
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// Whether `s` is a region name of the form every partition's regions have (`us-east-1`,
/// `cn-north-1`, `us-gov-west-1`, `us-isob-east-1`, `eusc-de-east-1`): dash-separated labels of
/// lowercase letters and digits, the last all digits, so one DNS label at most 32 long. Only such
/// text from an event, an ARN or a physical id ever reaches a host name.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    s.len() <= 32
        && parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// The region of an ARN of `service` whose resource starts with `resource_prefix`
/// (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`): where to send a call about it.
pub fn region_of<'a>(arn: &'a str, service: &str, resource_prefix: &str) -> Option<&'a str> {
    let mut parts = arn.splitn(6, ':');
    (parts.next()? == "arn").then_some(())?;
    parts.next()?;
    (parts.next()? == service).then_some(())?;
    let region = parts.next().filter(|r| is_region(r))?;
    parts.next()?;
    parts.next()?.starts_with(resource_prefix).then_some(region)
}

/// The aws-auth matching key of any ARN text found in a ConfigMap (which we did not validate).
pub fn match_key_of(text: &str) -> String {
    match text.split_once(":role/") {
        Some((prefix, rest)) => {
            format!("{prefix}:role/{}", rest.rsplit('/').next().unwrap_or(rest)).to_lowercase()
        }
        None => text.to_lowercase(),
    }
}

/// A value quoted for an error message, cut short and with control characters escaped.
pub fn shown(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    let more = if s.chars().count() > 80 { "..." } else { "" };
    format!("{:?}{more}", cut)
}

/// The region of a stack ARN (`arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID`).
pub fn stack_region(stack_id: &str) -> Option<&str> {
    region_of(stack_id, "cloudformation", "stack/")
}

/// The partition of a stack ARN, when it is one of the partitions (as [`stack_region`] reads it).
pub fn stack_partition(stack_id: &str) -> Option<&str> {
    stack_region(stack_id)?;
    stack_id
        .split(':')
        .nth(1)
        .filter(|p| PARTITIONS.contains(p))
}

/// The stack's name, from its ARN (`...:stack/NAME/ID`).
pub fn stack_name(stack_id: &str) -> &str {
    stack_id
        .split_once(":stack/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_of_every_partition_with_paths_are_accepted() {
        for ok in [
            "arn:aws-iso:iam::123456789012:role/R",
            "arn:aws-iso-b:iam::123456789012:role/R",
            "arn:aws-iso-e:iam::123456789012:role/R",
            "arn:aws-iso-f:iam::123456789012:role/R",
            "arn:aws-eusc:iam::123456789012:role/R",
            "arn:aws:iam::123456789012:role/R",
            "arn:aws-cn:iam::123456789012:role/a/b/R",
            "arn:aws-us-gov:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0a1b",
        ] {
            RoleArn::parse("RoleArn", ok).unwrap();
        }
    }

    #[test]
    fn hostile_and_wrong_arns_are_refused_with_the_field_named() {
        for bad in [
            "",
            "arn:aws:sts::123456789012:assumed-role/R/s",
            "arn:aws:iam::123456789012:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS",
            "arn:aws:iam::123456789012:user/u",
            "arn:aws-evil:iam::123456789012:role/R",
            "arn:aws:iam::12345678901:role/R",
            "arn:aws:iam::123456789012:role/R\n- rolearn: x",
            "arn:aws:iam::123456789012:role/R\"",
            "arn:aws:iam::123456789012:role/R: x",
            "arn:aws:iam::123456789012:role/",
            "ARN:AWS:IAM::123456789012:role/R",
            "arn:aws:iam:us-east-1:123456789012:role/R",
        ] {
            let e = RoleArn::parse("RoleArn", bad).unwrap_err().to_string();
            assert!(e.starts_with("RoleArn: expected an IAM role ARN"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_stacks_partition_is_read_only_from_a_stack_arn_of_a_known_partition() {
        let id = |p: &str| format!("arn:{p}:cloudformation:eusc-de-east-1:111122223333:stack/s/i");
        assert_eq!(stack_partition(&id("aws-eusc")), Some("aws-eusc"));
        assert_eq!(stack_partition(&id("aws-evil")), None);
        assert_eq!(stack_partition("arn:aws:iam::111122223333:role/R"), None);
        assert_eq!(stack_partition("not an arn"), None);
    }

    #[test]
    fn only_region_names_are_regions_so_no_other_text_reaches_a_host() {
        for ok in [
            "us-east-1",
            "cn-north-1",
            "us-gov-west-1",
            "us-isob-east-1",
            "eusc-de-east-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "evil.example/x",
            "us-east-1.evil.example",
            "us-east-1/",
            "US-EAST-1",
            "us-east",
            "",
            "us--1",
            "a-b-1:443",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
        assert_eq!(
            region_of(
                "arn:aws:cloudformation:evil.example/x:111122223333:stack/s/1",
                "cloudformation",
                "stack/"
            ),
            None
        );
    }

    #[test]
    fn matching_strips_the_path_and_ignores_case() {
        let r = RoleArn::parse("RoleArn", "arn:aws:iam::123456789012:role/a/b/MyRole").unwrap();
        assert_eq!(r.match_key(), "arn:aws:iam::123456789012:role/myrole");
        assert_eq!(
            match_key_of("arn:aws:iam::123456789012:role/MYROLE"),
            r.match_key()
        );
    }
}
