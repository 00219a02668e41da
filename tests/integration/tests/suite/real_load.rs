//! Load on one cluster's aws-auth on the real control plane (issue 32): 24 stacks of a StackSet
//! rollout, each mapping its own role, Create at once and then Delete at once, while eksctl maps
//! roles and a GitOps tool server-side-applies its own mapUsers into the same ConfigMap. Every
//! Create is SUCCESS, all 24 entries are there together, none after the Deletes, and every entry
//! made before or beside them is kept. The real 409s are counted at the proxy in front of the
//! apiserver.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eks_sim::Scenario;
use integration::{text, ClientEnv, Harness, ADMIN_ROLE, LEGACY_ARN};
use serde_json::{json, Value};

use super::real_faults_runner::{map_roles, read_aws_auth};

const STACKS: usize = 24;

fn role(i: usize) -> String {
    format!("arn:aws:iam::111122223333:role/rollout-{i:02}")
}

fn stack(i: usize) -> String {
    format!("arn:aws:cloudformation:us-east-1:111122223333:stack/rollout-{i:02}/0a1b2c3d-0000-4000-8000-{i:012}")
}

fn props(i: usize) -> Value {
    json!({ "ClusterName": "legacy", "RoleArn": role(i), "ClusterAdminRoleArn": ADMIN_ROLE })
}

/// The GitOps tool's manifest: only mapUsers, applied server-side under its own field manager.
fn gitops_manifest(round: usize) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: kube-system\ndata:\n  mapUsers: |\n    - userarn: arn:aws:iam::111122223333:user/gitops\n      username: gitops\n      groups:\n        - round-{round}\n")
}

/// The peers' writes, on a thread of their own while the stacks run: `eksctl create
/// iamidentitymapping` of roles `first..first+3` (tried again when a conflict makes it fail, as
/// a person would) and three server-side applies of the GitOps manifest. Answers how many eksctl
/// runs failed.
fn peers(env: &ClientEnv, first: usize) -> std::thread::JoinHandle<usize> {
    let env = ClientEnv::from_vars(env);
    std::thread::spawn(move || {
        let mut retried = 0;
        for k in first..first + 3 {
            let arn = format!("arn:aws:iam::111122223333:role/eksctl-peer-{k}");
            let mut tries = 0;
            loop {
                let o = env.eksctl(&[
                    "create",
                    "iamidentitymapping",
                    "--cluster",
                    "legacy",
                    "--arn",
                    &arn,
                    "--username",
                    &format!("eksctl-peer-{k}"),
                    "--group",
                    "peers",
                ]);
                if o.status.success() {
                    break;
                }
                tries += 1;
                retried += 1;
                assert!(tries < 5, "eksctl kept failing: {:?}", text(&o));
            }
            let manifest = env.dir.path().join("gitops.yaml");
            std::fs::write(&manifest, gitops_manifest(k)).unwrap();
            let o = env.kubectl(
                &integration::kubectl(),
                &[
                    "--context",
                    LEGACY_ARN,
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    "--field-manager=gitops",
                    "-f",
                    &manifest.display().to_string(),
                ],
            );
            assert!(o.status.success(), "kubectl apply: {:?}", text(&o));
        }
        retried
    })
}

/// Runs one request per stack at once; answers each response and the slowest.
async fn all_at_once(h: &Arc<Harness>, events: Vec<Value>) -> (Vec<Value>, Duration) {
    let tasks: Vec<_> = events
        .into_iter()
        .map(|e| {
            let h = h.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                let r = h.invoke(e).await;
                (r, t.elapsed())
            })
        })
        .collect();
    let mut out = Vec::new();
    let mut slowest = Duration::ZERO;
    for t in tasks {
        let (r, took) = t.await.expect("a request ran");
        slowest = slowest.max(took);
        out.push(r);
    }
    (out, slowest)
}

