//! Which mechanism to use, from the cluster's authentication mode and the properties.
//! <https://docs.aws.amazon.com/eks/latest/userguide/grant-k8s-access.html>

use crate::error::{Error, Result};
use crate::properties::Method;

/// How the role is granted access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Mechanism {
    AccessEntry,
    AwsAuth,
}

impl Mechanism {
    /// The name used in ids and `Data.Method`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::AccessEntry => "AccessEntry",
            Mechanism::AwsAuth => "AwsAuth",
        }
    }

    /// Inverse of [`Mechanism::as_str`].
    pub fn parse(s: &str) -> Option<Mechanism> {
        match s {
            "AccessEntry" => Some(Mechanism::AccessEntry),
            "AwsAuth" => Some(Mechanism::AwsAuth),
            _ => None,
        }
    }
}

/// The plan for one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub mechanism: Mechanism,
    /// First switch the cluster from CONFIG_MAP to API_AND_CONFIG_MAP (explicit opt-in only).
    pub switch_mode: bool,
}

/// Decides from the cluster's `authenticationMode`.
pub fn decide(
    cluster: &str,
    mode: &str,
    method: Method,
    enable_access_entries: bool,
) -> Result<Decision> {
    let api = matches!(mode, "API" | "API_AND_CONFIG_MAP");
    if !api && mode != "CONFIG_MAP" {
        return Err(Error::Unsupported(format!("cluster {cluster} has authentication mode {mode:?}, expected CONFIG_MAP, API_AND_CONFIG_MAP or API")));
    }
    let access_entry = Decision {
        mechanism: Mechanism::AccessEntry,
        switch_mode: false,
    };
    match (method, api) {
        (Method::Auto | Method::AccessEntry, true) => Ok(access_entry),
        (Method::Auto | Method::AccessEntry, false) if enable_access_entries => {
            Ok(Decision { switch_mode: true, ..access_entry })
        }
        (Method::Auto, false) => Ok(Decision { mechanism: Mechanism::AwsAuth, switch_mode: false }),
        (Method::AccessEntry, false) => Err(Error::Unsupported(format!(
            "Method: cluster {cluster} uses authentication mode CONFIG_MAP, which has no access entries; set EnableAccessEntries=true to switch it to API_AND_CONFIG_MAP (one-way), or use Method=AwsAuth"
        ))),
        (Method::AwsAuth, _) if mode == "API" => Err(Error::Unsupported(format!(
            "Method: cluster {cluster} uses authentication mode API, which ignores aws-auth; use Method=AccessEntry or Auto"
        ))),
        (Method::AwsAuth, _) => Ok(Decision { mechanism: Mechanism::AwsAuth, switch_mode: false }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_access_entries_and_switches_only_on_opt_in() {
        assert_eq!(
            decide("c", "API", Method::Auto, false).unwrap().mechanism,
            Mechanism::AccessEntry
        );
        assert_eq!(
            decide("c", "API_AND_CONFIG_MAP", Method::Auto, false)
                .unwrap()
                .mechanism,
            Mechanism::AccessEntry
        );
        let legacy = decide("c", "CONFIG_MAP", Method::Auto, false).unwrap();
        assert_eq!(
            (legacy.mechanism, legacy.switch_mode),
            (Mechanism::AwsAuth, false)
        );
        let switched = decide("c", "CONFIG_MAP", Method::Auto, true).unwrap();
        assert_eq!(
            (switched.mechanism, switched.switch_mode),
            (Mechanism::AccessEntry, true)
        );
    }

    #[test]
    fn impossible_combinations_say_what_to_do() {
        assert!(decide("c", "CONFIG_MAP", Method::AccessEntry, false)
            .unwrap_err()
            .to_string()
            .contains("EnableAccessEntries=true"));
        assert!(decide("c", "API", Method::AwsAuth, false)
            .unwrap_err()
            .to_string()
            .contains("ignores aws-auth"));
    }
}
