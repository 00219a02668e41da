//! The work on one cluster: grant the role there with the mechanism the cluster's authentication
//! mode allows, or revoke what this resource's owner key says it created. A request runs this on
//! each of its clusters, a bounded number at a time. Written once, over the port: the live run,
//! the dry run and the in-memory tests all run exactly this.

use std::future::Future;
use std::time::Duration;

use futures::stream::{self, StreamExt};

use crate::app::aws_auth_store;
use crate::app::bindings_store::{self, Written};
use crate::domain::access::AccessLevel;
use crate::domain::arn::RoleArn;
use crate::domain::aws_auth::Change;
use crate::domain::decision::{decide, places, replaces_aws_auth_entry, Mechanism};
use crate::domain::error::{Error, Result};
use crate::domain::ownership::{EntryOwner, STANDARD};
use crate::domain::properties::{Clusters, Method, Properties};
use crate::domain::rbac;
use crate::ports::{Cloud, ClusterInfo};

/// How many clusters are worked on at once: well inside EKS's request rates, and 100 clusters
/// still finish in a few seconds.
pub const PARALLEL: usize = 8;

/// How long the look into a switched cluster's aws-auth may take.
pub const SWITCHED_LOOK: Duration = Duration::from_secs(8);

/// What a grant did on one cluster.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Granted {
    pub cluster: String,
    pub arn: String,
    pub mechanism: Mechanism,
    pub adopted: bool,
    /// Whether anything was written: false when the grant stood already (what a reconcile
    /// with nothing to repair finds).
    pub changed: bool,
}

/// One request's target on one region: the role, its owner key, and the port.
pub struct Scope<'a, K> {
    pub cloud: &'a K,
    /// None on a Delete whose properties no longer parse: then defaults apply.
    pub props: Option<&'a Properties>,
    pub region: &'a str,
    pub role: &'a RoleArn,
    pub owner: &'a str,
    /// A Kubernetes API that never lets this identity in fails a revoke instead of being passed
    /// over: the caller then tries the identity that wrote there.
    pub strict: bool,
}

