//! What an adopted access entry held before this resource first wrote to it, and how to give it
//! back. Pure: the record's encoding in the entry's tags, the plan of a grant on an adopted entry,
//! and the plan of the restore on Delete.
//!
//! The record is the entry's associations (policy and access scope: cluster, or namespaces) as
//! `ListAssociatedAccessPolicies` answered them before the first write, written once (TagResource
//! in one call, so all or nothing) and never rewritten by a later level change, so any sequence of
//! Updates ends in the same restore. Encoding: the JSON list `[{"policy":..,"namespaces":[..]}]`
//! (no `namespaces` for a cluster scope), base64url without padding, cut into values of at most
//! 256 characters under the keys `eks-role-mapper/held-<owner>-<i>` (`i` from 0). base64url keeps
//! to the characters every AWS tag takes (letters, digits, `-`, `_`), whatever a namespace (a
//! wildcard `dev-*`) holds; EKS allows 50 tags of at most 128/256 characters (AWS::EKS::AccessEntry
//! Tag, CloudFormation reference), so a record that does not fit beside the entry's own tags is
//! refused before anything is written.

use std::collections::{BTreeSet, HashMap};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::domain::error::{Error, Result};

/// EKS's limits on one resource's tags.
pub const MAX_TAGS: usize = 50;
/// The longest tag value EKS takes.
pub const MAX_VALUE: usize = 256;

/// One association of an access policy with an entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Association {
    pub policy: String,
    /// Empty: cluster scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
}

impl Association {
    /// Whether both have the same scope (namespaces compared as sets).
    pub fn same_scope(&self, other: &Association) -> bool {
        set(&self.namespaces) == set(&other.namespaces)
    }

    /// Whether this scope reaches at least everything `other`'s does.
    pub fn covers(&self, other: &Association) -> bool {
        self.namespaces.is_empty()
            || (!other.namespaces.is_empty()
                && set(&other.namespaces).is_subset(&set(&self.namespaces)))
    }

    /// The scope as a log or Reason shows it.
    pub fn scope_shown(&self) -> String {
        match self.namespaces.as_slice() {
            [] => "cluster scope".into(),
            some => format!("namespaces {}", some.join(",")),
        }
    }
}

fn set(v: &[String]) -> BTreeSet<&str> {
    v.iter().map(String::as_str).collect()
}

/// The prefix of `owner`'s record tags.
fn prefix(owner: &str) -> String {
    format!("eks-role-mapper/held-{owner}-")
}

/// The tags recording `held` for `owner`.
pub fn encode(owner: &str, held: &[Association]) -> Vec<(String, String)> {
    let json = serde_json::to_vec(held).unwrap_or_else(|_| b"[]".to_vec());
    let text = URL_SAFE_NO_PAD.encode(json);
    let chunks: Vec<&str> = if text.is_empty() {
        vec![""]
    } else {
        text.as_bytes()
            .chunks(MAX_VALUE)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect()
    };
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| (format!("{}{i}", prefix(owner)), c.to_string()))
        .collect()
}

/// The keys of `owner`'s record among `tags`.
pub fn keys(owner: &str, tags: &HashMap<String, String>) -> Vec<String> {
    let p = prefix(owner);
    let mut keys: Vec<String> = tags.keys().filter(|k| k.starts_with(&p)).cloned().collect();
    keys.sort();
    keys
}

