//! The simulated world: keys, sessions, clusters and their objects, faults, and what was seen.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;
use serde_json::{json, Value};

use crate::scenario::{Role, Scenario};

/// A fault to inject into the next matching requests of one operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status (5xx), in the service's error shape.
    Status(u16),
    /// Answer with the service's throttling error.
    Throttle,
    /// Wait this long, then answer normally.
    Delay(std::time::Duration),
    /// Close the connection without an answer.
    Drop,
    /// Kubernetes writes: answer 409 Conflict.
    Conflict,
    /// Answer 307 Temporary Redirect to this URL (a client must not follow it to another host).
    Redirect(String),
}

/// One request the simulator answered.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub op: String,
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// A CloudFormation response the receiver accepted.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedResponse {
    pub request_id: String,
    pub body: Value,
    pub raw_len: usize,
    pub content_type: Option<String>,
}

/// Who a key belongs to.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    pub secret: String,
    /// The caller ARN as GetCallerIdentity reports it.
    pub caller_arn: String,
    /// For sessions: the session token that must accompany the key, and its expiry.
    pub session: Option<(String, i64)>,
}

/// An access entry with its associated policies.
#[derive(Debug, Clone, Serialize)]
pub struct AccessEntry {
    pub principal_arn: String,
    pub username: String,
    pub kubernetes_groups: Vec<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: i64,
    /// policy ARN -> access scope
    pub policies: BTreeMap<String, Value>,
    pub tags: BTreeMap<String, String>,
    /// Simulated milliseconds at creation (see `World::sim_ms`), for its propagation delay.
    #[serde(skip)]
    pub created_sim_ms: i64,
}

/// A cluster update started by UpdateClusterConfig.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterUpdate {
    pub id: String,
    /// EKS's UpdateType: `AccessConfigUpdate` (the mode switch) or `VersionUpdate` (a test
    /// starts one to stand in the switch's way).
    pub kind: String,
    /// The mode an AccessConfigUpdate switches to; the version a VersionUpdate upgrades to.
    pub target_mode: String,
    pub created_at: i64,
    /// Simulated milliseconds (see `World::sim_ms`) at which it ends.
    pub done_sim_ms: i64,
    /// InProgress, then Successful or Failed (DescribeUpdate's `status`).
    pub status: String,
    /// It ends Failed, leaving the mode as it was.
    #[serde(skip)]
    pub fails: bool,
}

/// One cluster and its Kubernetes objects.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterState {
    pub name: String,
    pub region: String,
    pub account: String,
    pub authentication_mode: String,
    pub creator: String,
    /// Whether the creator is cluster admin (`bootstrapClusterCreatorAdminPermissions`, default
    /// true; EKS refuses false on a CONFIG_MAP cluster).
    #[serde(skip)]
    pub creator_admin: bool,
    /// Epoch seconds, with milliseconds, on the simulated clock ([`World::sim_epoch_ms`]): EKS
    /// answers restJson1 timestamps as epoch seconds, fraction included, and a reconcile compares
    /// it with the stack's LastUpdatedTimestamp on the same clock.
    pub created_at: f64,
    pub endpoint: String,
    pub status: String,
    /// The Kubernetes version.
    #[serde(skip)]
    pub version: String,
    /// The cluster's IAM role (CreateCluster's `roleArn`).
    #[serde(skip)]
    pub role_arn: String,
    /// `resourcesVpcConfig.subnetIds` as created.
    #[serde(skip)]
    pub subnet_ids: Vec<String>,
    /// A CreateCluster in progress: the simulated ms at which the cluster leaves CREATING, the
    /// status it then takes and the aws-auth its node groups then make (absent: none).
    #[serde(skip)]
    pub creating: Option<Creating>,
    /// A DeleteCluster in progress: the simulated ms at which the cluster is gone.
    #[serde(skip)]
    pub deleting_until_ms: Option<i64>,
    #[serde(skip)]
    pub foreign_ca: bool,
    /// The version of the real kube-apiserver serving this cluster's Kubernetes API, when one
    /// does (its objects are then there, not in `config_maps`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kube_apiserver: Option<String>,
    /// "namespace/name" -> ConfigMap object
    pub config_maps: BTreeMap<String, Value>,
    pub access_entries: BTreeMap<String, AccessEntry>,
    /// "rolebindings/namespace/name" or "clusterrolebindings/name" -> the binding.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rbac: BTreeMap<String, Value>,
    /// The namespaces that exist (a RoleBinding goes only into one of them).
    #[serde(skip)]
    pub namespaces: std::collections::BTreeSet<String>,
    pub updates: BTreeMap<String, ClusterUpdate>,
    #[serde(skip)]
    pub switch_ms: i64,
    #[serde(skip)]
    pub switch_fails: bool,
    #[serde(skip)]
    pub node_roles: Vec<String>,
    #[serde(skip)]
    pub fargate_roles: Vec<String>,
}

