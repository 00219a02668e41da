//! The dry run's access-entry writes: each recorded with what it would send (the policy and its
//! scope, the tag keys, the groups and username), so the plan shows them.

use super::recorder::Recording;

impl<K> Recording<K> {
    pub(super) fn dry_associate(&self, cluster: &str, policy: &str, namespaces: &[String]) {
        let scope = match namespaces {
            [] => "cluster".to_string(),
            some => format!("namespaces {}", some.join(",")),
        };
        let detail = format!("{policy} ({scope})");
        self.record(
            "eks:AssociateAccessPolicy",
            Some(cluster),
            true,
            Some(&detail),
        );
    }

    pub(super) fn dry_tag(&self, cluster: &str, tags: &[(String, String)]) {
        let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
        self.record(
            "eks:TagResource",
            Some(cluster),
            true,
            Some(&keys.join(",")),
        );
    }

    pub(super) fn dry_update_entry(
        &self,
        cluster: &str,
        groups: &[String],
        username: Option<&str>,
    ) {
        let name = username
            .map(|u| format!(", username {u}"))
            .unwrap_or_default();
        let detail = format!("groups [{}]{name}", groups.join(","));
        self.record("eks:UpdateAccessEntry", Some(cluster), true, Some(&detail));
    }
}
