//! Every call the mapper makes (EKS, STS, Kubernetes, the response PUT), on the aws-auth path, the
//! aws-auth path with the ConfigMap missing and the access-entry path, meets every fault: each run
//! ends in SUCCESS after bounded retries or a clean FAILED before the deadline, with exactly one
//! response; aws-auth still parses and keeps every entry it had; and after a FAILED Create, the
//! Delete CloudFormation sends next leaves nothing of ours behind.

use std::time::{Duration, Instant};

use eks_sim::Fault;
use integration::{entries_for, Harness, ADMIN_ROLE, SERVICE_ROLE};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(4);

/// One way through the mapper, and the calls on it.
struct Path {
    name: &'static str,
    cluster: &'static str,
    /// Without aws-auth only the cluster creator gets in: run as it, with no admin role.
    missing_config_map: bool,
    ops: &'static [&'static str],
}

const PATHS: [Path; 3] = [
    Path {
        name: "aws-auth",
        cluster: "legacy",
        missing_config_map: false,
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
        cluster: "legacy",
        missing_config_map: true,
        ops: &["k8s:get", "k8s:create"],
    },
    Path {
        name: "access entry",
        cluster: "modern",
        missing_config_map: false,
        ops: &[
            "eks:DescribeCluster",
            "eks:CreateAccessEntry",
            "eks:AssociateAccessPolicy",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_meets_every_fault_and_the_stack_always_gets_one_clean_answer() {
    let faults = [
        Fault::Status(500),
        Fault::Status(503),
        Fault::Throttle,
        Fault::Drop,
        Fault::Delay(DEADLINE + Duration::from_secs(2)),
        Fault::Conflict,
    ];
    let (mut runs, mut successes, mut failures, mut cleaned) = (0, 0, 0, 0);
    for path in &PATHS {
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
                let (h, props) = if path.missing_config_map {
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
                let before = map_roles_or_none(&h, path.cluster);
                h.sim.inject(op, fault.clone(), 1);
                let started = Instant::now();
                let resp = h
                    .invoke_within(h.event("Create", props.clone(), None), DEADLINE)
                    .await;
                let took = started.elapsed();
                runs += 1;
                assert!(took < DEADLINE, "{label}: answered after {took:?}");
                let after = map_roles_or_none(&h, path.cluster);
                assert_eq!(
                    &after[..before.len()],
                    &before[..],
                    "{label}: entries lost or reordered"
                );
                let mapped = entries_for(&after, SERVICE_ROLE).len()
                    + usize::from(ours_in_access_entries(&h, path.cluster));
                match resp["Status"].as_str() {
                    Some("SUCCESS") => {
                        successes += 1;
                        assert_eq!(mapped, 1, "{label}: mapped exactly once");
                    }
                    Some("FAILED") => {
                        failures += 1;
                        let reason = resp["Reason"].as_str().unwrap();
                        assert!(
                            !reason.is_empty() && reason.len() < 1024,
                            "{label}: {reason}"
                        );
                        eprintln!("{label}: FAILED: {reason}");
                        // CloudFormation follows a FAILED Create with a Delete of the id it got.
                        let id = resp["PhysicalResourceId"].as_str().unwrap();
                        let del = h.invoke(h.event("Delete", props, Some(id))).await;
                        assert_eq!(del["Status"], "SUCCESS", "{label}: {del}");
                        let left = map_roles_or_none(&h, path.cluster);
                        assert!(
                            entries_for(&left, SERVICE_ROLE).is_empty(),
                            "{label}: left in aws-auth"
                        );
                        assert!(
                            !ours_in_access_entries(&h, path.cluster),
                            "{label}: access entry left"
                        );
                        assert_eq!(
                            &left[..before.len()],
                            &before[..],
                            "{label}: delete lost entries"
                        );
                        cleaned += 1;
                    }
                    other => panic!("{label}: status {other:?}"),
                }
            }
        }
    }
    eprintln!("fault matrix: {runs} runs over {} paths, {successes} SUCCESS after retries, {failures} clean FAILED ({cleaned} cleaned up by the Delete that follows), 0 lost entries", PATHS.len());
    assert!(successes > failures, "most single faults are retried away");
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
