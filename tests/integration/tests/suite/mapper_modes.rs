//! The mapper end to end against the simulator over HTTPS, on every authentication mode.

use std::time::Duration;

use eks_sim::Fault;
use integration::{entries_for, props, Harness, ADMIN_ROLE, SERVICE_ROLE};
use serde_json::{json, Value};

fn with_admin(cluster: &str) -> Value {
    let mut p = props(cluster);
    p["ClusterAdminRoleArn"] = json!(ADMIN_ROLE);
    p
}

fn ok(resp: &Value) -> String {
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    resp["PhysicalResourceId"].as_str().unwrap().to_string()
}

fn failed(resp: &Value) -> String {
    assert_eq!(resp["Status"], "FAILED", "{resp}");
    resp["Reason"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn config_map_cluster_with_an_admin_role_gets_one_aws_auth_entry_and_keeps_the_rest() {
    let h = Harness::start().await;
    let before = h.map_roles("legacy");
    h.sim.clear_request_log();
    let users_before = h
        .sim
        .config_map("legacy", "kube-system", "aws-auth")
        .unwrap()["data"]["mapUsers"]
        .clone();
    let resp = h
        .invoke(h.event("Create", with_admin("legacy"), None))
        .await;
    ok(&resp);
    assert_eq!(resp["Data"]["Method"], "AwsAuth");
    assert_eq!(resp["Data"]["Adopted"], "false");
    let ops: Vec<String> = h.sim.request_log().into_iter().map(|r| r.op).collect();
    assert_eq!(
        ops,
        [
            "eks:DescribeCluster",
            "sts:AssumeRole",
            "k8s:get",
            "k8s:update",
            "cfn:response"
        ],
        "read back from the PUT's answer, no extra GET"
    );
    assert_eq!(resp["Data"]["Username"], SERVICE_ROLE);
    let after = h.map_roles("legacy");
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "existing entries keep their order and content"
    );
    let ours = entries_for(&after, SERVICE_ROLE);
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0]["groups"], json!(["system:masters"]));
    assert_eq!(ours[0]["username"], json!(SERVICE_ROLE));
    assert_eq!(
        h.sim
            .config_map("legacy", "kube-system", "aws-auth")
            .unwrap()["data"]["mapUsers"],
        users_before
    );
}

#[tokio::test]
async fn config_map_cluster_without_an_admin_identity_fails_saying_what_to_do_and_changes_nothing()
{
    let h = Harness::start().await;
    let state = h.sim.state_json()["clusters"].to_string();
    let reason = failed(&h.invoke(h.event("Create", props("legacy"), None)).await);
    assert!(
        reason.contains("ClusterAdminRoleArn") && reason.contains("EnableAccessEntries=true"),
        "{reason}"
    );
    assert_eq!(h.sim.state_json()["clusters"].to_string(), state);
}

#[tokio::test]
async fn api_modes_get_an_access_entry_with_the_cluster_admin_policy_and_delete_removes_it() {
    for cluster in ["hybrid", "modern"] {
        let h = Harness::start().await;
        h.sim.clear_request_log();
        let resp = h.invoke(h.event("Create", props(cluster), None)).await;
        let id = ok(&resp);
        assert_eq!(resp["Data"]["Method"], "AccessEntry");
        let ops: Vec<String> = h.sim.request_log().into_iter().map(|r| r.op).collect();
        assert_eq!(
            ops,
            [
                "eks:DescribeCluster",
                "eks:DescribeAccessEntry",
                "eks:CreateAccessEntry",
                "eks:AssociateAccessPolicy",
                "cfn:response"
            ]
        );
        let entry = &h.access_entries(cluster)[SERVICE_ROLE];
        assert_eq!(
            entry["policies"]["arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"]
                ["type"],
            "cluster"
        );
        ok(&h.invoke(h.event("Delete", props(cluster), Some(&id))).await);
        assert!(h.access_entries(cluster).get(SERVICE_ROLE).is_none());
    }
}

