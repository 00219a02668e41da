//! The recording adapter of the dry run: reads go to the real port, writes are recorded as
//! [`Call`]s instead of sent, and what they changed is remembered so that later reads of the same
//! run see it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::domain::config_map::ConfigMap;
use serde_json::Value;

use super::Call;
use crate::app::registration::Refused;
use crate::domain::arn::RoleArn;
use crate::domain::aws_auth::{self, MAP_ROLES};
use crate::domain::decision::AuthMode;
use crate::domain::error::Result;
use crate::domain::held::Association;
use crate::domain::ownership::EntryOwner;
use crate::domain::rbac::{At, Binding};
use crate::ports::{
    AdminRole, Cloud, ClusterInfo, Connect, Register, Reinvoke, StackResource, Stacks, StoreError,
};

/// The recording adapter's factory.
#[derive(Clone)]
pub struct Recorder<C> {
    inner: C,
    log: Arc<Mutex<Vec<Call>>>,
}

impl<C: Connect> Recorder<C> {
    pub(super) fn over(connect: &C) -> Recorder<C> {
        Recorder {
            inner: connect.clone(),
            log: Arc::default(),
        }
    }

    pub(super) fn calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl<C: Connect> Reinvoke for Recorder<C> {
    /// A dry run plans a request within one run: it never hands over.
    async fn invoke_async(&self, _function_arn: &str, _event: &Value) -> Result<()> {
        Ok(())
    }
}

impl<C: Connect> Register for Recorder<C> {
    /// A dry run answers nobody and so registers nothing: the handler publishes only after a
    /// SUCCESS was delivered. Never reads the secret.
    async fn secret_string(&self, _arn: &str, _region: &str) -> Result<String, Refused> {
        Ok(String::new())
    }

    async fn publish(&self, _arn: &str, _region: &str, _message: &str) -> Result<(), Refused> {
        Ok(())
    }
}

impl<C: Connect> Stacks for Recorder<C> {
    /// A read: made.
    async fn stack_resource(
        &self,
        stack_id: &str,
        logical_id: &str,
    ) -> Result<Option<StackResource>> {
        self.inner.stack_resource(stack_id, logical_id).await
    }
}

impl<C: Connect> Connect for Recorder<C> {
    type Cloud = Recording<C::Cloud>;

    fn default_region(&self) -> Option<String> {
        self.inner.default_region()
    }

    fn declared(&self) -> Option<crate::domain::declared::Declared> {
        self.inner.declared()
    }

    fn connect(&self, region: &str, admin: Option<AdminRole>) -> Self::Cloud {
        Recording {
            inner: self.inner.connect(region, admin),
            log: self.log.clone(),
            seen: Mutex::default(),
        }
    }
}

/// What the recorded writes changed, as later reads of the same run must see it.
#[derive(Default)]
pub(super) struct Seen {
    switched: HashSet<String>,
    /// Access entries made (Some: with this owner) or deleted (None) by recorded writes.
    entries: HashMap<String, Option<String>>,
    /// aws-auth as last read or written, per cluster.
    aws_auth: HashMap<String, Option<ConfigMap>>,
    /// RBAC bindings written (Some) or deleted (None) by recorded writes, by cluster.
    pub(super) bindings: HashMap<(String, At), Option<Binding>>,
}

/// The recording adapter: real reads, recorded writes.
pub struct Recording<K> {
    pub(super) inner: K,
    log: Arc<Mutex<Vec<Call>>>,
    seen: Mutex<Seen>,
}

impl<K> Recording<K> {
    pub(super) fn record(
        &self,
        op: &'static str,
        cluster: Option<&str>,
        write: bool,
        detail: Option<&str>,
    ) {
        self.push(Call {
            op,
            cluster: cluster.map(str::to_string),
            write,
            detail: detail.map(str::to_string),
            map_roles_diff: None,
            data_after: None,
        });
    }

    fn push(&self, call: Call) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
    }

