//! An aws-auth near its size limit on the real control plane (issue 32): thousands of entries, a
//! ConfigMap's data just short of the 1 MiB the apiserver stores. A Create that still fits is
//! SUCCESS (timed); one that would not fit is FAILED with a Reason that says so, and nothing is
//! written. The bound is the real apiserver's own: it stores data of exactly 1 MiB and refuses a
//! byte more.

use std::time::Instant;

use eks_sim::Scenario;
use integration::{legacy_props, Harness, SSO_ROLE};
use serde_json::{json, Value};

use super::real_faults_runner::{map_roles, read_aws_auth, write_aws_auth};

const LIMIT: usize = 1 << 20;

/// The values of `data`, as the apiserver counts a ConfigMap's size (`ValidateConfigMap`: the
/// keys are not counted).
fn size(cm: &Value) -> usize {
    cm["data"]
        .as_object()
        .map(|d| d.values().map(|v| v.as_str().unwrap_or("").len()).sum())
        .unwrap_or(0)
}

/// One entry as the mapper renders mapRoles (`yaml_text`): its edit then adds its own entry and
/// leaves the size of the others' text as it was.
fn bulk(n: usize) -> String {
    format!("- rolearn: arn:aws:iam::111122223333:role/bulk-{n:05}\n  username: bulk-{n:05}\n  groups:\n    - bulk\n")
}

/// aws-auth's mapRoles with bulk entries appended until its data is within `room` bytes of the
/// limit.
fn filled(cm: &Value, room: usize) -> Value {
    let mut cm = cm.clone();
    let mut text = cm["data"]["mapRoles"].as_str().unwrap_or("").to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut n = 0;
    let other = size(&cm) - cm["data"]["mapRoles"].as_str().unwrap_or("").len();
    while other + text.len() + bulk(n).len() <= LIMIT - room {
        text.push_str(&bulk(n));
        n += 1;
    }
    cm["data"]["mapRoles"] = json!(text);
    cm
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_that_fits_is_timed_and_one_that_would_not_is_failed_with_nothing_written() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let cp = h.sim.control_plane("legacy").unwrap();
    let start = read_aws_auth(cp).await;

    // The apiserver's own bound: data of exactly 1 MiB is stored, a byte more is refused.
    let mut exact = filled(&start, 0);
    let pad = LIMIT - size(&exact);
    exact["data"]["padding"] = json!("x".repeat(pad));
    assert_eq!(size(&exact), LIMIT);
    write_aws_auth(cp, &exact).await;
    exact["data"]["padding"] = json!(format!("{}x", exact["data"]["padding"].as_str().unwrap()));
    // No resourceVersion: the PUT is refused for its size, not as a stale write (409).
    exact["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let (status, body) = cp
        .request(
            "PUT",
            "/api/v1/namespaces/kube-system/configmaps/aws-auth",
            Some(&exact),
        )
        .await
        .unwrap();
    assert_eq!(
        status,
        422,
        "a byte past 1 MiB: {}",
        &body[..body.len().min(300)]
    );
    assert!(
        body.contains("Too long"),
        "{}",
        &body[..body.len().min(300)]
    );

    // Thousands of entries, 4 KiB of room: the Create fits.
    let near = filled(&start, 4096);
    let entries = map_roles(&near).len();
    write_aws_auth(cp, &near).await;
    let t = Instant::now();
    let r = h
        .invoke(h.event("Create", legacy_props(json!({})), None))
        .await;
    let create_took = t.elapsed();
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    let after = read_aws_auth(cp).await;
    assert_eq!(
        map_roles(&after).len(),
        entries + 1,
        "ours added, none lost"
    );
    let pid = r["PhysicalResourceId"].as_str().unwrap().to_string();

    // 100 bytes of room: another stack's Create cannot fit.
    let full = filled(&after, 100);
    write_aws_auth(cp, &full).await;
    let stored = read_aws_auth(cp).await;
    h.set_stack_id("arn:aws:cloudformation:us-east-1:111122223333:stack/too-many/0a1b2c3d-0000-4000-8000-000000000001");
    let sso = legacy_props(json!({ "RoleArn": SSO_ROLE, "Username": "sso-admin" }));
    let r = h.invoke(h.event("Create", sso, None)).await;
    assert_eq!(r["Status"], "FAILED", "{r}");
    let reason = r["Reason"].as_str().unwrap();
    assert!(
        reason.contains("above the 1048576 bytes a ConfigMap can hold")
            && reason.contains("EnableAccessEntries=true")
            && reason.ends_with("nothing was changed"),
        "{reason}"
    );
    let unchanged = read_aws_auth(cp).await;
    assert_eq!(
        unchanged["metadata"]["resourceVersion"], stored["metadata"]["resourceVersion"],
        "nothing written"
    );

    // The first stack's Delete on the full ConfigMap.
    h.set_stack_id(integration::STACK_ID);
    let t = Instant::now();
    let r = h
        .invoke(h.event("Delete", legacy_props(json!({})), Some(&pid)))
        .await;
    let delete_took = t.elapsed();
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    let last = read_aws_auth(cp).await;
    assert_eq!(map_roles(&last).len(), map_roles(&full).len() - 1);
    eprintln!(
        "aws-auth of {} entries, {} bytes of data: Create in {:.2} s, Delete in {:.2} s; at {} bytes a Create is refused before writing: {reason}",
        entries + 1,
        size(&after),
        create_took.as_secs_f64(),
        delete_took.as_secs_f64(),
        size(&full),
    );
}
