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
}

/// A cluster update started by UpdateClusterConfig.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterUpdate {
    pub id: String,
    pub target_mode: String,
    pub created_at: i64,
    pub done_at_ms: u128,
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
}

impl ClusterState {
    /// The cluster's ARN.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:eks:{}:{}:cluster/{}",
            self.region, self.account, self.name
        )
    }

    /// Applies updates whose time has come.
    pub fn settle_updates(&mut self, now_ms: u128) {
        for u in self.updates.values() {
            if u.done_at_ms <= now_ms
                && mode_rank(&u.target_mode) > mode_rank(&self.authentication_mode)
            {
                self.authentication_mode = u.target_mode.clone();
            }
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
    pub clock_skew: i64,
    pub next_id: u64,
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
            clock_skew: 0,
            next_id: 1,
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

/// Role ARN with its path stripped and lowercased: how aws-auth matches roles.
pub fn role_match_key(arn: &str) -> String {
    match arn.split_once(":role/") {
        Some((prefix, rest)) => {
            let name = rest.rsplit('/').next().unwrap_or(rest);
            format!("{prefix}:role/{name}").to_lowercase()
        }
        None => arn.to_lowercase(),
    }
}