#[tokio::test]
async fn enable_access_entries_switches_a_config_map_cluster_then_uses_an_access_entry() {
    let h = Harness::start().await;
    // EKS's switch takes minutes (300 s here): simulated time runs 60 times as fast.
    h.sim.set_clock_scale(60.0);
    let mut p = props("legacy");
    p["EnableAccessEntries"] = json!("true");
    let resp = h.invoke(h.event("Create", p, None)).await;
    ok(&resp);
    assert_eq!(resp["Data"]["Method"], "AccessEntry");
    assert_eq!(
        h.sim.authentication_mode("legacy").as_deref(),
        Some("API_AND_CONFIG_MAP")
    );
    assert!(h.access_entries("legacy").get(SERVICE_ROLE).is_some());
}

#[tokio::test]
async fn an_adopted_entry_gets_the_policy_for_the_stacks_life_only() {
    // An entry made by hand, without the cluster-admin policy: the stack associates it, records
    // that on the entry, and its Delete takes back exactly that association.
    let h = Harness::start().await;
    let eks = h.clients_eks();
    eks.create_access_entry()
        .cluster_name("modern")
        .principal_arn(SERVICE_ROLE)
        .send()
        .await
        .unwrap();
    let resp = h.invoke(h.event("Create", props("modern"), None)).await;
    let id = ok(&resp);
    assert_eq!(resp["Data"]["Adopted"], "true");
    let entry = &h.access_entries("modern")[SERVICE_ROLE];
    assert!(
        entry["policies"]
            .as_object()
            .unwrap()
            .keys()
            .any(|p| p.ends_with("/AmazonEKSClusterAdminPolicy")),
        "{entry}"
    );
    ok(&h
        .invoke(h.event("Delete", props("modern"), Some(&id)))
        .await);
    let entry = &h.access_entries("modern")[SERVICE_ROLE];
    assert!(!entry.is_null(), "the adopted entry stays");
    assert_eq!(
        entry["policies"],
        json!({}),
        "no cluster-admin left behind: {entry}"
    );
    assert!(
        entry["tags"]
            .as_object()
            .is_none_or(|t| t.keys().all(|k| !k.starts_with("eks-role-mapper/"))),
        "{entry}"
    );
}

#[tokio::test]
async fn an_existing_access_entry_is_adopted_and_survives_delete() {
    let h = Harness::start().await;
    let first = ok(&h.invoke(h.event("Create", props("modern"), None)).await);
    // Another resource (its own logical id) mapping the same role finds the entry there.
    let mut other = h.event("Create", props("modern"), None);
    other["LogicalResourceId"] = json!("OtherMapping");
    let second = h.invoke(other).await;
    assert_eq!(second["Data"]["Adopted"], "true");
    let adopted_id = ok(&second);
    assert_ne!(first, adopted_id);
    // CloudFormation deletes the other resource: its own logical id.
    let mut delete = h.event("Delete", props("modern"), Some(&adopted_id));
    delete["LogicalResourceId"] = json!("OtherMapping");
    ok(&h.invoke(delete).await);
    assert!(
        h.access_entries("modern").get(SERVICE_ROLE).is_some(),
        "adopted entry stays"
    );
}

#[tokio::test]
async fn a_mapping_made_by_hand_before_create_is_adopted_and_survives_delete() {
    let h = Harness::start().await;
    // The seed's Step 2 already ran: the role is mapped with a path-less, upper-case variant.
    let mut data = h.aws_auth_data("legacy");
    let by_hand = SERVICE_ROLE.replace("RoleForAccessingEksAndEcr", "ROLEFORACCESSINGEKSANDECR");
    data["mapRoles"] = json!(format!(
        "{}- rolearn: {by_hand}\n  username: by-hand\n  groups:\n  - system:masters\n",
        data["mapRoles"].as_str().unwrap()
    ));
    h.sim
        .set_config_map_data("legacy", "kube-system", "aws-auth", Some(data));
    let resp = h
        .invoke(h.event("Create", with_admin("legacy"), None))
        .await;
    let id = ok(&resp);
    assert_eq!(resp["Data"]["Adopted"], "true");
    ok(&h
        .invoke(h.event("Delete", with_admin("legacy"), Some(&id)))
        .await);
    assert_eq!(
        entries_for(&h.map_roles("legacy"), &by_hand).len(),
        1,
        "the adopted mapping is left in place"
    );
}

