//! CloudFormation's `DescribeStackResource`, the one CloudFormation call the mapper makes (a
//! scheduled reconcile asks whether the stack still holds its grant). Query protocol as botocore
//! models it (data/cloudformation/2010-05-15/service-2.json: `protocol: query`, POST / with a
//! form body, `resultWrapper: DescribeStackResourceResult`, XML namespace
//! `http://cloudformation.amazonaws.com/doc/2010-05-15/`), SigV4 service name `cloudformation`.
//!
//! Rules, each as CloudFormation shows them:
//! - a running stack is found by its name or its stack ID (ARN), a deleted one only by its stack
//!   ID, for 90 days, its resources DELETE_COMPLETE
//!   (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResource.html>);
//! - a stack it does not find is 400 `ValidationError` "Stack with id NAME does not exist", NAME
//!   as given (quoted from CloudFormation in boto/boto3#2807, with the whole XML body);
//! - a logical id the stack does not have is 400 `ValidationError` "Resource LOGICAL does not
//!   exist for stack NAME" (quoted in aws-samples/amazon-rekognition-video-analyzer#23; moto's
//!   cloudformation/models.py names the stack as given, as here);
//! - the endpoint is regional and a stack belongs to one account: a stack ARN of another region
//!   than the request's signing region, or of another account than the caller's, is not found.

use crate::aws_api::xml_escape;
use crate::http::{with_type, Req, Resp};
use crate::iam::Request;
use crate::sigv4;
use crate::state::{Stack, World};

/// The XML namespace of CloudFormation's answers.
pub const XMLNS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

fn param(req: &Req, key: &str) -> Option<String> {
    req.form_param(key)
}

/// The operation of a CloudFormation request (`cloudformation:ACTION`), for faults and the log.
pub fn cfn_op(req: &Req) -> String {
    format!(
        "cloudformation:{}",
        param(req, "Action")
            .or_else(|| req.query("Action"))
            .unwrap_or_default()
    )
}

/// A CloudFormation (query protocol) XML error.
pub fn cfn_error(status: u16, code: &str, message: &str) -> Resp {
    crate::aws_api::query_error(XMLNS, status, code, message)
}

/// The signing region of a request (its credential scope), where the regional endpoint is.
pub fn signing_region(req: &Req) -> Option<String> {
    req.header("authorization")
        .and_then(sigv4::parse_authorization)
        .map(|a| a.credential.region)
}

/// The stack `name_or_id` names for a caller of `account` in `region`: by stack ID any stack of
/// that region and account, deleted or not; by name only a stack not deleted.
pub fn find_stack<'a>(
    world: &'a World,
    name_or_id: &str,
    region: &str,
    account: &str,
) -> Option<&'a Stack> {
    let here = |s: &&Stack| s.region == region && s.account == account;
    if name_or_id.starts_with("arn:") {
        return world.stacks.get(name_or_id).filter(here);
    }
    world
        .stacks
        .values()
        .filter(here)
        .find(|s| s.name == name_or_id && !s.deleted)
}

/// The IAM request DescribeStackResource makes: `cloudformation:DescribeStackResource` on the
/// stack's ARN (the Service Authorization Reference's `stack` resource type,
/// `arn:${Partition}:cloudformation:${Region}:${Account}:stack/${StackName}/${Id}`); a stack not
/// found is named `stack/NAME/*`, as CloudFormation's AccessDenied messages name a stack by name.
pub fn iam_request(world: &World, req: &Req, region: &str, caller: &str) -> Option<Request> {
    let action = cfn_op(req);
    crate::iam::action_info(&action)?;
    let account = caller.split(':').nth(4).unwrap_or_default();
    let given = param(req, "StackName").unwrap_or_default();
    let resource = match find_stack(world, &given, region, account) {
        Some(s) => s.stack_id.clone(),
        None => {
            let name = crate::state::parse_stack_id(&given)
                .map(|(_, _, _, n)| n)
                .unwrap_or(given);
            format!("arn:aws:cloudformation:{region}:{account}:stack/{name}/*")
        }
    };
    Some(Request::new(&action, &resource).with("aws:RequestedRegion", &[region]))
}

/// ISO 8601 with milliseconds in UTC, as CloudFormation writes its timestamps
/// (`2026-11-25T10:00:00.500Z`).
pub fn iso8601_ms(epoch_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Answers one CloudFormation request from `caller` (already authenticated and authorized).
pub fn handle(world: &World, req: &Req, caller: &str) -> Resp {
    let region = signing_region(req).unwrap_or_else(|| world.scenario.region.clone());
    let account = caller.split(':').nth(4).unwrap_or_default();
    match param(req, "Action").as_deref() {
        Some("DescribeStackResource") => {}
        other => {
            return cfn_error(
                400,
                "InvalidAction",
                &format!("Could not find operation {}", other.unwrap_or("")),
            )
        }
    }
    // botocore marks both required; the service's own check reads like STS's.
    let Some(given) = param(req, "StackName") else {
        return cfn_error(400, "ValidationError", "1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null");
    };
    let Some(logical) = param(req, "LogicalResourceId") else {
        return cfn_error(400, "ValidationError", "1 validation error detected: Value null at 'logicalResourceId' failed to satisfy constraint: Member must not be null");
    };
    let Some(stack) = find_stack(world, &given, &region, account) else {
        return cfn_error(
            400,
            "ValidationError",
            &format!("Stack with id {given} does not exist"),
        );
    };
    let Some(r) = stack.resources.get(&logical) else {
        return cfn_error(
            400,
            "ValidationError",
            &format!("Resource {logical} does not exist for stack {given}"),
        );
    };
    let physical = r
        .physical_resource_id
        .as_deref()
        .map(|p| format!("<PhysicalResourceId>{}</PhysicalResourceId>", xml_escape(p)))
        .unwrap_or_default();
    with_type(
        200,
        "text/xml",
        format!(
            "<DescribeStackResourceResponse xmlns=\"{XMLNS}\">\n  <DescribeStackResourceResult>\n    <StackResourceDetail>\n      <StackName>{}</StackName>\n      <StackId>{}</StackId>\n      <LogicalResourceId>{}</LogicalResourceId>\n      {physical}\n      <ResourceType>{}</ResourceType>\n      <LastUpdatedTimestamp>{}</LastUpdatedTimestamp>\n      <ResourceStatus>{}</ResourceStatus>\n      <DriftInformation>\n        <StackResourceDriftStatus>NOT_CHECKED</StackResourceDriftStatus>\n      </DriftInformation>\n    </StackResourceDetail>\n  </DescribeStackResourceResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</DescribeStackResourceResponse>\n",
            xml_escape(&stack.name),
            xml_escape(&stack.stack_id),
            xml_escape(&r.logical_resource_id),
            xml_escape(&r.resource_type),
            iso8601_ms(r.last_updated_ms),
            r.status,
            uuid::Uuid::new_v4()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_millisecond_iso_8601_form() {
        assert_eq!(iso8601_ms(1_795_600_800_500), "2026-11-25T10:00:00.500Z");
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
    }
}
