//! Issue 29, Step 2 done on upgrade: the original Step 2 script (fixtures/patch-aws-auth.sh, run
//! twice with real kubectl) left the role's entry twice in `legacy`'s aws-auth; the upgraded
//! stack's custom resource runs a Create that leaves exactly one, which the stack owns: its
//! Delete leaves none. Played by `cfn-replay stack --from-template` on the simulator, and its
//! Create and Delete on the real control plane (kube-apiserver with the real EKS authenticator).

use std::cell::RefCell;

use cfn_replay::stack::{run_scenario_observed, StackOptions, Step};
use eks_sim::{Scenario, Simulator};
use integration::rendered::{render_in, template_path, MOTO_ACCOUNT};
use integration::{
    entries_for, eventually, is, legacy_props, refused, start_moto, text, ClientEnv, Harness,
    ADMIN_ROLE, LEGACY_ARN, SERVICE_ROLE, SERVICE_ROLE_NAME,
};
use serde_json::{json, Value};

use crate::upgrade_original::original_path;

/// The service's account in these stacks.
const SERVICE_ACCOUNT: &str = "210987654321";

/// After one step: its number, the role's entries and every other entry of legacy's aws-auth.
type Seen = (usize, Vec<Value>, Vec<Value>);

/// mapRoles entries of a ConfigMap object (JSON).
fn map_roles(cm: &Value) -> Vec<Value> {
    serde_yaml_ng::from_str(cm["data"]["mapRoles"].as_str().unwrap_or("[]")).unwrap()
}

