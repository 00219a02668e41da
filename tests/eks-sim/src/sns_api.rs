//! SNS `Publish`, the call the mapper makes to register a role with the service. Query protocol as
//! botocore models it (data/sns/2010-03-31/service-2.json: `protocol: query`, POST / with a form
//! body, `resultWrapper: PublishResult`, XML namespace `http://sns.amazonaws.com/doc/2010-03-31/`),
//! SigV4 service name `sns`.
//!
//! Rules, each as SNS shows them (the strictest):
//! - the endpoint is regional: a TopicArn of another region than the request's signing region is
//!   400 `InvalidParameter` "Invalid parameter: TopicArn" (quoted from SNS in boto/boto3#646 and
//!   mozilla/security#8, a Lambda publishing from its own region to a topic of another);
//! - a topic that does not exist is 404 `NotFound` "Topic does not exist" (botocore's model:
//!   `NotFoundException`, code `NotFound`, HTTP 404);
//! - a message above 256 KiB is 400 `InvalidParameter` "Invalid parameter: Message too long"
//!   (<https://docs.aws.amazon.com/sns/latest/api/API_Publish.html>: "up to 256 KB"), an empty or
//!   missing one 400 `InvalidParameter` "Invalid parameter: Empty message";
//! - a refusal is 403 `AuthorizationError` "User: ARN is not authorized to perform: SNS:Publish
//!   on resource: TOPIC" (botocore: `AuthorizationErrorException`, HTTP 403). Publishing to a topic
//!   of another account needs both the caller's identity policy and the topic's access policy
//!   (here: the accounts the scenario lets publish)
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html>);
//! - the IAM action is `sns:Publish` on the topic's ARN (the Service Authorization Reference's
//!   `topic` resource type, `arn:${Partition}:sns:${Region}:${Account}:${TopicName}`).

use serde::Serialize;

use crate::http::{with_type, Req, Resp};
use crate::iam::Request;
use crate::state::World;

/// The XML namespace of SNS's answers.
pub const XMLNS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";
/// SNS's largest message, in bytes.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// A topic of the simulated world.
#[derive(Debug, Clone, Serialize)]
pub struct Topic {
    pub arn: String,
    /// Accounts the topic's access policy lets publish, besides its own.
    pub publishers: Vec<String>,
}

/// One message published, as `--state-out` lists it under `sns_messages`.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub topic_arn: String,
    pub message_id: String,
    /// The message exactly as published.
    pub message: String,
    /// Who published it (the caller's ARN).
    pub publisher: String,
}

/// The operation of an SNS request (`sns:ACTION`), for faults and the log.
pub fn sns_op(req: &Req) -> String {
    format!("sns:{}", req.form_param("Action").unwrap_or_default())
}

/// An SNS (query protocol) XML error.
pub fn sns_error(status: u16, code: &str, message: &str) -> Resp {
    crate::aws_api::query_error(XMLNS, status, code, message)
}

/// The region of a topic ARN (`arn:PARTITION:sns:REGION:ACCOUNT:NAME`).
fn topic_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() == 6 && parts[0] == "arn" && parts[2] == "sns").then(|| parts[3])
}

/// The IAM request Publish makes: `sns:Publish` on the TopicArn as given.
pub fn iam_request(req: &Req, region: &str) -> Option<Request> {
    let action = sns_op(req);
    crate::iam::action_info(&action)?;
    let topic = req.form_param("TopicArn").unwrap_or_default();
    Some(Request::new(&action, &topic).with("aws:RequestedRegion", &[region]))
}

/// The refusal SNS answers for an IAM denial.
pub fn denied(caller: &str, topic: &str) -> Resp {
    sns_error(
        403,
        "AuthorizationError",
        &format!("User: {caller} is not authorized to perform: SNS:Publish on resource: {topic}"),
    )
}

/// Answers one SNS request from `caller` (already authenticated and authorized by its identity
/// policy) signed for `region`.
pub fn handle(world: &mut World, req: &Req, caller: &str, region: &str) -> Resp {
    if req.form_param("Action").as_deref() != Some("Publish") {
        return sns_error(
            400,
            "InvalidAction",
            &format!(
                "Could not find operation {}",
                req.form_param("Action").unwrap_or_default()
            ),
        );
    }
    let Some(topic_arn) = req.form_param("TopicArn") else {
        return sns_error(
            400,
            "InvalidParameter",
            "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
        );
    };
    if topic_region(&topic_arn) != Some(region) {
        return sns_error(400, "InvalidParameter", "Invalid parameter: TopicArn");
    }
    let Some(topic) = world.topics.get(&topic_arn).cloned() else {
        return sns_error(404, "NotFound", "Topic does not exist");
    };
    let caller_account = caller.split(':').nth(4).unwrap_or_default();
    let topic_account = topic_arn.split(':').nth(4).unwrap_or_default();
    if caller_account != topic_account && !topic.publishers.iter().any(|a| a == caller_account) {
        tracing::info!(topic = %topic_arn, "denied by the topic's access policy");
        return denied(caller, &topic_arn);
    }
    let message = req.form_param("Message").unwrap_or_default();
    if message.is_empty() {
        return sns_error(400, "InvalidParameter", "Invalid parameter: Empty message");
    }
    if message.len() > MAX_MESSAGE {
        return sns_error(
            400,
            "InvalidParameter",
            "Invalid parameter: Message too long",
        );
    }
    let message_id = uuid::Uuid::new_v4().to_string();
    world.sns_messages.push(Published {
        topic_arn,
        message_id: message_id.clone(),
        message,
        publisher: caller.to_string(),
    });
    with_type(
        200,
        "text/xml",
        format!(
            "<PublishResponse xmlns=\"{XMLNS}\">\n  <PublishResult>\n    <MessageId>{message_id}</MessageId>\n  </PublishResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</PublishResponse>\n",
            uuid::Uuid::new_v4()
        ),
    )
}
