//! The service role cannot raise itself (issue 28): below cluster-admin the rendered template
//! gives the role an explicit Deny on every EKS action that changes who may reach the cluster or
//! how, evaluated here by the simulator's IAM evaluation (explicit Deny beats the seed's
//! `eks:*`); at cluster-admin the seed's `eks:*` stands. And the function's own policy
//! associates cluster-admin only when the stack's level is cluster-admin.

use eks_sim::iam::{evaluate, Decision, Request};
use integration::rendered::{render, Rendered, MOTO_ACCOUNT, REGION};
use integration::start_moto;

fn rendered(moto: &str, stack: &str, level: &str) -> Rendered {
    render(
        moto,
        stack,
        &[
            ("ConcurrentAccountId", "210987654321"),
            ("ClusterName", "legacy"),
            ("ExternalId", "given-external-id-1234"),
            ("AccessLevel", level),
        ],
    )
}

fn cluster() -> String {
    format!("arn:aws:eks:{REGION}:{MOTO_ACCOUNT}:cluster/legacy")
}

fn entry(role: &str) -> String {
    format!(
        "arn:aws:eks:{REGION}:{MOTO_ACCOUNT}:access-entry/legacy/role/{MOTO_ACCOUNT}/{role}/0a1b"
    )
}

/// What would raise the service: on the cluster or on its own access entry.
fn raising(role_name: &str) -> Vec<Request> {
    let c = cluster();
    vec![
        Request::new("eks:AssociateAccessPolicy", &entry(role_name)),
        Request::new("eks:CreateAccessEntry", &c),
        Request::new("eks:UpdateAccessEntry", &entry(role_name)),
        Request::new("eks:UpdateClusterConfig", &c),
        Request::new("eks:CreateNodegroup", &c),
        Request::new("eks:CreatePodIdentityAssociation", &c),
        Request::new("eks:AssociateIdentityProviderConfig", &c),
    ]
}

#[test]
fn below_cluster_admin_the_service_role_is_denied_every_way_to_raise_itself() {
    let (_moto, url) = start_moto();
    for level in ["view", "edit", "admin", "cluster-admin"] {
        let r = rendered(&url, &format!("levels-{level}"), level);
        let role = r.role("RoleForAccessingEksAndEcr");
        let docs = role.documents();
        for req in raising(&role.name) {
            let got = evaluate(&docs, &req);
            if level == "cluster-admin" {
                // The seed's eks:* on the cluster, no Deny (what it does not name stays denied).
                assert_ne!(got, Decision::ExplicitDeny, "{level}: {req:?}");
            } else {
                assert_eq!(got, Decision::ExplicitDeny, "{level}: {req:?}");
            }
        }
        // At cluster-admin the seed's eks:* reaches the cluster's configuration as before.
        let config = evaluate(&docs, &Request::new("eks:UpdateClusterConfig", &cluster()));
        let want = if level == "cluster-admin" {
            Decision::Allow
        } else {
            Decision::ExplicitDeny
        };
        assert_eq!(config, want, "{level}");
        // Reading and using the cluster stays (the token's DescribeCluster, the seed's eks:*).
        assert_eq!(
            evaluate(&docs, &Request::new("eks:DescribeCluster", &cluster())),
            Decision::Allow,
            "{level}"
        );
        // The function may associate cluster-admin only when the stack's level is cluster-admin.
        let function = r.role("MapperRole").documents();
        let associate = Request::new("eks:AssociateAccessPolicy", &entry(&role.name))
            .with("eks:principalArn", &[&role.arn])
            .with(
                "eks:policyArn",
                &["arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"],
            )
            .with("eks:accessScope", &["cluster"]);
        let want = if level == "cluster-admin" {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        };
        assert_eq!(evaluate(&function, &associate), want, "{level}");
    }
}
