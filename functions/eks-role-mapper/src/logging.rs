//! The log filter. Below `info`, the SDK, the SigV4 signer, the HTTP stack and the Lambda runtime
//! print canonical requests, presigned URLs and response bodies (session tokens, secret keys,
//! bearer tokens): those crates are capped at `info` whatever `RUST_LOG` asks for.
//!
//! A [`Targets`] list (`info`, `eks_role_mapper=debug,warn`), not an `EnvFilter`: the same
//! directives by crate and level, without span filters, and without a regex engine in the
//! artifact. It is a layer: the subscriber under it must let everything through
//! (`with_max_level(LevelFilter::TRACE)`; a `fmt()` subscriber stops at INFO by default).

use tracing_subscriber::filter::{LevelFilter, Targets};

/// Crates whose debug and trace output can carry secrets.
pub const CAPPED: &[&str] = &[
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_types",
    "aws_config",
    "aws_sdk_sts",
    "aws_sdk_eks",
    "hyper",
    "hyper_util",
    "hyper_rustls",
    "rustls",
    "lambda_runtime",
    "lambda_runtime_api_client",
];

/// `RUST_LOG` (or `default` when it is unset or not a list of `target=level` directives), with
/// every crate of [`CAPPED`] held at `info` or less.
pub fn filter(default: &str) -> Targets {
    let wanted = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .or_else(|| default.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let default_level = wanted.default_level().unwrap_or(LevelFilter::OFF);
    let asked = |krate: &str| {
        wanted
            .iter()
            .find(|(target, _)| *target == krate)
            .map_or(default_level, |(_, level)| level)
    };
    // Made anew: the caps replace what was asked for those crates, never add to it.
    let mut capped = Targets::new().with_default(default_level).with_targets(
        wanted
            .iter()
            .filter(|(target, _)| !CAPPED.contains(target))
            .map(|(target, level)| (target.to_string(), level)),
    );
    for krate in CAPPED {
        capped = capped.with_target(*krate, asked(krate).min(LevelFilter::INFO));
    }
    capped
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn capped_crates_never_go_below_info_and_others_follow_the_directives() {
        let f = filter("trace");
        assert!(f.would_enable("eks_role_mapper::live", &Level::TRACE));
        assert!(f.would_enable("hyper_util::client", &Level::INFO));
        assert!(!f.would_enable("hyper_util::client", &Level::DEBUG));
        assert!(!f.would_enable("aws_sigv4::sign", &Level::DEBUG));
        let quiet = filter("warn");
        assert!(!quiet.would_enable("aws_sigv4", &Level::INFO));
        assert!(quiet.would_enable("aws_sigv4", &Level::WARN));
    }
}
