//! Issue 30: `infra/publish --version X.Y.Z` against moto's S3 (versioned buckets) and a stand-in
//! for AWS Signer (signer_standin.py) that checks every request against botocore's Signer model
//! and can refuse the signing job of one region. A release lays out its versioned keys per
//! region, is never published twice, and a refused signing job leaves nothing of it anywhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use integration::rendered::aws_in;
use integration::{aws_cli, start_moto, text};
use serde_json::Value as Json;
use serde_yaml_ng::Value;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

struct Standin(Child, PathBuf);

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Standin {
    /// The stand-in against moto at `moto`, refusing the signing job in `refuse` (or nowhere).
    fn start(moto: &str, dir: &Path, refuse: &str) -> (Standin, String) {
        let python = aws_cli().parent().unwrap().join("python");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite/signer_standin.py");
        let port_file = dir.join(format!("port-{refuse}"));
        let log = dir.join(format!("requests-{refuse}.log"));
        let child = Command::new(python)
            .arg(script)
            .args([
                moto,
                port_file.to_str().unwrap(),
                log.to_str().unwrap(),
                refuse,
            ])
            .spawn()
            .expect("the Signer stand-in starts");
        let started = Instant::now();
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                if !p.is_empty() {
                    break p;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no stand-in");
            std::thread::sleep(Duration::from_millis(100));
        };
        (Standin(child, log), format!("http://127.0.0.1:{port}"))
    }

    /// Every request it answered conformed to botocore's Signer model.
    fn assert_all_requests_conformed(&self) {
        let bad = std::fs::read_to_string(&self.1).unwrap_or_default();
        assert!(bad.is_empty(), "requests outside Signer's model:\n{bad}");
    }
}

/// A git repository of what `infra/publish` reads (infra/ and the function's Cargo.toml at
/// `crate_version`), committed; `tag` is made at that commit, and `later` commits come after it.
/// Issue 40: a release is the commit tagged vX.Y.Z, so the release tests publish from one.
fn release_tree(crate_version: &str, tag: Option<&str>, later: bool) -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tree = tempfile::tempdir().unwrap();
    let dir = tree.path();
    std::fs::create_dir_all(dir.join("infra")).unwrap();
    for e in std::fs::read_dir(root.join("infra")).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dir.join("infra").join(e.file_name())).unwrap();
        }
    }
    let manifest = std::fs::read_to_string(root.join("functions/eks-role-mapper/Cargo.toml"))
        .unwrap()
        .replacen(
            "version = \"1.0.0\"",
            &format!("version = \"{crate_version}\""),
            1,
        );
    std::fs::create_dir_all(dir.join("functions/eks-role-mapper")).unwrap();
    std::fs::write(dir.join("functions/eks-role-mapper/Cargo.toml"), manifest).unwrap();
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args([
                "-c",
                "user.name=release",
                "-c",
                "user.email=release@example.com",
            ])
            .args(args)
            .current_dir(dir)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", text(&o).1);
    };
    git(&["init", "--quiet"]);
    git(&["add", "."]);
    git(&["commit", "--quiet", "-m", "release"]);
    if let Some(tag) = tag {
        git(&["tag", "-a", tag, "-m", tag]);
    }
    if later {
        git(&[
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "after the release",
        ]);
    }
    // The pinned tools (publish-release lints the released template with .venv's cfn-lint),
    // untracked as in a clone.
    if let Ok(venv) = root.join(".venv").canonicalize() {
        std::os::unix::fs::symlink(venv, dir.join(".venv")).unwrap();
    }
    tree
}

fn publish(moto: &str, signer: &str, zip: &Path, version: &str) -> Output {
    let tree = release_tree(version, Some(&format!("v{version}")), false);
    publish_from(tree.path(), moto, signer, zip, version)
}

fn publish_from(tree: &Path, moto: &str, signer: &str, zip: &Path, version: &str) -> Output {
    let script = tree.join("infra/publish");
    let o = integration::against_moto(&mut Command::new("bash"))
        .env("EKS_ROLE_MAPPER_PYTHON", crate::template_regions::python())
        .arg(script)
        .args(["--version", version, "--regions", &REGIONS.join(",")])
        .args(["--bucket-prefix", "vendor", "--create-buckets"])
        .args(["--signing-profile", "concurrent_eks", "--skip-build"])
        .args(["--endpoint-url", moto, "--signer-endpoint-url", signer])
        .arg("--artifact")
        .arg(zip)
        .arg("--sbom")
        .arg(zip.with_file_name("sbom.cdx.json"))
        .output()
        .unwrap();
    integration::keep_output("publish", &o);
    o
}

