//! The mapper under the policy the template renders for the stack's parameters (deployed on moto's
//! CloudFormation, read back through IAM, put in force with `Simulator::set_policies`), in
//! CloudFormation's order: the role's policy is updated before the custom resource, and a failed
//! update is rolled back under the new policy
//! (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html).

use integration::rendered::{render, Rendered, MOTO_ACCOUNT, REGION};
use integration::{start_moto, Harness};

/// The scenario's admin role, moved to moto's account with the rest of the scenario.
const ADMIN_ROLE: &str = "arn:aws:iam::123456789012:role/cluster-admin-role";
use serde_json::{json, Value};

/// The mapper's own principal, in the stack's account (moto's): CloudFormation answers a caller
/// only about stacks of its own account.
const MAPPER: &str = "arn:aws:iam::123456789012:role/mapper-lambda-role";

/// The default scenario in moto's account and the rendered region, so the rendered ARNs name its
/// clusters.
async fn harness() -> Harness {
    let mut s = eks_sim::Scenario::default_scenario();
    s.region = REGION.to_string();
    let s = integration::in_moto_account(s);
    assert!(MAPPER.contains(MOTO_ACCOUNT));
    Harness::with(s, "mapper-lambda-role").await
}

/// The stack's parameters (one stack: the same name, so the same role names, on every render).
fn rendered(moto: &str, clusters: &str, extra: &[(&str, &str)]) -> Rendered {
    let mut p = vec![
        ("ConcurrentAccountId", "210987654321"),
        ("ClusterName", clusters),
        ("ExternalId", "given-external-id-1234"),
        ("ClusterAdminRoleArn", ADMIN_ROLE),
    ];
    p.extend_from_slice(extra);
    render(moto, "concurrent-eks", &p)
}

/// The custom resource's properties as the template passes them.
fn props(r: &Rendered, clusters: &str, switch: bool) -> Value {
    json!({
        "ClusterName": clusters,
        "RoleArn": r.role("RoleForAccessingEksAndEcr").arn,
        "ClusterAdminRoleArn": ADMIN_ROLE,
        "EnableAccessEntries": if switch { "true" } else { "false" },
        "Region": REGION,
    })
}

fn in_force(h: &Harness, r: &Rendered) {
    h.sim.set_policies(MAPPER, r.role("MapperRole").documents());
    // The requests come from the rendered stack, which the policy names.
    h.set_stack_id(&r.stack_id);
    // The stack's service role exists, made long enough ago for IAM to have propagated it.
    h.sim.create_role(&r.role("RoleForAccessingEksAndEcr").arn);
    h.sim.advance_clock(60.0);
}

fn ok(resp: &Value) -> String {
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    resp["PhysicalResourceId"].as_str().unwrap().to_string()
}

fn entries(h: &Harness, r: &Rendered) -> Vec<String> {
    let role = &r.role("RoleForAccessingEksAndEcr").arn;
    let state = h.sim.state_json();
    state["clusters"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, c)| c["access_entries"].get(role).is_some())
        .map(|(n, _)| n.clone())
        .collect()
}

#[tokio::test]
async fn a_call_outside_the_policy_is_refused_as_eks_does_and_the_reason_names_it() {
    let (_moto, url) = start_moto();
    let h = harness().await;
    let r = rendered(&url, "modern", &[]);
    in_force(&h, &r);
    // Another role than the one this stack maps: its access entry is not this policy's.
    let mut p = props(&r, "modern", false);
    p["RoleArn"] = json!(format!("arn:aws:iam::{MOTO_ACCOUNT}:role/someone-else"));
    let resp = h.invoke(h.event("Create", p, None)).await;
    assert_eq!(resp["Status"], "FAILED", "{resp}");
    let reason = resp["Reason"].as_str().unwrap();
    // The first call about another role's entry (reading it, before any write) is refused.
    assert!(
        reason.contains("eks:DescribeAccessEntry")
            && reason.contains(&format!(
                "arn:aws:eks:{REGION}:{MOTO_ACCOUNT}:access-entry/modern/role/{MOTO_ACCOUNT}/someone-else/"
            ))
            && reason.contains("not authorized"),
        "{reason}"
    );
    assert!(h.access_entries("modern").get("someone-else").is_none());
    // The switch to access entries is not granted without EnableAccessEntries.
    let resp = h
        .invoke(h.event("Create", props(&r, "legacy", true), None))
        .await;
    let _ = resp;
    let denied: Vec<_> = h
        .sim
        .request_log()
        .into_iter()
        .filter(|q| q.status == 403)
        .map(|q| q.op)
        .collect();
    assert!(
        denied.iter().any(|op| op == "eks:UpdateClusterConfig"),
        "{denied:?}"
    );
    assert_eq!(
        h.sim.authentication_mode("legacy").as_deref(),
        Some("CONFIG_MAP")
    );
    // Without policies, everything is allowed again (the simulator's default), for a role that
    // exists (and has propagated).
    h.sim.clear_policies(MAPPER);
    h.sim
        .create_role(&format!("arn:aws:iam::{MOTO_ACCOUNT}:role/someone-else"));
    h.sim.advance_clock(60.0);
    let mut p = props(&r, "modern", false);
    p["RoleArn"] = json!(format!("arn:aws:iam::{MOTO_ACCOUNT}:role/someone-else"));
    ok(&h.invoke(h.event("Create", p, None)).await);
}

