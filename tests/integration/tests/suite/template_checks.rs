//! The CloudFormation template: its custom resource passes only properties the function accepts,
//! timeouts are coherent, the seed's role is reproduced exactly, and moto's CloudFormation deploys
//! it (MapRole=false: the seed's Step 1 stack) and validates it (MapRole=true).

use std::path::Path;

use integration::rendered::{self, aws, render, Rendered, MOTO_ACCOUNT, REGION};
use integration::{start_moto, text};
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
    let role = &t["Resources"]["RoleForAccessingEksAndEcr"]["Properties"];
    assert_eq!(
        plain(&role["RoleName"]),
        json!({"!Join": ["-", [{"!Select": [2, {"!Split": ["/", {"!Ref": "AWS::StackId"}]}]}, "RoleForAccessingEksAndEcr"]]})
    );
    let mut statements = plain(&role["Policies"][0]["PolicyDocument"]["Statement"]);
    // After the seed's four statements: below cluster-admin, the Deny of every way to raise
    // itself (held under IAM evaluation by service_role_levels); at cluster-admin, nothing more.
    let deny = statements.as_array_mut().unwrap().pop().unwrap();
    assert_eq!(deny["!If"][0], "BelowClusterAdmin", "{deny}");
    assert_eq!(deny["!If"][1]["Effect"], "Deny", "{deny}");
    assert_eq!(deny["!If"][2], json!({"!Ref": "AWS::NoValue"}), "{deny}");
    // One cluster (or *): the seed's eks statement exactly. Several: one pinned ARN per name,
    // checked resolved on moto's CloudFormation below.
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
    for r in [
        "MapperRole",
        "RoleForAccessingEksAndEcr",
        "ReconcileScheduleRole",
    ] {
        let name =
            serde_json::to_string(&plain(&t["Resources"][r]["Properties"]["RoleName"])).unwrap();
        assert!(name.contains("AWS::StackId"), "{r}: {name}");
    }
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
    assert!(role.ends_with("-RoleForAccessingEksAndEcr"), "{role}");
    assert!(ext.contains("ExternalIdSecret"), "{ext}");
    assert!(
        doc.contains("arn:aws:eks:eu-west-1:123456789012:cluster/prod")
            && doc.contains("ses:SendRawEmail"),
        "{doc}"
    );

    // Several clusters: each by its full ARN (finding 5, tested below); every cluster: cluster/*.
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
    let o = integration::against_moto(&mut std::process::Command::new("bash"))
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

// ---- Issue 13: each finding, on the template as moto's CloudFormation renders it. ----

/// IAM's wildcard match of a Resource pattern (`*` any run, `?` one character).
fn glob(pattern: &str, value: &str) -> bool {
    fn go(p: &[u8], v: &[u8]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some((b'*', rest)) => (0..=v.len()).any(|i| go(rest, &v[i..])),
            Some((b'?', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    go(pattern.as_bytes(), value.as_bytes())
}

fn strings(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => vec![s.clone()],
        Json::Array(a) => a.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// The Allow statements of `doc` naming `action` (exactly).
fn statements_for<'a>(doc: &'a Json, action: &str) -> Vec<&'a Json> {
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow" && strings(&s["Action"]).iter().any(|a| a == action))
        .collect()
}

/// Whether some Allow statement of `doc` names `action` on a pattern matching `resource`
/// (conditions aside).
fn allows_on(doc: &Json, action: &str, resource: &str) -> bool {
    statements_for(doc, action)
        .iter()
        .any(|s| strings(&s["Resource"]).iter().any(|r| glob(r, resource)))
}

fn mapper_params<'a>(clusters: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("ConcurrentAccountId", "210987654321"),
        ("ClusterName", clusters),
        ("ExternalId", "given-external-id-1234"),
    ];
    p.extend_from_slice(extra);
    p
}

fn mapper_doc(r: &Rendered) -> Json {
    r.role("MapperRole").policies[0].1.clone()
}

