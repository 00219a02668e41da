//! Which clusters the role is mapped into: `ClusterName`, parsed and validated.

use serde_json::Value;

use crate::domain::access::kind;
use crate::domain::arn::shown;
use crate::domain::error::{Error, Result};

/// The most clusters one resource handles by name (EKS's default quota per region is 100).
pub const MAX_CLUSTERS: usize = 100;

/// Which clusters the role is mapped into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clusters {
    /// These, in the order given, without duplicates.
    Named(Vec<String>),
    /// Every ACTIVE cluster of the region (`*`): StackSets give every account the same
    /// parameters, while cluster names differ from account to account.
    All,
}

impl Clusters {
    /// Parses `ClusterName`: one name, names separated by commas (or a list), or `*`.
    pub fn parse(value: Option<&Value>) -> Result<Clusters> {
        const FIELD: &str = "ClusterName";
        let items: Vec<String> = match value {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s.split(',').map(|c| c.trim().to_string()).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.trim().to_string()),
                    other => Err(Error::invalid(
                        FIELD,
                        format!("expected a list of cluster names, found {}", kind(other)),
                    )),
                })
                .collect::<Result<_>>()?,
            Some(other) => {
                return Err(Error::invalid(
                    FIELD,
                    format!("expected a string, got {}", kind(other)),
                ))
            }
        };
        if items.is_empty() || items == [""] {
            return Err(Error::invalid(
                FIELD,
                "required: the name of the EKS cluster, names separated by commas, or * for every ACTIVE cluster of the region",
            ));
        }
        if items.iter().any(|c| c == "*") {
            if items.len() > 1 {
                return Err(Error::invalid(
                    FIELD,
                    "expected * alone, not * among cluster names",
                ));
            }
            return Ok(Clusters::All);
        }
        let mut names: Vec<String> = Vec::with_capacity(items.len());
        for (i, name) in items.into_iter().enumerate() {
            if name.is_empty() {
                return Err(Error::invalid(
                    FIELD,
                    format!("cluster name {} of the list is empty: expected names separated by single commas", i + 1),
                ));
            }
            validate_cluster_name(FIELD, &name)?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if names.len() > MAX_CLUSTERS {
            return Err(Error::invalid(
                FIELD,
                format!("expected at most {MAX_CLUSTERS} cluster names, got {} (use * for every cluster of the region)", names.len()),
            ));
        }
        Ok(Clusters::Named(names))
    }
}

impl std::fmt::Display for Clusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Clusters::All => f.write_str("every ACTIVE cluster"),
            Clusters::Named(n) => f.write_str(&n.join(",")),
        }
    }
}

/// EKS cluster names: 1-100 of letters, digits, '-' and '_', starting with a letter or digit.
fn validate_cluster_name(field: &str, s: &str) -> Result<()> {
    let ok = (1..=100).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("expected an EKS cluster name (1-100 letters, digits, '-' or '_', starting with a letter or digit), got {}", shown(s)),
        ))
    }
}
