//! The event files: every one is a valid CloudFormation request shape; every bad one is answered
//! FAILED exactly once, naming its field, with the simulator's state byte-identical; and the replay
//! tool runs create, update and delete end to end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use integration::Harness;
use serde_json::Value;

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json") && p.file_name().unwrap() != "expected.json"
        })
        .collect();
    v.sort();
    v
}

fn expected() -> BTreeMap<String, Value> {
    serde_json::from_str(&std::fs::read_to_string(events_dir().join("bad/expected.json")).unwrap())
        .unwrap()
}

#[test]
fn the_good_events_parse_as_cloudformation_requests() {
    for f in json_files(&events_dir()) {
        let text = std::fs::read_to_string(&f).unwrap();
        let parsed: Result<CloudFormationCustomResourceRequest, _> = serde_json::from_str(&text);
        assert!(parsed.is_ok(), "{}: {:?}", f.display(), parsed.err());
    }
}

#[test]
fn every_bad_event_has_an_expectation_and_there_are_at_least_sixty() {
    let exp = expected();
    let files = json_files(&events_dir().join("bad"));
    for f in &files {
        assert!(
            exp.contains_key(f.file_name().unwrap().to_str().unwrap()),
            "{} has no expectation",
            f.display()
        );
    }
    assert_eq!(files.len(), exp.len());
    assert!(files.len() >= 60, "{} bad events", files.len());
}

#[tokio::test]
async fn every_bad_event_fails_once_naming_its_field_and_changes_nothing() {
    let h = Harness::start().await;
    let mut tried = 0;
    for (name, exp) in expected() {
        if exp["malformed"] == true {
            continue;
        }
        let text = std::fs::read_to_string(events_dir().join("bad").join(&name)).unwrap();
        let mut event: Value = serde_json::from_str(&text).unwrap();
        let request_id = event["RequestId"].as_str().unwrap().to_string();
        event["ResponseURL"] = Value::String(h.sim.response_url(&request_id));
        let before = serde_json::to_string(&h.sim.state_json()["clusters"]).unwrap();
        let resp = h.invoke(event).await;
        assert_eq!(resp["Status"], "FAILED", "{name}: {resp}");
        let reason = resp["Reason"].as_str().unwrap();
        let field = exp["field"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("{field}: ")),
            "{name}: {reason}"
        );
        assert!(
            reason.contains(exp["reason_contains"].as_str().unwrap()),
            "{name}: {reason}"
        );
        assert_eq!(
            serde_json::to_string(&h.sim.state_json()["clusters"]).unwrap(),
            before,
            "{name} changed the simulator"
        );
        tried += 1;
    }
    assert!(tried >= 60, "{tried}");
}

fn replay_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["build", "--quiet", "-p", "cfn-replay"])
        .status()
        .unwrap();
    assert!(status.success());
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("debug/cfn-replay")
}

#[test]
fn the_replay_tool_runs_create_update_delete_and_reports_exit_codes() {
    let bin = replay_binary();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let ev = events_dir();
    let o = Command::new(&bin)
        .args([
            ev.join("create.json"),
            ev.join("update.json"),
            ev.join("delete.json"),
        ])
        .arg("--state-out")
        .arg(&state)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["Status"] == "SUCCESS"));
    assert_eq!(
        lines[0]["PhysicalResourceId"], lines[1]["PhysicalResourceId"],
        "update in place"
    );
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("+ - rolearn: arn:aws:iam::111122223333:role/3f1c2a9e"));
    let final_state: Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let map_roles = final_state["clusters"]["legacy"]["config_maps"]["kube-system/aws-auth"]
        ["data"]["mapRoles"]
        .as_str()
        .unwrap();
    assert!(
        !map_roles.contains("RoleForAccessingEksAndEcr"),
        "deleted again"
    );
    assert!(map_roles.contains("eks-node-group-a"));

    let bad = Command::new(&bin)
        .arg(ev.join("bad/01-missing-cluster-name.json"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let malformed = Command::new(&bin)
        .arg(ev.join("bad/90-malformed-truncated.json"))
        .output()
        .unwrap();
    assert_eq!(malformed.status.code(), Some(2));
    let usage = Command::new(&bin).arg("--frobnicate").output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn a_dry_run_shows_the_diff_and_writes_nothing() {
    let bin = replay_binary();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let o = Command::new(&bin)
        .arg("--dry-run")
        .arg(events_dir().join("create.json"))
        .arg("--state-out")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("would call k8s:update kube-system/aws-auth"),
        "{stderr}"
    );
    assert!(
        stderr.contains("+   - rolearn: arn:aws:iam::111122223333:role/3f1c2a9e")
            || stderr.contains("+ - rolearn"),
        "{stderr}"
    );
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(
        !s["clusters"]["legacy"]["config_maps"]["kube-system/aws-auth"]["data"]["mapRoles"]
            .as_str()
            .unwrap()
            .contains("RoleForAccessingEksAndEcr")
    );
    assert_eq!(s["responses"], serde_json::json!([]));
}
