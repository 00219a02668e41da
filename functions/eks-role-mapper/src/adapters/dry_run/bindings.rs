//! The dry run's RBAC bindings: reads made (and remembered), writes recorded with the binding
//! they would store, so the plan shows each RoleBinding or ClusterRoleBinding it would write.

use super::recorder::Recording;
use crate::domain::rbac::{At, Binding};
use crate::ports::{Cloud, ClusterInfo, StoreError};

impl<K: Cloud> Recording<K> {
    pub(super) async fn dry_read_binding(
        &self,
        info: &ClusterInfo,
        at: &At,
    ) -> Result<Option<Binding>, StoreError> {
        if let Some(b) = self.seen().bindings.get(&(info.name.clone(), at.clone())) {
            return Ok(b.clone());
        }
        self.record("k8s:get", Some(&info.name), false, Some(&at.shown()));
        self.inner.read_binding(info, at).await
    }

    pub(super) async fn dry_owned_bindings(
        &self,
        info: &ClusterInfo,
        owner: &str,
    ) -> Result<Vec<Binding>, StoreError> {
        self.record(
            "k8s:list",
            Some(&info.name),
            false,
            Some("RBAC bindings of ours"),
        );
        let mut out = self.inner.owned_bindings(info, owner).await?;
        let seen = self.seen();
        let here = seen.bindings.iter().filter(|((c, _), _)| c == &info.name);
        for ((_, at), b) in here {
            out.retain(|o| &o.at != at);
            out.extend(b.clone().filter(|b| b.owner.as_deref() == Some(owner)));
        }
        Ok(out)
    }

    /// A binding's write, recorded; `Ok(false)` where the real write would find no namespace
    /// (404), which the dry run reads first, so it fails where the real run fails.
    pub(super) async fn dry_write_binding(
        &self,
        info: &ClusterInfo,
        b: &Binding,
    ) -> Result<bool, StoreError> {
        let create = b.resource_version.is_none();
        if let Some(ns) = b.at.namespace.as_deref().filter(|_| create) {
            self.record(
                "k8s:get",
                Some(&info.name),
                false,
                Some(&format!("namespace {ns}")),
            );
            if !self.inner.namespace_exists(info, ns).await? {
                return Ok(false);
            }
        }
        let detail = format!(
            "{} -> ClusterRole {} for {}",
            b.at.shown(),
            b.cluster_role,
            b.groups.join(", ")
        );
        let op = if create { "k8s:create" } else { "k8s:update" };
        self.record(op, Some(&info.name), true, Some(&detail));
        let stored = Binding {
            resource_version: Some("dry-run".into()),
            ..b.clone()
        };
        self.seen()
            .bindings
            .insert((info.name.clone(), b.at.clone()), Some(stored));
        Ok(true)
    }

    pub(super) fn dry_delete_binding(&self, info: &ClusterInfo, at: &At) -> bool {
        self.record("k8s:delete", Some(&info.name), true, Some(&at.shown()));
        self.seen()
            .bindings
            .insert((info.name.clone(), at.clone()), None);
        true
    }
}
