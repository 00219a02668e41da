//! The custom-resource protocol: answer CloudFormation exactly once, SUCCESS with the work's
//! result or FAILED with its error, its panic, or the Lambda deadline (a FAILED answer is sent
//! shortly before it), carrying the id of whatever a Create has made so far.
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html>

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::cfn::event::Envelope;
use crate::cfn::response::{Body, Respond};
use crate::domain::error::{Error, Result};
use crate::ports::Reinvoke;

/// The longest a Lambda function may run: a deadline further away than this (or already past) at
/// receipt is not a real one.
const MAX_LAMBDA_TIMEOUT: Duration = Duration::from_secs(900);
/// The budget taken when the runtime's deadline is not believable: the template's Timeout.
pub const FALLBACK_BUDGET: Duration = Duration::from_secs(240);

/// How long one request may go on across invocations: inside the resource's ServiceTimeout
/// (3600 s at most), with room for the last answer.
pub const CONTINUATION_BUDGET: Duration = Duration::from_secs(3300);
/// The most invocations one request may take.
pub const MAX_CONTINUATIONS: u32 = 40;

pub use crate::cfn::event::{Continuation, CONTINUATION_FIELD};

/// How to hand the rest of a request to a fresh invocation.
#[derive(Debug, Clone)]
pub struct HandOver {
    /// The function's own ARN (the context's invoked function ARN).
    pub function_arn: String,
    /// The event as received.
    pub event: Value,
    pub continuation: Continuation,
}

impl HandOver {
    /// The event for the next invocation, or None when the request has used up its budget.
    fn next_event(&self, now: SystemTime) -> Option<Value> {
        let since = SystemTime::UNIX_EPOCH + Duration::from_millis(self.continuation.since_ms);
        let spent = now.duration_since(since).unwrap_or_default();
        if self.continuation.count + 1 >= MAX_CONTINUATIONS || spent >= CONTINUATION_BUDGET {
            return None;
        }
        let mut event = self.event.clone();
        let next = Continuation {
            count: self.continuation.count + 1,
            ..self.continuation
        };
        event[CONTINUATION_FIELD] = serde_json::to_value(next).ok()?;
        Some(event)
    }
}

/// What a successful request answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Success {
    pub physical_resource_id: String,
    pub data: Option<Value>,
    /// The message for the service's topic, sent once SUCCESS has been answered (never part of
    /// the answer).
    pub registration: Option<crate::domain::properties::Outgoing>,
}

/// The id of what a Create has made so far. A FAILED answer carries it, so the Delete that
/// CloudFormation sends after a failed Create removes it, also when the deadline cut the work off.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Mutex<Option<String>>>);

impl Progress {
    /// Records the id a FAILED answer should carry from now on.
    pub fn record(&self, id: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
    }