/// Every object version in the region's bucket: (key, version id), sorted.
fn versions(moto: &str, region: &str) -> Vec<(String, String)> {
    let bucket = format!("vendor-{region}");
    let got = aws_in(
        moto,
        region,
        &["s3api", "list-object-versions", "--bucket", &bucket],
    );
    let got = got.unwrap_or(Json::Null);
    let mut all: Vec<(String, String)> = got["Versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let field = |k: &str| v[k].as_str().unwrap().to_string();
            (field("Key"), field("VersionId"))
        })
        .collect();
    all.sort();
    all
}

fn object(moto: &str, region: &str, key: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join("object");
    let bucket = format!("vendor-{region}");
    let o = Command::new(aws_cli())
        .args([
            "--endpoint-url",
            moto,
            "--region",
            region,
            "s3api",
            "get-object",
        ])
        .args(["--bucket", &bucket, "--key", key])
        .arg(&out)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    std::fs::read(out).unwrap()
}

#[test]
fn publish_lays_out_a_signed_versioned_release_per_region_and_never_publishes_it_twice() {
    let (_moto, moto) = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("bootstrap.zip");
    std::fs::write(&zip, b"PK\x03\x04 the release's zip").unwrap();
    std::fs::write(
        dir.path().join("sbom.cdx.json"),
        b"{\"bomFormat\":\"CycloneDX\"}",
    )
    .unwrap();
    let (signer, signer_url) = Standin::start(&moto, dir.path(), "");
    let o = publish(&moto, &signer_url, &zip, "1.0.0");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let sha = String::from_utf8(Command::new("sha256sum").arg(&zip).output().unwrap().stdout)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(
        out.contains(&format!("1.0.0: bootstrap.zip sha256 {sha}")),
        "{out}"
    );
    let mut before = Vec::new();
    for region in REGIONS {
        let all = versions(&moto, region);
        let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
        for fixed in [
            "bootstrap.zip",
            "bootstrap.zip.sha256",
            "sbom.cdx.json",
            "eks-role-mapper.yaml",
        ] {
            assert!(
                keys.contains(&format!("eks-role-mapper/1.0.0/{fixed}").as_str()),
                "{keys:?}"
            );
        }
        let (signed, signed_version) = all
            .iter()
            .find(|(k, _)| k.starts_with("eks-role-mapper/1.0.0/signed/"))
            .expect("the signed zip");
        // The released template points at the signed object's exact version in this region.
        let t: Value = serde_yaml_ng::from_slice(&object(
            &moto,
            region,
            "eks-role-mapper/1.0.0/eks-role-mapper.yaml",
            dir.path(),
        ))
        .unwrap();
        let entry = &t["Mappings"]["Release"][region];
        assert_eq!(
            entry["Bucket"].as_str(),
            Some(format!("vendor-{region}").as_str())
        );
        assert_eq!(entry["Key"].as_str(), Some(signed.as_str()));
        assert_eq!(
            entry["ObjectVersion"].as_str(),
            Some(signed_version.as_str())
        );
        assert_eq!(entry["Sha256"].as_str(), Some(sha.as_str()));
        let profiles = t["Parameters"]["SigningProfileVersionArns"]["Default"]
            .as_str()
            .unwrap();
        assert!(
            profiles.contains(&format!(
                "arn:aws:signer:{region}:123456789012:/signing-profiles/concurrent_eks/"
            )),
            "{profiles}"
        );
        let published = object(
            &moto,
            region,
            "eks-role-mapper/1.0.0/bootstrap.zip.sha256",
            dir.path(),
        );
        assert_eq!(
            String::from_utf8_lossy(&published),
            format!("{sha}  bootstrap.zip\n")
        );
        assert!(out.contains(&format!("https://console.aws.amazon.com/cloudformation/home?region={region}#/stacks/quickcreate?templateURL=https%3A%2F%2Fvendor-{region}.s3.{region}.amazonaws.com%2Feks-role-mapper%2F1.0.0%2Feks-role-mapper.yaml")), "{out}");
        before.push(all);
    }
    // 1.0.0 again (even another zip): refused, nothing written or overwritten.
    std::fs::write(&zip, b"PK\x03\x04 another zip").unwrap();
    let again = publish(&moto, &signer_url, &zip, "1.0.0");
    let (_, err) = text(&again);
    assert_eq!(again.status.code(), Some(1), "{err}");
    assert!(
        err.contains("1.0.0 is already published in us-east-1"),
        "{err}"
    );
    for (region, was) in REGIONS.iter().zip(&before) {
        assert_eq!(&versions(&moto, region), was, "{region}");
    }
    signer.assert_all_requests_conformed();
}

