//! Issue 38: the template as CloudFormation takes it in every region it claims. CloudFormation
//! refuses a whole template that names a resource type its region lacks, whatever the resource's
//! Condition (aws/serverless-application-model#1167), and a YAML alias anywhere ("YAML aliases are
//! not allowed in CloudFormation templates"). cfn-lint (pinned in scripts/requirements-test.txt)
//! holds both, per region, from its own schemas of each region: every lint here fails on any
//! finding, warnings and informational ones included.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use integration::text;
use serde_yaml_ng::Value;

/// How cfn-lint runs everywhere in the suite: every finding fails (warnings too), whatever a
/// configuration file says.
pub(crate) const STRICT: [&str; 2] = ["--non-zero-exit-code", "informational"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn cfn_lint() -> PathBuf {
    integration::tool("CFN_LINT", &[".venv/bin/cfn-lint"])
}

/// The Python beside the pinned tools (botocore, cfn-lint).
pub(crate) fn python() -> PathBuf {
    cfn_lint().parent().unwrap().join("python")
}

/// cfn-lint of `template` for `regions`, every finding failing.
pub(crate) fn lint(template: &Path, regions: &[String]) -> Output {
    Command::new(cfn_lint())
        .args(STRICT)
        .arg("--regions")
        .args(regions)
        .arg("--")
        .arg(template)
        .output()
        .unwrap()
}

/// The regions of `partitions` as botocore lists them (CloudFormation's endpoints), and those of
/// them cfn-lint has no schemas of its own for (it falls back to us-east-1's there).
pub(crate) fn regions_of(partitions: &[&str]) -> (Vec<String>, Vec<String>) {
    let script = "import sys, json, pathlib, botocore.session, cfnlint\n\
        s = botocore.session.get_session()\n\
        rs = [r for p in sys.argv[1:] for r in s.get_available_regions('cloudformation', p)]\n\
        d = pathlib.Path(cfnlint.__file__).parent / 'data/schemas/providers'\n\
        print(json.dumps([rs, [r for r in rs if not (d / (r + '.json')).is_file()]]))";
    let o = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(partitions)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    serde_json::from_str(&out).unwrap()
}

/// cfn-lint of `template` in each of `regions`: several processes of a few regions each (one
/// process slows down more than linearly with many regions: measured 16 regions 57 s of CPU,
/// 4 regions 8 s), two at a time. The findings of every batch that failed.
pub(crate) fn lint_each_region(template: &Path, regions: &[String]) -> Vec<String> {
    let batches: Vec<&[String]> = regions.chunks(4).collect();
    let mut failures = Vec::new();
    for pair in batches.chunks(2) {
        let found: Vec<Option<String>> = std::thread::scope(|s| {
            let running: Vec<_> = pair
                .iter()
                .map(|batch| {
                    s.spawn(move || {
                        let o = lint(template, batch);
                        let (out, err) = text(&o);
                        (!o.status.success()).then(|| {
                            format!("{batch:?} (exit {:?}):\n{out}\n{err}", o.status.code())
                        })
                    })
                })
                .collect();
            running.into_iter().map(|h| h.join().unwrap()).collect()
        });
        failures.extend(found.into_iter().flatten());
    }
    failures
}

#[test]
fn the_committed_template_passes_cfn_lint_in_every_region_of_aws_aws_cn_and_aws_us_gov() {
    let (regions, without_schemas) = regions_of(&["aws", "aws-cn", "aws-us-gov"]);
    for r in [
        "us-east-1",
        "ap-east-2",
        "mx-central-1",
        "cn-north-1",
        "us-gov-west-1",
    ] {
        assert!(regions.iter().any(|x| x == r), "{r} in {regions:?}");
    }
    // cfn-lint 1.58.0 has no schemas of me-south-1 (it lints that region with us-east-1's): the
    // README says so. A newer pin that has them makes this list shrink, never grow unseen.
    assert!(
        without_schemas.iter().all(|r| r == "me-south-1"),
        "{without_schemas:?}"
    );
    let started = std::time::Instant::now();
    let template = root().join("infra/eks-role-mapper.yaml");
    let failures = lint_each_region(&template, &regions);
    eprintln!(
        "cfn-lint in {} regions: {:.0} s",
        regions.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // No resource type a region may lack: the CodeSigningConfig is a signed release's alone.
    let text = std::fs::read_to_string(&template).unwrap();
    assert!(!text.contains("AWS::Lambda::CodeSigningConfig"));
    assert!(!text.contains("CodeSigningConfigArn"));
}

#[test]
fn cfn_lint_as_the_suite_runs_it_refuses_a_yaml_alias_and_any_warning() {
    let dir = tempfile::tempdir().unwrap();
    let aliased = dir.path().join("aliased.yaml");
    std::fs::write(
        &aliased,
        "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  A:\n    Type: AWS::SNS::Topic\n    \
         Properties:\n      Tags: &tags\n        - { Key: k, Value: v }\n  B:\n    Type: AWS::SNS::Topic\n    \
         Properties:\n      Tags: *tags\n",
    )
    .unwrap();
    let o = lint(&aliased, &["us-east-1".into()]);
    let (out, _) = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("W1101"), "{out}");
    // The pin is the one the suite runs.
    let pinned = std::fs::read_to_string(root().join("scripts/requirements-test.txt")).unwrap();
    let version = Command::new(cfn_lint()).arg("--version").output().unwrap();
    let version = text(&version).0;
    let pin = pinned
        .lines()
        .find_map(|l| l.strip_prefix("cfn-lint=="))
        .expect("cfn-lint is pinned");
    assert_eq!(version.trim(), format!("cfn-lint {pin}"));
    // The test command (scripts/test, whose checks are scripts/check) lints with every finding
    // failing too.
    let script: String = ["scripts/test", "scripts/check"]
        .iter()
        .filter_map(|s| std::fs::read_to_string(root().join(s)).ok())
        .collect();
    let runs: Vec<&str> = script
        .lines()
        .filter(|l| l.contains("\"$CFN_LINT\""))
        .collect();
    assert!(!runs.is_empty());
    for run in runs {
        assert!(run.contains(&STRICT.join(" ")), "{run}");
    }
}

/// Lambda retries a failed asynchronous invocation twice and keeps an event up to 6 hours by
/// default; the template bounds both for the function CloudFormation invokes.
#[test]
fn asynchronous_invocation_is_never_retried_and_no_older_than_the_service_timeout() {
    let t: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join("infra/eks-role-mapper.yaml")).unwrap(),
    )
    .unwrap();
    let resources = t["Resources"].as_mapping().unwrap();
    let configs: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Lambda::EventInvokeConfig"))
        .collect();
    assert_eq!(configs.len(), 1);
    let c = configs[0];
    assert_eq!(c["Condition"].as_str(), Some("MapRoleEnabled"));
    let p = &c["Properties"];
    let Value::Tagged(f) = &p["FunctionName"] else {
        panic!("{:?}", p["FunctionName"])
    };
    assert_eq!(f.value.as_str(), Some("MapperFunction"));
    assert_eq!(p["Qualifier"].as_str(), Some("$LATEST"));
    assert_eq!(p["MaximumRetryAttempts"].as_u64(), Some(0));
    let age = p["MaximumEventAgeInSeconds"].as_u64().unwrap();
    let timeout = t["Resources"]["Mapping"]["Properties"]["ServiceTimeout"]
        .as_u64()
        .unwrap();
    // Lambda takes 60..=21600.
    assert!((60..=timeout).contains(&age), "{age} > {timeout}");
    // In force before CloudFormation's first request.
    let depends: Vec<&str> = t["Resources"]["Mapping"]["DependsOn"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(depends.contains(&"MapperAsyncInvokeConfig"), "{depends:?}");
    // The type exists everywhere the template deploys (cfn-lint's schemas, per region).
    let (regions, _) = regions_of(&["aws", "aws-cn", "aws-us-gov"]);
    let script = "import sys, json, pathlib, cfnlint\n\
        d = pathlib.Path(cfnlint.__file__).parent / 'data/schemas/providers'\n\
        print(json.dumps([r for r in sys.argv[1:] if (d / (r + '.json')).is_file() and \
        'AWS::Lambda::EventInvokeConfig' not in json.loads((d / (r + '.json')).read_text())]))";
    let o = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(&regions)
        .output()
        .unwrap();
    assert_eq!(text(&o).0.trim(), "[]", "{}", text(&o).1);
}
