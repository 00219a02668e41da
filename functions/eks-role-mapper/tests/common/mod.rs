//! What the in-memory test files share: the stack, the role, the region of three clusters (one
//! per authentication mode) and one handler run with its single answer.
#![allow(dead_code)] // each test file uses its own part

use std::time::{Duration, SystemTime};

use eks_role_mapper::{handle_with, AuthMode, Body, Invocation};
use serde_json::{json, Value};
use test_kit::{Answers, Cluster, Memory};

pub const ROLE: &str = "arn:aws:iam::111122223333:role/3f1c-RoleForAccessingEksAndEcr";
/// A presigned S3 URL's shape: what the product's sender takes (never loopback).
pub const RESPONSE_URL: &str =
    "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=a";
pub const STACK: &str = "arn:aws:cloudformation:us-east-1:111122223333:stack/s/0b6c";
pub const NODES: &str = "- rolearn: arn:aws:iam::111122223333:role/node\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n    - system:bootstrappers\n    - system:nodes\n";

pub fn region() -> Memory {
    let legacy = Cluster::new(AuthMode::ConfigMap);
    let m = Memory::with([
        ("legacy", legacy),
        ("hybrid", Cluster::new(AuthMode::ApiAndConfigMap)),
        ("modern", Cluster::new(AuthMode::Api)),
    ]);
    m.set_aws_auth("legacy", &[("mapRoles", NODES), ("mapUsers", "[]\n")]);
    m
}

pub fn event(kind: &str, clusters: &str, old: Option<(&str, &str)>) -> Value {
    let mut e = json!({
        "RequestType": kind,
        "ResponseURL": RESPONSE_URL,
        "StackId": STACK,
        "RequestId": format!("req-{kind}"),
        "LogicalResourceId": "Mapping",
        "ResourceType": "Custom::EksRoleMapping",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:f", "ClusterName": clusters, "RoleArn": ROLE},
    });
    if let Some((id, old_clusters)) = old {
        e["PhysicalResourceId"] = json!(id);
        e["OldResourceProperties"] = json!({"ClusterName": old_clusters, "RoleArn": ROLE});
    }
    e
}

/// Runs one event through the handler; exactly one answer.
pub async fn run(m: &Memory, e: Value) -> Body {
    let answers = Answers::default();
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let ms = deadline
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let invocation = Invocation {
        request_id: "lambda-req",
        deadline_ms: ms,
        function_arn: "arn:aws:lambda:us-east-1:111122223333:function:eks-role-mapper",
    };
    // The test plays CloudFormation: the function declared for this event's stack.
    m.as_cloudformation(&e);
    handle_with(m, &answers, e, invocation).await.unwrap();
    let sent = answers.sent();
    assert_eq!(sent.len(), 1, "exactly one answer");
    sent.into_iter().next().unwrap()
}

pub fn ok(b: &Body) -> String {
    assert_eq!(b.status, "SUCCESS", "{:?}", b.reason);
    b.physical_resource_id.clone()
}

pub fn map_roles(m: &Memory, cluster: &str) -> String {
    m.aws_auth_data(cluster)
        .and_then(|d| d.get("mapRoles").cloned())
        .unwrap_or_default()
}

pub fn has_entry(m: &Memory, cluster: &str) -> bool {
    m.world().clusters[cluster].entries.contains_key(ROLE)
}

/// An invocation with a minute left and the function's ARN (hand-overs possible).
pub fn invocation() -> Invocation<'static> {
    let ms = (SystemTime::now() + Duration::from_secs(60))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Invocation {
        request_id: "lambda-req",
        deadline_ms: ms,
        function_arn: "arn:aws:lambda:us-east-1:111122223333:function:eks-role-mapper",
    }
}
