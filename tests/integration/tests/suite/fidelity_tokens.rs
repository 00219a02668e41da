//! Tokens from the real `aws eks get-token` are accepted by the simulator's Kubernetes API; the
//! same token for another cluster, with the signature altered, expired, or signed by an unknown
//! key is refused with 401 and a Kubernetes Status, as the EKS authenticator does.

use base64::Engine;
use integration::{aws_cli, https_get, ClientEnv};

const PATH: &str = "/api/v1/namespaces/kube-system/configmaps/aws-auth";

fn get_token(env: &ClientEnv, cluster: &str) -> String {
    env.get_token(
        env.command(aws_cli()),
        cluster,
        "https://sts.us-east-1.amazonaws.com",
    )
}

fn tamper_signature(token: &str) -> String {
    let b64 = token.strip_prefix("k8s-aws-v1.").unwrap();
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let url = String::from_utf8(engine.decode(b64).unwrap()).unwrap();
    let at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut bytes = url.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    format!("k8s-aws-v1.{}", engine.encode(bytes))
}

fn assert_unauthorized((status, body): (u16, serde_json::Value), case: &str) {
    assert_eq!(status, 401, "{case}: {body}");
    assert_eq!(body["kind"], "Status", "{case}");
    assert_eq!(body["reason"], "Unauthorized", "{case}");
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_eks_get_token_is_accepted_and_every_tampered_token_is_refused() {
    let sim = eks_sim::Simulator::start(eks_sim::Scenario::default_scenario())
        .await
        .unwrap();
    let mut env = ClientEnv::new(&sim);
    let ca = sim.ca_pem();
    let legacy = format!("{}{PATH}", sim.cluster_endpoint("legacy").unwrap());
    let hybrid = format!("{}{PATH}", sim.cluster_endpoint("hybrid").unwrap());

    let token = get_token(&env, "legacy");
    let (status, body) = https_get(&legacy, &ca, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["metadata"]["name"], "aws-auth");

    assert_unauthorized(
        https_get(&hybrid, &ca, Some(&token)).await,
        "token for another cluster",
    );
    assert_unauthorized(
        https_get(&legacy, &ca, Some(&tamper_signature(&token))).await,
        "altered signature",
    );
    assert_unauthorized(https_get(&legacy, &ca, None).await, "no token");
    assert_unauthorized(
        https_get(&legacy, &ca, Some("k8s-aws-v1.not*base64")).await,
        "not base64url",
    );

    sim.set_clock_skew(16 * 60);
    assert_unauthorized(https_get(&legacy, &ca, Some(&token)).await, "expired");
    sim.set_clock_skew(0);

    env.set("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000");
    env.set("AWS_SECRET_ACCESS_KEY", "not-a-known-secret");
    let forged = get_token(&env, "legacy");
    assert_unauthorized(https_get(&legacy, &ca, Some(&forged)).await, "unknown key");
}
