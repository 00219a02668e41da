//! The port: what the per-cluster logic needs of EKS and of a cluster's Kubernetes API. One
//! implementation of the rules (`per_cluster`, `aws_auth_store`, `lifecycle`) runs over three
//! adapters: `live` (the SDK and the Kubernetes API), `dry_run` (real reads, writes recorded
//! instead of sent) and `memory` (a fast in-process cluster set for tests).

pub mod deadline;

use std::future::Future;
use std::time::SystemTime;

use crate::domain::config_map::ConfigMap;

use crate::domain::arn::RoleArn;
use crate::domain::decision::AuthMode;
use crate::domain::error::{Error, Result};
use crate::domain::held::Association;
use crate::domain::ownership::EntryOwner;
use crate::domain::rbac::{At, Binding};

/// What the mapper needs to know about a cluster.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub name: String,
    pub arn: String,
    pub endpoint: String,
    /// The cluster CA, PEM.
    pub ca_pem: Vec<u8>,
    pub mode: AuthMode,
    /// ACTIVE, CREATING, UPDATING, DELETING, FAILED or PENDING.
    pub status: String,
    /// When the cluster was created: a reconcile tells a cluster new under `*` from a repair.
    pub created_at: Option<SystemTime>,
}

impl ClusterInfo {
    /// Only ACTIVE clusters are chosen by `*`.
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// A failed read or write of aws-auth, classified for the conflict loop.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// 409: the object changed since it was read (or was created meanwhile).
    #[error("conflict")]
    Conflict,
    /// Worth another try: the API server was busy or the connection broke.
    #[error("{0}")]
    Transient(Error),
    /// Anything else.
    #[error("{0}")]
    Failed(Error),
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        StoreError::Failed(e)
    }
}

/// The identity used for the Kubernetes API of CONFIG_MAP clusters, when not the function's own.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminRole {
    pub role: RoleArn,
    pub external_id: Option<String>,
}

