//! Issue 40: rollback can always complete. Whatever the old and the new parameters, the request
//! CloudFormation sends (the update, and its rollback) is allowed by the IAM policy in force at
//! that moment, so no stack ends `*_FAILED`. A seeded property over pairs of parameter sets the
//! template accepts, on the default scenario's clusters (`legacy` CONFIG_MAP, `hybrid`
//! API_AND_CONFIG_MAP, `modern` API): every ClusterName list and `*`, every level, namespaces
//! (one that exists on `legacy`, one that does not), extra groups, the admin role, access entries
//! on and off. Each pair is a whole stack through `cfn-replay stack` (the template's policy
//! rendered on moto and in force in CloudFormation's order: `stack_calls::in_force_around`):
//! Create with the first set, Update to the second, Delete. A failure is forced where the
//! simulator can force one: DescribeCluster failing every attempt of the Update (which then rolls
//! back), or throttled twice in the Delete (which the SDK's retries absorb); the Create's own
//! failures come from the parameters (admin over a whole CONFIG_MAP cluster, a namespace that
//! does not exist). Every operation must end `*_COMPLETE`.
//!
//! The normal run plays a few seeded pairs (under a minute); `ROLLBACK_PROPERTY_CASES=N` plays N
//! (README). Against the template before `MapperPreviousGrant`, 3 of 12 stacks ended
//! UPDATE_ROLLBACK_FAILED: the rollback was denied sts:AssumeRole of the old ClusterAdminRoleArn,
//! or eks:AssociateAccessPolicy of the old level, under the new policy.

use std::collections::BTreeMap;

use cfn_replay::parameters::Declarations;
use cfn_replay::stack::{run_scenario_observed, StackOptions, Step};
use eks_sim::{Fault, Scenario};
use serde_json::Value;

/// SplitMix64: the same pairs on every run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/cluster-admin-role";

