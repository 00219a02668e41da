//! Issue 39: the event is a claim, never an order. Every file of `events/forged/` is sent to one
//! stack's function at every moment of CloudFormation's sequence (`cfn-replay stack --then invoke
//! FILE [--while STATUS]`: at rest, and while CloudFormation holds the stack and its resource in
//! CREATE_IN_PROGRESS, UPDATE_IN_PROGRESS, UPDATE_ROLLBACK_IN_PROGRESS and DELETE_IN_PROGRESS),
//! with the rendered policy in force; then with the function's environment changed outside
//! CloudFormation (`--then configure`: another role and level declared, EKS's endpoint an
//! attacker's); and a Create again after the stack's Delete. Each is answered FAILED or not at
//! all, or is a no-op (a reconcile of what is there), and leaves every cluster (aws-auth, access
//! entries, their policies and tags, RBAC bindings) as it was; the attacker's
//! EKS endpoint never gets a request of the Kubernetes API (no token is sent there). The stack's
//! own Update, its rollback and its Delete still complete.

use std::path::PathBuf;

use cfn_replay::during::During;
use cfn_replay::stack::{run_scenario_observed, StackOptions, Step};
use integration::rendered::template_path;
use integration::ADMIN_ROLE;
use serde_json::Value;

/// Every event file of `events/forged/` (the `.tags.json` and `.env` files are other steps).
fn forged_events() -> Vec<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/forged");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".json") && !name.ends_with(".tags.json")
        })
        .collect();
    files.sort();
    files
}

fn forged(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/forged")
        .join(name)
}

/// The moments an attacker's invoke is sent at: at rest, and during each operation.
fn moments() -> Vec<Option<During>> {
    std::iter::once(None)
        .chain(During::ALL.into_iter().map(Some))
        .collect()
}

/// The `K=V` lines of an `.env` file of `events/forged/`, placeholders replaced.
fn env_file(name: &str, values: &[(&str, &str)]) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(forged(name)).unwrap();
    let text = values
        .iter()
        .fold(text, |t, (k, v)| t.replace(&format!("{{{{{k}}}}}"), v));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Removes the variables of an `.env` file again.
fn removed(set: &[(String, String)]) -> Vec<(String, String)> {
    set.iter()
        .map(|(k, _)| (k.clone(), String::new()))
        .collect()
}

/// What no forged event may change: every cluster's aws-auth, bindings, entries and their tags.
fn clusters(sim: &eks_sim::Simulator) -> Value {
    sim.state_json()["clusters"].clone()
}

/// The events that are CloudFormation's own request at that moment, word for word (the stack's
/// Delete, and its continuation, while CloudFormation deletes the resource): indistinguishable
/// from it, they are admitted, and are no attack (what they take back, the Delete under way takes
/// back). The replay's hold then puts the resource back at rest, which CloudFormation never does.
const CLOUDFORMATIONS_OWN: &[(&str, During)] = &[
    ("forged-delete.json", During::Delete),
    ("forged-continuation.json", During::Delete),
];

fn cloudformations_own(file: &std::path::Path, during: Option<During>) -> bool {
    let name = file.file_name().unwrap().to_string_lossy();
    CLOUDFORMATIONS_OWN
        .iter()
        .any(|(f, d)| *f == name && Some(*d) == during)
}

