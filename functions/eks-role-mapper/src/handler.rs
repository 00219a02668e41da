//! The Lambda handler: one custom-resource event, answered exactly once. Wires the protocol
//! (`protocol`) to the lifecycle (`lifecycle`) over any port and response sender; `handle` is the
//! live one.

use std::time::SystemTime;

use serde_json::Value;
use tracing::Instrument;

use crate::clients::Clients;
use crate::cloud::Connect;
use crate::event::Request;
use crate::lifecycle;
use crate::protocol::{self, Progress};
use crate::response::{Body, Respond};

/// The Lambda handler against AWS.
pub async fn handle(
    clients: &Clients,
    event: Value,
    ctx: lambda_runtime::Context,
) -> Result<(), lambda_runtime::Error> {
    handle_with(
        clients,
        clients.sender(),
        event,
        &ctx.request_id,
        ctx.deadline,
    )
    .await
    .map(drop)
}

/// One event over any port and sender; answers the body sent. Fails only when nothing could be
/// answered (no usable ResponseURL, or the answer could not be delivered).
pub async fn handle_with<C: Connect, S: Respond>(
    connect: &C,
    sender: &S,
    event: Value,
    lambda_request_id: &str,
    deadline_ms: u64,
) -> Result<Body, lambda_runtime::Error> {
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
        let deadline = protocol::believable_deadline(deadline_ms, SystemTime::now());
        tracing::info!(kind = ?request.kind, "received");
        let envelope = request.envelope.clone();
        let progress = Progress::default();
        // Boxed: the lifecycle's future is deep, and it is spawned anyway.
        let work =
            Box::pin(lifecycle::act(connect.clone(), request, progress.clone())).in_current_span();
        protocol::respond_with(sender, &envelope, deadline, &progress, work)
            .await
            .map_err(|e| {
                tracing::error!(reason = %e, "the response could not be delivered");
                e.to_string().into()
            })
    }
    .instrument(span)
    .await
}
