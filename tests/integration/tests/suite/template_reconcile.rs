//! The template's scheduled reconcile (issue 14): the `Reconcile` and `ReconcileAlarmTopicArn`
//! parameters, the schedule, its role, the function's added permission, the alarm and the rule
//! that keeps the external ID out of the schedule.
//!
//! What moto 5.2.1 does with it (checked here, so a newer moto that changes it is noticed): its
//! CloudFormation has no model for `AWS::Scheduler::Schedule`, `AWS::CloudWatch::Alarm` or
//! `AWS::IAM::RolePolicy` and skips them (a warning, no resource, a `Ref` to them resolves to
//! nothing, so an Output made of one is left out); it renders every role and policy. It does not
//! evaluate the template's `Rules` at all, and cfn-lint does not evaluate their assertions against
//! `--parameters` either: the rules, and the schedule's Input for many parameter sets, are
//! evaluated here by a small evaluator of exactly the intrinsic functions the template uses
//! (checked against moto's own `Fn::Sub` on one stack).

use eks_role_mapper::declared::Declared;
use std::collections::BTreeMap;
use std::path::Path;

use eks_role_mapper::arn::RoleArn;
use eks_role_mapper::cloud::StackResource;
use eks_role_mapper::reconcile::{self, Verdict};
use integration::rendered::{
    aws, render, render_in, template_path, Rendered, MOTO_ACCOUNT, REGION,
};
use integration::start_moto;
use serde_json::{json, Map, Value as Json};
use serde_yaml_ng::Value as Yaml;
use test_kit::Memory;

// ---- The template in CloudFormation's long JSON form, and an evaluator for it. ----

/// A YAML value with its short-form tags in CloudFormation's long form (`!Ref X` as
/// `{"Ref": "X"}`, `!GetAtt A.B` as `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` as
/// `{"Fn::Sub": s}`); aliases are resolved by the YAML reader.
fn long(v: &Yaml) -> Json {
    match v {
        Yaml::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = long(&t.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => match inner {
                    Json::String(s) => {
                        let (r, a) = s.split_once('.').expect("!GetAtt Resource.Attribute");
                        json!({"Fn::GetAtt": [r, a]})
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): inner }),
            }
        }
        Yaml::Mapping(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().expect("string keys").to_string(), long(v)))
                .collect(),
        ),
        Yaml::Sequence(s) => Json::Array(s.iter().map(long).collect()),
        other => serde_json::to_value(other).unwrap(),
    }
}

fn template() -> Json {
    let text = std::fs::read_to_string(template_path()).unwrap();
    long(&serde_yaml_ng::from_str(&text).unwrap())
}

const STACK_ID: &str =
    "arn:aws:cloudformation:eu-west-1:123456789012:stack/concurrent-eks/0ac6e1b4-aaaa-bbbb-cccc-1234567890ab";
const SERVICE_ROLE: &str =
    "arn:aws:iam::123456789012:role/0ac6e1b4-aaaa-bbbb-cccc-1234567890ab-RoleForAccessingEksAndEcr";
const FUNCTION: &str =
    "arn:aws:lambda:eu-west-1:123456789012:function:concurrent-eks-MapperFunction-ABCDEF";
const SCHEDULE_ROLE: &str =
    "arn:aws:iam::123456789012:role/0ac6e1b4-aaaa-bbbb-cccc-1234567890ab-EksRoleMapperSchedule";
const ADMIN_ROLE: &str = "arn:aws:iam::123456789012:role/admins/cluster-admin";
/// The service's registration topic: its account, another region.
const TOPIC: &str = "arn:aws:sns:us-east-2:210987654321:concurrent-registrations";
/// The stack's generated external ID (`ExternalIdSecret`).
const SECRET: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ExternalIdSecret-0ac6e1b4-AbCdEf";

/// The physical id the function answers for this stack's `Mapping` and role.
fn physical_id(stack_id: &str, role: &str) -> String {
    let role = RoleArn::parse("RoleArn", role).unwrap();
    let owner = eks_role_mapper::ownership::owner_key(stack_id, "Mapping", &role);
    format!("eks-role-mapper/v2|{REGION}|{owner}|{role}")
}

/// One stack: the template, its parameters (defaults filled in) and what its resources answer to
/// `Ref` and `Fn::GetAtt`.
struct Stack {
    t: Json,
    params: BTreeMap<String, Json>,
    stack_id: String,
    refs: BTreeMap<String, String>,
    attrs: BTreeMap<(String, String), String>,
}

