//! Waiting out IAM propagation, which both the access entry's create and its policy
//! associations meet: a module of its own so that neither of those two imports the other.

use std::time::Duration;

use aws_sdk_eks::error::SdkError;

use crate::domain::error::{Error, Result};

/// How long IAM propagation is waited for: terraform-provider-aws's `propagationTimeout` for
/// these EKS calls (`internal/service/eks/access_entry.go`, `access_policy_association.go`).
pub const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `call` again while it fails with the error IAM propagation causes (`not_yet`), with a
/// growing pause, for at most [`PROPAGATION_TIMEOUT`]; the Lambda deadline guard still applies.
/// The outer error is `Error::Pending` when the invocation is about to end while still waiting.
pub(super) async fn while_propagating<T, E, F, Fut>(
    operation: &str,
    cluster: &str,
    call: F,
    not_yet: impl Fn(&SdkError<E>) -> bool,
) -> Result<std::result::Result<T, SdkError<E>>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E>>>,
{
    // The window counts from the request's first receipt: a role that never appears (a wrong
    // ARN looks the same to EKS) fails after it, however many invocations it spans.
    let left = PROPAGATION_TIMEOUT.saturating_sub(crate::ports::deadline::request_age());
    let until = tokio::time::Instant::now() + left;
    let mut pause = Duration::from_millis(500);
    let mut retries = 0u32;
    loop {
        match call().await {
            Err(e)
                if not_yet(&e)
                    && crate::ports::deadline::time_to_hand_over()
                    && tokio::time::Instant::now() < until =>
            {
                return Err(Error::Pending(format!(
                    "{operation} on {cluster}: the role is not known to EKS yet (IAM propagation)"
                )))
            }
            Err(e) if not_yet(&e) && tokio::time::Instant::now() + pause < until => {
                retries += 1;
                tracing::info!(
                    operation,
                    cluster,
                    retries,
                    "the role is not known to EKS yet (IAM propagation); retrying"
                );
                crate::ports::deadline::pause(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            r => return Ok(r),
        }
    }
}
