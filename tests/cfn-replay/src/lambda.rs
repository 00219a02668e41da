//! What Lambda would give the handler: the mapper's clients (pointed at the simulator, or at real
//! AWS for `--aws`) and an invocation context with a request id and a deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use eks_role_mapper::{Clients, Connection};
use eks_sim::Simulator;

use crate::error::{Error, Result};

/// How long Lambda would let one invocation run (the template's function timeout).
pub const INVOCATION_BUDGET: Duration = Duration::from_secs(120);
/// The principal of a scenario the Lambda runs as: its execution role.
pub const FUNCTION_PRINCIPAL: &str = "mapper-lambda-role";
/// The function's name in the invoked ARN.
pub const FUNCTION_NAME: &str = "eks-role-mapper";

/// The mapper's clients for a simulator, acting as scenario principal `principal`, in the
/// scenario's region, trusting the simulator's CA and allowing its loopback response URL.
pub async fn sim_clients(sim: &Simulator, principal: &str) -> Result<Clients> {
    let (key, secret) = sim.credentials(principal).ok_or_else(|| {
        Error::Usage(format!(
            "the scenario has no principal named {principal} (the Lambda's execution role)"
        ))
    })?;
    let region = sim.state_json()["region"]
        .as_str()
        .unwrap_or("us-east-1")
        .to_string();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(sim.aws_endpoint_url())
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_credential_types::Credentials::new(
            key,
            secret,
            None,
            None,
            "eks-sim-scenario",
        ));
    Clients::new(
        loader,
        Connection::new(Some(sim.ca_pem().into_bytes()), true),
    )
    .await
    .map_err(Error::Clients)
}

/// The mapper's clients for real AWS: the standard chain (with `AWS_CA_BUNDLE` as aws-cli reads
/// it), plus trust in the local receiver's CA so the response can be caught on loopback.
pub async fn aws_clients(receiver_ca_pem: &str) -> Result<Clients> {
    let mut pem = Vec::new();
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        pem = std::fs::read(&path).map_err(|source| Error::CaBundle {
            path: path.into(),
            source,
        })?;
        pem.push(b'\n');
    }
    pem.extend_from_slice(receiver_ca_pem.as_bytes());
    Clients::new(
        aws_config::defaults(BehaviorVersion::latest()),
        Connection::new(Some(pem), true),
    )
    .await
    .map_err(Error::Clients)
}

/// A Lambda-style request id (a UUID shape; unique within the process).
fn lambda_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let x = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (x >> 32) as u32,
        (x >> 16) as u16,
        x & 0xfff,
        n & 0xfff,
        x & 0xffff_ffff_ffff
    )
}

/// The context Lambda passes: a fresh request id, a deadline `budget` from now, the invoked
/// function's ARN in `region`/`account`, and the function's configuration.
pub fn context(region: &str, account: &str, budget: Duration) -> lambda_runtime::Context {
    let mut ctx = lambda_runtime::Context::default();
    ctx.request_id = lambda_request_id();
    ctx.deadline = (SystemTime::now() + budget)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    ctx.invoked_function_arn =
        format!("arn:aws:lambda:{region}:{account}:function:{FUNCTION_NAME}");
    ctx.env_config = std::sync::Arc::new(lambda_runtime::Config {
        function_name: FUNCTION_NAME.into(),
        memory: 256,
        version: "$LATEST".into(),
        log_stream: "replay".into(),
        log_group: format!("/aws/lambda/{FUNCTION_NAME}"),
    });
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_has_a_deadline_in_the_future_and_a_function_arn() {
        let before = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let a = context("eu-west-1", "111122223333", Duration::from_secs(120));
        let b = context("eu-west-1", "111122223333", Duration::from_secs(120));
        assert!(a.deadline >= before + 119_000 && a.deadline <= before + 121_000);
        assert_eq!(
            a.invoked_function_arn,
            "arn:aws:lambda:eu-west-1:111122223333:function:eks-role-mapper"
        );
        assert_eq!(a.request_id.len(), 36);
        assert_ne!(a.request_id, b.request_id);
        assert_eq!(a.env_config.function_name, "eks-role-mapper");
    }
}