impl ClusterState {
    /// The cluster's ARN.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:eks:{}:{}:cluster/{}",
            self.region, self.account, self.name
        )
    }

    /// Applies updates whose time has come (`sim_ms`, simulated; `now`, Unix seconds for the
    /// entries it creates). While one runs the cluster is UPDATING, as DescribeCluster shows it
    /// (https://docs.aws.amazon.com/eks/latest/userguide/setting-up-access-entries.html: "the
    /// status of the cluster changes to Updating").
    pub fn settle_updates(&mut self, sim_ms: i64, now: i64) {
        let due: Vec<String> = self
            .updates
            .values()
            .filter(|u| u.status == "InProgress" && u.done_sim_ms <= sim_ms)
            .map(|u| u.id.clone())
            .collect();
        for id in due {
            let u = self.updates.get_mut(&id).expect("listed above");
            if u.fails {
                u.status = "Failed".into();
            } else if u.kind != "AccessConfigUpdate" {
                u.status = "Successful".into();
            } else {
                u.status = "Successful".into();
                let target = u.target_mode.clone();
                let from = std::mem::replace(&mut self.authentication_mode, target);
                if from == "CONFIG_MAP" {
                    self.bootstrap_access_entries(now);
                }
            }
            self.status = "ACTIVE".into();
        }
        if self.updates.values().any(|u| u.status == "InProgress") {
            self.status = "UPDATING".into();
        }
    }

    /// The entries EKS makes when a CONFIG_MAP cluster gains access entries: cluster admin for
    /// the creator (https://docs.aws.amazon.com/eks/latest/userguide/add-user-role.html: "Amazon
    /// EKS creates an access entry with administrator permissions to the cluster for the IAM
    /// principal that originally created the cluster"), and EC2_LINUX / FARGATE_LINUX entries for
    /// the managed node group and Fargate roles (https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html,
    /// access entry types; the usernames are the ones EKS gives those types).
    pub(crate) fn bootstrap_access_entries(&mut self, now: i64) {
        let mut add = |arn: &str, kind: &str, username: String, admin: bool| {
            if self.access_entries.contains_key(arn) {
                return;
            }
            let mut policies = BTreeMap::new();
            if admin {
                policies.insert(
                    crate::aws_api::CLUSTER_ADMIN_POLICY.to_string(),
                    json!({ "type": "cluster", "namespaces": [] }),
                );
            }
            self.access_entries.insert(
                arn.to_string(),
                AccessEntry {
                    principal_arn: arn.to_string(),
                    username,
                    kubernetes_groups: Vec::new(),
                    kind: kind.to_string(),
                    created_at: now,
                    policies,
                    tags: BTreeMap::new(),
                    // Made by EKS itself: in effect at once.
                    created_sim_ms: i64::MIN / 2,
                },
            );
        };
        let creator = self.creator.clone();
        if self.creator_admin {
            add(
                &creator,
                "STANDARD",
                crate::aws_api::default_username(&creator),
                true,
            );
        }
        for r in self.node_roles.clone() {
            add(
                &r,
                "EC2_LINUX",
                "system:node:{{EC2PrivateDNSName}}".into(),
                false,
            );
        }
        for r in self.fargate_roles.clone() {
            add(
                &r,
                "FARGATE_LINUX",
                "system:node:{{SessionName}}".into(),
                false,
            );
        }
    }
}

/// What a cluster still being created becomes.
#[derive(Debug, Clone)]
pub struct Creating {
    pub until_ms: i64,
    pub then_status: String,
    pub aws_auth: Option<Value>,
}

