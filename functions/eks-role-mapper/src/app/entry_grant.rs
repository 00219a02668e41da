//! The grant through an access entry that stands already: our own (a retried Create, a
//! reconcile, an Update), brought in line with the properties; or an adopted one, whose
//! associations are recorded before the first write and given back exactly on Delete (`held`).

use std::collections::{BTreeSet, HashMap};

use crate::app::per_cluster::{is_level_policy, Scope};
use crate::domain::access::AccessLevel;
use crate::domain::error::Result;
use crate::domain::held::{self, Association};
use crate::domain::ownership::associated_tag;
use crate::domain::properties::Properties;
use crate::ports::Cloud;

impl<K: Cloud> Scope<'_, K> {
    /// The association the properties ask for.
    fn wanted(props: &Properties) -> Association {
        Association {
            policy: props.access_policy_arn.clone(),
            namespaces: props.access.namespaces.clone(),
        }
    }

    /// Writes a plan: the new association first, so the new grant stands before the old goes.
    async fn apply(&self, cluster: &str, plan: &held::Plan) -> Result<bool> {
        if let Some(a) = &plan.associate {
            self.cloud
                .associate_policy(cluster, self.role, &a.policy, &a.namespaces)
                .await?;
        }
        for old in &plan.disassociate {
            self.cloud
                .disassociate_policy(cluster, self.role, old)
                .await?;
            tracing::info!(cluster, policy = %old, "the previous level's access policy taken away");
        }
        Ok(plan.associate.is_some() || !plan.disassociate.is_empty())
    }

    /// Our own entry: the level's policy associated when missing or at another scope, and again
    /// on an in-place Update below cluster-admin; then another level's policy taken away; then
    /// its groups and username brought in line. Answers whether it wrote.
    pub(crate) async fn converge_ours(
        &self,
        cluster: &str,
        props: &Properties,
        held_before: bool,
        identity: (Option<&[String]>, Option<&str>),
    ) -> Result<bool> {
        let wanted = Self::wanted(props);
        let current = self.cloud.associations(cluster, self.role).await?;
        let mut plan = held::plan(&wanted, &current, None, is_level_policy)?;
        if held_before && props.access.level != AccessLevel::ClusterAdmin {
            plan.associate = Some(wanted);
        }
        let changed = self.apply(cluster, &plan).await?;
        let (groups, username) = identity;
        let Some((groups, username)) = identity_update(props, groups, username) else {
            return Ok(changed);
        };
        self.cloud
            .update_access_entry(cluster, self.role, &groups, username.as_deref())
            .await?;
        tracing::info!(
            cluster,
            "the access entry's groups or username brought in line"
        );
        Ok(true)
    }

    /// Grants through an entry that was there before. What it held is recorded on it (in one
    /// TagResource) before the first write and never rewritten, so Delete gives back exactly
    /// that after any sequence of Updates; what was there is never taken away. A plan that would
    /// change what could not be given back is refused before any write. Answers whether it wrote.
    pub(crate) async fn adopt_entry(
        &self,
        cluster: &str,
        entry_arn: &str,
        tags: &HashMap<String, String>,
        props: &Properties,
    ) -> Result<bool> {
        let current = self.cloud.associations(cluster, self.role).await?;
        let recorded = held::decode(self.owner, tags)?;
        // An older version recorded only the association it made: what was there is the rest.
        let legacy = associated_tag(self.owner);
        let legacy_policy = tags.get(&legacy);
        let before: Vec<Association> = match &recorded {
            Some(h) => h.clone(),
            None => current
                .iter()
                .filter(|a| Some(&a.policy) != legacy_policy)
                .cloned()
                .collect(),
        };
        let plan = held::plan(
            &Self::wanted(props),
            &current,
            Some(&before),
            is_level_policy,
        )?;
        let writes = plan.associate.is_some() || !plan.disassociate.is_empty();
        if recorded.is_none() && (writes || legacy_policy.is_some()) {
            let record = held::encode(self.owner, &before);
            held::fits(tags.len() - usize::from(legacy_policy.is_some()), &record)?;
            self.cloud.tag_entry(cluster, entry_arn, &record).await?;
            if legacy_policy.is_some() {
                self.cloud
                    .untag_entry(cluster, entry_arn, std::slice::from_ref(&legacy))
                    .await?;
            }
            tracing::info!(
                cluster,
                associations = before.len(),
                "what the adopted access entry held is recorded on it"
            );
        }
        self.apply(cluster, &plan).await
    }

    /// Gives an adopted entry back exactly what it held (Delete), and removes the record.
    /// Answers whether anything was written.
    pub(crate) async fn give_back(
        &self,
        cluster: &str,
        entry_arn: &str,
        tags: &HashMap<String, String>,
    ) -> Result<bool> {
        let legacy = associated_tag(self.owner);
        let held = match held::decode(self.owner, tags)? {
            Some(h) => h,
            None => {
                let Some(policy) = tags.get(&legacy) else {
                    return Ok(false);
                };
                // An older version's record: its one association taken back.
                self.cloud
                    .disassociate_policy(cluster, self.role, policy)
                    .await?;
                self.cloud
                    .untag_entry(cluster, entry_arn, std::slice::from_ref(&legacy))
                    .await?;
                return Ok(true);
            }
        };
        let current = self.cloud.associations(cluster, self.role).await?;
        let own = self.props.map(|p| p.access_policy_arn.as_str());
        let plan = held::restore(&held, &current, |p| is_level_policy(p) || Some(p) == own);
        for p in &plan.disassociate {
            self.cloud
                .disassociate_policy(cluster, self.role, p)
                .await?;
        }
        for a in &plan.associate {
            self.cloud
                .associate_policy(cluster, self.role, &a.policy, &a.namespaces)
                .await?;
        }
        let mut keys = held::keys(self.owner, tags);
        if tags.contains_key(&legacy) {
            keys.push(legacy);
        }
        self.cloud.untag_entry(cluster, entry_arn, &keys).await?;
        tracing::info!(
            cluster,
            taken = plan.disassociate.len(),
            put_back = plan.associate.len(),
            "the adopted access entry holds again what it held"
        );
        Ok(true)
    }
}

/// The UpdateAccessEntry our entry needs, or None: the groups when they differ from
/// `KubernetesGroups` (as sets), the username only when `Username` is given and differs (EKS's
/// own is kept otherwise). `groups` None: not known (a dry run's own create), nothing to do.
pub fn identity_update(
    props: &Properties,
    groups: Option<&[String]>,
    username: Option<&str>,
) -> Option<(Vec<String>, Option<String>)> {
    let groups = groups?;
    let wanted = &props.access.kubernetes_groups;
    let set = |g: &[String]| g.iter().cloned().collect::<BTreeSet<String>>();
    let new_name = props
        .entry_username
        .clone()
        .filter(|u| Some(u.as_str()) != username);
    (set(groups) != set(wanted) || new_name.is_some()).then(|| (wanted.clone(), new_name))
}
