//! Issue 28, against the simulator: group and username changes reach our access entry through
//! UpdateAccessEntry (and EKS's validation of it), and a mode switch waits only for itself: an
//! update of another kind in progress (a version upgrade) is waited for to end, then the switch
//! is made.

use std::time::Duration;

use integration::{props, Harness, SERVICE_ROLE};
use serde_json::{json, Value};

fn ok(resp: &Value) -> String {
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    resp["PhysicalResourceId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn group_and_username_changes_reach_our_access_entry() {
    let h = Harness::start().await;
    let mut p = props("modern");
    p["KubernetesGroups"] = json!("ml-readers");
    let id = ok(&h.invoke(h.event("Create", p.clone(), None)).await);
    let entry = &h.access_entries("modern")[SERVICE_ROLE];
    assert_eq!(entry["kubernetes_groups"], json!(["ml-readers"]), "{entry}");
    let mut q = p.clone();
    q["KubernetesGroups"] = json!("ml-readers,ml-writers");
    q["Username"] = json!("concurrent-service");
    ok(&h.invoke(h.update_event(q.clone(), p, &id)).await);
    let entry = &h.access_entries("modern")[SERVICE_ROLE];
    assert_eq!(
        entry["kubernetes_groups"],
        json!(["ml-readers", "ml-writers"]),
        "{entry}"
    );
    assert_eq!(entry["username"], "concurrent-service", "{entry}");
    let updates = h
        .sim
        .request_log()
        .iter()
        .filter(|r| r.op == "eks:UpdateAccessEntry" && r.status == 200)
        .count();
    assert_eq!(updates, 1);
    // Nothing changed: no UpdateAccessEntry.
    h.sim.clear_request_log();
    ok(&h.invoke(h.update_event(q.clone(), q, &id)).await);
    assert!(!h
        .sim
        .request_log()
        .iter()
        .any(|r| r.op == "eks:UpdateAccessEntry"));
}

#[tokio::test]
async fn update_access_entry_is_validated_as_eks_does() {
    let h = Harness::start().await;
    ok(&h.invoke(h.event("Create", props("modern"), None)).await);
    let eks = h.clients_eks();
    let update = |groups: Vec<&str>, username: Option<&str>| {
        eks.update_access_entry()
            .cluster_name("modern")
            .principal_arn(SERVICE_ROLE)
            .set_kubernetes_groups(Some(groups.into_iter().map(String::from).collect()))
            .set_username(username.map(String::from))
            .send()
    };
    let e = update(vec!["system:masters"], None).await.unwrap_err();
    assert!(
        format!("{e:?}").contains("InvalidParameterException"),
        "{e:?}"
    );
    let e = update(vec![], Some("eks:me")).await.unwrap_err();
    assert!(
        format!("{e:?}").contains("InvalidParameterException"),
        "{e:?}"
    );
    update(vec!["team"], Some("me")).await.unwrap();
    assert_eq!(
        h.access_entries("modern")[SERVICE_ROLE]["kubernetes_groups"],
        json!(["team"])
    );
}

#[tokio::test]
async fn a_version_upgrade_in_progress_is_waited_for_and_then_the_switch_is_made() {
    let h = Harness::start().await;
    // 120 s of upgrade, 300 s of switch, scaled 60 times; 4 s per invocation.
    h.sim.set_clock_scale(60.0);
    let upgrade = h.sim.start_version_update("legacy", "1.32", 120.0).unwrap();
    let mut p = props("legacy");
    p["EnableAccessEntries"] = json!("true");
    let (resp, invocations) = h
        .invoke_counting(h.event("Create", p, None), Duration::from_secs(4))
        .await;
    ok(&resp);
    assert_eq!(resp["Data"]["Method"], "AccessEntry", "{resp}");
    assert_eq!(
        h.sim.authentication_mode("legacy").as_deref(),
        Some("API_AND_CONFIG_MAP")
    );
    let log = h.sim.request_log();
    let refused = log
        .iter()
        .position(|r| r.op == "eks:UpdateClusterConfig" && r.status == 409)
        .expect("the switch met the upgrade");
    let looked = log
        .iter()
        .position(|r| r.op == "eks:ListUpdates" && r.status == 200)
        .expect("and looked at what is in progress");
    let started = log
        .iter()
        .position(|r| r.op == "eks:UpdateClusterConfig" && r.status == 200)
        .expect("then switched");
    assert!(refused < looked && looked < started);
    let switches = log
        .iter()
        .filter(|r| r.op == "eks:UpdateClusterConfig" && r.status == 200)
        .count();
    assert_eq!(switches, 1);
    let upgrade_done =
        h.sim.state_json()["clusters"]["legacy"]["updates"][&upgrade]["status"].clone();
    assert_eq!(upgrade_done, "Successful");
    eprintln!("switch after an upgrade: {invocations} invocations");
}

/// The mapper's own principal, moved to the stack's account (moto's) with the whole scenario, as
/// iam_in_force moves it: CloudFormation answers a caller only about its own account's stacks.
const MAPPER: &str = "arn:aws:iam::123456789012:role/mapper-lambda-role";

/// The default scenario in moto's account and the rendered region, acting as the mapper.
async fn rendered_harness(
    moto: &str,
    extra: &[(&str, &str)],
) -> (Harness, integration::rendered::Rendered) {
    use integration::rendered::{render, MOTO_ACCOUNT, REGION};
    let mut s = eks_sim::Scenario::default_scenario();
    s.region = REGION.to_string();
    let s = integration::in_moto_account(s);
    assert!(MAPPER.contains(MOTO_ACCOUNT));
    let h = Harness::with(s, "mapper-lambda-role").await;
    let mut p = vec![
        ("ConcurrentAccountId", "210987654321"),
        ("ClusterName", "modern"),
        ("ExternalId", "given-external-id-1234"),
    ];
    p.extend_from_slice(extra);
    let r = render(moto, "concurrent-eks", &p);
    h.sim.set_policies(MAPPER, r.role("MapperRole").documents());
    // The requests come from the rendered stack, which the policy names.
    h.set_stack_id(&r.stack_id);
    h.sim.create_role(&r.role("RoleForAccessingEksAndEcr").arn);
    h.sim.advance_clock(60.0);
    (h, r)
}

fn rendered_props(r: &integration::rendered::Rendered, groups: &str) -> Value {
    json!({
        "ClusterName": "modern",
        "RoleArn": r.role("RoleForAccessingEksAndEcr").arn,
        "KubernetesGroups": groups,
        "Region": integration::rendered::REGION,
    })
}

#[tokio::test]
async fn under_the_rendered_policy_the_entry_takes_the_stacks_groups_and_no_others() {
    let (_moto, url) = integration::start_moto();
    let (h, r) = rendered_harness(&url, &[("KubernetesGroups", "ml-readers,ml-writers")]).await;
    let role = r.role("RoleForAccessingEksAndEcr").arn.clone();
    let p = rendered_props(&r, "ml-readers");
    let id = ok(&h.invoke(h.event("Create", p.clone(), None)).await);
    let q = rendered_props(&r, "ml-readers,ml-writers");
    ok(&h.invoke(h.update_event(q, p, &id)).await);
    assert_eq!(
        h.access_entries("modern")[&role]["kubernetes_groups"],
        json!(["ml-readers", "ml-writers"])
    );
    // A group the stack did not declare: IAM refuses the same call.
    let e = h
        .clients
        .eks(integration::rendered::REGION)
        .update_access_entry()
        .cluster_name("modern")
        .principal_arn(&role)
        .kubernetes_groups("intruders")
        .send()
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("AccessDenied"), "{e:?}");
    assert_eq!(
        h.access_entries("modern")[&role]["kubernetes_groups"],
        json!(["ml-readers", "ml-writers"])
    );
}

