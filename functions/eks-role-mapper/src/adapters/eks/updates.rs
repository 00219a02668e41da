//! Which update of a cluster is in progress, when UpdateClusterConfig answers
//! ResourceInUseException (EKS runs one update at a time, of any kind: a version upgrade, a
//! logging change, an access-configuration update). Only an `AccessConfigUpdate` changing
//! `AuthenticationMode` is the switch this function waits for as its own; anything else is in
//! the way. ListUpdates answers ids only, DescribeUpdate the rest.
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_ListUpdates.html>,
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_Update.html> (UpdateType, UpdateParam).

use aws_sdk_eks::types::{UpdateParamType, UpdateStatus, UpdateType};

use super::aws_error;
use crate::domain::error::Result;

/// An update in progress: its id, type (EKS's UpdateType) and the parameters it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProgress {
    pub id: String,
    pub kind: String,
    pub params: Vec<String>,
}

impl InProgress {
    /// Whether it is a switch of the authentication mode (ours, or one just like it).
    pub fn is_mode_switch(&self) -> bool {
        self.kind == UpdateType::AccessConfigUpdate.as_str()
            && self
                .params
                .iter()
                .any(|p| p == UpdateParamType::AuthenticationMode.as_str())
    }

    /// How a Reason names it.
    pub fn shown(&self) -> String {
        format!("update {} ({})", self.id, self.kind)
    }
}

/// The cluster's update in progress, if any (ListUpdates, all pages; DescribeUpdate of each
/// until one is InProgress).
pub async fn in_progress(eks: &aws_sdk_eks::Client, cluster: &str) -> Result<Option<InProgress>> {
    let mut next: Option<String> = None;
    loop {
        let page = eks
            .list_updates()
            .name(cluster)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| aws_error("ListUpdates", e))?;
        for id in page.update_ids.unwrap_or_default() {
            let out = eks
                .describe_update()
                .name(cluster)
                .update_id(&id)
                .send()
                .await
                .map_err(|e| aws_error("DescribeUpdate", e))?;
            let Some(u) = out.update else { continue };
            if u.status != Some(UpdateStatus::InProgress) {
                continue;
            }
            return Ok(Some(InProgress {
                id,
                kind: u.r#type.map(|t| t.as_str().to_string()).unwrap_or_default(),
                params: u
                    .params
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| p.r#type.map(|t| t.as_str().to_string()))
                    .collect(),
            }));
        }
        match page.next_token {
            Some(t) if !t.is_empty() => next = Some(t),
            _ => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_access_config_update_of_the_mode_is_a_switch() {
        let u = |kind: &str, params: &[&str]| InProgress {
            id: "u-1".into(),
            kind: kind.into(),
            params: params.iter().map(|p| p.to_string()).collect(),
        };
        assert!(u("AccessConfigUpdate", &["AuthenticationMode"]).is_mode_switch());
        assert!(!u("VersionUpdate", &["Version", "PlatformVersion"]).is_mode_switch());
        assert!(!u("LoggingUpdate", &["ClusterLogging"]).is_mode_switch());
        assert!(!u("AccessConfigUpdate", &[]).is_mode_switch());
        assert_eq!(
            u("VersionUpdate", &[]).shown(),
            "update u-1 (VersionUpdate)"
        );
    }
}