/// `owner`'s record among `tags`: None when there is none; an error when it was edited into
/// something that does not read back (then nothing is restored on a guess).
pub fn decode(owner: &str, tags: &HashMap<String, String>) -> Result<Option<Vec<Association>>> {
    let p = prefix(owner);
    let mut parts: Vec<(usize, &str)> = Vec::new();
    for (k, v) in tags {
        if let Some(i) = k.strip_prefix(&p) {
            let i = i.parse().map_err(|_| unreadable(owner))?;
            parts.push((i, v.as_str()));
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    parts.sort();
    if parts.iter().enumerate().any(|(n, (i, _))| n != *i) {
        return Err(unreadable(owner));
    }
    let text: String = parts.iter().map(|(_, v)| *v).collect();
    let json = URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .map_err(|_| unreadable(owner))?;
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(|_| unreadable(owner))
}

fn unreadable(owner: &str) -> Error {
    Error::Unsupported(format!(
        "the record of what the adopted access entry held ({}*) was edited and does not read back; nothing was changed",
        prefix(owner)
    ))
}

/// Whether `record` fits beside the entry's `existing` tag count.
pub fn fits(existing: usize, record: &[(String, String)]) -> Result<()> {
    if existing + record.len() > MAX_TAGS {
        return Err(Error::Unsupported(format!(
            "the adopted access entry has {existing} tags; recording what it held needs {} more and EKS allows {MAX_TAGS}: remove some of its tags",
            record.len()
        )));
    }
    Ok(())
}

/// What a grant writes on an entry: the wanted association (when missing or at another scope)
/// and the level policies to take away.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub associate: Option<Association>,
    pub disassociate: Vec<String>,
}

/// The grant of `wanted` on an entry holding `current`. `held`: what an adopted entry held before
/// us (None: the entry is ours, all of it). An association that was there before is never taken
/// away, nor narrowed: one whose scope already covers the wanted one stands as it is; one that
/// must be widened is widened only when the restore could put its scope back under the stack's
/// own grant (its namespaces within the wanted ones), else the grant is refused before any write.
/// `is_level`: the level policies, the only ones a grant takes away.
pub fn plan(
    wanted: &Association,
    current: &[Association],
    held: Option<&[Association]>,
    is_level: impl Fn(&str) -> bool,
) -> Result<Plan> {
    let was_there = |p: &str| held.is_some_and(|h| h.iter().any(|a| a.policy == p));
    let now = current.iter().find(|a| a.policy == wanted.policy);
    let target = match held.and_then(|h| h.iter().find(|a| a.policy == wanted.policy)) {
        // There before, at a scope that reaches the grant: it stands as it was.
        Some(before) if before.covers(wanted) => before,
        Some(before) if wanted.namespaces.is_empty() || !wanted.covers(before) => {
            return Err(Error::Unsupported(format!(
                "the role's access entry already had {} at {}, which this grant ({}) would change and could not give back on Delete; ask for namespaces that include those, or remove that association first",
                wanted.policy,
                before.scope_shown(),
                wanted.scope_shown()
            )))
        }
        _ => wanted,
    };
    let associate = match now {
        Some(now) if now.same_scope(target) => None,
        _ => Some(target.clone()),
    };
    let disassociate = current
        .iter()
        .filter(|a| a.policy != wanted.policy && is_level(&a.policy) && !was_there(&a.policy))
        .map(|a| a.policy.clone())
        .collect();
    Ok(Plan {
        associate,
        disassociate,
    })
}

/// What Delete does to an adopted entry holding `current` to give back exactly `held`: the
/// policies added since taken away, and the ones that were there put back at their scope.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Restore {
    pub disassociate: Vec<String>,
    pub associate: Vec<Association>,
}