/// One resource of a CloudFormation stack, as DescribeStackResource reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StackResource {
    pub logical_resource_id: String,
    pub physical_resource_id: Option<String>,
    pub resource_type: String,
    /// CREATE_COMPLETE, UPDATE_IN_PROGRESS, DELETE_COMPLETE, ... (botocore's ResourceStatus).
    pub status: String,
    /// Epoch milliseconds on the simulated clock ([`World::sim_epoch_ms`]).
    pub last_updated_ms: i64,
}

/// A CloudFormation stack: found by its ID (ARN) always, by its name only while not deleted
/// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResource.html>:
/// "Running stacks: You can specify either the stack's name or its unique stack ID. Deleted
/// stacks: You must specify the unique stack ID.").
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stack {
    pub stack_id: String,
    pub name: String,
    pub region: String,
    pub account: String,
    pub deleted: bool,
    pub resources: BTreeMap<String, StackResource>,
}

/// (partition, region, account, name) of a stack ID `arn:P:cloudformation:R:A:stack/NAME/ID`.
pub fn parse_stack_id(stack_id: &str) -> Option<(String, String, String, String)> {
    let p: Vec<&str> = stack_id.splitn(6, ':').collect();
    if p.len() != 6 || p[0] != "arn" || p[2] != "cloudformation" || p[3].is_empty() {
        return None;
    }
    let rest = p[5].strip_prefix("stack/")?;
    let (name, id) = rest.split_once('/')?;
    if name.is_empty() || id.is_empty() || id.contains('/') || p[4].len() != 12 {
        return None;
    }
    Some((p[1].into(), p[3].into(), p[4].into(), name.into()))
}

/// The order of authentication modes: a cluster may only move forward.
pub fn mode_rank(mode: &str) -> u8 {
    match mode {
        "CONFIG_MAP" => 0,
        "API_AND_CONFIG_MAP" => 1,
        "API" => 2,
        _ => 255,
    }
}

/// Temporary credentials of a role session, as AssumeRole hands them out.
#[derive(Debug, Clone)]
pub struct Session {
    pub n: u64,
    pub access_key_id: String,
    pub secret: String,
    pub token: String,
    /// Epoch seconds.
    pub expires: i64,
    /// `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION` (the role's path is not part of it).
    pub assumed_arn: String,
}

/// All mutable state, behind one lock.
pub struct World {
    pub scenario: Scenario,
    pub keys: HashMap<String, KeyOwner>,
    pub clusters: BTreeMap<String, ClusterState>,
    pub resource_version: u64,
    pub faults: HashMap<String, VecDeque<Fault>>,
    pub log: Vec<RequestRecord>,
    pub responses: Vec<RecordedResponse>,
    pub rejected_responses: usize,
    /// Asynchronous Lambda invocations not yet taken.
    pub invocations: Vec<crate::lambda_api::Invocation>,
    pub clock_skew: i64,
    pub next_id: u64,
    /// The simulated clock: `sim_base_ms` simulated ms had passed at `rebased_at`, and it runs
    /// `clock_scale` times as fast as the wall clock since; `advanced_ms` is added on top.
    pub clock_scale: f64,
    pub sim_base_ms: f64,
    pub rebased_at: std::time::Instant,
    pub advanced_ms: i64,
    /// Role ARN -> simulated ms at which it was created (negative: before the start).
    pub role_created_ms: HashMap<String, i64>,
    /// Wall-clock epoch milliseconds at the start: simulated ms 0 on the epoch clock.
    pub started_epoch_ms: i64,
    /// CloudFormation stacks by stack ID.
    pub stacks: BTreeMap<String, Stack>,
    /// Custom-resource request id -> its RequestType (Create, Update, Delete), registered by
    /// whoever plays CloudFormation when it makes the ResponseURL
    /// ([`crate::Simulator::response_url_for`]): CloudFormation knows which request a response
    /// answers, the response body does not say.
    pub request_types: HashMap<String, String>,
    /// SNS topics by ARN.
    pub topics: BTreeMap<String, crate::sns_api::Topic>,
    /// Every message published, in order.
    pub sns_messages: Vec<crate::sns_api::Published>,
    /// Secrets Manager: secret ARN -> SecretString.
    pub secrets: BTreeMap<String, String>,
}

