//! Issue 30: the function runs only code the vendor's AWS Signer profile signed (a
//! CodeSigningConfig that Lambda enforces), taken from the exact S3 object version a release
//! published, and a released template refuses every region it was not published to. The
//! released template is infra/release-template's (infra/publish runs it); it is linted by
//! cfn-lint for its regions and deployed on moto's CloudFormation.

use std::path::{Path, PathBuf};

use integration::rendered::{self, REGION};
use integration::{start_moto, text};
use serde_yaml_ng::Value;

/// The vendor's signing profile version in `region` (Signer signs only in its profile's region).
fn profile(region: &str) -> String {
    format!("arn:aws:signer:{region}:123456789012:/signing-profiles/concurrent_eks/abcdef1234")
}
const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn committed() -> PathBuf {
    root().join("infra/eks-role-mapper.yaml")
}

fn yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A short-form tag's name and value (`!Ref X` -> ("Ref", X)).
fn tag(v: &Value) -> (String, &Value) {
    match v {
        Value::Tagged(t) => (
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        ),
        other => panic!("not a tagged value: {other:?}"),
    }
}

/// infra/release-template for `regions` (each with bucket, key and object version), into `dir`.
fn release(dir: &Path, regions: &[(&str, &str, &str, &str)]) -> PathBuf {
    let mut cmd = std::process::Command::new(root().join("infra/release-template"));
    cmd.args(["--template"]).arg(committed());
    for region in regions.iter().map(|r| r.0) {
        cmd.args(["--signing-profile-version-arn", &profile(region)]);
    }
    for (region, bucket, key, version) in regions {
        cmd.args([
            "--region",
            &format!("{region}={bucket},{key},{version},{SHA}"),
        ]);
    }
    let o = cmd.output().unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let path = dir.join("released.yaml");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn the_function_runs_only_code_the_release_profile_signed_at_its_exact_object_version() {
    let t = yaml(&committed());
    let csc = &t["Resources"]["CodeSigningConfig"];
    assert_eq!(csc["Type"].as_str(), Some("AWS::Lambda::CodeSigningConfig"));
    assert_eq!(
        csc["Properties"]["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"].as_str(),
        Some("Enforce")
    );
    let publishers = &csc["Properties"]["AllowedPublishers"]["SigningProfileVersionArns"];
    let (f, arg) = tag(publishers);
    assert_eq!(
        (f.as_str(), arg.as_str()),
        ("Ref", Some("SigningProfileVersionArns"))
    );
    let props = &t["Resources"]["MapperFunction"]["Properties"];
    // Released: the CodeSigningConfig's ARN (its Ref) and the Release mapping's object version.
    let (f, arg) = tag(&props["CodeSigningConfigArn"]);
    assert_eq!(f, "If");
    assert_eq!(arg[0].as_str(), Some("Released"));
    let (f, csc_ref) = tag(&arg[1]);
    assert_eq!(
        (f.as_str(), csc_ref.as_str()),
        ("Ref", Some("CodeSigningConfig"))
    );
    for (field, entry) in [
        ("S3Bucket", "Bucket"),
        ("S3Key", "Key"),
        ("S3ObjectVersion", "ObjectVersion"),
    ] {
        let (f, arg) = tag(&props["Code"][field]);
        assert_eq!(
            (f.as_str(), arg[0].as_str()),
            ("If", Some("Released")),
            "{field}"
        );
        let (f, find) = tag(&arg[1]);
        assert_eq!(f, "FindInMap", "{field}");
        assert_eq!(find[0].as_str(), Some("Release"));
        assert_eq!(tag(&find[1]).1.as_str(), Some("AWS::Region"));
        assert_eq!(find[2].as_str(), Some(entry));
    }
    // The committed template is no release: its mapping names no region.
    let release = t["Mappings"]["Release"].as_mapping().unwrap();
    assert_eq!(
        release
            .keys()
            .filter_map(|k| k.as_str())
            .collect::<Vec<_>>(),
        ["unpublished"]
    );
}

/// The PublishedRegionsOnly rule, evaluated as CloudFormation does for `region` with the
/// parameters' defaults: None if the stack may go on, else the refusal's message.
fn refusal(t: &Value, region: &str) -> Option<String> {
    let rule = &t["Rules"]["PublishedRegionsOnly"];
    let default = t["Parameters"]["SigningProfileVersionArns"]["Default"]
        .as_str()
        .unwrap();
    // RuleCondition: !Not [!EachMemberEquals [!Ref SigningProfileVersionArns, ""]]
    let (not, each) = tag(&rule["RuleCondition"]);
    let (eq, args) = tag(&each[0]);
    assert_eq!((not.as_str(), eq.as_str()), ("Not", "EachMemberEquals"));
    assert_eq!(tag(&args[0]).1.as_str(), Some("SigningProfileVersionArns"));
    if default.split(',').all(|m| m == args[1].as_str().unwrap()) {
        return None;
    }
    let assertion = &rule["Assertions"][0];
    let (contains, args) = tag(&assertion["Assert"]);
    assert_eq!(contains, "Contains");
    assert_eq!(tag(&args[1]).1.as_str(), Some("AWS::Region"));
    let regions: Vec<&str> = args[0]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    (!regions.contains(&region))
        .then(|| assertion["AssertDescription"].as_str().unwrap().to_string())
}

#[test]
fn a_released_template_refuses_every_region_it_was_not_published_to() {
    let dir = tempfile::tempdir().unwrap();
    let key = "eks-role-mapper/1.0.0/bootstrap.zip";
    let released = release(
        dir.path(),
        &[
            ("us-east-1", "vendor-us-east-1", key, "v1"),
            ("eu-west-1", "vendor-eu-west-1", key, "v2"),
        ],
    );
    let t = yaml(&released);
    for region in ["us-east-1", "eu-west-1"] {
        assert_eq!(refusal(&t, region), None, "{region}");
        let entry = &t["Mappings"]["Release"][region];
        assert_eq!(
            entry["Bucket"].as_str(),
            Some(format!("vendor-{region}").as_str())
        );
        assert_eq!(entry["Key"].as_str(), Some(key));
        assert_eq!(entry["Sha256"].as_str(), Some(SHA));
    }
    assert_eq!(
        t["Mappings"]["Release"]["eu-west-1"]["ObjectVersion"].as_str(),
        Some("v2")
    );
    assert!(t["Mappings"]["Release"].get("unpublished").is_none());
    let refused = refusal(&t, "ap-southeast-7").expect("a region it was not published to");
    assert!(
        refused.contains("published to these regions only: eu-west-1, us-east-1."),
        "{refused}"
    );
    assert!(refused.contains("ask the Concurrent service"), "{refused}");
    // The release's profile is the default, and the template cannot be deployed unsigned.
    let param = &t["Parameters"]["SigningProfileVersionArns"];
    let both = format!("{},{}", profile("us-east-1"), profile("eu-west-1"));
    assert_eq!(param["Default"].as_str(), Some(both.as_str()));
    assert!(param["AllowedPattern"]
        .as_str()
        .unwrap()
        .starts_with("^arn:"));
    // The committed template (no release) refuses nothing by this rule.
    assert_eq!(refusal(&yaml(&committed()), "ap-southeast-7"), None);
    // The released template is linted whole (no exception left) for the regions it names.
    assert!(!std::fs::read_to_string(&released)
        .unwrap()
        .contains("ignore_checks"));
    let o = std::process::Command::new(integration::tool("CFN_LINT", &[".venv/bin/cfn-lint"]))
        .args(["--regions", "us-east-1", "eu-west-1", "--"])
        .arg(&released)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
}

#[test]
fn release_template_refuses_a_template_it_does_not_know_and_bad_regions() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.yaml");
    std::fs::write(&other, "AWSTemplateFormatVersion: \"2010-09-09\"\n").unwrap();
    let script = root().join("infra/release-template");
    let run = |template: &Path, region: &str| {
        std::process::Command::new(&script)
            .arg("--template")
            .arg(template)
            .args(["--signing-profile-version-arn", &profile("eu-west-1")])
            .args(["--region", region])
            .output()
            .unwrap()
            .status
            .code()
    };
    let good = format!("eu-west-1=b,k,v,{SHA}");
    assert_eq!(run(&other, &good), Some(1));
    assert_eq!(run(&committed(), "eu-west-1=b,k,v,nothex"), Some(2));
    assert_eq!(
        run(&committed(), &format!("Not_A_Region=b,k,v,{SHA}")),
        Some(2)
    );
}

#[test]
fn a_released_template_deploys_on_moto_from_its_mapping() {
    // moto's CloudFormation skips AWS::Lambda::CodeSigningConfig (unsupported: its Ref is empty),
    // so this shows the rest of a release deploys: the code from the mapping's bucket and key.
    let (_moto, url) = start_moto();
    let dir = tempfile::tempdir().unwrap();
    // rendered::render_in puts the zip at this bucket and key.
    let bucket = format!("concurrent-eks-role-mapper-{REGION}");
    let released = release(
        dir.path(),
        &[(REGION, &bucket, "eks-role-mapper/bootstrap.zip", "null")],
    );
    let r = rendered::render_in(
        &url,
        REGION,
        &released,
        "released",
        &[
            ("ConcurrentAccountId", "111122223333"),
            ("ClusterName", "c1"),
        ],
    );
    // The function was made (moto's Lambda reads its zip from the mapping's bucket and key).
    assert!(r.roles.iter().any(|(logical, _)| logical == "MapperRole"));
    assert_eq!(
        r.environment
            .get("EKS_ROLE_MAPPER_CLUSTER_NAME")
            .map(String::as_str),
        Some("c1"),
        "{:?}",
        r.environment
    );
}
