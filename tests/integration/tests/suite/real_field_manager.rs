//! Who changed it: every write of the mapper on the real kube-apiserver names its field manager
//! (issue 31), so aws-auth's and our bindings' `managedFields` (and the audit log) say
//! `eks-role-mapper`, not an anonymous `unknown`, to whoever manages them with server-side apply.

use eks_sim::Scenario;
use integration::{as_admin, legacy_props, Harness};
use serde_json::{json, Value};

/// The managers named in an object's managedFields.
fn managers(object: &Value) -> Vec<String> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["manager"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_names_the_field_manager_eks_role_mapper() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let cp = h.sim.control_plane("legacy").unwrap();
    let view = legacy_props(json!({"AccessLevel": "view"}));
    let r = h.invoke(h.event("Create", view, None)).await;
    assert_eq!(r["Status"], "SUCCESS", "{r}");

    let (code, aws_auth) = as_admin(
        cp,
        "GET",
        "/api/v1/namespaces/kube-system/configmaps/aws-auth",
        None,
    )
    .await;
    assert_eq!(code, 200, "{aws_auth}");
    assert!(
        managers(&aws_auth).contains(&"eks-role-mapper".to_string()),
        "aws-auth: {:?}",
        managers(&aws_auth)
    );

    let (code, list) = as_admin(
        cp,
        "GET",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?labelSelector=eks-role-mapper%2Fowner",
        None,
    )
    .await;
    assert_eq!(code, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one ClusterRoleBinding of ours: {list}");
    assert_eq!(managers(&items[0]), ["eks-role-mapper"], "{}", items[0]);
}
