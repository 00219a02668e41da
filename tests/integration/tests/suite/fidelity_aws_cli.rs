//! aws-cli (botocore) with `--endpoint-url` against the simulator's EKS and STS: the calls the
//! mapper makes work, answers have the real shapes, and bad credentials get AWS's errors.

use integration::{ClientEnv, SERVICE_ROLE};

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_drives_the_eks_and_sts_operations_the_mapper_uses() {
    let sim = eks_sim::Simulator::start(eks_sim::Scenario::default_scenario())
        .await
        .unwrap();
    let env = ClientEnv::new(&sim);

    let c = env
        .aws(&["eks", "describe-cluster", "--name", "legacy"])
        .unwrap();
    assert_eq!(
        c["cluster"]["accessConfig"]["authenticationMode"],
        "CONFIG_MAP"
    );
    assert_eq!(
        c["cluster"]["endpoint"].as_str(),
        sim.cluster_endpoint("legacy").as_deref()
    );
    assert!(
        c["cluster"]["certificateAuthority"]["data"]
            .as_str()
            .unwrap()
            .len()
            > 100
    );
    assert!(
        c["cluster"]["createdAt"].is_number(),
        "restJson1 timestamps are epoch seconds"
    );

    let l = env.aws(&["eks", "list-clusters"]).unwrap();
    assert_eq!(
        l["clusters"],
        serde_json::json!(["hybrid", "legacy", "modern"])
    );

    let e = env
        .aws(&[
            "eks",
            "create-access-entry",
            "--cluster-name",
            "modern",
            "--principal-arn",
            SERVICE_ROLE,
        ])
        .unwrap();
    assert_eq!(e["accessEntry"]["principalArn"], SERVICE_ROLE);
    assert_eq!(e["accessEntry"]["type"], "STANDARD");
    let dup = env
        .aws(&[
            "eks",
            "create-access-entry",
            "--cluster-name",
            "modern",
            "--principal-arn",
            SERVICE_ROLE,
        ])
        .unwrap_err();
    assert!(dup.contains("ResourceInUseException"), "{dup}");
    let a = env
        .aws(&[
            "eks",
            "associate-access-policy",
            "--cluster-name",
            "modern",
            "--principal-arn",
            SERVICE_ROLE,
            "--policy-arn",
            "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
            "--access-scope",
            "type=cluster",
        ])
        .unwrap();
    assert_eq!(
        a["associatedAccessPolicy"]["accessScope"]["type"],
        "cluster"
    );
    let list = env
        .aws(&["eks", "list-access-entries", "--cluster-name", "modern"])
        .unwrap();
    assert_eq!(list["accessEntries"], serde_json::json!([SERVICE_ROLE]));
    let refused = env
        .aws(&[
            "eks",
            "create-access-entry",
            "--cluster-name",
            "legacy",
            "--principal-arn",
            SERVICE_ROLE,
        ])
        .unwrap_err();
    assert!(refused.contains("InvalidRequestException"), "{refused}");
    let missing = env
        .aws(&["eks", "describe-cluster", "--name", "nope"])
        .unwrap_err();
    assert!(missing.contains("ResourceNotFoundException"), "{missing}");

    let ok = env
        .aws(&[
            "sts",
            "assume-role",
            "--role-arn",
            SERVICE_ROLE,
            "--role-session-name",
            "concurrent",
            "--external-id",
            "concurrent-ext-id",
        ])
        .unwrap();
    assert!(ok["Credentials"]["SessionToken"].is_string());
    assert!(ok["AssumedRoleUser"]["Arn"].as_str().unwrap().ends_with(
        ":assumed-role/3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40-RoleForAccessingEksAndEcr/concurrent"
    ));
    let denied = env
        .aws(&[
            "sts",
            "assume-role",
            "--role-arn",
            SERVICE_ROLE,
            "--role-session-name",
            "concurrent",
        ])
        .unwrap_err();
    assert!(denied.contains("AccessDenied"), "{denied}");

    let mut stranger = ClientEnv::new(&sim);
    stranger.set("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000");
    stranger.set("AWS_SECRET_ACCESS_KEY", "nope");
    let e = stranger
        .aws(&["eks", "describe-cluster", "--name", "legacy"])
        .unwrap_err();
    assert!(e.contains("UnrecognizedClientException"), "{e}");
    let e = stranger.aws(&["sts", "get-caller-identity"]).unwrap_err();
    assert!(e.contains("InvalidClientTokenId"), "{e}");
}
