//! Issue 40: the template refuses up front (its patterns, allowed values and Rules) exactly the
//! parameter sets the function refuses for the grant itself, so no stack reaches a custom
//! resource that can only answer FAILED. Both directions, as a seeded property over generated
//! parameter sets (levels, namespaces, groups with every reserved prefix in mixed case, the admin
//! role, access entries, ClusterName lists and `*`): the template accepts ⇔ the function's check
//! of the properties the template passes (`Properties::parse`) accepts, and a refusal of both
//! names the same parameter.
//!
//! "The template accepts" is CloudFormation's parameter check as `cfn-replay` evaluates it
//! (`cfn_replay::parameters`): the template's own AllowedPattern regexes, AllowedValues and
//! MaxLength, and its Rules by a small evaluator of Fn::Equals/Contains/EachMemberEquals/Not/
//! And/Or. No real tool evaluates Rules: cfn-lint checks a template, not a parameter set, and
//! moto's CloudFormation (5.2.1) evaluates neither Rules nor AllowedPattern.
//!
//! Outside the property, by construction: values longer than a MaxLength (the template's own
//! limits, for IAM's size of the function role's policies), whitespace around names and other
//! spellings of true/false (read leniently by the function; never passed by CloudFormation).

use std::collections::BTreeMap;

use cfn_replay::parameters::Declarations;
use eks_role_mapper::access::{
    GROUP_CHARS, MAX_GROUP_LEN, MAX_KUBERNETES_GROUPS, RESERVED_PREFIXES,
};
use eks_role_mapper::Properties;
use serde_json::{json, Value};

