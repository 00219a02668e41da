//! Load on one cluster of the real control plane (issue 32): 24 stacks, each mapping its own
//! role, Create at once and then Delete at once on `legacy` (CONFIG_MAP, the real kube-apiserver
//! and aws-iam-authenticator), with eksctl writing its own entries in between. Every Create and
//! Delete is SUCCESS; all 24 entries stand together; none is left after the Deletes; every entry
//! that was there before, and eksctl's, is kept.

use std::sync::Arc;
use std::time::Instant;

use eks_sim::Scenario;
use integration::{text, ClientEnv, Harness, ADMIN_ROLE};
use serde_json::{json, Value};

const STACKS: usize = 24;

fn stack(i: usize) -> String {
    format!("arn:aws:cloudformation:us-east-1:111122223333:stack/load-{i:02}/0b6c6a1e-1111-4c55-9e2f-0000000000{i:02}")
}

fn role(i: usize) -> String {
    format!("arn:aws:iam::111122223333:role/load-{i:02}-RoleForAccessingEksAndEcr")
}

/// Stack `i`'s event of `kind`.
fn event(h: &Harness, i: usize, kind: &str, id: Option<&str>) -> Value {
    let props =
        json!({"ClusterName": "legacy", "RoleArn": role(i), "ClusterAdminRoleArn": ADMIN_ROLE});
    let mut e = h.event(kind, props, id);
    e["StackId"] = json!(stack(i));
    e
}

/// legacy's aws-auth `data` as the real kube-apiserver holds it.
async fn data(h: &Harness) -> Value {
    let cp = h.sim.control_plane("legacy").expect("legacy is real");
    let path = "/api/v1/namespaces/kube-system/configmaps/aws-auth";
    let (code, cm) = integration::as_admin(cp, "GET", path, None).await;
    assert_eq!(code, 200, "{cm}");
    cm["data"].clone()
}

/// The entries of `mapRoles`.
async fn map_roles(h: &Harness) -> Vec<Value> {
    integration::real_map_roles(&h.sim, "legacy").await
}

async fn arns(h: &Harness) -> Vec<String> {
    map_roles(h)
        .await
        .iter()
        .filter_map(|e| e["rolearn"].as_str().map(str::to_string))
        .collect()
}

async fn users(h: &Harness) -> String {
    data(h).await["mapUsers"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Runs every event at once; the answers in order, and the slowest.
async fn at_once(h: &Arc<Harness>, events: Vec<Value>) -> (Vec<Value>, std::time::Duration) {
    let started = Instant::now();
    let tasks: Vec<_> = events
        .into_iter()
        .map(|e| {
            let h = h.clone();
            tokio::spawn(async move { h.invoke(e).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    (answers, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_four_stacks_at_once_on_the_real_control_plane_with_eksctl_between() {
    let h = Arc::new(Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await);
    let env = ClientEnv::new(&h.sim);
    let before = map_roles(&h).await;
    // eksctl writes while the Creates run (it does not retry a conflict, so it may lose a race
    // and say so; it never breaks the ConfigMap).
    let eksctl_env = ClientEnv::from_vars(&env);
    let eksctl = std::thread::spawn(move || {
        (0..3)
            .map(|n| {
                eksctl_env.eksctl(&[
                    "create",
                    "iamidentitymapping",
                    "--cluster",
                    "legacy",
                    "--arn",
                    &format!("arn:aws:iam::111122223333:user/eksctl-{n}"),
                    "--username",
                    &format!("eksctl-{n}"),
                    "--group",
                    "eksctl-users",
                ])
            })
            .collect::<Vec<_>>()
    });
    let creates = (0..STACKS).map(|i| event(&h, i, "Create", None)).collect();
    let (answers, created_in) = at_once(&h, creates).await;
    let eksctl = eksctl.join().unwrap();
    let ids: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a["Status"], "SUCCESS", "{a}");
            a["PhysicalResourceId"].as_str().unwrap().to_string()
        })
        .collect();
    let standing = arns(&h).await;
    for i in 0..STACKS {
        assert_eq!(
            standing.iter().filter(|a| **a == role(i)).count(),
            1,
            "stack {i}'s entry, once: {standing:?}"
        );
    }
    let during = map_roles(&h).await;
    for e in &before {
        assert!(during.contains(e), "kept: {e}");
    }
    let eksctl_won: Vec<usize> = (0..3).filter(|n| eksctl[*n].status.success()).collect();
    for (n, o) in eksctl.iter().enumerate() {
        if !o.status.success() {
            let err = text(o).1;
            assert!(
                err.contains("conflict") || err.contains("modified"),
                "eksctl {n}: {err}"
            );
        }
    }
    let mapped_users = users(&h).await;
    for n in &eksctl_won {
        assert!(
            mapped_users.contains(&format!("user/eksctl-{n}")),
            "eksctl {n}'s entry"
        );
    }

    let deletes = (0..STACKS)
        .map(|i| event(&h, i, "Delete", Some(&ids[i])))
        .collect();
    let (answers, deleted_in) = at_once(&h, deletes).await;
    for a in &answers {
        assert_eq!(a["Status"], "SUCCESS", "{a}");
    }
    let left = arns(&h).await;
    assert!(
        (0..STACKS).all(|i| !left.contains(&role(i))),
        "none left: {left:?}"
    );
    assert_eq!(
        map_roles(&h).await,
        before,
        "what was there before, as it was"
    );
    let mapped_users = users(&h).await;
    for n in &eksctl_won {
        assert!(
            mapped_users.contains(&format!("user/eksctl-{n}")),
            "eksctl {n}'s entry kept"
        );
    }
    println!(
        "{STACKS} stacks on the real control plane: Creates at once in {created_in:?}, Deletes at once in {deleted_in:?}; eksctl won {} of 3 races",
        eksctl_won.len()
    );
}
