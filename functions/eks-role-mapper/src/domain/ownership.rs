//! Who made a mapping. A resource's owner key (in its PhysicalResourceId) is recorded beside each
//! mapping it creates: an `eks-role-mapper/owner` tag on the access entry, an
//! `eks-role-mapper/owner-<key>` annotation on aws-auth. Delete removes only what carries this
//! resource's key, so a mapping that was there before (adopted) or made by hand is never taken away.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::domain::arn::RoleArn;

/// The access-entry tag recording that the resource with this owner key created the entry.
pub const OWNER_TAG: &str = "eks-role-mapper/owner";

/// The owner key of a resource mapping `role`: 16 hex digits of SHA-256 over the stack, the
/// logical id and the role (path-stripped, lowercase), so two resources never claim each other's
/// mappings.
pub fn owner_key(stack_id: &str, logical_resource_id: &str, role: &RoleArn) -> String {
    let digest = Sha256::digest(format!(
        "{stack_id}|{logical_resource_id}|{}",
        role.match_key()
    ));
    hex::encode(&digest[..8])
}

/// The tag recording, on an entry this resource adopted, that it associated this access policy
/// (the tag's value) there: Delete takes back that association and nothing else.
pub fn associated_tag(owner: &str) -> String {
    format!("eks-role-mapper/associated-{owner}")
}

/// Whether `s` has the shape of an owner key.
pub fn is_owner_key(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The aws-auth annotation recording that the resource with this owner key added its role's entry.
pub fn owner_annotation(owner: &str) -> String {
    format!("eks-role-mapper/owner-{owner}")
}

/// The access entry type that can carry access policies (the one this resource creates).
pub const STANDARD: &str = "STANDARD";

/// Who made the role's access entry, by its owner tag.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum EntryOwner {
    Missing,
    /// Tagged with this resource's owner key: we created it. What it maps the role to, when the
    /// answer said (a dry run's own recorded create does not): an Update brings it in line.
    Ours {
        groups: Option<Vec<String>>,
        username: Option<String>,
    },
    /// Made before us (adopted) or by someone else, of this type (`STANDARD`, `EC2_LINUX`, ...),
    /// with its tags: the record of what it held before us (`held`) and of an older version's
    /// association (`associated_tag`) are there.
    Other {
        kind: String,
        arn: String,
        tags: HashMap<String, String>,
    },
}

impl EntryOwner {
    /// An existing entry's owner, from its tags, type and ARN.
    pub fn of(
        tags: Option<&HashMap<String, String>>,
        kind: &str,
        arn: &str,
        owner: &str,
    ) -> EntryOwner {
        if tags.and_then(|t| t.get(OWNER_TAG)).map(String::as_str) == Some(owner) {
            EntryOwner::Ours {
                groups: None,
                username: None,
            }
        } else {
            EntryOwner::Other {
                kind: kind.to_string(),
                arn: arn.to_string(),
                tags: tags.cloned().unwrap_or_default(),
            }
        }
    }

    /// The same, with what the entry maps the role to (DescribeAccessEntry's answer).
    pub fn with_identity(self, groups: Vec<String>, username: Option<String>) -> EntryOwner {
        match self {
            EntryOwner::Ours { .. } => EntryOwner::Ours {
                groups: Some(groups),
                username,
            },
            other => other,
        }
    }

    /// Whether the entry is this resource's.
    pub fn is_ours(&self) -> bool {
        matches!(self, EntryOwner::Ours { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_differ_by_stack_logical_id_and_role_but_not_by_role_path_or_case() {
        let r = |s: &str| RoleArn::parse("RoleArn", s).unwrap();
        let a = owner_key("stack-1", "Mapping", &r("arn:aws:iam::111122223333:role/R"));
        assert!(is_owner_key(&a));
        assert_eq!(
            a,
            owner_key(
                "stack-1",
                "Mapping",
                &r("arn:aws:iam::111122223333:role/x/r")
            )
        );
        assert_ne!(
            a,
            owner_key("stack-2", "Mapping", &r("arn:aws:iam::111122223333:role/R"))
        );
        assert_ne!(
            a,
            owner_key("stack-1", "Other", &r("arn:aws:iam::111122223333:role/R"))
        );
        assert_ne!(
            a,
            owner_key("stack-1", "Mapping", &r("arn:aws:iam::111122223333:role/S"))
        );
    }

    #[test]
    fn only_the_owners_own_tag_makes_an_entry_ours() {
        let mut tags = HashMap::new();
        assert!(matches!(
            EntryOwner::of(None, STANDARD, "a", "k"),
            EntryOwner::Other { .. }
        ));
        tags.insert(OWNER_TAG.to_string(), "other".to_string());
        tags.insert(associated_tag("k"), "P".to_string());
        match EntryOwner::of(Some(&tags), STANDARD, "a", "k") {
            EntryOwner::Other { tags: t, .. } => assert_eq!(t, tags),
            o => panic!("{o:?}"),
        }
        tags.insert(OWNER_TAG.to_string(), "k".to_string());
        assert!(EntryOwner::of(Some(&tags), STANDARD, "a", "k").is_ours());
    }
}
