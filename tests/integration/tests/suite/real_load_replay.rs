//! Issue 39: `cfn-replay --aws` replays CloudFormation's sequence against a running simulator
//! when the test plays CloudFormation's part through the simulator's handle (`cloudformation_sends`
//! holds the resource in progress with its properties, `set_stack_resource` records the answered
//! physical id): 12 stacks' Creates at once, then their Deletes at once, each stack a `cfn-replay
//! --aws` process of its own, on the real control plane (kube-apiserver with the real
//! authenticator). Every answer is SUCCESS, the 12 entries are there together, none after the
//! Deletes, every earlier entry kept; and a Delete the simulator's CloudFormation is not making
//! (the stack at rest) is refused first.

use eks_sim::state::StackResource;
use eks_sim::Scenario;
use integration::{text, ClientEnv, Harness, ADMIN_ROLE};
use serde_json::{json, Value};

use super::real_faults_runner::{map_roles, read_aws_auth};

const STACKS: usize = 12;

fn role(i: usize) -> String {
    format!("arn:aws:iam::111122223333:role/replayed-{i:02}")
}

fn stack(i: usize) -> String {
    format!("arn:aws:cloudformation:us-east-1:111122223333:stack/replayed-{i:02}/0a1b2c3d-1111-4000-8000-{i:012}")
}

/// Stack `i`'s request of `kind`, as CloudFormation sends it.
fn event(kind: &str, i: usize, id: Option<&str>) -> Value {
    let mut e = json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:replayed-EksRoleMapper",
        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/replayed?X-Amz-Signature=0123",
        "StackId": stack(i),
        "RequestId": format!("{}-{i:02}", kind.to_lowercase()),
        "LogicalResourceId": "Mapping",
        "ResourceType": "Custom::EksRoleMapping",
        "ResourceProperties": {
            "ClusterName": "legacy",
            "RoleArn": role(i),
            "ClusterAdminRoleArn": ADMIN_ROLE,
            "Region": "us-east-1"
        }
    });
    if let Some(id) = id {
        e["PhysicalResourceId"] = json!(id);
    }
    e
}

/// Replays each event with `cfn-replay --aws`, one process each, all at once; their answers.
fn replay_at_once(env: &ClientEnv, events: &[Value]) -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let children: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let file = env.dir.path().join(format!("event-{i}.json"));
            std::fs::write(&file, e.to_string()).unwrap();
            env.command(integration::workspace_bin("cfn-replay"))
                .current_dir(&root)
                .arg("--aws")
                .arg(&file)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            integration::keep_output("cfn-replay", &o);
            let (out, err) = text(&o);
            serde_json::from_str(out.lines().next().unwrap_or("null"))
                .unwrap_or_else(|_| json!({"Status": "no answer", "Reason": err}))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_stacks_replayed_with_cloudformations_sequence_on_the_real_control_plane() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let cp = h.sim.control_plane("legacy").unwrap();
    let env = ClientEnv::new(&h.sim);
    let before = map_roles(&read_aws_auth(cp).await);

    let creates: Vec<Value> = (0..STACKS).map(|i| event("Create", i, None)).collect();
    for e in &creates {
        h.sim.cloudformation_sends(e);
    }
    let created = replay_at_once(&env, &creates);
    let mut ids = Vec::new();
    for (i, r) in created.iter().enumerate() {
        assert_eq!(r["Status"], "SUCCESS", "stack {i}: {r}");
        let id = r["PhysicalResourceId"].as_str().unwrap().to_string();
        // CloudFormation records the answered id, then the resource's CREATE_COMPLETE.
        let resource = StackResource {
            logical_resource_id: "Mapping".into(),
            physical_resource_id: Some(id.clone()),
            resource_type: "Custom::EksRoleMapping".into(),
            status: "CREATE_IN_PROGRESS".into(),
            last_updated_ms: 0,
        };
        assert!(h.sim.set_stack_resource(&stack(i), &resource));
        assert!(h
            .sim
            .set_stack_resource_status(&stack(i), "Mapping", "CREATE_COMPLETE"));
        ids.push(id);
    }
    let together = map_roles(&read_aws_auth(cp).await);
    for i in 0..STACKS {
        let n = together
            .iter()
            .filter(|e| e["rolearn"] == json!(role(i)))
            .count();
        assert_eq!(n, 1, "stack {i}'s entry, once, with all the others");
    }
    for e in &before {
        assert!(together.contains(e), "an earlier entry lost: {e}");
    }

    let deletes: Vec<Value> = (0..STACKS)
        .map(|i| event("Delete", i, Some(&ids[i])))
        .collect();
    // At rest, the simulator's CloudFormation is not deleting anything: refused, nothing taken.
    let at_rest = replay_at_once(&env, &deletes[..1]);
    assert_eq!(at_rest[0]["Status"], "FAILED", "{}", at_rest[0]);
    assert!(
        map_roles(&read_aws_auth(cp).await).contains(
            &together[together
                .iter()
                .position(|e| e["rolearn"] == json!(role(0)))
                .unwrap()]
        ),
        "a Delete CloudFormation is not making took the entry"
    );
    for e in &deletes {
        h.sim.cloudformation_sends(e);
    }
    let deleted = replay_at_once(&env, &deletes);
    for (i, r) in deleted.iter().enumerate() {
        assert_eq!(r["Status"], "SUCCESS", "stack {i}: {r}");
        assert!(h.sim.delete_stack(&stack(i)));
    }
    let after = map_roles(&read_aws_auth(cp).await);
    for i in 0..STACKS {
        assert!(
            !after.iter().any(|e| e["rolearn"] == json!(role(i))),
            "stack {i}'s entry left after its Delete"
        );
    }
    for e in &before {
        assert!(after.contains(e), "an earlier entry lost: {e}");
    }
}
