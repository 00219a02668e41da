//! The dry run is the live lifecycle over the recording adapter, so what it plans is what a real
//! run then does. For every event in `events/` (replayed as the stacks they belong to) and every
//! usable file of `events/bad/`, on the simulator over HTTPS: the dry run's planned writes equal
//! the writes the simulator then sees from the real run, the aws-auth it would store equals what is
//! stored, it answers what the real run answers, and it changes nothing itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use integration::Harness;
use serde_json::Value;

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn load(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).unwrap()).ok()
}

/// The stacks the event files form, in CloudFormation's order; every file of `events/` is in one.
const STACKS: &[&[&str]] = &[
    &[
        "create.json",
        "update.json",
        "update-rollback.json",
        "delete.json",
    ],
    &["create.json", "update-replace.json", "delete.json"],
    &["create-access-entry.json", "delete-access-entry.json"],
    &["create-hybrid.json"],
    &["create-enable-access-entries.json"],
    &["create-many.json", "update-many.json", "delete-many.json"],
    &["create-every-cluster.json", "reconcile-every-cluster.json"],
    &["delete-after-failed-create.json"],
    // A level below cluster-admin: the RoleBinding, aws-auth and the namespaced association.
    &["create-view-namespaced.json"],
    // The default scenario holds create.json's stack, with the role's entry gone from aws-auth.
    &["reconcile.json"],
    &["create.json", "delete.json", "reconcile.json"],
    // Registration publishes after the answer; the dry run plans the same grant and no publish.
    &["create-registered.json", "delete-registered.json"],
    &["create-registered-refused.json"],
];

/// A write as the simulator logs it: the operation and, for EKS, the cluster of its path.
fn key(op: &str, cluster: Option<&str>) -> String {
    match cluster {
        Some(c) if op.starts_with("eks:") => format!("{op} {c}"),
        _ => op.to_string(),
    }
}

/// The writes the simulator logged since it was last cleared, keyed as [`key`].
fn made_writes(h: &Harness) -> Vec<String> {
    let mut made: Vec<String> = h
        .sim
        .request_log()
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .filter(|r| r.method != "GET" && (r.op.starts_with("k8s:") || r.op.starts_with("eks:")))
        .map(|r| {
            let cluster = r.path.split('/').nth(2).map(str::to_string);
            key(&r.op, cluster.as_deref())
        })
        .collect();
    made.sort();
    made
}

/// A reconcile event: dry-run, then run for real; the same writes and the same report.
async fn compare_reconcile(h: &Harness, name: &str, event: Value) {
    let before = serde_json::to_string(&h.sim.state_json()).unwrap();
    let plan = eks_role_mapper::dry_run_reconcile(&h.playing(&event), &event).await;
    assert_eq!(
        serde_json::to_string(&h.sim.state_json()).unwrap(),
        before,
        "{name}: the dry run changed nothing"
    );
    let mut planned: Vec<String> = plan
        .calls
        .iter()
        .filter(|c| c.write)
        .map(|c| key(c.op, c.cluster.as_deref()))
        .collect();
    planned.sort();
    h.sim.clear_request_log();
    let report = h.reconcile(&event).await;
    assert_eq!(planned, made_writes(h), "{name}: planned vs made\n{plan:?}");
    assert_eq!(
        serde_json::to_value(&plan.report).unwrap(),
        serde_json::to_value(&report).unwrap(),
        "{name}"
    );
    assert!(!report.failed(), "{name}: {report:?}");
}