fn event(h: &Harness, kind: &str, i: usize, id: Option<&str>) -> Value {
    let mut e = h.event(kind, props(i), id);
    e["StackId"] = json!(stack(i));
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_four_stacks_create_then_delete_at_once_beside_eksctl_and_a_gitops_apply() {
    let h = Arc::new(Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await);
    let cp = h.sim.control_plane("legacy").unwrap();
    let env = ClientEnv::new(&h.sim);
    let before = map_roles(&read_aws_auth(cp).await);
    cp.clear_faults();

    let peers_create = peers(&env, 0);
    let creates = (0..STACKS).map(|i| event(&h, "Create", i, None)).collect();
    let (created, slowest_create) = all_at_once(&h, creates).await;
    let eksctl_retries = peers_create.join().expect("the peers ran");
    let mut ids = Vec::new();
    for (i, r) in created.iter().enumerate() {
        assert_eq!(r["Status"], "SUCCESS", "stack {i}: {r}");
        ids.push(r["PhysicalResourceId"].as_str().unwrap().to_string());
    }
    let cm = read_aws_auth(cp).await;
    let together = map_roles(&cm);
    for i in 0..STACKS {
        let n = together
            .iter()
            .filter(|e| e["rolearn"] == json!(role(i)))
            .count();
        assert_eq!(n, 1, "stack {i}'s entry, once, with all the others");
    }
    for e in &before {
        assert!(together.contains(e), "an earlier entry lost: {e}");
    }
    for k in 0..3 {
        let arn = format!("arn:aws:iam::111122223333:role/eksctl-peer-{k}");
        assert!(
            together.iter().any(|e| e["rolearn"] == json!(arn)),
            "eksctl's {arn} lost"
        );
    }
    assert!(cm["data"]["mapUsers"]
        .as_str()
        .unwrap_or_default()
        .contains("round-2"));
    let conflicts_create = conflicts(cp);

    cp.clear_faults();
    let peers_delete = peers(&env, 3);
    let deletes = (0..STACKS)
        .map(|i| event(&h, "Delete", i, Some(&ids[i])))
        .collect();
    let (deleted, slowest_delete) = all_at_once(&h, deletes).await;
    let eksctl_retries = eksctl_retries + peers_delete.join().expect("the peers ran");
    for (i, r) in deleted.iter().enumerate() {
        assert_eq!(r["Status"], "SUCCESS", "stack {i}: {r}");
    }
    let cm = read_aws_auth(cp).await;
    let after = map_roles(&cm);
    for i in 0..STACKS {
        assert!(
            !after.iter().any(|e| e["rolearn"] == json!(role(i))),
            "stack {i}'s entry left after its Delete"
        );
    }
    for e in &before {
        assert!(after.contains(e), "an earlier entry lost: {e}");
    }
    for k in 0..6 {
        let arn = format!("arn:aws:iam::111122223333:role/eksctl-peer-{k}");
        assert!(
            after.iter().any(|e| e["rolearn"] == json!(arn)),
            "eksctl's {arn} lost"
        );
    }
    assert!(cm["data"]["mapUsers"]
        .as_str()
        .unwrap_or_default()
        .contains("round-5"));
    let annotations = cm["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        !annotations
            .keys()
            .any(|k| k.starts_with("eks-role-mapper/owner-")),
        "owner records left: {annotations:?}"
    );
    eprintln!(
        "{STACKS} stacks on the real apiserver: Creates at once in {:.1} s ({} real 409s), Deletes at once in {:.1} s ({} real 409s); eksctl beside them failed {eksctl_retries} times and was run again",
        slowest_create.as_secs_f64(),
        conflicts_create,
        slowest_delete.as_secs_f64(),
        conflicts(cp)
    );
}

/// The 409s the apiserver answered to PUTs of aws-auth through the proxy (the mapper's and
/// eksctl's).
fn conflicts(cp: &eks_sim::control_plane::ControlPlane) -> usize {
    cp.passed()
        .iter()
        .filter(|p| {
            p.method == "PUT" && p.path.ends_with("/configmaps/aws-auth") && p.status == 409
        })
        .count()
}
