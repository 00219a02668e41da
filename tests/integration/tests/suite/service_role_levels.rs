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

/// The service role's ECR and SES rights under each value of EcrRepositoryPrefix and SesIdentity
/// (issue 39): the defaults keep the seed's `ecr:*` and `ses:Send*` on `*`; a prefix limits ECR
/// to the account's repositories of that name (with the login, which has no resource type, on
/// `*`, and no registry-wide action); an identity limits sending to it.
#[test]
fn ecr_and_ses_rights_follow_the_prefix_and_identity_parameters() {
    let (_moto, url) = start_moto();
    let repo =
        |region: &str, name: &str| format!("arn:aws:ecr:{region}:{MOTO_ACCOUNT}:repository/{name}");
    let identity = |name: &str| format!("arn:aws:ses:{REGION}:{MOTO_ACCOUNT}:identity/{name}");
    let config_set = format!("arn:aws:ses:{REGION}:{MOTO_ACCOUNT}:configuration-set/tracking");
    let render_with = |stack: &str, extra: &[(&str, &str)]| {
        let mut p = vec![
            ("ConcurrentAccountId", "210987654321"),
            ("ClusterName", "legacy"),
            ("ExternalId", "given-external-id-1234"),
            ("AccessLevel", "view"),
        ];
        p.extend_from_slice(extra);
        render(&url, stack, &p)
            .role("RoleForAccessingEksAndEcr")
            .documents()
    };
    let decide = |docs: &[serde_json::Value], action: &str, resource: &str| {
        evaluate(docs, &Request::new(action, resource))
    };

    // The defaults: as the seed, every repository and the registry's own settings.
    let seed = render_with("ecr-default", &[]);
    for (action, resource) in [
        ("ecr:PutImage", repo(REGION, "kube-system/coredns")),
        ("ecr:SetRepositoryPolicy", repo("us-east-1", "workload")),
        ("ecr:GetAuthorizationToken", "*".to_string()),
        ("ecr:PutReplicationConfiguration", "*".to_string()),
        ("ses:SendEmail", identity("anyone@example.com")),
        ("ses:SendRawEmail", "*".to_string()),
    ] {
        assert_eq!(
            decide(&seed, action, &resource),
            Decision::Allow,
            "{action} {resource}"
        );
    }

    // A prefix and an identity.
    let least = render_with(
        "ecr-prefix",
        &[
            ("EcrRepositoryPrefix", "concurrent/"),
            ("SesIdentity", "mlflow@example.com"),
        ],
    );
    for (action, resource) in [
        ("ecr:PutImage", repo(REGION, "concurrent/tracking-server")),
        ("ecr:CreateRepository", repo("us-east-1", "concurrent/new")),
        ("ecr:SetRepositoryPolicy", repo(REGION, "concurrent/x")),
        ("ecr:GetAuthorizationToken", "*".to_string()),
        ("ses:SendEmail", identity("mlflow@example.com")),
        ("ses:SendRawEmail", config_set.clone()),
    ] {
        assert_eq!(
            decide(&least, action, &resource),
            Decision::Allow,
            "{action} {resource}"
        );
    }
    for (action, resource) in [
        // Images the workloads pull, kube-system's included, are out of reach.
        ("ecr:PutImage", repo(REGION, "kube-system/coredns")),
        ("ecr:BatchDeleteImage", repo(REGION, "workload")),
        ("ecr:SetRepositoryPolicy", repo(REGION, "concurrent")),
        // Another account's repository of the same name.
        (
            "ecr:PutImage",
            format!("arn:aws:ecr:{REGION}:444455556666:repository/concurrent/x"),
        ),
        // The registry's settings (replication to another account, its policy, caches).
        ("ecr:PutReplicationConfiguration", "*".to_string()),
        ("ecr:PutRegistryPolicy", "*".to_string()),
        ("ecr:CreatePullThroughCacheRule", "*".to_string()),
        // Mail as another identity.
        ("ses:SendEmail", identity("ceo@example.com")),
        ("ses:SendRawEmail", identity("example.com")),
    ] {
        assert_eq!(
            decide(&least, action, &resource),
            Decision::ImplicitDeny,
            "{action} {resource}"
        );
    }
    // The prefix never widens EKS: below cluster-admin the Deny still applies.
    assert_eq!(
        decide(&least, "eks:AssociateAccessPolicy", &entry("r")),
        Decision::ExplicitDeny
    );
}

/// IAM's 10,240 characters of inline policy per role (whitespace not counted:
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html) hold with every
/// statement at once: the largest ClusterName (100 names, 1,500 characters), the Deny below
/// cluster-admin, the longest EcrRepositoryPrefix and SesIdentity, in the longest partition and
/// region names.
#[test]
fn the_service_roles_policy_fits_iams_limit_with_every_parameter_at_its_longest() {
    let (_moto, url) = start_moto();
    let names: Vec<String> = (0..100)
        .map(|i| format!("{i:03}{}", "x".repeat(if i < 1 { 12 } else { 11 })))
        .collect();
    let list = names.join(",");
    assert_eq!(list.len(), 1500);
    let prefix = format!("concurrent/{}", "p".repeat(189));
    let identity = format!("{}@{}.example.com", "m".repeat(64), "d".repeat(243));
    assert_eq!((prefix.len(), identity.len()), (200, 320));
    let r = render(
        &url,
        "longest",
        &[
            ("ConcurrentAccountId", "210987654321"),
            ("ClusterName", &list),
            ("ExternalId", "given-external-id-1234"),
            ("AccessLevel", "view"),
            ("EcrRepositoryPrefix", &prefix),
            ("SesIdentity", &identity),
        ],
    );
    let role = r.role("RoleForAccessingEksAndEcr");
    let text = serde_json::to_string(&role.documents()).unwrap();
    let growth = text.matches("arn:aws:").count() * ("aws-iso-f".len() - "aws".len())
        + text.matches(&format!(":{REGION}:")).count() * ("us-isof-south-1".len() - REGION.len());
    let size = role.inline_size() + growth;
    eprintln!(
        "RoleForAccessingEksAndEcr: {} here, {size} at worst",
        role.inline_size()
    );
    assert!(size <= 10_240, "{size}");
}
