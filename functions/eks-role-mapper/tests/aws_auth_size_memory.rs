//! aws-auth near its size limit (issue 32): a ConfigMap holds at most 1 MiB of data. With
//! thousands of entries, a Create that still fits succeeds; one that would not fit is FAILED with
//! a Reason that says so, and nothing is written.

mod common;

use common::*;
use test_kit::Memory;

/// `mapRoles` of other entries until the data is within `room` bytes of 1 MiB.
fn nearly_full(m: &Memory, room: usize) -> usize {
    let limit = 1024 * 1024 - room;
    let mut text = String::from(NODES);
    let mut n = 0;
    loop {
        let entry = format!(
            "- rolearn: arn:aws:iam::111122223333:role/team-{n:06}\n  username: team-{n:06}\n  groups:\n    - team-{n:06}\n"
        );
        if "mapRoles".len() + text.len() + entry.len() > limit {
            break;
        }
        text.push_str(&entry);
        n += 1;
    }
    m.set_aws_auth("legacy", &[("mapRoles", &text)]);
    n
}

#[tokio::test]
async fn a_create_that_would_not_fit_is_failed_saying_so_and_one_that_fits_succeeds() {
    // About 40 bytes left: our entry (ARN, username and group, ~250 bytes) does not fit.
    let m = region();
    let others = nearly_full(&m, 40);
    assert!(others > 9_000, "thousands of entries: {others}");
    let before = map_roles(&m, "legacy");
    m.world().writes.clear();
    let b = run(&m, event("Create", "legacy", None)).await;
    assert_eq!(b.status, "FAILED");
    let reason = b.reason.unwrap_or_default();
    assert!(
        reason.starts_with("aws-auth: with this entry its data would be")
            && reason.contains("above the 1048576 bytes a ConfigMap can hold")
            && reason.ends_with("nothing was changed"),
        "{reason}"
    );
    assert!(m.world().writes.is_empty(), "{:?}", m.world().writes);
    assert_eq!(
        map_roles(&m, "legacy"),
        before,
        "nothing lost, nothing added"
    );

    // With room for it: granted beside every other entry, timed.
    let m = region();
    let others = nearly_full(&m, 4096);
    let started = std::time::Instant::now();
    ok(&run(&m, event("Create", "legacy", None)).await);
    println!(
        "a Create beside {others} entries: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let after = map_roles(&m, "legacy");
    assert!(after.contains("RoleForAccessingEksAndEcr"));
    assert_eq!(
        after.matches("- rolearn:").count(),
        others + 2,
        "every entry kept"
    );
}
