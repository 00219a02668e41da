//! The fast tier: the whole lifecycle (protocol included) over the in-memory adapter, no TLS, no
//! simulator. The HTTPS tests in `tests/integration` prove the same rules against real clients.

use std::time::{Duration, SystemTime};

use eks_role_mapper::ownership::{owner_annotation, owner_key, OWNER_TAG};
use eks_role_mapper::{handle_with, AuthMode};
use serde_json::json;
use test_kit::{Answers, Cluster, Memory, INVOKE};

mod common;

use common::*;

#[tokio::test]
async fn create_grants_by_the_clusters_mode_and_delete_takes_back_exactly_that() {
    let m = region();
    let id = ok(&run(&m, event("Create", "legacy,hybrid,modern", None)).await);
    assert!(map_roles(&m, "legacy").contains(ROLE));
    assert!(
        map_roles(&m, "legacy").starts_with(NODES),
        "node roles kept first"
    );
    assert!(has_entry(&m, "hybrid") && has_entry(&m, "modern"));
    let owner = owner_key(
        STACK,
        "Mapping",
        &eks_role_mapper::arn::RoleArn::parse("RoleArn", ROLE).unwrap(),
    );
    assert_eq!(
        m.world().clusters["modern"].entries[ROLE].tags[OWNER_TAG],
        owner
    );
    assert_eq!(
        m.world().clusters["modern"].entries[ROLE]
            .policies
            .iter()
            .next()
            .unwrap(),
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    );
    let annotations = m.world().clusters["legacy"]
        .aws_auth
        .clone()
        .unwrap()
        .metadata
        .annotations
        .unwrap();
    assert!(annotations.contains_key(&owner_annotation(&owner)));

    ok(&run(
        &m,
        event(
            "Delete",
            "legacy,hybrid,modern",
            Some((&id, "legacy,hybrid,modern")),
        ),
    )
    .await);
    assert_eq!(map_roles(&m, "legacy"), NODES, "only our entry removed");
    assert_eq!(m.aws_auth_data("legacy").unwrap()["mapUsers"], "[]\n");
    assert!(!has_entry(&m, "hybrid") && !has_entry(&m, "modern"));
}

#[tokio::test]
async fn a_mapping_that_was_there_before_is_adopted_and_never_removed() {
    let m = region();
    let mine =
        format!("{NODES}- rolearn: {ROLE}\n  username: {ROLE}\n  groups:\n    - system:masters\n");
    m.set_aws_auth("legacy", &[("mapRoles", &mine)]);
    m.world()
        .clusters
        .get_mut("modern")
        .unwrap()
        .entries
        .insert(ROLE.into(), Default::default());
    let b = run(&m, event("Create", "legacy,modern", None)).await;
    let id = ok(&b);
    assert_eq!(b.data.as_ref().unwrap()["Adopted"], "true");
    ok(&run(
        &m,
        event("Delete", "legacy,modern", Some((&id, "legacy,modern"))),
    )
    .await);
    assert_eq!(map_roles(&m, "legacy"), mine);
    assert!(has_entry(&m, "modern"));
}

#[tokio::test]
async fn an_update_adds_and_removes_clusters_in_place_and_its_rollback_restores_them() {
    let m = region();
    let id = ok(&run(&m, event("Create", "legacy,modern", None)).await);
    let up = run(
        &m,
        event("Update", "hybrid,modern", Some((&id, "legacy,modern"))),
    )
    .await;
    assert_eq!(ok(&up), id, "same id: in place");
    assert_eq!(map_roles(&m, "legacy"), NODES, "legacy left the list");
    assert!(has_entry(&m, "hybrid") && has_entry(&m, "modern"));
    // The rollback: the old properties come back as an Update.
    let back = run(
        &m,
        event("Update", "legacy,modern", Some((&id, "hybrid,modern"))),
    )
    .await;
    assert_eq!(ok(&back), id);
    assert!(map_roles(&m, "legacy").contains(ROLE));
    assert!(!has_entry(&m, "hybrid") && has_entry(&m, "modern"));
}

