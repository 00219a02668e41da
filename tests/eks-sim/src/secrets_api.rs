//! Secrets Manager `GetSecretValue`, the call that reads the external ID a stack generated. JSON
//! 1.1 as botocore models it (data/secretsmanager/2017-10-17/service-2.json: `protocol: json`,
//! `jsonVersion: 1.1`, `targetPrefix: secretsmanager`), SigV4 service name `secretsmanager`.
//!
//! Rules, each as Secrets Manager shows them
//! (<https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html>,
//! <https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html>):
//! - a secret that does not exist, or one of another region than the request's signing region
//!   (the service is regional), is 400 `ResourceNotFoundException` "Secrets Manager can't find the
//!   specified secret.";
//! - a refusal is 400 `AccessDeniedException` "User: ARN is not authorized to perform:
//!   secretsmanager:GetSecretValue on resource: SECRET because no identity-based policy allows
//!   the secretsmanager:GetSecretValue action";
//! - the IAM action is `secretsmanager:GetSecretValue` on the secret's ARN (the Service
//!   Authorization Reference's `Secret` resource type,
//!   `arn:${Partition}:secretsmanager:${Region}:${Account}:secret:${SecretId}`).

use serde_json::{json, Value};

use crate::http::{json as json_resp, Req, Resp};
use crate::iam::Request;
use crate::state::World;

/// The operation of a Secrets Manager request (`secretsmanager:ACTION`, from `X-Amz-Target`).
pub fn secrets_op(req: &Req) -> String {
    let target = req.header("x-amz-target").unwrap_or_default();
    format!(
        "secretsmanager:{}",
        target.strip_prefix("secretsmanager.").unwrap_or(target)
    )
}

/// A JSON 1.1 error (`__type` and `Message`).
pub fn secrets_error(status: u16, kind: &str, message: &str) -> Resp {
    let mut r = json_resp(status, &json!({ "__type": kind, "Message": message }));
    r.headers_mut().insert(
        "x-amzn-requestid",
        uuid::Uuid::new_v4()
            .to_string()
            .parse()
            .expect("a uuid is a valid header"),
    );
    r
}

fn secret_id(req: &Req) -> String {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
    body["SecretId"].as_str().unwrap_or_default().to_string()
}

/// The IAM request GetSecretValue makes: on the SecretId as given.
pub fn iam_request(req: &Req, region: &str) -> Option<Request> {
    let action = secrets_op(req);
    crate::iam::action_info(&action)?;
    let id = secret_id(req);
    Some(
        Request::new(&action, &id)
            .with("aws:RequestedRegion", &[region])
            .with("secretsmanager:SecretId", &[&id]),
    )
}

/// The refusal Secrets Manager answers for an IAM denial.
pub fn denied(caller: &str, action: &str, resource: &str) -> Resp {
    secrets_error(400, "AccessDeniedException", &format!("User: {caller} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"))
}

/// Answers one Secrets Manager request (already authenticated and authorized) signed for `region`.
pub fn handle(world: &World, req: &Req, region: &str) -> Resp {
    if secrets_op(req) != "secretsmanager:GetSecretValue" {
        return secrets_error(
            400,
            "UnknownOperationException",
            "The requested operation is not supported",
        );
    }
    let id = secret_id(req);
    let here = id.split(':').nth(3) == Some(region);
    match world.secrets.get(&id).filter(|_| here) {
        Some(value) => json_resp(
            200,
            &json!({
                "ARN": id,
                "Name": id.rsplit(':').next().unwrap_or_default(),
                "VersionId": "00000000-0000-4000-8000-000000000001",
                "SecretString": value,
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1.7956e9,
            }),
        ),
        None => secrets_error(
            400,
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        ),
    }
}
