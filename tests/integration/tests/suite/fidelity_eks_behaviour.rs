//! The simulator behaves as EKS and aws-iam-authenticator do where the mapper's correctness
//! depends on it (issue 12), seen through the real clients (aws-cli, `aws eks get-token`) over
//! HTTPS: role paths in aws-auth and access entries, IAM and access-entry propagation, the slow
//! one-step mode switch, and the token rules of the authenticator's `pkg/token/token.go`. Each
//! test fails against the kinder simulator that came before.

use base64::Engine;
use eks_sim::{Scenario, Simulator};
use integration::{aws_cli, https_get, ClientEnv};
use serde_json::{json, Value};

const AWS_AUTH: &str = "/api/v1/namespaces/kube-system/configmaps/aws-auth";
const SSO_ROLE: &str = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0a1b2c";
const SSO_ROLE_NO_PATH: &str = "arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0a1b2c";
const ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/cluster-admin-role";
const ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

async fn sim() -> Simulator {
    Simulator::start(Scenario::default_scenario())
        .await
        .unwrap()
}

/// A token from `aws eks get-token`, as `role` when given (assumed first through the
/// simulator's STS), signed for the STS host `sts_url`.
fn token(env: &ClientEnv, cluster: &str, role: Option<&str>, sts_url: &str) -> String {
    let mut cmd = env.command(aws_cli());
    if let Some(r) = role {
        let creds = env
            .aws(&[
                "sts",
                "assume-role",
                "--role-arn",
                r,
                "--role-session-name",
                "fidelity",
            ])
            .expect("assume-role")["Credentials"]
            .clone();
        cmd.env("AWS_ACCESS_KEY_ID", creds["AccessKeyId"].as_str().unwrap())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                creds["SecretAccessKey"].as_str().unwrap(),
            )
            .env("AWS_SESSION_TOKEN", creds["SessionToken"].as_str().unwrap());
    }
    env.get_token(cmd, cluster, sts_url)
}

const REGIONAL: &str = "https://sts.us-east-1.amazonaws.com";

async fn status_as(sim: &Simulator, env: &ClientEnv, cluster: &str, role: Option<&str>) -> u16 {
    let tok = token(env, cluster, role, REGIONAL);
    let url = format!("{}{AWS_AUTH}", sim.cluster_endpoint(cluster).unwrap());
    https_get(&url, &sim.ca_pem(), Some(&tok)).await.0
}

