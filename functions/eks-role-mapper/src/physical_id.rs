//! The PhysicalResourceId: deterministic for the same cluster, role, region and method, and it
//! carries what Delete needs (including whether the mapping was adopted), so Delete never depends
//! on properties that may have changed or never validated.

use crate::arn::RoleArn;
use crate::decision::Mechanism;

const PREFIX: &str = "eks-role-mapper/v1";
/// CloudFormation's limit on a PhysicalResourceId.
pub const MAX_LEN: usize = 1024;

/// What a PhysicalResourceId records.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub mechanism: Mechanism,
    pub adopted: bool,
    pub region: String,
    pub cluster: String,
    pub role: RoleArn,
}

impl Recorded {
    /// Encodes as `eks-role-mapper/v1|<mechanism>|<adopted|created>|<region>|<cluster>|<role arn>`.
    pub fn encode(&self) -> String {
        let id = format!(
            "{PREFIX}|{}|{}|{}|{}|{}",
            self.mechanism.as_str(),
            if self.adopted { "adopted" } else { "created" },
            self.region,
            self.cluster,
            self.role
        );
        debug_assert!(id.len() <= MAX_LEN);
        id
    }

    /// Decodes an id this function made; None for anything else (Delete then does nothing).
    pub fn decode(id: &str) -> Option<Recorded> {
        let mut it = id.splitn(6, '|');
        if it.next()? != PREFIX {
            return None;
        }
        let mechanism = Mechanism::parse(it.next()?)?;
        let adopted = match it.next()? {
            "adopted" => true,
            "created" => false,
            _ => return None,
        };
        let region = it.next()?.to_string();
        let cluster = it.next()?.to_string();
        crate::properties::validate_cluster_name("PhysicalResourceId", &cluster).ok()?;
        let role = RoleArn::parse("PhysicalResourceId", it.next()?).ok()?;
        Some(Recorded {
            mechanism,
            adopted,
            region,
            cluster,
            role,
        })
    }

    /// Same cluster, region and role: an Update keeps the resource in place.
    pub fn same_target(&self, other: &Recorded) -> bool {
        self.region == other.region
            && self.cluster == other.cluster
            && self.role.as_str() == other.role.as_str()
            && self.mechanism == other.mechanism
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_foreign_ids_are_not_recognised() {
        let r = Recorded {
            mechanism: Mechanism::AwsAuth,
            adopted: true,
            region: "us-east-1".into(),
            cluster: "prod".into(),
            role: RoleArn::parse("RoleArn", "arn:aws:iam::111122223333:role/p/R").unwrap(),
        };
        assert_eq!(Recorded::decode(&r.encode()), Some(r));
        for foreign in [
            "",
            "prod-mapping-1A2B3C",
            "eks-role-mapper/v1|AwsAuth|maybe|r|c|arn",
        ] {
            assert_eq!(Recorded::decode(foreign), None);
        }
    }
}
