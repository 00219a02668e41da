//! The clients, built once per process and shared by every invocation: the SDK configuration of
//! Lambda's environment, extra trusted CAs from `AWS_CA_BUNDLE` (as aws-cli reads it), and the
//! response sender.
//!
//! In Lambda the configuration is all in the environment: `AWS_REGION`, the role's credentials
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and `AWS_ENDPOINT_URL`
//! where one is set. So the bootstrap reads exactly those ([`Clients::from_env`]) instead of
//! aws-config's standard chain, whose profile files, IMDS, ECS, SSO and web-identity providers a
//! function never uses (and which were a sixth of the artifact's AWS code). The replay tool and
//! the tests keep the chain through [`Clients::new`].
//! <https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime>

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::TlsContext;

use crate::adapters::respond::Sender;
use crate::domain::declared::Declared;
use crate::domain::error::{Error, Result};

/// Lets a ResponseURL point at loopback (tests and replays only). Read only by a build with the
/// `local` feature: the artifact has neither the switch nor this name.
#[cfg(feature = "local")]
pub const ALLOW_LOOPBACK_ENV: &str = "EKS_ROLE_MAPPER_ALLOW_LOOPBACK_RESPONSE_URL";

/// Everything an invocation needs to talk to AWS, clusters and CloudFormation.
#[derive(Clone)]
pub struct Clients {
    inner: Arc<Inner>,
    /// What the deploying stack declared (see `declared`): from the environment in the product;
    /// the replay tool and tests give the one of the stack they play.
    declared: Option<Arc<Declared>>,
}

struct Inner {
    sdk: SdkConfig,
    sender: Sender,
}

/// Lambda's environment as an SDK configuration: the region, the role's credentials from the
/// environment, and `AWS_ENDPOINT_URL` when it is set.
fn lambda_environment() -> SdkConfig {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(
            var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .map(aws_config::Region::new),
        )
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(url) = var("AWS_ENDPOINT_URL") {
        sdk = sdk.endpoint_url(url);
    }
    // The SDK's own switches, as aws-config reads them: FIPS (GovCloud and FedRAMP customers set
    // it) and dual-stack endpoints.
    let on = |name: &str| var(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    sdk = sdk
        .use_fips(on("AWS_USE_FIPS_ENDPOINT"))
        .use_dual_stack(on("AWS_USE_DUALSTACK_ENDPOINT"));
    sdk.build()
}

/// The SDK's timeouts: every call ends well before a Lambda deadline.
fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build()
}

/// How long the SDK's calls may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl Clients {
    /// From the Lambda environment: the standard chain, `AWS_CA_BUNDLE`, and (in a `local` build)
    /// the loopback switch.
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
        #[cfg(feature = "local")]
        let allow = std::env::var(ALLOW_LOOPBACK_ENV).is_ok_and(|v| v == "1" || v == "true");
        #[cfg(not(feature = "local"))]
        let allow = false;
        let tls = crate::adapters::https::trust(extra.as_deref())?;
        let sdk = lambda_environment();
        let region = sdk.region().map(|r| r.to_string());
        let declared = Declared::from_lookup(|v| std::env::var(v).ok(), region.as_deref())?;
        Ok(Self::with_sdk(sdk, &tls, allow).with_declared(declared))
    }

    /// These clients acting for the stack that declared `declared` (None: for none).
    pub fn with_declared(&self, declared: impl Into<Option<Declared>>) -> Clients {
        Clients {
            inner: self.inner.clone(),
            declared: declared.into().map(Arc::new),
        }
    }

    /// What the deploying stack declared.
    pub fn declared(&self) -> Option<&Declared> {
        self.declared.as_deref()
    }

    /// From an explicit loader (tests and the replay tool point it at the simulator).
    /// `allow_loopback` is taken only by a `local` build; the product refuses loopback whatever
    /// it is told.
    pub async fn new(
        loader: aws_config::ConfigLoader,
        extra_ca_pem: Option<Vec<u8>>,
        allow_loopback: bool,
    ) -> Result<Clients> {
        // The chain's own providers (STS for a role profile, SSO, IMDS) call AWS too: over the
        // same client, as aws-config has none of its own here.
        let tls = crate::adapters::https::trust(extra_ca_pem.as_deref())?;
        let sdk = loader
            .http_client(crate::adapters::https::sdk_client(&tls))
            .load()
            .await;
        Ok(Self::with_sdk(sdk, &tls, allow_loopback))
    }

    /// The clients over `sdk`, with this crate's timeouts, retries and HTTP client; the response
    /// sender trusts the same roots.
    fn with_sdk(sdk: SdkConfig, tls: &TlsContext, allow_loopback: bool) -> Clients {
        let sdk = sdk
            .into_builder()
            .timeout_config(timeouts())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
            .http_client(crate::adapters::https::sdk_client(tls))
            .build();
        let sender = Sender::new(tls, allow_loopback);
        Clients {
            inner: Arc::new(Inner { sdk, sender }),
            declared: None,
        }
    }

    /// The endpoint every service is reached at, when one is configured (`AWS_ENDPOINT_URL`).
    pub fn endpoint_url(&self) -> Option<String> {
        self.inner.sdk.endpoint_url().map(str::to_string)
    }

    /// Whether FIPS endpoints are asked for (`AWS_USE_FIPS_ENDPOINT`): the token's STS host too.
    pub fn use_fips(&self) -> bool {
        self.inner.sdk.use_fips().unwrap_or(false)
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

    /// A CloudFormation client for `region` (the stack's).
    pub fn cloudformation(&self, region: &str) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.sdk_for(region))
    }

    /// A Lambda client for `region` (the function's).
    pub fn lambda(&self, region: &str) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.sdk_for(region))
    }

    /// An SNS client for `region` (the topic's).
    pub fn sns(&self, region: &str) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk_for(region))
    }

    /// A Secrets Manager client for `region` (the secret's).
    pub fn secrets(&self, region: &str) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk_for(region))
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
