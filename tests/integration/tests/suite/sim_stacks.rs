//! The simulator's CloudFormation (`DescribeStackResource`) driven by the real aws-cli (botocore
//! parses every answer), and the stack state it learns from custom-resource responses: what a
//! reconcile asks before it writes.

use eks_role_mapper::arn::RoleArn;
use eks_role_mapper::ownership::owner_key;
use eks_role_mapper::Recorded;
use eks_sim::{Scenario, Simulator};
use integration::{props, ClientEnv, Harness, SERVICE_ROLE, STACK_ID};
use serde_json::{json, Value};

/// The default scenario's stack.
const LIVE: &str =
    "arn:aws:cloudformation:us-east-1:111122223333:stack/concurrent-eks/3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40";

fn describe(env: &ClientEnv, stack: &str, logical: &str) -> Result<Value, String> {
    env.aws(&[
        "cloudformation",
        "describe-stack-resource",
        "--stack-name",
        stack,
        "--logical-resource-id",
        logical,
    ])
}

#[test]
fn the_default_scenarios_stack_holds_the_id_the_function_encodes() {
    let s = Scenario::default_scenario();
    let logical: Vec<&str> = s
        .stacks
        .iter()
        .filter(|st| st.stack_id == LIVE)
        .map(|st| st.logical_resource_id.as_str())
        .collect();
    assert_eq!(logical, ["Mapping", "EveryCluster"]);
    for st in &s.stacks {
        // The function's own encoder, not a copy of its format.
        let role = RoleArn::parse("RoleArn", SERVICE_ROLE).unwrap();
        let id = Recorded {
            region: s.region.clone(),
            owner: owner_key(&st.stack_id, &st.logical_resource_id, &role),
            role,
        }
        .encode();
        assert_eq!(st.physical_resource_id, id);
        assert_eq!(st.status, "CREATE_COMPLETE");
        assert_eq!(st.resource_type, "Custom::EksRoleMapping");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_reads_live_deleted_and_unknown_stacks_as_cloudformation_answers() {
    let sim = Simulator::start(Scenario::default_scenario())
        .await
        .unwrap();
    let env = ClientEnv::new(&sim);
    let expected = Scenario::default_scenario().stacks[0]
        .physical_resource_id
        .clone();

    // A running stack: by its ID and by its name alike.
    for name in [LIVE, "concurrent-eks"] {
        let d = describe(&env, name, "Mapping").unwrap();
        let r = &d["StackResourceDetail"];
        assert_eq!(r["StackName"], "concurrent-eks", "{d}");
        assert_eq!(r["StackId"], LIVE);
        assert_eq!(r["LogicalResourceId"], "Mapping");
        assert_eq!(r["PhysicalResourceId"], expected.as_str());
        assert_eq!(r["ResourceType"], "Custom::EksRoleMapping");
        assert_eq!(r["ResourceStatus"], "CREATE_COMPLETE");
        // botocore parsed the timestamp (aws-cli prints it back as ISO 8601).
        let t = r["LastUpdatedTimestamp"].as_str().unwrap();
        assert!(t.starts_with("20") && t.contains('T'), "{t}");
    }
    // A logical id the stack does not have.
    let e = describe(&env, "concurrent-eks", "Other").unwrap_err();
    assert!(
        e.contains("(ValidationError)")
            && e.contains("Resource Other does not exist for stack concurrent-eks"),
        "{e}"
    );
    // An unknown stack, by name and by ID.
    let e = describe(&env, "nope", "Mapping").unwrap_err();
    assert!(
        e.contains("(ValidationError)") && e.contains("Stack with id nope does not exist"),
        "{e}"
    );
    let other = LIVE.replace("3f1c2a9e", "00000000");
    let e = describe(&env, &other, "Mapping").unwrap_err();
    assert!(
        e.contains(&format!("Stack with id {other} does not exist")),
        "{e}"
    );
    // The endpoint is regional: the stack's ARN asked in another region is not found.
    let e = env
        .aws(&[
            "cloudformation",
            "describe-stack-resource",
            "--stack-name",
            LIVE,
            "--logical-resource-id",
            "Mapping",
            "--region",
            "eu-west-1",
        ])
        .unwrap_err();
    assert!(e.contains("does not exist"), "{e}");

    // Deleted: still found by its ID, DELETE_COMPLETE; no longer by its name.
    sim.advance_clock(60.0);
    assert!(sim.delete_stack(LIVE));
    let d = describe(&env, LIVE, "Mapping").unwrap();
    assert_eq!(
        d["StackResourceDetail"]["ResourceStatus"],
        "DELETE_COMPLETE"
    );
    assert_eq!(
        d["StackResourceDetail"]["PhysicalResourceId"],
        expected.as_str()
    );
    let e = describe(&env, "concurrent-eks", "Mapping").unwrap_err();
    assert!(
        e.contains("Stack with id concurrent-eks does not exist"),
        "{e}"
    );
    // A new stack of the same name is found by name, the deleted one still by its ID.
    let again = LIVE.replace("3f1c2a9e", "7a2d3f21");
    sim.put_stack_resource(&again, "Mapping", "x", "CREATE_COMPLETE")
        .unwrap();
    let d = describe(&env, "concurrent-eks", "Mapping").unwrap();
    assert_eq!(d["StackResourceDetail"]["StackId"], again.as_str());
    assert_eq!(
        describe(&env, LIVE, "Mapping").unwrap()["StackResourceDetail"]["ResourceStatus"],
        "DELETE_COMPLETE"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_in_force_without_describe_stack_resource_is_refused_with_access_denied() {
    let sim = Simulator::start(Scenario::default_scenario())
        .await
        .unwrap();
    let env = ClientEnv::new(&sim);
    let admin = "arn:aws:iam::111122223333:user/admin";
    // Allowed on another stack only: refused on this one, with the stack's ARN named.
    sim.set_policies(
        admin,
        vec![json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudformation:DescribeStackResource",
             "Resource": "arn:aws:cloudformation:us-east-1:111122223333:stack/other/*"},
            {"Effect": "Allow", "Action": "eks:*", "Resource": "*"}
        ]})],
    );
    let e = describe(&env, LIVE, "Mapping").unwrap_err();
    assert!(
        e.contains("(AccessDenied)")
            && e.contains(&format!(
                "{admin} is not authorized to perform: cloudformation:DescribeStackResource on resource: {LIVE}"
            )),
        "{e}"
    );
    // Asked by name, the denial is the same: the name resolves to the stack.
    let e = describe(&env, "concurrent-eks", "Mapping").unwrap_err();
    assert!(e.contains("(AccessDenied)"), "{e}");
    // An unknown stack's name is authorized as stack/NAME/*: still refused, not "does not exist".
    let e = describe(&env, "nope", "Mapping").unwrap_err();
    assert!(
        e.contains("(AccessDenied)") && e.contains("stack/nope/*"),
        "{e}"
    );
    // Allowed on the stack's ARN pattern: answered.
    sim.set_policies(
        admin,
        vec![json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudformation:DescribeStackResource",
             "Resource": "arn:aws:cloudformation:us-east-1:111122223333:stack/concurrent-eks/*"}
        ]})],
    );
    assert!(describe(&env, "concurrent-eks", "Mapping").is_ok());
    // An explicit deny wins and says so.
    sim.set_policies(
        admin,
        vec![json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "cloudformation:Describe*", "Resource": LIVE}
        ]})],
    );
    let e = describe(&env, LIVE, "Mapping").unwrap_err();
    assert!(e.contains("with an explicit deny"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stack_learns_from_the_responses_and_a_reconcile_reads_it() {
    let h = Harness::start().await;
    let env = ClientEnv::new(&h.sim);
    let p = props("modern");
    // Before the Create answers, CloudFormation's stack has no such resource.
    assert!(h.sim.stack_resource(STACK_ID, "Mapping").is_none());
    let created = h.invoke(h.event("Create", p.clone(), None)).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let id = created["PhysicalResourceId"].as_str().unwrap().to_string();
    let r = h.sim.stack_resource(STACK_ID, "Mapping").unwrap();
    assert_eq!(r.status, "CREATE_COMPLETE");
    assert_eq!(r.physical_resource_id.as_deref(), Some(id.as_str()));
    let d = describe(&env, STACK_ID, "Mapping").unwrap();
    assert_eq!(d["StackResourceDetail"]["PhysicalResourceId"], id.as_str());

    // While a stack operation runs on the resource, the reconcile does not write.
    assert!(h
        .sim
        .set_stack_resource_status(STACK_ID, "Mapping", "UPDATE_IN_PROGRESS"));
    let busy = h.reconcile(&h.reconcile_event(&p, &id)).await;
    assert!(
        format!("{:?}", busy.verdict).contains("UPDATE_IN_PROGRESS"),
        "{busy:?}"
    );
    h.sim
        .set_stack_resource_status(STACK_ID, "Mapping", "UPDATE_COMPLETE");

    let updated = h
        .invoke(h.update_event(props("hybrid,modern"), p.clone(), &id))
        .await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    let r = h.sim.stack_resource(STACK_ID, "Mapping").unwrap();
    assert_eq!(r.status, "UPDATE_COMPLETE");

    let deleted = h
        .invoke(h.event("Delete", props("hybrid,modern"), Some(&id)))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    let d = describe(&env, STACK_ID, "Mapping").unwrap();
    assert_eq!(
        d["StackResourceDetail"]["ResourceStatus"],
        "DELETE_COMPLETE"
    );
    // The reconcile now finds the grant gone with its stack and writes nothing.
    h.sim.clear_request_log();
    let gone = h
        .reconcile(&h.reconcile_event(&props("hybrid,modern"), &id))
        .await;
    assert!(
        format!("{:?}", gone.verdict).contains("StackGone"),
        "{gone:?}"
    );
    assert!(h.writes().is_empty(), "{:?}", h.writes());
    assert!(h
        .sim
        .request_log()
        .iter()
        .any(|r| r.op == "cloudformation:DescribeStackResource" && r.status == 200));
}
