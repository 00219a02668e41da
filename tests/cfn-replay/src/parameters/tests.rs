//! The template's own parameters and rules, refused and accepted as CloudFormation does.
use super::*;

fn template() -> Declarations {
    Declarations::read(&crate::rendered::template_path()).unwrap()
}

fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const BASE: [(&str, &str); 2] = [
    ("ConcurrentAccountId", "210987654321"),
    ("ClusterName", "modern"),
];

fn refusal(extra: &[(&str, &str)]) -> Option<String> {
    let mut g = given(&BASE);
    g.extend(given(extra));
    template().refusal(&g)
}

#[test]
fn what_cloudformation_accepts_is_accepted() {
    assert_eq!(refusal(&[]), None);
    assert_eq!(
        refusal(&[("AccessLevel", "view"), ("Namespaces", "ml,team-a")]),
        None
    );
    assert_eq!(
        refusal(&[("ClusterName", "*"), ("Reconcile", "rate(1 hour)")]),
        None
    );
}

#[test]
fn what_cloudformation_refuses_is_refused_with_its_message() {
    for (extra, message) in [
        (
            &[("Acceslevel", "view")][..],
            "Parameters: [Acceslevel] do not exist in the template",
        ),
        (
            &[("AccessLevel", "readonly")][..],
            "Parameter 'AccessLevel' must be one of AllowedValues",
        ),
        (
            &[("ClusterAdminRoleArn", "role/x")][..],
            "Parameter ClusterAdminRoleArn failed to satisfy constraint: empty, or an IAM role ARN",
        ),
        (
            &[("ClusterName", "prod dev")][..],
            "Parameter ClusterName failed to satisfy constraint: an EKS cluster name",
        ),
        (
            &[("SubnetIds", "subnet-1")][..],
            "SubnetIds needs SecurityGroupIds too",
        ),
        (
            &[
                ("Reconcile", "rate(1 hour)"),
                ("ClusterAdminExternalId", "xyz"),
            ][..],
            "Reconcile cannot be combined with ClusterAdminExternalId",
        ),
    ] {
        let r = refusal(extra).unwrap_or_default();
        assert!(r.starts_with(message), "{extra:?}: {r}");
    }
    assert_eq!(
        template().refusal(&given(&[("ClusterName", "modern")])),
        Some("Parameters: [ConcurrentAccountId] must have values".into())
    );
    let long = "a".repeat(4097);
    assert!(refusal(&[("ClusterName", &long)])
        .unwrap()
        .starts_with("Parameter ClusterName failed to satisfy constraint"));
}

#[test]
fn max_length_has_its_own_message() {
    let d = Declared {
        name: "P".into(),
        kind: "String".into(),
        default: None,
        allowed_values: None,
        allowed_pattern: None,
        pattern: None,
        min_length: Some(2),
        max_length: Some(3),
        constraint: None,
    };
    assert_eq!(
        d.refusal("abcd").unwrap(),
        "Parameter 'P' must contain at most 3 characters"
    );
    assert_eq!(
        d.refusal("a").unwrap(),
        "Parameter 'P' must contain at least 2 characters"
    );
    assert_eq!(d.refusal("abc"), None);
}

/// An empty file (or one of only comments) is said to be empty, and a mapping without Resources
/// is no template, before any parameter is checked (it was "Parameters: [..] do not exist").
#[test]
fn an_empty_template_is_said_to_be_empty() {
    let dir = tempfile::tempdir().unwrap();
    for (text, want) in [
        ("", "the template is empty"),
        ("# nothing\n", "the template is empty"),
        ("Parameters: {}\n", "At least one Resources member"),
        ("- a\n", "At least one Resources member"),
    ] {
        let path = dir.path().join("t.yaml");
        std::fs::write(&path, text).unwrap();
        let e = Declarations::read(&path).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
        let steps = check_steps(&path, &[("A".into(), "1".into())], &[]).unwrap_err();
        assert!(steps.to_string().contains(want), "{text:?}: {steps}");
    }
}
