//! Registration to an SSE-KMS encrypted topic (issue 38, item 8). Publishing to such a topic from
//! another account needs `kms:GenerateDataKey*` and `kms:Decrypt` on the topic's key, allowed by
//! the publisher's own policy and by the key's policy
//! (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html). Here: the function's policy
//! as the template renders it with and without `RegistrationTopicKmsKeyArn`, and the vendor's topic
//! and key policies as infra/README.md documents them, evaluated with the simulator's IAM
//! evaluator; and the mapper's own Publish to a KMS-encrypted topic on moto, which stores the key
//! but neither encrypts nor checks a policy (so the permissions are the evaluator's part).

use std::process::Command;
use std::time::Duration;

use eks_sim::iam::{evaluate, Decision, Request};
use integration::rendered::render;
use serde_json::Value;

const SERVICE: &str = "444455556666";
const TOPIC: &str = "arn:aws:sns:eu-west-1:444455556666:concurrent-registrations";
const KEY: &str = "arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// The JSON block of infra/README.md after the marker `<!-- NAME -->`.
fn documented(name: &str) -> Value {
    let text =
        std::fs::read_to_string(integration::rendered::template_path().with_file_name("README.md"))
            .unwrap();
    let after = text
        .split_once(&format!("<!-- {name} -->"))
        .unwrap_or_else(|| panic!("infra/README.md has no {name}"))
        .1;
    let block = after
        .split_once("```json\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .unwrap()
        .0;
    serde_json::from_str(block).unwrap()
}

/// A resource-based policy's verdict for `caller`: its statements whose `Principal` names the
/// caller (`*`, the caller's ARN, or its account's root), evaluated as identity statements are
/// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html).
fn resource_policy(doc: &Value, caller: &str, request: &Request) -> Decision {
    let account = caller.split(':').nth(4).unwrap_or_default();
    let root = format!("arn:aws:iam::{account}:root");
    let names = |p: &Value| match p {
        Value::String(s) => s == "*",
        Value::Object(o) => o.get("AWS").is_some_and(|a| {
            let list = match a {
                Value::String(s) => vec![s.as_str()],
                Value::Array(v) => v.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            list.iter().any(|x| *x == "*" || *x == caller || *x == root)
        }),
        _ => false,
    };
    let statements: Vec<Value> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| names(&st["Principal"]))
        .cloned()
        .collect();
    let request = request.clone().with("aws:PrincipalArn", &[caller]);
    evaluate(&[serde_json::json!({ "Statement": statements })], &request)
}

/// What SNS asks KMS for, as the publisher, when it encrypts a message for `topic` with `key`.
fn kms_requests(key: &str, topic: &str, region: &str) -> Vec<Request> {
    ["kms:GenerateDataKey", "kms:Decrypt"]
        .iter()
        .map(|a| {
            Request::new(a, key)
                .with("kms:ViaService", &[&format!("sns.{region}.amazonaws.com")])
                .with("kms:EncryptionContext:aws:sns:topicArn", &[topic])
        })
        .collect()
}

#[test]
fn publishing_to_an_encrypted_topic_is_allowed_with_both_grants_and_not_without_either() {
    let (_moto, url) = integration::start_moto();
    let function = |extra: &[(&str, &str)]| {
        let mut p = vec![
            ("ConcurrentAccountId", SERVICE),
            ("ClusterName", "modern"),
            ("RegistrationTopicArn", TOPIC),
        ];
        p.extend_from_slice(extra);
        let r = render(&url, "registration-kms", &p);
        (
            r.role("MapperRole").arn.clone(),
            r.role("MapperRole").documents(),
        )
    };
    let (caller, granted) = function(&[("RegistrationTopicKmsKeyArn", KEY)]);
    let (_, plain) = function(&[]);
    let topic_policy = documented("vendor-topic-policy");
    let key_policy = documented("vendor-key-policy");
    let publish = Request::new("sns:Publish", TOPIC);
    assert_eq!(evaluate(&granted, &publish), Decision::Allow);
    assert_eq!(
        resource_policy(&topic_policy, &caller, &publish),
        Decision::Allow
    );
    for r in kms_requests(KEY, TOPIC, "eu-west-1") {
        // Both sides allow it: the publish goes through.
        assert_eq!(evaluate(&granted, &r), Decision::Allow, "{r:?}");
        assert_eq!(
            resource_policy(&key_policy, &caller, &r),
            Decision::Allow,
            "{r:?}"
        );
        // Without the parameter the function's own policy refuses the key.
        assert_eq!(evaluate(&plain, &r), Decision::ImplicitDeny, "{r:?}");
        // Without the key policy's statement for the publishers, the key's owner alone is trusted.
        let mut admin_only = key_policy.clone();
        admin_only["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|st| st["Sid"] == "KeyAdministration");
        assert_eq!(
            resource_policy(&admin_only, &caller, &r),
            Decision::ImplicitDeny
        );
        // The grant is for SNS and that topic only: not the key used directly, nor for another topic.
        let mut direct = r.clone();
        direct.context.remove("kms:viaservice");
        assert_eq!(evaluate(&granted, &direct), Decision::ImplicitDeny);
        assert_eq!(
            resource_policy(&key_policy, &caller, &direct),
            Decision::ImplicitDeny
        );
        let other = r.clone().with(
            "kms:EncryptionContext:aws:sns:topicArn",
            &[&TOPIC.replace("concurrent-", "other-")],
        );
        assert_eq!(evaluate(&granted, &other), Decision::ImplicitDeny);
    }
    // Another principal than a stack's function is not trusted by the vendor's policies.
    let stranger = "arn:aws:iam::999988887777:role/intruder";
    assert_eq!(
        resource_policy(&topic_policy, stranger, &publish),
        Decision::ImplicitDeny
    );
    // A key of another account than the service's: no grant at all.
    let foreign = KEY.replace(SERVICE, "999988887777");
    let (_, foreign_docs) = function(&[("RegistrationTopicKmsKeyArn", &foreign)]);
    for r in kms_requests(&foreign, TOPIC, "eu-west-1") {
        assert_eq!(evaluate(&foreign_docs, &r), Decision::ImplicitDeny);
    }
}

/// The mapper's own signed Publish to a topic encrypted with a KMS key, on moto's SNS, delivered to
/// an SQS subscriber: the message goes through unchanged and the topic keeps its key. (moto does not
/// encrypt, nor check the key's policy or the publisher's: those are tested above.)
#[tokio::test(flavor = "multi_thread")]
async fn the_mapper_publishes_to_a_kms_encrypted_topic_on_moto() {
    let (_moto, url) = integration::start_moto();
    let aws = |args: &[&str]| -> Value {
        let mut o = Command::new(integration::aws_cli());
        o.args([
            "--endpoint-url",
            &url,
            "--region",
            "eu-west-1",
            "--output",
            "json",
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
        // A process on the runtime's worker: the worker hands its tasks to the others meanwhile.
        let o = tokio::task::block_in_place(|| o.output()).unwrap();
        let (out, err) = integration::text(&o);
        assert!(o.status.success(), "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or(Value::Null)
    };
    let key = aws(&["kms", "create-key", "--description", "registrations"])["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    let topic = aws(&[
        "sns",
        "create-topic",
        "--name",
        "concurrent-registrations",
        "--attributes",
        &format!("KmsMasterKeyId={key}"),
    ])["TopicArn"]
        .as_str()
        .unwrap()
        .to_string();
    let attributes = aws(&["sns", "get-topic-attributes", "--topic-arn", &topic]);
    assert_eq!(attributes["Attributes"]["KmsMasterKeyId"], key.as_str());
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
    let message = r#"{"Version":1,"Event":"Registered"}"#;
    use eks_role_mapper::ports::Register;
    clients
        .publish(&topic, "eu-west-1", message)
        .await
        .unwrap_or_else(|e| panic!("moto refused the mapper's Publish: {e:?}"));
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
    assert_eq!(body.as_deref(), Some(message));
}
