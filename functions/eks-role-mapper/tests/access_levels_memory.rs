//! Access levels over the in-memory adapter: a level change makes the new grant before the old
//! one goes, on access-entry and aws-auth clusters alike.

mod common;

use common::*;
use eks_role_mapper::memory::Memory;
use serde_json::{json, Value};

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

    let edit = json!({"AccessLevel": "edit"});
    ok(&run(
        &m,
        level_event("Update", Some(&id), edit.clone(), view.clone()),
    )
    .await);
    assert_eq!(policies(&m), ["AmazonEKSEditPolicy"]);
    assert_eq!(bindings(&m).len(), 1);
    assert!(
        bindings(&m)[0].starts_with("ClusterRoleBinding ") && bindings(&m)[0].ends_with("-edit")
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
        at("k8s:write legacy ClusterRoleBinding") < at("k8s:delete legacy RoleBinding"),
        "{writes:?}"
    );

    ok(&run(&m, level_event("Update", Some(&id), json!({}), edit)).await);
    assert_eq!(policies(&m), ["AmazonEKSClusterAdminPolicy"]);
    assert!(bindings(&m).is_empty());
    assert!(map_roles(&m, "legacy").contains("system:masters"));

    ok(&run(&m, level_event("Delete", Some(&id), json!({}), json!({}))).await);
    assert!(!has_entry(&m, "modern"));
}
