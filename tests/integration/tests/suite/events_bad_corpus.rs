//! The bad-input corpus (`events/bad/`) through the mapper's real handler against the simulator:
//! every valid-shaped bad event is answered FAILED exactly once, with a short Reason that starts
//! with the field's name and says what was expected, without a panic or a hang, without a single
//! call to EKS, STS or Kubernetes, and with the simulator's state byte-identical before and after.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration::Harness;
use serde_json::Value;

/// The Reason CloudFormation shows a person: short, one line.
const MAX_REASON: usize = 512;
/// CloudFormation's limit on the response body.
const MAX_BODY: usize = 4096;
/// Well past anything validation needs; reaching it means the handler hung.
const NO_HANG: Duration = Duration::from_secs(30);

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/bad")
}

fn expected() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(bad_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The state without the receiver's list of answers (which must grow by exactly one).
fn without_responses(mut state: Value) -> (String, Value) {
    let responses = state
        .as_object_mut()
        .and_then(|o| o.remove("responses"))
        .unwrap_or(Value::Null);
    (serde_json::to_string(&state).unwrap(), responses)
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A Reason as shown in a failure message: quoted, at most 160 characters.
fn clip(reason: &str) -> String {
    let cut: String = reason.chars().take(160).collect();
    let more = if reason.chars().count() > 160 {
        "..."
    } else {
        ""
    };
    format!("{cut:?}{more}")
}

/// Everything wrong with one answer, empty when it is right.
fn check_answer(file: &str, exp: &Value, event: &Value, body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fail = |m: String| problems.push(format!("{file}: {m}"));
    if body["Status"] != "FAILED" {
        fail(format!("Status {} (want FAILED)", body["Status"]));
    }
    let reason = body["Reason"].as_str().unwrap_or_default();
    let shown = clip(reason);
    let field = exp["field"].as_str().unwrap();
    if !reason.trim_start_matches('"').starts_with(field) {
        fail(format!(
            "Reason does not start with the field {field:?}: {shown}"
        ));
    }
    for frag in strings(&exp["reason_contains"]) {
        if !reason.contains(frag) {
            fail(format!("Reason lacks {frag:?}: {shown}"));
        }
    }
    for frag in strings(&exp["reason_excludes"]) {
        if reason.contains(frag) {
            fail(format!("Reason contains {frag:?}: {shown}"));
        }
    }
    if reason.chars().count() > MAX_REASON {
        fail(format!(
            "Reason is {} characters (at most {MAX_REASON})",
            reason.chars().count()
        ));
    }
    if reason.chars().any(char::is_control) {
        fail(format!("Reason holds control characters: {shown}"));
    }
    if !body["PhysicalResourceId"]
        .as_str()
        .is_some_and(|id| !id.is_empty() && id.len() <= 1024)
    {
        fail(format!("PhysicalResourceId {}", body["PhysicalResourceId"]));
    }
    for key in ["StackId", "RequestId", "LogicalResourceId"] {
        match event[key].as_str().filter(|s| !s.is_empty()) {
            Some(sent) if body[key] != sent => fail(format!(
                "{key} {} does not echo the event's {sent}",
                body[key]
            )),
            None if body[key].as_str().is_none_or(str::is_empty) => {
                fail(format!("{key} missing from the answer"))
            }
            _ => {}
        }
    }
    problems
}

#[tokio::test]
async fn every_bad_event_is_answered_failed_once_naming_its_field_and_changes_nothing() {
    let h = Harness::start().await;
    let mut problems = Vec::new();
    let mut answered = 0;
    for (file, exp) in expected() {
        if exp["malformed"] == true {
            continue;
        }
        let text = std::fs::read_to_string(bad_dir().join(&file)).unwrap();
        let mut event: Value = serde_json::from_str(&text).unwrap();
        let key = event["RequestId"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("bad-{}", file.trim_end_matches(".json")));
        event["ResponseURL"] = Value::String(h.sim.response_url(&key));

        let (before, responses_before) = without_responses(h.sim.state_json());
        let seen = h.sim.responses().len();
        h.sim.clear_request_log();
        let ctx = cfn_replay::lambda::context("us-east-1", "111122223333", Duration::from_secs(60));
        let handled = tokio::time::timeout(
            NO_HANG,
            eks_role_mapper::handle(&h.clients, event.clone(), ctx),
        )
        .await;
        match handled {
            Err(_) => problems.push(format!("{file}: the handler hung for {NO_HANG:?}")),
            Ok(Err(e)) => problems.push(format!(
                "{file}: the invocation returned an error ({e}); it must return Ok once answered"
            )),
            Ok(Ok(())) => {}
        }

        let responses = h.sim.responses();
        let fresh = &responses[seen..];
        if fresh.len() != 1 {
            problems.push(format!("{file}: {} answers (want exactly 1)", fresh.len()));
        }
        if let Some(r) = fresh.first() {
            if r.request_id != key {
                problems.push(format!("{file}: answered to {} not {key}", r.request_id));
            }
            if r.raw_len > MAX_BODY {
                problems.push(format!("{file}: body of {} bytes", r.raw_len));
            }
            problems.extend(check_answer(&file, &exp, &event, &r.body));
        }
        let calls: Vec<String> = h
            .sim
            .request_log()
            .into_iter()
            .filter(|r| r.op != "cfn:response")
            .map(|r| r.op)
            .collect();
        if !calls.is_empty() {
            problems.push(format!("{file}: calls made before refusing: {calls:?}"));
        }
        let (after, responses_after) = without_responses(h.sim.state_json());
        if after != before {
            problems.push(format!("{file}: the simulator's state changed"));
        }
        let kept = responses_after
            .as_array()
            .map(|a| a[..seen.min(a.len())].to_vec());
        if kept.as_ref() != responses_before.as_array() {
            problems.push(format!("{file}: earlier answers changed"));
        }
        answered += 1;
    }
    println!(
        "bad corpus: {answered} events replayed, {} problems",
        problems.len()
    );
    assert!(answered >= 60, "{answered} bad events");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
