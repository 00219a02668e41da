//! The simulator's aws-auth decoding (`eks_sim::authenticator_yaml::parse_map`) against an oracle
//! built from the authenticator's own libraries (`tests/eks-sim/oracle`, sigs.k8s.io/yaml and
//! gopkg.in/yaml.v2 as Debian packages them), over a corpus of near-miss texts. `scripts/test`
//! builds the oracle and sets `AWS_AUTH_ORACLE`; without it this test fails rather than pass
//! unseen.

use eks_sim::authenticator_yaml::{parse_map, MapKind, Mapping};
use std::io::Write;

const R: &str = "arn:aws:iam::111122223333:role/R";

fn corpus() -> Vec<String> {
    let mut c: Vec<String> = vec![
        String::new(),
        "``".into(),
        "\"\"".into(),
        "''".into(),
        "   \n".into(),
        "[]".into(),
        "~".into(),
        "{}".into(),
        "- just a string\n".into(),
        format!("- rolearn: {R}\n  username: r\n  groups:\n    - system:masters\n"),
        format!("- rOlEaRn: {R}\n  UsErNaMe: r\n  gRoUpS: [system:masters]\n"),
        format!("- ROLEARN: {R}\n  rolearn: {R}-2\n"),
        format!("- rolearn: {R}\n  rolearn: {R}-dup\n  username: a\n"),
        format!("- rolearn: {R}\n  username: on\n  groups: [a, yes, ~, 12]\n"),
        format!("- rolearn: {R}\n  username: 'on'\n  groups: [\"yes\"]\n"),
        format!("- rolearn: {R}\n  username: off\n- rolearn: {R}-b\n  username: b\n"),
        format!("- rolearn: {R}\n  username: .inf\n"),
        format!("- rolearn: {R}\n  x-extra: .nan\n"),
        format!("- rolearn: {R}\n  username: 1e400\n"),
        format!("- rolearn: {R}\n  username: 0x1F\n  groups: [0o17, 1_000, 08, .5, 1.2.3, -.5e3]\n"),
        format!("- rolearn: {R}\n  username: 2001-12-14\n"),
        format!("- rolearn: {R}\n  groups: system:masters\n"),
        format!("- rolearn: {R}\n  groups: ~\n"),
        format!("- rolearn: {R}\n  groups: [system:masters\n"),
        format!("- rolearn: {R}\n\tusername: tab\n"),
        format!("- rolearn: {R}\n  sso: {{}}\n"),
        format!("- rolearn: {R}\n  sso: ~\n"),
        "- username: no-arn\n  groups: [a]\n".into(),
        format!("- rolearn: !!str {R}\n  username: !!str on\n"),
        format!("- &a\n  rolearn: {R}\n  username: base\n- <<: *a\n  username: merged\n"),
        format!("- <<: [{{rolearn: {R}, username: first}}, {{username: second}}]\n"),
        format!("- <<: notamap\n  rolearn: {R}\n"),
        format!("- ~: x\n  rolearn: {R}\n"),
        format!("- 1: x\n  true: y\n  rolearn: {R}\n"),
        format!("- rolearn: {R}\n---\n- rolearn: {R}-second-doc\n"),
        format!("- rolearn: {R}\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n  groups:\n  - system:bootstrappers\n  - system:nodes\n"),
        format!("[{{\"rolearn\": \"{R}\", \"username\": \"json\"}}]"),
        format!("- rolearn: \"{R}\"\n  username: |\n    multi\n"),
        format!("- rolearn: {R}\n  uſername: long-s\n"),
        format!("- rolearn: {R}\n  username: y\n  groups: [n, Yes, NO, True]\n"),
        format!("- rolearn: {R}\n  username: 123456789012345678901234567890\n"),
        format!("- rolearn: {R}\n  username: 0xFFFFFFFFFFFFFFFFFFFF\n"),
        format!("- rolearn: {R}\n  username: -0b101\n"),
        format!("- rolearn: {R}\n  username: +12\n"),
        format!("- rolearn: {R}\n  username: .\n"),
        format!("- rolearn: {R}\n  username: 1:20\n"),
    ];
    // The suite's own aws-auth: the default scenario's lists.
    let s = eks_sim::Scenario::default_scenario();
    for cl in &s.clusters {
        if let Some(d) = &cl.aws_auth {
            c.extend(d.values().cloned());
        }
    }
    c
}