impl World {
    /// Builds the world from a scenario; `endpoint_of` gives each cluster's Kubernetes URL.
    pub fn new(scenario: Scenario, endpoint_of: &dyn Fn(&str) -> String) -> World {
        let keys = scenario
            .principals
            .iter()
            .map(|p| {
                (
                    p.access_key_id.clone(),
                    KeyOwner {
                        secret: p.secret_access_key.clone(),
                        caller_arn: p.arn.clone(),
                        session: None,
                    },
                )
            })
            .collect();
        let mut world = World {
            keys,
            clusters: BTreeMap::new(),
            resource_version: 1000,
            faults: HashMap::new(),
            log: Vec::new(),
            responses: Vec::new(),
            rejected_responses: 0,
            invocations: Vec::new(),
            clock_skew: 0,
            next_id: 1,
            clock_scale: scenario.clock_scale.max(0.0),
            sim_base_ms: 0.0,
            rebased_at: std::time::Instant::now(),
            advanced_ms: 0,
            role_created_ms: scenario
                .roles
                .iter()
                .map(|r| {
                    let ago = r.created_seconds_ago.unwrap_or(OLD_ROLE_SECONDS);
                    (r.arn.clone(), -((ago * 1000.0) as i64))
                })
                .collect(),
            scenario: scenario.clone(),
            started_epoch_ms: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
                as i64,
            stacks: BTreeMap::new(),
            request_types: HashMap::new(),
            topics: scenario
                .topics
                .iter()
                .map(|t| {
                    let topic = crate::sns_api::Topic {
                        arn: t.arn.clone(),
                        publishers: t.publishers.clone(),
                    };
                    (t.arn.clone(), topic)
                })
                .collect(),
            sns_messages: Vec::new(),
            secrets: scenario
                .secrets
                .iter()
                .map(|s| (s.arn.clone(), s.secret_string.clone()))
                .collect(),
        };
        for c in &scenario.clusters {
            let cs = world.new_cluster(c, &endpoint_of(&c.name));
            world.clusters.insert(c.name.clone(), cs);
        }
        let start = world.sim_epoch_ms();
        for st in &scenario.stacks {
            let at = start - (st.last_updated_seconds_ago.unwrap_or(0.0) * 1000.0) as i64;
            world.put_stack_resource(
                &st.stack_id,
                &st.logical_resource_id,
                Some(&st.physical_resource_id),
                &st.status,
                &st.resource_type,
                at,
            );
        }
        world
    }

    /// A scenario cluster as `spec` describes it, there from the start, its Kubernetes API at
    /// `endpoint`, with its aws-auth when the spec has one.
    pub fn new_cluster(&mut self, c: &crate::scenario::Cluster, endpoint: &str) -> ClusterState {
        let now = self.now();
        let mut cs = ClusterState {
            name: c.name.clone(),
            region: c
                .region
                .clone()
                .unwrap_or_else(|| self.scenario.region.clone()),
            account: self.scenario.account.clone(),
            authentication_mode: c.authentication_mode.clone(),
            creator: c.creator.clone(),
            creator_admin: c.bootstrap_cluster_creator_admin_permissions,
            created_at: self.sim_epoch_ms() as f64 / 1000.0,
            endpoint: endpoint.to_string(),
            status: c.status.clone(),
            version: crate::aws_api::DEFAULT_VERSION.to_string(),
            role_arn: format!(
                "arn:aws:iam::{}:role/eks-cluster-role",
                self.scenario.account
            ),
            subnet_ids: vec!["subnet-0a1b2c3d".into(), "subnet-1a2b3c4d".into()],
            creating: None,
            deleting_until_ms: None,
            foreign_ca: c.foreign_ca,
            kube_apiserver: None,
            config_maps: BTreeMap::new(),
            access_entries: BTreeMap::new(),
            rbac: BTreeMap::new(),
            namespaces: crate::rbac_api::BUILT_IN_NAMESPACES
                .iter()
                .map(|n| n.to_string())
                .chain(c.namespaces.iter().cloned())
                .collect(),
            updates: BTreeMap::new(),
            switch_ms: (c.authentication_mode_switch_seconds * 1000.0) as i64,
            switch_fails: c.authentication_mode_switch_fails,
            node_roles: c.node_roles.clone(),
            fargate_roles: c.fargate_roles.clone(),
        };
        if let Some(data) = &c.aws_auth {
            self.resource_version += 1;
            let obj = new_config_map(
                "kube-system",
                "aws-auth",
                json!(data),
                self.resource_version,
                now,
            );
            cs.config_maps.insert("kube-system/aws-auth".into(), obj);
        }
        cs
    }