#[tokio::test]
async fn dropping_a_cluster_its_rollback_and_the_delete_run_under_the_new_policy() {
    let (_moto, url) = start_moto();
    let h = harness().await;
    let before = rendered(&url, "modern,hybrid", &[]);
    in_force(&h, &before);
    let id = ok(&h
        .invoke(h.event("Create", props(&before, "modern,hybrid", false), None))
        .await);
    assert_eq!(entries(&h, &before), ["hybrid", "modern"]);
    // The update: the policy first, then the custom resource.
    let after = rendered(&url, "modern", &[]);
    assert_eq!(
        after.role("RoleForAccessingEksAndEcr").arn,
        before.role("RoleForAccessingEksAndEcr").arn,
        "the same stack"
    );
    in_force(&h, &after);
    ok(&h
        .invoke(h.update_event(
            props(&after, "modern", false),
            props(&before, "modern,hybrid", false),
            &id,
        ))
        .await);
    assert_eq!(entries(&h, &after), ["modern"]);
    // Its rollback (the old properties back), still under the new policy.
    ok(&h
        .invoke(h.update_event(
            props(&before, "modern,hybrid", false),
            props(&after, "modern", false),
            &id,
        ))
        .await);
    assert_eq!(entries(&h, &after), ["hybrid", "modern"]);
    // The stack's delete: the custom resource (its properties are the rolled-back ones) under
    // the policy the update left in force.
    ok(&h
        .invoke(h.event("Delete", props(&before, "modern,hybrid", false), Some(&id)))
        .await);
    assert!(entries(&h, &after).is_empty(), "{:?}", entries(&h, &after));
    assert!(
        h.sim.request_log().iter().all(|q| q.status != 403),
        "nothing was refused"
    );
}

#[tokio::test]
async fn star_to_names_and_back_and_the_switch_under_the_rendered_policies() {
    let (_moto, url) = start_moto();
    let h = harness().await;
    // The switch takes EKS 300 s: simulated time runs 60 times as fast, so it ends within one
    // invocation (the hand-over to a fresh one is tested in mapper_modes).
    h.sim.set_clock_scale(60.0);
    let all = rendered(&url, "*", &[]);
    in_force(&h, &all);
    let id = ok(&h
        .invoke(h.event("Create", props(&all, "*", false), None))
        .await);
    assert_eq!(entries(&h, &all), ["hybrid", "modern"]);
    // * -> names: the old list is resolved with ListClusters under the new policy.
    let names = rendered(&url, "modern", &[]);
    in_force(&h, &names);
    ok(&h
        .invoke(h.update_event(props(&names, "modern", false), props(&all, "*", false), &id))
        .await);
    assert_eq!(entries(&h, &names), ["modern"]);
    // names -> * again.
    in_force(&h, &all);
    ok(&h
        .invoke(h.update_event(props(&all, "*", false), props(&names, "modern", false), &id))
        .await);
    // EnableAccessEntries: the CONFIG_MAP cluster is switched, then given an access entry.
    let switch = rendered(&url, "legacy", &[("EnableAccessEntries", "true")]);
    in_force(&h, &switch);
    ok(&h
        .invoke(h.update_event(props(&switch, "legacy", true), props(&all, "*", false), &id))
        .await);
    assert_eq!(
        h.sim.authentication_mode("legacy").as_deref(),
        Some("API_AND_CONFIG_MAP")
    );
    assert!(entries(&h, &switch).contains(&"legacy".to_string()));
    ok(&h
        .invoke(h.event("Delete", props(&switch, "legacy", true), Some(&id)))
        .await);
    assert!(
        h.sim.request_log().iter().all(|q| q.status != 403),
        "nothing was refused: {:?}",
        h.sim
            .request_log()
            .iter()
            .filter(|q| q.status == 403)
            .map(|q| q.op.clone())
            .collect::<Vec<_>>()
    );
}