impl<K: Cloud> Scope<'_, K> {
    /// The cluster names a selection stands for now (`*`: every cluster of the region).
    pub async fn resolve(&self, clusters: &Clusters) -> Result<Vec<String>> {
        match clusters {
            Clusters::Named(names) => Ok(names.clone()),
            Clusters::All => self.cloud.list_clusters().await,
        }
    }

    /// Grants the role on one cluster. None: skipped (`*` chose it and it is not ACTIVE, or it
    /// was listed before and is gone). `held_before`: an in-place Update that listed it before.
    pub async fn grant(
        &self,
        props: &Properties,
        cluster: &str,
        held_before: bool,
    ) -> Result<Option<Granted>> {
        let Some(info) = self.cloud.describe(cluster).await? else {
            if held_before {
                tracing::warn!(cluster, "deleted since it was listed: nothing to grant, passed over (failing would fail a rollback)");
                return Ok(None);
            }
            return Err(Error::invalid(
                "ClusterName",
                format!("no EKS cluster named {cluster} in {}", self.region),
            ));
        };
        if props.clusters == Clusters::All && !info.is_active() {
            tracing::info!(cluster, status = %info.status, "not ACTIVE, skipped");
            return Ok(None);
        }
        self.grant_on(props, &info, held_before).await.map(Some)
    }

    /// Grants the role on a cluster already described.
    pub async fn grant_on(
        &self,
        props: &Properties,
        info: &ClusterInfo,
        held_before: bool,
    ) -> Result<Granted> {
        let cluster = info.name.as_str();
        crate::domain::decision::below_aws_auth(&props.access, &info.mode, cluster)?;
        let decision = decide(
            cluster,
            &info.mode,
            props.method,
            props.enable_access_entries,
        )?;
        tracing::info!(cluster, mode = %info.mode, mechanism = decision.mechanism.as_str(), switch_mode = decision.switch_mode, "decided");
        if decision.switch_mode {
            self.cloud.enable_access_entries(cluster).await?;
            tracing::info!(cluster, "cluster switched to API_AND_CONFIG_MAP");
        }
        let (adopted, changed) = match decision.mechanism {
            Mechanism::AccessEntry => {
                // An entry of the role may be there already: ours (a retried Create), adopted,
                // or of a type that cannot carry access policies (refused before any write).
                let (existed, adopted, associated) = match self
                    .cloud
                    .access_entry_owner(cluster, self.role, self.owner)
                    .await?
                {
                    EntryOwner::Missing => {
                        let groups = &props.access.kubernetes_groups;
                        let raced = self
                            .cloud
                            .create_access_entry(
                                cluster,
                                self.role,
                                self.owner,
                                groups,
                                props.entry_username.as_deref(),
                            )
                            .await?;
                        // Made meanwhile by someone else: adopted, and recorded as any adopted
                        // entry before the first write.
                        let adopted = match raced {
                            true => self.cloud.access_entry_owner(cluster, self.role, self.owner).await?,
                            false => EntryOwner::Missing,
                        };
                        match adopted {
                            EntryOwner::Other { kind, arn, tags } if kind == STANDARD => {
                                let associated = self.adopt_entry(cluster, &arn, &tags, props).await?;
                                (true, true, associated)
                            }
                            _ => {
                                self.associate(cluster, props, &props.access_policy_arn)
                                    .await?;
                                (raced, raced, true)
                            }
                        }
                    }
                    EntryOwner::Ours { groups, username } => {
                        let identity = (groups.as_deref(), username.as_deref());
                        let changed = self
                            .converge_ours(cluster, props, held_before, identity)
                            .await?;
                        (true, false, changed)
                    }
                    EntryOwner::Other { kind, .. } if kind != STANDARD => {
                        return Err(Error::Unsupported(format!(
                            "cluster {cluster}: the role already has an access entry of type {kind}, which cannot carry access policies; delete it or use another role"
                        )))
                    }
                    EntryOwner::Other { arn, tags, .. } => {
                        let associated = self.adopt_entry(cluster, &arn, &tags, props).await?;
                        (true, true, associated)
                    }
                };
                if replaces_aws_auth_entry(decision, &info.mode, held_before, existed) {
                    self.remove_from_aws_auth_if_reachable(info).await;
                }
                (adopted, !existed || associated)
            }
            Mechanism::AwsAuth => {
                // Below cluster-admin: the bindings first, so the group means its level before
                // aws-auth maps the role to it; bindings no longer wanted go last.
                let wanted = rbac::wanted(&props.access, self.owner);
                let bindings = if wanted.is_empty() && !held_before {
                    Written::default()
                } else {
                    bindings_store::write(self.cloud, info, self.owner, &wanted).await?
                };
                let done = aws_auth_store::upsert(
                    self.cloud,
                    info,
                    self.role,
                    &props.username,
                    &aws_auth_groups(props, self.owner),
                    self.owner,
                )
                .await?;
                tracing::info!(cluster, change = ?done.change, conflicts = done.conflicts, "aws-auth written");
                let unbound = bindings_store::delete(self.cloud, info, &bindings.stale).await?;
                (
                    done.adopted,
                    done.change != Change::Unchanged || bindings.changed || unbound,
                )
            }
        };
        let changed = changed || decision.switch_mode;
        tracing::info!(cluster, adopted, changed, "access granted");
        Ok(Granted {
            cluster: cluster.to_string(),
            arn: info.arn.clone(),
            mechanism: decision.mechanism,
            adopted,
            changed,
        })
    }

    /// Associates `policy` at the scope of the properties' namespaces (the cluster when none).
    async fn associate(&self, cluster: &str, props: &Properties, policy: &str) -> Result<()> {
        let namespaces = &props.access.namespaces;
        self.cloud
            .associate_policy(cluster, self.role, policy, namespaces)
            .await
    }

    /// Removes what this resource created on one cluster; a cluster, entry or ConfigMap that is
    /// gone is fine. Returns whether anything was removed.
    pub async fn revoke(&self, cluster: &str) -> Result<bool> {
        let Some(info) = self.cloud.describe(cluster).await? else {
            tracing::info!(cluster, "cluster is gone, nothing to remove");
            return Ok(false);
        };
        let method = self.props.map_or(Method::Auto, |p| p.method);
        let places = places(&info.mode, method);
        let mut removed = false;
        let mut entry = EntryOwner::Missing;
        if places.access_entry {
            entry = self
                .cloud
                .access_entry_owner(cluster, self.role, self.owner)
                .await?;
            match &entry {
                EntryOwner::Ours { .. } => {
                    removed |= self.cloud.delete_access_entry(cluster, self.role).await?;
                    tracing::info!(cluster, "access entry deleted");
                }
                EntryOwner::Other { arn, tags, .. } => {
                    removed |= self.give_back(cluster, arn, tags).await?;
                }
                EntryOwner::Missing => {}
            }
        }
        if places.aws_auth {
            let gone = match aws_auth_store::remove(self.cloud, &info, self.role, self.owner).await
            {
                Ok(gone) => gone,
                // We write here only through this API as this identity: never let in (401, no
                // connection), nothing of ours can be here (unless it was unmapped since).
                Err(e) if e.never_let_in() && !self.strict => {
                    tracing::warn!(cluster, error = %e, "passed over: the Kubernetes API never let this identity in, so nothing of this resource can have been written there (an entry written before the identity lost its access would remain)");
                    return Ok(removed);
                }
                Err(e) => return Err(e),
            };
            tracing::info!(cluster, removed = gone, "aws-auth checked");
            removed |= gone;
            let below_admin = self
                .props
                .is_none_or(|p| p.access.level != AccessLevel::ClusterAdmin);
            if below_admin {
                removed |= bindings_store::delete_all(self.cloud, &info, self.owner).await?;
            }
        } else if places.aws_auth_if_switched && !entry.is_ours() {
            removed |= self.remove_from_aws_auth_if_reachable(&info).await;
        }
        Ok(removed)
    }

    /// The look into aws-auth of a cluster switched from CONFIG_MAP after the grant: bounded in
    /// time, and passed over (logged) when the Kubernetes API cannot be reached or read, since a
    /// cluster that never needed aws-auth may have no network path or admin identity for us.
    async fn remove_from_aws_auth_if_reachable(&self, info: &ClusterInfo) -> bool {
        let cluster = info.name.as_str();
        let look = aws_auth_store::remove(self.cloud, info, self.role, self.owner);
        match tokio::time::timeout(SWITCHED_LOOK, look).await {
            Ok(Ok(gone)) => {
                tracing::info!(
                    cluster,
                    removed = gone,
                    "aws-auth checked (cluster switched from CONFIG_MAP?)"
                );
                gone
            }
            Ok(Err(e)) => {
                tracing::warn!(cluster, error = %e, "aws-auth not checked; an entry made there before a switch from CONFIG_MAP would remain");
                false
            }
            Err(_) => {
                tracing::warn!(cluster, "aws-auth not checked within {SWITCHED_LOOK:?}; an entry made there before a switch from CONFIG_MAP would remain");
                false
            }
        }
    }
}

