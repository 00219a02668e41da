//! The event files as one stack, and the replay tool end to end. The Update and Delete events
//! carry the PhysicalResourceIds the mapper really returns; `cfn-replay` (run as a subprocess,
//! as a person runs it) answers with one JSON line per event, exits 0/1/2 as documented, writes
//! the simulator's state, leaves it alone in a dry run, and in `--aws` mode uses only the
//! standard AWS chain while still catching the response locally.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use eks_sim::{Scenario, Simulator};
use integration::{Harness, SERVICE_ROLE};
use serde_json::{json, Value};

const NEW_ROLE: &str = "arn:aws:iam::111122223333:role/concurrent-pipelines";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ev(name: &str) -> PathBuf {
    root().join("events").join(name)
}

fn load(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(ev(name)).unwrap()).unwrap()
}

/// Runs an event file through the handler, answered to the simulator; returns the answer.
async fn invoke(h: &Harness, name: &str) -> Value {
    let mut e = load(name);
    let id = e["RequestId"].as_str().unwrap().to_string();
    let kind = e["RequestType"].as_str().unwrap_or_default().to_string();
    e["ResponseURL"] = Value::String(h.sim.response_url_for(&id, &kind));
    h.invoke(e).await
}

fn id(answer: &Value) -> &str {
    answer["PhysicalResourceId"].as_str().unwrap()
}

