//! A local simulator of the parts of AWS and Kubernetes the EKS role mapper talks to: EKS
//! (restJson1), STS (query), each cluster's Kubernetes API with EKS token authentication, and the
//! CloudFormation response URL. Everything is HTTPS on loopback with a CA made at start, handed
//! out in DescribeCluster as EKS does. Real clients (kubectl, aws-cli, moto) are the judges of its
//! fidelity; see the tests under `tests/integration`.

pub mod authenticator_yaml;
pub mod aws_api;
pub mod cfn_api;
pub mod control_plane;
pub mod error;
pub mod http;
pub mod iam;
pub mod iam_enforce;
pub mod k8s_api;
pub mod k8s_discovery;
pub mod lambda_api;
pub mod out_dir;
pub mod proxy;
pub mod rbac_api;
pub mod receiver;
pub mod runtime_api;
pub mod scenario;
pub mod secrets_api;
pub mod server;
pub mod sigv4;
pub mod sns_api;
pub mod state;
pub mod tls;
pub mod token;

use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use error::{Error, Result};
pub use scenario::Scenario;
pub use state::{Fault, RecordedResponse, RequestRecord};

use server::{Shared, Target};

/// How a simulator is started beyond its scenario.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Serve each `CONFIG_MAP` cluster's Kubernetes API from a real control plane (etcd,
    /// kube-apiserver with RBAC, the EKS authenticator as its token webhook; see
    /// [`control_plane`]) instead of the simulator's own stand-in. The other clusters keep the
    /// stand-in: EKS's access entries exist only in EKS's own authenticator.
    pub real_control_plane: bool,
}

/// A running simulator. Dropping it stops every listener and control plane.
pub struct Simulator {
    shared: Arc<Shared>,
    aws_port: u16,
    proxy_port: u16,
    ca_pem: String,
    tasks: Vec<JoinHandle<()>>,
    control_planes: Vec<(String, control_plane::ControlPlane)>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.shared.tasks.lock().expect("tasks lock").iter() {
            t.abort();
        }
    }
}

impl Simulator {
    /// Starts every endpoint of `scenario` on loopback ports chosen by the OS.
    pub async fn start(scenario: Scenario) -> Result<Simulator> {
        Self::start_with(scenario, Options::default()).await
    }

