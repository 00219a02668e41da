//! An adopted aws-auth entry on the real control plane (issue 28): the role was mapped before the
//! stack (`username: pre-existing`, `groups: [ml-team]`, a customer's binding giving `ml-team`
//! view in `ml`). After Create, level changes and Delete the ConfigMap's data is exactly as it
//! was, no record of ours is left, the customer's binding stands, and the real authenticator and
//! RBAC answer for the role as they did before.

use eks_sim::Scenario;
use integration::real::{eventually, is};
use integration::{legacy_props, ClientEnv, Harness, SERVICE_ROLE};
use serde_json::{json, Value};

const LEGACY: &str = "arn:aws:eks:us-east-1:111122223333:cluster/legacy";
const SERVICE_ROLE_NAME: &str = "3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40-RoleForAccessingEksAndEcr";
const AWS_AUTH: &str = "/api/v1/namespaces/kube-system/configmaps/aws-auth";
const BINDING: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/ml/rolebindings/ml-team-view";

use integration::as_admin as admin;

async fn success(h: &Harness, event: Value) -> String {
    let r = h.invoke(event).await;
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    r["PhysicalResourceId"].as_str().unwrap().to_string()
}

/// What the role is and may do as the adopted entry maps it.
fn as_before(role: &ClientEnv) {
    eventually("the role as the adopted entry maps it", || {
        is(role.whoami(LEGACY), "pre-existing", &["ml-team"])
    });
    assert!(role.can_i(LEGACY, &["list", "pods", "-n", "ml"]));
    assert!(!role.can_i(LEGACY, &["delete", "pods", "-n", "ml"]));
    assert!(!role.can_i(LEGACY, &["list", "pods", "-n", "default"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_adopted_aws_auth_entry_is_given_back_exactly_after_level_changes() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let cp = h
        .sim
        .control_plane("legacy")
        .expect("legacy has a real control plane");
    // The mapping made before the stack, and the customer's binding its group relies on.
    let (code, mut cm) = admin(cp, "GET", AWS_AUTH, None).await;
    assert_eq!(code, 200, "{cm}");
    let adopted = format!(
        "- rolearn: {SERVICE_ROLE}\n  username: pre-existing\n  groups:\n    - ml-team\n  x-note: keep-me\n"
    );
    let map_roles = format!("{}{adopted}", cm["data"]["mapRoles"].as_str().unwrap_or(""));
    cm["data"]["mapRoles"] = json!(map_roles);
    let (code, body) = admin(cp, "PUT", AWS_AUTH, Some(&cm)).await;
    assert_eq!(code, 200, "{body}");
    let binding = json!({"metadata": {"name": "ml-team-view", "namespace": "ml"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ml-team"}]});
    let (code, body) = admin(
        cp,
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/ml/rolebindings",
        Some(&binding),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (_, start) = admin(cp, "GET", AWS_AUTH, None).await;
    let env = ClientEnv::new(&h.sim);
    let role = env.as_role(SERVICE_ROLE_NAME);
    as_before(&role);

    let sequences = [
        (
            "cluster-admin, then view",
            legacy_props(json!({})),
            vec![legacy_props(json!({"AccessLevel": "view"}))],
        ),
        (
            "view, then edit in ml",
            legacy_props(json!({"AccessLevel": "view"})),
            vec![legacy_props(
                json!({"AccessLevel": "edit", "Namespaces": "ml"}),
            )],
        ),
    ];
    for (name, create, updates) in sequences {
        let id = success(&h, h.event("Create", create.clone(), None)).await;
        let mut old = create;
        for u in updates {
            success(&h, h.update_event(u.clone(), old, &id)).await;
            old = u;
        }
        // While the stack holds it, the entry maps the stack's level, not ml-team.
        eventually(&format!("{name}: the stack's grant"), || {
            let w = role.whoami(LEGACY)?;
            (!w.groups.iter().any(|g| g == "ml-team"))
                .then_some(())
                .ok_or(format!("{w:?}"))
        });
        success(&h, h.event("Delete", old, Some(&id))).await;
        let (_, end) = admin(cp, "GET", AWS_AUTH, None).await;
        assert_eq!(end["data"], start["data"], "{name}");
        let left: Vec<&String> = end["metadata"]["annotations"]
            .as_object()
            .map(|a| {
                a.keys()
                    .filter(|k| k.starts_with("eks-role-mapper/"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "{name}: {left:?}");
        let (code, b) = admin(cp, "GET", BINDING, None).await;
        assert_eq!(code, 200, "{name}: the customer's binding stands: {b}");
        as_before(&role);
    }
}
