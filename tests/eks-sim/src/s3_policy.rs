//! S3 bucket policies (resource-based) for a request from another account, evaluated with the
//! simulator's IAM evaluator ([`crate::iam::evaluate`]) as AWS documents it:
//!
//! - Across accounts, the caller's identity-based policies must allow the request AND the
//!   bucket's policy must allow it to that principal; an explicit Deny in either denies
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html>).
//!   The kinder reading (the bucket policy alone, or either one) is what
//!   [`cross_account`]'s tests refuse.
//! - A bucket policy statement applies to the caller only when its `Principal` names it: `"*"`
//!   (anyone, usually narrowed by a condition such as `aws:PrincipalOrgID`), an account id or its
//!   `:root` ARN (any principal of that account), or the principal's own ARN (a role's sessions
//!   included)
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>).
//! - GetObject that names a version (`versionId`) is authorized as `s3:GetObjectVersion`, not
//!   `s3:GetObject` ("To access a specific version ... you need the s3:GetObjectVersion
//!   permission": <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>); Lambda
//!   fetches a function's code with the caller's permissions, naming `S3ObjectVersion` when the
//!   template does (<https://docs.aws.amazon.com/lambda/latest/api/API_FunctionCode.html>).

use serde_json::{json, Value};

use crate::iam::{evaluate, Decision, Request};

/// The action S3 authorizes a GetObject as: `s3:GetObjectVersion` when it names a version.
pub fn get_object_action(version_id: Option<&str>) -> &'static str {
    match version_id {
        Some(_) => "s3:GetObjectVersion",
        None => "s3:GetObject",
    }
}

/// The account of a principal's ARN (`arn:PARTITION:iam::ACCOUNT:role/...`,
/// `arn:PARTITION:sts::ACCOUNT:assumed-role/...`).
fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The role ARN an assumed-role session ARN belongs to (`arn:P:sts::A:assumed-role/NAME/SESSION`
/// -> `arn:P:iam::A:role/NAME`).
fn role_of_session(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let rest = parts.get(5)?.strip_prefix("assumed-role/")?;
    let name = rest.split('/').next()?;
    Some(format!("arn:{}:iam::{}:role/{name}", parts[1], parts[4]))
}

/// Whether a statement's `Principal` names `caller` (an IAM principal's ARN).
pub fn principal_matches(principal: &Value, caller: &str) -> bool {
    let names = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => vec![],
        }
    };
    let aws = match principal {
        Value::String(s) if s == "*" => return true,
        Value::Object(o) => o.get("AWS").map(names).unwrap_or_default(),
        _ => return false,
    };
    let account = account_of(caller);
    let role = role_of_session(caller);
    aws.iter().any(|p| {
        p == "*"
            || Some(p.as_str()) == account
            || (p.ends_with(":root") && account_of(p) == account && account.is_some())
            || p == caller
            || role.as_deref() == Some(p.as_str())
    })
}

/// The statements of `policy` whose `Principal` names `caller`, without it: an identity-based
/// document the evaluator reads.
fn for_principal(policy: &Value, caller: &str) -> Value {
    let statements: Vec<Value> = match &policy["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => vec![],
    };
    let applying: Vec<Value> = statements
        .into_iter()
        .filter(|s| principal_matches(&s["Principal"], caller))
        .map(|mut s| {
            s.as_object_mut().map(|o| o.remove("Principal"));
            s
        })
        .collect();
    json!({ "Version": "2012-10-17", "Statement": applying })
}

/// S3's decision on `request` by `caller`, a principal of another account than the bucket's:
/// both the caller's identity-based `identity` policies and `bucket_policy` must allow it.
pub fn cross_account(
    bucket_policy: &Value,
    identity: &[Value],
    request: &Request,
    caller: &str,
) -> Decision {
    let by_identity = evaluate(identity, request);
    let by_bucket = evaluate(&[for_principal(bucket_policy, caller)], request);
    match (by_identity, by_bucket) {
        (Decision::ExplicitDeny, _) | (_, Decision::ExplicitDeny) => Decision::ExplicitDeny,
        (Decision::Allow, Decision::Allow) => Decision::Allow,
        _ => Decision::ImplicitDeny,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLER: &str = "arn:aws:sts::210987654321:assumed-role/stackset-exec/session";

    fn get(version: Option<&str>) -> Request {
        Request::new(
            get_object_action(version),
            "arn:aws:s3:::vendor-us-east-1/eks-role-mapper/1.0.0/bootstrap.zip",
        )
        .with("aws:PrincipalOrgID", &["o-abc1234567"])
    }

    fn bucket(principal: Value) -> Value {
        json!({"Statement": [{"Effect": "Allow", "Principal": principal,
            "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": "arn:aws:s3:::vendor-us-east-1/*"}]})
    }

    #[test]
    fn across_accounts_both_the_identity_and_the_bucket_policy_must_allow() {
        let all = [json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})];
        let none: [Value; 0] = [];
        let policy = bucket(json!("*"));
        assert_eq!(
            cross_account(&policy, &all, &get(Some("v")), CALLER),
            Decision::Allow
        );
        // The kinder reading, the bucket policy alone, would allow this.
        assert_eq!(
            cross_account(&policy, &none, &get(Some("v")), CALLER),
            Decision::ImplicitDeny
        );
        let deny = [json!({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})];
        assert_eq!(
            cross_account(&policy, &deny, &get(None), CALLER),
            Decision::ExplicitDeny
        );
        // The principal: its account, its role, or another account's.
        for (p, d) in [
            (json!({"AWS": "210987654321"}), Decision::Allow),
            (
                json!({"AWS": "arn:aws:iam::210987654321:root"}),
                Decision::Allow,
            ),
            (
                json!({"AWS": "arn:aws:iam::210987654321:role/stackset-exec"}),
                Decision::Allow,
            ),
            (
                json!({"AWS": "arn:aws:iam::111122223333:root"}),
                Decision::ImplicitDeny,
            ),
            (
                json!({"Service": "lambda.amazonaws.com"}),
                Decision::ImplicitDeny,
            ),
        ] {
            assert_eq!(
                cross_account(&bucket(p.clone()), &all, &get(None), CALLER),
                d,
                "{p}"
            );
        }
    }
}
