//! Registration with the service (issue 21) end to end: the replay tool on the shipped events,
//! the mapper over HTTPS with its policy in force, the simulator's SNS and Secrets Manager held
//! to what those services answer (aws-cli parses them; the strict rules fail a kinder product),
//! the message through moto's real SNS into an SQS queue, and a whole stack lifecycle.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use cfn_replay::stack::{run_scenario_observed, StackOptions, Step};
use eks_role_mapper::cloud::Register;
use integration::rendered::{render, template_path};
use integration::{ClientEnv, Harness, SERVICE_ROLE};
use serde_json::{json, Value};

const TOPIC: &str = "arn:aws:sns:eu-west-1:444455556666:concurrent-registrations";
const CLOSED: &str = "arn:aws:sns:eu-west-1:444455556666:closed-registrations";
/// The events' external ID (events/create-registered.json).
const EVENTS_EXTERNAL_ID: &str = "SimExternalId-3f1c2a9e0b7d4c55";
const MAPPER: &str = "arn:aws:iam::111122223333:role/mapper-lambda-role";
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:ExternalIdSecret-AbCdEf";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn replay_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| integration::workspace_bin("cfn-replay"))
}

/// The messages of a `--state-out` file: (topic, parsed message).
fn messages(state: &Value) -> Vec<(String, Value)> {
    state["sns_messages"]
        .as_array()
        .expect("sns_messages in the state")
        .iter()
        .map(|m| {
            (
                m["topic_arn"].as_str().unwrap().to_string(),
                serde_json::from_str(m["message"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// Replays `events` with the replay binary at info level and `--state-out`: its exit code, stdout,
/// stderr and the state it wrote.
fn replay(events: &[&str]) -> (Option<i32>, String, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let o = Command::new(replay_binary())
        .current_dir(root())
        .args(events)
        .arg("--state-out")
        .arg(&state)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    integration::keep_output("cfn-replay", &o);
    let (out, err) = integration::text(&o);
    let written =
        std::fs::read(&state).map_or(Value::Null, |b| serde_json::from_slice(&b).unwrap());
    (o.status.code(), out, err, written)
}

#[test]
fn the_registered_events_replay_to_one_registered_then_one_deregistered_message() {
    let (code, out, err, after_create) = replay(&["events/create-registered.json"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("\"SUCCESS\""), "{out}");
    let sent = messages(&after_create);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (topic, doc) = &sent[0];
    assert_eq!(topic, TOPIC);
    assert_eq!(doc["Version"], 1);
    assert_eq!(doc["Event"], "Registered");
    assert_eq!(doc["RoleArn"], SERVICE_ROLE);
    assert_eq!(doc["ExternalId"], EVENTS_EXTERNAL_ID);
    assert_eq!(doc["Clusters"][0]["Name"], "legacy");
    assert_eq!(doc["Clusters"][0]["Method"], "AwsAuth");
    for text in [&out, &err] {
        assert!(
            !text.contains(EVENTS_EXTERNAL_ID),
            "the external ID in the output: {text}"
        );
    }

    // Create and Delete in one replay: the Delete adds one Deregistered.
    let (code, out, err, after) = replay(&[
        "events/create-registered.json",
        "events/delete-registered.json",
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let events: Vec<Value> = messages(&after)
        .into_iter()
        .map(|(_, d)| d["Event"].clone())
        .collect();
    assert_eq!(events, [json!("Registered"), json!("Deregistered")]);
}

#[test]
fn a_topic_that_refuses_the_publish_still_ends_success_with_the_failure_logged() {
    let (code, out, err, state) = replay(&["events/create-registered-refused.json"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("\"SUCCESS\""), "{out}");
    assert!(err.contains("registration failed"), "{err}");
    assert!(err.contains("AuthorizationError"), "{err}");
    assert!(messages(&state).is_empty());
    assert!(!format!("{out}{err}").contains(EVENTS_EXTERNAL_ID));
}

fn registered(h: &Harness, kind: &str, extra: Value, id: Option<&str>) -> Value {
    let mut props =
        json!({"ClusterName": "modern", "RoleArn": SERVICE_ROLE, "RegistrationTopicArn": TOPIC});
    for (k, v) in extra.as_object().unwrap() {
        props[k] = v.clone();
    }
    h.event(kind, props, id)
}

/// The function's policy: the EKS calls on `modern`, and the registration statements the
/// template renders (sns:Publish on `topic`, GetSecretValue on the stack's secret).
fn policy(topic: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "eks:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "cloudformation:DescribeStackResource", "Resource": "*"},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET},
    ]})
}

#[tokio::test]
async fn under_its_policy_the_mapper_reads_the_generated_id_and_publishes_only_where_allowed() {
    let h = Harness::start().await;
    let generated = "SimExternalId-GeneratedByTheStack0123456789";
    h.sim.put_secret(SECRET, generated);
    h.sim.set_policies(MAPPER, vec![policy(TOPIC)]);
    let answer = h
        .invoke(registered(
            &h,
            "Create",
            json!({"ExternalIdSecretArn": SECRET}),
            None,
        ))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let sent = h.sim.sns_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].publisher.split('/').nth(1),
        Some("mapper-lambda-role")
    );
    let doc: Value = serde_json::from_str(&sent[0].message).unwrap();
    assert_eq!(doc["ExternalId"], generated);
    assert_eq!(doc["Clusters"][0]["Method"], "AccessEntry");
    assert!(!answer.to_string().contains(generated));

    // A policy for another topic: refused by IAM, the request still SUCCESS, nothing published,
    // and the grant in place.
    h.sim.set_policies(MAPPER, vec![policy(CLOSED)]);
    let id = answer["PhysicalResourceId"].as_str().unwrap().to_string();
    let again = h
        .invoke(registered(
            &h,
            "Update",
            json!({"ExternalId": EVENTS_EXTERNAL_ID}),
            Some(&id),
        ))
        .await;
    assert_eq!(again["Status"], "SUCCESS", "{again}");
    assert_eq!(h.sim.sns_messages().len(), 1, "nothing more was published");
    assert!(!h.access_entries("modern").to_string().is_empty());
    // Another secret than the stack's: refused too, the same way.
    h.sim.set_policies(MAPPER, vec![policy(TOPIC)]);
    let other = "arn:aws:secretsmanager:us-east-1:111122223333:secret:Other-AbCdEf";
    h.sim.put_secret(other, "SimExternalId-not-the-stacks");
    let third = h
        .invoke(registered(
            &h,
            "Update",
            json!({"ExternalIdSecretArn": other}),
            Some(&id),
        ))
        .await;
    assert_eq!(third["Status"], "SUCCESS", "{third}");
    assert_eq!(h.sim.sns_messages().len(), 1);
}

#[tokio::test]
async fn a_throttled_publish_is_retried_and_the_fault_fires() {
    let h = Harness::start().await;
    h.sim.inject("sns:Publish", eks_sim::Fault::Throttle, 2);
    let answer = h
        .invoke(registered(
            &h,
            "Create",
            json!({"ExternalId": EVENTS_EXTERNAL_ID}),
            None,
        ))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(h.sim.sns_messages().len(), 1);
    // The Harness's drop asserts both faults fired.
}

/// The simulator's SNS and Secrets Manager as the real aws-cli (botocore) sees them: answers it
/// parses, and the strict rules a kinder stand-in would not have.
#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_reads_the_simulators_sns_and_secrets_manager_as_the_services_answer() {
    let h = Harness::start().await;
    h.sim.put_secret(SECRET, "SimExternalId-from-the-secret");
    let env = ClientEnv::new(&h.sim);
    let publish = |region: &str, topic: &str, message: &str| {
        env.aws(&[
            "--region",
            region,
            "sns",
            "publish",
            "--topic-arn",
            topic,
            "--message",
            message,
        ])
    };
    let ok = publish("eu-west-1", TOPIC, "{\"Version\": 1}").unwrap();
    assert!(
        ok["MessageId"].as_str().is_some_and(|m| !m.is_empty()),
        "{ok}"
    );
    // Signed for another region than the topic's: refused (a product that signs for its own
    // region would fail here).
    let e = publish("us-east-1", TOPIC, "x").unwrap_err();
    assert!(
        e.contains("InvalidParameter") && e.contains("TopicArn"),
        "{e}"
    );
    let e = publish("eu-west-1", "arn:aws:sns:eu-west-1:444455556666:nope", "x").unwrap_err();
    assert!(e.contains("NotFound"), "{e}");
    let e = publish("eu-west-1", CLOSED, "x").unwrap_err();
    assert!(e.contains("AuthorizationError"), "{e}");
    let big = "x".repeat(256 * 1024 + 1);
    let file = env.dir.path().join("big.txt");
    std::fs::write(&file, &big).unwrap();
    let e = publish("eu-west-1", TOPIC, &format!("file://{}", file.display())).unwrap_err();
    assert!(e.contains("Message too long"), "{e}");
    assert_eq!(
        h.sim.sns_messages().len(),
        1,
        "only the first was published"
    );

    let got = env
        .aws(&[
            "--region",
            "us-east-1",
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            SECRET,
        ])
        .unwrap();
    assert_eq!(got["SecretString"], "SimExternalId-from-the-secret");
    let e = env
        .aws(&[
            "--region",
            "eu-west-1",
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            SECRET,
        ])
        .unwrap_err();
    assert!(e.contains("ResourceNotFoundException"), "{e}");
}

/// The mapper's own signed Publish against moto's real SNS, delivered to an SQS queue subscribed
/// with raw delivery: the service's consumer receives exactly the message the simulator records.
#[tokio::test(flavor = "multi_thread")]
async fn the_message_reaches_a_real_sns_subscriber_through_moto_unchanged() {
    let h = Harness::start().await;
    let answer = h
        .invoke(registered(
            &h,
            "Create",
            json!({"ExternalId": EVENTS_EXTERNAL_ID}),
            None,
        ))
        .await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let recorded = h.sim.sns_messages().pop().expect("one message").message;

    let (_moto, url) = integration::start_moto();
    let aws = |args: &[&str]| -> Value {
        let o = Command::new(integration::aws_cli())
            .args([
                "--endpoint-url",
                &url,
                "--region",
                "eu-west-1",
                "--output",
                "json",
            ])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap();
        let (out, err) = integration::text(&o);
        assert!(o.status.success(), "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or(Value::Null)
    };
    let topic = aws(&["sns", "create-topic", "--name", "concurrent-registrations"])["TopicArn"]
        .as_str()
        .unwrap()
        .to_string();
    let queue = aws(&["sqs", "create-queue", "--queue-name", "registrations"])["QueueUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let queue_arn = aws(&[
        "sqs",
        "get-queue-attributes",
        "--queue-url",
        &queue,
        "--attribute-names",
        "QueueArn",
    ])["Attributes"]["QueueArn"]
        .as_str()
        .unwrap()
        .to_string();
    aws(&[
        "sns",
        "subscribe",
        "--topic-arn",
        &topic,
        "--protocol",
        "sqs",
        "--notification-endpoint",
        &queue_arn,
        "--attributes",
        "RawMessageDelivery=true",
    ]);

    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&url)
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "moto",
        ));
    let clients =
        eks_role_mapper::Clients::new(loader, eks_role_mapper::Connection::new(None, true))
            .await
            .unwrap();
    clients
        .publish(&topic, "eu-west-1", &recorded)
        .await
        .unwrap_or_else(|e| panic!("moto refused the mapper's Publish: {e:?}"));
    // moto's own refusal of a topic that does not exist is final, not retried.
    let missing = clients
        .publish(
            "arn:aws:sns:eu-west-1:123456789012:nope",
            "eu-west-1",
            &recorded,
        )
        .await;
    assert!(
        matches!(
            missing,
            Err(eks_role_mapper::registration::Refused::Final(_))
        ),
        "{missing:?}"
    );

    let mut body = None;
    for _ in 0..20 {
        let got = aws(&[
            "sqs",
            "receive-message",
            "--queue-url",
            &queue,
            "--wait-time-seconds",
            "1",
        ]);
        if let Some(m) = got["Messages"].as_array().and_then(|m| m.first()) {
            body = m["Body"].as_str().map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body = body.expect("the subscriber received the message");
    assert_eq!(body, recorded);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (doc["Version"].clone(), doc["Event"].clone()),
        (json!(1), json!("Registered"))
    );
    assert_eq!(doc["ExternalId"], EVENTS_EXTERNAL_ID);
}

/// `cfn-replay stack` on the default scenario with `RegistrationTopicArn` and a generated external
/// ID (and the `extra` parameters added), under the rendered policy; `observe` sees the simulator after
/// each step. Whether it ran clean, its stdout and stderr, and what was published after each step.
async fn registered_stack(
    extra: &[(&str, &str)],
    steps: Vec<Step>,
    observe: &mut dyn FnMut(usize, &eks_sim::Simulator),
) -> (bool, String, String, Vec<Vec<eks_sim::sns_api::Published>>) {
    integration::capture_logs();
    let mut scenario = eks_sim::Scenario::default_scenario();
    scenario.clock_scale = 20.0;
    let parameters: Vec<(String, String)> = [
        ("ConcurrentAccountId", "444455556666"),
        ("ClusterName", "modern"),
        ("RegistrationTopicArn", TOPIC),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let opts = StackOptions {
        template: template_path(),
        from_template: None,
        scenario: None,
        parameters,
        steps,
        venv: None,
        clock_scale: None,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut seen = Vec::new();
    let clean = run_scenario_observed(scenario, &opts, &mut out, &mut err, &mut |step, sim| {
        seen.push(sim.sns_messages());
        observe(step, sim);
    })
    .await
    .expect("the lifecycle runs");
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (clean, text(out), text(err), seen)
}

/// `cfn-replay stack` with RegistrationTopicArn and a generated external ID: each step publishes
/// one message under the rendered policy, its external ID the stack's secret.
#[tokio::test]
async fn a_stack_with_a_registration_topic_publishes_once_per_step_under_its_rendered_policy() {
    let (clean, out, err, mut seen) = registered_stack(
        &[],
        vec![
            Step::Update(vec![("ClusterName".into(), "modern,hybrid".into())]),
            Step::Delete,
        ],
        &mut |_, _| {},
    )
    .await;
    assert!(clean, "{out}\n{err}");
    let counts: Vec<usize> = seen.iter().map(Vec::len).collect();
    assert_eq!(counts, [1, 2, 3], "one message per step: {out}");
    let all = seen.pop().unwrap();
    let docs: Vec<Value> = all
        .iter()
        .map(|m| serde_json::from_str(&m.message).unwrap())
        .collect();
    let events: Vec<&str> = docs.iter().map(|d| d["Event"].as_str().unwrap()).collect();
    assert_eq!(events, ["Registered", "Updated", "Deregistered"]);
    let external_id = docs[0]["ExternalId"].as_str().unwrap();
    assert_eq!(
        external_id.len(),
        40,
        "the secret's generated value: {external_id}"
    );
    assert!(docs.iter().all(|d| d["ExternalId"] == external_id));
    assert_eq!(docs[1]["Clusters"].as_array().unwrap().len(), 2);
    assert!(!out.contains(external_id) && !err.contains(external_id));
}

/// A publish that fails is made good by the next scheduled reconcile: with a generated external ID
/// the schedule carries the topic and the secret's ARN, and each run that finds the grant held
/// publishes `Updated` again, under the rendered policy.
#[tokio::test]
async fn a_publish_that_failed_is_published_again_by_the_next_reconcile() {
    let mut pending = Vec::new();
    let (clean, out, err, mut seen) = registered_stack(
        &[("Reconcile", "rate(1 hour)")],
        vec![
            Step::Update(vec![("ClusterName".into(), "modern,hybrid".into())]),
            Step::Reconcile,
            Step::Delete,
        ],
        &mut |step, sim| match step {
            // After the Create: every attempt of the Update's publish is throttled.
            0 => sim.inject("sns:Publish", eks_sim::Fault::Throttle, 3),
            1 => pending = sim.pending_faults(),
            _ => {}
        },
    )
    .await;
    assert!(clean, "{out}\n{err}");
    assert!(pending.is_empty(), "the throttling fired: {pending:?}");
    // The Update still completed (clean) with its publish failed (its log line is held to the
    // replay's stderr by a_topic_that_refuses_the_publish_...); the reconcile published it.
    let counts: Vec<usize> = seen.iter().map(Vec::len).collect();
    assert_eq!(counts, [1, 1, 2, 3], "the Update's publish failed: {out}");
    let docs: Vec<Value> = seen
        .pop()
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str(&m.message).unwrap())
        .collect();
    let events: Vec<&str> = docs.iter().map(|d| d["Event"].as_str().unwrap()).collect();
    assert_eq!(events, ["Registered", "Updated", "Deregistered"]);
    // The reconcile's message says what the failed one would have: both clusters, the secret's ID.
    let names: Vec<&str> = docs[1]["Clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["modern", "hybrid"]);
    let external_id = docs[0]["ExternalId"].as_str().unwrap();
    assert_eq!(external_id.len(), 40);
    assert_eq!(docs[1]["ExternalId"], external_id);
    assert!(!out.contains(external_id) && !err.contains(external_id));
}

/// The function's IAM for registration, as the template renders it: sns:Publish on that topic
/// only and only with RegistrationTopicArn; GetSecretValue only for a generated external ID.
#[test]
fn the_function_may_publish_only_to_the_given_topic_and_read_only_the_stacks_secret() {
    let (_moto, url) = integration::start_moto();
    let statement = |params: &[(&str, &str)], sid: &str| -> Option<Value> {
        let mut all = vec![
            ("ConcurrentAccountId", "444455556666"),
            ("ClusterName", "modern"),
        ];
        all.extend_from_slice(params);
        let r = render(&url, "registration", &all);
        r.role("MapperRole")
            .documents()
            .iter()
            .flat_map(|d| d["Statement"].as_array().cloned().unwrap_or_default())
            .find(|st| st["Sid"] == sid)
    };
    assert_eq!(statement(&[], "RegisterWithTheService"), None);
    assert_eq!(statement(&[], "ReadTheGeneratedExternalId"), None);
    let publish = statement(&[("RegistrationTopicArn", TOPIC)], "RegisterWithTheService").unwrap();
    assert_eq!(publish["Action"], "sns:Publish");
    assert_eq!(publish["Resource"], TOPIC);
    assert!(statement(
        &[("RegistrationTopicArn", TOPIC)],
        "ReadTheGeneratedExternalId"
    )
    .is_some());
    let given = [
        ("RegistrationTopicArn", TOPIC),
        ("ExternalId", "SimExternalId-given"),
    ];
    assert!(statement(&given, "ReadTheGeneratedExternalId").is_none());
    assert!(statement(&given, "RegisterWithTheService").is_some());
}