impl Stack {
    fn new(t: Json, given: &[(&str, &str)]) -> Stack {
        let mut params = BTreeMap::new();
        for (k, p) in t["Parameters"].as_object().unwrap() {
            let v = given
                .iter()
                .find(|(g, _)| g == k)
                .map(|(_, v)| v.to_string())
                .or_else(|| match &p["Default"] {
                    Json::String(s) => Some(s.clone()),
                    Json::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{k} has no value"));
            let v = if p["Type"] == "CommaDelimitedList" {
                json!(v.split(',').collect::<Vec<_>>())
            } else {
                json!(v)
            };
            params.insert(k.clone(), v);
        }
        for (k, _) in given {
            assert!(params.contains_key(*k), "{k} is not a parameter");
        }
        let refs = BTreeMap::from([
            ("Mapping".into(), physical_id(STACK_ID, SERVICE_ROLE)),
            (
                "RoleForAccessingEksAndEcr".into(),
                SERVICE_ROLE.rsplit('/').next().unwrap().into(),
            ),
            (
                "MapperFunction".into(),
                FUNCTION.rsplit(':').next().unwrap().into(),
            ),
            ("ExternalIdSecret".into(), SECRET.into()),
        ]);
        let attrs = BTreeMap::from([
            (
                ("RoleForAccessingEksAndEcr".into(), "Arn".into()),
                SERVICE_ROLE.into(),
            ),
            (("MapperFunction".into(), "Arn".into()), FUNCTION.into()),
            (
                ("ReconcileScheduleRole".into(), "Arn".into()),
                SCHEDULE_ROLE.into(),
            ),
        ]);
        Stack {
            t,
            params,
            stack_id: STACK_ID.into(),
            refs,
            attrs,
        }
    }

    fn stack_name(&self) -> &str {
        self.stack_id.split('/').nth(1).unwrap()
    }

    fn reference(&self, name: &str) -> Option<Json> {
        match name {
            "AWS::NoValue" => None,
            "AWS::StackId" => Some(json!(self.stack_id)),
            "AWS::StackName" => Some(json!(self.stack_name())),
            "AWS::Region" => Some(json!(REGION)),
            "AWS::AccountId" => Some(json!(MOTO_ACCOUNT)),
            "AWS::Partition" => Some(json!("aws")),
            _ => Some(
                self.params
                    .get(name)
                    .cloned()
                    .or_else(|| self.refs.get(name).map(|s| json!(s)))
                    .unwrap_or_else(|| panic!("Ref {name}: not known to this evaluator")),
            ),
        }
    }

    fn get_att(&self, resource: &str, attr: &str) -> Json {
        json!(self
            .attrs
            .get(&(resource.to_string(), attr.to_string()))
            .unwrap_or_else(|| panic!("GetAtt {resource}.{attr}: not known to this evaluator")))
    }

    fn condition(&self, name: &str) -> bool {
        self.truth(&self.t["Conditions"][name])
    }

    /// A condition function (Conditions and Rules).
    fn truth(&self, v: &Json) -> bool {
        let (f, args) = v
            .as_object()
            .and_then(|o| o.iter().next())
            .unwrap_or_else(|| panic!("not a condition: {v}"));
        match f.as_str() {
            "Condition" => self.condition(args.as_str().unwrap()),
            "Fn::Equals" => self.eval(&args[0]) == self.eval(&args[1]),
            "Fn::Not" => !self.truth(&args[0]),
            "Fn::And" => args.as_array().unwrap().iter().all(|a| self.truth(a)),
            "Fn::Or" => args.as_array().unwrap().iter().any(|a| self.truth(a)),
            // A rule function: whether the list holds the value.
            "Fn::Contains" => self
                .eval(&args[0])
                .unwrap()
                .as_array()
                .unwrap()
                .contains(&self.eval(&args[1]).unwrap()),
            "Fn::EachMemberEquals" => {
                let want = self.eval(&args[1]).unwrap();
                self.eval(&args[0])
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| *m == want)
            }
            other => panic!("condition function {other}: not known to this evaluator"),
        }
    }

    /// `${Name}`, `${Resource.Attribute}` and `${!Literal}` of a `Fn::Sub` string.
    fn sub(&self, text: &str, vars: &Map<String, Json>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find('}').expect("a closed ${") + i;
            let name = &rest[i + 2..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else {
                let v = match vars.get(name) {
                    Some(v) => self.eval(v),
                    None => match name.split_once('.') {
                        Some((r, a)) => Some(self.get_att(r, a)),
                        None => self.reference(name),
                    },
                };
                match v.unwrap_or_else(|| panic!("${{{name}}} has no value")) {
                    Json::String(s) => out.push_str(&s),
                    other => panic!("${{{name}}} is not a string: {other}"),
                }
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A value with its intrinsic functions evaluated; None for `AWS::NoValue`.
    fn eval(&self, v: &Json) -> Option<Json> {
        match v {
            Json::Object(o) if o.len() == 1 => {
                let (f, a) = o.iter().next().unwrap();
                let s = |v: &Json| self.eval(v).unwrap();
                match f.as_str() {
                    "Ref" => self.reference(a.as_str().unwrap()),
                    "Fn::GetAtt" => {
                        Some(self.get_att(a[0].as_str().unwrap(), a[1].as_str().unwrap()))
                    }
                    "Fn::If" => {
                        let branch = if self.condition(a[0].as_str().unwrap()) {
                            &a[1]
                        } else {
                            &a[2]
                        };
                        self.eval(branch)
                    }
                    "Fn::Sub" => Some(json!(match a {
                        Json::String(text) => self.sub(text, &Map::new()),
                        Json::Array(p) =>
                            self.sub(p[0].as_str().unwrap(), p[1].as_object().unwrap()),
                        other => panic!("Fn::Sub {other}"),
                    })),
                    "Fn::Join" => {
                        let parts = s(&a[1]);
                        let parts: Vec<&str> = parts
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|p| p.as_str().unwrap())
                            .collect();
                        Some(json!(parts.join(a[0].as_str().unwrap())))
                    }
                    "Fn::Split" => Some(json!(s(&a[1])
                        .as_str()
                        .unwrap()
                        .split(a[0].as_str().unwrap())
                        .collect::<Vec<_>>())),
                    "Fn::Select" => {
                        let i = a[0].as_u64().unwrap() as usize;
                        Some(s(&a[1])[i].clone())
                    }
                    f if f.starts_with("Fn::") => panic!("{f}: not known to this evaluator"),
                    _ => Some(Json::Object(
                        self.eval(a).map(|v| (f.clone(), v)).into_iter().collect(),
                    )),
                }
            }
            Json::Object(o) => Some(Json::Object(
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.eval(v)?)))
                    .collect(),
            )),
            Json::Array(a) => Some(Json::Array(a.iter().filter_map(|v| self.eval(v)).collect())),
            other => Some(other.clone()),
        }
    }