    /// A cluster being created now (CreateCluster): CREATING for the scenario's
    /// `cluster_create_seconds`, then `spec.status` (ACTIVE), with `spec.aws_auth` only from then
    /// on (node groups make aws-auth). In the API modes the creator, when admin, gets its
    /// STANDARD entry with AmazonEKSClusterAdminPolicy with the cluster
    /// (https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html; the same
    /// entry a switch from CONFIG_MAP makes).
    pub fn begin_cluster(
        &mut self,
        spec: &crate::scenario::Cluster,
        endpoint: &str,
    ) -> ClusterState {
        let mut bare = spec.clone();
        bare.aws_auth = None;
        let mut c = self.new_cluster(&bare, endpoint);
        c.status = "CREATING".into();
        c.creating = Some(Creating {
            until_ms: self.sim_ms() + (self.scenario.cluster_create_seconds * 1000.0) as i64,
            then_status: spec.status.clone(),
            aws_auth: spec.aws_auth.as_ref().map(|d| json!(d)),
        });
        if c.authentication_mode != "CONFIG_MAP" {
            let (nodes, fargate) = (
                std::mem::take(&mut c.node_roles),
                std::mem::take(&mut c.fargate_roles),
            );
            c.bootstrap_access_entries(self.now());
            (c.node_roles, c.fargate_roles) = (nodes, fargate);
        }
        c
    }

    /// Simulated now as epoch milliseconds: the start's wall clock plus the simulated time since
    /// (`sim_ms`, which scaling, `advance_clock` and the skew move).
    pub fn sim_epoch_ms(&self) -> i64 {
        self.started_epoch_ms + self.sim_ms()
    }

    /// Sets (creating the stack if needed) one resource of a stack; `at` is its
    /// LastUpdatedTimestamp in epoch ms. A stack ID that is not a stack ARN is ignored (false).
    pub fn put_stack_resource(
        &mut self,
        stack_id: &str,
        logical: &str,
        physical: Option<&str>,
        status: &str,
        resource_type: &str,
        at: i64,
    ) -> bool {
        let Some((_, region, account, name)) = parse_stack_id(stack_id) else {
            return false;
        };
        let stack = self.stacks.entry(stack_id.to_string()).or_insert(Stack {
            stack_id: stack_id.to_string(),
            name,
            region,
            account,
            deleted: false,
            resources: BTreeMap::new(),
        });
        stack.resources.insert(
            logical.to_string(),
            StackResource {
                logical_resource_id: logical.to_string(),
                physical_resource_id: physical.map(str::to_string),
                resource_type: resource_type.to_string(),
                status: status.to_string(),
                last_updated_ms: at,
            },
        );
        true
    }

