//! The Lambda handler: one custom-resource event, answered exactly once. Wires the protocol
//! (`protocol`) to the lifecycle (`lifecycle`) over any port and response sender; `handle` is the
//! live one.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::Value;
use tracing::Instrument;

use crate::adapters::clients::Clients;
use crate::app::lifecycle;
use crate::app::reconcile;
use crate::app::registration;
use crate::cfn::event::Request;
use crate::cfn::protocol::{self, Continuation, HandOver, Progress};
use crate::cfn::response::{Body, Respond};
use crate::ports::Connect;

/// The Lambda handler against AWS.
pub async fn handle(
    clients: &Clients,
    event: Value,
    ctx: lambda_runtime::Context,
) -> Result<(), lambda_runtime::Error> {
    handle_with(clients, clients.sender(), event, Invocation::from(&ctx))
        .await
        .map(drop)
}

/// What the Lambda runtime says of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    pub request_id: &'a str,
    /// The runtime's deadline, ms since the epoch.
    pub deadline_ms: u64,
    /// The function's own ARN, for handing a long request over to a fresh invocation (empty:
    /// no hand-over).
    pub function_arn: &'a str,
}

impl<'a> From<&'a lambda_runtime::Context> for Invocation<'a> {
    fn from(ctx: &'a lambda_runtime::Context) -> Invocation<'a> {
        Invocation {
            request_id: &ctx.request_id,
            deadline_ms: ctx.deadline,
            function_arn: &ctx.invoked_function_arn,
        }
    }
}

/// A reconcile event from the stack's schedule (see `reconcile`): never answers CloudFormation.
pub async fn reconcile_with<C: Connect>(
    connect: &C,
    event: &Value,
    invocation: Invocation<'_>,
) -> reconcile::Report {
    let span = tracing::info_span!("reconcile", request_id = %invocation.request_id);
    let deadline = protocol::believable_deadline(invocation.deadline_ms, SystemTime::now());
    reconcile::reconcile(connect, event, deadline)
        .instrument(span)
        .await
}

/// One event over any port and sender; answers the body sent, or None when the request was
/// handed over to a fresh invocation or was a reconcile (which answers nobody). Fails only when nothing could be answered (no usable
/// ResponseURL, or the answer could not be delivered).
pub async fn handle_with<C: Connect, S: Respond>(
    connect: &C,
    sender: &S,
    event: Value,
    invocation: Invocation<'_>,
) -> Result<Option<Body>, lambda_runtime::Error> {
    if reconcile::is_reconcile(&event) {
        // Boxed: a deep future, as the lifecycle's.
        let report = Box::pin(reconcile_with(connect, &event, invocation)).await;
        // Embedded metric format: each record a line of its own on stdout.
        let mut out = std::io::stdout().lock();
        for record in report.metric_records(SystemTime::now()) {
            let _ = writeln!(out, "{record}");
        }
        return Ok(None);
    }
    let lambda_request_id = invocation.request_id;
    let request = match Request::parse(&event, sender.allows_loopback()) {
        Ok(r) => r,
        Err(e) => {
            // No usable ResponseURL: there is nobody to answer. Say so in the log, not the URL.
            tracing::error!(request_id = %lambda_request_id, reason = %e, "cannot answer this event");
            return Err(e.to_string().into());
        }
    };
    let span = tracing::info_span!("request", request_id = %lambda_request_id, cfn_request_id = %request.envelope.request_id);
    async move {
        let now = SystemTime::now();
        let deadline = protocol::believable_deadline(invocation.deadline_ms, now);
        tracing::info!(kind = ?request.kind, continuation = ?request.continuation, "received");
        let envelope = request.envelope.clone();
        let hand_over = (!invocation.function_arn.is_empty()).then(|| HandOver {
            function_arn: invocation.function_arn.to_string(),
            continuation: request.continuation.unwrap_or(Continuation {
                count: 0,
                since_ms: now
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or_default(),
            }),
            event,
        });
        let progress = Progress::default();
        // The registration message leaves the work here; it is sent only after SUCCESS.
        let registration = Arc::new(Mutex::new(None));
        let slot = registration.clone();
        let act = lifecycle::act(connect.clone(), request, progress.clone());
        // Boxed: the lifecycle's future is deep, and it is spawned anyway.
        let work = Box::pin(async move {
            let mut success = act.await?;
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = success.registration.take();
            Ok(success)
        })
        .in_current_span();
        let hand_over = hand_over.as_ref().map(|h| (h, connect));
        let body = protocol::respond_with(sender, &envelope, deadline, &progress, hand_over, work)
            .await
            .map_err(|e| {
                tracing::error!(reason = %e, "the response could not be delivered");
                lambda_runtime::Error::from(e.to_string())
            })?;
        let outgoing = registration
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let (Some(outgoing), Some(b)) = (outgoing, &body) {
            if b.status == "SUCCESS" {
                registration::publish(connect, &outgoing, registration::budget(deadline)).await;
            }
        }
        Ok(body)
    }
    .instrument(span)
    .await
}