#[tokio::test]
async fn running_create_twice_gives_the_same_id_and_one_entry() {
    let h = Harness::start().await;
    let a = ok(&h
        .invoke(h.event("Create", with_admin("legacy"), None))
        .await);
    let text = h.aws_auth_data("legacy");
    let b = h
        .invoke(h.event("Update", with_admin("legacy"), Some(&a)))
        .await;
    assert_eq!(ok(&b), a);
    assert_eq!(
        h.sim
            .config_map("legacy", "kube-system", "aws-auth")
            .unwrap()["data"],
        text
    );
    assert_eq!(entries_for(&h.map_roles("legacy"), SERVICE_ROLE).len(), 1);
}

#[tokio::test]
async fn update_of_groups_is_in_place_and_rollback_restores_them() {
    let h = Harness::start().await;
    let id = ok(&h
        .invoke(h.event("Create", with_admin("legacy"), None))
        .await);
    let mut p = with_admin("legacy");
    p["Groups"] = json!(["system:masters", "concurrent-admins"]);
    assert_eq!(ok(&h.invoke(h.event("Update", p, Some(&id))).await), id);
    assert_eq!(
        entries_for(&h.map_roles("legacy"), SERVICE_ROLE)[0]["groups"],
        json!(["system:masters", "concurrent-admins"])
    );
    assert_eq!(
        ok(&h
            .invoke(h.event("Update", with_admin("legacy"), Some(&id)))
            .await),
        id
    );
    assert_eq!(
        entries_for(&h.map_roles("legacy"), SERVICE_ROLE)[0]["groups"],
        json!(["system:masters"])
    );
}

#[tokio::test]
async fn changing_the_role_replaces_the_resource_and_the_later_delete_removes_only_the_old_role() {
    let h = Harness::start().await;
    let old = ok(&h
        .invoke(h.event("Create", with_admin("legacy"), None))
        .await);
    let new_role = "arn:aws:iam::111122223333:role/other-service";
    let mut p = with_admin("legacy");
    p["RoleArn"] = json!(new_role);
    let new = ok(&h.invoke(h.event("Update", p.clone(), Some(&old))).await);
    assert_ne!(new, old);
    ok(&h
        .invoke(h.event("Delete", with_admin("legacy"), Some(&old)))
        .await);
    let roles = h.map_roles("legacy");
    assert!(entries_for(&roles, SERVICE_ROLE).is_empty());
    assert_eq!(entries_for(&roles, new_role).len(), 1);
}

#[tokio::test]
async fn deletes_of_things_that_are_gone_succeed() {
    let h = Harness::start().await;
    // An id this function never made (Delete after a failed Create).
    let foreign = h
        .invoke(h.event("Delete", props("legacy"), Some("failed-req-0")))
        .await;
    assert_eq!(ok(&foreign), "failed-req-0");
    // The id this resource has, for clusters and entries that are gone.
    let role = eks_role_mapper::arn::RoleArn::parse("RoleArn", SERVICE_ROLE).unwrap();
    let id = eks_role_mapper::Recorded {
        region: "us-east-1".into(),
        owner: eks_role_mapper::ownership::owner_key(integration::STACK_ID, "Mapping", &role),
        role,
    }
    .encode();
    // A cluster that no longer exists.
    ok(&h
        .invoke(h.event("Delete", props("deleted-cluster"), Some(&id)))
        .await);
    // An access entry that is not there.
    ok(&h
        .invoke(h.event("Delete", props("modern"), Some(&id)))
        .await);
    // A ConfigMap that was removed.
    let id = ok(&h
        .invoke(h.event("Create", with_admin("legacy"), None))
        .await);
    h.sim
        .set_config_map_data("legacy", "kube-system", "aws-auth", None);
    let resp = h
        .invoke(h.event("Delete", with_admin("legacy"), Some(&id)))
        .await;
    // Without aws-auth the admin role is no longer mapped either: that is a clear failure, not a hang.
    assert!(
        resp["Status"] == "SUCCESS" || failed(&resp).contains("refused"),
        "{resp}"
    );
}

