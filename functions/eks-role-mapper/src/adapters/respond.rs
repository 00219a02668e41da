//! The response PUT to the presigned ResponseURL, on the SDK's HTTP client (`https`): the same
//! trusted roots and proxy as every AWS call. Retries on network errors and 5xx within the budget;
//! never follows a redirect (the client does not).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_smithy_http_client::tls::TlsContext;
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;

use aws_smithy_http_client::proxy::ProxyConfig;

use crate::cfn::response::{Body, Respond, ResponseUrl};
use crate::domain::error::{Error, Result};

/// Sends responses to the presigned S3 URL.
#[derive(Clone)]
pub struct Sender {
    tls: TlsContext,
    /// Built on the first answer, not at init: building it loads the system's roots, which
    /// would otherwise be most of a cold start (`init` bench).
    connector: Arc<OnceLock<SharedHttpConnector>>,
    proxy: ProxyConfig,
    allow_loopback: bool,
}

impl Sender {
    /// A sender trusting what the SDK's client trusts, through the same proxy; taking a
    /// loopback ResponseURL only when `allow_loopback` (a local receiver's: the product's clients
    /// never allow it).
    pub fn new(tls: &TlsContext, proxy: &ProxyConfig, allow_loopback: bool) -> Sender {
        Sender {
            tls: tls.clone(),
            connector: Arc::default(),
            proxy: proxy.clone(),
            allow_loopback,
        }
    }

    fn connector(&self) -> &SharedHttpConnector {
        self.connector.get_or_init(|| {
            let (connect, read) = (Duration::from_secs(3), Duration::from_secs(10));
            crate::adapters::https::connector(&self.tls, &self.proxy, connect, read)
        })
    }
}

impl Respond for Sender {
    fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }

    /// PUTs `body` to `url`, retrying until `budget` is spent. Returns the attempts made.
    async fn send(&self, url: &ResponseUrl, body: &Body, budget: Duration) -> Result<u32> {
        let bytes = body.to_bytes();
        let until = tokio::time::Instant::now() + budget;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let request = http::Request::put(url.as_str())
                .header(http::header::CONTENT_TYPE, "")
                .header(http::header::CONTENT_LENGTH, bytes.len())
                .body(SdkBody::from(bytes.clone()))
                .map_err(|e| Error::Response(e.to_string()))?;
            let request =
                HttpRequest::try_from(request).map_err(|e| Error::Response(e.to_string()))?;
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let per_try = left.min(Duration::from_secs(10));
            let outcome = tokio::time::timeout(per_try, self.connector().call(request)).await;
            let retry_reason = match outcome {
                Ok(Ok(resp)) if resp.status().is_success() => return Ok(attempt),
                Ok(Ok(resp)) if resp.status().is_server_error() => {
                    format!("HTTP {}", resp.status().as_u16())
                }
                Ok(Ok(resp)) => {
                    return Err(Error::Response(format!(
                        "HTTP {} (not retried)",
                        resp.status().as_u16()
                    )))
                }
                Ok(Err(e)) => format!(
                    "network error ({})",
                    if e.is_timeout() {
                        "timeout"
                    } else {
                        "connect or request"
                    }
                ),
                Err(_) => "timed out".to_string(),
            };
            let backoff = Duration::from_millis(200 * 2u64.pow(attempt.min(5)));
            if attempt >= 6 || tokio::time::Instant::now() + backoff >= until {
                return Err(Error::Response(format!(
                    "{retry_reason} after {attempt} attempts"
                )));
            }
            tracing::warn!(attempt, reason = %retry_reason, "response PUT failed, retrying");
            tokio::time::sleep(backoff).await;
        }
    }
}
