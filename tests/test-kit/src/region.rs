//! One region of the in-memory adapter: the port ([`Cloud`]) over the clusters of that region
//! only, as EKS answers: a cluster of another region is not found, and ARNs name the region.

use std::collections::{BTreeMap, HashMap};

use eks_role_mapper::config_map::ConfigMap;

use crate::in_region::InRegion;
use crate::{Entry, Memory};
use eks_role_mapper::arn::RoleArn;
use eks_role_mapper::held::Association;
use eks_role_mapper::ownership::{EntryOwner, OWNER_TAG};
use eks_role_mapper::ports::{Cloud, ClusterInfo, StoreError};
use eks_role_mapper::rbac::{At, Binding};
use eks_role_mapper::AuthMode;
use eks_role_mapper::{Error, Result};

/// The port of one region of a [`Memory`].
#[derive(Clone)]
pub struct Region {
    memory: Memory,
    region: String,
}

impl Region {
    pub(super) fn new(memory: Memory, region: &str) -> Region {
        Region {
            memory,
            region: region.to_string(),
        }
    }

    /// The world, seen from this region.
    fn world(&self) -> InRegion<'_> {
        InRegion {
            world: self.memory.world(),
            region: &self.region,
        }
    }
}

impl Cloud for Region {
    async fn list_clusters(&self) -> Result<Vec<String>> {
        let stalled = self.world().stalled.contains("ListClusters");
        if stalled {
            std::future::pending::<()>().await;
        }
        let w = self.world();
        Ok(w.clusters
            .iter()
            .filter(|(_, c)| c.region == self.region)
            .map(|(name, _)| name.clone())
            .collect())
    }