#[tokio::test]
async fn conflicting_writers_are_retried_and_nothing_is_lost() {
    let h = Harness::start().await;
    let before = h.map_roles("legacy");
    h.sim.inject("k8s:update", Fault::Conflict, 3);
    ok(&h
        .invoke(h.event("Create", with_admin("legacy"), None))
        .await);
    let after = h.map_roles("legacy");
    assert_eq!(&after[..before.len()], &before[..]);
    let updates = h
        .sim
        .request_log()
        .iter()
        .filter(|r| r.op == "k8s:update")
        .count();
    assert_eq!(updates, 4, "three conflicts then one write");
    h.sim.assert_faults_fired();
}

#[tokio::test]
async fn broken_map_roles_is_left_byte_identical() {
    let h = Harness::start().await;
    let mut data = h.aws_auth_data("legacy");
    data["mapRoles"] = json!(
        "- rolearn: arn:aws:iam::111122223333:role/cluster-admin-role\n  groups: [system:masters\n"
    );
    h.sim
        .set_config_map_data("legacy", "kube-system", "aws-auth", Some(data));
    let before = h.sim.config_map("legacy", "kube-system", "aws-auth");
    // The admin role is unusable too: EKS drops every role mapping when mapRoles does not parse.
    let reason = failed(
        &h.invoke(h.event("Create", with_admin("legacy"), None))
            .await,
    );
    assert!(
        reason.contains("refused") || reason.contains("mapRoles"),
        "{reason}"
    );
    assert_eq!(
        h.sim.config_map("legacy", "kube-system", "aws-auth"),
        before
    );
}

#[tokio::test]
async fn the_cluster_creator_refuses_to_edit_broken_map_roles() {
    let h = Harness::with(eks_sim::Scenario::default_scenario(), "admin").await;
    let mut data = h.aws_auth_data("legacy");
    data["mapRoles"] = json!("- rolearn: [unclosed\n");
    h.sim
        .set_config_map_data("legacy", "kube-system", "aws-auth", Some(data));
    let before = h.sim.config_map("legacy", "kube-system", "aws-auth");
    let reason = failed(&h.invoke(h.event("Create", props("legacy"), None)).await);
    assert!(
        reason.starts_with("aws-auth: existing mapRoles does not parse"),
        "{reason}"
    );
    assert_eq!(
        h.sim.config_map("legacy", "kube-system", "aws-auth"),
        before
    );
}

#[tokio::test]
async fn a_missing_config_map_is_created_with_only_our_entry() {
    let h = Harness::with(eks_sim::Scenario::default_scenario(), "admin").await;
    h.sim
        .set_config_map_data("legacy", "kube-system", "aws-auth", None);
    ok(&h.invoke(h.event("Create", props("legacy"), None)).await);
    let roles = h.map_roles("legacy");
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["rolearn"], SERVICE_ROLE);
}

#[tokio::test]
async fn yaml_1_1_bool_and_number_words_stay_strings_so_node_roles_keep_their_access() {
    // The authenticator decodes aws-auth as YAML 1.1: `on`, `yes` or `1_000` written plain would be
    // a bool or a number there, and the whole mapRoles (node roles too) would stop decoding.
    // A node's session: EC2 instances assume their node role with the instance id as the session
    // name, which the authenticator's {{EC2PrivateDNSName}} needs.
    const NODE: &str =
        "arn:aws:sts::111122223333:assumed-role/eks-node-group-a/i-0123456789abcdef0";
    const HAND: &str = "arn:aws:iam::111122223333:role/by-hand";
    let h = Harness::start().await;
    let data = h
        .sim
        .config_map("legacy", "kube-system", "aws-auth")
        .unwrap()["data"]
        .clone();
    let mut data = data.as_object().unwrap().clone();
    let map_roles = format!(
        "{}- rolearn: {HAND}\n  username: \"no\"\n  groups: ['1_000', \"0x1F\"]\n",
        data["mapRoles"].as_str().unwrap()
    );
    data.insert("mapRoles".into(), json!(map_roles));
    h.sim
        .set_config_map_data("legacy", "kube-system", "aws-auth", Some(json!(data)));
    assert!(h.sim.identity_of("legacy", NODE).is_some());

    let mut p = with_admin("legacy");
    p["Username"] = json!("on");
    p["Groups"] = json!(["yes", "system:masters"]);
    ok(&h.invoke(h.event("Create", p, None)).await);

    let ours = h
        .sim
        .identity_of("legacy", SERVICE_ROLE)
        .expect("our role is mapped");
    assert_eq!(ours.username, "on");
    assert_eq!(ours.groups, ["yes", "system:masters"]);
    let hand = h
        .sim
        .identity_of("legacy", HAND)
        .expect("the hand-made entry still decodes");
    assert_eq!(
        (hand.username.as_str(), hand.groups),
        ("no", vec!["1_000".to_string(), "0x1F".to_string()])
    );
    let node = h
        .sim
        .identity_of("legacy", NODE)
        .expect("node roles keep their access");
    assert_eq!(
        node.username,
        "system:node:ip-0123456789abcdef0.ec2.internal"
    );
}

