//! Hardening: concurrent writers on one aws-auth, TLS that only trusts the cluster's own CA, and
//! redirects that are never followed to another host.

use std::sync::Arc;
use std::time::Instant;

use integration::{Harness, ADMIN_ROLE, SERVICE_ROLE};
use serde_json::json;

fn props_for(role: &str) -> serde_json::Value {
    json!({ "ClusterName": "legacy", "RoleArn": role, "ClusterAdminRoleArn": ADMIN_ROLE })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_creates_and_ten_deletes_at_once_leave_exactly_the_expected_entries() {
    let h = Arc::new(Harness::start().await);
    let before = h.map_roles("legacy");
    let role = |i: usize| format!("arn:aws:iam::111122223333:role/concurrent-{i}");
    // Ten roles that will be deleted, mapped first.
    let mut ids = Vec::new();
    for i in 0..10 {
        let r = h
            .invoke(h.event("Create", props_for(&role(100 + i)), None))
            .await;
        assert_eq!(r["Status"], "SUCCESS", "{r}");
        ids.push(r["PhysicalResourceId"].as_str().unwrap().to_string());
    }
    h.sim.clear_request_log();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let h = h.clone();
        let e = h.event("Create", props_for(&role(i)), None);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = h.invoke(e).await;
            (r, t.elapsed())
        }));
    }
    for (i, id) in ids.iter().enumerate() {
        let h = h.clone();
        let e = h.event("Delete", props_for(&role(100 + i)), Some(id));
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = h.invoke(e).await;
            (r, t.elapsed())
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        let (r, took) = t.await.unwrap();
        assert_eq!(r["Status"], "SUCCESS", "{r}");
        latencies.push(took);
    }
    latencies.sort();
    let conflicts = h
        .sim
        .request_log()
        .iter()
        .filter(|r| r.op == "k8s:update" && r.status == 409)
        .count();
    eprintln!(
        "60 concurrent requests: {conflicts} conflicts retried, p50 {:?}, p99 {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100]
    );
    let after = h.map_roles("legacy");
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "node roles and the admin role untouched, in order"
    );
    let mut ours: Vec<String> = after[before.len()..]
        .iter()
        .map(|e| e["rolearn"].as_str().unwrap().to_string())
        .collect();
    ours.sort();
    let mut expected: Vec<String> = (0..50).map(role).collect();
    expected.sort();
    assert_eq!(ours, expected);
    let cm = h
        .sim
        .config_map("legacy", "kube-system", "aws-auth")
        .unwrap();
    assert!(cm["data"]["mapUsers"]
        .as_str()
        .unwrap()
        .contains("user/ops"));
}

#[tokio::test]
async fn a_cluster_certificate_from_another_ca_is_refused() {
    let mut scenario = eks_sim::Scenario::default_scenario();
    scenario
        .clusters
        .iter_mut()
        .find(|c| c.name == "legacy")
        .unwrap()
        .foreign_ca = true;
    let h = Harness::with(scenario, "mapper-lambda-role").await;
    let before = h.sim.config_map("legacy", "kube-system", "aws-auth");
    let r = h
        .invoke(h.event("Create", props_for(SERVICE_ROLE), None))
        .await;
    assert_eq!(r["Status"], "FAILED");
    let reason = r["Reason"].as_str().unwrap();
    assert!(reason.starts_with("Kubernetes get aws-auth:"), "{reason}");
    assert_eq!(
        h.sim.config_map("legacy", "kube-system", "aws-auth"),
        before
    );
    assert!(
        h.sim
            .request_log()
            .iter()
            .all(|r| !r.op.starts_with("k8s:")),
        "no request got through TLS"
    );
}

/// Counts the TCP connections made to a loopback port that no client should ever reach.
async fn bystander() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/elsewhere", listener.local_addr().unwrap());
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (url, hits)
}

#[tokio::test]
async fn redirects_to_another_host_are_never_followed() {
    // The response PUT: a 307 elsewhere is an undeliverable answer, not a reason to go there.
    let h = Harness::start().await;
    let (url, hits) = bystander().await;
    h.sim
        .inject("cfn:response", eks_sim::Fault::Redirect(url.clone()), 1);
    let event = h.event("Create", props_for(SERVICE_ROLE), None);
    let out = eks_role_mapper::handle(
        &h.clients,
        event,
        integration::context(std::time::Duration::from_secs(10)),
    )
    .await;
    let err = out
        .expect_err("an answer that could not be delivered")
        .to_string();
    assert!(err.contains("HTTP 307"), "{err}");
    assert!(h.sim.responses().is_empty());

    // EKS, STS and the Kubernetes API: the call fails cleanly, FAILED reaches CloudFormation.
    for op in ["eks:DescribeCluster", "sts:AssumeRole", "k8s:get"] {
        let h = Harness::start().await;
        h.sim.inject(op, eks_sim::Fault::Redirect(url.clone()), 1);
        let resp = h
            .invoke(h.event("Create", props_for(SERVICE_ROLE), None))
            .await;
        assert_eq!(resp["Status"], "FAILED", "{op}: {resp}");
        let reason = resp["Reason"].as_str().unwrap();
        assert!(
            reason.contains("307") || reason.contains("redirect"),
            "{op}: {reason}"
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a client followed a redirect"
    );
}
