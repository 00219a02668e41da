//! The ports' implementations: `live` (EKS, STS, CloudFormation, Lambda, SNS and Secrets Manager
//! through the AWS SDK; each cluster's Kubernetes API through kube with a token made here), the
//! dry run (real reads, writes recorded) and the in-memory region for fast tests. Only this layer
//! talks to the network.

pub(crate) mod clients;
#[cfg(feature = "dry-run")]
pub mod dry_run;
pub(crate) mod eks;
pub(crate) mod https;
pub(crate) mod kube_store;
pub(crate) mod live;
pub(crate) mod registration;
pub(crate) mod reinvoke;
pub(crate) mod respond;
pub(crate) mod stacks;
pub(crate) mod token;
