//! The mapper against the real Kubernetes control plane of a `CONFIG_MAP` cluster: etcd,
//! kube-apiserver with RBAC and the EKS authenticator as its token webhook, all built from pinned
//! Go modules (`tests/control-plane/build`), started by the simulator (`eks_sim::control_plane`).
//! Every check goes through real clients: tokens from `aws eks get-token` as a session of the role
//! (`DIR/as/<role>.env`), `kubectl auth whoami` and `kubectl auth can-i`; nothing reads the
//! simulator's state.

use eks_sim::Scenario;
use integration::{
    eventually, is, legacy_props, refused, text, ClientEnv, Harness, ADMIN_ROLE, LEGACY_ARN,
    SERVICE_ROLE, SERVICE_ROLE_NAME, SSO_ROLE,
};
use serde_json::{json, Value};

async fn success(h: &Harness, event: Value) -> Value {
    let r = h.invoke(event).await;
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_grants_the_role_on_the_real_apiserver_and_a_delete_takes_it_back() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let cp = h
        .sim
        .control_plane("legacy")
        .expect("legacy has a real control plane");
    // The CI log names the real server.
    println!("legacy: kube-apiserver {} at {}", cp.version, cp.endpoint);
    let minor: u32 = cp
        .version
        .trim_start_matches("v1.")
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        cp.version.starts_with("v1.") && minor >= 34,
        "{}",
        cp.version
    );

    let env = ClientEnv::new(&h.sim);
    let role = env.as_role(SERVICE_ROLE_NAME);
    refused(role.whoami(LEGACY_ARN)).expect("before the Create the role's token is refused");
    assert!(!role.can_i(LEGACY_ARN, &["*", "*"]));

    let r = success(&h, h.event("Create", legacy_props(json!({})), None)).await;
    eventually("the role after the Create", || {
        is(role.whoami(LEGACY_ARN), SERVICE_ROLE, &["system:masters"])
    });
    assert!(
        role.can_i(LEGACY_ARN, &["*", "*"]),
        "system:masters may do anything"
    );
    assert!(role.can_i(LEGACY_ARN, &["delete", "nodes"]));

    // The mapper's own token (signed by the function, not by aws-cli) got it there: the real
    // authenticator answered for the session of the admin role the function assumed.
    let log = std::fs::read_to_string(cp.dir.join("authenticator.log")).unwrap();
    assert!(
        log.contains("assumed-role/cluster-admin-role/"),
        "the authenticator never saw the mapper's session:\n{log}"
    );

    let pid = r["PhysicalResourceId"].as_str().unwrap().to_string();
    success(&h, h.event("Delete", legacy_props(json!({})), Some(&pid))).await;
    eventually("the role after the Delete", || {
        refused(role.whoami(LEGACY_ARN))
    });
    // Every other identity still authenticates: the role aws-auth maps, and the creator (mapped
    // by EKS outside aws-auth).
    is(
        env.as_role("cluster-admin-role").whoami(LEGACY_ARN),
        "cluster-admin",
        &["system:masters"],
    )
    .unwrap();
    is(
        env.whoami(LEGACY_ARN),
        "kubernetes-admin",
        &["system:masters"],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sso_role_with_yaml_words_gets_what_was_written_and_an_update_changes_its_groups() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let env = ClientEnv::new(&h.sim);
    let sso = env.as_role("AWSReservedSSO_Admin_0a1b2c");
    refused(sso.whoami(LEGACY_ARN)).expect("not mapped yet");
    // Words YAML 1.1 reads as booleans, nulls and numbers: the authenticator must read strings.
    let first = json!({"RoleArn": SSO_ROLE, "Username": "on", "Groups": ["yes", "null", "0x1F", "ml-team"]});
    let r = success(&h, h.event("Create", legacy_props(first.clone()), None)).await;
    eventually("the SSO role (mapped without its path)", || {
        is(
            sso.whoami(LEGACY_ARN),
            "on",
            &["yes", "null", "0x1F", "ml-team"],
        )
    });
    assert!(
        !sso.can_i(LEGACY_ARN, &["get", "pods"]),
        "groups without bindings give no rights"
    );

    let pid = r["PhysicalResourceId"].as_str().unwrap().to_string();
    let second = json!({"RoleArn": SSO_ROLE, "Username": "on", "Groups": ["system:masters"]});
    success(
        &h,
        h.update_event(legacy_props(second.clone()), legacy_props(first), &pid),
    )
    .await;
    eventually("the new groups in force", || {
        is(sso.whoami(LEGACY_ARN), "on", &["system:masters"])
    });
    assert!(sso.can_i(LEGACY_ARN, &["*", "*"]));

    success(&h, h.event("Delete", legacy_props(second), Some(&pid))).await;
    eventually("the SSO role after the Delete", || {
        refused(sso.whoami(LEGACY_ARN))
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_made_for_another_cluster_is_refused_by_the_real_authenticator() {
    let sim = integration::real_simulator(Scenario::default_scenario()).await;
    let env = ClientEnv::new(&sim);
    let cp = sim.control_plane("legacy").unwrap();
    let admin = env.as_role("cluster-admin-role");
    let token = |cluster: &str| {
        admin.get_token(
            admin.command(integration::aws_cli()),
            cluster,
            "https://sts.us-east-1.amazonaws.com",
        )
    };
    let ca = sim.ca_pem();
    let review = |t: &str| {
        let t = t.to_string();
        let (endpoint, ca) = (cp.endpoint.clone(), ca.clone());
        async move {
            integration::https_get(
                &format!("{endpoint}/api/v1/namespaces/kube-system/configmaps/aws-auth"),
                &ca,
                Some(&t),
            )
            .await
            .0
        }
    };
    assert_eq!(
        review(&token("legacy")).await,
        200,
        "a token for this cluster is good"
    );
    assert_eq!(
        review(&token("modern")).await,
        401,
        "x-k8s-aws-id names another cluster: STS's signature check fails"
    );
    let mut tampered = token("legacy");
    tampered.pop();
    assert_eq!(review(&tampered).await, 401);
    // The refusals were the authenticator's own: STS was asked through the proxy.
    assert!(sim.request_log().iter().any(|r| r.op == "proxy:CONNECT"
        && r.path == "sts.us-east-1.amazonaws.com"
        && r.status == 200));
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_apply_of_a_whole_aws_auth_beside_the_mapper_loses_nothing_and_the_reconcile_restores_our_entry(
) {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let env = ClientEnv::new(&h.sim);
    let role = env.as_role(SERVICE_ROLE_NAME);
    let sso = env.as_role("AWSReservedSSO_Admin_0a1b2c");
    // A whole aws-auth without the service role: what a GitOps tool or a hand `kubectl apply` does.
    let manifest = env.dir.path().join("aws-auth.yaml");
    std::fs::write(&manifest, format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: kube-system\ndata:\n  mapRoles: |\n    - rolearn: {ADMIN_ROLE}\n      username: cluster-admin\n      groups:\n        - system:masters\n    - rolearn: arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0a1b2c\n      username: sso-admin\n      groups:\n        - system:masters\n")).unwrap();
    let r = success(&h, h.event("Create", legacy_props(json!({})), None)).await;
    let pid = r["PhysicalResourceId"].as_str().unwrap().to_string();
    let mut old = legacy_props(json!({}));
    for round in 0..5 {
        // The mapper's Update (new groups each round) and kubectl's apply race on the same object.
        let groups = json!([format!("round-{round}"), "system:masters"]);
        let new = legacy_props(json!({"Groups": groups}));
        let kubectl = {
            let (e, m) = (ClientEnv::from_vars(&env), manifest.display().to_string());
            std::thread::spawn(move || {
                e.kubectl(
                    &integration::kubectl(),
                    &[
                        "--context",
                        LEGACY_ARN,
                        "apply",
                        "--validate=false",
                        "-f",
                        &m,
                    ],
                )
            })
        };
        success(&h, h.update_event(new.clone(), old, &pid)).await;
        old = new;
        let o = kubectl.join().unwrap();
        assert!(o.status.success(), "round {round}: {:?}", text(&o));
    }
    // The apply's own entries are always there; ours only if the mapper wrote last.
    eventually("the applied SSO entry", || {
        is(sso.whoami(LEGACY_ARN), "sso-admin", &["system:masters"])
    });
    // Make sure the apply won the last word, then the reconcile puts our entry back.
    let o = env.kubectl(
        &integration::kubectl(),
        &[
            "--context",
            LEGACY_ARN,
            "apply",
            "--validate=false",
            "-f",
            &manifest.display().to_string(),
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    eventually("the apply dropped our entry", || {
        refused(role.whoami(LEGACY_ARN))
    });
    // The schedule's event carries the resource's properties (the template's own have no
    // Groups; a stack that sets them has them in its schedule's Input too).
    let mut event = h.reconcile_event(&legacy_props(json!({})), &pid);
    event["ResourceProperties"]["Groups"] = json!(["round-4", "system:masters"]);
    let report = h.reconcile(&event).await;
    let text = serde_json::to_string(&report).unwrap();
    assert!(text.contains("Repaired"), "{text}");
    eventually("our entry restored", || {
        is(
            role.whoami(LEGACY_ARN),
            SERVICE_ROLE,
            &["round-4", "system:masters"],
        )
    });
    is(sso.whoami(LEGACY_ARN), "sso-admin", &["system:masters"]).expect("the applied entry kept");
    is(
        env.as_role("cluster-admin-role").whoami(LEGACY_ARN),
        "cluster-admin",
        &["system:masters"],
    )
    .unwrap();
}

/// What a newcomer does by hand: `eks-sim --real-control-plane --out DIR`, a real kubectl on
/// DIR/kubeconfig, the replay with `--aws` on DIR/env, and a real client acting as the role
/// through DIR/as/<role>.env.
#[test]
fn the_standalone_simulator_with_a_real_control_plane_serves_the_replay_and_real_clients() {
    use std::io::BufRead;
    let out = tempfile::tempdir().unwrap();
    let mut sim = std::process::Command::new(integration::workspace_bin("eks-sim"))
        .args(["--real-control-plane", "--out"])
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SIGTERM: the simulator stops its control plane and removes its files.
            let _ = std::process::Command::new("kill")
                .arg(self.0.id().to_string())
                .status();
            let _ = self.0.wait();
        }
    }
    let _sim = Kill(sim);
    let dir = tempfile::TempDir::new().unwrap();
    for f in ["env", "kubeconfig", "ca.pem", "proxy.env"] {
        std::fs::copy(out.path().join(f), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("as")).unwrap();
    for e in std::fs::read_dir(out.path().join("as")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join("as").join(e.file_name())).unwrap();
    }
    let env = ClientEnv::from_out_dir(dir);
    let o = env.kubectl(
        &integration::kubectl(),
        &["--context", LEGACY_ARN, "version", "-o", "json"],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{:?}", text(&o)));
    let server = v["serverVersion"]["gitVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    println!("kubectl version: server {server}");
    let minor: u32 = v["serverVersion"]["minor"]
        .as_str()
        .unwrap_or("0")
        .trim_end_matches('+')
        .parse()
        .unwrap();
    assert!(
        server.starts_with("v1.") && minor >= 34,
        "a real server: {v}"
    );

    let role = env.as_role(SERVICE_ROLE_NAME);
    refused(role.whoami(LEGACY_ARN)).expect("401 before the Create");
    let replay = |event: &str| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let o = env
            .command(integration::workspace_bin("cfn-replay"))
            .current_dir(root)
            .args(["--aws", event])
            .output()
            .unwrap();
        integration::keep_output("cfn-replay", &o);
        let (out, err) = text(&o);
        let answer: Value = serde_json::from_str(out.lines().next().unwrap_or("null")).unwrap();
        (o.status.success(), answer, err)
    };
    let (ok, answer, err) = replay("events/create.json");
    assert!(ok && answer["Status"] == "SUCCESS", "{answer}\n{err}");
    eventually("the role after events/create.json", || {
        is(role.whoami(LEGACY_ARN), SERVICE_ROLE, &["system:masters"])
    });
    assert!(role.can_i(LEGACY_ARN, &["*", "*"]));
    // The replay sends the Delete straight to the function, as anyone allowed to invoke it
    // could, while the simulator's CloudFormation holds the stack at rest (CREATE_COMPLETE): the
    // function refuses it, and the role keeps its access on the real control plane.
    let (ok, answer, err) = replay("events/delete.json");
    assert!(!ok && answer["Status"] == "FAILED", "{answer}\n{err}");
    assert!(
        answer["Reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("RequestType: CloudFormation is not making this request"),
        "{answer}"
    );
    assert!(
        role.can_i(LEGACY_ARN, &["*", "*"]),
        "nothing was taken away"
    );
}
