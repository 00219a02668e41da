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
use crate::state::{Fault, World};
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
    /// The TLS configuration of the clusters made at run time (certificates of the main CA).
    pub tls: Arc<rustls::ServerConfig>,
    /// The listeners of clusters made at run time, stopped with the simulator.
    pub tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Binds the Kubernetes API listener of a cluster about to be made: its URL is the cluster's
/// endpoint from the start, as EKS fixes it at creation.
pub fn bind_cluster() -> std::io::Result<(std::net::TcpListener, String)> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("https://127.0.0.1:{}", l.local_addr()?.port());
    Ok((l, url))
}

/// Serves the Kubernetes API of the cluster `name` on a listener from [`bind_cluster`]. Must run
/// within the Tokio runtime.
pub fn spawn_cluster(
    shared: &Arc<Shared>,
    listener: std::net::TcpListener,
    name: String,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let l = TcpListener::from_std(listener)?;
    let task = tokio::spawn(serve(
        l,
        shared.tls.clone(),
        shared.clone(),
        Target::Cluster(name),
    ));
    shared.tasks.lock().expect("tasks lock").push(task);
    Ok(())
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
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
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
                dispatch(shared.clone(), target.clone(), port, req)
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
            Some("cloudformation") => crate::cfn_api::cfn_op(req),
            Some("lambda") => crate::lambda_api::lambda_op(req),
            Some("sns") => crate::sns_api::sns_op(req),
            Some("secretsmanager") => crate::secrets_api::secrets_op(req),
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
        (Fault::Status(code), "cloudformation") => crate::cfn_api::cfn_error(*code, "InternalFailure", "Injected server error"),
        (Fault::Throttle, "cloudformation") => crate::cfn_api::cfn_error(400, "Throttling", "Rate exceeded"),
        // botocore's SNS model: InternalErrorException (InternalError, 500), ThrottledException
        // (Throttled, 429); Secrets Manager's: InternalServiceError (500), ThrottlingException.
        (Fault::Status(code), "sns") => crate::sns_api::sns_error(*code, "InternalError", "Injected server error"),
        (Fault::Throttle, "sns") => crate::sns_api::sns_error(429, "Throttled", "Rate exceeded"),
        (Fault::Status(code), "secretsmanager") => crate::secrets_api::secrets_error(*code, "InternalServiceError", "Injected server error"),
        (Fault::Throttle, "secretsmanager") => crate::secrets_api::secrets_error(400, "ThrottlingException", "Rate exceeded"),
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

/// Whether the cluster a Kubernetes listener on `port` stands for answers now: it exists with
/// this endpoint (a cluster made again under the same name has another) and is neither being
/// created (no endpoint yet) nor deleted (its control plane goes away first). Otherwise the
/// connection is closed unanswered, as an endpoint that is not there.
fn cluster_serves(world: &mut World, name: &str, port: u16) -> bool {
    world.settle();
    world.clusters.get(name).is_some_and(|c| {
        c.endpoint == format!("https://127.0.0.1:{port}")
            && c.status != "CREATING"
            && c.status != "DELETING"
    })
}

pub(crate) async fn dispatch(
    shared: Arc<Shared>,
    target: Target,
    port: u16,
    req: Request<Incoming>,
) -> Result<Resp, Dropped> {
    let req = read(req).await;
    let op = op_of(&target, &req);
    if let Target::Cluster(name) = &target {
        let mut w = shared.world.lock().expect("world lock");
        if !cluster_serves(&mut w, name, port) {
            w.record(&op, &req.method, &req.raw_path, 0);
            return Err(Dropped);
        }
    }
    let fault = shared.world.lock().expect("world lock").take_fault(&op);
    let record = |status: u16| {
        let mut w = shared.world.lock().expect("world lock");
        w.record(&op, &req.method, &req.raw_path, status);
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
    // A CreateCluster gets its Kubernetes listener bound before it is answered (the endpoint is
    // part of the cluster), served once the cluster is made.
    let new_cluster = match op.as_str() {
        "eks:CreateCluster" => bind_cluster().ok(),
        _ => None,
    };
    let resp = {
        let mut world = shared.world.lock().expect("world lock");
        let iam = shared.iam.lock().expect("iam lock");
        let endpoint = new_cluster.as_ref().map(|(_, url)| url.as_str());
        answer(
            &mut world,
            &iam,
            &shared.ca_b64,
            &target,
            &op,
            &req,
            endpoint,
        )
    };
    if let (Some((listener, _)), true) = (new_cluster, resp.status().is_success()) {
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let name = body["name"].as_str().unwrap_or_default().to_string();
        if let Err(e) = spawn_cluster(&shared, listener, name) {
            tracing::warn!(error = %e, "the new cluster's listener did not start");
        }
    }
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
    new_endpoint: Option<&str>,
) -> Resp {
    match target {
        Target::Cluster(name) => k8s_api::handle(world, name, req),
        Target::Aws if op == "cfn:response" => receiver::handle(world, req),
        Target::Aws => {
            // STS, CloudFormation and SNS are query-protocol services: their errors are XML.
            let is_sts = op.starts_with("sts:")
                || op.starts_with("cloudformation:")
                || op.starts_with("sns:");
            if op.starts_with("lambda:") {
                return match aws_api::verify_signed(world, req) {
                    Ok(caller) if !crate::lambda_api::allowed(iam, &caller, req) => {
                        crate::lambda_api::lambda_error(403, "AccessDeniedException", &format!("User: {caller} is not authorized to perform: lambda:InvokeFunction on resource: {}", crate::lambda_api::function_of(req)))
                    }
                    Ok(_) => crate::lambda_api::handle(world, req),
                    Err(_) => crate::lambda_api::lambda_error(403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided."),
                };
            }
            if is_sts && req.query("X-Amz-Signature").is_some() {
                return aws_api::handle_presigned_sts(world, req);
            }
            let caller = match aws_api::verify_signed(world, req) {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(op, reason = ?e, "signature refused");
                    let query_error = match op.split(':').next() {
                        Some("cloudformation") => crate::cfn_api::cfn_error,
                        Some("sns") => crate::sns_api::sns_error,
                        _ => aws_api::sts_error,
                    };
                    if op.starts_with("secretsmanager:") {
                        // JSON 1.1 services answer these as 400 with the error's type.
                        let refuse = crate::secrets_api::secrets_error;
                        return match e {
                            aws_api::AuthError::UnknownKey => refuse(400, "UnrecognizedClientException", "The security token included in the request is invalid."),
                            aws_api::AuthError::Expired => refuse(400, "ExpiredTokenException", "The security token included in the request is expired"),
                            _ => refuse(400, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided."),
                        };
                    }
                    return match (is_sts, e) {
                        (true, aws_api::AuthError::UnknownKey) => query_error(403, "InvalidClientTokenId", "The security token included in the request is invalid."),
                        (true, aws_api::AuthError::Expired) => query_error(403, "ExpiredToken", "The security token included in the request is expired"),
                        (true, _) => query_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."),
                        (false, aws_api::AuthError::UnknownKey) => aws_api::eks_error(403, "UnrecognizedClientException", "The security token included in the request is invalid."),
                        (false, aws_api::AuthError::Expired) => aws_api::eks_error(403, "ExpiredTokenException", "The security token included in the request is expired"),
                        (false, _) => aws_api::eks_error(403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided."),
                    };
                }
            };
            if let Some(denied) = crate::iam_enforce::authorize(iam, world, req, &caller) {
                return denied;
            }
            if op.starts_with("cloudformation:") {
                crate::cfn_api::handle(world, req, &caller)
            } else if op.starts_with("sns:") {
                let region = crate::cfn_api::signing_region(req).unwrap_or_default();
                crate::sns_api::handle(world, req, &caller, &region)
            } else if op.starts_with("secretsmanager:") {
                let region = crate::cfn_api::signing_region(req).unwrap_or_default();
                crate::secrets_api::handle(world, req, &region)
            } else if is_sts {
                aws_api::handle_sts(world, req, &caller)
            } else {
                aws_api::handle_eks(world, req, ca_b64, &caller, new_endpoint)
            }
        }
    }
}
