//! Faults on the real control plane (issue 32, part): the real kube-apiserver paused (SIGSTOP)
//! past the mapper's call timeout while a Create runs. The request is answered once, FAILED with
//! a Reason a person can act on, before the Lambda deadline; nothing is half-written; once the
//! apiserver goes on, CloudFormation's rollback Delete and a new Create succeed with exactly one
//! entry, every other entry kept.

use std::time::{Duration, Instant};

use eks_sim::Scenario;
use integration::{legacy_props, Harness, SERVICE_ROLE};
use serde_json::Value;

/// legacy's mapRoles as the real kube-apiserver holds it.
async fn map_roles(h: &Harness) -> Vec<Value> {
    integration::real_map_roles(&h.sim, "legacy").await
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// The process's state letter from /proc (`T`: stopped).
fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apiserver_paused_past_the_call_timeout_gets_one_failed_answer_and_nothing_half_written()
{
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let before = map_roles(&h).await;
    let pid = h
        .sim
        .control_plane("legacy")
        .unwrap()
        .apiserver_pid()
        .expect("the apiserver runs");
    signal(pid, "-STOP");
    assert_eq!(state(pid), 'T', "the fault fired: the apiserver is stopped");
    // Let it go on after 25 s: past the mapper's 15 s call timeout and the invocation's deadline.
    let resume = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(25));
        signal(pid, "-CONT");
    });
    let started = Instant::now();
    let create = h.event("Create", legacy_props(serde_json::json!({})), None);
    let answer = h.invoke_within(create, Duration::from_secs(20)).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(20),
        "answered before the deadline, after the stop was met: {waited:?}"
    );
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(reason.contains("it may be retried safely"), "{reason}");
    resume.join().unwrap();
    assert_ne!(state(pid), 'T', "going on again");
    // Nothing half-written: aws-auth as it was.
    assert_eq!(map_roles(&h).await, before, "nothing written while stopped");

    // CloudFormation's rollback of the failed Create, then the stack created again.
    let id = answer["PhysicalResourceId"].as_str().unwrap().to_string();
    let delete = h.event("Delete", legacy_props(serde_json::json!({})), Some(&id));
    assert_eq!(h.invoke(delete).await["Status"], "SUCCESS");
    let again = h
        .invoke(h.event("Create", legacy_props(serde_json::json!({})), None))
        .await;
    assert_eq!(again["Status"], "SUCCESS", "{again}");
    let after = map_roles(&h).await;
    let ours = after
        .iter()
        .filter(|e| e["rolearn"] == SERVICE_ROLE)
        .count();
    assert_eq!(ours, 1, "exactly one entry: {after:?}");
    for e in &before {
        assert!(after.contains(e), "kept: {e}");
    }
    println!("the Create with the apiserver stopped answered FAILED after {waited:?}");
}
