//! Every call the mapper makes (EKS, STS, Kubernetes, the response PUT) meets every fault, on each
//! path: Create through aws-auth (ConfigMap there or missing), through an access entry, through
//! the opt-in mode switch, and Delete through aws-auth and through an access entry. Each run ends
//! in SUCCESS after bounded retries or a clean FAILED before the deadline, with exactly one
//! response; aws-auth still parses and keeps every entry it had; after a FAILED Create, the
//! Delete CloudFormation sends next leaves nothing of ours behind; after a FAILED Delete, the
//! retried Delete removes ours.

use std::time::{Duration, Instant};

use eks_sim::Fault;
use integration::{entries_for, Harness, ADMIN_ROLE, SERVICE_ROLE};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(4);

/// One way through the mapper, and the calls on it.
struct Path {
    name: &'static str,
    request: &'static str,
    cluster: &'static str,
    /// Without aws-auth only the cluster creator gets in: run as it, with no admin role.
    missing_config_map: bool,
    enable_access_entries: bool,
    ops: &'static [&'static str],
}

static PATHS: [Path; 6] = [
    Path {
        name: "aws-auth",
        request: "Create",
        cluster: "legacy",
        missing_config_map: false,
        enable_access_entries: false,
        ops: &[
            "eks:DescribeCluster",
            "sts:AssumeRole",
            "k8s:get",
            "k8s:update",
            "cfn:response",
        ],
    },
    Path {
        name: "aws-auth created",
        request: "Create",
        cluster: "legacy",
        missing_config_map: true,
        enable_access_entries: false,
        ops: &["k8s:get", "k8s:create"],
    },
    Path {
        name: "access entry",
        request: "Create",
        cluster: "modern",
        missing_config_map: false,
        enable_access_entries: false,
        ops: &[
            "eks:DescribeCluster",
            "eks:CreateAccessEntry",
            "eks:AssociateAccessPolicy",
            "cfn:response",
        ],
    },
    Path {
        name: "mode switch",
        request: "Create",
        cluster: "legacy",
        missing_config_map: false,
        enable_access_entries: true,
        ops: &["eks:UpdateClusterConfig", "eks:DescribeUpdate"],
    },
    Path {
        name: "aws-auth delete",
        request: "Delete",
        cluster: "legacy",
        missing_config_map: false,
        enable_access_entries: false,
        ops: &[
            "eks:DescribeCluster",
            "sts:AssumeRole",
            "k8s:get",
            "k8s:update",
            "cfn:response",
        ],
    },
    Path {
        name: "access entry delete",
        request: "Delete",
        cluster: "modern",
        missing_config_map: false,
        enable_access_entries: false,
        ops: &[
            "eks:DescribeCluster",
            "eks:DeleteAccessEntry",
            "cfn:response",
        ],
    },
];

fn map_roles_or_none(h: &Harness, cluster: &str) -> Vec<Value> {
    match h.sim.config_map(cluster, "kube-system", "aws-auth") {
        Some(_) => h.map_roles(cluster),
        None => Vec::new(),
    }
}

fn ours_in_access_entries(h: &Harness, cluster: &str) -> bool {
    h.access_entries(cluster)
        .as_object()
        .is_some_and(|m| m.values().any(|e| e["principal_arn"] == SERVICE_ROLE))
}

/// How many mappings of our role the cluster has, in aws-auth and access entries together.
fn ours(h: &Harness, cluster: &str) -> usize {
    entries_for(&map_roles_or_none(h, cluster), SERVICE_ROLE).len()
        + usize::from(ours_in_access_entries(h, cluster))
}

#[derive(Default)]
struct Tally {
    runs: usize,
    successes: usize,
    failures: usize,
    cleaned: usize,
}

