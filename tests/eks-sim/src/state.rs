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
    pub created_at: i64,
    pub endpoint: String,
    pub status: String,
    #[serde(skip)]
    pub foreign_ca: bool,
    /// "namespace/name" -> ConfigMap object
    pub config_maps: BTreeMap<String, Value>,
    pub access_entries: BTreeMap<String, AccessEntry>,
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
    fn bootstrap_access_entries(&mut self, now: i64) {
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
        add(
            &creator,
            "STANDARD",
            crate::aws_api::default_username(&creator),
            true,
        );
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

/// The order of authentication modes: a cluster may only move forward.
pub fn mode_rank(mode: &str) -> u8 {
    match mode {
        "CONFIG_MAP" => 0,
        "API_AND_CONFIG_MAP" => 1,
        "API" => 2,
        _ => 255,
    }
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
        };
        let now = world.now();
        for c in &scenario.clusters {
            let mut cs = ClusterState {
                name: c.name.clone(),
                region: c.region.clone().unwrap_or_else(|| scenario.region.clone()),
                account: scenario.account.clone(),
                authentication_mode: c.authentication_mode.clone(),
                creator: c.creator.clone(),
                created_at: now,
                endpoint: endpoint_of(&c.name),
                status: c.status.clone(),
                foreign_ca: c.foreign_ca,
                config_maps: BTreeMap::new(),
                access_entries: BTreeMap::new(),
                updates: BTreeMap::new(),
                switch_ms: (c.authentication_mode_switch_seconds * 1000.0) as i64,
                switch_fails: c.authentication_mode_switch_fails,
                node_roles: c.node_roles.clone(),
                fargate_roles: c.fargate_roles.clone(),
            };
            if let Some(data) = &c.aws_auth {
                world.resource_version += 1;
                let obj = new_config_map(
                    "kube-system",
                    "aws-auth",
                    json!(data),
                    world.resource_version,
                    now,
                );
                cs.config_maps.insert("kube-system/aws-auth".into(), obj);
            }
            world.clusters.insert(c.name.clone(), cs);
        }
        world
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

    /// Brings every cluster's updates up to the simulated now.
    pub fn settle(&mut self) {
        let (sim, now) = (self.sim_ms(), self.now());
        for c in self.clusters.values_mut() {
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
            "responses": self.responses,
            "rejected_responses": self.rejected_responses,
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
