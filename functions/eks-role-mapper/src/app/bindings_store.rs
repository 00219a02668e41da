//! Persists the RBAC bindings of a grant below cluster-admin through the port (`rbac` says what
//! should stand): read what stands under our label and at our names, write what is missing or
//! was edited, and hand back the bindings of ours no longer wanted, deleted only once aws-auth no
//! longer needs them. A conflict (409: changed or made meanwhile) re-reads and plans again; an
//! API that does not answer is retried as aws-auth is (`aws_auth_store::Retries`): for as long as
//! the request may go on, handing over to a fresh invocation near the deadline.

use crate::app::aws_auth_store::Retries;
use crate::domain::error::{Error, Result};
use crate::domain::rbac::{self, At, Binding};
use crate::ports::{Cloud, ClusterInfo, StoreError};

/// What the write phase did.
#[derive(Debug, Default)]
pub struct Written {
    /// Whether any binding was created or put back.
    pub changed: bool,
    /// Bindings of ours that are no longer wanted: for [`delete`] after aws-auth is written.
    pub stale: Vec<At>,
}

/// Makes `wanted` stand (created, or put back when deleted or edited).
pub async fn write<K: Cloud>(
    cloud: &K,
    info: &ClusterInfo,
    owner: &str,
    wanted: &[Binding],
) -> Result<Written> {
    let mut retries = Retries::new();
    loop {
        match try_write(cloud, info, owner, wanted).await {
            Ok(w) => return Ok(w),
            Err(e) => retries.after(e).await?,
        }
    }
}

async fn try_write<K: Cloud>(
    cloud: &K,
    info: &ClusterInfo,
    owner: &str,
    wanted: &[Binding],
) -> Result<Written, StoreError> {
    let mut standing = cloud.owned_bindings(info, owner).await?;
    // A binding of ours whose label was edited away is still at our name.
    for w in wanted {
        if !standing.iter().any(|s| s.at == w.at) {
            if let Some(b) = cloud.read_binding(info, &w.at).await? {
                standing.push(b);
            }
        }
    }
    let plan = rbac::plan(owner, wanted, &standing);
    let rewritten = |at: &At| plan.write.iter().any(|w| &w.at == at);
    for at in plan.delete.iter().filter(|at| rewritten(at)) {
        cloud.delete_binding(info, at).await?;
    }
    let mut made: Vec<&At> = Vec::new();
    for b in &plan.write {
        if cloud.write_binding(info, b).await? {
            made.push(&b.at);
            continue;
        }
        if b.resource_version.is_some() {
            // Deleted since it was read.
            return Err(StoreError::Conflict);
        }
        // No such namespace: nothing of this grant is left half-made.
        for at in made.iter().filter(|at| at.namespace.is_some()) {
            cloud.delete_binding(info, at).await?;
        }
        return Err(StoreError::Failed(Error::invalid(
            "Namespaces",
            format!(
                "namespace {} does not exist on cluster {}: create it first (nothing was written)",
                b.at.namespace.as_deref().unwrap_or_default(),
                info.name
            ),
        )));
    }
    for b in &plan.write {
        tracing::info!(cluster = %info.name, binding = %b.at.shown(), role = %b.cluster_role, "binding written");
    }
    Ok(Written {
        changed: !plan.write.is_empty(),
        stale: plan
            .delete
            .into_iter()
            .filter(|at| !rewritten(at))
            .collect(),
    })
}

/// Deletes bindings of ours; answers whether any was there.
pub async fn delete<K: Cloud>(cloud: &K, info: &ClusterInfo, stale: &[At]) -> Result<bool> {
    let mut any = false;
    for at in stale {
        any |= with_retries(|| cloud.delete_binding(info, at)).await?;
        tracing::info!(cluster = %info.name, binding = %at.shown(), "binding deleted");
    }
    Ok(any)
}

/// Deletes every binding carrying `owner`'s label (Delete); answers whether any was there.
pub async fn delete_all<K: Cloud>(cloud: &K, info: &ClusterInfo, owner: &str) -> Result<bool> {
    let owned = with_retries(|| cloud.owned_bindings(info, owner)).await?;
    let ats: Vec<At> = owned.into_iter().map(|b| b.at).collect();
    delete(cloud, info, &ats).await
}

async fn with_retries<T, F, Fut>(op: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut retries = Retries::new();
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => retries.after(e).await?,
        }
    }
}
