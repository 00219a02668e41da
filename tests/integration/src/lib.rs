//! Shared helpers for the end-to-end tests: a simulator with the mapper's clients pointed at it,
//! custom-resource events, and the real clients' locations.

use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use eks_role_mapper::Clients;
use eks_sim::{Scenario, Simulator};
use serde_json::{json, Value};

/// The service role of the default scenario (the seed's role name shape).
pub const SERVICE_ROLE: &str =
    "arn:aws:iam::111122223333:role/3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40-RoleForAccessingEksAndEcr";
/// The role mapped as system:masters in the default scenario's CONFIG_MAP cluster.
pub const ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/cluster-admin-role";
/// A stack id like CloudFormation's.
pub const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:111122223333:stack/concurrent/3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40";

/// A running simulator and mapper clients that talk to it over HTTPS.
pub struct Harness {
    pub sim: Simulator,
    pub clients: Clients,
    counter: std::sync::atomic::AtomicU32,
}

/// The mapper's clients for a simulator, acting as the scenario principal `principal`.
pub async fn clients_for(sim: &Simulator, principal: &str) -> Clients {
    let (ak, sk) = sim.credentials(principal).expect("principal in scenario");
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(sim.aws_endpoint_url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            ak, sk, None, None, "scenario",
        ));
    Clients::new(loader, Some(sim.ca_pem().into_bytes()), true)
        .await
        .expect("clients")
}

impl Harness {
    /// The default scenario, acting as the Lambda's own role (mapped nowhere).
    pub async fn start() -> Harness {
        Self::with(Scenario::default_scenario(), "mapper-lambda-role").await
    }

    /// A scenario and a principal of it.
    pub async fn with(scenario: Scenario, principal: &str) -> Harness {
        let sim = Simulator::start(scenario).await.expect("simulator starts");
        let clients = clients_for(&sim, principal).await;
        Harness {
            sim,
            clients,
            counter: Default::default(),
        }
    }

    /// A custom-resource event answered to the simulator's receiver.
    pub fn event(&self, kind: &str, props: Value, physical_id: Option<&str>) -> Value {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let request_id = format!("req-{n}-{}", kind.to_lowercase());
        let mut props = props;
        props["ServiceToken"] =
            json!("arn:aws:lambda:us-east-1:111122223333:function:eks-role-mapper");
        let mut e = json!({
            "RequestType": kind,
            "ServiceToken": props["ServiceToken"],
            "ResponseURL": self.sim.response_url(&request_id),
            "StackId": STACK_ID,
            "RequestId": request_id,
            "ResourceType": "Custom::EksRoleMapping",
            "LogicalResourceId": "Mapping",
            "ResourceProperties": props,
        });
        if let Some(id) = physical_id {
            e["PhysicalResourceId"] = json!(id);
        }
        e
    }

    /// Runs the handler as Lambda would, with `budget` until the deadline; returns the response.
    pub async fn invoke_within(&self, event: Value, budget: Duration) -> Value {
        let before = self.sim.responses().len();
        let request_id = event["RequestId"].as_str().unwrap_or_default().to_string();
        let _ = eks_role_mapper::handle(&self.clients, event, context(budget)).await;
        let responses = self.sim.responses();
        let mine: Vec<_> = responses[before..]
            .iter()
            .filter(|r| r.request_id == request_id)
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "exactly one response per event, got {}",
            mine.len()
        );
        mine[0].body.clone()
    }

    /// [`Harness::invoke_within`] with a 60 s deadline.
    pub async fn invoke(&self, event: Value) -> Value {
        self.invoke_within(event, Duration::from_secs(60)).await
    }

    /// The parsed mapRoles entries of a cluster's aws-auth.
    pub fn map_roles(&self, cluster: &str) -> Vec<Value> {
        let cm = self
            .sim
            .config_map(cluster, "kube-system", "aws-auth")
            .expect("aws-auth exists");
        serde_yaml_ng::from_str(cm["data"]["mapRoles"].as_str().unwrap_or("[]"))
            .expect("mapRoles parses")
    }

    /// The access entries of a cluster from the simulator's state.
    pub fn access_entries(&self, cluster: &str) -> Value {
        self.sim.state_json()["clusters"][cluster]["access_entries"].clone()
    }
}

/// A Lambda context whose deadline is `budget` from now.
pub fn context(budget: Duration) -> lambda_runtime::Context {
    let mut ctx = lambda_runtime::Context::default();
    ctx.request_id = "lambda-request-1".into();
    let deadline = SystemTime::now() + budget;
    ctx.deadline = deadline
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after epoch")
        .as_millis() as u64;
    ctx.invoked_function_arn =
        "arn:aws:lambda:us-east-1:111122223333:function:eks-role-mapper".into();
    ctx
}

/// Properties mapping the service role into `cluster`.
pub fn props(cluster: &str) -> Value {
    json!({ "ClusterName": cluster, "RoleArn": SERVICE_ROLE })
}

/// Entries whose rolearn is `arn` (exact).
pub fn entries_for<'a>(entries: &'a [Value], arn: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["rolearn"] == json!(arn))
        .collect()
}
