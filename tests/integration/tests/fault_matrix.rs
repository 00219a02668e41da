//! Every call the mapper makes on the aws-auth path (EKS, STS, Kubernetes, the response PUT) meets
//! every fault: each run ends in SUCCESS after bounded retries or a clean FAILED before the
//! deadline, with exactly one response, and aws-auth still parses and keeps every entry it had.

use std::time::{Duration, Instant};

use eks_sim::Fault;
use integration::{Harness, ADMIN_ROLE, SERVICE_ROLE};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_meets_every_fault_and_the_stack_always_gets_one_clean_answer() {
    let ops = [
        "eks:DescribeCluster",
        "sts:AssumeRole",
        "k8s:get",
        "k8s:update",
        "cfn:response",
    ];
    let faults = [
        Fault::Status(500),
        Fault::Status(503),
        Fault::Throttle,
        Fault::Drop,
        Fault::Delay(DEADLINE + Duration::from_secs(2)),
        Fault::Conflict,
    ];
    let (mut runs, mut successes, mut failures) = (0, 0, 0);
    for op in ops {
        for fault in &faults {
            if matches!(fault, Fault::Conflict) && !op.starts_with("k8s:") {
                continue;
            }
            if op == "cfn:response" && matches!(fault, Fault::Delay(_)) {
                continue; // a response that arrives after the deadline is CloudFormation's timeout, not ours
            }
            let h = Harness::start().await;
            let before = h.map_roles("legacy");
            h.sim.inject(op, fault.clone(), 1);
            let props = json!({ "ClusterName": "legacy", "RoleArn": SERVICE_ROLE, "ClusterAdminRoleArn": ADMIN_ROLE });
            let started = Instant::now();
            let resp = h
                .invoke_within(h.event("Create", props, None), DEADLINE)
                .await;
            let took = started.elapsed();
            runs += 1;
            assert!(took < DEADLINE, "{op} {fault:?}: answered after {took:?}");
            let after = h.map_roles("legacy");
            assert_eq!(
                &after[..before.len()],
                &before[..],
                "{op} {fault:?}: entries lost or reordered"
            );
            match resp["Status"].as_str() {
                Some("SUCCESS") => {
                    successes += 1;
                    assert_eq!(
                        integration::entries_for(&after, SERVICE_ROLE).len(),
                        1,
                        "{op} {fault:?}"
                    );
                }
                Some("FAILED") => {
                    failures += 1;
                    let reason = resp["Reason"].as_str().unwrap();
                    assert!(
                        !reason.is_empty() && reason.len() < 1024,
                        "{op} {fault:?}: {reason}"
                    );
                    eprintln!("{op} {fault:?}: FAILED: {reason}");
                }
                other => panic!("{op} {fault:?}: status {other:?}"),
            }
        }
    }
    eprintln!("fault matrix: {runs} runs, {successes} SUCCESS after retries, {failures} clean FAILED, 0 lost entries");
    assert!(successes > failures, "most single faults are retried away");
}
