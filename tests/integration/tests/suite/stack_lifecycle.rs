//! `cfn-replay stack`: whole stack lifecycles in CloudFormation's order with the rendered policy
//! in force at each step, and their final statuses.

use cfn_replay::stack::{run_scenario_observed, StackOptions, Step};
use integration::rendered::template_path;
use integration::{scenario_with_clusters, ADMIN_ROLE};
use serde_json::Value;

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Plays the lifecycle; returns (clean?, the JSON lines).
async fn play(
    scenario: eks_sim::Scenario,
    create: &[(&str, &str)],
    steps: Vec<Step>,
) -> (bool, Vec<Value>) {
    play_observed(scenario, create, steps, &mut |_, _| {}).await
}

/// [`play`], with `observe` shown the simulator after each step.
async fn play_observed(
    scenario: eks_sim::Scenario,
    create: &[(&str, &str)],
    steps: Vec<Step>,
    observe: &mut dyn FnMut(usize, &eks_sim::Simulator),
) -> (bool, Vec<Value>) {
    integration::capture_logs();
    let mut params = kv(&[
        ("ConcurrentAccountId", "210987654321"),
        ("ExternalId", "given-external-id-1234"),
    ]);
    params.extend(kv(create));
    let opts = StackOptions {
        template: template_path(),
        from_template: None,
        scenario: None,
        parameters: params,
        steps,
        venv: None,
        clock_scale: None,
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    // The stack's role is made just before the custom resource and EKS refuses it until IAM has
    // propagated it (20 s): simulated time runs 20 times as fast.
    let mut scenario = scenario;
    scenario.clock_scale = 20.0;
    let clean = run_scenario_observed(scenario, &opts, &mut out, &mut err, observe)
        .await
        .expect("the lifecycle runs");
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (clean, lines)
}

fn statuses(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["StackStatus"].as_str().unwrap().to_string())
        .collect()
}

/// Nothing was refused by IAM along the way.
fn none_refused_by_iam(lines: &[Value]) {
    for l in lines {
        for c in l["Calls"].as_array().unwrap() {
            assert!(
                !c["Reason"].as_str().unwrap().contains("not authorized"),
                "{l}"
            );
        }
    }
}