#[test]
fn a_refused_signing_job_fails_the_publish_and_leaves_nothing_of_the_release() {
    let (_moto, moto) = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("bootstrap.zip");
    std::fs::write(&zip, b"PK\x03\x04 the release's zip").unwrap();
    std::fs::write(dir.path().join("sbom.cdx.json"), b"{}").unwrap();
    // us-east-1 is signed first; eu-west-1's job is refused.
    let (signer, signer_url) = Standin::start(&moto, dir.path(), "eu-west-1");
    let o = publish(&moto, &signer_url, &zip, "2.0.0");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        err.contains("in eu-west-1 failed: refused by the stand-in"),
        "{err}"
    );
    assert!(!out.contains("quick-create"), "{out}");
    for region in REGIONS {
        assert_eq!(
            versions(&moto, region),
            Vec::<(String, String)>::new(),
            "{region}"
        );
    }
    signer.assert_all_requests_conformed();
}

/// Issue 38: a region of each partition gets its own partition's ARNs, S3 host and console (none
/// where AWS publishes none), and the bucket policy lets every account of the organization fetch
/// the exact object version a release pins: S3 authorizes a GET naming a version as
/// s3:GetObjectVersion (eks_sim::s3_policy), which the policy once lacked.
#[test]
fn publish_serves_every_partition_and_the_organization_fetches_pinned_versions() {
    use eks_sim::iam::{Decision, Request};
    use eks_sim::s3_policy::{cross_account, get_object_action};
    let (_moto, moto) = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("bootstrap.zip");
    std::fs::write(&zip, b"PK\x03\x04 a build").unwrap();
    let regions = [
        "cn-north-1",
        "us-isob-east-1",
        "eusc-de-east-1",
        "us-iso-east-1",
    ];
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/publish");
    let o = integration::against_moto(&mut Command::new("bash"))
        .env("EKS_ROLE_MAPPER_PYTHON", crate::template_regions::python())
        .arg(script)
        .args(["--regions", &regions.join(","), "--bucket-prefix", "vendor"])
        .args([
            "--create-buckets",
            "--org-id",
            "o-abc1234567",
            "--skip-build",
        ])
        .args(["--endpoint-url", &moto, "--artifact"])
        .arg(&zip)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("https://console.amazonaws.cn/cloudformation/home?region=cn-north-1#/stacks/quickcreate?templateURL=https%3A%2F%2Fvendor-cn-north-1.s3.cn-north-1.amazonaws.com.cn%2F"), "{out}");
    for (region, partition, host) in [
        (
            "us-isob-east-1",
            "aws-iso-b",
            "s3.us-isob-east-1.sc2s.sgov.gov",
        ),
        (
            "eusc-de-east-1",
            "aws-eusc",
            "s3.eusc-de-east-1.amazonaws.eu",
        ),
        ("us-iso-east-1", "aws-iso", "s3.us-iso-east-1.c2s.ic.gov"),
    ] {
        assert!(
            out.contains(&format!("no public console host in {partition}; aws cloudformation create-stack --region {region} --template-url): https://vendor-{region}.{host}/eks-role-mapper/eks-role-mapper.yaml")),
            "{out}"
        );
    }
    // Another account of the organization (a StackSet's instance) fetches the pinned version.
    let caller =
        "arn:aws-iso-b:sts::210987654321:assumed-role/AWSCloudFormationStackSetExecutionRole/s";
    let identity =
        [serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})];
    let got = aws_in(
        &moto,
        "us-isob-east-1",
        &[
            "s3api",
            "get-bucket-policy",
            "--bucket",
            "vendor-us-isob-east-1",
        ],
    )
    .unwrap();
    let policy: Json = serde_json::from_str(got["Policy"].as_str().unwrap()).unwrap();
    let object = "arn:aws-iso-b:s3:::vendor-us-isob-east-1/eks-role-mapper/1.0.0/signed/job.zip";
    let get = |version: Option<&str>, org: &str| {
        Request::new(get_object_action(version), object).with("aws:PrincipalOrgID", &[org])
    };
    assert_eq!(
        cross_account(&policy, &identity, &get(Some("v1"), "o-abc1234567"), caller),
        Decision::Allow
    );
    assert_eq!(
        cross_account(&policy, &identity, &get(None, "o-abc1234567"), caller),
        Decision::Allow
    );
    assert_eq!(
        cross_account(
            &policy,
            &identity,
            &get(Some("v1"), "o-someoneelse"),
            caller
        ),
        Decision::ImplicitDeny
    );
    // The policy as it was (s3:GetObject alone): the pinned version is refused.
    let mut old = policy.clone();
    old["Statement"][0]["Action"] = Json::from("s3:GetObject");
    assert_eq!(
        cross_account(&old, &identity, &get(Some("v1"), "o-abc1234567"), caller),
        Decision::ImplicitDeny
    );
    // A name that is no region of any partition is refused before anything is written.
    let o = integration::against_moto(&mut Command::new("bash"))
        .env("EKS_ROLE_MAPPER_PYTHON", crate::template_regions::python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/publish"))
        .args([
            "--regions",
            "us-nowhere-1x",
            "--bucket-prefix",
            "vendor",
            "--skip-build",
        ])
        .args(["--endpoint-url", &moto, "--artifact"])
        .arg(&zip)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);
}

