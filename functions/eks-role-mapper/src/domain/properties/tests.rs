//! The properties' parser: defaults, and each bad value named.

use super::*;
use crate::domain::properties::clusters::MAX_CLUSTERS;
use serde_json::json;

fn base() -> Value {
    json!({"ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:f", "ClusterName": "prod", "RoleArn": "arn:aws:iam::111122223333:role/R"})
}

#[test]
fn defaults_follow_the_seed_script() {
    let p = Properties::parse(&base()).unwrap();
    assert_eq!(p.username, "arn:aws:iam::111122223333:role/R");
    assert_eq!(p.groups, vec!["system:masters"]);
    assert_eq!(p.method, Method::Auto);
    assert!(!p.enable_access_entries);
    assert_eq!(
        p.access_policy_arn,
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    );
}

#[test]
fn each_bad_value_names_its_field() {
    let cases = [
        ("Nope", json!("x"), "Nope: unknown property"),
        ("ClusterName", json!(""), "ClusterName: required"),
        (
            "ClusterName",
            json!("-bad"),
            "ClusterName: expected an EKS cluster name",
        ),
        (
            "ClusterName",
            json!(5),
            "ClusterName: expected a string, got a number",
        ),
        (
            "Groups",
            json!(["a", 1]),
            "Groups: expected a list of strings",
        ),
        (
            "Groups",
            json!("system:masters\n- rolearn: x"),
            "Groups: expected 1-256 printable",
        ),
        ("Username", json!("a\nb"), "Username: expected"),
        ("Method", json!("Magic"), "Method: expected Auto"),
        (
            "EnableAccessEntries",
            json!("yes"),
            "EnableAccessEntries: expected \"true\"",
        ),
        ("Region", json!("moon"), "Region: expected an AWS region"),
    ];
    for (k, v, want) in cases {
        let mut e = base();
        e[k] = v;
        let err = Properties::parse(&e).unwrap_err().to_string();
        assert!(err.starts_with(want), "{k}: {err}");
    }
}

#[test]
fn cluster_lists_and_the_wildcard() {
    let parse = |v: Value| Clusters::parse(Some(&v));
    assert_eq!(
        parse(json!("a, b,a")).unwrap(),
        Clusters::Named(vec!["a".into(), "b".into()])
    );
    assert_eq!(
        parse(json!(["x", "y"])).unwrap(),
        Clusters::Named(vec!["x".into(), "y".into()])
    );
    assert_eq!(parse(json!("*")).unwrap(), Clusters::All);
    assert_eq!(
        parse(json!("prod")).unwrap(),
        Clusters::Named(vec!["prod".into()])
    );
    let many = (0..=MAX_CLUSTERS)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    for (bad, want) in [
        (json!("a,,b"), "cluster name 2 of the list is empty"),
        (json!("a,*"), "expected * alone"),
        (json!("a,-b"), "expected an EKS cluster name"),
        (json!(many), "expected at most 100 cluster names"),
        (json!([1]), "expected a list of cluster names"),
    ] {
        let err = parse(bad).unwrap_err().to_string();
        assert!(
            err.starts_with("ClusterName: ") && err.contains(want),
            "{err}"
        );
    }
}

#[test]
fn registration_needs_a_standard_topic_and_exactly_one_external_id_source() {
    let topic = "arn:aws:sns:eu-west-1:444455556666:registrations";
    let with = |extra: Value| {
        let mut e = base();
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        Properties::parse(&e)
    };
    let p = with(json!({"RegistrationTopicArn": topic, "ExternalId": "abc-123"})).unwrap();
    let r = p.registration.unwrap();
    assert_eq!(r.topic.region(), "eu-west-1");
    assert_eq!(r.external_id, ExternalIdSource::Given("abc-123".into()));
    assert!(!format!("{r:?}").contains("abc-123"), "{r:?}");
    assert!(with(json!({})).unwrap().registration.is_none());
    let secret = "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:x-AbCdEf";
    let p = with(json!({"RegistrationTopicArn": topic, "ExternalIdSecretArn": secret})).unwrap();
    assert!(matches!(
        p.registration.unwrap().external_id,
        ExternalIdSource::Secret { region, .. } if region == "cn-north-1"
    ));
    for (extra, want) in [
        (
            json!({"RegistrationTopicArn": topic}),
            "ExternalId: required",
        ),
        (
            json!({"ExternalId": "abc"}),
            "ExternalId: only meaningful with RegistrationTopicArn",
        ),
        (
            json!({"RegistrationTopicArn": format!("{topic}.fifo"), "ExternalId": "abc"}),
            "RegistrationTopicArn: expected the ARN of a standard SNS topic",
        ),
        (
            json!({"RegistrationTopicArn": "arn:aws:sqs:eu-west-1:444455556666:q", "ExternalId": "abc"}),
            "RegistrationTopicArn: expected",
        ),
        (
            json!({"RegistrationTopicArn": topic, "ExternalId": "has space"}),
            "ExternalId: expected 2 to 1224",
        ),
        (
            json!({"RegistrationTopicArn": topic, "ExternalId": "abc", "ExternalIdSecretArn": secret}),
            "ExternalIdSecretArn: expected either",
        ),
        (
            json!({"RegistrationTopicArn": topic, "ExternalIdSecretArn": "arn:aws:s3:::bucket"}),
            "ExternalIdSecretArn: expected the ARN of a Secrets Manager secret",
        ),
    ] {
        let err = with(extra.clone()).unwrap_err().to_string();
        assert!(err.starts_with(want), "{extra}: {err}");
    }
}

#[test]
fn a_role_of_another_partition_than_the_stacks_is_refused_naming_the_field() {
    let stack = |p: &str| format!("arn:{p}:cloudformation:r-x-1:111122223333:stack/s/id");
    let mut e = base();
    e["RoleArn"] = json!("arn:aws-iso:iam::111122223333:role/R");
    let p = Properties::parse(&e).unwrap();
    p.in_partition_of(&stack("aws-iso")).unwrap();
    let err = p.in_partition_of(&stack("aws")).unwrap_err().to_string();
    assert!(
        err.starts_with("RoleArn: ") && err.contains("the stack's partition, aws"),
        "{err}"
    );
    e["RoleArn"] = json!("arn:aws:iam::111122223333:role/R");
    e["ClusterAdminRoleArn"] = json!("arn:aws-eusc:iam::111122223333:role/A");
    let err = (Properties::parse(&e)
        .unwrap()
        .in_partition_of(&stack("aws")))
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("ClusterAdminRoleArn: "), "{err}");
}
