//! A function whose only way out is an HTTP proxy (a VPC with no NAT, issue 31): the built
//! `bootstrap` under AWS's Lambda Runtime Interface Emulator, with no endpoint override, reaches
//! EKS at its real host name (`eks.us-east-1.amazonaws.com`) only through `HTTPS_PROXY` (the
//! simulator's CONNECT proxy, which answers for AWS host names with the simulator's CA), and
//! answers CloudFormation at its response bucket on S3 through the same proxy, while loopback
//! (`NO_PROXY`) is reached directly. Without proxy support no EKS call could be made at all
//! (there is no other route to that host here).

use integration::{props, Rie};

#[tokio::test(flavor = "multi_thread")]
async fn with_https_proxy_as_the_only_way_out_the_grant_is_made_and_answered() {
    let h = integration::Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    let create = h.event("Create", props("modern"), None);
    let mut env = integration::function_env(&h.sim, dir.path());
    env.extend(eks_role_mapper::declared::environment_of(&create));
    assert!(
        !env.iter().any(|(k, _)| k.starts_with("AWS_ENDPOINT_URL")),
        "no endpoint override"
    );
    let rie = Rie::start(&integration::workspace_bin("bootstrap"), &env);
    let before = h.sim.responses().len();
    h.sim.cloudformation_sends(&create);
    rie.invoke(&create);
    let responses = h.sim.responses();
    assert_eq!(responses.len(), before + 1, "one answer:\n{}", rie.log());
    let created = &responses[before].body;
    assert_eq!(created["Status"], "SUCCESS", "{created}\n{}", rie.log());
    let entries = h.access_entries("modern");
    assert!(
        entries.get(integration::SERVICE_ROLE).is_some(),
        "the access entry was made: {entries}"
    );

    let log = h.sim.request_log();
    let tunnels: Vec<_> = log.iter().filter(|r| r.op == "proxy:CONNECT").collect();
    assert!(
        tunnels
            .iter()
            .any(|r| r.path == "eks.us-east-1.amazonaws.com" && r.status == 200),
        "EKS reached through the proxy at its real name: {tunnels:?}"
    );
    assert!(
        tunnels.iter().any(|r| r.path
            == "cloudformation-custom-resource-response-useast1.s3.us-east-1.amazonaws.com"
            && r.status == 200),
        "the answer went to CloudFormation's bucket through the proxy: {tunnels:?}"
    );
    assert!(
        tunnels.iter().all(|r| r.path != "127.0.0.1"),
        "NO_PROXY honoured: nothing on loopback went through the proxy: {tunnels:?}"
    );
}

/// aws-config's environment loading (issue 31): `AWS_ENDPOINT_URL_EKS` names EKS's endpoint alone
/// (here the simulator's, reached directly), while every other service keeps its real host and
/// goes through the proxy. A function that read only `AWS_ENDPOINT_URL` sent EKS's calls to the
/// real host through the proxy instead.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_endpoint_from_the_environment_is_that_services_alone() {
    let h = integration::Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    let create = h.event("Create", props("modern"), None);
    let mut env = integration::function_env(&h.sim, dir.path());
    env.push(("AWS_ENDPOINT_URL_EKS", h.sim.aws_endpoint_url()));
    env.extend(eks_role_mapper::declared::environment_of(&create));
    let rie = Rie::start(&integration::workspace_bin("bootstrap"), &env);
    let before = h.sim.responses().len();
    let mark = h.sim.request_log().len();
    h.sim.cloudformation_sends(&create);
    rie.invoke(&create);
    let responses = h.sim.responses();
    assert_eq!(responses.len(), before + 1, "one answer:\n{}", rie.log());
    assert_eq!(
        responses[before].body["Status"],
        "SUCCESS",
        "{}\n{}",
        responses[before].body,
        rie.log()
    );
    let log = &h.sim.request_log()[mark..];
    assert!(
        log.iter().any(|r| r.op == "eks:CreateAccessEntry"),
        "the grant was made at EKS: {log:?}"
    );
    let tunnels: Vec<_> = log.iter().filter(|r| r.op == "proxy:CONNECT").collect();
    assert!(
        tunnels.iter().all(|r| !r.path.starts_with("eks.")),
        "EKS at its endpoint from the environment, not through the proxy: {tunnels:?}"
    );
    assert!(
        tunnels.iter().any(|r| r
            .path
            .starts_with("cloudformation-custom-resource-response-")),
        "the rest keeps its real hosts through the proxy: {tunnels:?}"
    );
}