    async fn describe(&self, cluster: &str) -> Result<Option<ClusterInfo>> {
        let mut w = self.world();
        w.check("DescribeCluster", cluster)?;
        let region = &self.region;
        Ok(w.clusters
            .get(cluster)
            .filter(|c| &c.region == region)
            .map(|c| ClusterInfo {
                name: cluster.to_string(),
                arn: format!("arn:aws:eks:{region}:111122223333:cluster/{cluster}"),
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
        kubernetes_groups: &[String],
        username: Option<&str>,
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
                groups: kubernetes_groups.to_vec(),
                username: username.map(str::to_string),
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
                Some(e) => EntryOwner::of(Some(&e.tags), &e.kind, &entry_arn(cluster, role), owner)
                    .with_identity(e.groups.clone(), e.username.clone()),
            },
        )
    }

    async fn disassociate_policy(&self, cluster: &str, role: &RoleArn, policy: &str) -> Result<()> {
        let mut w = self.world();
        let entries = w.entries("DisassociateAccessPolicy", cluster)?;
        if let Some(e) = entries.get_mut(role.as_str()) {
            e.namespaces.remove(policy);
            if e.policies.remove(policy) {
                w.writes.push(format!("DisassociateAccessPolicy {cluster}"));
            }
        }
        Ok(())
    }

    async fn associate_policy(
        &self,
        cluster: &str,
        role: &RoleArn,
        policy: &str,
        namespaces: &[String],
    ) -> Result<()> {
        let mut w = self.world();
        let entry = w
            .entries("AssociateAccessPolicy", cluster)?
            .get_mut(role.as_str())
            .ok_or_else(|| Error::Aws {
                operation: "AssociateAccessPolicy".into(),
                message: "ResourceNotFoundException: no access entry".into(),
            })?;
        entry.policies.insert(policy.to_string());
        if namespaces.is_empty() {
            entry.namespaces.remove(policy);
        } else {
            entry
                .namespaces
                .insert(policy.to_string(), namespaces.to_vec());
        }
        w.writes.push(format!("AssociateAccessPolicy {cluster}"));
        Ok(())
    }

    async fn associations(&self, cluster: &str, role: &RoleArn) -> Result<Vec<Association>> {
        let mut w = self.world();
        Ok(w.entries("ListAssociatedAccessPolicies", cluster)?
            .get(role.as_str())
            .map(|e| {
                e.policies
                    .iter()
                    .map(|p| Association {
                        policy: p.clone(),
                        namespaces: e.namespaces.get(p).cloned().unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn tag_entry(
        &self,
        cluster: &str,
        entry_arn: &str,
        tags: &[(String, String)],
    ) -> Result<()> {
        let mut w = self.world();
        let entry = entry_by_arn(w.entries("TagResource", cluster)?, cluster, entry_arn)?;
        entry.tags.extend(tags.iter().cloned());
        w.writes.push(format!("TagResource {cluster}"));
        Ok(())
    }

    async fn untag_entry(&self, cluster: &str, entry_arn: &str, keys: &[String]) -> Result<()> {
        let mut w = self.world();
        let entry = entry_by_arn(w.entries("UntagResource", cluster)?, cluster, entry_arn)?;
        entry.tags.retain(|k, _| !keys.contains(k));
        w.writes.push(format!("UntagResource {cluster}"));
        Ok(())
    }

    async fn update_access_entry(
        &self,
        cluster: &str,
        role: &RoleArn,
        kubernetes_groups: &[String],
        username: Option<&str>,
    ) -> Result<()> {
        let mut w = self.world();
        let entry = w
            .entries("UpdateAccessEntry", cluster)?
            .get_mut(role.as_str())
            .ok_or_else(|| Error::Aws {
                operation: "UpdateAccessEntry".into(),
                message: "ResourceNotFoundException: no access entry".into(),
            })?;
        entry.groups = kubernetes_groups.to_vec();
        if let Some(u) = username {
            entry.username = Some(u.to_string());
        }
        w.writes.push(format!("UpdateAccessEntry {cluster}"));
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
            w.set_aws_auth(&info.name, &[(eks_role_mapper::aws_auth::MAP_ROLES, &text)]);
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

    async fn read_binding(
        &self,
        info: &ClusterInfo,
        at: &At,
    ) -> Result<Option<Binding>, StoreError> {
        let mut w = self.world();
        let c = w.cluster("k8s:get", &info.name)?;
        Ok(c.bindings.get(at).cloned())
    }

    async fn owned_bindings(
        &self,
        info: &ClusterInfo,
        owner: &str,
    ) -> Result<Vec<Binding>, StoreError> {
        let mut w = self.world();
        let c = w.cluster("k8s:list", &info.name)?;
        let mine = |b: &&Binding| b.owner.as_deref() == Some(owner);
        Ok(c.bindings.values().filter(mine).cloned().collect())
    }

    async fn write_binding(
        &self,
        info: &ClusterInfo,
        binding: &Binding,
    ) -> Result<bool, StoreError> {
        let mut w = self.world();
        w.resource_version += 1;
        let rv = w.resource_version.to_string();
        let c = w.cluster("k8s:write", &info.name)?;
        let current = c
            .bindings
            .get(&binding.at)
            .map(|b| b.resource_version.clone());
        match (&binding.resource_version, current) {
            (None, Some(_)) => return Err(StoreError::Conflict),
            (Some(_), None) => return Ok(false),
            (Some(mine), Some(theirs)) if Some(mine) != theirs.as_ref() => {
                return Err(StoreError::Conflict)
            }
            _ => {}
        }
        let stored = Binding {
            resource_version: Some(rv),
            ..binding.clone()
        };
        c.bindings.insert(binding.at.clone(), stored);
        w.writes
            .push(format!("k8s:write {} {}", info.name, binding.at.shown()));
        Ok(true)
    }

    async fn delete_binding(&self, info: &ClusterInfo, at: &At) -> Result<bool, StoreError> {
        let mut w = self.world();
        let c = w.cluster("k8s:delete", &info.name)?;
        let gone = c.bindings.remove(at).is_some();
        if gone {
            w.writes
                .push(format!("k8s:delete {} {}", info.name, at.shown()));
        }
        Ok(gone)
    }
}

/// The in-memory stand-in for an access entry's ARN.
/// The entry an access-entry ARN of [`entry_arn`] names.
fn entry_by_arn<'e>(
    entries: &'e mut BTreeMap<String, Entry>,
    cluster: &str,
    arn: &str,
) -> Result<&'e mut Entry> {
    entries
        .iter_mut()
        .find(|(p, _)| arn == format!("{cluster}/{p}"))
        .map(|(_, e)| e)
        .ok_or_else(|| Error::Aws {
            operation: "TagResource".into(),
            message: "NotFoundException".into(),
        })
}

fn entry_arn(cluster: &str, role: &RoleArn) -> String {
    format!("{cluster}/{role}")
}

fn unreachable(cluster: &str) -> Error {
    Error::KubeUnreachable {
        operation: "get aws-auth".into(),
        message: format!("cluster {cluster}: connection refused"),
    }
}
