//! The event is a claim (issue 39): each finding of the review, on the in-memory region, where
//! the test plays CloudFormation (its records and the resource's status) and an attacker sends
//! events as they are, at the moment that suited them. Each test failed on the gate that took
//! the grant from the event and the function's environment.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use eks_role_mapper::{handle_with, Body};
use serde_json::{json, Value};
use test_kit::{Answers, Entry, Memory};

const ATTACKER: &str = "arn:aws:iam::111122223333:role/attacker";
const NODE_ROLE: &str = "arn:aws:iam::111122223333:role/node";
const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
const ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy";

/// Sends `e` as any invoker would: CloudFormation neither records nor holds anything for it.
async fn forged(m: &Memory, mut e: Value) -> Body {
    e["RequestId"] = json!("forged");
    let answers = Answers::default();
    handle_with(m, &answers, e, invocation()).await.unwrap();
    let sent = answers.sent();
    assert_eq!(sent.len(), 1, "answered once");
    sent.into_iter().next().unwrap()
}

fn refused(b: &Body, m: &Memory, writes_before: usize) {
    assert_eq!(b.status, "FAILED", "{:?}", b.reason);
    let w = m.world().writes.clone();
    assert_eq!(w.len(), writes_before, "nothing written: {w:?}");
}

#[tokio::test]
async fn finding_1_a_forged_rollback_during_cloudformations_update_grants_nothing_of_its_own() {
    let m = region();
    let id = ok(&run(&m, event("Create", "modern", None)).await);
    // CloudFormation updates the resource (modern → modern,hybrid) and is waiting for it.
    let update = event("Update", "modern,hybrid", Some((&id, "modern")));
    m.as_cloudformation(&update);
    // Meanwhile: a "rollback" from the stack's properties to an attacker at cluster-admin on
    // the CONFIG_MAP cluster, and one raising the service role's own grant.
    let before = m.world().writes.len();
    let legacy = map_roles(&m, "legacy");
    for (role, cluster) in [(ATTACKER, "legacy"), (ROLE, "legacy,modern,hybrid")] {
        let mut e = event("Update", cluster, Some((&id, "modern,hybrid")));
        e["ResourceProperties"]["RoleArn"] = json!(role);
        e["OldResourceProperties"] = update["ResourceProperties"].clone();
        refused(&forged(&m, e).await, &m, before);
    }
    assert_eq!(map_roles(&m, "legacy"), legacy, "aws-auth unchanged");
    // CloudFormation's own update still completes, with its own properties.
    let answers = Answers::default();
    handle_with(&m, &answers, update, invocation())
        .await
        .unwrap();
    assert_eq!(answers.sent()[0].status, "SUCCESS", "{:?}", answers.sent());
    assert!(has_entry(&m, "hybrid"));
}

#[tokio::test]
async fn finding_2_a_delete_naming_another_role_takes_nothing_at_rest_or_while_deleting() {
    let m = region();
    let id = ok(&run(&m, event("Create", "legacy", None)).await);
    // The physical id names our owner key: the attacker swaps the role for the node role.
    let node_id = id.replace(ROLE, NODE_ROLE);
    assert_ne!(node_id, id);
    let before = m.world().writes.len();
    let mut e = event("Delete", "legacy", None);
    e["PhysicalResourceId"] = json!(node_id);
    refused(&forged(&m, e.clone()).await, &m, before);
    assert!(
        map_roles(&m, "legacy").contains(NODE_ROLE),
        "the nodes keep their entry"
    );
    // While CloudFormation deletes the stack (the resource DELETE_IN_PROGRESS under its id).
    let delete = event("Delete", "legacy", Some((&id, "legacy")));
    m.as_cloudformation(&delete);
    refused(&forged(&m, e).await, &m, before);
    assert!(map_roles(&m, "legacy").contains(NODE_ROLE));
    // The stack's own Delete takes back its own grant, and the nodes keep theirs.
    let answers = Answers::default();
    handle_with(&m, &answers, delete, invocation())
        .await
        .unwrap();
    assert_eq!(answers.sent()[0].status, "SUCCESS", "{:?}", answers.sent());
    assert!(!map_roles(&m, "legacy").contains(ROLE));
    assert!(map_roles(&m, "legacy").contains(NODE_ROLE));
}

