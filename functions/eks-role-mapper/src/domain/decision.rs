//! What to do on a cluster, from its authentication mode and the properties: which mechanism
//! grants the role, whether the cluster is switched first, and where a mapping of ours may be kept
//! when it is revoked. The only place that knows the modes' names.
//! <https://docs.aws.amazon.com/eks/latest/userguide/grant-k8s-access.html>

use std::fmt;

use crate::domain::error::{Error, Result};
use crate::domain::properties::Method;

/// A cluster's `accessConfig.authenticationMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// aws-auth only (the default of clusters made before access entries).
    ConfigMap,
    /// Access entries and aws-auth; an access entry wins for the same principal.
    ApiAndConfigMap,
    /// Access entries only; aws-auth is ignored.
    Api,
    /// A mode this function does not know: refused, never guessed.
    Other(String),
}

impl AuthMode {
    /// From the API's value; an absent mode is CONFIG_MAP (clusters older than access entries).
    pub fn parse(value: Option<&str>) -> AuthMode {
        match value {
            None | Some("CONFIG_MAP") => AuthMode::ConfigMap,
            Some("API_AND_CONFIG_MAP") => AuthMode::ApiAndConfigMap,
            Some("API") => AuthMode::Api,
            Some(other) => AuthMode::Other(other.to_string()),
        }
    }

    /// The API's name of the mode.
    pub fn as_str(&self) -> &str {
        match self {
            AuthMode::ConfigMap => "CONFIG_MAP",
            AuthMode::ApiAndConfigMap => "API_AND_CONFIG_MAP",
            AuthMode::Api => "API",
            AuthMode::Other(s) => s,
        }
    }

    /// Whether the cluster has access entries.
    pub fn has_access_entries(&self) -> bool {
        matches!(self, AuthMode::Api | AuthMode::ApiAndConfigMap)
    }

