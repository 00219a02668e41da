//! A stack upgraded from the original Step 1 template (issue 29): its new custom resource's Create
//! finds the entry the manual Step 2 script wrote for the stack's own role, once or twice, leaves
//! exactly one, and owns it, so the stack's Delete (which deletes the role) leaves none behind.

mod common;

use eks_role_mapper::ownership::{owner_annotation, owner_key};
use serde_json::{json, Value};

use common::*;

/// A Step 1 stack's role: `<stack uuid>-RoleForAccessingEksAndEcr`.
const SEED_ROLE: &str =
    "arn:aws:iam::111122223333:role/0b6c9d2e-1f3a-4b5c-8d7e-9fa0b1c2d3e4-RoleForAccessingEksAndEcr";

/// The block patch-aws-auth.sh's awk inserts under `mapRoles: |`, before what was there.
fn seed_block() -> String {
    format!("- rolearn: {SEED_ROLE}\n  username: {SEED_ROLE}\n  groups:\n    - system:masters\n")
}

fn seed_event(kind: &str, id: Option<&str>) -> Value {
    let mut e = event(kind, "legacy", id.map(|i| (i, "legacy")));
    e["ResourceProperties"]["RoleArn"] = json!(SEED_ROLE);
    if id.is_some() {
        e["OldResourceProperties"]["RoleArn"] = json!(SEED_ROLE);
    }
    e
}

fn entries_of_the_role(m: &test_kit::Memory) -> usize {
    map_roles(m, "legacy").matches(SEED_ROLE).count() / 2 // rolearn and username
}

#[tokio::test]
async fn the_seed_scripts_entry_once_or_twice_becomes_one_the_stack_owns_and_deletes() {
    for runs in [1, 2] {
        let m = region();
        let by_hand = seed_block().repeat(runs) + NODES;
        m.set_aws_auth("legacy", &[("mapRoles", &by_hand), ("mapUsers", "[]\n")]);
        assert_eq!(entries_of_the_role(&m), runs);

        let created = run(&m, seed_event("Create", None)).await;
        let id = ok(&created);
        assert_eq!(created.data.as_ref().unwrap()["Adopted"], "false", "{runs}");
        assert_eq!(
            entries_of_the_role(&m),
            1,
            "{runs}: {}",
            map_roles(&m, "legacy")
        );
        let role = eks_role_mapper::arn::RoleArn::parse("RoleArn", SEED_ROLE).unwrap();
        let marker = owner_annotation(&owner_key(STACK, "Mapping", &role));
        let annotations = m.world().clusters["legacy"]
            .aws_auth
            .as_ref()
            .and_then(|c| c.metadata.annotations.clone())
            .unwrap_or_default();
        assert!(annotations.contains_key(&marker), "{runs}: {annotations:?}");

        ok(&run(&m, seed_event("Delete", Some(&id))).await);
        assert_eq!(
            map_roles(&m, "legacy"),
            NODES,
            "{runs}: only the role's entry removed"
        );
        assert_eq!(m.aws_auth_data("legacy").unwrap()["mapUsers"], "[]\n");
    }
}

#[tokio::test]
async fn a_hand_made_entry_of_another_shape_for_the_same_role_stays_adopted() {
    let m = region();
    let by_hand = seed_block().replace(
        "    - system:masters\n",
        "    - system:masters\n  note: ops\n",
    ) + NODES;
    m.set_aws_auth("legacy", &[("mapRoles", &by_hand), ("mapUsers", "[]\n")]);
    let created = run(&m, seed_event("Create", None)).await;
    let id = ok(&created);
    assert_eq!(created.data.as_ref().unwrap()["Adopted"], "true");
    ok(&run(&m, seed_event("Delete", Some(&id))).await);
    assert_eq!(entries_of_the_role(&m), 1, "{}", map_roles(&m, "legacy"));
}
