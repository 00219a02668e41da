//! Issue 29: a stack made with the original Step 1 template
//! (fixtures/original-iam-role-for-parallels.yaml) updates in place to infra/eks-role-mapper.yaml,
//! keeping its role (logical id, name, ARN), its external ID and its exports; on moto's
//! CloudFormation, and with the rules CloudFormation applies where moto does not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cfn_replay::stack::upgrade::{export_lost, replaced_role};
use integration::rendered::{aws, render_in, template_path, REGION};
use integration::start_moto;
use serde_json::{json, Value as Json};
use serde_yaml_ng::Value;

/// The service's account in these stacks.
const SERVICE_ACCOUNT: &str = "210987654321";

pub fn original_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/original-iam-role-for-parallels.yaml")
}

fn yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A stack's status once it leaves *_IN_PROGRESS, and its description.
fn settled(url: &str, stack: &str) -> Json {
    for _ in 0..100 {
        let d = aws(
            url,
            &["cloudformation", "describe-stacks", "--stack-name", stack],
        )
        .unwrap();
        let s = d["Stacks"][0].clone();
        if !s["StackStatus"].as_str().unwrap().ends_with("IN_PROGRESS") {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("{stack} stayed in progress");
}

fn outputs(stack: &Json) -> BTreeMap<String, (String, Option<String>)> {
    stack["Outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["OutputKey"].as_str().unwrap().to_string(),
                (
                    o["OutputValue"].as_str().unwrap().to_string(),
                    o["ExportName"].as_str().map(String::from),
                ),
            )
        })
        .collect()
}

fn exports(url: &str) -> Json {
    aws(url, &["cloudformation", "list-exports"]).unwrap()["Exports"].clone()
}

fn role(url: &str, arn: &str) -> Json {
    let name = arn.rsplit('/').next().unwrap();
    aws(url, &["iam", "get-role", "--role-name", name]).unwrap()["Role"].clone()
}

fn trusted_external_id(role: &Json) -> Json {
    role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"]
        .clone()
}

