//! Registration over the in-memory adapter: one message per successful request, its external ID
//! from the event or the stack's secret, sent to the topic's own region; a publish that fails is
//! retried and never fails the request.

mod common;

use common::*;
use serde_json::{json, Value};
use test_kit::{Memory, PUBLISH};

/// A topic in another region than the clusters (the service's account).
const TOPIC: &str = "arn:aws:sns:eu-west-1:444455556666:concurrent-registrations";
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:ExternalIdSecret-AbCdEf";
const EXTERNAL_ID: &str = "f3c1e2d4a5b6978812345678";

fn registered(kind: &str, clusters: &str, old: Option<(&str, &str)>, extra: Value) -> Value {
    let mut e = event(kind, clusters, old);
    e["ResourceProperties"]["RegistrationTopicArn"] = json!(TOPIC);
    for (k, v) in extra.as_object().unwrap() {
        e["ResourceProperties"][k] = v.clone();
    }
    e
}

/// A Create on `modern` whose external ID is the stack's generated secret.
fn create_with_secret() -> Value {
    registered(
        "Create",
        "modern",
        None,
        json!({"ExternalIdSecretArn": SECRET}),
    )
}

fn given() -> Value {
    json!({"ExternalId": EXTERNAL_ID})
}

/// The messages published so far: (topic, region called, document).
fn published(m: &Memory) -> Vec<(String, String, Value)> {
    m.world()
        .published
        .iter()
        .map(|(t, r, msg)| (t.clone(), r.clone(), serde_json::from_str(msg).unwrap()))
        .collect()
}

#[tokio::test]
async fn create_update_and_delete_each_publish_one_message_to_the_topics_region() {
    let m = region();
    let id = ok(&run(&m, registered("Create", "legacy,modern", None, given())).await);
    let sent = published(&m);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (topic, region, doc) = &sent[0];
    assert_eq!((topic.as_str(), region.as_str()), (TOPIC, "eu-west-1"));
    assert_eq!(doc["Version"], 1);
    assert_eq!(doc["Event"], "Registered");
    assert_eq!(doc["RoleArn"], ROLE);
    assert_eq!(doc["ExternalId"], EXTERNAL_ID);
    assert_eq!(doc["AccountId"], "111122223333");
    assert_eq!(doc["Region"], "us-east-1");
    assert_eq!(doc["StackId"], STACK);
    assert_eq!(doc["PhysicalResourceId"], id.as_str());
    assert_eq!(doc["AccessLevel"], "cluster-admin");
    let clusters: Vec<(&str, &str)> = doc["Clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["Name"].as_str().unwrap(), c["Method"].as_str().unwrap()))
        .collect();
    assert_eq!(clusters, [("legacy", "AwsAuth"), ("modern", "AccessEntry")]);

    let update = registered("Update", "modern", Some((&id, "legacy,modern")), given());
    assert_eq!(ok(&run(&m, update).await), id, "in place");
    let sent = published(&m);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].2["Event"], "Updated");
    assert_eq!(sent[1].2["Clusters"].as_array().unwrap().len(), 1);

    let delete = registered("Delete", "modern", Some((&id, "modern")), given());
    ok(&run(&m, delete).await);
    let sent = published(&m);
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].2["Event"], "Deregistered");
    assert_eq!(sent[2].2["Clusters"][0]["Name"], "modern");
    assert_eq!(sent[2].2["ExternalId"], EXTERNAL_ID);
}

#[tokio::test]
async fn a_generated_external_id_is_read_from_the_stacks_secret_not_the_event() {
    let m = region();
    m.world().secrets.insert(
        SECRET.into(),
        "GeneratedByTheStack0123456789abcdefABCDEF".into(),
    );
    ok(&run(&m, create_with_secret()).await);
    let sent = published(&m);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].2["ExternalId"],
        "GeneratedByTheStack0123456789abcdefABCDEF"
    );
}

#[tokio::test]
async fn a_publish_that_fails_twice_is_retried_and_sent_once() {
    let m = region();
    m.fail(PUBLISH, TOPIC, 2);
    ok(&run(&m, registered("Create", "modern", None, given())).await);
    assert!(
        m.pending_failures().is_empty(),
        "{:?}",
        m.pending_failures()
    );
    assert_eq!(published(&m).len(), 1);
}

#[tokio::test]
async fn a_topic_that_keeps_refusing_leaves_the_grant_and_the_success() {
    let m = region();
    m.fail(PUBLISH, TOPIC, 10);
    let body = run(&m, registered("Create", "modern", None, given())).await;
    ok(&body);
    assert!(m.world().clusters["modern"].entries.contains_key(ROLE));
    assert!(published(&m).is_empty());
    // Three attempts were made, no more.
    assert_eq!(
        m.pending_failures(),
        [(PUBLISH.to_string(), TOPIC.to_string(), 7)]
    );
    // A secret that is not there: the same (nothing sent, SUCCESS).
    let m = region();
    ok(&run(&m, create_with_secret()).await);
    assert!(published(&m).is_empty());
}

#[tokio::test]
async fn nothing_is_published_without_a_topic_or_after_a_failure() {
    let m = region();
    ok(&run(&m, event("Create", "modern", None)).await);
    let body = run(&m, registered("Create", "nowhere", None, given())).await;
    assert_eq!(body.status, "FAILED");
    assert!(published(&m).is_empty());
}

#[tokio::test]
async fn the_answer_to_cloudformation_never_carries_the_external_id() {
    let m = region();
    let body = run(&m, registered("Create", "modern", None, given())).await;
    let text = serde_json::to_string(&body).unwrap();
    assert!(!text.contains(EXTERNAL_ID), "{text}");
}
