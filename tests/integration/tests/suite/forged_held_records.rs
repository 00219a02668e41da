//! Issue 39, finding 4: forged held records. The stack adopts an access entry someone else made
//! for its role (view, at cluster scope) and records what the entry held in its tags; then a
//! principal allowed `eks:TagResource` rewrites that record to claim `AmazonEKSAdminPolicy` at
//! cluster scope (`cfn-replay stack --then tag events/forged/held-records-claiming-admin.tags.json`).
//! The stack's Delete must give back no more than the entry held before the stack: a record only
//! the function or CloudFormation could have written, never a tag anyone may write.

use cfn_replay::stack::{run_scenario_observed, StackOptions, Step};
use integration::rendered::template_path;
use integration::ADMIN_ROLE;
use serde_json::Value;

const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The stack's service role, as the Create mapped it on `legacy` (its name is the stack's id's).
fn service_role(sim: &eks_sim::Simulator) -> String {
    let text = sim.state_json()["clusters"]["legacy"].to_string();
    let end = text
        .find("-RoleForAccessingEksAndEcr")
        .expect("the role is mapped")
        + 26;
    let start = text[..end].rfind("role/").unwrap() + "role/".len();
    format!(
        "arn:aws:iam::{}:role/{}",
        integration::rendered::MOTO_ACCOUNT,
        &text[start..end]
    )
}

/// Someone else's access entry for `role` on `hybrid`, view at cluster scope, made by the
/// clusters' creator before the stack reaches that cluster.
fn made_by_someone_else(sim: &eks_sim::Simulator, role: &str) {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async {
            let eks = integration::clients_for(sim, "admin")
                .await
                .eks("us-east-1");
            // EKS sees the new role once IAM has propagated it (20 simulated seconds).
            let mut tries = 0;
            while let Err(e) = eks
                .create_access_entry()
                .cluster_name("hybrid")
                .principal_arn(role)
                .send()
                .await
            {
                tries += 1;
                assert!(tries < 40, "the entry of {role} is made: {e:?}");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            eks.associate_access_policy()
                .cluster_name("hybrid")
                .principal_arn(role)
                .policy_arn(VIEW)
                .access_scope(
                    aws_sdk_eks::types::AccessScope::builder()
                        .r#type(aws_sdk_eks::types::AccessScopeType::Cluster)
                        .build(),
                )
                .send()
                .await
                .expect("view is associated");
        })
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewritten_held_record_gives_back_nothing_the_entry_did_not_hold() {
    integration::capture_logs();
    let tags = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/forged/held-records-claiming-admin.tags.json");
    let mut opts = StackOptions::new(
        template_path(),
        kv(&[
            ("ConcurrentAccountId", "210987654321"),
            ("ExternalId", "given-external-id-1234"),
            ("ClusterName", "legacy"),
            ("AccessLevel", "view"),
            ("ClusterAdminRoleArn", ADMIN_ROLE),
        ]),
    );
    opts.steps = vec![
        Step::Update(kv(&[("ClusterName", "legacy,hybrid")])),
        Step::Tag(tags),
        Step::Delete,
    ];
    opts.clock_scale = Some(20.0);
    let mut hybrid: Vec<Value> = Vec::new();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let clean = run_scenario_observed(
        eks_sim::Scenario::default_scenario(),
        &opts,
        &mut out,
        &mut err,
        &mut |n, sim| {
            if n == 0 {
                made_by_someone_else(sim, &service_role(sim));
            }
            hybrid.push(sim.state_json()["clusters"]["hybrid"].clone());
        },
    )
    .await
    .expect("the lifecycle runs");
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stderr = String::from_utf8_lossy(&err);
    assert!(clean, "the stack's own steps complete: {stderr}");
    assert_eq!(lines[1]["StackStatus"], "UPDATE_COMPLETE", "{}", lines[1]);
    assert!(
        lines[2]["Tagged"].as_array().is_some_and(|t| !t.is_empty()),
        "the record was rewritten: {}",
        lines[2]
    );
    assert_eq!(lines[3]["StackStatus"], "DELETE_COMPLETE", "{}", lines[3]);
    let after = hybrid.last().unwrap().to_string();
    assert!(
        !after.contains("AmazonEKSAdminPolicy"),
        "the Delete gave back what the forged record claimed: {after}"
    );
    assert!(
        after.contains(VIEW),
        "what the entry held before the stack is given back: {after}"
    );
}
