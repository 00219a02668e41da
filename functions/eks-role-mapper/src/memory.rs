//! The in-memory adapter: a region's clusters, their access entries and aws-auth, held in a map,
//! with failures that can be injected per cluster and operation. It runs the same lifecycle as
//! the live adapter in microseconds, for the fast tier of tests; the HTTPS simulator stays the
//! judge of what AWS and Kubernetes really do.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::ConfigMap;

use crate::arn::RoleArn;
use crate::cloud::{
    AdminRole, Cloud, ClusterInfo, Connect, Reinvoke, StackResource, Stacks, StoreError,
};
use crate::decision::AuthMode;
use crate::error::{Error, Result};
use crate::ownership::{associated_tag, EntryOwner, OWNER_TAG, STANDARD};
use crate::response::{Body, Respond, ResponseUrl};

/// An access entry: its type, tags and associated policies.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: String,
    pub tags: HashMap<String, String>,
    pub policies: BTreeSet<String>,
}

impl Default for Entry {
    fn default() -> Entry {
        Entry {
            kind: STANDARD.into(),
            tags: HashMap::new(),
            policies: BTreeSet::new(),
        }
    }
}

/// One cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub mode: AuthMode,
    pub status: String,
    /// By principal ARN as given.
    pub entries: BTreeMap<String, Entry>,
    pub aws_auth: Option<ConfigMap>,
    /// Whether the function's identity gets into the Kubernetes API.
    pub kube_reachable: bool,
    pub created_at: Option<SystemTime>,
}

impl Cluster {
    /// An ACTIVE cluster in `mode` without aws-auth.
    pub fn new(mode: AuthMode) -> Cluster {
        Cluster {
            mode,
            status: "ACTIVE".into(),
            entries: BTreeMap::new(),
            aws_auth: None,
            kube_reachable: true,
            created_at: None,
        }
    }
}

/// The region's state, and what was done to it.
#[derive(Debug, Default)]
pub struct World {
    pub clusters: BTreeMap<String, Cluster>,
    /// Injected failures: (operation, cluster) → how many times.
    pub failures: HashMap<(String, String), u32>,
    /// Every write made: `op cluster`.
    pub writes: Vec<String>,
    /// Events handed over to a fresh invocation: (function ARN, event).
    pub invocations: Vec<(String, serde_json::Value)>,
    /// Other writers: before each of our next aws-auth writes on a cluster, one of these
    /// `mapRoles` texts is stored first (a newer resourceVersion, so ours conflicts).
    pub racers: HashMap<String, Vec<String>>,
    /// CloudFormation's view: (stack id, logical id) → the resource.
    pub stacks: HashMap<(String, String), StackResource>,
    /// Operations that never answer (a hung endpoint), by name.
    pub stalled: BTreeSet<String>,
    resource_version: u64,
}

/// The in-memory region; clones share it.
#[derive(Clone, Default)]
pub struct Memory {
    world: Arc<Mutex<World>>,
}

impl Memory {
    /// A region with these clusters.
    pub fn with(clusters: impl IntoIterator<Item = (&'static str, Cluster)>) -> Memory {
        let m = Memory::default();
        m.world().clusters = clusters
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect();
        m
    }

    /// The state, to look at or change.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the next `times` calls of `op` on `cluster` fail.
    pub fn fail(&self, op: &str, cluster: &str, times: u32) {
        self.world()
            .failures
            .insert((op.to_string(), cluster.to_string()), times);
    }

    /// Makes another writer store `map_roles` in a cluster's aws-auth just before our next write.
    pub fn race(&self, cluster: &str, map_roles: &str) {
        self.world()
            .racers
            .entry(cluster.to_string())
            .or_default()
            .push(map_roles.to_string());
    }

    /// The data of a cluster's aws-auth.
    pub fn aws_auth_data(&self, cluster: &str) -> Option<BTreeMap<String, String>> {
        self.world().clusters[cluster]
            .aws_auth
            .as_ref()
            .and_then(|c| c.data.clone())
    }

    /// Sets a cluster's aws-auth data (as a hand edit would).
    pub fn set_aws_auth(&self, cluster: &str, data: &[(&str, &str)]) {
        self.world().set_aws_auth(cluster, data);
    }
}

impl World {
    fn set_aws_auth(&mut self, cluster: &str, data: &[(&str, &str)]) {
        let w = self;
        w.resource_version += 1;
        let rv = w.resource_version.to_string();
        let c = w.clusters.get_mut(cluster).expect("known cluster");
        let cm = c.aws_auth.get_or_insert_with(ConfigMap::default);
        cm.data = Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        cm.metadata.resource_version = Some(rv);
    }
}

impl World {
    fn check(&mut self, op: &str, cluster: &str) -> Result<()> {
        if let Some(n) = self
            .failures
            .get_mut(&(op.to_string(), cluster.to_string()))
            .filter(|n| **n > 0)
        {
            *n -= 1;
            return Err(Error::Aws {
                operation: op.to_string(),
                message: "InternalFailure: injected".into(),
            });
        }
        Ok(())
    }

