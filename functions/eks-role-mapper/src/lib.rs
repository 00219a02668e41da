//! Grants an IAM role cluster-admin access to an EKS cluster as a CloudFormation custom resource:
//! an access entry where the cluster's authentication mode allows one, otherwise a safe
//! read-modify-write of the `kube-system/aws-auth` ConfigMap with a token the function signs itself.
//!
//! The core (properties, ARNs, the aws-auth edit, the decision, ids, the response body) is pure;
//! `eks`, `kube_store`, `response::Sender` and `clients` are the thin I/O edges.

pub mod arn;
pub mod aws_auth;
pub mod block_reader;
pub mod clients;
pub mod decision;
pub mod eks;
pub mod error;
pub mod event;
pub mod handler;
pub mod kube_store;
pub mod logging;
pub mod per_cluster;
pub mod physical_id;
pub mod properties;
pub mod response;
pub mod token;
pub mod yaml_text;

pub use clients::Clients;
pub use error::{Error, Result};
pub use handler::{handle, plan, respond_with, Plan, Progress, Success};
