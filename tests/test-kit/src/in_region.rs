//! The world of a [`Memory`] under its lock, seen from one region: a cluster of another region
//! is not found (EKS's ResourceNotFoundException), and access-entry calls need a mode that has
//! access entries.

use std::collections::BTreeMap;

use crate::{Cluster, Entry, World};
use eks_role_mapper::{Error, Result};

/// The world under its lock, with the region the calls are for.
pub(super) struct InRegion<'a> {
    pub(super) world: std::sync::MutexGuard<'a, World>,
    pub(super) region: &'a str,
}

impl InRegion<'_> {
    /// The cluster, when it is in this region (as EKS's ResourceNotFoundException otherwise).
    pub(super) fn cluster(&mut self, op: &str, cluster: &str) -> Result<&mut Cluster> {
        self.world.check(op, cluster)?;
        self.world
            .clusters
            .get_mut(cluster)
            .filter(|c| c.region == self.region)
            .ok_or_else(|| Error::Aws {
                operation: op.to_string(),
                message: format!(
                    "ResourceNotFoundException: No cluster found for name: {cluster}."
                ),
            })
    }

    pub(super) fn entries(
        &mut self,
        op: &str,
        cluster: &str,
    ) -> Result<&mut BTreeMap<String, Entry>> {
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

impl std::ops::Deref for InRegion<'_> {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

impl std::ops::DerefMut for InRegion<'_> {
    fn deref_mut(&mut self) -> &mut World {
        &mut self.world
    }
}
