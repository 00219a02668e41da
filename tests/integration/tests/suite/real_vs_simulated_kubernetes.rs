//! The simulator's Kubernetes stand-in (`eks_sim::k8s_api`, which the embedded replay and the
//! fault-injection tests use) held to the real kube-apiserver and EKS authenticator: one sequence
//! of the requests the mapper and kubectl make (discovery, GET/PUT/POST/PATCH/DELETE of aws-auth,
//! a stale resourceVersion, a missing ConfigMap, a second create, refused tokens) runs against
//! both, and the status codes and the fields the mapper reads must be the same. The same token,
//! from the real `aws eks get-token`, is used on both sides.
//!
//! Then the authenticator's reading of aws-auth: for every mapRoles the mapper writes for a corpus
//! of awkward usernames and groups, who the real authenticator says the role is must be who the
//! simulator's decoding (`eks_sim::authenticator_yaml`) says.

use eks_sim::control_plane::https_request;
use eks_sim::{Scenario, Simulator};
use integration::{aws_cli, ClientEnv};
use serde_json::{json, Value};

const CM: &str = "/api/v1/namespaces/kube-system/configmaps";

/// What of an answer the mapper reads, and what a client tells apart: the status, the Status
/// object's reason and details, and of a ConfigMap its identity and data (not its
/// resourceVersion's value, which each server numbers its own way).
fn essence(status: u16, body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut e = json!({ "status": status, "kind": v["kind"] });
    match v["kind"].as_str() {
        Some("Status") => {
            e["reason"] = v["reason"].clone();
            e["code"] = v["code"].clone();
            e["details"] = json!({ "name": v["details"]["name"], "kind": v["details"]["kind"] });
        }
        Some("ConfigMap") => {
            e["name"] = v["metadata"]["name"].clone();
            e["namespace"] = v["metadata"]["namespace"].clone();
            e["has_resource_version"] = json!(v["metadata"]["resourceVersion"].is_string());
            e["data"] = v["data"].clone();
        }
        Some("APIResourceList") => {
            let cm = v["resources"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["name"] == "configmaps"))
                .cloned()
                .unwrap_or(Value::Null);
            let mut verbs: Vec<String> =
                serde_json::from_value(cm["verbs"].clone()).unwrap_or_default();
            verbs.sort();
            e["configmaps"] = json!({ "namespaced": cm["namespaced"], "shortNames": cm["shortNames"], "verbs": verbs, "kind": cm["kind"] });
        }
        Some("APIVersions") => e["versions"] = v["versions"].clone(),
        _ => {
            // /version has no kind.
            e["gitVersion_is_string"] = json!(v["gitVersion"].is_string());
        }
    }
    e
}

