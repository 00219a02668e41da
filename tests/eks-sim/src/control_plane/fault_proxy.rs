//! The fault proxy in front of kube-apiserver (see `faults`): ends TLS with a certificate of the
//! cluster's CA, fires the armed rule of each request before forwarding it or after the answer,
//! and forwards it on a new TLS connection, its answer read whole (no watch goes through it).

use std::os::fd::AsFd;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::faults::{lock, Action, Faults, Passed, When};
use crate::error::Result;

/// The request (or its answer) is lost: the proxy closes the connection unanswered.
#[derive(Debug)]
struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cut by the fault proxy")
    }
}

impl std::error::Error for Cut {}

/// Serves the proxy on `listener` with `tls` (a certificate of the cluster's CA).
pub(super) async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    faults: Arc<Faults>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, faults) = (acceptor.clone(), faults.clone());
        tokio::spawn(async move {
            // A second handle on the socket: a reset sets zero linger on it before both close.
            let second = tcp
                .as_fd()
                .try_clone_to_owned()
                .map(std::net::TcpStream::from);
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let (reset, mut resets) = tokio::sync::mpsc::unbounded_channel::<()>();
            let svc =
                hyper::service::service_fn(move |req| handle(faults.clone(), reset.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                Some(()) = resets.recv() => {
                    if let Ok(s) = second.and_then(TcpStream::from_std) {
                        let _ = s.set_zero_linger();
                    }
                }
            }
        });
    }
}

async fn handle(
    faults: Arc<Faults>,
    reset: tokio::sync::mpsc::UnboundedSender<()>,
    req: http::Request<Incoming>,
) -> std::result::Result<http::Response<Full<Bytes>>, Cut> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Cut)?.to_bytes();
    let (method, path) = (parts.method.to_string(), parts.uri.path().to_string());
    if let Some(action) = faults.take(When::Request, &method, &path) {
        apply(&faults, &reset, action).await?;
    }
    let answer = forward(&faults, &parts, body).await;
    lock(&faults.passed).push(Passed {
        method: method.clone(),
        path: path.clone(),
        status: answer.as_ref().map(|a| a.status().as_u16()).unwrap_or(0),
    });
    let answer = answer.map_err(|_| Cut)?;
    if let Some(action) = faults.take(When::Answer, &method, &path) {
        let killed = matches!(action, Action::Kill(_));
        apply(&faults, &reset, action).await?;
        if killed {
            return Err(Cut);
        }
    }
    Ok(answer)
}

async fn apply(
    faults: &Arc<Faults>,
    reset: &tokio::sync::mpsc::UnboundedSender<()>,
    action: Action,
) -> std::result::Result<(), Cut> {
    match action {
        Action::Drop => Err(Cut),
        Action::Reset => {
            let _ = reset.send(());
            std::future::pending().await
        }
        Action::Delay(d) => {
            tokio::time::sleep(d).await;
            Ok(())
        }
        Action::Kill(c) => faults.kill_and_restart(c).map_err(|_| Cut),
        Action::Pause(c, d) => faults.pause_for(c, d).map_err(|_| Cut),
    }
}

/// One request to the apiserver on a new TLS connection; its answer, body read whole.
async fn forward(
    faults: &Faults,
    parts: &http::request::Parts,
    body: Bytes,
) -> std::result::Result<http::Response<Full<Bytes>>, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let url = url::Url::parse(&faults.endpoint).map_err(|x| e(&x))?;
    let port = url.port().unwrap_or(443);
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|x| e(&x))?;
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").map_err(|x| e(&x))?;
    let tls = tokio_rustls::TlsConnector::from(faults.upstream.clone())
        .connect(name, tcp)
        .await
        .map_err(|x| e(&x))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|x| e(&x))?;
    tokio::spawn(conn);
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut req = http::Request::builder()
        .method(parts.method.clone())
        .uri(target);
    for (k, v) in &parts.headers {
        if !hop_by_hop(k) {
            req = req.header(k, v);
        }
    }
    let req = req
        .header(http::header::HOST, format!("127.0.0.1:{port}"))
        .body(Full::new(body))
        .map_err(|x| e(&x))?;
    let answer = sender.send_request(req).await.map_err(|x| e(&x))?;
    let (head, body) = answer.into_parts();
    let body = body.collect().await.map_err(|x| e(&x))?.to_bytes();
    let mut out = http::Response::builder().status(head.status);
    for (k, v) in &head.headers {
        if !hop_by_hop(k) {
            out = out.header(k, v);
        }
    }
    out.body(Full::new(body)).map_err(|x| e(&x))
}

/// Headers of one connection, not of the message (and the length, set again for the whole body).
fn hop_by_hop(name: &http::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "upgrade"
    )
}

/// Starts the proxy in front of the apiserver; answers its URL and task.
pub(super) async fn start_proxy(
    faults: Arc<Faults>,
    tls: Arc<rustls::ServerConfig>,
) -> Result<(String, JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let task = tokio::spawn(serve(listener, tls, faults));
    Ok((format!("https://127.0.0.1:{port}"), task))
}