    fn cluster(&mut self, op: &str, cluster: &str) -> Result<&mut Cluster> {
        self.check(op, cluster)?;
        self.clusters.get_mut(cluster).ok_or_else(|| Error::Aws {
            operation: op.to_string(),
            message: format!("ResourceNotFoundException: No cluster found for name: {cluster}."),
        })
    }

    fn entries(&mut self, op: &str, cluster: &str) -> Result<&mut BTreeMap<String, Entry>> {
        let c = self.cluster(op, cluster)?;
        if !c.mode.has_access_entries() {
            return Err(Error::Aws {
                operation: op.to_string(),
                message: "InvalidRequestException: The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.".into(),
            });
        }
        Ok(&mut c.entries)
    }
}

impl Reinvoke for Memory {
    async fn invoke_async(&self, function_arn: &str, event: &serde_json::Value) -> Result<()> {
        self.world()
            .invocations
            .push((function_arn.to_string(), event.clone()));
        Ok(())
    }
}

impl Stacks for Memory {
    async fn stack_resource(
        &self,
        stack_id: &str,
        logical_id: &str,
    ) -> Result<Option<StackResource>> {
        let mut w = self.world();
        w.check("DescribeStackResource", stack_id)?;
        Ok(w.stacks
            .get(&(stack_id.to_string(), logical_id.to_string()))
            .cloned())
    }
}

impl Connect for Memory {
    type Cloud = Memory;

    fn default_region(&self) -> Option<String> {
        Some("us-east-1".into())
    }

    fn connect(&self, _region: &str, _admin: Option<AdminRole>) -> Memory {
        self.clone()
    }
}

impl Cloud for Memory {
    async fn list_clusters(&self) -> Result<Vec<String>> {
        let stalled = self.world().stalled.contains("ListClusters");
        if stalled {
            std::future::pending::<()>().await;
        }
        Ok(self.world().clusters.keys().cloned().collect())
    }

    async fn describe(&self, cluster: &str) -> Result<Option<ClusterInfo>> {
        let mut w = self.world();
        w.check("DescribeCluster", cluster)?;
        Ok(w.clusters.get(cluster).map(|c| ClusterInfo {
            name: cluster.to_string(),
            arn: format!("arn:aws:eks:us-east-1:111122223333:cluster/{cluster}"),
            endpoint: String::new(),
            ca_pem: Vec::new(),
            mode: c.mode.clone(),
            status: c.status.clone(),
            created_at: c.created_at,
        }))
    }

    async fn create_access_entry(
        &self,
        cluster: &str,
        role: &RoleArn,
        owner: &str,
    ) -> Result<bool> {
        let mut w = self.world();
        let entries = w.entries("CreateAccessEntry", cluster)?;
        if entries.contains_key(role.as_str()) {
            return Ok(true);
        }
        let tags = HashMap::from([(OWNER_TAG.to_string(), owner.to_string())]);
        entries.insert(
            role.as_str().to_string(),
            Entry {
                tags,
                ..Entry::default()
            },
        );
        w.writes.push(format!("CreateAccessEntry {cluster}"));
        Ok(false)
    }

    async fn access_entry_owner(
        &self,
        cluster: &str,
        role: &RoleArn,
        owner: &str,
    ) -> Result<EntryOwner> {
        let mut w = self.world();
        Ok(
            match w
                .entries("DescribeAccessEntry", cluster)?
                .get(role.as_str())
            {
                None => EntryOwner::Missing,
                Some(e) => EntryOwner::of(Some(&e.tags), &e.kind, &entry_arn(cluster, role), owner),
            },
        )
    }

    async fn associate_policy(&self, cluster: &str, role: &RoleArn, policy: &str) -> Result<()> {
        let mut w = self.world();
        let entry = w
            .entries("AssociateAccessPolicy", cluster)?
            .get_mut(role.as_str())
            .ok_or_else(|| Error::Aws {
                operation: "AssociateAccessPolicy".into(),
                message: "ResourceNotFoundException: no access entry".into(),
            })?;
        entry.policies.insert(policy.to_string());
        w.writes.push(format!("AssociateAccessPolicy {cluster}"));
        Ok(())
    }