    /// Whether the resource is made for these parameters.
    fn made(&self, logical: &str) -> bool {
        match self.t["Resources"][logical]["Condition"].as_str() {
            Some(c) => self.condition(c),
            None => true,
        }
    }

    fn properties(&self, logical: &str) -> Json {
        self.eval(&self.t["Resources"][logical]["Properties"])
            .unwrap()
    }

    /// The template's Rules as CloudFormation checks them before anything is created: the
    /// AssertDescription of every assertion that fails, under a RuleCondition that holds.
    fn refusals(&self) -> Vec<String> {
        let mut refused = Vec::new();
        for rule in self.t["Rules"].as_object().unwrap().values() {
            if rule.get("RuleCondition").is_some_and(|c| !self.truth(c)) {
                continue;
            }
            for a in rule["Assertions"].as_array().unwrap() {
                if !self.truth(&a["Assert"]) {
                    refused.push(a["AssertDescription"].as_str().unwrap().to_string());
                }
            }
        }
        refused
    }
}

/// What the schedule must send: the custom resource's properties as CloudFormation passes them
/// (less what a reconcile never carries: the NoEcho admin external ID and a given external ID, with
/// the registration that needs it; ClusterAdminRoleArn as "" when there is none) in the envelope of
/// a reconcile event. A registration with the stack's generated ID (the topic, the secret's ARN)
/// is carried.
fn expected_event(s: &Stack) -> Json {
    let mut props = s.properties("Mapping");
    let props = props.as_object_mut().unwrap();
    let generated = props.contains_key("ExternalIdSecretArn");
    for k in [
        "ServiceToken",
        "ServiceTimeout",
        "ClusterAdminExternalId",
        "ExternalId",
    ] {
        props.remove(k);
    }
    if !generated {
        props.remove("RegistrationTopicArn");
    }
    props
        .entry("ClusterAdminRoleArn")
        .or_insert_with(|| json!(""));
    json!({
        "RequestType": "Reconcile",
        "StackId": s.stack_id,
        "LogicalResourceId": "Mapping",
        "PhysicalResourceId": s.reference("Mapping").unwrap(),
        "ResourceProperties": props,
    })
}

/// The in-memory region with CloudFormation saying the stack holds `Mapping`, by this stack's
/// physical id, in `status`.
fn holding(status: &str) -> Memory {
    let memory = Memory::default();
    memory.world().stacks.insert(
        (STACK_ID.into(), "Mapping".into()),
        StackResource {
            physical_id: Some(physical_id(STACK_ID, SERVICE_ROLE)),
            status: status.into(),
            last_updated: None,
        },
    );
    memory
}

/// The schedule's Input, parsed.
fn schedule_input(s: &Stack) -> Json {
    let target = &s.properties("ReconcileSchedule")["Target"];
    let text = target["Input"].as_str().expect("Input is a string");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("Input is not JSON ({e}): {text}"))
}

/// A stack's parameters: Reconcile on (hourly) unless `extra` says otherwise.
fn base<'a>(clusters: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("ConcurrentAccountId", "210987654321"),
        ("ClusterName", clusters),
        ("ExternalId", "given-external-id-1234"),
        ("Reconcile", "rate(1 hour)"),
    ];
    for (k, v) in extra {
        p.retain(|(q, _)| q != k);
        p.push((k, v));
    }
    p
}

