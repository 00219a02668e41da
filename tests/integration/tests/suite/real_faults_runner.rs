//! The fault runner on the real control plane (issue 32): one request (Create, Update, Delete, or
//! the schedule's reconcile of a drifted grant) of a stack on `legacy`, a fault armed at one point
//! of its read-modify-write of aws-auth (before the GET, between the GET and the PUT, after the
//! PUT and before its answer), and what it left: every fault asserted to have fired where it was
//! armed; entries of others lost, ours duplicated, answers per request, and the stack's wait.

use std::time::{Duration, Instant};

use eks_sim::control_plane::{Action, Component, ControlPlane, Rule, When};
use integration::{context, default_aws_auth, entries_for, legacy_props, Harness, SERVICE_ROLE};
use serde_json::{json, Value};

/// A slow path: every answer two seconds late.
const SLOW: Duration = Duration::from_secs(2);
/// Past the mapper's 15 s Kubernetes call timeout.
const PAST_CALL_TIMEOUT: Duration = Duration::from_secs(18);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    Delete,
    Reconcile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    BeforeGet,
    BetweenGetAndPut,
    AfterPut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The connection closed unanswered.
    Drop,
    /// The connection reset.
    Reset,
    /// The answer [`SLOW`] late.
    Slow,
    /// The path holds the request past the call timeout.
    Stall,
    /// The component SIGKILLed, restarted at once.
    Kill(Component),
    /// kube-apiserver SIGSTOPped past the call timeout.
    Pause,
}

pub const OPS: [Op; 4] = [Op::Create, Op::Update, Op::Delete, Op::Reconcile];
pub const POINTS: [Point; 3] = [Point::BeforeGet, Point::BetweenGetAndPut, Point::AfterPut];
pub const FAULTS: [Fault; 8] = [
    Fault::Drop,
    Fault::Reset,
    Fault::Slow,
    Fault::Stall,
    Fault::Kill(Component::Apiserver),
    Fault::Kill(Component::Etcd),
    Fault::Kill(Component::Authenticator),
    Fault::Pause,
];

impl Fault {
    fn action(self) -> Action {
        match self {
            Fault::Drop => Action::Drop,
            Fault::Reset => Action::Reset,
            Fault::Slow => Action::Delay(SLOW),
            Fault::Stall => Action::Delay(PAST_CALL_TIMEOUT),
            Fault::Kill(c) => Action::Kill(c),
            Fault::Pause => Action::Pause(Component::Apiserver, PAST_CALL_TIMEOUT),
        }
    }
}

/// The rule that fires `fault` at `point` of the request's edit of aws-auth.
fn rule(point: Point, fault: Fault) -> Rule {
    let (method, when) = match point {
        Point::BeforeGet => ("GET", When::Request),
        Point::BetweenGetAndPut => ("PUT", When::Request),
        Point::AfterPut => ("PUT", When::Answer),
    };
    Rule {
        method: method.into(),
        path: "/namespaces/kube-system/configmaps/aws-auth".into(),
        when,
        action: fault.action(),
        skip: 0,
    }
}

/// What a set of runs left.
#[derive(Debug, Default)]
pub struct Tally {
    pub runs: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub answered_twice: usize,
    pub successes: usize,
    pub failures: usize,
    /// Runs that took more than one invocation (handed over near the deadline).
    pub handed_over: usize,
    pub worst_wait: Duration,
    pub worst: String,
}

impl Tally {
    /// The figure `scripts/fault-matrix` ends with.
    pub fn line(&self) -> String {
        format!(
            "fault matrix: {} runs, {} lost, {} duplicated, {} answered twice, worst wait {:.1} s",
            self.runs,
            self.lost,
            self.duplicated,
            self.answered_twice,
            self.worst_wait.as_secs_f64()
        )
    }
}

const AWS_AUTH: &str = "/api/v1/namespaces/kube-system/configmaps/aws-auth";

/// aws-auth as the harness's admin reads it from the real apiserver.
pub async fn read_aws_auth(cp: &ControlPlane) -> Value {
    let (status, body) = cp
        .request("GET", AWS_AUTH, None)
        .await
        .expect("GET aws-auth");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("aws-auth JSON")
}