#[test]
fn finding_1_updates_that_drop_clusters_and_their_rollbacks_stay_allowed() {
    let (_moto, url) = start_moto();
    // After an Update a,b -> a (or * -> a), the custom resource's Update and its rollback act on
    // b under this policy.
    let r = render(&url, "drop", &mapper_params("a", &[]));
    let doc = mapper_doc(&r);
    let service = &r.role("RoleForAccessingEksAndEcr");
    let b = format!("arn:aws:eks:{REGION}:{MOTO_ACCOUNT}:cluster/b");
    let entry = format!(
        "arn:aws:eks:{REGION}:{MOTO_ACCOUNT}:access-entry/b/role/{MOTO_ACCOUNT}/{}/0ac6e1b4-aaaa-bbbb-cccc-1234567890ab",
        service.name
    );
    assert!(allows_on(&doc, "eks:DescribeCluster", &b), "{doc}");
    assert!(allows_on(&doc, "eks:ListClusters", "*"), "{doc}");
    for a in [
        "eks:DescribeAccessEntry",
        "eks:DeleteAccessEntry",
        "eks:AssociateAccessPolicy",
    ] {
        assert!(allows_on(&doc, a, &entry), "{a}: {doc}");
    }
    assert!(allows_on(&doc, "eks:CreateAccessEntry", &b), "{doc}");
    // Never another account's or region's.
    assert!(!allows_on(
        &doc,
        "eks:DescribeCluster",
        &format!("arn:aws:eks:us-east-1:{MOTO_ACCOUNT}:cluster/b")
    ));
}

