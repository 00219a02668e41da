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
    /// How long a new IAM role stays invisible to EKS (seconds of simulated time): while a role
    /// is younger, CreateAccessEntry calls it an invalid principal. IAM is eventually consistent
    /// (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency);
    /// terraform-provider-aws retries exactly that error for its propagation timeout
    /// (internal/service/eks/access_entry.go).
    #[serde(default = "default_iam_propagation_seconds")]
    pub iam_propagation_seconds: f64,
    /// How long a new access entry takes to reach the rest of EKS (seconds of simulated time):
    /// the Kubernetes API does not authenticate with it before, and for a role still young (within
    /// twice `iam_propagation_seconds` of its creation) AssociateAccessPolicy answers 404 "The
    /// specified principalArn could not be found", which terraform-provider-aws retries
    /// (internal/service/eks/access_policy_association.go).
    #[serde(default = "default_access_entry_propagation_seconds")]
    pub access_entry_propagation_seconds: f64,
    /// How fast simulated time runs against the wall clock (1: real time; 60: a 300 s mode switch
    /// takes 5 s). Simulated time drives every delay above and the mode switch; signatures and
    /// tokens are still checked against the wall clock (plus `Simulator::set_clock_skew`).
    #[serde(default = "default_clock_scale")]
    pub clock_scale: f64,
    /// How long a cluster made by CreateCluster (or `Simulator::create_cluster`) stays CREATING,
    /// in simulated seconds. EKS takes about ten minutes
    /// (<https://docs.aws.amazon.com/eks/latest/userguide/create-cluster.html>: "Cluster
    /// provisioning takes several minutes"; terraform-provider-aws waits up to 30 minutes).
    #[serde(default = "default_cluster_create_seconds")]
    pub cluster_create_seconds: f64,
    /// How long a DeleteCluster keeps the cluster DELETING before it is gone (404), in simulated
    /// seconds (terraform-provider-aws waits up to 15 minutes).
    #[serde(default = "default_cluster_delete_seconds")]
    pub cluster_delete_seconds: f64,
    /// CloudFormation stack resources that exist at the start (DescribeStackResource finds them).
    #[serde(default)]
    pub stacks: Vec<StackSpec>,
    /// SNS topics that exist at the start (Publish finds them).
    #[serde(default)]
    pub topics: Vec<TopicSpec>,
    /// Secrets Manager secrets that exist at the start (GetSecretValue finds them).
    #[serde(default)]
    pub secrets: Vec<SecretSpec>,
}

/// An SNS topic: its ARN and the accounts its access policy lets publish besides its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicSpec {
    pub arn: String,
    #[serde(default)]
    pub publishers: Vec<String>,
}

/// A Secrets Manager secret: its ARN and its SecretString.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretSpec {
    pub arn: String,
    pub secret_string: String,
}

/// The resource type of the mapper's custom resource, the default of a scenario stack's resource.
pub const DEFAULT_RESOURCE_TYPE: &str = "Custom::EksRoleMapping";

/// One resource of a stack that exists at the start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackSpec {
    /// The stack's ARN, `arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID`.
    pub stack_id: String,
    #[serde(default = "default_logical_resource_id")]
    pub logical_resource_id: String,
    pub physical_resource_id: String,
    #[serde(default = "default_stack_status")]
    pub status: String,
    #[serde(default = "default_resource_type")]
    pub resource_type: String,
    /// LastUpdatedTimestamp this long before the start; absent: the start.
    #[serde(default)]
    pub last_updated_seconds_ago: Option<f64>,
}

fn default_logical_resource_id() -> String {
    "Mapping".into()
}

fn default_stack_status() -> String {
    "CREATE_COMPLETE".into()
}

fn default_resource_type() -> String {
    DEFAULT_RESOURCE_TYPE.into()
}

fn default_cluster_create_seconds() -> f64 {
    600.0
}

fn default_cluster_delete_seconds() -> f64 {
    300.0
}

fn default_true() -> bool {
    true
}

fn default_iam_propagation_seconds() -> f64 {
    20.0
}

fn default_access_entry_propagation_seconds() -> f64 {
    2.0
}

fn default_clock_scale() -> f64 {
    1.0
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
    /// How long before the simulator's start the role was created; absent: long ago. A role
    /// younger than `iam_propagation_seconds` is not yet visible to EKS.
    #[serde(default)]
    pub created_seconds_ago: Option<f64>,
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
    /// How long an UpdateClusterConfig of the authentication mode stays InProgress, in simulated
    /// seconds (EKS takes minutes; see the default scenario for sources).
    #[serde(default = "default_switch_seconds")]
    pub authentication_mode_switch_seconds: f64,
    /// The switch ends Failed (mode unchanged) instead of Successful.
    #[serde(default)]
    pub authentication_mode_switch_fails: bool,
    /// Managed node group roles: EKS gives each an EC2_LINUX access entry when the cluster
    /// switches to a mode with access entries.
    #[serde(default)]
    pub node_roles: Vec<String>,
    /// Fargate pod execution roles: a FARGATE_LINUX access entry each on the switch.
    #[serde(default)]
    pub fargate_roles: Vec<String>,
    /// `accessConfig.bootstrapClusterCreatorAdminPermissions` (default true): the creator is
    /// cluster admin (an access entry in the API modes). False is refused on CONFIG_MAP, as EKS
    /// does.
    #[serde(default = "default_true")]
    pub bootstrap_cluster_creator_admin_permissions: bool,
    /// Namespaces beyond Kubernetes' own (default, kube-system, kube-public, kube-node-lease),
    /// there from the start (on a real control plane too).
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// How long a mode switch takes when the scenario does not say (see the default scenario).
pub const DEFAULT_SWITCH_SECONDS: f64 = 300.0;

fn default_switch_seconds() -> f64 {
    DEFAULT_SWITCH_SECONDS
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
            if c.authentication_mode == "CONFIG_MAP"
                && !c.bootstrap_cluster_creator_admin_permissions
            {
                return Err(Error::ScenarioInvalid(format!(
                    "cluster {}: {}",
                    c.name,
                    crate::aws_api::BOOTSTRAP_CONFIG_MAP
                )));
            }
        }
        for st in &s.stacks {
            if crate::state::parse_stack_id(&st.stack_id).is_none() {
                return Err(Error::ScenarioInvalid(format!(
                    "stack {}: stack_id must be arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID",
                    st.stack_id
                )));
            }
        }
        Ok(s)
    }
}
