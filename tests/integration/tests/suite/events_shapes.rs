//! The event files never drift from CloudFormation's request shape: every good event and every
//! valid-shaped bad event parses as `aws_lambda_events`' custom-resource request, the deliberately
//! wrong-shaped ones are recorded as such in `events/bad/expected.json` (and really do not parse),
//! and the malformed ones are not JSON objects at all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use eks_role_mapper::KNOWN_PROPERTIES;
use serde_json::Value;

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| p.file_name().unwrap() != "expected.json")
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn expected() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(events_dir().join("bad/expected.json")).unwrap();
    serde_json::from_str(&text).expect("expected.json is a map of file name to expectation")
}

fn parses_as_request(text: &str) -> Result<CloudFormationCustomResourceRequest, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// A ResponseURL shaped like CloudFormation's presigned S3 PUT URL.
fn assert_presigned_s3(file: &str, url: &str) {
    let u = url::Url::parse(url).unwrap_or_else(|e| panic!("{file}: ResponseURL {e}"));
    assert_eq!(u.scheme(), "https", "{file}");
    let host = u.host_str().unwrap();
    assert!(
        host.starts_with("cloudformation-custom-resource-response-")
            && host.ends_with(".s3.amazonaws.com"),
        "{file}: {host}"
    );
    let q: BTreeMap<_, _> = u.query_pairs().into_owned().collect();
    for k in [
        "X-Amz-Algorithm",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
        "X-Amz-Credential",
        "X-Amz-Signature",
    ] {
        assert!(q.contains_key(k), "{file}: ResponseURL has no {k}");
    }
}

