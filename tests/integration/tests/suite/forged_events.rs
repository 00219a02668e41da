//! Forged events (issue 28): `cfn-replay stack ... --then invoke FILE` sends each file of
//! `events/forged/` to the stack's function directly, as a principal allowed only
//! `lambda:InvokeFunction` could, with the function configured as the rendered template
//! configures it. Each is refused with a Reason naming what it exceeds, nothing is written, and the
//! clusters (aws-auth, RBAC bindings, access entries) and the stack are as before.

use cfn_replay::stack::{run_scenario_observed, StackOptions, Step};
use integration::rendered::template_path;
use integration::ADMIN_ROLE;
use serde_json::Value;

/// Each forged file and the field its Reason must start with (a reconcile: its verdict).
const FORGED: &[(&str, &str)] = &[
    ("another-role", "RoleArn: beyond what the stack declared"),
    (
        "another-stack",
        "StackId: this function serves only the stack",
    ),
    (
        "higher-level",
        "AccessLevel: beyond what the stack declared",
    ),
    (
        "cluster-outside-the-list",
        "ClusterName: beyond what the stack declared",
    ),
    (
        "admin-role-not-configured",
        "ClusterAdminRoleArn: beyond what the stack declared",
    ),
    ("another-region", "Region: beyond what the stack declared"),
    (
        "forged-delete",
        "RequestType: CloudFormation is not making this request",
    ),
    (
        "forged-update-dropping-the-cluster",
        "RequestType: CloudFormation is not making this request",
    ),
    (
        "forged-continuation",
        "RequestType: CloudFormation is not making this request",
    ),
    ("region-with-a-slash", "StackId: expected the stack's ARN"),
    (
        "reconcile-at-a-higher-level",
        "AccessLevel: beyond what the stack declared",
    ),
    (
        "registration-elsewhere",
        "RegistrationTopicArn: expected a topic in the service's account",
    ),
];

fn forged(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/forged")
        .join(format!("{name}.json"))
}

/// What a forged event must leave as it was: every cluster's aws-auth, bindings and entries.
fn clusters(sim: &eks_sim::Simulator) -> Value {
    sim.state_json()["clusters"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_forged_event_is_refused_naming_what_it_exceeds_and_nothing_changes() {
    integration::capture_logs();
    let mut steps: Vec<Step> = FORGED
        .iter()
        .map(|(f, _)| Step::Invoke(forged(f)))
        .collect();
    steps.push(Step::Delete);
    let parameters = [
        ("ConcurrentAccountId", "210987654321"),
        ("ExternalId", "given-external-id-1234"),
        ("ClusterName", "legacy,hybrid"),
        ("AccessLevel", "view"),
        ("ClusterAdminRoleArn", ADMIN_ROLE),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let opts = StackOptions {
        template: template_path(),
        scenario: None,
        parameters,
        steps,
        venv: None,
        from_template: None,
        clock_scale: None,
    };
    let mut scenario = eks_sim::Scenario::default_scenario();
    scenario.clock_scale = 20.0;
    let mut states: Vec<Value> = Vec::new();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let clean = run_scenario_observed(scenario, &opts, &mut out, &mut err, &mut |_, sim| {
        states.push(clusters(sim))
    })
    .await
    .expect("the lifecycle runs");
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stderr = String::from_utf8_lossy(&err);
    assert!(clean, "the stack's own steps complete: {stderr}");
    assert_eq!(lines[0]["StackStatus"], "CREATE_COMPLETE", "{}", lines[0]);
    let granted = &states[0];
    assert!(
        granted.to_string().contains("RoleForAccessingEksAndEcr"),
        "the Create granted: {granted}"
    );
    for (i, (name, reason)) in FORGED.iter().enumerate() {
        let line = &lines[i + 1];
        assert_eq!(line["Action"], "Invoke", "{line}");
        let said = match line["Reconcile"].as_object() {
            Some(r) => {
                assert!(r["Verdict"].get("Invalid").is_some(), "{name}: {line}");
                r["Verdict"]["Invalid"].as_str().unwrap_or("").to_string()
            }
            None => {
                assert_eq!(line["Status"], "FAILED", "{name}: {line}");
                line["Reason"].as_str().unwrap_or("").to_string()
            }
        };
        assert!(said.starts_with(reason), "{name}: {said}");
        assert_eq!(line["Writes"], serde_json::json!([]), "{name}: {line}");
        assert_eq!(line["StackStatus"], "CREATE_COMPLETE", "{name}");
        assert_eq!(&states[i + 1], granted, "{name} changed a cluster");
    }
    // The slash never became a host: no call at all.
    let slash = &lines[1 + FORGED
        .iter()
        .position(|(f, _)| *f == "region-with-a-slash")
        .unwrap()];
    assert_eq!(slash["Calls"], serde_json::json!([]), "{slash}");
    // The stack's own Delete still takes the grant back.
    let last = lines.last().unwrap();
    assert_eq!(last["StackStatus"], "DELETE_COMPLETE", "{last}");
    assert!(
        !states
            .last()
            .unwrap()
            .to_string()
            .contains("RoleForAccessingEksAndEcr"),
        "deleted"
    );
}
