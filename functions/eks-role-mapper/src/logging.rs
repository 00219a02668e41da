//! The log filter. Below `info`, the SDK, the SigV4 signer, the HTTP stack and the Kubernetes
//! client print canonical requests, presigned URLs and response bodies (session tokens, secret
//! keys, bearer tokens): those crates are capped at `info` whatever `RUST_LOG` asks for.

use tracing_subscriber::EnvFilter;

/// Crates whose debug and trace output can carry secrets.
pub const CAPPED: &[&str] = &[
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "aws_config",
    "aws_sdk_sts",
    "aws_sdk_eks",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "kube_client",
    "tower",
    "lambda_runtime",
    "lambda_runtime_api_client",
];

/// `RUST_LOG` (or `default`), with every crate of [`CAPPED`] held at `info` or less.
pub fn filter(default: &str) -> EnvFilter {
    let mut f = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    for krate in CAPPED {
        f = f.add_directive(format!("{krate}=info").parse().expect("a valid directive"));
    }
    f
}
