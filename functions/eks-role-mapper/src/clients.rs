//! The clients, built once per process and shared by every invocation: the SDK configuration from
//! aws-config's standard chain (so `AWS_ENDPOINT_URL` and credentials work as everywhere), extra
//! trusted CAs from `AWS_CA_BUNDLE` (as aws-cli reads it), and the response sender.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls;

use crate::error::{Error, Result};
use crate::response::Sender;

/// Lets a ResponseURL point at loopback (tests and replays only).
pub const ALLOW_LOOPBACK_ENV: &str = "EKS_ROLE_MAPPER_ALLOW_LOOPBACK_RESPONSE_URL";

/// Everything an invocation needs to talk to AWS, clusters and CloudFormation.
#[derive(Clone)]
pub struct Clients {
    inner: Arc<Inner>,
}

struct Inner {
    sdk: SdkConfig,
    sender: Sender,
}

/// The SDK's timeouts: every call ends well before a Lambda deadline.
fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build()
}

impl Clients {
    /// From the Lambda environment: the standard chain, `AWS_CA_BUNDLE`, and the loopback switch.
    pub async fn from_env() -> Result<Clients> {
        let extra = match std::env::var_os("AWS_CA_BUNDLE") {
            Some(path) if !path.is_empty() => Some(std::fs::read(&path).map_err(|e| {
                Error::Setup(format!(
                    "reading AWS_CA_BUNDLE {}: {e}",
                    std::path::Path::new(&path).display()
                ))
            })?),
            _ => None,
        };
        let allow = std::env::var(ALLOW_LOOPBACK_ENV).is_ok_and(|v| v == "1" || v == "true");
        Self::new(
            aws_config::defaults(BehaviorVersion::latest()),
            extra,
            allow,
        )
        .await
    }

    /// From an explicit loader (tests and the replay tool point it at the simulator).
    pub async fn new(
        loader: aws_config::ConfigLoader,
        extra_ca_pem: Option<Vec<u8>>,
        allow_loopback: bool,
    ) -> Result<Clients> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut loader = loader
            .timeout_config(timeouts())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5));
        if let Some(pem) = &extra_ca_pem {
            let ctx = tls::TlsContext::builder()
                .with_trust_store(tls::TrustStore::default().with_pem_certificate(pem.clone()))
                .build()
                .map_err(|e| Error::Setup(format!("AWS_CA_BUNDLE: {e}")))?;
            let http = aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .tls_context(ctx)
                .build_https();
            loader = loader.http_client(http);
        }
        let sdk = loader.load().await;
        let sender = Sender::new(extra_ca_pem.as_deref(), allow_loopback)?;
        Ok(Clients {
            inner: Arc::new(Inner { sdk, sender }),
        })
    }

    /// The endpoint every service is reached at, when one is configured (`AWS_ENDPOINT_URL`).
    pub fn endpoint_url(&self) -> Option<String> {
        self.inner.sdk.endpoint_url().map(str::to_string)
    }

    /// The region of the function (used when the properties name none).
    pub fn default_region(&self) -> Option<String> {
        self.inner.sdk.region().map(|r| r.to_string())
    }

    fn sdk_for(&self, region: &str) -> SdkConfig {
        self.inner
            .sdk
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build()
    }

    /// An EKS client for `region`, optionally with other credentials.
    pub fn eks(&self, region: &str) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.sdk_for(region))
    }

    /// An STS client for `region`.
    pub fn sts(&self, region: &str) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk_for(region))
    }

    /// The function's own credentials.
    pub async fn own_credentials(&self) -> Result<Credentials> {
        let provider = self
            .inner
            .sdk
            .credentials_provider()
            .ok_or_else(|| Error::Setup("no AWS credentials provider".into()))?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| Error::Setup(format!("loading the function's credentials: {e}")))
    }

    /// The response sender.
    pub fn sender(&self) -> &Sender {
        &self.inner.sender
    }
}