/// Issue 40: a release is published only from the commit tagged vX.Y.Z, as committed, with the
/// function's crate at X.Y.Z (the User-Agent and the artifact's dependency list say it). Each
/// refusal comes before any call: no bucket is made.
#[test]
fn publish_refuses_a_release_that_is_not_the_tagged_commit_of_the_crates_version() {
    let (_moto, moto) = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("bootstrap.zip");
    std::fs::write(&zip, b"PK\x03\x04 the release's zip").unwrap();
    std::fs::write(dir.path().join("sbom.cdx.json"), b"{}").unwrap();
    let dirty = release_tree("1.0.0", Some("v1.0.0"), false);
    std::fs::write(
        dirty.path().join("infra/publish-release"),
        "#!/bin/sh\nexit 0\n",
    )
    .unwrap();
    for (tree, version, refusal) in [
        (
            release_tree("1.0.0", None, false),
            "1.0.0",
            "no git tag v1.0.0",
        ),
        (
            release_tree("1.0.0", Some("v1.0.0"), true),
            "1.0.0",
            "not HEAD",
        ),
        (
            release_tree("1.0.0", Some("1.0.0"), false),
            "1.0.0",
            "no git tag v1.0.0",
        ),
        (
            release_tree("1.0.0", Some("v1.0.1"), false),
            "1.0.1",
            "Cargo.toml's version (1.0.0)",
        ),
        (dirty, "1.0.0", "changes not in v1.0.0"),
    ] {
        let o = publish_from(tree.path(), &moto, "http://127.0.0.1:9", &zip, version);
        let err = text(&o).1;
        assert_eq!(o.status.code(), Some(2), "{refusal}: {err}");
        assert!(err.contains(refusal), "{refusal}: {err}");
    }
    let buckets = aws_in(&moto, "us-east-1", &["s3api", "list-buckets"]).unwrap();
    assert_eq!(
        buckets["Buckets"].as_array().map_or(0, Vec::len),
        0,
        "{buckets}"
    );
}

/// Issue 40: `--org-id` on a bucket that already exists gives it the organization's statement,
/// keeping the bucket's other statements (it was silently ignored: no account of the
/// organization could read); `--concurrent-account-id` fills the vendor's account into every
/// quick-create link.
#[test]
fn publish_grants_the_organization_on_an_existing_bucket_and_fills_the_vendor_account() {
    let (_moto, moto) = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("bootstrap.zip");
    std::fs::write(&zip, b"PK\x03\x04 a build").unwrap();
    let other = r#"{"Sid":"VendorCi","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::vendor-us-east-1/*"}"#;
    aws_in(
        &moto,
        "us-east-1",
        &["s3api", "create-bucket", "--bucket", "vendor-us-east-1"],
    )
    .unwrap();
    let with_other = format!(r#"{{"Version":"2012-10-17","Statement":[{other}]}}"#);
    aws_in(
        &moto,
        "us-east-1",
        &[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            "vendor-us-east-1",
            "--policy",
            &with_other,
        ],
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/publish");
    for _ in 0..2 {
        let o = integration::against_moto(&mut Command::new("bash"))
            .env("EKS_ROLE_MAPPER_PYTHON", crate::template_regions::python())
            .arg(&script)
            .args(["--regions", "us-east-1", "--bucket-prefix", "vendor"])
            .args(["--org-id", "o-abc1234567", "--skip-build"])
            .args(["--concurrent-account-id", "123456789012"])
            .args(["--endpoint-url", &moto, "--artifact"])
            .arg(&zip)
            .output()
            .unwrap();
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}\n{err}");
        assert!(
            out.contains("&param_ConcurrentAccountId=123456789012"),
            "{out}"
        );
    }
    let policy = aws_in(
        &moto,
        "us-east-1",
        &["s3api", "get-bucket-policy", "--bucket", "vendor-us-east-1"],
    )
    .unwrap();
    let policy: Json = serde_json::from_str(policy["Policy"].as_str().unwrap()).unwrap();
    let sids: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    // Published twice: the statement once, the bucket's own kept.
    assert_eq!(sids, ["VendorCi", "OrganizationReadsArtifacts"], "{policy}");
    let org = &policy["Statement"][1];
    assert_eq!(
        org["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        "o-abc1234567"
    );
    assert_eq!(
        org["Action"],
        serde_json::json!(["s3:GetObject", "s3:GetObjectVersion"])
    );
}
