//! `--then configure K=V ...`: the function's environment changed as
//! `lambda:UpdateFunctionConfiguration` changes it, outside CloudFormation (code signing does
//! not cover a function's configuration). The next invocations, CloudFormation's and anyone's,
//! run with it: its declaration variables, and what the Lambda reads at start through aws-config
//! and `Clients::from_env` (`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_CA_BUNDLE`). A stack update puts
//! the template's configuration back (the replay renders the function's environment again on
//! every update).

use std::collections::BTreeMap;

use aws_config::BehaviorVersion;
use serde_json::{json, Value};

use super::Lifecycle;
use crate::error::{Error, Result};
use crate::lambda;

/// The prefix of the SDK's service-specific endpoint variables (`AWS_ENDPOINT_URL_EKS`).
const ENDPOINT_PREFIX: &str = "AWS_ENDPOINT_URL_";
/// The variables the Lambda's clients are built from when it starts.
fn read_at_start(key: &str) -> bool {
    key.starts_with(ENDPOINT_PREFIX) || key == "AWS_CA_BUNDLE"
}

/// Applies `changes` (`K=` removes `K`) to the function's environment; the step's line has the
/// variables changed (`Environment`: the new values, null for removed ones).
pub(super) async fn configure(
    life: &mut Lifecycle<'_>,
    n: usize,
    action: String,
    changes: &[(String, String)],
    stack_status: &str,
) -> Result<Value> {
    let mut changed = serde_json::Map::new();
    for (k, v) in changes {
        if v.is_empty() {
            life.environment.remove(k);
            changed.insert(k.clone(), Value::Null);
        } else {
            life.environment.insert(k.clone(), v.clone());
            changed.insert(k.clone(), json!(v));
        }
    }
    if changes.iter().any(|(k, _)| read_at_start(k)) {
        // A new configuration is a new execution environment: the clients are made again.
        life.clients = clients(life.sim, &life.environment).await?;
    }
    Ok(json!({
        "Step": n,
        "Action": action,
        "StackStatus": stack_status,
        "Environment": changed,
    }))
}

/// The function's clients as the Lambda would make them with `env`: the simulator's endpoint
/// and the function's credentials, with each `AWS_ENDPOINT_URL_<SERVICE>` as aws-config reads it
/// (a service's own endpoint, before the global one; here through a shared-config `services`
/// section, aws-config's other source of the same setting) and `AWS_CA_BUNDLE`'s certificates
/// trusted beside the simulator's CA.
async fn clients(
    sim: &eks_sim::Simulator,
    env: &BTreeMap<String, String>,
) -> Result<eks_role_mapper::Clients> {
    let endpoints: Vec<(String, &String)> = env
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(ENDPOINT_PREFIX)?.to_lowercase(), v)))
        .collect();
    let base = lambda::sim_clients(sim, lambda::FUNCTION_PRINCIPAL).await?;
    let mut pem = sim.ca_pem().into_bytes();
    if let Some(path) = env.get("AWS_CA_BUNDLE") {
        let extra = std::fs::read(path).map_err(|source| Error::CaBundle {
            path: path.into(),
            source,
        })?;
        pem.push(b'\n');
        pem.extend(extra);
    }
    let (key, secret) = sim
        .credentials(lambda::FUNCTION_PRINCIPAL)
        .ok_or_else(|| Error::Usage("the scenario has no function principal".into()))?;
    let mut config =
        String::from("[profile cfn-replay]\nservices = configured\n[services configured]\n");
    for (service, url) in &endpoints {
        config.push_str(&format!("{service} =\n  endpoint_url = {url}\n"));
    }
    #[allow(deprecated)]
    let files = aws_config::profile::profile_file::ProfileFiles::builder()
        .with_contents(
            #[allow(deprecated)]
            aws_config::profile::profile_file::ProfileFileKind::Config,
            config,
        )
        .build();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(sim.aws_endpoint_url())
        .region(aws_config::Region::new(
            base.default_region().unwrap_or_else(|| "us-east-1".into()),
        ))
        .profile_files(files)
        .profile_name("cfn-replay")
        .credentials_provider(aws_credential_types::Credentials::new(
            key,
            secret,
            None,
            None,
            "eks-sim-scenario",
        ));
    eks_role_mapper::Clients::new(loader, eks_role_mapper::Connection::new(Some(pem), true))
        .await
        .map_err(Error::Clients)
}
