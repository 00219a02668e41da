//! Access levels over the in-memory adapter: a level change makes the new grant before the old
//! one goes, on access-entry and aws-auth clusters alike.

mod common;

use common::*;
use serde_json::{json, Value};
use test_kit::Memory;

/// An event with `props` on top of the base properties (and the same as old ones on an Update).
fn level_event(kind: &str, id: Option<&str>, props: Value, old: Value) -> Value {
    let mut e = event(kind, "modern,legacy", id.map(|i| (i, "modern,legacy")));
    for (k, v) in props.as_object().unwrap() {
        e["ResourceProperties"][k] = v.clone();
    }
    if id.is_some() {
        for (k, v) in old.as_object().unwrap() {
            e["OldResourceProperties"][k] = v.clone();
        }
    }
    e
}

#[tokio::test]
async fn a_level_change_makes_the_new_grant_before_the_old_one_goes_on_both_kinds_of_cluster() {
    let m = region();
    let policies = |m: &Memory| -> Vec<String> {
        let w = m.world();
        let p = &w.clusters["modern"].entries[ROLE].policies;
        p.iter()
            .map(|p| p.rsplit('/').next().unwrap().to_string())
            .collect()
    };
    let bindings = |m: &Memory| -> Vec<String> {
        let w = m.world();
        w.clusters["legacy"]
            .bindings
            .keys()
            .map(|a| a.shown())
            .collect()
    };
    let view = json!({"AccessLevel": "view", "Namespaces": "ml"});
    let id = ok(&run(&m, level_event("Create", None, view.clone(), json!({}))).await);
    assert_eq!(policies(&m), ["AmazonEKSViewPolicy"]);
    assert_eq!(bindings(&m).len(), 1);
    assert!(
        bindings(&m)[0].starts_with("RoleBinding ml/"),
        "{:?}",
        bindings(&m)
    );
    assert!(map_roles(&m, "legacy").contains("eks-role-mapper:"));
    m.world().writes.clear();

    // edit in a namespace: over the whole of legacy it would reach aws-auth (refused, below).
    let edit = json!({"AccessLevel": "edit", "Namespaces": "ml"});
    ok(&run(
        &m,
        level_event("Update", Some(&id), edit.clone(), view.clone()),
    )
    .await);
    assert_eq!(policies(&m), ["AmazonEKSEditPolicy"]);
    assert_eq!(bindings(&m).len(), 1);
    assert!(
        bindings(&m)[0].starts_with("RoleBinding ml/") && bindings(&m)[0].ends_with("-edit"),
        "{:?}",
        bindings(&m)
    );
    // The new before the old, on both.
    let writes = m.world().writes.clone();
    let at = |w: &str| {
        writes
            .iter()
            .position(|x| x.starts_with(w))
            .unwrap_or_else(|| panic!("{w}: {writes:?}"))
    };
    assert!(
        at("AssociateAccessPolicy modern") < at("DisassociateAccessPolicy modern"),
        "{writes:?}"
    );
    assert!(
        at("k8s:write legacy RoleBinding ml/") < at("k8s:delete legacy RoleBinding ml/"),
        "{writes:?}"
    );

    ok(&run(&m, level_event("Update", Some(&id), json!({}), edit)).await);
    assert_eq!(policies(&m), ["AmazonEKSClusterAdminPolicy"]);
    assert!(bindings(&m).is_empty());
    assert!(map_roles(&m, "legacy").contains("system:masters"));

    ok(&run(&m, level_event("Delete", Some(&id), json!({}), json!({}))).await);
    assert!(!has_entry(&m, "modern"));
}

#[tokio::test]
async fn admin_or_edit_never_reach_aws_auth_on_a_cluster_that_reads_it_and_nothing_is_written() {
    let refused = [
        ("legacy", json!({"AccessLevel": "edit"}), "AccessLevel:"),
        ("legacy", json!({"AccessLevel": "admin"}), "AccessLevel:"),
        ("hybrid", json!({"AccessLevel": "edit"}), "AccessLevel:"),
        ("hybrid", json!({"AccessLevel": "admin"}), "AccessLevel:"),
        (
            "legacy",
            json!({"AccessLevel": "admin", "Namespaces": "ml,kube-system"}),
            "Namespaces:",
        ),
        (
            "hybrid",
            json!({"AccessLevel": "edit", "Namespaces": "kube-system"}),
            "Namespaces:",
        ),
    ];
    for (cluster, props, field) in refused {
        let m = region();
        let mut e = event("Create", cluster, None);
        for (k, v) in props.as_object().unwrap() {
            e["ResourceProperties"][k] = v.clone();
        }
        let b = run(&m, e).await;
        assert_eq!(b.status, "FAILED", "{cluster} {props}");
        let reason = b.reason.clone().unwrap_or_default();
        assert!(
            reason.starts_with(field) && reason.contains("aws-auth"),
            "{reason}"
        );
        assert!(
            m.world().writes.is_empty(),
            "{cluster} {props}: {:?}",
            m.world().writes
        );
    }
    // view over the whole cluster cannot write: granted; admin over the whole of an API-mode
    // cluster, which ignores aws-auth: granted.
    for (cluster, props) in [
        ("legacy", json!({"AccessLevel": "view"})),
        ("hybrid", json!({"AccessLevel": "view"})),
        ("modern", json!({"AccessLevel": "admin"})),
        ("legacy", json!({"AccessLevel": "edit", "Namespaces": "ml"})),
    ] {
        let m = region();
        let mut e = event("Create", cluster, None);
        for (k, v) in props.as_object().unwrap() {
            e["ResourceProperties"][k] = v.clone();
        }
        ok(&run(&m, e).await);
    }
}
