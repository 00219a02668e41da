//! No ResponseURL, token or credential reaches the logs, even with every crate at trace level
//! (the mapper caps the SDK, signer and HTTP crates at info: below that they print secrets).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use integration::{Harness, ADMIN_ROLE, SERVICE_ROLE};
use serde_json::json;

fn props_for(role: &str) -> serde_json::Value {
    json!({ "ClusterName": "legacy", "RoleArn": role, "ClusterAdminRoleArn": ADMIN_ROLE })
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_response_url_token_or_credential_reaches_the_logs_even_at_trace_level() {
    let captured = Captured::default();
    let sink = captured.clone();
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .json()
        .with_writer(move || sink.clone())
        .finish()
        .with(eks_role_mapper::logging::filter("trace"));
    // The only test in this binary: the capture is global, so no callsite escapes it.
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");

    let h = Harness::start().await;
    let create = h
        .invoke(h.event("Create", props_for(SERVICE_ROLE), None))
        .await;
    let id = create["PhysicalResourceId"].as_str().unwrap().to_string();
    let mut update = props_for(SERVICE_ROLE);
    update["Groups"] = json!(["system:masters", "x"]);
    h.invoke(h.event("Update", update, Some(&id))).await;
    h.invoke(h.event("Delete", props_for(SERVICE_ROLE), Some(&id)))
        .await;
    h.invoke(h.event(
        "Create",
        json!({ "ClusterName": "modern", "RoleArn": SERVICE_ROLE }),
        None,
    ))
    .await;
    h.invoke(h.event(
        "Create",
        json!({ "ClusterName": "legacy", "RoleArn": SERVICE_ROLE }),
        None,
    ))
    .await;
    h.sim.inject("cfn:response", eks_sim::Fault::Status(500), 1);
    h.invoke(h.event(
        "Create",
        // A role IAM knows: an unknown one waits out IAM propagation (two minutes) first.
        json!({ "ClusterName": "modern", "RoleArn": ADMIN_ROLE }),
        None,
    ))
    .await;
    assert!(
        h.sim.pending_faults().is_empty(),
        "the response PUT's fault fired: {:?}",
        h.sim.pending_faults()
    );
    let _ = eks_role_mapper::handle(&h.clients, json!({"RequestType": "Create", "ResponseURL": "https://evil.example.com/?X-Amz-Signature=leak"}), integration::context(Duration::from_secs(5))).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("response sent"),
        "the logs were captured: {}",
        &logs[..logs.len().min(2000)]
    );
    let (_, admin_secret) = h.sim.credentials("admin").unwrap();
    let (_, mapper_secret) = h.sim.credentials("mapper-lambda-role").unwrap();
    for secret in [
        "X-Amz-Signature",
        "cfn-response/",
        "k8s-aws-v1.",
        "SimSessionToken",
        "sim-session-secret",
        &admin_secret,
        &mapper_secret,
        "X-Amz-Credential",
    ] {
        if let Some(line) = logs.lines().find(|l| l.contains(secret)) {
            panic!(
                "{secret} leaked into the logs: {}",
                &line[..line.len().min(600)]
            );
        }
    }
}