fn set_map_roles(sim: &Simulator, cluster: &str, map_roles: &str) {
    sim.set_config_map_data(
        cluster,
        "kube-system",
        "aws-auth",
        Some(json!({ "mapRoles": map_roles })),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aws_auth_rolearn_with_a_path_never_matches_the_path_less_one_does() {
    let sim = sim().await;
    let env = ClientEnv::new(&sim);
    let admin = |arn: &str, key: &str| {
        format!("- {key}: {arn}\n  username: sso-admin\n  groups:\n    - system:masters\n")
    };
    // aws-iam-authenticator keys mapRoles by the rolearn as written and looks the caller up by
    // the path-less role ARN of its assumed-role identity.
    set_map_roles(&sim, "legacy", &admin(SSO_ROLE, "rolearn"));
    assert_eq!(status_as(&sim, &env, "legacy", Some(SSO_ROLE)).await, 401);
    set_map_roles(&sim, "legacy", &admin(SSO_ROLE_NO_PATH, "rolearn"));
    assert_eq!(status_as(&sim, &env, "legacy", Some(SSO_ROLE)).await, 200);
    // Keys are matched case-insensitively (encoding/json), as in the authenticator's
    // aws-auth-crazy-case-keys.yaml.
    set_map_roles(&sim, "legacy", &admin(SSO_ROLE_NO_PATH, "rOlEaRn"));
    assert_eq!(status_as(&sim, &env, "legacy", Some(SSO_ROLE)).await, 200);
    // A mistyped field is skipped and the entry kept: `username: on` is a bool, so the username
    // is empty, but the groups still apply.
    set_map_roles(
        &sim,
        "legacy",
        &format!("- rolearn: {SSO_ROLE_NO_PATH}\n  username: on\n  groups: [system:masters]\n"),
    );
    assert_eq!(status_as(&sim, &env, "legacy", Some(SSO_ROLE)).await, 200);
    // A YAML syntax error drops the whole list.
    set_map_roles(
        &sim,
        "legacy",
        &format!("- rolearn: {SSO_ROLE_NO_PATH}\n  groups: [system:masters\n"),
    );
    assert_eq!(status_as(&sim, &env, "legacy", Some(SSO_ROLE)).await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_entries_need_an_existing_propagated_principal_with_its_full_arn() {
    let sim = sim().await;
    let env = ClientEnv::new(&sim);
    let create = |arn: &str| {
        env.aws(&[
            "eks",
            "create-access-entry",
            "--cluster-name",
            "modern",
            "--principal-arn",
            arn,
        ])
    };
    let invalid = "The specified principalArn is invalid: invalid principal.";
    for bad in [
        SSO_ROLE_NO_PATH,
        "arn:aws:iam::111122223333:role/no-such-role",
    ] {
        let e = create(bad).unwrap_err();
        assert!(
            e.contains("InvalidParameterException") && e.contains(invalid),
            "{bad}: {e}"
        );
    }
    let e = create("arn:aws:sts::111122223333:assumed-role/cluster-admin-role/s").unwrap_err();
    assert!(
        e.contains("The principalArn parameter format is not valid"),
        "{e}"
    );
    create(SSO_ROLE).expect("the full ARN, path included, is accepted");

    // A role made just now is not yet visible to EKS. Simulated time stands still from here
    // on, so only advance_clock moves it: the aws-cli calls' own seconds (many on a loaded
    // machine) must not count, or the association below could find a propagated entry.
    sim.set_clock_scale(0.0);
    let young = "arn:aws:iam::111122223333:role/made-by-the-template";
    sim.create_role(young);
    let e = create(young).unwrap_err();
    assert!(e.contains(invalid), "{e}");
    sim.advance_clock(12.0);
    assert!(create(young).is_err(), "still propagating at 12 s");
    sim.advance_clock(9.0);
    create(young).expect("visible after iam_propagation_seconds");
    // Right after the create, the policy association does not find the principal yet.
    let associate = |arn: &str| {
        env.aws(&[
            "eks",
            "associate-access-policy",
            "--cluster-name",
            "modern",
            "--principal-arn",
            arn,
            "--policy-arn",
            ADMIN_POLICY,
            "--access-scope",
            "type=cluster",
        ])
    };
    let e = associate(young).unwrap_err();
    assert!(
        e.contains("ResourceNotFoundException") && e.contains("could not be found"),
        "{e}"
    );
    sim.advance_clock(3.0);
    associate(young).expect("associates once the entry has propagated");

    // A new entry takes a moment before the Kubernetes API authenticates with it (simulated
    // time still stands still).
    create(ADMIN_ROLE).unwrap();
    associate(ADMIN_ROLE).expect("an old role's entry associates at once");
    assert_eq!(status_as(&sim, &env, "modern", Some(ADMIN_ROLE)).await, 401);
    sim.advance_clock(2.0);
    // Authenticated now: 404, for the API cluster has no aws-auth.
    assert_eq!(status_as(&sim, &env, "modern", Some(ADMIN_ROLE)).await, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mode_switch_is_one_step_takes_minutes_and_creates_the_eks_entries() {
    let sim = sim().await;
    let env = ClientEnv::new(&sim);
    let update = |mode: &str| {
        env.aws(&[
            "eks",
            "update-cluster-config",
            "--name",
            "legacy",
            "--access-config",
            &format!("authenticationMode={mode}"),
        ])
    };
    let e = update("API").unwrap_err();
    assert!(
        e.contains("Unsupported authentication mode update from CONFIG_MAP to API"),
        "{e}"
    );
    let u = update("API_AND_CONFIG_MAP").unwrap();
    assert_eq!(u["update"]["status"], "InProgress");
    assert_eq!(u["update"]["params"][0]["value"], "\"API_AND_CONFIG_MAP\"");
    let id = u["update"]["id"].as_str().unwrap().to_string();
    let e = update("API_AND_CONFIG_MAP").unwrap_err();
    assert!(
        e.contains("ResourceInUseException") && e.contains(&id),
        "{e}"
    );

    let describe = || {
        env.aws(&[
            "eks",
            "describe-update",
            "--name",
            "legacy",
            "--update-id",
            &id,
        ])
        .unwrap()
    };
    let cluster = || {
        env.aws(&["eks", "describe-cluster", "--name", "legacy"])
            .unwrap()
    };
    // 280 of the switch's 300 s: the wall clock runs on meanwhile (each aws-cli call is a process,
    // seconds on a loaded machine), so the margin before the end is 20 s.
    sim.advance_clock(280.0);
    assert_eq!(describe()["update"]["status"], "InProgress");
    assert_eq!(cluster()["cluster"]["status"], "UPDATING");
    assert_eq!(
        cluster()["cluster"]["accessConfig"]["authenticationMode"],
        "CONFIG_MAP"
    );
    sim.advance_clock(21.0);
    assert_eq!(describe()["update"]["status"], "Successful");
    assert_eq!(cluster()["cluster"]["status"], "ACTIVE");
    assert_eq!(
        cluster()["cluster"]["accessConfig"]["authenticationMode"],
        "API_AND_CONFIG_MAP"
    );

    let list = env
        .aws(&["eks", "list-access-entries", "--cluster-name", "legacy"])
        .unwrap();
    let entries: Vec<&str> = list["accessEntries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for arn in [
        "arn:aws:iam::111122223333:user/admin",
        "arn:aws:iam::111122223333:role/eks-node-group-a",
        "arn:aws:iam::111122223333:role/eks-node-group-b",
    ] {
        assert!(entries.contains(&arn), "{arn} in {entries:?}");
    }
    let node = env
        .aws(&[
            "eks",
            "describe-access-entry",
            "--cluster-name",
            "legacy",
            "--principal-arn",
            "arn:aws:iam::111122223333:role/eks-node-group-a",
        ])
        .unwrap();
    assert_eq!(node["accessEntry"]["type"], "EC2_LINUX");
    let creator = env
        .aws(&[
            "eks",
            "list-associated-access-policies",
            "--cluster-name",
            "legacy",
            "--principal-arn",
            "arn:aws:iam::111122223333:user/admin",
        ])
        .unwrap();
    assert_eq!(
        creator["associatedAccessPolicies"][0]["policyArn"],
        ADMIN_POLICY
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scaled_clock_runs_a_ten_minute_switch_in_a_second() {
    let mut scenario = Scenario::default_scenario();
    scenario.clock_scale = 1200.0;
    scenario.clusters[0].authentication_mode_switch_seconds = 600.0;
    let sim = Simulator::start(scenario).await.unwrap();
    let env = ClientEnv::new(&sim);
    let u = env
        .aws(&[
            "eks",
            "update-cluster-config",
            "--name",
            "legacy",
            "--access-config",
            "authenticationMode=API_AND_CONFIG_MAP",
        ])
        .unwrap();
    assert_eq!(u["update"]["status"], "InProgress");
    let start = std::time::Instant::now();
    while sim.authentication_mode("legacy").as_deref() != Some("API_AND_CONFIG_MAP") {
        assert!(start.elapsed().as_secs() < 10, "the scaled switch ends");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(sim.sim_seconds() >= 600.0);
    // Tokens keep the wall clock: a fresh one is still good after ten simulated minutes.
    assert_eq!(status_as(&sim, &env, "legacy", None).await, 200);
}

/// Signs a GetCallerIdentity URL for `host` as the scenario's admin, with `query` (besides the
/// signing parameters) exactly as given, the way `aws eks get-token` presigns it.
fn presigned_token(sim: &Simulator, cluster: &str, host: &str, extra: &[(&str, &str)]) -> String {
    use eks_sim::sigv4;
    let (akid, secret) = sim.credentials("admin").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let amz_date = eks_sim::state::rfc3339(now).replace(['-', ':'], "");
    let cred = sigv4::Credential {
        access_key_id: akid.clone(),
        date: amz_date[..8].to_string(),
        region: "us-east-1".into(),
        service: "sts".into(),
    };
    let scope = format!("{akid}/{}/us-east-1/sts/aws4_request", &amz_date[..8]);
    let mut pairs: Vec<(String, String)> = vec![
        ("Action".into(), "GetCallerIdentity".into()),
        ("Version".into(), "2011-06-15".into()),
        ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
        ("X-Amz-Credential".into(), scope),
        ("X-Amz-Date".into(), amz_date.clone()),
        ("X-Amz-SignedHeaders".into(), "host;x-k8s-aws-id".into()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let signed = vec!["host".to_string(), "x-k8s-aws-id".to_string()];
    let canonical = sigv4::canonical_request(&sigv4::CanonicalInput {
        method: "GET",
        raw_path: "/",
        canonical_query: sigv4::canonical_query(&pairs, ""),
        headers: vec![
            ("host".into(), host.into()),
            ("x-k8s-aws-id".into(), cluster.into()),
        ],
        signed_headers: &signed,
        payload_hash: "UNSIGNED-PAYLOAD".into(),
    });
    let sig = sigv4::signature(&secret, &amz_date, &cred, &canonical);
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                sigv4::uri_encode(k, false),
                sigv4::uri_encode(v, false)
            )
        })
        .collect();
    let url = format!("https://{host}/?{}&X-Amz-Signature={sig}", query.join("&"));
    format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_follow_the_authenticators_parameter_expiry_and_host_rules() {
    let sim = sim().await;
    let env = ClientEnv::new(&sim);
    let url = format!("{}{AWS_AUTH}", sim.cluster_endpoint("legacy").unwrap());
    let get = |tok: String| {
        let (url, ca) = (url.clone(), sim.ca_pem());
        async move { https_get(&url, &ca, Some(&tok)).await.0 }
    };
    let host = "sts.us-east-1.amazonaws.com";
    // The presigner itself is right: a clean token passes.
    assert_eq!(
        get(presigned_token(
            &sim,
            "legacy",
            host,
            &[("X-Amz-Expires", "60")]
        ))
        .await,
        200
    );
    for (case, extra) in [
        ("X-Amz-Expires above 900", vec![("X-Amz-Expires", "901")]),
        ("X-Amz-Expires negative", vec![("X-Amz-Expires", "-1")]),
        ("no X-Amz-Expires", vec![]),
        (
            "a parameter not on the list",
            vec![("X-Amz-Expires", "60"), ("X-Amz-Foo", "1")],
        ),
        (
            "a duplicated parameter",
            vec![("X-Amz-Expires", "60"), ("X-Amz-Expires", "60")],
        ),
    ] {
        assert_eq!(
            get(presigned_token(&sim, "legacy", host, &extra)).await,
            401,
            "{case}"
        );
    }
    // Hosts: the partition's regional, FIPS and dual-stack STS endpoints pass; another
    // partition's do not (these are all real `aws eks get-token` output).
    for ok in [
        "https://sts.amazonaws.com",
        "https://sts-fips.us-east-1.amazonaws.com",
        "https://sts.us-east-1.api.aws",
        "https://sts.eu-west-1.amazonaws.com",
    ] {
        assert_eq!(get(token(&env, "legacy", None, ok)).await, 200, "{ok}");
    }
    for bad in [
        "https://sts.cn-north-1.amazonaws.com.cn",
        "https://sts.us-east-1.example.com",
    ] {
        assert_eq!(get(token(&env, "legacy", None, bad)).await, 401, "{bad}");
    }
}
