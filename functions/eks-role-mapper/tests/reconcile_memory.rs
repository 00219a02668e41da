//! The reconcile over the in-memory adapter: drift repaired, new clusters granted, and no write
//! once the stack no longer holds the grant. The HTTPS tests in `tests/integration` prove the same
//! against the simulator and real clients.

use std::time::{Duration, SystemTime};

use eks_role_mapper::cloud::StackResource;
use eks_role_mapper::reconcile::{Outcome, Report, Verdict};
use eks_role_mapper::{handle_with, reconcile_with, AuthMode};
use serde_json::{json, Value};
use test_kit::{Answers, Cluster, Memory};

mod common;

use common::*;

const ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

fn properties(clusters: &str) -> Value {
    json!({"ClusterName": clusters, "RoleArn": ROLE, "EnableAccessEntries": "false", "Region": "us-east-1", "ClusterAdminRoleArn": ""})
}

/// Creates the resource as CloudFormation would, and records what CloudFormation then knows.
async fn create(m: &Memory, clusters: &str) -> String {
    let answers = Answers::default();
    let mut props = properties(clusters);
    props["ServiceToken"] = json!("arn:aws:lambda:us-east-1:111122223333:function:f");
    let e = json!({
        "RequestType": "Create", "ResponseURL": RESPONSE_URL, "StackId": STACK,
        "RequestId": "req-create", "LogicalResourceId": "Mapping",
        "ResourceType": "Custom::EksRoleMapping", "ResourceProperties": props,
    });
    m.as_cloudformation(&e);
    handle_with(m, &answers, e, invocation()).await.unwrap();
    let body = answers.sent().pop().unwrap();
    assert_eq!(body.status, "SUCCESS", "{:?}", body.reason);
    stack_holds(m, &body.physical_resource_id, "CREATE_COMPLETE");
    body.physical_resource_id
}

fn stack_holds(m: &Memory, id: &str, status: &str) {
    m.world().stacks.insert(
        (STACK.into(), "Mapping".into()),
        StackResource {
            physical_id: Some(id.into()),
            status: status.into(),
            last_updated: Some(SystemTime::now()),
        },
    );
}

fn reconcile_event(id: &str, clusters: &str) -> Value {
    json!({
        "RequestType": "Reconcile", "StackId": STACK, "LogicalResourceId": "Mapping",
        "PhysicalResourceId": id, "ResourceProperties": properties(clusters),
    })
}

async fn reconcile(m: &Memory, e: &Value) -> Report {
    reconcile_with(m, e, invocation()).await
}

fn outcomes(r: &Report) -> Vec<(&str, Outcome)> {
    r.clusters
        .iter()
        .map(|c| (c.cluster.as_str(), c.outcome))
        .collect()
}

fn map_roles(m: &Memory) -> String {
    m.aws_auth_data("legacy").unwrap()["mapRoles"].clone()
}

#[tokio::test]
async fn drift_on_every_mechanism_is_repaired_and_a_second_run_writes_nothing() {
    let m = region();
    let id = create(&m, "legacy,hybrid,modern").await;
    // Someone applies aws-auth without our entry, deletes the entry, takes the policy away.
    m.set_aws_auth("legacy", &[("mapRoles", NODES), ("mapUsers", "[]\n")]);
    m.world()
        .clusters
        .get_mut("hybrid")
        .unwrap()
        .entries
        .remove(ROLE);
    m.world()
        .clusters
        .get_mut("modern")
        .unwrap()
        .entries
        .get_mut(ROLE)
        .unwrap()
        .policies
        .clear();
    m.world().writes.clear();
    let r = reconcile(&m, &reconcile_event(&id, "legacy,hybrid,modern")).await;
    assert_eq!(r.verdict, Verdict::Reconciled);
    assert_eq!(
        outcomes(&r),
        [
            ("legacy", Outcome::Repaired),
            ("hybrid", Outcome::Repaired),
            ("modern", Outcome::Repaired)
        ]
    );
    assert!(map_roles(&m).contains(ROLE) && map_roles(&m).starts_with(NODES));
    for c in ["hybrid", "modern"] {
        assert!(m.world().clusters[c].entries[ROLE].policies.contains(ADMIN));
    }
    m.world().writes.clear();
    let again = reconcile(&m, &reconcile_event(&id, "legacy,hybrid,modern")).await;
    assert!(
        again
            .clusters
            .iter()
            .all(|c| c.outcome == Outcome::Unchanged),
        "{again:?}"
    );
    assert!(m.world().writes.is_empty(), "{:?}", m.world().writes);
    assert!(!again.failed());
}