    pub(super) fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry as recorded writes left it, if they touched it.
    fn recorded_entry(&self, cluster: &str) -> Option<Option<String>> {
        self.seen().entries.get(cluster).cloned()
    }
}

impl<K: Cloud> Recording<K> {
    /// Whether the role's entry exists now, recorded writes included.
    async fn entry_exists(&self, cluster: &str, role: &RoleArn, owner: &str) -> Result<bool> {
        if let Some(e) = self.recorded_entry(cluster) {
            return Ok(e.is_some());
        }
        if self.seen().switched.contains(cluster) {
            return Ok(false);
        }
        self.record("eks:DescribeAccessEntry", Some(cluster), false, None);
        Ok(self.inner.access_entry_owner(cluster, role, owner).await? != EntryOwner::Missing)
    }
}

fn map_roles(cm: Option<&ConfigMap>) -> Option<String> {
    cm.and_then(|c| c.data.as_ref())
        .and_then(|d| d.get(MAP_ROLES))
        .cloned()
}

impl<K: Cloud> Cloud for Recording<K> {
    async fn list_clusters(&self) -> Result<Vec<String>> {
        self.record("eks:ListClusters", None, false, None);
        self.inner.list_clusters().await
    }

    async fn describe(&self, cluster: &str) -> Result<Option<ClusterInfo>> {
        self.record("eks:DescribeCluster", Some(cluster), false, None);
        let mut info = self.inner.describe(cluster).await?;
        if let Some(i) = info
            .as_mut()
            .filter(|_| self.seen().switched.contains(cluster))
        {
            i.mode = AuthMode::ApiAndConfigMap;
        }
        Ok(info)
    }

    async fn create_access_entry(
        &self,
        cluster: &str,
        role: &RoleArn,
        owner: &str,
        _kubernetes_groups: &[String],
        _username: Option<&str>,
    ) -> Result<bool> {
        if self.entry_exists(cluster, role, owner).await? {
            // A real run's create is refused (ResourceInUseException): the entry is adopted.
            self.record(
                "eks:CreateAccessEntry (exists: adopted)",
                Some(cluster),
                false,
                Some(role.as_str()),
            );
            return Ok(true);
        }
        self.record(
            "eks:CreateAccessEntry",
            Some(cluster),
            true,
            Some(role.as_str()),
        );
        self.seen()
            .entries
            .insert(cluster.to_string(), Some(owner.to_string()));
        Ok(false)
    }

    async fn access_entry_owner(
        &self,
        cluster: &str,
        role: &RoleArn,
        owner: &str,
    ) -> Result<EntryOwner> {
        match self.recorded_entry(cluster) {
            Some(Some(o)) if o == owner => Ok(EntryOwner::Ours {
                groups: None,
                username: None,
            }),
            Some(Some(_)) => Ok(EntryOwner::Other {
                kind: crate::domain::ownership::STANDARD.into(),
                arn: String::new(),
                tags: Default::default(),
            }),
            Some(None) => Ok(EntryOwner::Missing),
            // Switched by a recorded write: a CONFIG_MAP cluster has no entries yet.
            None if self.seen().switched.contains(cluster) => Ok(EntryOwner::Missing),
            None => {
                self.record("eks:DescribeAccessEntry", Some(cluster), false, None);
                self.inner.access_entry_owner(cluster, role, owner).await
            }
        }
    }

    async fn associate_policy(
        &self,
        cluster: &str,
        _role: &RoleArn,
        policy: &str,
        namespaces: &[String],
    ) -> Result<()> {
        self.dry_associate(cluster, policy, namespaces);
        Ok(())
    }

    async fn disassociate_policy(&self, cluster: &str, _: &RoleArn, policy: &str) -> Result<()> {
        self.record(
            "eks:DisassociateAccessPolicy",
            Some(cluster),
            true,
            Some(policy),
        );
        Ok(())
    }

