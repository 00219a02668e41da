//! Issue 38 item 9 (the continuation's half): a continuation (the function's asynchronous
//! self-invocation carrying a request on) checks its budget on arrival. Lambda keeps an
//! asynchronous event up to six hours and retries one whose invocation failed, so a continuation
//! may arrive after CloudFormation gave up on the request, or raced its rollback: one that arrives
//! past the request's overall budget is answered FAILED, naming the field, and writes nothing;
//! one within it goes on as before. The old code ran a late continuation's work in full.

use std::time::{Duration, SystemTime};

use eks_role_mapper::{Continuation, CONTINUATION_FIELD};
use serde_json::{json, Value};

mod common;

use common::*;

/// A Create carried on by an earlier invocation that received it `ago`, after `count` of them.
fn continued(ago: Duration, count: u32) -> Value {
    let mut e = event("Create", "legacy,hybrid,modern", None);
    let since = SystemTime::now() - ago;
    e[CONTINUATION_FIELD] = json!(Continuation {
        count,
        since_ms: since
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    });
    e
}

#[tokio::test]
async fn a_continuation_past_the_requests_budget_is_refused_and_writes_nothing() {
    for (ago, count) in [
        // Past the 3300 s budget: delivered late, or a retry of a continuation.
        (Duration::from_secs(3400), 1),
        (Duration::from_secs(6 * 3600), 2),
        // Past the most invocations.
        (Duration::from_secs(120), 40),
    ] {
        let m = region();
        let body = run(&m, continued(ago, count)).await;
        assert_eq!(body.status, "FAILED", "{ago:?}/{count}: {:?}", body.reason);
        let reason = body.reason.unwrap_or_default();
        assert!(
            reason.starts_with(&format!("{CONTINUATION_FIELD}: "))
                && reason.contains("nothing was done"),
            "{reason}"
        );
        assert!(
            m.world().writes.is_empty(),
            "{ago:?}/{count}: {:?}",
            m.world().writes
        );
        assert!(!has_entry(&m, "modern") && !map_roles(&m, "legacy").contains(ROLE));
        assert!(m.world().invocations.is_empty(), "not handed on either");
    }
}

#[tokio::test]
async fn a_continuation_within_its_budget_does_the_work() {
    let m = region();
    let body = run(&m, continued(Duration::from_secs(600), 3)).await;
    ok(&body);
    assert!(has_entry(&m, "modern") && map_roles(&m, "legacy").contains(ROLE));
}