#[tokio::test]
async fn injection_attempts_fail_naming_the_field_and_change_nothing() {
    let h = Harness::start().await;
    let state = h.sim.state_json()["clusters"].to_string();
    for (field, value) in [
        (
            "Username",
            json!("x\n- rolearn: arn:aws:iam::111122223333:role/evil\n  groups: [system:masters]"),
        ),
        ("Groups", json!(["system:masters\n- rolearn: evil"])),
        (
            "RoleArn",
            json!(format!("{SERVICE_ROLE}\n  groups: [system:masters]")),
        ),
        ("RoleArn", json!("arn:aws:iam::111122223333:role/a: b")),
    ] {
        let mut p = with_admin("legacy");
        p[field] = value;
        let reason = failed(&h.invoke(h.event("Create", p, None)).await);
        assert!(reason.starts_with(&format!("{field}: ")), "{reason}");
    }
    assert_eq!(h.sim.state_json()["clusters"].to_string(), state);
}

#[tokio::test]
async fn an_sso_role_with_its_path_is_written_path_less_into_aws_auth_and_matched() {
    // aws-iam-authenticator keys mapRoles by the rolearn as written and looks callers up by their
    // path-less role ARN: an entry with the path would never match (the simulator holds to that).
    let h = Harness::start().await;
    let sso = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0a1b2c";
    let path_less = "arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0a1b2c";
    // A session of the role, as STS names it to the authenticator (no path).
    let session = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b2c/jane";
    assert!(
        h.sim.identity_of("legacy", session).is_none(),
        "not mapped yet"
    );
    let mut p = with_admin("legacy");
    p["RoleArn"] = json!(sso);
    let id = ok(&h.invoke(h.event("Create", p.clone(), None)).await);
    assert_eq!(
        entries_for(&h.map_roles("legacy"), sso).len(),
        0,
        "no path in aws-auth"
    );
    assert_eq!(entries_for(&h.map_roles("legacy"), path_less).len(), 1);
    assert!(
        h.sim.identity_of("legacy", session).is_some(),
        "the authenticator matches the SSO role's sessions"
    );
    // The same role named without its path is the same mapping: adopted, no duplicate.
    let mut q = p.clone();
    q["RoleArn"] = json!(path_less);
    let mut second = h.event("Create", q, None);
    second["LogicalResourceId"] = json!("OtherMapping");
    let other = h.invoke(second).await;
    assert_eq!(other["Data"]["Adopted"], "true");
    assert_eq!(entries_for(&h.map_roles("legacy"), path_less).len(), 1);
    ok(&h.invoke(h.event("Delete", p, Some(&id))).await);
    assert!(h
        .map_roles("legacy")
        .iter()
        .all(|e| !e["rolearn"].as_str().unwrap().contains("AWSReservedSSO")));
}

#[tokio::test]
async fn an_entry_written_with_the_roles_path_is_rewritten_so_the_authenticator_matches_it() {
    let h = Harness::start().await;
    let sso = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0a1b2c";
    let mut data = h.aws_auth_data("legacy");
    data["mapRoles"] = json!(format!(
        "{}- rolearn: {sso}\n  username: by-hand\n  groups:\n  - system:masters\n",
        data["mapRoles"].as_str().unwrap()
    ));
    h.sim
        .set_config_map_data("legacy", "kube-system", "aws-auth", Some(data));
    let session = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b2c/jane";
    assert!(
        h.sim.identity_of("legacy", session).is_none(),
        "a path never matches"
    );
    let mut p = with_admin("legacy");
    p["RoleArn"] = json!(sso);
    let resp = h.invoke(h.event("Create", p, None)).await;
    ok(&resp);
    assert_eq!(
        resp["Data"]["Adopted"], "false",
        "it never worked: not adopted"
    );
    assert_eq!(entries_for(&h.map_roles("legacy"), sso).len(), 0);
    assert!(h.sim.identity_of("legacy", session).is_some());
}

