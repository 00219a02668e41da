//! One resource, many clusters: a list or `*`, Create/Update/Delete across them, undo on partial
//! failure, and ownership read back from the markers beside each mapping.

use integration::{entries_for, scenario_with_clusters, Harness, ADMIN_ROLE, SERVICE_ROLE};
use serde_json::{json, Value};

// A node's session: EC2 instances assume their node role with the instance id as the session
// name, which the authenticator's {{EC2PrivateDNSName}} needs.
const NODE: &str = "arn:aws:sts::111122223333:assumed-role/eks-node-group-a/i-0123456789abcdef0";

fn props(clusters: &str) -> Value {
    json!({ "ClusterName": clusters, "RoleArn": SERVICE_ROLE, "ClusterAdminRoleArn": ADMIN_ROLE })
}

fn ok(resp: &Value) -> String {
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    resp["PhysicalResourceId"].as_str().unwrap().to_string()
}

/// Where our role is mapped: (cluster, "aws-auth" | "access entry").
fn mapped(h: &Harness) -> Vec<(String, &'static str)> {
    let state = h.sim.state_json();
    let mut out = Vec::new();
    for (name, c) in state["clusters"].as_object().unwrap() {
        if let Some(text) = c["config_maps"]["kube-system/aws-auth"]["data"]["mapRoles"].as_str() {
            let roles: Vec<Value> = serde_yaml_ng::from_str(text).unwrap();
            if !entries_for(&roles, SERVICE_ROLE).is_empty() {
                out.push((name.clone(), "aws-auth"));
            }
        }
        if c["access_entries"].get(SERVICE_ROLE).is_some() {
            out.push((name.clone(), "access entry"));
        }
    }
    out
}

fn names(m: &[(String, &str)]) -> Vec<String> {
    m.iter().map(|(c, _)| c.clone()).collect()
}

#[tokio::test]
async fn a_list_maps_into_each_cluster_with_its_own_mechanism_and_delete_removes_them_all() {
    let h = Harness::start().await;
    let resp = h
        .invoke(h.event("Create", props("legacy,hybrid,modern"), None))
        .await;
    let id = ok(&resp);
    assert_eq!(resp["Data"]["Clusters"], "3");
    assert_eq!(resp["Data"]["Method"], "AccessEntry,AwsAuth");
    assert_eq!(
        resp["Data"]["ClusterArn"], "",
        "one ARN only for one cluster"
    );
    assert_eq!(
        mapped(&h),
        [
            ("hybrid".to_string(), "access entry"),
            ("legacy".to_string(), "aws-auth"),
            ("modern".to_string(), "access entry")
        ]
    );
    // The markers Delete reads: a tag on each entry, an annotation on aws-auth.
    let state = h.sim.state_json();
    let tag = &state["clusters"]["modern"]["access_entries"][SERVICE_ROLE]["tags"]
        ["eks-role-mapper/owner"];
    assert_eq!(tag.as_str().map(str::len), Some(16), "{state}");
    let annotations = &state["clusters"]["legacy"]["config_maps"]["kube-system/aws-auth"]
        ["metadata"]["annotations"];
    assert!(
        annotations
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("eks-role-mapper/owner-")),
        "{annotations}"
    );
    ok(&h
        .invoke(h.event("Delete", props("legacy,hybrid,modern"), Some(&id)))
        .await);
    assert!(mapped(&h).is_empty(), "{:?}", mapped(&h));
    assert!(
        h.sim.identity_of("legacy", NODE).is_some(),
        "node roles keep their access"
    );
    let annotations = &h.sim.state_json()["clusters"]["legacy"]["config_maps"]
        ["kube-system/aws-auth"]["metadata"]["annotations"];
    assert!(
        annotations
            .as_object()
            .is_none_or(|a| a.keys().all(|k| !k.starts_with("eks-role-mapper/"))),
        "the record goes with the entry: {annotations}"
    );
}

