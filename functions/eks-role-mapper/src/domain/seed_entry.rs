//! The aws-auth entry of the original manual Step 2, which a stack upgraded from the original Step 1
//! template takes over (issue 29).
//!
//! Every customer connected before this product has a Step 1 stack whose role is
//! `<stack uuid>-RoleForAccessingEksAndEcr`, and, on a `CONFIG_MAP` cluster, the entry its Step 2
//! script (`patch-aws-auth.sh ROLE_ARN`) inserted by hand: `rolearn` and `username` both the role's
//! ARN, `groups: [system:masters]`, nothing else (twice when the script ran twice). Upgraded in
//! place to our template, that stack keeps the role, and its new custom resource runs a Create that
//! finds this entry. Adopted, the entry would outlive the stack: deleting the stack deletes the
//! role, and a `system:masters` entry for a role that no longer exists would stay behind (a role
//! made again under that name, by anyone allowed `iam:CreateRole`, would be cluster-admin).
//! So that one entry, and only it, is owned by the stack from the Create on: Delete removes it.
//! Any other entry that was there before (another shape, another role, a role of another name)
//! stays adopted and is never removed.
//!
//! The role's name says it is a Step 1 stack's own role: the uuid of a stack id is unique, and
//! only that stack's template creates a role under it (an IAM name is the account's). Our template
//! maps exactly that role.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use crate::domain::arn::RoleArn;
use crate::domain::aws_auth::{MapRoles, MAP_ROLES};

/// The Step 1 role's name after its stack's uuid.
const SEED_ROLE_SUFFIX: &str = "-RoleForAccessingEksAndEcr";

/// Whether `name` is `<uuid>-RoleForAccessingEksAndEcr` (the uuid lowercase, as in stack ids).
fn is_seed_role_name(name: &str) -> bool {
    let Some(uuid) = name.strip_suffix(SEED_ROLE_SUFFIX) else {
        return false;
    };
    let groups: Vec<&str> = uuid.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Whether `entry` is exactly what the seed's Step 2 script writes for `arn`.
fn is_seed_entry(entry: &Value, arn: &str) -> bool {
    let Value::Mapping(m) = entry else {
        return false;
    };
    let masters = Value::Sequence(vec![Value::String("system:masters".into())]);
    m.len() == 3
        && m.get("rolearn").and_then(Value::as_str) == Some(arn)
        && m.get("username").and_then(Value::as_str) == Some(arn)
        && m.get("groups") == Some(&masters)
}

/// Whether aws-auth `data` maps `role`, a Step 1 stack's role without a path, only by the entry
/// the seed's Step 2 script wrote (once or more): then the stack takes that entry over (see the
/// module's doc). False for anything else, and for a `mapRoles` that does not parse (the edit
/// refuses that text anyway).
pub fn taken_over(data: &BTreeMap<String, String>, role: &RoleArn) -> bool {
    let arn = role.aws_auth_arn();
    let name = arn.rsplit('/').next().unwrap_or_default();
    if role.as_str() != arn || !is_seed_role_name(name) {
        return false;
    }
    let Ok(roles) = MapRoles::parse(data.get(MAP_ROLES).map(String::as_str)) else {
        return false;
    };
    let key = role.match_key();
    let ours: Vec<&Value> = roles
        .entries()
        .iter()
        .filter(|e| {
            e.as_mapping().is_some_and(|m| {
                m.iter().any(|(k, v)| {
                    k.as_str()
                        .is_some_and(|k| k.eq_ignore_ascii_case("rolearn"))
                        && v.as_str()
                            .is_some_and(|v| crate::domain::arn::match_key_of(v) == key)
                })
            })
        })
        .collect();
    !ours.is_empty() && ours.iter().all(|e| is_seed_entry(e, &arn))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str =
        "arn:aws:iam::111122223333:role/3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40-RoleForAccessingEksAndEcr";
    const NODES: &str = "- rolearn: arn:aws:iam::111122223333:role/eks-node-group-a\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n    - system:bootstrappers\n    - system:nodes\n";

    /// mapRoles as patch-aws-auth.sh leaves it after `runs` runs: its awk block inserted right
    /// under `mapRoles: |`, before the entries already there.
    fn seeded(runs: usize, arn: &str) -> BTreeMap<String, String> {
        let block =
            format!("- rolearn: {arn}\n  username: {arn}\n  groups:\n    - system:masters\n");
        BTreeMap::from([(MAP_ROLES.to_string(), block.repeat(runs) + NODES)])
    }

    fn role(arn: &str) -> RoleArn {
        RoleArn::parse("RoleArn", arn).unwrap()
    }

    #[test]
    fn the_seed_scripts_entry_of_a_step_1_role_is_taken_over_once_or_twice() {
        assert!(taken_over(&seeded(1, ROLE), &role(ROLE)));
        assert!(taken_over(&seeded(2, ROLE), &role(ROLE)));
    }

    #[test]
    fn anything_else_stays_adopted() {
        // No entry of the role at all: nothing to take over (the Create adds its own).
        assert!(!taken_over(&seeded(0, ROLE), &role(ROLE)));
        // Another shape: another username, another group, one more field, a second entry that
        // differs.
        for changed in [
            ("  username: ", "  username: someone-else # "),
            ("    - system:masters", "    - ops"),
            ("  groups:\n", "  note: mine\n  groups:\n"),
        ] {
            let mut data = seeded(1, ROLE);
            let text = data[MAP_ROLES].replacen(changed.0, changed.1, 1);
            data.insert(MAP_ROLES.into(), text.clone());
            assert!(!taken_over(&data, &role(ROLE)), "{text}");
            data.insert(MAP_ROLES.into(), seeded(1, ROLE)[MAP_ROLES].clone() + &text);
            assert!(!taken_over(&data, &role(ROLE)), "{text}");
        }
        // A role not named like a Step 1 stack's, mapped exactly as the script maps it.
        for other in [
            "arn:aws:iam::111122223333:role/cluster-admin-role",
            "arn:aws:iam::111122223333:role/not-a-uuid-RoleForAccessingEksAndEcr",
            "arn:aws:iam::111122223333:role/3F1C2A9E-0B7D-4C55-9E2F-6D1A8B7C5E40-RoleForAccessingEksAndEcr",
        ] {
            assert!(!taken_over(&seeded(1, other), &role(other)), "{other}");
        }
        // The role with a path is not the Step 1 role (Path /).
        let pathed = ROLE.replace(":role/", ":role/team/");
        assert!(!taken_over(&seeded(1, ROLE), &role(&pathed)));
        // mapRoles that does not parse.
        let bad = BTreeMap::from([(MAP_ROLES.to_string(), "- rolearn: [".to_string())]);
        assert!(!taken_over(&bad, &role(ROLE)));
    }
}
