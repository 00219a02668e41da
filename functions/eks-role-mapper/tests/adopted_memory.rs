//! Adopted grants come back exactly as they were (issue 28): an access entry or an aws-auth entry
//! that was there before the resource, taken through Create, level changes and Delete, ends as it
//! started: the entry's associations with their scopes, tags, groups and username; the aws-auth
//! entry's every field in its place, the other entries, and the bindings its own groups rely on.

mod common;

use common::*;
use eks_role_mapper::rbac::{At, Binding};
use serde_json::{json, Value};
use test_kit::{Entry, Memory};

const ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
const EDIT: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";

/// The steps after Create: each an Update to these properties.
fn sequences() -> Vec<(&'static str, Value, Vec<Value>)> {
    vec![
        (
            "cluster-admin, then view, then edit in ml",
            json!({}),
            vec![
                json!({"AccessLevel": "view"}),
                json!({"AccessLevel": "edit", "Namespaces": "ml"}),
            ],
        ),
        (
            "view, then edit in ml",
            json!({"AccessLevel": "view"}),
            vec![json!({"AccessLevel": "edit", "Namespaces": "ml"})],
        ),
        (
            "cluster-admin, then view",
            json!({}),
            vec![json!({"AccessLevel": "view"})],
        ),
    ]
}