    async fn associations(&self, cluster: &str, role: &RoleArn) -> Result<Vec<Association>> {
        if self.recorded_entry(cluster).is_some() {
            // Made (or deleted) by a recorded write: no policy yet.
            return Ok(Vec::new());
        }
        self.record(
            "eks:ListAssociatedAccessPolicies",
            Some(cluster),
            false,
            None,
        );
        self.inner.associations(cluster, role).await
    }

    async fn tag_entry(&self, cluster: &str, _: &str, tags: &[(String, String)]) -> Result<()> {
        self.dry_tag(cluster, tags);
        Ok(())
    }

    async fn untag_entry(&self, cluster: &str, _entry_arn: &str, keys: &[String]) -> Result<()> {
        self.record(
            "eks:UntagResource",
            Some(cluster),
            true,
            Some(&keys.join(",")),
        );
        Ok(())
    }

    async fn update_access_entry(
        &self,
        cluster: &str,
        _role: &RoleArn,
        kubernetes_groups: &[String],
        username: Option<&str>,
    ) -> Result<()> {
        self.dry_update_entry(cluster, kubernetes_groups, username);
        Ok(())
    }

    async fn delete_access_entry(&self, cluster: &str, role: &RoleArn) -> Result<bool> {
        // Whoever's it is: the caller decided it is to go.
        let exists = self.entry_exists(cluster, role, "").await?;
        if exists {
            self.record(
                "eks:DeleteAccessEntry",
                Some(cluster),
                true,
                Some(role.as_str()),
            );
            self.seen().entries.insert(cluster.to_string(), None);
        }
        Ok(exists)
    }

    async fn enable_access_entries(&self, cluster: &str) -> Result<()> {
        self.record(
            "eks:UpdateClusterConfig",
            Some(cluster),
            true,
            Some("authenticationMode API_AND_CONFIG_MAP"),
        );
        self.seen().switched.insert(cluster.to_string());
        Ok(())
    }

    async fn read_aws_auth(&self, info: &ClusterInfo) -> Result<Option<ConfigMap>, StoreError> {
        if let Some(cm) = self.seen().aws_auth.get(&info.name) {
            return Ok(cm.clone());
        }
        self.record(
            "k8s:get",
            Some(&info.name),
            false,
            Some("kube-system/aws-auth"),
        );
        let cm = self.inner.read_aws_auth(info).await?;
        self.seen().aws_auth.insert(info.name.clone(), cm.clone());
        Ok(cm)
    }

    async fn write_aws_auth(
        &self,
        info: &ClusterInfo,
        object: ConfigMap,
        create: bool,
    ) -> Result<ConfigMap, StoreError> {
        let before = map_roles(
            self.seen()
                .aws_auth
                .get(&info.name)
                .and_then(Option::as_ref),
        );
        let after = map_roles(Some(&object));
        self.push(Call {
            op: if create { "k8s:create" } else { "k8s:update" },
            cluster: Some(info.name.clone()),
            write: true,
            detail: Some("kube-system/aws-auth".into()),
            map_roles_diff: (before != after)
                .then(|| aws_auth::diff(before.as_deref(), after.as_deref())),
            data_after: object.data.clone(),
        });
        self.seen()
            .aws_auth
            .insert(info.name.clone(), Some(object.clone()));
        Ok(object)
    }

    async fn read_binding(
        &self,
        info: &ClusterInfo,
        at: &At,
    ) -> Result<Option<Binding>, StoreError> {
        self.dry_read_binding(info, at).await
    }

    async fn owned_bindings(
        &self,
        info: &ClusterInfo,
        owner: &str,
    ) -> Result<Vec<Binding>, StoreError> {
        self.dry_owned_bindings(info, owner).await
    }

    async fn write_binding(
        &self,
        info: &ClusterInfo,
        binding: &Binding,
    ) -> Result<bool, StoreError> {
        self.dry_write_binding(info, binding).await
    }

    async fn delete_binding(&self, info: &ClusterInfo, at: &At) -> Result<bool, StoreError> {
        Ok(self.dry_delete_binding(info, at))
    }
}