#[tokio::test]
async fn the_deadline_sends_failed_before_the_lambda_dies() {
    let h = Harness::start().await;
    h.sim.inject(
        "eks:DescribeCluster",
        Fault::Delay(Duration::from_secs(8)),
        1,
    );
    let started = std::time::Instant::now();
    let resp = h
        .invoke_within(
            h.event("Create", props("modern"), None),
            Duration::from_secs(3),
        )
        .await;
    let reason = failed(&resp);
    assert!(
        reason.starts_with("timed out before the Lambda deadline"),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered at {:?}",
        started.elapsed()
    );
    h.sim.assert_faults_fired();
}

#[tokio::test]
async fn a_panic_in_the_work_still_answers_failed_once() {
    let h = Harness::start().await;
    let event = h.event("Create", props("modern"), None);
    let request = eks_role_mapper::Request::parse(&event, true).unwrap();
    let deadline = std::time::SystemTime::now() + Duration::from_secs(10);
    let body = eks_role_mapper::respond_with(
        h.clients.sender(),
        &request.envelope,
        deadline,
        &eks_role_mapper::Progress::default(),
        None::<(&eks_role_mapper::HandOver, &eks_role_mapper::Clients)>,
        async {
            panic!("boom");
        },
    )
    .await
    .unwrap()
    .expect("answered, not handed over");
    assert_eq!(body.status, "FAILED");
    assert_eq!(h.sim.responses().len(), 1);
    assert!(h.sim.responses()[0].body["Reason"]
        .as_str()
        .unwrap()
        .contains("panic"));
}

#[tokio::test]
async fn throttling_and_server_errors_from_eks_are_retried() {
    let h = Harness::start().await;
    h.sim.inject("eks:DescribeCluster", Fault::Throttle, 2);
    h.sim.inject("eks:CreateAccessEntry", Fault::Status(503), 1);
    ok(&h.invoke(h.event("Create", props("modern"), None)).await);
    h.sim.assert_faults_fired();
    assert!(h.access_entries("modern").get(SERVICE_ROLE).is_some());
}

#[tokio::test]
async fn the_response_put_is_retried_after_a_dropped_connection_and_a_5xx() {
    let h = Harness::start().await;
    h.sim.inject("cfn:response", Fault::Drop, 1);
    h.sim.inject("cfn:response", Fault::Status(500), 1);
    ok(&h.invoke(h.event("Create", props("modern"), None)).await);
    h.sim.assert_faults_fired();
    assert_eq!(h.sim.rejected_responses(), 0);
    assert_eq!(h.sim.responses()[0].content_type.as_deref(), Some(""));
}

