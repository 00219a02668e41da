//! Grants an IAM role cluster-admin access to an EKS cluster as a CloudFormation custom resource:
//! an access entry where the cluster's authentication mode allows one, otherwise a safe
//! read-modify-write of the `kube-system/aws-auth` ConfigMap with a token the function signs itself.
//!
//! The core (properties, ARNs, the aws-auth edit, the decision, ownership, ids, the response body)
//! is pure. The per-cluster rules (`per_cluster`, `aws_auth_store`) and the lifecycle run over one
//! port (`cloud`) with three adapters: `live` (AWS and the Kubernetes API), `dry_run` (real reads,
//! recorded writes) and `memory` (in-process, for fast tests). `protocol` answers CloudFormation;
//! `reconcile` re-applies a stack's grant on a schedule and answers nobody.
//!
//! What only tests and local runs need is behind cargo features that the artifact build never
//! enables (see Cargo.toml): `dry-run` (the dry run), `test-support` (the in-memory region) and
//! `local` (a loopback ResponseURL, plain-http endpoints).

mod aws_auth_store;
mod bindings_store;
mod clients;
mod decision;
pub mod declared;
mod eks;
mod entry_grant;

mod error;
mod event;
mod guard;
mod handler;
mod https;
mod kube_store;
mod lifecycle;
mod live;
mod per_cluster;
mod physical_id;
mod properties;
mod protocol;
mod reinvoke;
mod response;
mod seed_entry;
mod stacks;
mod token;

pub mod access;
pub mod arn;
pub mod aws_auth;
pub mod block_reader;
pub mod cloud;
pub mod config_map;
#[cfg(feature = "dry-run")]
pub mod dry_run;
pub mod held;
pub mod logging;
#[cfg(feature = "test-support")]
pub mod memory;
pub mod ownership;
pub mod rbac;
pub mod reconcile;
pub mod registration;
pub mod yaml_text;

pub use clients::Clients;
pub use decision::{AuthMode, Mechanism};
#[cfg(feature = "dry-run")]
pub use dry_run::{dry_run, dry_run_reconcile, DryRun, ReconcileDryRun};
pub use error::{Error, Invalid, Result};
pub use event::{Envelope, Request};
pub use handler::{handle, handle_with, reconcile_with, Invocation};
pub use per_cluster::SWITCHED_LOOK;
pub use physical_id::Recorded;
pub use properties::KNOWN_PROPERTIES;
pub use protocol::{respond_with, Continuation, HandOver, Progress, Success, CONTINUATION_FIELD};
pub use response::{Body, Respond};