fn oracle(bin: &str, kind: &str, text: &str) -> Vec<Mapping> {
    let mut child = std::process::Command::new(bin)
        .arg(kind)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the oracle runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "oracle failed on {text:?}");
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}

#[test]
fn the_simulators_aws_auth_decoding_agrees_with_the_authenticators_libraries() {
    let Ok(bin) = std::env::var("AWS_AUTH_ORACLE") else {
        panic!(
            "AWS_AUTH_ORACLE is not set: scripts/test builds tests/eks-sim/oracle (Debian's \
             golang-go, golang-gopkg-yaml.v2-dev, golang-k8s-sigs-yaml-dev) and sets it"
        );
    };
    let mut disagreements = Vec::new();
    for text in corpus() {
        for (kind, k) in [("roles", MapKind::Roles), ("users", MapKind::Users)] {
            let text = if k == MapKind::Users {
                text.replace("rolearn", "userarn")
                    .replace("rOlEaRn", "uSeRaRn")
                    .replace("ROLEARN", "USERARN")
            } else {
                text.clone()
            };
            let want = oracle(&bin, kind, &text);
            let got = parse_map(&text, k);
            if want != got {
                disagreements.push(format!(
                    "{kind} {text:?}\n  oracle:    {want:?}\n  simulator: {got:?}"
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// Every mapRoles the mapper writes reads back, through the authenticator's own libraries, as the
/// entries it meant: our role (path-less), its username and groups exactly, and every other entry
/// as it was. The values are the ones a YAML 1.1 reader would turn into bools, numbers or nulls
/// if written plain.
#[test]
fn every_map_roles_the_mapper_writes_is_read_by_the_authenticators_libraries_as_meant() {
    use eks_role_mapper::arn::RoleArn;
    use eks_role_mapper::aws_auth::{upsert, MAP_ROLES};
    let Ok(bin) = std::env::var("AWS_AUTH_ORACLE") else {
        panic!("AWS_AUTH_ORACLE is not set: scripts/test builds the oracle and sets it");
    };
    let nodes = "- rolearn: arn:aws:iam::111122223333:role/node\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n    - system:bootstrappers\n    - system:nodes\n";
    let words = [
        "on",
        "off",
        "yes",
        "no",
        "y",
        "n",
        "true",
        "False",
        "null",
        "~",
        "1_000",
        "0x1F",
        "0o17",
        "012",
        "1e3",
        ".5",
        ".inf",
        "-.nan",
        "2001-12-14",
        "1:20",
        "+12",
        "",
        " lead",
        "trail ",
        "a: b",
        "#hash",
        "- dash",
        "[list]",
        "{map}",
        "'quote",
        "\"dq",
        "tab\there",
        "new\nline",
        "system:masters",
        "{{SessionName}}",
        "ünïcode",
        "*alias",
        "&anchor",
        "!tag",
        "%pct",
        "@at",
        "`tick",
        "|pipe",
        ">gt",
    ];
    let roles = [
        "arn:aws:iam::111122223333:role/3f1c-RoleForAccessingEksAndEcr",
        "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0a1b2c",
        "arn:aws-cn:iam::111122223333:role/p/a/t/h/On",
    ];
    let mut checked = 0;
    for role in roles {
        let r = RoleArn::parse("RoleArn", role).unwrap();
        for w in words {
            let groups = vec![w.to_string(), "system:masters".to_string()];
            let base =
                std::collections::BTreeMap::from([(MAP_ROLES.to_string(), nodes.to_string())]);
            let Ok(edit) = upsert(&base, &r, w, &groups) else {
                continue; // refused to write: nothing for the authenticator to misread
            };
            let text = &edit.data[MAP_ROLES];
            let read = oracle(&bin, "roles", text);
            let path_less = format!(
                "arn:{}:iam::111122223333:role/{}",
                r.partition(),
                role.rsplit('/').next().unwrap()
            );
            assert_eq!(read.len(), 2, "{text}");
            assert_eq!(read[0].arn, "arn:aws:iam::111122223333:role/node", "{text}");
            assert_eq!(
                read[0].groups,
                ["system:bootstrappers", "system:nodes"],
                "{text}"
            );
            assert_eq!(read[1].arn, path_less, "{text}");
            assert_eq!(read[1].username, w, "{text}");
            assert_eq!(read[1].groups, groups, "{text}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} texts checked");
}
