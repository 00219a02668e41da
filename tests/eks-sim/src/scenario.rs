//! What the simulated world starts with: principals with keys, roles with trust, clusters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The shipped default scenario: a CONFIG_MAP, an API_AND_CONFIG_MAP and an API cluster.
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/default.yaml");

/// A scenario file (YAML or JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scenario {
    pub account: String,
    pub region: String,
    #[serde(default)]
    pub principals: Vec<Principal>,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    /// How long an UpdateClusterConfig stays InProgress.
    #[serde(default = "default_update_delay_ms")]
    pub update_delay_ms: u64,
}

fn default_update_delay_ms() -> u64 {
    1500
}

/// An IAM user or role with long-term keys the simulator accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Principal {
    pub name: String,
    pub arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A role that can be assumed through STS AssumeRole.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub arn: String,
    #[serde(default)]
    pub trust: Vec<Trust>,
    /// When set, AssumeRole must present this ExternalId.
    #[serde(default)]
    pub external_id: Option<String>,
}

/// One trusted principal: an ARN, or an account root (`arn:aws:iam::A:root`) trusting all of A.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trust {
    pub principal: String,
}

/// An EKS cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    #[serde(default)]
    pub region: Option<String>,
    pub authentication_mode: String,
    pub creator: String,
    /// The `data` of `kube-system/aws-auth`; absent means no ConfigMap.
    #[serde(default)]
    pub aws_auth: Option<BTreeMap<String, String>>,
    /// Serve the Kubernetes API with a certificate from a CA that DescribeCluster does not hand out.
    #[serde(default)]
    pub foreign_ca: bool,
    /// DescribeCluster's `status` (ACTIVE, CREATING, DELETING, FAILED, UPDATING, PENDING).
    #[serde(default = "default_status")]
    pub status: String,
}

fn default_status() -> String {
    "ACTIVE".to_string()
}

impl Scenario {
    /// The embedded default scenario.
    pub fn default_scenario() -> Scenario {
        Self::parse(DEFAULT_SCENARIO).expect("the embedded default scenario parses")
    }

    /// Reads a YAML or JSON scenario file.
    pub fn from_file(path: &std::path::Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ScenarioRead {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses YAML (a superset of JSON) and checks the scenario is coherent.
    pub fn parse(text: &str) -> Result<Scenario> {
        let s: Scenario =
            serde_yaml_ng::from_str(text).map_err(|e| Error::ScenarioParse(e.to_string()))?;
        for c in &s.clusters {
            if !matches!(
                c.authentication_mode.as_str(),
                "CONFIG_MAP" | "API_AND_CONFIG_MAP" | "API"
            ) {
                return Err(Error::ScenarioInvalid(format!(
                    "cluster {}: authentication_mode must be CONFIG_MAP, API_AND_CONFIG_MAP or API",
                    c.name
                )));
            }
        }
        Ok(s)
    }
}
