//! The live registration calls, through the SDK's clients with the function's credentials, in
//! the resource's own region (a topic or secret of another region works alike; the SDK resolves
//! its endpoint and retries throttling and server errors itself).
//!
//! - SNS `Publish`: errors `AuthorizationError` 403, `NotFound` 404, `InvalidParameter` 400,
//!   `Throttled` 429, `InternalError` 500. A message is at most 256 KiB.
//!   <https://docs.aws.amazon.com/sns/latest/api/API_Publish.html>
//! - Secrets Manager `GetSecretValue`: errors `ResourceNotFoundException`,
//!   `AccessDeniedException`, `DecryptionFailure`, `InternalServiceError`, `ThrottlingException`.
//!   <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html>
//!
//! What is still failing after the SDK's own attempts is sorted for the registration's retries:
//! a throttle, a server error or a broken connection may pass (`Transient`), anything else will
//! not (`Final`).

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};

use crate::adapters::clients::Clients;
use crate::domain::error::Error;
use crate::ports::Refused;
use crate::ports::Register;

/// SNS's limit on a message (UTF-8 bytes).
pub const MAX_MESSAGE: usize = 256 * 1024;

fn failure(operation: &str, message: String) -> Error {
    Error::Aws {
        operation: operation.into(),
        message,
    }
}

/// Sorts an SDK failure: `transient` codes, a 5xx, a timeout or a broken connection may pass.
fn refused<E>(operation: &str, e: SdkError<E>, transient: &[&str]) -> Refused
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let passing = match &e {
        SdkError::ServiceError(se) => {
            se.raw().status().as_u16() >= 500
                || se.err().code().is_some_and(|c| transient.contains(&c))
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        _ => false,
    };
    let e = crate::adapters::eks::aws_error(operation, e);
    if passing {
        Refused::Transient(e)
    } else {
        Refused::Final(e)
    }
}

impl Register for Clients {
    async fn secret_string(&self, arn: &str, region: &str) -> Result<String, Refused> {
        const OP: &str = "GetSecretValue (external ID)";
        let out = Box::pin(
            self.secrets(region)
                .get_secret_value()
                .secret_id(arn)
                .send(),
        )
        .await
        .map_err(|e| refused(OP, e, &["ThrottlingException", "InternalServiceError"]))?;
        // Never quoted back: the value is the secret.
        out.secret_string
            .ok_or_else(|| Refused::Final(failure(OP, "the secret has no SecretString".into())))
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
        let out = Box::pin(
            self.sns(region)
                .publish()
                .topic_arn(arn)
                .message(message)
                .send(),
        )
        .await
        .map_err(|e| refused(OP, e, &["Throttled", "KMSThrottling", "InternalError"]))?;
        match out.message_id {
            Some(_) => Ok(()),
            None => Err(Refused::Transient(failure(
                OP,
                "an answer without a MessageId".into(),
            ))),
        }
    }
}