#[tokio::test]
async fn a_mode_switch_longer_than_the_function_timeout_ends_success_through_continuations_with_one_answer(
) {
    // A 10-minute switch against a 240 s function timeout, both scaled 60 times: 10 s of switch,
    // 4 s per invocation. Each invocation hands the request over before its deadline; the one
    // that sees the switch done grants and answers, once.
    let mut scenario = eks_sim::Scenario::default_scenario();
    for c in scenario.clusters.iter_mut().filter(|c| c.name == "legacy") {
        c.authentication_mode_switch_seconds = 600.0;
    }
    let h = Harness::with(scenario, "mapper-lambda-role").await;
    h.sim.set_clock_scale(60.0);
    let mut p = props("legacy");
    p["EnableAccessEntries"] = json!("true");
    let started = std::time::Instant::now();
    let (resp, invocations) = h
        .invoke_counting(h.event("Create", p, None), Duration::from_secs(4))
        .await;
    ok(&resp);
    assert_eq!(resp["Data"]["Method"], "AccessEntry", "{resp}");
    assert!(
        invocations >= 3,
        "handed over while the switch ran: {invocations} invocations"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        h.sim.authentication_mode("legacy").as_deref(),
        Some("API_AND_CONFIG_MAP")
    );
    assert!(h.access_entries("legacy").get(SERVICE_ROLE).is_some());
    let switches = h
        .sim
        .request_log()
        .iter()
        .filter(|r| r.op == "eks:UpdateClusterConfig" && r.status == 200)
        .count();
    assert_eq!(
        switches, 1,
        "the switch is started once; later invocations wait on it"
    );
    eprintln!(
        "continuations: {invocations} invocations, {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_role_made_moments_before_is_granted_once_iam_has_propagated_it() {
    // The template makes the role just before the custom resource: for iam_propagation_seconds
    // (20) EKS calls it an invalid principal. Simulated time runs 10 times as fast (2 s).
    let h = Harness::start().await;
    let fresh = "arn:aws:iam::111122223333:role/0d9e1f2a-RoleForAccessingEksAndEcr";
    h.sim.create_role(fresh);
    h.sim.set_clock_scale(10.0);
    let mut p = props("modern");
    p["RoleArn"] = json!(fresh);
    let started = std::time::Instant::now();
    let resp = h.invoke(h.event("Create", p, None)).await;
    ok(&resp);
    let log = h.sim.request_log();
    let refused = log
        .iter()
        .filter(|r| r.op == "eks:CreateAccessEntry" && r.status == 400)
        .count();
    assert!(refused >= 1, "EKS refused the new role at first");
    assert!(h.access_entries("modern").get(fresh).is_some());
    eprintln!(
        "propagation: {refused} refusals, SUCCESS after {:?} (20 s simulated)",
        started.elapsed()
    );
}

/// Moves a cluster to API_AND_CONFIG_MAP by hand (the same UpdateClusterConfig the opt-in uses),
/// as a customer migrating to access entries does.
async fn switch_to_access_entries(h: &Harness, cluster: &str) {
    use eks_role_mapper::cloud::{Cloud, Connect};
    // The switch takes 300 simulated seconds: 5 s of wall clock.
    h.sim.set_clock_scale(60.0);
    h.clients
        .connect("us-east-1", None)
        .enable_access_entries(cluster)
        .await
        .expect("the mode switch finishes");
    assert_eq!(
        h.sim.authentication_mode(cluster).as_deref(),
        Some("API_AND_CONFIG_MAP")
    );
}

/// A Create on the CONFIG_MAP cluster: its aws-auth before, and the resource's id.
async fn granted_through_aws_auth() -> (Harness, Vec<Value>, String) {
    let h = Harness::start().await;
    let before = h.map_roles("legacy");
    let id = ok(&h
        .invoke(h.event("Create", with_admin("legacy"), None))
        .await);
    assert_eq!(entries_for(&h.map_roles("legacy"), SERVICE_ROLE).len(), 1);
    (h, before, id)
}

#[tokio::test]
async fn a_cluster_switched_to_access_entries_after_create_loses_our_aws_auth_entry_on_delete() {
    let (h, before, id) = granted_through_aws_auth().await;
    switch_to_access_entries(&h, "legacy").await;
    // The dry run sees the same: our aws-auth entry is what a Delete would remove.
    let plan = h
        .dry_run(h.event("Delete", with_admin("legacy"), Some(&id)))
        .await
        .expect("plan");
    let writes: Vec<_> = plan.writes().collect();
    assert_eq!(writes.len(), 1, "{plan}");
    assert_eq!(writes[0].op, "k8s:update", "{plan}");
    assert!(
        writes[0]
            .map_roles_diff
            .as_deref()
            .unwrap()
            .contains(&format!("-- rolearn: {SERVICE_ROLE}")),
        "{plan}"
    );
    ok(&h
        .invoke(h.event("Delete", with_admin("legacy"), Some(&id)))
        .await);
    assert_eq!(
        h.map_roles("legacy"),
        before,
        "our entry is gone and every other entry kept"
    );
    assert!(h.access_entries("legacy").get(SERVICE_ROLE).is_none());
}

#[tokio::test]
async fn an_update_after_a_switch_moves_the_grant_from_aws_auth_to_an_access_entry() {
    // Both ways a CONFIG_MAP cluster comes to allow access entries after the Create: switched by
    // hand, or by the Update itself with EnableAccessEntries.
    for by_hand in [true, false] {
        let (h, before, id) = granted_through_aws_auth().await;
        h.sim.set_clock_scale(60.0);
        let mut p = with_admin("legacy");
        if by_hand {
            switch_to_access_entries(&h, "legacy").await;
        } else {
            p["EnableAccessEntries"] = json!("true");
        }
        let plan = h
            .dry_run(h.update_event(p.clone(), with_admin("legacy"), &id))
            .await
            .expect("plan");
        let writes: Vec<&str> = plan.writes().map(|c| c.op).collect();
        let expected: &[&str] = if by_hand {
            &[
                "eks:CreateAccessEntry",
                "eks:AssociateAccessPolicy",
                "k8s:update",
            ]
        } else {
            &[
                "eks:UpdateClusterConfig",
                "eks:CreateAccessEntry",
                "eks:AssociateAccessPolicy",
                "k8s:update",
            ]
        };
        assert_eq!(writes, expected, "{plan}");
        let resp = h
            .invoke(h.update_event(p.clone(), with_admin("legacy"), &id))
            .await;
        assert_eq!(ok(&resp), id, "in place");
        assert_eq!(resp["Data"]["Method"], "AccessEntry", "{resp}");
        assert!(h.access_entries("legacy").get(SERVICE_ROLE).is_some());
        assert_eq!(
            h.map_roles("legacy"),
            before,
            "the aws-auth entry the access entry stands in for is gone, every other entry kept (by hand: {by_hand})"
        );
        // The rollback keeps the access: the access entry is there, nothing moves back.
        ok(&h
            .invoke(h.update_event(with_admin("legacy"), p.clone(), &id))
            .await);
        assert!(h.access_entries("legacy").get(SERVICE_ROLE).is_some());
        ok(&h.invoke(h.event("Delete", p, Some(&id))).await);
        assert!(h.access_entries("legacy").get(SERVICE_ROLE).is_none());
        assert_eq!(h.map_roles("legacy"), before);
    }
}

#[tokio::test]
async fn a_delete_that_cannot_look_into_aws_auth_of_an_api_and_config_map_cluster_still_succeeds() {
    let h = Harness::start().await;
    // The access entry made by Create is removed by hand: Delete then looks into aws-auth, where
    // the function's own role is not mapped (401), and passes over it.
    let id = ok(&h.invoke(h.event("Create", props("hybrid"), None)).await);
    h.clients
        .eks("us-east-1")
        .delete_access_entry()
        .cluster_name("hybrid")
        .principal_arn(SERVICE_ROLE)
        .send()
        .await
        .unwrap();
    h.sim.clear_request_log();
    ok(&h
        .invoke(h.event("Delete", props("hybrid"), Some(&id)))
        .await);
    let k8s: Vec<u16> = h
        .sim
        .request_log()
        .iter()
        .filter(|r| r.op.starts_with("k8s:"))
        .map(|r| r.status)
        .collect();
    // A 401 is tried again twice (an authenticator restarting answers 401 for seconds).
    assert_eq!(k8s, [401, 401, 401], "one look into aws-auth, refused");
    // A Kubernetes API that does not answer (no network path) costs a bounded time.
    h.sim
        .inject("k8s:get", Fault::Delay(Duration::from_secs(40)), 1);
    let start = std::time::Instant::now();
    ok(&h
        .invoke(h.event("Delete", with_admin("hybrid"), Some(&id)))
        .await);
    let took = start.elapsed();
    assert!(
        took < eks_role_mapper::SWITCHED_LOOK + Duration::from_secs(3),
        "{took:?}"
    );
    h.sim.assert_faults_fired();
    // With an entry of ours in place there is nothing to look for in aws-auth.
    let id = ok(&h.invoke(h.event("Create", props("hybrid"), None)).await);
    h.sim.clear_request_log();
    ok(&h
        .invoke(h.event("Delete", props("hybrid"), Some(&id)))
        .await);
    assert!(h
        .sim
        .request_log()
        .iter()
        .all(|r| !r.op.starts_with("k8s:")));
    assert!(h.access_entries("hybrid").get(SERVICE_ROLE).is_none());
}
