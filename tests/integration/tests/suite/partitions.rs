//! Every AWS partition, with and without FIPS (issue 31): the mapper's own clients, with no
//! endpoint override and the simulator's CONNECT proxy as their only way out (it answers for the
//! real host names of every partition, `eks_sim::server`), ask for exactly the hosts botocore's
//! endpoint rule sets give (`partition_hosts.py`); the token they make names the partition's STS
//! host and the real aws-iam-authenticator (`verify --partition P`, calling that STS host through
//! the same proxy) takes it; and the answer reaches CloudFormation's response bucket on the
//! partition's own S3 host. A list of DNS suffixes of ours (the code before this issue) refused
//! the ResponseURL in aws-iso, aws-iso-b, aws-iso-e, aws-iso-f and aws-eusc, and signed the
//! token for the wrong STS host there.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use eks_role_mapper::{Body, Clients, Connection, ProxyConfig, Respond};
use serde_json::Value;

/// One region of each partition (botocore's `partitions.json`).
const PARTITIONS: [(&str, &str); 8] = [
    ("aws", "us-east-1"),
    ("aws-cn", "cn-north-1"),
    ("aws-us-gov", "us-gov-west-1"),
    ("aws-iso", "us-iso-east-1"),
    ("aws-iso-b", "us-isob-east-1"),
    ("aws-iso-e", "eu-isoe-west-1"),
    ("aws-iso-f", "us-isof-south-1"),
    ("aws-eusc", "eusc-de-east-1"),
];

/// botocore's hosts: {region: {"plain"|"fips": {service: host}}}.
fn botocore_hosts() -> Value {
    let python = integration::aws_cli().parent().unwrap().join("python");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite/partition_hosts.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args(PARTITIONS.iter().map(|(_, r)| r))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The hosts the proxy was asked to tunnel to since `mark`.
fn tunnels_since(h: &integration::Harness, mark: usize) -> BTreeSet<String> {
    h.sim.request_log()[mark..]
        .iter()
        .filter(|r| r.op == "proxy:CONNECT")
        .map(|r| r.path.clone())
        .collect()
}

/// The host of the presigned URL inside a bearer token.
fn token_host(token: &str) -> String {
    use base64::Engine;
    let b64 = token.strip_prefix("k8s-aws-v1.").expect("token prefix");
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .expect("base64url");
    let url = url::Url::parse(std::str::from_utf8(&url).unwrap()).unwrap();
    url.host_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn in_every_partition_with_and_without_fips_the_hosts_are_botocores_and_the_token_and_answer_hold(
) {
    let h = integration::Harness::start().await;
    let expected = botocore_hosts();
    // The function's role session, as Lambda gives it (the authenticator maps assumed roles).
    let role = "arn:aws:iam::111122223333:role/mapper-lambda-role";
    let session = h.sim.role_session(role, "eks-role-mapper");
    let authenticator = eks_sim::control_plane::binary("aws-iam-authenticator").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, h.sim.ca_pem()).unwrap();
    for (partition, region) in PARTITIONS {
        for fips in [false, true] {
            let what = format!("{partition} {region} fips={fips}");
            // botocore's hosts for this region and FIPS setting: {service: host}.
            let hosts = &expected[region][if fips { "fips" } else { "plain" }];
            let loader = aws_config::defaults(BehaviorVersion::latest())
                .region(aws_config::Region::new(region))
                .use_fips(fips)
                .credentials_provider(aws_credential_types::Credentials::new(
                    &session.access_key_id,
                    &session.secret,
                    Some(session.token.clone()),
                    None,
                    "test",
                ));
            let connection = Connection {
                extra_ca_pem: Some(h.sim.ca_pem().into_bytes()),
                proxy: ProxyConfig::all(h.sim.proxy_url()).unwrap(),
                allow_loopback: false,
            };
            let clients = Clients::new(loader, connection).await.unwrap();

            // Every service the mapper calls, once: the answers do not matter here, the hosts do.
            let mark = h.sim.request_log().len();
            let _ = clients
                .eks(region)
                .describe_cluster()
                .name("modern")
                .send()
                .await;
            let _ = clients.sts(region).get_caller_identity().send().await;
            let _ = (clients.cloudformation(region).describe_stacks())
                .stack_name("s")
                .send()
                .await;
            let _ = clients
                .lambda(region)
                .get_function()
                .function_name("f")
                .send()
                .await;
            let _ = (clients.sns(region).list_topics()).send().await;
            let _ = (clients.secrets(region).get_secret_value())
                .secret_id("s")
                .send()
                .await;
            let want: BTreeSet<String> = hosts
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            assert_eq!(tunnels_since(&h, mark), want, "{what}");

            // The token names the partition's STS host, and the real authenticator takes it.
            let credentials = clients.own_credentials().await.unwrap();
            let token = eks_role_mapper::bearer_token(
                &credentials,
                region,
                "modern",
                SystemTime::now(),
                fips,
            )
            .unwrap();
            assert_eq!(token_host(&token), hosts["sts"], "{what}");
            let out = std::process::Command::new(&authenticator)
                .args([
                    "verify",
                    "-t",
                    &token,
                    "-i",
                    "modern",
                    "--partition",
                    partition,
                ])
                .args(["-o", "json"])
                .env_clear()
                .env("HTTPS_PROXY", h.sim.proxy_url())
                .env("SSL_CERT_FILE", &ca)
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("HOME", dir.path())
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains(&session.assumed_arn),
                "{what}: the authenticator refused the token: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );

            // The answer goes to CloudFormation's response bucket on this partition's S3 host.
            let suffix = eks_role_mapper::partition::dns_suffix(region).unwrap();
            let id = format!("partition-{region}-{fips}");
            let url = eks_sim::receiver::on_s3_in(&h.sim.response_url(&id), region, &suffix);
            let url = eks_role_mapper::ResponseUrl::parse(&url, false)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let body = Body {
                status: "SUCCESS",
                reason: None,
                physical_resource_id: "p".into(),
                stack_id: "s".into(),
                request_id: id.clone(),
                logical_resource_id: "l".into(),
                no_echo: false,
                data: None,
            };
            let before = h.sim.responses().len();
            (clients.sender().send(&url, &body, Duration::from_secs(20)))
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(h.sim.responses().len(), before + 1, "{what}");
        }
    }
}