/// Whether `arn` is the access policy of one of the levels (the ones an Update swaps).
pub(crate) fn is_level_policy(arn: &str) -> bool {
    AccessLevel::ALL.iter().any(|l| {
        arn.strip_suffix(l.policy_name())
            .is_some_and(|head| head.ends_with(":eks::aws:cluster-access-policy/"))
    })
}

/// The groups aws-auth maps the role to: `Groups` (default `system:masters`) for cluster-admin,
/// else the group our bindings give the level to; then the extra `KubernetesGroups`.
fn aws_auth_groups(props: &Properties, owner: &str) -> Vec<String> {
    let mut groups = match props.access.level {
        AccessLevel::ClusterAdmin => props.groups.clone(),
        _ => vec![rbac::group_of(owner)],
    };
    for g in &props.access.kubernetes_groups {
        if !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    groups
}

/// Runs `work` on every cluster, at most [`PARALLEL`] at once; results in the clusters' order.
pub async fn each<'s, T, F, Fut>(clusters: &'s [String], work: F) -> Vec<(&'s str, Result<T>)>
where
    F: Fn(&'s str) -> Fut,
    Fut: Future<Output = Result<T>> + 's,
{
    // The futures are made up front (they are lazy) so the stream holds no closure: a closure
    // there would make the whole request's future lose `Send` to a higher-ranked lifetime.
    let futures: Vec<_> = clusters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let fut = work(c.as_str());
            async move { (i, c.as_str(), fut.await) }
        })
        .collect();
    let mut out: Vec<(usize, &str, Result<T>)> = stream::iter(futures)
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, c, r)| (c, r)).collect()
}