/// Starts a fresh invocation of the function with an event (asynchronous, `Event` type): how a
/// request goes on past one invocation's deadline.
pub trait Reinvoke: Send + Sync {
    /// Queues `event` for the function `function_arn`.
    fn invoke_async(
        &self,
        function_arn: &str,
        event: &serde_json::Value,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// What CloudFormation says of one resource of a stack (DescribeStackResource).
#[derive(Debug, Clone, PartialEq)]
pub struct StackResource {
    pub physical_id: Option<String>,
    /// CREATE_COMPLETE, UPDATE_IN_PROGRESS, DELETE_COMPLETE, ...
    pub status: String,
    pub last_updated: Option<SystemTime>,
}

/// Reads CloudFormation: a reconcile writes only while the stack that made the grant still holds
/// it, with the same physical id.
pub trait Stacks: Send + Sync {
    /// The resource `logical_id` of the stack `stack_id` (its ARN, which also finds a deleted
    /// stack); None when the stack or the resource does not exist.
    fn stack_resource(
        &self,
        stack_id: &str,
        logical_id: &str,
    ) -> impl Future<Output = Result<Option<StackResource>>> + Send;
}

/// Registration with the service (see `registration`): the generated external ID where the stack
/// keeps it, and the message to the service's topic. Each call's region is its resource's own.
pub trait Register: Send + Sync {
    /// The SecretString of the secret `arn` (Secrets Manager GetSecretValue).
    fn secret_string(
        &self,
        arn: &str,
        region: &str,
    ) -> impl Future<Output = std::result::Result<String, Refused>> + Send;
    /// Publishes `message` to the topic `arn` (SNS Publish).
    fn publish(
        &self,
        arn: &str,
        region: &str,
        message: &str,
    ) -> impl Future<Output = std::result::Result<(), Refused>> + Send;
}

/// Makes the port for one region; the adapters hold their clients.
pub trait Connect: Reinvoke + Stacks + Register + Clone + Send + Sync + 'static {
    type Cloud: Cloud + 'static;
    /// The region used when the properties name none.
    fn default_region(&self) -> Option<String>;
    /// What the stack that deployed the function declared (None: nothing, so nothing is granted).
    fn declared(&self) -> Option<crate::domain::declared::Declared>;
    /// The port for `region`, reaching Kubernetes APIs as `admin` (or the function's identity).
    fn connect(&self, region: &str, admin: Option<AdminRole>) -> Self::Cloud;
}

/// What one region's EKS and its clusters' aws-auth offer the mapper. Writes are idempotent where
/// EKS is: a create that finds the entry answers `true` (it existed), a delete of nothing `false`.
pub trait Cloud: Send + Sync {
    /// Every cluster name of the region.
    fn list_clusters(&self) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// DescribeCluster; None when the cluster does not exist.
    fn describe(&self, cluster: &str) -> impl Future<Output = Result<Option<ClusterInfo>>> + Send;
    /// Creates the role's access entry tagged with `owner`, with the extra Kubernetes groups and
    /// the username given (None: EKS's own); `true` when one existed already.
    fn create_access_entry(
        &self,
        cluster: &str,
        role: &RoleArn,
        owner: &str,
        kubernetes_groups: &[String],
        username: Option<&str>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Whether the role has an access entry and whether `owner`'s tag is on it.
    fn access_entry_owner(
        &self,
        cluster: &str,
        role: &RoleArn,
        owner: &str,
    ) -> impl Future<Output = Result<EntryOwner>> + Send;
    /// Associates `policy` with the role's entry at cluster scope, or at namespace scope over
    /// `namespaces` when there are any (again: the scope is replaced).
    fn associate_policy(
        &self,
        cluster: &str,
        role: &RoleArn,
        policy: &str,
        namespaces: &[String],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Disassociates `policy` from the role's entry (not associated is fine).
    fn disassociate_policy(
        &self,
        cluster: &str,
        role: &RoleArn,
        policy: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The access policies associated with the role's entry, with their scopes.
    fn associations(
        &self,
        cluster: &str,
        role: &RoleArn,
    ) -> impl Future<Output = Result<Vec<Association>>> + Send;
    /// Adds `tags` to an entry (by its ARN), in one TagResource: all of them or none.
    fn tag_entry(
        &self,
        cluster: &str,
        entry_arn: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Removes the tags `keys` from an entry (by its ARN).
    fn untag_entry(
        &self,
        cluster: &str,
        entry_arn: &str,
        keys: &[String],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Sets what the role's entry maps it to: the Kubernetes groups, and the username when one
    /// is given (None: left as it is).
    fn update_access_entry(
        &self,
        cluster: &str,
        role: &RoleArn,
        kubernetes_groups: &[String],
        username: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Deletes the role's access entry; `false` when there was none (or no cluster).
    fn delete_access_entry(
        &self,
        cluster: &str,
        role: &RoleArn,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Switches CONFIG_MAP to API_AND_CONFIG_MAP (one-way) and waits until it is done.
    fn enable_access_entries(&self, cluster: &str) -> impl Future<Output = Result<()>> + Send;
    /// The aws-auth ConfigMap, or None when it does not exist.
    fn read_aws_auth(
        &self,
        cluster: &ClusterInfo,
    ) -> impl Future<Output = Result<Option<ConfigMap>, StoreError>> + Send;
    /// Writes aws-auth: a replace guarded by the object's `resourceVersion`, or a create when
    /// `create`. Answers the stored object.
    fn write_aws_auth(
        &self,
        cluster: &ClusterInfo,
        object: ConfigMap,
        create: bool,
    ) -> impl Future<Output = Result<ConfigMap, StoreError>> + Send;
    /// The RBAC binding at `at`, or None.
    fn read_binding(
        &self,
        cluster: &ClusterInfo,
        at: &At,
    ) -> impl Future<Output = Result<Option<Binding>, StoreError>> + Send;
    /// Every binding labelled with `owner`'s key, cluster-wide and in every namespace.
    fn owned_bindings(
        &self,
        cluster: &ClusterInfo,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<Binding>, StoreError>> + Send;
    /// Creates a binding (no `resource_version`) or replaces the version read. `Ok(false)`: its
    /// namespace does not exist.
    fn write_binding(
        &self,
        cluster: &ClusterInfo,
        binding: &Binding,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Deletes a binding; `false` when there was none.
    fn delete_binding(
        &self,
        cluster: &ClusterInfo,
        at: &At,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Whether namespace `name` exists: what a RoleBinding's create there depends on. The real
    /// run learns it from the create's 404; the dry run, which sends no create, asks. A port
    /// that does not model namespaces (the in-memory region) answers yes.
    fn namespace_exists(
        &self,
        _cluster: &ClusterInfo,
        _name: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async { Ok(true) }
    }
}

/// A failed call of the registration port: worth another try or not.
#[derive(Debug)]
pub enum Refused {
    /// Throttled, a 5xx, or no answer.
    Transient(Error),
    /// Refused for good (not authorized, no such topic or secret, too large).
    Final(Error),
}