/// SplitMix64: the same cases on every run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    /// A comma-separated list of 1..=max items drawn from `good` (mostly) and `bad`.
    fn list(&mut self, good: &[String], bad: &[String], max: usize, bad_percent: usize) -> String {
        let n = 1 + self.below(max);
        (0..n)
            .map(|_| {
                if self.chance(bad_percent) {
                    bad[self.below(bad.len())].clone()
                } else {
                    good[self.below(good.len())].clone()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const ROLE: &str = "arn:aws:iam::123456789012:role/stack-RoleForAccessingEksAndEcr";

/// One parameter set: only what the set names is given (the rest takes the template's default).
fn generate(g: &mut Seeded) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    p.insert("ConcurrentAccountId".into(), "210987654321".into());
    let clusters = strings(&["legacy", "modern", "hybrid", "a_b", "C1", "x-y-z"]);
    let bad_clusters = strings(&["-a", "a.b", "", "*", "_x", &"c".repeat(101)]);
    let cluster_name = match g.below(10) {
        0 => "*".to_string(),
        // Past the most names (duplicates counted as given).
        1 if g.chance(30) => vec!["legacy"; 101].join(","),
        _ => g.list(&clusters, &bad_clusters, 6, 8),
    };
    p.insert("ClusterName".into(), cluster_name);
    if !g.chance(20) {
        let level = g.pick(&["cluster-admin", "admin", "edit", "view", "Admin", "root"]);
        if level.len() < 6 || g.chance(90) {
            p.insert("AccessLevel".into(), level.into());
        }
    }
    let namespaces = strings(&["ml", "data", "team-a", "a1", "x"]);
    let bad_namespaces = strings(&["ML", "-a", "a-", "a_b", "", &"n".repeat(64)]);
    if g.chance(50) {
        let v = if g.chance(5) {
            (0..26)
                .map(|i| format!("n{i}"))
                .collect::<Vec<_>>()
                .join(",")
        } else {
            g.list(&namespaces, &bad_namespaces, 5, 10)
        };
        p.insert("Namespaces".into(), v);
    }
    let groups = strings(&[
        "dev",
        "ops-team",
        "org:team",
        "a.b@c=d+e_f",
        "x1",
        "systemx:foo",
        "sys:foo",
        "eksx",
        "aws",
        "amazonx:y",
        "iamx:1",
        "system",
        "Eks",
        "s",
        "i:",
        "AMAZON",
        &"g".repeat(MAX_GROUP_LEN),
    ]);
    let bad_groups = strings(&[
        "system:foo",
        "SYSTEM:masters",
        "System:x",
        "eks:x",
        "EKS:",
        "Aws:y",
        "amazon:z",
        "AmAzOn:z",
        "iam:q",
        "IAM:",
        "system:",
        "a/b",
        "_x",
        "-x",
        "a b",
        "é",
        "a,",
        "",
        &"g".repeat(MAX_GROUP_LEN + 1),
    ]);
    if g.chance(60) {
        let v = if g.chance(4) {
            (0..MAX_KUBERNETES_GROUPS + 1)
                .map(|i| format!("g{i}"))
                .collect::<Vec<_>>()
                .join(",")
        } else {
            g.list(&groups, &bad_groups, 4, 15)
        };
        p.insert("KubernetesGroups".into(), v);
    }
    if g.chance(40) {
        let admin = g.pick(&[
            "arn:aws:iam::123456789012:role/cluster-admin-role",
            "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0a1b2c",
            "arn:aws-cn:iam::123456789012:role/x",
            "arn:aws-iso-b:iam::123456789012:role/p/q/r",
            "arn:aws-foo:iam::123456789012:role/x",
            "arn:aws:sts::123456789012:assumed-role/x/y",
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:role//x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:role/a/",
            "arn:aws:iam::123456789012:role/n23456789012345678901234567890123456789012345678901234567890123",
            "arn:aws:iam::123456789012:role/n234567890123456789012345678901234567890123456789012345678901234",
        ]);
        p.insert("ClusterAdminRoleArn".into(), admin.into());
    }
    if g.chance(40) {
        let v = g.pick(&["true", "false", "false", "yes"]);
        p.insert("EnableAccessEntries".into(), v.into());
    }
    p
}

/// The custom resource's properties as the template passes them for `p` (its `Mapping`).
fn properties(p: &BTreeMap<String, String>) -> Value {
    let get = |k: &str, default: &str| p.get(k).cloned().unwrap_or_else(|| default.to_string());
    let mut props = json!({
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
        "ServiceTimeout": "3600",
        "ClusterName": get("ClusterName", ""),
        "RoleArn": ROLE,
        "EnableAccessEntries": get("EnableAccessEntries", "false"),
        "Region": "us-east-1",
        "AccessLevel": get("AccessLevel", "cluster-admin"),
        "Namespaces": get("Namespaces", ""),
        "KubernetesGroups": get("KubernetesGroups", ""),
    });
    if let Some(a) = p.get("ClusterAdminRoleArn").filter(|a| !a.is_empty()) {
        props["ClusterAdminRoleArn"] = json!(a);
    }
    props
}

/// One parameter at a time made bad, the rest good: both refuse, naming that parameter.
#[test]
fn a_refusal_of_both_names_the_same_parameter() {
    let declarations = template();
    for (k, v) in [
        ("ClusterName", "legacy,-a"),
        ("ClusterName", "*,legacy"),
        ("AccessLevel", "Admin"),
        ("Namespaces", "ml"),
        ("KubernetesGroups", "system:foo"),
        ("KubernetesGroups", "dev,Eks:x"),
        ("KubernetesGroups", "a/b"),
        (
            "ClusterAdminRoleArn",
            "arn:aws-foo:iam::123456789012:role/x",
        ),
        ("ClusterAdminRoleArn", "arn:aws:iam::123456789012:user/x"),
        ("EnableAccessEntries", "yes"),
    ] {
        let mut p = BTreeMap::from([
            (
                "ConcurrentAccountId".to_string(),
                "210987654321".to_string(),
            ),
            ("ClusterName".to_string(), "legacy".to_string()),
        ]);
        p.insert(k.into(), v.into());
        let template = declarations.refusal(&p).unwrap_or_default();
        let function = Properties::parse(&properties(&p))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(template.contains(k), "{k}={v}: the template: {template:?}");
        assert!(
            function.starts_with(&format!("{k}: ")),
            "{k}={v}: the function: {function:?}"
        );
    }
}

fn template() -> Declarations {
    Declarations::read(&cfn_replay::rendered::template_path()).expect("the template reads")
}

#[test]
fn the_template_accepts_a_parameter_set_exactly_when_the_function_does() {
    let declarations = template();
    let cases: usize = std::env::var("TEMPLATE_DECLARATION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let mut g = Seeded(40);
    let (mut both, mut refused) = (0, 0);
    let mut disagree = Vec::new();
    for _ in 0..cases {
        // Every generated value is within its parameter's MaxLength.
        let p = generate(&mut g);
        let template = declarations.refusal(&p);
        let function = Properties::parse(&properties(&p))
            .err()
            .map(|e| e.to_string());
        match (&template, &function) {
            (None, None) => both += 1,
            (Some(_), Some(_)) => refused += 1,
            _ => disagree.push(format!(
                "{p:?}\n  template: {template:?}\n  function: {function:?}"
            )),
        }
    }
    println!("{cases} parameter sets: {both} accepted by both, {refused} refused by both");
    assert!(
        both > cases / 10 && refused > cases / 10,
        "{both} {refused}"
    );
    assert!(
        disagree.is_empty(),
        "{} of {cases} disagree, e.g.:\n{}",
        disagree.len(),
        disagree
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Every pattern of the template compiles (a pattern the evaluator could not compile accepted
/// anything: ExternalId's did not, with Unicode classes), and KubernetesGroups' is exactly the one generated from the function's own
/// definition of a group: its characters, its length and the prefixes EKS reserves.
#[test]
fn the_kubernetes_groups_pattern_is_generated_from_the_functions_definition() {
    // Reading the template compiles each pattern, and refuses one that does not compile.
    template();
    let text = std::fs::read_to_string(cfn_replay::rendered::template_path()).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let group = group_pattern();
    let want = format!(
        "^$|^{group}(?:,{group}){{0,{}}}$",
        MAX_KUBERNETES_GROUPS - 1
    );
    let got = doc["Parameters"]["KubernetesGroups"]["AllowedPattern"]
        .as_str()
        .unwrap();
    assert_eq!(
        got, want,
        "regenerate the template's KubernetesGroups pattern"
    );
}

/// One group name as a regex without lookahead: a walk down the reserved prefixes (any case),
/// which may end, or leave them by any other allowed character, at each step but the last.
fn group_pattern() -> String {
    let tail: Vec<char> = ('0'..='9')
        .chain('A'..='Z')
        .chain('a'..='z')
        .chain(GROUP_CHARS.chars())
        .collect();
    let any = class(&tail);
    fn class(chars: &[char]) -> String {
        let mut out = String::new();
        for range in [('0', '9'), ('A', 'Z'), ('a', 'z')] {
            let mut run: Vec<char> = Vec::new();
            let flush = |run: &mut Vec<char>, out: &mut String| {
                match run.len() {
                    0 => {}
                    1 | 2 => out.extend(run.iter()),
                    _ => out.push_str(&format!("{}-{}", run[0], run[run.len() - 1])),
                }
                run.clear();
            };
            for c in range.0..=range.1 {
                if chars.contains(&c) {
                    run.push(c);
                } else {
                    flush(&mut run, &mut out);
                }
            }
            flush(&mut run, &mut out);
        }
        out.extend(
            GROUP_CHARS
                .chars()
                .filter(|c| *c != '-' && chars.contains(c)),
        );
        if chars.contains(&'-') {
            out.push('-');
        }
        format!("[{out}]")
    }
    fn node(prefixes: &[String], depth: usize, tail: &[char], any: &str) -> String {
        let mut alts = Vec::new();
        if depth > 0 {
            alts.push(String::new());
        }
        let mut next: Vec<char> = prefixes
            .iter()
            .filter_map(|p| p.chars().nth(depth))
            .collect();
        next.sort();
        next.dedup();
        let pool: Vec<char> = tail
            .iter()
            .copied()
            .filter(|c| depth > 0 || c.is_ascii_alphanumeric())
            .filter(|c| !next.contains(&c.to_ascii_lowercase()))
            .collect();
        let rest = MAX_GROUP_LEN - depth - 1;
        alts.push(format!("{}{any}{{0,{rest}}}", class(&pool)));
        for c in next {
            let deeper: Vec<String> = prefixes
                .iter()
                .filter(|p| p.chars().nth(depth) == Some(c))
                .cloned()
                .collect();
            if deeper.iter().any(|p| p.len() == depth + 1) {
                continue; // a reserved prefix complete: refused
            }
            let first = if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c)
            } else {
                c.to_string()
            };
            alts.push(format!("{first}{}", node(&deeper, depth + 1, tail, any)));
        }
        format!("(?:{})", alts.join("|"))
    }
    let prefixes: Vec<String> = RESERVED_PREFIXES.iter().map(|p| p.to_string()).collect();
    node(&prefixes, 0, &tail, &any)
}
