//! The aws-auth edit, as a pure value: parse `mapRoles`, upsert or remove our role, render with a
//! serializer and re-parse before anything is written. Format:
//! <https://docs.aws.amazon.com/eks/latest/userguide/auth-configmap.html>.
//!
//! A `mapRoles` that does not parse makes the EKS authenticator drop every role mapping (node
//! roles too), so text that does not parse is never produced, and existing text that does not parse
//! is refused, not "fixed". Entries are kept as generic YAML values so unknown fields survive; other
//! data keys (`mapUsers`, `mapAccounts`, anything else) are never touched.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value};

use crate::domain::arn::{match_key_of, RoleArn};
use crate::domain::error::{Error, Result};

/// The ConfigMap's name.
pub const CONFIG_MAP_NAME: &str = "aws-auth";
/// Its namespace.
pub const NAMESPACE: &str = "kube-system";
/// The data key holding role mappings.
pub const MAP_ROLES: &str = "mapRoles";
const ROLE_ARN: &str = "rolearn";
const USERNAME: &str = "username";
const GROUPS: &str = "groups";

/// Text the authenticator reads as no entries at all (`isSkippable` in aws-iam-authenticator
/// `pkg/mapper/configmap/configmap.go`): blank, two backticks, `""` or `''`.
fn is_skippable(text: &str) -> bool {
    matches!(text.trim(), "" | "``" | "\"\"" | "''")
}

/// Sets `field` in a mapping, dropping its other key spellings (`UserName`, `GROUPS`), which the
/// authenticator would read as the same field: the value written is the one it reads, in place.
fn set_field(m: &mut Mapping, field: &str, value: Value) {
    let spellings: Vec<Value> = m
        .keys()
        .filter(|k| {
            k.as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case(field) && k != field)
        })
        .cloned()
        .collect();
    for k in spellings {
        m.remove(&k);
    }
    m.insert(field.into(), value);
}