    fn recorded(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The deadline to work to. Some runtimes (`cargo lambda watch` sends
/// `Lambda-Runtime-Deadline-Ms: 600000`, a time in 1970) hand out a deadline that is already past
/// or absurdly far: it is then taken as unknown, with a bounded budget and a warning.
pub fn believable_deadline(deadline_ms: u64, now: SystemTime) -> SystemTime {
    let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms);
    match deadline.duration_since(now) {
        Ok(left)
            if left > Duration::ZERO && left <= MAX_LAMBDA_TIMEOUT + Duration::from_secs(5) =>
        {
            deadline
        }
        _ => {
            tracing::warn!(
                deadline_ms,
                budget_s = FALLBACK_BUDGET.as_secs(),
                "the runtime's deadline is past or beyond Lambda's limit; working to a default budget"
            );
            now + FALLBACK_BUDGET
        }
    }
}

/// Runs `work` to an invocation's deadline outside the custom-resource protocol (a reconcile):
/// long waits give up as `Error::Pending` a little before it, and the work is cut off just
/// before it (None, also on a panic).
pub async fn within<T, F>(deadline: SystemTime, work: F) -> Option<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let keep = reserve(remaining);
    let soft = tokio::time::Instant::now() + remaining.saturating_sub(keep * 2);
    let task = tokio::spawn(crate::ports::deadline::scope(soft, SystemTime::now(), work));
    let abort = task.abort_handle();
    match tokio::time::timeout(remaining.saturating_sub(keep), task).await {
        Ok(Ok(t)) => Some(t),
        Ok(Err(_)) => None,
        Err(_) => {
            abort.abort();
            None
        }
    }
}

/// How much of the remaining time is kept for sending the answer.
fn reserve(remaining: Duration) -> Duration {
    (remaining / 5).clamp(Duration::from_millis(500), Duration::from_secs(10))
}

/// Runs `work` and answers once through `sender`: SUCCESS with its result, FAILED with its error,
/// its panic, or the deadline. A wait that outlasts the invocation (`Error::Pending`) is handed to
/// a fresh invocation through `hand_over` instead, within the request's budget: then nothing is
/// answered here (None), and the invocation that finishes answers.
pub async fn respond_with<S, F, H>(
    sender: &S,
    envelope: &Envelope,
    deadline: SystemTime,
    progress: &Progress,
    hand_over: Option<(&HandOver, &H)>,
    work: F,
) -> Result<Option<Body>>
where
    S: Respond,
    H: Reinvoke,
    F: Future<Output = Result<Success>> + Send + 'static,
{
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let keep = reserve(remaining);
    // Long waits stop a little before the deadline timer would cut them, so a hand-over is made
    // in time.
    let soft = tokio::time::Instant::now() + remaining.saturating_sub(keep * 2);
    let received = hand_over
        .map(|(h, _)| SystemTime::UNIX_EPOCH + Duration::from_millis(h.continuation.since_ms))
        .unwrap_or_else(SystemTime::now);
    let task = tokio::spawn(crate::ports::deadline::scope(soft, received, work));
    let abort = task.abort_handle();
    let outcome = tokio::select! {
        joined = task => match joined {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(Error::Setup("internal error (panic); nothing more was attempted".into())),
            Err(e) => Err(Error::Setup(format!("internal error ({e})"))),
        },
        _ = tokio::time::sleep(remaining.saturating_sub(keep)) => {
            abort.abort();
            Err(Error::Deadline("waiting on AWS or the Kubernetes API".into()))
        }
    };
    let outcome = match (outcome, hand_over) {
        (Err(Error::Pending(what)), Some((h, reinvoke))) => match h.next_event(SystemTime::now()) {
            Some(event) => match reinvoke.invoke_async(&h.function_arn, &event).await {
                Ok(()) => {
                    tracing::info!(
                        waiting = %what,
                        continuation = h.continuation.count + 1,
                        "handed over to a fresh invocation"
                    );
                    return Ok(None);
                }
                Err(e) => Err(Error::Pending(format!("{what}; handing over failed: {e}"))),
            },
            None => Err(Error::Pending(format!(
                "{what}; gave up after {} invocations",
                h.continuation.count + 1
            ))),
        },
        (outcome, _) => outcome,
    };
    let body = answer(envelope, progress, outcome);
    let budget = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .max(Duration::from_millis(500));
    let attempts = sender.send(&envelope.response_url, &body, budget).await?;
    tracing::info!(status = body.status, attempts, "response sent");
    Ok(Some(body))
}

/// The response body for an outcome: what is sent, and what a dry run shows.
pub fn answer(envelope: &Envelope, progress: &Progress, outcome: Result<Success>) -> Body {
    let (status, reason, physical_resource_id, data) = match outcome {
        Ok(s) => ("SUCCESS", None, s.physical_resource_id, s.data),
        Err(e) => {
            tracing::warn!(reason = %e, "request failed");
            let id = envelope
                .physical_resource_id
                .clone()
                .or_else(|| progress.recorded())
                .unwrap_or_else(|| format!("failed-{}", envelope.request_id));
            ("FAILED", Some(e.to_string()), id, None)
        }
    };
    Body {
        status,
        reason,
        physical_resource_id,
        stack_id: envelope.stack_id.clone(),
        request_id: envelope.request_id.clone(),
        logical_resource_id: envelope.logical_resource_id.clone(),
        no_echo: false,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_in_the_past_or_beyond_fifteen_minutes_is_replaced_by_the_default_budget() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ms = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
        };
        // cargo lambda watch: 600000 ms after the epoch.
        assert_eq!(believable_deadline(600_000, now), now + FALLBACK_BUDGET);
        assert_eq!(
            believable_deadline(ms(now + Duration::from_secs(3600)), now),
            now + FALLBACK_BUDGET
        );
        let real = now + Duration::from_secs(240);
        assert_eq!(believable_deadline(ms(real), now), real);
    }
}