    /// Whether the cluster's authenticator reads aws-auth.
    pub fn reads_aws_auth(&self) -> bool {
        matches!(self, AuthMode::ConfigMap | AuthMode::ApiAndConfigMap)
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the role is granted access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Mechanism {
    AccessEntry,
    AwsAuth,
}

impl Mechanism {
    /// The name used in `Data.Method`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::AccessEntry => "AccessEntry",
            Mechanism::AwsAuth => "AwsAuth",
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

/// Decides from the cluster's authentication mode.
pub fn decide(
    cluster: &str,
    mode: &AuthMode,
    method: Method,
    enable_access_entries: bool,
) -> Result<Decision> {
    if let AuthMode::Other(m) = mode {
        return Err(Error::Unsupported(format!("cluster {cluster} has authentication mode {m:?}, expected CONFIG_MAP, API_AND_CONFIG_MAP or API")));
    }
    let api = mode.has_access_entries();
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
        (Method::AwsAuth, _) if !mode.reads_aws_auth() => Err(Error::Unsupported(format!(
            "Method: cluster {cluster} uses authentication mode API, which ignores aws-auth; use Method=AccessEntry or Auto"
        ))),
        (Method::AwsAuth, _) => Ok(Decision { mechanism: Mechanism::AwsAuth, switch_mode: false }),
    }
}

/// The cluster's authentication mode once the grant's own switch (if any) is done.
pub fn mode_after(mode: &AuthMode, switched: bool) -> AuthMode {
    if switched {
        AuthMode::ApiAndConfigMap
    } else {
        mode.clone()
    }
}

/// Where a cluster may keep the mapping this resource made: an access entry wherever the mode
/// has them, aws-auth where the mode is CONFIG_MAP or the method asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Places {
    pub access_entry: bool,
    pub aws_auth: bool,
    /// An API_AND_CONFIG_MAP cluster under `Auto` was CONFIG_MAP at the grant if it holds no
    /// access entry of ours, and aws-auth was the place then: looked at, as far as it can be.
    pub aws_auth_if_switched: bool,
}

/// Where to look for this resource's mapping on a cluster in `mode`.
pub fn places(mode: &AuthMode, method: Method) -> Places {
    Places {
        access_entry: mode.has_access_entries(),
        aws_auth: *mode == AuthMode::ConfigMap
            || (method == Method::AwsAuth && mode.reads_aws_auth()),
        aws_auth_if_switched: *mode == AuthMode::ApiAndConfigMap && method == Method::Auto,
    }
}

/// An in-place grant by access entry on a cluster this resource held without one: its grant was
/// in aws-auth (the cluster was CONFIG_MAP then), and the access entry now stands in for it.
pub fn replaces_aws_auth_entry(
    decision: Decision,
    mode: &AuthMode,
    held_before: bool,
    entry_existed: bool,
) -> bool {
    decision.mechanism == Mechanism::AccessEntry
        && held_before
        && !entry_existed
        && mode_after(mode, decision.switch_mode) == AuthMode::ApiAndConfigMap
}

/// The namespace that holds aws-auth.
const AWS_AUTH_NAMESPACE: &str = "kube-system";

/// Refuses a level below cluster-admin that could write `kube-system/aws-auth` on a cluster that
/// reads it (every mode but API), before anything is written. The built-in `admin` and `edit`
/// ClusterRoles may update ConfigMaps, so bound over the whole cluster (a ClusterRoleBinding, or
/// an access policy at cluster scope) or in kube-system they reach aws-auth, and whoever writes
/// aws-auth can map itself to system:masters
/// (<https://docs.aws.amazon.com/eks/latest/userguide/auth-configmap.html>). `view` cannot
/// write, so it stays possible over the whole cluster.
pub fn below_aws_auth(
    access: &crate::domain::access::Access,
    mode: &AuthMode,
    cluster: &str,
) -> Result<()> {
    use crate::domain::access::AccessLevel;
    if matches!(mode, AuthMode::Api)
        || !matches!(access.level, AccessLevel::Admin | AccessLevel::Edit)
    {
        return Ok(());
    }
    let level = access.level.as_str();
    if access.namespaces.is_empty() {
        return Err(Error::invalid(
            "AccessLevel",
            format!("{level} over the whole of cluster {cluster} ({mode}) could update kube-system/aws-auth, which this cluster reads, and so make itself cluster-admin: give Namespaces, or move the cluster to API authentication mode"),
        ));
    }
    if access.namespaces.iter().any(|n| n == AWS_AUTH_NAMESPACE) {
        return Err(Error::invalid(
            "Namespaces",
            format!("{level} in kube-system on cluster {cluster} ({mode}) could update aws-auth there, and so make itself cluster-admin: leave kube-system out, or move the cluster to API authentication mode"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODES: [AuthMode; 3] = [
        AuthMode::ConfigMap,
        AuthMode::ApiAndConfigMap,
        AuthMode::Api,
    ];

    #[test]
    fn modes_round_trip_and_an_absent_mode_is_config_map() {
        for m in MODES {
            assert_eq!(AuthMode::parse(Some(m.as_str())), m);
        }
        assert_eq!(AuthMode::parse(None), AuthMode::ConfigMap);
        assert_eq!(
            AuthMode::parse(Some("FUTURE")),
            AuthMode::Other("FUTURE".into())
        );
    }

    #[test]
    fn auto_prefers_access_entries_and_switches_only_on_opt_in() {
        for m in [AuthMode::Api, AuthMode::ApiAndConfigMap] {
            assert_eq!(
                decide("c", &m, Method::Auto, false).unwrap().mechanism,
                Mechanism::AccessEntry
            );
        }
        let legacy = decide("c", &AuthMode::ConfigMap, Method::Auto, false).unwrap();
        assert_eq!(
            (legacy.mechanism, legacy.switch_mode),
            (Mechanism::AwsAuth, false)
        );
        let switched = decide("c", &AuthMode::ConfigMap, Method::Auto, true).unwrap();
        assert_eq!(
            (switched.mechanism, switched.switch_mode),
            (Mechanism::AccessEntry, true)
        );
    }

    #[test]
    fn impossible_combinations_and_unknown_modes_say_what_to_do() {
        assert!(
            decide("c", &AuthMode::ConfigMap, Method::AccessEntry, false)
                .unwrap_err()
                .to_string()
                .contains("EnableAccessEntries=true")
        );
        assert!(decide("c", &AuthMode::Api, Method::AwsAuth, false)
            .unwrap_err()
            .to_string()
            .contains("ignores aws-auth"));
        assert!(
            decide("c", &AuthMode::Other("X".into()), Method::Auto, false)
                .unwrap_err()
                .to_string()
                .contains("\"X\"")
        );
    }

    #[test]
    fn places_follow_the_mode_and_the_method() {
        let p = places(&AuthMode::ConfigMap, Method::Auto);
        assert!(!p.access_entry && p.aws_auth && !p.aws_auth_if_switched);
        let p = places(&AuthMode::ApiAndConfigMap, Method::Auto);
        assert!(p.access_entry && !p.aws_auth && p.aws_auth_if_switched);
        let p = places(&AuthMode::ApiAndConfigMap, Method::AwsAuth);
        assert!(p.access_entry && p.aws_auth && !p.aws_auth_if_switched);
        let p = places(&AuthMode::Api, Method::AwsAuth);
        assert!(p.access_entry && !p.aws_auth && !p.aws_auth_if_switched);
    }

    #[test]
    fn an_access_entry_replaces_aws_auth_only_in_place_and_when_new_on_a_hybrid_cluster() {
        let d = decide("c", &AuthMode::ApiAndConfigMap, Method::Auto, false).unwrap();
        assert!(replaces_aws_auth_entry(
            d,
            &AuthMode::ApiAndConfigMap,
            true,
            false
        ));
        assert!(!replaces_aws_auth_entry(
            d,
            &AuthMode::ApiAndConfigMap,
            false,
            false
        ));
        assert!(!replaces_aws_auth_entry(
            d,
            &AuthMode::ApiAndConfigMap,
            true,
            true
        ));
        assert!(!replaces_aws_auth_entry(d, &AuthMode::Api, true, false));
        let s = decide("c", &AuthMode::ConfigMap, Method::Auto, true).unwrap();
        assert!(replaces_aws_auth_entry(
            s,
            &AuthMode::ConfigMap,
            true,
            false
        ));
    }
}
