//! The gate over the in-memory region: a function with no declaration grants nothing, and a
//! rollback (an Update from the declared properties back to others) is admitted only while
//! CloudFormation reports the resource UPDATE_IN_PROGRESS.

mod common;

use std::time::SystemTime;

use common::*;
use eks_role_mapper::cloud::StackResource;
use eks_role_mapper::declared::Declared;
use eks_role_mapper::{handle_with, Body};
use serde_json::json;
use test_kit::Answers;

/// Runs `e` without playing CloudFormation (the region's declaration and stacks as they are).
async fn sent_as_is(m: &test_kit::Memory, e: serde_json::Value) -> Body {
    let answers = Answers::default();
    handle_with(m, &answers, e, invocation()).await.unwrap();
    let sent = answers.sent();
    assert_eq!(sent.len(), 1, "answered once");
    sent.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_function_its_stack_declared_nothing_for_grants_nothing() {
    let m = region();
    let b = sent_as_is(&m, event("Create", "modern", None)).await;
    assert_eq!(b.status, "FAILED");
    assert!(
        b.reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("StackId: this function has no declared stack"),
        "{:?}",
        b.reason
    );
    assert!(m.world().writes.is_empty(), "{:?}", m.world().writes);
}

#[tokio::test]
async fn a_rollback_beyond_the_declaration_is_admitted_only_while_cloudformation_updates() {
    let m = region();
    // The stack held modern,hybrid; its failed update declared modern only (the function's
    // configuration is the new one while CloudFormation rolls the resource back).
    let id = ok(&run(&m, event("Create", "modern,hybrid", None)).await);
    let failed_update = event("Update", "modern", Some((&id, "modern,hybrid")));
    m.declare(Declared::of_event(&failed_update).ok());
    let mut rollback = event("Update", "modern,hybrid", Some((&id, "modern")));
    rollback["RequestId"] = json!("req-rollback");
    let holds = |status: &str| {
        m.world().stacks.insert(
            (STACK.into(), "Mapping".into()),
            StackResource {
                physical_id: Some(id.clone()),
                status: status.into(),
                last_updated: Some(SystemTime::now()),
            },
        );
    };
    // Sent while the stack rests: refused, nothing written.
    holds("UPDATE_COMPLETE");
    m.world().writes.clear();
    let b = sent_as_is(&m, rollback.clone()).await;
    assert_eq!(b.status, "FAILED");
    assert!(
        b.reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("RequestType: CloudFormation is not making this request"),
        "{:?}",
        b.reason
    );
    assert!(m.world().writes.is_empty(), "{:?}", m.world().writes);
    // Beyond the declaration and not from it (another cluster entirely): refused outright.
    let mut beyond = event("Update", "legacy", Some((&id, "hybrid")));
    beyond["RequestId"] = json!("req-beyond");
    holds("UPDATE_IN_PROGRESS");
    let b = sent_as_is(&m, beyond).await;
    assert!(
        b.reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("ClusterName: beyond what the stack declared"),
        "{:?}",
        b.reason
    );
    // CloudFormation's own rollback: admitted.
    let b = sent_as_is(&m, rollback).await;
    assert_eq!(b.status, "SUCCESS", "{:?}", b.reason);
}
