//! The scheduled reconcile against the simulator over HTTPS, the drift made by real clients
//! (kubectl, aws-cli): what it repairs, what it grants, and where it must not write.

use std::collections::BTreeMap;

use eks_role_mapper::reconcile::{Outcome, Report, Verdict};
use integration::{
    entries_for, kubectl, props, text, ClientEnv, Harness, ADMIN_ROLE, SERVICE_ROLE,
};
use serde_json::{json, Value};

const ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

fn with_admin(clusters: &str) -> Value {
    let mut p = props(clusters);
    p["ClusterAdminRoleArn"] = json!(ADMIN_ROLE);
    p
}

fn ok(resp: &Value) -> String {
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    resp["PhysicalResourceId"].as_str().unwrap().to_string()
}

fn outcomes(r: &Report) -> BTreeMap<String, Outcome> {
    r.clusters
        .iter()
        .map(|c| (c.cluster.clone(), c.outcome))
        .collect()
}

/// The policies associated with the role's access entry on a cluster; None: no entry.
fn policies(h: &Harness, cluster: &str) -> Option<Vec<String>> {
    let e = h.access_entries(cluster).get(SERVICE_ROLE)?.clone();
    Some(e["policies"].as_object()?.keys().cloned().collect())
}

fn aws(env: &ClientEnv, args: &[&str]) {
    let o = env
        .command(integration::aws_cli())
        .args(args)
        .args(["--region", "us-east-1", "--output", "json"])
        .output()
        .expect("aws runs");
    assert!(o.status.success(), "aws {args:?}: {:?}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubectl_apply_of_aws_auth_without_our_entry_is_undone_and_every_other_entry_kept() {
    let h = Harness::start().await;
    let p = with_admin("legacy");
    let id = ok(&h.invoke(h.event("Create", p.clone(), None)).await);
    let granted = h.map_roles("legacy");
    assert_eq!(entries_for(&granted, &path_less(SERVICE_ROLE)).len(), 1);
    // What a kubectl Lambda hook or an IaC module does: apply a whole aws-auth it owns, without
    // the entry it does not know.
    let cm = h
        .sim
        .config_map("legacy", "kube-system", "aws-auth")
        .unwrap();
    let others: Vec<Value> = granted
        .iter()
        .filter(|e| e["rolearn"] != path_less(SERVICE_ROLE).as_str())
        .cloned()
        .collect();
    let mut data = cm["data"].as_object().unwrap().clone();
    data.insert(
        "mapRoles".into(),
        json!(serde_yaml_ng::to_string(&others).unwrap()),
    );
    let manifest = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": data,
    });
    let env = ClientEnv::new(&h.sim);
    let file = env.dir.path().join("aws-auth.json");
    std::fs::write(&file, manifest.to_string()).unwrap();
    let o = env.kubectl(
        &kubectl(),
        &["apply", "--validate=false", "-f", file.to_str().unwrap()],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(entries_for(&h.map_roles("legacy"), &path_less(SERVICE_ROLE)).is_empty());

    let r = h.reconcile(&h.reconcile_event(&p, &id)).await;
    assert_eq!(r.verdict, Verdict::Reconciled, "{r:?}");
    assert_eq!(outcomes(&r)["legacy"], Outcome::Repaired, "{r:?}");
    let after = h.map_roles("legacy");
    assert_eq!(entries_for(&after, &path_less(SERVICE_ROLE)).len(), 1);
    for e in &others {
        assert!(after.contains(e), "{e} kept: {after:?}");
    }
    let stored = h
        .sim
        .config_map("legacy", "kube-system", "aws-auth")
        .unwrap();
    for (k, v) in &data {
        if k != "mapRoles" {
            assert_eq!(&stored["data"][k], v, "{k} untouched");
        }
    }
    // The identity works again.
    assert!(h.sim.identity_of("legacy", SERVICE_ROLE).is_some());
    // Nothing left to repair: only reads.
    h.sim.clear_request_log();
    let again = h.reconcile(&h.reconcile_event(&p, &id)).await;
    assert_eq!(outcomes(&again)["legacy"], Outcome::Unchanged);
    assert!(h.writes().is_empty(), "{:?}", h.writes());
}