fn update(pairs: &[(&str, &str)]) -> Step {
    Step::Update(kv(pairs))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_a_cluster_add_it_back_star_and_names_a_forced_failure_and_delete() {
    let (clean, lines) = play(
        eks_sim::Scenario::default_scenario(),
        &[
            ("ClusterName", "modern,hybrid"),
            ("ClusterAdminRoleArn", ADMIN_ROLE),
        ],
        vec![
            update(&[("ClusterName", "modern")]),
            update(&[("ClusterName", "modern,hybrid")]),
            update(&[("ClusterName", "*")]),
            update(&[("ClusterName", "hybrid")]),
            update(&[("ClusterName", "no-such-cluster")]),
            update(&[("ClusterName", "modern"), ("EnableAccessEntries", "true")]),
            update(&[("ClusterName", "legacy")]),
            Step::Delete,
        ],
    )
    .await;
    assert_eq!(
        statuses(&lines),
        [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_COMPLETE",
            "DELETE_COMPLETE"
        ],
        "{lines:#?}"
    );
    assert!(!clean, "a rollback happened");
    let failed = &lines[5];
    assert!(failed["Reason"]
        .as_str()
        .unwrap()
        .contains("no-such-cluster"));
    assert_eq!(
        failed["Calls"].as_array().unwrap().len(),
        2,
        "update, rollback"
    );
    none_refused_by_iam(&lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_to_other_names_and_map_role_off_and_on() {
    let (clean, lines) = play(
        eks_sim::Scenario::default_scenario(),
        &[("ClusterName", "modern")],
        vec![
            update(&[("ClusterName", "hybrid")]),
            update(&[("MapRole", "false")]),
            update(&[("MapRole", "true")]),
            Step::Delete,
        ],
    )
    .await;
    assert!(clean, "{lines:#?}");
    assert_eq!(
        statuses(&lines),
        [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_COMPLETE",
            "DELETE_COMPLETE"
        ]
    );
}

/// `n` API clusters whose names are `len` characters long.
fn long_named(n: usize, len: usize) -> (eks_sim::Scenario, String) {
    let mut s = scenario_with_clusters(n, "API");
    let mut names = Vec::new();
    for c in s.clusters.iter_mut().filter(|c| c.name.starts_with("c-")) {
        c.name = format!("{}{}", c.name, "x".repeat(len - c.name.len()));
        names.push(c.name.clone());
    }
    (s, names.join(","))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ten_and_a_hundred_clusters_with_the_longest_names_a_stack_takes() {
    // 100 names in ClusterName's 1,500 characters: 14 each (100-character names fit 14 at most).
    for (n, len) in [(1, 100), (10, 100), (100, 14)] {
        let (scenario, list) = long_named(n, len);
        let names: Vec<String> = list.split(',').map(str::to_string).collect();
        // After each step, the clusters of the list that hold an access entry of the stack's
        // service role (RoleForAccessingEksAndEcr, `<stack uuid>-RoleForAccessingEksAndEcr`).
        let mut granted: Vec<Vec<String>> = Vec::new();
        let (clean, lines) = play_observed(
            scenario,
            &[("ClusterName", &list), ("ClusterAdminRoleArn", ADMIN_ROLE)],
            vec![update(&[("ClusterName", "*")]), Step::Delete],
            &mut |_, sim| {
                let state = sim.state_json();
                granted.push(
                    names
                        .iter()
                        .filter(|c| {
                            state["clusters"][c.as_str()]["access_entries"]
                                .as_object()
                                .is_some_and(|entries| {
                                    entries
                                        .keys()
                                        .any(|arn| arn.ends_with("-RoleForAccessingEksAndEcr"))
                                })
                        })
                        .cloned()
                        .collect(),
                );
            },
        )
        .await;
        assert!(clean, "{n} x {len}: {lines:#?}");
        // Create and the update to `*`: every cluster granted; Delete: every one removed.
        assert_eq!(granted.len(), 3, "{n} x {len}: one look per step");
        assert_eq!(granted[0], names, "{n} x {len}: granted by the Create");
        assert_eq!(granted[1], names, "{n} x {len}: still granted under *");
        assert!(
            granted[2].is_empty(),
            "{n} x {len}: left after the Delete: {:?}",
            granted[2]
        );
    }
}

/// The schedule's reconcile under the policy the template renders: with `Reconcile` on, the
/// ownership check and every read are allowed and a standing grant is left as it is; after the
/// stack's Delete nothing is written; with `Reconcile` off a stray reconcile event sent to the
/// function can only re-apply the stack's own declared grant, which stands: nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_runs_under_the_rendered_policy_only_where_the_template_schedules_it() {
    let (clean, lines) = play(
        eks_sim::Scenario::default_scenario(),
        &[
            ("ClusterName", "modern,legacy"),
            ("ClusterAdminRoleArn", ADMIN_ROLE),
            ("Reconcile", "rate(1 hour)"),
        ],
        vec![Step::Reconcile, Step::Delete, Step::Reconcile],
    )
    .await;
    assert!(clean, "{lines:?}");
    assert_eq!(
        statuses(&lines),
        [
            "CREATE_COMPLETE",
            "CREATE_COMPLETE",
            "DELETE_COMPLETE",
            "DELETE_COMPLETE"
        ]
    );
    let first = &lines[1]["Reconcile"];
    assert_eq!(first["Verdict"], "Reconciled", "{first}");
    let outcomes: Vec<&str> = first["Clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["Unchanged", "Unchanged"], "{first}");
    assert_eq!(
        lines[3]["Reconcile"]["Verdict"], "StackGone",
        "{}",
        lines[3]
    );

    let (clean, lines) = play(
        eks_sim::Scenario::default_scenario(),
        &[("ClusterName", "modern")],
        vec![Step::Reconcile],
    )
    .await;
    assert!(clean, "{lines:?}");
    assert_eq!(
        lines[1]["Reconcile"]["Verdict"], "Reconciled",
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[1]["Reconcile"]["Clusters"][0]["Outcome"], "Unchanged",
        "{}",
        lines[1]
    );
}

/// What the role holds after a step: modern's policies with their scopes, legacy's bindings.
fn grant(sim: &eks_sim::Simulator) -> (Value, Vec<String>) {
    let state = sim.state_json();
    let clusters = &state["clusters"];
    let entries = clusters["modern"]["access_entries"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let policies = entries
        .values()
        .find(|e| {
            e["principal_arn"]
                .as_str()
                .unwrap()
                .ends_with("RoleForAccessingEksAndEcr")
        })
        .map_or(Value::Null, |e| e["policies"].clone());
    let bindings = clusters["legacy"]["rbac"]
        .as_object()
        .map_or_else(Vec::new, |m| m.keys().cloned().collect());
    (policies, bindings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_admin_to_view_in_a_namespace_to_edit_a_refused_namespace_rolled_back_and_delete() {
    let mut seen = Vec::new();
    let (clean, lines) = play_observed(
        eks_sim::Scenario::default_scenario(),
        &[
            ("ClusterName", "modern,legacy"),
            ("ClusterAdminRoleArn", ADMIN_ROLE),
        ],
        vec![
            update(&[("AccessLevel", "view"), ("Namespaces", "ml")]),
            update(&[("AccessLevel", "edit")]),
            update(&[("Namespaces", "ml,nope")]),
            Step::Delete,
        ],
        &mut |_, sim| seen.push(grant(sim)),
    )
    .await;
    assert_eq!(
        statuses(&lines),
        [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "DELETE_COMPLETE"
        ],
        "{lines:#?}"
    );
    assert!(!clean, "a rollback happened");
    none_refused_by_iam(&lines);
    let policy =
        |name: &str| format!("arn:aws:eks::aws:cluster-access-policy/AmazonEKS{name}Policy");
    let ml = serde_json::json!({"type": "namespace", "namespaces": ["ml"]});
    let owner_binding = |b: &[String], level: &str| {
        b.len() == 1
            && b[0].starts_with("rolebindings/ml/eks-role-mapper-")
            && b[0].ends_with(level)
    };
    let only = |p: &Value, name: &str| -> Value {
        let m = p.as_object().cloned().unwrap_or_default();
        assert_eq!(m.len(), 1, "one policy: {p}");
        m[&policy(name)].clone()
    };
    assert_eq!(
        only(&seen[0].0, "ClusterAdmin")["type"],
        "cluster",
        "{seen:?}"
    );
    assert!(seen[0].1.is_empty(), "{seen:?}");
    assert_eq!(only(&seen[1].0, "View"), ml, "{seen:?}");
    assert!(owner_binding(&seen[1].1, "-view"), "{seen:?}");
    assert_eq!(only(&seen[2].0, "Edit"), ml, "{seen:?}");
    assert!(owner_binding(&seen[2].1, "-edit"), "{seen:?}");
    assert!(
        lines[3]["Reason"]
            .as_str()
            .unwrap()
            .contains("Namespaces: namespace nope does not exist"),
        "{}",
        lines[3]
    );
    assert_eq!(seen[3], seen[2], "the rollback restores edit in ml");
    assert!(seen[4].1.is_empty(), "Delete takes the bindings: {seen:?}");
}