#[tokio::test]
async fn the_schedules_input_is_the_custom_resources_properties_in_a_reconcile_event() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("prod", &[]),
        ("prod", &[("ClusterAdminRoleArn", ADMIN_ROLE)]),
        ("prod,dev,ml-cluster", &[]),
        (
            "prod,dev,ml-cluster",
            &[
                ("ClusterAdminRoleArn", ADMIN_ROLE),
                ("EnableAccessEntries", "true"),
            ],
        ),
        ("*", &[]),
        (
            "*",
            &[
                ("ClusterAdminRoleArn", ADMIN_ROLE),
                ("Reconcile", "cron(0 3 * * ? *)"),
            ],
        ),
    ];
    for (clusters, extra) in cases {
        let s = Stack::new(template(), &base(clusters, extra));
        assert!(s.made("ReconcileSchedule"), "{clusters} {extra:?}");
        let input = schedule_input(&s);
        assert_eq!(input, expected_event(&s), "{clusters} {extra:?}");
        // Spelled out once, so a change on both sides is noticed too.
        let admin = extra
            .iter()
            .find(|(k, _)| *k == "ClusterAdminRoleArn")
            .map_or("", |(_, v)| *v);
        let switch = extra
            .iter()
            .find(|(k, _)| *k == "EnableAccessEntries")
            .map_or("false", |(_, v)| *v);
        assert_eq!(
            input["ResourceProperties"],
            json!({"ClusterName": clusters, "RoleArn": SERVICE_ROLE, "EnableAccessEntries": switch,
                   "Region": REGION, "ClusterAdminRoleArn": admin, "AccessLevel": "cluster-admin",
                   "Namespaces": "", "KubernetesGroups": ""})
        );
        let target = &s.properties("ReconcileSchedule")["Target"];
        assert_eq!(target["Arn"], FUNCTION);
        assert_eq!(target["RoleArn"], SCHEDULE_ROLE);

        // The function takes it as a reconcile of this very resource: with CloudFormation saying
        // the stack holds it, it reconciles (no cluster exists here: nothing to write).
        assert!(reconcile::is_reconcile(&input));
        let memory = holding("CREATE_COMPLETE");
        let deadline = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        memory.declare(Declared::of_event(&input).ok());
        let report = reconcile::reconcile(&memory, &input, deadline).await;
        assert_eq!(report.verdict, Verdict::Reconciled, "{report:?}");
        assert!(memory.world().writes.is_empty());
    }
}

/// Registration in the schedule: with the stack's generated external ID the Input carries the
/// topic and the secret's ARN (never a value), and a run that finds the grant held publishes
/// `Updated` with the secret's value; a given external ID keeps the registration out of it.
#[tokio::test]
async fn a_generated_external_id_brings_the_registration_into_the_schedule_and_a_given_one_does_not(
) {
    let generated = Stack::new(
        template(),
        &base(
            "prod",
            &[("ExternalId", ""), ("RegistrationTopicArn", TOPIC)],
        ),
    );
    let input = schedule_input(&generated);
    assert_eq!(input, expected_event(&generated));
    let props = &input["ResourceProperties"];
    assert_eq!(props["RegistrationTopicArn"], TOPIC);
    assert_eq!(props["ExternalIdSecretArn"], SECRET);
    assert!(props.get("ExternalId").is_none(), "{input}");

    let given = Stack::new(
        template(),
        &base("prod", &[("RegistrationTopicArn", TOPIC)]),
    );
    let input_given = schedule_input(&given);
    assert_eq!(input_given, expected_event(&given));
    for k in ["RegistrationTopicArn", "ExternalIdSecretArn", "ExternalId"] {
        assert!(
            input_given["ResourceProperties"].get(k).is_none(),
            "{k}: {input_given}"
        );
    }
    assert!(!input_given.to_string().contains("given-external-id-1234"));

    // The function reconciles it and publishes again, reading the secret itself.
    let memory = holding("UPDATE_COMPLETE");
    memory
        .world()
        .secrets
        .insert(SECRET.into(), "SimExternalId-FromTheSecret0123".into());
    let deadline = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    memory.declare(Declared::of_event(&input).ok());
    let report = reconcile::reconcile(&memory, &input, deadline).await;
    assert_eq!(report.verdict, Verdict::Reconciled, "{report:?}");
    let published = memory.world().published.clone();
    assert_eq!(published.len(), 1, "{published:?}");
    let (topic, region, message) = &published[0];
    assert_eq!((topic.as_str(), region.as_str()), (TOPIC, "us-east-2"));
    let doc: Json = serde_json::from_str(message).unwrap();
    assert_eq!(doc["Event"], "Updated");
    assert_eq!(doc["ExternalId"], "SimExternalId-FromTheSecret0123");
    assert_eq!(
        doc["PhysicalResourceId"],
        physical_id(STACK_ID, SERVICE_ROLE)
    );

    // The given ID's schedule publishes nothing; nor does a stack that let the grant go.
    let memory_given = holding("CREATE_COMPLETE");
    memory_given.declare(Declared::of_event(&input_given).ok());
    let report = reconcile::reconcile(&memory_given, &input_given, deadline).await;
    assert_eq!(report.verdict, Verdict::Reconciled, "{report:?}");
    assert!(memory_given.world().published.is_empty());
    memory
        .world()
        .stacks
        .get_mut(&(STACK_ID.into(), "Mapping".into()))
        .unwrap()
        .status = "DELETE_COMPLETE".into();
    memory.declare(Declared::of_event(&input).ok());
    let report = reconcile::reconcile(&memory, &input, deadline).await;
    assert_eq!(report.verdict, Verdict::StackGone, "{report:?}");
    assert_eq!(memory.world().published.len(), 1);
}

