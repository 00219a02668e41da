//! The one HTTPS stack every call goes out on: hyper's HTTP/1.1 client over rustls on ring. The
//! SDK's calls ([`SdkHttp`]), the response PUT and the hand-signed calls (`response::Sender`), and
//! the Kubernetes API (`kube_store`) differ only in the roots they trust.
//!
//! The SDK gets this client too, through its `HttpClient` port, instead of
//! aws-smithy-http-client: that crate always builds hyper with HTTP/2 (h2), a proxy matcher and
//! tower, none of which a function calling three AWS APIs over HTTP/1.1 uses; they were a sixth of
//! a cold build of the replay tool.
//! <https://docs.rs/aws-smithy-runtime-api/latest/aws_smithy_runtime_api/client/http/trait.HttpClient.html>

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector as SdkConnector, HttpConnectorFuture, HttpConnectorSettings,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use crate::domain::error::{Error, Result};

/// A pooled HTTPS client sending bodies of type `B`.
pub(crate) type HttpsClient<B> = Client<HttpsConnector<HttpConnector>, B>;

/// The system's roots (Lambda's image has them; those that do not parse are skipped) and those of
/// `extra_ca_pem` (`AWS_CA_BUNDLE`, as aws-cli reads it).
pub(crate) fn system_roots(extra_ca_pem: Option<&[u8]>) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let _ = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(pem) = extra_ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::Setup(format!("AWS_CA_BUNDLE: {e}")))?;
            let _ = roots.add(cert);
        }
    }
    Ok(roots)
}

/// A client trusting `roots` only. Plain http only when `allow_http` (a `local` build's local
/// endpoints); Nagle's algorithm off (a small request written in two TLS records would otherwise
/// wait ~40 ms for the server's delayed ACK).
pub(crate) fn client<B>(
    roots: RootCertStore,
    allow_http: bool,
    connect_timeout: Duration,
) -> std::result::Result<HttpsClient<B>, rustls::Error>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
    let https = if allow_http {
        https.https_or_http()
    } else {
        https.https_only()
    };
    Ok(Client::builder(TokioExecutor::new()).build(https.enable_http1().wrap_connector(http)))
}

/// The SDK's HTTP client: one pool for every SDK client of the process. Its connect timeout is
/// the one `Clients` gives the SDK; each attempt is bounded by the SDK's attempt timeout.
#[derive(Clone, Debug)]
pub(crate) struct SdkHttp {
    client: HttpsClient<SdkBody>,
}

impl SdkHttp {
    pub(crate) fn new(
        roots: RootCertStore,
        allow_http: bool,
        connect_timeout: Duration,
    ) -> Result<SdkHttp> {
        let client = client(roots, allow_http, connect_timeout)
            .map_err(|e| Error::Setup(format!("the SDK's HTTPS client: {e}")))?;
        Ok(SdkHttp { client })
    }
}

impl HttpClient for SdkHttp {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl SdkConnector for SdkHttp {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let answer = self.client.request(request);
        HttpConnectorFuture::new(async move {
            match answer.await {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(connector_error(e)),
            }
        })
    }
}

/// How the SDK's retry strategy should see a failed exchange, as aws-smithy-http-client classifies
/// hyper's errors (awslabs/aws-sdk-rust, sdk/aws-smithy-http-client/src/client.rs,
/// `downcast_error`): a connection that failed, closed or broke is I/O (retried), a timeout a
/// timeout, a request hyper refused the caller's, an answer cut short transient.
fn connector_error(e: hyper_util::client::legacy::Error) -> ConnectorError {
    let kind = if e.is_connect() {
        Kind::Io
    } else {
        match source::<hyper::Error>(&e) {
            Some(h) if h.is_timeout() => Kind::Timeout,
            Some(h) if h.is_user() => Kind::User,
            Some(h) if h.is_incomplete_message() => Kind::Transient,
            Some(h) if h.is_closed() || h.is_canceled() => Kind::Io,
            _ if source::<std::io::Error>(&e).is_some() => Kind::Io,
            _ => Kind::Other,
        }
    };
    let e: BoxError = e.into();
    match kind {
        Kind::Io => ConnectorError::io(e),
        Kind::Timeout => ConnectorError::timeout(e),
        Kind::User => ConnectorError::user(e),
        Kind::Transient => ConnectorError::other(e, Some(ErrorKind::TransientError)),
        Kind::Other => ConnectorError::other(e, None),
    }
}

enum Kind {
    Io,
    Timeout,
    User,
    Transient,
    Other,
}

/// The first error of type `E` in `e`'s chain.
fn source<'a, E: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}
