//! Clusters made and deleted at run time, through the real aws-cli (botocore parses each answer):
//! CREATING for the scenario's `cluster_create_seconds` without endpoint, then ACTIVE with a
//! Kubernetes API the mapper can work on; DELETING for `cluster_delete_seconds`, then gone.

use eks_sim::{Scenario, Simulator};
use integration::{props, ClientEnv, Harness, SERVICE_ROLE};
use serde_json::json;

const CLUSTER_ROLE: &str = "arn:aws:iam::111122223333:role/eks-cluster-role";

fn create(env: &ClientEnv, name: &str, extra: &[&str]) -> Result<serde_json::Value, String> {
    let mut args = vec![
        "eks",
        "create-cluster",
        "--name",
        name,
        "--role-arn",
        CLUSTER_ROLE,
        "--resources-vpc-config",
        "subnetIds=subnet-0a,subnet-0b",
    ];
    args.extend_from_slice(extra);
    env.aws(&args)
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_creates_a_cluster_that_becomes_active_and_deletes_it_until_it_is_gone() {
    let sim = Simulator::start(Scenario::default_scenario())
        .await
        .unwrap();
    let env = ClientEnv::new(&sim);
    let c = create(&env, "fresh", &[]).unwrap();
    assert_eq!(c["cluster"]["status"], "CREATING", "{c}");
    // Through the API the mode is CONFIG_MAP unless asked, the creator admin.
    assert_eq!(
        c["cluster"]["accessConfig"]["authenticationMode"],
        "CONFIG_MAP"
    );
    assert!(c["cluster"].get("endpoint").is_none(), "{c}");
    assert!(c["cluster"]["createdAt"].is_number(), "{c}");
    let d = env
        .aws(&["eks", "describe-cluster", "--name", "fresh"])
        .unwrap();
    assert_eq!(d["cluster"]["status"], "CREATING");
    assert!(d["cluster"].get("endpoint").is_none(), "{d}");
    let listed = env.aws(&["eks", "list-clusters"]).unwrap();
    assert!(listed["clusters"]
        .as_array()
        .unwrap()
        .contains(&json!("fresh")));
    // The name is taken while it exists.
    let e = create(&env, "fresh", &[]).unwrap_err();
    assert!(
        e.contains("(ResourceInUseException)")
            && e.contains("Cluster already exists with name: fresh"),
        "{e}"
    );
    // Nothing configures a cluster on its way in, and it cannot be deleted yet.
    let e = env
        .aws(&["eks", "delete-cluster", "--name", "fresh"])
        .unwrap_err();
    assert!(
        e.contains("(ResourceInUseException)") && e.contains("in progress"),
        "{e}"
    );

    // (aws-cli's own calls take wall-clock seconds, which the simulated clock counts too.)
    sim.advance_clock(590.0);
    let d = env
        .aws(&["eks", "describe-cluster", "--name", "fresh"])
        .unwrap();
    assert_eq!(d["cluster"]["status"], "CREATING");
    sim.advance_clock(10.0);
    let d = env
        .aws(&["eks", "describe-cluster", "--name", "fresh"])
        .unwrap();
    assert_eq!(d["cluster"]["status"], "ACTIVE");
    assert_eq!(
        d["cluster"]["endpoint"].as_str(),
        sim.cluster_endpoint("fresh").as_deref()
    );
    assert!(d["cluster"]["certificateAuthority"]["data"].is_string());
    // Like EKS: no aws-auth until node groups make it.
    assert!(sim.config_map("fresh", "kube-system", "aws-auth").is_none());

    let del = env
        .aws(&["eks", "delete-cluster", "--name", "fresh"])
        .unwrap();
    assert_eq!(del["cluster"]["status"], "DELETING");
    sim.advance_clock(290.0);
    let d = env
        .aws(&["eks", "describe-cluster", "--name", "fresh"])
        .unwrap();
    assert_eq!(d["cluster"]["status"], "DELETING");
    sim.advance_clock(10.0);
    let e = env
        .aws(&["eks", "describe-cluster", "--name", "fresh"])
        .unwrap_err();
    assert!(e.contains("(ResourceNotFoundException)"), "{e}");
    let listed = env.aws(&["eks", "list-clusters"]).unwrap();
    assert!(!listed["clusters"]
        .as_array()
        .unwrap()
        .contains(&json!("fresh")));
    // A cluster with node groups is not deleted.
    let e = env
        .aws(&["eks", "delete-cluster", "--name", "legacy"])
        .unwrap_err();
    assert!(e.contains("Cluster has nodegroups attached"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_cluster_is_checked_as_eks_checks_it() {
    let sim = Simulator::start(Scenario::default_scenario())
        .await
        .unwrap();
    let env = ClientEnv::new(&sim);
    let e = create(
        &env,
        "x",
        &[
            "--access-config",
            "authenticationMode=CONFIG_MAP,bootstrapClusterCreatorAdminPermissions=false",
        ],
    )
    .unwrap_err();
    assert!(
        e.contains("bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP"),
        "{e}"
    );
    let e = env
        .aws(&[
            "eks",
            "create-cluster",
            "--name",
            "x",
            "--role-arn",
            CLUSTER_ROLE,
            "--resources-vpc-config",
            "subnetIds=subnet-0a",
        ])
        .unwrap_err();
    assert!(e.contains("at least two different AZs"), "{e}");
    let e = create(&env, "bad.name", &[]).unwrap_err();
    assert!(e.contains("(InvalidParameterException)"), "{e}");
    // Under a policy in force: eks:CreateCluster and iam:PassRole of the cluster role, both.
    let admin = "arn:aws:iam::111122223333:user/admin";
    sim.set_policies(
        admin,
        vec![json!({"Statement": [{"Effect": "Allow", "Action": "eks:*", "Resource": "*"}]})],
    );
    let e = create(&env, "x", &[]).unwrap_err();
    assert!(
        e.contains("(AccessDeniedException)")
            && e.contains(&format!("iam:PassRole on resource: {CLUSTER_ROLE}")),
        "{e}"
    );
    sim.set_policies(
        admin,
        vec![json!({"Statement": [
            {"Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": "*"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": CLUSTER_ROLE,
             "Condition": {"StringEquals": {"iam:PassedToService": "eks.amazonaws.com"}}}
        ]})],
    );
    let e = create(&env, "x", &[]).unwrap_err();
    assert!(e.contains("eks:CreateCluster"), "{e}");
    sim.set_policies(
        admin,
        vec![json!({"Statement": [
            {"Effect": "Allow", "Action": "eks:CreateCluster", "Resource": "*",
             "Condition": {"StringEquals": {"eks:authenticationMode": "API"}}},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": CLUSTER_ROLE,
             "Condition": {"StringEquals": {"iam:PassedToService": "eks.amazonaws.com"}}}
        ]})],
    );
    assert!(
        create(&env, "x", &[]).is_err(),
        "the mode is a condition key"
    );
    let c = create(&env, "x", &["--access-config", "authenticationMode=API"]).unwrap();
    assert_eq!(c["cluster"]["status"], "CREATING");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mapper_grants_on_clusters_made_at_run_time() {
    let h = Harness::start().await;
    // API mode through the API: the creator gets its admin entry with the cluster.
    let env = ClientEnv::new(&h.sim);
    create(
        &env,
        "api-new",
        &["--access-config", "authenticationMode=API"],
    )
    .unwrap();
    let entries = h.access_entries("api-new");
    assert!(
        entries
            .get("arn:aws:iam::111122223333:user/admin")
            .is_some(),
        "{entries}"
    );
    // CONFIG_MAP from a spec with node groups' aws-auth, made by the test.
    let mut spec = Scenario::default_scenario().clusters[0].clone();
    spec.name = "cm-new".into();
    h.sim.create_cluster(spec).unwrap();
    assert!(h
        .sim
        .config_map("cm-new", "kube-system", "aws-auth")
        .is_none());
    // Not ACTIVE yet: skipped by a Create on '*'... and refused when named.
    let early = h.invoke(h.event("Create", props("api-new"), None)).await;
    assert_eq!(early["Status"], "FAILED", "{early}");
    h.sim.advance_clock(600.0);
    assert_eq!(h.sim.cluster_status("cm-new").as_deref(), Some("ACTIVE"));
    assert!(h
        .sim
        .config_map("cm-new", "kube-system", "aws-auth")
        .is_some());
    let mut p = props("api-new,cm-new");
    p["ClusterAdminRoleArn"] = json!(integration::ADMIN_ROLE);
    let resp = h.invoke(h.event("Create", p, None)).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert!(
        h.sim.identity_of("api-new", SERVICE_ROLE).is_some() || {
            h.sim.advance_clock(5.0);
            h.sim.identity_of("api-new", SERVICE_ROLE).is_some()
        }
    );
    assert!(h.sim.identity_of("cm-new", SERVICE_ROLE).is_some());
    // Deleted: the cluster is gone after the delay.
    assert!(h.sim.delete_cluster("api-new"));
    h.sim.advance_clock(300.0);
    assert!(h.sim.cluster_status("api-new").is_none());
}