/// Scheduler takes a target Input of at most 8,192 characters
/// (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Target.html): the largest
/// ClusterName (4,096 characters) with the longest role ARN IAM allows (a 512-character path and a
/// 64-character name) fits.
#[test]
fn the_largest_input_fits_schedulers_limit() {
    let names: Vec<String> = (0..100)
        .map(|i| format!("{i:03}{}", "x".repeat(37)))
        .collect();
    let mut list = names.join(",");
    list.truncate(4096);
    assert_eq!(list.len(), 4096);
    let admin = format!(
        "arn:aws-us-gov:iam::123456789012:role/{}/{}",
        "p".repeat(510),
        "n".repeat(64)
    );
    let s = Stack::new(template(), &base(&list, &[("ClusterAdminRoleArn", &admin)]));
    let text = s.properties("ReconcileSchedule")["Target"]["Input"]
        .as_str()
        .unwrap()
        .to_string();
    eprintln!("the largest Input: {} characters of 8192", text.len());
    assert!(text.len() <= 8192, "{}", text.len());
}

#[test]
fn a_property_added_to_the_custom_resource_but_not_to_the_input_is_caught() {
    let mut t = template();
    t["Resources"]["Mapping"]["Properties"]["Method"] = json!("AccessEntry");
    let s = Stack::new(t, &base("prod", &[]));
    assert_ne!(schedule_input(&s), expected_event(&s));
    // And one the properties change by a parameter.
    let mut t = template();
    t["Resources"]["Mapping"]["Properties"]["Username"] = json!({"Ref": "ExternalId"});
    let s = Stack::new(t, &base("prod", &[]));
    assert_ne!(schedule_input(&s), expected_event(&s));
}

#[test]
fn the_schedule_runs_when_asked_on_the_function_only_and_never_piles_up() {
    let t = template();
    for (reconcile, max_age) in [
        ("rate(1 hour)", 900),
        ("rate(6 hours)", 900),
        ("rate(1 day)", 900),
        ("rate(15 minutes)", 60),
        ("rate(1 minute)", 60),
        ("cron(0 3 * * ? *)", 60),
    ] {
        let s = Stack::new(t.clone(), &base("prod", &[("Reconcile", reconcile)]));
        let p = s.properties("ReconcileSchedule");
        assert_eq!(p["ScheduleExpression"], reconcile);
        // "OFF" and "ENABLED" as strings (YAML 1.1 would read a bare OFF as false).
        assert_eq!(p["FlexibleTimeWindow"], json!({"Mode": "OFF"}));
        assert_eq!(p["State"], "ENABLED");
        let retry = &p["Target"]["RetryPolicy"];
        assert!((1..=3).contains(&retry["MaximumRetryAttempts"].as_u64().unwrap()));
        assert_eq!(retry["MaximumEventAgeInSeconds"], max_age, "{reconcile}");
        // The stack's own group (never the account's default): the one the role's trust names.
        let group = p["GroupName"].as_str().unwrap().to_string();
        assert!(
            group.starts_with("eks-role-mapper-") && group.len() <= 64,
            "{group}"
        );
        assert!(s.made("ReconcileScheduleGroup"), "{reconcile}");
    }
    for (params, on) in [
        (base("prod", &[("Reconcile", "off")]), false),
        (base("prod", &[("MapRole", "false")]), false),
        (base("prod", &[]), true),
    ] {
        let s = Stack::new(t.clone(), &params);
        for r in ["ReconcileSchedule", "ReconcileScheduleRole"] {
            assert_eq!(s.made(r), on, "{r} {params:?}");
        }
    }
    // The Reconcile parameter defaults to off.
    assert_eq!(t["Parameters"]["Reconcile"]["Default"], "off");
}

