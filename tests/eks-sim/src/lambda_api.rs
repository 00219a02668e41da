//! Lambda's Invoke API, asynchronous only (`X-Amz-Invocation-Type: Event`): the function hands a
//! long request over to a fresh invocation of itself this way. The simulator queues the event;
//! whoever plays the Lambda service (the test harness, the replay tool) takes it with
//! `Simulator::take_invocations` and runs the handler again.
//! <https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html>

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};

use crate::http::{Req, Resp};
use crate::state::World;

/// Lambda's limit on an asynchronous invocation's payload: 256 KB (the older, stricter figure;
/// <https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>).
pub const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;

/// An event queued for the function.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The FunctionName as called (name or ARN).
    pub function: String,
    pub event: Value,
}

/// The operation's name for logs and faults.
pub fn lambda_op(req: &Req) -> String {
    if req.method == "POST"
        && req.raw_path.starts_with("/2015-03-31/functions/")
        && req.raw_path.ends_with("/invocations")
    {
        "lambda:Invoke".into()
    } else {
        "lambda:Unknown".into()
    }
}

/// Lambda's error shape: JSON with `Type` and `message`, the code in `x-amzn-ErrorType`.
pub fn lambda_error(status: u16, code: &str, message: &str) -> Resp {
    let body = json!({"Type": "User", "message": message}).to_string();
    let mut r = Resp::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).expect("a valid status");
    r.headers_mut()
        .insert("x-amzn-errortype", code.parse().expect("a valid header"));
    r.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("a valid header"),
    );
    r
}

/// The FunctionName of an Invoke path (a name or an ARN).
pub fn function_of(req: &Req) -> String {
    let f = req
        .raw_path
        .trim_start_matches("/2015-03-31/functions/")
        .trim_end_matches("/invocations");
    percent_encoding::percent_decode_str(f)
        .decode_utf8_lossy()
        .to_string()
}

/// Whether the caller's policies (when any are in force) allow `lambda:InvokeFunction` on the
/// function, which Invoke authorizes on (Service Authorization Reference for AWS Lambda).
pub fn allowed(policies: &crate::iam_enforce::Policies, caller: &str, req: &Req) -> bool {
    let Some(docs) = policies.of(caller) else {
        return true;
    };
    let request = crate::iam::Request::new("lambda:InvokeFunction", &function_of(req));
    crate::iam::evaluate(docs, &request) == crate::iam::Decision::Allow
}

/// Answers an authenticated Invoke: 202 and the event queued, or Lambda's error.
pub fn handle(world: &mut World, req: &Req) -> Resp {
    if lambda_op(req) != "lambda:Invoke" {
        return lambda_error(404, "UnknownOperationException", "Unknown operation");
    }
    if req.header("x-amz-invocation-type") != Some("Event") {
        // The function never waits on itself; a synchronous self-invoke would block until its own
        // timeout.
        return lambda_error(
            400,
            "InvalidParameterValueException",
            "the simulator takes asynchronous (Event) invocations only",
        );
    }
    if req.body.len() > MAX_ASYNC_PAYLOAD {
        return lambda_error(
            413,
            "RequestEntityTooLargeException",
            "Request must be smaller than 262144 bytes for the InvokeAsync operation",
        );
    }
    let Ok(event) = serde_json::from_slice::<Value>(&req.body) else {
        return lambda_error(
            400,
            "InvalidRequestContentException",
            "Could not parse request body into json",
        );
    };
    let function = function_of(req);
    world.invocations.push(Invocation { function, event });
    let mut r = Resp::new(Full::new(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::ACCEPTED;
    r
}