/// Runs the original Step 2 twice; asserts both runs patched aws-auth.
fn seed_step_2_twice(env: &ClientEnv, role: &str) {
    for run in 1..=2 {
        let o = env.run_seed_step_2(role);
        assert!(
            text(&o).0.contains("configmap/aws-auth patched"),
            "run {run}: {:?}",
            text(&o)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_the_original_stack_leaves_one_entry_for_the_role_and_delete_none() {
    integration::capture_logs();
    let scenario = Scenario::default_scenario();
    // The original stack's role, as the replay will make it: its stack id is moto's, seeded, for
    // the stack name the replay uses.
    let role = {
        let (_moto, url) = start_moto();
        let given = [("ParallelsAWSAccount", SERVICE_ACCOUNT)];
        render_in(&url, &scenario.region, &original_path(), "replay", &given)
            .role("RoleForAccessingEksAndEcr")
            .arn
            .clone()
    };
    assert!(role.contains(MOTO_ACCOUNT), "{role}");
    let opts = StackOptions {
        template: template_path(),
        from_template: Some(original_path()),
        clock_scale: None,
        scenario: None,
        // No ExternalId: the original's RoleForConcurrentServiceExtId output (README's upgrade).
        parameters: [
            ("ParallelsAWSAccount", SERVICE_ACCOUNT),
            ("ConcurrentAccountId", SERVICE_ACCOUNT),
            ("ClusterName", "legacy"),
            ("ClusterAdminRoleArn", ADMIN_ROLE),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        steps: vec![Step::Delete],
        venv: None,
    };
    // After each step: the role's entries and every other entry of legacy's aws-auth.
    let seen: RefCell<Vec<Seen>> = RefCell::default();
    let mut observe = |step: usize, sim: &Simulator| {
        if step == 0 {
            seed_step_2_twice(&ClientEnv::new(sim), &role);
        }
        let cm = sim.config_map("legacy", "kube-system", "aws-auth").unwrap();
        let all = map_roles(&cm);
        let (mine, others): (Vec<Value>, Vec<Value>) =
            all.into_iter().partition(|e| e["rolearn"] == json!(role));
        seen.borrow_mut().push((step, mine, others));
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let clean = run_scenario_observed(scenario, &opts, &mut out, &mut err, &mut observe)
        .await
        .expect("the lifecycle runs");
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(clean, "{out}\n{}", String::from_utf8_lossy(&err));
    let steps: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["Action"].as_str().unwrap(),
                l["StackStatus"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("create", "CREATE_COMPLETE"),
            ("update", "UPDATE_COMPLETE"),
            ("delete", "DELETE_COMPLETE")
        ],
        "{out}"
    );
    // The original stack has no custom resource; the update creates it.
    assert_eq!(lines[0]["Calls"], json!([]));
    assert_eq!(lines[1]["Calls"][0]["RequestType"], "Create", "{out}");
    assert_eq!(lines[1]["Calls"][0]["Status"], "SUCCESS", "{out}");

    let seen = seen.into_inner();
    let others = seen[0].2.clone();
    assert_eq!(others.len(), 3, "the scenario's node and admin entries");
    let counts: Vec<usize> = seen.iter().map(|(_, mine, _)| mine.len()).collect();
    assert_eq!(
        counts,
        [2, 1, 0],
        "the seed's two, one after the upgrade, none after the delete"
    );
    assert_eq!(
        seen[1].1[0],
        json!({"rolearn": role, "username": role, "groups": ["system:masters"]})
    );
    for (step, _, o) in &seen {
        assert_eq!(o, &others, "step {step}: every other entry kept as it was");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_the_real_control_plane_the_upgrades_create_keeps_one_entry_the_authenticator_accepts() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let env = ClientEnv::new(&h.sim);
    let role = env.as_role(SERVICE_ROLE_NAME);
    let entries = || {
        let o = env.kubectl(
            &integration::kubectl(),
            &[
                "--context",
                LEGACY_ARN,
                "get",
                "configmap",
                "aws-auth",
                "-n",
                "kube-system",
                "-o",
                "json",
            ],
        );
        assert!(o.status.success(), "{:?}", text(&o));
        let cm: Value = serde_json::from_slice(&o.stdout).unwrap();
        entries_for(&map_roles(&cm), SERVICE_ROLE).len()
    };
    refused(role.whoami(LEGACY_ARN)).expect("before Step 2 the role's token is refused");

    // The customer's state before the upgrade: the original Step 2, run twice.
    seed_step_2_twice(&env, SERVICE_ROLE);
    assert_eq!(entries(), 2);
    eventually("the role after the original Step 2", || {
        is(role.whoami(LEGACY_ARN), SERVICE_ROLE, &["system:masters"])
    });

    // The upgraded stack's new custom resource: a Create.
    let created = h
        .invoke(h.event("Create", legacy_props(json!({})), None))
        .await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(
        created["Data"]["Adopted"], "false",
        "taken over, not adopted"
    );
    assert_eq!(entries(), 1);
    eventually("the role after the upgrade", || {
        is(role.whoami(LEGACY_ARN), SERVICE_ROLE, &["system:masters"])
    });
    assert!(role.can_i(LEGACY_ARN, &["*", "*"]));

    // The stack's Delete (which deletes the role) leaves no entry for it.
    let pid = created["PhysicalResourceId"].as_str().unwrap().to_string();
    let deleted = h
        .invoke(h.event("Delete", legacy_props(json!({})), Some(&pid)))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(entries(), 0);
    eventually("the role after the Delete", || {
        refused(role.whoami(LEGACY_ARN))
    });
    is(
        env.as_role("cluster-admin-role").whoami(LEGACY_ARN),
        "cluster-admin",
        &["system:masters"],
    )
    .expect("the other entries still authenticate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_refuses_an_upgrade_that_leaves_external_id_empty_and_changes_nothing() {
    integration::capture_logs();
    let opts = StackOptions {
        template: template_path(),
        from_template: Some(original_path()),
        clock_scale: None,
        scenario: None,
        parameters: [
            ("ParallelsAWSAccount", SERVICE_ACCOUNT),
            ("ConcurrentAccountId", SERVICE_ACCOUNT),
            ("ClusterName", "legacy"),
            ("ClusterAdminRoleArn", ADMIN_ROLE),
            // Left empty: a generated one would replace the trust's and the export's.
            ("ExternalId", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        steps: vec![],
        venv: None,
    };
    let before = RefCell::new(None);
    let mut observe = |step: usize, sim: &Simulator| {
        let cm = sim.config_map("legacy", "kube-system", "aws-auth").unwrap();
        before.borrow_mut().get_or_insert(cm.clone());
        assert_eq!(
            before.borrow().as_ref(),
            Some(&cm),
            "step {step}: aws-auth untouched"
        );
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    // The template's rule refuses the update, as CloudFormation refuses UpdateStack before it
    // changes anything: the custom resource never runs.
    let refused = run_scenario_observed(
        Scenario::default_scenario(),
        &opts,
        &mut out,
        &mut err,
        &mut observe,
    )
    .await
    .expect_err("the upgrade is refused");
    let reason = refused.to_string();
    assert!(
        reason.contains("ExternalId must be the stack's current RoleForConcurrentServiceExtId"),
        "{reason}"
    );
    assert!(String::from_utf8(out).unwrap().is_empty(), "no step ran");
}