#[test]
fn the_alarm_watches_the_failures_the_function_reports_for_this_stack() {
    let t = template();
    let topic = "arn:aws:sns:eu-west-1:123456789012:eks-alarms";
    for (params, made) in [
        (base("prod", &[("ReconcileAlarmTopicArn", topic)]), true),
        (base("prod", &[]), false),
        (
            base(
                "prod",
                &[("Reconcile", "off"), ("ReconcileAlarmTopicArn", topic)],
            ),
            false,
        ),
        (
            base(
                "prod",
                &[("MapRole", "false"), ("ReconcileAlarmTopicArn", topic)],
            ),
            false,
        ),
    ] {
        let s = Stack::new(t.clone(), &params);
        assert_eq!(s.made("ReconcileFailedAlarm"), made, "{params:?}");
        if !made {
            continue;
        }
        let a = s.properties("ReconcileFailedAlarm");
        assert_eq!(a["Namespace"], reconcile::NAMESPACE);
        assert_eq!(a["MetricName"], "Failed");
        // The function's `Stack` dimension is the stack's name, read from its StackId.
        assert_eq!(
            a["Dimensions"],
            json!([{"Name": "Stack", "Value": "concurrent-eks"}])
        );
        assert_eq!(a["Statistic"], "Sum");
        assert_eq!(a["Threshold"], 1);
        assert_eq!(a["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
        assert_eq!(a["EvaluationPeriods"], 1);
        assert_eq!(a["DatapointsToAlarm"], 1);
        assert_eq!(a["Period"], 3600, "one hourly reconcile per period");
        assert_eq!(a["TreatMissingData"], "notBreaching");
        assert_eq!(a["AlarmActions"], json!([topic]));
    }
}

#[test]
fn the_rule_refuses_reconcile_with_the_external_id_and_the_other_rule_still_holds() {
    let t = template();
    let refused = |params: &[(&str, &str)]| Stack::new(t.clone(), params).refusals();
    let with_id = [
        ("ClusterAdminRoleArn", ADMIN_ROLE),
        ("ClusterAdminExternalId", "the-admins-id"),
    ];
    let r = refused(&base("prod", &with_id));
    assert_eq!(r.len(), 1, "{r:?}");
    for word in [
        "Reconcile",
        "ClusterAdminExternalId",
        "scheduler:GetSchedule",
        "off",
    ] {
        assert!(r[0].contains(word), "{word}: {}", r[0]);
    }
    // Without the schedule, or without the external ID, or without the function: accepted.
    let off = base("prod", &[with_id[0], with_id[1], ("Reconcile", "off")]);
    assert!(refused(&off).is_empty());
    assert!(refused(&base("prod", &[("ClusterAdminRoleArn", ADMIN_ROLE)])).is_empty());
    let no_function = base("prod", &[with_id[0], with_id[1], ("MapRole", "false")]);
    assert!(refused(&no_function).is_empty());
    // The evaluator reads the other rule as CloudFormation does.
    let r = refused(&base("prod", &[("SubnetIds", "subnet-0123456789abcdef0")]));
    assert!(r.len() == 1 && r[0].contains("SecurityGroupIds"), "{r:?}");
}

/// Python's `re.fullmatch` of each value (the patterns use nothing where Java's and Python's
/// regular expressions differ).
fn matches(pattern: &str, values: &[&str]) -> Vec<bool> {
    let script = "import json, re, sys\n\
        p, vs = json.load(sys.stdin)\n\
        print(json.dumps([re.fullmatch(p, v) is not None for v in vs]))\n";
    let o = integration::rendered::python(script, json!([pattern, values]).to_string().as_bytes());
    assert!(o.status.success());
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn the_parameters_take_scheduler_expressions_and_topic_arns_and_nothing_that_needs_escaping() {
    let t = template();
    let p = &t["Parameters"];
    let pattern = |k: &str| p[k]["AllowedPattern"].as_str().unwrap().to_string();
    let accepted = [
        "off",
        "rate(1 hour)",
        "rate(1 minute)",
        "rate(1 day)",
        "rate(5 minutes)",
        "rate(12 hours)",
        "rate(7 days)",
        "cron(0 * * * ? *)",
        "cron(0 3 * * ? *)",
        "cron(0/15 * ? * MON-FRI *)",
        "cron(15 10 ? * 6L 2026-2030)",
        "cron(0 8 1W * ? *)",
        "cron(0 12 ? JAN,JUL 3#2 *)",
    ];
    assert!(
        matches(&pattern("Reconcile"), &accepted).iter().all(|m| *m),
        "{accepted:?}"
    );
    let refused = [
        "",
        "on",
        "OFF",
        "rate(1 hours)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(01 hour)",
        "rate(1 week)",
        "rate(1  hour)",
        "at(2026-01-01T00:00:00)",
        "cron(0 3 * * ?)",
        "cron(0 3 * * ? * *)",
        "cron(0 3 * * ? *) ",
        "cron(0 3 * * ? \"*)",
        "rate(1 hour)\"",
    ];
    let got = matches(&pattern("Reconcile"), &refused);
    for (v, m) in refused.iter().zip(got) {
        assert!(!m, "{v:?} must be refused");
    }
    let c = p["Reconcile"]["ConstraintDescription"].as_str().unwrap();
    assert!(c.contains("rate(1 hour)") && c.contains("cron("), "{c}");

    let topic = pattern("ReconcileAlarmTopicArn");
    let ok = [
        "",
        "arn:aws:sns:eu-west-1:123456789012:eks-alarms",
        "arn:aws-cn:sns:cn-north-1:123456789012:a_b-c",
    ];
    assert!(matches(&topic, &ok).iter().all(|m| *m));
    let bad = [
        "arn:aws:sqs:eu-west-1:123456789012:q",
        "arn:aws:sns:eu-west-1:123456789012:t.fifo",
        "eks-alarms",
    ];
    assert!(matches(&topic, &bad).iter().all(|m| !m));
    assert_eq!(p["ReconcileAlarmTopicArn"]["Default"], "");

    // The values the Input substitutes cannot hold a quote, a backslash or a control character,
    // so the !Sub needs no JSON escaping.
    let hostile = [
        "a\"b",
        "a\\b",
        "a\nb",
        "arn:aws:iam::123456789012:role/a\"b",
    ];
    for k in ["ClusterName", "ClusterAdminRoleArn"] {
        assert!(matches(&pattern(k), &hostile).iter().all(|m| !m), "{k}");
    }
    assert_eq!(
        p["EnableAccessEntries"]["AllowedValues"],
        json!(["true", "false"])
    );

    // Both are in the console's groups, with labels.
    let groups = t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"].to_string();
    let labels = &t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterLabels"];
    for k in ["Reconcile", "ReconcileAlarmTopicArn"] {
        assert!(groups.contains(&format!("\"{k}\"")), "{k} in a group");
        assert!(labels[k]["default"].is_string(), "{k} labelled");
    }
}

// ---- On moto's CloudFormation. ----

/// Answers SUCCESS for the stack's custom resource on moto's response endpoint (as the function
/// does on CloudFormation's), so the stack completes.
fn answer_success(moto: &str, stack_id: &str) {
    use std::io::{Read, Write};
    let addr = moto.trim_start_matches("http://");
    let body = json!({
        "Status": "SUCCESS", "StackId": stack_id, "LogicalResourceId": "Mapping", "RequestId": "r",
        "PhysicalResourceId": "p", "Data": {"Method": "AccessEntry"},
    })
    .to_string();
    let path = format!("/cloudformation_{REGION}/cfnresponse?stack={stack_id}");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    // moto takes the region from the request's credential scope.
    write!(
        s,
        "PUT {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/cloudformation/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.contains(" 200 "), "{answer}");
}

fn status(moto: &str, stack: &str) -> Json {
    aws(
        moto,
        &["cloudformation", "describe-stacks", "--stack-name", stack],
    )
    .unwrap()["Stacks"][0]
        .clone()
}

fn resources(moto: &str, stack: &str) -> Vec<Json> {
    aws(
        moto,
        &[
            "cloudformation",
            "describe-stack-resources",
            "--stack-name",
            stack,
        ],
    )
    .unwrap()["StackResources"]
        .as_array()
        .unwrap()
        .clone()
}

fn physical(res: &[Json], logical: &str) -> Option<String> {
    res.iter()
        .find(|r| r["LogicalResourceId"] == logical)
        .and_then(|r| r["PhysicalResourceId"].as_str().map(String::from))
}

/// Completes a MapRole=true stack and returns its final description.
fn completed(moto: &str, stack: &str, r: &Rendered) -> Json {
    answer_success(moto, &r.stack_id);
    let d = status(moto, stack);
    assert_eq!(d["StackStatus"], "CREATE_COMPLETE", "{d}");
    d
}

fn output(d: &Json, key: &str) -> Option<String> {
    d["Outputs"]
        .as_array()?
        .iter()
        .find(|o| o["OutputKey"] == key)
        .map(|o| o["OutputValue"].as_str().unwrap().to_string())
}

fn describe_stack_resource_statements(r: &Rendered) -> Vec<Json> {
    r.role("MapperRole")
        .documents()
        .iter()
        .flat_map(|d| d["Statement"].as_array().unwrap().clone())
        .filter(|s| s["Action"].to_string().contains("cloudformation:"))
        .collect()
}

#[test]
fn moto_deploys_it_with_reconcile_off_and_on() {
    let (_moto, url) = start_moto();

    // Off (the default): nothing of the reconcile.
    let r = render(
        &url,
        "reconcile-off",
        &base("prod", &[("Reconcile", "off")]),
    );
    assert!(r.roles.iter().all(|(l, _)| l != "ReconcileScheduleRole"));
    // Even without a schedule the function asks CloudFormation, about this stack only, whether
    // an Update or Delete is CloudFormation's (the forged-request gate).
    assert_eq!(describe_stack_resource_statements(&r).len(), 1);
    let d = completed(&url, "reconcile-off", &r);
    assert_eq!(output(&d, "ReconcileSchedule").as_deref(), Some("off"));

    // On, with the alarm.
    let topic = format!("arn:aws:sns:{REGION}:{MOTO_ACCOUNT}:eks-alarms");
    let r = render(
        &url,
        "reconcile-on",
        &base(
            "prod,dev",
            &[
                ("Reconcile", "rate(1 hour)"),
                ("ReconcileAlarmTopicArn", &topic),
            ],
        ),
    );
    // The function may ask CloudFormation about this very stack, and nothing else.
    let st = describe_stack_resource_statements(&r);
    assert_eq!(st.len(), 1, "{st:?}");
    assert_eq!(st[0]["Effect"], "Allow");
    assert_eq!(st[0]["Action"], "cloudformation:DescribeStackResource");
    assert_eq!(st[0]["Resource"], r.stack_id);
    assert!(st[0].get("Condition").is_none());

    // The schedule's role: scheduler.amazonaws.com of the stack's own schedule group (named from
    // the stack's id, never the account's default group), and only lambda:InvokeFunction on the
    // function.
    let role = r.role("ReconcileScheduleRole");
    assert!(
        role.name.ends_with("-EksRoleMapperSchedule") && role.name.len() <= 64,
        "{}",
        role.name
    );
    assert_eq!(
        role.trust["Statement"],
        json!([{
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {
                "aws:SourceAccount": MOTO_ACCOUNT,
                "aws:SourceArn": format!(
                    "arn:aws:scheduler:{REGION}:{MOTO_ACCOUNT}:schedule-group/eks-role-mapper-{}",
                    role.name.trim_end_matches("-EksRoleMapperSchedule")
                ),
            }},
        }])
    );
    let res = resources(&url, "reconcile-on");
    let function = physical(&res, "MapperFunction").unwrap();
    let function_arn = aws(
        &url,
        &["lambda", "get-function", "--function-name", &function],
    )
    .unwrap()["Configuration"]["FunctionArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(role.policies.len(), 1);
    assert_eq!(
        role.policies[0].1["Statement"],
        json!([{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arn}])
    );

    let d = completed(&url, "reconcile-on", &r);
    // moto 5.2.1 has no model for the schedule and the alarm: it skips both, and the Output
    // made of the schedule's Ref is left out. (CloudFormation gives the schedule's name.)
    let res = resources(&url, "reconcile-on");
    for skipped in ["ReconcileSchedule", "ReconcileFailedAlarm"] {
        assert!(
            physical(&res, skipped).is_none(),
            "moto now makes {skipped}: test it"
        );
    }
    assert_eq!(output(&d, "ReconcileSchedule"), None, "{d}");
    assert!(
        aws(&url, &["cloudwatch", "describe-alarms"]).unwrap()["MetricAlarms"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // MapRole=false with Reconcile set: no function, so nothing of the reconcile either.
    let r = render(
        &url,
        "reconcile-step-1",
        &base("prod", &[("MapRole", "false")]),
    );
    assert_eq!(
        r.roles.len(),
        1,
        "{:?}",
        r.roles.iter().map(|(l, _)| l).collect::<Vec<_>>()
    );
    assert_eq!(r.output("ReconcileSchedule").as_deref(), Some("off"));
}

/// The template with one more Output: the schedule's Input, so moto's `Fn::Sub` renders it.
fn with_input_output(dir: &Path) -> std::path::PathBuf {
    let mut t = template();
    let input = t["Resources"]["ReconcileSchedule"]["Properties"]["Target"]["Input"].clone();
    t["Outputs"]["ScheduleInputForTest"] = json!({"Condition": "ReconcileOn", "Value": input});
    let path = dir.join("with-input.json");
    std::fs::write(&path, serde_json::to_string_pretty(&t).unwrap()).unwrap();
    path
}

#[test]
fn moto_renders_the_input_as_the_evaluator_does() {
    let (_moto, url) = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let path = with_input_output(dir.path());
    for (clusters, extra) in [
        ("prod,dev", vec![("ClusterAdminRoleArn", ADMIN_ROLE)]),
        ("*", vec![]),
    ] {
        let params = base(clusters, &extra);
        let r = render_in(&url, REGION, &path, "input", &params);
        let d = completed(&url, "input", &r);
        let rendered: Json =
            serde_json::from_str(&output(&d, "ScheduleInputForTest").expect("rendered")).unwrap();
        let mut s = Stack::new(template(), &params);
        s.stack_id = r.stack_id.clone();
        let mapping = physical(&resources(&url, "input"), "Mapping").unwrap();
        s.refs.insert("Mapping".into(), mapping);
        s.attrs.insert(
            ("RoleForAccessingEksAndEcr".into(), "Arn".into()),
            r.role("RoleForAccessingEksAndEcr").arn.clone(),
        );
        assert_eq!(rendered, schedule_input(&s), "{clusters}");
        assert_eq!(rendered, expected_event(&s), "{clusters}");
    }
}

#[test]
fn cfn_lint_passes_the_template() {
    let lint = integration::rendered::tool("CFN_LINT", "cfn-lint");
    let o = std::process::Command::new(&lint)
        .arg(template_path())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", lint.display()));
    let (out, err) = integration::text(&o);
    assert!(o.status.success(), "{out}\n{err}");
}