#[test]
fn every_good_event_is_a_cloudformation_request_with_known_properties_only() {
    let files = json_files(&events_dir());
    assert!(files.len() >= 6, "{files:?}");
    let mut request_ids = BTreeSet::new();
    for f in &files {
        let file = name(f);
        let text = std::fs::read_to_string(f).unwrap();
        if file.starts_with("reconcile") {
            // The schedule's event, not CloudFormation's: checked by its own test below.
            continue;
        }
        let parsed = parses_as_request(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let raw: Value = serde_json::from_str(&text).unwrap();
        assert_presigned_s3(&file, raw["ResponseURL"].as_str().unwrap());
        assert_eq!(raw["ResourceType"], "Custom::EksRoleMapping", "{file}");
        assert_eq!(
            raw["ServiceToken"], raw["ResourceProperties"]["ServiceToken"],
            "{file}: CloudFormation repeats the ServiceToken in the properties"
        );
        let (props, old) = match &parsed {
            CloudFormationCustomResourceRequest::Create(r) => (&r.resource_properties, None),
            CloudFormationCustomResourceRequest::Update(r) => {
                assert!(!r.physical_resource_id.is_empty(), "{file}");
                (&r.resource_properties, Some(&r.old_resource_properties))
            }
            CloudFormationCustomResourceRequest::Delete(r) => {
                assert!(!r.physical_resource_id.is_empty(), "{file}");
                (&r.resource_properties, None)
            }
            other => panic!("{file}: {:?}", std::mem::discriminant(other)),
        };
        for p in std::iter::once(props).chain(old) {
            for key in p.as_object().unwrap().keys() {
                assert!(
                    KNOWN_PROPERTIES.contains(&key.as_str()),
                    "{file}: {key} is not a property the mapper accepts"
                );
            }
            for v in p.as_object().unwrap().values() {
                assert!(
                    v.is_string() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
                    "{file}: CloudFormation sends only strings and lists of strings, not {v}"
                );
            }
        }
        let id = raw["RequestId"].as_str().unwrap().to_string();
        assert!(
            request_ids.insert(id.clone()),
            "{file}: RequestId {id} reused"
        );
    }
}

/// The reconcile events have the shape the template's schedule sends (infra/eks-role-mapper.yaml,
/// `ReconcileSchedule`'s Input): no ResponseURL, the stack's ARN and resource, the id the resource
/// answered, and exactly the properties the schedule carries.
#[test]
fn the_reconcile_events_are_what_the_schedule_sends_for_a_stack_of_the_other_events() {
    let mut seen = 0;
    for f in json_files(&events_dir()) {
        let file = name(&f);
        if !file.starts_with("reconcile") {
            continue;
        }
        seen += 1;
        let raw: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert!(eks_role_mapper::reconcile::is_reconcile(&raw), "{file}");
        let keys =
            |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
        let set = |k: &[&str]| -> BTreeSet<String> { k.iter().map(|s| s.to_string()).collect() };
        assert_eq!(
            keys(&raw),
            set(&[
                "RequestType",
                "StackId",
                "LogicalResourceId",
                "PhysicalResourceId",
                "ResourceProperties"
            ]),
            "{file}"
        );
        assert_eq!(
            keys(&raw["ResourceProperties"]),
            set(&[
                "ClusterName",
                "RoleArn",
                "EnableAccessEntries",
                "Region",
                "ClusterAdminRoleArn"
            ]),
            "{file}"
        );
        // The id is the one the matching Create answers: the owner key of this stack,
        // resource and role.
        let role = eks_role_mapper::arn::RoleArn::parse(
            "RoleArn",
            raw["ResourceProperties"]["RoleArn"].as_str().unwrap(),
        )
        .unwrap();
        let owner = eks_role_mapper::ownership::owner_key(
            raw["StackId"].as_str().unwrap(),
            raw["LogicalResourceId"].as_str().unwrap(),
            &role,
        );
        assert_eq!(
            raw["PhysicalResourceId"],
            format!("eks-role-mapper/v2|us-east-1|{owner}|{role}"),
            "{file}"
        );
    }
    assert_eq!(seen, 2);
}

#[test]
fn the_bad_corpus_has_an_expectation_per_file_and_at_least_sixty_events() {
    let exp = expected();
    let files: Vec<String> = json_files(&events_dir().join("bad"))
        .iter()
        .map(|f| name(f))
        .collect();
    let named: Vec<String> = exp.keys().cloned().collect();
    assert_eq!(
        files, named,
        "events/bad and expected.json list the same files"
    );
    for (file, e) in &exp {
        let number = file.split_once('-').map_or("", |(n, _)| n);
        assert!(
            (2..=3).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit()),
            "{file}: name it NN-short-name.json"
        );
        if e["malformed"] == true {
            assert!(
                file.contains("-malformed-"),
                "{file}: malformed files are NN-malformed-*.json"
            );
            continue;
        }
        assert!(
            e["field"].as_str().is_some_and(|f| !f.is_empty()),
            "{file}: field"
        );
        let frags = e["reason_contains"]
            .as_array()
            .unwrap_or_else(|| panic!("{file}: reason_contains is a list"));
        assert!(
            !frags.is_empty() && frags.iter().all(Value::is_string),
            "{file}"
        );
    }
    let valid = exp.values().filter(|e| e["malformed"] != true).count();
    println!(
        "bad corpus: {} files, {valid} events answered FAILED, {} malformed",
        exp.len(),
        exp.len() - valid
    );
    assert!(valid >= 60, "{valid} valid-shaped bad events");
}

#[test]
fn valid_shaped_bad_events_parse_and_the_wrong_shaped_ones_are_recorded_as_such() {
    let exp = expected();
    let mut wrong_shape = Vec::new();
    let mut request_ids = BTreeSet::new();
    for f in json_files(&events_dir().join("bad")) {
        let file = name(&f);
        let e = &exp[&file];
        let bytes = std::fs::read(&f).unwrap();
        if e["malformed"] == true {
            let object = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .is_some_and(|v| v.is_object());
            assert!(!object, "{file} is marked malformed but is a JSON object");
            continue;
        }
        let text = String::from_utf8(bytes).unwrap_or_else(|_| panic!("{file}: UTF-8"));
        let raw: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_presigned_s3(&file, raw["ResponseURL"].as_str().unwrap());
        if let Some(id) = raw["RequestId"].as_str() {
            assert!(
                request_ids.insert(id.to_string()),
                "{file}: RequestId {id} reused"
            );
        }
        let shape_ok = e["cfn_shape"] != false;
        match (parses_as_request(&text), shape_ok) {
            (Ok(_), true) | (Err(_), false) => {}
            (Err(err), true) => panic!("{file} should be a valid CloudFormation shape: {err}"),
            (Ok(_), false) => panic!("{file} is marked cfn_shape: false but parses"),
        }
        if !shape_ok {
            wrong_shape.push(file);
        }
    }
    println!("deliberately wrong-shaped: {wrong_shape:?}");
    assert!(!wrong_shape.is_empty());
}
