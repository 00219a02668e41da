//! The RBAC side of a grant below cluster-admin on an aws-auth cluster: aws-auth maps the role to
//! a group of this resource's own, and bindings of ours give that group Kubernetes' built-in
//! aggregated ClusterRole of the level (`admin`, `edit`, `view`): one ClusterRoleBinding for the
//! whole cluster, or one RoleBinding per namespace. Pure: what should stand, read from and
//! rendered to k8s-openapi's typed bindings, and the plan from what stands to that.
//!
//! Every binding of ours carries the `eks-role-mapper/owner` label (found again by a label
//! selector) and annotation with the owner key, and a name made from it, so a binding the
//! customer made is never read as ours. A binding's `roleRef` cannot be changed
//! (<https://kubernetes.io/docs/reference/access-authn-authz/rbac/#clusterrolebinding-example>):
//! the level is in the name, so a new level is a new binding, made before the old one goes.
//! <https://kubernetes.io/docs/reference/kubernetes-api/authorization-resources/role-binding-v1/>

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::domain::access::Access;
use crate::domain::ownership::OWNER_TAG;

/// The API group of RBAC.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The group aws-auth maps the role to when its level is below cluster-admin.
pub fn group_of(owner: &str) -> String {
    format!("eks-role-mapper:{owner}")
}

/// Where a binding is: its namespace (None: a ClusterRoleBinding) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct At {
    pub namespace: Option<String>,
    pub name: String,
}

impl At {
    /// `ml/name` or `name` (cluster-wide), for logs and the dry run.
    pub fn shown(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("RoleBinding {ns}/{}", self.name),
            None => format!("ClusterRoleBinding {}", self.name),
        }
    }
}

/// The label selector of every binding of `owner`.
pub fn owned_selector(owner: &str) -> String {
    format!("{OWNER_TAG}={owner}")
}

/// A binding of a ClusterRole to groups, as far as the mapper reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub at: At,
    pub cluster_role: String,
    /// The subjects, all of kind Group (anything else makes it not ours to keep as is).
    pub groups: Vec<String>,
    /// The owner label's value.
    pub owner: Option<String>,
    /// As read; None for a binding to create.
    pub resource_version: Option<String>,
}

impl Binding {
    /// The binding the properties call for, made by `owner`.
    fn ours(owner: &str, namespace: Option<&str>, cluster_role: &str) -> Binding {
        Binding {
            at: At {
                namespace: namespace.map(str::to_string),
                name: format!("eks-role-mapper-{owner}-{cluster_role}"),
            },
            cluster_role: cluster_role.to_string(),
            groups: vec![group_of(owner)],
            owner: Some(owner.to_string()),
            resource_version: None,
        }
    }

    /// Whether it grants what `wanted` grants, marked as ours (the version aside).
    pub fn same_grant(&self, wanted: &Binding) -> bool {
        self.at == wanted.at
            && self.cluster_role == wanted.cluster_role
            && self.groups == wanted.groups
            && self.owner == wanted.owner
    }

    /// The object's parts (a RoleBinding and a ClusterRoleBinding have the same): for a create,
    /// or a replace guarded by the version read.
    pub fn to_parts(&self) -> (ObjectMeta, RoleRef, Vec<Subject>) {
        let owner = self.owner.clone().unwrap_or_default();
        let meta = ObjectMeta {
            name: Some(self.at.name.clone()),
            namespace: self.at.namespace.clone(),
            labels: Some(BTreeMap::from([(OWNER_TAG.to_string(), owner.clone())])),
            annotations: Some(BTreeMap::from([(OWNER_TAG.to_string(), owner)])),
            resource_version: self.resource_version.clone(),
            ..ObjectMeta::default()
        };
        let role_ref = RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "ClusterRole".into(),
            name: self.cluster_role.clone(),
        };
        let subjects = self
            .groups
            .iter()
            .map(|g| Subject {
                kind: "Group".into(),
                api_group: Some(RBAC_GROUP.into()),
                name: g.clone(),
                namespace: None,
            })
            .collect();
        (meta, role_ref, subjects)
    }

    /// Reads an object's parts; subjects other than groups are kept as `kind:name` so an edited
    /// binding never compares equal to ours.
    pub fn from_parts(
        meta: &ObjectMeta,
        role_ref: &RoleRef,
        subjects: Option<&[Subject]>,
    ) -> Option<Binding> {
        let cluster_role = match role_ref.kind.as_str() {
            "ClusterRole" => role_ref.name.clone(),
            kind => format!("{kind}:{}", role_ref.name),
        };
        let groups = subjects
            .unwrap_or_default()
            .iter()
            .map(|s| match s.kind.as_str() {
                "Group" => s.name.clone(),
                kind => format!("{kind}:{}", s.name),
            })
            .collect();
        Some(Binding {
            at: At {
                namespace: meta.namespace.clone(),
                name: meta.name.clone()?,
            },
            cluster_role,
            groups,
            owner: meta.labels.as_ref().and_then(|l| l.get(OWNER_TAG)).cloned(),
            resource_version: meta.resource_version.clone(),
        })
    }
}

