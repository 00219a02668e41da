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

fn publish(moto: &str, signer: &str, zip: &Path, version: &str) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/publish");
    let o = integration::against_moto(&mut Command::new("bash"))
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