    /// [`Simulator::start`] with [`Options`].
    pub async fn start_with(scenario: Scenario, options: Options) -> Result<Simulator> {
        let ca = Arc::new(tls::Authority::new("eks-sim CA")?);
        let proxy = TcpListener::bind("127.0.0.1:0").await?;
        let proxy_port = proxy.local_addr()?.port();
        let mut control_planes = Vec::new();
        if options.real_control_plane {
            for c in scenario
                .clusters
                .iter()
                .filter(|c| c.authentication_mode == "CONFIG_MAP")
            {
                let spec = control_plane::ClusterSpec {
                    name: &c.name,
                    region: c.region.as_deref().unwrap_or(&scenario.region),
                    creator: &c.creator,
                    aws_auth: c.aws_auth.as_ref().map(|d| serde_json::json!(d)),
                    namespaces: &c.namespaces,
                };
                let cp = control_plane::ControlPlane::start(
                    &spec,
                    &ca,
                    &format!("http://127.0.0.1:{proxy_port}"),
                )
                .await?;
                control_planes.push((c.name.clone(), cp));
            }
        }
        // A second CA only for scenarios with a cluster that presents one: every key pair is
        // start-up time (the replay's local receiver starts a simulator per process).
        let foreign = match scenario.clusters.iter().any(|c| c.foreign_ca) {
            true => Some(tls::Authority::new("some other CA")?),
            false => None,
        };
        let aws = TcpListener::bind("127.0.0.1:0").await?;
        let aws_port = aws.local_addr()?.port();
        let mut listeners = Vec::new();
        for c in scenario
            .clusters
            .iter()
            .filter(|c| !control_planes.iter().any(|(n, _)| *n == c.name))
        {
            let l = TcpListener::bind("127.0.0.1:0").await?;
            let port = l.local_addr()?.port();
            listeners.push((c.name.clone(), port, c.foreign_ca, l));
        }
        let ports: Vec<(String, u16)> = listeners
            .iter()
            .map(|(n, p, _, _)| (n.clone(), *p))
            .collect();
        let mut world = state::World::new(scenario, &|name| {
            if let Some((_, cp)) = control_planes.iter().find(|(n, _)| n == name) {
                return cp.kube_endpoint.clone();
            }
            let port = ports
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| *p)
                .unwrap_or(0);
            format!("https://127.0.0.1:{port}")
        });
        for (name, cp) in &control_planes {
            if let Some(c) = world.clusters.get_mut(name) {
                // The real apiserver holds this cluster's objects from now on.
                c.config_maps.clear();
                c.kube_apiserver = Some(cp.version.clone());
            }
        }
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            ca_b64: base64::engine::general_purpose::STANDARD.encode(&ca.ca_pem),
            iam: Default::default(),
            tls: ca.server_config(),
            tasks: Mutex::new(Vec::new()),
        });
        let mut tasks = vec![
            tokio::spawn(server::serve(
                aws,
                ca.server_config(),
                shared.clone(),
                Target::Aws,
            )),
            tokio::spawn(proxy::serve_proxy(proxy, ca.clone(), shared.clone())),
        ];
        for (name, _, foreign_ca, l) in listeners {
            let tls = match (&foreign, foreign_ca) {
                (Some(f), true) => f.server_config(),
                _ => ca.server_config(),
            };
            tasks.push(tokio::spawn(server::serve(
                l,
                tls,
                shared.clone(),
                Target::Cluster(name),
            )));
        }
        Ok(Simulator {
            shared,
            aws_port,
            proxy_port,
            ca_pem: ca.ca_pem.clone(),
            tasks,
            control_planes,
        })
    }

    fn world(&self) -> std::sync::MutexGuard<'_, state::World> {
        self.shared.world.lock().expect("world lock")
    }

    /// The one HTTPS endpoint of EKS and STS (what `AWS_ENDPOINT_URL` points at).
    pub fn aws_endpoint_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.aws_port)
    }

    /// The HTTP CONNECT proxy that answers for the real STS and EKS host names (`HTTPS_PROXY` of
    /// a real component that cannot be pointed at an endpoint; see [`proxy::serve_proxy`]).
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy_port)
    }

    /// The real control plane serving a cluster's Kubernetes API, when it has one.
    pub fn control_plane(&self, cluster: &str) -> Option<&control_plane::ControlPlane> {
        self.control_planes
            .iter()
            .find(|(n, _)| n == cluster)
            .map(|(_, cp)| cp)
    }

    /// (cluster, kube-apiserver version) of every cluster a real control plane serves.
    pub fn real_clusters(&self) -> Vec<(String, String)> {
        self.control_planes
            .iter()
            .map(|(n, cp)| (n.clone(), cp.version.clone()))
            .collect()
    }

    /// New session credentials of a scenario role, as AssumeRole would give them, without its
    /// trust check: for a test or a real client that acts as the role.
    pub fn role_session(&self, role_arn: &str, session: &str) -> state::Session {
        self.world().mint_session(role_arn, session, 12 * 3600)
    }

    /// PEM of the CA every endpoint's certificate chains to.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// The Kubernetes API URL of a cluster (also one made at run time, even before DescribeCluster
    /// shows it).
    pub fn cluster_endpoint(&self, cluster: &str) -> Option<String> {
        let mut w = self.world();
        w.settle();
        w.clusters.get(cluster).map(|c| c.endpoint.clone())
    }

    /// A ResponseURL the receiver accepts, shaped like a presigned S3 URL.
    pub fn response_url(&self, request_id: &str) -> String {
        format!(
            "https://127.0.0.1:{}{}{}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=7200&X-Amz-SignedHeaders=host&X-Amz-Signature=0f0e0d0c0b0a",
            self.aws_port,
            receiver::PREFIX,
            sigv4::uri_encode(request_id, false)
        )
    }

    /// [`Simulator::response_url`], registering the request's type (`Create`, `Update`,
    /// `Delete`) as CloudFormation knows it: the receiver then turns the response into the stack
    /// resource's state (see [`state::World::learn_from_response`]), which DescribeStackResource
    /// reports. A response to an unregistered request changes no stack.
    pub fn response_url_for(&self, request_id: &str, request_type: &str) -> String {
        self.world().request_types.insert(
            sigv4::uri_encode(request_id, false),
            request_type.to_string(),
        );
        self.response_url(request_id)
    }

    /// Sets a stack resource as CloudFormation would hold it (the stack made if new, not
    /// deleted), LastUpdatedTimestamp now; a `stack_id` that is not a stack ARN is refused.
    pub fn put_stack_resource(
        &self,
        stack_id: &str,
        logical: &str,
        physical: &str,
        status: &str,
    ) -> Result<()> {
        let mut w = self.world();
        let at = w.sim_epoch_ms();
        let resource_type = w
            .stacks
            .get(stack_id)
            .and_then(|s| s.resources.get(logical))
            .map(|r| r.resource_type.clone())
            .unwrap_or_else(|| scenario::DEFAULT_RESOURCE_TYPE.to_string());
        if !w.put_stack_resource(
            stack_id,
            logical,
            Some(physical),
            status,
            &resource_type,
            at,
        ) {
            return Err(Error::ScenarioInvalid(format!(
                "{stack_id} is not arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID"
            )));
        }
        Ok(())
    }

    /// Holds the resource a custom-resource event is about as CloudFormation does while it sends
    /// that event: CREATE_IN_PROGRESS, or UPDATE_IN_PROGRESS / DELETE_IN_PROGRESS under the
    /// event's physical id (the answer then settles it, see `World::answered`). An event without
    /// a stack ARN or a request type is left alone.
    pub fn cloudformation_sends(&self, event: &serde_json::Value) {
        let text = |f: &str| event.get(f).and_then(serde_json::Value::as_str);
        let status = match text("RequestType") {
            Some("Create") => "CREATE_IN_PROGRESS",
            Some("Update") => "UPDATE_IN_PROGRESS",
            Some("Delete") => "DELETE_IN_PROGRESS",
            _ => return,
        };
        let (Some(stack), Some(logical)) = (text("StackId"), text("LogicalResourceId")) else {
            return;
        };
        let mut w = self.world();
        let at = w.sim_epoch_ms();
        let resource_type = text("ResourceType").unwrap_or(scenario::DEFAULT_RESOURCE_TYPE);
        let physical = text("PhysicalResourceId");
        let current = w
            .stacks
            .get(stack)
            .and_then(|s| s.resources.get(logical))
            .filter(|r| !r.status.starts_with("DELETE_") && !r.status.ends_with("_FAILED"))
            .and_then(|r| r.physical_resource_id.clone());
        // The Delete of an old id after a replacement (the cleanup): the resource, which holds
        // the new id, stays as it is.
        if status == "DELETE_IN_PROGRESS" && current.is_some() && current.as_deref() != physical {
            return;
        }
        w.put_stack_resource(stack, logical, physical, status, resource_type, at);
    }

    /// Changes a stack resource's status (e.g. UPDATE_IN_PROGRESS while a stack operation runs),
    /// LastUpdatedTimestamp now; false when there is no such resource.
    pub fn set_stack_resource_status(&self, stack_id: &str, logical: &str, status: &str) -> bool {
        let mut w = self.world();
        let at = w.sim_epoch_ms();
        let Some(r) = w
            .stacks
            .get_mut(stack_id)
            .and_then(|s| s.resources.get_mut(logical))
        else {
            return false;
        };
        r.status = status.to_string();
        r.last_updated_ms = at;
        true
    }

    /// Deletes a stack as CloudFormation does: every resource DELETE_COMPLETE, the stack found
    /// by its ID only from now on. False when there is no such stack.
    pub fn delete_stack(&self, stack_id: &str) -> bool {
        let mut w = self.world();
        let at = w.sim_epoch_ms();
        let Some(s) = w.stacks.get_mut(stack_id) else {
            return false;
        };
        s.deleted = true;
        for r in s.resources.values_mut() {
            r.status = "DELETE_COMPLETE".into();
            r.last_updated_ms = at;
        }
        true
    }

    /// A stack resource as CloudFormation holds it now.
    pub fn stack_resource(&self, stack_id: &str, logical: &str) -> Option<state::StackResource> {
        self.world()
            .stacks
            .get(stack_id)?
            .resources
            .get(logical)
            .cloned()
    }

    /// Starts making a cluster as CreateCluster does (CREATING for the scenario's
    /// `cluster_create_seconds`, then `spec.status`; aws-auth from `spec.aws_auth` only then; the
    /// creator's entry in the API modes), with its own Kubernetes API listener. Returns its
    /// endpoint. Refused when the name is taken or the spec is one EKS refuses.
    pub fn create_cluster(&self, spec: scenario::Cluster) -> Result<String> {
        if spec.authentication_mode == "CONFIG_MAP"
            && !spec.bootstrap_cluster_creator_admin_permissions
        {
            return Err(Error::ScenarioInvalid(aws_api::BOOTSTRAP_CONFIG_MAP.into()));
        }
        if state::mode_rank(&spec.authentication_mode) == 255 {
            return Err(Error::ScenarioInvalid(format!(
                "unsupported authentication mode {}",
                spec.authentication_mode
            )));
        }
        let (listener, url) = server::bind_cluster()?;
        {
            let mut w = self.world();
            w.settle();
            if w.clusters.contains_key(&spec.name) {
                return Err(Error::ScenarioInvalid(format!(
                    "Cluster already exists with name: {}",
                    spec.name
                )));
            }
            let c = w.begin_cluster(&spec, &url);
            w.clusters.insert(spec.name.clone(), c);
        }
        server::spawn_cluster(&self.shared, listener, spec.name)?;
        Ok(url)
    }

    /// Starts deleting a cluster as DeleteCluster does: DELETING for the scenario's
    /// `cluster_delete_seconds`, then gone. False when there is no such cluster.
    pub fn delete_cluster(&self, name: &str) -> bool {
        let mut w = self.world();
        w.settle();
        let until = w.sim_ms() + (w.scenario.cluster_delete_seconds * 1000.0) as i64;
        let Some(c) = w.clusters.get_mut(name) else {
            return false;
        };
        c.status = "DELETING".into();
        c.deleting_until_ms = Some(until);
        true
    }

    /// Takes the asynchronous Lambda invocations queued since the last call (function, event).
    pub fn take_invocations(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut self.world().invocations)
            .into_iter()
            .map(|i| (i.function, i.event))
            .collect()
    }

    /// Makes an SNS topic that `publishers` (accounts besides its own) may publish to.
    pub fn create_topic(&self, arn: &str, publishers: &[&str]) {
        let topic = sns_api::Topic {
            arn: arn.to_string(),
            publishers: publishers.iter().map(|p| p.to_string()).collect(),
        };
        self.world().topics.insert(arn.to_string(), topic);
    }

    /// Stores a Secrets Manager secret (as a stack's `AWS::SecretsManager::Secret` would).
    pub fn put_secret(&self, arn: &str, secret_string: &str) {
        self.world()
            .secrets
            .insert(arn.to_string(), secret_string.to_string());
    }

    /// Every message published to SNS, in order.
    pub fn sns_messages(&self) -> Vec<sns_api::Published> {
        self.world().sns_messages.clone()
    }

    /// Every response the receiver accepted, in order.
    pub fn responses(&self) -> Vec<RecordedResponse> {
        self.world().responses.clone()
    }

    /// How many response PUTs the receiver refused.
    pub fn rejected_responses(&self) -> usize {
        self.world().rejected_responses
    }

    /// The whole state as deterministic JSON.
    pub fn state_json(&self) -> Value {
        self.world().to_json()
    }

    /// A ConfigMap of a cluster as the API server stores it.
    pub fn config_map(&self, cluster: &str, namespace: &str, name: &str) -> Option<Value> {
        self.world()
            .clusters
            .get(cluster)?
            .config_maps
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    /// Replaces (or with None removes) a ConfigMap's data directly, for test set-up.
    pub fn set_config_map_data(
        &self,
        cluster: &str,
        namespace: &str,
        name: &str,
        data: Option<Value>,
    ) {
        let mut w = self.world();
        w.resource_version += 1;
        let rv = w.resource_version;
        let now = w.now();
        if let Some(c) = w.clusters.get_mut(cluster) {
            let key = format!("{namespace}/{name}");
            match data {
                Some(d) => {
                    c.config_maps
                        .insert(key, state::new_config_map(namespace, name, d, rv, now));
                }
                None => {
                    c.config_maps.remove(&key);
                }
            }
        }
    }

    /// Who `principal_arn` is inside a cluster right now, as the authenticator would map it; None
    /// is a 401. Lets tests see that node roles keep their access after an edit. An assumed-role
    /// ARN is a session (its name renders `{{SessionName}}`; a node's is its instance id, which
    /// `{{EC2PrivateDNSName}}` needs); its access key is the newest the simulator handed out for
    /// that ARN.
    pub fn identity_of(&self, cluster: &str, principal_arn: &str) -> Option<k8s_api::Identity> {
        let mut w = self.world();
        w.settle();
        let (sim_ms, delay) = (w.sim_ms(), w.scenario.access_entry_propagation_seconds);
        let key = w
            .keys
            .iter()
            .filter(|(_, o)| o.caller_arn == principal_arn)
            .map(|(k, _)| k.clone())
            .max()
            .unwrap_or_default();
        k8s_api::identity(w.clusters.get(cluster)?, principal_arn, &key, sim_ms, delay)
    }

    /// The authentication mode a cluster has now.
    pub fn authentication_mode(&self, cluster: &str) -> Option<String> {
        let mut w = self.world();
        w.settle();
        Some(w.clusters.get(cluster)?.authentication_mode.clone())
    }

    /// DescribeCluster's `status` of a cluster now (UPDATING while a mode switch runs).
    pub fn cluster_status(&self, cluster: &str) -> Option<String> {
        let mut w = self.world();
        w.settle();
        Some(w.clusters.get(cluster)?.status.clone())
    }

    /// Makes simulated time run `scale` times as fast as the wall clock from now on (the
    /// scenario's `clock_scale` sets it at the start). A test scales a 300 s mode switch or a 20 s
    /// IAM propagation down to seconds this way; signatures and tokens keep the wall clock.
    pub fn set_clock_scale(&self, scale: f64) {
        self.world().set_clock_scale(scale);
    }

    /// Moves simulated time forward by `secs` at once (roles age, entries propagate, a running
    /// mode switch gets closer to its end). Signatures and tokens keep the wall clock.
    pub fn advance_clock(&self, secs: f64) {
        self.world().advanced_ms += (secs * 1000.0) as i64;
    }

    /// Simulated seconds since the start (see `set_clock_scale`, `advance_clock`).
    pub fn sim_seconds(&self) -> f64 {
        self.world().sim_ms() as f64 / 1000.0
    }

    /// Starts a Kubernetes version upgrade of a cluster (an update of type VersionUpdate, as
    /// `UpdateClusterVersion` makes), in progress for `seconds` of simulated time: while it runs,
    /// UpdateClusterConfig answers ResourceInUseException. Answers its id.
    pub fn start_version_update(
        &self,
        cluster: &str,
        version: &str,
        seconds: f64,
    ) -> Option<String> {
        let mut w = self.world();
        w.settle();
        let (sim_ms, now) = (w.sim_ms(), w.now());
        let c = w.clusters.get_mut(cluster)?;
        let id = uuid::Uuid::new_v4().to_string();
        c.updates.insert(
            id.clone(),
            state::ClusterUpdate {
                id: id.clone(),
                kind: "VersionUpdate".into(),
                target_mode: version.into(),
                created_at: now,
                done_sim_ms: sim_ms + (seconds * 1000.0) as i64,
                status: "InProgress".into(),
                fails: false,
            },
        );
        c.settle_updates(sim_ms, now);
        Some(id)
    }

    /// Creates an IAM role now, as a template does just before the custom resource: trusted by
    /// its account's root, and not visible to EKS for the scenario's `iam_propagation_seconds`.
    pub fn create_role(&self, arn: &str) {
        self.create_role_made(arn, 0.0);
    }

    /// [`Simulator::create_role`] for a role made `seconds_ago` simulated seconds ago: an older
    /// stack's role (one a stack update keeps), long visible to EKS.
    pub fn create_role_made(&self, arn: &str, seconds_ago: f64) {
        let mut w = self.world();
        let account = arn.split(':').nth(4).unwrap_or_default().to_string();
        let made = w.sim_ms() - (seconds_ago * 1000.0) as i64;
        w.scenario.roles.retain(|r| r.arn != arn);
        w.scenario.roles.push(scenario::Role {
            arn: arn.to_string(),
            trust: vec![scenario::Trust {
                principal: format!("arn:aws:iam::{account}:root"),
            }],
            external_id: None,
            created_seconds_ago: Some(seconds_ago),
        });
        w.role_created_ms.insert(arn.to_string(), made);
    }

    /// (access key id, secret) of a scenario principal.
    pub fn credentials(&self, principal: &str) -> Option<(String, String)> {
        self.world()
            .scenario
            .principals
            .iter()
            .find(|p| p.name == principal)
            .map(|p| (p.access_key_id.clone(), p.secret_access_key.clone()))
    }

    /// Makes the next `times` requests of `op` meet `fault`.
    pub fn inject(&self, op: &str, fault: Fault, times: u32) {
        let mut w = self.world();
        let q = w.faults.entry(op.to_string()).or_default();
        for _ in 0..times {
            q.push_back(fault.clone());
        }
    }

    /// The injected faults not met yet, by operation (none: every one fired). A fault that never
    /// fires proves nothing (a misspelled operation passes silently), so tests assert this empty.
    pub fn pending_faults(&self) -> Vec<(String, usize)> {
        let w = self.world();
        let mut pending: Vec<(String, usize)> = w
            .faults
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(op, q)| (op.clone(), q.len()))
            .collect();
        pending.sort();
        pending
    }

    /// Panics naming every injected fault that has not fired.
    pub fn assert_faults_fired(&self) {
        let pending = self.pending_faults();
        assert!(
            pending.is_empty(),
            "injected faults that never fired (operation, how many left): {pending:?}"
        );
    }

    /// Every request answered (or dropped), in order.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.world().log.clone()
    }

    /// Forgets the request log.
    pub fn clear_request_log(&self) {
        self.world().log.clear();
    }

    /// Shifts the simulator's clock (token and signature age checks).
    pub fn set_clock_skew(&self, secs: i64) {
        self.world().clock_skew = secs;
    }

    /// Writes `kubeconfig`, `env`, `proxy.env`, `ca.pem` and `as/<role name>.env` (a session of
    /// each scenario role) for real clients into `dir`.
    pub fn write_out_dir(&self, dir: &std::path::Path) -> Result<()> {
        let mut w = self.world();
        out_dir::write(
            dir,
            &self.aws_endpoint_url(),
            &self.proxy_url(),
            &self.ca_pem,
            &mut w,
        )
    }
}