/// The aws-auth annotation recording that the resource with this owner key (see
/// `physical_id::owner_key`) added its role's entry. Delete removes only recorded entries, so a
/// mapping that was there before (adopted) or made by hand is never taken away.
pub fn owner_annotation(owner: &str) -> String {
    format!("eks-role-mapper/owner-{owner}")
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Change {
    Added,
    Updated,
    Unchanged,
}

/// The role mappings of one aws-auth ConfigMap.
#[derive(Debug, Clone, PartialEq)]
pub struct MapRoles {
    entries: Vec<Value>,
}

impl MapRoles {
    /// Parses `mapRoles` text; absent or blank means no mappings yet.
    pub fn parse(text: Option<&str>) -> Result<MapRoles> {
        if let Some(entries) = text.and_then(crate::domain::block_reader::read) {
            return Ok(MapRoles { entries });
        }
        Self::parse_with_parser(text)
    }

    /// Parses with the general YAML parser only: the independent check of what we write.
    fn parse_with_parser(text: Option<&str>) -> Result<MapRoles> {
        let Some(text) = text.filter(|t| !is_skippable(t)) else {
            return Ok(MapRoles {
                entries: Vec::new(),
            });
        };
        let value: Value = serde_yaml_ng::from_str(text).map_err(|e| {
            Error::AwsAuth(format!("existing mapRoles does not parse as YAML ({e})"))
        })?;
        let entries = match value {
            Value::Null => Vec::new(),
            Value::Sequence(items) => items,
            _ => {
                return Err(Error::AwsAuth(
                    "existing mapRoles is not a YAML list".into(),
                ))
            }
        };
        // The authenticator's json.Unmarshal fails on an item that is not a map, and it then
        // takes none of the new mapRoles (aws-iam-authenticator `pkg/mapper/configmap/configmap.go`,
        // `isMapRolesMalformed`): an entry written there would never take effect.
        if let Some(i) = entries.iter().position(|e| !e.is_mapping()) {
            return Err(Error::AwsAuth(format!(
                "existing mapRoles entry {i} is not a map"
            )));
        }
        Ok(MapRoles { entries })
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[Value] {
        &self.entries
    }

    /// An entry's `rolearn` as the authenticator reads it: Go's encoding/json matches the field
    /// name case-insensitively (`rOlEaRn` works), and of several spellings the last in sorted
    /// order wins (sigs.k8s.io/yaml hands it the keys sorted).
    fn role_arn_of(entry: &Value) -> Option<&str> {
        let Value::Mapping(m) = entry else {
            return None;
        };
        m.iter()
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
            .filter(|(k, _)| k.eq_ignore_ascii_case(ROLE_ARN))
            .max_by(|a, b| a.0.cmp(b.0))
            .and_then(|(_, v)| v.as_str())
    }

    /// Whether an entry is about `role`, with or without a path (dedupe, removal).
    fn matches(entry: &Value, key: &str) -> bool {
        Self::role_arn_of(entry).is_some_and(|a| match_key_of(a) == key)
    }

    /// Whether an entry maps `role` for the authenticator: it keys mapRoles by the lowercased
    /// rolearn exactly as written and looks callers up by their path-less role ARN, so an entry
    /// written with the role's path never matches (aws-iam-authenticator
    /// `pkg/mapper/configmap/configmap.go`; the EKS user guide's aws-auth page: the rolearn can't
    /// include a path).
    fn maps(entry: &Value, role: &RoleArn) -> bool {
        Self::role_arn_of(entry).is_some_and(|a| a.to_lowercase() == role.match_key())
    }

    /// Whether some entry maps `role` so that the authenticator matches it.
    pub fn contains(&self, role: &RoleArn) -> bool {
        self.entries.iter().any(|e| Self::maps(e, role))
    }

    /// Makes exactly one entry map `role` to `username` and `groups`, with the path-less role
    /// ARN the authenticator matches. The last existing entry for the role (with or without a
    /// path, any key case) keeps its place and unknown fields (the authenticator uses the last
    /// duplicate); other entries for the same role are removed.
    pub fn upsert(&mut self, role: &RoleArn, username: &str, groups: &[String]) -> Change {
        let key = role.match_key();
        let hits: Vec<usize> = (0..self.entries.len())
            .filter(|&i| Self::matches(&self.entries[i], &key))
            .collect();
        let groups_value =
            Value::Sequence(groups.iter().map(|g| Value::String(g.clone())).collect());
        let rolearn = (ROLE_ARN, Value::String(role.aws_auth_arn()));
        let fields = [
            (USERNAME, Value::String(username.to_string())),
            (GROUPS, groups_value),
        ];
        let Some(&last) = hits.last() else {
            let m: Mapping = std::iter::once(rolearn)
                .chain(fields)
                .map(|(k, v)| (k.into(), v))
                .collect();
            self.entries.push(Value::Mapping(m));
            return Change::Added;
        };
        let before = self.entries.clone();
        // A rolearn the authenticator matches is kept as written (any case); one with the role's
        // path never matched and is rewritten without it.
        let fix_arn = !Self::maps(&self.entries[last], role);
        if let Value::Mapping(m) = &mut self.entries[last] {
            for (field, value) in fix_arn.then_some(rolearn).into_iter().chain(fields) {
                set_field(m, field, value);
            }
        }
        for &i in hits.iter().rev().skip(1) {
            self.entries.remove(i);
        }
        if self.entries == before {
            Change::Unchanged
        } else {
            Change::Updated
        }
    }

    /// The entries for `role` (with or without a path, any key case), in order: what an adopted
    /// mapping was, recorded before the first write.
    pub fn of_role(&self, role: &RoleArn) -> Vec<Value> {
        let key = role.match_key();
        self.entries
            .iter()
            .filter(|e| Self::matches(e, &key))
            .cloned()
            .collect()
    }

    /// Puts `originals` back in place of the entries for `role`: where the first of them stands
    /// (at the end when there is none). Every other entry keeps its place.
    pub fn put_back(&mut self, role: &RoleArn, originals: Vec<Value>) {
        let key = role.match_key();
        let at = self
            .entries
            .iter()
            .position(|e| Self::matches(e, &key))
            .unwrap_or(self.entries.len());
        self.remove(role);
        let at = at.min(self.entries.len());
        self.entries.splice(at..at, originals);
    }

    /// A list of these entries (the record of an adopted mapping is one).
    pub fn from_entries(entries: Vec<Value>) -> MapRoles {
        MapRoles { entries }
    }

    /// Removes every entry for `role`; returns how many.
    pub fn remove(&mut self, role: &RoleArn) -> usize {
        let key = role.match_key();
        let before = self.entries.len();
        self.entries.retain(|e| !Self::matches(e, &key));
        before - self.entries.len()
    }

    /// Renders block YAML that YAML 1.1 and 1.2 read alike (see `yaml_text`) and proves the text
    /// parses back to the same entries.
    pub fn render(&self) -> Result<String> {
        let text = crate::domain::yaml_text::block_list(&self.entries).map_err(|e| {
            Error::AwsAuth(format!("mapRoles holds {e}, which is not written back"))
        })?;
        let back = MapRoles::parse_with_parser(Some(&text))?;
        if back != *self {
            return Err(Error::AwsAuth(
                "rendered mapRoles does not parse back to the same entries".into(),
            ));
        }
        Ok(text)
    }
}

/// The outcome of editing a ConfigMap's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub data: BTreeMap<String, String>,
    pub change: Change,
    /// The role was mapped before we touched it.
    pub adopted: bool,
}

/// Upserts `role` into ConfigMap `data`, touching only `mapRoles`.
pub fn upsert(
    data: &BTreeMap<String, String>,
    role: &RoleArn,
    username: &str,
    groups: &[String],
) -> Result<Edit> {
    let mut roles = MapRoles::parse(data.get(MAP_ROLES).map(String::as_str))?;
    let adopted = roles.contains(role);
    let change = roles.upsert(role, username, groups);
    let mut out = data.clone();
    if change != Change::Unchanged {
        out.insert(MAP_ROLES.to_string(), roles.render()?);
    }
    Ok(Edit {
        data: out,
        change,
        adopted,
    })
}

/// Removes `role` from ConfigMap `data`, touching only `mapRoles`; None when it was not there.
pub fn remove(
    data: &BTreeMap<String, String>,
    role: &RoleArn,
) -> Result<Option<BTreeMap<String, String>>> {
    let mut roles = MapRoles::parse(data.get(MAP_ROLES).map(String::as_str))?;
    if roles.remove(role) == 0 {
        return Ok(None);
    }
    let mut out = data.clone();
    out.insert(MAP_ROLES.to_string(), roles.render()?);
    Ok(Some(out))
}

/// A unified diff of two `mapRoles` texts (absent = empty), for dry runs and the replay's account.
#[cfg(feature = "dry-run")]
pub fn diff(before: Option<&str>, after: Option<&str>) -> String {
    similar::TextDiff::from_lines(before.unwrap_or(""), after.unwrap_or(""))
        .unified_diff()
        .context_radius(3)
        .header("mapRoles (before)", "mapRoles (after)")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "- rolearn: arn:aws:iam::111122223333:role/node\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n    - system:bootstrappers\n    - system:nodes\n  x-custom: keep-me\n";

    fn role(s: &str) -> RoleArn {
        RoleArn::parse("RoleArn", s).unwrap()
    }

    fn data(map_roles: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MAP_ROLES.to_string(), map_roles.to_string()),
            (
                "mapUsers".to_string(),
                "- userarn: arn:aws:iam::111122223333:user/ops\n  username: ops\n".to_string(),
            ),
        ])
    }

    #[test]
    fn upsert_adds_once_and_keeps_everything_else() {
        let r = role("arn:aws:iam::111122223333:role/svc");
        let g = vec!["system:masters".to_string()];
        let first = upsert(&data(NODES), &r, r.as_str(), &g).unwrap();
        assert_eq!(first.change, Change::Added);
        assert!(!first.adopted);
        let second = upsert(&first.data, &r, r.as_str(), &g).unwrap();
        assert_eq!(second.change, Change::Unchanged);
        assert_eq!(second.data, first.data);
        let roles = MapRoles::parse(first.data.get(MAP_ROLES).map(String::as_str)).unwrap();
        assert_eq!(roles.entries().len(), 2);
        assert_eq!(roles.entries()[0]["x-custom"], Value::from("keep-me"));
        assert_eq!(first.data["mapUsers"], data(NODES)["mapUsers"]);
    }

    #[test]
    fn duplicates_and_path_variants_of_our_role_collapse_into_one() {
        let text = format!("{NODES}- rolearn: arn:aws:iam::111122223333:role/a/SVC\n  username: old\n- rolearn: arn:aws:iam::111122223333:role/svc\n  username: older\n  extra: 1\n");
        let r = role("arn:aws:iam::111122223333:role/svc");
        let e = upsert(&data(&text), &r, "svc", &["system:masters".into()]).unwrap();
        assert!(e.adopted);
        let roles = MapRoles::parse(Some(&e.data[MAP_ROLES])).unwrap();
        assert_eq!(roles.entries().len(), 2);
        assert_eq!(roles.entries()[1]["extra"], Value::from(1));
        assert_eq!(roles.entries()[1]["username"], Value::from("svc"));
    }

    #[test]
    fn unparseable_or_odd_map_roles_is_refused() {
        let r = role("arn:aws:iam::111122223333:role/svc");
        for bad in [
            "- rolearn: [unclosed",
            "rolearn: not-a-list",
            "- just a string",
        ] {
            let e = upsert(&data(bad), &r, "u", &["g".into()])
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("aws-auth: existing mapRoles"), "{e}");
        }
    }

    #[test]
    fn missing_map_roles_is_created() {
        let r = role("arn:aws:iam::111122223333:role/svc");
        let e = upsert(&BTreeMap::new(), &r, "u", &["system:masters".into()]).unwrap();
        assert_eq!(e.change, Change::Added);
        assert!(e.data[MAP_ROLES].contains("rolearn: arn:aws:iam::111122223333:role/svc"));
    }

    #[test]
    fn remove_takes_only_our_role() {
        let r = role("arn:aws:iam::111122223333:role/svc");
        let added = upsert(&data(NODES), &r, "u", &["g".into()]).unwrap();
        let removed = remove(&added.data, &r).unwrap().unwrap();
        assert_eq!(
            MapRoles::parse(Some(&removed[MAP_ROLES])).unwrap(),
            MapRoles::parse(Some(NODES)).unwrap()
        );
        assert_eq!(remove(&removed, &r).unwrap(), None);
    }
}
