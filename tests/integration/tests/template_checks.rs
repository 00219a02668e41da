//! The CloudFormation template: its custom resource passes only properties the function accepts,
//! timeouts are coherent, the seed's role is reproduced exactly, and moto's CloudFormation deploys
//! it (MapRole=false: the seed's Step 1 stack) and validates it (MapRole=true).

use std::path::Path;

use integration::{aws_cli, start_moto, text};
use serde_json::{json, Value as Json};
use serde_yaml_ng::Value;

fn template_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/eks-role-mapper.yaml")
}

fn template() -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(template_path()).unwrap()).unwrap()
}

/// A CloudFormation value with its short-form tags turned into `{"Fn": value}` JSON.
fn plain(v: &Value) -> Json {
    match v {
        Value::Tagged(t) => json!({ t.tag.to_string(): plain(&t.value) }),
        Value::Mapping(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), plain(v)))
                .collect(),
        ),
        Value::Sequence(s) => Json::Array(s.iter().map(plain).collect()),
        other => serde_json::to_value(other).unwrap(),
    }
}

#[test]
fn the_custom_resource_passes_only_properties_the_function_accepts() {
    let t = template();
    assert!(
        t.get("Transform").is_none(),
        "service-managed StackSets refuse transforms"
    );
    let props = t["Resources"]["Mapping"]["Properties"]
        .as_mapping()
        .unwrap();
    for key in props.keys() {
        let k = key.as_str().unwrap();
        assert!(
            eks_role_mapper::KNOWN_PROPERTIES.contains(&k),
            "{k} is not accepted by the function"
        );
    }
    for required in ["ServiceToken", "ClusterName", "RoleArn"] {
        assert!(props.contains_key(required), "{required}");
    }
}