#[tokio::test]
async fn under_the_rendered_policy_an_adopted_entry_is_recorded_and_given_back() {
    let (_moto, url) = integration::start_moto();
    let (h, r) = rendered_harness(&url, &[]).await;
    let role = r.role("RoleForAccessingEksAndEcr").arn.clone();
    // The entry was there before the stack, with a tag and groups of its own.
    h.sim.clear_policies(MAPPER);
    h.clients
        .eks(integration::rendered::REGION)
        .create_access_entry()
        .cluster_name("modern")
        .principal_arn(&role)
        .kubernetes_groups("ml-team")
        .tags("team", "ml")
        .send()
        .await
        .unwrap();
    let before = h.access_entries("modern")[&role].clone();
    h.sim.set_policies(MAPPER, r.role("MapperRole").documents());
    let p = rendered_props(&r, "");
    let resp = h.invoke(h.event("Create", p.clone(), None)).await;
    let id = ok(&resp);
    assert_eq!(resp["Data"]["Adopted"], "true");
    let during = h.access_entries("modern")[&role].clone();
    assert!(
        during["tags"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("eks-role-mapper/held-")),
        "{during}"
    );
    ok(&h.invoke(h.event("Delete", p, Some(&id))).await);
    let after = h.access_entries("modern")[&role].clone();
    for field in ["policies", "tags", "kubernetes_groups", "username"] {
        assert_eq!(after[field], before[field], "{field}");
    }
}

#[tokio::test]
async fn an_update_in_the_way_past_the_budget_fails_naming_it() {
    // A version upgrade that outlasts every invocation the request may take (40): the switch is
    // never made, and the Reason names the upgrade, not "switching". 1.5 s per invocation.
    let h = Harness::start().await;
    let upgrade = h.sim.start_version_update("legacy", "1.32", 1.0e7).unwrap();
    let mut p = props("legacy");
    p["EnableAccessEntries"] = json!("true");
    let (resp, invocations) = h
        .invoke_counting(h.event("Create", p, None), Duration::from_millis(1500))
        .await;
    assert_eq!(resp["Status"], "FAILED", "{resp}");
    let reason = resp["Reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("update {upgrade} (VersionUpdate) is in progress")),
        "{reason}"
    );
    assert_eq!(
        h.sim.authentication_mode("legacy").as_deref(),
        Some("CONFIG_MAP")
    );
    assert!(!h
        .sim
        .request_log()
        .iter()
        .any(|r| r.op == "eks:UpdateClusterConfig" && r.status == 200));
    eprintln!("an upgrade in the way: FAILED after {invocations} invocations: {reason}");
}