    /// What CloudFormation makes of a custom resource's response (`body`, accepted by the
    /// receiver) to the request `request_id`, whose type was registered with the ResponseURL:
    /// - Create: SUCCESS -> CREATE_COMPLETE with the answered physical id, FAILED ->
    ///   CREATE_FAILED (the id CloudFormation records is still the answered one);
    /// - Update: SUCCESS -> UPDATE_COMPLETE with the answered id (a new id is a replacement),
    ///   FAILED -> UPDATE_FAILED, the id unchanged;
    /// - Delete: SUCCESS -> DELETE_COMPLETE, FAILED -> DELETE_FAILED; but a Delete of an id the
    ///   resource no longer has is the clean-up of a replaced resource after an Update
    ///   (UPDATE_COMPLETE_CLEANUP_IN_PROGRESS), which leaves the resource as it is
    ///   (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requesttypes-update.html>:
    ///   "CloudFormation sends a Delete request ... for the old resource").
    ///
    /// An unregistered request id teaches nothing: the simulator does not guess a request type.
    pub fn learn_from_response(&mut self, request_id: &str, body: &Value) {
        let Some(kind) = self.request_types.get(request_id).cloned() else {
            tracing::debug!(
                request_id,
                "response to an unregistered request: stack state unchanged"
            );
            return;
        };
        let field = |k: &str| body[k].as_str().unwrap_or_default().to_string();
        let (stack_id, logical, physical) = (
            field("StackId"),
            field("LogicalResourceId"),
            field("PhysicalResourceId"),
        );
        let ok = field("Status") == "SUCCESS";
        let at = self.sim_epoch_ms();
        let current = self
            .stacks
            .get(&stack_id)
            .and_then(|s| s.resources.get(&logical))
            .cloned();
        let resource_type = current
            .as_ref()
            .map(|r| r.resource_type.clone())
            .unwrap_or_else(|| crate::scenario::DEFAULT_RESOURCE_TYPE.to_string());
        let old_id = current
            .as_ref()
            .and_then(|r| r.physical_resource_id.clone());
        let (status, id) = match (kind.as_str(), ok) {
            ("Create", true) => ("CREATE_COMPLETE", Some(physical)),
            ("Create", false) => ("CREATE_FAILED", Some(physical)),
            ("Update", true) => ("UPDATE_COMPLETE", Some(physical)),
            ("Update", false) => ("UPDATE_FAILED", old_id),
            ("Delete", _) if current.is_some() && old_id.as_deref() != Some(physical.as_str()) => {
                return;
            }
            ("Delete", true) => ("DELETE_COMPLETE", old_id.or(Some(physical))),
            ("Delete", false) => ("DELETE_FAILED", old_id.or(Some(physical))),
            _ => return,
        };
        self.put_stack_resource(
            &stack_id,
            &logical,
            id.as_deref(),
            status,
            &resource_type,
            at,
        );
    }

    /// The simulator's clock (Unix seconds), shifted by the configured skew.
    pub fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp() + self.clock_skew
    }

    /// Simulated milliseconds since the start: the wall clock times `clock_scale`, plus what
    /// `advance` added and the clock skew. Every delay the simulator models runs on it.
    pub fn sim_ms(&self) -> i64 {
        let scaled =
            self.sim_base_ms + self.rebased_at.elapsed().as_secs_f64() * 1000.0 * self.clock_scale;
        scaled as i64 + self.advanced_ms + self.clock_skew * 1000
    }

    /// Changes how fast simulated time runs from now on, without a jump.
    pub fn set_clock_scale(&mut self, scale: f64) {
        self.sim_base_ms += self.rebased_at.elapsed().as_secs_f64() * 1000.0 * self.clock_scale;
        self.rebased_at = std::time::Instant::now();
        self.clock_scale = scale.max(0.0);
    }

    /// Brings every cluster up to the simulated now: updates end, a cluster being created becomes
    /// ACTIVE (with what EKS makes then), one being deleted is gone.
    pub fn settle(&mut self) {
        let (sim, now) = (self.sim_ms(), self.now());
        let rv = &mut self.resource_version;
        self.clusters
            .retain(|_, c| c.deleting_until_ms.is_none_or(|t| t > sim));
        for c in self.clusters.values_mut() {
            if c.creating.as_ref().is_some_and(|k| k.until_ms <= sim) {
                let k = c.creating.take().expect("checked above");
                c.status = k.then_status;
                if let Some(data) = k.aws_auth {
                    *rv += 1;
                    let obj = new_config_map("kube-system", "aws-auth", data, *rv, now);
                    c.config_maps.insert("kube-system/aws-auth".into(), obj);
                }
            }
            c.settle_updates(sim, now);
        }
    }

    /// How many simulated seconds ago `arn` was created, if it is a known role.
    pub fn role_age_secs(&self, arn: &str) -> Option<f64> {
        self.role_created_ms
            .get(arn)
            .map(|t| (self.sim_ms() - t) as f64 / 1000.0)
    }

    /// Takes the next fault injected for `op`, if any.
    pub fn take_fault(&mut self, op: &str) -> Option<Fault> {
        self.faults.get_mut(op).and_then(VecDeque::pop_front)
    }

    /// A fresh, unique identifier.
    /// A new session of `role_arn` (what AssumeRole returns once trust is checked), its keys
    /// known from now on.
    pub fn mint_session(&mut self, role_arn: &str, session: &str, duration_secs: i64) -> Session {
        let n = self.fresh_id();
        let role_name = role_arn.rsplit('/').next().unwrap_or_default();
        let account = role_arn.split(':').nth(4).unwrap_or_default();
        let s = Session {
            n,
            access_key_id: format!("ASIASIMSESSION{n:06}"),
            secret: format!("sim-session-secret-{}", uuid::Uuid::new_v4().simple()),
            token: format!("SimSessionToken{}", uuid::Uuid::new_v4().simple()),
            expires: self.now() + duration_secs,
            assumed_arn: format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}"),
        };
        self.keys.insert(
            s.access_key_id.clone(),
            KeyOwner {
                secret: s.secret.clone(),
                caller_arn: s.assumed_arn.clone(),
                session: Some((s.token.clone(), s.expires)),
            },
        );
        s
    }

    /// Adds one line to the request log (status 0: closed unanswered).
    pub fn record(&mut self, op: &str, method: &str, path: &str, status: u16) {
        self.log.push(RequestRecord {
            op: op.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            status,
        });
    }

    pub fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The scenario role with this ARN.
    pub fn role(&self, arn: &str) -> Option<&Role> {
        self.scenario.roles.iter().find(|r| r.arn == arn)
    }

    /// A deterministic dump of all state.
    pub fn to_json(&self) -> Value {
        json!({
            "account": self.scenario.account,
            "region": self.scenario.region,
            "clusters": self.clusters,
            "stacks": self.stacks,
            "responses": self.responses,
            "rejected_responses": self.rejected_responses,
            "sns_messages": self.sns_messages,
        })
    }
}