/// Its mapRoles, parsed.
pub fn map_roles(cm: &Value) -> Vec<Value> {
    serde_yaml_ng::from_str(cm["data"]["mapRoles"].as_str().unwrap_or("[]")).expect("mapRoles")
}

/// Writes aws-auth as the harness's admin (an unconditional replace).
pub async fn write_aws_auth(cp: &ControlPlane, cm: &Value) {
    let mut cm = cm.clone();
    if let Some(m) = cm["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    let (status, body) = cp
        .request("PUT", AWS_AUTH, Some(&cm))
        .await
        .expect("PUT aws-auth");
    assert_eq!(status, 200, "{body}");
}

/// The default scenario's aws-auth, none of ours in it.
pub fn baseline() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": default_aws_auth()})
}

/// Runs `event` as Lambda would, through every hand-over, and answers every response
/// CloudFormation got for it (one, unless the mapper answered twice) and how many invocations it
/// took. Unlike `Harness::invoke`, a second answer is counted, not a panic.
pub async fn answers(h: &Harness, event: Value, budget: Duration) -> (Vec<Value>, usize) {
    let before = h.sim.responses().len();
    let id = event["RequestId"].as_str().unwrap_or_default().to_string();
    h.sim.cloudformation_sends(&event);
    let clients = h.playing(&event);
    let (mut queue, mut invocations) = (vec![event], 0);
    while let Some(e) = queue.pop() {
        invocations += 1;
        assert!(invocations <= 64, "a request handed over without end");
        let _ = eks_role_mapper::handle(&clients, e, context(budget)).await;
        queue.extend(h.sim.take_invocations().into_iter().map(|(_, next)| next));
    }
    let mine = h.sim.responses()[before..]
        .iter()
        .filter(|r| r.request_id == id)
        .map(|r| r.body.clone())
        .collect();
    (mine, invocations)
}

fn others(entries: &[Value]) -> Vec<Value> {
    entries
        .iter()
        .filter(|e| e["rolearn"] != json!(SERVICE_ROLE))
        .cloned()
        .collect()
}

