//! The dry run: the live lifecycle over a recording adapter. Reads go to the real port; writes are
//! recorded instead of sent, and later reads of the same request see them (an access entry made,
//! a cluster switched, aws-auth written), so the plan is what a real run would do, call for call.
//! The aws-auth diff is computed from the recorded write itself.

mod bindings;
mod entries;
mod recorder;

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::app::reconcile::Report;
use crate::cfn::event::Request;
use crate::cfn::protocol::{self, Progress};
use crate::cfn::response::Body;
use crate::domain::error::Result;
use crate::ports::Connect;

pub use recorder::{Recorder, Recording};

/// One call of the run: made (a read) or recorded in its place (a write).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// The operation, named as the service names it (`eks:CreateAccessEntry`, `k8s:update`).
    pub op: &'static str,
    /// None for region-wide calls (ListClusters).
    pub cluster: Option<String>,
    pub write: bool,
    /// The principal or policy the call is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For an aws-auth write: the unified diff of `mapRoles`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_roles_diff: Option<String>,
    /// For an aws-auth write: the ConfigMap's data as it would be stored.
    #[serde(skip)]
    pub data_after: Option<std::collections::BTreeMap<String, String>>,
}

/// What a dry run found: the answer CloudFormation would get, and every call.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    pub response: Body,
    pub calls: Vec<Call>,
}

impl DryRun {
    /// The writes a real run would make, in order.
    pub fn writes(&self) -> impl Iterator<Item = &Call> {
        self.calls.iter().filter(|c| c.write)
    }
}

impl fmt::Display for DryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.calls {
            let verb = if c.write { "would call" } else { "reads" };
            let on = c
                .cluster
                .as_deref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            let detail = c
                .detail
                .as_deref()
                .map(|d| format!(" {d}"))
                .unwrap_or_default();
            writeln!(f, "  {verb} {}{detail}{on}", c.op)?;
            if let Some(d) = &c.map_roles_diff {
                for line in d.lines() {
                    writeln!(f, "    {line}")?;
                }
            }
        }
        if self.writes().next().is_none() {
            writeln!(f, "  no write")?;
        }
        match &self.response.reason {
            Some(r) => writeln!(f, "  would answer {}: {r}", self.response.status),
            None => writeln!(f, "  would answer {}", self.response.status),
        }
    }
}

/// Runs the request's lifecycle with writes recorded, not sent, and nothing answered.
pub async fn dry_run<C: Connect>(connect: &C, event: Value) -> Result<DryRun> {
    let request = Request::parse(&event, true)?;
    let envelope = request.envelope.clone();
    let recorder = Recorder::over(connect);
    let progress = Progress::default();
    let work = crate::app::lifecycle::act(recorder.clone(), request, progress.clone());
    let outcome = match tokio::time::timeout(protocol::FALLBACK_BUDGET, work).await {
        Ok(r) => r,
        Err(_) => Err(crate::domain::error::Error::Deadline("planning".into())),
    };
    let response = protocol::answer(&envelope, &progress, outcome);
    Ok(DryRun {
        response,
        calls: recorder.calls(),
    })
}

/// What a reconcile would repair: its report, and every call (writes recorded, not sent).
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileDryRun {
    pub report: Report,
    pub calls: Vec<Call>,
}

/// Runs a reconcile event with writes recorded, not sent.
pub async fn dry_run_reconcile<C: Connect>(connect: &C, event: &Value) -> ReconcileDryRun {
    let recorder = Recorder::over(connect);
    let deadline = std::time::SystemTime::now() + protocol::FALLBACK_BUDGET;
    let report = crate::app::reconcile::reconcile(&recorder, event, deadline).await;
    ReconcileDryRun {
        report,
        calls: recorder.calls(),
    }
}