/// Every fault on every call of one path, one run each.
async fn run_path(path: &'static Path) -> Tally {
    let faults = [
        Fault::Status(500),
        Fault::Status(503),
        Fault::Throttle,
        Fault::Drop,
        Fault::Delay(DEADLINE + Duration::from_secs(2)),
        Fault::Conflict,
    ];
    let mut t = Tally::default();
    for &op in path.ops {
        for fault in &faults {
            if matches!(fault, Fault::Conflict)
                && !op.starts_with("k8s:")
                && !op.starts_with("eks:")
            {
                continue;
            }
            if op == "cfn:response" && matches!(fault, Fault::Delay(_)) {
                continue; // a response that arrives after the deadline is CloudFormation's timeout, not ours
            }
            let label = format!("{} / {op} / {fault:?}", path.name);
            let (h, mut props) = if path.missing_config_map {
                let h = Harness::with(eks_sim::Scenario::default_scenario(), "admin").await;
                h.sim
                    .set_config_map_data(path.cluster, "kube-system", "aws-auth", None);
                (
                    h,
                    json!({ "ClusterName": path.cluster, "RoleArn": SERVICE_ROLE }),
                )
            } else {
                let props = json!({ "ClusterName": path.cluster, "RoleArn": SERVICE_ROLE, "ClusterAdminRoleArn": ADMIN_ROLE });
                (Harness::start().await, props)
            };
            if path.enable_access_entries {
                props["EnableAccessEntries"] = json!("true");
                // EKS's switch takes minutes (300 s here): simulated time runs 60 times as fast.
                h.sim.set_clock_scale(60.0);
            }
            // A Delete needs something to delete: a Create without faults first.
            let existing_id = if path.request == "Delete" {
                let made = h.invoke(h.event("Create", props.clone(), None)).await;
                assert_eq!(made["Status"], "SUCCESS", "{label}: set-up {made}");
                Some(made["PhysicalResourceId"].as_str().unwrap().to_string())
            } else {
                None
            };
            let others: Vec<Value> = map_roles_or_none(&h, path.cluster)
                .into_iter()
                .filter(|e| entries_for(std::slice::from_ref(e), SERVICE_ROLE).is_empty())
                .collect();
            h.sim.inject(op, fault.clone(), 1);
            let started = Instant::now();
            let (resp, invocations) = h
                .invoke_counting(
                    h.event(path.request, props.clone(), existing_id.as_deref()),
                    DEADLINE,
                )
                .await;
            let took = started.elapsed();
            assert!(
                h.sim.pending_faults().is_empty(),
                "{label}: the fault never fired: {:?}",
                h.sim.pending_faults()
            );
            t.runs += 1;
            // Each invocation answers or hands over before its own deadline.
            assert!(
                took < DEADLINE * invocations as u32,
                "{label}: answered after {took:?} over {invocations} invocations"
            );
            let after: Vec<Value> = map_roles_or_none(&h, path.cluster)
                .into_iter()
                .filter(|e| entries_for(std::slice::from_ref(e), SERVICE_ROLE).is_empty())
                .collect();
            assert_eq!(after, others, "{label}: other entries lost or reordered");
            match (resp["Status"].as_str(), path.request) {
                (Some("SUCCESS"), "Create") => {
                    t.successes += 1;
                    assert_eq!(ours(&h, path.cluster), 1, "{label}: mapped exactly once");
                }
                (Some("SUCCESS"), _) => {
                    t.successes += 1;
                    assert_eq!(ours(&h, path.cluster), 0, "{label}: removed");
                }
                (Some("FAILED"), _) => {
                    t.failures += 1;
                    let reason = resp["Reason"].as_str().unwrap();
                    assert!(
                        !reason.is_empty() && reason.len() < 1024,
                        "{label}: {reason}"
                    );
                    eprintln!("{label}: FAILED: {reason}");
                    // After a FAILED Create, CloudFormation deletes the id it got; after a
                    // FAILED Delete, the user retries the Delete.
                    let id = resp["PhysicalResourceId"].as_str().unwrap();
                    let del = h.invoke(h.event("Delete", props, Some(id))).await;
                    assert_eq!(del["Status"], "SUCCESS", "{label}: {del}");
                    assert_eq!(ours(&h, path.cluster), 0, "{label}: left behind");
                    let left: Vec<Value> = map_roles_or_none(&h, path.cluster);
                    assert_eq!(left, others, "{label}: the Delete lost entries");
                    t.cleaned += 1;
                }
                (other, _) => panic!("{label}: status {other:?}"),
            }
        }
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_meets_every_fault_and_the_stack_always_gets_one_clean_answer() {
    // The paths run side by side; each has its own simulator.
    let tallies = futures::future::join_all(PATHS.iter().map(|p| tokio::spawn(run_path(p)))).await;
    let mut all = Tally::default();
    for t in tallies {
        let t = t.expect("a path's runs all passed");
        all.runs += t.runs;
        all.successes += t.successes;
        all.failures += t.failures;
        all.cleaned += t.cleaned;
    }
    eprintln!(
        "fault matrix: {} runs over {} paths, {} SUCCESS after retries, {} clean FAILED ({} cleaned up by the Delete that follows), 0 lost entries",
        all.runs, PATHS.len(), all.successes, all.failures, all.cleaned
    );
    assert!(
        all.successes > all.failures,
        "most single faults are retried away"
    );
}

/// A call that hangs is cut by its own timeout (SDK attempt 10 s, Kubernetes read 15 s) and
/// retried, well before a distant deadline: no single call can eat the whole budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_call_is_cut_by_its_own_timeout_and_retried() {
    let budget = Duration::from_secs(60);
    let run = |op: &'static str, hang: Duration| async move {
        let h = Harness::start().await;
        h.sim.inject(op, Fault::Delay(hang), 1);
        let props = json!({ "ClusterName": "legacy", "RoleArn": SERVICE_ROLE, "ClusterAdminRoleArn": ADMIN_ROLE });
        let started = Instant::now();
        let resp = h
            .invoke_within(h.event("Create", props, None), budget)
            .await;
        let took = started.elapsed();
        assert_eq!(resp["Status"], "SUCCESS", "{op}: {resp}");
        // The hung attempt is never answered, so the log holds only the retry that succeeded.
        let answered = h.sim.request_log().iter().filter(|r| r.op == op).count();
        assert_eq!(answered, 1, "{op}");
        h.sim.assert_faults_fired();
        (took, hang)
    };
    let (eks, k8s) = tokio::join!(
        run("eks:DescribeCluster", Duration::from_secs(40)),
        run("k8s:get", Duration::from_secs(40)),
    );
    for (op, (took, hang)) in [("eks:DescribeCluster", eks), ("k8s:get", k8s)] {
        eprintln!("{op}: hung {hang:?}, answered SUCCESS after {took:?}");
        assert!(
            took >= Duration::from_secs(9) && took < Duration::from_secs(25),
            "{op}: cut by its timeout, not the deadline: took {took:?}"
        );
    }
}