/// One run: the fault at the point of the request, within `budget` per invocation.
pub async fn run(h: &Harness, op: Op, point: Point, fault: Fault, budget: Duration, t: &mut Tally) {
    let label = format!("{op:?} {fault:?} {point:?}");
    let cp = h.sim.control_plane("legacy").expect("legacy is real");
    cp.settle().await.expect("the control plane serves");
    write_aws_auth(cp, &baseline()).await;
    let props = legacy_props(json!({}));
    let mut pid = None;
    if op != Op::Create {
        let r = h.invoke(h.event("Create", props.clone(), None)).await;
        assert_eq!(r["Status"], "SUCCESS", "{label}: set-up Create: {r}");
        pid = r["PhysicalResourceId"].as_str().map(str::to_string);
    }
    if op == Op::Reconcile {
        // Drift: someone's apply dropped our entry; the schedule's reconcile must put it back.
        let mut cm = read_aws_auth(cp).await;
        let kept = others(&map_roles(&cm));
        cm["data"]["mapRoles"] = json!(serde_yaml_ng::to_string(&kept).unwrap());
        write_aws_auth(cp, &cm).await;
    }
    let before = others(&map_roles(&read_aws_auth(cp).await));
    cp.clear_faults();
    let pid_of = |c| cp.pid(c).expect("a component of the control plane");
    let pids = [
        Component::Etcd,
        Component::Apiserver,
        Component::Authenticator,
    ]
    .map(pid_of);
    cp.arm(rule(point, fault));
    let started = Instant::now();
    let groups = json!(["system:masters", "faulted"]);
    let (status, reason, responses, invocations, answered_id) = match op {
        Op::Reconcile => {
            let event = h.reconcile_event(&props, pid.as_deref().unwrap());
            let report = serde_json::to_value(h.reconcile(&event).await).unwrap();
            let outcome = report["Clusters"][0]["Outcome"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let status = match outcome.as_str() {
                "Repaired" | "Unchanged" => "SUCCESS",
                _ => "FAILED",
            };
            (status.to_string(), report.to_string(), 1, 1, None)
        }
        _ => {
            let event = match op {
                Op::Create => h.event("Create", props.clone(), None),
                Op::Update => h.update_event(
                    legacy_props(json!({ "Groups": groups })),
                    props.clone(),
                    pid.as_deref().unwrap(),
                ),
                _ => h.event("Delete", props.clone(), pid.as_deref()),
            };
            let (all, invocations) = answers(h, event, budget).await;
            assert!(!all.is_empty(), "{label}: never answered");
            let first = &all[0];
            (
                first["Status"].as_str().unwrap_or("").to_string(),
                first["Reason"].as_str().unwrap_or("").to_string(),
                all.len(),
                invocations,
                first["PhysicalResourceId"].as_str().map(str::to_string),
            )
        }
    };
    let waited = started.elapsed();
    let fired = cp.fired();
    let want = rule(point, fault);
    assert_eq!(fired.len(), 1, "{label}: the fault fired {fired:?}");
    assert!(
        fired[0].method == want.method && fired[0].when == want.when,
        "{label}: fired at {:?}",
        fired[0]
    );
    cp.settle().await.expect("the control plane serves again");
    // A kill killed: the component runs as a new process now, and only it.
    for (i, c) in [
        Component::Etcd,
        Component::Apiserver,
        Component::Authenticator,
    ]
    .into_iter()
    .enumerate()
    {
        let restarted = pid_of(c) != pids[i];
        assert_eq!(
            restarted,
            fault == Fault::Kill(c),
            "{label}: {c:?} restarted: {restarted}"
        );
    }
    let after = map_roles(&read_aws_auth(cp).await);
    let ours = entries_for(&after, SERVICE_ROLE).len();
    let lost = before
        .iter()
        .filter(|e| !others(&after).contains(e))
        .count();
    t.runs += 1;
    t.lost += lost;
    t.duplicated += ours.saturating_sub(1);
    t.answered_twice += responses - 1;
    if invocations > 1 {
        t.handed_over += 1;
    }
    if waited > t.worst_wait {
        t.worst_wait = waited;
        t.worst = label.clone();
    }
    // What the apiserver answered the mapper, through the proxy (0: nothing came back).
    let seen: Vec<String> = cp
        .passed()
        .iter()
        .filter(|p| p.path.ends_with("/configmaps/aws-auth"))
        .map(|p| format!("{} {}", p.method, p.status))
        .collect();
    eprintln!(
        "{label}: {status} after {:.1} s ({invocations} invocations; {}){}",
        waited.as_secs_f64(),
        seen.join(", "),
        match reason.is_empty() || status == "SUCCESS" {
            true => String::new(),
            false => format!(": {reason}"),
        }
    );
    match status.as_str() {
        "SUCCESS" => {
            t.successes += 1;
            let want = if op == Op::Delete { 0 } else { 1 };
            assert_eq!(ours, want, "{label}: SUCCESS but {ours} entries of ours");
            if op == Op::Update {
                let e = entries_for(&after, SERVICE_ROLE)[0];
                assert_eq!(e["groups"], groups, "{label}: the Update's groups");
            }
        }
        _ => {
            t.failures += 1;
            assert!(
                !reason.is_empty() && reason.len() < 1024,
                "{label}: an empty or huge Reason: {reason}"
            );
            // CloudFormation deletes what a FAILED Create made; a person retries a FAILED
            // Delete: either leaves nothing of ours.
            if matches!(op, Op::Create | Op::Delete) {
                let id = answered_id.clone().expect("a FAILED answer carries an id");
                let r = h.invoke(h.event("Delete", props.clone(), Some(&id))).await;
                assert_eq!(r["Status"], "SUCCESS", "{label}: the Delete after: {r}");
                let left = map_roles(&read_aws_auth(cp).await);
                assert_eq!(
                    entries_for(&left, SERVICE_ROLE).len(),
                    0,
                    "{label}: left behind"
                );
            }
        }
    }
    assert_eq!(lost, 0, "{label}: entries of others lost");
    assert!(ours <= 1, "{label}: our entry written {ours} times");
    assert_eq!(responses, 1, "{label}: answered {responses} times");
}