    async fn associated_policies(&self, cluster: &str, role: &RoleArn) -> Result<Vec<String>> {
        let mut w = self.world();
        Ok(w.entries("ListAssociatedAccessPolicies", cluster)?
            .get(role.as_str())
            .map(|e| e.policies.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn record_association(
        &self,
        cluster: &str,
        entry_arn: &str,
        owner: &str,
        policy: &str,
    ) -> Result<()> {
        let mut w = self.world();
        let entry = w
            .entries("TagResource", cluster)?
            .iter_mut()
            .find(|(p, _)| entry_arn == format!("{cluster}/{p}"))
            .map(|(_, e)| e)
            .ok_or_else(|| Error::Aws {
                operation: "TagResource".into(),
                message: "NotFoundException".into(),
            })?;
        entry.tags.insert(associated_tag(owner), policy.to_string());
        w.writes.push(format!("TagResource {cluster}"));
        Ok(())
    }

    async fn take_back_association(
        &self,
        cluster: &str,
        role: &RoleArn,
        _entry_arn: &str,
        owner: &str,
        policy: &str,
    ) -> Result<()> {
        let mut w = self.world();
        if let Some(e) = w
            .entries("DisassociateAccessPolicy", cluster)?
            .get_mut(role.as_str())
        {
            e.policies.remove(policy);
            e.tags.remove(&associated_tag(owner));
        }
        w.writes.push(format!("DisassociateAccessPolicy {cluster}"));
        Ok(())
    }

    async fn delete_access_entry(&self, cluster: &str, role: &RoleArn) -> Result<bool> {
        let mut w = self.world();
        let gone = w
            .entries("DeleteAccessEntry", cluster)?
            .remove(role.as_str())
            .is_some();
        if gone {
            w.writes.push(format!("DeleteAccessEntry {cluster}"));
        }
        Ok(gone)
    }

    async fn enable_access_entries(&self, cluster: &str) -> Result<()> {
        let mut w = self.world();
        let c = w.cluster("UpdateClusterConfig", cluster)?;
        if c.mode != AuthMode::ConfigMap {
            return Err(Error::Aws {
                operation: "UpdateClusterConfig".into(),
                message: "InvalidParameterException: Unsupported authentication mode update".into(),
            });
        }
        c.mode = AuthMode::ApiAndConfigMap;
        w.writes.push(format!("UpdateClusterConfig {cluster}"));
        Ok(())
    }

    async fn read_aws_auth(&self, info: &ClusterInfo) -> Result<Option<ConfigMap>, StoreError> {
        let mut w = self.world();
        let c = w.cluster("k8s:get", &info.name)?;
        if !c.kube_reachable {
            return Err(StoreError::Failed(unreachable(&info.name)));
        }
        Ok(c.aws_auth.clone())
    }

    async fn write_aws_auth(
        &self,
        info: &ClusterInfo,
        mut object: ConfigMap,
        create: bool,
    ) -> Result<ConfigMap, StoreError> {
        let mut w = self.world();
        if let Some(text) = w.racers.get_mut(&info.name).and_then(|r| r.pop()) {
            w.set_aws_auth(&info.name, &[(crate::aws_auth::MAP_ROLES, &text)]);
        }
        w.resource_version += 1;
        let rv = w.resource_version.to_string();
        let c = w.cluster("k8s:write", &info.name)?;
        if !c.kube_reachable {
            return Err(StoreError::Failed(unreachable(&info.name)));
        }
        // Kubernetes' optimistic concurrency: a create finds nothing, a replace the same version.
        let current = c
            .aws_auth
            .as_ref()
            .map(|o| o.metadata.resource_version.clone());
        match (create, current) {
            (true, Some(_)) => return Err(StoreError::Conflict),
            (false, None) => {
                return Err(StoreError::Failed(Error::Kube {
                    operation: "replace aws-auth".into(),
                    message: "404 NotFound".into(),
                }))
            }
            (false, Some(v)) if v != object.metadata.resource_version => {
                return Err(StoreError::Conflict)
            }
            _ => {}
        }
        object.metadata.resource_version = Some(rv);
        c.aws_auth = Some(object.clone());
        let op = if create { "k8s:create" } else { "k8s:update" };
        w.writes.push(format!("{op} {}", info.name));
        Ok(object)
    }
}

/// The in-memory stand-in for an access entry's ARN.
fn entry_arn(cluster: &str, role: &RoleArn) -> String {
    format!("{cluster}/{role}")
}

fn unreachable(cluster: &str) -> Error {
    Error::Kube {
        operation: "get aws-auth".into(),
        message: format!("cluster {cluster}: connection refused"),
    }
}

/// A response sender that keeps what it was given.
#[derive(Clone, Default)]
pub struct Answers(Arc<Mutex<Vec<Body>>>);

impl Answers {
    /// The bodies sent, in order.
    pub fn sent(&self) -> Vec<Body> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Respond for Answers {
    async fn send(&self, _url: &ResponseUrl, body: &Body, _budget: Duration) -> Result<u32> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(body.clone());
        Ok(1)
    }

    fn allows_loopback(&self) -> bool {
        true
    }
}