#[tokio::test]
async fn a_cluster_new_under_star_is_granted_and_a_deleted_one_is_no_error() {
    let m = region();
    let id = create(&m, "*").await;
    let mut fresh = Cluster::new(AuthMode::Api);
    fresh.created_at = Some(SystemTime::now() + Duration::from_secs(5));
    m.world().clusters.insert("fresh".into(), fresh);
    let mut creating = Cluster::new(AuthMode::Api);
    creating.status = "CREATING".into();
    m.world().clusters.insert("creating".into(), creating);
    let r = reconcile(&m, &reconcile_event(&id, "*")).await;
    let got: std::collections::BTreeMap<_, _> = outcomes(&r).into_iter().collect();
    assert_eq!(got["fresh"], Outcome::Granted);
    assert_eq!(got["creating"], Outcome::Skipped);
    assert_eq!(got["legacy"], Outcome::Unchanged);
    assert!(m.world().clusters["fresh"].entries[ROLE]
        .policies
        .contains(ADMIN));
    assert!(m.world().clusters["creating"].entries.is_empty());
    // A named cluster deleted since: reported gone, not failed.
    let id = create(&m, "legacy,modern").await;
    m.world().clusters.remove("modern");
    let r = reconcile(&m, &reconcile_event(&id, "legacy,modern")).await;
    assert_eq!(
        outcomes(&r),
        [("legacy", Outcome::Unchanged), ("modern", Outcome::Gone)]
    );
    assert!(!r.failed());
}

#[tokio::test]
async fn nothing_is_written_once_the_stack_no_longer_holds_the_grant() {
    let m = region();
    let id = create(&m, "legacy,modern").await;
    m.set_aws_auth("legacy", &[("mapRoles", NODES)]);
    m.world()
        .clusters
        .get_mut("modern")
        .unwrap()
        .entries
        .clear();
    let e = reconcile_event(&id, "legacy,modern");
    let cases: [(Option<(&str, &str)>, Verdict); 9] = [
        (Some((id.as_str(), "EXPORT_COMPLETE")), Verdict::StackGone),
        (Some((id.as_str(), "ROLLBACK_COMPLETE")), Verdict::StackGone),
        (Some((id.as_str(), "DELETE_SKIPPED")), Verdict::StackGone),
        (
            Some((id.as_str(), "UPDATE_FAILED")),
            Verdict::StackBusy("UPDATE_FAILED".into()),
        ),
        (None, Verdict::StackGone),
        (Some((id.as_str(), "DELETE_COMPLETE")), Verdict::StackGone),
        (
            Some((id.as_str(), "DELETE_IN_PROGRESS")),
            Verdict::StackGone,
        ),
        (
            Some(("eks-role-mapper/v2|other", "UPDATE_COMPLETE")),
            Verdict::Superseded,
        ),
        (
            Some((id.as_str(), "UPDATE_IN_PROGRESS")),
            Verdict::StackBusy("UPDATE_IN_PROGRESS".into()),
        ),
    ];
    for (held, verdict) in cases {
        m.world().stacks.clear();
        if let Some((pid, status)) = held {
            stack_holds(&m, pid, status);
        }
        m.world().writes.clear();
        let r = reconcile(&m, &e).await;
        assert_eq!(r.verdict, verdict);
        assert!(r.clusters.is_empty());
        assert!(m.world().writes.is_empty(), "{:?}", m.world().writes);
    }
    assert!(!map_roles(&m).contains(ROLE));
    // After a rolled-back update the stack holds it again: repaired.
    stack_holds(&m, &id, "UPDATE_ROLLBACK_COMPLETE");
    assert_eq!(reconcile(&m, &e).await.verdict, Verdict::Reconciled);
    assert!(map_roles(&m).contains(ROLE));
    m.world().writes.clear();
    // CloudFormation unreachable: a failure, still no write.
    stack_holds(&m, &id, "UPDATE_COMPLETE");
    m.fail("DescribeStackResource", STACK, 1);
    let r = reconcile(&m, &e).await;
    assert!(
        m.pending_failures().is_empty(),
        "the injected failure fired"
    );
    assert!(matches!(r.verdict, Verdict::Failed(_)) && r.failed());
    assert!(m.world().writes.is_empty());
    let stack_level = r.metric_records(SystemTime::now());
    assert_eq!(stack_level.len(), 1);
    assert_eq!(stack_level[0]["Failed"], 1);
}