/// Each of `files` sent at every moment.
fn invoke_all(steps: &mut Vec<Step>, expect: &mut Vec<&'static str>, files: &[PathBuf]) {
    for during in moments() {
        for f in files.iter().filter(|f| !cloudformations_own(f, during)) {
            steps.push(Step::Invoke(f.clone(), during));
            expect.push("forged");
        }
    }
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_forged_event_at_every_moment_gets_nothing_and_the_stacks_own_operations_complete() {
    integration::capture_logs();
    // The attacker's EKS endpoint: a simulator of their own, with the same access keys (so it
    // answers the function's signed DescribeCluster with its own cluster endpoint and CA).
    let attacker = eks_sim::Simulator::start(eks_sim::Scenario::default_scenario())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("attacker-ca.pem");
    std::fs::write(&ca, attacker.ca_pem()).unwrap();

    let mut steps = Vec::new();
    let mut expect: Vec<&'static str> = Vec::new();
    invoke_all(&mut steps, &mut expect, &forged_events());
    // The declaration rewritten outside CloudFormation: another role, cluster-admin, a cluster
    // more; then EKS's endpoint an attacker's.
    let declaring = env_file("environment-declaring-another-role.env", &[]);
    let endpoint = env_file(
        "environment-with-another-eks-endpoint.env",
        &[
            ("AttackerEndpoint", &attacker.aws_endpoint_url()),
            ("AttackerCaBundle", &ca.display().to_string()),
        ],
    );
    let under_configuration = [
        forged("create-as-the-environment-declares.json"),
        forged("create-after-the-stack.json"),
        forged("rollback-to-another-role.json"),
        forged("reconcile-at-a-higher-level.json"),
    ];
    for set in [&declaring, &endpoint] {
        steps.push(Step::Configure(set.clone()));
        expect.push("configure");
        invoke_all(&mut steps, &mut expect, &under_configuration);
        steps.push(Step::Configure(removed(set)));
        expect.push("configure");
    }
    // CloudFormation's own operations: an update, one that fails and is rolled back, the delete.
    steps.push(Step::Update(kv(&[("ClusterName", "legacy")])));
    expect.push("UPDATE_COMPLETE");
    steps.push(Step::Update(kv(&[(
        "ClusterName",
        "legacy,no-such-cluster",
    )])));
    expect.push("UPDATE_ROLLBACK_COMPLETE");
    steps.push(Step::Delete);
    expect.push("DELETE_COMPLETE");
    // A Create again after the stack's Delete, at every moment.
    invoke_all(
        &mut steps,
        &mut expect,
        &[forged("create-after-the-stack.json")],
    );

    let mut opts = StackOptions::new(
        template_path(),
        kv(&[
            ("ConcurrentAccountId", "210987654321"),
            ("ExternalId", "given-external-id-1234"),
            ("ClusterName", "legacy,hybrid"),
            ("AccessLevel", "view"),
            ("ClusterAdminRoleArn", ADMIN_ROLE),
        ]),
    );
    opts.steps = steps.clone();
    opts.clock_scale = Some(20.0);
    let mut states: Vec<Value> = Vec::new();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let ran = run_scenario_observed(
        eks_sim::Scenario::default_scenario(),
        &opts,
        &mut out,
        &mut err,
        &mut |_, sim| states.push(clusters(sim)),
    )
    .await
    .expect("the lifecycle runs");
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stderr = String::from_utf8_lossy(&err);
    assert_eq!(lines.len(), steps.len() + 1, "{stderr}");
    assert_eq!(lines[0]["StackStatus"], "CREATE_COMPLETE", "{}", lines[0]);
    assert!(
        states[0].to_string().contains("RoleForAccessingEksAndEcr"),
        "the Create granted"
    );

    let mut got = Vec::new();
    for (i, (step, what)) in steps.iter().zip(&expect).enumerate() {
        let (line, before, after) = (&lines[i + 1], &states[i], &states[i + 1]);
        match *what {
            "forged" => {
                let name = step.action();
                let answered = &line["Status"];
                let reconcile = line["Reconcile"].is_object();
                let refused = if reconcile {
                    line["Reconcile"]["Verdict"].get("Invalid").is_some()
                } else {
                    answered == "FAILED" || answered.is_null()
                };
                let wrote = line["Writes"] != serde_json::json!([]);
                let changed = before != after;
                // Refused, or a no-op: what it wrote (re-associating what is there) changed
                // nothing. A write that stays, FAILED or not, changes a cluster.
                if changed || (wrote && !refused && !reconcile) {
                    got.push(format!(
                        "{name}: answered {answered} {}{}{}",
                        line["Reason"],
                        if wrote {
                            format!(", wrote {}", line["Writes"])
                        } else {
                            String::new()
                        },
                        if changed { ", a cluster changed" } else { "" }
                    ));
                }
            }
            "configure" => assert_eq!(before, after, "a configuration wrote nothing"),
            status if line["StackStatus"] != status => got.push(format!(
                "the stack's own {}: {} {}",
                step.action(),
                line["StackStatus"],
                line["Reason"]
            )),
            _ => {}
        }
    }
    // The attacker's endpoint got DescribeCluster at most, never a bearer token.
    let tokens: Vec<_> = attacker
        .request_log()
        .into_iter()
        .filter(|r| r.op.starts_with("k8s:"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        tokens.is_empty(),
        "a token reached the attacker's cluster endpoint: {tokens:?}"
    );
    assert!(
        got.is_empty(),
        "{} forged requests got something (or the stack's own step did not complete):\n{}",
        got.len(),
        got.join("\n")
    );
    assert!(
        !ran,
        "the failed update was rolled back, so the run is not clean"
    );
    let deleted = expect.iter().position(|e| *e == "DELETE_COMPLETE").unwrap();
    for (i, state) in states.iter().enumerate().skip(deleted + 1) {
        assert!(
            !state.to_string().contains("RoleForAccessingEksAndEcr"),
            "after the stack's Delete, step {i} granted again"
        );
    }
}