/// The restore of `held` over `current`; `ours`: the policies this resource may have associated
/// (one associated meanwhile by someone else is not taken away).
pub fn restore(
    held: &[Association],
    current: &[Association],
    ours: impl Fn(&str) -> bool,
) -> Restore {
    Restore {
        disassociate: current
            .iter()
            .filter(|c| ours(&c.policy) && !held.iter().any(|h| h.policy == c.policy))
            .map(|c| c.policy.clone())
            .collect(),
        associate: held
            .iter()
            .filter(|h| {
                !current
                    .iter()
                    .any(|c| c.policy == h.policy && c.same_scope(h))
            })
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(policy: &str, ns: &[&str]) -> Association {
        Association {
            policy: policy.into(),
            namespaces: ns.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_record_reads_back_whatever_it_holds_and_an_empty_one_is_still_a_record() {
        let long: Vec<String> = (0..40).map(|i| format!("team-{i:02}-*")).collect();
        let held = vec![
            a(
                "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                &[],
            ),
            Association {
                policy: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy".into(),
                namespaces: long,
            },
        ];
        let tags: HashMap<String, String> = encode("k", &held).into_iter().collect();
        assert!(tags.len() > 1, "cut into several values");
        assert!(tags
            .iter()
            .all(|(k, v)| k.len() <= 128 && v.len() <= MAX_VALUE));
        assert!(tags.values().all(|v| v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')));
        assert_eq!(decode("k", &tags).unwrap(), Some(held));
        assert_eq!(decode("other", &tags).unwrap(), None);
        let empty: HashMap<String, String> = encode("k", &[]).into_iter().collect();
        assert_eq!(decode("k", &empty).unwrap(), Some(vec![]));
        let mut cut = tags.clone();
        cut.remove("eks-role-mapper/held-k-0");
        assert!(decode("k", &cut).is_err());
        assert!(fits(49, &encode("k", &[])).is_ok());
        assert!(fits(50, &encode("k", &[])).is_err());
    }

    #[test]
    fn a_grant_on_an_adopted_entry_takes_away_only_what_it_added_and_never_narrows() {
        let level = |p: &str| p != "Other";
        let (ca, view) = (a("CA", &[]), a("View", &[]));
        // Ours: the other level goes.
        let p = plan(&view, std::slice::from_ref(&ca), None, level).unwrap();
        assert_eq!(p.associate, Some(view.clone()));
        assert_eq!(p.disassociate, ["CA"]);
        // Adopted with CA: CA stays.
        let p = plan(
            &view,
            std::slice::from_ref(&ca),
            Some(std::slice::from_ref(&ca)),
            level,
        )
        .unwrap();
        assert_eq!(p.disassociate, Vec::<String>::new());
        // Adopted with View at cluster scope; the grant is View in ns-a: covered, nothing to do.
        let p = plan(
            &a("View", &["ns-a"]),
            std::slice::from_ref(&view),
            Some(std::slice::from_ref(&view)),
            level,
        )
        .unwrap();
        assert_eq!(p, Plan::default());
        // ... and once widened by us, an Update back within it puts the original scope back.
        let before = a("View", &["ns-a"]);
        let wide = a("View", &["ns-a", "ns-b"]);
        let p = plan(&before, &[wide], Some(std::slice::from_ref(&before)), level).unwrap();
        assert_eq!(p.associate, Some(before));
        // Widening ns-a to ns-a,ns-b can be given back; to the cluster cannot.
        let before = a("View", &["ns-a"]);
        let p = plan(
            &a("View", &["ns-a", "ns-b"]),
            std::slice::from_ref(&before),
            Some(std::slice::from_ref(&before)),
            level,
        )
        .unwrap();
        assert!(p.associate.is_some());
        assert!(plan(
            &view,
            std::slice::from_ref(&before),
            Some(std::slice::from_ref(&before)),
            level
        )
        .is_err());
        assert!(plan(
            &a("View", &["ns-b"]),
            std::slice::from_ref(&before),
            Some(std::slice::from_ref(&before)),
            level
        )
        .is_err());
    }

    #[test]
    fn the_restore_puts_back_the_scope_and_takes_away_the_rest() {
        let held = [a("CA", &[]), a("View", &["ns-a"])];
        let current = [
            a("View", &["ns-a", "ns-b"]),
            a("Edit", &[]),
            a("Other", &[]),
        ];
        let r = restore(&held, &current, |p| p != "Other");
        assert_eq!(r.disassociate, ["Edit"]);
        assert_eq!(r.associate, [a("CA", &[]), a("View", &["ns-a"])]);
        assert_eq!(restore(&held, &held, |_| true), Restore::default());
    }
}