/// Runs the sequence against one server (its URL, CA and a token of the cluster creator).
async fn sequence(base: &str, ca: &str, token: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut step =
        |name: &str, status: u16, body: &str| out.push((name.to_string(), essence(status, body)));
    let call = |method: &'static str, path: String, body: Option<Value>, token: String| {
        let (base, ca) = (base.to_string(), ca.to_string());
        async move {
            https_request(&base, &ca, &token, method, &path, body.as_ref())
                .await
                .expect("the request is answered")
        }
    };
    let t = token.to_string();
    for path in ["/version", "/api", "/api/v1"] {
        let (s, b) = call("GET", path.into(), None, t.clone()).await;
        step(&format!("GET {path}"), s, &b);
    }
    let (s, b) = call("GET", format!("{CM}/aws-auth"), None, t.clone()).await;
    step("GET aws-auth", s, &b);
    let current: Value = serde_json::from_str(&b).unwrap();
    let mut stale = current.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["data"]["mapRoles"] = json!("[]\n");
    let (s, b) = call("PUT", format!("{CM}/aws-auth"), Some(stale), t.clone()).await;
    step("PUT aws-auth with a stale resourceVersion", s, &b);
    let mut fresh = current.clone();
    fresh["data"]["extra"] = json!("kept");
    let (s, b) = call("PUT", format!("{CM}/aws-auth"), Some(fresh), t.clone()).await;
    step("PUT aws-auth with the current resourceVersion", s, &b);
    let updated: Value = serde_json::from_str(&b).unwrap();
    assert_ne!(
        updated["metadata"]["resourceVersion"], current["metadata"]["resourceVersion"],
        "{base}: a write moves resourceVersion"
    );
    let (s, b) = call("PATCH", format!("{CM}/aws-auth"), Some(json!({"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]}, "data": {"x": "y"}})), t.clone()).await;
    step("merge PATCH with the old resourceVersion", s, &b);
    let (s, b) = call(
        "PATCH",
        format!("{CM}/aws-auth"),
        Some(json!({"data": {"x": "y"}})),
        t.clone(),
    )
    .await;
    step("merge PATCH without resourceVersion", s, &b);
    let (s, b) = call("GET", format!("{CM}/missing"), None, t.clone()).await;
    step("GET a missing ConfigMap", s, &b);
    let (s, b) = call("PUT", format!("{CM}/missing"), Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "missing", "namespace": "kube-system", "resourceVersion": "5"}, "data": {}})), t.clone()).await;
    step("PUT a missing ConfigMap", s, &b);
    let again = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"}, "data": {"mapRoles": "[]\n"}});
    let (s, b) = call("POST", CM.into(), Some(again.clone()), t.clone()).await;
    step("POST aws-auth when it exists", s, &b);
    let (s, b) = call("DELETE", format!("{CM}/aws-auth"), None, t.clone()).await;
    step(
        "DELETE aws-auth",
        s,
        &(if s == 200 { String::new() } else { b }),
    );
    let (s, b) = call("GET", format!("{CM}/aws-auth"), None, t.clone()).await;
    step("GET aws-auth after the delete", s, &b);
    let (s, b) = call("POST", CM.into(), Some(again), t.clone()).await;
    step("POST aws-auth when it is missing", s, &b);
    let mut tampered = token.to_string();
    tampered.pop();
    let (s, _) = call("GET", format!("{CM}/aws-auth"), None, tampered).await;
    step("GET with a tampered token", s, "");
    let (s, _) = call(
        "GET",
        format!("{CM}/aws-auth"),
        None,
        "k8s-aws-v1.bm90LWEtdXJs".into(),
    )
    .await;
    step("GET with a token that is no presigned URL", s, "");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulated_kubernetes_api_answers_as_the_real_one_does() {
    let (results_real, results_simulated, version) =
        integration::on_both_sides(|b, c, t| async move { sequence(&b, &c, &t).await }).await;
    let (r, s) = (&results_real, &results_simulated);
    // The sequence reaches every answer the mapper tells apart, on the real server itself: a
    // comparison of successes only would prove little.
    let statuses: Vec<u64> = r
        .iter()
        .map(|(_, e)| e["status"].as_u64().unwrap())
        .collect();
    for code in [200, 201, 401, 404, 409] {
        assert!(
            statuses.contains(&code),
            "kube-apiserver never answered {code}: {statuses:?}"
        );
    }
    let differences = integration::differences(r, s);
    assert!(
        differences.is_empty(),
        "the simulator differs from kube-apiserver {}:\n{}",
        version,
        differences.join("\n")
    );
}

async fn token_review(
    cp: &eks_sim::control_plane::ControlPlane,
    token: &str,
) -> Option<(String, Vec<String>)> {
    cp.authenticate(token)
        .await
        .expect("the authenticator answers")
}

