//! The PhysicalResourceId: the region, the role and an owner key. It does not grow with the number
//! of clusters and stays the same when the cluster list changes (those changes are made in place).
//! What the resource created is recorded beside each mapping instead (a tag on the access entry,
//! an annotation on aws-auth, both carrying the owner key), so Delete removes exactly that, on
//! whatever clusters it finds, and never an adopted or hand-made mapping.

use crate::domain::arn::RoleArn;
use crate::domain::ownership::is_owner_key;

const PREFIX: &str = "eks-role-mapper/v2";
/// CloudFormation's limit on a PhysicalResourceId.
pub const MAX_LEN: usize = 1024;

/// What a PhysicalResourceId records.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub region: String,
    pub role: RoleArn,
    /// Names this resource's markers (see `ownership::owner_key`).
    pub owner: String,
}

impl Recorded {
    /// Encodes as `eks-role-mapper/v2|<region>|<owner>|<role arn>` (at most ~700 characters: a
    /// role ARN is bounded by IAM's 512-character path and 64-character name).
    pub fn encode(&self) -> String {
        let id = format!("{PREFIX}|{}|{}|{}", self.region, self.owner, self.role);
        debug_assert!(id.len() <= MAX_LEN);
        id
    }

    /// Decodes an id this function made; None for anything else (Delete then does nothing).
    pub fn decode(id: &str) -> Option<Recorded> {
        let mut it = id.splitn(4, '|');
        if it.next()? != PREFIX {
            return None;
        }
        let region = it.next()?.to_string();
        let owner = it.next()?.to_string();
        if !is_owner_key(&owner) || !crate::domain::arn::is_region(&region) {
            return None;
        }
        let role = RoleArn::parse("PhysicalResourceId", it.next()?).ok()?;
        Some(Recorded {
            region,
            role,
            owner,
        })
    }

    /// Same region and role: an Update is made in place (clusters added and removed).
    pub fn same_target(&self, other: &Recorded) -> bool {
        self.region == other.region && self.role.as_str() == other.role.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ownership::owner_key;

    #[test]
    fn ids_round_trip_and_foreign_ids_are_not_recognised() {
        let role = RoleArn::parse("RoleArn", "arn:aws:iam::111122223333:role/p/R").unwrap();
        let r = Recorded {
            region: "us-east-1".into(),
            owner: owner_key(
                "arn:aws:cloudformation:us-east-1:1:stack/s/x",
                "Mapping",
                &role,
            ),
            role,
        };
        assert_eq!(Recorded::decode(&r.encode()), Some(r));
        for foreign in [
            "",
            "prod-mapping-1A2B3C",
            "eks-role-mapper/v2|us-east-1|nothex|arn:aws:iam::111122223333:role/R",
            "eks-role-mapper/v1|AwsAuth|created|us-east-1|prod|arn:aws:iam::111122223333:role/R",
        ] {
            assert_eq!(Recorded::decode(foreign), None, "{foreign}");
        }
    }
}
