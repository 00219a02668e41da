//! Listeners: TLS on loopback, one request at a time through fault injection to the handlers.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::http::{Req, Resp};
use crate::state::{Fault, RequestRecord, World};
use crate::{aws_api, k8s_api, receiver};

/// What a listener serves.
#[derive(Debug, Clone)]
pub enum Target {
    /// EKS, STS and the CloudFormation response receiver.
    Aws,
    /// The Kubernetes API of one cluster.
    Cluster(String),
}

/// State shared by every listener.
pub struct Shared {
    pub world: Mutex<World>,
    /// The CA handed out in DescribeCluster, base64 of its PEM.
    pub ca_b64: String,
    /// The identity-based policies in force (issue 13).
    pub iam: Mutex<crate::iam_enforce::Policies>,
}

/// Why a connection is closed without an answer.
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Accepts TLS connections until the task is aborted.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
    target: Target,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        // Answers go out at once: with Nagle's algorithm a response written in two TLS records
        // waits for the client's delayed ACK (~40 ms), which no real API server makes anyone wait.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let target = target.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = hyper::service::service_fn(move |req| {
                dispatch(shared.clone(), target.clone(), req)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn read(req: Request<Incoming>) -> Req {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_else(|_| Bytes::new());
    Req {
        method: parts.method.to_string(),
        raw_path: parts.uri.path().to_string(),
        raw_query: parts.uri.query().unwrap_or_default().to_string(),
        headers: parts.headers,
        body,
    }
}

fn op_of(target: &Target, req: &Req) -> String {
    match target {
        Target::Aws if req.raw_path.starts_with(receiver::PREFIX) => "cfn:response".into(),
        Target::Aws => match aws_api::service_of(req).as_deref() {
            Some("eks") => aws_api::eks_op(req).into(),
            Some("sts") => aws_api::sts_op(req),
            Some("lambda") => crate::lambda_api::lambda_op(req),
            _ => "aws:unsigned".into(),
        },
        Target::Cluster(_) => format!("k8s:{}", k8s_api::verb(req)),
    }
}

fn fault_response(op: &str, fault: &Fault) -> Option<Resp> {
    let (service, _) = op.split_once(':').unwrap_or((op, ""));
    Some(match (fault, service) {
        (Fault::Status(code), "eks") => aws_api::eks_error(*code, "ServerException", "Injected server error"),
        (Fault::Status(code), "sts") => aws_api::sts_error(*code, "InternalFailure", "Injected server error"),
        (Fault::Status(code), "cfn") => receiver::s3_error(*code, "InternalError", "We encountered an internal error. Please try again."),
        (Fault::Throttle, "cfn") => receiver::s3_error(503, "SlowDown", "Please reduce your request rate."),
        (Fault::Status(code), _) => k8s_api::status(*code, "InternalError", "Injected server error", json!({})),
        (Fault::Throttle, "eks") => aws_api::eks_error(429, "ThrottlingException", "Rate exceeded"),
        (Fault::Throttle, "sts") => aws_api::sts_error(400, "Throttling", "Rate exceeded"),
        (Fault::Throttle, _) => {
            let mut r = k8s_api::status(429, "TooManyRequests", "Too many requests, please try again later.", json!({ "retryAfterSeconds": 1 }));
            r.headers_mut().insert("retry-after", "1".parse().expect("valid header"));
            r
        }
        (Fault::Conflict, "k8s") => k8s_api::status(409, "Conflict", "Operation cannot be fulfilled on configmaps: the object has been modified; please apply your changes to the latest version and try again", json!({ "kind": "configmaps" })),
        (Fault::Conflict, _) => aws_api::eks_error(409, "ResourceInUseException", "Injected conflict"),
        (Fault::Redirect(to), _) => {
            let mut r = Resp::new(http_body_util::Full::new(Bytes::new()));
            *r.status_mut() = hyper::StatusCode::TEMPORARY_REDIRECT;
            r.headers_mut().insert("location", to.parse().expect("a valid redirect URL"));
            r
        }
        (Fault::Delay(_), _) | (Fault::Drop, _) => return None,
    })
}

async fn dispatch(
    shared: Arc<Shared>,
    target: Target,
    req: Request<Incoming>,
) -> Result<Resp, Dropped> {
    let req = read(req).await;
    let op = op_of(&target, &req);
    let fault = shared.world.lock().expect("world lock").take_fault(&op);
    let record = |status: u16| {
        shared
            .world
            .lock()
            .expect("world lock")
            .log
            .push(RequestRecord {
                op: op.clone(),
                method: req.method.clone(),
                path: req.raw_path.clone(),
                status,
            });
    };
    match &fault {
        Some(Fault::Drop) => {
            record(0);
            return Err(Dropped);
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        Some(f) => {
            if let Some(r) = fault_response(&op, f) {
                record(r.status().as_u16());
                return Ok(r);
            }
        }
        None => {}
    }
    let resp = {
        let mut world = shared.world.lock().expect("world lock");
        let iam = shared.iam.lock().expect("iam lock");
        answer(&mut world, &iam, &shared.ca_b64, &target, &op, &req)
    };
    record(resp.status().as_u16());
    Ok(resp)
}

fn answer(
    world: &mut World,
    iam: &crate::iam_enforce::Policies,
    ca_b64: &str,
    target: &Target,
    op: &str,
    req: &Req,
) -> Resp {
    match target {
        Target::Cluster(name) => k8s_api::handle(world, name, req),
        Target::Aws if op == "cfn:response" => receiver::handle(world, req),
        Target::Aws => {
            let is_sts = op.starts_with("sts:");
            if op.starts_with("lambda:") {
                return match aws_api::verify_signed(world, req) {
                    Ok(caller) if !crate::lambda_api::allowed(iam, &caller, req) => {
                        crate::lambda_api::lambda_error(403, "AccessDeniedException", &format!("User: {caller} is not authorized to perform: lambda:InvokeFunction on resource: {}", crate::lambda_api::function_of(req)))
                    }
                    Ok(_) => crate::lambda_api::handle(world, req),
                    Err(_) => crate::lambda_api::lambda_error(403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided."),
                };
            }
            let caller = match aws_api::verify_signed(world, req) {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(op, reason = ?e, "signature refused");
                    return match (is_sts, e) {
                        (true, aws_api::AuthError::UnknownKey) => aws_api::sts_error(403, "InvalidClientTokenId", "The security token included in the request is invalid."),
                        (true, aws_api::AuthError::Expired) => aws_api::sts_error(403, "ExpiredToken", "The security token included in the request is expired"),
                        (true, _) => aws_api::sts_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."),
                        (false, aws_api::AuthError::UnknownKey) => aws_api::eks_error(403, "UnrecognizedClientException", "The security token included in the request is invalid."),
                        (false, aws_api::AuthError::Expired) => aws_api::eks_error(403, "ExpiredTokenException", "The security token included in the request is expired"),
                        (false, _) => aws_api::eks_error(403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided."),
                    };
                }
            };
            if let Some(denied) = crate::iam_enforce::authorize(iam, world, req, &caller) {
                return denied;
            }
            if is_sts {
                aws_api::handle_sts(world, req, &caller)
            } else {
                aws_api::handle_eks(world, req, ca_b64)
            }
        }
    }
}