fn path_less(arn: &str) -> String {
    eks_role_mapper::arn::RoleArn::parse("RoleArn", arn)
        .unwrap()
        .aws_auth_arn()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_access_entry_and_a_disassociated_policy_come_back() {
    let h = Harness::start().await;
    let p = props("hybrid,modern");
    let id = ok(&h.invoke(h.event("Create", p.clone(), None)).await);
    let env = ClientEnv::new(&h.sim);
    aws(
        &env,
        &[
            "eks",
            "delete-access-entry",
            "--cluster-name",
            "hybrid",
            "--principal-arn",
            SERVICE_ROLE,
        ],
    );
    aws(
        &env,
        &[
            "eks",
            "disassociate-access-policy",
            "--cluster-name",
            "modern",
            "--principal-arn",
            SERVICE_ROLE,
            "--policy-arn",
            ADMIN_POLICY,
        ],
    );
    assert!(policies(&h, "hybrid").is_none());
    assert_eq!(policies(&h, "modern"), Some(vec![]));
    let r = h.reconcile(&h.reconcile_event(&p, &id)).await;
    assert_eq!(
        outcomes(&r),
        BTreeMap::from([
            ("hybrid".to_string(), Outcome::Repaired),
            ("modern".to_string(), Outcome::Repaired)
        ]),
        "{r:?}"
    );
    for c in ["hybrid", "modern"] {
        assert_eq!(policies(&h, c), Some(vec![ADMIN_POLICY.to_string()]), "{c}");
    }
    // The restored entry is ours again: the stack's Delete removes it.
    ok(&h.invoke(h.event("Delete", p.clone(), Some(&id))).await);
    assert!(policies(&h, "hybrid").is_none() && policies(&h, "modern").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_stack_is_deleted_a_reconcile_writes_nothing() {
    let h = Harness::start().await;
    let p = with_admin("legacy,modern");
    let id = ok(&h.invoke(h.event("Create", p.clone(), None)).await);
    ok(&h.invoke(h.event("Delete", p.clone(), Some(&id))).await);
    h.sim.clear_request_log();
    let r = h.reconcile(&h.reconcile_event(&p, &id)).await;
    assert_eq!(r.verdict, Verdict::StackGone, "{r:?}");
    assert!(h.writes().is_empty(), "{:?}", h.writes());
    assert!(entries_for(&h.map_roles("legacy"), &path_less(SERVICE_ROLE)).is_empty());
    assert!(policies(&h, "modern").is_none());
}

/// A second resource of the stack mapping another role into the same aws-auth.
const SECOND_ROLE: &str = "arn:aws:iam::111122223333:role/second-service-role";

#[tokio::test(flavor = "multi_thread")]
async fn a_reconcile_beside_a_stack_update_on_the_same_aws_auth_loses_no_entry() {
    let h = Harness::start().await;
    let first = with_admin("legacy");
    let first_id = ok(&h.invoke(h.event("Create", first.clone(), None)).await);
    let mut second = with_admin("legacy");
    second["RoleArn"] = json!(SECOND_ROLE);
    let mut create_second = h.event("Create", second.clone(), None);
    create_second["LogicalResourceId"] = json!("Second");
    let second_id = ok(&h.invoke(create_second).await);
    let mut reconcile_second = h.reconcile_event(&second, &second_id);
    reconcile_second["LogicalResourceId"] = json!("Second");
    let others: Vec<Value> = h
        .map_roles("legacy")
        .into_iter()
        .filter(|e| e["rolearn"] != SECOND_ROLE && e["rolearn"] != path_less(SERVICE_ROLE).as_str())
        .collect();
    assert!(others.len() >= 2, "{others:?}");
    let mut conflicts = 0;
    for round in 0..3 {
        // The second role's entry dropped by someone; the first resource's groups change.
        let kept: Vec<Value> = h
            .map_roles("legacy")
            .into_iter()
            .filter(|e| e["rolearn"] != SECOND_ROLE)
            .collect();
        let mut data = h
            .sim
            .config_map("legacy", "kube-system", "aws-auth")
            .unwrap()["data"]
            .as_object()
            .unwrap()
            .clone();
        data.insert(
            "mapRoles".into(),
            json!(serde_yaml_ng::to_string(&kept).unwrap()),
        );
        h.sim.set_config_map_data(
            "legacy",
            "kube-system",
            "aws-auth",
            Some(Value::Object(data)),
        );
        // Each write is held 300 ms before it is applied, so both read the same resourceVersion
        // before either write lands: one of them conflicts.
        h.sim.inject(
            "k8s:update",
            eks_sim::Fault::Delay(std::time::Duration::from_millis(300)),
            2,
        );
        let groups = json!(["system:masters", format!("round-{round}")]);
        let mut updated = first.clone();
        updated["Groups"] = groups.clone();
        let previous = if round == 0 {
            first.clone()
        } else {
            let mut p = first.clone();
            p["Groups"] = json!(["system:masters", format!("round-{}", round - 1)]);
            p
        };
        let update = h.update_event(updated, previous, &first_id);
        h.sim.clear_request_log();
        let (answer, report) = tokio::join!(h.invoke(update), h.reconcile(&reconcile_second));
        ok(&answer);
        conflicts += h
            .sim
            .request_log()
            .iter()
            .filter(|r| r.op == "k8s:update" && r.status == 409)
            .count();
        assert_eq!(
            outcomes(&report).get("legacy"),
            Some(&Outcome::Repaired),
            "round {round}: {report:?}"
        );
        let after = h.map_roles("legacy");
        let mine = entries_for(&after, &path_less(SERVICE_ROLE));
        assert_eq!(mine.len(), 1, "round {round}: {after:?}");
        assert_eq!(
            mine[0]["groups"], groups,
            "round {round}: the update's groups"
        );
        assert_eq!(
            entries_for(&after, SECOND_ROLE).len(),
            1,
            "round {round}: {after:?}"
        );
        for e in &others {
            assert!(after.contains(e), "round {round}: {e} kept: {after:?}");
        }
    }
    // The two writers really raced: some write was refused for a stale resourceVersion.
    assert!(conflicts > 0, "no write conflicted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_created_under_star_is_granted_once_active_and_a_deleted_one_is_no_error() {
    let h = Harness::start().await;
    let p = with_admin("*");
    let id = ok(&h.invoke(h.event("Create", p.clone(), None)).await);
    // A cluster made after the stack, with aws-cli as its owner would.
    let env = ClientEnv::new(&h.sim);
    aws(
        &env,
        &[
            "eks",
            "create-cluster",
            "--name",
            "fresh",
            "--role-arn",
            "arn:aws:iam::111122223333:role/eks-cluster-role",
            "--resources-vpc-config",
            "subnetIds=subnet-0a,subnet-0b",
            "--access-config",
            "authenticationMode=API",
        ],
    );
    // Still CREATING: left for the next run, nothing written there.
    let r = h.reconcile(&h.reconcile_event(&p, &id)).await;
    let got = outcomes(&r);
    assert_eq!(got["fresh"], Outcome::Skipped, "{r:?}");
    for c in ["legacy", "hybrid", "modern"] {
        assert_eq!(got[c], Outcome::Unchanged, "{c}: {r:?}");
    }
    assert!(policies(&h, "fresh").is_none());
    h.sim.advance_clock(600.0);
    let r = h.reconcile(&h.reconcile_event(&p, &id)).await;
    assert_eq!(outcomes(&r)["fresh"], Outcome::Granted, "{r:?}");
    assert_eq!(policies(&h, "fresh"), Some(vec![ADMIN_POLICY.to_string()]));
    let metrics = r.metric_records(std::time::SystemTime::now());
    let fresh = metrics.iter().find(|m| m["Cluster"] == "fresh").unwrap();
    assert_eq!(
        (fresh["Granted"].clone(), fresh["Failed"].clone()),
        (json!(1), json!(0))
    );
    // Deleted while a reconcile may look at it: DELETING is skipped, gone is gone; neither fails.
    aws(&env, &["eks", "delete-cluster", "--name", "fresh"]);
    let r = h.reconcile(&h.reconcile_event(&p, &id)).await;
    assert_eq!(outcomes(&r)["fresh"], Outcome::Skipped, "{r:?}");
    assert!(!r.failed(), "{r:?}");
    h.sim.advance_clock(300.0);
    let named = with_admin("legacy,fresh");
    let r = h.reconcile(&h.reconcile_event(&named, &id)).await;
    assert_eq!(
        outcomes(&r),
        BTreeMap::from([
            ("fresh".to_string(), Outcome::Gone),
            ("legacy".to_string(), Outcome::Unchanged)
        ]),
        "{r:?}"
    );
    assert!(!r.failed(), "{r:?}");
}