#[test]
fn moto_updates_the_original_stack_in_place_keeping_its_role_external_id_and_exports() {
    let (_moto, url) = start_moto();
    let original = format!("file://{}", original_path().display());
    aws(
        &url,
        &[
            "cloudformation",
            "create-stack",
            "--stack-name",
            "concurrent",
            "--template-body",
            &original,
            "--capabilities",
            "CAPABILITY_NAMED_IAM",
            "--parameters",
            &format!("ParameterKey=ParallelsAWSAccount,ParameterValue={SERVICE_ACCOUNT}"),
        ],
    )
    .unwrap();
    let before = settled(&url, "concurrent");
    assert_eq!(before["StackStatus"], "CREATE_COMPLETE", "{before}");
    let uuid = before["StackId"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let out_before = outputs(&before);
    let (arn, _) = out_before["RoleForConcurrentService"].clone();
    let (ext, _) = out_before["RoleForConcurrentServiceExtId"].clone();
    assert_eq!(ext, uuid, "the original's external ID is its stack's uuid");
    let role_before = role(&url, &arn);
    assert_eq!(trusted_external_id(&role_before), json!(uuid));
    let exports_before = exports(&url);
    assert_eq!(
        exports_before.as_array().unwrap().len(),
        2,
        "{exports_before}"
    );

    // The function's artifact, as infra/publish puts it (the update creates the function).
    let bucket = format!("concurrent-eks-role-mapper-{REGION}");
    aws(
        &url,
        &[
            "s3api",
            "create-bucket",
            "--bucket",
            &bucket,
            "--create-bucket-configuration",
            &format!("LocationConstraint={REGION}"),
        ],
    )
    .unwrap();
    let zip = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(zip.path(), b"PK\x03\x04 not really a zip").unwrap();
    aws(
        &url,
        &[
            "s3api",
            "put-object",
            "--bucket",
            &bucket,
            "--key",
            "eks-role-mapper/bootstrap.zip",
            "--body",
            &zip.path().display().to_string(),
        ],
    )
    .unwrap();

    // infra/README.md's upgrade command: replace the template, ExternalId = the current output.
    let ours = format!("file://{}", template_path().display());
    aws(
        &url,
        &[
            "cloudformation",
            "update-stack",
            "--stack-name",
            "concurrent",
            "--template-body",
            &ours,
            "--capabilities",
            "CAPABILITY_NAMED_IAM",
            "--parameters",
            "ParameterKey=ParallelsAWSAccount,UsePreviousValue=true",
            &format!("ParameterKey=ConcurrentAccountId,ParameterValue={SERVICE_ACCOUNT}"),
            &format!("ParameterKey=ExternalId,ParameterValue={ext}"),
            "ParameterKey=ClusterName,ParameterValue=legacy",
            "ParameterKey=ClusterAdminRoleArn,ParameterValue=arn:aws:iam::123456789012:role/cluster-admin-role",
        ],
    )
    .unwrap();
    let after = settled(&url, "concurrent");
    assert_eq!(after["StackStatus"], "UPDATE_COMPLETE", "{after}");
    let out_after = outputs(&after);
    for key in ["RoleForConcurrentService", "RoleForConcurrentServiceExtId"] {
        assert_eq!(
            out_after[key], out_before[key],
            "{key}: value and export name"
        );
    }
    assert_eq!(exports(&url), exports_before, "both exports unchanged");
    let role_after = role(&url, &arn);
    assert_eq!(role_after["Arn"], json!(arn));
    assert_eq!(
        role_after["RoleId"], role_before["RoleId"],
        "the same role, not a new one"
    );
    assert_eq!(trusted_external_id(&role_after), json!(uuid));
    assert_eq!(
        role_after["AssumeRolePolicyDocument"]["Statement"][0]["Principal"],
        role_before["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    );
    let resources = aws(
        &url,
        &[
            "cloudformation",
            "describe-stack-resources",
            "--stack-name",
            "concurrent",
        ],
    )
    .unwrap();
    let role_resource = resources["StackResources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["PhysicalResourceId"] == json!(arn.rsplit('/').next().unwrap()))
        .expect("the role is the stack's");
    assert_eq!(
        role_resource["LogicalResourceId"],
        "RoleForAccessingEksAndEcr"
    );
    assert!(
        resources.to_string().contains("MapperFunction"),
        "the update added the mapper: {resources}"
    );
}

/// The original's roles and exports, and where ours has them.
#[test]
fn the_role_keeps_its_logical_id_and_name_and_the_outputs_their_exports() {
    let (old, new) = (yaml(&original_path()), yaml(&template_path()));
    let roles = old["Resources"].as_mapping().unwrap();
    for (logical, r) in roles.iter().filter(|(_, r)| r["Type"] == "AWS::IAM::Role") {
        let ours = &new["Resources"][logical];
        assert_eq!(
            ours["Type"], "AWS::IAM::Role",
            "{logical:?} is a role in ours too"
        );
        assert_eq!(
            ours["Properties"]["RoleName"], r["Properties"]["RoleName"],
            "{logical:?}"
        );
        // Path / (the original's) is IAM's default.
        assert!(
            ours["Properties"].get("Path").is_none_or(|p| p == "/"),
            "{logical:?}"
        );
    }
    for (name, o) in old["Outputs"].as_mapping().unwrap() {
        assert_eq!(new["Outputs"][name]["Export"], o["Export"], "{name:?}");
    }
}

/// CloudFormation replaces a resource whose logical id changes, creating the new one first
/// (design.md section 10), so a role renamed in the template but keeping its RoleName fails the
/// update; moto lets it through. The replay's rule says so, and passes the real upgrade.
#[test]
fn a_changed_logical_id_with_the_same_role_name_or_an_export_lost_is_refused() {
    let (_moto, url) = start_moto();
    let given = [("ParallelsAWSAccount", SERVICE_ACCOUNT)];
    let before = render_in(&url, REGION, &original_path(), "replay", &given);
    let uuid = before.stack_id.rsplit('/').next().unwrap().to_string();
    // MapRole=false: moto completes the stack (no custom resource to wait for) whatever the
    // role's logical id; the service role is the same either way.
    let ours = |ext: &str, template: &Path| {
        let p = [
            ("ParallelsAWSAccount", SERVICE_ACCOUNT),
            ("ConcurrentAccountId", SERVICE_ACCOUNT),
            ("ExternalId", ext),
            ("ClusterName", "legacy"),
            ("MapRole", "false"),
        ];
        render_in(&url, REGION, template, "replay", &p)
    };
    let after = ours(&uuid, &template_path());
    assert_eq!(replaced_role(&before, &after), None);
    assert_eq!(
        export_lost(&before, &after),
        None,
        "{:#}\n{:#}",
        before.outputs,
        after.outputs
    );
    assert_eq!(
        after.role("RoleForAccessingEksAndEcr").arn,
        before.role("RoleForAccessingEksAndEcr").arn
    );

    // The regression this guards: the role under its former logical id.
    let renamed = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    let text = std::fs::read_to_string(template_path())
        .unwrap()
        .replace(
            "\n  RoleForAccessingEksAndEcr:\n",
            "\n  RoleForConcurrentService:\n",
        )
        .replace(
            "RoleForAccessingEksAndEcr.Arn",
            "RoleForConcurrentService.Arn",
        )
        .replace(
            "${RoleForAccessingEksAndEcr}",
            "${RoleForConcurrentService}",
        );
    std::fs::write(renamed.path(), text).unwrap();
    let why = replaced_role(&before, &ours(&uuid, renamed.path())).expect("refused");
    assert!(
        why.contains("RoleForConcurrentService") && why.contains("EntityAlreadyExists"),
        "{why}"
    );

    // An empty ExternalId: a generated one, the trust and the export changed.
    let generated = ours("", &template_path());
    let why = export_lost(&before, &generated).expect("refused");
    assert!(
        why.contains("ExternalIDForRoleForAccessingEksAndEcr"),
        "{why}"
    );
    assert!(!why.contains("generated"), "no value printed: {why}");
}