/// An event for one cluster with `props` over the base ones (`old` as the old ones).
fn on(cluster: &str, kind: &str, id: Option<&str>, props: &Value, old: &Value) -> Value {
    let mut e = event(kind, cluster, id.map(|i| (i, cluster)));
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

/// Create, the Updates, Delete: each SUCCESS, and the resource adopted.
async fn run_sequence(m: &Memory, cluster: &str, create: &Value, updates: &[Value]) {
    let b = run(m, on(cluster, "Create", None, create, &json!({}))).await;
    let id = ok(&b);
    assert_eq!(b.data.as_ref().unwrap()["Adopted"], "true", "{cluster}");
    let mut old = create.clone();
    for u in updates {
        ok(&run(m, on(cluster, "Update", Some(&id), u, &old)).await);
        old = u.clone();
    }
    ok(&run(m, on(cluster, "Delete", Some(&id), &old, &json!({}))).await);
}

/// The adopted entries the access-entry sequences start from: nothing, cluster-admin, and edit
/// in `ml` beside cluster-admin, each with a tag, a group and a username of their own.
fn starts() -> Vec<Entry> {
    let mut base = Entry::default();
    base.tags.insert("team".into(), "ml".into());
    base.groups = vec!["ml-team".into()];
    base.username = Some("pre-existing".into());
    let mut admin = base.clone();
    admin.policies.insert(ADMIN.into());
    let mut both = admin.clone();
    both.policies.insert(EDIT.into());
    both.namespaces.insert(EDIT.into(), vec!["ml".into()]);
    vec![base, admin, both]
}

#[tokio::test]
async fn an_adopted_access_entry_ends_exactly_as_it_started_after_any_level_changes() {
    for cluster in ["hybrid", "modern"] {
        for (name, create, updates) in sequences() {
            for start in starts() {
                let m = region();
                m.world()
                    .clusters
                    .get_mut(cluster)
                    .unwrap()
                    .entries
                    .insert(ROLE.into(), start.clone());
                run_sequence(&m, cluster, &create, &updates).await;
                assert_eq!(
                    m.world().clusters[cluster].entries[ROLE],
                    start,
                    "{cluster}: {name}, from {:?}",
                    start.policies
                );
                assert!(m.pending_failures().is_empty());
            }
        }
    }
}

#[tokio::test]
async fn while_adopted_the_entry_holds_the_level_asked_for_beside_what_was_there() {
    let m = region();
    let start = starts().remove(0);
    m.world()
        .clusters
        .get_mut("modern")
        .unwrap()
        .entries
        .insert(ROLE.into(), start);
    let id = ok(&run(&m, on("modern", "Create", None, &json!({}), &json!({}))).await);
    let view = json!({"AccessLevel": "view"});
    ok(&run(&m, on("modern", "Update", Some(&id), &view, &json!({}))).await);
    let e = m.world().clusters["modern"].entries[ROLE].clone();
    assert_eq!(e.policies.iter().collect::<Vec<_>>(), [&VIEW.to_string()]);
    let edit = json!({"AccessLevel": "edit", "Namespaces": "ml"});
    ok(&run(&m, on("modern", "Update", Some(&id), &edit, &view)).await);
    let e = m.world().clusters["modern"].entries[ROLE].clone();
    assert_eq!(e.policies.iter().collect::<Vec<_>>(), [&EDIT.to_string()]);
    assert_eq!(e.namespaces[EDIT], ["ml"]);
}

#[tokio::test]
async fn a_grant_that_would_change_what_could_not_be_given_back_is_refused_before_any_write() {
    let m = region();
    let mut start = starts().remove(0);
    start.policies.insert(VIEW.into());
    start.namespaces.insert(VIEW.into(), vec!["ml".into()]);
    m.world()
        .clusters
        .get_mut("modern")
        .unwrap()
        .entries
        .insert(ROLE.into(), start.clone());
    let view = json!({"AccessLevel": "view"});
    let b = run(&m, on("modern", "Create", None, &view, &json!({}))).await;
    assert_eq!(b.status, "FAILED");
    let reason = b.reason.unwrap_or_default();
    assert!(
        reason.contains("already had arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy at namespaces ml"),
        "{reason}"
    );
    assert_eq!(m.world().clusters["modern"].entries[ROLE], start);
    assert!(m.world().writes.is_empty(), "{:?}", m.world().writes);
}

const ADOPTED: &str = "- rolearn: arn:aws:iam::111122223333:role/3f1c-RoleForAccessingEksAndEcr\n  username: pre-existing\n  groups:\n    - ml-team\n  x-note: keep-me\n";
const AFTER: &str = "- rolearn: arn:aws:iam::111122223333:role/other\n  username: other\n  groups:\n    - other-team\n";

/// A binding someone made for the adopted entry's own group.
fn ml_team_binding() -> Binding {
    Binding {
        at: At {
            namespace: None,
            name: "ml-team-view".into(),
        },
        cluster_role: "view".into(),
        groups: vec!["ml-team".into()],
        owner: None,
        resource_version: Some("1".into()),
    }
}

#[tokio::test]
async fn an_adopted_aws_auth_entry_ends_exactly_as_it_started_in_its_place() {
    for (name, create, updates) in sequences() {
        let m = region();
        let start = format!("{NODES}{ADOPTED}{AFTER}");
        m.set_aws_auth("legacy", &[("mapRoles", &start), ("mapUsers", "[]\n")]);
        let binding = ml_team_binding();
        m.world()
            .clusters
            .get_mut("legacy")
            .unwrap()
            .bindings
            .insert(binding.at.clone(), binding.clone());
        run_sequence(&m, "legacy", &create, &updates).await;
        assert_eq!(map_roles(&m, "legacy"), start, "{name}");
        let w = m.world();
        let c = &w.clusters["legacy"];
        let annotations = c.aws_auth.as_ref().unwrap().metadata.annotations.clone();
        assert!(
            annotations.unwrap_or_default().is_empty(),
            "{name}: no record left"
        );
        assert_eq!(
            c.bindings.values().cloned().collect::<Vec<_>>(),
            [binding],
            "{name}: the bindings of the entry's own group stand, ours are gone"
        );
    }
}

#[tokio::test]
async fn while_adopted_the_aws_auth_entry_maps_the_level_asked_for() {
    let m = region();
    let start = format!("{NODES}{ADOPTED}");
    m.set_aws_auth("legacy", &[("mapRoles", &start)]);
    let view = json!({"AccessLevel": "view"});
    ok(&run(&m, on("legacy", "Create", None, &view, &json!({}))).await);
    let text = map_roles(&m, "legacy");
    assert!(text.contains("- eks-role-mapper:"), "{text}");
    assert!(!text.contains("ml-team"), "{text}");
    assert!(text.contains("x-note: keep-me"), "{text}");
}
