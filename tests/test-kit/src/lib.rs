//! The in-memory adapter: a region's clusters, their access entries and aws-auth, held in a map,
//! with failures that can be injected per cluster and operation. It runs the same lifecycle as
//! the live adapter in microseconds, for the fast tier of tests; the HTTPS simulator stays the
//! judge of what AWS and Kubernetes really do.
//!
//! It can fail as the real region fails: each cluster is in a region (a call for another region
//! does not find it, and its ARNs name its own), the response sender takes only the ResponseURLs
//! the live one takes, a hand-over can be made to fail, and every injected failure can be listed
//! while it has not fired ([`Memory::pending_failures`]). A crate of its own: the product never links it.

mod answers;
mod in_region;
mod region;

pub use answers::Answers;
pub use region::Region;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use eks_role_mapper::config_map::ConfigMap;

use eks_role_mapper::app::registration::Refused;
use eks_role_mapper::ownership::STANDARD;
use eks_role_mapper::ports::{AdminRole, Connect, Register, Reinvoke, StackResource, Stacks};
use eks_role_mapper::rbac::{At, Binding};
use eks_role_mapper::AuthMode;
use eks_role_mapper::{Error, Result};

/// The region a cluster is in unless it says otherwise, and the function's own.
pub const HOME_REGION: &str = "us-east-1";

/// The operation name of a hand-over, for [`Memory::fail`] (keyed by the function's ARN).
pub const INVOKE: &str = "Invoke";
/// The operation name of a registration publish, for [`Memory::fail`] (keyed by the topic ARN):
/// a transient failure, retried.
pub const PUBLISH: &str = "Publish";

/// An access entry: its type, tags, associated policies (with the namespaces of those associated
/// at namespace scope), Kubernetes groups and username (None: EKS's own).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: String,
    pub tags: HashMap<String, String>,
    pub policies: BTreeSet<String>,
    /// Policy → namespaces, for the policies associated at namespace scope.
    pub namespaces: BTreeMap<String, Vec<String>>,
    pub groups: Vec<String>,
    pub username: Option<String>,
}

impl Default for Entry {
    fn default() -> Entry {
        Entry {
            kind: STANDARD.into(),
            tags: HashMap::new(),
            policies: BTreeSet::new(),
            namespaces: BTreeMap::new(),
            groups: Vec::new(),
            username: None,
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
    /// The region it is in: only a port for that region finds it.
    pub region: String,
    /// The RBAC bindings (every namespace exists here).
    pub bindings: BTreeMap<At, Binding>,
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
            region: HOME_REGION.into(),
            bindings: BTreeMap::new(),
        }
    }

    /// The same cluster in `region`.
    pub fn in_region(mut self, region: &str) -> Cluster {
        self.region = region.into();
        self
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
    /// Secrets Manager: secret ARN → SecretString.
    pub secrets: HashMap<String, String>,
    /// Messages published: (topic ARN, region the call went to, message).
    pub published: Vec<(String, String, String)>,
    resource_version: u64,
}

/// The in-memory region; clones share it.
#[derive(Clone, Default)]
pub struct Memory {
    world: Arc<Mutex<World>>,
    declared: Arc<Mutex<Option<eks_role_mapper::declared::Declared>>>,
}

impl Memory {
    /// Declares what a deploying stack would (None: nothing; see `declared`).
    pub fn declare(&self, declared: Option<eks_role_mapper::declared::Declared>) {
        *self.declared.lock().unwrap_or_else(|e| e.into_inner()) = declared;
    }

    /// Plays the stack that sends `event`, as CloudFormation would be while sending it: the
    /// function declared with the event's own stack and properties, and the resource of an
    /// Update or Delete in UPDATE_IN_PROGRESS or DELETE_IN_PROGRESS under the event's id.
    pub fn as_cloudformation(&self, event: &serde_json::Value) {
        let before = self.declared();
        self.declare(eks_role_mapper::declared::Declared::playing(
            event,
            before.as_ref(),
        ));
        let text = |f: &str| {
            event
                .get(f)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
        };
        let status = match text("RequestType") {
            "Update" => "UPDATE_IN_PROGRESS",
            "Delete" => "DELETE_IN_PROGRESS",
            _ => return,
        };
        self.world().stacks.insert(
            (text("StackId").into(), text("LogicalResourceId").into()),
            StackResource {
                physical_id: Some(text("PhysicalResourceId").into()),
                status: status.into(),
                last_updated: Some(SystemTime::now()),
            },
        );
    }

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

    /// Makes the next `times` calls of `op` on `cluster` fail ([`INVOKE`] with the function's
    /// ARN for a hand-over, `DescribeStackResource` with the stack id).
    pub fn fail(&self, op: &str, cluster: &str, times: u32) {
        self.world()
            .failures
            .insert((op.to_string(), cluster.to_string()), times);
    }

    /// The injected failures not met yet: (operation, cluster, how many left). A failure that
    /// never fires proves nothing, so tests assert this empty.
    pub fn pending_failures(&self) -> Vec<(String, String, u32)> {
        let mut pending: Vec<_> = self
            .world()
            .failures
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|((op, c), n)| (op.clone(), c.clone(), *n))
            .collect();
        pending.sort();
        pending
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
}

impl Reinvoke for Memory {
    /// Records the hand-over, or fails as Lambda's Invoke can ([`INVOKE`] failures).
    async fn invoke_async(&self, function_arn: &str, event: &serde_json::Value) -> Result<()> {
        let mut w = self.world();
        w.check(INVOKE, function_arn)?;
        w.invocations
            .push((function_arn.to_string(), event.clone()));
        Ok(())
    }
}

impl Register for Memory {
    /// A secret of [`World::secrets`], in its own region; anything else is not found.
    async fn secret_string(&self, arn: &str, region: &str) -> Result<String, Refused> {
        let w = self.world();
        w.secrets
            .get(arn)
            .filter(|_| eks_role_mapper::arn::region_of(arn, "secretsmanager", "secret:") == Some(region))
            .cloned()
            .ok_or_else(|| {
                Refused::Final(Error::Aws {
                    operation: "GetSecretValue (external ID)".into(),
                    message: "ResourceNotFoundException: Secrets Manager can't find the specified secret.".into(),
                })
            })
    }

    /// Records the message, or fails as a throttled SNS would ([`PUBLISH`] failures).
    async fn publish(&self, arn: &str, region: &str, message: &str) -> Result<(), Refused> {
        let mut w = self.world();
        w.check(PUBLISH, arn).map_err(Refused::Transient)?;
        w.published
            .push((arn.to_string(), region.to_string(), message.to_string()));
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
    type Cloud = Region;

    fn default_region(&self) -> Option<String> {
        Some(HOME_REGION.into())
    }

    fn declared(&self) -> Option<eks_role_mapper::declared::Declared> {
        self.declared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn connect(&self, region: &str, _admin: Option<AdminRole>) -> Region {
        Region::new(self.clone(), region)
    }
}
