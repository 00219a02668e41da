//! The gate over the in-memory region: a function with no declared stack grants nothing, and a
//! rollback is admitted only while CloudFormation reports the resource UPDATE_IN_PROGRESS.

mod common;

use common::*;
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
async fn cloudformations_own_rollback_completes_and_the_same_event_at_rest_is_refused() {
    let m = region();
    let id = ok(&run(&m, event("Create", "modern,hybrid", None)).await);
    // An update that adds legacy fails there; CloudFormation rolls the resource back with the
    // old and new properties swapped.
    m.fail("DescribeCluster", "legacy", 1);
    let update = event(
        "Update",
        "modern,hybrid,legacy",
        Some((&id, "modern,hybrid")),
    );
    assert_eq!(run(&m, update).await.status, "FAILED");
    let mut rollback = event(
        "Update",
        "modern,hybrid",
        Some((&id, "modern,hybrid,legacy")),
    );
    rollback["RequestId"] = json!("req-rollback");
    ok(&run(&m, rollback.clone()).await);
    assert!(has_entry(&m, "modern") && has_entry(&m, "hybrid"));
    // The same event once CloudFormation rests: refused, nothing written.
    m.world().writes.clear();
    let b = sent_as_is(&m, rollback).await;
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
    assert!(m.pending_failures().is_empty());
}