#[tokio::test]
async fn a_create_that_fails_on_one_cluster_undoes_the_others_and_names_the_failure() {
    let m = region();
    m.fail("AssociateAccessPolicy", "modern", 1);
    let b = run(&m, event("Create", "legacy,hybrid,modern", None)).await;
    assert!(
        m.pending_failures().is_empty(),
        "the injected failure fired"
    );
    assert_eq!(b.status, "FAILED");
    let reason = b.reason.unwrap();
    assert!(
        reason.starts_with("ClusterName: 1 of 3 clusters failed: modern: AssociateAccessPolicy"),
        "{reason}"
    );
    assert!(reason.ends_with("the 2 done were undone"), "{reason}");
    assert_eq!(map_roles(&m, "legacy"), NODES);
    assert!(!has_entry(&m, "hybrid"));
    // The entry made on modern before the association failed is ours: the Delete that
    // CloudFormation sends next (with the id the FAILED answer carried) removes it.
    assert!(has_entry(&m, "modern"));
    ok(&run(
        &m,
        event(
            "Delete",
            "legacy,hybrid,modern",
            Some((&b.physical_resource_id, "")),
        ),
    )
    .await);
    assert!(!has_entry(&m, "modern"));
}

#[tokio::test]
async fn every_active_cluster_under_star_and_many_clusters_at_once() {
    let mut clusters: Vec<(&'static str, Cluster)> = Vec::new();
    for i in 0..60 {
        let name: &'static str = Box::leak(format!("c-{i:03}").into_boxed_str());
        let mut c = Cluster::new(if i % 2 == 0 {
            AuthMode::Api
        } else {
            AuthMode::ConfigMap
        });
        if i == 7 {
            c.status = "CREATING".into();
        }
        clusters.push((name, c));
    }
    let m = Memory::with(clusters);
    let b = run(&m, event("Create", "*", None)).await;
    ok(&b);
    assert_eq!(
        b.data.as_ref().unwrap()["Clusters"],
        "59",
        "the CREATING one is passed over"
    );
    assert_eq!(b.data.as_ref().unwrap()["Method"], "AccessEntry,AwsAuth");
    assert!(!map_roles(&m, "c-007").contains(ROLE));
    assert!(map_roles(&m, "c-009").contains(ROLE) && has_entry(&m, "c-010"));
}

#[tokio::test]
async fn conflicting_writers_are_outlasted_and_their_entries_are_kept() {
    let m = region();
    // Two other writers store their own mapRoles between our read and our write: both of our
    // writes carry a stale resourceVersion (409), and the third, after a re-read, keeps theirs.
    let first = format!("{NODES}- rolearn: arn:aws:iam::111122223333:role/one\n  username: one\n  groups:\n    - view\n");
    let second = format!("{first}- rolearn: arn:aws:iam::111122223333:role/two\n  username: two\n  groups:\n    - view\n");
    m.race("legacy", &second);
    m.race("legacy", &first);
    ok(&run(&m, event("Create", "legacy", None)).await);
    let text = map_roles(&m, "legacy");
    assert!(text.starts_with(&second), "{text}");
    assert!(text.contains(ROLE), "{text}");
    assert_eq!(
        m.world()
            .writes
            .iter()
            .filter(|w| w.starts_with("k8s:"))
            .count(),
        1,
        "two conflicts, one write"
    );
}

#[tokio::test]
async fn a_write_error_that_is_not_a_conflict_fails_the_delete_and_the_next_delete_completes_it() {
    let m = region();
    let id = ok(&run(&m, event("Create", "legacy", None)).await);
    let before = m.world().writes.len();
    m.fail("k8s:write", "legacy", 1);
    let b = run(&m, event("Delete", "legacy", Some((&id, "legacy")))).await;
    assert!(
        m.pending_failures().is_empty(),
        "the injected failure fired"
    );
    assert_eq!(
        b.status, "FAILED",
        "a non-conflict write error is not retried"
    );
    assert_eq!(m.world().writes.len(), before);
    ok(&run(&m, event("Delete", "legacy", Some((&id, "legacy")))).await);
    assert_eq!(map_roles(&m, "legacy"), NODES);
}

#[tokio::test]
async fn switching_on_opt_in_moves_the_grant_to_an_access_entry_and_removes_the_aws_auth_one() {
    let m = region();
    let id = ok(&run(&m, event("Create", "legacy", None)).await);
    let mut e = event("Update", "legacy", Some((&id, "legacy")));
    e["ResourceProperties"]["EnableAccessEntries"] = json!("true");
    let b = run(&m, e).await;
    assert_eq!(ok(&b), id);
    assert_eq!(b.data.as_ref().unwrap()["Method"], "AccessEntry");
    assert_eq!(m.world().clusters["legacy"].mode, AuthMode::ApiAndConfigMap);
    assert!(has_entry(&m, "legacy"));
    assert_eq!(
        map_roles(&m, "legacy"),
        NODES,
        "the aws-auth entry it stands in for is gone"
    );
}

#[tokio::test]
async fn deletes_of_what_is_gone_or_never_ours_succeed_without_writing() {
    let m = region();
    ok(&run(
        &m,
        event("Delete", "legacy", Some(("failed-req-0", "legacy"))),
    )
    .await);
    let id = ok(&run(&m, event("Create", "modern", None)).await);
    m.world().clusters.remove("modern");
    ok(&run(&m, event("Delete", "modern", Some((&id, "modern")))).await);
    assert_eq!(m.world().writes.len(), 2, "only the Create's two writes");
}

#[tokio::test]
async fn an_existing_entry_that_cannot_carry_policies_is_refused_before_any_write() {
    let m = region();
    let node = test_kit::Entry {
        kind: "EC2_LINUX".into(),
        ..Default::default()
    };
    m.world()
        .clusters
        .get_mut("modern")
        .unwrap()
        .entries
        .insert(ROLE.into(), node);
    let b = run(&m, event("Create", "modern", None)).await;
    assert_eq!(b.status, "FAILED");
    let reason = b.reason.unwrap();
    assert!(
        reason.contains("access entry of type EC2_LINUX, which cannot carry access policies"),
        "{reason}"
    );
    assert!(m.world().writes.is_empty(), "{:?}", m.world().writes);
}

#[tokio::test]
async fn a_retried_create_finds_its_own_entry_and_does_not_call_it_adopted() {
    let m = region();
    let first = run(&m, event("Create", "modern", None)).await;
    ok(&first);
    let again = run(&m, event("Create", "modern", None)).await;
    assert_eq!(again.data.as_ref().unwrap()["Adopted"], "false");
    ok(&run(
        &m,
        event(
            "Delete",
            "modern",
            Some((&again.physical_resource_id, "modern")),
        ),
    )
    .await);
    assert!(!has_entry(&m, "modern"), "ours, so removed");
}

#[tokio::test]
async fn on_an_adopted_entry_delete_takes_back_only_the_policy_this_resource_associated() {
    const ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
    const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
    for had_admin in [false, true] {
        let m = region();
        let mut before = test_kit::Entry::default();
        before.policies.insert(VIEW.into());
        if had_admin {
            before.policies.insert(ADMIN.into());
        }
        m.world()
            .clusters
            .get_mut("modern")
            .unwrap()
            .entries
            .insert(ROLE.into(), before.clone());
        let b = run(&m, event("Create", "modern", None)).await;
        assert_eq!(b.data.as_ref().unwrap()["Adopted"], "true");
        assert!(m.world().clusters["modern"].entries[ROLE]
            .policies
            .contains(ADMIN));
        ok(&run(
            &m,
            event(
                "Delete",
                "modern",
                Some((&b.physical_resource_id, "modern")),
            ),
        )
        .await);
        assert_eq!(
            m.world().clusters["modern"].entries[ROLE],
            before,
            "the adopted entry as it was (had the admin policy before: {had_admin})"
        );
    }
}

#[tokio::test]
async fn a_loopback_response_url_is_refused_as_the_product_sender_refuses_it() {
    for url in ["https://127.0.0.1/response", "http://127.0.0.1:9/response"] {
        let m = region();
        let mut e = event("Create", "modern", None);
        e["ResponseURL"] = json!(url);
        let answers = Answers::default();
        m.as_cloudformation(&e);
        let out = handle_with(&m, &answers, e.clone(), invocation()).await;
        assert!(out.is_err(), "{url}: nobody to answer");
        assert!(answers.sent().is_empty(), "{url}");
        assert!(m.world().writes.is_empty(), "{url}: {:?}", m.world().writes);
        // A local build with the switch set takes it.
        let local = Answers::allowing_loopback();
        handle_with(&m, &local, e, invocation()).await.unwrap();
        assert_eq!(local.sent().len(), 1, "{url}");
    }
}

#[tokio::test]
async fn a_cluster_is_found_only_in_its_own_region_and_its_arn_names_that_region() {
    let m = region();
    m.world().clusters.insert(
        "far".into(),
        Cluster::new(AuthMode::Api).in_region("eu-west-1"),
    );
    let failed = run(&m, event("Create", "far", None)).await;
    assert_eq!(failed.status, "FAILED");
    assert!(
        failed.reason.as_deref().unwrap_or_default().contains("far"),
        "{:?}",
        failed.reason
    );
    assert!(!has_entry(&m, "far"));
    let mut e = event("Create", "far", None);
    e["ResourceProperties"]["Region"] = json!("eu-west-1");
    let made = run(&m, e).await;
    ok(&made);
    assert!(has_entry(&m, "far"));
    let arn = made.data.as_ref().unwrap()["ClusterArn"].as_str().unwrap();
    assert!(arn.starts_with("arn:aws:eks:eu-west-1:"), "{arn}");
    // us-east-1's clusters are not seen from eu-west-1.
    let mut e = event("Create", "modern", None);
    e["ResourceProperties"]["Region"] = json!("eu-west-1");
    assert_eq!(run(&m, e).await.status, "FAILED");
    assert!(!has_entry(&m, "modern"));
}

#[tokio::test]
async fn a_hand_over_that_fails_answers_failed_naming_it() {
    let m = region();
    let e = event("Create", "modern", None);
    let request = eks_role_mapper::Request::parse(&e, false).unwrap();
    let hand_over = eks_role_mapper::HandOver {
        function_arn: "arn:aws:lambda:us-east-1:111122223333:function:eks-role-mapper".into(),
        continuation: eks_role_mapper::Continuation {
            count: 0,
            since_ms: invocation().deadline_ms - 60_000,
        },
        event: e,
    };
    m.fail(INVOKE, &hand_over.function_arn, 1);
    let answers = Answers::default();
    let body = eks_role_mapper::respond_with(
        &answers,
        &request.envelope,
        SystemTime::now() + Duration::from_secs(10),
        &eks_role_mapper::Progress::default(),
        Some((&hand_over, &m)),
        async { Err(eks_role_mapper::Error::Pending("the switch".into())) },
    )
    .await
    .unwrap()
    .expect("answered here, not handed over");
    assert!(m.pending_failures().is_empty(), "the Invoke failure fired");
    assert_eq!(body.status, "FAILED");
    let reason = body.reason.unwrap_or_default();
    assert!(reason.contains("handing over failed"), "{reason}");
    assert!(m.world().invocations.is_empty());
    assert_eq!(answers.sent().len(), 1);
}
