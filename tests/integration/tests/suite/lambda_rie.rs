//! The built `bootstrap` under AWS's Lambda Runtime Interface Emulator (the runtime API as AWS
//! ships it in its base images, built from its module): a Create and a Delete delivered the way
//! Lambda delivers them, answered to the simulator's CloudFormation receiver.

use integration::{props, Rie, ADMIN_ROLE, SERVICE_ROLE};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_create_and_a_delete_through_the_runtime_interface_emulator() {
    let h = integration::Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = props("legacy");
    p["ClusterAdminRoleArn"] = json!(ADMIN_ROLE);
    let create = h.event("Create", p.clone(), None);
    let mut env = vec![("AWS_ENDPOINT_URL", h.sim.aws_endpoint_url())];
    env.extend(integration::function_env(&h.sim, dir.path()));
    // Configured as the template configures it for this stack: its declaration.
    env.extend(eks_role_mapper::declared::environment_of(&create));
    let rie = Rie::start(&integration::workspace_bin("bootstrap"), &env);
    let before = h.sim.responses().len();
    h.sim.cloudformation_sends(&create);
    rie.invoke(&create);
    let responses = h.sim.responses();
    assert_eq!(
        responses.len(),
        before + 1,
        "one answer to CloudFormation:\n{}",
        rie.log()
    );
    let created = &responses[before].body;
    assert_eq!(created["Status"], "SUCCESS", "{created}\n{}", rie.log());
    assert!(
        integration::entries_for(&h.map_roles("legacy"), SERVICE_ROLE).len() == 1,
        "granted"
    );
    let init = rie.init_ms().expect("the emulator reports the init");
    println!("Init Duration under aws-lambda-rie: {init} ms");

    let pid = created["PhysicalResourceId"].as_str().unwrap();
    let delete = h.event("Delete", p, Some(pid));
    h.sim.cloudformation_sends(&delete);
    rie.invoke(&delete);
    let responses = h.sim.responses();
    assert_eq!(responses.len(), before + 2, "{}", rie.log());
    assert_eq!(
        responses[before + 1].body["Status"],
        "SUCCESS",
        "{}",
        rie.log()
    );
    assert!(
        integration::entries_for(&h.map_roles("legacy"), SERVICE_ROLE).is_empty(),
        "revoked"
    );
    let log = rie.log();
    assert_eq!(log.matches("REPORT RequestId").count(), 2, "{log}");
    assert!(
        integration::find_secret(&log, &["X-Amz-Signature"]).is_none(),
        "a secret in the function's log:\n{log}"
    );
}
