//! The HTTP client every AWS call and the CloudFormation response go out on: the SDK's own
//! default client (aws-smithy-http-client: hyper 1 over rustls), built as aws-smithy-runtime
//! builds its default one (`default_https_client`), so the function behaves as any SDK program
//! would: the connector settings the SDK gives (timeouts), the SDK's classification of connection
//! errors for its retries, and proxies from `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`
//! (`ProxyConfig::from_env`, the SDK's default since behavior version 2025-08-07), so a function in
//! a VPC whose only way out is a proxy works. Unlike the SDK's default it runs on ring: the one
//! crypto provider of the artifact (kube's TLS is on ring too).
//! <https://docs.rs/aws-smithy-http-client/latest/aws_smithy_http_client/>

use std::time::Duration;

use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, Connector, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::{
    HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};

use crate::domain::error::{Error, Result};

/// The trusted roots: the system's (Lambda's image has them, loaded when the client is first
/// used, not at init) and those of `extra_ca_pem` (`AWS_CA_BUNDLE`, as aws-cli reads it).
pub(crate) fn trust(extra_ca_pem: Option<&[u8]>) -> Result<TlsContext> {
    let mut store = TrustStore::default().with_native_roots(true);
    if let Some(pem) = extra_ca_pem {
        store = store.with_pem_certificate(pem.to_vec());
    }
    TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map_err(|e| Error::Setup(format!("AWS_CA_BUNDLE: {e}")))
}

/// One connector: rustls on ring over `tls`, through `proxy`, with these settings.
fn connector_with(
    tls: &TlsContext,
    proxy: &ProxyConfig,
    settings: Option<HttpConnectorSettings>,
    sleep: Option<SharedAsyncSleep>,
) -> Connector {
    let mut builder = ConnectorBuilder::default()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls.clone());
    builder.set_proxy_config(Some(proxy.clone()));
    builder.set_connector_settings(settings);
    builder.set_sleep_impl(sleep);
    builder.build()
}

/// The SDK's HTTP client: one pool for every SDK client of the process, each connector with the
/// settings the SDK gives it. `proxy`: the product's is `ProxyConfig::from_env()`, the SDK's
/// default; a test gives the simulator's.
pub(crate) fn sdk_client(tls: &TlsContext, proxy: &ProxyConfig) -> SharedHttpClient {
    let (tls, proxy) = (tls.clone(), proxy.clone());
    Builder::new().build_with_connector_fn(move |settings, components| {
        connector_with(
            &tls,
            &proxy,
            settings.cloned(),
            components.and_then(|c| c.sleep_impl()),
        )
    })
}

/// A connector outside the SDK (the response PUT): the same TLS and proxy, these timeouts.
pub(crate) fn connector(
    tls: &TlsContext,
    proxy: &ProxyConfig,
    connect: Duration,
    read: Duration,
) -> SharedHttpConnector {
    let settings = HttpConnectorSettings::builder()
        .connect_timeout(connect)
        .read_timeout(read)
        .build();
    SharedHttpConnector::new(connector_with(tls, proxy, Some(settings), None))
}