fn role_arns(h: &Harness) -> Vec<String> {
    h.map_roles("legacy")
        .iter()
        .map(|e| e["rolearn"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The state without the receiver's answers, as text.
fn state_text(sim: &Simulator) -> String {
    let mut s = sim.state_json();
    s.as_object_mut().unwrap().remove("responses");
    serde_json::to_string(&s).unwrap()
}

const WRITES: &[&str] = &[
    "eks:CreateAccessEntry",
    "eks:DeleteAccessEntry",
    "eks:AssociateAccessPolicy",
    "eks:DisassociateAccessPolicy",
    "eks:UpdateClusterConfig",
    "k8s:create",
    "k8s:update",
    "k8s:patch",
    "k8s:delete",
    "cfn:response",
];

#[tokio::test]
async fn the_update_and_delete_events_carry_the_ids_the_mapper_returns_for_create() {
    let h = Harness::start().await;
    let created = invoke(&h, "create.json").await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    for f in [
        "update.json",
        "update-rollback.json",
        "update-replace.json",
        "delete.json",
    ] {
        assert_eq!(load(f)["PhysicalResourceId"], id(&created), "{f}");
    }
    let entry = invoke(&h, "create-access-entry.json").await;
    assert_eq!(entry["Status"], "SUCCESS", "{entry}");
    assert_eq!(
        load("delete-access-entry.json")["PhysicalResourceId"],
        id(&entry)
    );

    // The files replay as one stack without any id substitution.
    for f in ["update.json", "update-rollback.json", "delete.json"] {
        let a = invoke(&h, f).await;
        assert_eq!(a["Status"], "SUCCESS", "{f}: {a}");
        assert_eq!(id(&a), id(&created), "{f}: updated in place");
    }
    assert!(!role_arns(&h).contains(&SERVICE_ROLE.to_string()));
    let gone = invoke(&h, "delete-access-entry.json").await;
    assert_eq!(gone["Status"], "SUCCESS", "{gone}");
    assert!(h.access_entries("modern").get(SERVICE_ROLE).is_none());
}

#[tokio::test]
async fn update_changes_the_groups_in_place_and_the_rollback_restores_them() {
    let h = Harness::start().await;
    invoke(&h, "create.json").await;
    let groups = |h: &Harness| {
        h.map_roles("legacy")
            .into_iter()
            .find(|e| e["rolearn"] == SERVICE_ROLE)
            .map(|e| e["groups"].clone())
    };
    assert_eq!(groups(&h), Some(serde_json::json!(["system:masters"])));
    invoke(&h, "update.json").await;
    assert_eq!(
        groups(&h),
        Some(serde_json::json!(["system:masters", "concurrent-admins"]))
    );
    invoke(&h, "update-rollback.json").await;
    assert_eq!(groups(&h), Some(serde_json::json!(["system:masters"])));
}

#[tokio::test]
async fn a_replacement_keeps_the_old_mapping_until_cloudformation_deletes_the_old_id() {
    let h = Harness::start().await;
    let created = invoke(&h, "create.json").await;
    let replaced = invoke(&h, "update-replace.json").await;
    assert_eq!(replaced["Status"], "SUCCESS", "{replaced}");
    assert_ne!(id(&replaced), id(&created), "a new role is a new resource");
    let roles = role_arns(&h);
    assert!(roles.contains(&SERVICE_ROLE.to_string()) && roles.contains(&NEW_ROLE.to_string()));
    // CloudFormation then deletes the old id: delete.json carries exactly that.
    let deleted = invoke(&h, "delete.json").await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    let roles = role_arns(&h);
    assert!(!roles.contains(&SERVICE_ROLE.to_string()) && roles.contains(&NEW_ROLE.to_string()));
}

#[tokio::test]
async fn every_create_event_succeeds_with_the_mechanism_its_cluster_allows() {
    for (file, cluster, method) in [
        ("create.json", "legacy", "AwsAuth"),
        ("create-access-entry.json", "modern", "AccessEntry"),
        ("create-hybrid.json", "hybrid", "AccessEntry"),
        ("create-enable-access-entries.json", "legacy", "AccessEntry"),
    ] {
        let h = Harness::start().await;
        // The opt-in switch takes EKS minutes (300 s here): simulated time runs 60 times as fast.
        h.sim.set_clock_scale(60.0);
        let a = invoke(&h, file).await;
        assert_eq!(a["Status"], "SUCCESS", "{file}: {a}");
        assert_eq!(a["Data"]["Method"], method, "{file}");
        assert_eq!(
            a["Data"]["ClusterArn"],
            format!("arn:aws:eks:us-east-1:111122223333:cluster/{cluster}"),
            "{file}"
        );
    }
}

#[test]
fn the_many_cluster_events_replay_as_one_stack_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let (code, lines, stderr) = replay(&[
        "--state-out",
        state_arg,
        "events/create-many.json",
        "events/update-many.json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines[0]["Data"]["Clusters"], "3", "{}", lines[0]);
    assert_eq!(
        lines[0]["PhysicalResourceId"],
        load("update-many.json")["PhysicalResourceId"]
    );
    assert_eq!(
        lines[1]["PhysicalResourceId"], lines[0]["PhysicalResourceId"],
        "in place"
    );
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let legacy = s["clusters"]["legacy"]["config_maps"]["kube-system/aws-auth"]["data"]["mapRoles"]
        .as_str()
        .unwrap();
    assert!(
        !legacy.contains(SERVICE_ROLE),
        "legacy left the list: {legacy}"
    );
    for c in ["hybrid", "modern"] {
        assert!(
            s["clusters"][c]["access_entries"][SERVICE_ROLE].is_object(),
            "{c}"
        );
    }
    let (code, lines, stderr) = replay(&[
        "events/create-many.json",
        "events/update-many.json",
        "events/delete-many.json",
        "events/create-every-cluster.json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(lines.iter().all(|l| l["Status"] == "SUCCESS"), "{lines:?}");
    assert_eq!(
        lines[3]["Data"]["Clusters"], "3",
        "* in the default scenario"
    );
}

#[tokio::test]
async fn delete_after_a_failed_create_is_a_no_op_that_succeeds() {
    let h = Harness::start().await;
    let before = state_text(&h.sim);
    h.sim.clear_request_log();
    let a = invoke(&h, "delete-after-failed-create.json").await;
    assert_eq!(a["Status"], "SUCCESS", "{a}");
    assert_eq!(
        id(&a),
        load("delete-after-failed-create.json")["PhysicalResourceId"]
    );
    assert_eq!(state_text(&h.sim), before);
    let writes: Vec<_> = h
        .sim
        .request_log()
        .into_iter()
        .filter(|r| WRITES.contains(&r.op.as_str()) && r.op != "cfn:response")
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn a_dry_run_plans_the_aws_auth_edit_without_writing_or_answering() {
    let h = Harness::start().await;
    let before = serde_json::to_string(&h.sim.state_json()).unwrap();
    h.sim.clear_request_log();
    let mut e = load("create.json");
    e["ResponseURL"] = Value::String(h.sim.response_url("dry-run"));
    // A Create needs no word from CloudFormation: the function as the stack declares it.
    let plan = eks_role_mapper::dry_run(&h.playing(&e), e)
        .await
        .expect("plan");
    assert_eq!(plan.response.status, "SUCCESS", "{plan}");
    assert_eq!(
        plan.response.data.as_ref().unwrap()["Method"],
        "AwsAuth",
        "{plan}"
    );
    let writes: Vec<_> = plan.writes().collect();
    assert_eq!(writes.len(), 1, "{plan}");
    assert_eq!(writes[0].op, "k8s:update", "{plan}");
    assert!(
        writes[0]
            .map_roles_diff
            .as_deref()
            .unwrap()
            .contains(&format!("+- rolearn: {SERVICE_ROLE}")),
        "{plan}"
    );
    assert_eq!(
        serde_json::to_string(&h.sim.state_json()).unwrap(),
        before,
        "a dry run changes nothing, answers nothing"
    );
    let writes: Vec<String> = h
        .sim
        .request_log()
        .into_iter()
        .map(|r| r.op)
        .filter(|op| WRITES.contains(&op.as_str()))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

// ---- the binary -------------------------------------------------------------------------------

/// The `cfn-replay` binary, built once (fresh).
fn replay_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| integration::workspace_bin("cfn-replay"))
}

fn replay(args: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let o = Command::new(replay_binary())
        .current_dir(root())
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    parse_output(&o)
}

fn parse_output(o: &Output) -> (Option<i32>, Vec<Value>, String) {
    integration::keep_output("cfn-replay", o);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let lines = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}\n{stderr}"))
        })
        .collect();
    (o.status.code(), lines, stderr)
}

/// Nothing a secret: no ResponseURL signature (the events' or the receiver's), no secret key.
fn assert_no_secrets(stdout: &[Value], stderr: &str) {
    let text = format!("{stdout:?}\n{stderr}");
    // The fake credentials the --aws run is given, besides the suite's markers.
    if let Some(leak) = integration::find_secret(&text, &["0123456789abcdef", "0f0e0d0c0b0a"]) {
        panic!("{leak} leaked:\n{text}");
    }
}

#[test]
fn replaying_create_update_delete_prints_one_success_line_each_and_the_final_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (code, lines, stderr) = replay(&[
        "events/create.json",
        "events/update.json",
        "events/delete.json",
        "--state-out",
        state.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, file) in lines
        .iter()
        .zip(["create.json", "update.json", "delete.json"])
    {
        assert_eq!(line["Status"], "SUCCESS", "{line}");
        assert_eq!(line["RequestId"], load(file)["RequestId"]);
        assert_eq!(line["StackId"], load(file)["StackId"]);
        assert_eq!(
            line["PhysicalResourceId"],
            load(file)["PhysicalResourceId"]
                .as_str()
                .unwrap_or(id(&lines[0]))
        );
    }
    assert_eq!(lines[0]["Data"]["Method"], "AwsAuth");
    assert!(
        stderr.contains("ResponseURL replaced by the local receiver"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--- mapRoles (before)\n+++ mapRoles (after)\n@@"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("+- rolearn: {SERVICE_ROLE}\n")),
        "{stderr}"
    );
    assert!(
        stderr.contains("+    - concurrent-admins\n"),
        "the update's diff: {stderr}"
    );
    assert!(
        stderr.contains(&format!("-- rolearn: {SERVICE_ROLE}\n")),
        "the delete's diff: {stderr}"
    );
    assert_no_secrets(&lines, &stderr);

    let s: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(s["responses"].as_array().unwrap().len(), 3);
    let data = &s["clusters"]["legacy"]["config_maps"]["kube-system/aws-auth"]["data"];
    let roles: Vec<Value> = serde_yaml_ng::from_str(data["mapRoles"].as_str().unwrap()).unwrap();
    let arns: Vec<&str> = roles
        .iter()
        .map(|r| r["rolearn"].as_str().unwrap())
        .collect();
    assert_eq!(
        arns,
        [
            "arn:aws:iam::111122223333:role/eks-node-group-a",
            "arn:aws:iam::111122223333:role/eks-node-group-b",
            "arn:aws:iam::111122223333:role/cluster-admin-role"
        ]
    );
    assert_eq!(
        data["mapUsers"],
        integration::default_aws_auth()["mapUsers"]
    );
}

#[test]
fn even_at_trace_level_the_replay_logs_no_secret() {
    let o = Command::new(replay_binary())
        .current_dir(root())
        .args(["events/create.json", "events/delete.json"])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let (code, lines, stderr) = parse_output(&o);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "logs were on: {stderr}"
    );
    assert_no_secrets(&lines, &stderr);
}

#[test]
fn an_access_entry_is_reported_with_its_policy() {
    let (code, lines, stderr) = replay(&[
        "events/create-access-entry.json",
        "events/delete-access-entry.json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines.len(), 2);
    assert!(
        stderr.contains(&format!(
            "cluster modern: access entry created for {SERVICE_ROLE} (type STANDARD"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("policy arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy associated (scope cluster)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "cluster modern: access entry for {SERVICE_ROLE} deleted"
        )),
        "{stderr}"
    );
}

#[test]
fn without_chaining_a_replacement_replays_as_cloudformation_sends_it() {
    let (code, lines, stderr) = replay(&[
        "--no-chain",
        "events/create.json",
        "events/update-replace.json",
        "events/delete.json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines.len(), 3);
    assert_ne!(
        lines[1]["PhysicalResourceId"],
        lines[0]["PhysicalResourceId"]
    );
    assert_eq!(
        lines[2]["PhysicalResourceId"],
        lines[0]["PhysicalResourceId"]
    );
    assert!(
        !stderr.contains("taken from the previous response"),
        "{stderr}"
    );
}

#[test]
fn chaining_carries_the_previous_answers_id_into_update_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for f in ["update.json", "delete.json"] {
        let mut e = load(f);
        e["PhysicalResourceId"] = Value::String("stale-id-from-an-older-stack".into());
        let p = dir.path().join(f);
        std::fs::write(&p, serde_json::to_string(&e).unwrap()).unwrap();
        paths.push(p.to_str().unwrap().to_string());
    }
    let (code, lines, stderr) = replay(&["events/create.json", &paths[0], &paths[1]]);
    assert_eq!(code, Some(0), "{stderr}");
    let first = lines[0]["PhysicalResourceId"].clone();
    assert!(
        lines.iter().all(|l| l["PhysicalResourceId"] == first),
        "{lines:?}"
    );
    assert_eq!(
        stderr
            .matches("PhysicalResourceId taken from the previous response")
            .count(),
        2,
        "{stderr}"
    );
}

#[test]
fn a_bad_event_exits_1_with_one_failed_line_naming_the_field() {
    let (code, lines, stderr) = replay(&["events/bad/14-assumed-role-arn.json"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["Status"], "FAILED");
    assert!(
        lines[0]["Reason"]
            .as_str()
            .unwrap()
            .starts_with("RoleArn: "),
        "{}",
        lines[0]
    );
    assert!(stderr.contains("no change in the simulator"), "{stderr}");
    // A failure in the middle does not stop the replay, and the exit status remembers it.
    let (code, lines, _) = replay(&["events/bad/14-assumed-role-arn.json", "events/create.json"]);
    assert_eq!(code, Some(1));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["Status"], "SUCCESS");
}

#[test]
fn malformed_files_and_bad_usage_exit_2_and_replay_nothing() {
    let expected: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(ev("bad/expected.json")).unwrap()).unwrap();
    let malformed: Vec<&String> = expected
        .iter()
        .filter(|(_, e)| e["malformed"] == true)
        .map(|(f, _)| f)
        .collect();
    assert!(malformed.len() >= 3, "{malformed:?}");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    for f in malformed {
        let path = format!("events/bad/{f}");
        // Even after a good event: every file is checked before anything is replayed.
        let (code, lines, stderr) = replay(&[
            "events/create.json",
            &path,
            "--state-out",
            state.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(2), "{f}: {stderr}");
        assert!(lines.is_empty(), "{f}: nothing replayed, got {lines:?}");
        assert!(
            stderr.contains(f.as_str()),
            "{f}: the error names the file: {stderr}"
        );
        assert!(
            !state.exists(),
            "{f}: no simulator ran, so no state was written"
        );
    }
    for (args, needle) in [
        (
            &["--frobnicate", "events/create.json"][..],
            "unexpected argument '--frobnicate'",
        ),
        (&[][..], "no event files"),
        (&["events/no-such-event.json"][..], "cannot read"),
        (&["--state-out"][..], "a value is required for '--state-out"),
        (
            &["--state-out", "no-such-folder/s.json", "events/create.json"][..],
            "the folder no-such-folder does not exist",
        ),
        (
            &["--scenario", "events/create.json", "events/create.json"][..],
            "scenario",
        ),
        (
            &["--aws", "--scenario", "s.yaml", "events/create.json"][..],
            "exclude each other",
        ),
    ] {
        let (code, lines, stderr) = replay(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(lines.is_empty(), "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        // One line, no backtrace, no usage block.
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
    let version = Command::new(replay_binary())
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("cfn-replay 0."));
    let help = Command::new(replay_binary())
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: cfn-replay"));
}

#[test]
fn a_scenario_file_replaces_the_default_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let scenario = root().join("tests/eks-sim/scenarios/default.yaml");
    let mut text = std::fs::read_to_string(&scenario).unwrap();
    text = text.replace("name: modern", "name: renamed");
    let file = dir.path().join("scenario.yaml");
    std::fs::write(&file, text).unwrap();
    let (code, lines, stderr) = replay(&[
        "--scenario",
        file.to_str().unwrap(),
        "--state-out",
        state.to_str().unwrap(),
        "events/create-access-entry.json",
    ]);
    // The event names `modern`, which this scenario does not have.
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(lines[0]["Status"], "FAILED");
    assert!(
        lines[0]["Reason"].as_str().unwrap().contains("modern"),
        "{}",
        lines[0]
    );
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(s["clusters"]["renamed"].is_object() && s["clusters"]["modern"].is_null());
}

#[test]
fn a_dry_run_through_the_binary_prints_the_plan_and_leaves_the_state_alone() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (code, lines, stderr) = replay(&[
        "--dry-run",
        "events/create.json",
        "events/create-access-entry.json",
        "--state-out",
        state.to_str().unwrap(),
    ]);
    // Exit 0 also means the tool saw the state byte-identical before and after each plan.
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["Data"]["Method"], "AwsAuth");
    assert_eq!(lines[1]["Data"]["Method"], "AccessEntry");
    assert!(
        stderr.contains("would call k8s:update kube-system/aws-auth on legacy"),
        "{stderr}"
    );
    assert!(
        stderr.contains("would call eks:CreateAccessEntry"),
        "{stderr}"
    );
    assert!(!stderr.contains("changed the simulator"), "{stderr}");
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(s["responses"], serde_json::json!([]));
    assert_eq!(
        s["clusters"]["legacy"]["config_maps"]["kube-system/aws-auth"]["data"],
        integration::default_aws_auth()
    );
    assert_eq!(
        s["clusters"]["modern"]["access_entries"],
        serde_json::json!({})
    );
}

#[tokio::test]
async fn the_aws_mode_uses_only_the_standard_chain_and_catches_the_response_locally() {
    // "Real AWS" here is a simulator reached only through the standard environment variables.
    let aws = Simulator::start(Scenario::default_scenario())
        .await
        .unwrap();
    let (key, secret) = aws.credentials("mapper-lambda-role").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, aws.ca_pem()).unwrap();
    let mut cmd = tokio::process::Command::new(replay_binary());
    cmd.current_dir(root());
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", dir.path())
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", aws.aws_endpoint_url())
        .env("AWS_CA_BUNDLE", &ca)
        .env("AWS_ACCESS_KEY_ID", &key)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "info")
        .args(["--aws", "events/create-access-entry.json"]);
    let o = cmd.output().await.unwrap();
    let (code, lines, stderr) = parse_output(&o);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["Status"], "SUCCESS", "{}", lines[0]);
    assert!(stderr.contains("real AWS"), "{stderr}");
    assert_no_secrets(&lines, &stderr);
    let state = aws.state_json();
    assert!(
        state["clusters"]["modern"]["access_entries"][SERVICE_ROLE].is_object(),
        "the entry was made through the standard chain"
    );
    assert_eq!(
        state["responses"],
        serde_json::json!([]),
        "the response went to the tool's own receiver, not elsewhere"
    );
}

#[test]
fn the_reconcile_event_restores_the_entry_on_the_default_scenario_and_writes_nothing_once_the_stack_is_gone(
) {
    // The default scenario holds create.json's stack, and the role is not in legacy's aws-auth.
    let (code, lines, stderr) = replay(&["events/reconcile.json"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let report = &lines[0]["Reconcile"];
    assert_eq!(report["Verdict"], "Reconciled", "{stderr}");
    assert_eq!(report["Clusters"][0]["Cluster"], "legacy");
    assert_eq!(report["Clusters"][0]["Outcome"], "Repaired", "{stderr}");
    assert!(
        stderr.contains("\"Repaired\":1"),
        "the metric line: {stderr}"
    );
    assert!(
        stderr.contains("3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40-RoleForAccessingEksAndEcr"),
        "the aws-auth diff: {stderr}"
    );
    assert_no_secrets(&lines, &stderr);

    // The dry run shows the repair and writes nothing.
    let (code, lines, stderr) = replay(&["--dry-run", "events/reconcile.json"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines[0]["Reconcile"]["Clusters"][0]["Outcome"], "Repaired");
    assert!(
        lines[0]["Calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["write"] == true && c["op"] == "k8s:update"),
        "{lines:?}"
    );

    // After the stack's Delete: no write, and nothing comes back.
    let (code, lines, stderr) = replay(&[
        "events/create.json",
        "events/delete.json",
        "events/reconcile.json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["Reconcile"]["Verdict"], "StackGone", "{stderr}");
    assert_eq!(lines[2]["Reconcile"]["Clusters"], json!([]));
}