/// The bindings `access` calls for: none for cluster-admin (aws-auth's `system:masters` is the
/// grant), one ClusterRoleBinding for the whole cluster, or one RoleBinding per namespace.
pub fn wanted(access: &Access, owner: &str) -> Vec<Binding> {
    let Some(role) = access.level.cluster_role() else {
        return Vec::new();
    };
    if access.namespaces.is_empty() {
        return vec![Binding::ours(owner, None, role)];
    }
    access
        .namespaces
        .iter()
        .map(|ns| Binding::ours(owner, Some(ns), role))
        .collect()
}

/// What to write so that exactly `wanted` stands, in the order to write it: the bindings to
/// create or put back first, then the ones of ours no longer wanted (never less granted
/// meanwhile than before or after).
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Bindings to write: create when no version, else a replace of what stands.
    pub write: Vec<Binding>,
    /// Bindings of ours that stand and are not wanted.
    pub delete: Vec<At>,
}

/// The plan from `standing` (what the API holds at the wanted names and under `owner`'s label).
pub fn plan(owner: &str, wanted: &[Binding], standing: &[Binding]) -> Plan {
    let mut out = Plan::default();
    for w in wanted {
        match standing.iter().find(|s| s.at == w.at) {
            None => out.write.push(w.clone()),
            Some(s) if s.same_grant(w) => {}
            // roleRef is immutable: an edited one is deleted, then made again.
            Some(s) if s.cluster_role != w.cluster_role => {
                out.delete.push(s.at.clone());
                out.write.push(w.clone());
            }
            Some(s) => out.write.push(Binding {
                resource_version: s.resource_version.clone(),
                ..w.clone()
            }),
        }
    }
    for s in standing {
        let ours = s.owner.as_deref() == Some(owner);
        if ours && !wanted.iter().any(|w| w.at == s.at) && !out.delete.contains(&s.at) {
            out.delete.push(s.at.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::AccessLevel;

    fn access(level: AccessLevel, ns: &[&str]) -> Access {
        Access {
            level,
            namespaces: ns.iter().map(|s| s.to_string()).collect(),
            kubernetes_groups: Vec::new(),
        }
    }

    #[test]
    fn cluster_admin_needs_no_binding_and_namespaces_one_each() {
        assert!(wanted(&access(AccessLevel::ClusterAdmin, &[]), "k").is_empty());
        let all = wanted(&access(AccessLevel::View, &[]), "k");
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0].at,
            At {
                namespace: None,
                name: "eks-role-mapper-k-view".into()
            }
        );
        let ns = wanted(&access(AccessLevel::Edit, &["data", "ml"]), "k");
        assert_eq!(
            ns[1].at,
            At {
                namespace: Some("ml".into()),
                name: "eks-role-mapper-k-edit".into()
            }
        );
        assert_eq!(ns[1].groups, ["eks-role-mapper:k"]);
    }

    #[test]
    fn objects_round_trip_and_an_edited_subject_never_reads_as_ours() {
        let b = wanted(&access(AccessLevel::View, &["ml"]), "k").remove(0);
        let (meta, role_ref, mut subjects) = b.to_parts();
        assert_eq!(
            Binding::from_parts(&meta, &role_ref, Some(&subjects)).unwrap(),
            b
        );
        subjects[0].kind = "User".into();
        let edited = Binding::from_parts(&meta, &role_ref, Some(&subjects)).unwrap();
        assert!(!edited.same_grant(&b));
    }

    #[test]
    fn a_new_level_is_made_before_the_old_one_goes_and_edits_are_put_back() {
        let view = wanted(&access(AccessLevel::View, &["ml"]), "k");
        let admin = wanted(&access(AccessLevel::ClusterAdmin, &[]), "k");
        let edit = wanted(&access(AccessLevel::Edit, &["ml"]), "k");
        let mut standing = view.clone();
        standing[0].resource_version = Some("7".into());
        let p = plan("k", &edit, &standing);
        assert_eq!(p.write, edit);
        assert_eq!(p.delete, [view[0].at.clone()]);
        assert_eq!(plan("k", &view, &standing), Plan::default());
        assert_eq!(plan("k", &admin, &standing).delete, [view[0].at.clone()]);
        let mut edited = standing.clone();
        edited[0].groups.push("intruders".into());
        let p = plan("k", &view, &edited);
        assert_eq!(p.write[0].resource_version.as_deref(), Some("7"));
        assert!(p.delete.is_empty());
    }
}
