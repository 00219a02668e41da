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
            "Parameter 'ClusterAdminRoleArn' must match pattern ^$|^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\\w+=,.@/-]+$",
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
            &[("Reconcile", "rate(1 hour)"), ("ClusterAdminExternalId", "xyz")][..],
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