/// Usernames and groups a YAML 1.1 reader would turn into something else than the string, or
/// that a careless writer would let break the document.
const WORDS: [&str; 44] = [
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

/// Near-miss aws-auth texts (`R` is the service role): what the authenticator's YAML reading
/// (sigs.k8s.io/yaml over gopkg.in/yaml.v2) must be matched on.
fn corpus() -> Vec<String> {
    const R: &str = integration::SERVICE_ROLE;
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

/// The roles whose sessions ask: the service role and the SSO role (whose aws-auth entry must be
/// path-less).
const ROLES: [&str; 2] = [
    integration::SERVICE_ROLE,
    "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0a1b2c",
];

/// One aws-auth `mapRoles` to hold both readers to: what the mapper meant, when it wrote it.
struct Case {
    label: String,
    map_roles: String,
    meant: Option<(String, String, Vec<String>)>,
}

fn cases() -> Vec<Case> {
    use eks_role_mapper::arn::RoleArn;
    use eks_role_mapper::aws_auth::{upsert, MAP_ROLES};
    let nodes = "- rolearn: arn:aws:iam::111122223333:role/node\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n    - system:bootstrappers\n    - system:nodes\n";
    let mut all: Vec<Case> = corpus()
        .into_iter()
        .enumerate()
        .map(|(i, t)| Case {
            label: format!("corpus #{i}"),
            map_roles: t,
            meant: None,
        })
        .collect();
    for role in ROLES {
        let r = RoleArn::parse("RoleArn", role).unwrap();
        for word in WORDS {
            let groups = vec![word.to_string(), "system:masters".to_string()];
            let base =
                std::collections::BTreeMap::from([(MAP_ROLES.to_string(), nodes.to_string())]);
            // A word the mapper refuses to write leaves nothing for the authenticator to misread.
            if let Ok(edit) = upsert(&base, &r, word, &groups) {
                all.push(Case {
                    label: format!("{role} as {word:?}"),
                    map_roles: edit.data[MAP_ROLES].clone(),
                    meant: Some((role.to_string(), word.to_string(), groups)),
                });
            }
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_authenticator_reads_every_aws_auth_as_the_simulator_does_and_as_the_mapper_meant()
{
    let real = integration::real_simulator(Scenario::default_scenario()).await;
    let stand_in = Simulator::start(Scenario::default_scenario())
        .await
        .unwrap();
    let cp = real.control_plane("legacy").unwrap();
    let env = ClientEnv::new(&real);
    let sts = "https://sts.us-east-1.amazonaws.com";
    let nobody = env.as_principal(&real, "nobody");
    let sentinel = nobody.get_token(nobody.command(aws_cli()), "legacy", sts);
    // One token per role, good for 15 minutes: the cases take less.
    let tokens: Vec<(String, String)> = ROLES
        .iter()
        .map(|role| {
            let name = role.rsplit('/').next().unwrap().to_string();
            let who = env.as_role(&name);
            (name, who.get_token(who.command(aws_cli()), "legacy", sts))
        })
        .collect();
    let (mut checked, mut differences) = (0, Vec::new());
    for (step, case) in cases().into_iter().enumerate() {
        // The step's marker in mapUsers (parsed apart from mapRoles, "only saving data that was
        // good", pkg/mapper/configmap/configmap.go): once the authenticator names `nobody` by it,
        // it holds this very ConfigMap.
        let marker = format!("step-{step}");
        let data = json!({
            "mapRoles": case.map_roles,
            "mapUsers": format!("- userarn: arn:aws:iam::111122223333:user/nobody\n  username: {marker}\n  groups: []\n"),
        });
        let (_, current) = cp
            .request("GET", &format!("{CM}/aws-auth"), None)
            .await
            .unwrap();
        let mut cm: Value = serde_json::from_str(&current).unwrap();
        cm["data"] = data.clone();
        let (s, b) = cp
            .request("PUT", &format!("{CM}/aws-auth"), Some(&cm))
            .await
            .unwrap();
        assert_eq!(s, 200, "{b}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while token_review(cp, &sentinel).await.map(|(u, _)| u) != Some(marker.clone()) {
            assert!(
                std::time::Instant::now() < deadline,
                "the authenticator never read step {step}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        stand_in.set_config_map_data("legacy", "kube-system", "aws-auth", Some(data));
        for (name, token) in &tokens {
            let real_says = token_review(cp, token).await;
            let caller = format!("arn:aws:sts::111122223333:assumed-role/{name}/eks-sim-out");
            let sim_says = stand_in
                .identity_of("legacy", &caller)
                .map(|i| (i.username, i.groups));
            if real_says != sim_says {
                differences.push(format!("{} ({name}):\n  real      {real_says:?}\n  simulated {sim_says:?}\n  mapRoles {:?}", case.label, case.map_roles));
            }
            // The mapper meant exactly this: its role, path-less, with what it was asked for.
            if let Some((role, word, groups)) = &case.meant {
                if role.ends_with(&format!("/{name}"))
                    && !word.contains("{{")
                    && real_says != Some((word.clone(), groups.clone()))
                {
                    differences.push(format!(
                        "{}: the authenticator read {real_says:?}, the mapper meant {groups:?}",
                        case.label
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked} readings checked");
    assert!(
        differences.is_empty(),
        "{} of {checked} readings differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
