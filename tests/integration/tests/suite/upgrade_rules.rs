//! Issue 29: the template's rules, evaluated as CloudFormation evaluates them before an update,
//! refuse an upgrade of an original Step 1 stack that would cost the service its access (an empty
//! ExternalId, another account), and leave new stacks alone. moto does not evaluate Rules.

use std::collections::BTreeMap;

use integration::rendered::template_path;
use serde_json::{json, Value as Json};
use serde_yaml_ng::Value;

/// The service's account in these stacks.
const SERVICE_ACCOUNT: &str = "210987654321";

/// The template's rules, evaluated for `params` as CloudFormation does before an update: the
/// AssertDescription of each assertion that fails where its rule applies. Knows the functions
/// these rules use (!Not, !Equals, !And, !Ref, !EachMemberEquals, !Contains).
fn rules_refuse(params: &BTreeMap<&str, &str>) -> Vec<String> {
    fn eval(v: &Value, p: &BTreeMap<&str, &str>) -> Json {
        match v {
            Value::Tagged(t) => {
                let args = &t.value;
                match t.tag.to_string().as_str() {
                    "!Ref" => match args.as_str().unwrap() {
                        "AWS::Partition" => {
                            json!(p.get("AWS::Partition").copied().unwrap_or("aws"))
                        }
                        name => json!(p.get(name).copied().unwrap_or("")),
                    },
                    "!Contains" => {
                        let list: Vec<Json> = args[0]
                            .as_sequence()
                            .unwrap()
                            .iter()
                            .map(|m| eval(m, p))
                            .collect();
                        json!(list.contains(&eval(&args[1], p)))
                    }
                    "!Not" => json!(!eval(&args[0], p).as_bool().unwrap()),
                    "!Equals" => json!(eval(&args[0], p) == eval(&args[1], p)),
                    "!And" => json!(args
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .all(|a| eval(a, p) == json!(true))),
                    "!EachMemberEquals" => {
                        let list = eval(&args[0], p);
                        let want = eval(&args[1], p);
                        json!(list.as_str().unwrap().split(',').all(|m| json!(m) == want))
                    }
                    other => panic!("{other} is not known here"),
                }
            }
            Value::String(s) => json!(s),
            other => panic!("{other:?}"),
        }
    }
    let t: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(template_path()).unwrap()).unwrap();
    let mut refused = Vec::new();
    for (_, rule) in t["Rules"].as_mapping().unwrap() {
        // A rule without a RuleCondition always applies.
        if !rule["RuleCondition"].is_null() && eval(&rule["RuleCondition"], params) != json!(true) {
            continue;
        }
        for a in rule["Assertions"].as_sequence().unwrap() {
            if eval(&a["Assert"], params) != json!(true) {
                refused.push(a["AssertDescription"].as_str().unwrap().to_string());
            }
        }
    }
    refused
}

/// A new stack's parameters that the rules read, but the upgrade's and the partition.
fn base() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("ConcurrentAccountId", SERVICE_ACCOUNT),
        ("ClusterName", "legacy"),
        ("MapRole", "true"),
        ("Reconcile", "off"),
        ("SubnetIds", ""),
        ("SecurityGroupIds", ""),
        ("ClusterAdminExternalId", ""),
    ])
}

#[test]
fn an_upgrade_with_an_empty_external_id_or_another_account_is_refused_a_new_stack_is_not() {
    let base = base();
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut p = base.clone();
        p.extend(extra.iter().copied());
        rules_refuse(&p)
    };
    // A new stack: ParallelsAWSAccount empty, ExternalId empty (generated) or given.
    assert_eq!(
        with(&[("ParallelsAWSAccount", ""), ("ExternalId", "")]),
        Vec::<String>::new()
    );
    assert_eq!(
        with(&[("ParallelsAWSAccount", ""), ("ExternalId", "given-1234")]),
        Vec::<String>::new()
    );
    // The upgrade as infra/README.md gives it.
    let uuid = "3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40";
    assert_eq!(
        with(&[
            ("ParallelsAWSAccount", SERVICE_ACCOUNT),
            ("ExternalId", uuid)
        ]),
        Vec::<String>::new()
    );
    // ExternalId left empty, or the account changed: refused before anything changes.
    let empty = with(&[("ParallelsAWSAccount", SERVICE_ACCOUNT), ("ExternalId", "")]);
    assert!(
        empty.len() == 1 && empty[0].contains("RoleForConcurrentServiceExtId"),
        "{empty:?}"
    );
    let other = with(&[
        ("ParallelsAWSAccount", "444455556666"),
        ("ExternalId", uuid),
    ]);
    assert!(
        other.len() == 1 && other[0].contains("ConcurrentAccountId"),
        "{other:?}"
    );
}

/// Where the function could not answer CloudFormation (a partition the SDK's partition data does
/// not know yet; the eight it knows are each run by `partitions`), the template refuses the stack
/// before anything is created.
#[test]
fn a_partition_the_function_cannot_answer_in_is_refused_before_anything_is_made() {
    let mut base = base();
    base.extend([("ParallelsAWSAccount", ""), ("ExternalId", "")]);
    for (partition, refused) in [
        ("aws", false),
        ("aws-cn", false),
        ("aws-us-gov", false),
        ("aws-iso", false),
        ("aws-iso-b", false),
        ("aws-iso-e", false),
        ("aws-iso-f", false),
        ("aws-eusc", false),
        ("aws-future", true),
    ] {
        let mut p = base.clone();
        p.insert("AWS::Partition", partition);
        let said = rules_refuse(&p);
        assert_eq!(
            said.iter().any(|r| r.contains("partitions")),
            refused,
            "{partition}: {said:?}"
        );
    }
}