#[test]
fn finding_2_writes_are_pinned_to_the_role_the_policy_the_scope_and_the_tag() {
    let (_moto, url) = start_moto();
    let r = render(
        &url,
        "pinned",
        &mapper_params("a,b", &[("EnableAccessEntries", "true")]),
    );
    let doc = mapper_doc(&r);
    let role = r.role("RoleForAccessingEksAndEcr");
    let cond = |s: &Json, op: &str, key: &str| s["Condition"][op][key].clone();
    for a in [
        "eks:CreateAccessEntry",
        "eks:DescribeAccessEntry",
        "eks:DeleteAccessEntry",
        "eks:AssociateAccessPolicy",
        "eks:TagResource",
    ] {
        let st = statements_for(&doc, a);
        assert!(!st.is_empty(), "{a} is granted: {doc}");
        for s in st {
            assert_eq!(
                cond(s, "ArnEquals", "eks:principalArn"),
                json!(role.arn),
                "{a}: {s}"
            );
            for res in strings(&s["Resource"]) {
                if res.contains(":access-entry/") {
                    assert!(
                        res.ends_with(&format!("/role/{MOTO_ACCOUNT}/{}/*", role.name)),
                        "{a}: {res}"
                    );
                }
            }
        }
    }
    let create = statements_for(&doc, "eks:CreateAccessEntry")[0];
    assert_eq!(
        cond(create, "ForAllValues:StringEquals", "aws:TagKeys"),
        json!(["eks-role-mapper/owner"])
    );
    assert_eq!(
        cond(create, "Null", "aws:RequestTag/eks-role-mapper/owner"),
        json!("false")
    );
    // Cluster-admin at cluster scope only; the other levels at cluster scope or a namespace
    // scope of the stack's Namespaces (none here: [""] admits no namespace).
    let associate = statements_for(&doc, "eks:AssociateAccessPolicy");
    assert_eq!(associate.len(), 2, "{doc}");
    assert_eq!(
        cond(associate[0], "ArnEquals", "eks:policyArn"),
        json!("arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")
    );
    assert_eq!(
        cond(associate[0], "StringEquals", "eks:accessScope"),
        json!("cluster")
    );
    let levels = |names: &[&str]| -> Json {
        json!(names
            .iter()
            .map(|n| format!("arn:aws:eks::aws:cluster-access-policy/AmazonEKS{n}Policy"))
            .collect::<Vec<_>>())
    };
    assert_eq!(
        cond(associate[1], "ArnEquals", "eks:policyArn"),
        levels(&["Admin", "Edit", "View"])
    );
    assert_eq!(
        cond(associate[1], "StringEquals", "eks:accessScope"),
        json!(["cluster", "namespace"])
    );
    assert_eq!(
        cond(associate[1], "ForAllValues:StringEquals", "eks:namespaces"),
        json!([""])
    );
    // The owner tag, and the record of what an adopted entry held (an older version's record
    // of its association); nothing else.
    let tag = statements_for(&doc, "eks:TagResource")[0];
    assert_eq!(
        cond(tag, "ForAllValues:StringLike", "aws:TagKeys"),
        json!([
            "eks-role-mapper/owner",
            "eks-role-mapper/associated-*",
            "eks-role-mapper/held-*"
        ])
    );
    assert_eq!(statements_for(&doc, "eks:UntagResource")[0], tag);
    let take_back = statements_for(&doc, "eks:DisassociateAccessPolicy")[0];
    assert_eq!(
        cond(take_back, "ArnEquals", "eks:policyArn"),
        levels(&["ClusterAdmin", "Admin", "Edit", "View"])
    );
    let switch = statements_for(&doc, "eks:UpdateClusterConfig");
    assert_eq!(switch.len(), 1, "{doc}");
    assert_eq!(strings(&switch[0]["Action"]), ["eks:UpdateClusterConfig"]);
    assert_eq!(
        cond(switch[0], "StringEquals", "eks:authenticationMode"),
        json!("API_AND_CONFIG_MAP")
    );
    for action in ["eks:DescribeUpdate", "eks:ListUpdates"] {
        assert!(allows_on(
            &doc,
            action,
            &format!("arn:aws:eks:{REGION}:{MOTO_ACCOUNT}:cluster/a")
        ));
    }
    // Every EKS action granted is one the function calls (the adopted-entry clean-up calls
    // ListAssociatedAccessPolicies, DisassociateAccessPolicy and UntagResource).
    let called = [
        "eks:DescribeCluster",
        "eks:ListClusters",
        "eks:CreateAccessEntry",
        "eks:DescribeAccessEntry",
        "eks:DeleteAccessEntry",
        "eks:ListAssociatedAccessPolicies",
        "eks:AssociateAccessPolicy",
        "eks:DisassociateAccessPolicy",
        "eks:TagResource",
        "eks:UntagResource",
        "eks:UpdateClusterConfig",
        "eks:DescribeUpdate",
        "eks:ListUpdates",
        "eks:UpdateAccessEntry",
    ];
    for st in doc["Statement"].as_array().unwrap() {
        let actions = match &st["Action"] {
            Json::String(a) => vec![a.clone()],
            Json::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        for a in actions.iter().filter(|a| a.starts_with("eks:")) {
            assert!(
                called.contains(&a.as_str()),
                "{a} is granted but never called"
            );
        }
    }
    // Without EnableAccessEntries, no switch at all.
    let r = render(&url, "no-switch", &mapper_params("a", &[]));
    assert!(statements_for(&mapper_doc(&r), "eks:UpdateClusterConfig").is_empty());
}

#[test]
fn finding_3_the_lambda_trust_is_lambda_amazonaws_com_in_every_partition() {
    let t = template();
    let principal = plain(
        &t["Resources"]["MapperRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
            ["Principal"]["Service"],
    );
    assert_eq!(principal, json!("lambda.amazonaws.com"));
    let text = std::fs::read_to_string(template_path()).unwrap();
    assert!(!text.contains("lambda.${AWS::URLSuffix}"));
}

/// The largest ClusterName a stack can be given: 100 names (the pattern's limit) in 1,500
/// characters (the template's MaxLength: the list is also the function's declaration, an
/// environment variable, and Lambda takes 4 KB of them in all).
fn largest_cluster_list() -> String {
    let names: Vec<String> = (0..100)
        .map(|i| {
            let len = if i < 1 { 15 } else { 14 };
            format!("{i:03}{}", "x".repeat(len - 3))
        })
        .collect();
    let list = names.join(",");
    assert_eq!(list.len(), 1500);
    list
}

/// A parameter value of exactly `max` characters: `n` names of equal length joined by commas,
/// each starting with a letter (the patterns of Namespaces and KubernetesGroups).
fn longest_list(n: usize, max: usize) -> String {
    let len = (max - (n - 1)) / n;
    (0..n)
        .map(|i| format!("n{i:02}{}", "x".repeat(len - 3)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The growth of `doc`'s size in the longest partition and region: each `arn:aws:eks:eu-west-1:`
/// as `arn:aws-iso-f:eks:us-isof-south-1:` (and the partition alone elsewhere).
fn worst_partition_and_region(r: &rendered::RenderedRole) -> usize {
    let text = serde_json::to_string(&r.documents()).unwrap();
    let arns = text.matches("arn:aws:").count();
    let regional = text.matches(&format!(":{REGION}:")).count();
    arns * ("aws-iso-f".len() - "aws".len()) + regional * ("us-isof-south-1".len() - REGION.len())
}

#[test]
fn finding_4_the_largest_parameters_fit_iams_inline_policy_limit_or_are_refused() {
    const LIMIT: usize = 10_240;
    let (_moto, url) = start_moto();
    let list = largest_cluster_list();
    let r = render(
        &url,
        "largest",
        &mapper_params(
            &list,
            &[
                ("EnableAccessEntries", "true"),
                (
                    "ClusterAdminRoleArn",
                    "arn:aws:iam::210987654321:role/a-rather-long-path/cluster-admin-role-with-a-long-name-of-sixty-four-chars",
                ),
                ("SubnetIds", "subnet-0123456789abcdef0,subnet-0123456789abcdef1"),
                ("SecurityGroupIds", "sg-0123456789abcdef0"),
                // The function's policy then also names this stack; the schedule's role is made.
                ("Reconcile", "rate(1 hour)"),
            ],
        ),
    );
    assert_eq!(
        r.roles.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        [
            "RoleForAccessingEksAndEcr",
            "MapperRole",
            "ReconcileScheduleRole"
        ]
    );
    let seed = r.role("RoleForAccessingEksAndEcr");
    let arns = strings(&statements_for(&seed.policies[0].1, "eks:*")[0]["Resource"]);
    assert_eq!(arns.len(), 100, "every name, and no empty slot");
    for (logical, role) in &r.roles {
        let size = role.inline_size() + worst_partition_and_region(role);
        eprintln!(
            "{logical}: {} characters here, {size} at worst, of {LIMIT}",
            role.inline_size()
        );
        assert!(size <= LIMIT, "{logical}: {size} > {LIMIT}");
    }
    // 100 names of 100 characters: refused by the parameter's own constraints, before anything
    // is created (CloudFormation could not take the value anyway).
    let t = template();
    let p = &t["Parameters"]["ClusterName"];
    let too_long = vec!["n".repeat(100); 100].join(",");
    assert!(
        too_long.len() as u64
            > p["MaxLength"]
                .as_u64()
                .expect("ClusterName has a MaxLength"),
        "refused"
    );
    assert!(p["MaxLength"].as_u64().unwrap() <= 4096);
    assert!(p["ConstraintDescription"]
        .as_str()
        .unwrap()
        .contains("1500 characters"));
}

/// Lambda takes 4 KB of environment variables in all (keys and values,
/// https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html): the function's
/// declaration at every parameter's MaxLength, in the longest partition, region and stack name,
/// fits.
#[test]
fn the_functions_declaration_fits_lambdas_4_kb_of_environment_at_every_maximum() {
    const LIMIT: usize = 4096;
    let (_moto, url) = start_moto();
    let t = template();
    let max = |p: &str| t["Parameters"][p]["MaxLength"].as_u64().unwrap() as usize;
    let namespaces = longest_list(25, max("Namespaces"));
    let groups = longest_list(20, max("KubernetesGroups"));
    let prefix = format!("arn:aws:iam::{MOTO_ACCOUNT}:role/");
    // A path of 40-character segments up to the parameter's MaxLength.
    let mut admin = prefix.clone();
    while admin.len() + 41 < max("ClusterAdminRoleArn") {
        admin.push_str(&"p".repeat(40));
        admin.push('/');
    }
    admin.push_str(&"r".repeat(max("ClusterAdminRoleArn") - admin.len()));
    assert_eq!(admin.len(), max("ClusterAdminRoleArn"));
    let list = largest_cluster_list();
    let r = render(
        &url,
        "declaration",
        &mapper_params(
            &list,
            &[
                ("AccessLevel", "view"),
                ("Namespaces", &namespaces),
                ("KubernetesGroups", &groups),
                ("ClusterAdminRoleArn", &admin),
            ],
        ),
    );
    let size: usize = r.environment.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(size > 3000, "every variable rendered: {size}");
    // The stack id and the role ARN grow with the partition, region and stack name (128).
    let stack = &r.environment["EKS_ROLE_MAPPER_STACK_ID"];
    let worst_stack =
        "arn:aws-iso-f:cloudformation:us-isof-south-1:123456789012:stack/".len() + 128 + 1 + 36;
    let role = &r.environment["EKS_ROLE_MAPPER_ROLE_ARN"];
    let worst_role = role.len() + "aws-iso-f".len() - "aws".len();
    let worst = size - stack.len() - role.len() + worst_stack + worst_role + "aws-iso-f".len()
        - "aws".len();
    eprintln!("the function's environment: {size} bytes here, {worst} at worst, of {LIMIT}");
    assert!(worst <= LIMIT, "{worst} > {LIMIT}");
}

#[test]
fn finding_5_the_seed_roles_list_is_pinned_to_partition_region_and_account() {
    let (_moto, url) = start_moto();
    let r = render(
        &url,
        "seed-list",
        &[
            ("ConcurrentAccountId", "210987654321"),
            ("ClusterName", "prod,dev,ml-cluster"),
            ("MapRole", "false"),
        ],
    );
    let doc = &r.role("RoleForAccessingEksAndEcr").policies[0].1;
    let arns = strings(&statements_for(doc, "eks:*")[0]["Resource"]);
    assert_eq!(
        arns,
        ["prod", "dev", "ml-cluster"]
            .map(|n| format!("arn:aws:eks:{REGION}:{MOTO_ACCOUNT}:cluster/{n}"))
    );
}

#[test]
fn finding_6_vpc_needs_describe_subnets_and_subnets_without_security_groups_are_refused() {
    let (_moto, url) = start_moto();
    let r = render(
        &url,
        "vpc",
        &mapper_params(
            "a",
            &[
                ("SubnetIds", "subnet-0123456789abcdef0"),
                ("SecurityGroupIds", "sg-0123456789abcdef0"),
            ],
        ),
    );
    let doc = mapper_doc(&r);
    for a in ["ec2:CreateNetworkInterface", "ec2:DescribeSubnets"] {
        assert!(allows_on(&doc, a, "*"), "{a}: {doc}");
    }
    // The refusal is a template Rule (checked by CloudFormation before anything is created).
    let t = template();
    let rules = plain(&t["Rules"]);
    let rule = rules
        .as_object()
        .expect("the template has Rules")
        .values()
        .find(|r| r["RuleCondition"].to_string().contains("SubnetIds"))
        .expect("a rule on SubnetIds");
    let asserted = rule["Assertions"][0]["Assert"].to_string();
    assert!(
        asserted.contains("!EachMemberEquals") && asserted.contains("SecurityGroupIds"),
        "{asserted}"
    );
    assert!(rule["RuleCondition"].to_string().contains("!Not"));
    assert!(rule["Assertions"][0]["AssertDescription"]
        .as_str()
        .unwrap()
        .contains("SecurityGroupIds"));
}

#[test]
fn finding_7_the_default_external_id_is_unguessable_and_kept() {
    let (_moto, url) = start_moto();
    let r = render(
        &url,
        "ext",
        &[
            ("ConcurrentAccountId", "210987654321"),
            ("ClusterName", "prod"),
            ("MapRole", "false"),
        ],
    );
    let uuid = r.stack_id.rsplit('/').next().unwrap().to_string();
    let ext = r.role("RoleForAccessingEksAndEcr").trust["Statement"][0]["Condition"]
        ["StringEquals"]["sts:ExternalId"]
        .to_string();
    assert!(!ext.contains(&uuid), "the stack's id is public: {ext}");
    // Generated once, by Secrets Manager (moto leaves the dynamic reference unresolved).
    assert!(ext.contains("{{resolve:secretsmanager:"), "{ext}");
    let t = template();
    let secret = &t["Resources"]["ExternalIdSecret"];
    assert_eq!(secret["Type"].as_str(), Some("AWS::SecretsManager::Secret"));
    let generate = &secret["Properties"]["GenerateSecretString"];
    assert!(generate["PasswordLength"].as_u64().unwrap() >= 32);
    assert_eq!(generate["ExcludePunctuation"].as_bool(), Some(true));
    assert!(secret["Properties"].get("SecretString").is_none());
    // Given: used as is.
    let r = render(
        &url,
        "ext-given",
        &[
            ("ConcurrentAccountId", "210987654321"),
            ("ClusterName", "prod"),
            ("MapRole", "false"),
            ("ExternalId", "from-the-quick-create-link-7f3a"),
        ],
    );
    assert_eq!(
        r.role("RoleForAccessingEksAndEcr").trust["Statement"][0]["Condition"]["StringEquals"]
            ["sts:ExternalId"],
        "from-the-quick-create-link-7f3a"
    );
    assert_eq!(
        r.output("RoleForConcurrentServiceExtId").as_deref(),
        Some("from-the-quick-create-link-7f3a")
    );
}
