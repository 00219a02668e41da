//! Faults survived on the real components (issue 32): kube-apiserver, etcd and the EKS
//! authenticator killed and restarted, the apiserver paused past the call timeout, and the path
//! to it cut, reset, slowed and stalled, at each point of a Create, Update, Delete and reconcile
//! (`real_faults_runner`). The tier here runs one of each fault in the test command; the whole
//! matrix (`scripts/fault-matrix`) is the ignored test below.

use std::time::{Duration, Instant};

use eks_sim::control_plane::Component;
use eks_sim::Scenario;
use integration::Harness;

use super::real_faults_runner::{run, Fault, Op, Point, Tally, FAULTS, OPS, POINTS};

/// An invocation's budget: the template gives the function 240 s; a minute is plenty here.
const BUDGET: Duration = Duration::from_secs(60);
/// A budget a fault outlasts: the request must continue in a fresh invocation.
const SHORT: Duration = Duration::from_secs(12);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_each_fault_at_each_point_leaves_one_grant_and_one_answer() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let started = Instant::now();
    let mut t = Tally::default();
    let tier = [
        (Op::Create, Point::AfterPut, Fault::Drop, BUDGET),
        (Op::Update, Point::BetweenGetAndPut, Fault::Reset, BUDGET),
        (Op::Delete, Point::BeforeGet, Fault::Slow, BUDGET),
        (Op::Reconcile, Point::AfterPut, Fault::Stall, BUDGET),
        (
            Op::Create,
            Point::BetweenGetAndPut,
            Fault::Kill(Component::Apiserver),
            BUDGET,
        ),
        (
            Op::Update,
            Point::AfterPut,
            Fault::Kill(Component::Etcd),
            BUDGET,
        ),
        (
            Op::Delete,
            Point::BeforeGet,
            Fault::Kill(Component::Authenticator),
            BUDGET,
        ),
        // The deadline lands while the stored write's answer is held: a fresh invocation goes on.
        (Op::Create, Point::AfterPut, Fault::Stall, SHORT),
        (Op::Update, Point::BetweenGetAndPut, Fault::Pause, BUDGET),
        // The apiserver paused past a short budget while an Update reads the RBAC bindings: the
        // bindings' reads hand over like aws-auth's (the whole matrix found them FAILED before).
        (Op::Update, Point::BeforeGet, Fault::Pause, SHORT),
    ];
    for (op, point, fault, budget) in tier {
        run(&h, op, point, fault, budget, &mut t).await;
    }
    eprintln!(
        "{} ({} SUCCESS, {} FAILED, {} handed over; worst: {}) in {:.0} s",
        t.line(),
        t.successes,
        t.failures,
        t.handed_over,
        t.worst,
        started.elapsed().as_secs_f64()
    );
    assert_eq!((t.lost, t.duplicated, t.answered_twice), (0, 0, 0));
    assert!(
        t.handed_over >= 1,
        "the short budget's run continued in a fresh invocation"
    );
    assert_eq!(
        t.failures, 0,
        "every fault of the tier is survived within the deadline"
    );
}

/// The whole matrix: every fault at every point of every request, and the stalls and pauses again
/// with a budget they outlast. `scripts/fault-matrix` runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the whole fault matrix takes about twenty minutes: scripts/fault-matrix"]
async fn the_whole_fault_matrix() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let mut t = Tally::default();
    for fault in FAULTS {
        for op in OPS {
            for point in POINTS {
                run(&h, op, point, fault, BUDGET, &mut t).await;
            }
        }
    }
    for fault in [Fault::Stall, Fault::Pause] {
        for op in [Op::Create, Op::Update, Op::Delete] {
            for point in POINTS {
                run(&h, op, point, fault, SHORT, &mut t).await;
            }
        }
    }
    eprintln!(
        "{} SUCCESS, {} FAILED, {} handed over; worst: {}",
        t.successes, t.failures, t.handed_over, t.worst
    );
    // The last line: what scripts/fault-matrix reports.
    eprintln!("{}", t.line());
    assert_eq!((t.lost, t.duplicated, t.answered_twice), (0, 0, 0));
}
