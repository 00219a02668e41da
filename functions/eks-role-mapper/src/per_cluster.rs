//! The work on one cluster: grant the role there with the mechanism the cluster's authentication
//! mode allows, or revoke what this resource's owner key says it created. A request runs this on
//! each of its clusters, a bounded number at a time.

use std::future::Future;
use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt};
use tokio::sync::OnceCell;

use crate::arn::RoleArn;
use crate::clients::Clients;
use crate::decision::{decide, Decision, Mechanism};
use crate::eks::{self, ClusterInfo, EntryOwner};
use crate::error::{Error, Result};
use crate::kube_store::ClusterApi;
use crate::physical_id::Recorded;
use crate::properties::{Clusters, Method, Properties};
use crate::token;

/// How many clusters are worked on at once: well inside EKS's request rates, and 100 clusters
/// still finish in a few seconds.
pub const PARALLEL: usize = 8;

/// What a grant did on one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Granted {
    pub cluster: String,
    pub arn: String,
    pub mechanism: Mechanism,
    pub adopted: bool,
}

/// One request's target: the role, its owner key, the region, and (once, shared by every
/// cluster) the credentials for the Kubernetes API.
pub struct Scope<'a> {
    pub clients: &'a Clients,
    /// None on a Delete whose properties no longer parse: then defaults apply.
    pub props: Option<&'a Properties>,
    pub region: String,
    pub role: RoleArn,
    pub owner: String,
    eks: aws_sdk_eks::Client,
    kube: OnceCell<(aws_credential_types::Credentials, String)>,
}

