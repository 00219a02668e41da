//! The request's time: when a long wait must stop so the invocation can hand the request over
//! before Lambda's deadline, and how long the request has been going on across invocations. Set
//! per request by `cfn::protocol` and read by every layer that waits (the stores' retries, the
//! EKS update polls, each Kubernetes call), so it sits under all of them.

use std::future::Future;
use std::time::{Duration, SystemTime};

tokio::task_local! {
    /// When the work should stop waiting and hand over to a continuation.
    static SOFT_DEADLINE: tokio::time::Instant;
    /// When the request was first received (by this invocation or the first it continues).
    static RECEIVED: SystemTime;
}

/// Whether a long wait should stop now and let a fresh invocation go on (outside a request: never).
pub fn time_to_hand_over() -> bool {
    SOFT_DEADLINE
        .try_with(|d| tokio::time::Instant::now() >= *d)
        .unwrap_or(false)
}

/// How long ago the request was first received, across hand-overs (outside a request: zero), so
/// a wait bounded per request is not restarted by each fresh invocation.
pub fn request_age() -> Duration {
    RECEIVED
        .try_with(|r| SystemTime::now().duration_since(*r).unwrap_or_default())
        .unwrap_or_default()
}

/// Sleeps `d`, or less when the time to hand over comes first, so a long wait never sleeps
/// past it into the deadline.
pub async fn pause(d: Duration) {
    let until = tokio::time::Instant::now() + d;
    let until = SOFT_DEADLINE.try_with(|s| until.min(*s)).unwrap_or(until);
    tokio::time::sleep_until(until).await;
}

/// Runs `work` with its time to hand over (`soft`) and when its request was first received.
pub fn scope<F: Future>(
    soft: tokio::time::Instant,
    received: SystemTime,
    work: F,
) -> impl Future<Output = F::Output> {
    SOFT_DEADLINE.scope(soft, RECEIVED.scope(received, work))
}
