//! Access levels below cluster-admin on the real control plane of a `CONFIG_MAP` cluster: aws-auth
//! maps the role to our group, our bindings give that group Kubernetes' built-in `admin`, `edit`
//! or `view`, and the real kube-apiserver's RBAC answers `kubectl auth can-i` for the role's own
//! token (from `aws eks get-token`). The namespaces are made on the apiserver by the harness
//! admin, as a customer would have them; a customer's own bindings stand beside ours throughout.

use std::time::{Duration, Instant};

use eks_sim::Scenario;
use integration::{legacy_props, ClientEnv, Harness};
use serde_json::{json, Value};

const LEGACY: &str = "arn:aws:eks:us-east-1:111122223333:cluster/legacy";
const SERVICE_ROLE_NAME: &str = "3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40-RoleForAccessingEksAndEcr";
const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

/// Each (can-i arguments, expected answer) holds, within 20 s (aws-auth reaches the
/// authenticator through its watch, a moment after the write, as on EKS).
fn matrix(role: &ClientEnv, what: &str, cases: &[(&[&str], bool)]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(args, want)| role.can_i(LEGACY, args) != *want)
            .map(|(args, want)| format!("can-i {} should be {want}", args.join(" ")))
            .collect();
        if wrong.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {wrong:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

use integration::as_admin as admin;

/// The names of the bindings under our owner label.
async fn ours(cp: &eks_sim::control_plane::ControlPlane) -> Vec<String> {
    let mut names = Vec::new();
    for kind in ["clusterrolebindings", "rolebindings"] {
        let (code, list) = admin(
            cp,
            "GET",
            &format!("{RBAC}/{kind}?labelSelector=eks-role-mapper%2Fowner"),
            None,
        )
        .await;
        assert_eq!(code, 200, "{list}");
        for i in list["items"].as_array().unwrap() {
            let ns = i["metadata"]["namespace"]
                .as_str()
                .map(|n| format!("{n}/"))
                .unwrap_or_default();
            names.push(format!("{ns}{}", i["metadata"]["name"].as_str().unwrap()));
        }
    }
    names.sort();
    names
}

async fn success(h: &Harness, event: Value) -> Value {
    let r = h.invoke(event).await;
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn each_level_grants_what_its_cluster_role_grants_and_delete_leaves_the_customers_bindings() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let cp = h
        .sim
        .control_plane("legacy")
        .expect("legacy has a real control plane");
    // ml is the scenario's; data is made here.
    for ns in ["data"] {
        let (code, body) = admin(
            cp,
            "POST",
            "/api/v1/namespaces",
            Some(&json!({"metadata": {"name": ns}})),
        )
        .await;
        assert_eq!(code, 201, "{body}");
    }
    // The customer's own RBAC, which nothing of ours may touch.
    let customer_rb = json!({"metadata": {"name": "customer-readers", "namespace": "ml"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "customer-team"}]});
    let customer_crb = json!({"metadata": {"name": "customer-admins"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "customer-admins"}]});
    assert_eq!(
        admin(
            cp,
            "POST",
            &format!("{RBAC}/namespaces/ml/rolebindings"),
            Some(&customer_rb)
        )
        .await
        .0,
        201
    );
    assert_eq!(
        admin(
            cp,
            "POST",
            &format!("{RBAC}/clusterrolebindings"),
            Some(&customer_crb)
        )
        .await
        .0,
        201
    );

    let env = ClientEnv::new(&h.sim);
    let role = env.as_role(SERVICE_ROLE_NAME);

    // view in ml: reads there, nothing else.
    let view_ml = legacy_props(json!({"AccessLevel": "view", "Namespaces": "ml"}));
    let r = success(&h, h.event("Create", view_ml.clone(), None)).await;
    let pid = r["PhysicalResourceId"].as_str().unwrap().to_string();
    matrix(
        &role,
        "view in ml",
        &[
            (&["list", "pods", "-n", "ml"], true),
            (&["get", "configmaps", "-n", "ml"], true),
            (&["delete", "pods", "-n", "ml"], false),
            (&["list", "pods", "-n", "default"], false),
            (&["get", "secrets", "-n", "ml"], false),
            (&["list", "nodes"], false),
            (
                &["update", "configmaps/aws-auth", "-n", "kube-system"],
                false,
            ),
        ],
    );
    let owner = pid.split('|').nth(2).unwrap().to_string();
    assert_eq!(ours(cp).await, [format!("ml/eks-role-mapper-{owner}-view")]);

    // edit in ml and data: writes and secrets there, no RBAC, nothing outside.
    let edit = legacy_props(json!({"AccessLevel": "edit", "Namespaces": ["ml", "data"]}));
    success(&h, h.update_event(edit.clone(), view_ml.clone(), &pid)).await;
    matrix(
        &role,
        "edit in ml, data",
        &[
            (&["delete", "pods", "-n", "ml"], true),
            (&["create", "deployments", "-n", "data"], true),
            (&["get", "secrets", "-n", "ml"], true),
            (&["create", "rolebindings", "-n", "ml"], false),
            (&["list", "pods", "-n", "default"], false),
            (
                &["update", "configmaps/aws-auth", "-n", "kube-system"],
                false,
            ),
        ],
    );
    assert_eq!(
        ours(cp).await,
        [
            format!("data/eks-role-mapper-{owner}-edit"),
            format!("ml/eks-role-mapper-{owner}-edit")
        ]
    );

    // admin over the whole cluster would reach kube-system/aws-auth, which legacy reads:
    // refused before any write, the edit grant as it was.
    let admin_all = legacy_props(json!({"AccessLevel": "admin"}));
    let refused = h
        .invoke(h.update_event(admin_all.clone(), edit.clone(), &pid))
        .await;
    assert_eq!(refused["Status"], "FAILED", "{refused}");
    assert!(
        refused["Reason"]
            .as_str()
            .unwrap()
            .starts_with("AccessLevel: admin over the whole of cluster legacy"),
        "{refused}"
    );
    assert_eq!(ours(cp).await.len(), 2, "the edit bindings stay");
    // admin in ml: RBAC inside it, nothing in kube-system, nothing cluster-scoped.
    let admin_all = legacy_props(json!({"AccessLevel": "admin", "Namespaces": "ml"}));
    success(&h, h.update_event(admin_all.clone(), edit.clone(), &pid)).await;
    matrix(
        &role,
        "admin in ml",
        &[
            (&["create", "rolebindings", "-n", "ml"], true),
            (&["delete", "pods", "-n", "kube-system"], false),
            (&["list", "nodes"], false),
            (&["*", "*"], false),
            (
                &["update", "configmaps/aws-auth", "-n", "kube-system"],
                false,
            ),
        ],
    );
    assert_eq!(
        ours(cp).await,
        [format!("ml/eks-role-mapper-{owner}-admin")]
    );

    // cluster-admin (system:masters, no binding), then down to view: the rights really go.
    let cluster_admin = legacy_props(json!({}));
    success(
        &h,
        h.update_event(cluster_admin.clone(), admin_all.clone(), &pid),
    )
    .await;
    matrix(
        &role,
        "cluster-admin",
        &[(&["*", "*"], true), (&["list", "nodes"], true)],
    );
    assert!(ours(cp).await.is_empty());
    let view_all = legacy_props(json!({"AccessLevel": "view"}));
    success(
        &h,
        h.update_event(view_all.clone(), cluster_admin.clone(), &pid),
    )
    .await;
    matrix(
        &role,
        "cluster-admin -> view",
        &[
            (&["*", "*"], false),
            (&["delete", "pods", "-n", "ml"], false),
            (&["list", "nodes"], false),
            (&["list", "pods", "-n", "default"], true),
            (&["get", "secrets", "-n", "ml"], false),
            (
                &["update", "configmaps/aws-auth", "-n", "kube-system"],
                false,
            ),
        ],
    );

    // A binding of ours deleted by hand comes back with the next reconcile.
    let crb = format!("{RBAC}/clusterrolebindings/eks-role-mapper-{owner}-view");
    assert_eq!(admin(cp, "DELETE", &crb, None).await.0, 200);
    matrix(
        &role,
        "binding deleted by hand",
        &[(&["list", "pods", "-n", "default"], false)],
    );
    let report = h.reconcile(&h.reconcile_event(&view_all, &pid)).await;
    println!("{report:?}");
    matrix(
        &role,
        "after the reconcile",
        &[(&["list", "pods", "-n", "default"], true)],
    );

    // Delete: everything of ours goes, the customer's bindings stay.
    success(&h, h.event("Delete", view_all, Some(&pid))).await;
    matrix(
        &role,
        "after the Delete",
        &[
            (&["list", "pods", "-n", "default"], false),
            (&["list", "pods", "-n", "ml"], false),
        ],
    );
    assert!(ours(cp).await.is_empty());
    assert_eq!(
        admin(
            cp,
            "GET",
            &format!("{RBAC}/namespaces/ml/rolebindings/customer-readers"),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        admin(
            cp,
            "GET",
            &format!("{RBAC}/clusterrolebindings/customer-admins"),
            None
        )
        .await
        .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_namespace_that_does_not_exist_fails_naming_namespaces_and_leaves_nothing() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let cp = h
        .sim
        .control_plane("legacy")
        .expect("legacy has a real control plane");
    let p = legacy_props(json!({"AccessLevel": "edit", "Namespaces": "ml,nope"}));
    let r = h.invoke(h.event("Create", p, None)).await;
    assert_eq!(r["Status"], "FAILED", "{r}");
    let reason = r["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Namespaces: namespace nope does not exist on cluster legacy"),
        "{reason}"
    );
    assert!(
        ours(cp).await.is_empty(),
        "the binding made in ml was taken back"
    );
}