/// The age of a role the scenario does not date: old enough for any propagation delay.
pub const OLD_ROLE_SECONDS: f64 = 1.0e7;

/// A ConfigMap object as the API server stores it.
pub fn new_config_map(ns: &str, name: &str, data: Value, rv: u64, now: i64) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": uuid::Uuid::new_v4().to_string(),
            "resourceVersion": rv.to_string(),
            "creationTimestamp": rfc3339(now),
        },
        "data": data,
    })
}

/// Formats a Unix time as Kubernetes does.
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `arn:aws:sts::A:assumed-role/R/s` -> `arn:aws:iam::A:role/R`; other ARNs unchanged.
pub fn canonical_principal(caller_arn: &str) -> String {
    if let Some((prefix, rest)) = caller_arn.split_once(":assumed-role/") {
        let role = rest.split('/').next().unwrap_or_default();
        let prefix = prefix.replacen(":sts:", ":iam:", 1);
        return format!("{prefix}:role/{role}");
    }
    caller_arn.to_string()
}

/// Role ARN with its path stripped and lowercased: how an access entry (matched by the principal
/// itself, not its ARN string) meets an assumed-role caller, whose ARN has no path.
pub fn role_match_key(arn: &str) -> String {
    match arn.split_once(":role/") {
        Some((prefix, rest)) => {
            let name = rest.rsplit('/').next().unwrap_or(rest);
            format!("{prefix}:role/{name}").to_lowercase()
        }
        None => arn.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = "arn:aws:cloudformation:us-east-1:111122223333:stack/s/0b6c";

    fn world() -> World {
        World::new(Scenario::default_scenario(), &|_| String::new())
    }

    fn answer(w: &mut World, id: &str, kind: &str, status: &str, physical: &str) {
        w.request_types.insert(id.into(), kind.into());
        let body = json!({"Status": status, "StackId": STACK, "LogicalResourceId": "Mapping",
            "PhysicalResourceId": physical, "RequestId": id, "Reason": "r"});
        w.learn_from_response(id, &body);
    }

    fn resource(w: &World) -> (String, Option<String>) {
        let r = &w.stacks[STACK].resources["Mapping"];
        (r.status.clone(), r.physical_resource_id.clone())
    }

    #[test]
    fn responses_make_the_resources_state_as_cloudformation_would() {
        let mut w = world();
        answer(&mut w, "1", "Create", "SUCCESS", "a");
        assert_eq!(resource(&w), ("CREATE_COMPLETE".into(), Some("a".into())));
        // A failed update keeps the id the resource had.
        answer(&mut w, "2", "Update", "FAILED", "b");
        assert_eq!(resource(&w), ("UPDATE_FAILED".into(), Some("a".into())));
        // A replacement: the new id, then the old one's Delete is clean-up, not the resource's.
        answer(&mut w, "3", "Update", "SUCCESS", "b");
        answer(&mut w, "4", "Delete", "SUCCESS", "a");
        assert_eq!(resource(&w), ("UPDATE_COMPLETE".into(), Some("b".into())));
        answer(&mut w, "5", "Delete", "FAILED", "b");
        assert_eq!(resource(&w), ("DELETE_FAILED".into(), Some("b".into())));
        answer(&mut w, "6", "Delete", "SUCCESS", "b");
        assert_eq!(resource(&w), ("DELETE_COMPLETE".into(), Some("b".into())));
        let name = &w.stacks[STACK].name;
        assert_eq!(name, "s");
    }

    #[test]
    fn an_unregistered_response_changes_no_stack_and_time_is_the_simulated_clock() {
        let mut w = world();
        let body = json!({"Status": "SUCCESS", "StackId": STACK, "LogicalResourceId": "Mapping",
            "PhysicalResourceId": "a", "RequestId": "x"});
        w.learn_from_response("x", &body);
        assert!(!w.stacks.contains_key(STACK));
        answer(&mut w, "1", "Create", "FAILED", "a");
        assert_eq!(resource(&w), ("CREATE_FAILED".into(), Some("a".into())));
        let before = w.stacks[STACK].resources["Mapping"].last_updated_ms;
        w.advanced_ms += 3_600_000;
        answer(&mut w, "2", "Update", "SUCCESS", "a");
        let after = w.stacks[STACK].resources["Mapping"].last_updated_ms;
        assert!(after - before >= 3_600_000, "{before} {after}");
    }

    #[test]
    fn stack_ids_must_be_stack_arns() {
        assert_eq!(
            parse_stack_id(STACK),
            Some((
                "aws".into(),
                "us-east-1".into(),
                "111122223333".into(),
                "s".into()
            ))
        );
        for bad in [
            "s",
            "arn:aws:cloudformation:us-east-1:111122223333:stack/s",
            "arn:aws:lambda:us-east-1:111122223333:stack/s/1",
            "arn:aws:cloudformation::111122223333:stack/s/1",
        ] {
            assert_eq!(parse_stack_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_created_cluster_is_creating_then_active_and_a_deleted_one_goes() {
        let mut w = world();
        let mut spec = w.scenario.clusters[2].clone(); // modern: API
        spec.name = "fresh".into();
        let c = w.begin_cluster(&spec, "https://127.0.0.1:1");
        assert_eq!(c.status, "CREATING");
        // The creator's admin entry comes with an API-mode cluster.
        assert!(c.access_entries.contains_key(&spec.creator));
        w.clusters.insert("fresh".into(), c);
        w.advanced_ms += 599_000;
        w.settle();
        assert_eq!(w.clusters["fresh"].status, "CREATING");
        w.advanced_ms += 1_000;
        w.settle();
        assert_eq!(w.clusters["fresh"].status, "ACTIVE");
        // A CONFIG_MAP cluster's aws-auth only appears with it ACTIVE.
        let mut legacy = w.scenario.clusters[0].clone();
        legacy.name = "old-style".into();
        let c = w.begin_cluster(&legacy, "https://127.0.0.1:2");
        assert!(c.config_maps.is_empty() && c.access_entries.is_empty());
        w.clusters.insert("old-style".into(), c);
        w.advanced_ms += 600_000;
        w.settle();
        assert!(w.clusters["old-style"]
            .config_maps
            .contains_key("kube-system/aws-auth"));
        w.clusters.get_mut("fresh").unwrap().deleting_until_ms = Some(w.sim_ms() + 300_000);
        w.advanced_ms += 300_000;
        w.settle();
        assert!(!w.clusters.contains_key("fresh"));
    }
}