#[tokio::test]
async fn finding_3_a_create_after_the_stack_was_deleted_is_refused() {
    let m = region();
    let id = ok(&run(&m, event("Create", "legacy", None)).await);
    ok(&run(&m, event("Delete", "legacy", Some((&id, "legacy")))).await);
    let before = m.world().writes.len();
    let b = forged(&m, event("Create", "legacy", None)).await;
    refused(&b, &m, before);
    assert!(!map_roles(&m, "legacy").contains(ROLE), "not mapped again");
    assert!(b.reason.unwrap_or_default().contains("CREATE_IN_PROGRESS"));
}

#[tokio::test]
async fn a_create_is_held_to_the_properties_cloudformation_recorded_not_the_events() {
    let m = region();
    let create = event("Create", "modern", None);
    m.as_cloudformation(&create);
    let mut raised = create.clone();
    raised["ResourceProperties"]["ClusterName"] = json!("modern,legacy");
    let b = forged(&m, raised).await;
    refused(&b, &m, 0);
    assert!(
        b.reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("ResourceProperties: not the properties CloudFormation recorded"),
        "{:?}",
        b.reason
    );
}

#[tokio::test]
async fn a_request_cloudformation_gave_up_on_is_refused() {
    let m = region();
    let mut create = event("Create", "modern", None);
    create["ResourceProperties"]["ServiceTimeout"] = json!("300");
    m.as_cloudformation(&create);
    // CloudFormation began it six minutes ago: past its 300 s ServiceTimeout.
    for (_, _, e) in m.world().stack_events.iter_mut() {
        e.timestamp = SystemTime::now() - Duration::from_secs(360);
    }
    let b = forged(&m, create).await;
    refused(&b, &m, 0);
    assert!(
        b.reason
            .as_deref()
            .unwrap_or_default()
            .contains("ServiceTimeout"),
        "{:?}",
        b.reason
    );
}

#[tokio::test]
async fn finding_4_a_forged_held_record_gives_back_nothing_above_the_stacks_level() {
    let m = region();
    // The role's entry was there before the stack (adopted), with nothing associated.
    m.world()
        .clusters
        .get_mut("modern")
        .unwrap()
        .entries
        .insert(ROLE.into(), Entry::default());
    let mut create = event("Create", "modern", None);
    create["ResourceProperties"]["AccessLevel"] = json!("view");
    let id = ok(&run(&m, create.clone()).await);
    // Whoever may tag the entry rewrites the record: "it held AmazonEKSAdminPolicy over the
    // cluster before you".
    let owner = eks_role_mapper::Recorded::decode(&id).unwrap().owner;
    let claim = vec![eks_role_mapper::held::Association {
        policy: ADMIN.into(),
        namespaces: vec![],
    }];
    {
        let mut w = m.world();
        let entry = w
            .clusters
            .get_mut("modern")
            .unwrap()
            .entries
            .get_mut(ROLE)
            .unwrap();
        entry.tags.retain(|k, _| !k.contains("/held-"));
        entry
            .tags
            .extend(eks_role_mapper::held::encode(&owner, &claim));
    }
    let mut delete = event("Delete", "modern", Some((&id, "modern")));
    delete["ResourceProperties"] = create["ResourceProperties"].clone();
    ok(&run(&m, delete).await);
    let w = m.world();
    let entry = &w.clusters["modern"].entries[ROLE];
    assert!(!entry.policies.contains(ADMIN), "{:?}", entry.policies);
    assert!(!entry.policies.contains(VIEW), "{:?}", entry.policies);
}
