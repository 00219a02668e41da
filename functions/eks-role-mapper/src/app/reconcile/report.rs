//! What one reconcile did, per cluster and as a whole: the report the replay prints, the log lines
//! and the CloudWatch embedded-metric records.

use std::time::SystemTime;

use serde::Serialize;
use serde_json::{json, Value};

use super::NAMESPACE;

/// What a reconcile did on one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// The grant stood; nothing was written.
    Unchanged,
    /// Something of the grant was gone and was put back.
    Repaired,
    /// A cluster newer than the stack's last change got the grant (one new under `*`).
    Granted,
    /// The cluster no longer exists.
    Gone,
    /// The cluster is not ACTIVE (being created, updated or deleted): left for the next run.
    Skipped,
    /// A wait (IAM propagation, a mode switch) outlasted this run: the next run goes on.
    Pending,
    /// The cluster could not be reached, read or written.
    Failed,
}

/// One cluster's line of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterReport {
    pub cluster: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Whether the reconcile got to the clusters, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The clusters were reconciled (each has its outcome).
    Reconciled,
    /// The stack, or its resource, is deleted or does not exist: nothing is written.
    StackGone,
    /// The stack's resource has another physical id now (it was replaced): this event is stale.
    Superseded,
    /// The stack is changing the resource now (the status): the next run reconciles.
    StackBusy(String),
    /// The event is malformed: which field, what was expected.
    Invalid(String),
    /// CloudFormation or EKS could not be asked (the error): nothing is written.
    Failed(String),
}

/// What one reconcile did: the report the replay prints, the log lines and the metrics.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    /// The stack's name (the metrics' `Stack` dimension), empty when the event named none.
    pub stack: String,
    pub verdict: Verdict,
    pub clusters: Vec<ClusterReport>,
}

impl Report {
    pub(super) fn without_clusters(stack: &str, verdict: Verdict) -> Report {
        Report {
            stack: stack.to_string(),
            verdict,
            clusters: Vec::new(),
        }
    }

    /// Whether something failed: the event, the ownership check, or a cluster.
    pub fn failed(&self) -> bool {
        matches!(self.verdict, Verdict::Invalid(_) | Verdict::Failed(_))
            || self.clusters.iter().any(|c| c.outcome == Outcome::Failed)
    }

    /// How many clusters ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.clusters
            .iter()
            .filter(|c| c.outcome == outcome)
            .count()
    }

    /// The embedded-metric-format records: one a cluster (dimensions Stack and Stack+Cluster),
    /// or one for the stack when the reconcile failed before the clusters. Each is a JSON object
    /// for a line of its own on stdout, where Lambda's log agent hands it to CloudWatch.
    /// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
    pub fn metric_records(&self, at: SystemTime) -> Vec<Value> {
        let ms = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let metrics = json!([
            {"Name": "Repaired", "Unit": "Count"},
            {"Name": "Granted", "Unit": "Count"},
            {"Name": "Failed", "Unit": "Count"},
        ]);
        let n = |b: bool| u8::from(b);
        if self.clusters.is_empty() {
            if !self.failed() {
                return Vec::new();
            }
            return vec![json!({
                "_aws": {"Timestamp": ms, "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE, "Dimensions": [["Stack"]], "Metrics": metrics,
                }]},
                "Stack": self.stack, "Repaired": 0, "Granted": 0, "Failed": 1,
            })];
        }
        self.clusters
            .iter()
            .map(|c| {
                json!({
                    "_aws": {"Timestamp": ms, "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [["Stack"], ["Stack", "Cluster"]],
                        "Metrics": metrics,
                    }]},
                    "Stack": self.stack,
                    "Cluster": c.cluster,
                    "Outcome": c.outcome,
                    "Repaired": n(c.outcome == Outcome::Repaired),
                    "Granted": n(c.outcome == Outcome::Granted),
                    "Failed": n(c.outcome == Outcome::Failed),
                })
            })
            .collect()
    }
}