/// Dry-runs `event`, then runs it for real; compares the two. Returns the real answer.
async fn compare(h: &Harness, name: &str, mut event: Value) -> Value {
    let request_id = event["RequestId"].as_str().unwrap().to_string();
    let kind = event["RequestType"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    event["ResponseURL"] = Value::String(h.sim.response_url_for(&request_id, &kind));
    h.sim.cloudformation_sends(&event);
    let before = serde_json::to_string(&h.sim.state_json()).unwrap();
    let plan = eks_role_mapper::dry_run(&h.playing(&event), event.clone())
        .await
        .expect("a dry run");
    assert_eq!(
        serde_json::to_string(&h.sim.state_json()).unwrap(),
        before,
        "{name}: the dry run changed nothing and answered nothing"
    );
    let mut planned: Vec<String> = plan
        .writes()
        .map(|c| key(c.op, c.cluster.as_deref()))
        .collect();
    let planned_aws_auth: BTreeMap<String, BTreeMap<String, String>> = plan
        .writes()
        .filter_map(|c| Some((c.cluster.clone()?, c.data_after.clone()?)))
        .collect();

    h.sim.clear_request_log();
    let answer = h.invoke(event).await;
    let log = h.sim.request_log();
    let made = made_writes(h);
    planned.sort();
    assert_eq!(
        planned, made,
        "{name}: planned writes vs. the writes made\n{plan}\nanswer: {answer}\nlog: {log:?}"
    );
    for (cluster, data) in planned_aws_auth {
        let stored = h
            .sim
            .config_map(&cluster, "kube-system", "aws-auth")
            .expect("aws-auth written");
        let stored: BTreeMap<String, String> =
            serde_json::from_value(stored["data"].clone()).unwrap();
        assert_eq!(stored, data, "{name}: aws-auth on {cluster} as planned");
    }
    assert_eq!(
        answer["Status"], plan.response.status,
        "{name}: {answer}\n{plan}"
    );
    let planned_reason = serde_json::to_value(&plan.response).unwrap()["Reason"].clone();
    assert_eq!(
        answer.get("Reason").cloned().unwrap_or(Value::Null),
        planned_reason,
        "{name}: the same Reason"
    );
    assert_eq!(
        answer["PhysicalResourceId"], plan.response.physical_resource_id,
        "{name}"
    );
    assert_eq!(
        answer.get("Data").cloned().unwrap_or(Value::Null),
        plan.response.data.clone().unwrap_or(Value::Null),
        "{name}"
    );
    answer
}

#[tokio::test]
async fn for_every_event_the_dry_run_plans_exactly_the_writes_the_real_run_makes() {
    integration::capture_logs();
    let mut covered = std::collections::BTreeSet::new();
    for stack in STACKS {
        let h = Harness::start().await;
        // The opt-in switch takes EKS minutes (300 s here): simulated time runs 60 times as fast.
        h.sim.set_clock_scale(60.0);
        for name in *stack {
            let event = load(&events_dir().join(name)).expect("a JSON event");
            if eks_role_mapper::reconcile::is_reconcile(&event) {
                compare_reconcile(&h, name, event).await;
                covered.insert(name.to_string());
                continue;
            }
            compare(&h, name, event).await;
            covered.insert(name.to_string());
        }
    }
    let all: std::collections::BTreeSet<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(covered, all, "every event file is replayed in some stack");
}

#[tokio::test]
async fn for_every_bad_event_the_dry_run_and_the_real_run_fail_alike_without_a_write() {
    integration::capture_logs();
    let h = Harness::start().await;
    let mut seen = 0;
    for entry in std::fs::read_dir(events_dir().join("bad")).unwrap() {
        let path = entry.unwrap().path();
        let Some(event) = load(&path) else { continue };
        if event
            .get("ResponseURL")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            || event
                .get("RequestId")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let answer = compare(&h, &name, event).await;
        assert_eq!(answer["Status"], "FAILED", "{name}");
        seen += 1;
    }
    assert!(seen > 50, "the bad corpus is replayed ({seen} files)");
}

/// Issue 33: generated variants where the real run's writes depend on what only a read tells: a
/// namespace that does not exist (one of two, or the only one), a binding at our name that was
/// made again by hand with another roleRef and without our label, a cluster whose Kubernetes API
/// refuses the function (401) and a cluster deleted since the create. Each is dry-run, then run,
/// and both must give the same Status, Reason and writes.
#[tokio::test]
async fn generated_variants_that_depend_on_reads_the_dry_run_makes_too() {
    integration::capture_logs();
    let h = Harness::start().await;
    let legacy = integration::legacy_props;
    // Namespaces that do not exist: nothing is left written, and FAILED naming Namespaces.
    for (name, namespaces) in [("missing", "team-a"), ("one missing", "ml,team-a")] {
        let props = legacy(serde_json::json!({"AccessLevel": "edit", "Namespaces": namespaces}));
        let answer = compare(&h, name, h.event("Create", props, None)).await;
        assert_eq!(answer["Status"], "FAILED", "{name}: {answer}");
        assert!(answer["Reason"]
            .as_str()
            .unwrap()
            .contains("namespace team-a does not exist"));
    }
    // A binding at our name, made again by hand with another roleRef and without our label.
    let props = legacy(serde_json::json!({"AccessLevel": "view", "Namespaces": "ml"}));
    let made = compare(&h, "view in ml", h.event("Create", props.clone(), None)).await;
    let id = made["PhysicalResourceId"].as_str().unwrap().to_string();
    let owner = id.split('|').nth(2).unwrap();
    let key = format!("rolebindings/ml/eks-role-mapper-{owner}-view");
    assert!(h.sim.edit_binding("legacy", &key, |b| {
        b["roleRef"]["name"] = serde_json::json!("edit");
        b["metadata"]["labels"] = serde_json::json!({});
    }));
    let update = h.update_event(props.clone(), props.clone(), &id);
    let answer = compare(&h, "roleRef edited by hand", update).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    compare(&h, "delete", h.event("Delete", props, Some(&id))).await;
    // The function's own role is mapped to nothing on legacy (401): the Create fails, and the
    // Delete that follows passes legacy over (nothing of this resource can be there).
    let refused = integration::props("legacy");
    let failed = compare(&h, "401 create", h.event("Create", refused.clone(), None)).await;
    assert_eq!(failed["Status"], "FAILED");
    let id = failed["PhysicalResourceId"].as_str().unwrap().to_string();
    let deleted = compare(&h, "401 delete", h.event("Delete", refused, Some(&id))).await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    // A cluster deleted since the create: its Delete is fine both ways.
    let both = integration::props("modern,hybrid");
    let made = compare(&h, "two clusters", h.event("Create", both.clone(), None)).await;
    let id = made["PhysicalResourceId"].as_str().unwrap().to_string();
    assert!(h.sim.delete_cluster("hybrid"));
    h.sim.advance_clock(3600.0);
    assert_eq!(h.sim.cluster_status("hybrid"), None, "gone");
    let deleted = compare(&h, "one gone", h.event("Delete", both, Some(&id))).await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
}
