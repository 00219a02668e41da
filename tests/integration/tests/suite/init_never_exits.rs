//! Issue 40: the real `bootstrap` never exits at init, whatever its configuration. Under AWS's
//! Lambda Runtime Interface Emulator, with a declaration the template used to accept and the
//! function refuses (`Namespaces` with cluster-admin, a `system:` group) or a setting it cannot
//! use (an unreadable CA bundle, a retry setting aws-config refuses), it starts, answers each
//! request FAILED naming the field or the variable (still at CloudFormation's ResponseURL), and
//! answers the rollback's Delete of the id its refused Create gave SUCCESS, so the stack's rollback
//! completes. The old bootstrap exited with rc 1 before its first request: CloudFormation would
//! have waited out the custom resource's timeout.

use integration::{props, Rie, ADMIN_ROLE};
use serde_json::{json, Value};

/// One configuration the function cannot act on: what the environment says, and what the
/// Reason must name.
struct Case {
    name: &'static str,
    declared: Value,
    env: Vec<(&'static str, String)>,
    names: &'static str,
}

fn cases() -> Vec<Case> {
    let with = |k: &str, v: &str| {
        let mut p = props("legacy");
        p[k] = json!(v);
        p
    };
    vec![
        Case {
            name: "Namespaces with cluster-admin",
            declared: with("Namespaces", "ml"),
            env: vec![],
            names: "Namespaces: cluster-admin is cluster-wide",
        },
        Case {
            name: "a system: group",
            declared: with("KubernetesGroups", "system:foo"),
            env: vec![],
            names: "KubernetesGroups: a group cannot start with system:",
        },
        Case {
            name: "an unknown access level",
            declared: with("AccessLevel", "root"),
            env: vec![],
            names: "AccessLevel: expected cluster-admin, admin, edit or view",
        },
        Case {
            name: "AWS_MAX_ATTEMPTS not a number",
            declared: props("legacy"),
            env: vec![("AWS_MAX_ATTEMPTS", "many".into())],
            names: "AWS_MAX_ATTEMPTS",
        },
        Case {
            name: "AWS_RETRY_MODE unknown",
            declared: props("legacy"),
            env: vec![("AWS_RETRY_MODE", "eager".into())],
            names: "AWS_RETRY_MODE",
        },
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_the_function_refuses_is_answered_failed_naming_the_field_never_an_exit() {
    let bootstrap = integration::workspace_bin("bootstrap");
    for case in cases() {
        let h = integration::Harness::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut p = case.declared.clone();
        p["ClusterAdminRoleArn"] = json!(ADMIN_ROLE);
        let create = h.event("Create", p.clone(), None);
        let mut env = vec![("AWS_ENDPOINT_URL", h.sim.aws_endpoint_url())];
        env.extend(integration::function_env(&h.sim, dir.path()));
        // Configured as the template configures it for this stack, then the case's settings.
        env.extend(eks_role_mapper::declared::environment_of(&create));
        env.extend(case.env.iter().cloned());
        let before_map = h.map_roles("legacy");
        let rie = Rie::start(&bootstrap, &env);

        h.sim.cloudformation_sends(&create);
        rie.invoke(&create);
        let answers = h.sim.responses();
        assert_eq!(answers.len(), 1, "{}: answered:\n{}", case.name, rie.log());
        let created = &answers[0].body;
        assert_eq!(created["Status"], "FAILED", "{}: {created}", case.name);
        let reason = created["Reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(case.names),
            "{}: the Reason names the field: {reason}",
            case.name
        );

        // CloudFormation's rollback of that Create: a Delete of the id the FAILED answer gave.
        let id = created["PhysicalResourceId"].as_str().unwrap().to_string();
        let rollback = h.event("Delete", p.clone(), Some(&id));
        h.sim.cloudformation_sends(&rollback);
        rie.invoke(&rollback);
        let answers = h.sim.responses();
        let back = &answers.last().unwrap().body;
        assert_eq!(back["Status"], "SUCCESS", "{}: {back}", case.name);

        // A function that cannot read its own settings does not take back a recorded grant
        // blind: that Delete is FAILED, named. (A refused declaration is CloudFormation's record
        // of the grant, which a Delete reads as far as it can: its answer may be either.)
        let settings = !case.env.is_empty();
        let role =
            eks_role_mapper::arn::RoleArn::parse("RoleArn", integration::SERVICE_ROLE).unwrap();
        let recorded = eks_role_mapper::Recorded {
            region: "us-east-1".into(),
            owner: eks_role_mapper::ownership::owner_key(&h.stack_id(), "Mapping", &role),
            role,
        }
        .encode();
        let delete = h.event("Delete", p.clone(), Some(&recorded));
        h.sim.cloudformation_sends(&delete);
        rie.invoke(&delete);
        let answers = h.sim.responses();
        assert_eq!(
            answers.len(),
            3,
            "{}: one answer each:\n{}",
            case.name,
            rie.log()
        );
        let last = &answers[2].body;
        if settings {
            assert_eq!(last["Status"], "FAILED", "{}: {last}", case.name);
            let reason = last["Reason"].as_str().unwrap_or_default();
            assert!(reason.contains(case.names), "{}: {reason}", case.name);
        }
        assert_eq!(
            h.map_roles("legacy"),
            before_map,
            "{}: nothing written",
            case.name
        );
        let log = rie.log();
        assert_eq!(
            log.matches("REPORT RequestId").count(),
            3,
            "{}: {log}",
            case.name
        );
        assert!(
            !log.contains("Runtime exited") && !log.contains("exit status"),
            "{}: the bootstrap kept running:\n{log}",
            case.name
        );
    }
}
