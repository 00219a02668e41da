//! Issue 33: no rollback and no cleanup can fail on a cluster the failed request never wrote.
//! Each sequence is a failed Create, Update or Delete followed by CloudFormation's own next step,
//! played by `cfn-replay stack` with the rendered policy in force: `*` over a `CONFIG_MAP`
//! cluster the function cannot reach (`legacy`: its role is mapped to nothing there, 401), and a
//! cluster deleted between two steps. None may end in `*_ROLLBACK_FAILED` or `DELETE_FAILED`,
//! and nothing of the stack's role may be left on any cluster after its delete.

use cfn_replay::stack::{run_scenario_observed, StackOptions, Step};
use integration::rendered::template_path;
use serde_json::Value;

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The clusters where the stack's service role has an access entry or an aws-auth entry.
fn holding(sim: &eks_sim::Simulator) -> Vec<String> {
    let state = sim.state_json();
    let mut held = Vec::new();
    for (name, c) in state["clusters"].as_object().unwrap() {
        let entry = c["access_entries"]
            .as_object()
            .is_some_and(|e| e.keys().any(|a| a.ends_with("-RoleForAccessingEksAndEcr")));
        let aws_auth = c.to_string().contains("-RoleForAccessingEksAndEcr");
        if entry || aws_auth {
            held.push(name.clone());
        }
    }
    held
}

/// Plays the lifecycle; `between` acts on the simulator after each step (by its number). Returns
/// (clean?, the JSON lines, the clusters holding the role after each step).
async fn play(
    create: &[(&str, &str)],
    steps: Vec<Step>,
    between: &dyn Fn(usize, &eks_sim::Simulator),
) -> (bool, Vec<Value>, Vec<Vec<String>>) {
    integration::capture_logs();
    let mut params = kv(&[("ConcurrentAccountId", "210987654321")]);
    params.extend(kv(create));
    let mut opts = StackOptions::new(template_path(), params);
    opts.steps = steps;
    // IAM's 20 s propagation of the new role, 20 times as fast.
    opts.clock_scale = Some(20.0);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut held = Vec::new();
    let scenario = eks_sim::Scenario::default_scenario();
    let clean = run_scenario_observed(scenario, &opts, &mut out, &mut err, &mut |n, sim| {
        held.push(holding(sim));
        between(n, sim);
    })
    .await
    .expect("the lifecycle runs");
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (clean, lines, held)
}

fn statuses(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l["StackStatus"].as_str().unwrap())
        .collect()
}

fn update(pairs: &[(&str, &str)]) -> Step {
    Step::Update(kv(pairs))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_update_to_star_rolls_back_past_the_cluster_it_cannot_reach_then_deletes() {
    // The command: modern, then `*` (which fails on legacy), then delete.
    let (clean, lines, held) = play(
        &[("ClusterName", "modern")],
        vec![update(&[("ClusterName", "*")]), Step::Delete],
        &|_, _| {},
    )
    .await;
    assert_eq!(
        statuses(&lines),
        [
            "CREATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "DELETE_COMPLETE"
        ],
        "{lines:#?}"
    );
    assert!(!clean, "a rollback is not a clean run");
    let calls = lines[1]["Calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "the update, then its rollback: {calls:#?}");
    let reason = calls[0]["Reason"].as_str().unwrap();
    assert!(
        reason.contains("legacy") && reason.contains("(401)"),
        "{reason}"
    );
    assert_eq!(calls[1]["Status"], "SUCCESS", "the rollback: {calls:#?}");
    // The failed update granted hybrid; its rollback took that back; the delete took the rest.
    assert_eq!(held, [vec!["modern"], vec!["modern"], vec![]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_create_over_star_rolls_back_and_the_steps_after_it_are_skipped() {
    let (clean, lines, held) = play(
        &[("ClusterName", "*")],
        vec![update(&[("ClusterName", "modern")]), Step::Delete],
        &|_, _| {},
    )
    .await;
    assert!(!clean);
    assert_eq!(
        statuses(&lines),
        ["ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE", "DELETE_COMPLETE"],
        "{lines:#?}"
    );
    let calls = lines[0]["Calls"].as_array().unwrap();
    assert_eq!(calls[1]["RequestType"], "Delete");
    assert_eq!(calls[1]["Status"], "SUCCESS", "{calls:#?}");
    assert!(lines[1]["Skipped"]
        .as_str()
        .unwrap()
        .contains("ROLLBACK_COMPLETE"));
    assert_eq!(lines[1]["Action"], "update ClusterName=modern");
    assert!(held.iter().all(Vec::is_empty), "{held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_deleted_between_the_steps_fails_neither_an_update_nor_its_rollback() {
    // hybrid is deleted after the create. An update that keeps it passes it over; an update that
    // adds legacy fails there, and its rollback (back to the list without legacy) passes hybrid
    // over too; the delete completes. (A rollback from `*` back to a list naming a cluster deleted
    // meanwhile still fails: "deleted" and "never existed" read alike, and a typo after `*` must
    // fail.)
    let (_, lines, held) = play(
        &[("ClusterName", "modern,hybrid")],
        vec![
            update(&[("AccessLevel", "view")]),
            update(&[("ClusterName", "modern,hybrid,legacy")]),
            Step::Delete,
        ],
        &|n, sim| {
            if n == 0 {
                assert!(sim.delete_cluster("hybrid"));
                // DeleteCluster's time passes: hybrid is gone.
                sim.advance_clock(3600.0);
            }
        },
    )
    .await;
    assert_eq!(
        statuses(&lines),
        [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "DELETE_COMPLETE"
        ],
        "{lines:#?}"
    );
    assert_eq!(held.last().unwrap(), &Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_takes_back_what_the_failed_update_wrote_with_its_own_admin_role() {
    // The update adds legacy through an admin role and a cluster that does not exist: it grants
    // legacy (as the admin role), then fails. Its rollback goes back to modern alone, without the
    // admin role, whose identity (the function's role) legacy refuses: the grant the failed
    // update made there is taken back as the admin role that made it, not passed over.
    let admin = "arn:aws:iam::111122223333:role/cluster-admin-role";
    let (_, lines, held) = play(
        &[("ClusterName", "modern")],
        vec![
            update(&[
                ("ClusterName", "modern,legacy,no-such-cluster"),
                ("ClusterAdminRoleArn", admin),
            ]),
            Step::Delete,
        ],
        &|_, _| {},
    )
    .await;
    assert_eq!(
        statuses(&lines),
        [
            "CREATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "DELETE_COMPLETE"
        ],
        "{lines:#?}"
    );
    let calls = lines[1]["Calls"].as_array().unwrap();
    assert!(
        calls[0]["Reason"]
            .as_str()
            .unwrap()
            .contains("no-such-cluster"),
        "{calls:#?}"
    );
    assert_eq!(calls[1]["Status"], "SUCCESS", "{calls:#?}");
    assert_eq!(
        held[1],
        ["modern"],
        "legacy's grant was taken back: {held:?}"
    );
}