/// Every parameter the grant reads, given explicitly (an update then states each one).
fn generate(g: &mut Seeded) -> BTreeMap<String, String> {
    let clusters = g.pick(&[
        "legacy",
        "hybrid",
        "modern",
        "legacy,modern",
        "modern,hybrid",
        "legacy,hybrid,modern",
        "*",
    ]);
    let level = g.pick(&["cluster-admin", "admin", "edit", "view"]);
    let namespaces = if level == "cluster-admin" {
        ""
    } else {
        g.pick(&["", "ml", "ml", "ml,data"])
    };
    let p = [
        ("ConcurrentAccountId", "210987654321"),
        ("ExternalId", "given-external-id-1234"),
        ("ClusterName", clusters),
        ("AccessLevel", level),
        ("Namespaces", namespaces),
        ("KubernetesGroups", g.pick(&["", "dev", "dev,ops"])),
        ("ClusterAdminRoleArn", g.pick(&["", ADMIN_ROLE, ADMIN_ROLE])),
        ("EnableAccessEntries", g.pick(&["false", "true"])),
    ];
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Where a failure is forced.
#[derive(Debug, Clone, Copy)]
enum Forced {
    Nothing,
    /// Every attempt of the Update's first DescribeCluster fails: the Update rolls back.
    Update,
    /// The Delete's first DescribeCluster is throttled twice: retried.
    Delete,
}

async fn play(
    template: &std::path::Path,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    forced: Forced,
) -> (Vec<Value>, Option<bool>) {
    let mut opts = StackOptions::new(template.to_path_buf(), a.clone().into_iter().collect());
    opts.steps = vec![Step::Update(b.clone().into_iter().collect()), Step::Delete];
    // The mode switch (300 s) and IAM's propagation (20 s) on a fast clock.
    opts.clock_scale = Some(100.0);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut fired = None;
    let mut observe = |step: usize, sim: &eks_sim::Simulator| match (step, forced) {
        // The SDK makes five attempts (`Clients`' retry setting).
        (0, Forced::Update) => sim.inject("eks:DescribeCluster", Fault::Status(500), 5),
        (1, Forced::Delete) => sim.inject("eks:DescribeCluster", Fault::Throttle, 2),
        (1, Forced::Update) | (2, Forced::Delete) => fired = Some(sim.pending_faults().is_empty()),
        _ => {}
    };
    let played = run_scenario_observed(
        Scenario::default_scenario(),
        &opts,
        &mut out,
        &mut err,
        &mut observe,
    )
    .await;
    assert!(
        played.is_ok(),
        "{a:?} -> {b:?}: {played:?}\n{}",
        String::from_utf8_lossy(&err)
    );
    let lines = String::from_utf8_lossy(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, fired)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_create_update_and_delete_ends_complete_whatever_the_two_parameter_sets() {
    // Another template (say, the one before the split) by ROLLBACK_PROPERTY_TEMPLATE.
    let template = std::env::var_os("ROLLBACK_PROPERTY_TEMPLATE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(cfn_replay::rendered::template_path);
    let declarations = Declarations::read(&template).unwrap();
    let accepted = |p: &BTreeMap<String, String>| declarations.refusal(p).is_none();
    let cases: usize = std::env::var("ROLLBACK_PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut g = Seeded(4040);
    let mut stuck = Vec::new();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for case in 0..cases {
        let a = std::iter::repeat_with(|| generate(&mut g))
            .find(|p| accepted(p))
            .unwrap();
        let b = std::iter::repeat_with(|| generate(&mut g))
            .find(|p| accepted(p) && *p != a)
            .unwrap();
        let forced = match case % 3 {
            0 => Forced::Update,
            1 => Forced::Nothing,
            _ => Forced::Delete,
        };
        let (lines, fired) = play(&template, &a, &b, forced).await;
        *statuses
            .entry(format!("forced {forced:?}: fired {fired:?}"))
            .or_default() += 1;
        for line in &lines {
            let status = line["StackStatus"].as_str().unwrap_or("?").to_string();
            *statuses
                .entry(format!(
                    "{} {status}",
                    line["Action"]
                        .as_str()
                        .unwrap_or("?")
                        .split(' ')
                        .next()
                        .unwrap_or("?")
                ))
                .or_default() += 1;
            // Why an operation was rolled back (the forward failure the rollback follows).
            if status.contains("ROLLBACK") && line.get("Reason").is_some() {
                eprintln!(
                    "rolled back: {} {}",
                    line["Action"],
                    line["Reason"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .take(200)
                        .collect::<String>()
                );
            }
            if !status.ends_with("_COMPLETE") {
                stuck.push(format!(
                    "case {case} ({forced:?}) {a:?}\n  -> {b:?}\n  {line}"
                ));
            }
        }
    }
    println!("{cases} stacks (Create, Update, Delete each): {statuses:?}");
    assert!(
        stuck.is_empty(),
        "{} operations did not complete:\n{}",
        stuck.len(),
        stuck.join("\n")
    );
}

/// `MapperPreviousGrant` repeats MapperRole's statements exactly (the replay renders it from
/// them, as moto makes no `AWS::IAM::RolePolicy`): each of its statements, with its `!If`, is
/// one of MapperRole's, found by its Sid.
#[test]
fn the_previous_grant_repeats_the_function_roles_statements_exactly() {
    use serde_yaml_ng::Value as Yaml;
    let text = std::fs::read_to_string(cfn_replay::rendered::template_path()).unwrap();
    let doc: Yaml = serde_yaml_ng::from_str(&text).unwrap();
    fn sid(entry: &Yaml) -> Option<String> {
        match entry {
            Yaml::Mapping(m) => m.get("Sid").and_then(Yaml::as_str).map(str::to_string),
            Yaml::Tagged(t) => t.value.as_sequence()?.iter().find_map(sid),
            _ => None,
        }
    }
    let statements = |resource: &str, policy: Option<usize>| -> Vec<Yaml> {
        let props = &doc["Resources"][resource]["Properties"];
        let document = match policy {
            Some(i) => &props["Policies"][i]["PolicyDocument"],
            None => &props["PolicyDocument"],
        };
        document["Statement"].as_sequence().unwrap().clone()
    };
    let role = statements("MapperRole", Some(0));
    let kept = statements("MapperPreviousGrant", None);
    assert!(kept.len() >= 4, "{kept:?}");
    for entry in &kept {
        let s = sid(entry).expect("each statement of MapperPreviousGrant has a Sid");
        let same = role.iter().find(|r| sid(r).as_deref() == Some(s.as_str()));
        assert_eq!(
            same,
            Some(entry),
            "{s}: MapperPreviousGrant's differs from MapperRole's"
        );
    }
}

/// IAM takes 10,240 characters of inline policy per role, whitespace not counted, all its inline
/// policies together (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html):
/// MapperRole's own, MapperSelfInvoke's and MapperPreviousGrant's (which repeats the statements
/// that grow with Namespaces and KubernetesGroups). With every parameter at its largest, and the
/// longest partition and region, they fit (at 640 characters of Namespaces and KubernetesGroups
/// they did not: 10,321).
#[test]
fn the_function_roles_inline_policies_fit_iams_limit_with_the_previous_grant() {
    const LIMIT: usize = 10_240;
    let moto = cfn_replay::rendered::MotoServer::start().expect("moto_server");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(cfn_replay::rendered::template_path()).unwrap(),
    )
    .unwrap();
    let max = |p: &str| doc["Parameters"][p]["MaxLength"].as_u64().unwrap() as usize;
    // Names separated by commas, exactly the parameter's MaxLength long.
    let longest = |prefix: &str, n: usize, len: usize, max: usize| {
        let names: Vec<String> = (0..n)
            .map(|i| format!("{prefix}{i:02}{}", "x".repeat(len)))
            .collect();
        names.join(",")[..max]
            .trim_end_matches(['-', ','])
            .to_string()
    };
    let namespaces = longest("n", 25, 60, max("Namespaces"));
    let groups = longest("g", 20, 97, max("KubernetesGroups"));
    let admin_max = max("ClusterAdminRoleArn");
    let prefix = "arn:aws:iam::123456789012:role/";
    let admin = format!(
        "{prefix}{}/{}",
        "p".repeat(admin_max - prefix.len() - 65),
        "r".repeat(64)
    );
    let params = [
        ("ConcurrentAccountId", "123456789012"),
        ("ClusterName", "legacy"),
        ("AccessLevel", "view"),
        ("Namespaces", namespaces.as_str()),
        ("KubernetesGroups", groups.as_str()),
        ("ClusterAdminRoleArn", admin.as_str()),
        ("EnableAccessEntries", "true"),
        ("SubnetIds", "subnet-0123456789abcdef0"),
        ("SecurityGroupIds", "sg-0123456789abcdef0"),
        ("Reconcile", "rate(1 hour)"),
        (
            "RegistrationTopicArn",
            "arn:aws:sns:us-east-1:123456789012:registrations",
        ),
        (
            "RegistrationTopicKmsKeyArn",
            "arn:aws:kms:us-east-1:123456789012:key/0123456789abcdef0123456789abcdef0123",
        ),
    ];
    let given: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let declarations = Declarations::read(&cfn_replay::rendered::template_path()).unwrap();
    assert_eq!(
        declarations.refusal(&given),
        None,
        "the largest parameters the template takes"
    );
    let r = cfn_replay::rendered::render_in(
        &moto.url,
        "us-east-1",
        &cfn_replay::rendered::template_path(),
        "largest",
        &params,
    );
    let role = r.role("MapperRole");
    let own: Vec<Value> = role
        .policies
        .iter()
        .flat_map(|(_, d)| d["Statement"].as_array().cloned().unwrap_or_default())
        .collect();
    let sids = [
        "CreateTheRolesAccessEntry",
        "AssociateClusterAdmin",
        "AssociateALevel",
        "AssumeTheClusterAdminRole",
    ];
    let kept: Vec<&Value> = own
        .iter()
        .filter(|s| sids.iter().any(|k| s["Sid"] == *k))
        .collect();
    let self_invoke = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": format!("arn:aws:lambda:us-east-1:123456789012:function:{}", "f".repeat(64))}]});
    let texts = [
        serde_json::to_string(&role.documents()).unwrap(),
        serde_json::to_string(&serde_json::json!({"Version": "2012-10-17", "Statement": kept}))
            .unwrap(),
        self_invoke.to_string(),
    ];
    let size: usize = texts
        .iter()
        .map(|t| {
            let arns = t.matches("arn:aws:").count();
            let regional = t.matches(":us-east-1:").count();
            t.chars().filter(|c| !c.is_whitespace()).count()
                + arns * ("aws-iso-f".len() - "aws".len())
                + regional * ("us-isof-south-1".len() - "us-east-1".len())
        })
        .sum();
    println!(
        "the function role's inline policies: {size} characters at worst, of {LIMIT} ({:?})",
        texts.iter().map(|t| t.len()).collect::<Vec<_>>()
    );
    assert!(kept.len() >= 3, "{kept:?}");
    assert!(size <= LIMIT, "{size} > {LIMIT}");
}
