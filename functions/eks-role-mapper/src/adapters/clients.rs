//! The clients, built once per process and shared by every invocation: the SDK configuration of
//! Lambda's environment as aws-config reads it, extra trusted CAs from `AWS_CA_BUNDLE` (as aws-cli
//! reads it), the proxy, and the response sender.
//!
//! In Lambda the configuration is all in the environment: `AWS_REGION`, the role's credentials
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and whatever of the SDK's
//! own settings the customer sets: `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`,
//! `AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`, `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`.
//! So the bootstrap loads aws-config's defaults ([`Clients::from_env`]) with the region and the
//! credentials from the environment only (a function has no profile, IMDS, SSO or web identity
//! to ask). The replay tool and the tests give a loader of their own through [`Clients::new`].
//! <https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime>
//! <https://docs.aws.amazon.com/sdkref/latest/guide/settings-reference.html>

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
pub use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::TlsContext;

use crate::adapters::respond::Sender;
use crate::domain::declared::Declared;
use crate::domain::error::{Error, Result};

/// How a caller other than Lambda's environment connects the clients: what they trust, through
/// which proxy, and whether the response may go to loopback (a local receiver's: the product's
/// own [`Clients::from_env`] never allows it, as a real Lambda's runtime API listens there).
pub struct Connection {
    /// CAs (PEM) trusted beside the system's.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// The proxy of every AWS call and of the response.
    pub proxy: ProxyConfig,
    /// Whether a ResponseURL on loopback is taken.
    pub allow_loopback: bool,
}

impl Connection {
    /// Trusting `extra_ca_pem` too, with the proxy of the environment (`HTTPS_PROXY`,
    /// `NO_PROXY`), loopback as `allow_loopback` says.
    pub fn new(extra_ca_pem: Option<Vec<u8>>, allow_loopback: bool) -> Connection {
        Connection {
            extra_ca_pem,
            proxy: ProxyConfig::from_env(),
            allow_loopback,
        }
    }
}

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

/// The environment variables by which aws-config sets the retries. When neither is set, the
/// function makes five attempts (the SDK's default is three), so a throttled call outlasts a
/// burst of stacks; a customer who sets them gets what they set.
const RETRY_SETTINGS: [&str; 2] = ["AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"];

/// Whether the environment sets the retries itself.
fn retries_set_by_environment() -> bool {
    RETRY_SETTINGS
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
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
    /// From the Lambda environment: aws-config's defaults with the region and credentials of
    /// the environment, `AWS_CA_BUNDLE`, and the proxy of `HTTPS_PROXY`/`NO_PROXY`.
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
        let connection = Connection::new(extra, false);
        let tls = crate::adapters::https::trust(connection.extra_ca_pem.as_deref())?;
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::environment::EnvironmentVariableRegionProvider::new())
            .credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            )
            .http_client(crate::adapters::https::sdk_client(&tls, &connection.proxy))
            .load()
            .await;
        let region = sdk.region().map(|r| r.to_string());
        let declared = Declared::from_lookup(|v| std::env::var(v).ok(), region.as_deref())?;
        Ok(Self::with_sdk(sdk, &tls, &connection).with_declared(declared))
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

    /// From an explicit loader (tests and the replay tool point it at the simulator), connected
    /// as `connection` says.
    pub async fn new(loader: aws_config::ConfigLoader, connection: Connection) -> Result<Clients> {
        // The chain's own providers (STS for a role profile, SSO, IMDS) call AWS too: over the
        // same client, as aws-config has none of its own here.
        let tls = crate::adapters::https::trust(connection.extra_ca_pem.as_deref())?;
        let sdk = loader
            .http_client(crate::adapters::https::sdk_client(&tls, &connection.proxy))
            .load()
            .await;
        Ok(Self::with_sdk(sdk, &tls, &connection))
    }

    /// The clients over `sdk` (loaded with this crate's HTTP client), with this crate's timeouts
    /// and retries (unless the environment sets them); the response sender trusts the same roots,
    /// through the same proxy.
    fn with_sdk(sdk: SdkConfig, tls: &TlsContext, connection: &Connection) -> Clients {
        let mut builder = sdk.into_builder().timeout_config(timeouts());
        if !retries_set_by_environment() {
            builder = builder
                .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5));
        }
        let sdk = builder.build();
        let sender = Sender::new(tls, &connection.proxy, connection.allow_loopback);
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