#[tokio::test]
async fn an_event_that_is_not_the_stacks_own_is_refused_by_field() {
    let m = region();
    let id = create(&m, "legacy").await;
    let mut other_role = reconcile_event(&id, "legacy");
    other_role["ResourceProperties"]["RoleArn"] = json!("arn:aws:iam::111122223333:role/other");
    let mut no_stack = reconcile_event(&id, "legacy");
    no_stack["StackId"] = json!("my-stack");
    let mut bad_props = reconcile_event(&id, "legacy");
    bad_props["ResourceProperties"]["ClusterName"] = json!("no spaces allowed");
    for (e, field) in [
        (other_role, "PhysicalResourceId"),
        (no_stack, "StackId"),
        (bad_props, "ClusterName"),
    ] {
        m.world().writes.clear();
        let r = reconcile(&m, &e).await;
        match &r.verdict {
            Verdict::Invalid(why) => assert!(why.starts_with(field), "{why}"),
            v => panic!("{v:?}"),
        }
        assert!(m.world().writes.is_empty());
    }
}

#[tokio::test]
async fn one_failing_cluster_is_reported_and_the_others_are_repaired() {
    let m = region();
    let id = create(&m, "legacy,hybrid,modern").await;
    for c in ["hybrid", "modern"] {
        m.world().clusters.get_mut(c).unwrap().entries.clear();
    }
    m.fail("DescribeCluster", "hybrid", 1);
    let r = reconcile(&m, &reconcile_event(&id, "legacy,hybrid,modern")).await;
    assert!(
        m.pending_failures().is_empty(),
        "the injected failure fired"
    );
    assert_eq!(
        outcomes(&r),
        [
            ("legacy", Outcome::Unchanged),
            ("hybrid", Outcome::Failed),
            ("modern", Outcome::Repaired)
        ]
    );
    let records = r.metric_records(SystemTime::now());
    assert_eq!(records.len(), 3);
    let by = |c: &str| records.iter().find(|x| x["Cluster"] == c).unwrap().clone();
    assert_eq!(by("hybrid")["Failed"], 1);
    assert_eq!(by("modern")["Repaired"], 1);
    assert_eq!(by("legacy")["Repaired"], 0);
    assert_eq!(by("legacy")["Stack"], "s");
    assert_eq!(
        by("legacy")["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Stack"], ["Stack", "Cluster"]])
    );
}

/// A run cut off by the deadline before it listed the clusters is a failure (one stack-level
/// Failed record), never an empty success.
#[tokio::test]
async fn a_run_cut_off_before_the_clusters_are_listed_is_a_failure() {
    let m = region();
    let id = create(&m, "*").await;
    m.world().stalled.insert("ListClusters".into());
    let e = reconcile_event(&id, "*");
    let deadline = SystemTime::now() + Duration::from_secs(1);
    let r = eks_role_mapper::reconcile::reconcile(&m, &e, deadline).await;
    assert!(
        matches!(&r.verdict, Verdict::Failed(why) if why.contains("deadline")),
        "{r:?}"
    );
    assert!(r.failed() && r.clusters.is_empty());
    assert_eq!(r.metric_records(SystemTime::now())[0]["Failed"], 1);
}
