//! The live registration calls, hand-signed with the function's credentials in the resource's own
//! region (a topic or secret of another region, or of another partition's endpoint, works alike).
//!
//! - SNS `Publish`: query protocol, POST / with a form body, version 2010-03-31; errors are XML
//!   `ErrorResponse`s (`AuthorizationError` 403, `NotFound` 404, `InvalidParameter` 400,
//!   `Throttled` 429, `InternalError` 500). A message is at most 256 KiB.
//!   (botocore: data/sns/2010-03-31/service-2.json, `protocol: query`;
//!   <https://docs.aws.amazon.com/sns/latest/api/API_Publish.html>)
//! - Secrets Manager `GetSecretValue`: JSON 1.1, `X-Amz-Target: secretsmanager.GetSecretValue`;
//!   errors are `{"__type": ...}` (`ResourceNotFoundException`, `AccessDeniedException`,
//!   `DecryptionFailure`, `InternalServiceError`, `ThrottlingException`).
//!   (botocore: data/secretsmanager/2017-10-17/service-2.json, `protocol: json`;
//!   <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html>)

use serde_json::Value;

use super::Refused;
use crate::clients::Clients;
use crate::cloud::Register;
use crate::error::Error;
use crate::signed::{self, leaves};

/// SNS's limit on a message (UTF-8 bytes).
pub const MAX_MESSAGE: usize = 256 * 1024;

fn failure(operation: &str, message: String) -> Error {
    Error::Aws {
        operation: operation.into(),
        message,
    }
}

impl Register for Clients {
    async fn secret_string(&self, arn: &str, region: &str) -> Result<String, Refused> {
        const OP: &str = "GetSecretValue (external ID)";
        let url = format!(
            "{}/",
            signed::endpoint(self.endpoint_url().as_deref(), "secretsmanager", region)
        );
        let body = serde_json::json!({ "SecretId": arn })
            .to_string()
            .into_bytes();
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "secretsmanager.GetSecretValue"),
        ];
        let (status, text) = signed::post(self, "secretsmanager", region, &url, &headers, body)
            .await
            .map_err(|e| Refused::Transient(failure(OP, e)))?;
        let answer: Value = serde_json::from_slice(&text).unwrap_or_default();
        if status == 200 {
            // Never quoted back: the value is the secret.
            return answer["SecretString"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| {
                    Refused::Final(failure(OP, "the secret has no SecretString".into()))
                });
        }
        let code = answer["__type"]
            .as_str()
            .unwrap_or_default()
            .rsplit('#')
            .next()
            .unwrap_or_default()
            .to_string();
        let message = answer["Message"]
            .as_str()
            .or(answer["message"].as_str())
            .unwrap_or_default();
        let e = failure(OP, format!("HTTP {status} {code}: {message}"));
        Err(
            if status >= 500 || code == "ThrottlingException" || code == "InternalServiceError" {
                Refused::Transient(e)
            } else {
                Refused::Final(e)
            },
        )
    }

    async fn publish(&self, arn: &str, region: &str, message: &str) -> Result<(), Refused> {
        const OP: &str = "Publish (registration)";
        if message.len() > MAX_MESSAGE {
            return Err(Refused::Final(failure(
                OP,
                format!(
                    "the message is {} bytes, above SNS's 256 KiB",
                    message.len()
                ),
            )));
        }
        let pairs = [
            ("Action", "Publish"),
            ("Version", "2010-03-31"),
            ("TopicArn", arn),
            ("Message", message),
        ];
        let (status, text) = signed::query(self, "sns", region, &pairs)
            .await
            .map_err(|e| Refused::Transient(failure(OP, e)))?;
        if status == 200 {
            return match leaves(&text, &["MessageId"]).get("MessageId") {
                Some(_) => Ok(()),
                None => Err(Refused::Transient(failure(
                    OP,
                    "HTTP 200 without a MessageId".into(),
                ))),
            };
        }
        let error = leaves(&text, &["Code", "Message"]);
        let code = error.get("Code").map(String::as_str).unwrap_or("");
        let e = failure(
            OP,
            format!(
                "HTTP {status} {code}: {}",
                error.get("Message").map(String::as_str).unwrap_or("")
            ),
        );
        Err(
            if status >= 500 || matches!(code, "Throttled" | "KMSThrottling" | "InternalError") {
                Refused::Transient(e)
            } else {
                Refused::Final(e)
            },
        )
    }
}