#[test]
fn service_timeout_is_in_range_and_above_the_function_timeout() {
    let t = template();
    let service = t["Resources"]["Mapping"]["Properties"]["ServiceTimeout"]
        .as_u64()
        .unwrap();
    let function = t["Resources"]["MapperFunction"]["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    assert!((1..=3600).contains(&service), "ServiceTimeout {service}");
    assert!(
        service > function,
        "ServiceTimeout {service} must exceed the function Timeout {function}"
    );
    let f = &t["Resources"]["MapperFunction"]["Properties"];
    assert_eq!(f["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(plain(&f["Architectures"]), json!(["arm64"]));
}

#[test]
fn the_seed_role_is_reproduced_exactly() {
    let t = template();
    let role = &t["Resources"]["RoleForConcurrentService"]["Properties"];
    assert_eq!(
        plain(&role["RoleName"]),
        json!({"!Join": ["-", [{"!Select": [2, {"!Split": ["/", {"!Ref": "AWS::StackId"}]}]}, "RoleForAccessingEksAndEcr"]]})
    );
    let mut statements = plain(&role["Policies"][0]["PolicyDocument"]["Statement"]);
    // One cluster (or *): the seed's eks statement exactly. Several: the widened one, checked
    // resolved on moto's CloudFormation below.
    let eks = statements[1]["!If"].clone();
    assert_eq!(eks[0], "ClusterList", "{eks}");
    statements[1] = eks[2].clone();
    let seed = json!([
        {"Action": ["ecr:*"], "Resource": "*", "Effect": "Allow"},
        {"Action": ["eks:*"], "Resource": {"!Sub": "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/${ClusterName}"}, "Effect": "Allow"},
        {"Action": ["sts:GetServiceBearerToken"], "Resource": "*", "Effect": "Allow"},
        {"Effect": "Allow", "Action": ["ses:SendEmail", "ses:SendRawEmail"], "Resource": "*"}
    ]);
    assert_eq!(statements, seed);
    assert_eq!(eks[1]["Action"], json!(["eks:*"]));
    assert_eq!(
        eks[1]["Condition"]["StringEquals"]["aws:RequestedRegion"],
        json!({"!Ref": "AWS::Region"})
    );
    let trust = plain(&role["AssumeRolePolicyDocument"]["Statement"][0]);
    assert_eq!(
        trust["Principal"]["AWS"],
        json!({"!Sub": "arn:${AWS::Partition}:iam::${ConcurrentAccountId}:root"})
    );
    assert!(trust["Condition"]["StringEquals"]["sts:ExternalId"].is_object());
}

#[test]
fn no_name_collides_across_stacks_regions_or_partitions() {
    let text = std::fs::read_to_string(template_path()).unwrap();
    assert!(
        !text.contains("arn:aws:"),
        "partition must come from AWS::Partition"
    );
    let t = template();
    for r in ["MapperRole", "RoleForConcurrentService"] {
        let name =
            serde_json::to_string(&plain(&t["Resources"][r]["Properties"]["RoleName"])).unwrap();
        assert!(name.contains("AWS::StackId"), "{r}: {name}");
    }
}

fn aws(moto: &str, args: &[&str]) -> Result<Json, String> {
    let o = std::process::Command::new(aws_cli())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("AWS_ENDPOINT_URL")
        .args(["--endpoint-url", moto, "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    if !o.status.success() {
        return Err(text(&o).1);
    }
    Ok(serde_json::from_slice(&o.stdout).unwrap_or(Json::Null))
}

/// Deploys the template with MapRole=false on moto; returns its outputs' lookup and the seed
/// role's resolved policy (moto keeps it as a Python repr rather than JSON: searched as text).
fn deploy_step_1(url: &str, stack: &str, clusters: &str) -> (Json, String) {
    let body = format!("file://{}", template_path().display());
    aws(
        url,
        &[
            "cloudformation",
            "create-stack",
            "--stack-name",
            stack,
            "--template-body",
            &body,
            "--capabilities",
            "CAPABILITY_NAMED_IAM",
            "--parameters",
            "ParameterKey=ConcurrentAccountId,ParameterValue=123456789012",
            &format!(
                "ParameterKey=ClusterName,ParameterValue={}",
                clusters.replace(',', "\\,")
            ),
            "ParameterKey=MapRole,ParameterValue=false",
        ],
    )
    .unwrap();
    let mut outputs = Json::Null;
    for _ in 0..50 {
        let d = aws(
            url,
            &["cloudformation", "describe-stacks", "--stack-name", stack],
        )
        .unwrap();
        if d["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE" {
            outputs = d["Stacks"][0]["Outputs"].clone();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let role = outputs
        .as_array()
        .unwrap_or_else(|| panic!("{stack} did not complete"))
        .iter()
        .find(|o| o["OutputKey"] == "RoleForConcurrentService")
        .map(|o| o["OutputValue"].as_str().unwrap().to_string())
        .expect("role output");
    let policy = aws(
        url,
        &[
            "iam",
            "get-role-policy",
            "--role-name",
            role.rsplit('/').next().unwrap(),
            "--policy-name",
            "AccessEksAndEcr",
        ],
    )
    .unwrap();
    (outputs, policy["PolicyDocument"].to_string())
}

#[test]
fn moto_deploys_the_step_1_stack_and_validates_the_full_one() {
    let (_moto, url) = start_moto();
    let body = format!("file://{}", template_path().display());
    aws(
        &url,
        &[
            "cloudformation",
            "validate-template",
            "--template-body",
            &body,
        ],
    )
    .unwrap();
    let (outputs, doc) = deploy_step_1(&url, "concurrent-eks", "prod");
    let get = |k: &str| {
        outputs
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["OutputKey"] == k)
            .map(|o| o["OutputValue"].as_str().unwrap().to_string())
    };
    let role = get("RoleForConcurrentService").expect("role output");
    let ext = get("RoleForConcurrentServiceExtId").expect("external id output");
    assert!(
        role.ends_with(&format!("{ext}-RoleForAccessingEksAndEcr")),
        "{role} / {ext}"
    );
    assert!(
        doc.contains("arn:aws:eks:eu-west-1:123456789012:cluster/prod")
            && doc.contains("ses:SendRawEmail"),
        "{doc}"
    );

    // Several clusters: each by name, the region pinned; every cluster: cluster/*.
    let (_, doc) = deploy_step_1(&url, "concurrent-eks-list", "prod,dev");
    assert!(
        doc.contains("arn:*:eks:*:*:cluster/prod")
            && doc.contains("arn:*:eks:*:*:cluster/dev")
            && doc.contains("aws:RequestedRegion")
            && doc.contains("eu-west-1")
            && !doc.contains("cluster/*"),
        "{doc}"
    );
    let (_, doc) = deploy_step_1(&url, "concurrent-eks-all", "*");
    assert!(
        doc.contains("arn:aws:eks:eu-west-1:123456789012:cluster/*"),
        "{doc}"
    );
}

#[test]
fn publish_uploads_to_one_bucket_per_region_and_prints_quick_create_links() {
    let (_moto, url) = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("bootstrap.zip");
    std::fs::write(&zip, b"PK\x03\x04 not really a zip").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/publish");
    let o = std::process::Command::new("bash")
        .arg(&script)
        .args([
            "--regions",
            "us-east-1,eu-west-1",
            "--bucket-prefix",
            "test-artifacts",
            "--create-buckets",
            "--org-id",
            "o-abcdefghij",
        ])
        .args(["--skip-build", "--endpoint-url", &url])
        .arg("--artifact")
        .arg(&zip)
        .env("AWS_CLI", aws_cli())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    for region in ["us-east-1", "eu-west-1"] {
        let bucket = format!("test-artifacts-{region}");
        let list = aws(&url, &["s3api", "list-objects-v2", "--bucket", &bucket]).unwrap();
        let keys: Vec<&str> = list["Contents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["Key"].as_str().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "eks-role-mapper/bootstrap.zip",
                "eks-role-mapper/eks-role-mapper.yaml"
            ],
            "{bucket}"
        );
        let policy = aws(&url, &["s3api", "get-bucket-policy", "--bucket", &bucket]).unwrap();
        assert!(policy["Policy"]
            .as_str()
            .unwrap()
            .contains("\"aws:PrincipalOrgID\":\"o-abcdefghij\""));
        assert!(out.contains(&format!("region={region}#/stacks/quickcreate?templateURL=https%3A%2F%2F{bucket}.s3.{region}.amazonaws.com%2Feks-role-mapper%2Feks-role-mapper.yaml")), "{out}");
    }
    let refused = std::process::Command::new("bash")
        .arg(&script)
        .args(["--regions", "us-east-1", "--bucket-prefix", "Bad_Prefix"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}