#[tokio::test]
async fn a_failure_on_one_cluster_undoes_the_others_and_names_it_but_keeps_what_was_adopted() {
    let h = Harness::start().await;
    // A mapping made by someone else on hybrid before us: adopted, never taken away.
    let mut other = h.event(
        "Create",
        json!({ "ClusterName": "hybrid", "RoleArn": SERVICE_ROLE }),
        None,
    );
    other["LogicalResourceId"] = json!("SomeoneElse");
    ok(&h.invoke(other).await);
    let resp = h
        .invoke(h.event("Create", props("legacy,hybrid,missing-one,modern"), None))
        .await;
    assert_eq!(resp["Status"], "FAILED", "{resp}");
    let reason = resp["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with("ClusterName: 1 of 4 clusters failed: missing-one: ClusterName: no EKS cluster named missing-one"),
        "{reason}"
    );
    assert!(reason.contains("the 3 done were undone"), "{reason}");
    assert_eq!(
        mapped(&h),
        [("hybrid".to_string(), "access entry")],
        "only the adopted one is left"
    );
    // CloudFormation then deletes the id of the FAILED answer: nothing more goes.
    let id = resp["PhysicalResourceId"].as_str().unwrap();
    ok(&h
        .invoke(h.event(
            "Delete",
            props("legacy,hybrid,missing-one,modern"),
            Some(id),
        ))
        .await);
    assert_eq!(mapped(&h), [("hybrid".to_string(), "access entry")]);
}

#[tokio::test]
async fn update_adds_and_removes_clusters_in_place_and_the_rollback_restores_the_list() {
    let h = Harness::start().await;
    let id = ok(&h
        .invoke(h.event("Create", props("legacy,modern"), None))
        .await);
    let updated = h
        .invoke(h.update_event(props("modern,hybrid"), props("legacy,modern"), &id))
        .await;
    assert_eq!(ok(&updated), id, "same id: the list changed in place");
    assert_eq!(names(&mapped(&h)), ["hybrid", "modern"]);
    // CloudFormation's rollback sends the old list back as the new one.
    let rolled = h
        .invoke(h.update_event(props("legacy,modern"), props("modern,hybrid"), &id))
        .await;
    assert_eq!(ok(&rolled), id);
    assert_eq!(names(&mapped(&h)), ["legacy", "modern"]);
    // One cluster named alone is the same resource too.
    let single = h
        .invoke(h.update_event(props("modern"), props("legacy,modern"), &id))
        .await;
    assert_eq!(ok(&single), id);
    assert_eq!(names(&mapped(&h)), ["modern"]);
}

#[tokio::test]
async fn the_wildcard_takes_every_active_cluster_across_pages_and_skips_the_others() {
    let mut scenario = scenario_with_clusters(120, "API");
    scenario.clusters[3].status = "CREATING".into(); // c-000 is the fourth cluster
    let h = Harness::with(scenario, "mapper-lambda-role").await;
    h.sim.clear_request_log();
    let resp = h.invoke(h.event("Create", props("*"), None)).await;
    let id = ok(&resp);
    // 3 default clusters + 120, one not ACTIVE.
    assert_eq!(resp["Data"]["Clusters"], "122", "{resp}");
    let pages = h
        .sim
        .request_log()
        .iter()
        .filter(|r| r.op == "eks:ListClusters")
        .count();
    assert_eq!(pages, 2, "ListClusters is paginated (100 a page)");
    let m = names(&mapped(&h));
    assert!(!m.contains(&"c-000".to_string()) && m.len() == 122, "{m:?}");
    // Delete finds what it made by its markers, on whatever clusters exist now.
    ok(&h.invoke(h.event("Delete", props("*"), Some(&id))).await);
    assert!(mapped(&h).is_empty());
}

#[tokio::test]
async fn delete_with_properties_that_no_longer_parse_still_finds_what_it_made() {
    let h = Harness::start().await;
    let id = ok(&h
        .invoke(h.event("Create", props("legacy,modern"), None))
        .await);
    let mut broken = props("legacy,modern");
    broken["Unknown"] = json!("x");
    ok(&h.invoke(h.event("Delete", broken, Some(&id))).await);
    assert!(mapped(&h).is_empty(), "{:?}", mapped(&h));
}
