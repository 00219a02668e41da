//! The log filter. Below `info`, the SDK, the SigV4 signer, the HTTP stack, the Kubernetes client
//! and the Lambda runtime print canonical requests, presigned URLs and request and response
//! bodies (session tokens, secret keys, bearer tokens, secret values): those crates are capped at
//! `info` whatever `RUST_LOG` asks for, a directive for one of their modules included.
//!
//! A [`Targets`] list (`info`, `eks_role_mapper=debug,warn`), not an `EnvFilter`: the same
//! directives by crate and level, without span filters, and without a regex engine in the
//! artifact. It is a layer: the subscriber under it must let everything through
//! (`with_max_level(LevelFilter::TRACE)`; a `fmt()` subscriber stops at INFO by default).

use tracing_subscriber::filter::{LevelFilter, Targets};

/// Crates whose debug and trace output can carry secrets: every crate of the function's
/// dependencies of the SDK (each service client, smithy's runtime and HTTP client, the signer,
/// the credential chain), of the Kubernetes client, of the HTTP and TLS stack and of the Lambda
/// runtime. A test walks the dependency graph (Cargo.lock) and fails on one of those families
/// that is missing here. A target matches a crate when it starts with its name (`Targets`).
pub const CAPPED: &[&str] = &[
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_types",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_config",
    "aws_runtime",
    "aws_credential_types",
    "aws_sdk_sts",
    "aws_sdk_eks",
    "aws_sdk_sns",
    "aws_sdk_secretsmanager",
    "aws_sdk_lambda",
    "aws_sdk_cloudformation",
    "aws_sdk_sso",
    "aws_sdk_ssooidc",
    "kube_client",
    "kube_core",
    "hyper",
    "hyper_util",
    "hyper_rustls",
    "h2",
    "tower_http",
    "rustls",
    "lambda_runtime",
    "lambda_runtime_api_client",
];

/// Whether `target` (a crate or one of its modules) is within a capped crate.
fn within_capped(target: &str) -> bool {
    CAPPED.iter().any(|c| {
        target == *c
            || target
                .strip_prefix(c)
                .is_some_and(|rest| rest.starts_with("::"))
    })
}

/// `RUST_LOG` (or `default` when it is unset or not a list of `target=level` directives), with
/// every crate of [`CAPPED`] held at `info` or less.
pub fn filter(default: &str) -> Targets {
    filter_of(std::env::var("RUST_LOG").ok().as_deref(), default)
}

/// [`filter`] of a given `RUST_LOG` value.
pub fn filter_of(rust_log: Option<&str>, default: &str) -> Targets {
    let wanted = rust_log
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
    // Made anew: the caps replace what was asked for those crates, never add to it; a directive
    // for a module of a capped crate (`aws_smithy_runtime::client=trace`, more specific than
    // the crate's cap) is held at `info` too.
    let mut capped = Targets::new().with_default(default_level).with_targets(
        wanted
            .iter()
            .filter(|(target, _)| !CAPPED.contains(target))
            .map(|(target, level)| {
                let level = match within_capped(target) {
                    true => level.min(LevelFilter::INFO),
                    false => level,
                };
                (target.to_string(), level)
            }),
    );
    for krate in CAPPED {
        capped = capped.with_target(*krate, asked(krate).min(LevelFilter::INFO));
    }
    capped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use tracing::Level;

    #[test]
    fn capped_crates_never_go_below_info_and_others_follow_the_directives() {
        let f = filter_of(None, "trace");
        assert!(f.would_enable("eks_role_mapper::live", &Level::TRACE));
        assert!(f.would_enable("hyper_util::client", &Level::INFO));
        assert!(!f.would_enable("hyper_util::client", &Level::DEBUG));
        assert!(!f.would_enable("aws_sigv4::sign", &Level::DEBUG));
        let quiet = filter_of(None, "warn");
        assert!(!quiet.would_enable("aws_sigv4", &Level::INFO));
        assert!(quiet.would_enable("aws_sigv4", &Level::WARN));
    }

    #[test]
    fn a_directive_for_a_module_of_a_capped_crate_is_capped_too() {
        let f = filter_of(
            Some("info,aws_smithy_runtime::client::orchestrator=trace,kube_client::client=debug,eks_role_mapper::app=trace"),
            "info",
        );
        assert!(!f.would_enable("aws_smithy_runtime::client::orchestrator", &Level::DEBUG));
        assert!(!f.would_enable("kube_client::client::builder", &Level::DEBUG));
        assert!(f.would_enable("eks_role_mapper::app::lifecycle", &Level::TRACE));
        // A crate whose name only begins like a capped one is not capped.
        let f = filter_of(Some("kubelet_probe=trace"), "info");
        assert!(f.would_enable("kubelet_probe", &Level::TRACE));
    }

    /// The crate families whose debug output carries requests, bodies or credentials.
    const FAMILIES: &[&str] = &[
        "aws_sdk_",
        "aws_smithy_runtime",
        "aws_smithy_http",
        "aws_sigv4",
        "aws_config",
        "aws_runtime",
        "aws_credential_types",
        "kube_client",
        "hyper",
        "h2",
        "tower_http",
        "rustls",
        "lambda_runtime",
    ];

    /// The crates this one depends on, directly or not, as Cargo.lock lists them (names with `_`).
    fn dependency_closure() -> BTreeSet<String> {
        let lock = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock"),
        )
        .expect("the workspace's Cargo.lock");
        let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for block in lock.split("[[package]]").skip(1) {
            let mut lines = block.lines();
            let Some(name) = lines.find_map(|l| l.strip_prefix("name = ")) else {
                continue;
            };
            let entry = deps.entry(name.trim_matches('"').to_string()).or_default();
            for l in block.lines() {
                if let Some(d) = l.strip_prefix(" \"") {
                    entry.insert(d.split([' ', '"']).next().unwrap_or_default().to_string());
                }
            }
        }
        let (mut seen, mut todo) = (BTreeSet::new(), vec![env!("CARGO_PKG_NAME").to_string()]);
        while let Some(n) = todo.pop() {
            if seen.insert(n.clone()) {
                todo.extend(deps.get(&n).into_iter().flatten().cloned());
            }
        }
        seen.into_iter().map(|n| n.replace('-', "_")).collect()
    }

    #[test]
    fn every_dependency_of_the_sdk_kube_http_and_runtime_families_is_capped() {
        let closure = dependency_closure();
        assert!(closure.contains("aws_sdk_eks"), "{closure:?}");
        let f = filter_of(Some("trace"), "trace");
        let uncapped: Vec<&String> = closure
            .iter()
            .filter(|c| FAMILIES.iter().any(|f| c.starts_with(f)))
            .filter(|c| f.would_enable(&format!("{c}::any"), &Level::DEBUG))
            .collect();
        assert!(
            uncapped.is_empty(),
            "not capped in the log filter: {uncapped:?}"
        );
    }
}