impl<'a> Scope<'a> {
    /// The scope of the resource a PhysicalResourceId records.
    pub fn new(clients: &'a Clients, props: Option<&'a Properties>, rec: &Recorded) -> Scope<'a> {
        Scope {
            eks: clients.eks(&rec.region),
            clients,
            props,
            region: rec.region.clone(),
            role: rec.role.clone(),
            owner: rec.owner.clone(),
            kube: OnceCell::new(),
        }
    }

    /// The EKS client of the region.
    pub fn eks(&self) -> &aws_sdk_eks::Client {
        &self.eks
    }

    /// The cluster names a selection stands for now (`*`: every cluster of the region).
    pub async fn resolve(&self, clusters: &Clusters) -> Result<Vec<String>> {
        match clusters {
            Clusters::Named(names) => Ok(names.clone()),
            Clusters::All => eks::list_clusters(&self.eks).await,
        }
    }

    /// The identity used for the Kubernetes API and its credentials, assumed once per request.
    async fn kube_credentials(&self) -> Result<&(aws_credential_types::Credentials, String)> {
        self.kube
            .get_or_try_init(|| async {
                match self.props.and_then(|p| p.cluster_admin_role.as_ref()) {
                    Some(admin) => {
                        let mut req = self
                            .clients
                            .sts(&self.region)
                            .assume_role()
                            .role_arn(admin.as_str())
                            .role_session_name("eks-role-mapper");
                        if let Some(x) = self
                            .props
                            .and_then(|p| p.cluster_admin_external_id.as_ref())
                        {
                            req = req.external_id(x);
                        }
                        let out = req
                            .send()
                            .await
                            .map_err(|e| eks::aws_error("AssumeRole ClusterAdminRoleArn", e))?;
                        let c = out.credentials.ok_or_else(|| Error::Aws {
                            operation: "AssumeRole".into(),
                            message: "no credentials returned".into(),
                        })?;
                        let creds = aws_credential_types::Credentials::new(
                            c.access_key_id,
                            c.secret_access_key,
                            Some(c.session_token),
                            None,
                            "assume-role",
                        );
                        Ok((creds, admin.as_str().to_string()))
                    }
                    None => Ok((
                        self.clients.own_credentials().await?,
                        "the function's role".to_string(),
                    )),
                }
            })
            .await
    }

    /// A Kubernetes client for one cluster, with a token signed for it.
    pub async fn cluster_api(&self, cluster: &str, info: &ClusterInfo) -> Result<ClusterApi> {
        let (creds, identity) = self.kube_credentials().await?;
        let token = token::bearer_token(creds, &self.region, cluster, SystemTime::now())?;
        ClusterApi::new(cluster, info, token, identity.clone())
    }

    /// Grants the role on one cluster. None: skipped, because `*` chose it and it is not ACTIVE.
    /// `held_before`: an in-place Update, and this cluster was already in the resource's list.
    pub async fn grant(
        &self,
        props: &Properties,
        cluster: &str,
        held_before: bool,
    ) -> Result<Option<Granted>> {
        let info = eks::describe(&self.eks, cluster).await?.ok_or_else(|| {
            Error::invalid(
                "ClusterName",
                format!("no EKS cluster named {cluster} in {}", self.region),
            )
        })?;
        if props.clusters == Clusters::All && info.status != "ACTIVE" {
            tracing::info!(cluster, status = %info.status, "not ACTIVE, skipped");
            return Ok(None);
        }
        let Decision {
            mechanism,
            switch_mode,
        } = decide(
            cluster,
            &info.authentication_mode,
            props.method,
            props.enable_access_entries,
        )?;
        tracing::info!(cluster, mode = %info.authentication_mode, mechanism = mechanism.as_str(), switch_mode, "decided");
        if switch_mode {
            eks::enable_access_entries(&self.eks, cluster, Duration::from_millis(500)).await?;
            tracing::info!(cluster, "cluster switched to API_AND_CONFIG_MAP");
        }
        let adopted = match mechanism {
            Mechanism::AccessEntry => {
                let adopted =
                    eks::create_access_entry(&self.eks, cluster, &self.role, &self.owner).await?;
                eks::associate_cluster_policy(
                    &self.eks,
                    cluster,
                    &self.role,
                    &props.access_policy_arn,
                )
                .await?;
                if held_before && !adopted && mode_after(&info, switch_mode) == HYBRID {
                    // This resource held the cluster without an access entry: its grant was in
                    // aws-auth (the cluster was CONFIG_MAP then). The entry now stands in for it.
                    self.remove_from_aws_auth_if_reachable(cluster, &info).await;
                }
                adopted
            }
            Mechanism::AwsAuth => {
                let api = self.cluster_api(cluster, &info).await?;
                let (change, adopted, conflicts) = api
                    .upsert(&self.role, &props.username, &props.groups, &self.owner)
                    .await?;
                tracing::info!(cluster, change = ?change, conflicts, "aws-auth written");
                adopted
            }
        };
        tracing::info!(cluster, adopted, "access granted");
        Ok(Some(Granted {
            cluster: cluster.to_string(),
            arn: info.arn,
            mechanism,
            adopted,
        }))
    }

    /// Where a cluster may keep the mapping this resource made.
    pub fn places(&self, mode: &str) -> Places {
        let method = self.props.map(|p| p.method).unwrap_or(Method::Auto);
        Places {
            access_entry: mode != "CONFIG_MAP",
            aws_auth: mode == "CONFIG_MAP" || (method == Method::AwsAuth && mode != "API"),
            aws_auth_if_switched: mode == HYBRID && method == Method::Auto,
        }
    }

    /// Removes what this resource created on one cluster; a cluster, entry or ConfigMap that is
    /// gone is fine. Returns whether anything was removed.
    pub async fn revoke(&self, cluster: &str) -> Result<bool> {
        let Some(info) = eks::describe(&self.eks, cluster).await? else {
            tracing::info!(cluster, "cluster is gone, nothing to remove");
            return Ok(false);
        };
        let places = self.places(&info.authentication_mode);
        let mut removed = false;
        let mut entry = EntryOwner::Missing;
        if places.access_entry {
            entry = eks::access_entry_owner(&self.eks, cluster, &self.role, &self.owner).await?;
            if entry == EntryOwner::Ours {
                removed |= eks::delete_access_entry(&self.eks, cluster, &self.role).await?;
                tracing::info!(cluster, "access entry deleted");
            }
        }
        if places.aws_auth {
            let api = self.cluster_api(cluster, &info).await?;
            let gone = api.remove(&self.role, &self.owner).await?;
            tracing::info!(cluster, removed = gone, "aws-auth checked");
            removed |= gone;
        } else if places.aws_auth_if_switched && entry != EntryOwner::Ours {
            removed |= self.remove_from_aws_auth_if_reachable(cluster, &info).await;
        }
        Ok(removed)
    }

    /// The look into aws-auth of a cluster switched from CONFIG_MAP after the grant: bounded in
    /// time, and passed over (logged) when the Kubernetes API cannot be reached or read, since a
    /// cluster that never needed aws-auth may have no network path or admin identity for us.
    async fn remove_from_aws_auth_if_reachable(&self, cluster: &str, info: &ClusterInfo) -> bool {
        let look = async {
            let api = self.cluster_api(cluster, info).await?;
            api.remove(&self.role, &self.owner).await
        };
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

/// Where a cluster may keep the mapping this resource made: an access entry wherever the mode
/// has them, aws-auth where the mode is CONFIG_MAP or the method asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Places {
    pub access_entry: bool,
    pub aws_auth: bool,
    /// An API_AND_CONFIG_MAP cluster under `Auto` was CONFIG_MAP at the grant if it holds no
    /// access entry of ours, and aws-auth was the place then: looked at, as far as it can be.
    pub aws_auth_if_switched: bool,
}

/// The mode in which a cluster reads both access entries and aws-auth.
pub const HYBRID: &str = "API_AND_CONFIG_MAP";

/// The cluster's authentication mode once the grant's own switch (if any) is done: the grant and
/// the dry run decide on it alike.
pub fn mode_after(info: &ClusterInfo, switched: bool) -> &str {
    if switched {
        HYBRID
    } else {
        &info.authentication_mode
    }
}

/// How long the look into a switched cluster's aws-auth may take.
pub const SWITCHED_LOOK: Duration = Duration::from_secs(8);

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

/// A Reason for clusters that failed: each named with its error, cut to fit CloudFormation.
pub fn failure_reason(total: usize, failed: &[(&str, Error)], undo: &str) -> String {
    let each: Vec<String> = failed.iter().map(|(c, e)| format!("{c}: {e}")).collect();
    format!(
        "{} of {total} clusters failed: {}{undo}",
        failed.len(),
        each.join("; ")
    )
}
